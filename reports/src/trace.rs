//! Reading a trace (`trace.jsonl`): one JSON object per line, the format `sim-core` writes.
//!
//! Lines are read into the same types the simulator writes them from
//! ([`sim_core::trace::Record`], with the protocol's [`Event`]), serde both ways: a field the
//! simulator renames cannot be silently read as zero here, and a line this build does not know
//! is an error naming the line. Each partition's committed history is folded once, while
//! reading ([`PartitionHistory`]), and every report (timeline, narration, HTML) reads that fold.

use crate::cursor::{Cursor, Frames};
use serde::Serialize;
use sim_core::engine::NodeId;
use sim_core::kraft::TopicPartition;
use sim_core::kraft::history::{BrokerHistory, LeadershipChange, PartitionHistory};
use sim_core::proto::{Event, SendOp};
use sim_core::trace::Record;
use std::fmt;

/// A trace line's body, owned, with Kafka's protocol events.
pub type Body = sim_core::trace::Body<'static, Event>;

/// One trace line.
#[derive(Clone, Debug)]
pub struct Line {
    pub t_us: u64,
    pub body: Body,
    /// For a committed partition change told for the first time: what it changed. `None` for
    /// every other line, and for a new active controller's replay of a change already told.
    pub change: Option<LeadershipChange>,
    /// A new active controller's replay of a broker registration record already told
    /// ([`BrokerHistory`]): no report takes it as a change, and only `--verbose` narration
    /// keeps the line.
    pub replayed: bool,
}

/// The folds of the committed metadata that every report reads, filled once while reading.
#[derive(Default)]
struct Folds {
    partitions: PartitionHistory,
    brokers: BrokerHistory,
}

impl Line {
    /// A `node` line's protocol event.
    pub fn event(&self) -> Option<&Event> {
        match &self.body {
            Body::Node { event, .. } => Some(event),
            _ => None,
        }
    }

    /// Whether reports other than `--verbose` narration use this line.
    fn matters(&self) -> bool {
        match &self.body {
            Body::Deliver { .. } | Body::Lost { .. } | Body::Disconnect { .. } => false,
            Body::Network { .. } => false,
            Body::Node { event, .. } => match event.as_ref() {
                Event::Poll { .. } => false,
                Event::Send { op, .. } => *op != SendOp::Invoke,
                _ => true,
            },
            _ => true,
        }
    }

    /// The node id a line is about.
    pub fn node(&self) -> Option<usize> {
        self.body.node().map(NodeId::index)
    }
}

/// A violation the checkers found, as the trace's closing lines state it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceViolation {
    pub t_us: u64,
    pub invariant: String,
    pub nodes: Vec<String>,
    pub explanation: String,
}

/// Acknowledged writes lost outside Kafka's durability promise (the trace's `loss` lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLoss {
    pub t_us: u64,
    pub partition: String,
    pub records: u64,
    pub nodes: Vec<String>,
    pub explanation: String,
}

/// A whole trace.
#[derive(Clone, Debug)]
pub struct Trace {
    pub seed: u64,
    /// Node names by node id.
    pub nodes: Vec<String>,
    /// Topic names by topic id.
    pub topics: Vec<String>,
    /// Every line but the start, the violations and the end, in time order.
    pub lines: Vec<Line>,
    pub violations: Vec<TraceViolation>,
    pub losses: Vec<TraceLoss>,
    /// When the run ended (the last line's time when the trace has no end line).
    pub end_us: u64,
    /// Why it ended (`time_limit`, ...), when the trace says.
    pub end_reason: Option<String>,
    /// The cluster at any moment, for the HTML report's time cursor.
    pub frames: Frames,
}

/// Why a trace could not be read: the line (1-based) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TraceError {}

