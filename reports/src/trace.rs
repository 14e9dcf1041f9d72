//! Reading a trace (`trace.jsonl`): one JSON object per line, the format `sim-core` writes.
//!
//! Reports read the trace as data, never the engine's state. Lines keep their JSON; the
//! accessors here name the fields the reports use, so a line the reports do not know (from a
//! newer simulator) is carried along and shown as it is, not rejected.

use serde_json::Value;
use std::fmt;

/// One trace line: its time and its JSON object.
#[derive(Clone, Debug)]
pub struct Line {
    pub t_us: u64,
    pub v: Value,
}

impl Line {
    /// The line's `type` (`node`, `fault`, `down`, ...).
    pub fn kind(&self) -> &str {
        self.v["type"].as_str().unwrap_or("")
    }

    /// A `node` line's protocol event name (`partition_changed`, ...).
    pub fn event(&self) -> Option<&str> {
        self.v["event"]["event"].as_str()
    }

    /// A field of a `node` line's event.
    pub fn field(&self, key: &str) -> &Value {
        &self.v["event"][key]
    }

    /// Whether reports other than `--verbose` narration use this line.
    fn matters(&self) -> bool {
        match self.kind() {
            "deliver" | "lost" | "disconnect" | "network" => false,
            "node" => match self.event() {
                Some("poll") => false,
                Some("send") => self.field("op") != "invoke",
                _ => true,
            },
            _ => true,
        }
    }

    /// The node id a line is about (`node` field).
    pub fn node(&self) -> Option<usize> {
        self.v["node"].as_u64().map(|n| n as usize)
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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

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
        let mut trace = Trace {
            seed: 0,
            nodes: Vec::new(),
            topics: Vec::new(),
            lines: Vec::new(),
            violations: Vec::new(),
            losses: Vec::new(),
            end_us: 0,
            end_reason: None,
        };
        let mut started = false;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(raw).map_err(|e| TraceError {
                line: n,
                message: format!("not JSON: {e}"),
            })?;
            let t_us = v["t_us"].as_u64().ok_or_else(|| TraceError {
                line: n,
                message: "expected a \"t_us\" field (microseconds, a whole number)".into(),
            })?;
            let line = Line { t_us, v };
            if !started {
                if line.kind() != "start" {
                    return Err(TraceError {
                        line: n,
                        message: format!(
                            "expected the \"start\" line first, found type {:?}: is this a \
                             kafkasim trace.jsonl?",
                            line.kind()
                        ),
                    });
                }
                trace.seed = line.v["seed"].as_u64().unwrap_or(0);
                trace.nodes = strings(&line.v["nodes"]);
                trace.topics = strings(&line.v["topics"]);
                started = true;
                continue;
            }
            trace.end_us = trace.end_us.max(t_us);
            match line.kind() {
                "violation" => trace.violations.push(TraceViolation {
                    t_us,
                    invariant: line.v["invariant"].as_str().unwrap_or("").to_string(),
                    nodes: strings(&line.v["nodes"]),
                    explanation: line.v["explanation"].as_str().unwrap_or("").to_string(),
                }),
                "loss" => trace.losses.push(TraceLoss {
                    t_us,
                    partition: line.v["partition"].as_str().unwrap_or("").to_string(),
                    records: line.v["records"].as_u64().unwrap_or(0),
                    nodes: strings(&line.v["nodes"]),
                    explanation: line.v["explanation"].as_str().unwrap_or("").to_string(),
                }),
                "end" => {
                    trace.end_reason = line.v["reason"].as_str().map(str::to_string);
                }
                _ if keep_all || line.matters() => trace.lines.push(line),
                _ => {}
            }
        }
        if !started {
            return Err(TraceError {
                line: 1,
                message: "the trace is empty".into(),
            });
        }
        trace.violations.sort_by_key(|v| v.t_us);
        trace.losses.sort_by_key(|l| l.t_us);
        Ok(trace)
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

    /// A topic-partition's name (`orders-0`) from its `{"topic": i, "partition": p}` value.
    pub fn tp_name(&self, tp: &Value) -> String {
        let topic = tp["topic"].as_u64().unwrap_or(0) as usize;
        let name = self
            .topics
            .get(topic)
            .cloned()
            .unwrap_or_else(|| format!("topic{topic}"));
        format!("{name}-{}", tp["partition"].as_u64().unwrap_or(0))
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

/// A broker's node name from its broker id.
pub fn broker_name(id: u64) -> String {
    format!("broker-{id}")
}

/// Broker ids as a Kafka-style list: `[1,2,3]`.
pub fn id_list(v: &Value) -> String {
    let ids: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    format!("[{}]", ids.join(","))
}

/// Microseconds as seconds with millisecond precision: `14.021s`.
pub fn secs(t_us: u64) -> String {
    format!("{}.{:03}s", t_us / 1_000_000, (t_us / 1000) % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_without_its_start_line_is_refused_with_the_line() {
        let err = Trace::parse("{\"t_us\":0,\"type\":\"up\",\"node\":0}\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("start"), "{err}");
        let err = Trace::parse("{\"t_us\":0,\"type\":\"start\"}\nnot json\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(Trace::parse("").is_err());
    }

    #[test]
    fn violations_and_the_end_are_kept_apart_from_the_events() {
        let text = concat!(
            "{\"t_us\":0,\"type\":\"start\",\"seed\":7,\"nodes\":[\"controller-1\",\"broker-1\"],\"topics\":[\"orders\"]}\n",
            "{\"t_us\":5,\"type\":\"node\",\"node\":1,\"event\":{\"event\":\"high_watermark\",\"tp\":{\"topic\":0,\"partition\":2}}}\n",
            "{\"t_us\":9,\"type\":\"violation\",\"invariant\":\"x\",\"nodes\":[\"broker-1\"],\"explanation\":\"e\"}\n",
            "{\"t_us\":3,\"type\":\"violation\",\"invariant\":\"y\",\"nodes\":[],\"explanation\":\"f\"}\n",
            "{\"t_us\":10,\"type\":\"end\",\"reason\":\"time_limit\"}\n",
        );
        let t = Trace::parse(text).unwrap();
        assert_eq!(t.seed, 7);
        assert_eq!(t.lines.len(), 1);
        assert_eq!(t.lines[0].event(), Some("high_watermark"));
        assert_eq!(t.tp_name(t.lines[0].field("tp")), "orders-2");
        assert_eq!(t.line_node(&t.lines[0]), "broker-1");
        let ids: Vec<&str> = t.violations.iter().map(|v| v.invariant.as_str()).collect();
        assert_eq!(ids, ["y", "x"]);
        assert_eq!(
            (t.end_us, t.end_reason.as_deref()),
            (10, Some("time_limit"))
        );
        assert_eq!(secs(14_021_500), "14.021s");
        let with_poll = text.replace("\"event\":\"high_watermark\"", "\"event\":\"poll\"");
        assert_eq!(Trace::parse(&with_poll).unwrap().lines.len(), 1);
        assert!(
            Trace::parse_for_reports(&with_poll)
                .unwrap()
                .lines
                .is_empty()
        );
    }
}
