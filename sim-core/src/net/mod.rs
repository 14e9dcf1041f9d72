//! The simulated network.
//!
//! Kafka runs on TCP, so the unit here is a connection per directed pair of nodes:
//! - messages on one connection arrive in the order sent and are never duplicated: a message's
//!   arrival is never earlier than the previous one's on the same link;
//! - each message's latency is drawn from the network RNG stream ([`LatencyModel`]), plus any
//!   extra delay on the link or on either node (a slow node);
//! - a cut (partition) or a crash breaks the connection: the link's generation goes up, so
//!   messages still in flight on the old connection are dropped on arrival, and both ends are
//!   told of the disconnect after `disconnect_detection` (a timeout or an RST, as the engine
//!   schedules it);
//! - a one-way cut blocks one direction (A's messages to B are lost), and, as in TCP, no
//!   connection can open between the two while it lasts: the handshake needs both directions
//!   (A's SYN, or B's SYN-ACK, is lost). A connection open when the cut starts is reset like any
//!   other (both ends are told), so only what was already in flight from B to A still arrives.
//!   Kafka's `NetworkClient` fails such a connection after `socket.connection.setup.timeout.ms`
//!   (KIP-601); here the sender is told after `disconnect_detection`, as for any cut.
//!
//! Links are a dense `nodes x nodes` table so the hot path is one index. `petgraph` describes
//! connectivity (which nodes can still talk to each other) for traces and liveness checks.

use petgraph::unionfind::UnionFind;
use serde::{Deserialize, Serialize};

use crate::engine::rng::SimRng;
use crate::engine::{NodeId, SimDuration, SimTime};

/// How long one message takes on an unimpaired link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencyModel {
    /// Every message takes exactly `us`.
    Fixed { us: u64 },
    /// Uniform in `min_us..=max_us`.
    Uniform { min_us: u64, max_us: u64 },
    /// Uniform in `min_us..=max_us`, except that with probability `tail_probability` a message
    /// takes uniform `max_us..=tail_max_us` (a retransmission, a GC pause on the path).
    LongTail {
        min_us: u64,
        max_us: u64,
        tail_probability: f64,
        tail_max_us: u64,
    },
}

impl Default for LatencyModel {
    /// A LAN: 0.5 to 2 ms.
    fn default() -> Self {
        LatencyModel::Uniform {
            min_us: 500,
            max_us: 2_000,
        }
    }
}

impl LatencyModel {
    /// The shortest delay the model can draw, in microseconds.
    pub fn min_us(&self) -> u64 {
        match *self {
            LatencyModel::Fixed { us } => us,
            LatencyModel::Uniform { min_us, .. } | LatencyModel::LongTail { min_us, .. } => min_us,
        }
    }

    pub(crate) fn sample(&self, rng: &mut SimRng) -> SimDuration {
        let us = match *self {
            LatencyModel::Fixed { us } => us,
            LatencyModel::Uniform { min_us, max_us } => rng.between(min_us, max_us),
            LatencyModel::LongTail {
                min_us,
                max_us,
                tail_probability,
                tail_max_us,
            } => {
                if rng.chance(tail_probability) {
                    rng.between(max_us, tail_max_us)
                } else {
                    rng.between(min_us, max_us)
                }
            }
        };
        SimDuration::from_micros(us)
    }

    /// Checks the bounds are ordered; returns what is wrong.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match *self {
            LatencyModel::Fixed { .. } => Ok(()),
            LatencyModel::Uniform { min_us, max_us } if min_us > max_us => Err(format!(
                "min_us ({min_us}) is greater than max_us ({max_us})"
            )),
            LatencyModel::LongTail {
                min_us,
                max_us,
                tail_probability,
                tail_max_us,
            } => {
                if min_us > max_us {
                    Err(format!(
                        "min_us ({min_us}) is greater than max_us ({max_us})"
                    ))
                } else if max_us > tail_max_us {
                    Err(format!(
                        "max_us ({max_us}) is greater than tail_max_us ({tail_max_us})"
                    ))
                } else if !(0.0..=1.0).contains(&tail_probability) {
                    Err(format!(
                        "tail_probability {tail_probability} is not in 0..=1"
                    ))
                } else {
                    Ok(())
                }
            }
            LatencyModel::Uniform { .. } => Ok(()),
        }
    }
}

