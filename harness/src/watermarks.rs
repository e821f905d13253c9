//! End offsets of many partitions at once. `fetch_watermarks` costs one ListOffsets round trip
//! per partition: at the seed's 3,000 partitions a per-second sample would take seconds. Here
//! one metadata request finds the partitions and one `offsets_for_times` call with the
//! "latest" timestamp (-1) asks every partition's leader in one request per broker.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

/// The partition count of each of `topics` that exists (and has partitions), from one metadata
/// request for all topics (one request per topic costs seconds at 1,000 topics).
pub fn partition_counts<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<(String, i32)>, rdkafka::error::KafkaError> {
    let md = consumer.fetch_metadata(None, timeout)?;
    let wanted: std::collections::HashSet<&str> = topics.iter().map(String::as_str).collect();
    Ok(md
        .topics()
        .iter()
        .filter(|t| wanted.contains(t.name()) && !t.partitions().is_empty())
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// The end offset (per the client's `isolation.level`: the last stable offset for
/// `read_committed`, librdkafka's default) of every partition of `topics` that exists, keyed by
/// (topic, partition). Topics that do not exist are left out; a partition whose leader did not
/// answer within `timeout` is left out too.
pub fn end_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topics: &[String],
    timeout: Duration,
) -> HashMap<(String, i32), i64> {
    let mut out = HashMap::new();
    let Ok(counts) = partition_counts(consumer, topics, timeout) else {
        return out;
    };
    let mut tpl = TopicPartitionList::new();
    for (t, n) in counts {
        for p in 0..n {
            // The "timestamp" -1 asks ListOffsets for the latest offset.
            let _ = tpl.add_partition_offset(&t, p, Offset::End);
        }
    }
    if tpl.count() == 0 {
        return out;
    }
    let Ok(answer) = consumer.offsets_for_times(tpl, timeout) else {
        return out;
    };
    for e in answer.elements() {
        if let Offset::Offset(o) = e.offset() {
            out.insert((e.topic().to_string(), e.partition()), o);
        }
    }
    out
}
