//! Reading the ledgers from real clusters and running the matcher over every partition.
//!
//! Read-only on both clusters: consumers are assigned partitions explicitly, never subscribe,
//! never commit. Each partition is read between bounds captured when verification starts (the
//! high watermark, capped at the last stable offset on the committed side, or `--until`), so a
//! verification of live clusters ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::{Admin, ClientProps};
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Readers stop at end-of-partition events; they are not errors to log.
type QuietConsumer = BaseConsumer<QuietEof>;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::error::VerifyError;
use crate::fingerprint::{fingerprint, identity, FingerprintOptions, RecordView};
use crate::matcher::{MatchOptions, PartitionMatcher, PartitionOutcome, Retention};
use crate::topic::combine;
use crate::verdict::{AnomalyClass, Counts, Position, Promises, TopicVerdict, Verdict};

/// How source topic names map to target topic names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rename {
    pub prefix: String,
    pub suffix: String,
    /// Explicit names win over prefix/suffix.
    pub map: BTreeMap<String, String>,
}

impl Rename {
    pub fn target_of(&self, source: &str) -> String {
        self.map
            .get(source)
            .cloned()
            .unwrap_or_else(|| format!("{}{source}{}", self.prefix, self.suffix))
    }
}

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
}

/// One partition to check.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) source_topic: String,
    pub(crate) target_topic: String,
    pub(crate) partition: i32,
    pub(crate) compacted: bool,
}

