//! `kafkasim compare`: one scenario run twice on the same seed, as written and changed (its
//! variants switched off, or configs set with `--set`), written as one comparison page with
//! one time cursor over both runs, where they first diverge and how their outcomes differ.

use clap::Args;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

use sim_core::config::{BrokerConfig, ConsumerConfig, ProducerConfig, TopicConfig};
use sim_core::scenario::{self, Scenario};

use crate::run::{Destination, load_text, plot_options, read_own_trace, run_into};
use crate::{CliError, Verdict, output, resources};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// A scenario file, or the name of a built-in scenario (see `kafkasim list`).
    pub scenario: String,
    /// Seed of both runs (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A Kafka config to change in the second run, `KEY=VALUE` (repeatable): set in every
    /// section of the scenario that has the key (broker, topic, producer, consumer configs),
    /// e.g. `--set min.insync.replicas=1`, `--set acks=1`. Without --set the second run is
    /// the scenario without its variants (its `without` block).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Folder for compare.html and each run's own reports (a/ and b/).
    #[arg(long, default_value = "kafkasim-compare")]
    pub out: PathBuf,
    /// Partitions to draw in the timelines: names (`orders-0,orders-3`) or `all`.
    #[arg(long, value_delimiter = ',')]
    pub partitions: Vec<String>,
    #[command(flatten)]
    pub resources: resources::ResourceArgs,
}

/// `KEY=VALUE`, the value read as JSON when it is JSON (`1`, `true`) and as text otherwise.
fn parse_set(arg: &str) -> Result<(String, Value), CliError> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        CliError::Input(format!(
            "--set {arg:?}: expected KEY=VALUE, e.g. --set min.insync.replicas=1"
        ))
    })?;
    let key = key.trim();
    if key.is_empty() {
        return Err(CliError::Input(format!(
            "--set {arg:?}: the key is empty (expected KEY=VALUE)"
        )));
    }
    let value = value.trim();
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
    Ok((key.to_string(), value))
}

/// The scenario's JSON with each `--set` written into every config section that has the key:
/// the cluster's broker config, each topic's, each producer's and each consumer's.
fn with_sets(text: &str, origin: &str, sets: &[(String, Value)]) -> Result<String, CliError> {
    let mut doc: Value = serde_json::from_str(text)
        .map_err(|e| CliError::Input(format!("{origin}: not JSON: {e}")))?;
    for (key, value) in sets {
        let mut placed = Vec::new();
        let mut set = |section: &mut Value, keys: &[&str], name: String| {
            if !keys.contains(&key.as_str()) {
                return;
            }
            let Some(object) = section.as_object_mut() else {
                return;
            };
            let config = object
                .entry("config")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(config) = config.as_object_mut() {
                config.insert(key.clone(), value.clone());
                placed.push(name);
            }
        };
        if let Some(cluster) = doc.get_mut("cluster") {
            set(cluster, BrokerConfig::KEYS, "cluster.config".into());
            if let Some(topics) = cluster.get_mut("topics").and_then(Value::as_array_mut) {
                for (i, t) in topics.iter_mut().enumerate() {
                    set(t, TopicConfig::KEYS, format!("cluster.topics[{i}].config"));
                }
            }
        }
        if let Some(workload) = doc.get_mut("workload") {
            for (list, keys) in [
                ("producers", ProducerConfig::KEYS),
                ("consumers", ConsumerConfig::KEYS),
            ] {
                if let Some(items) = workload.get_mut(list).and_then(Value::as_array_mut) {
                    for (i, item) in items.iter_mut().enumerate() {
                        set(item, keys, format!("workload.{list}[{i}].config"));
                    }
                }
            }
        }
        if placed.is_empty() {
            return Err(CliError::Input(format!(
                "--set {key}: no config section of {origin} takes this key (a broker, topic, \
                 producer or consumer config key, and the scenario must have that section; see \
                 `kafkasim schema`)"
            )));
        }
    }
    Ok(serde_json::to_string_pretty(&doc).expect("JSON serializes"))
}

