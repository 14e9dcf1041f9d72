//! Scenario files: the cluster, network, workload, fault schedule, protocol variants,
//! expectations and narration of one run, as hand-writable JSON.
//!
//! - [`parse`] reads a document, rejecting unknown keys (with a "did you mean") and naming the
//!   JSON path of any bad field, then `Scenario::validate` checks what types cannot (names
//!   exist, counts fit, times are in order) and fills every default, so the [`Scenario`] that
//!   comes back is fully resolved: printing it shows every value in force.
//! - [`Scenario::resolve`] turns it into the typed [`crate::world::ResolvedScenario`] the world
//!   runs; Kafka's config keys and defaults are the protocol's ([`crate::config`]).
//!
//! The same format serves lessons, regression tests and fuzz findings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::check;
pub use crate::config::{
    Acks, BrokerConfig, ConsumerConfig, OffsetReset, ProducerConfig, TopicConfig,
};
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::fault::{Fault, ScheduledFault};
use crate::net::LatencyModel;
use crate::proto::CHANNELS;
use crate::storage::CrashKind;
use crate::suggest;
use crate::variants;
pub use crate::world::{Member, Role, Target};

mod cost;
mod resolve;
pub use cost::{
    Cost, DEFAULT_WORK_LIMIT, MAX_DURATION_MS, MAX_FAULTS, MAX_NOTES, MAX_PARTITION_REPLICAS,
    MAX_REPLICAS_PER_BROKER, human_bytes,
};

/// A bad scenario: where, and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    #[error("{origin}:{line}:{column}: not valid JSON: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {path}: {message}")]
    Invalid {
        origin: String,
        path: String,
        message: String,
    },
}

/// One simulation run, as a person writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The JSON Schema this file follows, for editors (`kafkasim schema`); kafkasim ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// What the scenario is called in reports and `kafkasim list`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// A lesson's title, as `kafkasim list` shows the course.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// What happens and why, for `kafkasim explain` and the reports.
    #[serde(default)]
    pub description: String,
    /// The seed of every random choice; the same seed gives the same run.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated run length (at most 7 days).
    #[serde(default = "default_duration_ms")]
    #[schemars(range(min = 1, max = MAX_DURATION_MS))]
    pub duration_ms: u64,
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Protocol variants switched on, by name (see `kafkasim list`).
    #[serde(default)]
    pub variants: Vec<String>,
    #[serde(default)]
    pub expect: Expectations,
    /// The same run with some (or all) of `variants` switched off, and what it must show
    /// then: how a bug scenario states both the bug and the fix on one seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub without: Option<Without>,
    /// Narration notes shown at their times.
    #[serde(default)]
    pub notes: Vec<Note>,
}

fn default_seed() -> u64 {
    1
}
fn default_duration_ms() -> u64 {
    60_000
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// KRaft controllers (voters of `__cluster_metadata`).
    #[serde(default = "default_controllers")]
    #[schemars(range(min = 1, max = MAX_PROCESSES))]
    pub controllers: u32,
    /// Brokers, numbered from 1 (broker-1, broker-2, ...).
    #[schemars(range(min = 1, max = MAX_PROCESSES))]
    pub brokers: u32,
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
    /// Broker and controller config overrides, by Kafka key.
    #[serde(default)]
    pub config: BrokerConfig,
}

fn default_controllers() -> u32 {
    3
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    /// Defaults to `num.partitions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_PARTITION_REPLICAS))]
    pub partitions: Option<u32>,
    /// Defaults to `default.replication.factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub replication_factor: Option<u32>,
    /// Replica lists per partition, by broker number; the first is the preferred leader.
    /// Defaults to Kafka's round-robin placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Vec<Vec<u32>>>,
    /// Topic-level overrides, by Kafka key.
    #[serde(default)]
    pub config: TopicConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    #[serde(default)]
    pub latency: LatencyModel,
    /// How long until an end notices its connection broke (a crashed peer or a cut link).
    #[serde(default = "default_disconnect_detection_ms")]
    pub disconnect_detection_ms: u64,
}

fn default_disconnect_detection_ms() -> u64 {
    1_000
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: LatencyModel::default(),
            disconnect_detection_ms: default_disconnect_detection_ms(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    #[serde(default)]
    pub producers: Vec<ProducerSpec>,
    #[serde(default)]
    pub consumers: Vec<ConsumerSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerSpec {
    pub topic: String,
    /// Records sent per simulated second, spread over the topic's partitions.
    #[schemars(range(max = MAX_RECORDS_PER_S))]
    pub records_per_s: u32,
    /// Identical producers of this spec (producer-1, producer-2, ...).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = MAX_PROCESSES))]
    pub count: u32,
    #[serde(default)]
    pub start_ms: u64,
    /// Stop sending at this time; defaults to the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_ms: Option<u64>,
    /// Producer config, by Kafka key.
    #[serde(default)]
    pub config: ProducerConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    pub topic: String,
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = MAX_PROCESSES))]
    pub count: u32,
    #[serde(default)]
    pub start_ms: u64,
    /// Consumer config, by Kafka key.
    #[serde(default)]
    pub config: ConsumerConfig,
}

