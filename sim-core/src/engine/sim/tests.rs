//! Engine tests: a scriptable test node driven through the real engine.

use super::*;
use crate::engine::{NoEvent, NodeCtx};
use crate::storage::{CrashKind, DurableLog};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot(usize);
impl Timer for Slot {
    fn slot(&self) -> usize {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Num(u64);
impl Message for Num {
    fn name(&self) -> &'static str {
        "Num"
    }
}

/// What a test node does on start.
#[derive(Debug, Clone, Default)]
struct Script {
    /// Send these numbers to these nodes.
    sends: Vec<(u32, u64)>,
    /// Append these numbers to the disk; flush after the first `flushed` of them.
    appends: Vec<u64>,
    flushed: usize,
    /// Arm these timers (slot, delay in ms).
    timers: Vec<(usize, u64)>,
    /// Every `.0` ms, re-arm slot 1 to fire `.1` ms later (a heartbeat resetting an election
    /// timeout), `.2` times.
    heartbeat: Option<(u64, u64, u64)>,
    /// A shutdown takes this long (a broker's controlled shutdown); none exits at once.
    shutdown_ms: Option<u64>,
}

#[derive(Debug)]
struct Probe {
    script: Script,
    disk: DurableLog<u64>,
    received: Vec<(u64, u32, u64)>,
    fired: Vec<(u64, usize)>,
    disconnects: Vec<(u64, u32)>,
    heartbeats: u64,
}

impl Node for Probe {
    type Msg = Num;
    type Timer = Slot;
    type Event = NoEvent;
    type Disk = DurableLog<u64>;
    type Spec = Script;

    fn boot(script: &Script, disk: DurableLog<u64>, _: u32) -> Self {
        Probe {
            script: script.clone(),
            disk,
            received: vec![],
            fired: vec![],
            disconnects: vec![],
            heartbeats: 0,
        }
    }
    fn into_disk(self) -> DurableLog<u64> {
        self.disk
    }
    fn on_start(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        if !self.disk.is_empty() {
            return; // a restart: the script ran in an earlier incarnation
        }
        for &(to, n) in &self.script.sends {
            ctx.send(NodeId(to), Num(n));
        }
        for (i, &n) in self.script.appends.iter().enumerate() {
            self.disk.append(n);
            if i + 1 == self.script.flushed {
                self.disk.flush();
            }
        }
        for &(slot, ms) in &self.script.timers {
            ctx.set_timer(Slot(slot), SimDuration::from_millis(ms));
        }
        if let Some((period, _, _)) = self.script.heartbeat {
            ctx.set_timer(Slot(0), SimDuration::from_millis(period));
        }
    }
    fn on_message(&mut self, ctx: &mut NodeCtx<'_, Self>, from: NodeId, msg: Num) {
        self.received.push((ctx.now().as_micros(), from.0, msg.0));
    }
    fn on_timer(&mut self, ctx: &mut NodeCtx<'_, Self>, timer: Slot) {
        self.fired.push((ctx.now().as_micros(), timer.0));
        if timer.0 == 9 {
            ctx.stop();
            return;
        }
        if let (Some((period, timeout, count)), 0) = (self.script.heartbeat, timer.0) {
            self.heartbeats += 1;
            ctx.set_timer(Slot(1), SimDuration::from_millis(timeout));
            if self.heartbeats < count {
                ctx.set_timer(Slot(0), SimDuration::from_millis(period));
            }
        }
    }
    fn on_disconnect(&mut self, ctx: &mut NodeCtx<'_, Self>, peer: NodeId) {
        self.disconnects.push((ctx.now().as_micros(), peer.0));
    }
    fn on_shutdown(&mut self, ctx: &mut NodeCtx<'_, Self>) {
        match self.script.shutdown_ms {
            Some(ms) => ctx.set_timer(Slot(9), SimDuration::from_millis(ms)),
            None => ctx.stop(),
        }
    }
}

fn sim(scripts: Vec<Script>, latency: LatencyModel) -> Simulation<Probe> {
    let config = SimConfig {
        seed: 7,
        latency,
        disconnect_detection: SimDuration::from_millis(100),
    };
    let nodes = scripts
        .into_iter()
        .map(|s| (s, DurableLog::new()))
        .collect();
    let mut sim = Simulation::new(config, nodes, TraceSink::hash_only());
    sim.start();
    sim
}

fn fixed(us: u64) -> LatencyModel {
    LatencyModel::Fixed { us }
}

fn run_to(sim: &mut Simulation<Probe>, ms: u64) -> StopReason {
    sim.run(Limits::until(SimTime::from_millis(ms)), &mut ())
}

fn probe(sim: &Simulation<Probe>, i: u32) -> &Probe {
    sim.node(NodeId(i)).expect("node is up")
}

#[test]
fn resetting_a_timer_later_a_million_times_leaves_no_garbage() {
    // Heartbeat every 1 ms resets a 10 ms timeout: the timeout never fires, and the queue holds
    // at most one entry per slot the whole time.
    let script = Script {
        heartbeat: Some((1, 10, 1_000_000)),
        ..Script::default()
    };
    let mut s = sim(vec![script], fixed(1));
    let mut max_queue = 0;
    struct Watch<'a>(&'a mut usize);
    impl Observer<Probe> for Watch<'_> {
        fn after_event(&mut self, sim: &Simulation<Probe>) -> Flow {
            *self.0 = (*self.0).max(sim.queue_len());
            Flow::Continue
        }
    }
    s.run(
        Limits::until(SimTime::from_millis(1_000_100)),
        &mut Watch(&mut max_queue),
    );
    assert_eq!(probe(&s, 0).heartbeats, 1_000_000);
    assert!(max_queue <= 2, "queue grew to {max_queue}");
    // After the last heartbeat, the timeout fires exactly once, 10 ms later.
    let last = probe(&s, 0)
        .fired
        .iter()
        .filter(|f| f.1 == 1)
        .collect::<Vec<_>>();
    assert_eq!(last, vec![&(1_000_010_000, 1)]);
}

