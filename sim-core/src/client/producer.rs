//! A Kafka producer (`KafkaProducer`, `RecordAccumulator`, `Sender`).
//!
//! Records are made at the scenario's rate, spread round-robin over the topic's partitions,
//! and gathered per partition until `linger.ms` passes or a batch is full. One batch per
//! partition is in flight at a time (the ordering an idempotent producer guarantees), all of
//! a leader's batches going in one `Produce`. A retriable error sends the batch again after
//! `retry.backoff.ms`, with the same sequence numbers, until `delivery.timeout.ms`, which
//! fails a batch whether it waits or is in flight (`Sender.getExpiredInflightBatches`, KIP-91),
//! so every send is answered within `delivery.timeout.ms` of its first record. An
//! idempotent batch that fails for good bumps the partition's producer id, which restarts its
//! sequence numbers (KIP-360's epoch bump).
//!
//! History: `invoke` when a batch is formed; `ok` with its offset; `fail` when it was surely
//! not written (every attempt was refused before append); `info` when it may have been.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Metadata;
use crate::config::Acks;
use crate::config::{ClusterConfig, ProducerPlan};
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::{BrokerId, TopicPartition};
use crate::proto::{
    Ctx, Event, Msg, ProduceBatch, ProduceError, ProduceRequest, ProduceResponse, SendOp, Timer,
};

/// Most records in one batch (`batch.size` is 16 KiB; kafkasim counts records, not bytes).
pub const MAX_BATCH_RECORDS: u32 = 100;
/// Marks the identities of records that were never sent.
const UNSENT_PRODUCER_ID_BIT: u64 = 1 << 39;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchState {
    /// Ready to send (now, or once the backoff ends).
    Ready {
        not_before: SimTime,
    },
    InFlight {
        request_id: u64,
    },
}

#[derive(Clone, Debug)]
struct Batch {
    producer_id: u64,
    base_sequence: u32,
    count: u32,
    /// When its first record was made: `delivery.timeout.ms` counts from here.
    created: SimTime,
    attempts: u32,
    /// Some attempt may have been written (a timeout, a lost connection, or
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    maybe_appended: bool,
    state: BatchState,
}

#[derive(Clone, Debug)]
struct Request {
    to: NodeId,
    deadline: SimTime,
    partitions: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Producer {
    cluster: Arc<ClusterConfig>,
    plan: ProducerPlan,
    number: u32,
    incarnation: u32,
    metadata: Metadata,
    /// Per partition: records waiting in the accumulator, and when the first was made.
    accumulated: Vec<(u32, SimTime)>,
    /// Per partition: the batch in flight or waiting to be retried.
    batches: Vec<Option<Batch>>,
    /// The partitions with accumulated records or a batch, ascending: what `drain` and
    /// `send_ready` visit, so their work follows the records, not the topic's size.
    active: Vec<u32>,
    next_sequence: Vec<u32>,
    /// Per partition: how many times its producer id was bumped.
    generation: Vec<u32>,
    next_partition: u32,
    /// Records that expired unsent so far (their identities).
    unsent: u32,
    requests: BTreeMap<u64, Request>,
    next_request_id: u64,
}

impl Producer {
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// What must always hold of the producer (`RecordAccumulator`, `TransactionManager`'s
    /// sequence numbers): it visits every partition with records or a batch, in ascending order
    /// and once each; a batch's sequences lie below the partition's next sequence; and a batch
    /// in flight belongs to a request that names its partition.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let me = self.number;
        ensure!(
            self.active.windows(2).all(|w| w[0] < w[1]),
            "producer-{me}: visits partitions {:?}, not ascending once each",
            self.active
        );
        for (p, batch) in self.batches.iter().enumerate() {
            let busy = self.accumulated[p].0 > 0 || batch.is_some();
            ensure!(
                !busy || self.active.contains(&(p as u32)),
                "producer-{me}: partition {p} has records or a batch but is not visited"
            );
            let Some(b) = batch else { continue };
            ensure!(
                b.count > 0
                    && u64::from(b.base_sequence) + u64::from(b.count)
                        <= u64::from(self.next_sequence[p]),
                "producer-{me}: partition {p}'s batch at sequence {} of {} reaches past the next sequence {}",
                b.base_sequence,
                b.count,
                self.next_sequence[p]
            );
            if let BatchState::InFlight { request_id } = b.state {
                ensure!(
                    self.requests
                        .get(&request_id)
                        .is_some_and(|r| r.partitions.contains(&(p as u32))),
                    "producer-{me}: partition {p}'s batch is in flight in request {request_id}, which does not carry it"
                );
            }
        }
        Ok(())
    }

