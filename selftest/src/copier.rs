//! Deliberately broken copiers: each copies a source topic partition by partition into its own
//! target topic with plain librdkafka clients (consume, then produce), breaks it in one known
//! way, and says exactly how many records it broke. None of this uses the checker: the
//! expected counts come from what the copier did, never from a fingerprint.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use verify::AnomalyClass;

use crate::{more, SelftestError};

/// One built-in copier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copier {
    /// Copies every committed record, in order, to the same partition.
    Faithful,
    /// Skips every 97th record.
    Drops,
    /// Writes every 89th record twice.
    Duplicates,
    /// Reads `read_uncommitted`, so records of aborted transactions are copied too.
    ReadsUncommitted,
    /// Swaps a record with the next one every 101 records of a partition.
    Reorders,
    /// Changes the value of every 83rd record (its workload id header stays).
    AltersValues,
    /// Writes every 79th record of partition p to partition p + 1.
    MovesPartitions,
    /// Copies only the partitions the topic had when the copier started (it assigned those and
    /// never looked at the metadata again), so every record on a partition added since is lost.
    BlindToNewPartitions,
    /// Writes a record that never existed (no workload identity) after every 151st record.
    Phantoms,
    /// Moves every 300th record of a partition 100 records later: farther than the checker's
    /// in-order window in this case ([`FAR_WINDOW`] records), so the pairs meet in the sorted
    /// runs. Each move puts one record after a later one.
    FarReorders,
    /// Drops, duplicates, alters and swaps (one each per 50 records) while the checker holds
    /// only [`SPILL_CAPACITY`] entries per partition in memory: every partition spills sorted
    /// runs to disk and merges them in stages.
    Spilled,
    /// Repartitions (partition p → p + 1 of a target with one partition more than the source,
    /// [`crate::more::REPARTITIONED`], checked as a whole topic, partitions not promised), drops every 97th and duplicates every 89th record, and writes
    /// one phantom to target partition 0, which no source partition maps to.
    Repartitions,
    /// Compacted source topic: changes the latest value of every 4th key of a partition (the
    /// record is corrupted, and its key's latest value diverges).
    DivergesCompacted,
    /// Compacted source topic: keeps every key's latest value but drops every 3rd older value
    /// of a key. No cleaner ran on the target (the checker sees the brokers' cleaner
    /// checkpoints), so they are lost, not "what compaction would have removed".
    DropsCompactedHistory,
    /// Source with upstream re-sends (identical records): copies every record, offsets kept
    /// (offsets promised); the re-sends are upstream duplicates, not replication ones.
    FaithfulResends,
    /// Same source: writes every 29th record twice; only those are duplicated.
    DuplicatesResends,
    /// Same source, offsets promised: writes one filler record (a phantom) after 50 records
    /// of partition 0, so every later record of partition 0 has another offset.
    ShiftsOffsets,
    /// Framed source (schema registries): translates every schema id to the merged target
    /// registry's id of the same schema.
    SchemasFaithful,
    /// Framed source: every 37th record gets an id the target registry does not hold.
    SchemasUnresolved,
    /// Framed source: every 41st record gets the target id of the other schema version.
    SchemasMismatch,
}

/// The in-order window (records per side) the checker uses for [`Copier::FarReorders`].
pub const FAR_WINDOW: usize = 32;
/// The records the checker keeps in memory per partition for [`Copier::Spilled`].
pub const SPILL_CAPACITY: usize = 32;

/// What a copier broke, by class (exact), and the identical records it read in the source
/// (upstream duplicates: one fewer than the copies of each record, per partition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Broke {
    pub classes: BTreeMap<AnomalyClass, u64>,
    pub upstream_duplicates: u64,
}

impl Broke {
    pub(crate) fn add(&mut self, class: AnomalyClass, n: u64) {
        if n > 0 {
            *self.classes.entry(class).or_default() += n;
        }
    }
}

impl Copier {
    pub const ALL: [Copier; 20] = [
        Copier::Faithful,
        Copier::Drops,
        Copier::Duplicates,
        Copier::ReadsUncommitted,
        Copier::Reorders,
        Copier::AltersValues,
        Copier::MovesPartitions,
        Copier::BlindToNewPartitions,
        Copier::Phantoms,
        Copier::FarReorders,
        Copier::Spilled,
        Copier::Repartitions,
        Copier::DivergesCompacted,
        Copier::DropsCompactedHistory,
        Copier::FaithfulResends,
        Copier::DuplicatesResends,
        Copier::ShiftsOffsets,
        Copier::SchemasFaithful,
        Copier::SchemasUnresolved,
        Copier::SchemasMismatch,
    ];

