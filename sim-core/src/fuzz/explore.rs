//! Exploration guided by new states: instead of starting every run again from t = 0, keep the
//! moments of runs worth branching from, and branch: copy the world there ([`World::fork`]) and
//! add new faults from that moment on. FoundationDB's simulator (BUGGIFY) and Antithesis search
//! this way; kafkasim can too because a run is deterministic and its whole state is one value.
//!
//! - **Which moments.** At every checkpoint of the fault phase (every `checkpoint_ms` of
//!   simulated time) the run's abstract state is summed up in a [`Signature`]: the failover
//!   situation, not the data (the controllers' Raft roles and how their epochs relate; each
//!   broker's lifecycle and registration; per partition, whether its leader is up, stale or
//!   missing, the ISR and ELR against `min.insync.replicas`, AlterPartition in flight, replicas
//!   whose logs run ahead of the leader's or behind the committed HW). Replicas, brokers and
//!   controllers are counted, not named, so symmetric situations are one. A moment whose
//!   signature no earlier moment had is kept in the corpus, up to `corpus_limit` of them (the
//!   most branched-from one makes room).
//! - **What a branch adds.** One to three fault episodes starting within the next three
//!   seconds, of every kind the fuzzer's nemesis draws plus slow channels (one connection of a
//!   link held back, a stuck AlterPartition or fetch: BUGGIFY's delays, within the fault model
//!   Kafka must survive). An episode is added only where it fits the lineage's schedule by the
//!   nemesis's rules (`nemesis::Occupancy`): every fault still ends within the fault phase, so the
//!   liveness checks keep their meaning, and lossy shutdowns stay within `acked_durability`'s
//!   scope. Half the branches first try a move aimed at a protocol moment of their moment,
//!   which joins when it has one and it fits ([`super::moves`]: an AlterPartition in flight, a
//!   lagging or diverged replica, a shrunk ISR, a stale HW, a next leader with an older HW
//!   than the leader's, a fenced broker still fetching).
//!   Of the moves a moment offers, the branch takes one the exploration has picked least so
//!   far, so a situation that few moments have still gets its share.
//! - **Whose future.** A branch keeps its parent's schedule after the moment and adds to it,
//!   or (`fresh_future_share` of them) gets a fresh future: the parent's episodes that start
//!   after the moment are dropped (`nemesis::under_way`: those under way still end), so its
//!   new faults are all that happens next, with the slots and the lossy-shutdown budget the
//!   parent's later faults would have taken free.
//! - **Every run is an ordinary scenario.** A branch's scenario is its parent's (up to the
//!   moment, for a fresh future) with the new entries inserted after every entry at or before
//!   their time, which is where the engine applies a fault added to a forked run
//!   ([`World::add_faults`]; a fresh future replaces the copy's queued faults instead,
//!   [`World::follow`], as a shrink's candidates do). Run from t = 0 it gives the
//!   same events, violations and trace hash as the branch did, so a finding is saved, replayed
//!   and shrunk like a fuzz seed's.
//! - **Fresh seeds** (`fresh_share` of the trials) are the plain sweep's seeds, so exploration
//!   is never worse at what the sweep already finds than a fraction of it.
//!
//! Determinism: the explorer draws only from its own stream ([`Stream::Explore`]); trials are
//! planned in batches of fixed sizes (2, 4, then `batch`) and their results absorbed in plan
//! order, so the corpus, the trials and the findings are the same however many threads run a
//! batch.

use std::collections::{BTreeMap, BTreeSet};

use super::moves::{Frame, Move, moves};
use super::nemesis::{Episode, FaultKind, Occupancy, under_way};
use super::swarm::{FuzzBase, nemesis_options};
use crate::broker::partition::Partition;
use crate::check::Ground;
use crate::check::data::{DataCx, PartitionGround};
use crate::engine::{NodeId, NodeStatus, SimRng, SimTime, Simulation, StopReason, Stream};
use crate::kraft::TopicPartition;
use crate::kraft::controller::Controller;
use crate::kraft::raft::Raft;
use crate::proto::CHANNELS;
use crate::scenario::{FaultSpec, Role, Scenario};
use crate::trace::TraceSink;
use crate::world::{Process, ResolvedScenario, RunSummary, World};

