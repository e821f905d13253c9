//! `cutover verify`: compare a source and a target cluster record by record, read-only.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use harness::ClientProps;
use indicatif::{ProgressBar, ProgressStyle};
use verify::verdict::{Status, Verdict};
use verify::{
    AnomalyClass, FingerprintOptions, MatchOptions, Promises, Rename, VerifyOptions, VerifyProgress,
};

use crate::exit_code;

#[derive(Args)]
pub struct VerifyArgs {
    /// Java client properties of the source cluster (bootstrap.servers, security.*, sasl.*, ssl.*).
    #[arg(long)]
    source: PathBuf,
    /// Java client properties of the target cluster.
    #[arg(long)]
    target: PathBuf,
    /// Source topics to verify (regex, whole name). Internal topics are always left out.
    #[arg(long, default_value = ".*")]
    topics: String,
    /// Target topic = PREFIX + source topic (+ suffix).
    #[arg(long, default_value = "")]
    rename_prefix: String,
    /// Target topic = (prefix +) source topic + SUFFIX.
    #[arg(long, default_value = "")]
    rename_suffix: String,
    /// Explicit rename `source=target`, repeatable; wins over prefix/suffix.
    #[arg(long = "rename", value_parser = parse_rename)]
    renames: Vec<(String, String)>,
    /// Verify records up to this time (RFC 3339, e.g. 2026-11-25T10:00:00Z, or epoch ms)
    /// instead of the high watermark captured at start.
    #[arg(long, value_parser = parse_until)]
    until: Option<i64>,
    /// Write verdict.json into this directory.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Timestamps are preserved by the copy: include them in fingerprints.
    #[arg(long)]
    include_timestamps: bool,
    /// Header a replicator adds by design, left out of fingerprints; repeatable.
    #[arg(long = "exclude-header")]
    exclude_headers: Vec<String>,
    /// Offsets are preserved by the copy (Cluster Linking style): count offset mismatches.
    #[arg(long)]
    preserve_offsets: bool,
    /// Partition numbers are not preserved: no moved-partition pairing.
    #[arg(long)]
    no_preserve_partitions: bool,
    /// Duplicates tolerated before the verdict fails (at-least-once systems).
    #[arg(long, default_value_t = 0)]
    allowed_duplicates: u64,
    /// Records removed by the target's retention are expected, not lost.
    #[arg(long)]
    allow_expiry: bool,
    /// Examples kept per anomaly class.
    #[arg(long, default_value_t = 10)]
    examples: usize,
    /// Partitions verified in parallel.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Records held in memory per partition before spilling sorted runs (48 bytes each).
    #[arg(long, default_value_t = 1 << 20)]
    memory_records: usize,
    /// Print the verdict as JSON instead of the summary.
    #[arg(long)]
    json: bool,
}

fn parse_rename(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("expected source=target, got `{s}`"))
}

fn parse_until(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("`{s}` is neither epoch milliseconds nor RFC 3339: {e}"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .map_err(|e| e.to_string())
        })
}

fn load(path: &std::path::Path, side: &str) -> Result<ClientProps> {
    let props = ClientProps::from_file(path).with_context(|| format!("--{side}"))?;
    if props.bootstrap_servers().is_none() {
        bail!(
            "--{side} {}: no bootstrap.servers in the file",
            path.display()
        );
    }
    Ok(props)
}

pub async fn run(args: VerifyArgs) -> Result<u8> {
    let source = load(&args.source, "source")?;
    let target = load(&args.target, "target")?;
    let options = VerifyOptions {
        topics: args.topics.clone(),
        rename: Rename {
            prefix: args.rename_prefix.clone(),
            suffix: args.rename_suffix.clone(),
            map: args.renames.iter().cloned().collect(),
        },
        until_ms: args.until,
        fingerprint: FingerprintOptions {
            include_timestamp: args.include_timestamps,
            exclude_headers: args.exclude_headers.clone(),
        },
        promises: Promises {
            partitions: !args.no_preserve_partitions,
            order: true,
            offsets: args.preserve_offsets,
            timestamps: args.include_timestamps,
            allowed_duplicates: args.allowed_duplicates,
        },
        allow_expiry: args.allow_expiry,
        matching: MatchOptions {
            capacity: args.memory_records,
            examples_per_class: args.examples,
            check_offsets: args.preserve_offsets,
            check_order: true,
            ..MatchOptions::default()
        },
        workers: args.workers,
        ..VerifyOptions::default()
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} verify {pos}/{len} partitions {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(150));
        bar
    });
    let bar_for_progress = bar.clone();
    let progress = Arc::new(
        move |event: VerifyProgress| match (&bar_for_progress, event) {
            (Some(bar), VerifyProgress::Planned { partitions }) => {
                bar.set_length(partitions as u64)
            }
            (
                Some(bar),
                VerifyProgress::PartitionDone {
                    topic, partition, ..
                },
            ) => {
                bar.inc(1);
                bar.set_message(format!("{topic}-{partition}"));
            }
            (None, VerifyProgress::Planned { partitions }) => {
                eprintln!("verifying {partitions} partitions")
            }
            (None, VerifyProgress::PartitionDone { .. }) => {}
        },
    );
    let verdict = verify::verify(&source, &target, &options, progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(dir) = &args.report_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("verdict.json");
        std::fs::write(&path, serde_json::to_string_pretty(&verdict)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        print_summary(&verdict);
    }
    Ok(match verdict.status {
        Status::Pass => exit_code::OK,
        Status::Fail => exit_code::FAILED,
        Status::Unknown => exit_code::ERROR,
    })
}

fn print_summary(verdict: &Verdict) {
    let t = &verdict.tally;
    println!(
        "{}: {} topics, {} source records ({} aborted), {} target records, {} matched, {:.1} MiB compared in {:.1} s",
        match verdict.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKNOWN",
        },
        verdict.topics.len(),
        t.source_records,
        t.source_aborted,
        t.target_records,
        t.matched,
        t.bytes_compared as f64 / (1 << 20) as f64,
        verdict.duration_ms as f64 / 1000.0
    );
    println!(
        "upstream duplicates (already in the source, not replication's doing): {}",
        t.upstream_duplicates
    );
    if t.unverifiable_expired + t.expired_allowed > 0 {
        println!(
            "unverifiable (expired at source): {}; expired at target (allowed): {}",
            t.unverifiable_expired, t.expired_allowed
        );
    }
    for class in AnomalyClass::ALL {
        let n = verdict.counts.get(class);
        if n > 0 {
            let topics: Vec<String> = verdict
                .topics
                .iter()
                .filter(|tv| tv.counts.get(class) > 0)
                .map(|tv| format!("{} {}", tv.source_topic, tv.counts.get(class)))
                .collect();
            println!("  {:<21} {n:>10}   ({})", class.as_str(), topics.join(", "));
        }
    }
    for topic in &verdict.topics {
        for w in &topic.warnings {
            println!("warning: {w}");
        }
        for e in &topic.examples {
            let src = e.source.as_ref().map_or("-".to_string(), |p| {
                format!("{}-{}@{}", p.topic, p.partition, p.offset)
            });
            let tgt: Vec<String> = e
                .target
                .iter()
                .map(|p| format!("{}-{}@{}", p.topic, p.partition, p.offset))
                .collect();
            println!(
                "  e.g. {:<16} source {src} target [{}] key {}{}",
                e.class.as_str(),
                tgt.join(", "),
                e.key_preview.as_deref().unwrap_or("?"),
                e.detail
                    .as_ref()
                    .map_or(String::new(), |d| format!(" ({d})"))
            );
        }
    }
}
