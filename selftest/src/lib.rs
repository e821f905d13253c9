//! # selftest — cutover checks itself (`cutover selftest`)
//!
//! Starts a disposable source and target cluster (harness), produces a workload with aborted
//! transactions to a source topic (workload) and three small ones (upstream re-sends,
//! compacted, values in the schema wire format: [`schemas`]), and copies them with built-in
//! copiers ([`copier`]): faithful ones, and one for each way a copy goes wrong — drops,
//! duplicates, reads uncommitted, reorders, alters values, moves records to another
//! partition, copies only the partitions the topic had when it started (the main source topic
//! is created with 3 partitions and grown to 5 before the workload writes, which spreads
//! records over all 5), invents phantoms, moves records beyond the in-order window, shifts
//! offsets, repartitions, diverges a compacted key, duplicates next to upstream re-sends,
//! breaks schema ids, and a mix checked with a tiny memory so sorted runs spill. Each copier
//! counts what it broke, every class, and the identical records it read; the checker
//! (`verify`, set up for the case: offsets promised, whole-topic mode, a small window or
//! memory, schema registries) must report exactly those classes with exactly those counts and
//! nothing else, the upstream duplicates apart, and the faithful copies must pass.
//!
//! Then the system under test as processes ([`processes`]): two `command` systems whose wrapper
//! script runs the copier without `exec`, through `cutover run` as a user runs them — a crash
//! must reach the wrapper and its copier (the run passes), a sidecar that leaves the
//! instance's process group must fail the run with exactly one `process-survived`; nothing of
//! either may outlive its run.
//!
//! It never touches a cluster it did not start: both clusters are its own, removed on every
//! path.

pub mod copier;
mod more;
pub mod processes;
pub mod schemas;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{ClientProps, ClusterSpec, KafkaVersion, TopicSpec};
use verify::{Counts, MatchOptions, Rename, Status, VerifyOptions};

pub use copier::{Broke, Copier};

/// Why the selftest could not run (exit 2), as opposed to a copier not caught (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
    #[error("workload: {0}")]
    Workload(#[from] workload::WorkloadError),
    #[error("checker: {0}")]
    Verify(#[from] verify::VerifyError),
    #[error("copier: {0}")]
    Kafka(String),
    #[error("a copier thread failed: {0}")]
    Join(String),
    #[error("process case {0}")]
    Process(String),
}

/// What the selftest runs.
#[derive(Debug, Clone)]
pub struct SelftestOptions {
    /// Records the workload produces (aborted ones included).
    pub records: u64,
    /// Kafka version of both clusters (the default when None).
    pub kafka_version: Option<String>,
    /// Bound on each copier's read and write.
    pub timeout: Duration,
    /// The `cutover` binary, for the process cases (`cutover run` of a `command` system);
    /// None skips them, saying so.
    pub cutover_exe: Option<std::path::PathBuf>,
}

impl Default for SelftestOptions {
    fn default() -> Self {
        SelftestOptions {
            records: 3_000,
            kafka_version: None,
            timeout: Duration::from_secs(60),
            cutover_exe: None,
        }
    }
}

/// The source topic the workload writes.
pub const SOURCE_TOPIC: &str = "selftest";
/// Partitions of the source topic when it is created (what a copier started then saw).
const PARTITIONS: i32 = 3;
/// Partitions of the source topic once grown, before the workload writes.
const GROWN_PARTITIONS: i32 = 5;

/// One copier's line: what it broke, what the checker found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    pub copier: String,
    /// Every class it broke, with the records it broke (empty: it must pass).
    pub expected: Counts,
    /// Identical records it read in the source: the checker must count them as upstream
    /// duplicates, apart from the classes.
    pub expected_upstream_duplicates: u64,
    /// Every class the checker counted.
    pub found: Counts,
    pub found_upstream_duplicates: u64,
    pub status: Status,
    /// Partitions the checker counted an anomaly on (source partition numbers).
    pub partitions: Vec<i32>,
    /// Entries the checker spilled to disk while matching (all partitions).
    pub spilled: u64,
    /// Caught exactly (every class, every count, nothing else), or, faithful, passed with
    /// nothing counted; the upstream duplicates counted exactly either way. The blind copier
    /// also only on the added partitions (every count and every example there).
    pub ok: bool,
    pub verify_ms: u64,
    /// Run-level classes the case must show (process cases), with counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub expected_run: BTreeMap<String, u64>,
    /// Run-level classes the run showed (process cases), with counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub found_run: BTreeMap<String, u64>,
}