/// The jobs of the planned topics, partition by partition.
pub(crate) fn jobs(topics: &[PlannedTopic]) -> Vec<Job> {
    topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| Job {
                source_topic: t.source_topic.clone(),
                target_topic: t.target_topic.clone(),
                partition: *p,
                compacted: t.compacted,
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
    let topics = plan(source, target, options).await?;
    let jobs = jobs(&topics);
    progress(VerifyProgress::Planned {
        partitions: jobs.len(),
    });
    let results = check_partitions(source, target, options, jobs, progress, None).await?;
    let previewer = Previewer::new(source, target)?;
    Ok(assemble(
        &topics,
        results,
        options,
        &previewer,
        started.elapsed().as_millis() as u64,
    ))
}

/// Lists the selected topics (regex, internal topics left out) and their target names; every
/// target topic must exist.
pub async fn plan(
    source: &ClientProps,
    target: &ClientProps,
    options: &VerifyOptions,
) -> Result<Vec<PlannedTopic>, VerifyError> {
    let pattern = Regex::new(&format!("^(?:{})$", options.topics)).map_err(|e| {
        VerifyError::InvalidOption {
            option: "--topics".into(),
            reason: format!("`{}` is not a valid regex: {e}", options.topics),
        }
    })?;
    let source_admin = Admin::new("source", source)?;
    let target_admin = Admin::new("target", target)?;
    let mut source_topics: Vec<String> = source_admin
        .list_topics()
        .await?
        .into_iter()
        .filter(|t| !is_internal_topic(t) && pattern.is_match(t))
        .collect();
    source_topics.sort();
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
                "{topic} is compacted: record-level counts are shown but not conclusive; the latest value per key is compared"
            ));
        }
        let mut partitions: Vec<i32> = sdesc.partitions.iter().map(|p| p.partition).collect();
        partitions.sort_unstable();
        planned.push(PlannedTopic {
            source_topic: topic.clone(),
            target_topic,
            partitions,
            compacted,
            warnings,
        });
    }
    Ok(planned)
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
    let jobs = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let results: Arc<Mutex<Vec<PartitionResult>>> = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..options.workers.max(1) {
        let (jobs, results, progress) = (jobs.clone(), results.clone(), progress.clone());
        let (source, target, options) = (source.clone(), target.clone(), options.clone());
        let keep = keep.clone();
        workers.push(tokio::task::spawn_blocking(
            move || -> Result<(), VerifyError> {
                let mut reader = Reader::new(&source, &target, &options)?;
                loop {
                    let job = match jobs.lock() {
                        Ok(mut q) => q.pop_front(),
                        Err(_) => None,
                    };
                    let Some(job) = job else { return Ok(()) };
                    if keep
                        .as_ref()
                        .is_some_and(|k| !k(&job.source_topic, job.partition))
                    {
                        continue;
                    }
                    let (outcome, warnings, divergent) = reader.partition(&job)?;
                    progress(VerifyProgress::PartitionDone {
                        topic: job.source_topic.clone(),
                        partition: job.partition,
                        records: outcome.tally.source_records + outcome.tally.target_records,
                    });
                    if let Ok(mut r) = results.lock() {
                        r.push(PartitionResult {
                            source_topic: job.source_topic,
                            partition: job.partition,
                            outcome,
                            warnings,
                            divergent,
                        });
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
    fn source(&self, pos: &Position) -> Option<String>;
    fn target(&self, pos: &Position) -> Option<String>;
}

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
        for r in results {
            warnings.extend(r.warnings);
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
        if planned.is_some_and(|t| t.compacted) {
            // Compaction removes older values on either side: record-level counts are shown
            // but do not decide; the latest value per key does.
            verdict.inconclusive = std::mem::take(&mut verdict.counts);
            for p in &mut verdict.partitions {
                p.counts = Counts::default();
            }
        }
        verdict
            .counts
            .add(AnomalyClass::CompactionDivergent, divergent);
        verdict.warnings.extend(warnings);
        for example in &mut verdict.examples {
            example.key_preview =
                match preview_position(example.class, example.source.as_ref(), &example.target) {
                    Some((true, pos)) => previews.source(&pos),
                    Some((false, pos)) => previews.target(&pos),
                    None => None,
                };
        }
        verdicts.push(verdict);
    }
    Verdict::from_topics(verdicts, options.promises.clone(), duration_ms)
}

fn consumer(
    props: &ClientProps,
    isolation: &str,
    cluster: &str,
) -> Result<QuietConsumer, VerifyError> {
    let mut config = props.to_rdkafka()?;
    config
        .set("group.id", "cutover-verify")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation)
        .set("fetch.max.bytes", "52428800")
        .set("queued.max.messages.kbytes", "65536")
        // Reads are bounded: an empty fetch at the end should come back at once (the default
        // 500 ms wait, three streams per partition, made many small partitions slow).
        .set("fetch.wait.max.ms", "10");
    config
        .create_with_context(QuietEof)
        .map_err(|e| VerifyError::Kafka {
            cluster: cluster.into(),
            detail: format!("creating a consumer: {e}"),
        })
}

/// One fingerprinted record.
struct Seen {
    offset: i64,
    fp: [u8; 32],
    ident: u64,
    bytes: u64,
    /// (key digest, value present) for compacted topics.
    key: Option<([u8; 16], bool)>,
}

struct Reader {
    source_committed: QuietConsumer,
    source_uncommitted: QuietConsumer,
    target: QuietConsumer,
    options: VerifyOptions,
}

impl Reader {
    fn new(
        source: &ClientProps,
        target: &ClientProps,
        options: &VerifyOptions,
    ) -> Result<Reader, VerifyError> {
        Ok(Reader {
            source_committed: consumer(source, "read_committed", "source")?,
            source_uncommitted: consumer(source, "read_uncommitted", "source")?,
            target: consumer(target, "read_committed", "target")?,
            options: options.clone(),
        })
    }

    pub(crate) fn partition(
        &mut self,
        job: &Job,
    ) -> Result<(PartitionOutcome, Vec<String>, u64), VerifyError> {
        let (st, tt, p) = (&job.source_topic, &job.target_topic, job.partition);
        let mut warnings = Vec::new();
        let (s_low, s_high) = watermarks(&self.source_uncommitted, "source", st, p)?;
        // A read_committed consumer's high watermark is the last stable offset.
        let (_, s_stable) = watermarks(&self.source_committed, "source", st, p)?;
        let (t_low, t_high) = watermarks(&self.target, "target", tt, p)?;
        let mut s_end = s_high;
        let mut t_end = t_high;
        if let Some(until) = self.options.until_ms {
            s_end = s_end
                .min(offset_for_time(&self.source_uncommitted, st, p, until)?.unwrap_or(s_end));
            t_end = t_end.min(offset_for_time(&self.target, tt, p, until)?.unwrap_or(t_end));
        }
        if s_stable < s_end {
            warnings.push(format!(
                "{st}-{p}: an open transaction holds the last stable offset at {s_stable} (high watermark {s_high}); records from {s_stable} on are not verified"
            ));
            s_end = s_stable;
        }

        let fp_opts = self.options.fingerprint.clone();
        let mut matcher = PartitionMatcher::new(self.options.matching.clone());
        let mut src_latest: HashMap<[u8; 16], [u8; 32]> = HashMap::new();
        let mut tgt_latest: HashMap<[u8; 16], [u8; 32]> = HashMap::new();
        let compacted = job.compacted;
        let idle = self.options.idle_timeout;

        // Source and target are read side by side, so the matcher's in-order window pairs them
        // as they come: the side that is behind (as a fraction of its offset range) reads next.
        // The source is its committed view merged by offset with the uncommitted one.
        let mut committed =
            Stream::open(&self.source_committed, st, p, s_low, s_end, idle, "source")?;
        let mut uncommitted = Stream::open(
            &self.source_uncommitted,
            st,
            p,
            s_low,
            s_end,
            idle,
            "source",
        )?;
        let mut target = Stream::open(&self.target, tt, p, t_low, t_end, idle, "target")?;
        if let Some(check) = &self.options.schemas {
            use crate::schemas::Side;
            let source = |record| Side::Source {
                topic: st.clone(),
                record,
            };
            committed.schema = Some((check.clone(), source(true)));
            uncommitted.schema = Some((check.clone(), source(false)));
            target.schema = Some((
                check.clone(),
                Side::Target {
                    source_topic: st.clone(),
                },
            ));
        }
        let (s_span, t_span) = (
            i128::from((s_end - s_low).max(1)),
            i128::from((t_end - t_low).max(1)),
        );
        let (mut s_next, mut t_next) = (s_low, t_low);
        let (mut s_done, mut t_done) = (false, false);
        let mut next_committed = committed.next(&fp_opts, compacted)?;
        while !(s_done && t_done) {
            let source_behind = !s_done
                && (t_done
                    || i128::from(s_next - s_low) * t_span <= i128::from(t_next - t_low) * s_span);
            if source_behind {
                let Some(u) = uncommitted.next(&fp_opts, compacted)? else {
                    s_done = true;
                    continue;
                };
                s_next = u.offset + 1;
                while next_committed.as_ref().is_some_and(|c| c.offset < u.offset) {
                    next_committed = committed.next(&fp_opts, compacted)?;
                }
                if next_committed
                    .as_ref()
                    .is_some_and(|c| c.offset == u.offset)
                {
                    matcher.push_source(u.offset, u.fp, u.ident, u.bytes)?;
                    if let Some((k, present)) = u.key {
                        latest(&mut src_latest, k, present, u.fp);
                    }
                    next_committed = committed.next(&fp_opts, compacted)?;
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
                if let Some((k, present)) = r.key {
                    latest(&mut tgt_latest, k, present, r.fp);
                }
            }
        }
        let (s_low_after, s_high_after) = watermarks(&self.source_uncommitted, "source", st, p)?;
        let (_, t_high_after) = watermarks(&self.target, "target", tt, p)?;
        // A log never shrinks at its end: a lower high watermark means the topic was deleted
        // and re-created (or truncated) while we read it.
        for (side, topic, before, after) in [
            ("source", st, s_high, s_high_after),
            ("target", tt, t_high, t_high_after),
        ] {
            if after < before {
                warnings.push(format!(
                    "{topic}-{p}: the {side} high watermark went back from {before} to {after} during verification: the topic was re-created or truncated; MirrorMaker 2 has been known to skip data silently here"
                ));
            }
        }
        if s_low_after > s_low {
            warnings.push(format!(
                "{st}-{p}: the source log start moved from {s_low} to {s_low_after} during verification (retention or deletion); MirrorMaker 2 has been known to skip data silently here"
            ));
        }
        let outcome = matcher.finish(Retention {
            source_log_start: s_low,
            target_log_start: t_low,
            allow_expiry: self.options.allow_expiry,
        })?;
        let divergent = if compacted {
            let mut keys: Vec<&[u8; 16]> = src_latest.keys().chain(tgt_latest.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.iter()
                .filter(|k| src_latest.get(**k) != tgt_latest.get(**k))
                .count() as u64
        } else {
            0
        };
        Ok((outcome, warnings, divergent))
    }
}

/// (log start, high watermark) of a partition as `consumer` sees it.
fn watermarks(
    consumer: &QuietConsumer,
    cluster: &str,
    topic: &str,
    p: i32,
) -> Result<(i64, i64), VerifyError> {
    consumer
        .fetch_watermarks(topic, p, Duration::from_secs(10))
        .map_err(|e| VerifyError::Kafka {
            cluster: cluster.to_string(),
            detail: format!("watermarks of {topic}-{p}: {e}"),
        })
}

fn latest(map: &mut HashMap<[u8; 16], [u8; 32]>, key: [u8; 16], present: bool, fp: [u8; 32]) {
    if present {
        map.insert(key, fp);
    } else {
        // A tombstone and an absent key are the same after compaction.
        map.remove(&key);
    }
}

fn offset_for_time(
    c: &QuietConsumer,
    topic: &str,
    p: i32,
    ms: i64,
) -> Result<Option<i64>, VerifyError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, Offset::Offset(ms))
        .map_err(|e| VerifyError::Kafka {
            cluster: topic.into(),
            detail: e.to_string(),
        })?;
    let found = c
        .offsets_for_times(tpl, Duration::from_secs(10))
        .map_err(|e| VerifyError::Kafka {
            cluster: topic.into(),
            detail: format!("offsets for time {ms}: {e}"),
        })?;
    Ok(found.elements().first().and_then(|e| match e.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }))
}

/// One partition read in offset order between two bounds.
struct Stream<'a> {
    consumer: &'a QuietConsumer,
    end: i64,
    done: bool,
    idle: Duration,
    cluster: &'static str,
    label: String,
    /// Schema registries: values fingerprinted by schema content.
    schema: Option<(
        std::sync::Arc<crate::schemas::SchemaCheck>,
        crate::schemas::Side,
    )>,
}

impl<'a> Stream<'a> {
    fn open(
        consumer: &'a QuietConsumer,
        topic: &str,
        p: i32,
        start: i64,
        end: i64,
        idle: Duration,
        cluster: &'static str,
    ) -> Result<Stream<'a>, VerifyError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(start))
            .map_err(|e| VerifyError::Kafka {
                cluster: cluster.into(),
                detail: e.to_string(),
            })?;
        consumer.assign(&tpl).map_err(|e| VerifyError::Kafka {
            cluster: cluster.into(),
            detail: format!("assigning {topic}-{p}: {e}"),
        })?;
        Ok(Stream {
            consumer,
            end,
            done: start >= end,
            idle,
            cluster,
            label: format!("{topic}-{p}"),
            schema: None,
        })
    }

    fn next(
        &mut self,
        fp_opts: &FingerprintOptions,
        keys: bool,
    ) -> Result<Option<Seen>, VerifyError> {
        let mut last_progress = Instant::now();
        while !self.done {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    if m.offset() >= self.end {
                        self.done = true;
                        break;
                    }
                    if m.offset() + 1 >= self.end {
                        self.done = true;
                    }
                    let mut headers: Vec<(&str, Option<&[u8]>)> = Vec::new();
                    if let Some(h) = m.headers() {
                        for header in h.iter() {
                            headers.push((header.key, header.value));
                        }
                    }
                    let timestamp = match m.timestamp() {
                        rdkafka::Timestamp::CreateTime(t) => Some((0u8, t)),
                        rdkafka::Timestamp::LogAppendTime(t) => Some((1u8, t)),
                        rdkafka::Timestamp::NotAvailable => None,
                    };
                    let by_schema = match &self.schema {
                        Some((check, side)) => check.value_identity(
                            side,
                            m.partition(),
                            m.offset(),
                            identity(&headers),
                            m.payload(),
                        )?,
                        None => None,
                    };
                    let view = RecordView {
                        key: m.key(),
                        value: by_schema.as_deref().or(m.payload()),
                        headers: &headers,
                        timestamp,
                    };
                    let bytes = m.key().map_or(0, <[u8]>::len)
                        + m.payload().map_or(0, <[u8]>::len)
                        + headers
                            .iter()
                            .map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len))
                            .sum::<usize>();
                    let key = keys.then(|| {
                        let digest = Sha256::digest(m.key().unwrap_or_default());
                        let mut k = [0u8; 16];
                        k.copy_from_slice(&digest[..16]);
                        (k, m.payload().is_some())
                    });
                    return Ok(Some(Seen {
                        offset: m.offset(),
                        fp: fingerprint(&view, fp_opts),
                        ident: identity(&headers),
                        bytes: bytes as u64,
                        key,
                    }));
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    // The end of the log (or, read_committed, the last stable offset): the
                    // records up to the bound that were not delivered are aborted or control.
                    self.done = true;
                }
                // Lost connections and leader moves: librdkafka recovers; the idle timeout bounds it.
                Some(Err(e)) if is_transient(&e) => {
                    tracing::debug!(partition = %self.label, error = %e, "transient consumer error");
                    if last_progress.elapsed() > self.idle {
                        return Err(VerifyError::Kafka {
                            cluster: self.cluster.into(),
                            detail: format!(
                                "reading {}: {e} for {} s",
                                self.label,
                                self.idle.as_secs()
                            ),
                        });
                    }
                    continue;
                }
                Some(Err(e)) => {
                    return Err(VerifyError::Kafka {
                        cluster: self.cluster.into(),
                        detail: format!("reading {}: {e}", self.label),
                    })
                }
                None => {
                    if last_progress.elapsed() > self.idle {
                        return Err(VerifyError::Kafka {
                            cluster: self.cluster.into(),
                            detail: format!(
                                "reading {} made no progress for {} s (bound {})",
                                self.label,
                                self.idle.as_secs(),
                                self.end
                            ),
                        });
                    }
                    continue;
                }
            }
            last_progress = Instant::now();
        }
        Ok(None)
    }
}

