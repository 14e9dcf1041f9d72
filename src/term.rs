//! What a person at a terminal gets and a pipe does not: colour, lines wrapped to the window,
//! and progress. Every choice is made here, once, from the global flags (`--quiet`,
//! `--color`), `NO_COLOR` (<https://no-color.org>) and whether the stream is a terminal, so
//! output piped into a file or a CI log is plain, whole lines, the same on every machine.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// When to colour what goes to stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set (to anything but the empty string) or `TERM` is
    /// `dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

static QUIET: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicU8 = AtomicU8::new(0);

/// Sets the global choices, once, before a command runs.
pub fn configure(quiet: bool, color: ColorWhen) {
    QUIET.store(quiet, Ordering::Relaxed);
    let on = match color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    };
    COLOR.store(u8::from(on), Ordering::Relaxed);
}

/// `--quiet`: no progress and no notes on stderr; results and errors still print.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// What a piece of text means, for its colour.
#[derive(Clone, Copy, Debug)]
pub enum Tone {
    /// A check passed, expectations met.
    Good,
    /// A check failed, an invariant was violated.
    Bad,
}

/// `text` in its tone's colour when stdout is coloured, as it is otherwise.
pub fn paint(text: &str, tone: Tone) -> String {
    if COLOR.load(Ordering::Relaxed) == 0 {
        return text.to_string();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Bad => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The width to wrap stdout's lines to: the terminal's (or `COLUMNS`, as shells set it) when
/// stdout is a terminal, none when it is a pipe or a file (lines stay whole for grep).
pub fn stdout_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    columns
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, w)| usize::from(w))
        })
        .filter(|&w| w >= 40)
}

/// `line` broken at spaces to lines of at most `width` characters; the lines after the first
/// are indented by `indent` spaces. A word longer than a line stays whole.
pub fn wrap(line: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut current = String::new();
    // Characters on the current line, how many of them are its indent, and whether it is a
    // continuation with no word yet.
    let (mut len, mut start) = (0, 0);
    let mut fresh = false;
    for (i, word) in line.split(' ').enumerate() {
        let word_len = word.chars().count();
        if i > 0 && !fresh && len > start && len + 1 + word_len > width {
            out.push_str(current.trim_end());
            out.push('\n');
            current = " ".repeat(indent);
            (len, start) = (indent, indent);
            fresh = true;
        }
        if fresh {
            // A continuation line starts with a word, not with the spaces between two.
            if word.is_empty() {
                continue;
            }
            fresh = false;
        } else if i > 0 {
            current.push(' ');
            len += 1;
        }
        current.push_str(word);
        len += word_len;
    }
    out.push_str(&current);
    out
}

/// Progress of a long command on stderr: a bar on a terminal; with `heartbeat`, a plain line
/// every 10 s in a log (a long fuzz sweep in CI); nothing otherwise, and nothing with `--quiet`.
#[derive(Debug)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    /// The command's name and unit, for heartbeat lines; none without them.
    heartbeat: Option<(&'static str, &'static str)>,
    started: Instant,
    last_line: Instant,
    total: u64,
    pub done: u64,
    pub failed: u64,
    /// Whether steps can fail (a sweep, a check), so the count of failures is worth showing; a
    /// benchmark's or a shrink's steps cannot.
    counts_failures: bool,
}

impl Progress {
    /// Progress over `total` steps of `unit` (`"seeds"`, `"files"`), `failed` of them already
    /// (`None` where steps cannot fail: no count of failures is shown); a `total` of 0 is not
    /// known in advance.
    pub fn new(
        command: &'static str,
        total: u64,
        unit: &'static str,
        failed: Option<u64>,
        heartbeat: bool,
    ) -> Progress {
        let counts_failures = failed.is_some();
        let failed = failed.unwrap_or(0);
        let terminal = std::io::stderr().is_terminal() && !quiet();
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new(total);
            // A total of 0 is unknown (a time budget): a count and the time so far.
            let template = if total == 0 {
                format!("{{spinner}} {{pos}} {unit}  {{msg}}  {{elapsed}}")
            } else {
                format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{msg}}  eta {{eta}}")
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(&template).expect("a valid template"),
            );
            if counts_failures {
                bar.set_message(failures(failed));
            }
            bar
        });
        Progress {
            bar,
            heartbeat: (heartbeat && !terminal && !quiet()).then_some((command, unit)),
            started: Instant::now(),
            last_line: Instant::now(),
            total,
            done: 0,
            failed,
            counts_failures,
        }
    }

    /// Prints a result line on stdout without breaking the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| crate::output::println_lossy(line)),
            None => crate::output::println_lossy(line),
        }
    }

    /// One step done; `failed` if it failed.
    pub fn step(&mut self, failed: bool) {
        self.done += 1;
        self.failed += u64::from(failed);
        if let Some(bar) = &self.bar {
            if let Some(status) = self.status() {
                bar.set_message(status);
            }
            bar.inc(1);
        }
        if let Some((command, unit)) = self.heartbeat
            && self.last_line.elapsed() >= Duration::from_secs(10)
        {
            self.last_line = Instant::now();
            let of = if self.total == 0 {
                String::new()
            } else {
                format!("/{}", self.total)
            };
            let status = self.status().map_or_else(String::new, |s| format!(", {s}"));
            eprintln!(
                "{command}: {}{of} {unit}, {:.1} {unit}/s{status}",
                self.done,
                self.done as f64 / self.started.elapsed().as_secs_f64(),
            );
        }
    }

    /// The count of failures so far, where steps can fail.
    fn status(&self) -> Option<String> {
        self.counts_failures.then(|| failures(self.failed))
    }

    /// Replaces the bar's message (what is being done now).
    pub fn note(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn failures(n: u64) -> String {
    format!("{n} failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_steps_that_can_fail_show_a_count_of_failures() {
        // A benchmark's runs and a shrink's candidates do not fail: no "0 failed" beside them.
        let mut bench = Progress::new("bench", 3, "runs", None, false);
        bench.step(false);
        assert_eq!(bench.status(), None);
        // A sweep resumed with two failures counts on from them.
        let mut fuzz = Progress::new("fuzz", 0, "seeds", Some(2), false);
        fuzz.step(true);
        fuzz.step(false);
        assert_eq!(fuzz.status().as_deref(), Some("3 failed"));
    }

    #[test]
    fn lines_wrap_at_spaces_with_a_hanging_indent() {
        let line = "t=15.000s    fault: broker-1 dies (process crash: memory lost, the OS page cache kept)";
        let wrapped = wrap(line, 40, 13);
        assert_eq!(
            wrapped,
            "t=15.000s    fault: broker-1 dies\n\
             \x20            (process crash: memory\n\
             \x20            lost, the OS page cache\n\
             \x20            kept)"
        );
        assert!(wrapped.lines().all(|l| l.chars().count() <= 40));
        // Nothing to do for a short line; a word longer than the width stays whole.
        assert_eq!(wrap("short line", 40, 4), "short line");
        let long = "x".repeat(50);
        assert_eq!(
            wrap(&format!("a {long} b"), 40, 2),
            format!("a\n  {long}\n  b")
        );
        // A paragraph: no indent, and no line starts with a space.
        let paragraph =
            "broker-1 leads orders-0 and dies hard (kill -9). Nobody tells the controller.";
        assert_eq!(
            wrap(paragraph, 40, 0),
            "broker-1 leads orders-0 and dies hard\n(kill -9). Nobody tells the controller."
        );
    }
}
