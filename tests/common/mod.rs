//! Seed sweeps shared by the sweep tests: each seed draws a fault schedule from the nemesis and
//! runs the scenario with it; a failing schedule is kept as a scenario file anyone can replay.

use sim_core::check::Violation;
use sim_core::fuzz::nemesis::{NemesisOptions, random_faults};
use sim_core::scenario::Scenario;
use sim_core::trace::TraceSink;
use sim_core::world::{RunOptions, RunSummary, run};

/// Seeds per sweep; `KAFKASIM_SWEEP_SEEDS` raises it for a longer hunt.
pub fn seeds() -> u64 {
    std::env::var("KAFKASIM_SWEEP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// Runs one seed of `scenario` under the nemesis; returns the scenario it ran and its summary.
pub fn run_seed(
    scenario: &Scenario,
    seed: u64,
    options: &NemesisOptions,
) -> (Scenario, RunSummary) {
    let mut s = scenario.clone();
    s.faults = random_faults(&s.members(), seed, options);
    let summary = run(
        &s.resolve(),
        RunOptions {
            seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("no trace writer to fail");
    if !summary.violations.is_empty() {
        let path = std::env::temp_dir().join(format!("{}-seed-{seed}.json", s.name));
        let _ = std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap_or_default());
    }
    (s, summary)
}

/// Runs `seeds`; returns each seed's trace hash and violations.
pub fn sweep(
    scenario: &Scenario,
    seeds: std::ops::Range<u64>,
    options: &NemesisOptions,
) -> Vec<(u64, String, Vec<Violation>)> {
    seeds
        .map(|seed| {
            let (_, summary) = run_seed(scenario, seed, options);
            (seed, summary.trace_hash, summary.violations)
        })
        .collect()
}
