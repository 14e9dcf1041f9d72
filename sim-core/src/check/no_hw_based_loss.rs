//! `no_hw_based_loss`: a follower never truncates committed records away. Truncation goes by
//! leader epoch (KIP-101, KIP-279), never by the follower's own HW, which lags the leader's.
//!
//! Scope: `unclean.leader.election.enable=false` for the topic, and the partition within the
//! lossy-shutdown bound of `acked_durability`.
//!
//! Source: kafka-protocol.md §3.5 item 8 (NoHWBasedLoss); KIP-101's motivating scenarios.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "no_hw_based_loss",
    kind: InvariantKind::Safety,
    summary: "A replica never truncates records below the true HW (unclean election off)",
    source: "kafka-protocol.md §3.5 NoHWBasedLoss; KIP-101",
};

pub(crate) fn on_truncated(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    broker: BrokerId,
    from_offset: u64,
    to_offset: u64,
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    pg.diverged.remove(&broker);
    let held = pg.verified.get(&broker).copied().unwrap_or(0);
    pg.verified.insert(broker, held.min(to_offset));
    if held <= to_offset || pg.unclean_enabled || !pg.logs_consistent() {
        return;
    }
    out.report(
        &INFO,
        cx.g.now,
        vec![cx.broker_name(broker).to_string()],
        format!(
            "{name}: {} truncated its log from {from_offset} to {to_offset}, dropping committed \
             offsets {to_offset}..{held} (true HW {}){}",
            cx.broker_name(broker),
            pg.true_hw,
            cx.crash_note(broker),
        ),
    );
}
