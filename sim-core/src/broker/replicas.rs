//! The broker's `ReplicaManager`: its partition replicas, the fetchers that keep followers up
//! to date (one fetch session per leader broker, as `ReplicaFetcherThread` batches them),
//! parked fetches (`DelayedFetch`), parked acks=all produces (`DelayedProduce`), the ISR
//! expiration task, AlterPartition requests, and the HW checkpoint.

use std::collections::{BTreeMap, BTreeSet};

use super::Broker;
use super::log::PartitionLog;
use super::partition::{Partition, PartitionConfig};
use crate::config::Acks;
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::{BrokerId, TopicPartition};
use crate::proto::{
    AlterPartitionRequest, AlterPartitionResponse, Ctx, Event, Msg, PartitionFetch,
    PartitionFetchData, PartitionFetchRequest, PartitionFetchResponse, PartitionMetadata,
    ProduceError, ProducePartitionResponse, ProduceRequest, ProduceResponse, RequestIds,
    TruncationReason,
};
use crate::storage::DurableCell;

/// `replica.socket.timeout.ms`: a follower's fetch with no answer this long is given up.
pub const REPLICA_FETCH_TIMEOUT: SimDuration = SimDuration::from_secs(30);
/// How long an AlterPartition waits for its answer before it is sent again.
pub const ALTER_PARTITION_RETRY: SimDuration = SimDuration::from_secs(2);

/// A fetch parked at the leader until there is something to return (`DelayedFetch`).
#[derive(Clone, Debug)]
struct ParkedFetch {
    from: NodeId,
    /// When it arrived: a broken connection takes only the requests that came over it.
    received: SimTime,
    request: PartitionFetchRequest,
    deadline: SimTime,
}

/// One partition of a parked acks=all produce.
#[derive(Clone, Debug)]
struct ProducePart {
    tp: TopicPartition,
    leader_epoch: u32,
    /// The write's base offset; done when the HW reaches `required_offset`.
    offset: u64,
    required_offset: u64,
    result: Option<Result<u64, ProduceError>>,
}

/// An acks=all produce waiting for the HW (`DelayedProduce`).
#[derive(Clone, Debug)]
struct DelayedProduce {
    from: NodeId,
    received: SimTime,
    request_id: u64,
    deadline: SimTime,
    parts: Vec<ProducePart>,
}

/// A follower's fetch session with one leader broker.
#[derive(Clone, Debug, Default)]
struct Fetcher {
    partitions: BTreeSet<TopicPartition>,
    in_flight: bool,
    /// The correlation id of the last fetch sent: only its answer is read.
    correlation_id: u64,
    /// What the fetch in flight asked for, partition by partition (the answer comes in the
    /// same order).
    sent: Vec<PartitionFetch>,
    /// Waiting out `replica.fetch.backoff.ms` after an error.
    backing_off: bool,
}

#[derive(Clone, Debug)]
pub struct ReplicaManager {
    partitions: BTreeMap<TopicPartition, Partition>,
    /// Logs on disk of partitions not opened (yet).
    stored: BTreeMap<TopicPartition, PartitionLog>,
    hw_checkpoint: DurableCell<BTreeMap<TopicPartition, u64>>,
    started: bool,
    fetchers: BTreeMap<BrokerId, Fetcher>,
    /// Correlation ids of the fetches this broker sends as a follower.
    fetch_ids: RequestIds,
    /// Numbers of the ISR proposals (AlterPartition) this broker makes as a leader.
    proposals: RequestIds,
    parked: Vec<ParkedFetch>,
    produces: Vec<DelayedProduce>,
    /// Partitions whose log, HW or leadership this step may have changed (for the checkers).
    pub(super) touched: Vec<TopicPartition>,
}

