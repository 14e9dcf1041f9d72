//! reports: everything a person looks at, made from a run summary and a trace alone (never from
//! the engine's state). Today: the text summary and `report.json`. The timeline plots, the
//! narration and the HTML report build on the same inputs.

use serde_json::{Value, json};
use sim_core::engine::NodeStatus;
use sim_core::scenario::Scenario;
use sim_core::trace::DownCause;
use sim_core::world::RunSummary;
use std::fmt::Write as _;

/// Version of the `report.json` layout; bumped on any incompatible change.
pub const REPORT_VERSION: u32 = 1;

/// `report.json`: the run summary and the resolved scenario it ran.
pub fn json_report(summary: &RunSummary, scenario: &Scenario) -> Value {
    json!({
        "report_version": REPORT_VERSION,
        "summary": summary,
        "scenario": scenario,
    })
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
    let _ = writeln!(out, "messages  {} lost", s.messages_lost);
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
