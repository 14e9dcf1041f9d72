//! The producer with exact inputs and effects, and its own invariants with planted corruption.
//! No engine and no scenario file: the cluster configuration is built here.

use super::*;
use crate::config::fixtures;
use crate::engine::Delay;
use crate::proto::Effect;

/// Three controllers (nodes 0-2), broker-1 (node 3), and producer-1 (node 4) sending 10
/// records/s to topic `t`: one partition on broker-1. Kafka's defaults throughout.
fn cluster() -> ClusterConfig {
    fixtures::with_producer(fixtures::cluster(1, vec![vec![1]]), 10)
}

fn producer() -> Producer {
    Producer::boot(Arc::new(cluster()), 1, 0)
}

fn batch(base_sequence: u32, count: u32, state: BatchState) -> Batch {
    Batch {
        producer_id: 1,
        base_sequence,
        count,
        created: SimTime::ZERO,
        attempts: 1,
        maybe_appended: false,
        state,
    }
}

#[test]
fn check_invariants_holds_for_a_fresh_producer_and_catches_planted_corruption() {
    assert_eq!(producer().check_invariants(), Ok(()));

    let mut unvisited = producer();
    unvisited.accumulated[0] = (3, SimTime::ZERO);
    let err = unvisited.check_invariants().unwrap_err();
    assert!(
        err.contains("partition 0 has records or a batch but is not visited"),
        "{err}"
    );

    let mut past_sequence = producer();
    past_sequence.active = vec![0];
    past_sequence.next_sequence[0] = 3;
    past_sequence.batches[0] = Some(batch(
        0,
        5,
        BatchState::Ready {
            not_before: SimTime::ZERO,
        },
    ));
    let err = past_sequence.check_invariants().unwrap_err();
    assert!(err.contains("reaches past the next sequence 3"), "{err}");

    let mut orphan = producer();
    orphan.active = vec![0];
    orphan.next_sequence[0] = 5;
    orphan.batches[0] = Some(batch(0, 5, BatchState::InFlight { request_id: 9 }));
    let err = orphan.check_invariants().unwrap_err();
    assert!(
        err.contains("in flight in request 9, which does not carry it"),
        "{err}"
    );
}

/// Runs one handler at `t_ms` and returns what it asked for.
fn step(p: &mut Producer, t_ms: u64, f: impl FnOnce(&mut Producer, &mut Ctx<'_>)) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut ctx = Ctx::new(SimTime::from_millis(t_ms), NodeId(4), &mut effects);
    f(p, &mut ctx);
    effects
}

fn timer(timer: Timer, us: u64) -> Effect {
    Effect::SetTimer {
        timer,
        delay: Delay::Fixed(SimDuration::from_micros(us)),
    }
}

/// A fresh producer of 10 records/s to `t` (one partition, led by broker-1 = node 3) with
/// Kafka's defaults, step by step: each input gives exactly these effects.
#[test]
fn a_first_record_is_batched_lingered_and_sent_to_the_leader() {
    let mut p = producer();
    let broker1 = NodeId(3);
    // Start: ask broker-1 (the bootstrap server) for metadata, make the first record at once,
    // and time the metadata request out after request.timeout.ms.
    assert_eq!(
        step(&mut p, 0, Producer::on_start),
        [
            Effect::Send {
                to: broker1,
                msg: Msg::Metadata { topic: 0 },
            },
            timer(Timer::ProduceTick, 0),
            timer(Timer::ClientRequestTimeout, 30_000_000),
        ]
    );
    // The answer names the leader; with no record yet there is nothing to send or time out.
    let answer = Msg::MetadataResponse {
        topic: 0,
        partitions: vec![crate::proto::PartitionMetadata {
            partition: 0,
            leader: Some(1),
            leader_epoch: 0,
        }],
    };
    assert_eq!(
        step(&mut p, 3, |p, ctx| p.on_message(ctx, broker1, answer)),
        []
    );
    // A record: the next in 100 ms, the batch lingers linger.ms (5 ms, Kafka 4.0's default),
    // and the timeout timer moves to the record's delivery expiry (delivery.timeout.ms, 120 s).
    // The expiry is armed twice (by the tick and by the drain it runs), to the same deadline.
    assert_eq!(
        step(&mut p, 5, |p, ctx| p.on_timer(ctx, Timer::ProduceTick)),
        [
            timer(Timer::ProduceTick, 100_000),
            timer(Timer::Linger, 5_000),
            timer(Timer::ClientRequestTimeout, 120_000_000),
            timer(Timer::ClientRequestTimeout, 120_000_000),
        ]
    );
    // Linger over: the history records the send, one Produce carries the batch (sequence 0,
    // idempotent, acks=all) to the leader, and the request times out after request.timeout.ms.
    let effects = step(&mut p, 10, |p, ctx| p.on_timer(ctx, Timer::Linger));
    let tp = TopicPartition {
        topic: 0,
        partition: 0,
    };
    let Some(Effect::Emit(Event::Send {
        tp: sent_tp,
        base_sequence: 0,
        count: 1,
        producer_id,
        ..
    })) = effects.first().cloned()
    else {
        panic!("the send is recorded first: {effects:#?}");
    };
    assert_eq!(sent_tp, tp);
    assert_eq!(
        effects[1..],
        [
            Effect::Send {
                to: broker1,
                msg: Msg::Produce(Box::new(ProduceRequest {
                    request_id: 0,
                    acks: Acks::All,
                    timeout_ms: 30_000,
                    batches: vec![ProduceBatch {
                        tp,
                        producer_id,
                        base_sequence: 0,
                        count: 1,
                        idempotent: true,
                    }],
                })),
            },
            timer(Timer::ClientRequestTimeout, 30_000_000),
            timer(Timer::ClientRequestTimeout, 30_000_000),
        ]
    );
    assert_eq!(p.check_invariants(), Ok(()));
}
