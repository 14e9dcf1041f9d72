//! `acked_durability`: every acks=all write that was acknowledged stays at its offset, with
//! its value, in the log of every later non-stale leader.
//!
//! Scope (kafka-protocol.md §3.5 item 1): at most `min.insync.replicas - 1` lossy shutdowns
//! (power or disk loss) of the partition's replicas; past that, Kafka without fsync may lose
//! acknowledged data by design: such a loss is not a violation, but it is reported as a
//! [`LossOutsidePromise`] with its reason, so it is never silent. An unclean election is in
//! scope: it is exactly how acknowledged data is lost, and the lessons show it. acks=1 and
//! acks=0 writes are not covered; the run summary counts their losses.
//!
//! Source: TLA+ `NoCommittedRecordLostGlobally` / Leader Completeness (Vanlightly kip-966);
//! Jepsen's lost writes.

use super::data::{DataCx, DataGround, write_text};
use super::{InvariantInfo, InvariantKind, LossOutsidePromise, Violations};
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "acked_durability",
    kind: InvariantKind::Safety,
    summary: "Every acknowledged acks=all write stays at its offset in every later leader",
    source: "TLA+ NoCommittedRecordLostGlobally / LeaderCompleteness (Vanlightly kip-966); Jepsen lost writes",
};

/// A new non-stale leader lacks the committed log from `missing` on: every acks=all write at
/// or past it is lost.
pub(crate) fn on_loss(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    leader: BrokerId,
    missing: u64,
    election: &str,
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    let lost: Vec<_> = pg
        .acked
        .range(..)
        .filter(|(_, w)| w.end_offset() > missing && !w.lost)
        .map(|(_, w)| *w)
        .collect();
    if lost.is_empty() {
        return;
    }
    let records: u64 = lost.iter().map(|w| u64::from(w.count)).sum();
    dg.stats.acked_writes_lost += records;
    let first = &lost[0];
    if let Some(reason) = pg.outside_promise_reason() {
        // Not a violation, but never silent.
        dg.stats.acked_writes_lost_outside_promise += records;
        out.report_loss(LossOutsidePromise {
            time_ms: cx.g.now.as_micros() as f64 / 1000.0,
            partition: name.to_string(),
            records,
            nodes: vec![
                cx.broker_name(leader).to_string(),
                cx.g.name(first.producer).to_string(),
            ],
            explanation: format!(
                "{name}: {records} acknowledged acks=all record(s) lost outside Kafka's \
                 durability promise, because of {reason}. The first, {}, is not in the log of \
                 {}, leader in epoch {} ({election}){}",
                write_text(cx.g, first),
                cx.broker_name(leader),
                pg.leader_epoch,
                cx.lossy_note(pg),
            ),
        });
        return;
    }
    out.report(
        &INFO,
        cx.g.now,
        vec![
            cx.broker_name(leader).to_string(),
            cx.g.name(first.producer).to_string(),
        ],
        format!(
            "{name}: {} acks=all record(s) lost: {}, is not in the log of {}, leader in epoch \
             {} ({election}), whose log differs from offset {missing}{}{}",
            records,
            write_text(cx.g, first),
            cx.broker_name(leader),
            pg.leader_epoch,
            cx.crash_note(leader),
            cx.lossy_note(pg),
        ),
    );
}
