//! `cutover verify`: compare a source and a target cluster record by record, read-only.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use harness::ClientProps;
use indicatif::{ProgressBar, ProgressStyle};
use verify::verdict::{Status, Verdict};
use verify::{
    AnomalyClass, FingerprintOptions, GroupOptions, MatchOptions, Promises, Rename, VerifyOptions,
    VerifyProgress,
};

use crate::exit_code;

#[derive(Args)]
pub struct VerifyArgs {
    /// Java client properties of the source cluster (bootstrap.servers, security.*, sasl.*, ssl.*).
    #[arg(long, required_unless_present = "merge")]
    source: Option<PathBuf>,
    /// Java client properties of the target cluster.
    #[arg(long, required_unless_present = "merge")]
    target: Option<PathBuf>,
    /// Source topics to verify (regex, whole name). Internal topics are always left out.
    #[arg(long, default_value = ".*", conflicts_with = "namespaces")]
    topics: String,
    #[command(flatten)]
    scope: crate::scope_args::ScopeArgs,
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
    /// Write verdict.json and the reports (report.json, junit.xml, summary.md, report.html)
    /// into this directory.
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
    /// Partition numbers are not preserved (a repartitioning copy): every source partition is
    /// matched against every target partition; order is checked among records of one source
    /// partition that landed in one target partition.
    #[arg(long)]
    no_preserve_partitions: bool,
    /// Schema registry of the source topics matching REGEX (`REGEX=URL`, repeatable): framed
    /// values are judged by schema content (schema-unresolved, schema-mismatch).
    #[arg(
        long = "source-registry",
        value_name = "REGEX=URL",
        requires = "target_registry"
    )]
    source_registries: Vec<String>,
    /// The target's schema registry URL (with --source-registry): framed records judged by
    /// schema content, and the source registries verified as merged into it (the report's
    /// registry section; a finding exits 1).
    #[arg(long = "target-registry", value_name = "URL")]
    target_registry: Option<String>,
    /// Duplicates tolerated before the verdict fails (at-least-once systems).
    #[arg(long, default_value_t = 0)]
    allowed_duplicates: u64,
    /// Records removed by the target's retention are expected, not lost.
    #[arg(long)]
    allow_expiry: bool,
    /// Records an open transaction hides (source or target last stable offset below the high
    /// watermark) may stay unjudged; without it they make the verdict UNKNOWN (exit 2).
    #[arg(long)]
    allow_unverified: bool,
    /// Examples kept per anomaly class.
    #[arg(long, default_value_t = 10)]
    examples: usize,
    /// Partitions verified in parallel.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Records held in memory per partition before spilling sorted runs (48 bytes each).
    #[arg(long, default_value_t = 1 << 20)]
    memory_records: usize,
    /// junit.xml (with --report-dir) also gets one test case per topic.
    #[arg(long)]
    junit_per_topic: bool,
    /// Print the verdict as JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Share this verification with the other `cutover verify --group ID` processes: they split
    /// the partitions through consumer group ID on the source (never committing) and each writes
    /// a partial verdict into --report-dir; `--merge` combines them.
    #[arg(long, requires = "report_dir", conflicts_with = "merge")]
    group: Option<String>,
    /// With --group: how long the partition assignment must stay unchanged before checking
    /// starts (a member also stays this long after checking). Start all members within it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    group_settle: Duration,
    /// Combine the partial verdicts of a --group verification (files, or directories holding
    /// partial-*.json) into one verdict; exit 0 clean, 1 anomalies, 2 when a partition is covered
    /// twice or not at all.
    #[arg(long, num_args = 1.., conflicts_with_all = [
        "source", "target", "topics", "rename_prefix", "rename_suffix", "renames", "until",
        "include_timestamps", "exclude_headers", "preserve_offsets", "no_preserve_partitions",
        "allowed_duplicates", "allow_expiry", "allow_unverified", "examples",
    ])]
    merge: Vec<PathBuf>,
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
    if !args.merge.is_empty() {
        return merge(&args);
    }
    let (Some(source), Some(target)) = (&args.source, &args.target) else {
        bail!("--source and --target are required (or --merge)");
    };
    // The namespaces' topics, before any cluster is contacted.
    let topics = args
        .scope
        .topics_regex()?
        .unwrap_or_else(|| args.topics.clone());
    let source = load(source, "source")?;
    let target = load(target, "target")?;
    // A wrong password, an untrusted certificate or an unreachable bootstrap, in words and
    // within the bound, before any reading starts.
    let timeout = std::time::Duration::from_secs(harness::spec::DEFAULT_CONNECT_TIMEOUT_SECS);
    let (s, t) = tokio::join!(
        harness::diagnose::check("source", &source, &[], timeout),
        harness::diagnose::check("target", &target, &[], timeout)
    );
    s?;
    t?;
    let options = VerifyOptions {
        topics,
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
            ignore_headers: args.exclude_headers.clone(),
            allow_unverified: args.allow_unverified,
            ..Promises::default()
        },
        allow_expiry: args.allow_expiry,
        matching: MatchOptions {
            examples_per_class: args.examples,
            check_offsets: args.preserve_offsets,
            check_order: true,
            ..MatchOptions::with_capacity(args.memory_records)
        },
        workers: args.workers,
        schemas: schema_check(&args.source_registries, args.target_registry.as_deref())?,
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
    if let Some(group) = &args.group {
        let member = member_name();
        let group = GroupOptions {
            id: group.clone(),
            settle: args.group_settle,
            join_timeout: Duration::from_secs(300).max(args.group_settle * 10),
            member: member.clone(),
        };
        let partial = verify::verify_partial(&source, &target, &options, &group, progress).await?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let dir = args
            .report_dir
            .as_ref()
            .context("--group needs --report-dir")?;
        let path = write_json(dir, &format!("partial-{member}.json"), &partial)?;
        let total: usize = partial.topics.iter().map(|t| t.partitions.len()).sum();
        let covered: Vec<String> = partial
            .covered
            .iter()
            .map(|(t, ps)| {
                let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
                format!("{t} [{}]", ps.join(", "))
            })
            .collect();
        println!(
            "partial verdict of group {}: {} of {total} partitions ({}) in {}; combine with `cutover verify --merge {}`",
            partial.group,
            partial.results.len(),
            covered.join("; "),
            path.display(),
            dir.display()
        );
        return Ok(exit_code::OK);
    }
    let verdict = verify::verify(&source, &target, &options, progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let props = [("source", &source), ("target", &target)]
        .into_iter()
        .map(|(side, p)| (side.to_string(), p.redacted()))
        .collect();
    let registries = registry_section(&args.source_registries, args.target_registry.as_deref())
        .await?
        .map(|mut section| {
            section.note_records(&verdict);
            section
        });
    report(&args, &verdict, props, registries)
}

