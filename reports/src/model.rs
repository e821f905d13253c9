//! The report model: everything `report.json` holds, versioned by [`SCHEMA_VERSION`] (the
//! major; `docs/report-schema.md` documents every field). Within a major, changes are additive
//! only: new fields come with a default so an older report still reads, and readers ignore
//! fields they do not know.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use verdict::Verdict;

pub use crate::reasons::{Class, Reason, RunClass};

/// The major version of `report.json`. A reader refuses a newer major (exit 2) and reads an
/// older one (major 1's text reasons read as class `other`).
pub const SCHEMA_VERSION: u32 = 2;
/// The minor version: which additive fields a report of this major may carry (major 2, 0:
/// everything of major 1's minor 5, with `failures` and `undecided` as named classes with
/// counts, `expectation.bounds`, `faults[].failed`). Major 1's minors: 0 the first runner's
/// fields; 1 kind, finished_at, scenario text and file, client properties, librdkafka version,
/// delay; 2 consumer_groups; 3 rehearsal; 4 undecided, fault effect, expectation; 5 registries.
/// Major 2's minors: 1 rebalances; 2 apps (application cutover); 3 failover, transactions;
/// 4 rebalance causes; 5 source_delay, copy_delay.
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
    /// The fault's task failed (a panic) before it could say what happened: `error` holds
    /// the cause (class `fault-failed`, major 2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
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
    /// Acknowledged by the source (major 2).
    pub acked: u64,
    /// Not acknowledged: delivery failed or never reported (major 2).
    pub failed: u64,
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
    /// Why the run failed: a named class, a count and one line each (major 2; a line of
    /// text in major 1).
    pub failures: Vec<Reason>,
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
    /// End-to-end replication delay (create time → readable on the target), when the probe or
    /// the series allows it.
    pub delay: Option<DelayStats>,
    /// The source's share of it: create time → readable on the source, before any copier could
    /// see the record (minor 5).
    pub source_delay: Option<DelayStats>,
    /// The copy's own delay: each workload record's readable time on the target minus its
    /// readable time on the source, joined by workload id (minor 5).
    pub copy_delay: Option<DelayStats>,
    /// Consumer-group cutover: where each application group resumed on the target.
    pub consumer_groups: Vec<GroupCutover>,
    /// Application cutover: each stateful application moved mid-run, judged against the
    /// oracle over its inputs (minor 2).
    pub apps: Vec<verdict::AppCutover>,
    /// The workload's source transactions as a live `read_committed` observer on the target
    /// saw them (`[verify] transactions`; minor 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<verdict::TornTransactions>,
    /// `cutover rehearse`: what was written and cleaned up, and the read-only window check.
    pub rehearsal: Option<RehearsalSummary>,
    /// Why cutover could not observe what the run claims to test (a fault that did not take
    /// effect, a side the checker could not read): with no failure, the outcome is unknown.
    pub undecided: Vec<Reason>,
    /// The scenario's `[expect]` and whether the run met it.
    pub expectation: Option<Expectation>,
    /// Schema registries, when the run had any: the registry verification and the
    /// record-level schema classes (minor 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registries: Option<RegistriesSection>,
    /// The system under test's own group rebalances during the run, when it reports them
    /// (minor 1): a Connect cluster's generations, the built-in replicator's slot group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebalances: Option<Rebalances>,
}

/// The system under test's group rebalances: how many, what moved, what followed each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rebalances {
    /// Where they were observed: `connect-workers` (the workers' own logs: generations),
    /// `replicator-logs` (the built-in replicator instances' `slots assigned` lines, restarts
    /// included).
    pub observed_by: String,
    /// Rebalances (completed generations after the first one, or the metric's total).
    pub count: u64,
    /// Tasks (or partitions) that changed owner, when the system says which.
    pub task_moves: Option<u64>,
    /// Each rebalance, in time order (empty when only a total is known).
    pub events: Vec<RebalanceEvent>,
    /// The events counted by cause (see [`RebalanceEvent::cause`]; `unknown` when the system
    /// does not say).
    pub by_cause: std::collections::BTreeMap<String, u64>,
    /// Rebalances the system caused itself, outside any fault: an instance that exceeded its
    /// poll interval or lost its session (`poll-interval` + `session-timeout`). None when the
    /// system does not say why its group rebalanced.
    pub self_inflicted: Option<u64>,
}

