//! `leader_not_disrupted`: a KRaft leader that a majority of voters steadily follows is not
//! deposed by an epoch that voter majority never let anyone start. This is what KIP-996
//! (pre-vote, Kafka 4.0) promises: a voter cut off from the leader no longer raises its
//! epoch alone and, once it can reach the others again, forces a healthy leader to step down
//! (Raft's "disruptive server", Ongaro's thesis §9.6).
//!
//! The rule is judged where the pre-vote protocol makes it certain:
//!
//! - **Steady.** Leader L of epoch E is steadily followed by a set M of voters (L counted)
//!   that is a majority, where every follower in M has fetched from L in epoch E. Such a
//!   follower refuses every pre-vote until it leaves the follower state, and the leader refuses
//!   them too (`FollowerState.canGrantVote`, `LeaderState.canGrantVote`). The watch starts
//!   when that holds and no voter is past epoch E; a member that leaves the state leaves M,
//!   and the watch ends when M is no longer a majority.
//! - **No epoch past E + 1 while it holds.** A Candidate of epoch E + 1 needs a majority of
//!   pre-votes in epoch E, so at least one from a member of M, which M's members only gave
//!   before they were steady: a late answer to such a pre-vote can still make one Candidate
//!   of E + 1, a race Kafka has too, and its `Vote` requests depose M. But a Candidate of
//!   E + 2 needs pre-votes in epoch E + 1, and no member of M is there while the watch holds.
//!   So while M is steady no voter reaches epoch E + 2 with pre-vote.
//! - **Reported** when a member of M (the leader included) is moved past epoch E, the watch
//!   still holding, after some voter reached E + 2 or beyond during it: the steady leader was
//!   deposed by an epoch that no majority granted. A voter that inflates its epoch alone but
//!   never reaches the others changes no leadership and is not reported.
//!
//! Judged in every run, unlike the opt-in `stable_leadership`, because it asks nothing of a
//! run where leadership must legitimately move (a leader or a follower that crashes, pauses or
//! loses its link leaves the steady set).
//!
//! Source: KIP-996 (Pre-Vote), `KafkaRaftClient.handleVoteRequest`, `FollowerState`,
//! `ProspectiveState`; Kafka's `RaftEventSimulationTest`
//! `leadershipWillNotChangeDuringNetworkPartitionIfMajorityStillReachable`.

use super::{Ground, InvariantInfo, InvariantKind, Violations};
use crate::engine::{NodeId, NodeStatus, SimTime, Simulation};
use crate::kraft::raft::Raft;
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "leader_not_disrupted",
    // It costs availability (a needless election), never data: judged after every event, as
    // `cut_off_leader_resigns` is, and of the same kind.
    kind: InvariantKind::Liveness,
    summary: "A KRaft leader a majority of voters steadily follows is not deposed by an epoch no majority granted (KIP-996 pre-vote)",
    source: "KIP-996 pre-vote: FollowerState.canGrantVote, KafkaRaftClient.handleVoteRequest; RaftEventSimulationTest",
};

/// A leader watched while a majority steadily follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steady {
    pub leader: NodeId,
    pub epoch: u32,
    /// The leader and the followers that have fetched from it in `epoch` without a break since
    /// `since`.
    pub members: Vec<NodeId>,
    pub since: SimTime,
    /// The first voter seen at epoch `epoch + 2` or later during the watch: who, which
    /// epoch, when.
    pub inflated: Option<(NodeId, u32, SimTime)>,
}

/// A voter's epoch: in memory when it runs, on its disk when it is down.
fn epoch_of(sim: &Simulation<Process>, v: NodeId) -> Option<u32> {
    match sim.node(v) {
        Some(p) => p.raft().map(Raft::epoch),
        None => sim
            .disk_of_down_node(v)
            .and_then(|d| d.raft())
            .and_then(|d| d.quorum_state.get())
            .map(|q| q.epoch),
    }
}

