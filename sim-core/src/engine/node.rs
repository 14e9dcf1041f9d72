//! The contract between the engine and a simulated process.
//!
//! A node is a sans-IO state machine: each handler gets the current time in its [`Ctx`] and pushes
//! [`Effect`]s (send a message, set or cancel a timer, emit a trace event, stop). It never reads a
//! clock, an RNG or a socket; randomised delays are asked for as [`Delay::Uniform`] and drawn by
//! the engine from the node's own stream. A node owns its disk while it runs; when it crashes the
//! engine takes the disk back with [`Node::into_disk`], drops everything else (volatile state),
//! applies the crash kind to the disk, and later boots a new incarnation from what survived.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::time::{SimDuration, SimTime};
use crate::storage::Durable;

/// Dense index of a node in the simulation (controllers, brokers and clients alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A node's timer. Each distinct timer maps to a small slot index; setting a timer that is
/// already armed re-arms it (the old deadline is forgotten), so "reset the election timer on
/// every heartbeat" is one call and leaves nothing behind.
pub trait Timer: Copy + fmt::Debug {
    /// A small, dense index identifying this timer within its node (0, 1, 2, ...).
    fn slot(&self) -> usize;
}

/// How long until a timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    Fixed(SimDuration),
    /// Uniform in `min..max` (max exclusive), drawn by the engine from the node's RNG stream:
    /// e.g. KRaft's election timeout, `T + rand[0, T)`.
    Uniform {
        min: SimDuration,
        max: SimDuration,
    },
    /// `step` times a whole number drawn uniformly from `0..count`, capped at `max`: e.g.
    /// KRaft's election backoff, min(100 ms × rand[0, 2^retries), 1 s), where equal draws (a
    /// repeated split vote) matter.
    Steps {
        step: SimDuration,
        count: u64,
        max: SimDuration,
    },
}

/// What a handler asks the engine to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect<M, T, E> {
    Send {
        to: NodeId,
        msg: M,
    },
    SetTimer {
        timer: T,
        delay: Delay,
    },
    CancelTimer {
        timer: T,
    },
    /// A protocol event for the trace and the checkers.
    Emit(E),
    /// An event for the trace file only: neither hashed nor given to the checkers, because it
    /// follows from events already hashed (a replica's append from the delivery that carried
    /// the records). The reports draw from it what the hashed events leave implicit.
    Tell(E),
    /// The node has finished a graceful shutdown and exits; its disk is kept as it is.
    Stop,
}

/// The effect type of node `N`.
pub type EffectOf<N> = Effect<<N as Node>::Msg, <N as Node>::Timer, <N as Node>::Event>;

/// What a handler sees of the world: the time, its own id, and the effect buffer. Generic over
/// the message, timer and event types only, so the contract names no protocol's node type.
#[derive(Debug)]
pub struct Ctx<'a, M, T, E> {
    now: SimTime,
    me: NodeId,
    effects: &'a mut Vec<Effect<M, T, E>>,
}

/// The handler context of node `N`.
pub type NodeCtx<'a, N> = Ctx<'a, <N as Node>::Msg, <N as Node>::Timer, <N as Node>::Event>;

impl<'a, M, T, E> Ctx<'a, M, T, E> {
    pub fn new(now: SimTime, me: NodeId, effects: &'a mut Vec<Effect<M, T, E>>) -> Self {
        Ctx { now, me, effects }
    }
    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn me(&self) -> NodeId {
        self.me
    }
    pub fn send(&mut self, to: NodeId, msg: M) {
        self.effects.push(Effect::Send { to, msg });
    }
    pub(crate) fn set_timer(&mut self, timer: T, after: SimDuration) {
        self.effects.push(Effect::SetTimer {
            timer,
            delay: Delay::Fixed(after),
        });
    }
    /// Arms `timer` to fire after a delay drawn uniformly from `min..max`.
    pub fn set_timer_random(&mut self, timer: T, min: SimDuration, max: SimDuration) {
        self.effects.push(Effect::SetTimer {
            timer,
            delay: Delay::Uniform { min, max },
        });
    }
    /// Arms `timer` to fire after min(`step` × a whole number drawn from `0..count`, `max`).
    pub(crate) fn set_timer_steps(
        &mut self,
        timer: T,
        step: SimDuration,
        count: u64,
        max: SimDuration,
    ) {
        self.effects.push(Effect::SetTimer {
            timer,
            delay: Delay::Steps { step, count, max },
        });
    }
    pub(crate) fn cancel_timer(&mut self, timer: T) {
        self.effects.push(Effect::CancelTimer { timer });
    }
    pub(crate) fn emit(&mut self, event: E) {
        self.effects.push(Effect::Emit(event));
    }
    /// Writes `event` to the trace file, if there is one ([`Effect::Tell`]).
    pub(crate) fn tell(&mut self, event: E) {
        self.effects.push(Effect::Tell(event));
    }
    pub fn stop(&mut self) {
        self.effects.push(Effect::Stop);
    }
}

/// A simulated process.
pub trait Node: Sized {
    type Msg: Message;
    type Timer: Timer;
    /// Protocol events this node reports (leader elected, broker fenced, ...).
    type Event: Serialize + fmt::Debug + Clone;
    /// What survives a crash, subject to the crash kind.
    type Disk: Durable;
    /// What the engine keeps to boot the node again: its identity and static configuration.
    type Spec;

    /// Boots a new incarnation from its spec and what its disk holds. Called at the start of the
    /// run (with the disk the scenario formatted) and on every restart. `incarnation` counts the
    /// process's previous lives (0 first); it stands in for Kafka's random per-start incarnation
    /// id, which only has to differ between starts.
    fn boot(spec: &Self::Spec, disk: Self::Disk, incarnation: u32) -> Self;
    /// Gives the disk back when the process dies; everything else is dropped.
    fn into_disk(self) -> Self::Disk;

    /// Runs right after [`Node::boot`].
    fn on_start(&mut self, ctx: &mut NodeCtx<'_, Self>);
    fn on_message(&mut self, ctx: &mut NodeCtx<'_, Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, ctx: &mut NodeCtx<'_, Self>, timer: Self::Timer);
    /// The connection to `peer` broke (peer crashed, or a network cut was detected). Requests in
    /// flight to it are lost; Kafka's clients fail them with a disconnect error.
    fn on_disconnect(&mut self, ctx: &mut NodeCtx<'_, Self>, peer: NodeId) {
        let _ = (ctx, peer);
    }
    /// A graceful shutdown was requested (SIGTERM). The default exits at once; a Kafka broker
    /// first runs controlled shutdown and then calls [`Ctx::stop`].
    fn on_shutdown(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        ctx.stop();
    }
}

/// A message between nodes.
pub trait Message: fmt::Debug {
    /// The Kafka API or message name, for traces (`Fetch`, `Vote`, `BrokerHeartbeat`, ...).
    fn name(&self) -> &'static str;
    /// Which of the sender's connections to the receiver carries it, below
    /// [`crate::net::MAX_CHANNELS`]. Messages keep their order within a connection only, so a
    /// delayed message holds back the ones behind it on its own connection and no other.
    fn channel(&self) -> usize {
        0
    }
}

/// The event type of a node that reports no protocol events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoEvent {}

impl Serialize for NoEvent {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        match *self {}
    }
}
