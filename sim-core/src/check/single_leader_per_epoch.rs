//! `single_leader_per_epoch`: no two replicas are ever leader of the same epoch.
//!
//! Source: Kafka `RaftEventSimulationTest` `SingleLeader` (over every persisted ElectionState)
//! and the TLA+ `NeverTwoLeadersInSameEpoch` (Vanlightly, `KRaft.tla`). We check persisted
//! states and in-memory Leader roles alike, and remember every epoch's leader for the whole run,
//! so a leader that later crashed or moved on still counts.

use super::{Ground, InvariantInfo, InvariantKind, NodeView, Violations};
use crate::engine::NodeId;
use crate::kraft::raft::RaftRole;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "single_leader_per_epoch",
    kind: InvariantKind::Safety,
    summary: "No two controllers are ever leader in the same epoch",
    source: "Kafka RaftEventSimulationTest SingleLeader; TLA+ NeverTwoLeadersInSameEpoch",
};

pub fn check(g: &mut Ground, out: &mut Violations, view: &NodeView<'_>) {
    let persisted = view.persisted();
    if let Some(candidate) = persisted.voted_for {
        g.votes
            .entry((persisted.epoch, view.id))
            .or_insert(candidate);
    }
    let on_disk = persisted.leader.map(|leader| (persisted.epoch, leader));
    let in_memory = view
        .raft
        .filter(|r| r.role() == RaftRole::Leader)
        .map(|r| (r.epoch(), view.id));
    for (epoch, leader) in on_disk.into_iter().chain(in_memory) {
        let (known, seen_on) = *g.leaders.entry(epoch).or_insert((leader, view.id));
        if known == leader || !g.split_epochs.insert(epoch) {
            continue;
        }
        let in_epoch = |&(&(e, _), _): &(&(u32, NodeId), &NodeId)| e == epoch;
        let votes: Vec<String> = g
            .votes
            .iter()
            .filter(in_epoch)
            .map(|(&(_, voter), &c)| format!("{} → {}", g.name(voter), g.name(c)))
            .collect();
        let silent: Vec<NodeId> = g
            .voters
            .iter()
            .copied()
            .filter(|&v| !g.votes.contains_key(&(epoch, v)))
            .collect();
        let mut why = if silent.is_empty() {
            "every voter recorded one vote, so a vote was overwritten".to_string()
        } else {
            let names: Vec<&str> = silent.iter().map(|&v| g.name(v)).collect();
            format!(
                "{} recorded no vote in epoch {epoch}, yet each leader needed a majority: a vote \
                 was granted and not recorded, or recorded and lost",
                names.join(" and ")
            )
        };
        for &v in &silent {
            why.push_str(&g.crash_note(v));
        }
        let explanation = format!(
            "{} and {} are both leader of epoch {epoch} ({} says {} leads, and {} said {} did); \
             votes recorded in quorum-state for epoch {epoch}: [{}]; {why}",
            g.name(known),
            g.name(leader),
            g.name(view.id),
            g.name(leader),
            g.name(seen_on),
            g.name(known),
            votes.join(", "),
        );
        let mut nodes = vec![g.name(known).to_string(), g.name(leader).to_string()];
        nodes.sort();
        out.report(&INFO, g.now, nodes, explanation);
    }
}