#[test]
fn cancel_then_rearm_reuses_the_queued_entry() {
    let mut s = sim(vec![Script::default()], fixed(1));
    for round in 0..1_000u64 {
        s.set_timer(
            NodeId(0),
            Slot(3),
            Delay::Fixed(SimDuration::from_millis(50 + round)),
        );
        if let Some(slot) = s.procs[0].timers.get_mut(3) {
            slot.deadline = None; // what CancelTimer does
        }
    }
    assert_eq!(
        s.queue_len(),
        1,
        "cancelled and re-armed timers share one queue entry"
    );
    assert_eq!(run_to(&mut s, 10_000), StopReason::Idle);
    assert!(
        probe(&s, 0).fired.is_empty(),
        "a cancelled timer must not fire"
    );
}

#[test]
fn moving_a_timer_earlier_fires_once_at_the_earlier_time() {
    let script = Script {
        timers: vec![(2, 100), (2, 30)],
        ..Script::default()
    };
    let mut s = sim(vec![script], fixed(1));
    run_to(&mut s, 1_000);
    assert_eq!(probe(&s, 0).fired, vec![(30_000, 2)]);
}

#[test]
fn messages_on_one_connection_arrive_in_order() {
    let sends = (0..2_000).map(|n| (1, n)).collect();
    let mut s = sim(
        vec![
            Script {
                sends,
                ..Script::default()
            },
            Script::default(),
        ],
        LatencyModel::Uniform {
            min_us: 1,
            max_us: 50_000,
        },
    );
    run_to(&mut s, 1_000);
    let got: Vec<u64> = probe(&s, 1).received.iter().map(|r| r.2).collect();
    assert_eq!(got, (0..2_000).collect::<Vec<_>>());
}

