//! Shrinking a failing scenario to a small one that fails the same way.
//!
//! Delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input",
//! 2002) over the scenario's parts, greedy: each pass proposes smaller candidates, the first one
//! that still fails is kept, and passes repeat until none helps or the run budget is spent.
//! "Still fails" is the caller's test (normally: the same invariant is violated), so a change is
//! only kept when the finding survives it.
//!
//! The passes, from the cheapest win to the finest:
//! 1. end the run just after the failure (every later run is shorter, later faults go);
//! 2. drop fault episodes: a fault with the entry that ends it (a crash and its restart, a cut
//!    and its heal), in halves, quarters, ... down to one;
//! 3. merge two back-to-back episodes of the same kind on the same target;
//! 4. shorten episodes, and move them earlier;
//! 5. the workload: fewer producer and consumer entries, one of each count, lower rates;
//! 6. the cluster: unused topics, fewer partitions, fewer brokers and controllers.

use super::nemesis::role;
use crate::scenario::{FaultSpec, Scenario};

/// Limits of one shrink.
#[derive(Clone, Copy, Debug)]
pub struct ShrinkOptions {
    /// Most candidate runs.
    pub max_runs: u32,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions { max_runs: 400 }
    }
}

/// The outcome of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing scenario found.
    pub scenario: Scenario,
    /// Candidates run.
    pub runs: u32,
    /// Candidates kept.
    pub kept: u32,
    /// The budget ran out before the passes were done.
    pub budget_exhausted: bool,
}

/// Shrinks `start`, which fails. `fails` runs a candidate and returns the simulated time (ms)
/// of the failure when it still fails the same way, `None` otherwise. Invalid candidates are
/// never run.
pub fn shrink(
    start: &Scenario,
    first_failure_ms: u64,
    mut fails: impl FnMut(&Scenario) -> Option<u64>,
    options: ShrinkOptions,
) -> Shrunk {
    let mut current = start.clone();
    let mut failure_ms = first_failure_ms;
    let mut runs = 0u32;
    let mut kept = 0u32;
    let passes: [fn(&Scenario, u64) -> Vec<Scenario>; 6] = [
        truncate,
        drop_episodes,
        merge_episodes,
        shorten_and_move_episodes,
        smaller_workload,
        smaller_cluster,
    ];
    'outer: loop {
        for pass in passes {
            for candidate in pass(&current, failure_ms) {
                let Ok(candidate) = candidate.validate("shrink") else {
                    continue;
                };
                if candidate == current {
                    continue;
                }
                if runs >= options.max_runs {
                    break 'outer Shrunk {
                        scenario: current,
                        runs,
                        kept,
                        budget_exhausted: true,
                    };
                }
                runs += 1;
                if let Some(at) = fails(&candidate) {
                    current = candidate;
                    failure_ms = at;
                    kept += 1;
                    // Start over: a smaller run makes every pass cheaper and may open new cuts.
                    continue 'outer;
                }
            }
        }
        break Shrunk {
            scenario: current,
            runs,
            kept,
            budget_exhausted: false,
        };
    }
}

/// A fault and the entry that ends it, by index into the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Episode {
    start: usize,
    end: Option<usize>,
}

/// The schedule's episodes, in order of their starts. An end with no start is an episode of
/// its own.
fn episodes(faults: &[FaultSpec]) -> Vec<Episode> {
    let roles: Vec<_> = faults.iter().map(role).collect();
    let mut used = vec![false; faults.len()];
    let mut out = Vec::new();
    for i in 0..faults.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let (kind, target, is_end) = &roles[i];
        let end = if *is_end {
            None
        } else {
            (i + 1..faults.len())
                .find(|&j| !used[j] && roles[j] == (*kind, target.clone(), true))
                .inspect(|&j| used[j] = true)
        };
        out.push(Episode { start: i, end });
    }
    out
}

fn without(faults: &[FaultSpec], drop: &[usize]) -> Vec<FaultSpec> {
    faults
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, f)| f.clone())
        .collect()
}

fn with_faults(s: &Scenario, mut faults: Vec<FaultSpec>) -> Scenario {
    faults.sort_by_key(|f| f.at_ms);
    let mut c = s.clone();
    c.faults = faults;
    c
}

/// Ends the run a second after the failure, rounded up to a whole second.
fn truncate(s: &Scenario, failure_ms: u64) -> Vec<Scenario> {
    let end = (failure_ms + 1_000).div_ceil(1_000) * 1_000;
    if end >= s.duration_ms {
        return Vec::new();
    }
    let mut c = s.clone();
    c.duration_ms = end;
    c.faults.retain(|f| f.at_ms <= end);
    c.notes.retain(|n| n.at_ms <= end);
    vec![c]
}

