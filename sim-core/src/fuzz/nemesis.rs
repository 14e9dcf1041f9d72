//! The random nemesis: a fault schedule drawn from a seed, written as plain scenario fault
//! entries so a failing schedule is an ordinary, replayable scenario.
//!
//! Swarm testing (TigerBeetle's VOPR, FoundationDB's simulator; Groce et al., "Swarm Testing",
//! ISSTA 2012): each seed first decides which fault kinds are on at all and how often faults come
//! and how long they last, then draws faults of those kinds at random times. A seed with only
//! pauses and slow links finds different bugs from one with constant crashes, and a uniform mix
//! of everything finds neither well.
//!
//! The cluster is only asked to survive what Kafka promises to survive: every fault ends (a
//! crashed node restarts, a cut heals, a slow node recovers) by `faults_until_ms`, so liveness
//! can be judged afterwards; lossy shutdowns of brokers (power and disk loss) are capped; a
//! controller's disk is never lost, since KRaft without KIP-853 cannot promise safety then.

use crate::engine::{SimRng, Stream};
use crate::proto::CHANNELS;
use crate::scenario::{
    FaultSpec, Member, OneWaySpec, Role, SlowChannelSpec, SlowLinkSpec, SlowSpec,
};

/// The kinds of fault the nemesis draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Process crash, then restart.
    Crash,
    /// Host power loss (unflushed writes lost), then restart.
    PowerLoss,
    /// Disk loss of a broker (it restarts empty); never of a controller.
    DiskLoss,
    /// Clean shutdown (controlled shutdown for a broker), then restart.
    Shutdown,
    /// The process stops (SIGSTOP, a GC pause), then resumes.
    Pause,
    /// The nodes split into two random sides, then heal.
    Partition,
    /// One node is cut off from every other, then heal.
    Isolate,
    /// Messages from one node to another are lost (and no connection between the two can open,
    /// as in TCP), then heal.
    OneWay,
    /// Every message to or from one node is late, then normal again.
    SlowNode,
    /// Every message on one directed link is late, then normal again.
    SlowLink,
    /// Every message on one connection of a directed link is late (a stuck request ahead of
    /// them, BUGGIFY-style), then normal again. The explorer draws it; the plain nemesis keeps
    /// to [`FaultKind::ALL`], so its schedules stay what they were.
    SlowChannel,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Crash,
        FaultKind::PowerLoss,
        FaultKind::DiskLoss,
        FaultKind::Shutdown,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Isolate,
        FaultKind::OneWay,
        FaultKind::SlowNode,
        FaultKind::SlowLink,
    ];

    fn is_network(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::Isolate | FaultKind::OneWay
        )
    }
}

/// What the nemesis may do.
#[derive(Clone, Debug)]
pub struct NemesisOptions {
    /// Faults start after this (let the first election happen).
    pub faults_from_ms: u64,
    /// No fault after this: every fault has ended by then, so liveness can be judged.
    pub faults_until_ms: u64,
    /// Gap between fault starts, drawn in this range (swarm: a sub-range per seed).
    pub gap_ms: (u64, u64),
    /// How long a fault lasts, drawn in this range (swarm: a sub-range per seed).
    pub outage_ms: (u64, u64),
    /// The kinds the nemesis may draw from.
    pub kinds: Vec<FaultKind>,
    /// Swarm testing: each seed switches each kind on or off and narrows the rates. Off, every
    /// kind in `kinds` is on and the full ranges are used.
    pub swarm: bool,
    /// Most lossy shutdowns (power or disk loss) of brokers in the whole schedule; past it one
    /// becomes a process crash. Kafka promises acknowledged data only through
    /// `min.insync.replicas - 1` lossy shutdowns (kafka-protocol.md §3.5), and `acked_durability`
    /// leaves a partition unchecked past that, so a sweep that wants its data checked sets this
    /// to `min.insync.replicas - 1`.
    pub broker_lossy_shutdowns: u32,
    /// Extra delay of a slow node or link, drawn in this range.
    pub slow_ms: (u64, u64),
}

