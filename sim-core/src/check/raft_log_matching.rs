//! `raft_log_matching`: committed metadata is identical everywhere. Every record below a
//! replica's HW equals the record every other replica has at that offset below its HW.
//!
//! Source: Kafka `RaftEventSimulationTest` `ConsistentCommittedData`; TLA+ `NoLogDivergence`
//! (`LogMatching`). The checker keeps the committed log as first seen below any replica's HW
//! and compares each replica's newly committed records with it.

use super::{Ground, InvariantInfo, InvariantKind, NodeView, Violations};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "raft_log_matching",
    kind: InvariantKind::Safety,
    summary: "Metadata records below any replica's high watermark are the same on every replica",
    source: "Kafka RaftEventSimulationTest ConsistentCommittedData; TLA+ NoLogDivergence",
};

pub fn check(g: &mut Ground, out: &mut Violations, view: &NodeView<'_>) {
    let i = view.id.index();
    let hw = view
        .raft
        .and_then(super::super::kraft::raft::Raft::high_watermark)
        .unwrap_or(0)
        .min(view.log().len() as u64);
    if hw < g.verified[i] {
        g.verified[i] = hw;
    }
    let log = view.log();
    for offset in g.verified[i]..hw {
        let entry = &log[offset as usize];
        match g.committed.get(offset as usize) {
            Some(known) if known == entry => {}
            Some(known) => {
                let explanation = format!(
                    "{} has {} at offset {offset} below its HW {hw}, but the committed record \
                     there is {}, committed at t={}{}",
                    g.name(view.id),
                    super::record_text(g, entry),
                    super::record_text(g, known),
                    g.committed_at[offset as usize],
                    g.crash_note(view.id)
                );
                out.report(&INFO, g.now, vec![g.name(view.id).to_string()], explanation);
                break;
            }
            None => {
                g.committed.push(entry.clone());
                g.committed_at.push(g.now);
            }
        }
    }
    g.verified[i] = hw;
}
