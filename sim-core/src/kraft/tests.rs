//! Single Raft replicas and the controller's election rules, driven with exact inputs; the
//! tests compare the exact effects (messages, timers, events) each step produces.

use std::sync::Arc;

use super::raft::{ElectionState, Raft, RaftConfig, RaftDisk, RaftRole};
use super::*;
use crate::engine::{Delay, NodeId, SimDuration, SimTime};
use crate::proto::{
    Ctx, Effect, Event, FetchRequest, FetchResponse, Msg, Timer, VoteRequest, VoteResponse,
};

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);

fn config(prevote: bool) -> Arc<RaftConfig> {
    Arc::new(RaftConfig::kafka_defaults(vec![N0, N1, N2], prevote))
}

/// Runs one handler at `t_ms` and returns what it asked for.
fn step(me: NodeId, t_ms: u64, f: impl FnOnce(&mut Ctx<'_>)) -> Vec<Effect> {
    let mut effects = Vec::new();
    f(&mut Ctx::new(SimTime::from_millis(t_ms), me, &mut effects));
    effects
}

fn sends(effects: &[Effect]) -> Vec<(NodeId, Msg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn vote(epoch: u32, last_epoch: u32, last_offset: u64, pre_vote: bool) -> Msg {
    Msg::Vote(VoteRequest {
        epoch,
        last_epoch,
        last_offset,
        pre_vote,
    })
}

fn vote_req(msg: Msg) -> VoteRequest {
    match msg {
        Msg::Vote(v) => v,
        other => panic!("not a vote: {other:?}"),
    }
}

fn state(role: RaftRole, epoch: u32, leader: Option<NodeId>, voted_for: Option<NodeId>) -> Event {
    Event::RaftState {
        state: role,
        epoch,
        leader,
        voted_for,
    }
}

fn election_timer() -> Effect {
    Effect::SetTimer {
        timer: Timer::Election,
        delay: Delay::Uniform {
            min: SimDuration::from_millis(1000),
            max: SimDuration::from_millis(2000),
        },
    }
}

/// A three-voter leader of epoch 1 (node 0), its LeaderChange record at offset 0.
fn leader() -> Raft {
    let mut raft = Raft::boot(config(false), N0, RaftDisk::default(), 0);
    step(N0, 0, |cx| raft.start(cx));
    step(N0, 1500, |cx| raft.on_election_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Candidate);
    let granted = VoteResponse {
        epoch: 1,
        leader: None,
        granted: true,
        pre_vote: false,
    };
    step(N0, 1501, |cx| raft.on_vote_response(cx, N1, granted));
    assert_eq!(raft.role(), RaftRole::Leader);
    raft
}

#[test]
fn an_unattached_voter_grants_an_up_to_date_candidate_and_fsyncs_the_vote_first() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    let effects = step(N1, 10, |cx| {
        raft.on_vote(cx, N0, vote_req(vote(1, 0, 0, false)));
    });
    assert_eq!(
        effects,
        vec![
            // The higher epoch first: Unattached in epoch 1. Already Unattached, it keeps what
            // is left of its election timer (QuorumState.transitionToUnattached).
            Effect::Emit(state(RaftRole::Unattached, 1, None, None)),
            Effect::CancelTimer {
                timer: Timer::FetchTimeout
            },
            // Then the vote, persisted before the response goes out, and only now a fresh
            // election timer (QuorumState.unattachedAddVotedState).
            Effect::Emit(state(RaftRole::Unattached, 1, None, Some(N0))),
            election_timer(),
            Effect::Send {
                to: N0,
                msg: Msg::VoteResponse(VoteResponse {
                    epoch: 1,
                    leader: None,
                    granted: true,
                    pre_vote: false
                })
            },
        ]
    );
    assert_eq!(
        raft.disk().quorum_state.get(),
        Some(&ElectionState {
            epoch: 1,
            voted_for: Some(N0),
            leader: None
        })
    );
}

#[test]
fn a_voter_grants_one_vote_per_epoch() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 10, |cx| {
        raft.on_vote(cx, N0, vote_req(vote(1, 0, 0, false)));
    });
    let effects = step(N1, 11, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(1, 0, 0, false)));
    });
    assert_eq!(
        sends(&effects),
        vec![(
            N2,
            Msg::VoteResponse(VoteResponse {
                epoch: 1,
                leader: None,
                granted: false,
                pre_vote: false
            })
        )]
    );
    // The candidate it voted for may ask again and is granted again.
    let again = step(N1, 12, |cx| {
        raft.on_vote(cx, N0, vote_req(vote(1, 0, 0, false)));
    });
    assert!(matches!(&sends(&again)[0].1, Msg::VoteResponse(r) if r.granted));
}

