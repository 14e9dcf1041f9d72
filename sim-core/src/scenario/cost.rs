//! The resource model: what a scenario may ask for, and what a run of it will cost.
//!
//! Two kinds of bound keep a run from hanging or exhausting the machine (README, "Resource
//! limits"):
//!
//! - **Hard limits**, checked by `Scenario::validate` with the field named: the longest run,
//!   the most partition replicas per broker and per cluster, the most faults and notes. They
//!   are what one simulation is built for, whatever the machine.
//! - **Budgets**, checked by the CLI against [`Cost::of`]: an estimate of a run's peak memory
//!   and of its work in steps (one step is one event or one partition visited by a fetch or a
//!   periodic task), compared with `--memory-limit` and `--work-limit`.
//!
//! The estimate's constants were measured on the bundled scenarios and on synthetic clusters
//! of 300 to 100,000 partitions (README gives the figures); it is an upper-bound-leaning guide
//! for refusing a run up front, not an exact figure. The CLI also stops a run cleanly when its
//! resident memory passes the limit, in case the estimate was low.

use super::Scenario;

/// The longest run: 7 simulated days (Kafka's default `log.retention.hours` is 168).
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3_600 * 1_000;

/// The most partition replicas on one broker. Each follower fetch visits every partition it
/// follows from that leader, so a broker's fetch work grows with this count.
pub const MAX_REPLICAS_PER_BROKER: u64 = 10_000;

/// The most partition replicas in one cluster (about 2.5 KiB of memory each).
pub const MAX_PARTITION_REPLICAS: u64 = 100_000;

/// The most fault entries and the most narration notes in one scenario.
pub const MAX_FAULTS: usize = 100_000;
pub const MAX_NOTES: usize = 100_000;

/// The default work budget: 2·10⁹ steps, 15 to 30 minutes at the 0.4 to 1 µs per step measured
/// on a 2-core machine (README).
pub const DEFAULT_WORK_LIMIT: u64 = 2_000_000_000;

/// Measured costs (README, "Resource limits").
const BASE_BYTES: f64 = 32.0 * 1024.0 * 1024.0;
const BYTES_PER_PARTITION_REPLICA: f64 = 2_560.0;
/// A record costs log space on each replica and history in the checkers; with one record per
/// batch (the worst case) about 60 bytes per copy.
const BYTES_PER_RECORD_COPY: f64 = 60.0;
const BYTES_PER_PROCESS: f64 = 256.0 * 1024.0;
/// The network keeps a link per ordered pair of processes.
const BYTES_PER_LINK: f64 = 24.0;
/// Periodic per-replica work (HW checkpoints, ISR checks, metadata), in steps per second.
const STEPS_PER_REPLICA_SECOND: f64 = 6.0;
const EVENTS_PER_PROCESS_SECOND: f64 = 20.0;

/// What one run of a scenario is expected to need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// Peak memory, in bytes.
    pub memory_bytes: u64,
    /// Work, in steps.
    pub steps: u64,
    /// Events the engine will process (part of `steps`).
    pub events: u64,
    /// Records the producers send in the whole run.
    pub records: u64,
    /// Partition replicas in the cluster.
    pub partition_replicas: u64,
}

