//! The world a scenario describes: its processes, each with a disk, on one simulated network,
//! under one fault schedule, run by the engine, checked after every event, and summarised in a
//! [`RunSummary`].
//!
//! Map: [`ClusterConfig`] is the static configuration every process shares; [`Process`] is one
//! simulated Kafka process, dispatching to its role (`kraft::controller`, `broker`; clients
//! join with the replication work and idle until then); [`build`] turns a resolved
//! [`Scenario`] into a [`Simulation`]; [`run`] runs it to the scenario's duration under the
//! checkers and reports.

use serde::Serialize;
use std::rc::Rc;

use crate::broker::partition::{FollowerTruncation, PartitionConfig, ReplicationRules};
use crate::broker::{Broker, BrokerDisk};
use crate::check::data::{ClientStats, DataCx};
use crate::check::{Checker, LossOutsidePromise, Timeline, Violation};
use crate::client::consumer::Consumer;
use crate::client::producer::Producer;
use crate::engine::{
    Ctx, Flow, Limits, NoEvent, Node, NodeId, NodeStatus, Observer, SimConfig, SimDuration,
    SimTime, Simulation, StopReason,
};
use crate::fault::{Fault, ScheduledFault};
use crate::kraft::BrokerId;
use crate::kraft::controller::Controller;
use crate::kraft::raft::{RaftConfig, RaftDisk};
use crate::proto::{Event, Msg, Timer};
use crate::scenario::{
    ACTIVE_CONTROLLER, BrokerConfig, ConsumerConfig, Member, ProducerConfig, Role, Scenario,
};
use crate::storage::Durable;
use crate::trace::{Body, TraceSink};

/// A topic as the controller creates it.
#[derive(Clone, Debug)]
pub struct TopicLayout {
    pub name: String,
    /// Replicas of each partition, by broker id, preferred leader first.
    pub assignment: Vec<Vec<BrokerId>>,
    pub min_insync_replicas: u32,
    pub unclean_leader_election_enable: bool,
}

/// What one producer of the workload does.
#[derive(Clone, Debug)]
pub struct ProducerPlan {
    pub topic: u32,
    pub partitions: u32,
    pub records_per_s: u32,
    pub start: SimTime,
    pub stop: Option<SimTime>,
    pub config: ProducerConfig,
}

/// What one consumer of the workload does.
#[derive(Clone, Debug)]
pub struct ConsumerPlan {
    pub topic: u32,
    pub partitions: u32,
    pub start: SimTime,
    pub config: ConsumerConfig,
}

/// What every process of one run shares: the quorum, the broker config, the topics.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub raft: Rc<RaftConfig>,
    pub broker: BrokerConfig,
    pub topics: Vec<TopicLayout>,
    /// How each topic's partitions replicate, by topic index.
    pub replication: Vec<PartitionConfig>,
    /// Producers and consumers, by number - 1.
    pub producers: Vec<ProducerPlan>,
    pub consumers: Vec<ConsumerPlan>,
    /// Node of each broker id: `brokers[id - 1]`.
    pub brokers: Vec<NodeId>,
    /// KIP-966 eligible leader replicas (on by default since Kafka 4.1).
    pub elr_enabled: bool,
    /// Test-only controller faults that prove checkers (see `variants`).
    pub test_fence_keeps_isr: bool,
    pub test_keep_isr_on_reregistration: bool,
    /// Names of the processes, by node id.
    pub names: Vec<String>,
    /// How long after a connection breaks its ends are told (`network.disconnect_detection_ms`):
    /// a notice at `t` is about a connection that broke at `t` minus this.
    pub disconnect_detection: SimDuration,
}

