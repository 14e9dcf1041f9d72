//! Each checker, fed a state that breaks its invariant, reports it; fed a sound one, does not.
//! (The whole-system proofs, where an unsafe variant makes a checker fire, are in
//! `tests/kraft_sweep.rs`.)

use super::*;
use crate::kraft::MetadataRecord;
use crate::storage::DurableCell;

fn ground(nodes: usize) -> Ground {
    let mut g = Ground::new(
        (1..=nodes).map(|i| format!("controller-{i}")).collect(),
        (0..nodes as u32).map(NodeId).collect(),
        Vec::new(),
    );
    g.now = SimTime::from_millis(1234);
    g
}

fn disk(epoch: u32, voted_for: Option<u32>, leader: Option<u32>) -> RaftDisk {
    let mut quorum_state = DurableCell::default();
    quorum_state.write_sync(ElectionState {
        epoch,
        voted_for: voted_for.map(NodeId),
        leader: leader.map(NodeId),
    });
    RaftDisk {
        quorum_state,
        ..RaftDisk::default()
    }
}

fn down(id: u32, disk: &RaftDisk) -> NodeView<'_> {
    NodeView {
        id: NodeId(id),
        raft: None,
        disk,
    }
}

fn ids(v: &Violations) -> Vec<&'static str> {
    v.list.iter().map(|v| v.invariant).collect()
}

#[test]
fn two_quorum_states_naming_different_leaders_of_one_epoch_are_reported_once() {
    let mut g = ground(3);
    let mut out = Violations::default();
    let (a, b, c) = (
        disk(7, Some(1), Some(1)),
        disk(7, Some(1), Some(1)),
        disk(7, Some(2), Some(2)),
    );
    single_leader_per_epoch::check(&mut g, &mut out, &down(0, &a));
    single_leader_per_epoch::check(&mut g, &mut out, &down(1, &b));
    assert!(ids(&out).is_empty(), "two nodes agreeing is fine");
    single_leader_per_epoch::check(&mut g, &mut out, &down(2, &c));
    assert_eq!(ids(&out), vec!["single_leader_per_epoch"]);
    let v = &out.list[0];
    assert_eq!(v.nodes, vec!["controller-2", "controller-3"]);
    assert!(
        v.explanation.contains("both leader of epoch 7"),
        "{}",
        v.explanation
    );
    assert_eq!(v.time_ms, 1234.0);
}

#[test]
fn an_epoch_going_back_is_reported() {
    let mut g = ground(3);
    let mut out = Violations::default();
    monotonic_epoch::check(&mut g, &mut out, &down(0, &disk(5, None, None)));
    monotonic_epoch::check(&mut g, &mut out, &down(0, &disk(6, None, None)));
    assert!(ids(&out).is_empty());
    monotonic_epoch::check(&mut g, &mut out, &down(0, &disk(4, None, None)));
    assert_eq!(ids(&out), vec!["monotonic_epoch"]);
}

#[test]
fn a_truncation_below_the_hw_is_reported_and_one_above_it_is_not() {
    let mut g = ground(3);
    let mut out = Violations::default();
    no_truncation_below_hw::on_truncated(&mut g, &mut out, NodeId(1), 10, 8, Some(8));
    assert!(ids(&out).is_empty());
    no_truncation_below_hw::on_truncated(&mut g, &mut out, NodeId(1), 10, 7, Some(8));
    assert_eq!(ids(&out), vec!["no_truncation_below_hw"]);
}

