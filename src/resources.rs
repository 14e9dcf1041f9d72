//! The resource budget of a command (README, "Resource limits"): `--memory-limit` and
//! `--work-limit`. A scenario whose estimated cost (`sim_core::scenario::Cost`) passes either
//! is refused before it runs, with the estimate and the flag that raises the limit; a run whose
//! resident memory passes `--memory-limit` anyway is stopped cleanly and reported, instead of
//! being killed by the operating system.
//!
//! The memory limit is process-wide (the resident memory it is compared with is), so it is
//! installed once per command and every run the command makes, on any thread, watches it.

use clap::Args;
use std::sync::atomic::{AtomicU64, Ordering};

use sim_core::engine::StopReason;
use sim_core::scenario::{Cost, DEFAULT_WORK_LIMIT, Scenario, human_bytes};
use sim_core::world::{self, ResolvedScenario, RunOptions, RunSummary};

use crate::CliError;

#[derive(Args, Debug, Clone, Copy, Default)]
pub struct ResourceArgs {
    /// Memory budget: refuse a run estimated to need more, and stop one whose resident memory
    /// passes it (e.g. 512MiB, 2GiB; default: three quarters of the machine's memory, or of
    /// the container's limit when lower).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
    /// Work budget, in steps (one event, or one partition visited by a fetch or a periodic
    /// task): refuse a run estimated to need more (default: 2000000000, 15 to 30 minutes).
    #[arg(
        long,
        value_name = "STEPS",
        allow_hyphen_values = true,
        value_parser = crate::flags::positive_u64
    )]
    pub work_limit: Option<u64>,
}

/// The memory limit every run of this process watches; 0 until a command installs one.
static MEMORY_LIMIT: AtomicU64 = AtomicU64::new(0);

impl ResourceArgs {
    /// Makes this the limit for every run the command makes from now on.
    pub fn install(&self) {
        MEMORY_LIMIT.store(self.memory_limit(), Ordering::Relaxed);
    }

    pub fn memory_limit(&self) -> u64 {
        self.memory_limit.unwrap_or_else(default_memory_limit)
    }

    pub fn work_limit(&self) -> u64 {
        self.work_limit.unwrap_or(DEFAULT_WORK_LIMIT)
    }

    /// Refuses a scenario whose estimated cost passes a limit, naming `origin` (the file),
    /// the estimate, what drives it, and the flag that raises the limit.
    pub fn admit(&self, scenario: &Scenario, origin: &str) -> Result<(), CliError> {
        self.admit_keeping_trace(scenario, origin, 0)
    }

    /// [`Self::admit`] for a command that keeps the run's trace in memory, about
    /// `bytes_per_event` for each event (`explain`).
    pub fn admit_keeping_trace(
        &self,
        scenario: &Scenario,
        origin: &str,
        bytes_per_event: u64,
    ) -> Result<(), CliError> {
        let cost = Cost::of(scenario);
        let memory = cost
            .memory_bytes
            .saturating_add(cost.events.saturating_mul(bytes_per_event));
        let memory_limit = self.memory_limit();
        if memory > memory_limit {
            return Err(CliError::Input(format!(
                "{origin}: this run would need about {} of memory ({} partition replicas, \
                 {} records), more than the limit of {}; raise it with --memory-limit, or \
                 shorten duration_ms, lower records_per_s or the partition count",
                human_bytes(memory),
                cost.partition_replicas,
                cost.records,
                human_bytes(memory_limit)
            )));
        }
        let work_limit = self.work_limit();
        if cost.steps > work_limit {
            return Err(CliError::Input(format!(
                "{origin}: this run would take about {} steps of work ({} partition replicas \
                 over {} ms, {} records), more than the limit of {work_limit}; raise it with \
                 --work-limit, or shorten duration_ms, lower records_per_s or the partition \
                 count",
                cost.steps, cost.partition_replicas, scenario.duration_ms, cost.records
            )));
        }
        Ok(())
    }
}

/// Three quarters of the memory this process may use (8 GiB where that is unknown): the
/// machine's, or the container's limit when it is lower (a Kubernetes pod's `limits.memory`).
pub fn default_memory_limit() -> u64 {
    let available = match (machine_memory_bytes(), cgroup_memory_limit()) {
        (Some(machine), Some(cgroup)) => Some(machine.min(cgroup)),
        (machine, cgroup) => machine.or(cgroup),
    };
    available.map_or(8 << 30, |b| b / 4 * 3)
}

/// The memory limit of this process's control group, if it has one.
fn cgroup_memory_limit() -> Option<u64> {
    cgroup_limit_from(|path| std::fs::read_to_string(path).ok())
}

