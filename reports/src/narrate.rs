//! Narration: the run told in Kafka's terms, one line per meaningful moment.
//!
//! The same moments feed `kafkasim explain`, the HTML report's event table and the causal
//! chains of violations, so the three always tell one story.

use crate::trace::{Body, Line, Trace, TraceViolation, broker_name, id_list, secs, wire_name};
use serde::Serialize;
use sim_core::check::{INVARIANTS, InvariantKind};
use sim_core::engine::NodeId;
use sim_core::fault::Fault;
use sim_core::kraft::history::LeadershipChange;
use sim_core::kraft::raft::RaftRole;
use sim_core::kraft::{Election, TopicPartition};
use sim_core::proto::{Event, FenceReason, SendOp, TruncationReason};
use sim_core::storage::CrashKind;
use sim_core::trace::DownCause;
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

/// A producer's outcome on a partition, to narrate only when it changes.
type Outcome = Option<String>;

struct Narrator<'a> {
    trace: &'a Trace,
    options: &'a NarrateOptions,
    moments: Vec<Moment>,
    outcomes: BTreeMap<(usize, String), Outcome>,
    /// When each node last went down, for "fenced N s after it went down".
    down_at: BTreeMap<String, u64>,
}

fn crash_words(kind: CrashKind) -> &'static str {
    match kind {
        CrashKind::Process => "process crash: memory lost, the OS page cache kept",
        CrashKind::PowerLoss => "power loss: unflushed writes lost",
        CrashKind::DiskLoss => "disk loss: it will come back empty",
    }
}

fn names(trace: &Trace, nodes: &[NodeId]) -> Vec<String> {
    nodes.iter().map(|n| trace.node_name(n.index())).collect()
}

/// A fault told in words, and the nodes it involves.
fn fault_text(trace: &Trace, fault: &Fault) -> (String, Vec<String>) {
    let one = |node: &NodeId| trace.node_name(node.index());
    match fault {
        Fault::Crash { node, kind } => (
            format!("{} dies ({})", one(node), crash_words(*kind)),
            vec![one(node)],
        ),
        Fault::Restart { node } => (format!("{} restarts", one(node)), vec![one(node)]),
        Fault::Shutdown { node } => (
            format!(
                "{} is asked to shut down (SIGTERM): controlled shutdown begins",
                one(node)
            ),
            vec![one(node)],
        ),
        Fault::Pause { node } => (
            format!(
                "{} pauses (a long GC pause or SIGSTOP): it handles nothing",
                one(node)
            ),
            vec![one(node)],
        ),
        Fault::Resume { node } => (format!("{} resumes", one(node)), vec![one(node)]),
        Fault::Partition { groups } => {
            let told: Vec<String> = groups
                .iter()
                .map(|g| format!("{{{}}}", names(trace, g).join(", ")))
                .collect();
            let all = groups.iter().flat_map(|g| names(trace, g)).collect();
            (
                format!(
                    "the network splits: {} cannot reach the rest",
                    told.join(" / ")
                ),
                all,
            )
        }
        Fault::OneWay { from, to } => one_way_text(names(trace, from), names(trace, to)),
        Fault::Heal => (
            "the network heals: every cut link works again".into(),
            vec![],
        ),
        Fault::SlowNode { node, extra } => {
            let extra_ms = extra.as_micros() / 1000;
            let text = if extra_ms == 0 {
                format!("{} is fast again", one(node))
            } else {
                format!(
                    "every message to or from {} takes {extra_ms} ms longer",
                    one(node)
                )
            };
            (text, vec![one(node)])
        }
        Fault::SlowChannel {
            from,
            to,
            name,
            extra,
            ..
        } => {
            let (a, b) = (one(from), one(to));
            let extra_ms = extra.as_micros() / 1000;
            let text = if extra_ms == 0 {
                format!("the {name} connection {a} -> {b} is fast again")
            } else {
                format!(
                    "messages from {a} to {b} on the {name} connection take {extra_ms} ms \
                     longer (its other connections are unaffected)"
                )
            };
            (text, vec![a, b])
        }
        Fault::SlowLink { from, to, extra } => {
            let (a, b) = (one(from), one(to));
            let extra_ms = extra.as_micros() / 1000;
            let text = if a == b {
                format!("{a} to itself: no network link, nothing slows down")
            } else if extra_ms == 0 {
                format!("the link {a} -> {b} is fast again")
            } else {
                format!("messages from {a} to {b} take {extra_ms} ms longer")
            };
            (text, vec![a, b])
        }
    }
}

