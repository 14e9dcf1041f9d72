//! The KRaft story of a run, for the report: controller elections and activations, broker
//! registration and fencing, partition leadership, and the state at the end. Built from the
//! protocol events after every event, like the checkers, and bounded.

use serde::Serialize;

use crate::config::ClusterConfig;
use crate::engine::{NodeId, Simulation};
use crate::kraft::history::{BrokerHistory, Leadership, PartitionHistory};
use crate::kraft::raft::RaftRole;
use crate::kraft::{BrokerId, Election, TopicPartition};
use crate::proto::{BrokerState, Event, FenceReason};
use crate::world::Process;

/// Most entries kept in each list (the rest are counted in `dropped`).
pub const MAX_TIMELINE_ENTRIES: usize = 10_000;

#[derive(Clone, Debug, Serialize)]
pub struct ElectionEntry {
    pub time_ms: f64,
    pub controller: String,
    pub epoch: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct BrokerEntry {
    pub time_ms: f64,
    pub broker: String,
    /// registered, fenced, unfenced, controlled_shutdown
    pub event: &'static str,
    pub broker_epoch: Option<u64>,
    pub reason: Option<FenceReason>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PartitionEntry {
    pub time_ms: f64,
    pub topic: String,
    pub partition: u32,
    pub leader: Option<String>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub isr: Vec<String>,
    pub elr: Vec<String>,
    pub election: Option<Election>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BrokerFinal {
    pub name: String,
    pub registered: bool,
    pub fenced: Option<bool>,
    pub broker_epoch: Option<u64>,
    /// The broker's own lifecycle state, if it is running.
    pub state: Option<BrokerState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FinalState {
    pub active_controller: Option<String>,
    pub epoch: Option<u32>,
    pub high_watermark: Option<u64>,
    pub brokers: Vec<BrokerFinal>,
    pub partitions: Vec<PartitionEntry>,
}

/// The `kraft` section of a run summary.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// A controller became Raft leader.
    pub elections: Vec<ElectionEntry>,
    /// A leader became the active controller (its epoch start committed).
    pub activations: Vec<ElectionEntry>,
    pub brokers: Vec<BrokerEntry>,
    pub partitions: Vec<PartitionEntry>,
    /// Entries left out once a list was full.
    pub dropped: u64,
    #[serde(rename = "final")]
    pub final_state: Option<FinalState>,
    #[serde(skip)]
    names: Vec<String>,
    #[serde(skip)]
    topics: Vec<String>,
    #[serde(skip)]
    brokers_by_id: Vec<NodeId>,
    /// The committed partition changes, replays dropped: one entry per partition, however
    /// long the run.
    #[serde(skip)]
    history: PartitionHistory,
    /// The brokers' registration records told, replays dropped.
    #[serde(skip)]
    broker_history: BrokerHistory,
}

fn push<T>(list: &mut Vec<T>, dropped: &mut u64, entry: T) {
    if list.len() < MAX_TIMELINE_ENTRIES {
        list.push(entry);
    } else {
        *dropped += 1;
    }
}

impl Timeline {
    pub fn new(cluster: &ClusterConfig) -> Timeline {
        Timeline {
            elections: Vec::new(),
            activations: Vec::new(),
            brokers: Vec::new(),
            partitions: Vec::new(),
            dropped: 0,
            final_state: None,
            names: cluster.names.clone(),
            topics: cluster.topics.iter().map(|t| t.name.clone()).collect(),
            brokers_by_id: cluster.brokers.clone(),
            history: PartitionHistory::new(),
            broker_history: BrokerHistory::new(),
        }
    }

    fn broker_name(&self, id: BrokerId) -> String {
        match self.brokers_by_id.get((id as usize).wrapping_sub(1)) {
            Some(n) => self.names[n.index()].clone(),
            None => format!("broker-{id}"),
        }
    }

    fn partition_entry(
        &self,
        time_ms: f64,
        tp: TopicPartition,
        after: &Leadership,
        election: Option<Election>,
    ) -> PartitionEntry {
        PartitionEntry {
            time_ms,
            topic: self.topics[tp.topic as usize].clone(),
            partition: tp.partition,
            leader: after.leader.map(|b| self.broker_name(b)),
            leader_epoch: after.leader_epoch,
            partition_epoch: after.partition_epoch,
            isr: after.isr.iter().map(|&b| self.broker_name(b)).collect(),
            elr: after.elr.iter().map(|&b| self.broker_name(b)).collect(),
            election,
        }
    }

    pub fn record(&mut self, sim: &Simulation<Process>) {
        let time_ms = sim.now().as_micros() as f64 / 1000.0;
        for (node, event) in sim.step_events() {
            if self.broker_history.apply(event) == Some(false) {
                continue; // a new active controller's replay of a registration record
            }
            let name = || self.names[node.index()].clone();
            match event {
                Event::RaftState {
                    state: RaftRole::Leader,
                    epoch,
                    ..
                } => {
                    let e = ElectionEntry {
                        time_ms,
                        controller: name(),
                        epoch: *epoch,
                    };
                    push(&mut self.elections, &mut self.dropped, e);
                }
                Event::ControllerActivated { epoch } => {
                    let e = ElectionEntry {
                        time_ms,
                        controller: name(),
                        epoch: *epoch,
                    };
                    push(&mut self.activations, &mut self.dropped, e);
                }
                Event::BrokerRegistered {
                    broker,
                    broker_epoch,
                } => self.broker_event(time_ms, *broker, "registered", Some(*broker_epoch), None),
                Event::BrokerFenced {
                    broker,
                    broker_epoch,
                    reason,
                    ..
                } => self.broker_event(
                    time_ms,
                    *broker,
                    "fenced",
                    Some(*broker_epoch),
                    Some(*reason),
                ),
                Event::BrokerUnfenced {
                    broker,
                    broker_epoch,
                    ..
                } => self.broker_event(time_ms, *broker, "unfenced", Some(*broker_epoch), None),
                Event::BrokerControlledShutdown { broker, .. } => {
                    self.broker_event(time_ms, *broker, "controlled_shutdown", None, None);
                }
                Event::PartitionChanged { .. } => {
                    if let Some(change) = self.history.apply(event) {
                        let e = self.partition_entry(
                            time_ms,
                            change.tp,
                            &change.after,
                            change.election,
                        );
                        push(&mut self.partitions, &mut self.dropped, e);
                    }
                }
                _ => {}
            }
        }
    }

    fn broker_event(
        &mut self,
        time_ms: f64,
        broker: BrokerId,
        event: &'static str,
        broker_epoch: Option<u64>,
        reason: Option<FenceReason>,
    ) {
        let e = BrokerEntry {
            time_ms,
            broker: self.broker_name(broker),
            event,
            broker_epoch,
            reason,
        };
        push(&mut self.brokers, &mut self.dropped, e);
    }

    /// Takes the state at the end of the run from the newest active controller.
    pub fn finish(&mut self, sim: &Simulation<Process>) {
        let time_ms = sim.now().as_micros() as f64 / 1000.0;
        let active = crate::world::active_controller(sim);
        let controller = active.and_then(|id| sim.node(id)?.controller());
        let image = controller.map(super::super::kraft::controller::Controller::committed_image);
        let brokers = self
            .brokers_by_id
            .iter()
            .enumerate()
            .map(|(i, &node)| {
                let reg = image.and_then(|im| im.brokers.get(&(i as u32 + 1)));
                BrokerFinal {
                    name: self.names[node.index()].clone(),
                    registered: reg.is_some(),
                    fenced: reg.map(|r| r.fenced),
                    broker_epoch: reg.map(|r| r.broker_epoch),
                    state: sim
                        .node(node)
                        .and_then(|p| p.broker())
                        .map(super::super::broker::Broker::state),
                }
            })
            .collect();
        let partitions = image
            .map(|im| {
                im.partitions
                    .iter()
                    .map(|(tp, p)| self.partition_entry(time_ms, *tp, &p.leadership(), None))
                    .collect()
            })
            .unwrap_or_default();
        self.final_state = Some(FinalState {
            active_controller: active.map(|id| self.names[id.index()].clone()),
            epoch: controller.map(|c| c.raft().epoch()),
            high_watermark: controller.and_then(|c| c.raft().high_watermark()),
            brokers,
            partitions,
        });
    }
}
