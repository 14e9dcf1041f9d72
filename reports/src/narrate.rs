//! Narration: the run told in Kafka's terms, one line per meaningful moment.
//!
//! The same moments feed `kafkasim explain`, the HTML report's event table and the causal
//! chains of violations, so the three always tell one story.

use crate::trace::{Line, Trace, TraceViolation, broker_name, id_list, secs};
use serde::Serialize;
use serde_json::Value;
use sim_core::check::{INVARIANTS, InvariantKind};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a moment is about, for filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MomentKind {
    /// A scheduled fault: crash, partition, pause, slow link, ...
    Fault,
    /// A node going down or coming up, or finishing a controlled shutdown.
    Process,
    /// The KRaft quorum: elections, the active controller.
    Quorum,
    /// A broker fenced or put in controlled shutdown.
    Fencing,
    /// A broker registered or unfenced.
    Registration,
    /// A partition's leader or epoch changed.
    Leader,
    /// A partition's ISR or ELR changed, or a leader asked for it.
    Isr,
    /// A replica truncated its log.
    Truncation,
    /// What producers and consumers saw.
    Client,
    /// A scenario's narration note.
    Note,
    /// An invariant violation.
    Violation,
    /// Everything else (`--verbose` only).
    Detail,
}

impl MomentKind {
    pub fn name(self) -> &'static str {
        match self {
            MomentKind::Fault => "fault",
            MomentKind::Process => "process",
            MomentKind::Quorum => "quorum",
            MomentKind::Fencing => "fencing",
            MomentKind::Registration => "registration",
            MomentKind::Leader => "leader",
            MomentKind::Isr => "isr",
            MomentKind::Truncation => "truncation",
            MomentKind::Client => "client",
            MomentKind::Note => "note",
            MomentKind::Violation => "violation",
            MomentKind::Detail => "detail",
        }
    }
}

/// One meaningful moment of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Moment {
    pub t_us: u64,
    pub kind: MomentKind,
    /// The nodes it involves, by name (the acting node first).
    pub nodes: Vec<String>,
    /// The partition it is about, if any (`orders-0`).
    pub partition: Option<String>,
    pub text: String,
}

/// What narration needs besides the trace.
#[derive(Clone, Debug, Default)]
pub struct NarrateOptions {
    /// Every event and message, not only the meaningful ones.
    pub verbose: bool,
    /// `broker.session.timeout.ms`, to say why a broker was fenced.
    pub session_timeout_ms: Option<u64>,
}

/// The partition state narration compares a change against.
#[derive(Clone, Debug, Default)]
struct PartitionSeen {
    partition_epoch: Option<u64>,
    leader: Option<u64>,
    leader_epoch: u64,
    isr: Value,
    elr: Value,
}

/// A producer's outcome on a partition, to narrate only when it changes.
type Outcome = Option<String>;

struct Narrator<'a> {
    trace: &'a Trace,
    options: &'a NarrateOptions,
    moments: Vec<Moment>,
    partitions: BTreeMap<String, PartitionSeen>,
    outcomes: BTreeMap<(usize, String), Outcome>,
    /// When each node last went down, for "fenced N s after it went down".
    down_at: BTreeMap<String, u64>,
}

fn crash_words(kind: &str) -> &'static str {
    match kind {
        "process" => "process crash: memory lost, the OS page cache kept",
        "power_loss" => "power loss: unflushed writes lost",
        "disk_loss" => "disk loss: it will come back empty",
        _ => "crash",
    }
}

