//! What the data-plane checkers know to be true (kafka-protocol.md §3.3–3.5), kept up to date
//! from the protocol events after every event.
//!
//! - Each partition's controller view (leader, epochs, ISR, ELR) from committed partition
//!   records.
//! - The **true HW**: the highest HW a non-stale leader (its leader epoch is the controller's)
//!   ever published, and the **committed log** below it, copied from that leader's log as the
//!   true HW advances (`inv_true_hwm` in Vanlightly's specification).
//! - Per broker and partition, how far its log was verified equal to the committed log, so
//!   every check is incremental.
//! - The client history (Jepsen-style): acknowledged writes, reads, failures.
//! - The scope of the durability guarantee: lossy shutdowns (power or disk loss) of each
//!   partition's replicas; past `min.insync.replicas - 1` of them, committed data may be lost
//!   by design and the data-loss invariants no longer apply to that partition (§3.5).

use std::collections::{BTreeMap, BTreeSet};

use crate::broker::log::{RecordBatch, Value, batch_index};
use crate::config::Acks;
use crate::config::ClusterConfig;
use crate::engine::{NodeId, SimTime};
use crate::kraft::{BrokerId, TopicPartition};

/// An acknowledged write, for explanations and the durability checks.
#[derive(Clone, Copy, Debug)]
pub struct AckedWrite {
    pub offset: u64,
    pub count: u32,
    pub producer_id: u64,
    pub base_sequence: u32,
    pub at: SimTime,
    pub producer: NodeId,
    /// A new leader lacked it (already reported by `acked_durability`).
    pub lost: bool,
}

impl AckedWrite {
    pub fn end_offset(&self) -> u64 {
        self.offset + u64::from(self.count)
    }
}

/// An observation of records at offsets: an acknowledged write or a read.
#[derive(Clone, Copy, Debug)]
pub struct Observed {
    pub count: u32,
    pub producer_id: u64,
    pub base_sequence: u32,
    pub by: NodeId,
    pub at: SimTime,
    pub read: bool,
}

impl Observed {
    pub(crate) fn value_at(&self, base_offset: u64, offset: u64) -> Value {
        Value {
            producer_id: self.producer_id,
            sequence: self.base_sequence + (offset - base_offset) as u32,
        }
    }
}

/// One partition as the checkers see it.
#[derive(Clone, Debug, Default)]
pub struct PartitionGround {
    pub replicas: Vec<BrokerId>,
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub isr: Vec<BrokerId>,
    pub elr: Vec<BrokerId>,
    /// The partition exists (its record committed).
    pub created: bool,
    /// The topic's replication config, as its replicas run it.
    pub config: crate::broker::partition::PartitionConfig,
    pub unclean_enabled: bool,
    /// The highest HW a non-stale leader published.
    pub true_hw: u64,
    /// The committed log: batches covering exactly `[0, true_hw)`.
    pub committed: Vec<RecordBatch>,
    /// When the committed log last lost records (a new leader without them), and how.
    pub loss_note: Option<String>,
    /// Per broker: `[0, verified)` of its log equals the committed log.
    pub verified: BTreeMap<BrokerId, u64>,
    /// Each broker's highest known leader epoch of this partition.
    pub known_epochs: BTreeMap<BrokerId, u32>,
    /// Which broker led each leader epoch (`epoch_monotonicity`).
    pub leaders_by_epoch: BTreeMap<u32, BrokerId>,
    /// acks=all writes acknowledged, by base offset.
    pub acked: BTreeMap<u64, AckedWrite>,
    /// acks=1 and acks=0 writes acknowledged (offset unknown for acks=0).
    pub weak_acked: Vec<(Acks, Option<u64>, Value, u32)>,
    /// Every acknowledged (acks=all) or read batch, by base offset.
    pub observed: BTreeMap<u64, Observed>,
    /// Highest offset + 1 any consumer read.
    pub read_end: u64,
    /// Lowest offset any consumer started reading at.
    pub first_read: Option<u64>,
    /// Values read, per producer id: base sequence → (count, offset).
    pub reads_by_value: BTreeMap<u64, BTreeMap<u32, (u32, u64)>>,
    /// Sends that surely failed, per producer id: base sequence → count.
    pub failed: BTreeMap<u64, BTreeMap<u32, u32>>,
    /// Power or disk losses of this partition's replicas.
    pub lossy_shutdowns: u32,
    /// KIP-966 balanced recovery elected the last known leader, an unclean result Kafka
    /// allows once every replica had an unclean shutdown: durability is no longer promised.
    pub unclean_recovery: bool,
    /// An unclean election happened (`unclean.leader.election.enable=true`): replicas may
    /// hold divergent records below stale HWs until they truncate.
    pub unclean_elected: bool,
    /// The leader epoch that started a lineage without some committed records (the latest
    /// unclean election, or a leader elected outside Kafka's durability promise without them):
    /// a replica whose log has a record of that epoch or later has reconciled with it.
    pub lineage_epoch: Option<u32>,
    /// Brokers back from a lossy shutdown that must catch up to this offset before they may
    /// be in the ISR or ELR or lead (`unclean_exclusion`).
    pub must_catch_up: BTreeMap<BrokerId, u64>,
    /// Brokers already reported by `leader_candidate_completeness` since the last ISR change.
    pub incomplete_reported: BTreeSet<BrokerId>,
    /// Brokers already reported by `log_matching`, until they truncate.
    pub diverged: BTreeSet<BrokerId>,
    /// Per producer id: the last offset acknowledged to it.
    pub last_ack: BTreeMap<u64, u64>,
    /// How the current leader was chosen, for explanations.
    pub election_note: String,
    pub leader_changes: u32,
    pub isr_changes: u32,
}

