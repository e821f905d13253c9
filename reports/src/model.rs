//! The report model: everything `report.json` holds, versioned by [`SCHEMA_VERSION`] (the
//! major; `docs/report-schema.md` documents every field). Within a major, changes are additive
//! only: new fields come with a default so an older report still reads, and readers ignore
//! fields they do not know.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use verify::verdict::Verdict;

/// The major version of `report.json`. A reader refuses a newer major (exit 2).
pub const SCHEMA_VERSION: u32 = 1;
/// The minor version: which additive fields a report of this major may carry
/// (0: the first runner's fields; 1: kind, finished_at, scenario text and file, client
/// properties, librdkafka version, delay; 2: consumer_groups; 3: rehearsal; 4: undecided,
/// fault effect, expectation; 5: registries).
pub const SCHEMA_MINOR: u32 = 5;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    /// Anomalies found, or the system never caught up.
    #[default]
    Fail,
    /// Ctrl-C.
    Aborted,
    /// The run could not decide (a verdict of status unknown).
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Aborted => "ABORTED",
            Outcome::Unknown => "UNKNOWN",
        }
    }
}

/// What produced the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// `cutover run`: clusters, workload, faults, drain, verdict.
    #[default]
    Scenario,
    /// `cutover verify`: a verdict on existing clusters, no workload or faults.
    Verify,
    /// `cutover rehearse`: live clusters, canary topics and a read-only window check.
    Rehearsal,
}

/// One fault as it happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultEvent {
    /// The fault's verb (`kill-broker`, `latency`, …).
    pub kind: String,
    /// Its parameters as JSON.
    pub detail: String,
    /// Seconds since the workload started.
    pub start_secs: f64,
    pub end_secs: f64,
    /// Empty when the fault was applied and took effect; otherwise why it did not (the run
    /// could then not test what it claims: outcome unknown).
    pub error: String,
    /// How the fault was seen to take effect (the process gone, the broker no longer
    /// answering, the bytes the proxies held), empty when it did not.
    #[serde(default)]
    pub effect: String,
}

/// A sample of the run's progress (per second).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// Seconds since the workload started.
    pub at_secs: f64,
    /// Sum of the source topics' high watermarks.
    pub source_end: i64,
    /// Sum of the target topics' high watermarks.
    pub target_end: i64,
}

/// Draining after the workload stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Drain {
    pub caught_up: bool,
    pub secs: f64,
    /// Time from the last source write to the target being caught up: the cutover downtime.
    pub downtime_secs: Option<f64>,
    /// With consumer groups: time from the last source write until every group's offsets were
    /// committed on the target (the consumers' switch downtime; the checks come after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_moved_secs: Option<f64>,
}

/// What the workload did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadSummary {
    pub sent: u64,
    pub committed: u64,
    pub aborted: u64,
    pub upstream_duplicates: u64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
}

/// End-to-end replication delay: how long after the source reached a position the target
/// reached the same position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DelayStats {
    /// How the delays were measured: `watermarks` (estimated from the per-second high-watermark
    /// sums in `series`, by fraction of the run's records; resolution about a second).
    pub method: String,
    /// Positions measured.
    pub samples: u64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
    pub p999_ms: u64,
    pub max_ms: u64,
    /// The distribution for plots: (upper bound in ms, positions in the bucket), ascending.
    pub buckets: Vec<DelayBucket>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DelayBucket {
    pub le_ms: u64,
    pub count: u64,
}

/// Everything `report.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunReport {
    /// The major version of this format ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Additive revision within the major ([`SCHEMA_MINOR`]).
    pub schema_minor: u32,
    pub kind: RunKind,
    pub scenario: String,
    pub description: String,
    pub system: String,
    pub seed: u64,
    pub cutover_version: String,
    pub source_kafka: Option<String>,
    pub target_kafka: Option<String>,
    /// The librdkafka every cutover client used.
    pub librdkafka_version: Option<String>,
    pub outcome: Outcome,
    /// Why the run failed, in one line each.
    pub failures: Vec<String>,
    pub workload: Option<WorkloadSummary>,
    pub faults: Vec<FaultEvent>,
    pub series: Vec<Sample>,
    pub drain: Option<Drain>,
    pub verdict: Option<Verdict>,
    pub duration_secs: f64,
    /// When the report was written (RFC 3339, UTC).
    pub finished_at: Option<String>,
    pub logs: Vec<PathBuf>,
    /// The scenario file as given, secrets redacted.
    pub scenario_file: Option<String>,
    pub scenario_text: Option<String>,
    /// Client properties by side (`source`, `target`), secrets redacted.
    pub client_properties: BTreeMap<String, BTreeMap<String, String>>,
    /// End-to-end replication delay, when the series allows it.
    pub delay: Option<DelayStats>,
    /// Consumer-group cutover: where each application group resumed on the target.
    pub consumer_groups: Vec<GroupCutover>,
    /// `cutover rehearse`: what was written and cleaned up, and the read-only window check.
    pub rehearsal: Option<RehearsalSummary>,
    /// Why cutover could not observe what the run claims to test (a fault that did not take
    /// effect, a side the checker could not read): with no failure, the outcome is unknown.
    pub undecided: Vec<String>,
    /// The scenario's `[expect]` and whether the run met it.
    pub expectation: Option<Expectation>,
    /// Schema registries, when the run had any: the registry verification and the
    /// record-level schema classes (minor 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registries: Option<RegistriesSection>,
}

