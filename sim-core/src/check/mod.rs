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

mod aborted_read;
mod acked_durability;
mod consistent_read;
mod controller_acts_only_on_committed;
mod cut_off_leader_resigns;
pub mod data;
mod data_events;
mod duplicate;
mod epoch_monotonicity;
mod eventually_fully_replicated;
mod eventually_leader_elected;
mod eventually_partition_leader;
mod eventually_produce_answered;
mod eventually_unfenced;
mod inconsistent_offsets;
mod leader_candidate_completeness;
mod leader_not_disrupted;
mod log_matching;
mod lost_write;
mod majority_reached_high_watermark;
mod metadata_prefix;
mod monotonic_epoch;
mod monotonic_high_watermark;
mod no_hw_based_loss;
mod no_truncation_below_hw;
mod nonmonotonic_poll;
mod partition_metadata_well_formed;
mod raft_leader_completeness;
mod raft_log_matching;
mod replication_quorum_superset;
mod single_leader_per_epoch;
mod stable_leadership;
mod timeline;
mod true_hw_monotonic;
mod unclean_exclusion;
mod unique_offsets;

#[cfg(test)]
mod data_tests;
#[cfg(test)]
mod tests;

pub use timeline::Timeline;

use serde::Serialize;
use std::collections::BTreeMap;

use crate::config::Acks;
use crate::engine::{Flow, NodeId, NodeStatus, SimDuration, SimTime, Simulation};
use crate::kraft::LogEntry;
use crate::kraft::raft::{ElectionState, Raft, RaftDisk};
use crate::kraft::{BrokerId, TopicPartition};
use crate::proto::{Event, SendOp};
use crate::storage::CrashKind;
use crate::trace::DownCause;
use crate::world::{Process, ResolvedScenario};

/// Where an invariant's statement comes from, and what it says.
#[derive(Clone, Copy, Debug)]
pub struct InvariantInfo {
    /// Stable snake_case id, used in scenario files and reports.
    pub id: &'static str,
    /// Safety (checked after every event) or liveness (a bound on recovery: most are judged
    /// once the faults stop, `cut_off_leader_resigns` while they last).
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
    cut_off_leader_resigns::INFO,
    leader_not_disrupted::INFO,
    stable_leadership::INFO,
    acked_durability::INFO,
    true_hw_monotonic::INFO,
    consistent_read::INFO,
    log_matching::INFO,
    leader_candidate_completeness::INFO,
    replication_quorum_superset::INFO,
    partition_metadata_well_formed::INFO,
    epoch_monotonicity::INFO,
    no_hw_based_loss::INFO,
    unclean_exclusion::INFO,
    unique_offsets::INFO,
    lost_write::INFO,
    inconsistent_offsets::INFO,
    aborted_read::INFO,
    duplicate::INFO,
    nonmonotonic_poll::INFO,
    eventually_partition_leader::INFO,
    eventually_produce_answered::INFO,
    eventually_fully_replicated::INFO,
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

/// Acknowledged acks=all writes that Kafka lost where it does not promise to keep them (more
/// lossy shutdowns of a partition's replicas than `min.insync.replicas - 1`, or a KIP-966
/// last-known-leader election). Not a violation, but never silent: the run summary, `explain`
/// and the reports say how many and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossOutsidePromise {
    /// Simulated time, in milliseconds (microsecond precision).
    pub time_ms: f64,
    /// The partition, e.g. `orders-0`.
    pub partition: String,
    /// acks=all records lost.
    pub records: u64,
    /// Names of the nodes involved (the new leader, the first writer).
    pub nodes: Vec<String>,
    /// Which writes, and why Kafka did not promise to keep them.
    pub explanation: String,
}

/// Liveness is required this long after the last scheduled fault.
pub const LIVENESS_BOUND: SimDuration = SimDuration::from_secs(30);
/// At most this many violations of one invariant are kept (the count goes on).
pub const MAX_VIOLATIONS_PER_INVARIANT: usize = 20;