impl Line {
    fn judge(copier: Copier, broke: &Broke, verdict: &verify::Verdict) -> Line {
        let expected = Counts(broke.classes.clone());
        let status_ok = match copier.class() {
            None => verdict.status == Status::Pass,
            // A broken copier must have broken what it is named for.
            Some(class) => verdict.status == Status::Fail && expected.get(class) > 0,
        };
        let spilled = verdict
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.spilled)
            .sum();
        let partitions: Vec<i32> = verdict
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .filter(|p| !p.counts.is_empty())
            .map(|p| p.partition)
            .collect::<std::collections::BTreeSet<i32>>()
            .into_iter()
            .collect();
        // The spill case is only a case if the checker did spill.
        let path_ok = copier != Copier::Spilled || spilled > 0;
        // The blind copier: lost exactly on the added partitions, and every example names
        // one of them.
        let where_ok = copier != Copier::BlindToNewPartitions || {
            let added: Vec<i32> = (PARTITIONS..GROWN_PARTITIONS).collect();
            partitions == added
                && verdict.topics.iter().flat_map(|t| &t.examples).all(|e| {
                    e.source
                        .as_ref()
                        .is_some_and(|s| added.contains(&s.partition))
                })
        };
        let ok = status_ok
            && path_ok
            && where_ok
            && verdict.counts == expected
            && verdict.tally.upstream_duplicates == broke.upstream_duplicates;
        Line {
            copier: copier.name().to_string(),
            expected,
            expected_upstream_duplicates: broke.upstream_duplicates,
            found: verdict.counts.clone(),
            found_upstream_duplicates: verdict.tally.upstream_duplicates,
            status: verdict.status,
            partitions,
            spilled,
            ok,
            verify_ms: verdict.duration_ms,
            expected_run: BTreeMap::new(),
            found_run: BTreeMap::new(),
        }
    }

    /// A process case's line: run-level classes, and `ok` as the case judged it (with the
    /// leftovers and the crash's proof in the found text when they matter).
    fn process(case: processes::ProcessCase, outcome: &processes::ProcessOutcome) -> Line {
        let mut found_run = outcome.found.clone();
        if !outcome.leftovers.is_empty() {
            found_run.insert("left-running".into(), outcome.leftovers.len() as u64);
        }
        Line {
            copier: case.name().to_string(),
            expected: Counts::default(),
            expected_upstream_duplicates: 0,
            found: Counts::default(),
            found_upstream_duplicates: 0,
            status: match outcome.outcome {
                reports::Outcome::Pass => Status::Pass,
                reports::Outcome::Fail => Status::Fail,
                _ => Status::Unknown,
            },
            partitions: Vec::new(),
            spilled: 0,
            ok: outcome.ok,
            verify_ms: outcome.elapsed_ms,
            expected_run: case.expected(),
            found_run,
        }
    }

    /// `lost 31`, `phantom 1, offset-mismatch 449`, or `pass`; ` + upstream-duplicates N`
    /// when the source has identical records.
    pub fn expected_text(&self) -> String {
        if !self.expected_run.is_empty() {
            return run_text(&self.expected_run);
        }
        let classes = if self.expected.is_empty() {
            "pass".into()
        } else {
            counts_text(&self.expected)
        };
        with_upstream(classes, self.expected_upstream_duplicates)
    }

    /// Every class found with its count, or `pass`; the upstream duplicates as above.
    pub fn found_text(&self) -> String {
        if !self.found_run.is_empty() {
            return run_text(&self.found_run);
        }
        let classes = if self.found.is_empty() {
            match self.status {
                Status::Pass => "pass".into(),
                Status::Fail => "fail (nothing counted)".into(),
                Status::Unknown => "unknown".into(),
            }
        } else {
            counts_text(&self.found)
        };
        with_upstream(classes, self.found_upstream_duplicates)
    }
}

