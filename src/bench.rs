//! `kafkasim bench`: the standard performance workloads, one JSON line each.
//!
//! Wall time is measured here, around calls into sim-core, so the simulation itself never reads
//! a clock. With `--runs N` each workload runs N times and the line reports medians, which is
//! what to quote on a noisy machine.

use clap::{Args, ValueEnum};
use serde_json::json;
use std::time::Instant;

use sim_core::bench::{self, Cluster, ClusterOutcome, Outcome, PingPong, Timers};
use sim_core::fuzz::swarm::FuzzBase;

use crate::pool;
use crate::resources::{self, peak_rss_bytes, reset_peak_rss, rss_bytes};
use crate::term::Progress;
use crate::{CliError, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// 5 nodes, 100 messages in flight, 10 M deliveries through the engine and network.
    EnginePingpong,
    /// 1,000 nodes with a 50 ms heartbeat resetting a randomised election timeout, 600 s.
    EngineTimers,
    /// 3 controllers, 3 brokers, 6 partitions (RF 3), 1,000 records/s acks=all, a consumer,
    /// 600 s, no faults, every invariant after every event.
    ClusterSmall,
    /// `cluster-small` under the fuzzer's random nemesis.
    ClusterFaulty,
    /// 100 brokers, 10,000 partitions (RF 3), 10,000 records/s, 60 s, invariants on.
    ClusterLarge,
    /// 1,000 brokers, 100,000 partitions (RF 3), 10,000 records/s, 30 s, invariants on.
    ClusterHuge,
    /// Seeds of the default fuzz base (60 s each) on every core: seeds per minute.
    FuzzThroughput,
    /// `kafkasim explore` over the default base, as many trials as fuzz-throughput's seeds,
    /// on every core: trials, branches and forks of the world per minute, and one fork's cost.
    ExploreThroughput,
}

impl Workload {
    const ALL: [Workload; 8] = [
        Workload::EnginePingpong,
        Workload::EngineTimers,
        Workload::ClusterSmall,
        Workload::ClusterFaulty,
        Workload::ClusterLarge,
        Workload::ClusterHuge,
        Workload::FuzzThroughput,
        Workload::ExploreThroughput,
    ];

