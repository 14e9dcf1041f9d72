//! [`Simulation`]: the run loop and everything the engine owns.
//!
//! Map of this file:
//! - the queue: a binary heap of `Scheduled` events ordered by (time, seq). Scripted entries
//!   (faults, then notes) take their seq from counters of their own that sort before every
//!   other event: at one instant a fault applies before anything the nodes queued, however
//!   late it was scheduled, so a fault added to a forked run lands where it would have had it
//!   been in the scenario from the start;
//! - timers: one `TimerSlot` per (node, timer). Re-arming a timer to a later deadline only
//!   moves the slot's deadline; the entry already queued fires early, sees the later deadline
//!   and re-queues itself once. So a timer reset on every heartbeat costs no heap work and leaves
//!   no garbage. Moving a deadline earlier queues a new entry and the old one goes stale
//!   (recognised by the slot's generation);
//! - lifecycle: each node is up (running or paused) or down with its disk kept aside. A paused
//!   node's events wait in its `deferred` list and are re-queued in order on resume;
//! - faults: applied here, since they act on lifecycle, disks and the network;
//! - the run loop, with limits on simulated time and event count, calling an [`Observer`] (the
//!   checkers) after every event.

use serde::Serialize;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::node::{Ctx, Delay, Effect, EffectOf, Message, Node, NodeId, Timer};
use super::rng::{SimRng, Stream};
use super::time::{SimDuration, SimTime};
use crate::fault::Fault;
use crate::net::{LatencyModel, Network, Send};
use crate::storage::Durable;
use crate::trace::{Body, DownCause, Hot, LossCause, TraceSink};

/// What the engine needs besides the nodes.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub latency: LatencyModel,
    /// How long until an end notices a broken connection.
    pub disconnect_detection: SimDuration,
}

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// No event later than this is handled.
    pub until: SimTime,
    /// At most this many events are handled.
    pub max_events: u64,
}

impl Limits {
    pub fn until(until: SimTime) -> Self {
        Limits {
            until,
            max_events: u64::MAX,
        }
    }
}

/// Why [`Simulation::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Simulated time reached `Limits::until`.
    TimeLimit,
    /// `Limits::max_events` events were handled.
    EventLimit,
    /// Nothing was left to happen.
    Idle,
    /// The observer asked to stop.
    Halted,
    /// The simulated clock did not move for [`MAX_EVENTS_AT_ONE_INSTANT`] events: something
    /// keeps happening at one instant (see [`Simulation::stall`]).
    NoProgress,
}

/// The most events one simulated instant may hold before a run is stopped as making no
/// progress. A Kafka cluster does a bounded amount of work at any one instant; a loop with no
/// delay in it (a zero latency, a zero backoff) would never let time move.
pub const MAX_EVENTS_AT_ONE_INSTANT: u64 = 5_000_000;

/// What kept a run from making progress: the instant it stuck at, and the next thing due then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    pub at: SimTime,
    /// The node it happens to, when it is a node's message, timer or disconnect notice.
    pub node: Option<NodeId>,
    /// What it is: `a Metadata message from node 4`, `timer ProduceTick`, ...
    pub what: String,
}

/// What an observer tells the run loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Halt,
}

/// Looks at the simulation after every event (checkers observe; they never steer).
pub trait Observer<N: Node> {
    fn after_event(&mut self, sim: &Simulation<N>) -> Flow;
}

/// An observer that does nothing.
impl<N: Node> Observer<N> for () {
    fn after_event(&mut self, _: &Simulation<N>) -> Flow {
        Flow::Continue
    }
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Running,
    Paused,
    Down(DownCause),
}

enum Event<N: Node> {
    Deliver {
        from: NodeId,
        to: NodeId,
        generation: u32,
        msg: N::Msg,
    },
    Timer {
        node: NodeId,
        slot: u32,
        generation: u32,
    },
    /// `node` notices that its connection to `peer` broke.
    Disconnect {
        node: NodeId,
        peer: NodeId,
        incarnation: u32,
    },
    /// Boxed: faults and notes are rare, and a small `Event` keeps every heap entry small.
    Fault(Box<Fault>),
    Note(Box<str>),
}

