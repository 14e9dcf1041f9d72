//! Kafka configuration, by Kafka's own keys and with Kafka's own defaults
//! (kafka-protocol.md §2.10; the defaults are those of the cited Kafka source files).
//!
//! Each config struct deserializes from a JSON object of `"kafka.key": value` overrides, rejecting
//! unknown keys (with a suggestion) and values of the wrong type, and serializes back to the
//! complete, resolved object so `--print-resolved` shows every value in force.

mod cluster;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) use cluster::broker_id_of;
pub use cluster::{ClusterConfig, ConsumerPlan, ProducerPlan, TopicLayout};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

use crate::engine::SimDuration;
use crate::storage::PageCache;
use crate::suggest::closest;

/// A config value's JSON form.
pub trait ConfigValue: Sized {
    /// What a valid value looks like, for error messages.
    const EXPECTED: &'static str;
    fn from_json(v: &Value) -> Option<Self>;
    fn to_json(&self) -> Value;
    /// The JSON Schema of a valid value (what `from_json` accepts), for `kafkasim schema`.
    fn schema() -> Value;
}

/// Kafka's `LONG` keys (ConfigDef.Type.LONG, all `atLeast(0)` or more here): 0..=2^63-1.
impl ConfigValue for u64 {
    const EXPECTED: &'static str = "a whole number from 0 to 9223372036854775807 (a Kafka LONG)";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_u64().filter(|n| *n <= i64::MAX as u64)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn schema() -> Value {
        serde_json::json!({"type": "integer", "minimum": 0, "maximum": i64::MAX})
    }
}

/// Kafka's `INT` keys (ConfigDef.Type.INT): 0..=2^31-1.
impl ConfigValue for u32 {
    const EXPECTED: &'static str = "a whole number from 0 to 2147483647 (a Kafka INT)";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_u64()
            .filter(|n| *n <= i32::MAX as u64)
            .and_then(|n| u32::try_from(n).ok())
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn schema() -> Value {
        serde_json::json!({"type": "integer", "minimum": 0, "maximum": i32::MAX})
    }
}

impl ConfigValue for bool {
    const EXPECTED: &'static str = "true or false";
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            // Kafka's properties files spell booleans as strings.
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    fn schema() -> Value {
        serde_json::json!({"enum": [true, false, "true", "false"]})
    }
}

/// `acks`: how many replicas must have a write before the leader answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: fire and forget.
    None,
    /// `acks=1`: the leader alone.
    Leader,
    /// `acks=all` (`-1`): the whole ISR, and at least `min.insync.replicas`.
    All,
}

impl ConfigValue for Acks {
    const EXPECTED: &'static str = "0, 1, \"all\" or -1";
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => match n.as_i64()? {
                0 => Some(Acks::None),
                1 => Some(Acks::Leader),
                -1 => Some(Acks::All),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "0" => Some(Acks::None),
                "1" => Some(Acks::Leader),
                "all" | "-1" => Some(Acks::All),
                _ => None,
            },
            _ => None,
        }
    }
    fn to_json(&self) -> Value {
        match self {
            Acks::None => Value::from("0"),
            Acks::Leader => Value::from("1"),
            Acks::All => Value::from("all"),
        }
    }
    fn schema() -> Value {
        serde_json::json!({"enum": [0, 1, -1, "0", "1", "all", "-1"]})
    }
}

/// `auto.offset.reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    /// Raise an error (for the consumer, `LogTruncationException` on truncation, KIP-320).
    None,
}

impl ConfigValue for OffsetReset {
    const EXPECTED: &'static str = "\"earliest\", \"latest\" or \"none\"";
    fn from_json(v: &Value) -> Option<Self> {
        match v.as_str()? {
            "earliest" => Some(OffsetReset::Earliest),
            "latest" => Some(OffsetReset::Latest),
            "none" => Some(OffsetReset::None),
            _ => None,
        }
    }
    fn to_json(&self) -> Value {
        Value::from(match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::None => "none",
        })
    }
    fn schema() -> Value {
        serde_json::json!({"enum": ["earliest", "latest", "none"]})
    }
}

