//! `unclean_exclusion`: a broker that came back from a lossy shutdown (power or disk loss) is
//! kept out of the ISR, the ELR and leadership of each partition until it has caught up to
//! the true HW it found when it registered again (KIP-966 unclean-shutdown handling; KIP-903
//! broker epochs in AlterPartition).
//!
//! Source: Vanlightly kip-966 prose property "Unclean Exclusion"; kafka-protocol.md §3.5 item 9.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::TopicPartition;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "unclean_exclusion",
    kind: InvariantKind::Safety,
    summary: "A broker back from a lossy shutdown is not in ISR, ELR or leadership until caught up",
    source: "Vanlightly kip-966 Unclean Exclusion; KIP-966, KIP-903",
};

/// After a committed change of `tp`, in log order: brokers that must still catch up must not
/// be in it. (Checked per change, not at registration: the records that take a re-registered
/// broker out of the ISRs follow its registration record and may commit a step later.)
pub fn check(cx: &DataCx<'_>, dg: &mut DataGround, out: &mut Violations, tp: TopicPartition) {
    let name = dg.tp_name(tp);
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    if !pg.logs_consistent() {
        return;
    }
    let waiting: Vec<_> = pg.must_catch_up.iter().map(|(b, o)| (*b, *o)).collect();
    for (b, bound) in waiting {
        // A replica the broker has not opened yet holds nothing it could serve; a broker that
        // is down now (it may have caught up before a crash) holds what its disk kept.
        let leo = cx
            .log(b, tp)
            .and_then(|log| log.last())
            .map_or(0, super::super::broker::log::RecordBatch::end_offset);
        if leo >= bound {
            pg.must_catch_up.remove(&b);
            continue;
        }
        let role = if pg.leader == Some(b) {
            "leader"
        } else if pg.isr.contains(&b) {
            "in the ISR"
        } else if pg.elr.contains(&b) {
            "in the ELR"
        } else {
            continue;
        };
        pg.must_catch_up.remove(&b);
        out.report(
            &INFO,
            cx.g.now,
            vec![cx.broker_name(b).to_string()],
            format!(
                "{name}: {} is {role} (leader epoch {}) with LEO {leo}, but it came back from a \
                 lossy shutdown and has not caught up to offset {bound}, the true HW when it \
                 registered again{}",
                cx.broker_name(b),
                pg.leader_epoch,
                cx.crash_note(b)
            ),
        );
    }
}
