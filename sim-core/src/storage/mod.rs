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
//! A clean shutdown is not a crash: the process flushes and exits on its own.

use serde::{Deserialize, Serialize};

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

    /// Applies a crash of the given kind.
    fn crash(&mut self, kind: CrashKind) {
        match kind {
            CrashKind::Process => {}
            CrashKind::PowerLoss => self.lose_unflushed(),
            CrashKind::DiskLoss => self.wipe(),
        }
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
    pub fn flushed_len(&self) -> usize {
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
        log.crash(CrashKind::Process);
        assert_eq!(log.entries(), &[1, 2, 3]);
        assert_eq!(log.flushed_len(), 2);
    }

    #[test]
    fn power_loss_loses_exactly_the_unflushed_tail() {
        let mut log = log_with(&[1, 2], &[3, 4]);
        log.crash(CrashKind::PowerLoss);
        assert_eq!(log.entries(), &[1, 2]);
        log.append(5);
        assert_eq!(log.entries(), &[1, 2, 5]);
    }

    #[test]
    fn disk_loss_loses_everything() {
        let mut log = log_with(&[1, 2], &[3]);
        log.crash(CrashKind::DiskLoss);
        assert!(log.is_empty());
        assert_eq!(log.flushed_len(), 0);
    }

    #[test]
    fn truncation_below_the_flushed_mark_moves_it_down() {
        let mut log = log_with(&[1, 2, 3], &[]);
        log.truncate(1);
        log.append(9);
        log.crash(CrashKind::PowerLoss);
        assert_eq!(log.entries(), &[1]);
    }

    #[test]
    fn cell_power_loss_reverts_to_the_last_fsynced_value() {
        let mut cell = DurableCell::default();
        cell.write_sync(1u32);
        cell.write(2);
        assert_eq!(cell.get(), Some(&2));
        let mut after_process_crash = cell.clone();
        after_process_crash.crash(CrashKind::Process);
        assert_eq!(after_process_crash.get(), Some(&2));
        cell.crash(CrashKind::PowerLoss);
        assert_eq!(cell.get(), Some(&1));
        cell.crash(CrashKind::DiskLoss);
        assert_eq!(cell.get(), None);
    }
}
