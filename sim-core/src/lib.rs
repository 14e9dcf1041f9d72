//! sim-core: kafkasim's deterministic engine, simulated world, Kafka nodes, checkers and
//! scenario schema. It does no file or terminal I/O: callers hand it readers and writers.
//!
//! The modules form layers; each imports only its own layer and those below (ARCHITECTURE.md,
//! enforced by `tests/tidy.rs`):
//!
//! 1. The engine, which knows nothing of Kafka:
//!    - [`engine`]: virtual time, the (time, seq) event queue, seeded RNG streams, the node
//!      contract, the run loop;
//!    - [`net`]: TCP-like connections, latency, partitions, slow links and connections;
//!    - [`storage`]: disks with written-back and dirty data, and what each crash kind loses;
//!    - [`fault`]: the fault vocabulary;
//!    - [`trace`]: the trace's records, the streaming writer and the running trace hash;
//!    - [`suggest`]: "did you mean" for names.
//! 2. The Kafka protocol, as sans-IO nodes:
//!    - [`proto`]: every message, timer and protocol event of a Kafka process;
//!    - [`config`]: Kafka's configuration by Kafka's keys, and the resolved cluster config;
//!    - [`kraft`]: the controller quorum (KIP-595 Raft) and the quorum controller (KIP-631);
//!    - [`broker`]: brokers, with their lifecycle and partition replicas (logs, fetching, ISR,
//!      HW, leader epochs, truncation);
//!    - [`client`]: producers and consumers, with a Jepsen-style history;
//!    - [`variants`]: historical protocol behaviour as named flags.
//! 3. The world and its checkers:
//!    - [`world`]: a resolved scenario's processes on the engine, and the run summary;
//!    - [`check`]: invariants, violations, and the KRaft timeline of a run.
//! 4. [`scenario`]: the scenario file format, validation, and resolution into the world's
//!    [`world::ResolvedScenario`].
//! 5. Above the format:
//!    - [`fuzz`]: random fault schedules (nemesis, swarm) and the shrinker;
//!    - [`mod@bench`]: the engine benchmark workloads and their bare baselines.

/// Returns `Err` with a formatted message from a `check_invariants` unless `cond` holds: the
/// state machines state what must always be true of their own state with it.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

pub mod bench;
pub mod broker;
pub mod check;
pub mod client;
pub mod config;
pub mod engine;
pub mod fault;
pub mod fuzz;
pub mod kraft;
pub mod net;
pub mod proto;
pub mod scenario;
pub mod storage;
pub mod suggest;
pub mod trace;
pub mod variants;
pub mod world;
