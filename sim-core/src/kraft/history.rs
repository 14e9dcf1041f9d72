//! Each partition's committed leadership history, folded from the `partition_changed` events the
//! active controllers report: the one fold the checkers, the KRaft timeline and the reports (the
//! timeline plot, the narration, the HTML page) all read, so they always agree on what changed.
//!
//! A controller that takes over re-reports the records committed around its election
//! (`QuorumController` replays the log it inherits), so one committed change can be reported
//! twice. Each committed `PartitionChangeRecord` raises the partition epoch by one
//! (`PartitionRegistration.merge`), so the partition epoch names a change: anything not newer
//! than the last one told is a replay, and the fold drops it.
//!
//! Brokers' registration records are folded the same way ([`BrokerHistory`]), by their metadata
//! offset: a `RegisterBrokerRecord`'s offset is the broker epoch, and the events of a
//! `BrokerRegistrationChangeRecord` (fenced, unfenced, controlled shutdown) carry theirs.

use std::collections::BTreeMap;

use super::{BrokerId, Election, TopicPartition};
use crate::proto::Event;

/// A partition's leadership as the controller committed it (`PartitionRegistration`'s leader,
/// epochs, ISR and ELR).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leadership {
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub isr: Vec<BrokerId>,
    pub elr: Vec<BrokerId>,
}

/// One committed change of a partition, told once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadershipChange {
    pub tp: TopicPartition,
    /// The leadership before; `None` when the change creates the partition.
    pub before: Option<Leadership>,
    pub after: Leadership,
    /// How the leader was chosen, when the change elected one.
    pub election: Option<Election>,
}

impl LeadershipChange {
    /// The partition's first record: its creation.
    pub fn is_creation(&self) -> bool {
        self.before.is_none()
    }

    /// The leader or the leader epoch changed (a creation counts).
    pub fn leader_moved(&self) -> bool {
        self.before.as_ref().is_none_or(|b| {
            b.leader != self.after.leader || b.leader_epoch != self.after.leader_epoch
        })
    }

    /// The ISR changed (a creation does not count).
    pub fn isr_moved(&self) -> bool {
        self.before
            .as_ref()
            .is_some_and(|b| b.isr != self.after.isr)
    }

    /// The ELR changed (a creation does not count).
    pub fn elr_moved(&self) -> bool {
        self.before
            .as_ref()
            .is_some_and(|b| b.elr != self.after.elr)
    }
}

/// The fold: the last committed leadership of every partition seen.
#[derive(Clone, Debug, Default)]
pub struct PartitionHistory {
    now: BTreeMap<TopicPartition, Leadership>,
}

impl PartitionHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// The change `event` tells, if it is a partition change not told before.
    pub fn apply(&mut self, event: &Event) -> Option<LeadershipChange> {
        let Event::PartitionChanged {
            tp,
            leader,
            leader_epoch,
            partition_epoch,
            isr,
            elr,
            election,
        } = event
        else {
            return None;
        };
        let last = self.now.get(tp);
        if last.is_some_and(|l| *partition_epoch <= l.partition_epoch) {
            return None;
        }
        let after = Leadership {
            leader: *leader,
            leader_epoch: *leader_epoch,
            partition_epoch: *partition_epoch,
            isr: isr.clone(),
            elr: elr.clone(),
        };
        let before = self.now.insert(*tp, after.clone());
        Some(LeadershipChange {
            tp: *tp,
            before,
            after,
            election: *election,
        })
    }

    /// The last committed leadership of `tp`, if any change of it was seen.
    pub fn get(&self, tp: &TopicPartition) -> Option<&Leadership> {
        self.now.get(tp)
    }
}

/// The fold of brokers' registration records: for each broker, the metadata offset of the last
/// record told, and which of that record's events were told (a new incarnation's
/// `RegisterBrokerRecord` tells a fence and a registration).
#[derive(Clone, Debug, Default)]
pub struct BrokerHistory {
    last: BTreeMap<BrokerId, (u64, u8)>,
}

