//! # preflight — is this pair of clusters ready for a migration?
//!
//! `cutover preflight` compares a source and a target cluster before anything is copied:
//! selected source topics missing on the target, partition counts and topic configs that
//! differ, the ACLs the migrating principals lack on either side, what each cluster is
//! (id, brokers, Kafka version as far as it can be known) and an estimate of the copy time from
//! the source's size and a measured throughput; with schema registries, that each is reachable
//! and that no subject is held differently by two sources ([`registries`]). Every finding has a
//! severity and a fix.
//!
//! It is read-only: it never writes, creates, commits or joins a group on either cluster.
//! Reading is in [`sample`] (sizes), [`version`] (Kafka version) and here (metadata, configs,
//! ACLs); the rules are in [`checks`], the model in [`model`], the views in [`render`].

pub mod checks;
pub mod declared;
pub mod error;
pub mod model;
pub mod registries;
pub mod render;
pub mod sample;
pub mod version;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{AclBinding, AclError, AclFilter, Admin, BackendKind, ClientProps, ClusterSpec};
use regex::Regex;

pub use error::PreflightError;
pub use model::{Check, Finding, PreflightReport, Severity, Side};

use checks::{AclNeeds, TopicState, COMPARED_CONFIGS};
use model::{ClusterInfo, TopicPair, VersionInfo, SCHEMA_VERSION};

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    /// Source topics (regex, whole name); internal topics are left out.
    pub topics: String,
    /// Target topic = prefix + source topic.
    pub rename_prefix: String,
    /// Migrating principals (`User:replicator`) whose ACLs are checked.
    pub principals: Vec<String>,
    /// The replicator's consumer group on the source (needs Read).
    pub group: Option<String>,
    /// The replicator's transactional ids on the target (prefix; need Write + Describe).
    pub transactional_id_prefix: Option<String>,
    /// Measured copy throughput, MB/s.
    pub throughput_mb_per_sec: Option<f64>,
    /// Timeout of each request, and of reaching each cluster.
    pub timeout: Duration,
    /// Records read from each partition's tail to size records.
    pub sample_per_partition: i64,
    /// Total time the size sample may take.
    pub sample_budget: Duration,
    /// Run Kafka's FeatureCommand for the version (a JVM per cluster).
    pub probe_versions: bool,
    /// Source schema registries (a merge when several); checked first.
    pub source_registries: Vec<registries::RegistryArg>,
    /// The target schema registry.
    pub target_registry: Option<registries::RegistryArg>,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        PreflightOptions {
            topics: ".*".into(),
            rename_prefix: String::new(),
            principals: Vec::new(),
            group: None,
            transactional_id_prefix: None,
            throughput_mb_per_sec: None,
            timeout: Duration::from_secs(30),
            sample_per_partition: 200,
            sample_budget: Duration::from_secs(10),
            probe_versions: true,
            source_registries: Vec::new(),
            target_registry: None,
        }
    }
}

fn invalid(option: &str, reason: impl Into<String>) -> PreflightError {
    PreflightError::InvalidOption {
        option: option.into(),
        reason: reason.into(),
    }
}

fn validate(options: &PreflightOptions) -> Result<Regex, PreflightError> {
    let regex = Regex::new(&format!("^(?:{})$", options.topics)).map_err(|e| {
        invalid(
            "--topics",
            format!("`{}` is not a valid regex: {e}", options.topics),
        )
    })?;
    if let Some(t) = options.throughput_mb_per_sec {
        if !(t.is_finite() && t > 0.0) {
            return Err(invalid(
                "--throughput-mb-per-sec",
                format!("must be a positive number, got {t}"),
            ));
        }
    }
    for p in &options.principals {
        if !p
            .split_once(':')
            .is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty())
        {
            return Err(invalid(
                "--principal",
                format!("`{p}` is not TYPE:NAME (e.g. User:replicator)"),
            ));
        }
    }
    Ok(regex)
}

