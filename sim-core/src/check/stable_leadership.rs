//! `stable_leadership` (opt-in): once the first leader is elected, no replica ever persists an
//! election state that names a different leader or another epoch. Election states that name no
//! leader do not count: an isolated voter that bumps its epoch as a Candidate, with no leader
//! anywhere, changes no leadership. Only meaningful where leadership must not change, so it is
//! checked only in scenarios that name it in `expect`.
//!
//! Source: Kafka `RaftEventSimulationTest` `StableLeadership` (added with the KIP-996 pre-vote
//! tests, `leadershipWillNotChangeDuringNetworkPartitionIfMajorityStillReachable`).

use super::{Ground, InvariantInfo, InvariantKind, NodeView, Violations};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "stable_leadership",
    kind: InvariantKind::Safety,
    summary: "After the first election, leadership never changes (opt-in: for scenarios where it must not)",
    source: "Kafka RaftEventSimulationTest StableLeadership (KIP-996 tests)",
};

pub fn check(g: &mut Ground, out: &mut Violations, view: &NodeView<'_>) {
    let Some((&first_epoch, &(first_leader, _))) = g.leaders.iter().next() else {
        return;
    };
    let persisted = view.persisted();
    // `StableLeadership.verify`: `if (election.hasLeader())`, then the epoch and the leader must
    // both equal the first leader's.
    let Some(leader) = persisted.leader else {
        return;
    };
    let moved = persisted.epoch != first_epoch || leader != first_leader;
    if moved && !g.stability_broken {
        g.stability_broken = true;
        let explanation = format!(
            "{} led epoch {first_epoch}, but {} now records {} as leader of epoch {}: \
             leadership changed{}",
            g.name(first_leader),
            g.name(view.id),
            g.name(leader),
            persisted.epoch,
            g.crash_note(view.id)
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
}
