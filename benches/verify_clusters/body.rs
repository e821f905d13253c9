//! The real-cluster checker bench's body: two real 1-broker clusters holding the same records
//! in one topic per partition count, read three ways — a plain read of both sides by the same
//! client library (no hashing, no matching: the ceiling), `cutover verify` (one process), and
//! `cutover verify --group` (two processes sharing the partitions, then `--merge`). Shared by
//! `benches/verify_clusters.rs` (`cargo bench`) and `tests/bench_smoke.rs` (a tiny run in the
//! debug suite, so it cannot rot) through `#[path]`.

// The smoke test uses only part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use harness::{Cluster, ClusterSpec, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

// The smoke test includes the replication bench's body too, with this same module.
#[allow(clippy::duplicate_mod)]
#[path = "../replication/machine.rs"]
pub mod machine;
use machine::{MachineCpu, MachineWindow};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Records in each topic (both sides).
    pub records: u64,
    pub value_bytes: usize,
    /// One topic per count.
    pub partitions: Vec<i32>,
    /// The `cutover` executable.
    pub cutover_exe: PathBuf,
    /// `cutover verify --workers` (the plain read uses as many threads per side).
    pub workers: u32,
    /// Rounds of the plain read and `cutover verify`, in alternating order (plain first, then
    /// verify first, …); each row reports the medians.
    pub rounds: u32,
}

impl Options {
    /// From the environment: `CUTOVER_BENCH_RECORDS` (1 M), `CUTOVER_BENCH_VALUE_BYTES` (1024),
    /// `CUTOVER_BENCH_PARTITIONS` (`12,3000`), `CUTOVER_BENCH_WORKERS` (2),
    /// `CUTOVER_BENCH_ROUNDS` (3); `CUTOVER_BENCH_QUICK=1`: 20 k records of 512 B over 12 and
    /// 300 partitions, one round.
    pub fn from_env(cutover_exe: PathBuf) -> Options {
        let quick = std::env::var("CUTOVER_BENCH_QUICK").is_ok_and(|v| v == "1");
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or(default)
        };
        let partitions = std::env::var("CUTOVER_BENCH_PARTITIONS")
            .ok()
            .map(|v| {
                v.split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| if quick { vec![12, 300] } else { vec![12, 3000] });
        Options {
            records: num(
                "CUTOVER_BENCH_RECORDS",
                if quick { 20_000 } else { 1_000_000 },
            ),
            value_bytes: num("CUTOVER_BENCH_VALUE_BYTES", if quick { 512 } else { 1024 }) as usize,
            partitions,
            cutover_exe,
            workers: num("CUTOVER_BENCH_WORKERS", 2) as u32,
            rounds: num("CUTOVER_BENCH_ROUNDS", if quick { 1 } else { 3 }).max(1) as u32,
        }
    }
}

/// One partition count's figures.
#[derive(Debug, Clone)]
pub struct Row {
    pub partitions: i32,
    /// Bytes of both sides (keys + values).
    pub bytes: u64,
    /// Medians of the rounds.
    pub plain_secs: f64,
    pub verify_secs: f64,
    /// Every round's time, in the order run.
    pub plain_rounds: Vec<f64>,
    pub verify_rounds: Vec<f64>,
    /// User + system CPU seconds `cutover verify` (one process) burnt, per round (mean).
    pub verify_cpu_secs: f64,
    /// The whole machine (both brokers, the reader) during every round of each way, summed.
    pub plain_machine: MachineWindow,
    pub verify_machine: MachineWindow,
    pub group_secs: f64,
    /// `cutover verify`'s verdict and records matched.
    pub verify_status: String,
    pub matched: u64,
    /// The merged `--group` verdict says the same (status, matched, every count).
    pub group_identical: bool,
    pub group_status: String,
}

impl Row {
    /// `cutover verify`'s rate as a share of the plain read's.
    pub fn ratio(&self) -> f64 {
        self.plain_secs / self.verify_secs.max(1e-9)
    }
    pub fn speed_up(&self) -> f64 {
        self.verify_secs / self.group_secs.max(1e-9)
    }
    /// `cutover verify`'s CPU seconds per GB of both sides read.
    pub fn cpu_per_gb(&self) -> f64 {
        self.verify_cpu_secs / (self.bytes as f64 / 1e9).max(1e-12)
    }