impl ReplicaManager {
    pub fn new(
        logs: BTreeMap<TopicPartition, PartitionLog>,
        hw_checkpoint: DurableCell<BTreeMap<TopicPartition, u64>>,
        incarnation: u32,
    ) -> ReplicaManager {
        ReplicaManager {
            partitions: BTreeMap::new(),
            stored: logs,
            hw_checkpoint,
            started: false,
            fetchers: BTreeMap::new(),
            fetch_ids: RequestIds::for_incarnation(incarnation),
            proposals: RequestIds::for_incarnation(incarnation),
            parked: Vec::new(),
            produces: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// What must always hold of the replica manager: each partition this step touched keeps its
    /// own invariants; a partition is either open or stored, not both; a fetcher fetches only
    /// partitions this broker follows, and none is both fetching and backing off.
    pub(crate) fn check_invariants(&self, me: BrokerId) -> Result<(), String> {
        for tp in &self.touched {
            if let Some(p) = self.partitions.get(tp) {
                p.check_invariants(me)?;
            }
        }
        ensure!(
            !self
                .stored
                .keys()
                .any(|tp| self.partitions.contains_key(tp)),
            "broker {me}: a partition both open and stored"
        );
        for (leader, f) in &self.fetchers {
            ensure!(*leader != me, "broker {me}: fetches from itself");
            for tp in &f.partitions {
                ensure!(
                    self.partitions
                        .get(tp)
                        .is_some_and(|p| p.leader == Some(*leader) && !p.is_leader()),
                    "broker {me}: fetches {tp:?} from broker {leader}, which it does not follow there"
                );
            }
            ensure!(
                !(f.in_flight && f.backing_off),
                "broker {me}: a fetch to broker {leader} in flight while backing off"
            );
        }
        Ok(())
    }

    pub fn partitions(&self) -> &BTreeMap<TopicPartition, Partition> {
        &self.partitions
    }

    /// Logs on disk whose replicas are not opened yet (a restarted broker before its
    /// metadata names them).
    pub(crate) fn stored(&self) -> &BTreeMap<TopicPartition, PartitionLog> {
        &self.stored
    }

    pub fn into_disk(
        mut self,
    ) -> (
        BTreeMap<TopicPartition, PartitionLog>,
        DurableCell<BTreeMap<TopicPartition, u64>>,
    ) {
        for (tp, p) in self.partitions {
            self.stored.insert(tp, p.log);
        }
        (self.stored, self.hw_checkpoint)
    }

    fn write_checkpoint(&mut self) {
        let hws: BTreeMap<TopicPartition, u64> = self
            .partitions
            .iter()
            .map(|(tp, p)| (*tp, p.high_watermark))
            .collect();
        self.hw_checkpoint.write_sync(hws);
    }

    /// Clean shutdown: flush every log and checkpoint the HWs.
    pub fn close(&mut self) {
        for p in self.partitions.values_mut() {
            p.log.flush();
        }
        for log in self.stored.values_mut() {
            log.flush();
        }
        self.write_checkpoint();
    }
}

impl Broker {
    fn partition_config(&self, tp: TopicPartition) -> &PartitionConfig {
        &self.cluster.replication[tp.topic as usize]
    }

    /// Applies committed partition records to the replicas: `applyDelta` → makeLeader /
    /// makeFollower for the partitions in `changed` (every partition the first time).
    pub(super) fn apply_partition_metadata(
        &mut self,
        ctx: &mut Ctx<'_>,
        changed: Vec<TopicPartition>,
    ) {
        let tps: Vec<TopicPartition> = if self.replicas.started {
            changed
        } else {
            self.replicas.started = true;
            self.arm_isr_expiration(ctx);
            self.arm_hw_checkpoint(ctx);
            self.image.partitions.keys().copied().collect()
        };
        let mut refetch = BTreeSet::new();
        for tp in tps {
            let Some(reg) = self.image.partitions.get(&tp).cloned() else {
                continue;
            };
            if !reg.replicas.contains(&self.id) {
                continue;
            }
            let config = self.partition_config(tp).clone();
            let rm = &mut self.replicas;
            let mut opened = false;
            let p = rm.partitions.entry(tp).or_insert_with(|| {
                opened = true;
                let log = rm.stored.remove(&tp).unwrap_or_default();
                let hw = rm
                    .hw_checkpoint
                    .get()
                    .and_then(|c| c.get(&tp))
                    .copied()
                    .unwrap_or(0);
                Partition::open(tp, reg.replicas.clone(), log, hw)
            });
            if opened {
                log_opened(ctx, p, &config);
            }
            let old_leader = p.leader;
            rm.touched.push(tp);
            if reg.leader == Some(self.id) {
                let was_leader = p.is_leader();
                if p.make_leader(ctx.now(), self.id, &reg) {
                    ctx.emit(Event::BecameLeader {
                        tp,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                        leso: p.leader_state.as_ref().map_or(0, |s| s.leso),
                        high_watermark: p.high_watermark,
                        isr: reg.isr.clone(),
                    });
                }
                if !was_leader && let Some(l) = old_leader {
                    self.remove_from_fetcher(l, tp);
                }
                self.after_leader_change(ctx, tp);
            } else {
                let (changed, truncated) = p.make_follower(&reg, &config);
                if let Some((from, to)) = truncated {
                    ctx.emit(hw_truncation(tp, from, to, p.high_watermark));
                }
                if changed {
                    ctx.emit(Event::BecameFollower {
                        tp,
                        leader: reg.leader,
                        leader_epoch: reg.leader_epoch,
                    });
                    if let Some(l) = old_leader
                        && l != self.id
                    {
                        self.remove_from_fetcher(l, tp);
                    }
                    if let Some(l) = reg.leader {
                        self.replicas
                            .fetchers
                            .entry(l)
                            .or_default()
                            .partitions
                            .insert(tp);
                        refetch.insert(l);
                    }
                }
                // Parked produces and fetches on this partition learn it is not led here.
                self.after_leader_change(ctx, tp);
            }
        }
        for leader in refetch {
            self.send_replica_fetch(ctx, leader);
        }
    }

    /// Sends a fetch to every leader this broker follows, where none is in flight or backing
    /// off: after a re-registration, the fetches that found no broker epoch never went out.
    pub(super) fn resume_fetchers(&mut self, ctx: &mut Ctx<'_>) {
        let leaders: Vec<BrokerId> = self.replicas.fetchers.keys().copied().collect();
        for leader in leaders {
            self.send_replica_fetch(ctx, leader);
        }
    }

    fn remove_from_fetcher(&mut self, leader: BrokerId, tp: TopicPartition) {
        if let Some(f) = self.replicas.fetchers.get_mut(&leader) {
            f.partitions.remove(&tp);
        }
    }

    /// Leadership or the ISR changed: the HW may move, parked requests may complete.
    fn after_leader_change(&mut self, ctx: &mut Ctx<'_>, tp: TopicPartition) {
        self.maybe_increment_hw(ctx, tp);
        self.complete_produces(ctx, Some(tp));
        self.wake_parked(ctx, tp);
    }

    fn maybe_increment_hw(&mut self, ctx: &mut Ctx<'_>, tp: TopicPartition) {
        let config = &self.cluster.replication[tp.topic as usize];
        let Some(p) = self.replicas.partitions.get_mut(&tp) else {
            return;
        };
        if let Some(hw) = p.maybe_increment_hw(ctx.now(), &self.image, config) {
            self.replicas.touched.push(tp);
            ctx.emit(Event::HighWatermark {
                tp,
                leader_epoch: p.leader_epoch,
                high_watermark: hw,
                log_end_offset: p.log_end_offset(),
            });
            self.complete_produces(ctx, Some(tp));
            self.wake_parked(ctx, tp);
        }
    }

    // ---- produce ----

    pub(super) fn on_produce(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: ProduceRequest) {
        let now = ctx.now();
        let mut parts = Vec::with_capacity(req.batches.len());
        let mut appended = Vec::new();
        for b in &req.batches {
            let config = &self.cluster.replication[b.tp.topic as usize];
            let result = match self.replicas.partitions.get_mut(&b.tp) {
                None if !self.image.partitions.contains_key(&b.tp) => {
                    Err(ProduceError::UnknownTopicOrPartition)
                }
                None => Err(ProduceError::NotLeaderOrFollower),
                Some(p) => {
                    let leo = p.log_end_offset();
                    let r = p.append_as_leader(b, req.acks, config, ctx.now());
                    if p.log_end_offset() > leo {
                        appended.push(b.tp);
                        ctx.tell(Event::Appended {
                            tp: b.tp,
                            leader_epoch: p.leader_epoch,
                            log_end_offset: p.log_end_offset(),
                        });
                    }
                    r.map(|offset| (offset, p.leader_epoch))
                }
            };
            parts.push(match result {
                Ok((offset, leader_epoch)) => ProducePart {
                    tp: b.tp,
                    leader_epoch,
                    offset,
                    required_offset: offset + u64::from(b.count),
                    result: (req.acks != Acks::All).then_some(Ok(offset)),
                },
                Err(e) => ProducePart {
                    tp: b.tp,
                    leader_epoch: 0,
                    offset: 0,
                    required_offset: 0,
                    result: Some(Err(e)),
                },
            });
        }
        let waiting = parts.iter().any(|p| p.result.is_none());
        if req.acks != Acks::None {
            if waiting {
                self.replicas.produces.push(DelayedProduce {
                    from,
                    received: now,
                    request_id: req.request_id,
                    deadline: now + SimDuration::from_millis(req.timeout_ms),
                    parts,
                });
                self.arm_produce_timeout(ctx);
            } else {
                respond_produce(ctx, from, req.request_id, parts);
            }
        }
        for tp in appended {
            self.replicas.touched.push(tp);
            self.maybe_increment_hw(ctx, tp);
            self.wake_parked(ctx, tp);
        }
        if waiting {
            // The HW may already cover the write (a duplicate, or an ISR of one).
            self.complete_produces(ctx, None);
        }
    }

    /// `DelayedProduce.tryComplete` for the produces waiting on `tp` (or on anything).
    fn complete_produces(&mut self, ctx: &mut Ctx<'_>, tp: Option<TopicPartition>) {
        let partitions = &self.replicas.partitions;
        let replication = &self.cluster.replication;
        let mut done = Vec::new();
        for (i, d) in self.replicas.produces.iter_mut().enumerate() {
            for part in &mut d.parts {
                if part.result.is_some() || tp.is_some_and(|t| t != part.tp) {
                    continue;
                }
                let p = partitions.get(&part.tp);
                let leading = p.filter(|p| p.leader_epoch == part.leader_epoch);
                part.result = match leading.and_then(|p| p.leader_state.as_ref().map(|s| (p, s))) {
                    None => Some(Err(ProduceError::NotLeaderOrFollower)),
                    Some((p, s)) if p.high_watermark >= part.required_offset => {
                        let config = &replication[part.tp.topic as usize];
                        if s.maximal_isr().len() >= config.min_isr
                            || !config.rules.min_isr_on_produce
                        {
                            Some(Ok(part.offset))
                        } else {
                            Some(Err(ProduceError::NotEnoughReplicasAfterAppend))
                        }
                    }
                    Some(_) => None,
                };
            }
            if d.parts.iter().all(|p| p.result.is_some()) {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let d = self.replicas.produces.remove(i);
            respond_produce(ctx, d.from, d.request_id, d.parts);
        }
    }

    fn arm_produce_timeout(&self, ctx: &mut Ctx<'_>) {
        if let Some(at) = self.replicas.produces.iter().map(|d| d.deadline).min() {
            ctx.set_timer(
                crate::proto::Timer::ProduceTimeout,
                at.saturating_sub(ctx.now()),
            );
        }
    }

    pub(super) fn on_produce_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let (expired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.replicas.produces)
            .into_iter()
            .partition(|d| d.deadline <= now);
        self.replicas.produces = live;
        for mut d in expired {
            for part in &mut d.parts {
                part.result
                    .get_or_insert(Err(ProduceError::RequestTimedOut));
            }
            respond_produce(ctx, d.from, d.request_id, d.parts);
        }
        self.arm_produce_timeout(ctx);
    }

    // ---- fetch: the leader's side ----

    /// A data-plane Fetch from a follower or a consumer. With `may_park`, a fetch with nothing
    /// to return waits up to its max wait for data.
    pub(super) fn on_partition_fetch(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: PartitionFetchRequest,
        may_park: bool,
    ) {
        let now = ctx.now();
        let mut out = Vec::with_capacity(req.partitions.len());
        let mut progressed = Vec::new();
        for fetch in &req.partitions {
            let data = match self.replicas.partitions.get_mut(&fetch.tp) {
                None => PartitionFetchData {
                    tp: fetch.tp,
                    error: Some(crate::proto::FetchError::NotLeaderOrFollower),
                    high_watermark: 0,
                    diverging: None,
                    batches: Vec::new(),
                },
                Some(p) => match req.replica {
                    Some((replica, broker_epoch)) => {
                        let rules = &self.cluster.replication[fetch.tp.topic as usize].rules;
                        let (data, updated) = p.on_replica_fetch(
                            now,
                            replica,
                            broker_epoch,
                            fetch,
                            &self.image,
                            rules,
                        );
                        if updated {
                            progressed.push((fetch.tp, replica));
                        }
                        data
                    }
                    None => p.on_consumer_fetch(
                        fetch,
                        &self.cluster.replication[fetch.tp.topic as usize].rules,
                    ),
                },
            };
            out.push(data);
        }
        for (tp, replica) in progressed {
            self.maybe_expand_isr(ctx, tp, replica);
            self.maybe_increment_hw(ctx, tp);
        }
        let empty = out
            .iter()
            .all(|d| d.error.is_none() && d.diverging.is_none() && d.batches.is_empty());
        if empty && may_park {
            let deadline = now + SimDuration::from_millis(req.max_wait_ms);
            self.replicas.parked.push(ParkedFetch {
                from,
                received: now,
                request: req,
                deadline,
            });
            self.arm_fetch_wait(ctx);
            return;
        }
        ctx.send(
            from,
            Msg::PartitionFetchResponse(Box::new(PartitionFetchResponse {
                correlation_id: req.correlation_id,
                partitions: out,
            })),
        );
    }

    fn arm_fetch_wait(&self, ctx: &mut Ctx<'_>) {
        if let Some(at) = self.replicas.parked.iter().map(|f| f.deadline).min() {
            ctx.set_timer(
                crate::proto::Timer::PartitionFetchWait,
                at.saturating_sub(ctx.now()),
            );
        }
    }

    /// Answers the parked fetches that include `tp` if they now have something to return.
    fn wake_parked(&mut self, ctx: &mut Ctx<'_>, tp: TopicPartition) {
        let mut i = 0;
        while i < self.replicas.parked.len() {
            let f = &self.replicas.parked[i];
            let Some(fetch) = f.request.partitions.iter().find(|x| x.tp == tp) else {
                i += 1;
                continue;
            };
            let ready = match self.replicas.partitions.get(&tp) {
                None => true,
                Some(p) if !p.is_leader() => true,
                Some(p) => {
                    let bound = match f.request.replica {
                        Some(_) => p.log_end_offset(),
                        None => p.high_watermark,
                    };
                    fetch.fetch_offset < bound || fetch.current_leader_epoch != p.leader_epoch
                }
            };
            if ready {
                let f = self.replicas.parked.swap_remove(i);
                self.on_partition_fetch(ctx, f.from, f.request, false);
            } else {
                i += 1;
            }
        }
    }

    pub(super) fn on_partition_fetch_wait(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let (due, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.replicas.parked)
            .into_iter()
            .partition(|f| f.deadline <= now);
        self.replicas.parked = live;
        for f in due {
            self.on_partition_fetch(ctx, f.from, f.request, false);
        }
        self.arm_fetch_wait(ctx);
    }

    // ---- fetch: the follower's side ----

    fn send_replica_fetch(&mut self, ctx: &mut Ctx<'_>, leader: BrokerId) {
        let Some(broker_epoch) = self.broker_epoch else {
            return;
        };
        let Some(node) = self.cluster.broker_node(leader) else {
            return;
        };
        let Some(f) = self.replicas.fetchers.get(&leader) else {
            return;
        };
        if f.in_flight || f.backing_off {
            return;
        }
        let partitions: Vec<_> = f
            .partitions
            .iter()
            .filter_map(|tp| self.replicas.partitions.get(tp))
            .filter(|p| !p.fenced && p.leader == Some(leader))
            .map(|p| p.fetch_entry(&self.cluster.replication[p.tp.topic as usize]))
            .collect();
        if partitions.is_empty() {
            return;
        }
        let correlation_id = self.replicas.fetch_ids.take();
        let f = self.replicas.fetchers.get_mut(&leader).expect("looked up");
        f.in_flight = true;
        f.correlation_id = correlation_id;
        f.sent.clone_from(&partitions);
        ctx.send(
            node,
            Msg::PartitionFetch(Box::new(PartitionFetchRequest {
                correlation_id,
                replica: Some((self.id, broker_epoch)),
                max_wait_ms: self.cluster.broker.replica_fetch_wait_max_ms,
                partitions,
            })),
        );
        ctx.set_timer(
            crate::proto::Timer::ReplicaFetch(leader),
            REPLICA_FETCH_TIMEOUT,
        );
    }

    pub(super) fn on_partition_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        resp: PartitionFetchResponse,
    ) {
        let Some(leader) = self.cluster.broker_of(from) else {
            return;
        };
        // The answer to a request given up on (timed out, or sent before a disconnect) is not
        // read: Kafka closed that connection, and this fetcher waits for another answer.
        let mut sent = match self.replicas.fetchers.get_mut(&leader) {
            Some(f) if f.in_flight && f.correlation_id == resp.correlation_id => {
                f.in_flight = false;
                std::mem::take(&mut f.sent)
            }
            _ => return,
        };
        let mut retry = false;
        for (i, data) in resp.partitions.iter().enumerate() {
            let config = &self.cluster.replication[data.tp.topic as usize];
            let Some(p) = self.replicas.partitions.get_mut(&data.tp) else {
                continue;
            };
            if p.leader != Some(leader) || p.is_leader() {
                continue;
            }
            // `AbstractFetcherThread.processFetchRequest`: an answer counts only while the
            // partition is where the request left it (same fetch offset, same leader epoch).
            // A FENCED_LEADER_EPOCH meant for the epoch before a metadata update would
            // otherwise stop this partition's fetching for good.
            let asked = sent.get(i).filter(|s| s.tp == data.tp);
            if asked.is_none_or(|s| {
                s.current_leader_epoch != p.leader_epoch || s.fetch_offset != p.log_end_offset()
            }) {
                continue;
            }
            let hw = p.high_watermark;
            let leo = p.log_end_offset();
            let out = p.on_fetch_data(data, config, ctx.now());
            tell_appended(ctx, data, leo, p.log_end_offset());
            // The checkers look again only at replicas that changed: an empty answer that
            // leaves the HW alone (most of a large fetch session) changes nothing they see.
            let quiet = data.error.is_none()
                && data.diverging.is_none()
                && data.batches.is_empty()
                && p.high_watermark == hw;
            if !quiet {
                self.replicas.touched.push(data.tp);
            }
            if let Some((from_offset, to_offset)) = out.truncated {
                ctx.emit(Event::ReplicaTruncated {
                    tp: data.tp,
                    from_offset,
                    to_offset,
                    high_watermark: p.high_watermark,
                    reason: TruncationReason::Diverged,
                });
            }
            retry |= out.retry;
        }
        // Hand the buffer back: the next fetch's entries are copied into it.
        sent.clear();
        if let Some(f) = self.replicas.fetchers.get_mut(&leader) {
            f.sent = sent;
        }
        if retry {
            self.back_off(ctx, leader);
        } else {
            self.send_replica_fetch(ctx, leader);
        }
    }

    fn back_off(&mut self, ctx: &mut Ctx<'_>, leader: BrokerId) {
        if let Some(f) = self.replicas.fetchers.get_mut(&leader) {
            f.in_flight = false;
            f.backing_off = true;
            ctx.set_timer(
                crate::proto::Timer::ReplicaFetch(leader),
                SimDuration::from_millis(self.cluster.broker.replica_fetch_backoff_ms),
            );
        }
    }

    /// The backoff ended, or the fetch in flight timed out: fetch again.
    pub(super) fn on_replica_fetch_timer(&mut self, ctx: &mut Ctx<'_>, leader: BrokerId) {
        if let Some(f) = self.replicas.fetchers.get_mut(&leader) {
            f.in_flight = false;
            f.backing_off = false;
        }
        self.send_replica_fetch(ctx, leader);
    }

    pub(super) fn on_replica_disconnect(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        if let Some(leader) = self.cluster.broker_of(peer)
            && self
                .replicas
                .fetchers
                .get(&leader)
                .is_some_and(|f| f.in_flight)
        {
            self.back_off(ctx, leader);
        }
        // Parked requests that came over the broken connection need no answer. The notice
        // comes `disconnect_detection` after the break; a request received since then came
        // over a new connection (the peer restarted, or the link healed) and still waits for
        // its answer, as a new Kafka connection's requests outlive an old one's close.
        let broke_at = SimTime::from_micros(
            ctx.now()
                .as_micros()
                .saturating_sub(self.cluster.disconnect_detection.as_micros()),
        );
        let old = |from: NodeId, received: SimTime| from == peer && received <= broke_at;
        self.replicas.parked.retain(|f| !old(f.from, f.received));
        self.replicas.produces.retain(|d| !old(d.from, d.received));
    }

    // ---- ISR ----

    fn maybe_expand_isr(&mut self, ctx: &mut Ctx<'_>, tp: TopicPartition, replica: BrokerId) {
        let Some(p) = self.replicas.partitions.get(&tp) else {
            return;
        };
        let rules = &self.cluster.replication[tp.topic as usize].rules;
        if let Some(isr) = p.isr_to_expand(replica, &self.image, rules) {
            self.send_alter_partition(ctx, tp, isr);
        }
    }

    /// The "isr-expiration" task: shrink the ISR of every partition led here.
    pub(super) fn on_isr_expiration(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let shrinks: Vec<(TopicPartition, Vec<BrokerId>)> = self
            .replicas
            .partitions
            .iter()
            .filter_map(|(tp, p)| {
                p.isr_to_shrink(now, &self.cluster.replication[tp.topic as usize])
                    .map(|isr| (*tp, isr))
            })
            .collect();
        for (tp, isr) in shrinks {
            self.send_alter_partition(ctx, tp, isr);
        }
        // KafkaScheduler runs a task whose period is 0 (replica.lag.time.max.ms of 1) once.
        if self.cluster.broker.replica_lag_time_max_ms / 2 > 0 {
            self.arm_isr_expiration(ctx);
        }
    }

    fn send_alter_partition(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: TopicPartition,
        proposed: Vec<BrokerId>,
    ) {
        let now = ctx.now();
        let Some(p) = self.replicas.partitions.get_mut(&tp) else {
            return;
        };
        let Some(state) = &p.leader_state else {
            return;
        };
        ctx.emit(Event::AlterPartitionSent {
            tp,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: state.isr.clone(),
            proposed_isr: proposed.clone(),
        });
        let rules = self.cluster.replication[tp.topic as usize].rules;
        let proposal = self.replicas.proposals.take();
        p.set_pending(proposal, proposed, now, &rules);
        self.send_pending_alter(ctx, tp);
        ctx.set_timer(
            crate::proto::Timer::AlterPartitionRetry,
            ALTER_PARTITION_RETRY,
        );
        // A pending expansion holds the HW for the new member; a shrink changes nothing yet.
    }

    /// Sends the AlterPartition in flight for `tp` to the active controller.
    fn send_pending_alter(&self, ctx: &mut Ctx<'_>, tp: TopicPartition) {
        let (Some(p), Some(broker_epoch), Some(controller)) = (
            self.replicas.partitions.get(&tp),
            self.broker_epoch,
            self.raft.leader(),
        ) else {
            return;
        };
        let Some(state) = &p.leader_state else {
            return;
        };
        let Some(pending) = &state.pending else {
            return;
        };
        let new_isr = pending
            .proposed
            .iter()
            .zip(&pending.broker_epochs)
            .map(|(&r, &epoch)| {
                (
                    r,
                    if r == self.id {
                        Some(broker_epoch)
                    } else {
                        epoch
                    },
                )
            })
            .collect();
        ctx.send(
            controller,
            Msg::AlterPartition(Box::new(AlterPartitionRequest {
                broker: self.id,
                broker_epoch,
                tp,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr,
                proposal: pending.proposal,
            })),
        );
    }

    pub(super) fn on_alter_partition_retry(&mut self, ctx: &mut Ctx<'_>) {
        let due: Vec<TopicPartition> = self
            .replicas
            .partitions
            .iter()
            .filter(|(_, p)| {
                p.leader_state
                    .as_ref()
                    .and_then(|s| s.pending.as_ref())
                    .is_some()
            })
            .map(|(tp, _)| *tp)
            .collect();
        for tp in &due {
            self.send_pending_alter(ctx, *tp);
        }
        if !due.is_empty() {
            ctx.set_timer(
                crate::proto::Timer::AlterPartitionRetry,
                ALTER_PARTITION_RETRY,
            );
        }
    }

    pub(super) fn on_alter_partition_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        resp: AlterPartitionResponse,
    ) {
        let tp = resp.tp;
        let Some(p) = self.replicas.partitions.get_mut(&tp) else {
            return;
        };
        if p.on_alter_partition_response(&resp).is_none() {
            return; // no proposal pending, or another one than this answers
        }
        self.replicas.touched.push(tp);
        let isr = p
            .leader_state
            .as_ref()
            .map(|s| s.isr.clone())
            .unwrap_or_default();
        ctx.emit(Event::AlterPartitionAnswered {
            tp,
            error: resp.error,
            isr,
        });
        self.after_leader_change(ctx, tp);
    }

