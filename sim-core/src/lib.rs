//! sim-core: kafkasim's deterministic engine, simulated world, Kafka nodes, checkers and
//! scenario schema. It does no file or terminal I/O: callers hand it readers and writers.
//!
//! - [`engine`]: virtual time, the (time, seq) event queue, seeded RNG streams, the run loop.
//! - [`net`]: TCP-like connections, latency, partitions, slow links.
//! - [`storage`]: disks with flushed and unflushed data, and what each crash kind loses.
//! - [`fault`]: the fault vocabulary.
//! - [`scenario`]: the scenario file format, validation and Kafka's config defaults.
//! - [`trace`]: trace events, the streaming writer and the running trace hash.
//! - [`kraft`]: the controller quorum (KIP-595 Raft) and the quorum controller (KIP-631).
//! - [`broker`]: brokers: metadata observers with a lifecycle, and partition replicas
//!   (replica logs, fetching, ISR, HW, leader epochs, truncation).
//! - [`client`]: producers and consumers, with a Jepsen-style history.
//! - [`proto`]: every message, timer and protocol event of a Kafka process.
//! - [`check`]: invariants, violations, and the KRaft timeline of a run.
//! - [`variants`]: historical protocol behaviour as named flags.
//! - [`world`]: a scenario's processes on the engine, and the run summary.
//! - [`bench`]: the engine benchmark workloads and their bare baselines.

pub mod bench;
pub mod broker;
pub mod check;
pub mod client;
pub mod config;
pub mod engine;
pub mod fault;
pub mod kraft;
pub mod net;
pub mod proto;
pub mod scenario;
pub mod storage;
pub mod suggest;
pub mod trace;
pub mod variants;
pub mod world;
