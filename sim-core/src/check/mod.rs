//! Invariant checkers and the violations they record.
//!
//! Checkers observe, never steer (DESIGN.md principle 5): after every event they read the
//! simulation and record a [`Violation`] with the invariant's stable id, the time, the nodes and
//! the causal chain. Each invariant lives in its own file, named as in its source
//! (kafka-protocol.md §3), and is listed in [`INVARIANTS`] so scenarios can name it.

use serde::Serialize;

/// Where an invariant's statement comes from, and what it says.
#[derive(Clone, Copy, Debug)]
pub struct InvariantInfo {
    /// Stable snake_case id, used in scenario files and reports.
    pub id: &'static str,
    /// Safety (checked after every event) or liveness (checked once faults stop).
    pub kind: InvariantKind,
    pub summary: &'static str,
    /// The source it is taken from: a Kafka test, a TLA+ specification, a Jepsen check.
    pub source: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvariantKind {
    Safety,
    Liveness,
}

/// Every invariant kafkasim checks. The KRaft and replication checkers register here as they
/// are built (issues 3 and 4); a scenario may only name invariants listed here.
pub const INVARIANTS: &[InvariantInfo] = &[];

pub fn invariant(id: &str) -> Option<&'static InvariantInfo> {
    INVARIANTS.iter().find(|i| i.id == id)
}

/// One broken invariant, with what led there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    /// Simulated time, in milliseconds (microsecond precision).
    pub time_ms: f64,
    /// Names of the nodes involved.
    pub nodes: Vec<String>,
    /// What broke and the causal chain that led there, in Kafka's terms.
    pub explanation: String,
}
