//! The fault vocabulary: everything the world can do to a cluster.
//!
//! Faults are inputs, not errors (DESIGN.md principle 7). The set is closed and limited to what a
//! real Kafka deployment meets: processes die in three ways (see [`CrashKind`]), restart, shut
//! down cleanly, stall (pause) and slow down; the network splits into groups, loses one
//! direction of a link, and heals. Nothing here duplicates or corrupts a TCP stream.

pub mod nemesis;
pub mod shrink;
#[cfg(feature = "proptest")]
pub mod strategy;
pub mod swarm;

use serde::Serialize;

use crate::engine::{NodeId, SimDuration, SimTime};
use crate::storage::CrashKind;

/// One fault, with its targets resolved to node ids.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Fault {
    /// The node dies; what its disk keeps depends on `kind`.
    Crash { node: NodeId, kind: CrashKind },
    /// A dead or stopped node boots again from what its disk kept.
    Restart { node: NodeId },
    /// Graceful shutdown (SIGTERM): a broker runs controlled shutdown first.
    Shutdown { node: NodeId },
    /// The process stops handling anything (SIGSTOP, a long GC pause); its connections stay up.
    Pause { node: NodeId },
    /// A paused process continues: what arrived meanwhile is handled, late timers fire at once.
    Resume { node: NodeId },
    /// No traffic between nodes of different groups, in either direction. Nodes named in no
    /// group form one more group together.
    Partition { groups: Vec<Vec<NodeId>> },
    /// Traffic from any of `from` to any of `to` is lost; the other direction still works.
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// Every cut link works again (slow nodes and links stay slow).
    Heal,
    /// Every message to or from `node` takes `extra` longer; zero makes it normal again.
    SlowNode { node: NodeId, extra: SimDuration },
    /// Every message from `from` to `to` takes `extra` longer; zero makes it normal again.
    SlowLink {
        from: NodeId,
        to: NodeId,
        extra: SimDuration,
    },
    /// Every message from `from` to `to` on one connection (a stuck request, a slow handler)
    /// takes `extra` longer, holding back only what follows it on that connection; zero makes
    /// it normal again. `channel` is the connection's index, `name` what the protocol calls it.
    SlowChannel {
        from: NodeId,
        to: NodeId,
        channel: usize,
        name: &'static str,
        extra: SimDuration,
    },
}

impl Fault {
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

impl Fault {
    /// Every node id the fault names, for rewriting (e.g. a target resolved at run time).
    pub fn nodes_mut(&mut self) -> Vec<&mut NodeId> {
        match self {
            Fault::Crash { node, .. }
            | Fault::Restart { node }
            | Fault::Shutdown { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::SlowNode { node, .. } => vec![node],
            Fault::Partition { groups } => groups.iter_mut().flatten().collect(),
            Fault::OneWay { from, to } => from.iter_mut().chain(to.iter_mut()).collect(),
            Fault::SlowLink { from, to, .. } | Fault::SlowChannel { from, to, .. } => {
                vec![from, to]
            }
            Fault::Heal => Vec::new(),
        }
    }
}

/// A fault at a simulated time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledFault {
    pub at: SimTime,
    pub fault: Fault,
}