/// Where notes' seqs start; faults' start at 1 (see the module map).
const NOTES_SEQ: u64 = 1 << 40;
/// Where the seqs of everything the nodes queue start.
const EVENTS_SEQ: u64 = 1 << 41;

struct Scheduled<N: Node> {
    at: SimTime,
    seq: u64,
    event: Event<N>,
}

// Cloned by hand: a derive would ask `N: Clone` where only the message needs it.
impl<N: Node> Clone for Event<N>
where
    N::Msg: Clone,
{
    fn clone(&self) -> Self {
        match self {
            Event::Deliver {
                from,
                to,
                generation,
                msg,
            } => Event::Deliver {
                from: *from,
                to: *to,
                generation: *generation,
                msg: msg.clone(),
            },
            Event::Timer {
                node,
                slot,
                generation,
            } => Event::Timer {
                node: *node,
                slot: *slot,
                generation: *generation,
            },
            Event::Disconnect {
                node,
                peer,
                incarnation,
            } => Event::Disconnect {
                node: *node,
                peer: *peer,
                incarnation: *incarnation,
            },
            Event::Fault(f) => Event::Fault(f.clone()),
            Event::Note(n) => Event::Note(n.clone()),
        }
    }
}

impl<N: Node> Clone for Scheduled<N>
where
    N::Msg: Clone,
{
    fn clone(&self) -> Self {
        Scheduled {
            at: self.at,
            seq: self.seq,
            event: self.event.clone(),
        }
    }
}

