//! Torn transactions: did each source transaction become visible on the target at once?
//!
//! A consumer-based copier commits its own transactions, not the source's: the records of one
//! source transaction (several partitions, or more records than one of its batches) may become
//! visible on the target in parts, so a `read_committed` reader of the target sees a
//! transaction half applied, for a while or, when the copy stops there (a failover), for good.
//!
//! The workload's records name their producer and sequence (`cutover-id`), and a transactional
//! producer writes `records_per_txn` records per transaction, so a record's transaction is
//! `(producer, sequence / records_per_txn)`. [`Observer`] watches the target while the run
//! goes on: one thread samples every partition's last stable offset every few milliseconds
//! (what a `read_committed` reader may see, and when it moved; one ListOffsets request per
//! broker a round), another reads the records
//! `read_committed` and notes each transaction's (partition, offset)s; a record became visible
//! when the first sample passed its offset, so a reader that lags does not blur it. After the
//! run, [`source_sizes`] counts each committed transaction's records on the source and
//! [`judge`] calls a transaction torn when the target holds only part of it at the end, or when
//! one of its records was visible while another provably was not yet (their visibility
//! intervals between samples do not overlap: no tolerance to tune). Memory: 16 bytes per transactional record and each
//! partition's offset history: meant for the scenarios' volumes (`transactions = "off"` for
//! seed-scale runs).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::VerifyError;
use crate::fingerprint::{decode_identity, message_headers};

/// Examples kept.
const EXAMPLES: usize = 5;

/// A source transaction: (producer id, transaction number).
pub type TxnId = (u16, u64);

/// What the observer saw of one transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub records: u64,
    /// The earliest sample (ms since the observer started) at which one of its records was
    /// visible, and the latest at which one of them was still not: when the second is later,
    /// the transaction was in parts at least that long.
    pub first_ms: u64,
    pub last_ms: u64,
}

/// The transaction of a record, from its headers: None for a record of no transactional
/// producer.
pub fn txn_of(headers: &[(&str, Option<&[u8]>)], sizes: &BTreeMap<u16, u64>) -> Option<TxnId> {
    let (producer, sequence) = decode_identity(headers)?;
    let size = sizes.get(&producer)?;
    Some((producer, sequence / size))
}

/// A partition by its topic's index in the observed topics and its number.
type Part = (u16, i32);

/// The target's last stable offsets as sampled: per partition, each time it moved, (the
/// previous sample's time, this sample's time, the new LSO) in ms since the start: an offset
/// the move passed became visible between the two samples.
type History = HashMap<Part, Vec<(u64, u64, i64)>>;

/// Per transaction, where its records are on the target: (partition, offset).
type Placed = HashMap<TxnId, Vec<(Part, i64)>>;

/// A live observer of the target on two threads: one samples every partition's last stable
/// offset (what a `read_committed` reader may see) every few milliseconds, the other reads
/// the records `read_committed` and notes where each transaction's records are. A record
/// became visible when the first sample passed its offset, so the reader may lag without
/// blurring when things became visible.
pub struct Observer {
    stop: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<History>>,
    reader: Option<std::thread::JoinHandle<Placed>>,
}

impl Observer {
    /// Starts observing `topics` on the target from their beginnings; topics that do not
    /// exist yet are picked up when they do.
    pub fn start(
        props: &ClientProps,
        topics: &[String],
        sizes: BTreeMap<u16, u64>,
    ) -> Result<Observer, VerifyError> {
        let failed = |detail: String| VerifyError::Kafka {
            cluster: "target".into(),
            detail,
        };
        let make = || -> Result<BaseConsumer<QuietEof>, VerifyError> {
            let mut c = props.reader("cutover-txn-observer")?;
            c.set("isolation.level", "read_committed")
                .set("fetch.wait.max.ms", "10");
            c.create_with_context(QuietEof)
                .map_err(|e| failed(format!("transaction observer: {e}")))
        };
        let (sampling, reading) = (make()?, make()?);
        let stop = Arc::new(AtomicBool::new(false));
        let began = Instant::now();
        let (flag, names) = (stop.clone(), topics.to_vec());
        let sampler = std::thread::Builder::new()
            .name("txn-lso-sampler".into())
            .spawn(move || sample(sampling, &names, began, &flag))
            .map_err(|e| failed(format!("transaction observer thread: {e}")))?;
        let (flag, names) = (stop.clone(), topics.to_vec());
        let reader = std::thread::Builder::new()
            .name("txn-observer".into())
            .spawn(move || read(reading, &names, &sizes, &flag))
            .map_err(|e| failed(format!("transaction observer thread: {e}")))?;
        Ok(Observer {
            stop,
            sampler: Some(sampler),
            reader: Some(reader),
        })
    }

