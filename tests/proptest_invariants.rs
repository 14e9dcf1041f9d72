//! Property tests over generated clusters, workloads and fault schedules
//! (`sim_core::fuzz::strategy`): the modern protocol keeps every invariant, and with a
//! historical bug switched on proptest finds a failing case and shrinks it to a few faults.
//!
//! The cases are drawn from a fixed seed so CI is repeatable; `PROPTEST_RNG_SEED=N` draws
//! others, `KAFKASIM_PROPTEST_CASES=N` draws more.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use sim_core::check::Violation;
use sim_core::fuzz::strategy::scenario;
use sim_core::scenario::Scenario;
use sim_core::trace::TraceSink;
use sim_core::world::{RunOptions, run};

fn config(cases: u32) -> Config {
    let cases = std::env::var("KAFKASIM_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    let mut c = Config::with_cases(cases);
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(0x6b61_666b_6173_696d);
    }
    c
}

fn violations(s: &Scenario) -> Vec<Violation> {
    run(
        &s.resolve(),
        RunOptions {
            seed: s.seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("no trace file to fail")
    .violations
}

/// The property: no invariant breaks. On failure, the case as a scenario file to replay.
fn holds(s: Scenario) -> Result<(), TestCaseError> {
    let v = violations(&s);
    prop_assert!(
        v.is_empty(),
        "{} broke {}: {}\nreplay this scenario:\n{}",
        s.name,
        v[0].invariant,
        v[0].explanation,
        serde_json::to_string_pretty(&s.to_document()).unwrap_or_default()
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn the_modern_protocol_keeps_every_invariant(s in scenario(45_000)) {
        holds(s)?;
    }
}

#[test]
fn with_a_historical_bug_on_proptest_finds_a_failure_and_shrinks_it() {
    // KAFKA-1211's truncation to the high watermark: a follower that restarts or changes
    // leader cuts acknowledged records, and a later election can lose them.
    let buggy = scenario(45_000).prop_map(|mut s| {
        s.variants.push("truncate_to_hw_on_follow".into());
        s
    });
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..config(200)
    });
    match runner.run(&buggy, holds) {
        Err(TestError::Fail(_, minimal)) => {
            let v = violations(&minimal);
            assert!(!v.is_empty(), "the shrunk case still fails");
            assert!(
                minimal.faults.len() <= 6,
                "proptest shrank the schedule to a few faults: {:#?}",
                minimal.faults
            );
            eprintln!(
                "minimal case: {} fault entries, {} brokers, {} producers; {}",
                minimal.faults.len(),
                minimal.cluster.brokers,
                minimal.workload.producers.len(),
                v[0].explanation
            );
        }
        other => panic!("the bug went unnoticed in 200 cases: {other:?}"),
    }
}
