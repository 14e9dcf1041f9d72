//! `eventually_fully_replicated` (liveness): within [`super::LIVENESS_BOUND`] of the last fault,
//! every acknowledged acks=all write is on every running replica of a partition that has a
//! leader. It asks only for replication Kafka can do: followers fetch from the leader, so a
//! partition with none (offline: nobody eligible in ISR or ELR) replicates nothing, and its
//! running replicas outside ISR and ELR wait with it.
//!
//! Source: TLA+ `EventuallyAcknowledgedValueFullyReplicated` (Vanlightly kip-966).

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::proto::BrokerState;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "eventually_fully_replicated",
    kind: InvariantKind::Liveness,
    summary: "Within 30 s of the last fault, acknowledged writes are on every running replica",
    source: "TLA+ EventuallyAcknowledgedValueFullyReplicated (Vanlightly kip-966)",
};

pub fn check(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    last_fault_ack_end: &[(crate::kraft::TopicPartition, u64)],
) {
    for &(tp, acked_end) in last_fault_ack_end {
        let name = dg.tp_name(tp);
        let Some(pg) = dg.partitions.get_mut(&tp) else {
            continue;
        };
        if !pg.in_scope() || acked_end > pg.true_hw || pg.leader.is_none() {
            continue;
        }
        let replicas = pg.replicas.clone();
        for r in replicas {
            let Some(b) = cx.broker(r) else {
                continue;
            };
            if b.state() != BrokerState::Running {
                continue;
            }
            let Some(p) = b.partitions().get(&tp) else {
                continue;
            };
            let short = pg.verify(r, p.log.batches(), acked_end).or_else(|| {
                (pg.verified.get(&r).copied().unwrap_or(0) < acked_end)
                    .then_some(p.log_end_offset())
            });
            if let Some(at) = short {
                out.report(
                    &INFO,
                    cx.g.now,
                    vec![cx.broker_name(r).to_string()],
                    format!(
                        "{name}: {} is running but holds the acknowledged writes only up to \
                         offset {at}, not {acked_end}, {} s after the last fault",
                        cx.broker_name(r),
                        super::LIVENESS_BOUND.as_millis() / 1000
                    ),
                );
            }
        }
    }
}
