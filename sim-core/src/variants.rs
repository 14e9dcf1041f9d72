//! Protocol variants: historical Kafka behaviour as a flag, not a fork (DESIGN.md principle 4).
//!
//! Each variant re-introduces one known bug or pre-fix behaviour (kafka-protocol.md §5) and is
//! switched on per scenario by name. The modern protocol is the default. Variants register here
//! as the protocol code that honours them is built.

/// A protocol variant: what a scenario names, as a type, so a misspelt variant in code does
/// not compile (and in a scenario file is an error with a suggestion).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    PrevoteFalse,
    NoCheckQuorum,
    ElectionJitterFalse,
    TruncateToHwOnFollow,
    LocalIsrShrink,
    OffsetsForEpochV0,
    NoTruncateOnFetch,
    AllowUnclean,
    NoMinIsrCheck,
    HwAdvancesUnderMinIsr,
    ElrFalse,
    NoEpochFencingOnFetch,
    NoBrokerEpochInIsr,
    NoLesoRule,
    NoMaximalIsr,
    UpdateStateOnDivergingFetch,
    TestFenceKeepsIsr,
    TestKeepIsrOnReregistration,
    TestNoDedup,
    TestNoDivergenceCheck,
    TestHwIgnoresFollowers,
    TestForgetVote,
    TestCommitWithoutMajority,
}

