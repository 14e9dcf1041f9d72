//! `raft_leader_completeness`: a newly elected leader that no replica has overtaken holds every
//! committed record.
//!
//! Source: TLA+ `LeaderHasAllAckedValues` / `LeaderCompleteness` (Vanlightly, `KRaft.tla`).
//! Checked when a replica becomes leader, against the committed log the checker knows.

use super::{Checker, Ground, InvariantInfo, InvariantKind, NodeView, Violations};
use crate::engine::Simulation;
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "raft_leader_completeness",
    kind: InvariantKind::Safety,
    summary: "A newly elected controller leader has every committed metadata record",
    source: "TLA+ LeaderCompleteness / LeaderHasAllAckedValues (Vanlightly KRaft.tla)",
};

pub(crate) fn on_new_leader(
    g: &mut Ground,
    out: &mut Violations,
    view: &NodeView<'_>,
    sim: &Simulation<Process>,
) {
    let Some(raft) = view.raft else {
        return;
    };
    let epoch = raft.epoch();
    // A stale leader (someone has a higher epoch) is not bound by this.
    let stale = g
        .voters
        .iter()
        .any(|&v| Checker::view(sim, v).is_some_and(|o| o.persisted().epoch > epoch));
    if stale {
        return;
    }
    let log = view.log();
    // The LeaderChange record it just appended is not part of the comparison.
    let missing = g
        .committed
        .iter()
        .enumerate()
        .find(|&(offset, entry)| log.get(offset) != Some(entry));
    if let Some((offset, entry)) = missing {
        let explanation = format!(
            "{} became leader of epoch {epoch} without the committed record at offset {offset} \
             ({}, committed at t={}); its log has {} records{}",
            g.name(view.id),
            super::record_text(g, entry),
            g.committed_at[offset],
            log.len(),
            g.crash_note(view.id)
        );
        out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
    }
}
