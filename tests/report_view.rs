//! The HTML report as a learner uses it, in a real headless Chromium driven through the
//! DevTools protocol (`support::browser`): the time cursor moved by the keys, the slider, the
//! timeline, the narration and the violations, and the cluster panel checked at each moment
//! against what the trace says, folded here from the raw JSON lines (not by the reports
//! crate). Every lesson's report must load and step without a console error.
//!
//! Without Chromium these tests skip, except where `KAFKASIM_REQUIRE_TOOLS` is set (CI).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::browser::{Browser, chromium_or_skip};
use support::{kafkasim_out, run_out, temp_dir};

fn open(browser: &Path, dir: &Path, name: &str, fragment: &str) -> Browser {
    let mut b = Browser::start(browser, temp_dir(&format!("{name}-profile")), 1280, 900);
    b.open(&format!(
        "file://{}{fragment}",
        dir.join("report.html").display()
    ));
    b
}

/// One partition as the trace says it is at a moment.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    leader: Option<u64>,
    leader_epoch: u64,
    isr: Vec<u64>,
    elr: Vec<u64>,
    high_watermark: u64,
    /// Each replica's log end offset, by broker id.
    leos: BTreeMap<u64, u64>,
}

/// The partitions after every trace line at or before `t_us`, folded from the raw lines:
/// the committed change with the highest partition epoch; the high watermark a leader reported
/// in the highest leader epoch; each replica's last told log end.
fn expected_at(trace: &[Value], t_us: u64) -> BTreeMap<String, Expected> {
    let nodes: Vec<String> = serde_json::from_value(trace[0]["nodes"].clone()).unwrap();
    let topics: Vec<String> = serde_json::from_value(trace[0]["topics"].clone()).unwrap();
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    let mut partition_epoch: BTreeMap<String, i64> = BTreeMap::new();
    let mut hw_epoch: BTreeMap<String, u64> = BTreeMap::new();
    for line in &trace[1..] {
        if line["t_us"].as_u64().unwrap() > t_us {
            break;
        }
        if line["type"] != "node" {
            continue;
        }
        let e = &line["event"];
        let Some(tp) = e.get("tp") else { continue };
        const TOLD: [&str; 7] = [
            "partition_changed",
            "high_watermark",
            "became_leader",
            "became_follower",
            "appended",
            "log_opened",
            "replica_truncated",
        ];
        if !TOLD.contains(&e["event"].as_str().unwrap()) {
            continue;
        }
        let name = format!(
            "{}-{}",
            topics[tp["topic"].as_u64().unwrap() as usize],
            tp["partition"]
        );
        let node = &nodes[line["node"].as_u64().unwrap() as usize];
        let broker = node
            .strip_prefix("broker-")
            .and_then(|id| id.parse::<u64>().ok());
        let p = out.entry(name.clone()).or_default();
        let u = |k: &str| e[k].as_u64().unwrap();
        let ids = |k: &str| -> Vec<u64> { serde_json::from_value(e[k].clone()).unwrap() };
        let mut report_hw = |epoch: u64, hw: u64, p: &mut Expected| {
            let best = hw_epoch.entry(name.clone()).or_insert(0);
            if epoch >= *best {
                *best = epoch;
                p.high_watermark = hw;
            }
        };
        match e["event"].as_str().unwrap() {
            "partition_changed" => {
                let pe = u("partition_epoch") as i64;
                let seen = partition_epoch.entry(name.clone()).or_insert(-1);
                if pe > *seen {
                    *seen = pe;
                    p.leader = e["leader"].as_u64();
                    p.leader_epoch = u("leader_epoch");
                    p.isr = ids("isr");
                    p.elr = ids("elr");
                    for b in p.isr.iter().chain(&p.elr) {
                        p.leos.entry(*b).or_insert(0);
                    }
                }
            }
            "high_watermark" => report_hw(u("leader_epoch"), u("high_watermark"), p),
            "became_leader" => {
                report_hw(u("leader_epoch"), u("high_watermark"), p);
                p.leos.insert(broker.unwrap(), u("leso"));
            }
            "became_follower" => {
                p.leos.entry(broker.unwrap()).or_insert(0);
            }
            "appended" | "log_opened" => {
                p.leos.insert(broker.unwrap(), u("log_end_offset"));
            }
            "replica_truncated" => {
                p.leos.insert(broker.unwrap(), u("to_offset"));
            }
            _ => {}
        }
    }
    out
}