impl<N: Node> PartialEq for Scheduled<N> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<N: Node> Eq for Scheduled<N> {}
impl<N: Node> PartialOrd for Scheduled<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<N: Node> Ord for Scheduled<N> {
    /// Reversed, so the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Clone, Copy, Debug)]
struct TimerSlot<T> {
    timer: Option<T>,
    /// When the timer should fire; `None` if cancelled or not armed.
    deadline: Option<SimTime>,
    /// Time of the live queue entry for this slot, if one is queued.
    queued: Option<SimTime>,
    /// Matches only the live queue entry; older entries are stale.
    generation: u32,
}

impl<T> Default for TimerSlot<T> {
    fn default() -> Self {
        TimerSlot {
            timer: None,
            deadline: None,
            queued: None,
            generation: 0,
        }
    }
}

struct Proc<N: Node> {
    spec: N::Spec,
    /// The running process, if up.
    node: Option<N>,
    /// The disk while the node is down (while up, the node owns it).
    disk: Option<N::Disk>,
    status: NodeStatus,
    /// Bumped each time the process goes down; stale notices name an older one.
    incarnation: u32,
    timers: Vec<TimerSlot<N::Timer>>,
    /// Events that arrived while paused, in arrival order.
    deferred: Vec<Scheduled<N>>,
    /// Asked to shut down and not gone yet.
    stopping: bool,
    /// A restart came while the node was still shutting down: it boots once it is down, as a
    /// supervisor (`systemctl restart`) waits for the old process to exit.
    restart_on_exit: bool,
    rng: SimRng,
}

impl<N: Node + Clone> Clone for Proc<N>
where
    N::Msg: Clone,
    N::Spec: Clone,
    N::Disk: Clone,
{
    fn clone(&self) -> Self {
        Proc {
            spec: self.spec.clone(),
            node: self.node.clone(),
            disk: self.disk.clone(),
            status: self.status,
            incarnation: self.incarnation,
            timers: self.timers.clone(),
            deferred: self.deferred.clone(),
            stopping: self.stopping,
            restart_on_exit: self.restart_on_exit,
            rng: self.rng.clone(),
        }
    }
}

/// A deterministic simulation of `N` nodes on a simulated network.
pub struct Simulation<N: Node> {
    now: SimTime,
    seq: u64,
    /// Faults and notes scheduled so far (their own seq ranges, see the module map).
    faults_scheduled: u64,
    notes_scheduled: u64,
    queue: BinaryHeap<Scheduled<N>>,
    procs: Vec<Proc<N>>,
    net: Network,
    net_rng: SimRng,
    seed: u64,
    effects: Vec<EffectOf<N>>,
    /// Protocol events emitted while handling the current event.
    step_events: Vec<(NodeId, N::Event)>,
    /// The node whose handler ran for the current event; `None` for faults and notes.
    actor: Option<NodeId>,
    trace: TraceSink,
    events: u64,
    messages_lost: u64,
    /// The event count when the clock last moved (the progress guard).
    events_at_instant_start: u64,
    /// Why the run stopped with [`StopReason::NoProgress`].
    stall: Option<Stall>,
}

impl<N: Node> std::fmt::Debug for Simulation<N> {
    /// Where the run is, not the whole state (a run holds many nodes and messages).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field("nodes", &self.procs.len())
            .field("queued", &self.queue.len())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl<N: Node + Clone> Simulation<N>
where
    N::Msg: Clone,
    N::Spec: Clone,
    N::Disk: Clone,
{
    /// A copy of the whole simulation between two events: the clock, the event queue with
    /// every message in flight, each node's state, timers, disk and random stream, the
    /// network and its stream, and the trace hash so far. It continues exactly as the original
    /// would (same events, same trace hash) until one of them is given something new. Its
    /// trace writes no lines.
    pub fn fork(&self) -> Self {
        assert!(
            self.effects.is_empty(),
            "a simulation forks between events, not inside one"
        );
        // The last event's protocol events and actor were for its observer, which has run;
        // the next dispatch clears them.
        Simulation {
            now: self.now,
            seq: self.seq,
            faults_scheduled: self.faults_scheduled,
            notes_scheduled: self.notes_scheduled,
            queue: self.queue.clone(),
            procs: self.procs.clone(),
            net: self.net.clone(),
            net_rng: self.net_rng.clone(),
            seed: self.seed,
            effects: Vec::new(),
            step_events: Vec::new(),
            actor: None,
            trace: self.trace.fork(),
            events: self.events,
            messages_lost: self.messages_lost,
            events_at_instant_start: self.events_at_instant_start,
            stall: self.stall.clone(),
        }
    }
}

impl<N: Node> Simulation<N> {
    /// A simulation of the given nodes, each with its spec and its disk as formatted. Nothing runs
    /// until [`Simulation::start`].
    pub fn new(config: SimConfig, nodes: Vec<(N::Spec, N::Disk)>, trace: TraceSink) -> Self {
        let count = nodes.len();
        let procs = nodes
            .into_iter()
            .enumerate()
            .map(|(i, (spec, disk))| Proc {
                spec,
                node: None,
                disk: Some(disk),
                status: NodeStatus::Down(DownCause::Shutdown),
                incarnation: 0,
                timers: Vec::new(),
                deferred: Vec::new(),
                stopping: false,
                restart_on_exit: false,
                rng: SimRng::new(config.seed, Stream::Node(NodeId(i as u32))),
            })
            .collect();
        Simulation {
            now: SimTime::ZERO,
            seq: 0,
            faults_scheduled: 0,
            notes_scheduled: 0,
            queue: BinaryHeap::new(),
            procs,
            net: Network::new(count, config.latency, config.disconnect_detection),
            net_rng: SimRng::new(config.seed, Stream::Network),
            seed: config.seed,
            effects: Vec::new(),
            step_events: Vec::new(),
            actor: None,
            trace,
            events: 0,
            messages_lost: 0,
            events_at_instant_start: 0,
            stall: None,
        }
    }

    /// Boots every node at the current time: first all processes exist, then each runs its
    /// `on_start` in id order (so a node may message any other from its first step).
    pub fn start(&mut self) {
        for i in 0..self.procs.len() {
            self.boot_process(NodeId(i as u32));
        }
        for i in 0..self.procs.len() {
            self.run_on_start(NodeId(i as u32));
        }
    }

