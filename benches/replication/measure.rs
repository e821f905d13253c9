//! The measurement: the options of a run, two clusters, the source written once, every
//! contender timed from 5 % to 100 % copied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use harness::{Cluster, ClusterSpec, KafkaVersion, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use replicator::{Metrics, ReplicatorConfig};
use scenarios::spec::SystemSpec;
use scenarios::system::{Launcher, Mm2Launch};

use super::*;

/// What to run and where the table goes.
#[derive(Debug, Clone)]
pub struct Options {
    pub records: u64,
    pub value_bytes: usize,
    pub contenders: Vec<Contender>,
    /// Tuning entries (TOML literals) every built-in contender starts from.
    pub base_tuning: Vec<(String, String)>,
    /// The Markdown table is written here (and printed).
    pub table_path: PathBuf,
    /// A contender that has not copied everything by then is reported as failed.
    pub contender_timeout: Duration,
}

impl Options {
    /// From the environment: `CUTOVER_BENCH_QUICK=1` (20 k records of 512 B),
    /// `CUTOVER_BENCH_RECORDS` (1 M), `CUTOVER_BENCH_VALUE_BYTES` (1024),
    /// `CUTOVER_BENCH_MATRIX=1` (add the parameter matrix), `CUTOVER_BENCH_ONLY` (a comma list of
    /// words; a contender runs when its name or setting contains one), and the base tuning
    /// `CUTOVER_BENCH_COMMIT_MS`, `CUTOVER_BENCH_LINGER_MS`, `CUTOVER_BENCH_COMPRESSION`.
    pub fn from_env(target_dir: &Path) -> Options {
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v == "true");
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let quick = flag("CUTOVER_BENCH_QUICK");
        let records = num(
            "CUTOVER_BENCH_RECORDS",
            if quick { 20_000 } else { 1_000_000 },
        );
        let value_bytes = num("CUTOVER_BENCH_VALUE_BYTES", if quick { 512 } else { 1024 }) as usize;
        let mut contenders = vec![
            Contender::copy_limit(),
            Contender::produce_limit(),
            Contender::builtin("at-least-once"),
            Contender::builtin("exactly-once"),
            Contender::mirrormaker2(false),
            Contender::mirrormaker2(true),
        ];
        if flag("CUTOVER_BENCH_MATRIX") {
            contenders.extend(matrix());
        }
        if let Ok(only) = std::env::var("CUTOVER_BENCH_ONLY") {
            let words: Vec<String> = only
                .split(',')
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
            contenders.retain(|c| {
                c.section == Section::Baseline && c.name == "copy limit"
                    || words.iter().any(|w| {
                        c.name.to_lowercase().contains(w) || c.setting.to_lowercase().contains(w)
                    })
            });
        }
        let mut base_tuning = Vec::new();
        if let Ok(v) = std::env::var("CUTOVER_BENCH_COMMIT_MS") {
            base_tuning.push(("commit_interval_ms".into(), v));
        }
        if let Ok(v) = std::env::var("CUTOVER_BENCH_LINGER_MS") {
            base_tuning.push(("linger_ms".into(), v));
        }
        if let Ok(v) = std::env::var("CUTOVER_BENCH_COMPRESSION") {
            base_tuning.push(("compression".into(), format!("{v:?}")));
        }
        Options {
            records,
            value_bytes: value_bytes.max(SEQ_BYTES),
            contenders,
            base_tuning,
            table_path: target_dir.join("cutover/bench/replication.md"),
            contender_timeout: Duration::from_secs(if quick { 120 } else { 900 }),
        }
    }
}

/// One contender's measurement (or why there is none).
#[derive(Debug, Clone)]
pub struct Figure {
    pub contender: Contender,
    pub outcome: std::result::Result<Timing, String>,
}

/// Records and bytes counted after the clock started, and the times.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub records: u64,
    pub bytes: u64,
    /// From 5 % to 100 % copied.
    pub secs: f64,
    /// From the contender's start to 5 % copied.
    pub start_secs: f64,
}

impl Timing {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.secs.max(1e-9)
    }
    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs.max(1e-9) / 1e6
    }
}

/// What the contenders share.
struct Bench {
    runtime: tokio::runtime::Runtime,
    source: Box<dyn Cluster>,
    target: Box<dyn Cluster>,
    version: KafkaVersion,
    records: u64,
    bytes: u64,
    base_tuning: Vec<(String, String)>,
    timeout: Duration,
    mm2: Option<harness::MirrorMaker2>,
}

