//! A KRaft controller process: a Raft voter, and while it leads, the active quorum controller
//! (KIP-631, `QuorumController`).
//!
//! Map:
//! - every controller replays committed records into `committed`, its metadata image;
//! - the Raft leader becomes the active controller once its HW passes its epoch start (so it
//!   has applied everything earlier leaders committed: `KafkaRaftClient` only tells the
//!   listener it leads at that point). It then keeps `Active::image`, the committed image
//!   plus its own uncommitted writes;
//! - a write stages records into that image, appends them to Raft, and its response waits
//!   until the HW covers them (`deferredEventQueue`): no broker hears of a decision before it
//!   is committed;
//! - losing leadership drops `Active` whole, which reverts every uncommitted write
//!   (`renounce` → `revertToSnapshot`).
//!
//! The active controller registers brokers, tracks their heartbeats, fences brokers whose
//! session expired (one per run of its periodic check, `maybeFenceOneStaleBroker`), unfences
//! caught-up brokers, runs controlled shutdown, creates the scenario's topics, elects partition
//! leaders (§2.8, §2.9), and runs leader balancing and unclean elections for leaderless
//! partitions as periodic tasks (`PeriodicTaskControlManager`).

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::raft::{Raft, RaftDisk};
use super::{
    BrokerId, BrokerRegistration, ChangeContext, Election, LeaderRecoveryState, MetadataImage,
    MetadataRecord, PartitionRegistration, TopicPartition, partition_change,
};
use crate::config::ClusterConfig;
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::proto::{
    AlterPartitionError, AlterPartitionRequest, AlterPartitionResponse, BrokerHeartbeatRequest,
    BrokerHeartbeatResponse, ControllerError, Ctx, Event, FenceReason, Msg, Timer,
};

/// `ReplicationControlManager.MAX_ELECTIONS_PER_IMBALANCE`: the most partition changes one run
/// of a periodic election task writes.
const MAX_ELECTIONS_PER_IMBALANCE: usize = 1_000;

/// The active controller's periodic tasks that kafkasim models (`QuorumController` registers
/// them with its `PeriodicTaskControlManager`; the NoOp writer is `Timer::NoOp`).
#[derive(Clone, Copy, Debug)]
enum PeriodicTask {
    /// "maybeFenceStaleBroker" (KAFKA-17793, Kafka 4.0).
    FenceStaleBroker,
    /// "electPreferred": leader balancing, while `auto.leader.rebalance.enable`.
    ElectPreferred,
    /// "electUnclean": unclean elections for leaderless partitions.
    ElectUnclean,
}

impl PeriodicTask {
    const ALL: [PeriodicTask; 3] = [
        PeriodicTask::FenceStaleBroker,
        PeriodicTask::ElectPreferred,
        PeriodicTask::ElectUnclean,
    ];

    /// `PeriodicTask.IMMEDIATE_PERIOD_NS`: how soon a run that left work runs again.
    const IMMEDIATE: SimDuration = SimDuration::from_millis(10);

    fn timer(self) -> Timer {
        match self {
            PeriodicTask::FenceStaleBroker => Timer::FenceStaleBroker,
            PeriodicTask::ElectPreferred => Timer::ElectPreferred,
            PeriodicTask::ElectUnclean => Timer::ElectUnclean,
        }
    }

    /// Its period, or `None` when the task is not registered (`QuorumController` registers
    /// "electPreferred" only while `auto.leader.rebalance.enable`).
    fn period(self, cluster: &ClusterConfig) -> Option<SimDuration> {
        let b = &cluster.broker;
        match self {
            // `maybeFenceStaleBrokerPeriodNs`: an eighth of `broker.session.timeout.ms`, at
            // least 1 ms, so a silent broker is fenced between one and 1.125 session timeouts
            // after its last heartbeat.
            PeriodicTask::FenceStaleBroker => {
                let eighth = b.broker_session_timeout_ms.saturating_mul(1000) / 8;
                Some(SimDuration::from_micros(eighth.max(1_000)))
            }
            PeriodicTask::ElectPreferred => b.auto_leader_rebalance_enable.then(|| {
                let seconds = b.leader_imbalance_check_interval_seconds;
                SimDuration::from_millis(seconds.saturating_mul(1000))
            }),
            PeriodicTask::ElectUnclean => Some(SimDuration::from_millis(
                b.unclean_leader_election_interval_ms,
            )),
        }
    }
}

