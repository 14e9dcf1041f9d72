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

use sim_core::scenario::{self, Scenario};
use sim_core::trace::TraceSink;
use sim_core::variants;
use sim_core::world::RunOptions;

use crate::output::{self, println_lossy};
use crate::pool;
use crate::resources::{self, ResourceArgs};
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
    /// The run stopped because the simulated clock stopped moving: what kept happening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled: Option<String>,
}

/// One scenario file's result.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub path: String,
    pub name: String,
    pub passed: bool,
    pub seconds: f64,
    /// The run as written, then the run without its variants, if the scenario asks for it.
    pub runs: Vec<RunOutcome>,
    /// A bad file (exit 2), or a panic (a kafkasim bug).
    pub error: Option<String>,
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
    let unexpected = violated
        .iter()
        .filter(|id| !scenario.expect.violate.contains(id))
        .cloned()
        .collect();
    Ok(RunOutcome {
        variants: scenario.variants.clone(),
        expectations_met: summary.expectations_met,
        violated,
        unexpected,
        missing: summary.missing_violations,
        trace_hash: summary.trace_hash,
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
    let shown = path.display().to_string();
    let mut outcome = Outcome {
        path: shown.clone(),
        name: shown.clone(),
        passed: false,
        seconds: 0.0,
        runs: Vec::new(),
        error: None,
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
    if let Err(e) = resources.admit(&scenario, &shown) {
        outcome.error = Some(e.to_string());
        outcome.bad_input = true;
        return outcome;
    }
    let mut runs = vec![with_forced(scenario.clone(), forced)];
    if let Some(without) = scenario.without_variants() {
        runs.push(with_forced(without, forced));
    }
    for s in &runs {
        run::set_replay(format!("kafkasim run {shown} --seed {}", s.seed));
        match run::catch_panic(false, || run_once(s, &shown)) {
            Ok(Ok(r)) => outcome.runs.push(r),
            Ok(Err(e)) => {
                outcome.error = Some(e.to_string());
                outcome.bad_input = true;
                break;
            }
            Err(message) => {
                outcome.error = Some(format!("kafkasim panicked (a bug): {message}"));
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

/// The text line of one scenario.
fn line(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        let tag = if o.bad_input { "ERROR" } else { "FAIL " };
        return format!("{tag} {}  {e}", o.path);
    }
    let status = if o.passed { "pass " } else { "FAIL " };
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
        o.runs
            .iter()
            .filter(|r| !r.expectations_met)
            .map(|r| format!("[{}] {}", variants_label(r), shortfall(r)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!(
        "{status} {}  {}  {detail}  {:.2}s",
        o.path, o.name, o.seconds
    )
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
    let (title, message) = match &o.error {
        Some(e) => (format!("{}: error", o.name), e.clone()),
        None => {
            let what: Vec<String> = o
                .runs
                .iter()
                .filter(|r| !r.expectations_met)
                .map(|r| format!("[{}] {}", variants_label(r), shortfall(r)))
                .collect();
            let replay = o
                .runs
                .iter()
                .position(|r| !r.expectations_met)
                .map(|i| {
                    let flag = if i > 0 { " --without-variants" } else { "" };
                    format!("kafkasim explain {}{flag}", o.path)
                })
                .unwrap_or_default();
            (
                format!("{}: expectations not met", o.name),
                format!("{}\nReplay: {replay}", what.join("\n")),
            )
        }
    };
    format!(
        "::error file={},title={}::{}",
        property(&o.path),
        property(&title),
        data(&message)
    )
}

/// JUnit XML: one test case per scenario file, its directory as the class name.
pub fn junit_xml(outcomes: &[Outcome]) -> String {
    let failures = outcomes
        .iter()
        .filter(|o| !o.passed && !o.bad_input)
        .count();
    let errors = outcomes.iter().filter(|o| o.bad_input).count();
    let time: f64 = outcomes.iter().map(|o| o.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"kafkasim check\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n",
        outcomes.len()
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"kafkasim check\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n",
        outcomes.len()
    ));
    for o in outcomes {
        let class = Path::new(&o.path)
            .parent()
            .map(|p| p.display().to_string().replace(['/', '\\'], "."))
            .unwrap_or_default();
        xml.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
            reports::html::escape(&class),
            reports::html::escape(&o.name),
            reports::html::escape(&o.path),
            o.seconds
        ));
        if o.passed {
            xml.push_str("/>\n");
            continue;
        }
        xml.push_str(">\n");
        let (tag, message) = match &o.error {
            Some(e) if o.bad_input => ("error", e.clone()),
            Some(e) => ("failure", e.clone()),
            None => (
                "failure",
                o.runs
                    .iter()
                    .filter(|r| !r.expectations_met)
                    .map(|r| format!("[{}] {}", variants_label(r), shortfall(r)))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        xml.push_str(&format!(
            "      <{tag} message=\"{}\">{}</{tag}>\n",
            reports::html::escape(&message),
            reports::html::escape(&line(o))
        ));
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
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
    pool::run(
        &files,
        jobs,
        || true,
        |path| check_file(path, forced, &args.resources),
        |i, outcome| {
            outcomes[i] = Some(outcome);
            // Print in path order, each line as soon as everything before it is done.
            while let Some(Some(o)) = outcomes.get(printed) {
                match args.format {
                    CheckFormat::Text => println_lossy(&line(o)),
                    CheckFormat::Json => output::println_json(o),
                    CheckFormat::Github => {
                        println_lossy(&line(o));
                        if !o.passed {
                            println_lossy(&github_annotation(o));
                        }
                    }
                }
                printed += 1;
            }
        },
    );
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
