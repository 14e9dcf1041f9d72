//! The consumer with exact inputs and effects: no engine and no scenario file.

use super::*;
use crate::broker::log::RecordBatch;
use crate::config::{ConsumerConfig, fixtures};
use crate::engine::Delay;
use crate::proto::{Effect, PartitionFetchData, PartitionMetadata};

const BROKER1: NodeId = NodeId(3);
const TP: TopicPartition = TopicPartition {
    topic: 0,
    partition: 0,
};

/// consumer-1 (node 4) of topic `t`, one partition on broker-1 (node 3), Kafka's defaults
/// (`auto.offset.reset=latest`, `fetch.max.wait.ms` 500, `request.timeout.ms` 30 s,
/// `retry.backoff.ms` 100).
fn consumer() -> Consumer {
    let cluster = fixtures::cluster(1, vec![vec![1]]);
    let cluster = fixtures::with_consumer(cluster, ConsumerConfig::default());
    Consumer::boot(Arc::new(cluster), 1)
}

/// Runs one handler at `t_ms` and returns what it asked for.
fn step(c: &mut Consumer, t_ms: u64, f: impl FnOnce(&mut Consumer, &mut Ctx<'_>)) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut ctx = Ctx::new(SimTime::from_millis(t_ms), NodeId(4), &mut effects);
    f(c, &mut ctx);
    effects
}

fn timer(timer: Timer, ms: u64) -> Effect {
    Effect::SetTimer {
        timer,
        delay: Delay::Fixed(SimDuration::from_millis(ms)),
    }
}

/// A metadata request to broker-1 (the bootstrap server), timed out after
/// `request.timeout.ms`; its answer, not a retry timer, wakes the consumer.
fn metadata_request() -> [Effect; 2] {
    [
        Effect::Send {
            to: BROKER1,
            msg: Msg::Metadata { topic: 0 },
        },
        timer(Timer::ClientRequestTimeout, 30_000),
    ]
}

/// The consumer's fetch number `correlation_id` (they count from 0), of partition 0 from
/// broker-1.
fn fetch(
    correlation_id: u64,
    fetch_offset: u64,
    last_fetched_epoch: Option<u32>,
    current_leader_epoch: u32,
) -> Effect {
    Effect::Send {
        to: BROKER1,
        msg: Msg::PartitionFetch(Box::new(PartitionFetchRequest {
            correlation_id,
            replica: None,
            max_wait_ms: 500,
            partitions: vec![PartitionFetch {
                tp: TP,
                fetch_offset,
                last_fetched_epoch,
                current_leader_epoch,
            }],
        })),
    }
}

fn metadata(leader_epoch: u32) -> Msg {
    Msg::MetadataResponse {
        topic: 0,
        partitions: vec![PartitionMetadata {
            partition: 0,
            leader: Some(1),
            leader_epoch,
        }],
    }
}

/// The answer to fetch number `correlation_id`.
fn answer(
    correlation_id: u64,
    high_watermark: u64,
    diverging: Option<(u32, u64)>,
    batches: Vec<RecordBatch>,
) -> Msg {
    Msg::PartitionFetchResponse(Box::new(PartitionFetchResponse {
        correlation_id,
        partitions: vec![PartitionFetchData {
            tp: TP,
            error: None,
            high_watermark,
            diverging,
            batches,
        }],
    }))
}

fn batch(base_offset: u64, count: u32, leader_epoch: u32) -> RecordBatch {
    RecordBatch {
        base_offset,
        count,
        leader_epoch,
        producer_id: 1,
        base_sequence: base_offset as u32,
        idempotent: true,
    }
}

/// From start to reading records: metadata, the log end found (`latest`), a fetch from
/// there, records read below the HW, each input with exactly the effects Kafka's consumer has.
#[test]
fn a_consumer_finds_the_leader_and_the_log_end_and_reads_on_from_there() {
    let mut c = consumer();
    assert_eq!(step(&mut c, 0, Consumer::on_start), [timer(Timer::Poll, 0)]);
    // No leader known: ask broker-1 (the bootstrap server), and time the request out after
    // request.timeout.ms.
    assert_eq!(
        step(&mut c, 0, |c, ctx| c.on_timer(ctx, Timer::Poll)),
        metadata_request()
    );
    // broker-1 leads in epoch 0: fetch from it, the offset still unknown (`latest`).
    assert_eq!(
        step(&mut c, 5, |c, ctx| c.on_message(ctx, BROKER1, metadata(0))),
        [
            fetch(0, LATEST, None, 0),
            timer(Timer::ClientRequestTimeout, 30_000),
        ]
    );
    // While that fetch is out, a retry sends nothing more to the same leader.
    assert_eq!(
        step(&mut c, 100, |c, ctx| c.on_timer(ctx, Timer::ClientRetry)),
        [timer(Timer::ClientRequestTimeout, 29_905)]
    );
    // The answer says where the log ends (the HW): the consumer starts there.
    assert_eq!(
        step(&mut c, 110, |c, ctx| c.on_message(
            ctx,
            BROKER1,
            answer(0, 7, None, vec![])
        )),
        [
            fetch(1, 7, None, 0),
            timer(Timer::ClientRequestTimeout, 30_000)
        ]
    );
    // Records from its position are read (a history `poll` each), and it fetches on.
    let read = batch(7, 3, 0);
    assert_eq!(
        step(&mut c, 200, |c, ctx| c.on_message(
            ctx,
            BROKER1,
            answer(1, 10, None, vec![read])
        )),
        [
            Effect::Emit(Event::Poll {
                tp: TP,
                batch: read
            }),
            fetch(2, 10, None, 0),
            timer(Timer::ClientRequestTimeout, 30_000),
        ]
    );
    // An answer from a broker it has no fetch out to is dropped.
    assert_eq!(
        step(&mut c, 210, |c, ctx| c.on_message(
            ctx,
            NodeId(2),
            answer(2, 10, None, vec![])
        )),
        []
    );
}

/// A consumer that found broker-1 leading in epoch 0, read records 0-4 of epoch 0 (from the
/// start of the log), and has its fetch at offset 5 out.
fn read_five_records() -> Consumer {
    let mut c = consumer();
    step(&mut c, 0, Consumer::on_start);
    step(&mut c, 0, |c, ctx| c.on_timer(ctx, Timer::Poll));
    step(&mut c, 5, |c, ctx| c.on_message(ctx, BROKER1, metadata(0)));
    step(&mut c, 10, |c, ctx| {
        c.on_message(ctx, BROKER1, answer(0, 0, None, vec![]));
    });
    step(&mut c, 20, |c, ctx| {
        c.on_message(ctx, BROKER1, answer(1, 5, None, vec![batch(0, 5, 0)]));
    });
    c
}

/// KIP-320: after a leader change the next fetch carries the epoch of the last record read;
/// a new leader whose log for that epoch ends below the position means records read were
/// truncated away: the consumer says so and seeks back to that end.
#[test]
fn after_a_leader_change_the_position_is_validated_and_a_truncation_detected() {
    let mut c = read_five_records();
    // The fetch at 5 fails over: the leader's connection broke. Retry after the backoff.
    assert_eq!(
        step(&mut c, 30, |c, ctx| c.on_disconnect(ctx, BROKER1)),
        [timer(Timer::ClientRetry, 100)]
    );
    // The metadata names a new leader epoch (broker-1 leads again, in epoch 1).
    let effects = step(&mut c, 130, |c, ctx| {
        c.on_message(ctx, BROKER1, metadata(1));
    });
    assert_eq!(
        effects,
        [
            fetch(3, 5, Some(0), 1),
            timer(Timer::ClientRequestTimeout, 30_000)
        ],
        "the fetch after a leader change validates the position by the last epoch read"
    );
    // The leader's log for epoch 0 ends at 3: records 3 and 4 were truncated away.
    assert_eq!(
        step(&mut c, 140, |c, ctx| c.on_message(
            ctx,
            BROKER1,
            answer(3, 3, Some((0, 3)), vec![])
        )),
        [
            Effect::Emit(Event::TruncationDetected {
                tp: TP,
                position: 5,
                end_offset: 3,
            }),
            fetch(4, 3, None, 1),
            timer(Timer::ClientRequestTimeout, 30_000),
        ]
    );
}

/// KIP-320 (`SubscriptionState.maybeValidatePositionForCurrentLeader`, `FetchCollector`): a
/// new leader epoch puts the position in AWAIT_VALIDATION, and while it is there the answer to
/// a fetch sent before the change is ignored, records and all. The next fetch validates.
#[test]
fn an_answer_to_a_fetch_sent_before_a_leader_change_does_not_skip_validation() {
    let mut c = read_five_records();
    // The fetch at 5 is out when the metadata names epoch 1: nothing more is sent yet.
    assert_eq!(
        step(&mut c, 30, |c, ctx| c.on_message(ctx, BROKER1, metadata(1))),
        [timer(Timer::ClientRequestTimeout, 29_990)]
    );
    // The old fetch's answer (records 5-6 of epoch 0, a zombie leader's) is ignored, and the
    // next fetch carries the last epoch read, to validate the position.
    assert_eq!(
        step(&mut c, 40, |c, ctx| c.on_message(
            ctx,
            BROKER1,
            answer(2, 7, None, vec![batch(5, 2, 0)])
        )),
        [
            fetch(3, 5, Some(0), 1),
            timer(Timer::ClientRequestTimeout, 30_000)
        ]
    );
}

/// A metadata request lost with its connection is asked again once `retry.backoff.ms` has
/// passed (NetworkClient hands the disconnect to its metadata updater), not after
/// `request.timeout.ms`: the consumer once sat 30 s without a leader this way.
#[test]
fn a_metadata_request_lost_with_its_connection_is_asked_again_after_the_backoff() {
    let mut c = consumer();
    step(&mut c, 0, Consumer::on_start);
    step(&mut c, 0, |c, ctx| c.on_timer(ctx, Timer::Poll));
    let effects = step(&mut c, 1_000, |c, ctx| c.on_disconnect(ctx, BROKER1));
    assert!(
        effects.contains(&timer(Timer::ClientRetry, 100)),
        "{effects:?}"
    );
    assert_eq!(
        step(&mut c, 1_100, |c, ctx| c.on_timer(ctx, Timer::ClientRetry)),
        metadata_request()
    );
}

/// Kafka's `Metadata` allows the next update only `retry.backoff.ms` after the last one ended
/// (`timeToAllowUpdate`): an answer that names no leader is not followed by another request at
/// once, but at the client's retry.
#[test]
fn metadata_without_a_leader_is_asked_again_only_after_retry_backoff() {
    let mut c = consumer();
    step(&mut c, 0, Consumer::on_start);
    step(&mut c, 0, |c, ctx| c.on_timer(ctx, Timer::Poll));
    let no_leader = Msg::MetadataResponse {
        topic: 0,
        partitions: vec![PartitionMetadata {
            partition: 0,
            leader: None,
            leader_epoch: 0,
        }],
    };
    assert_eq!(
        step(&mut c, 5, |c, ctx| c.on_message(ctx, BROKER1, no_leader)),
        [timer(Timer::ClientRetry, 100)],
        "no new request straight after an answer"
    );
    assert_eq!(
        step(&mut c, 105, |c, ctx| c.on_timer(ctx, Timer::ClientRetry)),
        metadata_request()
    );
}

/// A fetch with no answer within `request.timeout.ms` is given up and sent again; the late
/// answer to the first is not read (Kafka's `NetworkClient` closed its connection), so it
/// cannot pass for the answer to the second.
#[test]
fn the_answer_to_a_fetch_that_timed_out_is_not_read() {
    let mut c = consumer();
    step(&mut c, 0, Consumer::on_start);
    step(&mut c, 0, |c, ctx| c.on_timer(ctx, Timer::Poll));
    step(&mut c, 5, |c, ctx| c.on_message(ctx, BROKER1, metadata(0)));
    let effects = step(&mut c, 30_005, |c, ctx| {
        c.on_timer(ctx, Timer::ClientRequestTimeout);
    });
    assert!(effects.contains(&fetch(1, LATEST, None, 0)), "{effects:?}");
    assert_eq!(
        step(&mut c, 30_010, |c, ctx| c.on_message(
            ctx,
            BROKER1,
            answer(0, 7, None, vec![])
        )),
        [],
        "the first fetch's answer is not read"
    );
    assert_eq!(
        step(&mut c, 30_020, |c, ctx| c.on_message(
            ctx,
            BROKER1,
            answer(1, 9, None, vec![])
        )),
        [
            fetch(2, 9, None, 0),
            timer(Timer::ClientRequestTimeout, 30_000)
        ]
    );
}
