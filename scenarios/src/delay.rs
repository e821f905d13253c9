//! End-to-end replication delay, measured: a probe reads the target topics `read_committed`
//! from their ends while the run goes on, and for every record compares its create time (the
//! source producer's, preserved by the copy) with the time it became readable on the target.
//! Records whose timestamp is not a plausible create time (the workload's far-past or
//! out-of-order timestamps, a system that rewrites timestamps) are left out and counted.

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

use crate::error::ScenarioError;

/// A delay above this is not a replication delay but a synthetic timestamp.
const PLAUSIBLE_MS: u64 = 10 * 60 * 1000;

/// What the probe measured.
pub struct Measured {
    pub histogram: Histogram<u64>,
    /// Records left out (no create time, or not a plausible one).
    pub skipped: u64,
    /// Partitions the probe read, and those with at least one record timed.
    pub partitions_read: usize,
    pub partitions_timed: usize,
}

/// The probe thread.
pub struct DelayProbe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Measured>,
}

impl DelayProbe {
    /// Starts reading every partition of `topics` on the target from its current end.
    pub fn start(target: &ClientProps, topics: &[String]) -> Result<DelayProbe, ScenarioError> {
        let mut c = target.reader("cutover-delay-probe")?;
        c.set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "20");
        let consumer: BaseConsumer<QuietEof> = c
            .create_with_context(QuietEof)
            .map_err(|e| ScenarioError::System(format!("delay probe: {e}")))?;
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
        for e in resolved.elements() {
            let start = match e.offset() {
                Offset::Offset(o) if o >= 0 && o != started_ms => Offset::Offset(o),
                _ => Offset::End,
            };
            let _ = tpl.add_partition_offset(e.topic(), e.partition(), start);
        }
        let topics = topics.to_vec();
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 24 * 3600 * 1000, 3)
            .map_err(|e| ScenarioError::System(format!("delay histogram: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("delay-probe".into())
            .spawn(move || {
                let mut trace = trace_file();
                let mut skipped = 0u64;
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
                }
            })
            .map_err(|e| ScenarioError::System(format!("delay probe thread: {e}")))?;
        Ok(DelayProbe { stop, handle })
    }

    /// Stops the probe and returns what it measured.
    pub fn finish(self) -> Option<Measured> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().ok()
    }
}

/// `CUTOVER_DELAY_TRACE=<file>`: every timed record as a CSV line (readable ms, create ms,
/// topic, partition, offset), to see when in a run the delay arose (docs/tuning.md, "Latency").
fn trace_file() -> Option<std::io::BufWriter<std::fs::File>> {
    let path = std::env::var_os("CUTOVER_DELAY_TRACE")?;
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