/// What one side's cluster panel shows (`a`, or `b` of a comparison), read from its text,
/// and the time of the frame it shows.
fn shown(b: &mut Browser, side: &str) -> (u64, BTreeMap<String, Expected>) {
    let v = b.eval(&format!(
        "(function () {{
           var root = document.querySelector('.side[data-side={side}]');
           var text = function (el, sel) {{ return el.querySelector(sel).textContent; }};
           return {{
             t: +root.getAttribute('data-t-us'),
             parts: Array.prototype.map.call(root.querySelectorAll('.partitions-now .part'),
               function (p) {{
                 return {{
                   name: p.getAttribute('data-name'),
                   leader: text(p, '.p-leader'), epoch: text(p, '.p-epoch'),
                   isr: text(p, '.p-isr'), elr: text(p, '.p-elr'), hw: text(p, '.p-hw'),
                   replicas: Array.prototype.map.call(p.querySelectorAll('.replica'),
                     function (r) {{ return [text(r, '.r-name'), text(r, '.r-leo')]; }})
                 }};
               }})
           }};
         }})()"
    ));
    let list = |s: &str| -> Vec<u64> {
        s.trim_matches(['[', ']'])
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let num = |v: &Value| -> u64 { v.as_str().unwrap().parse().unwrap() };
    let parts = v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let leader = p["leader"].as_str().unwrap();
            (
                p["name"].as_str().unwrap().to_string(),
                Expected {
                    leader: leader.strip_prefix("broker-").map(|id| id.parse().unwrap()),
                    leader_epoch: num(&p["epoch"]),
                    isr: list(p["isr"].as_str().unwrap()),
                    elr: list(p["elr"].as_str().unwrap()),
                    high_watermark: num(&p["hw"]),
                    leos: p["replicas"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| {
                            let id = r[0].as_str().unwrap().strip_prefix("broker-").unwrap();
                            (id.parse().unwrap(), num(&r[1]))
                        })
                        .collect(),
                },
            )
        })
        .collect();
    (v["t"].as_u64().unwrap(), parts)
}

/// One side's panel agrees with its trace at the time of the frame it shows, which is the
/// last of its frames at or before the cursor; returns the cursor's time.
fn assert_side(b: &mut Browser, side: &str, trace: &[Value], what: &str) -> u64 {
    let cursor = cursor_t(b);
    let (t, parts) = shown(b, side);
    let frames: Vec<u64> = serde_json::from_value(b.eval(&format!(
        "JSON.parse(document.querySelector('.side[data-side={side}] .cursor-data').textContent).t"
    )))
    .unwrap();
    let due = frames.iter().copied().filter(|&f| f <= cursor).max();
    assert_eq!(
        Some(t),
        due,
        "{what}: side {side} must show its last frame at or before the cursor {cursor}"
    );
    let expected = expected_at(trace, t);
    assert_eq!(parts, expected, "{what}: side {side}'s panel at t_us {t}");
    cursor
}

/// The single report's panel agrees with the trace at the cursor's time; returns that time.
fn assert_panel(b: &mut Browser, trace: &[Value], what: &str) -> u64 {
    let t = assert_side(b, "a", trace, what);
    assert_eq!(
        shown(b, "a").0,
        t,
        "{what}: a single report's frames are the cursor's"
    );
    t
}

fn cursor_t(b: &mut Browser) -> u64 {
    b.eval("+document.getElementById('cursor-time').getAttribute('data-t-us')")
        .as_u64()
        .unwrap()
}