/// A broker's session as the active controller tracks it (`BrokerHeartbeatManager`); volatile,
/// restarted for every broker when a controller activates.
#[derive(Clone, Debug)]
struct Session {
    last_contact: SimTime,
    /// What the broker last said it has applied.
    metadata_offset: u64,
    /// Where its controlled-shutdown record went, once written.
    controlled_shutdown_offset: Option<u64>,
}

/// A response held until the HW reaches `committed_offset`.
#[derive(Clone, Debug)]
struct Deferred {
    committed_offset: u64,
    to: NodeId,
    msg: Msg,
}

/// The active controller's volatile state.
#[derive(Clone, Debug)]
struct Active {
    epoch: u32,
    /// Committed records plus this controller's own uncommitted ones.
    image: MetadataImage,
    /// Records staged by the current operation, not yet appended.
    staged: Vec<MetadataRecord>,
    sessions: BTreeMap<BrokerId, Session>,
    deferred: Vec<Deferred>,
    /// Why each fence record was written, by offset, for the event reported at commit.
    fence_reasons: BTreeMap<u64, FenceReason>,
}

impl Active {
    fn stage(&mut self, record: MetadataRecord) {
        self.image.apply(&record);
        self.staged.push(record);
    }
}

#[derive(Clone, Debug)]
pub struct Controller {
    cluster: Arc<ClusterConfig>,
    raft: Raft,
    committed: MetadataImage,
    active: Option<Active>,
    shutting_down: bool,
}

impl Controller {
    /// Starts a controller process; `incarnation` numbers its restarts.
    pub fn boot(
        cluster: Arc<ClusterConfig>,
        me: NodeId,
        disk: RaftDisk,
        incarnation: u32,
    ) -> Controller {
        let raft = Raft::boot(cluster.raft.clone(), me, disk, incarnation);
        Controller {
            cluster,
            raft,
            committed: MetadataImage::default(),
            active: None,
            shutting_down: false,
        }
    }

