//! `consistent_read`: a record a consumer read at an offset is never replaced: every later
//! non-stale leader still holds it there, unchanged.
//!
//! Source: TLA+ `ConsistentReadProperty` (Vanlightly kip-966); kafka-protocol.md §3.5 item 2.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "consistent_read",
    kind: InvariantKind::Safety,
    summary: "A record a consumer read is never replaced at its offset",
    source: "TLA+ ConsistentReadProperty (Vanlightly kip-966)",
};

pub(crate) fn on_loss(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    leader: BrokerId,
    missing: u64,
) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get(&tp) else {
        return;
    };
    if pg.read_end <= missing || !pg.in_scope() {
        return;
    }
    let Some((base, o)) = pg
        .observed
        .range(..=missing)
        .next_back()
        .filter(|(base, o)| o.read && **base + u64::from(o.count) > missing)
    else {
        return;
    };
    let value = o.value_at(*base, missing);
    out.report(
        &INFO,
        cx.g.now,
        vec![
            cx.broker_name(leader).to_string(),
            cx.g.name(o.by).to_string(),
        ],
        format!(
            "{name}: {} read producer {} sequence {} at offset {missing} at t={}, but {}, leader \
             in epoch {}, no longer has it (consumers had read up to offset {}){}",
            cx.g.name(o.by),
            value.producer_id,
            value.sequence,
            o.at,
            cx.broker_name(leader),
            pg.leader_epoch,
            pg.read_end,
            cx.lossy_note(pg),
        ),
    );
}
