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

/// A built-in scenario as `list` shows it.
struct Listed {
    name: &'static str,
    path: &'static str,
    title: String,
    description: String,
    variants: Vec<String>,
}

/// The built-in scenarios with their titles and descriptions, read from their JSON, in path
/// order (so the course in `teach/` comes in lesson order).
fn scenarios() -> Vec<Listed> {
    builtin::BUILTIN
        .iter()
        .map(|(name, path, text)| {
            let v = serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
            let text_of = |key: &str| v.get(key).and_then(|d| d.as_str()).unwrap_or_default();
            Listed {
                name,
                path,
                title: text_of("title").to_string(),
                description: text_of("description").to_string(),
                variants: v
                    .get("variants")
                    .and_then(|a| a.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The first sentence of a description.
fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(i) => &text[..=i],
        None => text,
    }
}

pub fn list(args: ListArgs) -> Result<Verdict, CliError> {
    let scenarios = scenarios();
    match args.format {
        Format::Json => {
            let value = json!({
                "scenarios": scenarios.iter().map(|s| json!({"name": s.name, "path": s.path, "title": s.title, "description": s.description, "variants": s.variants})).collect::<Vec<_>>(),
                "variants": VARIANTS.iter().map(|v| json!({"name": v.name, "summary": v.summary, "reference": v.reference, "test_only": v.test_only})).collect::<Vec<_>>(),
                "invariants": INVARIANTS.iter().map(|i| json!({"id": i.id, "kind": i.kind, "summary": i.summary, "source": i.source})).collect::<Vec<_>>(),
            });
            crate::output::println_json(&value);
        }
        Format::Text => {
            let (lessons, rest): (Vec<&Listed>, Vec<&Listed>) =
                scenarios.iter().partition(|s| s.name.starts_with("teach/"));
            let (bugs, others): (Vec<&Listed>, Vec<&Listed>) =
                rest.into_iter().partition(|s| s.name.starts_with("bugs/"));
            println_lossy(
                "Learn Kafka failover, lesson by lesson. `kafkasim run NAME --out DIR`, then open\n\
                 DIR/report.html in a browser: step through the lesson (the arrow keys) with the cluster as\n\
                 it was at each moment. `kafkasim explain NAME` tells it in the terminal; `kafkasim compare\n\
                 NAME --set KEY=VALUE` (or, for a lesson with a fix, no --set) shows two runs side by side:",
            );
            for (i, s) in lessons.iter().enumerate() {
                let title = if s.title.is_empty() {
                    first_sentence(&s.description)
                } else {
                    &s.title
                };
                println_lossy(&format!("  {:2}. {title}\n      {}", i + 1, s.name));
            }
            println_lossy(
                "\nHistorical bugs: each shows its bug, and with --without-variants the fix, on one seed\n\
                 (`kafkasim compare NAME` puts the two side by side):",
            );
            let width = bugs.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for s in &bugs {
                println_lossy(&format!("  {:width$}  [{}]", s.name, s.variants.join(", ")));
            }
            println_lossy(&format!("\nOther scenarios ({}):", others.len()));
            let width = others.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for s in &others {
                println_lossy(&format!(
                    "  {:width$}  {}",
                    s.name,
                    first_sentence(&s.description)
                ));
            }
            println_lossy(&format!("\nProtocol variants ({}):", VARIANTS.len()));
            for v in VARIANTS {
                println_lossy(&format!("  {}  {} [{}]", v.name, v.summary, v.reference));
            }
            println_lossy(&format!("\nInvariants ({}):", INVARIANTS.len()));
            for i in INVARIANTS {
                println_lossy(&format!("  {}  {} [{}]", i.id, i.summary, i.source));
            }
        }
    }
    Ok(Verdict::Ok)
}