    /// Runs when `--runs` is not given: the large clusters take minutes, so once.
    fn default_runs(self) -> u32 {
        match self {
            Workload::ClusterLarge | Workload::ClusterHuge => 1,
            _ => 3,
        }
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (default: all).
    #[arg(value_enum)]
    pub workloads: Vec<Workload>,
    /// Runs per workload; the line reports medians (default 3, and 1 for cluster-large and
    /// cluster-huge).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::flags::positive_u32)]
    pub runs: Option<u32>,
    /// Much smaller sizes: checks the workloads run, measures nothing useful.
    #[arg(long)]
    pub quick: bool,
    /// Seeds per run of fuzz-throughput (and trials of explore-throughput).
    #[arg(long, default_value_t = 200, allow_hyphen_values = true, value_parser = crate::flags::positive_u64)]
    pub seeds: u64,
    /// Threads for fuzz-throughput and explore-throughput (default: the machine's cores).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::flags::positive_usize)]
    pub jobs: Option<usize>,
    /// Stop a cluster workload whose resident memory passes this size (e.g. 6GiB); its line
    /// then says `"finished": false` with the simulated time it reached (default: three
    /// quarters of the machine's memory, or 8 GiB where that is unknown).
    #[arg(long, value_name = "SIZE", value_parser = crate::resources::parse_size)]
    pub memory_limit: Option<u64>,
    /// The same limit in GiB (the flag's earlier spelling).
    #[arg(long, hide = true, conflicts_with = "memory_limit")]
    pub memory_limit_gib: Option<f64>,
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
fn report(
    progress: &mut Progress,
    name: &str,
    runs: u32,
    engine: impl Fn() -> Outcome,
    baseline: impl Fn() -> Outcome,
) {
    let mut engine_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    let mut peak = None;
    for i in 0..runs.max(1) {
        progress.note(format!("{name} {}/{}", i + 1, runs.max(1)));
        // The peak is the engine's own: reset before it, read before the baseline runs.
        reset_peak_rss();
        engine_runs.push(measure(&engine));
        peak = peak.max(peak_rss_bytes());
        baseline_runs.push(measure(&baseline));
        progress.step(false);
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
    progress.println(&crate::output::versioned(&line).to_string());
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

pub fn bench(args: BenchArgs) -> Result<Verdict, CliError> {
    if let Some(gib) = args.memory_limit_gib
        && !(gib.is_finite() && gib > 0.0)
    {
        return Err(CliError::Input(format!(
            "--memory-limit-gib: expected a positive number of GiB, found {gib}"
        )));
    }
    let workloads = if args.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.workloads.clone()
    };
    let mut verdict = Verdict::Ok;
    let runs_of = |w: &Workload| args.runs.unwrap_or_else(|| w.default_runs()).max(1);
    let total = workloads.iter().map(|w| u64::from(runs_of(w))).sum();
    let mut progress = Progress::new("bench", total, "runs", None, false);
    for w in workloads {
        let runs = runs_of(&w);
        match w {
            Workload::EnginePingpong => {
                let mut p = PingPong::STANDARD;
                if args.quick {
                    p.deliveries /= 100;
                }
                report(
                    &mut progress,
                    "engine-pingpong",
                    runs,
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
                    &mut progress,
                    "engine-timers",
                    runs,
                    || bench::timers_engine(t),
                    || bench::timers_baseline(t),
                );
            }
            Workload::ClusterSmall
            | Workload::ClusterFaulty
            | Workload::ClusterLarge
            | Workload::ClusterHuge => {
                let mut c = match w {
                    Workload::ClusterSmall => Cluster::SMALL,
                    Workload::ClusterFaulty => Cluster::FAULTY,
                    Workload::ClusterLarge => Cluster::LARGE,
                    _ => Cluster::HUGE,
                };
                if args.quick {
                    // The nemesis needs 40 s: 3 s of start, faults, 30 s of liveness phase.
                    c.duration_s = if c.faults { 45 } else { 5 };
                    c.brokers = (c.brokers / 10).max(3);
                    c.partitions = (c.partitions / 100).max(6);
                }
                let limit = match (args.memory_limit, args.memory_limit_gib) {
                    (Some(bytes), _) => bytes,
                    (None, Some(gib)) => (gib * (1u64 << 30) as f64) as u64,
                    (None, None) => resources::default_memory_limit(),
                };
                if !report_cluster(&mut progress, &c, runs, limit) {
                    verdict = Verdict::ExpectationsNotMet;
                }
            }
            Workload::FuzzThroughput => {
                let seeds = if args.quick { 4 } else { args.seeds.max(1) };
                let jobs = pool::jobs(args.jobs, seeds as usize);
                if !report_fuzz(&mut progress, seeds, jobs, runs) {
                    verdict = Verdict::ExpectationsNotMet;
                }
            }
            Workload::ExploreThroughput => {
                let trials = if args.quick { 8 } else { args.seeds.max(1) };
                let jobs = pool::jobs(args.jobs, 8);
                if !report_explore(&mut progress, trials, jobs, runs) {
                    verdict = Verdict::ExpectationsNotMet;
                }
            }
        }
    }
    progress.finish();
    Ok(verdict)
}

/// Runs a cluster workload `runs` times and prints its line. False when a run broke an
/// invariant (the workloads run the correct protocol, so that is a bug the line reports).
fn report_cluster(progress: &mut Progress, c: &Cluster, runs: u32, memory_limit: u64) -> bool {
    let scenario = c.scenario();
    let mut walls = Vec::new();
    let mut peak = None;
    let mut first: Option<ClusterOutcome> = None;
    for i in 0..runs {
        progress.note(format!("{} {}/{runs}", c.name, i + 1));
        reset_peak_rss();
        let start = Instant::now();
        let mut over_limit = || rss_bytes().is_some_and(|b| b > memory_limit);
        let out = bench::run_scenario(&scenario, &mut over_limit);
        walls.push(start.elapsed().as_secs_f64());
        peak = peak.max(peak_rss_bytes());
        let finished = out.finished;
        first.get_or_insert(out);
        progress.step(false);
        if !finished {
            break; // it would only run out of memory again
        }
    }
    let out = first.expect("at least one run");
    let runs_done = walls.len();
    let wall_s = median(walls);
    let sim_s = out.outcome.sim_time.as_micros() as f64 / 1e6;
    let line = json!({
        "workload": c.name,
        "events": out.outcome.events,
        "wall_s": round(wall_s, 4),
        "events_per_s": round(out.outcome.events as f64 / wall_s, 0),
        "sim_s_per_wall_s": round(sim_s / wall_s, 1),
        "peak_rss_bytes": peak,
        "brokers": c.brokers,
        "partitions": c.partitions,
        "records_per_s": c.records_per_s,
        "duration_s": c.duration_s,
        "faults": out.faults,
        "records_acked": out.records_acked,
        "violations": out.violations,
        "trace_hash": out.trace_hash,
        "finished": out.finished,
        "runs": runs_done,
    });
    progress.println(&crate::output::versioned(&line).to_string());
    if !out.finished {
        eprintln!(
            "kafkasim bench: {} stopped at {:.1} simulated s of {}: resident memory passed \
             --memory-limit {}",
            c.name,
            sim_s,
            c.duration_s,
            sim_core::scenario::human_bytes(memory_limit)
        );
    }
    // A run cut short checked only part of its duration; its liveness checks do not count.
    out.finished && out.violations.is_empty()
}

/// Runs `seeds` seeds of the default fuzz base on `jobs` threads, `runs` times, and prints the
/// line: seeds per minute is what a fuzzing budget buys. False when a seed failed.
fn report_fuzz(progress: &mut Progress, seeds: u64, jobs: usize, runs: u32) -> bool {
    let base = FuzzBase::default_base();
    let mut walls = Vec::new();
    let mut peak = None;
    let mut totals = (0u64, 0u64, 0u64);
    for i in 0..runs {
        progress.note(format!("fuzz-throughput {}/{runs}", i + 1));
        reset_peak_rss();
        let start = Instant::now();
        // (events, simulated µs, failed seeds) summed over the seeds.
        let mut sums = (0u64, 0u64, 0u64);
        let run_seed = |&seed: &u64| {
            let out = bench::run_scenario(&base.draw(seed), &mut || false);
            let failed = u64::from(!out.violations.is_empty());
            (out.outcome.events, out.outcome.sim_time.as_micros(), failed)
        };
        pool::run(
            0..seeds,
            jobs,
            || true,
            run_seed,
            |_, r| {
                sums = (sums.0 + r.0, sums.1 + r.1, sums.2 + r.2);
            },
        );
        walls.push(start.elapsed().as_secs_f64());
        peak = peak.max(peak_rss_bytes());
        totals = sums;
        progress.step(false);
    }
    let wall_s = median(walls);
    let (events, sim_us, failed) = totals;
    let line = json!({
        "workload": "fuzz-throughput",
        "events": events,
        "wall_s": round(wall_s, 4),
        "events_per_s": round(events as f64 / wall_s, 0),
        "sim_s_per_wall_s": round(sim_us as f64 / 1e6 / wall_s, 1),
        "peak_rss_bytes": peak,
        "seeds": seeds,
        "jobs": jobs,
        "seeds_per_min": round(seeds as f64 * 60.0 / wall_s, 0),
        "failed_seeds": failed,
        "runs": runs,
    });
    progress.println(&crate::output::versioned(&line).to_string());
    failed == 0
}

/// Explores the default fuzz base for `trials` trials on `jobs` threads, `runs` times, and
/// prints the line: trials, branches and forks per minute, and the median cost of one fork of
/// a world in the middle of its fault phase. False when a trial failed (the modern protocol).
fn report_explore(progress: &mut Progress, trials: u64, jobs: usize, runs: u32) -> bool {
    use sim_core::fuzz::explore::{ExploreOptions, Explorer, Origin};
    let mut walls = Vec::new();
    let mut peak = None;
    let mut last = None;
    let mut failed = 0;
    let mut sim_ms = 0u64;
    for i in 0..runs {
        progress.note(format!("explore-throughput {}/{runs}", i + 1));
        reset_peak_rss();
        let start = Instant::now();
        let mut explorer = Explorer::new(FuzzBase::default_base(), ExploreOptions::default());
        failed = 0;
        sim_ms = 0;
        while explorer.stats().trials < trials {
            let mut planned = explorer.plan();
            planned.truncate(usize::try_from(trials - explorer.stats().trials).unwrap_or(8));
            let outcomes = crate::explore::run_trials(planned, explorer.seen(), jobs, None);
            // A panic (a kafkasim bug) counts as a failed trial too.
            failed += outcomes
                .iter()
                .filter(|r| {
                    r.as_ref()
                        .map_or(true, |r| !r.summary.violations.is_empty())
                })
                .count();
            let mut results: Vec<_> = outcomes.into_iter().filter_map(Result::ok).collect();
            // Simulated time run: a branch starts at its moment.
            sim_ms += results
                .iter()
                .map(|r| match r.origin {
                    Origin::Seed(_) => r.summary.sim_time_ms,
                    Origin::Branch { at_ms, .. } => r.summary.sim_time_ms.saturating_sub(at_ms),
                })
                .sum::<u64>();
            explorer.absorb(&mut results);
        }
        walls.push(start.elapsed().as_secs_f64());
        peak = peak.max(peak_rss_bytes());
        last = Some(explorer.stats());
        progress.step(false);
    }
    let wall_s = median(walls);
    let stats = last.unwrap_or_default();
    let per_min = |n: u64| round(n as f64 * 60.0 / wall_s, 0);
    let line = json!({
        "workload": "explore-throughput",
        "trials": stats.trials,
        "fresh_seeds": stats.fresh_seeds,
        "branches": stats.branches,
        "forks": stats.forks,
        "states": stats.states,
        "events": stats.events,
        "wall_s": round(wall_s, 4),
        "events_per_s": round(stats.events as f64 / wall_s, 0),
        "sim_s_per_wall_s": round(sim_ms as f64 / 1e3 / wall_s, 1),
        "trials_per_min": per_min(stats.trials),
        "branches_per_min": per_min(stats.branches),
        "forks_per_min": per_min(stats.forks),
        "fork_us": round(fork_cost_us(), 1),
        "peak_rss_bytes": peak,
        "jobs": jobs,
        "failed_trials": failed,
        "runs": runs,
    });
    progress.println(&crate::output::versioned(&line).to_string());
    failed == 0
}

/// The median cost of one fork of seed 0 of the default base at 15 s (mid fault phase), in
/// microseconds, over 200 forks.
fn fork_cost_us() -> f64 {
    use sim_core::trace::TraceSink;
    use sim_core::world::World;
    let scenario = FuzzBase::default_base().draw(0);
    let resolved = scenario.resolve();
    let mut world = World::new(&resolved, scenario.seed, TraceSink::hash_only());
    world.run_to(
        sim_core::engine::SimTime::from_millis(15_000),
        u64::MAX,
        &mut || false,
    );
    let samples: Vec<f64> = (0..200)
        .map(|_| {
            let start = Instant::now();
            let fork = world.fork();
            let us = start.elapsed().as_secs_f64() * 1e6;
            drop(fork);
            us
        })
        .collect();
    median(samples)
}
