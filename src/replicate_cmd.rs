//! `cutover replicate`: the built-in replicator; `cutover offsets sync`: consumer-group cutover.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use replicator::{Metrics, ReplicatorConfig};

use crate::exit_code;

#[derive(Args)]
pub struct ReplicateArgs {
    /// The replicator configuration (TOML: [replication], [tuning], [source], [target]).
    #[arg(long)]
    config: PathBuf,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

pub async fn run(args: ReplicateArgs) -> Result<u8> {
    let config = match ReplicatorConfig::from_file(&args.config) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    if args.check {
        println!(
            "{}: ok ({:?}, group {})",
            args.config.display(),
            config.mode,
            config.group_id
        );
        return Ok(exit_code::OK);
    }
    // Listen before anything can be asked to stop us.
    let mut signals = crate::cluster_cmd::ShutdownSignals::new()?;
    let metrics = Metrics::new();
    if let Some(addr) = args.metrics_addr {
        let bound = replicator::metrics::serve(addr, metrics.clone())
            .await
            .with_context(|| format!("serving metrics on {addr}"))?;
        tracing::info!(addr = %bound, "metrics at /metrics");
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let engine = {
        let (config, metrics, shutdown) = (config.clone(), metrics.clone(), shutdown.clone());
        tokio::task::spawn_blocking(move || {
            replicator::engine::run(config, metrics, runtime, shutdown)
        })
    };
    tokio::pin!(engine);
    let result = tokio::select! {
        r = &mut engine => r,
        _ = signals.recv() => {
            tracing::info!("signal received: finishing the open transactions (a second signal exits at once)");
            shutdown.store(true, Ordering::Release);
            // Bounded: with a cluster unreachable the batches cannot finish; what was not
            // committed is copied again by the next owner (exactly-once: its fencing aborts
            // the open transactions).
            let budget = std::time::Duration::from_millis(config.tuning.transaction_timeout_ms + 20_000);
            tokio::select! {
                r = &mut engine => r,
                _ = signals.recv() => {
                    eprintln!("second signal: exiting without finishing the open batches");
                    return Ok(exit_code::FAILED);
                }
                _ = tokio::time::sleep(budget) => {
                    eprintln!("error: the open batches did not finish within {} s (is a cluster unreachable?); exiting without them", budget.as_secs());
                    return Ok(exit_code::FAILED);
                }
            }
        }
    };
    let totals = result.context("the replicator thread panicked")??;
    tracing::info!(
        records = totals.records,
        bytes = totals.bytes,
        transactions = totals.transactions_committed,
        aborted = totals.transactions_aborted,
        rebalances = totals.rebalances,
        fenced = totals.fenced,
        "stopped"
    );
    Ok(exit_code::OK)
}

#[derive(Subcommand)]
pub enum OffsetsCommand {
    /// Translate a source consumer group's committed offsets to the target and commit them
    /// there (refuses a group active on the target).
    Sync(SyncArgs),
}

#[derive(Args)]
pub struct SyncArgs {
    /// The replicator configuration that copied the topics.
    #[arg(long)]
    config: PathBuf,
    /// The consumer group to move.
    #[arg(long)]
    group: String,
    /// Print the translation without committing it.
    #[arg(long)]
    dry_run: bool,
    /// Print the translation as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn offsets(command: OffsetsCommand) -> Result<u8> {
    let OffsetsCommand::Sync(args) = command;
    let config = match ReplicatorConfig::from_file(&args.config) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    let runtime = tokio::runtime::Handle::current();
    let (group, dry_run) = (args.group.clone(), args.dry_run);
    let translations = tokio::task::spawn_blocking(move || {
        replicator::offsets::sync_group(&config, &group, dry_run, &runtime)
    })
    .await
    .context("the offsets sync thread panicked")??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&translations)?);
    } else {
        for t in &translations {
            println!(
                "{}-{} @{} -> {}-{} @{}",
                t.topic, t.partition, t.source_offset, t.target_topic, t.partition, t.target_offset
            );
        }
        println!(
            "{} partitions of group {} {}",
            translations.len(),
            args.group,
            if args.dry_run {
                "translated (dry run, nothing committed)"
            } else {
                "committed on the target"
            }
        );
    }
    Ok(exit_code::OK)
}
