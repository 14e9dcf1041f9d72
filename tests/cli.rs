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

fn json_run(args: &[&str]) -> serde_json::Value {
    let o = kafkasim(args);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    serde_json::from_str(&stdout(&o)).expect("one JSON object")
}

#[test]
fn controller_failover_json_shows_the_new_active_controller_within_the_election_timeouts() {
    let v = json_run(&[
        "run",
        "scenarios/kraft/controller-failover.json",
        "--format",
        "json",
    ]);
    assert_eq!(v["expectations_met"], true, "{v}");
    let activations = v["kraft"]["activations"].as_array().expect("activations");
    let first = &activations[0];
    let after: Vec<&serde_json::Value> = activations
        .iter()
        .filter(|a| a["time_ms"].as_f64().unwrap_or(0.0) > 10_000.0)
        .collect();
    assert!(
        !after.is_empty(),
        "no controller took over: {activations:?}"
    );
    let took_ms = after[0]["time_ms"].as_f64().unwrap_or(f64::MAX) - 10_000.0;
    // Fetch timeout (2 s) plus at most a couple of election timeouts and backoffs.
    assert!(took_ms < 6_000.0, "took {took_ms} ms");
    assert_ne!(after[0]["controller"], first["controller"]);
    assert!(after[0]["epoch"].as_u64() > first["epoch"].as_u64());
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(0));
}

#[test]
fn broker_fencing_json_shows_the_fence_nine_seconds_after_the_last_heartbeat() {
    let v = json_run(&[
        "run",
        "scenarios/kraft/broker-fencing.json",
        "--format",
        "json",
    ]);
    assert_eq!(v["expectations_met"], true, "{v}");
    let brokers = v["kraft"]["brokers"].as_array().expect("brokers");
    let fenced = brokers
        .iter()
        .find(|b| b["event"] == "fenced" && b["broker"] == "broker-2")
        .expect("broker-2 fenced");
    assert_eq!(fenced["reason"], "session_expired");
    let t = fenced["time_ms"].as_f64().unwrap_or(0.0);
    // Crash at 10 s; heartbeats every 2 s; fenced 9 s after the last one: in (17 s, 19 s].
    assert!(t > 17_000.0 && t <= 19_100.0, "fenced at {t}");
    // In the same batch every partition left broker-2: out of the ISR, and another leader,
    // with a bumped leader epoch, where it led.
    let changes: Vec<&serde_json::Value> = v["kraft"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .filter(|p| p["time_ms"] == fenced["time_ms"])
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    for p in &changes {
        assert_ne!(p["leader"], "broker-2", "{p}");
        assert!(
            !p["isr"]
                .as_array()
                .is_some_and(|isr| isr.contains(&"broker-2".into()))
        );
        if p["election"] == "clean" {
            assert_eq!(p["leader_epoch"], 1, "{p}");
        }
    }
}

#[test]
fn a_lesson_that_expects_a_violation_passes_only_when_it_happens() {
    let v = json_run(&[
        "run",
        "scenarios/kraft/rejoining-voter-without-prevote.json",
        "--format",
        "json",
    ]);
    assert_eq!(v["expectations_met"], true, "{v}");
    let ids: Vec<&str> = v["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["invariant"].as_str())
        .collect();
    assert!(ids.contains(&"stable_leadership"), "{ids:?}");
    // With pre-vote on, the same story keeps its leader.
    let ok = json_run(&[
        "run",
        "scenarios/kraft/rejoining-voter.json",
        "--format",
        "json",
    ]);
    assert_eq!(ok["violations"].as_array().map(Vec::len), Some(0), "{ok}");
    assert_eq!(ok["kraft"]["elections"].as_array().map(Vec::len), Some(1));
}

#[test]
fn leader_failover_json_reports_partitions_clients_and_no_violations() {
    let v = json_run(&[
        "run",
        "scenarios/replication/leader-failover.json",
        "--format",
        "json",
    ]);
    assert_eq!(v["expectations_met"], true);
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(0));
    let partitions = v["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 3);
    let p0 = &partitions[0];
    assert_eq!(p0["topic"], "orders");
    // broker-1 crashed; broker-2, next in the ISR, took over in a new leader epoch.
    assert_eq!(p0["leader"], "broker-2");
    assert_eq!(p0["leader_epoch"], 1);
    let hw = p0["high_watermark"].as_u64().expect("hw");
    assert!(hw > 1000, "{p0}");
    for (broker, leo) in p0["log_end_offsets"].as_object().expect("leos") {
        assert_eq!(leo.as_u64(), Some(hw), "{broker} caught up by the end");
    }
    assert!(
        p0["isr_changes"].as_u64() >= Some(2),
        "out of the ISR and back"
    );
    let c = &v["clients"];
    assert!(c["records_acked_acks_all"].as_u64() > Some(10_000), "{c}");
    assert_eq!(c["acked_writes_lost"], 0);
    // The consumer read every acked record but the last few, acknowledged as the run ended.
    let (read, acked) = (
        c["records_read"].as_u64(),
        c["records_acked_acks_all"].as_u64(),
    );
    assert!(
        read.zip(acked).is_some_and(|(r, a)| r <= a && r + 10 >= a),
        "{c}"
    );
    // The partition change is in the KRaft timeline 9 s after broker-1's last heartbeat.
    let change = v["kraft"]["partitions"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["leader"] == "broker-2" && e["partition"] == 0)
        .expect("orders-0 moved to broker-2");
    let t = change["time_ms"].as_f64().expect("time");
    assert!((22_000.0..24_100.0).contains(&t), "moved at {t} ms");
}