/// One rebalance of the system's group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RebalanceEvent {
    /// Seconds since the workload started.
    pub at_secs: f64,
    /// The group generation it completed, when known.
    pub generation: Option<i64>,
    /// The members after it.
    pub members: Vec<String>,
    /// Tasks (or partitions) that changed owner in it.
    pub moved: u64,
    /// Duplicated records whose copy was written after this rebalance and before the next,
    /// when the run could place them in time: each duplicated copy's target offset against its
    /// partition's high watermark, sampled once a second (a copy written in the second before
    /// a rebalance may count after it). None when not placed.
    pub duplicates_after: Option<u64>,
    /// Why: `fault` (during one of the scenario's faults that touch the group, or within 30 s
    /// after it), `membership` (a member joined or left), `poll-interval` (a member exceeded
    /// `max.poll.interval.ms` and rejoined), `session-timeout` (a member lost its session).
    /// None when the system does not say and no fault was on.
    pub cause: Option<String>,
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
        use verdict::AnomalyClass;
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
    /// `pass`, `fail` or `unknown`.
    pub outcome: Outcome,
    /// For a fail or an unknown: exactly the classes (kebab-case) the run must show, anomaly
    /// and run-level alike; any other class makes the expectation unmet.
    pub classes: Vec<String>,
    /// Bounds on a class's count (`duplicated = { min = 1 }`), by class (major 2).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bounds: BTreeMap<String, CountBounds>,
    pub met: bool,
    /// Why it was not met (empty when met).
    pub why: String,
}

/// Bounds on how many of a class a run may show (both inclusive, either optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CountBounds {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl CountBounds {
    pub fn admits(&self, n: u64) -> bool {
        self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m)
    }
}

impl std::fmt::Display for CountBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) => write!(f, "{a} to {b}"),
            (Some(a), None) => write!(f, "at least {a}"),
            (None, Some(b)) => write!(f, "at most {b}"),
            (None, None) => write!(f, "any number"),
        }
    }
}

