use super::*;

const MINIMAL: &str = r#"{
  "name": "minimal",
  "cluster": {"brokers": 3, "topics": [{"name": "orders", "partitions": 3, "replication_factor": 3}]}
}"#;

fn err(text: &str) -> String {
    parse(text, "s.json")
        .expect_err("scenario should be rejected")
        .to_string()
}

/// MINIMAL with `extra` spliced in as more top-level fields.
fn with(extra: &str) -> String {
    MINIMAL.replacen(
        "\"name\": \"minimal\",",
        &format!("\"name\": \"minimal\", {extra},"),
        1,
    )
}

#[test]
fn a_minimal_scenario_resolves_every_default() {
    let s = parse(MINIMAL, "s.json").unwrap();
    assert_eq!(s.seed, 1);
    assert_eq!(s.duration_ms, 60_000);
    assert_eq!(s.cluster.controllers, 3);
    assert_eq!(s.cluster.config.broker_session_timeout_ms, 9_000);
    let topic = &s.cluster.topics[0];
    assert_eq!(
        topic.assignment.as_deref(),
        Some(&[vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2]][..])
    );
    assert_eq!(topic.config.min_insync_replicas, Some(1));
    assert_eq!(s.network.disconnect_detection_ms, 1_000);
}

#[test]
fn the_resolved_scenario_prints_and_parses_back_to_itself() {
    let text = with(
        r#""faults": [{"at_ms": 5000, "crash": "broker-1"}, {"at_ms": 6000, "partition": [["controller-1"], ["broker-2"]]}],
           "workload": {"producers": [{"topic": "orders", "records_per_s": 100}]}"#,
    );
    let s = parse(&text, "s.json").unwrap();
    let printed = serde_json::to_string_pretty(&s).unwrap();
    assert!(
        printed.contains("\"broker.session.timeout.ms\": 9000"),
        "{printed}"
    );
    assert_eq!(parse(&printed, "printed").unwrap(), s);
}

#[test]
fn members_are_named_by_role_in_node_id_order() {
    let s = parse(
        &with(
            r#""workload": {"producers": [{"topic": "orders", "records_per_s": 1, "count": 2}]}"#,
        ),
        "s.json",
    )
    .unwrap();
    let names: Vec<String> = s.members().into_iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "controller-1",
            "controller-2",
            "controller-3",
            "broker-1",
            "broker-2",
            "broker-3",
            "producer-1",
            "producer-2"
        ]
    );
}

#[test]
fn a_misspelt_key_is_named_with_its_path_and_a_suggestion() {
    let text = MINIMAL.replace("\"partitions\"", "\"partitons\"");
    assert_eq!(
        err(&text),
        "s.json: cluster.topics[0].partitons: unknown field \"partitons\" (did you mean \"partitions\"?)"
    );
}

