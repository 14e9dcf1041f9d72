//! The scenario JSON Schema: `kafkasim schema` prints what is checked in, every bundled
//! scenario is valid under it by an independent validator (the `jsonschema` crate, not
//! schemars, which writes it), and it refuses what kafkasim refuses.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use support::{kafkasim, stderr, stdout};

fn checked_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(sim_core::scenario::SCHEMA_FILE_NAME)
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(checked_in()).unwrap())
        .expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

#[test]
fn the_checked_in_schema_is_what_kafkasim_schema_prints() {
    let o = kafkasim(&["schema"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed = stdout(&o);
    if std::env::var_os("KAFKASIM_BLESS").is_some() {
        std::fs::write(checked_in(), &printed).unwrap();
    }
    let file = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        file == printed,
        "scenarios/{} is out of date: run `KAFKASIM_BLESS=1 cargo test --test schema`",
        sim_core::scenario::SCHEMA_FILE_NAME
    );
}

#[test]
fn every_bundled_scenario_is_valid_under_the_schema() {
    let validator = validator();
    let files = support::bundled_scenarios();
    assert!(files.len() >= 40, "{} scenarios", files.len());
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn the_schema_refuses_what_kafkasim_refuses() {
    let validator = validator();
    let good = json!({"name": "x", "cluster": {"brokers": 3}});
    assert!(validator.is_valid(&good));
    for bad in [
        json!({"cluster": {"brokers": 3}}),
        json!({"name": "x", "cluster": {"brokers": 3, "partitons": 2}}),
        json!({"name": "x", "cluster": {"brokers": "three"}}),
        json!({"name": "x", "cluster": {"brokers": 3, "config": {"min.insync.replica": 2}}}),
        json!({"name": "x", "cluster": {"brokers": 3,
                "config": {"broker.session.timeout.ms": 2_147_483_648u64}}}),
        json!({"name": "x", "cluster": {"brokers": 3},
               "workload": {"producers": [{"topic": "t", "records_per_s": 1,
                                           "config": {"acks": 2}}]}}),
        json!({"name": "x", "cluster": {"brokers": 3},
               "network": {"latency": {"kind": "gaussian", "us": 5}}}),
    ] {
        assert!(!validator.is_valid(&bad), "the schema accepts {bad}");
    }
}

#[test]
fn a_scenario_may_name_its_schema() {
    let dir = support::temp_dir("schema-key");
    let file = dir.join("s.json");
    let doc = json!({"$schema": "../scenarios/scenario.schema.json", "name": "s",
                     "duration_ms": 1000, "cluster": {"brokers": 1}});
    std::fs::write(&file, doc.to_string()).unwrap();
    let o = kafkasim(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
