//! Every bundled scenario, run as `kafkasim check scenarios/` runs it: its expectations (and its
//! comparison run's) must be met, so `cargo test` alone checks the bundled scenarios too. Their
//! trace hashes, and those of the first fuzz seeds of the default base, are held in a golden
//! file: a refactor that changes none of Kafka's rules must keep each one. When a change of
//! behaviour is intended, bless the new hashes with
//! `KAFKASIM_BLESS=1 cargo test --test trace_hashes` and say why in the commit.

mod support;

use std::path::Path;

use sim_core::fuzz::swarm::FuzzBase;
use sim_core::scenario::{Scenario, parse};
use sim_core::trace::TraceSink;
use sim_core::world::{RunOptions, run};

/// Fuzz seeds of the default base held in the file (seeds 0 to this, exclusive).
const FUZZ_SEEDS: u64 = 50;

fn hash(s: &Scenario) -> String {
    let summary = run(
        &s.resolve(),
        RunOptions {
            seed: s.seed,
            max_events: u64::MAX,
            trace: TraceSink::hash_only(),
        },
    )
    .expect("no trace file to fail");
    assert!(
        summary.expectations_met,
        "{}: expectations not met: missing {:?}, violations {:#?}",
        s.name, summary.missing_violations, summary.violations
    );
    summary.trace_hash
}

#[test]
fn bundled_scenarios_meet_their_expectations_and_keep_their_trace_hashes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = support::bundled_scenarios();
    let mut lines = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let s = parse(&text, &rel).unwrap_or_else(|e| panic!("{e}"));
        lines.push(format!("{rel} {}", hash(&s)));
        if let Some(without) = s.without_variants() {
            lines.push(format!("{rel} --without-variants {}", hash(&without)));
        }
    }
    let base = FuzzBase::default_base();
    for seed in 0..FUZZ_SEEDS {
        // A drawn seed expects every invariant to hold.
        lines.push(format!("fuzz-seed {seed} {}", hash(&base.draw(seed))));
    }
    let actual = lines.join("\n") + "\n";
    let golden = root.join("tests/golden/trace-hashes.txt");
    if std::env::var_os("KAFKASIM_BLESS").is_some() {
        std::fs::write(&golden, &actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (bless it with KAFKASIM_BLESS=1)", golden.display()));
    let changed: Vec<String> = expected
        .lines()
        .zip(actual.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  golden: {a}\n  now:    {b}"))
        .collect();
    assert!(
        changed.is_empty() && expected.lines().count() == actual.lines().count(),
        "trace hashes changed ({} lines; {} golden, {} now):\n{}\n\
         (if the change of behaviour is intended: KAFKASIM_BLESS=1 cargo test --test trace_hashes)",
        changed.len(),
        expected.lines().count(),
        actual.lines().count(),
        changed.join("\n")
    );
}
