//! `majority_reached_high_watermark`: a leader's HW `h` is on a majority: at least ⌊V/2⌋+1
//! voters have a log end offset ≥ `h`, counting what a down voter's disk holds.
//!
//! Source: Kafka `RaftEventSimulationTest` `MajorityReachedHighWatermark`; TLA+
//! `CommittedEntriesReachMajority`.

use super::{Checker, Ground, InvariantInfo, InvariantKind, NodeView, Violations};
use crate::engine::{NodeId, Simulation};
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "majority_reached_high_watermark",
    kind: InvariantKind::Safety,
    summary: "Every offset below a leader's high watermark is on a majority of voters' logs",
    source: "Kafka RaftEventSimulationTest MajorityReachedHighWatermark; TLA+ CommittedEntriesReachMajority",
};

pub fn check(g: &mut Ground, out: &mut Violations, view: &NodeView<'_>, sim: &Simulation<Process>) {
    let Some(raft) = view.raft else {
        return;
    };
    let (true, Some(hw)) = (raft.is_leader(), raft.high_watermark()) else {
        return;
    };
    let leo = |v: NodeId| Checker::view(sim, v).map(|o| o.log().len() as u64);
    let holding = g
        .voters
        .iter()
        .filter(|&&v| leo(v).is_some_and(|l| l >= hw))
        .count();
    if holding < g.majority {
        let short: Vec<String> = g
            .voters
            .iter()
            .filter_map(|&v| Some((v, leo(v)?)))
            .filter(|&(_, l)| l < hw)
            .map(|(v, l)| format!("{} has {l}", g.name(v)))
            .collect();
        let explanation = format!(
            "{} (leader of epoch {}) has HW {hw}, but only {holding} of {} voters have that \
             many records ({}); a majority needs {}",
            g.name(view.id),
            raft.epoch(),
            g.voters.len(),
            short.join(", "),
            g.majority
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
}
