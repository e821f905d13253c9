//! Replication delay, measured: a probe reads the target topics `read_committed` from their
//! ends while the run goes on, and for every record compares its create time (the source
//! producer's, preserved by the copy) with the time it became readable on the target. Records
//! whose timestamp is not a plausible create time (the workload's far-past or out-of-order
//! timestamps, a system that rewrites timestamps) are left out and counted.
//!
//! That end-to-end figure also holds the time a record waited before any copier could see it:
//! in its producer's queue, behind an open transaction, on a source broker short of CPU. A
//! second probe on the source, read the same way, gives each workload record's readable time
//! there too; joined by the record's workload id
//! ([`WORKLOAD_ID_HEADER`](verify::fingerprint::WORKLOAD_ID_HEADER)), the difference is the
//! copy's own delay (readable on the source → readable on the target), per record. Both
//! probes are clients of the same kind on the same machine, so their own lag largely cancels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harness::quiet::QuietEof;
use harness::ClientProps;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use verify::fingerprint::{decode_identity, message_headers};

use crate::error::ScenarioError;

/// A delay above this is not a replication delay but a synthetic timestamp.
const PLAUSIBLE_MS: u64 = 10 * 60 * 1000;

/// Workload ids a probe remembers (with their readable times) for the copy-delay join, at
/// most: about 40 bytes each, so 200 MB at worst. Records past it are still timed end to end.
const IDS_CAP: usize = 5_000_000;

/// What the probe measured.
pub struct Measured {
    pub histogram: Histogram<u64>,
    /// Records left out (no create time, or not a plausible one).
    pub skipped: u64,
    /// Partitions the probe read, and those with at least one record timed.
    pub partitions_read: usize,
    pub partitions_timed: usize,
    /// When each workload record (by its id) was first readable, ms since the epoch.
    pub readable: std::collections::HashMap<u64, i64>,
    /// Workload records not remembered because [`IDS_CAP`] was reached.
    pub ids_dropped: u64,
}

/// The copy's own delay: for every workload record both probes saw, readable on the target
/// minus readable on the source.
pub struct CopyDelay {
    pub histogram: Histogram<u64>,
    /// Records seen on the target whose source read the source probe did not see (a record the
    /// system made up, one read before the probe started, or past the cap).
    pub unmatched: u64,
    /// Records the target probe read before the source probe did (probe skew, counted as 1 ms).
    pub ahead: u64,
}

/// Joins the two probes' readable times by workload id.
pub fn copy_delay(source: &Measured, target: &Measured) -> Option<CopyDelay> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 24 * 3600 * 1000, 3).ok()?;
    let (mut unmatched, mut ahead) = (0, 0);
    for (id, at_target) in &target.readable {
        match source.readable.get(id) {
            Some(at_source) if at_target >= at_source => {
                histogram.saturating_record(((at_target - at_source) as u64).max(1));
            }
            Some(_) => {
                ahead += 1;
                histogram.saturating_record(1);
            }
            None => unmatched += 1,
        }
    }
    Some(CopyDelay {
        histogram,
        unmatched,
        ahead,
    })
}

/// The two probes of a run: the target's (end to end) and the source's (for the copy's share).
pub struct DelayProbes {
    target: DelayProbe,
    source: DelayProbe,
}

impl DelayProbes {
    /// Starts both: the source's over `source_topics`, the target's over their copies.
    pub fn start(
        source: &ClientProps,
        source_topics: &[String],
        target: &ClientProps,
        target_topics: &[String],
    ) -> Result<DelayProbes, ScenarioError> {
        Ok(DelayProbes {
            target: DelayProbe::start(target, target_topics, "target")?,
            source: DelayProbe::start(source, source_topics, "source")?,
        })
    }

    /// Stops both: (source, target) measurements.
    pub fn finish(self) -> (Option<Measured>, Option<Measured>) {
        let target = self.target.finish();
        (self.source.finish(), target)
    }
}

/// One probe thread.
pub struct DelayProbe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Measured>,
}