#[test]
fn a_vote_survives_a_crash_in_quorum_state() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 10, |cx| {
        raft.on_vote(cx, N0, vote_req(vote(1, 0, 0, false)));
    });
    let mut disk = raft.into_disk();
    crate::storage::Durable::crash(
        &mut disk,
        crate::storage::CrashKind::PowerLoss,
        SimTime::ZERO,
    );
    let mut raft = Raft::boot(config(true), N1, disk, 0);
    let effects = step(N1, 20, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(1, 0, 0, false)));
    });
    assert!(matches!(&sends(&effects)[0].1, Msg::VoteResponse(r) if !r.granted));
}

#[test]
fn a_candidate_with_a_shorter_log_is_refused_but_its_higher_epoch_still_wins() {
    let mut raft = leader();
    assert_eq!(raft.log_end_offset(), 1);
    // Candidate in epoch 5 with an empty log: not up to date.
    let effects = step(N0, 2000, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(5, 0, 0, false)));
    });
    assert_eq!(raft.role(), RaftRole::Unattached, "the leader stepped down");
    assert_eq!(raft.epoch(), 5);
    assert!(matches!(&sends(&effects)[0].1, Msg::VoteResponse(r) if !r.granted && r.epoch == 5));
}

#[test]
fn an_invalid_vote_is_refused_without_changing_state() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    // A standard vote must have last_epoch < epoch.
    let effects = step(N1, 10, |cx| {
        raft.on_vote(cx, N0, vote_req(vote(3, 3, 7, false)));
    });
    assert_eq!(raft.epoch(), 0);
    assert_eq!(effects.len(), 1);
    assert!(matches!(&sends(&effects)[0].1, Msg::VoteResponse(r) if !r.granted));
}

#[test]
fn a_pre_vote_in_the_same_epoch_bumps_nothing_and_a_follower_that_fetched_refuses_it() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 5, |cx| raft.on_begin_quorum_epoch(cx, N0, 1));
    assert_eq!(raft.role(), RaftRole::Follower);
    // Before its first successful fetch the follower would grant a pre-vote...
    let before = step(N1, 6, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(1, 0, 0, true)));
    });
    assert!(matches!(&sends(&before)[0].1, Msg::VoteResponse(r) if r.granted && r.pre_vote));
    assert_eq!(raft.epoch(), 1, "a pre-vote changes no epoch");
    // ...after one, it refuses: it has a working leader (KIP-996).
    let fetched = FetchResponse {
        correlation_id: 0,
        epoch: 1,
        leader: Some(N0),
        error: None,
        high_watermark: None,
        diverging: None,
        base_offset: 0,
        records: vec![LogEntry {
            epoch: 1,
            record: MetadataRecord::LeaderChange { leader: N0 },
        }],
    };
    step(N1, 7, |cx| raft.on_fetch_response(cx, N0, fetched));
    let after = step(N1, 8, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(1, 1, 1, true)));
    });
    assert!(matches!(&sends(&after)[0].1, Msg::VoteResponse(r) if !r.granted));
    // A pre-vote with a higher epoch does move it: its sender already knows that epoch, so
    // the follower becomes Unattached there and grants it (KafkaRaftClientPreVoteTest.
    // testHandlePreVoteRequestAsFollower; this test asserted the opposite before).
    let higher = step(N1, 9, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(4, 1, 1, true)));
    });
    assert_eq!(raft.epoch(), 4);
    assert_eq!(raft.role(), RaftRole::Unattached);
    assert!(matches!(&sends(&higher)[0].1, Msg::VoteResponse(r) if r.granted && r.epoch == 4));
}

