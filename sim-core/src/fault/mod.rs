//! The fault vocabulary: everything the world can do to a cluster.
//!
//! Faults are inputs, not errors (DESIGN.md principle 7). The set is closed and limited to what a
//! real Kafka deployment meets: processes die in three ways (see [`CrashKind`]), restart, shut
//! down cleanly, stall (pause) and slow down; the network splits into groups, loses one
//! direction of a link, and heals. Nothing here duplicates or corrupts a TCP stream.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use crate::engine::{NodeId, SimDuration, SimTime};
use crate::storage::CrashKind;

/// One fault. `N` is how it names its targets: node ids (the default) by the time the engine
/// applies it; a plan may name targets that are resolved only when the fault fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Fault<N = NodeId> {
    /// The node dies; what its disk keeps depends on `kind`.
    Crash { node: N, kind: CrashKind },
    /// A dead or stopped node boots again from what its disk kept.
    Restart { node: N },
    /// Graceful shutdown (SIGTERM): a broker runs controlled shutdown first.
    Shutdown { node: N },
    /// The process stops handling anything (SIGSTOP, a long GC pause); its connections stay up.
    Pause { node: N },
    /// A paused process continues: what arrived meanwhile is handled, late timers fire at once.
    Resume { node: N },
    /// No traffic between nodes of different groups, in either direction. Nodes named in no
    /// group form one more group together.
    Partition { groups: Vec<Vec<N>> },
    /// Traffic from any of `from` to any of `to` is lost. As in TCP, no connection between two
    /// of them can open while it lasts (the handshake needs both directions) and an open one is
    /// reset, so the other direction carries only what was already in flight.
    OneWay { from: Vec<N>, to: Vec<N> },
    /// Every cut link works again (slow nodes and links stay slow).
    Heal,
    /// Every message to or from `node` takes `extra` longer; zero makes it normal again.
    SlowNode { node: N, extra: SimDuration },
    /// Every message from `from` to `to` takes `extra` longer; zero makes it normal again.
    SlowLink { from: N, to: N, extra: SimDuration },
    /// Every message from `from` to `to` on one connection (a stuck request, a slow handler)
    /// takes `extra` longer, holding back only what follows it on that connection; zero makes
    /// it normal again. `channel` is the connection's index, `name` what the protocol calls it.
    SlowChannel {
        from: N,
        to: N,
        channel: usize,
        name: Cow<'static, str>,
        extra: SimDuration,
    },
}

impl<N> Fault<N> {
    /// The action's name, as scenario files spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash {
                kind: CrashKind::Process,
                ..
            } => "crash",
            Fault::Crash {
                kind: CrashKind::PowerLoss,
                ..
            } => "power_loss",
            Fault::Crash {
                kind: CrashKind::DiskLoss,
                ..
            } => "disk_loss",
            Fault::Restart { .. } => "restart",
            Fault::Shutdown { .. } => "shutdown",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::Partition { .. } => "partition",
            Fault::OneWay { .. } => "one_way",
            Fault::Heal => "heal",
            Fault::SlowNode { .. } => "slow",
            Fault::SlowLink { .. } => "slow_link",
            Fault::SlowChannel { .. } => "slow_channel",
        }
    }
}

impl<N> Fault<N> {
    /// The same fault with each target mapped by `f`, or `None` if `f` maps one to `None`.
    pub(crate) fn try_map_nodes<M>(self, mut f: impl FnMut(N) -> Option<M>) -> Option<Fault<M>> {
        fn all<N, M>(v: Vec<N>, f: &mut impl FnMut(N) -> Option<M>) -> Option<Vec<M>> {
            v.into_iter().map(f).collect()
        }
        Some(match self {
            Fault::Crash { node, kind } => Fault::Crash {
                node: f(node)?,
                kind,
            },
            Fault::Restart { node } => Fault::Restart { node: f(node)? },
            Fault::Shutdown { node } => Fault::Shutdown { node: f(node)? },
            Fault::Pause { node } => Fault::Pause { node: f(node)? },
            Fault::Resume { node } => Fault::Resume { node: f(node)? },
            Fault::Partition { groups } => Fault::Partition {
                groups: groups
                    .into_iter()
                    .map(|g| all(g, &mut f))
                    .collect::<Option<_>>()?,
            },
            Fault::OneWay { from, to } => Fault::OneWay {
                from: all(from, &mut f)?,
                to: all(to, &mut f)?,
            },
            Fault::Heal => Fault::Heal,
            Fault::SlowNode { node, extra } => Fault::SlowNode {
                node: f(node)?,
                extra,
            },
            Fault::SlowLink { from, to, extra } => Fault::SlowLink {
                from: f(from)?,
                to: f(to)?,
                extra,
            },
            Fault::SlowChannel {
                from,
                to,
                channel,
                name,
                extra,
            } => Fault::SlowChannel {
                from: f(from)?,
                to: f(to)?,
                channel,
                name,
                extra,
            },
        })
    }
}

/// A fault at a simulated time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledFault<N = NodeId> {
    pub at: SimTime,
    pub fault: Fault<N>,
}