impl ClusterConfig {
    pub fn from_scenario(scenario: &Scenario) -> ClusterConfig {
        let members = scenario.members();
        let config = &scenario.cluster.config;
        let variant = |name: &str| scenario.variants.iter().any(|v| v == name);
        let voters = members
            .iter()
            .filter(|m| m.role == Role::Controller)
            .map(|m| m.id)
            .collect();
        let ms = SimDuration::from_millis;
        let raft = RaftConfig {
            voters,
            election_timeout: ms(config.controller_quorum_election_timeout_ms),
            fetch_timeout: ms(config.controller_quorum_fetch_timeout_ms),
            election_backoff_max: ms(config.controller_quorum_election_backoff_max_ms),
            request_timeout: ms(config.controller_quorum_request_timeout_ms),
            retry_backoff: ms(config.controller_quorum_retry_backoff_ms),
            fetch_max_wait: ms(500),
            prevote: !variant("prevote=false"),
            check_quorum: !variant("no_check_quorum"),
            election_jitter: !variant("election_jitter=false"),
            forget_vote: variant("test_forget_vote"),
            commit_without_majority: variant("test_commit_without_majority"),
        };
        let topics: Vec<TopicLayout> = scenario
            .cluster
            .topics
            .iter()
            .map(|t| TopicLayout {
                name: t.name.clone(),
                assignment: t.assignment.clone().unwrap_or_default(),
                min_insync_replicas: t
                    .config
                    .min_insync_replicas
                    .unwrap_or(config.min_insync_replicas),
                unclean_leader_election_enable: variant("allow_unclean")
                    || t.config
                        .unclean_leader_election_enable
                        .unwrap_or(config.unclean_leader_election_enable),
            })
            .collect();
        let rules = ReplicationRules {
            strict_min_isr: !variant("hw_advances_under_min_isr"),
            keep_log_on_follow: !variant("truncate_to_hw_on_follow"),
            // Before KIP-101 there were no leader epochs to reconcile by.
            divergence_check: !variant("test_no_divergence_check")
                && !variant("truncate_to_hw_on_follow"),
            hw_waits_for_followers: !variant("test_hw_ignores_followers"),
            isr_through_controller: !variant("local_isr_shrink"),
            dedupe_producers: !variant("test_no_dedup"),
            min_isr_on_produce: !variant("no_min_isr_check"),
            hw_over_maximal_isr: !variant("no_maximal_isr"),
            leso_rule: !variant("no_leso_rule"),
            epoch_fencing_on_fetch: !variant("no_epoch_fencing_on_fetch"),
            broker_epoch_in_isr: !variant("no_broker_epoch_in_isr"),
            skip_state_on_diverging_fetch: !variant("update_state_on_diverging_fetch"),
            truncation: if variant("offsets_for_epoch_v0") {
                FollowerTruncation::OffsetsForEpochV0
            } else if variant("no_truncate_on_fetch") {
                FollowerTruncation::OnBecomeFollower
            } else {
                FollowerTruncation::OnEveryFetch
            },
        };
        let replication = scenario
            .cluster
            .topics
            .iter()
            .zip(&topics)
            .map(|(spec, layout): (_, &TopicLayout)| PartitionConfig {
                min_isr: (layout.min_insync_replicas as usize)
                    .min(layout.assignment.first().map_or(1, Vec::len)),
                flush_messages: spec
                    .config
                    .flush_messages
                    .unwrap_or(config.log_flush_interval_messages),
                replica_lag_time_max: ms(config.replica_lag_time_max_ms),
                rules,
            })
            .collect();
        let topic_index = |name: &str| {
            scenario
                .cluster
                .topics
                .iter()
                .position(|t| t.name == name)
                .expect("validated: the topic exists")
        };
        let partitions_of = |t: usize| topics[t].assignment.len() as u32;
        let producers = scenario
            .workload
            .producers
            .iter()
            .flat_map(|p| {
                let t = topic_index(&p.topic);
                let plan = ProducerPlan {
                    topic: t as u32,
                    partitions: partitions_of(t),
                    records_per_s: p.records_per_s,
                    start: SimTime::from_millis(p.start_ms),
                    stop: p.stop_ms.map(SimTime::from_millis),
                    config: p.config.clone(),
                };
                std::iter::repeat_n(plan, p.count as usize)
            })
            .collect();
        let consumers = scenario
            .workload
            .consumers
            .iter()
            .flat_map(|c| {
                let t = topic_index(&c.topic);
                let plan = ConsumerPlan {
                    topic: t as u32,
                    partitions: partitions_of(t),
                    start: SimTime::from_millis(c.start_ms),
                    config: c.config.clone(),
                };
                std::iter::repeat_n(plan, c.count as usize)
            })
            .collect();
        ClusterConfig {
            raft: Rc::new(raft),
            broker: config.clone(),
            replication,
            producers,
            consumers,
            topics,
            brokers: members
                .iter()
                .filter(|m| m.role == Role::Broker)
                .map(|m| m.id)
                .collect(),
            elr_enabled: !variant("elr=false"),
            test_fence_keeps_isr: variant("test_fence_keeps_isr"),
            test_keep_isr_on_reregistration: variant("test_keep_isr_on_reregistration"),
            names: members.iter().map(|m| m.name.clone()).collect(),
            disconnect_detection: ms(scenario.network.disconnect_detection_ms),
        }
    }

    pub fn broker_node(&self, broker: BrokerId) -> Option<NodeId> {
        self.brokers.get((broker as usize).checked_sub(1)?).copied()
    }

    /// The broker id of a broker's node.
    pub fn broker_of(&self, node: NodeId) -> Option<BrokerId> {
        broker_id_of(&self.brokers, node)
    }

