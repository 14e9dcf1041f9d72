//! The benchmark workloads: the engine's, each with a bare baseline that does the same work with
//! no framework (a `BinaryHeap<Reverse<(time, seq, event)>>` and the same RNG stream), and whole
//! clusters run with every invariant checked after every event ([`Cluster`]).
//!
//! These functions only simulate; the caller (`kafkasim bench`) measures wall time, so no clock
//! is read here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::engine::{
    Limits, Message, NoEvent, Node, NodeCtx, NodeId, SimConfig, SimDuration, SimRng, SimTime,
    Simulation, Stream,
};
use crate::fuzz::swarm::FuzzBase;
use crate::net::LatencyModel;
use crate::scenario::Scenario;
use crate::trace::TraceSink;
use crate::world::RunOptions;

/// What a workload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Events handled (deliveries or timer firings).
    pub events: u64,
    /// Simulated time at the end.
    pub sim_time: SimTime,
}

/// The bare baseline's queue: `(time_us, seq, payload)`, earliest first, exactly the shape the
/// issue prescribes for the comparison.
type BareQueue<T> = BinaryHeap<Reverse<(u64, u64, T)>>;

// ---------------------------------------------------------------- engine-pingpong

/// Parameters of `engine-pingpong`.
#[derive(Clone, Copy, Debug)]
pub struct PingPong {
    pub nodes: u32,
    pub in_flight: u32,
    pub deliveries: u64,
    pub latency_min_us: u64,
    pub latency_max_us: u64,
    pub seed: u64,
}

impl PingPong {
    /// The standard workload: 5 nodes, 100 messages in flight, 10 M deliveries, 1-5 ms latency.
    pub const STANDARD: PingPong = PingPong {
        nodes: 5,
        in_flight: 100,
        deliveries: 10_000_000,
        latency_min_us: 1_000,
        latency_max_us: 5_000,
        seed: 1,
    };
}

/// Whom a node passes the ball to after `hops` hops: never itself, cycling through the others.
#[inline]
fn next_hop(me: u32, hops: u64, nodes: u32) -> u32 {
    (me + 1 + (hops % u64::from(nodes - 1)) as u32) % nodes
}

#[derive(Debug, Clone, Copy)]
pub struct Ball {
    hops: u64,
}

impl Message for Ball {
    fn name(&self) -> &'static str {
        "Ball"
    }
}

/// A node that passes every ball it gets on to another node.
#[derive(Debug)]
pub struct Passer {
    nodes: u32,
    serve: u32,
}

impl Node for Passer {
    type Msg = Ball;
    type Timer = NoTimer;
    type Event = NoEvent;
    type Disk = ();
    type Spec = (u32, u32);

    fn boot(&(nodes, serve): &(u32, u32), _: (), _: u32) -> Self {
        Passer { nodes, serve }
    }
    fn into_disk(self) {}
    fn on_start(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        for _ in 0..self.serve {
            ctx.send(
                NodeId(next_hop(ctx.me().0, 0, self.nodes)),
                Ball { hops: 0 },
            );
        }
    }
    #[inline]
    fn on_message(&mut self, ctx: &mut NodeCtx<'_, Self>, _from: NodeId, ball: Ball) {
        let hops = ball.hops + 1;
        ctx.send(
            NodeId(next_hop(ctx.me().0, hops, self.nodes)),
            Ball { hops },
        );
    }
    fn on_timer(&mut self, _: &mut NodeCtx<'_, Self>, timer: NoTimer) {
        match timer {}
    }
}

/// A node with no timers.
#[derive(Debug, Clone, Copy)]
pub enum NoTimer {}

impl crate::engine::Timer for NoTimer {
    fn slot(&self) -> usize {
        match *self {}
    }
}

fn serve_counts(p: &PingPong) -> Vec<u32> {
    (0..p.nodes)
        .map(|i| p.in_flight / p.nodes + u32::from(i < p.in_flight % p.nodes))
        .collect()
}

