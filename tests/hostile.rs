//! Hostile input: what a careless or malicious user can hand kafkasim. Every case runs the
//! binary under a time limit (20 s) and an address-space limit (1 GiB unless the case says),
//! and states the exit code and a fragment of the message it must give. A valid input must
//! finish a bounded run (exit 0 or 1); a bad one must exit 2 naming the file or flag and the
//! field. Nothing may hang, exhaust memory or panic.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::temp_dir;

const TIME_LIMIT: Duration = Duration::from_secs(20);
const GIB_KB: u64 = 1 << 20;

/// How one capped run ended.
#[derive(Debug)]
struct Ended {
    code: Option<i32>,
    stderr: String,
    stdout: String,
}

/// Runs the binary from the repository root with `args`, under `ulimit -v memory_kb` and
/// [`TIME_LIMIT`]. Panics (failing the test) if it does not end in time.
fn capped(args: &[&str], memory_kb: u64) -> Ended {
    let started = Instant::now();
    let dir = temp_dir(&format!("hostile-io-{}", unique()));
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {memory_kb} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("sh runs");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kafkasim {args:?} did not end within {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    let ended = Ended {
        code: status.code(),
        stderr: read(&err),
        stdout: read(&out),
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !ended.stderr.contains("panicked"),
        "kafkasim {args:?} panicked: {}",
        ended.stderr
    );
    ended
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::process::id() as u64 * 1_000_000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Asserts exit 2 with every fragment in the message.
#[track_caller]
fn refused(e: &Ended, fragments: &[&str]) {
    assert_eq!(e.code, Some(2), "expected exit 2: {e:?}");
    for f in fragments {
        assert!(e.stderr.contains(f), "expected {f:?} in: {}", e.stderr);
    }
}

/// Writes `text` to a file of this name in a fresh folder; returns its path.
fn file(name: &str, text: &[u8]) -> PathBuf {
    let dir = temp_dir(&format!("hostile-{}", unique()));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small scenario with every kind of numeric field: two seconds, three brokers, a producer,
/// a consumer, faults and a note.
fn base() -> Value {
    json!({
        "name": "hostile",
        "duration_ms": 2000,
        "cluster": {
            "controllers": 1,
            "brokers": 3,
            "topics": [{"name": "t", "partitions": 2, "replication_factor": 3,
                        "config": {"min.insync.replicas": 2}}],
            "config": {}
        },
        "network": {"latency": {"kind": "uniform", "min_us": 500, "max_us": 2000},
                    "disconnect_detection_ms": 1000},
        "workload": {
            "producers": [{"topic": "t", "records_per_s": 100, "count": 1, "start_ms": 0,
                           "stop_ms": 1500, "config": {}}],
            "consumers": [{"topic": "t", "count": 1, "start_ms": 0, "config": {}}]
        },
        "faults": [
            {"at_ms": 500, "crash": "broker-1"},
            {"at_ms": 600, "slow": {"node": "broker-2", "extra_ms": 10}},
            {"at_ms": 1000, "restart": "broker-1"}
        ],
        "notes": [{"at_ms": 100, "text": "n"}]
    })
}

fn run_doc(doc: &Value, extra: &[&str]) -> (Ended, PathBuf) {
    let path = file("s.json", doc.to_string().as_bytes());
    let mut args = vec!["run", s(&path)];
    args.extend_from_slice(extra);
    (capped(&args, GIB_KB), path)
}

// ---- the cases the issue lists ----

#[test]
fn unbounded_sizes_are_refused_up_front_naming_the_field() {
    let mut d = base();
    d["duration_ms"] = json!(u64::MAX);
    refused(&run_doc(&d, &[]).0, &["s.json", "duration_ms", "7 days"]);

    let mut d = base();
    d["cluster"]["topics"][0]["partitions"] = json!(100_000);
    d["cluster"]["topics"][0]["replication_factor"] = json!(1);
    refused(
        &run_doc(&d, &[]).0,
        &["cluster.topics[0].partitions", "10000 partition replicas"],
    );

    let mut d = base();
    d["cluster"]["topics"][0]["partitions"] = json!(10_000_000);
    refused(
        &run_doc(&d, &[]).0,
        &["cluster.topics[0].partitions", "100000"],
    );

    let mut d = base();
    d["workload"]["producers"][0]["records_per_s"] = json!(2_000_000);
    refused(
        &run_doc(&d, &[]).0,
        &["workload.producers[0].records_per_s", "1000000"],
    );

    let mut d = base();
    d["workload"]["producers"][0]["config"]["linger.ms"] = json!(u64::MAX);
    refused(&run_doc(&d, &[]).0, &["linger.ms", "a Kafka LONG"]);
}

#[test]
fn a_run_that_would_outgrow_the_budgets_is_refused_with_the_estimate_and_the_flag() {
    let mut d = base();
    d["duration_ms"] = json!(600_000_000);
    d["workload"]["producers"][0]["records_per_s"] = json!(1_000_000);
    d["workload"]["producers"][0]["count"] = json!(10);
    d["workload"]["producers"][0]
        .as_object_mut()
        .unwrap()
        .remove("stop_ms");
    refused(
        &run_doc(&d, &[]).0,
        &["s.json", "of memory", "--memory-limit"],
    );

    let mut d = base();
    d["duration_ms"] = json!(600_000);
    let (e, _) = run_doc(&d, &["--work-limit", "1000"]);
    refused(&e, &["s.json", "steps of work", "--work-limit"]);
    // The same scenario within the budget runs.
    assert!(matches!(run_doc(&d, &[]).0.code, Some(0 | 1)));
}

#[test]
fn a_network_without_latency_still_moves_the_clock_to_the_end() {
    // With no latency at all a request and its answer share an instant; Kafka's own backoffs
    // (metadata refresh, retries, fetch waits) must still move the clock to the run's end.
    let mut d = base();
    d["network"]["latency"] = json!({"kind": "fixed", "us": 0});
    let (e, _) = run_doc(&d, &["--format", "json"]);
    assert!(matches!(e.code, Some(0 | 1)), "{e:?}");
    let summary: Value = serde_json::from_str(&e.stdout).expect("the JSON summary");
    assert_eq!(summary["stop_reason"], "time_limit", "{summary}");
    assert_eq!(summary["sim_time_ms"], 2000, "{summary}");
}

#[test]
fn what_is_not_a_scenario_file_is_refused_before_it_is_read() {
    refused(
        &capped(&["run", "/dev/zero"], GIB_KB),
        &["/dev/zero", "not a regular file"],
    );
    let dir = temp_dir("hostile-a-directory.json");
    refused(&capped(&["run", s(&dir)], GIB_KB), &["a directory"]);
    let big = file("big.json", &vec![b' '; (64 << 20) + 1]);
    refused(&capped(&["run", s(&big)], GIB_KB), &["big.json", "64 MiB"]);
    let binary = file("bin.json", &[0xff, 0xfe, 0x00, 0x7b]);
    refused(
        &capped(&["run", s(&binary)], GIB_KB),
        &["bin.json", "not UTF-8"],
    );
}

#[test]
fn weak_messages_are_now_plain() {
    let array = file("array.json", b"[{\"name\": \"x\"}]");
    refused(
        &capped(&["run", s(&array)], GIB_KB),
        &["array.json", "(top level)", "found an array"],
    );
    let yaml = file("s.yaml", b"name: x\ncluster:\n  brokers: 3\n");
    refused(&capped(&["run", s(&yaml)], GIB_KB), &["s.yaml:1:", "YAML"]);
    let empty = file("empty.json", b"  \n");
    refused(
        &capped(&["run", s(&empty)], GIB_KB),
        &["empty.json", "empty"],
    );
    // A byte-order mark is dropped, as RFC 8259 allows.
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(base().to_string().as_bytes());
    let bom = file("bom.json", &bom);
    assert!(matches!(
        capped(&["run", s(&bom)], GIB_KB).code,
        Some(0 | 1)
    ));
    refused(
        &capped(
            &[
                "shrink",
                "scenarios/teach/08-unclean-leader-election.json",
                "--invariant",
                "bogus",
            ],
            GIB_KB,
        ),
        &["--invariant", "unknown invariant \"bogus\""],
    );
    refused(
        &capped(
            &[
                "shrink",
                "scenarios/teach/08-unclean-leader-election.json",
                "--invariant",
                "acked_durabilty",
            ],
            GIB_KB,
        ),
        &["did you mean"],
    );
}

#[test]
fn flags_refuse_zero_negative_and_overflowing_ranges() {
    let out = temp_dir("hostile-flags");
    let o = s(&out);
    for (args, fragments) in [
        (
            vec![
                "fuzz",
                "--seeds",
                "2",
                "--start",
                "18446744073709551615",
                "--out",
                o,
            ],
            vec!["--start", "past the last seed"],
        ),
        (
            vec!["fuzz", "--seeds", "0", "--out", o],
            vec!["--seeds", "positive whole number"],
        ),
        (
            vec!["fuzz", "--seeds", "-3", "--out", o],
            vec!["positive whole number"],
        ),
        (
            vec!["fuzz", "--seeds", "1.5", "--out", o],
            vec!["positive whole number"],
        ),
        (
            vec!["check", "scenarios/teach", "--jobs", "0"],
            vec!["--jobs", "positive whole number"],
        ),
        (
            vec!["bench", "--runs", "0"],
            vec!["--runs", "positive whole number"],
        ),
        (
            vec![
                "run",
                "scenarios/teach/01-leader-failover.json",
                "--max-events",
                "0",
            ],
            vec!["--max-events"],
        ),
        (
            vec![
                "run",
                "scenarios/teach/01-leader-failover.json",
                "--memory-limit",
                "lots",
            ],
            vec!["--memory-limit", "512MiB"],
        ),
        (
            vec![
                "run",
                "scenarios/teach/01-leader-failover.json",
                "--work-limit",
                "-1",
            ],
            vec!["--work-limit", "positive whole number"],
        ),
        (
            vec![
                "plot",
                "nope.jsonl",
                "--out",
                "x.svg",
                "--memory-limit",
                "0",
            ],
            vec!["--memory-limit"],
        ),
    ] {
        refused(&capped(&args, GIB_KB), &fragments);
    }
}

#[test]
fn a_sweep_of_two_to_the_64_seeds_starts_at_once_and_stops_on_its_budget() {
    let out = temp_dir("hostile-huge-sweep");
    let e = capped(
        &[
            "fuzz",
            "--seeds",
            "18446744073709551615",
            "--time-budget",
            "1",
            "--no-shrink",
            "--jobs",
            "1",
            "--out",
            s(&out),
        ],
        GIB_KB,
    );
    assert!(matches!(e.code, Some(0 | 1)), "{e:?}");
    assert!(e.stdout.contains("not run"), "{}", e.stdout);
}

#[test]
fn a_cut_short_results_line_is_repaired_by_the_next_sweep_with_or_without_resume() {
    let out = temp_dir("hostile-cut-sweep");
    let results = out.join("results.jsonl");
    std::fs::write(&results, b"{\"seed\": 3, \"outc").unwrap();
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "fuzz",
            "--seeds",
            "2",
            "--no-shrink",
            "--jobs",
            "1",
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        capped(&args, GIB_KB)
    };
    let first = sweep(&[]);
    assert!(matches!(first.code, Some(0 | 1)), "{first:?}");
    assert!(first.stderr.contains("cut-short"), "{}", first.stderr);
    let text = std::fs::read_to_string(&results).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{text}"
    );
    let again = sweep(&["--resume"]);
    assert!(matches!(again.code, Some(0 | 1)), "{again:?}");
}

#[test]
fn a_failed_write_leaves_no_temporary_file() {
    let dir = temp_dir("hostile-junit-dir");
    let junit = dir.join("report.xml");
    std::fs::create_dir_all(&junit).unwrap();
    let e = capped(
        &[
            "check",
            "scenarios/teach/01-leader-failover.json",
            "--junit",
            s(&junit),
        ],
        GIB_KB,
    );
    refused(&e, &["report.xml", "cannot write"]);
    assert_eq!(entries(&dir), ["report.xml"]);

    let dir = temp_dir("hostile-shrink-dir");
    let min = dir.join("found.min.json");
    std::fs::create_dir_all(&min).unwrap();
    let e = capped(
        &[
            "shrink",
            "scenarios/bugs/elr-false.json",
            "--max-runs",
            "3",
            "--out",
            s(&min),
        ],
        GIB_KB,
    );
    refused(&e, &["found.min.json", "cannot write"]);
    assert_eq!(entries(&dir), ["found.min.json"]);
}

/// The names in a folder, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn run_out_over_an_earlier_run_keeps_no_file_of_it() {
    let dir = temp_dir("hostile-rerun");
    for name in ["report.json", "report.html", "timeline.svg", "timeline.png"] {
        std::fs::write(dir.join(name), b"from an earlier run").unwrap();
    }
    // A run refused before it starts leaves the earlier run alone ...
    let e = capped(
        &[
            "run",
            "scenarios/teach/01-leader-failover.json",
            "--out",
            s(&dir),
            "--work-limit",
            "1",
        ],
        GIB_KB,
    );
    refused(&e, &["--work-limit"]);
    assert_eq!(
        std::fs::read(dir.join("report.json")).unwrap(),
        b"from an earlier run"
    );
    // ... and one that starts replaces all of it.
    let e = capped(
        &[
            "run",
            "scenarios/teach/01-leader-failover.json",
            "--out",
            s(&dir),
        ],
        GIB_KB,
    );
    assert_eq!(e.code, Some(0), "{e:?}");
    for name in ["report.json", "report.html", "timeline.svg", "timeline.png"] {
        assert_ne!(
            std::fs::read(dir.join(name)).unwrap(),
            b"from an earlier run",
            "{name}"
        );
    }
}

