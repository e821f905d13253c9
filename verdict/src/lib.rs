//! # verdict — the verdict model, without a Kafka client
//!
//! What the checker concludes and what reports embed: named anomaly classes
//! ([`AnomalyClass`]) with exact [`Counts`], the [`Tally`] of what was read and matched,
//! [`Example`]s, per-partition and per-topic verdicts, the [`Status`] (pass, fail, unknown),
//! the [`Promises`] a setup makes (partitions, order, offsets, timestamps, allowed
//! duplicates) and which classes break them, the ranges an open transaction hid
//! ([`Unverified`]), the topics left out ([`SkippedTopic`]), a consumer group's cutover
//! ([`GroupCutover`]) and what goes into a fingerprint ([`FingerprintOptions`]).
//!
//! Serde types only: `verify` (which reads Kafka) fills them, `reports` renders them, and
//! neither `reports` nor anything that only reads a report links a Kafka client through this
//! crate. [`Rename`] (source → target topic names) lives here too, so the built-in
//! replicator's config (and `lint`, which loads it) shares the checker's vocabulary without
//! the checker. The JSON shape is versioned by the report that embeds it (`docs/report-schema.md`).

use std::collections::BTreeMap;

mod rename;
pub use rename::Rename;

use serde::{Deserialize, Serialize};

/// Classes of anomaly, each counted exactly.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyClass {
    /// Committed in the source, missing in the target.
    Lost,
    /// More copies in the target than in the source (upstream duplicates excluded).
    Duplicated,
    /// In the target, matching a record the source aborted.
    LeakedAborted,
    /// In the target, matching nothing in the source.
    Phantom,
    /// Same workload identity as a source record, different content.
    Corrupted,
    /// Follows, in the target partition, a record that came later in the source partition.
    Reordered,
    /// Found in another partition number although partitions are to be preserved.
    MovedPartition,
    /// Target offset differs from the source offset although offsets are to be preserved.
    OffsetMismatch,
    /// Compacted topic: the latest value of a key differs between source and target.
    CompactionDivergent,
    /// Schema registries: the target record's schema id resolves to nothing on the target.
    SchemaUnresolved,
    /// Schema registries: the target record's schema id resolves to another schema.
    SchemaMismatch,
}

impl AnomalyClass {
    pub const ALL: [AnomalyClass; 11] = [
        AnomalyClass::Lost,
        AnomalyClass::Duplicated,
        AnomalyClass::LeakedAborted,
        AnomalyClass::Phantom,
        AnomalyClass::Corrupted,
        AnomalyClass::Reordered,
        AnomalyClass::MovedPartition,
        AnomalyClass::OffsetMismatch,
        AnomalyClass::CompactionDivergent,
        AnomalyClass::SchemaUnresolved,
        AnomalyClass::SchemaMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyClass::Lost => "lost",
            AnomalyClass::Duplicated => "duplicated",
            AnomalyClass::LeakedAborted => "leaked-aborted",
            AnomalyClass::Phantom => "phantom",
            AnomalyClass::Corrupted => "corrupted",
            AnomalyClass::Reordered => "reordered",
            AnomalyClass::MovedPartition => "moved-partition",
            AnomalyClass::OffsetMismatch => "offset-mismatch",
            AnomalyClass::CompactionDivergent => "compaction-divergent",
            AnomalyClass::SchemaUnresolved => "schema-unresolved",
            AnomalyClass::SchemaMismatch => "schema-mismatch",
        }
    }
}

