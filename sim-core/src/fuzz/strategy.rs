//! proptest strategies for clusters, workloads and fault schedules, for property tests of
//! kafkasim and of anything built on it (enable the `proptest` feature).
//!
//! Unlike the fuzzer's seed-drawn runs, these values shrink the proptest way: a failing case
//! loses fault episodes, topics and producers, and its numbers move toward small ones, until
//! nothing smaller fails. The fault schedule is a list of episodes (a fault and its end), made
//! well-formed after drawing: an episode on a node that is already down, or a cut while another
//! is in force, is dropped, and lossy shutdowns of brokers stay within `min.insync.replicas - 1`
//! so `acked_durability` stays in scope.
//!
//! ```no_run
//! use proptest::prelude::*;
//! use sim_core::fuzz::strategy::scenario;
//!
//! proptest! {
//!     #[test]
//!     fn my_property(s in scenario(40_000)) {
//!         // run `s` with sim_core::world::run and assert on its summary
//!     }
//! }
//! ```

use proptest::prelude::*;
use serde_json::{Value, json};

use super::nemesis::{Episode, Episodes, FaultKind};
use crate::check::LIVENESS_BOUND;
use crate::scenario::{FaultSpec, Scenario, parse};

/// The shape of a cluster: controllers, brokers, and per topic (partitions, RF, min ISR).
#[derive(Clone, Debug)]
pub struct ClusterShape {
    pub controllers: u32,
    pub brokers: u32,
    pub topics: Vec<(u32, u32, u32)>,
}

/// 1, 3 or 5 controllers; 3 to 5 brokers; 1 or 2 topics of 1 to 3 partitions, RF 2 or 3,
/// `min.insync.replicas` 1 or 2 (at most the RF).
pub fn cluster() -> impl Strategy<Value = ClusterShape> {
    (
        prop_oneof![Just(1u32), Just(3), Just(5)],
        3u32..=5,
        prop::collection::vec((1u32..=3, 2u32..=3, 1u32..=2), 1..=2),
    )
        .prop_map(|(controllers, brokers, topics)| ClusterShape {
            controllers,
            brokers,
            topics: topics
                .into_iter()
                .map(|(p, rf, min_isr)| (p, rf, min_isr.min(rf)))
                .collect(),
        })
}

/// One producer: topic index, records per second, acks (0, 1 or all as -1).
#[derive(Clone, Debug)]
pub struct ProducerShape {
    pub topic: usize,
    pub records_per_s: u32,
    pub acks: i32,
}

/// Producers (1 to 3, mostly acks=all) and consumers (0 to 2) over `topics` topics.
pub fn workload(topics: usize) -> impl Strategy<Value = (Vec<ProducerShape>, Vec<usize>)> {
    let producer = (
        0..topics,
        10u32..=200,
        prop_oneof![6 => Just(-1i32), 2 => Just(1), 1 => Just(0)],
    )
        .prop_map(|(topic, records_per_s, acks)| ProducerShape {
            topic,
            records_per_s,
            acks,
        });
    (
        prop::collection::vec(producer, 1..=3),
        prop::collection::vec(0..topics, 0..=2),
    )
}

/// Up to `max` fault episodes ([`Episode`]: crash, power loss, clean shutdown, pause,
/// isolation, one-way cut, slow node) on `targets` controllers and brokers, starting in
/// `from_ms..until_ms`, each lasting up to 15 s (cut at `until_ms`).
pub(crate) fn episodes(
    targets: usize,
    from_ms: u64,
    until_ms: u64,
    max: usize,
) -> impl Strategy<Value = Vec<Episode>> {
    let kind = prop_oneof![
        Just(FaultKind::Crash),
        Just(FaultKind::PowerLoss),
        Just(FaultKind::Shutdown),
        Just(FaultKind::Pause),
        Just(FaultKind::Isolate),
        Just(FaultKind::OneWay),
        Just(FaultKind::SlowNode),
    ];
    let episode = (
        kind,
        0..targets,
        0..targets,
        from_ms..until_ms,
        100u64..15_000,
    )
        .prop_map(move |(kind, target, other, start_ms, length_ms)| Episode {
            kind,
            target,
            other,
            start_ms,
            end_ms: start_ms + length_ms.min(until_ms - start_ms),
            extra_ms: 100 + length_ms % 2_000,
            side: Vec::new(),
            channel: 0,
        });
    prop::collection::vec(episode, 0..=max)
}

