//! Positions kept on the target, inside the target transaction.
//!
//! * **Checkpoints** (compacted topic, key = `[group, source cluster id, source topic,
//!   partition]` as JSON, so names with `-` or two source clusters never collide): the next
//!   source offset to copy. Written in every transaction with the records it covers, so a
//!   committed transaction moves records and position together, and an aborted one neither.
//! * **Offset syncs** (delete topic, same key): `(source offset, target offset)` of a record
//!   copied in an earlier committed transaction; `offsets sync` translates a consumer group's
//!   position from the nearest sync below it by counting records forward.
//!
//! Both are read `read_committed` only after the last stable offset has passed the high
//! watermark seen at the start, so a transaction still open at that moment (a zombie's) is
//! either fenced away or visible, never half-seen.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::error::{ReplicatorError, Result};
use harness::quiet::QuietEof;

/// The key of both record kinds: `["group","source cluster id","topic",partition]` as JSON.
pub fn key(group: &str, source_id: &str, topic: &str, partition: i32) -> Vec<u8> {
    serde_json::to_vec(&(group, source_id, topic, partition)).unwrap_or_default()
}

fn parse_key(bytes: &[u8]) -> Option<(String, String, String, i32)> {
    serde_json::from_slice(bytes).ok()
}

/// The source cluster's identity for checkpoint keys and transactional ids: its cluster id
/// (KIP-78), or, for a cluster that has none, its sorted bootstrap servers.
pub fn source_identity(source: &ClientConfig, timeout: Duration) -> Result<String> {
    let probe: BaseConsumer<QuietEof> =
        harness::reader::read_only(&mut source.clone(), "cutover-identity")
            .create_with_context(QuietEof)
            .map_err(|e| ReplicatorError::kafka("source: creating a client", e))?;
    // The metadata request makes the client learn the cluster id.
    probe
        .fetch_metadata(None, timeout)
        .map_err(|e| ReplicatorError::kafka("source: metadata", e))?;
    if let Some(id) = probe.client().fetch_cluster_id(timeout) {
        return Ok(id);
    }
    let mut servers: Vec<&str> = source
        .get("bootstrap.servers")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    servers.sort_unstable();
    tracing::warn!("the source cluster reports no cluster id; its bootstrap servers identify it");
    Ok(servers.join(","))
}

/// The value of a checkpoint record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next source offset to copy: every committed source record below it is on the target.
    pub next_offset: i64,
    /// The transactional id that wrote it.
    pub writer: String,
    pub target_topic: String,
    /// Wall clock at the write (ms).
    pub at_ms: i64,
}

/// The value of an offset-sync record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetSync {
    /// A source record's offset ...
    pub source_offset: i64,
    /// ... and the offset of its copy on the target.
    pub target_offset: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads every record of `topic` (all partitions) committed before now, handing each
