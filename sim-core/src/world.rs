//! The world a scenario describes: its processes, each with a disk, on one simulated network,
//! under one fault schedule, run by the engine, checked after every event, and summarised in a
//! [`RunSummary`].
//!
//! Map: [`ResolvedScenario`] is what one run needs, typed (the scenario layer makes it), with
//! the [`ClusterConfig`] every process shares; [`Process`] is one simulated Kafka process,
//! dispatching to its role (`kraft::controller`, `broker`, `client`) and checking its own
//! invariants after each handler when self-checks are on; [`build`] turns a resolved scenario
//! into a [`Simulation`]; [`run`] runs it to its duration under the checkers and reports.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

use crate::broker::{Broker, BrokerDisk};
use crate::check::data::{ClientStats, DataCx};
use crate::check::{Checker, LossOutsidePromise, Timeline, Violation};
use crate::client::consumer::Consumer;
use crate::client::producer::Producer;
use crate::config::ClusterConfig;
use crate::engine::{
    Flow, Limits, NoEvent, Node, NodeCtx, NodeId, NodeStatus, Observer, SimConfig, SimDuration,
    SimTime, Simulation, StopReason,
};
use crate::fault::{Fault, ScheduledFault};
use crate::kraft::BrokerId;
use crate::kraft::controller::Controller;
use crate::kraft::raft::RaftDisk;
use crate::net::LatencyModel;
use crate::proto::{Event, Msg, Timer};
use crate::storage::Durable;
use crate::trace::{Body, TraceSink};

/// The role of a simulated process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Controller,
    Broker,
    Producer,
    Consumer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Controller => "controller",
            Role::Broker => "broker",
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// One process of the scenario: its node id, role, and number within the role (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: NodeId,
    pub role: Role,
    pub number: u32,
    pub name: String,
}

/// Whom a planned fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Node(NodeId),
    /// Whichever controller is active when the fault fires (for `restart` and `resume`, the node
    /// the previous such fault resolved to). Lessons need it, because which controller wins an
    /// election depends on the seed.
    ActiveController,
}

/// The invariants a run must break, and those it names as holding (with every other one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expected {
    pub violate: Vec<&'static str>,
    pub hold: Vec<&'static str>,
}

/// A scenario resolved for the world: everything one run needs, typed, with every default filled
/// in and no file format left. The scenario layer makes it (`Scenario::resolve`).
#[derive(Clone, Debug)]
pub struct ResolvedScenario {
    pub name: String,
    pub duration: SimDuration,
    /// The processes, in node-id order: controllers, brokers, producers, consumers.
    pub members: Vec<Member>,
    pub cluster: Arc<ClusterConfig>,
    pub latency: LatencyModel,
    /// The fault schedule in time order (ties keep file order).
    pub faults: Vec<ScheduledFault<Target>>,
    /// Teaching notes, written into the trace at their time.
    pub notes: Vec<(SimTime, String)>,
    pub expect: Expected,
}

impl ResolvedScenario {
    /// The same run with every process checking its own invariants after each handler, in
    /// release builds too (debug builds always do).
    pub fn with_self_checks(mut self) -> ResolvedScenario {
        Arc::make_mut(&mut self.cluster).self_checks = true;
        self
    }

    /// When the last fault is planned.
    pub(crate) fn last_fault_at(&self) -> SimTime {
        self.faults
            .iter()
            .map(|f| f.at)
            .max()
            .unwrap_or(SimTime::ZERO)
    }
}

/// What a process keeps on disk.
#[derive(Clone, Debug)]
pub enum Disk {
    Controller(RaftDisk),
    Broker(BrokerDisk),
    Client,
}

impl Durable for Disk {
    fn write_back(&mut self, now: SimTime) {
        match self {
            Disk::Controller(d) => d.write_back(now),
            Disk::Broker(d) => d.write_back(now),
            Disk::Client => {}
        }
    }
    fn lose_unflushed(&mut self) {
        match self {
            Disk::Controller(d) => d.lose_unflushed(),
            Disk::Broker(d) => d.lose_unflushed(),
            Disk::Client => {}
        }
    }
    fn wipe(&mut self) {
        match self {
            Disk::Controller(d) => d.wipe(),
            Disk::Broker(d) => d.wipe(),
            Disk::Client => {}
        }
    }
}

