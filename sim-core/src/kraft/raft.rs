//! One replica of `__cluster_metadata`: KIP-595 Raft as `KafkaRaftClient` runs it, with KIP-996
//! pre-vote and check-quorum (KAFKA-15489).
//!
//! Map:
//! - [`ElectionState`] is the `quorum-state` file: epoch, vote and leader, written and fsynced
//!   on every transition, so a restart never forgets a vote;
//! - [`Raft`] holds the log and the state (`Unattached`, `Prospective`, `Candidate`, `Leader`,
//!   `Follower`, `Resigned`); voters run elections, observers (brokers) only fetch;
//! - handlers `on_vote`, `on_fetch`, ... take a [`Ctx`] and push effects; the owning process
//!   (controller or broker) reads [`Raft::high_watermark`] and [`Raft::role`] afterwards.
//!
//! Replication is pull-based: followers send `Fetch(offset, last fetched epoch)`; the leader
//! answers with records, or with a diverging (epoch, end offset) to truncate to, or parks the
//! fetch up to 500 ms until there is something new. The leader's HW is the largest offset a
//! majority of voters has reached, and only counts once past its own epoch start.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{LogEntry, MetadataRecord};
use crate::engine::{NodeId, SimDuration, SimTime};
use crate::proto::{
    Ctx, Event, FetchError, FetchRequest, FetchResponse, Msg, RequestIds, Timer, VoteRequest,
    VoteResponse,
};
use crate::storage::{Durable, DurableCell, DurableLog};

/// Most records in one fetch response (Kafka bounds it by bytes).
pub const MAX_FETCH_RECORDS: usize = 64;
/// Base of the binary-exponential election backoff (`KafkaRaftClient.RETRY_BACKOFF_BASE_MS`).
pub const ELECTION_BACKOFF_BASE: SimDuration = SimDuration::from_millis(100);
/// A leader shutting down waits this long for a successor before it exits anyway.
pub const GRACEFUL_SHUTDOWN_TIMEOUT: SimDuration = SimDuration::from_secs(5);

/// Static Raft configuration (`QuorumConfig`) and the protocol variants that change it.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    /// `controller.quorum.voters`: the controllers, in node-id order.
    pub voters: Vec<NodeId>,
    pub election_timeout: SimDuration,
    pub fetch_timeout: SimDuration,
    pub election_backoff_max: SimDuration,
    pub request_timeout: SimDuration,
    pub retry_backoff: SimDuration,
    /// `KafkaRaftClient.MAX_FETCH_WAIT_MS`.
    pub fetch_max_wait: SimDuration,
    /// KIP-996 pre-vote (variant `prevote=false` turns it off).
    pub prevote: bool,
    /// KAFKA-15489 check-quorum (variant `no_check_quorum` turns it off).
    pub check_quorum: bool,
    /// Randomised election timeouts and backoff (variant `election_jitter=false` fixes them).
    pub election_jitter: bool,
    /// Test-only unsafe variant: a voter does not record the votes it grants.
    pub forget_vote: bool,
    /// Test-only unsafe variant: the leader counts its own log end as committed.
    pub commit_without_majority: bool,
}

impl RaftConfig {
    /// Kafka's `QuorumConfig` defaults (election timeout 1 s, fetch timeout 2 s, backoff max
    /// 1 s, request timeout 2 s, retry backoff 20 ms), randomised, with check-quorum on.
    pub fn kafka_defaults(voters: Vec<NodeId>, prevote: bool) -> RaftConfig {
        let ms = SimDuration::from_millis;
        RaftConfig {
            voters,
            election_timeout: ms(1000),
            fetch_timeout: ms(2000),
            election_backoff_max: ms(1000),
            request_timeout: ms(2000),
            retry_backoff: ms(20),
            fetch_max_wait: ms(500),
            prevote,
            check_quorum: true,
            election_jitter: true,
            forget_vote: false,
            commit_without_majority: false,
        }
    }

    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }
    pub(crate) fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }
}

/// The `quorum-state` file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ElectionState {
    pub epoch: u32,
    pub voted_for: Option<NodeId>,
    pub leader: Option<NodeId>,
}

/// What a Raft replica keeps on disk.
#[derive(Clone, Debug, Default)]
pub struct RaftDisk {
    pub quorum_state: DurableCell<ElectionState>,
    pub log: DurableLog<LogEntry>,
}

impl Durable for RaftDisk {
    fn lose_unflushed(&mut self) {
        self.quorum_state.lose_unflushed();
        self.log.lose_unflushed();
    }
    fn wipe(&mut self) {
        self.quorum_state.wipe();
        self.log.wipe();
    }
}

/// The states of `QuorumState`, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaftRole {
    Unattached,
    Prospective,
    Candidate,
    Leader,
    Follower,
    Resigned,
}

#[derive(Clone, Debug)]
enum State {
    Unattached {
        voted_for: Option<NodeId>,
        leader: Option<NodeId>,
    },
    /// KIP-996: asking for pre-votes in the current epoch before bumping it.
    Prospective {
        voted_for: Option<NodeId>,
        leader: Option<NodeId>,
        granted: Vec<NodeId>,
        rejected: Vec<NodeId>,
        retries: u32,
    },
    Candidate {
        granted: Vec<NodeId>,
        rejected: Vec<NodeId>,
        retries: u32,
        /// Waiting out `ElectionBackoff` before the next election.
        backing_off: bool,
        /// The election timer has fired: nothing of it is left to keep.
        election_timer_expired: bool,
    },
    Leader(Box<LeaderState>),
    Follower {
        leader: NodeId,
        /// KIP-996: a follower that has fetched from its leader refuses pre-votes.
        fetched: bool,
    },
    Resigned {
        /// The process is shutting down and exits once a successor is known.
        shutting_down: bool,
    },
}

#[derive(Clone, Debug)]
struct LeaderState {
    epoch_start_offset: u64,
    /// Log end offset each other voter last fetched from, by position in `voters`.
    voter_end_offsets: Vec<u64>,
    /// Voters that acknowledged BeginQuorumEpoch (or fetched in this epoch).
    acknowledged: Vec<bool>,
    /// Voters that fetched since the check-quorum timer was last reset.
    fetched_since_check: Vec<bool>,
    /// When the check-quorum timer was last (re)started.
    check_quorum_restarted: SimTime,
    parked: Vec<ParkedFetch>,
}

