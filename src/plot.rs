//! `kafkasim plot`: the timeline of a run from its trace.

use clap::Args;
use std::path::{Path, PathBuf};

use reports::plot::{self, PlotOptions, Theme};
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
    /// The title (default: the scenario's title from the run's report.json beside the trace,
    /// or the trace's path; and the seed).
    #[arg(long)]
    pub title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1400)]
    pub width: u32,
    /// Image height in pixels: the partitions' HW and LEO strips stretch or shrink to fit
    /// (default: the height the drawing needs).
    #[arg(long, value_name = "PX")]
    pub height: Option<u32>,
    /// Text, and the lanes with it, this many times their usual size, 0.5 to 4 (for slides).
    #[arg(long, default_value_t = 1.0, value_name = "SCALE")]
    pub font_scale: f64,
    /// Colours: `light`, or `dark` for slides on a dark background.
    #[arg(long, value_enum, default_value_t = ThemeArg::Light)]
    pub theme: ThemeArg,
    /// Draw from this simulated time on, in seconds (e.g. 14.5).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub from: Option<f64>,
    /// Draw up to this simulated time, in seconds (default: the run's end).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub to: Option<f64>,
    /// Stop reading the trace once resident memory passes this size (e.g. 2GiB; default:
    /// three quarters of the machine's or the container's memory).
    #[arg(long, value_name = "SIZE", value_parser = resources::parse_size)]
    pub memory_limit: Option<u64>,
}

/// `--theme`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ThemeArg {
    Light,
    Dark,
}

/// A `--from`/`--to` time in seconds as microseconds: finite, not negative.
fn seconds_flag(flag: &str, s: Option<f64>) -> Result<Option<u64>, CliError> {
    match s {
        None => Ok(None),
        Some(s) if (0.0..1e12).contains(&s) => Ok(Some((s * 1e6).round() as u64)),
        Some(s) => Err(CliError::Input(format!(
            "--{flag}: expected a time in seconds from 0, got {s}"
        ))),
    }
}

/// The default title: the scenario's, from the run's report.json beside the trace, with the
/// seed; the trace's path when there is none.
fn default_title(trace_path: &Path, seed: u64) -> String {
    let title = trace_path
        .parent()
        .map(|dir| dir.join("report.json"))
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| {
            let s = &v["scenario"];
            [&s["title"], &s["name"]]
                .iter()
                .filter_map(|t| t.as_str())
                .find(|t| !t.is_empty())
                .map(str::to_string)
        });
    match title {
        Some(t) => format!("{t} (seed {seed})"),
        None => format!("{} (seed {seed})", trace_path.display()),
    }
}

pub fn plot(args: PlotArgs) -> Result<Verdict, CliError> {
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
    if !(0.5..=4.0).contains(&args.font_scale) {
        return Err(CliError::Input(format!(
            "--font-scale: expected 0.5 to 4, got {}",
            args.font_scale
        )));
    }
    if args.height.is_some_and(|h| !(100..=20_000).contains(&h)) {
        return Err(CliError::Input(format!(
            "--height: expected 100 to 20000 pixels, got {}",
            args.height.unwrap_or(0)
        )));
    }
    let from_us = seconds_flag("from", args.from)?.unwrap_or(0);
    let to_us = seconds_flag("to", args.to)?;
    if to_us.is_some_and(|to| to <= from_us) {
        return Err(CliError::Input(format!(
            "--to: expected a time after --from ({} s), got {} s",
            from_us as f64 / 1e6,
            args.to.unwrap_or(0.0)
        )));
    }
    if from_us >= trace.end_us {
        return Err(CliError::Input(format!(
            "--from: the run ends at {} s; expected an earlier time, got {} s",
            trace.end_us as f64 / 1e6,
            from_us as f64 / 1e6
        )));
    }
    let options = PlotOptions {
        title: args
            .title
            .unwrap_or_else(|| default_title(&args.trace, trace.seed)),
        partitions: partition_pick(&args.partitions),
        width: args.width,
        theme: match args.theme {
            ThemeArg::Light => Theme::LIGHT,
            ThemeArg::Dark => Theme::DARK,
        },
        from_us,
        to_us,
        font_scale: args.font_scale,
        height: args.height,
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
