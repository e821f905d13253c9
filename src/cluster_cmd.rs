//! `cutover cluster up`: start clusters, print how to reach them, tear down on Ctrl-C/SIGTERM.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use harness::{BackendKind, Cluster, ClusterSpec, KafkaVersion};

use crate::exit_code;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Starts a cluster (or a source+target pair), prints its bootstrap servers and stays up
    /// until Ctrl-C or SIGTERM, then removes everything it started.
    Up(UpArgs),
}

#[derive(Args)]
pub struct UpArgs {
    /// Brokers per cluster (each a combined KRaft broker+controller).
    #[arg(long, default_value_t = 1)]
    brokers: u32,
    /// Apache Kafka version (4.x).
    #[arg(long, default_value = harness::DEFAULT_KAFKA_VERSION)]
    kafka_version: KafkaVersion,
    /// Backend that runs the brokers.
    #[arg(long, value_enum, default_value = "process")]
    backend: Backend,
    /// Cluster name (temp dirs, logs).
    #[arg(long, default_value = "cluster")]
    name: String,
    /// Client port of the first broker (the next brokers take the next ports); free ports
    /// are picked when unset.
    #[arg(long)]
    port: Option<u16>,
    /// Broker config override, `key=value`, repeatable.
    #[arg(long = "broker-config", value_parser = parse_kv)]
    broker_config: Vec<(String, String)>,
    /// Start a `source` and a `target` cluster side by side instead of one.
    #[arg(long)]
    pair: bool,
    /// Kafka version of the target when `--pair` (defaults to --kafka-version).
    #[arg(long, requires = "pair")]
    target_version: Option<KafkaVersion>,
    /// Container image (container backend).
    #[arg(long)]
    image: Option<String>,
    /// Keep the temp dirs (logs, data) after teardown.
    #[arg(long)]
    keep: bool,
    /// Seconds to wait for readiness.
    #[arg(long, default_value_t = 90)]
    ready_timeout: u64,
    /// Start, report, and tear down at once (for scripts and timing).
    #[arg(long)]
    exit_when_ready: bool,
    /// `ssl` (TLS, per-run CA) or `sasl_ssl` (TLS + SASL SCRAM-SHA-512/PLAIN, ACLs enforced,
    /// super user `cutover-admin`). Client properties files are written into the cluster dir
    /// (mode 0600) and their paths printed.
    #[arg(long, value_enum, default_value = "plaintext")]
    security: Security,
    /// An extra SASL user (sasl_ssl), password generated; repeatable. Users have no ACLs
    /// until granted (`kafka-acls --command-config <admin properties>`).
    #[arg(long = "user", requires = "security")]
    users: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Security {
    Plaintext,
    Ssl,
    #[value(name = "sasl_ssl", alias = "sasl-ssl")]
    SaslSsl,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Backend {
    Process,
    Container,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got `{s}`"))
}

pub async fn run(command: ClusterCommand) -> Result<u8> {
    match command {
        ClusterCommand::Up(args) => up(args).await,
    }
}

fn spec_for(args: &UpArgs, name: &str, version: KafkaVersion) -> ClusterSpec {
    let mut spec = ClusterSpec::new(name)
        .brokers(args.brokers)
        .version(version)
        .backend(match args.backend {
            Backend::Process => BackendKind::Process,
            Backend::Container => BackendKind::Container,
        });
    for (k, v) in &args.broker_config {
        spec.broker_config.insert(k.clone(), v.clone());
    }
    spec.security = match args.security {
        Security::Plaintext => harness::SecurityProtocol::Plaintext,
        Security::Ssl => harness::SecurityProtocol::Ssl,
        Security::SaslSsl => harness::SecurityProtocol::SaslSsl,
    };
    for user in &args.users {
        spec = spec.user(user.clone(), None);
    }
    spec.image = args.image.clone();
    spec.keep = args.keep;
    spec.ready_timeout_secs = args.ready_timeout;
    spec
}

async fn up(args: UpArgs) -> Result<u8> {
    let mut signals = ShutdownSignals::new()?;
    let mut specs = Vec::new();
    if args.pair {
        let mut source = spec_for(&args, "source", args.kafka_version.clone());
        let mut target = spec_for(
            &args,
            "target",
            args.target_version
                .clone()
                .unwrap_or(args.kafka_version.clone()),
        );
        if let Some(port) = args.port {
            source.ports = (0..args.brokers).map(|i| port + i as u16).collect();
            target.ports = (0..args.brokers)
                .map(|i| port + (args.brokers + i) as u16)
                .collect();
        }
        specs.push(source);
        specs.push(target);
    } else {
        let mut spec = spec_for(&args, &args.name, args.kafka_version.clone());
        if let Some(port) = args.port {
            spec.ports = (0..args.brokers).map(|i| port + i as u16).collect();
        }
        specs.push(spec);
    }

    let started = Instant::now();
    let starting = start_all(specs.iter());
    let clusters = tokio::select! {
        result = starting => result?,
        _ = signals.recv() => {
            eprintln!("interrupted while starting; everything started so far is torn down");
            return Ok(exit_code::ERROR);
        }
    };
    let elapsed = started.elapsed();
    for cluster in &clusters {
        println!(
            "{}: bootstrap.servers={}  (Kafka {}, {} backend)",
            cluster.name(),
            cluster.bootstrap_servers(),
            cluster.kafka_version().unwrap_or_default(),
            cluster.backend()
        );
        for broker in cluster.brokers() {
            println!(
                "  broker {} at {} pid={} log={}",
                broker.node_id,
                broker.address,
                broker.pid.map_or("-".into(), |p| p.to_string()),
                broker.log.map_or("-".into(), |p| p.display().to_string())
            );
        }
        if let Some(dir) = cluster.work_dir() {
            println!(
                "  dir {}{}",
                dir.display(),
                if args.keep { " (kept)" } else { "" }
            );
            if args.security != Security::Plaintext {
                let mut files = vec![(harness::ADMIN_USER.to_string(), cluster.client_props())];
                for user in &args.users {
                    files.push((user.clone(), cluster.client_props_as(user)?));
                }
                for (user, props) in files {
                    let path = dir.join(format!("client-{user}.properties"));
                    scenarios::system::write_private(
                        &path,
                        &scenarios::system::properties_text(&props),
                    )?;
                    println!("  client properties ({user}): {}", path.display());
                }
            }
        }
    }
    println!("ready in {:.1} s", elapsed.as_secs_f64());
    if !args.exit_when_ready {
        println!("press Ctrl-C to stop");
        signals.recv().await;
        eprintln!("stopping");
    }
    for cluster in &clusters {
        cluster
            .shutdown()
            .await
            .with_context(|| format!("stopping cluster {}", cluster.name()))?;
    }
    Ok(exit_code::OK)
}

/// Starts every spec concurrently; on the first failure the others are dropped (torn down).
async fn start_all<'a>(
    specs: impl Iterator<Item = &'a ClusterSpec>,
) -> Result<Vec<Box<dyn Cluster>>> {
    let mut set = tokio::task::JoinSet::new();
    // A spinner on a terminal while the brokers start (a cold start fetches the jars first);
    // nothing otherwise, the lines printed once ready say it all.
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let mut names = Vec::new();
    for (index, spec) in specs.enumerate() {
        names.push(format!(
            "{} ({} broker(s), Kafka {})",
            spec.name, spec.brokers, spec.kafka_version
        ));
        let spec = spec.clone();
        set.spawn(async move { (index, harness::start(&spec).await) });
    }
    if let Some(bar) = &bar {
        bar.set_message(format!("starting {}", names.join(", ")));
    }
    let mut clusters: Vec<(usize, Box<dyn Cluster>)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "starting {} ({} of {} ready)",
                names.join(", "),
                clusters.len(),
                names.len()
            ));
        }
        let (index, result) = joined.context("a cluster start task failed")?;
        let cluster = result?;
        clusters.push((index, cluster));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    clusters.sort_by_key(|(i, _)| *i);
    Ok(clusters.into_iter().map(|(_, c)| c).collect())
}

/// Ctrl-C (SIGINT) and SIGTERM, listened to from creation on: a signal that arrives before
/// anybody awaits it is still seen (a listener created later would miss it), so create this
/// before announcing anything a user or a test may answer with a signal.
pub struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub fn new() -> Result<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Resolves on the next Ctrl-C or SIGTERM (or one already received).
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