impl DelayProbe {
    /// Starts reading every partition of `topics` on one cluster (`side`: `source` or
    /// `target`, for the trace file's name and errors) from its current end.
    pub fn start(
        cluster: &ClientProps,
        topics: &[String],
        side: &'static str,
    ) -> Result<DelayProbe, ScenarioError> {
        let mut c = cluster.reader("cutover-delay-probe")?;
        c.set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "20");
        let consumer: BaseConsumer<QuietEof> = c
            .create_with_context(QuietEof)
            .map_err(|e| ScenarioError::System(format!("{side} delay probe: {e}")))?;
        // Every partition of the target topics that exist now, from one metadata request, each
        // from the first record written after this moment: one batched ListOffsets by time
        // (a logical end is resolved only when fetching starts, seconds later at thousands of
        // partitions, and would skip the first records). Topics the system creates later are
        // picked up by the metadata refresh below.
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut by_time = TopicPartitionList::new();
        for (t, n) in partition_counts(&consumer, topics) {
            for p in 0..n {
                let _ = by_time.add_partition_offset(&t, p, Offset::Offset(started_ms));
            }
        }
        let mut tpl = TopicPartitionList::new();
        let resolved = consumer
            .offsets_for_times(by_time.clone(), Duration::from_secs(30))
            .unwrap_or(by_time);
        // A partition with nothing written since (the usual case: the probe starts before the
        // workload) starts at its end as of now, asked as a number in one more batched request:
        // a logical end would be resolved seconds later and skip the workload's first records
        // (1,257 at seed scale, which the copy-delay join then missed).
        let mut unresolved = TopicPartitionList::new();
        for e in resolved.elements() {
            match e.offset() {
                Offset::Offset(o) if o >= 0 && o != started_ms => {
                    let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o));
                }
                _ => {
                    let _ = unresolved.add_partition_offset(e.topic(), e.partition(), Offset::End);
                }
            }
        }
        if unresolved.count() > 0 {
            let ends = consumer
                .offsets_for_times(unresolved.clone(), Duration::from_secs(30))
                .unwrap_or(unresolved);
            for e in ends.elements() {
                let start = match e.offset() {
                    Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                    _ => Offset::End,
                };
                let _ = tpl.add_partition_offset(e.topic(), e.partition(), start);
            }
        }
        let topics = topics.to_vec();
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 24 * 3600 * 1000, 3)
            .map_err(|e| ScenarioError::System(format!("delay histogram: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("delay-probe-{side}"))
            .spawn(move || {
                let mut trace = trace_file(side);
                let mut skipped = 0u64;
                let mut readable = std::collections::HashMap::<u64, i64>::new();
                let mut ids_dropped = 0u64;
                let mut timed: std::collections::HashSet<(String, i32)> = Default::default();
                let mut assigned = tpl.count();
                let _ = consumer.assign(&tpl);
                let mut refreshed = std::time::Instant::now();
                while !flag.load(Ordering::Acquire) {
                    if refreshed.elapsed() > Duration::from_secs(2) {
                        refreshed = std::time::Instant::now();
                        assigned = grow(&consumer, &topics, assigned);
                    }
                    let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
                        continue;
                    };
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    if let Some(id) = workload_id(&m) {
                        if readable.len() < IDS_CAP || readable.contains_key(&id) {
                            readable.entry(id).or_insert(now);
                        } else {
                            ids_dropped += 1;
                        }
                    }
                    match m.timestamp() {
                        Timestamp::CreateTime(ms) if ms <= now => {
                            let delay = (now - ms) as u64;
                            if delay <= PLAUSIBLE_MS {
                                histogram.saturating_record(delay.max(1));
                                if let Some(w) = trace.as_mut() {
                                    use std::io::Write;
                                    let _ = writeln!(
                                        w,
                                        "{now},{ms},{},{},{}",
                                        m.topic(),
                                        m.partition(),
                                        m.offset()
                                    );
                                }
                                if !timed.contains(&(m.topic().to_string(), m.partition())) {
                                    timed.insert((m.topic().to_string(), m.partition()));
                                }
                            } else {
                                skipped += 1;
                            }
                        }
                        _ => skipped += 1,
                    }
                }
                if let Some(mut w) = trace {
                    use std::io::Write;
                    let _ = w.flush();
                }
                Measured {
                    histogram,
                    skipped,
                    partitions_read: assigned,
                    partitions_timed: timed.len(),
                    readable,
                    ids_dropped,
                }
            })
            .map_err(|e| ScenarioError::System(format!("{side} delay probe thread: {e}")))?;
        Ok(DelayProbe { stop, handle })
    }

    /// Stops the probe and returns what it measured.
    pub fn finish(self) -> Option<Measured> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().ok()
    }
}