/// Reaches a cluster through the harness's external backend (which classifies unreachable
/// brokers and security errors).
async fn connect(
    side: &'static str,
    props: &ClientProps,
    timeout: Duration,
) -> Result<Admin, PreflightError> {
    let err = |source| PreflightError::Cluster { side, source };
    let mut spec = ClusterSpec::new(side);
    spec.backend = BackendKind::External;
    spec.bootstrap_servers = props.bootstrap_servers().map(str::to_string);
    spec.client_properties = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec.ready_timeout_secs = timeout.as_secs().max(1);
    // The same bound on connecting (the external backend's own default is 30 s).
    spec.connect_timeout_secs = timeout.as_secs().max(1);
    let cluster = harness::start(&spec).await.map_err(err)?;
    Ok(cluster.admin().map_err(err)?.with_timeout(timeout))
}

/// A cluster's side of the comparison.
struct Snapshot {
    admin: Admin,
    topics: BTreeMap<String, usize>,
}

async fn snapshot(
    side: &'static str,
    props: &ClientProps,
    timeout: Duration,
) -> Result<Snapshot, PreflightError> {
    let admin = connect(side, props, timeout).await?;
    let topics = admin
        .describe_all_topics()
        .await
        .map_err(|source| PreflightError::Cluster { side, source })?
        .into_iter()
        .map(|t| (t.name, t.partitions.len()))
        .collect();
    Ok(Snapshot { admin, topics })
}

async fn compared_configs(admin: &Admin, topic: &str) -> Result<BTreeMap<String, String>, String> {
    let all = admin
        .topic_configs(topic)
        .await
        .map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .filter(|(k, _)| COMPARED_CONFIGS.contains(&k.as_str()))
        .collect())
}

async fn cluster_info(
    admin: &Admin,
    props: &ClientProps,
    options: &PreflightOptions,
) -> ClusterInfo {
    let (cluster_id, broker_count) = match admin.describe_cluster().await {
        Ok(d) => (
            Some(d.cluster_id).filter(|id| !id.is_empty()),
            d.broker_count,
        ),
        Err(_) => (
            None,
            admin.broker_ids().await.map(|ids| ids.len()).unwrap_or(0),
        ),
    };
    let kafka_version = if options.probe_versions {
        let props = props.clone();
        let timeout = options.timeout;
        tokio::task::spawn_blocking(move || version::probe(&props, timeout))
            .await
            .unwrap_or_else(|e| VersionInfo {
                value: None,
                note: format!("unknown: the probe failed: {e}"),
            })
    } else {
        VersionInfo {
            value: None,
            note: "unknown: not probed".into(),
        }
    };
    ClusterInfo {
        bootstrap_servers: props.bootstrap_servers().unwrap_or_default().to_string(),
        cluster_id,
        broker_count,
        kafka_version,
        authorizer: "unknown".into(),
    }
}

/// The principal's ACLs (its own and `User:*`'s) on one cluster, or the finding that says why
/// they could not be checked.
async fn principal_acls(admin: &Admin, principal: &str) -> Result<Vec<AclBinding>, AclError> {
    let mut acls = admin
        .describe_acls(&AclFilter::any().principal(principal))
        .await?;
    if principal.starts_with("User:") {
        acls.extend(
            admin
                .describe_acls(&AclFilter::any().principal(harness::acl::WILDCARD_PRINCIPAL))
                .await?,
        );
    }
    Ok(acls)
}

fn cluster_finding(side: Side, severity: Severity, message: String, fix: String) -> Finding {
    Finding {
        check: Check::Cluster,
        severity,
        side,
        topic: None,
        subject: None,
        source_value: None,
        target_value: None,
        message,
        fix,
    }
}