/// How many connections one node may hold to another (one per purpose: Kafka's brokers keep
/// separate channels to the controller for heartbeats and for AlterPartition, and fetchers of
/// their own; each protocol message names its own, [`crate::engine::Message::channel`]).
pub const MAX_CHANNELS: usize = 5;

/// One direction of the connections between two nodes.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    /// Bumped whenever the connection breaks; messages carry the generation they were sent on.
    generation: u32,
    blocked: bool,
    /// A message was sent on this connection since it was (re)established, so both ends hold
    /// a socket that notices when it breaks.
    open: bool,
    /// A disconnect notice about this link is already on its way to its sending end.
    notice_pending: bool,
    /// Arrival time of the last message sent on each connection of this pair (keeps FIFO
    /// order within one connection).
    last_arrival: [SimTime; MAX_CHANNELS],
    extra: SimDuration,
}

/// The result of trying to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Send {
    /// The message will arrive at `at` unless the connection breaks first.
    Deliver { at: SimTime, generation: u32 },
    /// The link is cut: the message is lost. If `notify_sender`, the sender should be told of
    /// the disconnect after the detection delay (no notice is pending yet).
    Blocked { notify_sender: bool },
}

#[derive(Clone, Debug)]
pub struct Network {
    nodes: usize,
    links: Vec<Link>,
    latency: LatencyModel,
    node_extra: Vec<SimDuration>,
    /// Extra delay on one connection of one link (a stuck request or a slow handler), by
    /// (from, to, channel); usually empty.
    channel_extra: std::collections::BTreeMap<(NodeId, NodeId, usize), SimDuration>,
    /// How long until an end notices a broken connection.
    pub disconnect_detection: SimDuration,
}

