//! reports: everything a person looks at, made from a run summary and a trace alone (never from
//! the engine's state): the text summary, `report.json`, the narration (`explain`), the
//! timeline plot (SVG, PNG) and the self-contained HTML report.

pub mod compare;
pub mod cursor;
pub mod html;
pub mod model;
pub mod narrate;
pub mod plot;
pub mod trace;

use serde_json::{Value, json};
use sim_core::check::INVARIANTS;
use sim_core::engine::NodeStatus;
use sim_core::scenario::Scenario;
use sim_core::trace::DownCause;
use sim_core::world::RunSummary;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Version of the `report.json` layout; bumped on any incompatible change (documented in
/// `reports/README.md`).
pub const REPORT_VERSION: u32 = 2;

/// `report.json`: the run summary, the resolved scenario, per-node and per-partition
/// histories, every invariant with its verdict, the violations with their causal chains, and
/// the narrated moments.
pub fn json_report(
    summary: &RunSummary,
    scenario: &Scenario,
    trace: &trace::Trace,
    model: &model::Model,
    moments: &[narrate::Moment],
) -> Value {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &summary.violations {
        *counts.entry(v.invariant).or_default() += 1;
    }
    let invariants: Vec<Value> = INVARIANTS
        .iter()
        .map(|i| {
            let n = counts.get(i.id).copied().unwrap_or(0);
            json!({
                "id": i.id,
                "kind": i.kind,
                "summary": i.summary,
                "source": i.source,
                "verdict": if n > 0 { "violated" } else { "held" },
                "violations": n,
            })
        })
        .collect();
    // Violation moments are the trace's violations, in the trace's (time) order.
    let violations: Vec<Value> = moments
        .iter()
        .filter(|m| m.kind == narrate::MomentKind::Violation)
        .zip(&trace.violations)
        .map(|(m, v)| {
            let chain: Vec<Value> = narrate::causal_chain(moments, m)
                .into_iter()
                .map(|c| json!({"t_us": c.t_us, "kind": c.kind, "text": c.text}))
                .collect();
            json!({
                "invariant": v.invariant,
                "time_ms": v.t_us as f64 / 1000.0,
                "nodes": v.nodes,
                "explanation": v.explanation,
                "chain": chain,
            })
        })
        .collect();
    let lanes = |lanes: &[model::NodeLane], role: &str| -> Vec<Value> {
        lanes
            .iter()
            .map(|l| json!({"name": l.name, "role": role, "segments": l.segments}))
            .collect()
    };
    let mut nodes = lanes(&model.controllers, "controller");
    nodes.extend(lanes(&model.brokers, "broker"));
    let partitions: Vec<Value> = model
        .partitions
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "segments": p.segments,
                "leader_changes": p.leader_changes,
                "isr_changes": p.isr_changes,
            })
        })
        .collect();
    json!({
        "report_version": REPORT_VERSION,
        "summary": summary,
        "scenario": scenario,
        "invariants": invariants,
        "violations": violations,
        "history": {
            "nodes": nodes,
            "partitions": partitions,
            "faults": model.faults,
            "markers": model.markers,
        },
        "moments": moments,
    })
}

/// Everything `kafkasim run --out` writes besides the trace.
#[derive(Debug)]
pub struct Rendered {
    pub json: Value,
    pub svg: String,
    pub png: Vec<u8>,
    pub html: String,
}

/// Renders every report of a finished run from its summary, scenario and trace. Errors name
/// what could not be drawn (an unknown partition in the plot options).
pub fn render(
    summary: &RunSummary,
    scenario: &Scenario,
    trace: &trace::Trace,
    plot_options: &plot::PlotOptions,
    replay: &str,
) -> Result<Rendered, plot::PlotError> {
    let model = model::build(trace);
    let options = narrate::NarrateOptions {
        verbose: false,
        session_timeout_ms: Some(scenario.cluster.config.broker_session_timeout_ms),
    };
    let moments = narrate::moments(trace, &options);
    let svg = plot::svg(&model, &trace.violations, plot_options)?;
    let png = plot::png(&model, &trace.violations, plot_options)?;
    let html = html::html(&html::HtmlInput {
        summary,
        scenario,
        trace,
        moments: &moments,
        svg: &svg,
        svg_width: plot_options.width,
        replay,
    });
    let json = json_report(summary, scenario, trace, &model, &moments);
    Ok(Rendered {
        json,
        svg,
        png,
        html,
    })
}

/// One run for the comparison page: what ran and its trace.
#[derive(Debug)]
pub struct Side<'a> {
    pub summary: &'a RunSummary,
    pub scenario: &'a Scenario,
    pub trace: &'a trace::Trace,
    pub label: String,
    pub replay: String,
}