    // ---- metadata for clients, and the HW checkpoint ----

    pub(super) fn on_metadata_request(&mut self, ctx: &mut Ctx<'_>, from: NodeId, topic: u32) {
        let partitions = self
            .image
            .partitions
            .iter()
            .filter(|(tp, _)| tp.topic == topic)
            .map(|(tp, p)| PartitionMetadata {
                partition: tp.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
            })
            .collect();
        ctx.send(from, Msg::MetadataResponse { topic, partitions });
    }

    pub(super) fn on_hw_checkpoint(&mut self, ctx: &mut Ctx<'_>) {
        self.replicas.write_checkpoint();
        self.arm_hw_checkpoint(ctx);
    }

    fn arm_hw_checkpoint(&self, ctx: &mut Ctx<'_>) {
        let interval = self
            .cluster
            .broker
            .replica_high_watermark_checkpoint_interval_ms;
        ctx.set_timer(
            crate::proto::Timer::HighWatermarkCheckpoint,
            SimDuration::from_millis(interval),
        );
    }

    /// The ISR check runs every half `replica.lag.time.max.ms` (`ReplicaManager`).
    fn arm_isr_expiration(&self, ctx: &mut Ctx<'_>) {
        let half_lag = self.cluster.broker.replica_lag_time_max_ms / 2;
        ctx.set_timer(
            crate::proto::Timer::IsrExpiration,
            SimDuration::from_millis(half_lag),
        );
    }
}

