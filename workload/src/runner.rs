//! Running a workload against a cluster: one thread per producer with a librdkafka producer,
//! paced by a token schedule, stopped by the deadline, the record budget or cancellation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{Admin, ClientProps, TopicSpec};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::Message;
use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;
use crate::generator::{GeneratedRecord, RecordGenerator};
use crate::ledger::{Fate, IntentLedger};
use crate::spec::{HangEnd, HangingSpec, ProducerSpec, WorkloadSpec};

/// Knobs that are not part of the spec.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep (offset, fingerprint, fate) of every record in the ledger (40 bytes each).
    pub keep_records: bool,
    /// Set to stop early (Ctrl-C, end of a scenario phase).
    pub cancel: Arc<AtomicBool>,
    /// Set when the workload's clock starts (every producer ready): a scenario's fault
    /// schedule counts from it.
    pub clock: Arc<std::sync::OnceLock<Instant>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            keep_records: true,
            cancel: Arc::new(AtomicBool::new(false)),
            clock: Arc::new(std::sync::OnceLock::new()),
        }
    }
}

/// When the hanging transaction was open, relative to the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HangWindow {
    pub topic: String,
    pub partition: i32,
    pub opened_at_secs: f64,
    pub ended_at_secs: f64,
    pub end: HangEnd,
    pub records: u32,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkloadReport {
    /// Records generated (upstream re-sends not included).
    pub generated: u64,
    /// Totals of the ledger: sent (re-sends included), acked, failed, committed, aborted,
    /// upstream duplicates.
    #[serde(flatten)]
    pub counts: crate::ledger::PartitionLedger,
    /// Key + value + header bytes sent.
    pub bytes: u64,
    pub elapsed_secs: f64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    pub hanging: Vec<HangWindow>,
    pub ledger: IntentLedger,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates the spec's topics that do not exist yet.
pub async fn create_topics(spec: &WorkloadSpec, props: &ClientProps) -> Result<(), WorkloadError> {
    let admin = Admin::new("workload", props)?;
    let existing: std::collections::HashSet<String> =
        admin.list_topics().await?.into_iter().collect();
    let new: Vec<TopicSpec> = spec
        .topics
        .names()
        .into_iter()
        .filter(|name| !existing.contains(name))
        .map(|name| {
            let mut topic = TopicSpec::new(
                &name,
                spec.topics.partitions,
                spec.topics.replication_factor,
            );
            topic.configs = spec.topics.configs.clone();
            topic
        })
        .collect();
    if !new.is_empty() {
        admin.create_topics(&new, false).await?;
    }
    Ok(())
}

/// Runs the workload until its deadline, record budget or cancellation.
pub async fn run(
    spec: &WorkloadSpec,
    props: &ClientProps,
    options: RunOptions,
) -> Result<WorkloadReport, WorkloadError> {
    spec.validate()?;
    if spec.topics.create {
        create_topics(spec, props).await?;
    }
    let topics: Arc<Vec<String>> = Arc::new(spec.topics.names());
    let framer = match spec.schema.clone() {
        Some(schema) => {
            let names = topics.clone();
            Some(Arc::new(
                tokio::task::spawn_blocking(move || crate::schema::Framer::new(&schema, &names))
                    .await
                    .map_err(|e| WorkloadError::Kafka {
                        producer: "schema registration".into(),
                        detail: e.to_string(),
                    })??,
            ))
        }
        None => None,
    };
    // Each producer owns an equal share of the record budget, so the stream of every producer
    // (and so the whole workload) is the same from run to run, however fast each one is.
    let producers_total: u64 = spec
        .producer_groups()
        .iter()
        .map(|p| u64::from(p.count))
        .sum();
    let mut preparing = Vec::new();
    let mut hangs = Vec::new();
    let mut producer_id: u16 = 0;
    for (group, p) in spec.producer_groups().into_iter().enumerate() {
        for _ in 0..p.count {
            let share = spec.records.map_or(i64::MAX, |r| {
                let base = r / producers_total.max(1);
                let extra = u64::from(u64::from(producer_id) < r % producers_total.max(1));
                (base + extra) as i64
            });
            let budget = Arc::new(AtomicI64::new(share));
            let job = ProducerJob {
                id: producer_id,
                spec: p.clone(),
                seed: spec.seed,
                record: spec.record.clone(),
                topics: topics.clone(),
                props: props.clone(),
                budget,
                cancel: options.cancel.clone(),
                keep: options.keep_records,
                framer: framer.clone(),
            };
            preparing.push(tokio::task::spawn_blocking(move || job.prepare()));
            producer_id += 1;
        }
        if let Some(h) = p.hanging.clone() {
            hangs.push(HangJob {
                id: 60_000u16.saturating_add(group as u16),
                seed: spec.seed,
                spec: h,
                record: spec.record.clone(),
                topics: topics.clone(),
                props: props.clone(),
                cancel: options.cancel.clone(),
                keep: options.keep_records,
            });
        }
    }
    let mut ready = Vec::with_capacity(preparing.len());
    for p in preparing {
        ready.push(p.await.map_err(|e| WorkloadError::Kafka {
            producer: "?".into(),
            detail: format!("producer thread failed: {e}"),
        })??);
    }
    // The clock starts once every producer is ready (created, its transactions initialised,
    // the topics' leaders known): a producer still starting must not owe records it then
    // sends in a burst, each stamped late and held back behind the others.
    let started = Instant::now();
    let _ = options.clock.set(started);
    let deadline = spec
        .duration_secs
        .map(|d| started + Duration::from_secs_f64(d));
    let mut tasks = Vec::new();
    for (job, producer) in ready {
        tasks.push(tokio::task::spawn_blocking(move || {
            job.run(producer, started, deadline)
        }));
    }
    let mut hang_tasks = Vec::new();
    for h in hangs {
        hang_tasks.push(tokio::task::spawn_blocking(move || {
            hanging_transaction(h, started)
        }));
    }
    let mut report = WorkloadReport::default();
    for t in tasks {
        let part = t.await.map_err(|e| WorkloadError::Kafka {
            producer: "?".into(),
            detail: format!("producer thread failed: {e}"),
        })??;
        report.generated += part.generated;
        report.bytes += part.bytes;
        report.ledger.merge(part.ledger);
    }
    for t in hang_tasks {
        let (window, ledger) = t.await.map_err(|e| WorkloadError::Kafka {
            producer: "hanging".into(),
            detail: format!("hanging transaction thread failed: {e}"),
        })??;
        report.hanging.push(window);
        report.ledger.merge(ledger);
    }
    report.counts = report.ledger.totals();
    report.elapsed_secs = started.elapsed().as_secs_f64();
    report.records_per_sec = report.counts.sent as f64 / report.elapsed_secs.max(1e-9);
    report.mb_per_sec = report.bytes as f64 / 1e6 / report.elapsed_secs.max(1e-9);
    Ok(report)
}

/// A delivery report: (topic index, partition of delivery, offset, fingerprint, delivered).
type Delivered = (usize, i32, i64, [u8; 32], bool);
/// Delivery reports of open transactions, by transaction number.
type TxnStash = HashMap<u64, Vec<Delivered>>;

struct Pending {
    topic: usize,
    fp: [u8; 32],
    txn: u64,
    /// The second copy of an upstream duplicate.
    resent: bool,
}

/// One delivery report as the ledger needs it.
struct Done {
    topic: usize,
    /// The partition the record was delivered to (or failed on), from the delivery report: the
    /// producer's partitioner chose it, so only the report knows it. -1 when the record failed
    /// before a partition was chosen.
    partition: i32,
    /// -1 when not delivered.
    offset: i64,
    fp: [u8; 32],
    txn: u64,
    ok: bool,
    resent: bool,
}

#[derive(Default)]
struct Deliveries {
    done: Vec<Done>,
}

struct LedgerContext {
    deliveries: Mutex<Deliveries>,
}

impl ClientContext for LedgerContext {}

impl ProducerContext for LedgerContext {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, p: Self::DeliveryOpaque) {
        let (partition, offset, ok) = match result {
            Ok(m) => (m.partition(), m.offset(), true),
            Err((_, m)) => (m.partition(), m.offset(), false),
        };
        if let Ok(mut d) = self.deliveries.lock() {
            d.done.push(Done {
                topic: p.topic,
                partition,
                offset,
                fp: p.fp,
                txn: p.txn,
                ok,
                resent: p.resent,
            });
        }
    }
}

