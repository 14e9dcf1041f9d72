//! `epoch_monotonicity`: the controller's partition epoch rises with every change and its
//! leader epoch never falls; no broker's known leader epoch of a partition falls; and at most
//! one broker ever leads a partition in one leader epoch.
//!
//! Source: kafka-protocol.md §3.5 item 7 (EpochMonotonicity); Kafka `PartitionRegistration.merge`.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "epoch_monotonicity",
    kind: InvariantKind::Safety,
    summary: "Leader and partition epochs only go up, and one leader epoch has at most one leader",
    source: "kafka-protocol.md §3.5 EpochMonotonicity",
};

/// A committed partition change with these epochs, checked before the ground takes them.
/// Returns false for a record already seen: a controller that takes over re-reports records
/// committed around its election, and a record's partition epoch names it (each committed
/// change raises it by one).
pub fn on_partition_changed(
    cx: &DataCx<'_>,
    dg: &DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    leader_epoch: u32,
    partition_epoch: u32,
) -> bool {
    let Some(pg) = dg.partitions.get(&tp) else {
        return false;
    };
    if !pg.created {
        return true;
    }
    if partition_epoch <= pg.partition_epoch {
        return false;
    }
    if leader_epoch < pg.leader_epoch {
        out.report(
            &INFO,
            cx.g.now,
            Vec::new(),
            format!(
                "{}: the controller moved from (leader epoch {}, partition epoch {}) to ({leader_epoch}, {partition_epoch})",
                dg.tp_name(tp),
                pg.leader_epoch,
                pg.partition_epoch
            ),
        );
    }
    true
}

/// A broker acts as leader (or follower) of `tp` in `leader_epoch`.
pub fn on_broker_epoch(
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
