//! Per-node disks: what a crash keeps and what it loses.
//!
//! A node's disk is built from two primitives:
//! - [`DurableLog`]: an append-only sequence (a partition log, the `__cluster_metadata` log) with
//!   a flushed prefix and an unflushed tail still in the OS page cache;
//! - [`DurableCell`]: a small file rewritten whole (the KRaft `quorum-state` file, the
//!   high-watermark checkpoint), with the last written and the last flushed contents.
//!
//! How each kind of crash treats them (DESIGN.md principle 3):
//!
//! | crash kind | memory | page cache (unflushed) | flushed data |
//! |---|---|---|---|
//! | process crash (`crash`) | lost | kept | kept |
//! | power loss (`power_loss`) | lost | lost | kept |
//! | disk loss (`disk_loss`) | lost | lost | lost |
//!
//! "Flushed" is not only what a process fsynced: the kernel writes dirty pages back on its own
//! ([`PageCache`]), so a power loss loses only what had not been written back by then. A clean
//! shutdown is not a crash: the process flushes and exits on its own.

use serde::{Deserialize, Serialize};

use crate::engine::{SimDuration, SimTime};

/// The three ways a process can die without its consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashKind {
    /// The process dies (kill -9, OOM). The OS keeps the page cache, so nothing written is lost.
    Process,
    /// The host loses power: writes not yet flushed (fsync) are lost.
    PowerLoss,
    /// The disk is gone: the node comes back empty.
    DiskLoss,
}

/// A disk (or a part of one) that a crash acts on.
pub trait Durable {
    /// Power loss: drop everything not flushed.
    fn lose_unflushed(&mut self);
    /// Disk loss: drop everything.
    fn wipe(&mut self);
    /// Marks flushed what the kernel had written back on its own by `now` ([`PageCache`]).
    /// Nothing, for data that only an fsync makes durable.
    fn write_back(&mut self, now: SimTime) {
        let _ = now;
    }

    /// Applies a crash of the given kind at `now`.
    fn crash(&mut self, kind: CrashKind, now: SimTime) {
        match kind {
            CrashKind::Process => {}
            CrashKind::PowerLoss => {
                self.write_back(now);
                self.lose_unflushed();
            }
            CrashKind::DiskLoss => self.wipe(),
        }
    }
}

/// The kernel's write-back of dirty pages (Linux `vm.dirty_expire_centisecs`,
/// `vm.dirty_writeback_centisecs`). The flusher threads wake every `writeback_interval` (from the
/// host's boot, taken as t = 0) and write out every file that has been dirty for at least
/// `dirty_expire`; a file is written whole (its `dirtied_when` is when it first became dirty), and
/// is clean again until its next write. So a file appended to all the time is written back every
/// 30 to 35 s by default, and a power loss loses what was appended since its last write-back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCache {
    /// `vm.dirty_expire_centisecs` (default 3000: 30 s).
    pub dirty_expire: SimDuration,
    /// `vm.dirty_writeback_centisecs` (default 500: 5 s); `None` (0) turns periodic write-back
    /// off, so only an fsync makes data durable.
    pub writeback_interval: Option<SimDuration>,
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache {
            dirty_expire: SimDuration::from_secs(30),
            writeback_interval: Some(SimDuration::from_secs(5)),
        }
    }
}

impl PageCache {
    /// When a file dirty since `dirty_since` is written back: the first flusher wake-up at least
    /// `dirty_expire` later, if it came by `now`.
    pub(crate) fn written_back_at(&self, dirty_since: SimTime, now: SimTime) -> Option<SimTime> {
        let interval = self.writeback_interval?.as_micros();
        if interval == 0 {
            return None;
        }
        let due = dirty_since
            .as_micros()
            .saturating_add(self.dirty_expire.as_micros());
        let wake = due.div_ceil(interval).saturating_mul(interval);
        (wake <= now.as_micros()).then(|| SimTime::from_micros(wake))
    }
}

/// A process with no disk (a client).
impl Durable for () {
    fn lose_unflushed(&mut self) {}
    fn wipe(&mut self) {}
}

/// An append-only log with a flushed prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableLog<T> {
    entries: Vec<T>,
    /// Entries `[0, flushed)` are on stable storage.
    flushed: usize,
}

impl<T> Default for DurableLog<T> {
    fn default() -> Self {
        DurableLog {
            entries: Vec::new(),
            flushed: 0,
        }
    }
}

