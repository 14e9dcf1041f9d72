//! `eventually_partition_leader` (liveness): within [`super::LIVENESS_BOUND`] of the last fault,
//! every partition that has a running replica the controller may elect (in the ISR or ELR, or
//! any replica with unclean election on) has a leader.
//!
//! Source: kafka-protocol.md §3.5 liveness, "eventually a leader is elected (Raft and
//! partitions) once an eligible replica is reachable".

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::proto::BrokerState;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "eventually_partition_leader",
    kind: InvariantKind::Liveness,
    summary: "Within 30 s of the last fault, every partition with a running eligible replica has a leader",
    source: "kafka-protocol.md §3.5 liveness (eventually a leader is elected)",
};

pub fn check(cx: &DataCx<'_>, dg: &DataGround, out: &mut Violations) {
    for (tp, pg) in &dg.partitions {
        if !pg.created || pg.leader.is_some() {
            continue;
        }
        let eligible: Vec<&str> = pg
            .replicas
            .iter()
            .filter(|r| {
                pg.unclean_enabled
                    || pg.isr.contains(r)
                    || pg.elr.contains(r)
                    || (pg.isr.is_empty() && pg.elr.is_empty())
            })
            .filter(|r| {
                cx.broker(**r)
                    .is_some_and(|b| b.state() == BrokerState::Running)
            })
            .map(|r| cx.broker_name(*r))
            .collect();
        if !eligible.is_empty() {
            out.report(
                &INFO,
                cx.g.now,
                eligible.iter().map(ToString::to_string).collect(),
                format!(
                    "{} has no leader {} s after the last fault, though {} is running and \
                     eligible (ISR {:?}, ELR {:?})",
                    dg.tp_name(*tp),
                    super::LIVENESS_BOUND.as_millis() / 1000,
                    eligible.join(", "),
                    pg.isr,
                    pg.elr
                ),
            );
        }
    }
}