#[derive(Clone, Debug)]
struct ParkedFetch {
    from: NodeId,
    correlation_id: u64,
    fetch_offset: u64,
    known_high_watermark: Option<u64>,
    deadline: SimTime,
}

/// A Raft replica: a voter (controller) or an observer (broker).
#[derive(Clone, Debug)]
pub struct Raft {
    config: Arc<RaftConfig>,
    me: NodeId,
    voter: bool,
    disk: RaftDisk,
    epoch: u32,
    state: State,
    /// Volatile: unknown after a restart until the leader says.
    high_watermark: Option<u64>,
    /// The fetch in flight, if any.
    fetch_in_flight: Option<InFlightFetch>,
    /// Correlation ids of this process's fetches.
    fetch_ids: RequestIds,
    /// Observers without a leader try the voters in turn (Kafka picks one at random).
    bootstrap_next: usize,
}

/// A fetch out to `to`, waiting for the answer with its correlation id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFlightFetch {
    to: NodeId,
    correlation_id: u64,
}

impl Raft {
    /// `QuorumState.initialize`: come back from what `quorum-state` and the log say.
    /// `incarnation` numbers the process (its restarts), for correlation ids.
    pub fn boot(config: Arc<RaftConfig>, me: NodeId, disk: RaftDisk, incarnation: u32) -> Raft {
        let voter = config.is_voter(me);
        let persisted = disk.quorum_state.get().cloned().unwrap_or_default();
        let log_epoch = disk.log.last().map_or(0, |e| e.epoch);
        let mut raft = Raft {
            config,
            me,
            voter,
            disk,
            epoch: persisted.epoch,
            state: State::Unattached {
                voted_for: None,
                leader: None,
            },
            high_watermark: None,
            fetch_in_flight: None,
            fetch_ids: RequestIds::for_incarnation(incarnation),
            bootstrap_next: me.index(),
        };
        if log_epoch > persisted.epoch {
            // The log is ahead of the state file (lost or never written): trust the log.
            raft.epoch = log_epoch;
            return raft;
        }
        raft.state = if !voter {
            match persisted.leader {
                Some(l) if l != me => State::Follower {
                    leader: l,
                    fetched: false,
                },
                _ => State::Unattached {
                    voted_for: None,
                    leader: None,
                },
            }
        } else if persisted.leader == Some(me) {
            // A leader comes back Resigned: it must not vote again in its own epoch.
            State::Resigned {
                shutting_down: false,
            }
        } else if persisted.voted_for == Some(me) {
            State::Candidate {
                granted: vec![me],
                rejected: Vec::new(),
                retries: 1,
                backing_off: false,
                election_timer_expired: false,
            }
        } else if let Some(leader) = persisted.leader {
            State::Follower {
                leader,
                fetched: false,
            }
        } else {
            State::Unattached {
                voted_for: persisted.voted_for,
                leader: None,
            }
        };
        raft
    }

    pub fn into_disk(self) -> RaftDisk {
        self.disk
    }

    // ---- what the owner and the checkers read ----

