//! Invariant checkers and the violations they record.
//!
//! Checkers observe, never steer (DESIGN.md principle 5): after every event the [`Checker`]
//! reads the simulation and records a [`Violation`] with the invariant's stable id, the time,
//! the nodes and the causal chain. Each invariant lives in its own file, named as in its
//! source (kafka-protocol.md §3), and is listed in [`INVARIANTS`] so scenarios can name it.
//!
//! Map:
//! - [`Ground`] is what the checker knows to be true: the committed metadata log (every entry
//!   some replica had below its HW), the leader each epoch had, the votes seen, the crashes;
//! - [`NodeView`] is one Raft replica as the checkers see it: running (memory and disk) or
//!   down (disk only);
//! - after an event handled by one node only that node is checked (plus the quorum-wide
//!   checks, a handful of voters); after a fault, every node;
//! - liveness is judged once, `LIVENESS_BOUND` after the last scheduled fault.

mod controller_acts_only_on_committed;
mod eventually_leader_elected;
mod eventually_unfenced;
mod majority_reached_high_watermark;
mod metadata_prefix;
mod monotonic_epoch;
mod monotonic_high_watermark;
mod no_truncation_below_hw;
mod raft_leader_completeness;
mod raft_log_matching;
mod single_leader_per_epoch;
mod stable_leadership;
mod timeline;

#[cfg(test)]
mod tests;

pub use timeline::Timeline;

use serde::Serialize;
use std::collections::BTreeMap;

use crate::engine::{Flow, NodeId, NodeStatus, SimDuration, SimTime, Simulation};
use crate::kraft::LogEntry;
use crate::kraft::raft::{ElectionState, Raft, RaftDisk};
use crate::proto::Event;
use crate::scenario::Scenario;
use crate::storage::CrashKind;
use crate::trace::DownCause;
use crate::world::{ClusterConfig, Process};

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

/// Every invariant kafkasim checks; a scenario may only name invariants listed here.
pub const INVARIANTS: &[InvariantInfo] = &[
    single_leader_per_epoch::INFO,
    monotonic_epoch::INFO,
    monotonic_high_watermark::INFO,
    majority_reached_high_watermark::INFO,
    raft_log_matching::INFO,
    raft_leader_completeness::INFO,
    no_truncation_below_hw::INFO,
    metadata_prefix::INFO,
    controller_acts_only_on_committed::INFO,
    eventually_leader_elected::INFO,
    eventually_unfenced::INFO,
    stable_leadership::INFO,
];

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

/// Liveness is required this long after the last scheduled fault.
pub const LIVENESS_BOUND: SimDuration = SimDuration::from_secs(30);
/// At most this many violations of one invariant are kept (the count goes on).
pub const MAX_VIOLATIONS_PER_INVARIANT: usize = 20;

/// One Raft replica as the checkers see it.
pub struct NodeView<'a> {
    pub id: NodeId,
    /// Running or paused: memory is there.
    pub raft: Option<&'a Raft>,
    /// The disk, up or down.
    pub disk: &'a RaftDisk,
}

impl NodeView<'_> {
    pub fn persisted(&self) -> ElectionState {
        self.disk.quorum_state.get().cloned().unwrap_or_default()
    }
    pub fn log(&self) -> &[LogEntry] {
        self.disk.log.entries()
    }
}

/// What the checker knows to be true, and what it remembers of the run.
pub struct Ground {
    pub names: Vec<String>,
    pub voters: Vec<NodeId>,
    pub brokers: Vec<NodeId>,
    pub majority: usize,
    /// Every entry some replica had below its HW, in offset order.
    pub committed: Vec<LogEntry>,
    /// The time each committed offset was first seen committed.
    pub committed_at: Vec<SimTime>,
    /// Per node: how far its log was checked against `committed`.
    pub verified: Vec<u64>,
    /// Per node: persisted epoch last seen (for monotonic_epoch).
    pub last_epoch: Vec<u32>,
    /// The leader of each epoch, and who it was first seen on.
    pub leaders: BTreeMap<u32, (NodeId, NodeId)>,
    /// Votes seen in persisted state: (epoch, voter) → candidate.
    pub votes: BTreeMap<(u32, NodeId), NodeId>,
    /// Epochs already reported with two leaders.
    pub split_epochs: std::collections::BTreeSet<u32>,
    /// The last crash of each node.
    pub last_crash: Vec<Option<(SimTime, CrashKind)>>,
    /// The highest (epoch, HW) reported by the leader with the highest epoch.
    pub leader_high_watermark: Option<(u32, u64, NodeId)>,
    /// `stable_leadership` reported (it is reported once).
    pub stability_broken: bool,
    pub now: SimTime,
}

