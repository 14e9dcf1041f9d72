//! Kafka's own unit tests as a conformance suite. `tests/conformance/<KafkaTestClass>.json`
//! holds cases taken from that Kafka test class as facts (inputs and the expected outcome, never
//! code), each naming the Kafka test method it comes from. This file drives kafkasim's state
//! machines with the same inputs and compares. Where kafkasim differs on purpose, the case says
//! why (`kafkasim_differs`) and gives kafkasim's outcome, which is then what is checked.

use std::sync::Arc;

use serde_json::Value;
use sim_core::engine::{Delay, Effect, EffectOf, NodeId, SimDuration, SimTime};
use sim_core::kraft::controller::validate_alter_partition;
use sim_core::kraft::raft::{ElectionState, Raft, RaftConfig, RaftDisk, RaftRole};
use sim_core::kraft::{
    BrokerRegistration, ChangeContext, LeaderRecoveryState, MetadataImage, PartitionRegistration,
    TopicPartition, partition_change,
};
use sim_core::proto::{AlterPartitionRequest, Ctx, Msg, Timer, VoteRequest, VoteResponse};
use sim_core::world::Process;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|n| n as u32)
                .collect()
        })
        .unwrap_or_default()
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: kafkasim has {got:?}, expected {want:?}"))
    }
}

// ---- PartitionChangeBuilderTest: kraft::partition_change ----

fn registration(p: &Value) -> PartitionRegistration {
    PartitionRegistration {
        replicas: ids(&p["replicas"]),
        isr: ids(&p["isr"]),
        elr: ids(&p["elr"]),
        last_known_elr: ids(&p["last_known_elr"]),
        leader: p["leader"].as_u64().map(|l| l as u32),
        leader_epoch: p["leader_epoch"].as_u64().unwrap_or(0) as u32,
        partition_epoch: p["partition_epoch"].as_u64().unwrap_or(0) as u32,
        leader_recovery_state: if p["recovering"] == true {
            LeaderRecoveryState::Recovering
        } else {
            LeaderRecoveryState::Recovered
        },
    }
}

fn partition_case(case: &Value, expect: &Value) -> Result<(), String> {
    let p = registration(&case["partition"]);
    let unacceptable = ids(&case["unacceptable"]);
    let mut image = MetadataImage::default();
    for &b in &p.replicas {
        image.brokers.insert(
            b,
            BrokerRegistration {
                broker_epoch: 1,
                incarnation: 0,
                fenced: unacceptable.contains(&b),
                in_controlled_shutdown: false,
            },
        );
    }
    let cx = ChangeContext {
        image: &image,
        min_isr: case["min_isr"].as_u64().unwrap_or(1) as usize,
        unclean_enabled: case["unclean"] == true,
        preferred: case["election"] == "preferred",
        elr_enabled: case["elr"] == true,
        removing: None,
        adding: None,
        unclean_shutdown: case["unclean_shutdown"].as_u64().map(|b| b as u32),
    };
    let target = match &case["target_isr"] {
        Value::Null => p.isr.clone(),
        t => ids(t),
    };
    let tp = TopicPartition {
        topic: 0,
        partition: 0,
    };
    let change = partition_change(tp, &p, target, &cx);
    if expect["change"] == false {
        return same("a change record", change.is_some(), false);
    }
    let c = change.ok_or("kafkasim builds no change record")?;
    if let Some(l) = expect.get("leader") {
        same("leader", c.leader, Some(l.as_u64().map(|l| l as u32)))?;
    }
    if let Some(isr) = expect.get("isr") {
        same("isr", c.isr.clone(), Some(ids(isr)))?;
    }
    if let Some(elr) = expect.get("elr") {
        same("elr", c.elr.clone(), Some(ids(elr)))?;
    }
    if expect["recovering"] == true {
        same(
            "leader recovery state",
            c.leader_recovery_state,
            Some(LeaderRecoveryState::Recovering),
        )?;
    }
    if expect["no_isr_change"] == true {
        same("isr", c.isr.clone().unwrap_or(p.isr.clone()), p.isr.clone())?;
    }
    if expect["no_recovery_change"] == true {
        same("recovery state change", c.leader_recovery_state, None)?;
    }
    if let Some(e) = expect.get("election") {
        let got = serde_json::to_value(c.election).unwrap_or_default();
        same("election", got, e.clone())?;
    }
    let mut after = p.clone();
    after.merge(&c);
    if let Some(e) = expect["leader_epoch"].as_u64() {
        same("leader epoch after", after.leader_epoch, e as u32)?;
    }
    if let Some(e) = expect["partition_epoch"].as_u64() {
        same("partition epoch after", after.partition_epoch, e as u32)?;
    }
    if let Some(elr) = expect.get("elr_after") {
        same("elr after", after.elr, ids(elr))?;
    }
    if let Some(lk) = expect.get("last_known_elr_after") {
        same("last known elr after", after.last_known_elr, ids(lk))?;
    }
    Ok(())
}

