//! `majority_reached_high_watermark`: a leader's HW `h` is on a majority: at least ⌊V/2⌋+1
//! voters have a log end offset ≥ `h`, counting what a down voter's disk holds.
//!
//! Source: Kafka `RaftEventSimulationTest` `MajorityReachedHighWatermark`; TLA+
//! `CommittedEntriesReachMajority`.

use super::{Checker, Ground, InvariantInfo, InvariantKind, NodeView, Violations};
use crate::engine::Simulation;
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
    let mut holding = Vec::new();
    let mut short = Vec::new();
    for &v in &g.voters {
        let Some(other) = Checker::view(sim, v) else {
            continue;
        };
        let leo = other.log().len() as u64;
        if leo >= hw {
            holding.push(v);
        } else {
            short.push(format!("{} has {leo}", g.name(v)));
        }
    }
    if holding.len() < g.majority {
        let explanation = format!(
            "{} (leader of epoch {}) has HW {hw}, but only {} of {} voters have that many \
             records ({}); a majority needs {}",
            g.name(view.id),
            raft.epoch(),
            holding.len(),
            g.voters.len(),
            short.join(", "),
            g.majority
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
}
