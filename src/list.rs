//! `kafkasim list`: what this build knows.

use clap::Args;
use serde_json::json;

use sim_core::check::INVARIANTS;
use sim_core::variants::VARIANTS;

use crate::output::println_lossy;
use crate::{CliError, Format, Verdict, builtin};

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// A scenario's name, path and description, read from its JSON.
fn scenarios() -> Vec<(&'static str, &'static str, String)> {
    builtin::BUILTIN
        .iter()
        .map(|(name, path, text)| {
            let description = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v.get("description")
                        .and_then(|d| d.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            (*name, *path, description)
        })
        .collect()
}

pub fn list(args: ListArgs) -> Result<Verdict, CliError> {
    let scenarios = scenarios();
    match args.format {
        Format::Json => {
            let value = json!({
                "scenarios": scenarios.iter().map(|(n, p, d)| json!({"name": n, "path": p, "description": d})).collect::<Vec<_>>(),
                "variants": VARIANTS.iter().map(|v| json!({"name": v.name, "summary": v.summary, "reference": v.reference, "test_only": v.test_only})).collect::<Vec<_>>(),
                "invariants": INVARIANTS.iter().map(|i| json!({"id": i.id, "kind": i.kind, "summary": i.summary, "source": i.source})).collect::<Vec<_>>(),
            });
            println_lossy(&value.to_string());
        }
        Format::Text => {
            println_lossy(&format!(
                "Scenarios ({}), run with `kafkasim run NAME`:",
                scenarios.len()
            ));
            let width = scenarios.iter().map(|s| s.0.len()).max().unwrap_or(0);
            for (name, _, description) in &scenarios {
                let first = description.split(". ").next().unwrap_or("");
                println_lossy(&format!("  {name:width$}  {first}"));
            }
            println_lossy(&format!("\nProtocol variants ({}):", VARIANTS.len()));
            if VARIANTS.is_empty() {
                println_lossy(
                    "  (none yet: they arrive with the KRaft and replication protocol code)",
                );
            }
            for v in VARIANTS {
                println_lossy(&format!("  {}  {} [{}]", v.name, v.summary, v.reference));
            }
            println_lossy(&format!("\nInvariants ({}):", INVARIANTS.len()));
            if INVARIANTS.is_empty() {
                println_lossy("  (none yet: they arrive with the KRaft and replication checkers)");
            }
            for i in INVARIANTS {
                println_lossy(&format!("  {}  {} [{}]", i.id, i.summary, i.source));
            }
        }
    }
    Ok(Verdict::Ok)
}