/// How the explorer searches.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// The explorer's own seed: which moments it branches from and what it adds there.
    pub seed: u64,
    /// The first fresh seed; fresh seeds count up from it, as a sweep's do.
    pub first_seed: u64,
    /// Trials planned at once (a fixed number, so results do not depend on threads).
    pub batch: usize,
    /// Most moments kept to branch from.
    pub corpus_limit: usize,
    /// Simulated time between checkpoints.
    pub checkpoint_ms: u64,
    /// Share of trials that are fresh seeds from t = 0 (the rest are branches).
    pub fresh_share: f64,
    /// Most new moments one trial adds to the corpus.
    pub moments_per_trial: usize,
    /// Most events of one run.
    pub max_events: u64,
    /// Share of branches that start with a move aimed at a protocol moment of their moment
    /// (see [`moves`]), when it has one.
    pub aimed_share: f64,
    /// Share of branches whose parent's schedule stops at their moment: the episodes it starts
    /// later are dropped (those under way still end), so the branch's new faults are the
    /// moment's whole future. The other branches keep the parent's future and add to it.
    pub fresh_future_share: f64,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions {
            seed: 0,
            first_seed: 0,
            batch: 8,
            corpus_limit: 96,
            checkpoint_ms: 250,
            fresh_share: 0.25,
            moments_per_trial: 4,
            max_events: u64::MAX,
            aimed_share: 0.5,
            fresh_future_share: 0.5,
        }
    }
}

/// The abstract state of a run at one moment (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signature(String);

