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

/// Writes `bytes` to `path` atomically.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = temp_path(path);
    let fail =
        |e: std::io::Error| CliError::Output(format!("{}: cannot write: {e}", path.display()));
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// A file streamed as it is produced (the trace), renamed into place when complete.
pub struct StreamedFile {
    path: PathBuf,
    tmp: PathBuf,
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
            },
            BufWriter::with_capacity(1 << 16, file),
        ))
    }

    /// Moves the finished file into place (the writer was flushed by the trace sink).
    pub fn commit(self) -> Result<(), CliError> {
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| CliError::Output(format!("{}: cannot write: {e}", self.path.display())))
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