impl std::fmt::Display for AnomalyClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exact counts per class (absent classes are zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts(pub BTreeMap<AnomalyClass, u64>);

impl Counts {
    pub fn add(&mut self, class: AnomalyClass, n: u64) {
        if n > 0 {
            *self.0.entry(class).or_default() += n;
        }
    }

    pub fn get(&self, class: AnomalyClass) -> u64 {
        self.0.get(&class).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Counts) {
        for (c, n) in &other.0 {
            self.add(*c, *n);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves up to `n` from one class to another (reclassification).
    pub fn take(&mut self, class: AnomalyClass, n: u64) -> u64 {
        let have = self.get(class);
        let taken = have.min(n);
        if taken == have {
            self.0.remove(&class);
        } else {
            self.0.insert(class, have - taken);
        }
        taken
    }
}

/// Figures that are not anomalies but belong in the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tally {
    /// Committed source records read.
    pub source_records: u64,
    /// Aborted source records (in read_uncommitted, absent from read_committed).
    pub source_aborted: u64,
    /// Target records read.
    pub target_records: u64,
    /// Source records with a target copy.
    pub matched: u64,
    /// Identical source records beyond the first ("normal" duplicates from producers without
    /// exactly-once); copied faithfully they are not replication duplicates.
    pub upstream_duplicates: u64,
    /// Target records older than anything the source still holds (expired at source).
    pub unverifiable_expired: u64,
    /// Source records missing in the target because the target's retention removed them
    /// (only when expiry is allowed).
    pub expired_allowed: u64,
    /// Compacted topics: records a log cleaner may have removed on one side, so their copy (or
    /// their original) cannot be checked — older values of a key the target's cleaner may have
    /// dropped, copies of values the source's cleaner dropped, tombstones. Only counted once a
    /// cleaner ran (or when cutover cannot see the cleaners: clusters it did not start).
    #[serde(default)]
    pub unverifiable_compacted: u64,
    /// Key + value + header bytes fingerprinted, both sides.
    pub bytes_compared: u64,
}

impl Tally {
    pub fn merge(&mut self, o: &Tally) {
        self.source_records += o.source_records;
        self.source_aborted += o.source_aborted;
        self.target_records += o.target_records;
        self.matched += o.matched;
        self.upstream_duplicates += o.upstream_duplicates;
        self.unverifiable_expired += o.unverifiable_expired;
        self.expired_allowed += o.expired_allowed;
        self.unverifiable_compacted += o.unverifiable_compacted;
        self.bytes_compared += o.bytes_compared;
    }
}

/// Where a record sits.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One example of an anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Example {
    pub class: AnomalyClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Position>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub target: Vec<Position>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_preview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The verdict of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartitionVerdict {
    pub partition: i32,
    pub counts: Counts,
    pub tally: Tally,
    /// Spilled to disk while matching (records), for the memory story.
    pub spilled: u64,
}

/// The verdict of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TopicVerdict {
    pub source_topic: String,
    pub target_topic: String,
    pub counts: Counts,
    /// Always empty since report major 2 minor 1: compacted topics are judged record by record
    /// (what a cleaner may have removed is `tally.unverifiable_compacted`). Minor 0 moved a
    /// compacted topic's record-level counts here; kept so its readers still read.
    #[serde(default, skip_serializing_if = "Counts::is_empty")]
    pub inconclusive: Counts,
    pub tally: Tally,
    pub partitions: Vec<PartitionVerdict>,
    pub examples: Vec<Example>,
    /// Things a person must know: compacted topic (what a cleaner may have removed), log start
    /// moved, topic re-created, open transaction holding the last stable offset, …
    pub warnings: Vec<String>,
    /// Ranges an open transaction hid from the checker at the end (see [`Unverified`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<Unverified>,
}

/// pass / fail / unknown (the run could not decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
}

/// The checker's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Verdict {
    pub status: Status,
    pub counts: Counts,
    pub tally: Tally,
    pub topics: Vec<TopicVerdict>,
    pub duration_ms: u64,
    /// What the checker held the copy to.
    pub promises: Promises,
    /// Source topics the selection matched but the checker left out, with why (internal
    /// topics of Kafka, Connect, MirrorMaker 2 or cutover, by name; a run's own workload
    /// topics are never left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_topics: Vec<String>,
}

/// What the setup promises to preserve; anomalies are judged against it. A scenario's
/// `[verify]` table deserializes straight into it (every key may be left out; an unknown key
/// is refused with the list of known ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Promises {
    /// Every record stays in the partition number it had on the source (default: true).
    /// Off: the target may repartition; records are matched across the whole topic and
    /// `moved-partition` is counted, not judged.
    pub partitions: bool,
    /// Records keep their order within a partition (default: true). Off: `reordered` is
    /// counted, not judged.
    pub order: bool,
    /// Every record keeps its offset (default: false; MirrorMaker 2 and most replicators do
    /// not). On: `offset-mismatch` fails the verdict.
    pub offsets: bool,
    /// Timestamps (value and type) are part of a record's identity (default: false).
    pub timestamps: bool,
    /// Duplicates tolerated, in records (default: 0, exactly-once; a bound for at-least-once
    /// systems).
    pub allowed_duplicates: u64,
    /// Header names left out of fingerprints: provenance headers a replicator adds by design
    /// (default: none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_headers: Vec<String>,
    /// Records an open transaction still hides at the end (on the source or the target) may
    /// stay unjudged (default: false: they make the verdict unknown, naming the partition and
    /// how many offsets; for a scenario that ends with a transaction open on purpose).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_unverified: bool,
    /// Source transactions on the target: `observe` (default: a live observer on the target
    /// reports every workload transaction seen in parts without failing; runs with more than
    /// 300 target partitions are not observed), `atomic` (a torn transaction fails the run:
    /// run-level class `torn-transaction`), `off` (no observer).
    #[serde(skip_serializing_if = "TransactionPromise::is_default")]
    pub transactions: TransactionPromise,
}

/// `[verify] transactions`: whether a source transaction must appear on the target at once.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TransactionPromise {
    #[default]
    Observe,
    Atomic,
    Off,
}

