//! `eventually_leader_elected` (liveness): once faults stop, a majority of voters that can
//! reach each other has an active controller within [`super::LIVENESS_BOUND`].
//!
//! Source: TLA+ `EventuallyLeaderElected` (Vanlightly, `KRaft.tla`); Kafka
//! `RaftEventSimulationTest` scenarios `canElectInitialLeader`,
//! `canElectNewLeaderAfterOldLeaderFailure`, `canRecoverAfterAllNodesKilled`. Judged once, at
//! the bound; if no majority of running voters is connected, nothing can be required.

use super::{Ground, InvariantInfo, InvariantKind, LIVENESS_BOUND, Violations};
use crate::engine::{NodeId, NodeStatus, Simulation};
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "eventually_leader_elected",
    kind: InvariantKind::Liveness,
    summary: "Within 30 s of the last fault, a connected majority of controllers has an active controller",
    source: "TLA+ EventuallyLeaderElected; Kafka RaftEventSimulationTest canElectNewLeaderAfterOldLeaderFailure",
};

/// The running voters that form a connected majority, if any: connected to each other
/// directly, since KRaft voters talk only to each other (a voter that reaches the others only
/// through a broker is cut off from them).
pub(crate) fn majority_group(g: &Ground, sim: &Simulation<Process>) -> Option<Vec<NodeId>> {
    let running: Vec<NodeId> = g
        .voters
        .iter()
        .copied()
        .filter(|&v| sim.status(v) == NodeStatus::Running)
        .collect();
    sim.network()
        .groups_among(&running)
        .into_iter()
        .find(|voters| voters.len() >= g.majority)
}

/// The active controller among `voters`, if one is active in the newest epoch among them.
pub fn active_controller(voters: &[NodeId], sim: &Simulation<Process>) -> Option<NodeId> {
    let epoch = |v: NodeId| Some(sim.node(v)?.raft()?.epoch());
    let newest = voters.iter().filter_map(|&v| epoch(v)).max()?;
    crate::world::active_controller_among(sim, voters.iter().copied())
        .filter(|&a| epoch(a) == Some(newest))
}

pub fn check(g: &mut Ground, out: &mut Violations, sim: &Simulation<Process>) {
    let Some(voters) = majority_group(g, sim) else {
        return;
    };
    if active_controller(&voters, sim).is_some() {
        return;
    }
    let states: Vec<String> = voters
        .iter()
        .filter_map(|&v| {
            let raft = sim.node(v)?.raft()?;
            Some(format!(
                "{} {:?} in epoch {}",
                g.name(v),
                raft.role(),
                raft.epoch()
            ))
        })
        .collect();
    let explanation = format!(
        "{} after the last fault there is still no active controller among the connected \
         majority: {}",
        LIVENESS_BOUND,
        states.join(", ").to_lowercase()
    );
    let nodes = voters.iter().map(|&v| g.name(v).to_string()).collect();
    out.report(&INFO, g.now, nodes, explanation);
}
