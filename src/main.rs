//! kafkasim: the command-line interface. Argument parsing, dispatch, exit codes and output
//! files live here; the simulation is in `sim-core` and everything a person reads is made by
//! `reports`.
//!
//! Exit codes: 0 expectations met (or nothing to judge), 1 expectations not met, 2 bad input or
//! usage (always with a message naming the file, the field and what was expected).

mod bench;
mod builtin;
mod check;
mod compare;
mod explain;
mod explore;
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
mod term;

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
    /// No progress bars or notes on stderr (results and errors still print); `check` and
    /// `fuzz` print only what failed, and the closing count.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Colour the output: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = term::ColorWhen::Auto, value_name = "WHEN")]
    color: term::ColorWhen,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and print a summary; with --out, write the trace, the timeline (SVG,
    /// PNG), report.json and report.html.
    Run(run::RunArgs),
    /// Run a scenario twice on one seed, as written and changed (without its variants, or
    /// with --set KEY=VALUE), and write one comparison page: one time cursor over both runs,
    /// where they first diverge, how their outcomes differ.
    Compare(compare::CompareArgs),
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
    /// Search fault schedules by branching from moments of runs that reached new states
    /// (fork the world, add faults there); save each failure as a replayable scenario file.
    Explore(explore::ExploreArgs),
    /// Minimise a failing scenario: fewer faults, a smaller workload and cluster, a shorter
    /// run, still failing the same invariant.
    Shrink(shrink::ShrinkArgs),
    /// Run the standard performance workloads; one JSON line each.
    Bench(bench::BenchArgs),
    /// Print the JSON Schema of scenario files (also in scenarios/scenario.schema.json).
    Schema(schema::SchemaArgs),
    /// Print shell completions: `kafkasim completions bash > /etc/bash_completion.d/kafkasim`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `kafkasim man > kafkasim.1; man ./kafkasim.1`; with --out,
    /// write it and one page per command (kafkasim-run.1, ...) into a folder.
    Man(ManArgs),
}

#[derive(clap::Args, Debug)]
struct ManArgs {
    /// Write kafkasim.1 and a page per command into DIR instead of printing kafkasim.1.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints what completes kafkasim's commands and flags in `shell`.
fn completions(args: &CompletionsArgs) -> Result<Verdict, CliError> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "kafkasim", &mut out);
    output::print_bytes(&out);
    Ok(Verdict::Ok)
}

/// Prints kafkasim's man page, or writes it and a page per command (`kafkasim-run.1`, which
/// the main page's SUBCOMMANDS section refers to) into `--out`.
fn man(args: &ManArgs) -> Result<Verdict, CliError> {
    let command = <Cli as clap::CommandFactory>::command();
    let render = |command: clap::Command| {
        let mut out = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut out)
            .map_err(|e| CliError::Output(format!("the man page: {e}")))?;
        Ok::<_, CliError>(out)
    };
    let Some(dir) = &args.out else {
        output::print_bytes(&render(command)?);
        return Ok(Verdict::Ok);
    };
    output::ensure_dir(dir)?;
    for sub in command.get_subcommands() {
        let name = format!("kafkasim-{}", sub.get_name());
        let page = render(sub.clone().name(name.clone()))?;
        output::write_whole(&dir.join(format!("{name}.1")), &page)?;
    }
    output::write_whole(&dir.join("kafkasim.1"), &render(command)?)?;
    Ok(Verdict::Ok)
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
            PlotError::TooShort { .. } => CliError::Input(format!("--height: {e}")),
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
    term::configure(cli.quiet, cli.color);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args),
        Command::Explain(args) => explain::explain(args),
        Command::List(args) => list::list(args),
        Command::Plot(args) => plot::plot(args),
        Command::Bench(args) => bench::bench(args),
        Command::Schema(args) => schema::schema(args),
        Command::Completions(args) => completions(&args),
        Command::Man(args) => man(&args),
        Command::Fuzz(args) => fuzz::fuzz(args),
        Command::Explore(args) => explore::explore(args),
        Command::Compare(args) => compare::compare(args),
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
