//! Triage: failures grouped by what broke and the situation it broke in, so a sweep that hits
//! one bug thirty times reports one group of thirty, and shrinks one of them.
//!
//! A situation is coarse on purpose: the invariant, the roles of the nodes the violation
//! names, and the class of the last fault that hit one of them before it broke (a lossy
//! restart, a process loss, a network cut, slowness). No times, no node numbers, no seed, no
//! list of every fault the run drew: a swarm run draws many, and the same bug shows after any
//! mix of them. Two seeds that lose acknowledged writes after a power loss of the partition
//! leader land in one group whichever broker it was and whatever else happened before.

use crate::scenario::{FaultSpec, Scenario};

/// What a fault does to a node, coarsely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultClass {
    /// Power or disk loss: the node comes back without data it had acknowledged or voted on.
    LossyRestart,
    /// A crash or a shutdown: memory lost, the disk (and page cache) kept.
    ProcessLoss,
    /// A partition, an isolation or a one-way cut.
    NetworkCut,
    /// A pause or a slow node, link or connection.
    Slowness,
}

impl FaultClass {
    fn of(kind: &str) -> FaultClass {
        match kind {
            "power_loss" | "disk_loss" => FaultClass::LossyRestart,
            "crash" | "shutdown" => FaultClass::ProcessLoss,
            "partition" | "isolate" | "one_way" => FaultClass::NetworkCut,
            _ => FaultClass::Slowness,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FaultClass::LossyRestart => "a power or disk loss",
            FaultClass::ProcessLoss => "a crash or shutdown",
            FaultClass::NetworkCut => "a network cut",
            FaultClass::Slowness => "a pause or slowness",
        }
    }
}

/// The situation one failure happened in; equal situations are one group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Situation {
    pub invariant: String,
    /// Roles of the nodes the violation names, sorted: `broker`, `controller`, ...
    pub roles: Vec<String>,
    /// The class of the last fault before the violation that hit a node it names (any node,
    /// when it names none); none if no fault had.
    pub last_fault: Option<FaultClass>,
}

impl Situation {
    /// The situation of a violation of `invariant` at `time_ms`, naming `nodes`, in a run of
    /// `scenario`.
    pub fn of(scenario: &Scenario, invariant: &str, time_ms: f64, nodes: &[String]) -> Situation {
        let last_fault = scenario
            .faults
            .iter()
            .filter(|f| (f.at_ms as f64) <= time_ms)
            .filter_map(|f| {
                let (kind, targets) = started(f)?;
                let touches = nodes.is_empty() || targets.iter().any(|t| hits(t, nodes));
                touches.then(|| (f.at_ms, FaultClass::of(kind)))
            })
            // The latest; of two at one time, the later entry (as the run applies them).
            .max_by_key(|(at, _)| *at)
            .map(|(_, class)| class);
        let mut roles: Vec<String> = nodes.iter().map(|n| role(n).to_string()).collect();
        roles.sort();
        roles.dedup();
        Situation {
            invariant: invariant.to_string(),
            roles,
            last_fault,
        }
    }

    /// One line: `acked_durability on broker, after a power or disk loss`.
    pub fn signature(&self) -> String {
        let on = if self.roles.is_empty() {
            String::new()
        } else {
            format!(" on {}", self.roles.join("+"))
        };
        let after = match self.last_fault {
            Some(class) => format!("after {}", class.describe()),
            None => "with no fault on the nodes involved".to_string(),
        };
        format!("{}{on}, {after}", self.invariant)
    }
}

