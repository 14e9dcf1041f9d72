//! Seeded randomness, split into independent streams per purpose.
//!
//! Every random choice in a run comes from one of these streams, all derived from the scenario
//! seed. Each purpose (network latency, the fault nemesis, the workload, each node's timers) has
//! its own ChaCha8 stream, so adding one fault does not reshuffle the workload, and adding a node
//! does not change another node's election timeouts.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::NodeId;

/// What a stream of randomness is for. Each maps to a distinct ChaCha stream id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Message latencies and tails.
    Network,
    /// The random nemesis (fault schedules drawn from the seed).
    Faults,
    /// Clients' choices: keys, values, pacing jitter.
    Workload,
    /// Randomised scenario options drawn from the seed (swarm testing).
    Swarm,
    /// One node's timers (election timeouts, backoffs).
    Node(NodeId),
    /// The explorer's choices: which moment to branch from and what to add there.
    Explore,
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Faults => 2,
            Stream::Workload => 3,
            Stream::Swarm => 4,
            Stream::Explore => 5,
            Stream::Node(n) => (1 << 32) | u64::from(n.0),
        }
    }
}

/// A deterministic random stream. Cheap to create; draws are a few nanoseconds.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream.id());
        SimRng(rng)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (Lemire's method, unbiased). `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        let mut wide = u128::from(self.next_u64()) * u128::from(n);
        // The rejection threshold is below n, so the (slow) modulo is only needed when the low
        // word is too; the draws accepted are exactly those of the plain loop.
        if (wide as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (wide as u64) < threshold {
                wide = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (wide >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// True with probability `p` (clamped to 0..=1).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        // 53 random bits give a uniform float in [0, 1), exactly as on every IEEE-754 machine.
        let unit = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        unit < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_repeat_exactly() {
        let mut a = SimRng::new(42, Stream::Network);
        let mut b = SimRng::new(42, Stream::Network);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_are_independent() {
        let mut net = SimRng::new(42, Stream::Network);
        let mut node = SimRng::new(42, Stream::Node(NodeId(0)));
        let same = (0..64)
            .filter(|_| net.next_u64() == node.next_u64())
            .count();
        assert_eq!(same, 0);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SimRng::new(7, Stream::Workload);
        let mut seen = [false; 5];
        for _ in 0..1_000 {
            let v = rng.below(5);
            assert!(v < 5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(rng.between(3, 3), 3);
    }
}
