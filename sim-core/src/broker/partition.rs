//! One partition replica on a broker, leader or follower (`Partition.scala`, `Replica.scala`,
//! kafka-protocol.md §1.2–1.8). Pure: time and the broker's metadata image are arguments, and
//! every handler returns what happened; `broker/mod.rs` turns that into messages and events.
//!
//! Map:
//! - `Partition::make_leader` / `Partition::make_follower`: a committed partition record
//!   names this broker leader or follower (§1.8);
//! - leader: `Partition::append_as_leader` (produce, idempotent dedup),
//!   `Partition::on_replica_fetch` (epoch checks, divergence, follower progress),
//!   `Partition::maybe_increment_hw` (maximal ISR, strict min ISR), ISR shrink and expand
//!   proposals, and the AlterPartition answer;
//! - follower: `Partition::fetch_entry` and `Partition::on_fetch_data` (KIP-279 iterative
//!   truncation by leader epoch, HW = min(leader HW, LEO)).

use std::collections::BTreeMap;

use super::log::{PartitionLog, RecordBatch};
use crate::config::Acks;
use crate::engine::{SimDuration, SimTime};
use crate::kraft::{BrokerId, MetadataImage, PartitionRegistration, TopicPartition};
use crate::proto::{
    AlterPartitionError, AlterPartitionResponse, FetchError, PartitionFetch, PartitionFetchData,
    ProduceBatch, ProduceError,
};

/// Most batches one fetch response carries per partition (`replica.fetch.max.bytes` stands
/// behind this in Kafka).
pub const MAX_FETCH_BATCHES: usize = 64;
/// Batches per producer the leader remembers for deduplication (`ProducerStateEntry`).
const PRODUCER_BATCH_WINDOW: usize = 5;

/// How a partition behaves: its topic's config and the protocol variants in force. The
/// default is a topic with every default of Kafka's and the modern protocol.
#[derive(Clone, Debug)]
pub struct PartitionConfig {
    /// `min.insync.replicas` capped at the replication factor (`Partition.effectiveMinIsr`).
    pub min_isr: usize,
    pub flush_messages: u64,
    pub replica_lag_time_max: SimDuration,
    pub rules: ReplicationRules,
}

/// Protocol rules a variant can switch off (the modern protocol has all of them on).
#[derive(Clone, Copy, Debug)]
pub struct ReplicationRules {
    /// KAFKA-15583 (3.7): the HW does not advance while the ISR is below min ISR.
    pub strict_min_isr: bool,
    /// KIP-101: on becoming follower, keep the log; truncate only by leader epoch.
    /// Off = pre-KIP-101: truncate to the local HW on becoming follower and when the broker
    /// starts (and, having no leader epochs, never reconcile by epoch: `divergence_check` is
    /// off with it).
    pub keep_log_on_follow: bool,
    /// Followers send their last fetched epoch so the leader can detect divergence.
    /// Off (test only): a follower appends whatever the leader has from its LEO on.
    pub divergence_check: bool,
    /// The HW waits for the followers (test only when off: the leader's HW is its LEO).
    pub hw_waits_for_followers: bool,
    /// The ISR changes only when the controller commits it (KIP-497 and KRaft). Off =
    /// `local_isr_shrink`: the leader applies a shrink at once, as ZooKeeper-era leaders
    /// wrote the ISR themselves.
    pub isr_through_controller: bool,
    /// The leader drops retried idempotent batches (KIP-98). Off: test only.
    pub dedupe_producers: bool,
    /// acks=all needs `min.insync.replicas` in the ISR, before the append and when the write
    /// completes (KAFKA-1555). Off = `no_min_isr_check`.
    pub min_isr_on_produce: bool,
    /// The HW waits for the maximal ISR (a follower being added counts at once) and for
    /// caught-up eligible followers (KIP-497). Off = `no_maximal_isr`: the committed ISR only.
    pub hw_over_maximal_isr: bool,
    /// ISR expansion needs the follower at the leader epoch start offset (KAFKA-7128).
    pub leso_rule: bool,
    /// Fetches are checked against the leader epoch they carry (KIP-320).
    pub epoch_fencing_on_fetch: bool,
    /// Broker epochs in fetches and AlterPartition keep an older incarnation's progress from
    /// counting (KIP-903).
    pub broker_epoch_in_isr: bool,
    /// A diverging fetch does not update the follower's progress (KAFKA-13141).
    pub skip_state_on_diverging_fetch: bool,
    /// When and how a follower reconciles its log with its leader's.
    pub truncation: FollowerTruncation,
}