/// A fault entry that starts a fault: its kind and the nodes it names. Entries that end one
/// (restart, resume, heal, a slow-down back to zero) start nothing.
fn started(f: &FaultSpec) -> Option<(&'static str, Vec<&str>)> {
    fn one<'f>(kind: &'static str, node: &'f str) -> Option<(&'static str, Vec<&'f str>)> {
        Some((kind, vec![node]))
    }
    if let Some(n) = &f.crash {
        return one("crash", n);
    }
    if let Some(n) = &f.power_loss {
        return one("power_loss", n);
    }
    if let Some(n) = &f.disk_loss {
        return one("disk_loss", n);
    }
    if let Some(n) = &f.shutdown {
        return one("shutdown", n);
    }
    if let Some(n) = &f.pause {
        return one("pause", n);
    }
    if let Some(n) = &f.isolate {
        return one("isolate", n);
    }
    if let Some(groups) = &f.partition {
        let named = groups.iter().flatten().map(String::as_str).collect();
        return Some(("partition", named));
    }
    if let Some(o) = &f.one_way {
        let named = o.from.iter().chain(&o.to).map(String::as_str).collect();
        return Some(("one_way", named));
    }
    if let Some(s) = f.slow.as_ref().filter(|s| s.extra_ms > 0) {
        return one("slow", &s.node);
    }
    if let Some(s) = f.slow_link.as_ref().filter(|s| s.extra_ms > 0) {
        return Some(("slow_link", vec![s.from.as_str(), s.to.as_str()]));
    }
    if let Some(s) = f.slow_channel.as_ref().filter(|s| s.extra_ms > 0) {
        return Some(("slow_channel", vec![s.from.as_str(), s.to.as_str()]));
    }
    None
}

/// Whether a fault's target is one of `nodes` (`active-controller` is any controller).
fn hits(target: &str, nodes: &[String]) -> bool {
    nodes
        .iter()
        .any(|n| n == target || (target == "active-controller" && role(n) == "controller"))
}

/// `broker` of `broker-2`.
fn role(node: &str) -> &str {
    node.rsplit_once('-').map_or(node, |(role, _)| role)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(faults: serde_json::Value) -> Scenario {
        let doc = serde_json::json!({"name": "t", "duration_ms": 60000,
            "cluster": {"brokers": 3}, "faults": faults});
        crate::scenario::parse(&doc.to_string(), "t.json").expect("valid")
    }

    #[test]
    fn the_same_bug_on_another_broker_after_other_faults_is_the_same_situation() {
        let on = |broker: &str, before: serde_json::Value| {
            let mut faults = vec![before];
            faults.extend([
                serde_json::json!({"at_ms": 5000, "power_loss": broker}),
                serde_json::json!({"at_ms": 8000, "restart": broker}),
                serde_json::json!({"at_ms": 9000, "crash": "broker-3"}),
                serde_json::json!({"at_ms": 20000, "restart": "broker-3"}),
            ]);
            let s = scenario(serde_json::Value::Array(faults));
            Situation::of(&s, "acked_durability", 12000.0, &[broker.to_string()])
        };
        let a = on(
            "broker-1",
            serde_json::json!({"at_ms": 1000, "pause": "broker-1"}),
        );
        let b = on(
            "broker-2",
            serde_json::json!({"at_ms": 1000, "isolate": "broker-2"}),
        );
        assert_eq!(a, b);
        assert_eq!(
            a.signature(),
            "acked_durability on broker, after a power or disk loss"
        );
    }

    #[test]
    fn another_last_fault_is_another_situation() {
        let s = scenario(serde_json::json!([
            {"at_ms": 5000, "power_loss": "broker-1"},
            {"at_ms": 8000, "restart": "broker-1"},
            {"at_ms": 9000, "partition": [["broker-2"]]},
            {"at_ms": 20000, "heal": true},
        ]));
        let b1 = ["broker-1".to_string()];
        let b2 = ["broker-2".to_string()];
        let lossy = Situation::of(&s, "acked_durability", 7000.0, &b1);
        let cut = Situation::of(&s, "acked_durability", 12000.0, &b2);
        assert_eq!(lossy.last_fault, Some(FaultClass::LossyRestart));
        assert_eq!(cut.last_fault, Some(FaultClass::NetworkCut));
        assert_ne!(lossy, cut);
        // Before any fault, and for a violation that names no node (any fault counts).
        let early = Situation::of(&s, "acked_durability", 1000.0, &b1);
        assert_eq!(early.last_fault, None);
        assert!(
            early
                .signature()
                .ends_with("with no fault on the nodes involved")
        );
        let anywhere = Situation::of(&s, "eventually_led", 25000.0, &[]);
        assert_eq!(anywhere.signature(), "eventually_led, after a network cut");
    }
}
