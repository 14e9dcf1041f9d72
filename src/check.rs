//! `kafkasim check PATH...`: every scenario file under the paths, each against its
//! expectations, in parallel across cores. A bug scenario (one with `without`) runs twice on
//! its seed: as written, where the bug must show, and with its variants switched off, where
//! the fix must hold.
//!
//! One line per scenario, in path order, printed as soon as it and every scenario before it
//! are done; then `N passed, N failed`. Exit 0 when all pass, 1 when any fails, 2 when a path
//! or a scenario file is bad (the others still run).

use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sim_core::check::Violation;
use sim_core::scenario::{self, Scenario};
use sim_core::trace::{TraceSink, Verbosity};
use sim_core::variants;
use sim_core::world::RunOptions;

use reports::narrate;

use crate::output::{self, println_lossy};
use crate::pool;
use crate::resources::{self, ResourceArgs};
use crate::term::{self, Progress, Tone, paint};
use crate::{CliError, Verdict, run};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario files, or directories searched recursively for `*.json`.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Scenarios run at once (default: the number of cores). Each simulation is
    /// single-threaded; parallelism is across scenarios only.
    #[arg(long, short, allow_hyphen_values = true, value_parser = crate::flags::positive_usize)]
    pub jobs: Option<usize>,
    /// `json`: one JSON object per scenario as it finishes, then one with the totals.
    /// `github`: the text lines, and a GitHub Actions error annotation for each scenario that
    /// failed, on its file.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Also write the results as JUnit XML to FILE, for CI systems.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Switch protocol variant V on in every run, the comparison runs too: the protocol as if
    /// it had lost that rule. Shows that the bug library catches the regression.
    #[arg(long = "force-variant", value_name = "V")]
    pub force_variants: Vec<String>,
    #[command(flatten)]
    pub resources: ResourceArgs,
}

/// How `check` prints its results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    #[default]
    Text,
    Json,
    Github,
}

/// One run of a scenario and how it measured up.
#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    /// The protocol variants in force.
    pub variants: Vec<String>,
    pub expectations_met: bool,
    /// Invariants that were violated, each once, in the order they first broke.
    pub violated: Vec<String>,
    /// Violated but not expected to be.
    pub unexpected: Vec<String>,
    /// Expected to be violated but held.
    pub missing: Vec<String>,
    pub trace_hash: String,
    /// The first violation no expectation allowed for, as the checker reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_unexpected: Option<Violation>,
    /// That violation told as `explain` tells it: what broke and the causal chain that led
    /// there (absent when keeping the run's trace would pass the memory budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub story: Option<String>,
    /// The run stopped because the simulated clock stopped moving: what kept happening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled: Option<String>,
}

/// One scenario file's result.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The file, relative to the working directory when it lies under it.
    pub path: String,
    pub name: String,
    pub seed: u64,
    pub passed: bool,
    pub seconds: f64,
    /// The run as written, then the run without its variants, if the scenario asks for it.
    pub runs: Vec<RunOutcome>,
    /// A bad file (exit 2), or a panic (a kafkasim bug).
    pub error: Option<String>,
    /// How to see the failure again, when the scenario failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    #[serde(skip)]
    bad_input: bool,
}

/// Every scenario file under `paths`, sorted and deduplicated; unreadable paths are returned
/// as errors.
fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: cannot read directory: {e}", dir.display()));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for path in children {
            if path.is_dir() {
                walk(&path, out, errors);
            } else if scenario::is_scenario_file(&path) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files, &mut errors);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            errors.push(format!("{}: no such file or directory", path.display()));
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

/// Runs one scenario and judges it.
fn run_once(scenario: &Scenario, shown: &str) -> Result<RunOutcome, CliError> {
    let options = RunOptions {
        seed: scenario.seed,
        max_events: u64::MAX,
        trace: TraceSink::hash_only(),
    };
    let summary = resources::run_within_limits(&scenario.resolve(), options)
        .expect("a hash-only trace cannot fail to write");
    resources::check_not_halted(&summary, shown)?;
    let mut violated: Vec<String> = Vec::new();
    for v in &summary.violations {
        if !violated.iter().any(|id| id == v.invariant) {
            violated.push(v.invariant.to_string());
        }
    }
    let unexpected: Vec<String> = violated
        .iter()
        .filter(|id| !scenario.expect.violate.contains(id))
        .cloned()
        .collect();
    let first_unexpected = unexpected.first().and_then(|id| {
        summary
            .violations
            .iter()
            .find(|v| v.invariant == id.as_str())
            .cloned()
    });
    Ok(RunOutcome {
        variants: scenario.variants.clone(),
        expectations_met: summary.expectations_met,
        violated,
        unexpected,
        missing: summary.missing_violations,
        trace_hash: summary.trace_hash,
        first_unexpected,
        story: None,
        stalled: summary.stalled,
    })
}

