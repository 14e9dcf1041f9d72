//! The wire and the clock faces of a Kafka process: every message, timer and protocol event.
//!
//! One enum of each for all roles keeps the engine's node type simple; each role only sends,
//! sets and emits its own. Message and field names follow Kafka's RPCs (`Vote`, `Fetch`,
//! `BrokerHeartbeat`, ...), so a trace reads like Kafka's request log.

use serde::{Deserialize, Serialize};

use crate::broker::log::RecordBatch;
use crate::config::Acks;
use crate::engine::{self, NodeId};
use crate::kraft::raft::RaftRole;
use crate::kraft::{BrokerId, Election, LogEntry, TopicPartition};

/// A handler's view of the world, for every Kafka role.
pub type Ctx<'a> = engine::Ctx<'a, Msg, Timer, Event>;

/// What a handler of any Kafka role asks the engine to do.
pub type Effect = engine::Effect<Msg, Timer, Event>;

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
    /// Echoed in the answer: the fetcher reads only the answer to the fetch it waits for
    /// (`NetworkClient` matches responses to requests by correlation id).
    pub correlation_id: u64,
    pub epoch: u32,
    pub fetch_offset: u64,
    pub last_fetched_epoch: u32,
    /// The HW the fetcher knows, so the leader answers at once when it has a newer one
    /// instead of parking the fetch.
    pub high_watermark: Option<u64>,
    pub voter: bool,
}

/// Kafka error codes a fetch can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The request's correlation id.
    pub correlation_id: u64,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Records a producer sends for one partition; the leader gives them offsets and its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProduceBatch {
    pub tp: TopicPartition,
    pub producer_id: u64,
    pub base_sequence: u32,
    pub count: u32,
    pub idempotent: bool,
}

/// `Produce`: one request per leader broker, with a batch for each of its partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceRequest {
    /// Echoed in the response, so the producer can match it.
    pub request_id: u64,
    pub acks: Acks,
    /// How long an acks=all write may wait for the ISR (`request.timeout.ms`).
    pub timeout_ms: u64,
    pub batches: Vec<ProduceBatch>,
}

/// Kafka error codes a produce can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProduceError {
    NotLeaderOrFollower,
    /// acks=all and the ISR is below `min.insync.replicas`: nothing was appended.
    NotEnoughReplicas,
    /// Appended, but the ISR shrank below `min.insync.replicas` before the HW passed it.
    NotEnoughReplicasAfterAppend,
    /// acks=all and the HW did not pass the write within the request timeout.
    RequestTimedOut,
    /// An idempotent batch whose sequence is not the next one expected.
    OutOfOrderSequenceNumber,
    UnknownTopicOrPartition,
    /// Client side: the connection broke or no answer came within `request.timeout.ms`.
    NetworkException,
    /// Client side: `delivery.timeout.ms` passed.
    DeliveryTimeout,
}

impl ProduceError {
    /// The write may have been appended all the same, so its fate is unknown. Kafka answers
    /// NOT_LEADER_OR_FOLLOWER both before an append (`ReplicaManager.appendRecords` on a
    /// replica that does not lead) and after one, to an acks=all produce waiting in purgatory
    /// when its leader loses the partition (`DelayedProduce` through
    /// `Partition.checkEnoughReplicasReachOffset`): the producer cannot tell which.
    pub(crate) fn maybe_appended(self) -> bool {
        matches!(
            self,
            ProduceError::NotEnoughReplicasAfterAppend
                | ProduceError::RequestTimedOut
                | ProduceError::NetworkException
                | ProduceError::NotLeaderOrFollower
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    pub tp: TopicPartition,
    /// The base offset the batch was written at.
    pub result: Result<u64, ProduceError>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceResponse {
    pub request_id: u64,
    pub partitions: Vec<ProducePartitionResponse>,
}

/// One partition of a data-plane `Fetch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionFetch {
    pub tp: TopicPartition,
    pub fetch_offset: u64,
    /// Epoch of the fetcher's last record: the leader checks the fetcher's log against its
    /// own by it (truncate-on-fetch, KIP-595 style, IBP >= 2.7). Consumers set it only to
    /// validate their position after a leader change (KIP-320).
    pub last_fetched_epoch: Option<u32>,
    /// KIP-320: the leader epoch the fetcher believes in.
    pub current_leader_epoch: u32,
}

/// A data-plane `Fetch`: a follower's, for every partition it follows on one leader broker
/// (one fetch session per broker pair), or a consumer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionFetchRequest {
    /// The request header's correlation id, echoed by the answer. A fetcher reads only the
    /// answer to the request it waits for: Kafka's `NetworkClient` closes a connection whose
    /// request timed out, so an answer to an earlier request is never read.
    pub correlation_id: u64,
    /// A follower's broker id and broker epoch (KIP-903 `ReplicaState`); `None` for a consumer.
    pub replica: Option<(BrokerId, u64)>,
    /// How long the leader may park the fetch when it has nothing to return
    /// (`replica.fetch.wait.max.ms`, a consumer's `fetch.max.wait.ms`).
    pub max_wait_ms: u64,
    pub partitions: Vec<PartitionFetch>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionFetchData {
    pub tp: TopicPartition,
    pub error: Option<FetchError>,
    pub high_watermark: u64,
    /// The fetcher's log diverges from the leader's: (epoch, end offset) to truncate by.
    pub diverging: Option<(u32, u64)>,
    pub batches: Vec<RecordBatch>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionFetchResponse {
    /// The correlation id of the request this answers.
    pub correlation_id: u64,
    pub partitions: Vec<PartitionFetchData>,
}

/// `AlterPartition` errors the controller answers with (`validateAlterPartitionData`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlterPartitionError {
    NotController,
    StaleBrokerEpoch,
    UnknownTopicOrPartition,
    FencedLeaderEpoch,
    InvalidRequest,
    InvalidUpdateVersion,
    IneligibleReplica,
}

/// Numbers the requests a process sends, so it reads only the answer to the request it waits
/// for (`NetworkClient` correlation ids). Each incarnation counts from its own number times
/// 2^32, so an answer meant for an earlier incarnation never passes for one to this: a new
/// process's connections are new, and nothing sent over the old ones reaches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestIds {
    next: u64,
}

impl RequestIds {
    pub fn for_incarnation(incarnation: u32) -> RequestIds {
        RequestIds {
            next: u64::from(incarnation) << 32,
        }
    }