    /// What must always hold of the quorum controller between handlers: its Raft replica's
    /// invariants, well-formed metadata images, and (when active) no record staged and not yet
    /// appended, an own image at least as far as the committed one, and sessions only for
    /// registered brokers.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        self.raft.check_invariants()?;
        self.committed.check_invariants()?;
        if let Some(a) = &self.active {
            ensure!(
                a.staged.is_empty(),
                "the active controller left {} record(s) staged",
                a.staged.len()
            );
            ensure!(
                a.image.next_offset >= self.committed.next_offset,
                "the active controller's image ({}) is behind the committed one ({})",
                a.image.next_offset,
                self.committed.next_offset
            );
            a.image.check_invariants()?;
            ensure!(
                a.sessions.keys().all(|b| a.image.brokers.contains_key(b)),
                "a broker session without a registration"
            );
        }
        Ok(())
    }

    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    pub fn into_disk(self) -> RaftDisk {
        self.raft.into_disk()
    }
    pub fn raft(&self) -> &Raft {
        &self.raft
    }
    /// The image of committed records this controller has applied.
    pub(crate) fn committed_image(&self) -> &MetadataImage {
        &self.committed
    }
    /// True while this controller is the active controller.
    pub(crate) fn is_active(&self) -> bool {
        self.active.is_some()
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.raft.start(ctx);
        self.sync(ctx);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Vote(req) => self.raft.on_vote(ctx, from, req),
            Msg::VoteResponse(resp) => self.raft.on_vote_response(ctx, from, resp),
            Msg::BeginQuorumEpoch { epoch } => self.raft.on_begin_quorum_epoch(ctx, from, epoch),
            Msg::BeginQuorumEpochResponse { epoch, leader } => self
                .raft
                .on_begin_quorum_epoch_response(ctx, from, epoch, leader),
            Msg::EndQuorumEpoch {
                epoch,
                preferred_successors,
            } => self
                .raft
                .on_end_quorum_epoch(ctx, from, epoch, &preferred_successors),
            Msg::Fetch(req) => self.raft.on_fetch(ctx, from, req),
            Msg::FetchResponse(resp) => self.raft.on_fetch_response(ctx, from, *resp),
            Msg::BrokerRegistration {
                broker,
                incarnation,
                previous_broker_epoch,
            } => self.on_broker_registration(ctx, from, broker, incarnation, previous_broker_epoch),
            Msg::BrokerHeartbeat(req) => self.on_broker_heartbeat(ctx, from, req),
            Msg::AlterPartition(req) => self.on_alter_partition(ctx, from, *req),
            // Data-plane traffic and responses to broker requests never come to a controller.
            _ => {}
        }
        self.sync(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::Election => self.raft.on_election_timeout(ctx),
            Timer::ElectionBackoff => self.raft.on_election_backoff_timeout(ctx),
            Timer::FetchTimeout => self.raft.on_fetch_timeout(ctx),
            Timer::FetchRetry => self.raft.on_fetch_retry(ctx),
            Timer::FetchRequestTimeout => self.raft.on_fetch_request_timeout(ctx),
            Timer::CheckQuorum => self.raft.on_check_quorum_timeout(ctx),
            Timer::FetchWait => self.raft.on_fetch_wait(ctx),
            Timer::BeginQuorumEpochRetry => self.raft.on_begin_quorum_epoch_retry(ctx),
            Timer::NoOp => self.on_noop_timer(ctx),
            Timer::FenceStaleBroker => self.on_fence_stale_broker(ctx),
            Timer::ElectPreferred => self.on_periodic_election(ctx, PeriodicTask::ElectPreferred),
            Timer::ElectUnclean => self.on_periodic_election(ctx, PeriodicTask::ElectUnclean),
            Timer::ShutdownTimeout => self.raft.on_shutdown_timeout(),
            // Broker and client timers.
            _ => {}
        }
        self.sync(ctx);
    }

    pub(crate) fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        self.raft.on_disconnect(ctx, peer);
        self.sync(ctx);
    }

    /// Graceful shutdown: an active controller resigns and waits for a successor.
    pub(crate) fn on_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        self.shutting_down = true;
        if self.raft.shutdown(ctx) {
            ctx.stop();
            return;
        }
        self.sync(ctx);
    }

    /// After every step: apply what committed, claim or renounce, release responses.
    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let hw = self.raft.high_watermark().unwrap_or(0);
        let log_len = self.raft.log_end_offset();
        let leader = self.raft.is_leader();
        if self.committed.next_offset > log_len {
            // Applied records were truncated away, which only an unsafe protocol variant can
            // cause (the checkers report it): replay what is left.
            self.committed = MetadataImage::default();
        }
        while self.committed.next_offset < hw.min(log_len) {
            let offset = self.committed.next_offset;
            let entry = self
                .raft
                .log()
                .get(offset as usize)
                .expect("offsets below the HW are in the log");
            self.committed.apply(&entry.record);
            if leader {
                let reason = self
                    .active
                    .as_mut()
                    .and_then(|a| a.fence_reasons.remove(&offset));
                report_commit(ctx, &self.committed, offset, &entry.record, reason);
            }
        }
        // Renounce: not the leader any more, or leading a different epoch.
        if let Some(active) = &self.active
            && (!leader || self.raft.epoch() != active.epoch)
        {
            let epoch = active.epoch;
            self.active = None;
            ctx.cancel_timer(Timer::NoOp);
            for task in PeriodicTask::ALL {
                ctx.cancel_timer(task.timer());
            }
            ctx.emit(Event::ControllerRenounced { epoch });
        }
        // Claim: the leader has applied everything up to and including its epoch start.
        if leader
            && self.active.is_none()
            && !self.shutting_down
            && let Some(start) = self.raft.epoch_start_offset()
            && self.committed.next_offset > start
        {
            self.activate(ctx);
        }
        if let Some(active) = &mut self.active {
            let mut released = Vec::new();
            active.deferred.retain(|d| {
                if d.committed_offset <= hw {
                    released.push((d.to, d.msg.clone()));
                    false
                } else {
                    true
                }
            });
            for (to, msg) in released {
                ctx.send(to, msg);
            }
        }
        if self.shutting_down && self.raft.shutdown_complete() {
            ctx.stop();
        }
    }

    fn activate(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let epoch = self.raft.epoch();
        // Every registered broker gets a fresh session from the new controller.
        let sessions = self
            .committed
            .brokers
            .keys()
            .map(|&b| {
                (
                    b,
                    Session {
                        last_contact: now,
                        metadata_offset: 0,
                        controlled_shutdown_offset: None,
                    },
                )
            })
            .collect();
        self.active = Some(Active {
            epoch,
            image: self.committed.clone(),
            staged: Vec::new(),
            sessions,
            deferred: Vec::new(),
            fence_reasons: BTreeMap::new(),
        });
        ctx.emit(Event::ControllerActivated { epoch });
        let idle = SimDuration::from_millis(self.cluster.broker.metadata_max_idle_interval_ms);
        ctx.set_timer(Timer::NoOp, idle);
        // `PeriodicTaskControlManager.activate`: each periodic task first runs one period after
        // activation.
        for task in PeriodicTask::ALL {
            self.reschedule(ctx, task, false);
        }
        self.maybe_create_topics(ctx);
    }

    /// Appends what the current operation staged. Returns the offset the operation's response
    /// must wait for: the end of everything written so far.
    fn write_staged(&mut self, ctx: &mut Ctx<'_>) -> u64 {
        let active = self
            .active
            .as_mut()
            .expect("only the active controller writes");
        let staged = std::mem::take(&mut active.staged);
        if !staged.is_empty() {
            self.raft.append(ctx, staged);
        }
        let end = self.raft.log_end_offset();
        debug_assert_eq!(
            self.active.as_ref().map(|a| a.image.next_offset),
            Some(end),
            "the image tracks the log"
        );
        end
    }

    fn respond_when_committed(&mut self, committed_offset: u64, to: NodeId, msg: Msg) {
        let active = self
            .active
            .as_mut()
            .expect("only the active controller responds");
        active.deferred.push(Deferred {
            committed_offset,
            to,
            msg,
        });
    }

    fn session_timeout(&self) -> SimDuration {
        SimDuration::from_millis(self.cluster.broker.broker_session_timeout_ms)
    }

    // ---- registration and heartbeats (ClusterControlManager, ReplicationControlManager) ----

    fn on_broker_registration(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        broker: BrokerId,
        incarnation: u32,
        previous_broker_epoch: Option<u64>,
    ) {
        let now = ctx.now();
        let session_timeout = self.session_timeout();
        let Some(active) = &mut self.active else {
            ctx.send(
                from,
                Msg::BrokerRegistrationResponse {
                    error: Some(ControllerError::NotController),
                    broker_epoch: 0,
                    committed_offset: 0,
                },
            );
            return;
        };
        let existing = active.image.brokers.get(&broker).cloned();
        if let Some(e) = &existing {
            if e.incarnation == incarnation {
                // KAFKA-16952: the same incarnation registering again keeps its epoch.
                self.respond_registered(ctx, from, e.broker_epoch);
                return;
            }
            let session_live = !e.fenced
                && active
                    .sessions
                    .get(&broker)
                    .is_some_and(|s| s.last_contact + session_timeout >= now);
            if session_live {
                ctx.send(
                    from,
                    Msg::BrokerRegistrationResponse {
                        error: Some(ControllerError::DuplicateBrokerRegistration),
                        broker_epoch: 0,
                        committed_offset: 0,
                    },
                );
                return;
            }
        }
        // The broker epoch is the offset of the registration record: monotonic cluster-wide.
        let broker_epoch = active.image.next_offset;
        active.stage(MetadataRecord::RegisterBroker {
            broker,
            broker_epoch,
            incarnation,
        });
        // KIP-966: a broker that did not shut down cleanly may have lost its unflushed suffix,
        // so it leaves every ISR and ELR (`handleBrokerUncleanShutdown`); a clean one only
        // leaves the ISRs, being fenced.
        let clean = existing
            .as_ref()
            .is_some_and(|e| previous_broker_epoch == Some(e.broker_epoch));
        if existing.is_some() && !self.cluster.test_keep_isr_on_reregistration {
            let cx_unclean = (!clean).then_some(broker);
            let changes = self
                .cluster
                .changes_removing(&active.image, broker, cx_unclean);
            for c in changes {
                active.stage(c);
            }
        }
        if existing.as_ref().is_some_and(|e| !e.fenced) {
            // The old incarnation's registration is replaced by a fenced one.
            active
                .fence_reasons
                .insert(broker_epoch, FenceReason::Reregistered);
        }
        active.sessions.insert(
            broker,
            Session {
                last_contact: now,
                metadata_offset: 0,
                controlled_shutdown_offset: None,
            },
        );
        self.respond_registered(ctx, from, broker_epoch);
    }

    /// Writes what the registration staged; the broker hears its epoch once that commits.
    fn respond_registered(&mut self, ctx: &mut Ctx<'_>, from: NodeId, broker_epoch: u64) {
        let end = self.write_staged(ctx);
        self.respond_when_committed(
            end,
            from,
            Msg::BrokerRegistrationResponse {
                error: None,
                broker_epoch,
                committed_offset: end,
            },
        );
    }

    fn on_broker_heartbeat(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: BrokerHeartbeatRequest,
    ) {
        let now = ctx.now();
        let error_response = |error| {
            Msg::BrokerHeartbeatResponse(BrokerHeartbeatResponse {
                error: Some(error),
                is_caught_up: false,
                is_fenced: true,
                should_shut_down: false,
                committed_offset: 0,
            })
        };
        let Some(active) = &mut self.active else {
            ctx.send(from, error_response(ControllerError::NotController));
            return;
        };
        let Some(reg) = active.image.brokers.get(&req.broker).cloned() else {
            ctx.send(from, error_response(ControllerError::StaleBrokerEpoch));
            return;
        };
        if reg.broker_epoch != req.broker_epoch {
            ctx.send(from, error_response(ControllerError::StaleBrokerEpoch));
            return;
        }
        let session = active.sessions.entry(req.broker).or_insert(Session {
            last_contact: now,
            metadata_offset: 0,
            controlled_shutdown_offset: None,
        });
        session.last_contact = now;
        session.metadata_offset = req.metadata_offset;
        // The broker has applied its own registration record.
        let caught_up = req.metadata_offset > reg.broker_epoch;
        let mut unfenced = false;
        let mut shutdown_now = false;
        if req.want_shut_down {
            shutdown_now = stage_shutdown_step(&self.cluster, active, req.broker, &reg);
        } else if reg.fenced && !req.want_fence && caught_up && !reg.in_controlled_shutdown {
            active.stage(MetadataRecord::BrokerRegistrationChange {
                broker: req.broker,
                broker_epoch: reg.broker_epoch,
                fenced: Some(false),
                in_controlled_shutdown: None,
            });
            // handleBrokerUnfenced: leaderless partitions may now have a leader.
            let changes = self.cluster.changes_adding(&active.image, req.broker);
            for c in changes {
                active.stage(c);
            }
            unfenced = true;
        }
        let reg = &active.image.brokers[&req.broker];
        let is_fenced = reg.fenced;
        let end = self.write_staged(ctx);
        let response = BrokerHeartbeatResponse {
            error: None,
            is_caught_up: caught_up,
            is_fenced,
            should_shut_down: shutdown_now,
            committed_offset: end,
        };
        self.respond_when_committed(end, from, Msg::BrokerHeartbeatResponse(response));
        if unfenced {
            self.maybe_create_topics(ctx);
        }
    }

    /// `alterPartition` (§1.7): validate in Kafka's order, then commit the new ISR through
    /// `PartitionChangeBuilder`; the answer waits for the commit like every other.
    fn on_alter_partition(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: AlterPartitionRequest) {
        let tp = req.tp;
        let error = |error| {
            Msg::AlterPartitionResponse(Box::new(AlterPartitionResponse {
                tp,
                proposal: req.proposal,
                error: Some(error),
                leader_epoch: 0,
                partition_epoch: 0,
                isr: Vec::new(),
            }))
        };
        let Some(active) = &mut self.active else {
            ctx.send(from, error(AlterPartitionError::NotController));
            return;
        };
        if let Err(e) = validate_alter_partition(&active.image, &req) {
            ctx.send(from, error(e));
            return;
        }
        let p = active.image.partitions[&tp].clone();
        let target: Vec<BrokerId> = req.new_isr.iter().map(|(b, _)| *b).collect();
        let cx = self.cluster.change_context(&active.image, tp);
        let mut change = partition_change(tp, &p, target, &cx);
        // KIP-704: the leader recovered an unclean election before it asks to grow the ISR.
        if p.leader_recovery_state == LeaderRecoveryState::Recovering {
            let c = change.get_or_insert(super::PartitionChange {
                tp,
                leader: None,
                isr: None,
                elr: None,
                last_known_elr: None,
                leader_recovery_state: None,
                election: None,
            });
            c.leader_recovery_state = Some(LeaderRecoveryState::Recovered);
        }
        if let Some(c) = change {
            active.stage(MetadataRecord::PartitionChange(Box::new(c)));
        }
        let now = &active.image.partitions[&tp];
        let response = AlterPartitionResponse {
            tp,
            proposal: req.proposal,
            error: None,
            leader_epoch: now.leader_epoch,
            partition_epoch: now.partition_epoch,
            isr: now.isr.clone(),
        };
        let end = self.write_staged(ctx);
        self.respond_when_committed(end, from, Msg::AlterPartitionResponse(Box::new(response)));
    }

    /// `PeriodicTaskControlManager.reschedule`: the task's next run, [`PeriodicTask::IMMEDIATE`]
    /// when the last one left work, else a period later.
    fn reschedule(&self, ctx: &mut Ctx<'_>, task: PeriodicTask, immediate: bool) {
        if let Some(period) = task.period(&self.cluster) {
            let next = if immediate {
                PeriodicTask::IMMEDIATE
            } else {
                period
            };
            ctx.set_timer(task.timer(), next);
        }
    }

    /// The periodic election tasks (`ReplicationControlManager.maybeBalancePartitionLeaders`
    /// and `maybeElectUncleanLeaders`): at most `MAX_ELECTIONS_PER_IMBALANCE` records a run;
    /// `PeriodicTaskControlManager` runs the task again 10 ms later when it hit that cap, else
    /// one period later.
    fn on_periodic_election(&mut self, ctx: &mut Ctx<'_>, task: PeriodicTask) {
        let Some(active) = &mut self.active else {
            return;
        };
        let mut changes = Vec::new();
        for (tp, p) in &active.image.partitions {
            if changes.len() >= MAX_ELECTIONS_PER_IMBALANCE {
                break;
            }
            let mut cx = self.cluster.change_context(&active.image, *tp);
            match task {
                // `imbalancedPartitions`: every partition not led by `replicas[0]`, leaderless
                // ones included.
                PeriodicTask::ElectPreferred if p.leader != p.replicas.first().copied() => {
                    cx.preferred = true;
                }
                // `partitionsWithNoLeader` of topics that allow unclean elections
                // (`electLeader(UNCLEAN)`).
                PeriodicTask::ElectUnclean if p.leader.is_none() && cx.unclean_enabled => {}
                _ => continue,
            }
            changes.extend(partition_change(*tp, p, p.isr.clone(), &cx));
        }
        let capped = changes.len() >= MAX_ELECTIONS_PER_IMBALANCE;
        for c in changes {
            active.stage(MetadataRecord::PartitionChange(Box::new(c)));
        }
        self.write_staged(ctx);
        self.reschedule(ctx, task, capped);
    }

    /// `maybeFenceOneStaleBroker`, run by the periodic task: fence at most one broker whose
    /// session expired (`BrokerHeartbeatTracker.isExpired`: strictly more than the timeout since
    /// its last contact), then run again 10 ms later (`PeriodicTask`'s immediate period) for the
    /// next one, or a period later when none was stale.
    fn on_fence_stale_broker(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let timeout = self.session_timeout();
        let Some(active) = &mut self.active else {
            return;
        };
        let stale = active
            .sessions
            .iter()
            .filter(|(b, _)| active.image.brokers.get(b).is_some_and(|r| !r.fenced))
            .find(|(_, s)| s.last_contact + timeout < now)
            .map(|(b, _)| *b);
        let fenced = stale.is_some();
        if let Some(broker) = stale {
            stage_fence(&self.cluster, active, broker, FenceReason::SessionExpired);
            self.write_staged(ctx);
        }
        self.reschedule(ctx, PeriodicTask::FenceStaleBroker, fenced);
    }

    fn on_noop_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(active) = &mut self.active else {
            return;
        };
        active.stage(MetadataRecord::NoOp);
        self.write_staged(ctx);
        let idle = SimDuration::from_millis(self.cluster.broker.metadata_max_idle_interval_ms);
        ctx.set_timer(Timer::NoOp, idle);
    }

    /// Creates the scenario's topics, as an admin's CreateTopics with a manual assignment
    /// would, once every assigned broker is unfenced.
    fn maybe_create_topics(&mut self, ctx: &mut Ctx<'_>) {
        let Some(active) = &mut self.active else {
            return;
        };
        for (t, topic) in self.cluster.topics.iter().enumerate() {
            let t = t as u32;
            if active.image.topics.contains(&t) {
                continue;
            }
            let ready = topic
                .assignment
                .iter()
                .flatten()
                .all(|&b| active.image.is_active(b));
            if !ready {
                continue;
            }
            active.stage(MetadataRecord::Topic { topic: t });
            for (p, replicas) in topic.assignment.iter().enumerate() {
                active.stage(MetadataRecord::Partition {
                    tp: TopicPartition {
                        topic: t,
                        partition: p as u32,
                    },
                    registration: Arc::new(PartitionRegistration {
                        replicas: replicas.clone(),
                        isr: replicas.clone(),
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                        leader: replicas.first().copied(),
                        leader_epoch: 0,
                        partition_epoch: 0,
                        leader_recovery_state: LeaderRecoveryState::Recovered,
                    }),
                });
            }
        }
        if !active.staged.is_empty() {
            self.write_staged(ctx);
        }
    }
}

