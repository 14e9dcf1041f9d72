//! Whole runs drawn from a seed, for the fuzzer: from a base (a scenario file, or the built-in
//! default cluster) each seed draws the cluster and workload within stated bounds, then a swarm
//! nemesis schedule (see [`super::nemesis`]). The result is an ordinary, fully resolved
//! [`Scenario`]: saved to a file it replays the seed's run exactly.
//!
//! A drawn run has two phases. In the safety phase (from 3 s to `faults_until`) faults come and
//! go; every fault has ended by its close. In the liveness phase that follows, nothing fails, and
//! the checkers ask, `LIVENESS_BOUND` (30 s) after the last fault, that the cluster converged:
//! a controller leads, brokers are unfenced, every partition has a leader, every produce was
//! answered and acknowledged data is fully replicated.

use serde_json::{Value, json};

use super::nemesis::{NemesisOptions, random_faults};
use crate::check::LIVENESS_BOUND;
use crate::engine::{SimRng, Stream};
use crate::scenario::{Scenario, ScenarioError, parse};

/// Faults start here: the first KRaft election and broker registrations are done.
pub const FAULTS_FROM_MS: u64 = 3_000;
/// Room left after `LIVENESS_BOUND` so the liveness check runs before the end.
const LIVENESS_SLACK_MS: u64 = 2_000;
/// Shortest safety phase a base must leave room for.
const MIN_FAULT_PHASE_MS: u64 = 5_000;

/// The bounds the default base draws within (documented in README's fuzzing section).
pub mod bounds {
    /// KRaft controllers.
    pub const CONTROLLERS: u32 = 3;
    /// Brokers, inclusive.
    pub const BROKERS: (u64, u64) = (3, 5);
    /// Topics, inclusive; each has RF 3.
    pub const TOPICS: (u64, u64) = (1, 3);
    /// Partitions per topic, inclusive.
    pub const PARTITIONS: (u64, u64) = (1, 4);
    /// Producers, inclusive: acks=all idempotent (60%), acks=1 (25%), acks=0 (15%).
    pub const PRODUCERS: (u64, u64) = (1, 3);
    /// Records per second per producer, inclusive.
    pub const RECORDS_PER_S: (u64, u64) = (20, 200);
    /// Consumers, inclusive.
    pub const CONSUMERS: (u64, u64) = (0, 2);
    /// Simulated length of a run.
    pub const DURATION_MS: u64 = 60_000;
    /// End of the safety phase: faults stop here, 30 s of liveness phase follow.
    pub const FAULTS_UNTIL_MS: u64 = 28_000;
}

/// What each seed's run is drawn from.
#[derive(Clone, Debug)]
pub struct FuzzBase {
    /// The base scenario; `None` draws the cluster and workload too.
    template: Option<Scenario>,
    /// How the base is named in drawn runs and reports.
    pub name: String,
    /// Variants switched on in every run, besides the base's own.
    pub variants: Vec<String>,
}

impl FuzzBase {
    /// The built-in base: 3 controllers, 3-5 brokers, 1-3 topics of RF 3, producers with mixed
    /// acks, consumers; the cluster and workload are drawn per seed within [`bounds`].
    pub fn default_base() -> FuzzBase {
        FuzzBase {
            template: None,
            name: "fuzz".into(),
            variants: Vec::new(),
        }
    }

    /// A base from a scenario: its cluster, network, workload and variants are kept; each seed
    /// draws the fault schedule. Its faults, expectations and notes are dropped: in a fuzz run
    /// any violation is a finding. The run must be long enough for a safety phase and the
    /// 30 s liveness phase.
    pub fn from_scenario(scenario: Scenario, origin: &str) -> Result<FuzzBase, ScenarioError> {
        let needed = FAULTS_FROM_MS + MIN_FAULT_PHASE_MS + liveness_tail_ms();
        if scenario.duration_ms < needed {
            return Err(ScenarioError::Invalid {
                origin: origin.to_string(),
                path: "duration_ms".into(),
                message: format!(
                    "fuzzing needs at least {needed} ms ({} ms of faults from {} ms, then the \
                     {} s liveness phase), found {}",
                    MIN_FAULT_PHASE_MS,
                    FAULTS_FROM_MS,
                    LIVENESS_BOUND.as_millis() / 1000,
                    scenario.duration_ms
                ),
            });
        }
        Ok(FuzzBase {
            name: scenario.name.clone(),
            template: Some(scenario),
            variants: Vec::new(),
        })
    }

    /// The run of `seed`: fully resolved, with `seed` as its seed.
    pub fn draw(&self, seed: u64) -> Scenario {
        let mut s = match &self.template {
            Some(t) => t.clone(),
            None => default_cluster(seed),
        };
        s.name = format!("{}-seed-{seed}", self.name);
        // A finding is saved elsewhere: the base file's relative "$schema" would not resolve.
        s.schema = None;
        s.title.clear();
        s.seed = seed;
        s.expect = Default::default();
        s.without = None;
        s.notes.clear();
        for v in &self.variants {
            if !s.variants.contains(v) {
                s.variants.push(v.clone());
            }
        }
        s.faults = random_faults(&s.members(), seed, &nemesis_options(&s));
        s.description = format!(
            "Drawn by kafkasim fuzz from base \"{}\", seed {seed}, {}.",
            self.name,
            if s.variants.is_empty() {
                "modern protocol".to_string()
            } else {
                s.variants.join(", ")
            },
        );
        s
    }
}

