//! `replication_quorum_superset`: the replicas a non-stale leader's HW waits for contain the
//! controller's ISR and ELR whenever its own ISR has at least min ISR members, and its maximal
//! ISR equals its ISR when no AlterPartition is in flight. Otherwise the controller could
//! elect a replica the HW did not wait for.
//!
//! The HW waits for the maximal ISR and for every caught-up, eligible follower
//! (`maybeIncrementLeaderHW`). The TLA+ property names the maximal ISR alone; Kafka's
//! `makeLeader` accepts an equal partition epoch and so can replace a pending expansion by the
//! committed ISR while the controller commits the expansion, and it is the caught-up clause
//! that keeps the HW waiting for the new member then. kafkasim checks what the HW relies on.
//!
//! A follower that is not yet caught up loses even that clause. When the equal-epoch update
//! (the metadata record of the leader's previous ISR change, arriving after its AlterPartition
//! answer) lands while the next expansion is in flight, `updateAssignmentAndIsr` replaces the
//! pending state by the committed ISR, and the in-flight answer is then ignored because the
//! state it was proposed from is gone (`Partition.makeLeader`, `handleAlterPartitionUpdate`).
//! Until the record of the expansion arrives, Kafka's leader waits for neither. That is Kafka's
//! own code, not a kafkasim fault, so a leader with nothing in flight whose partition epoch is
//! behind the controller's (it has not yet learnt the controller's latest change) is treated as
//! stale, as the TLA+ property treats a leader of an older leader epoch. Whether the HW then
//! outruns the new member is what `leader_candidate_completeness` checks.
//!
//! Source: TLA+ `ReplicationQuorumSupersetProperty` (Vanlightly kip-966);
//! kafka-protocol.md §3.5 item 5.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "replication_quorum_superset",
    kind: InvariantKind::Safety,
    summary: "The leader's maximal ISR contains the controller's ISR and ELR",
    source: "TLA+ ReplicationQuorumSupersetProperty (Vanlightly kip-966)",
};

pub fn check(cx: &DataCx<'_>, dg: &mut DataGround, out: &mut Violations, tp: TopicPartition) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get(&tp) else {
        return;
    };
    let Some(leader) = pg.leader else {
        return;
    };
    let Some(p) = cx.replica(leader, tp) else {
        return;
    };
    let Some(state) = &p.leader_state else {
        return;
    };
    if p.leader_epoch != pg.leader_epoch {
        return; // not yet (or no longer) the controller's leader
    }
    if state.pending.is_none() && p.partition_epoch < pg.partition_epoch {
        return; // it has not yet learnt the controller's latest ISR (see the module notes)
    }
    let maximal = state.maximal_isr();
    let Some(image) = cx.broker(leader).map(super::super::broker::Broker::image) else {
        return;
    };
    let quorum = p.hw_quorum(cx.g.now, image, &pg.config);
    let problem = if state.pending.is_none() && maximal != state.isr {
        Some(format!(
            "with nothing in flight its maximal ISR {maximal:?} differs from its ISR {:?}",
            state.isr
        ))
    } else if state.isr.len() >= pg.config.min_isr {
        let missing: Vec<_> = pg
            .isr
            .iter()
            .chain(&pg.elr)
            .filter(|r| !quorum.contains(r))
            .copied()
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "its HW waits for {quorum:?} (maximal ISR {maximal:?}), not for {missing:?}, \
                 which the controller has in ISR {:?} / ELR {:?}: the HW advances without them, \
                 yet they may be elected",
                pg.isr, pg.elr
            )
        })
    } else {
        None
    };
    if let Some(problem) = problem {
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.broker_name(leader).to_string()],
            format!(
                "{name}: leader {} (epoch {}): {problem}",
                cx.broker_name(leader),
                p.leader_epoch
            ),
        );
    }
}
