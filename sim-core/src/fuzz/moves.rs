//! Faults aimed at protocol moments: what the explorer adds, besides random episodes, when a
//! moment it branches from is one where Kafka's replication is known to be fragile.
//!
//! Each move reads the moment (the partitions' leaders, ISRs and logs, the AlterPartition a
//! leader has in flight, the active controller's view of the brokers) and returns one to three
//! episodes aimed at the nodes that matter there, most starting within a few hundred
//! milliseconds.
//! They are the nemesis's own kinds of fault, on the nemesis's own rules (`Occupancy` still
//! decides whether they fit), so the fault model Kafka must survive is unchanged: a move only
//! chooses *when* and *where*. No move knows a bug: each names a situation that the KIPs and
//! JIRAs of the replication protocol return to.
//!
//! - `expand_in_flight`: a leader has proposed adding replica R to the ISR. The request is
//!   held back (a stuck AlterPartition) while R loses its disk or power and comes back, so the
//!   controller judges the proposal on a new incarnation (KIP-903).
//! - `shrink_in_flight`: a leader has proposed a smaller ISR; the leader fails before or after
//!   the controller commits it (the window KIP-966's ELR is about).
//! - `laggard`: a replica's log is behind the leader's; the leader fails, so a replica that is
//!   short of records may be elected (KIP-101, KIP-279: truncation after a leader change).
//! - `diverged`: a replica's log runs ahead of the leader's, or a replica still thinks it
//!   leads; the current leader fails, so a second leader change follows the first before the
//!   logs are reconciled (KIP-279's fast failovers, KAFKA-6880's zombies).
//! - `rejoining`: a replica out of the ISR is running and catching up; the AlterPartition
//!   that will add it back is held back while it fails and returns (KIP-903).
//! - `handover`: an in-sync follower knows an older HW than the leader's; the leader shuts
//!   down, so the next leader starts from that HW (KAFKA-7128).
//! - `lost_tail`: an in-sync follower, the next leader, knows an older HW than the leader's,
//!   and another in-sync follower remains to advance it. The leader's answers to the next
//!   leader turn slow, so it learns each HW later; the leader then loses power (its unflushed
//!   tail with it) and returns around when its broker session expires, so it registers and
//!   fetches from the next leader, elected at that expiry, while the new leader's HW is still
//!   the older one; the other follower's fetches to the new leader are held back (KAFKA-7128).
//! - `shrunk`: the ISR is smaller than the replica set; one of its members loses power or its
//!   disk, or shuts down, which leads to the question of who may be elected (unclean election,
//!   ELR, KIP-966).
//! - `stale_hw`: the leader's HW is behind what an earlier leader committed (a new leader
//!   learns it one fetch round late); the leader shuts down a little later and, when no
//!   replica is stopped, one is stopped briefly, so a returning replica's fetch meets the
//!   stale HW (KAFKA-7128, the LESO rule).
//! - `fenced_fetcher`: a running broker the active controller has fenced (its metadata is cut)
//!   keeps fetching; another replica pauses and the leader fails, so leadership moves, and
//!   half the time back, without it hearing (KIP-320).
//! - `metadata_cut`: a steady follower stops hearing from the active controller, the first
//!   step of a fenced fetcher.

use super::nemesis::{Episode, FaultKind};
use crate::broker::partition::Partition;
use crate::check::data::{DataCx, PartitionGround};
use crate::engine::{NodeStatus, SimRng};
use crate::kraft::controller::Controller;
use crate::kraft::{BrokerId, MetadataImage, TopicPartition};
use crate::proto::CHANNELS;
use crate::world::World;

/// A situation a move aims at, and the episodes it adds.
#[derive(Clone, Debug)]
pub struct Move {
    pub name: &'static str,
    pub episodes: Vec<Episode>,
}

/// What a move needs to know of the run: the targets (by `Occupancy` index) and when the
/// episodes may start and must end.
#[derive(Debug)]
pub struct Frame<'a> {
    /// (name, is a broker) of each target, as the explorer lists them.
    pub targets: &'a [(String, bool)],
    pub from_ms: u64,
    pub until_ms: u64,
    /// A broker may still lose power or its disk in this run: the budget of lossy shutdowns
    /// (`NemesisOptions::broker_lossy_shutdowns`) is not spent, so a power loss is not turned
    /// into a crash.
    pub lossy: bool,
}

