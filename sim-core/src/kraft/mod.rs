//! KRaft: the controller quorum and the quorum controller.
//!
//! Map:
//! - this file: the `__cluster_metadata` records, the metadata image every node builds from the
//!   committed records, and partition leader election (§2.9 of kafka-protocol.md);
//! - [`raft`]: one replica of the metadata log, voter or observer (KIP-595 Raft with KIP-996
//!   pre-vote and check-quorum);
//! - [`controller`]: a controller process: a Raft voter plus, while it leads, the active quorum
//!   controller (KIP-631: registration, heartbeats, fencing, partition leadership).
//!
//! Brokers are Raft observers; their side lives in `broker/`.

pub mod controller;
pub mod history;
pub mod raft;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::NodeId;

/// A broker's `node.id`. kafkasim numbers brokers from 1 (`broker-1` has id 1).
pub type BrokerId = u32;

/// A partition of a topic; topics are numbered in scenario order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    pub topic: u32,
    pub partition: u32,
}

/// One record of the metadata log, stamped with the Raft epoch of the leader that appended it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub epoch: u32,
    pub record: MetadataRecord,
}

/// The metadata records kafkasim models (Kafka's `metadata/src/main/resources/common/metadata`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// KIP-595 control record a new leader appends first, at its epoch start offset.
    LeaderChange { leader: NodeId },
    /// Written by the active controller every `metadata.max.idle.interval.ms` (KIP-835), so
    /// the HW keeps moving and brokers can tell they are caught up.
    NoOp,
    /// `RegisterBrokerRecord`: a new incarnation; the broker epoch is this record's offset.
    RegisterBroker {
        broker: BrokerId,
        broker_epoch: u64,
        incarnation: u32,
    },
    /// `BrokerRegistrationChangeRecord`: fence, unfence, or enter controlled shutdown.
    BrokerRegistrationChange {
        broker: BrokerId,
        broker_epoch: u64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    /// `TopicRecord`.
    Topic { topic: u32 },
    /// `PartitionRecord`: a new partition with its ordered replica assignment.
    Partition {
        tp: TopicPartition,
        /// Shared by every copy of the record (each broker's log and image) until a change.
        registration: Arc<PartitionRegistration>,
    },
    /// `PartitionChangeRecord`.
    PartitionChange(Box<PartitionChange>),
}

/// KIP-704: a partition whose leader was elected uncleanly is RECOVERING.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeaderRecoveryState {
    Recovered,
    Recovering,
}

/// The controller's view of a partition (`PartitionRegistration.java`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionRegistration {
    /// Ordered assignment; `replicas[0]` is the preferred leader.
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// KIP-966 eligible leader replicas.
    pub elr: Vec<BrokerId>,
    pub last_known_elr: Vec<BrokerId>,
    /// `None` is Kafka's NO_LEADER (-1).
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub leader_recovery_state: LeaderRecoveryState,
}

/// `PartitionChangeRecord`: only the fields that change are set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionChange {
    pub tp: TopicPartition,
    /// `Some(None)` sets NO_LEADER; `None` leaves the leader alone.
    pub leader: Option<Option<BrokerId>>,
    pub isr: Option<Vec<BrokerId>>,
    pub elr: Option<Vec<BrokerId>>,
    pub last_known_elr: Option<Vec<BrokerId>>,
    pub leader_recovery_state: Option<LeaderRecoveryState>,
    /// How the leader was chosen, when it changed (for traces and lessons; Kafka logs it).
    pub election: Option<Election>,
}

/// How a partition leader was chosen (§2.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Election {
    /// The first acceptable ISR member in assignment order.
    Clean,
    /// An ELR member, the ISR being empty (KIP-966).
    Elr,
    /// The last known leader, ISR and ELR both empty (KIP-966 balanced recovery).
    LastKnownLeader,
    /// Any acceptable replica, because `unclean.leader.election.enable` is true.
    Unclean,
    /// The preferred replica (`replicas[0]`) takes its leadership back: the active
    /// controller's leader balancing (`auto.leader.rebalance.enable`).
    Preferred,
    /// Nobody eligible: NO_LEADER.
    None,
}

