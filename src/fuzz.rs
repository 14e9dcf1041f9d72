//! `kafkasim fuzz`: seeds of random runs drawn from a base (`sim_core::fuzz::swarm`), in
//! parallel across cores (each simulation single-threaded), every result appended to
//! `DIR/results.jsonl` and flushed as its seed finishes. A failing seed is saved as a scenario
//! file, `DIR/failures/seed-N.json`, which `kafkasim run` replays, then shrunk to
//! `DIR/failures/seed-N.min.json`.
//!
//! - `--shard I/K` runs every K-th seed of the range from offset I, so K machines split one
//!   sweep; `--merge DIR...` sums their results.
//! - `--resume` skips the seeds `DIR/results.jsonl` already holds: a killed sweep loses only
//!   the seeds that were running.
//! - `--verify-determinism N` runs one seed in N twice and compares trace hashes.

use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use sim_core::fuzz::swarm::FuzzBase;
use sim_core::fuzz::triage::Situation;
use sim_core::scenario::Scenario;
use sim_core::variants;

use crate::output::{self, println_lossy};
use crate::pool;
use crate::shrink::{
    Target, as_era_finding, beyond_era, run_hash_only, shrink_finding, write_scenario,
};
use crate::term::{self, Progress, Tone, paint};
use crate::{CliError, Format, Verdict, run};

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// Base scenario (a file or a built-in name): its cluster and workload are kept, each seed
    /// draws the faults. Default: the built-in base, which draws the cluster and workload too.
    pub scenario: Option<String>,
    /// How many seeds (the range START..START+SEEDS).
    #[arg(
        long,
        required_unless_present = "merge",
        allow_hyphen_values = true,
        value_parser = crate::flags::positive_u64
    )]
    pub seeds: Option<u64>,
    /// First seed of the range.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Seeds run at once (default: the number of cores).
    #[arg(long, short, allow_hyphen_values = true, value_parser = crate::flags::positive_usize)]
    pub jobs: Option<usize>,
    /// Run only shard I of K: the seeds at positions I, I+K, I+2K, ... of the range, so K
    /// machines can split one sweep (merge with --merge).
    #[arg(long, value_name = "I/K", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Switch protocol variant V on in every run (see `kafkasim list`).
    #[arg(long = "variant", value_name = "V")]
    pub variants: Vec<String>,
    /// Switch variant V on in every run as the era's baseline: the --variant ones are hunted
    /// in that era, and a violation counts only if the same run without them keeps it.
    #[arg(long = "era", value_name = "V")]
    pub era: Vec<String>,
    /// Directory for results.jsonl and failures/.
    #[arg(long, default_value = "kafkasim-fuzz")]
    pub out: PathBuf,
    /// Take no new seed after this many wall-clock seconds.
    #[arg(long, value_name = "SECS")]
    pub time_budget: Option<f64>,
    /// Continue the sweep in --out: seeds already in results.jsonl are not run again.
    #[arg(long)]
    pub resume: bool,
    /// Run one seed in N twice and compare trace hashes; 0 turns it off.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub verify_determinism: u64,
    /// Save failures without shrinking them.
    #[arg(long)]
    pub no_shrink: bool,
    /// Most candidate runs per shrink.
    #[arg(long, default_value_t = 400)]
    pub shrink_runs: u32,
    /// Take no new seed once this many have failed.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<u64>,
    /// `json`: the summary as one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Merge the results.jsonl of these sweep directories (shards) into one summary, instead
    /// of running seeds.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["scenario", "seeds", "resume", "shard"])]
    pub merge: Vec<PathBuf>,
    #[command(flatten)]
    pub resources: crate::resources::ResourceArgs,
}

/// `I/K`: shard I (from 0) of K.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let (i, k) = text
        .split_once('/')
        .ok_or_else(|| format!("expected I/K (e.g. 0/4), found {text:?}"))?;
    let index: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("expected a shard number, found {i:?}"))?;
    let count: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("expected a shard count, found {k:?}"))?;
    if count == 0 || index >= count {
        return Err(format!("expected 0 <= I < K, found {index}/{count}"));
    }
    Ok(Shard { index, count })
}

/// What a sweep directory holds results of; a resumed sweep must be the same sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SweepId {
    base: String,
    /// The base scenario as resolved (empty for the built-in base), so an edited base file is
    /// not resumed as if unchanged.
    base_scenario: serde_json::Value,
    variants: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    era: Vec<String>,
    version: String,
}

