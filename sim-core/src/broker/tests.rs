//! The broker with exact inputs and effects: its lifecycle with the controller, and its
//! replica manager leading a partition. No engine and no scenario file.

use super::*;
use crate::broker::log::RecordBatch;
use crate::config::Acks;
use crate::config::fixtures;
use crate::engine::Delay;
use crate::kraft::{LogEntry, PartitionRegistration};
use crate::proto::{
    BrokerHeartbeatRequest, Effect, Event, FetchResponse, Msg, PartitionFetch, PartitionFetchData,
    PartitionFetchRequest, PartitionFetchResponse, ProduceBatch, ProduceError,
    ProducePartitionResponse, ProduceRequest, ProduceResponse, Timer,
};

const CONTROLLER1: NodeId = NodeId(0);
const BROKER1: NodeId = NodeId(3);
const BROKER2: NodeId = NodeId(4);
/// A producer's node (the brokers do not check who writes).
const PRODUCER: NodeId = NodeId(5);

fn cluster() -> Arc<ClusterConfig> {
    Arc::new(fixtures::cluster(2, vec![vec![1, 2]]))
}

fn step(b: &mut Broker, t_ms: u64, f: impl FnOnce(&mut Broker, &mut Ctx<'_>)) -> Vec<Effect> {
    let mut effects = Vec::new();
    f(
        b,
        &mut Ctx::new(SimTime::from_millis(t_ms), BROKER1, &mut effects),
    );
    b.check_invariants().expect("the broker's invariants hold");
    effects
}

const TP: TopicPartition = TopicPartition {
    topic: 0,
    partition: 0,
};

fn entry(record: MetadataRecord) -> LogEntry {
    LogEntry { epoch: 1, record }
}

/// Controller 1's answer to the broker's metadata fetch `correlation_id`: `records` from
/// `base_offset`, and the HW.
fn metadata(
    correlation_id: u64,
    base_offset: u64,
    high_watermark: u64,
    records: Vec<MetadataRecord>,
) -> Msg {
    Msg::FetchResponse(Box::new(FetchResponse {
        correlation_id,
        epoch: 1,
        leader: Some(CONTROLLER1),
        error: None,
        high_watermark: Some(high_watermark),
        diverging: None,
        base_offset,
        records: records.into_iter().map(entry).collect(),
    }))
}

fn unfence(broker: BrokerId, broker_epoch: u64) -> MetadataRecord {
    MetadataRecord::BrokerRegistrationChange {
        broker,
        broker_epoch,
        fenced: Some(false),
        in_controlled_shutdown: None,
    }
}

/// The metadata log of a cluster where both brokers registered (epochs 1 and 2) and were
/// unfenced, and topic `t`'s partition was created led by broker-1 with ISR [1,2].
fn cluster_log() -> Vec<MetadataRecord> {
    vec![
        MetadataRecord::LeaderChange {
            leader: CONTROLLER1,
        },
        MetadataRecord::RegisterBroker {
            broker: 1,
            broker_epoch: 1,
            incarnation: 0,
        },
        MetadataRecord::RegisterBroker {
            broker: 2,
            broker_epoch: 2,
            incarnation: 0,
        },
        unfence(1, 1),
        unfence(2, 2),
        MetadataRecord::Topic { topic: 0 },
        MetadataRecord::Partition {
            tp: TP,
            registration: Arc::new(PartitionRegistration {
                replicas: vec![1, 2],
                isr: vec![1, 2],
                elr: Vec::new(),
                last_known_elr: Vec::new(),
                leader: Some(1),
                leader_epoch: 0,
                partition_epoch: 0,
                leader_recovery_state: crate::kraft::LeaderRecoveryState::Recovered,
            }),
        },
    ]
}

fn timer(timer: Timer, us: u64) -> Effect {
    Effect::SetTimer {
        timer,
        delay: Delay::Fixed(SimDuration::from_micros(us)),
    }
}

fn cancel(timer: Timer) -> Effect {
    Effect::CancelTimer { timer }
}

/// The observer's metadata fetch `correlation_id` to controller 1 in `epoch`, its log ending
/// at `fetch_offset` (all of it written in epoch 1).
fn metadata_fetch(
    correlation_id: u64,
    epoch: u32,
    fetch_offset: u64,
    high_watermark: Option<u64>,
) -> Effect {
    Effect::Send {
        to: CONTROLLER1,
        msg: Msg::Fetch(crate::proto::FetchRequest {
            correlation_id,
            epoch,
            fetch_offset,
            last_fetched_epoch: u32::from(fetch_offset > 0),
            high_watermark,
            voter: false,
        }),
    }
}

fn produce(acks: Acks, base_sequence: u32, count: u32) -> Msg {
    Msg::Produce(Box::new(ProduceRequest {
        request_id: u64::from(base_sequence),
        acks,
        timeout_ms: 30_000,
        batches: vec![ProduceBatch {
            tp: TP,
            producer_id: 1,
            base_sequence,
            count,
            idempotent: true,
        }],
    }))
}

fn produced(base_sequence: u32, result: Result<u64, ProduceError>) -> Effect {
    Effect::Send {
        to: PRODUCER,
        msg: Msg::ProduceResponse(Box::new(ProduceResponse {
            request_id: u64::from(base_sequence),
            partitions: vec![ProducePartitionResponse { tp: TP, result }],
        })),
    }
}

/// broker-2's fetch of the partition from `fetch_offset`.
fn follower_fetch(fetch_offset: u64) -> Msg {
    Msg::PartitionFetch(Box::new(PartitionFetchRequest {
        correlation_id: 0,
        replica: Some((2, 2)),
        max_wait_ms: 500,
        partitions: vec![PartitionFetch {
            tp: TP,
            fetch_offset,
            last_fetched_epoch: Some(0),
            current_leader_epoch: 0,
        }],
    }))
}

/// `BrokerServer.startup` and `BrokerLifecycleManager`: the first process starts at a time
/// drawn over one heartbeat interval, starts its metadata observer, holds its registration
/// until it knows the active controller, then registers, and heartbeats at once with its new
/// broker epoch, asking to stay fenced until it has caught up with the metadata log.
#[test]
fn a_broker_starts_registers_with_the_controller_it_learns_and_heartbeats_at_once() {
    let mut b = Broker::boot(cluster(), BROKER1, 1, BrokerDisk::default(), 0);
    assert_eq!(
        step(&mut b, 0, Broker::on_start),
        [Effect::SetTimer {
            timer: Timer::BrokerStartup,
            delay: Delay::Uniform {
                min: SimDuration::ZERO,
                max: SimDuration::from_millis(2000),
            },
        }]
    );
    assert_eq!(
        step(&mut b, 700, |b, cx| b.on_timer(cx, Timer::BrokerStartup)),
        [
            Effect::Emit(Event::BrokerLifecycle {
                state: BrokerState::Starting,
            }),
            Effect::Emit(Event::RaftState {
                state: crate::kraft::raft::RaftRole::Unattached,
                epoch: 0,
                leader: None,
                voted_for: None,
            }),
            timer(Timer::FetchTimeout, 2_000_000),
            metadata_fetch(0, 0, 0, None),
            timer(Timer::FetchRequestTimeout, 2_500_000),
            // The registration waits for a controller; it times out with the heartbeat's
            // request timeout.
            timer(Timer::Heartbeat, 4_500_000),
        ]
    );
    // Controller 1 answers in epoch 1: the observer follows it (the records of a response
    // that changes the epoch are not taken), and the registration goes to it.
    let effects = step(&mut b, 710, |b, cx| {
        b.on_message(
            cx,
            CONTROLLER1,
            metadata(0, 0, 1, cluster_log()[..1].to_vec()),
        );
    });
    assert_eq!(
        effects,
        [
            cancel(Timer::FetchRequestTimeout),
            Effect::Emit(Event::RaftState {
                state: crate::kraft::raft::RaftRole::Follower,
                epoch: 1,
                leader: Some(CONTROLLER1),
                voted_for: None,
            }),
            cancel(Timer::Election),
            cancel(Timer::ElectionBackoff),
            timer(Timer::FetchTimeout, 2_000_000),
            cancel(Timer::FetchRequestTimeout),
            metadata_fetch(1, 1, 0, None),
            timer(Timer::FetchRequestTimeout, 2_500_000),
            Effect::Send {
                to: CONTROLLER1,
                msg: Msg::BrokerRegistration {
                    broker: 1,
                    incarnation: 0,
                    previous_broker_epoch: None,
                },
            },
        ]
    );
    let registered = Msg::BrokerRegistrationResponse {
        error: None,
        broker_epoch: 1,
        committed_offset: 2,
    };
    assert_eq!(
        step(&mut b, 720, |b, cx| b.on_message(
            cx,
            CONTROLLER1,
            registered
        )),
        [
            timer(Timer::Heartbeat, 4_500_000),
            Effect::Send {
                to: CONTROLLER1,
                msg: Msg::BrokerHeartbeat(BrokerHeartbeatRequest {
                    broker: 1,
                    broker_epoch: 1,
                    metadata_offset: 0,
                    want_fence: true,
                    want_shut_down: false,
                }),
            },
        ]
    );
    assert_eq!(b.broker_epoch(), Some(1));
}

/// broker-1 registered, with the cluster's metadata log applied: it leads the partition with
/// ISR [1,2].
fn leader() -> Broker {
    let mut b = Broker::boot(cluster(), BROKER1, 1, BrokerDisk::default(), 0);
    step(&mut b, 0, Broker::on_start);
    step(&mut b, 700, |b, cx| b.on_timer(cx, Timer::BrokerStartup));
    step(&mut b, 710, |b, cx| {
        b.on_message(
            cx,
            CONTROLLER1,
            metadata(0, 0, 1, cluster_log()[..1].to_vec()),
        );
    });
    let registered = Msg::BrokerRegistrationResponse {
        error: None,
        broker_epoch: 1,
        committed_offset: 2,
    };
    step(&mut b, 720, |b, cx| {
        b.on_message(cx, CONTROLLER1, registered);
    });
    // `makeLeader` on the committed partition record: the leader's LEO (0) is where its epoch
    // starts (the LESO), and the ISR is the record's.
    assert_eq!(
        step(&mut b, 730, |b, cx| {
            b.on_message(cx, CONTROLLER1, metadata(1, 0, 7, cluster_log()));
        }),
        [
            cancel(Timer::FetchRequestTimeout),
            timer(Timer::FetchTimeout, 2_000_000),
            metadata_fetch(2, 1, 7, Some(7)),
            timer(Timer::FetchRequestTimeout, 2_500_000),
            timer(Timer::IsrExpiration, 15_000_000),
            timer(Timer::HighWatermarkCheckpoint, 5_000_000),
            Effect::Tell(Event::LogOpened {
                tp: TP,
                log_end_offset: 0,
                high_watermark: 0,
            }),
            Effect::Emit(Event::BecameLeader {
                tp: TP,
                leader_epoch: 0,
                partition_epoch: 0,
                leso: 0,
                high_watermark: 0,
                isr: vec![1, 2],
            }),
        ]
    );
    b
}

/// `Partition.appendRecordsToLeader` and `DelayedProduce`: an acks=all write waits until
/// every ISR member has it (the HW passes it), an acks=1 write is answered once the leader
/// has it; a follower's fetch with nothing new is parked for `replica.fetch.wait.max.ms` and
/// answered as soon as there is.
#[test]
fn an_acks_all_write_is_answered_when_the_isr_has_it_and_acks_1_at_once() {
    let mut b = leader();
    assert_eq!(
        step(&mut b, 800, |b, cx| b.on_message(
            cx,
            PRODUCER,
            produce(Acks::All, 0, 5)
        )),
        [
            Effect::Tell(Event::Appended {
                tp: TP,
                leader_epoch: 0,
                log_end_offset: 5,
            }),
            timer(Timer::ProduceTimeout, 30_000_000)
        ],
        "offsets 0-4 appended (told to the trace file); the answer waits for broker-2"
    );
    assert_eq!(
        step(&mut b, 810, |b, cx| b.on_message(
            cx,
            BROKER2,
            follower_fetch(5)
        )),
        [
            Effect::Emit(Event::HighWatermark {
                tp: TP,
                leader_epoch: 0,
                high_watermark: 5,
                log_end_offset: 5,
            }),
            produced(0, Ok(0)),
            timer(Timer::PartitionFetchWait, 500_000),
        ],
        "broker-2 has offsets 0-4: the HW moves to 5 and the write is acknowledged"
    );
    let effects = step(&mut b, 820, |b, cx| {
        b.on_message(cx, PRODUCER, produce(Acks::Leader, 5, 2));
    });
    assert_eq!(
        effects[0],
        Effect::Tell(Event::Appended {
            tp: TP,
            leader_epoch: 0,
            log_end_offset: 7,
        }),
        "{effects:?}"
    );
    assert_eq!(effects[1], produced(5, Ok(5)), "{effects:?}");
    let batch = RecordBatch {
        base_offset: 5,
        count: 2,
        leader_epoch: 0,
        producer_id: 1,
        base_sequence: 5,
        idempotent: true,
    };
    assert_eq!(
        effects[2..],
        [Effect::Send {
            to: BROKER2,
            msg: Msg::PartitionFetchResponse(Box::new(PartitionFetchResponse {
                correlation_id: 0,
                partitions: vec![PartitionFetchData {
                    tp: TP,
                    error: None,
                    high_watermark: 5,
                    diverging: None,
                    batches: vec![batch],
                }],
            })),
        }],
        "the parked fetch is answered with the new batch"
    );
}

/// A broker that does not lead the partition refuses a write: before it knows the topic,
/// and while it only follows.
#[test]
fn a_write_to_a_broker_that_does_not_lead_the_partition_is_refused() {
    let mut b = Broker::boot(cluster(), BROKER1, 1, BrokerDisk::default(), 0);
    step(&mut b, 0, Broker::on_start);
    step(&mut b, 700, |b, cx| b.on_timer(cx, Timer::BrokerStartup));
    assert_eq!(
        step(&mut b, 800, |b, cx| b.on_message(
            cx,
            PRODUCER,
            produce(Acks::All, 0, 5)
        )),
        [produced(0, Err(ProduceError::UnknownTopicOrPartition))]
    );
}

/// broker-2 (its process's `incarnation`) registered (broker epoch 2), with the cluster's
/// metadata log applied: it follows broker-1, and the effects of that last step (its first
/// fetch among them).
fn follower(incarnation: u32) -> (Broker, Vec<Effect>) {
    let mut b = Broker::boot(cluster(), BROKER2, 2, BrokerDisk::default(), incarnation);
    // A first process starts at a time drawn over a heartbeat interval; a restart, at once.
    step(&mut b, 0, Broker::on_start);
    if incarnation == 0 {
        step(&mut b, 700, |b, cx| b.on_timer(cx, Timer::BrokerStartup));
    }
    // Its metadata observer asked controller-2, which names controller-1 as the leader.
    let first = u64::from(incarnation) << 32;
    step(&mut b, 710, |b, cx| {
        b.on_message(
            cx,
            NodeId(1),
            metadata(first, 0, 1, cluster_log()[..1].to_vec()),
        );
    });
    let registered = Msg::BrokerRegistrationResponse {
        error: None,
        broker_epoch: 2,
        committed_offset: 2,
    };
    step(&mut b, 720, |b, cx| {
        b.on_message(cx, CONTROLLER1, registered);
    });
    let effects = step(&mut b, 730, |b, cx| {
        b.on_message(cx, CONTROLLER1, metadata(first + 1, 0, 7, cluster_log()));
    });
    (b, effects)
}

/// The replica fetches among `effects`: (correlation id, fetch offset).
fn replica_fetches(effects: &[Effect]) -> Vec<(u64, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: BROKER1,
                msg: Msg::PartitionFetch(f),
            } => Some((f.correlation_id, f.partitions[0].fetch_offset)),
            _ => None,
        })
        .collect()
}

