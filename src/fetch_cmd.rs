//! `cutover fetch-kafka`: fill the jar cache ahead of time, with progress: the brokers' jars,
//! and with `--kind` MirrorMaker 2's (Connect's too) or Kafka Streams' (then the reference
//! Streams application is compiled as well).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use harness::{DistKind, FetchEvent, KafkaDist, KafkaVersion};
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
    /// Which jars: the brokers' (`broker`), MirrorMaker 2's and Kafka Connect's
    /// (`mirrormaker2`), Kafka Streams' (`streams`, and the reference Streams application
    /// compiled with javac); repeat or separate with commas.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "broker")]
    kind: Vec<FetchKind>,
}

/// A cache entry `cutover fetch-kafka` fills.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FetchKind {
    Broker,
    Mirrormaker2,
    Streams,
}

impl FetchKind {
    fn dist(self) -> DistKind {
        match self {
            FetchKind::Broker => DistKind::Broker,
            FetchKind::Mirrormaker2 => DistKind::MirrorMaker2,
            FetchKind::Streams => DistKind::Streams,
        }
    }

    /// How the messages name the entry.
    fn label(self, version: &str) -> String {
        match self {
            FetchKind::Broker => format!("Kafka {version}"),
            FetchKind::Mirrormaker2 => format!("MirrorMaker 2 {version}"),
            FetchKind::Streams => format!("Kafka Streams {version}"),
        }
    }
}

pub async fn run(args: FetchArgs) -> Result<u8> {
    let mut kinds = args.kind.clone();
    kinds.dedup();
    for kind in kinds {
        fetch_one(&args, kind).await?;
    }
    Ok(exit_code::OK)
}

async fn fetch_one(args: &FetchArgs, kind: FetchKind) -> Result<()> {
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
    let artifact = kind.dist().artifact();
    let progress = move |event: FetchEvent| {
        let line = match &event {
            FetchEvent::Cached { version } => format!("{} is already cached", kind.label(version)),
            FetchEvent::Resolving { version } => {
                format!("resolving org.apache.kafka:{artifact}:{version} and its dependencies")
            }
            FetchEvent::Downloaded { file } => {
                let n = downloaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                format!("downloaded {n} files, last {file}")
            }
            FetchEvent::Repairing { version, detail } => {
                format!(
                    "{} cache damaged ({detail}); fetching again",
                    kind.label(version)
                )
            }
            FetchEvent::Done {
                version,
                jars,
                bytes,
            } => format!(
                "{}: {jars} jars, {:.1} MiB cached",
                kind.label(version),
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
    let dist = tokio::task::spawn_blocking(move || {
        KafkaDist::ensure_blocking_kind(kind.dist(), &version, force, &progress)
    })
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
        "{} cached at {} ({} jars, {:.1} MiB)",
        kind.label(&dist.version.to_string()),
        dist.dir.display(),
        dist.manifest.jars.len(),
        dist.manifest.total_bytes() as f64 / (1 << 20) as f64
    );
    if kind == FetchKind::Streams {
        let runtime = harness::StreamsRuntime {
            java: harness::java::JavaRuntime::locate()?,
            dist,
        };
        let app = tokio::task::spawn_blocking(move || runtime.reference_app())
            .await
            .context("the compile task failed")??;
        println!(
            "the reference Streams application is {} at {}",
            if app.compiled { "compiled" } else { "cached" },
            app.classes.display()
        );
    }
    Ok(())
}