impl Signature {
    /// The signature of `world` now.
    pub fn of(world: &World) -> Signature {
        let sim = world.sim();
        let checker = world.checker();
        let g = checker.ground();
        let cx = DataCx { g, sim };
        let shapes: BTreeSet<String> = checker
            .data()
            .partitions
            .iter()
            .filter(|(_, pg)| pg.created)
            .map(|(tp, pg)| partition_shape(&cx, *tp, pg))
            .collect();
        let mut out = String::with_capacity(128);
        out.push_str(&controllers(sim, g));
        out.push('|');
        out.push_str(&brokers(sim, g));
        out.push('|');
        out.push_str(&shapes.into_iter().collect::<Vec<_>>().join(","));
        Signature(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A node's status as one letter: up, paused or down.
fn status(sim: &Simulation<Process>, id: NodeId) -> char {
    match sim.status(id) {
        NodeStatus::Running => 'u',
        NodeStatus::Paused => 'p',
        NodeStatus::Down(_) => 'd',
    }
}

/// The controllers, counted: status, Raft role, and whether at the newest epoch any has.
fn controllers(sim: &Simulation<Process>, g: &Ground) -> String {
    let max_epoch = g
        .voters
        .iter()
        .filter_map(|&v| sim.node(v).and_then(Process::raft).map(Raft::epoch))
        .max()
        .unwrap_or(0);
    let mut controllers: Vec<String> = g
        .voters
        .iter()
        .map(|&v| match sim.node(v).and_then(Process::raft) {
            Some(r) => {
                let behind = if r.epoch() < max_epoch { "<" } else { "" };
                format!("{}{:?}{behind}", status(sim, v), r.role())
            }
            None => status(sim, v).to_string(),
        })
        .collect();
    controllers.sort();
    controllers.join(",")
}

/// The brokers, counted: status, lifecycle, and the active controller's view of them.
fn brokers(sim: &Simulation<Process>, g: &Ground) -> String {
    let image = crate::world::active_controller(sim)
        .and_then(|c| sim.node(c)?.controller())
        .map(Controller::committed_image);
    let mut brokers: Vec<String> = g
        .brokers
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let b = i as u32 + 1;
            let lifecycle = sim
                .node(id)
                .and_then(Process::broker)
                .map_or_else(String::new, |broker| format!("{:?}", broker.state()));
            let registration = match image.and_then(|m| m.brokers.get(&b)) {
                None => "-",
                Some(r) if r.in_controlled_shutdown => "s",
                Some(r) if r.fenced => "f",
                Some(_) => "a",
            };
            format!("{}{lifecycle}{registration}", status(sim, id))
        })
        .collect();
    brokers.sort();
    brokers.join(",")
}

/// One partition's shape: its leader's status (and whether its HW is behind the committed
/// one), ISR size (and whether below min ISR), ELR size, the AlterPartition in flight, and
/// how many replicas think they lead, run ahead of the leader's log, or (in the ISR) lack
/// committed records, and how many followers are fenced.
fn partition_shape(cx: &DataCx<'_>, tp: TopicPartition, pg: &PartitionGround) -> String {
    let leader = pg.leader.map(|l| (l, cx.node(l)));
    let leader_state = leader.and_then(|(l, _)| cx.broker(l)?.partitions().get(&tp));
    let leader_char = match leader {
        None => '-',
        Some((_, node)) => status(cx.sim, node),
    };
    let leader_leo = leader_state.map(Partition::log_end_offset);
    let (mut zombies, mut ahead, mut behind_hw, mut fenced) = (0usize, 0usize, 0usize, 0usize);
    for &r in &pg.replicas {
        let Some(p) = cx.broker(r).and_then(|b| b.partitions().get(&tp)) else {
            continue;
        };
        if Some(r) == pg.leader {
            continue;
        }
        zombies += usize::from(p.is_leader());
        ahead += usize::from(leader_leo.is_some_and(|leo| p.log_end_offset() > leo));
        behind_hw += usize::from(pg.isr.contains(&r) && p.log_end_offset() < pg.true_hw);
        fenced += usize::from(p.fenced);
    }
    let pending = match leader_state.and_then(|p| p.leader_state.as_ref()?.pending.as_ref()) {
        None => '-',
        Some(p) if p.expand => 'e',
        Some(_) => 's',
    };
    let leader_hw_behind = leader_state.is_some_and(|p| p.high_watermark < pg.true_hw);
    format!(
        "{leader_char}{}i{}{}e{}{pending}z{}a{}b{}f{}",
        if leader_hw_behind { "h" } else { "" },
        pg.isr.len(),
        if pg.isr.len() < pg.config.min_isr {
            "<"
        } else {
            ""
        },
        pg.elr.len(),
        zombies.min(2),
        ahead.min(2),
        behind_hw.min(2),
        fenced.min(2),
    )
}

/// Where a trial starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A fresh seed, from t = 0 (the sweep's run of that seed).
    Seed(u64),
    /// A branch of an earlier trial's run at `at_ms`, with `added` new fault entries and
    /// `dropped` entries of its parent's schedule after `at_ms` left out (a fresh future).
    Branch {
        parent: u64,
        at_ms: u64,
        added: usize,
        dropped: usize,
        /// The protocol moment the branch's first episodes were aimed at ([`moves`]), if any.
        aimed: Option<&'static str>,
    },
}

/// A moment kept to branch from.
#[derive(Debug)]
struct Moment {
    world: World,
    /// The run's scenario: branching adds to its faults.
    scenario: Scenario,
    at_ms: u64,
    trial: u64,
    picks: u32,
}

/// One planned run: a fresh world or a fork, and the scenario that replays it from t = 0.
#[derive(Debug)]
pub struct Trial {
    pub id: u64,
    pub origin: Origin,
    /// The run as a scenario: replayed from t = 0 it gives this trial's run.
    pub scenario: Scenario,
    resolved: ResolvedScenario,
    world: World,
    faults_until_ms: u64,
    checkpoint_ms: u64,
    moments_limit: usize,
    max_events: u64,
}