impl Disk {
    pub fn raft(&self) -> Option<&RaftDisk> {
        match self {
            Disk::Controller(d) => Some(d),
            Disk::Broker(d) => Some(&d.metadata),
            Disk::Client => None,
        }
    }
}

/// What the engine keeps to boot a process again.
#[derive(Clone, Debug)]
pub struct Spec {
    pub member: Member,
    pub cluster: Arc<ClusterConfig>,
}

/// One simulated Kafka process.
#[derive(Clone, Debug)]
pub enum Process {
    Controller(Box<Controller>),
    Broker(Box<Broker>),
    Producer(Box<Producer>),
    Consumer(Box<Consumer>),
}

impl Process {
    pub fn cluster(&self) -> &ClusterConfig {
        match self {
            Process::Controller(c) => c.cluster(),
            Process::Broker(b) => b.cluster(),
            Process::Producer(p) => p.cluster(),
            Process::Consumer(c) => c.cluster(),
        }
    }

    /// The invariants of the process's state machines (the consumer keeps none of its own).
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        match self {
            Process::Controller(c) => c.check_invariants(),
            Process::Broker(b) => b.check_invariants(),
            Process::Producer(p) => p.check_invariants(),
            Process::Consumer(_) => Ok(()),
        }
    }

    /// After a handler: with self-checks on, a broken invariant is a kafkasim bug, and stops
    /// the run with what broke (the fuzzer reports a panic as a failure of its own).
    fn checked(&self, ctx: &NodeCtx<'_, Self>, handler: &str) {
        if !(cfg!(debug_assertions) || self.cluster().self_checks) {
            return;
        }
        if let Err(broken) = self.check_invariants() {
            panic!(
                "{} at t={} after {handler}: {broken}",
                self.cluster().name(ctx.me()),
                ctx.now()
            );
        }
    }

    pub fn controller(&self) -> Option<&Controller> {
        match self {
            Process::Controller(c) => Some(c),
            _ => None,
        }
    }
    pub fn broker(&self) -> Option<&Broker> {
        match self {
            Process::Broker(b) => Some(b),
            _ => None,
        }
    }
    pub fn raft(&self) -> Option<&crate::kraft::raft::Raft> {
        match self {
            Process::Controller(c) => Some(c.raft()),
            Process::Broker(b) => Some(b.raft()),
            Process::Producer(_) | Process::Consumer(_) => None,
        }
    }
}

impl Node for Process {
    type Msg = Msg;
    type Timer = Timer;
    type Event = Event;
    type Disk = Disk;
    type Spec = Spec;

    fn boot(spec: &Spec, disk: Disk, incarnation: u32) -> Self {
        let cluster = spec.cluster.clone();
        let me = spec.member.id;
        match (spec.member.role, disk) {
            (Role::Controller, Disk::Controller(d)) => {
                Process::Controller(Box::new(Controller::boot(cluster, me, d, incarnation)))
            }
            (Role::Broker, Disk::Broker(d)) => Process::Broker(Box::new(Broker::boot(
                cluster,
                me,
                spec.member.number,
                d,
                incarnation,
            ))),
            (Role::Producer, Disk::Client) => Process::Producer(Box::new(Producer::boot(
                cluster,
                spec.member.number,
                incarnation,
            ))),
            (Role::Consumer, Disk::Client) => {
                Process::Consumer(Box::new(Consumer::boot(cluster, spec.member.number)))
            }
            (role, _) => unreachable!("{role} booted with another role's disk"),
        }
    }
    fn into_disk(self) -> Disk {
        match self {
            Process::Controller(c) => Disk::Controller(c.into_disk()),
            Process::Broker(b) => Disk::Broker(b.into_disk()),
            Process::Producer(_) | Process::Consumer(_) => Disk::Client,
        }
    }
    fn on_start(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        match self {
            Process::Controller(c) => c.on_start(ctx),
            Process::Broker(b) => b.on_start(ctx),
            Process::Producer(p) => p.on_start(ctx),
            Process::Consumer(c) => c.on_start(ctx),
        }
        self.checked(ctx, "on_start");
    }
    fn on_message(&mut self, ctx: &mut NodeCtx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Process::Controller(c) => c.on_message(ctx, from, msg),
            Process::Broker(b) => b.on_message(ctx, from, msg),
            Process::Producer(p) => p.on_message(ctx, from, msg),
            Process::Consumer(c) => c.on_message(ctx, from, msg),
        }
        self.checked(ctx, "on_message");
    }
    fn on_timer(&mut self, ctx: &mut NodeCtx<'_, Self>, timer: Timer) {
        match self {
            Process::Controller(c) => c.on_timer(ctx, timer),
            Process::Broker(b) => b.on_timer(ctx, timer),
            Process::Producer(p) => p.on_timer(ctx, timer),
            Process::Consumer(c) => c.on_timer(ctx, timer),
        }
        self.checked(ctx, "on_timer");
    }
    fn on_disconnect(&mut self, ctx: &mut NodeCtx<'_, Self>, peer: NodeId) {
        match self {
            Process::Controller(c) => c.on_disconnect(ctx, peer),
            Process::Broker(b) => b.on_disconnect(ctx, peer),
            Process::Producer(p) => p.on_disconnect(ctx, peer),
            Process::Consumer(c) => c.on_disconnect(ctx, peer),
        }
        self.checked(ctx, "on_disconnect");
    }
    fn on_shutdown(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        match self {
            Process::Controller(c) => c.on_shutdown(ctx),
            Process::Broker(b) => b.on_shutdown(ctx),
            Process::Producer(_) | Process::Consumer(_) => ctx.stop(),
        }
        self.checked(ctx, "on_shutdown");
    }
}