/// One violated invariant of a seed: its first violation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedViolation {
    pub invariant: String,
    pub time_ms: f64,
    pub nodes: Vec<String>,
    pub explanation: String,
}

/// A shrunk finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrunkFinding {
    pub file: String,
    pub invariant: String,
    pub faults: usize,
    pub events: u64,
    pub duration_ms: u64,
    pub runs: u32,
}

/// One line of results.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    /// `pass`, `fail` (an invariant broke), `era` (with `--era`: only invariants the era's
    /// baseline breaks too), `nondeterministic` (two runs, two traces), `stalled` or `panic`
    /// (a kafkasim bug).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<SeedViolation>,
    pub trace_hash: String,
    /// The second run's hash, when the seed was run twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_hash: Option<String>,
    pub events: u64,
    pub faults: usize,
    /// The failing run as a scenario file, relative to the sweep directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repro: Option<String>,
    /// The failure's group: what broke and the situation it broke in (see `groups.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic: Option<String>,
    /// What kept happening when the simulated clock stopped (outcome `stalled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<String>,
    /// Wall-clock seconds, shrinking included (the only field that differs between runs).
    pub wall_s: f64,
}

impl SeedResult {
    fn failed(&self) -> bool {
        !matches!(self.outcome.as_str(), "pass" | "era")
    }
}

/// Everything a worker needs to run seeds.
struct Sweep<'a> {
    base: &'a FuzzBase,
    resources: &'a crate::resources::ResourceArgs,
    dir: &'a Path,
    verify_every: u64,
    shrink_runs: Option<u32>,
    replay_base: String,
    /// With `--era`: the variants hunted (a violation counts only beyond the era's).
    hunted: Vec<String>,
}