/// A moment a trial found new.
#[derive(Debug)]
struct NewMoment {
    signature: Signature,
    world: World,
    at_ms: u64,
}

/// What a trial's run gave.
#[derive(Debug)]
pub struct TrialResult {
    pub id: u64,
    pub origin: Origin,
    pub scenario: Scenario,
    pub summary: RunSummary,
    /// Events this trial ran itself (a branch does not run its prefix again).
    pub events_run: u64,
    /// Signatures of its checkpoints no earlier trial had seen.
    pub new_states: usize,
    moments: Vec<NewMoment>,
    signatures: Vec<Signature>,
}

/// Figures of an exploration so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExploreStats {
    pub trials: u64,
    pub fresh_seeds: u64,
    pub branches: u64,
    /// Distinct signatures seen.
    pub states: u64,
    /// Moments in the corpus now.
    pub corpus: u64,
    /// Events run, prefixes of branches not counted again.
    pub events: u64,
    /// Copies of the world made: one per branch, one per moment a trial found new.
    pub forks: u64,
}

/// The explorer: the corpus of moments, the signatures seen, and what to try next.
#[derive(Debug)]
pub struct Explorer {
    base: FuzzBase,
    options: ExploreOptions,
    rng: SimRng,
    corpus: Vec<Moment>,
    seen: BTreeSet<Signature>,
    next_seed: u64,
    next_trial: u64,
    /// Batches planned so far.
    batches: u32,
    /// How often each move has been picked: a branch picks, among the moves its moment
    /// offers, one picked least so far.
    move_picks: BTreeMap<&'static str, u64>,
    stats: ExploreStats,
}

/// The moves of `found` picked least so far. A branch takes one of them, so a situation that
/// is rare among moments (a lossy shutdown still allowed, an expansion in flight) still gets
/// its share of the aimed branches instead of a share in proportion to how often it occurs.
fn least_picked<'m>(found: &'m [Move], picks: &BTreeMap<&'static str, u64>) -> Vec<&'m Move> {
    let count = |m: &Move| picks.get(m.name).copied().unwrap_or(0);
    let Some(fewest) = found.iter().map(count).min() else {
        return Vec::new();
    };
    found.iter().filter(|m| count(m) == fewest).collect()
}

/// A branch's episodes start within this long after its moment.
const BRANCH_WINDOW_MS: u64 = 3_000;
/// A moment this close to the end of the fault phase is not kept: nothing could be added.
const MIN_ROOM_MS: u64 = 200;

impl Explorer {
    pub fn new(base: FuzzBase, options: ExploreOptions) -> Explorer {
        Explorer {
            base,
            rng: SimRng::new(options.seed, Stream::Explore),
            next_seed: options.first_seed,
            options,
            corpus: Vec::new(),
            seen: BTreeSet::new(),
            next_trial: 0,
            batches: 0,
            move_picks: BTreeMap::new(),
            stats: ExploreStats::default(),
        }
    }

    /// The signatures seen so far, for [`Trial::run`].
    pub fn seen(&self) -> &BTreeSet<Signature> {
        &self.seen
    }

    pub fn stats(&self) -> ExploreStats {
        ExploreStats {
            corpus: self.corpus.len() as u64,
            states: self.seen.len() as u64,
            ..self.stats
        }
    }

