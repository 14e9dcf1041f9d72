//! `kafkasim run`: one scenario, one seed.

use clap::Args;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

use sim_core::scenario::{self, Scenario};
use sim_core::trace::{TraceSink, Verbosity};
use sim_core::world::{self, RunOptions};

use crate::output::{self, StreamedFile};
use crate::{CliError, Format, Verdict, builtin, resources, term};

thread_local! {
    /// The command that replays the run in progress on this thread, printed if it panics.
    static REPLAY: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records how to replay the run this thread is about to do.
pub fn set_replay(command: String) {
    REPLAY.with(|r| *r.borrow_mut() = Some(command));
}

/// How to replay the run this thread is doing, if one was recorded.
pub fn replay() -> Option<String> {
    REPLAY.with(|r| r.borrow().clone())
}

thread_local! {
    /// Panics on this thread are expected and reported by the caller (the shrinker trying
    /// candidates of a panicking run): the hook stays quiet.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the panic hook should stay quiet on this thread.
pub fn panics_quiet() -> bool {
    QUIET_PANICS.with(std::cell::Cell::get)
}

/// Runs `f`, turning a panic (a kafkasim bug) into its message. With `quiet`, the panic hook
/// prints nothing: the caller reports it.
pub fn catch_panic<T>(quiet: bool, f: impl FnOnce() -> T) -> Result<T, String> {
    let was = QUIET_PANICS.with(|q| q.replace(quiet));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A scenario file, or the name of a built-in scenario (see `kafkasim list`).
    pub scenario: String,
    /// Seed of the run (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory for report.json and trace.jsonl.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print the fully resolved scenario (every default filled in) and exit.
    #[arg(long)]
    pub print_resolved: bool,
    /// Stop after this many events.
    #[arg(
        long,
        default_value_t = u64::MAX,
        hide_default_value = true,
        allow_hyphen_values = true,
        value_parser = crate::flags::positive_u64
    )]
    pub max_events: u64,
    /// Partitions to draw in the timeline: names (`orders-0,orders-3`) or `all` (default:
    /// the 8 most eventful).
    #[arg(long, value_delimiter = ',')]
    pub partitions: Vec<String>,
    /// Also trace every message delivered and lost (large).
    #[arg(long)]
    pub trace_messages: bool,
    /// Run a bug scenario's comparison: its variants (those its `without` names) switched
    /// off, judged by `without.expect`. Same seed, so the two runs show the bug and the fix.
    #[arg(long)]
    pub without_variants: bool,
    #[command(flatten)]
    pub resources: resources::ResourceArgs,
}

/// Reads a scenario from a file or the built-in library. Returns it and the name it goes by.
pub fn load(arg: &str) -> Result<(Scenario, String), CliError> {
    let (text, origin) = load_text(arg)?;
    let scenario = scenario::parse(&text, &origin).map_err(|e| CliError::Input(e.to_string()))?;
    Ok((scenario, origin))
}

/// A scenario's text from a file or the built-in library, and the name it goes by.
pub fn load_text(arg: &str) -> Result<(String, String), CliError> {
    let path = Path::new(arg);
    if path.exists() {
        let text = output::read_scenario_file(path, arg).map_err(CliError::Input)?;
        Ok((text, arg.to_string()))
    } else if let Some((builtin_path, text)) = builtin::find(arg) {
        Ok((text.to_string(), builtin_path.to_string()))
    } else {
        Err(CliError::Input(format!(
            "{arg}: no such file, and no built-in scenario of that name (see `kafkasim list`)"
        )))
    }
}

/// Loads a scenario to run, switched to its comparison run with `without_variants`.
pub fn load_for_run(arg: &str, without_variants: bool) -> Result<(Scenario, String), CliError> {
    let (scenario, origin) = load(arg)?;
    if !without_variants {
        return Ok((scenario, origin));
    }
    let fixed = scenario.without_variants().ok_or_else(|| {
        CliError::Input(format!(
            "{origin}: --without-variants needs a \"without\" block in the scenario (it has none)"
        ))
    })?;
    Ok((fixed, origin))
}

