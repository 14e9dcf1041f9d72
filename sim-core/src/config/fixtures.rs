//! A cluster configuration built by hand, for the protocol's unit tests: no scenario file and
//! no engine, so the state machines of layer 2 are tested from layer 2.

use std::sync::Arc;

use super::{BrokerConfig, ClusterConfig, ConsumerConfig, ConsumerPlan, ProducerConfig};
use super::{ProducerPlan, TopicLayout};
use crate::broker::partition::{PartitionConfig, ReplicationRules};
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::BrokerId;
use crate::kraft::raft::RaftConfig;

/// Three controllers (nodes 0-2) and `brokers` brokers (`broker-1` is node 3, ...), with one
/// topic `t` whose partitions have the replicas of `assignment`, `min.insync.replicas` 1 and
/// Kafka's defaults throughout. Clients are added with [`with_producer`] and
/// [`with_consumer`], which give them the next node ids.
pub fn cluster(brokers: u32, assignment: Vec<Vec<BrokerId>>) -> ClusterConfig {
    let mut names: Vec<String> = (1..=3).map(|c| format!("controller-{c}")).collect();
    names.extend((1..=brokers).map(|b| format!("broker-{b}")));
    ClusterConfig {
        raft: Arc::new(RaftConfig::kafka_defaults(
            vec![NodeId(0), NodeId(1), NodeId(2)],
            true,
        )),
        broker: BrokerConfig::default(),
        topics: vec![TopicLayout {
            name: "t".into(),
            assignment,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
        }],
        replication: vec![PartitionConfig {
            min_isr: 1,
            flush_messages: u64::MAX,
            replica_lag_time_max: SimDuration::from_secs(30),
            rules: ReplicationRules::default(),
        }],
        producers: Vec::new(),
        consumers: Vec::new(),
        brokers: (0..brokers).map(|b| NodeId(3 + b)).collect(),
        elr_enabled: true,
        test_fence_keeps_isr: false,
        test_keep_isr_on_reregistration: false,
        names,
        disconnect_detection: SimDuration::from_secs(1),
        self_checks: false,
    }
}

/// Adds a producer of `records_per_s` to every partition of topic `t`, from t = 0.
pub(crate) fn with_producer(mut cluster: ClusterConfig, records_per_s: u32) -> ClusterConfig {
    let partitions = cluster.topics[0].assignment.len() as u32;
    cluster.producers.push(ProducerPlan {
        topic: 0,
        partitions,
        records_per_s,
        start: SimTime::ZERO,
        stop: None,
        config: ProducerConfig::default(),
    });
    let name = format!("producer-{}", cluster.producers.len());
    cluster.names.push(name);
    cluster
}

/// Adds a consumer of every partition of topic `t`, from t = 0, with `config`.
pub(crate) fn with_consumer(mut cluster: ClusterConfig, config: ConsumerConfig) -> ClusterConfig {
    let partitions = cluster.topics[0].assignment.len() as u32;
    cluster.consumers.push(ConsumerPlan {
        topic: 0,
        partitions,
        start: SimTime::ZERO,
        config,
    });
    let name = format!("consumer-{}", cluster.consumers.len());
    cluster.names.push(name);
    cluster
}
