//! `eventually_produce_answered` (liveness): within [`super::LIVENESS_BOUND`] of the last
//! fault, every send invoked before it has been answered (acknowledged, failed or timed out),
//! unless its partition has no leader or its producer is down.
//!
//! Source: TLA+ `EventuallyWriteIsAcceptedOrRejected` (Vanlightly kip-966).

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::engine::{NodeStatus, SimTime};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "eventually_produce_answered",
    kind: InvariantKind::Liveness,
    summary: "Within 30 s of the last fault, every earlier send is answered",
    source: "TLA+ EventuallyWriteIsAcceptedOrRejected (Vanlightly kip-966)",
};

pub fn check(cx: &DataCx<'_>, dg: &DataGround, out: &mut Violations, last_fault: SimTime) {
    let stuck: Vec<_> = dg
        .pending_sends
        .iter()
        .filter(|((producer, tp, _, _), at)| {
            **at <= last_fault
                && cx.sim.status(*producer) == NodeStatus::Running
                && dg.partitions.get(tp).is_some_and(|pg| pg.leader.is_some())
        })
        .collect();
    if let Some(((producer, tp, pid, seq), at)) = stuck.first() {
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.g.name(*producer).to_string()],
            format!(
                "{} send(s) still unanswered {} s after the last fault; the first: {} sent \
                 producer {pid} sequence {seq} to {} at t={at}",
                stuck.len(),
                super::LIVENESS_BOUND.as_millis() / 1000,
                cx.g.name(*producer),
                dg.tp_name(*tp),
            ),
        );
    }
}