// ---- ReplicationControlManagerTest: validate_alter_partition, and fencing sequences ----

fn broker_image(brokers: &[u32]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for &b in brokers {
        image.brokers.insert(
            b,
            BrokerRegistration {
                broker_epoch: 100 + u64::from(b),
                incarnation: 0,
                fenced: false,
                in_controlled_shutdown: false,
            },
        );
    }
    image
}

fn alter_partition_case(case: &Value, expect: &Value) -> Result<(), String> {
    let tp = TopicPartition {
        topic: 0,
        partition: 0,
    };
    let mut image = broker_image(&[0, 1, 2]);
    image.partitions.insert(
        tp,
        Arc::new(PartitionRegistration {
            replicas: vec![0, 1, 2],
            isr: vec![0, 1, 2],
            elr: vec![],
            last_known_elr: vec![],
            leader: Some(0),
            leader_epoch: 0,
            partition_epoch: 0,
            leader_recovery_state: LeaderRecoveryState::Recovered,
        }),
    );
    let a = &case["alter_partition"];
    let req = AlterPartitionRequest {
        broker: a["broker"].as_u64().ok_or("alter_partition.broker")? as u32,
        broker_epoch: a["broker_epoch"]
            .as_u64()
            .ok_or("alter_partition.broker_epoch")?,
        tp: TopicPartition {
            topic: a["topic"].as_u64().unwrap_or(0) as u32,
            partition: 0,
        },
        leader_epoch: a["leader_epoch"].as_u64().unwrap_or(0) as u32,
        partition_epoch: a["partition_epoch"].as_u64().unwrap_or(0) as u32,
        // The broker epochs the leader saw fetching: the registered ones.
        new_isr: ids(&a["new_isr"])
            .into_iter()
            .map(|b| (b, Some(100 + u64::from(b))))
            .collect(),
        proposal: 0,
    };
    let got = validate_alter_partition(&image, &req)
        .err()
        .map(|e| format!("{e:?}"));
    same("error", got, expect["error"].as_str().map(str::to_string))
}

/// One broker event on the partition, as the controller applies it.
fn apply_change(p: &mut PartitionRegistration, cx: &ChangeContext<'_>, target: Vec<u32>) {
    let tp = TopicPartition {
        topic: 0,
        partition: 0,
    };
    if let Some(c) = partition_change(tp, p, target, cx) {
        p.merge(&c);
    }
}

fn fencing_case(case: &Value, steps: &Value) -> Result<(), String> {
    let f = &case["fencing"];
    let mut p = registration(&f["partition"]);
    let mut image = broker_image(&p.replicas);
    let min_isr = f["min_isr"].as_u64().unwrap_or(1) as usize;
    let elr_enabled = f["elr"] == true;
    // Which broker is leaving (fenced, or shut down uncleanly) and which is coming back.
    let event = |image: &MetadataImage,
                 p: &mut PartitionRegistration,
                 target: Vec<u32>,
                 removing: Option<u32>,
                 adding: Option<u32>,
                 unclean_shutdown: Option<u32>| {
        let cx = ChangeContext {
            image,
            min_isr,
            unclean_enabled: false,
            preferred: false,
            elr_enabled,
            removing,
            adding,
            unclean_shutdown,
        };
        apply_change(p, &cx, target);
    };
    let steps = steps
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or("no steps")?;
    for (i, step) in steps.iter().enumerate() {
        for b in ids(&step["fence"]) {
            // handleBrokerFenced: out of the ISR, a new leader if it led, then fenced.
            let target: Vec<u32> = p.isr.iter().copied().filter(|&r| r != b).collect();
            event(&image, &mut p, target, Some(b), None, None);
            if let Some(reg) = image.brokers.get_mut(&b) {
                reg.fenced = true;
            }
        }
        for b in ids(&step["unfence"]) {
            // handleBrokerUnfenced: a leaderless partition may elect it.
            if let Some(reg) = image.brokers.get_mut(&b) {
                reg.fenced = false;
            }
            if p.leader.is_none() {
                let target = p.isr.clone();
                event(&image, &mut p, target, None, Some(b), None);
            }
        }
        if let Some(b) = step["unclean_shutdown"].as_u64().map(|b| b as u32) {
            // handleBrokerUncleanShutdown: out of ISR and ELR, never chosen.
            let target: Vec<u32> = p.isr.iter().copied().filter(|&r| r != b).collect();
            event(&image, &mut p, target, Some(b), None, Some(b));
        }
        let e = &step["expect"];
        let at = |r: Result<(), String>| r.map_err(|err| format!("step {i}: {err}"));
        if let Some(l) = e.get("leader") {
            at(same("leader", p.leader, l.as_u64().map(|l| l as u32)))?;
        }
        if let Some(isr) = e.get("isr") {
            at(same("isr", p.isr.clone(), ids(isr)))?;
        }
        if let Some(elr) = e.get("elr") {
            at(same("elr", p.elr.clone(), ids(elr)))?;
        }
        if let Some(lk) = e.get("last_known_elr") {
            at(same("last known elr", p.last_known_elr.clone(), ids(lk)))?;
        }
    }
    Ok(())
}

