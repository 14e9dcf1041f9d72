//! `kafkasim fuzz` and `kafkasim shrink` end to end: a killed sweep resumes to the same
//! results, shards add up to the whole sweep, a re-introduced bug is found, saved, shrunk and
//! replayed, and bad input is refused with exit 2.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{kafkasim, stderr, stdout, sweep_results as results, temp_dir};

/// Asserts the exit code and that stderr says `why`.
fn refused(o: &Output, code: i32, why: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", stderr(o));
    assert!(
        stderr(o).contains(why),
        "expected {why:?} in: {}",
        stderr(o)
    );
}

/// Asserts a successful sweep ending in `N passed, 0 failed`.
fn all_passed(o: &Output, n: usize) {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    let end = format!("{n} passed, 0 failed\n");
    assert!(stdout(o).ends_with(&end), "{}", stdout(o));
}

/// The invariants a `run --format json` output violated.
fn violated(o: &Output) -> Vec<String> {
    let summary: Value = serde_json::from_str(&stdout(o)).expect("a JSON summary");
    summary["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["invariant"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_sweep_killed_with_sigkill_and_resumed_gives_the_same_results_as_one_run_through() {
    let whole = temp_dir("fuzz-whole");
    let args = [
        "fuzz",
        "--seeds",
        "120",
        "--jobs",
        "2",
        "--verify-determinism",
        "10",
    ];
    let o = kafkasim(&[&args[..], &["--out", whole.to_str().unwrap()]].concat());
    all_passed(&o, 120);

    let killed = temp_dir("fuzz-killed");
    let results_path = killed.join("results.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .args(["--out", killed.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kafkasim starts");
    let started = Instant::now();
    while lines(&results_path) < 15 && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    child.wait().expect("reaped");
    let at_kill = lines(&results_path);
    assert!(
        (15..120).contains(&at_kill),
        "the kill landed mid-sweep: {at_kill} seeds done"
    );

    // Without --resume the directory is refused: nothing is overwritten.
    let o = kafkasim(&[&args[..], &["--out", killed.to_str().unwrap()]].concat());
    refused(&o, 2, "--resume");

    let o = kafkasim(&[&args[..], &["--out", killed.to_str().unwrap(), "--resume"]].concat());
    all_passed(&o, 120);
    let ran: u64 = stdout(&o)
        .split("ran ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the summary says how many seeds ran");
    assert_eq!(
        ran as usize,
        120 - at_kill,
        "only the unfinished seeds ran again"
    );
    assert_eq!(results(&killed), results(&whole));
}

#[test]
fn the_shards_of_a_sweep_are_exactly_the_whole_sweep() {
    let whole = temp_dir("fuzz-unsharded");
    let o = kafkasim(&[
        "fuzz",
        "--seeds",
        "40",
        "--start",
        "500",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut union = BTreeMap::new();
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = temp_dir(&format!("fuzz-shard-{i}"));
        let shard = format!("{i}/3");
        let o = kafkasim(&[
            "fuzz",
            "--seeds",
            "40",
            "--start",
            "500",
            "--shard",
            &shard,
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let part = results(&dir);
        // Shard i holds the seeds at positions i, i+3, ...: disjoint from the others.
        assert!(
            part.keys().all(|s| (s - 500) % 3 == i),
            "shard {i}: {:?}",
            part.keys()
        );
        for (seed, r) in part {
            assert!(union.insert(seed, r).is_none(), "seed {seed} ran twice");
        }
        dirs.push(dir);
    }
    let whole_results = results(&whole);
    // Determinism checks are chosen by seed, so even `rerun_hash` agrees.
    assert_eq!(union, whole_results);

    let mut args: Vec<&str> = vec!["fuzz", "--merge"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    let o = kafkasim(&args);
    all_passed(&o, 40);
    assert!(stdout(&o).contains("40 seeds"), "{}", stdout(&o));
}

#[test]
fn a_reintroduced_bug_is_found_saved_shrunk_and_replayed() {
    let dir = temp_dir("fuzz-allow-unclean");
    let o = kafkasim(&[
        "fuzz",
        "--variant",
        "allow_unclean",
        "--seeds",
        "400",
        "--max-failures",
        "1",
        "--jobs",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("FAIL group 1: "), "{out}");
    let failed: Vec<Value> = results(&dir)
        .into_values()
        .filter(|r| r["outcome"] == "fail")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "--max-failures 1 with one job stops at the first"
    );
    let r = &failed[0];
    // Its group, in groups.json, holds the shrunk run.
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("groups.json")).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
    let groups = doc["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{doc}");
    let group = &groups[0];
    assert_eq!(group["representative"], r["seed"]);
    assert_eq!(group["signature"], r["group"]);
    assert_eq!(group["count"], 1);
    let invariant = group["shrunk"]["invariant"]
        .as_str()
        .expect("shrunk")
        .to_string();
    assert_eq!(invariant, r["violations"][0]["invariant"]);
    assert!(r["group"].as_str().unwrap().starts_with(&invariant), "{r}");

    // The saved run replays the failure: `run` exits 1 with the invariant violated.
    let repro = dir.join(r["repro"].as_str().unwrap());
    let o = kafkasim(&["run", repro.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["trace_hash"], r["trace_hash"], "the very same run");

    // The shrunk one is smaller and fails the same way.
    let shrunk = dir.join(group["shrunk"]["file"].as_str().unwrap());
    let o = kafkasim(&["run", shrunk.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(violated(&o).contains(&invariant), "{}", stdout(&o));
    let faults = group["shrunk"]["faults"].as_u64().unwrap();
    assert!(faults < r["faults"].as_u64().unwrap(), "{r}");
    assert!(group["shrunk"]["events"].as_u64().unwrap() < r["events"].as_u64().unwrap());
    // It reads as a person would write it: no config left at its default.
    let text = std::fs::read_to_string(&shrunk).unwrap();
    assert!(
        !text.contains("controller.quorum.election.timeout.ms"),
        "{text}"
    );
    assert!(text.contains("allow_unclean"), "{text}");
    // Its replay command names it from the working directory, not from this machine's root:
    // the file still reads right in another checkout.
    if Path::new(env!("CARGO_TARGET_TMPDIR")).starts_with(env!("CARGO_MANIFEST_DIR")) {
        assert!(
            !text.contains(env!("CARGO_MANIFEST_DIR")) && text.contains("Replay: kafkasim run "),
            "an absolute path: {text}"
        );
    }

    // `kafkasim shrink` on the unshrunk file gets there too, and writes REPRO.min.json by
    // default... here to a named file.
    let again = dir.join("again.json");
    let o = kafkasim(&[
        "shrink",
        repro.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("still violates {invariant}")),
        "{}",
        stdout(&o)
    );
    let o = kafkasim(&["run", again.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn bad_fuzz_input_is_refused_with_exit_2_and_a_reason() {
    let dir = temp_dir("fuzz-bad");
    let out = dir.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["fuzz", "--seeds", "5", "--shard", "3/3", "--out", out],
            "0 <= I < K",
        ),
        (
            vec!["fuzz", "--seeds", "5", "--shard", "x", "--out", out],
            "expected I/K",
        ),
        (
            vec![
                "fuzz",
                "--seeds",
                "5",
                "--variant",
                "allow_uncleen",
                "--out",
                out,
            ],
            "unknown protocol variant \"allow_uncleen\"",
        ),
        (
            vec![
                "fuzz",
                "scenarios/kraft/initial-election.json",
                "--seeds",
                "5",
                "--out",
                out,
            ],
            "duration_ms: fuzzing needs at least",
        ),
        (vec!["fuzz", "--merge", "/nonexistent-dir"], "no such file"),
        (
            vec!["fuzz", "--seeds", "5", "--time-budget", "0", "--out", out],
            "--time-budget",
        ),
    ] {
        refused(&kafkasim(&args), 2, expected);
    }
    // Resuming a sweep with another base is refused.
    let o = kafkasim(&["fuzz", "--seeds", "2", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kafkasim(&[
        "fuzz",
        "--seeds",
        "2",
        "--variant",
        "elr=false",
        "--out",
        out,
        "--resume",
    ]);
    refused(&o, 2, "holds a different sweep");
    // A scenario that does not fail cannot be shrunk.
    let o = kafkasim(&[
        "shrink",
        "scenarios/teach/02-follower-crash-and-catch-up.json",
    ]);
    refused(&o, 2, "violates no invariant");
}

#[test]
fn shrinking_a_bug_scenario_keeps_its_violation_with_less() {
    let dir = temp_dir("shrink-bug");
    let out = dir.join("min.json");
    let o = kafkasim(&[
        "shrink",
        "scenarios/bugs/elr-false.json",
        "--invariant",
        "acked_durability",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        report["faults_after"].as_u64() <= report["faults_before"].as_u64(),
        "{report}"
    );
    assert!(
        report["events_after"].as_u64() < report["events_before"].as_u64(),
        "{report}"
    );
    let o = kafkasim(&["run", out.to_str().unwrap(), "--format", "json"]);
    assert!(
        violated(&o).iter().any(|v| v == "acked_durability"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn failures_are_grouped_and_one_per_group_is_shrunk_whatever_the_job_count() {
    let sweep = |jobs: &str| {
        let dir = temp_dir(&format!("fuzz-triage-{jobs}"));
        let o = kafkasim(&[
            "fuzz",
            "--variant",
            "allow_unclean",
            "--seeds",
            "60",
            "--jobs",
            jobs,
            "--shrink-runs",
            "30",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("groups.json")).unwrap())
                .unwrap();
        (dir, stdout(&o), doc["groups"].as_array().unwrap().clone())
    };
    let (dir, out, groups) = sweep("2");
    let failed: Vec<Value> = results(&dir)
        .into_values()
        .filter(|r| r["outcome"] != "pass")
        .collect();
    assert!(
        groups.len() >= 2 && groups.len() < failed.len(),
        "{} failures in {} groups:\n{out}",
        failed.len(),
        groups.len()
    );
    // The groups split the failed seeds: each seed in the group its result names.
    let mut grouped: Vec<u64> = Vec::new();
    for g in &groups {
        let seeds: Vec<u64> = g["seeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        assert_eq!(seeds.len() as u64, g["count"].as_u64().unwrap());
        assert_eq!(g["representative"].as_u64(), seeds.iter().min().copied());
        for s in &seeds {
            let r = failed
                .iter()
                .find(|r| r["seed"] == *s)
                .expect("a failed seed");
            assert_eq!(r["group"], g["signature"]);
        }
        grouped.extend(seeds);
    }
    grouped.sort_unstable();
    let mut all: Vec<u64> = failed.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(grouped, all);
    // One shrink per group, not per failure.
    let shrunk = std::fs::read_dir(dir.join("failures"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".min.json")
        })
        .count();
    assert_eq!(shrunk, groups.len());
    assert!(groups.iter().all(|g| g["shrunk"]["file"].is_string()));
    // Each group is told once as it opens and once in the summary; no failure twice.
    let opened = out
        .lines()
        .filter(|l| l.contains(" group ") && l.starts_with("FAIL"))
        .count();
    let listed = out
        .lines()
        .filter(|l| l.starts_with("FAIL ") && l.contains(" x "))
        .count();
    assert_eq!((opened, listed), (groups.len(), groups.len()), "{out}");
    // The same sweep on one job groups and shrinks alike: the lowest seed, not the first done.
    let (_, _, one_job) = sweep("1");
    assert_eq!(one_job, groups);
}
