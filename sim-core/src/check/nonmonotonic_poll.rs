//! `nonmonotonic_poll`: a consumer's reads of a partition go forward: each poll continues where
//! the last ended, unless the consumer found its position truncated (KIP-320) and sought
//! back, or restarted.
//!
//! Source: Jepsen's Kafka workload, non-monotonic polls (`jepsen.tests.kafka`).

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::broker::log::RecordBatch;
use crate::engine::NodeId;
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "nonmonotonic_poll",
    kind: InvariantKind::Safety,
    summary: "A consumer's successive reads of a partition never go back without a reset",
    source: "Jepsen Kafka workload: nonmonotonic poll (jepsen.tests.kafka)",
};

pub(crate) fn on_poll(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    consumer: NodeId,
    batch: &RecordBatch,
) {
    let next = dg.poll_positions.insert((consumer, tp), batch.end_offset());
    if let Some(expected) = next.filter(|e| batch.base_offset < *e) {
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.g.name(consumer).to_string()],
            format!(
                "{}: {} read offset {} after it had read up to {expected}, without a reset",
                dg.tp_name(tp),
                cx.g.name(consumer),
                batch.base_offset
            ),
        );
    }
}
