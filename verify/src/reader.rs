//! Reading the ledgers from real clusters and running the matcher over every partition.
//!
//! Read-only on both clusters: consumers are assigned partitions explicitly, never subscribe,
//! never commit. Each partition is read between bounds captured when verification starts (the
//! high watermark, capped at the last stable offset on the committed side, or `--until`), so a
//! verification of live clusters ends.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{Admin, ClientProps};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;

use crate::error::VerifyError;
use crate::fingerprint::FingerprintOptions;
use crate::matcher::{
    topic_position, Compaction, MatchOptions, PartitionMatcher, PartitionOutcome, Pos, Retention,
};
use crate::runs::{RunSorter, Spill};
use crate::streams::{
    consumer, list_offsets, Opener, QuietConsumer, Seen, SourceStream, Stream, PREFETCH_KBYTES,
};
use crate::topic::combine;
use crate::verdict::{AnomalyClass, Position, Promises, TopicVerdict, Verdict};

pub use crate::rename::Rename;

/// Everything a verification needs besides the clusters.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Source topics to verify (regex, anchored).
    pub topics: String,
    pub rename: Rename,
    /// Verify records up to this timestamp (ms) instead of the high watermark.
    pub until_ms: Option<i64>,
    pub fingerprint: FingerprintOptions,
    pub promises: Promises,
    /// Records the target's retention removed are expected (not lost).
    pub allow_expiry: bool,
    pub matching: MatchOptions,
    /// Partitions verified in parallel.
    pub workers: usize,
    /// How long a read may see no progress before it fails.
    pub idle_timeout: Duration,
    /// Schema registries: framed values judged by schema content (`crate::schemas`).
    pub schemas: Option<std::sync::Arc<crate::schemas::SchemaCheck>>,
    /// Exactly these source topics, whatever their names (a run's workload topics: a topic
    /// the workload wrote is always verified, even one named like an internal topic); the
    /// `topics` regex is not used then. None: the regex, internal topics left out and listed
    /// in the verdict's `skipped_topics`.
    pub exact_topics: Option<Vec<String>>,
    /// Where the checker can see what the log cleaners of compacted topics did.
    pub cleaners: Cleaners,
    /// Duplicated copies also counted over these offset boundaries per target partition
    /// (`crate::marks`: a run's rebalances); the verdict is the same with or without.
    pub duplicate_marks: Option<Arc<crate::marks::DuplicateMarks>>,
}

/// The brokers' log directories of each cluster, where cutover started them (their
/// `cleaner-offset-checkpoint` files say which compacted partitions a log cleaner has cleaned:
/// [`harness::cleaner`]). `None`: a cluster cutover cannot see into; its cleaner is taken to
/// have run anywhere, so on compacted topics every older value of a key missing on the other
/// side is `unverifiable_compacted` rather than lost or phantom.
#[derive(Debug, Clone, Default)]
pub struct Cleaners {
    pub source: Option<Vec<std::path::PathBuf>>,
    pub target: Option<Vec<std::path::PathBuf>>,
}

impl Cleaners {
    /// Both clusters' log directories, as [`harness::Cluster::log_dirs`] gives them.
    pub fn of(source: &dyn harness::Cluster, target: &dyn harness::Cluster) -> Cleaners {
        Cleaners {
            source: source.log_dirs(),
            target: target.log_dirs(),
        }
    }

    /// Whether a cleaner may have removed records of `topic`'s `partitions` on one side.
    fn may_have_cleaned(
        dirs: Option<&Vec<std::path::PathBuf>>,
        cluster: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Result<bool, VerifyError> {
        match dirs {
            None => Ok(true),
            Some(dirs) => {
                harness::cleaner::cleaned(dirs, topic, partitions).map_err(|e| VerifyError::Kafka {
                    cluster: cluster.into(),
                    detail: format!("reading the log cleaner's checkpoints of {topic}: {e}"),
                })
            }
        }
    }
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            topics: ".*".into(),
            rename: Rename::default(),
            until_ms: None,
            fingerprint: FingerprintOptions::default(),
            promises: Promises::default(),
            allow_expiry: false,
            matching: MatchOptions::default(),
            workers: 2,
            idle_timeout: Duration::from_secs(30),
            schemas: None,
            exact_topics: None,
            cleaners: Cleaners::default(),
            duplicate_marks: None,
        }
    }
}

/// Progress of a verification.
#[derive(Debug, Clone)]
pub enum VerifyProgress {
    Planned {
        partitions: usize,
    },
    PartitionDone {
        topic: String,
        partition: i32,
        records: u64,
    },
}

/// True for internal topics that are never verified (Kafka's, MirrorMaker 2's, cutover's).
pub fn is_internal_topic(name: &str) -> bool {
    name.starts_with("__")
        || name.starts_with("mm2-")
        || name.ends_with(".internal")
        || name == "heartbeats"
        || name.ends_with(".heartbeats")
        || name.starts_with("connect-")
}

/// A selected topic and what verification knows of it before reading.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedTopic {
    pub source_topic: String,
    pub target_topic: String,
    /// Source partition numbers.
    pub partitions: Vec<i32>,
    /// Target partition numbers (read too where the source has no such partition: records
    /// there are phantoms, or moved when partitions are preserved).
    #[serde(default)]
    pub target_partitions: Vec<i32>,
    /// `cleanup.policy` includes `compact`.
    pub compacted: bool,
    /// Known before reading: partition counts differ, compacted topic.
    pub warnings: Vec<String>,
}

/// What checking one partition found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionResult {
    pub source_topic: String,
    pub partition: i32,
    pub outcome: PartitionOutcome,
    pub warnings: Vec<String>,
    /// Keys whose latest value differs (compacted topics).
    pub divergent: u64,
    /// Ranges an open transaction hid from the checker (source or target).
    #[serde(default)]
    pub unverified: Vec<crate::verdict::Unverified>,
}

/// One unit of checking: a partition pair, or a whole topic when partitions are not preserved.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) source_topic: String,
    pub(crate) target_topic: String,
    /// The partition pair's number; [`WHOLE_TOPIC`] for a whole-topic job.
    pub(crate) partition: i32,
    pub(crate) compacted: bool,
    pub(crate) whole_topic: bool,
    /// The source partition whose owner checks this job in a shared verification.
    pub(crate) owner: i32,
    /// Partitions each side has (a pair job: its number when that side has it).
    pub(crate) source_partitions: Vec<i32>,
    pub(crate) target_partitions: Vec<i32>,
}

/// The partition number of a whole-topic job's result (partitions not preserved: every
/// partition of the topic is matched against every other).
pub const WHOLE_TOPIC: i32 = -1;

impl PlannedTopic {
    /// The units a verification of this topic checks: with partitions preserved, every
    /// partition number either side has; else the whole topic ([`WHOLE_TOPIC`]).
    pub fn units(&self, preserve_partitions: bool) -> Vec<i32> {
        if !preserve_partitions {
            return vec![WHOLE_TOPIC];
        }
        let mut units = self.partitions.clone();
        units.extend(
            self.target_partitions
                .iter()
                .filter(|p| !self.partitions.contains(p)),
        );
        units.sort_unstable();
        units
    }