    /// The id of the next request.
    pub fn take(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }
}

/// `AlterPartition`: the leader asks the controller to commit a new ISR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    pub broker: BrokerId,
    pub broker_epoch: u64,
    pub tp: TopicPartition,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    /// The proposed ISR, each member with the broker epoch its fetches carried (KIP-903).
    pub new_isr: Vec<(BrokerId, Option<u64>)>,
    /// Which of the leader's ISR proposals this carries; the answer names it too. Kafka
    /// completes the future of the `PendingPartitionChange` the request was submitted for,
    /// and `Partition.submitAlterPartition` ignores the answer once another state replaced it.
    pub proposal: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionResponse {
    pub tp: TopicPartition,
    /// The request's `proposal`.
    pub proposal: u64,
    pub error: Option<AlterPartitionError>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub isr: Vec<BrokerId>,
}

/// One partition of a `MetadataResponse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: u32,
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
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
    Produce(Box<ProduceRequest>),
    ProduceResponse(Box<ProduceResponse>),
    /// Data-plane `Fetch` (followers and consumers).
    PartitionFetch(Box<PartitionFetchRequest>),
    PartitionFetchResponse(Box<PartitionFetchResponse>),
    AlterPartition(Box<AlterPartitionRequest>),
    AlterPartitionResponse(Box<AlterPartitionResponse>),
    /// A client asks any broker for the leaders of a topic's partitions.
    Metadata {
        topic: u32,
    },
    MetadataResponse {
        topic: u32,
        partitions: Vec<PartitionMetadata>,
    },
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
            Msg::Produce(_) => "Produce",
            Msg::ProduceResponse(_) => "ProduceResponse",
            Msg::PartitionFetch(_) => "Fetch",
            Msg::PartitionFetchResponse(_) => "FetchResponse",
            Msg::AlterPartition(_) => "AlterPartition",
            Msg::AlterPartitionResponse(_) => "AlterPartitionResponse",
            Msg::Metadata { .. } => "Metadata",
            Msg::MetadataResponse { .. } => "MetadataResponse",
        }
    }

    /// One connection per purpose, as Kafka keeps them (`BrokerServer`'s `heartbeat` and
    /// `alter-partition` node-to-controller channel managers, the `RaftManager`'s network
    /// channel, `ReplicaFetcherManager`'s fetchers; clients are other nodes).
    fn channel(&self) -> usize {
        match self {
            Msg::Vote(_)
            | Msg::VoteResponse(_)
            | Msg::BeginQuorumEpoch { .. }
            | Msg::BeginQuorumEpochResponse { .. }
            | Msg::EndQuorumEpoch { .. }
            | Msg::Fetch(_)
            | Msg::FetchResponse(_) => CHANNEL_RAFT,
            Msg::BrokerRegistration { .. }
            | Msg::BrokerRegistrationResponse { .. }
            | Msg::BrokerHeartbeat(_)
            | Msg::BrokerHeartbeatResponse(_) => CHANNEL_HEARTBEAT,
            Msg::AlterPartition(_) | Msg::AlterPartitionResponse(_) => CHANNEL_ALTER_PARTITION,
            Msg::PartitionFetch(_) | Msg::PartitionFetchResponse(_) => CHANNEL_REPLICA_FETCH,
            Msg::Produce(_)
            | Msg::ProduceResponse(_)
            | Msg::Metadata { .. }
            | Msg::MetadataResponse { .. } => CHANNEL_CLIENT,
        }
    }
}