/// How a follower finds where its log leaves its leader's (kafka-protocol.md §1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerTruncation {
    /// Truncate-on-fetch (Kafka 2.7+): every fetch carries the last fetched epoch, and the
    /// leader answers a divergence with (epoch, end offset), resolved as in KIP-279.
    OnEveryFetch,
    /// Kafka 2.0 to 2.6 (`no_truncate_on_fetch`): only the first fetches after becoming
    /// follower carry the epoch (OffsetsForLeaderEpoch then); once the logs agree, fetches
    /// are plain offsets.
    OnBecomeFollower,
    /// Kafka 0.11 to 1.1 (`offsets_for_epoch_v0`, KIP-101 without KIP-279): as
    /// `OnBecomeFollower`, but the answer is an end offset only, and the follower truncates to
    /// it once, without agreeing on an epoch.
    OffsetsForEpochV0,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            min_isr: 1,
            flush_messages: i64::MAX as u64,
            replica_lag_time_max: SimDuration::from_millis(30_000),
            rules: ReplicationRules::default(),
        }
    }
}

impl Default for ReplicationRules {
    fn default() -> Self {
        ReplicationRules {
            strict_min_isr: true,
            keep_log_on_follow: true,
            divergence_check: true,
            hw_waits_for_followers: true,
            isr_through_controller: true,
            dedupe_producers: true,
            min_isr_on_produce: true,
            hw_over_maximal_isr: true,
            leso_rule: true,
            epoch_fencing_on_fetch: true,
            broker_epoch_in_isr: true,
            skip_state_on_diverging_fetch: true,
            truncation: FollowerTruncation::OnEveryFetch,
        }
    }
}

/// What the leader knows of one follower (`Replica.scala` `ReplicaState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerProgress {
    /// Its LEO, as its last non-diverging fetch said; unknown since this leader took over.
    pub leo: Option<u64>,
    pub last_caught_up: Option<SimTime>,
    pub last_fetch_leader_leo: u64,
    pub last_fetch_time: Option<SimTime>,
    /// The broker epoch its fetches carry (KIP-903).
    pub broker_epoch: Option<u64>,
}

/// An AlterPartition in flight (`PendingExpandIsr` / `PendingShrinkIsr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingIsr {
    /// Numbers the proposal: only an answer naming it is read.
    pub proposal: u64,
    pub proposed: Vec<BrokerId>,
    /// The broker epoch each proposed follower's fetches carried when the change was proposed
    /// (KIP-903's `BrokerState`), in `proposed` order. Retries resend these, not whatever a
    /// later incarnation has fetched with since: the proposal was judged on that incarnation.
    pub broker_epochs: Vec<Option<u64>>,
    pub expand: bool,
    pub sent_at: SimTime,
}

/// The leader's side of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    /// The committed ISR.
    pub isr: Vec<BrokerId>,
    pub pending: Option<PendingIsr>,
    /// Leader epoch start offset: the LEO when this epoch began.
    pub leso: u64,
    pub followers: BTreeMap<BrokerId, FollowerProgress>,
}

impl LeaderState {
    /// Whether `r` is in the maximal ISR, without building it (the HW asks per follower).
    pub(crate) fn in_maximal_isr(&self, r: BrokerId) -> bool {
        self.isr.contains(&r)
            || self
                .pending
                .as_ref()
                .is_some_and(|p| p.expand && p.proposed.contains(&r))
    }

    /// `maximalIsr`: the committed ISR plus a follower being added, so the HW already waits
    /// for it; a pending shrink keeps the old ISR until the controller confirms.
    pub(crate) fn maximal_isr(&self) -> Vec<BrokerId> {
        let mut isr = self.isr.clone();
        if let Some(p) = &self.pending
            && p.expand
        {
            for r in &p.proposed {
                if !isr.contains(r) {
                    isr.push(*r);
                }
            }
        }
        isr
    }
}

/// Idempotent-producer state of one producer id (`ProducerStateEntry`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ProducerState {
    /// (base sequence, last sequence, base offset) of the last few batches.
    batches: Vec<(u32, u32, u64)>,
}

