//! Sizing the source, read-only: watermarks per partition, and the average record size from a
//! bounded sample of each partition's tail (assign + seek, no consumer group, no commit).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use harness::{ClientProps, HarnessError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// A topic's size as sampled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicSize {
    /// Σ (high − low) over its partitions.
    pub records: u64,
    pub sampled_records: u64,
    pub sampled_bytes: u64,
}

fn kafka(operation: &str, e: impl std::fmt::Display) -> HarnessError {
    HarnessError::Kafka {
        cluster: "source".into(),
        operation: operation.into(),
        detail: e.to_string(),
    }
}

/// Watermarks of every partition of `topics`, then up to `per_partition` records from each
/// tail, reading for at most `budget` in all (blocking).
pub fn sample(
    props: &ClientProps,
    topics: &[(String, usize)],
    per_partition: i64,
    budget: Duration,
    timeout: Duration,
) -> Result<BTreeMap<String, TopicSize>, HarnessError> {
    let mut config = props.to_rdkafka()?;
    // librdkafka refuses `assign` without a group id; the group is never joined (no
    // subscribe) and nothing is committed (auto commit off, no offset store).
    harness::reader::read_only(
        &mut config,
        &format!("cutover-preflight-{}", std::process::id()),
    )
    .set("client.id", "cutover-preflight-sampler")
    .set("enable.partition.eof", "true");
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| kafka("creating a consumer", e))?;
    let mut sizes: BTreeMap<String, TopicSize> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    // (topic, partition) → high watermark: the sample stops there.
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (topic, partitions) in topics {
        let size = sizes.entry(topic.clone()).or_default();
        for p in 0..*partitions as i32 {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(|e| kafka(&format!("reading the watermarks of {topic}-{p}"), e))?;
            size.records += (high - low).max(0) as u64;
            if high > low && per_partition > 0 {
                let from = low.max(high - per_partition);
                tpl.add_partition_offset(topic, p, Offset::Offset(from))
                    .map_err(|e| kafka("assigning", e))?;
                ends.insert((topic.clone(), p), high);
            }
        }
    }
    if ends.is_empty() {
        return Ok(sizes);
    }
    consumer.assign(&tpl).map_err(|e| kafka("assigning", e))?;
    let mut open: BTreeSet<(String, i32)> = ends.keys().cloned().collect();
    let deadline = Instant::now() + budget;
    while !open.is_empty() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                let key = (m.topic().to_string(), m.partition());
                if !open.contains(&key) {
                    continue;
                }
                let headers: usize = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                            .sum()
                    })
                    .unwrap_or(0);
                let bytes =
                    m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len) + headers;
                if let Some(size) = sizes.get_mut(&key.0) {
                    size.sampled_records += 1;
                    size.sampled_bytes += bytes as u64;
                }
                if m.offset() + 1 >= ends[&key] {
                    open.remove(&key);
                }
            }
            // At a partition's end (transaction markers hold offsets no record has): drop
            // every partition whose position has reached its recorded high watermark.
            Some(Err(KafkaError::PartitionEOF(_))) => {
                if let Ok(position) = consumer.position() {
                    open.retain(|key| {
                        let at = position.find_partition(&key.0, key.1).map(|e| e.offset());
                        !matches!(at, Some(Offset::Offset(o)) if o >= ends[key])
                    });
                }
            }
            Some(Err(e)) => {
                tracing::debug!("preflight sample: {e}");
            }
        }
    }
    Ok(sizes)
}