    /// The source partition whose owner checks `unit` in a shared verification: the
    /// partition itself, else (a target-only partition, the whole topic) one chosen from the
    /// number, so exactly one member takes it.
    pub fn owner_of(&self, unit: i32) -> Option<i32> {
        if self.partitions.contains(&unit) {
            return Some(unit);
        }
        let n = self.partitions.len();
        (n > 0).then(|| self.partitions[unit.max(0) as usize % n])
    }
}

/// The jobs of the planned topics: partition by partition, or topic by topic when partitions
/// are not preserved.
pub(crate) fn jobs(topics: &[PlannedTopic], preserve_partitions: bool) -> Vec<Job> {
    topics
        .iter()
        .flat_map(|t| {
            t.units(preserve_partitions).into_iter().map(|unit| Job {
                source_topic: t.source_topic.clone(),
                target_topic: t.target_topic.clone(),
                partition: unit,
                compacted: t.compacted,
                whole_topic: unit == WHOLE_TOPIC,
                owner: t.owner_of(unit).unwrap_or(unit),
                source_partitions: t.partitions.clone(),
                target_partitions: t.target_partitions.clone(),
            })
        })
        .collect()
}

/// Verifies every selected topic; the verdict says pass/fail with exact counts.
pub async fn verify(
    source: &ClientProps,
    target: &ClientProps,
    options: &VerifyOptions,
    progress: Arc<dyn Fn(VerifyProgress) + Send + Sync>,
) -> Result<Verdict, VerifyError> {
    let started = Instant::now();
    let (topics, skipped) = plan_listing(source, target, options).await?;
    let jobs = jobs(&topics, options.promises.partitions);
    progress(VerifyProgress::Planned {
        partitions: jobs.len(),
    });
    let results = check_partitions(source, target, options, jobs, progress, None).await?;
    let previewer = Previewer::new(source, target);
    let mut verdict = assemble(
        &topics,
        results,
        options,
        &previewer,
        started.elapsed().as_millis() as u64,
    );
    verdict.skipped_topics = skipped;
    Ok(verdict)
}

/// The source topics the selection matches that are left out as internal (none with exact
/// topics), each with why, from the source's topic listing.
fn skipped_internal(
    listed: &[String],
    options: &VerifyOptions,
) -> Result<Vec<String>, VerifyError> {
    if options.exact_topics.is_some() {
        return Ok(Vec::new());
    }
    let pattern = selection(options)?;
    let mut skipped: Vec<String> = listed
        .iter()
        .filter(|t| is_internal_topic(t) && pattern.is_match(t) && !t.starts_with("__"))
        .map(|t| format!("{t} (named like an internal topic of Connect, MirrorMaker 2 or cutover)"))
        .collect();
    skipped.sort();
    Ok(skipped)
}

/// The `--topics` regex, anchored.
fn selection(options: &VerifyOptions) -> Result<Regex, VerifyError> {
    Regex::new(&format!("^(?:{})$", options.topics)).map_err(|e| VerifyError::InvalidOption {
        option: "--topics".into(),
        reason: format!("`{}` is not a valid regex: {e}", options.topics),
    })
}

/// Lists the selected topics (regex, internal topics left out) and their target names; every
/// target topic must exist.
pub async fn plan(
    source: &ClientProps,
    target: &ClientProps,
    options: &VerifyOptions,
) -> Result<Vec<PlannedTopic>, VerifyError> {
    Ok(plan_listing(source, target, options).await?.0)
}

/// [`plan`], and the internal-looking source topics the selection left out
/// (`skipped_topics`), from the same listing of the source.
async fn plan_listing(
    source: &ClientProps,
    target: &ClientProps,
    options: &VerifyOptions,
) -> Result<(Vec<PlannedTopic>, Vec<String>), VerifyError> {
    let source_admin = Admin::new("source", source)?;
    let target_admin = Admin::new("target", target)?;
    let listed = source_admin.list_topics().await?;
    let skipped = skipped_internal(&listed, options)?;
    let mut source_topics: Vec<String> = match &options.exact_topics {
        Some(exact) => {
            if let Some(absent) = exact.iter().find(|t| !listed.contains(t)) {
                return Err(VerifyError::MissingTopic {
                    topic: absent.clone(),
                    side: "source",
                });
            }
            exact.clone()
        }
        None => {
            let pattern = selection(options)?;
            listed
                .into_iter()
                .filter(|t| !is_internal_topic(t) && pattern.is_match(t))
                .collect()
        }
    };
    source_topics.sort();
    source_topics.dedup();
    if source_topics.is_empty() {
        return Err(VerifyError::InvalidOption {
            option: "--topics".into(),
            reason: format!(
                "`{}` matches no topic on the source cluster",
                options.topics
            ),
        });
    }
    let target_topics = target_admin.list_topics().await?;
    let mut planned = Vec::new();
    for topic in &source_topics {
        let target_topic = options.rename.target_of(topic);
        if !target_topics.contains(&target_topic) {
            return Err(VerifyError::MissingTopic {
                topic: target_topic,
                side: "target",
            });
        }
        let sdesc = source_admin.describe_topic(topic).await?;
        let tdesc = target_admin.describe_topic(&target_topic).await?;
        let mut warnings = Vec::new();
        if sdesc.partitions.len() != tdesc.partitions.len() {
            warnings.push(format!(
                "{topic} has {} partitions, {target_topic} has {}: partition numbers cannot be preserved",
                sdesc.partitions.len(),
                tdesc.partitions.len()
            ));
        }
        let configs = source_admin.topic_configs(topic).await.unwrap_or_default();
        let compacted = configs
            .get("cleanup.policy")
            .is_some_and(|p| p.contains("compact"));
        if compacted {
            warnings.push(format!(
                "{topic} is compacted: every record is judged but older values of a key and tombstones a log cleaner may have removed on one side (counted as unverifiable_compacted); the latest value per key is compared"
            ));
        }
        let mut partitions: Vec<i32> = sdesc.partitions.iter().map(|p| p.partition).collect();
        partitions.sort_unstable();
        let mut target_partitions: Vec<i32> =
            tdesc.partitions.iter().map(|p| p.partition).collect();
        target_partitions.sort_unstable();
        planned.push(PlannedTopic {
            source_topic: topic.clone(),
            target_topic,
            partitions,
            target_partitions,
            compacted,
            warnings,
        });
    }
    drop_together(vec![source_admin, target_admin]);
    Ok((planned, skipped))
}

/// Asked before a partition is checked: is it still this process's to check?
pub(crate) type Keep = Arc<dyn Fn(&str, i32) -> bool + Send + Sync>;