/// `engine-pingpong` through the real engine and network.
pub fn pingpong_engine(p: PingPong) -> Outcome {
    let config = SimConfig {
        seed: p.seed,
        latency: LatencyModel::Uniform {
            min_us: p.latency_min_us,
            max_us: p.latency_max_us,
        },
        disconnect_detection: SimDuration::from_millis(1),
    };
    let nodes = serve_counts(&p)
        .into_iter()
        .map(|serve| ((p.nodes, serve), ()))
        .collect();
    let mut sim: Simulation<Passer> = Simulation::new(config, nodes, TraceSink::hash_only());
    sim.start();
    sim.run(
        Limits {
            until: SimTime::MAX,
            max_events: p.deliveries,
        },
        &mut (),
    );
    Outcome {
        events: sim.events(),
        sim_time: sim.now(),
    }
}

/// `engine-pingpong` as a bare loop: the baseline. It keeps the same per-connection FIFO rule
/// as the engine (an arrival is never earlier than the previous one on the link), so both do
/// exactly the same work and end at the same simulated time.
pub fn pingpong_baseline(p: PingPong) -> Outcome {
    let n = p.nodes as usize;
    let mut rng = SimRng::new(p.seed, Stream::Network);
    let mut last_arrival = vec![0u64; n * n];
    let mut heap: BareQueue<(u32, u64)> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut send = |heap: &mut BinaryHeap<_>, now: u64, from: u32, hops: u64| {
        let to = next_hop(from, hops, p.nodes);
        let link = &mut last_arrival[from as usize * n + to as usize];
        let at = (now + rng.between(p.latency_min_us, p.latency_max_us)).max(*link);
        *link = at;
        seq += 1;
        heap.push(Reverse((at, seq, (to, hops))));
    };
    for (me, serve) in serve_counts(&p).into_iter().enumerate() {
        for _ in 0..serve {
            send(&mut heap, 0, me as u32, 0);
        }
    }
    let mut events = 0;
    let mut now = 0;
    while events < p.deliveries {
        let Some(Reverse((at, _, (me, hops)))) = heap.pop() else {
            break;
        };
        now = at;
        events += 1;
        send(&mut heap, now, me, hops + 1);
    }
    Outcome {
        events,
        sim_time: SimTime::from_micros(now),
    }
}

// ---------------------------------------------------------------- engine-timers

/// Parameters of `engine-timers`.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub nodes: u32,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub duration_s: u64,
    pub seed: u64,
}

