//! Consumer-group cutover: an application group consumes the source during the workload and
//! stops; after the drain its offsets reach the target (the built-in replicator through
//! `cutover offsets sync`, other systems through their own sync); then each partition is
//! checked for where the group would resume on the target.
//!
//! The check reads, per partition, the committed records from the group's source position to
//! the end and from its target position to the end. On an exact copy (the verdict passes) the
//! two tails must hold the same number of records and start with the same record: more on the
//! target is a re-read, fewer is a skip, a different first record is a misplaced position.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use reports::GroupCutover;
use verify::fingerprint::{Fingerprint, FingerprintOptions};

use crate::error::ScenarioError;
use crate::spec::ConsumerGroupSpec;

/// Per-partition lines kept in a report.
const EXAMPLES: usize = 20;

/// An application consumer running on the source.
pub struct AppConsumer {
    pub group: String,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64, String>>,
}

impl AppConsumer {
    /// Starts consuming `topics` on the source as group `spec.id`; it stops by itself at
    /// `spec.stop_at_secs` after `started` (or when [`AppConsumer::finish`] is called).
    pub fn start(
        spec: &ConsumerGroupSpec,
        props: &ClientProps,
        topics: Vec<String>,
        started: Instant,
    ) -> Result<AppConsumer, ScenarioError> {
        let mut c = props.to_rdkafka()?;
        c.set("group.id", &spec.id)
            .set("enable.auto.commit", "true")
            .set(
                "auto.commit.interval.ms",
                spec.commit_interval_ms.to_string(),
            )
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer<QuietEof> = c
            .create_with_context(QuietEof)
            .map_err(|e| ScenarioError::System(format!("consumer group {}: {e}", spec.id)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let deadline = started + Duration::from_secs_f64(spec.stop_at_secs);
        let rate = spec.records_per_sec;
        let group = spec.id.clone();
        let handle = std::thread::Builder::new()
            .name(format!("app-{}", spec.id))
            .spawn(move || {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&names)
                    .map_err(|e| format!("subscribe: {e}"))?;
                let begun = Instant::now();
                let mut consumed = 0u64;
                while Instant::now() < deadline && !flag.load(Ordering::Acquire) {
                    if rate > 0 {
                        let allowed = (begun.elapsed().as_secs_f64() * rate as f64) as u64;
                        if consumed >= allowed {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    }
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(_)) => consumed += 1,
                        Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                        Some(Err(e)) => tracing::debug!(group = %group, error = %e, "app consumer"),
                    }
                }
                // The application's last commit: its position on the source.
                let committed = consumer.commit_consumer_state(CommitMode::Sync);
                consumer.unsubscribe();
                committed.map_err(|e| format!("final commit: {e}"))?;
                Ok(consumed)
            })
            .map_err(|e| ScenarioError::System(format!("consumer group thread: {e}")))?;
        Ok(AppConsumer {
            group: spec.id.clone(),
            stop,
            handle,
        })
    }

    /// Stops it now (if still running) and returns how many records it consumed.
    pub fn finish(self) -> Result<u64, ScenarioError> {
        self.stop.store(true, Ordering::Release);
        match self.handle.join() {
            Ok(r) => {
                r.map_err(|e| ScenarioError::System(format!("consumer group {}: {e}", self.group)))
            }
            Err(_) => Err(ScenarioError::System(format!(
                "consumer group {}: its thread panicked",
                self.group
            ))),
        }
    }
}

/// One partition's tail: committed records from a position to the end.
#[derive(Debug, Default, Clone)]
struct Tail {
    records: u64,
    first: Option<Fingerprint>,
}

/// Checks where `group` would resume on the target. `topics` pairs each source topic with its
/// target name.
pub fn check(
    group: &str,
    source: &ClientProps,
    target: &ClientProps,
    topics: &[(String, String)],
    fingerprints: &FingerprintOptions,
    timeout: Duration,
) -> Result<GroupCutover, ScenarioError> {
    let mut out = GroupCutover {
        group: group.to_string(),
        ..GroupCutover::default()
    };
    let src_topics: Vec<String> = topics.iter().map(|(s, _)| s.clone()).collect();
    let dst_topics: Vec<String> = topics.iter().map(|(_, t)| t.clone()).collect();
    let source_pos = committed(source, group, &src_topics, timeout)?;
    let target_pos = committed(target, group, &dst_topics, timeout)?;
    let name_of: BTreeMap<&str, &str> = topics
        .iter()
        .map(|(s, t)| (s.as_str(), t.as_str()))
        .collect();
    let mut src_starts = Vec::new();
    let mut dst_starts = Vec::new();
    for ((t, p), off) in &source_pos {
        let Some(off) = off else { continue };
        out.partitions += 1;
        let dst = name_of.get(t.as_str()).copied().unwrap_or(t.as_str());
        match target_pos.get(&(dst.to_string(), *p)).copied().flatten() {
            Some(toff) => {
                src_starts.push(((t.clone(), *p), *off));
                dst_starts.push(((dst.to_string(), *p), toff));
            }
            None => {
                out.untranslated += 1;
                if out.examples.len() < EXAMPLES {
                    out.examples.push(format!(
                        "{t}-{p}: source position {off}, no committed offset on the target"
                    ));
                }
            }
        }
    }
    let src_tails = tails(source, &src_starts, fingerprints, timeout)?;
    let dst_tails = tails(target, &dst_starts, fingerprints, timeout)?;
    for (((t, p), off), ((dt, _), toff)) in src_starts.iter().zip(&dst_starts) {
        let s = src_tails.get(&(t.clone(), *p)).cloned().unwrap_or_default();
        let d = dst_tails
            .get(&(dt.clone(), *p))
            .cloned()
            .unwrap_or_default();
        let mut line = None;
        if d.records > s.records {
            out.reread += d.records - s.records;
            line = Some(format!(
                "{t}-{p}: source position {off} → target {toff}: {} record(s) read again",
                d.records - s.records
            ));
        } else if d.records < s.records {
            out.skipped += s.records - d.records;
            line = Some(format!(
                "{t}-{p}: source position {off} → target {toff}: {} record(s) skipped",
                s.records - d.records
            ));
        } else if s.first != d.first {
            out.misplaced += 1;
            line = Some(format!(
                "{t}-{p}: source position {off} → target {toff}: the first record on the target is not the copy of the source's"
            ));
        }
        if let Some(l) = line {
            if out.examples.len() < EXAMPLES {
                out.examples.push(l);
            }
        }
    }
    Ok(out)
}

