//! The run as lanes over time: what each controller, broker and partition was doing, the
//! fault periods and the moments worth marking. Built from a trace alone; the timeline plot,
//! the HTML report and `report.json`'s histories all draw on it.

use crate::trace::{Body, Line, Trace, broker_name, wire_name};
use serde::Serialize;
use sim_core::config::Acks;
use sim_core::engine::NodeId;
use sim_core::fault::Fault;
use sim_core::kraft::TopicPartition;
use sim_core::kraft::history::LeadershipChange;
use sim_core::kraft::raft::RaftRole;
use sim_core::proto::{Event, SendOp};
use sim_core::storage::CrashKind;
use sim_core::trace::DownCause;
use std::collections::BTreeMap;

/// What a controller or broker lane shows in one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    // Controllers (KRaft roles).
    Leader,
    Follower,
    Candidate,
    Prospective,
    Unattached,
    Resigned,
    // Brokers.
    Running,
    Fenced,
    ShuttingDown,
    // Either.
    Paused,
    Crashed,
    PowerLost,
    DiskLost,
    ShutDown,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Leader => "leader",
            NodeState::Follower => "follower",
            NodeState::Candidate => "candidate",
            NodeState::Prospective => "prospective",
            NodeState::Unattached => "unattached",
            NodeState::Resigned => "resigned",
            NodeState::Running => "running",
            NodeState::Fenced => "fenced",
            NodeState::ShuttingDown => "shutting down",
            NodeState::Paused => "paused",
            NodeState::Crashed => "crashed",
            NodeState::PowerLost => "power loss",
            NodeState::DiskLost => "disk loss",
            NodeState::ShutDown => "shut down",
        }
    }
}

/// One period of a node lane.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    pub from_us: u64,
    pub to_us: u64,
    pub state: NodeState,
    /// Extra words: the KRaft epoch, the broker epoch.
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeLane {
    pub name: String,
    pub segments: Vec<Segment>,
}

/// One period of a partition as the controller committed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartitionSegment {
    pub from_us: u64,
    pub to_us: u64,
    pub leader: Option<u64>,
    pub leader_epoch: u64,
    pub partition_epoch: u64,
    pub isr: Vec<u64>,
    pub elr: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartitionLane {
    pub name: String,
    /// Replicas, from the widest ISR seen (the trace does not state the assignment).
    pub replicas: usize,
    pub segments: Vec<PartitionSegment>,
    /// (time, high watermark) as leaders reported it.
    pub hw: Vec<(u64, u64)>,
    /// Each replica's log end offset over time, by broker id: its appends, its log as a
    /// restarted broker opened it, its truncations.
    pub replica_leos: BTreeMap<u64, Vec<(u64, u64)>>,
    pub leader_changes: usize,
    pub isr_changes: usize,
}

/// A kind of fault period, for shading and the legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Crash,
    PowerLoss,
    DiskLoss,
    Shutdown,
    Partition,
    OneWay,
    Pause,
    Slow,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::PowerLoss => "power loss",
            FaultKind::DiskLoss => "disk loss",
            FaultKind::Shutdown => "shutdown",
            FaultKind::Partition => "partition",
            FaultKind::OneWay => "one-way cut",
            FaultKind::Pause => "pause",
            FaultKind::Slow => "slow",
        }
    }
}

/// A fault and how long it lasted (until the node came back, the network healed, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultSpan {
    pub from_us: u64,
    pub to_us: u64,
    pub kind: FaultKind,
    /// The nodes it hit, by name.
    pub nodes: Vec<String>,
    pub label: String,
}

/// A moment marked on a lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    Election,
    Fenced,
    Unfenced,
    IsrChange,
    Truncation,
    AckedLost,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Marker {
    pub t_us: u64,
    pub kind: MarkerKind,
    /// The lane it sits on (a node or partition name).
    pub lane: String,
    pub label: String,
}

