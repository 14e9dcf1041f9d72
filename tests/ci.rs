//! What CI pipelines read and run: `check`'s JUnit report (valid against the `junit-10.xsd`
//! Jenkins and GitLab read, with failures that explain themselves), the GitHub Actions
//! workflow and the Kubernetes sweep job shipped as examples.

mod support;

use std::path::{Path, PathBuf};

use support::{external_tool, stdout, temp_dir, tool_missing};

/// A folder of three scenarios: one that passes, one bad file and one whose bug shows where
/// nothing says it should (`elr-false` without its comparison run or expectations).
fn mixed_folder(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let nested = dir.join("scenarios").join("team");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(
        "scenarios/teach/01-leader-failover.json",
        nested.join("a-failover.json"),
    )
    .unwrap();
    std::fs::write(
        nested.join("b-broken.json"),
        r#"{"name": "broken", "cluster": {"brokers": 3}, "faults": [{"at_ms": 1, "crash": "broker-9"}]}"#,
    )
    .unwrap();
    let mut bug: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("scenarios/bugs/elr-false.json").unwrap())
            .unwrap();
    let doc = bug.as_object_mut().unwrap();
    doc.remove("without");
    doc.insert("expect".into(), serde_json::json!({}));
    doc.insert("name".into(), "elr-regression".into());
    std::fs::write(nested.join("c-elr.json"), bug.to_string()).unwrap();
    dir
}

/// Runs `kafkasim check` in `dir` (so paths are shown relative to it).
fn check_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("kafkasim runs")
}

#[test]
fn the_junit_report_explains_each_failure_and_names_files_from_the_checkout() {
    let dir = mixed_folder("ci-junit");
    let junit = dir.join("junit.xml");
    // The folder is given as an absolute path, as CI runners often do: names stay relative.
    let o = check_in(
        &dir,
        &[
            dir.join("scenarios").to_str().unwrap(),
            "--junit",
            "junit.xml",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "a bad file is exit 2");
    assert!(
        stdout(&o).ends_with("1 passed, 2 failed\n"),
        "{}",
        stdout(&o)
    );
    let xml = std::fs::read_to_string(&junit).expect("written");
    assert!(
        !xml.contains(dir.to_str().unwrap()),
        "no absolute path:\n{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="elr-regression" classname="scenarios.team""#),
        "{xml}"
    );
    // The failure: its invariant as the type, the causal chain and the replay command inside.
    let failure = &xml[xml.find("<failure ").expect("a failure")..];
    let failure = &failure[..failure.find("</failure>").unwrap()];
    assert!(failure.contains(r#"type="unclean_exclusion""#), "{failure}");
    assert!(
        failure.contains("[elr=false] seed 1: violated unclean_exclusion"),
        "{failure}"
    );
    assert!(failure.contains("how it came about:"), "{failure}");
    assert!(
        failure.contains("fault: broker-1 dies (power loss"),
        "the chain reaches back to the fault: {failure}"
    );
    assert!(
        failure.contains("Replay: kafkasim explain scenarios/team/c-elr.json --seed 1"),
        "{failure}"
    );
    assert!(xml.contains("<error message=\"scenarios/team/b-broken.json: faults[0].crash"));
    assert!(xml.contains(r#"type="bad input""#), "{xml}");
    assert!(xml.contains(r#"<testsuites name="kafkasim check" tests="3" failures="1" errors="1""#));

    let Some(xsd) = std::env::var_os("KAFKASIM_JUNIT_XSD") else {
        tool_missing(
            "junit-10.xsd (KAFKASIM_JUNIT_XSD)",
            "pytest's source package holds it: testing/example_scripts/junit-10.xsd",
        );
        return;
    };
    let Some(lint) = external_tool(
        "xmllint",
        &[
            "--noout",
            "--schema",
            Path::new(&xsd).to_str().unwrap(),
            junit.to_str().unwrap(),
        ],
        "Debian's libxml2-utils",
    ) else {
        return;
    };
    assert!(
        lint.status.success(),
        "xmllint:\n{}",
        String::from_utf8_lossy(&lint.stderr)
    );
}

#[test]
fn github_annotations_carry_the_causal_chain_and_the_replay() {
    let dir = mixed_folder("ci-github");
    let o = check_in(&dir, &["scenarios", "--format", "github"]);
    let out = stdout(&o);
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(annotations.len(), 2, "{out}");
    let elr = annotations
        .iter()
        .find(|a| a.contains("file=scenarios/team/c-elr.json"))
        .expect("the failing file is annotated");
    assert!(
        elr.contains("title=elr-regression%3A expectations not met::"),
        "{elr}"
    );
    assert!(
        elr.contains("%0A  how it came about:%0A"),
        "one line, the chain's lines escaped: {elr}"
    );
    assert!(
        elr.ends_with("%0AReplay: kafkasim explain scenarios/team/c-elr.json --seed 1"),
        "{elr}"
    );
    assert_eq!(out.lines().last(), Some("1 passed, 2 failed"));
}