/// Why a key could not be set.
#[derive(Debug, PartialEq)]
pub enum SetError {
    UnknownKey,
    BadValue { expected: &'static str },
}

macro_rules! kafka_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $key:literal, $default:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $name {
            /// Every key this struct understands, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Sets one key from its JSON value.
            pub fn set(&mut self, key: &str, value: &Value) -> Result<(), SetError> {
                match key {
                    $( $key => {
                        self.$field = <$ty as ConfigValue>::from_json(value)
                            .ok_or(SetError::BadValue { expected: <$ty as ConfigValue>::EXPECTED })?;
                        Ok(())
                    } )*
                    _ => Err(SetError::UnknownKey),
                }
            }

            /// Every key with its value in force.
            pub(crate) fn to_map(&self) -> Map<String, Value> {
                let mut map = Map::new();
                $( map.insert($key.to_string(), ConfigValue::to_json(&self.$field)); )*
                map
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.to_map().serialize(s)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            /// Every key, with its Kafka type's range, its default and its description.
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let defaults = $name::default();
                let mut properties = Map::new();
                $(
                    let mut key = <$ty as ConfigValue>::schema();
                    key["default"] = ConfigValue::to_json(&defaults.$field);
                    let doc: Vec<&str> = [$($doc),*].iter().map(|l| l.trim()).collect();
                    key["description"] = Value::from(doc.join(" "));
                    properties.insert($key.to_string(), key);
                )*
                for key in $name::INT_KEYS {
                    properties[*key]["maximum"] = Value::from(i32::MAX);
                }
                config_schema(properties)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let overrides = Map::<String, Value>::deserialize(d)?;
                let mut config = $name::default();
                for (key, value) in &overrides {
                    config.set(key, value).map_err(|e| D::Error::custom(describe(key, value, e, $name::KEYS)))?;
                }
                for key in $name::INT_KEYS {
                    let value = config.to_map()[*key].as_u64().unwrap_or_default();
                    kafka_int(key, value).map_err(D::Error::custom)?;
                }
                config.validate(&overrides).map_err(D::Error::custom)?;
                Ok(config)
            }
        }
    };
}

/// A config object's schema: the known keys, no others (kafkasim refuses unknown keys).
fn config_schema(properties: Map<String, Value>) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false
    })
}

fn describe(key: &str, value: &Value, error: SetError, keys: &[&str]) -> String {
    match error {
        SetError::UnknownKey => match closest(key, keys.iter().copied()) {
            Some(best) => format!("unknown config key \"{key}\" (did you mean \"{best}\"?)"),
            None => format!(
                "unknown config key \"{key}\"; known keys: {}",
                keys.join(", ")
            ),
        },
        SetError::BadValue { expected } => format!("\"{key}\": expected {expected}, found {value}"),
    }
}

/// A Kafka `INT` key held as a `u64` (milliseconds) here (each config's `INT_KEYS`):
/// ConfigDef refuses a value that does not fit a Java `int` ("Not a number of type INT").
fn kafka_int(key: &str, value: u64) -> Result<(), String> {
    if value > i32::MAX as u64 {
        Err(format!(
            "\"{key}\": expected a whole number from 0 to {} (a Kafka INT), found {value}",
            i32::MAX
        ))
    } else {
        Ok(())
    }
}

fn at_least(key: &str, value: u64, min: u64) -> Result<(), String> {
    if value < min {
        Err(format!("\"{key}\" must be at least {min}, found {value}"))
    } else {
        Ok(())
    }
}

