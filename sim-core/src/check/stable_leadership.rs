//! `stable_leadership` (opt-in): once the first leader is elected, no replica ever records a
//! different leader or a newer epoch. Only meaningful where leadership must not change, so it
//! is checked only in scenarios that name it in `expect`.
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
    let moved = persisted.epoch > first_epoch
        || (persisted.epoch == first_epoch && persisted.leader.is_some_and(|l| l != first_leader));
    if moved && !g.stability_broken {
        g.stability_broken = true;
        let explanation = format!(
            "{} led epoch {first_epoch}, but {} has moved on to epoch {} (leader {}): \
             leadership changed{}",
            g.name(first_leader),
            g.name(view.id),
            persisted.epoch,
            persisted
                .leader
                .map_or("unknown".to_string(), |l| g.name(l).to_string()),
            g.crash_note(view.id)
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
}
