//! History-level proofs of the client checks and the data-plane liveness checks: a history or
//! a state with the anomaly fails the check, the same history without it passes. (The
//! protocol-level proofs run whole scenarios: tests/replication_checkers.rs.)

use super::data::{DataCx, DataGround};
use super::*;
use crate::broker::log::RecordBatch;
use crate::config::fixtures;
use crate::engine::Limits;
use crate::trace::TraceSink;

const TP: TopicPartition = TopicPartition {
    topic: 0,
    partition: 0,
};

/// A cluster run until its brokers are up and running, and empty checker state.
fn setup() -> (Simulation<Process>, Ground, DataGround) {
    // Three brokers, topic `t` of one partition on all three, a producer of 1 record/s.
    let cluster = fixtures::with_producer(fixtures::cluster(3, vec![vec![1, 2, 3]]), 1);
    let scenario = ResolvedScenario::of_cluster("t", SimDuration::from_secs(10), cluster);
    let cluster = scenario.cluster.clone();
    let mut sim = crate::world::build(&scenario, 1, TraceSink::hash_only());
    sim.run(
        Limits {
            until: SimTime::from_millis(5000),
            max_events: u64::MAX,
        },
        &mut (),
    );
    let mut g = Ground::new(
        cluster.names.clone(),
        cluster.raft.voters.clone(),
        cluster.brokers.clone(),
    );
    g.now = sim.now();
    let dg = DataGround::new(&cluster);
    (sim, g, dg)
}

fn ids(out: &Violations) -> Vec<&'static str> {
    out.list.iter().map(|v| v.invariant).collect()
}

fn batch(base_offset: u64, count: u32, producer_id: u64, base_sequence: u32) -> RecordBatch {
    RecordBatch {
        base_offset,
        count,
        leader_epoch: 0,
        producer_id,
        base_sequence,
        idempotent: true,
    }
}

/// The run has 7 processes; the history only needs names, so the producer stands in.
const CONSUMER: NodeId = NodeId(6);

#[test]
fn aborted_read_catches_a_read_of_a_surely_failed_send() {
    let (sim, g, mut dg) = setup();
    let cx = DataCx { g: &g, sim: &sim };
    let mut out = Violations::default();
    dg.partitions
        .get_mut(&TP)
        .unwrap()
        .failed
        .entry(5)
        .or_default()
        .insert(0, 3);
    let clean = batch(0, 2, 5, 3);
    duplicate::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &clean);
    aborted_read::check(&cx, &mut dg, &mut out, TP, CONSUMER, (5, 3, 2));
    assert!(out.list.is_empty());
    let aborted = batch(2, 1, 5, 1);
    duplicate::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &aborted);
    aborted_read::check(&cx, &mut dg, &mut out, TP, CONSUMER, (5, 1, 1));
    assert_eq!(ids(&out), ["aborted_read"]);
}

#[test]
fn nonmonotonic_poll_catches_a_consumer_going_back_without_a_reset() {
    let (sim, g, mut dg) = setup();
    let cx = DataCx { g: &g, sim: &sim };
    let mut out = Violations::default();
    nonmonotonic_poll::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &batch(0, 5, 1, 0));
    nonmonotonic_poll::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &batch(5, 5, 1, 5));
    assert!(out.list.is_empty());
    nonmonotonic_poll::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &batch(3, 2, 1, 3));
    assert_eq!(ids(&out), ["nonmonotonic_poll"]);
}

#[test]
fn duplicate_and_inconsistent_offsets_catch_a_value_at_two_offsets_and_two_values_at_one() {
    let (sim, g, mut dg) = setup();
    let cx = DataCx { g: &g, sim: &sim };
    let mut out = Violations::default();
    for b in [batch(0, 2, 1, 0), batch(2, 2, 1, 2)] {
        duplicate::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &b);
        inconsistent_offsets::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &b);
    }
    // The same reads again (another consumer) are fine.
    duplicate::on_poll(&cx, &mut dg, &mut out, TP, NodeId(5), &batch(0, 2, 1, 0));
    inconsistent_offsets::on_poll(&cx, &mut dg, &mut out, TP, NodeId(5), &batch(0, 2, 1, 0));
    assert!(out.list.is_empty(), "{:?}", out.list);
    // Value (1, 3) again at offset 4: a duplicate.
    duplicate::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &batch(4, 1, 1, 3));
    assert_eq!(ids(&out), ["duplicate"]);
    // Another value at offset 1: inconsistent.
    inconsistent_offsets::on_poll(&cx, &mut dg, &mut out, TP, CONSUMER, &batch(1, 1, 9, 0));
    assert_eq!(ids(&out), ["duplicate", "inconsistent_offsets"]);
}