    /// Stops observing; what it saw of each transaction.
    pub fn finish(mut self) -> HashMap<TxnId, Seen> {
        self.stop.store(true, Ordering::Release);
        let history = self
            .sampler
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let records = self
            .reader
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        when_visible(&history, &records)
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Per transaction: its records read, the earliest sample at which one was visible and the
/// latest at which one was not yet (each record became visible between the last sample below
/// its offset and the first past it). A record no sample saw pass (the sampler stopped
/// first) is counted without a time.
pub fn when_visible(history: &History, records: &Placed) -> HashMap<TxnId, Seen> {
    let mut out = HashMap::new();
    for (id, recs) in records {
        let mut s = Seen {
            records: recs.len() as u64,
            first_ms: u64::MAX,
            last_ms: 0,
        };
        for (part, offset) in recs {
            let Some(h) = history.get(part) else { continue };
            let i = h.partition_point(|(_, _, lso)| *lso <= *offset);
            if let Some((before, at, _)) = h.get(i) {
                s.first_ms = s.first_ms.min(*at);
                s.last_ms = s.last_ms.max(*before);
            }
        }
        if s.first_ms == u64::MAX || s.last_ms < s.first_ms {
            // Never provably apart: at once.
            s.last_ms = s.first_ms.min(s.last_ms);
            s.first_ms = s.last_ms;
        }
        out.insert(*id, s);
    }
    out
}

/// The partitions of `topics` now (a topic not there yet has none).
fn partitions(consumer: &BaseConsumer<QuietEof>, topics: &[String]) -> Vec<Part> {
    let mut out = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        if let Ok(md) = consumer.fetch_metadata(Some(t), Duration::from_secs(2)) {
            let n = md.topics().first().map_or(0, |mt| mt.partitions().len());
            out.extend((0..n as i32).map(|p| (i as u16, p)));
        }
    }
    out
}

fn sample(
    consumer: BaseConsumer<QuietEof>,
    topics: &[String],
    began: Instant,
    stop: &AtomicBool,
) -> History {
    let mut history: History = HashMap::new();
    let mut sampled: HashMap<Part, u64> = HashMap::new();
    let mut parts = Vec::new();
    let mut looked: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        if looked.is_none_or(|l| l.elapsed() >= Duration::from_secs(1)) {
            looked = Some(Instant::now());
            parts = partitions(&consumer, topics);
        }
        // Every partition's end in one ListOffsets request per broker ("latest", which for a
        // read_committed client is the last stable offset).
        let mut ask = TopicPartitionList::new();
        for &(t, p) in &parts {
            let _ = ask.add_partition_offset(&topics[t as usize], p, Offset::End);
        }
        if ask.count() > 0 {
            if let Ok(ends) = consumer.offsets_for_times(ask, Duration::from_secs(2)) {
                let at = began.elapsed().as_millis() as u64;
                for e in ends.elements() {
                    let (Offset::Offset(lso), Some(t)) =
                        (e.offset(), topics.iter().position(|x| x == e.topic()))
                    else {
                        continue;
                    };
                    let part = (t as u16, e.partition());
                    let before = sampled.insert(part, at).unwrap_or(0);
                    let h = history.entry(part).or_default();
                    if h.last().is_none_or(|(_, _, last)| *last != lso) {
                        h.push((before, at, lso));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    history
}

fn read(
    consumer: BaseConsumer<QuietEof>,
    topics: &[String],
    sizes: &BTreeMap<u16, u64>,
    stop: &AtomicBool,
) -> Placed {
    let index: HashMap<&str, u16> = topics
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u16))
        .collect();
    let mut seen: Placed = HashMap::new();
    let mut assigned: std::collections::HashSet<Part> = Default::default();
    let mut looked: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        // New topics and partitions, from their beginnings, every second.
        if looked.is_none_or(|l| l.elapsed() >= Duration::from_secs(1)) {
            looked = Some(Instant::now());
            let mut add = TopicPartitionList::new();
            for part in partitions(&consumer, topics) {
                if assigned.insert(part) {
                    let _ = add.add_partition_offset(
                        &topics[part.0 as usize],
                        part.1,
                        Offset::Beginning,
                    );
                }
            }
            if add.count() > 0 {
                if let Err(e) = consumer.incremental_assign(&add) {
                    tracing::warn!(error = %e, "transaction observer: assign");
                }
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let (Some(id), Some(&t)) =
                    (txn_of(&message_headers(&m), sizes), index.get(m.topic()))
                {
                    seen.entry(id)
                        .or_default()
                        .push(((t, m.partition()), m.offset()));
                }
            }
            Some(Err(e)) => tracing::debug!(error = %e, "transaction observer"),
            None => {}
        }
    }
    seen
}

/// Each committed transaction's records on the source (`read_committed`, to the end).
pub fn source_sizes(
    props: &ClientProps,
    topics: &[String],
    sizes: &BTreeMap<u16, u64>,
    timeout: Duration,
) -> Result<HashMap<TxnId, u64>, VerifyError> {
    let mut out: HashMap<TxnId, u64> = HashMap::new();
    crate::app::read_messages(props, "source", topics, timeout, |m| {
        if let Some(id) = txn_of(&message_headers(m), sizes) {
            *out.entry(id).or_default() += 1;
        }
    })?;
    Ok(out)
}

/// Judges what the observer saw against the source's transactions.
pub fn judge(
    seen: &HashMap<TxnId, Seen>,
    source: &HashMap<TxnId, u64>,
    promise: verdict::TransactionPromise,
) -> verdict::TornTransactions {
    let mut t = verdict::TornTransactions {
        promise,
        ..Default::default()
    };
    t.on_source = source.len() as u64;
    let mut ids: Vec<&TxnId> = source.keys().collect();
    ids.sort();
    for id in ids {
        let size = source[id];
        let Some(s) = seen.get(id) else {
            // Not on the target at all: lost records, the checker's business.
            continue;
        };
        t.transactions += 1;
        let spread = s.last_ms.saturating_sub(s.first_ms);
        let partial = s.records < size;
        // In parts: some of it missing at the end, or one record visible while another
        // provably was not yet.
        if partial || spread > 0 {
            t.torn += 1;
            t.max_torn_ms = t.max_torn_ms.max(spread);
            if partial {
                t.torn_at_end += 1;
            }
            if t.examples.len() < EXAMPLES {
                t.examples.push(if partial {
                    format!(
                        "producer {} transaction {}: {} of its {size} records on the target at the end",
                        id.0, id.1, s.records
                    )
                } else {
                    format!(
                        "producer {} transaction {}: its {size} records were in parts on the target for at least {spread} ms",
                        id.0, id.1
                    )
                });
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{encode_identity, WORKLOAD_ID_HEADER};

    #[test]
    fn a_record_belongs_to_its_producers_transaction_by_sequence() {
        let sizes: BTreeMap<u16, u64> = [(1, 10)].into_iter().collect();
        let id = encode_identity(1, 23);
        let h = [(WORKLOAD_ID_HEADER, Some(&id[..]))];
        assert_eq!(txn_of(&h, &sizes), Some((1, 2)));
        let other = encode_identity(0, 23);
        assert_eq!(
            txn_of(&[(WORKLOAD_ID_HEADER, Some(&other[..]))], &sizes),
            None
        );
        assert_eq!(txn_of(&[("x", Some(&id[..]))], &sizes), None);
    }

    /// A record became visible between the last sample below its offset and the first past
    /// it, however late the reader read it; a transaction is in parts only when one record was
    /// visible while another provably was not.
    #[test]
    fn a_transaction_is_in_parts_only_when_its_records_visibility_cannot_overlap() {
        let history: History = [
            ((0, 0), vec![(0, 0, 0), (90, 100, 5), (290, 300, 9)]),
            ((0, 1), vec![(0, 0, 0), (440, 450, 3)]),
            ((0, 2), vec![(0, 0, 0), (80, 120, 4)]),
        ]
        .into_iter()
        .collect();
        let records: HashMap<TxnId, Vec<(Part, i64)>> = [
            // Visible in (90, 100] and (80, 120]: maybe at once.
            ((1, 0), vec![((0, 0), 2), ((0, 2), 1)]),
            // (290, 300] and (440, 450]: in parts for at least 140 ms.
            ((1, 1), vec![((0, 0), 6), ((0, 1), 2)]),
        ]
        .into_iter()
        .collect();
        let seen = when_visible(&history, &records);
        let spread = |id: TxnId| seen[&id].last_ms.saturating_sub(seen[&id].first_ms);
        assert_eq!(spread((1, 0)), 0, "{:?}", seen[&(1, 0)]);
        assert_eq!(spread((1, 1)), 140, "{:?}", seen[&(1, 1)]);
        assert_eq!(seen[&(1, 1)].records, 2);
    }

    #[test]
    fn partial_and_spread_transactions_are_torn_the_others_not() {
        let source: HashMap<TxnId, u64> = [((1, 0), 10), ((1, 1), 10), ((1, 2), 10), ((1, 3), 4)]
            .into_iter()
            .collect();
        let s = |records, first_ms, last_ms| Seen {
            records,
            first_ms,
            last_ms,
        };
        let seen: HashMap<TxnId, Seen> = [
            ((1, 0), s(10, 1000, 1000)), // at once
            ((1, 1), s(10, 2000, 2400)), // over 400 ms
            ((1, 2), s(6, 3000, 3000)),  // in parts at the end
            ((1, 3), s(4, 4000, 4000)),  // the last, short one, at once
        ]
        .into_iter()
        .collect();
        let t = judge(&seen, &source, verdict::TransactionPromise::Atomic);
        assert_eq!((t.transactions, t.torn, t.torn_at_end), (4, 2, 1), "{t:?}");
        assert_eq!(t.max_torn_ms, 400);
        assert_eq!(t.examples.len(), 2);
        // A transaction the target never got is the checker's (lost), not torn.
        let none = judge(
            &HashMap::new(),
            &source,
            verdict::TransactionPromise::Observe,
        );
        assert_eq!((none.transactions, none.torn), (0, 0));
    }
}