impl Network {
    pub fn new(nodes: usize, latency: LatencyModel, disconnect_detection: SimDuration) -> Self {
        Network {
            nodes,
            links: vec![Link::default(); nodes * nodes],
            latency,
            node_extra: vec![SimDuration::ZERO; nodes],
            channel_extra: std::collections::BTreeMap::new(),
            disconnect_detection,
        }
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    fn link(&self, from: NodeId, to: NodeId) -> &Link {
        &self.links[from.index() * self.nodes + to.index()]
    }

    fn link_mut(&mut self, from: NodeId, to: NodeId) -> &mut Link {
        &mut self.links[from.index() * self.nodes + to.index()]
    }

    /// Sends one message now on connection `channel`, drawing its latency from `rng`.
    #[inline]
    pub fn send(
        &mut self,
        from: NodeId,
        to: NodeId,
        channel: usize,
        now: SimTime,
        rng: &mut SimRng,
    ) -> Send {
        debug_assert!(
            channel < MAX_CHANNELS,
            "a message names a connection that exists"
        );
        let channel = channel.min(MAX_CHANNELS - 1);
        let latency = self.latency.sample(rng);
        let mut extra = self.node_extra[from.index()] + self.node_extra[to.index()];
        if !self.channel_extra.is_empty() {
            extra = extra
                + self
                    .channel_extra
                    .get(&(from, to, channel))
                    .copied()
                    .unwrap_or(SimDuration::ZERO);
        }
        // Either direction cut: no connection is open between the two (a cut resets it, see
        // `cut`), and a new one cannot complete its handshake.
        let handshake_lost = self.link(to, from).blocked;
        let link = self.link_mut(from, to);
        debug_assert!(
            !(handshake_lost && link.open),
            "a cut resets the connection in both directions"
        );
        if link.blocked || handshake_lost {
            let notify_sender = !link.notice_pending;
            link.notice_pending = true;
            return Send::Blocked { notify_sender };
        }
        // TCP: never earlier than the message before it on this connection.
        let at = (now + latency + link.extra + extra).max(link.last_arrival[channel]);
        link.last_arrival[channel] = at;
        link.open = true;
        Send::Deliver {
            at,
            generation: link.generation,
        }
    }

    /// Whether a message sent on `generation` is still on a live connection.
    #[inline]
    pub(crate) fn is_current(&self, from: NodeId, to: NodeId, generation: u32) -> bool {
        self.link(from, to).generation == generation
    }

    /// Whether a message from `from` can reach `to` now: neither direction between them is cut
    /// (a cut either way leaves no connection open, see [`Network::send`]).
    pub(crate) fn can_send(&self, from: NodeId, to: NodeId) -> bool {
        !self.link(from, to).blocked && !self.link(to, from).blocked
    }

    /// Reserves the one disconnect notice `node` may have pending about `peer`; false if one is
    /// already on its way (so a burst of failed sends yields one notice, not one per message).
    pub(crate) fn claim_notice(&mut self, node: NodeId, peer: NodeId) -> bool {
        let link = self.link_mut(node, peer);
        !std::mem::replace(&mut link.notice_pending, true)
    }

    /// The disconnect notice `node` had pending about `peer` was delivered.
    pub(crate) fn notice_delivered(&mut self, node: NodeId, peer: NodeId) {
        self.link_mut(node, peer).notice_pending = false;
    }

    /// Breaks `from -> to`; returns whether a connection was open on it.
    fn break_link(&mut self, from: NodeId, to: NodeId) -> bool {
        let link = self.link_mut(from, to);
        link.generation = link.generation.wrapping_add(1);
        link.last_arrival = [SimTime::ZERO; MAX_CHANNELS];
        std::mem::replace(&mut link.open, false)
    }

    /// A node's process died or exited: every connection to and from it breaks, and its own
    /// pending notices go with it. Returns the peers that had a connection open with it, which
    /// will notice.
    pub(crate) fn break_node(&mut self, node: NodeId) -> Vec<NodeId> {
        let mut peers = Vec::new();
        for i in 0..self.nodes {
            let peer = NodeId(i as u32);
            let out = self.break_link(node, peer);
            let inbound = self.break_link(peer, node);
            self.link_mut(node, peer).notice_pending = false;
            if peer != node && (out || inbound) {
                peers.push(peer);
            }
        }
        peers
    }

    /// Cuts `from -> to`. Returns `None` if it was cut already (or is a self-link), else whether a
    /// connection was open in either direction between the two (both ends will notice).
    ///
    /// The connection is reset both ways: its ends are told it broke, so neither sends on it
    /// again, and a new one cannot open until the cut heals ([`Network::send`]). Messages already
    /// in flight the other way still arrive.
    pub fn cut(&mut self, from: NodeId, to: NodeId) -> Option<bool> {
        if from == to || self.link(from, to).blocked {
            return None;
        }
        let was_open =
            self.break_link(from, to) | std::mem::take(&mut self.link_mut(to, from).open);
        self.link_mut(from, to).blocked = true;
        Some(was_open)
    }

    /// Restores every cut link. Returns how many were cut.
    pub(crate) fn heal_all(&mut self) -> usize {
        let mut healed = 0;
        for link in &mut self.links {
            if link.blocked {
                link.blocked = false;
                healed += 1;
            }
        }
        healed
    }

    /// Extra delay on every message to or from `node` (a slow node); zero clears it.
    pub(crate) fn set_node_delay(&mut self, node: NodeId, extra: SimDuration) {
        self.node_extra[node.index()] = extra;
    }

    /// Extra delay on one direction of one link; zero clears it.
    pub(crate) fn set_link_delay(&mut self, from: NodeId, to: NodeId, extra: SimDuration) {
        self.link_mut(from, to).extra = extra;
    }

    /// Extra delay on one connection (`channel`) of one direction of one link; zero clears it.
    pub(crate) fn set_channel_delay(
        &mut self,
        from: NodeId,
        to: NodeId,
        channel: usize,
        extra: SimDuration,
    ) {
        if extra == SimDuration::ZERO {
            self.channel_extra.remove(&(from, to, channel));
        } else {
            self.channel_extra.insert((from, to, channel), extra);
        }
    }

    /// Groups of nodes joined by links that work in both directions, each sorted, in order of
    /// their smallest member. One group means the network is whole.
    pub fn groups(&self) -> Vec<Vec<NodeId>> {
        let all: Vec<NodeId> = (0..self.nodes).map(|i| NodeId(i as u32)).collect();
        self.groups_among(&all)
    }

    /// Groups of `nodes` joined through each other only (not through nodes outside the set),
    /// each in the order `nodes` lists them, in order of their first member: how a set of peers
    /// that talk only to each other, as KRaft voters do, is split.
    pub fn groups_among(&self, nodes: &[NodeId]) -> Vec<Vec<NodeId>> {
        let mut uf = UnionFind::<usize>::new(nodes.len());
        for (a, &na) in nodes.iter().enumerate() {
            for (b, &nb) in nodes.iter().enumerate().skip(a + 1) {
                if self.can_send(na, nb) {
                    uf.union(a, b);
                }
            }
        }
        let labels = uf.into_labeling();
        let mut groups: Vec<Vec<NodeId>> = Vec::new();
        let mut group_of_label = vec![usize::MAX; nodes.len()];
        for (i, label) in labels.into_iter().enumerate() {
            if group_of_label[label] == usize::MAX {
                group_of_label[label] = groups.len();
                groups.push(Vec::new());
            }
            groups[group_of_label[label]].push(nodes[i]);
        }
        groups
    }

    /// Every cut directed link, in (from, to) order.
    pub(crate) fn cut_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut out = Vec::new();
        for (i, link) in self.links.iter().enumerate() {
            if link.blocked {
                out.push((
                    NodeId((i / self.nodes) as u32),
                    NodeId((i % self.nodes) as u32),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;

    fn n(i: u32) -> NodeId {
        NodeId(i)
    }

    /// Whether a message sent now from `from` to `to` would be delivered.
    fn delivers(net: &mut Network, rng: &mut SimRng, from: NodeId, to: NodeId) -> bool {
        matches!(
            net.send(from, to, 0, SimTime::ZERO, rng),
            Send::Deliver { .. }
        )
    }

    #[test]
    fn one_connection_delivers_in_order_even_with_random_latency() {
        let mut net = Network::new(
            2,
            LatencyModel::Uniform {
                min_us: 1,
                max_us: 10_000,
            },
            SimDuration::ZERO,
        );
        let mut rng = SimRng::new(1, Stream::Network);
        let mut last = SimTime::ZERO;
        for t in 0..1_000u64 {
            match net.send(n(0), n(1), 0, SimTime::from_micros(t), &mut rng) {
                Send::Deliver { at, .. } => {
                    assert!(at >= last, "message {t} overtakes its predecessor");
                    last = at;
                }
                Send::Blocked { .. } => panic!("link is not cut"),
            }
        }
    }

    #[test]
    fn a_slow_connection_holds_back_only_its_own_messages() {
        let mut net = Network::new(
            2,
            LatencyModel::Fixed { us: 1000 },
            SimDuration::from_millis(100),
        );
        let mut rng = SimRng::new(1, Stream::Network);
        net.set_channel_delay(n(0), n(1), 3, SimDuration::from_secs(5));
        let arrival = |net: &mut Network, rng: &mut SimRng, channel| match net.send(
            n(0),
            n(1),
            channel,
            SimTime::ZERO,
            rng,
        ) {
            Send::Deliver { at, .. } => at,
            Send::Blocked { .. } => panic!("the link is up"),
        };
        let slow = arrival(&mut net, &mut rng, 3);
        assert_eq!(slow, SimTime::from_millis(5001));
        // Behind it on the same connection: held back (TCP order).
        net.set_channel_delay(n(0), n(1), 3, SimDuration::ZERO);
        assert_eq!(arrival(&mut net, &mut rng, 3), slow);
        // On another connection of the same pair: not held back.
        assert_eq!(arrival(&mut net, &mut rng, 2), SimTime::from_millis(1));
    }

    #[test]
    fn a_one_way_cut_blocks_new_connections_both_ways() {
        let mut net = Network::new(2, LatencyModel::Fixed { us: 100 }, SimDuration::ZERO);
        let mut rng = SimRng::new(1, Stream::Network);
        assert_eq!(net.cut(n(0), n(1)), Some(false));
        assert_eq!(net.cut(n(0), n(1)), None);
        assert_eq!(
            net.send(n(0), n(1), 0, SimTime::ZERO, &mut rng),
            Send::Blocked {
                notify_sender: true
            }
        );
        assert_eq!(
            net.send(n(0), n(1), 0, SimTime::ZERO, &mut rng),
            Send::Blocked {
                notify_sender: false
            }
        );
        // The reverse direction works, but no connection was open, and a new one cannot
        // complete its handshake: 1's SYN reaches 0, 0's SYN-ACK is lost.
        assert_eq!(
            net.send(n(1), n(0), 0, SimTime::ZERO, &mut rng),
            Send::Blocked {
                notify_sender: true
            }
        );
        assert!(!net.can_send(n(1), n(0)));
        assert_eq!(net.groups(), vec![vec![n(0)], vec![n(1)]]);
        // Healed, either end connects again.
        net.heal_all();
        for (from, to) in [(n(0), n(1)), (n(1), n(0))] {
            net.notice_delivered(from, to);
            assert!(delivers(&mut net, &mut rng, from, to));
        }
    }

    #[test]
    fn a_one_way_cut_resets_an_open_connection_both_ways() {
        let mut net = Network::new(2, LatencyModel::Fixed { us: 100 }, SimDuration::ZERO);
        let mut rng = SimRng::new(1, Stream::Network);
        // 0 asks, 1 answers: a connection is open, and an answer is in flight when 1 -> 0 works.
        assert!(delivers(&mut net, &mut rng, n(0), n(1)));
        let Send::Deliver { generation, .. } = net.send(n(1), n(0), 0, SimTime::ZERO, &mut rng)
        else {
            panic!("the link is up");
        };
        // Cutting 0 -> 1 resets the connection: both ends are told.
        assert_eq!(net.cut(n(0), n(1)), Some(true));
        // What was already on its way from 1 to 0 still arrives ...
        assert!(net.is_current(n(1), n(0), generation));
        // ... but 0's next request, on a new connection, cannot open one (its SYN-ACK would be
        // lost), and neither can 1's.
        for (from, to) in [(n(0), n(1)), (n(1), n(0))] {
            assert!(!delivers(&mut net, &mut rng, from, to));
        }
    }

    #[test]
    fn a_cut_invalidates_messages_in_flight_and_heal_does_not_revive_them() {
        let mut net = Network::new(2, LatencyModel::Fixed { us: 100 }, SimDuration::ZERO);
        let mut rng = SimRng::new(1, Stream::Network);
        let Send::Deliver { generation, .. } = net.send(n(0), n(1), 0, SimTime::ZERO, &mut rng)
        else {
            panic!("link is not cut");
        };
        assert!(net.is_current(n(0), n(1), generation));
        net.cut(n(0), n(1));
        assert_eq!(net.heal_all(), 1);
        assert!(!net.is_current(n(0), n(1), generation));
        assert!(net.can_send(n(0), n(1)));
    }

    #[test]
    fn groups_describe_a_symmetric_partition() {
        let mut net = Network::new(5, LatencyModel::default(), SimDuration::ZERO);
        for a in [0, 1] {
            for b in [2, 3, 4] {
                net.cut(n(a), n(b));
                net.cut(n(b), n(a));
            }
        }
        assert_eq!(net.groups(), vec![vec![n(0), n(1)], vec![n(2), n(3), n(4)]]);
        assert_eq!(net.cut_links().len(), 12);
    }

    #[test]
    fn slow_node_adds_delay_both_ways() {
        let mut net = Network::new(2, LatencyModel::Fixed { us: 100 }, SimDuration::ZERO);
        let mut rng = SimRng::new(1, Stream::Network);
        net.set_node_delay(n(1), SimDuration::from_millis(50));
        let Send::Deliver { at, .. } = net.send(n(0), n(1), 0, SimTime::ZERO, &mut rng) else {
            panic!()
        };
        assert_eq!(at, SimTime::from_micros(50_100));
        let Send::Deliver { at, .. } = net.send(n(1), n(0), 0, SimTime::ZERO, &mut rng) else {
            panic!()
        };
        assert_eq!(at, SimTime::from_micros(50_100));
    }
}
