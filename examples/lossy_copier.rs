//! A deliberately broken copier for the `command` system contract: it copies the topics in
//! `CUTOVER_TOPICS` from `CUTOVER_SOURCE_BOOTSTRAP` to `CUTOVER_TARGET_BOOTSTRAP` (same names,
//! same partitions, read_committed) and drops every `LOSSY_EVERY`-th record (1000 by default).
//! SIGTERM flushes and exits. The scenario tests expect the checker to report exactly the
//! records it dropped as lost.
//!
//! By default it assigns itself every partition it sees at start. With `LOSSY_SUBSCRIBE=1` it
//! subscribes in `CUTOVER_GROUP_ID` instead (starting from the earliest offset where the group
//! has none), so instances share the partitions; before a rebalance takes partitions away, and
//! before it leaves, it flushes what it sent and commits the next offset to read, so the next
//! owner goes on from there without a gap or a duplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn main() {
    let source = env("CUTOVER_SOURCE_BOOTSTRAP");
    let target = env("CUTOVER_TARGET_BOOTSTRAP");
    let topics: Vec<String> = env("CUTOVER_TOPICS")
        .split(',')
        .map(str::to_string)
        .collect();
    let every: u64 = std::env::var("LOSSY_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
    let subscribe = std::env::var("LOSSY_SUBSCRIBE").is_ok_and(|v| v == "1");
    let producer: Arc<ThreadedProducer<DefaultProducerContext>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &target)
            .set("enable.idempotence", "true")
            .create()
            .expect("producer"),
    );
    let handover = Handover {
        producer: producer.clone(),
        next: Mutex::new(HashMap::new()),
    };
    let consumer: BaseConsumer<Handover> = harness::reader::read_only(
        ClientConfig::new().set("bootstrap.servers", &source),
        &env("CUTOVER_GROUP_ID"),
    )
    .set("isolation.level", "read_committed")
    .set("auto.offset.reset", "earliest")
    .set("session.timeout.ms", "6000")
    .set("heartbeat.interval.ms", "500")
    .create_with_context(handover)
    .expect("consumer");
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    let mut counts = Vec::new();
    for t in md
        .topics()
        .iter()
        .filter(|t| topics.iter().any(|n| n == t.name()))
    {
        counts.push((t.name().to_string(), t.partitions().len() as i32));
        for p in t.partitions() {
            tpl.add_partition_offset(t.name(), p.id(), Offset::Beginning)
                .expect("tpl");
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &target)
            .create()
            .expect("admin");
        let new: Vec<NewTopic> = counts
            .iter()
            .map(|(t, n)| NewTopic::new(t, *n, TopicReplication::Fixed(1)))
            .collect();
        let _ = admin.create_topics(new.iter(), &AdminOptions::new()).await;
    });
    if subscribe {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).expect("subscribe");
    } else {
        consumer.assign(&tpl).expect("assign");
    }
    let mut n = 0u64;
    let mut dropped = 0u64;
    while !STOP.load(Ordering::Relaxed) {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        n += 1;
        if subscribe {
            consumer
                .context()
                .read(m.topic(), m.partition(), m.offset() + 1);
        }
        if n.is_multiple_of(every) {
            dropped += 1;
            continue;
        }
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(m.topic()).partition(m.partition());
        if let Some(k) = m.key() {
            r = r.key(k);
        }
        if let Some(v) = m.payload() {
            r = r.payload(v);
        }
        if let Some(h) = m.headers() {
            r = r.headers(h.detach());
        }
        while let Err((_, back)) = producer.send(r) {
            r = back;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    if subscribe {
        consumer.context().hand_over(&consumer);
    } else {
        let _ = producer.flush(Duration::from_secs(30));
    }
    eprintln!("lossy copier: read {n}, dropped {dropped}");
    // Dropping the consumer leaves the group (a last revoke hands over nothing new).
}

/// What a subscribed copier hands over when partitions are taken away: the records it sent,
/// flushed, and the next offset of every partition it read, committed.
struct Handover {
    producer: Arc<ThreadedProducer<DefaultProducerContext>>,
    next: Mutex<HashMap<(String, i32), i64>>,
}

impl Handover {
    fn read(&self, topic: &str, partition: i32, next: i64) {
        if let Ok(mut n) = self.next.lock() {
            n.insert((topic.to_string(), partition), next);
        }
    }

    fn hand_over(&self, consumer: &BaseConsumer<Handover>) {
        let _ = self.producer.flush(Duration::from_secs(30));
        let Ok(mut next) = self.next.lock() else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in next.drain() {
            let _ = tpl.add_partition_offset(&t, p, Offset::Offset(o));
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                eprintln!("lossy copier: commit on hand-over failed: {e}");
            }
        }
    }
}

impl ClientContext for Handover {}

impl ConsumerContext for Handover {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Handover>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.hand_over(consumer);
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}