/// Builds the simulation of a resolved scenario with `seed`, writing the trace to `trace`.
pub fn build(scenario: &ResolvedScenario, seed: u64, mut trace: TraceSink) -> Simulation<Process> {
    let cluster = &scenario.cluster;
    trace.record::<NoEvent>(
        0,
        &Body::Start {
            seed,
            nodes: cluster.names.as_slice().into(),
            topics: cluster
                .topics
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
                .into(),
        },
    );
    let config = SimConfig {
        seed,
        latency: scenario.latency,
        disconnect_detection: cluster.disconnect_detection,
    };
    let nodes = scenario
        .members
        .iter()
        .cloned()
        .map(|member| {
            let disk = match member.role {
                Role::Controller => Disk::Controller(RaftDisk::default()),
                Role::Broker => Disk::Broker(BrokerDisk {
                    page_cache: cluster.broker.page_cache(),
                    ..BrokerDisk::default()
                }),
                Role::Producer | Role::Consumer => Disk::Client,
            };
            let spec = Spec {
                member,
                cluster: cluster.clone(),
            };
            (spec, disk)
        })
        .collect();
    let mut sim = Simulation::new(config, nodes, trace);
    // Faults on the active controller are resolved when they fire, by `run`.
    for f in &scenario.faults {
        if let Some(fault) = on_nodes(&f.fault, None) {
            sim.schedule_fault(f.at, fault);
        }
    }
    for (at, text) in &scenario.notes {
        sim.schedule_note(*at, text.clone());
    }
    sim.start();
    sim
}

/// The fault on node ids, with `active` as the active controller: `None` if it names the active
/// controller and `active` is `None`.
fn on_nodes(fault: &Fault<Target>, active: Option<NodeId>) -> Option<Fault> {
    fault.clone().try_map_nodes(|t| match t {
        Target::Node(n) => Some(n),
        Target::ActiveController => active,
    })
}

/// The active controller now: the newest-epoch controller that has claimed leadership.
pub fn active_controller(sim: &Simulation<Process>) -> Option<NodeId> {
    active_controller_among(sim, (0..sim.node_count() as u32).map(NodeId))
}