impl Sweep<'_> {
    fn run_seed(&self, seed: u64) -> Result<SeedResult, CliError> {
        let started = Instant::now();
        let scenario = self.base.draw(seed);
        self.resources.admit(&scenario, &format!("seed {seed}"))?;
        run::set_replay(format!("{} --start {seed} --seeds 1", self.replay_base));
        let mut result = SeedResult {
            seed,
            outcome: "pass".into(),
            violations: Vec::new(),
            trace_hash: String::new(),
            rerun_hash: None,
            events: 0,
            faults: scenario.faults.len(),
            repro: None,
            group: None,
            panic: None,
            stalled: None,
            wall_s: 0.0,
        };
        let first = match run::catch_panic(false, || run_hash_only(&scenario)) {
            Ok(summary) => summary,
            Err(message) => {
                let first_line = message.lines().next().unwrap_or_default();
                result.group = Some(format!("panic: {first_line}"));
                result.outcome = "panic".into();
                result.panic = Some(message);
                self.save(&scenario, &mut result, None)?;
                result.wall_s = started.elapsed().as_secs_f64();
                return Ok(result);
            }
        };
        // The machine's memory bounds the whole sweep: no later seed would do better.
        crate::resources::check_not_halted(&first, &format!("seed {seed}"))?;
        result.trace_hash = first.trace_hash.clone();
        result.events = first.events;
        if let Some(stalled) = &first.stalled {
            // The sweep drew this schedule itself: a clock that stops is a finding to look at
            // (a loop with no delay in the model), saved as it is.
            result.outcome = "stalled".into();
            result.stalled = Some(stalled.clone());
            result.group = Some("stalled: the simulated clock stopped".into());
            self.save(&scenario, &mut result, None)?;
            result.wall_s = started.elapsed().as_secs_f64();
            return Ok(result);
        }
        for v in &first.violations {
            if !result.violations.iter().any(|s| s.invariant == v.invariant) {
                result.violations.push(SeedViolation {
                    invariant: v.invariant.to_string(),
                    time_ms: v.time_ms,
                    nodes: v.nodes.clone(),
                    explanation: v.explanation.clone(),
                });
            }
        }
        if self.verify_every > 0 && seed.is_multiple_of(self.verify_every) {
            let again = run::catch_panic(false, || run_hash_only(&scenario))
                .map_or_else(|m| format!("panic: {m}"), |s| s.trace_hash);
            if again != result.trace_hash {
                result.outcome = "nondeterministic".into();
                result.rerun_hash = Some(again);
                result.group = Some("nondeterministic: two runs, two traces".into());
                // Shrinking a run that does not repeat would chase noise: saved as it is.
                self.save(&scenario, &mut result, None)?;
                result.wall_s = started.elapsed().as_secs_f64();
                return Ok(result);
            }
            result.rerun_hash = Some(again);
        }
        let counted = beyond_era(&scenario, &first, &self.hunted);
        if let Some(v) = first
            .violations
            .iter()
            .find(|v| counted.contains(&v.invariant))
        {
            result.outcome = "fail".into();
            // The failure's invariant leads the list (the shrink and the group follow it).
            if let Some(i) = result
                .violations
                .iter()
                .position(|s| s.invariant == v.invariant)
            {
                let lead = result.violations.remove(i);
                result.violations.insert(0, lead);
            }
            let situation = Situation::of(&scenario, v.invariant, v.time_ms, &v.nodes);
            result.group = Some(situation.signature());
            self.save(&scenario, &mut result, Some(v))?;
        } else if !first.violations.is_empty() {
            result.outcome = "era".into();
        }
        result.wall_s = started.elapsed().as_secs_f64();
        Ok(result)
    }

    /// Saves a failing seed's scenario as `failures/seed-N.json`.
    fn save(
        &self,
        scenario: &Scenario,
        result: &mut SeedResult,
        violation: Option<&sim_core::check::Violation>,
    ) -> Result<(), CliError> {
        let failures = self.dir.join("failures");
        output::ensure_dir(&failures)?;
        let name = format!("seed-{}.json", result.seed);
        let repro_path = failures.join(&name);
        let origin = format!(
            "It {}. Replay: kafkasim run {}",
            what_broke(result),
            output::shown_path(&repro_path)
        );
        write_scenario(
            &repro_path,
            &as_era_finding(scenario.clone(), violation, &origin, &self.hunted),
        )?;
        result.repro = Some(format!("failures/{name}"));
        Ok(())
    }

    /// Shrinks a failing seed (a violation or a panic; a stalled or nondeterministic run is
    /// kept as it is) and saves it as `failures/seed-N.min.json`.
    fn shrink_seed(&self, result: &SeedResult) -> Result<Option<ShrunkFinding>, CliError> {
        let Some(max_runs) = self.shrink_runs else {
            return Ok(None);
        };
        let scenario = self.base.draw(result.seed);
        let (target, first_ms, events) = match (result.outcome.as_str(), result.violations.first())
        {
            ("fail", Some(v)) if !self.hunted.is_empty() => (
                Target::BeyondEra {
                    invariant: v.invariant.clone(),
                    hunted: self.hunted.clone(),
                },
                v.time_ms.ceil() as u64,
                result.events,
            ),
            ("fail", Some(v)) => (
                Target::Invariant(v.invariant.clone()),
                v.time_ms.ceil() as u64,
                result.events,
            ),
            ("panic", _) => (Target::Panic, scenario.duration_ms, 0),
            _ => return Ok(None),
        };
        run::set_replay(format!(
            "{} --start {} --seeds 1",
            self.replay_base, result.seed
        ));
        let report = shrink_finding(&scenario, &target, first_ms, events, max_runs, &mut |_| {});
        let min_name = format!("seed-{}.min.json", result.seed);
        let min_path = self.dir.join("failures").join(&min_name);
        let origin = format!(
            "Shrunk from {} to {} fault entries and {} to {} events in {} candidate runs; it \
             still {}. Replay: kafkasim run {}",
            report.faults_before,
            report.faults_after,
            report.events_before,
            report.events_after,
            report.runs,
            what_broke(result),
            output::shown_path(&min_path)
        );
        let finding = as_era_finding(
            report.scenario.clone(),
            report.violation.as_ref(),
            &origin,
            &self.hunted,
        );
        write_scenario(&min_path, &finding)?;
        Ok(Some(ShrunkFinding {
            file: format!("failures/{min_name}"),
            invariant: target.label().to_string(),
            faults: report.faults_after,
            events: report.events_after,
            duration_ms: finding.duration_ms,
            runs: report.runs,
        }))
    }
}

/// What a failed seed did, for the description of its saved file.
fn what_broke(result: &SeedResult) -> String {
    match (result.outcome.as_str(), result.violations.first()) {
        ("nondeterministic", _) => format!(
            "two runs of seed {} gave two traces ({} then {})",
            result.seed,
            result.trace_hash,
            result.rerun_hash.as_deref().unwrap_or("?")
        ),
        ("fail", Some(v)) => format!("violated {}", v.invariant),
        ("stalled", _) => format!(
            "stopped making progress: {}",
            result.stalled.as_deref().unwrap_or("?")
        ),
        _ => format!(
            "kafkasim panicked: {}",
            result.panic.as_deref().unwrap_or("?")
        ),
    }
}