#[test]
fn a_one_way_cut_loses_its_direction_and_no_connection_opens_across_it() {
    let mut s = sim(vec![Script::default(), Script::default()], fixed(1_000));
    // Node 1's message is on its way to node 0 when node 0's messages to node 1 are cut.
    s.send(NodeId(1), NodeId(0), Num(1));
    s.schedule_fault(
        SimTime::from_micros(500),
        Fault::OneWay {
            from: vec![NodeId(0)],
            to: vec![NodeId(1)],
        },
    );
    run_to(&mut s, 1);
    // What was in flight the other way still arrives ...
    assert_eq!(probe(&s, 0).received, vec![(1_000, 1, 1)]);
    // ... but the cut reset the connection, and no new one can open: node 0's messages are
    // lost, and so are node 1's (its handshake's answer would be).
    s.send(NodeId(0), NodeId(1), Num(2));
    s.send(NodeId(1), NodeId(0), Num(3));
    run_to(&mut s, 500);
    assert!(probe(&s, 1).received.is_empty());
    assert_eq!(probe(&s, 0).received, vec![(1_000, 1, 1)]);
    // Both ends learn of the reset after the detection delay, once.
    assert_eq!(probe(&s, 0).disconnects, vec![(100_500, 1)]);
    assert_eq!(probe(&s, 1).disconnects, vec![(100_500, 0)]);
    s.schedule_fault(SimTime::from_millis(500), Fault::Heal);
    run_to(&mut s, 500);
    s.send(NodeId(1), NodeId(0), Num(4));
    s.send(NodeId(0), NodeId(1), Num(5));
    run_to(&mut s, 600);
    assert_eq!(probe(&s, 1).received, vec![(501_000, 0, 5)]);
    assert_eq!(probe(&s, 0).received, vec![(1_000, 1, 1), (501_000, 1, 4)]);
}

#[test]
fn a_partition_drops_messages_in_flight_and_both_ends_notice() {
    let sends = vec![(1, 1)];
    let mut s = sim(
        vec![
            Script {
                sends,
                ..Script::default()
            },
            Script::default(),
            Script::default(),
        ],
        fixed(10_000),
    );
    // The message is in flight (arrives at 10 ms) when node 0 is isolated at 5 ms.
    s.schedule_fault(
        SimTime::from_millis(5),
        Fault::Partition {
            groups: vec![vec![NodeId(0)]],
        },
    );
    run_to(&mut s, 1_000);
    assert!(probe(&s, 1).received.is_empty());
    assert_eq!(probe(&s, 0).disconnects, vec![(105_000, 1)]);
    assert_eq!(probe(&s, 1).disconnects, vec![(105_000, 0)]);
    // Node 2 never talked to node 0: it has no connection to notice.
    assert!(probe(&s, 2).disconnects.is_empty());
    assert_eq!(s.messages_lost(), 1);
}

/// Appends 1..=4 with 1, 2 flushed, crashes the node, and returns what its disk kept.
fn after_crash(kind: CrashKind) -> (Simulation<Probe>, Vec<u64>) {
    let script = Script {
        appends: vec![1, 2, 3, 4],
        flushed: 2,
        ..Script::default()
    };
    let mut s = sim(vec![script], fixed(1));
    s.schedule_fault(
        SimTime::from_millis(10),
        Fault::Crash {
            node: NodeId(0),
            kind,
        },
    );
    run_to(&mut s, 15);
    assert_eq!(
        s.status(NodeId(0)),
        NodeStatus::Down(DownCause::Crash(kind))
    );
    assert!(s.node(NodeId(0)).is_none(), "a crashed node has no process");
    let kept = s
        .disk_of_down_node(NodeId(0))
        .expect("down nodes keep their disk")
        .entries()
        .to_vec();
    (s, kept)
}