#[test]
fn an_expired_fetch_timeout_starts_a_pre_vote_in_the_same_epoch() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 5, |cx| raft.on_begin_quorum_epoch(cx, N0, 1));
    let effects = step(N1, 2005, |cx| raft.on_fetch_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Prospective);
    assert_eq!(raft.epoch(), 1);
    let votes: Vec<(NodeId, VoteRequest)> = sends(&effects)
        .into_iter()
        .map(|(to, m)| (to, vote_req(m)))
        .collect();
    let expected = VoteRequest {
        epoch: 1,
        last_epoch: 0,
        last_offset: 0,
        pre_vote: true,
    };
    assert_eq!(votes, vec![(N0, expected.clone()), (N2, expected)]);
}

#[test]
fn a_prospective_with_a_majority_of_pre_votes_becomes_candidate_in_the_next_epoch() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 1500, |cx| raft.on_election_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Prospective);
    let yes = VoteResponse {
        epoch: 0,
        leader: None,
        granted: true,
        pre_vote: true,
    };
    let effects = step(N1, 1501, |cx| raft.on_vote_response(cx, N2, yes));
    assert_eq!(raft.role(), RaftRole::Candidate);
    assert_eq!(raft.epoch(), 1);
    let votes: Vec<VoteRequest> = sends(&effects)
        .into_iter()
        .map(|(_, m)| vote_req(m))
        .collect();
    assert!(votes.iter().all(|v| v.epoch == 1 && !v.pre_vote));
    assert_eq!(
        raft.disk().quorum_state.get().and_then(|s| s.voted_for),
        Some(N1)
    );
}

#[test]
fn a_majority_of_refusals_sends_a_candidate_straight_to_backoff() {
    let mut raft = Raft::boot(config(false), N0, RaftDisk::default(), 0);
    step(N0, 0, |cx| raft.start(cx));
    step(N0, 1500, |cx| raft.on_election_timeout(cx));
    let no = |n| VoteResponse {
        epoch: 1,
        leader: None,
        granted: false,
        pre_vote: n,
    };
    assert!(step(N0, 1501, |cx| raft.on_vote_response(cx, N1, no(false))).is_empty());
    let effects = step(N0, 1502, |cx| raft.on_vote_response(cx, N2, no(false)));
    // binaryExponentialElectionBackoffMs with retries = 1: 100 ms × rand[0, 2).
    assert_eq!(
        effects,
        vec![Effect::SetTimer {
            timer: Timer::ElectionBackoff,
            delay: Delay::Steps {
                step: SimDuration::from_millis(100),
                count: 2,
                max: SimDuration::from_millis(1000)
            }
        }]
    );
    // The election timer running out during the backoff changes nothing.
    assert!(step(N0, 1550, |cx| raft.on_election_timeout(cx)).is_empty());
    assert_eq!((raft.role(), raft.epoch()), (RaftRole::Candidate, 1));
    // After the backoff (no pre-vote here): a candidate again, one epoch up.
    step(N0, 1600, |cx| raft.on_election_backoff_timeout(cx));
    assert_eq!((raft.role(), raft.epoch()), (RaftRole::Candidate, 2));
}

/// The timer effects on `Timer::Election` among `effects`.
fn election_timer_effects(effects: &[Effect]) -> Vec<Effect> {
    effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::SetTimer {
                    timer: Timer::Election,
                    ..
                } | Effect::CancelTimer {
                    timer: Timer::Election
                }
            )
        })
        .cloned()
        .collect()
}

