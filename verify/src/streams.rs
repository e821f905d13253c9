//! Reading one partition in offset order, and the end offsets of many partitions at once.
//!
//! Each partition a worker reads has its own librdkafka queue (`rd_kafka_queue_get_partition`),
//! split off before the partition is assigned (`incremental_assign`), so a worker can assign
//! the next partitions of its chunk while it reads the current one: their first fetches leave
//! together and their records wait in their own queues. A per-partition assignment, one after
//! the other, cost a fetch round trip and a pass of librdkafka's fetcher over every partition
//! the client knows (`rd_kafka_toppar_fetch_decide`) per partition: at 3,000 partitions most of
//! a verification's CPU went there.
//!
//! The source is read in its `read_committed` view. The `read_uncommitted` view, which shows
//! the records of aborted transactions, is opened only at the first gap in the committed
//! offsets (a transaction marker, an aborted record, a compacted-away record): a partition
//! without transactions is read once, not twice (see [`SourceStream`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sha2::{Digest, Sha256};

use crate::error::VerifyError;
use crate::fingerprint::{fingerprint, identity, message_headers, FingerprintOptions, RecordView};
use crate::schemas::{SchemaCheck, Side};

/// Readers stop at end-of-partition events; they are not errors to log.
pub(crate) type QuietConsumer = BaseConsumer<QuietEof>;

/// How many kilobytes a reading consumer prefetches in all (per partition: this divided by
/// the partitions it has assigned at once).
pub(crate) const PREFETCH_KBYTES: usize = 65536;

/// A consumer that reads explicitly assigned partitions, `isolation` `read_committed` or
/// `read_uncommitted`, prefetching at most `partition_kbytes` per partition.
pub(crate) fn consumer(
    props: &ClientProps,
    isolation: &str,
    cluster: &str,
    partition_kbytes: usize,
) -> Result<QuietConsumer, VerifyError> {
    let mut config = props.reader("cutover-verify")?;
    config
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation)
        .set("fetch.max.bytes", "52428800")
        // A partition read on its own (a chunk of one) would otherwise come back 1 MiB per
        // fetch request, and each request costs the broker its fixed handling: an eighth of
        // its prefetch per request, 1–8 MiB.
        .set(
            "max.partition.fetch.bytes",
            (partition_kbytes * 1024 / 8)
                .clamp(1 << 20, 8 << 20)
                .to_string(),
        )
        // Per partition once its queue is split off (librdkafka's CONFIGURATION.md).
        .set(
            "queued.max.messages.kbytes",
            partition_kbytes.max(1024).to_string(),
        )
        // A partition whose queue is full is fetched again this soon once drained (librdkafka
        // waits 1 s by default: with a chunk's smaller per-partition queues, a 12-partition
        // read of 2 GB took 35 s instead of 5).
        .set("fetch.queue.backoff.ms", "10")
        // Reads are bounded: an empty fetch at the end should come back at once (the default
        // 500 ms wait, three streams per partition, made many small partitions slow).
        .set("fetch.wait.max.ms", "10");
    config
        .create_with_context(QuietEof)
        .map_err(|e| VerifyError::Kafka {
            cluster: cluster.into(),
            detail: format!("creating a consumer: {e}"),
        })
}

/// One fingerprinted record.
pub(crate) struct Seen {
    pub(crate) offset: i64,
    pub(crate) fp: [u8; 32],
    pub(crate) ident: u64,
    pub(crate) bytes: u64,
    /// (key digest, value present) for compacted topics.
    pub(crate) key: Option<([u8; 16], bool)>,
}

/// One partition read in offset order between two bounds, from its own queue. Dropping it
/// unassigns the partition.
pub(crate) struct Stream {
    consumer: Arc<QuietConsumer>,
    queue: Option<PartitionQueue<QuietEof>>,
    topic: String,
    partition: i32,
    start: i64,
    end: i64,
    done: bool,
    idle: Duration,
    cluster: &'static str,
    label: String,
    /// Fingerprint the records (false: only their offsets are wanted).
    pub(crate) hash: bool,
    /// Schema registries: values fingerprinted by schema content.
    pub(crate) schema: Option<(Arc<SchemaCheck>, Side)>,
}