impl Frame<'_> {
    fn index(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|(t, _)| t == name)
    }

    /// An episode of `kind` on `target`, starting within `delay` of the moment and lasting an
    /// outage drawn from `outage`, cut at the end of the fault phase.
    fn episode(
        &self,
        rng: &mut SimRng,
        kind: FaultKind,
        target: usize,
        delay: (u64, u64),
        outage: (u64, u64),
    ) -> Episode {
        let start_ms = (self.from_ms + rng.between(delay.0, delay.1)).min(self.until_ms);
        let end_ms = (start_ms + rng.between(outage.0, outage.1)).min(self.until_ms);
        Episode::on(kind, target, start_ms, end_ms)
    }

    /// The leader (`target`) crashes, loses power or shuts down within `delay`, for `outage`.
    fn leader_fails(
        &self,
        rng: &mut SimRng,
        target: usize,
        delay: (u64, u64),
        outage: (u64, u64),
    ) -> Episode {
        let kind = failure(rng);
        self.episode(rng, kind, target, delay, outage)
    }
}

/// The fault phase left that `lost_tail` needs: up to 4 s of slow answers, then the session's
/// expiry and the old leader's return within about 12 s of the power loss.
const LOST_TAIL_ROOM_MS: u64 = 16_000;

/// A failure of a leader or replica: a crash, a power loss or a clean shutdown, then a restart.
fn failure(rng: &mut SimRng) -> FaultKind {
    [FaultKind::Crash, FaultKind::PowerLoss, FaultKind::Shutdown][rng.below(3) as usize]
}

/// One move per situation found at this moment, in a fixed order (partitions in order, and
/// within a partition the order of the module's list).
pub fn moves(world: &World, frame: &Frame<'_>, rng: &mut SimRng) -> Vec<Move> {
    let sim = world.sim();
    let checker = world.checker();
    let cx = DataCx {
        g: checker.ground(),
        sim,
    };
    let active = crate::world::active_controller(sim);
    let controller = active.and_then(|c| frame.index(cx.g.name(c)));
    let image = active
        .and_then(|c| sim.node(c)?.controller())
        .map(Controller::committed_image);
    let mut out: Vec<Move> = Vec::new();
    for (tp, pg) in checker.data().partitions.iter().filter(|(_, p)| p.created) {
        let Some(scene) = Scene::of(&cx, frame, *tp, pg, controller, image) else {
            continue;
        };
        scene.in_flight(rng, &mut out);
        scene.behind_or_ahead(rng, &mut out);
        scene.out_of_sync(rng, &mut out);
        scene.unheard(rng, &mut out);
    }
    out.retain(|m| m.episodes.iter().all(|e| e.end_ms > e.start_ms));
    out
}

/// One partition at the moment, from its leader's side.
struct Scene<'a> {
    cx: &'a DataCx<'a>,
    frame: &'a Frame<'a>,
    tp: TopicPartition,
    pg: &'a PartitionGround,
    /// The leader's replica.
    state: &'a Partition,
    /// The leader's target index.
    l: usize,
    followers: Vec<BrokerId>,
    /// The active controller's target index.
    controller: Option<usize>,
    image: Option<&'a MetadataImage>,
}