// ---- traces ----

const START: &str =
    r#"{"t_us":0,"type":"start","seed":7,"nodes":["controller-1","broker-1"],"topics":["t"]}"#;

fn plot(trace: &Path, memory_kb: u64) -> Ended {
    let svg = trace.with_extension("svg");
    capped(&["plot", s(trace), "--out", s(&svg)], memory_kb)
}

#[test]
fn plot_draws_a_trace_ending_at_the_last_microsecond() {
    let end = format!(
        r#"{{"t_us":{},"type":"end","reason":"time_limit"}}"#,
        u64::MAX
    );
    let trace = file("end.jsonl", format!("{START}\n{end}\n").as_bytes());
    let e = plot(&trace, GIB_KB);
    assert_eq!(e.code, Some(0), "{e:?}");
}

#[test]
fn plot_refuses_what_a_run_cannot_have_written_with_the_line() {
    let up =
        |t: u64, node: u64| format!(r#"{{"t_us":{t},"type":"up","node":{node},"incarnation":0}}"#);
    let backwards = file(
        "back.jsonl",
        format!("{START}\n{}\n{}\n", up(5, 1), up(3, 1)).as_bytes(),
    );
    refused(
        &plot(&backwards, GIB_KB),
        &["back.jsonl", "line 3", "time goes backwards"],
    );
    let stranger = file(
        "stranger.jsonl",
        format!("{START}\n{}\n", up(5, 9)).as_bytes(),
    );
    refused(
        &plot(&stranger, GIB_KB),
        &["stranger.jsonl", "line 2", "node 9"],
    );
    refused(
        &plot(Path::new("/dev/zero"), GIB_KB),
        &["/dev/zero", "not a regular file"],
    );
    let long_line = file(
        "long.jsonl",
        format!("{START}\n{}\n", "x".repeat(17 << 20)).as_bytes(),
    );
    refused(
        &plot(&long_line, GIB_KB),
        &["long.jsonl", "line 2", "longer than"],
    );
}

#[test]
fn plot_streams_a_trace_larger_than_its_memory() {
    // 300 MB of consumer polls (which the reports drop), plotted in 200 MiB of address space:
    // reading the file whole could not fit.
    let poll = r#"{"t_us":1,"type":"node","node":1,"event":{"event":"poll","tp":{"topic":0,"partition":0},"batch":{"base_offset":0,"count":1,"leader_epoch":1,"producer_id":1,"base_sequence":0,"idempotent":true}}}"#;
    let dir = temp_dir("hostile-big-trace");
    let path = dir.join("big.jsonl");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(w, "{START}").unwrap();
        let lines = (300 << 20) / (poll.len() + 1);
        for _ in 0..lines {
            writeln!(w, "{poll}").unwrap();
        }
    }
    let e = plot(&path, 200 << 10);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(e.code, Some(0), "{e:?}");
}

