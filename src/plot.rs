//! `kafkasim plot`: the timeline of a run from its trace.

use clap::Args;
use std::path::{Path, PathBuf};

use reports::plot::{self, PlotOptions};
use reports::trace::Trace;

use crate::run::partition_pick;
use crate::{CliError, Verdict, output, resources};

/// Reads a trace file for reports a line at a time, refusing what is not a regular file and
/// stopping once resident memory passes `memory_limit`. Errors name the file and the line.
pub fn read_trace(path: &Path, memory_limit: u64) -> Result<Trace, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{name}: not a regular file; expected a trace.jsonl written by `kafkasim run --out`"
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let mut over = || resources::rss_bytes().is_some_and(|b| b > memory_limit);
    Trace::read_for_reports(std::io::BufReader::new(file), &mut over)
        .map_err(|e| format!("{name}: {e}"))
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A trace written by `kafkasim run --out DIR` (DIR/trace.jsonl).
    pub trace: PathBuf,
    /// The image to write: `.svg` or `.png`.
    #[arg(long)]
    pub out: PathBuf,
    /// Partitions to draw: names (`orders-0,orders-3`) or `all` (default: the 8 most
    /// eventful).
    #[arg(long, value_delimiter = ',')]
    pub partitions: Vec<String>,
    /// The title (default: the trace's file name and seed).
    #[arg(long)]
    pub title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1400)]
    pub width: u32,
    /// Stop reading the trace once resident memory passes this size (e.g. 2GiB; default:
    /// three quarters of the machine's or the container's memory).
    #[arg(long, value_name = "SIZE", value_parser = resources::parse_size)]
    pub memory_limit: Option<u64>,
}

pub fn plot(args: PlotArgs) -> Result<Verdict, CliError> {
    let name = args.trace.display().to_string();
    if !(400..=20_000).contains(&args.width) {
        return Err(CliError::Input(format!(
            "--width: expected 400 to 20000 pixels, got {}",
            args.width
        )));
    }
    let limit = args
        .memory_limit
        .unwrap_or_else(resources::default_memory_limit);
    let trace = read_trace(&args.trace, limit).map_err(CliError::Input)?;
    let options = PlotOptions {
        title: args
            .title
            .unwrap_or_else(|| format!("{name} (seed {})", trace.seed)),
        partitions: partition_pick(&args.partitions),
        width: args.width,
    };
    let model = reports::model::build(&trace);
    let bytes = match args.out.extension().and_then(|e| e.to_str()) {
        Some("svg") => plot::svg(&model, &trace.violations, &options)?.into_bytes(),
        Some("png") => plot::png(&model, &trace.violations, &options)?,
        _ => {
            return Err(CliError::Input(format!(
                "--out {}: expected a file name ending in .svg or .png",
                args.out.display()
            )));
        }
    };
    output::write_whole(&args.out, &bytes)?;
    Ok(Verdict::Ok)
}