#[test]
fn an_unattached_voter_that_refuses_a_higher_epoch_keeps_its_election_timer() {
    // QuorumStateTest.testUnattachedToUnattached: the timer is not reset by the epoch bump, so a
    // rejected candidate retrying every second cannot hold this voter back for ever.
    let mut raft = Raft::boot(config(false), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    for (t, epoch) in [(400, 3), (800, 4), (1200, 5)] {
        // N2 asks with an empty log while N1's is not: refused, but its epoch is taken.
        let effects = step(N1, t, |cx| {
            raft.on_vote(cx, N2, vote_req(vote(epoch, 0, 0, false)));
        });
        assert_eq!(raft.epoch(), epoch);
        assert_eq!(raft.role(), RaftRole::Unattached);
        if raft.log_end_offset() == 0 {
            // An empty log is up to date with an empty log: the vote is granted, and voting
            // does draw a fresh timer (unattachedAddVotedState).
            assert_eq!(election_timer_effects(&effects), vec![election_timer()]);
            return;
        }
        assert!(election_timer_effects(&effects).is_empty(), "{effects:?}");
    }
}

#[test]
fn a_refused_higher_epoch_leaves_the_timer_of_an_unattached_voter_with_a_longer_log() {
    // Same rule, with a log that makes the asker out of date: no timer effect at all.
    let mut raft = leader();
    // The leader steps down (a Leader draws a fresh timer: transitionToUnattached's last branch).
    let effects = step(N0, 2000, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(5, 0, 0, false)));
    });
    assert_eq!(raft.role(), RaftRole::Unattached);
    assert_eq!(election_timer_effects(&effects), vec![election_timer()]);
    // Now Unattached: each further refused bump keeps the timer.
    for epoch in 6..9 {
        let effects = step(N0, 2000 + 300 * u64::from(epoch), |cx| {
            raft.on_vote(cx, N2, vote_req(vote(epoch, 0, 0, false)));
        });
        assert_eq!(raft.epoch(), epoch);
        assert!(election_timer_effects(&effects).is_empty(), "{effects:?}");
    }
}

#[test]
fn a_follower_that_learns_a_higher_epoch_draws_a_fresh_election_timer() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 5, |cx| raft.on_begin_quorum_epoch(cx, N0, 1));
    assert_eq!(raft.role(), RaftRole::Follower);
    let effects = step(N1, 100, |cx| {
        raft.on_vote(cx, N2, vote_req(vote(3, 0, 0, false)));
    });
    assert_eq!(raft.epoch(), 3);
    assert_eq!(election_timer_effects(&effects)[0], election_timer());
}

#[test]
fn a_candidate_whose_election_timed_out_is_due_at_once_when_unattached_at_a_higher_epoch() {
    // QuorumState.transitionToUnattached takes candidateState.remainingElectionTimeMs: zero
    // once the election timer has run out (the Candidate is backing off).
    let mut raft = Raft::boot(config(false), N0, RaftDisk::default(), 0);
    step(N0, 0, |cx| raft.start(cx));
    step(N0, 1500, |cx| raft.on_election_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Candidate);
    step(N0, 3500, |cx| raft.on_election_timeout(cx));
    // A response in a higher epoch with no leader (the voter moved on without us).
    let newer = VoteResponse {
        epoch: 4,
        leader: None,
        granted: false,
        pre_vote: false,
    };
    let effects = step(N0, 3510, |cx| raft.on_vote_response(cx, N2, newer));
    assert_eq!(raft.role(), RaftRole::Unattached);
    assert!(effects.contains(&Effect::CancelTimer {
        timer: Timer::ElectionBackoff
    }));
    assert_eq!(
        election_timer_effects(&effects),
        vec![Effect::SetTimer {
            timer: Timer::Election,
            delay: Delay::Fixed(SimDuration::ZERO)
        }]
    );
}

#[test]
fn a_prospective_whose_pre_vote_timed_out_is_prospective_again_at_once() {
    // Isolated, a voter cycles Unattached -> Prospective every election timeout: the lost
    // pre-vote leaves nothing of the timer (QuorumState.transitionToUnattached).
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 1500, |cx| raft.on_election_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Prospective);
    let effects = step(N1, 3200, |cx| raft.on_election_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Unattached);
    assert_eq!(
        election_timer_effects(&effects),
        vec![Effect::SetTimer {
            timer: Timer::Election,
            delay: Delay::Fixed(SimDuration::ZERO)
        }]
    );
    step(N1, 3200, |cx| raft.on_election_timeout(cx));
    assert_eq!((raft.role(), raft.epoch()), (RaftRole::Prospective, 0));
}

