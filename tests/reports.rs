//! Reports: golden files for the narration and the timeline SVG (byte-stable across runs),
//! the PNG, `kafkasim plot`'s errors, and the HTML report in a real browser when one is
//! installed.
//!
//! After an intended change to the narration or the plot, rewrite the golden files with
//! `KAFKASIM_BLESS=1 cargo test --test reports` and review the diff.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{kafkasim, run_out, temp_dir};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file, or rewrites it under `KAFKASIM_BLESS=1`.
fn assert_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("KAFKASIM_BLESS").is_some() {
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless it with KAFKASIM_BLESS=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from this run, first at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (if the change is intended: KAFKASIM_BLESS=1 cargo test --test reports)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn the_first_lessons_narration_matches_its_golden_file() {
    let out = kafkasim(&["explain", "scenarios/teach/01-leader-failover.json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    // What a learner must be able to read in it, whatever the wording around.
    for needle in [
        "fault: broker-1 dies (process crash",
        "controller-1 fenced broker-1 (broker epoch 1): no heartbeat for more than 9.0 s (broker.session.timeout.ms)",
        "orders-0: leader broker-1 -> broker-2 (epoch 0 -> 1), ISR [1,2,3] -> [2,3] by a clean election",
        "The checkers found no violation",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_golden("01-leader-failover.explain.txt", &text);
}

#[test]
fn a_violations_narration_ends_with_its_causal_chain() {
    let out = kafkasim(&["explain", "scenarios/bugs/no-leso-rule.json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (_, conclusion) = text.split_once("The checkers found").expect("a conclusion");
    let chain = conclusion
        .split("acked_durability (first at")
        .nth(1)
        .expect("acked_durability told");
    // The chain names the shutdowns and the election that lost the records, in order.
    let b1 = chain
        .find("put broker-1 in controlled shutdown")
        .expect("broker-1 shutdown");
    let join = chain.find("ISR [2,4] -> [2,4,3]").expect("broker-3 joins");
    let elected = chain
        .find("leader broker-2 -> broker-3")
        .expect("broker-3 elected");
    assert!(b1 < join && join < elected, "{chain}");
}

#[test]
fn a_controller_that_restarts_and_takes_over_is_not_told_as_registering_the_brokers_again() {
    // Every controller loses power; controller-1 returns without its memory, wins, and
    // applies the whole metadata log again before it acts as the active controller.
    let out = kafkasim(&["explain", "scenarios/kraft/all-controllers-restart.json"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("controller-1 won the KRaft election: leader of epoch 2"));
    for broker in ["broker-1", "broker-2", "broker-3"] {
        for what in ["registered", "unfenced"] {
            let told = text
                .lines()
                .filter(|l| l.starts_with("t=") && l.contains(&format!("{what} {broker} (")))
                .count();
            assert_eq!(told, 1, "{what} {broker} told {told} times in:\n{text}");
        }
    }
    // The replayed records are still in the trace, and `--verbose` shows them as lines.
    let verbose = kafkasim(&[
        "explain",
        "scenarios/kraft/all-controllers-restart.json",
        "--verbose",
    ]);
    let verbose = String::from_utf8(verbose.stdout).expect("utf-8");
    assert!(verbose.contains("broker_registered"), "{verbose}");
}

#[test]
fn run_out_writes_every_report_and_the_svg_is_byte_stable() {
    let a = temp_dir("reports-a");
    let b = temp_dir("reports-b");
    for dir in [&a, &b] {
        let out = kafkasim(&[
            "run",
            "scenarios/replication/leader-failover.json",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for f in [
            "report.json",
            "trace.jsonl",
            "timeline.svg",
            "timeline.png",
            "report.html",
        ] {
            assert!(dir.join(f).is_file(), "{f} missing");
        }
    }
    let svg = std::fs::read_to_string(a.join("timeline.svg")).unwrap();
    assert_eq!(
        svg,
        std::fs::read_to_string(b.join("timeline.svg")).unwrap()
    );
    // The lesson's story is on the picture: the crash, the fencing, the new leader.
    for needle in ["broker-1 crash", "crashed", "broker-2 e1", "ISR [2,3]"] {
        assert!(svg.contains(needle), "{needle:?} not drawn");
    }
    assert_golden("leader-failover.timeline.svg", &svg);
    let png = std::fs::read(a.join("timeline.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(png, std::fs::read(b.join("timeline.png")).unwrap());
    // Width 1400, in the IHDR chunk.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1400);
}

#[test]
fn plot_redraws_a_trace_and_refuses_what_it_cannot_draw() {
    let dir = temp_dir("reports-plot");
    let d = dir.to_str().unwrap();
    let out = kafkasim(&["run", "scenarios/kraft/broker-fencing.json", "--out", d]);
    assert_eq!(out.status.code(), Some(0));
    let trace = dir.join("trace.jsonl");
    let t = trace.to_str().unwrap();
    let svg = dir.join("again.svg");
    let out = kafkasim(&[
        "plot",
        t,
        "--out",
        svg.to_str().unwrap(),
        "--title",
        "again",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = std::fs::read_to_string(&svg).unwrap();
    assert!(again.contains("\nagain\n"), "the title is drawn");

    let bad = |args: &[&str], needle: &str| {
        let out = kafkasim(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    bad(
        &["plot", t, "--out", "x.gif"],
        "expected a file name ending in .svg or .png",
    );
    bad(
        &[
            "plot",
            t,
            "--out",
            svg.to_str().unwrap(),
            "--partitions",
            "nope-9",
        ],
        "no partition \"nope-9\"",
    );
    let broken = dir.join("broken.jsonl");
    std::fs::write(
        &broken,
        "{\"t_us\":0,\"type\":\"start\",\"seed\":1,\"nodes\":[],\"topics\":[]}\n{oops\n",
    )
    .unwrap();
    bad(
        &[
            "plot",
            broken.to_str().unwrap(),
            "--out",
            svg.to_str().unwrap(),
        ],
        "broken.jsonl: line 2: not JSON",
    );
}

/// The DOM Chromium rendered for `page` (after its script ran).
fn rendered_dom(browser: &Path, page: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page,
        ])
        .output()
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(browser) = support::browser::chromium_or_skip() else {
        return;
    };
    let dir = run_out("scenarios/bugs/no-leso-rule.json", "reports-html");
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }

    // The rows the filters below must leave: fencing moments that involve broker-1.
    let expected = html
        .lines()
        .filter(|l| l.starts_with("<tr class=\"k-fencing\""))
        .filter(|l| {
            l.split("data-nodes=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .is_some_and(|nodes| nodes.split(' ').any(|n| n == "broker-1"))
        })
        .count();
    assert!(expected > 0);
    let rows = html.matches("<tr class=\"k-").count();

    let url = format!("file://{}#node=broker-1&kind=fencing", page.display());
    let dom = rendered_dom(&browser, &url);
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the page's script did not finish"
    );
    // The script filled the filters from the table (the file itself has only "all").
    assert!(dom.contains("<option value=\"broker-1\">broker-1</option>"));
    assert!(dom.contains("<option value=\"orders-0\">orders-0</option>"));
    assert!(dom.contains("<option value=\"violation\">violation</option>"));
    // It applied the filters from the URL.
    let count = format!("data-shown=\"{expected}\">{expected} of {rows} events");
    assert!(
        dom.contains(&count),
        "expected {count:?} in the rendered DOM"
    );
    // The timeline and every violation with its chain are in the document.
    assert!(dom.contains("<svg"));
    assert_eq!(
        dom.matches("<article class=\"violation\"").count(),
        html.matches("<article class=\"violation\"").count()
    );
    assert!(dom.contains("Expectations met"));

    // Unfiltered, every row shows.
    let dom = rendered_dom(&browser, &format!("file://{}", page.display()));
    assert!(dom.contains(&format!("data-shown=\"{rows}\">{rows} of {rows} events")));
}

#[test]
fn report_json_holds_histories_verdicts_and_causal_chains() {
    let dir = run_out("scenarios/bugs/no-leso-rule.json", "reports-json");
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["report_version"], 2);
    assert_eq!(r["scenario"]["name"], "no-leso-rule");
    assert_eq!(r["summary"]["clients"]["acked_writes_lost"], 100);
    let verdict = |id: &str| {
        r["invariants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(verdict("acked_durability").as_deref(), Some("violated"));
    assert_eq!(verdict("single_leader_per_epoch").as_deref(), Some("held"));
    // The acked_durability violation carries the election that lost the records.
    let lost = r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["invariant"] == "acked_durability")
        .expect("acked_durability recorded");
    let chain: Vec<&str> = lost["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert!(
        chain
            .last()
            .is_some_and(|t| t.contains("leader broker-2 -> broker-3 (epoch 1 -> 2)")),
        "{chain:#?}"
    );
    // Histories: broker-2 shut down at 40 s; orders-0 led by broker-3 in epoch 2 from then.
    let broker2 = r["history"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "broker-2")
        .unwrap();
    assert!(
        broker2["segments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| { s["state"] == "shut_down" && s["from_us"].as_u64().unwrap() >= 40_000_000 })
    );
    let orders0 = &r["history"]["partitions"][0];
    assert_eq!(orders0["name"], "orders-0");
    assert!(orders0["segments"].as_array().unwrap().iter().any(|s| {
        s["leader"] == 3 && s["leader_epoch"] == 2 && s["from_us"].as_u64().unwrap() >= 40_000_000
    }));
}

/// Lessons 06 and 07 draw what they teach: a lane per producer with its acks level and the
/// outcomes of its sends, and (07) a high watermark frozen while the leader's LEO climbs.
#[test]
fn lessons_06_and_07_draw_the_acks_outcomes_and_a_frozen_hw() {
    let dir = run_out(
        "scenarios/teach/06-acks-tradeoffs.json",
        "reports-lesson-06",
    );
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    for lane in [
        "producer-1 acks=0",
        "producer-2 acks=1",
        "producer-3 acks=all",
    ] {
        assert!(svg.contains(lane), "{lane:?} not drawn");
    }
    // The notes are numbered on the plot and told under it.
    assert!(svg.contains("t=18.000s  broker-1 dies with those writes."));
    assert_golden("lesson-06.timeline.svg", &svg);

    let dir = run_out(
        "scenarios/teach/07-min-insync-replicas.json",
        "reports-lesson-07",
    );
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    assert_golden("lesson-07.timeline.svg", &svg);
    let text = std::fs::read_to_string(dir.join("trace.jsonl")).unwrap();
    let trace = reports::trace::Trace::parse_for_reports(&text).unwrap();
    let model = reports::model::build(&trace);
    // From the second crash's fencing (about 18 s) to broker-2's return (50 s) the ISR is
    // below min.insync.replicas: orders-0's HW stays put while broker-1, its leader, keeps
    // appending acks=1 writes.
    let p = model
        .partitions
        .iter()
        .find(|p| p.name == "orders-0")
        .unwrap();
    let at = |series: &[(u64, u64)], t_s: u64| {
        series
            .iter()
            .take_while(|(t, _)| *t <= t_s * 1_000_000)
            .last()
            .map_or(0, |(_, o)| *o)
    };
    let leo = &p.replica_leos[&1];
    assert_eq!(at(&p.hw, 25), at(&p.hw, 49), "the HW is frozen");
    assert!(
        at(leo, 49) > at(leo, 25) + 300,
        "broker-1's LEO climbs: {} -> {}",
        at(leo, 25),
        at(leo, 49)
    );
    let acks_all = model.producers.iter().find(|l| l.acks == ["all"]).unwrap();
    assert!(
        acks_all
            .sends
            .iter()
            .any(|(_, o)| *o == reports::model::SendOutcome::Fail),
        "acks=all sends fail (NOT_ENOUGH_REPLICAS until delivery.timeout.ms)"
    );
}

/// `kafkasim plot` draws a time window and a dark theme for slides, titles the picture with
/// the scenario's title, and refuses a window that is not one.
#[test]
fn plot_draws_a_window_in_a_theme_for_slides() {
    let dir = run_out(
        "scenarios/teach/07-min-insync-replicas.json",
        "reports-window",
    );
    let trace = dir.join("trace.jsonl");
    let svg = dir.join("zoom.svg");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            "plot".to_string(),
            trace.display().to_string(),
            "--out".into(),
            svg.display().to_string(),
        ];
        a.extend(extra.iter().map(ToString::to_string));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        kafkasim(&a)
    };
    let out = run(&["--from", "8", "--to", "30", "--theme", "dark"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("simulated time, 8.000s to 30.000s"));
    assert!(drawn.contains("min.insync.replicas refuses writes (seed 1)"));
    assert!(drawn.contains("fill=\"#1B1D22\""), "the dark background");
    // The time axis starts at 8 s: its first tick is 8s, and nothing is labelled 0s.
    assert!(drawn.contains(">\n8s\n</text>") && !drawn.contains(">\n0s\n</text>"));
    // The note at 50 s is outside the window: only note 1 is marked on the plot.
    assert!(drawn.contains("fill=\"#FFFFFF\">\n1\n</text>"));
    assert!(!drawn.contains("fill=\"#FFFFFF\">\n2\n</text>"));
    assert!(drawn.contains("1  t=10.000s") && !drawn.contains("2  t=50.000s"));
    // A slide: 1920 x 1080 exactly, larger text, one partition's strip stretched to fill.
    let png = dir.join("slide.png");
    let out = kafkasim(&[
        "plot",
        trace.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
        "--width",
        "1920",
        "--height",
        "1080",
        "--font-scale",
        "1.4",
        "--partitions",
        "orders-0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    let bytes = std::fs::read(&png).unwrap();
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1920, 1080));
    for (extra, message) in [
        (
            &["--height", "300"][..],
            "--height: a height of 300 px is too short for this timeline: it needs at least",
        ),
        (
            &["--font-scale", "9"][..],
            "--font-scale: expected 0.5 to 4",
        ),
        (
            &["--from", "30", "--to", "8"][..],
            "--to: expected a time after --from",
        ),
        (&["--from", "500"][..], "--from: the run ends at 90 s"),
        (
            &["--to", "-1"][..],
            "--to: expected a time in seconds from 0",
        ),
    ] {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(
            support::stderr(&out).contains(message),
            "{extra:?}: {}",
            support::stderr(&out)
        );
    }
}
