//! `kafkasim shrink REPRO`: minimise a failing scenario (see `sim_core::fuzz::shrink`), and
//! the finding files `fuzz` writes: a failing run as a scenario a person can read and replay.

use clap::Args;
use std::path::{Path, PathBuf};

use sim_core::check::Violation;
use sim_core::engine::StopReason;
use sim_core::fuzz::prefix::PrefixRuns;
use sim_core::fuzz::shrink::{ShrinkOptions, shrink as shrink_scenario};
use sim_core::scenario::Scenario;
use sim_core::trace::TraceSink;
use sim_core::world::{RunOptions, RunSummary};

use crate::output;
use crate::term::Progress;
use crate::{CliError, Format, Verdict, run};

#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// A failing scenario file (a fuzz finding, or any scenario that violates an invariant).
    pub repro: String,
    /// Where to write the shrunk scenario (default: REPRO with `.min.json` for `.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The invariant that must keep failing (default: the first one the run violates).
    #[arg(long)]
    pub invariant: Option<String>,
    /// Most candidate runs.
    #[arg(long, default_value_t = ShrinkOptions::default().max_runs)]
    pub max_runs: u32,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub resources: crate::resources::ResourceArgs,
}

/// What a finding fails: an invariant, or a panic (a kafkasim bug).
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Invariant(String),
    /// The invariant breaks, and keeps in the same run with the `hunted` variants off (the
    /// era's baseline): a bug hunted in its own era.
    BeyondEra {
        invariant: String,
        hunted: Vec<String>,
    },
    Panic,
}

impl Target {
    pub fn label(&self) -> &str {
        match self {
            Target::Invariant(id) | Target::BeyondEra { invariant: id, .. } => id,
            Target::Panic => "panic",
        }
    }
}

/// The scenario with the `hunted` variants switched off: the era's baseline run.
pub fn era_of(s: &Scenario, hunted: &[String]) -> Scenario {
    let mut era = s.clone();
    era.variants.retain(|v| !hunted.contains(v));
    era
}

/// The invariants `summary` (a run of `s`) violates that count: with no `hunted` variants
/// all of them; else those the era's baseline run of the same schedule keeps. The two runs
/// part ways where a hunted variant first acts, so a violation that counts is one the variant
/// made possible on this schedule; a shrunk finding states it in its `without` block.
pub fn beyond_era(s: &Scenario, summary: &RunSummary, hunted: &[String]) -> Vec<&'static str> {
    let mut broken: Vec<&'static str> = Vec::new();
    for v in &summary.violations {
        if !broken.contains(&v.invariant) {
            broken.push(v.invariant);
        }
    }
    if hunted.is_empty() || broken.is_empty() {
        return broken;
    }
    let era = era_of(s, hunted);
    let era_broken: Vec<&str> = match run::catch_panic(true, || run_hash_only(&era)) {
        Ok(summary) => summary.violations.iter().map(|v| v.invariant).collect(),
        // The baseline itself panics: nothing can be told apart from it.
        Err(_) => return Vec::new(),
    };
    broken.retain(|i| !era_broken.contains(i));
    broken
}

/// One run of a candidate, judged against the target: the time (ms) it failed, if it did.
/// The run starts from a checkpoint of the current scenario's run where they share a prefix
/// (`sim_core::fuzz::prefix`); a candidate that still fails becomes the current one.
fn judge(s: &Scenario, target: &Target, runs: &mut PrefixRuns) -> Option<u64> {
    let mut over = crate::resources::over_memory_limit;
    let run = || {
        let (summary, checkpoints) = runs.run(s, &mut over);
        (summary.stop_reason != StopReason::Halted).then_some((summary, checkpoints))
    };
    match target {
        Target::Invariant(id) => {
            let (summary, checkpoints) = run::catch_panic(true, run).ok()??;
            let at = first_violation(&summary, id).map(|v| v.time_ms.ceil() as u64)?;
            runs.keep(checkpoints);
            Some(at)
        }
        Target::BeyondEra { invariant, hunted } => {
            let (summary, checkpoints) = run::catch_panic(true, run).ok()??;
            let at = first_violation(&summary, invariant)?.time_ms.ceil() as u64;
            if !beyond_era(s, &summary, hunted).contains(&invariant.as_str()) {
                return None;
            }
            runs.keep(checkpoints);
            Some(at)
        }
        Target::Panic => {
            run::catch_panic(true, || run_hash_only(s)).err()?;
            Some(s.duration_ms)
        }
    }
}

/// Runs a scenario on its own seed with no trace file, every process checking its own
/// invariants after each handler (the fuzzer's and the shrinker's runs).
pub fn run_hash_only(s: &Scenario) -> RunSummary {
    crate::resources::run_within_limits(
        &s.resolve().with_self_checks(),
        RunOptions {
            seed: s.seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("a hash-only trace cannot fail to write")
}

pub fn first_violation<'a>(summary: &'a RunSummary, id: &str) -> Option<&'a Violation> {
    summary.violations.iter().find(|v| v.invariant == id)
}