#[test]
fn each_crash_kind_loses_exactly_what_it_should() {
    assert_eq!(after_crash(CrashKind::Process).1, vec![1, 2, 3, 4]);
    assert_eq!(after_crash(CrashKind::PowerLoss).1, vec![1, 2]);
    assert_eq!(after_crash(CrashKind::DiskLoss).1, Vec::<u64>::new());
}

#[test]
fn a_restarted_node_boots_from_what_its_disk_kept() {
    let (mut s, _) = after_crash(CrashKind::PowerLoss);
    s.schedule_fault(SimTime::from_millis(20), Fault::Restart { node: NodeId(0) });
    run_to(&mut s, 30);
    assert_eq!(s.status(NodeId(0)), NodeStatus::Running);
    assert_eq!(probe(&s, 0).disk.entries(), &[1, 2]);
}

#[test]
fn a_crash_loses_volatile_state_timers_and_in_flight_messages() {
    let script0 = Script {
        timers: vec![(0, 50)],
        ..Script::default()
    };
    let script1 = Script {
        sends: vec![(0, 9)],
        ..Script::default()
    };
    let mut s = sim(vec![script0, script1], fixed(20_000));
    s.schedule_fault(
        SimTime::from_millis(10),
        Fault::Crash {
            node: NodeId(0),
            kind: CrashKind::Process,
        },
    );
    s.schedule_fault(SimTime::from_millis(30), Fault::Restart { node: NodeId(0) });
    run_to(&mut s, 1_000);
    let p = probe(&s, 0);
    // The message in flight at the crash was on the old connection; the 50 ms timer belonged to
    // the old incarnation (the restarted one re-armed it at 30 ms, so it fires at 80 ms).
    assert!(p.received.is_empty());
    assert_eq!(p.fired, vec![(80_000, 0)]);
    assert_eq!(probe(&s, 1).disconnects, vec![(110_000, 0)]);
}

#[test]
fn a_paused_node_handles_nothing_until_resumed_then_everything_in_order() {
    let script0 = Script {
        timers: vec![(0, 20)],
        ..Script::default()
    };
    let script1 = Script {
        sends: vec![(0, 1), (0, 2)],
        ..Script::default()
    };
    let mut s = sim(vec![script0, script1], fixed(5_000));
    s.schedule_fault(SimTime::from_millis(1), Fault::Pause { node: NodeId(0) });
    s.schedule_fault(SimTime::from_millis(100), Fault::Resume { node: NodeId(0) });
    run_to(&mut s, 99);
    assert!(probe(&s, 0).received.is_empty());
    assert!(probe(&s, 0).fired.is_empty());
    assert_eq!(s.status(NodeId(0)), NodeStatus::Paused);
    run_to(&mut s, 1_000);
    let p = probe(&s, 0);
    assert_eq!(p.received, vec![(100_000, 1, 1), (100_000, 1, 2)]);
    assert_eq!(
        p.fired,
        vec![(100_000, 0)],
        "the timer fires late, at resume"
    );
}

#[test]
fn faults_on_nodes_in_the_wrong_state_are_ignored_not_fatal() {
    let mut s = sim(vec![Script::default()], fixed(1));
    s.schedule_fault(SimTime::ZERO, Fault::Restart { node: NodeId(0) });
    s.schedule_fault(SimTime::ZERO, Fault::Resume { node: NodeId(0) });
    s.schedule_fault(SimTime::ZERO, Fault::Shutdown { node: NodeId(0) });
    s.schedule_fault(
        SimTime::ZERO,
        Fault::Crash {
            node: NodeId(0),
            kind: CrashKind::Process,
        },
    );
    run_to(&mut s, 1);
    assert_eq!(s.status(NodeId(0)), NodeStatus::Down(DownCause::Shutdown));
}

