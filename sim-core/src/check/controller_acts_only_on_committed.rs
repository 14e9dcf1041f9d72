//! `controller_acts_only_on_committed`: no broker acts on a controller decision before the
//! decision is committed in the metadata log.
//!
//! Source: kafka-protocol.md §3.5 `ControllerActsOnlyOnCommitted`; `QuorumController` completes
//! a write's RPC only once the HW passes its records (`deferredEventQueue`); TLA+ (§6.3 of
//! Vanlightly's replication correctness notes): a zombie controller cannot change anything.
//! Each registration and heartbeat response names the log offset its decisions need; a broker
//! that acted on a response naming an offset not yet committed is a violation.

use super::{Ground, InvariantInfo, InvariantKind, Violations};
use crate::engine::NodeId;
use crate::world::Process;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "controller_acts_only_on_committed",
    kind: InvariantKind::Safety,
    summary: "Brokers act only on controller decisions that are committed",
    source: "QuorumController deferredEventQueue; kafka-protocol.md §3.5 ControllerActsOnlyOnCommitted",
};

pub fn check(g: &mut Ground, out: &mut Violations, id: NodeId, p: &Process) {
    let Process::Broker(b) = p else {
        return;
    };
    let acted = b.acted_on_offset();
    let committed = g.committed.len() as u64;
    if acted > committed {
        let explanation = format!(
            "{} acted on a controller response that needs the metadata log committed to offset \
             {acted}, but only {committed} records are committed anywhere",
            g.name(id)
        );
        out.report(&INFO, g.now, vec![g.name(id).to_string()], explanation);
    }
}
