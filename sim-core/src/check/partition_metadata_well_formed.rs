//! `partition_metadata_well_formed`: every committed partition state is consistent: ISR and
//! ELR are disjoint subsets of the replicas, the ELR is empty while the ISR has min ISR
//! members, the leader is in the ISR and is an active broker, no fenced broker is in the ISR
//! (with ELR; without it the last replica standing stays, by design), and without ELR the
//! ISR is never empty.
//!
//! Source: TLA+ `ValidControllerState`, `ValidControllerIsrAndElr` (Vanlightly kip-966);
//! kafka-protocol.md §3.5 item 6.

use super::data::{DataCx, DataGround};
use super::{InvariantInfo, InvariantKind, Violations};
use crate::kraft::{MetadataImage, TopicPartition};

pub const INFO: InvariantInfo = InvariantInfo {
    id: "partition_metadata_well_formed",
    kind: InvariantKind::Safety,
    summary: "Committed ISR, ELR and leader are consistent with each other and with broker state",
    source: "TLA+ ValidControllerState / ValidControllerIsrAndElr (Vanlightly kip-966)",
};

pub fn check(
    cx: &DataCx<'_>,
    dg: &DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    image: &MetadataImage,
    elr_enabled: bool,
) {
    let Some(p) = image.partitions.get(&tp) else {
        return;
    };
    let min_isr = dg.partitions.get(&tp).map_or(1, |pg| pg.config.min_isr);
    let mut problems = Vec::new();
    if !p.isr.iter().all(|r| p.replicas.contains(r)) {
        problems.push(format!(
            "ISR {:?} is not within the replicas {:?}",
            p.isr, p.replicas
        ));
    }
    if !p.elr.iter().all(|r| p.replicas.contains(r)) {
        problems.push(format!(
            "ELR {:?} is not within the replicas {:?}",
            p.elr, p.replicas
        ));
    }
    if p.isr.iter().any(|r| p.elr.contains(r)) {
        problems.push(format!("ISR {:?} and ELR {:?} overlap", p.isr, p.elr));
    }
    if p.isr.len() >= min_isr && !p.elr.is_empty() {
        problems.push(format!(
            "the ISR {:?} has min ISR ({min_isr}) members, yet the ELR is {:?}",
            p.isr, p.elr
        ));
    }
    if let Some(l) = p.leader {
        if !p.isr.contains(&l) {
            problems.push(format!("leader {l} is not in the ISR {:?}", p.isr));
        }
        if !image.is_active(l) {
            problems.push(format!("leader {l} is fenced or shutting down"));
        }
    }
    if elr_enabled {
        let fenced: Vec<_> = p
            .isr
            .iter()
            .filter(|r| image.brokers.get(r).is_some_and(|b| b.fenced))
            .collect();
        if !fenced.is_empty() {
            problems.push(format!(
                "fenced broker(s) {fenced:?} in the ISR {:?}",
                p.isr
            ));
        }
    } else if p.isr.is_empty() {
        problems.push("the ISR is empty without ELR".to_string());
    }
    if !problems.is_empty() {
        out.report(
            &INFO,
            cx.g.now,
            Vec::new(),
            format!(
                "{} (leader epoch {}, partition epoch {}): {}",
                dg.tp_name(tp),
                p.leader_epoch,
                p.partition_epoch,
                problems.join("; ")
            ),
        );
    }
}