/// (key, value) to `visit`. Waits first until no transaction that was open when it started can
/// still change what is visible (last stable offset ≥ high watermark at the start).
pub fn read_compacted(
    target: &ClientConfig,
    topic: &str,
    timeout: Duration,
    mut visit: impl FnMut(&[u8], &[u8]),
) -> Result<()> {
    let what = format!("target: reading {topic}");
    let deadline = Instant::now() + timeout;
    let make = |level: &str| -> Result<BaseConsumer<QuietEof>> {
        let mut c = target.clone();
        harness::reader::read_only(&mut c, "cutover-checkpoint-reader")
            .set("enable.partition.eof", "true")
            // The end of a partition (its last stable offset) is seen only by a fetch made
            // while no transaction is open on it; the replicator's slots keep opening them
            // every commit interval, so fetch often rather than wait 500 ms for more data
            // (an end took 1.4-3.3 s to see at 200 ms commits, 4 slots).
            .set("fetch.wait.max.ms", "10")
            .set("isolation.level", level);
        c.create_with_context(QuietEof)
            .map_err(|e| ReplicatorError::kafka(&what, e))
    };
    let uncommitted = make("read_uncommitted")?;
    let committed = make("read_committed")?;
    let metadata = committed
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| ReplicatorError::kafka(&what, e))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReplicatorError::kafka(&what, "no such topic"));
    }
    // Every partition's high watermark first, then one wait for them all: an open
    // transaction (the replicator commits every `commit_interval_ms`) holds every partition it
    // wrote to until it ends, so waiting partition by partition would wait once per partition.
    let waiting = Instant::now();
    let mut highs = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let (_, high) = uncommitted
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| ReplicatorError::kafka(&what, e))?;
        highs.push((p, high));
    }
    while !highs.is_empty() {
        let mut still = Vec::new();
        for (p, high) in highs {
            let (_, stable) = committed
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(|e| ReplicatorError::kafka(&what, e))?;
            if stable < high {
                still.push((p, high, stable));
            }
        }
        if let Some((p, high, stable)) = still.first() {
            if Instant::now() > deadline {
                return Err(ReplicatorError::kafka(
                    &what,
                    format!("partition {p}: an open transaction holds the last stable offset at {stable} (high watermark {high})"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        highs = still.into_iter().map(|(p, high, _)| (p, high)).collect();
    }
    tracing::debug!(
        topic,
        waited_ms = waiting.elapsed().as_millis() as u64,
        "open transactions ended"
    );
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| ReplicatorError::kafka(&what, e))?;
    }
    committed
        .assign(&tpl)
        .map_err(|e| ReplicatorError::kafka(&what, e))?;
    let mut open: std::collections::HashSet<i32> = partitions.iter().copied().collect();
    let mut records = 0u64;
    let reading = Instant::now();
    while !open.is_empty() {
        if Instant::now() > deadline {
            return Err(ReplicatorError::kafka(
                &what,
                "timed out reading to the end",
            ));
        }
        match committed.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                records += 1;
                if let (Some(k), Some(v)) = (m.key(), m.payload()) {
                    visit(k, v);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => tracing::debug!(topic, error = %e, "checkpoint read"),
            None => {}
        }
    }
    tracing::debug!(
        topic,
        records,
        elapsed_ms = reading.elapsed().as_millis() as u64,
        "read to the end"
    );
    Ok(())
}

/// The latest committed checkpoint of every partition of `group` (source topic, partition).
pub fn read_checkpoints(
    target: &ClientConfig,
    topic: &str,
    group: &str,
    source_id: &str,
    timeout: Duration,
) -> Result<HashMap<(String, i32), Checkpoint>> {
    let mut out = HashMap::new();
    read_compacted(target, topic, timeout, |k, v| {
        if let Some((g, s, t, p)) = parse_key(k) {
            if g == group && s == source_id {
                if let Ok(c) = serde_json::from_slice::<Checkpoint>(v) {
                    out.insert((t, p), c);
                }
            }
        }
    })?;
    Ok(out)
}

/// Every committed offset sync of `group` for one source partition, in write order.
pub fn read_offset_syncs(
    target: &ClientConfig,
    topic: &str,
    group: &str,
    source_id: &str,
    timeout: Duration,
) -> Result<HashMap<(String, i32), Vec<OffsetSync>>> {
    let mut out: HashMap<(String, i32), Vec<OffsetSync>> = HashMap::new();
    read_compacted(target, topic, timeout, |k, v| {
        if let Some((g, s, t, p)) = parse_key(k) {
            if g == group && s == source_id {
                if let Ok(s) = serde_json::from_slice::<OffsetSync>(v) {
                    out.entry((t, p)).or_default().push(s);
                }
            }
        }
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_values_are_readable_json() {
        let k = key("g", "cluster-A", "orders.eu", 7);
        assert_eq!(
            parse_key(&k),
            Some(("g".into(), "cluster-A".into(), "orders.eu".into(), 7))
        );
        // Names with the separator of a hand-made key cannot collide.
        assert_ne!(key("a-b", "c", "t", 1), key("a", "b-c", "t", 1));
        assert_ne!(key("g", "s", "t-1", 2), key("g", "s", "t", 12));
        let c = Checkpoint {
            next_offset: 42,
            writer: "cutover-g-orders.eu-7".into(),
            target_topic: "orders.eu".into(),
            at_ms: 1,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"next_offset\":42"), "{text}");
        assert_eq!(serde_json::from_str::<Checkpoint>(&text).unwrap(), c);
    }
}