    /// The whole machine's CPU seconds per GB read during the plain read's rounds.
    fn plain_machine_per_gb(&self) -> f64 {
        per_gb_over(&self.plain_machine, self.bytes, self.plain_rounds.len())
    }

    /// The same during `cutover verify`'s rounds.
    fn verify_machine_per_gb(&self) -> f64 {
        per_gb_over(&self.verify_machine, self.bytes, self.verify_rounds.len())
    }

    /// The highest share of the plain read's rate a checker could reach on this machine if it
    /// did nothing but the plain read plus a SHA-256 fingerprint of every byte
    /// (`sha_secs_per_gb` on one core), with the machine saturated.
    pub fn reachable(&self, sha_secs_per_gb: f64) -> f64 {
        let plain = self.plain_machine_per_gb();
        machine::reachable_share(
            plain,
            self.plain_machine.busy_share(),
            plain + sha_secs_per_gb,
        )
    }
}

/// `w`'s CPU seconds per GB over `rounds` reads of `bytes` each.
fn per_gb_over(w: &MachineWindow, bytes: u64, rounds: usize) -> f64 {
    w.per_gb(bytes * rounds.max(1) as u64).unwrap_or(0.0)
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// CPU seconds one core spends per 10^9 bytes on cutover's record fingerprint (SHA-256 over
/// key, value and headers: `verify::fingerprint`), over records of `value_bytes`, for about
/// half a second.
pub fn sha_secs_per_gb(value_bytes: usize) -> f64 {
    let value = vec![0x5au8; value_bytes];
    let key = [b'0'; KEY_BYTES];
    let options = verify::fingerprint::FingerprintOptions::default();
    let (mut bytes, mut n) = (0u64, 0u64);
    let started = Instant::now();
    let mut acc = 0u8;
    while started.elapsed() < Duration::from_millis(500) || n < 1000 {
        let mut k = key;
        k[..8].copy_from_slice(&n.to_be_bytes());
        let view = verify::fingerprint::RecordView {
            key: Some(&k),
            value: Some(&value),
            headers: &[],
            timestamp: None,
        };
        acc ^= verify::fingerprint::fingerprint(&view, &options)[0];
        bytes += (KEY_BYTES + value_bytes) as u64;
        n += 1;
    }
    std::hint::black_box(acc);
    started.elapsed().as_secs_f64() / (bytes as f64 / 1e9)
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub rows: Vec<Row>,
    /// One core's CPU seconds per GB fingerprinted ([`sha_secs_per_gb`]).
    pub sha_secs_per_gb: f64,
    pub markdown: String,
}

const KEY_BYTES: usize = 16;

/// Starts the clusters, fills both sides identically, reads them three ways per count.
pub fn run(options: &Options) -> Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let heap_mb = if options.partitions.iter().any(|&p| p >= 1000) {
        2048
    } else {
        ClusterSpec::new("x").heap_mb
    };
    let spec = |name: &str| {
        let mut spec = ClusterSpec::new(name);
        spec.heap_mb = heap_mb;
        spec.full_jit = true;
        spec
    };
    let (s, t) = (spec("vbench-src"), spec("vbench-tgt"));
    let (source, target) = runtime.block_on(async {
        let (a, b) = tokio::join!(harness::start(&s), harness::start(&t));
        (a, b)
    });
    let (source, target) = (
        source.context("starting the source cluster")?,
        target.context("starting the target cluster")?,
    );
    let dir = tempfile::tempdir()?;
    let props = |name: &str, c: &dyn Cluster| -> Result<PathBuf> {
        let path = dir.path().join(format!("{name}.properties"));
        std::fs::write(
            &path,
            format!("bootstrap.servers={}\n", c.bootstrap_servers()),
        )?;
        Ok(path)
    };
    let (sp, tp) = (props("source", &*source)?, props("target", &*target)?);
    let mut rows = Vec::new();
    for &partitions in &options.partitions {
        let topic = format!("v{partitions}");
        for c in [&*source, &*target] {
            runtime
                .block_on(
                    c.admin()?
                        .create_topic(&TopicSpec::new(&topic, partitions, 1)),
                )
                .with_context(|| format!("creating {topic}"))?;
        }
        let started = Instant::now();
        let mut bytes = 0;
        for c in [&*source, &*target] {
            bytes += fill(&c.bootstrap_servers(), &topic, partitions, options)?;
        }
        println!(
            "{topic}: {} records of {} B on each side written in {:.1} s",
            options.records,
            options.value_bytes,
            started.elapsed().as_secs_f64()
        );
        // Alternating rounds: the brokers' JIT and page cache warm through the first ones,
        // and neither way should always be the one that runs on a colder broker.
        let (mut plain_rounds, mut verify_rounds) = (Vec::new(), Vec::new());
        let (mut plain_machine, mut verify_machine) =
            (MachineWindow::default(), MachineWindow::default());
        let mut verify_cpu_total = 0.0;
        let mut single = serde_json::Value::Null;
        for round in 0..options.rounds.max(1) {
            for way in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
                let before = MachineCpu::now();
                if way == 0 {
                    let secs = plain_read(&*source, &*target, &topic, partitions, options)?;
                    if let (Some(b), Some(a)) = (before, MachineCpu::now()) {
                        plain_machine = plain_machine.plus(&a.since(&b));
                    }
                    println!(
                        "  round {}: plain read of both sides: {secs:.2} s",
                        round + 1
                    );
                    plain_rounds.push(secs);
                } else {
                    let cpu_before = children_cpu_secs();
                    let (secs, verdict) = verify(options, &sp, &tp, &topic, None, dir.path())?;
                    verify_cpu_total += children_cpu_secs() - cpu_before;
                    if let (Some(b), Some(a)) = (before, MachineCpu::now()) {
                        verify_machine = verify_machine.plus(&a.since(&b));
                    }
                    if !single.is_null() && !same_verdict(&single, &verdict) {
                        bail!("cutover verify's verdict changed between rounds over {topic}");
                    }
                    println!("  round {}: cutover verify: {secs:.2} s", round + 1);
                    verify_rounds.push(secs);
                    single = verdict;
                }
            }
        }
        let (plain_secs, verify_secs) = (median(&plain_rounds), median(&verify_rounds));
        let verify_cpu_secs = verify_cpu_total / verify_rounds.len().max(1) as f64;
        println!(
            "  medians: plain read {plain_secs:.2} s, cutover verify {verify_secs:.2} s ({:.0} % of the plain read's rate)",
            100.0 * plain_secs / verify_secs
        );
        let (group_secs, merged) =
            verify(options, &sp, &tp, &topic, Some(2), &dir.path().join(&topic))?;
        println!("  cutover verify --group (2 processes) + --merge: {group_secs:.2} s");
        let status = |v: &serde_json::Value| v["status"].as_str().unwrap_or("?").to_string();
        rows.push(Row {
            partitions,
            bytes,
            plain_secs,
            verify_secs,
            plain_rounds,
            verify_rounds,
            verify_cpu_secs,
            plain_machine,
            verify_machine,
            group_secs,
            verify_status: status(&single),
            matched: single["tally"]["matched"].as_u64().unwrap_or(0),
            group_identical: same_verdict(&single, &merged),
            group_status: status(&merged),
        });
    }
    let _ = runtime.block_on(async {
        let a = source.shutdown().await;
        let b = target.shutdown().await;
        a.and(b)
    });
    let mut report = Report {
        options: options.clone(),
        rows,
        sha_secs_per_gb: sha_secs_per_gb(options.value_bytes),
        markdown: String::new(),
    };
    report.markdown = render(&report);
    Ok(report)
}