/// broker-1's answer to fetch `correlation_id`: records from offset 0 to `end`, HW `end`.
fn leader_answer(correlation_id: u64, end: u64) -> Msg {
    Msg::PartitionFetchResponse(Box::new(PartitionFetchResponse {
        correlation_id,
        partitions: vec![PartitionFetchData {
            tp: TP,
            error: None,
            high_watermark: end,
            diverging: None,
            batches: vec![RecordBatch {
                base_offset: 0,
                count: end as u32,
                leader_epoch: 0,
                producer_id: 1,
                base_sequence: 0,
                idempotent: true,
            }],
        }],
    }))
}

/// What broker-2 does at `t_ms` with broker-1's answer to fetch `correlation_id`.
fn on_answer(b: &mut Broker, t_ms: u64, correlation_id: u64, end: u64) -> Vec<Effect> {
    step(b, t_ms, |b, cx| {
        b.on_message(cx, BROKER1, leader_answer(correlation_id, end));
    })
}

/// `replica.socket.timeout.ms`: a follower whose fetch has no answer fetches again, and the
/// late answer to the first fetch is not read, because Kafka's `NetworkClient` closed the
/// connection the request timed out on. Read as the answer to the second fetch, it would
/// be applied to a request it does not answer (after a long pause, two such answers once left
/// a partition fenced for good, as fuzzing found).
#[test]
fn a_follower_does_not_read_the_answer_to_a_fetch_it_gave_up_on() {
    let (mut b, effects) = follower(0);
    assert_eq!(replica_fetches(&effects), [(0, 0)], "{effects:?}");
    let effects = step(&mut b, 30_730, |b, cx| {
        b.on_timer(cx, Timer::ReplicaFetch(1));
    });
    assert_eq!(replica_fetches(&effects), [(1, 0)], "{effects:?}");
    assert_eq!(
        on_answer(&mut b, 30_800, 0, 5),
        [],
        "the first fetch's answer is not read"
    );
    let effects = on_answer(&mut b, 30_810, 1, 5);
    assert_eq!(replica_fetches(&effects), [(2, 5)], "{effects:?}");
    assert_eq!(b.replicas.partitions()[&TP].log_end_offset(), 5);
}

/// A restarted follower's fetches are its own: an answer to a fetch of its previous process
/// (parked at the leader, and sent after the restart) is not read, even where both processes
/// numbered their fetches alike, because it came over a connection that died with that process.
#[test]
fn a_restarted_follower_does_not_read_an_answer_meant_for_its_previous_process() {
    let (mut b, effects) = follower(1);
    let first = 1 << 32;
    assert_eq!(replica_fetches(&effects), [(first, 0)], "{effects:?}");
    assert_eq!(
        on_answer(&mut b, 800, 0, 5),
        [],
        "the answer to the previous process's first fetch is not read"
    );
    let effects = on_answer(&mut b, 810, first, 5);
    assert_eq!(replica_fetches(&effects), [(first + 1, 5)], "{effects:?}");
}