/// The newest-epoch active controller among `nodes`.
pub(crate) fn active_controller_among(
    sim: &Simulation<Process>,
    nodes: impl Iterator<Item = NodeId>,
) -> Option<NodeId> {
    nodes
        .filter_map(|id| {
            let c = sim.node(id)?.controller()?;
            c.is_active().then(|| (c.raft().epoch(), id))
        })
        .max()
        .map(|(_, id)| id)
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
    /// With `stop_reason` `no_progress`: what kept happening without the simulated clock
    /// moving (a scenario that makes a loop with no delay in it, such as a zero latency).
    pub stalled: Option<String>,
    pub messages_lost: u64,
    pub nodes: Vec<NodeSummary>,
    /// Controller elections, broker fencing and partition leadership, in time order.
    pub kraft: Timeline,
    /// Every partition at the end: leader, epochs, ISR, HW, replica log ends, acked records.
    pub partitions: Vec<PartitionSummary>,
    /// What the producers and consumers did, and what was lost by acks level.
    pub clients: ClientStats,
    pub violations: Vec<Violation>,
    /// Acknowledged writes lost where Kafka does not promise to keep them, and why.
    pub losses_outside_promise: Vec<LossOutsidePromise>,
    /// Expected violations that did not occur.
    pub missing_violations: Vec<String>,
    pub expectations_met: bool,
}

/// One partition at the end of a run (`kafkasim run --format json`, `partitions`).
#[derive(Clone, Debug, Serialize)]
pub struct PartitionSummary {
    pub topic: String,
    pub partition: u32,
    pub leader: Option<String>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub isr: Vec<String>,
    pub elr: Vec<String>,
    /// The true HW: the highest HW a current leader published.
    pub high_watermark: u64,
    /// Each replica's log end offset (running or down), by broker name.
    pub log_end_offsets: std::collections::BTreeMap<String, u64>,
    pub leader_changes: u32,
    pub isr_changes: u32,
    /// Records of acknowledged acks=all writes.
    pub acked_records: u64,
    /// Replicas' power or disk losses (past min.insync.replicas - 1 of them, durability is
    /// not promised and the data-loss invariants skip the partition).
    pub lossy_shutdowns: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    pub name: String,
    pub role: Role,
    pub status: NodeStatus,
}

impl ResolvedScenario {
    /// A run of `cluster` for `duration` with the default network and no faults, notes or
    /// expectations: what a unit test or a library user builds without a scenario file. The
    /// members are the cluster's, in node-id order (controllers, brokers, producers,
    /// consumers), named as `cluster.names` names them.
    pub fn of_cluster(name: &str, duration: SimDuration, cluster: ClusterConfig) -> Self {
        let roles = [
            (Role::Controller, cluster.raft.voters.len()),
            (Role::Broker, cluster.brokers.len()),
            (Role::Producer, cluster.producers.len()),
            (Role::Consumer, cluster.consumers.len()),
        ];
        let members = roles
            .iter()
            .flat_map(|&(role, count)| (1..=count as u32).map(move |number| (role, number)))
            .zip(&cluster.names)
            .enumerate()
            .map(|(id, ((role, number), name))| Member {
                id: NodeId(id as u32),
                role,
                number,
                name: name.clone(),
            })
            .collect();
        ResolvedScenario {
            name: name.to_string(),
            duration,
            members,
            cluster: Arc::new(cluster),
            latency: LatencyModel::default(),
            faults: Vec::new(),
            notes: Vec::new(),
            expect: Expected::default(),
        }
    }
}

/// Options of one run.
#[derive(Debug)]
pub struct RunOptions {
    pub seed: u64,
    pub max_events: u64,
    pub trace: TraceSink,
}

/// The checkers and the timeline recorder, run after every event.
#[derive(Clone, Debug)]
struct Watchers {
    checker: Checker,
    timeline: Timeline,
}

/// The watchers for one stretch of a run, with the caller's watchdog.
struct Watch<'w> {
    watchers: &'w mut Watchers,
    watchdog: &'w mut dyn FnMut() -> bool,
}

/// How often `run_watched` asks its watchdog, in events.
pub const WATCHDOG_EVERY: u64 = 1 << 16;

impl Observer<Process> for Watch<'_> {
    fn after_event(&mut self, sim: &Simulation<Process>) -> Flow {
        self.watchers.timeline.record(sim);
        let flow = self.watchers.checker.after_event(sim);
        if flow == Flow::Continue
            && sim.events().is_multiple_of(WATCHDOG_EVERY)
            && (self.watchdog)()
        {
            return Flow::Halt;
        }
        flow
    }
}