/// Checks `jobs` on `options.workers` threads. `keep`, asked before each job, can drop a job
/// that is no longer this process's to check.
pub(crate) async fn check_partitions(
    source: &ClientProps,
    target: &ClientProps,
    options: &VerifyOptions,
    jobs: Vec<Job>,
    progress: Arc<dyn Fn(VerifyProgress) + Send + Sync>,
    keep: Option<Keep>,
) -> Result<Vec<PartitionResult>, VerifyError> {
    let chunk = chunk_size(jobs.len(), options.workers);
    let jobs = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let results: Arc<Mutex<Vec<PartitionResult>>> = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..options.workers.max(1) {
        let (jobs, results, progress) = (jobs.clone(), results.clone(), progress.clone());
        let (source, target, options) = (source.clone(), target.clone(), options.clone());
        let keep = keep.clone();
        workers.push(tokio::task::spawn_blocking(
            move || -> Result<(), VerifyError> {
                let mut reader = Reader::new(&source, &target, &options, chunk)?;
                loop {
                    // A chunk of jobs, those no longer this process's left out.
                    let mut mine = Vec::with_capacity(chunk);
                    while mine.len() < chunk {
                        let job = match jobs.lock() {
                            Ok(mut q) => q.pop_front(),
                            Err(_) => None,
                        };
                        let Some(job) = job else { break };
                        if keep
                            .as_ref()
                            .is_some_and(|k| !k(&job.source_topic, job.owner))
                        {
                            continue;
                        }
                        mine.push(job);
                    }
                    if mine.is_empty() {
                        reader.close();
                        return Ok(());
                    }
                    let checked = reader.chunk(&mine)?;
                    for (job, r) in mine.into_iter().zip(checked) {
                        progress(VerifyProgress::PartitionDone {
                            topic: job.source_topic.clone(),
                            partition: job.partition,
                            records: r.outcome.tally.source_records
                                + r.outcome.tally.target_records,
                        });
                        if let Ok(mut results) = results.lock() {
                            results.push(PartitionResult {
                                source_topic: job.source_topic,
                                partition: job.partition,
                                outcome: r.outcome,
                                warnings: r.warnings,
                                divergent: r.divergent,
                                unverified: r.unverified,
                            });
                        }
                    }
                }
            },
        ));
    }
    for w in workers {
        w.await.map_err(|e| VerifyError::Kafka {
            cluster: "source".into(),
            detail: format!("a verification worker failed: {e}"),
        })??;
    }
    let mut results = std::mem::take(&mut *results.lock().map_err(|_| VerifyError::Kafka {
        cluster: "source".into(),
        detail: "results lock poisoned".into(),
    })?);
    results.sort_by(|a, b| (&a.source_topic, a.partition).cmp(&(&b.source_topic, b.partition)));
    Ok(results)
}

/// Where key previews of examples come from: the clusters, or previews saved with partial
/// verdicts.
pub trait KeyPreviews {
    /// The key at each wanted (source side?, position), in order; None where there is none
    /// (no record there, or not read within the previews' time bound).
    fn previews(&self, wanted: &[(bool, Position)]) -> Vec<Option<String>>;
}

/// How long the key previews of one verdict may take, whatever the number of examples: they
/// are read partition by partition in one multi-partition fetch per side, and what is not read
/// by then has no preview.
pub const PREVIEW_BUDGET: Duration = Duration::from_secs(30);

/// The position whose key an example shows, and whether it is on the source side.
pub(crate) fn preview_position(
    class: AnomalyClass,
    source: Option<&Position>,
    target: &[Position],
) -> Option<(bool, Position)> {
    match (source, target.first()) {
        (Some(s), _) if class != AnomalyClass::LeakedAborted => Some((true, s.clone())),
        (_, Some(t)) => Some((false, t.clone())),
        (Some(s), None) => Some((true, s.clone())),
        (None, None) => None,
    }
}

/// Builds the verdict from partition results: per topic, cross-partition pairing
/// (moved-partition), compaction, warnings, key previews of the examples.
pub fn assemble(
    topics: &[PlannedTopic],
    mut results: Vec<PartitionResult>,
    options: &VerifyOptions,
    previews: &dyn KeyPreviews,
    duration_ms: u64,
) -> Verdict {
    results.sort_by(|a, b| (&a.source_topic, a.partition).cmp(&(&b.source_topic, b.partition)));
    let mut grouped: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for r in results {
        grouped.entry(r.source_topic.clone()).or_default().push(r);
    }
    let mut verdicts: Vec<TopicVerdict> = Vec::new();
    for (topic, results) in grouped {
        let planned = topics.iter().find(|t| t.source_topic == topic);
        let target_topic = planned.map(|t| t.target_topic.clone()).unwrap_or_default();
        let divergent: u64 = results.iter().map(|r| r.divergent).sum();
        let mut warnings: Vec<String> = planned.map(|t| t.warnings.clone()).unwrap_or_default();
        let mut outcomes = Vec::new();
        let mut unverified = Vec::new();
        for r in results {
            warnings.extend(r.warnings);
            unverified.extend(r.unverified);
            outcomes.push((r.partition, r.outcome));
        }
        let mut verdict = combine(
            &topic,
            &target_topic,
            outcomes,
            options.promises.partitions,
            options.matching.examples_per_class,
        );
        if let Some(check) = &options.schemas {
            check.reclassify(&mut verdict);
        }
        verdict
            .counts
            .add(AnomalyClass::CompactionDivergent, divergent);
        verdict.warnings.extend(warnings);
        verdict.unverified = unverified;
        verdicts.push(verdict);
    }
    // Every example's key, asked for at once (one read per side, not one per example).
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut wanted: Vec<(bool, Position)> = Vec::new();
    for (v, verdict) in verdicts.iter().enumerate() {
        for (e, example) in verdict.examples.iter().enumerate() {
            if let Some(w) =
                preview_position(example.class, example.source.as_ref(), &example.target)
            {
                at.push((v, e));
                wanted.push(w);
            }
        }
    }
    for ((v, e), key) in at.into_iter().zip(previews.previews(&wanted)) {
        verdicts[v].examples[e].key_preview = key;
    }
    Verdict::from_topics(verdicts, options.promises.clone(), duration_ms)
}

/// The most partitions a worker reads at once (its chunk): their first fetches leave
/// together, and each waits in its own queue until the worker comes to it.
pub(crate) const MAX_CHUNK: usize = 32;

/// How many jobs a worker takes at once: enough that every worker keeps several chunks to
/// take (no worker left idle at the end), at most [`MAX_CHUNK`].
pub(crate) fn chunk_size(jobs: usize, workers: usize) -> usize {
    (jobs / (workers.max(1) * 4)).clamp(1, MAX_CHUNK)
}

/// What checking one job gave.
pub(crate) struct JobResult {
    pub(crate) outcome: PartitionOutcome,
    pub(crate) warnings: Vec<String>,
    pub(crate) divergent: u64,
    /// Ranges the job could not judge (an open transaction at the end).
    pub(crate) unverified: Vec<crate::verdict::Unverified>,
}

struct Reader {
    source_committed: Arc<QuietConsumer>,
    source_uncommitted: Arc<QuietConsumer>,
    target: Arc<QuietConsumer>,
    /// Watermarks only: the target's high watermark (the `read_committed` reader's is its
    /// last stable offset).
    target_uncommitted: Arc<QuietConsumer>,
    options: VerifyOptions,
    /// Source topics a partition of which had aborted records or markers: their next
    /// partitions are read in both views from the start.
    transactional: HashSet<String>,
}

/// Drops `items` on threads of their own, side by side, and waits for all: a librdkafka
/// client's teardown waits for its threads to end (tens of milliseconds each), and one after
/// the other they added most of a second to a short verification.
pub(crate) fn drop_together<T: Send>(items: Vec<T>) {
    std::thread::scope(|s| {
        for item in items {
            s.spawn(move || drop(item));
        }
    });
}