impl Default for NemesisOptions {
    /// The sweeps' nemesis: crashes, power losses, pauses and network cuts, every kind on.
    fn default() -> Self {
        NemesisOptions {
            faults_from_ms: 3_000,
            faults_until_ms: 60_000,
            gap_ms: (500, 6_000),
            outage_ms: (200, 12_000),
            kinds: vec![
                FaultKind::Crash,
                FaultKind::PowerLoss,
                FaultKind::Partition,
                FaultKind::Isolate,
                FaultKind::OneWay,
                FaultKind::Pause,
            ],
            swarm: true,
            broker_lossy_shutdowns: u32::MAX,
            slow_ms: (50, 3_000),
        }
    }
}

impl NemesisOptions {
    /// The fuzzer's nemesis: every kind, swarm on, lossy shutdowns within `acked_durability`'s
    /// scope for `min_insync_replicas`.
    pub fn fuzz(faults_until_ms: u64, min_insync_replicas: u32) -> NemesisOptions {
        NemesisOptions {
            faults_until_ms,
            kinds: FaultKind::ALL.to_vec(),
            broker_lossy_shutdowns: min_insync_replicas.saturating_sub(1),
            ..NemesisOptions::default()
        }
    }
}

/// The kinds and rates one seed uses.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmDraw {
    pub kinds: Vec<FaultKind>,
    pub gap_ms: (u64, u64),
    pub outage_ms: (u64, u64),
}

/// Swarm: which kinds are on for this seed, and at what rates. About one seed in sixteen has
/// no fault at all (a baseline the rest are measured against).
fn swarm(rng: &mut SimRng, options: &NemesisOptions) -> SwarmDraw {
    if !options.swarm {
        return SwarmDraw {
            kinds: options.kinds.clone(),
            gap_ms: options.gap_ms,
            outage_ms: options.outage_ms,
        };
    }
    let kinds: Vec<FaultKind> = if rng.chance(1.0 / 16.0) {
        Vec::new()
    } else {
        let mut kinds: Vec<FaultKind> = options
            .kinds
            .iter()
            .copied()
            .filter(|_| rng.chance(0.5))
            .collect();
        if kinds.is_empty() && !options.kinds.is_empty() {
            kinds.push(options.kinds[rng.below(options.kinds.len() as u64) as usize]);
        }
        kinds
    };
    // Rates: a sub-range of each range, from "constant" to "rare" and "blips" to "long".
    let narrow = |rng: &mut SimRng, (lo, hi): (u64, u64)| {
        let a = rng.between(lo, hi);
        let b = rng.between(lo, hi);
        (a.min(b), a.max(b))
    };
    SwarmDraw {
        kinds,
        gap_ms: narrow(rng, options.gap_ms),
        outage_ms: narrow(rng, options.outage_ms),
    }
}

/// Draws a fault schedule for `members` from `seed`, on its own stream (the workload and the
/// network do not move when the schedule changes).
pub fn random_faults(members: &[Member], seed: u64, options: &NemesisOptions) -> Vec<FaultSpec> {
    let mut rng = SimRng::new(seed, Stream::Faults);
    let draw = swarm(&mut rng, options);
    schedule(&mut rng, members, &draw, options)
}