    /// The next batch of trials: two, then four, then `batch` at a time, so a bug the first
    /// fresh seeds find is reported without waiting for a whole batch.
    pub fn plan(&mut self) -> Vec<Trial> {
        let size = self.options.batch.min(2 << self.batches.min(16));
        self.batches += 1;
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            let fresh = self.corpus.is_empty() || self.rng.chance(self.options.fresh_share);
            let trial = if fresh {
                Some(self.fresh())
            } else {
                let i = self.pick();
                self.branch(i)
            };
            out.extend(trial);
        }
        out
    }

    /// Takes a batch's results in plan order: their new moments join the corpus.
    pub fn absorb(&mut self, results: &mut [TrialResult]) {
        for r in results.iter_mut() {
            self.stats.trials += 1;
            self.stats.events += r.events_run;
            self.stats.forks += r.moments.len() as u64;
            match r.origin {
                Origin::Seed(_) => self.stats.fresh_seeds += 1,
                Origin::Branch { .. } => {
                    self.stats.branches += 1;
                    self.stats.forks += 1;
                }
            }
            let mut fresh = BTreeSet::new();
            for s in r.signatures.drain(..) {
                if self.seen.insert(s.clone()) {
                    fresh.insert(s);
                }
            }
            r.new_states = fresh.len();
            // A moment is kept only for the first trial of the batch to reach its state.
            for m in r.moments.drain(..) {
                if fresh.contains(&m.signature) {
                    self.keep(Moment {
                        world: m.world,
                        scenario: r.scenario.clone(),
                        at_ms: m.at_ms,
                        trial: r.id,
                        picks: 0,
                    });
                }
            }
        }
    }

    fn keep(&mut self, m: Moment) {
        if self.corpus.len() >= self.options.corpus_limit {
            // Make room: the most branched-from moment, the oldest of those.
            let Some((i, _)) = self
                .corpus
                .iter()
                .enumerate()
                .max_by_key(|(i, m)| (m.picks, std::cmp::Reverse(*i)))
            else {
                return;
            };
            self.corpus.remove(i);
        }
        self.corpus.push(m);
    }

    /// A moment to branch from: half the time one of the least branched-from, else any.
    fn pick(&mut self) -> usize {
        let n = self.corpus.len() as u64;
        if self.rng.chance(0.5) {
            let least = self.corpus.iter().map(|m| m.picks).min().unwrap_or(0);
            let candidates: Vec<usize> = (0..self.corpus.len())
                .filter(|&i| self.corpus[i].picks == least)
                .collect();
            candidates[self.rng.below(candidates.len() as u64) as usize]
        } else {
            self.rng.below(n) as usize
        }
    }

    fn trial(&mut self, origin: Origin, scenario: Scenario, world: World) -> Trial {
        let id = self.next_trial;
        self.next_trial += 1;
        let faults_until_ms = nemesis_options(&scenario).faults_until_ms;
        Trial {
            id,
            origin,
            resolved: scenario.resolve().with_self_checks(),
            scenario,
            world,
            faults_until_ms,
            checkpoint_ms: self.options.checkpoint_ms.max(1),
            moments_limit: self.options.moments_per_trial,
            max_events: self.options.max_events,
        }
    }

    fn fresh(&mut self) -> Trial {
        let seed = self.next_seed;
        self.next_seed += 1;
        let scenario = self.base.draw(seed);
        let resolved = scenario.resolve().with_self_checks();
        let world = World::new(&resolved, seed, TraceSink::hash_only());
        self.trial(Origin::Seed(seed), scenario, world)
    }

    /// A branch from moment `i`, or `None` if nothing fitted there.
    fn branch(&mut self, i: usize) -> Option<Trial> {
        self.corpus[i].picks += 1;
        let (at_ms, parent) = (self.corpus[i].at_ms, self.corpus[i].trial);
        let options = nemesis_options(&self.corpus[i].scenario);
        let until = options.faults_until_ms;
        let from = at_ms + 1;
        if from + MIN_ROOM_MS > until {
            return None;
        }
        let members = self.corpus[i].scenario.members();
        let targets: Vec<(String, bool)> = members
            .iter()
            .filter(|m| matches!(m.role, Role::Controller | Role::Broker))
            .map(|m| (m.name.clone(), m.role == Role::Broker))
            .collect();
        // The schedule the branch continues: its parent's, or, for a fresh future, its
        // parent's up to the moment.
        let fresh_future = self.rng.chance(self.options.fresh_future_share);
        let mut scenario = self.corpus[i].scenario.clone();
        if fresh_future {
            scenario.faults = under_way(&scenario.faults, at_ms);
        }
        let dropped = self.corpus[i].scenario.faults.len() - scenario.faults.len();
        let mut occupancy = Occupancy::of(
            targets.clone(),
            &scenario.faults,
            options.broker_lossy_shutdowns,
        );
        let hot: Vec<usize> = hot_nodes(&self.corpus[i].world)
            .iter()
            .filter_map(|name| targets.iter().position(|(t, _)| t == name))
            .collect();
        let wanted = 1 + self.rng.below(3) as usize;
        let mut added: Vec<FaultSpec> = Vec::new();
        let mut episodes = 0;
        // Half the branches start with a move aimed at a protocol moment found here.
        let mut aimed = None;
        if self.rng.chance(self.options.aimed_share) {
            let frame = Frame {
                targets: &targets,
                from_ms: from,
                until_ms: until,
                lossy: occupancy.lossy_left(),
            };
            aimed = self.aimed_move(i, &frame, &mut occupancy, &mut added);
            episodes += usize::from(aimed.is_some());
        }
        for _ in 0..wanted * 4 {
            if episodes == wanted {
                break;
            }
            let e = self.draw_episode(&targets, &hot, from, until);
            if let Some(entries) = occupancy.add(&e) {
                added.extend(entries);
                episodes += 1;
            }
        }
        if added.is_empty() {
            return None;
        }
        for f in &added {
            let at = scenario.faults.partition_point(|g| g.at_ms <= f.at_ms);
            scenario.faults.insert(at, f.clone());
        }
        let id = self.next_trial;
        scenario.name = format!("{}-explore-{id}", self.base.name);
        let aim = aimed.map_or_else(String::new, |name| format!(", aimed at {name}"));
        let future = if dropped > 0 {
            format!(" and {dropped} of its later entries dropped")
        } else {
            String::new()
        };
        scenario.description = format!(
            "Found by kafkasim explore (explorer seed {}, trial {id}): a branch of trial \
             {parent} at {:.3} s with {} fault entries added{aim}{future}; the whole run \
             replays from t = 0.",
            self.options.seed,
            at_ms as f64 / 1000.0,
            added.len()
        );
        let world = self.continued(i, &scenario, &added, fresh_future);
        Some(self.trial(
            Origin::Branch {
                parent,
                at_ms,
                added: added.len(),
                dropped,
                aimed,
            },
            scenario,
            world,
        ))
    }

    /// The move aimed at a protocol moment of moment `i` that joins the branch, if one does:
    /// its name; its entries go to `added`, and into `occupancy`.
    fn aimed_move(
        &mut self,
        i: usize,
        frame: &Frame<'_>,
        occupancy: &mut Occupancy,
        added: &mut Vec<FaultSpec>,
    ) -> Option<&'static str> {
        let found = moves(&self.corpus[i].world, frame, &mut self.rng);
        let least = least_picked(&found, &self.move_picks);
        if least.is_empty() {
            return None;
        }
        let m = least[self.rng.below(least.len() as u64) as usize];
        *self.move_picks.entry(m.name).or_default() += 1;
        // A move's episodes join together or not at all.
        let mut trial = occupancy.clone();
        let entries: Option<Vec<Vec<FaultSpec>>> =
            m.episodes.iter().map(|e| trial.add(e)).collect();
        added.extend(entries?.into_iter().flatten());
        *occupancy = trial;
        Some(m.name)
    }

    /// A copy of moment `i`'s world that goes on as a run of the branch's `scenario` would:
    /// with the `added` entries queued after those already due, or, for a fresh future, with
    /// every fault after the moment replaced by the scenario's.
    fn continued(
        &self,
        i: usize,
        scenario: &Scenario,
        added: &[FaultSpec],
        fresh_future: bool,
    ) -> World {
        let moment = &self.corpus[i];
        let mut world = moment.world.fork();
        if fresh_future {
            world.follow(&scenario.resolve(), SimTime::from_millis(moment.at_ms));
        } else {
            let mut only_added = scenario.clone();
            only_added.faults = added.to_vec();
            let new_faults = only_added
                .resolved_faults("explore")
                .expect("episodes drawn on the scenario's own members resolve");
            world.add_faults(&new_faults);
        }
        world
    }

    /// An episode starting in `[from, from + BRANCH_WINDOW_MS)`, ending by `until`; half the
    /// time aimed at one of the `hot` targets.
    fn draw_episode(
        &mut self,
        targets: &[(String, bool)],
        hot: &[usize],
        from: u64,
        until: u64,
    ) -> Episode {
        let rng = &mut self.rng;
        let n = targets.len() as u64;
        // The nemesis's kinds, and slow channels.
        let all = FaultKind::ALL.len() as u64;
        let kind = FaultKind::ALL
            .get(rng.below(all + 1) as usize)
            .copied()
            .unwrap_or(FaultKind::SlowChannel);
        let latest_start = until.saturating_sub(MIN_ROOM_MS / 2).max(from);
        let start_ms = (from + rng.below(BRANCH_WINDOW_MS)).min(latest_start);
        // Blips and long outages alike: half the outages are under 1.5 s.
        let outage = if rng.chance(0.5) {
            rng.between(50, 1_500)
        } else {
            rng.between(1_500, 12_000)
        };
        let end_ms = (start_ms + outage).min(until);
        let target = if !hot.is_empty() && rng.chance(0.5) {
            hot[rng.below(hot.len() as u64) as usize]
        } else {
            rng.below(n) as usize
        };
        let other_than = |rng: &mut SimRng, i: usize| {
            if n < 2 {
                i
            } else {
                (i + 1 + rng.below(n - 1) as usize) % n as usize
            }
        };
        let mut e = Episode::on(kind, target, start_ms, end_ms);
        match kind {
            FaultKind::SlowNode | FaultKind::SlowLink => {
                e.other = other_than(rng, target);
                e.extra_ms = rng.between(20, 6_000);
            }
            FaultKind::SlowChannel => {
                e.extra_ms = rng.between(20, 6_000);
                match slow_channel_pair(rng, targets) {
                    Some((channel, from, to)) => {
                        e.channel = channel;
                        e.target = from;
                        e.other = to;
                    }
                    // No such pair here: slow a whole link instead.
                    None => {
                        e.kind = FaultKind::SlowLink;
                        e.other = other_than(rng, target);
                    }
                }
            }
            FaultKind::Partition => e.side = (0..n as usize).filter(|_| rng.chance(0.5)).collect(),
            FaultKind::OneWay => e.other = other_than(rng, target),
            _ => {}
        }
        e
    }
}

