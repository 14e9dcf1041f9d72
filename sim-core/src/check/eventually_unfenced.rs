//! `eventually_unfenced` (liveness): once faults stop, every running broker that can reach the
//! active controller (directly: its heartbeats go to it) is registered, unfenced and RUNNING
//! within [`super::LIVENESS_BOUND`]; a broker asked to shut down has finished its controlled
//! shutdown by then.
//!
//! Source: TLA+ `EventuallyUnfenced` and `EventuallyRuns` (Vanlightly, kip-966 properties);
//! kafka-protocol.md §3.5 "a fenced, reachable broker is eventually unfenced".

use super::eventually_leader_elected::{active_controller, majority_group};
use super::{Ground, InvariantInfo, InvariantKind, LIVENESS_BOUND, Violations};
use crate::engine::{NodeStatus, Simulation};
use crate::proto::BrokerState;
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "eventually_unfenced",
    kind: InvariantKind::Liveness,
    summary: "Within 30 s of the last fault, every reachable running broker is registered and unfenced",
    source: "TLA+ EventuallyUnfenced / EventuallyRuns (Vanlightly kip-966)",
};

pub fn check(g: &mut Ground, out: &mut Violations, sim: &Simulation<Process>) {
    let Some(voters) = majority_group(g, sim) else {
        return;
    };
    let Some(active) = active_controller(&voters, sim) else {
        return; // eventually_leader_elected reports this
    };
    let Some(controller) = sim.node(active).and_then(|p| p.controller()) else {
        return;
    };
    let image = controller.committed_image();
    let mut pending = Vec::new();
    for (i, &node) in g.brokers.iter().enumerate() {
        // A broker heartbeats to the active controller itself, not through another node.
        if sim.status(node) != NodeStatus::Running || !sim.network().can_send(node, active) {
            continue;
        }
        let Some(broker) = sim.node(node).and_then(|p| p.broker()) else {
            continue;
        };
        let id = i as u32 + 1;
        let why = match image.brokers.get(&id) {
            // Asked to stop at the latest at the last fault: the controller lets a broker go
            // once it leads nothing and the others have seen that (or once it is fenced), a
            // matter of heartbeats. A broker still shutting down is stuck.
            _ if broker.state() == BrokerState::PendingControlledShutdown => {
                Some("still in controlled shutdown".to_string())
            }
            None => Some("not registered".to_string()),
            Some(r) if r.fenced => Some("fenced".to_string()),
            Some(_) if broker.state() != BrokerState::Running => {
                Some(format!("{:?}", broker.state()).to_lowercase())
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            pending.push((node, why));
        }
    }
    if pending.is_empty() {
        return;
    }
    let list: Vec<String> = pending
        .iter()
        .map(|(n, why)| format!("{} {why}", g.name(*n)))
        .collect();
    let explanation = format!(
        "{} after the last fault, with {} active, brokers are still pending: {}",
        LIVENESS_BOUND,
        g.name(active),
        list.join(", ")
    );
    let nodes = pending
        .iter()
        .map(|(n, _)| g.name(*n).to_string())
        .collect();
    out.report(&INFO, g.now, nodes, explanation);
}