impl<'a> Scene<'a> {
    fn of(
        cx: &'a DataCx<'a>,
        frame: &'a Frame<'a>,
        tp: TopicPartition,
        pg: &'a PartitionGround,
        controller: Option<usize>,
        image: Option<&'a MetadataImage>,
    ) -> Option<Scene<'a>> {
        let leader = pg.leader?;
        let l = frame.index(cx.g.name(cx.node(leader)))?;
        let state = cx.broker(leader)?.partitions().get(&tp)?;
        let followers = pg
            .replicas
            .iter()
            .copied()
            .filter(|&b| b != leader)
            .collect();
        Some(Scene {
            cx,
            frame,
            tp,
            pg,
            state,
            l,
            followers,
            controller,
            image,
        })
    }

    fn target_of(&self, b: BrokerId) -> Option<usize> {
        self.frame.index(self.cx.g.name(self.cx.node(b)))
    }

    fn replica(&self, b: BrokerId) -> Option<&'a Partition> {
        self.cx.broker(b)?.partitions().get(&self.tp)
    }

    fn running(&self, b: BrokerId) -> bool {
        self.cx.sim.status(self.cx.node(b)) == NodeStatus::Running
    }

    /// `expand_in_flight`, `shrink_in_flight`.
    fn in_flight(&self, rng: &mut SimRng, out: &mut Vec<Move>) {
        let Some(leader) = self.state.leader_state.as_ref() else {
            return;
        };
        let Some(pending) = leader.pending.as_ref() else {
            return;
        };
        let (frame, l) = (self.frame, self.l);
        if pending.expand {
            let added = pending.proposed.iter().find(|b| !leader.isr.contains(b));
            if let (Some(&r), Some(c)) = (added, self.controller)
                && let Some(ri) = self.target_of(r)
            {
                out.push(Move {
                    name: "expand_in_flight",
                    episodes: held_back_while_lost(frame, rng, (l, c, ri), (0, 0), (20, 400)),
                });
            }
        } else {
            out.push(Move {
                name: "shrink_in_flight",
                episodes: vec![frame.leader_fails(rng, l, (0, 300), (500, 8_000))],
            });
        }
    }

    /// `laggard`, `diverged`.
    fn behind_or_ahead(&self, rng: &mut SimRng, out: &mut Vec<Move>) {
        let (frame, l, pg) = (self.frame, self.l, self.pg);
        let leo = self.state.log_end_offset();
        let lagging = self.followers.iter().any(|&b| {
            pg.isr.contains(&b) && self.replica(b).is_some_and(|p| p.log_end_offset() < leo)
        });
        if lagging {
            out.push(Move {
                name: "laggard",
                episodes: vec![frame.leader_fails(rng, l, (0, 200), (1_500, 12_000))],
            });
        }
        let diverged = self.followers.iter().find(|&&b| {
            self.replica(b)
                .is_some_and(|p| p.log_end_offset() > leo || p.is_leader())
        });
        if let Some(&d) = diverged {
            let mut episodes = vec![frame.leader_fails(rng, l, (0, 300), (1_000, 10_000))];
            if let Some(di) = self.target_of(d).filter(|_| rng.chance(0.5)) {
                episodes.push(frame.episode(rng, FaultKind::Crash, di, (0, 1_000), (50, 1_500)));
            }
            out.push(Move {
                name: "diverged",
                episodes,
            });
        }
    }

    /// `rejoining`, `handover`, `shrunk`, `stale_hw`.
    fn out_of_sync(&self, rng: &mut SimRng, out: &mut Vec<Move>) {
        let (frame, l, pg, state) = (self.frame, self.l, self.pg, self.state);
        let rejoining = self
            .followers
            .iter()
            .copied()
            .find(|&b| !pg.isr.contains(&b) && self.running(b));
        if let (Some(r), Some(c)) = (rejoining, self.controller)
            && let Some(ri) = self.target_of(r)
        {
            // The expansion that will add it back is held back while it fails and returns.
            out.push(Move {
                name: "rejoining",
                episodes: held_back_while_lost(frame, rng, (l, c, ri), (0, 200), (100, 1_500)),
            });
        }
        let hw_behind = self.followers.iter().any(|&b| {
            pg.isr.contains(&b)
                && self
                    .replica(b)
                    .is_some_and(|p| p.high_watermark < state.high_watermark)
        });
        if hw_behind {
            // The leader goes while a follower knows an older HW: the next leader starts from it.
            let shutdown = frame.episode(rng, FaultKind::Shutdown, l, (0, 300), (1_000, 12_000));
            out.push(Move {
                name: "handover",
                episodes: vec![shutdown],
            });
        }
        if let Some(episodes) = self.lost_tail(rng) {
            out.push(Move {
                name: "lost_tail",
                episodes,
            });
        }
        if pg.isr.len() < pg.replicas.len() && !pg.isr.is_empty() {
            let last = pg.isr[rng.below(pg.isr.len() as u64) as usize];
            if let Some(li) = self.target_of(last) {
                let kind = [
                    FaultKind::PowerLoss,
                    FaultKind::Shutdown,
                    FaultKind::DiskLoss,
                ][rng.below(3) as usize];
                out.push(Move {
                    name: "shrunk",
                    episodes: vec![frame.episode(rng, kind, li, (0, 500), (500, 10_000))],
                });
            }
        }
        if state.high_watermark < pg.true_hw {
            let down = self
                .followers
                .iter()
                .copied()
                .filter(|&b| !self.running(b))
                .find_map(|b| self.target_of(b));
            let mut episodes =
                vec![frame.episode(rng, FaultKind::Shutdown, l, (300, 3_000), (1_000, 10_000))];
            if down.is_none()
                && let Some(fi) = self.followers.first().and_then(|&b| self.target_of(b))
            {
                episodes.push(frame.episode(rng, FaultKind::Shutdown, fi, (0, 200), (100, 1_000)));
            }
            out.push(Move {
                name: "stale_hw",
                episodes,
            });
        }
    }

    /// `lost_tail`'s episodes, when the moment has one: the leader's link to the next leader
    /// slow, the leader's power loss, and the other in-sync follower's replica fetches to the
    /// next leader held back.
    fn lost_tail(&self, rng: &mut SimRng) -> Option<Vec<Episode>> {
        let (frame, pg, state) = (self.frame, self.pg, self.state);
        // A crash keeps the page cache: the leader would return with every record. And the
        // story needs room: the slow answers, the session's expiry, the registration.
        if !frame.lossy || frame.from_ms + LOST_TAIL_ROOM_MS > frame.until_ms {
            return None;
        }
        // KRaft elects the first live ISR member in assignment order (`PartitionChangeBuilder`).
        let next = self
            .followers
            .iter()
            .copied()
            .find(|&b| pg.isr.contains(&b) && self.running(b))?;
        if self.replica(next)?.high_watermark >= state.high_watermark {
            return None;
        }
        // Without another in-sync follower the new leader's ISR is itself alone, and its HW
        // moves to its log end at once.
        let other = self
            .followers
            .iter()
            .copied()
            .find(|&b| b != next && pg.isr.contains(&b))?;
        let (ni, oi) = (self.target_of(next)?, self.target_of(other)?);
        // The next leader learns each HW one slow answer late, for a while before the loss.
        let mut late = frame.episode(rng, FaultKind::SlowLink, self.l, (0, 100), (1_000, 4_000));
        late.other = ni;
        // A few hundred milliseconds: much later answers slow the acks=all producers, so
        // fewer records separate the two HWs.
        late.extra_ms = rng.between(300, 1_200);
        // Back around when `broker.session.timeout.ms` (9 s) has passed since its last
        // heartbeat: a broker back much earlier retries its registration with a backoff that
        // grows to seconds (`BrokerLifecycleManager`), so it would register well after the
        // election; one back later registers at once.
        let lost = Frame {
            from_ms: late.end_ms,
            ..*frame
        }
        .episode(rng, FaultKind::PowerLoss, self.l, (0, 0), (5_000, 10_000));
        let from_loss = Frame {
            from_ms: lost.start_ms,
            ..*frame
        };
        // Past the election, which comes with the session's expiry (later if the active
        // controller changes meanwhile), and the old leader's registration after it.
        let mut slow = from_loss.episode(rng, FaultKind::SlowChannel, oi, (0, 0), (12_000, 18_000));
        slow.other = ni;
        slow.channel = channel("replica_fetch");
        // Seconds: long enough that the old leader registers and fetches first.
        slow.extra_ms = rng.between(2_000, 6_000);
        Some(vec![late, lost, slow])
    }

    /// `fenced_fetcher`, or else `metadata_cut`.
    fn unheard(&self, rng: &mut SimRng, out: &mut Vec<Move>) {
        let (frame, l, pg) = (self.frame, self.l, self.pg);
        let fenced_running = self.followers.iter().copied().find(|&b| {
            self.running(b)
                && self
                    .image
                    .and_then(|m| m.brokers.get(&b))
                    .is_some_and(|r| r.fenced)
        });
        if let Some(f) = fenced_running {
            let other = self
                .followers
                .iter()
                .copied()
                .find(|&b| b != f)
                .and_then(|b| self.target_of(b));
            out.push(Move {
                name: "fenced_fetcher",
                episodes: away_and_back(frame, rng, l, other),
            });
        } else if let (Some(c), true) = (self.controller, pg.isr.len() == pg.replicas.len())
            && let Some(&f) = self
                .followers
                .get(rng.below(self.followers.len().max(1) as u64) as usize)
            && let Some(fi) = self.target_of(f)
        {
            let mut cut = frame.episode(rng, FaultKind::OneWay, c, (0, 300), (6_000, 15_000));
            cut.other = fi;
            out.push(Move {
                name: "metadata_cut",
                episodes: vec![cut],
            });
        }
    }
}