fn one() -> u32 {
    1
}

/// One fault at a time. Exactly one action key is set, e.g. `{"at_ms": 5000, "crash": "broker-1"}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at_ms: u64,
    /// Process crash: memory lost, page cache kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<String>,
    /// Host power loss: unflushed writes lost too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_loss: Option<String>,
    /// Disk lost: the node comes back empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_loss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Graceful shutdown (controlled shutdown for a broker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// Cut one node off from every other node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolate: Option<String>,
    /// Groups that cannot reach each other; unnamed nodes form one more group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Vec<Vec<String>>>,
    /// Messages from `from` to `to` are lost; as in TCP, no connection between them can open
    /// while it lasts (the handshake needs both directions), and an open one is reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_way: Option<OneWaySpec>,
    /// `true`: every cut link works again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_link: Option<SlowLinkSpec>,
    /// Messages from `from` to `to` on one connection take longer (a stuck request or a slow
    /// handler); the node pair's other connections are unaffected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_channel: Option<SlowChannelSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneWaySpec {
    pub from: Vec<String>,
    pub to: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowSpec {
    pub node: String,
    /// Extra delay on every message to or from the node; 0 restores it.
    pub extra_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowLinkSpec {
    pub from: String,
    pub to: String,
    pub extra_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowChannelSpec {
    pub from: String,
    pub to: String,
    /// The connection: `raft`, `heartbeat`, `alter_partition`, `replica_fetch` or `client`.
    pub channel: String,
    pub extra_ms: u64,
}

/// What the run must show.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Invariants that must hold for the whole run.
    #[serde(default)]
    pub hold: Vec<String>,
    /// Invariants this scenario must break (a lesson or a bug reproduction).
    #[serde(default)]
    pub violate: Vec<String>,
}

/// The comparison run of a bug scenario: the scenario with `variants` switched off (all of
/// the scenario's variants when empty; the others stay on, e.g. the older era the bug lived
/// in), judged against `expect`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Without {
    #[serde(default)]
    pub variants: Vec<String>,
    pub expect: Expectations,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub at_ms: u64,
    pub text: String,
}

/// Parses and validates a scenario document. `origin` names it in errors (usually the path).
pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    let top = |message: &str| invalid(origin, "(top level)".into(), message.into());
    let starts_as_object = match text.trim_start().chars().next() {
        None => return Err(top("the file is empty; expected a scenario, a JSON object")),
        Some('[') => {
            return Err(top(
                "expected one scenario, a JSON object ({\"name\": ..., \"cluster\": ...}), \
                 found an array; put each scenario in its own file",
            ));
        }
        Some(c) => c == '{',
    };
    let syntax = |e: serde_json::Error| {
        let mut message = strip_position(&e.to_string());
        if !starts_as_object {
            message.push_str(
                " (a scenario file is one JSON object; YAML and other formats are not read)",
            );
        }
        ScenarioError::Syntax {
            origin: origin.to_string(),
            line: e.line(),
            column: e.column(),
            message,
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let scenario: Scenario = match serde_path_to_error::deserialize(&mut de) {
        Ok(s) => s,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(syntax(inner));
            }
            return Err(ScenarioError::Invalid {
                origin: origin.to_string(),
                path: if path == "." {
                    "(top level)".into()
                } else {
                    path
                },
                message: suggest::improve_serde_message(&strip_position(&inner.to_string())),
            });
        }
    };
    de.end().map_err(syntax)?;
    scenario.validate(origin)
}

/// The file name of the scenario JSON Schema, checked in beside the scenarios.
pub const SCHEMA_FILE_NAME: &str = "scenario.schema.json";

/// Whether a file found in a scenario folder is a scenario: `*.json`, but not a JSON Schema
/// (`*.schema.json`).
pub fn is_scenario_file(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".json") && !name.ends_with(".schema.json")
}

/// The JSON Schema (draft 2020-12) of scenario files, generated from the types serde reads
/// them into: what `kafkasim schema` prints and editors validate and complete with. Kafka
/// config keys carry their Kafka type's range, their default and their meaning.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Scenario).to_value();
    schema["$id"] = serde_json::Value::from(format!(
        "https://github.com/kafkasim/kafkasim/scenarios/{SCHEMA_FILE_NAME}"
    ));
    schema["title"] = serde_json::Value::from("kafkasim scenario");
    schema
}