/// The control-group memory limit, reading files through `read`: cgroup v2's `memory.max` at
/// the group's own path (from `/proc/self/cgroup`) or at the root a container sees, else
/// cgroup v1's `memory.limit_in_bytes`. "max", or v1's near-2^63 "no limit", reads as none.
fn cgroup_limit_from(read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let limit = |path: &str| {
        read(path)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&b| b < 1 << 62)
    };
    let own = read("/proc/self/cgroup").and_then(|s| {
        s.lines().find_map(|l| {
            l.strip_prefix("0::")
                .map(|g| g.trim_end_matches('/').to_string())
        })
    });
    own.iter()
        .map(|group| format!("/sys/fs/cgroup{group}/memory.max"))
        .chain(["/sys/fs/cgroup/memory.max".to_string()])
        .find_map(|p| limit(&p))
        .or_else(|| limit("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
}

/// Runs a resolved scenario, stopping it (stop reason `halted`) if the process's resident
/// memory passes the installed limit.
pub fn run_within_limits(
    scenario: &ResolvedScenario,
    options: RunOptions,
) -> std::io::Result<RunSummary> {
    let limit = MEMORY_LIMIT.load(Ordering::Relaxed);
    let mut over = || limit > 0 && rss_bytes().is_some_and(|b| b > limit);
    world::run_watched(scenario, options, &mut over)
}

/// Whether the process's resident memory is past the installed limit: the watchdog of runs
/// that `run_within_limits` does not make.
pub fn over_memory_limit() -> bool {
    let limit = MEMORY_LIMIT.load(Ordering::Relaxed);
    limit > 0 && rss_bytes().is_some_and(|b| b > limit)
}

/// The error for a run the memory watchdog stopped, or `Ok` for any other run.
pub fn check_not_halted(summary: &RunSummary, origin: &str) -> Result<(), CliError> {
    if summary.stop_reason != StopReason::Halted {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "{origin}: stopped at t={:.3}s of {}: resident memory passed the limit of {} \
         (raise it with --memory-limit)",
        summary.sim_time_ms as f64 / 1e3,
        summary.scenario,
        human_bytes(MEMORY_LIMIT.load(Ordering::Relaxed))
    )))
}

/// A size as a person writes it: `512MiB`, `2GiB`, `1.5G`, `4096M`, `1000000B`. The units
/// are binary (K, M, G, T with or without `iB`, as `docker --memory` reads them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let expected = || format!("expected a size such as 512MiB or 2GiB, got {text:?}");
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| expected())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" | "kb" => 1024.0,
        "m" | "mib" | "mb" => 1024.0 * 1024.0,
        "g" | "gib" | "gb" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" | "tb" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(expected()),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "expected a size of at least 1 byte and below 16 EiB, got {text:?}"
        ));
    }
    Ok(bytes as u64)
}

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size of this process since the last reset, in bytes (Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// Resident set size of this process now, in bytes (Linux only).
pub fn rss_bytes() -> Option<u64> {
    status_kb("VmRSS:").map(|kb| kb * 1024)
}

/// The machine's memory, in bytes (Linux: MemTotal).
pub fn machine_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak RSS mark so each measurement reports its own (Linux: clear_refs value 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_memory_limit_is_read_from_its_control_group() {
        let files = |entries: &'static [(&'static str, &'static str)]| {
            move |path: &str| {
                entries
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, text)| text.to_string())
            }
        };
        // cgroup v2, the pod's own group.
        let v2 = files(&[
            ("/proc/self/cgroup", "0::/kubepods/pod1/c1\n"),
            ("/sys/fs/cgroup/kubepods/pod1/c1/memory.max", "4294967296\n"),
        ]);
        assert_eq!(cgroup_limit_from(v2), Some(4 << 30));
        // cgroup v2 inside a container's namespace: the root is the container's group.
        let root = files(&[
            ("/proc/self/cgroup", "0::/\n"),
            ("/sys/fs/cgroup/memory.max", "2147483648\n"),
        ]);
        assert_eq!(cgroup_limit_from(root), Some(2 << 30));
        // No limit, in v2's words and in v1's.
        let unlimited = files(&[
            ("/proc/self/cgroup", "0::/\n"),
            ("/sys/fs/cgroup/memory.max", "max\n"),
            (
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                "9223372036854771712\n",
            ),
        ]);
        assert_eq!(cgroup_limit_from(unlimited), None);
        let v1 = files(&[(
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "1073741824\n",
        )]);
        assert_eq!(cgroup_limit_from(v1), Some(1 << 30));
        assert_eq!(cgroup_limit_from(files(&[])), None);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "-1G", "0", "1Q", "GiB", "1e30T", "NaN"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