/// Starts the clusters, writes the source, runs every contender in order, writes the table.
/// A contender that fails is a row saying why; the others still run.
pub fn run(options: &Options) -> Result<Table> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    // Deleted contender topics leave the disk within a second, not a minute: a gigabyte per
    // contender would otherwise pile up during the matrix.
    let spec = |name: &str| {
        ClusterSpec::new(name)
            .broker_config("group.initial.rebalance.delay.ms", "0")
            .broker_config("file.delete.delay.ms", "1000")
    };
    let (s, t) = (spec("bench-src"), spec("bench-tgt"));
    let version = t.kafka_version.clone();
    let (source, target) = runtime.block_on(async {
        let (a, b) = tokio::join!(harness::start(&s), harness::start(&t));
        (a, b)
    });
    let (source, target) = (
        source.context("starting the source cluster")?,
        target.context("starting the target cluster")?,
    );
    runtime
        .block_on(
            source
                .admin()?
                .create_topic(&TopicSpec::new(SOURCE_TOPIC, PARTITIONS, 1)),
        )
        .context("creating the source topic")?;
    let started = Instant::now();
    let bytes = fill(
        &source.bootstrap_servers(),
        options.records,
        options.value_bytes,
    )?;
    let fill_secs = started.elapsed().as_secs_f64();
    println!(
        "source: {} records of {} B over {PARTITIONS} partitions written in {fill_secs:.1} s",
        options.records, options.value_bytes
    );
    let mut bench = Bench {
        runtime,
        source,
        target,
        version,
        records: options.records,
        bytes,
        base_tuning: options.base_tuning.clone(),
        timeout: options.contender_timeout,
        mm2: None,
    };
    let mut figures = Vec::new();
    for (index, contender) in options.contenders.iter().enumerate() {
        println!("running: {} {}", contender.name, contender.setting);
        let outcome = bench
            .measure(index, contender)
            .map_err(|e| format!("{e:#}"));
        match &outcome {
            Ok(t) => println!(
                "  {:.0} records/s, {:.1} MB/s, {:.2} s (start {:.1} s)",
                t.rate(),
                t.mbps(),
                t.secs,
                t.start_secs
            ),
            Err(e) => println!("  failed: {e}"),
        }
        figures.push(Figure {
            contender: contender.clone(),
            outcome,
        });
    }
    let _ = bench.runtime.block_on(async {
        let a = bench.source.shutdown().await;
        let b = bench.target.shutdown().await;
        a.and(b)
    });
    let mut table = Table {
        records: options.records,
        value_bytes: options.value_bytes,
        bytes,
        fill_secs,
        figures,
        markdown: String::new(),
    };
    table.markdown = render(&table, &options.base_tuning);
    if let Some(dir) = options.table_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&options.table_path, &table.markdown)
        .with_context(|| format!("writing {}", options.table_path.display()))?;
    Ok(table)
}

impl Bench {
    fn measure(&mut self, index: usize, contender: &Contender) -> Result<Timing> {
        // Each contender writes its own topic, removed afterwards: 1 GB per contender would
        // otherwise pile up on the target's disk.
        let topic = format!("c{index}.{SOURCE_TOPIC}");
        let result = match &contender.kind {
            Kind::CopyLimit => self.copy_limit(&topic),
            Kind::ProduceLimit => self.produce_limit(&topic),
            Kind::Builtin {
                mode,
                tuning,
                instances,
            } => self.builtin(index, mode, tuning, *instances),
            Kind::MirrorMaker2 {
                exactly_once,
                producer,
            } => self.mirrormaker2(index, *exactly_once, producer),
        };
        let admin = self.target.admin()?;
        let topics = self
            .runtime
            .block_on(admin.list_topics())
            .unwrap_or_default();
        for t in topics {
            if t.ends_with(&format!(".{SOURCE_TOPIC}")) {
                let _ = self.runtime.block_on(admin.delete_topic(&t));
            }
        }
        result
    }

