//! One source partition's writer: a thread with its own target producer.
//!
//! Exactly-once: the producer's `transactional.id` is derived from the source partition, so the
//! partition's next owner fences this one by initialising the same id. A transaction holds a
//! batch of records and the partition's checkpoint (next source offset); records and position
//! commit together or not at all. An abortable error aborts and rewinds the consumer to the
//! last committed position; a fencing error ends the worker (a newer owner took over).
//!
//! At-least-once: an idempotent producer; after a batch is delivered the position is handed to
//! the poll loop, which commits it to the source group.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};

use crate::checkpoint::{self, Checkpoint, OffsetSync};
use crate::config::{Mode, ReplicatorConfig};
use crate::metrics::Metrics;

/// A record routed to a worker, tagged with the generation it was polled in: after a rewind
/// the worker drops records of older generations.
pub struct Routed {
    pub generation: u64,
    pub message: OwnedMessage,
}

/// What a worker asks of the poll loop (which owns the consumer).
pub enum Request {
    /// Seek the source partition to `offset`; reply with the new generation.
    Rewind {
        topic: String,
        partition: i32,
        offset: i64,
        reply: Sender<u64>,
    },
    /// At-least-once: commit `offset` (next to read) to the source group.
    CommitOffset {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Asked to finish; `position` is the next source offset safe on the target.
    Finished { position: Option<i64> },
    /// A newer owner fenced this writer, or the producer failed fatally.
    Stopped { reason: String, fenced: bool },
}

/// Delivery reports: the first (source offset, target offset) delivered in the open
/// transaction (an offset sync's pair), and failures.
#[derive(Default)]
pub struct Deliveries {
    first: Mutex<Option<(i64, i64)>>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, source_offset: usize) {
        match result {
            // Checkpoints and offset syncs (usize::MAX) are not copies of a source record: an
            // offset sync pairs a source offset with the target offset of its copy only.
            Ok(_) if source_offset == usize::MAX => {}
            Ok(m) => {
                if let Ok(mut first) = self.first.lock() {
                    first.get_or_insert((source_offset as i64, m.offset()));
                }
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| {
                        format!("record from source offset {source_offset}: {e}")
                    });
                }
            }
        }
    }
}

/// The producer settings both modes share, from the `[target]` properties and the tuning.
pub fn producer_config(config: &ReplicatorConfig) -> crate::Result<ClientConfig> {
    let mut c = config.target.to_rdkafka()?;
    let t = &config.tuning;
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", t.linger_ms.to_string())
        .set("batch.size", t.batch_size.to_string())
        .set("compression.type", &t.compression)
        .set(
            "max.in.flight.requests.per.connection",
            t.max_in_flight.to_string(),
        )
        .set(
            "transaction.timeout.ms",
            t.transaction_timeout_ms.to_string(),
        )
        .set("message.timeout.ms", t.transaction_timeout_ms.to_string());
    t.apply_socket_buffers(&mut c);
    Ok(c)
}

/// A running worker as the poll loop sees it.
pub struct Handle {
    pub records: std::sync::mpsc::SyncSender<Routed>,
    pub generation: u64,
    pub finish: Arc<AtomicBool>,
    pub done: Receiver<Ended>,
    pub start: Sender<i64>,
}