fn counts_text(counts: &Counts) -> String {
    counts
        .0
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_text(classes: &BTreeMap<String, u64>) -> String {
    classes
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn with_upstream(classes: String, upstream: u64) -> String {
    if upstream == 0 {
        classes
    } else {
        format!("{classes} + upstream-duplicates {upstream}")
    }
}

/// What the selftest found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelftestReport {
    pub lines: Vec<Line>,
    /// Committed and aborted records in the source topic (as the faithful check read them).
    pub source_records: u64,
    pub source_aborted: u64,
    pub kafka_version: String,
    pub elapsed_ms: u64,
}

impl SelftestReport {
    /// Every copier caught exactly and the faithful one passed.
    pub fn all_ok(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(|l| l.ok)
    }

    /// The table the CLI prints: columns apart by at least two spaces.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .lines
            .iter()
            .map(|l| {
                [
                    l.copier.clone(),
                    l.expected_text(),
                    l.found_text(),
                    if l.ok { "ok" } else { "NOT CAUGHT EXACTLY" }.to_string(),
                ]
            })
            .collect();
        let header = ["copier", "expected", "found", "result"].map(String::from);
        let width = |i: usize| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2)];
        let mut s = String::new();
        for r in std::iter::once(&header).chain(rows.iter()) {
            s.push_str(&format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            ));
        }
        s
    }
}

/// Progress messages for the terminal.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// The workload: 3 partitions, an idempotent producer and a transactional one with aborted
/// transactions, no upstream duplicates (every committed record is distinct, so each broken
/// record is one anomaly).
fn workload_spec(records: u64) -> Result<workload::WorkloadSpec, SelftestError> {
    let text = format!(
        r#"seed = 16
records = {records}

[topics]
names = ["{SOURCE_TOPIC}"]
partitions = {PARTITIONS}
replication_factor = 1

[record]
keys = {{ kind = "uniform", count = 200 }}
value_size = {{ min = 20, max = 200 }}
headers = 1

[[producer]]

[[producer]]
transactions = {{ records_per_txn = 10, abort_ratio = 0.2 }}
"#
    );
    Ok(workload::WorkloadSpec::from_toml(
        &text,
        "selftest workload",
    )?)
}