impl Stream {
    /// Assigns `topic`-`p` from `start` (nothing when `start >= end`: a partition this side
    /// does not have, or nothing to read); its first fetch leaves at once.
    pub(crate) fn open(
        consumer: &Arc<QuietConsumer>,
        topic: &str,
        p: i32,
        start: i64,
        end: i64,
        idle: Duration,
        cluster: &'static str,
    ) -> Result<Stream, VerifyError> {
        let label = format!("{topic}-{p}");
        let mut stream = Stream {
            consumer: consumer.clone(),
            queue: None,
            topic: topic.to_string(),
            partition: p,
            start,
            end,
            done: true,
            idle,
            cluster,
            label,
            hash: true,
            schema: None,
        };
        if start >= end {
            return Ok(stream);
        }
        // Split before assigning: librdkafka then never forwards this partition's records to
        // the consumer's own queue (an application-set forward is kept at fetch start).
        let queue = consumer
            .split_partition_queue(topic, p)
            .ok_or_else(|| VerifyError::Kafka {
                cluster: cluster.into(),
                detail: format!("no queue for {}", stream.label),
            })?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(start))
            .map_err(|e| VerifyError::Kafka {
                cluster: cluster.into(),
                detail: e.to_string(),
            })?;
        consumer
            .incremental_assign(&tpl)
            .map_err(|e| VerifyError::Kafka {
                cluster: cluster.into(),
                detail: format!("assigning {}: {e}", stream.label),
            })?;
        stream.queue = Some(queue);
        stream.done = false;
        Ok(stream)
    }

    /// The first offset read.
    pub(crate) fn start(&self) -> i64 {
        self.start
    }

    /// The offset the read stops before.
    pub(crate) fn end(&self) -> i64 {
        self.end
    }

    /// The next record below the end bound, or None at the end.
    pub(crate) fn next(
        &mut self,
        fp_opts: &FingerprintOptions,
        keys: bool,
    ) -> Result<Option<Seen>, VerifyError> {
        let mut idle_since: Option<Instant> = None;
        while !self.done {
            let Some(queue) = self.queue.as_ref() else {
                self.done = true;
                break;
            };
            // Records usually wait in the queue: asked without a timeout first, librdkafka
            // skips a clock read per record (`rd_timeout_init`), about 3 % of a 12-partition
            // verification's CPU; the 200 ms wait only when the queue is empty.
            let polled = match queue.poll(Duration::ZERO) {
                None => queue.poll(Duration::from_millis(200)),
                some => some,
            };
            match polled {
                Some(Ok(m)) => {
                    if m.offset() >= self.end {
                        self.done = true;
                        break;
                    }
                    if m.offset() + 1 >= self.end {
                        self.done = true;
                    }
                    let headers = message_headers(&m);
                    let by_schema = match &self.schema {
                        Some((check, side)) => check.value_identity(
                            side,
                            m.partition(),
                            m.offset(),
                            identity(&headers),
                            m.payload(),
                        )?,
                        None => None,
                    };
                    let bytes = m.key().map_or(0, <[u8]>::len)
                        + m.payload().map_or(0, <[u8]>::len)
                        + headers
                            .iter()
                            .map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len))
                            .sum::<usize>();
                    let (fp, key) = if self.hash {
                        let view = RecordView {
                            value: by_schema.as_deref().or(m.payload()),
                            ..RecordView::from_message(&m, &headers)
                        };
                        let key = keys.then(|| {
                            let digest = Sha256::digest(m.key().unwrap_or_default());
                            let mut k = [0u8; 16];
                            k.copy_from_slice(&digest[..16]);
                            (k, m.payload().is_some())
                        });
                        (fingerprint(&view, fp_opts), key)
                    } else {
                        ([0u8; 32], None)
                    };
                    return Ok(Some(Seen {
                        offset: m.offset(),
                        fp,
                        ident: identity(&headers),
                        bytes: bytes as u64,
                        key,
                    }));
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    // The end of the log (or, read_committed, the last stable offset): the
                    // records up to the bound that were not delivered are aborted or control.
                    self.done = true;
                }
                // Lost connections and leader moves: librdkafka recovers; the idle timeout bounds it.
                Some(Err(e)) if is_transient(&e) => {
                    tracing::debug!(partition = %self.label, error = %e, "transient consumer error");
                    self.no_progress(&mut idle_since, Some(&e))?;
                }
                Some(Err(e)) => {
                    return Err(VerifyError::Kafka {
                        cluster: self.cluster.into(),
                        detail: format!("reading {}: {e}", self.label),
                    })
                }
                None => {
                    // The consumer's own queue carries client-wide events (errors, token
                    // refreshes): serve it while this partition waits.
                    if let Some(Err(e)) = self.consumer.poll(Duration::ZERO) {
                        tracing::debug!(partition = %self.label, error = %e, "consumer event");
                    }
                    self.no_progress(&mut idle_since, None)?;
                }
            }
        }
        Ok(None)
    }

    /// Fails once this stream has gone `idle` without a record.
    fn no_progress(
        &self,
        since: &mut Option<Instant>,
        error: Option<&KafkaError>,
    ) -> Result<(), VerifyError> {
        let since = *since.get_or_insert_with(Instant::now);
        if since.elapsed() <= self.idle {
            return Ok(());
        }
        let detail = match error {
            Some(e) => format!("reading {}: {e} for {} s", self.label, self.idle.as_secs()),
            None => format!(
                "reading {} made no progress for {} s (bound {})",
                self.label,
                self.idle.as_secs(),
                self.end
            ),
        };
        Err(VerifyError::Kafka {
            cluster: self.cluster.into(),
            detail,
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.queue.is_none() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, self.partition);
        if let Err(e) = self.consumer.incremental_unassign(&tpl) {
            tracing::debug!(partition = %self.label, error = %e, "unassigning");
        }
        self.queue = None;
    }
}