/// The two scenarios to run and what to call each.
fn sides(args: &CompareArgs) -> Result<[(Scenario, String, String); 2], CliError> {
    let (text, origin) = load_text(&args.scenario)?;
    let written = scenario::parse(&text, &origin).map_err(|e| CliError::Input(e.to_string()))?;
    let variants = written.variants.join(", ");
    let as_written = if variants.is_empty() {
        "as written".to_string()
    } else {
        format!("as written ({variants})")
    };
    let replay = format!("kafkasim run {origin} --seed {{seed}}");
    if args.sets.is_empty() {
        let fixed = written.without_variants().ok_or_else(|| {
            CliError::Input(format!(
                "{origin}: compare needs --set KEY=VALUE, or a scenario with a \"without\" block \
                 (the bug scenarios and some lessons have one)"
            ))
        })?;
        let off: Vec<&String> = written
            .variants
            .iter()
            .filter(|v| !fixed.variants.contains(v))
            .collect();
        let off: Vec<&str> = off.iter().map(|v| v.as_str()).collect();
        let label = format!("without {}", off.join(", "));
        let fixed_replay = format!("{replay} --without-variants");
        return Ok([(written, as_written, replay), (fixed, label, fixed_replay)]);
    }
    let sets = args
        .sets
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let shown: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let changed_origin = format!("{origin} with --set {}", shown.join(" --set "));
    let changed_text = with_sets(&text, &origin, &sets)?;
    let changed = scenario::parse(&changed_text, &changed_origin)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let label = format!("with {}", shown.join(", "));
    let set_replay = format!(
        "kafkasim compare {origin} --seed {{seed}} --set {}",
        shown.join(" --set ")
    );
    Ok([(written, as_written, replay), (changed, label, set_replay)])
}

pub fn compare(args: CompareArgs) -> Result<Verdict, CliError> {
    let [a, b] = sides(&args)?;
    crate::run::check_partitions(&a.0, &args.partitions)?;
    args.resources.install();
    let origin = args.scenario.clone();
    args.resources.admit(&a.0, &origin)?;
    args.resources.admit(&b.0, &origin)?;
    let seed = args.seed.unwrap_or(a.0.seed);
    output::ensure_dir(&args.out)?;
    // An earlier comparison's page must not outlive the runs it showed if these fail.
    let path = args.out.join("compare.html");
    crate::run::remove_earlier(&path, "the earlier comparison")?;
    let memory_limit = args.resources.memory_limit();
    let mut summaries = Vec::new();
    for ((scenario, _, replay), dir) in [(&a, "a"), (&b, "b")] {
        let replay = replay.replace("{seed}", &seed.to_string());
        crate::run::set_replay(replay.clone());
        let to = Destination {
            dir: &args.out.join(dir),
            partitions: &args.partitions,
            replay: &replay,
            trace_messages: false,
            memory_limit,
        };
        summaries.push(run_into(&to, scenario, &origin, seed, u64::MAX)?);
    }
    let (dir_a, dir_b) = (args.out.join("a"), args.out.join("b"));
    let (trace_a, trace_b) = (
        read_own_trace(&dir_a, memory_limit)?,
        read_own_trace(&dir_b, memory_limit)?,
    );
    let page = reports::render_comparison(
        &reports::Side {
            summary: &summaries[0],
            scenario: &a.0,
            trace: &trace_a,
            label: a.1.clone(),
            replay: a.2.replace("{seed}", &seed.to_string()),
        },
        &reports::Side {
            summary: &summaries[1],
            scenario: &b.0,
            trace: &trace_b,
            label: b.1.clone(),
            replay: b.2.replace("{seed}", &seed.to_string()),
        },
        &plot_options(&a.0, seed, &args.partitions),
        |ma, mb| {
            let open = |dir: &Path| {
                std::fs::File::open(dir.join("trace.jsonl")).map(std::io::BufReader::new)
            };
            reports::compare::divergence(open(&dir_a)?, open(&dir_b)?, ma, mb)
        },
    )
    .map_err(|e| CliError::Output(e.to_string()))?;
    output::write_whole(&path, page.as_bytes())?;
    print_summary(&args.out, &path, [&a.1, &b.1], &summaries);
    Ok(Verdict::Ok)
}

/// What a terminal shows: each run's outcome in a line, and where the page is.
fn print_summary(
    out: &Path,
    page: &Path,
    labels: [&String; 2],
    summaries: &[sim_core::world::RunSummary],
) {
    for (label, s) in labels.iter().zip(summaries) {
        let mut invariants: Vec<&str> = Vec::new();
        for v in &s.violations {
            if !invariants.contains(&v.invariant) {
                invariants.push(v.invariant);
            }
        }
        output::println_lossy(&format!(
            "{label}: {} batches acknowledged, {} acks=all records lost, {} violation(s){}",
            s.clients.sends_ok,
            s.clients.acked_writes_lost,
            s.violations.len(),
            if invariants.is_empty() {
                String::new()
            } else {
                format!(" ({})", invariants.join(", "))
            }
        ));
    }
    output::println_lossy(&format!(
        "wrote     {} (open it in a browser: both runs under one time cursor)\n          \
         each run's own reports in {} and {}",
        output::shown_path(page),
        output::shown_path(&out.join("a")),
        output::shown_path(&out.join("b"))
    ));
}
