//! One partition replica's log on a broker's disk: record batches, the leader-epoch cache and
//! the flush policy (`UnifiedLog`, `LeaderEpochFileCache`, kafka-protocol.md §1.1, §1.8).
//!
//! The log holds [`RecordBatch`]es, not single records: a batch names its records by the
//! producer id and sequence range, which is also how the leader deduplicates retries of an
//! idempotent producer. Offsets are dense from the log start offset (always 0 here: no
//! retention is modelled).
//!
//! Data is appended to the page cache and fsynced only every `flush.messages` records (never, by
//! default: Kafka relies on replication). The kernel writes the file back on its own
//! ([`PageCache`]: 30 to 35 s after it became dirty, by default), so a power loss drops only the
//! tail appended since the last write-back. Not modelled: the fsync of a rolled segment
//! (`UnifiedLog.roll`), which with `log.segment.bytes` = 1 GiB short runs never reach.
//! The epoch cache is a small file Kafka writes with fsync; on load, entries at or past the
//! recovered log end are dropped (`LeaderEpochFileCache.truncateFromEnd`, `LogLoader`).

use serde::{Deserialize, Serialize};

use crate::engine::SimTime;
use crate::storage::{Durable, DurableLog, PageCache};

/// A record's identity, as Jepsen's Kafka workload uses a value: which producer wrote it, and
/// its sequence number on this partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Value {
    pub producer_id: u64,
    pub sequence: u32,
}

/// A record batch as the log stores it (`DefaultRecordBatch` header fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBatch {
    pub base_offset: u64,
    pub count: u32,
    /// `partitionLeaderEpoch`: the leader epoch of the leader that appended it.
    pub leader_epoch: u32,
    /// Record `i` of the batch is the value `(producer_id, base_sequence + i)`.
    pub producer_id: u64,
    pub base_sequence: u32,
    /// Written by an idempotent producer: the leader deduplicates it by sequence. (A
    /// non-idempotent batch has producer id -1 on Kafka's wire; kafkasim still names its
    /// records so the client checks can follow them.)
    pub idempotent: bool,
}

impl RecordBatch {
    /// The offset after the batch.
    pub fn end_offset(&self) -> u64 {
        self.base_offset + u64::from(self.count)
    }
    pub(crate) fn last_sequence(&self) -> u32 {
        self.base_sequence + self.count - 1
    }
    /// The value at `offset`, which must be inside the batch.
    pub(crate) fn value_at(&self, offset: u64) -> Value {
        debug_assert!(offset >= self.base_offset && offset < self.end_offset());
        Value {
            producer_id: self.producer_id,
            sequence: self.base_sequence + (offset - self.base_offset) as u32,
        }
    }
}

/// The index of the first batch of `log` (sorted by offset) that ends past `offset`: the
/// batch holding it, or the first after it. Fetches and checks mostly ask about the newest
/// records, so the last few batches are looked at before a binary search over the whole log.
pub(crate) fn batch_index(log: &[RecordBatch], offset: u64) -> usize {
    const NEAR_END: usize = 8;
    let tail = log.len().saturating_sub(NEAR_END);
    match log.get(tail) {
        Some(b) if b.end_offset() > offset => {
            log[..tail].partition_point(|x| x.end_offset() <= offset)
        }
        _ => tail + log[tail..].partition_point(|x| x.end_offset() <= offset),
    }
}

/// `EpochEntry`: the first offset written in a leader epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EpochEntry {
    pub epoch: u32,
    pub start_offset: u64,
}

/// A partition replica's log: what its disk holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionLog {
    batches: DurableLog<RecordBatch>,
    /// When each batch was written (into the page cache), for the kernel's write-back.
    written_at: Vec<SimTime>,
    /// The leader-epoch checkpoint, ascending by epoch and by start offset.
    epochs: Vec<EpochEntry>,
}

impl Durable for PartitionLog {
    fn lose_unflushed(&mut self) {
        self.batches.lose_unflushed();
        self.written_at.truncate(self.batches.len());
    }
    fn wipe(&mut self) {
        self.batches.wipe();
        self.written_at.clear();
        self.epochs.clear();
    }
}

