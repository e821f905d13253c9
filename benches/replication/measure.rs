//! The measurement: the options of a run, two clusters, the source written once, every
//! contender timed from 5 % to 100 % copied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
use replicator::ReplicatorConfig;
use scenarios::spec::{SystemOverride, SystemSpec};
use scenarios::system::mirrormaker2::Mirrormaker2;
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
    /// The partitions axis: one source topic per count, each holding `axis_records` records
    /// of `value_bytes`, copied by every system of `axis_systems` (empty: no axis).
    pub partitions_axis: Vec<i32>,
    pub axis_records: u64,
    pub axis_systems: Vec<AxisSystem>,
    /// The whole axis stops by then: rows not started are reported as not run.
    pub axis_budget: Duration,
    /// The `cutover` executable the axis runs the built-in replicator with (`cutover
    /// replicate`, a child process, so its threads and memory are its own).
    pub cutover_exe: PathBuf,
    /// Every contender runs this many times, in rounds whose order alternates (forward,
    /// backward, …), and reports its median: the machine's speed drifts by 2× within minutes.
    pub rounds: u32,
}

impl Options {
    /// From the environment: `CUTOVER_BENCH_QUICK=1` (20 k records of 512 B),
    /// `CUTOVER_BENCH_RECORDS` (1 M), `CUTOVER_BENCH_VALUE_BYTES` (1024),
    /// `CUTOVER_BENCH_MATRIX=1` (add the parameter matrix), `CUTOVER_BENCH_ONLY` (a comma list of
    /// words; a contender runs when its name or setting contains one; the word `partitions`
    /// keeps the partitions axis, which runs only when named then), the base tuning
    /// `CUTOVER_BENCH_COMMIT_MS`, `CUTOVER_BENCH_LINGER_MS`, `CUTOVER_BENCH_COMPRESSION`, and
    /// the partitions axis: `CUTOVER_BENCH_PARTITIONS` (`12,300,3000`; `off` for none),
    /// `CUTOVER_BENCH_AXIS_RECORDS` (the records of every axis topic; `CUTOVER_BENCH_RECORDS`),
    /// `CUTOVER_BENCH_AXIS_BUDGET_SECS` (the whole axis; 2,400, quick 600).
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
            Contender::mirrormaker2_connect(false),
            Contender::mirrormaker2_connect(true),
        ];
        if flag("CUTOVER_BENCH_MATRIX") {
            contenders.extend(matrix());
        }
        let mut partitions_axis = match std::env::var("CUTOVER_BENCH_PARTITIONS") {
            Ok(v) => parse_partitions(&v),
            Err(_) => vec![12, 300, 3000],
        };
        let mut axis_systems = AxisSystem::ALL.to_vec();
        if let Ok(only) = std::env::var("CUTOVER_BENCH_ONLY") {
            let mut words: Vec<String> = only
                .split(',')
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
            let axis = words.iter().any(|w| w == AXIS_WORD);
            if !axis {
                partitions_axis.clear();
            }
            words.retain(|w| w != AXIS_WORD);
            // `CUTOVER_BENCH_ONLY=partitions`: the axis alone (it has its own copy limits).
            if axis && words.is_empty() {
                contenders.clear();
            }
            contenders.retain(|c| {
                c.section == Section::Baseline && c.name == "copy limit"
                    || words.iter().any(|w| {
                        c.name.to_lowercase().contains(w) || c.setting.to_lowercase().contains(w)
                    })
            });
            // With other words too, the axis keeps the copy limit and the systems they name.
            if axis && !words.is_empty() {
                axis_systems.retain(|a| {
                    *a == AxisSystem::CopyLimit
                        || words.iter().any(|w| a.name().to_lowercase().contains(w))
                });
            }
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
            partitions_axis,
            axis_records: num("CUTOVER_BENCH_AXIS_RECORDS", records),
            axis_systems,
            axis_budget: Duration::from_secs(num(
                "CUTOVER_BENCH_AXIS_BUDGET_SECS",
                if quick { 600 } else { 2400 },
            )),
            cutover_exe: PathBuf::from(env!("CARGO_BIN_EXE_cutover")),
            rounds: num("CUTOVER_BENCH_ROUNDS", if quick { 1 } else { 3 }).max(1) as u32,
        }
    }
}