/// The fault schedule of `episodes` on `targets` ((name, is a broker) of the controllers and
/// brokers), made well-formed by [`Episodes`]: in start order, an episode whose target is busy
/// is dropped.
pub(crate) fn fault_entries(
    episodes: &[Episode],
    targets: Vec<(String, bool)>,
    lossy_budget: u32,
) -> Vec<FaultSpec> {
    let mut sorted: Vec<&Episode> = episodes.iter().collect();
    sorted.sort_by_key(|e| e.start_ms);
    let mut schedule = Episodes::new(targets, lossy_budget);
    for e in sorted {
        schedule.add(e);
    }
    schedule.finish()
}

/// A whole scenario: cluster, workload and fault schedule, `duration_ms` long, with faults from
/// 3 s until the last `LIVENESS_BOUND` + 2 s (so liveness is judged), up to 12 episodes.
pub fn scenario(duration_ms: u64) -> impl Strategy<Value = Scenario> {
    let until = duration_ms
        .saturating_sub(LIVENESS_BOUND.as_millis() + 2_000)
        .max(3_001);
    cluster()
        .prop_flat_map(move |c| {
            let topics = c.topics.len();
            let targets = (c.controllers + c.brokers) as usize;
            (
                Just(c),
                workload(topics),
                episodes(targets, 3_000, until, 12),
                any::<u64>(),
            )
        })
        .prop_map(move |(c, (producers, consumers), eps, seed)| {
            build(&c, &producers, &consumers, &eps, seed, duration_ms)
        })
}

/// The scenario of drawn parts.
pub fn build(
    c: &ClusterShape,
    producers: &[ProducerShape],
    consumers: &[usize],
    episodes: &[Episode],
    seed: u64,
    duration_ms: u64,
) -> Scenario {
    let targets: Vec<(String, bool)> = (1..=c.controllers)
        .map(|i| (format!("controller-{i}"), false))
        .chain((1..=c.brokers).map(|i| (format!("broker-{i}"), true)))
        .collect();
    let lossy_budget = c
        .topics
        .iter()
        .map(|t| t.2)
        .max()
        .unwrap_or(1)
        .saturating_sub(1);
    let topics: Vec<Value> = c
        .topics
        .iter()
        .enumerate()
        .map(|(i, (p, rf, min_isr))| {
            json!({"name": format!("t{i}"), "partitions": p, "replication_factor": rf,
                   "config": {"min.insync.replicas": min_isr}})
        })
        .collect();
    let producers: Vec<Value> = producers
        .iter()
        .map(|p| {
            let mut config = json!({"request.timeout.ms": 5000, "delivery.timeout.ms": 40000});
            if p.acks != -1 {
                config["acks"] = json!(p.acks);
                config["enable.idempotence"] = json!(false);
            }
            json!({"topic": format!("t{}", p.topic), "records_per_s": p.records_per_s,
                   "config": config})
        })
        .collect();
    let consumers: Vec<Value> = consumers
        .iter()
        .map(|t| json!({"topic": format!("t{t}"), "config": {"auto.offset.reset": "earliest"}}))
        .collect();
    let doc = json!({
        "name": "proptest",
        "seed": seed,
        "duration_ms": duration_ms,
        "cluster": {"controllers": c.controllers, "brokers": c.brokers, "topics": topics,
                    "config": {"replica.lag.time.max.ms": 10000}},
        "network": {"latency": {"kind": "uniform", "min_us": 200, "max_us": 3000}},
        "workload": {"producers": producers, "consumers": consumers},
        "faults": fault_entries(episodes, targets, lossy_budget)
    });
    parse(&doc.to_string(), "proptest").expect("the strategies build valid scenarios")
}