/// User + system CPU seconds of this process's children that have ended and been waited for
/// (`getrusage(RUSAGE_CHILDREN)`): around one `cutover verify`, its own CPU.
fn children_cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The verdicts agree on what they judged: status, and every count and tally figure.
fn same_verdict(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    a["status"] == b["status"] && a["counts"] == b["counts"] && a["tally"] == b["tally"]
}

struct Acks(Arc<AtomicU64>);
impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes the same `records` records (record i to partition i mod P) into `topic`; returns
/// the bytes written (keys + values).
fn fill(bootstrap: &str, topic: &str, partitions: i32, options: &Options) -> Result<u64> {
    let acked = Arc::new(AtomicU64::new(0));
    let p: ThreadedProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.type", "lz4")
        .create_with_context(Acks(acked.clone()))?;
    let mut value = vec![0u8; options.value_bytes];
    for i in 0..options.records {
        let key = format!("{i:0width$}", width = KEY_BYTES);
        let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for chunk in value.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_be_bytes()[..chunk.len()]);
        }
        let mut record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(&value[..])
            .partition((i % partitions as u64) as i32);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    if !matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        bail!("producing to {topic}: {e}");
                    }
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    p.flush(Duration::from_secs(300))?;
    let done = acked.load(Ordering::Relaxed);
    if done != options.records {
        bail!(
            "{done} of {} records acknowledged in {topic}",
            options.records
        );
    }
    Ok(options.records * (KEY_BYTES + options.value_bytes) as u64)
}