impl Timers {
    /// The standard workload: 1,000 nodes, a 50 ms heartbeat that resets a 150-300 ms election
    /// timeout, for 600 simulated seconds.
    pub const STANDARD: Timers = Timers {
        nodes: 1_000,
        heartbeat_ms: 50,
        election_min_ms: 150,
        election_max_ms: 300,
        duration_s: 600,
        seed: 1,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatTimer {
    Heartbeat,
    Election,
}

impl crate::engine::Timer for HeartbeatTimer {
    fn slot(&self) -> usize {
        *self as usize
    }
}

/// A follower that hears a heartbeat every period and resets its election timeout each time.
#[derive(Debug)]
pub struct Follower {
    t: Timers,
    /// Elections started (the timeout fired): zero unless a heartbeat is late.
    pub elections: u64,
}

impl Node for Follower {
    type Msg = Ball;
    type Timer = HeartbeatTimer;
    type Event = NoEvent;
    type Disk = ();
    type Spec = Timers;

    fn boot(t: &Timers, _: (), _: u32) -> Self {
        Follower {
            t: *t,
            elections: 0,
        }
    }
    fn into_disk(self) {}
    fn on_start(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        ctx.set_timer(
            HeartbeatTimer::Heartbeat,
            SimDuration::from_millis(self.t.heartbeat_ms),
        );
        self.reset_election(ctx);
    }
    fn on_message(&mut self, _: &mut NodeCtx<'_, Self>, _: NodeId, _: Ball) {}
    #[inline]
    fn on_timer(&mut self, ctx: &mut NodeCtx<'_, Self>, timer: HeartbeatTimer) {
        match timer {
            HeartbeatTimer::Heartbeat => {
                ctx.set_timer(
                    HeartbeatTimer::Heartbeat,
                    SimDuration::from_millis(self.t.heartbeat_ms),
                );
                self.reset_election(ctx);
            }
            HeartbeatTimer::Election => {
                self.elections += 1;
                self.reset_election(ctx);
            }
        }
    }
}

impl Follower {
    fn reset_election(&self, ctx: &mut NodeCtx<'_, Self>) {
        ctx.set_timer_random(
            HeartbeatTimer::Election,
            SimDuration::from_millis(self.t.election_min_ms),
            SimDuration::from_millis(self.t.election_max_ms),
        );
    }
}

/// `engine-timers` through the real engine.
pub fn timers_engine(t: Timers) -> Outcome {
    let config = SimConfig {
        seed: t.seed,
        latency: LatencyModel::default(),
        disconnect_detection: SimDuration::from_millis(1),
    };
    let nodes = (0..t.nodes).map(|_| (t, ())).collect();
    let mut sim: Simulation<Follower> = Simulation::new(config, nodes, TraceSink::hash_only());
    sim.start();
    sim.run(
        Limits::until(SimTime::from_millis(t.duration_s * 1_000)),
        &mut (),
    );
    Outcome {
        events: sim.events(),
        sim_time: sim.now(),
    }
}

/// `engine-timers` as a bare loop: every reset pushes a new entry and stale ones are skipped
/// by generation when they surface.
pub fn timers_baseline(t: Timers) -> Outcome {
    let until = t.duration_s * 1_000_000;
    let heartbeat = t.heartbeat_ms * 1_000;
    let (emin, emax) = (t.election_min_ms * 1_000, t.election_max_ms * 1_000);
    let mut rngs: Vec<SimRng> = (0..t.nodes)
        .map(|i| SimRng::new(t.seed, Stream::Node(NodeId(i))))
        .collect();
    let mut election_gen = vec![0u32; t.nodes as usize];
    // (time, seq, (node, is_election, generation))
    let mut heap: BareQueue<(u32, bool, u32)> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, at: u64, item: (u32, bool, u32)| {
        seq += 1;
        heap.push(Reverse((at, seq, item)));
    };
    for node in 0..t.nodes {
        push(&mut heap, heartbeat, (node, false, 0));
        let at = emin + rngs[node as usize].below(emax - emin);
        push(&mut heap, at, (node, true, 0));
    }
    let mut events = 0;
    let mut now = 0;
    while let Some(Reverse((at, _, (node, is_election, generation)))) = heap.pop() {
        if at > until {
            break;
        }
        let i = node as usize;
        if is_election && generation != election_gen[i] {
            continue; // reset since
        }
        now = at;
        events += 1;
        if !is_election {
            push(&mut heap, at + heartbeat, (node, false, 0));
        }
        election_gen[i] = election_gen[i].wrapping_add(1);
        let at = now + emin + rngs[i].below(emax - emin);
        push(&mut heap, at, (node, true, election_gen[i]));
    }
    Outcome {
        events,
        sim_time: SimTime::from_micros(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pingpong_engine_and_baseline_do_the_same_work() {
        let p = PingPong {
            deliveries: 20_000,
            ..PingPong::STANDARD
        };
        let engine = pingpong_engine(p);
        let baseline = pingpong_baseline(p);
        assert_eq!(engine.events, 20_000);
        // Same RNG draws in the same order, same FIFO rule: the very same run.
        assert_eq!(engine, baseline);
    }

    #[test]
    fn timers_engine_and_baseline_count_the_same_heartbeats() {
        let t = Timers {
            nodes: 20,
            duration_s: 10,
            ..Timers::STANDARD
        };
        let engine = timers_engine(t);
        let baseline = timers_baseline(t);
        // 20 nodes x 200 heartbeats; no election fires since every heartbeat resets it.
        assert_eq!(engine.events, 20 * 200);
        assert_eq!(baseline.events, 20 * 200);
    }
}

// ---------------------------------------------------------------- cluster workloads

/// A whole-cluster workload: KRaft controllers, brokers, one topic with RF 3 and
/// `min.insync.replicas=2`, acks=all idempotent producers and (optionally) consumers, run for
/// `duration_s` with every invariant checked after every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub name: &'static str,
    pub brokers: u32,
    pub partitions: u32,
    /// Records per simulated second, over all producers.
    pub records_per_s: u32,
    /// Producers sharing `records_per_s`.
    pub producers: u32,
    pub consumers: u32,
    pub duration_s: u64,
    /// Draw a random nemesis schedule over the run (`kafkasim fuzz`'s, with this seed).
    pub faults: bool,
    pub seed: u64,
}

impl Cluster {
    /// 3 brokers, 6 partitions, 1,000 records/s, a consumer, 600 s, no faults.
    pub const SMALL: Cluster = Cluster {
        name: "cluster-small",
        brokers: 3,
        partitions: 6,
        records_per_s: 1_000,
        producers: 1,
        consumers: 1,
        duration_s: 600,
        faults: false,
        seed: 1,
    };
    /// `SMALL` under the fuzzer's random nemesis.
    pub const FAULTY: Cluster = Cluster {
        name: "cluster-faulty",
        faults: true,
        ..Cluster::SMALL
    };
    /// 100 brokers, 10,000 partitions, 10,000 records/s from 10 producers, 60 s.
    pub const LARGE: Cluster = Cluster {
        name: "cluster-large",
        brokers: 100,
        partitions: 10_000,
        records_per_s: 10_000,
        producers: 10,
        consumers: 0,
        duration_s: 60,
        faults: false,
        seed: 1,
    };
    /// 1,000 brokers, 100,000 partitions, 10,000 records/s from 10 producers, 30 s.
    pub const HUGE: Cluster = Cluster {
        name: "cluster-huge",
        brokers: 1_000,
        partitions: 100_000,
        duration_s: 30,
        ..Cluster::LARGE
    };

    /// The workload as a scenario (with its nemesis schedule drawn, when it has one).
    pub fn scenario(&self) -> Scenario {
        let per_producer = self.records_per_s / self.producers.max(1);
        let mut workload = serde_json::json!({
            "producers": [{
                "topic": "events",
                "records_per_s": per_producer,
                "count": self.producers,
                "config": {"acks": "all"},
            }],
            "consumers": [],
        });
        if self.consumers > 0 {
            workload["consumers"] = serde_json::json!([{
                "topic": "events",
                "count": self.consumers,
                "config": {"auto.offset.reset": "earliest"},
            }]);
        }
        let doc = serde_json::json!({
            "name": self.name,
            "seed": self.seed,
            "duration_ms": self.duration_s * 1_000,
            "cluster": {
                "controllers": 3,
                "brokers": self.brokers,
                "topics": [{
                    "name": "events",
                    "partitions": self.partitions,
                    "replication_factor": 3,
                    "config": {"min.insync.replicas": 2},
                }],
            },
            "workload": workload,
        });
        let scenario = crate::scenario::parse(&doc.to_string(), self.name)
            .expect("a benchmark workload is a valid scenario");
        if !self.faults {
            return scenario;
        }
        FuzzBase::from_scenario(scenario, self.name)
            .expect("a benchmark workload is long enough to fuzz")
            .draw(self.seed)
    }
}

/// What a cluster run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOutcome {
    pub outcome: Outcome,
    /// Fault entries in the schedule.
    pub faults: usize,
    pub records_acked: u64,
    /// Invariants violated (none is expected: the workloads run the correct protocol).
    pub violations: Vec<&'static str>,
    pub trace_hash: String,
    /// The run reached its duration (the watchdog did not stop it).
    pub finished: bool,
}

/// Runs a resolved scenario with every checker on and no trace file; `watchdog` is asked now
/// and then whether to stop (see `crate::world::run_watched`).
pub fn run_scenario(scenario: &Scenario, watchdog: &mut dyn FnMut() -> bool) -> ClusterOutcome {
    let summary = crate::world::run_watched(
        &scenario.resolve(),
        RunOptions {
            seed: scenario.seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
        watchdog,
    )
    .expect("a run without a trace file cannot fail to write");
    let mut violations: Vec<&'static str> =
        summary.violations.iter().map(|v| v.invariant).collect();
    violations.sort_unstable();
    violations.dedup();
    ClusterOutcome {
        outcome: Outcome {
            events: summary.events,
            sim_time: SimTime::from_micros(summary.sim_time_ms * 1_000),
        },
        faults: scenario.faults.len(),
        records_acked: summary.clients.records_acked_acks_all,
        violations,
        trace_hash: summary.trace_hash,
        finished: summary.stop_reason != crate::engine::StopReason::Halted,
    }
}
