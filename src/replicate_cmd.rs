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
    /// Translate source consumer groups' committed offsets to the target and commit them there
    /// (`--group` repeated, `--group-regex`, `--all-groups`, or the groups `--namespace` owns
    /// by `--resources`; a group active on the target is refused). Exit 0 all moved, 1 a
    /// translation failed, 2 bad input or a group refused.
    Sync(SyncArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["group", "group_regex", "all_groups", "namespaces"])))]
pub struct SyncArgs {
    /// The replicator configuration that copied the topics.
    #[arg(long)]
    config: PathBuf,
    /// A consumer group to move (repeat for several).
    #[arg(long)]
    group: Vec<String>,
    /// Every source group whose name matches this regex (anchored) and that has committed
    /// offsets on the replicated topics.
    #[arg(long, value_name = "REGEX")]
    group_regex: Option<String>,
    /// Every source group with committed offsets on the replicated topics.
    #[arg(long)]
    all_groups: bool,
    /// With --resources and --namespace: every source group the namespaces own (ns4kafka
    /// OWNER entries of type GROUP, literal or prefixed; Strimzi Read rules on groups) that has
    /// committed offsets on the replicated topics.
    #[command(flatten)]
    scope: crate::scope_args::ScopeArgs,
    /// Print the translation without committing it.
    #[arg(long)]
    dry_run: bool,
    /// Print the translation as JSON (one object per group: group, outcome, partitions).
    #[arg(long)]
    json: bool,
}

/// `cutover offsets sync`: exit 0 when every selected group moved (or would, in a dry run),
/// 1 when a group's translation failed (the copy is not where it should be), 2 on bad input
/// or when a group was refused because it is live on the target.
pub async fn offsets(command: OffsetsCommand) -> Result<u8> {
    use replicator::offsets::{GroupSelection, SyncOutcome};
    let OffsetsCommand::Sync(args) = command;
    // The namespaces' groups, before anything is read.
    let owned = match args.scope.groups_regex() {
        Ok(owned) => owned,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    let config = match ReplicatorConfig::from_file(&args.config) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    let selection = if let Some(re) = owned {
        match regex::Regex::new(&format!("^(?:{re})$")) {
            Ok(r) => GroupSelection::Matching(r),
            Err(e) => {
                eprintln!(
                    "error: --namespace: the groups' pattern is not a regular expression: {e}"
                );
                return Ok(exit_code::ERROR);
            }
        }
    } else if let Some(re) = &args.group_regex {
        match regex::Regex::new(&format!("^(?:{re})$")) {
            Ok(r) => GroupSelection::Matching(r),
            Err(e) => {
                eprintln!("error: --group-regex: not a regular expression: {e}");
                return Ok(exit_code::ERROR);
            }
        }
    } else if args.all_groups {
        GroupSelection::All
    } else {
        GroupSelection::Named(args.group.clone())
    };
    let runtime = tokio::runtime::Handle::current();
    let dry_run = args.dry_run;
    let groups = tokio::task::spawn_blocking(move || {
        replicator::offsets::sync_groups(&config, &selection, dry_run, &runtime)
    })
    .await
    .context("the offsets sync thread panicked")??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
    } else {
        for g in &groups {
            for t in &g.partitions {
                println!(
                    "{} {}-{} @{} -> {}-{} @{}",
                    g.group,
                    t.topic,
                    t.partition,
                    t.source_offset,
                    t.target_topic,
                    t.partition,
                    t.target_offset
                );
            }
            let line = format!(
                "{} partitions of group {} {}",
                g.partitions.len(),
                g.group,
                g.outcome
            );
            if g.ok() {
                println!("{line}");
            } else {
                eprintln!("error: {line}");
            }
        }
    }
    let failed = groups
        .iter()
        .filter(|g| matches!(g.outcome, SyncOutcome::Failed { .. }))
        .count();
    let refused = groups
        .iter()
        .filter(|g| matches!(g.outcome, SyncOutcome::ActiveOnTarget { .. }))
        .count();
    if groups.len() > 1 && !args.json {
        println!(
            "{} of {} groups moved{}",
            groups.len() - failed - refused,
            groups.len(),
            if dry_run { " (dry run)" } else { "" }
        );
    }
    Ok(if failed > 0 {
        exit_code::FAILED
    } else if refused > 0 {
        exit_code::ERROR
    } else {
        exit_code::OK
    })
}