/// What the coverage-guided fuzz target (`fuzz/fuzz_targets/scenario.rs`) and its corpus
/// replay (`tests/fuzz_corpus.rs`) do with arbitrary bytes: parse and validate them; a scenario
/// that is accepted must resolve, have a cost estimate, and read back from its document as
/// itself. Panics (the finding) if any of that fails.
pub fn exercise(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scenario) = parse(text, "fuzz.json") else {
        return;
    };
    let _ = Cost::of(&scenario);
    let _ = scenario.resolve();
    let document = scenario.to_document().to_string();
    let again = parse(&document, "fuzz.json")
        .unwrap_or_else(|e| panic!("the document of an accepted scenario is refused: {e}"));
    assert_eq!(
        again, scenario,
        "the document does not read back as the scenario"
    );
}

/// The fastest producer: one record per simulated microsecond (its records are made one timer
/// tick each).
pub const MAX_RECORDS_PER_S: u32 = 1_000_000;

/// A scenario that parsed but does not make sense: which file, which field, what was wrong.
fn invalid(origin: &str, path: String, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        origin: origin.to_string(),
        path,
        message,
    }
}

/// serde_json appends " at line L column C"; the error already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

impl Scenario {
    /// Checks what types cannot, and fills every default. Returns the resolved scenario.
    pub(crate) fn validate(mut self, origin: &str) -> Result<Scenario, ScenarioError> {
        self.validate_shape(origin)?;
        self.validate_topics(origin)?;
        self.validate_workload(origin)?;
        self.validate_faults_and_notes(origin)?;
        self.validate_variants(origin)?;
        check_expectations(&self.expect, "expect", origin)?;
        if let Some(without) = &self.without {
            check_expectations(&without.expect, "without.expect", origin)?;
        }
        Ok(self)
    }

    /// A name, a duration, a quorum, brokers, no more processes than one simulation holds, a
    /// latency model that makes sense.
    fn validate_shape(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |path: String, message: String| invalid(origin, path, message);
        if self.name.trim().is_empty() {
            return Err(bad("name".into(), "expected a non-empty name".into()));
        }
        if self.duration_ms == 0 || self.duration_ms > MAX_DURATION_MS {
            return Err(bad(
                "duration_ms".into(),
                format!(
                    "expected a duration from 1 to {MAX_DURATION_MS} ms (7 days), found {}",
                    self.duration_ms
                ),
            ));
        }
        for (field, count, max) in [
            ("faults", self.faults.len(), MAX_FAULTS),
            ("notes", self.notes.len(), MAX_NOTES),
        ] {
            if count > max {
                return Err(bad(
                    field.into(),
                    format!("{count} {field} is more than the {max} one scenario may hold"),
                ));
            }
        }
        if self.cluster.controllers == 0 {
            return Err(bad(
                "cluster.controllers".into(),
                "KRaft needs at least one controller".into(),
            ));
        }
        if self.cluster.brokers == 0 {
            return Err(bad(
                "cluster.brokers".into(),
                "expected at least one broker".into(),
            ));
        }
        self.validate_process_counts(origin)?;
        if let Err(m) = self.network.latency.validate() {
            return Err(bad("network.latency".into(), m));
        }

        Ok(())
    }

    /// No count of processes, nor their sum, past what one simulation holds.
    fn validate_process_counts(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |path: String, message: String| invalid(origin, path, message);
        let producers = self.workload.producers.iter().enumerate();
        let consumers = self.workload.consumers.iter().enumerate();
        let counts: Vec<(String, u32)> = [
            ("cluster.controllers".to_string(), self.cluster.controllers),
            ("cluster.brokers".to_string(), self.cluster.brokers),
        ]
        .into_iter()
        .chain(producers.map(|(i, p)| (format!("workload.producers[{i}].count"), p.count)))
        .chain(consumers.map(|(i, c)| (format!("workload.consumers[{i}].count"), c.count)))
        .collect();
        // A count past the limit on its own is named where it stands.
        if let Some((path, count)) = counts
            .iter()
            .find(|(_, count)| u64::from(*count) > MAX_PROCESSES)
        {
            return Err(bad(
                path.clone(),
                format!(
                    "{count} is more than the {MAX_PROCESSES} processes one simulation supports"
                ),
            ));
        }
        let processes: u64 = counts.iter().map(|(_, count)| u64::from(*count)).sum();
        if processes > MAX_PROCESSES {
            return Err(bad(
                "cluster".into(),
                format!(
                    "{processes} processes (controllers, brokers and clients) is more than the \
                     {MAX_PROCESSES} one simulation supports"
                ),
            ));
        }
        Ok(())
    }

