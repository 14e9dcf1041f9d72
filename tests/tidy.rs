//! Tidy: simulation code must not read a wall clock, use an unseeded RNG, or iterate a hash
//! map (whose order changes from run to run). Comments may mention them; code may not.

use std::path::Path;

const FORBIDDEN: &[(&str, &str)] = &[
    ("Instant::", "reads the wall clock"),
    ("SystemTime", "reads the wall clock"),
    ("thread_rng", "is an unseeded RNG"),
    ("rand::random", "is an unseeded RNG"),
    ("OsRng", "is an unseeded RNG"),
    (
        "HashMap",
        "iterates in a different order each run (use BTreeMap or a Vec indexed by id)",
    ),
    (
        "HashSet",
        "iterates in a different order each run (use BTreeSet or a Vec indexed by id)",
    ),
    ("std::thread", "would run a simulation on several threads"),
];

fn scan(dir: &Path, findings: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            scan(&path, findings);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for (needle, why) in FORBIDDEN {
                    if code.contains(needle) {
                        findings.push(format!("{}:{}: `{needle}` {why}", path.display(), n + 1));
                    }
                }
            }
        }
    }
}

#[test]
fn simulation_code_is_deterministic_by_construction() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-core/src");
    let mut findings = Vec::new();
    scan(&root, &mut findings);
    assert!(
        findings.is_empty(),
        "determinism hazards in sim-core:\n{}",
        findings.join("\n")
    );
}

#[test]
fn the_tidy_scan_catches_what_it_forbids() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tidy-probe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.rs"), "// HashMap in a comment is fine\nlet t = std::time::Instant::now();\nlet m: HashMap<u32, u32>;\n").unwrap();
    let mut findings = Vec::new();
    scan(&dir, &mut findings);
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert!(findings[0].ends_with(":2: `Instant::` reads the wall clock"));
    assert!(findings[1].contains(":3: `HashMap`"));
}