    pub fn name(&self, node: NodeId) -> &str {
        &self.names[node.index()]
    }
}

/// The broker id of `node`, given the brokers' nodes in id order (they are consecutive node
/// ids: `Scenario::members` numbers controllers, then brokers).
pub fn broker_id_of(brokers: &[NodeId], node: NodeId) -> Option<BrokerId> {
    let first = brokers.first()?;
    let i = node.0.checked_sub(first.0)? as usize;
    (i < brokers.len()).then_some(i as BrokerId + 1)
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
    pub cluster: Rc<ClusterConfig>,
}

/// One simulated Kafka process.
#[derive(Debug)]
pub enum Process {
    Controller(Box<Controller>),
    Broker(Box<Broker>),
    Producer(Box<Producer>),
    Consumer(Box<Consumer>),
}

impl Process {
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
                Process::Controller(Box::new(Controller::boot(cluster, me, d)))
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
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Process::Controller(c) => c.on_start(ctx),
            Process::Broker(b) => b.on_start(ctx),
            Process::Producer(p) => p.on_start(ctx),
            Process::Consumer(c) => c.on_start(ctx),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Process::Controller(c) => c.on_message(ctx, from, msg),
            Process::Broker(b) => b.on_message(ctx, from, msg),
            Process::Producer(p) => p.on_message(ctx, from, msg),
            Process::Consumer(c) => c.on_message(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Process::Controller(c) => c.on_timer(ctx, timer),
            Process::Broker(b) => b.on_timer(ctx, timer),
            Process::Producer(p) => p.on_timer(ctx, timer),
            Process::Consumer(c) => c.on_timer(ctx, timer),
        }
    }
    fn on_disconnect(&mut self, ctx: &mut Ctx<'_, Self>, peer: NodeId) {
        match self {
            Process::Controller(c) => c.on_disconnect(ctx, peer),
            Process::Broker(b) => b.on_disconnect(ctx, peer),
            Process::Producer(p) => p.on_disconnect(ctx, peer),
            Process::Consumer(c) => c.on_disconnect(ctx, peer),
        }
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Process::Controller(c) => c.on_shutdown(ctx),
            Process::Broker(b) => b.on_shutdown(ctx),
            Process::Producer(_) | Process::Consumer(_) => ctx.stop(),
        }
    }
}

/// Builds the simulation of a resolved scenario with `seed`, writing the trace to `trace`.
pub fn build(scenario: &Scenario, seed: u64, trace: TraceSink) -> Simulation<Process> {
    let cluster = Rc::new(ClusterConfig::from_scenario(scenario));
    build_with(scenario, cluster, seed, trace)
}

fn build_with(
    scenario: &Scenario,
    cluster: Rc<ClusterConfig>,
    seed: u64,
    mut trace: TraceSink,
) -> Simulation<Process> {
    let members = scenario.members();
    trace.record::<NoEvent>(
        0,
        &Body::Start {
            seed,
            nodes: &cluster.names,
            topics: &cluster
                .topics
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>(),
        },
    );
    let config = SimConfig {
        seed,
        latency: scenario.network.latency,
        disconnect_detection: SimDuration::from_millis(scenario.network.disconnect_detection_ms),
    };
    let nodes = members
        .into_iter()
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
    // `validate` resolved the faults once already; the scenario is resolved, so this cannot fail.
    let faults = scenario
        .resolved_faults(&scenario.name)
        .expect("a validated scenario resolves its faults");
    // Faults naming `active-controller` are resolved when they fire, by `run`.
    for f in faults.into_iter().filter(|f| !is_dynamic(&f.fault)) {
        sim.schedule_fault(f.at, f.fault);
    }
    for note in &scenario.notes {
        sim.schedule_note(SimTime::from_millis(note.at_ms), note.text.clone());
    }
    sim.start();
    sim
}

fn is_dynamic(fault: &Fault) -> bool {
    fault
        .clone()
        .nodes_mut()
        .iter()
        .any(|n| **n == ACTIVE_CONTROLLER)
}

/// The active controller now: the newest-epoch controller that has claimed leadership.
pub fn active_controller(sim: &Simulation<Process>) -> Option<NodeId> {
    active_controller_among(sim, (0..sim.node_count() as u32).map(NodeId))
}

/// The newest-epoch active controller among `nodes`.
pub fn active_controller_among(
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

/// Options of one run.
pub struct RunOptions {
    pub seed: u64,
    pub max_events: u64,
    pub trace: TraceSink,
}

/// The checkers and the timeline recorder, run after every event.
struct Watch<'w> {
    checker: Checker,
    timeline: Timeline,
    watchdog: &'w mut dyn FnMut() -> bool,
}

/// How often [`run_watched`] asks its watchdog, in events.
pub const WATCHDOG_EVERY: u64 = 1 << 16;