/// Failed seeds that broke the same way in the same situation (`sim_core::fuzz::triage`): one
/// of them, the lowest seed, is shrunk; the others keep their seeds and saved runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub signature: String,
    /// `fail`, `panic`, `stalled` or `nondeterministic`.
    pub outcome: String,
    pub count: usize,
    /// Its seeds, lowest first (the first 100).
    pub seeds: Vec<u64>,
    /// The seed shrunk for the group: its lowest.
    pub representative: u64,
    /// The representative's saved run, relative to the sweep directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repro: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<ShrunkFinding>,
}

/// The failures of `results` in groups, in the order of their lowest seeds.
fn groups_of(results: &BTreeMap<u64, SeedResult>) -> Vec<Group> {
    let mut by_signature: BTreeMap<&str, Group> = BTreeMap::new();
    for r in results.values().filter(|r| r.failed()) {
        let signature = r.group.as_deref().unwrap_or(r.outcome.as_str());
        let group = by_signature.entry(signature).or_insert_with(|| Group {
            signature: signature.to_string(),
            outcome: r.outcome.clone(),
            count: 0,
            seeds: Vec::new(),
            representative: r.seed,
            repro: r.repro.clone(),
            shrunk: None,
        });
        group.count += 1;
        if group.seeds.len() < 100 {
            group.seeds.push(r.seed);
        }
    }
    let mut groups: Vec<Group> = by_signature.into_values().collect();
    groups.sort_by_key(|g| g.representative);
    groups
}

/// Reads a results.jsonl; a last line cut short by a kill is dropped (and, when `repair`, cut
/// from the file and reported), any other bad line is an error.
fn read_results(path: &Path, repair: bool) -> Result<Vec<SeedResult>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CliError::Input(format!(
                "{}: cannot read: {e}",
                path.display()
            )));
        }
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    if repair && complete.len() != text.len() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(complete.len() as u64));
        file.map_err(|e| CliError::Output(format!("{}: cannot repair: {e}", path.display())))?;
        eprintln!(
            "kafkasim fuzz: {}: dropped a cut-short last line ({} bytes) that an interrupted \
             sweep left; that seed runs again",
            path.display(),
            text.len() - complete.len()
        );
    }
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                CliError::Input(format!(
                    "{}:{}: not a fuzz result line: {e}",
                    path.display(),
                    i + 1
                ))
            })
        })
        .collect()
}

/// The seeds of a range that a shard runs, drawn lazily (a range may hold 2^64 seeds).
pub fn shard_seeds(start: u64, seeds: u64, shard: Option<Shard>) -> impl Iterator<Item = u64> {
    let (index, count) = shard.map_or((0, 1), |s| (s.index, s.count));
    let step = usize::try_from(count).unwrap_or(usize::MAX);
    (index..seeds).step_by(step).map(move |j| start + j)
}

/// How many seeds of the range a shard runs, without drawing them.
fn shard_len(seeds: u64, shard: Option<Shard>) -> u64 {
    let (index, count) = shard.map_or((0, 1), |s| (s.index, s.count));
    if seeds > index {
        (seeds - index - 1) / count + 1
    } else {
        0
    }
}

/// Whether a seed belongs to the shard's part of the range.
fn in_shard(seed: u64, start: u64, seeds: u64, shard: Option<Shard>) -> bool {
    let (index, count) = shard.map_or((0, 1), |s| (s.index, s.count));
    seed.checked_sub(start)
        .is_some_and(|j| j < seeds && j % count == index)
}

/// A sweep's totals, printed at the end and by --merge.
#[derive(Debug, Serialize)]
struct Summary {
    seeds: usize,
    passed: usize,
    failed: usize,
    /// Seeds checked twice for determinism.
    verified: usize,
    nondeterministic: usize,
    panics: usize,
    /// Seeds whose simulated clock stopped moving.
    stalled: usize,
    /// Failed seeds per invariant.
    by_invariant: BTreeMap<String, usize>,
    first_failure: Option<u64>,
    events: u64,
    /// The failures grouped by what broke and the situation (the lowest seed of each shrunk).
    groups: Vec<Group>,
    failures: Vec<SeedResult>,
    /// Seeds reported twice with different traces (by --merge: shards of different builds).
    conflicts: Vec<u64>,
}

