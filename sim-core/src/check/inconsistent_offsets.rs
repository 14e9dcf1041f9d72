//! `inconsistent_offsets`: sends and polls agree about the value at every offset: no consumer
//! reads a value at an offset where another value was read or acknowledged (acks=all).
//!
//! Source: Jepsen's Kafka workload checker, "inconsistent offsets" (`jepsen.tests.kafka`).

use super::data::{DataCx, DataGround, Observed};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::broker::log::RecordBatch;
use crate::engine::NodeId;
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "inconsistent_offsets",
    kind: InvariantKind::Safety,
    summary: "Every read agrees with earlier reads and acks=all acknowledgements at its offset",
    source: "Jepsen Kafka workload: inconsistent offsets (jepsen.tests.kafka)",
};

pub(crate) fn on_poll(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    consumer: NodeId,
    batch: &RecordBatch,
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    let observed = Observed {
        count: batch.count,
        producer_id: batch.producer_id,
        base_sequence: batch.base_sequence,
        by: consumer,
        at: cx.g.now,
        read: true,
    };
    let conflict = pg.observe(batch.base_offset, observed);
    pg.read_end = pg.read_end.max(batch.end_offset());
    pg.first_read = Some(
        pg.first_read
            .map_or(batch.base_offset, |f| f.min(batch.base_offset)),
    );
    let Some(c) = conflict else {
        return;
    };
    if !pg.in_scope() {
        return;
    }
    let how = if c.earlier.read {
        "read"
    } else {
        "acknowledged (acks=all)"
    };
    out.report(
        &INFO,
        cx.g.now,
        vec![
            cx.g.name(consumer).to_string(),
            cx.g.name(c.earlier.by).to_string(),
        ],
        format!(
            "{name}: {} read producer {} sequence {} at offset {}, where {} {how} producer {} \
             sequence {} at t={}",
            cx.g.name(consumer),
            c.value.producer_id,
            c.value.sequence,
            c.offset,
            cx.g.name(c.earlier.by),
            c.earlier_value.producer_id,
            c.earlier_value.sequence,
            c.earlier.at
        ),
    );
}