fn names(trace: &Trace, v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|n| n.as_u64())
            .map(|n| trace.node_name(n as usize))
            .collect(),
        Value::Number(n) => n
            .as_u64()
            .map(|n| vec![trace.node_name(n as usize)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn fault_text(trace: &Trace, f: &Value) -> (String, Vec<String>) {
    let action = f["action"].as_str().unwrap_or("fault");
    let node = names(trace, &f["node"]);
    let one = node.first().cloned().unwrap_or_default();
    let extra_ms = f["extra"].as_u64().unwrap_or(0) / 1000;
    match action {
        "crash" => {
            let kind = f["kind"].as_str().unwrap_or("");
            (format!("{one} dies ({})", crash_words(kind)), node)
        }
        "restart" => (format!("{one} restarts"), node),
        "shutdown" => (
            format!("{one} is asked to shut down (SIGTERM): controlled shutdown begins"),
            node,
        ),
        "pause" => (
            format!("{one} pauses (a long GC pause or SIGSTOP): it handles nothing"),
            node,
        ),
        "resume" => (format!("{one} resumes"), node),
        "partition" => {
            let groups: Vec<String> = f["groups"]
                .as_array()
                .map(|g| {
                    g.iter()
                        .map(|grp| format!("{{{}}}", names(trace, grp).join(", ")))
                        .collect()
                })
                .unwrap_or_default();
            let all: Vec<String> = f["groups"]
                .as_array()
                .map(|g| g.iter().flat_map(|grp| names(trace, grp)).collect())
                .unwrap_or_default();
            (
                format!(
                    "the network splits: {} cannot reach the rest",
                    groups.join(" / ")
                ),
                all,
            )
        }
        "one_way" => {
            let from = names(trace, &f["from"]);
            let mut to = names(trace, &f["to"]);
            // A node always reaches itself: no link from a node to itself is cut.
            if let [only] = from.as_slice() {
                to.retain(|n| n != only);
            }
            let overlap = to.iter().any(|n| from.contains(n));
            let text = if to.is_empty() {
                format!(
                    "{} cannot cut itself off from itself: no link is cut",
                    from.join(", ")
                )
            } else {
                format!(
                    "messages from {} to {} are lost{} (the other direction still works)",
                    from.join(", "),
                    to.join(", "),
                    if overlap {
                        ", between different nodes"
                    } else {
                        ""
                    }
                )
            };
            (text, from.into_iter().chain(to).collect())
        }
        "heal" => (
            "the network heals: every cut link works again".into(),
            vec![],
        ),
        "slow_node" if extra_ms == 0 => (format!("{one} is fast again"), node),
        "slow_node" => (
            format!("every message to or from {one} takes {extra_ms} ms longer"),
            node,
        ),
        "slow_channel" => {
            let from = names(trace, &f["from"]);
            let to = names(trace, &f["to"]);
            let channel = f["name"].as_str().unwrap_or("one");
            let (a, b) = (from.join(""), to.join(""));
            let text = if extra_ms == 0 {
                format!("the {channel} connection {a} -> {b} is fast again")
            } else {
                format!(
                    "messages from {a} to {b} on the {channel} connection take {extra_ms} ms \
                     longer (its other connections are unaffected)"
                )
            };
            (text, from.into_iter().chain(to).collect())
        }
        "slow_link" => {
            let from = names(trace, &f["from"]);
            let to = names(trace, &f["to"]);
            let (a, b) = (from.join(""), to.join(""));
            let text = if a == b {
                format!("{a} to itself: no network link, nothing slows down")
            } else if extra_ms == 0 {
                format!("the link {a} -> {b} is fast again")
            } else {
                format!("messages from {a} to {b} take {extra_ms} ms longer")
            };
            (text, from.into_iter().chain(to).collect())
        }
        other => (other.replace('_', " "), node),
    }
}

impl<'a> Narrator<'a> {
    fn push(
        &mut self,
        line: &Line,
        kind: MomentKind,
        nodes: Vec<String>,
        partition: Option<String>,
        text: String,
    ) {
        self.moments.push(Moment {
            t_us: line.t_us,
            kind,
            nodes,
            partition,
            text,
        });
    }

    fn line(&mut self, line: &Line) {
        let trace = self.trace;
        match line.kind() {
            "fault" => {
                let (text, nodes) = fault_text(trace, &line.v["fault"]);
                self.push(
                    line,
                    MomentKind::Fault,
                    nodes,
                    None,
                    format!("fault: {text}"),
                );
            }
            "fault_ignored" | "fault_deferred" => {
                let (text, nodes) = fault_text(trace, &line.v["fault"]);
                let why = line.v["why"].as_str().unwrap_or("").to_string();
                let what = if line.kind() == "fault_ignored" {
                    "skipped"
                } else {
                    "deferred"
                };
                self.push(
                    line,
                    MomentKind::Fault,
                    nodes,
                    None,
                    format!("fault {what} ({why}): {text}"),
                );
            }
            "note" => {
                let text = line.v["text"].as_str().unwrap_or("").to_string();
                self.push(
                    line,
                    MomentKind::Note,
                    vec![],
                    None,
                    format!("note: {text}"),
                );
            }
            "down" => {
                let node = trace.line_node(line);
                self.down_at.insert(node.clone(), line.t_us);
                if line.v["cause"] == "shutdown" {
                    self.push(
                        line,
                        MomentKind::Process,
                        vec![node.clone()],
                        None,
                        format!("{node} finished its shutdown and exited"),
                    );
                }
            }
            "up" if line.t_us > 0 => {
                let node = trace.line_node(line);
                let incarnation = line.v["incarnation"].as_u64().unwrap_or(0);
                self.push(
                    line,
                    MomentKind::Process,
                    vec![node.clone()],
                    None,
                    format!("{node} is up again (incarnation {incarnation})"),
                );
            }
            "node" => self.event(line),
            _ if self.options.verbose => self.detail(line),
            _ => {}
        }
    }

    fn detail(&mut self, line: &Line) {
        let node = self.trace.line_node(line);
        let text = match line.kind() {
            "deliver" | "lost" => {
                let from = names(self.trace, &line.v["from"]).join("");
                let to = names(self.trace, &line.v["to"]).join("");
                let msg = line.v["msg"].as_str().unwrap_or("");
                if line.kind() == "lost" {
                    let cause = line.v["cause"].as_str().unwrap_or("");
                    format!("{msg} {from} -> {to} lost ({cause})")
                } else {
                    format!("{msg} {from} -> {to}")
                }
            }
            kind => {
                let mut v = line.v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("t_us");
                    o.remove("type");
                }
                format!("{kind} {v}")
            }
        };
        let nodes = if node.is_empty() { vec![] } else { vec![node] };
        self.push(line, MomentKind::Detail, nodes, None, text);
    }

    fn event(&mut self, line: &Line) {
        let trace = self.trace;
        let node = trace.line_node(line);
        let Some(event) = line.event() else {
            return;
        };
        let epoch = line.field("broker_epoch").as_u64().unwrap_or(0);
        match event {
            "controller_activated" | "controller_renounced" | "raft_state"
                if Trace::is_controller(&node) =>
            {
                let e = line.field("epoch").as_u64().unwrap_or(0);
                let text = match (event, line.field("state").as_str().unwrap_or("")) {
                    ("controller_activated", _) => Some(format!(
                        "{node} won the KRaft election: leader of epoch {e}, the active controller"
                    )),
                    ("controller_renounced", _) => Some(format!(
                        "{node} is no longer the active controller (epoch {e} is over)"
                    )),
                    (_, "candidate") => Some(format!(
                        "{node} heard from no leader within its election timeout: candidate in epoch {e}, asking for votes"
                    )),
                    (_, "prospective") => Some(format!(
                        "{node} heard from no leader: pre-vote (prospective) before standing in epoch {}",
                        e + 1
                    )),
                    (_, "resigned") => Some(format!("{node} resigned as leader of epoch {e}")),
                    _ => None,
                };
                match text {
                    Some(text) => self.push(line, MomentKind::Quorum, vec![node], None, text),
                    None if self.options.verbose => self.detail(line),
                    None => {}
                }
            }
            "broker_registered"
            | "broker_fenced"
            | "broker_unfenced"
            | "broker_controlled_shutdown" => {
                let b = broker_name(line.field("broker").as_u64().unwrap_or(0));
                let (kind, what) = match event {
                    "broker_registered" => (
                        MomentKind::Registration,
                        format!("registered {b} (broker epoch {epoch}); it starts fenced"),
                    ),
                    "broker_fenced" => (
                        MomentKind::Fencing,
                        format!(
                            "fenced {b} (broker epoch {epoch}): {}",
                            self.fence_reason(line, &b)
                        ),
                    ),
                    "broker_unfenced" => (
                        MomentKind::Registration,
                        format!(
                            "unfenced {b} (broker epoch {epoch}): it caught up with the metadata log"
                        ),
                    ),
                    _ => (
                        MomentKind::Fencing,
                        format!(
                            "put {b} in controlled shutdown: it leaves every ISR and its leaderships move"
                        ),
                    ),
                };
                self.push(
                    line,
                    kind,
                    vec![node.clone(), b],
                    None,
                    format!("{node} {what}"),
                );
            }
            "partition_changed" => self.partition_changed(line, &node),
            "alter_partition_sent" => {
                let (from, to) = (line.field("isr"), line.field("proposed_isr"));
                let grow = to.as_array().map_or(0, Vec::len) > from.as_array().map_or(0, Vec::len);
                let what = if grow { "expand" } else { "shrink" };
                let (from, to) = (id_list(from), id_list(to));
                self.about_partition(line, MomentKind::Isr, &node, |tp| {
                    format!(
                        "{tp}: leader {node} asks the controller to {what} the ISR {from} -> {to} (AlterPartition)"
                    )
                });
            }
            "alter_partition_answered" => match line.field("error").as_str() {
                Some(error) => self.about_partition(line, MomentKind::Isr, &node, |tp| {
                    format!("{tp}: the controller refused {node}'s ISR change: {error}")
                }),
                None if self.options.verbose => self.detail(line),
                None => {}
            },
            "replica_truncated" => {
                let from = line.field("from_offset").as_u64().unwrap_or(0);
                let to = line.field("to_offset").as_u64().unwrap_or(0);
                let why = match line.field("reason").as_str() {
                    Some("high_watermark") => {
                        "its own high watermark, as a follower did before KIP-101 (the HW, not \
                         the leader's log, decides what is kept)"
                    }
                    _ => "where it diverged from the leader",
                };
                self.about_partition(line, MomentKind::Truncation, &node, |tp| {
                    format!(
                        "{tp}: {node} truncated its log from offset {from} to {to}, {why} ({} records gone)",
                        from.saturating_sub(to)
                    )
                });
            }
            "truncation_detected" => {
                let position = line.field("position").as_u64().unwrap_or(0);
                let end = line.field("end_offset").as_u64().unwrap_or(0);
                self.about_partition(line, MomentKind::Client, &node, |tp| {
                    format!(
                        "{tp}: {node} found the log truncated below its position {position} (KIP-320): records it read are gone; it seeks back to {end}"
                    )
                });
            }
            "send" => self.send(line, &node),
            _ if self.options.verbose => self.detail(line),
            _ => {}
        }
    }

    /// A moment of `node` about the partition its event names (`tp`), told by `text`.
    fn about_partition(
        &mut self,
        line: &Line,
        kind: MomentKind,
        node: &str,
        text: impl FnOnce(&str) -> String,
    ) {
        let tp = self.trace.tp_name(line.field("tp"));
        let text = text(&tp);
        self.push(line, kind, vec![node.to_string()], Some(tp), text);
    }

    /// Why the controller fenced broker `b`.
    fn fence_reason(&self, line: &Line, b: &str) -> String {
        match line.field("reason").as_str() {
            Some("session_expired") => {
                let timeout = self
                    .options
                    .session_timeout_ms
                    .map(|ms| format!(" for {}.{} s", ms / 1000, (ms % 1000) / 100))
                    .unwrap_or_default();
                let since = self
                    .down_at
                    .get(b)
                    .filter(|&&d| d <= line.t_us)
                    .map(|&d| format!("; it went down at t={}", secs(d)))
                    .unwrap_or_default();
                format!("no heartbeat{timeout} (broker.session.timeout.ms){since}")
            }
            Some("reregistered") => "a new incarnation of it registered".into(),
            Some(other) => other.replace('_', " "),
            None => String::new(),
        }
    }

    fn partition_changed(&mut self, line: &Line, node: &str) {
        let tp = self.trace.tp_name(line.field("tp"));
        let pe = line.field("partition_epoch").as_u64();
        let seen = self.partitions.entry(tp.clone()).or_default();
        // A new active controller replays what its predecessor committed: tell it once.
        if pe.is_some() && seen.partition_epoch.is_some() && pe <= seen.partition_epoch {
            return;
        }
        let first = seen.partition_epoch.is_none();
        let leader = line.field("leader").as_u64();
        let leader_epoch = line.field("leader_epoch").as_u64().unwrap_or(0);
        let isr = line.field("isr").clone();
        let elr = line.field("elr").clone();
        let election = line.field("election").as_str().map(|e| match e {
            "clean" => "a clean election from the ISR",
            "elr" => "an ELR election (KIP-966)",
            "last_known_leader" => "the last known leader (KIP-966)",
            "unclean" => "an UNCLEAN election from outside the ISR",
            "none" => "nobody eligible: the partition is offline",
            _ => "an election",
        });
        let who = |l: Option<u64>| l.map_or_else(|| "none".to_string(), broker_name);
        let mut nodes = vec![node.to_string()];
        nodes.extend(leader.map(broker_name));
        let text = if first {
            format!(
                "{tp}: created with leader {} (epoch {leader_epoch}), ISR {}",
                who(leader),
                id_list(&isr)
            )
        } else {
            let mut parts = Vec::new();
            if leader != seen.leader || leader_epoch != seen.leader_epoch {
                parts.push(format!(
                    "leader {} -> {} (epoch {} -> {leader_epoch})",
                    who(seen.leader),
                    who(leader),
                    seen.leader_epoch
                ));
            }
            if isr != seen.isr {
                parts.push(format!("ISR {} -> {}", id_list(&seen.isr), id_list(&isr)));
            }
            let elr_empty = |v: &Value| v.as_array().is_none_or(Vec::is_empty);
            if elr != seen.elr && !(elr_empty(&elr) && elr_empty(&seen.elr)) {
                parts.push(format!("ELR {} -> {}", id_list(&seen.elr), id_list(&elr)));
            }
            if parts.is_empty() {
                parts.push(format!("partition epoch {}", pe.unwrap_or(0)));
            }
            let mut text = format!("{tp}: {}", parts.join(", "));
            if let Some(how) = election {
                let _ = write!(text, " by {how}");
            }
            text
        };
        let kind = if first || leader != seen.leader || leader_epoch != seen.leader_epoch {
            MomentKind::Leader
        } else {
            MomentKind::Isr
        };
        *seen = PartitionSeen {
            partition_epoch: pe,
            leader,
            leader_epoch,
            isr,
            elr,
        };
        self.push(line, kind, nodes, Some(tp), text);
    }

    /// A producer's writes to a partition: narrated when their outcome changes (accepted,
    /// refused with an error), not write by write.
    fn send(&mut self, line: &Line, node: &str) {
        let op = line.field("op").as_str().unwrap_or("");
        if op == "invoke" {
            if self.options.verbose {
                self.detail(line);
            }
            return;
        }
        let tp = self.trace.tp_name(line.field("tp"));
        let outcome: Outcome = match op {
            "ok" => None,
            _ => Some(line.field("error").as_str().map_or_else(
                || "no answer (indeterminate)".to_string(),
                |e| e.to_string(),
            )),
        };
        let key = (line.node().unwrap_or(0), tp.clone());
        let before = self.outcomes.insert(key, outcome.clone());
        let changed = match &before {
            None => outcome.is_some(),
            Some(b) => *b != outcome,
        };
        if !changed {
            if self.options.verbose {
                self.detail(line);
            }
            return;
        }
        let acks = line.field("acks").as_str().unwrap_or("?").to_string();
        let text = match &outcome {
            Some(error) => format!("{tp}: {node}'s acks={acks} writes fail: {error}"),
            None => format!("{tp}: {node}'s acks={acks} writes are acknowledged again"),
        };
        self.push(
            line,
            MomentKind::Client,
            vec![node.to_string()],
            Some(tp),
            text,
        );
    }
}

/// The moments of a run, in time order, violations included.
pub fn moments(trace: &Trace, options: &NarrateOptions) -> Vec<Moment> {
    let mut n = Narrator {
        trace,
        options,
        moments: Vec::new(),
        partitions: BTreeMap::new(),
        outcomes: BTreeMap::new(),
        down_at: BTreeMap::new(),
    };
    for line in &trace.lines {
        n.line(line);
    }
    let mut moments = n.moments;
    for v in &trace.violations {
        moments.push(Moment {
            t_us: v.t_us,
            kind: MomentKind::Violation,
            nodes: v.nodes.clone(),
            partition: violation_partition(trace, v),
            text: format!("VIOLATION {}: {}", v.invariant, v.explanation),
        });
    }
    // At one instant, causes before effects (a fault before its note, a fencing before the
    // elections it caused); otherwise the order they happened in (the sort is stable).
    moments.sort_by_key(|m| (m.t_us, m.kind));
    moments
}

/// The partition a violation's explanation opens with (`orders-0: ...`), if it names one.
fn violation_partition(trace: &Trace, v: &TraceViolation) -> Option<String> {
    let head = v.explanation.split(':').next()?;
    let (topic, p) = head.rsplit_once('-')?;
    (trace.topics.iter().any(|t| t == topic) && p.parse::<u32>().is_ok()).then(|| head.to_string())
}

/// How many moments before a violation its causal chain shows at most.
const CHAIN_LEN: usize = 12;

/// The moments that led to a violation, oldest first: its partition's leader and ISR changes
/// and truncations, and the faults and fencing that hit the nodes involved (the violation's
/// own, and the brokers that led that partition or were named in its changes).
pub fn causal_chain<'m>(moments: &'m [Moment], v: &Moment) -> Vec<&'m Moment> {
    let before = |m: &&Moment| m.t_us <= v.t_us;
    let ours = |m: &Moment| v.partition.is_some() && m.partition == v.partition;
    let mut involved: Vec<&str> = v.nodes.iter().map(String::as_str).collect();
    for m in moments.iter().filter(before).filter(|m| ours(m)) {
        for n in &m.nodes {
            if !Trace::is_controller(n) && !involved.contains(&n.as_str()) {
                involved.push(n);
            }
        }
    }
    let touches = |m: &Moment| m.nodes.iter().any(|n| involved.contains(&n.as_str()));
    let mut chain: Vec<&Moment> = moments
        .iter()
        .filter(before)
        .filter(|m| match m.kind {
            MomentKind::Leader | MomentKind::Isr | MomentKind::Truncation => ours(m),
            MomentKind::Fault => m.nodes.is_empty() || touches(m),
            MomentKind::Fencing => touches(m),
            MomentKind::Client => ours(m),
            _ => false,
        })
        .collect();
    let skip = chain.len().saturating_sub(CHAIN_LEN);
    chain.drain(..skip);
    chain
}