// ---- QuorumStateTest and KafkaRaftClient*Test: kraft::raft::Raft ----

fn raft_config(prevote: bool) -> Arc<RaftConfig> {
    Arc::new(RaftConfig::kafka_defaults(
        vec![NodeId(0), NodeId(1), NodeId(2)],
        prevote,
    ))
}

fn node(v: &Value) -> Option<NodeId> {
    v.as_u64().map(|n| NodeId(n as u32))
}

fn role_name(r: RaftRole) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

/// What an input did to the election timer: "fresh" (a new random timeout), "due" (nothing
/// left: it fires now), "kept" (left alone), or "cancelled".
fn election_timer(effects: &[EffectOf<Process>]) -> &'static str {
    let mut what = "kept";
    for e in effects {
        match e {
            Effect::SetTimer {
                timer: Timer::Election,
                delay: Delay::Uniform { .. },
            } => what = "fresh",
            Effect::SetTimer {
                timer: Timer::Election,
                delay: Delay::Fixed(d),
            } if *d == SimDuration::ZERO => what = "due",
            Effect::SetTimer {
                timer: Timer::Election,
                ..
            } => what = "set",
            Effect::CancelTimer {
                timer: Timer::Election,
            } => what = "cancelled",
            _ => {}
        }
    }
    what
}

fn raft_case(case: &Value, steps: &Value) -> Result<(), String> {
    let me = NodeId(case["me"].as_u64().unwrap_or(0) as u32);
    let mut disk = RaftDisk::default();
    if let Some(p) = case.get("persisted") {
        disk.quorum_state.write_sync(ElectionState {
            epoch: p["epoch"].as_u64().unwrap_or(0) as u32,
            voted_for: node(&p["voted_for"]),
            leader: node(&p["leader"]),
        });
    }
    let mut raft = Raft::boot(raft_config(case["prevote"] != false), me, disk, 0);
    let steps = steps
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or("no steps")?;
    for (i, step) in steps.iter().enumerate() {
        let at = SimTime::from_millis(step["at_ms"].as_u64().unwrap_or(0));
        let input = &step["input"];
        let mut effects = Vec::new();
        {
            let mut ctx = Ctx::new(at, me, &mut effects);
            if input["start"] == true {
                raft.start(&mut ctx);
            } else if input["election_timeout"] == true {
                raft.on_election_timeout(&mut ctx);
            } else if let Some(v) = input.get("vote") {
                let from = node(&v["from"]).ok_or("vote.from")?;
                let req = VoteRequest {
                    epoch: v["epoch"].as_u64().unwrap_or(0) as u32,
                    last_epoch: v["last_epoch"].as_u64().unwrap_or(0) as u32,
                    last_offset: v["last_offset"].as_u64().unwrap_or(0),
                    pre_vote: v["pre_vote"] == true,
                };
                raft.on_vote(&mut ctx, from, req);
            } else if let Some(v) = input.get("vote_response") {
                let from = node(&v["from"]).ok_or("vote_response.from")?;
                let resp = VoteResponse {
                    epoch: v["epoch"].as_u64().unwrap_or(0) as u32,
                    leader: node(&v["leader"]),
                    granted: v["granted"] == true,
                    pre_vote: v["pre_vote"] == true,
                };
                raft.on_vote_response(&mut ctx, from, resp);
            } else if let Some(b) = input.get("begin_quorum_epoch") {
                let from = node(&b["from"]).ok_or("begin_quorum_epoch.from")?;
                raft.on_begin_quorum_epoch(&mut ctx, from, b["epoch"].as_u64().unwrap_or(0) as u32);
            } else if input["fetch_timeout"] == true {
                raft.on_fetch_timeout(&mut ctx);
            } else {
                return Err(format!("step {i}: unknown input {input}"));
            }
        }
        let expect = &step["expect"];
        let at_step = |r: Result<(), String>| r.map_err(|e| format!("step {i}: {e}"));
        if let Some(role) = expect.get("role") {
            at_step(same("role", role_name(raft.role()), role.clone()))?;
        }
        if let Some(e) = expect["epoch"].as_u64() {
            at_step(same("epoch", raft.epoch(), e as u32))?;
        }
        if let Some(l) = expect.get("leader") {
            at_step(same("leader", raft.leader(), node(l)))?;
        }
        if let Some(l) = expect.get("persisted_leader") {
            let persisted = raft.disk().quorum_state.get().and_then(|s| s.leader);
            at_step(same("persisted leader", persisted, node(l)))?;
        }
        if let Some(v) = expect.get("persisted_voted_for") {
            let persisted = raft.disk().quorum_state.get().and_then(|s| s.voted_for);
            at_step(same("persisted vote", persisted, node(v)))?;
        }
        if let Some(g) = expect["granted"].as_bool() {
            let granted = effects.iter().find_map(|e| match e {
                Effect::Send {
                    msg: Msg::VoteResponse(r),
                    ..
                } => Some(r.granted),
                _ => None,
            });
            at_step(same("vote granted", granted, Some(g)))?;
        }
        if let Some(t) = expect["election_timer"].as_str() {
            at_step(same("election timer", election_timer(&effects), t))?;
        }
        if expect["fetch_timer"] == true {
            let armed = effects.iter().any(|e| {
                matches!(
                    e,
                    Effect::SetTimer {
                        timer: Timer::FetchTimeout,
                        ..
                    }
                )
            });
            at_step(same("fetch timer armed", armed, true))?;
        }
    }
    Ok(())
}