/// A connection and a pair of targets that use it, by index into [`CHANNELS`] and `targets`:
/// brokers' AlterPartition and heartbeats go to controllers, replica fetches to brokers, Raft
/// fetches to controllers. `None` if the cluster has no such pair.
fn slow_channel_pair(
    rng: &mut SimRng,
    targets: &[(String, bool)],
) -> Option<(usize, usize, usize)> {
    let n = targets.len() as u64;
    let channel = ["raft", "heartbeat", "alter_partition", "replica_fetch"][rng.below(4) as usize];
    let index = CHANNELS
        .iter()
        .position(|(name, _)| *name == channel)
        .unwrap_or(0);
    let brokers: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].1).collect();
    let controllers: Vec<usize> = (0..targets.len()).filter(|&i| !targets[i].1).collect();
    let one_of =
        |rng: &mut SimRng, v: &[usize]| v.get(rng.below(v.len().max(1) as u64) as usize).copied();
    let (from, to) = match channel {
        "replica_fetch" => {
            let a = one_of(rng, &brokers);
            let rest: Vec<usize> = brokers.iter().copied().filter(|&b| Some(b) != a).collect();
            (a, one_of(rng, &rest))
        }
        "raft" => {
            let a = rng.below(n) as usize;
            let rest: Vec<usize> = controllers.iter().copied().filter(|&c| c != a).collect();
            (Some(a), one_of(rng, &rest))
        }
        _ => (one_of(rng, &brokers), one_of(rng, &controllers)),
    };
    Some((index, from?, to?))
}