kafka_config! {
    /// Cluster-wide broker and controller configuration (`server.properties`).
    pub struct BrokerConfig {
        /// KRaft election timeout base T; the timeout is drawn in [T, 2T) (QuorumConfig).
        controller_quorum_election_timeout_ms: u64 = "controller.quorum.election.timeout.ms", 1_000;
        /// A voter that has not fetched from the leader this long starts an election (QuorumConfig).
        controller_quorum_fetch_timeout_ms: u64 = "controller.quorum.fetch.timeout.ms", 2_000;
        /// Cap of the binary-exponential election backoff (QuorumConfig).
        controller_quorum_election_backoff_max_ms: u64 = "controller.quorum.election.backoff.max.ms", 1_000;
        /// KRaft request timeout (QuorumConfig).
        controller_quorum_request_timeout_ms: u64 = "controller.quorum.request.timeout.ms", 2_000;
        /// KRaft retry backoff (QuorumConfig).
        controller_quorum_retry_backoff_ms: u64 = "controller.quorum.retry.backoff.ms", 20;
        /// How long the KRaft leader batches appends (QuorumConfig).
        controller_quorum_append_linger_ms: u64 = "controller.quorum.append.linger.ms", 25;
        /// Broker heartbeat period to the active controller (KRaftConfigs).
        broker_heartbeat_interval_ms: u64 = "broker.heartbeat.interval.ms", 2_000;
        /// A broker with no heartbeat this long is fenced (KRaftConfigs).
        broker_session_timeout_ms: u64 = "broker.session.timeout.ms", 9_000;
        /// How long a starting broker keeps trying to register (KRaftConfigs).
        initial_broker_registration_timeout_ms: u64 = "initial.broker.registration.timeout.ms", 60_000;
        /// The active controller writes a NoOpRecord this often (KRaftConfigs).
        metadata_max_idle_interval_ms: u64 = "metadata.max.idle.interval.ms", 500;
        /// A follower behind for longer leaves the ISR; checked every half of it (ReplicationConfigs).
        replica_lag_time_max_ms: u64 = "replica.lag.time.max.ms", 30_000;
        /// Longest a follower fetch waits at the leader for data (ReplicationConfigs).
        replica_fetch_wait_max_ms: u64 = "replica.fetch.wait.max.ms", 500;
        /// Pause after a failed follower fetch (ReplicationConfigs).
        replica_fetch_backoff_ms: u64 = "replica.fetch.backoff.ms", 1_000;
        /// The HW checkpoint file is written this often (ReplicationConfigs).
        replica_high_watermark_checkpoint_interval_ms: u64 = "replica.high.watermark.checkpoint.interval.ms", 5_000;
        /// Default for topics: fewest in-sync replicas for an acks=all write (ServerLogConfigs).
        min_insync_replicas: u32 = "min.insync.replicas", 1;
        /// Default for topics: whether an out-of-sync replica may become leader (LogConfig).
        unclean_leader_election_enable: bool = "unclean.leader.election.enable", false;
        /// How often the active controller tries unclean elections for leaderless partitions
        /// of topics that allow them (ReplicationConfigs, internal; the "electUnclean" task).
        unclean_leader_election_interval_ms: u64 = "unclean.leader.election.interval.ms", 300_000;
        /// The active controller moves leadership back to each partition's preferred replica
        /// (ReplicationConfigs; the "electPreferred" task).
        auto_leader_rebalance_enable: bool = "auto.leader.rebalance.enable", true;
        /// How often leader balancing runs, from the controller's activation (ReplicationConfigs).
        leader_imbalance_check_interval_seconds: u64 = "leader.imbalance.check.interval.seconds", 300;
        /// Brokers move their leaderships away before stopping (ServerConfigs).
        controlled_shutdown_enable: bool = "controlled.shutdown.enable", true;
        /// Default for topics: fsync after this many messages; Long.MAX_VALUE means never
        /// (ServerLogConfigs): Kafka relies on replication, not fsync.
        log_flush_interval_messages: u64 = "log.flush.interval.messages", i64::MAX as u64;
        /// The host's page cache (Linux): a file dirty this long is written back at the flusher's
        /// next wake-up, so a power loss loses only newer writes.
        vm_dirty_expire_centisecs: u64 = "vm.dirty_expire_centisecs", 3_000;
        /// The host's page cache (Linux): how often the flusher wakes; 0 turns periodic
        /// write-back off (only an fsync or a clean shutdown makes partition data durable).
        vm_dirty_writeback_centisecs: u64 = "vm.dirty_writeback_centisecs", 500;
        /// Replication factor of topics that do not set one (ReplicationConfigs).
        default_replication_factor: u32 = "default.replication.factor", 1;
        /// Partition count of topics that do not set one (ServerLogConfigs).
        num_partitions: u32 = "num.partitions", 1;
    }
}