/// Draws the schedule of one seed's swarm draw. Each draw is taken only once its target is
/// known to be free, so the schedule of a seed never changes with what is drawn after it.
fn schedule(
    rng: &mut SimRng,
    members: &[Member],
    draw: &SwarmDraw,
    options: &NemesisOptions,
) -> Vec<FaultSpec> {
    let targets: Vec<(String, bool)> = members
        .iter()
        .filter(|m| matches!(m.role, Role::Controller | Role::Broker))
        .map(|m| (m.name.clone(), m.role == Role::Broker))
        .collect();
    let n = targets.len();
    let mut episodes = Episodes::new(targets, options.broker_lossy_shutdowns);
    if n == 0 || draw.kinds.is_empty() {
        return episodes.finish();
    }
    // Another target than `i`.
    let other = |rng: &mut SimRng, i: usize| (i + 1 + rng.below(n as u64 - 1) as usize) % n;
    let mut at = options.faults_from_ms;
    while at < options.faults_until_ms {
        let kind = draw.kinds[rng.below(draw.kinds.len() as u64) as usize];
        let outage = rng.between(draw.outage_ms.0, draw.outage_ms.1);
        let end = (at + outage).min(options.faults_until_ms);
        let target = rng.below(n as u64) as usize;
        if episodes.is_free(kind, target, at) {
            let mut e = Episode::on(kind, target, at, end);
            match kind {
                FaultKind::SlowNode => {
                    e.extra_ms = rng.between(options.slow_ms.0, options.slow_ms.1);
                }
                FaultKind::SlowLink | FaultKind::SlowChannel => {
                    e.other = other(rng, target);
                    e.extra_ms = rng.between(options.slow_ms.0, options.slow_ms.1);
                }
                FaultKind::Partition => e.side = (0..n).filter(|_| rng.chance(0.5)).collect(),
                FaultKind::OneWay => e.other = other(rng, target),
                _ => {}
            }
            episodes.add(&e);
        }
        at += rng.between(draw.gap_ms.0, draw.gap_ms.1);
    }
    episodes.finish()
}

/// What an entry does, for pairing: (kind, target); ends are `restart`, `resume`, `heal` and
/// a slow entry with 0 extra.
pub(crate) fn role(f: &FaultSpec) -> (&'static str, String, bool) {
    let one = |kind, node: &String, is_end| (kind, node.clone(), is_end);
    if let Some(n) = f
        .crash
        .as_ref()
        .or(f.power_loss.as_ref())
        .or(f.disk_loss.as_ref())
        .or(f.shutdown.as_ref())
    {
        return one("down", n, false);
    }
    if let Some(n) = &f.restart {
        return one("down", n, true);
    }
    if let Some(n) = &f.pause {
        return one("pause", n, false);
    }
    if let Some(n) = &f.resume {
        return one("pause", n, true);
    }
    if let Some(s) = &f.slow {
        return one("slow", &s.node, s.extra_ms == 0);
    }
    if let Some(s) = &f.slow_link {
        return ("slow_link", format!("{}>{}", s.from, s.to), s.extra_ms == 0);
    }
    if let Some(s) = &f.slow_channel {
        let target = format!("{}>{}:{}", s.from, s.to, s.channel);
        return ("slow_channel", target, s.extra_ms == 0);
    }
    if f.heal.is_some() {
        return ("net", String::new(), true);
    }
    ("net", String::new(), false)
}

/// The schedule as it stands at `at_ms` with nothing more to start: every entry at or before
/// `at_ms`, and of the later ones only the ends of episodes already under way then (a restart,
/// a resume, a heal, a slow node, link or connection fast again), so nothing stays down, cut
/// or slow. `faults` is a well-formed schedule in time order.
pub(crate) fn under_way(faults: &[FaultSpec], at_ms: u64) -> Vec<FaultSpec> {
    let mut open = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(faults.len());
    for f in faults {
        let (kind, target, is_end) = role(f);
        let key = (kind, target);
        if f.at_ms <= at_ms {
            if is_end {
                open.remove(&key);
            } else {
                open.insert(key);
            }
            out.push(f.clone());
        } else if is_end && open.remove(&key) {
            out.push(f.clone());
        }
    }
    out
}