/// The variants `forced` switched on in `scenario` as well.
fn with_forced(mut scenario: Scenario, forced: &[String]) -> Scenario {
    for v in forced {
        if !scenario.variants.contains(v) {
            scenario.variants.push(v.clone());
        }
    }
    scenario
}

/// Loads, runs and judges one scenario file. Never panics: a panic inside the simulation is
/// reported as a failure (it is a kafkasim bug, and the hook has printed how to replay it).
fn check_file(path: &Path, forced: &[String], resources: &ResourceArgs) -> Outcome {
    let started = Instant::now();
    let shown = output::shown_path(path);
    let mut outcome = Outcome {
        path: shown.clone(),
        name: shown.clone(),
        seed: 0,
        passed: false,
        seconds: 0.0,
        runs: Vec::new(),
        error: None,
        replay: None,
        bad_input: false,
    };
    let parsed = output::read_scenario_file(path, &shown)
        .and_then(|text| scenario::parse(&text, &shown).map_err(|e| e.to_string()));
    let scenario = match parsed {
        Ok(s) => s,
        Err(e) => {
            outcome.error = Some(e);
            outcome.bad_input = true;
            return outcome;
        }
    };
    outcome.name = scenario.name.clone();
    outcome.seed = scenario.seed;
    if let Err(e) = resources.admit(&scenario, &shown) {
        outcome.error = Some(e.to_string());
        outcome.bad_input = true;
        return outcome;
    }
    let mut runs = vec![with_forced(scenario.clone(), forced)];
    if let Some(without) = scenario.without_variants() {
        runs.push(with_forced(without, forced));
    }
    for (i, s) in runs.iter().enumerate() {
        let replay = replay_command(&shown, s.seed, i > 0, forced);
        run::set_replay(replay.clone());
        match run::catch_panic(false, || run_once(s, &shown)) {
            Ok(Ok(mut r)) => {
                if !r.expectations_met && outcome.replay.is_none() {
                    outcome.replay = Some(replay);
                }
                if let Some(v) = &r.first_unexpected {
                    r.story = story(s, v.invariant, &shown, resources);
                }
                outcome.runs.push(r);
            }
            Ok(Err(e)) => {
                outcome.error = Some(e.to_string());
                outcome.bad_input = true;
                break;
            }
            Err(message) => {
                outcome.error = Some(format!("kafkasim panicked (a bug): {message}"));
                outcome.replay = Some(replay);
                break;
            }
        }
    }
    if let Some(stalled) = outcome.runs.iter().find_map(|r| r.stalled.clone()) {
        outcome.error = Some(format!("{shown}: {stalled}"));
        outcome.bad_input = true;
    }
    outcome.passed = outcome.error.is_none() && outcome.runs.iter().all(|r| r.expectations_met);
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

/// The command that shows a run of a checked scenario again: `explain` tells it, or, where
/// `--force-variant` changed the protocol, `check` with the same flags.
fn replay_command(path: &str, seed: u64, without_variants: bool, forced: &[String]) -> String {
    if forced.is_empty() {
        let flag = if without_variants {
            " --without-variants"
        } else {
            ""
        };
        format!("kafkasim explain {path} --seed {seed}{flag}")
    } else {
        let flags: Vec<String> = forced
            .iter()
            .map(|v| format!(" --force-variant {v}"))
            .collect();
        format!("kafkasim check {path}{}", flags.concat())
    }
}

/// Runs `scenario` again with its trace kept and tells the first violation of `invariant` as
/// `explain` does, with its causal chain. None when keeping the trace would pass the memory
/// budget (the checker's own explanation still goes into the report).
fn story(
    scenario: &Scenario,
    invariant: &str,
    shown: &str,
    resources: &ResourceArgs,
) -> Option<String> {
    resources
        .admit_keeping_trace(scenario, shown, crate::explain::TRACE_BYTES_PER_EVENT)
        .ok()?;
    let (_, trace) = crate::explain::run_traced(scenario, scenario.seed, Verbosity::Events).ok()?;
    let moments = narrate::moments(&trace, &crate::explain::narrate_options(scenario, false));
    let m = moments
        .iter()
        .find(|m| narrate::violated_invariant(m) == Some(invariant))?;
    Some(narrate::violation_story(&moments, m))
}

/// What a run got wrong, in a few words.
fn shortfall(run: &RunOutcome) -> String {
    let mut parts = Vec::new();
    if !run.unexpected.is_empty() {
        parts.push(format!("violated {}", run.unexpected.join(", ")));
    }
    if !run.missing.is_empty() {
        parts.push(format!("did not violate {}", run.missing.join(", ")));
    }
    parts.join("; ")
}

fn variants_label(run: &RunOutcome) -> String {
    if run.variants.is_empty() {
        "modern protocol".into()
    } else {
        run.variants.join(", ")
    }
}

/// What each run that missed its expectations got wrong, on one line.
fn shortfalls(o: &Outcome) -> String {
    o.runs
        .iter()
        .filter(|r| !r.expectations_met)
        .map(|r| format!("[{}] {}", variants_label(r), shortfall(r)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The text line of one scenario.
fn line(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        let tag = if o.bad_input { "ERROR" } else { "FAIL " };
        return format!("{} {}  {e}", paint(tag, Tone::Bad), o.path);
    }
    let status = if o.passed {
        paint("pass ", Tone::Good)
    } else {
        paint("FAIL ", Tone::Bad)
    };
    let detail = if o.passed {
        let expected: Vec<String> = o
            .runs
            .iter()
            .map(|r| {
                if r.violated.is_empty() {
                    format!("[{}] all held", variants_label(r))
                } else {
                    format!("[{}] violated {}", variants_label(r), r.violated.join(", "))
                }
            })
            .collect();
        expected.join("; ")
    } else {
        shortfalls(o)
    };
    format!(
        "{status} {}  {}  {detail}  {:.2}s",
        o.path, o.name, o.seconds
    )
}

/// A failed scenario told in full, for CI systems that show one block of text per failure
/// (the JUnit failure body, the GitHub annotation): per run that missed its expectations,
/// what it got wrong, the first unexpected violation with the causal chain that led there,
/// and the replay command.
fn failure_report(o: &Outcome) -> String {
    let mut out = String::new();
    if let Some(e) = &o.error {
        out.push_str(e);
        out.push('\n');
    }
    for r in o.runs.iter().filter(|r| !r.expectations_met) {
        out.push_str(&format!(
            "[{}] seed {}: {}\n",
            variants_label(r),
            o.seed,
            shortfall(r)
        ));
        match (&r.story, &r.first_unexpected) {
            (Some(story), _) => out.push_str(story),
            (None, Some(v)) => out.push_str(&format!(
                "{} (first at t={:.3}s): {}\n",
                v.invariant,
                v.time_ms / 1000.0,
                v.explanation
            )),
            (None, None) => {}
        }
        for id in &r.missing {
            out.push_str(&format!(
                "{id} was expected to break and held: the scenario no longer shows what it was written to show\n"
            ));
        }
    }
    if let Some(replay) = &o.replay {
        out.push_str(&format!("Replay: {replay}\n"));
    }
    out
}

/// A GitHub Actions workflow command that marks a failed scenario's file with an error: what
/// went wrong and how to replay it. Values are escaped as the runner reads them (`%`, CR and LF
/// everywhere; `:` and `,` in properties too).
fn github_annotation(o: &Outcome) -> String {
    fn data(text: &str) -> String {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(text: &str) -> String {
        data(text).replace(':', "%3A").replace(',', "%2C")
    }
    let title = if o.error.is_some() {
        format!("{}: error", o.name)
    } else {
        format!("{}: expectations not met", o.name)
    };
    format!(
        "::error file={},title={}::{}",
        property(&o.path),
        property(&title),
        data(failure_report(o).trim_end())
    )
}

/// JUnit XML through quick-junit (the writer cargo-nextest uses), valid against the
/// `junit-10.xsd` Jenkins and GitLab read: one test case per scenario file, named by the
/// scenario, its directory (relative to the working directory) as the class name. A failure
/// carries what went wrong in its message and [`failure_report`] in its body.
pub fn junit_xml(outcomes: &[Outcome]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    use std::time::Duration;
    let mut suite = TestSuite::new("kafkasim check");
    for o in outcomes {
        let status = if o.passed {
            TestCaseStatus::success()
        } else {
            let kind = if o.bad_input {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut status = TestCaseStatus::non_success(kind);
            let message = match &o.error {
                Some(e) => e.clone(),
                None => shortfalls(o),
            };
            let first = o.runs.iter().find_map(|r| r.first_unexpected.as_ref());
            let ty = match (&o.error, first) {
                (Some(_), _) if o.bad_input => "bad input",
                (Some(_), _) => "kafkasim bug",
                (None, Some(v)) => v.invariant,
                (None, None) => "expectations not met",
            };
            status
                .set_message(message)
                .set_type(ty)
                .set_description(failure_report(o));
            status
        };
        let class = Path::new(&o.path)
            .parent()
            .map(|dir| {
                dir.components()
                    .filter_map(|c| match c {
                        std::path::Component::Normal(part) => Some(part.to_string_lossy()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .unwrap_or_default();
        let mut case = TestCase::new(o.name.as_str(), status);
        case.set_time(Duration::from_secs_f64(o.seconds));
        if !class.is_empty() {
            case.set_classname(class);
        }
        suite.add_test_case(case);
    }
    let time: f64 = outcomes.iter().map(|o| o.seconds).sum();
    suite.set_time(Duration::from_secs_f64(time));
    let mut report = Report::new("kafkasim check");
    report.set_time(Duration::from_secs_f64(time));
    report.add_test_suite(suite);
    let xml = report
        .to_string()
        .expect("JUnit XML serializes into a string");
    // junit-10.xsd declares `skipped` on <testsuite> but not on <testsuites>, where quick-junit
    // also writes it; `check` never skips, so the count is always 0 there.
    let head_end = xml.find("<testsuite ").unwrap_or(xml.len());
    let (head, rest) = xml.split_at(head_end);
    format!("{}{rest}", head.replacen(" skipped=\"0\"", "", 1))
}

pub fn check(args: CheckArgs) -> Result<Verdict, CliError> {
    for v in &args.force_variants {
        if variants::variant(v).is_none() {
            return Err(CliError::Input(format!(
                "--force-variant: unknown protocol variant \"{v}\" (see `kafkasim list`)"
            )));
        }
    }
    let (files, path_errors) = discover(&args.paths);
    for e in &path_errors {
        eprintln!("kafkasim: {e}");
    }
    if files.is_empty() {
        return Err(CliError::Input(format!(
            "no scenario files (*.json) under {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    args.resources.install();
    let jobs = pool::jobs(args.jobs, files.len());
    let mut outcomes: Vec<Option<Outcome>> = vec![None; files.len()];
    let mut printed = 0;
    let forced = &args.force_variants;
    let mut progress = Progress::new("check", files.len() as u64, "files", Some(0), false);
    pool::run(
        &files,
        jobs,
        || true,
        |path| check_file(path, forced, &args.resources),
        |i, outcome| {
            progress.step(!outcome.passed);
            outcomes[i] = Some(outcome);
            // Print in path order, each line as soon as everything before it is done; with
            // --quiet, only what did not pass.
            while let Some(Some(o)) = outcomes.get(printed) {
                printed += 1;
                if o.passed && term::quiet() {
                    continue;
                }
                match args.format {
                    CheckFormat::Text => progress.println(&line(o)),
                    CheckFormat::Json => progress.println(&output::versioned(o).to_string()),
                    CheckFormat::Github => {
                        progress.println(&line(o));
                        if !o.passed {
                            progress.println(&github_annotation(o));
                        }
                    }
                }
            }
        },
    );
    progress.finish();
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.expect("every scenario reports"))
        .collect();
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let failed = outcomes.len() - passed;
    let bad_input = !path_errors.is_empty() || outcomes.iter().any(|o| o.bad_input);
    match args.format {
        CheckFormat::Text | CheckFormat::Github => {
            println_lossy(&format!("{passed} passed, {failed} failed"));
        }
        CheckFormat::Json => output::println_json(
            serde_json::json!({"passed": passed, "failed": failed, "bad_input": bad_input}),
        ),
    }
    if let Some(file) = &args.junit {
        output::write_whole(file, junit_xml(&outcomes).as_bytes())?;
    }
    if bad_input {
        return Err(CliError::Input(
            "some scenario files or paths are bad (see above)".into(),
        ));
    }
    Ok(if failed == 0 {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}
