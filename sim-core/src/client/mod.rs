//! Kafka clients: producers and consumers, pure state machines like the servers, each
//! leaving a Jepsen-style history in the trace (`Event::Send`, `Event::Poll`).
//!
//! Map:
//! - [`Metadata`]: the client's view of partition leaders, refreshed from any broker and
//!   never moved back to an older leader epoch (KIP-320);
//! - [`producer`]: batching (linger), acks, retries, idempotence, request and delivery
//!   timeouts;
//! - [`consumer`]: fetching up to the HW from each leader, and KIP-320 truncation detection.

pub mod consumer;
pub mod producer;

use crate::config::ClusterConfig;
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::kraft::BrokerId;
use crate::proto::{Ctx, Msg, PartitionMetadata};

/// A partition's leader as a client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leader {
    pub broker: BrokerId,
    pub epoch: u32,
}

/// The client's metadata cache for one topic.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub topic: u32,
    pub leaders: Vec<Option<Leader>>,
    /// Newest leader epoch seen per partition, leader or not.
    epochs: Vec<u32>,
    /// The broker asked, and until when the answer is awaited.
    in_flight: Option<(NodeId, SimTime)>,
    /// Bootstrap servers are tried in turn.
    next_broker: usize,
    /// `retry.backoff.ms`: the least time between the end of one metadata request (answered,
    /// timed out, or lost with its connection) and the next (Kafka's `Metadata`
    /// `refreshBackoffMs`, `timeToAllowUpdate`).
    refresh_backoff: SimDuration,
    /// When the last metadata request ended.
    last_ended: Option<SimTime>,
}

impl Metadata {
    pub fn new(
        topic: u32,
        partitions: u32,
        first_broker: usize,
        refresh_backoff: SimDuration,
    ) -> Metadata {
        Metadata {
            topic,
            leaders: vec![None; partitions as usize],
            epochs: vec![0; partitions as usize],
            in_flight: None,
            next_broker: first_broker,
            refresh_backoff,
            last_ended: None,
        }
    }

    /// Asks the next bootstrap broker for the topic's leaders, unless a request is out (its
    /// answer or its timeout wakes the caller) or the last one ended less than
    /// `retry.backoff.ms` ago: then returns when the backoff ends, for the caller to try
    /// again. Kafka's `NetworkClient` likewise sleeps in `poll` until the metadata answer or
    /// `Metadata.timeToNextUpdate`, rather than spinning on a retry timer while a leader is
    /// unknown (`RecordAccumulator.ready` leaves such batches out of the next check delay).
    pub fn refresh(
        &mut self,
        ctx: &mut Ctx<'_>,
        cluster: &ClusterConfig,
        timeout: SimTime,
    ) -> Option<SimTime> {
        let now = ctx.now();
        if self.in_flight.is_some_and(|(_, until)| until > now) {
            return None;
        }
        if let Some(ended) = self.last_ended
            && now < ended + self.refresh_backoff
        {
            return Some(ended + self.refresh_backoff);
        }
        let brokers = &cluster.brokers;
        let node = brokers[self.next_broker % brokers.len()];
        self.next_broker = (self.next_broker + 1) % brokers.len();
        self.in_flight = Some((node, timeout));
        ctx.send(node, Msg::Metadata { topic: self.topic });
        None
    }

    /// A `MetadataResponse`: returns the partitions whose leader epoch moved forward.
    pub(crate) fn on_response(
        &mut self,
        now: SimTime,
        from: NodeId,
        partitions: &[PartitionMetadata],
    ) -> Vec<u32> {
        if self.in_flight.is_some_and(|(n, _)| n == from) {
            self.in_flight = None;
            self.last_ended = Some(now);
        }
        let mut moved = Vec::new();
        for pm in partitions {
            let i = pm.partition as usize;
            if i >= self.leaders.len() || pm.leader_epoch < self.epochs[i] {
                // KIP-320: a broker with older metadata does not move us backwards.
                continue;
            }
            let leader = pm.leader.map(|broker| Leader {
                broker,
                epoch: pm.leader_epoch,
            });
            if pm.leader_epoch > self.epochs[i] || self.leaders[i] != leader {
                moved.push(pm.partition);
            }
            self.epochs[i] = pm.leader_epoch;
            self.leaders[i] = leader;
        }
        moved
    }

    /// The leader of `partition` is wrong (NOT_LEADER_OR_FOLLOWER, a broken connection).
    pub(crate) fn forget(&mut self, partition: u32) {
        self.leaders[partition as usize] = None;
    }

    /// The connection to `node` (broker `broker`, if it is one) broke: a metadata request to
    /// it is lost, and the partitions it led need their leader looked up again (the Java
    /// client requests a metadata update on any disconnect, `handleServerDisconnect`).
    pub(crate) fn on_disconnect(&mut self, now: SimTime, node: NodeId, broker: Option<BrokerId>) {
        if self.in_flight.is_some_and(|(n, _)| n == node) {
            self.in_flight = None;
            self.last_ended = Some(now);
        }
        for leader in &mut self.leaders {
            if leader.is_some_and(|l| Some(l.broker) == broker) {
                *leader = None;
            }
        }
    }

    /// Forget a metadata request that timed out.
    pub(crate) fn expire(&mut self, now: SimTime) {
        if self.in_flight.is_some_and(|(_, until)| until <= now) {
            self.in_flight = None;
            self.last_ended = Some(now);
        }
    }

    pub(crate) fn deadline(&self) -> Option<SimTime> {
        self.in_flight.map(|(_, t)| t)
    }
}