struct ProducerJob {
    id: u16,
    spec: ProducerSpec,
    seed: u64,
    record: crate::spec::RecordSpec,
    topics: Arc<Vec<String>>,
    props: ClientProps,
    budget: Arc<AtomicI64>,
    cancel: Arc<AtomicBool>,
    keep: bool,
    framer: Option<Arc<crate::schema::Framer>>,
}

struct ProducerResult {
    generated: u64,
    bytes: u64,
    ledger: IntentLedger,
}

fn producer_config(
    props: &ClientProps,
    spec: &ProducerSpec,
    name: &str,
) -> Result<rdkafka::ClientConfig, WorkloadError> {
    let mut c = props.to_rdkafka()?;
    c.set("client.id", name)
        .set("acks", &spec.acks)
        .set(
            "enable.idempotence",
            if spec.idempotent || spec.transactions.is_some() {
                "true"
            } else {
                "false"
            },
        )
        .set("compression.codec", &spec.compression)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "200000")
        // Partitioned like Java's default partitioner (murmur2 of the key; unkeyed records
        // spread), over the partition count of the producer's metadata, refreshed every second
        // so a topic that grows (add-partitions) gets records on its new partitions within
        // about a second, as a real producer's would once its metadata refreshes (librdkafka's
        // default is every 5 minutes, Java's metadata.max.age.ms 5 minutes too).
        .set("partitioner", "murmur2_random")
        .set("topic.metadata.refresh.interval.ms", "1000");
    if !spec.idempotent && spec.transactions.is_none() {
        // Without idempotence, retries may reorder; keep one request in flight per broker so
        // the only duplicates are the deliberate ones.
        c.set("max.in.flight.requests.per.connection", "1");
    }
    for (k, v) in &spec.config {
        c.set(k, v);
    }
    Ok(c)
}