/// A shrunk finding and how it got there.
pub struct ShrinkReport {
    pub scenario: Scenario,
    pub faults_before: usize,
    pub faults_after: usize,
    pub events_before: u64,
    pub events_after: u64,
    pub runs: u32,
    pub budget_exhausted: bool,
    /// Candidate runs that started from a checkpoint of the current run, not from t = 0.
    pub reused: u32,
    /// Events those runs did not run again.
    pub events_skipped: u64,
    /// The target's first violation in the shrunk run (none for a panic).
    pub violation: Option<Violation>,
}

/// Shrinks a failing scenario, keeping `target` failing. `events_before` is the events of
/// the original failing run; `on_candidate` hears whether each candidate run still failed.
pub fn shrink_finding(
    original: &Scenario,
    target: &Target,
    first_failure_ms: u64,
    events_before: u64,
    max_runs: u32,
    on_candidate: &mut dyn FnMut(bool),
) -> ShrinkReport {
    // The original's run gives the first checkpoints (a panic there leaves none).
    let mut runs = PrefixRuns::new();
    if !matches!(target, Target::Panic)
        && let Ok((_, checkpoints)) = run::catch_panic(true, || {
            runs.run(original, &mut crate::resources::over_memory_limit)
        })
    {
        runs.keep(checkpoints);
    }
    let shrunk = shrink_scenario(
        original,
        first_failure_ms,
        |s| {
            let still = judge(s, target, &mut runs);
            on_candidate(still.is_some());
            still
        },
        ShrinkOptions { max_runs },
    );
    let mut scenario = shrunk.scenario;
    let (events_after, violation) = match target {
        Target::Invariant(id) | Target::BeyondEra { invariant: id, .. } => {
            let summary = run_hash_only(&scenario);
            (summary.events, first_violation(&summary, id).cloned())
        }
        Target::Panic => (0, None),
    };
    scenario.name = format!("{}-shrunk", original.name.trim_end_matches("-shrunk"));
    ShrinkReport {
        faults_before: original.faults.len(),
        faults_after: scenario.faults.len(),
        events_before,
        events_after,
        runs: shrunk.runs,
        budget_exhausted: shrunk.budget_exhausted,
        reused: runs.reused,
        events_skipped: runs.events_skipped,
        violation,
        scenario,
    }
}

/// Makes `s` a finding file: it expects the violated invariant to hold (so replaying it fails
/// until the bug is fixed, and then it guards the fix) and its description says where it came
/// from and what broke. Nothing that runs changes (a note would: notes are trace lines), so the file
/// replays with the trace hash of the run it records.
pub fn as_finding(mut s: Scenario, violation: Option<&Violation>, origin: &str) -> Scenario {
    s.expect = Default::default();
    s.without = None;
    if let Some(v) = violation {
        s.expect.hold = vec![v.invariant.to_string()];
    }
    // Keep the first sentence (where the run came from), replace the rest.
    let first = match s.description.find(". ") {
        Some(i) => &s.description[..=i],
        None => s.description.trim_end(),
    };
    let broke = violation.map_or(String::new(), |v| {
        format!(
            " At t={:.3}s {} is violated: {}",
            v.time_ms / 1000.0,
            v.invariant,
            v.explanation
        )
    });
    s.description = format!("{first} {origin}{broke}");
    s
}

/// [`as_finding`] for a bug hunted in its era: the file also says, in its `without` block,
/// that the run with the `hunted` variants off keeps the invariant (`kafkasim check` then
/// checks both, as it does the bug library's scenarios).
pub fn as_era_finding(
    s: Scenario,
    violation: Option<&Violation>,
    origin: &str,
    hunted: &[String],
) -> Scenario {
    let mut s = as_finding(s, violation, origin);
    if let Some(v) = violation
        && !hunted.is_empty()
    {
        s.without = Some(sim_core::scenario::Without {
            variants: hunted.to_vec(),
            expect: sim_core::scenario::Expectations {
                hold: vec![v.invariant.to_string()],
                violate: Vec::new(),
            },
        });
    }
    s
}

/// Writes a scenario as the document a person would write (defaults left out).
pub fn write_scenario(path: &Path, s: &Scenario) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(&s.to_document()).expect("a scenario serializes");
    text.push('\n');
    output::write_whole(path, text.as_bytes())
}

/// `REPRO.json` -> `REPRO.min.json`.
pub fn default_out(repro: &Path) -> PathBuf {
    let name = repro
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    repro.with_file_name(format!("{stem}.min.json"))
}