/// Leadership moves away from `leader` and, half the time, back, while a fenced replica does
/// not hear: `other` (another replica) pauses, so only the fenced one gets the leader's last
/// records; the leader fails; and the replica that took over shuts down once the old leader is
/// back.
fn away_and_back(
    frame: &Frame<'_>,
    rng: &mut SimRng,
    leader: usize,
    other: Option<usize>,
) -> Vec<Episode> {
    let fail = frame.leader_fails(rng, leader, (300, 1_000), (1_000, 6_000));
    let Some(oi) = other else {
        return vec![fail];
    };
    let pause = frame.episode(rng, FaultKind::Pause, oi, (0, 200), (500, 3_000));
    let back = Frame {
        from_ms: fail.end_ms.max(pause.end_ms),
        ..*frame
    };
    let mut episodes = vec![pause, fail];
    if rng.chance(0.5) {
        let shutdown = back.episode(rng, FaultKind::Shutdown, oi, (500, 3_000), (1_000, 8_000));
        episodes.push(shutdown);
    }
    episodes
}

/// The leader's AlterPartition connection to the active controller held back (from within
/// `slow_delay` of the moment, for 0.2 to 2.5 s, each request 1 to 6 s late) while the replica
/// it is about loses its disk or power, or crashes, within `loss_delay`, and returns within
/// 0.6 s: the controller may judge the request on a new incarnation. `(leader, controller,
/// replica)` are target indices.
fn held_back_while_lost(
    frame: &Frame<'_>,
    rng: &mut SimRng,
    (leader, controller, replica): (usize, usize, usize),
    slow_delay: (u64, u64),
    loss_delay: (u64, u64),
) -> Vec<Episode> {
    let mut slow = frame.episode(
        rng,
        FaultKind::SlowChannel,
        leader,
        slow_delay,
        (200, 2_500),
    );
    slow.other = controller;
    slow.channel = channel("alter_partition");
    slow.extra_ms = rng.between(1_000, 6_000);
    let kind = [FaultKind::DiskLoss, FaultKind::PowerLoss, FaultKind::Crash][rng.below(3) as usize];
    let lost = frame.episode(rng, kind, replica, loss_delay, (50, 600));
    vec![slow, lost]
}