fn kafka_err(producer: &str, what: &str, e: impl std::fmt::Display) -> WorkloadError {
    WorkloadError::Kafka {
        producer: producer.to_string(),
        detail: format!("{what}: {e}"),
    }
}

fn send(
    producer: &BaseProducer<LedgerContext>,
    topics: &[String],
    r: &GeneratedRecord,
    txn: u64,
    resent: bool,
    name: &str,
) -> Result<(), WorkloadError> {
    let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
    for (k, v) in &r.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let fp = r.fingerprint();
    let pending = || {
        Box::new(Pending {
            topic: r.topic,
            fp,
            txn,
            resent,
        })
    };
    let mut back = None;
    loop {
        let opaque = back.take().unwrap_or_else(pending);
        let mut record = BaseRecord::with_opaque_to(&topics[r.topic], opaque)
            .timestamp(r.timestamp_ms)
            .headers(headers.clone());
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        if let Some(v) = &r.value {
            record = record.payload(v);
        }
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rec)) => {
                back = Some(rec.delivery_opaque);
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(kafka_err(name, "send", e)),
        }
    }
}

/// Waits up to `t` for every record's acknowledgement; records still unacknowledged then are
/// purged so that their (failed) delivery reports reach the ledger too: `sent` is counted from
/// the reports, so every sent record needs one.
fn flush_or_purge(producer: &BaseProducer<LedgerContext>, t: Duration) {
    if producer.flush(t).is_err() {
        producer.purge(PurgeConfig::default().queue().inflight());
        // Purged records' reports are served by the next poll.
        producer.poll(Duration::from_millis(100));
    }
}

/// Moves delivery reports into the ledger under the partition each record was delivered to
/// (`sent` and upstream duplicates included: the partition is known only from the report);
/// the fates of records of open transactions wait in `stash`.
fn drain(
    ctx: &LedgerContext,
    topics: &[String],
    ledger: &mut IntentLedger,
    stash: &mut TxnStash,
    keep: bool,
) {
    let done = match ctx.deliveries.lock() {
        Ok(mut d) => std::mem::take(&mut d.done),
        Err(_) => return,
    };
    for d in done {
        let Done {
            topic,
            partition,
            offset,
            fp,
            txn,
            ok,
            resent,
        } = d;
        let e = ledger.entry(&topics[topic], partition);
        e.sent += 1;
        if resent {
            e.upstream_duplicates += 1;
        }
        if txn != 0 {
            stash
                .entry(txn)
                .or_default()
                .push((topic, partition, offset, fp, ok));
            continue;
        }
        if ok {
            e.acked += 1;
            e.committed += 1;
            if keep {
                e.records.push((offset, fp, Fate::Committed));
            }
        } else {
            e.failed += 1;
        }
    }
}