fn is_transient(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::BrokerTransportFailure)
            | Some(C::AllBrokersDown)
            | Some(C::NotLeaderForPartition)
            | Some(C::LeaderNotAvailable)
            | Some(C::RequestTimedOut)
            | Some(C::NetworkException)
    )
}

/// Fetches keys of example records, for the report.
pub(crate) struct Previewer {
    source: QuietConsumer,
    target: QuietConsumer,
}

impl Previewer {
    pub(crate) fn new(
        source: &ClientProps,
        target: &ClientProps,
    ) -> Result<Previewer, VerifyError> {
        Ok(Previewer {
            source: consumer(source, "read_uncommitted", "source")?,
            target: consumer(target, "read_uncommitted", "target")?,
        })
    }
}

impl Previewer {
    /// Keys at several offsets of one partition, read in one pass where they are close
    /// together (a seek where the next one is far ahead). Offsets without a record (aborted,
    /// compacted away, beyond the end) get none.
    pub(crate) fn keys_at(
        &self,
        source: bool,
        topic: &str,
        partition: i32,
        offsets: &[i64],
    ) -> Vec<(i64, String)> {
        const FAR: i64 = 2_000;
        let c = if source { &self.source } else { &self.target };
        let mut wanted = offsets.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut keys = Vec::new();
        let mut i = 0;
        while i < wanted.len() {
            let mut tpl = TopicPartitionList::new();
            if tpl
                .add_partition_offset(topic, partition, Offset::Offset(wanted[i]))
                .is_err()
                || c.assign(&tpl).is_err()
            {
                return keys;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            let first = i;
            while i < wanted.len() && Instant::now() < deadline {
                match c.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        let o = m.offset();
                        while i < wanted.len() && wanted[i] < o {
                            i += 1;
                        }
                        if i < wanted.len() && wanted[i] == o {
                            keys.push((o, preview(m.key())));
                            i += 1;
                        }
                        if i < wanted.len() && wanted[i] > o + FAR {
                            break;
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => i = wanted.len(),
                    _ => {}
                }
            }
            if i == first {
                // Nothing came for this offset in time: no preview for it.
                i += 1;
            }
        }
        keys
    }
}

impl KeyPreviews for Previewer {
    fn source(&self, pos: &Position) -> Option<String> {
        key_at(&self.source, pos)
    }

    fn target(&self, pos: &Position) -> Option<String> {
        key_at(&self.target, pos)
    }
}

fn key_at(c: &QuietConsumer, pos: &Position) -> Option<String> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&pos.topic, pos.partition, Offset::Offset(pos.offset))
        .ok()?;
    c.assign(&tpl).ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.offset() == pos.offset => return Some(preview(m.key())),
            Some(Ok(m)) if m.offset() > pos.offset => return None,
            Some(Err(KafkaError::PartitionEOF(_))) => return None,
            _ => {}
        }
    }
    None
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
