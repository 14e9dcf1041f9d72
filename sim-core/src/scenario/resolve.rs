//! Resolution: from a validated scenario to the typed configuration the world runs.

use std::sync::Arc;

use super::{Expectations, Role, Scenario};
use crate::broker::partition::{FollowerTruncation, PartitionConfig, ReplicationRules};
use crate::check::INVARIANTS;
use crate::config::{ClusterConfig, ConsumerPlan, ProducerPlan, TopicLayout};
use crate::engine::{SimDuration, SimTime};
use crate::kraft::raft::RaftConfig;
use crate::variants::Variant;
use crate::world::{Expected, ResolvedScenario};

impl Scenario {
    /// The scenario as the world runs it. The scenario was validated when it was parsed, so
    /// its faults resolve and its expectations name known invariants.
    pub fn resolve(&self) -> ResolvedScenario {
        ResolvedScenario {
            name: self.name.clone(),
            duration: self.duration(),
            members: self.members(),
            cluster: Arc::new(self.cluster_config()),
            latency: self.network.latency,
            faults: self
                .resolved_faults(&self.name)
                .expect("a validated scenario resolves its faults"),
            notes: self
                .notes
                .iter()
                .map(|n| (SimTime::from_millis(n.at_ms), n.text.clone()))
                .collect(),
            expect: expected(&self.expect),
        }
    }

    /// The configuration every process of a run of this scenario shares, with each protocol
    /// variant resolved into the rule it switches.
    pub fn cluster_config(&self) -> ClusterConfig {
        let members = self.members();
        let variants = self.variant_set();
        let topics = self.topic_layouts(&variants);
        let rules = replication_rules(&variants);
        let replication = self.replication(&topics, rules);
        let (producers, consumers) = self.client_plans(&topics);
        let has = |v: Variant| variants.contains(&v);
        ClusterConfig {
            raft: Arc::new(self.raft_config(&variants)),
            broker: self.cluster.config.clone(),
            replication,
            producers,
            consumers,
            topics,
            brokers: members
                .iter()
                .filter(|m| m.role == Role::Broker)
                .map(|m| m.id)
                .collect(),
            elr_enabled: !has(Variant::ElrFalse),
            test_fence_keeps_isr: has(Variant::TestFenceKeepsIsr),
            test_keep_isr_on_reregistration: has(Variant::TestKeepIsrOnReregistration),
            names: members.iter().map(|m| m.name.clone()).collect(),
            disconnect_detection: SimDuration::from_millis(self.network.disconnect_detection_ms),
            self_checks: false,
        }
    }

    /// The variants the scenario switches on (validated when it was parsed).
    fn variant_set(&self) -> Vec<Variant> {
        self.variants
            .iter()
            .map(|name| {
                Variant::from_name(name).expect("a validated scenario names known variants")
            })
            .collect()
    }

    /// The quorum: the controllers as voters, Kafka's `controller.quorum.*` timings, and the
    /// KRaft variants.
    fn raft_config(&self, variants: &[Variant]) -> RaftConfig {
        let config = &self.cluster.config;
        let has = |v: Variant| variants.contains(&v);
        let ms = SimDuration::from_millis;
        RaftConfig {
            voters: self
                .members()
                .iter()
                .filter(|m| m.role == Role::Controller)
                .map(|m| m.id)
                .collect(),
            election_timeout: ms(config.controller_quorum_election_timeout_ms),
            fetch_timeout: ms(config.controller_quorum_fetch_timeout_ms),
            election_backoff_max: ms(config.controller_quorum_election_backoff_max_ms),
            request_timeout: ms(config.controller_quorum_request_timeout_ms),
            retry_backoff: ms(config.controller_quorum_retry_backoff_ms),
            fetch_max_wait: ms(500),
            prevote: !has(Variant::PrevoteFalse),
            check_quorum: !has(Variant::NoCheckQuorum),
            election_jitter: !has(Variant::ElectionJitterFalse),
            forget_vote: has(Variant::TestForgetVote),
            commit_without_majority: has(Variant::TestCommitWithoutMajority),
        }
    }

    /// Each topic as the controller creates it, with its topic configs over the cluster's.
    fn topic_layouts(&self, variants: &[Variant]) -> Vec<TopicLayout> {
        let config = &self.cluster.config;
        let allow_unclean = variants.contains(&Variant::AllowUnclean);
        self.cluster
            .topics
            .iter()
            .map(|t| TopicLayout {
                name: t.name.clone(),
                assignment: t.assignment.clone().unwrap_or_default(),
                min_insync_replicas: t
                    .config
                    .min_insync_replicas
                    .unwrap_or(config.min_insync_replicas),
                unclean_leader_election_enable: allow_unclean
                    || t.config
                        .unclean_leader_election_enable
                        .unwrap_or(config.unclean_leader_election_enable),
            })
            .collect()
    }

