//! `kafkasim bench`: the standard performance workloads, one JSON line each.
//!
//! Wall time is measured here, around calls into sim-core, so the simulation itself never reads
//! a clock. With `--runs N` each workload runs N times and the line reports medians, which is
//! what to quote on a noisy machine.

use clap::{Args, ValueEnum};
use serde_json::json;
use std::time::Instant;

use sim_core::bench::{self, Outcome, PingPong, Timers};

use crate::output::println_lossy;
use crate::{CliError, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// 5 nodes, 100 messages in flight, 10 M deliveries through the engine and network.
    EnginePingpong,
    /// 1,000 nodes with a 50 ms heartbeat resetting a randomised election timeout, 600 s.
    EngineTimers,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (default: all).
    #[arg(value_enum)]
    pub workloads: Vec<Workload>,
    /// Runs per workload; the line reports medians.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// One hundredth of the standard sizes: checks the workloads run, measures nothing useful.
    #[arg(long)]
    pub quick: bool,
}

/// Peak resident set size of this process since the last reset, in bytes (Linux only).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak RSS mark so each workload reports its own (Linux: clear_refs value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Measured {
    outcome: Outcome,
    wall_s: f64,
}

fn measure(f: impl Fn() -> Outcome) -> Measured {
    let start = Instant::now();
    let outcome = f();
    Measured {
        outcome,
        wall_s: start.elapsed().as_secs_f64(),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Runs `engine` and `baseline` alternately `runs` times and prints the line.
fn report(name: &str, runs: u32, engine: impl Fn() -> Outcome, baseline: impl Fn() -> Outcome) {
    let mut engine_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    let mut peak = None;
    for _ in 0..runs.max(1) {
        // The peak is the engine's own: reset before it, read before the baseline runs.
        reset_peak_rss();
        engine_runs.push(measure(&engine));
        peak = peak.max(peak_rss_bytes());
        baseline_runs.push(measure(&baseline));
    }
    let first = engine_runs[0].outcome;
    let events = first.events as f64;
    let sim_s = first.sim_time.as_micros() as f64 / 1e6;
    let wall_s = median(engine_runs.iter().map(|m| m.wall_s).collect());
    let base_events = baseline_runs[0].outcome.events as f64;
    let base_wall = median(baseline_runs.iter().map(|m| m.wall_s).collect());
    let ratios = engine_runs
        .iter()
        .zip(&baseline_runs)
        .map(|(e, b)| (e.outcome.events as f64 / e.wall_s) / (b.outcome.events as f64 / b.wall_s))
        .collect();
    let line = json!({
        "workload": name,
        "events": first.events,
        "wall_s": round(wall_s, 4),
        "events_per_s": round(events / wall_s, 0),
        "sim_s_per_wall_s": round(sim_s / wall_s, 1),
        "peak_rss_bytes": peak,
        "baseline_events_per_s": round(base_events / base_wall, 0),
        "ratio_to_baseline": round(median(ratios), 3),
        "runs": runs.max(1),
    });
    println_lossy(&line.to_string());
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

pub fn bench(args: BenchArgs) -> Result<Verdict, CliError> {
    let workloads = if args.workloads.is_empty() {
        vec![Workload::EnginePingpong, Workload::EngineTimers]
    } else {
        args.workloads
    };
    for w in workloads {
        match w {
            Workload::EnginePingpong => {
                let mut p = PingPong::STANDARD;
                if args.quick {
                    p.deliveries /= 100;
                }
                report(
                    "engine-pingpong",
                    args.runs,
                    || bench::pingpong_engine(p),
                    || bench::pingpong_baseline(p),
                );
            }
            Workload::EngineTimers => {
                let mut t = Timers::STANDARD;
                if args.quick {
                    t.duration_s /= 100;
                }
                report(
                    "engine-timers",
                    args.runs,
                    || bench::timers_engine(t),
                    || bench::timers_baseline(t),
                );
            }
        }
    }
    Ok(Verdict::Ok)
}
