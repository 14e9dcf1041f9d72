//! `kafkasim explore`: exploration guided by new states (`sim_core::fuzz::explore`). Fresh
//! seeds and branches from kept moments of earlier runs, in batches across cores; every trial
//! appended to `DIR/results.jsonl` and flushed as its batch finishes. A failing trial is saved
//! as `DIR/failures/trial-N.json`, an ordinary scenario that replays from t = 0 (checked: it
//! is run again from t = 0 and must give the branch's trace hash), and failures are grouped as
//! the fuzzer groups them; the first trial of each group is shrunk.
//!
//! `--era V` hunts a bug in its own era: V is switched on in every run as a baseline, and a
//! violation counts only if the same run without the `--variant`s keeps that invariant (a
//! variant masked by a later rule, or an era with bugs of its own).

use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use sim_core::fuzz::explore::{ExploreOptions, Explorer, Origin, Signature, Trial, TrialResult};
use sim_core::fuzz::swarm::FuzzBase;
use sim_core::fuzz::triage::Situation;
use sim_core::scenario::Scenario;

use crate::fuzz::SeedViolation;
use crate::output::{self, println_lossy};
use crate::pool;
use crate::shrink::{
    Target, as_era_finding, beyond_era, run_hash_only, shrink_finding, write_scenario,
};
use crate::term::{self, Progress, Tone, paint};
use crate::{CliError, Format, Verdict, run};

#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// Base scenario (a file or a built-in name), as for `fuzz`. Default: the built-in base.
    pub scenario: Option<String>,
    /// Switch protocol variant V on in every run: the bug hunted.
    #[arg(long = "variant", value_name = "V")]
    pub variants: Vec<String>,
    /// Switch variant V on in every run as the era's baseline: a violation counts only if the
    /// same run without the --variant ones keeps that invariant.
    #[arg(long = "era", value_name = "V")]
    pub era: Vec<String>,
    /// Stop after this many trials (fresh seeds and branches).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = crate::flags::positive_u64,
        required_unless_present = "budget"
    )]
    pub trials: Option<u64>,
    /// Start no new batch after this many wall-clock seconds.
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    pub budget: Option<f64>,
    /// The explorer's seed: which moments it branches from and what it adds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The first fresh seed (fresh seeds are the fuzz sweep's, counting up).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Trials run at once (default: the number of cores). Results do not depend on it.
    #[arg(long, short, allow_hyphen_values = true, value_parser = crate::flags::positive_usize)]
    pub jobs: Option<usize>,
    /// Directory for results.jsonl, groups.json and failures/.
    #[arg(long, default_value = "kafkasim-explore")]
    pub out: PathBuf,
    /// Start no new batch once this many trials have failed.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<u64>,
    /// Save failures without shrinking them.
    #[arg(long)]
    pub no_shrink: bool,
    /// Most candidate runs per shrink.
    #[arg(long, default_value_t = 400)]
    pub shrink_runs: u32,
    /// `json`: the summary as one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub resources: crate::resources::ResourceArgs,
}

/// One line of results.jsonl.
#[derive(Clone, Debug, Serialize)]
struct TrialLine {
    trial: u64,
    /// The fresh seed it ran, or the trial and moment it branched from.
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_ms: Option<u64>,
    /// Fault entries the branch added.
    #[serde(skip_serializing_if = "Option::is_none")]
    added: Option<usize>,
    /// Entries of the parent's schedule after the moment the branch left out (its fresh
    /// future); 0 when it kept them.
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<usize>,
    /// The protocol moment its first episodes were aimed at (`sim_core::fuzz::moves`).
    #[serde(skip_serializing_if = "Option::is_none")]
    aimed: Option<&'static str>,
    /// `pass`, `fail`, `era` (violations the era baseline has too), `nondeterministic` (the
    /// replay from t = 0 differs: a kafkasim bug) or `panic`.
    outcome: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    violations: Vec<SeedViolation>,
    /// The invariant the failure is about: the first violated one (beyond the era's).
    #[serde(skip_serializing_if = "Option::is_none")]
    finding: Option<String>,
    trace_hash: String,
    events: u64,
    /// Events this trial ran itself (a branch starts from its moment).
    events_run: u64,
    faults: usize,
    /// States (signatures) first seen in this trial.
    new_states: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    repro: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    panic: Option<String>,
    /// Wall-clock seconds since the exploration started, when the trial's batch finished.
    at_s: f64,
}