impl BrokerConfig {
    /// Keys held as `u64` that QuorumConfig, KRaftConfigs and ReplicationConfigs define as INT
    /// (and the `vm.*` keys, which Linux's sysctl keeps in an int).
    const INT_KEYS: &'static [&'static str] = &[
        "controller.quorum.election.timeout.ms",
        "controller.quorum.fetch.timeout.ms",
        "controller.quorum.election.backoff.max.ms",
        "controller.quorum.request.timeout.ms",
        "controller.quorum.retry.backoff.ms",
        "controller.quorum.append.linger.ms",
        "broker.heartbeat.interval.ms",
        "broker.session.timeout.ms",
        "initial.broker.registration.timeout.ms",
        "metadata.max.idle.interval.ms",
        "replica.fetch.wait.max.ms",
        "replica.fetch.backoff.ms",
        "vm.dirty_expire_centisecs",
        "vm.dirty_writeback_centisecs",
    ];

    /// The page-cache write-back the `vm.dirty_*` keys describe.
    pub(crate) fn page_cache(&self) -> PageCache {
        let centis = |c: u64| SimDuration::from_millis(c.saturating_mul(10));
        PageCache {
            dirty_expire: centis(self.vm_dirty_expire_centisecs),
            writeback_interval: (self.vm_dirty_writeback_centisecs > 0)
                .then(|| centis(self.vm_dirty_writeback_centisecs)),
        }
    }

    /// Checks the values; `_set` holds the keys the scenario set.
    fn validate(&mut self, _set: &Map<String, Value>) -> Result<(), String> {
        for (key, value) in [
            (
                "controller.quorum.election.timeout.ms",
                self.controller_quorum_election_timeout_ms,
            ),
            (
                "controller.quorum.fetch.timeout.ms",
                self.controller_quorum_fetch_timeout_ms,
            ),
            (
                "controller.quorum.request.timeout.ms",
                self.controller_quorum_request_timeout_ms,
            ),
            (
                "broker.heartbeat.interval.ms",
                self.broker_heartbeat_interval_ms,
            ),
            ("broker.session.timeout.ms", self.broker_session_timeout_ms),
            (
                "metadata.max.idle.interval.ms",
                self.metadata_max_idle_interval_ms,
            ),
            ("replica.lag.time.max.ms", self.replica_lag_time_max_ms),
            (
                "replica.high.watermark.checkpoint.interval.ms",
                self.replica_high_watermark_checkpoint_interval_ms,
            ),
            ("min.insync.replicas", u64::from(self.min_insync_replicas)),
            (
                "log.flush.interval.messages",
                self.log_flush_interval_messages,
            ),
            (
                "default.replication.factor",
                u64::from(self.default_replication_factor),
            ),
            ("num.partitions", u64::from(self.num_partitions)),
            // ReplicationConfigs: both `atLeast(1)`.
            (
                "leader.imbalance.check.interval.seconds",
                self.leader_imbalance_check_interval_seconds,
            ),
            (
                "unclean.leader.election.interval.ms",
                self.unclean_leader_election_interval_ms,
            ),
        ] {
            at_least(key, value, 1)?;
        }
        if self.broker_heartbeat_interval_ms >= self.broker_session_timeout_ms {
            return Err(format!(
                "\"broker.heartbeat.interval.ms\" ({}) must be less than \"broker.session.timeout.ms\" ({})",
                self.broker_heartbeat_interval_ms, self.broker_session_timeout_ms
            ));
        }
        Ok(())
    }
}

/// Topic-level overrides. Unset keys take the broker default; after resolution every key is set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicConfig {
    pub min_insync_replicas: Option<u32>,
    pub unclean_leader_election_enable: Option<bool>,
    /// Topic name of `log.flush.interval.messages`.
    pub flush_messages: Option<u64>,
}

