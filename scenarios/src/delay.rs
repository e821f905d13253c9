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
        let mut tpl = TopicPartitionList::new();
        for t in topics {
            // Target topics may not exist yet: the probe reads those that do, and the ones the
            // system creates later are picked up by the metadata refresh below.
            if let Ok(md) = consumer.fetch_metadata(Some(t), Duration::from_secs(5)) {
                for mt in md.topics() {
                    for p in mt.partitions() {
                        // A concrete offset: a logical end is resolved only when fetching
                        // starts, seconds later, and would skip the first records.
                        let start = consumer
                            .fetch_watermarks(t, p.id(), Duration::from_secs(5))
                            .map_or(Offset::End, |(_, high)| Offset::Offset(high));
                        let _ = tpl.add_partition_offset(t, p.id(), start);
                    }
                }
            }
        }
        let topics = topics.to_vec();
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 24 * 3600 * 1000, 3)
            .map_err(|e| ScenarioError::System(format!("delay histogram: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("delay-probe".into())
            .spawn(move || {
                let mut skipped = 0u64;
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
                            } else {
                                skipped += 1;
                            }
                        }
                        _ => skipped += 1,
                    }
                }
                Measured { histogram, skipped }
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

/// Adds partitions (of topics created or grown since) from their beginning: everything in them
/// was written after the probe started.
fn grow(consumer: &BaseConsumer<QuietEof>, topics: &[String], assigned: usize) -> usize {
    let Ok(current) = consumer.assignment() else {
        return assigned;
    };
    let mut more = TopicPartitionList::new();
    for t in topics {
        if let Ok(md) = consumer.fetch_metadata(Some(t), Duration::from_secs(2)) {
            for mt in md.topics() {
                for p in mt.partitions() {
                    if current.find_partition(t, p.id()).is_none() {
                        let _ = more.add_partition_offset(t, p.id(), Offset::Beginning);
                    }
                }
            }
        }
    }
    if more.count() == 0 {
        return assigned;
    }
    let _ = consumer.incremental_assign(&more);
    assigned + more.count()
}