impl TransactionPromise {
    pub fn is_default(&self) -> bool {
        *self == TransactionPromise::Observe
    }

    /// Its name in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionPromise::Observe => "observe",
            TransactionPromise::Atomic => "atomic",
            TransactionPromise::Off => "off",
        }
    }
}

/// What the live `read_committed` observer on the target saw of the workload's source
/// transactions (`[verify] transactions`). A transaction is identified by its producer and its
/// number (the workload's records carry their producer and sequence, and a transactional
/// producer writes `records_per_txn` of them per transaction); its size is what the source
/// holds of it, read `read_committed` after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TornTransactions {
    /// `observe` or `atomic`.
    pub promise: TransactionPromise,
    /// Committed source transactions (the workload's, read on the source).
    pub on_source: u64,
    /// Of them, those with at least one record on the target.
    pub transactions: u64,
    /// Those seen in parts: torn at the end (some records on the target, not all), or one of
    /// whose records was visible while another provably was not yet (between the observer's
    /// samples of the target's last stable offsets).
    pub torn: u64,
    /// Of them, those still in parts on the target at the end (what an application reading
    /// the target inherits after a failover).
    pub torn_at_end: u64,
    /// The longest time one transaction was provably in parts, in milliseconds (a lower
    /// bound: between samples).
    pub max_torn_ms: u64,
    /// A few torn transactions, described.
    pub examples: Vec<String>,
}

impl Default for Promises {
    fn default() -> Self {
        Promises {
            partitions: true,
            order: true,
            offsets: false,
            timestamps: false,
            allowed_duplicates: 0,
            ignore_headers: Vec::new(),
            allow_unverified: false,
            transactions: TransactionPromise::Observe,
        }
    }
}

/// A range of a partition the checker could not judge: an open transaction holds the last
/// stable offset below the high watermark, so `read_committed` readers stop there and the
/// records behind it (committed later or aborted) are not compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unverified {
    /// `source` or `target`.
    pub side: String,
    pub topic: String,
    pub partition: i32,
    /// The last stable offset: the first offset not judged.
    pub from: i64,
    /// The high watermark: offsets `from..to` are not judged (records, markers and aborted
    /// records alike: an upper bound on the records).
    pub to: i64,
}

impl Unverified {
    /// Offsets not judged.
    pub fn offsets(&self) -> u64 {
        (self.to - self.from).max(0) as u64
    }
}

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}-{}: an open transaction holds the last stable offset at {} (high watermark {}): {} offsets not verified",
            self.side,
            self.topic,
            self.partition,
            self.from,
            self.to,
            self.offsets()
        )
    }
}

impl Promises {
    /// What the checker's fingerprints include under these promises.
    pub fn fingerprint(&self) -> FingerprintOptions {
        FingerprintOptions {
            include_timestamp: self.timestamps,
            exclude_headers: self.ignore_headers.clone(),
        }
    }

    /// True when `n` anomalies of `class` break these promises. Classes of a promise the setup
    /// does not make (order, offsets, partitions) are counted and shown, never judged.
    pub fn fails(&self, class: AnomalyClass, n: u64) -> bool {
        match class {
            AnomalyClass::Duplicated => n > self.allowed_duplicates,
            AnomalyClass::Reordered if !self.order => false,
            AnomalyClass::OffsetMismatch if !self.offsets => false,
            AnomalyClass::MovedPartition if !self.partitions => false,
            _ => n > 0,
        }
    }
}

impl Verdict {
    /// The classes that fail the verdict, with their counts.
    pub fn failing(&self) -> impl Iterator<Item = (AnomalyClass, u64)> + '_ {
        self.counts
            .0
            .iter()
            .filter(|(c, n)| self.promises.fails(**c, **n))
            .map(|(c, n)| (*c, *n))
    }

    /// Every range an open transaction hid from the checker at the end.
    pub fn unverified(&self) -> impl Iterator<Item = &Unverified> + '_ {
        self.topics.iter().flat_map(|t| t.unverified.iter())
    }

    /// A verdict that could not be reached (a side could not be read): status unknown.
    pub fn unknown(promises: Promises) -> Verdict {
        Verdict {
            status: Status::Unknown,
            counts: Counts::default(),
            tally: Tally::default(),
            topics: Vec::new(),
            duration_ms: 0,
            promises,
            skipped_topics: Vec::new(),
        }
    }

    /// Builds the verdict from topic verdicts, judging counts against the promises.
    pub fn from_topics(topics: Vec<TopicVerdict>, promises: Promises, duration_ms: u64) -> Verdict {
        let mut counts = Counts::default();
        let mut tally = Tally::default();
        for t in &topics {
            counts.merge(&t.counts);
            tally.merge(&t.tally);
        }
        let failing = counts.0.iter().any(|(c, n)| promises.fails(*c, *n));
        // Records left unjudged make a clean verdict unknown, unless the promises allow it.
        let unjudged =
            !promises.allow_unverified && topics.iter().any(|t| !t.unverified.is_empty());
        Verdict {
            status: if failing {
                Status::Fail
            } else if unjudged {
                Status::Unknown
            } else {
                Status::Pass
            },
            counts,
            tally,
            topics,
            duration_ms,
            promises,
            skipped_topics: Vec::new(),
        }
    }
}

