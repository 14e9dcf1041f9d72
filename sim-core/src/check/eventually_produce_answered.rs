//! `eventually_produce_answered` (liveness): every send is answered (acknowledged, failed or
//! timed out) within its producer's `delivery.timeout.ms` of being invoked, unless the producer
//! is down. Kafka's producer guarantees it whatever the cluster does: the `Sender` expires a
//! batch, waiting or in flight, once `delivery.timeout.ms` has passed since it was created
//! (KIP-91). A partition without a leader, or below `min.insync.replicas`, makes a correct
//! producer retry for that long, not for ever. Judged at the liveness moment and at the end of
//! the run, for the sends whose bound has passed by then.
//!
//! Source: TLA+ `EventuallyWriteIsAcceptedOrRejected` (Vanlightly kip-966); KIP-91.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::engine::{NodeId, NodeStatus, SimDuration};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "eventually_produce_answered",
    kind: InvariantKind::Liveness,
    summary: "Every send is answered within its producer's delivery.timeout.ms",
    source: "TLA+ EventuallyWriteIsAcceptedOrRejected (Vanlightly kip-966); KIP-91",
};

/// A send may be answered a little after its deadline: the producer wakes at the deadline and
/// answers in the same step, but the answer is seen by the checkers after it.
const SLACK: SimDuration = SimDuration::from_millis(1);

/// How long `producer` may take to answer a send: its `delivery.timeout.ms`.
fn bound(dg: &DataGround, producer: NodeId) -> SimDuration {
    // Every producer of the cluster is in the map; the default is ProducerConfig's.
    dg.delivery_timeouts
        .get(&producer)
        .copied()
        .unwrap_or(SimDuration::from_secs(120))
}

pub fn check(cx: &DataCx<'_>, dg: &DataGround, out: &mut Violations) {
    let now = cx.g.now;
    let stuck: Vec<_> = dg
        .pending_sends
        .iter()
        .filter(|((producer, ..), at)| {
            **at + bound(dg, *producer) + SLACK < now
                && cx.sim.status(*producer) == NodeStatus::Running
        })
        .collect();
    if let Some(((producer, tp, pid, seq), at)) = stuck.first() {
        let bound_ms = bound(dg, *producer).as_millis();
        out.report(
            &INFO,
            now,
            vec![cx.g.name(*producer).to_string()],
            format!(
                "{} send(s) unanswered past their producer's delivery.timeout.ms; the first: {} \
                 sent producer {pid} sequence {seq} to {} at t={at}, and delivery.timeout.ms is \
                 {bound_ms} ms",
                stuck.len(),
                cx.g.name(*producer),
                dg.tp_name(*tp),
            ),
        );
    }
}
