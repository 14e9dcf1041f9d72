//! `aborted_read`: no consumer reads a record whose send surely failed (every attempt was
//! refused before it was appended).
//!
//! Source: Jepsen's Kafka workload checker, "aborted read" (`jepsen.tests.kafka`).

use super::data::{DataCx, DataGround, overlapping_sequence};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::engine::NodeId;
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "aborted_read",
    kind: InvariantKind::Safety,
    summary: "No consumer reads a record whose send surely failed",
    source: "Jepsen Kafka workload: aborted read (jepsen.tests.kafka)",
};

/// A read of `(producer_id, base_sequence..+count)`, or a send of it that surely failed:
/// either order is an aborted read.
pub fn check(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    who: NodeId,
    (producer_id, base_sequence, count): (u64, u32, u32),
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get(&tp) else {
        return;
    };
    let failed = pg.failed.get(&producer_id).and_then(|m| {
        let as_ranges = m.iter().map(|(s, c)| (*s, (*c, 0))).collect();
        overlapping_sequence(&as_ranges, base_sequence, count)
    });
    let read = pg
        .reads_by_value
        .get(&producer_id)
        .and_then(|m| overlapping_sequence(m, base_sequence, count));
    if let (Some((fs, _, _)), Some((rs, _, offset))) = (failed, read) {
        let seq = fs.max(rs).max(base_sequence);
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.g.name(who).to_string()],
            format!(
                "{name}: producer {producer_id} sequence {seq} was read (at offset {}), yet its \
                 send failed without ever being appended",
                offset + u64::from(seq - rs)
            ),
        );
    }
}