fn summarize(
    results: &BTreeMap<u64, SeedResult>,
    groups: Vec<Group>,
    conflicts: Vec<u64>,
) -> Summary {
    let failures: Vec<SeedResult> = results.values().filter(|r| r.failed()).cloned().collect();
    let mut by_invariant = BTreeMap::new();
    for r in &failures {
        let key = match r.violations.first() {
            Some(v) if r.outcome == "fail" => v.invariant.clone(),
            _ => r.outcome.clone(),
        };
        *by_invariant.entry(key).or_insert(0) += 1;
    }
    Summary {
        seeds: results.len(),
        passed: results.len() - failures.len(),
        failed: failures.len() + conflicts.len(),
        verified: results.values().filter(|r| r.rerun_hash.is_some()).count(),
        nondeterministic: failures
            .iter()
            .filter(|r| r.outcome == "nondeterministic")
            .count(),
        panics: failures.iter().filter(|r| r.outcome == "panic").count(),
        stalled: failures.iter().filter(|r| r.outcome == "stalled").count(),
        by_invariant,
        first_failure: failures.first().map(|r| r.seed),
        events: results.values().map(|r| r.events).sum(),
        groups,
        failures,
        conflicts,
    }
}

/// The live line of a failure that opens a new group.
fn new_group_line(r: &SeedResult, groups: usize, dir: &Path) -> String {
    let file = r
        .repro
        .as_deref()
        .map(|f| format!("  {}", output::shown_path(&dir.join(f))))
        .unwrap_or_default();
    format!(
        "{} group {groups}: {}  (seed {}{file})",
        paint("FAIL", Tone::Bad),
        r.group.as_deref().unwrap_or(&r.outcome),
        r.seed
    )
}

/// A group in the closing summary: how many seeds, what broke, and the file to replay.
fn group_lines(g: &Group, dir: Option<&Path>) -> String {
    let at = |f: &str| match dir {
        Some(d) => output::shown_path(&d.join(f)),
        None => f.to_string(),
    };
    let file = match (&g.shrunk, &g.repro) {
        (Some(s), _) => format!(
            "{}  (shrunk to {} fault entries, {} events, {:.1} s)",
            at(&s.file),
            s.faults,
            s.events,
            s.duration_ms as f64 / 1000.0
        ),
        (None, Some(f)) => at(f),
        _ => String::new(),
    };
    let others: Vec<String> = g
        .seeds
        .iter()
        .filter(|&&s| s != g.representative)
        .take(8)
        .map(u64::to_string)
        .collect();
    let also = match g.count - 1 {
        0 => String::new(),
        n if n > others.len() => format!(
            "; also seeds {} and {} more",
            others.join(", "),
            n - others.len()
        ),
        _ => format!("; also seeds {}", others.join(", ")),
    };
    format!(
        "{} {:>4} x {}\n           seed {}  {file}{also}",
        paint("FAIL", Tone::Bad),
        g.count,
        g.signature,
        g.representative
    )
}

fn print_summary(s: &Summary, format: Format, dir: Option<&Path>, header: &str) {
    match format {
        Format::Json => output::println_json(s),
        Format::Text => {
            if !term::quiet() {
                println_lossy(header);
            }
            if !s.by_invariant.is_empty() {
                let parts: Vec<String> = s
                    .by_invariant
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                println_lossy(&format!("failed seeds by invariant: {}", parts.join(", ")));
            }
            if !s.groups.is_empty() {
                let n = |count: usize, one: &str, many: &str| {
                    format!("{count} {}", if count == 1 { one } else { many })
                };
                println_lossy(&format!(
                    "{} in {} (what broke, and the situation); the lowest seed of each is \
                     shrunk, results.jsonl has every seed:",
                    n(s.failures.len(), "failed seed", "failed seeds"),
                    n(s.groups.len(), "group", "groups")
                ));
            }
            for g in &s.groups {
                println_lossy(&group_lines(g, dir));
            }
            for seed in &s.conflicts {
                println_lossy(&format!(
                    "{} seed {seed}  two results with different traces (different builds?)",
                    paint("FAIL", Tone::Bad)
                ));
            }
            println_lossy(&format!("{} passed, {} failed", s.passed, s.failed));
        }
    }
}