fn is_transient(e: &KafkaError) -> bool {
    harness::kafka_error::ErrorClass::of(e).is_retriable()
}

/// A source partition in offset order: its committed records, and the records of aborted
/// transactions (`committed == false`), never a transaction marker.
///
/// The committed view is read alone while its offsets follow each other. At the first gap
/// (or when it ends short of the bound), the uncommitted view is assigned from the gap on and
/// leads from then, the committed view only saying which of its records were committed.
pub(crate) struct SourceStream {
    committed: Stream,
    uncommitted: Option<Stream>,
    /// The committed view's next record, once the uncommitted view leads.
    next_committed: Option<Seen>,
    primed: bool,
    /// The next offset not yet given.
    next: i64,
    opener: Opener,
}

/// How the uncommitted view is opened at a gap.
pub(crate) struct Opener {
    pub(crate) consumer: Arc<QuietConsumer>,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) idle: Duration,
    pub(crate) schema: Option<(Arc<SchemaCheck>, Side)>,
}

impl Opener {
    fn open(&self, from: i64, end: i64) -> Result<Stream, VerifyError> {
        let mut s = Stream::open(
            &self.consumer,
            &self.topic,
            self.partition,
            from,
            end,
            self.idle,
            "source",
        )?;
        s.schema = self.schema.clone();
        Ok(s)
    }
}

impl SourceStream {
    /// Reads the committed view's bounds: that view alone until a gap (`eager`: both views
    /// from the start, for a topic known to hold transactions or compacted).
    pub(crate) fn new(
        committed: Stream,
        opener: Opener,
        eager: bool,
    ) -> Result<SourceStream, VerifyError> {
        let (start, end) = (committed.start(), committed.end());
        let mut s = SourceStream {
            committed,
            uncommitted: None,
            next_committed: None,
            primed: false,
            next: start,
            opener,
        };
        if eager && start < end {
            s.lead_uncommitted(None)?;
            s.primed = false;
        }
        Ok(s)
    }