/// One Raft replica as the checkers see it.
#[derive(Debug)]
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
#[derive(Clone, Debug)]
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
    /// KRaft leaders no majority can reach, and since when (`cut_off_leader_resigns`).
    pub cut_off: Vec<cut_off_leader_resigns::CutOff>,
    /// The KRaft leader a majority steadily follows, watched (`leader_not_disrupted`).
    pub steady: Option<leader_not_disrupted::Steady>,
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
            cut_off: Vec::new(),
            steady: None,
            now: SimTime::ZERO,
        }
    }

    pub fn name(&self, id: NodeId) -> &str {
        &self.names[id.index()]
    }
    pub(crate) fn crash_note(&self, id: NodeId) -> String {
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
pub(crate) fn record_text(g: &Ground, entry: &LogEntry) -> String {
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

pub(crate) fn crash_name(kind: CrashKind) -> &'static str {
    match kind {
        CrashKind::Process => "process crash",
        CrashKind::PowerLoss => "power loss",
        CrashKind::DiskLoss => "disk loss",
    }
}

/// Collects violations, keeping a bounded number of each invariant.
#[derive(Clone, Debug, Default)]
pub struct Violations {
    list: Vec<Violation>,
    counts: BTreeMap<&'static str, usize>,
    /// Not violations: acknowledged writes lost outside Kafka's durability promise.
    losses: Vec<LossOutsidePromise>,
}

impl Violations {
    /// Records acknowledged writes lost outside Kafka's durability promise (at most
    /// `MAX_VIOLATIONS_PER_INVARIANT` are kept; the record count goes on in the client stats).
    pub(crate) fn report_loss(&mut self, loss: LossOutsidePromise) {
        if self.losses.len() < MAX_VIOLATIONS_PER_INVARIANT {
            self.losses.push(loss);
        }
    }

    pub fn report(
        &mut self,
        info: &InvariantInfo,
        now: SimTime,
        mut nodes: Vec<String>,
        explanation: String,
    ) {
        let n = self.counts.entry(info.id).or_insert(0);
        *n += 1;
        if *n <= MAX_VIOLATIONS_PER_INVARIANT {
            // Each node once, in the order the explanation names them.
            let mut seen = Vec::with_capacity(nodes.len());
            nodes.retain(|n| {
                let first = !seen.contains(n);
                if first {
                    seen.push(n.clone());
                }
                first
            });
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
#[derive(Clone, Debug)]
pub struct Checker {
    ground: Ground,
    data: data::DataGround,
    elr_enabled: bool,
    /// Brokers back from a lossy shutdown that have not registered again yet.
    lossy_pending: std::collections::BTreeSet<BrokerId>,
    /// Brokers' registration records told so far, to pass over a new controller's replays.
    brokers: crate::kraft::history::BrokerHistory,
    last_fault: SimTime,
    violations: Violations,
    statuses: Vec<NodeStatus>,
    liveness_at: Option<SimTime>,
    liveness_done: bool,
    /// Opt-in invariants the scenario names.
    check_stability: bool,
    /// How long a leader cut off from the majority may stay leader: check-quorum's timeout.
    check_quorum_bound: SimDuration,
}

impl Checker {
    pub fn new(scenario: &ResolvedScenario) -> Checker {
        let cluster = &*scenario.cluster;
        let n = cluster.names.len();
        let last_fault = scenario.last_fault_at();
        let liveness_at = last_fault + LIVENESS_BOUND;
        Checker {
            ground: Ground::new(
                cluster.names.clone(),
                cluster.raft.voters.clone(),
                cluster.brokers.clone(),
            ),
            data: data::DataGround::new(cluster),
            elr_enabled: cluster.elr_enabled,
            lossy_pending: Default::default(),
            brokers: Default::default(),
            last_fault,
            violations: Violations::default(),
            statuses: vec![NodeStatus::Down(DownCause::Shutdown); n],
            liveness_at: (liveness_at <= SimTime::ZERO + scenario.duration).then_some(liveness_at),
            liveness_done: false,
            check_stability: scenario
                .expect
                .hold
                .iter()
                .chain(&scenario.expect.violate)
                .any(|id| *id == stable_leadership::INFO.id),
            // LeaderState: checkQuorumTimeoutMs = (int) (fetchTimeoutMs * 1.5).
            check_quorum_bound: SimDuration::from_micros(
                cluster.raft.fetch_timeout.as_micros() * 3 / 2,
            ),
        }
    }

    /// Faults were added to the run, the last at `last`: the liveness checks move after it,
    /// as [`Checker::new`] would have placed them (the run ends at `end`).
    pub(crate) fn faults_extended(&mut self, last: SimTime, end: SimTime) {
        assert!(
            !self.liveness_done,
            "faults added after the liveness checks ran"
        );
        if last > self.last_fault {
            self.last_fault = last;
            let at = last + LIVENESS_BOUND;
            self.liveness_at = (at <= end).then_some(at);
        }
    }

    /// The run's faults were replaced, the last now at `last`, the end at `end`: the liveness
    /// checks move to where [`Checker::new`] would have placed them.
    pub(crate) fn faults_replaced(&mut self, last: SimTime, end: SimTime) {
        assert!(
            !self.liveness_done,
            "faults replaced after the liveness checks ran"
        );
        self.last_fault = last;
        let at = last + LIVENESS_BOUND;
        self.liveness_at = (at <= end).then_some(at);
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

    pub(crate) fn after_event(&mut self, sim: &Simulation<Process>) -> Flow {
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
        cut_off_leader_resigns::check(g, out, sim, self.check_quorum_bound);
        leader_not_disrupted::check(g, out, sim);
        self.data_events(sim);
        if !self.liveness_done
            && let Some(at) = self.liveness_at
            && sim.now() >= at
        {
            self.liveness_done = true;
            let g = &mut self.ground;
            let out = &mut self.violations;
            eventually_leader_elected::check(g, out, sim);
            eventually_unfenced::check(g, out, sim);
            let cx = data::DataCx { g, sim };
            let dg = &mut self.data;
            eventually_partition_leader::check(&cx, dg, out);
            eventually_produce_answered::check(&cx, dg, out);
            let acked_ends: Vec<(TopicPartition, u64)> = dg
                .partitions
                .iter()
                .filter_map(|(tp, pg)| {
                    pg.acked
                        .values()
                        .filter(|w| w.at <= self.last_fault)
                        .map(data::AckedWrite::end_offset)
                        .max()
                        .map(|end| (*tp, end))
                })
                .collect();
            eventually_fully_replicated::check(&cx, dg, out, &acked_ends);
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
                    self.note_data_crash(sim, id, kind);
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

    /// A crash as the data plane sees it: a lossy broker crash counts against the durability
    /// scope of its partitions and cuts its verified prefix to what survived; a producer's
    /// sends in flight become indeterminate; a consumer starts its reads over.
    fn note_data_crash(&mut self, sim: &Simulation<Process>, id: NodeId, kind: CrashKind) {
        let dg = &mut self.data;
        if let Some(b) = crate::config::broker_id_of(&self.ground.brokers, id) {
            if kind == CrashKind::Process {
                return;
            }
            self.lossy_pending.insert(b);
            let logs = match sim.disk_of_down_node(id) {
                Some(crate::world::Disk::Broker(d)) => Some(&d.logs),
                _ => None,
            };
            for (tp, pg) in &mut dg.partitions {
                if !pg.replicas.contains(&b) {
                    continue;
                }
                pg.lossy_shutdowns += 1;
                let survived = logs
                    .and_then(|l| l.get(tp))
                    .map_or(0, super::broker::log::PartitionLog::end_offset);
                if let Some(v) = pg.verified.get_mut(&b) {
                    *v = (*v).min(survived);
                }
            }
            return;
        }
        let before = dg.pending_sends.len();
        dg.pending_sends.retain(|(p, ..), _| *p != id);
        dg.stats.sends_indeterminate += (before - dg.pending_sends.len()) as u64;
        dg.poll_positions.retain(|(c, _), _| *c != id);
    }

    /// End of the run: the checks judged on the whole history.
    pub fn finish(&mut self, sim: &Simulation<Process>) {
        self.ground.now = sim.now();
        let cx = data::DataCx {
            g: &self.ground,
            sim,
        };
        lost_write::finish(&cx, &self.data, &mut self.violations);
        // Sends whose delivery timeout passed after the liveness moment (reported once).
        if !self
            .violations
            .list
            .iter()
            .any(|v| v.invariant == eventually_produce_answered::INFO.id)
        {
            eventually_produce_answered::check(&cx, &self.data, &mut self.violations);
        }
        // acks=1 and acks=0 losses: the write is not at its offset (or anywhere, for acks=0)
        // in the final committed log.
        let mut acks1_lost = 0;
        let mut acks0_lost = 0;
        for pg in self.data.partitions.values() {
            if pg.leader.is_none() {
                continue;
            }
            for (acks, offset, value, count) in &pg.weak_acked {
                let present = match offset {
                    Some(o) => pg.committed_at(*o).is_some_and(|(_, v)| v == *value),
                    None => pg.committed.iter().any(|b| {
                        b.producer_id == value.producer_id
                            && b.base_sequence <= value.sequence
                            && value.sequence < b.base_sequence + b.count
                    }),
                };
                if !present {
                    match acks {
                        Acks::Leader => acks1_lost += u64::from(*count),
                        _ => acks0_lost += u64::from(*count),
                    }
                }
            }
        }
        self.data.stats.acks1_writes_lost = acks1_lost;
        self.data.stats.acks0_writes_lost = acks0_lost;
    }

    pub(crate) fn ground(&self) -> &Ground {
        &self.ground
    }

    pub fn data(&self) -> &data::DataGround {
        &self.data
    }

    pub(crate) fn into_violations(self) -> Vec<Violation> {
        self.violations.list
    }

    /// Acknowledged writes lost outside Kafka's durability promise so far.
    pub fn losses_outside_promise(&self) -> &[LossOutsidePromise] {
        &self.violations.losses
    }
}
