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
        &scenario.resolve(),
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
    // A seed on which an acknowledged write's offset is reused by a later one (24 of seeds
    // 1-40 are; the clients' metadata backoff moved the interleaving off seed 1, the periodic
    // fence check off seed 7).
    s["seed"] = json!(3);
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

#[test]
fn log_matching_keeps_checking_outside_the_durability_promise() {
    // broker-3 loses power twice: with min.insync.replicas=2 that is more lossy shutdowns than
    // Kafka promises to survive, so the data-loss invariants leave orders-0 alone. Log matching
    // does not depend on that promise. broker-1 then leads with records its followers never got
    // (their fetch answers are cut), crashes, and comes back holding them while broker-2 leads
    // a new epoch over the same offsets: without the divergence check it never truncates them.
    let s = json!({
        "name": "log-matching-outside-the-promise",
        "duration_ms": 80000,
        "cluster": {
            "controllers": 3,
            "brokers": 3,
            "topics": [{"name": "orders", "partitions": 1, "replication_factor": 3,
                        "assignment": [[1, 2, 3]], "config": {"min.insync.replicas": 2}}],
            "config": {"replica.lag.time.max.ms": 10000}
        },
        "workload": {"producers": [{"topic": "orders", "records_per_s": 100}]},
        "faults": [
            {"at_ms": 5000, "power_loss": "broker-3"},
            {"at_ms": 6000, "restart": "broker-3"},
            {"at_ms": 12000, "power_loss": "broker-3"},
            {"at_ms": 13000, "restart": "broker-3"},
            {"at_ms": 30000, "one_way": {"from": ["broker-1"], "to": ["broker-2", "broker-3"]}},
            {"at_ms": 33000, "crash": "broker-1"},
            {"at_ms": 34000, "heal": true},
            {"at_ms": 50000, "restart": "broker-1"}
        ]
    });
    proves(s, "test_no_divergence_check", &["log_matching"]);
}

/// orders-0 on brokers [1,2,3] with min.insync.replicas=2, one producer at 50 records/s, 60 s.
fn one_partition_for_60s(name: &str, faults: Value) -> Value {
    json!({
        "name": name,
        "duration_ms": 60000,
        "cluster": {
            "controllers": 3,
            "brokers": 3,
            "topics": [{"name": "orders", "partitions": 1, "replication_factor": 3,
                        "assignment": [[1, 2, 3]], "config": {"min.insync.replicas": 2}}]
        },
        "workload": {"producers": [{"topic": "orders", "records_per_s": 50}]},
        "faults": faults
    })
}

#[test]
fn a_producer_retrying_under_min_isr_is_not_a_liveness_failure_within_its_delivery_timeout() {
    // Two of three replicas die for good: the ISR is [1], below min.insync.replicas=2, and
    // acks=all writes are refused (NOT_ENOUGH_REPLICAS). A correct producer retries them until
    // delivery.timeout.ms (120 s), which the run does not reach.
    let s = one_partition_for_60s(
        "retrying-under-min-isr",
        json!([
            {"at_ms": 10000, "crash": "broker-2"},
            {"at_ms": 10000, "crash": "broker-3"},
            {"at_ms": 15000, "heal": true}
        ]),
    );
    let summary = run_json(s.clone(), &[]);
    assert!(summary.violations.is_empty(), "{:#?}", summary.violations);
    // With a delivery timeout the run does pass, every send is answered by then: failed.
    let mut short = s;
    short["workload"]["producers"][0]["config"] =
        json!({"delivery.timeout.ms": 20000, "request.timeout.ms": 5000});
    let summary = run_json(short, &[]);
    assert!(summary.violations.is_empty(), "{:#?}", summary.violations);
    assert!(summary.clients.sends_failed > 0, "{:?}", summary.clients);
}

#[test]
fn an_offline_partition_demands_no_replication_of_its_running_replica() {
    // broker-2 loses power and comes back without its log; it re-registers after an unclean
    // shutdown, so it is out of ISR and ELR. Then both other replicas die for good: orders-0
    // has nobody eligible and stays offline. broker-2 is running but cannot fetch from anyone,
    // so Kafka cannot replicate to it, and eventually_fully_replicated must not ask it to.
    let s = one_partition_for_60s(
        "offline-with-a-running-replica",
        json!([
            {"at_ms": 10000, "power_loss": "broker-2"},
            {"at_ms": 11000, "restart": "broker-2"},
            {"at_ms": 11000, "crash": "broker-1"},
            {"at_ms": 11000, "crash": "broker-3"}
        ]),
    );
    let summary = run_json(s, &[]);
    assert!(summary.violations.is_empty(), "{:#?}", summary.violations);
    let p = &summary.partitions[0];
    assert_eq!(p.leader, None, "the partition is offline: {p:?}");
}
