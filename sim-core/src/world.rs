//! The world a scenario describes: its processes, each with a disk, on one simulated network,
//! under one fault schedule, run by the engine and summarised in a [`RunSummary`].
//!
//! Map: [`build`] turns a resolved [`Scenario`] into a [`Simulation`]; [`run`] runs it to the
//! scenario's duration and reports. The processes' protocol behaviour lives in the role
//! modules (`kraft/`, `broker/`, `client/`); a [`Process`] dispatches to its role. In this build
//! no role has protocol code yet: processes start, crash, restart, pause, shut down and hold
//! their disks and connections exactly as the engine models them, and send nothing.

use serde::Serialize;

use crate::check::Violation;
use crate::engine::{
    Ctx, Limits, Message, NoEvent, Node, NodeId, NodeStatus, SimConfig, SimDuration, SimTime,
    Simulation, StopReason,
};
use crate::scenario::{Member, Role, Scenario};
use crate::storage::Durable;
use crate::trace::{Body, TraceSink};

/// A message between processes. No role sends any yet.
#[derive(Debug, Clone)]
pub enum Msg {}

impl Message for Msg {
    fn name(&self) -> &'static str {
        match *self {}
    }
}

/// A process's timers. No role sets any yet.
#[derive(Debug, Clone, Copy)]
pub enum Timer {}

impl crate::engine::Timer for Timer {
    fn slot(&self) -> usize {
        match *self {}
    }
}

/// What a process keeps on disk. Roles add their logs and state files.
#[derive(Debug, Clone, Default)]
pub struct Disk;

impl Durable for Disk {
    fn lose_unflushed(&mut self) {}
    fn wipe(&mut self) {}
}

/// What the engine keeps to boot a process again.
#[derive(Debug, Clone)]
pub struct Spec {
    pub member: Member,
}

/// One simulated Kafka process.
#[derive(Debug)]
pub struct Process {
    role: Role,
    disk: Disk,
}

impl Process {
    pub fn role(&self) -> Role {
        self.role
    }
}

impl Node for Process {
    type Msg = Msg;
    type Timer = Timer;
    type Event = NoEvent;
    type Disk = Disk;
    type Spec = Spec;

    fn boot(spec: &Spec, disk: Disk) -> Self {
        Process {
            role: spec.member.role,
            disk,
        }
    }
    fn into_disk(self) -> Disk {
        self.disk
    }
    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, msg: Msg) {
        match msg {}
    }
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {}
    }
}

/// Builds the simulation of a resolved scenario with `seed`, writing the trace to `trace`.
pub fn build(scenario: &Scenario, seed: u64, mut trace: TraceSink) -> Simulation<Process> {
    let members = scenario.members();
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    trace.record::<NoEvent>(
        0,
        &Body::Start {
            seed,
            nodes: &names,
        },
    );
    let config = SimConfig {
        seed,
        latency: scenario.network.latency,
        disconnect_detection: SimDuration::from_millis(scenario.network.disconnect_detection_ms),
    };
    let nodes = members
        .into_iter()
        .map(|member| (Spec { member }, Disk))
        .collect();
    let mut sim = Simulation::new(config, nodes, trace);
    // `validate` resolved the faults once already; the scenario is resolved, so this cannot fail.
    let faults = scenario
        .resolved_faults(&scenario.name)
        .expect("a validated scenario resolves its faults");
    for f in faults {
        sim.schedule_fault(f.at, f.fault);
    }
    for note in &scenario.notes {
        sim.schedule_note(SimTime::from_millis(note.at_ms), note.text.clone());
    }
    sim.start();
    sim
}

/// How one run ended, for people and for machines. The field names are part of kafkasim's
/// contract (`kafkasim run --format json`).
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    /// 16 hex digits; equal hashes mean identical runs.
    pub trace_hash: String,
    pub events: u64,
    pub sim_time_ms: u64,
    pub stop_reason: StopReason,
    pub messages_lost: u64,
    pub nodes: Vec<NodeSummary>,
    pub violations: Vec<Violation>,
    /// Expected violations that did not occur.
    pub missing_violations: Vec<String>,
    pub expectations_met: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    pub name: String,
    pub role: Role,
    pub status: NodeStatus,
}

/// Options of one run.
pub struct RunOptions {
    pub seed: u64,
    pub max_events: u64,
    pub trace: TraceSink,
}

/// Runs a resolved scenario to its duration. Returns the summary, or the trace writer's error.
pub fn run(scenario: &Scenario, options: RunOptions) -> std::io::Result<RunSummary> {
    let mut sim = build(scenario, options.seed, options.trace);
    let limits = Limits {
        until: SimTime::ZERO + scenario.duration(),
        max_events: options.max_events,
    };
    // No invariant is registered in this build (`check::INVARIANTS`), so nothing observes the
    // run and nothing can be violated; the checkers plug in here as an `Observer`.
    let stop_reason = sim.run(limits, &mut ());
    let violations: Vec<Violation> = Vec::new();
    let trace_hash = sim.finish_trace()?;
    let members = scenario.members();
    let nodes = members
        .iter()
        .map(|m| NodeSummary {
            name: m.name.clone(),
            role: m.role,
            status: sim.status(m.id),
        })
        .collect();
    let violated = |id: &str| violations.iter().any(|v| v.invariant == id);
    let missing_violations: Vec<String> = scenario
        .expect
        .violate
        .iter()
        .filter(|id| !violated(id))
        .cloned()
        .collect();
    let broken_holds = scenario.expect.hold.iter().any(|id| violated(id));
    Ok(RunSummary {
        scenario: scenario.name.clone(),
        seed: options.seed,
        trace_hash,
        events: sim.events(),
        sim_time_ms: sim.now().as_millis(),
        stop_reason,
        messages_lost: sim.messages_lost(),
        nodes,
        expectations_met: missing_violations.is_empty() && !broken_holds,
        missing_violations,
        violations,
    })
}
