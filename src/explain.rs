//! `kafkasim explain`: the narrated timeline of one run.

use clap::Args;
use std::io::Write;
use std::sync::Arc;

use reports::narrate::{self, NarrateOptions};
use reports::trace::Trace;
use sim_core::scenario::Scenario;
use sim_core::trace::{TraceSink, Verbosity};
use sim_core::world::{RunOptions, RunSummary};

use crate::run::{load_for_run, set_replay, without_flag};
use crate::{CliError, Format, Verdict, output, term};

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A scenario file, or the name of a built-in scenario (see `kafkasim list`).
    pub scenario: String,
    /// Seed of the run (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Every protocol event and every message delivered or lost, not only the moments that
    /// matter.
    #[arg(long)]
    pub verbose: bool,
    /// Explain a bug scenario's comparison run (its variants switched off).
    #[arg(long)]
    pub without_variants: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub resources: crate::resources::ResourceArgs,
}

/// A trace written into memory.
#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a scenario with its trace kept in memory; returns the summary and the trace.
pub fn run_traced(
    scenario: &Scenario,
    seed: u64,
    verbosity: Verbosity,
) -> Result<(RunSummary, Trace), CliError> {
    let buffer = Buffer::default();
    let options = RunOptions {
        seed,
        max_events: u64::MAX,
        trace: TraceSink::to_writer(Box::new(buffer.clone()), verbosity),
    };
    let summary = crate::resources::run_within_limits(&scenario.resolve(), options)
        .map_err(|e| CliError::Output(format!("trace: cannot write: {e}")))?;
    crate::resources::check_not_halted(&summary, &scenario.name)?;
    let text = String::from_utf8_lossy(
        &buffer
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    let parse = if verbosity == Verbosity::Messages {
        Trace::parse
    } else {
        Trace::parse_for_reports
    };
    let trace = parse(&text).map_err(|e| {
        CliError::Output(format!(
            "the run's own trace does not read back ({e}): a bug"
        ))
    })?;
    Ok((summary, trace))
}

/// Bytes of memory one event's trace takes while `explain` keeps it: measured at about 250 on
/// the bundled lessons.
pub const TRACE_BYTES_PER_EVENT: u64 = 384;
/// The same with every message (`--verbose`): measured at about 700.
const VERBOSE_TRACE_BYTES_PER_EVENT: u64 = 1_024;

/// How a scenario's run is told.
pub fn narrate_options(scenario: &Scenario, verbose: bool) -> NarrateOptions {
    NarrateOptions {
        verbose,
        session_timeout_ms: Some(scenario.cluster.config.broker_session_timeout_ms),
    }
}

/// The story as a terminal shows it: each line wrapped to the window (a moment's continuation
/// lines under its text, after the time column), violations in red. In a pipe or a file,
/// lines stay whole and plain.
fn for_terminal(text: &str) -> String {
    let width = term::stdout_width();
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let body = line.trim_start();
            let lead = line.len() - body.len();
            // `t=<time, padded to 10> `: the text starts 13 characters in.
            let indent = match (body.starts_with("t="), lead) {
                (true, _) => lead + 13,
                (false, 0) => 0,
                (false, _) => lead + 2,
            };
            let wrapped = match width {
                Some(w) => term::wrap(line, w, indent.min(w / 2)),
                None => line.to_string(),
            };
            if body.contains("VIOLATION") {
                term::paint(&wrapped, term::Tone::Bad)
            } else {
                wrapped
            }
        })
        .collect();
    lines.join("\n")
}

pub fn explain(args: ExplainArgs) -> Result<Verdict, CliError> {
    let (scenario, origin) = load_for_run(&args.scenario, args.without_variants)?;
    args.resources.install();
    // The trace stays in memory, read back and told.
    let per_event = if args.verbose {
        VERBOSE_TRACE_BYTES_PER_EVENT
    } else {
        TRACE_BYTES_PER_EVENT
    };
    args.resources
        .admit_keeping_trace(&scenario, &origin, per_event)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let flags = without_flag(args.without_variants);
    set_replay(format!("kafkasim explain {origin} --seed {seed}{flags}"));
    let verbosity = if args.verbose {
        Verbosity::Messages
    } else {
        Verbosity::Events
    };
    let (summary, trace) = run_traced(&scenario, seed, verbosity)?;
    let options = narrate_options(&scenario, args.verbose);
    match args.format {
        Format::Text => {
            let title = if scenario.title.is_empty() {
                &scenario.name
            } else {
                &scenario.title
            };
            let mut text = format!("{title} (seed {seed})\n");
            if !scenario.description.is_empty() {
                text.push_str(&format!("{}\n\n", scenario.description));
            }
            text.push_str(narrate::narrate(&trace, &options).trim_end());
            output::println_lossy(&for_terminal(&text));
            output::println_lossy(&format!(
                "\nreplay    kafkasim explain {origin} --seed {seed}{flags}"
            ));
        }
        Format::Json => {
            let moments = narrate::moments(&trace, &options);
            let doc = serde_json::json!({
                "scenario": scenario.name,
                "seed": seed,
                "moments": moments,
                "violations": summary.violations,
                "expectations_met": summary.expectations_met,
            });
            output::println_json(&doc);
        }
    }
    if let Some(stalled) = &summary.stalled {
        return Err(CliError::Input(format!("{origin}: {stalled}")));
    }
    Ok(if summary.expectations_met {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}