impl Ground {
    pub fn new(names: Vec<String>, voters: Vec<NodeId>, brokers: Vec<NodeId>) -> Ground {
        let n = names.len();
        Ground {
            majority: voters.len() / 2 + 1,
            names,
            voters,
            brokers,
            committed: Vec::new(),
            committed_at: Vec::new(),
            verified: vec![0; n],
            last_epoch: vec![0; n],
            leaders: BTreeMap::new(),
            votes: BTreeMap::new(),
            split_epochs: Default::default(),
            last_crash: vec![None; n],
            leader_high_watermark: None,
            stability_broken: false,
            now: SimTime::ZERO,
        }
    }

    pub fn name(&self, id: NodeId) -> &str {
        &self.names[id.index()]
    }
    pub fn crash_note(&self, id: NodeId) -> String {
        match self.last_crash[id.index()] {
            Some((t, kind)) => format!(
                "; {} last crashed ({}) at t={}",
                self.name(id),
                crash_name(kind),
                t
            ),
            None => String::new(),
        }
    }
}

/// A metadata record by its Kafka record name, for explanations.
pub fn record_text(g: &Ground, entry: &LogEntry) -> String {
    use crate::kraft::MetadataRecord as R;
    let body = match &entry.record {
        R::LeaderChange { leader } => format!("LeaderChangeMessage(leader {})", g.name(*leader)),
        R::NoOp => "NoOpRecord".to_string(),
        R::RegisterBroker {
            broker,
            broker_epoch,
            ..
        } => format!("RegisterBrokerRecord(broker {broker}, broker epoch {broker_epoch})"),
        R::BrokerRegistrationChange {
            broker,
            fenced,
            in_controlled_shutdown,
            ..
        } => format!(
            "BrokerRegistrationChangeRecord(broker {broker}, fenced {fenced:?}, in controlled shutdown {in_controlled_shutdown:?})"
        ),
        R::Topic { topic } => format!("TopicRecord(topic {topic})"),
        R::Partition { tp, .. } => format!("PartitionRecord({}-{})", tp.topic, tp.partition),
        R::PartitionChange(c) => format!(
            "PartitionChangeRecord({}-{}, leader {:?}, isr {:?})",
            c.tp.topic, c.tp.partition, c.leader, c.isr
        ),
    };
    format!("{body} of epoch {}", entry.epoch)
}

pub fn crash_name(kind: CrashKind) -> &'static str {
    match kind {
        CrashKind::Process => "process crash",
        CrashKind::PowerLoss => "power loss",
        CrashKind::DiskLoss => "disk loss",
    }
}

/// Collects violations, keeping a bounded number of each invariant.
#[derive(Default)]
pub struct Violations {
    list: Vec<Violation>,
    counts: BTreeMap<&'static str, usize>,
}

impl Violations {
    pub fn report(
        &mut self,
        info: &InvariantInfo,
        now: SimTime,
        nodes: Vec<String>,
        explanation: String,
    ) {
        let n = self.counts.entry(info.id).or_insert(0);
        *n += 1;
        if *n <= MAX_VIOLATIONS_PER_INVARIANT {
            self.list.push(Violation {
                invariant: info.id,
                time_ms: now.as_micros() as f64 / 1000.0,
                nodes,
                explanation,
            });
        }
    }
}

/// Runs every invariant after every event.
pub struct Checker {
    ground: Ground,
    violations: Violations,
    statuses: Vec<NodeStatus>,
    liveness_at: Option<SimTime>,
    liveness_done: bool,
    /// Opt-in invariants the scenario names.
    check_stability: bool,
}