impl PartitionLog {
    /// Log end offset (exclusive).
    pub fn end_offset(&self) -> u64 {
        self.batches.last().map_or(0, RecordBatch::end_offset)
    }
    pub fn batches(&self) -> &[RecordBatch] {
        self.batches.entries()
    }
    pub fn epochs(&self) -> &[EpochEntry] {
        &self.epochs
    }
    /// The latest epoch in the cache (it may have no batch yet: a new leader writes its entry
    /// at once).
    pub(crate) fn latest_epoch(&self) -> Option<u32> {
        self.epochs.last().map(|e| e.epoch)
    }
    /// Records written but not yet flushed to disk.
    pub(crate) fn unflushed_records(&self) -> u64 {
        let flushed = self.batches.flushed_len();
        let flushed_end = match flushed {
            0 => 0,
            n => self.batches.entries()[n - 1].end_offset(),
        };
        self.end_offset() - flushed_end
    }

    /// After a restart: drop epoch entries the recovered log does not reach
    /// (`truncateFromEnd(logEndOffset)` in `LogLoader`).
    pub(crate) fn recover(&mut self) {
        let end = self.end_offset();
        self.epochs.retain(|e| e.start_offset < end);
    }

    /// `LeaderEpochFileCache.assign`: remember that `epoch` starts at `start_offset`. Entries
    /// are only ever added for a newer epoch.
    pub(crate) fn assign_epoch(&mut self, epoch: u32, start_offset: u64) {
        if self.latest_epoch().is_some_and(|e| e >= epoch) {
            return;
        }
        // An entry for an older epoch starting at the same or a later offset never got a
        // record; the newer one replaces it.
        self.epochs.retain(|e| e.start_offset < start_offset);
        self.epochs.push(EpochEntry {
            epoch,
            start_offset,
        });
    }

    /// Appends a batch at the log end (its base offset must be the log end) at `now`, flushing
    /// when `flush_messages` records are unflushed.
    pub fn append(&mut self, batch: RecordBatch, flush_messages: u64, now: SimTime) {
        debug_assert_eq!(batch.base_offset, self.end_offset(), "batches are dense");
        debug_assert!(
            self.written_at.last().is_none_or(|&t| t <= now),
            "batches are written in time order"
        );
        self.assign_epoch(batch.leader_epoch, batch.base_offset);
        self.batches.append(batch);
        self.written_at.push(now);
        if self.unflushed_records() >= flush_messages {
            self.batches.flush();
        }
    }

    /// What the kernel had written back by `now`: the file, dirty since its first unflushed
    /// batch was written, goes to disk whole at the first flusher wake-up after it expired, then
    /// is dirty again from the next batch written after that wake-up.
    pub(crate) fn write_back(&mut self, now: SimTime, page_cache: &PageCache) {
        loop {
            let first_dirty = self.batches.flushed_len();
            let Some(&dirty_since) = self.written_at.get(first_dirty) else {
                return;
            };
            let Some(at) = page_cache.written_back_at(dirty_since, now) else {
                return;
            };
            let written = self.written_at.partition_point(|&t| t <= at);
            debug_assert!(written > first_dirty, "each write-back makes progress");
            self.batches.flush_to(written);
        }
    }

    /// Flushes every batch (a clean shutdown closes the log this way).
    pub fn flush(&mut self) {
        self.batches.flush();
    }

    /// `UnifiedLog.truncateTo`: drops every record at or past `offset`, and the epoch entries
    /// that start there or later. A batch that straddles `offset` keeps its head.
    pub(crate) fn truncate_to(&mut self, offset: u64) {
        let batches = self.batches.entries();
        let keep = batch_index(batches, offset);
        let straddling = batches
            .get(keep)
            .filter(|b| b.base_offset < offset)
            .copied();
        let straddling_written_at = straddling.map(|_| self.written_at[keep]);
        self.batches.truncate(keep);
        self.written_at.truncate(keep);
        if let (Some(mut b), Some(t)) = (straddling, straddling_written_at) {
            b.count = (offset - b.base_offset) as u32;
            self.batches.append(b);
            self.written_at.push(t);
        }
        self.epochs.retain(|e| e.start_offset < offset);
    }

    /// The batch holding `offset`.
    pub(crate) fn batch_at(&self, offset: u64) -> Option<&RecordBatch> {
        let batches = self.batches.entries();
        let i = batch_index(batches, offset);
        batches.get(i).filter(|b| b.base_offset <= offset)
    }