impl Cost {
    /// The estimate for a validated scenario.
    pub fn of(s: &Scenario) -> Cost {
        let secs = s.duration_ms as f64 / 1_000.0;
        let brokers = f64::from(s.cluster.brokers.max(1));
        let config = &s.cluster.config;
        let topic = |name: &str| s.cluster.topics.iter().find(|t| t.name == name);
        let partitions_of =
            |name: &str| topic(name).map_or(0.0, |t| f64::from(t.partitions.unwrap_or(1)));
        let rf_of =
            |name: &str| topic(name).map_or(1.0, |t| f64::from(t.replication_factor.unwrap_or(1)));

        let replicas: f64 = s
            .cluster
            .topics
            .iter()
            .map(|t| {
                f64::from(t.partitions.unwrap_or(1)) * f64::from(t.replication_factor.unwrap_or(1))
            })
            .sum();
        let follower_replicas: f64 = s
            .cluster
            .topics
            .iter()
            .map(|t| {
                f64::from(t.partitions.unwrap_or(1))
                    * f64::from(t.replication_factor.unwrap_or(1).saturating_sub(1))
            })
            .sum();
        let processes = s.members().len() as f64;

        // Records, their copies, and the rate at which they arrive.
        let mut records = 0.0;
        let mut copies = 0.0;
        let mut record_rate = 0.0;
        // A record is made, batched, produced, appended, fetched by each follower, answered.
        let mut record_events_per_s = 0.0;
        for p in &s.workload.producers {
            let stop = p.stop_ms.unwrap_or(s.duration_ms).min(s.duration_ms);
            let active = stop.saturating_sub(p.start_ms) as f64 / 1_000.0;
            let rate = f64::from(p.records_per_s) * f64::from(p.count);
            records += rate * active;
            copies += rate * active * (rf_of(&p.topic) + 1.0);
            record_rate += rate;
            record_events_per_s += rate * (4.0 + 2.0 * rf_of(&p.topic));
        }

        // A follower fetch returns when its leader has new data, or after
        // replica.fetch.wait.max.ms; it cannot come back faster than a round trip.
        let round_trip_s = 2.0 * s.network.latency.min_us() as f64 / 1e6;
        let cap = |hz: f64| {
            if round_trip_s > 0.0 {
                hz.min(1.0 / round_trip_s)
            } else {
                hz
            }
        };
        let idle_hz = 1_000.0 / config.replica_fetch_wait_max_ms.max(1) as f64;
        let fetch_hz = cap(idle_hz + record_rate / brokers);
        let mut visits_per_s = follower_replicas * fetch_hz;
        for c in &s.workload.consumers {
            let wait_hz = 1_000.0 / c.config.fetch_max_wait_ms.max(1) as f64;
            visits_per_s +=
                f64::from(c.count) * partitions_of(&c.topic) * cap(wait_hz + record_rate / brokers);
        }
        let events_per_s = record_events_per_s + processes * EVENTS_PER_PROCESS_SECOND;
        let events = secs * events_per_s + s.faults.len() as f64 * 1_000.0;
        let steps = events + secs * (visits_per_s + replicas * STEPS_PER_REPLICA_SECOND);

        let memory = BASE_BYTES
            + replicas * BYTES_PER_PARTITION_REPLICA
            + copies * BYTES_PER_RECORD_COPY
            + processes * BYTES_PER_PROCESS
            + processes * processes * BYTES_PER_LINK;
        Cost {
            memory_bytes: saturate(memory),
            steps: saturate(steps),
            events: saturate(events),
            records: saturate(records),
            partition_replicas: saturate(replicas),
        }
    }
}

fn saturate(x: f64) -> u64 {
    if x.is_finite() && x < u64::MAX as f64 {
        x.max(0.0) as u64
    } else {
        u64::MAX
    }
}

/// A byte count as people read it: `1.5 GiB`, `320 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(partitions: u32, records_per_s: u32, duration_ms: u64) -> Scenario {
        let text = format!(
            r#"{{"name": "c", "duration_ms": {duration_ms},
                "cluster": {{"brokers": 3, "topics": [{{"name": "t", "partitions": {partitions},
                                                      "replication_factor": 3}}]}},
                "workload": {{"producers": [{{"topic": "t", "records_per_s": {records_per_s}}}]}}}}"#
        );
        crate::scenario::parse(&text, "c.json").expect("valid")
    }

    #[test]
    fn the_estimate_grows_with_what_scales_a_run() {
        let base = Cost::of(&scenario(30, 100, 60_000));
        let longer = Cost::of(&scenario(30, 100, 600_000));
        let faster = Cost::of(&scenario(30, 10_000, 60_000));
        let wider = Cost::of(&scenario(3_000, 100, 60_000));
        assert_eq!(base.partition_replicas, 90);
        assert_eq!(base.records, 6_000);
        for (what, bigger) in [("longer", longer), ("faster", faster), ("wider", wider)] {
            assert!(bigger.steps > base.steps, "{what}: {bigger:?} vs {base:?}");
            assert!(
                bigger.memory_bytes > base.memory_bytes,
                "{what}: {bigger:?}"
            );
        }
    }

    #[test]
    fn the_largest_valid_run_is_estimated_without_overflow_and_far_past_the_budgets() {
        let s = scenario(3_333, 1_000_000, MAX_DURATION_MS);
        let c = Cost::of(&s);
        assert!(c.steps > DEFAULT_WORK_LIMIT, "{c:?}");
        assert!(c.memory_bytes > 1 << 40, "{c:?}");
        assert_eq!(c.records, 604_800_000_000);
    }

    #[test]
    fn a_lesson_sized_run_is_well_within_the_default_budgets() {
        // The size of the bundled lessons: 3 brokers, 3 partitions, 100 records/s, 60 s.
        let c = Cost::of(&scenario(3, 100, 60_000));
        assert!(c.steps < DEFAULT_WORK_LIMIT / 1_000, "{c:?}");
        assert!(c.memory_bytes < 256 << 20, "{c:?}");
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(300 << 20), "300 MiB");
        assert_eq!(human_bytes(u64::MAX), "16777216 TiB");
    }
}