/// A run in progress: the simulation, the checkers and the timeline that watch it after every
/// event, and the faults aimed at "the active controller" still to resolve. Everything that
/// decides what happens next is in here, so [`World::fork`] copies a run between two events
/// and the copy goes on exactly as the original would: the ground a search that branches from
/// interesting moments stands on.
#[derive(Debug)]
pub struct World {
    sim: Simulation<Process>,
    watchers: Watchers,
    /// Faults on the active controller not yet fired, the latest first (resolved to a node
    /// when they fire).
    dynamic: Vec<ScheduledFault<Target>>,
    /// The controller the last such fault hit: a restart or resume goes to it.
    last_active: Option<NodeId>,
    /// The scenario's end.
    until: SimTime,
}

impl World {
    /// The world of `scenario` on `seed` at time zero, writing its trace to `trace`.
    pub fn new(scenario: &ResolvedScenario, seed: u64, trace: TraceSink) -> World {
        let mut dynamic: Vec<ScheduledFault<Target>> = scenario
            .faults
            .iter()
            .filter(|f| on_nodes(&f.fault, None).is_none())
            .cloned()
            .collect();
        dynamic.reverse();
        World {
            sim: build(scenario, seed, trace),
            watchers: Watchers {
                checker: Checker::new(scenario),
                timeline: Timeline::new(&scenario.cluster),
            },
            dynamic,
            last_active: None,
            until: SimTime::ZERO + scenario.duration,
        }
    }

    /// A copy of the run as it stands, which continues exactly as this one would: the same
    /// events, violations and trace hash. Its trace writes no lines.
    pub fn fork(&self) -> World {
        World {
            sim: self.sim.fork(),
            watchers: self.watchers.clone(),
            dynamic: self.dynamic.clone(),
            last_active: self.last_active,
            until: self.until,
        }
    }

    /// Adds faults to the run from here on, as if the scenario had held them from the start:
    /// each must come after the current instant and before the liveness checks have run. At
    /// one instant, an added fault applies after the faults already scheduled there, which is
    /// where a scenario file lists it when it is appended after them (see
    /// [`crate::fuzz::explore`]), so the run replays from t = 0 with the same trace hash.
    pub fn add_faults(&mut self, faults: &[ScheduledFault<Target>]) {
        self.schedule(faults);
        if let Some(last) = faults.iter().map(|f| f.at).max() {
            self.watchers.checker.faults_extended(last, self.until);
        }
    }

    /// Replaces every fault still to come with `faults` (all after now, in the order a
    /// scenario lists them) and moves the end to `until`: the run goes on as the run of a
    /// scenario that shares this one's faults up to now would, whose last fault is at
    /// `last_fault`. Its liveness checks must not have run, in either.
    pub fn reschedule(
        &mut self,
        faults: &[ScheduledFault<Target>],
        last_fault: SimTime,
        until: SimTime,
    ) {
        assert!(until >= self.sim.now(), "the end moved into the past");
        self.sim.drop_faults_after_now();
        self.dynamic.clear();
        self.until = until;
        self.schedule(faults);
        self.watchers.checker.faults_replaced(last_fault, until);
    }

    /// Goes on as a run of `scenario` would, which shares this run's faults up to `after` (now
    /// or earlier): every fault still to come is replaced by `scenario`'s faults after `after`.
    pub fn follow(&mut self, scenario: &ResolvedScenario, after: SimTime) {
        let later: Vec<_> = scenario
            .faults
            .iter()
            .filter(|f| f.at > after)
            .cloned()
            .collect();
        self.reschedule(
            &later,
            scenario.last_fault_at(),
            SimTime::ZERO + scenario.duration,
        );
    }

    /// Queues faults that come after now, as the scenario would have from the start.
    fn schedule(&mut self, faults: &[ScheduledFault<Target>]) {
        for f in faults {
            assert!(
                f.at > self.sim.now() && f.at <= self.until,
                "a fault added at {:?} must fall after now ({:?}) and by the end",
                f.at,
                self.sim.now()
            );
            match on_nodes(&f.fault, None) {
                Some(fault) => self.sim.schedule_fault(f.at, fault),
                None => {
                    // `dynamic` is latest first: the new fault goes after (below) the ones
                    // already due at its time.
                    let i = self.dynamic.partition_point(|d| d.at > f.at);
                    self.dynamic.insert(i, f.clone());
                }
            }
        }
    }

    /// Events handled so far.
    pub fn events(&self) -> u64 {
        self.sim.events()
    }