/// Reads every record of `topic` on both sides to its high watermark, `workers` consumers
/// per side (the partitions dealt out), touching each record's bytes and nothing more.
fn plain_read(
    source: &dyn Cluster,
    target: &dyn Cluster,
    topic: &str,
    partitions: i32,
    options: &Options,
) -> Result<f64> {
    let started = Instant::now();
    let mut threads = Vec::new();
    for bootstrap in [source.bootstrap_servers(), target.bootstrap_servers()] {
        for w in 0..options.workers.max(1) as i32 {
            let (bootstrap, topic) = (bootstrap.clone(), topic.to_string());
            let workers = options.workers.max(1) as i32;
            threads.push(std::thread::spawn(move || -> Result<u64> {
                let mine: Vec<i32> = (0..partitions).filter(|p| p % workers == w).collect();
                read_all(&bootstrap, &topic, &mine)
            }));
        }
    }
    let mut records = 0;
    for t in threads {
        records += t.join().map_err(|_| anyhow!("a reader panicked"))??;
    }
    if records != 2 * options.records {
        bail!(
            "the plain read saw {records} records, not {}",
            2 * options.records
        );
    }
    Ok(started.elapsed().as_secs_f64())
}

fn read_all(bootstrap: &str, topic: &str, partitions: &[i32]) -> Result<u64> {
    if partitions.is_empty() {
        return Ok(0);
    }
    let consumer: BaseConsumer = harness::reader::read_only(
        ClientConfig::new().set("bootstrap.servers", bootstrap),
        "vbench-plain",
    )
    .set("fetch.max.bytes", "52428800")
    .create()?;
    let mut left = 0i64;
    let mut ends = std::collections::HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(30))?;
        ends.insert(p, high);
        left += high;
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut n = 0u64;
    let mut checksum = 0u8;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while left > 0 {
        if Instant::now() > deadline {
            bail!("the plain read of {topic} did not finish");
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                // Touch the bytes as a reader that hands them on would.
                checksum ^= m.payload().and_then(|v| v.first()).copied().unwrap_or(0);
                checksum ^= m.key().and_then(|k| k.last()).copied().unwrap_or(0);
                n += 1;
                if ends.get(&m.partition()).is_some_and(|e| m.offset() < *e) {
                    left -= 1;
                }
            }
            Some(Err(e)) => bail!("reading {topic}: {e}"),
            None => {}
        }
    }
    std::hint::black_box(checksum);
    Ok(n)
}