    /// Each topic: a valid, unique name, partitions, a replication factor the brokers can
    /// hold, and an assignment (given and checked, or round-robin as Kafka places replicas);
    /// its config resolved against the brokers'.
    fn validate_topics(&mut self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |path: String, message: String| invalid(origin, path, message);
        let brokers = self.cluster.brokers;
        let broker_config = self.cluster.config.clone();
        let mut topic_names = std::collections::BTreeSet::new();
        let mut replicas_in_cluster = 0u64;
        let mut replicas_per_broker = vec![0u64; brokers as usize];
        for (i, topic) in self.cluster.topics.iter_mut().enumerate() {
            let at = |field: &str| format!("cluster.topics[{i}]{field}");
            if !valid_topic_name(&topic.name) {
                return Err(bad(
                    at(".name"),
                    format!(
                        "\"{}\" is not a valid Kafka topic name (1-249 of [a-zA-Z0-9._-])",
                        topic.name
                    ),
                ));
            }
            if !topic_names.insert(topic.name.clone()) {
                return Err(bad(
                    at(".name"),
                    format!("topic \"{}\" is defined twice", topic.name),
                ));
            }
            let partitions = *topic.partitions.get_or_insert(broker_config.num_partitions);
            if partitions == 0 {
                return Err(bad(
                    at(".partitions"),
                    "expected at least 1 partition".into(),
                ));
            }
            let rf = *topic
                .replication_factor
                .get_or_insert(broker_config.default_replication_factor);
            if rf == 0 || rf > brokers {
                return Err(bad(
                    at(".replication_factor"),
                    format!(
                        "replication factor {rf} needs between 1 and {brokers} brokers (the cluster has {brokers})"
                    ),
                ));
            }
            replicas_in_cluster += u64::from(partitions) * u64::from(rf);
            if replicas_in_cluster > MAX_PARTITION_REPLICAS {
                return Err(bad(
                    at(".partitions"),
                    format!(
                        "{partitions} partitions × {rf} replicas brings the cluster to \
                         {replicas_in_cluster} partition replicas, more than the \
                         {MAX_PARTITION_REPLICAS} one simulation holds"
                    ),
                ));
            }
            match &topic.assignment {
                Some(assignment) => check_assignment(assignment, partitions, rf, brokers)
                    .map_err(|(field, message)| bad(at(&field), message))?,
                None => {
                    topic.assignment = Some(round_robin_assignment(
                        topic_names.len() - 1,
                        partitions,
                        rf,
                        brokers,
                    ));
                }
            }
            for b in topic.assignment.iter().flatten().flatten() {
                let count = &mut replicas_per_broker[*b as usize - 1];
                *count += 1;
                if *count > MAX_REPLICAS_PER_BROKER {
                    return Err(bad(
                        at(".partitions"),
                        format!(
                            "broker {b} would hold more than {MAX_REPLICAS_PER_BROKER} partition \
                             replicas, the most one simulated broker holds (add brokers, or \
                             fewer partitions)"
                        ),
                    ));
                }
            }
            topic.config.resolve(&broker_config);
        }

        Ok(())
    }

    /// Producers and consumers name existing topics, come at least once, and stop after
    /// they start.
    fn validate_workload(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |path: String, message: String| invalid(origin, path, message);
        for (i, p) in self.workload.producers.iter().enumerate() {
            self.check_topic(&p.topic, format!("workload.producers[{i}].topic"), origin)?;
            if p.count == 0 {
                return Err(bad(
                    format!("workload.producers[{i}].count"),
                    "expected at least 1".into(),
                ));
            }
            if p.stop_ms.is_some_and(|stop| stop < p.start_ms) {
                return Err(bad(
                    format!("workload.producers[{i}].stop_ms"),
                    "must not be before start_ms".into(),
                ));
            }
            if p.records_per_s > MAX_RECORDS_PER_S {
                return Err(bad(
                    format!("workload.producers[{i}].records_per_s"),
                    format!(
                        "{} is more than {MAX_RECORDS_PER_S}: a producer makes one record per \
                         simulated microsecond at most (use more producers, \"count\")",
                        p.records_per_s
                    ),
                ));
            }
        }
        for (i, c) in self.workload.consumers.iter().enumerate() {
            self.check_topic(&c.topic, format!("workload.consumers[{i}].topic"), origin)?;
            if c.count == 0 {
                return Err(bad(
                    format!("workload.consumers[{i}].count"),
                    "expected at least 1".into(),
                ));
            }
        }

        Ok(())
    }

    /// Every fault resolves (node names, the shape of each entry) and every note falls within
    /// the run.
    fn validate_faults_and_notes(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |path: String, message: String| invalid(origin, path, message);
        // Resolving the faults checks every node name and the shape of every entry.
        self.resolved_faults(origin)?;
        for (i, note) in self.notes.iter().enumerate() {
            if note.at_ms > self.duration_ms {
                return Err(bad(
                    format!("notes[{i}].at_ms"),
                    format!(
                        "{} is after the end of the run ({} ms)",
                        note.at_ms, self.duration_ms
                    ),
                ));
            }
        }

        Ok(())
    }