/// One partition job's streams, opened ahead of its turn.
struct Opened {
    source: SourceStream,
    target: Stream,
}

impl Reader {
    fn new(
        source: &ClientProps,
        target: &ClientProps,
        options: &VerifyOptions,
        chunk: usize,
    ) -> Result<Reader, VerifyError> {
        let kbytes = PREFETCH_KBYTES / chunk.max(1);
        let open = |props, isolation, cluster| -> Result<Arc<QuietConsumer>, VerifyError> {
            Ok(Arc::new(consumer(props, isolation, cluster, kbytes)?))
        };
        Ok(Reader {
            source_committed: open(source, "read_committed", "source")?,
            source_uncommitted: open(source, "read_uncommitted", "source")?,
            target: open(target, "read_committed", "target")?,
            target_uncommitted: open(target, "read_uncommitted", "target")?,
            options: options.clone(),
            transactional: HashSet::new(),
        })
    }

    /// Tears the four consumers down together ([`drop_together`]).
    fn close(self) {
        let Reader {
            source_committed,
            source_uncommitted,
            target,
            target_uncommitted,
            ..
        } = self;
        drop_together(vec![
            source_committed,
            source_uncommitted,
            target,
            target_uncommitted,
        ]);
    }

    /// Checks a chunk of jobs: the partition jobs' bounds in one request per side and kind,
    /// their partitions assigned together, then each read side by side in turn; a whole-topic
    /// job on its own.
    fn chunk(&mut self, jobs: &[Job]) -> Result<Vec<JobResult>, VerifyError> {
        if jobs.iter().any(|j| j.whole_topic) {
            return jobs.iter().map(|j| self.whole_topic(j)).collect();
        }
        let source_parts: Vec<(&str, i32)> = jobs
            .iter()
            .filter(|j| j.source_partitions.contains(&j.partition))
            .map(|j| (j.source_topic.as_str(), j.partition))
            .collect();
        let target_parts: Vec<(&str, i32)> = jobs
            .iter()
            .filter(|j| j.target_partitions.contains(&j.partition))
            .map(|j| (j.target_topic.as_str(), j.partition))
            .collect();
        let mut source_bounds = self.source_bounds(&source_parts)?.into_iter();
        let mut target_bounds = self.target_bounds(&target_parts)?.into_iter();
        let mut results = Vec::with_capacity(jobs.len());
        let mut bounds = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut result = JobResult {
                outcome: PartitionOutcome::default(),
                warnings: Vec::new(),
                divergent: 0,
                unverified: Vec::new(),
            };
            let s = if job.source_partitions.contains(&job.partition) {
                let (b, warning, unverified) = source_bounds.next().unwrap_or_default();
                result.warnings.extend(warning);
                result.unverified.extend(unverified);
                Some(b)
            } else {
                None
            };
            let t = if job.target_partitions.contains(&job.partition) {
                let (b, unverified) = target_bounds.next().unwrap_or_default();
                result.unverified.extend(unverified);
                Some(b)
            } else {
                None
            };
            results.push(result);
            bounds.push((s, t));
        }
        let mut opened = Vec::with_capacity(jobs.len());
        for (job, (s, t)) in jobs.iter().zip(&bounds) {
            opened.push(self.open(job, s.unwrap_or_default(), t.unwrap_or_default())?);
        }
        for ((job, result), Opened { source, target }) in jobs.iter().zip(&mut results).zip(opened)
        {
            let (outcome, divergent) = self.check(job, source, target)?;
            result.outcome = outcome;
            result.divergent = divergent;
        }
        let source_before: Vec<Bounds> = bounds.iter().filter_map(|b| b.0).collect();
        let target_before: Vec<Bounds> = bounds.iter().filter_map(|b| b.1).collect();
        let (source_moved, target_moved) = self.moved(
            (&source_parts, &source_before),
            (&target_parts, &target_before),
        )?;
        let (mut sm, mut tm) = (source_moved.into_iter(), target_moved.into_iter());
        for (result, (s, t)) in results.iter_mut().zip(&bounds) {
            if s.is_some() {
                result.warnings.extend(sm.next().unwrap_or_default());
            }
            if t.is_some() {
                result.warnings.extend(tm.next().unwrap_or_default());
            }
        }
        Ok(results)
    }

    /// Assigns a partition job's source and target partitions from their bounds (a side the
    /// job does not have is read as empty).
    fn open(&self, job: &Job, s: Bounds, t: Bounds) -> Result<Opened, VerifyError> {
        let (st, tt, p) = (&job.source_topic, &job.target_topic, job.partition);
        let schemas = self.options.schemas.as_ref();
        let source = self.source_stream(st, p, s, job.compacted, schemas)?;
        let mut target = Stream::open(
            &self.target,
            tt,
            p,
            t.low,
            t.end,
            self.options.idle_timeout,
            "target",
        )?;
        if let Some(check) = schemas {
            target.schema = Some((
                check.clone(),
                crate::schemas::Side::Target {
                    source_topic: st.clone(),
                },
            ));
        }
        Ok(Opened { source, target })
    }

    /// A source partition read from its bounds: its committed view assigned now, its
    /// uncommitted view at the first gap (from the start for a compacted topic or one known to
    /// hold transactions). `schemas`: values fingerprinted by schema content, the committed
    /// view's records noted for pairing.
    fn source_stream(
        &self,
        st: &str,
        p: i32,
        s: Bounds,
        compacted: bool,
        schemas: Option<&Arc<crate::schemas::SchemaCheck>>,
    ) -> Result<SourceStream, VerifyError> {
        use crate::schemas::Side;
        let idle = self.options.idle_timeout;
        let side = |record| Side::Source {
            topic: st.to_string(),
            record,
        };
        let mut committed =
            Stream::open(&self.source_committed, st, p, s.low, s.end, idle, "source")?;
        committed.schema = schemas.map(|check| (check.clone(), side(true)));
        let opener = Opener {
            consumer: self.source_uncommitted.clone(),
            topic: st.to_string(),
            partition: p,
            idle,
            schema: schemas.map(|check| (check.clone(), side(false))),
        };
        let eager = compacted || self.transactional.contains(st);
        SourceStream::new(committed, opener, eager)
    }

    /// Reads one partition pair side by side through the matcher: the outcome and the keys
    /// whose latest values diverge (compacted topics).
    fn check(
        &mut self,
        job: &Job,
        mut source: SourceStream,
        mut target: Stream,
    ) -> Result<(PartitionOutcome, u64), VerifyError> {
        let p = job.partition;
        let fp_opts = self.options.fingerprint.clone();
        // The promises decide what is checked: `matching` only sizes the matcher.
        let mut matching = self.options.matching.clone();
        matching.check_offsets = self.options.promises.offsets;
        matching.check_order = self.options.promises.order;
        let mut matcher = PartitionMatcher::new(matching);
        if let Some(m) = &self.options.duplicate_marks {
            matcher.mark_duplicates(m.for_job(&job.target_topic, p, false));
        }
        let compacted = job.compacted;
        let mut latest = Latest::new(compacted, &self.options.matching);
        let (s_low, s_end) = (source.start(), source.end());
        let (t_low, t_end) = (target.start(), target.end());

        // Source and target are read side by side, so the matcher's in-order window pairs them
        // as they come: the side that is behind (as a fraction of its offset range) reads next.
        let (s_span, t_span) = (
            i128::from((s_end - s_low).max(1)),
            i128::from((t_end - t_low).max(1)),
        );
        let (mut s_next, mut t_next) = (s_low, t_low);
        let (mut s_done, mut t_done) = (false, false);
        while !(s_done && t_done) {
            let source_behind = !s_done
                && (t_done
                    || i128::from(s_next - s_low) * t_span <= i128::from(t_next - t_low) * s_span);
            if source_behind {
                let Some((u, committed)) = source.next(&fp_opts, compacted)? else {
                    s_done = true;
                    continue;
                };
                s_next = u.offset + 1;
                if committed {
                    matcher.push_source(u.offset, u.fp, u.ident, u.bytes)?;
                    latest.source(u.offset, &u)?;
                } else {
                    matcher.push_aborted(u.offset, u.fp, u.ident)?;
                }
            } else {
                let Some(r) = target.next(&fp_opts, compacted)? else {
                    t_done = true;
                    continue;
                };
                t_next = r.offset + 1;
                matcher.push_target(r.offset, r.fp, r.ident, r.bytes)?;
                latest.target(r.offset, &r)?;
            }
        }
        if source.read_uncommitted() {
            self.transactional.insert(job.source_topic.clone());
        }
        drop((source, target));
        let (divergent, compaction) = self.compaction(job, latest)?;
        let outcome = matcher.finish_compacted(
            Retention {
                source_log_start: s_low,
                target_log_start: t_low,
                allow_expiry: self.options.allow_expiry,
            },
            compaction,
        )?;
        Ok((outcome, divergent))
    }

    /// Partitions not preserved: every source partition, then every target partition (those
    /// numbered beyond the source's count too), through one matcher in topic positions.
    fn whole_topic(&mut self, job: &Job) -> Result<JobResult, VerifyError> {
        let (st, tt) = (&job.source_topic, &job.target_topic);
        let mut warnings = Vec::new();
        let mut unverified = Vec::new();
        let fp_opts = self.options.fingerprint.clone();
        let mut matching = self.options.matching.clone();
        matching.whole_topic = true;
        matching.window = 0;
        let mut matcher = PartitionMatcher::new(matching);
        if let Some(m) = &self.options.duplicate_marks {
            matcher.mark_duplicates(m.for_job(tt, job.partition, true));
        }
        let compacted = job.compacted;
        let mut latest = Latest::new(compacted, &self.options.matching);
        let idle = self.options.idle_timeout;
        let mut retention = Retention {
            allow_expiry: self.options.allow_expiry,
            ..Retention::default()
        };
        let position = |side: &str, topic: &str, p: i32, offset: i64| {
            topic_position(p, offset).ok_or_else(|| VerifyError::InvalidOption {
                option: "--no-preserve-partitions".into(),
                reason: format!(
                    "{side} {topic}-{p} offset {offset} is beyond what whole-topic matching can place (offsets below 2^40, partitions below 2^21)"
                ),
            })
        };
        let source_parts: Vec<(&str, i32)> = job
            .source_partitions
            .iter()
            .map(|&p| (st.as_str(), p))
            .collect();
        let target_parts: Vec<(&str, i32)> = job
            .target_partitions
            .iter()
            .map(|&p| (tt.as_str(), p))
            .collect();
        let source_bounds = self.source_bounds(&source_parts)?;
        let target_bounds = self.target_bounds(&target_parts)?;
        for (&p, (s, warning, open)) in job.source_partitions.iter().zip(&source_bounds) {
            warnings.extend(warning.clone());
            unverified.extend(open.clone());
            // Summed: each partition's expired offsets bound what the topic may excuse.
            retention.source_log_start += s.low;
            let mut source = self.source_stream(st, p, *s, compacted, None)?;
            while let Some((u, committed)) = source.next(&fp_opts, compacted)? {
                let at = position("source", st, p, u.offset)?;
                if committed {
                    matcher.push_source(at, u.fp, u.ident, u.bytes)?;
                    latest.source(at, &u)?;
                } else {
                    matcher.push_aborted(at, u.fp, u.ident)?;
                }
            }
            if source.read_uncommitted() {
                self.transactional.insert(st.clone());
            }
        }
        for (&p, (t, open)) in job.target_partitions.iter().zip(&target_bounds) {
            unverified.extend(open.clone());
            retention.target_log_start += t.low;
            let mut target = Stream::open(&self.target, tt, p, t.low, t.end, idle, "target")?;
            while let Some(r) = target.next(&fp_opts, compacted)? {
                let at = position("target", tt, p, r.offset)?;
                matcher.push_target(at, r.fp, r.ident, r.bytes)?;
                latest.target(at, &r)?;
            }
        }
        let source_before: Vec<Bounds> = source_bounds.iter().map(|b| b.0).collect();
        let target_before: Vec<Bounds> = target_bounds.iter().map(|b| b.0).collect();
        let (source_moved, target_moved) = self.moved(
            (&source_parts, &source_before),
            (&target_parts, &target_before),
        )?;
        warnings.extend(source_moved.into_iter().flatten());
        warnings.extend(target_moved.into_iter().flatten());
        let (divergent, compaction) = self.compaction(job, latest)?;
        let outcome = matcher.finish_compacted(retention, compaction)?;
        Ok(JobResult {
            outcome,
            warnings,
            divergent,
            unverified,
        })
    }

    /// A compacted job's latest values per key and what compaction may have removed, asked of
    /// the cleaners after the reads (a cleaning during them counts as one).
    fn compaction(&self, job: &Job, latest: Latest) -> Result<(u64, Compaction), VerifyError> {
        if !job.compacted {
            return latest.finish(false, false);
        }
        let source_partitions: Vec<i32> = if job.whole_topic {
            job.source_partitions.clone()
        } else {
            vec![job.partition]
        };
        let target_partitions: Vec<i32> = if job.whole_topic {
            job.target_partitions.clone()
        } else {
            vec![job.partition]
        };
        let cleaners = &self.options.cleaners;
        let source_cleaned = Cleaners::may_have_cleaned(
            cleaners.source.as_ref(),
            "source",
            &job.source_topic,
            &source_partitions,
        )?;
        let target_cleaned = Cleaners::may_have_cleaned(
            cleaners.target.as_ref(),
            "target",
            &job.target_topic,
            &target_partitions,
        )?;
        latest.finish(source_cleaned, target_cleaned)
    }

    /// Where reading each source partition starts and ends (log start; the high watermark
    /// capped by `--until` and by an open transaction's last stable offset), asked of every
    /// partition at once; with the warning and the unverified range of an open transaction.
    fn source_bounds(&self, parts: &[(&str, i32)]) -> Result<Vec<SourceBounds>, VerifyError> {
        let lows = list_offsets(&self.source_uncommitted, "source", parts, Offset::Beginning)?;
        let highs = list_offsets(&self.source_uncommitted, "source", parts, Offset::End)?;
        // A read_committed consumer's end offset is the last stable offset.
        let stables = list_offsets(&self.source_committed, "source", parts, Offset::End)?;
        let untils = match self.options.until_ms {
            Some(ms) => list_offsets(
                &self.source_uncommitted,
                "source",
                parts,
                Offset::Offset(ms),
            )?,
            None => vec![None; parts.len()],
        };
        let mut out = Vec::with_capacity(parts.len());
        for (i, &(st, p)) in parts.iter().enumerate() {
            let (s_low, s_high, s_stable) = (
                lows[i].unwrap_or_default(),
                highs[i].unwrap_or_default(),
                stables[i].unwrap_or_default(),
            );
            let mut s_end = s_high;
            if self.options.until_ms.is_some() {
                s_end = s_end.min(untils[i].unwrap_or(s_end));
            }
            let (mut warning, mut open) = (None, None);
            if s_stable < s_end {
                warning = Some(format!(
                    "{st}-{p}: an open transaction holds the last stable offset at {s_stable} (high watermark {s_high}); records from {s_stable} on are not verified"
                ));
                open = Some(crate::verdict::Unverified {
                    side: "source".into(),
                    topic: st.to_string(),
                    partition: p,
                    from: s_stable,
                    to: s_end,
                });
                s_end = s_stable;
            }
            out.push((
                Bounds {
                    low: s_low,
                    high: s_high,
                    end: s_end,
                },
                warning,
                open,
            ));
        }
        Ok(out)
    }

    /// Where reading each target partition starts and ends, with the range an open
    /// transaction on the target hides.
    fn target_bounds(&self, parts: &[(&str, i32)]) -> Result<Vec<TargetBounds>, VerifyError> {
        // The read_committed reader's end offset is the target's last stable offset: an open
        // transaction on the target hides every record behind it from the checker.
        let lows = list_offsets(&self.target, "target", parts, Offset::Beginning)?;
        let highs = list_offsets(&self.target, "target", parts, Offset::End)?;
        let log_ends = list_offsets(&self.target_uncommitted, "target", parts, Offset::End)?;
        let untils = match self.options.until_ms {
            Some(ms) => list_offsets(&self.target, "target", parts, Offset::Offset(ms))?,
            None => vec![None; parts.len()],
        };
        let mut out = Vec::with_capacity(parts.len());
        for (i, &(tt, p)) in parts.iter().enumerate() {
            let (t_low, t_high) = (lows[i].unwrap_or_default(), highs[i].unwrap_or_default());
            let (mut t_end, mut reach) = (t_high, log_ends[i].unwrap_or_default());
            if let Some(at) = untils[i] {
                t_end = t_end.min(at);
                reach = reach.min(at);
            }
            let open = (t_high < reach).then(|| crate::verdict::Unverified {
                side: "target".into(),
                topic: tt.to_string(),
                partition: p,
                from: t_high,
                to: reach,
            });
            out.push((
                Bounds {
                    low: t_low,
                    high: t_high,
                    end: t_end,
                },
                open,
            ));
        }
        Ok(out)
    }

    /// After reading: each source partition's warnings if its log moved under the read (its
    /// end went back, its start forward), and each target partition's if its end (the last
    /// stable offset) went back, asked of every partition at once. `*_before`: each
    /// partition's bounds before the read.
    fn moved(
        &self,
        (source, source_before): (&[(&str, i32)], &[Bounds]),
        (target, target_before): (&[(&str, i32)], &[Bounds]),
    ) -> Result<(Vec<Warnings>, Vec<Warnings>), VerifyError> {
        let lows = list_offsets(
            &self.source_uncommitted,
            "source",
            source,
            Offset::Beginning,
        )?;
        let highs = list_offsets(&self.source_uncommitted, "source", source, Offset::End)?;
        let source_moved = source
            .iter()
            .zip(source_before)
            .zip(lows.into_iter().zip(highs))
            .map(|(((st, p), before), (low, high))| {
                let (low, high) = (low.unwrap_or_default(), high.unwrap_or_default());
                let mut warnings = Vec::new();
                went_back(&mut warnings, "source", st, *p, before.high, high);
                if low > before.low {
                    warnings.push(format!(
                        "{st}-{p}: the source log start moved from {} to {low} during verification (retention or deletion); MirrorMaker 2 has been known to skip data silently here",
                        before.low
                    ));
                }
                warnings
            })
            .collect();
        let highs = list_offsets(&self.target, "target", target, Offset::End)?;
        let target_moved = target
            .iter()
            .zip(target_before)
            .zip(highs)
            .map(|(((tt, p), before), high)| {
                let mut warnings = Vec::new();
                went_back(
                    &mut warnings,
                    "target",
                    tt,
                    *p,
                    before.high,
                    high.unwrap_or_default(),
                );
                warnings
            })
            .collect();
        Ok((source_moved, target_moved))
    }
}