// ---- every numeric field, at every edge ----

/// The numeric fields of [`base`], by JSON pointer.
const FIELDS: &[&str] = &[
    "/seed",
    "/duration_ms",
    "/cluster/controllers",
    "/cluster/brokers",
    "/cluster/topics/0/partitions",
    "/cluster/topics/0/replication_factor",
    "/cluster/topics/0/config/min.insync.replicas",
    "/cluster/topics/0/config/flush.messages",
    "/network/latency/min_us",
    "/network/latency/max_us",
    "/network/disconnect_detection_ms",
    "/workload/producers/0/records_per_s",
    "/workload/producers/0/count",
    "/workload/producers/0/start_ms",
    "/workload/producers/0/stop_ms",
    "/workload/producers/0/config/linger.ms",
    "/workload/producers/0/config/request.timeout.ms",
    "/workload/producers/0/config/delivery.timeout.ms",
    "/workload/producers/0/config/retry.backoff.ms",
    "/workload/producers/0/config/retries",
    "/workload/producers/0/config/max.in.flight.requests.per.connection",
    "/workload/consumers/0/count",
    "/workload/consumers/0/start_ms",
    "/workload/consumers/0/config/fetch.max.wait.ms",
    "/workload/consumers/0/config/request.timeout.ms",
    "/workload/consumers/0/config/retry.backoff.ms",
    "/faults/0/at_ms",
    "/faults/1/slow/extra_ms",
    "/notes/0/at_ms",
];