impl PartitionRegistration {
    /// Its leader, epochs, ISR and ELR, as the partition history tells them.
    pub(crate) fn leadership(&self) -> history::Leadership {
        history::Leadership {
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            isr: self.isr.clone(),
            elr: self.elr.clone(),
        }
    }

    /// `PartitionRegistration.merge`: the partition epoch always goes up; the leader epoch goes
    /// up whenever the record sets the leader field, even to the same leader (§1.1).
    pub fn merge(&mut self, change: &PartitionChange) {
        if let Some(leader) = change.leader {
            self.leader = leader;
            self.leader_epoch += 1;
        }
        if let Some(isr) = &change.isr {
            self.isr.clone_from(isr);
        }
        if let Some(elr) = &change.elr {
            self.elr.clone_from(elr);
        }
        if let Some(lke) = &change.last_known_elr {
            self.last_known_elr.clone_from(lke);
        }
        if let Some(state) = change.leader_recovery_state {
            self.leader_recovery_state = state;
        }
        self.partition_epoch += 1;
    }
}

/// A broker as the metadata log describes it (`BrokerRegistration.java`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerRegistration {
    pub broker_epoch: u64,
    pub incarnation: u32,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

impl BrokerRegistration {
    /// `ClusterControlManager.isActive`: may lead partitions and be in the ISR.
    pub(crate) fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

/// The state built by replaying metadata records in offset order (Kafka's `MetadataImage`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataImage {
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    pub topics: Vec<u32>,
    /// Each registration is shared with the record that created it, and copied on change:
    /// a thousand brokers' images of the same partitions are one set of registrations.
    pub partitions: BTreeMap<TopicPartition, Arc<PartitionRegistration>>,
    /// Records applied so far: the next offset to apply.
    pub next_offset: u64,
}

impl MetadataImage {
    /// What every partition registration must be, whatever record made it
    /// (`PartitionRegistration`'s own checks and `PartitionChangeBuilder`'s): ISR and ELR are
    /// sets of replicas and disjoint; a leader is in the ISR; the partition epoch counts every
    /// change, so it is never behind the leader epoch.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        for (tp, p) in &self.partitions {
            let unique = |v: &[BrokerId]| v.iter().enumerate().all(|(i, r)| !v[..i].contains(r));
            ensure!(
                unique(&p.isr) && unique(&p.elr) && unique(&p.replicas),
                "{tp:?}: a replica listed twice in {p:?}"
            );
            ensure!(
                p.isr.iter().chain(&p.elr).all(|r| p.replicas.contains(r)),
                "{tp:?}: ISR or ELR names a broker outside the replicas: {p:?}"
            );
            ensure!(
                !p.isr.iter().any(|r| p.elr.contains(r)),
                "{tp:?}: a broker both in the ISR and the ELR: {p:?}"
            );
            if let Some(leader) = p.leader {
                ensure!(
                    p.isr.contains(&leader),
                    "{tp:?}: the leader is not in the ISR: {p:?}"
                );
            }
            ensure!(
                p.partition_epoch >= p.leader_epoch,
                "{tp:?}: partition epoch behind the leader epoch: {p:?}"
            );
        }
        Ok(())
    }

    /// Applies the record at `next_offset`.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::LeaderChange { .. } | MetadataRecord::NoOp => {}
            MetadataRecord::RegisterBroker {
                broker,
                broker_epoch,
                incarnation,
            } => {
                self.brokers.insert(
                    *broker,
                    BrokerRegistration {
                        broker_epoch: *broker_epoch,
                        incarnation: *incarnation,
                        fenced: true,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::BrokerRegistrationChange {
                broker,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                // A change for an older registration is stale (Kafka rejects it at the
                // controller; replay ignores it the same way).
                if let Some(b) = self.brokers.get_mut(broker)
                    && b.broker_epoch == *broker_epoch
                {
                    if let Some(f) = fenced {
                        b.fenced = *f;
                    }
                    if let Some(c) = in_controlled_shutdown {
                        b.in_controlled_shutdown = *c;
                    }
                }
            }
            MetadataRecord::Topic { topic } => {
                if !self.topics.contains(topic) {
                    self.topics.push(*topic);
                }
            }
            MetadataRecord::Partition { tp, registration } => {
                self.partitions.insert(*tp, Arc::clone(registration));
            }
            MetadataRecord::PartitionChange(change) => {
                if let Some(p) = self.partitions.get_mut(&change.tp) {
                    Arc::make_mut(p).merge(change);
                }
            }
        }
        self.next_offset += 1;
    }

    pub(crate) fn is_active(&self, broker: BrokerId) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(BrokerRegistration::is_active)
    }

    /// Partitions `broker` leads.
    pub(crate) fn led_by(&self, broker: BrokerId) -> impl Iterator<Item = TopicPartition> + '_ {
        self.partitions
            .iter()
            .filter(move |(_, p)| p.leader == Some(broker))
            .map(|(tp, _)| *tp)
    }
}

