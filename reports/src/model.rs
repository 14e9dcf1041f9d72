//! The run as lanes over time: what each controller, broker and partition was doing, the
//! fault periods and the moments worth marking. Built from a trace alone; the timeline plot,
//! the HTML report and `report.json`'s histories all draw on it.

use crate::trace::{Line, Trace, broker_name};
use serde::Serialize;
use serde_json::Value;
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
    /// (time, leader's log end offset).
    pub leo: Vec<(u64, u64)>,
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

/// The whole run as lanes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    pub end_us: u64,
    pub controllers: Vec<NodeLane>,
    pub brokers: Vec<NodeLane>,
    pub partitions: Vec<PartitionLane>,
    pub faults: Vec<FaultSpan>,
    pub markers: Vec<Marker>,
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

fn down_state(cause: &Value) -> NodeState {
    match cause["crash"].as_str() {
        Some("power_loss") => NodeState::PowerLost,
        Some("disk_loss") => NodeState::DiskLost,
        Some(_) => NodeState::Crashed,
        None => NodeState::ShutDown,
    }
}

/// Ids from a list, or a single id.
fn ids(v: &Value) -> Vec<u64> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_u64).collect(),
        v => v.as_u64().into_iter().collect(),
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
}

/// What ends an open fault span.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OpenKey {
    /// The node is up again (crash, shutdown) or resumed (pause).
    Node(usize),
    /// A heal.
    Network,
    /// The same link or node made fast again.
    Slow(Value),
}