    /// The first offset read.
    pub(crate) fn start(&self) -> i64 {
        self.committed.start()
    }

    /// The offset the read stops before.
    pub(crate) fn end(&self) -> i64 {
        self.committed.end()
    }

    /// Whether the uncommitted view had to be read.
    pub(crate) fn read_uncommitted(&self) -> bool {
        self.uncommitted.is_some()
    }

    fn lead_uncommitted(&mut self, next_committed: Option<Seen>) -> Result<(), VerifyError> {
        self.uncommitted = Some(self.opener.open(self.next, self.end())?);
        self.committed.hash = false;
        self.next_committed = next_committed;
        self.primed = true;
        Ok(())
    }

    /// The next source record and whether it was committed; None at the end.
    pub(crate) fn next(
        &mut self,
        fp_opts: &FingerprintOptions,
        keys: bool,
    ) -> Result<Option<(Seen, bool)>, VerifyError> {
        loop {
            if let Some(u) = self.uncommitted.as_mut() {
                if !self.primed {
                    self.next_committed = self.committed.next(fp_opts, keys)?;
                    self.primed = true;
                }
                let Some(r) = u.next(fp_opts, keys)? else {
                    return Ok(None);
                };
                self.next = r.offset + 1;
                while self
                    .next_committed
                    .as_ref()
                    .is_some_and(|c| c.offset < r.offset)
                {
                    self.next_committed = self.committed.next(fp_opts, keys)?;
                }
                let committed = self
                    .next_committed
                    .as_ref()
                    .is_some_and(|c| c.offset == r.offset);
                if committed {
                    self.next_committed = self.committed.next(fp_opts, keys)?;
                }
                return Ok(Some((r, committed)));
            }
            match self.committed.next(fp_opts, keys)? {
                Some(c) if c.offset == self.next => {
                    self.next = c.offset + 1;
                    return Ok(Some((c, true)));
                }
                None if self.next >= self.end() => return Ok(None),
                // A gap before this record, or the committed view ended short of the bound:
                // what is missing is aborted records or markers, which only the uncommitted
                // view tells apart.
                after_gap => self.lead_uncommitted(after_gap)?,
            }
        }
    }
}

/// The offset `at` (`Offset::Beginning`, `Offset::End`: per the client's isolation level,
/// the last stable offset for `read_committed`; `Offset::Offset(ms)`: the first at or after
/// that time) of each of `parts`, in one ListOffsets request per broker. None where a time
/// has no record at or after it.
pub(crate) fn list_offsets(
    consumer: &QuietConsumer,
    cluster: &str,
    parts: &[(&str, i32)],
    at: Offset,
) -> Result<Vec<Option<i64>>, VerifyError> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let fail = |detail: String| VerifyError::Kafka {
        cluster: cluster.to_string(),
        detail,
    };
    let mut tpl = TopicPartitionList::with_capacity(parts.len());
    for (t, p) in parts {
        tpl.add_partition_offset(t, *p, at)
            .map_err(|e| fail(e.to_string()))?;
    }
    let timeout = Duration::from_secs(10 + parts.len() as u64 / 100);
    let answer = consumer
        .offsets_for_times(tpl, timeout)
        .map_err(|e| fail(format!("offsets of {} partitions: {e}", parts.len())))?;
    let mut found = std::collections::HashMap::with_capacity(parts.len());
    for e in answer.elements() {
        if let Err(err) = e.error() {
            return Err(fail(format!(
                "offsets of {}-{}: {err}",
                e.topic(),
                e.partition()
            )));
        }
        let offset = match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        found.insert((e.topic().to_string(), e.partition()), offset);
    }
    parts
        .iter()
        .map(|(t, p)| {
            let offset = found
                .get(&(t.to_string(), *p))
                .copied()
                .ok_or_else(|| fail(format!("no offset for {t}-{p}")))?;
            match (at, offset) {
                (Offset::Beginning | Offset::End, None) => {
                    Err(fail(format!("no offset for {t}-{p}")))
                }
                _ => Ok(offset),
            }
        })
        .collect()
}
