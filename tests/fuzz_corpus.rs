//! Replays the coverage-guided fuzzers' corpus (`fuzz/corpus/`, grown by `cargo fuzz`, see
//! README "Fuzzing the parsers") through the same entry points the fuzz targets call, on stable
//! Rust and without libFuzzer: every input the fuzzers kept must still be handled without a
//! panic, and what is accepted must still read back as itself.

use std::path::Path;

fn replay(target: &str, exercise: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 40,
        "{}: only {} inputs; the corpus is checked in",
        dir.display(),
        inputs.len()
    );
    for input in &inputs {
        let data = std::fs::read(input).expect("a corpus file");
        let outcome = std::panic::catch_unwind(|| exercise(&data));
        assert!(outcome.is_ok(), "{} panics", input.display());
    }
}

#[test]
fn every_scenario_input_the_fuzzer_kept_is_handled() {
    replay("scenario", sim_core::scenario::exercise);
}

#[test]
fn every_trace_input_the_fuzzer_kept_is_handled() {
    replay("trace", reports::trace::exercise);
}