    // ---- accessors ----

    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Events handled so far (stale timer entries and dropped messages are not counted).
    pub fn events(&self) -> u64 {
        self.events
    }
    pub fn messages_lost(&self) -> u64 {
        self.messages_lost
    }
    pub(crate) fn node_count(&self) -> usize {
        self.procs.len()
    }
    /// The running (or paused) process, if the node is up.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.procs[id.index()].node.as_ref()
    }
    /// The disk of a node that is down.
    pub(crate) fn disk_of_down_node(&self, id: NodeId) -> Option<&N::Disk> {
        self.procs[id.index()].disk.as_ref()
    }
    pub fn status(&self, id: NodeId) -> NodeStatus {
        self.procs[id.index()].status
    }
    pub fn network(&self) -> &Network {
        &self.net
    }
    /// Protocol events emitted while handling the last event.
    pub(crate) fn step_events(&self) -> &[(NodeId, N::Event)] {
        &self.step_events
    }
    /// The node whose handler ran for the last event, so an observer can look at just that
    /// node. `None` after a fault or a note: anything may have changed.
    pub(crate) fn last_actor(&self) -> Option<NodeId> {
        self.actor
    }
    /// Entries in the event queue, live or stale.
    #[cfg(test)]
    pub(crate) fn queue_len(&self) -> usize {
        self.queue.len()
    }
    pub fn trace(&self) -> &TraceSink {
        &self.trace
    }

    /// The trace, to append lines derived from the run (violations, the end) after it.
    pub(crate) fn trace_mut(&mut self) -> &mut TraceSink {
        &mut self.trace
    }

    // ---- scheduling from outside ----

    /// Schedules a fault; faults at the same time apply in the order scheduled.
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        self.push(at, Event::Fault(Box::new(fault)));
    }

    /// Drops every fault queued after now (the events at now have all been handled).
    pub(crate) fn drop_faults_after_now(&mut self) {
        let now = self.now;
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue
            .into_iter()
            .filter(|e| !(matches!(e.event, Event::Fault(_)) && e.at > now))
            .collect();
    }

    /// Schedules a narration note into the trace.
    pub(crate) fn schedule_note(&mut self, at: SimTime, text: String) {
        self.push(at, Event::Note(text.into_boxed_str()));
    }

    fn push(&mut self, at: SimTime, event: Event<N>) {
        debug_assert!(at >= self.now, "scheduling into the past");
        let seq = match event {
            Event::Fault(_) => {
                self.faults_scheduled += 1;
                self.faults_scheduled
            }
            Event::Note(_) => {
                self.notes_scheduled += 1;
                NOTES_SEQ + self.notes_scheduled
            }
            _ => {
                self.seq += 1;
                EVENTS_SEQ + self.seq
            }
        };
        assert!(
            self.faults_scheduled < NOTES_SEQ && self.notes_scheduled < EVENTS_SEQ - NOTES_SEQ,
            "more scripted faults or notes than their seq ranges hold"
        );
        self.queue.push(Scheduled { at, seq, event });
    }

    // ---- the run loop ----

    /// Runs until a limit is reached, the queue empties, or the observer halts.
    pub fn run<O: Observer<N>>(&mut self, limits: Limits, observer: &mut O) -> StopReason {
        loop {
            if self.events >= limits.max_events {
                return StopReason::EventLimit;
            }
            let Some(next) = self.queue.peek() else {
                // Nothing more can happen; time still passes to a finite limit.
                if limits.until != SimTime::MAX {
                    self.now = self.now.max(limits.until);
                }
                return StopReason::Idle;
            };
            if next.at > limits.until {
                self.now = limits.until;
                return StopReason::TimeLimit;
            }
            if next.at > self.now {
                self.events_at_instant_start = self.events;
            } else if self.events - self.events_at_instant_start >= MAX_EVENTS_AT_ONE_INSTANT {
                self.stall = Some(self.describe(next));
                return StopReason::NoProgress;
            }
            let Some(entry) = self.queue.pop() else {
                unreachable!("peeked an entry")
            };
            self.now = entry.at;
            if self.dispatch(entry) {
                self.events += 1;
                if observer.after_event(self) == Flow::Halt {
                    return StopReason::Halted;
                }
            }
        }
    }

    /// What a queued entry is, in words, for a stalled run.
    fn describe(&self, entry: &Scheduled<N>) -> Stall {
        let (node, what) = match &entry.event {
            Event::Deliver { from, to, msg, .. } => (
                Some(*to),
                format!("a {} message from node {}", msg.name(), from.0),
            ),
            Event::Timer { node, slot, .. } => {
                let timer = self.procs[node.index()].timers[*slot as usize].timer;
                let name = timer.map_or_else(|| "a timer".to_string(), |t| format!("{t:?}"));
                (Some(*node), format!("timer {name}"))
            }
            Event::Disconnect { node, peer, .. } => (
                Some(*node),
                format!("the notice of a broken connection to node {}", peer.0),
            ),
            Event::Fault(fault) => (None, format!("fault {}", fault.name())),
            Event::Note(_) => (None, "a note".to_string()),
        };
        Stall {
            at: entry.at,
            node,
            what,
        }
    }