impl Trace {
    /// Parses a trace, every line kept (what `explain --verbose` shows). The first line must
    /// be the `start` line.
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        Trace::parse_lines(text, true)
    }

    /// Parses a trace keeping only the lines the plot, the HTML and JSON reports and the
    /// narration use: a consumer's polls, a producer's send invocations and message-level
    /// lines are checked and dropped (they are most of a trace, and are only ever listed).
    pub fn parse_for_reports(text: &str) -> Result<Trace, TraceError> {
        Trace::parse_lines(text, false)
    }

    fn parse_lines(text: &str, keep_all: bool) -> Result<Trace, TraceError> {
        Trace::read(text.as_bytes(), keep_all, &mut || false)
    }

    /// Reads a trace for reports from `reader` a line at a time (a trace file is never held
    /// whole), asking `over_limit` every 65,536 lines whether to stop: how the caller bounds
    /// the memory the kept lines take. A line longer than [`MAX_LINE_BYTES`] is an error.
    pub fn read_for_reports(
        reader: impl std::io::BufRead,
        over_limit: &mut dyn FnMut() -> bool,
    ) -> Result<Trace, TraceError> {
        Trace::read(reader, false, over_limit)
    }

    fn read(
        mut reader: impl std::io::BufRead,
        keep_all: bool,
        over_limit: &mut dyn FnMut() -> bool,
    ) -> Result<Trace, TraceError> {
        use std::io::{BufRead, Read};
        let mut trace: Option<Trace> = None;
        let mut cursor: Option<Cursor> = None;
        let mut folds = Folds::default();
        let mut raw = String::new();
        let mut last_t_us = 0;
        for n in 1.. {
            raw.clear();
            let read = reader
                .by_ref()
                .take(MAX_LINE_BYTES + 1)
                .read_line(&mut raw)
                .map_err(|e| TraceError {
                    line: n,
                    message: format!("cannot read: {e}"),
                })?;
            if read == 0 {
                break;
            }
            if raw.len() as u64 > MAX_LINE_BYTES {
                return Err(TraceError {
                    line: n,
                    message: format!(
                        "longer than {} MiB: not a trace line kafkasim writes",
                        MAX_LINE_BYTES >> 20
                    ),
                });
            }
            if n % 65_536 == 0 && over_limit() {
                return Err(TraceError {
                    line: n,
                    message: "stopped reading: resident memory passed the limit (raise it with \
                              --memory-limit)"
                        .into(),
                });
            }
            if raw.trim().is_empty() {
                continue;
            }
            let record = read_line(raw.trim_end_matches(['\n', '\r']), n)?;
            let (Some(trace), Some(cursor)) = (trace.as_mut(), cursor.as_mut()) else {
                let started = Trace::started(record, n)?;
                cursor = Some(Cursor::new(&started.nodes, &started.topics));
                trace = Some(started);
                continue;
            };
            trace.check(&record, &mut last_t_us, n)?;
            trace.take(record, keep_all, &mut folds, cursor);
        }
        let mut trace = trace.ok_or_else(|| TraceError {
            line: 1,
            message: "the trace is empty".into(),
        })?;
        if let Some(cursor) = cursor {
            trace.frames = cursor.finish(trace.end_us);
        }
        trace.violations.sort_by_key(|v| v.t_us);
        trace.losses.sort_by_key(|l| l.t_us);
        Ok(trace)
    }

    /// A trace from its first line, which must be the `start` line.
    fn started(record: Record<Event>, n: usize) -> Result<Trace, TraceError> {
        let Body::Start {
            seed,
            nodes,
            topics,
        } = record.body
        else {
            return Err(TraceError {
                line: n,
                message: format!(
                    "expected the \"start\" line first, found type {:?}: is this a kafkasim \
                     trace.jsonl?",
                    record.body.kind()
                ),
            });
        };
        Ok(Trace {
            seed,
            nodes: nodes.into_owned(),
            topics: topics.into_owned(),
            lines: Vec::new(),
            violations: Vec::new(),
            losses: Vec::new(),
            end_us: 0,
            end_reason: None,
            frames: Frames::default(),
        })
    }

    /// What every line after the start must be: in time order (but for the closing
    /// violation and loss lines, which carry the times they happened) and about nodes the
    /// start line lists.
    fn check(
        &self,
        record: &Record<Event>,
        last_t_us: &mut u64,
        n: usize,
    ) -> Result<(), TraceError> {
        let bad = |message: String| Err(TraceError { line: n, message });
        if !matches!(record.body, Body::Violation { .. } | Body::Loss { .. }) {
            if record.t_us < *last_t_us {
                return bad(format!(
                    "time goes backwards: t_us {} after {}",
                    record.t_us, last_t_us
                ));
            }
            *last_t_us = record.t_us;
        }
        if let Some(node) = record.body.node()
            && node.index() >= self.nodes.len()
        {
            return bad(format!(
                "node {} is not one of the {} nodes the start line lists",
                node.index(),
                self.nodes.len()
            ));
        }
        Ok(())
    }

    /// Takes one line after the start line.
    fn take(
        &mut self,
        record: Record<Event>,
        keep_all: bool,
        folds: &mut Folds,
        cursor: &mut Cursor,
    ) {
        let t_us = record.t_us;
        self.end_us = self.end_us.max(t_us);
        match record.body {
            Body::Violation {
                invariant,
                nodes,
                explanation,
            } => self.violations.push(TraceViolation {
                t_us,
                invariant: invariant.into_owned(),
                nodes: nodes.into_owned(),
                explanation: explanation.into_owned(),
            }),
            Body::Loss {
                partition,
                records,
                nodes,
                explanation,
            } => self.losses.push(TraceLoss {
                t_us,
                partition: partition.into_owned(),
                records,
                nodes: nodes.into_owned(),
                explanation: explanation.into_owned(),
            }),
            Body::End { reason } => self.end_reason = Some(reason.into_owned()),
            body => {
                let (change, replayed) = match &body {
                    Body::Node { event, .. } => (
                        folds.partitions.apply(event),
                        folds.brokers.apply(event) == Some(false),
                    ),
                    _ => (None, false),
                };
                if !replayed {
                    cursor.see(t_us, &body, change.as_ref());
                }
                let line = Line {
                    t_us,
                    body,
                    change,
                    replayed,
                };
                if keep_all || (line.matters() && !replayed) {
                    self.lines.push(line);
                }
            }
        }
    }

    /// A node's name (`node-N` for an id the start line does not list).
    pub fn node_name(&self, id: usize) -> String {
        self.nodes
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("node-{id}"))
    }

    /// The name of the node a line is about.
    pub fn line_node(&self, line: &Line) -> String {
        line.node().map_or_else(String::new, |n| self.node_name(n))
    }

    /// A topic-partition's name (`orders-0`).
    pub fn tp_name(&self, tp: TopicPartition) -> String {
        let topic = tp.topic as usize;
        let name = self
            .topics
            .get(topic)
            .cloned()
            .unwrap_or_else(|| format!("topic{topic}"));
        format!("{name}-{}", tp.partition)
    }

    /// Whether `name` is a controller (by the names kafkasim gives its nodes).
    pub fn is_controller(name: &str) -> bool {
        name.starts_with("controller-")
    }

    /// Whether `name` is a broker.
    pub fn is_broker(name: &str) -> bool {
        name.starts_with("broker-")
    }
}

