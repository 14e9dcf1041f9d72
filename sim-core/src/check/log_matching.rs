//! `log_matching`: any two replicas agree below the smaller of their HWs. Checked as: every
//! replica's log below its HW equals the committed log, which is the same for all of them.
//! A replica that differs is reported once, until it truncates. After an unclean election, or a
//! loss outside Kafka's durability promise, a replica is held to this once it holds records of
//! the new leader's epoch (before that it has not yet reconciled with the new lineage). It
//! does not depend on the durability promise: whatever Kafka lost, its replicas must converge.
//!
//! A follower is held to this once its log has agreed with its leader's in the current leader
//! epoch (a fetch answered without a divergence, KIP-279), not before: until then its HW may
//! be one it never confirmed with this leader. A broker that restarts takes its HW from the
//! `replication-offset-checkpoint` file, capped at its log end (`Partition.createLog`), and
//! that file can be older than its log: written before a power loss took the records it
//! counted, it is rewritten only every `replica.high.watermark.checkpoint.interval.ms`, so a
//! crash before the next write leaves the old HW over records that were never committed. Kafka
//! trusts that HW until the follower's first fetch truncates the log (found by the modern
//! exploration; `regressions/stale-hw-checkpoint-over-a-new-log`).
//!
//! Source: TLA+ `LogMatchingProperty` (Vanlightly kip-966); kafka-protocol.md §3.5 item 3.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "log_matching",
    kind: InvariantKind::Safety,
    summary: "Replicas hold the same records below the smaller of their HWs",
    source: "TLA+ LogMatchingProperty (Vanlightly kip-966)",
};

pub fn check(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    broker: BrokerId,
) {
    let Some(p) = cx.replica(broker, tp) else {
        return;
    };
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    // After an unclean election (or a loss outside the promise) replicas may hold records the
    // new lineage never had, until they reconcile with it; once a replica holds a record of
    // that epoch or later, its log below its HW must match again (KIP-279 is what makes it so).
    if let Some(lineage) = pg.lineage_epoch
        && p.log.latest_epoch().is_none_or(|e| e < lineage)
    {
        return;
    }
    // Verify as far as the replica holds committed records (the rest of the run relies on
    // knowing how much committed data each replica has); only a difference below its HW
    // breaks log matching.
    let upto = p.log_end_offset();
    let Some(at) = pg.verify(broker, p.log.batches(), upto) else {
        return;
    };
    let reconciled = p.leader_state.is_some() || p.truncation_done;
    if at >= p.high_watermark || !reconciled || !pg.diverged.insert(broker) {
        return;
    }
    let Some((epoch, value)) = pg.committed_at(at) else {
        return;
    };
    let held = match p.log.batch_at(at) {
        Some(b) => {
            let v = b.value_at(at);
            format!(
                "producer {} sequence {} of epoch {}",
                v.producer_id, v.sequence, b.leader_epoch
            )
        }
        None => "nothing".to_string(),
    };
    out.report(
        &INFO,
        cx.g.now,
        vec![cx.broker_name(broker).to_string()],
        format!(
            "{name}: {}'s log holds {held} at offset {at}, below its HW {}, where the committed \
             log holds producer {} sequence {} of epoch {epoch}{}",
            cx.broker_name(broker),
            p.high_watermark,
            value.producer_id,
            value.sequence,
            cx.crash_note(broker),
        ),
    );
}