/// The nemesis a drawn run's faults come from: faults from [`FAULTS_FROM_MS`] to the start
/// of the liveness phase, lossy shutdowns within `acked_durability`'s scope.
pub(crate) fn nemesis_options(s: &Scenario) -> NemesisOptions {
    let min_isr = s
        .cluster
        .topics
        .iter()
        .filter_map(|t| t.config.min_insync_replicas)
        .max()
        .unwrap_or(1);
    NemesisOptions {
        faults_from_ms: FAULTS_FROM_MS,
        ..NemesisOptions::fuzz(s.duration_ms - liveness_tail_ms(), min_isr)
    }
}

fn liveness_tail_ms() -> u64 {
    LIVENESS_BOUND.as_millis() + LIVENESS_SLACK_MS
}

/// The default base's cluster and workload for one seed, drawn within [`bounds`] on the swarm
/// stream (the fault schedule has its own).
fn default_cluster(seed: u64) -> Scenario {
    use bounds::*;
    let mut rng = SimRng::new(seed, Stream::Swarm);
    let r = |rng: &mut SimRng, (lo, hi): (u64, u64)| rng.between(lo, hi);
    let brokers = r(&mut rng, BROKERS);
    let topics: Vec<Value> = (0..r(&mut rng, TOPICS))
        .map(|t| {
            let min_isr = if rng.chance(0.75) { 2 } else { 1 };
            json!({
                "name": format!("t{t}"),
                "partitions": r(&mut rng, PARTITIONS),
                "replication_factor": 3,
                "config": {"min.insync.replicas": min_isr}
            })
        })
        .collect();
    let topic_count = topics.len() as u64;
    let producers: Vec<Value> = (0..r(&mut rng, PRODUCERS))
        .map(|_| {
            let topic = format!("t{}", rng.below(topic_count));
            let roll = rng.below(100);
            let mut config = json!({"request.timeout.ms": 5000, "delivery.timeout.ms": 40000});
            if roll >= 60 {
                config["acks"] = json!(if roll < 85 { 1 } else { 0 });
                config["enable.idempotence"] = json!(false);
            }
            json!({
                "topic": topic,
                "records_per_s": r(&mut rng, RECORDS_PER_S),
                "config": config
            })
        })
        .collect();
    let consumers: Vec<Value> = (0..r(&mut rng, CONSUMERS))
        .map(|_| {
            json!({
                "topic": format!("t{}", rng.below(topic_count)),
                "config": {"auto.offset.reset": "earliest"}
            })
        })
        .collect();
    let lag = [10_000, 20_000, 30_000][rng.below(3) as usize];
    let min_us = rng.between(100, 1_000);
    let max_us = rng.between(min_us + 500, 5_000);
    let latency = if rng.chance(0.25) {
        json!({"kind": "long_tail", "min_us": min_us, "max_us": max_us,
               "tail_probability": 0.01, "tail_max_us": 50_000})
    } else {
        json!({"kind": "uniform", "min_us": min_us, "max_us": max_us})
    };
    let doc = json!({
        "name": "fuzz",
        "duration_ms": DURATION_MS,
        "cluster": {
            "controllers": CONTROLLERS,
            "brokers": brokers,
            "topics": topics,
            "config": {"replica.lag.time.max.ms": lag}
        },
        "network": {"latency": latency},
        "workload": {"producers": producers, "consumers": consumers}
    });
    parse(&doc.to_string(), "the default fuzz base").expect("the default base draws valid runs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_base_draws_varied_valid_runs_within_its_bounds() {
        let base = FuzzBase::default_base();
        let mut shapes = std::collections::BTreeSet::new();
        for seed in 0..100 {
            let s = base.draw(seed);
            // Saved and read back, the run is the same run.
            let text = serde_json::to_string(&s).unwrap();
            assert_eq!(parse(&text, "again").unwrap(), s, "seed {seed}");
            assert!((3..=5).contains(&s.cluster.brokers));
            assert_eq!(s.seed, seed);
            let last = s.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
            assert!(last <= bounds::FAULTS_UNTIL_MS, "seed {seed}: {last}");
            assert!(last + LIVENESS_BOUND.as_millis() < s.duration_ms);
            shapes.insert((
                s.cluster.brokers,
                s.cluster.topics.len(),
                s.workload.producers.len(),
                s.workload.consumers.len(),
            ));
        }
        assert!(shapes.len() > 20, "{} shapes", shapes.len());
        assert_eq!(base.draw(7), base.draw(7));
    }

    #[test]
    fn a_scenario_base_keeps_its_cluster_and_draws_faults() {
        let text = r#"{"name": "mine", "duration_ms": 50000, "seed": 3,
            "cluster": {"brokers": 3, "topics": [{"name": "a", "replication_factor": 3}]},
            "faults": [{"at_ms": 10000, "crash": "broker-1"}],
            "expect": {"violate": ["acked_durability"]}}"#;
        let base = FuzzBase::from_scenario(parse(text, "mine.json").unwrap(), "mine.json");
        let mut base = base.unwrap();
        base.variants.push("elr=false".into());
        let s = base.draw(11);
        assert_eq!(s.name, "mine-seed-11");
        assert_eq!(s.cluster.brokers, 3);
        assert!(s.expect.violate.is_empty());
        assert_eq!(s.variants, ["elr=false"]);
        let last = s.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
        assert!(last <= 50_000 - 32_000);

        let short = parse(
            r#"{"name": "short", "duration_ms": 30000, "cluster": {"brokers": 1}}"#,
            "short.json",
        )
        .unwrap();
        let err = FuzzBase::from_scenario(short, "short.json").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("short.json: duration_ms: fuzzing needs at least 40000 ms"),
            "{err}"
        );
    }
}
