//! `cutover preflight --source S.properties --target T.properties --topics REGEX`: read-only
//! comparison of two clusters before a migration. Exit 0 clean or warnings only, 1 on any
//! error finding, 2 on bad input or an unreachable cluster.
//!
//! With `--resources PATH` (ns4kafka or Strimzi declarations) instead of `--topics`: every
//! declared topic and ACL on both clusters, a table per namespace; exit 1 when anything
//! declared is missing or different on the target.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use harness::ClientProps;

use crate::exit_code;
use crate::lint_cmd::Format;

#[derive(Args)]
pub struct PreflightArgs {
    /// Java client properties of the source cluster (bootstrap.servers, security.*, sasl.*, ssl.*).
    #[arg(long)]
    source: PathBuf,
    /// Java client properties of the target cluster.
    #[arg(long)]
    target: PathBuf,
    /// Source topics to compare (regex, whole name). Internal topics are always left out.
    #[arg(
        long,
        required_unless_present = "resources",
        conflicts_with = "resources"
    )]
    topics: Option<String>,
    /// ns4kafka or Strimzi resource YAML (files or directories, repeatable): compare every
    /// declared topic (partitions, replication factor, configs) and ACL with both clusters
    /// instead of a topic regex.
    #[arg(long = "resources", value_name = "PATH")]
    resources: Vec<PathBuf>,
    /// The ns4kafka namespace of documents that leave `metadata.namespace` out (as `kafkactl
    /// -n`); with --resources.
    #[arg(long, value_name = "NAME", requires = "resources")]
    namespace: Option<String>,
    /// A source Kafka Connect REST endpoint (`[CLUSTER=]URL`: for ns4kafka's `connectCluster`
    /// CLUSTER, or every cluster); with --resources, the declared connectors are compared with
    /// it. Repeatable.
    #[arg(
        long = "source-connect",
        value_name = "[CLUSTER=]URL",
        requires = "resources"
    )]
    source_connect: Vec<String>,
    /// A target Kafka Connect REST endpoint (`[CLUSTER=]URL`), as --source-connect.
    #[arg(
        long = "target-connect",
        value_name = "[CLUSTER=]URL",
        requires = "resources"
    )]
    target_connect: Vec<String>,
    /// Target topic = PREFIX + source topic.
    #[arg(long, default_value = "")]
    rename_prefix: String,
    /// A migrating principal whose ACLs are checked (e.g. User:replicator); repeatable.
    #[arg(long = "principal", value_name = "PRINCIPAL")]
    principals: Vec<String>,
    /// The replicator's consumer group on the source (the principals need Read on it).
    #[arg(long, value_name = "G")]
    group: Option<String>,
    /// The replicator's transactional ids on the target (prefix; Write + Describe needed).
    #[arg(long, value_name = "P")]
    transactional_id_prefix: Option<String>,
    /// Measured copy throughput in MB/s (a `cargo bench --bench replication` or `cutover run`
    /// figure) for the copy-time estimate.
    #[arg(long, value_name = "F")]
    throughput_mb_per_sec: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the output to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Timeout of reaching each cluster and of each request, in seconds.
    #[arg(long, value_name = "N", default_value_t = 30)]
    timeout_secs: u64,
    /// A source schema registry's Confluent-compatible URL (`[NAME=]URL`; repeat for a merge of
    /// several): reachable, and no subject two sources hold with different content.
    /// `user:password@` in the URL is sent as basic auth, never printed.
    #[arg(long = "source-registry", value_name = "[NAME=]URL")]
    source_registries: Vec<String>,
    /// The target schema registry (`[NAME=]URL`): reachable, and no version already holding
    /// another schema than the sources' at that number.
    #[arg(long = "target-registry", value_name = "[NAME=]URL")]
    target_registry: Option<String>,
}

fn registry_arg(arg: &str, default: String) -> preflight::registries::RegistryArg {
    let (name, url) = crate::registry_cmd::split_named(arg, default);
    preflight::registries::RegistryArg {
        name,
        url: url.to_string(),
    }
}

