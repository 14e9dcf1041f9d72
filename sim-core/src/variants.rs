//! Protocol variants: historical Kafka behaviour as a flag, not a fork (DESIGN.md principle 4).
//!
//! Each variant re-introduces one known bug or pre-fix behaviour (kafka-protocol.md §5) and is
//! switched on per scenario by name. The modern protocol is the default. Variants register here
//! as the protocol code that honours them is built.

/// A protocol variant a scenario can switch on.
#[derive(Clone, Copy, Debug)]
pub struct VariantInfo {
    /// The name scenarios use, e.g. `prevote=false`.
    pub name: &'static str,
    /// What it re-introduces, in one line.
    pub summary: &'static str,
    /// The KIP or JIRA that fixed or introduced the behaviour.
    pub reference: &'static str,
    /// Deliberately unsafe behaviour with no Kafka history, used only to prove a checker.
    pub test_only: bool,
}

pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        name: "prevote=false",
        summary: "No KIP-996 pre-vote: a voter that times out bumps the epoch at once, so a rejoining voter deposes a healthy leader",
        reference: "KIP-996 (pre-vote, Kafka 4.0); KIP-650",
        test_only: false,
    },
    VariantInfo {
        name: "no_check_quorum",
        summary: "The leader never resigns when it stops hearing from a majority, so a partitioned leader lingers as a zombie",
        reference: "KAFKA-15489 (check-quorum, Kafka 3.7)",
        test_only: false,
    },
    VariantInfo {
        name: "election_jitter=false",
        summary: "Fixed election timeouts and backoff instead of random ones, so split votes repeat",
        reference: "KIP-595 (randomised election timeout, binary-exponential backoff)",
        test_only: false,
    },
    VariantInfo {
        name: "truncate_to_hw_on_follow",
        summary: "A replica that becomes a follower truncates its log to its own HW, which lags the leader's, so it can drop committed records and then be elected",
        reference: "KIP-101 (leader epoch truncation, Kafka 0.11; KAFKA-1211)",
        test_only: false,
    },
    VariantInfo {
        name: "local_isr_shrink",
        summary: "The leader shrinks its ISR at once instead of waiting for the controller, so its HW stops waiting for replicas the controller may still elect",
        reference: "KIP-497 (AlterIsr through the controller, Kafka 2.7); ZooKeeper-era leaders wrote the ISR themselves",
        test_only: false,
    },
    VariantInfo {
        name: "test_fence_keeps_isr",
        summary: "The controller fences a broker without taking it out of the ISRs",
        reference: "none: deliberately unsafe, proves partition_metadata_well_formed",
        test_only: true,
    },
    VariantInfo {
        name: "test_keep_isr_on_reregistration",
        summary: "The controller keeps a re-registered broker in its ISRs and ELRs, even after an unclean shutdown",
        reference: "none: deliberately unsafe, proves unclean_exclusion",
        test_only: true,
    },
    VariantInfo {
        name: "test_no_dedup",
        summary: "The leader appends a retried idempotent batch again instead of answering with its first offset",
        reference: "none: deliberately unsafe, proves duplicate",
        test_only: true,
    },
    VariantInfo {
        name: "test_no_divergence_check",
        summary: "Followers fetch from their LEO without their last epoch, so a diverged log is extended instead of truncated",
        reference: "none: deliberately unsafe, proves log_matching",
        test_only: true,
    },
    VariantInfo {
        name: "test_hw_ignores_followers",
        summary: "The leader's HW is its own LEO: acks=all writes are acknowledged before any follower has them",
        reference: "none: deliberately unsafe, proves acked_durability and leader_candidate_completeness",
        test_only: true,
    },
    VariantInfo {
        name: "test_forget_vote",
        summary: "A voter does not record the votes it grants (neither in memory nor in quorum-state), so it can vote twice in one epoch",
        reference: "none: deliberately unsafe, proves single_leader_per_epoch",
        test_only: true,
    },
    VariantInfo {
        name: "test_commit_without_majority",
        summary: "The metadata leader counts its own log end as committed without waiting for a majority of voters",
        reference: "none: deliberately unsafe, proves majority_reached_high_watermark",
        test_only: true,
    },
];

pub fn variant(name: &str) -> Option<&'static VariantInfo> {
    VARIANTS.iter().find(|v| v.name == name)
}
