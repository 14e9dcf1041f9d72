//! A Kafka consumer, assigned every partition of its topic (`KafkaConsumer.assign`, no group).
//!
//! It fetches from each partition's leader, one fetch per leader broker in flight, and reads
//! only below the HW. After a leader change it validates its position (KIP-320): the fetch
//! carries the epoch of the last record it consumed, and if the new leader's log for that
//! epoch ends before the position, records it read were truncated away. The consumer reports
//! that (`Event::TruncationDetected`) and seeks back to the leader's end offset for the epoch
//! (`auto.offset.reset` decides this in Kafka; with "none" it raises `LogTruncationException`).
//! Until the position is validated (Kafka's AWAIT_VALIDATION state) the answer to a fetch sent
//! before the leader change is ignored, records and all (`FetchCollector`).
//!
//! History: `Event::Poll` for every batch read.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use super::Metadata;
use crate::config::OffsetReset;
use crate::config::{ClusterConfig, ConsumerPlan};
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::{BrokerId, TopicPartition};
use crate::proto::{
    Ctx, Event, FetchError, Msg, PartitionFetch, PartitionFetchRequest, PartitionFetchResponse,
    RequestIds, Timer,
};

/// A `fetch_offset` that asks only for the HW: how `auto.offset.reset=latest` finds the end
/// of the log (Kafka asks `ListOffsets(LATEST)`).
pub const LATEST: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Position {
    /// Next offset to read; `LATEST` until the log end is known.
    offset: u64,
    /// Epoch of the last record read.
    last_epoch: Option<u32>,
    /// The leader changed: validate the position before reading on.
    validate: bool,
}

/// A fetch in flight to one leader broker.
#[derive(Clone, Debug)]
struct InFlight {
    /// The request's correlation id: an answer to an earlier request (one that timed out, whose
    /// connection Kafka's `NetworkClient` closed) is not read.
    correlation_id: u64,
    deadline: SimTime,
    /// The partitions it validates (KIP-320): sent with the epoch of their last record read.
    validating: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Consumer {
    cluster: Arc<ClusterConfig>,
    plan: ConsumerPlan,
    metadata: Metadata,
    positions: Vec<Position>,
    /// Fetches in flight, by leader broker.
    in_flight: BTreeMap<BrokerId, InFlight>,
    /// Correlation ids of this consumer's fetches.
    fetch_ids: RequestIds,
}

impl Consumer {
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    pub fn boot(cluster: Arc<ClusterConfig>, number: u32) -> Consumer {
        let plan = cluster.consumers[number as usize - 1].clone();
        let start = match plan.config.auto_offset_reset {
            OffsetReset::Earliest => 0,
            OffsetReset::Latest | OffsetReset::None => LATEST,
        };
        Consumer {
            metadata: Metadata::new(
                plan.topic,
                plan.partitions,
                number as usize,
                SimDuration::from_millis(plan.config.retry_backoff_ms),
            ),
            positions: vec![
                Position {
                    offset: start,
                    last_epoch: None,
                    validate: false,
                };
                plan.partitions as usize
            ],
            cluster,
            plan,
            in_flight: BTreeMap::new(),
            fetch_ids: RequestIds::default(),
        }
    }

    fn request_deadline(&self, now: SimTime) -> SimTime {
        now + SimDuration::from_millis(self.plan.config.request_timeout_ms)
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let start = self.plan.start.max(now);
        ctx.set_timer(Timer::Poll, start.saturating_sub(now));
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataResponse { topic, partitions } if topic == self.plan.topic => {
                for p in self.metadata.on_response(ctx.now(), from, &partitions) {
                    // KIP-320: a new leader epoch means the position must be validated.
                    let pos = &mut self.positions[p as usize];
                    pos.validate = pos.last_epoch.is_some();
                }
                self.poll(ctx);
            }
            Msg::PartitionFetchResponse(resp) => self.on_fetch_response(ctx, from, *resp),
            _ => {}
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match timer {
            Timer::Poll | Timer::ClientRetry => self.poll(ctx),
            Timer::ClientRequestTimeout => {
                let now = ctx.now();
                self.metadata.expire(now);
                self.in_flight.retain(|_, f| f.deadline > now);
                self.poll(ctx);
            }
            _ => {}
        }
    }

    pub(crate) fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        let broker = self.cluster.broker_of(peer);
        self.metadata.on_disconnect(ctx.now(), peer, broker);
        if let Some(b) = broker
            && self.in_flight.remove(&b).is_some()
        {
            self.retry_later(ctx);
        } else {
            // A metadata request may have ended with the connection (NetworkClient hands the
            // disconnect to its metadata updater): ask again, after the refresh backoff.
            self.poll(ctx);
        }
    }

