//! Output files are written whole: to a temporary name beside the target, then renamed, so a
//! reader never sees half a file and an interrupted run leaves no truncated report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::CliError;

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically. A failed write leaves neither a temporary file nor a
/// partial `path`.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = temp_path(path);
    let fail = |e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        CliError::Output(format!("{}: cannot write: {e}", path.display()))
    };
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// A file streamed as it is produced (the trace), renamed into place when complete; dropped
/// uncommitted (the run failed), its temporary file is removed.
pub struct StreamedFile {
    path: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl Drop for StreamedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl StreamedFile {
    pub fn create(path: &Path) -> Result<(Self, BufWriter<File>), CliError> {
        let tmp = temp_path(path);
        let file = File::create(&tmp)
            .map_err(|e| CliError::Output(format!("{}: cannot create: {e}", tmp.display())))?;
        Ok((
            StreamedFile {
                path: path.to_path_buf(),
                tmp,
                committed: false,
            },
            BufWriter::with_capacity(1 << 16, file),
        ))
    }

    /// Moves the finished file into place (the writer was flushed by the trace sink).
    pub fn commit(mut self) -> Result<(), CliError> {
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| CliError::Output(format!("{}: cannot write: {e}", self.path.display())))?;
        self.committed = true;
        Ok(())
    }
}

/// Creates the output directory.
pub fn ensure_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Output(format!("{}: cannot create directory: {e}", dir.display())))
}

/// Prints a line to stdout, ignoring a closed pipe (`kafkasim list | head`).
pub fn println_lossy(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// The largest scenario file kafkasim reads (a scenario at every hard limit is well under it).
pub const MAX_SCENARIO_BYTES: u64 = 64 << 20;

/// Reads a scenario file whole. What is not a regular file (a directory, a device such as
/// `/dev/zero`, a pipe) or is larger than [`MAX_SCENARIO_BYTES`] is refused before it is read;
/// a UTF-8 byte-order mark, which some editors write, is dropped (RFC 8259 §8.1 allows that).
pub fn read_scenario_file(path: &Path, shown: &str) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, a pipe or a socket)"
        };
        return Err(format!("{shown}: {kind}; expected a scenario file (JSON)"));
    }
    let too_large = |size: u64| {
        format!(
            "{shown}: {size} bytes is more than the {} MiB a scenario file may hold",
            MAX_SCENARIO_BYTES >> 20
        )
    };
    if meta.len() > MAX_SCENARIO_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_SCENARIO_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{shown}: not UTF-8 text (invalid byte at offset {}); expected a scenario file (JSON)",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// The version of kafkasim's JSON output formats (`run`, `explain`, `check`, `fuzz`, `shrink`,
/// `bench` and `list` with `--format json`, and fuzz's `results.jsonl`): raised when a field
/// changes meaning or goes away, not when one is added.
pub const FORMAT_VERSION: u64 = 1;

/// `value` (a JSON object) with `format_version` as its first field.
pub fn versioned(value: impl serde::Serialize) -> serde_json::Value {
    let value = serde_json::to_value(value).expect("an output serializes");
    let serde_json::Value::Object(fields) = value else {
        return value;
    };
    let mut out = serde_json::Map::new();
    out.insert("format_version".into(), FORMAT_VERSION.into());
    out.extend(fields);
    serde_json::Value::Object(out)
}

/// Prints `value` as one line of JSON with its `format_version`.
pub fn println_json(value: impl serde::Serialize) {
    println_lossy(&versioned(value).to_string());
}

/// Writes bytes to stdout, ignoring a closed pipe.
pub fn print_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// `path` as a user reads it in reports and saved files: relative to the working directory
/// when it lies under it (so a CI report names `scenarios/bugs/x.json`, not the runner's
/// checkout folder), and as given otherwise. `./` prefixes are dropped.
pub fn shown_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .filter(|_| path.is_absolute())
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty());
    let path = relative.as_deref().unwrap_or(path);
    path.strip_prefix(".")
        .ok()
        .filter(|rest| !rest.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            shown_path(&cwd.join("scenarios/a.json")),
            "scenarios/a.json"
        );
        assert_eq!(
            shown_path(Path::new("./scenarios/a.json")),
            "scenarios/a.json"
        );
        assert_eq!(
            shown_path(Path::new("scenarios/a.json")),
            "scenarios/a.json"
        );
        assert_eq!(shown_path(Path::new(".")), ".");
        assert_eq!(shown_path(&cwd), cwd.display().to_string());
        // Outside the working directory a path stays as given.
        let outside = cwd.parent().unwrap().join("elsewhere.json");
        assert_eq!(shown_path(&outside), outside.display().to_string());
    }
}
