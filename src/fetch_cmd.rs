//! `cutover fetch-kafka`: fill the jar cache ahead of time, with progress.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use harness::{FetchEvent, KafkaDist, KafkaVersion};
use indicatif::{ProgressBar, ProgressStyle};

use crate::exit_code;

#[derive(Args)]
pub struct FetchArgs {
    /// Apache Kafka version (4.x).
    #[arg(long, default_value = harness::DEFAULT_KAFKA_VERSION)]
    kafka_version: KafkaVersion,
    /// Fetch again even if the cache holds this version.
    #[arg(long)]
    force: bool,
    /// Re-hash every cached jar against the manifest.
    #[arg(long)]
    verify: bool,
}

pub async fn run(args: FetchArgs) -> Result<u8> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    } else {
        None
    };
    let progress_bar = bar.clone();
    let downloaded = std::sync::atomic::AtomicUsize::new(0);
    let progress = move |event: FetchEvent| {
        let line = match &event {
            FetchEvent::Cached { version } => format!("Kafka {version} is already cached"),
            FetchEvent::Resolving { version } => {
                format!("resolving org.apache.kafka:kafka_2.13:{version} and its dependencies")
            }
            FetchEvent::Downloaded { file } => {
                let n = downloaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                format!("downloaded {n} files, last {file}")
            }
            FetchEvent::Repairing { version, detail } => {
                format!("Kafka {version} cache damaged ({detail}); fetching again")
            }
            FetchEvent::Done {
                version,
                jars,
                bytes,
            } => format!(
                "Kafka {version}: {jars} jars, {:.1} MiB cached",
                *bytes as f64 / (1 << 20) as f64
            ),
        };
        match &progress_bar {
            Some(bar) => bar.set_message(line),
            None if !matches!(event, FetchEvent::Downloaded { .. }) => eprintln!("{line}"),
            None => {}
        }
    };
    let version = args.kafka_version.clone();
    let force = args.force;
    let dist =
        tokio::task::spawn_blocking(move || KafkaDist::ensure_blocking(&version, force, &progress))
            .await
            .context("the fetch task failed")??;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.verify {
        dist.verify_hashes()?;
        println!(
            "verified {} jars against their SHA-256",
            dist.manifest.jars.len()
        );
    }
    println!(
        "Kafka {} cached at {} ({} jars, {:.1} MiB)",
        dist.version,
        dist.dir.display(),
        dist.manifest.jars.len(),
        dist.manifest.total_bytes() as f64 / (1 << 20) as f64
    );
    Ok(exit_code::OK)
}