    /// Variants are known (with a did-you-mean), listed once, and a `without` comparison
    /// switches off only variants that are on.
    fn validate_variants(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |path: String, message: String| invalid(origin, path, message);
        for (i, name) in self.variants.iter().enumerate() {
            if self.variants[..i].contains(name) {
                return Err(bad(
                    format!("variants[{i}]"),
                    format!("\"{name}\" is listed twice"),
                ));
            }
            if variants::variant(name).is_none() {
                let known: Vec<&str> = variants::VARIANTS.iter().map(|v| v.name).collect();
                let message = match suggest::closest(name, known.iter().copied()) {
                    Some(best) => {
                        format!("unknown protocol variant \"{name}\" (did you mean \"{best}\"?)")
                    }
                    None if known.is_empty() => {
                        format!("unknown protocol variant \"{name}\"; this build defines none yet")
                    }
                    None => format!(
                        "unknown protocol variant \"{name}\"; known: {}",
                        known.join(", ")
                    ),
                };
                return Err(bad(format!("variants[{i}]"), message));
            }
        }
        if let Some(without) = &self.without {
            if self.variants.is_empty() {
                return Err(bad(
                    "without".into(),
                    "compares the run without its protocol variants, but \"variants\" is empty"
                        .into(),
                ));
            }
            for (i, name) in without.variants.iter().enumerate() {
                if !self.variants.contains(name) {
                    return Err(bad(
                        format!("without.variants[{i}]"),
                        format!(
                            "\"{name}\" is not switched on in \"variants\" ({})",
                            self.variants.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The scenario as a person would write it: the resolved scenario with every value that
    /// equals its default left out (Kafka config defaults, round-robin placements, counts of
    /// one, empty lists). Parsed again it resolves to the same scenario.
    pub fn to_document(&self) -> serde_json::Value {
        use serde_json::Value;
        let mut doc = serde_json::to_value(self).expect("a scenario serializes");
        let strip = |map: Option<&mut Value>, defaults: &serde_json::Map<String, Value>| {
            if let Some(Value::Object(map)) = map {
                map.retain(|k, v| defaults.get(k) != Some(v));
            }
        };
        let broker = &self.cluster.config;
        strip(
            doc.pointer_mut("/cluster/config"),
            &BrokerConfig::default().to_map(),
        );
        let brokers = self.cluster.brokers;
        for (i, t) in self.cluster.topics.iter().enumerate() {
            let topic = &mut doc["cluster"]["topics"][i];
            let mut inherited = TopicConfig::default();
            inherited.resolve(broker);
            if let Value::Object(inherited) = serde_json::to_value(&inherited).unwrap_or_default() {
                strip(topic.get_mut("config"), &inherited);
            }
            let default_placement = round_robin_assignment(
                i,
                t.partitions.unwrap_or(1),
                t.replication_factor.unwrap_or(1),
                brokers,
            );
            if t.assignment.as_ref() == Some(&default_placement)
                && let Value::Object(topic) = topic
            {
                topic.remove("assignment");
            }
        }
        let producer_defaults = ProducerConfig::default().to_map();
        let consumer_defaults = ConsumerConfig::default().to_map();
        for (list, defaults) in [
            ("producers", &producer_defaults),
            ("consumers", &consumer_defaults),
        ] {
            if let Some(Value::Array(items)) = doc.pointer_mut(&format!("/workload/{list}")) {
                for item in items {
                    strip(item.get_mut("config"), defaults);
                    if let Value::Object(item) = item {
                        item.retain(|k, v| {
                            !matches!(
                                (k.as_str(), v.as_u64()),
                                ("count", Some(1)) | ("start_ms", Some(0))
                            )
                        });
                    }
                }
            }
        }
        if let Value::Object(top) = &mut doc {
            top.retain(|_, v| match v {
                Value::Array(a) => !a.is_empty(),
                Value::String(s) => !s.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
            for key in ["cluster", "workload", "expect"] {
                if let Some(Value::Object(o)) = top.get_mut(key) {
                    o.retain(|_, v| match v {
                        Value::Array(a) => !a.is_empty(),
                        Value::Object(o) => !o.is_empty(),
                        _ => true,
                    });
                }
            }
            top.retain(|_, v| !matches!(v, Value::Object(o) if o.is_empty()));
        }
        doc
    }

    /// The comparison run a bug scenario asks for: `without.variants` (or every variant)
    /// switched off, judged by `without.expect`. `None` if the scenario has no `without`.
    pub fn without_variants(&self) -> Option<Scenario> {
        let without = self.without.as_ref()?;
        let mut s = self.clone();
        s.variants
            .retain(|v| !without.variants.is_empty() && !without.variants.contains(v));
        s.expect = without.expect.clone();
        s.without = None;
        Some(s)
    }

    fn check_topic(&self, topic: &str, path: String, origin: &str) -> Result<(), ScenarioError> {
        if self.cluster.topics.iter().any(|t| t.name == topic) {
            return Ok(());
        }
        let names: Vec<&str> = self
            .cluster
            .topics
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let message = match suggest::closest(topic, names.iter().copied()) {
            Some(best) => {
                format!("no topic \"{topic}\" in cluster.topics (did you mean \"{best}\"?)")
            }
            None => format!(
                "no topic \"{topic}\" in cluster.topics (topics: {})",
                names.join(", ")
            ),
        };
        Err(ScenarioError::Invalid {
            origin: origin.to_string(),
            path,
            message,
        })
    }

    /// Every process of the run, in node-id order: controllers, brokers, producers, consumers.
    pub fn members(&self) -> Vec<Member> {
        let mut out = Vec::new();
        let mut add = |role: Role, count: u32| {
            for number in 1..=count {
                let id = NodeId(out.len() as u32);
                out.push(Member {
                    id,
                    role,
                    number,
                    name: format!("{role}-{number}"),
                });
            }
        };
        add(Role::Controller, self.cluster.controllers);
        add(Role::Broker, self.cluster.brokers);
        add(
            Role::Producer,
            self.workload.producers.iter().map(|p| p.count).sum(),
        );
        add(
            Role::Consumer,
            self.workload.consumers.iter().map(|c| c.count).sum(),
        );
        out
    }

    pub fn duration(&self) -> SimDuration {
        SimDuration::from_millis(self.duration_ms)
    }

    /// The fault schedule with node names resolved, in time order (ties keep file order).
    pub(crate) fn resolved_faults(
        &self,
        origin: &str,
    ) -> Result<Vec<ScheduledFault<Target>>, ScenarioError> {
        let members = self.members();
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let mut out = Vec::with_capacity(self.faults.len());
        for (index, spec) in self.faults.iter().enumerate() {
            let entry = FaultEntry {
                origin,
                index,
                names: &names,
            };
            if spec.at_ms > self.duration_ms {
                return Err(entry.bad(
                    ".at_ms",
                    format!(
                        "{} is after the end of the run ({} ms)",
                        spec.at_ms, self.duration_ms
                    ),
                ));
            }
            let mut actions = entry.process_actions(spec)?;
            actions.extend(entry.network_actions(spec)?);
            actions.extend(entry.slow_actions(spec)?);
            out.push(ScheduledFault {
                at: SimTime::from_millis(spec.at_ms),
                fault: entry.the_one_action(actions)?,
            });
        }
        out.sort_by_key(|f| f.at); // stable: ties keep file order
        Ok(out)
    }
}

/// Every id names an invariant, and none is both to hold and to be violated. `prefix` is the
/// field the expectations sit in (`expect` or `without.expect`).
fn check_expectations(
    expect: &Expectations,
    prefix: &str,
    origin: &str,
) -> Result<(), ScenarioError> {
    let bad = |path: String, message: String| ScenarioError::Invalid {
        origin: origin.to_string(),
        path,
        message,
    };
    for (field, ids) in [("hold", &expect.hold), ("violate", &expect.violate)] {
        for (i, id) in ids.iter().enumerate() {
            if check::invariant(id).is_none() {
                let known: Vec<&str> = check::INVARIANTS.iter().map(|v| v.id).collect();
                let message = match suggest::closest(id, known.iter().copied()) {
                    Some(best) => format!("unknown invariant \"{id}\" (did you mean \"{best}\"?)"),
                    None => format!("unknown invariant \"{id}\"; known: {}", known.join(", ")),
                };
                return Err(bad(format!("{prefix}.{field}[{i}]"), message));
            }
        }
    }
    if let Some(id) = expect.hold.iter().find(|id| expect.violate.contains(id)) {
        return Err(bad(
            prefix.to_string(),
            format!("\"{id}\" cannot be both in hold and in violate"),
        ));
    }
    Ok(())
}

/// Most processes in one simulation: the network keeps a link per ordered pair, so memory grows
/// with the square (4,096 processes is 16 M links, about 400 MB).
pub const MAX_PROCESSES: u64 = 4_096;

/// A fault target resolved when the fault fires: the active controller at that moment (for
/// `restart` and `resume`, the node it last resolved to). Lessons need it, because which
/// controller wins an election depends on the seed.
pub const ACTIVE_CONTROLLER_NAME: &str = "active-controller";

/// The action keys of a fault entry.
pub const FAULT_ACTIONS: &[&str] = &[
    "crash",
    "power_loss",
    "disk_loss",
    "restart",
    "shutdown",
    "pause",
    "resume",
    "isolate",
    "partition",
    "one_way",
    "heal",
    "slow",
    "slow_link",
    "slow_channel",
];

/// One entry of a scenario's fault list while its names are resolved: where it is, for errors,
/// and the nodes it may name.
struct FaultEntry<'a> {
    origin: &'a str,
    index: usize,
    names: &'a [&'a str],
}

/// The actions one fault entry names, each with its key.
type Actions = Vec<(&'static str, Fault<Target>)>;

impl FaultEntry<'_> {
    fn bad(&self, field: &str, message: String) -> ScenarioError {
        ScenarioError::Invalid {
            origin: self.origin.to_string(),
            path: format!("faults[{}]{field}", self.index),
            message,
        }
    }

    fn node(&self, field: &str, name: &str) -> Result<Target, ScenarioError> {
        if name == ACTIVE_CONTROLLER_NAME {
            return Ok(Target::ActiveController);
        }
        match self.names.iter().position(|n| *n == name) {
            Some(i) => Ok(Target::Node(NodeId(i as u32))),
            None => Err(self.bad(field, unknown_node_message(name, self.names))),
        }
    }

    fn nodes(&self, field: &str, list: &[String]) -> Result<Vec<Target>, ScenarioError> {
        if list.is_empty() {
            return Err(self.bad(field, "expected at least one node".into()));
        }
        list.iter()
            .enumerate()
            .map(|(k, n)| self.node(&format!("{field}[{k}]"), n))
            .collect()
    }

    /// Crashes of each kind, restarts, shutdowns, pauses and resumes.
    fn process_actions(&self, spec: &FaultSpec) -> Result<Actions, ScenarioError> {
        let mut actions: Actions = Vec::new();
        for (key, name, kind) in [
            ("crash", &spec.crash, CrashKind::Process),
            ("power_loss", &spec.power_loss, CrashKind::PowerLoss),
            ("disk_loss", &spec.disk_loss, CrashKind::DiskLoss),
        ] {
            if let Some(n) = name {
                let node = self.node(&format!(".{key}"), n)?;
                actions.push((key, Fault::Crash { node, kind }));
            }
        }
        type Make = fn(Target) -> Fault<Target>;
        for (key, name, make) in [
            (
                "restart",
                &spec.restart,
                (|node| Fault::Restart { node }) as Make,
            ),
            ("shutdown", &spec.shutdown, |node| Fault::Shutdown { node }),
            ("pause", &spec.pause, |node| Fault::Pause { node }),
            ("resume", &spec.resume, |node| Fault::Resume { node }),
        ] {
            if let Some(n) = name {
                actions.push((key, make(self.node(&format!(".{key}"), n)?)));
            }
        }
        Ok(actions)
    }

    /// Cuts: isolate, partition, one_way, and heal.
    fn network_actions(&self, spec: &FaultSpec) -> Result<Actions, ScenarioError> {
        let mut actions: Actions = Vec::new();
        if let Some(n) = &spec.isolate {
            actions.push((
                "isolate",
                Fault::Partition {
                    groups: vec![vec![self.node(".isolate", n)?]],
                },
            ));
        }
        if let Some(groups) = &spec.partition {
            actions.push(("partition", self.partition(groups)?));
        }
        if let Some(ow) = &spec.one_way {
            actions.push((
                "one_way",
                Fault::OneWay {
                    from: self.nodes(".one_way.from", &ow.from)?,
                    to: self.nodes(".one_way.to", &ow.to)?,
                },
            ));
        }
        match spec.heal {
            Some(true) => actions.push(("heal", Fault::Heal)),
            Some(false) => {
                return Err(self.bad(".heal", "expected true (heal every cut link)".into()));
            }
            None => {}
        }
        Ok(actions)
    }

    /// A partition into groups, none naming a node twice.
    fn partition(&self, groups: &[Vec<String>]) -> Result<Fault<Target>, ScenarioError> {
        if groups.is_empty() {
            return Err(self.bad(".partition", "expected at least one group".into()));
        }
        let mut resolved = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (g, group) in groups.iter().enumerate() {
            let ids = self.nodes(&format!(".partition[{g}]"), group)?;
            for (k, id) in ids.iter().enumerate() {
                if !seen.insert(*id) {
                    return Err(self.bad(
                        &format!(".partition[{g}][{k}]"),
                        format!("\"{}\" is in more than one group", group[k]),
                    ));
                }
            }
            resolved.push(ids);
        }
        Ok(Fault::Partition { groups: resolved })
    }

    /// Slow nodes, links and connections.
    fn slow_actions(&self, spec: &FaultSpec) -> Result<Actions, ScenarioError> {
        let mut actions: Actions = Vec::new();
        if let Some(s) = &spec.slow {
            actions.push((
                "slow",
                Fault::SlowNode {
                    node: self.node(".slow.node", &s.node)?,
                    extra: SimDuration::from_millis(s.extra_ms),
                },
            ));
        }
        if let Some(s) = &spec.slow_link {
            let (from, to) = (
                self.node(".slow_link.from", &s.from)?,
                self.node(".slow_link.to", &s.to)?,
            );
            actions.push((
                "slow_link",
                Fault::SlowLink {
                    from,
                    to,
                    extra: SimDuration::from_millis(s.extra_ms),
                },
            ));
        }
        if let Some(s) = &spec.slow_channel {
            let (from, to) = (
                self.node(".slow_channel.from", &s.from)?,
                self.node(".slow_channel.to", &s.to)?,
            );
            let Some(&(name, channel)) = CHANNELS.iter().find(|(name, _)| *name == s.channel)
            else {
                let names: Vec<&str> = CHANNELS.iter().map(|(n, _)| *n).collect();
                let hint = match suggest::closest(&s.channel, names.iter().copied()) {
                    Some(best) => format!(" (did you mean \"{best}\"?)"),
                    None => String::new(),
                };
                return Err(self.bad(
                    ".slow_channel.channel",
                    format!(
                        "no connection \"{}\"{hint}; connections are {}",
                        s.channel,
                        names.join(", ")
                    ),
                ));
            };
            actions.push((
                "slow_channel",
                Fault::SlowChannel {
                    from,
                    to,
                    channel,
                    name: name.into(),
                    extra: SimDuration::from_millis(s.extra_ms),
                },
            ));
        }
        Ok(actions)
    }

    /// An entry names exactly one action.
    fn the_one_action(&self, mut actions: Actions) -> Result<Fault<Target>, ScenarioError> {
        match actions.len() {
            1 => Ok(actions.remove(0).1),
            0 => Err(self.bad(
                "",
                format!("expected one action; one of: {}", FAULT_ACTIONS.join(", ")),
            )),
            _ => {
                let keys: Vec<&str> = actions.iter().map(|(k, _)| *k).collect();
                Err(self.bad(
                    "",
                    format!(
                        "expected one action per entry, found {} (split them into separate entries)",
                        keys.join(" and ")
                    ),
                ))
            }
        }
    }
}

fn unknown_node_message(name: &str, names: &[&str]) -> String {
    match suggest::closest(name, names.iter().copied()) {
        Some(best) => format!("no node \"{name}\" (did you mean \"{best}\"?)"),
        None => format!(
            "no node \"{name}\"; nodes are {}, or \"{ACTIVE_CONTROLLER_NAME}\"",
            names.join(", ")
        ),
    }
}

/// Kafka's topic name rule (`Topic.validate`): 1 to 249 characters of ASCII letters, digits,
/// '.', '_' and '-', and not "." or "..".
fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A given replica assignment: one list per partition, each of `rf` distinct, existing
/// brokers. Errors name the field below the topic (`.assignment[2]`) and what was wrong.
fn check_assignment(
    assignment: &[Vec<u32>],
    partitions: u32,
    rf: u32,
    brokers: u32,
) -> Result<(), (String, String)> {
    if assignment.len() != partitions as usize {
        return Err((
            ".assignment".into(),
            format!(
                "expected {partitions} replica lists (one per partition), found {}",
                assignment.len()
            ),
        ));
    }
    for (p, replicas) in assignment.iter().enumerate() {
        let field = format!(".assignment[{p}]");
        if replicas.len() != rf as usize {
            return Err((
                field,
                format!(
                    "expected {rf} replicas (the replication factor), found {}",
                    replicas.len()
                ),
            ));
        }
        for (r, b) in replicas.iter().enumerate() {
            if *b == 0 || *b > brokers {
                return Err((
                    field,
                    format!("broker {b} does not exist (brokers are 1..={brokers})"),
                ));
            }
            if replicas[..r].contains(b) {
                return Err((field, format!("broker {b} is listed twice")));
            }
        }
    }
    Ok(())
}

/// Kafka's rack-unaware placement (`StripedReplicaPlacer` without racks, simplified): partition
/// p's replicas are consecutive brokers starting at a per-topic offset, so preferred leaders
/// spread over the brokers. Brokers are numbered from 1.
fn round_robin_assignment(
    topic_index: usize,
    partitions: u32,
    rf: u32,
    brokers: u32,
) -> Vec<Vec<u32>> {
    (0..partitions)
        .map(|p| {
            (0..rf)
                .map(|r| {
                    ((topic_index as u64 + u64::from(p) + u64::from(r)) % u64::from(brokers)) as u32
                        + 1
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests;
