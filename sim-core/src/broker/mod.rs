//! A Kafka broker: a Raft observer of the metadata log, and its lifecycle with the active
//! controller (`BrokerLifecycleManager`, kafka-protocol.md §2.8).
//!
//! Map:
//! - the broker fetches `__cluster_metadata` as an observer and applies only committed records
//!   (below the HW the leader reports) to its [`MetadataImage`];
//! - it registers with the active controller (a new incarnation each process start, and the
//!   epoch of its last clean shutdown, if any), then heartbeats. One request is out at a time,
//!   and the next is scheduled from the answer to the last (`BrokerLifecycleManager`): 10 ms
//!   while STARTING, at once when ready to be unfenced, `broker.heartbeat.interval.ms` while
//!   RUNNING, 50 ms after the first answer to a controlled-shutdown request, and an exponential
//!   backoff after a failure. So each broker's heartbeat phase follows from when it started;
//! - STARTING → RECOVERY once caught up to its registration, → RUNNING once unfenced. The
//!   broker never fences itself: a partitioned broker keeps its last metadata;
//! - a `shutdown` fault runs controlled shutdown: heartbeats with `want_shut_down` until the
//!   controller has moved its leaderships away and answers SHUTDOWN_NOW (fencing it in the same
//!   step), then a clean-shutdown marker and exit.
//!
//! - once caught up to its own registration (`BrokerServer` waits for this before it starts
//!   the replica manager), it opens the partition replicas the metadata assigns it and acts on
//!   every committed leader and ISR change: `replicas` (the `ReplicaManager`), with each
//!   replica's state machine in [`partition`] and its log in [`log`].

pub mod log;
pub mod partition;
mod replicas;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use self::log::PartitionLog;
use self::partition::Partition;
use self::replicas::ReplicaManager;

use crate::config::ClusterConfig;
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::raft::{Raft, RaftDisk};
use crate::kraft::{BrokerId, MetadataImage, MetadataRecord, TopicPartition};
use crate::proto::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerState, ControllerError, Ctx, Event, Msg,
    Timer,
};
use crate::storage::{Durable, DurableCell, PageCache};

/// How long a broker waits for the controller to allow its controlled shutdown before it
/// exits anyway (`BrokerServer.shutdown`, 5 minutes, from recollection).
pub const CONTROLLED_SHUTDOWN_TIMEOUT: SimDuration = SimDuration::from_secs(300);
/// `BrokerLifecycleManager`: STARTING heartbeats again after 10 ms "so that in the case where
/// there is no recovery work to be done, we start up a bit quicker".
const STARTING_HEARTBEAT_DELAY: SimDuration = SimDuration::from_millis(10);
/// `BrokerLifecycleManager`: after the first answer that does not yet let it shut down, a broker
/// in PENDING_CONTROLLED_SHUTDOWN heartbeats again after 50 ms.
const FIRST_PENDING_SHUTDOWN_DELAY: SimDuration = SimDuration::from_millis(50);
/// `resendExponentialBackoff = ExponentialBackoff(100, 2, broker.session.timeout.ms, 0.02)`.
const HEARTBEAT_BACKOFF_INITIAL: SimDuration = SimDuration::from_millis(100);
/// `retry.backoff.ms`: resend after a NOT_CONTROLLER answer.
const NOT_CONTROLLER_RETRY_BACKOFF: SimDuration = SimDuration::from_millis(100);

/// What a broker keeps on disk.
#[derive(Clone, Debug, Default)]
pub struct BrokerDisk {
    /// Its copy of the metadata log.
    pub metadata: RaftDisk,
    /// Written at the end of a clean shutdown with the broker epoch, read and removed at start
    /// (KIP-966 tells clean from unclean shutdowns by it).
    pub clean_shutdown: DurableCell<Option<u64>>,
    /// The partition logs this broker hosts.
    pub logs: BTreeMap<TopicPartition, PartitionLog>,
    /// `replication-offset-checkpoint`: each partition's HW, written every
    /// `replica.high.watermark.checkpoint.interval.ms` (with fsync), so it is stale after a crash.
    pub hw_checkpoint: DurableCell<BTreeMap<TopicPartition, u64>>,
    /// The host's page-cache write-back, which decides what of the logs a power loss keeps.
    pub page_cache: PageCache,
}

