//! The data plane's protocol events, step by step, handed to the checkers that read them: one
//! function per kind of event (a committed partition change, a fencing, a registration, a new
//! leader, a HW, a truncation, a client's send or poll, a broker running), and after the
//! step the checks of every partition the step touched.

use super::data::{self, DataCx, DataGround};
use super::*;
use crate::kraft::Election;
use crate::kraft::history::LeadershipChange;

impl Checker {
    /// The data plane after one step: each protocol event of the step, in order, then the
    /// partitions it touched.
    pub(super) fn data_events(&mut self, sim: &Simulation<Process>) {
        let mut changed: Vec<TopicPartition> = Vec::new();
        for (id, event) in sim.step_events() {
            self.data_event(sim, *id, event, &mut changed);
        }
        changed.sort_unstable();
        changed.dedup();
        let cx = DataCx {
            g: &self.ground,
            sim,
        };
        let (dg, out) = (&mut self.data, &mut self.violations);
        for tp in changed {
            replication_quorum_superset::check(&cx, dg, out, tp);
        }
        if let Some(actor) = sim.last_actor()
            && let Some(b) = cx.broker_of(actor)
            && let Some(broker) = sim.node(actor).and_then(|p| p.broker())
        {
            for &tp in broker.touched() {
                log_matching::check(&cx, dg, out, tp, b);
                leader_candidate_completeness::check(&cx, dg, out, tp, b);
            }
        }
    }

    /// One protocol event of node `id`; the partitions it changed go into `changed`.
    fn data_event(
        &mut self,
        sim: &Simulation<Process>,
        id: NodeId,
        event: &Event,
        changed: &mut Vec<TopicPartition>,
    ) {
        if self.brokers.apply(event) == Some(false) {
            return; // a new active controller's replay of a registration record already told
        }
        match event {
            Event::PartitionChanged { .. } => {
                return self.on_partition_changed(sim, id, event, changed);
            }
            Event::BrokerFenced { broker, .. } => return self.on_broker_fenced(sim, id, *broker),
            Event::BrokerRegistered { broker, .. } => return self.on_broker_registered(*broker),
            _ => {}
        }
        let cx = DataCx {
            g: &self.ground,
            sim,
        };
        let (dg, out) = (&mut self.data, &mut self.violations);
        let broker = cx.broker_of(id);
        match event {
            Event::BecameLeader {
                tp, leader_epoch, ..
            } => {
                if let Some(b) = broker {
                    on_became_leader(&cx, dg, out, *tp, b, *leader_epoch);
                    if dg.partitions.contains_key(tp) {
                        changed.push(*tp);
                    }
                }
            }
            Event::BecameFollower {
                tp, leader_epoch, ..
            } => {
                if let Some(b) = broker {
                    epoch_monotonicity::on_broker_epoch(&cx, dg, out, *tp, b, *leader_epoch, false);
                }
            }
            Event::HighWatermark {
                tp,
                leader_epoch,
                high_watermark,
                ..
            } => {
                if let Some(b) = broker {
                    on_high_watermark(&cx, dg, out, *tp, b, (*leader_epoch, *high_watermark));
                }
            }
            Event::ReplicaTruncated {
                tp,
                from_offset,
                to_offset,
                ..
            } => {
                if let Some(b) = broker {
                    let (from, to) = (*from_offset, *to_offset);
                    no_hw_based_loss::on_truncated(&cx, dg, out, *tp, b, from, to);
                }
            }
            Event::AlterPartitionSent { tp, .. } | Event::AlterPartitionAnswered { tp, .. } => {
                changed.push(*tp);
            }
            Event::Send { .. } => on_send(&cx, dg, out, id, event),
            Event::Poll { tp, batch } => {
                dg.stats.polls += 1;
                dg.stats.records_read += u64::from(batch.count);
                nonmonotonic_poll::on_poll(&cx, dg, out, *tp, id, batch);
                inconsistent_offsets::on_poll(&cx, dg, out, *tp, id, batch);
                duplicate::on_poll(&cx, dg, out, *tp, id, batch);
                let value = (batch.producer_id, batch.base_sequence, batch.count);
                aborted_read::check(&cx, dg, out, *tp, id, value);
            }
            Event::TruncationDetected { tp, end_offset, .. } => {
                dg.stats.truncations_detected += 1;
                dg.poll_positions.insert((id, *tp), *end_offset);
            }
            Event::BrokerLifecycle {
                state: crate::proto::BrokerState::Running,
            } => {
                let node = sim.node(id).and_then(|p| p.broker());
                let (Some(b), Some(node)) = (broker, node) else {
                    return;
                };
                let tps: Vec<TopicPartition> = node.partitions().keys().copied().collect();
                for tp in tps {
                    leader_candidate_completeness::check(&cx, dg, out, tp, b);
                    // Unfenced: its registration batch has committed whole by now.
                    unclean_exclusion::check(&cx, dg, out, tp);
                }
            }
            _ => {}
        }
    }