impl ProducerState {
    /// Remembers an appended batch, forgetting the oldest beyond the window.
    fn record(&mut self, batch: &RecordBatch) {
        self.batches.push((
            batch.base_sequence,
            batch.last_sequence(),
            batch.base_offset,
        ));
        if self.batches.len() > PRODUCER_BATCH_WINDOW {
            self.batches.remove(0);
        }
    }
}

/// How a follower's fetch of one partition went, for the broker to act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowerOutcome {
    /// The log was cut back from `.0` to `.1`.
    pub truncated: Option<(u64, u64)>,
    /// Records were appended.
    pub appended: bool,
    /// The leader says our leader epoch is stale: wait for metadata before fetching again.
    pub fenced: bool,
    /// A retriable error: back off.
    pub retry: bool,
}

#[derive(Clone, Debug)]
pub struct Partition {
    pub tp: TopicPartition,
    pub replicas: Vec<BrokerId>,
    pub log: PartitionLog,
    pub high_watermark: u64,
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    /// Set while this broker leads.
    pub leader_state: Option<LeaderState>,
    /// Follower: the leader fenced our epoch; wait for newer metadata.
    pub fenced: bool,
    /// Follower: the log agrees with the leader's, as far as the truncation step of
    /// [`FollowerTruncation::OnBecomeFollower`] goes; reset on each new leader epoch.
    pub truncation_done: bool,
    producers: BTreeMap<u64, ProducerState>,
}

impl Partition {
    /// Opens a replica from what its disk holds and the HW checkpoint.
    pub fn open(
        tp: TopicPartition,
        replicas: Vec<BrokerId>,
        mut log: PartitionLog,
        checkpoint_hw: u64,
    ) -> Partition {
        log.recover();
        let mut p = Partition {
            tp,
            replicas,
            high_watermark: checkpoint_hw.min(log.end_offset()),
            log,
            leader: None,
            leader_epoch: 0,
            truncation_done: false,
            partition_epoch: 0,
            leader_state: None,
            fenced: false,
            producers: BTreeMap::new(),
        };
        p.rebuild_producers();
        p
    }

    /// Pre-KIP-101 (Kafka before 0.11, KAFKA-1211): cut the log back to the local HW, the only
    /// point a replica then knew to be committed, on becoming follower and when the broker
    /// starts (with the HW from its checkpoint, up to 5 s stale). Returns the cut, if any.
    pub(crate) fn truncate_to_high_watermark(&mut self) -> Option<(u64, u64)> {
        (self.high_watermark < self.log.end_offset()).then(|| self.truncate_to(self.high_watermark))
    }