/// Broker config keys with numbers, set under `/cluster/config`: every such key kafkasim
/// knows, read from its resolved defaults.
fn broker_keys() -> Vec<String> {
    let defaults = serde_json::to_value(sim_core::config::BrokerConfig::default()).unwrap();
    let keys: Vec<String> = defaults
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_number())
        .map(|(k, _)| k.clone())
        .collect();
    assert!(keys.len() >= 20, "{keys:?}");
    keys
}

/// 0, 1, the edges of Kafka's INT and LONG, of the run length and of the producer rate, 2^63,
/// 2^64-1, negative, a fraction and a string.
fn edge_values() -> Vec<Value> {
    vec![
        json!(0),
        json!(1),
        json!(1_000_000),
        json!(1_000_001),
        json!(604_800_000),
        json!(604_800_001),
        json!(i32::MAX),
        json!(i32::MAX as u64 + 1),
        json!(i64::MAX),
        json!(1u64 << 63),
        json!(u64::MAX),
        json!(-1),
        json!(1.5),
        json!("7"),
    ]
}

/// Whether a refusal names the field at `pointer`: its key; for the latency model, whose
/// fields serde reads through its `kind` tag, the model; or the budget flag it passed.
fn names_the_field(message: &str, pointer: &str) -> bool {
    let key = pointer.rsplit('/').next().unwrap();
    message.contains(key)
        || (pointer.starts_with("/network/latency/") && message.contains("network.latency"))
        || message.contains("--work-limit")
        || (key == "duration_ms" && message.contains("after the end of the run"))
}

