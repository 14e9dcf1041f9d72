//! `unique_offsets`: each offset of a partition is acknowledged for one value only, and the
//! offsets acknowledged to one producer on a partition rise with its sequence numbers.
//! (acks=all writes; acks=1 writes may legitimately be lost and their offsets reused.)
//!
//! Source: Jepsen's Kafka workload (`jepsen.tests.kafka`: offsets returned by sends are unique
//! per key and monotonic per producer); kafka-protocol.md §3.5 item 10.

use super::data::{AckedWrite, DataCx, DataGround, Observed, write_text};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "unique_offsets",
    kind: InvariantKind::Safety,
    summary: "An offset is acknowledged for one value only, and a producer's offsets rise",
    source: "Jepsen Kafka workload (jepsen.tests.kafka); kafka-protocol.md §3.5 UniqueOffsets",
};

/// An acks=all write was acknowledged.
pub(crate) fn on_ack(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    w: AckedWrite,
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    let in_scope = pg.in_scope();
    let observed = Observed {
        count: w.count,
        producer_id: w.producer_id,
        base_sequence: w.base_sequence,
        by: w.producer,
        at: w.at,
        read: false,
    };
    let conflict = pg.observe(w.offset, observed);
    let last = pg.last_ack.insert(w.producer_id, w.offset);
    if !in_scope {
        return;
    }
    if let Some(c) = conflict.filter(|c| !c.earlier.read) {
        out.report(
            &INFO,
            cx.g.now,
            vec![
                cx.g.name(w.producer).to_string(),
                cx.g.name(c.earlier.by).to_string(),
            ],
            format!(
                "{name}: offset {} was acknowledged for producer {} sequence {} at t={} and again \
                 for producer {} sequence {}: {}",
                c.offset,
                c.earlier_value.producer_id,
                c.earlier_value.sequence,
                c.earlier.at,
                c.value.producer_id,
                c.value.sequence,
                write_text(cx.g, &w)
            ),
        );
    }
    if let Some(prev) = last.filter(|prev| *prev >= w.offset) {
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.g.name(w.producer).to_string()],
            format!(
                "{name}: {} after an earlier write of the same producer id at offset {prev}",
                write_text(cx.g, &w)
            ),
        );
    }
}