/// One partition's warnings.
type Warnings = Vec<String>;
/// A source partition's bounds, and the warning and unverified range of an open transaction.
type SourceBounds = (Bounds, Option<String>, Option<crate::verdict::Unverified>);
/// A target partition's bounds, and the range an open transaction hides.
type TargetBounds = (Bounds, Option<crate::verdict::Unverified>);

/// A log never shrinks at its end: a lower high watermark means the topic was deleted and
/// re-created (or truncated) while we read it.
fn went_back(warnings: &mut Vec<String>, side: &str, topic: &str, p: i32, before: i64, after: i64) {
    if after < before {
        warnings.push(format!(
            "{topic}-{p}: the {side} high watermark went back from {before} to {after} during verification: the topic was re-created or truncated; MirrorMaker 2 has been known to skip data silently here"
        ));
    }
}

/// Where a partition is read: from `low` to `end` (`high`: its high watermark at the start).
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    low: i64,
    high: i64,
    end: i64,
}

/// One key's value as a compacted topic keeps it: 56 bytes, ordered by key, then side, then
/// position (the last entry of a side is the latest value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct KeyValue {
    key: [u8; 16],
    /// side (0 source, 1 target) in the top bit, position shifted by one, value present in the
    /// lowest bit.
    tag: u64,
    fp: [u8; 32],
}