impl Durable for BrokerDisk {
    fn lose_unflushed(&mut self) {
        self.metadata.lose_unflushed();
        self.clean_shutdown.lose_unflushed();
        self.logs.values_mut().for_each(Durable::lose_unflushed);
        self.hw_checkpoint.lose_unflushed();
    }
    fn wipe(&mut self) {
        self.metadata.wipe();
        self.clean_shutdown.wipe();
        self.logs.clear();
        self.hw_checkpoint.wipe();
    }
    fn write_back(&mut self, now: SimTime) {
        // The metadata log, the HW checkpoint and the marker are fsynced when written; the
        // partition logs are left to the kernel.
        for log in self.logs.values_mut() {
            log.write_back(now, &self.page_cache);
        }
    }
}

#[derive(Clone, Debug)]
pub struct Broker {
    cluster: Arc<ClusterConfig>,
    id: BrokerId,
    incarnation: u32,
    raft: Raft,
    clean_shutdown: DurableCell<Option<u64>>,
    image: MetadataImage,
    state: BrokerState,
    broker_epoch: Option<u64>,
    previous_broker_epoch: Option<u64>,
    /// The controller a registration or heartbeat is in flight to.
    in_flight: Option<NodeId>,
    /// A request is due but no controller is known yet: the channel manager holds it until
    /// one is (or until the request times out).
    due: bool,
    /// Failed attempts in a row, for the resend backoff.
    failed_attempts: u32,
    /// An answer to a heartbeat with `want_shut_down` has come (`gotControlledShutdownResponse`).
    got_controlled_shutdown_response: bool,
    want_shut_down: bool,
    /// `BrokerServer.startup` has run.
    started: bool,
    /// The highest committed offset a controller response this broker acted on named.
    acted_on_offset: u64,
    replicas: ReplicaManager,
}

impl Broker {
    pub fn boot(
        cluster: Arc<ClusterConfig>,
        me: NodeId,
        id: BrokerId,
        disk: BrokerDisk,
        incarnation: u32,
    ) -> Broker {
        let previous_broker_epoch = disk.clean_shutdown.get().copied().flatten();
        let raft = Raft::boot(cluster.raft.clone(), me, disk.metadata, incarnation);
        let replicas = ReplicaManager::new(disk.logs, disk.hw_checkpoint, incarnation);
        Broker {
            cluster,
            id,
            incarnation,
            raft,
            clean_shutdown: disk.clean_shutdown,
            image: MetadataImage::default(),
            state: BrokerState::Starting,
            broker_epoch: None,
            previous_broker_epoch,
            in_flight: None,
            due: false,
            failed_attempts: 0,
            got_controlled_shutdown_response: false,
            want_shut_down: false,
            started: false,
            acted_on_offset: 0,
            replicas,
        }
    }

