//! `cutover sweep`: one scenario once per value of a setting (or per combination of several),
//! same seed, one table — verdict, rebalances, duplicates, lost, delay p99, throughput — in
//! Markdown on stdout and as `sweep.md` and `sweep.json` in the report directory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use scenarios::sweep::{self, Setting, SweepRow};
use scenarios::SystemOverride;

use crate::exit_code;

#[derive(Args)]
pub struct SweepArgs {
    /// The scenario file.
    path: PathBuf,
    /// A dotted path into the scenario and its values: `KEY=V1,V2,…` (quote a key segment that
    /// holds dots: `system.source_properties."receive.buffer.bytes"=32768,1048576`; a number
    /// segment indexes an array: `fault.0.latency_ms=50,400`). Repeat for a grid: every
    /// combination runs.
    #[arg(long = "set", value_name = "KEY=V1,V2,…", required = true)]
    set: Vec<String>,
    /// Where the runs' reports, sweep.md and sweep.json go (default
    /// `target/cutover/sweep-<scenario>-<timestamp>/`).
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Put this system under the scenario (as `cutover run --system`).
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(SystemOverride::NAMES))]
    system: Option<String>,
    /// Build and check every variant, print them, and exit.
    #[arg(long)]
    check: bool,
}

pub async fn run(args: SweepArgs) -> Result<u8> {
    let settings = match args
        .set
        .iter()
        .map(|s| Setting::parse(s))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    let text = match std::fs::read_to_string(&args.path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: reading {}: {e}", args.path.display());
            return Ok(exit_code::ERROR);
        }
    };
    let origin = args.path.display().to_string();
    let mut variants = match sweep::variants(&text, &origin, &settings) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    if let Some(name) = args.system.as_deref() {
        let Some(system) = SystemOverride::parse(name) else {
            eprintln!(
                "error: --system {name}: expected one of {}",
                SystemOverride::NAMES.join(", ")
            );
            return Ok(exit_code::ERROR);
        };
        for v in &mut variants {
            v.scenario.with_system(system);
        }
    }
    if args.check {
        for v in &variants {
            println!("{}: ok ({})", v.label(), v.scenario.scenario.name);
        }
        return Ok(exit_code::OK);
    }
    let name = variants
        .first()
        .map(|v| v.scenario.scenario.name.clone())
        .unwrap_or_default();
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/cutover").join(format!("sweep-{name}-{stamp}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut signals = crate::cluster_cmd::ShutdownSignals::new()?;
    let junit = reports::JunitOptions { per_topic: false };
    let mut rows = Vec::new();
    let mut worst = exit_code::OK;
    for (i, variant) in variants.iter().enumerate() {
        eprintln!("sweep {}/{}: {}", i + 1, variants.len(), variant.label());
        let report_dir = dir.join(format!("{:02}", i + 1));
        match crate::run_cmd::run_one(
            &args.path,
            &variant.scenario,
            &report_dir,
            &mut signals,
            junit,
        )
        .await
        {
            Ok(report) => {
                let aborted = report.outcome == scenarios::Outcome::Aborted;
                rows.push(SweepRow::of(
                    variant,
                    &report,
                    &report_dir.join("report.json").display().to_string(),
                ));
                if aborted {
                    worst = exit_code::ERROR;
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", variant.label());
                worst = exit_code::ERROR;
            }
        }
    }
    let table = sweep::markdown(&settings, &rows);
    std::fs::write(dir.join("sweep.md"), &table)?;
    std::fs::write(
        dir.join("sweep.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "scenario": name,
            "settings": settings.iter().map(|s| &s.key).collect::<Vec<_>>(),
            "rows": rows,
        }))? + "\n",
    )?;
    println!("\n{table}");
    println!("sweep: {} and sweep.json", dir.join("sweep.md").display());
    // A sweep measures: a variant that fails is a finding of the table, not an error of the
    // sweep; it exits 2 only when a variant could not run.
    Ok(worst)
}