#[test]
fn a_prospective_refused_by_a_majority_waits_a_fresh_election_timeout() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 1500, |cx| raft.on_election_timeout(cx));
    let no = VoteResponse {
        epoch: 0,
        leader: None,
        granted: false,
        pre_vote: true,
    };
    step(N1, 1501, |cx| raft.on_vote_response(cx, N0, no.clone()));
    let effects = step(N1, 1502, |cx| raft.on_vote_response(cx, N2, no));
    assert_eq!(raft.role(), RaftRole::Unattached);
    assert_eq!(election_timer_effects(&effects), vec![election_timer()]);
}

#[test]
fn a_candidate_and_a_resigned_leader_grant_an_up_to_date_pre_vote() {
    // KAFKA-17642: a pre-vote bumps nothing, so a replica that voted for itself in this epoch
    // may still grant it; a leader never does.
    let mut raft = leader();
    let pre = |epoch| vote_req(vote(epoch, 1, 1, true));
    let effects = step(N0, 1600, |cx| raft.on_vote(cx, N1, pre(1)));
    assert!(matches!(&sends(&effects)[0].1, Msg::VoteResponse(r) if !r.granted));
    step(N0, 1700, |cx| {
        raft.shutdown(cx);
    });
    assert_eq!(raft.role(), RaftRole::Resigned);
    let effects = step(N0, 1800, |cx| raft.on_vote(cx, N1, pre(1)));
    assert!(matches!(&sends(&effects)[0].1, Msg::VoteResponse(r) if r.granted));
    let mut candidate = Raft::boot(config(true), N2, RaftDisk::default(), 0);
    step(N2, 0, |cx| candidate.start(cx));
    step(N2, 1500, |cx| candidate.on_election_timeout(cx));
    let yes = VoteResponse {
        epoch: 0,
        leader: None,
        granted: true,
        pre_vote: true,
    };
    step(N2, 1501, |cx| candidate.on_vote_response(cx, N0, yes));
    assert_eq!(candidate.role(), RaftRole::Candidate);
    let effects = step(N2, 1600, |cx| {
        candidate.on_vote(cx, N1, vote_req(vote(1, 0, 0, true)));
    });
    assert!(matches!(&sends(&effects)[0].1, Msg::VoteResponse(r) if r.granted));
}

#[test]
fn the_leader_advances_the_hw_to_the_majority_offset_only_past_its_epoch_start() {
    let mut raft = leader();
    // The LeaderChange record is at offset 0 (the epoch start); nothing committed yet.
    assert_eq!(raft.high_watermark(), None);
    step(N0, 1600, |cx| {
        raft.append(cx, vec![MetadataRecord::NoOp, MetadataRecord::NoOp]);
    });
    assert_eq!(raft.log_end_offset(), 3);
    let fetch = |offset| {
        Msg::Fetch(FetchRequest {
            correlation_id: 0,
            epoch: 1,
            fetch_offset: offset,
            last_fetched_epoch: if offset == 0 { 0 } else { 1 },
            high_watermark: None,
            voter: true,
        })
    };
    let fetch_req = |m: Msg| match m {
        Msg::Fetch(f) => f,
        _ => unreachable!(),
    };
    // Node 1 has fetched nothing yet: a majority (0 and 1) has offset 0, not past the start.
    step(N0, 1601, |cx| raft.on_fetch(cx, N1, fetch_req(fetch(0))));
    assert_eq!(raft.high_watermark(), None);
    // Node 1 has all three records: the majority offset is 3.
    let effects = step(N0, 1602, |cx| raft.on_fetch(cx, N1, fetch_req(fetch(3))));
    assert_eq!(raft.high_watermark(), Some(3));
    // The fetcher did not know this HW, so it is answered at once rather than parked.
    match &sends(&effects)[..] {
        [(to, Msg::FetchResponse(r))] => {
            assert_eq!(*to, N1);
            assert_eq!(r.high_watermark, Some(3));
            assert!(r.records.is_empty());
        }
        other => panic!("expected one fetch response, got {other:?}"),
    }
    // An observer's fetch counts for nothing.
    let observer = FetchRequest {
        correlation_id: 0,
        voter: false,
        ..fetch_req(fetch(3))
    };
    step(N0, 1603, |cx| raft.on_fetch(cx, NodeId(7), observer));
    assert_eq!(raft.high_watermark(), Some(3));
}