type Tp = (String, i32);

/// Waits, up to `bound`, until the group has a committed offset on the target for every
/// partition it committed on the source (a system that syncs group offsets itself does so on
/// its own schedule). True when it has; false at the bound (the check then reports the
/// partitions still untranslated).
pub fn wait_for_sync(
    group: &str,
    source: &ClientProps,
    target: &ClientProps,
    topics: &[(String, String)],
    bound: Duration,
) -> Result<bool, ScenarioError> {
    let src_topics: Vec<String> = topics.iter().map(|(s, _)| s.clone()).collect();
    let dst_topics: Vec<String> = topics.iter().map(|(_, t)| t.clone()).collect();
    let name_of: BTreeMap<&str, &str> = topics
        .iter()
        .map(|(s, t)| (s.as_str(), t.as_str()))
        .collect();
    let timeout = Duration::from_secs(10);
    let source_pos = committed(source, group, &src_topics, timeout)?;
    let deadline = std::time::Instant::now() + bound;
    loop {
        let target_pos = committed(target, group, &dst_topics, timeout)?;
        let synced = source_pos.iter().all(|((t, p), off)| {
            off.is_none() || {
                let dst = name_of.get(t.as_str()).copied().unwrap_or(t.as_str());
                matches!(target_pos.get(&(dst.to_string(), *p)), Some(Some(_)))
            }
        });
        if synced {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The group's committed offset for every partition of `topics` (None: nothing committed).
fn committed(
    props: &ClientProps,
    group: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<Tp, Option<i64>>, ScenarioError> {
    let c = props.reader(group)?;
    let consumer: BaseConsumer<QuietEof> = c
        .create_with_context(QuietEof)
        .map_err(|e| ScenarioError::System(format!("group {group}: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        let md = consumer
            .fetch_metadata(Some(t), timeout)
            .map_err(|e| ScenarioError::System(format!("metadata of {t}: {e}")))?;
        for mt in md.topics() {
            for p in mt.partitions() {
                tpl.add_partition(t, p.id());
            }
        }
    }
    let got = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| ScenarioError::System(format!("committed offsets of {group}: {e}")))?;
    Ok(got
        .elements()
        .iter()
        .map(|e| {
            let off = match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            ((e.topic().to_string(), e.partition()), off)
        })
        .collect())
}

/// Reads each partition read_committed from its start to the end (the last stable offset).
fn tails(
    props: &ClientProps,
    starts: &[(Tp, i64)],
    fingerprints: &FingerprintOptions,
    timeout: Duration,
) -> Result<BTreeMap<Tp, Tail>, ScenarioError> {
    let mut out: BTreeMap<Tp, Tail> = BTreeMap::new();
    if starts.is_empty() {
        return Ok(out);
    }
    let mut c = props.reader("cutover-group-check")?;
    c.set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        // The end of a tail is known from an empty fetch: do not let the broker hold it.
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer<QuietEof> = c
        .create_with_context(QuietEof)
        .map_err(|e| ScenarioError::System(format!("tail reader: {e}")))?;
    // One partition at a time, so the end of a partition is never ambiguous.
    for ((t, p), off) in starts {
        let tp = (t.clone(), *p);
        out.insert(tp.clone(), Tail::default());
        // A partition already at its end has an empty tail.
        let (_, high) = consumer
            .fetch_watermarks(t, *p, timeout)
            .map_err(|e| ScenarioError::System(format!("watermarks of {t}-{p}: {e}")))?;
        if *off >= high {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(t, *p, Offset::Offset(*off))
            .map_err(|e| ScenarioError::System(format!("{t}-{p}: {e}")))?;
        consumer
            .assign(&tpl)
            .map_err(|e| ScenarioError::System(format!("assign {t}-{p}: {e}")))?;
        let mut last_progress = Instant::now();
        loop {
            if last_progress.elapsed() > timeout {
                return Err(ScenarioError::System(format!(
                    "reading {t}-{p} from {off}: no end within {timeout:?}"
                )));
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    last_progress = Instant::now();
                    let tail = out.entry(tp.clone()).or_default();
                    if tail.first.is_none() {
                        tail.first =
                            Some(verify::fingerprint::fingerprint_message(&m, fingerprints));
                    }
                    tail.records += 1;
                    if m.offset() + 1 >= high {
                        break;
                    }
                }
                // The last stable offset: what was not delivered up to it is aborted or control.
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => {
                    tracing::debug!(partition = %format!("{t}-{p}"), error = %e, "tail reader");
                }
                None => {}
            }
        }
    }
    Ok(out)
}