/// The index of a connection in [`CHANNELS`].
fn channel(name: &str) -> usize {
    CHANNELS
        .iter()
        .position(|(n, _)| *n == name)
        .expect("a known channel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{SimTime, Stream};
    use crate::scenario::{Role, parse};
    use crate::trace::TraceSink;
    use std::collections::BTreeSet;

    /// The moves found at every 10 ms of `[from_ms, to_ms]` of a bundled scenario's run.
    fn moves_along(text: &str, from_ms: u64, to_ms: u64) -> Vec<(u64, Move)> {
        moves_along_with(text, from_ms, to_ms, true)
    }

    /// [`moves_along`], saying whether a broker may still lose power or its disk.
    fn moves_along_with(text: &str, from_ms: u64, to_ms: u64, lossy: bool) -> Vec<(u64, Move)> {
        let scenario = parse(text, "test").expect("a bundled scenario parses");
        let targets: Vec<(String, bool)> = scenario
            .members()
            .iter()
            .filter(|m| matches!(m.role, Role::Controller | Role::Broker))
            .map(|m| (m.name.clone(), m.role == Role::Broker))
            .collect();
        let resolved = scenario.resolve();
        let mut world = World::new(&resolved, scenario.seed, TraceSink::hash_only());
        let mut rng = SimRng::new(7, Stream::Explore);
        let mut out = Vec::new();
        for at in (from_ms..=to_ms).step_by(10) {
            world.run_to(SimTime::from_millis(at), u64::MAX, &mut || false);
            let frame = Frame {
                targets: &targets,
                from_ms: at + 1,
                until_ms: at + 20_000,
                lossy,
            };
            out.extend(moves(&world, &frame, &mut rng).into_iter().map(|m| (at, m)));
        }
        out
    }

    #[test]
    fn an_isr_expansion_in_flight_is_held_back_while_the_added_replica_fails() {
        // KIP-903's story: broker-1 proposes adding broker-2 back to the ISR once it has
        // caught up after its pause.
        let text = include_str!("../../../scenarios/bugs/no-broker-epoch-in-isr.json");
        let found = moves_along(text, 36_300, 36_800);
        let (at, m) = found
            .iter()
            .find(|(_, m)| m.name == "expand_in_flight")
            .expect("the AlterPartition that adds broker-2 back is in flight at some point");
        let [slow, lost] = &m.episodes[..] else {
            panic!("a slow channel and a failure, got {m:?}");
        };
        assert_eq!(slow.kind, FaultKind::SlowChannel);
        assert_eq!(CHANNELS[slow.channel].0, "alter_partition");
        assert!(slow.start_ms == at + 1 && slow.extra_ms >= 1_000);
        // Targets are listed controllers first (3), then brokers: broker-1 is 3, broker-2 is 4.
        assert_eq!((slow.target, lost.target), (3, 4));
        assert!(matches!(
            lost.kind,
            FaultKind::DiskLoss | FaultKind::PowerLoss | FaultKind::Crash
        ));
        assert!(lost.start_ms > slow.start_ms && lost.start_ms < slow.end_ms);
    }

    #[test]
    fn a_next_leader_with_an_older_hw_gets_the_leader_power_loss_and_a_held_back_follower() {
        // KAFKA-7128's story: broker-1 leads [1,2,3,4] and its answers to broker-2 run 5 s
        // late, so broker-2, the next leader in assignment order, knows an older HW.
        let text = include_str!("../../../scenarios/bugs/no-leso-rule.json");
        let found = moves_along(text, 10_000, 10_200);
        let (at, m) = found
            .iter()
            .find(|(_, m)| m.name == "lost_tail")
            .expect("broker-2 knows an older HW than broker-1 while broker-3 is in sync");
        let [late, lost, held] = &m.episodes[..] else {
            panic!("a slow link, a power loss and a slow channel, got {m:?}");
        };
        // Targets: controllers 0..3, then broker-1 is 3, broker-2 is 4, broker-3 is 5.
        assert_eq!(
            (late.kind, late.target, late.other),
            (FaultKind::SlowLink, 3, 4)
        );
        assert!(late.start_ms > *at && late.extra_ms >= 300);
        assert_eq!((lost.kind, lost.target), (FaultKind::PowerLoss, 3));
        assert_eq!(
            lost.start_ms, late.end_ms,
            "the power loss follows the slow answers"
        );
        // Back around when broker-1's session (9 s) expires, so it rejoins at the election.
        assert!((5_000..=10_000).contains(&(lost.end_ms - lost.start_ms)));
        assert_eq!(
            (held.kind, held.target, held.other),
            (FaultKind::SlowChannel, 5, 4)
        );
        assert_eq!(CHANNELS[held.channel].0, "replica_fetch");
        assert!(held.extra_ms >= 2_000);
        assert!(held.start_ms == lost.start_ms && held.end_ms >= lost.start_ms + 12_000);
        // Without a lossy shutdown left, the power loss would be a crash, which keeps the page
        // cache and so every record: the move is not offered.
        assert!(
            moves_along_with(text, 10_000, 10_200, false)
                .iter()
                .all(|(_, m)| m.name != "lost_tail")
        );
    }

    #[test]
    fn a_steady_cluster_offers_only_the_moves_of_steady_replication() {
        // Before any fault every ISR is full: the moves are those of replication going on (a
        // follower a fetch behind in records or HW, a follower whose metadata could be cut),
        // none of a situation a fault makes.
        let text = include_str!("../../../scenarios/bugs/no-broker-epoch-in-isr.json");
        let names: BTreeSet<&str> = moves_along(text, 10_000, 10_200)
            .iter()
            .map(|(_, m)| m.name)
            .collect();
        assert!(names.contains("metadata_cut"), "{names:?}");
        assert!(
            names
                .iter()
                .all(|n| ["metadata_cut", "laggard", "handover", "lost_tail"].contains(n)),
            "{names:?}"
        );
    }
}
