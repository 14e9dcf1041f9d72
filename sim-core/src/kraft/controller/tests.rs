//! The quorum controller with exact inputs and effects: registration, heartbeats, fencing and
//! AlterPartition, each answered only once its records commit. No engine, no scenario file.

use super::*;
use crate::config::fixtures;
use crate::engine::Delay;
use crate::kraft::LogEntry;
use crate::kraft::raft::RaftConfig;
use crate::proto::{Effect, FetchRequest, VoteResponse};

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);
const BROKER1: NodeId = NodeId(3);

/// Three controllers (no pre-vote, to keep the election short) and broker-1, which alone
/// hosts topic `t`'s one partition.
fn cluster() -> ClusterConfig {
    let mut cluster = fixtures::cluster(1, vec![vec![1]]);
    cluster.raft = Arc::new(RaftConfig::kafka_defaults(
        vec![N0, NodeId(1), NodeId(2)],
        false,
    ));
    cluster
}

/// Runs one handler at `t_ms` and returns what it asked for.
fn step(
    c: &mut Controller,
    t_ms: u64,
    f: impl FnOnce(&mut Controller, &mut Ctx<'_>),
) -> Vec<Effect> {
    let mut effects = Vec::new();
    f(
        c,
        &mut Ctx::new(SimTime::from_millis(t_ms), N0, &mut effects),
    );
    c.check_invariants()
        .expect("the controller's invariants hold");
    effects
}

/// Controller 1's follower (node 1) has fetched everything below `offset` in epoch 1.
fn follower_fetch(offset: u64) -> Msg {
    Msg::Fetch(FetchRequest {
        correlation_id: 0,
        epoch: 1,
        fetch_offset: offset,
        last_fetched_epoch: 1,
        high_watermark: None,
        voter: true,
    })
}

/// Controller 1 (node 0) elected in epoch 1 with node 1's vote, and active once node 1 has
/// fetched its LeaderChange record (offset 0).
fn active() -> Controller {
    activated().0
}

/// [`active`], with the effects of the step that activated it.
fn activated() -> (Controller, Vec<Effect>) {
    let mut c = Controller::boot(Arc::new(cluster()), N0, RaftDisk::default(), 0);
    step(&mut c, 0, Controller::on_start);
    step(&mut c, 1500, |c, cx| c.on_timer(cx, Timer::Election));
    let granted = VoteResponse {
        epoch: 1,
        leader: None,
        granted: true,
        pre_vote: false,
    };
    step(&mut c, 1501, |c, cx| {
        c.on_message(cx, N1, Msg::VoteResponse(granted));
    });
    assert!(!c.is_active(), "not before its epoch start commits");
    let effects = step(&mut c, 1502, |c, cx| {
        c.on_message(cx, N1, follower_fetch(1));
    });
    assert!(c.is_active());
    (c, effects)
}

fn timer(timer: Timer, us: u64) -> Effect {
    Effect::SetTimer {
        timer,
        delay: Delay::Fixed(SimDuration::from_micros(us)),
    }
}

/// The leader's answer to node 1's fetch at `offset`, which has everything: no records, the HW.
fn fetch_answer(offset: u64, high_watermark: u64) -> [Effect; 2] {
    fetch_answer_with(offset, high_watermark, Vec::new())
}

/// The leader's answer to node 1's fetch at `offset`: `records` from there, and the HW.
fn fetch_answer_with(offset: u64, high_watermark: u64, records: Vec<LogEntry>) -> [Effect; 2] {
    [
        timer(Timer::CheckQuorum, 3_000_000),
        Effect::Send {
            to: N1,
            msg: Msg::FetchResponse(Box::new(crate::proto::FetchResponse {
                correlation_id: 0,
                epoch: 1,
                leader: Some(N0),
                error: None,
                high_watermark: Some(high_watermark),
                diverging: None,
                base_offset: offset,
                records,
            })),
        },
    ]
}

/// Topic `t`'s records as the controller creates it: its one partition led by broker-1.
fn topic_records() -> Vec<LogEntry> {
    let created = PartitionRegistration {
        replicas: vec![1],
        isr: vec![1],
        elr: Vec::new(),
        last_known_elr: Vec::new(),
        leader: Some(1),
        leader_epoch: 0,
        partition_epoch: 0,
        leader_recovery_state: LeaderRecoveryState::Recovered,
    };
    vec![
        LogEntry {
            epoch: 1,
            record: MetadataRecord::Topic { topic: 0 },
        },
        LogEntry {
            epoch: 1,
            record: MetadataRecord::Partition {
                tp: TopicPartition {
                    topic: 0,
                    partition: 0,
                },
                registration: Arc::new(created),
            },
        },
    ]
}

fn registration(incarnation: u32) -> Msg {
    Msg::BrokerRegistration {
        broker: 1,
        incarnation,
        previous_broker_epoch: None,
    }
}

fn registered(broker_epoch: u64, committed_offset: u64) -> Effect {
    Effect::Send {
        to: BROKER1,
        msg: Msg::BrokerRegistrationResponse {
            error: None,
            broker_epoch,
            committed_offset,
        },
    }
}

fn heartbeat(broker_epoch: u64, metadata_offset: u64) -> Msg {
    Msg::BrokerHeartbeat(BrokerHeartbeatRequest {
        broker: 1,
        broker_epoch,
        metadata_offset,
        want_fence: false,
        want_shut_down: false,
    })
}

#[test]
fn a_controller_that_is_not_active_refuses_a_registration() {
    let mut c = Controller::boot(Arc::new(cluster()), N0, RaftDisk::default(), 0);
    assert_eq!(
        step(&mut c, 0, |c, cx| c.on_message(
            cx,
            BROKER1,
            registration(1)
        )),
        [Effect::Send {
            to: BROKER1,
            msg: Msg::BrokerRegistrationResponse {
                error: Some(ControllerError::NotController),
                broker_epoch: 0,
                committed_offset: 0,
            },
        }]
    );
}

/// `ClusterControlManager.registerBroker`: the broker epoch is the offset of the registration
/// record, and the broker hears it only once that record commits (the controller completes a
/// write's future at commit). The same incarnation registering again keeps its epoch
/// (KAFKA-16952).
#[test]
fn a_registration_is_answered_with_its_record_offset_once_that_commits() {
    let mut c = active();
    // The LeaderChange record is offset 0: the registration record is offset 1.
    assert_eq!(
        step(&mut c, 1600, |c, cx| c.on_message(
            cx,
            BROKER1,
            registration(1)
        )),
        [],
        "nothing is answered before the record commits"
    );
    let mut expected = fetch_answer(2, 2).to_vec();
    expected.extend([
        Effect::Emit(Event::BrokerRegistered {
            broker: 1,
            broker_epoch: 1,
        }),
        registered(1, 2),
    ]);
    assert_eq!(
        step(&mut c, 1610, |c, cx| c.on_message(
            cx,
            N1,
            follower_fetch(2)
        )),
        expected
    );
    assert_eq!(
        step(&mut c, 1620, |c, cx| c.on_message(
            cx,
            BROKER1,
            registration(1)
        )),
        [registered(1, 2)],
        "the same incarnation again: its epoch, nothing written"
    );
}

/// A registered broker that has caught up with the metadata log is unfenced
/// (`BrokerHeartbeatManager`), told so once the record commits; the topic, assigned to it
/// alone, is created once it is unfenced. A heartbeat with another broker epoch is refused.
#[test]
fn a_caught_up_heartbeat_unfences_the_broker_and_then_its_topic_is_created() {
    let mut c = active();
    step(&mut c, 1600, |c, cx| {
        c.on_message(cx, BROKER1, registration(1));
    });
    step(&mut c, 1610, |c, cx| {
        c.on_message(cx, N1, follower_fetch(2));
    });
    assert_eq!(
        step(&mut c, 1700, |c, cx| c.on_message(
            cx,
            BROKER1,
            heartbeat(7, 2)
        )),
        [Effect::Send {
            to: BROKER1,
            msg: Msg::BrokerHeartbeatResponse(BrokerHeartbeatResponse {
                error: Some(ControllerError::StaleBrokerEpoch),
                is_caught_up: false,
                is_fenced: true,
                should_shut_down: false,
                committed_offset: 0,
            }),
        }]
    );
    // Caught up (it applied offsets 0 and 1): the unfence record (offset 2) is written; no
    // timer is armed for its session, which the periodic fence check looks at (KAFKA-17793).
    // The controller acts on its own latest state, uncommitted records included (Kafka's
    // timeline data structures), so the topic, whose one replica is now unfenced, is created
    // at once: its records are offsets 3 and 4.
    assert_eq!(
        step(&mut c, 1800, |c, cx| c.on_message(
            cx,
            BROKER1,
            heartbeat(1, 2)
        )),
        []
    );
    let mut expected = fetch_answer_with(3, 3, topic_records()).to_vec();
    expected.extend([
        Effect::Emit(Event::BrokerUnfenced {
            broker: 1,
            broker_epoch: 1,
            offset: 2,
        }),
        Effect::Send {
            to: BROKER1,
            msg: Msg::BrokerHeartbeatResponse(BrokerHeartbeatResponse {
                error: None,
                is_caught_up: true,
                is_fenced: false,
                should_shut_down: false,
                committed_offset: 3,
            }),
        },
    ]);
    assert_eq!(
        step(&mut c, 1810, |c, cx| c.on_message(
            cx,
            N1,
            follower_fetch(3)
        )),
        expected
    );
    // Node 1 has the topic's records: they commit.
    let mut expected = fetch_answer(5, 5).to_vec();
    expected.extend([
        Effect::Emit(Event::TopicCreated { topic: 0 }),
        Effect::Emit(Event::PartitionChanged {
            tp: TopicPartition {
                topic: 0,
                partition: 0,
            },
            leader: Some(1),
            leader_epoch: 0,
            partition_epoch: 0,
            isr: vec![1],
            elr: Vec::new(),
            election: Some(Election::Clean),
        }),
    ]);
    assert_eq!(
        step(&mut c, 1820, |c, cx| c.on_message(
            cx,
            N1,
            follower_fetch(5)
        )),
        expected
    );
}

/// `BrokerHeartbeatManager`: a broker not heard from for `broker.session.timeout.ms` is fenced
/// by the active controller, and its leaderships and ISR places go in the same records.
#[test]
fn a_silent_broker_is_fenced_when_its_session_expires_and_its_partition_goes_offline() {
    let mut c = active();
    step(&mut c, 1600, |c, cx| {
        c.on_message(cx, BROKER1, registration(1));
    });
    step(&mut c, 1610, |c, cx| {
        c.on_message(cx, N1, follower_fetch(2));
    });
    step(&mut c, 1800, |c, cx| {
        c.on_message(cx, BROKER1, heartbeat(1, 2));
    });
    step(&mut c, 1810, |c, cx| {
        c.on_message(cx, N1, follower_fetch(3));
    });
    step(&mut c, 1820, |c, cx| {
        c.on_message(cx, N1, follower_fetch(5));
    });
    // Node 1 keeps fetching (the quorum stays), broker-1 is silent after t = 1.8 s.
    step(&mut c, 5000, |c, cx| {
        c.on_message(cx, N1, follower_fetch(5));
    });
    // The periodic check (every 9 s / 8 = 1.125 s) that runs exactly at the session
    // timeout finds nothing: a session expires strictly after it.
    assert_eq!(
        step(&mut c, 10_800, |c, cx| c
            .on_timer(cx, Timer::FenceStaleBroker)),
        [timer(Timer::FenceStaleBroker, 1_125_000)],
        "not at the session timeout itself: the next check a period later"
    );
    let fenced = step(&mut c, 10_801, |c, cx| {
        c.on_timer(cx, Timer::FenceStaleBroker);
    });
    assert_eq!(
        fenced,
        [timer(Timer::FenceStaleBroker, 10_000)],
        "fenced, nothing told before the records commit; the task runs again 10 ms later for \
         the next stale one (`maybeFenceOneStaleBroker` fences one per run)"
    );
    // `handleBrokerFenced` writes the partition changes first, then the fence. The last ISR
    // member fenced leaves the ISR for the ELR (KIP-966) and nobody leads: the records are
    // offsets 5 and 6.
    let mut expected = fetch_answer(7, 7).to_vec();
    expected.extend([
        Effect::Emit(Event::PartitionChanged {
            tp: TopicPartition {
                topic: 0,
                partition: 0,
            },
            leader: None,
            leader_epoch: 1,
            partition_epoch: 1,
            isr: Vec::new(),
            elr: vec![1],
            election: Some(Election::None),
        }),
        Effect::Emit(Event::BrokerFenced {
            broker: 1,
            broker_epoch: 1,
            reason: FenceReason::SessionExpired,
            offset: 6,
        }),
    ]);
    assert_eq!(
        step(&mut c, 10_810, |c, cx| c.on_message(
            cx,
            N1,
            follower_fetch(7)
        )),
        expected
    );
}

/// Active controller 1 whose image has brokers 1 and 2 unfenced and `n` partitions with
/// replicas [1, 2], both in the ISR, led by broker 2: every one of them imbalanced.
fn imbalanced(n: u32) -> Controller {
    let mut c = active();
    let a = c.active.as_mut().expect("active");
    for b in [1, 2] {
        a.image.brokers.insert(
            b,
            BrokerRegistration {
                broker_epoch: u64::from(b),
                incarnation: 0,
                fenced: false,
                in_controlled_shutdown: false,
            },
        );
    }
    for partition in 0..n {
        let p = PartitionRegistration {
            replicas: vec![1, 2],
            isr: vec![1, 2],
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            leader: Some(2),
            leader_epoch: 3,
            partition_epoch: 5,
            leader_recovery_state: LeaderRecoveryState::Recovered,
        };
        let tp = TopicPartition {
            topic: 0,
            partition,
        };
        a.image.partitions.insert(tp, Arc::new(p));
    }
    c
}

/// The leader-balancing records the last run appended: (partition, new leader).
fn preferred_elections(c: &Controller) -> Vec<(u32, Option<BrokerId>)> {
    c.raft
        .log()
        .entries()
        .iter()
        .filter_map(|e| match &e.record {
            MetadataRecord::PartitionChange(ch) if ch.election == Some(Election::Preferred) => {
                Some((ch.tp.partition, ch.leader.flatten()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn periodic_tasks_first_run_a_period_after_activation_and_balancing_elects_isr_preferred_replicas()
{
    // `PeriodicTaskControlManager.activate`: "electPreferred" first runs one
    // `leader.imbalance.check.interval.seconds` (300 s) after activation.
    let (_, activation) = activated();
    assert!(
        activation.contains(&timer(Timer::ElectPreferred, 300_000_000)),
        "{activation:?}"
    );
    // The fence check too is a periodic task, a period (an eighth of the 9 s session) after
    // activation.
    assert!(
        activation.contains(&timer(Timer::FenceStaleBroker, 1_125_000)),
        "{activation:?}"
    );
    // Two partitions: one whose preferred replica may lead, one whose preferred replica is out
    // of the ISR (it stays with its valid leader, `electPreferredLeader`).
    let mut c = imbalanced(2);
    let a = c.active.as_mut().expect("active");
    let tp1 = TopicPartition {
        topic: 0,
        partition: 1,
    };
    Arc::make_mut(a.image.partitions.get_mut(&tp1).expect("partition 1")).isr = vec![2];
    let effects = step(&mut c, 301_502, |c, cx| {
        c.on_timer(cx, Timer::ElectPreferred);
    });
    assert_eq!(preferred_elections(&c), [(0, Some(1))]);
    assert!(
        effects.contains(&timer(Timer::ElectPreferred, 300_000_000)),
        "the next run a period later: {effects:?}"
    );
}

#[test]
fn leader_balancing_writes_at_most_a_thousand_elections_a_run_and_runs_again_10_ms_later() {
    // `maybeBalancePartitionLeaders` stops at MAX_ELECTIONS_PER_IMBALANCE records and asks to
    // run again at once, which `PeriodicTask` makes 10 ms.
    let mut c = imbalanced(1001);
    let effects = step(&mut c, 301_502, |c, cx| {
        c.on_timer(cx, Timer::ElectPreferred);
    });
    assert_eq!(preferred_elections(&c).len(), 1000);
    assert!(
        effects.contains(&timer(Timer::ElectPreferred, 10_000)),
        "{effects:?}"
    );
    step(&mut c, 301_512, |c, cx| {
        c.on_timer(cx, Timer::ElectPreferred);
    });
    assert_eq!(preferred_elections(&c).len(), 1001);
}
