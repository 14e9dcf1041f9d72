//! The wire and the clock faces of a Kafka process: every message, timer and protocol event.
//!
//! One enum of each for all roles keeps the engine's node type simple; each role only sends,
//! sets and emits its own. Message and field names follow Kafka's RPCs (`Vote`, `Fetch`,
//! `BrokerHeartbeat`, ...), so a trace reads like Kafka's request log.

use serde::Serialize;

use crate::engine::{self, NodeId};
use crate::kraft::raft::RaftRole;
use crate::kraft::{BrokerId, Election, LogEntry, TopicPartition};

/// A handler's view of the world, for every Kafka role.
pub type Ctx<'a> = engine::Ctx<'a, crate::world::Process>;

/// KIP-595 `Vote`; with `pre_vote` it is KIP-996's pre-vote, which bumps nobody's epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteRequest {
    /// The candidate's epoch (for a pre-vote: its current epoch, not the next).
    pub epoch: u32,
    pub last_epoch: u32,
    /// The candidate's log end offset.
    pub last_offset: u64,
    pub pre_vote: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteResponse {
    /// The responder's epoch, and the leader it knows in it.
    pub epoch: u32,
    pub leader: Option<NodeId>,
    pub granted: bool,
    pub pre_vote: bool,
}

/// KIP-595 `Fetch` of the metadata log, from a voter or an observer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    pub epoch: u32,
    pub fetch_offset: u64,
    pub last_fetched_epoch: u32,
    /// The HW the fetcher knows, so the leader answers at once when it has a newer one
    /// instead of parking the fetch.
    pub high_watermark: Option<u64>,
    pub voter: bool,
}

/// Kafka error codes a fetch can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FetchError {
    NotLeaderOrFollower,
    /// The fetcher's epoch is older than the leader's.
    FencedLeaderEpoch,
    /// The fetcher's epoch is newer than the receiver's.
    UnknownLeaderEpoch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    pub epoch: u32,
    pub leader: Option<NodeId>,
    pub error: Option<FetchError>,
    pub high_watermark: Option<u64>,
    /// The fetcher's log diverges: truncate to this (epoch, end offset) and fetch again.
    pub diverging: Option<(u32, u64)>,
    pub base_offset: u64,
    pub records: Vec<LogEntry>,
}

/// Errors of the broker-to-controller RPCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControllerError {
    NotController,
    /// Another incarnation of this broker still has a live session.
    DuplicateBrokerRegistration,
    /// The heartbeat names a broker epoch that is not the registered one.
    StaleBrokerEpoch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatRequest {
    pub broker: BrokerId,
    pub broker_epoch: u64,
    /// Metadata records the broker has applied (the next offset it will apply).
    pub metadata_offset: u64,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatResponse {
    pub error: Option<ControllerError>,
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
    /// Log offset below which the decisions in this response are committed.
    pub committed_offset: u64,
}

/// A message between Kafka processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Vote(VoteRequest),
    VoteResponse(VoteResponse),
    BeginQuorumEpoch {
        epoch: u32,
    },
    BeginQuorumEpochResponse {
        epoch: u32,
        leader: Option<NodeId>,
    },
    /// A leader resigning gracefully names its preferred successors, best first.
    EndQuorumEpoch {
        epoch: u32,
        preferred_successors: Vec<NodeId>,
    },
    Fetch(FetchRequest),
    FetchResponse(Box<FetchResponse>),
    BrokerRegistration {
        broker: BrokerId,
        incarnation: u32,
        /// The epoch of the registration that shut down cleanly, if the broker did.
        previous_broker_epoch: Option<u64>,
    },
    BrokerRegistrationResponse {
        error: Option<ControllerError>,
        broker_epoch: u64,
        committed_offset: u64,
    },
    BrokerHeartbeat(BrokerHeartbeatRequest),
    BrokerHeartbeatResponse(BrokerHeartbeatResponse),
}

