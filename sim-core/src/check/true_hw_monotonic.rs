//! `true_hw_monotonic`: the true HW never goes back. Every new non-stale leader holds the whole
//! committed log (every record that was ever below a non-stale leader's HW), so the HW the
//! cluster serves never falls below what it once served.
//!
//! Source: TLA+ `LeaderCompletenessProperty` and the true-HWM monotonicity of Vanlightly's
//! kip-966 specification (`inv_true_hwm`); kafka-protocol.md §3.5 item 2.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{BrokerId, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "true_hw_monotonic",
    kind: InvariantKind::Safety,
    summary: "Every new leader holds every record that was ever committed: the true HW never goes back",
    source: "TLA+ LeaderCompletenessProperty / true HWM (Vanlightly kip-966); kafka-protocol.md §3.5",
};

/// A non-stale leader took over: returns the first committed offset its log lacks (reported
/// here when the partition is in scope), or `None` if it holds the whole committed log.
pub(crate) fn on_new_leader(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    leader: BrokerId,
    election: &str,
) -> Option<u64> {
    let log = cx.log(leader, tp)?;
    let name = dg.tp_name(tp);
    let pg = dg.partitions.get_mut(&tp)?;
    pg.verified.remove(&leader);
    let missing = pg.verify(leader, log, pg.true_hw)?;
    if pg.in_scope() {
        let (epoch, value) = pg.committed_at(missing).expect("below the true HW");
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.broker_name(leader).to_string()],
            format!(
                "{name}: {} became leader in epoch {} ({election}) without committed offsets \
                 {missing}..{} (true HW {}); offset {missing} held producer {} sequence {} of \
                 epoch {epoch}{}{}",
                cx.broker_name(leader),
                pg.leader_epoch,
                pg.true_hw,
                pg.true_hw,
                value.producer_id,
                value.sequence,
                cx.crash_note(leader),
                cx.lossy_note(pg),
            ),
        );
    }
    Some(missing)
}