#[test]
fn a_misspelt_kafka_config_key_is_named() {
    let text = MINIMAL.replace(
        "\"brokers\": 3,",
        "\"brokers\": 3, \"config\": {\"min.insync.replica\": 2},",
    );
    assert_eq!(
        err(&text),
        "s.json: cluster.config: unknown config key \"min.insync.replica\" (did you mean \"min.insync.replicas\"?)"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let text = MINIMAL.replace("\"brokers\": 3", "\"brokers\": \"three\"");
    assert_eq!(
        err(&text),
        "s.json: cluster.brokers: invalid type: string \"three\", expected u32"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let text = MINIMAL.replace("\"brokers\": 3,", "\"brokers\": 3");
    assert_eq!(
        err(&text),
        "s.json:3:28: not valid JSON: expected `,` or `}`"
    );
}

#[test]
fn faults_name_existing_nodes_one_action_each() {
    assert_eq!(
        err(&with(r#""faults": [{"at_ms": 1, "crash": "zookeeper"}]"#)),
        "s.json: faults[0].crash: no node \"zookeeper\"; nodes are controller-1, controller-2, controller-3, broker-1, broker-2, broker-3, or \"active-controller\""
    );
    assert_eq!(
        err(&with(r#""faults": [{"at_ms": 1, "crash": "brokr-1"}]"#)),
        "s.json: faults[0].crash: no node \"brokr-1\" (did you mean \"broker-1\"?)"
    );
    assert_eq!(
        err(&with(
            r#""faults": [{"at_ms": 1, "crash": "broker-1", "restart": "broker-2"}]"#
        )),
        "s.json: faults[0]: expected one action per entry, found crash and restart (split them into separate entries)"
    );
    assert!(
        err(&with(r#""faults": [{"at_ms": 1}]"#))
            .starts_with("s.json: faults[0]: expected one action; one of: crash, power_loss")
    );
    assert_eq!(
        err(&with(r#""faults": [{"at_ms": 90000, "heal": true}]"#)),
        "s.json: faults[0].at_ms: 90000 is after the end of the run (60000 ms)"
    );
    assert_eq!(
        err(&with(
            r#""faults": [{"at_ms": 1, "partition": [["broker-1"], ["broker-1"]]}]"#
        )),
        "s.json: faults[0].partition[1][0]: \"broker-1\" is in more than one group"
    );
}

#[test]
fn faults_resolve_in_time_order_keeping_file_order_for_ties() {
    let s = parse(
        &with(r#""faults": [{"at_ms": 9, "heal": true}, {"at_ms": 2, "isolate": "broker-1"}, {"at_ms": 9, "restart": "broker-1"}]"#),
        "s.json",
    )
    .unwrap();
    let faults = s.resolved_faults("s.json").unwrap();
    let names: Vec<&str> = faults.iter().map(|f| f.fault.name()).collect();
    assert_eq!(names, ["partition", "heal", "restart"]);
}

#[test]
fn topics_must_fit_the_cluster() {
    let text = MINIMAL.replace("\"replication_factor\": 3", "\"replication_factor\": 4");
    assert_eq!(
        err(&text),
        "s.json: cluster.topics[0].replication_factor: replication factor 4 needs between 1 and 3 brokers (the cluster has 3)"
    );
    let text = MINIMAL.replace(
        "\"replication_factor\": 3",
        "\"replication_factor\": 2, \"assignment\": [[1, 2], [2, 2], [3, 1]]",
    );
    assert_eq!(
        err(&text),
        "s.json: cluster.topics[0].assignment[1]: broker 2 is listed twice"
    );
    let text = with(r#""workload": {"producers": [{"topic": "order", "records_per_s": 1}]}"#);
    assert_eq!(
        err(&text),
        "s.json: workload.producers[0].topic: no topic \"order\" in cluster.topics (did you mean \"orders\"?)"
    );
}

#[test]
fn unknown_variants_and_invariants_are_rejected() {
    assert!(
        err(&with(r#""variants": ["prevote=flase"]"#))
            .starts_with("s.json: variants[0]: unknown protocol variant \"prevote=flase\"")
    );
    assert!(
        err(&with(r#""expect": {"hold": ["no_such_invariant"]}"#))
            .starts_with("s.json: expect.hold[0]: unknown invariant")
    );
}

#[test]
fn latency_bounds_are_checked() {
    let text = with(r#""network": {"latency": {"kind": "uniform", "min_us": 9, "max_us": 1}}"#);
    assert_eq!(
        err(&text),
        "s.json: network.latency: min_us (9) is greater than max_us (1)"
    );
    let text = with(r#""network": {"latency": {"kind": "unifrom", "min_us": 1, "max_us": 9}}"#);
    assert_eq!(
        err(&text),
        "s.json: network.latency.kind: unknown variant \"unifrom\" (did you mean \"uniform\"?)"
    );
}

#[test]
fn clusters_too_large_to_simulate_are_refused_not_crashed() {
    let text = MINIMAL.replace("\"brokers\": 3", "\"brokers\": 100000");
    assert_eq!(
        err(&text),
        "s.json: cluster.brokers: 100000 is more than the 4096 processes one simulation supports"
    );
    let text = MINIMAL.replace("\"brokers\": 3", "\"brokers\": 4000, \"controllers\": 100");
    assert_eq!(
        err(&text),
        "s.json: cluster: 4100 processes (controllers, brokers and clients) is more than the 4096 one simulation supports"
    );
}

#[test]
fn a_scenario_document_leaves_out_defaults_and_reads_back_the_same() {
    let text = r#"{"name": "d", "duration_ms": 50000,
        "cluster": {"brokers": 4, "config": {"replica.lag.time.max.ms": 10000},
            "topics": [{"name": "a", "partitions": 3, "replication_factor": 3,
                        "config": {"min.insync.replicas": 2}},
                       {"name": "b", "partitions": 2, "replication_factor": 2,
                        "assignment": [[4, 1], [1, 2]]}]},
        "workload": {"producers": [{"topic": "a", "records_per_s": 10,
                                    "config": {"acks": 1, "enable.idempotence": false}}],
                     "consumers": [{"topic": "b", "count": 2}]},
        "faults": [{"at_ms": 5000, "crash": "broker-1"}]}"#;
    let s = parse(text, "d.json").unwrap();
    let doc = s.to_document();
    assert_eq!(parse(&doc.to_string(), "again").unwrap(), s);
    assert_eq!(
        doc["cluster"]["config"],
        serde_json::json!({"replica.lag.time.max.ms": 10000})
    );
    assert_eq!(
        doc["cluster"]["topics"][0],
        serde_json::json!({"name": "a", "partitions": 3, "replication_factor": 3,
                           "config": {"min.insync.replicas": 2}})
    );
    assert_eq!(
        doc["cluster"]["topics"][1]["assignment"],
        serde_json::json!([[4, 1], [1, 2]])
    );
    assert_eq!(
        doc["workload"]["producers"][0],
        serde_json::json!({"topic": "a", "records_per_s": 10,
                           "config": {"acks": "1", "enable.idempotence": false}})
    );
    assert_eq!(doc["workload"]["consumers"][0]["count"], 2);
    assert!(doc.get("notes").is_none() && doc.get("variants").is_none());
}