/// How a producer's send ended (Jepsen's ok, fail, info).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    /// Acknowledged (or, with acks=0, sent).
    Ok,
    /// Indeterminate: it may or may not have been written.
    Info,
    /// Definitely not written.
    Fail,
}

/// A producer's sends over time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProducerLane {
    pub name: String,
    /// The acks levels its sends used (`all`, `1`, `0`).
    pub acks: Vec<String>,
    /// (time, outcome) of each completed send.
    pub sends: Vec<(u64, SendOutcome)>,
}

/// The whole run as lanes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    pub end_us: u64,
    pub controllers: Vec<NodeLane>,
    pub brokers: Vec<NodeLane>,
    pub partitions: Vec<PartitionLane>,
    pub producers: Vec<ProducerLane>,
    pub faults: Vec<FaultSpan>,
    pub markers: Vec<Marker>,
    /// The scenario's narration notes: (time, text).
    pub notes: Vec<(u64, String)>,
}

/// A node's state as the lane builder tracks it.
#[derive(Clone, Debug)]
struct NodeTrack {
    down: Option<NodeState>,
    paused: bool,
    raft: (NodeState, u64),
    registered: Option<u64>,
    fenced: bool,
    shutting_down: bool,
    lane: NodeLane,
}

impl NodeTrack {
    fn new(name: String, controller: bool) -> Self {
        NodeTrack {
            down: None,
            paused: false,
            raft: (NodeState::Unattached, 0),
            registered: None,
            fenced: !controller,
            shutting_down: false,
            lane: NodeLane {
                name,
                segments: Vec::new(),
            },
        }
    }

    fn current(&self, controller: bool) -> (NodeState, String) {
        if let Some(down) = self.down {
            // A dead broker stays registered and unfenced until its session expires: the
            // fencing splits its down period in two.
            let label = if !controller && self.fenced && self.registered.is_some() {
                "fenced".to_string()
            } else {
                String::new()
            };
            return (down, label);
        }
        if self.paused {
            return (NodeState::Paused, String::new());
        }
        if controller {
            let (state, epoch) = self.raft;
            return (state, format!("epoch {epoch}"));
        }
        let label = self
            .registered
            .map(|e| format!("broker epoch {e}"))
            .unwrap_or_default();
        if self.fenced {
            (NodeState::Fenced, label)
        } else if self.shutting_down {
            (NodeState::ShuttingDown, label)
        } else {
            (NodeState::Running, label)
        }
    }

    /// Closes the open segment at `t` and opens the current state, if it changed. A state
    /// that lasted no time at all (several changes at one instant) is replaced.
    fn update(&mut self, t: u64, controller: bool) {
        let (state, label) = self.current(controller);
        let segments = &mut self.lane.segments;
        if segments.last().is_some_and(|s| s.from_us == t) {
            segments.pop();
        }
        if let Some(last) = segments.last_mut() {
            if last.state == state && last.label == label {
                last.to_us = u64::MAX;
                return;
            }
            last.to_us = t;
        }
        segments.push(Segment {
            from_us: t,
            to_us: u64::MAX,
            state,
            label,
        });
    }
}

fn down_state(cause: DownCause) -> NodeState {
    match cause {
        DownCause::Crash(CrashKind::PowerLoss) => NodeState::PowerLost,
        DownCause::Crash(CrashKind::DiskLoss) => NodeState::DiskLost,
        DownCause::Crash(CrashKind::Process) => NodeState::Crashed,
        DownCause::Shutdown => NodeState::ShutDown,
    }
}

fn raft_state(role: RaftRole) -> NodeState {
    match role {
        RaftRole::Leader => NodeState::Leader,
        RaftRole::Follower => NodeState::Follower,
        RaftRole::Candidate => NodeState::Candidate,
        RaftRole::Prospective => NodeState::Prospective,
        RaftRole::Resigned => NodeState::Resigned,
        RaftRole::Unattached => NodeState::Unattached,
    }
}