/// One registry finding (`cutover verify-schemas`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryFinding {
    /// `conflict`, `missing`, `version-mismatch`, `content-mismatch`, `reference-unresolved`,
    /// `compatibility-mismatch`.
    pub kind: String,
    pub subject: String,
    pub version: Option<u32>,
    /// The registries concerned (source names, `target`).
    pub registries: Vec<String>,
    pub detail: String,
}

/// A record-level schema class of the checker, with examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchemaRecordClass {
    /// `schema-unresolved` or `schema-mismatch`.
    pub class: String,
    pub count: u64,
    /// `topic[p]@offset → target[p]@offset: source id S (subject vN) → target id T (…)`.
    pub examples: Vec<String>,
}

/// Schema registries of a run: the registries compared, what the target holds of the
/// sources' subject/versions, and the record-level schema classes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistriesSection {
    /// Source registries (`name (url)`, credentials never shown).
    pub sources: Vec<String>,
    pub target: String,
    /// Registry verification: `pass` or `fail`.
    pub outcome: String,
    /// Source subjects and subject/versions compared.
    pub subjects: u64,
    pub versions: u64,
    /// Subject/versions on the target with the same number and canonical schema.
    pub matched: u64,
    /// Subject/versions absent on the target (`missing` + `version-mismatch`).
    pub missing: u64,
    /// Subject/versions two sources hold with different content.
    pub conflicts: u64,
    /// Subject/versions whose target version holds another schema.
    pub content_mismatches: u64,
    /// Subjects whose compatibility level differs (between sources, or source and target).
    pub compatibility_diffs: u64,
    /// References of the source versions followed, and those that did not resolve.
    pub references: u64,
    pub references_unresolved: u64,
    /// Findings per class, and each finding.
    pub counts: BTreeMap<String, u64>,
    pub findings: Vec<RegistryFinding>,
    /// Target subjects no source holds (not judged).
    pub target_only_subjects: Vec<String>,
    /// The checker's record-level schema classes (empty when every framed record resolved to
    /// the same schema).
    pub records: Vec<SchemaRecordClass>,
    /// Framed records judged by schema content (matched records of the selected topics).
    pub records_checked: Option<u64>,
}

/// Examples kept per record-level class.
const SCHEMA_EXAMPLES: usize = 5;

impl RegistriesSection {
    /// The verification's figures, labelled, in the order every view shows them.
    pub fn figures(&self) -> [(&'static str, u64); 9] {
        [
            ("subjects", self.subjects),
            ("versions", self.versions),
            ("matched", self.matched),
            ("missing", self.missing),
            ("conflicts", self.conflicts),
            ("content mismatches", self.content_mismatches),
            ("compatibility diffs", self.compatibility_diffs),
            ("references", self.references),
            ("unresolved references", self.references_unresolved),
        ]
    }

    /// Fills [`RegistriesSection::records`] from the checker's verdict: the `schema-unresolved`
    /// and `schema-mismatch` counts and up to five examples each.
    pub fn note_records(&mut self, verdict: &Verdict) {
        use verify::verdict::AnomalyClass;
        self.records.clear();
        for class in [AnomalyClass::SchemaUnresolved, AnomalyClass::SchemaMismatch] {
            let count = verdict.counts.get(class);
            if count == 0 {
                continue;
            }
            let examples = verdict
                .topics
                .iter()
                .flat_map(|t| t.examples.iter())
                .filter(|e| e.class == class)
                .take(SCHEMA_EXAMPLES)
                .map(crate::digest::example_line)
                .collect();
            self.records.push(SchemaRecordClass {
                class: class.to_string(),
                count,
                examples,
            });
        }
        self.records_checked = Some(verdict.tally.matched);
    }
}

/// What a scenario declares it must show (`[expect]`), and whether the run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Expectation {
    /// `pass` or `fail`.
    pub outcome: Outcome,
    /// For a fail: the anomaly classes (kebab-case) that must be among the failing ones.
    pub classes: Vec<String>,
    pub met: bool,
    /// Why it was not met (empty when met).
    pub why: String,
}

