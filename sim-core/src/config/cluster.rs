//! The resolved configuration every process of one run shares: the quorum, the broker config,
//! the topics and their replication rules, the workload's clients, and the names of the nodes.
//! The scenario layer builds it (`scenario::Scenario::cluster_config`); the protocol and the
//! world only read it.

use std::sync::Arc;

use super::{BrokerConfig, ConsumerConfig, ProducerConfig};
use crate::broker::partition::PartitionConfig;
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::BrokerId;
use crate::kraft::raft::RaftConfig;

/// A topic as the controller creates it.
#[derive(Clone, Debug)]
pub struct TopicLayout {
    pub name: String,
    /// Replicas of each partition, by broker id, preferred leader first.
    pub assignment: Vec<Vec<BrokerId>>,
    pub min_insync_replicas: u32,
    pub unclean_leader_election_enable: bool,
}

/// What one producer of the workload does.
#[derive(Clone, Debug)]
pub struct ProducerPlan {
    pub topic: u32,
    pub partitions: u32,
    pub records_per_s: u32,
    pub start: SimTime,
    pub stop: Option<SimTime>,
    pub config: ProducerConfig,
}

/// What one consumer of the workload does.
#[derive(Clone, Debug)]
pub struct ConsumerPlan {
    pub topic: u32,
    pub partitions: u32,
    pub start: SimTime,
    pub config: ConsumerConfig,
}

/// What every process of one run shares: the quorum, the broker config, the topics.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub raft: Arc<RaftConfig>,
    pub broker: BrokerConfig,
    pub topics: Vec<TopicLayout>,
    /// How each topic's partitions replicate, by topic index.
    pub replication: Vec<PartitionConfig>,
    /// Producers and consumers, by number - 1.
    pub producers: Vec<ProducerPlan>,
    pub consumers: Vec<ConsumerPlan>,
    /// Node of each broker id: `brokers[id - 1]`.
    pub brokers: Vec<NodeId>,
    /// KIP-966 eligible leader replicas (on by default since Kafka 4.1).
    pub elr_enabled: bool,
    /// Test-only controller faults that prove checkers (see `variants`).
    pub test_fence_keeps_isr: bool,
    pub test_keep_isr_on_reregistration: bool,
    /// Names of the processes, by node id.
    pub names: Vec<String>,
    /// How long after a connection breaks its ends are told (`network.disconnect_detection_ms`):
    /// a notice at `t` is about a connection that broke at `t` minus this.
    pub disconnect_detection: SimDuration,
    /// Each process checks its own state machines' invariants after every handler and panics
    /// on a broken one (always in debug builds; `kafkasim fuzz` turns it on in release).
    pub self_checks: bool,
}

impl TopicLayout {
    /// `min.insync.replicas` as Kafka applies it to a partition: never more than its replicas
    /// (`PartitionChangeBuilder` and the leader's HW rule both read it this way).
    pub(crate) fn effective_min_isr(&self, partition: usize) -> usize {
        let rf = self.assignment.get(partition).map_or(1, Vec::len);
        (self.min_insync_replicas as usize).min(rf)
    }
}

impl ClusterConfig {
    pub(crate) fn broker_node(&self, broker: BrokerId) -> Option<NodeId> {
        self.brokers.get((broker as usize).checked_sub(1)?).copied()
    }

    /// The broker id of a broker's node.
    pub(crate) fn broker_of(&self, node: NodeId) -> Option<BrokerId> {
        broker_id_of(&self.brokers, node)
    }

    pub fn name(&self, node: NodeId) -> &str {
        &self.names[node.index()]
    }
}

/// The broker id of `node`, given the brokers' nodes in id order (they are consecutive node
/// ids: `Scenario::members` numbers controllers, then brokers).
pub(crate) fn broker_id_of(brokers: &[NodeId], node: NodeId) -> Option<BrokerId> {
    let first = brokers.first()?;
    let i = node.0.checked_sub(first.0)? as usize;
    (i < brokers.len()).then_some(i as BrokerId + 1)
}