/// `kafkasim explain`: the narrated timeline, then what the checkers concluded.
pub fn narrate(trace: &Trace, options: &NarrateOptions) -> String {
    let moments = moments(trace, options);
    let mut out = String::new();
    for m in &moments {
        let _ = writeln!(out, "t={:<10} {}", secs(m.t_us), m.text);
    }
    let _ = writeln!(
        out,
        "t={:<10} the run ends{}",
        secs(trace.end_us),
        trace
            .end_reason
            .as_deref()
            .map(|r| format!(" ({})", r.replace('_', " ")))
            .unwrap_or_default()
    );
    out.push('\n');
    out.push_str(&conclusion(trace, &moments));
    out
}

/// Acknowledged writes Kafka lost where it does not promise to keep them: not violations, but
/// told first, so a run that loses data never reads as a clean one.
fn losses_outside_promise(trace: &Trace) -> String {
    let mut out = String::new();
    let records: u64 = trace.losses.iter().map(|l| l.records).sum();
    if records == 0 {
        return out;
    }
    let _ = writeln!(
        out,
        "{records} acknowledged write(s) were lost outside Kafka's durability promise (not a violation: Kafka does not promise to keep them here):"
    );
    for l in &trace.losses {
        let _ = writeln!(out, "  t={:<10} {}", secs(l.t_us), l.explanation);
    }
    out.push('\n');
    out
}

