//! The scenarios under `scenarios/`, embedded at build time (see build.rs).

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// The built-in scenario with this name (e.g. `engine/partition-and-crash`), as (path, text).
pub fn find(name: &str) -> Option<(&'static str, &'static str)> {
    let name = name.trim_end_matches(".json");
    BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, path, text)| (*path, *text))
}