/// Starts a worker thread. It creates its producer (exactly-once: and initialises its
/// transactions, fencing the partition's previous writer), reports on `ready`, then waits for
/// its start position (-1: take the first record polled).
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    config: Arc<ReplicatorConfig>,
    producer: ClientConfig,
    metrics: Arc<Metrics>,
    requests: Sender<Request>,
    topic: String,
    partition: i32,
    ready: Sender<(String, i32, Result<(), String>)>,
) -> std::io::Result<Handle> {
    let (records_tx, records_rx) =
        std::sync::mpsc::sync_channel(config.tuning.partition_queue_records);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (start_tx, start_rx) = std::sync::mpsc::channel();
    let finish = Arc::new(AtomicBool::new(false));
    let flag = finish.clone();
    std::thread::Builder::new()
        .name(format!("copy-{topic}-{partition}"))
        .spawn(move || {
            let txn_id = config.transactional_id(&topic, partition);
            let built = build(&config, producer, &txn_id);
            let mut worker = match built {
                Ok(p) => {
                    let _ = ready.send((topic.clone(), partition, Ok(())));
                    Worker {
                        target_topic: config.rename.target_of(&topic),
                        config,
                        metrics,
                        requests,
                        records: records_rx,
                        finish: flag,
                        producer: p,
                        txn_id,
                        topic,
                        partition,
                        generation: 0,
                        next: -1,
                        committed: None,
                        open: false,
                        idle: false,
                        batch_records: 0,
                        batch_bytes: 0,
                        batch_started: Instant::now(),
                        synced_at: None,
                    }
                }
                Err(e) => {
                    let _ = ready.send((topic.clone(), partition, Err(e.clone())));
                    let _ = done_tx.send(Ended::Stopped {
                        reason: e,
                        fenced: false,
                    });
                    return;
                }
            };
            let Ok(start) = start_rx.recv() else {
                let _ = done_tx.send(Ended::Finished { position: None });
                return;
            };
            worker.next = start;
            if start >= 0 {
                worker.committed = Some(start);
            }
            let ended = worker.run();
            let _ = done_tx.send(ended);
        })?;
    Ok(Handle {
        records: records_tx,
        generation: 0,
        finish,
        done: done_rx,
        start: start_tx,
    })
}

fn build(
    config: &ReplicatorConfig,
    mut producer: ClientConfig,
    txn_id: &str,
) -> Result<BaseProducer<Deliveries>, String> {
    if config.mode == Mode::ExactlyOnce {
        producer.set("transactional.id", txn_id);
    }
    let p: BaseProducer<Deliveries> = producer
        .create_with_context(Deliveries::default())
        .map_err(|e| format!("creating the target producer: {e}"))?;
    if config.mode == Mode::ExactlyOnce {
        p.init_transactions(Duration::from_millis(config.tuning.init_timeout_ms))
            .map_err(|e| format!("initialising transactions as {txn_id}: {e}"))?;
    }
    Ok(p)
}

struct Worker {
    config: Arc<ReplicatorConfig>,
    metrics: Arc<Metrics>,
    requests: Sender<Request>,
    records: Receiver<Routed>,
    finish: Arc<AtomicBool>,
    producer: BaseProducer<Deliveries>,
    txn_id: String,
    topic: String,
    target_topic: String,
    partition: i32,
    generation: u64,
    /// Next source offset expected (-1: any).
    next: i64,
    /// Next source offset safe on the target.
    committed: Option<i64>,
    open: bool,
    /// Nothing open, nothing queued (for the lag metric).
    idle: bool,
    batch_records: u64,
    batch_bytes: u64,
    batch_started: Instant,
    synced_at: Option<Instant>,
}

/// Why a batch could not be made safe.
enum Failure {
    /// Retry from the last committed position.
    Rewind(String),
    /// Stop: fenced or fatal.
    Stop { reason: String, fenced: bool },
}

impl Worker {
    fn eos(&self) -> bool {
        self.config.mode == Mode::ExactlyOnce
    }