    /// The copy limit: assign every partition, consume, produce, no guarantees.
    fn copy_limit(&self, topic: &str) -> Result<Timing> {
        self.create_target_topic(topic)?;
        let began = Instant::now();
        let consumer: BaseConsumer = harness::reader::read_only(
            ClientConfig::new().set("bootstrap.servers", self.source.bootstrap_servers()),
            "bench-limit",
        )
        .set("fetch.max.bytes", "52428800")
        .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(SOURCE_TOPIC, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let p = producer(&self.target.bootstrap_servers(), DefaultProducerContext)?;
        let records = self.records;
        let deadline = began + self.timeout;
        let mut n = 0u64;
        let mut first: Option<Instant> = None;
        while n < records {
            if Instant::now() > deadline {
                bail!("only {n} of {records} records copied in {:?}", self.timeout);
            }
            let Some(Ok(m)) = consumer.poll(Duration::from_secs(1)) else {
                continue;
            };
            if n == records / 20 {
                first = Some(Instant::now());
            }
            let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(m.partition());
            if let Some(k) = m.key() {
                r = r.key(k);
            }
            if let Some(v) = m.payload() {
                r = r.payload(v);
            }
            send(&p, r);
            n += 1;
        }
        p.flush(Duration::from_secs(120))?;
        Ok(self.timing(began, first))
    }

    /// The target's produce limit: the same records produced straight into it, timed by
    /// acknowledgements.
    fn produce_limit(&self, topic: &str) -> Result<Timing> {
        self.create_target_topic(topic)?;
        let began = Instant::now();
        let acked = Arc::new(AtomicU64::new(0));
        let p = producer(&self.target.bootstrap_servers(), CountAcks(acked.clone()))?;
        let value_bytes = (self.bytes / self.records.max(1)) as usize - KEY_BYTES;
        let mut first: Option<Instant> = None;
        let mut value = vec![b'x'; value_bytes];
        for i in 0..self.records {
            let (partition, seq) = place(i);
            value[..SEQ_BYTES].copy_from_slice(&seq.to_be_bytes());
            let key = key_of(i);
            let r = BaseRecord::to(topic)
                .key(key.as_bytes())
                .payload(&value[..])
                .partition(partition);
            send(&p, r);
            if first.is_none() && acked.load(Ordering::Relaxed) >= self.records / 20 {
                first = Some(Instant::now());
            }
        }
        // A small run may send everything before the first acknowledgement.
        let deadline = began + self.timeout;
        while first.is_none() && Instant::now() < deadline {
            if acked.load(Ordering::Relaxed) >= self.records / 20 {
                first = Some(Instant::now());
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        p.flush(Duration::from_secs(120))?;
        let done = acked.load(Ordering::Relaxed);
        if done < self.records {
            bail!("{done} of {} records acknowledged", self.records);
        }
        Ok(self.timing(began, first))
    }

    /// The built-in replicator in this process (`instances` engines sharing a group), copying
    /// `bench` to `c<index>.bench` until every record is made safe on the target.
    fn builtin(
        &self,
        index: usize,
        mode: &str,
        tuning: &[(String, String)],
        instances: u32,
    ) -> Result<Timing> {
        let mut merged: BTreeMap<String, String> = self.base_tuning.iter().cloned().collect();
        merged.extend(tuning.iter().cloned());
        let tuning_text: String = merged.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let text = format!(
            r#"[replication]
mode = "{mode}"
group_id = "bench-c{index}"
include = "{SOURCE_TOPIC}"
rename = {{ prefix = "c{index}." }}

[tuning]
{tuning_text}
[source]
bootstrap.servers = "{source}"

[target]
bootstrap.servers = "{target}"
"#,
            source = self.source.bootstrap_servers(),
            target = self.target.bootstrap_servers(),
        );
        let config = Arc::new(ReplicatorConfig::from_toml(&text, "bench")?);
        let began = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut engines = Vec::new();
        for _ in 0..instances.max(1) {
            let metrics = Metrics::new();
            let (config, m, stop, handle) = (
                config.clone(),
                metrics.clone(),
                stop.clone(),
                self.runtime.handle().clone(),
            );
            let thread =
                std::thread::spawn(move || replicator::engine::run(config, m, handle, stop));
            engines.push((metrics, thread));
        }
        let copied = || -> u64 { engines.iter().map(|(m, _)| m.totals().records).sum() };
        let result = self.clock(began, || {
            if engines.iter().any(|(_, t)| t.is_finished()) {
                bail!("a replicator engine stopped before the copy was done");
            }
            Ok(copied())
        });
        stop.store(true, Ordering::Release);
        for (_, thread) in engines {
            match thread.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if result.is_err() => {
                    return Err(anyhow!("replicator: {e}"));
                }
                _ => {}
            }
        }
        result
    }

    /// MirrorMaker 2 in dedicated mode (one JVM, the scenarios' generated `mm2.properties`
    /// with `tasks.max` 4), its own worker group, internal topics and target topic name per
    /// run so the second run does not resume from the first one's offsets.
    fn mirrormaker2(
        &mut self,
        index: usize,
        exactly_once: bool,
        producer_overrides: &[(String, String)],
    ) -> Result<Timing> {
        if self.mm2.is_none() {
            let prepared = self
                .runtime
                .block_on(harness::MirrorMaker2::prepare(&self.version, |_| {}))?;
            self.mm2 = Some(prepared);
        }
        let runtime = self.mm2.clone().ok_or_else(|| anyhow!("MirrorMaker 2"))?;
        let mut system = SystemSpec::mirrormaker2(1, exactly_once);
        let tag = format!("c{index}");
        let heap_mb = match &mut system {
            SystemSpec::Mirrormaker2 {
                worker,
                properties,
                producer,
                grace_secs,
                heap_mb,
                ..
            } => {
                producer.extend(producer_overrides.iter().cloned());
                // Target topic `source.c<index>.bench`.
                properties.insert("replication.policy.separator".into(), format!(".{tag}."));
                for (key, suffix) in [
                    ("group.id", "group"),
                    ("offset.storage.topic", "offsets"),
                    ("config.storage.topic", "configs"),
                    ("status.storage.topic", "status"),
                ] {
                    worker.insert(key.into(), format!("bench-mm2-{tag}-{suffix}"));
                }
                *grace_secs = 5.0;
                *heap_mb
            }
            _ => bail!("not a MirrorMaker 2 system"),
        };
        let dir = tempfile::tempdir().context("MirrorMaker 2 work dir")?;
        let (sb, tb) = (
            self.source.bootstrap_servers(),
            self.target.bootstrap_servers(),
        );
        let config = scenarios::mirrormaker::config(
            &system,
            dir.path(),
            &scenarios::mirrormaker::Clusters {
                source_bootstrap: &sb,
                target_bootstrap: &tb,
                source_props: Vec::new(),
                target_props: Vec::new(),
                source_brokers: 1,
                target_brokers: 1,
            },
            &[SOURCE_TOPIC.to_string()],
        )?;
        let target_topic = config.rename.target_of(SOURCE_TOPIC);
        let began = Instant::now();
        let launcher = Launcher {
            mm2: Some(Mm2Launch {
                runtime,
                config,
                heap_mb,
            }),
            ..Launcher::new(
                system,
                dir.path(),
                sb,
                tb.clone(),
                vec![SOURCE_TOPIC.into()],
            )
        };
        let mut instances = scenarios::system::launch(launcher, 1)?;
        let mut tail = TailCounter::new(&tb, &target_topic)?;
        let result = self.clock(began, || {
            if let Some((i, status)) = instances.exited().into_iter().next() {
                let log = std::fs::read_to_string(dir.path().join(format!("instance-{i}.log")))
                    .unwrap_or_default();
                let last: Vec<&str> = log.lines().rev().take(20).collect();
                bail!(
                    "MirrorMaker 2 exited ({status}); its log ends:\n{}",
                    last.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tail.copied()
        });
        instances.stop_all();
        result
    }

    /// Polls `copied` until every record is there: the clock runs from 5 % to 100 %.
    fn clock(&self, began: Instant, mut copied: impl FnMut() -> Result<u64>) -> Result<Timing> {
        let deadline = began + self.timeout;
        let mut first: Option<Instant> = None;
        loop {
            let n = copied()?;
            let now = Instant::now();
            if first.is_none() && n >= self.records / 20 {
                first = Some(now);
            }
            if n >= self.records {
                return Ok(self.timing(began, first));
            }
            if now > deadline {
                bail!(
                    "only {n} of {} records copied in {:?}",
                    self.records,
                    self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The 95 % of the records copied after the clock started.
    fn timing(&self, began: Instant, first: Option<Instant>) -> Timing {
        let counted = self.records - self.records / 20;
        let first = first.unwrap_or(began);
        Timing {
            records: counted,
            bytes: self.bytes / self.records.max(1) * counted,
            secs: first.elapsed().as_secs_f64(),
            start_secs: first.duration_since(began).as_secs_f64(),
        }
    }

    fn create_target_topic(&self, topic: &str) -> Result<()> {
        self.runtime
            .block_on(
                self.target
                    .admin()?
                    .create_topic(&TopicSpec::new(topic, PARTITIONS, 1)),
            )
            .with_context(|| format!("creating {topic}"))
    }
}

/// Key length of every record (`key-00000000`).
const KEY_BYTES: usize = 12;

fn key_of(i: u64) -> String {
    format!("key-{:08}", i % 100_000)
}

/// Record `i`'s partition and its index within that partition.
fn place(i: u64) -> (i32, u64) {
    ((i % PARTITIONS as u64) as i32, i / PARTITIONS as u64)
}

fn producer<C: ProducerContext + 'static>(
    bootstrap: &str,
    context: C,
) -> Result<ThreadedProducer<C>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create_with_context(context)?)
}

/// Sends, waiting while the local queue is full.
fn send<C>(p: &ThreadedProducer<C>, mut r: BaseRecord<'_, [u8], [u8]>)
where
    C: ProducerContext<DeliveryOpaque = ()> + 'static,
{
    loop {
        match p.send(r) {
            Ok(()) => return,
            Err((_, back)) => {
                r = back;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// Counts successful deliveries.
struct CountAcks(Arc<AtomicU64>);

impl ClientContext for CountAcks {}

impl ProducerContext for CountAcks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes the source data; returns key + value bytes. Values start with the record's index
/// within its partition (big-endian), padded with `x`.
fn fill(bootstrap: &str, records: u64, value_bytes: usize) -> Result<u64> {
    let p = producer(bootstrap, DefaultProducerContext)?;
    let mut value = vec![b'x'; value_bytes.max(SEQ_BYTES)];
    let mut bytes = 0;
    for i in 0..records {
        let (partition, seq) = place(i);
        value[..SEQ_BYTES].copy_from_slice(&seq.to_be_bytes());
        let key = key_of(i);
        send(
            &p,
            BaseRecord::to(SOURCE_TOPIC)
                .key(key.as_bytes())
                .payload(&value[..])
                .partition(partition),
        );
        bytes += (key.len() + value.len()) as u64;
    }
    p.flush(Duration::from_secs(300))?;
    Ok(bytes)
}

/// How many records reached a target topic, from the index in the last committed record of
/// each partition (read_committed, so an open transaction's records do not count yet).
struct TailCounter {
    consumer: BaseConsumer<harness::quiet::QuietEof>,
    topic: String,
    copied: Vec<u64>,
    exists: bool,
}

impl TailCounter {
    fn new(bootstrap: &str, topic: &str) -> Result<TailCounter> {
        let consumer = harness::reader::read_only(
            ClientConfig::new().set("bootstrap.servers", bootstrap),
            "bench-tail",
        )
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create_with_context(harness::quiet::QuietEof)?;
        Ok(TailCounter {
            consumer,
            topic: topic.into(),
            copied: vec![0; PARTITIONS as usize],
            exists: false,
        })
    }

    fn copied(&mut self) -> Result<u64> {
        if !self.exists {
            // The system creates the topic; assigning before would only wait for errors.
            let md = self
                .consumer
                .fetch_metadata(Some(&self.topic), Duration::from_secs(2));
            self.exists = md.is_ok_and(|md| {
                md.topics().first().is_some_and(|t| {
                    t.error().is_none() && t.partitions().len() as i32 >= PARTITIONS
                })
            });
            if !self.exists {
                std::thread::sleep(Duration::from_millis(200));
                return Ok(0);
            }
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(&self.topic, p, Offset::OffsetTail(64))?;
        }
        self.consumer.assign(&tpl)?;
        let mut at_end = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while at_end.len() < PARTITIONS as usize && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if let Some(seq) = m
                        .payload()
                        .and_then(|v| v.get(..SEQ_BYTES))
                        .and_then(|b| <[u8; SEQ_BYTES]>::try_from(b).ok())
                    {
                        let slot = &mut self.copied[m.partition() as usize % PARTITIONS as usize];
                        *slot = (*slot).max(u64::from_be_bytes(seq) + 1);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(_)) | None => {}
            }
        }
        // Polled every ~200 ms: each look reads at most 64 records per partition.
        std::thread::sleep(Duration::from_millis(150));
        Ok(self.copied.iter().sum())
    }
}