impl TopicConfig {
    pub const KEYS: &'static [&'static str] = &[
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "flush.messages",
    ];

    /// Fills unset keys from the broker defaults.
    pub fn resolve(&mut self, broker: &BrokerConfig) {
        self.min_insync_replicas
            .get_or_insert(broker.min_insync_replicas);
        self.unclean_leader_election_enable
            .get_or_insert(broker.unclean_leader_election_enable);
        self.flush_messages
            .get_or_insert(broker.log_flush_interval_messages);
    }

    fn set(&mut self, key: &str, value: &Value) -> Result<(), SetError> {
        fn parse<T: ConfigValue>(v: &Value) -> Result<Option<T>, SetError> {
            T::from_json(v).map(Some).ok_or(SetError::BadValue {
                expected: T::EXPECTED,
            })
        }
        match key {
            "min.insync.replicas" => self.min_insync_replicas = parse(value)?,
            "unclean.leader.election.enable" => self.unclean_leader_election_enable = parse(value)?,
            "flush.messages" => self.flush_messages = parse(value)?,
            _ => return Err(SetError::UnknownKey),
        }
        Ok(())
    }
}

impl schemars::JsonSchema for TopicConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TopicConfig".into()
    }

    /// Topic-level overrides; unset keys take the broker's value.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = Map::new();
        for (key, schema, doc) in [
            (
                "min.insync.replicas",
                u32::schema(),
                "Fewest in-sync replicas for an acks=all write (default: the broker's).",
            ),
            (
                "unclean.leader.election.enable",
                bool::schema(),
                "Whether an out-of-sync replica may become leader (default: the broker's).",
            ),
            (
                "flush.messages",
                u64::schema(),
                "fsync after this many messages (default: log.flush.interval.messages).",
            ),
        ] {
            let mut schema = schema;
            schema["description"] = Value::from(doc);
            properties.insert(key.to_string(), schema);
        }
        properties["min.insync.replicas"]["minimum"] = Value::from(1);
        config_schema(properties)
    }
}

impl Serialize for TopicConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        if let Some(v) = self.min_insync_replicas {
            map.insert("min.insync.replicas".into(), v.to_json());
        }
        if let Some(v) = self.unclean_leader_election_enable {
            map.insert("unclean.leader.election.enable".into(), v.to_json());
        }
        if let Some(v) = self.flush_messages {
            map.insert("flush.messages".into(), v.to_json());
        }
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TopicConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let overrides = Map::<String, Value>::deserialize(d)?;
        let mut config = TopicConfig::default();
        for (key, value) in &overrides {
            let hint = if key == "log.flush.interval.messages" {
                Some("\"log.flush.interval.messages\" is the broker key; the topic key is \"flush.messages\"".to_string())
            } else {
                None
            };
            config.set(key, value).map_err(|e| {
                D::Error::custom(
                    hint.clone()
                        .unwrap_or_else(|| describe(key, value, e, TopicConfig::KEYS)),
                )
            })?;
        }
        if config.min_insync_replicas == Some(0) {
            return Err(D::Error::custom(
                "\"min.insync.replicas\" must be at least 1, found 0",
            ));
        }
        Ok(config)
    }
}

kafka_config! {
    /// Producer configuration (ProducerConfig).
    pub struct ProducerConfig {
        /// Replicas that must have a write before it is acknowledged.
        acks: Acks = "acks", Acks::All;
        /// Producer id and sequence numbers, so retries are not duplicated.
        enable_idempotence: bool = "enable.idempotence", true;
        /// How long a batch waits for more records (5 ms since Kafka 4.0, KIP-1030).
        linger_ms: u64 = "linger.ms", 5;
        /// How long to wait for one produce response.
        request_timeout_ms: u64 = "request.timeout.ms", 30_000;
        /// Upper bound on a record's time from send to success or failure, retries included.
        delivery_timeout_ms: u64 = "delivery.timeout.ms", 120_000;
        /// Pause before retrying a failed request.
        retry_backoff_ms: u64 = "retry.backoff.ms", 100;
        /// Retries of a failed produce (Integer.MAX_VALUE: bounded by delivery.timeout.ms).
        retries: u32 = "retries", i32::MAX as u32;
        /// Unacknowledged requests per broker connection.
        max_in_flight_requests_per_connection: u32 = "max.in.flight.requests.per.connection", 5;
    }
}