struct Builder<'a> {
    trace: &'a Trace,
    nodes: Vec<NodeTrack>,
    controller: Vec<bool>,
    partitions: BTreeMap<String, PartitionLane>,
    faults: Vec<FaultSpan>,
    /// Fault spans still open, by what ends them.
    open: Vec<(OpenKey, usize)>,
    markers: Vec<Marker>,
    producers: Vec<ProducerLane>,
    notes: Vec<(u64, String)>,
}

/// What ends an open fault span.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OpenKey {
    /// The node is up again (crash, shutdown) or resumed (pause).
    Node(usize),
    /// A heal.
    Network,
    /// The same node made fast again.
    SlowNode(NodeId),
    /// The same link made fast again.
    SlowLink(NodeId, NodeId),
    /// The same link's connection made fast again (any of its connections: the key is the
    /// link).
    SlowChannel(NodeId, NodeId),
}

impl<'a> Builder<'a> {
    fn broker_track(&mut self, id: u32) -> Option<usize> {
        let name = broker_name(id);
        self.trace.nodes.iter().position(|n| *n == name)
    }

    fn open_span(&mut self, key: OpenKey, span: FaultSpan) {
        self.faults.push(span);
        self.open.push((key, self.faults.len() - 1));
    }

    fn close_spans(&mut self, t: u64, key: &OpenKey) {
        let faults = &mut self.faults;
        self.open.retain(|(k, i)| {
            if k == key {
                faults[*i].to_us = t;
                false
            } else {
                true
            }
        });
    }

    /// One line of the trace, in order.
    fn line(&mut self, line: &Line) {
        let t = line.t_us;
        let n = line.node().filter(|&n| n < self.nodes.len());
        let is_controller = n.is_some_and(|n| self.controller[n]);
        match (&line.body, n) {
            (Body::Up { .. }, Some(n)) => {
                self.close_spans(t, &OpenKey::Node(n));
                let track = &mut self.nodes[n];
                track.down = None;
                track.paused = false;
                track.registered = None;
                track.fenced = !is_controller;
                track.shutting_down = false;
                track.raft = (NodeState::Unattached, track.raft.1);
                track.update(t, is_controller);
            }
            (Body::Down { cause, .. }, Some(n)) => {
                self.nodes[n].down = Some(down_state(*cause));
                self.nodes[n].update(t, is_controller);
            }
            (Body::Paused { .. }, Some(n)) => {
                self.nodes[n].paused = true;
                self.nodes[n].update(t, is_controller);
            }
            (Body::Resumed { .. }, Some(n)) => {
                self.nodes[n].paused = false;
                self.close_spans(t, &OpenKey::Node(n));
                self.nodes[n].update(t, is_controller);
            }
            (Body::Fault { fault }, _) => self.fault(t, fault),
            (Body::Note { text }, _) => self.notes.push((t, text.to_string())),
            (Body::Node { node, event }, _) => self.node_event(line, node.index(), event),
            _ => {}
        }
    }