/// A heartbeat asking to shut down: the next step of `BrokerHeartbeatManager`'s
/// controlled-shutdown state machine, with what `ReplicationControlManager` writes for it
/// staged. True when the broker may go now (SHUTDOWN_NOW).
fn stage_shutdown_step(
    cluster: &ClusterConfig,
    active: &mut Active,
    broker: BrokerId,
    reg: &BrokerRegistration,
) -> bool {
    // BrokerHeartbeatManager.calculateNextBrokerState, and what
    // ReplicationControlManager.processBrokerHeartbeat writes for the next state.
    let leads = active.image.led_by(broker).next().is_some();
    if reg.fenced {
        // FENCED -> SHUTDOWN_NOW: it may go at once; it is fenced already.
        return true;
    } else if !reg.in_controlled_shutdown && leads {
        // UNFENCED -> CONTROLLED_SHUTDOWN (handleBrokerInControlledShutdown): leave
        // every ISR, hand leaderships over.
        let changes = cluster.changes_removing(&active.image, broker, None);
        for c in changes {
            active.stage(c);
        }
        let cs_offset = active.image.next_offset;
        active.stage(MetadataRecord::BrokerRegistrationChange {
            broker,
            broker_epoch: reg.broker_epoch,
            fenced: None,
            in_controlled_shutdown: Some(true),
        });
        if let Some(s) = active.sessions.get_mut(&broker) {
            s.controlled_shutdown_offset = Some(cs_offset);
        }
    } else if !leads && (!reg.in_controlled_shutdown || cs_applied_by_others(active, broker)) {
        // UNFENCED (leading nothing) or CONTROLLED_SHUTDOWN (done) -> SHUTDOWN_NOW:
        // `handleBrokerFenced` in this same step, so the broker leaves fenced and a new
        // incarnation can register at once, instead of waiting out its session.
        stage_fence(cluster, active, broker, FenceReason::ShutdownNow);
        return true;
    }
    false
}