#[test]
fn epoch_monotonicity_catches_two_leaders_in_one_epoch_and_a_broker_going_back() {
    let (sim, g, mut dg) = setup();
    let cx = DataCx { g: &g, sim: &sim };
    let mut out = Violations::default();
    epoch_monotonicity::on_broker_epoch(&cx, &mut dg, &mut out, TP, 1, 3, true);
    epoch_monotonicity::on_broker_epoch(&cx, &mut dg, &mut out, TP, 2, 4, true);
    epoch_monotonicity::on_broker_epoch(&cx, &mut dg, &mut out, TP, 1, 4, false);
    assert!(out.list.is_empty());
    epoch_monotonicity::on_broker_epoch(&cx, &mut dg, &mut out, TP, 3, 4, true);
    assert_eq!(ids(&out), ["epoch_monotonicity"]);
    epoch_monotonicity::on_broker_epoch(&cx, &mut dg, &mut out, TP, 1, 2, false);
    assert_eq!(ids(&out), ["epoch_monotonicity", "epoch_monotonicity"]);
    // The controller's leader epoch never falls (the fold drops replays, which it may repeat).
    let mut history = crate::kraft::history::PartitionHistory::new();
    let mut change = |leader_epoch: u32, partition_epoch: u32| {
        history.apply(&Event::PartitionChanged {
            tp: TP,
            leader: Some(1),
            leader_epoch,
            partition_epoch,
            isr: vec![1],
            elr: Vec::new(),
            election: None,
        })
    };
    for (leader_epoch, partition_epoch) in [(5, 7), (5, 8), (5, 7), (4, 9)] {
        if let Some(c) = change(leader_epoch, partition_epoch) {
            epoch_monotonicity::on_partition_changed(&cx, &dg, &mut out, &c);
        }
    }
    assert_eq!(out.list.len(), 3);
}

#[test]
fn liveness_catches_a_leaderless_partition_a_stuck_send_and_an_unreplicated_write() {
    let (sim, g, mut dg) = setup();
    let cx = DataCx { g: &g, sim: &sim };
    let mut out = Violations::default();
    // Every broker runs (setup waited for it); the partition has a leader: all fine.
    let pg = dg.partitions.get_mut(&TP).unwrap();
    pg.created = true;
    pg.leader = Some(1);
    pg.isr = vec![1, 2, 3];
    eventually_partition_leader::check(&cx, &dg, &mut out);
    assert!(out.list.is_empty());
    dg.partitions.get_mut(&TP).unwrap().leader = None;
    eventually_partition_leader::check(&cx, &dg, &mut out);
    assert_eq!(ids(&out), ["eventually_partition_leader"]);

    dg.partitions.get_mut(&TP).unwrap().leader = Some(1);
    let producer = NodeId(6);
    dg.delivery_timeouts
        .insert(producer, SimDuration::from_secs(10));
    dg.pending_sends
        .insert((producer, TP, 1, 0), SimTime::from_millis(1000));
    // Within its delivery.timeout.ms a correct producer may still be retrying.
    let (_, mut g_at, _) = setup();
    g_at.now = SimTime::from_millis(11_000);
    let at_deadline = DataCx {
        g: &g_at,
        sim: &sim,
    };
    eventually_produce_answered::check(&at_deadline, &dg, &mut out);
    assert_eq!(out.list.len(), 1, "not yet past delivery.timeout.ms");
    g_at.now = SimTime::from_millis(11_002);
    let past = DataCx {
        g: &g_at,
        sim: &sim,
    };
    eventually_produce_answered::check(&past, &dg, &mut out);
    assert_eq!(
        out.list.last().unwrap().invariant,
        "eventually_produce_answered"
    );

    // The brokers' logs are empty: an acknowledged write at offset 0..5 is on none of them.
    let pg = dg.partitions.get_mut(&TP).unwrap();
    pg.true_hw = 5;
    pg.committed = vec![batch(0, 5, 1, 0)];
    let before = out.list.len();
    eventually_fully_replicated::check(&cx, &mut dg, &mut out, &[(TP, 5)]);
    assert_eq!(
        out.list.last().unwrap().invariant,
        "eventually_fully_replicated"
    );
    // Offline (no leader): nothing can replicate, so nothing is demanded.
    let mut out = Violations::default();
    dg.partitions.get_mut(&TP).unwrap().leader = None;
    eventually_fully_replicated::check(&cx, &mut dg, &mut out, &[(TP, 5)]);
    assert!(out.list.is_empty(), "{:?} (before: {before})", out.list);
}