    fn fault(&mut self, t: u64, fault: &Fault) {
        let trace = self.trace;
        let names = |v: &[NodeId]| -> Vec<String> {
            v.iter().map(|n| trace.node_name(n.index())).collect()
        };
        let span = |kind: FaultKind, nodes: Vec<String>, label: String| FaultSpan {
            from_us: t,
            to_us: u64::MAX,
            kind,
            nodes,
            label,
        };
        let on_node = |node: &NodeId, kind: FaultKind, what: &str| {
            let name = trace.node_name(node.index());
            let label = format!("{name} {what}");
            (OpenKey::Node(node.index()), span(kind, vec![name], label))
        };
        let (key, span) = match fault {
            Fault::Crash { node, kind } => {
                let kind = match kind {
                    CrashKind::PowerLoss => FaultKind::PowerLoss,
                    CrashKind::DiskLoss => FaultKind::DiskLoss,
                    CrashKind::Process => FaultKind::Crash,
                };
                on_node(node, kind, kind.name())
            }
            Fault::Shutdown { node } => on_node(node, FaultKind::Shutdown, "shutdown"),
            Fault::Pause { node } => on_node(node, FaultKind::Pause, "paused"),
            Fault::Partition { groups } => {
                let groups: Vec<Vec<String>> = groups.iter().map(|g| names(g)).collect();
                let label = groups
                    .iter()
                    .map(|g| format!("{{{}}}", g.join(",")))
                    .collect::<Vec<_>>()
                    .join(" | ");
                let all = groups.into_iter().flatten().collect();
                (OpenKey::Network, span(FaultKind::Partition, all, label))
            }
            Fault::OneWay { from, to } => {
                let (from, to) = (names(from), names(to));
                let label = format!("{} -/-> {}", from.join(","), to.join(","));
                let all = from.into_iter().chain(to).collect();
                (OpenKey::Network, span(FaultKind::OneWay, all, label))
            }
            Fault::Heal => return self.close_spans(t, &OpenKey::Network),
            Fault::SlowNode { node, extra } => {
                let nodes = names(std::slice::from_ref(node));
                return self.slow(t, OpenKey::SlowNode(*node), nodes, extra.as_micros(), None);
            }
            Fault::SlowLink { from, to, extra } => {
                let nodes = names(&[*from, *to]);
                let key = OpenKey::SlowLink(*from, *to);
                return self.slow(t, key, nodes, extra.as_micros(), None);
            }
            Fault::SlowChannel {
                from,
                to,
                name,
                extra,
                ..
            } => {
                let nodes = names(&[*from, *to]);
                let key = OpenKey::SlowChannel(*from, *to);
                return self.slow(t, key, nodes, extra.as_micros(), Some(name));
            }
            Fault::Restart { .. } | Fault::Resume { .. } => return,
        };
        self.open_span(key, span);
    }

    /// A node, link or connection slowed down by `extra_us` (zero: fast again).
    fn slow(&mut self, t: u64, key: OpenKey, nodes: Vec<String>, extra_us: u64, on: Option<&str>) {
        self.close_spans(t, &key);
        let extra_ms = extra_us / 1000;
        if extra_ms == 0 {
            return;
        }
        let on = on.map_or(String::new(), |c| format!(" ({c})"));
        let label = format!("{} +{extra_ms} ms{on}", nodes.join(" -> "));
        self.open_span(
            key,
            FaultSpan {
                from_us: t,
                to_us: u64::MAX,
                kind: FaultKind::Slow,
                nodes,
                label,
            },
        );
    }

    fn node_event(&mut self, line: &Line, n: usize, event: &Event) {
        let t = line.t_us;
        match event {
            Event::RaftState { state, epoch, .. }
                if self.controller.get(n).copied().unwrap_or(false) =>
            {
                self.nodes[n].raft = (raft_state(*state), u64::from(*epoch));
                self.nodes[n].update(t, true);
            }
            Event::ControllerActivated { epoch } => {
                self.markers.push(Marker {
                    t_us: t,
                    kind: MarkerKind::Election,
                    lane: self.trace.node_name(n),
                    label: format!("active (epoch {epoch})"),
                });
            }
            Event::BrokerRegistered {
                broker,
                broker_epoch,
            } => self.broker_changed(t, *broker, None, |track| {
                track.registered = Some(*broker_epoch);
                track.fenced = true;
                track.shutting_down = false;
            }),
            Event::BrokerFenced { broker, .. } => {
                let marker = Some((MarkerKind::Fenced, "fenced"));
                self.broker_changed(t, *broker, marker, |track| track.fenced = true);
            }
            Event::BrokerUnfenced { broker, .. } => {
                let marker = Some((MarkerKind::Unfenced, "unfenced"));
                self.broker_changed(t, *broker, marker, |track| track.fenced = false);
            }
            Event::BrokerControlledShutdown { broker, .. } => {
                self.broker_changed(t, *broker, None, |track| track.shutting_down = true);
            }
            Event::PartitionChanged { tp, .. } => {
                if let Some(change) = &line.change {
                    let name = self.trace.tp_name(*tp);
                    self.partition_changed(t, name, change);
                }
            }
            Event::HighWatermark {
                tp, high_watermark, ..
            } => {
                let name = self.trace.tp_name(*tp);
                self.partition(&name).hw.push((t, *high_watermark));
            }
            Event::Appended {
                tp, log_end_offset, ..
            }
            | Event::LogOpened {
                tp, log_end_offset, ..
            }
            | Event::BecameLeader {
                tp,
                leso: log_end_offset,
                ..
            } => self.replica_leo(t, n, *tp, *log_end_offset),
            Event::Send { op, acks, .. } if *op != SendOp::Invoke => {
                self.send_done(t, n, *op, *acks);
            }
            Event::ReplicaTruncated {
                tp,
                from_offset,
                to_offset,
                ..
            } => {
                self.replica_leo(t, n, *tp, *to_offset);
                self.markers.push(Marker {
                    t_us: t,
                    kind: MarkerKind::Truncation,
                    lane: self.trace.tp_name(*tp),
                    label: format!(
                        "{} truncated {from_offset}->{to_offset}",
                        self.trace.node_name(n)
                    ),
                });
            }
            _ => {}
        }
    }