/// `validateAlterPartitionData`, in Kafka's order (§1.7).
pub fn validate_alter_partition(
    image: &MetadataImage,
    req: &AlterPartitionRequest,
) -> Result<(), AlterPartitionError> {
    use AlterPartitionError as E;
    if image.brokers.get(&req.broker).map(|b| b.broker_epoch) != Some(req.broker_epoch) {
        return Err(E::StaleBrokerEpoch);
    }
    let p = image
        .partitions
        .get(&req.tp)
        .ok_or(E::UnknownTopicOrPartition)?;
    if req.leader_epoch > p.leader_epoch || req.partition_epoch > p.partition_epoch {
        // The request knows a newer partition state than this controller.
        return Err(E::NotController);
    }
    if req.leader_epoch < p.leader_epoch {
        // A zombie leader: its epoch is over.
        return Err(E::FencedLeaderEpoch);
    }
    if p.leader != Some(req.broker) {
        return Err(E::InvalidRequest);
    }
    if req.partition_epoch < p.partition_epoch {
        return Err(E::InvalidUpdateVersion);
    }
    let isr_ok = req.new_isr.iter().all(|(b, _)| p.replicas.contains(b))
        && req.new_isr.iter().any(|(b, _)| *b == req.broker);
    if !isr_ok {
        return Err(E::InvalidRequest);
    }
    // KIP-841 and KIP-903: every member must be registered, unfenced, not shutting down,
    // and in the incarnation the leader saw fetching.
    let ineligible = req.new_isr.iter().any(|(b, epoch)| {
        image
            .brokers
            .get(b)
            .is_none_or(|reg| !reg.is_active() || epoch.is_some_and(|e| e != reg.broker_epoch))
    });
    if ineligible {
        return Err(E::IneligibleReplica);
    }
    Ok(())
}