#[test]
fn a_restart_during_a_slow_shutdown_waits_for_the_exit() {
    // As `systemctl restart` does: the old process finishes stopping, then a new one starts.
    let script = Script {
        shutdown_ms: Some(40),
        timers: vec![(2, 1_000)],
        ..Script::default()
    };
    let mut s = sim(vec![script], fixed(1));
    s.schedule_fault(
        SimTime::from_millis(10),
        Fault::Shutdown { node: NodeId(0) },
    );
    s.schedule_fault(SimTime::from_millis(20), Fault::Restart { node: NodeId(0) });
    run_to(&mut s, 49);
    assert_eq!(s.status(NodeId(0)), NodeStatus::Running);
    assert_eq!(
        s.procs[0].incarnation, 0,
        "still the first process, shutting down"
    );
    run_to(&mut s, 51);
    assert_eq!(s.status(NodeId(0)), NodeStatus::Running);
    assert_eq!(
        s.procs[0].incarnation, 1,
        "it exited at 50 ms and started again at once"
    );
    // A restart of a node that is up and not stopping still does nothing.
    s.schedule_fault(SimTime::from_millis(60), Fault::Restart { node: NodeId(0) });
    run_to(&mut s, 70);
    assert_eq!(s.procs[0].incarnation, 1);
}

#[test]
fn limits_stop_the_run_and_say_why() {
    let script = Script {
        heartbeat: Some((1, 10, 100)),
        ..Script::default()
    };
    let mut s = sim(vec![script.clone()], fixed(1));
    assert_eq!(
        s.run(
            Limits {
                until: SimTime::MAX,
                max_events: 10
            },
            &mut ()
        ),
        StopReason::EventLimit
    );
    assert_eq!(s.events(), 10);
    assert_eq!(run_to(&mut s, 50), StopReason::TimeLimit);
    assert_eq!(s.now(), SimTime::from_millis(50));
    assert_eq!(
        s.run(Limits::until(SimTime::MAX), &mut ()),
        StopReason::Idle
    );
}

mod timer_model {
    //! The lazy timer queue against the obvious model: each slot has one deadline, set or
    //! cleared by each operation; a slot fires when time reaches its deadline.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Set { slot: usize, after_ms: u64 },
        Cancel { slot: usize },
    }

    fn op() -> impl Strategy<Value = (u64, Op)> {
        let set = (0..4usize, 0..50u64).prop_map(|(slot, after_ms)| Op::Set { slot, after_ms });
        let cancel = (0..4usize).prop_map(|slot| Op::Cancel { slot });
        (0..200u64, prop_oneof![3 => set, 1 => cancel])
    }

    proptest! {
        #[test]
        fn fires_exactly_what_the_model_predicts(mut ops in proptest::collection::vec(op(), 0..60)) {
            ops.sort_by_key(|(at, _)| *at);
            let mut s = sim(vec![Script::default()], fixed(1));
            let mut model: [Option<u64>; 4] = [None; 4];
            let mut expected = Vec::new();
            for (at, op) in &ops {
                // Fire in the model everything due strictly before this op's time... and at it:
                // the engine handles events at `at` before an op applied after run_to(at).
                let mut due: Vec<(u64, usize)> = model.iter().enumerate().filter_map(|(slot, d)| d.filter(|d| *d <= *at).map(|d| (d, slot))).collect();
                due.sort();
                for (d, slot) in due {
                    expected.push((d * 1_000, slot));
                    model[slot] = None;
                }
                run_to(&mut s, *at);
                match *op {
                    Op::Set { slot, after_ms } => {
                        s.set_timer(NodeId(0), Slot(slot), Delay::Fixed(SimDuration::from_millis(after_ms)));
                        model[slot] = Some(at + after_ms);
                    }
                    Op::Cancel { slot } => {
                        if let Some(t) = s.procs[0].timers.get_mut(slot) { t.deadline = None; }
                        model[slot] = None;
                    }
                }
            }
            let mut rest: Vec<(u64, usize)> = model.iter().enumerate().filter_map(|(slot, d)| d.map(|d| (d * 1_000, slot))).collect();
            rest.sort();
            expected.extend(rest);
            s.run(Limits::until(SimTime::MAX), &mut ());
            let mut fired = probe(&s, 0).fired.clone();
            fired.sort();
            expected.sort();
            prop_assert_eq!(fired, expected);
            // Never more than a few entries per slot in the queue.
            prop_assert!(s.queue_len() == 0);
        }
    }
}