#[test]
fn a_committed_record_that_differs_between_replicas_is_reported() {
    use crate::kraft::raft::{Raft, RaftConfig};
    use crate::proto::{Ctx, FetchResponse};
    use std::sync::Arc;
    // Two followers of leader 0 told HW 2, with different second records.
    let config = Arc::new(RaftConfig {
        voters: vec![NodeId(0), NodeId(1), NodeId(2)],
        election_timeout: SimDuration::from_millis(1000),
        fetch_timeout: SimDuration::from_millis(2000),
        election_backoff_max: SimDuration::from_millis(1000),
        request_timeout: SimDuration::from_millis(2000),
        retry_backoff: SimDuration::from_millis(20),
        fetch_max_wait: SimDuration::from_millis(500),
        prevote: true,
        check_quorum: true,
        election_jitter: true,
        forget_vote: false,
        commit_without_majority: false,
    });
    let follower = |id: u32, second: MetadataRecord| {
        let me = NodeId(id);
        let mut raft = Raft::boot(config.clone(), me, RaftDisk::default(), 0);
        let mut effects = Vec::new();
        let mut cx = Ctx::new(SimTime::ZERO, me, &mut effects);
        raft.start(&mut cx);
        raft.on_begin_quorum_epoch(&mut cx, NodeId(0), 1);
        let resp = FetchResponse {
            correlation_id: 0,
            epoch: 1,
            leader: Some(NodeId(0)),
            error: None,
            high_watermark: Some(2),
            diverging: None,
            base_offset: 0,
            records: vec![
                LogEntry {
                    epoch: 1,
                    record: MetadataRecord::LeaderChange { leader: NodeId(0) },
                },
                LogEntry {
                    epoch: 1,
                    record: second,
                },
            ],
        };
        raft.on_fetch_response(&mut cx, NodeId(0), resp);
        assert_eq!(raft.high_watermark(), Some(2));
        raft
    };
    let a = follower(1, MetadataRecord::NoOp);
    let b = follower(2, MetadataRecord::Topic { topic: 0 });
    fn view(r: &Raft, id: u32) -> NodeView<'_> {
        NodeView {
            id: NodeId(id),
            raft: Some(r),
            disk: r.disk(),
        }
    }
    let mut g = ground(3);
    let mut out = Violations::default();
    raft_log_matching::check(&mut g, &mut out, &view(&a, 1));
    assert!(ids(&out).is_empty());
    assert_eq!(g.committed.len(), 2);
    raft_log_matching::check(&mut g, &mut out, &view(&b, 2));
    assert_eq!(ids(&out), vec!["raft_log_matching"]);
    assert!(
        out.list[0].explanation.contains("offset 1"),
        "{}",
        out.list[0].explanation
    );
}

#[test]
fn violations_of_one_invariant_are_capped_but_counted() {
    let mut out = Violations::default();
    for _ in 0..(MAX_VIOLATIONS_PER_INVARIANT + 5) {
        out.report(
            &monotonic_epoch::INFO,
            SimTime::ZERO,
            Vec::new(),
            String::new(),
        );
    }
    assert_eq!(out.list.len(), MAX_VIOLATIONS_PER_INVARIANT);
    assert_eq!(
        out.counts["monotonic_epoch"],
        MAX_VIOLATIONS_PER_INVARIANT + 5
    );
}

#[test]
fn stable_leadership_ignores_epochs_that_name_no_leader() {
    // RaftEventSimulationTest.StableLeadership counts only election states with a leader: an
    // isolated voter bumping its epoch as a Candidate changes no leadership.
    let mut g = ground(3);
    let mut out = Violations::default();
    let leader = disk(1, Some(0), Some(0));
    let candidate = disk(5, Some(2), None);
    for (id, d) in [(0, &leader), (2, &candidate)] {
        single_leader_per_epoch::check(&mut g, &mut out, &down(id, d));
        stable_leadership::check(&mut g, &mut out, &down(id, d));
    }
    assert!(ids(&out).is_empty(), "{:?}", out.list);
}

#[test]
fn stable_leadership_reports_a_newer_epoch_even_under_the_same_leader() {
    let mut g = ground(3);
    let mut out = Violations::default();
    let first = disk(1, Some(0), Some(0));
    let again = disk(4, Some(0), Some(0));
    for (id, d) in [(0, &first), (1, &again)] {
        single_leader_per_epoch::check(&mut g, &mut out, &down(id, d));
        stable_leadership::check(&mut g, &mut out, &down(id, d));
    }
    assert_eq!(ids(&out), vec!["stable_leadership"]);
    assert!(
        out.list[0]
            .explanation
            .contains("controller-1 as leader of epoch 4"),
        "{}",
        out.list[0].explanation
    );
}