/// `--invariant` names an invariant kafkasim checks (with a did-you-mean).
fn check_invariant_flag(invariant: Option<&str>) -> Result<(), CliError> {
    let Some(id) = invariant else {
        return Ok(());
    };
    if sim_core::check::invariant(id).is_some() {
        return Ok(());
    }
    let known = sim_core::check::INVARIANTS.iter().map(|v| v.id);
    let hint = match sim_core::suggest::closest(id, known) {
        Some(best) => format!(" (did you mean \"{best}\"?)"),
        None => String::new(),
    };
    Err(CliError::Input(format!(
        "--invariant: unknown invariant \"{id}\"{hint}; `kafkasim list` shows them all"
    )))
}

/// What the repro fails, found by running it: a panic, or the invariant `--invariant` names
/// (by default the first one it violates); with the run's summary unless it panicked.
fn target_of(
    scenario: &Scenario,
    origin: &str,
    invariant: Option<&str>,
) -> Result<(Target, Option<RunSummary>), CliError> {
    Ok(match run::catch_panic(true, || run_hash_only(scenario)) {
        Err(_) => (Target::Panic, None),
        Ok(summary) => {
            let id = match invariant {
                Some(id) => id.to_string(),
                None => match summary.violations.first() {
                    Some(v) => v.invariant.to_string(),
                    None => {
                        return Err(CliError::Input(format!(
                            "{origin}: violates no invariant on seed {} (nothing to shrink: a \
                             repro must fail)",
                            scenario.seed
                        )));
                    }
                },
            };
            if first_violation(&summary, &id).is_none() {
                return Err(CliError::Input(format!(
                    "--invariant: {origin} does not violate {id} on seed {}",
                    scenario.seed
                )));
            }
            (Target::Invariant(id), Some(summary))
        }
    })
}

pub fn shrink(args: ShrinkArgs) -> Result<Verdict, CliError> {
    check_invariant_flag(args.invariant.as_deref())?;
    let (scenario, origin) = run::load(&args.repro)?;
    args.resources.install();
    args.resources.admit(&scenario, &origin)?;
    run::set_replay(format!("kafkasim run {origin}"));
    let (target, summary) = target_of(&scenario, &origin, args.invariant.as_deref())?;
    let first_ms = match (&target, &summary) {
        (Target::Invariant(id), Some(s)) => {
            first_violation(s, id).map_or(scenario.duration_ms, |v| v.time_ms.ceil() as u64)
        }
        _ => scenario.duration_ms,
    };
    let events = summary.as_ref().map_or(0, |s| s.events);
    // Progress on a terminal: candidate runs against the budget, and how many were kept.
    let mut progress = Progress::new("shrink", u64::from(args.max_runs), "runs", None, false);
    let mut kept = 0;
    let mut on_candidate = |still_fails: bool| {
        kept += u32::from(still_fails);
        progress.step(false);
        progress.note(format!("{kept} smaller versions kept"));
    };
    let report = shrink_finding(
        &scenario,
        &target,
        first_ms,
        events,
        args.max_runs,
        &mut on_candidate,
    );
    progress.finish();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(Path::new(&args.repro)));
    let note = format!(
        "Shrunk by kafkasim shrink from {origin}: {} -> {} fault entries, {} -> {} events, {} \
         candidate runs. Replay: kafkasim run {}",
        report.faults_before,
        report.faults_after,
        report.events_before,
        report.events_after,
        report.runs,
        output::shown_path(&out)
    );
    let finding = as_finding(report.scenario.clone(), report.violation.as_ref(), &note);
    write_scenario(&out, &finding)?;
    match args.format {
        Format::Json => output::println_json(serde_json::json!({
                "out": output::shown_path(&out),
                "target": target.label(),
                "faults_before": report.faults_before,
                "faults_after": report.faults_after,
                "events_before": report.events_before,
                "events_after": report.events_after,
                "duration_ms": finding.duration_ms,
                "runs": report.runs,
                "runs_from_checkpoints": report.reused,
                "events_skipped": report.events_skipped,
                "budget_exhausted": report.budget_exhausted,
        })),
        Format::Text => {
            output::println_lossy(&format!(
                "shrunk {origin}: {} -> {} fault entries, {} -> {} events, {:.1} s run, {} \
                 brokers, {} candidate runs ({} from a checkpoint of the run before){}",
                report.faults_before,
                report.faults_after,
                report.events_before,
                report.events_after,
                finding.duration_ms as f64 / 1000.0,
                finding.cluster.brokers,
                report.runs,
                report.reused,
                if report.budget_exhausted {
                    " (budget spent; --max-runs for more)"
                } else {
                    ""
                }
            ));
            match &report.violation {
                Some(v) => output::println_lossy(&format!(
                    "still violates {} at t={:.3}s: {}",
                    v.invariant,
                    v.time_ms / 1000.0,
                    v.explanation
                )),
                None => output::println_lossy("still panics"),
            }
            let shown = output::shown_path(&out);
            output::println_lossy(&format!("wrote  {shown}"));
            output::println_lossy(&format!("replay kafkasim run {shown}"));
        }
    }
    Ok(Verdict::Ok)
}