/// A protocol variant a scenario can switch on.
#[derive(Clone, Copy, Debug)]
pub struct VariantInfo {
    pub variant: Variant,
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
        variant: Variant::PrevoteFalse,
        name: "prevote=false",
        summary: "No KIP-996 pre-vote: a voter that times out bumps the epoch at once, so a rejoining voter deposes a healthy leader",
        reference: "KIP-996 (pre-vote, Kafka 4.0); KIP-650",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoCheckQuorum,
        name: "no_check_quorum",
        summary: "The leader never resigns when it stops hearing from a majority, so a partitioned leader lingers as a zombie",
        reference: "KAFKA-15489 (check-quorum, Kafka 3.7)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::ElectionJitterFalse,
        name: "election_jitter=false",
        summary: "Fixed election timeouts and backoff instead of random ones, so split votes repeat",
        reference: "KIP-595 (randomised election timeout, binary-exponential backoff)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::TruncateToHwOnFollow,
        name: "truncate_to_hw_on_follow",
        summary: "Kafka before 0.11: a replica truncates its log to its own HW (which lags the leader's) when it becomes a follower and when its broker starts, and no leader epochs reconcile diverged logs, so it can drop committed records and then be elected, or keep records the new leader never had",
        reference: "KIP-101 (leader epoch truncation, Kafka 0.11; KAFKA-1211)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::LocalIsrShrink,
        name: "local_isr_shrink",
        summary: "The leader shrinks its ISR at once instead of waiting for the controller, so its HW stops waiting for replicas the controller may still elect",
        reference: "KIP-497 (AlterIsr through the controller, Kafka 2.7); ZooKeeper-era leaders wrote the ISR themselves",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::OffsetsForEpochV0,
        name: "offsets_for_epoch_v0",
        summary: "A new follower asks for the end offset of its last epoch and truncates to it once, without agreeing on an epoch, so after fast successive leader changes it keeps records the leader never had",
        reference: "KIP-279 (Kafka 2.0, KAFKA-6361) fixed KIP-101's OffsetsForLeaderEpoch v0",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoTruncateOnFetch,
        name: "no_truncate_on_fetch",
        summary: "A follower reconciles its log with the leader's only when it becomes follower (OffsetsForLeaderEpoch), not on every fetch: the Kafka 2.0-2.6 protocol other variants' bugs lived in",
        reference: "KIP-279 truncation, before truncate-on-fetch (Kafka 2.7, KAFKA-10554)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::AllowUnclean,
        name: "allow_unclean",
        summary: "unclean.leader.election.enable=true on every topic: a replica outside the ISR may lead, losing what only the ISR had",
        reference: "KIP-106 (default false since Kafka 0.11); kafka-protocol.md 1.10",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoMinIsrCheck,
        name: "no_min_isr_check",
        summary: "acks=all writes are accepted and acknowledged with whatever ISR there is, even the leader alone",
        reference: "KAFKA-1555 (min.insync.replicas, Kafka 0.8.2)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::HwAdvancesUnderMinIsr,
        name: "hw_advances_under_min_isr",
        summary: "The HW advances while the ISR is smaller than min.insync.replicas, so records count as committed on fewer replicas than ELR relies on",
        reference: "KAFKA-15583 (strict min ISR, Kafka 3.7)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::ElrFalse,
        name: "elr=false",
        summary: "No eligible leader replicas: the ISR never empties, so the last replica standing is re-elected even after an unclean shutdown lost its log",
        reference: "KIP-966 (ELR, Kafka 3.7-4.1)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoEpochFencingOnFetch,
        name: "no_epoch_fencing_on_fetch",
        summary: "A leader serves fetches whatever leader epoch they carry, so a follower with stale metadata appends to a log it never reconciled",
        reference: "KIP-320 (Kafka 2.1, KAFKA-6880 zombie replicas)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoBrokerEpochInIsr,
        name: "no_broker_epoch_in_isr",
        summary: "Fetches and AlterPartition carry no broker epoch, so an ISR expansion judged on a replica's previous incarnation can put its empty new incarnation in the ISR",
        reference: "KIP-903 (Kafka 3.5)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoLesoRule,
        name: "no_leso_rule",
        summary: "A follower joins the ISR once it reaches the leader's HW, which can lag behind records committed in the previous epoch",
        reference: "KAFKA-7128 (Kafka 2.1)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::NoMaximalIsr,
        name: "no_maximal_isr",
        summary: "The HW waits only for the committed ISR, not for a follower whose addition is in flight, so the new ISR member can lack committed records",
        reference: "KIP-497 (AlterIsr and the maximal ISR, Kafka 2.7)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::UpdateStateOnDivergingFetch,
        name: "update_state_on_diverging_fetch",
        summary: "The leader takes a diverging fetch's offset as the follower's LEO, so a follower about to truncate can count toward the HW and the ISR",
        reference: "KAFKA-13141 (Kafka 3.0)",
        test_only: false,
    },
    VariantInfo {
        variant: Variant::TestFenceKeepsIsr,
        name: "test_fence_keeps_isr",
        summary: "The controller fences a broker without taking it out of the ISRs",
        reference: "none: deliberately unsafe, proves partition_metadata_well_formed",
        test_only: true,
    },
    VariantInfo {
        variant: Variant::TestKeepIsrOnReregistration,
        name: "test_keep_isr_on_reregistration",
        summary: "The controller keeps a re-registered broker in its ISRs and ELRs, even after an unclean shutdown",
        reference: "none: deliberately unsafe, proves unclean_exclusion",
        test_only: true,
    },
    VariantInfo {
        variant: Variant::TestNoDedup,
        name: "test_no_dedup",
        summary: "The leader appends a retried idempotent batch again instead of answering with its first offset",
        reference: "none: deliberately unsafe, proves duplicate",
        test_only: true,
    },
    VariantInfo {
        variant: Variant::TestNoDivergenceCheck,
        name: "test_no_divergence_check",
        summary: "Followers fetch from their LEO without their last epoch, so a diverged log is extended instead of truncated",
        reference: "none: deliberately unsafe, proves log_matching",
        test_only: true,
    },
    VariantInfo {
        variant: Variant::TestHwIgnoresFollowers,
        name: "test_hw_ignores_followers",
        summary: "The leader's HW is its own LEO: acks=all writes are acknowledged before any follower has them",
        reference: "none: deliberately unsafe, proves acked_durability and leader_candidate_completeness",
        test_only: true,
    },
    VariantInfo {
        variant: Variant::TestForgetVote,
        name: "test_forget_vote",
        summary: "A voter does not record the votes it grants (neither in memory nor in quorum-state), so it can vote twice in one epoch",
        reference: "none: deliberately unsafe, proves single_leader_per_epoch",
        test_only: true,
    },
    VariantInfo {
        variant: Variant::TestCommitWithoutMajority,
        name: "test_commit_without_majority",
        summary: "The metadata leader counts its own log end as committed without waiting for a majority of voters",
        reference: "none: deliberately unsafe, proves majority_reached_high_watermark",
        test_only: true,
    },
];

pub fn variant(name: &str) -> Option<&'static VariantInfo> {
    VARIANTS.iter().find(|v| v.name == name)
}

impl Variant {
    /// The variant a scenario names, if it is one.
    pub(crate) fn from_name(name: &str) -> Option<Variant> {
        variant(name).map(|v| v.variant)
    }

    pub fn info(self) -> &'static VariantInfo {
        VARIANTS
            .iter()
            .find(|v| v.variant == self)
            .expect("every variant is listed in VARIANTS")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_listed_once_under_its_own_name() {
        for (i, v) in VARIANTS.iter().enumerate() {
            assert_eq!(Variant::from_name(v.name), Some(v.variant));
            assert_eq!(v.variant.name(), v.name);
            assert!(
                !VARIANTS[..i]
                    .iter()
                    .any(|w| w.variant == v.variant || w.name == v.name)
            );
        }
        assert_eq!(Variant::from_name("no_leso_rul"), None);
    }
}
