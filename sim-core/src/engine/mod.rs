//! The discrete-event engine: virtual time, the event queue, seeded RNG streams and the run loop.
//!
//! - [`time`]: `SimTime` and `SimDuration`, integer microseconds.
//! - [`rng`]: ChaCha8 streams derived from the seed, one per purpose.
//! - [`node`]: the sans-IO contract a simulated process implements.
//! - [`sim`]: [`Simulation`], which owns time, randomness, delivery, lifecycle and crashes.
//!
//! Events are ordered by (time, sequence number): two events at the same microsecond run in the
//! order they were scheduled, so ties are deterministic.

pub mod node;
pub mod rng;
pub mod sim;
pub mod time;

pub use node::{Ctx, Delay, Effect, EffectOf, Message, NoEvent, Node, NodeCtx, NodeId, Timer};
pub use rng::{SimRng, Stream};
pub use sim::{
    Flow, Limits, MAX_EVENTS_AT_ONE_INSTANT, NodeStatus, Observer, SimConfig, Simulation, Stall,
    StopReason,
};
pub use time::{SimDuration, SimTime};