    /// The copier's name (also the target topic's suffix).
    pub fn name(self) -> &'static str {
        match self {
            Copier::Faithful => "faithful",
            Copier::Drops => "drops",
            Copier::Duplicates => "duplicates",
            Copier::ReadsUncommitted => "reads-uncommitted",
            Copier::Reorders => "reorders",
            Copier::AltersValues => "alters-values",
            Copier::MovesPartitions => "moves-partitions",
            Copier::BlindToNewPartitions => "blind-to-new-partitions",
            Copier::Phantoms => "phantoms",
            Copier::FarReorders => "far-reorders",
            Copier::Spilled => "spilled",
            Copier::Repartitions => "repartitions",
            Copier::DivergesCompacted => "diverges-compacted",
            Copier::DropsCompactedHistory => "drops-compacted-history",
            Copier::FaithfulResends => "faithful-resends",
            Copier::DuplicatesResends => "duplicates-resends",
            Copier::ShiftsOffsets => "shifts-offsets",
            Copier::SchemasFaithful => "schemas-faithful",
            Copier::SchemasUnresolved => "schemas-unresolved",
            Copier::SchemasMismatch => "schemas-mismatch",
        }
    }

    /// The anomaly class this copier must be caught with (None: it must pass); a copier that
    /// breaks several ways names its first, and [`copy`] counts every class.
    pub fn class(self) -> Option<AnomalyClass> {
        match self {
            Copier::Faithful | Copier::FaithfulResends | Copier::SchemasFaithful => None,
            Copier::Phantoms | Copier::ShiftsOffsets => Some(AnomalyClass::Phantom),
            Copier::FarReorders => Some(AnomalyClass::Reordered),
            Copier::Spilled | Copier::Repartitions => Some(AnomalyClass::Lost),
            Copier::DivergesCompacted => Some(AnomalyClass::CompactionDivergent),
            Copier::DropsCompactedHistory => Some(AnomalyClass::Lost),
            Copier::DuplicatesResends => Some(AnomalyClass::Duplicated),
            Copier::SchemasUnresolved => Some(AnomalyClass::SchemaUnresolved),
            Copier::SchemasMismatch => Some(AnomalyClass::SchemaMismatch),
            Copier::Drops => Some(AnomalyClass::Lost),
            Copier::Duplicates => Some(AnomalyClass::Duplicated),
            Copier::ReadsUncommitted => Some(AnomalyClass::LeakedAborted),
            Copier::Reorders => Some(AnomalyClass::Reordered),
            Copier::AltersValues => Some(AnomalyClass::Corrupted),
            Copier::MovesPartitions => Some(AnomalyClass::MovedPartition),
            Copier::BlindToNewPartitions => Some(AnomalyClass::Lost),
        }
    }
}

/// A record as read from the source.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) timestamp: Option<i64>,
}