/// Reports a committed record as a protocol event (the active controller does this, once).
/// `handleBrokerFenced`: `broker` leaves every ISR, a new leader is elected where it led, then
/// its registration is fenced, all in one batch.
fn stage_fence(
    cluster: &ClusterConfig,
    active: &mut Active,
    broker: BrokerId,
    reason: FenceReason,
) {
    let broker_epoch = active.image.brokers[&broker].broker_epoch;
    let changes = if cluster.test_fence_keeps_isr {
        Vec::new()
    } else {
        cluster.changes_removing(&active.image, broker, None)
    };
    for c in changes {
        active.stage(c);
    }
    let offset = active.image.next_offset;
    active.fence_reasons.insert(offset, reason);
    active.stage(MetadataRecord::BrokerRegistrationChange {
        broker,
        broker_epoch,
        fenced: Some(true),
        in_controlled_shutdown: None,
    });
}

/// A broker in controlled shutdown may go once every other active broker (unfenced, not shutting
/// down) has reported applying its controlled-shutdown record
/// (`BrokerHeartbeatManager.lowestActiveOffset`). A controller that took over after the shutdown
/// began does not know that record's offset (`BrokerHeartbeatState`'s -1) and lets it go.
fn cs_applied_by_others(active: &Active, broker: BrokerId) -> bool {
    match active.sessions[&broker].controlled_shutdown_offset {
        None => true,
        Some(cs_offset) => active
            .sessions
            .iter()
            .filter(|(b, _)| **b != broker && active.image.is_active(**b))
            .all(|(_, s)| s.metadata_offset > cs_offset),
    }
}