impl<'a> Builder<'a> {
    fn broker_track(&mut self, id: u64) -> Option<usize> {
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

    fn fault(&mut self, line: &Line) {
        let f = &line.v["fault"];
        let t = line.t_us;
        let node = f["node"].as_u64().map(|n| n as usize);
        let name = node.map(|n| self.trace.node_name(n)).unwrap_or_default();
        let names = |v: &Value| -> Vec<String> {
            ids(v)
                .into_iter()
                .map(|n| self.trace.node_name(n as usize))
                .collect()
        };
        let span = |kind: FaultKind, nodes: Vec<String>, label: String| FaultSpan {
            from_us: t,
            to_us: u64::MAX,
            kind,
            nodes,
            label,
        };
        match f["action"].as_str().unwrap_or("") {
            "crash" => {
                let kind = match f["kind"].as_str() {
                    Some("power_loss") => FaultKind::PowerLoss,
                    Some("disk_loss") => FaultKind::DiskLoss,
                    _ => FaultKind::Crash,
                };
                let label = format!("{name} {}", kind.name());
                let key = OpenKey::Node(node.unwrap_or(usize::MAX));
                self.open_span(key, span(kind, vec![name], label));
            }
            "shutdown" => {
                let key = OpenKey::Node(node.unwrap_or(usize::MAX));
                let label = format!("{name} shutdown");
                self.open_span(key, span(FaultKind::Shutdown, vec![name], label));
            }
            "pause" => {
                let key = OpenKey::Node(node.unwrap_or(usize::MAX));
                let label = format!("{name} paused");
                self.open_span(key, span(FaultKind::Pause, vec![name], label));
            }
            "partition" => {
                let groups: Vec<Vec<String>> = f["groups"]
                    .as_array()
                    .map(|g| g.iter().map(names).collect())
                    .unwrap_or_default();
                let label = groups
                    .iter()
                    .map(|g| format!("{{{}}}", g.join(",")))
                    .collect::<Vec<_>>()
                    .join(" | ");
                let all = groups.into_iter().flatten().collect();
                self.open_span(OpenKey::Network, span(FaultKind::Partition, all, label));
            }
            "one_way" => {
                let (from, to) = (names(&f["from"]), names(&f["to"]));
                let label = format!("{} -/-> {}", from.join(","), to.join(","));
                let all = from.into_iter().chain(to).collect();
                self.open_span(OpenKey::Network, span(FaultKind::OneWay, all, label));
            }
            "heal" => self.close_spans(t, &OpenKey::Network),
            "slow_link" | "slow_node" | "slow_channel" => {
                let key = OpenKey::Slow(json_key(f));
                self.close_spans(t, &key);
                let extra_ms = f["extra"].as_u64().unwrap_or(0) / 1000;
                if extra_ms > 0 {
                    let nodes: Vec<String> = if f["action"] == "slow_node" {
                        vec![name]
                    } else {
                        names(&f["from"])
                            .into_iter()
                            .chain(names(&f["to"]))
                            .collect()
                    };
                    let on = f["name"]
                        .as_str()
                        .map_or(String::new(), |c| format!(" ({c})"));
                    let label = format!("{} +{extra_ms} ms{on}", nodes.join(" -> "));
                    self.open_span(key, span(FaultKind::Slow, nodes, label));
                }
            }
            _ => {}
        }
    }

    fn node_event(&mut self, line: &Line) {
        let t = line.t_us;
        let Some(n) = line.node() else { return };
        let Some(event) = line.event() else { return };
        match event {
            "raft_state" if self.controller.get(n).copied().unwrap_or(false) => {
                let state = match line.field("state").as_str().unwrap_or("") {
                    "leader" => NodeState::Leader,
                    "follower" => NodeState::Follower,
                    "candidate" => NodeState::Candidate,
                    "prospective" => NodeState::Prospective,
                    "resigned" => NodeState::Resigned,
                    _ => NodeState::Unattached,
                };
                let epoch = line.field("epoch").as_u64().unwrap_or(0);
                self.nodes[n].raft = (state, epoch);
                self.nodes[n].update(t, true);
            }
            "controller_activated" => {
                let epoch = line.field("epoch").as_u64().unwrap_or(0);
                self.markers.push(Marker {
                    t_us: t,
                    kind: MarkerKind::Election,
                    lane: self.trace.node_name(n),
                    label: format!("active (epoch {epoch})"),
                });
            }
            "broker_registered"
            | "broker_fenced"
            | "broker_unfenced"
            | "broker_controlled_shutdown" => {
                let id = line.field("broker").as_u64().unwrap_or(0);
                let Some(b) = self.broker_track(id) else {
                    return;
                };
                let epoch = line.field("broker_epoch").as_u64();
                let track = &mut self.nodes[b];
                let marker = match event {
                    "broker_registered" => {
                        track.registered = epoch;
                        track.fenced = true;
                        track.shutting_down = false;
                        None
                    }
                    "broker_fenced" => {
                        track.fenced = true;
                        Some((MarkerKind::Fenced, "fenced"))
                    }
                    "broker_unfenced" => {
                        track.fenced = false;
                        Some((MarkerKind::Unfenced, "unfenced"))
                    }
                    _ => {
                        track.shutting_down = true;
                        None
                    }
                };
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
            "partition_changed" => self.partition_changed(line),
            "high_watermark" => {
                let name = self.trace.tp_name(line.field("tp"));
                let p = self.partition(&name);
                let hw = line.field("high_watermark").as_u64().unwrap_or(0);
                let leo = line.field("log_end_offset").as_u64().unwrap_or(0);
                p.hw.push((t, hw));
                p.leo.push((t, leo));
            }
            "replica_truncated" => {
                let name = self.trace.tp_name(line.field("tp"));
                let from = line.field("from_offset").as_u64().unwrap_or(0);
                let to = line.field("to_offset").as_u64().unwrap_or(0);
                self.markers.push(Marker {
                    t_us: t,
                    kind: MarkerKind::Truncation,
                    lane: name,
                    label: format!("{} truncated {from}->{to}", self.trace.node_name(n)),
                });
            }
            _ => {}
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
                leo: Vec::new(),
                leader_changes: 0,
                isr_changes: 0,
            })
    }

    fn partition_changed(&mut self, line: &Line) {
        let t = line.t_us;
        let name = self.trace.tp_name(line.field("tp"));
        let leader = line.field("leader").as_u64();
        let leader_epoch = line.field("leader_epoch").as_u64().unwrap_or(0);
        let partition_epoch = line.field("partition_epoch").as_u64().unwrap_or(0);
        let isr = ids(line.field("isr"));
        let elr = ids(line.field("elr"));
        let election = line.field("election").as_str().map(str::to_string);
        let p = self.partition(&name);
        let last = p.segments.last();
        // A new active controller replays committed changes: keep the first telling.
        if last.is_some_and(|s| partition_epoch <= s.partition_epoch) {
            return;
        }
        let leader_moved =
            last.is_none_or(|s| s.leader != leader || s.leader_epoch != leader_epoch);
        let isr_moved = last.is_some_and(|s| s.isr != isr);
        if let Some(last) = p.segments.last_mut() {
            last.to_us = t;
        }
        p.replicas = p.replicas.max(isr.len() + elr.len());
        let first = p.segments.is_empty();
        p.segments.push(PartitionSegment {
            from_us: t,
            to_us: u64::MAX,
            leader,
            leader_epoch,
            partition_epoch,
            isr: isr.clone(),
            elr,
        });
        if first {
            return;
        }
        if leader_moved {
            p.leader_changes += 1;
        }
        if isr_moved {
            p.isr_changes += 1;
        }
        let marker = match (&election, leader_moved) {
            (Some(how), _) => Some((
                MarkerKind::Election,
                format!(
                    "{} e{leader_epoch} ({how})",
                    leader.map_or("none".to_string(), |l| format!("b{l}"))
                ),
            )),
            (None, true) => Some((MarkerKind::Election, format!("e{leader_epoch}"))),
            (None, false) if isr_moved => {
                Some((MarkerKind::IsrChange, format!("ISR {}", isr.len())))
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

/// A stable key for "the same slow link or node".
fn json_key(f: &Value) -> Value {
    serde_json::json!({"action": f["action"], "node": f["node"], "from": f["from"], "to": f["to"]})
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
    };
    for line in &trace.lines {
        let t = line.t_us;
        let n = line.node();
        let is_controller = n.is_some_and(|n| b.controller.get(n).copied().unwrap_or(false));
        match line.kind() {
            "up" => {
                let Some(n) = n.filter(|&n| n < b.nodes.len()) else {
                    continue;
                };
                b.close_spans(t, &OpenKey::Node(n));
                let track = &mut b.nodes[n];
                track.down = None;
                track.paused = false;
                track.registered = None;
                track.fenced = !is_controller;
                track.shutting_down = false;
                track.raft = (NodeState::Unattached, track.raft.1);
                track.update(t, is_controller);
            }
            "down" | "paused" | "resumed" => {
                let Some(n) = n.filter(|&n| n < b.nodes.len()) else {
                    continue;
                };
                match line.kind() {
                    "down" => b.nodes[n].down = Some(down_state(&line.v["cause"])),
                    "paused" => b.nodes[n].paused = true,
                    _ => {
                        b.nodes[n].paused = false;
                        b.close_spans(t, &OpenKey::Node(n));
                    }
                }
                b.nodes[n].update(t, is_controller);
            }
            "fault" => b.fault(line),
            "node" => b.node_event(line),
            _ => {}
        }
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
        faults,
        markers,
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
