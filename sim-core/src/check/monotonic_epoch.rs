//! `monotonic_epoch`: a voter's persisted epoch never goes back, and a running voter's
//! in-memory epoch is the persisted one.
//!
//! Source: Kafka `RaftEventSimulationTest` `MonotonicEpoch`. Like Kafka's test, a disk loss
//! starts the node over (its quorum-state is gone by definition).

use super::{Ground, InvariantInfo, InvariantKind, NodeView, Violations};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "monotonic_epoch",
    kind: InvariantKind::Safety,
    summary: "A controller's persisted epoch never decreases, and matches its in-memory epoch",
    source: "Kafka RaftEventSimulationTest MonotonicEpoch",
};

pub fn check(g: &mut Ground, out: &mut Violations, view: &NodeView<'_>) {
    let persisted = view.persisted().epoch;
    let i = view.id.index();
    if persisted < g.last_epoch[i] {
        let explanation = format!(
            "{}'s quorum-state went from epoch {} back to epoch {persisted}{}",
            g.name(view.id),
            g.last_epoch[i],
            g.crash_note(view.id)
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
    g.last_epoch[i] = persisted;
    if let Some(raft) = view.raft
        && raft.epoch() != persisted
    {
        let explanation = format!(
            "{} runs in epoch {} but its quorum-state says epoch {persisted}: the transition was \
             not persisted",
            g.name(view.id),
            raft.epoch()
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
}