/// What a partition change is for, which decides who may lead (§2.9, `PartitionChangeBuilder`).
#[derive(Clone, Copy, Debug)]
pub struct ChangeContext<'a> {
    pub image: &'a MetadataImage,
    /// The effective `min.insync.replicas`: min(topic setting, replication factor).
    pub min_isr: usize,
    pub unclean_enabled: bool,
    /// `Election.PREFERRED` (leader balancing): the preferred replica leads if it may, before
    /// the current leader is kept, and no election is ever unclean.
    pub preferred: bool,
    /// KIP-966 ELR (on by default since Kafka 4.1).
    pub elr_enabled: bool,
    /// The broker being fenced or shut down: never acceptable (`brokerToRemove`).
    pub removing: Option<BrokerId>,
    /// The broker being unfenced: acceptable though the image still has it fenced.
    pub adding: Option<BrokerId>,
    /// A broker re-registering after an unclean shutdown: dropped from the ELR, never chosen.
    pub unclean_shutdown: Option<BrokerId>,
}

impl ChangeContext<'_> {
    /// `isAcceptableLeader`: registered, unfenced, not in controlled shutdown.
    fn acceptable(&self, r: BrokerId) -> bool {
        if Some(r) == self.removing || Some(r) == self.unclean_shutdown {
            return false;
        }
        Some(r) == self.adding || self.image.is_active(r)
    }
}

/// `maybePopulateTargetElr`: the ELR and last known ELR the change starts from. Below
/// `min.insync.replicas` the replicas leaving the ISR join the ELR (but one that shut down
/// uncleanly); at or above it both are cleared.
fn target_elr(
    p: &PartitionRegistration,
    target_isr: &[BrokerId],
    cx: &ChangeContext<'_>,
) -> (Vec<BrokerId>, Vec<BrokerId>) {
    let mut elr = p.elr.clone();
    let mut last_known_elr = p.last_known_elr.clone();
    if cx.elr_enabled {
        if target_isr.len() >= cx.min_isr {
            elr.clear();
            last_known_elr.clear();
        } else {
            for &r in p.elr.iter().chain(&p.isr) {
                if !elr.contains(&r) {
                    elr.push(r);
                }
            }
            elr.retain(|r| !target_isr.contains(r) && Some(*r) != cx.unclean_shutdown);
            elr.sort_unstable();
        }
    }
    (elr, last_known_elr)
}