impl BrokerHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `event`, a broker registration event, is told for the first time (`Some(true)`)
    /// or is a new active controller's replay of one told before (`Some(false)`); `None` for
    /// any other event. A broker's records reach every controller in log order, so a record at
    /// or below the last offset told for that broker was told.
    pub fn apply(&mut self, event: &Event) -> Option<bool> {
        let (broker, offset, kind) = match event {
            Event::BrokerRegistered {
                broker,
                broker_epoch,
            } => (*broker, *broker_epoch, 1u8),
            Event::BrokerFenced { broker, offset, .. } => (*broker, *offset, 2),
            Event::BrokerUnfenced { broker, offset, .. } => (*broker, *offset, 4),
            Event::BrokerControlledShutdown { broker, offset } => (*broker, *offset, 8),
            _ => return None,
        };
        let news = match self.last.get(&broker) {
            None => true,
            Some(&(last, told)) => offset > last || (offset == last && told & kind == 0),
        };
        if news {
            let entry = self.last.entry(broker).or_insert((offset, 0));
            if entry.0 != offset {
                *entry = (offset, 0);
            }
            entry.1 |= kind;
        }
        Some(news)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(partition_epoch: u32, leader: u32, leader_epoch: u32, isr: &[u32]) -> Event {
        Event::PartitionChanged {
            tp: TopicPartition {
                topic: 0,
                partition: 0,
            },
            leader: Some(leader),
            leader_epoch,
            partition_epoch,
            isr: isr.to_vec(),
            elr: Vec::new(),
            election: None,
        }
    }

    #[test]
    fn a_replayed_record_is_told_once_and_each_change_says_what_moved() {
        let mut h = PartitionHistory::new();
        let created = h.apply(&changed(0, 1, 0, &[1, 2, 3])).expect("a creation");
        assert!(created.is_creation() && created.leader_moved() && !created.isr_moved());
        let shrink = h.apply(&changed(1, 1, 0, &[1, 2])).expect("a new record");
        assert!(!shrink.leader_moved() && shrink.isr_moved() && !shrink.elr_moved());
        assert_eq!(shrink.before.as_ref().map(|b| b.isr.len()), Some(3));
        // A new active controller re-reports what its predecessor committed.
        assert_eq!(h.apply(&changed(1, 1, 0, &[1, 2])), None);
        assert_eq!(h.apply(&changed(0, 1, 0, &[1, 2, 3])), None);
        let elected = h.apply(&changed(2, 2, 1, &[2])).expect("a new record");
        assert!(elected.leader_moved() && elected.isr_moved());
        assert_eq!(h.get(&elected.tp).map(|l| l.leader), Some(Some(2)));
        let other = Event::ControllerActivated { epoch: 3 };
        assert_eq!(h.apply(&other), None);
    }

    #[test]
    fn a_replayed_registration_record_is_told_once() {
        let registered = |broker_epoch| Event::BrokerRegistered {
            broker: 2,
            broker_epoch,
        };
        let fenced = |broker_epoch, offset| Event::BrokerFenced {
            broker: 2,
            broker_epoch,
            reason: crate::proto::FenceReason::SessionExpired,
            offset,
        };
        let unfenced = |broker_epoch, offset| Event::BrokerUnfenced {
            broker: 2,
            broker_epoch,
            offset,
        };
        // The history as committed: registered at 5, unfenced at 7, fenced at 40, unfenced
        // again at 52 (the same incarnation), then a new incarnation at 90, whose record both
        // fences the old registration and registers the new one.
        let history = [
            registered(5),
            unfenced(5, 7),
            fenced(5, 40),
            unfenced(5, 52),
            fenced(90, 90),
            registered(90),
            unfenced(90, 93),
        ];
        let mut h = BrokerHistory::new();
        for e in &history {
            assert_eq!(h.apply(e), Some(true), "{e:?} is news");
        }
        // A controller that restarted and took over replays the whole log: nothing is news,
        // not even the second unfence of the same incarnation.
        for e in &history {
            assert_eq!(h.apply(e), Some(false), "{e:?} was told");
        }
        assert_eq!(h.apply(&unfenced(90, 120)), Some(true));
        let shutdown = Event::BrokerControlledShutdown {
            broker: 2,
            offset: 130,
        };
        assert_eq!(h.apply(&shutdown), Some(true));
        assert_eq!(h.apply(&shutdown), Some(false));
        // Another broker's records are its own.
        let other = Event::BrokerRegistered {
            broker: 3,
            broker_epoch: 6,
        };
        assert_eq!(h.apply(&other), Some(true));
        assert_eq!(h.apply(&Event::TopicCreated { topic: 0 }), None);
    }
}