/// What a schedule keeps busy, so episodes can be added to it at any time, also between its
/// entries (the explorer adds them to a run already under way), by the rules [`Episodes`]
/// keeps: a node down or paused in one episode at a time, slow in one at a time, one network
/// cut, one slow link and one slow channel at a time, and the budget of lossy shutdowns of
/// brokers. Busy spans include their ends, so an added episode never shares a millisecond
/// with one it could collide with.
#[derive(Clone, Debug)]
pub(crate) struct Occupancy {
    targets: Vec<(String, bool)>,
    busy: std::collections::BTreeMap<(&'static str, String), Vec<(u64, u64)>>,
    lossy_left: u32,
}

impl Occupancy {
    /// The occupancy of `faults` (a well-formed schedule in time order) on `targets`.
    pub(crate) fn of(
        targets: Vec<(String, bool)>,
        faults: &[FaultSpec],
        broker_lossy_shutdowns: u32,
    ) -> Occupancy {
        let is_broker = |name: &str| targets.iter().any(|(n, b)| n == name && *b);
        let lossy = faults
            .iter()
            .filter_map(|f| f.power_loss.as_ref().or(f.disk_loss.as_ref()))
            .filter(|n| is_broker(n))
            .count() as u32;
        let mut busy: std::collections::BTreeMap<_, Vec<(u64, u64)>> = Default::default();
        let mut open = std::collections::BTreeMap::new();
        for f in faults {
            let (kind, target, is_end) = role(f);
            let key = Self::resource(kind, target);
            if is_end {
                let from = open.remove(&key).unwrap_or(f.at_ms);
                busy.entry(key).or_default().push((from, f.at_ms));
            } else {
                open.entry(key).or_insert(f.at_ms);
            }
        }
        for (key, from) in open {
            busy.entry(key).or_default().push((from, u64::MAX));
        }
        Occupancy {
            targets,
            busy,
            lossy_left: broker_lossy_shutdowns.saturating_sub(lossy),
        }
    }

    /// The thing a fault of `kind` (as [`role`] names it) on `target` keeps busy.
    fn resource(kind: &'static str, target: String) -> (&'static str, String) {
        match kind {
            "down" | "pause" => ("node", target),
            "slow" => ("slow", target),
            other => (other, String::new()),
        }
    }

    fn resource_of(&self, e: &Episode) -> (&'static str, String) {
        let name = self.targets[e.target].0.clone();
        match e.kind {
            FaultKind::SlowNode => ("slow", name),
            FaultKind::SlowLink => ("slow_link", String::new()),
            FaultKind::SlowChannel => ("slow_channel", String::new()),
            k if k.is_network() => ("net", String::new()),
            _ => ("node", name),
        }
    }

    /// Whether a broker may still lose power or its disk (the budget is not spent).
    pub(crate) fn lossy_left(&self) -> bool {
        self.lossy_left > 0
    }

    /// The episode's two entries, if it fits the schedule; it is then part of it.
    pub(crate) fn add(&mut self, e: &Episode) -> Option<Vec<FaultSpec>> {
        let needs_two =
            matches!(e.kind, FaultKind::SlowLink | FaultKind::SlowChannel) || e.kind.is_network();
        if e.target >= self.targets.len()
            || e.end_ms <= e.start_ms
            || (needs_two && self.targets.len() < 2)
        {
            return None;
        }
        let key = self.resource_of(e);
        let spans = self.busy.get(&key).map(Vec::as_slice).unwrap_or_default();
        if spans
            .iter()
            .any(|&(from, to)| e.start_ms <= to && from <= e.end_ms)
        {
            return None;
        }
        let mut one = Episodes::new(self.targets.clone(), self.lossy_left);
        one.add(e);
        self.lossy_left = one.lossy_left;
        self.busy
            .entry(key)
            .or_default()
            .push((e.start_ms, e.end_ms));
        Some(one.finish())
    }
}

/// One fault and its end, on targets numbered as in [`Episodes::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    pub kind: FaultKind,
    pub target: usize,
    /// The other end of a one-way cut or a slow link; the same as `target` otherwise (a
    /// one-way cut to itself isolates the target).
    pub other: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The extra delay of a slow node or link.
    pub extra_ms: u64,
    /// The targets on one side of a partition; none, or all, isolates the target instead.
    pub side: Vec<usize>,
    /// The connection a slow channel delays, by index into [`CHANNELS`].
    pub channel: usize,
}

