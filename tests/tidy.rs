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

/// sim-core's modules by layer (ARCHITECTURE.md): each may import only its own layer and those
/// below. Above them, the `reports` crate (6) and the CLI (7) are kept apart by Cargo itself.
const LAYERS: &[(&str, u8)] = &[
    // 1. engine: time, events, RNG, network, disks, the fault vocabulary, the trace.
    ("engine", 1),
    ("net", 1),
    ("storage", 1),
    ("fault", 1),
    ("trace", 1),
    ("suggest", 1),
    // 2. the Kafka protocol.
    ("proto", 2),
    ("config", 2),
    ("kraft", 2),
    ("broker", 2),
    ("client", 2),
    ("variants", 2),
    // 3. the world that runs a cluster, and the checkers that read it.
    ("world", 3),
    ("check", 3),
    // 4. the scenario format.
    ("scenario", 4),
    // 5. fuzzing and benchmarks.
    ("fuzz", 5),
    ("bench", 5),
];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The top-level modules a source text names through `crate::` (and, in a top-level module's
/// own file, through `super::`), with the line of each; comments are skipped.
fn crate_imports(text: &str, top_level_file: bool) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut prefixes = vec!["crate::"];
    if top_level_file {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let line = code[..at].matches('\n').count() + 1;
            let rest = code[at + prefix.len()..].trim_start();
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::X, b::{Y, Z}}`: the names at the group's top level.
                let mut depth = 0;
                let mut start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if start && depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                            out.push((line, ident(&group[i..])));
                            start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                out.push((line, ident(rest)));
            }
        }
    }
    out
}

/// Each import of a module from a higher layer, for a file at `rel` (relative to sim-core/src).
/// Test modules are held to their module's layer too: a unit test builds its fixtures from its
/// own layer and those below (`config::fixtures`, `ResolvedScenario::of_cluster`), so the
/// layers have no loop even in a test build.
fn layer_violations(rel: &Path, text: &str) -> Vec<String> {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut parts = rel.iter().filter_map(|p| p.to_str());
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let module = first.trim_end_matches(".rs");
    let Some(own) = layer_of(module) else {
        return if module == "lib" {
            Vec::new()
        } else {
            vec![format!(
                "{}: module `{module}` is in no layer: add it to LAYERS",
                rel.display()
            )]
        };
    };
    let top_level_file =
        rel.components().count() == 1 || name == "mod.rs" && rel.components().count() == 2;
    crate_imports(text, top_level_file)
        .into_iter()
        .filter_map(|(line, target)| {
            let theirs = layer_of(&target)?;
            (theirs > own).then(|| {
                format!(
                    "{}:{line}: `{module}` (layer {own}) imports `{target}` (layer {theirs})",
                    rel.display()
                )
            })
        })
        .collect()
}

fn scan_layers(root: &Path, dir: &Path, findings: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            scan_layers(root, &path, findings);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            let rel = path.strip_prefix(root).expect("under the root");
            findings.extend(layer_violations(rel, &text));
        }
    }
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-core/src");
    let mut findings = Vec::new();
    scan_layers(&root, &root, &mut findings);
    findings.sort();
    assert!(
        findings.is_empty(),
        "imports against the layers (ARCHITECTURE.md):\n{}",
        findings.join("\n")
    );
}

#[test]
fn the_layer_rule_catches_a_planted_back_import() {
    let planted = "use crate::engine::NodeId;\n\
                   // use crate::world::Process; (a comment is no import)\n\
                   use crate::world::ClusterConfig;\n\
                   use crate::{config::Acks, scenario::{Scenario, parse}};\n";
    let found = layer_violations(Path::new("broker/replicas.rs"), planted);
    assert_eq!(
        found,
        [
            "broker/replicas.rs:3: `broker` (layer 2) imports `world` (layer 3)",
            "broker/replicas.rs:4: `broker` (layer 2) imports `scenario` (layer 4)",
        ],
    );
    // A top-level module's `super::` is the crate root.
    let found = layer_violations(Path::new("proto.rs"), "use super::check::Violation;\n");
    assert_eq!(
        found,
        ["proto.rs:1: `proto` (layer 2) imports `check` (layer 3)"]
    );
    // Downward imports pass; a test module is held to its module's layer.
    assert!(layer_violations(Path::new("scenario/mod.rs"), planted).is_empty());
    assert_eq!(
        layer_violations(Path::new("broker/tests.rs"), planted).len(),
        2,
        "a test module importing higher layers"
    );
    // A new module must be placed in a layer.
    let found = layer_violations(Path::new("explore/mod.rs"), "");
    assert_eq!(found.len(), 1, "{found:?}");
}

/// The longest a function may be, in lines, outside declarative tables.
const FN_LINES_LIMIT: usize = 100;

/// The functions still longer than [`FN_LINES_LIMIT`], with the most lines each may have: a
/// ratchet. None may grow, none may join, and one that shrinks under the limit must leave the
/// list.
const LONG_FUNCTIONS: &[(&str, &str, usize)] = &[];

/// Source text with comments, string literals and character literals blanked out (newlines
/// kept), so that braces can be counted.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"r#\"") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let body = 2 + hashes;
            i + body
                + rest[body..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(rest.len() - body, |p| p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            i + (j + 1).min(rest.len())
        } else if rest[0] == b'\'' && rest.len() > 2 && (rest[2] == b'\'' || rest[1] == b'\\') {
            // A character literal ('{', '\n'), not a lifetime.
            let close = rest[1..]
                .iter()
                .position(|&c| c == b'\'')
                .map_or(1, |p| p + 2);
            i + close
        } else {
            out.push(rest[0] as char);
            i += 1;
            continue;
        };
        blank(&mut out, &b[i..end]);
        i = end;
    }
    out
}

/// Every function in a source text with a body, as (name, first line, lines).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else { continue };
        if at > 0 && !line[..at].ends_with(' ') {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let mut depth = 0usize;
        let mut opened = false;
        'scan: for (j, l) in lines.iter().enumerate().skip(i) {
            let from = if j == i { at } else { 0 };
            for c in l[from..].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth = depth.saturating_sub(1);
                        if opened && depth == 0 {
                            out.push((name.clone(), i + 1, j - i + 1));
                            break 'scan;
                        }
                    }
                    ';' if !opened => break 'scan,
                    _ => {}
                }
            }
        }
    }
    out
}

fn scan_functions(root: &Path, dir: &Path, out: &mut Vec<(String, String, usize, usize)>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            scan_functions(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            let rel = path.strip_prefix(root).expect("under the root");
            for (name, line, len) in functions(&text) {
                out.push((rel.display().to_string(), name, line, len));
            }
        }
    }
}

#[test]
fn no_function_grows_past_the_ratchet() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["sim-core/src", "reports/src", "src"] {
        scan_functions(root, &root.join(dir), &mut all);
    }
    let mut problems = Vec::new();
    for (file, name, line, len) in &all {
        let listed = LONG_FUNCTIONS
            .iter()
            .find(|(f, n, _)| f == file && n == name);
        match listed {
            Some(&(_, _, max)) if *len > max => problems.push(format!(
                "{file}:{line}: `{name}` grew to {len} lines (the ratchet allows {max}): split it into named steps"
            )),
            None if *len > FN_LINES_LIMIT => problems.push(format!(
                "{file}:{line}: `{name}` has {len} lines (the limit is {FN_LINES_LIMIT}): split it into named steps"
            )),
            _ => {}
        }
    }
    for (file, name, _) in LONG_FUNCTIONS {
        let longest = all
            .iter()
            .filter(|(f, n, _, _)| f == file && n == name)
            .map(|(_, _, _, len)| *len)
            .max();
        if longest.is_none_or(|len| len <= FN_LINES_LIMIT) {
            problems.push(format!(
                "{file}: `{name}` is no longer over {FN_LINES_LIMIT} lines: take it off LONG_FUNCTIONS"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_function_scan_measures_bodies_not_strings_or_comments() {
    let text = "fn a() {\n    let s = \"}}\"; // }\n    let c = '{';\n}\n\
                pub(crate) fn b<'x>(v: &'x str) -> &'x str {\n    v\n}\n\
                trait T { fn c(&self); }\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 1, 4), ("b".to_string(), 5, 3)]
    );
}
