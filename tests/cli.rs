//! The binary's contract: commands, exit codes, JSON fields and output files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn kafkasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("kafkasim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const SCENARIO: &str = "scenarios/engine/partition-and-crash.json";

#[test]
fn run_prints_the_json_summary_contract() {
    let o = kafkasim(&["run", SCENARIO, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    for field in [
        "scenario",
        "seed",
        "trace_hash",
        "events",
        "sim_time_ms",
        "stop_reason",
        "violations",
        "expectations_met",
    ] {
        assert!(v.get(field).is_some(), "missing {field} in {v}");
    }
    assert_eq!(v["scenario"], "partition-and-crash");
    assert_eq!(v["sim_time_ms"], 60_000);
    assert_eq!(v["trace_hash"].as_str().map(str::len), Some(16));
}

#[test]
fn a_built_in_name_runs_exactly_as_its_file() {
    let by_path = kafkasim(&["run", SCENARIO, "--format", "json", "--seed", "5"]);
    let by_name = kafkasim(&[
        "run",
        "engine/partition-and-crash",
        "--format",
        "json",
        "--seed",
        "5",
    ]);
    assert_eq!(stdout(&by_path), stdout(&by_name));
}

#[test]
fn out_dir_gets_a_whole_report_and_trace() {
    let dir = temp_dir("out");
    let o = kafkasim(&["run", SCENARIO, "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["scenario"], "partition-and-crash");
    assert_eq!(
        report["scenario"]["cluster"]["config"]["broker.session.timeout.ms"],
        9000
    );
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines[0]["type"], "start");
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "down" && l["cause"]["crash"] == "power_loss")
    );
    assert!(!dir.join("trace.jsonl.tmp").exists() && !dir.join("report.json.tmp").exists());
}

#[test]
fn print_resolved_shows_every_default() {
    let o = kafkasim(&["run", SCENARIO, "--print-resolved"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["cluster"]["config"]["replica.lag.time.max.ms"], 30000);
    assert_eq!(
        v["cluster"]["topics"][0]["config"]["unclean.leader.election.enable"],
        false
    );
    assert_eq!(v["workload"]["producers"][0]["config"]["acks"], "all");
}

#[test]
fn bad_scenarios_exit_2_naming_file_and_field() {
    let dir = temp_dir("bad");
    let cases = [
        (
            r#"{"name": "x", "cluster": {"brokers": 3, "topics": [{"name": "t", "partitons": 1}]}}"#,
            "cluster.topics[0].partitons: unknown field \"partitons\" (did you mean \"partitions\"?)",
        ),
        (
            r#"{"name": "x", "cluster": {"brokers": 3, "config": {"broker.session.timeout": 1}}}"#,
            "cluster.config: unknown config key \"broker.session.timeout\" (did you mean \"broker.session.timeout.ms\"?)",
        ),
        (
            r#"{"name": "x", "cluster": {"brokers": 3}, "faults": [{"at_ms": 5, "crash": "broker-9"}]}"#,
            "faults[0].crash: no node \"broker-9\"",
        ),
        (
            r#"{"name": "x", "cluster": {"brokers": 3},"#,
            "not valid JSON",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.json"));
        std::fs::write(&path, text).unwrap();
        let o = kafkasim(&["run", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "case {i}");
        let err = stderr(&o);
        assert!(
            err.contains(path.to_str().unwrap()),
            "case {i} does not name the file: {err}"
        );
        assert!(err.contains(expected), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i} panicked: {err}");
    }
    let o = kafkasim(&["run", "no/such/scenario.json"]);
    assert_eq!(o.status.code(), Some(2));
    let o = kafkasim(&["run", SCENARIO, "--seed", "minus-one"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn list_shows_the_bundled_scenarios() {
    let o = kafkasim(&["list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"engine/partition-and-crash"), "{names:?}");
}

#[test]
fn bench_prints_one_json_line_per_workload() {
    let o = kafkasim(&["bench", "--quick", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["workload"].as_str())
        .collect();
    assert_eq!(names, ["engine-pingpong", "engine-timers"]);
    for l in &lines {
        for field in [
            "events",
            "wall_s",
            "events_per_s",
            "sim_s_per_wall_s",
            "peak_rss_bytes",
            "ratio_to_baseline",
            "baseline_events_per_s",
        ] {
            assert!(l.get(field).is_some(), "missing {field} in {l}");
        }
    }
    assert_eq!(lines[0]["events"], 100_000);
}