    fn run(&mut self) -> Ended {
        let interval = Duration::from_millis(self.config.tuning.commit_interval_ms);
        loop {
            if self.finish.load(Ordering::Acquire) {
                return match self.flush_batch() {
                    Ok(()) => Ended::Finished {
                        position: self.committed,
                    },
                    Err(Failure::Stop { reason, fenced }) => Ended::Stopped { reason, fenced },
                    Err(Failure::Rewind(reason)) => {
                        tracing::warn!(topic = %self.topic, partition = self.partition, %reason, "last batch not committed on finish; the next owner copies it again from the checkpoint");
                        Ended::Finished {
                            position: self.committed,
                        }
                    }
                };
            }
            let wait = if self.batch_records > 0 {
                interval
                    .saturating_sub(self.batch_started.elapsed())
                    .min(Duration::from_millis(50))
            } else {
                Duration::from_millis(50)
            };
            match self.records.recv_timeout(wait) {
                Ok(routed) => {
                    if let Err(f) = self.take(routed) {
                        if let Some(ended) = self.recover(f) {
                            return ended;
                        }
                    }
                    // Drain what is already queued without waiting.
                    while self.batch_records < self.config.tuning.max_records_per_commit as u64 {
                        match self.records.try_recv() {
                            Ok(routed) => {
                                if let Err(f) = self.take(routed) {
                                    if let Some(ended) = self.recover(f) {
                                        return ended;
                                    }
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.batch_records == 0 && !self.idle {
                        self.idle = true;
                        self.metrics.idle(&self.topic, self.partition, true);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish.store(true, Ordering::Release);
                    continue;
                }
            }
            self.producer.poll(Duration::ZERO);
            let due = self.batch_records >= self.config.tuning.max_records_per_commit as u64
                || self.batch_bytes >= self.config.tuning.max_bytes_per_commit as u64
                || (self.batch_records > 0 && self.batch_started.elapsed() >= interval);
            if due {
                if let Err(f) = self.flush_batch() {
                    if let Some(ended) = self.recover(f) {
                        return ended;
                    }
                }
            }
        }
    }

    /// Handles a failed batch: rewinds (None) or ends the worker.
    fn recover(&mut self, failure: Failure) -> Option<Ended> {
        match failure {
            Failure::Stop { reason, fenced } => {
                if fenced {
                    self.metrics.fenced();
                    tracing::warn!(topic = %self.topic, partition = self.partition, transactional_id = %self.txn_id, %reason, "fenced: a newer owner of this partition took over; stopping its writer");
                } else {
                    self.metrics
                        .error(&format!("{}-{}: {reason}", self.topic, self.partition));
                    tracing::error!(topic = %self.topic, partition = self.partition, offset = self.next, %reason, "partition writer failed");
                }
                Some(Ended::Stopped { reason, fenced })
            }
            Failure::Rewind(reason) => {
                let reason = if self.open {
                    self.open = false;
                    match self.abort(reason) {
                        Failure::Rewind(reason) => reason,
                        stop => return self.recover(stop),
                    }
                } else {
                    reason
                };
                self.metrics.error(&format!(
                    "{}-{} at offset {}: {reason}",
                    self.topic, self.partition, self.next
                ));
                tracing::warn!(topic = %self.topic, partition = self.partition, offset = self.next, committed = ?self.committed, %reason, "batch aborted; copying again from the last committed position");
                match self.rewind() {
                    Ok(()) => None,
                    Err(reason) => Some(Ended::Stopped {
                        reason,
                        fenced: false,
                    }),
                }
            }
        }
    }

    /// Seeks the source back to the last committed position (via the poll loop).
    fn rewind(&mut self) -> Result<(), String> {
        self.batch_records = 0;
        self.batch_bytes = 0;
        let Some(offset) = self.committed else {
            return Err("no committed position to rewind to".into());
        };
        let (reply_tx, reply_rx) = std::sync::mpsc::channel();
        self.requests
            .send(Request::Rewind {
                topic: self.topic.clone(),
                partition: self.partition,
                offset,
                reply: reply_tx,
            })
            .map_err(|_| "the poll loop is gone".to_string())?;
        // The poll loop answers between polls; during a revocation it waits for this worker
        // instead, so give up as soon as the worker is asked to finish.
        let deadline = Instant::now() + Duration::from_secs(60);
        self.generation = loop {
            match reply_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(generation) => break generation,
                Err(RecvTimeoutError::Timeout)
                    if Instant::now() < deadline && !self.finish.load(Ordering::Acquire) => {}
                Err(_) => {
                    return Err("the partition was not rewound (released or finishing)".into())
                }
            }
        };
        self.next = offset;
        Ok(())
    }

    /// Adds one record to the open batch.
    fn take(&mut self, routed: Routed) -> Result<(), Failure> {
        let m = routed.message;
        if routed.generation != self.generation || (self.next >= 0 && m.offset() < self.next) {
            return Ok(());
        }
        // Schema registries: the value with the target registry's schema id (crate::schemas).
        let value = crate::schemas::value_for(&self.config, &self.topic, m.payload())
            .map_err(|e| schema_failure(e, m.offset()))?;
        if self.idle {
            self.idle = false;
            self.metrics.idle(&self.topic, self.partition, false);
        }
        if self.eos() && !self.open {
            self.producer
                .begin_transaction()
                .map_err(|e| classify(&self.producer, &e))?;
            self.open = true;
            if let Ok(mut first) = self.producer.context().first.lock() {
                *first = None;
            }
        }
        if self.batch_records == 0 {
            self.batch_started = Instant::now();
        }
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(&self.target_topic, m.offset() as usize)
                .partition(self.partition);
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        if let Some(v) = value.as_deref() {
            record = record.payload(v);
        }
        if let Some(h) = m.headers() {
            record = record.headers(h.clone());
        }
        match m.timestamp() {
            rdkafka::Timestamp::CreateTime(t) | rdkafka::Timestamp::LogAppendTime(t) => {
                record = record.timestamp(t);
            }
            rdkafka::Timestamp::NotAvailable => {}
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    self.producer.poll(Duration::from_millis(5));
                    record = r;
                }
                Err((e, _)) => {
                    return Err(with_offset(classify(&self.producer, &e), m.offset()));
                }
            }
        }
        self.batch_records += 1;
        self.batch_bytes +=
            (m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len)) as u64;
        self.next = m.offset() + 1;
        Ok(())
    }

    /// Makes the open batch safe: commits the transaction with its checkpoint (exactly-once),
    /// or waits for delivery and hands the position over (at-least-once).
    fn flush_batch(&mut self) -> Result<(), Failure> {
        if self.batch_records == 0 && !self.open {
            return Ok(());
        }
        let timeout = Duration::from_millis(self.config.tuning.transaction_timeout_ms);
        if self.eos() {
            self.write_positions()?;
            let mut attempts = 0;
            loop {
                match self.producer.commit_transaction(timeout) {
                    Ok(()) => break,
                    Err(e) => match classify(&self.producer, &e) {
                        Failure::Rewind(reason) if is_retriable(&e) && attempts < 3 => {
                            attempts += 1;
                            tracing::debug!(topic = %self.topic, partition = self.partition, %reason, "retrying commit");
                        }
                        Failure::Rewind(reason) => {
                            self.open = false;
                            return Err(self.abort(reason));
                        }
                        stop => return Err(stop),
                    },
                }
            }
            self.open = false;
            self.metrics.transaction(true);
        } else {
            if let Err(e) = self.producer.flush(timeout) {
                return Err(Failure::Rewind(format!("flushing: {e}")));
            }
            let failed = self.producer.context().failed.swap(0, Ordering::Relaxed);
            if failed > 0 {
                let first = self
                    .producer
                    .context()
                    .first_error
                    .lock()
                    .ok()
                    .and_then(|mut f| f.take());
                return Err(Failure::Rewind(format!(
                    "{failed} records not delivered ({})",
                    first.unwrap_or_default()
                )));
            }
            let _ = self.requests.send(Request::CommitOffset {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: self.next,
            });
        }
        self.committed = Some(self.next);
        self.metrics.copied(
            &self.topic,
            self.partition,
            self.batch_records,
            self.batch_bytes,
            self.next,
        );
        self.batch_records = 0;
        self.batch_bytes = 0;
        Ok(())
    }

    /// Adds the checkpoint (and, when due, an offset sync) to the open transaction.
    fn write_positions(&mut self) -> Result<(), Failure> {
        let key = checkpoint::key(&self.config.group_id, &self.topic, self.partition);
        let due = self.synced_at.is_none_or(|t| {
            t.elapsed() >= Duration::from_millis(self.config.tuning.offset_sync_interval_ms)
        });
        // The sync pairs the batch's first record with its copy, in the batch's own
        // transaction: any committed position is at or after a committed sync. Its target
        // offset is known once delivered, so a due sync waits for the batch's deliveries.
        let first = if due && self.batch_records > 0 {
            let timeout = Duration::from_millis(self.config.tuning.transaction_timeout_ms);
            if let Err(e) = self.producer.flush(timeout) {
                return Err(classify(&self.producer, &e));
            }
            self.producer.context().first.lock().ok().and_then(|f| *f)
        } else {
            None
        };
        if let Some((source_offset, target_offset)) = first {
            let value = serde_json::to_vec(&OffsetSync {
                source_offset,
                target_offset,
            })
            .unwrap_or_default();
            self.send_control(&self.config.offset_syncs_topic.clone(), &key, &value)?;
            self.synced_at = Some(Instant::now());
        }
        let value = serde_json::to_vec(&Checkpoint {
            next_offset: self.next,
            writer: self.txn_id.clone(),
            target_topic: self.target_topic.clone(),
            at_ms: checkpoint::now_ms(),
        })
        .unwrap_or_default();
        self.send_control(&self.config.checkpoint_topic.clone(), &key, &value)
    }

    fn send_control(&self, topic: &str, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        // usize::MAX marks a control record in delivery reports (not a copied record).
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(topic, usize::MAX)
                .key(key)
                .payload(value);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    self.producer.poll(Duration::from_millis(5));
                    record = r;
                }
                Err((e, _)) => return Err(classify(&self.producer, &e)),
            }
        }
    }

    fn abort(&mut self, reason: String) -> Failure {
        self.metrics.transaction(false);
        if let Ok(mut first) = self.producer.context().first.lock() {
            *first = None;
        }
        // A sync in the aborted transaction is gone with it: the next batch records one.
        self.synced_at = None;
        match self.producer.abort_transaction(Duration::from_millis(
            self.config.tuning.transaction_timeout_ms,
        )) {
            Ok(()) => Failure::Rewind(reason),
            Err(e) => match classify(&self.producer, &e) {
                Failure::Rewind(r) => Failure::Stop {
                    reason: format!("{reason}; abort failed: {r}"),
                    fenced: false,
                },
                stop => stop,
            },
        }
    }
}

