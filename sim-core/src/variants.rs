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

pub const VARIANTS: &[VariantInfo] = &[];

pub fn variant(name: &str) -> Option<&'static VariantInfo> {
    VARIANTS.iter().find(|v| v.name == name)
}