#[test]
fn a_fetch_with_a_diverging_epoch_is_told_where_to_truncate() {
    let mut raft = leader();
    // The fetcher claims records of epoch 0 up to offset 4 that this leader never had.
    let req = FetchRequest {
        correlation_id: 0,
        epoch: 1,
        fetch_offset: 4,
        last_fetched_epoch: 0,
        high_watermark: None,
        voter: true,
    };
    let effects = step(N0, 1600, |cx| raft.on_fetch(cx, N1, req));
    match &sends(&effects)[..] {
        [(_, Msg::FetchResponse(r))] => assert_eq!(r.diverging, Some((0, 0))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_follower_truncates_to_the_diverging_offset_and_fetches_again() {
    // A follower with three records of epoch 1, of which the new leader kept one.
    let mut disk = RaftDisk::default();
    for _ in 0..3 {
        disk.log.append(LogEntry {
            epoch: 1,
            record: MetadataRecord::NoOp,
        });
    }
    disk.log.flush();
    let mut raft = Raft::boot(config(true), N1, disk, 0);
    step(N1, 0, |cx| raft.start(cx));
    step(N1, 5, |cx| raft.on_begin_quorum_epoch(cx, N2, 2));
    let diverging = FetchResponse {
        correlation_id: 0,
        epoch: 2,
        leader: Some(N2),
        error: None,
        high_watermark: None,
        diverging: Some((1, 1)),
        base_offset: 0,
        records: Vec::new(),
    };
    let effects = step(N1, 6, |cx| raft.on_fetch_response(cx, N2, diverging));
    assert_eq!(raft.log_end_offset(), 1);
    assert!(effects.contains(&Effect::Emit(Event::Truncated {
        from_offset: 3,
        to_offset: 1,
        high_watermark: None
    })));
    let refetch: Vec<_> = sends(&effects);
    assert!(matches!(&refetch[..], [(to, Msg::Fetch(f))] if *to == N2 && f.fetch_offset == 1));
}

#[test]
fn a_leader_that_hears_from_no_majority_resigns_at_the_check_quorum_timeout() {
    let mut raft = leader();
    let effects = step(N0, 4502, |cx| raft.on_check_quorum_timeout(cx));
    assert_eq!(raft.role(), RaftRole::Resigned);
    let ends: Vec<NodeId> = sends(&effects)
        .into_iter()
        .filter(|(_, m)| matches!(m, Msg::EndQuorumEpoch { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(ends, vec![N1, N2]);
}

#[test]
fn a_restarted_leader_comes_back_resigned_and_a_restarted_candidate_as_candidate() {
    let raft = leader();
    let raft = Raft::boot(config(false), N0, raft.into_disk(), 0);
    assert_eq!((raft.role(), raft.epoch()), (RaftRole::Resigned, 1));

    let mut candidate = Raft::boot(config(false), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| candidate.start(cx));
    step(N1, 1500, |cx| candidate.on_election_timeout(cx));
    let candidate = Raft::boot(config(false), N1, candidate.into_disk(), 0);
    assert_eq!(
        (candidate.role(), candidate.epoch()),
        (RaftRole::Candidate, 1)
    );
}

// ---- partition leader election (§2.9) ----

fn image(active: &[BrokerId]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for b in 1..=3 {
        image.brokers.insert(
            b,
            BrokerRegistration {
                broker_epoch: u64::from(b),
                incarnation: 0,
                fenced: !active.contains(&b),
                in_controlled_shutdown: false,
            },
        );
    }
    image
}

fn partition(isr: &[BrokerId], leader: Option<BrokerId>) -> PartitionRegistration {
    PartitionRegistration {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        elr: Vec::new(),
        last_known_elr: Vec::new(),
        leader,
        leader_epoch: 4,
        partition_epoch: 9,
        leader_recovery_state: LeaderRecoveryState::Recovered,
    }
}

fn cx(image: &MetadataImage, min_isr: usize, unclean: bool) -> ChangeContext<'_> {
    ChangeContext {
        image,
        min_isr,
        unclean_enabled: unclean,
        preferred: false,
        elr_enabled: true,
        removing: None,
        adding: None,
        unclean_shutdown: None,
    }
}

const TP: TopicPartition = TopicPartition {
    topic: 0,
    partition: 0,
};

#[test]
fn fencing_the_leader_elects_the_first_remaining_isr_member_and_bumps_the_leader_epoch() {
    let image = image(&[2, 3]);
    let mut c = cx(&image, 1, false);
    c.removing = Some(1);
    let p = partition(&[1, 3, 2], Some(1));
    let change = partition_change(TP, &p, vec![3, 2], &c).expect("a change");
    // Assignment order is [1, 2, 3]: broker 2 comes before 3.
    assert_eq!(change.leader, Some(Some(2)));
    assert_eq!(change.election, Some(Election::Clean));
    let mut merged = p.clone();
    merged.merge(&change);
    assert_eq!((merged.leader_epoch, merged.partition_epoch), (5, 10));
    assert_eq!(merged.isr, vec![3, 2]);
}

#[test]
fn removing_a_follower_keeps_the_leader_and_its_epoch() {
    let image = image(&[1, 3]);
    let mut c = cx(&image, 1, false);
    c.removing = Some(2);
    let p = partition(&[1, 2, 3], Some(1));
    let change = partition_change(TP, &p, vec![1, 3], &c).expect("a change");
    assert_eq!(change.leader, None);
    let mut merged = p.clone();
    merged.merge(&change);
    assert_eq!((merged.leader_epoch, merged.partition_epoch), (4, 10));
}

#[test]
fn when_the_last_isr_member_is_fenced_it_moves_to_the_elr_and_no_one_leads() {
    let image = image(&[2, 3]);
    let mut c = cx(&image, 2, false);
    c.removing = Some(1);
    let p = partition(&[1], Some(1));
    let change = partition_change(TP, &p, vec![], &c).expect("a change");
    assert_eq!(change.leader, Some(None));
    assert_eq!(change.election, Some(Election::None));
    assert_eq!(change.isr, Some(vec![]));
    assert_eq!(change.elr, Some(vec![1]));
    assert_eq!(change.last_known_elr, Some(vec![1]));
}

#[test]
fn an_elr_member_leads_again_when_it_comes_back_with_the_isr_empty() {
    let image = image(&[1]);
    let mut p = partition(&[], None);
    p.elr = vec![1];
    p.last_known_elr = vec![1];
    let mut c = cx(&image, 2, false);
    c.adding = Some(1);
    let change = partition_change(TP, &p, vec![], &c).expect("a change");
    assert_eq!(change.leader, Some(Some(1)));
    assert_eq!(change.election, Some(Election::Elr));
    assert_eq!(change.isr, Some(vec![1]));
}

#[test]
fn unclean_election_needs_the_topic_flag() {
    let image = image(&[3]);
    let p = partition(&[1], None);
    let mut c = cx(&image, 1, false);
    c.elr_enabled = false;
    assert_eq!(
        partition_change(TP, &p, vec![1], &c),
        None,
        "no clean candidate, no flag"
    );
    c.unclean_enabled = true;
    let change = partition_change(TP, &p, vec![1], &c).expect("unclean");
    assert_eq!(change.leader, Some(Some(3)));
    assert_eq!(change.election, Some(Election::Unclean));
    assert_eq!(change.isr, Some(vec![3]));
    assert_eq!(
        change.leader_recovery_state,
        Some(LeaderRecoveryState::Recovering)
    );
}

#[test]
fn a_metadata_image_checks_its_registrations() {
    let tp = TopicPartition {
        topic: 0,
        partition: 0,
    };
    let well_formed = PartitionRegistration {
        replicas: vec![1, 2, 3],
        isr: vec![1, 2],
        elr: vec![3],
        last_known_elr: Vec::new(),
        leader: Some(1),
        leader_epoch: 2,
        partition_epoch: 5,
        leader_recovery_state: LeaderRecoveryState::Recovered,
    };
    let image = |reg: PartitionRegistration| {
        let mut image = MetadataImage::default();
        image.partitions.insert(tp, Arc::new(reg));
        image
    };
    assert_eq!(image(well_formed.clone()).check_invariants(), Ok(()));
    let broken = [
        (
            PartitionRegistration {
                leader: Some(3),
                ..well_formed.clone()
            },
            "the leader is not in the ISR",
        ),
        (
            PartitionRegistration {
                elr: vec![2],
                ..well_formed.clone()
            },
            "both in the ISR and the ELR",
        ),
        (
            PartitionRegistration {
                isr: vec![1, 4],
                ..well_formed.clone()
            },
            "outside the replicas",
        ),
        (
            PartitionRegistration {
                partition_epoch: 1,
                ..well_formed.clone()
            },
            "partition epoch behind the leader epoch",
        ),
    ];
    for (reg, why) in broken {
        let err = image(reg).check_invariants().unwrap_err();
        assert!(err.contains(why), "{err}");
    }
}

/// The fetches `effects` sends: (to, correlation id).
fn fetches(effects: &[Effect]) -> Vec<(NodeId, u64)> {
    sends(effects)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Msg::Fetch(f) => Some((to, f.correlation_id)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_follower_ignores_the_late_answer_to_a_fetch_that_timed_out() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 0);
    step(N1, 0, |cx| raft.start(cx));
    let first = step(N1, 5, |cx| raft.on_begin_quorum_epoch(cx, N0, 1));
    assert_eq!(fetches(&first), [(N0, 0)]);
    // The fetch times out; after the backoff the follower sends another.
    step(N1, 2505, |cx| raft.on_fetch_request_timeout(cx));
    let second = step(N1, 2555, |cx| raft.on_fetch_retry(cx));
    assert_eq!(fetches(&second), [(N0, 1)]);
    // The answer to the first arrives late: KafkaRaftClient never sees it (NetworkClient
    // matches answers to requests by correlation id), so nothing happens.
    let answer = |correlation_id| FetchResponse {
        correlation_id,
        epoch: 1,
        leader: Some(N0),
        error: None,
        high_watermark: Some(1),
        diverging: None,
        base_offset: 0,
        records: vec![LogEntry {
            epoch: 1,
            record: MetadataRecord::LeaderChange { leader: N0 },
        }],
    };
    let late = step(N1, 2600, |cx| raft.on_fetch_response(cx, N0, answer(0)));
    assert_eq!(late, []);
    assert_eq!(raft.log_end_offset(), 0);
    // The answer to the fetch it waits for is taken, and the next fetch goes out.
    let taken = step(N1, 2601, |cx| raft.on_fetch_response(cx, N0, answer(1)));
    assert_eq!(raft.log_end_offset(), 1);
    assert_eq!(fetches(&taken), [(N0, 2)]);
}

#[test]
fn a_restarted_process_numbers_its_fetches_past_its_predecessors() {
    let mut raft = Raft::boot(config(true), N1, RaftDisk::default(), 3);
    step(N1, 0, |cx| raft.start(cx));
    let first = step(N1, 5, |cx| raft.on_begin_quorum_epoch(cx, N0, 1));
    assert_eq!(fetches(&first), [(N0, 3 << 32)]);
}