    /// A committed partition change, told once: the ground takes it, then the checks of the
    /// controller's metadata and of unclean exclusion, in log order.
    fn on_partition_changed(
        &mut self,
        sim: &Simulation<Process>,
        id: NodeId,
        event: &Event,
        changed: &mut Vec<TopicPartition>,
    ) {
        let cx = DataCx {
            g: &self.ground,
            sim,
        };
        let (dg, out) = (&mut self.data, &mut self.violations);
        let Some(change) = dg.history.apply(event) else {
            return;
        };
        let tp = change.tp;
        if !dg.partitions.contains_key(&tp) {
            return;
        }
        epoch_monotonicity::on_partition_changed(&cx, dg, out, &change);
        take_change(&cx, dg, &change);
        if let Some(c) = sim.node(id).and_then(|p| p.controller()) {
            let image = c.committed_image();
            partition_metadata_well_formed::check(&cx, dg, out, tp, image, self.elr_enabled);
        }
        // In log order: a broker's own re-registration batch takes it out.
        unclean_exclusion::check(&cx, dg, out, tp);
        changed.push(tp);
    }

    /// The controller fenced `broker`: every partition whose ISR still names it is checked
    /// against the committed metadata.
    fn on_broker_fenced(&mut self, sim: &Simulation<Process>, id: NodeId, broker: BrokerId) {
        let Some(c) = sim.node(id).and_then(|p| p.controller()) else {
            return;
        };
        let cx = DataCx {
            g: &self.ground,
            sim,
        };
        let (dg, out) = (&mut self.data, &mut self.violations);
        let image = c.committed_image();
        let tps: Vec<TopicPartition> = image
            .partitions
            .iter()
            .filter(|(_, p)| p.isr.contains(&broker))
            .map(|(tp, _)| *tp)
            .collect();
        for tp in tps {
            partition_metadata_well_formed::check(&cx, dg, out, tp, image, self.elr_enabled);
        }
    }

    /// A broker registered (a new incarnation): after a power or disk loss, its replicas must
    /// catch up to the committed log before they count again.
    fn on_broker_registered(&mut self, broker: BrokerId) {
        if self.lossy_pending.remove(&broker) {
            for pg in self.data.partitions.values_mut() {
                if pg.replicas.contains(&broker) {
                    pg.must_catch_up.insert(broker, pg.true_hw);
                }
            }
        }
    }
}

/// The ground takes a committed change of a partition (told once): its leader, epochs, ISR
/// and ELR, how its leader was chosen, and what an unclean choice means for durability.
fn take_change(cx: &DataCx<'_>, dg: &mut DataGround, change: &LeadershipChange) {
    let Some(pg) = dg.partitions.get_mut(&change.tp) else {
        return;
    };
    let (after, election) = (&change.after, change.election);
    if pg.leader != after.leader || !pg.created {
        pg.leader_changes += 1;
        pg.election_note = match (election, after.leader) {
            (Some(e), Some(l)) => format!(
                "elected {} at t={} by {}",
                cx.broker_name(l),
                cx.g.now,
                match e {
                    Election::Clean => "a clean election",
                    Election::Elr => "an ELR election",
                    Election::LastKnownLeader => "a last-known-leader election",
                    Election::Unclean => "an unclean election",
                    Election::Preferred => "a preferred-leader election",
                    Election::None => "no election",
                }
            ),
            _ => String::new(),
        };
    }
    if pg.isr != after.isr {
        pg.isr_changes += 1;
    }
    match election {
        Some(Election::LastKnownLeader) => pg.unclean_recovery = true,
        Some(Election::Unclean) => {
            pg.unclean_elected = true;
            pg.lineage_epoch = Some(after.leader_epoch);
        }
        _ => {}
    }
    pg.created = true;
    pg.leader = after.leader;
    pg.leader_epoch = after.leader_epoch;
    pg.partition_epoch = after.partition_epoch;
    pg.isr.clone_from(&after.isr);
    pg.elr.clone_from(&after.elr);
    pg.incomplete_reported.clear();
}