impl PartitionGround {
    /// Within the durability guarantee: at most `min.insync.replicas - 1` lossy shutdowns,
    /// and no last-known-leader election (kafka-protocol.md §1.11, §3.5). Elections under
    /// `unclean.leader.election.enable=true` stay in scope: what they lose is the lesson.
    pub(crate) fn in_scope(&self) -> bool {
        (self.lossy_shutdowns as usize) < self.config.min_isr.max(1) && !self.unclean_recovery
    }

    /// Why Kafka no longer promises this partition's committed data, when it does not.
    pub(crate) fn outside_promise_reason(&self) -> Option<String> {
        if self.unclean_recovery {
            return Some(
                "a KIP-966 last-known-leader election (every replica had an unclean shutdown; \
                 Kafka elects the last leader it knew, accepting what it lost)"
                    .to_string(),
            );
        }
        let min_isr = self.config.min_isr.max(1);
        ((self.lossy_shutdowns as usize) >= min_isr).then(|| {
            format!(
                "{} lossy shutdown(s) (power or disk loss) of its replicas, while Kafka keeps \
                 acknowledged writes through at most min.insync.replicas - 1 = {}",
                self.lossy_shutdowns,
                min_isr - 1
            )
        })
    }

    /// In scope and never elected uncleanly: replica logs and HWs are held to the committed
    /// log (`log_matching`, `no_hw_based_loss`, `leader_candidate_completeness`,
    /// `unclean_exclusion`).
    pub(crate) fn logs_consistent(&self) -> bool {
        self.in_scope() && !self.unclean_elected
    }

    /// The committed value at `offset`, if it is below the true HW.
    pub(crate) fn committed_at(&self, offset: u64) -> Option<(u32, Value)> {
        batch_value(&self.committed, offset)
    }

    /// Grows the committed log to `hw` from a non-stale leader's log.
    pub(crate) fn commit_to(&mut self, hw: u64, leader_log: &[RecordBatch]) {
        if hw <= self.true_hw {
            return;
        }
        self.committed
            .extend(slice_batches(leader_log, self.true_hw, hw));
        self.true_hw = hw;
    }

