//! `cutover rehearse`: a rehearsal on live clusters (read-only window check of real topics,
//! canary topics only with `allow_writes = true`); same reports and exit codes as `cutover run`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use rehearse::Rehearsal;
use scenarios::RunOptions;

use crate::exit_code;

#[derive(Args)]
pub struct RehearseArgs {
    /// Java client properties of the source cluster (bootstrap.servers, security.protocol,
    /// sasl.*, ssl.*).
    #[arg(long, value_name = "S.properties")]
    source: PathBuf,
    /// Java client properties of the target cluster.
    #[arg(long, value_name = "T.properties")]
    target: PathBuf,
    /// The rehearsal file (TOML): `[rehearsal]` topics, allow_writes, bounds; `[canary]`;
    /// optional `[system]`.
    #[arg(long, value_name = "rehearsal.toml")]
    config: PathBuf,
    /// Where report.json, summary.md, report.html and junit.xml go (default
    /// target/cutover/rehearsal-<time>).
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Seconds connecting to each cluster may take before the problem is reported.
    #[arg(long, default_value_t = harness::spec::DEFAULT_CONNECT_TIMEOUT_SECS)]
    connect_timeout_secs: u64,
    /// With --resources and --namespace: the window check covers the topics the namespaces
    /// own instead of `[rehearsal] topics`.
    #[command(flatten)]
    scope: crate::scope_args::ScopeArgs,
}

pub async fn run(args: RehearseArgs) -> Result<u8> {
    let mut rehearsal = match Rehearsal::load(&args.config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    if let Some(topics) = args.scope.topics_regex()? {
        rehearsal.rehearsal.topics = Some(topics);
    }
    let mut props = Vec::new();
    for path in [&args.source, &args.target] {
        match harness::ClientProps::from_file(path).and_then(|p| p.to_rdkafka().map(|_| p)) {
            Ok(p) => props.push(p),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return Ok(exit_code::ERROR);
            }
        }
    }
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        PathBuf::from("target/cutover").join(format!("{}-{stamp}", rehearsal.rehearsal.name))
    });
    let options = RunOptions {
        cutover_exe: crate::run_cmd::cutover_exe()?,
        report_dir: report_dir.clone(),
        scenario_dir: std::path::absolute(&args.config)
            .with_context(|| format!("resolving {}", args.config.display()))?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
        cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        progress: crate::run_cmd::phase_progress(None),
    };
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let run_log = report_dir.join("run.log");
    crate::run_log::open(&run_log).with_context(|| format!("opening {}", run_log.display()))?;
    eprintln!(
        "rehearsal {} ({}): {}",
        rehearsal.rehearsal.name,
        args.config.display(),
        if rehearsal.rehearsal.allow_writes {
            "canary topics will be written and deleted"
        } else {
            "read-only"
        }
    );
    let mut signals = crate::cluster_cmd::ShutdownSignals::new()?;
    let cancel = options.cancel.clone();
    let running = rehearse::rehearse(
        &rehearsal,
        &props[0],
        &props[1],
        args.connect_timeout_secs,
        &options,
    );
    tokio::pin!(running);
    let result = tokio::select! {
        r = &mut running => r,
        _ = signals.recv() => {
            eprintln!("\ninterrupted: deleting canaries and writing a partial report");
            cancel.store(true, Ordering::Release);
            running.await
        }
    };
    match result {
        Ok(report) => {
            println!(
                "{}",
                crate::run_cmd::outcome_line(&report, "cutover downtime estimate")
            );
            if let Some(r) = &report.rehearsal {
                for t in &r.topics {
                    println!(
                        "  {} → {}: {} window records, {} missing, {} duplicated, lag {}",
                        t.topic,
                        t.target_topic,
                        t.records,
                        t.missing,
                        t.duplicated,
                        t.lag_secs
                            .map_or_else(|| "over the bound".into(), |s| format!("{s:.1} s"))
                    );
                }
            }
            println!(
                "  report: {} (summary.md, report.html, junit.xml beside it)",
                report_dir.join("report.json").display()
            );
            Ok(crate::run_cmd::exit_of(report.outcome))
        }
        Err(e) => {
            eprintln!("error: rehearsal {}: {e}", rehearsal.rehearsal.name);
            Ok(exit_code::ERROR)
        }
    }
}