/// What the coverage-guided fuzz target (`fuzz/fuzz_targets/trace.rs`) and its corpus replay
/// (`tests/fuzz_corpus.rs`) do with arbitrary bytes: read them as a trace, both ways; a trace
/// that is accepted must build the reports' model, its narration and its SVG timeline. Panics
/// (the finding) if any of that does.
pub fn exercise(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Trace::parse(text);
    }
    let Ok(trace) = Trace::read_for_reports(data, &mut || false) else {
        return;
    };
    let model = crate::model::build(&trace);
    let _ = crate::narrate::narrate(&trace, &crate::narrate::NarrateOptions::default());
    let _ = crate::plot::svg(
        &model,
        &trace.violations,
        &crate::plot::PlotOptions::default(),
    );
}

/// The longest trace line read (the longest kafkasim writes is a few KiB).
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// One line read into the simulator's own record type.
fn read_line(raw: &str, n: usize) -> Result<Record<Event>, TraceError> {
    serde_json::from_str(raw).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "not JSON"
        } else {
            "not a trace line this kafkasim writes (a trace from another version?)"
        };
        TraceError {
            line: n,
            message: format!("{what}: {e}"),
        }
    })
}

/// The name the trace gives a value of one of the protocol's enums (`session_expired`,
/// `not_leader_or_follower`), for telling it in prose.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A broker's node name from its broker id.
pub fn broker_name(id: u32) -> String {
    format!("broker-{id}")
}

/// Broker ids as a Kafka-style list: `[1,2,3]`.
pub fn id_list(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("[{}]", ids.join(","))
}