    /// The committed log loses `[offset, true_hw)`.
    pub(crate) fn lose_from(&mut self, offset: u64) {
        if offset >= self.true_hw {
            return;
        }
        let keep = batch_index(&self.committed, offset);
        self.committed.truncate(keep + 1);
        if let Some(last) = self.committed.last_mut() {
            if last.base_offset >= offset {
                self.committed.pop();
            } else if last.end_offset() > offset {
                last.count = (offset - last.base_offset) as u32;
            }
        }
        self.true_hw = offset;
        for v in self.verified.values_mut() {
            *v = (*v).min(offset);
        }
        self.read_end = self.read_end.min(offset);
    }

    /// Advances `broker`'s verified prefix over its log, up to `upto`, and returns the first
    /// offset where it differs from the committed log, if any.
    pub fn verify(&mut self, broker: BrokerId, log: &[RecordBatch], upto: u64) -> Option<u64> {
        let upto = upto.min(self.true_hw);
        let from = self.verified.get(&broker).copied().unwrap_or(0);
        if from >= upto {
            return None;
        }
        match first_difference(log, &self.committed, from, upto) {
            Some(o) => {
                self.verified.insert(broker, o);
                Some(o)
            }
            None => {
                self.verified.insert(broker, upto);
                None
            }
        }
    }
}

/// Two observations that disagree about the value at an offset.
#[derive(Clone, Copy, Debug)]
pub struct Conflict {
    pub offset: u64,
    pub earlier: Observed,
    pub earlier_value: Value,
    pub value: Value,
}

impl PartitionGround {
    /// Records an observation of `[base, base + o.count)`; returns the first disagreement with
    /// an earlier one, if any.
    pub(crate) fn observe(&mut self, base: u64, o: Observed) -> Option<Conflict> {
        let end = base + u64::from(o.count);
        let before = self
            .observed
            .range(..base)
            .next_back()
            .map(|(b, x)| (*b, *x));
        let overlapping = before
            .into_iter()
            .filter(|(b, x)| b + u64::from(x.count) > base)
            .chain(self.observed.range(base..end).map(|(b, x)| (*b, *x)));
        let mut conflict = None;
        for (b, x) in overlapping {
            let at = b.max(base);
            let (old, new) = (x.value_at(b, at), o.value_at(base, at));
            if old != new {
                conflict = Some(Conflict {
                    offset: at,
                    earlier: x,
                    earlier_value: old,
                    value: new,
                });
                break;
            }
        }
        match self.observed.get_mut(&base) {
            // The first read of an acknowledged write: it is now a read, by that consumer and
            // then (what `consistent_read` and `inconsistent_offsets` report).
            Some(x) if x.count == o.count && o.read && !x.read => *x = o,
            Some(_) => {}
            None if conflict.is_none() => {
                self.observed.insert(base, o);
            }
            None => {}
        }
        conflict
    }
}

/// The seq-range entry of `map` overlapping `[seq, seq + count)`, as (base sequence, count,
/// offset).
pub(crate) fn overlapping_sequence(
    map: &BTreeMap<u32, (u32, u64)>,
    seq: u32,
    count: u32,
) -> Option<(u32, u32, u64)> {
    let end = seq + count;
    let before = map
        .range(..seq)
        .next_back()
        .filter(|(s, (c, _))| **s + *c > seq);
    before
        .into_iter()
        .chain(map.range(seq..end))
        .map(|(s, (c, o))| (*s, *c, *o))
        .next()
}

/// The (epoch, value) at `offset` in a batch list.
pub(crate) fn batch_value(batches: &[RecordBatch], offset: u64) -> Option<(u32, Value)> {
    let i = batch_index(batches, offset);
    let b = batches.get(i).filter(|b| b.base_offset <= offset)?;
    Some((b.leader_epoch, b.value_at(offset)))
}

/// The batches covering `[from, to)`, cut at both ends.
pub(crate) fn slice_batches(batches: &[RecordBatch], from: u64, to: u64) -> Vec<RecordBatch> {
    let start = batch_index(batches, from);
    let mut out = Vec::new();
    for b in &batches[start..] {
        if b.base_offset >= to {
            break;
        }
        let mut s = *b;
        if s.base_offset < from {
            let skip = (from - s.base_offset) as u32;
            s.base_offset = from;
            s.base_sequence += skip;
            s.count -= skip;
        }
        if s.end_offset() > to {
            s.count = (to - s.base_offset) as u32;
        }
        out.push(s);
    }
    out
}

