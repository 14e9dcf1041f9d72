//! Resolution: from a validated scenario to the typed configuration the world runs.

use std::rc::Rc;

use super::{Expectations, Role, Scenario};
use crate::broker::partition::{FollowerTruncation, PartitionConfig, ReplicationRules};
use crate::check::INVARIANTS;
use crate::config::{ClusterConfig, ConsumerPlan, ProducerPlan, TopicLayout};
use crate::engine::{SimDuration, SimTime};
use crate::kraft::raft::RaftConfig;
use crate::world::{Expected, ResolvedScenario};

impl Scenario {
    /// The scenario as the world runs it. The scenario was validated when it was parsed, so
    /// its faults resolve and its expectations name known invariants.
    pub fn resolve(&self) -> ResolvedScenario {
        ResolvedScenario {
            name: self.name.clone(),
            duration: self.duration(),
            members: self.members(),
            cluster: Rc::new(self.cluster_config()),
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
        let scenario = self;
        let members = scenario.members();
        let config = &scenario.cluster.config;
        let variant = |name: &str| scenario.variants.iter().any(|v| v == name);
        let voters = members
            .iter()
            .filter(|m| m.role == Role::Controller)
            .map(|m| m.id)
            .collect();
        let ms = SimDuration::from_millis;
        let raft = RaftConfig {
            voters,
            election_timeout: ms(config.controller_quorum_election_timeout_ms),
            fetch_timeout: ms(config.controller_quorum_fetch_timeout_ms),
            election_backoff_max: ms(config.controller_quorum_election_backoff_max_ms),
            request_timeout: ms(config.controller_quorum_request_timeout_ms),
            retry_backoff: ms(config.controller_quorum_retry_backoff_ms),
            fetch_max_wait: ms(500),
            prevote: !variant("prevote=false"),
            check_quorum: !variant("no_check_quorum"),
            election_jitter: !variant("election_jitter=false"),
            forget_vote: variant("test_forget_vote"),
            commit_without_majority: variant("test_commit_without_majority"),
        };
        let topics: Vec<TopicLayout> = scenario
            .cluster
            .topics
            .iter()
            .map(|t| TopicLayout {
                name: t.name.clone(),
                assignment: t.assignment.clone().unwrap_or_default(),
                min_insync_replicas: t
                    .config
                    .min_insync_replicas
                    .unwrap_or(config.min_insync_replicas),
                unclean_leader_election_enable: variant("allow_unclean")
                    || t.config
                        .unclean_leader_election_enable
                        .unwrap_or(config.unclean_leader_election_enable),
            })
            .collect();
        let rules = ReplicationRules {
            strict_min_isr: !variant("hw_advances_under_min_isr"),
            keep_log_on_follow: !variant("truncate_to_hw_on_follow"),
            // Before KIP-101 there were no leader epochs to reconcile by.
            divergence_check: !variant("test_no_divergence_check")
                && !variant("truncate_to_hw_on_follow"),
            hw_waits_for_followers: !variant("test_hw_ignores_followers"),
            isr_through_controller: !variant("local_isr_shrink"),
            dedupe_producers: !variant("test_no_dedup"),
            min_isr_on_produce: !variant("no_min_isr_check"),
            hw_over_maximal_isr: !variant("no_maximal_isr"),
            leso_rule: !variant("no_leso_rule"),
            epoch_fencing_on_fetch: !variant("no_epoch_fencing_on_fetch"),
            broker_epoch_in_isr: !variant("no_broker_epoch_in_isr"),
            skip_state_on_diverging_fetch: !variant("update_state_on_diverging_fetch"),
            truncation: if variant("offsets_for_epoch_v0") {
                FollowerTruncation::OffsetsForEpochV0
            } else if variant("no_truncate_on_fetch") {
                FollowerTruncation::OnBecomeFollower
            } else {
                FollowerTruncation::OnEveryFetch
            },
        };
        let replication = scenario
            .cluster
            .topics
            .iter()
            .zip(&topics)
            .map(|(spec, layout): (_, &TopicLayout)| PartitionConfig {
                min_isr: (layout.min_insync_replicas as usize)
                    .min(layout.assignment.first().map_or(1, Vec::len)),
                flush_messages: spec
                    .config
                    .flush_messages
                    .unwrap_or(config.log_flush_interval_messages),
                replica_lag_time_max: ms(config.replica_lag_time_max_ms),
                rules,
            })
            .collect();
        let topic_index = |name: &str| {
            scenario
                .cluster
                .topics
                .iter()
                .position(|t| t.name == name)
                .expect("validated: the topic exists")
        };
        let partitions_of = |t: usize| topics[t].assignment.len() as u32;
        let producers = scenario
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
        let consumers = scenario
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
        ClusterConfig {
            raft: Rc::new(raft),
            broker: config.clone(),
            replication,
            producers,
            consumers,
            topics,
            brokers: members
                .iter()
                .filter(|m| m.role == Role::Broker)
                .map(|m| m.id)
                .collect(),
            elr_enabled: !variant("elr=false"),
            test_fence_keeps_isr: variant("test_fence_keeps_isr"),
            test_keep_isr_on_reregistration: variant("test_keep_isr_on_reregistration"),
            names: members.iter().map(|m| m.name.clone()).collect(),
            disconnect_detection: ms(scenario.network.disconnect_detection_ms),
        }
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
