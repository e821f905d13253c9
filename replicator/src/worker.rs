//! One producer slot's writer: a thread with one target producer that copies every source
//! partition of its slot.
//!
//! Exactly-once: the producer's `transactional.id` is the slot's (fixed for the slot, see
//! [`crate::config::ReplicatorConfig::transactional_id`]), so the slot's next owner fences this
//! writer by initialising the same id. A transaction holds records of any of the slot's
//! partitions and the checkpoint (next source offset) of each partition it touched; records and
//! positions commit together or not at all. Any error that is not fatal — a message timeout,
//! an error that requires an epoch bump, a failed commit — aborts the transaction (never a
//! commit after such an error) and rewinds the touched partitions to their last committed
//! positions through the poll loop; a fatal or fencing error, or an abort that fails, ends the
//! writer and the engine starts a new one for the slot (its `init_transactions` ends whatever
//! was open), which reads the checkpoints again.
//!
//! At-least-once: an idempotent producer; after a batch is delivered the positions are handed
//! to the poll loop, which commits them to the source group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
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

/// A source partition: (topic, partition).
pub type Tp = (String, i32);

/// A record routed to a writer, tagged with its partition's generation when it was polled:
/// after a rewind or an adoption the writer drops records of older generations.
pub struct Routed {
    pub generation: u64,
    pub message: OwnedMessage,
}

/// What the poll loop sends a writer, in order.
pub enum Input {
    /// Copy `tp` from `offset` on; records of `generation` only. `checkpoint`: the offset was
    /// resolved from the `start` policy (no checkpoint yet), so the next transaction records
    /// it even if no record comes — the partition's next owner then starts there too.
    Adopt {
        tp: Tp,
        offset: i64,
        generation: u64,
        checkpoint: bool,
    },
    Record(Routed),
}

/// What a writer asks of the poll loop (which owns the consumer).
pub enum Request {
    /// Seek each partition back to its offset; reply with each partition's new generation,
    /// or why a partition could not be rewound. `incarnation` names the writer asking: a
    /// request from a writer that has since been replaced changes nothing.
    Rewind {
        slot: u32,
        incarnation: u64,
        parts: Vec<(Tp, i64)>,
        reply: Sender<Result<Vec<(Tp, u64)>, String>>,
    },
    /// At-least-once: commit these positions (next to read) to the source group.
    CommitOffsets { parts: Vec<(Tp, i64)> },
}

/// How a writer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Asked to finish; each partition's next source offset safe on the target.
    Finished { positions: Vec<(Tp, i64)> },
    /// A newer owner fenced this writer, or its producer failed.
    Stopped { reason: String, fenced: bool },
}

/// Delivery reports: per target partition, the first (source offset, target offset) delivered
/// in the open transaction (an offset sync's pair), and failures.
/// Target topic → partition → (source offset, target offset) of the first delivered copy.
type FirstDelivered = HashMap<String, HashMap<i32, (i64, i64)>>;

#[derive(Default)]
pub struct Deliveries {
    first: Mutex<FirstDelivered>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    fn clear(&self) {
        if let Ok(mut f) = self.first.lock() {
            f.clear();
        }
    }