fn respond_produce(ctx: &mut Ctx<'_>, to: NodeId, request_id: u64, parts: Vec<ProducePart>) {
    let partitions = parts
        .into_iter()
        .map(|p| ProducePartitionResponse {
            tp: p.tp,
            result: p.result.unwrap_or(Err(ProduceError::RequestTimedOut)),
        })
        .collect();
    ctx.send(
        to,
        Msg::ProduceResponse(Box::new(ProduceResponse {
            request_id,
            partitions,
        })),
    );
}

/// A pre-KIP-101 truncation to the local HW, as the trace reports it.
fn hw_truncation(tp: TopicPartition, from: u64, to: u64, high_watermark: u64) -> Event {
    Event::ReplicaTruncated {
        tp,
        from_offset: from,
        to_offset: to,
        high_watermark,
        reason: TruncationReason::HighWatermark,
    }
}

/// A starting broker opened its log of a partition: it tells what the disk kept, and before
/// KIP-101 cuts the log back to its HW checkpoint, whether it will lead or follow.
fn log_opened(ctx: &mut Ctx<'_>, p: &mut Partition, config: &PartitionConfig) {
    ctx.tell(Event::LogOpened {
        tp: p.tp,
        log_end_offset: p.log_end_offset(),
        high_watermark: p.high_watermark,
    });
    if !config.rules.keep_log_on_follow
        && let Some((from, to)) = p.truncate_to_high_watermark()
    {
        ctx.emit(hw_truncation(p.tp, from, to, p.high_watermark));
    }
}