impl Spill for KeyValue {
    const SIZE: usize = 56;
    fn write_to(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.key);
        out[16..24].copy_from_slice(&self.tag.to_be_bytes());
        out[24..56].copy_from_slice(&self.fp);
    }
    fn read_from(b: &[u8]) -> Self {
        let mut key = [0u8; 16];
        key.copy_from_slice(&b[..16]);
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&b[16..24]);
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&b[24..56]);
        KeyValue {
            key,
            tag: u64::from_be_bytes(tag),
            fp,
        }
    }
}

/// (key, latest source value, latest target value); None: no value (tombstone or absent).
type KeyLatest = ([u8; 16], Option<[u8; 32]>, Option<[u8; 32]>);

/// The latest value per key on both sides of a compacted topic, without a map entry per key:
/// every keyed record goes to sorted runs (spilled beyond a quarter of the matcher's capacity),
/// and the walk by key compares the last value of each side.
struct Latest {
    sorter: Option<RunSorter<KeyValue>>,
    /// Items in memory of each sorter the walk fills.
    capacity: usize,
}

impl Latest {
    fn new(compacted: bool, matching: &MatchOptions) -> Latest {
        let capacity = (matching.capacity / 4).max(1);
        Latest {
            sorter: compacted.then(|| RunSorter::new(capacity)),
            capacity,
        }
    }