/// A record's workload id (`cutover-id`, read as the checker reads it), if it has
/// one: (producer, sequence) packed as the header packs them.
fn workload_id<M: Message>(m: &M) -> Option<u64> {
    let (producer, sequence) = decode_identity(&message_headers(m))?;
    Some((u64::from(producer) << 48) | sequence)
}

/// `CUTOVER_DELAY_TRACE=<file>`: every timed record as a CSV line (readable ms, create ms,
/// topic, partition, offset), to see when in a run the delay arose (docs/tuning.md, "Latency");
/// the target probe writes `<file>`, the source probe `<file>.source`.
fn trace_file(side: &str) -> Option<std::io::BufWriter<std::fs::File>> {
    let mut path = std::env::var_os("CUTOVER_DELAY_TRACE")?;
    if side != "target" {
        path.push(format!(".{side}"));
    }
    match std::fs::File::create(&path) {
        Ok(f) => Some(std::io::BufWriter::new(f)),
        Err(e) => {
            tracing::warn!(path = ?path, error = %e, "cannot write the delay trace");
            None
        }
    }
}

/// The partitions of `topics` that exist now (an unanswered metadata request: none yet).
fn partition_counts(consumer: &BaseConsumer<QuietEof>, topics: &[String]) -> Vec<(String, i32)> {
    harness::watermarks::partition_counts(consumer, topics, Duration::from_secs(10))
        .unwrap_or_default()
}

/// Adds partitions (of topics created or grown since) from their beginning: everything in them
/// was written after the probe started.
fn grow(consumer: &BaseConsumer<QuietEof>, topics: &[String], assigned: usize) -> usize {
    let Ok(current) = consumer.assignment() else {
        return assigned;
    };
    let have: std::collections::HashSet<(String, i32)> = current
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect();
    let mut more = TopicPartitionList::new();
    for (t, n) in partition_counts(consumer, topics) {
        for p in 0..n {
            if !have.contains(&(t.clone(), p)) {
                let _ = more.add_partition_offset(&t, p, Offset::Beginning);
            }
        }
    }
    if more.count() == 0 {
        return assigned;
    }
    let _ = consumer.incremental_assign(&more);
    assigned + more.count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(readable: &[(u64, i64)]) -> Measured {
        Measured {
            histogram: Histogram::new_with_bounds(1, 24 * 3600 * 1000, 3).unwrap(),
            skipped: 0,
            partitions_read: 1,
            partitions_timed: 1,
            readable: readable.iter().copied().collect(),
            ids_dropped: 0,
        }
    }

    #[test]
    fn the_copy_delay_is_each_records_target_time_minus_its_source_time() {
        // Record 1 took 5 s on the source and 2 s to copy; record 2 waited 40 s at the source
        // and 100 ms in the copy; record 3 was read on the target first (probe skew); record 4
        // was never seen on the source (a phantom, or read before the probe started); record 5
        // never reached the target.
        let source = measured(&[(1, 10_000), (2, 50_000), (3, 70_000), (5, 80_000)]);
        let target = measured(&[(1, 12_000), (2, 50_100), (3, 69_990), (4, 90_000)]);
        let c = copy_delay(&source, &target).unwrap();
        assert_eq!(c.histogram.len(), 3);
        assert_eq!((c.unmatched, c.ahead), (1, 1));
        assert_eq!(c.histogram.max(), c.histogram.highest_equivalent(2_000));
        assert_eq!(c.histogram.min(), 1);
        // The end-to-end 40 s wait at the source is not the copy's.
        assert!(c.histogram.value_at_quantile(0.5) <= 101);
    }

    #[test]
    fn a_record_without_a_workload_id_is_not_joined() {
        let rec = rdkafka::message::OwnedMessage::new(
            Some(b"v".to_vec()),
            None,
            "t".into(),
            Timestamp::CreateTime(1),
            0,
            0,
            None,
        );
        assert_eq!(workload_id(&rec), None);
        let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
            key: verify::fingerprint::WORKLOAD_ID_HEADER,
            value: Some(&verify::fingerprint::encode_identity(3, 77)),
        });
        let rec = rdkafka::message::OwnedMessage::new(
            Some(b"v".to_vec()),
            None,
            "t".into(),
            Timestamp::CreateTime(1),
            0,
            0,
            Some(headers),
        );
        assert_eq!(workload_id(&rec), Some((3u64 << 48) | 77));
    }
}
