//! # selftest — cutover checks itself (`cutover selftest`)
//!
//! Starts a disposable source and target cluster (harness), produces a workload with aborted
//! transactions to a source topic (workload), and copies it with built-in copiers
//! ([`copier`]): one faithful, and one for each way a copy goes wrong — drops, duplicates, reads
//! uncommitted, reorders, alters values, moves records to another partition, copies only the
//! partitions the topic had when it started (the source topic is created with 3 partitions and
//! grown to 5 before the workload writes, which spreads records over all 5). Each copier
//! counts what it broke; the checker (`verify`) must report exactly that class with exactly
//! that count and nothing else, and the faithful copy must pass.
//!
//! It never touches a cluster it did not start: both clusters are its own, removed on every
//! path.

pub mod copier;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{ClientProps, ClusterSpec, KafkaVersion, TopicSpec};
use verify::{AnomalyClass, Counts, Rename, Status, VerifyOptions};

pub use copier::Copier;

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
}

impl Default for SelftestOptions {
    fn default() -> Self {
        SelftestOptions {
            records: 3_000,
            kafka_version: None,
            timeout: Duration::from_secs(60),
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
    /// The class it must be caught with (None: must pass).
    pub expected_class: Option<AnomalyClass>,
    /// Records it broke.
    pub expected_count: u64,
    /// Every class the checker counted.
    pub found: Counts,
    pub status: Status,
    /// Partitions the checker counted an anomaly on (source partition numbers).
    pub partitions: Vec<i32>,
    /// Caught exactly (or, faithful, passed with nothing counted).
    pub ok: bool,
    pub verify_ms: u64,
}

impl Line {
    fn judge(copier: Copier, expected_count: u64, verdict: &verify::Verdict) -> Line {
        let expected: BTreeMap<AnomalyClass, u64> = copier
            .class()
            .map(|c| BTreeMap::from([(c, expected_count)]))
            .unwrap_or_default();
        let mut ok = match copier.class() {
            None => verdict.status == Status::Pass && verdict.counts.is_empty(),
            Some(_) => {
                verdict.status == Status::Fail && verdict.counts.0 == expected && expected_count > 0
            }
        };
        let partitions: Vec<i32> = verdict
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .filter(|p| !p.counts.is_empty())
            .map(|p| p.partition)
            .collect::<std::collections::BTreeSet<i32>>()
            .into_iter()
            .collect();
        if copier == Copier::BlindToNewPartitions {
            // Lost exactly on the added partitions, and every example names one of them.
            let added: Vec<i32> = (PARTITIONS..GROWN_PARTITIONS).collect();
            ok &= partitions == added
                && verdict.topics.iter().flat_map(|t| &t.examples).all(|e| {
                    e.source
                        .as_ref()
                        .is_some_and(|s| added.contains(&s.partition))
                });
        }
        Line {
            copier: copier.name().to_string(),
            expected_class: copier.class(),
            expected_count,
            found: verdict.counts.clone(),
            status: verdict.status,
            partitions,
            ok,
            verify_ms: verdict.duration_ms,
        }
    }

    /// `lost 31`, or `pass` for nothing expected.
    pub fn expected_text(&self) -> String {
        match self.expected_class {
            None => "pass".into(),
            Some(c) => format!("{c} {}", self.expected_count),
        }
    }

    /// Every class found with its count, or `pass`.
    pub fn found_text(&self) -> String {
        if self.found.is_empty() {
            return match self.status {
                Status::Pass => "pass".into(),
                Status::Fail => "fail (nothing counted)".into(),
                Status::Unknown => "unknown".into(),
            };
        }
        self.found
            .0
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
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

    /// The table the CLI prints.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<24} {:<22} {:<34} result\n",
            "copier", "expected", "found"
        );
        for l in &self.lines {
            s.push_str(&format!(
                "{:<24} {:<22} {:<34} {}\n",
                l.copier,
                l.expected_text(),
                l.found_text(),
                if l.ok { "ok" } else { "NOT CAUGHT EXACTLY" }
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
    let result = run_on(
        options,
        &source.client_props(),
        &target.client_props(),
        &progress,
    )
    .await;
    let (s, t) = tokio::join!(source.shutdown(), target.shutdown());
    if let Err(e) = s.and(t) {
        tracing::warn!(error = %e, "shutting the selftest clusters down");
    }
    let (lines, source_records, source_aborted) = result?;
    Ok(SelftestReport {
        lines,
        source_records,
        source_aborted,
        kafka_version,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

async fn run_on(
    options: &SelftestOptions,
    source: &ClientProps,
    target: &ClientProps,
    progress: &Progress,
) -> Result<(Vec<Line>, u64, u64), SelftestError> {
    let spec = workload_spec(options.records)?;
    // Created with PARTITIONS, grown to GROWN_PARTITIONS before anything is written: the
    // blind copier keeps to the partitions a copier started at creation saw.
    let source_admin = harness::Admin::new("source", source)?;
    source_admin
        .create_topic(&TopicSpec::new(SOURCE_TOPIC, PARTITIONS, 1))
        .await?;
    source_admin
        .add_partitions(SOURCE_TOPIC, GROWN_PARTITIONS as usize)
        .await?;
    progress(&format!(
        "producing {} records to `{SOURCE_TOPIC}` (created with {PARTITIONS} partitions, grown to {GROWN_PARTITIONS}; with aborted transactions)",
        options.records
    ));
    let produced = workload::run(
        &spec,
        source,
        workload::RunOptions {
            keep_records: false,
            ..workload::RunOptions::default()
        },
    )
    .await?;
    tracing::debug!(generated = produced.generated, "selftest workload done");
    let admin = harness::Admin::new("target", target)?;
    for copier in Copier::ALL {
        // The blind copier made its target when the source had PARTITIONS.
        let partitions = if copier == Copier::BlindToNewPartitions {
            PARTITIONS
        } else {
            GROWN_PARTITIONS
        };
        admin
            .create_topic(&TopicSpec::new(target_topic(copier), partitions, 1))
            .await?;
    }
    let mut lines = Vec::new();
    let (mut source_records, mut source_aborted) = (0, 0);
    for copier in Copier::ALL {
        progress(&format!("copier `{}`: copying", copier.name()));
        let (s, t, timeout) = (source.clone(), target.clone(), options.timeout);
        let broken = tokio::task::spawn_blocking(move || {
            copier::copy(
                copier,
                &s,
                &t,
                SOURCE_TOPIC,
                &target_topic(copier),
                GROWN_PARTITIONS,
                PARTITIONS,
                timeout,
            )
        })
        .await
        .map_err(|e| SelftestError::Join(e.to_string()))??;
        progress(&format!("copier `{}`: checking", copier.name()));
        let verify_options = VerifyOptions {
            topics: regex_escape(SOURCE_TOPIC),
            rename: Rename {
                map: BTreeMap::from([(SOURCE_TOPIC.to_string(), target_topic(copier))]),
                ..Rename::default()
            },
            ..VerifyOptions::default()
        };
        let verdict = verify::verify(source, target, &verify_options, Arc::new(|_| {})).await?;
        if copier == Copier::Faithful {
            source_records = verdict.tally.source_records;
            source_aborted = verdict.tally.source_aborted;
        }
        lines.push(Line::judge(copier, broken, &verdict));
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
    use verify::{Promises, Verdict};

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
        let exact = Line::judge(blind, 30, &lost_on(&[(3, 10), (4, 20)]));
        assert!(exact.ok, "{exact:?}");
        assert_eq!(exact.partitions, [3, 4]);
        // The right count, but on a partition the copier saw: not what it broke.
        assert!(!Line::judge(blind, 30, &lost_on(&[(2, 10), (4, 20)])).ok);
        // Only one of the two added partitions.
        assert!(!Line::judge(blind, 30, &lost_on(&[(3, 30)])).ok);
        assert!(!Line::judge(blind, 31, &lost_on(&[(3, 10), (4, 20)])).ok);
        // Nothing written to the added partitions: nothing tested.
        assert!(!Line::judge(blind, 0, &verdict(&[])).ok);
    }

    #[test]
    fn a_line_is_ok_only_for_exactly_the_class_and_count() {
        let exact = Line::judge(Copier::Drops, 5, &verdict(&[(AnomalyClass::Lost, 5)]));
        assert!(exact.ok);
        assert_eq!(exact.expected_text(), "lost 5");
        assert_eq!(exact.found_text(), "lost 5");
        assert!(!Line::judge(Copier::Drops, 5, &verdict(&[(AnomalyClass::Lost, 4)])).ok);
        let extra = verdict(&[(AnomalyClass::Lost, 5), (AnomalyClass::Reordered, 1)]);
        assert!(!Line::judge(Copier::Drops, 5, &extra).ok);
        assert!(
            !Line::judge(Copier::Drops, 0, &verdict(&[])).ok,
            "nothing broken"
        );
        assert!(Line::judge(Copier::Faithful, 0, &verdict(&[])).ok);
        assert!(!Line::judge(Copier::Faithful, 0, &verdict(&[(AnomalyClass::Lost, 1)])).ok);
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
            .is_some_and(|l| l.ends_with(" ok")));
    }
}