/// What goes into a record's fingerprint (the checker's `verify::fingerprint` computes it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintOptions {
    /// Include the timestamp and its type (when the setup promises to preserve them).
    #[serde(default)]
    pub include_timestamp: bool,
    /// Header names left out (headers a replicator adds by design).
    #[serde(default)]
    pub exclude_headers: Vec<String>,
}

/// One application consumer group moved from the source to the target: it consumed the
/// source, stopped, its offsets were translated, and it resumed on the target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupCutover {
    pub group: String,
    /// How the offsets reached the target (`cutover offsets sync`, or the system's own sync).
    pub translated_by: String,
    /// Records the group consumed on the source before it stopped.
    pub consumed_on_source: u64,
    /// Partitions with a committed offset on the source.
    pub partitions: u64,
    /// Of those, partitions with no committed offset on the target after translation.
    pub untranslated: u64,
    /// Records the group would miss on the target (committed in the source after its position,
    /// before its translated position on the target).
    pub skipped: u64,
    /// Records the group would read a second time on the target.
    pub reread: u64,
    /// Partitions where the first record read on the target is not the copy of the first one
    /// the group had left on the source.
    pub misplaced: u64,
    /// Per-partition lines for the partitions that are not exact (capped).
    pub examples: Vec<String>,
}

impl GroupCutover {
    /// Exact: every partition translated, resumes on the right record, nothing skipped or
    /// re-read.
    pub fn exact(&self) -> bool {
        self.untranslated == 0 && self.skipped == 0 && self.reread == 0 && self.misplaced == 0
    }
}

/// One stateful application moved from the source to the target mid-run (application
/// cutover): its per-key updates on both clusters judged against an oracle computed from the
/// input records themselves, independent of the application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppCutover {
    /// The `[[app]]`'s name.
    pub app: String,
    /// Its `application.id` (the consumer group and the internal topics' prefix).
    pub application_id: String,
    /// `planned` (stopped, drained, moved) or `failover` (the source cut off).
    pub switch: String,
    /// Input records the oracle counted (committed, with a key).
    pub inputs: u64,
    /// Keys among them.
    pub keys: u64,
    /// Updates the application emitted while it ran on the source.
    pub updates_on_source: u64,
    /// Updates it emitted once started on the target.
    pub updates_on_target: u64,
    /// Inputs processed more than once (each extra processing counted).
    pub reprocessed: u64,
    /// Inputs never processed.
    pub unprocessed: u64,
    /// Updates whose state (count, sum) is not what every earlier update of the key gives:
    /// the application's state was lost or changed across the switch.
    pub state_diverged: u64,
    /// Updates naming an input the key never had.
    pub unexplained: u64,
    /// Keys whose last update is not the oracle's final state.
    pub keys_wrong: u64,
    /// Failover: when the source was cut off, in seconds on the workload's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut_at_secs: Option<f64>,
    /// Failover: input records on the source the copy never got (lost at the cut; the oracle
    /// is over the inputs on the target).
    pub inputs_lost_at_cut: u64,
    /// Failover: updates the application emitted on the source whose input the cut lost
    /// (processed before the cut, their input never copied): counted in the state, owed by
    /// nobody.
    pub processed_lost_inputs: u64,
    /// Failover: updates the application emitted on the source that the copy never got
    /// (its downstream readers on the target never see them).
    pub updates_lost_at_cut: u64,
    /// Last update on the source → first update on the target, in milliseconds (None when
    /// either side emitted none).
    pub downtime_ms: Option<u64>,
    /// The application's start on the target → its state restored and running, in
    /// milliseconds, from its own log.
    pub restore_ms: Option<u64>,
    /// Changelog records the application restored on the target, from its own log.
    pub restored_records: Option<u64>,
    /// What the switch did, step by step, with times since the workload started.
    pub steps: Vec<String>,
    /// Examples of each anomaly (capped).
    pub examples: Vec<String>,
}

impl AppCutover {
    /// Every input processed once with the state carried: the switch was clean.
    pub fn exact(&self) -> bool {
        self.reprocessed == 0
            && self.unprocessed == 0
            && self.state_diverged == 0
            && self.unexplained == 0
            && self.keys_wrong == 0
    }
}
