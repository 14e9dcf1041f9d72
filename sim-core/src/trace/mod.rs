//! The trace: typed events, streamed as JSON lines, and a running hash of the canonical trace.
//!
//! Every event the engine handles feeds the hash, whether or not a trace file is written, so
//! determinism can be checked by comparing one number (`trace_hash`). What feeds the hash:
//! - every delivery, timer firing and disconnect notice, as (time, kind, node, peer) words: this
//!   is the hot path, so it is hashed without formatting anything;
//! - every fault, lifecycle change and protocol event, as its time and its structure (the same
//!   value the trace file gets as a JSON line, hashed field by field by [`hasher`] without
//!   formatting it).
//!
//! The trace file holds the second kind always, and the events nodes only tell
//! ([`crate::engine::Effect::Tell`]: a replica's appends, which follow from deliveries already
//! hashed); with [`Verbosity::Messages`] also one line per message delivered. Lines are written
//! through a caller's writer as they happen; nothing is accumulated in memory.

pub mod hasher;

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::{self, Write};

use crate::engine::NodeId;
use crate::fault::Fault;
use crate::storage::CrashKind;

/// How much of the run goes into the trace file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Faults, lifecycle changes and protocol events.
    Events,
    /// Also every message delivered and every message lost.
    Messages,
}

/// Why a node went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownCause {
    Crash(CrashKind),
    /// Exited after a graceful shutdown.
    Shutdown,
}

/// Why a message was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossCause {
    /// The link was cut when it was sent.
    Cut,
    /// The destination was down when it was sent.
    Refused,
    /// The connection broke while it was in flight.
    Broken,
}

/// The body of one trace line: the trace's contract, written by the engine and read back by
/// the reports through the same type (serde both ways), so a field one side renames is a
/// compile error or a parse error, never a silent zero.
///
/// The engine writes borrowed bodies (`Cow::Borrowed`, nothing copied on the hot path); a
/// reader gets owned ones ([`Record`]). `E` is the protocol's event type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body<'a, E: Clone> {
    /// First line: who is who. `nodes` by node id; `topics` by topic id.
    Start {
        seed: u64,
        nodes: Cow<'a, [String]>,
        topics: Cow<'a, [String]>,
    },
    /// A fault from the schedule or the nemesis was applied.
    Fault {
        fault: Cow<'a, Fault>,
    },
    /// A fault that had nothing to act on (restart of a running node, ...).
    FaultIgnored {
        fault: Cow<'a, Fault>,
        why: Cow<'static, str>,
    },
    /// A fault that waits for the node: a restart of a node still shutting down.
    FaultDeferred {
        fault: Cow<'a, Fault>,
        why: Cow<'static, str>,
    },
    Down {
        node: NodeId,
        cause: DownCause,
    },
    Up {
        node: NodeId,
        incarnation: u32,
    },
    Paused {
        node: NodeId,
    },
    Resumed {
        node: NodeId,
        deferred: usize,
    },
    /// The network's connectivity after a partition, one-way cut or heal: groups of nodes that
    /// reach each other both ways (one group when whole), and how many directed links are cut.
    Network {
        groups: Vec<Vec<NodeId>>,
        cut_links: usize,
    },
    /// `node` noticed its connection to `peer` broke.
    Disconnect {
        node: NodeId,
        peer: NodeId,
    },
    /// A protocol event reported by a node.
    Node {
        node: NodeId,
        event: Cow<'a, E>,
    },
    /// A scenario's narration note.
    Note {
        text: Cow<'a, str>,
    },
    /// An invariant violation the checkers found, written after the run (not hashed: it is
    /// derived from the lines above it), at the time it was found.
    Violation {
        invariant: Cow<'a, str>,
        nodes: Cow<'a, [String]>,
        explanation: Cow<'a, str>,
    },
    /// Acknowledged writes lost outside Kafka's durability promise (not a violation), written
    /// after the run like violations (not hashed), at the time of the loss.
    Loss {
        partition: Cow<'a, str>,
        records: u64,
        nodes: Cow<'a, [String]>,
        explanation: Cow<'a, str>,
    },
    /// Last line: the run ended here (not hashed).
    End {
        reason: Cow<'a, str>,
    },
    /// A message was handled (verbose traces only).
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: Cow<'static, str>,
    },
    /// A message was lost (verbose traces only).
    Lost {
        from: NodeId,
        to: NodeId,
        msg: Cow<'static, str>,
        cause: LossCause,
    },
}

/// One trace line as a reader gets it: its time and its owned body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record<E: Clone + 'static> {
    pub t_us: u64,
    #[serde(flatten)]
    pub body: Body<'static, E>,
}

impl<E: Clone> Body<'_, E> {
    /// The line's `type`, as the trace spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Start { .. } => "start",
            Body::Fault { .. } => "fault",
            Body::FaultIgnored { .. } => "fault_ignored",
            Body::FaultDeferred { .. } => "fault_deferred",
            Body::Down { .. } => "down",
            Body::Up { .. } => "up",
            Body::Paused { .. } => "paused",
            Body::Resumed { .. } => "resumed",
            Body::Network { .. } => "network",
            Body::Disconnect { .. } => "disconnect",
            Body::Node { .. } => "node",
            Body::Note { .. } => "note",
            Body::Violation { .. } => "violation",
            Body::Loss { .. } => "loss",
            Body::End { .. } => "end",
            Body::Deliver { .. } => "deliver",
            Body::Lost { .. } => "lost",
        }
    }

    /// The node the line is about, for lines about one node.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Body::Down { node, .. }
            | Body::Up { node, .. }
            | Body::Paused { node }
            | Body::Resumed { node, .. }
            | Body::Disconnect { node, .. }
            | Body::Node { node, .. } => Some(*node),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Line<'a, 'b, E: Clone> {
    t_us: u64,
    #[serde(flatten)]
    body: &'b Body<'a, E>,
}