impl<T> DurableLog<T> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// How many entries are on stable storage.
    pub(crate) fn flushed_len(&self) -> usize {
        self.flushed
    }
    pub fn entries(&self) -> &[T] {
        &self.entries
    }
    pub fn last(&self) -> Option<&T> {
        self.entries.last()
    }
    pub fn get(&self, index: usize) -> Option<&T> {
        self.entries.get(index)
    }
    /// Appends to the page cache; not durable until [`DurableLog::flush`].
    pub fn append(&mut self, entry: T) {
        self.entries.push(entry);
    }
    /// Removes entries from `len` on. Truncation is a metadata operation that Kafka syncs at once
    /// (`UnifiedLog.truncateTo` flushes the segment), so the flushed mark moves down with it.
    pub fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
        self.flushed = self.flushed.min(len);
    }
    /// Makes every entry durable (fsync).
    pub fn flush(&mut self) {
        self.flushed = self.entries.len();
    }
    /// Makes the first `len` entries durable (a write-back of what was written by then).
    pub(crate) fn flush_to(&mut self, len: usize) {
        self.flushed = self.flushed.max(len.min(self.entries.len()));
    }
}

impl<T> Durable for DurableLog<T> {
    fn lose_unflushed(&mut self) {
        self.entries.truncate(self.flushed);
    }
    fn wipe(&mut self) {
        self.entries.clear();
        self.flushed = 0;
    }
}

/// A small file written whole: the last written contents and the last flushed contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableCell<T> {
    written: Option<T>,
    flushed: Option<T>,
}

impl<T> Default for DurableCell<T> {
    fn default() -> Self {
        DurableCell {
            written: None,
            flushed: None,
        }
    }
}

impl<T: Clone> DurableCell<T> {
    /// What a reader sees now (the page cache).
    pub fn get(&self) -> Option<&T> {
        self.written.as_ref()
    }
    /// Writes without fsync.
    pub fn write(&mut self, value: T) {
        self.written = Some(value);
    }
    /// Writes and fsyncs (KRaft persists its election state this way before acting on it).
    pub fn write_sync(&mut self, value: T) {
        self.flushed = Some(value.clone());
        self.written = Some(value);
    }
    pub fn flush(&mut self) {
        self.flushed = self.written.clone();
    }
}

impl<T: Clone> Durable for DurableCell<T> {
    fn lose_unflushed(&mut self) {
        self.written = self.flushed.clone();
    }
    fn wipe(&mut self) {
        self.written = None;
        self.flushed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(flushed: &[u32], unflushed: &[u32]) -> DurableLog<u32> {
        let mut log = DurableLog::new();
        for v in flushed {
            log.append(*v);
        }
        log.flush();
        for v in unflushed {
            log.append(*v);
        }
        log
    }

    #[test]
    fn process_crash_keeps_the_page_cache() {
        let mut log = log_with(&[1, 2], &[3]);
        log.crash(CrashKind::Process, SimTime::ZERO);
        assert_eq!(log.entries(), &[1, 2, 3]);
        assert_eq!(log.flushed_len(), 2);
    }

    #[test]
    fn power_loss_loses_exactly_the_unflushed_tail() {
        let mut log = log_with(&[1, 2], &[3, 4]);
        log.crash(CrashKind::PowerLoss, SimTime::ZERO);
        assert_eq!(log.entries(), &[1, 2]);
        log.append(5);
        assert_eq!(log.entries(), &[1, 2, 5]);
    }

    #[test]
    fn disk_loss_loses_everything() {
        let mut log = log_with(&[1, 2], &[3]);
        log.crash(CrashKind::DiskLoss, SimTime::ZERO);
        assert!(log.is_empty());
        assert_eq!(log.flushed_len(), 0);
    }

    #[test]
    fn truncation_below_the_flushed_mark_moves_it_down() {
        let mut log = log_with(&[1, 2, 3], &[]);
        log.truncate(1);
        log.append(9);
        log.crash(CrashKind::PowerLoss, SimTime::ZERO);
        assert_eq!(log.entries(), &[1]);
    }

    #[test]
    fn the_page_cache_writes_a_file_back_at_the_first_wake_up_after_it_expires() {
        let pc = PageCache::default();
        let t = SimTime::from_millis;
        // Dirty at 1 s: due at 31 s, written at the 35 s wake-up.
        assert_eq!(pc.written_back_at(t(1_000), t(34_999)), None);
        assert_eq!(pc.written_back_at(t(1_000), t(40_000)), Some(t(35_000)));
        // Exactly on a wake-up.
        assert_eq!(pc.written_back_at(t(5_000), t(35_000)), Some(t(35_000)));
        let never = PageCache {
            writeback_interval: None,
            ..pc
        };
        assert_eq!(never.written_back_at(t(0), t(1_000_000)), None);
    }

    #[test]
    fn cell_power_loss_reverts_to_the_last_fsynced_value() {
        let mut cell = DurableCell::default();
        cell.write_sync(1u32);
        cell.write(2);
        assert_eq!(cell.get(), Some(&2));
        let mut after_process_crash = cell.clone();
        after_process_crash.crash(CrashKind::Process, SimTime::ZERO);
        assert_eq!(after_process_crash.get(), Some(&2));
        cell.crash(CrashKind::PowerLoss, SimTime::ZERO);
        assert_eq!(cell.get(), Some(&1));
        cell.crash(CrashKind::DiskLoss, SimTime::ZERO);
        assert_eq!(cell.get(), None);
    }
}