/// Microseconds as seconds with millisecond precision: `14.021s`.
pub fn secs(t_us: u64) -> String {
    format!("{}.{:03}s", t_us / 1_000_000, (t_us / 1000) % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"t_us":0,"type":"start","seed":7,"nodes":["controller-1","broker-1"],"topics":["orders"]}"#;

    #[test]
    fn a_trace_without_its_start_line_is_refused_with_the_line() {
        let err = Trace::parse("{\"t_us\":0,\"type\":\"up\",\"node\":0,\"incarnation\":1}\n")
            .unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("start"), "{err}");
        let err = Trace::parse(&format!("{START}\nnot json\n")).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("not JSON"), "{err}");
        assert!(Trace::parse("").is_err());
    }

    #[test]
    fn a_line_whose_fields_do_not_match_the_simulators_types_is_an_error_not_a_zero() {
        // A renamed field (`hw` for `high_watermark`) and a line type this build does not know.
        let renamed = r#"{"t_us":5,"type":"node","node":1,"event":{"event":"high_watermark","tp":{"topic":0,"partition":2},"leader_epoch":1,"hw":7,"log_end_offset":9}}"#;
        let err = Trace::parse(&format!("{START}\n{renamed}\n")).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("high_watermark"), "{err}");
        let unknown = r#"{"t_us":5,"type":"teleport","node":1}"#;
        let err = Trace::parse(&format!("{START}\n{unknown}\n")).unwrap_err();
        assert!(err.message.contains("teleport"), "{err}");
        let no_time = r#"{"type":"paused","node":1}"#;
        let err = Trace::parse(&format!("{START}\n{no_time}\n")).unwrap_err();
        assert!(err.message.contains("t_us"), "{err}");
    }

    #[test]
    fn violations_and_the_end_are_kept_apart_from_the_events() {
        let text = [
            START,
            r#"{"t_us":5,"type":"node","node":1,"event":{"event":"high_watermark","tp":{"topic":0,"partition":2},"leader_epoch":1,"high_watermark":7,"log_end_offset":9}}"#,
            r#"{"t_us":9,"type":"violation","invariant":"x","nodes":["broker-1"],"explanation":"e"}"#,
            r#"{"t_us":3,"type":"violation","invariant":"y","nodes":[],"explanation":"f"}"#,
            r#"{"t_us":10,"type":"end","reason":"time_limit"}"#,
        ]
        .join("\n");
        let t = Trace::parse(&text).unwrap();
        assert_eq!(t.seed, 7);
        assert_eq!(t.lines.len(), 1);
        let Some(Event::HighWatermark { tp, .. }) = t.lines[0].event() else {
            panic!("a high watermark line: {:?}", t.lines[0]);
        };
        assert_eq!(t.tp_name(*tp), "orders-2");
        assert_eq!(t.line_node(&t.lines[0]), "broker-1");
        let ids: Vec<&str> = t.violations.iter().map(|v| v.invariant.as_str()).collect();
        assert_eq!(ids, ["y", "x"]);
        assert_eq!(
            (t.end_us, t.end_reason.as_deref()),
            (10, Some("time_limit"))
        );
        assert_eq!(secs(14_021_500), "14.021s");
        let poll = r#"{"t_us":6,"type":"node","node":1,"event":{"event":"poll","tp":{"topic":0,"partition":2},"batch":{"base_offset":0,"count":1,"leader_epoch":1,"producer_id":1,"base_sequence":0,"idempotent":true}}}"#;
        let with_poll = format!("{START}\n{poll}\n");
        assert_eq!(Trace::parse(&with_poll).unwrap().lines.len(), 1);
        assert!(
            Trace::parse_for_reports(&with_poll)
                .unwrap()
                .lines
                .is_empty()
        );
    }

    #[test]
    fn a_replayed_partition_change_carries_no_change() {
        let changed = |pe: u32, isr: &str| {
            format!(
                r#"{{"t_us":{pe},"type":"node","node":0,"event":{{"event":"partition_changed","tp":{{"topic":0,"partition":0}},"leader":1,"leader_epoch":0,"partition_epoch":{pe},"isr":{isr},"elr":[],"election":null}}}}"#
            )
        };
        let text = [
            START.to_string(),
            changed(0, "[1,2]"),
            changed(1, "[1]"),
            changed(1, "[1]"),
        ]
        .join("\n");
        let t = Trace::parse(&text).unwrap();
        let told: Vec<bool> = t.lines.iter().map(|l| l.change.is_some()).collect();
        assert_eq!(told, [true, true, false]);
        assert!(t.lines[1].change.as_ref().unwrap().isr_moved());
    }

    #[test]
    fn a_replayed_broker_record_is_marked_and_left_out_of_the_reports() {
        let registered = |t: u64, epoch: u64| {
            format!(
                r#"{{"t_us":{t},"type":"node","node":0,"event":{{"event":"broker_registered","broker":1,"broker_epoch":{epoch}}}}}"#
            )
        };
        let unfenced = |t: u64, offset: u64| {
            format!(
                r#"{{"t_us":{t},"type":"node","node":0,"event":{{"event":"broker_unfenced","broker":1,"broker_epoch":3,"offset":{offset}}}}}"#
            )
        };
        // Committed once, then replayed by a controller that took over, then a new record.
        let text = [
            START.to_string(),
            registered(10, 3),
            unfenced(20, 5),
            registered(900, 3),
            unfenced(900, 5),
            unfenced(950, 12),
        ]
        .join("\n");
        let every = Trace::parse(&text).unwrap();
        let replayed: Vec<bool> = every.lines.iter().map(|l| l.replayed).collect();
        assert_eq!(replayed, [false, false, true, true, false]);
        let reports = Trace::parse_for_reports(&text).unwrap();
        let kept: Vec<u64> = reports.lines.iter().map(|l| l.t_us).collect();
        assert_eq!(kept, [10, 20, 950]);
    }
}