/// The nodes a fault hurts most at this moment: the active controller, every partition's
/// leader, and the in-sync replicas of partitions whose ISR has shrunk (the last copies of
/// what is committed). Deduplicated, in node order.
fn hot_nodes(world: &World) -> Vec<String> {
    let sim = world.sim();
    let checker = world.checker();
    let g = checker.ground();
    let cx = DataCx { g, sim };
    let mut nodes = BTreeSet::new();
    nodes.extend(crate::world::active_controller(sim));
    for pg in checker.data().partitions.values().filter(|p| p.created) {
        nodes.extend(pg.leader.map(|b| cx.node(b)));
        if pg.isr.len() < pg.replicas.len() {
            nodes.extend(pg.isr.iter().map(|&b| cx.node(b)));
        }
    }
    nodes.into_iter().map(|n| g.name(n).to_string()).collect()
}

impl Trial {
    /// Runs the trial to the end of its scenario, keeping a fork of the world at each
    /// checkpoint of the fault phase whose state is not in `seen` (up to the per-trial limit).
    /// `watchdog` is asked now and then whether to stop (see [`World::run`]).
    pub fn run(
        mut self,
        seen: &BTreeSet<Signature>,
        watchdog: &mut dyn FnMut() -> bool,
    ) -> TrialResult {
        let events_before = self.world.events();
        let step = self.checkpoint_ms;
        let mut at_ms = (self.world.now().as_millis() / step + 1) * step;
        let mut moments = Vec::new();
        let mut signatures = Vec::new();
        let mut mine = BTreeSet::new();
        let reason = loop {
            let stretch_end = if at_ms + MIN_ROOM_MS <= self.faults_until_ms {
                SimTime::from_millis(at_ms)
            } else {
                self.world.until()
            };
            let reason = self.world.run_to(stretch_end, self.max_events, watchdog);
            let going_on = matches!(reason, StopReason::TimeLimit | StopReason::Idle)
                && self.world.now() < self.world.until();
            if !going_on {
                break reason;
            }
            let signature = Signature::of(&self.world);
            if !seen.contains(&signature) && mine.insert(signature.clone()) {
                if moments.len() < self.moments_limit {
                    moments.push(NewMoment {
                        signature: signature.clone(),
                        world: self.world.fork(),
                        at_ms,
                    });
                }
                signatures.push(signature);
            }
            at_ms += step;
        };
        let events_run = self.world.events() - events_before;
        let summary = self
            .world
            .finish(&self.resolved, reason)
            .expect("a hash-only trace cannot fail to write");
        TrialResult {
            id: self.id,
            origin: self.origin,
            scenario: self.scenario,
            summary,
            events_run,
            new_states: 0,
            moments,
            signatures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &'static str) -> Move {
        Move {
            name,
            episodes: Vec::new(),
        }
    }

    #[test]
    fn a_branch_picks_among_the_moves_picked_least_so_far() {
        let found = [named("shrunk"), named("lost_tail"), named("handover")];
        let names = |picks: &BTreeMap<&'static str, u64>| -> Vec<&str> {
            least_picked(&found, picks).iter().map(|m| m.name).collect()
        };
        // Nothing picked yet: every move offered is a candidate.
        assert_eq!(names(&BTreeMap::new()), ["shrunk", "lost_tail", "handover"]);
        // A common situation picked often gives way to the rarer ones, whatever the counts of
        // moves not offered here.
        let picks = BTreeMap::from([
            ("shrunk", 40),
            ("handover", 3),
            ("lost_tail", 3),
            ("laggard", 0),
        ]);
        assert_eq!(names(&picks), ["lost_tail", "handover"]);
        let picks = BTreeMap::from([("shrunk", 40), ("handover", 3)]);
        assert_eq!(names(&picks), ["lost_tail"]);
        assert!(least_picked(&[], &picks).is_empty());
    }
}