    pub fn boot(cluster: Arc<ClusterConfig>, number: u32, incarnation: u32) -> Producer {
        let plan = cluster.producers[number as usize - 1].clone();
        let n = plan.partitions as usize;
        Producer {
            metadata: Metadata::new(
                plan.topic,
                plan.partitions,
                number as usize,
                SimDuration::from_millis(plan.config.retry_backoff_ms),
            ),
            cluster,
            plan,
            number,
            incarnation,
            accumulated: vec![(0, SimTime::ZERO); n],
            batches: vec![None; n],
            active: Vec::new(),
            next_sequence: vec![0; n],
            generation: vec![0; n],
            next_partition: (number - 1) % plan_partitions(n),
            unsent: 0,
            requests: BTreeMap::new(),
            next_request_id: 0,
        }
    }

    fn tp(&self, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: self.plan.topic,
            partition,
        }
    }

    /// Stands in for `InitProducerId`: unique per producer, incarnation and bump.
    fn producer_id(&self, partition: u32) -> u64 {
        (u64::from(self.number) << 40)
            | (u64::from(self.incarnation) << 20)
            | u64::from(self.generation[partition as usize])
    }

    fn record_interval(&self) -> SimDuration {
        SimDuration::from_micros(1_000_000 / u64::from(self.plan.records_per_s.max(1)))
    }

    fn request_deadline(&self, now: SimTime) -> SimTime {
        now + SimDuration::from_millis(self.plan.config.request_timeout_ms)
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let deadline = self.request_deadline(now);
        // The first request: no backoff can be running yet.
        let _ = self.metadata.refresh(ctx, &self.cluster, deadline);
        if self.plan.records_per_s > 0 {
            let first = self.plan.start.max(now);
            ctx.set_timer(Timer::ProduceTick, first.saturating_sub(now));
        }
        self.arm_request_timeout(ctx);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataResponse { topic, partitions } if topic == self.plan.topic => {
                self.metadata.on_response(ctx.now(), from, &partitions);
                self.send_ready(ctx);
            }
            Msg::ProduceResponse(resp) => self.on_produce_response(ctx, *resp),
            _ => {}
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::ProduceTick => self.on_tick(ctx),
            Timer::Linger | Timer::ClientRetry => self.drain(ctx),
            Timer::ClientRequestTimeout => self.on_request_timeout(ctx),
            _ => {}
        }
    }

    pub(crate) fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        self.metadata
            .on_disconnect(ctx.now(), peer, self.cluster.broker_of(peer));
        let lost: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.to == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.fail_request(ctx, id);
        }
        self.drain(ctx);
    }

    /// The next record is made.
    fn on_tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if self.plan.stop.is_some_and(|stop| now >= stop) {
            return;
        }
        let p = self.next_partition as usize;
        self.next_partition = (self.next_partition + 1) % self.plan.partitions;
        let acc = &mut self.accumulated[p];
        if acc.0 == 0 {
            acc.1 = now;
            if let Err(at) = self.active.binary_search(&(p as u32)) {
                self.active.insert(at, p as u32);
            }
        }
        acc.0 += 1;
        ctx.set_timer(Timer::ProduceTick, self.record_interval());
        self.drain(ctx);
    }

    /// Forms the batches that are ready (`RecordAccumulator.ready/drain`), expires what ran
    /// out of time, and sends.
    fn drain(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let linger = SimDuration::from_millis(self.plan.config.effective_linger_ms());
        let delivery = SimDuration::from_millis(self.plan.config.delivery_timeout_ms);
        let mut next_linger: Option<SimTime> = None;
        // Nothing below adds a partition to `active`, so it can be walked by index.
        let mut k = 0;
        while let Some(&p) = self.active.get(k) {
            k += 1;
            let i = p as usize;
            // A batch past its delivery timeout fails, waiting or in flight (KIP-91: the Sender
            // expires in-flight batches too; an answer that comes later is ignored). One that
            // was sent may have been written.
            if let Some(b) = &mut self.batches[i]
                && b.created + delivery <= now
            {
                if matches!(b.state, BatchState::InFlight { .. }) {
                    b.maybe_appended = true;
                }
                self.complete_failed(ctx, p, ProduceError::DeliveryTimeout);
            }
            let (count, first) = self.accumulated[i];
            if count == 0 {
                continue;
            }
            if first + delivery <= now {
                self.fail_unsent(ctx, p, now);
                continue;
            }
            if self.batches[i].is_some() {
                continue;
            }
            if first + linger <= now || count >= MAX_BATCH_RECORDS {
                let batch = self.take_batch(ctx, p, now);
                self.batches[i] = Some(batch);
            } else {
                let at = first + linger;
                next_linger = Some(next_linger.map_or(at, |t| t.min(at)));
            }
        }
        if let Some(at) = next_linger {
            ctx.set_timer(Timer::Linger, at.saturating_sub(now));
        }
        let (accumulated, batches) = (&self.accumulated, &self.batches);
        self.active
            .retain(|&p| accumulated[p as usize].0 > 0 || batches[p as usize].is_some());
        self.send_ready(ctx);
        self.arm_request_timeout(ctx);
    }

    fn take_batch(&mut self, ctx: &mut Ctx<'_>, p: u32, now: SimTime) -> Batch {
        let i = p as usize;
        let (total, first) = self.accumulated[i];
        let count = total.min(MAX_BATCH_RECORDS);
        self.accumulated[i] = if total > count {
            (total - count, now)
        } else {
            (0, now)
        };
        let batch = Batch {
            producer_id: self.producer_id(p),
            base_sequence: self.next_sequence[i],
            count,
            created: first,
            attempts: 0,
            maybe_appended: false,
            state: BatchState::Ready { not_before: now },
        };
        self.next_sequence[i] += count;
        self.history(ctx, p, &batch, SendOp::Invoke, None, None);
        batch
    }

    /// Records that waited out `delivery.timeout.ms` in the accumulator fail unsent. They never
    /// got sequence numbers (Kafka assigns them at drain), so they are named in a producer id
    /// space of their own, where no written record can share their identity.
    fn fail_unsent(&mut self, ctx: &mut Ctx<'_>, p: u32, now: SimTime) {
        let (count, first) = self.accumulated[p as usize];
        self.accumulated[p as usize] = (0, now);
        let batch = Batch {
            producer_id: self.producer_id(p) | UNSENT_PRODUCER_ID_BIT,
            base_sequence: self.unsent,
            count,
            created: first,
            attempts: 0,
            maybe_appended: false,
            state: BatchState::Ready { not_before: now },
        };
        self.unsent += count;
        self.history(ctx, p, &batch, SendOp::Invoke, None, None);
        self.history(
            ctx,
            p,
            &batch,
            SendOp::Fail,
            None,
            Some(ProduceError::DeliveryTimeout),
        );
    }

    fn history(
        &self,
        ctx: &mut Ctx<'_>,
        p: u32,
        b: &Batch,
        op: SendOp,
        offset: Option<u64>,
        error: Option<ProduceError>,
    ) {
        ctx.emit(Event::Send {
            op,
            tp: self.tp(p),
            acks: self.plan.config.acks,
            producer_id: b.producer_id,
            base_sequence: b.base_sequence,
            count: b.count,
            offset,
            error,
        });
    }

    /// Sends every ready batch whose leader is known, one request per leader.
    fn send_ready(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let mut by_leader: BTreeMap<BrokerId, Vec<u32>> = BTreeMap::new();
        let mut unknown = false;
        let mut next_retry: Option<SimTime> = None;
        for &p in &self.active {
            let Some(b) = &self.batches[p as usize] else {
                continue;
            };
            let BatchState::Ready { not_before } = b.state else {
                continue;
            };
            if not_before > now {
                next_retry = Some(next_retry.map_or(not_before, |t| t.min(not_before)));
                continue;
            }
            match self.metadata.leaders[p as usize] {
                Some(l) => by_leader.entry(l.broker).or_default().push(p),
                None => unknown = true,
            }
        }
        if unknown {
            // Woken by the metadata answer, its timeout, or the end of the refresh backoff.
            let deadline = self.request_deadline(now);
            if let Some(at) = self.metadata.refresh(ctx, &self.cluster, deadline) {
                next_retry = Some(next_retry.map_or(at, |t| t.min(at)));
            }
        }
        if let Some(at) = next_retry {
            ctx.set_timer(Timer::ClientRetry, at.saturating_sub(now));
        }
        let idempotent = self.plan.config.enable_idempotence;
        for (leader, partitions) in by_leader {
            let Some(node) = self.cluster.broker_node(leader) else {
                continue;
            };
            let request_id = self.next_request_id;
            self.next_request_id += 1;
            let mut batches = Vec::with_capacity(partitions.len());
            for &p in &partitions {
                let b = self.batches[p as usize].as_mut().expect("ready");
                b.attempts += 1;
                b.state = BatchState::InFlight { request_id };
                batches.push(ProduceBatch {
                    tp: TopicPartition {
                        topic: self.plan.topic,
                        partition: p,
                    },
                    producer_id: b.producer_id,
                    base_sequence: b.base_sequence,
                    count: b.count,
                    idempotent,
                });
            }
            ctx.send(
                node,
                Msg::Produce(Box::new(ProduceRequest {
                    request_id,
                    acks: self.plan.config.acks,
                    timeout_ms: self.plan.config.request_timeout_ms,
                    batches,
                })),
            );
            if self.plan.config.acks == Acks::None {
                // Fire and forget: done once sent, offset unknown.
                for p in partitions {
                    let b = self.batches[p as usize].take().expect("sent");
                    self.history(ctx, p, &b, SendOp::Ok, None, None);
                }
            } else {
                self.requests.insert(
                    request_id,
                    Request {
                        to: node,
                        deadline: self.request_deadline(now),
                        partitions,
                    },
                );
            }
        }
        self.arm_request_timeout(ctx);
    }

    /// Wakes the producer at the earliest request deadline or delivery timeout.
    fn arm_request_timeout(&self, ctx: &mut Ctx<'_>) {
        let delivery = SimDuration::from_millis(self.plan.config.delivery_timeout_ms);
        let expiries = self.active.iter().filter_map(|&p| {
            let i = p as usize;
            let batch = self.batches[i].as_ref().map(|b| b.created);
            let waiting = (self.accumulated[i].0 > 0).then_some(self.accumulated[i].1);
            batch.into_iter().chain(waiting).min().map(|t| t + delivery)
        });
        let at = self
            .requests
            .values()
            .map(|r| r.deadline)
            .chain(self.metadata.deadline())
            .chain(expiries)
            .min();
        if let Some(at) = at {
            ctx.set_timer(Timer::ClientRequestTimeout, at.saturating_sub(ctx.now()));
        }
    }

    fn on_produce_response(&mut self, ctx: &mut Ctx<'_>, resp: ProduceResponse) {
        if self.requests.remove(&resp.request_id).is_none() {
            return;
        }
        for part in resp.partitions {
            let p = part.tp.partition;
            let matches = self.batches[p as usize].as_ref().is_some_and(|b| {
                b.state
                    == BatchState::InFlight {
                        request_id: resp.request_id,
                    }
            });
            if !matches {
                continue;
            }
            match part.result {
                Ok(offset) => {
                    let b = self.batches[p as usize].take().expect("matched");
                    self.history(ctx, p, &b, SendOp::Ok, Some(offset), None);
                }
                Err(e) => self.on_batch_error(ctx, p, e),
            }
        }
        self.drain(ctx);
    }

    fn on_batch_error(&mut self, ctx: &mut Ctx<'_>, p: u32, error: ProduceError) {
        let now = ctx.now();
        let delivery = SimDuration::from_millis(self.plan.config.delivery_timeout_ms);
        let retries = self.plan.config.retries;
        let backoff = SimDuration::from_millis(self.plan.config.retry_backoff_ms);
        if matches!(
            error,
            ProduceError::NotLeaderOrFollower
                | ProduceError::NetworkException
                | ProduceError::UnknownTopicOrPartition
        ) {
            self.metadata.forget(p);
        }
        let b = self.batches[p as usize].as_mut().expect("in flight");
        b.maybe_appended |= error.maybe_appended();
        let fatal = error == ProduceError::OutOfOrderSequenceNumber;
        if fatal || b.attempts > retries || b.created + delivery <= now {
            self.complete_failed(ctx, p, error);
            return;
        }
        b.state = BatchState::Ready {
            not_before: now + backoff,
        };
    }

    /// The batch in `p` failed for good: `info` if it may have been written, else `fail`.
    fn complete_failed(&mut self, ctx: &mut Ctx<'_>, p: u32, error: ProduceError) {
        let Some(b) = self.batches[p as usize].take() else {
            return;
        };
        let op = if b.maybe_appended {
            SendOp::Info
        } else {
            SendOp::Fail
        };
        self.history(ctx, p, &b, op, None, Some(error));
        if self.plan.config.enable_idempotence {
            // The sequence has a hole now: start a new producer id for this partition.
            self.generation[p as usize] += 1;
            self.next_sequence[p as usize] = 0;
        }
    }

    /// The request got no answer in time, or its connection broke.
    fn fail_request(&mut self, ctx: &mut Ctx<'_>, request_id: u64) {
        let Some(r) = self.requests.remove(&request_id) else {
            return;
        };
        for p in r.partitions {
            let in_flight = self.batches[p as usize]
                .as_ref()
                .is_some_and(|b| b.state == BatchState::InFlight { request_id });
            if in_flight {
                self.on_batch_error(ctx, p, ProduceError::NetworkException);
            }
        }
    }

    fn on_request_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        self.metadata.expire(now);
        let expired: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.fail_request(ctx, id);
        }
        self.drain(ctx);
    }
}

fn plan_partitions(n: usize) -> u32 {
    (n as u32).max(1)
}

#[cfg(test)]
mod tests;