fn settle(
    topics: &[String],
    ledger: &mut IntentLedger,
    records: Vec<Delivered>,
    committed: bool,
    keep: bool,
) {
    for (topic, partition, offset, fp, ok) in records {
        let e = ledger.entry(&topics[topic], partition);
        if ok {
            e.acked += 1;
        }
        if committed && ok {
            e.committed += 1;
            if keep {
                e.records.push((offset, fp, Fate::Committed));
            }
        } else if committed {
            e.failed += 1;
        } else {
            e.aborted += 1;
            if keep && ok {
                e.records.push((offset, fp, Fate::Aborted));
            }
        }
    }
}

impl ProducerJob {
    fn name(&self) -> String {
        format!("cutover-workload-{}", self.id)
    }

    /// Creates the producer and readies it before the workload's clock starts: its
    /// transactions initialised (on a fresh cluster the first `init_transactions` waits for
    /// the transaction coordinator to load) and every topic's leaders in its metadata cache.
    fn prepare(self) -> Result<(Self, BaseProducer<LedgerContext>), WorkloadError> {
        let name = self.name();
        let mut config = producer_config(&self.props, &self.spec, &name)?;
        if self.spec.transactions.is_some() {
            config.set(
                "transactional.id",
                format!("cutover-workload-{}-{}", self.seed, self.id),
            );
        }
        let producer: BaseProducer<LedgerContext> = config
            .create_with_context(LedgerContext {
                deliveries: Mutex::new(Deliveries::default()),
            })
            .map_err(|e| kafka_err(&name, "creating the producer", e))?;
        if self.spec.transactions.is_some() {
            producer
                .init_transactions(Duration::from_secs(30))
                .map_err(|e| kafka_err(&name, "init_transactions", e))?;
        }
        // Best effort: a producer that does not know a topic yet still sends, after a lookup.
        if let Err(e) = producer
            .client()
            .fetch_metadata(None, Duration::from_secs(10))
        {
            tracing::debug!(producer = %name, error = %e, "topic metadata not fetched before the start");
        }
        Ok((self, producer))
    }

