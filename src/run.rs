//! `kafkasim run`: one scenario, one seed.

use clap::Args;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

use sim_core::scenario::{self, Scenario};
use sim_core::trace::{TraceSink, Verbosity};
use sim_core::world::{self, RunOptions};

use crate::output::{self, StreamedFile};
use crate::{CliError, Format, Verdict, builtin};

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
    #[arg(long, default_value_t = u64::MAX, hide_default_value = true)]
    pub max_events: u64,
    /// Also trace every message delivered and lost (large).
    #[arg(long)]
    pub trace_messages: bool,
    /// Run a bug scenario's comparison: its variants (those its `without` names) switched
    /// off, judged by `without.expect`. Same seed, so the two runs show the bug and the fix.
    #[arg(long)]
    pub without_variants: bool,
}

/// Reads a scenario from a file or the built-in library. Returns it and the name it goes by.
pub fn load(arg: &str) -> Result<(Scenario, String), CliError> {
    let path = Path::new(arg);
    let (text, origin) = if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Input(format!("{arg}: cannot read: {e}")))?;
        (text, arg.to_string())
    } else if let Some((builtin_path, text)) = builtin::find(arg) {
        (text.to_string(), builtin_path.to_string())
    } else {
        return Err(CliError::Input(format!(
            "{arg}: no such file, and no built-in scenario of that name (see `kafkasim list`)"
        )));
    };
    let scenario = scenario::parse(&text, &origin).map_err(|e| CliError::Input(e.to_string()))?;
    Ok((scenario, origin))
}

pub fn run(args: RunArgs) -> Result<Verdict, CliError> {
    let (mut scenario, origin) = load(&args.scenario)?;
    if args.without_variants {
        scenario = scenario.without_variants().ok_or_else(|| {
            CliError::Input(format!(
                "{origin}: --without-variants needs a \"without\" block in the scenario (it has none)"
            ))
        })?;
    }
    if args.print_resolved {
        let text = serde_json::to_string_pretty(&scenario).expect("a scenario serializes");
        output::println_lossy(&text);
        return Ok(Verdict::Ok);
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let flags = if args.without_variants {
        " --without-variants"
    } else {
        ""
    };
    set_replay(format!("kafkasim run {origin} --seed {seed}{flags}"));

    let mut trace_file = None;
    let trace = match &args.out {
        Some(dir) => {
            output::ensure_dir(dir)?;
            let (file, writer) = StreamedFile::create(&dir.join("trace.jsonl"))?;
            trace_file = Some(file);
            let verbosity = if args.trace_messages {
                Verbosity::Messages
            } else {
                Verbosity::Events
            };
            TraceSink::to_writer(Box::new(writer), verbosity)
        }
        None => TraceSink::hash_only(),
    };
    let options = RunOptions {
        seed,
        max_events: args.max_events,
        trace,
    };
    let summary = world::run(&scenario, options)
        .map_err(|e| CliError::Output(format!("trace.jsonl: cannot write: {e}")))?;

    if let (Some(dir), Some(file)) = (&args.out, trace_file) {
        file.commit()?;
        let report = reports::json_report(&summary, &scenario);
        let text = serde_json::to_vec_pretty(&report).expect("a report serializes");
        output::write_whole(&dir.join("report.json"), &text)?;
    }
    match args.format {
        Format::Json => {
            output::println_lossy(&serde_json::to_string(&summary).expect("a summary serializes"))
        }
        Format::Text => {
            output::println_lossy(&reports::text_summary(&summary));
            output::println_lossy(&format!(
                "replay    kafkasim run {origin} --seed {seed}{flags}"
            ));
            if let Some(dir) = &args.out {
                output::println_lossy(&format!(
                    "wrote     {}/report.json, {}/trace.jsonl",
                    dir.display(),
                    dir.display()
                ));
            }
        }
    }
    Ok(if summary.expectations_met {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}