impl Episode {
    /// An episode of `kind` on `target` alone (no other end, no delay, no side), from
    /// `start_ms` to `end_ms`.
    pub fn on(kind: FaultKind, target: usize, start_ms: u64, end_ms: u64) -> Episode {
        Episode {
            kind,
            target,
            other: target,
            start_ms,
            end_ms,
            extra_ms: 0,
            side: Vec::new(),
            channel: 0,
        }
    }
}

/// Turns episodes into a well-formed fault schedule: a target is down (or paused) in one
/// episode at a time, slow in one at a time, one network cut and one slow link are in force at a
/// time (a heal heals every cut), lossy shutdowns of brokers stay within a budget (past it they
/// become process crashes) and a controller never loses its disk (it loses power instead).
/// Shared by the nemesis and the proptest strategies.
#[derive(Clone, Debug)]
pub struct Episodes {
    /// (name, is a broker) of each target.
    targets: Vec<(String, bool)>,
    down_until: Vec<u64>,
    slow_until: Vec<u64>,
    net_until: u64,
    link_slow_until: u64,
    channel_slow_until: u64,
    lossy_left: u32,
    faults: Vec<FaultSpec>,
}

impl Episodes {
    pub fn new(targets: Vec<(String, bool)>, broker_lossy_shutdowns: u32) -> Episodes {
        let n = targets.len();
        Episodes {
            targets,
            down_until: vec![0; n],
            slow_until: vec![0; n],
            net_until: 0,
            link_slow_until: 0,
            channel_slow_until: 0,
            lossy_left: broker_lossy_shutdowns,
            faults: Vec::new(),
        }
    }

    /// Whether an episode of `kind` on `target` may start at `at`.
    pub(crate) fn is_free(&self, kind: FaultKind, target: usize, at: u64) -> bool {
        let several = self.targets.len() > 1;
        match kind {
            FaultKind::SlowNode => self.slow_until[target] <= at,
            FaultKind::SlowLink => several && self.link_slow_until <= at,
            FaultKind::SlowChannel => several && self.channel_slow_until <= at,
            k if k.is_network() => several && self.net_until <= at,
            _ => self.down_until[target] <= at,
        }
    }

    /// Adds the episode's two entries if its target is free; returns whether it did.
    pub fn add(&mut self, e: &Episode) -> bool {
        if !self.is_free(e.kind, e.target, e.start_ms) {
            return false;
        }
        let name = |i: usize| self.targets[i].0.clone();
        let node = name(e.target);
        let mut start = FaultSpec {
            at_ms: e.start_ms,
            ..FaultSpec::default()
        };
        let mut end = FaultSpec {
            at_ms: e.end_ms,
            ..FaultSpec::default()
        };
        match e.kind {
            FaultKind::SlowNode => {
                start.slow = Some(SlowSpec {
                    node: node.clone(),
                    extra_ms: e.extra_ms,
                });
                end.slow = Some(SlowSpec { node, extra_ms: 0 });
                self.slow_until[e.target] = e.end_ms;
            }
            FaultKind::SlowLink => {
                let link = |extra_ms| SlowLinkSpec {
                    from: node.clone(),
                    to: name(e.other),
                    extra_ms,
                };
                start.slow_link = Some(link(e.extra_ms));
                end.slow_link = Some(link(0));
                self.link_slow_until = e.end_ms;
            }
            FaultKind::SlowChannel => {
                let channel = |extra_ms| SlowChannelSpec {
                    from: node.clone(),
                    to: name(e.other),
                    channel: CHANNELS[e.channel % CHANNELS.len()].0.to_string(),
                    extra_ms,
                };
                start.slow_channel = Some(channel(e.extra_ms));
                end.slow_channel = Some(channel(0));
                self.channel_slow_until = e.end_ms;
            }
            k if k.is_network() => {
                let n = self.targets.len();
                if k == FaultKind::Partition && !e.side.is_empty() && e.side.len() < n {
                    start.partition = Some(vec![e.side.iter().map(|&i| name(i)).collect()]);
                } else if k == FaultKind::OneWay && e.other != e.target {
                    start.one_way = Some(OneWaySpec {
                        from: vec![node],
                        to: vec![name(e.other)],
                    });
                } else {
                    start.isolate = Some(node);
                }
                end.heal = Some(true);
                self.net_until = e.end_ms;
            }
            kind => {
                let broker = self.targets[e.target].1;
                let lossy = matches!(kind, FaultKind::PowerLoss | FaultKind::DiskLoss);
                let allowed = !lossy || !broker || self.lossy_left > 0;
                if lossy && broker && allowed {
                    self.lossy_left -= 1;
                }
                match kind {
                    FaultKind::PowerLoss if allowed => start.power_loss = Some(node.clone()),
                    // A controller's disk is never lost (no KIP-853): it loses power instead.
                    FaultKind::DiskLoss if allowed && broker => {
                        start.disk_loss = Some(node.clone());
                    }
                    FaultKind::DiskLoss if allowed => start.power_loss = Some(node.clone()),
                    FaultKind::Shutdown => start.shutdown = Some(node.clone()),
                    FaultKind::Pause => start.pause = Some(node.clone()),
                    _ => start.crash = Some(node.clone()),
                }
                if kind == FaultKind::Pause {
                    end.resume = Some(node);
                } else {
                    end.restart = Some(node);
                }
                self.down_until[e.target] = e.end_ms;
            }
        }
        self.faults.push(start);
        self.faults.push(end);
        true
    }