impl Checker {
    pub fn new(scenario: &Scenario, cluster: &ClusterConfig) -> Checker {
        let n = cluster.names.len();
        let last_fault_ms = scenario.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
        let liveness_at = SimTime::from_millis(last_fault_ms) + LIVENESS_BOUND;
        Checker {
            ground: Ground::new(
                cluster.names.clone(),
                cluster.raft.voters.clone(),
                cluster.brokers.clone(),
            ),
            violations: Violations::default(),
            statuses: vec![NodeStatus::Down(DownCause::Shutdown); n],
            liveness_at: (liveness_at <= SimTime::ZERO + scenario.duration())
                .then_some(liveness_at),
            liveness_done: false,
            check_stability: scenario
                .expect
                .hold
                .iter()
                .chain(&scenario.expect.violate)
                .any(|id| id == stable_leadership::INFO.id),
        }
    }

    fn view<'a>(sim: &'a Simulation<Process>, id: NodeId) -> Option<NodeView<'a>> {
        match sim.node(id) {
            Some(p) => {
                let raft = p.raft()?;
                Some(NodeView {
                    id,
                    raft: Some(raft),
                    disk: raft.disk(),
                })
            }
            None => Some(NodeView {
                id,
                raft: None,
                disk: sim.disk_of_down_node(id)?.raft()?,
            }),
        }
    }

    pub fn after_event(&mut self, sim: &Simulation<Process>) -> Flow {
        self.ground.now = sim.now();
        // After a handler only its node changed; after a fault, anything may have.
        let actors = match sim.last_actor() {
            Some(id) => id.0..id.0 + 1,
            None => {
                self.note_lifecycle(sim);
                0..sim.node_count() as u32
            }
        };
        let g = &mut self.ground;
        let out = &mut self.violations;
        for (id, event) in sim.step_events() {
            match event {
                Event::Truncated {
                    to_offset,
                    high_watermark,
                    from_offset,
                } => {
                    no_truncation_below_hw::on_truncated(
                        g,
                        out,
                        *id,
                        *from_offset,
                        *to_offset,
                        *high_watermark,
                    );
                    let v = &mut g.verified[id.index()];
                    *v = (*v).min(*to_offset);
                }
                Event::RaftState {
                    state: crate::kraft::raft::RaftRole::Leader,
                    ..
                } => {
                    if let Some(view) = Self::view(sim, *id) {
                        raft_leader_completeness::on_new_leader(g, out, &view, sim);
                    }
                }
                _ => {}
            }
        }
        for id in actors.map(NodeId) {
            let Some(view) = Self::view(sim, id) else {
                continue;
            };
            raft_log_matching::check(g, out, &view);
            if g.voters.contains(&id) {
                single_leader_per_epoch::check(g, out, &view);
                if self.check_stability {
                    stable_leadership::check(g, out, &view);
                }
                monotonic_epoch::check(g, out, &view);
                majority_reached_high_watermark::check(g, out, &view, sim);
            }
            if let Some(p) = sim.node(id) {
                metadata_prefix::check(g, out, id, p);
                controller_acts_only_on_committed::check(g, out, id, p);
            }
        }
        monotonic_high_watermark::check(g, out, sim);
        if !self.liveness_done
            && let Some(at) = self.liveness_at
            && sim.now() >= at
        {
            self.liveness_done = true;
            eventually_leader_elected::check(g, out, sim);
            eventually_unfenced::check(g, out, sim);
        }
        Flow::Continue
    }

    /// Notices crashes (faults are the only events without an actor).
    fn note_lifecycle(&mut self, sim: &Simulation<Process>) {
        for i in 0..sim.node_count() {
            let id = NodeId(i as u32);
            let status = sim.status(id);
            if status != self.statuses[i] {
                if let NodeStatus::Down(DownCause::Crash(kind)) = status {
                    self.ground.last_crash[i] = Some((sim.now(), kind));
                    if kind == CrashKind::DiskLoss {
                        // A wiped node starts over: its epoch and log are new.
                        self.ground.last_epoch[i] = 0;
                        self.ground.verified[i] = 0;
                    }
                }
                self.statuses[i] = status;
            }
        }
    }

    pub fn into_violations(self) -> Vec<Violation> {
        self.violations.list
    }
}