fn read_trace(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("trace.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn lesson_01s_cursor_shows_the_cluster_the_trace_describes() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let dir = run_out("scenarios/teach/01-leader-failover.json", "view-lesson-01");
    let trace = read_trace(&dir);
    let mut b = open(&browser, &dir, "view-lesson-01", "");
    let times: Vec<u64> = serde_json::from_value(
        b.eval("JSON.parse(document.querySelector('.side .cursor-data').textContent).t"),
    )
    .unwrap();
    assert!(times.len() > 100, "{} frames", times.len());

    // 1. The first frame, then a step forward with the arrow key: the next moment told.
    let t0 = assert_panel(&mut b, &trace, "at load");
    assert_eq!(t0, times[0]);
    b.press("ArrowRight", false);
    let t1 = assert_panel(&mut b, &trace, "after →");
    assert!(t1 > t0);

    // 2. Clicking the narration line of the fencing: the cursor goes to its time, where the
    //    panel shows the new leader (broker-2, epoch 1) with broker-1 out of the ISR.
    let fence = b.eval(
        "(function () { var li = Array.prototype.find.call(document.querySelectorAll('.narration li'), \
         function (l) { return /orders-0: leader broker-1 -> broker-2/.test(l.textContent); }); \
         li.id = 'fence-line'; return +li.getAttribute('data-t'); })()",
    );
    b.click("#fence-line");
    let t2 = assert_panel(
        &mut b,
        &trace,
        "after clicking the fencing's narration line",
    );
    assert_eq!(
        shown(&mut b, "a").1.len(),
        3,
        "orders-0, -1 and -2 are shown"
    );
    assert_eq!(
        json!(t2),
        fence,
        "the narration click moves the cursor to its moment"
    );
    let (_, parts) = shown(&mut b, "a");
    assert_eq!(parts["orders-0"].leader, Some(2));
    assert_eq!(parts["orders-0"].leader_epoch, 1);
    assert_eq!(parts["orders-0"].isr, vec![2, 3]);
    // The narration marks the line the cursor is at.
    assert_eq!(
        b.eval("document.getElementById('fence-line').classList.contains('at')"),
        json!(true)
    );

    // 3. The slider, half way: a sampled moment mid-run, HWs and LEOs moving.
    b.eval(
        "(function () { var s = document.getElementById('cursor-slider'); \
         s.value = Math.floor(s.max / 2); s.dispatchEvent(new Event('input')); })()",
    );
    let t3 = assert_panel(&mut b, &trace, "at the slider's middle");
    assert_eq!(t3, times[(times.len() - 1) / 2]);

    // 4. A click on the timeline three quarters along its time axis.
    let at = b.eval(
        "(function () { var box = document.querySelector('.timeline-box'); \
         box.scrollIntoView({block: 'center'}); var r = box.getBoundingClientRect(); \
         var w = +box.getAttribute('data-width'), x0 = +box.getAttribute('data-x0'), \
         x1 = +box.getAttribute('data-x1'); \
         return [r.left + (x0 + 0.75 * (x1 - x0)) / w * r.width, r.top + r.height / 2, \
         +box.getAttribute('data-end-us')]; })()",
    );
    b.click_at(at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    let t4 = assert_panel(&mut b, &trace, "after clicking the timeline");
    let end = at[2].as_f64().unwrap();
    assert!(
        (t4 as f64 - 0.75 * end).abs() < 0.02 * end,
        "the timeline click at 75 % lands near {} µs, not at {t4}",
        0.75 * end
    );

    // 5. The end of the run (End key), and one step back with Shift+← (every frame).
    b.press("End", false);
    let t5 = assert_panel(&mut b, &trace, "at the end");
    assert_eq!(t5, *times.last().unwrap());
    b.press("ArrowLeft", true);
    let t6 = assert_panel(&mut b, &trace, "one frame before the end");
    assert_eq!(t6, times[times.len() - 2]);

    // 6. A fragment picks the time: 40.06 s, just after broker-1 rejoined orders-0's ISR.
    let mut b = open(&browser, &dir, "view-lesson-01b", "#t=40.06");
    let t7 = assert_panel(&mut b, &trace, "opened at #t=40.06");
    assert!(t7 <= 40_060_000 && times.iter().all(|&t| t <= t7 || t > 40_060_000));
    let (_, parts) = shown(&mut b, "a");
    assert_eq!(parts["orders-0"].isr, vec![2, 3, 1]);
    b.settle();
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}

#[test]
fn a_violation_moves_the_cursor_to_when_it_happened() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let dir = run_out("scenarios/bugs/elr-false.json", "view-elr-false");
    let trace = read_trace(&dir);
    let mut b = open(&browser, &dir, "view-elr-false", "");
    let first = trace
        .iter()
        .filter(|l| l["type"] == "violation")
        .map(|l| l["t_us"].as_u64().unwrap())
        .min()
        .expect("the bug scenario has a violation");
    assert_eq!(cursor_t(&mut b), 0);
    b.click(".violations article.violation p[data-t]");
    let t = assert_panel(&mut b, &trace, "after clicking the violation");
    assert_eq!(t, first, "the cursor is at the first violation");
    // The violation is marked as where the cursor is.
    assert_eq!(
        b.eval("document.querySelectorAll('.violations .at').length > 0"),
        json!(true)
    );
    b.settle();
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}

/// Every lesson's report loads, and steps through its moments, without a console error.
#[test]
fn every_lessons_report_loads_and_steps_without_a_console_error() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let lessons: Vec<PathBuf> = support::bundled_scenarios()
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("teach")))
        .collect();
    assert!(lessons.len() >= 13, "{lessons:?}");
    for lesson in lessons {
        let name = lesson.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = run_out(lesson.to_str().unwrap(), &format!("view-{name}"));
        let mut b = open(&browser, &dir, &format!("view-{name}"), "");
        for _ in 0..5 {
            b.press("ArrowRight", false);
        }
        b.press("End", false);
        b.press("ArrowLeft", false);
        b.eval("document.getElementById('cursor-play').click()");
        b.settle();
        b.eval("document.getElementById('cursor-play').click()");
        let cards = b.eval("document.querySelectorAll('.controllers-now .card').length");
        assert!(cards.as_u64().unwrap() > 0, "{name}: no controller shown");
        b.settle();
        assert!(
            b.errors.is_empty(),
            "{name}: console errors: {:?}",
            b.errors
        );
    }
}