impl Expectation {
    /// Judges a finished run against the expectation.
    pub fn judge(outcome: Outcome, classes: Vec<String>, report: &RunReport) -> Expectation {
        let failing: Vec<String> = report
            .verdict
            .as_ref()
            .map(|v| v.failing().map(|(c, _)| c.to_string()).collect())
            .unwrap_or_default();
        let why = if report.outcome != outcome {
            format!(
                "expected {}, got {}",
                outcome.as_str(),
                report.outcome.as_str()
            )
        } else {
            let missing: Vec<&String> = classes.iter().filter(|c| !failing.contains(c)).collect();
            if missing.is_empty() {
                String::new()
            } else {
                format!(
                    "expected the anomaly classes {:?} among the failing ones, found {:?}",
                    missing, failing
                )
            }
        };
        Expectation {
            outcome,
            classes,
            met: why.is_empty(),
            why,
        }
    }
}

/// What a rehearsal on live clusters did beyond a scenario run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RehearsalSummary {
    /// `allow_writes` of the rehearsal file: false means nothing was written anywhere.
    pub allow_writes: bool,
    /// Canary topics written on the source (empty without writes).
    pub canary_topics: Vec<String>,
    /// Canary topics (and the built-in replicator's internal topics) deleted afterwards on
    /// both clusters; `false` lists what is left in `leftovers`.
    pub cleaned_up: bool,
    pub leftovers: Vec<String>,
    /// How long the copy of a source window may take to appear on the target.
    pub lag_bound_secs: f64,
    /// Records per partition in each window.
    pub window_records: u64,
    /// The selected real topics, checked read-only.
    pub topics: Vec<TopicWindow>,
}

/// The read-only check of one real topic: the last `window_records` of each source partition
/// (as of the start of the check) looked up by fingerprint in the same target partition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicWindow {
    pub topic: String,
    pub target_topic: String,
    pub partitions: u32,
    /// Source records in the windows.
    pub records: u64,
    /// Of those, not found on the target within the bound.
    pub missing: u64,
    /// Found in the target's tail more often than in the source window: indicative, not a
    /// failure (an identical record just outside the window counts too).
    pub duplicated: u64,
    /// Seconds until the last window of this topic was complete on the target (replication
    /// lag as observed); `None` when it never was within the bound.
    pub lag_secs: Option<f64>,
    /// Why the topic could not be checked (absent on the target, partition counts differ).
    pub problem: Option<String>,
    /// A read of this topic did not finish within its own bound (a slow or unreachable
    /// cluster): the window could not be judged, so the rehearsal is unknown, not failed.
    pub incomplete: bool,
}

pub use verify::resume::GroupCutover;

impl RunReport {
    /// A report of the current schema with nothing in it yet.
    pub fn new(scenario: impl Into<String>) -> RunReport {
        RunReport {
            schema_version: SCHEMA_VERSION,
            schema_minor: SCHEMA_MINOR,
            scenario: scenario.into(),
            cutover_version: env!("CARGO_PKG_VERSION").into(),
            ..RunReport::default()
        }
    }

    /// The report of a verify-only run: the verdict, no workload or faults.
    pub fn from_verdict(name: impl Into<String>, verdict: Verdict) -> RunReport {
        let outcome = match verdict.status {
            verify::Status::Pass => Outcome::Pass,
            verify::Status::Fail => Outcome::Fail,
            verify::Status::Unknown => Outcome::Unknown,
        };
        let failures = verdict
            .failing()
            .map(|(class, n)| format!("{n} {class}"))
            .collect();
        RunReport {
            kind: RunKind::Verify,
            outcome,
            failures,
            duration_secs: verdict.duration_ms as f64 / 1000.0,
            verdict: Some(verdict),
            ..RunReport::new(name)
        }
    }

    /// Sets the outcome from what was found: any failure is a FAIL (the system did something
    /// wrong or did not catch up); otherwise anything cutover could not observe makes it
    /// UNKNOWN; otherwise PASS.
    pub fn settle_outcome(&mut self) {
        self.outcome = if !self.failures.is_empty() {
            Outcome::Fail
        } else if !self.undecided.is_empty() {
            Outcome::Unknown
        } else {
            Outcome::Pass
        };
    }

    /// Anomalies counted by the verdict (0 without one).
    pub fn anomalies(&self) -> u64 {
        self.verdict.as_ref().map_or(0, |v| v.counts.total())
    }

    /// The file names of the built-in replicator's last `/metrics` scrapes saved beside the
    /// report (`metrics-instance-N.prom`, listed in `logs`), for the views to link.
    pub fn metrics_files(&self) -> Vec<String> {
        self.logs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "prom"))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }
}
