//! A deliberately broken copier for the `command` system contract: it copies the topics in
//! `CUTOVER_TOPICS` from `CUTOVER_SOURCE_BOOTSTRAP` to `CUTOVER_TARGET_BOOTSTRAP` (same names,
//! same partitions, read_committed) and drops every `LOSSY_EVERY`-th record (1000 by default).
//! SIGTERM flushes and exits. The scenario tests expect the checker to report exactly the
//! records it dropped as lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
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
    let consumer: BaseConsumer = harness::reader::read_only(
        ClientConfig::new().set("bootstrap.servers", &source),
        &env("CUTOVER_GROUP_ID"),
    )
    .set("isolation.level", "read_committed")
    .create()
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
    consumer.assign(&tpl).expect("assign");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &target)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let mut n = 0u64;
    let mut dropped = 0u64;
    while !STOP.load(Ordering::Relaxed) {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        n += 1;
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
    let _ = producer.flush(Duration::from_secs(30));
    eprintln!("lossy copier: read {n}, dropped {dropped}");
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}
