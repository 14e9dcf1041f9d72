//! The partition replica state machine with exact inputs and outputs: truncation points from
//! the epoch cache, HW advance, ISR shrink and expand decisions, produce and AlterPartition
//! handling. No engine: time and metadata are arguments.

use std::collections::BTreeMap;

use super::*;
use crate::kraft::{BrokerRegistration, LeaderRecoveryState};

const TP: TopicPartition = TopicPartition {
    topic: 0,
    partition: 0,
};

fn config() -> PartitionConfig {
    PartitionConfig {
        min_isr: 2,
        flush_messages: u64::MAX,
        replica_lag_time_max: SimDuration::from_secs(30),
        rules: ReplicationRules::default(),
    }
}

fn at(secs: u64) -> SimTime {
    SimTime::from_millis(secs * 1000)
}

fn registration(leader: BrokerId, leader_epoch: u32, isr: &[BrokerId]) -> PartitionRegistration {
    PartitionRegistration {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        elr: Vec::new(),
        last_known_elr: Vec::new(),
        leader: Some(leader),
        leader_epoch,
        partition_epoch: leader_epoch,
        leader_recovery_state: LeaderRecoveryState::Recovered,
    }
}

/// Brokers 1..=3 registered with broker epochs 10, 20, 30, all active.
fn image() -> MetadataImage {
    let mut brokers = BTreeMap::new();
    for b in 1..=3 {
        brokers.insert(
            b,
            BrokerRegistration {
                broker_epoch: u64::from(b) * 10,
                incarnation: 0,
                fenced: false,
                in_controlled_shutdown: false,
            },
        );
    }
    MetadataImage {
        brokers,
        ..MetadataImage::default()
    }
}

fn batch(base_offset: u64, count: u32, epoch: u32) -> RecordBatch {
    RecordBatch {
        base_offset,
        count,
        leader_epoch: epoch,
        producer_id: 7,
        base_sequence: base_offset as u32,
        idempotent: true,
    }
}

fn produce(seq: u32, count: u32) -> ProduceBatch {
    ProduceBatch {
        tp: TP,
        producer_id: 7,
        base_sequence: seq,
        count,
        idempotent: true,
    }
}

fn fetch(offset: u64, last_epoch: Option<u32>, leader_epoch: u32) -> PartitionFetch {
    PartitionFetch {
        tp: TP,
        fetch_offset: offset,
        last_fetched_epoch: last_epoch,
        current_leader_epoch: leader_epoch,
    }
}

/// Broker 1 leading epoch 1 with ISR [1, 2, 3] and 10 records of epoch 1.
fn leader() -> Partition {
    let mut p = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    assert!(p.make_leader(at(0), 1, &registration(1, 1, &[1, 2, 3])));
    p.append_as_leader(&produce(0, 10), Acks::All, &config(), SimTime::ZERO)
        .expect("appended");
    p
}

#[test]
fn becoming_leader_starts_the_epoch_at_the_leo_and_forgets_follower_progress() {
    let mut p = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    let mut log = PartitionLog::default();
    log.append(batch(0, 4, 1), u64::MAX, SimTime::ZERO);
    p.log = log;
    assert!(p.make_leader(at(5), 2, &registration(2, 3, &[2, 3])));
    let state = p.leader_state.as_ref().unwrap();
    assert_eq!(state.leso, 4);
    assert_eq!(p.log.end_offset_for_epoch(3), Some((3, 4)));
    assert_eq!(state.followers[&3].leo, None);
    assert_eq!(
        state.followers[&3].last_caught_up,
        Some(at(5)),
        "ISR members start caught up"
    );
    assert_eq!(
        state.followers[&1].last_caught_up, None,
        "others never caught up"
    );
    // The same epoch again only updates the ISR.
    assert!(!p.make_leader(at(6), 2, &registration(2, 3, &[2, 3, 1])));
    assert_eq!(p.leader_state.as_ref().unwrap().isr, vec![2, 3, 1]);
}