impl engine::Message for Msg {
    fn name(&self) -> &'static str {
        match self {
            Msg::Vote(_) => "Vote",
            Msg::VoteResponse(_) => "VoteResponse",
            Msg::BeginQuorumEpoch { .. } => "BeginQuorumEpoch",
            Msg::BeginQuorumEpochResponse { .. } => "BeginQuorumEpochResponse",
            Msg::EndQuorumEpoch { .. } => "EndQuorumEpoch",
            Msg::Fetch(_) => "Fetch",
            Msg::FetchResponse(_) => "FetchResponse",
            Msg::BrokerRegistration { .. } => "BrokerRegistration",
            Msg::BrokerRegistrationResponse { .. } => "BrokerRegistrationResponse",
            Msg::BrokerHeartbeat(_) => "BrokerHeartbeat",
            Msg::BrokerHeartbeatResponse(_) => "BrokerHeartbeatResponse",
        }
    }
}

/// Every timer of every role; each is one slot, re-armed in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Unattached, Prospective, Candidate or Resigned: time to (re)try an election. Also the
    /// Candidate's backoff.
    Election,
    /// Follower or observer: no successful fetch for `controller.quorum.fetch.timeout.ms`.
    FetchTimeout,
    /// Send the next fetch after a failed one.
    FetchRetry,
    /// The fetch in flight got no answer in `controller.quorum.request.timeout.ms`.
    FetchRequestTimeout,
    /// Leader: no fetches from a majority for 1.5 × the fetch timeout (KAFKA-15489).
    CheckQuorum,
    /// Leader: a parked fetch reached its max wait.
    FetchWait,
    /// Leader: resend BeginQuorumEpoch to voters that have not acknowledged it.
    BeginQuorumEpochRetry,
    /// Active controller: append a NoOpRecord.
    NoOp,
    /// Active controller: the next broker session may have expired.
    FenceStaleBroker,
    /// Broker: send a heartbeat (or a registration).
    Heartbeat,
    /// A graceful shutdown gives up waiting.
    ShutdownTimeout,
}

impl engine::Timer for Timer {
    fn slot(&self) -> usize {
        *self as usize
    }
}

/// Why a broker was fenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceReason {
    /// No heartbeat for `broker.session.timeout.ms`.
    SessionExpired,
    /// A new incarnation registered.
    Reregistered,
}

/// The broker lifecycle (`BrokerLifecycleManager`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerState {
    Starting,
    Recovery,
    Running,
    PendingControlledShutdown,
}

/// Protocol events, for the trace, the checkers and the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A Raft replica changed state (every transition of `QuorumState`).
    RaftState {
        state: RaftRole,
        epoch: u32,
        leader: Option<NodeId>,
        voted_for: Option<NodeId>,
    },
    /// A replica cut its metadata log back, below `from_offset`.
    Truncated {
        from_offset: u64,
        to_offset: u64,
        high_watermark: Option<u64>,
    },
    /// The Raft leader caught up to its epoch start and became the active controller.
    ControllerActivated {
        epoch: u32,
    },
    /// It lost leadership and dropped its uncommitted state.
    ControllerRenounced {
        epoch: u32,
    },
    BrokerRegistered {
        broker: BrokerId,
        broker_epoch: u64,
    },
    BrokerFenced {
        broker: BrokerId,
        broker_epoch: u64,
        reason: FenceReason,
    },
    BrokerUnfenced {
        broker: BrokerId,
        broker_epoch: u64,
    },
    BrokerControlledShutdown {
        broker: BrokerId,
    },
    TopicCreated {
        topic: u32,
    },
    /// A partition's leader or ISR changed (committed).
    PartitionChanged {
        tp: TopicPartition,
        leader: Option<BrokerId>,
        leader_epoch: u32,
        partition_epoch: u32,
        isr: Vec<BrokerId>,
        elr: Vec<BrokerId>,
        election: Option<Election>,
    },
    /// A broker's own lifecycle state changed.
    BrokerLifecycle {
        state: BrokerState,
    },
}
