//! The producer's own invariants, with planted corruption.

use super::*;

fn producer() -> Producer {
    let scenario = crate::scenario::parse(
        r#"{"name": "p", "duration_ms": 1000,
            "cluster": {"brokers": 1, "topics": [{"name": "t", "replication_factor": 1}]},
            "workload": {"producers": [{"topic": "t", "records_per_s": 10}]}}"#,
        "p.json",
    )
    .expect("valid");
    Producer::boot(Rc::new(scenario.cluster_config()), 1, 0)
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
