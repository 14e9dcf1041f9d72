//! `metadata_prefix`: the metadata every broker (and controller) has applied is a prefix of the
//! committed log.
//!
//! Source: TLA+ `MetadataLogMatchingProperty` (Vanlightly, kip-966 properties).

use super::{Ground, InvariantInfo, InvariantKind, Violations};
use crate::engine::NodeId;
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "metadata_prefix",
    kind: InvariantKind::Safety,
    summary: "Every node's applied metadata is a prefix of the committed metadata log",
    source: "TLA+ MetadataLogMatchingProperty (Vanlightly kip-966)",
};

pub fn check(g: &mut Ground, out: &mut Violations, id: NodeId, p: &Process) {
    let (applied, raft) = match p {
        Process::Broker(b) => (b.image().next_offset, b.raft()),
        Process::Controller(c) => (c.committed_image().next_offset, c.raft()),
        Process::Producer(_) | Process::Consumer(_) => return,
    };
    let committed = g.committed.len() as u64;
    let log = raft.log().entries();
    // Entries below `verified` were compared with the committed log already.
    let checked = g.verified[id.index()];
    let bad = if applied > committed {
        Some(format!(
            "{} has applied {applied} metadata records, but only {committed} are committed",
            g.name(id)
        ))
    } else if applied > checked {
        (checked..applied)
            .find(|&o| log.get(o as usize) != g.committed.get(o as usize))
            .map(|o| {
                format!(
                    "{} applied a record at offset {o} that differs from the committed one",
                    g.name(id)
                )
            })
    } else {
        None
    };
    if let Some(explanation) = bad {
        out.report(&INFO, g.now, vec![g.name(id).to_string()], explanation);
    }
}