/// Runs every check (read-only) and returns the report; errors only when the options are bad
/// or a cluster cannot be reached.
pub async fn preflight(
    source_props: &ClientProps,
    target_props: &ClientProps,
    options: &PreflightOptions,
) -> Result<PreflightReport, PreflightError> {
    let regex = validate(options)?;
    // Schema registries first: an unreachable one stops the preflight before any cluster.
    let registry_findings = if options.source_registries.is_empty() {
        if options.target_registry.is_some() {
            return Err(invalid(
                "--target-registry",
                "needs at least one --source-registry to compare with",
            ));
        }
        Vec::new()
    } else {
        let (sources, target) = (
            options.source_registries.clone(),
            options.target_registry.clone(),
        );
        tokio::task::spawn_blocking(move || registries::check(&sources, target.as_ref()))
            .await
            .map_err(|e| invalid("--source-registry", format!("the check failed: {e}")))??
    };
    let (source, target) = tokio::join!(
        snapshot("source", source_props, options.timeout),
        snapshot("target", target_props, options.timeout)
    );
    let (source, target) = (source?, target?);

    let selected: Vec<(String, usize)> = source
        .topics
        .iter()
        .filter(|(name, _)| regex.is_match(name) && !verify::reader::is_internal_topic(name))
        .map(|(n, p)| (n.clone(), *p))
        .collect();
    let mut findings = registry_findings;
    let mut pairs = Vec::new();
    for (name, partitions) in &selected {
        let target_name = format!("{}{name}", options.rename_prefix);
        let target_partitions = target.topics.get(&target_name).copied();
        let source_configs = compared_configs(&source.admin, name).await;
        let target_configs = match target_partitions {
            Some(_) => Some(compared_configs(&target.admin, &target_name).await),
            None => None,
        };
        let mut configs_ok = true;
        for (side, result) in [
            (Side::Source, Some(&source_configs)),
            (Side::Target, target_configs.as_ref()),
        ] {
            if let Some(Err(e)) = result {
                configs_ok = false;
                findings.push(Finding {
                    check: Check::Configs,
                    severity: Severity::Warning,
                    side,
                    topic: Some(name.clone()),
                    subject: None,
                    source_value: None,
                    target_value: None,
                    message: format!("configs not compared: describing them failed: {e}"),
                    fix: "grant the preflight principal DescribeConfigs on the topics".into(),
                });
            }
        }
        let state =
            |n: &str, p: usize, c: Option<&Result<BTreeMap<String, String>, String>>| TopicState {
                name: n.to_string(),
                partitions: p,
                configs: c.and_then(|c| c.as_ref().ok()).cloned().unwrap_or_default(),
            };
        let source_state = state(name, *partitions, Some(&source_configs));
        let target_state =
            target_partitions.map(|p| state(&target_name, p, target_configs.as_ref()));
        let mut found = checks::compare_topic(&source_state, &target_name, target_state.as_ref());
        if !configs_ok {
            found.retain(|f| f.check != Check::Configs);
        }
        findings.extend(found);
        pairs.push(TopicPair {
            source: name.clone(),
            target: target_name,
            source_partitions: *partitions,
            target_partitions,
            source_records: 0,
            sampled_records: 0,
            average_record_bytes: None,
        });
    }

    // Sizes (blocking reads of the source's tails).
    let sizes = {
        let props = source_props.clone();
        let topics = selected.clone();
        let (per, budget, timeout) = (
            options.sample_per_partition,
            options.sample_budget,
            options.timeout,
        );
        tokio::task::spawn_blocking(move || sample::sample(&props, &topics, per, budget, timeout))
            .await
    };
    match sizes {
        Ok(Ok(sizes)) => {
            for pair in &mut pairs {
                if let Some(size) = sizes.get(&pair.source) {
                    pair.source_records = size.records;
                    pair.sampled_records = size.sampled_records;
                    pair.average_record_bytes = (size.sampled_records > 0)
                        .then(|| size.sampled_bytes as f64 / size.sampled_records as f64);
                }
            }
        }
        Ok(Err(e)) => findings.push(Finding {
            check: Check::Estimate,
            ..cluster_finding(
                Side::Source,
                Severity::Warning,
                format!("the source could not be sized: {e}"),
                "grant the preflight principal Describe and Read on the selected topics".into(),
            )
        }),
        Err(e) => findings.push(Finding {
            check: Check::Estimate,
            ..cluster_finding(
                Side::Source,
                Severity::Warning,
                format!("sizing the source failed: {e}"),
                String::new(),
            )
        }),
    }
    let estimate = checks::estimate(&pairs, options.throughput_mb_per_sec);

    let (mut source_info, mut target_info) = tokio::join!(
        cluster_info(&source.admin, source_props, options),
        cluster_info(&target.admin, target_props, options)
    );

    // ACLs.
    let needs = AclNeeds {
        group: options.group.clone(),
        transactional_id_prefix: options.transactional_id_prefix.clone(),
    };
    let requirements = checks::requirements(&pairs, &needs);
    for (side, snap, info) in [
        (Side::Source, &source, &mut source_info),
        (Side::Target, &target, &mut target_info),
    ] {
        let side_name = if side == Side::Source {
            "source"
        } else {
            "target"
        };
        for principal in &options.principals {
            match principal_acls(&snap.admin, principal).await {
                Ok(acls) => {
                    info.authorizer = "enabled".into();
                    findings.extend(checks::acl_findings(principal, side, &acls, &requirements));
                }
                Err(AclError::SecurityDisabled { .. }) => {
                    info.authorizer = "disabled".into();
                    findings.push(Finding {
                        check: Check::Acls,
                        ..cluster_finding(
                            side,
                            Severity::Info,
                            format!("the {side_name} has no authorizer configured: ACLs are not enforced, so {principal} may do everything"),
                            "nothing to do for the migration; configure an authorizer if the cluster should enforce ACLs".into(),
                        )
                    });
                    break;
                }
                Err(e) => {
                    findings.push(Finding {
                        check: Check::Acls,
                        subject: Some(principal.clone()),
                        ..cluster_finding(
                            side,
                            Severity::Warning,
                            format!("the ACL check of {principal} on the {side_name} was skipped: {e}"),
                            "run preflight with client properties of a principal that may describe ACLs \
                             (Describe on the Cluster resource), or check the ACLs with kafka-acls.sh --list"
                                .into(),
                        )
                    });
                }
            }
        }
    }

    for (side, info, name) in [
        (Side::Source, &source_info, "source"),
        (Side::Target, &target_info, "target"),
    ] {
        findings.push(cluster_finding(
            side,
            Severity::Info,
            format!(
                "{name}: cluster id {}, {} broker(s), Kafka version {}",
                info.cluster_id.as_deref().unwrap_or("unknown"),
                info.broker_count,
                info.kafka_version.value.as_deref().map_or(
                    info.kafka_version.note.clone(),
                    |v| format!("{v} ({})", info.kafka_version.note)
                ),
            ),
            String::new(),
        ));
    }
    if estimate.source_records > 0 || !pairs.is_empty() {
        findings.push(Finding {
            check: Check::Estimate,
            ..cluster_finding(
                Side::Source,
                Severity::Info,
                render::estimate_line(&estimate),
                String::new(),
            )
        });
    }

    let mut report = PreflightReport {
        schema_version: SCHEMA_VERSION,
        topics_regex: options.topics.clone(),
        rename_prefix: options.rename_prefix.clone(),
        principals: options.principals.clone(),
        source: source_info,
        target: target_info,
        summary: Default::default(),
        topics: pairs,
        estimate,
        findings,
    };
    redact(&mut report);
    report.finish();
    Ok(report)
}

/// Broker and tool messages can echo a configuration: mask `password=…`-like fragments
/// everywhere text is shown.
fn redact(report: &mut PreflightReport) {
    let r = |s: &mut String| *s = reports::redact::redact_text(s);
    for f in &mut report.findings {
        r(&mut f.message);
        r(&mut f.fix);
    }
    r(&mut report.source.kafka_version.note);
    r(&mut report.target.kafka_version.note);
}