    fn push(&mut self, side: u64, at: i64, seen: &Seen) -> Result<(), VerifyError> {
        if let (Some(sorter), Some((key, present))) = (self.sorter.as_mut(), seen.key) {
            let tag =
                (side << 63) | ((at.max(0) as u64 & ((1 << 62) - 1)) << 1) | u64::from(present);
            sorter.push(KeyValue {
                key,
                tag,
                fp: seen.fp,
            })?;
        }
        Ok(())
    }

    fn source(&mut self, at: i64, seen: &Seen) -> Result<(), VerifyError> {
        self.push(0, at, seen)
    }

    fn target(&mut self, at: i64, seen: &Seen) -> Result<(), VerifyError> {
        self.push(1, at, seen)
    }

    /// Keys whose latest value differs (a tombstone and an absent key are the same after
    /// compaction), and the positions compaction may have removed a record from (see
    /// [`Compaction`]): of the source's records when the target's cleaner ran
    /// (`target_cleaned`), of the target's when the source's did (`source_cleaned`).
    fn finish(
        self,
        source_cleaned: bool,
        target_cleaned: bool,
    ) -> Result<(u64, Compaction), VerifyError> {
        let Some(sorter) = self.sorter else {
            return Ok((0, Compaction::default()));
        };
        let capacity = self.capacity;
        let mut source_excused: Option<RunSorter<Pos>> =
            target_cleaned.then(|| RunSorter::new(capacity));
        let mut target_excused: Option<RunSorter<Pos>> =
            source_cleaned.then(|| RunSorter::new(capacity));
        let mut sorted = sorter.finish()?;
        let value = |kv: &KeyValue| (kv.tag & 1 == 1).then_some(kv.fp);
        let position = |kv: &KeyValue| Pos((kv.tag & ((1 << 63) - 1)) >> 1);
        let mut divergent = 0u64;
        let mut current: Option<KeyLatest> = None;
        // The key's source record seen last: excused once a later one of the key follows, or
        // at the key's end if it is a tombstone.
        let mut previous_source: Option<KeyValue> = None;
        let mut flush_key = |current: &mut Option<KeyLatest>,
                             previous_source: &mut Option<KeyValue>,
                             source_excused: &mut Option<RunSorter<Pos>>|
         -> Result<(), VerifyError> {
            if let Some((_, s, t)) = current.take() {
                divergent += u64::from(s != t);
            }
            if let (Some(kv), Some(excused)) = (previous_source.take(), source_excused.as_mut()) {
                if kv.tag & 1 == 0 {
                    excused.push(position(&kv))?;
                }
            }
            Ok(())
        };
        for kv in sorted.by_ref() {
            if current.as_ref().is_some_and(|c| c.0 != kv.key) {
                flush_key(&mut current, &mut previous_source, &mut source_excused)?;
            }
            let c = current.get_or_insert((kv.key, None, None));
            if kv.tag >> 63 == 0 {
                c.1 = value(&kv);
                if let (Some(older), Some(excused)) =
                    (previous_source.replace(kv), source_excused.as_mut())
                {
                    excused.push(position(&older))?;
                }
            } else {
                // Target records sort after the source's of the same key: by now it is known
                // whether the key is still in the source.
                let key_in_source = c.1.is_some() || previous_source.is_some();
                if let Some(excused) = target_excused.as_mut() {
                    if key_in_source || kv.tag & 1 == 0 {
                        excused.push(position(&kv))?;
                    }
                }
                c.2 = value(&kv);
            }
        }
        if let Some(e) = sorted.take_error() {
            return Err(e);
        }
        flush_key(&mut current, &mut previous_source, &mut source_excused)?;
        let compaction = Compaction {
            source: source_excused.map(RunSorter::finish).transpose()?,
            target: target_excused.map(RunSorter::finish).transpose()?,
        };
        Ok((divergent, compaction))
    }
}

/// The key previewer's prefetch per partition, in kilobytes (fetches of 1 MiB).
const PREVIEW_KBYTES: usize = 8192;

/// Fetches keys of example records, for the report. Its consumers are created on the first
/// preview asked of a side: a clean verdict has no examples, and a client costs a connection
/// on creation and a teardown that waits for its threads.
pub(crate) struct Previewer {
    source: ClientProps,
    target: ClientProps,
    consumers: [std::sync::OnceLock<Option<QuietConsumer>>; 2],
}

impl Previewer {
    pub(crate) fn new(source: &ClientProps, target: &ClientProps) -> Previewer {
        Previewer {
            source: source.clone(),
            target: target.clone(),
            consumers: [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
        }
    }

    /// The side's reading consumer, created on first use; None (warned once) when it cannot
    /// be: the examples then go without key previews.
    fn side(&self, source: bool) -> Option<&QuietConsumer> {
        let (props, cluster, slot) = if source {
            (&self.source, "source", &self.consumers[0])
        } else {
            (&self.target, "target", &self.consumers[1])
        };
        slot.get_or_init(|| {
            // A few records per partition: 1 MiB fetches, not a bulk read's larger ones.
            consumer(props, "read_uncommitted", cluster, PREVIEW_KBYTES)
                .map_err(|e| tracing::warn!(error = %e, "no key previews from the {cluster}"))
                .ok()
        })
        .as_ref()
    }
}

impl KeyPreviews for Previewer {
    fn previews(&self, wanted: &[(bool, Position)]) -> Vec<Option<String>> {
        let deadline = Instant::now() + PREVIEW_BUDGET;
        let mut found: HashMap<(bool, String, i32, i64), String> = HashMap::new();
        for side in [true, false] {
            let mut offsets: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
            for (_, p) in wanted.iter().filter(|(s, _)| *s == side) {
                offsets
                    .entry((p.topic.clone(), p.partition))
                    .or_default()
                    .push(p.offset);
            }
            if offsets.is_empty() {
                continue;
            }
            for ((topic, partition, offset), key) in self.keys_many(side, &offsets, deadline) {
                found.insert((side, topic, partition, offset), key);
            }
        }
        wanted
            .iter()
            .map(|(side, p)| {
                found
                    .get(&(*side, p.topic.clone(), p.partition, p.offset))
                    .cloned()
            })
            .collect()
    }
}

impl Previewer {
    /// Keys at the wanted offsets of many partitions in one pass: every partition assigned at
    /// its first wanted offset and fetched together, a partition seeked ahead when its next
    /// wanted offset is far and paused once it has passed its last, until `deadline`.
    /// Offsets without a record (aborted, compacted away, beyond the end) get none.
    pub(crate) fn keys_many(
        &self,
        source: bool,
        wanted: &BTreeMap<(String, i32), Vec<i64>>,
        deadline: Instant,
    ) -> Vec<((String, i32, i64), String)> {
        const FAR: i64 = 2_000;
        let Some(c) = self.side(source) else {
            return Vec::new();
        };
        // Per partition: the offsets still wanted, ascending.
        let mut pending: HashMap<(String, i32), VecDeque<i64>> = HashMap::new();
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offsets) in wanted {
            let mut sorted = offsets.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let Some(first) = sorted.first().copied() else {
                continue;
            };
            if tpl
                .add_partition_offset(topic, *partition, Offset::Offset(first))
                .is_ok()
            {
                pending.insert((topic.clone(), *partition), sorted.into());
            }
        }
        let mut keys = Vec::new();
        if pending.is_empty() || c.assign(&tpl).is_err() {
            return keys;
        }
        let done = |c: &QuietConsumer, topic: &str, partition: i32| {
            let mut one = TopicPartitionList::new();
            if one
                .add_partition(topic, partition)
                .set_offset(Offset::End)
                .is_ok()
            {
                let _ = c.pause(&one);
            }
        };
        while !pending.is_empty() && Instant::now() < deadline {
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let id = (m.topic().to_string(), m.partition());
                    let Some(queue) = pending.get_mut(&id) else {
                        continue;
                    };
                    let o = m.offset();
                    while queue.front().is_some_and(|w| *w < o) {
                        queue.pop_front();
                    }
                    if queue.front() == Some(&o) {
                        keys.push(((id.0.clone(), id.1, o), preview(m.key())));
                        queue.pop_front();
                    }
                    match queue.front().copied() {
                        None => {
                            done(c, &id.0, id.1);
                            pending.remove(&id);
                        }
                        Some(next) if next > o + FAR => {
                            let _ =
                                c.seek(&id.0, id.1, Offset::Offset(next), Duration::from_secs(5));
                        }
                        Some(_) => {}
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    // The end of a partition (the event names its number only): what a
                    // partition at its end still wanted is not there.
                    let ended: Vec<(String, i32)> = pending
                        .keys()
                        .filter(|(_, partition)| *partition == p)
                        .filter(|id| at_end(c, id))
                        .cloned()
                        .collect();
                    for id in ended {
                        done(c, &id.0, id.1);
                        pending.remove(&id);
                    }
                }
                _ => {}
            }
        }
        let _ = c.unassign();
        keys
    }
}