/// Reads every partition of `topic` from the beginning to its end (the last stable offset
/// with `read_committed`), in offset order per partition.
fn read_all(
    props: &ClientProps,
    topic: &str,
    partitions: i32,
    isolation: &str,
    timeout: Duration,
) -> Result<Vec<Vec<Record>>, SelftestError> {
    let kafka = |e: KafkaError| SelftestError::Kafka(format!("reading {topic}: {e}"));
    let mut config = props.reader("cutover-selftest-copier")?;
    config
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation);
    // End-of-partition events are how the copier knows it is done, not errors to log.
    let consumer: BaseConsumer<QuietEof> = config.create_with_context(QuietEof).map_err(kafka)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(kafka)?;
    }
    consumer.assign(&tpl).map_err(kafka)?;
    let mut out: Vec<Vec<Record>> = vec![Vec::new(); partitions as usize];
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let deadline = Instant::now() + timeout;
    while (at_end.len() as i32) < partitions {
        if Instant::now() > deadline {
            return Err(SelftestError::Kafka(format!(
                "reading {topic} did not reach the end of every partition within {} s",
                timeout.as_secs()
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                let Some(partition) = out.get_mut(m.partition() as usize) else {
                    continue;
                };
                partition.push(Record {
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                    timestamp: m.timestamp().to_millis(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(kafka(e)),
            None => {}
        }
    }
    Ok(out)
}

/// Writes `records[q]` to partition q of `topic`, in order (an idempotent producer keeps the
/// order through retries), and waits until every record is acknowledged.
pub(crate) fn write_all(
    props: &ClientProps,
    topic: &str,
    records: &[Vec<Record>],
    timeout: Duration,
) -> Result<(), SelftestError> {
    let kafka = |e: KafkaError| SelftestError::Kafka(format!("writing {topic}: {e}"));
    let mut config = props.to_rdkafka()?;
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5");
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().map_err(kafka)?;
    for (q, partition) in records.iter().enumerate() {
        for r in partition {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            let mut record: BaseRecord<'_, Vec<u8>, Vec<u8>> =
                BaseRecord::to(topic).partition(q as i32).headers(headers);
            if let Some(k) = &r.key {
                record = record.key(k);
            }
            if let Some(v) = &r.value {
                record = record.payload(v);
            }
            if let Some(t) = r.timestamp {
                record = record.timestamp(t);
            }
            let mut pending = record;
            loop {
                match producer.send(pending) {
                    Ok(()) => break,
                    Err((
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        back,
                    )) => {
                        std::thread::sleep(Duration::from_millis(20));
                        pending = back;
                    }
                    Err((e, _)) => return Err(kafka(e)),
                }
            }
        }
    }
    producer.flush(timeout).map_err(kafka)?;
    if producer.in_flight_count() > 0 {
        return Err(SelftestError::Kafka(format!(
            "writing {topic}: {} records not acknowledged within {} s",
            producer.in_flight_count(),
            timeout.as_secs()
        )));
    }
    Ok(())
}

/// Copies `source_topic` (`partitions` partitions now, `at_start` when the copier started)
/// into `target_topic` the way `copier` does; returns what it broke (what the checker must
/// count), every class exactly.
#[allow(clippy::too_many_arguments)]
pub fn copy(
    copier: Copier,
    source: &ClientProps,
    target: &ClientProps,
    source_topic: &str,
    target_topic: &str,
    partitions: i32,
    at_start: i32,
    timeout: Duration,
) -> Result<Broke, SelftestError> {
    if let Some(copy_more) = more::copier(copier) {
        let read = read_all(source, source_topic, partitions, "read_committed", timeout)?;
        let mut broke = Broke {
            upstream_duplicates: more::repeats(&read),
            ..Broke::default()
        };
        let out = copy_more(read, &mut broke);
        write_all(target, target_topic, &out, timeout)?;
        return Ok(broke);
    }
    let isolation = if copier == Copier::ReadsUncommitted {
        "read_uncommitted"
    } else {
        "read_committed"
    };
    let read = read_all(source, source_topic, partitions, isolation, timeout)?;
    let mut upstream_duplicates = more::repeats(&read);
    let mut broken = 0u64;
    let mut out: Vec<Vec<Record>> = vec![Vec::new(); partitions as usize];
    match copier {
        Copier::Faithful => out = read,
        Copier::ReadsUncommitted => {
            // Aborted records: in the uncommitted view, not in the committed one.
            let committed = read_all(source, source_topic, partitions, "read_committed", timeout)?;
            upstream_duplicates = more::repeats(&committed);
            for (p, records) in read.iter().enumerate() {
                let kept: BTreeSet<i64> = committed[p].iter().map(|r| r.offset).collect();
                broken += records.iter().filter(|r| !kept.contains(&r.offset)).count() as u64;
            }
            out = read;
        }
        Copier::Drops | Copier::Duplicates | Copier::AltersValues => {
            let mut n = 0u64;
            for (p, records) in read.into_iter().enumerate() {
                for mut r in records {
                    n += 1;
                    match copier {
                        Copier::Drops if n % 97 == 13 => {
                            broken += 1;
                            continue;
                        }
                        Copier::Duplicates if n % 89 == 7 => {
                            broken += 1;
                            out[p].push(r.clone());
                        }
                        Copier::AltersValues if n % 83 == 5 => {
                            broken += 1;
                            let mut v = r.value.take().unwrap_or_default();
                            v.extend_from_slice(b" (altered by cutover selftest)");
                            r.value = Some(v);
                        }
                        _ => {}
                    }
                    out[p].push(r);
                }
            }
        }
        Copier::Reorders => {
            for (p, mut records) in read.into_iter().enumerate() {
                // Swap i and i + 1 at every 101st position: each swap puts one record after a
                // record that came later in the source (one reordered record), and swaps never
                // touch each other.
                let mut i = 50;
                while i + 1 < records.len() {
                    records.swap(i, i + 1);
                    broken += 1;
                    i += 101;
                }
                out[p] = records;
            }
        }
        Copier::BlindToNewPartitions => {
            // Every partition is read, the added ones only to count what the copy leaves
            // behind: their committed records.
            let seen = at_start.clamp(0, partitions) as usize;
            broken = read[seen..].iter().map(|p| p.len() as u64).sum();
            out = read;
            out.truncate(seen);
        }
        Copier::MovesPartitions => {
            let mut n = 0u64;
            for (p, records) in read.into_iter().enumerate() {
                for r in records {
                    n += 1;
                    if n % 79 == 11 && partitions > 1 {
                        broken += 1;
                        out[(p + 1) % partitions as usize].push(r);
                    } else {
                        out[p].push(r);
                    }
                }
            }
        }
        // Their copies come from `more::copier` above.
        _ => {
            return Err(SelftestError::Kafka(format!(
                "copier {} has no plain copy",
                copier.name()
            )))
        }
    }
    write_all(target, target_topic, &out, timeout)?;
    let mut broke = Broke {
        upstream_duplicates,
        ..Broke::default()
    };
    if let Some(class) = copier.class() {
        broke.add(class, broken);
    }
    Ok(broke)
}