    /// The controller changed broker `id`'s registration: `change` updates its lane, and a
    /// marker, if any, is put on it.
    fn broker_changed(
        &mut self,
        t: u64,
        id: u32,
        marker: Option<(MarkerKind, &str)>,
        change: impl FnOnce(&mut NodeTrack),
    ) {
        let Some(b) = self.broker_track(id) else {
            return;
        };
        let track = &mut self.nodes[b];
        change(track);
        track.update(t, false);
        if let Some((kind, label)) = marker {
            self.markers.push(Marker {
                t_us: t,
                kind,
                lane: broker_name(id),
                label: label.into(),
            });
        }
    }

    fn partition(&mut self, name: &str) -> &mut PartitionLane {
        self.partitions
            .entry(name.to_string())
            .or_insert_with(|| PartitionLane {
                name: name.to_string(),
                replicas: 0,
                segments: Vec::new(),
                hw: Vec::new(),
                replica_leos: BTreeMap::new(),
                leader_changes: 0,
                isr_changes: 0,
            })
    }

    /// Producer node `n`'s send completed at `t`.
    fn send_done(&mut self, t: u64, n: usize, op: SendOp, acks: Acks) {
        let outcome = match op {
            SendOp::Ok | SendOp::Invoke => SendOutcome::Ok,
            SendOp::Info => SendOutcome::Info,
            SendOp::Fail => SendOutcome::Fail,
        };
        let name = self.trace.node_name(n);
        let i = match self.producers.iter().position(|p| p.name == name) {
            Some(i) => i,
            None => {
                self.producers.push(ProducerLane {
                    name,
                    acks: Vec::new(),
                    sends: Vec::new(),
                });
                self.producers.len() - 1
            }
        };
        let lane = &mut self.producers[i];
        let acks = wire_name(&acks).trim_matches('"').to_string();
        if !lane.acks.contains(&acks) {
            lane.acks.push(acks);
        }
        lane.sends.push((t, outcome));
    }