// ---- the suite ----

struct Outcome {
    file: String,
    method: String,
    fact: String,
    deliberate: bool,
    result: Result<(), String>,
}

fn run_file(path: &std::path::Path) -> Vec<Outcome> {
    let text = std::fs::read_to_string(path).expect("readable");
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not valid JSON: {e}", path.display()));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let class = doc["class"].as_str().unwrap_or("");
    let mut out = Vec::new();
    for case in doc["cases"].as_array().into_iter().flatten() {
        let differs = case.get("kafkasim_differs");
        let result = match class {
            "PartitionChangeBuilderTest" => {
                let expect = differs.map_or(&case["expect"], |d| &d["expect"]);
                partition_case(case, expect)
            }
            "ReplicationControlManagerTest" if case.get("alter_partition").is_some() => {
                let expect = differs.map_or(&case["expect"], |d| &d["expect"]);
                alter_partition_case(case, expect)
            }
            "ReplicationControlManagerTest" => {
                let steps = differs.map_or(&case["fencing"]["steps"], |d| &d["steps"]);
                fencing_case(case, steps)
            }
            "QuorumStateTest" | "KafkaRaftClientPreVoteTest" => {
                let steps = differs.map_or(&case["steps"], |d| &d["steps"]);
                raft_case(case, steps)
            }
            other => Err(format!("no runner for Kafka test class {other:?}")),
        };
        if let Some(d) = differs {
            assert!(
                d["why"].as_str().is_some_and(|w| !w.is_empty()),
                "{file}: {}: a deliberate difference must say why",
                case["method"]
            );
        }
        out.push(Outcome {
            file: file.clone(),
            method: case["method"].as_str().unwrap_or("?").to_string(),
            fact: case["fact"].as_str().unwrap_or("").to_string(),
            deliberate: differs.is_some(),
            result,
        });
    }
    out
}

#[test]
fn kafkas_own_unit_tests_hold_in_kafkasim() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/conformance")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let outcomes: Vec<Outcome> = files.iter().flat_map(|f| run_file(f)).collect();
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("{} {}: {} ({})", o.file, o.method, e, o.fact))
        })
        .collect();
    let deliberate = outcomes.iter().filter(|o| o.deliberate).count();
    println!(
        "{} conformance cases from {} Kafka test classes, {} of them a stated, deliberate difference",
        outcomes.len(),
        files.len(),
        deliberate
    );
    assert!(
        failed.is_empty(),
        "{} case(s) differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        outcomes.len() >= 60,
        "the suite shrank to {} cases",
        outcomes.len()
    );
}
