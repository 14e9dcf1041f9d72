//! Fuzzing: random fault schedules over a base scenario, and shrinking what fails.
//!
//! - [`explore`]: exploration that branches from runs' moments with new states;
//! - [`moves`]: faults the explorer aims at protocol moments (an AlterPartition in flight, a
//!   lagging or diverged replica, a shrunk ISR, a stale HW, a fenced broker still fetching);
//! - [`nemesis`]: Jepsen-style fault schedules (episodes of faults that heal), drawn from a seed;
//! - [`swarm`]: a fuzz base (a scenario's cluster and workload, or a drawn one) and the scenario
//!   of one seed;
//! - [`prefix`]: runs that start from a checkpoint of an earlier run they share a prefix with;
//! - [`shrink`]: the smallest schedule that still breaks the same invariant;
//! - [`triage`]: failures grouped by invariant and situation, so each bug is shrunk once;
//! - `strategy` (feature `proptest`): proptest strategies for whole scenarios.
//!
//! This layer sits above the scenario format: what it makes is an ordinary scenario that replays
//! from t = 0.

pub mod explore;
pub mod moves;
pub mod nemesis;
pub mod prefix;
pub mod shrink;
#[cfg(feature = "proptest")]
pub mod strategy;
pub mod swarm;
pub mod triage;
