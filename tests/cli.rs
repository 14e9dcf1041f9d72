//! The binary's contract: commands, exit codes, JSON fields and output files.

mod support;

use support::{kafkasim, stderr, stdout, temp_dir};

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
        (
            // Faster than one record per simulated microsecond: the clock could not move.
            r#"{"name": "x", "cluster": {"brokers": 3, "topics": [{"name": "t"}]},
                "workload": {"producers": [{"topic": "t", "records_per_s": 2000000}]}}"#,
            "workload.producers[0].records_per_s: 2000000 is more than 1000000",
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

/// A network latency of 0 used to hold the clock at t = 0 (clients asked for metadata again on
/// every answer): the clients' metadata backoff lets it run to its end.
#[test]
fn a_zero_latency_network_runs_to_the_end() {
    let dir = temp_dir("zero-latency");
    let path = dir.join("zero.json");
    let text = r#"{"name": "zero-latency", "duration_ms": 5000,
        "network": {"latency": {"kind": "fixed", "us": 0}},
        "cluster": {"brokers": 3, "topics": [{"name": "t", "replication_factor": 3}]},
        "workload": {"producers": [{"topic": "t", "records_per_s": 10}],
                     "consumers": [{"topic": "t"}]}}"#;
    std::fs::write(&path, text).unwrap();
    let o = kafkasim(&["run", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["stop_reason"], "time_limit");
    assert_eq!(summary["sim_time_ms"], 5000);
    assert!(
        summary["clients"]["records_acked_acks_all"]
            .as_u64()
            .unwrap()
            > 0
    );
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
    assert_eq!(
        names,
        [
            "engine-pingpong",
            "engine-timers",
            "cluster-small",
            "cluster-faulty",
            "cluster-large",
            "cluster-huge",
            "fuzz-throughput",
            "explore-throughput"
        ]
    );
    for l in &lines {
        for field in [
            "events",
            "wall_s",
            "events_per_s",
            "sim_s_per_wall_s",
            "peak_rss_bytes",
        ] {
            assert!(l.get(field).is_some(), "missing {field} in {l}");
        }
        assert!(l["events"].as_u64().unwrap() > 0, "{l}");
    }
    for l in &lines[..2] {
        assert!(l.get("ratio_to_baseline").is_some(), "{l}");
        assert!(l.get("baseline_events_per_s").is_some(), "{l}");
    }
    assert_eq!(lines[0]["events"], 100_000);
    // The cluster workloads run the correct protocol with every checker on: data is
    // acknowledged, nothing is violated, and the faulty one really has faults.
    for l in &lines[2..6] {
        assert!(l["records_acked"].as_u64().unwrap() > 0, "{l}");
        assert_eq!(l["violations"], serde_json::json!([]), "{l}");
        assert_eq!(l["finished"], true, "{l}");
    }
    assert_eq!(lines[2]["faults"], 0);
    assert!(lines[3]["faults"].as_u64().unwrap() > 0, "{}", lines[3]);
    assert!(lines[6]["seeds_per_min"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[6]["failed_seeds"], 0);
    // Exploration's line: branches happened, forks were made and cost something.
    assert!(
        lines[7]["trials_per_min"].as_f64().unwrap() > 0.0,
        "{}",
        lines[7]
    );
    assert!(lines[7]["forks"].as_u64().unwrap() > 0, "{}", lines[7]);
    assert!(lines[7]["fork_us"].as_f64().unwrap() > 0.0, "{}", lines[7]);
    assert_eq!(lines[7]["failed_trials"], 0);
}

#[test]
fn bench_stops_a_cluster_workload_at_its_memory_limit() {
    // The watchdog is asked every 65,536 events; the quick faulty run has several times that.
    let o = kafkasim(&[
        "bench",
        "cluster-faulty",
        "--quick",
        "--runs",
        "1",
        "--memory-limit",
        "1MiB",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let line: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(line["finished"], false, "{line}");
    assert!(line["events"].as_u64().unwrap() > 0, "{line}");
    assert!(
        stderr(&o).contains("--memory-limit 1.0 MiB"),
        "{}",
        stderr(&o)
    );
    let bad = kafkasim(&["bench", "cluster-small", "--memory-limit-gib=0"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("positive number of GiB"),
        "{}",
        stderr(&bad)
    );
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
        "scenarios/teach/04-controller-failover.json",
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
fn broker_fencing_json_shows_the_fence_once_the_session_has_expired() {
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
    // Crash at 10 s; heartbeats every 2 s; the session expires 9 s after the last one, in
    // (17 s, 19 s], and the periodic check (every 1.125 s) fences it at its next run.
    assert!(t > 17_000.0 && t <= 20_200.0, "fenced at {t}");
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
        "scenarios/bugs/prevote-false.json",
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
    // With pre-vote on (the scenario's `without` run), the same story keeps its leader.
    let ok = json_run(&[
        "run",
        "scenarios/bugs/prevote-false.json",
        "--without-variants",
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

#[test]
fn check_runs_each_bug_scenario_with_and_without_its_variants() {
    let o = kafkasim(&["check", "scenarios/bugs", "--jobs", "2"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    let files = std::fs::read_dir("scenarios/bugs").expect("bugs/").count();
    assert!(files >= 10, "{files} bug scenarios");
    assert_eq!(lines.len(), files + 1, "{out}");
    assert_eq!(*lines.last().unwrap(), format!("{files} passed, 0 failed"));
    // Both runs are judged: the bug, then the fix on the same seed.
    let elr = lines
        .iter()
        .find(|l| l.contains("bugs/elr-false.json"))
        .expect("elr-false is checked");
    assert!(
        elr.contains("[elr=false] violated") && elr.contains("[modern protocol] all held"),
        "{elr}"
    );
}

/// Turning a variant's code path on for every run is a regression `check` must catch: the
/// bug scenario's fixed run then breaks the invariant the fix protects.
fn check_catches_a_lost_rule(scenario: &str, variant: &str, invariant: &str) {
    let o = kafkasim(&["check", scenario, "--force-variant", variant]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
    let line = out.lines().next().expect("one line");
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains(invariant), "{line}");
    // Without the forced variant the same file passes.
    assert_eq!(kafkasim(&["check", scenario]).status.code(), Some(0));
}

#[test]
fn check_fails_when_elr_is_gone() {
    check_catches_a_lost_rule(
        "scenarios/bugs/elr-false.json",
        "elr=false",
        "acked_durability",
    );
}

#[test]
fn check_fails_when_followers_truncate_to_their_hw_again() {
    check_catches_a_lost_rule(
        "scenarios/bugs/truncate-to-hw-on-follow.json",
        "truncate_to_hw_on_follow",
        "no_hw_based_loss",
    );
}

#[test]
fn check_fails_when_the_strict_min_isr_rule_is_gone() {
    check_catches_a_lost_rule(
        "scenarios/bugs/hw-advances-under-min-isr.json",
        "hw_advances_under_min_isr",
        "true_hw_monotonic",
    );
}

#[test]
fn check_fails_when_kip_279_is_gone() {
    check_catches_a_lost_rule(
        "scenarios/bugs/offsets-for-epoch-v0.json",
        "offsets_for_epoch_v0",
        "log_matching",
    );
}

#[test]
fn check_fails_when_check_quorum_is_gone() {
    check_catches_a_lost_rule(
        "scenarios/bugs/no-check-quorum.json",
        "no_check_quorum",
        "eventually_unfenced",
    );
}

#[test]
fn check_reports_a_broken_file_by_field_and_still_runs_the_rest() {
    let dir = temp_dir("check-broken");
    std::fs::copy(
        "scenarios/engine/partition-and-crash.json",
        dir.join("a-good.json"),
    )
    .expect("copy");
    std::fs::write(
        dir.join("b-broken.json"),
        r#"{"name": "broken", "cluster": {"brokers": 3}, "faults": [{"at_ms": 1000, "crash": "broker-9"}]}"#,
    )
    .expect("write");
    let junit = dir.join("junit.xml");
    let o = kafkasim(&[
        "check",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("pass  "), "{out}");
    let bad = out
        .lines()
        .find(|l| l.starts_with("ERROR"))
        .expect("error line");
    assert!(
        bad.contains("b-broken.json")
            && bad.contains("faults[0].crash")
            && bad.contains("broker-9"),
        "{bad}"
    );
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains(r#"tests="2" failures="0" errors="1""#),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert!(xml.contains("<error message="), "{xml}");
}

#[test]
fn check_speaks_json_lines_and_rejects_unknown_variants_and_paths() {
    let o = kafkasim(&[
        "check",
        "scenarios/bugs/allow-unclean.json",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    let s = &lines[0];
    assert_eq!(s["passed"], true);
    assert_eq!(s["runs"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        s["runs"][0]["variants"],
        serde_json::json!(["allow_unclean"])
    );
    assert!(
        s["runs"][0]["violated"]
            .as_array()
            .unwrap()
            .contains(&"acked_durability".into())
    );
    assert_eq!(s["runs"][1]["violated"], serde_json::json!([]));
    assert_eq!(lines[1]["passed"], 1);
    assert_eq!(lines[1]["failed"], 0);

    let o = kafkasim(&["check", "scenarios/bugs", "--force-variant", "no_such"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no_such"), "{}", stderr(&o));
    let o = kafkasim(&["check", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/dir"), "{}", stderr(&o));
}

#[test]
fn writes_lost_outside_the_durability_promise_are_counted_and_explained_not_hidden() {
    // Every replica loses power: Kafka does not promise to keep acknowledged writes then, so
    // no invariant fails, but the summary, the JSON and explain all say what was lost and why.
    let scenario = "scenarios/replication/all-replicas-lose-power.json";
    let v = json_run(&["run", scenario, "--format", "json"]);
    assert_eq!(v["expectations_met"], true, "{v}");
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(0));
    let lost = v["clients"]["acked_writes_lost_outside_promise"]
        .as_u64()
        .unwrap_or(0);
    assert!(lost > 0, "{}", v["clients"]);
    assert_eq!(v["clients"]["acked_writes_lost"].as_u64(), Some(lost));
    let losses = v["losses_outside_promise"].as_array().expect("losses");
    let explanation = losses[0]["explanation"].as_str().unwrap_or("");
    assert!(
        explanation.contains("last-known-leader election") && explanation.contains("orders-0"),
        "{explanation}"
    );
    let text = stdout(&kafkasim(&["run", scenario]));
    assert!(
        text.contains(&format!(
            "{lost} acknowledged acks=all record(s) lost outside Kafka's durability promise"
        )),
        "{text}"
    );
    let told = stdout(&kafkasim(&["explain", scenario]));
    assert!(
        told.contains(&format!(
            "{lost} acknowledged write(s) were lost outside Kafka's durability promise"
        )),
        "{told}"
    );
}

/// Numeric flags where 0 means nothing are refused, not run as 1; a negative number gets a
/// plain message; a seed range cannot run past the last seed.
#[test]
fn zero_negative_and_overflowing_numeric_flags_are_refused() {
    let cases: [&[&str]; 6] = [
        &["check", SCENARIO, "--jobs", "0"],
        &["check", SCENARIO, "--jobs", "-1"],
        &["fuzz", "--seeds", "0"],
        &["bench", "--runs", "0"],
        &["run", SCENARIO, "--max-events", "0"],
        &["fuzz", "--seeds", "2", "--start", "18446744073709551615"],
    ];
    for args in cases {
        let o = kafkasim(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("expected a positive whole number") || err.contains("past the last seed"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("-- -1"), "{args:?}: {err}");
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = kafkasim(&["--version"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = stdout(&o);
    let commit = line
        .trim()
        .strip_prefix(concat!("kafkasim ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}

#[test]
fn check_speaks_github_annotations_on_the_failing_file() {
    let dir = temp_dir("github-format");
    let file = dir.join("quiet.json");
    // Expects a loss that a run without faults never has: it fails.
    let doc = serde_json::json!({"name": "quiet", "duration_ms": 2000,
        "cluster": {"brokers": 1}, "expect": {"violate": ["acked_durability"]}});
    std::fs::write(&file, doc.to_string()).unwrap();
    let path = file.to_str().unwrap();
    let o = kafkasim(&[
        "check",
        path,
        "scenarios/teach/01-leader-failover.json",
        "--format",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(annotations.len(), 1, "{out}");
    // The file is named from the working directory (the checkout) when it lies under it.
    let shown = file
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map_or(path, |p| p.to_str().unwrap());
    let escaped = shown.replace(':', "%3A").replace(',', "%2C");
    assert!(
        annotations[0].starts_with(&format!(
            "::error file={escaped},title=quiet%3A expectations not met::"
        )),
        "{}",
        annotations[0]
    );
    assert!(
        annotations[0].contains("did not violate acked_durability"),
        "{}",
        annotations[0]
    );
    assert!(
        annotations[0].contains("%0AReplay: kafkasim explain"),
        "{}",
        annotations[0]
    );
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn json_outputs_carry_their_format_version_first() {
    let o = kafkasim(&["run", SCENARIO, "--format", "json"]);
    let text = stdout(&o);
    assert!(
        text.starts_with("{\"format_version\":1,"),
        "{}",
        &text[..80.min(text.len())]
    );
    let o = kafkasim(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["format_version"], 1);
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = kafkasim(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let text = stdout(&o);
        for command in [
            "run", "explain", "check", "fuzz", "shrink", "plot", "schema",
        ] {
            assert!(text.contains(command), "{shell} completion lacks {command}");
        }
    }
    let o = kafkasim(&["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(
        page.starts_with(".ie") || page.contains(".TH kafkasim"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("fuzz") && page.contains("check"), "{page}");
    let dir = temp_dir("man");
    let o = kafkasim(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for page in [
        "kafkasim.1",
        "kafkasim-run.1",
        "kafkasim-fuzz.1",
        "kafkasim-check.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}: {text}");
    }
}

/// Runs kafkasim under a pseudo-terminal (util-linux `script`), as a person at a terminal
/// does; stdout and stderr come back together. `None` where `script` is missing.
fn on_a_terminal(env: &str, args: &str) -> Option<String> {
    let command = format!("{env} {} {args}", env!("CARGO_BIN_EXE_kafkasim"));
    let o = support::external_tool(
        "script",
        &["-qec", &command, "/dev/null"],
        "util-linux's `script`",
    )?;
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn colour_follows_the_terminal_no_color_and_the_flag() {
    const GREEN: &str = "\x1b[32m";
    let one = "check scenarios/teach/01-leader-failover.json";
    // In a pipe: plain, unless asked for.
    let piped = kafkasim(&["check", "scenarios/teach/01-leader-failover.json"]);
    assert!(!stdout(&piped).contains('\x1b'), "{}", stdout(&piped));
    let forced = kafkasim(&[
        "check",
        "scenarios/teach/01-leader-failover.json",
        "--color",
        "always",
    ]);
    assert!(stdout(&forced).contains(GREEN), "{}", stdout(&forced));
    let Some(terminal) = on_a_terminal("", one) else {
        return;
    };
    assert!(terminal.contains(GREEN), "{terminal:?}");
    let no_color = on_a_terminal("NO_COLOR=1", one).unwrap();
    assert!(!no_color.contains(GREEN), "{no_color:?}");
    assert!(no_color.contains("pass "), "{no_color:?}");
    let never = on_a_terminal("", &format!("{one} --color never")).unwrap();
    assert!(!never.contains(GREEN), "{never:?}");
}

#[test]
fn progress_shows_on_a_terminal_and_not_in_a_pipe_or_with_quiet() {
    let piped = kafkasim(&["check", "scenarios/teach", "--jobs", "2"]);
    assert_eq!(stderr(&piped), "", "no progress in a pipe");
    let Some(terminal) = on_a_terminal("", "check scenarios/teach --jobs 2") else {
        return;
    };
    assert!(terminal.contains(" files "), "a progress bar: {terminal:?}");
    let quiet = on_a_terminal("", "check scenarios/teach --jobs 2 --quiet").unwrap();
    assert!(!quiet.contains(" files "), "{quiet:?}");
}

#[test]
fn quiet_check_prints_only_what_did_not_pass_and_the_count() {
    let dir = temp_dir("quiet-check");
    std::fs::copy(
        "scenarios/teach/01-leader-failover.json",
        dir.join("a.json"),
    )
    .unwrap();
    let doc = serde_json::json!({"name": "quiet", "duration_ms": 2000,
        "cluster": {"brokers": 1}, "expect": {"violate": ["acked_durability"]}});
    std::fs::write(dir.join("b.json"), doc.to_string()).unwrap();
    let o = kafkasim(&["check", dir.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("FAIL ") && lines[0].contains("b.json"),
        "{out}"
    );
    assert_eq!(lines[1], "1 passed, 1 failed");
}

#[test]
fn explain_wraps_to_the_terminal_and_keeps_lines_whole_in_a_pipe() {
    let piped = stdout(&kafkasim(&["explain", "teach/05-zombie-leader"]));
    let longest = piped.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest > 200, "a pipe gets whole lines ({longest})");
    let Some(terminal) = on_a_terminal("COLUMNS=80", "explain teach/05-zombie-leader") else {
        return;
    };
    let lines: Vec<&str> = terminal.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(
        lines.iter().all(|l| l.chars().count() <= 80),
        "{}",
        lines.iter().find(|l| l.chars().count() > 80).unwrap()
    );
    // A moment's continuation lines sit under its text, after the time column.
    let at = lines
        .iter()
        .position(|l| l.starts_with("t=15.000s    fault: the network splits"))
        .expect("the partition");
    assert!(
        lines[at + 1].starts_with(&" ".repeat(13)),
        "{}",
        lines[at + 1]
    );
    // Nothing is lost in the wrapping: the words are the pipe's.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(&lines.join("\n")), words(&piped));
}

/// `kafkasim compare` refuses what it cannot compare, naming why (exit 2): a scenario with no
/// `without` block and no `--set`, a key no config section takes, a value of the wrong kind.
#[test]
fn compare_refuses_what_it_cannot_compare() {
    let dir = temp_dir("compare-refused");
    let out = dir.to_str().unwrap();
    for (args, message) in [
        (
            &["teach/01-leader-failover"][..],
            "compare needs --set KEY=VALUE, or a scenario with a \"without\" block",
        ),
        (
            &["teach/01-leader-failover", "--set", "no.such.key=1"][..],
            "--set no.such.key: no config section of",
        ),
        (
            &["teach/01-leader-failover", "--set", "acks=banana"][..],
            "workload.producers[0].config: \"acks\": expected",
        ),
        (
            &["teach/01-leader-failover", "--set", "acks"][..],
            "--set \"acks\": expected KEY=VALUE",
        ),
    ] {
        let mut all = vec!["compare"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", out]);
        let o = kafkasim(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    assert!(!dir.join("compare.html").exists());
}
