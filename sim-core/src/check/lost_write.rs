//! `lost_write`: every acknowledged acks=all write at an offset consumers have read past was
//! read. Judged at the end of the run, over the offsets consumers covered.
//!
//! Source: Jepsen's Kafka workload checker, "lost write" (`jepsen.tests.kafka`): an :ok send
//! at or below the highest observed offset that no poll ever saw.

use super::data::{DataCx, DataGround, write_text};
use super::{InvariantInfo, InvariantKind, Violations};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "lost_write",
    kind: InvariantKind::Safety,
    summary: "Every acknowledged acks=all write below the highest offset read was read",
    source: "Jepsen Kafka workload: lost write (jepsen.tests.kafka)",
};

pub fn finish(cx: &DataCx<'_>, dg: &DataGround, out: &mut Violations) {
    for (tp, pg) in &dg.partitions {
        let Some(first_read) = pg.first_read else {
            continue;
        };
        if !pg.in_scope() {
            continue;
        }
        let read_end = pg
            .observed
            .iter()
            .filter(|(_, o)| o.read)
            .map(|(b, o)| b + u64::from(o.count))
            .max()
            .unwrap_or(0);
        let lost: Vec<_> = pg
            .acked
            .values()
            .filter(|w| w.offset >= first_read && w.end_offset() <= read_end)
            .filter(|w| {
                !pg.observed.get(&w.offset).is_some_and(|o| {
                    o.read && o.producer_id == w.producer_id && o.base_sequence == w.base_sequence
                })
            })
            .collect();
        if let Some(w) = lost.first() {
            out.report(
                &INFO,
                cx.g.now,
                vec![cx.g.name(w.producer).to_string()],
                format!(
                    "{}: {} acknowledged write(s) below offset {read_end} were never read; the \
                     first: {}",
                    dg.tp_name(*tp),
                    lost.len(),
                    write_text(cx.g, w)
                ),
            );
        }
    }
}