/// Runs `kafkasim compare` into a fresh folder; returns it.
fn compare_out(args: &[&str], dir: &str) -> PathBuf {
    let mut all = vec!["compare"];
    all.extend_from_slice(args);
    kafkasim_out(&all, dir)
}

fn open_compare(browser: &Path, dir: &Path, name: &str, fragment: &str) -> Browser {
    let mut b = Browser::start(browser, temp_dir(&format!("{name}-profile")), 1400, 900);
    b.open(&format!(
        "file://{}{fragment}",
        dir.join("compare.html").display()
    ));
    b
}

/// Both sides' panels agree with their own traces; returns the cursor's time.
fn assert_both(b: &mut Browser, traces: &[Vec<Value>; 2], what: &str) -> u64 {
    assert_side(b, "a", &traces[0], what);
    assert_side(b, "b", &traces[1], what)
}

/// Moves the cursor of a comparison page five ways (keys, the divergence, a narration line of
/// side b, a timeline click on side a, the slider) and checks both panels each time; returns
/// the times it visited.
fn walk_comparison(b: &mut Browser, traces: &[Vec<Value>; 2]) -> Vec<u64> {
    let mut visited = vec![assert_both(b, traces, "at load")];
    b.press("ArrowRight", false);
    visited.push(assert_both(b, traces, "after →"));
    let divergence = b.eval("+document.getElementById('divergence').getAttribute('data-t')");
    b.click("#divergence");
    visited.push(assert_both(b, traces, "after clicking the divergence"));
    assert_eq!(
        json!(visited[2]),
        divergence,
        "the cursor is at the divergence"
    );
    b.eval(
        "(function () { var lis = document.querySelectorAll('.side[data-side=b] .narration li'); \
         lis[Math.floor(lis.length * 2 / 3)].id = 'b-line'; })()",
    );
    let line_t = b.eval("+document.getElementById('b-line').getAttribute('data-t')");
    b.click("#b-line");
    visited.push(assert_both(
        b,
        traces,
        "after clicking a narration line of side b",
    ));
    assert_eq!(json!(visited[3]), line_t);
    let at = b.eval(
        "(function () { var box = document.querySelector('.side[data-side=a] .timeline-box'); \
         box.scrollIntoView({block: 'center'}); var r = box.getBoundingClientRect(); \
         var w = +box.getAttribute('data-width'), x0 = +box.getAttribute('data-x0'), \
         x1 = +box.getAttribute('data-x1'); \
         return [r.left + (x0 + 0.3 * (x1 - x0)) / w * r.width, r.top + r.height / 2]; })()",
    );
    b.click_at(at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    visited.push(assert_both(b, traces, "after clicking side a's timeline"));
    b.eval(
        "(function () { var s = document.getElementById('cursor-slider'); \
         s.value = Math.floor(s.max * 0.9); s.dispatchEvent(new Event('input')); })()",
    );
    visited.push(assert_both(b, traces, "at 90 % of the slider"));
    b.press("End", false);
    visited.push(assert_both(b, traces, "at the end"));
    visited
}

#[test]
fn the_comparison_of_elr_false_shows_both_runs_under_one_cursor() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let dir = compare_out(&["scenarios/bugs/elr-false.json"], "compare-elr-false");
    let traces = [read_trace(&dir.join("a")), read_trace(&dir.join("b"))];
    let mut b = open_compare(&browser, &dir, "compare-elr-false", "");
    let visited = walk_comparison(&mut b, &traces);
    let distinct: std::collections::BTreeSet<u64> = visited.iter().copied().collect();
    assert!(distinct.len() >= 5, "{visited:?}");

    // Where they diverge, the ISR of orders-0 shrinks to [1] in both; only without
    // elr=false does broker-2 enter the ELR (KIP-966).
    b.click("#divergence");
    let (_, a) = shown(&mut b, "a");
    let (_, c) = shown(&mut b, "b");
    assert_eq!(
        (a["orders-0"].isr.clone(), a["orders-0"].elr.clone()),
        (vec![1], vec![])
    );
    assert_eq!(
        (c["orders-0"].isr.clone(), c["orders-0"].elr.clone()),
        (vec![1], vec![2])
    );

    // A violation (only side a has them) moves the cursor to when it happened.
    let first = traces[0]
        .iter()
        .filter(|l| l["type"] == "violation")
        .map(|l| l["t_us"].as_u64().unwrap())
        .min()
        .unwrap();
    b.click(".side[data-side=a] .violations article.violation p[data-t]");
    assert_eq!(
        assert_both(&mut b, &traces, "after clicking the violation"),
        first
    );

    // The outcomes name the difference: acks=all records lost on one side only.
    let lost = b.eval(
        "Array.prototype.find.call(document.querySelectorAll('#outcomes tr'), function (r) { \
         return r.querySelector('th').textContent === 'acked lost, acks=all'; }).outerHTML",
    );
    assert!(
        lost.as_str().unwrap().contains("differs") && lost.as_str().unwrap().contains(">0<"),
        "{lost}"
    );
    b.settle();
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}

#[test]
fn a_lessons_what_if_with_set_is_compared_the_same_way() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let dir = compare_out(
        &[
            "scenarios/teach/07-min-insync-replicas.json",
            "--set",
            "min.insync.replicas=1",
        ],
        "compare-lesson-07",
    );
    let traces = [read_trace(&dir.join("a")), read_trace(&dir.join("b"))];
    let mut b = open_compare(&browser, &dir, "compare-lesson-07", "");
    let visited = walk_comparison(&mut b, &traces);
    let distinct: std::collections::BTreeSet<u64> = visited.iter().copied().collect();
    assert!(distinct.len() >= 5, "{visited:?}");
    // The side labels say what changed.
    assert_eq!(
        b.eval("document.querySelector('.side[data-side=b] .side-label').textContent"),
        json!("with min.insync.replicas=1")
    );
    // With min ISR 1 the acks=all producer keeps being acknowledged after the crashes.
    let acked = b.eval(
        "Array.prototype.find.call(document.querySelectorAll('#outcomes tr'), function (r) { \
         return r.querySelector('th').textContent === 'records acked, acks=all'; }).className",
    );
    assert_eq!(acked, json!("differs"));
    b.settle();
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}