fn drop_episodes(s: &Scenario, _: u64) -> Vec<Scenario> {
    let eps = episodes(&s.faults);
    let mut out = Vec::new();
    let mut chunk = eps.len().div_ceil(2).max(1);
    while !eps.is_empty() {
        for group in eps.chunks(chunk) {
            let drop: Vec<usize> = group
                .iter()
                .flat_map(|e| std::iter::once(e.start).chain(e.end))
                .collect();
            out.push(with_faults(s, without(&s.faults, &drop)));
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    out
}

fn merge_episodes(s: &Scenario, _: u64) -> Vec<Scenario> {
    let eps = episodes(&s.faults);
    let mut out = Vec::new();
    for (a, b) in eps.iter().zip(eps.iter().skip(1)) {
        let (Some(a_end), Some(_)) = (a.end, b.end) else {
            continue;
        };
        let same = |x: usize, y: usize| {
            let mut fx = s.faults[x].clone();
            let mut fy = s.faults[y].clone();
            fx.at_ms = 0;
            fy.at_ms = 0;
            fx == fy
        };
        // The same fault on the same target, the first over before the second starts.
        if same(a.start, b.start) && s.faults[a_end].at_ms <= s.faults[b.start].at_ms {
            out.push(with_faults(s, without(&s.faults, &[a_end, b.start])));
        }
    }
    out
}

fn shorten_and_move_episodes(s: &Scenario, _: u64) -> Vec<Scenario> {
    let mut out = Vec::new();
    for e in episodes(&s.faults) {
        let start = s.faults[e.start].at_ms;
        if let Some(end) = e.end {
            let length = s.faults[end].at_ms - start;
            if length >= 200 {
                let mut faults = s.faults.clone();
                faults[end].at_ms = start + round_ms(length / 2);
                out.push(with_faults(s, faults));
            }
        }
        let shift = round_ms(start / 2);
        if shift >= 100 {
            let mut faults = s.faults.clone();
            faults[e.start].at_ms -= shift;
            if let Some(end) = e.end {
                faults[end].at_ms -= shift;
            }
            out.push(with_faults(s, faults));
        }
    }
    out
}

/// Rounded down to a multiple of 100 ms, so shrunk times read as a person would write them.
fn round_ms(ms: u64) -> u64 {
    if ms >= 100 { ms / 100 * 100 } else { ms }
}

fn smaller_workload(s: &Scenario, _: u64) -> Vec<Scenario> {
    let edited = |edit: &dyn Fn(&mut Scenario)| {
        let mut c = s.clone();
        edit(&mut c);
        c
    };
    let w = &s.workload;
    let mut out = Vec::new();
    for i in 0..w.producers.len() {
        out.push(edited(&|c| drop(c.workload.producers.remove(i))));
    }
    for i in 0..w.consumers.len() {
        out.push(edited(&|c| drop(c.workload.consumers.remove(i))));
    }
    for (i, p) in w.producers.iter().enumerate() {
        if p.count > 1 {
            out.push(edited(&|c| c.workload.producers[i].count = 1));
        }
        if p.records_per_s > 1 {
            out.push(edited(&|c| c.workload.producers[i].records_per_s /= 2));
        }
    }
    for (i, consumer) in w.consumers.iter().enumerate() {
        if consumer.count > 1 {
            out.push(edited(&|c| c.workload.consumers[i].count = 1));
        }
    }
    out
}

fn smaller_cluster(s: &Scenario, _: u64) -> Vec<Scenario> {
    let mut out = Vec::new();
    let used = |name: &str| {
        s.workload.producers.iter().any(|p| p.topic == name)
            || s.workload.consumers.iter().any(|c| c.topic == name)
    };
    for (i, t) in s.cluster.topics.iter().enumerate() {
        if !used(&t.name) && s.cluster.topics.len() > 1 {
            let mut c = s.clone();
            c.cluster.topics.remove(i);
            out.push(c);
        }
        let partitions = t.partitions.unwrap_or(1);
        for fewer in [1, partitions / 2, partitions - 1] {
            if fewer == 0 || fewer >= partitions {
                continue;
            }
            let mut c = s.clone();
            let topic = &mut c.cluster.topics[i];
            topic.partitions = Some(fewer);
            if let Some(a) = &mut topic.assignment {
                a.truncate(fewer as usize);
            }
            out.push(c);
        }
    }
    // One broker fewer: the last one, with placements recomputed where they named it.
    let brokers = s.cluster.brokers;
    if brokers > 1 {
        let mut c = s.clone();
        c.cluster.brokers -= 1;
        for t in &mut c.cluster.topics {
            if t.assignment
                .as_ref()
                .is_some_and(|a| a.iter().flatten().any(|&b| b == brokers))
            {
                t.assignment = None;
            }
        }
        out.push(c);
    }
    // A smaller quorum: 5 to 3, 3 to 1.
    if s.cluster.controllers > 1 {
        let mut c = s.clone();
        c.cluster.controllers -= 2.min(c.cluster.controllers - 1);
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn scenario(faults: &str) -> Scenario {
        parse(
            &format!(
                r#"{{"name": "s", "duration_ms": 60000,
                "cluster": {{"brokers": 4, "topics": [
                    {{"name": "a", "partitions": 4, "replication_factor": 3}},
                    {{"name": "b", "partitions": 2, "replication_factor": 3}}]}},
                "workload": {{"producers": [{{"topic": "a", "records_per_s": 100, "count": 2}}],
                              "consumers": [{{"topic": "a"}}]}},
                "faults": {faults}}}"#
            ),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn episodes_pair_each_fault_with_what_ends_it() {
        let s = scenario(
            r#"[{"at_ms": 1000, "crash": "broker-1"}, {"at_ms": 2000, "isolate": "broker-2"},
                {"at_ms": 3000, "heal": true}, {"at_ms": 4000, "restart": "broker-1"},
                {"at_ms": 5000, "slow": {"node": "broker-3", "extra_ms": 200}},
                {"at_ms": 6000, "restart": "broker-4"},
                {"at_ms": 7000, "slow": {"node": "broker-3", "extra_ms": 0}}]"#,
        );
        let eps = episodes(&s.faults);
        let pairs: Vec<_> = eps.iter().map(|e| (e.start, e.end)).collect();
        assert_eq!(pairs, [(0, Some(3)), (1, Some(2)), (4, Some(6)), (5, None)]);
    }

    /// A stand-in for a run: "fails" while broker-2 is down at some time in 20..25 s and the
    /// topic `a` has a producer; the failure is at the crash.
    fn fails(s: &Scenario) -> Option<u64> {
        let eps = episodes(&s.faults);
        let producing = s.workload.producers.iter().any(|p| p.topic == "a");
        eps.iter().find_map(|e| {
            let f = &s.faults[e.start];
            let end = e.end.map_or(u64::MAX, |j| s.faults[j].at_ms);
            (producing
                && f.crash.as_deref() == Some("broker-2")
                && f.at_ms < 25_000
                && end > 20_000)
                .then_some(f.at_ms)
        })
    }

    #[test]
    fn shrinking_keeps_only_what_the_failure_needs() {
        let s = scenario(
            r#"[{"at_ms": 3000, "pause": "controller-1"}, {"at_ms": 4000, "resume": "controller-1"},
                {"at_ms": 5000, "isolate": "broker-3"}, {"at_ms": 9000, "heal": true},
                {"at_ms": 10000, "crash": "broker-2"}, {"at_ms": 30000, "restart": "broker-2"},
                {"at_ms": 31000, "power_loss": "broker-1"}, {"at_ms": 40000, "restart": "broker-1"},
                {"at_ms": 41000, "slow": {"node": "broker-4", "extra_ms": 900}},
                {"at_ms": 50000, "slow": {"node": "broker-4", "extra_ms": 0}}]"#,
        );
        let first = fails(&s).unwrap();
        let out = shrink(&s, first, fails, ShrinkOptions::default());
        let s2 = &out.scenario;
        assert!(fails(s2).is_some(), "the shrunk scenario still fails");
        // Ending the run after the failure drops the restart too.
        assert_eq!(s2.faults.len(), 1, "{:#?}", s2.faults);
        assert_eq!(s2.faults[0].crash.as_deref(), Some("broker-2"));
        assert!(s2.duration_ms < 60_000);
        assert_eq!(s2.workload.consumers.len(), 0);
        assert_eq!(s2.workload.producers.len(), 1);
        assert_eq!(s2.workload.producers[0].count, 1);
        assert_eq!(s2.cluster.topics.len(), 1, "the unused topic goes");
        assert_eq!(s2.cluster.topics[0].partitions, Some(1));
        assert_eq!(s2.cluster.brokers, 3, "broker-4 goes; RF 3 keeps three");
        assert_eq!(s2.cluster.controllers, 1);
        assert!(!out.budget_exhausted);
        // The budget is respected.
        let capped = shrink(&s, first, fails, ShrinkOptions { max_runs: 3 });
        assert_eq!(capped.runs, 3);
        assert!(capped.budget_exhausted);
    }

    #[test]
    fn back_to_back_episodes_of_one_fault_merge() {
        let s = scenario(
            r#"[{"at_ms": 1000, "crash": "broker-1"}, {"at_ms": 2000, "restart": "broker-1"},
                {"at_ms": 3000, "crash": "broker-1"}, {"at_ms": 4000, "restart": "broker-1"}]"#,
        );
        let merged = merge_episodes(&s, 0);
        assert_eq!(merged.len(), 1);
        let f = &merged[0].faults;
        assert_eq!((f.len(), f[0].at_ms, f[1].at_ms), (2, 1000, 4000));
    }
}
