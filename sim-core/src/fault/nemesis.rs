//! The random nemesis: a fault schedule drawn from a seed, written as plain scenario fault
//! entries so a failing schedule is an ordinary, replayable scenario.
//!
//! Swarm testing (TigerBeetle's VOPR, FoundationDB's simulator): each seed first decides which
//! fault kinds are on at all, then draws faults of those kinds at random times. The cluster is
//! only asked to survive what Kafka promises to survive: a crashed node comes back, a cut heals.
//! Faults stop at `faults_until_ms`; then the network heals and every node is restarted, so
//! liveness can be judged afterwards.

use crate::engine::{SimRng, Stream};
use crate::scenario::{FaultSpec, Member, Role};

/// What the nemesis may do.
#[derive(Clone, Debug)]
pub struct NemesisOptions {
    /// Faults start after this (let the first election happen).
    pub faults_from_ms: u64,
    /// No new fault after this; then heal and restart everything.
    pub faults_until_ms: u64,
    /// Gap between fault starts, drawn in this range.
    pub gap_ms: (u64, u64),
    /// How long a crash or cut lasts, drawn in this range.
    pub outage_ms: (u64, u64),
    /// Allow disk loss (Raft without KIP-853 cannot promise safety with it).
    pub disk_loss: bool,
    /// Most power losses of brokers in the whole schedule; past it a power loss becomes a
    /// process crash. Kafka promises acknowledged data only through `min.insync.replicas - 1`
    /// lossy shutdowns (kafka-protocol.md §3.5), so a data-plane sweep sets this to that.
    pub broker_power_losses: u32,
}

impl Default for NemesisOptions {
    fn default() -> Self {
        NemesisOptions {
            faults_from_ms: 3_000,
            faults_until_ms: 60_000,
            gap_ms: (500, 6_000),
            outage_ms: (200, 12_000),
            disk_loss: false,
            broker_power_losses: u32::MAX,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Crash,
    PowerLoss,
    DiskLoss,
    Partition,
    Isolate,
    OneWay,
    Pause,
}

/// Draws a fault schedule for `members` from `seed` (its own stream: the workload and the
/// network do not move when the schedule changes).
pub fn random_faults(members: &[Member], seed: u64, options: &NemesisOptions) -> Vec<FaultSpec> {
    let mut rng = SimRng::new(seed, Stream::Swarm);
    let targets: Vec<&Member> = members
        .iter()
        .filter(|m| matches!(m.role, Role::Controller | Role::Broker))
        .collect();
    let mut kinds = vec![
        Kind::Crash,
        Kind::PowerLoss,
        Kind::Partition,
        Kind::Isolate,
        Kind::OneWay,
        Kind::Pause,
    ];
    if options.disk_loss {
        kinds.push(Kind::DiskLoss);
    }
    // Swarm: some kinds are off for this seed entirely.
    let mut enabled: Vec<Kind> = kinds.iter().copied().filter(|_| rng.chance(0.6)).collect();
    if enabled.is_empty() {
        enabled.push(kinds[rng.below(kinds.len() as u64) as usize]);
    }
    let mut faults = Vec::new();
    // When each target is back (down or paused until then).
    let mut busy_until = vec![0u64; targets.len()];
    let mut net_busy_until = 0u64;
    let mut power_losses_left = options.broker_power_losses;
    let name = |i: usize| targets[i].name.clone();
    let mut at = options.faults_from_ms;
    while at < options.faults_until_ms && !targets.is_empty() {
        let kind = enabled[rng.below(enabled.len() as u64) as usize];
        let outage = rng.between(options.outage_ms.0, options.outage_ms.1);
        let end = (at + outage).min(options.faults_until_ms);
        let i = rng.below(targets.len() as u64) as usize;
        match kind {
            Kind::Crash | Kind::PowerLoss | Kind::DiskLoss | Kind::Pause if busy_until[i] <= at => {
                let mut f = FaultSpec {
                    at_ms: at,
                    ..FaultSpec::default()
                };
                let mut back = FaultSpec {
                    at_ms: end,
                    ..FaultSpec::default()
                };
                let lossy_broker = targets[i].role == Role::Broker
                    && matches!(kind, Kind::PowerLoss | Kind::DiskLoss);
                let within_budget = !lossy_broker || power_losses_left > 0;
                if lossy_broker && within_budget {
                    power_losses_left -= 1;
                }
                match kind {
                    Kind::Crash => f.crash = Some(name(i)),
                    Kind::PowerLoss | Kind::DiskLoss if !within_budget => f.crash = Some(name(i)),
                    Kind::PowerLoss => f.power_loss = Some(name(i)),
                    Kind::DiskLoss => f.disk_loss = Some(name(i)),
                    _ => f.pause = Some(name(i)),
                }
                if kind == Kind::Pause {
                    back.resume = Some(name(i));
                } else {
                    back.restart = Some(name(i));
                }
                faults.push(f);
                faults.push(back);
                busy_until[i] = end;
            }
            Kind::Partition | Kind::Isolate | Kind::OneWay if net_busy_until <= at => {
                let mut f = FaultSpec {
                    at_ms: at,
                    ..FaultSpec::default()
                };
                match kind {
                    Kind::Isolate => f.isolate = Some(name(i)),
                    Kind::Partition => {
                        let side: Vec<String> = (0..targets.len())
                            .filter(|_| rng.chance(0.5))
                            .map(name)
                            .collect();
                        if side.is_empty() || side.len() == targets.len() {
                            f.isolate = Some(name(i));
                        } else {
                            f.partition = Some(vec![side]);
                        }
                    }
                    _ => {
                        let j = rng.below(targets.len() as u64) as usize;
                        if i == j {
                            f.isolate = Some(name(i));
                        } else {
                            f.one_way = Some(crate::scenario::OneWaySpec {
                                from: vec![name(i)],
                                to: vec![name(j)],
                            });
                        }
                    }
                }
                faults.push(f);
                faults.push(FaultSpec {
                    at_ms: end,
                    heal: Some(true),
                    ..FaultSpec::default()
                });
                net_busy_until = end;
            }
            _ => {}
        }
        at += rng.between(options.gap_ms.0, options.gap_ms.1);
    }
    // Stable order by time; same-time entries keep the order they were drawn in.
    faults.sort_by_key(|f| f.at_ms);
    faults
}