    /// Why the run stopped with [`StopReason::NoProgress`], if it did.
    pub fn stall(&self) -> Option<&Stall> {
        self.stall.as_ref()
    }

    /// Handles one queued entry; false if it was stale or dropped (nothing happened).
    fn dispatch(&mut self, entry: Scheduled<N>) -> bool {
        self.step_events.clear();
        self.actor = None;
        let t = self.now.as_micros();
        let (at, seq) = (entry.at, entry.seq);
        match entry.event {
            Event::Deliver {
                from,
                to,
                generation,
                msg,
            } => self.deliver((at, seq), from, to, generation, msg),
            Event::Timer {
                node,
                slot,
                generation,
            } => self.fire_timer((at, seq), node, slot, generation),
            Event::Disconnect {
                node,
                peer,
                incarnation,
            } => self.notice_disconnect((at, seq), node, peer, incarnation),
            Event::Fault(fault) => {
                self.apply_fault(*fault);
                true
            }
            Event::Note(text) => {
                let text = Cow::Borrowed(&*text);
                self.trace.record::<N::Event>(t, &Body::Note { text });
                true
            }
        }
    }

    /// A message arrives: lost if its connection broke or its node is down, held while the
    /// node is paused, else handled. True when a handler ran.
    #[inline]
    fn deliver(
        &mut self,
        (at, seq): (SimTime, u64),
        from: NodeId,
        to: NodeId,
        generation: u32,
        msg: N::Msg,
    ) -> bool {
        let t = self.now.as_micros();
        let proc = &mut self.procs[to.index()];
        if !self.net.is_current(from, to, generation) || proc.node.is_none() {
            self.lose(from, to, &msg, LossCause::Broken);
            return false;
        }
        if proc.status == NodeStatus::Paused {
            proc.deferred.push(Scheduled {
                at,
                seq,
                event: Event::Deliver {
                    from,
                    to,
                    generation,
                    msg,
                },
            });
            return false;
        }
        self.trace.hot(t, Hot::Deliver, to, from.0);
        if self.trace.wants_messages() {
            self.trace.write_only::<N::Event>(
                t,
                &Body::Deliver {
                    from,
                    to,
                    msg: msg.name().into(),
                },
            );
        }
        self.actor = Some(to);
        let node = proc.node.as_mut().expect("checked above");
        node.on_message(&mut Ctx::new(self.now, to, &mut self.effects), from, msg);
        self.apply_effects(to);
        true
    }

    /// A timer's queue entry comes due: stale (re-armed, cancelled, the node went down),
    /// re-armed later (queued once more), held while the node is paused, or fired. True when
    /// a handler ran.
    #[inline]
    fn fire_timer(
        &mut self,
        (at, seq): (SimTime, u64),
        id: NodeId,
        slot: u32,
        generation: u32,
    ) -> bool {
        let t = self.now.as_micros();
        let proc = &mut self.procs[id.index()];
        let s = &mut proc.timers[slot as usize];
        if s.generation != generation {
            return false; // superseded by an earlier re-arm, or the node went down
        }
        if proc.status == NodeStatus::Paused {
            proc.deferred.push(Scheduled {
                at,
                seq,
                event: Event::Timer {
                    node: id,
                    slot,
                    generation,
                },
            });
            return false;
        }
        s.queued = None;
        match s.deadline {
            None => false, // cancelled
            Some(deadline) if deadline > self.now => {
                // Re-armed later since this entry was queued: queue once more.
                s.generation = s.generation.wrapping_add(1);
                s.queued = Some(deadline);
                let generation = s.generation;
                self.push(
                    deadline,
                    Event::Timer {
                        node: id,
                        slot,
                        generation,
                    },
                );
                false
            }
            Some(_) => {
                s.deadline = None;
                let timer = s.timer.expect("an armed slot has its timer");
                self.trace.hot(t, Hot::Timer, id, slot);
                self.actor = Some(id);
                let node = proc.node.as_mut().expect("a node with live timers is up");
                node.on_timer(&mut Ctx::new(self.now, id, &mut self.effects), timer);
                self.apply_effects(id);
                true
            }
        }
    }

