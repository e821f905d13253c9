//! Where a consumer group resumes after a cutover: per partition, the committed records from
//! the group's source position to the end and from its translated target position to the end.
//! On an exact copy the two tails hold the same number of records and start with the same
//! record: more on the target is a re-read, fewer a skip, a different first record a misplaced
//! position, no target position an untranslated partition. Read-only (it reads committed
//! offsets, never commits).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
pub use verdict::GroupCutover;

use crate::error::VerifyError;
use crate::fingerprint::{Fingerprint, FingerprintOptions};

/// Per-partition lines kept in a report.
const EXAMPLES: usize = 20;

type Tp = (String, i32);

fn failed(cluster: &str, detail: String) -> VerifyError {
    VerifyError::Kafka {
        cluster: cluster.to_string(),
        detail,
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
) -> Result<GroupCutover, VerifyError> {
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

/// The group's committed offset for every partition of `topics` (None: nothing committed).
pub fn committed(
    props: &ClientProps,
    group: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<Tp, Option<i64>>, VerifyError> {
    let c = props.reader(group)?;
    let consumer: BaseConsumer<QuietEof> = c
        .create_with_context(QuietEof)
        .map_err(|e| failed("group check", format!("group {group}: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        let md = consumer
            .fetch_metadata(Some(t), timeout)
            .map_err(|e| failed("group check", format!("metadata of {t}: {e}")))?;
        for mt in md.topics() {
            for p in mt.partitions() {
                tpl.add_partition(t, p.id());
            }
        }
    }
    let got = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| failed("group check", format!("committed offsets of {group}: {e}")))?;
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
) -> Result<BTreeMap<Tp, Tail>, VerifyError> {
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
        .map_err(|e| failed("group check", format!("tail reader: {e}")))?;
    // One partition at a time, so the end of a partition is never ambiguous.
    for ((t, p), off) in starts {
        let tp = (t.clone(), *p);
        out.insert(tp.clone(), Tail::default());
        // A partition already at its end has an empty tail.
        let (_, high) = consumer
            .fetch_watermarks(t, *p, timeout)
            .map_err(|e| failed("group check", format!("watermarks of {t}-{p}: {e}")))?;
        if *off >= high {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(t, *p, Offset::Offset(*off))
            .map_err(|e| failed("group check", format!("{t}-{p}: {e}")))?;
        consumer
            .assign(&tpl)
            .map_err(|e| failed("group check", format!("assign {t}-{p}: {e}")))?;
        let mut last_progress = Instant::now();
        loop {
            if last_progress.elapsed() > timeout {
                return Err(failed(
                    "group check",
                    format!("reading {t}-{p} from {off}: no end within {timeout:?}"),
                ));
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    last_progress = Instant::now();
                    let tail = out.entry(tp.clone()).or_default();
                    if tail.first.is_none() {
                        tail.first =
                            Some(crate::fingerprint::fingerprint_message(&m, fingerprints));
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