    /// How each topic's partitions replicate, by topic index.
    fn replication(&self, topics: &[TopicLayout], rules: ReplicationRules) -> Vec<PartitionConfig> {
        let config = &self.cluster.config;
        self.cluster
            .topics
            .iter()
            .zip(topics)
            .map(|(spec, layout)| PartitionConfig {
                min_isr: layout.effective_min_isr(0),
                flush_messages: spec
                    .config
                    .flush_messages
                    .unwrap_or(config.log_flush_interval_messages),
                replica_lag_time_max: SimDuration::from_millis(config.replica_lag_time_max_ms),
                rules,
            })
            .collect()
    }

    /// One plan per producer and per consumer, in member order (`count` copies of each entry).
    fn client_plans(&self, topics: &[TopicLayout]) -> (Vec<ProducerPlan>, Vec<ConsumerPlan>) {
        let topic_index = |name: &str| {
            self.cluster
                .topics
                .iter()
                .position(|t| t.name == name)
                .expect("validated: the topic exists")
        };
        let partitions_of = |t: usize| topics[t].assignment.len() as u32;
        let producers = self
            .workload
            .producers
            .iter()
            .flat_map(|p| {
                let t = topic_index(&p.topic);
                let plan = ProducerPlan {
                    topic: t as u32,
                    partitions: partitions_of(t),
                    records_per_s: p.records_per_s,
                    start: SimTime::from_millis(p.start_ms),
                    stop: p.stop_ms.map(SimTime::from_millis),
                    config: p.config.clone(),
                };
                std::iter::repeat_n(plan, p.count as usize)
            })
            .collect();
        let consumers = self
            .workload
            .consumers
            .iter()
            .flat_map(|c| {
                let t = topic_index(&c.topic);
                let plan = ConsumerPlan {
                    topic: t as u32,
                    partitions: partitions_of(t),
                    start: SimTime::from_millis(c.start_ms),
                    config: c.config.clone(),
                };
                std::iter::repeat_n(plan, c.count as usize)
            })
            .collect();
        (producers, consumers)
    }
}

/// The replication rules in force: the modern protocol's, less what the variants switch off.
fn replication_rules(variants: &[Variant]) -> ReplicationRules {
    let has = |v: Variant| variants.contains(&v);
    ReplicationRules {
        strict_min_isr: !has(Variant::HwAdvancesUnderMinIsr),
        keep_log_on_follow: !has(Variant::TruncateToHwOnFollow),
        // Before KIP-101 there were no leader epochs to reconcile by.
        divergence_check: !has(Variant::TestNoDivergenceCheck)
            && !has(Variant::TruncateToHwOnFollow),
        hw_waits_for_followers: !has(Variant::TestHwIgnoresFollowers),
        isr_through_controller: !has(Variant::LocalIsrShrink),
        dedupe_producers: !has(Variant::TestNoDedup),
        min_isr_on_produce: !has(Variant::NoMinIsrCheck),
        hw_over_maximal_isr: !has(Variant::NoMaximalIsr),
        leso_rule: !has(Variant::NoLesoRule),
        epoch_fencing_on_fetch: !has(Variant::NoEpochFencingOnFetch),
        broker_epoch_in_isr: !has(Variant::NoBrokerEpochInIsr),
        skip_state_on_diverging_fetch: !has(Variant::UpdateStateOnDivergingFetch),
        truncation: if has(Variant::OffsetsForEpochV0) {
            FollowerTruncation::OffsetsForEpochV0
        } else if has(Variant::NoTruncateOnFetch) {
            FollowerTruncation::OnBecomeFollower
        } else {
            FollowerTruncation::OnEveryFetch
        },
    }
}

/// The expectations by invariant, as the checkers name them.
fn expected(e: &Expectations) -> Expected {
    let ids = |names: &[String]| -> Vec<&'static str> {
        names
            .iter()
            .map(|name| {
                INVARIANTS
                    .iter()
                    .find(|i| i.id == name)
                    .map(|i| i.id)
                    .expect("a validated scenario names known invariants")
            })
            .collect()
    };
    Expected {
        violate: ids(&e.violate),
        hold: ids(&e.hold),
    }
}
