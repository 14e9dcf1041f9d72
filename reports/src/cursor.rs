//! The cluster at any moment, for the HTML report's time cursor: each controller, broker,
//! partition replica and client as the trace tells it, folded line by line while the trace is
//! read ([`Cursor::see`]) and kept as frames.
//!
//! A frame is the state after every line up to its time. There is one frame per instant at
//! which something a learner steps through happened (a fault, a note, an election, a fencing,
//! an ISR change, a truncation: every line the narration tells), and one per sampling interval
//! (100 ms to start with) in which only continuous figures moved (high watermarks, log end
//! offsets, client counts). A frame stores only the entities that changed since the frame
//! before it, as JSON.
//!
//! The page has a budget: at most [`FRAME_LIMIT`] frames and [`BYTE_LIMIT`] bytes of state.
//! A longer run is sampled more coarsely: the interval doubles and the frames within each new
//! interval merge into its last (keeping every stepped instant while that alone fits, then
//! merging those too). [`Frames::interval_us`] and [`Frames::every_step`] say how it came out.
//!
//! What each figure is, from which trace line:
//! - a controller's Raft role, epoch, leader and vote: its `raft_state` lines; active from
//!   `controller_activated` until it renounces, leaves the leader role or goes down;
//! - a broker's lifecycle: its own `broker_lifecycle` lines; its broker epoch and whether it is
//!   fenced: the controllers' `broker_registered`, `broker_fenced` and `broker_unfenced`;
//! - a partition's leader, leader epoch, ISR and ELR: committed `partition_changed` lines
//!   (not a new active controller's replay of one already told);
//! - its high watermark: the latest a leader reported (`high_watermark`, `became_leader`) in
//!   the highest leader epoch reported so far;
//! - each replica's log: its `appended` lines (leader and follower appends, told only to the
//!   trace file), `log_opened` (what a restarted broker's disk kept), `replica_truncated` and
//!   `became_leader`, drawn as runs of one leader epoch each;
//! - a producer's batches in flight (invoked, not yet completed), records acknowledged by acks
//!   level, failed and indeterminate, and its last error: its `send` lines;
//! - a consumer's position in each partition: the end of the last batch it read (`poll`), or
//!   where it sought back to after detecting a truncation.

use crate::trace::Body;
use serde::Serialize;
use sim_core::config::Acks;
use sim_core::kraft::TopicPartition;
use sim_core::kraft::history::LeadershipChange;
use sim_core::kraft::raft::RaftRole;
use sim_core::proto::{BrokerState, Event, SendOp};
use sim_core::trace::DownCause;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most frames a report keeps.
pub const FRAME_LIMIT: usize = 4_000;
/// Most bytes of state (JSON) a report keeps across all frames.
pub const BYTE_LIMIT: usize = 3 << 20;
/// The first sampling interval.
pub const FIRST_INTERVAL_US: u64 = 100_000;

/// A node's process, as the fault lines tell it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Process {
    /// Not started yet.
    #[default]
    Unstarted,
    Running,
    Paused,
    Crashed,
    PowerLost,
    DiskLost,
    ShutDown,
}