/// The flag that replays a comparison run, for replay lines.
pub fn without_flag(without_variants: bool) -> &'static str {
    if without_variants {
        " --without-variants"
    } else {
        ""
    }
}

/// What `run --out` writes.
pub const OUT_FILES: [&str; 5] = [
    "report.json",
    "trace.jsonl",
    "timeline.svg",
    "timeline.png",
    "report.html",
];

/// Removes the files an earlier `run --out` wrote into `dir` (and only those), so the folder
/// never holds one run's trace beside another's reports, even if this run is killed.
fn clear_earlier_run(dir: &Path) -> Result<(), CliError> {
    for name in OUT_FILES {
        remove_earlier(&dir.join(name), "the earlier run's file")?;
    }
    Ok(())
}

/// Removes `path`, an earlier output (`what` it is, for the error), if it is there.
pub fn remove_earlier(path: &Path, what: &str) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::Output(format!(
            "{}: cannot replace {what}: {e}",
            path.display()
        ))),
    }
}

/// Refuses `--partitions` names the scenario does not have, before anything runs.
pub fn check_partitions(scenario: &Scenario, names: &[String]) -> Result<(), CliError> {
    let cluster = scenario.cluster_config();
    let known: Vec<String> = cluster
        .topics
        .iter()
        .flat_map(|t| (0..t.assignment.len()).map(move |p| format!("{}-{p}", t.name)))
        .collect();
    for n in names {
        let all = n == "all" && names.len() == 1;
        if !all && !known.contains(n) {
            return Err(CliError::Input(format!(
                "--partitions: no partition {n:?} in this scenario (expected `all` or names from: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// The partition choice for the timeline from `--partitions`.
pub fn partition_pick(names: &[String]) -> reports::plot::PartitionPick {
    use reports::plot::PartitionPick;
    match names {
        [] => PartitionPick::default(),
        [all] if all == "all" => PartitionPick::All,
        names => PartitionPick::Names(names.to_vec()),
    }
}

/// The trace a run just wrote into `dir`, read back for its reports.
pub fn read_own_trace(dir: &Path, memory_limit: u64) -> Result<reports::trace::Trace, CliError> {
    crate::plot::read_trace(&dir.join("trace.jsonl"), memory_limit)
        .map_err(|e| CliError::Output(format!("{e} (reading the run's own trace back)")))
}

/// The timeline of a run: titled with the scenario's title (its name when it has none) and
/// the seed.
pub fn plot_options(
    scenario: &Scenario,
    seed: u64,
    partitions: &[String],
) -> reports::plot::PlotOptions {
    let title = if scenario.title.is_empty() {
        &scenario.name
    } else {
        &scenario.title
    };
    reports::plot::PlotOptions {
        title: format!("{title} (seed {seed})"),
        partitions: partition_pick(partitions),
        ..Default::default()
    }
}

/// Writes the reports of a finished run from its trace in `dir`: the timeline (SVG, PNG),
/// `report.json` and `report.html`.
fn write_reports(
    to: &Destination<'_>,
    summary: &world::RunSummary,
    scenario: &Scenario,
    seed: u64,
) -> Result<(), CliError> {
    let dir = to.dir;
    let trace = read_own_trace(dir, to.memory_limit)?;
    let options = plot_options(scenario, seed, to.partitions);
    let rendered = reports::render(summary, scenario, &trace, &options, to.replay)?;
    output::write_whole(&dir.join("timeline.svg"), rendered.svg.as_bytes())?;
    output::write_whole(&dir.join("timeline.png"), &rendered.png)?;
    output::write_whole(&dir.join("report.html"), rendered.html.as_bytes())?;
    let json = serde_json::to_vec_pretty(&rendered.json).expect("a report serializes");
    output::write_whole(&dir.join("report.json"), &json)?;
    Ok(())
}

/// Where `run --out` writes a run, and how.
#[derive(Debug)]
pub struct Destination<'a> {
    pub dir: &'a Path,
    /// `--partitions` for the timeline.
    pub partitions: &'a [String],
    /// The command that replays the run, for the reports.
    pub replay: &'a str,
    pub trace_messages: bool,
    pub memory_limit: u64,
}

/// Runs `scenario` on `seed`, streaming its trace into `to.dir` and then writing its reports
/// there (what `run --out` writes); returns the run's summary.
pub fn run_into(
    to: &Destination<'_>,
    scenario: &Scenario,
    origin: &str,
    seed: u64,
    max_events: u64,
) -> Result<world::RunSummary, CliError> {
    output::ensure_dir(to.dir)?;
    clear_earlier_run(to.dir)?;
    let (file, writer) = StreamedFile::create(&to.dir.join("trace.jsonl"))?;
    let verbosity = if to.trace_messages {
        Verbosity::Messages
    } else {
        Verbosity::Events
    };
    let options = RunOptions {
        seed,
        max_events,
        trace: TraceSink::to_writer(Box::new(writer), verbosity),
    };
    let summary = resources::run_within_limits(&scenario.resolve(), options)
        .map_err(|e| CliError::Output(format!("trace.jsonl: cannot write: {e}")))?;
    file.commit()?;
    // The trace of a run stopped for memory is kept; its reports would need more.
    resources::check_not_halted(&summary, origin)?;
    write_reports(to, &summary, scenario, seed)?;
    Ok(summary)
}

pub fn run(args: RunArgs) -> Result<Verdict, CliError> {
    let (scenario, origin) = load_for_run(&args.scenario, args.without_variants)?;
    if args.print_resolved {
        let text = serde_json::to_string_pretty(&scenario).expect("a scenario serializes");
        output::println_lossy(&text);
        return Ok(Verdict::Ok);
    }
    check_partitions(&scenario, &args.partitions)?;
    args.resources.install();
    args.resources.admit(&scenario, &origin)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let flags = without_flag(args.without_variants);
    set_replay(format!("kafkasim run {origin} --seed {seed}{flags}"));

    let summary = match &args.out {
        Some(dir) => {
            let to = Destination {
                dir,
                partitions: &args.partitions,
                replay: &format!("kafkasim run {origin} --seed {seed}{flags}"),
                trace_messages: args.trace_messages,
                memory_limit: args.resources.memory_limit(),
            };
            run_into(&to, &scenario, &origin, seed, args.max_events)?
        }
        None => {
            let options = RunOptions {
                seed,
                max_events: args.max_events,
                trace: TraceSink::hash_only(),
            };
            resources::run_within_limits(&scenario.resolve(), options)
                .map_err(|e| CliError::Output(format!("trace.jsonl: cannot write: {e}")))?
        }
    };
    resources::check_not_halted(&summary, &origin)?;
    match args.format {
        Format::Json => {
            output::println_json(&summary);
        }
        Format::Text => {
            let text = reports::text_summary(&summary);
            let painted: Vec<String> = text
                .lines()
                .map(|line| match line.strip_prefix("verdict ") {
                    Some(_) if summary.expectations_met => term::paint(line, term::Tone::Good),
                    Some(_) => term::paint(line, term::Tone::Bad),
                    None => line.to_string(),
                })
                .collect();
            output::println_lossy(&painted.join("\n"));
            output::println_lossy(&format!(
                "replay    kafkasim run {origin} --seed {seed}{flags}"
            ));
            if let Some(dir) = &args.out {
                let file = |f: &str| output::shown_path(&dir.join(f));
                let others: Vec<String> = OUT_FILES
                    .iter()
                    .filter(|f| **f != "report.html")
                    .map(|f| file(f))
                    .collect();
                output::println_lossy(&format!(
                    "wrote     {} (open it in a browser: the timeline, the story, every event)\n          {}",
                    file("report.html"),
                    others.join(", ")
                ));
            }
        }
    }
    if let Some(stalled) = &summary.stalled {
        // The scenario makes a loop with no delay in it: bad input, not a verdict.
        return Err(CliError::Input(format!("{origin}: {stalled}")));
    }
    Ok(if summary.expectations_met {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}
