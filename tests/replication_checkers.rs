//! A checker is trusted only once it catches the bug it exists for. Each test here runs a
//! bundled replication scenario (or a small variation) twice on the same seed: with a protocol
//! variant that breaks one rule, the invariant guarding that rule fails; with the modern
//! protocol, nothing does.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sim_core::scenario::parse;
use sim_core::trace::TraceSink;
use sim_core::world::{RunOptions, RunSummary, run};

/// A bundled scenario, by its path under `scenarios/` without `.json`.
fn scenario(name: &str) -> Value {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("bundled scenario");
    serde_json::from_str(&text).expect("valid JSON")
}

fn run_json(mut s: Value, variants: &[&str]) -> RunSummary {
    s["variants"] = json!(variants);
    s["expect"] = json!({});
    let scenario = parse(&s.to_string(), "proof").expect("valid scenario");
    run(
        &scenario,
        RunOptions {
            seed: scenario.seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("no trace writer to fail")
}

fn violated(summary: &RunSummary) -> BTreeSet<&'static str> {
    summary.violations.iter().map(|v| v.invariant).collect()
}

/// With `variant` every invariant in `caught` fails; without it, on the same seed, none does.
fn proves(s: Value, variant: &str, caught: &[&str]) {
    let broken = run_json(s.clone(), &[variant]);
    let found = violated(&broken);
    for id in caught {
        assert!(
            found.contains(id),
            "{variant}: expected {id} to fail, got {found:?}"
        );
    }
    let modern = run_json(s, &[]);
    assert!(
        modern.violations.is_empty(),
        "without {variant}: {:#?}",
        modern.violations
    );
}

#[test]
fn a_leader_acknowledging_before_replication_loses_acked_writes() {
    // The acks lesson with one acks=1 and one acks=all producer, acks=all writes acknowledged
    // at the leader's LEO; the consumer starts
    // late, so lost writes go unread (Jepsen's lost write) and their offsets are reused.
    let mut s = scenario("teach/06-acks-tradeoffs");
    s["workload"]["producers"] = json!([
        {"topic": "orders", "records_per_s": 100,
         "config": {"acks": 1, "enable.idempotence": false, "request.timeout.ms": 5000}},
        {"topic": "orders", "records_per_s": 50, "config": {"request.timeout.ms": 5000}}
    ]);
    s["workload"]["consumers"][0]["start_ms"] = json!(30000);
    proves(
        s,
        "test_hw_ignores_followers",
        &[
            "acked_durability",
            "true_hw_monotonic",
            "leader_candidate_completeness",
            "unique_offsets",
            "lost_write",
            "inconsistent_offsets",
        ],
    );
}

#[test]
fn consumers_that_read_unreplicated_records_see_them_replaced() {
    proves(
        scenario("teach/06-acks-tradeoffs"),
        "test_hw_ignores_followers",
        &["consistent_read", "inconsistent_offsets"],
    );
}

#[test]
fn a_replaced_read_is_told_as_the_consumers_read_not_the_producers_ack() {
    // Acknowledged records that a consumer then read, replaced after an unclean election: the
    // story names the consumer and when it read, though the producer saw the records first.
    let summary = run_json(scenario("bugs/allow-unclean"), &["allow_unclean"]);
    let read = summary
        .violations
        .iter()
        .find(|v| v.invariant == "consistent_read")
        .expect("allow-unclean replaces records a consumer read");
    assert!(
        read.explanation.contains(": consumer-1 read producer"),
        "{}",
        read.explanation
    );
    assert!(
        read.nodes.iter().any(|n| n == "consumer-1"),
        "{:?}",
        read.nodes
    );
}

#[test]
fn a_follower_that_skips_the_divergence_check_breaks_log_matching() {
    // The zombie leader's writes stay under the HW it learns from the new leader.
    proves(
        scenario("teach/05-zombie-leader"),
        "test_no_divergence_check",
        &["log_matching"],
    );
}

#[test]
fn truncating_to_the_local_hw_drops_committed_records_pre_kip_101() {
    proves(
        scenario("replication/leader-failover"),
        "truncate_to_hw_on_follow",
        &["no_hw_based_loss"],
    );
}

#[test]
fn a_leader_shrinking_its_isr_alone_lets_the_hw_outrun_the_controllers_isr() {
    proves(
        scenario("teach/03-isr-shrink-and-expand"),
        "local_isr_shrink",
        &["replication_quorum_superset"],
    );
}

#[test]
fn fencing_without_leaving_the_isr_is_malformed_metadata() {
    proves(
        scenario("replication/leader-failover"),
        "test_fence_keeps_isr",
        &["partition_metadata_well_formed"],
    );
}

#[test]
fn a_leader_without_idempotent_dedup_writes_retries_twice() {
    // Requests time out while the ISR still waits for dead brokers; retries reach the leader.
    proves(
        scenario("teach/07-min-insync-replicas"),
        "test_no_dedup",
        &["duplicate"],
    );
}

#[test]
fn a_broker_back_from_power_loss_kept_in_the_elr_breaks_unclean_exclusion() {
    // broker-2 dies, so fencing broker-3 puts it in the ELR; it loses power, comes back behind
    // a slow link, and must not stay eligible with an empty log.
    let s = json!({
        "name": "unclean-exclusion-proof",
        "duration_ms": 80000,
        "cluster": {"controllers": 3, "brokers": 3,
                    "topics": [{"name": "orders", "partitions": 1, "replication_factor": 3,
                                "assignment": [[1, 2, 3]], "config": {"min.insync.replicas": 2}}]},
        "workload": {"producers": [{"topic": "orders", "records_per_s": 100,
                                    "config": {"request.timeout.ms": 10000}}]},
        "faults": [{"at_ms": 5000, "crash": "broker-2"},
                   {"at_ms": 20000, "power_loss": "broker-3"},
                   {"at_ms": 34000, "slow_link": {"from": "broker-1", "to": "broker-3", "extra_ms": 20000}},
                   {"at_ms": 35000, "restart": "broker-3"},
                   {"at_ms": 45000, "slow_link": {"from": "broker-1", "to": "broker-3", "extra_ms": 0}},
                   {"at_ms": 45000, "restart": "broker-2"}]
    });
    proves(
        s,
        "test_keep_isr_on_reregistration",
        &["unclean_exclusion", "leader_candidate_completeness"],
    );
}

#[test]
fn acks1_losses_are_counted_not_reported() {
    let summary = run_json(scenario("teach/06-acks-tradeoffs"), &[]);
    assert!(summary.violations.is_empty(), "{:#?}", summary.violations);
    assert!(
        summary.clients.acks1_writes_lost > 0,
        "{:?}",
        summary.clients
    );
    assert_eq!(summary.clients.acked_writes_lost, 0);
}