    fn retry_later(&self, ctx: &mut Ctx<'_>) {
        ctx.set_timer(
            Timer::ClientRetry,
            SimDuration::from_millis(self.plan.config.retry_backoff_ms),
        );
    }

    /// Sends a fetch to every leader broker that has none in flight.
    fn poll(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if now < self.plan.start {
            return;
        }
        let mut by_leader: BTreeMap<BrokerId, Vec<PartitionFetch>> = BTreeMap::new();
        let mut unknown = false;
        for p in 0..self.plan.partitions {
            let Some(leader) = self.metadata.leaders[p as usize] else {
                unknown = true;
                continue;
            };
            if self.in_flight.contains_key(&leader.broker) {
                continue;
            }
            let pos = self.positions[p as usize];
            by_leader
                .entry(leader.broker)
                .or_default()
                .push(PartitionFetch {
                    tp: TopicPartition {
                        topic: self.plan.topic,
                        partition: p,
                    },
                    fetch_offset: pos.offset,
                    last_fetched_epoch: if pos.validate { pos.last_epoch } else { None },
                    current_leader_epoch: leader.epoch,
                });
        }
        if unknown {
            // Woken by the metadata answer, its timeout, or the end of the refresh backoff.
            let deadline = self.request_deadline(now);
            if let Some(at) = self.metadata.refresh(ctx, &self.cluster, deadline) {
                ctx.set_timer(Timer::ClientRetry, at.saturating_sub(now));
            }
        }
        for (leader, partitions) in by_leader {
            let Some(node) = self.cluster.broker_node(leader) else {
                continue;
            };
            let validating = partitions
                .iter()
                .filter(|f| f.last_fetched_epoch.is_some())
                .map(|f| f.tp.partition)
                .collect();
            let deadline = self.request_deadline(now);
            let correlation_id = self.fetch_ids.take();
            self.in_flight.insert(
                leader,
                InFlight {
                    correlation_id,
                    deadline,
                    validating,
                },
            );
            ctx.send(
                node,
                Msg::PartitionFetch(Box::new(PartitionFetchRequest {
                    correlation_id,
                    replica: None,
                    max_wait_ms: self.plan.config.fetch_max_wait_ms,
                    partitions,
                })),
            );
        }
        let at = self
            .in_flight
            .values()
            .map(|f| f.deadline)
            .chain(self.metadata.deadline())
            .min();
        if let Some(at) = at {
            ctx.set_timer(Timer::ClientRequestTimeout, at.saturating_sub(now));
        }
    }

    fn on_fetch_response(&mut self, ctx: &mut Ctx<'_>, from: NodeId, resp: PartitionFetchResponse) {
        let Some(broker) = self.cluster.broker_of(from) else {
            return;
        };
        let sent = match self.in_flight.entry(broker) {
            Entry::Occupied(f) if f.get().correlation_id == resp.correlation_id => f.remove(),
            _ => return,
        };
        let mut refresh = false;
        for data in resp.partitions {
            let p = data.tp.partition as usize;
            if p >= self.positions.len() {
                continue;
            }
            if self.positions[p].validate && !sent.validating.contains(&data.tp.partition) {
                // AWAIT_VALIDATION: a new leader epoch came after this fetch went out, and
                // Kafka's `FetchCollector` ignores data for a partition without a valid
                // position. The next fetch validates it.
                continue;
            }
            match data.error {
                // The broker's metadata is behind ours: try again shortly.
                Some(FetchError::UnknownLeaderEpoch) => {
                    refresh = true;
                    continue;
                }
                Some(_) => {
                    self.metadata.forget(data.tp.partition);
                    refresh = true;
                    continue;
                }
                None => {}
            }
            let pos = &mut self.positions[p];
            if let Some((_, end)) = data.diverging {
                if end < pos.offset {
                    ctx.emit(Event::TruncationDetected {
                        tp: data.tp,
                        position: pos.offset,
                        end_offset: end,
                    });
                    pos.offset = end;
                }
                pos.validate = false;
                continue;
            }
            pos.validate = false;
            if pos.offset == LATEST {
                pos.offset = data.high_watermark;
                continue;
            }
            for batch in data.batches {
                if batch.base_offset != pos.offset {
                    continue;
                }
                pos.offset = batch.end_offset();
                pos.last_epoch = Some(batch.leader_epoch);
                ctx.emit(Event::Poll { tp: data.tp, batch });
            }
        }
        if refresh {
            self.retry_later(ctx);
        } else {
            self.poll(ctx);
        }
    }
}
