//! `duplicate`: a record of an idempotent producer is never in the log twice: no value is read
//! at two different offsets. (Retries of a non-idempotent producer may duplicate, by design.)
//!
//! Source: Jepsen's Kafka workload, duplicates (`jepsen.tests.kafka`; reported in the Redpanda
//! analysis); KIP-98 idempotence.

use super::data::{DataCx, DataGround, overlapping_sequence};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::broker::log::RecordBatch;
use crate::engine::NodeId;
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "duplicate",
    kind: InvariantKind::Safety,
    summary: "No record of an idempotent producer is read at two offsets",
    source: "Jepsen Kafka workload: duplicates (jepsen.tests.kafka); KIP-98",
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
    let reads = pg.reads_by_value.entry(batch.producer_id).or_default();
    let seen = overlapping_sequence(reads, batch.base_sequence, batch.count);
    match seen {
        None => {
            reads.insert(batch.base_sequence, (batch.count, batch.base_offset));
        }
        Some((seq, _, offset)) => {
            let at = seq.max(batch.base_sequence);
            let first_offset = offset + u64::from(at - seq);
            let second_offset = batch.base_offset + u64::from(at - batch.base_sequence);
            if first_offset != second_offset && batch.idempotent && pg.in_scope() {
                out.report(
                    &INFO,
                    cx.g.now,
                    vec![cx.g.name(consumer).to_string()],
                    format!(
                        "{name}: producer {} sequence {at} was read at offset {first_offset} and \
                         again at offset {second_offset} (by {})",
                        batch.producer_id,
                        cx.g.name(consumer)
                    ),
                );
            }
        }
    }
}