    /// What must always hold of a replica (`Partition`, `UnifiedLog`, `LeaderEpochFileCache`):
    /// the HW within the log; an epoch cache whose epochs and start offsets only go forward
    /// and start inside the log; and, while leading, a leader in its own ISR, followers for
    /// every other replica and no more, an epoch that starts inside the log, and an
    /// AlterPartition in flight that keeps the leader.
    pub(crate) fn check_invariants(&self, me: BrokerId) -> Result<(), String> {
        let tp = self.tp;
        let leo = self.log.end_offset();
        ensure!(
            self.high_watermark <= leo,
            "{tp:?} on broker {me}: HW {} is past the log end {leo}",
            self.high_watermark
        );
        let epochs = self.log.epochs();
        ensure!(
            epochs
                .windows(2)
                .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset),
            "{tp:?} on broker {me}: the epoch cache goes back: {epochs:?}"
        );
        let Some(state) = &self.leader_state else {
            return Ok(());
        };
        ensure!(
            self.leader == Some(me),
            "{tp:?} on broker {me}: leads, but names {:?} as leader",
            self.leader
        );
        ensure!(
            state.isr.contains(&me),
            "{tp:?} on broker {me}: the leader is not in its own ISR {:?}",
            state.isr
        );
        ensure!(
            state.leso <= leo,
            "{tp:?} on broker {me}: the leader epoch starts at {} past the log end {leo}",
            state.leso
        );
        ensure!(
            state
                .followers
                .keys()
                .all(|r| *r != me && self.replicas.contains(r))
                && self
                    .replicas
                    .iter()
                    .all(|r| *r == me || state.followers.contains_key(r)),
            "{tp:?} on broker {me}: followers {:?} are not the other replicas {:?}",
            state.followers.keys().collect::<Vec<_>>(),
            self.replicas
        );
        if let Some(p) = &state.pending {
            ensure!(
                p.proposed.contains(&me),
                "{tp:?} on broker {me}: AlterPartition in flight proposes {:?} without the leader",
                p.proposed
            );
        }
        Ok(())
    }

    pub fn log_end_offset(&self) -> u64 {
        self.log.end_offset()
    }
    pub(crate) fn is_leader(&self) -> bool {
        self.leader_state.is_some()
    }

    /// `makeLeader`. Returns true when this starts a new leader epoch here.
    pub(crate) fn make_leader(
        &mut self,
        now: SimTime,
        me: BrokerId,
        reg: &PartitionRegistration,
    ) -> bool {
        if reg.partition_epoch < self.partition_epoch {
            return false;
        }
        self.partition_epoch = reg.partition_epoch;
        self.fenced = false;
        self.replicas.clone_from(&reg.replicas);
        let new_epoch = self.leader_state.is_none() || reg.leader_epoch != self.leader_epoch;
        self.leader = Some(me);
        self.leader_epoch = reg.leader_epoch;
        if !new_epoch {
            // Same epoch: the controller changed the ISR (or confirmed ours).
            let state = self.leader_state.as_mut().expect("leading");
            state.isr.clone_from(&reg.isr);
            state.pending = None;
            return false;
        }
        let leso = self.log.end_offset();
        // The epoch starts here even before it has a record (§1.8).
        self.log.assign_epoch(reg.leader_epoch, leso);
        let followers = reg
            .replicas
            .iter()
            .filter(|&&r| r != me)
            .map(|&r| {
                (
                    r,
                    FollowerProgress {
                        leo: None,
                        last_caught_up: reg.isr.contains(&r).then_some(now),
                        last_fetch_leader_leo: 0,
                        last_fetch_time: None,
                        broker_epoch: None,
                    },
                )
            })
            .collect();
        self.leader_state = Some(LeaderState {
            isr: reg.isr.clone(),
            pending: None,
            leso,
            followers,
        });
        true
    }

    /// `makeFollower`. Returns true when the leader or its epoch changed (so fetching
    /// restarts), with the truncation the pre-KIP-101 rule made, if any.
    pub(crate) fn make_follower(
        &mut self,
        reg: &PartitionRegistration,
        config: &PartitionConfig,
    ) -> (bool, Option<(u64, u64)>) {
        if reg.partition_epoch < self.partition_epoch {
            return (false, None);
        }
        self.partition_epoch = reg.partition_epoch;
        self.replicas.clone_from(&reg.replicas);
        let changed = self.leader_state.is_some()
            || reg.leader != self.leader
            || reg.leader_epoch != self.leader_epoch;
        self.leader = reg.leader;
        self.leader_epoch = reg.leader_epoch;
        self.leader_state = None;
        let mut truncated = None;
        if changed {
            self.fenced = false;
            self.truncation_done = false;
            if !config.rules.keep_log_on_follow {
                // Pre-KIP-101: trust the HW, which lags the leader's by a fetch round trip.
                truncated = self.truncate_to_high_watermark();
            }
        }
        (changed, truncated)
    }

    /// Produce on the leader (§1.2, `appendRecordsToLeader`): the base offset the batch has
    /// (also for a duplicate of a batch already written), or why nothing was appended.
    pub(crate) fn append_as_leader(
        &mut self,
        batch: &ProduceBatch,
        acks: Acks,
        config: &PartitionConfig,
        now: SimTime,
    ) -> Result<u64, ProduceError> {
        let Some(state) = &self.leader_state else {
            return Err(ProduceError::NotLeaderOrFollower);
        };
        if acks == Acks::All && config.rules.min_isr_on_produce && state.isr.len() < config.min_isr
        {
            return Err(ProduceError::NotEnoughReplicas);
        }
        if batch.idempotent && config.rules.dedupe_producers {
            let last = batch.base_sequence + batch.count - 1;
            let entry = self.producers.get(&batch.producer_id);
            if let Some(&(_, _, offset)) = entry.and_then(|e| {
                e.batches
                    .iter()
                    .find(|(first, l, _)| *first == batch.base_sequence && *l == last)
            }) {
                // DUPLICATE_SEQUENCE_NUMBER: already written; answer with where it went.
                return Ok(offset);
            }
            let expected = entry
                .and_then(|e| e.batches.last())
                .map_or(0, |&(_, l, _)| l + 1);
            if batch.base_sequence != expected {
                return Err(ProduceError::OutOfOrderSequenceNumber);
            }
        }
        let record = RecordBatch {
            base_offset: self.log.end_offset(),
            count: batch.count,
            leader_epoch: self.leader_epoch,
            producer_id: batch.producer_id,
            base_sequence: batch.base_sequence,
            idempotent: batch.idempotent,
        };
        self.append(record, config, now);
        Ok(record.base_offset)
    }

    fn append(&mut self, batch: RecordBatch, config: &PartitionConfig, now: SimTime) {
        self.log.append(batch, config.flush_messages, now);
        if batch.idempotent {
            self.producers
                .entry(batch.producer_id)
                .or_default()
                .record(&batch);
        }
    }

    /// Rebuilds the producer state from the log (Kafka loads it from snapshots and the log).
    fn rebuild_producers(&mut self) {
        self.producers.clear();
        for b in self.log.batches().iter().filter(|b| b.idempotent) {
            self.producers.entry(b.producer_id).or_default().record(b);
        }
    }

    /// Cuts the log back to `offset`; the HW follows it down. Returns (from, to).
    fn truncate_to(&mut self, offset: u64) -> (u64, u64) {
        let from = self.log.end_offset();
        self.log.truncate_to(offset);
        self.high_watermark = self.high_watermark.min(offset);
        self.rebuild_producers();
        (from, offset)
    }

    /// KIP-320 epoch check of a fetch against this leader (`checkCurrentLeaderEpoch`); before
    /// KIP-320 (`fencing` off) a leader served any fetch.
    fn check_leader_epoch(&self, current_leader_epoch: u32, fencing: bool) -> Option<FetchError> {
        if self.leader_state.is_none() {
            return Some(FetchError::NotLeaderOrFollower);
        }
        if !fencing {
            return None;
        }
        match current_leader_epoch.cmp(&self.leader_epoch) {
            std::cmp::Ordering::Less => Some(FetchError::FencedLeaderEpoch),
            std::cmp::Ordering::Greater => Some(FetchError::UnknownLeaderEpoch),
            std::cmp::Ordering::Equal => None,
        }
    }

    fn error_data(&self, error: FetchError) -> PartitionFetchData {
        PartitionFetchData {
            tp: self.tp,
            error: Some(error),
            high_watermark: self.high_watermark,
            diverging: None,
            batches: Vec::new(),
        }
    }

    /// Divergence check (truncate-on-fetch): the (epoch, end offset) the fetcher must truncate
    /// to, if its log has records this leader's log does not.
    fn divergence(&self, fetch: &PartitionFetch) -> Result<Option<(u32, u64)>, FetchError> {
        let Some(last) = fetch.last_fetched_epoch else {
            return Ok(None);
        };
        match self.log.end_offset_for_epoch(last) {
            // The fetcher has an epoch newer than any here: it must learn of a newer leader.
            None => Err(FetchError::UnknownLeaderEpoch),
            Some((epoch, end)) if epoch < last || end < fetch.fetch_offset => {
                Ok(Some((epoch, end)))
            }
            Some(_) => Ok(None),
        }
    }

    /// A follower's fetch of this partition (§1.3). Returns the response and whether the
    /// follower's progress was updated (it is not on a diverging fetch, KAFKA-13141).
    pub(crate) fn on_replica_fetch(
        &mut self,
        now: SimTime,
        replica: BrokerId,
        broker_epoch: u64,
        fetch: &PartitionFetch,
        image: &MetadataImage,
        rules: &ReplicationRules,
    ) -> (PartitionFetchData, bool) {
        if let Some(error) =
            self.check_leader_epoch(fetch.current_leader_epoch, rules.epoch_fencing_on_fetch)
        {
            return (self.error_data(error), false);
        }
        if !self.replicas.contains(&replica) {
            return (self.error_data(FetchError::UnknownLeaderEpoch), false);
        }
        let leo = self.log.end_offset();
        let (diverging, batches) = match self.divergence(fetch) {
            Err(error) => return (self.error_data(error), false),
            Ok(Some(diverging)) => (Some(diverging), Vec::new()),
            Ok(None) => (
                None,
                self.log.read(fetch.fetch_offset, leo, MAX_FETCH_BATCHES),
            ),
        };
        // KIP-903: a fetch from an older incarnation than the metadata knows is not progress.
        // `Replica.updateFetchStateOrThrow` refuses it with NOT_LEADER_OR_FOLLOWER, which
        // fails the partition's read; a diverging fetch updates no state, so it is answered.
        // It compares with `getAliveBrokerEpoch`, which knows no epoch of a fenced broker.
        let stale = rules.broker_epoch_in_isr
            && image
                .brokers
                .get(&replica)
                .is_some_and(|b| !b.fenced && b.broker_epoch > broker_epoch);
        if stale && diverging.is_none() {
            return (self.error_data(FetchError::NotLeaderOrFollower), false);
        }
        // KAFKA-13141: a diverging fetch's offset is not the follower's LEO in this log.
        let skip = diverging.is_some() && rules.skip_state_on_diverging_fetch;
        let state = self.leader_state.as_mut().expect("checked: leading");
        // Before KAFKA-13141 a diverging fetch counted too, its offset taken as the LEO even
        // past this leader's log end.
        let updated = !stale && !skip && (fetch.fetch_offset <= leo || diverging.is_some());
        if updated && let Some(f) = state.followers.get_mut(&replica) {
            if fetch.fetch_offset >= leo {
                f.last_caught_up = f.last_caught_up.max(Some(now));
            } else if fetch.fetch_offset >= f.last_fetch_leader_leo {
                f.last_caught_up = f.last_caught_up.max(f.last_fetch_time);
            }
            f.leo = Some(fetch.fetch_offset);
            f.last_fetch_leader_leo = f.last_fetch_leader_leo.max(leo);
            f.last_fetch_time = Some(now);
            f.broker_epoch = rules.broker_epoch_in_isr.then_some(broker_epoch);
        }
        let data = PartitionFetchData {
            tp: self.tp,
            error: None,
            high_watermark: self.high_watermark,
            diverging,
            batches,
        };
        (data, updated)
    }

    /// A consumer's fetch: records below the HW only. A position to validate (KIP-320) is
    /// checked like a follower's log.
    pub(crate) fn on_consumer_fetch(
        &self,
        fetch: &PartitionFetch,
        rules: &ReplicationRules,
    ) -> PartitionFetchData {
        if let Some(error) =
            self.check_leader_epoch(fetch.current_leader_epoch, rules.epoch_fencing_on_fetch)
        {
            return self.error_data(error);
        }
        let diverging = match self.divergence(fetch) {
            Err(error) => return self.error_data(error),
            Ok(d) => d,
        };
        let batches = if diverging.is_some() {
            Vec::new()
        } else {
            self.log
                .read(fetch.fetch_offset, self.high_watermark, MAX_FETCH_BATCHES)
        };
        PartitionFetchData {
            tp: self.tp,
            error: None,
            high_watermark: self.high_watermark,
            diverging,
            batches,
        }
    }

    fn is_caught_up(&self, f: &FollowerProgress, now: SimTime, lag: SimDuration) -> bool {
        f.leo == Some(self.log.end_offset())
            || f.last_caught_up
                .is_some_and(|t| now.saturating_sub(t) <= lag)
    }

    /// `isReplicaIsrEligible`: registered, unfenced, not shutting down, and its fetches carry
    /// the broker epoch the metadata has (KIP-841, KIP-903).
    fn is_eligible(replica: BrokerId, f: &FollowerProgress, image: &MetadataImage) -> bool {
        image
            .brokers
            .get(&replica)
            .is_some_and(|b| b.is_active() && f.broker_epoch.is_none_or(|e| e == b.broker_epoch))
    }

    /// Whether follower `r` holds the HW back: it is in the maximal ISR, or caught up and
    /// eligible (§1.4). The second clause keeps the HW safe in the window where the leader's
    /// pending expansion was replaced by an equal-epoch metadata update (`makeLeader` accepts
    /// an equal partition epoch) while the controller commits the expansion.
    fn holds_hw(
        &self,
        r: BrokerId,
        f: &FollowerProgress,
        now: SimTime,
        image: &MetadataImage,
        config: &PartitionConfig,
    ) -> bool {
        let Some(state) = &self.leader_state else {
            return false;
        };
        if !config.rules.hw_over_maximal_isr {
            // Before KIP-497: the committed ISR alone.
            return state.isr.contains(&r);
        }
        state.in_maximal_isr(r)
            || (self.is_caught_up(f, now, config.replica_lag_time_max)
                && Self::is_eligible(r, f, image))
    }

    /// The replicas the HW waits for: the leader and every follower that [holds it back].
    pub(crate) fn hw_quorum(
        &self,
        now: SimTime,
        image: &MetadataImage,
        config: &PartitionConfig,
    ) -> Vec<BrokerId> {
        let Some(state) = &self.leader_state else {
            return Vec::new();
        };
        let mut quorum: Vec<BrokerId> = self.leader.into_iter().collect();
        for (&r, f) in &state.followers {
            if self.holds_hw(r, f, now, image, config) {
                quorum.push(r);
            }
        }
        quorum
    }

    /// `maybeIncrementLeaderHW` (§1.4). Returns the new HW if it moved.
    pub(crate) fn maybe_increment_hw(
        &mut self,
        now: SimTime,
        image: &MetadataImage,
        config: &PartitionConfig,
    ) -> Option<u64> {
        let state = self.leader_state.as_ref()?;
        if config.rules.strict_min_isr && state.isr.len() < config.min_isr {
            return None;
        }
        let mut new_hw = self.log.end_offset();
        if config.rules.hw_waits_for_followers {
            for (&r, f) in &state.followers {
                let leo = f.leo.unwrap_or(0);
                if leo < new_hw && self.holds_hw(r, f, now, image, config) {
                    new_hw = leo;
                }
            }
        }
        (new_hw > self.high_watermark).then(|| {
            self.high_watermark = new_hw;
            new_hw
        })
    }

    /// `maybeExpandIsr` (§1.6): the ISR to propose with `replica` added, if it qualifies.
    pub(crate) fn isr_to_expand(
        &self,
        replica: BrokerId,
        image: &MetadataImage,
        rules: &ReplicationRules,
    ) -> Option<Vec<BrokerId>> {
        let state = self.leader_state.as_ref()?;
        if state.pending.is_some() || state.isr.contains(&replica) {
            return None;
        }
        let f = state.followers.get(&replica)?;
        let leo = f.leo?;
        let in_sync = leo >= self.high_watermark && (leo >= state.leso || !rules.leso_rule);
        (in_sync && Self::is_eligible(replica, f, image)).then(|| {
            let mut isr = state.isr.clone();
            isr.push(replica);
            isr
        })
    }

    /// `maybeShrinkIsr` (§1.5): the ISR without the followers that have not caught up within
    /// `replica.lag.time.max.ms`, if any.
    pub(crate) fn isr_to_shrink(
        &self,
        now: SimTime,
        config: &PartitionConfig,
    ) -> Option<Vec<BrokerId>> {
        let state = self.leader_state.as_ref()?;
        if state.pending.is_some() {
            return None;
        }
        let lagging = |r: &BrokerId| {
            state
                .followers
                .get(r)
                .is_some_and(|f| !self.is_caught_up(f, now, config.replica_lag_time_max))
        };
        state
            .isr
            .iter()
            .any(lagging)
            .then(|| state.isr.iter().copied().filter(|r| !lagging(r)).collect())
    }

    /// Marks an AlterPartition as sent: the maximal ISR changes with it.
    pub(crate) fn set_pending(
        &mut self,
        proposal: u64,
        proposed: Vec<BrokerId>,
        now: SimTime,
        rules: &ReplicationRules,
    ) {
        if let Some(state) = &mut self.leader_state {
            let expand = proposed.len() > state.isr.len();
            if !expand && !rules.isr_through_controller {
                state.isr.clone_from(&proposed);
            }
            let broker_epochs = proposed
                .iter()
                .map(|r| state.followers.get(r).and_then(|f| f.broker_epoch))
                .collect();
            state.pending = Some(PendingIsr {
                proposal,
                proposed,
                broker_epochs,
                expand,
                sent_at: now,
            });
        }
    }

    /// The controller's answer (`handleAlterPartitionUpdate/Error`): whether it should be
    /// retried, or `None` when it was not read. An answer to another proposal than the pending
    /// one is not, success or error, as `Partition.submitAlterPartition` ignores one once the
    /// partition's state is no longer the proposal it was sent for.
    pub(crate) fn on_alter_partition_response(
        &mut self,
        resp: &AlterPartitionResponse,
    ) -> Option<bool> {
        let state = self.leader_state.as_mut()?;
        if state.pending.as_ref()?.proposal != resp.proposal {
            return None;
        }
        Some(match resp.error {
            None => {
                // `handleAlterPartitionUpdate`: an answer for another leader epoch, or older
                // than what metadata already brought, is ignored. An equal partition epoch
                // means the controller changed nothing (the proposal was the state it has),
                // and the ISR is committed as answered all the same.
                if resp.leader_epoch == self.leader_epoch
                    && resp.partition_epoch >= self.partition_epoch
                {
                    state.isr.clone_from(&resp.isr);
                    self.partition_epoch = resp.partition_epoch;
                    state.pending = None;
                }
                false
            }
            // Revert to the committed ISR.
            Some(AlterPartitionError::IneligibleReplica) => {
                state.pending = None;
                false
            }
            // Stay pending until newer metadata arrives.
            Some(
                AlterPartitionError::FencedLeaderEpoch
                | AlterPartitionError::InvalidUpdateVersion
                | AlterPartitionError::UnknownTopicOrPartition,
            ) => false,
            Some(_) => true,
        })
    }

    /// What this follower asks of its leader.
    pub(crate) fn fetch_entry(&self, config: &PartitionConfig) -> PartitionFetch {
        PartitionFetch {
            tp: self.tp,
            fetch_offset: self.log.end_offset(),
            last_fetched_epoch: match config.rules.truncation {
                _ if !config.rules.divergence_check => None,
                FollowerTruncation::OnEveryFetch => self.log.latest_epoch(),
                _ if self.truncation_done => None,
                _ => self.log.latest_epoch(),
            },
            current_leader_epoch: self.leader_epoch,
        }
    }

    /// A follower handles its leader's answer for this partition (§1.3, §1.8).
    pub(crate) fn on_fetch_data(
        &mut self,
        data: &PartitionFetchData,
        config: &PartitionConfig,
        now: SimTime,
    ) -> FollowerOutcome {
        let mut out = FollowerOutcome::default();
        match data.error {
            Some(FetchError::FencedLeaderEpoch) => {
                self.fenced = true;
                out.fenced = true;
                return out;
            }
            Some(_) => {
                out.retry = true;
                return out;
            }
            None => {}
        }
        if let Some((epoch, end)) = data.diverging {
            let leo = self.log.end_offset();
            if config.rules.truncation == FollowerTruncation::OffsetsForEpochV0 {
                // KIP-101 alone: the end offset is all the answer says; truncate to it once.
                self.truncation_done = true;
                if end < leo {
                    out.truncated = Some(self.truncate_to(end));
                }
                return out;
            }
            // KIP-279 `getOffsetTruncationState`: agree on an epoch, then truncate to the
            // smaller end of it; a follower that lacks the leader's epoch truncates to the end
            // of its largest epoch below and asks again.
            let to = match self.log.end_offset_for_epoch(epoch) {
                Some((local_epoch, local_end)) if local_epoch == epoch => local_end.min(end),
                Some((_, local_end)) => local_end,
                None => end,
            }
            .min(leo);
            if to < leo {
                out.truncated = Some(self.truncate_to(to));
            } else if self.log.latest_epoch().is_some_and(|e| e > epoch) {
                // Nothing to cut, but an epoch entry past the divergence point remains (a
                // leader epoch that never got a record); drop it so the next fetch agrees.
                self.log.truncate_to(to);
            }
            return out;
        }
        // The logs agree from here on (the truncation step of the older protocols is over).
        self.truncation_done = true;
        let leo = self.log.end_offset();
        let fresh: Vec<RecordBatch> = data
            .batches
            .iter()
            .filter(|b| b.base_offset >= leo)
            .copied()
            .collect();
        if fresh.first().is_some_and(|b| b.base_offset == leo) {
            for b in fresh {
                if b.base_offset != self.log.end_offset() {
                    break;
                }
                self.append(b, config, now);
            }
            out.appended = true;
        }
        // A follower's HW follows the leader's, capped at its own LEO; it may go backwards.
        self.high_watermark = data.high_watermark.min(self.log.end_offset());
        out
    }
}

#[cfg(test)]
mod tests;