fn merge(args: &FuzzArgs) -> Result<Verdict, CliError> {
    let mut all: BTreeMap<u64, SeedResult> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for dir in &args.merge {
        let path = dir.join("results.jsonl");
        if !path.is_file() {
            return Err(CliError::Input(format!(
                "--merge: {}: no such file (expected a fuzz --out directory)",
                path.display()
            )));
        }
        for r in read_results(&path, false)? {
            match all.get(&r.seed) {
                Some(old) if old.trace_hash != r.trace_hash => conflicts.push(r.seed),
                Some(_) => {}
                None => {
                    all.insert(r.seed, r);
                }
            }
        }
    }
    conflicts.dedup();
    let groups = groups_of(&all);
    let summary = summarize(&all, groups, conflicts);
    let header = format!(
        "merged {} sweep directories: {} seeds, {} events, {} checked twice for determinism",
        args.merge.len(),
        summary.seeds,
        summary.events,
        summary.verified
    );
    print_summary(&summary, args.format, None, &header);
    Ok(if summary.failed == 0 {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}

pub fn fuzz(args: FuzzArgs) -> Result<Verdict, CliError> {
    if !args.merge.is_empty() {
        return merge(&args);
    }
    let seeds = args.seeds.expect("clap requires --seeds without --merge");
    check_flags(&args)?;
    let (mut base, base_doc) = load_base(&args)?;
    base.variants = args.era.iter().chain(&args.variants).cloned().collect();

    let dir = &args.out;
    output::ensure_dir(dir)?;
    let id = SweepId {
        base: base.name.clone(),
        base_scenario: base_doc,
        variants: args.variants.clone(),
        era: args.era.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let results_path = dir.join("results.jsonl");
    let earlier = open_sweep(&args, &id, &results_path)?;
    let mut results: BTreeMap<u64, SeedResult> = BTreeMap::new();
    for r in earlier {
        results.insert(r.seed, r);
    }
    let already: std::collections::BTreeSet<u64> = results
        .keys()
        .copied()
        .filter(|&s| in_shard(s, args.start, seeds, args.shard))
        .collect();
    let planned = shard_len(seeds, args.shard);
    let todo = Todo {
        seeds: shard_seeds(args.start, seeds, args.shard).filter(|s| !already.contains(s)),
        len: planned - already.len() as u64,
    };
    args.resources.install();
    let sweep = Sweep {
        base: &base,
        resources: &args.resources,
        dir,
        verify_every: args.verify_determinism,
        shrink_runs: (!args.no_shrink).then_some(args.shrink_runs),
        replay_base: replay_base(&args),
        hunted: if args.era.is_empty() {
            Vec::new()
        } else {
            args.variants.clone()
        },
    };
    let started = Instant::now();
    let ran = run_sweep(&args, &sweep, todo, &results_path, &mut results)?;
    let groups = triage(&args, &sweep, &results)?;
    let wall = started.elapsed().as_secs_f64();
    let summary = summarize(&results, groups, Vec::new());
    let missing = planned
        - results
            .keys()
            .filter(|&&s| in_shard(s, args.start, seeds, args.shard))
            .count() as u64;
    let variants = if base.variants.is_empty() {
        "modern protocol".to_string()
    } else if args.era.is_empty() {
        args.variants.join(", ")
    } else {
        format!(
            "{} in the era of {}",
            args.variants.join(", "),
            args.era.join(", ")
        )
    };
    let mut header = format!(
        "fuzz \"{}\" [{variants}]: ran {ran} seeds in {wall:.1} s ({:.1} seeds/s); results of {} \
         seeds in {}, {} checked twice for determinism",
        base.name,
        ran as f64 / wall.max(1e-9),
        summary.seeds,
        results_path.display(),
        summary.verified
    );
    if missing > 0 {
        header.push_str(&format!(
            "\n{missing} seeds of the range not run (time budget or --max-failures); --resume \
             continues"
        ));
    }
    print_summary(&summary, args.format, Some(dir), &header);
    Ok(if summary.failed == 0 {
        Verdict::Ok
    } else {
        Verdict::ExpectationsNotMet
    })
}

/// Groups the sweep's failures, shrinks the lowest seed of each group not shrunk before (in
/// parallel), and writes `groups.json` whole. A resumed sweep keeps the shrinks it has.
fn triage(
    args: &FuzzArgs,
    sweep: &Sweep<'_>,
    results: &BTreeMap<u64, SeedResult>,
) -> Result<Vec<Group>, CliError> {
    let path = args.out.join("groups.json");
    let earlier: Vec<Group> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|doc| serde_json::from_value(doc["groups"].clone()).ok())
        .unwrap_or_default();
    let mut groups = groups_of(results);
    for g in &mut groups {
        g.shrunk = earlier
            .iter()
            .find(|e| e.signature == g.signature && e.representative == g.representative)
            .and_then(|e| e.shrunk.clone());
    }
    let todo: Vec<usize> = (0..groups.len())
        .filter(|&i| groups[i].shrunk.is_none() && sweep.shrink_runs.is_some())
        .filter(|&i| matches!(groups[i].outcome.as_str(), "fail" | "panic"))
        .collect();
    let jobs = pool::jobs(args.jobs, todo.len());
    let (shrunk, error) = shrink_groups(&todo, jobs, |i| {
        sweep.shrink_seed(&results[&groups[i].representative])
    });
    for (i, s) in shrunk {
        groups[i].shrunk = s;
    }
    write_groups(&path, &groups)?;
    match error {
        Some(e) => Err(e),
        None => Ok(groups),
    }
}

/// Shrinks the groups at `todo` on `jobs` threads, with a progress bar: each group's shrink
/// (by its index), and the first error (the shrinks that finished are kept). Shared with
/// `explore`.
pub fn shrink_groups(
    todo: &[usize],
    jobs: usize,
    shrink: impl Fn(usize) -> Result<Option<ShrunkFinding>, CliError> + Sync,
) -> (Vec<(usize, Option<ShrunkFinding>)>, Option<CliError>) {
    let mut progress = Progress::new("shrink", todo.len() as u64, "groups", None, false);
    let mut error = None;
    let mut shrunk = Vec::new();
    pool::run(
        todo.iter().copied(),
        jobs,
        || true,
        |&i| (i, shrink(i)),
        |_, (i, r)| {
            progress.step(false);
            match r {
                Ok(s) => shrunk.push((i, s)),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        },
    );
    progress.finish();
    (shrunk, error)
}

/// Writes `groups.json` whole: the groups, versioned.
pub fn write_groups(path: &Path, groups: &impl Serialize) -> Result<(), CliError> {
    let doc = output::versioned(serde_json::json!({ "groups": groups }));
    let mut text = serde_json::to_string_pretty(&doc).expect("groups serialize");
    text.push('\n');
    output::write_whole(path, text.as_bytes())
}

/// The flags clap cannot check: a seed range that ends within the seeds there are, known
/// variants, a positive time budget.
fn check_flags(args: &FuzzArgs) -> Result<(), CliError> {
    if let Some(seeds) = args.seeds
        && args.start.checked_add(seeds - 1).is_none()
    {
        return Err(CliError::Input(format!(
            "--start {} --seeds {seeds}: the range ends past the last seed, {}",
            args.start,
            u64::MAX
        )));
    }
    check_variants(&args.variants, &args.era)?;
    check_seconds("--time-budget", args.time_budget)?;
    Ok(())
}

/// Every `--variant` and `--era` names a variant, and an era has a variant to hunt in it
/// (shared with `explore`).
pub fn check_variants(variants: &[String], era: &[String]) -> Result<(), CliError> {
    for (flag, names) in [("--variant", variants), ("--era", era)] {
        for v in names {
            if variants::variant(v).is_none() {
                return Err(CliError::Input(format!(
                    "{flag}: unknown protocol variant \"{v}\" (see `kafkasim list`)"
                )));
            }
        }
    }
    if !era.is_empty() && variants.is_empty() {
        return Err(CliError::Input(
            "--era: name the variant hunted in that era with --variant".into(),
        ));
    }
    Ok(())
}

/// A time budget, if given, is a positive number of seconds.
pub fn check_seconds(flag: &str, seconds: Option<f64>) -> Result<(), CliError> {
    match seconds {
        Some(b) if !(b.is_finite() && b > 0.0) => Err(CliError::Input(format!(
            "{flag}: expected a positive number of seconds, found {b}"
        ))),
        _ => Ok(()),
    }
}

/// The sweep's base: the built-in one, or a scenario file's (with its document, recorded in
/// `sweep.json` so `--resume` can tell the same sweep).
fn load_base(args: &FuzzArgs) -> Result<(FuzzBase, serde_json::Value), CliError> {
    Ok(match &args.scenario {
        None => (FuzzBase::default_base(), serde_json::Value::Null),
        Some(arg) => {
            let (scenario, origin) = run::load(arg)?;
            let doc = scenario.to_document();
            let base = FuzzBase::from_scenario(scenario, &origin)
                .map_err(|e| CliError::Input(e.to_string()))?;
            (base, doc)
        }
    })
}

/// Opens the sweep folder: the results already there (only with `--resume`, and only of the
/// same sweep), and `sweep.json` describing it.
fn open_sweep(
    args: &FuzzArgs,
    id: &SweepId,
    results_path: &Path,
) -> Result<Vec<SeedResult>, CliError> {
    let dir = &args.out;
    let id_path = dir.join("sweep.json");
    // Repaired with or without --resume: a line appended after a cut-short one would spoil
    // both.
    let earlier = read_results(results_path, true)?;
    if args.resume {
        if let Ok(text) = std::fs::read_to_string(&id_path) {
            let old: SweepId = serde_json::from_str(&text).map_err(|e| {
                CliError::Input(format!(
                    "{}: not a sweep description: {e}",
                    id_path.display()
                ))
            })?;
            if old != *id {
                return Err(CliError::Input(format!(
                    "--resume: {} holds a different sweep (base \"{}\", variants [{}]); use \
                     another --out",
                    dir.display(),
                    old.base,
                    old.variants.join(", ")
                )));
            }
        }
    } else if !earlier.is_empty() {
        return Err(CliError::Input(format!(
            "{}: already holds {} results; --resume to continue that sweep, or choose another \
             --out",
            results_path.display(),
            earlier.len()
        )));
    }
    let id_text = serde_json::to_string_pretty(id).expect("a sweep id serializes");
    output::write_whole(&id_path, id_text.as_bytes())?;
    Ok(earlier)
}

/// The command that replays a seed of this sweep, but for `--seed`.
fn replay_base(args: &FuzzArgs) -> String {
    let mut replay_base = String::from("kafkasim fuzz");
    if let Some(s) = &args.scenario {
        replay_base.push_str(&format!(" {s}"));
    }
    for v in &args.era {
        replay_base.push_str(&format!(" --era {v}"));
    }
    for v in &args.variants {
        replay_base.push_str(&format!(" --variant {v}"));
    }
    replay_base.push_str(&format!(" --out {}", args.out.display()));
    replay_base
}

/// The seeds still to run, drawn as they are taken, and how many there are.
struct Todo<S> {
    seeds: S,
    len: u64,
}

/// Runs the seeds still to run, each result appended to `results.jsonl` and flushed as it
/// finishes, until they are done, the time budget is spent or `--max-failures` is reached.
/// Returns how many ran.
fn run_sweep(
    args: &FuzzArgs,
    sweep: &Sweep<'_>,
    todo: Todo<impl Iterator<Item = u64> + Send>,
    results_path: &Path,
    results: &mut BTreeMap<u64, SeedResult>,
) -> Result<u64, CliError> {
    let dir = &args.out;
    let jobs = pool::jobs(args.jobs, usize::try_from(todo.len).unwrap_or(usize::MAX));
    let started = Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(results_path)
        .map_err(|e| CliError::Output(format!("{}: cannot open: {e}", results_path.display())))?;
    let earlier_failures = results.values().filter(|r| r.failed()).count() as u64;
    let failures = AtomicU64::new(earlier_failures);
    let stop = AtomicBool::new(false);
    let mut progress = Progress::new("fuzz", todo.len, "seeds", Some(earlier_failures), true);
    let mut seen: std::collections::BTreeSet<String> =
        results.values().filter_map(|r| r.group.clone()).collect();
    let mut error: Option<CliError> = None;
    let (budget, max_failures) = (args.time_budget, args.max_failures);
    let keep_going = || {
        !(stop.load(Ordering::Relaxed)
            || budget.is_some_and(|b| started.elapsed().as_secs_f64() >= b)
            || max_failures.is_some_and(|m| failures.load(Ordering::Relaxed) >= m))
    };
    let run_seed = |&seed: &u64| {
        let result = sweep.run_seed(seed);
        if matches!(&result, Ok(r) if r.failed()) {
            failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    };
    pool::run(todo.seeds, jobs, keep_going, run_seed, |_, result| {
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                error.get_or_insert(e);
                return;
            }
        };
        let mut line = output::versioned(&r).to_string();
        line.push('\n');
        // One write per line, flushed at once: a killed sweep keeps every finished seed.
        if let Err(e) = file.write_all(line.as_bytes()).and_then(|_| file.flush()) {
            stop.store(true, Ordering::Relaxed);
            error.get_or_insert(CliError::Output(format!(
                "{}: cannot write: {e}",
                results_path.display()
            )));
        }
        // A failure that opens a group is told as it comes (with --quiet only in the closing
        // list); the others only count.
        if let Some(group) = r.group.as_ref().filter(|_| r.failed())
            && seen.insert(group.clone())
            && !term::quiet()
        {
            progress.println(&new_group_line(&r, seen.len(), dir));
        }
        progress.step(r.failed());
        progress.note(format!(
            "{} failed in {} groups",
            progress.failed,
            seen.len()
        ));
        results.insert(r.seed, r);
    });
    progress.finish();
    if let Some(e) = error {
        return Err(e);
    }
    Ok(progress.done)
}
