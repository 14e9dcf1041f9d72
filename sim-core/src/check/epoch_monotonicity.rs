//! `epoch_monotonicity`: the controller's partition epoch rises with every change and its
//! leader epoch never falls; no broker's known leader epoch of a partition falls; and at most
//! one broker ever leads a partition in one leader epoch.
//!
//! Source: kafka-protocol.md §3.5 item 7 (EpochMonotonicity); Kafka `PartitionRegistration.merge`.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::history::LeadershipChange;
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "epoch_monotonicity",
    kind: InvariantKind::Safety,
    summary: "Leader and partition epochs only go up, and one leader epoch has at most one leader",
    source: "kafka-protocol.md §3.5 EpochMonotonicity",
};

/// A committed change of a partition (replays already dropped by the fold): its leader epoch
/// must not fall below the one before it (the partition epoch rises by construction: the fold
/// tells a change only when it does).
pub(crate) fn on_partition_changed(
    cx: &DataCx<'_>,
    dg: &DataGround,
    out: &mut Violations,
    change: &LeadershipChange,
) {
    let (Some(before), after) = (&change.before, &change.after) else {
        return;
    };
    if after.leader_epoch < before.leader_epoch {
        out.report(
            &INFO,
            cx.g.now,
            Vec::new(),
            format!(
                "{}: the controller moved from (leader epoch {}, partition epoch {}) to ({}, {})",
                dg.tp_name(change.tp),
                before.leader_epoch,
                before.partition_epoch,
                after.leader_epoch,
                after.partition_epoch
            ),
        );
    }
}

/// A broker acts as leader (or follower) of `tp` in `leader_epoch`.
pub(crate) fn on_broker_epoch(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    broker: BrokerId,
    leader_epoch: u32,
    leads: bool,
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    let known = pg.known_epochs.entry(broker).or_insert(leader_epoch);
    if leader_epoch < *known {
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.broker_name(broker).to_string()],
            format!(
                "{name}: {} went back from leader epoch {} to {leader_epoch}",
                cx.broker_name(broker),
                *known
            ),
        );
    }
    *known = (*known).max(leader_epoch);
    if !leads {
        return;
    }
    let first = *pg.leaders_by_epoch.entry(leader_epoch).or_insert(broker);
    if first != broker {
        out.report(
            &INFO,
            cx.g.now,
            vec![
                cx.broker_name(first).to_string(),
                cx.broker_name(broker).to_string(),
            ],
            format!(
                "{name}: both {} and {} led leader epoch {leader_epoch}",
                cx.broker_name(first),
                cx.broker_name(broker)
            ),
        );
    }
}