    pub fn epoch(&self) -> u32 {
        self.epoch
    }
    /// What must always hold of a replica's own state (`QuorumState` and the `EpochState`
    /// classes): the HW within the log, epochs that never go back, a vote set that is a set, a
    /// leader that is a voter of its own epoch, and no follower of itself.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let me = self.me;
        let leo = self.log_end_offset();
        if let Some(hw) = self.high_watermark {
            ensure!(hw <= leo, "{me}: Raft HW {hw} is past its log end {leo}");
        }
        // Appends and truncations happen at the end. Checking the last two entries keeps the cost
        // constant; a disorder deeper inside one appended batch goes unseen.
        let entries = self.disk.log.entries();
        let tail = &entries[entries.len().saturating_sub(2)..];
        ensure!(
            tail.windows(2).all(|w| w[0].epoch <= w[1].epoch),
            "{me}: the metadata log's epochs go back at its end"
        );
        ensure!(
            self.last_epoch() <= self.epoch,
            "{me}: the log holds epoch {} beyond the current epoch {}",
            self.last_epoch(),
            self.epoch
        );
        let persisted = self.disk.quorum_state.get().map_or(0, |q| q.epoch);
        ensure!(
            persisted <= self.epoch,
            "{me}: quorum-state has epoch {persisted}, past the current epoch {}",
            self.epoch
        );
        match &self.state {
            State::Prospective {
                granted, rejected, ..
            }
            | State::Candidate {
                granted, rejected, ..
            } => {
                ensure!(self.voter, "{me}: an observer is standing for election");
                ensure!(
                    granted.contains(&me),
                    "{me}: a candidate without its own vote"
                );
                ensure!(
                    !granted.iter().any(|v| rejected.contains(v)),
                    "{me}: a voter both granted and rejected"
                );
            }
            State::Leader(l) => {
                ensure!(self.voter, "{me}: an observer leads");
                ensure!(
                    l.epoch_start_offset <= leo,
                    "{me}: the leader's epoch starts at {} past its log end {leo}",
                    l.epoch_start_offset
                );
                ensure!(
                    l.voter_end_offsets.len() == self.config.voters.len()
                        && l.acknowledged.len() == self.config.voters.len(),
                    "{me}: the leader tracks a different number of voters"
                );
            }
            State::Follower { leader, .. } => {
                ensure!(*leader != me, "{me}: follows itself");
            }
            State::Unattached { .. } | State::Resigned { .. } => {}
        }
        Ok(())
    }

    pub fn role(&self) -> RaftRole {
        match self.state {
            State::Unattached { .. } => RaftRole::Unattached,
            State::Prospective { .. } => RaftRole::Prospective,
            State::Candidate { .. } => RaftRole::Candidate,
            State::Leader(_) => RaftRole::Leader,
            State::Follower { .. } => RaftRole::Follower,
            State::Resigned { .. } => RaftRole::Resigned,
        }
    }
    /// Leader only: when the check-quorum timer was last restarted (taking leadership, or a
    /// majority's fetches since the restart before).
    pub(crate) fn check_quorum_restarted(&self) -> Option<SimTime> {
        match &self.state {
            State::Leader(l) => Some(l.check_quorum_restarted),
            _ => None,
        }
    }

    /// A follower that has fetched from its leader in this epoch: that leader. Such a follower
    /// refuses every pre-vote until it leaves the follower state (KIP-996,
    /// `FollowerState.canGrantVote`: only a follower that has not fetched grants one).
    pub(crate) fn fetched_from(&self) -> Option<NodeId> {
        match &self.state {
            State::Follower {
                leader,
                fetched: true,
            } => Some(*leader),
            _ => None,
        }
    }

    /// Leader only: the voters whose `Fetch` arrived since the check-quorum timer was last
    /// restarted (`LeaderState.fetchedVoters`); once they and the leader make a majority, the
    /// timer restarts and the set empties.
    pub(crate) fn fetched_since_check_quorum(&self) -> Option<Vec<NodeId>> {
        match &self.state {
            State::Leader(l) => Some(
                self.config
                    .voters
                    .iter()
                    .zip(&l.fetched_since_check)
                    .filter(|(_, fetched)| **fetched)
                    .map(|(v, _)| *v)
                    .collect(),
            ),
            _ => None,
        }
    }

    pub(crate) fn is_leader(&self) -> bool {
        matches!(self.state, State::Leader(_))
    }
    /// The leader this replica knows in its epoch, as it tells others. A resigned leader
    /// names nobody: it is not leading any more, and must not draw followers back.
    pub fn leader(&self) -> Option<NodeId> {
        match &self.state {
            State::Leader(_) => Some(self.me),
            State::Resigned { .. } => None,
            State::Follower { leader, .. } => Some(*leader),
            State::Unattached { leader, .. } | State::Prospective { leader, .. } => *leader,
            State::Candidate { .. } => None,
        }
    }
    pub fn high_watermark(&self) -> Option<u64> {
        self.high_watermark
    }
    /// Where the current leader's own epoch starts (its LeaderChange record).
    pub(crate) fn epoch_start_offset(&self) -> Option<u64> {
        match &self.state {
            State::Leader(l) => Some(l.epoch_start_offset),
            _ => None,
        }
    }
    pub fn log(&self) -> &DurableLog<LogEntry> {
        &self.disk.log
    }
    pub fn log_end_offset(&self) -> u64 {
        self.disk.log.len() as u64
    }
    pub fn disk(&self) -> &RaftDisk {
        &self.disk
    }
    fn last_epoch(&self) -> u32 {
        self.disk.log.last().map_or(0, |e| e.epoch)
    }
    fn others(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.me;
        self.config.voters.iter().copied().filter(move |&v| v != me)
    }
    fn voter_index(&self, id: NodeId) -> Option<usize> {
        self.config.voters.iter().position(|&v| v == id)
    }

    /// `endOffsetForEpoch`: the largest epoch ≤ `epoch` in the log and where it ends.
    pub(crate) fn end_offset_for_epoch(&self, epoch: u32) -> (u32, u64) {
        let entries = self.disk.log.entries();
        match entries.iter().rposition(|e| e.epoch <= epoch) {
            Some(i) => (entries[i].epoch, i as u64 + 1),
            None => (0, 0),
        }
    }

    // ---- start ----

    /// Arms the timers and sends what the booted state calls for.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.emit_state(ctx);
        match self.state.clone() {
            State::Follower { .. } => {
                ctx.set_timer(Timer::FetchTimeout, self.config.fetch_timeout);
                self.send_fetch(ctx);
            }
            State::Unattached { .. } if !self.voter => {
                ctx.set_timer(Timer::FetchTimeout, self.config.fetch_timeout);
                self.send_fetch(ctx);
            }
            State::Candidate { .. } => {
                self.send_votes(ctx, false);
                self.arm_election_timeout(ctx);
            }
            _ => self.arm_election_timeout(ctx),
        }
        if self.voter && self.config.voters.len() == 1 && !self.is_leader() {
            self.become_candidate(ctx, 0);
        }
    }

    // ---- transitions (each one persisted, then reported) ----

    fn persist(&mut self) {
        let (voted_for, leader) = match &self.state {
            State::Unattached { voted_for, leader }
            | State::Prospective {
                voted_for, leader, ..
            } => (*voted_for, *leader),
            State::Candidate { .. } => (Some(self.me), None),
            State::Leader(_) | State::Resigned { .. } => (Some(self.me), Some(self.me)),
            State::Follower { leader, .. } => {
                let voted = self
                    .disk
                    .quorum_state
                    .get()
                    .filter(|s| s.epoch == self.epoch)
                    .and_then(|s| s.voted_for);
                (voted, Some(*leader))
            }
        };
        let state = ElectionState {
            epoch: self.epoch,
            voted_for,
            leader,
        };
        if self.disk.quorum_state.get() != Some(&state) {
            self.disk.quorum_state.write_sync(state);
        }
    }

    fn emit_state(&self, ctx: &mut Ctx<'_>) {
        let voted_for = match &self.state {
            State::Unattached { voted_for, .. } | State::Prospective { voted_for, .. } => {
                *voted_for
            }
            State::Candidate { .. } => Some(self.me),
            _ => None,
        };
        ctx.emit(Event::RaftState {
            state: self.role(),
            epoch: self.epoch,
            leader: self.leader(),
            voted_for,
        });
    }

    fn transition(&mut self, ctx: &mut Ctx<'_>, epoch: u32, state: State) {
        debug_assert!(epoch >= self.epoch, "epochs never go back");
        let was_leader = self.is_leader();
        self.epoch = epoch;
        self.state = state;
        self.persist();
        self.emit_state(ctx);
        if was_leader && !self.is_leader() {
            ctx.cancel_timer(Timer::CheckQuorum);
            ctx.cancel_timer(Timer::FetchWait);
            ctx.cancel_timer(Timer::BeginQuorumEpochRetry);
        }
    }

    fn arm_election_timeout(&self, ctx: &mut Ctx<'_>) {
        if !self.voter {
            return;
        }
        let t = self.config.election_timeout;
        if self.config.election_jitter {
            // QuorumState.randomElectionTimeoutMs: T + rand[0, T).
            ctx.set_timer_random(Timer::Election, t, t + t);
        } else {
            ctx.set_timer(Timer::Election, t);
        }
    }

    /// A higher epoch with no known leader (`QuorumState.transitionToUnattached`). The election
    /// timer is not simply re-armed: a voter that was already waiting to elect (Unattached, a
    /// Candidate, a Prospective whose pre-vote was not rejected, or a Resigned leader) keeps
    /// what was left of its timer, and only a Follower or a Leader draws a fresh one
    /// (`QuorumStateTest.testUnattachedToUnattached`, `testCandidateToUnattached`). Re-arming it
    /// on every bump would let one rejected candidate, retrying every second, hold every other
    /// voter back for ever.
    fn become_unattached(&mut self, ctx: &mut Ctx<'_>, epoch: u32) {
        debug_assert!(
            epoch > self.epoch,
            "Unattached in the same epoch only from Prospective"
        );
        let keep_election_timer = match &self.state {
            State::Unattached { .. } | State::Prospective { .. } | State::Candidate { .. } => true,
            // Before KIP-996 (Kafka 3.x) a Resigned leader drew a fresh timeout here.
            State::Resigned { .. } => self.config.prevote,
            State::Follower { .. } | State::Leader(_) => false,
        };
        let was_candidate = matches!(self.state, State::Candidate { .. });
        let election_timer_expired = matches!(
            self.state,
            State::Candidate {
                election_timer_expired: true,
                ..
            }
        );
        self.transition(
            ctx,
            epoch,
            State::Unattached {
                voted_for: None,
                leader: None,
            },
        );
        ctx.cancel_timer(Timer::FetchTimeout);
        if was_candidate {
            ctx.cancel_timer(Timer::ElectionBackoff);
        }
        if self.voter {
            if !keep_election_timer {
                self.arm_election_timeout(ctx);
            } else if election_timer_expired {
                // Nothing remains: the election timer is due now.
                ctx.set_timer(Timer::Election, SimDuration::ZERO);
            }
        } else {
            ctx.set_timer(Timer::FetchTimeout, self.config.fetch_timeout);
            if self.fetch_in_flight.is_none() {
                self.send_fetch(ctx);
            }
        }
    }

    fn become_follower(&mut self, ctx: &mut Ctx<'_>, epoch: u32, leader: NodeId) {
        self.transition(
            ctx,
            epoch,
            State::Follower {
                leader,
                fetched: false,
            },
        );
        ctx.cancel_timer(Timer::Election);
        ctx.cancel_timer(Timer::ElectionBackoff);
        ctx.set_timer(Timer::FetchTimeout, self.config.fetch_timeout);
        // Whatever was in flight went to someone else or an older epoch.
        self.fetch_in_flight = None;
        ctx.cancel_timer(Timer::FetchRequestTimeout);
        self.send_fetch(ctx);
    }

    /// A voter whose election or fetch timeout expired.
    fn start_election(&mut self, ctx: &mut Ctx<'_>, retries: u32) {
        if self.config.prevote && self.config.voters.len() > 1 {
            self.become_prospective(ctx, retries);
        } else {
            self.become_candidate(ctx, retries);
        }
    }

    fn become_prospective(&mut self, ctx: &mut Ctx<'_>, retries: u32) {
        let (voted_for, leader) = match &self.state {
            State::Unattached { voted_for, leader } => (*voted_for, *leader),
            State::Follower { leader, .. } => (None, Some(*leader)),
            State::Candidate { .. } => (Some(self.me), None),
            _ => (None, None),
        };
        self.transition(
            ctx,
            self.epoch,
            State::Prospective {
                voted_for,
                leader,
                granted: vec![self.me],
                rejected: Vec::new(),
                retries,
            },
        );
        ctx.cancel_timer(Timer::FetchTimeout);
        self.send_votes(ctx, true);
        self.arm_election_timeout(ctx);
    }

    fn become_candidate(&mut self, ctx: &mut Ctx<'_>, retries: u32) {
        self.transition(
            ctx,
            self.epoch + 1,
            State::Candidate {
                granted: vec![self.me],
                rejected: Vec::new(),
                retries,
                backing_off: false,
                election_timer_expired: false,
            },
        );
        ctx.cancel_timer(Timer::FetchTimeout);
        if self.config.voters.len() == 1 {
            self.become_leader(ctx);
            return;
        }
        self.send_votes(ctx, false);
        self.arm_election_timeout(ctx);
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_>) {
        let n = self.config.voters.len();
        let epoch_start_offset = self.log_end_offset();
        self.transition(
            ctx,
            self.epoch,
            State::Leader(Box::new(LeaderState {
                epoch_start_offset,
                voter_end_offsets: vec![0; n],
                acknowledged: vec![false; n],
                fetched_since_check: vec![false; n],
                check_quorum_restarted: ctx.now(),
                parked: Vec::new(),
            })),
        );
        ctx.cancel_timer(Timer::Election);
        ctx.cancel_timer(Timer::ElectionBackoff);
        ctx.cancel_timer(Timer::FetchTimeout);
        self.fetch_in_flight = None;
        // A new leader does not know the HW until a majority has fetched past its epoch start
        // (`LeaderState` starts with an empty HW); what it knew as a follower may be stale.
        self.high_watermark = None;
        // onBecomeLeader: the epoch's first record is a LeaderChange control record.
        self.append(ctx, vec![MetadataRecord::LeaderChange { leader: self.me }]);
        for v in self.others().collect::<Vec<_>>() {
            ctx.send(v, Msg::BeginQuorumEpoch { epoch: self.epoch });
        }
        ctx.set_timer(Timer::BeginQuorumEpochRetry, self.config.request_timeout);
        self.arm_check_quorum(ctx);
    }

    fn arm_check_quorum(&self, ctx: &mut Ctx<'_>) {
        if self.config.check_quorum && self.config.voters.len() > 1 {
            // LeaderState.CHECK_QUORUM_TIMEOUT_FACTOR = 1.5.
            let t = self.config.fetch_timeout.as_micros() * 3 / 2;
            ctx.set_timer(Timer::CheckQuorum, SimDuration::from_micros(t));
        }
    }

    /// Steps down as leader: preferred successors are the voters by how far they fetched.
    fn resign(&mut self, ctx: &mut Ctx<'_>, shutting_down: bool) {
        let mut successors: Vec<(u64, NodeId)> = Vec::new();
        if let State::Leader(l) = &self.state {
            for (i, &v) in self.config.voters.iter().enumerate() {
                if v != self.me {
                    successors.push((l.voter_end_offsets[i], v));
                }
            }
        }
        successors.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let preferred_successors: Vec<NodeId> = successors.into_iter().map(|(_, v)| v).collect();
        self.transition(ctx, self.epoch, State::Resigned { shutting_down });
        for &v in &preferred_successors {
            ctx.send(
                v,
                Msg::EndQuorumEpoch {
                    epoch: self.epoch,
                    preferred_successors: preferred_successors.clone(),
                },
            );
        }
        self.arm_election_timeout(ctx);
    }

    /// Graceful shutdown (`KafkaRaftClient.shutdown`): a leader resigns and waits for a
    /// successor; anyone else exits at once. Returns true if the process may exit now.
    pub fn shutdown(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.is_leader() && self.config.voters.len() > 1 {
            self.resign(ctx, true);
            ctx.set_timer(Timer::ShutdownTimeout, GRACEFUL_SHUTDOWN_TIMEOUT);
            false
        } else {
            true
        }
    }

    /// True once a resigned, shutting-down leader sees a successor (or gave up waiting).
    pub(crate) fn shutdown_complete(&self) -> bool {
        match self.state {
            State::Resigned { shutting_down } => !shutting_down,
            _ => true,
        }
    }

    // ---- elections ----

    fn send_votes(&self, ctx: &mut Ctx<'_>, pre_vote: bool) {
        let request = VoteRequest {
            epoch: self.epoch,
            last_epoch: self.last_epoch(),
            last_offset: self.log_end_offset(),
            pre_vote,
        };
        for v in self.others() {
            ctx.send(v, Msg::Vote(request.clone()));
        }
    }

    /// `KafkaRaftClient.handleVoteRequest` with `canGrantVote` of each state (§2.3).
    pub fn on_vote(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: VoteRequest) {
        let reject = |raft: &Raft, ctx: &mut Ctx<'_>| {
            ctx.send(
                from,
                Msg::VoteResponse(VoteResponse {
                    epoch: raft.epoch,
                    leader: raft.leader(),
                    granted: false,
                    pre_vote: req.pre_vote,
                }),
            );
        };
        let invalid = if req.pre_vote {
            req.last_epoch > req.epoch
        } else {
            req.last_epoch >= req.epoch
        };
        if !self.voter || invalid || req.epoch < self.epoch {
            reject(self, ctx);
            return;
        }
        if req.epoch > self.epoch {
            // A higher epoch always wins, even over a leader: the "disruptive server" that
            // pre-vote exists to tame. A pre-vote carries its sender's current epoch, so it bumps
            // the receiver only to an epoch the sender already legitimately knows
            // (KafkaRaftClientPreVoteTest.testHandlePreVoteRequestAsFollower, ...AsCandidate).
            self.become_unattached(ctx, req.epoch);
        }
        let up_to_date =
            (req.last_epoch, req.last_offset) >= (self.last_epoch(), self.log_end_offset());
        let granted = match &self.state {
            State::Unattached { voted_for, leader }
            | State::Prospective {
                voted_for, leader, ..
            } => {
                if req.pre_vote {
                    up_to_date
                } else if let Some(v) = voted_for {
                    *v == from
                } else {
                    leader.is_none() && up_to_date
                }
            }
            State::Follower { fetched, .. } => req.pre_vote && !fetched && up_to_date,
            // KAFKA-17642: a Candidate or a Resigned leader has voted for itself in this epoch,
            // but a pre-vote bumps nothing, so it is granted on the log alone
            // (`CandidateState.canGrantVote`, `ResignedState.canGrantVote`).
            State::Candidate { .. } | State::Resigned { .. } => req.pre_vote && up_to_date,
            State::Leader(_) => false,
        };
        let newly_voted = granted
            && !req.pre_vote
            && matches!(
                self.state,
                State::Unattached {
                    voted_for: None,
                    ..
                } | State::Prospective {
                    voted_for: None,
                    ..
                }
            );
        if newly_voted && !self.config.forget_vote {
            // The vote is fsynced before the response goes out.
            self.transition(
                ctx,
                self.epoch,
                State::Unattached {
                    voted_for: Some(from),
                    leader: None,
                },
            );
            self.arm_election_timeout(ctx);
        }
        ctx.send(
            from,
            Msg::VoteResponse(VoteResponse {
                epoch: self.epoch,
                leader: self.leader(),
                granted,
                pre_vote: req.pre_vote,
            }),
        );
    }

    /// Takes a newer epoch or a leader from any response. True if the state changed.
    fn learn_from_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        epoch: u32,
        leader: Option<NodeId>,
    ) -> bool {
        if epoch > self.epoch {
            match leader {
                Some(l) if l != self.me => self.become_follower(ctx, epoch, l),
                _ => self.become_unattached(ctx, epoch),
            }
            return true;
        }
        if epoch == self.epoch
            && let Some(l) = leader
            && l != self.me
        {
            // Only a replica that knows no leader in this epoch takes one from a response
            // (`maybeTransition`): a Prospective still remembers the leader it lost.
            let may_follow = matches!(
                self.state,
                State::Unattached { .. } | State::Prospective { .. } | State::Candidate { .. }
            );
            if may_follow && self.leader().is_none() {
                self.become_follower(ctx, epoch, l);
                return true;
            }
        }
        false
    }

    pub fn on_vote_response(&mut self, ctx: &mut Ctx<'_>, from: NodeId, resp: VoteResponse) {
        if self.learn_from_response(ctx, resp.epoch, resp.leader) {
            return;
        }
        if resp.epoch != self.epoch {
            return;
        }
        let majority = self.config.majority();
        let voters = self.config.voters.len();
        match &mut self.state {
            State::Prospective {
                granted,
                rejected,
                retries,
                leader,
                ..
            } if resp.pre_vote => {
                record(granted, rejected, from, resp.granted);
                if granted.len() >= majority {
                    let retries = *retries;
                    self.become_candidate(ctx, retries);
                } else if rejected.len() > voters - majority {
                    self.prospective_transition_after_election_loss(ctx, true);
                }
            }
            State::Candidate {
                granted,
                rejected,
                retries,
                backing_off,
                ..
            } if !resp.pre_vote && !*backing_off => {
                record(granted, rejected, from, resp.granted);
                if granted.len() >= majority {
                    self.become_leader(ctx);
                } else if rejected.len() > voters - majority {
                    // A majority said no: back off at once, while the election timer runs on.
                    *retries += 1;
                    *backing_off = true;
                    let retries = *retries;
                    self.arm_backoff(ctx, retries);
                }
            }
            _ => {}
        }
    }

    /// A lost pre-vote: back to following the leader it knew, or to waiting, in the same epoch
    /// and keeping its vote (`prospectiveTransitionAfterElectionLoss`). Unattached keeps what is
    /// left of the Prospective's election timer unless a majority rejected the pre-vote
    /// (`QuorumState.transitionToUnattached`): after a timeout nothing is left, so the node is
    /// Prospective again at once, and an isolated voter cycles Unattached -> Prospective every
    /// election timeout.
    fn prospective_transition_after_election_loss(
        &mut self,
        ctx: &mut Ctx<'_>,
        vote_rejected: bool,
    ) {
        let State::Prospective {
            leader, voted_for, ..
        } = self.state.clone()
        else {
            return;
        };
        match leader {
            Some(l) => self.become_follower(ctx, self.epoch, l),
            None => {
                self.transition(
                    ctx,
                    self.epoch,
                    State::Unattached {
                        voted_for,
                        leader: None,
                    },
                );
                if vote_rejected {
                    self.arm_election_timeout(ctx);
                } else {
                    ctx.set_timer(Timer::Election, SimDuration::ZERO);
                }
            }
        }
    }

    /// `binaryExponentialElectionBackoffMs`: min(100 ms × rand[0, 2^retries), backoff max).
    fn arm_backoff(&self, ctx: &mut Ctx<'_>, retries: u32) {
        let count = 1u64 << retries.clamp(1, 20);
        let max = self.config.election_backoff_max;
        if self.config.election_jitter {
            ctx.set_timer_steps(Timer::ElectionBackoff, ELECTION_BACKOFF_BASE, count, max);
        } else {
            let fixed = SimDuration::from_micros(ELECTION_BACKOFF_BASE.as_micros() * (count - 1));
            ctx.set_timer(Timer::ElectionBackoff, fixed.min(max));
        }
    }

    pub fn on_election_timeout(&mut self, ctx: &mut Ctx<'_>) {
        match self.state.clone() {
            State::Unattached { .. } | State::Resigned { .. } if self.voter => {
                self.start_election(ctx, 0);
            }
            // The pre-vote did not win in time.
            State::Prospective { .. } => {
                self.prospective_transition_after_election_loss(ctx, false);
            }
            // KIP-996 `pollCandidate`: an election that timed out goes straight back to
            // Prospective, with a fresh timeout (QuorumStateTest.testCandidateToProspective).
            State::Candidate {
                retries,
                backing_off: false,
                ..
            } if self.config.prevote => self.become_prospective(ctx, retries + 1),
            // Before KIP-996: an election that timed out backs off before the next one; one
            // already backing off (a majority said no) waits for the backoff alone.
            State::Candidate {
                retries,
                backing_off,
                granted,
                rejected,
                ..
            } => {
                self.state = State::Candidate {
                    granted,
                    rejected,
                    retries: if backing_off { retries } else { retries + 1 },
                    backing_off: true,
                    election_timer_expired: true,
                };
                if !backing_off {
                    self.arm_backoff(ctx, retries + 1);
                }
            }
            _ => {}
        }
    }

    /// The Candidate's backoff is over: the next election.
    pub(crate) fn on_election_backoff_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let State::Candidate {
            retries,
            backing_off: true,
            ..
        } = self.state
        {
            self.start_election(ctx, retries);
        }
    }

    // ---- leader epoch announcements ----

    pub fn on_begin_quorum_epoch(&mut self, ctx: &mut Ctx<'_>, from: NodeId, epoch: u32) {
        if epoch > self.epoch
            || (epoch == self.epoch
                && !self.is_leader()
                && !matches!(self.state, State::Follower { leader, .. } if leader == from))
        {
            self.become_follower(ctx, epoch, from);
        }
        ctx.send(
            from,
            Msg::BeginQuorumEpochResponse {
                epoch: self.epoch,
                leader: self.leader(),
            },
        );
    }

    pub(crate) fn on_begin_quorum_epoch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        epoch: u32,
        leader: Option<NodeId>,
    ) {
        if self.learn_from_response(ctx, epoch, leader) {
            return;
        }
        let index = self.voter_index(from);
        if let (State::Leader(l), Some(i)) = (&mut self.state, index)
            && epoch == self.epoch
        {
            l.acknowledged[i] = true;
        }
    }

    pub(crate) fn on_begin_quorum_epoch_retry(&mut self, ctx: &mut Ctx<'_>) {
        let State::Leader(l) = &self.state else {
            return;
        };
        let pending: Vec<NodeId> = self
            .config
            .voters
            .iter()
            .enumerate()
            .filter(|&(i, &v)| v != self.me && !l.acknowledged[i])
            .map(|(_, &v)| v)
            .collect();
        for v in &pending {
            ctx.send(*v, Msg::BeginQuorumEpoch { epoch: self.epoch });
        }
        if !pending.is_empty() {
            ctx.set_timer(Timer::BeginQuorumEpochRetry, self.config.request_timeout);
        }
    }

    /// A leader resigned: its successors start an election after a backoff that grows with
    /// their place in its list (`strictExponentialElectionBackoffMs`), the first at once.
    pub(crate) fn on_end_quorum_epoch(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        epoch: u32,
        preferred_successors: &[NodeId],
    ) {
        if !self.voter || epoch != self.epoch || self.leader() != Some(from) {
            return;
        }
        let voted_for = match &self.state {
            State::Unattached { voted_for, .. } => *voted_for,
            _ => None,
        };
        // The leader is gone: forget it, so pre-votes are granted again.
        self.transition(
            ctx,
            epoch,
            State::Unattached {
                voted_for,
                leader: None,
            },
        );
        ctx.cancel_timer(Timer::FetchTimeout);
        let position = preferred_successors
            .iter()
            .position(|&v| v == self.me)
            .unwrap_or(preferred_successors.len());
        let backoff = if position == 0 {
            SimDuration::ZERO
        } else {
            let shift = (position - 1).min(20) as u32;
            SimDuration::from_micros(ELECTION_BACKOFF_BASE.as_micros() << shift)
                .min(self.config.election_backoff_max)
        };
        ctx.set_timer(Timer::Election, backoff);
    }

    pub(crate) fn on_check_quorum_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.is_leader() && self.config.check_quorum {
            // KAFKA-15489: no majority has fetched lately; this leader may be partitioned away.
            self.resign(ctx, false);
        }
    }

    pub(crate) fn on_shutdown_timeout(&mut self) {
        if let State::Resigned { shutting_down } = &mut self.state {
            *shutting_down = false;
        }
    }

    // ---- the leader's log ----

    /// Leader only: appends records in this epoch and flushes them (append and flush are one
    /// step on the leader, `flushLeaderLog`). Returns the offset of the first.
    pub fn append(&mut self, ctx: &mut Ctx<'_>, records: Vec<MetadataRecord>) -> u64 {
        assert!(self.is_leader(), "only the leader appends");
        let first = self.log_end_offset();
        for record in records {
            self.disk.log.append(LogEntry {
                epoch: self.epoch,
                record,
            });
        }
        self.disk.log.flush();
        self.maybe_update_high_watermark(ctx);
        self.complete_parked(ctx, false);
        first
    }

    /// `LeaderState.maybeUpdateHighWatermark`: the offset a majority of voters reached, if it
    /// is past the epoch start and above the current HW.
    fn maybe_update_high_watermark(&mut self, ctx: &mut Ctx<'_>) {
        let leo = self.log_end_offset();
        let me = self.me;
        let State::Leader(l) = &mut self.state else {
            return;
        };
        let mut ends: Vec<u64> = self
            .config
            .voters
            .iter()
            .enumerate()
            .map(|(i, &v)| if v == me { leo } else { l.voter_end_offsets[i] })
            .collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = if self.config.commit_without_majority {
            leo
        } else {
            ends[self.config.voters.len() / 2]
        };
        if candidate > l.epoch_start_offset && self.high_watermark.is_none_or(|hw| candidate > hw) {
            self.high_watermark = Some(candidate);
            self.complete_parked(ctx, false);
        }
    }

    /// Answers parked fetches that now have something to say (or, with `expired_only`, those
    /// whose wait is over).
    fn complete_parked(&mut self, ctx: &mut Ctx<'_>, expired_only: bool) {
        let now = ctx.now();
        let leo = self.log_end_offset();
        let hw = self.high_watermark;
        let State::Leader(l) = &mut self.state else {
            return;
        };
        if l.parked.is_empty() {
            return;
        }
        let mut ready = Vec::new();
        l.parked.retain(|p| {
            let has_news = leo > p.fetch_offset || p.known_high_watermark != hw;
            let go = if expired_only {
                p.deadline <= now
            } else {
                has_news
            };
            if go {
                ready.push((p.from, p.fetch_offset, p.correlation_id));
            }
            !go
        });
        let next_deadline = l.parked.iter().map(|p| p.deadline).min();
        for (from, offset, correlation_id) in ready {
            let resp = self.records_response(offset, correlation_id);
            ctx.send(from, Msg::FetchResponse(Box::new(resp)));
        }
        match next_deadline {
            Some(d) => ctx.set_timer(Timer::FetchWait, d.saturating_sub(now)),
            None => ctx.cancel_timer(Timer::FetchWait),
        }
    }

    pub(crate) fn on_fetch_wait(&mut self, ctx: &mut Ctx<'_>) {
        self.complete_parked(ctx, true);
    }

    fn records_response(&self, fetch_offset: u64, correlation_id: u64) -> FetchResponse {
        let entries = self.disk.log.entries();
        let start = (fetch_offset as usize).min(entries.len());
        let end = (start + MAX_FETCH_RECORDS).min(entries.len());
        FetchResponse {
            correlation_id,
            epoch: self.epoch,
            leader: Some(self.me),
            error: None,
            high_watermark: self.high_watermark,
            diverging: None,
            base_offset: start as u64,
            records: entries[start..end].to_vec(),
        }
    }

    /// `KafkaRaftClient.handleFetchRequest`.
    pub(crate) fn on_fetch(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: FetchRequest) {
        let error = if !self.is_leader() {
            Some(if req.epoch > self.epoch {
                FetchError::UnknownLeaderEpoch
            } else {
                FetchError::NotLeaderOrFollower
            })
        } else if req.epoch < self.epoch {
            Some(FetchError::FencedLeaderEpoch)
        } else if req.epoch > self.epoch {
            Some(FetchError::UnknownLeaderEpoch)
        } else {
            None
        };
        if let Some(error) = error {
            let resp = FetchResponse {
                correlation_id: req.correlation_id,
                epoch: self.epoch,
                leader: self
                    .leader()
                    .filter(|_| !matches!(self.state, State::Resigned { .. })),
                error: Some(error),
                high_watermark: None,
                diverging: None,
                base_offset: 0,
                records: Vec::new(),
            };
            ctx.send(from, Msg::FetchResponse(Box::new(resp)));
            return;
        }
        // validateOffsetAndEpoch: does the fetcher's log agree with ours up to fetch_offset?
        let diverging = if req.fetch_offset == 0 {
            None
        } else {
            let (epoch, end) = self.end_offset_for_epoch(req.last_fetched_epoch);
            (epoch != req.last_fetched_epoch || end < req.fetch_offset).then_some((epoch, end))
        };
        if let Some(d) = diverging {
            let resp = FetchResponse {
                correlation_id: req.correlation_id,
                epoch: self.epoch,
                leader: Some(self.me),
                error: None,
                high_watermark: self.high_watermark,
                diverging: Some(d),
                base_offset: 0,
                records: Vec::new(),
            };
            ctx.send(from, Msg::FetchResponse(Box::new(resp)));
            return;
        }
        let majority = self.config.majority();
        let index = self.voter_index(from).filter(|_| req.voter);
        let mut quorum_reached = false;
        if let (State::Leader(l), Some(i)) = (&mut self.state, index) {
            l.voter_end_offsets[i] = req.fetch_offset;
            l.acknowledged[i] = true;
            l.fetched_since_check[i] = true;
            // The leader counts itself.
            if l.fetched_since_check.iter().filter(|&&f| f).count() + 1 >= majority {
                l.fetched_since_check.iter_mut().for_each(|f| *f = false);
                l.check_quorum_restarted = ctx.now();
                quorum_reached = true;
            }
        }
        if quorum_reached {
            self.arm_check_quorum(ctx);
        }
        self.maybe_update_high_watermark(ctx);
        if req.fetch_offset < self.log_end_offset() || req.high_watermark != self.high_watermark {
            let resp = self.records_response(req.fetch_offset, req.correlation_id);
            ctx.send(from, Msg::FetchResponse(Box::new(resp)));
            return;
        }
        // Nothing new: park the fetch until there is, or the max wait passes.
        let deadline = ctx.now() + self.config.fetch_max_wait;
        let wait = self.config.fetch_max_wait;
        if let State::Leader(l) = &mut self.state {
            l.parked.retain(|p| p.from != from);
            l.parked.push(ParkedFetch {
                from,
                correlation_id: req.correlation_id,
                fetch_offset: req.fetch_offset,
                known_high_watermark: req.high_watermark,
                deadline,
            });
            if l.parked.len() == 1 {
                ctx.set_timer(Timer::FetchWait, wait);
            }
        }
    }

    // ---- followers and observers ----

    fn fetch_target(&mut self) -> Option<NodeId> {
        match &self.state {
            State::Follower { leader, .. } => Some(*leader),
            State::Unattached { leader: None, .. } if !self.voter => {
                let voters = &self.config.voters;
                let v = voters[self.bootstrap_next % voters.len()];
                Some(v)
            }
            _ => None,
        }
    }

    fn send_fetch(&mut self, ctx: &mut Ctx<'_>) {
        let Some(to) = self.fetch_target() else {
            return;
        };
        let correlation_id = self.fetch_ids.take();
        let req = FetchRequest {
            correlation_id,
            epoch: self.epoch,
            fetch_offset: self.log_end_offset(),
            last_fetched_epoch: self.last_epoch(),
            high_watermark: self.high_watermark,
            voter: self.voter,
        };
        self.fetch_in_flight = Some(InFlightFetch { to, correlation_id });
        ctx.send(to, Msg::Fetch(req));
        // A parked fetch may take fetch_max_wait; give it that on top of the request timeout.
        ctx.set_timer(
            Timer::FetchRequestTimeout,
            self.config.request_timeout + self.config.fetch_max_wait,
        );
    }

    fn retry_fetch_later(&mut self, ctx: &mut Ctx<'_>) {
        self.fetch_in_flight = None;
        ctx.cancel_timer(Timer::FetchRequestTimeout);
        if !self.voter && self.leader().is_none() {
            self.bootstrap_next += 1;
        }
        ctx.set_timer(Timer::FetchRetry, self.config.retry_backoff);
    }

    pub(crate) fn on_fetch_retry(&mut self, ctx: &mut Ctx<'_>) {
        if self.fetch_in_flight.is_none() {
            self.send_fetch(ctx);
        }
    }

    pub(crate) fn on_fetch_request_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.fetch_in_flight.is_some() {
            self.retry_fetch_later(ctx);
        }
    }

    /// The connection to `peer` broke: a fetch in flight to it is lost.
    pub(crate) fn on_disconnect(&mut self, ctx: &mut Ctx<'_>, peer: NodeId) {
        if self.fetch_in_flight.is_some_and(|f| f.to == peer) {
            self.retry_fetch_later(ctx);
        }
    }

    pub fn on_fetch_timeout(&mut self, ctx: &mut Ctx<'_>) {
        match &self.state {
            State::Follower { .. } if self.voter => self.start_election(ctx, 0),
            State::Follower { .. } | State::Unattached { .. } if !self.voter => {
                // An observer lost its leader: ask the voters again.
                if matches!(self.state, State::Follower { .. }) {
                    self.transition(
                        ctx,
                        self.epoch,
                        State::Unattached {
                            voted_for: None,
                            leader: None,
                        },
                    );
                }
                self.bootstrap_next += 1;
                self.fetch_in_flight = None;
                ctx.set_timer(Timer::FetchTimeout, self.config.fetch_timeout);
                self.send_fetch(ctx);
            }
            _ => {}
        }
    }

    /// `KafkaRaftClient.handleFetchResponse`.
    pub(crate) fn on_fetch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        resp: FetchResponse,
    ) {
        let awaited = InFlightFetch {
            to: from,
            correlation_id: resp.correlation_id,
        };
        if self.fetch_in_flight != Some(awaited) {
            // An answer to a fetch we gave up on (it timed out, or its connection broke), or
            // to an earlier process's: `KafkaRaftClient.handleResponse` drops a response
            // whose correlation id `RequestManager.isResponseExpected` no longer expects.
            return;
        }
        self.fetch_in_flight = None;
        ctx.cancel_timer(Timer::FetchRequestTimeout);
        if self.learn_from_response(ctx, resp.epoch, resp.leader) {
            return; // the transition sent a new fetch
        }
        let from_leader = resp.epoch == self.epoch
            && resp.error.is_none()
            && matches!(self.state, State::Follower { leader, .. } if leader == from);
        if !from_leader {
            self.retry_fetch_later(ctx);
            return;
        }
        if let State::Follower { fetched, .. } = &mut self.state {
            *fetched = true;
        }
        ctx.set_timer(Timer::FetchTimeout, self.config.fetch_timeout);
        if let Some((epoch, end_offset)) = resp.diverging {
            self.truncate_to_end_offset(ctx, epoch, end_offset);
        } else if resp.base_offset == self.log_end_offset() {
            for entry in resp.records {
                self.disk.log.append(entry);
            }
            // A voter flushes before it fetches again: the next fetch acknowledges these.
            self.disk.log.flush();
            if let Some(leader_hw) = resp.high_watermark {
                let hw = leader_hw.min(self.log_end_offset());
                if self.high_watermark.is_none_or(|h| hw > h) {
                    self.high_watermark = Some(hw);
                }
            }
        }
        self.send_fetch(ctx);
    }

    /// `truncateToEndOffset`: cut the log back to where it agrees with the leader's.
    fn truncate_to_end_offset(&mut self, ctx: &mut Ctx<'_>, epoch: u32, end_offset: u64) {
        let leo = self.log_end_offset();
        let to = if epoch == 0 {
            end_offset.min(leo)
        } else {
            let (local_epoch, local_end) = self.end_offset_for_epoch(epoch);
            if local_epoch == epoch {
                local_end.min(end_offset)
            } else {
                local_end
            }
        };
        if to < leo {
            ctx.emit(Event::Truncated {
                from_offset: leo,
                to_offset: to,
                high_watermark: self.high_watermark,
            });
            self.disk.log.truncate(to as usize);
            if let Some(hw) = self.high_watermark
                && hw > to
            {
                self.high_watermark = Some(to);
            }
        }
    }
}

fn record(granted: &mut Vec<NodeId>, rejected: &mut Vec<NodeId>, from: NodeId, yes: bool) {
    if granted.contains(&from) || rejected.contains(&from) {
        return;
    }
    if yes {
        granted.push(from);
    } else {
        rejected.push(from);
    }
}

#[cfg(test)]
mod tests;