#[test]
fn acks_all_is_refused_below_min_isr_before_append_and_duplicates_answer_the_first_offset() {
    let mut p = leader();
    assert_eq!(
        p.append_as_leader(&produce(10, 5), Acks::All, &config(), SimTime::ZERO),
        Ok(10)
    );
    assert_eq!(
        p.append_as_leader(&produce(10, 5), Acks::All, &config(), SimTime::ZERO),
        Ok(10),
        "a retried batch is not written twice"
    );
    assert_eq!(p.log_end_offset(), 15);
    assert_eq!(
        p.append_as_leader(&produce(20, 1), Acks::All, &config(), SimTime::ZERO),
        Err(ProduceError::OutOfOrderSequenceNumber)
    );
    p.make_leader(at(1), 1, &registration(1, 1, &[1]));
    assert_eq!(
        p.append_as_leader(&produce(15, 1), Acks::All, &config(), SimTime::ZERO),
        Err(ProduceError::NotEnoughReplicas)
    );
    assert_eq!(p.log_end_offset(), 15, "nothing appended");
    assert_eq!(
        p.append_as_leader(&produce(15, 1), Acks::Leader, &config(), SimTime::ZERO),
        Ok(15)
    );
}

#[test]
fn the_hw_waits_for_the_slowest_maximal_isr_member_and_not_below_min_isr() {
    let mut p = leader();
    let image = image();
    let c = config();
    // Follower progress comes from fetch offsets (each follower's LEO).
    p.on_replica_fetch(
        at(1),
        2,
        20,
        &fetch(10, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(
        p.maybe_increment_hw(at(1), &image, &c),
        None,
        "broker 3 has nothing yet"
    );
    p.on_replica_fetch(
        at(1),
        3,
        30,
        &fetch(6, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(p.maybe_increment_hw(at(1), &image, &c), Some(6));
    p.on_replica_fetch(
        at(2),
        3,
        30,
        &fetch(10, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(p.maybe_increment_hw(at(2), &image, &c), Some(10));
    // ISR of one with min ISR 2: the HW stays put (KAFKA-15583), even with data to commit.
    p.make_leader(at(3), 1, &registration(1, 1, &[1]));
    p.append_as_leader(&produce(10, 2), Acks::Leader, &c, SimTime::ZERO)
        .unwrap();
    p.on_replica_fetch(
        at(40),
        2,
        20,
        &fetch(12, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    // (At 40 s broker 3, out of the ISR, is no longer caught up and does not hold the HW.)
    assert_eq!(p.maybe_increment_hw(at(40), &image, &c), None);
    let pre_3_7 = PartitionConfig {
        rules: ReplicationRules {
            strict_min_isr: false,
            ..ReplicationRules::default()
        },
        ..config()
    };
    assert_eq!(p.maybe_increment_hw(at(40), &image, &pre_3_7), Some(12));
}

#[test]
fn a_shrink_drops_only_followers_behind_for_longer_than_the_lag_time() {
    let mut p = leader();
    let image = image();
    let c = config();
    p.on_replica_fetch(
        at(10),
        2,
        20,
        &fetch(10, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(
        p.isr_to_shrink(at(20), &c),
        None,
        "broker 3 caught up at election, 20 s ago"
    );
    assert_eq!(p.isr_to_shrink(at(31), &c), Some(vec![1, 2]));
    // While the shrink is pending the HW still waits for broker 3 (maximal ISR).
    p.set_pending(1, vec![1, 2], at(31), &ReplicationRules::default());
    assert_eq!(
        p.leader_state.as_ref().unwrap().maximal_isr(),
        vec![1, 2, 3]
    );
    assert_eq!(
        p.isr_to_shrink(at(40), &c),
        None,
        "one AlterPartition at a time"
    );
    // A follower that fetched up to the leader's LEO a moment ago is caught up.
    let mut q = leader();
    q.on_replica_fetch(
        at(35),
        3,
        30,
        &fetch(10, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    q.on_replica_fetch(
        at(35),
        2,
        20,
        &fetch(10, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(q.isr_to_shrink(at(60), &c), None);
}

#[test]
fn expansion_needs_the_hw_the_leso_and_an_eligible_current_incarnation() {
    let mut p = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    let mut log = PartitionLog::default();
    log.append(batch(0, 10, 1), u64::MAX, SimTime::ZERO);
    p.log = log;
    p.make_leader(at(0), 1, &registration(1, 2, &[1, 2]));
    let other_producer = ProduceBatch {
        producer_id: 8,
        ..produce(0, 5)
    };
    p.append_as_leader(&other_producer, Acks::All, &config(), SimTime::ZERO)
        .unwrap();
    let image = image();
    // LESO is 10: a follower at 8 is not in sync even when the HW is 0.
    p.on_replica_fetch(
        at(1),
        3,
        30,
        &fetch(8, Some(1), 2),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(
        p.isr_to_expand(3, &image, &ReplicationRules::default()),
        None,
        "below the LESO (KAFKA-7128)"
    );
    p.on_replica_fetch(
        at(1),
        3,
        30,
        &fetch(10, Some(1), 2),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(
        p.isr_to_expand(3, &image, &ReplicationRules::default()),
        Some(vec![1, 2, 3])
    );
    // A fetch from broker 3's older incarnation (broker epoch 29; the metadata has 30), at
    // offset 15: what it answers, and the LEO the leader then knows of broker 3.
    let old_incarnation_fetch = |image: &MetadataImage| {
        let mut q = p.clone();
        let (data, updated) = q.on_replica_fetch(
            at(2),
            3,
            29,
            &fetch(15, Some(2), 2),
            image,
            &ReplicationRules::default(),
        );
        let leo = q.leader_state.as_ref().unwrap().followers[&3].leo;
        (data, updated, leo)
    };
    // It is not progress (KIP-903), and it is refused: `Replica.updateFetchStateOrThrow`
    // throws NOT_LEADER_OR_FOLLOWER, which fails the partition's read
    // (PartitionTest.testFenceFollowerFetchWithStaleBrokerEpoch).
    let (data, updated, leo) = old_incarnation_fetch(&image);
    assert_eq!(data.error, Some(FetchError::NotLeaderOrFollower));
    assert!(data.batches.is_empty() && !updated);
    assert_eq!(leo, Some(10));
    // Kafka compares with `getAliveBrokerEpoch`, which has no epoch for a fenced broker: the
    // old incarnation's fetch then counts, and the broker epoch it carries keeps it out.
    let mut fenced = image.clone();
    fenced.brokers.get_mut(&3).unwrap().fenced = true;
    let (data, updated, leo) = old_incarnation_fetch(&fenced);
    assert_eq!(data.error, None);
    assert!(updated);
    assert_eq!(leo, Some(15));
    // A fenced broker is not eligible (KIP-841).
    assert_eq!(
        p.isr_to_expand(3, &fenced, &ReplicationRules::default()),
        None
    );
}

#[test]
fn a_pending_expansion_keeps_the_broker_epoch_it_was_judged_on() {
    let mut p = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    p.make_leader(at(0), 1, &registration(1, 2, &[1, 2]));
    let mut image = image();
    let rules = ReplicationRules::default();
    p.on_replica_fetch(at(1), 3, 30, &fetch(0, None, 2), &image, &rules);
    let proposed = p.isr_to_expand(3, &image, &rules).unwrap();
    p.set_pending(1, proposed, at(1), &rules);
    // broker-3 restarts with an empty disk and registers again (epoch 31) while the
    // AlterPartition is in flight; its new incarnation fetches.
    image.brokers.get_mut(&3).unwrap().broker_epoch = 31;
    p.on_replica_fetch(at(2), 3, 31, &fetch(0, None, 2), &image, &rules);
    let pending = p.leader_state.as_ref().unwrap().pending.as_ref().unwrap();
    assert_eq!(pending.proposed, vec![1, 2, 3]);
    // A retry must still name epoch 30, so the controller refuses it (INELIGIBLE_REPLICA).
    // broker-2 has not fetched in this epoch: no epoch is known, so none is checked.
    assert_eq!(pending.broker_epochs, vec![None, None, Some(30)]);
}

#[test]
fn fetches_are_checked_against_the_leader_epoch_and_the_epoch_cache() {
    let mut p = leader();
    let image = image();
    let (data, _) = p.on_replica_fetch(
        at(1),
        2,
        20,
        &fetch(0, None, 0),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(data.error, Some(FetchError::FencedLeaderEpoch));
    let (data, _) = p.on_replica_fetch(
        at(1),
        2,
        20,
        &fetch(0, None, 2),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(data.error, Some(FetchError::UnknownLeaderEpoch));
    // The follower has 12 records of epoch 1 but the leader's epoch 1 ends at 10: diverging,
    // and no progress is recorded from a diverging fetch (KAFKA-13141).
    let (data, updated) = p.on_replica_fetch(
        at(1),
        2,
        20,
        &fetch(12, Some(1), 1),
        &image,
        &ReplicationRules::default(),
    );
    assert_eq!(data.diverging, Some((1, 10)));
    assert!(!updated);
    assert_eq!(p.leader_state.as_ref().unwrap().followers[&2].leo, None);
    // Consumers read only below the HW.
    assert!(
        p.on_consumer_fetch(&fetch(0, None, 1), &ReplicationRules::default())
            .batches
            .is_empty()
    );
}

#[test]
fn a_follower_truncates_iteratively_by_epoch_kip_279() {
    // Follower: epochs 1 at 0, 2 at 5, 3 at 8; LEO 10. Leader: epochs 1 at 0, 4 at 6.
    let mut f = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    let mut log = PartitionLog::default();
    log.append(batch(0, 5, 1), u64::MAX, SimTime::ZERO);
    log.append(batch(5, 3, 2), u64::MAX, SimTime::ZERO);
    log.append(batch(8, 2, 3), u64::MAX, SimTime::ZERO);
    f.log = log;
    f.high_watermark = 5;
    f.make_follower(&registration(1, 4, &[1, 2, 3]), &config());
    let c = config();
    assert_eq!(f.fetch_entry(&c).last_fetched_epoch, Some(3));
    // The leader lacks epoch 3: it answers with its largest epoch below (1) and where it ends.
    let diverging = |epoch, end| PartitionFetchData {
        tp: TP,
        error: None,
        high_watermark: 6,
        diverging: Some((epoch, end)),
        batches: Vec::new(),
    };
    let out = f.on_fetch_data(&diverging(1, 6), &c, SimTime::ZERO);
    // The follower's epoch 1 ends at 5 (epoch 2 starts there): min(5, 6) = 5.
    assert_eq!(out.truncated, Some((10, 5)));
    assert_eq!(f.log.latest_epoch(), Some(1));
    // Second case: the follower lacks the leader's epoch and truncates to the end of its
    // largest epoch below, then asks again (truncation not complete).
    let mut g = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    let mut log = PartitionLog::default();
    log.append(batch(0, 5, 1), u64::MAX, SimTime::ZERO);
    log.append(batch(5, 5, 3), u64::MAX, SimTime::ZERO);
    g.log = log;
    let out = g.on_fetch_data(&diverging(2, 7), &c, SimTime::ZERO);
    assert_eq!(out.truncated, Some((10, 5)), "epoch 1 ends at 5 here");
    // Appending continues at the LEO, and the HW is min(leader HW, LEO).
    let data = PartitionFetchData {
        tp: TP,
        error: None,
        high_watermark: 9,
        diverging: None,
        batches: vec![batch(5, 2, 2)],
    };
    let out = g.on_fetch_data(&data, &c, SimTime::ZERO);
    assert!(out.appended);
    assert_eq!(g.log_end_offset(), 7);
    assert_eq!(g.high_watermark, 7);
}

#[test]
fn pre_kip_101_followers_truncate_to_their_own_hw() {
    let mut f = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    let mut log = PartitionLog::default();
    log.append(batch(0, 10, 1), u64::MAX, SimTime::ZERO);
    f.log = log;
    f.high_watermark = 7;
    f.make_follower(&registration(1, 1, &[1, 2, 3]), &config());
    let old = PartitionConfig {
        rules: ReplicationRules {
            keep_log_on_follow: false,
            ..ReplicationRules::default()
        },
        ..config()
    };
    let (changed, truncated) = f.make_follower(&registration(2, 2, &[2, 3]), &old);
    assert!(changed);
    assert_eq!(truncated, Some((10, 7)));
}

#[test]
fn alter_partition_answers_commit_revert_or_wait() {
    let mut p = leader();
    p.set_pending(1, vec![1, 2], at(1), &ReplicationRules::default());
    let ok = AlterPartitionResponse {
        tp: TP,
        proposal: 1,
        error: None,
        leader_epoch: 1,
        partition_epoch: 2,
        isr: vec![1, 2],
    };
    assert_eq!(p.on_alter_partition_response(&ok), Some(false));
    assert_eq!(p.leader_state.as_ref().unwrap().isr, vec![1, 2]);
    assert_eq!(p.partition_epoch, 2);
    assert!(p.leader_state.as_ref().unwrap().pending.is_none());
    // Ineligible: revert to the committed ISR.
    p.set_pending(2, vec![1, 2, 3], at(2), &ReplicationRules::default());
    let refused = AlterPartitionResponse {
        proposal: 2,
        error: Some(AlterPartitionError::IneligibleReplica),
        ..ok.clone()
    };
    assert_eq!(p.on_alter_partition_response(&refused), Some(false));
    assert!(p.leader_state.as_ref().unwrap().pending.is_none());
    // Fenced leader epoch: stay pending until metadata says more.
    p.set_pending(3, vec![1, 2, 3], at(3), &ReplicationRules::default());
    let fenced = AlterPartitionResponse {
        proposal: 3,
        error: Some(AlterPartitionError::FencedLeaderEpoch),
        ..ok.clone()
    };
    assert_eq!(p.on_alter_partition_response(&fenced), Some(false));
    assert!(p.leader_state.as_ref().unwrap().pending.is_some());
    // Not the controller: retry.
    let moved = AlterPartitionResponse {
        proposal: 3,
        error: Some(AlterPartitionError::NotController),
        ..ok
    };
    assert_eq!(p.on_alter_partition_response(&moved), Some(true));
}

#[test]
fn an_answer_at_the_current_partition_epoch_commits_the_isr_it_gives() {
    // Kafka's handleAlterPartitionUpdate: "leaderAndIsr.partitionEpoch == partitionEpoch: No
    // update was performed since proposed and actual state are the same. In both cases, we
    // want to move from Pending to Committed state to ensure new updates are processed."
    let mut p = leader();
    p.set_pending(4, vec![1, 2, 3], at(1), &ReplicationRules::default());
    let unchanged = AlterPartitionResponse {
        tp: TP,
        proposal: 4,
        error: None,
        leader_epoch: 1,
        partition_epoch: 1,
        isr: vec![1, 2, 3],
    };
    assert_eq!(p.on_alter_partition_response(&unchanged), Some(false));
    let state = p.leader_state.as_ref().unwrap();
    assert!(
        state.pending.is_none(),
        "committed, so the next change can be proposed"
    );
    assert_eq!(state.isr, vec![1, 2, 3]);
    // An answer older than what metadata brought is ignored, and the proposal stays pending.
    p.partition_epoch = 3;
    p.set_pending(5, vec![1, 2], at(2), &ReplicationRules::default());
    let older = AlterPartitionResponse {
        proposal: 5,
        partition_epoch: 2,
        isr: vec![1, 2],
        ..unchanged
    };
    assert_eq!(p.on_alter_partition_response(&older), Some(false));
    assert!(p.leader_state.as_ref().unwrap().pending.is_some());
    assert_eq!(p.partition_epoch, 3);
}

#[test]
fn an_answer_to_an_earlier_proposal_is_ignored() {
    let mut p = leader();
    let pending = |p: &Partition| p.leader_state.as_ref().unwrap().pending.clone();
    p.set_pending(8, vec![1, 2, 3], at(5), &ReplicationRules::default());
    let before = pending(&p);
    // Answers to proposal 7, which metadata replaced before they came: Kafka's
    // Partition.submitAlterPartition ignores them, error or success, since the partition's
    // state is no longer the one they were sent for.
    let stale = |error| AlterPartitionResponse {
        tp: TP,
        proposal: 7,
        error,
        leader_epoch: 1,
        partition_epoch: 2,
        isr: vec![1, 2],
    };
    for error in [
        Some(AlterPartitionError::IneligibleReplica),
        Some(AlterPartitionError::NotController),
        None,
    ] {
        assert_eq!(p.on_alter_partition_response(&stale(error)), None);
        assert_eq!(pending(&p), before, "{error:?}");
        assert_eq!(p.partition_epoch, 1);
    }
}

#[test]
fn the_controller_validates_alter_partition_in_kafkas_order() {
    use crate::kraft::controller::validate_alter_partition;
    use crate::proto::AlterPartitionRequest;
    let mut image = image();
    image
        .partitions
        .insert(TP, std::sync::Arc::new(registration(1, 3, &[1, 2])));
    let req = |broker_epoch, leader_epoch, partition_epoch, isr: &[(BrokerId, Option<u64>)]| {
        AlterPartitionRequest {
            broker: 1,
            broker_epoch,
            tp: TP,
            leader_epoch,
            partition_epoch,
            new_isr: isr.to_vec(),
            proposal: 0,
        }
    };
    let good = [(1, Some(10)), (2, Some(20)), (3, Some(30))];
    assert_eq!(
        validate_alter_partition(&image, &req(10, 3, 3, &good)),
        Ok(())
    );
    use AlterPartitionError as E;
    assert_eq!(
        validate_alter_partition(&image, &req(9, 3, 3, &good)),
        Err(E::StaleBrokerEpoch)
    );
    assert_eq!(
        validate_alter_partition(&image, &req(10, 2, 3, &good)),
        Err(E::FencedLeaderEpoch),
        "a zombie leader"
    );
    assert_eq!(
        validate_alter_partition(&image, &req(10, 3, 2, &good)),
        Err(E::InvalidUpdateVersion)
    );
    assert_eq!(
        validate_alter_partition(&image, &req(10, 4, 3, &good)),
        Err(E::NotController)
    );
    assert_eq!(
        validate_alter_partition(&image, &req(10, 3, 3, &[(2, Some(20))])),
        Err(E::InvalidRequest),
        "the leader must stay in the ISR"
    );
    assert_eq!(
        validate_alter_partition(&image, &req(10, 3, 3, &[(1, Some(10)), (3, Some(29))])),
        Err(E::IneligibleReplica),
        "an older incarnation of broker 3 (KIP-903)"
    );
    image.brokers.get_mut(&3).unwrap().in_controlled_shutdown = true;
    assert_eq!(
        validate_alter_partition(&image, &req(10, 3, 3, &good)),
        Err(E::IneligibleReplica)
    );
}

fn with_rules(rules: ReplicationRules) -> PartitionConfig {
    PartitionConfig { rules, ..config() }
}

#[test]
fn offsets_for_epoch_v0_truncates_to_the_leaders_offset_once_and_keeps_a_diverged_suffix() {
    // Follower: epoch 1 at [0, 5), epoch 2 at [5, 8). The leader never had epoch 2: it has
    // epoch 1 up to 10 and epoch 3 from there, and answers (1, 10).
    let follower = || {
        let mut f = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
        let mut log = PartitionLog::default();
        log.append(batch(0, 5, 1), u64::MAX, SimTime::ZERO);
        log.append(batch(5, 3, 2), u64::MAX, SimTime::ZERO);
        f.log = log;
        f.make_follower(&registration(1, 3, &[1, 2, 3]), &config());
        f
    };
    let answer = PartitionFetchData {
        tp: TP,
        error: None,
        high_watermark: 0,
        diverging: Some((1, 10)),
        batches: Vec::new(),
    };
    // KIP-279: agree on epoch 1, which ends at 5 here.
    let mut modern = follower();
    assert_eq!(
        modern
            .on_fetch_data(&answer, &config(), SimTime::ZERO)
            .truncated,
        Some((8, 5))
    );
    // v0: the offset alone (10) is past the LEO, so nothing is cut, and later fetches carry
    // no epoch: the epoch-2 records at [5, 8) stay.
    let v0 = with_rules(ReplicationRules {
        truncation: FollowerTruncation::OffsetsForEpochV0,
        ..ReplicationRules::default()
    });
    let mut old = follower();
    assert_eq!(old.fetch_entry(&v0).last_fetched_epoch, Some(2));
    assert_eq!(
        old.on_fetch_data(&answer, &v0, SimTime::ZERO).truncated,
        None
    );
    assert_eq!(old.log_end_offset(), 8);
    assert_eq!(old.fetch_entry(&v0).last_fetched_epoch, None);
    // Becoming follower of a new epoch asks again.
    old.make_follower(&registration(1, 4, &[1, 2, 3]), &v0);
    assert_eq!(old.fetch_entry(&v0).last_fetched_epoch, Some(2));
}

#[test]
fn before_kafka_13141_a_diverging_fetch_counts_as_progress() {
    let mut p = leader();
    let image = image();
    let old = ReplicationRules {
        skip_state_on_diverging_fetch: false,
        ..ReplicationRules::default()
    };
    // The follower claims 12 records of epoch 1; the leader has 10: diverging, yet counted.
    let (data, updated) = p.on_replica_fetch(at(1), 2, 20, &fetch(12, Some(1), 1), &image, &old);
    assert_eq!(data.diverging, Some((1, 10)));
    assert!(updated);
    assert_eq!(p.leader_state.as_ref().unwrap().followers[&2].leo, Some(12));
}

#[test]
fn variants_drop_the_leso_rule_epoch_fencing_and_broker_epochs() {
    let image = image();
    // Leader of epoch 2 whose epoch started at 10 (LESO); the HW is 0.
    let mut p = leader();
    assert!(p.make_leader(at(1), 1, &registration(1, 2, &[1, 2])));
    let no_leso = ReplicationRules {
        leso_rule: false,
        ..ReplicationRules::default()
    };
    p.on_replica_fetch(at(1), 3, 30, &fetch(8, Some(1), 2), &image, &no_leso);
    assert_eq!(
        p.isr_to_expand(3, &image, &ReplicationRules::default()),
        None
    );
    assert_eq!(p.isr_to_expand(3, &image, &no_leso), Some(vec![1, 2, 3]));
    // Without KIP-320 fencing a fetch in an older epoch is served.
    let no_fencing = ReplicationRules {
        epoch_fencing_on_fetch: false,
        ..ReplicationRules::default()
    };
    let (data, _) = p.on_replica_fetch(at(2), 2, 20, &fetch(10, Some(1), 1), &image, &no_fencing);
    assert_eq!(data.error, None);
    // Without KIP-903 a fetch from an older incarnation (broker epoch 29 < 30) is progress.
    let no_epochs = ReplicationRules {
        broker_epoch_in_isr: false,
        ..ReplicationRules::default()
    };
    let (_, updated) = p.on_replica_fetch(at(3), 3, 29, &fetch(10, Some(1), 2), &image, &no_epochs);
    assert!(updated);
    assert_eq!(
        p.leader_state.as_ref().unwrap().followers[&3].broker_epoch,
        None
    );
}

#[test]
fn without_the_min_isr_check_acks_all_is_accepted_by_the_leader_alone() {
    let mut p = Partition::open(TP, vec![1, 2, 3], PartitionLog::default(), 0);
    assert!(p.make_leader(at(0), 1, &registration(1, 1, &[1])));
    assert_eq!(
        p.append_as_leader(&produce(0, 1), Acks::All, &config(), SimTime::ZERO),
        Err(ProduceError::NotEnoughReplicas)
    );
    let old = with_rules(ReplicationRules {
        min_isr_on_produce: false,
        ..ReplicationRules::default()
    });
    assert_eq!(
        p.append_as_leader(&produce(0, 1), Acks::All, &old, SimTime::ZERO),
        Ok(0)
    );
}

#[test]
fn check_invariants_holds_for_a_leader_and_catches_planted_corruption() {
    let p = leader();
    assert_eq!(p.check_invariants(1), Ok(()));

    let mut hw_past_leo = leader();
    hw_past_leo.high_watermark = 11;
    let err = hw_past_leo.check_invariants(1).unwrap_err();
    assert!(err.contains("HW 11 is past the log end 10"), "{err}");

    let mut not_in_isr = leader();
    not_in_isr.leader_state.as_mut().unwrap().isr = vec![2, 3];
    let err = not_in_isr.check_invariants(1).unwrap_err();
    assert!(err.contains("the leader is not in its own ISR"), "{err}");

    let mut stray_follower = leader();
    stray_follower
        .leader_state
        .as_mut()
        .unwrap()
        .followers
        .remove(&3);
    let err = stray_follower.check_invariants(1).unwrap_err();
    assert!(err.contains("are not the other replicas"), "{err}");

    let mut epoch_past_leo = leader();
    epoch_past_leo.leader_state.as_mut().unwrap().leso = 12;
    let err = epoch_past_leo.check_invariants(1).unwrap_err();
    assert!(err.contains("starts at 12 past the log end 10"), "{err}");
}