#[test]
fn every_numeric_field_at_every_edge_ends_cleanly() {
    let mut cases: Vec<(String, Value)> = Vec::new();
    for pointer in FIELDS {
        for v in edge_values() {
            let mut d = base();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let object = d.pointer_mut(parent).and_then(Value::as_object_mut);
            object
                .unwrap_or_else(|| panic!("{parent} in base"))
                .insert(key.to_string(), v.clone());
            cases.push((format!("{pointer} = {v}"), d));
        }
    }
    for key in broker_keys() {
        for v in edge_values() {
            let mut d = base();
            d["cluster"]["config"][&key] = v.clone();
            cases.push((format!("/cluster/config/{key} = {v}"), d));
        }
    }
    let cases = std::sync::Mutex::new(cases.into_iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some((label, doc)) = cases.lock().unwrap().next() else {
                        break;
                    };
                    // A budget that keeps each valid case short; refusals name it.
                    let (e, _) = run_doc(&doc, &["--work-limit", "20000000"]);
                    let pointer = label.split(' ').next().unwrap();
                    let ok = match e.code {
                        Some(0 | 1) => true,
                        Some(2) => {
                            e.stderr.contains("s.json") && names_the_field(&e.stderr, pointer)
                        }
                        _ => false,
                    };
                    if !ok {
                        failures.lock().unwrap().push(format!("{label}: {e:?}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