/// The comparison page of two runs of one scenario and seed, whose traces `divergence` read.
pub fn render_comparison(
    a: &Side<'_>,
    b: &Side<'_>,
    plot_options: &plot::PlotOptions,
    divergence: impl FnOnce(
        &[narrate::Moment],
        &[narrate::Moment],
    ) -> std::io::Result<Option<html::Divergence>>,
) -> Result<String, ComparisonError> {
    let moments = |side: &Side<'_>| {
        let options = narrate::NarrateOptions {
            verbose: false,
            session_timeout_ms: Some(side.scenario.cluster.config.broker_session_timeout_ms),
        };
        narrate::moments(side.trace, &options)
    };
    let (moments_a, moments_b) = (moments(a), moments(b));
    let svg_a = plot::svg(&model::build(a.trace), &a.trace.violations, plot_options)?;
    let svg_b = plot::svg(&model::build(b.trace), &b.trace.violations, plot_options)?;
    fn input<'i>(
        side: &'i Side<'_>,
        moments: &'i [narrate::Moment],
        svg: &'i str,
        width: u32,
    ) -> html::HtmlInput<'i> {
        html::HtmlInput {
            summary: side.summary,
            scenario: side.scenario,
            trace: side.trace,
            moments,
            svg,
            svg_width: width,
            replay: &side.replay,
        }
    }
    let divergence = divergence(&moments_a, &moments_b).map_err(ComparisonError::Read)?;
    Ok(html::compare_html(&html::Comparison {
        a: input(a, &moments_a, &svg_a, plot_options.width),
        b: input(b, &moments_b, &svg_b, plot_options.width),
        a_label: a.label.clone(),
        b_label: b.label.clone(),
        divergence,
    }))
}

/// Why a comparison page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ComparisonError {
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    #[error("reading the traces: {0}")]
    Read(std::io::Error),
}