    /// The simulated clock.
    pub fn now(&self) -> SimTime {
        self.sim.now()
    }

    /// The simulation, to look at.
    pub fn sim(&self) -> &Simulation<Process> {
        &self.sim
    }

    /// The checkers, to look at.
    pub(crate) fn checker(&self) -> &Checker {
        &self.watchers.checker
    }

    /// The scenario's end.
    pub fn until(&self) -> SimTime {
        self.until
    }

    /// Runs on until the scenario's end or until `max_events` events have been handled in
    /// all, whichever comes first, asking `watchdog` every [`WATCHDOG_EVERY`] events whether
    /// to stop. It can be called again to go on. A fault aimed at "the active controller" is
    /// resolved when it fires, to the node active then (a restart or resume goes to the one
    /// the previous such fault hit).
    pub fn run(&mut self, max_events: u64, watchdog: &mut dyn FnMut() -> bool) -> StopReason {
        self.run_to(self.until, max_events, watchdog)
    }

    /// [`World::run`], stopping at `until` if that comes before the scenario's end (stop
    /// reason `time_limit`): the events at `until` itself are handled, and the clock stands at
    /// `until`, so faults can be added from the next millisecond on.
    pub fn run_to(
        &mut self,
        until: SimTime,
        max_events: u64,
        watchdog: &mut dyn FnMut() -> bool,
    ) -> StopReason {
        let limits = Limits {
            until: until.min(self.until),
            max_events,
        };
        let mut watch = Watch {
            watchers: &mut self.watchers,
            watchdog,
        };
        loop {
            let Some(next_at) = self
                .dynamic
                .last()
                .map(|f| f.at)
                .filter(|&at| at <= limits.until)
            else {
                return self.sim.run(limits, &mut watch);
            };
            let reason = self.sim.run(
                Limits {
                    until: next_at,
                    ..limits
                },
                &mut watch,
            );
            if !matches!(reason, StopReason::TimeLimit | StopReason::Idle) {
                return reason;
            }
            let Some(next) = self.dynamic.pop() else {
                unreachable!("looked at the next fault")
            };
            let reuse = matches!(next.fault, Fault::Restart { .. } | Fault::Resume { .. });
            let target = if reuse {
                self.last_active
            } else {
                active_controller(&self.sim)
            };
            match on_nodes(&next.fault, target) {
                Some(fault) => {
                    self.last_active = target;
                    self.sim.schedule_fault(next.at, fault);
                }
                None => self.sim.schedule_note(
                    next.at,
                    format!(
                        "{}: there is no active controller now, so this fault does nothing",
                        next.fault.name()
                    ),
                ),
            }
        }
    }

    /// Ends the run: the checkers' last word (liveness at the end), the outcome written to the
    /// trace, and the summary. `stop_reason` is what the last [`World::run`] returned.
    pub fn finish(
        self,
        scenario: &ResolvedScenario,
        stop_reason: StopReason,
    ) -> std::io::Result<RunSummary> {
        let World {
            mut sim,
            mut watchers,
            ..
        } = self;
        let cluster = &scenario.cluster;
        watchers.timeline.finish(&sim);
        watchers.checker.finish(&sim);
        let partitions = partition_summaries(cluster, &watchers.checker, &sim);
        let clients = watchers.checker.data().stats.clone();
        let losses_outside_promise = watchers.checker.losses_outside_promise().to_vec();
        let violations = watchers.checker.into_violations();
        write_outcome(&mut sim, &violations, &losses_outside_promise, stop_reason);
        let seed = sim.seed();
        let trace_hash = sim.finish_trace()?;
        let nodes = scenario
            .members
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
            .map(ToString::to_string)
            .collect();
        // Every violation is unexpected unless the scenario says it must happen (a lesson or
        // a bug reproduction); `hold` names what a scenario is about, and holds with the rest.
        let unexpected = violations
            .iter()
            .any(|v| !scenario.expect.violate.contains(&v.invariant));
        let stalled = sim.stall().map(|s| {
            let on = s
                .node
                .map(|n| format!(" (at {})", cluster.names[n.index()]))
                .unwrap_or_default();
            format!(
                "the simulated clock stopped at t={:.3}s: {}{on} kept happening, {} events at \
                 that instant (the most one instant may hold); look for a delay of zero \
                 (network latency, a backoff or an interval)",
                s.at.as_micros() as f64 / 1e6,
                s.what,
                crate::engine::MAX_EVENTS_AT_ONE_INSTANT
            )
        });
        let stalled_run = stalled.is_some();
        Ok(RunSummary {
            scenario: scenario.name.clone(),
            seed,
            trace_hash,
            stalled,
            events: sim.events(),
            sim_time_ms: sim.now().as_millis(),
            stop_reason,
            messages_lost: sim.messages_lost(),
            nodes,
            kraft: watchers.timeline,
            partitions,
            clients,
            expectations_met: missing_violations.is_empty() && !unexpected && !stalled_run,
            missing_violations,
            violations,
            losses_outside_promise,
        })
    }
}