fn report_commit(
    ctx: &mut Ctx<'_>,
    image: &MetadataImage,
    offset: u64,
    record: &MetadataRecord,
    reason: Option<FenceReason>,
) {
    match record {
        MetadataRecord::RegisterBroker {
            broker,
            broker_epoch,
            ..
        } => {
            if let Some(reason) = reason {
                ctx.emit(Event::BrokerFenced {
                    broker: *broker,
                    broker_epoch: *broker_epoch,
                    reason,
                    offset,
                });
            }
            ctx.emit(Event::BrokerRegistered {
                broker: *broker,
                broker_epoch: *broker_epoch,
            });
        }
        MetadataRecord::BrokerRegistrationChange {
            broker,
            broker_epoch,
            fenced,
            in_controlled_shutdown,
        } => {
            match fenced {
                Some(true) => ctx.emit(Event::BrokerFenced {
                    broker: *broker,
                    broker_epoch: *broker_epoch,
                    reason: reason.unwrap_or(FenceReason::SessionExpired),
                    offset,
                }),
                Some(false) => ctx.emit(Event::BrokerUnfenced {
                    broker: *broker,
                    broker_epoch: *broker_epoch,
                    offset,
                }),
                None => {}
            }
            if *in_controlled_shutdown == Some(true) {
                ctx.emit(Event::BrokerControlledShutdown {
                    broker: *broker,
                    offset,
                });
            }
        }
        MetadataRecord::Topic { topic } => ctx.emit(Event::TopicCreated { topic: *topic }),
        MetadataRecord::Partition { tp, .. } => {
            report_partition(ctx, image, *tp, Some(Election::Clean));
        }
        MetadataRecord::PartitionChange(change) => {
            report_partition(ctx, image, change.tp, change.election);
        }
        MetadataRecord::LeaderChange { .. } | MetadataRecord::NoOp => {}
    }
}

