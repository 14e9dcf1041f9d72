//! Forking the world: a run copied between two events goes on exactly as the original would.
//! Cloned at points drawn at random in runs drawn at random (the fuzzer's own base, every
//! fault kind) and in lessons whose faults follow the active controller, both copies end with
//! the trace hash and the violations of the run that was never forked.

use sim_core::fuzz::swarm::FuzzBase;
use sim_core::scenario::{self, Scenario};
use sim_core::trace::TraceSink;
use sim_core::world::{ResolvedScenario, RunSummary, World};

mod support;

use support::{outcome, run_hash_only as unforked};

/// Runs `s` to event `at`, forks, runs the fork and the original to the end, forking the fork
/// once more on the way; every one of them must end as the unforked run did.
fn assert_forks_agree(s: &ResolvedScenario, seed: u64, at: u64, again: u64) {
    let expected = outcome(&unforked(s, seed));
    let mut original = World::new(s, seed, TraceSink::hash_only());
    original.run(at, &mut || false);
    assert_eq!(original.events(), at, "stopped at the fork point");
    let mut fork = original.fork();
    fork.run(at + again, &mut || false);
    let fork_of_fork = fork.fork();
    let finish = |mut w: World| {
        let reason = w.run(u64::MAX, &mut || false);
        outcome(&w.finish(s, reason).expect("no writer"))
    };
    let name = &s.name;
    assert_eq!(
        finish(original),
        expected,
        "{name} seed {seed}: the original, forked at {at}"
    );
    assert_eq!(
        finish(fork),
        expected,
        "{name} seed {seed}: the fork at {at}"
    );
    assert_eq!(
        finish(fork_of_fork),
        expected,
        "{name} seed {seed}: the fork's fork at {}",
        at + again
    );
}

#[test]
fn forks_of_random_runs_at_random_moments_end_as_the_run_does() {
    let base = FuzzBase::default_base();
    // SplitMix64: fork points that differ from seed to seed, the same in every test run.
    let mut state = 0x0f0e_u64;
    let mut draw = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for seed in 0..12 {
        let s = base.draw(seed).resolve();
        let events = unforked(&s, seed).events;
        let at = 1 + draw() % (events - 1);
        let again = draw() % (events - at).max(1);
        assert_forks_agree(&s, seed, at, again);
    }
}

#[test]
fn forks_resolve_faults_on_the_active_controller_as_the_run_does() {
    // Lesson 04 crashes and restarts "the active controller": a fork taken before the crash
    // must pick the same node, and one taken between crash and restart must restart it.
    let text = std::fs::read_to_string("scenarios/teach/04-controller-failover.json").unwrap();
    let s: Scenario = scenario::parse(&text, "04-controller-failover.json").unwrap();
    let seed = s.seed;
    let s = s.resolve();
    let events = unforked(&s, seed).events;
    for at in [1, events / 8, events / 3, events / 2, events - 1] {
        assert_forks_agree(&s, seed, at, events / 10);
    }
}

/// The run of `s` from t = 0 with self checks, as the shrinker's runs are.
fn from_zero(s: &Scenario) -> RunSummary {
    unforked(&s.resolve().with_self_checks(), s.seed)
}

#[test]
fn a_shrinks_candidates_run_from_checkpoints_end_as_their_runs_from_time_zero_do() {
    use sim_core::fuzz::prefix::PrefixRuns;
    let base = FuzzBase::default_base();
    let mut reused = 0;
    for seed in [1, 4, 5, 9] {
        let original = base.draw(seed);
        assert!(
            original.faults.len() >= 4,
            "seed {seed} has faults to change"
        );
        let mut runs = PrefixRuns::new();
        let (summary, checkpoints) = runs.run(&original, &mut || false);
        assert_eq!(
            outcome(&summary),
            outcome(&from_zero(&original)),
            "seed {seed}"
        );
        runs.keep(checkpoints);
        let n = original.faults.len();
        let mut candidates = Vec::new();
        // The shrinker's moves: drop a late entry and a middle one, end the run earlier, move
        // an entry later, drop every entry from the middle on.
        for drop in [n - 1, n / 2] {
            let mut c = original.clone();
            c.faults.remove(drop);
            candidates.push(c);
        }
        let mut shorter = original.clone();
        shorter.duration_ms = 45_000;
        candidates.push(shorter);
        let mut moved = original.clone();
        let i = n / 2;
        let limit = moved
            .faults
            .get(i + 1)
            .map_or(moved.faults[i].at_ms, |f| f.at_ms);
        moved.faults[i].at_ms = (moved.faults[i].at_ms + 700).min(limit);
        candidates.push(moved);
        let mut halved = original.clone();
        halved.faults.truncate(n / 2);
        candidates.push(halved);
        for (k, c) in candidates.iter().enumerate() {
            let (summary, checkpoints) = runs.run(c, &mut || false);
            assert_eq!(
                outcome(&summary),
                outcome(&from_zero(c)),
                "seed {seed}, candidate {k}"
            );
            // Kept, it is what the next candidate starts from.
            if k == 0 {
                runs.keep(checkpoints);
            }
        }
        reused += runs.reused;
    }
    assert!(
        reused >= 12,
        "{reused} candidates started from a checkpoint"
    );
}