    /// Produces from `started` (the workload's clock) until the deadline, the budget or
    /// cancellation.
    fn run(
        self,
        producer: BaseProducer<LedgerContext>,
        started: Instant,
        deadline: Option<Instant>,
    ) -> Result<ProducerResult, WorkloadError> {
        let name = self.name();
        let t = Duration::from_secs(30);
        let mut generator = RecordGenerator::new(
            self.seed,
            self.id,
            self.topics.len(),
            &self.record,
            self.spec.upstream_duplicate_ratio,
        );
        let mut ledger = IntentLedger::default();
        let mut stash: TxnStash = HashMap::new();
        let (mut generated, mut bytes) = (0u64, 0u64);
        let txn_size = self
            .spec
            .transactions
            .as_ref()
            .map(|t| t.records_per_txn as u64);
        let abort_ratio = self
            .spec
            .transactions
            .as_ref()
            .map_or(0.0, |t| t.abort_ratio);
        let mut txn: u64 = 0;
        let mut in_txn = 0u64;
        let rate = self.spec.rate;
        // Delivery reports so far into the ledger.
        let drain_reports = |ledger: &mut IntentLedger, stash: &mut TxnStash| {
            drain(producer.context(), &self.topics, ledger, stash, self.keep)
        };
        loop {
            let stop = self.cancel.load(Ordering::Relaxed)
                || deadline.is_some_and(|d| Instant::now() >= d)
                || self.budget.fetch_sub(1, Ordering::Relaxed) <= 0;
            // A full transaction ends before the next record; an open one when the producer
            // stops.
            let full = txn_size.is_some_and(|size| in_txn >= size);
            if full || (stop && txn_size.is_some() && in_txn > 0) {
                self.end_txn(
                    &producer,
                    &mut generator,
                    abort_ratio,
                    txn,
                    &mut ledger,
                    &mut stash,
                    &name,
                )?;
                in_txn = 0;
            }
            if stop {
                break;
            }
            if let Some(rate) = rate {
                // Pace: the n-th record (or byte) is due at n / rate seconds after start.
                let elapsed = started.elapsed().as_secs_f64();
                let due_records = rate.records_per_sec.map_or(0.0, |r| generated as f64 / r);
                let due_bytes = rate.mb_per_sec.map_or(0.0, |m| bytes as f64 / (m * 1e6));
                let due = due_records.max(due_bytes);
                if due > elapsed {
                    let wait = Duration::from_secs_f64(due - elapsed);
                    producer.poll(wait.min(Duration::from_millis(100)));
                    if wait > Duration::from_millis(100) {
                        // Re-check stop conditions while waiting; the record is still owed.
                        self.budget.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            if txn_size.is_some() {
                if in_txn == 0 {
                    txn += 1;
                    producer
                        .begin_transaction()
                        .map_err(|e| kafka_err(&name, "begin_transaction", e))?;
                }
                in_txn += 1;
            }
            let mut record = generator.next_record(now_ms());
            if let Some(framer) = &self.framer {
                framer.frame(&mut record)?;
            }
            generated += 1;
            bytes += record.size() as u64;
            let copies = if record.resend { 2 } else { 1 };
            for copy in 0..copies {
                send(
                    &producer,
                    &self.topics,
                    &record,
                    txn_size.map_or(0, |_| txn),
                    copy == 1,
                    &name,
                )?;
            }
            if record.resend {
                bytes += record.size() as u64;
            }
            producer.poll(Duration::ZERO);
            drain_reports(&mut ledger, &mut stash);
        }
        flush_or_purge(&producer, t);
        drain_reports(&mut ledger, &mut stash);
        Ok(ProducerResult {
            generated,
            bytes,
            ledger,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn end_txn(
        &self,
        producer: &BaseProducer<LedgerContext>,
        generator: &mut RecordGenerator,
        abort_ratio: f64,
        txn: u64,
        ledger: &mut IntentLedger,
        stash: &mut TxnStash,
        name: &str,
    ) -> Result<(), WorkloadError> {
        let t = Duration::from_secs(30);
        let abort = generator.decide(abort_ratio);
        // Acknowledged first, 1 ms polls at a time: the flush inside rust-rdkafka's commit
        // waits 100 ms steps, and an open transaction holds back every read_committed reader
        // (harness::delivery).
        harness::delivery::serve_deliveries(producer, Instant::now() + t);
        if abort {
            // Flushed first so the aborted records really are in the log (and must be skipped
            // by read_committed readers), not purged from the client's queue.
            producer
                .flush(t)
                .map_err(|e| kafka_err(name, "flush before abort", e))?;
            producer
                .abort_transaction(t)
                .map_err(|e| kafka_err(name, "abort_transaction", e))?;
        } else {
            producer
                .commit_transaction(t)
                .map_err(|e| kafka_err(name, "commit_transaction", e))?;
        }
        drain(producer.context(), &self.topics, ledger, stash, self.keep);
        let records = stash.remove(&txn).unwrap_or_default();
        settle(&self.topics, ledger, records, !abort, self.keep);
        Ok(())
    }
}

struct HangJob {
    id: u16,
    seed: u64,
    spec: HangingSpec,
    record: crate::spec::RecordSpec,
    topics: Arc<Vec<String>>,
    props: ClientProps,
    cancel: Arc<AtomicBool>,
    keep: bool,
}

fn sleep_unless_cancelled(until: Instant, cancel: &AtomicBool) {
    while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
        std::thread::sleep(
            Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())),
        );
    }
}

/// Waits until partition 0 of `topic` has no open transaction (LSO == high watermark), up to
/// `limit_ms`. True when it got there.
fn wait_for_stable(props: &ClientProps, topic: &str, limit_ms: u64) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let make = |isolation: &str| -> Option<BaseConsumer> {
        let mut c = props.reader("cutover-lso-probe").ok()?;
        c.set("isolation.level", isolation);
        c.create().ok()
    };
    let (Some(committed), Some(uncommitted)) = (make("read_committed"), make("read_uncommitted"))
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_millis(limit_ms);
    while Instant::now() < deadline {
        let t = Duration::from_secs(5);
        if let (Ok((_, lso)), Ok((_, hw))) = (
            committed.fetch_watermarks(topic, 0, t),
            uncommitted.fetch_watermarks(topic, 0, t),
        ) {
            if lso >= hw {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

/// Takes the hanging transaction's delivery reports into the ledger: its records (transaction
/// 1 of its producer) were never committed.
fn settle_hanging(
    producer: &BaseProducer<LedgerContext>,
    job: &HangJob,
    ledger: &mut IntentLedger,
) {
    let mut stash = HashMap::new();
    drain(
        producer.context(),
        &job.topics,
        ledger,
        &mut stash,
        job.keep,
    );
    let records = stash.remove(&1).unwrap_or_default();
    settle(&job.topics, ledger, records, false, job.keep);
}

/// Opens a transaction, writes to one partition, holds it open, then ends it as asked; its
/// moments count from `started`, the workload's clock.
fn hanging_transaction(
    job: HangJob,
    started: Instant,
) -> Result<(HangWindow, IntentLedger), WorkloadError> {
    let name = format!("cutover-hanging-{}", job.id);
    let txn_id = format!("cutover-hanging-{}-{}", job.seed, job.id);
    sleep_unless_cancelled(
        started + Duration::from_secs_f64(job.spec.after_secs),
        &job.cancel,
    );
    let hold_ms = (job.spec.hold_secs * 1000.0) as u64;
    let timeout_ms = match job.spec.end {
        HangEnd::Timeout => hold_ms.max(1000),
        _ => (hold_ms + 60_000).max(60_000),
    };
    let spec = ProducerSpec::default();
    let mut config = producer_config(&job.props, &spec, &name)?;
    config
        .set("transactional.id", &txn_id)
        .set("transaction.timeout.ms", timeout_ms.to_string());
    let producer: BaseProducer<LedgerContext> = config
        .create_with_context(LedgerContext {
            deliveries: Mutex::new(Deliveries::default()),
        })
        .map_err(|e| kafka_err(&name, "creating the producer", e))?;
    let t = Duration::from_secs(30);
    producer
        .init_transactions(t)
        .map_err(|e| kafka_err(&name, "init_transactions", e))?;
    producer
        .begin_transaction()
        .map_err(|e| kafka_err(&name, "begin_transaction", e))?;
    let mut generator = RecordGenerator::new(job.seed, job.id, 1, &job.record, 0.0);
    let mut ledger = IntentLedger::default();
    let topic = job.topics[0].clone();
    for _ in 0..job.spec.records {
        let mut r = generator.next_record(now_ms());
        r.topic = 0;
        r.partition = Some(0);
        send(&producer, &job.topics, &r, 1, false, &name)?;
    }
    producer
        .flush(t)
        .map_err(|e| kafka_err(&name, "flush", e))?;
    let opened_at = started.elapsed().as_secs_f64();
    tracing::info!(topic = %topic, hold_secs = job.spec.hold_secs, "hanging transaction open");
    sleep_unless_cancelled(Instant::now() + Duration::from_millis(hold_ms), &job.cancel);
    match job.spec.end {
        HangEnd::Abort => {
            producer
                .abort_transaction(t)
                .map_err(|e| kafka_err(&name, "abort_transaction", e))?;
        }
        HangEnd::Fence => {
            let mut fencer = producer_config(&job.props, &spec, &format!("{name}-fencer"))?;
            fencer.set("transactional.id", &txn_id);
            let fencer: BaseProducer = fencer
                .create()
                .map_err(|e| kafka_err(&name, "creating the fencer", e))?;
            fencer
                .init_transactions(t)
                .map_err(|e| kafka_err(&name, "fencing init_transactions", e))?;
        }
        HangEnd::Timeout => {
            // Silent: the producer stays alive but never ends the transaction; the coordinator
            // aborts it once transaction.timeout.ms has passed (it checks every
            // transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default).
            // The window ends when the partition's last stable offset catches up.
            let ended = wait_for_stable(&job.props, &topic, timeout_ms + 30_000);
            let window = HangWindow {
                topic: topic.clone(),
                partition: 0,
                opened_at_secs: opened_at,
                ended_at_secs: started.elapsed().as_secs_f64(),
                end: job.spec.end,
                records: job.spec.records,
            };
            if !ended {
                tracing::warn!(topic = %topic, "the broker had not aborted the timed-out transaction yet");
            }
            // The records were flushed (their reports served) before the hold.
            settle_hanging(&producer, &job, &mut ledger);
            drop(producer);
            return Ok((window, ledger));
        }
    }
    settle_hanging(&producer, &job, &mut ledger);
    Ok((
        HangWindow {
            topic,
            partition: 0,
            opened_at_secs: opened_at,
            ended_at_secs: started.elapsed().as_secs_f64(),
            end: job.spec.end,
            records: job.spec.records,
        },
        ledger,
    ))
}
