//! A Raft replica's own invariants, with planted corruption.

use super::*;

fn voter() -> Raft {
    let config = Arc::new(RaftConfig::kafka_defaults(
        vec![NodeId(0), NodeId(1), NodeId(2)],
        true,
    ));
    Raft::boot(config, NodeId(0), RaftDisk::default(), 0)
}

#[test]
fn check_invariants_holds_after_boot_and_catches_planted_corruption() {
    assert_eq!(voter().check_invariants(), Ok(()));

    let mut hw_past_leo = voter();
    hw_past_leo.high_watermark = Some(3);
    let err = hw_past_leo.check_invariants().unwrap_err();
    assert!(err.contains("Raft HW 3 is past its log end 0"), "{err}");

    let mut follows_itself = voter();
    follows_itself.state = State::Follower {
        leader: NodeId(0),
        fetched: false,
    };
    let err = follows_itself.check_invariants().unwrap_err();
    assert!(err.contains("follows itself"), "{err}");

    let mut no_own_vote = voter();
    no_own_vote.state = State::Candidate {
        granted: vec![NodeId(1)],
        rejected: vec![NodeId(1)],
        retries: 0,
        backing_off: false,
        election_timer_expired: false,
    };
    let err = no_own_vote.check_invariants().unwrap_err();
    assert!(err.contains("a candidate without its own vote"), "{err}");

    let mut epoch_behind_log = voter();
    epoch_behind_log.disk.log.append(LogEntry {
        epoch: 4,
        record: MetadataRecord::NoOp,
    });
    let err = epoch_behind_log.check_invariants().unwrap_err();
    assert!(
        err.contains("holds epoch 4 beyond the current epoch 0"),
        "{err}"
    );
}