    pub fn into_disk(self) -> BrokerDisk {
        let (logs, hw_checkpoint) = self.replicas.into_disk();
        BrokerDisk {
            metadata: self.raft.into_disk(),
            clean_shutdown: self.clean_shutdown,
            logs,
            hw_checkpoint,
            page_cache: self.cluster.broker.page_cache(),
        }
    }
    pub fn id(&self) -> BrokerId {
        self.id
    }
    /// The partition replicas this broker has opened.
    pub fn partitions(&self) -> &BTreeMap<TopicPartition, Partition> {
        self.replicas.partitions()
    }
    /// `tp`'s log on this broker: its opened replica's, or the one on disk it has not
    /// opened yet.
    pub fn log(&self, tp: TopicPartition) -> Option<&PartitionLog> {
        match self.replicas.partitions().get(&tp) {
            Some(p) => Some(&p.log),
            None => self.replicas.stored().get(&tp),
        }
    }
    /// Partitions whose log, HW or leadership the last step may have changed.
    /// What must always hold of a broker between handlers: its metadata replica's and its
    /// replica manager's invariants, and a well-formed metadata image.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        self.raft.check_invariants()?;
        self.image.check_invariants()?;
        self.replicas.check_invariants(self.id)
    }

    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    pub(crate) fn touched(&self) -> &[TopicPartition] {
        &self.replicas.touched
    }
    pub fn raft(&self) -> &Raft {
        &self.raft
    }
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }
    pub fn state(&self) -> BrokerState {
        self.state
    }
    pub fn broker_epoch(&self) -> Option<u64> {
        self.broker_epoch
    }
    pub(crate) fn acted_on_offset(&self) -> u64 {
        self.acted_on_offset
    }

    fn heartbeat_interval(&self) -> SimDuration {
        SimDuration::from_millis(self.cluster.broker.broker_heartbeat_interval_ms)
    }

    /// The heartbeat channel's retry timeout, `broker.session.timeout.ms` / 2 (`BrokerServer`,
    /// KAFKA-14392): a request unanswered for that long has failed.
    fn heartbeat_request_timeout(&self) -> SimDuration {
        SimDuration::from_millis(self.cluster.broker.broker_session_timeout_ms / 2)
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.replicas.touched.clear();
        if self.incarnation == 0 {
            // The brokers of a real cluster were not all started in the same millisecond, and
            // each one's heartbeat phase follows from when it started: a crash then waits out
            // anywhere from `broker.session.timeout.ms` to that plus one heartbeat interval
            // before the controller fences it. kafkasim starts each broker's first process at a
            // time drawn uniformly over one `broker.heartbeat.interval.ms`; a restart (a fault
            // at a chosen time) starts at once.
            ctx.set_timer_random(
                Timer::BrokerStartup,
                SimDuration::ZERO,
                self.heartbeat_interval(),
            );
            return;
        }
        self.start(ctx);
    }

    /// `BrokerServer.startup`: the metadata observer, then the lifecycle manager.
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.started = true;
        // The marker only describes the shutdown before this start.
        if self.clean_shutdown.get().copied().flatten().is_some() {
            self.clean_shutdown.write_sync(None);
        }
        ctx.emit(Event::BrokerLifecycle {
            state: BrokerState::Starting,
        });
        self.raft.start(ctx);
        // StartupEvent: register at once.
        self.communicate(ctx);
        self.sync(ctx);
    }

    /// Started (`BrokerServer.startup` has run): before that the process answers nothing.
    pub fn started(&self) -> bool {
        self.started
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        self.replicas.touched.clear();
        if !self.started {
            // Kafka refuses a connection to a broker that is not listening yet, and the client
            // tries again shortly. kafkasim answers a client's Metadata request with what it
            // knows (nothing), which sends the client back to retry the same way; anything
            // else finds nobody.
            if let Msg::Metadata { topic } = msg {
                self.on_metadata_request(ctx, from, topic);
            }
            return;
        }
        match msg {
            Msg::FetchResponse(resp) => self.raft.on_fetch_response(ctx, from, *resp),
            Msg::BrokerRegistrationResponse {
                error,
                broker_epoch,
                committed_offset,
            } if self.in_flight == Some(from) => {
                self.in_flight = None;
                match error {
                    None => {
                        self.failed_attempts = 0;
                        self.broker_epoch = Some(broker_epoch);
                        self.acted_on_offset = self.acted_on_offset.max(committed_offset);
                        // "Immediately send a heartbeat".
                        self.communicate(ctx);
                        // Fetchers that stopped while the broker had no epoch go on now.
                        self.resume_fetchers(ctx);
                    }
                    Some(ControllerError::NotController) => self.retry_after_not_controller(ctx),
                    Some(_) => self.schedule_after_failure(ctx),
                }
            }
            Msg::BrokerHeartbeatResponse(resp) if self.in_flight == Some(from) => {
                self.in_flight = None;
                self.on_heartbeat_response(ctx, resp);
            }
            Msg::Produce(req) => self.on_produce(ctx, from, *req),
            Msg::PartitionFetch(req) => self.on_partition_fetch(ctx, from, *req, true),
            Msg::PartitionFetchResponse(resp) => self.on_partition_fetch_response(ctx, from, *resp),
            Msg::AlterPartitionResponse(resp) => self.on_alter_partition_response(ctx, *resp),
            Msg::Metadata { topic } => self.on_metadata_request(ctx, from, topic),
            // Brokers are observers: no elections, and nobody fetches from them.
            _ => {}
        }
        self.sync(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        self.replicas.touched.clear();
        match timer {
            Timer::BrokerStartup => {
                self.start(ctx);
                return;
            }
            Timer::FetchTimeout => self.raft.on_fetch_timeout(ctx),
            Timer::FetchRetry => self.raft.on_fetch_retry(ctx),
            Timer::FetchRequestTimeout => self.raft.on_fetch_request_timeout(ctx),
            Timer::Heartbeat => {
                if self.in_flight.is_some() || self.due {
                    // The request timed out, sent or still waiting for a controller.
                    self.in_flight = None;
                    self.due = false;
                    self.schedule_after_failure(ctx);
                } else {
                    self.communicate(ctx);
                }
            }
            Timer::ShutdownTimeout => self.finish_shutdown(ctx),
            Timer::ReplicaFetch(leader) => self.on_replica_fetch_timer(ctx, leader),
            Timer::PartitionFetchWait => self.on_partition_fetch_wait(ctx),
            Timer::ProduceTimeout => self.on_produce_timeout(ctx),
            Timer::IsrExpiration => self.on_isr_expiration(ctx),
            Timer::HighWatermarkCheckpoint => self.on_hw_checkpoint(ctx),
            Timer::AlterPartitionRetry => self.on_alter_partition_retry(ctx),
            _ => {}
        }
        self.sync(ctx);
    }

    pub(crate) fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        self.replicas.touched.clear();
        self.raft.on_disconnect(ctx, peer);
        self.on_replica_disconnect(ctx, peer);
        if self.in_flight == Some(peer) {
            self.in_flight = None;
            self.schedule_after_failure(ctx);
        }
        self.sync(ctx);
    }

    /// Controlled shutdown (`controlled.shutdown.enable`): ask the controller to move this
    /// broker's leaderships away first.
    pub(crate) fn on_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        self.replicas.touched.clear();
        // BeginControlledShutdownEvent: only a RUNNING broker asks; any other skips it.
        if !self.cluster.broker.controlled_shutdown_enable || self.state != BrokerState::Running {
            self.finish_shutdown(ctx);
            return;
        }
        self.want_shut_down = true;
        self.set_state(ctx, BrokerState::PendingControlledShutdown);
        ctx.set_timer(Timer::ShutdownTimeout, CONTROLLED_SHUTDOWN_TIMEOUT);
        // "Send the next heartbeat immediately" (an answer still due to the last one is
        // dropped: it did not ask to shut down).
        self.in_flight = None;
        self.due = false;
        self.communicate(ctx);
    }

    fn finish_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        // The log manager flushes and closes every log, checkpoints the HWs, and leaves the
        // clean-shutdown marker behind.
        self.replicas.close();
        self.clean_shutdown.write_sync(self.broker_epoch);
        ctx.stop();
    }

    fn set_state(&mut self, ctx: &mut Ctx<'_>, state: BrokerState) {
        if self.state != state {
            self.state = state;
            ctx.emit(Event::BrokerLifecycle { state });
        }
    }

    /// `CommunicationEvent`: registers if not registered yet, else heartbeats, to the active
    /// controller as the metadata quorum names it. With no controller known, the request waits
    /// for one; either way it fails if unanswered within the request timeout.
    fn communicate(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(Timer::Heartbeat, self.heartbeat_request_timeout());
        self.due = true;
        self.send_if_due(ctx);
    }

    /// Sends the due request if a controller is known.
    fn send_if_due(&mut self, ctx: &mut Ctx<'_>) {
        debug_assert!(
            self.in_flight.is_none() || !self.due,
            "one request at a time"
        );
        if !self.due {
            return;
        }
        let Some(controller) = self.raft.leader() else {
            return;
        };
        self.due = false;
        let msg = match self.broker_epoch {
            None => Msg::BrokerRegistration {
                broker: self.id,
                incarnation: self.incarnation,
                previous_broker_epoch: self.previous_broker_epoch,
            },
            Some(broker_epoch) => Msg::BrokerHeartbeat(BrokerHeartbeatRequest {
                broker: self.id,
                broker_epoch,
                metadata_offset: self.image.next_offset,
                // `setWantFence(!readyToUnfence)`: ready once caught up (RECOVERY).
                want_fence: self.state == BrokerState::Starting,
                want_shut_down: self.want_shut_down,
            }),
        };
        self.in_flight = Some(controller);
        ctx.send(controller, msg);
    }

    /// `scheduleNextCommunication`: the next request after `delay`.
    fn schedule_next(&mut self, ctx: &mut Ctx<'_>, delay: SimDuration) {
        ctx.set_timer(Timer::Heartbeat, delay);
    }

    /// `scheduleNextCommunicationAfterFailure`: 100 ms × 2^attempts, at most
    /// `broker.session.timeout.ms`, with 2% jitter.
    fn schedule_after_failure(&mut self, ctx: &mut Ctx<'_>) {
        let max = self.cluster.broker.broker_session_timeout_ms * 1000;
        let base = HEARTBEAT_BACKOFF_INITIAL.as_micros() << self.failed_attempts.min(20);
        let backoff = base.min(max);
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        let jitter = backoff / 50;
        ctx.set_timer_random(
            Timer::Heartbeat,
            SimDuration::from_micros(backoff - jitter),
            SimDuration::from_micros(backoff + jitter + 1),
        );
    }

    /// NOT_CONTROLLER: the channel manager forgets the controller's address and sends the
    /// request again to whichever controller the quorum then names (`NodeToControllerRequestThread`),
    /// which is not a failure of the request. kafkasim waits `retry.backoff.ms` (100 ms) first,
    /// where Kafka resends as soon as it has an address: a simplification that keeps a controller
    /// that has won its election but not yet activated from being asked in a tight loop.
    fn retry_after_not_controller(&mut self, ctx: &mut Ctx<'_>) {
        self.schedule_next(ctx, NOT_CONTROLLER_RETRY_BACKOFF);
    }

    fn on_heartbeat_response(&mut self, ctx: &mut Ctx<'_>, resp: BrokerHeartbeatResponse) {
        match resp.error {
            Some(ControllerError::StaleBrokerEpoch) => {
                // The controller does not know this registration: register again.
                self.broker_epoch = None;
                self.communicate(ctx);
                return;
            }
            Some(ControllerError::NotController) => {
                self.retry_after_not_controller(ctx);
                return;
            }
            Some(_) => {
                self.schedule_after_failure(ctx);
                return;
            }
            None => {}
        }
        self.failed_attempts = 0;
        self.acted_on_offset = self.acted_on_offset.max(resp.committed_offset);
        let interval = self.heartbeat_interval();
        let next = match self.state {
            BrokerState::PendingControlledShutdown => {
                if resp.should_shut_down {
                    self.finish_shutdown(ctx);
                    return;
                }
                let first = !self.got_controlled_shutdown_response;
                self.got_controlled_shutdown_response = true;
                if first {
                    FIRST_PENDING_SHUTDOWN_DELAY
                } else {
                    interval
                }
            }
            BrokerState::Starting if resp.is_caught_up => {
                // Caught up: RECOVERY. kafkasim has no log recovery to wait for, so the broker
                // is ready to be unfenced at once (SetReadyToUnfenceEvent: "immediately").
                self.set_state(ctx, BrokerState::Recovery);
                SimDuration::ZERO
            }
            BrokerState::Starting => STARTING_HEARTBEAT_DELAY,
            BrokerState::Recovery => {
                if !resp.is_fenced {
                    self.set_state(ctx, BrokerState::Running);
                }
                interval
            }
            BrokerState::Running => interval,
        };
        self.schedule_next(ctx, next);
    }

    /// After every step: apply newly committed metadata; register as soon as a controller is
    /// known.
    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let hw = self.raft.high_watermark().unwrap_or(0);
        let log = self.raft.log();
        if (log.len() as u64) < self.image.next_offset {
            // Applied records were truncated away: start the image over. (The metadata_prefix
            // checker reports how this could happen.)
            self.image = MetadataImage::default();
        }
        let end = hw.min(log.len() as u64);
        let mut changed: Vec<TopicPartition> = Vec::new();
        while self.image.next_offset < end {
            let entry = log
                .get(self.image.next_offset as usize)
                .expect("below the log end");
            match &entry.record {
                MetadataRecord::Partition { tp, .. } => changed.push(*tp),
                MetadataRecord::PartitionChange(c) => changed.push(c.tp),
                _ => {}
            }
            self.image.apply(&entry.record);
        }
        // BrokerServer starts the replica manager once the broker has caught up to its own
        // registration: it acts on no partition state older than that.
        let caught_up = self
            .broker_epoch
            .is_some_and(|epoch| self.image.next_offset > epoch);
        if caught_up {
            self.apply_partition_metadata(ctx, changed);
        }
        // A request waiting for a controller goes as soon as one is known.
        self.send_if_due(ctx);
    }
}