/// Tells the records a follower took from a fetch answer, its log having grown from `from` to
/// `to`: one `Appended` per run of batches of one leader epoch.
fn tell_appended(ctx: &mut Ctx<'_>, data: &PartitionFetchData, from: u64, to: u64) {
    let mut run: Option<(u32, u64)> = None;
    for b in data
        .batches
        .iter()
        .filter(|b| b.base_offset >= from && b.base_offset < to)
    {
        let end = b.base_offset + u64::from(b.count);
        match &mut run {
            Some((epoch, run_end)) if *epoch == b.leader_epoch => *run_end = end,
            _ => {
                if let Some((leader_epoch, log_end_offset)) = run {
                    ctx.tell(Event::Appended {
                        tp: data.tp,
                        leader_epoch,
                        log_end_offset,
                    });
                }
                run = Some((b.leader_epoch, end));
            }
        }
    }
    if let Some((leader_epoch, log_end_offset)) = run {
        ctx.tell(Event::Appended {
            tp: data.tp,
            leader_epoch,
            log_end_offset,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::tell_appended;
    use crate::broker::log::RecordBatch;
    use crate::engine::{Effect, NodeId, SimTime};
    use crate::kraft::TopicPartition;
    use crate::proto::{Ctx, Event, PartitionFetchData};

    fn batch(base_offset: u64, count: u32, leader_epoch: u32) -> RecordBatch {
        RecordBatch {
            base_offset,
            count,
            leader_epoch,
            producer_id: 1,
            base_sequence: 0,
            idempotent: false,
        }
    }

    /// A follower tells one `Appended` per run of one leader epoch among the batches it took
    /// (those from its old LEO to its new one), so the report can colour its log by epoch.
    #[test]
    fn a_follower_tells_each_epoch_run_it_appended() {
        let tp = TopicPartition {
            topic: 0,
            partition: 0,
        };
        let data = PartitionFetchData {
            tp,
            error: None,
            high_watermark: 0,
            diverging: None,
            // It had up to offset 2 already; it took 2..9 (epochs 0, 0, 1, 3).
            batches: vec![
                batch(0, 2, 0),
                batch(2, 2, 0),
                batch(4, 1, 0),
                batch(5, 3, 1),
                batch(8, 1, 3),
            ],
        };
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(SimTime::ZERO, NodeId(3), &mut effects);
        tell_appended(&mut ctx, &data, 2, 9);
        let told: Vec<(u32, u64)> = effects
            .iter()
            .map(|e| match e {
                Effect::Tell(Event::Appended {
                    leader_epoch,
                    log_end_offset,
                    ..
                }) => (*leader_epoch, *log_end_offset),
                other => panic!("only tells: {other:?}"),
            })
            .collect();
        assert_eq!(told, [(0, 5), (1, 8), (3, 9)]);
    }
}
