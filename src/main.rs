//! kafkasim: the command-line interface. Argument parsing, dispatch, exit codes and output
//! files live here; the simulation is in `sim-core` and everything a person reads is made by
//! `reports`.
//!
//! Exit codes: 0 expectations met (or nothing to judge), 1 expectations not met, 2 bad input or
//! usage (always with a message naming the file, the field and what was expected).

mod bench;
mod builtin;
mod check;
mod explain;
mod flags;
mod fuzz;
mod list;
mod output;
mod plot;
mod pool;
mod resources;
mod run;
mod schema;
mod shrink;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Deterministic simulator of Apache Kafka clusters: failover, fault injection and invariant
/// checking. Same seed, same run, byte for byte.
#[derive(Parser, Debug)]
#[command(
    name = "kafkasim",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("KAFKASIM_COMMIT"), ")"),
    about,
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and print a summary; with --out, write the trace, the timeline (SVG,
    /// PNG), report.json and report.html.
    Run(run::RunArgs),
    /// Tell one run in Kafka's terms: what happened, when, and why; then what the checkers
    /// concluded, with the causal chain of each violation.
    Explain(explain::ExplainArgs),
    /// Run every scenario file under the paths against its expectations (CI).
    Check(check::CheckArgs),
    /// Draw a run's timeline (SVG or PNG) from its trace.
    Plot(plot::PlotArgs),
    /// List the built-in scenarios, protocol variants and invariants.
    List(list::ListArgs),
    /// Sweep seeds of random fault schedules over a base scenario; save each failure as a
    /// shrunk, replayable scenario file.
    Fuzz(fuzz::FuzzArgs),
    /// Minimise a failing scenario: fewer faults, a smaller workload and cluster, a shorter
    /// run, still failing the same invariant.
    Shrink(shrink::ShrinkArgs),
    /// Run the standard performance workloads; one JSON line each.
    Bench(bench::BenchArgs),
    /// Print the JSON Schema of scenario files (also in scenarios/scenario.schema.json).
    Schema(schema::SchemaArgs),
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// A failure that is not a simulated one: bad input, or an output that cannot be written.
/// The message says which file or flag, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or usage: exit 2.
    #[error("{0}")]
    Input(String),
    /// An output could not be written: exit 2 as well, since nothing was judged.
    #[error("{0}")]
    Output(String),
}

impl From<reports::plot::PlotError> for CliError {
    /// A partition `--partitions` named that the run lacks, or a picture too large, is the
    /// user's input; failing to draw or encode one is an output that could not be made.
    fn from(e: reports::plot::PlotError) -> Self {
        use reports::plot::PlotError;
        match e {
            PlotError::UnknownPartition { .. } => CliError::Input(format!("--partitions: {e}")),
            PlotError::TooLarge { .. } => CliError::Input(e.to_string()),
            PlotError::Draw(_) | PlotError::Encode(_) => CliError::Output(e.to_string()),
        }
    }
}

/// The outcome of a command that ran.
#[derive(Debug)]
pub enum Verdict {
    Ok,
    ExpectationsNotMet,
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args),
        Command::Explain(args) => explain::explain(args),
        Command::List(args) => list::list(args),
        Command::Plot(args) => plot::plot(args),
        Command::Bench(args) => bench::bench(args),
        Command::Schema(args) => schema::schema(args),
        Command::Fuzz(args) => fuzz::fuzz(args),
        Command::Shrink(args) => shrink::shrink(args),
    };
    match result {
        Ok(Verdict::Ok) => ExitCode::SUCCESS,
        Ok(Verdict::ExpectationsNotMet) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kafkasim: {e}");
            ExitCode::from(2)
        }
    }
}

/// A panic is a bug: say so, and say how to replay the run that hit it.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if run::panics_quiet() {
            return;
        }
        default(info);
        eprintln!(
            "\nkafkasim hit a bug (a panic), not a problem with your input. Please report it."
        );
        if let Some(replay) = run::replay() {
            eprintln!("Replay this exact run with:\n  {replay}");
        }
    }));
}
