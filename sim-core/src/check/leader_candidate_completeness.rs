//! `leader_candidate_completeness`: every running member of the controller's ISR or ELR holds
//! the whole committed log, so whichever the controller elects loses nothing.
//!
//! Source: TLA+ `LeaderCandidateCompletenessProperty` (Vanlightly kip-966): "no RUNNING member
//! of the controller ISR or ELR has leo < trueHWM"; kafka-protocol.md §3.5 item 4.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{BrokerId, TopicPartition};
use crate::proto::BrokerState;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "leader_candidate_completeness",
    kind: InvariantKind::Safety,
    summary: "Every running ISR or ELR member holds the whole committed log",
    source: "TLA+ LeaderCandidateCompletenessProperty (Vanlightly kip-966)",
};

pub fn check(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    broker: BrokerId,
) {
    let Some(b) = cx.broker(broker) else {
        return;
    };
    if b.state() != BrokerState::Running {
        return;
    }
    let Some(p) = b.partitions().get(&tp) else {
        return;
    };
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    let candidate = pg.isr.contains(&broker) || pg.elr.contains(&broker);
    if !candidate || !pg.logs_consistent() || pg.incomplete_reported.contains(&broker) {
        return;
    }
    let true_hw = pg.true_hw;
    let Some(at) = pg.verify(broker, p.log.batches(), true_hw) else {
        return;
    };
    pg.incomplete_reported.insert(broker);
    let set = if pg.isr.contains(&broker) {
        "ISR"
    } else {
        "ELR"
    };
    out.report(
        &INFO,
        cx.g.now,
        vec![cx.broker_name(broker).to_string()],
        format!(
            "{name}: {} is running and in the {set} {:?}, yet its log lacks committed offsets \
             from {at} (LEO {}, true HW {true_hw}): electing it would lose them{}",
            cx.broker_name(broker),
            if set == "ISR" { &pg.isr } else { &pg.elr },
            p.log_end_offset(),
            cx.crash_note(broker),
        ),
    );
}