/// The first offset in `[from, to)` where two logs hold different records (epoch or value),
/// or where `a` ends.
pub(crate) fn first_difference(
    a: &[RecordBatch],
    b: &[RecordBatch],
    from: u64,
    to: u64,
) -> Option<u64> {
    let mut offset = from;
    let mut i = batch_index(a, offset);
    let mut j = batch_index(b, offset);
    while offset < to {
        let (Some(x), Some(y)) = (a.get(i), b.get(j)) else {
            return Some(offset);
        };
        if x.base_offset > offset || y.base_offset > offset {
            return Some(offset);
        }
        let end = x.end_offset().min(y.end_offset()).min(to);
        // Records are named by consecutive sequences: equal at the start of the overlap and
        // in the same batch means equal through it.
        if x.leader_epoch != y.leader_epoch || x.value_at(offset) != y.value_at(offset) {
            return Some(offset);
        }
        offset = end;
        if x.end_offset() <= offset {
            i += 1;
        }
        if y.end_offset() <= offset {
            j += 1;
        }
    }
    None
}

/// The data plane's ground truth, for every partition.
#[derive(Clone, Debug, Default)]
pub struct DataGround {
    pub partitions: BTreeMap<TopicPartition, PartitionGround>,
    /// The committed partition changes, each told once (replays dropped).
    pub history: crate::kraft::history::PartitionHistory,
    pub topic_names: std::sync::Arc<[String]>,
    /// Per consumer and partition: the next offset its reads must continue from.
    pub poll_positions: BTreeMap<(NodeId, TopicPartition), u64>,
    /// Sends invoked and not completed: (producer, tp, producer id, base sequence) → when.
    pub pending_sends: BTreeMap<(NodeId, TopicPartition, u64, u32), SimTime>,
    /// Each producer's `delivery.timeout.ms`, by node: how long it may take to answer a send.
    pub delivery_timeouts: BTreeMap<NodeId, crate::engine::SimDuration>,
    pub stats: ClientStats,
}

/// What the clients did, for the run summary.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ClientStats {
    /// Batches sent by producers (each of one or more records).
    pub sends_invoked: u64,
    pub sends_ok: u64,
    pub sends_failed: u64,
    pub sends_indeterminate: u64,
    pub records_acked_acks_all: u64,
    pub records_acked_acks1: u64,
    pub records_sent_acks0: u64,
    /// acks=1 records acknowledged and then lost on failover (not a violation: the trade-off).
    pub acks1_writes_lost: u64,
    /// acks=0 records never written or lost.
    pub acks0_writes_lost: u64,
    /// acks=all records acknowledged and then lost (a violation, unless out of scope).
    pub acked_writes_lost: u64,
    /// Of those, lost outside Kafka's durability promise (not a violation; see
    /// `RunSummary::losses_outside_promise` for why).
    pub acked_writes_lost_outside_promise: u64,
    pub polls: u64,
    pub records_read: u64,
    pub truncations_detected: u64,
}

impl DataGround {
    pub fn new(cluster: &ClusterConfig) -> DataGround {
        let mut partitions = BTreeMap::new();
        for (t, topic) in cluster.topics.iter().enumerate() {
            for (p, replicas) in topic.assignment.iter().enumerate() {
                partitions.insert(
                    TopicPartition {
                        topic: t as u32,
                        partition: p as u32,
                    },
                    PartitionGround {
                        replicas: replicas.clone(),
                        config: cluster.replication[t].clone(),
                        unclean_enabled: topic.unclean_leader_election_enable,
                        ..PartitionGround::default()
                    },
                );
            }
        }
        let delivery_timeouts = cluster
            .names
            .iter()
            .enumerate()
            .filter_map(|(id, name)| {
                let n: usize = name.strip_prefix("producer-")?.parse().ok()?;
                let plan = cluster.producers.get(n.checked_sub(1)?)?;
                let timeout =
                    crate::engine::SimDuration::from_millis(plan.config.delivery_timeout_ms);
                Some((NodeId(id as u32), timeout))
            })
            .collect();
        DataGround {
            partitions,
            topic_names: cluster.topics.iter().map(|t| t.name.clone()).collect(),
            delivery_timeouts,
            ..DataGround::default()
        }
    }