const CHANNEL_CLIENT: usize = 0;
const CHANNEL_RAFT: usize = 1;
const CHANNEL_HEARTBEAT: usize = 2;
const CHANNEL_ALTER_PARTITION: usize = 3;
const CHANNEL_REPLICA_FETCH: usize = 4;
// Every connection the protocol names exists in the network.
const _: () = assert!(CHANNEL_REPLICA_FETCH < crate::net::MAX_CHANNELS);

/// The connections a `slow_channel` fault can name, by the names scenario files use.
pub const CHANNELS: [(&str, usize); 5] = [
    ("client", CHANNEL_CLIENT),
    ("raft", CHANNEL_RAFT),
    ("heartbeat", CHANNEL_HEARTBEAT),
    ("alter_partition", CHANNEL_ALTER_PARTITION),
    ("replica_fetch", CHANNEL_REPLICA_FETCH),
];

/// Every timer of every role; each is one slot, re-armed in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Unattached, Prospective, Candidate or Resigned: the state's election timer
    /// (`EpochState.remainingElectionTimeMs`).
    Election,
    /// Candidate: the backoff before the next election (`CandidateState.startBackingOff`). A
    /// timer of its own, because the election timer keeps running (or stays expired) beside it,
    /// and a move to Unattached at a higher epoch keeps what is left of the election timer.
    ElectionBackoff,
    /// Broker: the process's first start (`BrokerServer.startup`) after its start-up delay.
    BrokerStartup,
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
    /// Active controller: leader balancing, the "electPreferred" periodic task
    /// (`auto.leader.rebalance.enable`, every `leader.imbalance.check.interval.seconds`).
    ElectPreferred,
    /// Active controller: unclean elections for leaderless partitions, the "electUnclean"
    /// periodic task (every `unclean.leader.election.interval.ms`).
    ElectUnclean,
    /// Broker: send a heartbeat (or a registration).
    Heartbeat,
    /// A graceful shutdown gives up waiting.
    ShutdownTimeout,
    /// Leader: look for followers out of sync (every `replica.lag.time.max.ms` / 2).
    IsrExpiration,
    /// Write the HW checkpoint file (`replica.high.watermark.checkpoint.interval.ms`).
    HighWatermarkCheckpoint,
    /// Leader: the earliest parked acks=all produce times out.
    ProduceTimeout,
    /// Leader: the earliest parked data-plane fetch reached its max wait.
    PartitionFetchWait,
    /// Resend AlterPartition requests that got no answer.
    AlterPartitionRetry,
    /// Producer: the next record is due.
    ProduceTick,
    /// Producer: the oldest waiting batch has lingered long enough.
    Linger,
    /// Client: the oldest request in flight has had `request.timeout.ms`.
    ClientRequestTimeout,
    /// Client: retry after `retry.backoff.ms`.
    ClientRetry,
    /// Consumer: fetch again.
    Poll,
    /// Follower: fetch from this leader broker now (after a backoff), or give up on the fetch
    /// in flight to it.
    ReplicaFetch(BrokerId),
}

/// Slots below this belong to the timers without a payload.
const FIXED_TIMER_SLOTS: usize = 32;

impl engine::Timer for Timer {
    fn slot(&self) -> usize {
        match self {
            Timer::Election => 0,
            Timer::FetchTimeout => 1,
            Timer::FetchRetry => 2,
            Timer::FetchRequestTimeout => 3,
            Timer::CheckQuorum => 4,
            Timer::FetchWait => 5,
            Timer::BeginQuorumEpochRetry => 6,
            Timer::NoOp => 7,
            Timer::FenceStaleBroker => 8,
            Timer::Heartbeat => 9,
            Timer::ShutdownTimeout => 10,
            Timer::IsrExpiration => 11,
            Timer::HighWatermarkCheckpoint => 12,
            Timer::ProduceTimeout => 13,
            Timer::PartitionFetchWait => 14,
            Timer::AlterPartitionRetry => 15,
            Timer::ProduceTick => 16,
            Timer::Linger => 17,
            Timer::ClientRequestTimeout => 18,
            Timer::ClientRetry => 19,
            Timer::Poll => 20,
            Timer::ElectionBackoff => 21,
            Timer::BrokerStartup => 22,
            Timer::ElectPreferred => 23,
            Timer::ElectUnclean => 24,
            Timer::ReplicaFetch(broker) => FIXED_TIMER_SLOTS + *broker as usize,
        }
    }
}

