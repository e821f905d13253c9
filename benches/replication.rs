//! `cargo bench --bench replication`: the built-in replicator's throughput between two real
//! 1-broker clusters, exactly-once and at-least-once, next to the copy limit measured in the
//! same run: a plain rdkafka consume → produce loop with no guarantees (no transactions, no
//! checkpoints, no group).
//!
//! `CUTOVER_BENCH_RECORDS` records (1 M by default) of `CUTOVER_BENCH_VALUE_BYTES` (200) over
//! 6 partitions are written once to the source; each contender copies all of them into its own
//! target topics. Throughput is timed while records flow (group joins and
//! producer start-up are not copying): the clock starts once 5 % of the records are copied and
//! the rate counts the other 95 %. Figures are printed as records/s, MB/s and the ratio to
//! the copy limit. `CUTOVER_BENCH_COMMIT_MS`, `CUTOVER_BENCH_LINGER_MS` and
//! `CUTOVER_BENCH_COMPRESSION` set the replicator's tuning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{ClusterSpec, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use replicator::{Metrics, ReplicatorConfig};

const PARTITIONS: i32 = 6;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Figure {
    name: &'static str,
    records: u64,
    bytes: u64,
    secs: f64,
}

impl Figure {
    fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }
    fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run either way
    // only when asked for benches.
    if !std::env::args().any(|a| a == "--bench") {
        println!("replication bench: run with `cargo bench --bench replication`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let records = env("CUTOVER_BENCH_RECORDS", 1_000_000);
    let value_bytes = env("CUTOVER_BENCH_VALUE_BYTES", 200) as usize;
    let spec =
        |name: &str| ClusterSpec::new(name).broker_config("group.initial.rebalance.delay.ms", "0");
    let (source, target) = runtime.block_on(async {
        let (s, t) = (spec("bench-src"), spec("bench-tgt"));
        let (a, b) = tokio::join!(harness::start(&s), harness::start(&t));
        (a.expect("source cluster"), b.expect("target cluster"))
    });
    let (sb, tb) = (source.bootstrap_servers(), target.bootstrap_servers());
    runtime.block_on(async {
        source
            .admin()
            .expect("admin")
            .create_topic(&TopicSpec::new("bench", PARTITIONS, 1))
            .await
            .expect("source topic");
        let ta = target.admin().expect("admin");
        ta.create_topic(&TopicSpec::new("limit.bench", PARTITIONS, 1))
            .await
            .expect("target topic");
    });
    let started = Instant::now();
    let bytes = fill(&sb, records, value_bytes);
    println!(
        "source: {records} records of {value_bytes} B over {PARTITIONS} partitions written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut figures = vec![copy_limit(&sb, &tb, records, bytes)];
    for (name, mode) in [
        ("at-least-once", "at-least-once"),
        ("exactly-once", "exactly-once"),
    ] {
        figures.push(replicate(&runtime, &sb, &tb, name, mode, records, bytes));
    }
    let limit = figures[0].rate();
    println!();
    println!(
        "{:<16} {:>12} {:>10} {:>8} {:>14}",
        "contender", "records/s", "MB/s", "secs", "ratio to limit"
    );
    for f in &figures {
        println!(
            "{:<16} {:>12.0} {:>10.1} {:>8.2} {:>14.2}",
            f.name,
            f.rate(),
            f.mbps(),
            f.secs,
            f.rate() / limit
        );
    }
    println!(
        "goals: at-least-once >= 0.90, exactly-once >= 0.70 of the copy limit (commit {} ms, linger {} ms, compression {})",
        env("CUTOVER_BENCH_COMMIT_MS", 200),
        env("CUTOVER_BENCH_LINGER_MS", 5),
        std::env::var("CUTOVER_BENCH_COMPRESSION").unwrap_or_else(|_| "none".into())
    );
    runtime.block_on(async {
        let _ = source.shutdown().await;
        let _ = target.shutdown().await;
    });
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()
        .expect("producer")
}

/// Writes the source data; returns key + value bytes.
fn fill(bootstrap: &str, records: u64, value_bytes: usize) -> u64 {
    let p = producer(bootstrap);
    let value = vec![b'x'; value_bytes];
    let mut bytes = 0;
    for i in 0..records {
        let key = format!("key-{:08}", i % 100_000);
        let mut r = BaseRecord::to("bench")
            .key(key.as_bytes())
            .payload(&value[..])
            .partition((i % PARTITIONS as u64) as i32);
        loop {
            match p.send(r) {
                Ok(()) => break,
                Err((_, back)) => {
                    r = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        bytes += (key.len() + value_bytes) as u64;
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    bytes
}

/// The copy limit: assign every partition, consume, produce, no guarantees.
fn copy_limit(source: &str, target: &str, records: u64, bytes: u64) -> Figure {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", source)
        .set("group.id", "limit")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset("bench", p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let p = producer(target);
    let mut n = 0u64;
    let mut first: Option<Instant> = None;
    while n < records {
        let Some(Ok(m)) = consumer.poll(Duration::from_secs(10)) else {
            continue;
        };
        if n == records / 20 {
            first = Some(Instant::now());
        }
        let mut r: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to("limit.bench").partition(m.partition());
        if let Some(k) = m.key() {
            r = r.key(k);
        }
        if let Some(v) = m.payload() {
            r = r.payload(v);
        }
        loop {
            match p.send(r) {
                Ok(()) => break,
                Err((_, back)) => {
                    r = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        n += 1;
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    steady("copy limit", records, bytes, secs)
}

/// The replicator in this process, copying `bench` to `<name>.bench`, until every record is
/// made safe on the target.
fn replicate(
    runtime: &tokio::runtime::Runtime,
    source: &str,
    target: &str,
    name: &'static str,
    mode: &str,
    records: u64,
    bytes: u64,
) -> Figure {
    let text = format!(
        r#"[replication]
mode = "{mode}"
group_id = "bench-{name}"
include = "bench"
rename = {{ prefix = "{name}." }}

[tuning]
commit_interval_ms = {commit}
linger_ms = {linger}
compression = "{compression}"

[source]
bootstrap.servers = "{source}"

[target]
bootstrap.servers = "{target}"
"#,
        commit = env("CUTOVER_BENCH_COMMIT_MS", 200),
        linger = env("CUTOVER_BENCH_LINGER_MS", 5),
        compression = std::env::var("CUTOVER_BENCH_COMPRESSION").unwrap_or_else(|_| "none".into()),
    );
    let config = Arc::new(ReplicatorConfig::from_toml(&text, "bench").expect("config"));
    let metrics = Metrics::new();
    let stop = Arc::new(AtomicBool::new(false));
    let engine = {
        let (config, metrics, stop, handle) = (
            config,
            metrics.clone(),
            stop.clone(),
            runtime.handle().clone(),
        );
        std::thread::spawn(move || replicator::engine::run(config, metrics, handle, stop))
    };
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let copied = metrics.totals().records;
        if copied >= records / 20 && first.is_none() {
            first = Some(Instant::now());
        }
        if copied >= records {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: only {copied} of {records} copied in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    stop.store(true, Ordering::Release);
    let _ = engine.join();
    steady(name, records, bytes, secs)
}

/// The 95 % of the records copied after the clock started.
fn steady(name: &'static str, records: u64, bytes: u64, secs: f64) -> Figure {
    let counted = records - records / 20;
    Figure {
        name,
        records: counted,
        bytes: bytes / records.max(1) * counted,
        secs,
    }
}