    /// Index of the batch holding `offset`, or of the first batch after it.
    pub(crate) fn batch_index(&self, offset: u64) -> usize {
        batch_index(self.batches.entries(), offset)
    }

    /// The batches from `offset` up to `max_offset` (exclusive), at most `max_batches`.
    pub fn read(&self, offset: u64, max_offset: u64, max_batches: usize) -> Vec<RecordBatch> {
        let batches = self.batches.entries();
        let start = self.batch_index(offset);
        batches[start.min(batches.len())..]
            .iter()
            .take_while(|b| b.end_offset() <= max_offset)
            .take(max_batches)
            .copied()
            .collect()
    }

    /// `LeaderEpochFileCache.endOffsetFor(epoch)`: the largest epoch ≤ `epoch` this log knows,
    /// and where it ends (the start of the next epoch, or the log end for the latest). `None`
    /// is Kafka's (UNDEFINED, UNDEFINED): `epoch` is newer than every epoch here, or there is
    /// none.
    pub(crate) fn end_offset_for_epoch(&self, epoch: u32) -> Option<(u32, u64)> {
        let latest = self.epochs.last()?;
        if latest.epoch == epoch {
            return Some((epoch, self.end_offset()));
        }
        // The first entry of a greater epoch.
        let higher = self.epochs.iter().position(|e| e.epoch > epoch)?;
        let end = self.epochs[higher].start_offset;
        match higher.checked_sub(1) {
            Some(floor) => Some((self.epochs[floor].epoch, end)),
            // No epoch ≤ `epoch` here: the requested epoch ends where ours begin.
            None => Some((epoch, end)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn batch(base_offset: u64, count: u32, leader_epoch: u32) -> RecordBatch {
        RecordBatch {
            base_offset,
            count,
            leader_epoch,
            producer_id: 1,
            base_sequence: base_offset as u32,
            idempotent: true,
        }
    }

    /// Epochs 1 at 0, 3 at 5, 4 at 8; LEO 10.
    fn log() -> PartitionLog {
        let mut log = PartitionLog::default();
        log.append(batch(0, 5, 1), u64::MAX, SimTime::ZERO);
        log.append(batch(5, 3, 3), u64::MAX, SimTime::ZERO);
        log.append(batch(8, 2, 4), u64::MAX, SimTime::ZERO);
        log
    }

    #[test]
    fn end_offset_for_epoch_follows_the_cache_cases() {
        let log = log();
        // The latest epoch ends at the LEO.
        assert_eq!(log.end_offset_for_epoch(4), Some((4, 10)));
        // A known epoch ends where the next begins.
        assert_eq!(log.end_offset_for_epoch(1), Some((1, 5)));
        // An unknown epoch between known ones: the largest below it, ending at the next start.
        assert_eq!(log.end_offset_for_epoch(2), Some((1, 5)));
        // Older than every epoch here.
        assert_eq!(log.end_offset_for_epoch(0), Some((0, 0)));
        // Newer than every epoch here: UNDEFINED.
        assert_eq!(log.end_offset_for_epoch(5), None);
        assert_eq!(PartitionLog::default().end_offset_for_epoch(1), None);
    }

    #[test]
    fn truncation_drops_records_and_epochs_from_the_offset_on() {
        let mut log = log();
        log.truncate_to(6);
        assert_eq!(log.end_offset(), 6);
        assert_eq!(
            log.batches().last().unwrap().count,
            1,
            "the straddling batch keeps its head"
        );
        assert_eq!(
            log.epochs().iter().map(|e| e.epoch).collect::<Vec<_>>(),
            [1, 3]
        );
        log.truncate_to(5);
        assert_eq!(
            log.epochs().iter().map(|e| e.epoch).collect::<Vec<_>>(),
            [1]
        );
    }

    #[test]
    fn a_new_leaders_epoch_entry_needs_no_record_and_recovery_drops_it() {
        let mut log = log();
        log.assign_epoch(6, 10);
        assert_eq!(log.end_offset_for_epoch(4), Some((4, 10)));
        assert_eq!(log.end_offset_for_epoch(6), Some((6, 10)));
        log.assign_epoch(5, 10);
        assert_eq!(log.latest_epoch(), Some(6), "epochs only go forward");
        log.recover();
        assert_eq!(log.latest_epoch(), Some(4));
    }

    #[test]
    fn power_loss_drops_the_unflushed_tail_unless_flush_messages_forced_it() {
        let mut lazy = PartitionLog::default();
        lazy.append(batch(0, 3, 1), u64::MAX, SimTime::ZERO);
        lazy.crash(crate::storage::CrashKind::PowerLoss, SimTime::ZERO);
        lazy.recover();
        assert_eq!(lazy.end_offset(), 0);
        assert_eq!(lazy.latest_epoch(), None);

        let mut eager = PartitionLog::default();
        eager.append(batch(0, 3, 1), 2, SimTime::ZERO);
        eager.append(batch(3, 1, 1), 2, SimTime::ZERO);
        assert_eq!(eager.unflushed_records(), 1);
        eager.crash(crate::storage::CrashKind::PowerLoss, SimTime::ZERO);
        assert_eq!(eager.end_offset(), 3);
    }

    /// One record a second from t = 1 s to t = `last_s`.
    fn written_every_second(last_s: u64) -> PartitionLog {
        let mut log = PartitionLog::default();
        for s in 1..=last_s {
            log.append(batch(s - 1, 1, 1), u64::MAX, SimTime::from_millis(s * 1000));
        }
        log
    }

    /// What a power loss at `at_s` leaves, with `page_cache`.
    fn after_power_loss(mut log: PartitionLog, at_s: u64, page_cache: &PageCache) -> u64 {
        log.write_back(SimTime::from_millis(at_s * 1000), page_cache);
        log.lose_unflushed();
        log.recover();
        log.end_offset()
    }

    #[test]
    fn a_power_loss_keeps_what_the_kernel_wrote_back() {
        let linux = PageCache::default();
        // Dirty since 1 s: written back whole at the 35 s wake-up (31 s due). Records of
        // 1..=35 s survive a power loss at 40 s; those of 36..=40 s are lost.
        assert_eq!(after_power_loss(written_every_second(40), 40, &linux), 35);
        // Before the first write-back nothing is on disk.
        assert_eq!(after_power_loss(written_every_second(34), 34, &linux), 0);
        // Dirty again from 36 s: due at 66 s, written at the 70 s wake-up.
        assert_eq!(after_power_loss(written_every_second(69), 69, &linux), 35);
        assert_eq!(after_power_loss(written_every_second(72), 72, &linux), 70);
        // A kernel that never writes back (vm.dirty_writeback_centisecs = 0): all lost.
        let never = PageCache {
            writeback_interval: None,
            ..linux
        };
        assert_eq!(after_power_loss(written_every_second(72), 72, &never), 0);
    }

    #[test]
    fn the_engine_applies_the_write_back_at_a_power_loss() {
        // Through `Durable::crash`, as the engine calls it, on a broker's disk.
        let mut disk = crate::broker::BrokerDisk::default();
        let tp = crate::kraft::TopicPartition {
            topic: 0,
            partition: 0,
        };
        disk.logs.insert(tp, written_every_second(40));
        disk.crash(
            crate::storage::CrashKind::PowerLoss,
            SimTime::from_millis(40_000),
        );
        let log = disk.logs.get_mut(&tp).expect("the log is kept");
        log.recover();
        assert_eq!(log.end_offset(), 35);
    }

    #[test]
    fn reads_whole_batches_below_a_bound() {
        let log = log();
        let read = log.read(5, 10, 10);
        assert_eq!(read.len(), 2);
        assert_eq!(
            log.read(5, 9, 10).len(),
            1,
            "a batch past the bound is not read"
        );
        assert_eq!(log.read(0, 10, 1).len(), 1);
        assert_eq!(log.batch_at(7).unwrap().base_offset, 5);
        assert!(log.batch_at(10).is_none());
    }

    #[test]
    fn batch_index_agrees_with_a_binary_search_over_the_whole_log() {
        // Batches of 1-3 records; every offset, logs shorter and longer than the 8-batch tail.
        for len in [0usize, 1, 5, 8, 9, 30] {
            let mut log = Vec::new();
            let mut next = 0;
            for i in 0..len {
                let count = 1 + (i % 3) as u32;
                log.push(batch(next, count, 0));
                next += u64::from(count);
            }
            for offset in 0..=next + 2 {
                let want = log.partition_point(|b: &RecordBatch| b.end_offset() <= offset);
                assert_eq!(
                    batch_index(&log, offset),
                    want,
                    "len {len}, offset {offset}"
                );
            }
        }
    }
}