/// With `--target-registry`: the given source registries verified as merged into it (like
/// `cutover verify-schemas`), for the report's registry section and the exit code.
async fn registry_section(
    sources: &[String],
    target: Option<&str>,
) -> Result<Option<reports::RegistriesSection>> {
    let Some(target) = target else {
        return Ok(None);
    };
    let mut urls: Vec<String> = sources
        .iter()
        .filter_map(|s| s.split_once('=').map(|(_, url)| url.to_string()))
        .collect();
    urls.dedup();
    let target = target.to_string();
    let verdict = tokio::task::spawn_blocking(move || {
        let clients = urls
            .iter()
            .map(|u| registry::HttpRegistry::new(u))
            .collect::<Result<Vec<_>, _>>()?;
        let target = registry::HttpRegistry::new(&target)?;
        let named: Vec<registry::compare::Named<'_>> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| registry::compare::Named {
                name: format!("source-{}", i + 1),
                registry: c as &dyn registry::SchemaRegistry,
            })
            .collect();
        registry::compare::verify(
            &named,
            &registry::compare::Named {
                name: "target".into(),
                registry: &target,
            },
        )
    })
    .await
    .context("the registry verification task failed")?
    .context("verifying the schema registries")?;
    Ok(Some(scenarios::registries::section_of(&verdict)))
}

/// `--merge`: one verdict from the members' partial verdicts.
fn merge(args: &VerifyArgs) -> Result<u8> {
    let partials = verify::load_partials(&args.merge)?;
    let verdict = verify::merge(&partials)?;
    eprintln!("merged {} partial verdicts", partials.len());
    report(args, &verdict, Default::default(), None)
}

/// The name a verify-only report goes by: the topic selection, or `merge` of partials.
fn verify_name(args: &VerifyArgs) -> String {
    if !args.scope.namespaces.is_empty() {
        format!("namespace {}", args.scope.namespaces.join(","))
    } else if args.merge.is_empty() {
        args.topics.clone()
    } else {
        "merge".to_string()
    }
}

fn rdkafka_version() -> String {
    rdkafka::util::get_rdkafka_version().1
}

/// This process's name in a group: host and pid.
fn member_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{host}-{}", std::process::id())
}

