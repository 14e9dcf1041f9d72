//! Embeds every scenario under `scenarios/` into the binary, so `kafkasim run NAME` and
//! `kafkasim list` work from anywhere; and records the commit the binary is built from, for
//! `kafkasim --version` (trace hashes depend on the build).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json")
            && !path.to_string_lossy().ends_with(".schema.json")
        {
            // The JSON Schema beside the scenarios is not one (sim_core::scenario::is_scenario_file).
            out.push(path);
        }
    }
}

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let scenarios = root.join("scenarios");
    println!("cargo:rerun-if-changed={}", scenarios.display());
    let mut files = Vec::new();
    collect(&scenarios, &mut files);
    let mut code = String::from(
        "/// Built-in scenarios: (name, path relative to the repository, JSON text).\npub const BUILTIN: &[(&str, &str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let rel = path.strip_prefix(&root).expect("under the root");
        let name = path
            .strip_prefix(&scenarios)
            .expect("under scenarios/")
            .with_extension("");
        let name = name.to_string_lossy().replace('\\', "/");
        let rel = rel.to_string_lossy().replace('\\', "/");
        writeln!(
            code,
            "    ({name:?}, {rel:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
    record_commit(&root);
}

/// Sets `KAFKASIM_COMMIT` to the short hash of the checked-out commit, or `unknown` outside a
/// git checkout (a packaged crate, a source tarball) or without git. A `KAFKASIM_COMMIT` in
/// the build's environment wins (the Dockerfile passes it in, having no `.git`).
fn record_commit(root: &Path) {
    println!("cargo:rerun-if-env-changed=KAFKASIM_COMMIT");
    if let Ok(given) = std::env::var("KAFKASIM_COMMIT")
        && !given.trim().is_empty()
    {
        println!("cargo:rustc-env=KAFKASIM_COMMIT={}", given.trim());
        return;
    }
    let git = root.join(".git");
    if git.exists() {
        // A new commit moves HEAD or the branch it names (loose or packed).
        for watched in ["HEAD", "refs/heads", "packed-refs"] {
            println!("cargo:rerun-if-changed={}", git.join(watched).display());
        }
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && git.exists())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KAFKASIM_COMMIT={commit}");
}
