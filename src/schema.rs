//! `kafkasim schema`: the JSON Schema of scenario files, for editors and validators. The same
//! document is checked in as `scenarios/scenario.schema.json` (a test keeps it current).

use clap::Args;

use crate::output::println_lossy;
use crate::{CliError, Verdict};

#[derive(Args, Debug)]
pub struct SchemaArgs {}

pub fn schema(_args: SchemaArgs) -> Result<Verdict, CliError> {
    let text = serde_json::to_string_pretty(&sim_core::scenario::json_schema())
        .expect("a schema serializes");
    println_lossy(&text);
    Ok(Verdict::Ok)
}