fn report_partition(
    ctx: &mut Ctx<'_>,
    image: &MetadataImage,
    tp: TopicPartition,
    election: Option<Election>,
) {
    if let Some(p) = image.partitions.get(&tp) {
        ctx.emit(Event::PartitionChanged {
            tp,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: p.isr.clone(),
            elr: p.elr.clone(),
            election,
        });
    }
}

impl ClusterConfig {
    pub(crate) fn change_context<'a>(
        &self,
        image: &'a MetadataImage,
        tp: TopicPartition,
    ) -> ChangeContext<'a> {
        let topic = &self.topics[tp.topic as usize];
        ChangeContext {
            image,
            min_isr: topic.effective_min_isr(tp.partition as usize),
            unclean_enabled: topic.unclean_leader_election_enable,
            preferred: false,
            elr_enabled: self.elr_enabled,
            removing: None,
            adding: None,
            unclean_shutdown: None,
        }
    }

    /// `generateLeaderAndIsrUpdates` for a broker that is being fenced, shut down, or
    /// re-registered: out of every ISR, new leaders where it led.
    fn changes_removing(
        &self,
        image: &MetadataImage,
        broker: BrokerId,
        unclean_shutdown: Option<BrokerId>,
    ) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for (tp, p) in &image.partitions {
            let involved = p.isr.contains(&broker)
                || p.leader == Some(broker)
                || (unclean_shutdown.is_some() && p.elr.contains(&broker));
            if !involved {
                continue;
            }
            let mut cx = self.change_context(image, *tp);
            cx.removing = Some(broker);
            cx.unclean_shutdown = unclean_shutdown;
            let target: Vec<BrokerId> = p.isr.iter().copied().filter(|&r| r != broker).collect();
            if let Some(c) = partition_change(*tp, p, target, &cx) {
                out.push(MetadataRecord::PartitionChange(Box::new(c)));
            }
        }
        out
    }

    /// `handleBrokerUnfenced`: elect leaders for leaderless partitions, `broker` now counting
    /// as acceptable.
    fn changes_adding(&self, image: &MetadataImage, broker: BrokerId) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for (tp, p) in &image.partitions {
            if p.leader.is_some() || !p.replicas.contains(&broker) {
                continue;
            }
            let mut cx = self.change_context(image, *tp);
            cx.adding = Some(broker);
            if let Some(c) = partition_change(*tp, p, p.isr.clone(), &cx) {
                out.push(MetadataRecord::PartitionChange(Box::new(c)));
            }
        }
        out
    }
}