/// Broker `b` became leader of `tp` in `leader_epoch` (`makeLeader`). If the controller made
/// it so, what it lacks of the committed log is lost from here on.
fn on_became_leader(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    b: BrokerId,
    leader_epoch: u32,
) {
    epoch_monotonicity::on_broker_epoch(cx, dg, out, tp, b, leader_epoch, true);
    let Some(pg) = dg.partitions.get(&tp) else {
        return;
    };
    if pg.leader != Some(b) || pg.leader_epoch != leader_epoch {
        return;
    }
    let election = pg.election_note.clone();
    let Some(m) = true_hw_monotonic::on_new_leader(cx, dg, out, tp, b, &election) else {
        return;
    };
    acked_durability::on_loss(cx, dg, out, tp, b, m, &election);
    consistent_read::on_loss(cx, dg, out, tp, b, m);
    if let Some(pg) = dg.partitions.get_mut(&tp) {
        if !pg.in_scope() {
            // A new lineage, as after an unclean election: replicas are held to log matching
            // again once they reconcile with it.
            pg.lineage_epoch = Some(leader_epoch);
        }
        pg.lose_from(m);
        for w in pg.acked.values_mut() {
            w.lost |= w.end_offset() > m;
        }
    }
}

/// Broker `b`, leading `tp`, moved its HW: the true HW, if it is the current leader (a stale
/// leader's HW is not), and every leader candidate must hold what it commits.
fn on_high_watermark(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    tp: TopicPartition,
    b: BrokerId,
    (leader_epoch, high_watermark): (u32, u64),
) {
    let Some(pg) = dg.partitions.get_mut(&tp) else {
        return;
    };
    if pg.leader != Some(b) || pg.leader_epoch != leader_epoch {
        return;
    }
    if let Some(p) = cx.replica(b, tp) {
        pg.commit_to(high_watermark, p.log.batches());
    }
    let candidates: Vec<BrokerId> = pg.isr.iter().chain(&pg.elr).copied().collect();
    for r in candidates {
        leader_candidate_completeness::check(cx, dg, out, tp, r);
    }
}

/// A producer's send, as Jepsen's histories tell it: invoked, or completed (acknowledged,
/// failed, indeterminate). Acknowledged writes are what the durability checks hold Kafka to.
fn on_send(
    cx: &DataCx<'_>,
    dg: &mut DataGround,
    out: &mut Violations,
    producer: NodeId,
    event: &Event,
) {
    let Event::Send {
        op,
        tp,
        acks,
        producer_id,
        base_sequence,
        count,
        offset,
        ..
    } = event
    else {
        return;
    };
    let key = (producer, *tp, *producer_id, *base_sequence);
    let stats = &mut dg.stats;
    match op {
        SendOp::Invoke => {
            stats.sends_invoked += 1;
            dg.pending_sends.insert(key, cx.g.now);
            return;
        }
        SendOp::Ok => stats.sends_ok += 1,
        SendOp::Fail => stats.sends_failed += 1,
        SendOp::Info => stats.sends_indeterminate += 1,
    }
    dg.pending_sends.remove(&key);
    let n = u64::from(*count);
    match (op, acks, offset) {
        (SendOp::Ok, Acks::All, Some(offset)) => {
            dg.stats.records_acked_acks_all += n;
            let w = data::AckedWrite {
                offset: *offset,
                count: *count,
                producer_id: *producer_id,
                base_sequence: *base_sequence,
                at: cx.g.now,
                producer,
                lost: false,
            };
            if let Some(pg) = dg.partitions.get_mut(tp) {
                pg.acked.insert(*offset, w);
            }
            unique_offsets::on_ack(cx, dg, out, *tp, w);
        }
        (SendOp::Ok, _, _) => {
            if *acks == Acks::Leader {
                dg.stats.records_acked_acks1 += n;
            } else {
                dg.stats.records_sent_acks0 += n;
            }
            if let Some(pg) = dg.partitions.get_mut(tp) {
                let value = crate::broker::log::Value {
                    producer_id: *producer_id,
                    sequence: *base_sequence,
                };
                pg.weak_acked.push((*acks, *offset, value, *count));
            }
        }
        (SendOp::Fail, _, _) => {
            if let Some(pg) = dg.partitions.get_mut(tp) {
                pg.failed
                    .entry(*producer_id)
                    .or_default()
                    .insert(*base_sequence, *count);
            }
            let value = (*producer_id, *base_sequence, *count);
            aborted_read::check(cx, dg, out, *tp, producer, value);
        }
        _ => {}
    }
}