/// Builds the change that sets `target_isr` and elects a leader for it, following
/// `PartitionChangeBuilder.build` (ELR upkeep, then the election order of §2.9). `None` if
/// nothing would change.
pub fn partition_change(
    tp: TopicPartition,
    p: &PartitionRegistration,
    target_isr: Vec<BrokerId>,
    cx: &ChangeContext<'_>,
) -> Option<PartitionChange> {
    let (mut elr, mut last_known_elr) = target_elr(p, &target_isr, cx);
    let mut isr = target_isr;
    let valid = |r: BrokerId, isr: &[BrokerId], elr: &[BrokerId]| -> bool {
        (isr.contains(&r) || (isr.is_empty() && elr.contains(&r))) && cx.acceptable(r)
    };
    let mut recovery = p.leader_recovery_state;
    // `electPreferredLeader`: the preferred replica first, if it may lead.
    let preferred = p
        .replicas
        .first()
        .copied()
        .filter(|&r| cx.preferred && valid(r, &isr, &elr));
    let (leader, election) = match (preferred, p.leader) {
        (Some(r), Some(l)) if r == l => (Some(l), None),
        (Some(r), _) => {
            if !isr.contains(&r) {
                isr = vec![r];
                elr.retain(|&e| e != r);
            }
            (Some(r), Some(Election::Preferred))
        }
        // i. keep a valid leader.
        (None, Some(l)) if valid(l, &isr, &elr) => (Some(l), None),
        _ => {
            if let Some(r) = p.replicas.iter().copied().find(|&r| valid(r, &isr, &elr)) {
                // ii. the first valid replica in assignment order.
                if isr.contains(&r) {
                    (Some(r), Some(Election::Clean))
                } else {
                    isr = vec![r];
                    elr.retain(|&e| e != r);
                    (Some(r), Some(Election::Elr))
                }
            } else if cx.elr_enabled
                && isr.is_empty()
                && elr.is_empty()
                && last_known_elr.len() == 1
                && cx.acceptable(last_known_elr[0])
            {
                // iii. KIP-966: the last known leader, with the KAFKA-19522 fix.
                let r = last_known_elr[0];
                isr = vec![r];
                recovery = LeaderRecoveryState::Recovering;
                elr.clear();
                last_known_elr.clear();
                (Some(r), Some(Election::LastKnownLeader))
            } else if let Some(r) = (cx.unclean_enabled && !cx.preferred)
                .then(|| p.replicas.iter().copied().find(|&r| cx.acceptable(r)))
                .flatten()
            {
                // iv. unclean: any acceptable replica; may lose committed data (§1.10).
                isr = vec![r];
                recovery = LeaderRecoveryState::Recovering;
                elr.clear();
                last_known_elr.clear();
                (Some(r), Some(Election::Unclean))
            } else {
                (None, Some(Election::None))
            }
        }
    };
    // maybeUpdateLastKnownLeader: remember the last leader the first time the ISR empties.
    if cx.elr_enabled && leader.is_none() && isr.is_empty() {
        if last_known_elr.is_empty()
            && let Some(prev) = p.leader
        {
            last_known_elr = vec![prev];
        }
    } else if leader.is_some() && election != Some(Election::LastKnownLeader) {
        last_known_elr.clear();
    }
    // Without ELR the ISR never empties: the last replica standing stays in it (§1.11).
    if isr.is_empty() && !cx.elr_enabled {
        isr = p.isr.clone();
    }
    let change = PartitionChange {
        tp,
        leader: (leader != p.leader).then_some(leader),
        isr: (isr != p.isr).then_some(isr),
        elr: (elr != p.elr).then_some(elr),
        last_known_elr: (last_known_elr != p.last_known_elr).then_some(last_known_elr),
        leader_recovery_state: (recovery != p.leader_recovery_state).then_some(recovery),
        election: if leader != p.leader { election } else { None },
    };
    let unchanged = change.leader.is_none()
        && change.isr.is_none()
        && change.elr.is_none()
        && change.last_known_elr.is_none()
        && change.leader_recovery_state.is_none();
    (!unchanged).then_some(change)
}