fn status_word(status: NodeStatus) -> String {
    match status {
        NodeStatus::Running => "running".into(),
        NodeStatus::Paused => "paused".into(),
        NodeStatus::Down(DownCause::Shutdown) => "stopped".into(),
        NodeStatus::Down(DownCause::Crash(kind)) => format!(
            "down ({})",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    }
}

/// At most this many lines of each KRaft list in the text summary (`--format json` has all).
const KRAFT_LINES: usize = 12;

fn seconds(ms: f64) -> String {
    format!("{:.3}s", ms / 1000.0)
}

/// Controller elections, broker fencing and partition leaders, a line each.
fn kraft_summary(out: &mut String, s: &RunSummary) {
    let k = &s.kraft;
    let mut lines: Vec<(f64, String)> = Vec::new();
    for e in &k.activations {
        lines.push((
            e.time_ms,
            format!(
                "{} is the active controller (epoch {})",
                e.controller, e.epoch
            ),
        ));
    }
    for b in &k.brokers {
        let what = match (b.event, b.reason) {
            ("fenced", Some(r)) => format!(
                "fenced ({})",
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                    .unwrap_or_default()
            ),
            (e, _) => e.replace('_', " "),
        };
        let epoch = b
            .broker_epoch
            .map(|e| format!(", broker epoch {e}"))
            .unwrap_or_default();
        lines.push((b.time_ms, format!("{} {what}{epoch}", b.broker)));
    }
    // Partition changes after topic creation that moved a leader.
    for p in k
        .partitions
        .iter()
        .filter(|p| p.partition_epoch > 0 && p.election.is_some())
    {
        let leader = p.leader.as_deref().unwrap_or("none");
        lines.push((
            p.time_ms,
            format!(
                "{}-{} leader {leader} (leader epoch {}, ISR [{}])",
                p.topic,
                p.partition,
                p.leader_epoch,
                p.isr.join(", ")
            ),
        ));
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "kraft");
    for (t, line) in lines.iter().take(KRAFT_LINES) {
        let _ = writeln!(out, "  {:>9}  {line}", seconds(*t));
    }
    if lines.len() > KRAFT_LINES {
        let _ = writeln!(
            out,
            "  ... {} more (all in --format json, under \"kraft\")",
            lines.len() - KRAFT_LINES
        );
    }
    if let Some(f) = &k.final_state {
        let fenced: Vec<&str> = f
            .brokers
            .iter()
            .filter(|b| b.fenced != Some(false))
            .map(|b| b.name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  at end   active controller {}{}; fenced or unregistered brokers: {}",
            f.active_controller.as_deref().unwrap_or("none"),
            f.epoch.map(|e| format!(" (epoch {e})")).unwrap_or_default(),
            if fenced.is_empty() {
                "none".to_string()
            } else {
                fenced.join(", ")
            }
        );
    }
}

/// Most partitions listed in the terminal summary (all are in `--format json`).
const MAX_PARTITION_LINES: usize = 12;

/// Partitions at the end of the run and what the clients did.
fn data_summary(out: &mut String, s: &RunSummary) {
    if s.partitions.is_empty() {
        return;
    }
    let _ = writeln!(out, "partitions");
    for p in s.partitions.iter().take(MAX_PARTITION_LINES) {
        let leos: Vec<String> = p
            .log_end_offsets
            .iter()
            .map(|(b, leo)| format!("{b} {leo}"))
            .collect();
        let elr = if p.elr.is_empty() {
            String::new()
        } else {
            format!(", ELR [{}]", p.elr.join(", "))
        };
        let _ = writeln!(
            out,
            "  {}-{}  leader {} (epoch {}), ISR [{}]{elr}, HW {}; LEO {}; {} leader and {} ISR changes",
            p.topic,
            p.partition,
            p.leader.as_deref().unwrap_or("none"),
            p.leader_epoch,
            p.isr.join(", "),
            p.high_watermark,
            leos.join(", "),
            p.leader_changes,
            p.isr_changes
        );
    }
    if s.partitions.len() > MAX_PARTITION_LINES {
        let _ = writeln!(
            out,
            "  ... {} more (all in --format json, under \"partitions\")",
            s.partitions.len() - MAX_PARTITION_LINES
        );
    }
    let c = &s.clients;
    if c.sends_invoked > 0 || c.polls > 0 {
        let _ = writeln!(
            out,
            "clients   {} batches sent: {} ok, {} failed, {} indeterminate; records acknowledged: {} acks=all, {} acks=1, {} acks=0; {} read",
            c.sends_invoked,
            c.sends_ok,
            c.sends_failed,
            c.sends_indeterminate,
            c.records_acked_acks_all,
            c.records_acked_acks1,
            c.records_sent_acks0,
            c.records_read
        );
        let _ = writeln!(
            out,
            "lost      {} acks=all, {} acks=1, {} acks=0 records",
            c.acked_writes_lost, c.acks1_writes_lost, c.acks0_writes_lost
        );
    }
    if c.acked_writes_lost_outside_promise > 0 {
        let _ = writeln!(
            out,
            "          {} acknowledged acks=all record(s) lost outside Kafka's durability promise (not a violation):",
            c.acked_writes_lost_outside_promise
        );
        for l in &s.losses_outside_promise {
            let _ = writeln!(
                out,
                "          t={:.3}s {}",
                l.time_ms / 1000.0,
                l.explanation
            );
        }
    }
}

/// The run summary as a person reads it in a terminal.
pub fn text_summary(s: &RunSummary) -> String {
    let mut out = String::new();
    let stop = serde_json::to_value(s.stop_reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(out, "scenario  {} (seed {})", s.scenario, s.seed);
    let _ = writeln!(
        out,
        "ran       {}.{:03}s simulated, {} events, stopped: {}",
        s.sim_time_ms / 1000,
        s.sim_time_ms % 1000,
        s.events,
        stop.replace('_', " ")
    );
    let nodes: Vec<String> = s
        .nodes
        .iter()
        .map(|n| format!("{} {}", n.name, status_word(n.status)))
        .collect();
    let _ = writeln!(out, "nodes     {}", nodes.join(", "));
    // Requests and responses the simulated network dropped (cut links, crashed or paused
    // nodes, loss), not Kafka records: those are on the `lost` line.
    let _ = writeln!(
        out,
        "network   {} messages dropped by the faults (requests and responses; lost records are below)",
        s.messages_lost
    );
    kraft_summary(&mut out, s);
    data_summary(&mut out, s);
    if s.violations.is_empty() {
        let _ = writeln!(out, "checks    no violations");
    } else {
        let _ = writeln!(out, "checks    {} violations:", s.violations.len());
        for v in &s.violations {
            let _ = writeln!(
                out,
                "  t={:.3}s {} [{}]: {}",
                v.time_ms / 1000.0,
                v.invariant,
                v.nodes.join(", "),
                v.explanation
            );
        }
    }
    for id in &s.missing_violations {
        let _ = writeln!(out, "expected  a violation of {id}, which did not occur");
    }
    let _ = writeln!(
        out,
        "verdict   expectations {}",
        if s.expectations_met { "met" } else { "NOT met" }
    );
    let _ = write!(out, "trace     hash {}", s.trace_hash);
    out
}