    /// The schedule, in time order; same-time entries keep the order they were added in.
    pub fn finish(mut self) -> Vec<FaultSpec> {
        self.faults.sort_by_key(|f| f.at_ms);
        self.faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn members() -> Vec<Member> {
        parse(
            r#"{"name": "n", "cluster": {"controllers": 3, "brokers": 4}}"#,
            "test",
        )
        .unwrap()
        .members()
    }

    #[test]
    fn every_fault_ends_by_the_end_of_the_fault_phase() {
        for seed in 0..200 {
            let options = NemesisOptions::fuzz(25_000, 2);
            let faults = random_faults(&members(), seed, &options);
            // Each start has its end: down nodes restart, paused resume, slow recover, cuts heal.
            let mut down = std::collections::BTreeSet::new();
            let mut slow = std::collections::BTreeSet::new();
            let mut cut = false;
            for f in &faults {
                assert!(
                    f.at_ms >= options.faults_from_ms && f.at_ms <= 25_000,
                    "{f:?}"
                );
                for n in [&f.crash, &f.power_loss, &f.disk_loss, &f.shutdown, &f.pause]
                    .into_iter()
                    .flatten()
                {
                    assert!(down.insert(n.clone()), "seed {seed}: {n} is already down");
                }
                for n in [&f.restart, &f.resume].into_iter().flatten() {
                    assert!(down.remove(n), "seed {seed}: {n} was not down");
                }
                if let Some(s) = &f.slow {
                    let _ = if s.extra_ms > 0 {
                        slow.insert(s.node.clone())
                    } else {
                        slow.remove(&s.node)
                    };
                }
                if let Some(s) = &f.slow_link {
                    let _ = if s.extra_ms > 0 {
                        slow.insert(format!("{}>{}", s.from, s.to))
                    } else {
                        slow.remove(&format!("{}>{}", s.from, s.to))
                    };
                }
                if f.isolate.is_some() || f.partition.is_some() || f.one_way.is_some() {
                    cut = true;
                }
                if f.heal == Some(true) {
                    cut = false;
                }
            }
            assert!(down.is_empty() && slow.is_empty() && !cut, "seed {seed}");
        }
    }

    #[test]
    fn lossy_shutdowns_of_brokers_stay_within_the_budget_and_controllers_keep_their_disks() {
        let mut lossy_seen = 0;
        for seed in 0..300 {
            let faults = random_faults(&members(), seed, &NemesisOptions::fuzz(60_000, 2));
            let lossy_brokers = faults
                .iter()
                .filter_map(|f| f.power_loss.as_ref().or(f.disk_loss.as_ref()))
                .filter(|n| n.starts_with("broker"))
                .count();
            assert!(lossy_brokers <= 1, "seed {seed}: {lossy_brokers}");
            lossy_seen += lossy_brokers;
            assert!(
                faults
                    .iter()
                    .filter_map(|f| f.disk_loss.as_ref())
                    .all(|n| n.starts_with("broker")),
                "seed {seed}"
            );
        }
        assert!(lossy_seen > 30, "the budget is used: {lossy_seen}");
    }

    #[test]
    fn swarm_seeds_differ_in_which_kinds_they_use() {
        let mut kind_sets = std::collections::BTreeSet::new();
        let mut empty = 0;
        for seed in 0..200 {
            let mut rng = SimRng::new(seed, Stream::Faults);
            let draw = swarm(&mut rng, &NemesisOptions::fuzz(25_000, 2));
            empty += usize::from(draw.kinds.is_empty());
            assert!(draw.gap_ms.0 <= draw.gap_ms.1 && draw.outage_ms.0 <= draw.outage_ms.1);
            kind_sets.insert(draw.kinds);
        }
        assert!(kind_sets.len() > 100, "{}", kind_sets.len());
        assert!((1..40).contains(&empty), "{empty} seeds with no fault kind");
    }

    /// A controller and two brokers, as the explorer lists targets.
    fn three_targets() -> Vec<(String, bool)> {
        vec![
            ("controller-1".into(), false),
            ("broker-1".into(), true),
            ("broker-2".into(), true),
        ]
    }

    /// An episode with a delay of 100 ms and broker-2 as its other end.
    fn episode(kind: FaultKind, target: usize, start_ms: u64, end_ms: u64) -> Episode {
        Episode {
            extra_ms: 100,
            other: 2,
            ..Episode::on(kind, target, start_ms, end_ms)
        }
    }

    #[test]
    fn a_schedule_under_way_keeps_its_past_and_the_ends_of_what_is_under_way() {
        let targets = three_targets();
        let mut schedule = Episodes::new(targets.clone(), 1);
        assert!(schedule.add(&episode(FaultKind::Crash, 1, 1_000, 2_000)));
        assert!(schedule.add(&episode(FaultKind::PowerLoss, 2, 5_000, 9_000)));
        assert!(schedule.add(&episode(FaultKind::SlowLink, 0, 4_000, 12_000)));
        assert!(schedule.add(&episode(FaultKind::Isolate, 0, 7_000, 8_000)));
        assert!(schedule.add(&episode(FaultKind::Pause, 1, 10_000, 11_000)));
        let faults = schedule.finish();
        let at = |ms: u64| -> Vec<u64> { under_way(&faults, ms).iter().map(|f| f.at_ms).collect() };
        // At 6 s: the crash is over; the power loss and the slow link are under way and end;
        // the isolation and the pause have not started and are left out.
        assert_eq!(at(6_000), [1_000, 2_000, 4_000, 5_000, 9_000, 12_000]);
        let kept = under_way(&faults, 6_000);
        assert_eq!(kept[4].restart.as_deref(), Some("broker-2"));
        assert!(kept[5].slow_link.as_ref().is_some_and(|l| l.extra_ms == 0));
        // An entry at the moment itself is past: the isolation starting at 7 s is kept, and
        // so its heal.
        assert_eq!(
            at(7_000),
            [1_000, 2_000, 4_000, 5_000, 7_000, 8_000, 9_000, 12_000]
        );
        // Before everything, nothing; after everything, everything.
        assert!(at(500).is_empty());
        assert_eq!(under_way(&faults, 20_000), faults);
        // What is left is a schedule the explorer can add to: the pause's slot is free again.
        let mut occupancy = Occupancy::of(targets, &kept, 1);
        assert!(
            occupancy
                .add(&episode(FaultKind::Pause, 1, 10_000, 11_000))
                .is_some()
        );
        // The power loss still spends the one lossy shutdown of brokers: another is a crash.
        let another = occupancy.add(&episode(FaultKind::PowerLoss, 1, 13_000, 14_000));
        let another = another.expect("broker-1 is free from 13 s");
        assert_eq!(another[0].crash.as_deref(), Some("broker-1"));
    }

    #[test]
    fn an_added_episode_must_fit_the_schedule_it_joins() {
        let targets = three_targets();
        let mut schedule = Episodes::new(targets.clone(), 1);
        assert!(schedule.add(&episode(FaultKind::Crash, 1, 5_000, 8_000)));
        assert!(schedule.add(&episode(FaultKind::Isolate, 2, 6_000, 9_000)));
        let faults = schedule.finish();
        let mut occupancy = Occupancy::of(targets, &faults, 1);
        // broker-1 is down from 5 s to 8 s, ends included.
        assert!(
            occupancy
                .add(&episode(FaultKind::Pause, 1, 7_000, 7_500))
                .is_none()
        );
        assert!(
            occupancy
                .add(&episode(FaultKind::Pause, 1, 4_000, 5_000))
                .is_none()
        );
        let pause = occupancy.add(&episode(FaultKind::Pause, 1, 8_001, 8_500));
        assert_eq!(pause.map(|f| f.len()), Some(2), "a pause and its resume");
        // One network cut at a time: 6 s to 9 s is taken, whoever it cuts off.
        assert!(
            occupancy
                .add(&episode(FaultKind::OneWay, 0, 8_900, 9_500))
                .is_none()
        );
        assert!(
            occupancy
                .add(&episode(FaultKind::OneWay, 0, 9_001, 9_500))
                .is_some()
        );
        // Slowness is its own resource: broker-1 may be slow while it is down.
        assert!(
            occupancy
                .add(&episode(FaultKind::SlowNode, 1, 5_500, 6_500))
                .is_some()
        );
        // One lossy shutdown of a broker in the budget: the second becomes a crash.
        let first = occupancy.add(&episode(FaultKind::PowerLoss, 2, 10_000, 11_000));
        assert_eq!(first.unwrap()[0].power_loss.as_deref(), Some("broker-2"));
        let second = occupancy.add(&episode(FaultKind::DiskLoss, 2, 12_000, 13_000));
        let second = second.unwrap();
        assert_eq!(second[0].crash.as_deref(), Some("broker-2"));
        assert_eq!(second[0].disk_loss, None);
        // An episode that ends before it starts, or names no target, fits nowhere.
        assert!(
            occupancy
                .add(&episode(FaultKind::Crash, 0, 20_000, 20_000))
                .is_none()
        );
        assert!(
            occupancy
                .add(&episode(FaultKind::Crash, 7, 20_000, 21_000))
                .is_none()
        );
    }

    #[test]
    fn a_slow_channel_episode_delays_one_connection_and_ends() {
        let targets: Vec<(String, bool)> =
            vec![("controller-1".into(), false), ("broker-1".into(), true)];
        let mut e = Episodes::new(targets, 0);
        assert!(e.add(&Episode {
            kind: FaultKind::SlowChannel,
            target: 1,
            other: 0,
            start_ms: 4_000,
            end_ms: 6_000,
            extra_ms: 2_500,
            side: Vec::new(),
            channel: 3,
        }));
        let faults = e.finish();
        let start = faults[0].slow_channel.as_ref().expect("a slow channel");
        assert_eq!(
            (
                start.from.as_str(),
                start.to.as_str(),
                start.channel.as_str(),
                start.extra_ms
            ),
            ("broker-1", "controller-1", "alter_partition", 2_500)
        );
        assert_eq!(faults[1].slow_channel.as_ref().map(|s| s.extra_ms), Some(0));
        assert_eq!(faults[1].at_ms, 6_000);
    }
}