impl Process {
    fn down(cause: DownCause) -> Process {
        use sim_core::storage::CrashKind;
        match cause {
            DownCause::Shutdown => Process::ShutDown,
            DownCause::Crash(CrashKind::Process) => Process::Crashed,
            DownCause::Crash(CrashKind::PowerLoss) => Process::PowerLost,
            DownCause::Crash(CrashKind::DiskLoss) => Process::DiskLost,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct ControllerView {
    process: Process,
    role: Option<RaftRole>,
    epoch: u32,
    leader: Option<String>,
    voted_for: Option<String>,
    active: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct BrokerView {
    process: Process,
    /// Its own lifecycle state (none while down).
    lifecycle: Option<BrokerState>,
    /// The broker epoch the controller registered it with.
    broker_epoch: Option<u64>,
    /// As the controller sees it (none before it registers).
    fenced: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct ReplicaView {
    broker: u32,
    /// `leader` or `follower`, as the broker itself believes (none while it is down).
    role: Option<&'static str>,
    /// The leader epoch it believes in.
    leader_epoch: Option<u32>,
    log_end_offset: u64,
    /// The log as runs: (start offset, leader epoch of its records).
    runs: Vec<(u64, u32)>,
    /// Cut back at this instant: from, to.
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<(u64, u64)>,
}

impl ReplicaView {
    fn cut_to(&mut self, offset: u64) {
        self.runs.retain(|&(start, _)| start < offset);
        self.log_end_offset = offset;
    }

    fn append(&mut self, leader_epoch: u32, end: u64) {
        if self.runs.last().is_none_or(|&(_, e)| e != leader_epoch) {
            self.runs.push((self.log_end_offset, leader_epoch));
        }
        self.log_end_offset = end;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct PartitionView {
    leader: Option<u32>,
    leader_epoch: u32,
    partition_epoch: u32,
    isr: Vec<u32>,
    elr: Vec<u32>,
    high_watermark: u64,
    /// The leader epoch the high watermark was reported in.
    #[serde(skip)]
    hw_epoch: u32,
    /// By broker id.
    replicas: Vec<ReplicaView>,
}

impl PartitionView {
    fn replica(&mut self, broker: u32) -> &mut ReplicaView {
        let i = match self.replicas.binary_search_by_key(&broker, |r| r.broker) {
            Ok(i) => i,
            Err(i) => {
                self.replicas.insert(
                    i,
                    ReplicaView {
                        broker,
                        ..ReplicaView::default()
                    },
                );
                i
            }
        };
        &mut self.replicas[i]
    }

    fn report_hw(&mut self, leader_epoch: u32, hw: u64) {
        if leader_epoch >= self.hw_epoch {
            self.hw_epoch = leader_epoch;
            self.high_watermark = hw;
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct ProducerView {
    process: Process,
    in_flight: u64,
    /// Records acknowledged, by acks level (`all`, `1`, `0`).
    acked: BTreeMap<&'static str, u64>,
    failed: u64,
    indeterminate: u64,
    last_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct ConsumerView {
    process: Process,
    /// By partition name.
    positions: BTreeMap<String, u64>,
    truncations_detected: u64,
}

/// What kind of thing an entity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Controller,
    Broker,
    Partition,
    Producer,
    Consumer,
}

enum View {
    Controller(ControllerView),
    Broker(BrokerView),
    Producer(ProducerView),
    Consumer(ConsumerView),
    /// A node of no kind the panel shows.
    Other,
}

impl View {
    fn json(&self) -> Option<String> {
        let s = match self {
            View::Controller(v) => serde_json::to_string(v),
            View::Broker(v) => serde_json::to_string(v),
            View::Producer(v) => serde_json::to_string(v),
            View::Consumer(v) => serde_json::to_string(v),
            View::Other => return None,
        };
        Some(s.expect("a view serializes"))
    }

    fn set_process(&mut self, p: Process) {
        match self {
            View::Controller(v) => {
                v.process = p;
                if p != Process::Running && p != Process::Paused {
                    v.role = None;
                    v.leader = None;
                    v.active = false;
                }
            }
            View::Broker(v) => {
                v.process = p;
                if p != Process::Running && p != Process::Paused {
                    v.lifecycle = None;
                }
            }
            View::Producer(v) => v.process = p,
            View::Consumer(v) => v.process = p,
            View::Other => {}
        }
    }
}

/// One entity the panel shows, and its states over the frames.
#[derive(Clone, Debug)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    /// (frame, state as JSON) at each frame where it changed.
    pub changes: Vec<(usize, String)>,
}

/// One frame: a time, whether it is a stepped instant, and how many entities changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub t_us: u64,
    /// Something the narration tells happened at this instant (not only a sample).
    pub step: bool,
}

/// The frames of a run, ready for the page.
#[derive(Clone, Debug, Default)]
pub struct Frames {
    pub frames: Vec<Frame>,
    pub entities: Vec<Entity>,
    /// The sampling interval the run ended with.
    pub interval_us: u64,
    /// Whether every stepped instant has a frame of its own (false when the budget merged them).
    pub every_step: bool,
}

impl Frames {
    /// The state of entity `e` at frame `f`, as JSON (none before its first change).
    pub fn state_at(&self, e: usize, f: usize) -> Option<&str> {
        let changes = &self.entities[e].changes;
        let i = changes.partition_point(|(at, _)| *at <= f);
        i.checked_sub(1).map(|i| changes[i].1.as_str())
    }

    /// About how long [`Frames::to_json`]'s text is.
    pub fn json_len(&self) -> usize {
        64 + self.frames.len() * 12
            + self
                .entities
                .iter()
                .flat_map(|e| &e.changes)
                .map(|(_, s)| s.len() + 8)
                .sum::<usize>()
    }

    /// The frames as the page's JSON: `{"interval_us", "every_step", "t": [...], "step":
    /// [...], "entities": [{"kind", "name", "changes": [[frame, state], ...]}]}`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.json_len());
        let _ = write!(
            out,
            "{{\"interval_us\":{},\"every_step\":{},\"t\":[",
            self.interval_us, self.every_step
        );
        for (i, f) in self.frames.iter().enumerate() {
            let _ = write!(out, "{}{}", if i > 0 { "," } else { "" }, f.t_us);
        }
        out.push_str("],\"step\":[");
        for (i, f) in self.frames.iter().enumerate() {
            let _ = write!(out, "{}{}", if i > 0 { "," } else { "" }, u8::from(f.step));
        }
        out.push_str("],\"entities\":[");
        for (i, e) in self.entities.iter().enumerate() {
            let _ = write!(
                out,
                "{}{{\"kind\":{},\"name\":{},\"changes\":[",
                if i > 0 { "," } else { "" },
                serde_json::to_string(&e.kind).expect("a kind serializes"),
                serde_json::to_string(&e.name).expect("a name serializes"),
            );
            for (j, (f, s)) in e.changes.iter().enumerate() {
                let _ = write!(out, "{}[{f},{s}]", if j > 0 { "," } else { "" });
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }
}

/// Where an entity's state lives.
#[derive(Clone, Copy, Debug)]
enum Source {
    Node(usize),
    Partition(TopicPartition),
}

/// The fold: the current state of everything, and the frames so far.
pub struct Cursor {
    topics: Vec<String>,
    /// By node id.
    nodes: Vec<View>,
    /// Node id of each broker id.
    broker_nodes: BTreeMap<u32, usize>,
    partitions: BTreeMap<TopicPartition, PartitionView>,
    /// Entity index of each node (none for nodes the panel does not show) and partition, and
    /// what each entity is.
    node_entity: Vec<Option<usize>>,
    sources: Vec<Source>,
    partition_entity: BTreeMap<TopicPartition, usize>,
    /// The JSON each entity last had in a frame.
    last: Vec<Option<String>>,
    /// Entities that may have changed since the last frame.
    dirty: Vec<bool>,
    /// The instant being folded, and whether a stepped line came at it.
    at_us: u64,
    step_pending: bool,
    bytes: usize,
    out: Frames,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("frames", &self.out.frames.len())
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// The broker id of a broker's node name (`broker-3` is 3).
fn broker_id(name: &str) -> Option<u32> {
    name.strip_prefix("broker-")?.parse().ok()
}

fn acks_name(acks: Acks) -> &'static str {
    match acks {
        Acks::All => "all",
        Acks::Leader => "1",
        Acks::None => "0",
    }
}

impl Cursor {
    /// A fold over a trace whose start line lists these nodes and topics.
    pub fn new(nodes: &[String], topics: &[String]) -> Cursor {
        let mut out = Frames {
            interval_us: FIRST_INTERVAL_US,
            every_step: true,
            ..Frames::default()
        };
        let mut views = Vec::new();
        let mut node_entity = Vec::new();
        let mut broker_nodes = BTreeMap::new();
        let mut sources = Vec::new();
        for (i, name) in nodes.iter().enumerate() {
            let (kind, view) = if name.starts_with("controller-") {
                (
                    EntityKind::Controller,
                    View::Controller(ControllerView::default()),
                )
            } else if let Some(id) = broker_id(name) {
                broker_nodes.insert(id, i);
                (EntityKind::Broker, View::Broker(BrokerView::default()))
            } else if name.starts_with("producer-") {
                (
                    EntityKind::Producer,
                    View::Producer(ProducerView::default()),
                )
            } else if name.starts_with("consumer-") {
                (
                    EntityKind::Consumer,
                    View::Consumer(ConsumerView::default()),
                )
            } else {
                views.push(View::Other);
                node_entity.push(None);
                continue;
            };
            views.push(view);
            node_entity.push(Some(out.entities.len()));
            sources.push(Source::Node(i));
            out.entities.push(Entity {
                kind,
                name: name.clone(),
                changes: Vec::new(),
            });
        }
        let n = out.entities.len();
        Cursor {
            topics: topics.to_vec(),
            nodes: views,
            broker_nodes,
            partitions: BTreeMap::new(),
            node_entity,
            sources,
            partition_entity: BTreeMap::new(),
            last: vec![None; n],
            dirty: vec![true; n],
            at_us: 0,
            step_pending: false,
            bytes: 0,
            out,
        }
    }

    fn tp_name(&self, tp: TopicPartition) -> String {
        let topic = self
            .topics
            .get(tp.topic as usize)
            .cloned()
            .unwrap_or_else(|| format!("topic{}", tp.topic));
        format!("{topic}-{}", tp.partition)
    }

    fn node_name(&self, node: usize) -> Option<String> {
        self.node_entity
            .get(node)
            .copied()
            .flatten()
            .map(|e| self.out.entities[e].name.clone())
    }

    fn touch_node(&mut self, node: usize) {
        if let Some(Some(e)) = self.node_entity.get(node) {
            self.dirty[*e] = true;
        }
    }

    fn partition(&mut self, tp: TopicPartition) -> &mut PartitionView {
        let e = match self.partition_entity.get(&tp) {
            Some(&e) => e,
            None => {
                let e = self.out.entities.len();
                let name = self.tp_name(tp);
                self.out.entities.push(Entity {
                    kind: EntityKind::Partition,
                    name,
                    changes: Vec::new(),
                });
                self.last.push(None);
                self.dirty.push(true);
                self.sources.push(Source::Partition(tp));
                self.partition_entity.insert(tp, e);
                e
            }
        };
        self.dirty[e] = true;
        self.partitions.entry(tp).or_default()
    }

    /// Folds one line (before the reader decides whether to keep it). `change` is what a
    /// committed partition change changed (none for a replay of one already told).
    pub fn see(&mut self, t_us: u64, body: &Body, change: Option<&LeadershipChange>) {
        if matches!(body, Body::Violation { .. } | Body::Loss { .. }) {
            return;
        }
        if t_us > self.at_us {
            self.close_instant(t_us);
            self.at_us = t_us;
        }
        if Cursor::is_step(body) {
            self.step_pending = true;
        }
        match body {
            Body::Up { node, .. } => self.set_process(node.index(), Process::Running),
            Body::Resumed { node, .. } => self.set_process(node.index(), Process::Running),
            Body::Paused { node } => self.set_process(node.index(), Process::Paused),
            Body::Down { node, cause } => {
                self.set_process(node.index(), Process::down(*cause));
                if let Some(id) = self.node_name(node.index()).as_deref().and_then(broker_id) {
                    self.broker_down(id);
                }
            }
            Body::Node { node, event } => self.event(node.index(), event, change),
            _ => {}
        }
    }

    /// Whether a line is one the learner steps to (the narration tells it).
    fn is_step(body: &Body) -> bool {
        match body {
            Body::Node { event, .. } => !matches!(
                event.as_ref(),
                Event::HighWatermark { .. }
                    | Event::Appended { .. }
                    | Event::LogOpened { .. }
                    | Event::Send { .. }
                    | Event::Poll { .. }
            ),
            Body::Deliver { .. }
            | Body::Lost { .. }
            | Body::Disconnect { .. }
            | Body::Network { .. }
            | Body::Start { .. }
            | Body::End { .. } => false,
            _ => true,
        }
    }

    fn set_process(&mut self, node: usize, p: Process) {
        if let Some(v) = self.nodes.get_mut(node) {
            v.set_process(p);
            self.touch_node(node);
        }
    }

    /// A broker's replicas have no role while it is down.
    fn broker_down(&mut self, id: u32) {
        let tps: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.replicas.iter().any(|r| r.broker == id))
            .map(|(tp, _)| *tp)
            .collect();
        for tp in tps {
            let r = self.partition(tp).replica(id);
            r.role = None;
            r.leader_epoch = None;
        }
    }

    fn broker_view(&mut self, id: u32) -> Option<&mut BrokerView> {
        let node = *self.broker_nodes.get(&id)?;
        self.touch_node(node);
        match &mut self.nodes[node] {
            View::Broker(b) => Some(b),
            _ => None,
        }
    }

    fn event(&mut self, node: usize, event: &Event, change: Option<&LeadershipChange>) {
        self.touch_node(node);
        match event {
            Event::RaftState { .. }
            | Event::ControllerActivated { .. }
            | Event::ControllerRenounced { .. }
            | Event::BrokerRegistered { .. }
            | Event::BrokerFenced { .. }
            | Event::BrokerUnfenced { .. }
            | Event::BrokerLifecycle { .. } => self.control_event(node, event),
            Event::Send { .. } | Event::Poll { .. } | Event::TruncationDetected { .. } => {
                self.client_event(node, event);
            }
            _ => {
                let broker = self.node_name(node).as_deref().and_then(broker_id);
                self.partition_event(broker, event, change);
            }
        }
    }

    /// Controllers' Raft state and the brokers as the controller and they themselves see it.
    fn control_event(&mut self, node: usize, event: &Event) {
        match event {
            Event::RaftState {
                state,
                epoch,
                leader,
                voted_for,
            } => {
                let leader = leader.and_then(|n| self.node_name(n.index()));
                let voted_for = voted_for.and_then(|n| self.node_name(n.index()));
                if let Some(View::Controller(c)) = self.nodes.get_mut(node) {
                    c.role = Some(*state);
                    c.epoch = *epoch;
                    c.leader = leader;
                    c.voted_for = voted_for;
                    if *state != RaftRole::Leader {
                        c.active = false;
                    }
                }
            }
            Event::ControllerActivated { .. } | Event::ControllerRenounced { .. } => {
                if let Some(View::Controller(c)) = self.nodes.get_mut(node) {
                    c.active = matches!(event, Event::ControllerActivated { .. });
                }
            }
            Event::BrokerRegistered {
                broker,
                broker_epoch,
            } => {
                if let Some(b) = self.broker_view(*broker) {
                    b.broker_epoch = Some(*broker_epoch);
                    b.fenced = Some(true);
                }
            }
            Event::BrokerFenced {
                broker,
                broker_epoch,
                ..
            }
            | Event::BrokerUnfenced {
                broker,
                broker_epoch,
                ..
            } => {
                let fenced = matches!(event, Event::BrokerFenced { .. });
                if let Some(b) = self.broker_view(*broker) {
                    b.broker_epoch = Some(*broker_epoch);
                    b.fenced = Some(fenced);
                }
            }
            Event::BrokerLifecycle { state } => {
                if let Some(View::Broker(b)) = self.nodes.get_mut(node) {
                    b.lifecycle = Some(*state);
                }
            }
            _ => {}
        }
    }

    /// A partition as the controller committed it, and each replica (`broker`, the node's
    /// broker id) as it told its log.
    fn partition_event(
        &mut self,
        my_broker: Option<u32>,
        event: &Event,
        change: Option<&LeadershipChange>,
    ) {
        match event {
            Event::PartitionChanged {
                tp,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
                elr,
                ..
            } if change.is_some() => {
                let p = self.partition(*tp);
                p.leader = *leader;
                p.leader_epoch = *leader_epoch;
                p.partition_epoch = *partition_epoch;
                p.isr = isr.clone();
                p.elr = elr.clone();
                for &b in isr.iter().chain(elr) {
                    p.replica(b);
                }
            }
            Event::BecameLeader {
                tp,
                leader_epoch,
                leso,
                high_watermark,
                ..
            } => {
                let Some(id) = my_broker else { return };
                let p = self.partition(*tp);
                p.report_hw(*leader_epoch, *high_watermark);
                let r = p.replica(id);
                r.role = Some("leader");
                r.leader_epoch = Some(*leader_epoch);
                r.cut_to(*leso);
            }
            Event::BecameFollower {
                tp, leader_epoch, ..
            } => {
                let Some(id) = my_broker else { return };
                let r = self.partition(*tp).replica(id);
                r.role = Some("follower");
                r.leader_epoch = Some(*leader_epoch);
            }
            Event::HighWatermark {
                tp,
                leader_epoch,
                high_watermark,
                ..
            } => {
                self.partition(*tp)
                    .report_hw(*leader_epoch, *high_watermark);
            }
            Event::Appended {
                tp,
                leader_epoch,
                log_end_offset,
            } => {
                let Some(id) = my_broker else { return };
                self.partition(*tp)
                    .replica(id)
                    .append(*leader_epoch, *log_end_offset);
            }
            Event::LogOpened {
                tp, log_end_offset, ..
            } => {
                let Some(id) = my_broker else { return };
                self.partition(*tp).replica(id).cut_to(*log_end_offset);
            }
            Event::ReplicaTruncated {
                tp,
                from_offset,
                to_offset,
                ..
            } => {
                let Some(id) = my_broker else { return };
                let r = self.partition(*tp).replica(id);
                r.cut_to(*to_offset);
                r.truncated = Some((*from_offset, *to_offset));
            }
            _ => {}
        }
    }

    /// Producers' sends and consumers' reads.
    fn client_event(&mut self, node: usize, event: &Event) {
        match event {
            Event::Send {
                op,
                acks,
                count,
                error,
                ..
            } => {
                if let Some(View::Producer(p)) = self.nodes.get_mut(node) {
                    let count = u64::from(*count);
                    match op {
                        SendOp::Invoke => p.in_flight += 1,
                        SendOp::Ok => {
                            p.in_flight = p.in_flight.saturating_sub(1);
                            *p.acked.entry(acks_name(*acks)).or_default() += count;
                        }
                        SendOp::Fail | SendOp::Info => {
                            p.in_flight = p.in_flight.saturating_sub(1);
                            if *op == SendOp::Fail {
                                p.failed += count;
                            } else {
                                p.indeterminate += count;
                            }
                            if let Some(e) = error {
                                p.last_error = Some(crate::trace::wire_name(e));
                            }
                        }
                    }
                }
            }
            Event::Poll { tp, batch } => {
                let name = self.tp_name(*tp);
                if let Some(View::Consumer(c)) = self.nodes.get_mut(node) {
                    c.positions
                        .insert(name, batch.base_offset + u64::from(batch.count));
                }
            }
            Event::TruncationDetected { tp, end_offset, .. } => {
                let name = self.tp_name(*tp);
                if let Some(View::Consumer(c)) = self.nodes.get_mut(node) {
                    c.positions.insert(name, *end_offset);
                    c.truncations_detected += 1;
                }
            }
            _ => {}
        }
    }

    /// The instant `at_us` is over (the next line is at `next_us`): a frame for it if a
    /// stepped line came at it, or at the last sampling point before `next_us`.
    fn close_instant(&mut self, next_us: u64) {
        if self.step_pending {
            self.push_frame(self.at_us, true);
            return;
        }
        let interval = self.out.interval_us;
        let sample = (next_us - 1) / interval * interval;
        if sample >= self.at_us {
            self.push_frame(sample, false);
        }
    }

    /// The state of every dirty entity: those that changed go into a new frame at `t_us`.
    fn push_frame(&mut self, t_us: u64, step: bool) {
        self.step_pending = false;
        let frame = self.out.frames.len();
        let mut changed = false;
        for e in 0..self.dirty.len() {
            if !std::mem::take(&mut self.dirty[e]) {
                continue;
            }
            let Some(s) = self.entity_json(e) else {
                continue;
            };
            if self.last[e].as_deref() != Some(s.as_str()) {
                self.bytes += s.len();
                self.out.entities[e].changes.push((frame, s.clone()));
                self.last[e] = Some(s);
                changed = true;
            }
        }
        // A truncation shows in its own instant's frame only.
        for (tp, p) in &mut self.partitions {
            if p.replicas.iter().any(|r| r.truncated.is_some()) {
                for r in &mut p.replicas {
                    r.truncated = None;
                }
                self.dirty[self.partition_entity[tp]] = true;
            }
        }
        if changed || step {
            self.out.frames.push(Frame { t_us, step });
            if self.out.frames.len() > FRAME_LIMIT || self.bytes > BYTE_LIMIT {
                self.thin();
            }
        }
    }

    fn entity_json(&self, e: usize) -> Option<String> {
        match self.sources[e] {
            Source::Node(node) => self.nodes[node].json(),
            Source::Partition(tp) => {
                Some(serde_json::to_string(&self.partitions[&tp]).expect("a partition serializes"))
            }
        }
    }

    /// Over budget: double the sampling interval and merge the frames of each new interval
    /// into its last (stepped frames stay apart while they alone fit), until within budget.
    fn thin(&mut self) {
        const FRAME_TARGET: usize = FRAME_LIMIT * 3 / 4;
        // One frame is the floor: the whole state once (a cluster whose single state passes the
        // byte budget gets a page that large).
        while (self.out.frames.len() > FRAME_TARGET || self.bytes > BYTE_LIMIT * 3 / 4)
            && self.out.frames.len() > 1
        {
            self.out.interval_us = self.out.interval_us.saturating_mul(2);
            // Kept apart, each stepped frame may still be followed by one merged sample.
            if self.out.frames.iter().filter(|f| f.step).count() * 2 > FRAME_TARGET
                || self.bytes > BYTE_LIMIT * 3 / 4
            {
                self.out.every_step = false;
            }
            let interval = self.out.interval_us;
            let apart = |f: &Frame| self.out.every_step && f.step;
            // Groups of consecutive frames in one interval (a stepped frame kept apart is a
            // group of its own); each becomes one frame at its last member's time.
            let frames = std::mem::take(&mut self.out.frames);
            let mut group_of = Vec::with_capacity(frames.len());
            let mut merged: Vec<Frame> = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                let joins_previous = i > 0
                    && !apart(f)
                    && !apart(&frames[i - 1])
                    && frames[i - 1].t_us / interval == f.t_us / interval;
                if joins_previous {
                    let last = merged.last_mut().expect("a group to join");
                    last.t_us = f.t_us;
                    last.step |= f.step;
                } else {
                    merged.push(*f);
                }
                group_of.push(merged.len() - 1);
            }
            self.bytes = 0;
            for e in &mut self.out.entities {
                let mut changes: Vec<(usize, String)> = Vec::with_capacity(e.changes.len());
                for (f, s) in e.changes.drain(..) {
                    let g = group_of[f];
                    match changes.last_mut() {
                        Some(last) if last.0 == g => *last = (g, s),
                        _ => changes.push((g, s)),
                    }
                }
                self.bytes += changes.iter().map(|(_, s)| s.len()).sum::<usize>();
                e.changes = changes;
            }
            self.out.frames = merged;
        }
    }

    /// The frames, once every line has been seen; `end_us` is when the run ended.
    pub fn finish(mut self, end_us: u64) -> Frames {
        if self.step_pending {
            self.push_frame(self.at_us, true);
        }
        if self.dirty.iter().any(|&d| d) {
            let t = end_us.max(self.at_us);
            if self.out.frames.last().is_none_or(|f| f.t_us < t) {
                self.push_frame(t, false);
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::engine::NodeId;
    use std::borrow::Cow;

    fn hw(t_ms: u64) -> Body {
        Body::Node {
            node: NodeId(0),
            event: Cow::Owned(Event::HighWatermark {
                tp: TopicPartition {
                    topic: 0,
                    partition: 0,
                },
                leader_epoch: 0,
                high_watermark: t_ms,
                log_end_offset: t_ms,
            }),
        }
    }

    fn note() -> Body {
        Body::Note {
            text: Cow::Borrowed("a note"),
        }
    }

    /// The high watermark a frame shows.
    fn shown_hw(frames: &Frames, f: usize) -> u64 {
        let e = frames
            .entities
            .iter()
            .position(|e| e.kind == EntityKind::Partition)
            .unwrap();
        let state: serde_json::Value =
            serde_json::from_str(frames.state_at(e, f).expect("a state")).unwrap();
        state["high_watermark"].as_u64().unwrap()
    }

    /// Feeds a high watermark every 10 ms for `seconds`, and a note every `note_ms`.
    fn run(seconds: u64, note_ms: u64) -> Frames {
        let mut c = Cursor::new(&["broker-1".into()], &["orders".into()]);
        for t_ms in 1..=seconds * 1000 {
            if t_ms % 10 == 0 {
                c.see(t_ms * 1000, &hw(t_ms), None);
            }
            if t_ms % note_ms == 0 {
                c.see(t_ms * 1000, &note(), None);
            }
        }
        c.finish(seconds * 1_000_000)
    }

    #[test]
    fn a_short_run_keeps_a_frame_per_step_and_per_100_ms() {
        let f = run(10, 1_000);
        assert_eq!(f.interval_us, FIRST_INTERVAL_US);
        assert!(f.every_step);
        // 10 notes, and one sample in each 100 ms without a note.
        assert_eq!(f.frames.iter().filter(|f| f.step).count(), 10);
        // The state before the first line (t = 0), then 10 per second.
        assert_eq!(f.frames.len(), 101);
        assert_eq!(f.frames[0].t_us, 0);
        // Each frame shows the state after every line up to its time.
        for (i, frame) in f.frames.iter().enumerate().skip(1) {
            assert_eq!(shown_hw(&f, i), frame.t_us / 10_000 * 10, "frame {i}");
        }
    }

    #[test]
    fn a_long_run_is_sampled_within_the_budget_and_stays_exact() {
        // 2,000 s: 20,000 samples of 100 ms, and 1,000 notes.
        let f = run(2_000, 2_000);
        assert!(f.frames.len() <= FRAME_LIMIT, "{} frames", f.frames.len());
        assert!(f.interval_us > FIRST_INTERVAL_US);
        assert!(f.every_step, "1,000 notes fit the budget on their own");
        assert_eq!(f.frames.iter().filter(|f| f.step).count(), 1_000);
        assert!(f.frames.windows(2).all(|w| w[0].t_us < w[1].t_us));
        for (i, frame) in f.frames.iter().enumerate().skip(1) {
            assert_eq!(shown_hw(&f, i), frame.t_us / 10_000 * 10, "frame {i}");
        }
    }

    #[test]
    fn too_many_steps_are_merged_too() {
        // A note every 100 ms for 1,000 s: 10,000 steps, more than the budget holds.
        let f = run(1_000, 100);
        assert!(f.frames.len() <= FRAME_LIMIT, "{} frames", f.frames.len());
        assert!(!f.every_step);
        for (i, frame) in f.frames.iter().enumerate().skip(1) {
            assert_eq!(shown_hw(&f, i), frame.t_us / 10_000 * 10, "frame {i}");
        }
    }
}