/// Why a replica cut its log back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruncationReason {
    /// Its log diverged from the leader's: the leader epochs say where (KIP-101, KIP-279).
    Diverged,
    /// Pre-KIP-101: to its own high watermark, trusted blindly, on becoming follower.
    HighWatermark,
}

/// Why a broker was fenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceReason {
    /// No heartbeat for `broker.session.timeout.ms`.
    SessionExpired,
    /// A new incarnation registered.
    Reregistered,
    /// The controller granted a shutdown (SHUTDOWN_NOW) and fenced the broker in the same step
    /// (`ReplicationControlManager.processBrokerHeartbeat`).
    ShutdownNow,
}

/// The broker lifecycle (`BrokerLifecycleManager`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerState {
    Starting,
    Recovery,
    Running,
    PendingControlledShutdown,
}

/// Protocol events, for the trace, the checkers and the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A `RegisterBrokerRecord` committed. Its metadata offset is the broker epoch
    /// (`ClusterControlManager.registerBroker`).
    BrokerRegistered {
        broker: BrokerId,
        broker_epoch: u64,
    },
    /// A record that fences the broker committed, at metadata offset `offset` (a
    /// `BrokerRegistrationChangeRecord`, or the `RegisterBrokerRecord` of a new incarnation).
    /// The offset tells a change from a new active controller's replay of it
    /// ([`crate::kraft::history::BrokerHistory`]).
    BrokerFenced {
        broker: BrokerId,
        broker_epoch: u64,
        reason: FenceReason,
        offset: u64,
    },
    /// A `BrokerRegistrationChangeRecord` that unfences the broker committed at `offset`.
    BrokerUnfenced {
        broker: BrokerId,
        broker_epoch: u64,
        offset: u64,
    },
    /// A `BrokerRegistrationChangeRecord` that puts the broker in controlled shutdown committed
    /// at `offset`.
    BrokerControlledShutdown {
        broker: BrokerId,
        offset: u64,
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
    /// This broker became leader of a partition (`makeLeader`), its LEO becoming the LESO.
    BecameLeader {
        tp: TopicPartition,
        leader_epoch: u32,
        partition_epoch: u32,
        leso: u64,
        high_watermark: u64,
        isr: Vec<BrokerId>,
    },
    /// This broker follows a new leader of a partition (`makeFollower`).
    BecameFollower {
        tp: TopicPartition,
        leader: Option<BrokerId>,
        leader_epoch: u32,
    },
    /// Told, not hashed ([`crate::engine::Effect::Tell`]): a replica appended records of
    /// `leader_epoch` to its partition log, which now ends at `log_end_offset`. A leader tells
    /// each produce append; a follower each run of one epoch in a fetch answer.
    Appended {
        tp: TopicPartition,
        leader_epoch: u32,
        log_end_offset: u64,
    },
    /// Told, not hashed: a starting broker opened its log of a partition, which ends at
    /// `log_end_offset` (what its disk kept) with its checkpointed `high_watermark`.
    LogOpened {
        tp: TopicPartition,
        log_end_offset: u64,
        high_watermark: u64,
    },
    /// A replica cut its partition log back.
    ReplicaTruncated {
        tp: TopicPartition,
        from_offset: u64,
        to_offset: u64,
        high_watermark: u64,
        reason: TruncationReason,
    },
    /// A leader's HW advanced.
    HighWatermark {
        tp: TopicPartition,
        leader_epoch: u32,
        high_watermark: u64,
        log_end_offset: u64,
    },
    /// A leader asked the controller for a new ISR.
    AlterPartitionSent {
        tp: TopicPartition,
        leader_epoch: u32,
        partition_epoch: u32,
        isr: Vec<BrokerId>,
        proposed_isr: Vec<BrokerId>,
    },
    /// The controller answered; on success `isr` is the committed ISR.
    AlterPartitionAnswered {
        tp: TopicPartition,
        error: Option<AlterPartitionError>,
        isr: Vec<BrokerId>,
    },
    /// Jepsen-style history: a producer's batch was invoked, or completed.
    Send {
        op: SendOp,
        tp: TopicPartition,
        acks: Acks,
        producer_id: u64,
        base_sequence: u32,
        count: u32,
        /// The base offset, for `ok` with acks 1 or all.
        offset: Option<u64>,
        error: Option<ProduceError>,
    },
    /// Jepsen-style history: a consumer read a batch (below the HW).
    Poll {
        tp: TopicPartition,
        batch: RecordBatch,
    },
    /// KIP-320: a consumer found its position past the leader's log for its last epoch, so
    /// records it read were truncated away; it seeks back to `end_offset`.
    TruncationDetected {
        tp: TopicPartition,
        position: u64,
        end_offset: u64,
    },
}

/// A producer operation's step, as Jepsen's histories name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOp {
    Invoke,
    /// Acknowledged.
    Ok,
    /// Definitely not written.
    Fail,
    /// Indeterminate: it may or may not have been written.
    Info,
}