    /// Node `n`'s replica of `tp` ends at `offset` from time `t`.
    fn replica_leo(&mut self, t: u64, n: usize, tp: TopicPartition, offset: u64) {
        let Some(id) = self
            .trace
            .node_name(n)
            .strip_prefix("broker-")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return;
        };
        let name = self.trace.tp_name(tp);
        let series = self.partition(&name).replica_leos.entry(id).or_default();
        if series.last().is_none_or(|&(_, o)| o != offset) {
            series.push((t, offset));
        }
    }

    /// A committed change told for the first time (the trace's fold drops replays).
    fn partition_changed(&mut self, t: u64, name: String, change: &LeadershipChange) {
        let after = &change.after;
        let p = self.partition(&name);
        if let Some(last) = p.segments.last_mut() {
            last.to_us = t;
        }
        p.replicas = p.replicas.max(after.isr.len() + after.elr.len());
        p.segments.push(PartitionSegment {
            from_us: t,
            to_us: u64::MAX,
            leader: after.leader.map(u64::from),
            leader_epoch: u64::from(after.leader_epoch),
            partition_epoch: u64::from(after.partition_epoch),
            isr: after.isr.iter().map(|&b| u64::from(b)).collect(),
            elr: after.elr.iter().map(|&b| u64::from(b)).collect(),
        });
        if change.is_creation() {
            return;
        }
        let (leader_moved, isr_moved) = (change.leader_moved(), change.isr_moved());
        if leader_moved {
            p.leader_changes += 1;
        }
        if isr_moved {
            p.isr_changes += 1;
        }
        let leader_epoch = after.leader_epoch;
        let marker = match (change.election, leader_moved) {
            (Some(how), _) => Some((
                MarkerKind::Election,
                format!(
                    "{} e{leader_epoch} ({})",
                    after.leader.map_or("none".to_string(), |l| format!("b{l}")),
                    wire_name(&how)
                ),
            )),
            (None, true) => Some((MarkerKind::Election, format!("e{leader_epoch}"))),
            (None, false) if isr_moved => {
                Some((MarkerKind::IsrChange, format!("ISR {}", after.isr.len())))
            }
            _ => None,
        };
        if let Some((kind, label)) = marker {
            self.markers.push(Marker {
                t_us: t,
                kind,
                lane: name,
                label,
            });
        }
    }
}

/// Builds the lanes of a run from its trace.
pub fn build(trace: &Trace) -> Model {
    let controller: Vec<bool> = trace
        .nodes
        .iter()
        .map(|n| Trace::is_controller(n))
        .collect();
    let mut b = Builder {
        trace,
        nodes: trace
            .nodes
            .iter()
            .zip(&controller)
            .map(|(n, &c)| NodeTrack::new(n.clone(), c))
            .collect(),
        controller,
        partitions: BTreeMap::new(),
        faults: Vec::new(),
        open: Vec::new(),
        markers: Vec::new(),
        producers: Vec::new(),
        notes: Vec::new(),
    };
    for line in trace.lines.iter().filter(|l| !l.replayed) {
        b.line(line);
    }
    let end = trace.end_us;
    let close = |to: &mut u64| *to = (*to).min(end);
    let mut controllers = Vec::new();
    let mut brokers = Vec::new();
    for track in b.nodes {
        let mut lane = track.lane;
        for s in &mut lane.segments {
            close(&mut s.to_us);
        }
        if Trace::is_controller(&lane.name) {
            controllers.push(lane);
        } else if Trace::is_broker(&lane.name) {
            brokers.push(lane);
        }
    }
    let mut partitions: Vec<PartitionLane> = b.partitions.into_values().collect();
    for p in &mut partitions {
        for s in &mut p.segments {
            close(&mut s.to_us);
        }
    }
    partitions.sort_by(|a, b| partition_order(&a.name, &b.name));
    let mut faults = b.faults;
    for f in &mut faults {
        close(&mut f.to_us);
    }
    let mut markers = b.markers;
    for v in &trace.violations {
        if v.invariant == "acked_durability"
            && let Some((tp, _)) = v.explanation.split_once(':')
        {
            markers.push(Marker {
                t_us: v.t_us,
                kind: MarkerKind::AckedLost,
                lane: tp.to_string(),
                label: "acked writes lost".into(),
            });
        }
    }
    markers.sort_by_key(|m| (m.t_us, m.kind));
    Model {
        end_us: end,
        controllers,
        brokers,
        partitions,
        producers: b.producers,
        faults,
        markers,
        notes: b.notes,
    }
}

/// `orders-2` before `orders-10`: by topic name, then partition number.
pub fn partition_order(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        s.rsplit_once('-')
            .map(|(t, p)| (t.to_string(), p.parse::<u64>().unwrap_or(0)))
            .unwrap_or((s.to_string(), 0))
    };
    split(a).cmp(&split(b))
}