/// A one-way cut told in words: never a node cut from itself.
fn one_way_text(from: Vec<String>, mut to: Vec<String>) -> (String, Vec<String>) {
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
            "messages from {} to {} are lost{} (no connection between them can open until it heals: \
             the handshake needs both directions)",
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
        match &line.body {
            Body::Fault { fault } => {
                let (text, nodes) = fault_text(trace, fault);
                let text = format!("fault: {text}");
                self.push(line, MomentKind::Fault, nodes, None, text);
            }
            Body::FaultIgnored { fault, why } | Body::FaultDeferred { fault, why } => {
                let (text, nodes) = fault_text(trace, fault);
                let what = if matches!(line.body, Body::FaultIgnored { .. }) {
                    "skipped"
                } else {
                    "deferred"
                };
                let text = format!("fault {what} ({why}): {text}");
                self.push(line, MomentKind::Fault, nodes, None, text);
            }
            Body::Note { text } => {
                let text = format!("note: {text}");
                self.push(line, MomentKind::Note, vec![], None, text);
            }
            Body::Down { cause, .. } => {
                let node = trace.line_node(line);
                self.down_at.insert(node.clone(), line.t_us);
                if *cause == DownCause::Shutdown {
                    let text = format!("{node} finished its shutdown and exited");
                    self.push(line, MomentKind::Process, vec![node], None, text);
                }
            }
            Body::Up { incarnation, .. } if line.t_us > 0 => {
                let node = trace.line_node(line);
                let text = format!("{node} is up again (incarnation {incarnation})");
                self.push(line, MomentKind::Process, vec![node], None, text);
            }
            Body::Node { event, .. } => self.event(line, event),
            _ if self.options.verbose => self.detail(line),
            _ => {}
        }
    }

    fn detail(&mut self, line: &Line) {
        let node = self.trace.line_node(line);
        let text = match &line.body {
            Body::Deliver { from, to, msg } => {
                let (from, to) = (
                    self.trace.node_name(from.index()),
                    self.trace.node_name(to.index()),
                );
                format!("{msg} {from} -> {to}")
            }
            Body::Lost {
                from,
                to,
                msg,
                cause,
            } => {
                let (from, to) = (
                    self.trace.node_name(from.index()),
                    self.trace.node_name(to.index()),
                );
                format!("{msg} {from} -> {to} lost ({})", wire_name(cause))
            }
            body => {
                // Any other line, as the trace has it (without its time and type).
                let mut v = serde_json::to_value(body).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.remove("type");
                }
                format!("{} {v}", body.kind())
            }
        };
        let nodes = if node.is_empty() { vec![] } else { vec![node] };
        self.push(line, MomentKind::Detail, nodes, None, text);
    }

    fn event(&mut self, line: &Line, event: &Event) {
        let node = self.trace.line_node(line);
        match event {
            Event::ControllerActivated { .. }
            | Event::ControllerRenounced { .. }
            | Event::RaftState { .. }
                if Trace::is_controller(&node) =>
            {
                match quorum_text(&node, event) {
                    Some(text) => self.push(line, MomentKind::Quorum, vec![node], None, text),
                    None if self.options.verbose => self.detail(line),
                    None => {}
                }
            }
            Event::BrokerRegistered { .. }
            | Event::BrokerFenced { .. }
            | Event::BrokerUnfenced { .. }
            | Event::BrokerControlledShutdown { .. } => {
                if line.replayed {
                    // A new active controller's replay of a record already told.
                    if self.options.verbose {
                        self.detail(line);
                    }
                } else if let Some((kind, b, what)) = self.broker_moment(line, event) {
                    let text = format!("{node} {what}");
                    self.push(line, kind, vec![node, b], None, text);
                }
            }
            Event::PartitionChanged { tp, .. } => {
                if let Some(change) = &line.change {
                    self.partition_changed(line, &node, self.trace.tp_name(*tp), change);
                }
            }
            Event::AlterPartitionSent {
                tp,
                isr,
                proposed_isr,
                ..
            } => {
                let what = if proposed_isr.len() > isr.len() {
                    "expand"
                } else {
                    "shrink"
                };
                let (from, to) = (id_list(isr), id_list(proposed_isr));
                self.about_partition(line, *tp, MomentKind::Isr, &node, |tp| {
                    format!(
                        "{tp}: leader {node} asks the controller to {what} the ISR {from} -> {to} (AlterPartition)"
                    )
                });
            }
            Event::AlterPartitionAnswered { tp, error, .. } => match error {
                Some(error) => {
                    let error = wire_name(error);
                    self.about_partition(line, *tp, MomentKind::Isr, &node, |tp| {
                        format!("{tp}: the controller refused {node}'s ISR change: {error}")
                    });
                }
                None if self.options.verbose => self.detail(line),
                None => {}
            },
            Event::ReplicaTruncated {
                tp,
                from_offset,
                to_offset,
                reason,
                ..
            } => {
                let why = match reason {
                    TruncationReason::HighWatermark => {
                        "its own high watermark, as a follower did before KIP-101 (the HW, not \
                         the leader's log, decides what is kept)"
                    }
                    TruncationReason::Diverged => "where it diverged from the leader",
                };
                self.about_partition(line, *tp, MomentKind::Truncation, &node, |tp| {
                    format!(
                        "{tp}: {node} truncated its log from offset {from_offset} to {to_offset}, {why} ({} records gone)",
                        from_offset.saturating_sub(*to_offset)
                    )
                });
            }
            Event::TruncationDetected {
                tp,
                position,
                end_offset,
            } => {
                self.about_partition(line, *tp, MomentKind::Client, &node, |tp| {
                    format!(
                        "{tp}: {node} found the log truncated below its position {position} (KIP-320): records it read are gone; it seeks back to {end_offset}"
                    )
                });
            }
            Event::Send { .. } => self.send(line, event, &node),
            _ if self.options.verbose => self.detail(line),
            _ => {}
        }
    }

    /// The active controller changed a broker's registration: what kind of moment, the
    /// broker, and what the controller did, in words.
    fn broker_moment(&self, line: &Line, event: &Event) -> Option<(MomentKind, String, String)> {
        Some(match event {
            Event::BrokerRegistered {
                broker,
                broker_epoch,
            } => {
                let b = broker_name(*broker);
                let what =
                    format!("registered {b} (broker epoch {broker_epoch}); it starts fenced");
                (MomentKind::Registration, b, what)
            }
            Event::BrokerFenced {
                broker,
                broker_epoch,
                reason,
                ..
            } => {
                let b = broker_name(*broker);
                let why = self.fence_reason(line, *reason, &b);
                let what = format!("fenced {b} (broker epoch {broker_epoch}): {why}");
                (MomentKind::Fencing, b, what)
            }
            Event::BrokerUnfenced {
                broker,
                broker_epoch,
                ..
            } => {
                let b = broker_name(*broker);
                let what = format!(
                    "unfenced {b} (broker epoch {broker_epoch}): it caught up with the metadata log"
                );
                (MomentKind::Registration, b, what)
            }
            Event::BrokerControlledShutdown { broker, .. } => {
                let b = broker_name(*broker);
                let what = format!(
                    "put {b} in controlled shutdown: it leaves every ISR and its leaderships move"
                );
                (MomentKind::Fencing, b, what)
            }
            _ => return None,
        })
    }

    /// A moment of `node` about partition `tp`, told by `text`.
    fn about_partition(
        &mut self,
        line: &Line,
        tp: TopicPartition,
        kind: MomentKind,
        node: &str,
        text: impl FnOnce(&str) -> String,
    ) {
        let tp = self.trace.tp_name(tp);
        let text = text(&tp);
        self.push(line, kind, vec![node.to_string()], Some(tp), text);
    }

    /// Why the controller fenced broker `b`.
    fn fence_reason(&self, line: &Line, reason: FenceReason, b: &str) -> String {
        match reason {
            FenceReason::SessionExpired => {
                let timeout = self
                    .options
                    .session_timeout_ms
                    .map(|ms| format!(" for more than {}.{} s", ms / 1000, (ms % 1000) / 100))
                    .unwrap_or_default();
                let since = self
                    .down_at
                    .get(b)
                    .filter(|&&d| d <= line.t_us)
                    .map(|&d| format!("; it went down at t={}", secs(d)))
                    .unwrap_or_default();
                format!("no heartbeat{timeout} (broker.session.timeout.ms){since}")
            }
            FenceReason::Reregistered => "a new incarnation of it registered".into(),
            other => wire_name(&other).replace('_', " "),
        }
    }

    /// A committed change told for the first time (the trace's fold drops replays).
    fn partition_changed(
        &mut self,
        line: &Line,
        node: &str,
        tp: String,
        change: &LeadershipChange,
    ) {
        let after = &change.after;
        let who = |l: Option<u32>| l.map_or_else(|| "none".to_string(), broker_name);
        let mut nodes = vec![node.to_string()];
        nodes.extend(after.leader.map(broker_name));
        let text = match &change.before {
            None => format!(
                "{tp}: created with leader {} (epoch {}), ISR {}",
                who(after.leader),
                after.leader_epoch,
                id_list(&after.isr)
            ),
            Some(before) => {
                let mut parts = Vec::new();
                if change.leader_moved() {
                    parts.push(format!(
                        "leader {} -> {} (epoch {} -> {})",
                        who(before.leader),
                        who(after.leader),
                        before.leader_epoch,
                        after.leader_epoch
                    ));
                }
                if change.isr_moved() {
                    parts.push(format!(
                        "ISR {} -> {}",
                        id_list(&before.isr),
                        id_list(&after.isr)
                    ));
                }
                if change.elr_moved() {
                    parts.push(format!(
                        "ELR {} -> {}",
                        id_list(&before.elr),
                        id_list(&after.elr)
                    ));
                }
                if parts.is_empty() {
                    parts.push(format!("partition epoch {}", after.partition_epoch));
                }
                let mut text = format!("{tp}: {}", parts.join(", "));
                if let Some(how) = change.election {
                    let _ = write!(text, " by {}", election_words(how));
                }
                text
            }
        };
        let kind = if change.leader_moved() {
            MomentKind::Leader
        } else {
            MomentKind::Isr
        };
        self.push(line, kind, nodes, Some(tp), text);
    }

    /// A producer's writes to a partition: narrated when their outcome changes (accepted,
    /// refused with an error), not write by write.
    fn send(&mut self, line: &Line, event: &Event, node: &str) {
        let Event::Send {
            op,
            tp,
            acks,
            error,
            ..
        } = event
        else {
            return;
        };
        if *op == SendOp::Invoke {
            if self.options.verbose {
                self.detail(line);
            }
            return;
        }
        let tp = self.trace.tp_name(*tp);
        let outcome: Outcome = match op {
            SendOp::Ok => None,
            _ => Some(
                error
                    .as_ref()
                    .map_or_else(|| "no answer (indeterminate)".to_string(), wire_name),
            ),
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

/// A controller's KRaft moment in words, if it is one worth telling.
fn quorum_text(node: &str, event: &Event) -> Option<String> {
    match event {
        Event::ControllerActivated { epoch } => Some(format!(
            "{node} won the KRaft election: leader of epoch {epoch}, the active controller"
        )),
        Event::ControllerRenounced { epoch } => Some(format!(
            "{node} is no longer the active controller (epoch {epoch} is over)"
        )),
        Event::RaftState { state, epoch, .. } => match state {
            RaftRole::Candidate => Some(format!(
                "{node} heard from no leader within its election timeout: candidate in epoch {epoch}, asking for votes"
            )),
            RaftRole::Prospective => Some(format!(
                "{node} heard from no leader: pre-vote (prospective) before standing in epoch {}",
                epoch + 1
            )),
            RaftRole::Resigned => Some(format!("{node} resigned as leader of epoch {epoch}")),
            _ => None,
        },
        _ => None,
    }
}

/// How a leader was chosen, in words.
fn election_words(how: Election) -> &'static str {
    match how {
        Election::Clean => "a clean election from the ISR",
        Election::Elr => "an ELR election (KIP-966)",
        Election::LastKnownLeader => "the last known leader (KIP-966)",
        Election::Unclean => "an UNCLEAN election from outside the ISR",
        Election::Preferred => "leader balancing: the preferred replica leads again",
        Election::None => "nobody eligible: the partition is offline",
    }
}

/// The moments of a run, in time order, violations included.
pub fn moments(trace: &Trace, options: &NarrateOptions) -> Vec<Moment> {
    let mut n = Narrator {
        trace,
        options,
        moments: Vec::new(),
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
            "The checkers found no violation: all {} invariants held ({safety} safety, checked after every event; {} liveness, bounds on how long recovery may take).",
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
    for m in moments {
        let Some(id) = violated_invariant(m) else {
            continue;
        };
        // The first violation of each invariant, with the chain that led to it.
        if told.insert(id.to_string(), ()).is_some() {
            continue;
        }
        out.push('\n');
        out.push_str(&violation_story(moments, m));
    }
    out
}

/// The invariant a violation moment broke (`VIOLATION acked_durability: ...`).
pub fn violated_invariant(m: &Moment) -> Option<&str> {
    (m.kind == MomentKind::Violation)
        .then(|| m.text.trim_start_matches("VIOLATION ").split(':').next())
        .flatten()
}

/// One violation told as `explain` tells it: the invariant and when it first broke, what the
/// checker saw, and the causal chain that led there.
pub fn violation_story(moments: &[Moment], m: &Moment) -> String {
    let mut out = String::new();
    let id = violated_invariant(m).unwrap_or("violation");
    let _ = writeln!(out, "{id} (first at t={}):", secs(m.t_us));
    let _ = writeln!(out, "  {}", m.text.trim_start_matches("VIOLATION "));
    let chain = causal_chain(moments, m);
    if !chain.is_empty() {
        let _ = writeln!(out, "  how it came about:");
        for c in chain {
            let _ = writeln!(out, "    t={:<10} {}", secs(c.t_us), c.text);
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
        let cut = |from: &[u32], to: &[u32]| {
            let ids = |v: &[u32]| v.iter().map(|&n| NodeId(n)).collect();
            let f = Fault::OneWay {
                from: ids(from),
                to: ids(to),
            };
            fault_text(&t, &f).0
        };
        assert_eq!(
            cut(&[0], &[0, 1]),
            "messages from broker-1 to broker-2 are lost (no connection between them can open until \
             it heals: the handshake needs both directions)"
        );
        assert!(cut(&[0], &[0]).contains("no link is cut"));
        assert!(cut(&[0, 1], &[1, 2]).contains("between different nodes"));
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