    /// A node notices its connection to `peer` broke (unless it restarted since). True when a
    /// handler ran.
    fn notice_disconnect(
        &mut self,
        (at, seq): (SimTime, u64),
        id: NodeId,
        peer: NodeId,
        incarnation: u32,
    ) -> bool {
        let t = self.now.as_micros();
        let proc = &mut self.procs[id.index()];
        if proc.incarnation != incarnation || proc.node.is_none() {
            return false;
        }
        if proc.status == NodeStatus::Paused {
            proc.deferred.push(Scheduled {
                at,
                seq,
                event: Event::Disconnect {
                    node: id,
                    peer,
                    incarnation,
                },
            });
            return false;
        }
        self.net.notice_delivered(id, peer);
        self.trace.hot(t, Hot::Disconnect, id, peer.0);
        self.trace
            .write_only::<N::Event>(t, &Body::Disconnect { node: id, peer });
        self.actor = Some(id);
        let node = proc.node.as_mut().expect("checked above");
        node.on_disconnect(&mut Ctx::new(self.now, id, &mut self.effects), peer);
        self.apply_effects(id);
        true
    }

    fn lose(&mut self, from: NodeId, to: NodeId, msg: &N::Msg, cause: LossCause) {
        self.messages_lost += 1;
        self.trace.hot(self.now.as_micros(), Hot::Lost, to, from.0);
        if self.trace.wants_messages() {
            self.trace.write_only::<N::Event>(
                self.now.as_micros(),
                &Body::Lost {
                    from,
                    to,
                    msg: msg.name().into(),
                    cause,
                },
            );
        }
    }

