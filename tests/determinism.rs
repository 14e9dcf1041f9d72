//! Same seed, same run: a multi-node workload with every kind of fault, run twice with one seed,
//! gives the same trace hash and the same trace bytes; another seed gives a different run.

use std::io::Write;
use std::sync::Arc;

use sim_core::engine::{
    Limits, Message, NoEvent, Node, NodeCtx, NodeId, SimConfig, SimDuration, SimTime, Simulation,
    Timer,
};
use sim_core::fault::Fault;
use sim_core::net::LatencyModel;
use sim_core::storage::{CrashKind, DurableLog};
use sim_core::trace::{TraceSink, Verbosity};

#[derive(Debug, Clone, Copy)]
struct Rumour(u64);
impl Message for Rumour {
    fn name(&self) -> &'static str {
        "Rumour"
    }
}

#[derive(Debug, Clone, Copy)]
struct Tick;
impl Timer for Tick {
    fn slot(&self) -> usize {
        0
    }
}

/// Gossips on a jittered timer to a peer chosen from what it heard; persists what it hears,
/// flushing every fourth entry.
struct Gossip {
    nodes: u32,
    heard: DurableLog<u64>,
    count: u64,
}

impl Node for Gossip {
    type Msg = Rumour;
    type Timer = Tick;
    type Event = NoEvent;
    type Disk = DurableLog<u64>;
    type Spec = u32;

    fn boot(nodes: &u32, heard: DurableLog<u64>, _: u32) -> Self {
        Gossip {
            nodes: *nodes,
            count: heard.len() as u64,
            heard,
        }
    }
    fn into_disk(self) -> DurableLog<u64> {
        self.heard
    }
    fn on_start(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        ctx.set_timer_random(
            Tick,
            SimDuration::from_millis(5),
            SimDuration::from_millis(50),
        );
    }
    fn on_message(&mut self, _: &mut NodeCtx<'_, Self>, _: NodeId, r: Rumour) {
        self.heard.append(r.0);
        if self.heard.len().is_multiple_of(4) {
            self.heard.flush();
        }
    }
    fn on_timer(&mut self, ctx: &mut NodeCtx<'_, Self>, _: Tick) {
        self.count += 1;
        let last = self.heard.last().copied().unwrap_or(0);
        let peer = (ctx.me().0 + 1 + (last % u64::from(self.nodes - 1)) as u32) % self.nodes;
        ctx.send(
            NodeId(peer),
            Rumour(last.wrapping_mul(31).wrapping_add(self.count)),
        );
        ctx.set_timer_random(
            Tick,
            SimDuration::from_millis(5),
            SimDuration::from_millis(50),
        );
    }
}

#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("one writer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the workload, writing a full trace or only hashing; returns (hash, trace bytes, events).
fn run_with(seed: u64, write: bool) -> (String, Vec<u8>, u64) {
    let n = 7;
    let config = SimConfig {
        seed,
        latency: LatencyModel::LongTail {
            min_us: 200,
            max_us: 3_000,
            tail_probability: 0.02,
            tail_max_us: 80_000,
        },
        disconnect_detection: SimDuration::from_millis(30),
    };
    let buf = Shared::default();
    let trace = if write {
        TraceSink::to_writer(Box::new(buf.clone()), Verbosity::Messages)
    } else {
        TraceSink::hash_only()
    };
    let mut sim: Simulation<Gossip> = Simulation::new(
        config,
        (0..n).map(|_| (n, DurableLog::new())).collect(),
        trace,
    );
    let ms = SimTime::from_millis;
    let node = NodeId;
    for (at, fault) in [
        (
            500,
            Fault::Crash {
                node: node(1),
                kind: CrashKind::Process,
            },
        ),
        (
            700,
            Fault::Crash {
                node: node(2),
                kind: CrashKind::PowerLoss,
            },
        ),
        (900, Fault::Restart { node: node(1) }),
        (
            1_000,
            Fault::Partition {
                groups: vec![vec![node(0), node(3)], vec![node(4), node(5)]],
            },
        ),
        (1_100, Fault::Restart { node: node(2) }),
        (
            1_500,
            Fault::OneWay {
                from: vec![node(6)],
                to: vec![node(0), node(1)],
            },
        ),
        (1_800, Fault::Pause { node: node(5) }),
        (2_000, Fault::Heal),
        (
            2_100,
            Fault::SlowNode {
                node: node(4),
                extra: SimDuration::from_millis(40),
            },
        ),
        (2_300, Fault::Resume { node: node(5) }),
        (
            2_500,
            Fault::Crash {
                node: node(3),
                kind: CrashKind::DiskLoss,
            },
        ),
        (2_600, Fault::Shutdown { node: node(6) }),
        (2_800, Fault::Restart { node: node(3) }),
    ] {
        sim.schedule_fault(ms(at), fault);
    }
    sim.start();
    sim.run(Limits::until(ms(4_000)), &mut ());
    let hash = sim.finish_trace().expect("in-memory trace");
    let bytes = buf.0.lock().expect("one writer").clone();
    (hash, bytes, sim.events())
}

fn run(seed: u64) -> (String, Vec<u8>, u64) {
    run_with(seed, true)
}

#[test]
fn same_seed_gives_the_same_run_byte_for_byte() {
    let (hash_a, trace_a, events) = run(42);
    let (hash_b, trace_b, _) = run(42);
    assert!(
        events > 1_000,
        "the workload did something: {events} events"
    );
    assert_eq!(hash_a, hash_b);
    assert!(trace_a == trace_b, "traces differ");
}

#[test]
fn another_seed_gives_another_run() {
    let (hash_a, _, _) = run(42);
    let (hash_b, _, _) = run(43);
    assert_ne!(hash_a, hash_b);
}

#[test]
fn the_hash_does_not_depend_on_writing_the_trace() {
    let (written, bytes, _) = run_with(7, true);
    let (silent, nothing, _) = run_with(7, false);
    assert!(!bytes.is_empty());
    assert!(nothing.is_empty());
    assert_eq!(written, silent);
}