#[test]
fn stepped_delays_are_whole_steps_capped_at_the_max_and_cover_every_step() {
    let mut s = sim(vec![Script::default()], fixed(1));
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..200u64 {
        let start = round * 1_000;
        run_to(&mut s, start);
        // min(100 ms × rand[0, 4), 250 ms): 0, 100, 200 or 250.
        s.set_timer(
            NodeId(0),
            Slot(0),
            Delay::Steps {
                step: SimDuration::from_millis(100),
                count: 4,
                max: SimDuration::from_millis(250),
            },
        );
        run_to(&mut s, start + 999);
        let &(at_us, _) = probe(&s, 0).fired.last().expect("the timer fired");
        seen.insert(at_us / 1_000 - start);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0, 100, 200, 250]);
}

#[test]
fn a_loop_with_no_delay_stops_the_run_as_making_no_progress_and_says_what_fires() {
    // A heartbeat every 0 ms, forever: the clock can never move.
    let forever = Script {
        heartbeat: Some((0, 1000, u64::MAX)),
        ..Script::default()
    };
    let mut s = sim(vec![forever], fixed(1000));
    assert_eq!(run_to(&mut s, 10_000), StopReason::NoProgress);
    assert_eq!(s.events(), MAX_EVENTS_AT_ONE_INSTANT);
    let stall = s.stall().expect("the stall is described");
    assert_eq!(
        (stall.at, stall.node, stall.what.as_str()),
        (SimTime::ZERO, Some(NodeId(0)), "timer Slot(0)")
    );
    // A bounded burst at one instant is work, not a loop: the run goes on.
    let burst = Script {
        heartbeat: Some((0, 1000, 10_000)),
        ..Script::default()
    };
    let mut s = sim(vec![burst], fixed(1000));
    assert_eq!(run_to(&mut s, 10_000), StopReason::Idle);
    assert!(s.stall().is_none());
}

#[test]
fn a_fault_scheduled_late_still_applies_before_what_the_nodes_queued_for_that_instant() {
    // Node 0 arms a timer for 50 ms at start. A crash for the same instant, scheduled only at
    // 20 ms (as the explorer adds faults to a running world), applies first, as it would have
    // had it been scheduled before the run: the timer dies with the process.
    let script = Script {
        timers: vec![(0, 50)],
        ..Script::default()
    };
    let crash = Fault::Crash {
        node: NodeId(0),
        kind: CrashKind::Process,
    };
    let config = SimConfig {
        seed: 7,
        latency: fixed(1_000),
        disconnect_detection: SimDuration::from_millis(100),
    };
    let mut early = Simulation::new(
        config,
        vec![(script.clone(), DurableLog::new())],
        TraceSink::hash_only(),
    );
    early.schedule_fault(SimTime::from_millis(50), crash.clone());
    early.start();
    run_to(&mut early, 100);
    let mut late = sim(vec![script], fixed(1_000));
    run_to(&mut late, 20);
    late.schedule_fault(SimTime::from_millis(50), crash);
    run_to(&mut late, 100);
    for s in [&early, &late] {
        assert_eq!(
            s.status(NodeId(0)),
            NodeStatus::Down(DownCause::Crash(CrashKind::Process))
        );
    }
    assert_eq!(
        late.events(),
        1,
        "only the crash happened: the crashed process's timer never fired"
    );
    assert_eq!(early.trace().hash(), late.trace().hash());
    assert_eq!(early.events(), late.events());
}
