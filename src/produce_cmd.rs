//! `cutover produce`: run a workload spec against any cluster (seed a staging cluster before a
//! rehearsal, or measure what a producer setup reaches).

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{bail, Result};
use clap::Args;
use harness::ClientProps;
use workload::{RunOptions, WorkloadSpec};

use crate::exit_code;

#[derive(Args)]
pub struct ProduceArgs {
    /// Bootstrap servers (or give --properties).
    #[arg(long)]
    bootstrap: Option<String>,
    /// Java client properties of the cluster (security settings included).
    #[arg(long)]
    properties: Option<PathBuf>,
    /// The workload spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// Override the spec's record budget.
    #[arg(long)]
    records: Option<u64>,
    /// Override the spec's duration (seconds).
    #[arg(long)]
    duration: Option<f64>,
    /// Override the spec's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Print the report (with per-partition ledger counts) as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ProduceArgs) -> Result<u8> {
    let mut props = match &args.properties {
        Some(path) => ClientProps::from_file(path)?,
        None => ClientProps::new(),
    };
    if let Some(b) = &args.bootstrap {
        props.set("bootstrap.servers", b.clone());
    }
    if props.bootstrap_servers().is_none() {
        bail!("give --bootstrap or --properties with bootstrap.servers");
    }
    let spec = WorkloadSpec::from_file_with(&args.spec, |spec| {
        if args.records.is_some() {
            spec.records = args.records;
        }
        if args.duration.is_some() {
            spec.duration_secs = args.duration;
        }
        if let Some(seed) = args.seed {
            spec.seed = seed;
        }
    })?;
    let options = RunOptions {
        keep_records: false,
        ..RunOptions::default()
    };
    let cancel = options.cancel.clone();
    let mut signals = crate::cluster_cmd::ShutdownSignals::new()?;
    let run = workload::run(&spec, &props, options);
    tokio::pin!(run);
    let report = tokio::select! {
        r = &mut run => r?,
        _ = signals.recv() => {
            eprintln!("stopping: finishing open transactions and flushing");
            cancel.store(true, Ordering::SeqCst);
            run.await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "generated {} records; sent {} (upstream re-sends {}), acked {}, failed {}, committed {}, aborted {}",
            report.generated, report.counts.sent, report.counts.upstream_duplicates, report.counts.acked, report.counts.failed, report.counts.committed, report.counts.aborted
        );
        println!(
            "{:.1} s, {:.0} records/s, {:.2} MB/s",
            report.elapsed_secs, report.records_per_sec, report.mb_per_sec
        );
        for h in &report.hanging {
            println!(
                "hanging transaction on {}-{}: open {:.1} s to {:.1} s, ended by {:?}",
                h.topic, h.partition, h.opened_at_secs, h.ended_at_secs, h.end
            );
        }
    }
    Ok(if report.counts.failed == 0 {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}