/// Runs a resolved scenario to its duration. Returns the summary, or the trace writer's error.
pub fn run(scenario: &ResolvedScenario, options: RunOptions) -> std::io::Result<RunSummary> {
    run_watched(scenario, options, &mut || false)
}

/// [`run`], asking `watchdog` every [`WATCHDOG_EVERY`] events whether to stop early (stop
/// reason `halted`): how a caller enforces its own memory or time limit, since sim-core reads
/// neither a clock nor the process's memory.
pub fn run_watched(
    scenario: &ResolvedScenario,
    options: RunOptions,
    watchdog: &mut dyn FnMut() -> bool,
) -> std::io::Result<RunSummary> {
    let mut world = World::new(scenario, options.seed, options.trace);
    let stop_reason = world.run(options.max_events, watchdog);
    world.finish(scenario, stop_reason)
}

/// Ends the trace with what the checkers found and why the run stopped, so a trace alone is
/// enough to draw and narrate the run.
fn write_outcome(
    sim: &mut Simulation<Process>,
    violations: &[Violation],
    losses: &[LossOutsidePromise],
    stop: StopReason,
) {
    let end = sim.now().as_micros();
    let trace = sim.trace_mut();
    for l in losses {
        trace.write_only::<NoEvent>(
            (l.time_ms * 1000.0).round() as u64,
            &Body::Loss {
                partition: l.partition.as_str().into(),
                records: l.records,
                nodes: l.nodes.as_slice().into(),
                explanation: l.explanation.as_str().into(),
            },
        );
    }
    for v in violations {
        trace.write_only::<NoEvent>(
            (v.time_ms * 1000.0).round() as u64,
            &Body::Violation {
                invariant: v.invariant.into(),
                nodes: v.nodes.as_slice().into(),
                explanation: v.explanation.as_str().into(),
            },
        );
    }
    let reason = serde_json::to_value(stop)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    trace.write_only::<NoEvent>(
        end,
        &Body::End {
            reason: reason.into(),
        },
    );
}

fn partition_summaries(
    cluster: &ClusterConfig,
    checker: &Checker,
    sim: &Simulation<Process>,
) -> Vec<PartitionSummary> {
    let g = checker.ground();
    let cx = DataCx { g, sim };
    let dg = checker.data();
    let name = |b: BrokerId| cx.broker_name(b).to_string();
    dg.partitions
        .iter()
        .map(|(tp, pg)| PartitionSummary {
            topic: cluster.topics[tp.topic as usize].name.clone(),
            partition: tp.partition,
            leader: pg.leader.map(name),
            leader_epoch: pg.leader_epoch,
            partition_epoch: pg.partition_epoch,
            isr: pg.isr.iter().map(|&b| name(b)).collect(),
            elr: pg.elr.iter().map(|&b| name(b)).collect(),
            high_watermark: pg.true_hw,
            log_end_offsets: pg
                .replicas
                .iter()
                .map(|&b| {
                    let leo = cx
                        .log(b, *tp)
                        .and_then(|l| l.last())
                        .map_or(0, super::broker::log::RecordBatch::end_offset);
                    (name(b), leo)
                })
                .collect(),
            leader_changes: pg.leader_changes,
            isr_changes: pg.isr_changes,
            acked_records: pg.acked.values().map(|w| u64::from(w.count)).sum(),
            lossy_shutdowns: pg.lossy_shutdowns,
        })
        .collect()
}
