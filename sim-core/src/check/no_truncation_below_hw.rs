//! `no_truncation_below_hw`: a replica never truncates its metadata log below its own HW.
//!
//! Source: Kafka `KafkaRaftClient` (a diverging fetch response below the HW throws) and
//! kafka-protocol.md §3.5 `NoTruncationBelowRaftHW`.

use super::{Ground, InvariantInfo, InvariantKind, Violations};
use crate::engine::NodeId;

pub const INFO: InvariantInfo = InvariantInfo {
    id: "no_truncation_below_hw",
    kind: InvariantKind::Safety,
    summary: "No replica truncates its metadata log below its high watermark",
    source: "Kafka KafkaRaftClient.handleFetchResponse (truncation below HW throws)",
};

pub(crate) fn on_truncated(
    g: &mut Ground,
    out: &mut Violations,
    node: NodeId,
    from_offset: u64,
    to_offset: u64,
    high_watermark: Option<u64>,
) {
    if let Some(hw) = high_watermark
        && to_offset < hw
    {
        let explanation = format!(
            "{} truncated its metadata log from {from_offset} to {to_offset}, below its HW \
             {hw}: committed records were discarded{}",
            g.name(node),
            g.crash_note(node)
        );
        out.report(&INFO, g.now, vec![g.name(node).to_string()], explanation);
    }
}
