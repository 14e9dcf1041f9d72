//! Runs that share a prefix with an earlier run start from a copy of it: a shrink's
//! candidates differ from the scenario they shrink only from some moment on (a fault episode
//! dropped, shortened or moved, the run ended earlier), and everything before that moment is
//! the same run again. [`PrefixRuns`] keeps copies of the current run's world at checkpoints
//! ([`World::fork`]); a candidate whose cluster, workload and variants are the current ones
//! starts from the latest checkpoint before its first different fault, with its own faults
//! from there on ([`World::reschedule`]), and gives the events, violations and trace hash of
//! its run from t = 0 (tested). Anything else runs from t = 0.

use std::rc::Rc;

use crate::check::LIVENESS_BOUND;
use crate::engine::{SimTime, StopReason};
use crate::scenario::Scenario;
use crate::trace::TraceSink;
use crate::world::{RunSummary, World};

/// Most checkpoints kept of one run (their spacing grows with the run's length).
const MAX_CHECKPOINTS: u64 = 64;
/// Closest spacing of checkpoints.
const MIN_SPACING_MS: u64 = 1_000;
/// Fewest events between two checkpoints: a copy costs about as much as a few dozen events,
/// so a short run (a shrink's late candidates) is not slowed by copies it cannot gain from.
const MIN_EVENTS_BETWEEN: u64 = 5_000;

/// A run's checkpoints: (time in ms, the world then), in time order.
#[derive(Debug, Default)]
pub struct Checkpoints {
    scenario: Option<Scenario>,
    at: Vec<(u64, Rc<World>)>,
}

/// Runs of scenarios, each from the latest checkpoint of the kept run it shares a prefix with.
#[derive(Debug, Default)]
pub struct PrefixRuns {
    current: Checkpoints,
    /// Runs that started from a checkpoint.
    pub reused: u32,
    /// Runs from t = 0.
    pub from_zero: u32,
    /// Events not run again thanks to checkpoints.
    pub events_skipped: u64,
}

impl PrefixRuns {
    pub fn new() -> PrefixRuns {
        PrefixRuns::default()
    }

    /// Runs `s` (with every process checking its own invariants, as the fuzzer's runs do),
    /// asking `watchdog` now and then whether to stop. Returns its summary and its
    /// checkpoints, for [`PrefixRuns::keep`].
    pub fn run(
        &mut self,
        s: &Scenario,
        watchdog: &mut dyn FnMut() -> bool,
    ) -> (RunSummary, Checkpoints) {
        let resolved = s.resolve().with_self_checks();
        let spacing = (s.duration_ms / MAX_CHECKPOINTS).max(MIN_SPACING_MS);
        let (mut world, mut kept) = match self.start_point(s) {
            Some(i) => {
                let (at_ms, start) = &self.current.at[i];
                let mut world = start.fork();
                world.follow(&resolved, SimTime::from_millis(*at_ms));
                self.reused += 1;
                self.events_skipped += world.events();
                (world, self.current.at[..=i].to_vec())
            }
            None => {
                self.from_zero += 1;
                (
                    World::new(&resolved, s.seed, TraceSink::hash_only()),
                    Vec::new(),
                )
            }
        };
        let end = world.until();
        let mut next_ms = (world.now().as_millis() / spacing + 1) * spacing;
        let mut last_copy = world.events();
        let reason = loop {
            let at = SimTime::from_millis(next_ms);
            if at >= end {
                break world.run(u64::MAX, watchdog);
            }
            let reason = world.run_to(at, u64::MAX, watchdog);
            if !matches!(reason, StopReason::TimeLimit | StopReason::Idle) {
                break reason;
            }
            if world.events() >= last_copy + MIN_EVENTS_BETWEEN {
                kept.push((next_ms, Rc::new(world.fork())));
                last_copy = world.events();
            }
            next_ms += spacing;
        };
        let summary = world
            .finish(&resolved, reason)
            .expect("a hash-only trace cannot fail to write");
        (
            summary,
            Checkpoints {
                scenario: Some(s.clone()),
                at: kept,
            },
        )
    }

    /// The run whose checkpoints later runs start from (a shrink's current scenario).
    pub fn keep(&mut self, checkpoints: Checkpoints) {
        self.current = checkpoints;
    }

    /// The latest checkpoint `s` can start from: its cluster, workload and variants are the
    /// kept run's; the checkpoint comes before its first fault entry that differs, before its
    /// end and the kept run's, and before either run's liveness checks (so those are judged as
    /// from t = 0).
    fn start_point(&self, s: &Scenario) -> Option<usize> {
        let current = self.current.scenario.as_ref()?;
        let mut same = s.clone();
        same.faults.clone_from(&current.faults);
        same.duration_ms = current.duration_ms;
        same.name.clone_from(&current.name);
        same.description.clone_from(&current.description);
        if same != *current {
            return None;
        }
        let common = s
            .faults
            .iter()
            .zip(&current.faults)
            .take_while(|(a, b)| a == b)
            .count();
        let first_different = [s.faults.get(common), current.faults.get(common)]
            .into_iter()
            .flatten()
            .map(|f| f.at_ms)
            .min()
            .unwrap_or(u64::MAX);
        let liveness = |sc: &Scenario| {
            let last = sc.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
            let at = last + LIVENESS_BOUND.as_millis();
            if at <= sc.duration_ms { at } else { u64::MAX }
        };
        let bound = first_different
            .min(liveness(s))
            .min(liveness(current))
            .min(s.duration_ms)
            .min(current.duration_ms);
        self.current.at.iter().rposition(|(at, _)| *at < bound)
    }
}