    fn first_of(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        self.first
            .lock()
            .ok()
            .and_then(|f| f.get(topic).and_then(|ps| ps.get(&partition)).copied())
    }
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
                    let parts = match first.get_mut(m.topic()) {
                        Some(p) => p,
                        None => first.entry(m.topic().to_string()).or_default(),
                    };
                    parts
                        .entry(m.partition())
                        .or_insert((source_offset as i64, m.offset()));
                }
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| {
                        format!(
                            "record from source offset {source_offset} to {}-{}: {e}",
                            m.topic(),
                            m.partition()
                        )
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

/// A running writer as the poll loop sees it.
pub struct Handle {
    pub input: SyncSender<Input>,
    pub finish: Arc<AtomicBool>,
    pub done: Receiver<Ended>,
    /// Unique per writer started by this instance.
    pub incarnation: u64,
}

/// How long a writer keeps refreshing the target topic's metadata when a record's partition is
/// beyond the partition count its producer knows (a topic grown since), before the batch
/// aborts.
const UNKNOWN_PARTITION_WAIT: Duration = Duration::from_secs(30);

/// After a failed batch, how long a writer must receive nothing before having nothing to copy
/// counts as progress again.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// When a slot's writer last showed progress: it made a batch safe, or it had nothing to make
/// safe. A writer blocked (a call that never returns), busy without copying (every record it
/// takes dropped), or replaced again and again (each failing on the same record) stops
/// updating it, and the engine ends the instance after `stalled_exit_secs` rather than stall
/// silently with lag.
#[derive(Debug)]
pub struct Liveness {
    epoch: Instant,
    at_ms: AtomicU64,
}

impl Liveness {
    pub fn new() -> Liveness {
        Liveness {
            epoch: Instant::now(),
            at_ms: AtomicU64::new(0),
        }
    }

    pub fn mark(&self) {
        self.at_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
    }

    /// Time since the last mark (or since the writer started).
    pub fn since(&self) -> Duration {
        let at = Duration::from_millis(self.at_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(at)
    }
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness::new()
    }
}

/// What a writer needs to start.
pub struct Spawn {
    pub config: Arc<ReplicatorConfig>,
    pub producer: ClientConfig,
    pub metrics: Arc<Metrics>,
    pub requests: Sender<Request>,
    pub source_id: String,
    pub slot: u32,
    pub incarnation: u64,
    /// The slot's liveness, marked by each of its writers in turn.
    pub alive: Arc<Liveness>,
    /// Told once the producer is ready (exactly-once: its transactions initialised, which
    /// fences the slot's previous writer and ends its open transaction).
    pub ready: Sender<(u32, u64, Result<(), String>)>,
}

/// Starts a writer thread.
pub fn spawn(s: Spawn) -> std::io::Result<Handle> {
    let (input_tx, input_rx) =
        std::sync::mpsc::sync_channel(s.config.tuning.partition_queue_records);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let finish = Arc::new(AtomicBool::new(false));
    let flag = finish.clone();
    let incarnation = s.incarnation;
    std::thread::Builder::new()
        .name(format!("slot-{}", s.slot))
        .spawn(move || {
            let txn_id = s.config.transactional_id(&s.source_id, s.slot);
            let initialising = Instant::now();
            let producer = match build(&s.config, s.producer, &txn_id) {
                Ok(p) => p,
                Err(e) => {
                    let _ = s.ready.send((s.slot, s.incarnation, Err(e.clone())));
                    let _ = done_tx.send(Ended::Stopped {
                        reason: e,
                        fenced: false,
                    });
                    return;
                }
            };
            // init_ms: exactly-once, mostly `init_transactions`: finding the coordinator, and
            // waiting while it aborts the previous owner's open transaction.
            tracing::info!(
                slot = s.slot,
                transactional_id = %txn_id,
                init_ms = initialising.elapsed().as_millis() as u64,
                "slot writer ready"
            );
            let _ = s.ready.send((s.slot, s.incarnation, Ok(())));
            let mut writer = Writer {
                eos: s.config.mode == Mode::ExactlyOnce,
                config: s.config,
                metrics: s.metrics,
                requests: s.requests,
                input: input_rx,
                finish: flag,
                producer,
                txn_id,
                source_id: s.source_id,
                slot: s.slot,
                incarnation: s.incarnation,
                alive: s.alive,
                failing: false,
                last_input: Instant::now(),
                parts: HashMap::new(),
                open: false,
                idle: false,
                batch_records: 0,
                batch_bytes: 0,
                batch_started: Instant::now(),
            };
            let ended = writer.run();
            // The producer is destroyed before the engine hears that the writer ended: the
            // engine may return and the process exit right after, and an exit while a
            // librdkafka client is being destroyed on another thread corrupted the heap
            // (`malloc_consolidate(): invalid chunk size`, SIGABRT after "stopped").
            drop(writer);
            let _ = done_tx.send(ended);
        })?;
    Ok(Handle {
        input: input_tx,
        finish,
        done: done_rx,
        incarnation,
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

/// One source partition as its writer sees it.
struct Part {
    target_topic: String,
    generation: u64,
    /// Next source offset expected.
    next: i64,
    /// Next source offset safe on the target.
    committed: i64,
    /// Records of the open batch (not yet safe).
    records: u64,
    bytes: u64,
    /// The position must be written in the next transaction even without records.
    checkpoint_due: bool,
    synced_at: Option<Instant>,
    idle: bool,
}

impl Part {
    fn touched(&self) -> bool {
        self.records > 0 || self.checkpoint_due
    }
}

struct Writer {
    eos: bool,
    config: Arc<ReplicatorConfig>,
    metrics: Arc<Metrics>,
    requests: Sender<Request>,
    input: Receiver<Input>,
    finish: Arc<AtomicBool>,
    producer: BaseProducer<Deliveries>,
    txn_id: String,
    source_id: String,
    slot: u32,
    incarnation: u64,
    alive: Arc<Liveness>,
    /// A batch was aborted and nothing has been made safe since: a quiet moment does not
    /// count as progress until [`QUIET_AFTER_FAILURE`] passes without input.
    failing: bool,
    last_input: Instant,
    parts: HashMap<Tp, Part>,
    /// A transaction is open on the producer.
    open: bool,
    /// Nothing open, nothing queued (for the lag metric).
    idle: bool,
    batch_records: u64,
    batch_bytes: u64,
    batch_started: Instant,
}

/// Why a batch could not be made safe.
#[derive(Debug)]
enum Failure {
    /// Abort the transaction and copy again from the last committed positions.
    Abort { reason: String, retriable: bool },
    /// Stop the writer: fenced, fatal, or the producer is in a state only a new one clears.
    Stop { reason: String, fenced: bool },
}

impl Writer {
    fn run(&mut self) -> Ended {
        let interval = Duration::from_millis(self.config.tuning.commit_interval_ms);
        loop {
            if self.finish.load(Ordering::Acquire) {
                return match self.flush_batch() {
                    Ok(()) => Ended::Finished {
                        positions: self.positions(),
                    },
                    Err(Failure::Stop { reason, fenced }) => {
                        self.report_stop(&reason, fenced);
                        Ended::Stopped { reason, fenced }
                    }
                    Err(Failure::Abort { reason, .. }) => {
                        if self.open {
                            self.open = false;
                            if let Err(Failure::Stop { reason, fenced }) = self.abort(&reason) {
                                self.report_stop(&reason, fenced);
                                return Ended::Stopped { reason, fenced };
                            }
                        }
                        tracing::warn!(slot = self.slot, %reason, "last batch not committed on finish; the next owner copies it again from the checkpoints");
                        Ended::Finished {
                            positions: self.positions(),
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
            let mut result = Ok(());
            match self.input.recv_timeout(wait) {
                Ok(input) => {
                    self.last_input = Instant::now();
                    result = self.handle(input);
                    // Drain what is already queued without waiting.
                    while result.is_ok()
                        && self.batch_records < self.config.tuning.max_records_per_commit as u64
                    {
                        match self.input.try_recv() {
                            Ok(input) => result = self.handle(input),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Every quiet partition is idle, those adopted after the writer went idle
                    // too (a rebalance hands over partitions with their last records copied).
                    if self.batch_records == 0 {
                        // Nothing to make safe is progress, unless a batch just failed and
                        // its records are on their way again (a record that can never be
                        // copied fails every batch, with quiet moments in between).
                        if !self.failing || self.last_input.elapsed() >= QUIET_AFTER_FAILURE {
                            self.alive.mark();
                        }
                        self.idle = true;
                        for ((t, p), part) in &mut self.parts {
                            if !part.idle && part.records == 0 {
                                part.idle = true;
                                self.metrics.idle(t, *p, true);
                            }
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish.store(true, Ordering::Release);
                    continue;
                }
            }
            if result.is_ok() {
                self.producer.poll(Duration::ZERO);
                let checkpoints_due = self.parts.values().any(|p| p.checkpoint_due);
                let due = self.batch_records >= self.config.tuning.max_records_per_commit as u64
                    || self.batch_bytes >= self.config.tuning.max_bytes_per_commit as u64
                    || ((self.batch_records > 0 || checkpoints_due)
                        && self.batch_started.elapsed() >= interval)
                    || (checkpoints_due && self.batch_records == 0);
                if due {
                    result = self.flush_batch();
                    if result.is_ok() {
                        self.failing = false;
                        self.alive.mark();
                    }
                }
            }
            if let Err(f) = result {
                if let Some(ended) = self.recover(f) {
                    return ended;
                }
            }
        }
    }

    fn positions(&self) -> Vec<(Tp, i64)> {
        self.parts
            .iter()
            .map(|(tp, p)| (tp.clone(), p.committed))
            .collect()
    }

    fn handle(&mut self, input: Input) -> Result<(), Failure> {
        match input {
            Input::Adopt {
                tp,
                offset,
                generation,
                checkpoint,
            } => {
                let target_topic = self.config.rename.target_of(&tp.0);
                self.parts.insert(
                    tp,
                    Part {
                        target_topic,
                        generation,
                        next: offset,
                        committed: offset,
                        records: 0,
                        bytes: 0,
                        checkpoint_due: checkpoint && self.eos,
                        synced_at: None,
                        idle: false,
                    },
                );
                Ok(())
            }
            Input::Record(routed) => self.take(routed),
        }
    }

    fn report_stop(&self, reason: &str, fenced: bool) {
        if fenced {
            self.metrics.fenced();
            tracing::warn!(slot = self.slot, transactional_id = %self.txn_id, %reason, "writer fenced: another instance initialised this slot's transactional id; stopping it");
        } else {
            self.metrics.error(&format!("slot {}: {reason}", self.slot));
            // INVALID_TXN_STATE on EndTxn: the coordinator never saw the transaction (librdkafka
            // counts an AddPartitionsToTxn lost in a network fault as received) and librdkafka
            // makes it fatal. Nothing was committed; the new producer copies it again.
            let hint = if reason.contains("invalid state") {
                "the transaction coordinator did not know this transaction (a request lost in a network fault); nothing of it was committed"
            } else {
                ""
            };
            tracing::error!(slot = self.slot, %reason, hint, "slot writer failed; the slot is started again with a new producer and copies from its checkpoints");
        }
    }

    /// Handles a failed batch: aborts and rewinds (None), or ends the writer.
    fn recover(&mut self, failure: Failure) -> Option<Ended> {
        let reason = match failure {
            Failure::Stop { reason, fenced } => {
                self.report_stop(&reason, fenced);
                return Some(Ended::Stopped { reason, fenced });
            }
            Failure::Abort { reason, .. } => reason,
        };
        if self.open {
            self.open = false;
            if let Err(Failure::Stop {
                reason: stop,
                fenced,
            }) = self.abort(&reason)
            {
                self.report_stop(&stop, fenced);
                return Some(Ended::Stopped {
                    reason: stop,
                    fenced,
                });
            }
        }
        self.metrics.error(&format!("slot {}: {reason}", self.slot));
        let touched: Vec<(Tp, i64)> = self
            .parts
            .iter()
            .filter(|(_, p)| p.next != p.committed || p.records > 0)
            .map(|(tp, p)| (tp.clone(), p.committed))
            .collect();
        self.failing = true;
        tracing::warn!(slot = self.slot, partitions = touched.len(), %reason, "batch aborted; copying again from the last committed positions");
        match self.rewind(touched) {
            Ok(()) => None,
            Err(reason) => {
                let reason = format!("rewind failed: {reason}");
                self.report_stop(&reason, false);
                Some(Ended::Stopped {
                    reason,
                    fenced: false,
                })
            }
        }
    }

    /// Seeks the source partitions back (via the poll loop) and takes their new generations.
    fn rewind(&mut self, parts: Vec<(Tp, i64)>) -> Result<(), String> {
        self.batch_records = 0;
        self.batch_bytes = 0;
        for p in self.parts.values_mut() {
            p.records = 0;
            p.bytes = 0;
        }
        if parts.is_empty() {
            return Ok(());
        }
        let (reply_tx, reply_rx) = std::sync::mpsc::channel();
        self.requests
            .send(Request::Rewind {
                slot: self.slot,
                incarnation: self.incarnation,
                parts: parts.clone(),
                reply: reply_tx,
            })
            .map_err(|_| "the poll loop is gone".to_string())?;
        // The poll loop answers between polls; while it finishes this writer (a revocation) it
        // does not, so give up as soon as the writer is asked to finish.
        let deadline = Instant::now() + Duration::from_secs(60);
        let generations = loop {
            match reply_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(answer) => break answer?,
                Err(RecvTimeoutError::Timeout)
                    if Instant::now() < deadline && !self.finish.load(Ordering::Acquire) => {}
                Err(_) => {
                    return Err("the partitions were not rewound (released or finishing)".into())
                }
            }
        };
        let offsets: HashMap<Tp, i64> = parts.into_iter().collect();
        for (tp, generation) in generations {
            if let (Some(part), Some(offset)) = (self.parts.get_mut(&tp), offsets.get(&tp)) {
                part.generation = generation;
                part.next = *offset;
            }
        }
        Ok(())
    }

    /// Adds one record to the open batch.
    fn take(&mut self, routed: Routed) -> Result<(), Failure> {
        let m = routed.message;
        let tp_key = (m.topic().to_string(), m.partition());
        let Some(part) = self.parts.get_mut(&tp_key) else {
            return Ok(());
        };
        if routed.generation != part.generation || m.offset() < part.next {
            return Ok(());
        }
        // Schema registries: the value with the target registry's schema id (crate::schemas).
        let value = crate::schemas::value_for(&self.config, &tp_key.0, m.payload())
            .map_err(|e| schema_failure(e, m.offset()))?;
        if part.idle {
            part.idle = false;
            self.metrics.idle(&tp_key.0, tp_key.1, false);
        }
        self.idle = false;
        if self.eos && !self.open {
            if let Err(e) = self.producer.begin_transaction() {
                // A producer that cannot begin is in a state only a new one clears.
                return Err(match classify(&self.producer, &e) {
                    stop @ Failure::Stop { .. } => stop,
                    Failure::Abort { reason, .. } => Failure::Stop {
                        reason: format!("beginning a transaction: {reason}"),
                        fenced: false,
                    },
                });
            }
            self.open = true;
            self.producer.context().clear();
        }
        if self.batch_records == 0 {
            self.batch_started = Instant::now();
        }
        let part = match self.parts.get_mut(&tp_key) {
            Some(p) => p,
            None => return Ok(()),
        };
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(&part.target_topic, m.offset() as usize).partition(tp_key.1);
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
        let mut unknown_since: Option<Instant> = None;
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    self.producer.poll(Duration::from_millis(5));
                    record = r;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition), r))
                    if unknown_since.get_or_insert_with(Instant::now).elapsed()
                        < UNKNOWN_PARTITION_WAIT =>
                {
                    // A partition added to the source (and so to the target topic, by
                    // `topics`) after this producer cached the target's metadata: librdkafka
                    // refuses a partition beyond its cached count until the next refresh
                    // (`topic.metadata.refresh.interval.ms`, 5 minutes). Asking for the topic's
                    // metadata updates the cache; then the record goes out.
                    let _ = self
                        .producer
                        .client()
                        .fetch_metadata(Some(&part.target_topic), Duration::from_secs(5));
                    self.producer.poll(Duration::from_millis(100));
                    record = r;
                }
                Err((e, _)) => {
                    return Err(match classify(&self.producer, &e) {
                        Failure::Abort { reason, retriable } => Failure::Abort {
                            reason: format!(
                                "{}-{} offset {}: {reason}",
                                tp_key.0,
                                tp_key.1,
                                m.offset()
                            ),
                            retriable,
                        },
                        stop => stop,
                    });
                }
            }
        }
        let bytes =
            (m.key().map_or(0, <[u8]>::len) + value.as_deref().map_or(0, <[u8]>::len)) as u64;
        part.records += 1;
        part.bytes += bytes;
        part.next = m.offset() + 1;
        self.batch_records += 1;
        self.batch_bytes += bytes;
        Ok(())
    }

    /// Makes the open batch safe: commits the transaction with the checkpoints (exactly-once),
    /// or waits for delivery and hands the positions over (at-least-once).
    fn flush_batch(&mut self) -> Result<(), Failure> {
        let touched = self.parts.values().any(Part::touched);
        if !touched && !self.open {
            return Ok(());
        }
        let timeout = Duration::from_millis(self.config.tuning.transaction_timeout_ms);
        if self.eos {
            if !self.open {
                self.producer.begin_transaction().map_err(|e| {
                    match classify(&self.producer, &e) {
                        stop @ Failure::Stop { .. } => stop,
                        Failure::Abort { reason, .. } => Failure::Stop {
                            reason: format!("beginning a transaction: {reason}"),
                            fenced: false,
                        },
                    }
                })?;
                self.open = true;
                self.producer.context().clear();
            }
            let committing = Instant::now();
            self.write_positions()?;
            // Not all acknowledged by the deadline: the commit's own flush reports it.
            self.deliver(committing + timeout);
            let flushed = Instant::now();
            self.commit(timeout)?;
            self.open = false;
            self.metrics.transaction(true);
            // Where a record's end-to-end delay goes (docs/tuning.md, "Latency"): the batch's
            // age when its commit began (the cadence), how long its records took to be
            // acknowledged, and how long the commit took after that.
            tracing::debug!(
                slot = self.slot,
                records = self.batch_records,
                batch_age_ms = committing.duration_since(self.batch_started).as_millis() as u64,
                deliver_ms = flushed.duration_since(committing).as_millis() as u64,
                commit_ms = flushed.elapsed().as_millis() as u64,
                "transaction committed"
            );
        } else {
            if let Err(e) = self.producer.flush(timeout) {
                return Err(Failure::Abort {
                    reason: format!("flushing: {e}"),
                    retriable: false,
                });
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
                return Err(Failure::Abort {
                    reason: format!(
                        "{failed} records not delivered ({})",
                        first.unwrap_or_default()
                    ),
                    retriable: false,
                });
            }
            let parts: Vec<(Tp, i64)> = self
                .parts
                .iter()
                .filter(|(_, p)| p.records > 0)
                .map(|(tp, p)| (tp.clone(), p.next))
                .collect();
            let _ = self.requests.send(Request::CommitOffsets { parts });
        }
        for ((t, p), part) in &mut self.parts {
            if !part.touched() {
                continue;
            }
            part.committed = part.next;
            self.metrics
                .copied(t, *p, part.records, part.bytes, part.committed);
            part.records = 0;
            part.bytes = 0;
            part.checkpoint_due = false;
        }
        self.batch_records = 0;
        self.batch_bytes = 0;
        Ok(())
    }

    /// Serves delivery reports until every record of the batch is acknowledged or `deadline`
    /// passes (then the commit's own flush waits and reports, with its deadline and errors):
    /// without it, commits paid rust-rdkafka's 100 ms flush waits ([`harness::delivery`]),
    /// 100–200 ms of every record's end-to-end delay (docs/tuning.md, "Latency").
    fn deliver(&self, deadline: Instant) {
        harness::delivery::serve_deliveries(&self.producer, deadline);
    }

    /// Commits the open transaction. rust-rdkafka's `commit_transaction` first flushes (serving
    /// delivery reports); a flush that times out means librdkafka's commit was never called, so
    /// it is tried again, and the batch aborted when the deadline passes. Once librdkafka's
    /// commit has been called, a retriable error is resumed by calling it again: it may not be
    /// aborted (librdkafka refuses, and the coordinator may already be committing). A commit
    /// that cannot complete by the deadline stops the writer: the slot's next producer
    /// initialises the same transactional id, which completes or aborts it on the coordinator,
    /// and copies again from the committed checkpoints. Abortable errors abort; fatal ones
    /// (fenced, or INVALID_TXN_STATE after a request lost in a network fault, which librdkafka
    /// treats as fatal) stop the writer.
    fn commit(&mut self, timeout: Duration) -> Result<(), Failure> {
        let deadline = Instant::now() + 2 * timeout;
        let mut called = false;
        loop {
            let e = match self.producer.commit_transaction(timeout) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let flush_only = matches!(e, KafkaError::Flush(_)) && !called;
            let failure = if flush_only {
                Failure::Abort {
                    reason: format!("delivering the batch before commit: {e}"),
                    retriable: true,
                }
            } else {
                called = true;
                classify(&self.producer, &e)
            };
            match failure {
                Failure::Abort {
                    retriable: true,
                    reason,
                } if Instant::now() < deadline => {
                    tracing::debug!(slot = self.slot, %reason, "retrying commit");
                    self.producer.poll(Duration::from_millis(50));
                }
                Failure::Abort {
                    retriable: true,
                    reason,
                } if called => {
                    return Err(Failure::Stop {
                        reason: format!(
                            "commit not complete after {} ms ({reason}); the slot's next producer resolves it",
                            (2 * timeout).as_millis()
                        ),
                        fenced: false,
                    })
                }
                other => return Err(other),
            }
        }
    }

    /// Adds the checkpoints (and, when due, offset syncs) of the touched partitions to the open
    /// transaction.
    fn write_positions(&mut self) -> Result<(), Failure> {
        let interval = Duration::from_millis(self.config.tuning.offset_sync_interval_ms);
        let sync_due =
            |p: &Part| p.records > 0 && p.synced_at.is_none_or(|t| t.elapsed() >= interval);
        // A sync pairs a partition's first record in the batch with its copy, in the batch's own
        // transaction: any committed position is at or after a committed sync. Its target offset
        // is known once delivered, so due syncs wait for the batch's deliveries.
        if self.parts.values().any(sync_due) {
            let timeout = Duration::from_millis(self.config.tuning.transaction_timeout_ms);
            if let Err(e) = self.producer.flush(timeout) {
                return Err(classify(&self.producer, &e));
            }
        }
        let mut control: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        let now_ms = checkpoint::now_ms();
        for ((t, p), part) in &mut self.parts {
            if !part.touched() {
                continue;
            }
            let key = checkpoint::key(&self.config.group_id, &self.source_id, t, *p);
            if sync_due(part) {
                if let Some((source_offset, target_offset)) =
                    self.producer.context().first_of(&part.target_topic, *p)
                {
                    let value = serde_json::to_vec(&OffsetSync {
                        source_offset,
                        target_offset,
                    })
                    .unwrap_or_default();
                    control.push((self.config.offset_syncs_topic.clone(), key.clone(), value));
                    part.synced_at = Some(Instant::now());
                }
            }
            let value = serde_json::to_vec(&Checkpoint {
                next_offset: part.next,
                writer: self.txn_id.clone(),
                target_topic: part.target_topic.clone(),
                at_ms: now_ms,
            })
            .unwrap_or_default();
            control.push((self.config.checkpoint_topic.clone(), key, value));
        }
        for (topic, key, value) in control {
            self.send_control(&topic, &key, &value)?;
        }
        Ok(())
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

    /// Aborts the open transaction (librdkafka bumps the epoch when the error needs it).
    /// Retried while retriable; if it cannot be aborted the writer stops and a new producer
    /// for the slot ends the transaction by initialising the same id.
    fn abort(&mut self, reason: &str) -> Result<(), Failure> {
        self.metrics.transaction(false);
        self.producer.context().clear();
        // Syncs in the aborted transaction are gone with it: the next batch records new ones.
        for p in self.parts.values_mut() {
            if p.records > 0 {
                p.synced_at = None;
            }
        }
        // librdkafka's abort purges queued records and waits for those in flight; their delivery
        // reports are events only `poll` serves (rust-rdkafka's BaseProducer), so the abort is
        // called with a short timeout and the reports served in between. Records in flight to
        // an unreachable broker take up to `message.timeout.ms`; the abort is retriable and
        // resumable meanwhile.
        let deadline = Instant::now()
            + Duration::from_millis(2 * self.config.tuning.transaction_timeout_ms + 10_000);
        loop {
            self.producer.poll(Duration::from_millis(100));
            match self.producer.abort_transaction(Duration::from_secs(1)) {
                Ok(()) => return Ok(()),
                Err(e) => match classify(&self.producer, &e) {
                    Failure::Abort {
                        retriable: true, ..
                    } if Instant::now() < deadline => {}
                    Failure::Abort { reason: r, .. } => {
                        return Err(Failure::Stop {
                            reason: format!("{reason}; abort failed: {r}"),
                            fenced: false,
                        })
                    }
                    stop => return Err(stop),
                },
            }
        }
    }
}

/// Fenced or fatal errors stop the writer; anything else aborts the batch and rewinds
/// (sorted by `harness::kafka_error::ErrorClass`, shared with the checker).
fn classify(producer: &BaseProducer<Deliveries>, e: &KafkaError) -> Failure {
    use harness::kafka_error::ErrorClass;
    if let Some((code, reason)) = producer.client().fatal_error() {
        let fenced = ErrorClass::of_fatal(code) == ErrorClass::Fenced;
        return Failure::Stop { fenced, reason };
    }
    let reason = match e {
        KafkaError::Transaction(t) => t.to_string(),
        other => other.to_string(),
    };
    match ErrorClass::of(e) {
        ErrorClass::Fenced => Failure::Stop {
            fenced: true,
            reason,
        },
        ErrorClass::Fatal => Failure::Stop {
            fenced: false,
            reason,
        },
        class => Failure::Abort {
            reason,
            retriable: class.is_retriable(),
        },
    }
}

/// A record whose schema id cannot be translated: the transaction is aborted and copied again
/// while a registry is unreachable; otherwise the writer stops (an untranslatable record is
/// never copied) and the slot is restarted, until `tuning.stalled_exit_secs` ends the instance.
fn schema_failure(e: crate::schemas::SchemaError, offset: i64) -> Failure {
    let reason = format!("source offset {offset}: {e}");
    if e.is_transient() {
        Failure::Abort {
            reason,
            retriable: true,
        }
    } else {
        Failure::Stop {
            reason,
            fenced: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_counts_from_the_last_mark() {
        let alive = Liveness::new();
        std::thread::sleep(Duration::from_millis(30));
        assert!(alive.since() >= Duration::from_millis(30));
        alive.mark();
        assert!(alive.since() < Duration::from_millis(30));
    }
}