/// The word of `CUTOVER_BENCH_ONLY` that keeps the partitions axis.
pub const AXIS_WORD: &str = "partitions";

/// `12,300,3000` → the counts, sorted, without duplicates; `off`, `0` or nothing → none.
pub fn parse_partitions(text: &str) -> Vec<i32> {
    let mut counts: Vec<i32> = text
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .filter(|&n: &i32| n > 0)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// One contender's measurement (or why there is none), with what it cost.
#[derive(Debug, Clone)]
pub struct Figure {
    pub contender: Contender,
    pub outcome: std::result::Result<Timing, String>,
    /// CPU and memory while the clock ran (None when not sampled).
    pub usage: Option<Usage>,
    /// The rate of each round that copied everything (records/s), in round order; `outcome`
    /// and `usage` are the median round's.
    pub rounds: Vec<f64>,
}

/// How often a contender's `/proc` figures are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

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

/// What the contenders share. `records` and `bytes` are those of the topic being copied (the
/// main topic's, then each axis topic's); `timeout` bounds one contender.
pub struct Bench {
    pub runtime: tokio::runtime::Runtime,
    pub source: Box<dyn Cluster>,
    pub target: Box<dyn Cluster>,
    pub version: KafkaVersion,
    pub records: u64,
    pub bytes: u64,
    pub base_tuning: Vec<(String, String)>,
    pub timeout: Duration,
    pub mm2: Option<harness::MirrorMaker2>,
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
    // Thousands of partitions need more than a test broker's 512 MiB heap (as the seed-scale
    // scenarios give theirs).
    let heap_mb = if options.partitions_axis.iter().any(|&p| p >= 1000) {
        2048
    } else {
        ClusterSpec::new("x").heap_mb
    };
    let spec = |name: &str| {
        let mut spec = ClusterSpec::new(name)
            .broker_config("group.initial.rebalance.delay.ms", "0")
            .broker_config("file.delete.delay.ms", "1000");
        spec.heap_mb = heap_mb;
        // Throughput: brokers with C2, as the figures in docs/tuning.md were measured.
        spec.full_jit = true;
        spec
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
    // Only the axis (`CUTOVER_BENCH_ONLY=partitions`): the main topic is not written.
    let (bytes, fill_secs) = if options.contenders.is_empty() {
        (0, 0.0)
    } else {
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
            SOURCE_TOPIC,
            PARTITIONS,
            options.records,
            options.value_bytes,
        )?;
        let fill_secs = started.elapsed().as_secs_f64();
        println!(
            "source: {} records of {} B over {PARTITIONS} partitions written in {fill_secs:.1} s",
            options.records, options.value_bytes
        );
        (bytes, fill_secs)
    };
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
    // Per contender, every round's measurement; rounds alternate their order so that a drift
    // of the machine's speed during the run weighs on every contender alike.
    let mut measured: Vec<Vec<Round>> = vec![Vec::new(); options.contenders.len()];
    for round in 0..options.rounds.max(1) {
        let mut order: Vec<usize> = (0..options.contenders.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let contender = &options.contenders[index];
            println!(
                "running (round {} of {}): {} {}",
                round + 1,
                options.rounds.max(1),
                contender.name,
                contender.setting
            );
            // A fresh group, target topic and internal topics per round: a second run of the
            // same group would resume where the first stopped, with nothing left to copy.
            let run_index = round as usize * options.contenders.len() + index;
            let m = bench
                .measure(run_index, contender, &options.cutover_exe)
                .map_err(|e| format!("{e:#}"));
            match &m {
                Ok((t, usage)) => println!(
                    "  {:.0} records/s, {:.1} MB/s, {:.2} s (start {:.1} s){}{}",
                    t.rate(),
                    t.mbps(),
                    t.secs,
                    t.start_secs,
                    usage
                        .as_ref()
                        .and_then(|u| u.cpu_per_gb(t).map(|c| (c, u.peak_rss_kib)))
                        .map_or(String::new(), |(c, rss)| format!(
                            ", {c:.1} CPU s/GB, peak RSS {:.0} MiB",
                            rss as f64 / 1024.0
                        )),
                    usage
                        .as_ref()
                        .and_then(|u| Some((u.machine_per_gb(t)?, u.machine?.busy_share())))
                        .map_or(String::new(), |(m, busy)| format!(
                            "; machine {m:.1} CPU s/GB, {:.0} % busy",
                            100.0 * busy
                        ))
                ),
                Err(e) => println!("  failed: {e}"),
            }
            measured[index].push(m);
        }
    }
    let figures: Vec<Figure> = options
        .contenders
        .iter()
        .zip(measured)
        .map(|(contender, rounds)| median_figure(contender, rounds))
        .collect();
    let axis = if options.partitions_axis.is_empty() {
        None
    } else {
        Some(bench.partitions_axis(options))
    };
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
        axis,
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

/// The last 20 lines of instance `i`'s log in `dir` (why a contender's process exited).
fn log_tail(dir: &Path, i: u32) -> String {
    let log = std::fs::read_to_string(dir.join(format!("instance-{i}.log"))).unwrap_or_default();
    let last: Vec<&str> = log.lines().rev().take(20).collect();
    last.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// One round of a contender: its timing and usage, or why it failed.
type Round = std::result::Result<(Timing, Option<Usage>), String>;

/// A contender's figure from its rounds: the median round by rate among those that copied
/// everything (the lower middle of an even count); failed when none did (the first failure).
fn median_figure(contender: &Contender, rounds: Vec<Round>) -> Figure {
    let rates: Vec<f64> = rounds
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(t, _)| t.rate()))
        .collect();
    let mut ok: Vec<(Timing, Option<Usage>)> = rounds
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    ok.sort_by(|a, b| a.0.rate().total_cmp(&b.0.rate()));
    let (outcome, usage) = if ok.is_empty() {
        let first = rounds
            .into_iter()
            .find_map(|r| r.err())
            .unwrap_or_else(|| "not run".into());
        (Err(first), None)
    } else {
        let (t, u) = ok[(ok.len() - 1) / 2];
        (Ok(t), u)
    };
    Figure {
        contender: contender.clone(),
        outcome,
        usage,
        rounds: rates,
    }
}

impl Bench {
    fn measure(
        &mut self,
        index: usize,
        contender: &Contender,
        cutover_exe: &Path,
    ) -> Result<(Timing, Option<Usage>)> {
        // Each contender writes its own topic, removed afterwards: 1 GB per contender would
        // otherwise pile up on the target's disk.
        let topic = format!("c{index}.{SOURCE_TOPIC}");
        let result = match &contender.kind {
            Kind::CopyLimit => self.in_process(|b| b.copy_limit(SOURCE_TOPIC, PARTITIONS, &topic)),
            Kind::ProduceLimit => self.in_process(|b| b.produce_limit(&topic)),
            Kind::Builtin {
                mode,
                tuning,
                instances,
            } => self.builtin(index, mode, tuning, *instances, cutover_exe),
            Kind::MirrorMaker2 {
                exactly_once,
                producer,
            } => self.mirrormaker2(
                index,
                *exactly_once,
                producer,
                SOURCE_TOPIC,
                PARTITIONS,
                Some(SAMPLE_EVERY),
            ),
            Kind::MirrorMaker2Connect { exactly_once } => self.mirrormaker2_connect(
                index,
                *exactly_once,
                SOURCE_TOPIC,
                PARTITIONS,
                Some(SAMPLE_EVERY),
            ),
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

    /// A contender that runs in the bench's own process: its CPU is the process's while the
    /// clock runs (the bench does nothing else meanwhile).
    pub fn in_process(
        &self,
        run: impl FnOnce(&Self) -> Result<Timing>,
    ) -> Result<(Timing, Option<Usage>)> {
        let began = Instant::now();
        let sampler = Sampler::this_process(SAMPLE_EVERY);
        let result = run(self);
        let usage = sampler.finish_from(result.as_ref().ok().map(|t| t.clock_start(began)));
        result.map(|t| (t, Some(usage)))
    }

    /// The copy limit: assign every partition of `source_topic`, consume, produce into
    /// `topic`, no guarantees.
    pub fn copy_limit(&self, source_topic: &str, partitions: i32, topic: &str) -> Result<Timing> {
        self.create_target_topic(topic, partitions)?;
        let began = Instant::now();
        let consumer: BaseConsumer = harness::reader::read_only(
            ClientConfig::new().set("bootstrap.servers", self.source.bootstrap_servers()),
            "bench-limit",
        )
        .set("fetch.max.bytes", "52428800")
        .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(source_topic, p, Offset::Beginning)?;
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
        Ok(self.timing(began, first.unwrap_or(began), records / 20))
    }

    /// The target's produce limit: the same records produced straight into it, timed by
    /// acknowledgements.
    fn produce_limit(&self, topic: &str) -> Result<Timing> {
        self.create_target_topic(topic, PARTITIONS)?;
        let began = Instant::now();
        let acked = Arc::new(AtomicU64::new(0));
        let p = producer(&self.target.bootstrap_servers(), CountAcks(acked.clone()))?;
        let value_bytes = (self.bytes / self.records.max(1)) as usize - KEY_BYTES;
        let mut first: Option<Instant> = None;
        let mut value = vec![b'x'; value_bytes];
        for i in 0..self.records {
            let (partition, seq) = place(i, PARTITIONS);
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
        Ok(self.timing(began, first.unwrap_or(began), self.records / 20))
    }

    /// The built-in replicator as users run it: `instances` `cutover replicate` processes
    /// sharing a group, copying `bench` to `c<index>.bench`, timed by their metrics
    /// (`cutover_replicator_records_total`, records made safe on the target), their CPU and
    /// memory sampled from `/proc`.
    fn builtin(
        &self,
        index: usize,
        mode: &str,
        tuning: &[(String, String)],
        instances: u32,
        cutover_exe: &Path,
    ) -> Result<(Timing, Option<Usage>)> {
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
        // Refused here rather than by a child that exits at once.
        ReplicatorConfig::from_toml(&text, "bench")?;
        let system = SystemSpec::mirrormaker2(1, true).overridden(SystemOverride::Builtin);
        self.replicate_children(system, &text, SOURCE_TOPIC, instances, cutover_exe, 45)
    }

    /// Runs `instances` `cutover replicate` processes with `config_text` (as `cutover run`
    /// starts them) until every record is made safe on the target, timed by their metrics
    /// (`cutover_replicator_records_total`, scraped every `scrape_ms`), each process sampled
    /// from `/proc` (CPU and memory summed over the instances).
    pub fn replicate_children(
        &self,
        system: SystemSpec,
        config_text: &str,
        topic: &str,
        instances: u32,
        cutover_exe: &Path,
        scrape_ms: u64,
    ) -> Result<(Timing, Option<Usage>)> {
        let dir = tempfile::tempdir().context("replicator work dir")?;
        let config_path = dir.path().join("replicator.toml");
        std::fs::write(&config_path, config_text)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let began = Instant::now();
        let launcher = Launcher {
            cutover_exe: cutover_exe.to_path_buf(),
            ..Launcher::new(
                scenarios::system::builtin::Builtin::prepared(system, config_path),
                dir.path(),
                self.source.bootstrap_servers(),
                self.target.bootstrap_servers(),
                vec![topic.into()],
            )
        };
        let mut children = scenarios::system::launch(launcher, instances.max(1))?;
        let mut watched = Vec::new();
        for i in 0..instances.max(1) {
            let Some(running) = children.running.get(&i) else {
                bail!("replicator instance {i} did not start");
            };
            let port = running
                .metrics_port
                .ok_or_else(|| anyhow!("replicator instance {i} has no metrics port"))?;
            watched.push((port, Sampler::start(running.child.id(), SAMPLE_EVERY)));
        }
        let mut copied = vec![0u64; watched.len()];
        let result = self.clock(began, || {
            if let Some((i, status)) = children.exited().into_iter().next() {
                bail!(
                    "replicator instance {i} exited ({status}); its log ends:\n{}",
                    log_tail(dir.path(), i)
                );
            }
            // Thousands of partitions make a big page: not scraped every 5 ms.
            std::thread::sleep(Duration::from_millis(scrape_ms));
            for ((port, _), n) in watched.iter().zip(copied.iter_mut()) {
                if let Some(body) = scenarios::system::builtin::fetch(*port) {
                    *n = (*n).max(records_total(&body));
                }
            }
            Ok(copied.iter().sum())
        });
        let from = result.as_ref().ok().map(|t| t.clock_start(began));
        let usages: Vec<Usage> = watched
            .into_iter()
            .map(|(_, sampler)| sampler.finish_from(from))
            .collect();
        children.stop_all();
        result.map(|t| (t, Usage::sum(&usages)))
    }

    /// MirrorMaker 2 in dedicated mode (one JVM, the scenarios' generated `mm2.properties`
    /// with `tasks.max` 4), its own worker group, internal topics and target topic name per
    /// run so the second run does not resume from the first one's offsets. With a `usage`
    /// sampler, the JVM's threads and memory are sampled until the copy is done.
    pub fn mirrormaker2(
        &mut self,
        index: usize,
        exactly_once: bool,
        producer_overrides: &[(String, String)],
        source_topic: &str,
        partitions: i32,
        usage: Option<Duration>,
    ) -> Result<(Timing, Option<Usage>)> {
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
        let config = scenarios::system::mirrormaker2::config(
            &system,
            dir.path(),
            &scenarios::system::mirrormaker2::Clusters {
                source_bootstrap: &sb,
                target_bootstrap: &tb,
                source_props: Vec::new(),
                target_props: Vec::new(),
                source_brokers: 1,
                target_brokers: 1,
            },
            &[source_topic.to_string()],
            &[],
        )?;
        let target_topic = config.rename.target_of(source_topic);
        let began = Instant::now();
        let launcher = Launcher::new(
            Mirrormaker2::prepared(
                system,
                Mm2Launch {
                    runtime,
                    config,
                    heap_mb,
                },
            ),
            dir.path(),
            sb,
            tb.clone(),
            vec![source_topic.into()],
        );
        let mut instances = scenarios::system::launch(launcher, 1)?;
        let sampler = match (usage, instances.pid(0)) {
            (Some(every), Some(pid)) => Some(Sampler::start(pid, every)),
            _ => None,
        };
        let mut tail = TailCounter::new(&tb, &target_topic, partitions, self.records)?;
        let result = self.clock(began, || {
            if let Some((i, status)) = instances.exited().into_iter().next() {
                bail!(
                    "MirrorMaker 2 exited ({status}); its log ends:\n{}",
                    log_tail(dir.path(), i)
                );
            }
            tail.copied()
        });
        let from = result.as_ref().ok().map(|t| t.clock_start(began));
        let usage = sampler.map(|s| s.finish_from(from));
        instances.stop_all();
        result.map(|t| (t, usage))
    }

    /// MirrorMaker 2's MirrorSourceConnector on a one-worker Kafka Connect cluster (distributed
    /// mode, its internal topics on the target), deployed through REST with the scenarios'
    /// `mirrormaker2` preset, the same tasks and heap as the dedicated-mode row; timed like it.
    /// The worker's start and the connector's deployment are not counted (the clock starts at
    /// 5 % copied).
    pub fn mirrormaker2_connect(
        &mut self,
        index: usize,
        exactly_once: bool,
        source_topic: &str,
        partitions: i32,
        usage: Option<Duration>,
    ) -> Result<(Timing, Option<Usage>)> {
        use scenarios::system::connect::{connectors, ConnectorClusters, MIRROR_SOURCE};
        let dedicated = SystemSpec::mirrormaker2(1, exactly_once);
        let system = dedicated.overridden(if exactly_once {
            SystemOverride::Mirrormaker2ConnectEos
        } else {
            SystemOverride::Mirrormaker2Connect
        });
        let SystemSpec::Connect {
            heap_mb,
            worker_properties,
            ..
        } = &system
        else {
            bail!("not a Connect system");
        };
        let tag = format!("c{index}");
        let (sb, tb) = (
            self.source.bootstrap_servers(),
            self.target.bootstrap_servers(),
        );
        let mut spec = harness::connect::ConnectSpec::new(
            format!("bench-{tag}"),
            harness::ClientProps::bootstrap(tb.clone()),
        );
        spec.version = self.version.clone();
        spec.workers = 1;
        spec.group_id = format!("bench-connect-{tag}");
        spec.exactly_once_source = exactly_once;
        spec.heap_mb = *heap_mb;
        spec.worker_props = worker_properties.clone();
        let mut deployed = connectors(
            &system,
            &ConnectorClusters {
                source_bootstrap: &sb,
                target_bootstrap: &tb,
                source_props: Vec::new(),
                target_props: Vec::new(),
                source_brokers: 1,
                target_brokers: 1,
            },
            &[source_topic.to_string()],
            &[],
        );
        for (_, config) in &mut deployed {
            // Target topic `source.c<index>.bench`, as the dedicated-mode row names its own.
            config.insert(
                "replication.policy.class".into(),
                "org.apache.kafka.connect.mirror.DefaultReplicationPolicy".into(),
            );
            config.insert("replication.policy.separator".into(), format!(".{tag}."));
        }
        let target_topic = format!("source.{tag}.{source_topic}");
        let began = Instant::now();
        let mut cluster = self
            .runtime
            .block_on(harness::connect::ConnectCluster::start(spec))
            .context("starting the Connect worker")?;
        let rest = cluster.rest()?;
        for (name, config) in &deployed {
            rest.put_connector_config(name, config, Duration::from_secs(60))
                .with_context(|| format!("deploying {name}"))?;
        }
        rest.wait_running(MIRROR_SOURCE, Duration::from_secs(120))
            .context("MirrorSourceConnector running")?;
        let sampler = match (usage, cluster.pid(0)) {
            (Some(every), Some(pid)) => Some(Sampler::start(pid, every)),
            _ => None,
        };
        let mut tail = TailCounter::new(&tb, &target_topic, partitions, self.records)?;
        let result = self.clock(began, || tail.copied());
        let from = result.as_ref().ok().map(|t| t.clock_start(began));
        let usage = sampler.map(|s| s.finish_from(from));
        cluster.stop_all(Duration::from_secs(5));
        result.map(|t| (t, usage))
    }

    /// Polls `copied` until every record is there: the clock runs from 5 % to 100 %.
    pub fn clock(&self, began: Instant, mut copied: impl FnMut() -> Result<u64>) -> Result<Timing> {
        let deadline = began + self.timeout;
        // The clock starts at the last observation below the 5 % mark (when that observation
        // began) and counts the records copied after it: an observation that is slow beside
        // the copy (MirrorMaker 2's tail of 3,000 partitions takes seconds) makes the rate
        // lower, never absurd (the first observation past 5 % may already see everything).
        let mut before = (began, 0u64);
        loop {
            let asked = Instant::now();
            let n = copied()?;
            let now = Instant::now();
            if n >= self.records {
                return Ok(self.timing(began, before.0, before.1));
            }
            if n < self.records / 20 {
                before = (asked, n);
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

    /// The records copied after the clock started at `start` (`done` of them were there by
    /// then), timed until now; `began` is when the contender was started.
    fn timing(&self, began: Instant, start: Instant, done: u64) -> Timing {
        let counted = self.records - done;
        Timing {
            records: counted,
            bytes: self.bytes / self.records.max(1) * counted,
            secs: start.elapsed().as_secs_f64(),
            start_secs: start.duration_since(began).as_secs_f64(),
        }
    }

    /// Creates a target topic; thousands of partitions on one broker take a while.
    pub fn create_target_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        create_topic(&self.runtime, &*self.target, topic, partitions)
    }
}

/// Creates `topic` on `cluster` (a generous timeout: thousands of partitions on one broker
/// take a while).
pub fn create_topic(
    runtime: &tokio::runtime::Runtime,
    cluster: &dyn Cluster,
    topic: &str,
    partitions: i32,
) -> Result<()> {
    runtime
        .block_on(
            cluster
                .admin()?
                .with_timeout(Duration::from_secs(180))
                .create_topic(&TopicSpec::new(topic, partitions, 1)),
        )
        .with_context(|| format!("creating {topic}"))
}

/// Key length of every record (`key-00000000`).
const KEY_BYTES: usize = 12;

fn key_of(i: u64) -> String {
    format!("key-{:08}", i % 100_000)
}

/// Record `i`'s partition and its index within that partition, over `partitions`.
fn place(i: u64, partitions: i32) -> (i32, u64) {
    let n = partitions.max(1) as u64;
    ((i % n) as i32, i / n)
}

/// How many of `records` records `place` puts in each of `partitions` partitions.
fn per_partition(records: u64, partitions: i32) -> Vec<u64> {
    let n = partitions.max(1) as u64;
    (0..n)
        .map(|p| records / n + u64::from(p < records % n))
        .collect()
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

/// Writes `records` records over `partitions` partitions of `topic`; returns key + value
/// bytes (the same for any partition count). Values start with the record's index within its
/// partition (big-endian), padded with `x`.
pub fn fill(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    value_bytes: usize,
) -> Result<u64> {
    let p = producer(bootstrap, DefaultProducerContext)?;
    let mut value = vec![b'x'; value_bytes.max(SEQ_BYTES)];
    let mut bytes = 0;
    for i in 0..records {
        let (partition, seq) = place(i, partitions);
        value[..SEQ_BYTES].copy_from_slice(&seq.to_be_bytes());
        let key = key_of(i);
        send(
            &p,
            BaseRecord::to(topic)
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
/// each partition (read_committed, so an open transaction's records do not count yet). A
/// partition that holds all its records is not looked at again; at thousands of partitions
/// each look reads a few records per partition, not 64 (the last offset of a partition is a
/// transaction marker, the one before it the last record of the last committed transaction;
/// a look that finds none keeps the count it had).
struct TailCounter {
    consumer: BaseConsumer<harness::quiet::QuietEof>,
    topic: String,
    partitions: i32,
    copied: Vec<u64>,
    expected: Vec<u64>,
    depth: i64,
    exists: bool,
}

impl TailCounter {
    fn new(bootstrap: &str, topic: &str, partitions: i32, records: u64) -> Result<TailCounter> {
        let consumer = harness::reader::read_only(
            ClientConfig::new().set("bootstrap.servers", bootstrap),
            "bench-tail",
        )
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("max.partition.fetch.bytes", "65536")
        .create_with_context(harness::quiet::QuietEof)?;
        Ok(TailCounter {
            consumer,
            topic: topic.into(),
            partitions,
            copied: vec![0; partitions.max(1) as usize],
            expected: per_partition(records, partitions),
            depth: (64 * 12 / i64::from(partitions.max(1))).clamp(4, 64),
            exists: false,
        })
    }

    fn copied(&mut self) -> Result<u64> {
        if !self.exists {
            // The system creates the topic; assigning before would only wait for errors.
            let md = self
                .consumer
                .fetch_metadata(Some(&self.topic), Duration::from_secs(5));
            self.exists = md.is_ok_and(|md| {
                md.topics().first().is_some_and(|t| {
                    t.error().is_none() && t.partitions().len() as i32 >= self.partitions
                })
            });
            if !self.exists {
                std::thread::sleep(Duration::from_millis(200));
                return Ok(0);
            }
        }
        let mut tpl = TopicPartitionList::new();
        let mut looking = 0usize;
        for p in 0..self.partitions {
            if self.copied[p as usize] < self.expected[p as usize] {
                tpl.add_partition_offset(&self.topic, p, Offset::OffsetTail(self.depth))?;
                looking += 1;
            }
        }
        if looking == 0 {
            return Ok(self.copied.iter().sum());
        }
        self.consumer.assign(&tpl)?;
        let mut at_end = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(10 + looking as u64 / 100);
        while at_end.len() < looking && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if let Some(seq) = m
                        .payload()
                        .and_then(|v| v.get(..SEQ_BYTES))
                        .and_then(|b| <[u8; SEQ_BYTES]>::try_from(b).ok())
                    {
                        if let Some(slot) = self.copied.get_mut(m.partition() as usize) {
                            *slot = (*slot).max(u64::from_be_bytes(seq) + 1);
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(_)) | None => {}
            }
        }
        // Polled every ~200 ms: each look reads at most `depth` records per partition.
        std::thread::sleep(Duration::from_millis(150));
        Ok(self.copied.iter().sum())
    }
}
