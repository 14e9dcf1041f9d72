//! `kafkasim plot`: the timeline of a run from its trace.

use clap::Args;
use std::path::PathBuf;

use reports::plot::{self, PlotOptions};
use reports::trace::Trace;

use crate::run::partition_pick;
use crate::{CliError, Verdict, output};

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
}

pub fn plot(args: PlotArgs) -> Result<Verdict, CliError> {
    let name = args.trace.display().to_string();
    let text = std::fs::read_to_string(&args.trace)
        .map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
    let trace =
        Trace::parse_for_reports(&text).map_err(|e| CliError::Input(format!("{name}: {e}")))?;
    if !(400..=20_000).contains(&args.width) {
        return Err(CliError::Input(format!(
            "--width: expected 400 to 20000 pixels, got {}",
            args.width
        )));
    }
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