/// Whether `v` is the leader, or a follower that has fetched from it, in `epoch`.
fn steady_in(sim: &Simulation<Process>, v: NodeId, leader: NodeId, epoch: u32) -> bool {
    let Some(raft) = sim.node(v).and_then(Process::raft) else {
        return false;
    };
    raft.epoch() == epoch
        && if v == leader {
            raft.is_leader()
        } else {
            raft.fetched_from() == Some(leader)
        }
}

/// Checked after every event: a handful of voters, nothing allocated while nothing changes.
pub fn check(g: &mut Ground, out: &mut Violations, sim: &Simulation<Process>) {
    let now = sim.now();
    if let Some(steady) = g.steady.as_mut() {
        let (leader, epoch) = (steady.leader, steady.epoch);
        let deposed = steady
            .members
            .iter()
            .find(|&&m| epoch_of(sim, m).is_some_and(|e| e > epoch))
            .copied();
        if let Some(m) = deposed {
            let steady = g.steady.take().expect("watched");
            if let Some((v, inflated, at)) = steady.inflated {
                report(g, out, &steady, m, (v, inflated, at), sim);
            }
            return;
        }
        steady.members.retain(|&m| steady_in(sim, m, leader, epoch));
        if steady.members.len() < g.majority {
            g.steady = None;
            return;
        }
        if steady.inflated.is_none()
            && let Some((v, e)) = g
                .voters
                .iter()
                .filter_map(|&v| epoch_of(sim, v).map(|e| (v, e)))
                .find(|&(_, e)| e >= epoch + 2)
        {
            steady.inflated = Some((v, e, now));
        }
        return;
    }
    // Not watching: is there a leader a majority steadily follows, with no voter past it?
    let Some(leader) = g.voters.iter().copied().find(|&v| {
        sim.status(v) == NodeStatus::Running
            && sim
                .node(v)
                .and_then(Process::raft)
                .is_some_and(Raft::is_leader)
    }) else {
        return;
    };
    let epoch = epoch_of(sim, leader).expect("a running leader has an epoch");
    let members: Vec<NodeId> = g
        .voters
        .iter()
        .copied()
        .filter(|&v| steady_in(sim, v, leader, epoch))
        .collect();
    if members.len() < g.majority
        || g.voters
            .iter()
            .any(|&v| epoch_of(sim, v).is_some_and(|e| e > epoch))
    {
        return;
    }
    g.steady = Some(Steady {
        leader,
        epoch,
        members,
        since: now,
        inflated: None,
    });
}

fn report(
    g: &Ground,
    out: &mut Violations,
    steady: &Steady,
    deposed: NodeId,
    (voter, inflated, at): (NodeId, u32, SimTime),
    sim: &Simulation<Process>,
) {
    let secs = |t: SimTime| t.as_micros() as f64 / 1e6;
    let followers: Vec<&str> = steady
        .members
        .iter()
        .filter(|&&m| m != steady.leader)
        .map(|&m| g.name(m))
        .collect();
    let now_epoch = epoch_of(sim, deposed).unwrap_or(steady.epoch);
    let explanation = format!(
        "{} led epoch {e} and {} had fetched from it steadily since t={:.3}s, with it a \
         majority of the {} voters; yet {} reached epoch {inflated} at t={:.3}s, though an \
         epoch past {} takes a majority's pre-votes in an epoch past {e} and no member of that \
         steady majority was past {e}; now {} is moved to epoch {now_epoch}: a healthy leader \
         deposed while a voter stood in epochs no majority let it reach, which KIP-996 \
         pre-vote prevents",
        g.name(steady.leader),
        followers.join(", "),
        secs(steady.since),
        g.voters.len(),
        g.name(voter),
        secs(at),
        steady.epoch + 1,
        g.name(deposed),
        e = steady.epoch,
    );
    out.report(
        &INFO,
        g.now,
        vec![g.name(deposed).to_string(), g.name(voter).to_string()],
        explanation,
    );
}