/// Writes `value` as pretty JSON to `dir/name`, atomically (a reader never sees half a file).
fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Writes verdict.json and the reports (with --report-dir), prints the verdict, and maps it
/// to an exit code.
fn report(
    args: &VerifyArgs,
    verdict: &Verdict,
    client_properties: BTreeMap<String, BTreeMap<String, String>>,
    registries: Option<reports::RegistriesSection>,
) -> Result<u8> {
    // Registry findings fail the run as they do in `cutover run`.
    let registry_failures: Vec<reports::Reason> = registries
        .iter()
        .flat_map(|r| r.counts.iter())
        .map(|(kind, n)| {
            reports::Reason::new(
                reports::RunClass::of_registry_finding(kind),
                *n,
                format!("schema registries: {n} {kind}"),
            )
        })
        .collect();
    if let Some(dir) = &args.report_dir {
        let path = write_json(dir, "verdict.json", verdict)?;
        let mut report = reports::RunReport::from_verdict(verify_name(args), verdict.clone());
        report.description = if args.scope.namespaces.is_empty() {
            format!("cutover verify --topics {}", args.topics)
        } else {
            format!(
                "cutover verify --namespace {}",
                args.scope.namespaces.join(" --namespace ")
            )
        };
        report.client_properties = client_properties;
        report.registries = registries.clone();
        if !registry_failures.is_empty() {
            report.failures.extend(registry_failures.iter().cloned());
            if report.outcome == reports::Outcome::Pass {
                report.outcome = reports::Outcome::Fail;
            }
        }
        report.librdkafka_version = Some(rdkafka_version());
        reports::write_all(
            &mut report,
            dir,
            reports::WriteOptions {
                junit: reports::JunitOptions {
                    per_topic: args.junit_per_topic,
                },
            },
        )?;
        eprintln!(
            "wrote {} and report.json, junit.xml, summary.md, report.html beside it",
            path.display()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(verdict)?);
    } else {
        print_summary(verdict);
        if let Some(r) = &registries {
            println!(
                "schema registries: {} — {} of {} subject/version(s) on the target{}",
                r.outcome.to_uppercase(),
                r.matched,
                r.versions,
                if registry_failures.is_empty() {
                    String::new()
                } else {
                    let lines: Vec<&str> = registry_failures
                        .iter()
                        .map(|r| r.detail.as_str())
                        .collect();
                    format!("; {}", lines.join(", "))
                }
            );
        }
    }
    Ok(match verdict.status {
        Status::Pass if !registry_failures.is_empty() => reports::CutoverExitCode::FAILED as u8,
        status => reports::CutoverExitCode::of_status(status) as u8,
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
    if t.unverifiable_compacted > 0 {
        println!(
            "unverifiable (compacted topics: older values or tombstones a log cleaner may have removed on one side): {}",
            t.unverifiable_compacted
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
    for s in &verdict.skipped_topics {
        println!("skipped: {s}");
    }
    for u in verdict.unverified() {
        println!(
            "unverified{}: {u}",
            if verdict.promises.allow_unverified {
                " (allowed)"
            } else {
                ""
            }
        );
    }
    for topic in &verdict.topics {
        for w in &topic.warnings {
            println!("warning: {w}");
        }
        for e in &topic.examples {
            let (src, tgt) = reports::digest::example_positions(e);
            println!(
                "  e.g. {:<16} source {src} target [{}] key {}{}",
                e.class.as_str(),
                tgt,
                e.key_preview.as_deref().unwrap_or("?"),
                e.detail
                    .as_ref()
                    .map_or(String::new(), |d| format!(" ({d})"))
            );
        }
    }
}

/// `--source-registry REGEX=URL…` and `--target-registry URL` → the registry-aware check.
fn schema_check(
    sources: &[String],
    target: Option<&str>,
) -> Result<Option<Arc<verify::schemas::SchemaCheck>>> {
    let Some(target) = target else {
        return Ok(None);
    };
    if sources.is_empty() {
        anyhow::bail!("--target-registry needs at least one --source-registry REGEX=URL");
    }
    let mut out: Vec<(regex::Regex, Arc<dyn registry::SchemaRegistry>)> = Vec::new();
    for s in sources {
        let (re, url) = s.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--source-registry {s:?}: expected REGEX=URL, e.g. 'orders\\..*=http://127.0.0.1:8081/apis/ccompat/v7'")
        })?;
        let re = regex::Regex::new(&format!("^(?:{re})$"))
            .map_err(|e| anyhow::anyhow!("--source-registry: `{re}` is not a valid regex: {e}"))?;
        let client = registry::HttpRegistry::new(url)
            .map_err(|e| anyhow::anyhow!("--source-registry: {e}"))?;
        out.push((re, Arc::new(client)));
    }
    let target = registry::HttpRegistry::new(target)
        .map_err(|e| anyhow::anyhow!("--target-registry: {e}"))?;
    Ok(Some(Arc::new(verify::schemas::SchemaCheck::new(
        out,
        Arc::new(target),
    ))))
}