/// What the checkers concluded: every invariant that was violated, with its causal chain,
/// and how many held.
pub fn conclusion(trace: &Trace, moments: &[Moment]) -> String {
    let mut out = losses_outside_promise(trace);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &trace.violations {
        *counts.entry(v.invariant.as_str()).or_default() += 1;
    }
    let held: Vec<&str> = INVARIANTS
        .iter()
        .map(|i| i.id)
        .filter(|id| !counts.contains_key(id))
        .collect();
    if counts.is_empty() {
        let safety = INVARIANTS
            .iter()
            .filter(|i| i.kind == InvariantKind::Safety)
            .count();
        let _ = writeln!(
            out,
            "The checkers found no violation: all {} invariants held ({safety} safety, checked after every event; {} liveness, checked after the faults stopped).",
            INVARIANTS.len(),
            INVARIANTS.len() - safety
        );
        return out;
    }
    let _ = writeln!(
        out,
        "The checkers found {} violation(s) of {} invariant(s); the other {} held.",
        trace.violations.len(),
        counts.len(),
        held.len()
    );
    let mut told = BTreeMap::new();
    for m in moments.iter().filter(|m| m.kind == MomentKind::Violation) {
        let id = m
            .text
            .trim_start_matches("VIOLATION ")
            .split(':')
            .next()
            .unwrap_or("");
        // The first violation of each invariant, with the chain that led to it.
        if told.insert(id.to_string(), ()).is_some() {
            continue;
        }
        let _ = writeln!(out, "\n{id} (first at t={}):", secs(m.t_us));
        let _ = writeln!(out, "  {}", m.text.trim_start_matches("VIOLATION "));
        let chain = causal_chain(moments, m);
        if !chain.is_empty() {
            let _ = writeln!(out, "  how it came about:");
            for c in chain {
                let _ = writeln!(out, "    t={:<10} {}", secs(c.t_us), c.text);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace of three brokers with the given lines after the start line.
    fn trace(lines: &[&str]) -> Trace {
        let mut text = String::from(
            r#"{"t_us":0,"type":"start","seed":1,"nodes":["broker-1","broker-2","broker-3"],"topics":["orders"]}"#,
        );
        for l in lines {
            text.push('\n');
            text.push_str(l);
        }
        Trace::parse(&text).expect("a valid trace")
    }

    #[test]
    fn a_one_way_cut_never_names_a_node_cut_from_itself() {
        let t = trace(&[]);
        let f = serde_json::json!({"action": "one_way", "from": [0], "to": [0, 1]});
        let (text, _) = fault_text(&t, &f);
        assert_eq!(
            text,
            "messages from broker-1 to broker-2 are lost (the other direction still works)"
        );
        let f = serde_json::json!({"action": "one_way", "from": [0], "to": [0]});
        assert!(fault_text(&t, &f).0.contains("no link is cut"));
        let f = serde_json::json!({"action": "one_way", "from": [0, 1], "to": [1, 2]});
        assert!(fault_text(&t, &f).0.contains("between different nodes"));
    }

    #[test]
    fn a_truncation_to_the_hw_is_not_told_as_a_divergence() {
        let line = |reason: &str| {
            format!(
                r#"{{"t_us":5,"type":"node","node":1,"event":{{"event":"replica_truncated","tp":{{"topic":0,"partition":0}},"from_offset":9,"to_offset":7,"high_watermark":7,"reason":"{reason}"}}}}"#
            )
        };
        let options = NarrateOptions {
            verbose: false,
            session_timeout_ms: None,
        };
        let hw = narrate(&trace(&[&line("high_watermark")]), &options);
        assert!(hw.contains("its own high watermark"), "{hw}");
        assert!(!hw.contains("diverged"), "{hw}");
        let diverged = narrate(&trace(&[&line("diverged")]), &options);
        assert!(
            diverged.contains("where it diverged from the leader"),
            "{diverged}"
        );
    }
}
