//! Exploration (`sim_core::fuzz::explore`): every run it makes, branches included, is an
//! ordinary scenario that replays from t = 0 with the same trace hash, events and violations;
//! the search is the same however many threads run a batch; and branches do what they say
//! (faults added after the moment they branch at, within the fault phase).

use sim_core::fuzz::explore::{ExploreOptions, Explorer, Origin, TrialResult};
use sim_core::fuzz::swarm::FuzzBase;
use sim_core::scenario::{FaultSpec, Scenario};
use sim_core::world::RunSummary;
use std::collections::BTreeMap;

mod support;

use support::{kafkasim, outcome, run_hash_only, stderr, stdout, temp_dir};

fn replay(s: &Scenario) -> RunSummary {
    run_hash_only(&s.resolve().with_self_checks(), s.seed)
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
            trials
                .into_iter()
                .map(|t| t.run(&seen, &mut || false))
                .collect()
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
    // Batches of 2, 4, 8, 8 and 8 trials.
    let results = explore(FuzzBase::default_base(), 5, 1);
    let branches = results
        .iter()
        .filter(|r| matches!(r.origin, Origin::Branch { .. }))
        .count();
    assert!(branches >= 10, "{branches} branches of {}", results.len());
    // Moves aimed at protocol moments are among them, so their faults replay too.
    let aimed = results
        .iter()
        .filter(|r| matches!(r.origin, Origin::Branch { aimed: Some(_), .. }))
        .count();
    assert!(aimed >= 3, "{aimed} aimed branches of {branches}");
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
    let results = explore(FuzzBase::default_base(), 4, 1);
    let by_id = |id: u64| results.iter().find(|r| r.id == id);
    let mut checked = 0;
    let mut fresh_futures = 0;
    for r in &results {
        let Origin::Branch {
            parent,
            at_ms,
            added,
            dropped,
            ..
        } = r.origin
        else {
            continue;
        };
        let Some(p) = by_id(parent) else {
            continue;
        };
        // The parent's schedule, less `dropped` entries after the moment (a fresh future),
        // with `added` entries more, all after the moment.
        assert_eq!(
            r.scenario.faults.len() + dropped,
            p.scenario.faults.len() + added
        );
        let mut rest = r.scenario.faults.clone();
        let mut left_out = Vec::new();
        for f in &p.scenario.faults {
            match rest.iter().position(|g| g == f) {
                Some(i) => {
                    rest.remove(i);
                }
                None => left_out.push(f.clone()),
            }
        }
        assert_eq!(rest.len(), added);
        assert_eq!(left_out.len(), dropped);
        assert!(
            left_out.iter().all(|f| f.at_ms > at_ms),
            "trial {}: the past is kept whole",
            r.id
        );
        // Whatever was under way at the moment still ends: nothing stays down, cut or slow.
        assert!(balanced(&r.scenario.faults), "trial {}", r.id);
        if dropped > 0 {
            fresh_futures += 1;
        }
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
    assert!(
        fresh_futures >= 2 && fresh_futures < checked,
        "{fresh_futures} of {checked} branches dropped later entries of their parent's"
    );
}

/// Every episode of a schedule ends: each node's outages and pauses, the network's cuts, and
/// each slow node, link and connection, end as often as they start.
fn balanced(faults: &[FaultSpec]) -> bool {
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    for f in faults {
        let (key, step) = if let Some(n) = f
            .crash
            .as_ref()
            .or(f.power_loss.as_ref())
            .or(f.disk_loss.as_ref())
            .or(f.shutdown.as_ref())
        {
            (format!("down {n}"), 1)
        } else if let Some(n) = &f.restart {
            (format!("down {n}"), -1)
        } else if let Some(n) = &f.pause {
            (format!("pause {n}"), 1)
        } else if let Some(n) = &f.resume {
            (format!("pause {n}"), -1)
        } else if let Some(s) = &f.slow {
            (
                format!("slow {}", s.node),
                if s.extra_ms > 0 { 1 } else { -1 },
            )
        } else if let Some(s) = &f.slow_link {
            let step = if s.extra_ms > 0 { 1 } else { -1 };
            (format!("link {}>{}", s.from, s.to), step)
        } else if let Some(s) = &f.slow_channel {
            let step = if s.extra_ms > 0 { 1 } else { -1 };
            (format!("channel {}>{}:{}", s.from, s.to, s.channel), step)
        } else if f.heal.is_some() {
            ("net".to_string(), -1)
        } else {
            ("net".to_string(), 1)
        };
        let n = open.entry(key).or_default();
        *n += step;
        if *n < 0 {
            return false;
        }
    }
    open.values().all(|&n| n == 0)
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

// ---- `kafkasim explore` and `--era`, end to end ----

/// The lines of a results.jsonl.
fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn explore_finds_a_cut_off_leader_that_stays_and_its_finding_replays_from_time_zero() {
    let dir = temp_dir("explore-ncq");
    // Fresh seeds from 8, the sweep's first seed to fail with no_check_quorum: this test is
    // about what explore does with findings (found from seed 0, the first comes at trial 31).
    let o = kafkasim(&[
        "explore",
        "--variant",
        "no_check_quorum",
        "--start",
        "8",
        "--trials",
        "16",
        "--jobs",
        "2",
        "--out",
        dir.to_str().unwrap(),
        "--shrink-runs",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let lines = jsonl(&dir.join("results.jsonl"));
    assert_eq!(lines.len(), 16, "one line per trial");
    let failed: Vec<&serde_json::Value> = lines.iter().filter(|l| l["outcome"] == "fail").collect();
    assert!(!failed.is_empty(), "{}", stdout(&o));
    assert!(stdout(&o).contains("cut_off_leader_resigns on controller"));
    // Every saved finding replays with the trial's trace hash, and fails.
    for l in &failed {
        let file = dir.join(l["repro"].as_str().expect("a saved run"));
        let run = kafkasim(&["run", file.to_str().unwrap(), "--format", "json"]);
        assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
        let summary: serde_json::Value = serde_json::from_str(&stdout(&run)).expect("JSON");
        assert_eq!(summary["trace_hash"], l["trace_hash"], "{}", file.display());
    }
    let groups: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("groups.json")).unwrap()).unwrap();
    let groups = groups["groups"].as_array().expect("groups");
    assert!(!groups.is_empty());
    let shrunk = groups[0]["shrunk"]["file"]
        .as_str()
        .expect("the first group is shrunk");
    let run = kafkasim(&["run", dir.join(shrunk).to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "the shrunk finding still fails");
}

#[test]
fn explore_of_the_modern_protocol_passes_and_bad_flags_are_refused() {
    let dir = temp_dir("explore-modern");
    let o = kafkasim(&["explore", "--trials", "12", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).ends_with("12 passed, 0 failed\n"),
        "{}",
        stdout(&o)
    );
    // The folder holds results now: a second exploration into it is refused.
    let again = kafkasim(&["explore", "--trials", "1", "--out", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already holds results"),
        "{}",
        stderr(&again)
    );
    for (args, why) in [
        (
            vec!["explore", "--trials", "1", "--era", "allow_unclean"],
            "--era: name the variant",
        ),
        (
            vec!["explore", "--budget", "-3"],
            "--budget: expected a positive number",
        ),
        (
            vec!["explore", "--trials", "1", "--variant", "no_such"],
            "unknown protocol variant",
        ),
    ] {
        let o = kafkasim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
    }
}

/// A base where `no_min_isr_check` cannot act: `min.insync.replicas` 1 leaves nothing for the
/// check to refuse, so every run with it is the era's own run.
const MIN_ISR_ONE: &str = r#"{
  "name": "min-isr-one",
  "duration_ms": 60000,
  "cluster": {"controllers": 3, "brokers": 3,
    "topics": [{"name": "t", "partitions": 2, "replication_factor": 3,
                "config": {"min.insync.replicas": 1}}]},
  "workload": {"producers": [{"topic": "t", "records_per_s": 100}],
               "consumers": [{"topic": "t"}]}
}"#;

#[test]
fn with_an_era_only_violations_the_era_alone_does_not_have_count() {
    let dir = temp_dir("fuzz-era");
    let base = dir.join("base.json");
    std::fs::write(&base, MIN_ISR_ONE).unwrap();
    let sweep = |out: &str, era: bool| {
        let mut args = vec![
            "fuzz",
            base.to_str().unwrap(),
            "--seeds",
            "40",
            "--no-shrink",
            "--verify-determinism",
            "0",
            "--variant",
        ];
        if era {
            args.extend(["no_min_isr_check", "--era", "allow_unclean"]);
        } else {
            args.extend(["allow_unclean", "--variant", "no_min_isr_check"]);
        }
        let out = dir.join(out);
        args.extend(["--out", out.to_str().unwrap()]);
        (kafkasim(&args), out)
    };
    // Without --era, unclean elections fail seeds; the hunted variant cannot act here, so in
    // its era every one of those failures is the era's own.
    let (plain, plain_dir) = sweep("plain", false);
    assert_eq!(plain.status.code(), Some(1), "{}", stdout(&plain));
    let failing: Vec<u64> = support::sweep_results(&plain_dir)
        .into_iter()
        .filter(|(_, r)| r["outcome"] == "fail")
        .map(|(s, _)| s)
        .collect();
    assert!(!failing.is_empty());
    let (era, era_dir) = sweep("era", true);
    assert!(era.status.success(), "{}{}", stdout(&era), stderr(&era));
    let results = support::sweep_results(&era_dir);
    for seed in &failing {
        assert_eq!(results[seed]["outcome"], "era", "seed {seed}");
    }
}
