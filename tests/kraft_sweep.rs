//! Seed sweeps of the KRaft quorum under the random nemesis: no invariant is ever violated, and
//! the same seed gives the same trace hash twice.

mod support;

use sim_core::fuzz::nemesis::NemesisOptions;
use sim_core::scenario::{Scenario, parse};
use support::{seeds, sweep};

fn base(controllers: u32, variants: &[&str]) -> Scenario {
    let text = format!(
        r#"{{
            "name": "kraft-sweep-{controllers}",
            "duration_ms": 95000,
            "cluster": {{
                "controllers": {controllers},
                "brokers": 3,
                "topics": [{{"name": "t", "partitions": 3, "replication_factor": 3,
                            "config": {{"min.insync.replicas": 2}}}}]
            }},
            "network": {{"latency": {{"kind": "uniform", "min_us": 200, "max_us": 3000}}}},
            "variants": {variants:?}
        }}"#
    );
    parse(&text, "sweep").expect("the sweep scenario is valid")
}

fn assert_clean_and_deterministic(controllers: u32) {
    let scenario = base(controllers, &[]);
    let n = seeds();
    let first = sweep(&scenario, 0..n, &NemesisOptions::default());
    let broken: Vec<_> = first.iter().filter(|(_, _, v)| !v.is_empty()).collect();
    assert!(
        broken.is_empty(),
        "{} of {n} seeds broke an invariant; first: seed {} {:#?}",
        broken.len(),
        broken[0].0,
        broken[0].2
    );
    let second = sweep(&scenario, 0..n, &NemesisOptions::default());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.1, b.1, "seed {} gave two different traces", a.0);
    }
    let distinct: std::collections::BTreeSet<&String> = first.iter().map(|r| &r.1).collect();
    assert_eq!(distinct.len(), first.len(), "every seed is a different run");
}

#[test]
fn three_controllers_survive_200_seeds_of_crashes_and_partitions_deterministically() {
    assert_clean_and_deterministic(3);
}

#[test]
fn five_controllers_survive_200_seeds_of_crashes_and_partitions_deterministically() {
    assert_clean_and_deterministic(5);
}

/// How many of `n` seeds violate `invariant` under the given variants.
fn seeds_violating(controllers: u32, variants: &[&str], invariant: &str, n: u64) -> Vec<u64> {
    let scenario = base(controllers, variants);
    sweep(&scenario, 0..n, &NemesisOptions::default())
        .into_iter()
        .filter(|(_, _, v)| v.iter().any(|v| v.invariant == invariant))
        .map(|(seed, _, _)| seed)
        .collect()
}

#[test]
fn single_leader_per_epoch_catches_a_voter_that_forgets_its_vote() {
    let broken = seeds_violating(3, &["test_forget_vote"], "single_leader_per_epoch", 200);
    eprintln!(
        "forget_vote: {} of 200 seeds elect two leaders in one epoch",
        broken.len()
    );
    assert!(
        !broken.is_empty(),
        "no seed caught two leaders in one epoch with votes forgotten"
    );
    // The same seeds with the vote recorded are safe.
    let scenario = base(3, &[]);
    for seed in broken {
        let (_, _, v) = sweep(&scenario, seed..seed + 1, &NemesisOptions::default()).remove(0);
        assert!(v.is_empty(), "seed {seed} without the variant: {v:#?}");
    }
}

#[test]
fn variants_that_only_cost_availability_stay_safe() {
    for variant in ["prevote=false", "no_check_quorum"] {
        let scenario = base(3, &[variant]);
        for (seed, _, v) in sweep(&scenario, 0..100, &NemesisOptions::default()) {
            // Liveness invariants (the eventually_ ones, and check-quorum's bound) may break.
            let unsafe_: Vec<_> = v
                .iter()
                .filter(|v| {
                    sim_core::check::invariant(v.invariant).map(|i| i.kind)
                        == Some(sim_core::check::InvariantKind::Safety)
                })
                .collect();
            assert!(unsafe_.is_empty(), "{variant} seed {seed}: {unsafe_:#?}");
        }
    }
}

#[test]
fn majority_reached_high_watermark_catches_a_leader_that_commits_alone() {
    let broken = seeds_violating(
        3,
        &["test_commit_without_majority"],
        "majority_reached_high_watermark",
        50,
    );
    eprintln!(
        "commit_without_majority: {} of 50 seeds commit below a majority",
        broken.len()
    );
    assert!(!broken.is_empty(), "no seed caught a HW past the majority");
    let scenario = base(3, &[]);
    for seed in broken {
        let (_, _, v) = sweep(&scenario, seed..seed + 1, &NemesisOptions::default()).remove(0);
        assert!(v.is_empty(), "seed {seed} without the variant: {v:#?}");
    }
}