/// Runs the selftest end to end; the clusters are removed on every path.
pub async fn run(
    options: &SelftestOptions,
    progress: Progress,
) -> Result<SelftestReport, SelftestError> {
    let started = Instant::now();
    let mut source_spec = ClusterSpec::new("selftest-source");
    let mut target_spec = ClusterSpec::new("selftest-target");
    if let Some(v) = &options.kafka_version {
        let version: KafkaVersion = v.parse()?;
        source_spec = source_spec.version(version.clone());
        target_spec = target_spec.version(version);
    }
    progress("starting a source and a target cluster");
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    // A cluster that started is removed when dropped, also when the other one failed.
    let (source, target) = (source?, target?);
    let kafka_version = source.kafka_version().unwrap_or_default();
    // Both clusters are cutover's: the checker sees what their log cleaners did.
    let cleaners = verify::Cleaners::of(source.as_ref(), target.as_ref());
    let result = run_on(
        options,
        &source.client_props(),
        &target.client_props(),
        &cleaners,
        &progress,
    )
    .await;
    let (s, t) = tokio::join!(source.shutdown(), target.shutdown());
    if let Err(e) = s.and(t) {
        tracing::warn!(error = %e, "shutting the selftest clusters down");
    }
    let (mut lines, source_records, source_aborted) = result?;
    match &options.cutover_exe {
        Some(exe) => {
            for case in processes::ProcessCase::ALL {
                progress(&format!("process case `{}`: cutover run", case.name()));
                let exe = exe.clone();
                let outcome = tokio::task::spawn_blocking(move || {
                    processes::run_case(case, &exe, Duration::from_secs(240))
                })
                .await
                .map_err(|e| SelftestError::Join(e.to_string()))??;
                lines.push(Line::process(case, &outcome));
            }
        }
        None => progress("process cases skipped: no cutover binary to run them with"),
    }
    Ok(SelftestReport {
        lines,
        source_records,
        source_aborted,
        kafka_version,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Topic names and settings of the sources beyond the main one.
const RESENDS_TOPIC: &str = "selftest-resends";
const COMPACTED_TOPIC: &str = "selftest-compacted";
const SMALL_PARTITIONS: i32 = 2;
/// Framed records per partition of the schema source.
const SCHEMA_RECORDS: u64 = 150;

/// A small workload: `records` records to `topic` (2 partitions), one producer.
fn small_spec(
    topic: &str,
    seed: u64,
    records: u64,
    keys: u32,
    topic_extra: &str,
    producer: &str,
) -> Result<workload::WorkloadSpec, SelftestError> {
    let text = format!(
        r#"seed = {seed}
records = {records}

[topics]
names = ["{topic}"]
partitions = {SMALL_PARTITIONS}
replication_factor = 1
{topic_extra}

[record]
keys = {{ kind = "uniform", count = {keys} }}
value_size = {{ min = 20, max = 100 }}
headers = 1

[[producer]]
{producer}
"#
    );
    Ok(workload::WorkloadSpec::from_toml(&text, topic)?)
}

/// Where a copier reads and how the checker is set up for it.
struct Case {
    source_topic: &'static str,
    /// Partitions of the source topic when the copier runs (all of them are read).
    partitions: i32,
    /// Partitions the copier saw when it started (it copies only those): `partitions` but
    /// for [`Copier::BlindToNewPartitions`].
    at_start: i32,
    target_partitions: i32,
    compacted: bool,
}

fn case(copier: Copier) -> Case {
    let small = |source_topic| Case {
        source_topic,
        partitions: SMALL_PARTITIONS,
        at_start: SMALL_PARTITIONS,
        target_partitions: SMALL_PARTITIONS,
        compacted: false,
    };
    match copier {
        Copier::Repartitions => Case {
            target_partitions: more::REPARTITIONED,
            ..case(Copier::Faithful)
        },
        // It made its target when the source had PARTITIONS, and copies only those.
        Copier::BlindToNewPartitions => Case {
            at_start: PARTITIONS,
            target_partitions: PARTITIONS,
            ..case(Copier::Faithful)
        },
        Copier::DivergesCompacted | Copier::DropsCompactedHistory => Case {
            compacted: true,
            ..small(COMPACTED_TOPIC)
        },
        Copier::FaithfulResends | Copier::DuplicatesResends | Copier::ShiftsOffsets => {
            small(RESENDS_TOPIC)
        }
        Copier::SchemasFaithful | Copier::SchemasUnresolved | Copier::SchemasMismatch => {
            small(schemas::SCHEMA_TOPIC)
        }
        _ => Case {
            source_topic: SOURCE_TOPIC,
            partitions: GROWN_PARTITIONS,
            at_start: GROWN_PARTITIONS,
            target_partitions: GROWN_PARTITIONS,
            compacted: false,
        },
    }
}

/// The checker's options for a copier: the default ones but for what the case is about.
fn verify_options(copier: Copier, cleaners: &verify::Cleaners) -> VerifyOptions {
    let source_topic = case(copier).source_topic;
    let mut options = VerifyOptions {
        topics: regex_escape(source_topic),
        rename: Rename {
            map: BTreeMap::from([(source_topic.to_string(), target_topic(copier))]),
            ..Rename::default()
        },
        cleaners: cleaners.clone(),
        ..VerifyOptions::default()
    };
    match copier {
        Copier::FarReorders => options.matching.window = copier::FAR_WINDOW,
        Copier::Spilled => options.matching = MatchOptions::with_capacity(copier::SPILL_CAPACITY),
        Copier::Repartitions => options.promises.partitions = false,
        Copier::FaithfulResends | Copier::ShiftsOffsets => options.promises.offsets = true,
        Copier::SchemasFaithful | Copier::SchemasUnresolved | Copier::SchemasMismatch => {
            let source: Arc<dyn registry::SchemaRegistry> =
                Arc::new(schemas::FixedRegistry::source());
            let anchored = format!("^{}$", regex_escape(source_topic));
            options.schemas = regex::Regex::new(&anchored).ok().map(|re| {
                Arc::new(verify::schemas::SchemaCheck::new(
                    vec![(re, source)],
                    Arc::new(schemas::FixedRegistry::target()),
                ))
            });
        }
        _ => {}
    }
    options
}

/// Produces every source topic: the main workload, and the small ones (upstream re-sends,
/// compacted, framed values), side by side.
async fn produce_sources(
    options: &SelftestOptions,
    source: &ClientProps,
    progress: &Progress,
) -> Result<(), SelftestError> {
    let spec = workload_spec(options.records)?;
    let resends = small_spec(
        RESENDS_TOPIC,
        17,
        400,
        50,
        "",
        "idempotent = false\nupstream_duplicate_ratio = 0.05",
    )?;
    let compacted = small_spec(
        COMPACTED_TOPIC,
        18,
        300,
        30,
        "configs = { \"cleanup.policy\" = \"compact\" }",
        "",
    )?;
    // Created with PARTITIONS, grown to GROWN_PARTITIONS before anything is written: the
    // blind copier keeps to the partitions a copier started at creation saw.
    let admin = harness::Admin::new("source", source)?;
    admin
        .create_topic(&TopicSpec::new(SOURCE_TOPIC, PARTITIONS, 1))
        .await?;
    admin
        .add_partitions(SOURCE_TOPIC, GROWN_PARTITIONS as usize)
        .await?;
    progress(&format!(
        "producing {} records to `{SOURCE_TOPIC}` (created with {PARTITIONS} partitions, grown to \
         {GROWN_PARTITIONS}; with aborted transactions), and small topics: `{RESENDS_TOPIC}` (upstream re-sends), `{COMPACTED_TOPIC}` (compacted), \
         `{}` (framed values)",
        options.records,
        schemas::SCHEMA_TOPIC
    ));
    let run_options = || workload::RunOptions {
        keep_records: false,
        ..workload::RunOptions::default()
    };
    admin
        .create_topic(&TopicSpec::new(schemas::SCHEMA_TOPIC, SMALL_PARTITIONS, 1))
        .await?;
    let (s, t) = (source.clone(), options.timeout);
    let framed = tokio::task::spawn_blocking(move || {
        copier::write_all(
            &s,
            schemas::SCHEMA_TOPIC,
            &schemas::source_records(SMALL_PARTITIONS, SCHEMA_RECORDS),
            t,
        )
    });
    let (main, resent, compact, framed) = tokio::join!(
        workload::run(&spec, source, run_options()),
        workload::run(&resends, source, run_options()),
        workload::run(&compacted, source, run_options()),
        framed
    );
    tracing::debug!(generated = main?.generated, "selftest workload done");
    let resent = resent?;
    tracing::debug!(
        upstream_duplicates = resent.counts.upstream_duplicates,
        "re-sends produced"
    );
    compact?;
    framed.map_err(|e| SelftestError::Join(e.to_string()))??;
    Ok(())
}

async fn run_on(
    options: &SelftestOptions,
    source: &ClientProps,
    target: &ClientProps,
    cleaners: &verify::Cleaners,
    progress: &Progress,
) -> Result<(Vec<Line>, u64, u64), SelftestError> {
    produce_sources(options, source, progress).await?;
    let admin = harness::Admin::new("target", target)?;
    for copier in Copier::ALL {
        let case = case(copier);
        let mut topic = TopicSpec::new(target_topic(copier), case.target_partitions, 1);
        if case.compacted {
            topic = topic.config("cleanup.policy", "compact");
        }
        admin.create_topic(&topic).await?;
    }
    let mut lines = Vec::new();
    let (mut source_records, mut source_aborted) = (0, 0);
    for copier in Copier::ALL {
        progress(&format!("copier `{}`: copying", copier.name()));
        let (s, t, timeout) = (source.clone(), target.clone(), options.timeout);
        let case = case(copier);
        let broke = tokio::task::spawn_blocking(move || {
            copier::copy(
                copier,
                &s,
                &t,
                case.source_topic,
                &target_topic(copier),
                case.partitions,
                case.at_start,
                timeout,
            )
        })
        .await
        .map_err(|e| SelftestError::Join(e.to_string()))??;
        progress(&format!("copier `{}`: checking", copier.name()));
        let verdict = verify::verify(
            source,
            target,
            &verify_options(copier, cleaners),
            Arc::new(|_| {}),
        )
        .await?;
        if copier == Copier::Faithful {
            source_records = verdict.tally.source_records;
            source_aborted = verdict.tally.source_aborted;
        }
        lines.push(Line::judge(copier, &broke, &verdict));
    }
    Ok((lines, source_records, source_aborted))
}

/// The target topic of a copier.
pub fn target_topic(copier: Copier) -> String {
    format!("{SOURCE_TOPIC}.{}", copier.name())
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use verify::{AnomalyClass, Promises, Verdict};

    fn verdict(counts: &[(AnomalyClass, u64)]) -> Verdict {
        let topic = verify::verdict::TopicVerdict {
            counts: Counts(counts.iter().copied().collect()),
            ..Default::default()
        };
        Verdict::from_topics(vec![topic], Promises::default(), 1)
    }

    /// A topic verdict with `lost` records on each (partition, count), an example on each.
    fn lost_on(lost: &[(i32, u64)]) -> Verdict {
        let partitions = lost
            .iter()
            .map(|&(partition, n)| verify::verdict::PartitionVerdict {
                partition,
                counts: Counts([(AnomalyClass::Lost, n)].into_iter().collect()),
                ..Default::default()
            })
            .collect();
        let examples = lost
            .iter()
            .map(|&(partition, _)| verify::verdict::Example {
                class: AnomalyClass::Lost,
                source: Some(verify::verdict::Position {
                    topic: SOURCE_TOPIC.into(),
                    partition,
                    offset: 0,
                }),
                target: Vec::new(),
                key_preview: None,
                detail: None,
            })
            .collect();
        let total = lost.iter().map(|(_, n)| n).sum();
        let topic = verify::verdict::TopicVerdict {
            counts: Counts([(AnomalyClass::Lost, total)].into_iter().collect()),
            partitions,
            examples,
            ..Default::default()
        };
        Verdict::from_topics(vec![topic], Promises::default(), 1)
    }

    #[test]
    fn the_blind_copier_is_caught_only_by_records_lost_on_the_added_partitions() {
        let blind = Copier::BlindToNewPartitions;
        let lost = |n| broke(&[(AnomalyClass::Lost, n)], 0);
        let exact = Line::judge(blind, &lost(30), &lost_on(&[(3, 10), (4, 20)]));
        assert!(exact.ok, "{exact:?}");
        assert_eq!(exact.partitions, [3, 4]);
        // The right count, but on a partition the copier saw: not what it broke.
        assert!(!Line::judge(blind, &lost(30), &lost_on(&[(2, 10), (4, 20)])).ok);
        // Only one of the two added partitions.
        assert!(!Line::judge(blind, &lost(30), &lost_on(&[(3, 30)])).ok);
        assert!(!Line::judge(blind, &lost(31), &lost_on(&[(3, 10), (4, 20)])).ok);
        // An example on a partition the copier saw, though the counts are right.
        let mut stray = lost_on(&[(3, 10), (4, 20)]);
        if let Some(e) = stray.topics[0].examples[0].source.as_mut() {
            e.partition = 1;
        }
        assert!(!Line::judge(blind, &lost(30), &stray).ok);
        // Nothing written to the added partitions: nothing tested.
        assert!(!Line::judge(blind, &broke(&[], 0), &verdict(&[])).ok);
    }

    fn broke(classes: &[(AnomalyClass, u64)], upstream: u64) -> Broke {
        Broke {
            classes: classes.iter().copied().collect(),
            upstream_duplicates: upstream,
        }
    }

    fn with_upstream(mut v: Verdict, n: u64) -> Verdict {
        v.tally.upstream_duplicates = n;
        v
    }

    #[test]
    fn a_line_is_ok_only_for_exactly_the_class_and_count() {
        let lost5 = broke(&[(AnomalyClass::Lost, 5)], 0);
        let exact = Line::judge(Copier::Drops, &lost5, &verdict(&[(AnomalyClass::Lost, 5)]));
        assert!(exact.ok);
        assert_eq!(exact.expected_text(), "lost 5");
        assert_eq!(exact.found_text(), "lost 5");
        assert!(!Line::judge(Copier::Drops, &lost5, &verdict(&[(AnomalyClass::Lost, 4)])).ok);
        let extra = verdict(&[(AnomalyClass::Lost, 5), (AnomalyClass::Reordered, 1)]);
        assert!(!Line::judge(Copier::Drops, &lost5, &extra).ok);
        assert!(
            !Line::judge(Copier::Drops, &broke(&[], 0), &verdict(&[])).ok,
            "nothing broken"
        );
        assert!(Line::judge(Copier::Faithful, &broke(&[], 0), &verdict(&[])).ok);
        assert!(
            !Line::judge(
                Copier::Faithful,
                &broke(&[], 0),
                &verdict(&[(AnomalyClass::Lost, 1)])
            )
            .ok
        );
        let report = SelftestReport {
            lines: vec![exact],
            source_records: 10,
            source_aborted: 0,
            kafka_version: "4.1.1".into(),
            elapsed_ms: 1,
        };
        assert!(report.all_ok());
        assert!(report
            .table()
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("  ok")));
    }

    #[test]
    fn several_classes_and_upstream_duplicates_must_all_match() {
        let shifted = broke(
            &[
                (AnomalyClass::Phantom, 1),
                (AnomalyClass::OffsetMismatch, 9),
            ],
            0,
        );
        let both = verdict(&[
            (AnomalyClass::Phantom, 1),
            (AnomalyClass::OffsetMismatch, 9),
        ]);
        let line = Line::judge(Copier::ShiftsOffsets, &shifted, &both);
        assert!(line.ok);
        assert_eq!(line.found_text(), "phantom 1, offset-mismatch 9");
        assert!(
            !Line::judge(
                Copier::ShiftsOffsets,
                &shifted,
                &verdict(&[(AnomalyClass::Phantom, 1)])
            )
            .ok,
            "one class missing"
        );
        // A faithful copy of a source with re-sends: passes, the re-sends counted apart.
        let resends = broke(&[], 7);
        let line = Line::judge(
            Copier::FaithfulResends,
            &resends,
            &with_upstream(verdict(&[]), 7),
        );
        assert!(line.ok);
        assert_eq!(line.expected_text(), "pass + upstream-duplicates 7");
        assert!(
            !Line::judge(
                Copier::FaithfulResends,
                &resends,
                &with_upstream(verdict(&[]), 6)
            )
            .ok,
            "upstream duplicates off by one"
        );
        assert!(
            !Line::judge(
                Copier::DuplicatesResends,
                &broke(&[(AnomalyClass::Duplicated, 3)], 7),
                &with_upstream(verdict(&[(AnomalyClass::Duplicated, 10)]), 0)
            )
            .ok,
            "re-sends counted as replication duplicates"
        );
        let lost1 = broke(&[(AnomalyClass::Lost, 1)], 0);
        let mut spilled = verdict(&[(AnomalyClass::Lost, 1)]);
        assert!(
            !Line::judge(Copier::Spilled, &lost1, &spilled).ok,
            "the spill case must spill"
        );
        spilled.topics[0]
            .partitions
            .push(verify::verdict::PartitionVerdict {
                spilled: 40,
                ..Default::default()
            });
        assert!(Line::judge(Copier::Spilled, &lost1, &spilled).ok);
    }

    fn records(offsets: &[i64]) -> Vec<copier::Record> {
        offsets
            .iter()
            .map(|&o| copier::Record {
                offset: o,
                key: Some(vec![o as u8]),
                value: Some(vec![o as u8]),
                headers: Vec::new(),
                timestamp: None,
            })
            .collect()
    }

    #[test]
    fn copiers_count_what_they_break() {
        let read = || {
            vec![
                records(&(0..1000).collect::<Vec<_>>()),
                records(&(0..70).collect::<Vec<_>>()),
            ]
        };
        let run = |c: Copier| {
            let mut b = Broke::default();
            let out = more::copier(c).expect("a copier of more")(read(), &mut b);
            (out, b)
        };
        let (out, b) = run(Copier::ShiftsOffsets);
        // The filler after 50 records of partition 0: the other 950 move by one.
        assert_eq!(
            b.classes,
            BTreeMap::from([
                (AnomalyClass::Phantom, 1),
                (AnomalyClass::OffsetMismatch, 950)
            ])
        );
        assert_eq!(out[0].len(), 1001);
        let (out, b) = run(Copier::FarReorders);
        // Moves at 100, 400 and 700 in partition 0 (800 + 100 is past its end).
        assert_eq!(b.classes, BTreeMap::from([(AnomalyClass::Reordered, 3)]));
        assert_eq!(out[0][200].offset, 100);
        assert_eq!(out[0][199].offset, 200);
        let (out, b) = run(Copier::Repartitions);
        assert_eq!(out.len(), more::REPARTITIONED as usize);
        assert_eq!(b.classes.get(&AnomalyClass::Phantom), Some(&1));
        let (_, b) = run(Copier::Spilled);
        // n = 1..=1070 across both partitions: 22 drops (n % 50 == 3), 21 swaps (n % 50 ==
        // 40; none is the last record of its partition).
        assert_eq!(b.classes.get(&AnomalyClass::Lost), Some(&22));
        assert_eq!(b.classes.get(&AnomalyClass::Reordered), Some(&21));
        let resent = vec![records(&[0, 1, 1, 2, 2, 2])];
        assert_eq!(more::repeats(&resent), 3);
    }
}