/// Kinds of hot-path events, hashed as numbers.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Hot {
    Deliver = 1,
    Timer = 2,
    Disconnect = 3,
    Lost = 4,
}

/// A fast, stable 64-bit running hash (not cryptographic: it detects divergence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    #[inline]
    pub(crate) fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(
                c.try_into().expect("chunks_exact gives 8 bytes"),
            ));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 56));
    }

    /// The final value (murmur3's finaliser over the running state).
    pub fn value(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    /// As printed: 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.value())
    }
}

/// Where trace lines go, and the running hash.
pub struct TraceSink {
    hash: TraceHash,
    out: Option<(Box<dyn Write + Send>, Verbosity)>,
    line: Vec<u8>,
    /// The first write error; writing stops there and the error is reported at the end.
    error: Option<io::Error>,
}

impl std::fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSink")
            .field("hash", &self.hash)
            .field("verbosity", &self.out.as_ref().map(|(_, v)| v))
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl TraceSink {
    /// Hash only; no file.
    pub fn hash_only() -> Self {
        TraceSink {
            hash: TraceHash::default(),
            out: None,
            line: Vec::new(),
            error: None,
        }
    }

    /// A sink for a fork of the run: the hash so far carries over, so the fork ends with the
    /// hash the original would; it writes no lines (a fork's trace would start mid-run).
    pub fn fork(&self) -> Self {
        TraceSink {
            hash: self.hash,
            ..Self::hash_only()
        }
    }

    /// Hash, and write JSON lines to `writer` (wrap files in a `BufWriter`).
    pub fn to_writer(writer: Box<dyn Write + Send>, verbosity: Verbosity) -> Self {
        TraceSink {
            out: Some((writer, verbosity)),
            ..Self::hash_only()
        }
    }

    /// Whether message-level lines are being written (so the engine only formats them then).
    #[inline]
    pub(crate) fn wants_messages(&self) -> bool {
        matches!(self.out, Some((_, Verbosity::Messages)))
    }

    /// A hot-path event: hashed as words, never formatted.
    #[inline]
    pub(crate) fn hot(&mut self, t_us: u64, kind: Hot, node: NodeId, peer: u32) {
        self.hash.word(t_us);
        self.hash
            .word(((kind as u64) << 56) | (u64::from(node.0) << 24) | u64::from(peer));
    }

    /// Hashes one event, and writes its line when there is a trace file.
    pub fn record<E: Serialize + Clone>(&mut self, t_us: u64, body: &Body<'_, E>) {
        self.hash.word(t_us);
        hasher::hash_value(&mut self.hash, body);
        if self.out.is_some() {
            self.format(t_us, body);
            self.write_line();
        }
    }

    /// Writes one line without hashing it (message-level lines, already hashed as hot events).
    pub(crate) fn write_only<E: Serialize + Clone>(&mut self, t_us: u64, body: &Body<'_, E>) {
        if self.out.is_some() {
            self.format(t_us, body);
            self.write_line();
        }
    }

    fn format<E: Serialize + Clone>(&mut self, t_us: u64, body: &Body<'_, E>) {
        self.line.clear();
        // Serializing plain data to a Vec cannot fail; a custom Serialize that errors is a bug.
        serde_json::to_writer(&mut self.line, &Line { t_us, body })
            .expect("trace event serializes");
    }

    fn write_line(&mut self) {
        if self.error.is_some() {
            return;
        }
        if let Some((w, _)) = &mut self.out {
            self.line.push(b'\n');
            match w.write_all(&self.line) {
                Ok(()) => {}
                Err(e) => self.error = Some(e),
            }
        }
    }

    pub fn hash(&self) -> TraceHash {
        self.hash
    }

    /// Flushes the writer; returns the hash, or the first write error.
    pub fn finish(&mut self) -> io::Result<TraceHash> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some((w, _)) = &mut self.out {
            w.flush()?;
        }
        Ok(self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("one writer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_hash_does_not_depend_on_whether_a_file_is_written() {
        let buf = Shared::default();
        let mut written = TraceSink::to_writer(Box::new(buf.clone()), Verbosity::Messages);
        let mut silent = TraceSink::hash_only();
        for sink in [&mut written, &mut silent] {
            sink.hot(5, Hot::Deliver, NodeId(1), 2);
            sink.record::<()>(
                7,
                &Body::Down {
                    node: NodeId(1),
                    cause: DownCause::Crash(CrashKind::PowerLoss),
                },
            );
            sink.write_only::<()>(
                8,
                &Body::Deliver {
                    from: NodeId(0),
                    to: NodeId(1),
                    msg: "Fetch".into(),
                },
            );
        }
        assert_eq!(written.finish().unwrap(), silent.finish().unwrap());
        let text = String::from_utf8(buf.0.lock().expect("one writer").clone()).unwrap();
        assert_eq!(
            text,
            "{\"t_us\":7,\"type\":\"down\",\"node\":1,\"cause\":{\"crash\":\"power_loss\"}}\n\
             {\"t_us\":8,\"type\":\"deliver\",\"from\":0,\"to\":1,\"msg\":\"Fetch\"}\n"
        );
    }

    #[test]
    fn the_hash_sees_order_and_content() {
        let mut a = TraceHash::default();
        a.word(1);
        a.word(2);
        let mut b = TraceHash::default();
        b.word(2);
        b.word(1);
        assert_ne!(a.value(), b.value());
        let mut c = TraceHash::default();
        c.bytes(b"abc");
        let mut d = TraceHash::default();
        d.bytes(b"abd");
        assert_ne!(c.value(), d.value());
    }
}