fn is_retriable(e: &KafkaError) -> bool {
    matches!(e, KafkaError::Transaction(t) if t.is_retriable())
}

/// Fenced or fatal errors stop the worker; anything else aborts the batch and rewinds.
fn classify(producer: &BaseProducer<Deliveries>, e: &KafkaError) -> Failure {
    let fatal = producer.client().fatal_error();
    let fenced_code = |c: Option<RDKafkaErrorCode>| {
        matches!(
            c,
            Some(RDKafkaErrorCode::Fenced)
                | Some(RDKafkaErrorCode::ProducerFenced)
                | Some(RDKafkaErrorCode::InvalidProducerEpoch)
        )
    };
    if let Some((code, reason)) = fatal {
        return Failure::Stop {
            fenced: fenced_code(Some(code)),
            reason,
        };
    }
    match e {
        KafkaError::Transaction(t) if t.is_fatal() => Failure::Stop {
            fenced: fenced_code(Some(t.code())),
            reason: t.to_string(),
        },
        KafkaError::Transaction(t) if t.txn_requires_abort() || t.is_retriable() => {
            Failure::Rewind(t.to_string())
        }
        other if fenced_code(other.rdkafka_error_code()) => Failure::Stop {
            fenced: true,
            reason: other.to_string(),
        },
        other => Failure::Rewind(other.to_string()),
    }
}

/// A record whose schema id cannot be translated: retried while a registry is unreachable,
/// otherwise the partition stops (an untranslatable record is never copied).
fn schema_failure(e: crate::schemas::SchemaError, offset: i64) -> Failure {
    let reason = format!("offset {offset}: {e}");
    if e.is_transient() {
        Failure::Rewind(reason)
    } else {
        Failure::Stop {
            reason,
            fenced: false,
        }
    }
}

fn with_offset(f: Failure, offset: i64) -> Failure {
    match f {
        Failure::Rewind(r) => Failure::Rewind(format!("source offset {offset}: {r}")),
        Failure::Stop { reason, fenced } => Failure::Stop {
            reason: format!("source offset {offset}: {reason}"),
            fenced,
        },
    }
}