    /// The partition's name (`orders-0`), formatted only when a violation is reported.
    pub fn tp_name(&self, tp: TopicPartition) -> TpName {
        TpName {
            topics: self.topic_names.clone(),
            tp,
        }
    }
}

/// What a data-plane check reads: the KRaft ground (names, crashes) and the simulation.
#[derive(Debug)]
pub struct DataCx<'a> {
    pub g: &'a super::Ground,
    pub sim: &'a crate::engine::Simulation<crate::world::Process>,
}

impl<'a> DataCx<'a> {
    pub fn node(&self, b: BrokerId) -> NodeId {
        self.g.brokers[b as usize - 1]
    }
    /// The broker id of a node, if it is a broker.
    pub(crate) fn broker_of(&self, node: NodeId) -> Option<BrokerId> {
        crate::config::broker_id_of(&self.g.brokers, node)
    }

    pub fn broker_name(&self, b: BrokerId) -> &'a str {
        self.g.name(self.g.brokers[b as usize - 1])
    }
    /// The running broker `b`.
    pub fn broker(&self, b: BrokerId) -> Option<&'a crate::broker::Broker> {
        self.sim.node(self.node(b))?.broker()
    }
    /// `b`'s replica of `tp`, if `b` is running and has opened it.
    pub fn replica(
        &self,
        b: BrokerId,
        tp: TopicPartition,
    ) -> Option<&'a crate::broker::partition::Partition> {
        self.broker(b)?.partitions().get(&tp)
    }
    /// `b`'s log of `tp`, running (opened or still only on disk) or down.
    pub fn log(&self, b: BrokerId, tp: TopicPartition) -> Option<&'a [RecordBatch]> {
        if let Some(broker) = self.broker(b) {
            return broker
                .log(tp)
                .map(super::super::broker::log::PartitionLog::batches);
        }
        match self.sim.disk_of_down_node(self.node(b))? {
            crate::world::Disk::Broker(d) => d
                .logs
                .get(&tp)
                .map(super::super::broker::log::PartitionLog::batches),
            _ => None,
        }
    }
    pub(crate) fn crash_note(&self, b: BrokerId) -> String {
        self.g.crash_note(self.node(b))
    }
    /// Lossy shutdowns of `tp`'s replicas, for explanations.
    pub(crate) fn lossy_note(&self, pg: &PartitionGround) -> String {
        let mut notes = Vec::new();
        for &r in &pg.replicas {
            if let Some((t, kind)) = self.g.last_crash[self.node(r).index()]
                && kind != crate::storage::CrashKind::Process
            {
                notes.push(format!(
                    "{} lost its unflushed data ({}) at t={t}",
                    self.broker_name(r),
                    super::crash_name(kind)
                ));
            }
        }
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        }
    }
}

/// "producer-1's write (producer id 4398046511104, sequences 10..12)" for explanations.
pub(crate) fn write_text(g: &super::Ground, w: &AckedWrite) -> String {
    format!(
        "{}'s write of {} record(s) (producer id {}, sequence {}) acknowledged at t={} at offset {}",
        g.name(w.producer),
        w.count,
        w.producer_id,
        w.base_sequence,
        w.at,
        w.offset
    )
}

/// A partition's name as a violation prints it (`orders-0`); checkers take one before they
/// know whether they will report, so it is formatted only on use.
#[derive(Clone, Debug)]
pub struct TpName {
    topics: std::sync::Arc<[String]>,
    tp: TopicPartition,
}

impl std::fmt::Display for TpName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}",
            self.topics[self.tp.topic as usize], self.tp.partition
        )
    }
}
