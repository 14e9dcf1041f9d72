//! Exploration (`sim_core::fuzz::explore`): every run it makes, branches included, is an
//! ordinary scenario that replays from t = 0 with the same trace hash, events and violations;
//! the search is the same however many threads run a batch; and branches do what they say
//! (faults added after the moment they branch at, within the fault phase).

use sim_core::fuzz::explore::{ExploreOptions, Explorer, Origin, TrialResult};
use sim_core::fuzz::swarm::FuzzBase;
use sim_core::scenario::Scenario;
use sim_core::trace::TraceSink;
use sim_core::world::{self, RunOptions, RunSummary};

fn replay(s: &Scenario) -> RunSummary {
    world::run(
        &s.resolve().with_self_checks(),
        RunOptions {
            seed: s.seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("no writer to fail")
}

/// What a run concluded, to compare.
fn outcome(summary: &RunSummary) -> (String, u64, Vec<(String, String)>) {
    let violations = summary
        .violations
        .iter()
        .map(|v| (v.invariant.to_string(), v.explanation.clone()))
        .collect();
    (summary.trace_hash.clone(), summary.events, violations)
}

/// `batches` batches of an exploration of `base`, each batch run on `threads` threads.
fn explore(base: FuzzBase, batches: usize, threads: usize) -> Vec<TrialResult> {
    let mut explorer = Explorer::new(
        base,
        ExploreOptions {
            seed: 7,
            batch: 6,
            fresh_share: 0.3,
            ..ExploreOptions::default()
        },
    );
    let mut all = Vec::new();
    for _ in 0..batches {
        let trials = explorer.plan();
        let seen = explorer.seen().clone();
        let mut results: Vec<TrialResult> = if threads == 1 {
            trials.into_iter().map(|t| t.run(&seen, &mut || false)).collect()
        } else {
            let chunk = trials.len().div_ceil(threads);
            let mut trials = trials;
            let mut chunks = Vec::new();
            while !trials.is_empty() {
                let rest = trials.split_off(chunk.min(trials.len()));
                chunks.push(std::mem::replace(&mut trials, rest));
            }
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|c| {
                        let seen = &seen;
                        scope.spawn(move || {
                            c.into_iter()
                                .map(|t| t.run(seen, &mut || false))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("a trial panicked"))
                    .collect()
            })
        };
        explorer.absorb(&mut results);
        all.extend(results);
    }
    assert!(explorer.stats().states > 0 && explorer.stats().corpus > 0);
    all
}

#[test]
fn every_run_of_an_exploration_replays_from_time_zero_with_its_hash() {
    let results = explore(FuzzBase::default_base(), 4, 1);
    let branches = results
        .iter()
        .filter(|r| matches!(r.origin, Origin::Branch { .. }))
        .count();
    assert!(branches >= 10, "{branches} branches of {}", results.len());
    for r in &results {
        assert_eq!(
            outcome(&replay(&r.scenario)),
            outcome(&r.summary),
            "trial {} ({:?}) replayed from t = 0",
            r.id,
            r.origin
        );
    }
}

#[test]
fn branches_add_faults_after_their_moment_within_the_fault_phase() {
    let results = explore(FuzzBase::default_base(), 3, 1);
    let by_id = |id: u64| results.iter().find(|r| r.id == id);
    let mut checked = 0;
    for r in &results {
        let Origin::Branch {
            parent,
            at_ms,
            added,
        } = r.origin
        else {
            continue;
        };
        let Some(p) = by_id(parent) else {
            continue;
        };
        // The parent's schedule, with `added` entries more, all after the moment.
        assert_eq!(r.scenario.faults.len(), p.scenario.faults.len() + added);
        let mut rest = r.scenario.faults.clone();
        for f in &p.scenario.faults {
            let i = rest
                .iter()
                .position(|g| g == f)
                .expect("the parent's entries are kept");
            rest.remove(i);
        }
        assert_eq!(rest.len(), added);
        let faults_until = r.scenario.duration_ms - 32_000;
        assert!(
            rest.iter()
                .all(|f| f.at_ms > at_ms && f.at_ms <= faults_until),
            "trial {}: {rest:?} after {at_ms} ms",
            r.id
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked} branches checked");
}

#[test]
fn the_search_is_the_same_on_one_thread_and_on_three() {
    let key = |results: &[TrialResult]| -> Vec<(u64, Origin, String, usize)> {
        results
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.origin.clone(),
                    r.summary.trace_hash.clone(),
                    r.new_states,
                )
            })
            .collect()
    };
    let one = explore(FuzzBase::default_base(), 3, 1);
    let three = explore(FuzzBase::default_base(), 3, 3);
    assert_eq!(key(&one), key(&three));
}
