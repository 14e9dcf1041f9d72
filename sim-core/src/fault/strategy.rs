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
//! use sim_core::fault::strategy::scenario;
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

use crate::check::LIVENESS_BOUND;
use crate::scenario::{Scenario, parse};

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

/// One fault episode: what, on which target (an index into the controllers and brokers), when
/// it starts and how long it lasts.
#[derive(Clone, Debug)]
pub struct Episode {
    pub kind: EpisodeKind,
    pub target: usize,
    /// A second target (the other end of a one-way cut or slow link).
    pub other: usize,
    pub start_ms: u64,
    pub length_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpisodeKind {
    Crash,
    PowerLoss,
    Shutdown,
    Pause,
    Isolate,
    OneWay,
    SlowNode,
}

/// Up to `max` episodes starting in `from_ms..until_ms`, each lasting up to 15 s (cut at
/// `until_ms`).
pub fn episodes(
    targets: usize,
    from_ms: u64,
    until_ms: u64,
    max: usize,
) -> impl Strategy<Value = Vec<Episode>> {
    let kind = prop_oneof![
        Just(EpisodeKind::Crash),
        Just(EpisodeKind::PowerLoss),
        Just(EpisodeKind::Shutdown),
        Just(EpisodeKind::Pause),
        Just(EpisodeKind::Isolate),
        Just(EpisodeKind::OneWay),
        Just(EpisodeKind::SlowNode),
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
            length_ms: length_ms.min(until_ms - start_ms),
        });
    prop::collection::vec(episode, 0..=max)
}

/// Scenario fault entries of `episodes` on `names` (the controllers and brokers), made
/// well-formed: overlapping episodes on one node (or two cuts at once) are dropped, and at most
/// `lossy_budget` brokers lose power (further power losses become crashes).
pub fn fault_entries(episodes: &[Episode], names: &[String], lossy_budget: u32) -> Vec<Value> {
    let mut sorted: Vec<&Episode> = episodes.iter().collect();
    sorted.sort_by_key(|e| e.start_ms);
    let mut down_until = vec![0u64; names.len()];
    let mut slow_until = vec![0u64; names.len()];
    let mut net_until = 0u64;
    let mut lossy_left = lossy_budget;
    let mut out: Vec<(u64, Value)> = Vec::new();
    for e in sorted {
        let (t, o) = (e.target % names.len(), e.other % names.len());
        let (start, end) = (e.start_ms, e.start_ms + e.length_ms);
        let node = &names[t];
        match e.kind {
            EpisodeKind::Crash
            | EpisodeKind::PowerLoss
            | EpisodeKind::Shutdown
            | EpisodeKind::Pause
                if down_until[t] <= start =>
            {
                let mut kind = match e.kind {
                    EpisodeKind::Crash => "crash",
                    EpisodeKind::PowerLoss => "power_loss",
                    EpisodeKind::Shutdown => "shutdown",
                    _ => "pause",
                };
                if kind == "power_loss" && node.starts_with("broker") {
                    if lossy_left == 0 {
                        kind = "crash";
                    } else {
                        lossy_left -= 1;
                    }
                }
                let back = if kind == "pause" { "resume" } else { "restart" };
                out.push((start, json!({"at_ms": start, kind: node})));
                out.push((end, json!({"at_ms": end, back: node})));
                down_until[t] = end;
            }
            EpisodeKind::SlowNode if slow_until[t] <= start => {
                let extra_ms = 100 + e.length_ms % 2_000;
                out.push((
                    start,
                    json!({"at_ms": start, "slow": {"node": node, "extra_ms": extra_ms}}),
                ));
                out.push((
                    end,
                    json!({"at_ms": end, "slow": {"node": node, "extra_ms": 0}}),
                ));
                slow_until[t] = end;
            }
            EpisodeKind::Isolate | EpisodeKind::OneWay if net_until <= start => {
                let cut = if e.kind == EpisodeKind::OneWay && t != o {
                    json!({"at_ms": start, "one_way": {"from": [node], "to": [names[o]]}})
                } else {
                    json!({"at_ms": start, "isolate": node})
                };
                out.push((start, cut));
                out.push((end, json!({"at_ms": end, "heal": true})));
                net_until = end;
            }
            _ => {}
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, v)| v).collect()
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
    let names: Vec<String> = (1..=c.controllers)
        .map(|i| format!("controller-{i}"))
        .chain((1..=c.brokers).map(|i| format!("broker-{i}")))
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
        "faults": fault_entries(episodes, &names, lossy_budget)
    });
    parse(&doc.to_string(), "proptest").expect("the strategies build valid scenarios")
}