impl ProducerConfig {
    /// Keys held as `u64` that ProducerConfig defines as INT.
    const INT_KEYS: &'static [&'static str] = &["request.timeout.ms", "delivery.timeout.ms"];

    /// Checks the values; `set` holds the keys the scenario set.
    fn validate(&mut self, set: &Map<String, Value>) -> Result<(), String> {
        at_least("request.timeout.ms", self.request_timeout_ms, 1)?;
        at_least(
            "max.in.flight.requests.per.connection",
            u64::from(self.max_in_flight_requests_per_connection),
            1,
        )?;
        // KafkaProducer.configureDeliveryTimeout rejects this combination at startup, with
        // linger.ms and the sum each capped at Integer.MAX_VALUE.
        let linger_and_request = self
            .effective_linger_ms()
            .saturating_add(self.request_timeout_ms)
            .min(i32::MAX as u64);
        if self.delivery_timeout_ms < linger_and_request {
            if !set.contains_key("delivery.timeout.ms") {
                // Left at its default, it is raised to the sum (with a warning in Kafka's log).
                self.delivery_timeout_ms = linger_and_request;
                return self.validate(set);
            }
            return Err(format!(
                "\"delivery.timeout.ms\" ({}) must be at least \"linger.ms\" + \"request.timeout.ms\" ({linger_and_request})",
                self.delivery_timeout_ms,
            ));
        }
        if self.enable_idempotence && self.acks != Acks::All {
            return Err("\"enable.idempotence\" requires \"acks\": \"all\" (set \"enable.idempotence\": false to use acks 0 or 1)".into());
        }
        Ok(())
    }
}

impl ProducerConfig {
    /// `linger.ms` as the producer uses it: KafkaProducer.lingerMs caps the LONG key at
    /// Integer.MAX_VALUE.
    pub fn effective_linger_ms(&self) -> u64 {
        self.linger_ms.min(i32::MAX as u64)
    }
}

kafka_config! {
    /// Consumer configuration (ConsumerConfig).
    pub struct ConsumerConfig {
        /// Where to start with no committed offset, and what to do on truncation (KIP-320).
        auto_offset_reset: OffsetReset = "auto.offset.reset", OffsetReset::Latest;
        /// Longest a fetch waits at the broker for data.
        fetch_max_wait_ms: u64 = "fetch.max.wait.ms", 500;
        /// How long to wait for one fetch response.
        request_timeout_ms: u64 = "request.timeout.ms", 30_000;
        /// Pause before retrying a failed request.
        retry_backoff_ms: u64 = "retry.backoff.ms", 100;
    }
}

impl ConsumerConfig {
    /// Keys held as `u64` that ConsumerConfig defines as INT.
    const INT_KEYS: &'static [&'static str] = &["fetch.max.wait.ms", "request.timeout.ms"];

    /// Checks the values; `_set` holds the keys the scenario set.
    fn validate(&mut self, _set: &Map<String, Value>) -> Result<(), String> {
        at_least("request.timeout.ms", self.request_timeout_ms, 1)
    }
}

