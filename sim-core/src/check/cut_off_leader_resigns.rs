//! `cut_off_leader_resigns` (liveness while faults last): a KRaft leader that no majority of
//! voters can reach stops being leader within `1.5 × controller.quorum.fetch.timeout.ms`, so
//! a controller partitioned away from the quorum does not linger as the active controller
//! while the majority elects another.
//!
//! Source: KAFKA-15489 (Kafka 3.7) check-quorum: `LeaderState.checkQuorumTimeoutMs` is
//! `fetchTimeoutMs * CHECK_QUORUM_TIMEOUT_FACTOR` (1.5); the timer restarts only when a
//! majority of voters (the leader counted) has sent `Fetch` within it, and when it expires
//! `KafkaRaftClient` resigns. A cut loses what is sent across it from then on, but a fetch
//! already on its way (on a slow link, or a paused voter's last) still arrives and may restart
//! the timer, so the bound runs from the later of the cut and the timer's last restart.
//!
//! The fetch set outlives a cut: fetches that arrived before it still count, so one more
//! restart can come after the cut, when a voter that can still reach the leader fetches and
//! completes the majority (as `LeaderState.updateCheckQuorumForFollowingVoter` does). So the
//! clock starts when no restart is possible any more: when the leader, the voters in its fetch
//! set and the voters that can still reach it are together fewer than a majority. From then
//! the timer, restarted at or before that moment, expires within the bound.
//!
//! Judged only where Kafka promises it, conservatively: the leader is running (a paused
//! process runs no timers; the clock restarts when it resumes), and a voter counts as able to
//! reach the leader when it is running with its link to the leader open. A voter that can
//! reach the leader but fetches from someone else, or a link that is only slow, asks nothing
//! of it. Reported once per leader and epoch.

use super::{Ground, InvariantInfo, InvariantKind, Violations};
use crate::engine::{NodeId, NodeStatus, SimDuration, SimTime, Simulation};
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "cut_off_leader_resigns",
    kind: InvariantKind::Liveness,
    summary: "A KRaft leader no majority of voters can reach resigns within 1.5 x controller.quorum.fetch.timeout.ms (checked while faults last)",
    source: "KAFKA-15489 check-quorum: LeaderState.CHECK_QUORUM_TIMEOUT_FACTOR, KafkaRaftClient",
};

/// A leader found cut off from the majority: since when, in which epoch, and whether it was
/// reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CutOff {
    pub leader: NodeId,
    pub epoch: u32,
    pub since: SimTime,
    pub reported: bool,
}

/// Whether voter `v` can reach `leader` (the leader reaches itself).
fn reaches(sim: &Simulation<Process>, v: NodeId, leader: NodeId) -> bool {
    v == leader || (sim.status(v) == NodeStatus::Running && sim.network().can_send(v, leader))
}

/// Checked after every event, so the usual case (no leader, or one a majority can reach)
/// allocates nothing.
pub fn check(g: &mut Ground, out: &mut Violations, sim: &Simulation<Process>, bound: SimDuration) {
    let now = sim.now();
    for i in 0..g.voters.len() {
        let leader = g.voters[i];
        let raft = sim
            .node(leader)
            .and_then(Process::raft)
            .filter(|r| r.is_leader() && sim.status(leader) == NodeStatus::Running);
        let reached = raft.map(|_| {
            g.voters
                .iter()
                .filter(|&&v| reaches(sim, v, leader))
                .count()
        });
        let (Some(raft), Some(reached)) = (raft, reached.filter(|&n| n < g.majority)) else {
            g.cut_off.retain(|c| c.leader != leader);
            continue;
        };
        // Voters whose fetch could still restart the timer: those in the fetch set already,
        // and those that can reach the leader.
        let fetched = raft.fetched_since_check_quorum().unwrap_or_default();
        let could_restart = g
            .voters
            .iter()
            .filter(|&&v| v != leader && (fetched.contains(&v) || reaches(sim, v, leader)))
            .count();
        if could_restart + 1 >= g.majority {
            g.cut_off.retain(|c| c.leader != leader);
            continue;
        }
        let epoch = raft.epoch();
        let slot = g.cut_off.iter().position(|c| c.leader == leader);
        let entry = match slot {
            Some(i) if g.cut_off[i].epoch == epoch => &mut g.cut_off[i],
            Some(i) => {
                g.cut_off[i] = CutOff {
                    leader,
                    epoch,
                    since: now,
                    reported: false,
                };
                &mut g.cut_off[i]
            }
            None => {
                g.cut_off.push(CutOff {
                    leader,
                    epoch,
                    since: now,
                    reported: false,
                });
                g.cut_off.last_mut().expect("just pushed")
            }
        };
        // A fetch already in flight when the cut came (a slow link's, a paused voter's last)
        // can still arrive and restart the timer: the bound runs from the later of the two.
        let cut = entry.since;
        let restarted = raft.check_quorum_restarted().unwrap_or(cut);
        if entry.reported || now <= cut.max(restarted) + bound {
            continue;
        }
        entry.reported = true;
        let names: Vec<&str> = g
            .voters
            .iter()
            .filter(|&&v| reaches(sim, v, leader))
            .map(|&v| g.name(v))
            .collect();
        let secs = |t: SimTime| t.as_micros() as f64 / 1e6;
        let explanation = format!(
            "{} is still KRaft leader of epoch {epoch} at t={:.3}s, but since t={:.3}s only {} \
             of the {} voters can reach it ({}), fewer than the majority of {}; its check-quorum \
             timer last restarted at t={:.3}s and no fetch can restart it any more; check-quorum \
             (KAFKA-15489) resigns such a leader within {} ms of that (1.5 x \
             controller.quorum.fetch.timeout.ms)",
            g.name(leader),
            secs(now),
            secs(cut),
            reached,
            g.voters.len(),
            names.join(", "),
            g.majority,
            secs(restarted),
            bound.as_millis()
        );
        out.report(&INFO, now, vec![g.name(leader).to_string()], explanation);
    }
}