/// True when the consumer's position of the partition is at (or past) its high watermark.
fn at_end(c: &QuietConsumer, id: &(String, i32)) -> bool {
    let Ok(position) = c.position() else {
        return false;
    };
    let at = position
        .find_partition(&id.0, id.1)
        .and_then(|e| e.offset().to_raw());
    let high = c
        .fetch_watermarks(&id.0, id.1, Duration::from_secs(5))
        .map(|(_, h)| h)
        .ok();
    matches!((at, high), (Some(a), Some(h)) if a >= h)
}

/// A short, printable form of a key: text as is (cut at 40 chars), binary as hex.
pub fn preview(key: Option<&[u8]>) -> String {
    match key {
        None => "(null)".into(),
        Some(k) => match std::str::from_utf8(k) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => {
                let cut: String = s.chars().take(40).collect();
                if cut.len() < s.len() {
                    format!("{cut}…")
                } else {
                    cut
                }
            }
            _ => {
                let hex = crate::fingerprint::hex(&k[..k.len().min(20)]);
                if k.len() > 20 {
                    format!("0x{hex}…")
                } else {
                    format!("0x{hex}")
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_looking_topics_the_selection_matches_are_reported_skipped_from_the_listing() {
        let listed: Vec<String> = [
            "orders",
            "mm2-offset-syncs.target.internal",
            "connect-offsets",
            "__consumer_offsets",
            "source.heartbeats",
            "payments",
        ]
        .map(String::from)
        .to_vec();
        let options = VerifyOptions {
            topics: ".*".into(),
            ..VerifyOptions::default()
        };
        let skipped = skipped_internal(&listed, &options).unwrap();
        let names: Vec<&str> = skipped
            .iter()
            .map(|s| s.split(' ').next().unwrap_or_default())
            .collect();
        // Sorted, Kafka's own `__` topics never mentioned, the user's topics not skipped.
        assert_eq!(
            names,
            [
                "connect-offsets",
                "mm2-offset-syncs.target.internal",
                "source.heartbeats"
            ]
        );
        assert!(skipped[0].contains("named like an internal topic"));
        // Only what the selection matches.
        let narrow = VerifyOptions {
            topics: "connect-.*|orders".into(),
            ..VerifyOptions::default()
        };
        assert_eq!(skipped_internal(&listed, &narrow).unwrap().len(), 1);
        // Exact topics skip nothing.
        let exact = VerifyOptions {
            exact_topics: Some(vec!["orders".into()]),
            ..options
        };
        assert!(skipped_internal(&listed, &exact).unwrap().is_empty());
    }

    fn seen(key: u32, value: Option<u32>) -> Seen {
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&key.to_be_bytes());
        let mut fp = [0u8; 32];
        if let Some(v) = value {
            fp[..4].copy_from_slice(&v.to_be_bytes());
        }
        Seen {
            offset: 0,
            fp,
            ident: 0,
            bytes: 0,
            key: Some((k, value.is_some())),
        }
    }

    #[test]
    fn latest_values_per_key_through_spilled_runs() {
        for capacity in [8, 1 << 20] {
            // capacity 8: two entries in memory, thousands of spilled runs.
            let matching = MatchOptions {
                capacity,
                ..MatchOptions::default()
            };
            let mut latest = Latest::new(true, &matching);
            let mut at = 0i64;
            for round in 0..3u32 {
                for key in 0..1_000u32 {
                    // Source: three values per key, the last one wins; keys 900.. end deleted.
                    let value = (round < 2 || key < 900).then_some(key * 10 + round);
                    latest.source(at, &seen(key, value)).unwrap();
                    at += 1;
                }
            }
            let mut at = 0i64;
            for key in 0..1_000u32 {
                // Target: only the latest values, except 7 keys with an older value, 5 keys
                // deleted that the source keeps, and 900.. (deleted at the source) absent or
                // tombstoned.
                let value = if key < 7 {
                    Some(key * 10 + 1)
                } else if (100..105).contains(&key) {
                    None
                } else if key >= 900 {
                    if key % 2 == 0 {
                        continue;
                    }
                    None
                } else {
                    Some(key * 10 + 2)
                };
                latest.target(at, &seen(key, value)).unwrap();
                at += 1;
            }
            let (divergent, compaction) = latest.finish(true, true).unwrap();
            assert_eq!(divergent, 12, "capacity {capacity}");
            // The source's older values (two per key) and its 100 latest tombstones; every
            // target record (each key is still in the source), 50 keys absent there.
            let source: Vec<u64> = compaction.source.unwrap().map(|p| p.0).collect();
            assert_eq!(source.len(), 2_100, "capacity {capacity}");
            assert!(source.windows(2).all(|w| w[0] < w[1]), "ascending");
            assert!(
                source.contains(&0) && !source.contains(&2_000),
                "k0 v0 yes, k0 v2 no"
            );
            assert!(source.contains(&2_950), "k950's tombstone");
            assert_eq!(
                compaction.target.unwrap().count(),
                950,
                "capacity {capacity}"
            );
        }
    }
}