    /// Carries out what node `id`'s handler asked for.
    fn apply_effects(&mut self, id: NodeId) {
        let mut effects = std::mem::take(&mut self.effects);
        let mut stop = false;
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => self.send(id, to, msg),
                Effect::SetTimer { timer, delay } => self.set_timer(id, timer, delay),
                Effect::CancelTimer { timer } => {
                    if let Some(s) = self.procs[id.index()].timers.get_mut(timer.slot()) {
                        s.deadline = None;
                    }
                }
                Effect::Emit(event) => {
                    self.trace.record(
                        self.now.as_micros(),
                        &Body::Node {
                            node: id,
                            event: Cow::Borrowed(&event),
                        },
                    );
                    self.step_events.push((id, event));
                }
                Effect::Tell(event) => self.trace.write_only(
                    self.now.as_micros(),
                    &Body::Node {
                        node: id,
                        event: Cow::Borrowed(&event),
                    },
                ),
                Effect::Stop => stop = true,
            }
        }
        self.effects = effects;
        if stop {
            self.take_down(id, DownCause::Shutdown);
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        if self.procs[to.index()].node.is_none() {
            // Connection refused (process gone) or timed out (host gone).
            if self.net.claim_notice(from, to) {
                self.schedule_disconnect_notice(from, to);
            }
            self.lose(from, to, &msg, LossCause::Refused);
            return;
        }
        match self
            .net
            .send(from, to, msg.channel(), self.now, &mut self.net_rng)
        {
            Send::Deliver { at, generation } => self.push(
                at,
                Event::Deliver {
                    from,
                    to,
                    generation,
                    msg,
                },
            ),
            Send::Blocked { notify_sender } => {
                if notify_sender {
                    self.schedule_disconnect_notice(from, to);
                }
                self.lose(from, to, &msg, LossCause::Cut);
            }
        }
    }

    /// `from` learns, after the network's disconnect detection time, that its connection to
    /// `to` is gone (a refused connection, or a cut that resets it).
    fn schedule_disconnect_notice(&mut self, from: NodeId, to: NodeId) {
        let incarnation = self.procs[from.index()].incarnation;
        let at = self.now + self.net.disconnect_detection;
        self.push(
            at,
            Event::Disconnect {
                node: from,
                peer: to,
                incarnation,
            },
        );
    }

    fn set_timer(&mut self, id: NodeId, timer: N::Timer, delay: Delay) {
        let proc = &mut self.procs[id.index()];
        let after = match delay {
            Delay::Fixed(d) => d,
            Delay::Uniform { min, max } => {
                let span = max.as_micros().saturating_sub(min.as_micros());
                let jitter = if span == 0 { 0 } else { proc.rng.below(span) };
                SimDuration::from_micros(min.as_micros() + jitter)
            }
            Delay::Steps { step, count, max } => {
                let n = if count <= 1 { 0 } else { proc.rng.below(count) };
                SimDuration::from_micros(step.as_micros().saturating_mul(n)).min(max)
            }
        };
        let deadline = self.now + after;
        let index = timer.slot();
        if proc.timers.len() <= index {
            proc.timers.resize_with(index + 1, TimerSlot::default);
        }
        let s = &mut proc.timers[index];
        s.timer = Some(timer);
        s.deadline = Some(deadline);
        match s.queued {
            // The queued entry fires no later than the new deadline and will re-queue itself.
            Some(queued) if queued <= deadline => {}
            _ => {
                s.generation = s.generation.wrapping_add(1);
                s.queued = Some(deadline);
                let generation = s.generation;
                self.push(
                    deadline,
                    Event::Timer {
                        node: id,
                        slot: index as u32,
                        generation,
                    },
                );
            }
        }
    }

    // ---- lifecycle ----

    fn boot(&mut self, id: NodeId) {
        self.boot_process(id);
        self.run_on_start(id);
    }

    fn boot_process(&mut self, id: NodeId) {
        let proc = &mut self.procs[id.index()];
        let disk = proc.disk.take().expect("a down node has its disk");
        proc.node = Some(N::boot(&proc.spec, disk, proc.incarnation));
        proc.status = NodeStatus::Running;
        self.trace.record::<N::Event>(
            self.now.as_micros(),
            &Body::Up {
                node: id,
                incarnation: proc.incarnation,
            },
        );
    }

    fn run_on_start(&mut self, id: NodeId) {
        let node = self.procs[id.index()].node.as_mut().expect("booted");
        node.on_start(&mut Ctx::new(self.now, id, &mut self.effects));
        self.apply_effects(id);
    }

    /// The process exits or dies: its timers, deferred events and connections go with it.
    fn take_down(&mut self, id: NodeId, cause: DownCause) {
        let proc = &mut self.procs[id.index()];
        let node = proc.node.take().expect("only an up node goes down");
        let mut disk = node.into_disk();
        if let DownCause::Crash(kind) = cause {
            disk.crash(kind, self.now);
        }
        proc.disk = Some(disk);
        proc.status = NodeStatus::Down(cause);
        proc.incarnation = proc.incarnation.wrapping_add(1);
        proc.deferred.clear();
        proc.stopping = false;
        let restart = std::mem::take(&mut proc.restart_on_exit);
        for s in &mut proc.timers {
            *s = TimerSlot {
                generation: s.generation.wrapping_add(1),
                ..TimerSlot::default()
            };
        }
        self.trace
            .record::<N::Event>(self.now.as_micros(), &Body::Down { node: id, cause });
        let peers = self.net.break_node(id);
        for peer in peers {
            self.notify_disconnect(peer, id);
        }
        if restart {
            self.push(
                self.now,
                Event::Fault(Box::new(Fault::Restart { node: id })),
            );
        }
    }

    /// Tells `node` (after the detection delay) that its connection to `peer` broke.
    fn notify_disconnect(&mut self, node: NodeId, peer: NodeId) {
        if self.procs[node.index()].node.is_none() || !self.net.claim_notice(node, peer) {
            return;
        }
        self.schedule_disconnect_notice(node, peer);
    }

    fn cut(&mut self, from: NodeId, to: NodeId) {
        // Newly cut, and a connection was open: both ends will notice.
        if self.net.cut(from, to) == Some(true) {
            self.notify_disconnect(from, to);
            self.notify_disconnect(to, from);
        }
    }

    /// A fault with nothing to act on is traced as skipped, and a restart of a node still
    /// shutting down as deferred; either way it is not applied now.
    fn fault_held_back(&mut self, fault: &Fault) -> bool {
        let t = self.now.as_micros();
        let proc = |node: &NodeId| &self.procs[node.index()];
        let skipped: Option<&'static str> = match fault {
            Fault::Crash { node, .. } | Fault::Shutdown { node } | Fault::Pause { node }
                if proc(node).node.is_none() =>
            {
                Some("the node is already down")
            }
            Fault::Restart { node } if proc(node).node.is_some() && !proc(node).stopping => {
                Some("the node is already up")
            }
            Fault::Resume { node } if proc(node).status != NodeStatus::Paused => {
                Some("the node is not paused")
            }
            Fault::Pause { node } if proc(node).status == NodeStatus::Paused => {
                Some("the node is already paused")
            }
            _ => None,
        };
        let fault_cow = Cow::Borrowed(fault);
        if let Some(why) = skipped {
            let body = Body::FaultIgnored {
                fault: fault_cow,
                why: why.into(),
            };
            self.trace.record::<N::Event>(t, &body);
            return true;
        }
        if let Fault::Restart { node } = fault
            && self.procs[node.index()].stopping
        {
            self.procs[node.index()].restart_on_exit = true;
            let why = "it is still shutting down; it restarts as soon as it exits";
            let body = Body::FaultDeferred {
                fault: fault_cow,
                why: why.into(),
            };
            self.trace.record::<N::Event>(t, &body);
            return true;
        }
        false
    }

    fn apply_fault(&mut self, fault: Fault) {
        if self.fault_held_back(&fault) {
            return;
        }
        let t = self.now.as_micros();
        self.trace.record::<N::Event>(
            t,
            &Body::Fault {
                fault: Cow::Borrowed(&fault),
            },
        );
        // Who can reach whom changes: the trace records the resulting groups.
        let connectivity = matches!(
            fault,
            Fault::Partition { .. } | Fault::OneWay { .. } | Fault::Heal
        );
        match fault {
            Fault::Crash { node, kind } => self.take_down(node, DownCause::Crash(kind)),
            Fault::Restart { node } => self.boot(node),
            Fault::Shutdown { node: id } => {
                let proc = &mut self.procs[id.index()];
                proc.stopping = true;
                let node = proc.node.as_mut().expect("checked above");
                node.on_shutdown(&mut Ctx::new(self.now, id, &mut self.effects));
                self.apply_effects(id);
            }
            Fault::Pause { node } => {
                self.procs[node.index()].status = NodeStatus::Paused;
                self.trace.record::<N::Event>(t, &Body::Paused { node });
            }
            Fault::Resume { node } => {
                let proc = &mut self.procs[node.index()];
                proc.status = NodeStatus::Running;
                let deferred = std::mem::take(&mut proc.deferred);
                self.trace.record::<N::Event>(
                    t,
                    &Body::Resumed {
                        node,
                        deferred: deferred.len(),
                    },
                );
                // Everything that waited is handled now, in the order it arrived.
                for entry in deferred {
                    self.push(self.now, entry.event);
                }
            }
            Fault::Partition { groups } => {
                let mut group_of = vec![groups.len(); self.procs.len()];
                for (g, members) in groups.iter().enumerate() {
                    for n in members {
                        group_of[n.index()] = g;
                    }
                }
                for a in 0..self.procs.len() {
                    for b in 0..self.procs.len() {
                        if group_of[a] != group_of[b] {
                            self.cut(NodeId(a as u32), NodeId(b as u32));
                        }
                    }
                }
            }
            Fault::OneWay { from, to } => {
                for &a in &from {
                    for &b in &to {
                        self.cut(a, b);
                    }
                }
            }
            Fault::Heal => {
                self.net.heal_all();
            }
            Fault::SlowNode { node, extra } => self.net.set_node_delay(node, extra),
            Fault::SlowLink { from, to, extra } => self.net.set_link_delay(from, to, extra),
            Fault::SlowChannel {
                from,
                to,
                channel,
                extra,
                ..
            } => self.net.set_channel_delay(from, to, channel, extra),
        }
        if connectivity {
            let body = Body::Network {
                groups: self.net.groups(),
                cut_links: self.net.cut_links().len(),
            };
            self.trace.record::<N::Event>(t, &body);
        }
    }

    /// Finishes the trace: flushes the writer and returns the hash as hex.
    pub fn finish_trace(&mut self) -> std::io::Result<String> {
        self.trace.finish().map(|h| h.hex())
    }
}

#[cfg(test)]
mod tests;