fn load(path: &Path, side: &str) -> Result<ClientProps> {
    // Parser messages can quote the offending line, secrets and all.
    let props = ClientProps::from_file(path)
        .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))
        .with_context(|| format!("--{side} {}", path.display()))?;
    if props.bootstrap_servers().is_none() {
        bail!(
            "--{side} {}: no bootstrap.servers in the file",
            path.display()
        );
    }
    if let Err(e) = props.to_rdkafka() {
        bail!(
            "--{side} {}: {}",
            path.display(),
            reports::redact::redact_text(&e.to_string())
        );
    }
    Ok(props)
}

fn emit(args: &PreflightArgs, out: String) -> Result<()> {
    match &args.out {
        Some(path) => std::fs::write(path, out)
            .with_context(|| format!("writing --out {}", path.display()))?,
        None => print!("{out}"),
    }
    Ok(())
}

/// `[CLUSTER=]URL` → (cluster, URL); a `=` inside the URL is not a name's.
fn connect_arg(arg: &str) -> (Option<String>, String) {
    match arg.split_once('=') {
        Some((name, url)) if !name.contains("://") => (Some(name.to_string()), url.to_string()),
        _ => (None, arg.to_string()),
    }
}

/// `--resources`: the declarations against both clusters.
async fn run_declared(
    args: &PreflightArgs,
    source: &ClientProps,
    target: &ClientProps,
) -> Result<u8> {
    let decls = declarations::load(&args.resources, args.namespace.as_deref())
        .map_err(|e| anyhow!("{e}"))?;
    let endpoints = preflight::declared::Endpoints {
        source_connect: args.source_connect.iter().map(|a| connect_arg(a)).collect(),
        target_connect: args.target_connect.iter().map(|a| connect_arg(a)).collect(),
        source_registries: args
            .source_registries
            .iter()
            .enumerate()
            .map(|(i, a)| registry_arg(a, format!("source-{}", i + 1)))
            .collect(),
        target_registry: args
            .target_registry
            .as_deref()
            .map(|a| registry_arg(a, "target".into())),
    };
    let report = preflight::declared::preflight_declared(
        source,
        target,
        &decls,
        &endpoints,
        Duration::from_secs(args.timeout_secs.max(1)),
    )
    .await
    .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))?;
    let out = match args.format {
        Format::Text => preflight::declared::text(&report),
        Format::Json => preflight::declared::json(&report) + "\n",
        Format::Junit => preflight::declared::junit(&report)? + "\n",
    };
    emit(args, out)?;
    Ok(if report.has_errors() {
        exit_code::FAILED
    } else {
        exit_code::OK
    })
}

pub async fn run(args: PreflightArgs) -> Result<u8> {
    let source = load(&args.source, "source")?;
    let target = load(&args.target, "target")?;
    let Some(topics) = args.topics.clone() else {
        return run_declared(&args, &source, &target).await;
    };
    let options = preflight::PreflightOptions {
        topics,
        rename_prefix: args.rename_prefix.clone(),
        principals: args.principals.clone(),
        group: args.group.clone(),
        transactional_id_prefix: args.transactional_id_prefix.clone(),
        throughput_mb_per_sec: args.throughput_mb_per_sec,
        timeout: Duration::from_secs(args.timeout_secs.max(1)),
        source_registries: args
            .source_registries
            .iter()
            .enumerate()
            .map(|(i, a)| registry_arg(a, format!("source-{}", i + 1)))
            .collect(),
        target_registry: args
            .target_registry
            .as_deref()
            .map(|a| registry_arg(a, "target".into())),
        ..Default::default()
    };
    let report = preflight::preflight(&source, &target, &options)
        .await
        .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))?;
    let out = match args.format {
        Format::Text => preflight::render::text(&report),
        Format::Json => preflight::render::json(&report) + "\n",
        Format::Junit => preflight::render::junit(&report)? + "\n",
    };
    emit(&args, out)?;
    Ok(if report.has_errors() {
        exit_code::FAILED
    } else {
        exit_code::OK
    })
}