impl Expectation {
    /// Judges a finished run against the expectation: the outcome must be the expected one,
    /// the classes the run shows (its failures and what it could not decide) exactly the
    /// expected ones (a class bounded `min = 0` may also not show), and each bounded class's
    /// count within its bounds.
    pub fn judge(
        outcome: Outcome,
        classes: Vec<String>,
        bounds: BTreeMap<String, CountBounds>,
        report: &RunReport,
    ) -> Expectation {
        let found = report.class_counts();
        let shown = |names: &[&String]| -> String {
            names
                .iter()
                .map(|c| format!("{c} ({})", found.get(c.as_str()).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut why = Vec::new();
        if report.outcome != outcome {
            why.push(format!(
                "expected {}, got {}",
                outcome.as_str(),
                report.outcome.as_str()
            ));
        }
        let extra: Vec<&String> = found.keys().filter(|c| !classes.contains(c)).collect();
        if !extra.is_empty() {
            why.push(format!("classes not expected: {}", shown(&extra)));
        }
        // A class bounded `min = 0` may show or not (a race the scenario cannot pin down);
        // every other expected class must show.
        let optional = |c: &String| bounds.get(c).is_some_and(|b| b.min == Some(0));
        let missing: Vec<&String> = classes
            .iter()
            .filter(|c| !found.contains_key(*c) && !optional(c))
            .collect();
        if !missing.is_empty() {
            why.push(format!(
                "expected classes not shown: {}",
                missing
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (class, b) in &bounds {
            let n = found.get(class).copied().unwrap_or(0);
            if found.contains_key(class) && !b.admits(n) {
                why.push(format!("{class}: {n}, expected {b}"));
            }
        }
        let why = why.join("; ");
        Expectation {
            outcome,
            classes,
            bounds,
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

pub use verdict::GroupCutover;

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
            verdict::Status::Pass => Outcome::Pass,
            verdict::Status::Fail => Outcome::Fail,
            verdict::Status::Unknown => Outcome::Unknown,
        };
        let failures = verdict
            .failing()
            .map(|(class, n)| Reason::anomaly(class, n))
            .collect();
        let undecided = if verdict.promises.allow_unverified {
            Vec::new()
        } else {
            verdict
                .unverified()
                .map(|u| Reason::new(RunClass::Unverified, u.offsets(), u.to_string()))
                .collect()
        };
        RunReport {
            kind: RunKind::Verify,
            outcome,
            failures,
            undecided,
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

    /// The run failed for this reason.
    pub fn fail(&mut self, class: impl Into<Class>, count: u64, detail: impl Into<String>) {
        self.failures.push(Reason::new(class, count, detail));
    }

    /// cutover could not observe what the run claims, for this reason.
    pub fn undecide(&mut self, class: impl Into<Class>, count: u64, detail: impl Into<String>) {
        self.undecided.push(Reason::new(class, count, detail));
    }

    /// Every fault that did not take effect makes the run undecided: `fault-failed` when its
    /// task failed before it could say what happened, `fault-not-proven` when its effect was
    /// not seen.
    pub fn note_unproven_faults(&mut self) {
        let unproven: Vec<Reason> = self
            .faults
            .iter()
            .filter(|f| !f.error.is_empty() || f.failed)
            .map(|f| {
                let class = if f.failed {
                    RunClass::FaultFailed
                } else {
                    RunClass::FaultNotProven
                };
                Reason::new(
                    class,
                    1,
                    format!(
                        "fault {} at {:.0} s did not take effect: {}",
                        f.kind, f.start_secs, f.error
                    ),
                )
            })
            .collect();
        self.undecided.extend(unproven);
    }

    /// Every class the run shows (failures and undecided) with its summed count, by name.
    pub fn class_counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for r in self.failures.iter().chain(&self.undecided) {
            *out.entry(r.class.as_str().to_string()).or_insert(0) += r.count;
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `min = 0` makes a class optional; without it an expected class must show, and a class
    /// not expected fails the expectation either way.
    #[test]
    fn a_class_bounded_min_zero_may_be_absent_and_others_must_show() {
        let mut r = RunReport::new("t");
        r.fail(RunClass::Reprocessed, 7, "x");
        r.settle_outcome();
        let b = |min: Option<u64>| CountBounds { min, max: None };
        let judge = |bounds: Vec<(&str, CountBounds)>| {
            let classes = bounds.iter().map(|(c, _)| c.to_string()).collect();
            let bounds = bounds
                .into_iter()
                .map(|(c, b)| (c.to_string(), b))
                .collect();
            Expectation::judge(Outcome::Fail, classes, bounds, &r)
        };
        assert!(
            judge(vec![
                ("reprocessed", b(Some(1))),
                ("state-diverged", b(Some(0)))
            ])
            .met
        );
        let must = judge(vec![
            ("reprocessed", b(Some(1))),
            ("state-diverged", b(None)),
        ]);
        assert!(
            !must.met && must.why.contains("state-diverged"),
            "{}",
            must.why
        );
        let unlisted = judge(vec![("state-diverged", b(Some(0)))]);
        assert!(
            !unlisted.met && unlisted.why.contains("reprocessed"),
            "{}",
            unlisted.why
        );
    }

    fn fault(kind: &str, error: &str, failed: bool) -> FaultEvent {
        FaultEvent {
            kind: kind.into(),
            start_secs: 3.0,
            error: error.into(),
            failed,
            ..FaultEvent::default()
        }
    }

    #[test]
    fn a_failed_fault_task_and_an_unproven_fault_make_the_run_unknown_by_name() {
        let mut r = RunReport::new("t");
        r.faults = vec![
            fault("reset", "", false),
            fault("stall-instance", "instance 0 was not seen stopped", false),
            fault(
                "crash-instance",
                "the fault's task failed: panicked: boom",
                true,
            ),
        ];
        r.note_unproven_faults();
        r.settle_outcome();
        assert_eq!(r.outcome, Outcome::Unknown);
        let counts = r.class_counts();
        assert_eq!(counts.get("fault-not-proven"), Some(&1));
        assert_eq!(counts.get("fault-failed"), Some(&1));
        assert_eq!(counts.len(), 2);
        assert!(r.undecided[1].detail.contains("panicked: boom"));
    }
}