impl Serialize for Acks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Acks {
    /// Reads what [`Serialize`] writes (and every spelling a scenario may use).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Acks::from_json(&v).ok_or_else(|| {
            D::Error::custom(format!("acks: expected {}, found {v}", Acks::EXPECTED))
        })
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_kafkas() {
        let c = BrokerConfig::default();
        assert_eq!(c.broker_session_timeout_ms, 9_000);
        assert_eq!(c.replica_lag_time_max_ms, 30_000);
        assert!(!c.unclean_leader_election_enable);
        assert_eq!(ProducerConfig::default().acks, Acks::All);
    }

    #[test]
    fn overrides_by_kafka_key_and_resolves_to_every_key() {
        let c: BrokerConfig = serde_json::from_value(json!({"min.insync.replicas": 2})).unwrap();
        assert_eq!(c.min_insync_replicas, 2);
        let resolved = serde_json::to_value(&c).unwrap();
        assert_eq!(resolved["min.insync.replicas"], json!(2));
        assert_eq!(resolved["broker.session.timeout.ms"], json!(9000));
        assert_eq!(
            resolved.as_object().unwrap().len(),
            BrokerConfig::KEYS.len()
        );
    }

    #[test]
    fn rejects_misspelt_keys_and_wrong_types_clearly() {
        let e =
            serde_json::from_value::<BrokerConfig>(json!({"min.insync.replica": 2})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown config key \"min.insync.replica\" (did you mean \"min.insync.replicas\"?)"
        );
        let e = serde_json::from_value::<BrokerConfig>(json!({"min.insync.replicas": "two"}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"min.insync.replicas\": expected a whole number from 0 to 2147483647 (a Kafka INT), found \"two\""
        );
        let e = serde_json::from_value::<ProducerConfig>(json!({"acks": 1})).unwrap_err();
        assert!(e.to_string().contains("requires \"acks\": \"all\""), "{e}");
    }

    #[test]
    fn every_int_key_is_a_key_of_its_config() {
        for (keys, int_keys) in [
            (BrokerConfig::KEYS, BrokerConfig::INT_KEYS),
            (ProducerConfig::KEYS, ProducerConfig::INT_KEYS),
            (ConsumerConfig::KEYS, ConsumerConfig::INT_KEYS),
        ] {
            for key in int_keys {
                assert!(keys.contains(key), "{key}");
            }
        }
    }

    #[test]
    fn numbers_past_kafkas_int_and_long_are_refused_not_wrapped() {
        // request.timeout.ms is an INT, linger.ms a LONG (ProducerConfig).
        let e = serde_json::from_value::<ProducerConfig>(
            json!({"request.timeout.ms": 2_147_483_648u64}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("a Kafka INT"), "{e}");
        let e =
            serde_json::from_value::<ProducerConfig>(json!({"linger.ms": u64::MAX})).unwrap_err();
        assert!(e.to_string().contains("a Kafka LONG"), "{e}");
        let e = serde_json::from_value::<BrokerConfig>(
            json!({"broker.session.timeout.ms": 1u64 << 40}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("broker.session.timeout.ms"), "{e}");
    }

    #[test]
    fn delivery_timeout_follows_kafkas_producer_startup_rule() {
        // KafkaProducer.configureDeliveryTimeout: linger.ms is capped at Integer.MAX_VALUE, the
        // sum with request.timeout.ms too; a default delivery.timeout.ms below the sum is raised
        // to it, an explicit one is refused.
        let c: ProducerConfig =
            serde_json::from_value(json!({"linger.ms": i64::MAX})).expect("a valid LONG");
        assert_eq!(c.effective_linger_ms(), i32::MAX as u64);
        assert_eq!(c.delivery_timeout_ms, i32::MAX as u64);
        let c: ProducerConfig = serde_json::from_value(json!({"linger.ms": 200_000})).unwrap();
        assert_eq!(c.delivery_timeout_ms, 230_000);
        let e = serde_json::from_value::<ProducerConfig>(
            json!({"linger.ms": 200_000, "delivery.timeout.ms": 120_000}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("(230000)"), "{e}");
    }

    #[test]
    fn topic_keys_inherit_broker_defaults() {
        let mut t: TopicConfig = serde_json::from_value(json!({"min.insync.replicas": 2})).unwrap();
        let broker = BrokerConfig {
            unclean_leader_election_enable: true,
            ..BrokerConfig::default()
        };
        t.resolve(&broker);
        assert_eq!(t.min_insync_replicas, Some(2));
        assert_eq!(t.unclean_leader_election_enable, Some(true));
    }
}
