//! `monotonic_high_watermark`: the HW of the running leader with the highest epoch never
//! decreases over the run.
//!
//! Source: Kafka `RaftEventSimulationTest` `MonotonicHighWatermark`.

use super::{Ground, InvariantInfo, InvariantKind, Violations};
use crate::engine::Simulation;
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "monotonic_high_watermark",
    kind: InvariantKind::Safety,
    summary: "The metadata log's high watermark, as the newest leader reports it, never decreases",
    source: "Kafka RaftEventSimulationTest MonotonicHighWatermark",
};

pub fn check(g: &mut Ground, out: &mut Violations, sim: &Simulation<Process>) {
    let newest = g
        .voters
        .iter()
        .filter_map(|&v| {
            let raft = sim.node(v)?.raft()?;
            raft.is_leader()
                .then_some((raft.epoch(), raft.high_watermark(), v))
        })
        .max_by_key(|&(epoch, _, _)| epoch);
    let Some((epoch, Some(hw), leader)) = newest else {
        return;
    };
    if let Some((old_epoch, old_hw, old_leader)) = g.leader_high_watermark {
        if epoch < old_epoch {
            return;
        }
        if hw < old_hw {
            let explanation = format!(
                "{} (leader of epoch {epoch}) reports HW {hw}, below the HW {old_hw} that {} \
                 reported in epoch {old_epoch}: committed metadata went back",
                g.name(leader),
                g.name(old_leader)
            );
            let mut nodes = vec![g.name(leader).to_string()];
            if old_leader != leader {
                nodes.push(g.name(old_leader).to_string());
            }
            out.report(&INFO, g.now, nodes, explanation);
        }
    }
    let best = g.leader_high_watermark.map_or(hw, |(_, h, _)| h.max(hw));
    g.leader_high_watermark = Some((epoch, best, leader));
}