impl Observer<Process> for Watch<'_> {
    fn after_event(&mut self, sim: &Simulation<Process>) -> Flow {
        self.timeline.record(sim);
        let flow = self.checker.after_event(sim);
        if flow == Flow::Continue
            && sim.events().is_multiple_of(WATCHDOG_EVERY)
            && (self.watchdog)()
        {
            return Flow::Halt;
        }
        flow
    }
}

/// Runs a resolved scenario to its duration. Returns the summary, or the trace writer's error.
pub fn run(scenario: &Scenario, options: RunOptions) -> std::io::Result<RunSummary> {
    run_watched(scenario, options, &mut || false)
}

/// [`run`], asking `watchdog` every [`WATCHDOG_EVERY`] events whether to stop early (stop
/// reason `halted`): how a caller enforces its own memory or time limit, since sim-core reads
/// neither a clock nor the process's memory.
pub fn run_watched(
    scenario: &Scenario,
    options: RunOptions,
    watchdog: &mut dyn FnMut() -> bool,
) -> std::io::Result<RunSummary> {
    let cluster = Rc::new(ClusterConfig::from_scenario(scenario));
    let mut sim = build_with(scenario, cluster.clone(), options.seed, options.trace);
    let limits = Limits {
        until: SimTime::ZERO + scenario.duration(),
        max_events: options.max_events,
    };
    let mut watch = Watch {
        checker: Checker::new(scenario, &cluster),
        timeline: Timeline::new(&cluster),
        watchdog,
    };
    // Run up to each fault that names `active-controller`, resolve it, and go on.
    let mut dynamic: Vec<ScheduledFault> = scenario
        .resolved_faults(&scenario.name)
        .expect("a validated scenario resolves its faults")
        .into_iter()
        .filter(|f| is_dynamic(&f.fault))
        .collect();
    dynamic.reverse();
    let mut last_active: Option<NodeId> = None;
    let stop_reason = loop {
        let Some(next) = dynamic.pop() else {
            break sim.run(limits, &mut watch);
        };
        let reason = sim.run(
            Limits {
                until: next.at,
                ..limits
            },
            &mut watch,
        );
        if !matches!(reason, StopReason::TimeLimit | StopReason::Idle) {
            break reason;
        }
        let mut fault = next.fault;
        let reuse = matches!(fault, Fault::Restart { .. } | Fault::Resume { .. });
        let target = if reuse {
            last_active
        } else {
            active_controller(&sim)
        };
        match target {
            Some(node) => {
                last_active = Some(node);
                for n in fault.nodes_mut() {
                    if *n == ACTIVE_CONTROLLER {
                        *n = node;
                    }
                }
                sim.schedule_fault(next.at, fault);
            }
            None => sim.schedule_note(
                next.at,
                format!(
                    "{}: there is no active controller now, so this fault does nothing",
                    fault.name()
                ),
            ),
        }
    };
    watch.timeline.finish(&sim);
    watch.checker.finish(&sim);
    let partitions = partition_summaries(&cluster, &watch.checker, &sim);
    let clients = watch.checker.data().stats.clone();
    let losses_outside_promise = watch.checker.losses_outside_promise().to_vec();
    let violations = watch.checker.into_violations();
    write_outcome(&mut sim, &violations, &losses_outside_promise, stop_reason);
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
    // Every violation is unexpected unless the scenario says it must happen (a lesson or a
    // bug reproduction); `hold` names what a scenario is about, and holds with the rest.
    let unexpected = violations
        .iter()
        .any(|v| !scenario.expect.violate.iter().any(|id| id == v.invariant));
    Ok(RunSummary {
        scenario: scenario.name.clone(),
        seed: options.seed,
        trace_hash,
        events: sim.events(),
        sim_time_ms: sim.now().as_millis(),
        stop_reason,
        messages_lost: sim.messages_lost(),
        nodes,
        kraft: watch.timeline,
        partitions,
        clients,
        expectations_met: missing_violations.is_empty() && !unexpected,
        missing_violations,
        violations,
        losses_outside_promise,
    })
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
                partition: &l.partition,
                records: l.records,
                nodes: &l.nodes,
                explanation: &l.explanation,
            },
        );
    }
    for v in violations {
        trace.write_only::<NoEvent>(
            (v.time_ms * 1000.0).round() as u64,
            &Body::Violation {
                invariant: v.invariant,
                nodes: &v.nodes,
                explanation: &v.explanation,
            },
        );
    }
    let reason = serde_json::to_value(stop)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    trace.write_only::<NoEvent>(end, &Body::End { reason: &reason });
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
                        .map_or(0, |b| b.end_offset());
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
