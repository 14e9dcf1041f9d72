//! What the integration tests share: running the `kafkasim` binary, temporary directories,
//! and seed sweeps (each seed draws a fault schedule from the nemesis and runs the scenario
//! with it; a failing schedule is kept as a scenario file anyone can replay).

// Each test crate uses the helpers it needs.
#![allow(dead_code)]

pub mod browser;

use std::path::PathBuf;
use std::process::{Command, Output};

use sim_core::check::Violation;
use sim_core::fuzz::nemesis::{NemesisOptions, random_faults};
use sim_core::scenario::Scenario;
use sim_core::trace::TraceSink;
use sim_core::world::{ResolvedScenario, RunOptions, RunSummary, run};

/// Runs the binary from the repository root (so bundled scenario paths resolve).
pub fn kafkasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("kafkasim runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8")
}

/// Runs a scenario with `--out` into a fresh directory named `dir`, which it returns; the run
/// must meet its expectations (exit 0).
pub fn run_out(scenario: &str, dir: &str) -> PathBuf {
    kafkasim_out(&["run", scenario], dir)
}

/// Runs `kafkasim ARGS... --out DIR` into a fresh directory named `dir`, which it returns; the
/// command must exit 0.
pub fn kafkasim_out(args: &[&str], dir: &str) -> PathBuf {
    let dir = temp_dir(dir);
    let mut all = args.to_vec();
    all.extend_from_slice(&["--out", dir.to_str().expect("a UTF-8 path")]);
    let out = kafkasim(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// An empty directory of this name under cargo's target tmpdir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Every bundled scenario file under `scenarios/` (not its JSON Schema), sorted.
pub fn bundled_scenarios() -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("scenarios/ is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if sim_core::scenario::is_scenario_file(&path) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
        &mut files,
    );
    files.sort();
    files
}

/// Seeds per sweep; `KAFKASIM_SWEEP_SEEDS` raises it for a longer hunt.
pub fn seeds() -> u64 {
    std::env::var("KAFKASIM_SWEEP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// Runs a resolved scenario with `seed` to the end, keeping only the trace hash.
pub fn run_hash_only(s: &ResolvedScenario, seed: u64) -> RunSummary {
    run(
        s,
        RunOptions {
            seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("no trace writer to fail")
}

/// What a run concluded, to compare two runs: its trace hash, its events and its violations.
pub fn outcome(summary: &RunSummary) -> (String, u64, Vec<(String, String)>) {
    let violations = summary
        .violations
        .iter()
        .map(|v| (v.invariant.to_string(), v.explanation.clone()))
        .collect();
    (summary.trace_hash.clone(), summary.events, violations)
}

/// Runs one seed of `scenario` under the nemesis; returns the scenario it ran and its summary.
pub fn run_seed(
    scenario: &Scenario,
    seed: u64,
    options: &NemesisOptions,
) -> (Scenario, RunSummary) {
    let mut s = scenario.clone();
    s.faults = random_faults(&s.members(), seed, options);
    let summary = run_hash_only(&s.resolve(), seed);
    if !summary.violations.is_empty() {
        // Kept under cargo's target directory, not the system's temp folder.
        let path =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-seed-{seed}.json", s.name));
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

/// Runs an external checker (a linter, a validator) from the repository root; `None`, with a
/// message, when it is not installed. CI installs every such tool (`.ci/run`) and sets
/// `KAFKASIM_REQUIRE_TOOLS`, so there a missing tool fails the test instead of skipping it.
pub fn external_tool(tool: &str, args: &[&str], install: &str) -> Option<Output> {
    match Command::new(tool)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(o) => Some(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tool_missing(tool, install);
            None
        }
        Err(e) => panic!("{tool}: {e}"),
    }
}

/// Reports a tool or file a test needs and does not have: a failure where
/// `KAFKASIM_REQUIRE_TOOLS` is set (CI), a skip with a message elsewhere.
pub fn tool_missing(what: &str, install: &str) {
    assert!(
        std::env::var_os("KAFKASIM_REQUIRE_TOOLS").is_none(),
        "{what} is not installed, and KAFKASIM_REQUIRE_TOOLS says it must be ({install})"
    );
    eprintln!("skipped: {what} is not installed ({install})");
}

/// Each seed's result in a fuzz sweep's folder (its `results.jsonl`), without its wall time
/// (the one field that differs between runs of the same seed).
pub fn sweep_results(dir: &std::path::Path) -> std::collections::BTreeMap<u64, serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).expect("results.jsonl");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v.as_object_mut().expect("an object").remove("wall_s");
            (v["seed"].as_u64().expect("a seed"), v)
        })
        .collect()
}