impl TrialLine {
    fn failed(&self) -> bool {
        !matches!(self.outcome.as_str(), "pass" | "era")
    }
}

/// A group of failures and its shrink, for groups.json and the summary.
#[derive(Clone, Debug, Serialize)]
struct Group {
    signature: String,
    count: usize,
    trials: Vec<u64>,
    representative: u64,
    repro: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shrunk: Option<crate::fuzz::ShrunkFinding>,
}

#[derive(Debug, Serialize)]
struct Summary {
    trials: u64,
    fresh_seeds: u64,
    branches: u64,
    states: u64,
    corpus: u64,
    events: u64,
    wall_s: f64,
    failed: usize,
    /// Trials up to and including the first failing one, and the wall time to its batch's end.
    first_failure: Option<FirstFailure>,
    groups: Vec<Group>,
}

#[derive(Clone, Copy, Debug, Serialize)]
struct FirstFailure {
    trial: u64,
    trials: u64,
    wall_s: f64,
}

pub fn explore(args: ExploreArgs) -> Result<Verdict, CliError> {
    check_flags(&args)?;
    let base = load_base(&args)?;
    let dir = &args.out;
    let results_path = dir.join("results.jsonl");
    let mut file = open_results(&results_path)?;
    args.resources.install();
    let mut explorer = Explorer::new(
        base.clone(),
        ExploreOptions {
            seed: args.seed,
            first_seed: args.start,
            ..ExploreOptions::default()
        },
    );
    let started = Instant::now();
    let total = args.trials.unwrap_or(0);
    let mut progress = Progress::new("explore", total, "trials", Some(0), true);
    let mut lines: Vec<TrialLine> = Vec::new();
    let mut scenarios: BTreeMap<u64, Scenario> = BTreeMap::new();
    let mut groups_seen = BTreeSet::new();
    let mut first_failure = None;
    let failed = |lines: &[TrialLine]| lines.iter().filter(|l| l.failed()).count() as u64;
    loop {
        let done = lines.len() as u64;
        if args.trials.is_some_and(|t| done >= t)
            || args
                .budget
                .is_some_and(|b| started.elapsed().as_secs_f64() >= b)
            || args.max_failures.is_some_and(|m| failed(&lines) >= m)
        {
            break;
        }
        let mut trials = explorer.plan();
        if let Some(t) = args.trials {
            trials.truncate(usize::try_from(t - done).unwrap_or(usize::MAX));
        }
        let mut results = run_batch(&args, &explorer, trials)?;
        explorer.absorb(&mut results);
        let at_s = started.elapsed().as_secs_f64();
        for r in results {
            let line = judge(&args, dir, &r, at_s)?;
            let mut text = output::versioned(&line).to_string();
            text.push('\n');
            file.write_all(text.as_bytes())
                .and_then(|()| file.flush())
                .map_err(|e| {
                    CliError::Output(format!("{}: cannot write: {e}", results_path.display()))
                })?;
            if line.failed() {
                first_failure.get_or_insert(FirstFailure {
                    trial: line.trial,
                    trials: lines.len() as u64 + 1,
                    wall_s: at_s,
                });
                if let Some(g) = &line.group
                    && groups_seen.insert(g.clone())
                    && !term::quiet()
                {
                    progress.println(&new_group_line(&line, g, groups_seen.len(), dir));
                }
                scenarios.insert(line.trial, r.scenario.clone());
            }
            progress.step(line.failed());
            lines.push(line);
        }
        let s = explorer.stats();
        progress.note(format!(
            "{} branches, {} states, {} failed in {} groups",
            s.branches,
            s.states,
            progress.failed,
            groups_seen.len()
        ));
    }
    progress.finish();
    let groups = triage(&args, &lines, &scenarios)?;
    let stats = explorer.stats();
    let summary = Summary {
        trials: stats.trials,
        fresh_seeds: stats.fresh_seeds,
        branches: stats.branches,
        states: stats.states,
        corpus: stats.corpus,
        events: stats.events,
        wall_s: started.elapsed().as_secs_f64(),
        failed: failed(&lines) as usize,
        first_failure,
        groups,
    };
    print_summary(&args, &base, &summary);
    Ok(if summary.failed == 0 {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}

/// The base: the built-in one or a scenario file's, with the era's and hunted variants on.
fn load_base(args: &ExploreArgs) -> Result<FuzzBase, CliError> {
    let mut base = match &args.scenario {
        None => FuzzBase::default_base(),
        Some(arg) => {
            let (scenario, origin) = run::load(arg)?;
            FuzzBase::from_scenario(scenario, &origin)
                .map_err(|e| CliError::Input(e.to_string()))?
        }
    };
    base.variants = args.era.iter().chain(&args.variants).cloned().collect();
    Ok(base)
}

/// Creates `results.jsonl` (and its folder); one that holds results is refused.
fn open_results(path: &Path) -> Result<std::fs::File, CliError> {
    if let Some(dir) = path.parent() {
        output::ensure_dir(dir)?;
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Err(CliError::Input(format!(
            "{}: already holds results; choose another --out (an exploration's corpus lives \
             in memory, so it cannot be resumed)",
            path.display()
        )));
    }
    std::fs::File::create(path)
        .map_err(|e| CliError::Output(format!("{}: cannot open: {e}", path.display())))
}

/// The live line of a failure that opens group number `n`.
fn new_group_line(line: &TrialLine, group: &str, n: usize, dir: &Path) -> String {
    format!(
        "{} group {n}: {group}  (trial {}, {})",
        paint("FAIL", Tone::Bad),
        line.trial,
        line.repro
            .as_deref()
            .map(|f| output::shown_path(&dir.join(f)))
            .unwrap_or_default()
    )
}

fn check_flags(args: &ExploreArgs) -> Result<(), CliError> {
    crate::fuzz::check_variants(&args.variants, &args.era)?;
    crate::fuzz::check_seconds("--budget", args.budget)
}

/// A trial that panicked: a kafkasim bug, reported with its run saved.
pub struct Panicked {
    id: u64,
    scenario: Scenario,
    message: String,
}

/// Runs a batch of trials across the cores; the results in plan order. A trial that panics
/// (a kafkasim bug) is saved and reported.
fn run_batch(
    args: &ExploreArgs,
    explorer: &Explorer,
    trials: Vec<Trial>,
) -> Result<Vec<TrialResult>, CliError> {
    let jobs = pool::jobs(args.jobs, trials.len());
    let out = run_trials(trials, explorer.seen(), jobs, Some(&args.out));
    let n = out.len();
    let mut results = Vec::with_capacity(n);
    for r in out {
        match r {
            Ok(r) => {
                crate::resources::check_not_halted(&r.summary, &format!("trial {}", r.id))?;
                results.push(r);
            }
            Err(p) => {
                let Panicked {
                    id,
                    scenario,
                    message,
                } = *p;
                let path = args.out.join("failures").join(format!("trial-{id}.json"));
                output::ensure_dir(&args.out.join("failures"))?;
                write_scenario(&path, &scenario)?;
                return Err(CliError::Output(format!(
                    "trial {id} panicked (a kafkasim bug): {message}; its run is saved as {}",
                    output::shown_path(&path)
                )));
            }
        }
    }
    Ok(results)
}

/// Runs planned trials on `jobs` threads, each watched by the memory limit; the results in
/// plan order, a panic (a kafkasim bug) as its message. With `out`, the panic hook's replay
/// names where the trial's run is saved.
pub fn run_trials(
    trials: Vec<Trial>,
    seen: &BTreeSet<Signature>,
    jobs: usize,
    out: Option<&Path>,
) -> Vec<Result<TrialResult, Box<Panicked>>> {
    let n = trials.len();
    let items: Vec<Mutex<Option<Trial>>> =
        trials.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let mut results: Vec<Option<Result<TrialResult, Box<Panicked>>>> =
        (0..n).map(|_| None).collect();
    pool::run(
        items,
        jobs,
        || true,
        |item| {
            let trial = item
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .expect("each trial is taken once");
            let (id, scenario) = (trial.id, trial.scenario.clone());
            if let Some(dir) = out {
                let saved = dir.join("failures").join(format!("trial-{id}.json"));
                run::set_replay(format!("kafkasim run {}", output::shown_path(&saved)));
            }
            let mut over = crate::resources::over_memory_limit;
            run::catch_panic(false, || trial.run(seen, &mut over)).map_err(|message| {
                Box::new(Panicked {
                    id,
                    scenario,
                    message,
                })
            })
        },
        |i, r| results[i] = Some(r),
    );
    results.into_iter().flatten().collect()
}

/// The line of one trial: what broke (beyond the era's own violations), saved and checked
/// to replay from t = 0 when it failed.
fn judge(
    args: &ExploreArgs,
    dir: &Path,
    r: &TrialResult,
    at_s: f64,
) -> Result<TrialLine, CliError> {
    let (seed, parent, at_ms, added, dropped, aimed) = match r.origin {
        Origin::Seed(s) => (Some(s), None, None, None, None, None),
        Origin::Branch {
            parent,
            at_ms,
            added,
            dropped,
            aimed,
        } => (
            None,
            Some(parent),
            Some(at_ms),
            Some(added),
            Some(dropped),
            aimed,
        ),
    };
    let mut line = TrialLine {
        trial: r.id,
        seed,
        parent,
        at_ms,
        added,
        dropped,
        aimed,
        outcome: "pass".into(),
        violations: Vec::new(),
        finding: None,
        trace_hash: r.summary.trace_hash.clone(),
        events: r.summary.events,
        events_run: r.events_run,
        faults: r.scenario.faults.len(),
        new_states: r.new_states,
        repro: None,
        group: None,
        panic: None,
        at_s,
    };
    let counted = beyond_era(&r.scenario, &r.summary, &hunted(args));
    for v in &r.summary.violations {
        if !line.violations.iter().any(|s| s.invariant == v.invariant) {
            line.violations.push(SeedViolation {
                invariant: v.invariant.to_string(),
                time_ms: v.time_ms,
                nodes: v.nodes.clone(),
                explanation: v.explanation.clone(),
            });
        }
    }
    let Some(first) = r
        .summary
        .violations
        .iter()
        .find(|v| counted.contains(&v.invariant))
    else {
        if !r.summary.violations.is_empty() {
            line.outcome = "era".into();
        }
        return Ok(line);
    };
    line.outcome = "fail".into();
    line.finding = Some(first.invariant.to_string());
    line.group =
        Some(Situation::of(&r.scenario, first.invariant, first.time_ms, &first.nodes).signature());
    // The finding must replay from t = 0 as the branch ran: else it is a kafkasim bug.
    let replayed = run::catch_panic(false, || run_hash_only(&r.scenario))
        .map_or_else(|m| format!("panic: {m}"), |s| s.trace_hash);
    if replayed != r.summary.trace_hash {
        line.outcome = "nondeterministic".into();
        line.group = Some("nondeterministic: the replay from t = 0 differs".into());
    }
    let failures = dir.join("failures");
    output::ensure_dir(&failures)?;
    let name = format!("trial-{}.json", r.id);
    let path = failures.join(&name);
    let origin = format!(
        "It violated {}. Replay: kafkasim run {}",
        first.invariant,
        output::shown_path(&path)
    );
    write_scenario(
        &path,
        &as_era_finding(r.scenario.clone(), Some(first), &origin, &hunted(args)),
    )?;
    line.repro = Some(format!("failures/{name}"));
    Ok(line)
}

/// The variants hunted: with `--era`, the `--variant` ones; else none (everything counts).
fn hunted(args: &ExploreArgs) -> Vec<String> {
    if args.era.is_empty() {
        Vec::new()
    } else {
        args.variants.clone()
    }
}

/// Groups the failures as the fuzzer does and shrinks the first trial of each, in parallel;
/// writes groups.json whole.
fn triage(
    args: &ExploreArgs,
    lines: &[TrialLine],
    scenarios: &BTreeMap<u64, Scenario>,
) -> Result<Vec<Group>, CliError> {
    let mut groups: Vec<Group> = Vec::new();
    for l in lines.iter().filter(|l| l.failed()) {
        let signature = l.group.clone().unwrap_or_else(|| l.outcome.clone());
        match groups.iter_mut().find(|g| g.signature == signature) {
            Some(g) => {
                g.count += 1;
                if g.trials.len() < 100 {
                    g.trials.push(l.trial);
                }
            }
            None => groups.push(Group {
                signature,
                count: 1,
                trials: vec![l.trial],
                representative: l.trial,
                repro: l.repro.clone(),
                shrunk: None,
            }),
        }
    }
    let todo: Vec<usize> = if args.no_shrink {
        Vec::new()
    } else {
        (0..groups.len()).collect()
    };
    let by_trial: BTreeMap<u64, &TrialLine> = lines.iter().map(|l| (l.trial, l)).collect();
    let (shrunk, error) =
        crate::fuzz::shrink_groups(&todo, pool::jobs(args.jobs, todo.len()), |i| {
            let trial = groups[i].representative;
            shrink_trial(args, by_trial[&trial], &scenarios[&trial])
        });
    for (i, s) in shrunk {
        groups[i].shrunk = s;
    }
    crate::fuzz::write_groups(&args.out.join("groups.json"), &groups)?;
    match error {
        Some(e) => Err(e),
        None => Ok(groups),
    }
}

/// Shrinks a failing trial's scenario to `failures/trial-N.min.json`.
fn shrink_trial(
    args: &ExploreArgs,
    line: &TrialLine,
    scenario: &Scenario,
) -> Result<Option<crate::fuzz::ShrunkFinding>, CliError> {
    let (Some(invariant), "fail") = (line.finding.clone(), line.outcome.as_str()) else {
        return Ok(None);
    };
    let Some(first_ms) = line
        .violations
        .iter()
        .find(|x| x.invariant == invariant)
        .map(|x| x.time_ms)
    else {
        return Ok(None);
    };
    let hunted = hunted(args);
    let target = if hunted.is_empty() {
        Target::Invariant(invariant.clone())
    } else {
        Target::BeyondEra {
            invariant: invariant.clone(),
            hunted: hunted.clone(),
        }
    };
    let report = shrink_finding(
        scenario,
        &target,
        first_ms.ceil() as u64,
        line.events,
        args.shrink_runs,
        &mut |_| {},
    );
    let name = format!("trial-{}.min.json", line.trial);
    let path = args.out.join("failures").join(&name);
    let origin = format!(
        "Shrunk from {} to {} fault entries and {} to {} events in {} candidate runs; it \
         still violates {invariant}. Replay: kafkasim run {}",
        report.faults_before,
        report.faults_after,
        report.events_before,
        report.events_after,
        report.runs,
        output::shown_path(&path)
    );
    let finding = as_era_finding(
        report.scenario.clone(),
        report.violation.as_ref(),
        &origin,
        &hunted,
    );
    write_scenario(&path, &finding)?;
    Ok(Some(crate::fuzz::ShrunkFinding {
        file: format!("failures/{name}"),
        invariant,
        faults: report.faults_after,
        events: report.events_after,
        duration_ms: finding.duration_ms,
        runs: report.runs,
    }))
}

fn print_summary(args: &ExploreArgs, base: &FuzzBase, s: &Summary) {
    if args.format == Format::Json {
        output::println_json(s);
        return;
    }
    let variants = if base.variants.is_empty() {
        "modern protocol".to_string()
    } else {
        base.variants.join(", ")
    };
    if !term::quiet() {
        println_lossy(&format!(
            "explore \"{}\" [{variants}]: {} trials ({} fresh seeds, {} branches) in {:.1} s, \
             {} events; {} distinct states, {} moments kept; results in {}",
            base.name,
            s.trials,
            s.fresh_seeds,
            s.branches,
            s.wall_s,
            s.events,
            s.states,
            s.corpus,
            output::shown_path(&args.out.join("results.jsonl"))
        ));
    }
    if let Some(f) = s.first_failure {
        println_lossy(&format!(
            "first failure: trial {} ({} trials, {:.1} s)",
            f.trial, f.trials, f.wall_s
        ));
    }
    for g in &s.groups {
        let file = match (&g.shrunk, &g.repro) {
            (Some(sh), _) => format!(
                "{}  (shrunk to {} fault entries, {} events)",
                output::shown_path(&args.out.join(&sh.file)),
                sh.faults,
                sh.events
            ),
            (None, Some(f)) => output::shown_path(&args.out.join(f)),
            _ => String::new(),
        };
        println_lossy(&format!(
            "{} {:>4} x {}\n           trial {}  {file}",
            paint("FAIL", Tone::Bad),
            g.count,
            g.signature,
            g.representative
        ));
    }
    println_lossy(&format!(
        "{} passed, {} failed",
        s.trials as usize - s.failed,
        s.failed
    ));
}