/// `cutover verify` over `topic` (`group`: that many `--group` processes, then `--merge`);
/// the wall time of the whole and the (merged) verdict.
fn verify(
    options: &Options,
    source: &Path,
    target: &Path,
    topic: &str,
    group: Option<u32>,
    dir: &Path,
) -> Result<(f64, serde_json::Value)> {
    let common = |cmd: &mut Command| {
        cmd.arg("verify")
            .arg("--source")
            .arg(source)
            .arg("--target")
            .arg(target)
            .args(["--topics", topic, "--workers", &options.workers.to_string()])
            .env("CUTOVER_LOG", "warn")
            .stdin(Stdio::null());
    };
    let started = Instant::now();
    let verdict_text = match group {
        None => {
            let mut cmd = Command::new(&options.cutover_exe);
            common(&mut cmd);
            let out = cmd
                .arg("--json")
                .output()
                .context("running cutover verify")?;
            if !out.status.success() {
                bail!(
                    "cutover verify exited {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            String::from_utf8(out.stdout)?
        }
        Some(n) => {
            std::fs::create_dir_all(dir)?;
            let id = format!("vbench-{topic}-{}", std::process::id());
            let mut children = Vec::new();
            for i in 0..n {
                let member_dir = dir.join(format!("member-{i}"));
                let mut cmd = Command::new(&options.cutover_exe);
                common(&mut cmd);
                cmd.args(["--group", &id, "--group-settle", "2s", "--report-dir"])
                    .arg(&member_dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                children.push(cmd.spawn().context("running cutover verify --group")?);
            }
            for c in children {
                let out = c.wait_with_output()?;
                if !out.status.success() {
                    bail!(
                        "cutover verify --group exited {}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            let mut cmd = Command::new(&options.cutover_exe);
            cmd.args(["verify", "--json", "--merge"]);
            for i in 0..n {
                cmd.arg(dir.join(format!("member-{i}")));
            }
            let out = cmd.output().context("running cutover verify --merge")?;
            if !out.status.success() {
                bail!(
                    "cutover verify --merge exited {}: {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            String::from_utf8(out.stdout)?
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let verdict: serde_json::Value = serde_json::from_str(&verdict_text)
        .with_context(|| format!("the verdict JSON: {verdict_text}"))?;
    Ok((secs, verdict))
}

/// The Markdown table and the goal.
pub fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let o = &report.options;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Checker on real clusters\n\n{} records of {} B per side in one topic per partition \
         count, two 1-broker clusters on this machine ({} cores), measured {}. \"plain read\": \
         both sides read to their high watermarks by rdkafka, {} consumers per side, no \
         hashing or matching. \"verify\": `cutover verify --workers {}` (one process, both \
         sides). \"group\": two `cutover verify --group` processes splitting the partitions, \
         then `--merge`; the speed-up is against one process. Rates count both sides' bytes; \
         \"verify CPU s/GB\" is the user + system CPU of the one `cutover verify` process \
         (`getrusage` of its ended child) per 10^9 bytes of both sides. The plain read and \
         `cutover verify` ran {} round(s) each in alternating order (plain first, then verify \
         first, …): the rates are the medians, \"rounds s\" every round's time. \"machine CPU \
         s/GB\" counts everything on the machine (both brokers, the reader: `/proc/stat`) over \
         all rounds of that way, \"busy %\" the share of the cores it kept busy.\n",
        o.records,
        o.value_bytes,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        o.workers,
        o.workers,
        o.rounds,
    );
    let _ = writeln!(
        out,
        "| partitions | plain read MB/s | verify MB/s | verify / plain | plain rounds s | verify rounds s | verify CPU s/GB | machine CPU s/GB plain / verify | busy % plain / verify | verdict | group s | speed-up | merged verdict identical |\n| ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |"
    );
    for r in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.0} % | {} | {} | {:.1} | {:.1} / {:.1} | {:.0} / {:.0} | {} ({} matched) | {:.1} | {:.2}× | {} |",
            r.partitions,
            r.bytes as f64 / r.plain_secs / 1e6,
            r.bytes as f64 / r.verify_secs / 1e6,
            100.0 * r.ratio(),
            rounds(&r.plain_rounds),
            rounds(&r.verify_rounds),
            r.cpu_per_gb(),
            r.plain_machine_per_gb(),
            r.verify_machine_per_gb(),
            100.0 * r.plain_machine.busy_share(),
            100.0 * r.verify_machine.busy_share(),
            r.verify_status,
            r.matched,
            r.group_secs,
            r.speed_up(),
            if r.group_identical { "yes" } else { "NO" }
        );
    }
    let _ = writeln!(out, "\nGoal:\n");
    for r in &report.rows {
        let _ = writeln!(
            out,
            "- {} partitions: `cutover verify` ≥ 70 % of the plain read's rate: {:.0} % — {}",
            r.partitions,
            100.0 * r.ratio(),
            if r.ratio() >= 0.7 { "met" } else { "NOT met" }
        );
        let _ = writeln!(
            out,
            "  - on this machine: the plain read burnt {:.1} CPU s/GB (whole machine, {:.0} % busy) \
             and a SHA-256 fingerprint of every byte costs {:.2} s/GB on one core (measured in \
             this run): a checker that did only those two would reach at most {:.0} % of the \
             plain read's rate here",
            r.plain_machine_per_gb(),
            100.0 * r.plain_machine.busy_share(),
            report.sha_secs_per_gb,
            100.0 * r.reachable(report.sha_secs_per_gb).min(9.99)
        );
    }
    out
}

/// Every round's time, as the table shows them.
fn rounds(v: &[f64]) -> String {
    v.iter()
        .map(|s| format!("{s:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}
