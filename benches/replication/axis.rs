//! The partitions axis: the same volume over 12, 300 and 3,000 partitions (one source topic
//! per count, `bench-p<N>`), copied at each count by the copy limit, the built-in replicator
//! exactly-once and MirrorMaker 2 exactly-once, both configured as the scenarios configure them.
//! The two systems run as child processes (`cutover replicate`, MirrorMaker 2's JVM) whose
//! `/proc/<pid>/status` is sampled during the copy: peak `Threads`, and peak resident memory
//! (the larger of the sampled `VmRSS` peak and `VmHWM` read just before the process is
//! stopped). The built-in replicator's progress is its own `cutover_replicator_records_total`
//! (records committed on the target) from its `/metrics`; MirrorMaker 2's is the tail of
//! every target partition, read_committed, as in the main table.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use scenarios::spec::{SystemOverride, SystemSpec};

use super::*;

/// What copies an axis topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisSystem {
    /// The plain consume → produce loop in this process (threads and memory not sampled).
    CopyLimit,
    /// `cutover replicate`, exactly-once, the scenarios' defaults, one instance.
    BuiltinEos,
    /// MirrorMaker 2 exactly-once, the scenarios' defaults, one dedicated-mode JVM.
    Mm2Eos,
    /// MirrorMaker 2's connector on a one-worker Kafka Connect cluster, exactly-once off.
    Mm2Connect,
    /// MirrorMaker 2's connector on a one-worker Kafka Connect cluster, exactly-once on.
    Mm2ConnectEos,
}

impl AxisSystem {
    pub const ALL: [AxisSystem; 5] = [
        AxisSystem::CopyLimit,
        AxisSystem::BuiltinEos,
        AxisSystem::Mm2Eos,
        AxisSystem::Mm2Connect,
        AxisSystem::Mm2ConnectEos,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AxisSystem::CopyLimit => "copy limit",
            AxisSystem::BuiltinEos => "built-in exactly-once",
            AxisSystem::Mm2Eos => "MirrorMaker 2 exactly-once",
            AxisSystem::Mm2Connect => "MirrorMaker 2 on Connect exactly-once off",
            AxisSystem::Mm2ConnectEos => "MirrorMaker 2 on Connect exactly-once",
        }
    }
}

/// A process's peak threads and resident memory while it copied, and the CPU its process
/// tree burnt while the clock ran.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub peak_threads: u64,
    pub peak_rss_kib: u64,
    pub samples: u64,
    /// User + system CPU seconds of the process and its descendants from the clock's start
    /// (5 % copied) to the end of the copy; None when the window is unknown.
    pub cpu_secs: Option<f64>,
    /// The contender ran inside the bench's own process: its CPU is the process's (the bench
    /// does nothing else meanwhile) but its memory cannot be told apart (`peak_rss_kib` 0).
    pub in_process: bool,
    /// The whole machine over the same window (brokers, contender and bench).
    pub machine: Option<machine::MachineWindow>,
}

impl Usage {
    /// CPU seconds per gigabyte (10^9 bytes) copied while the clock ran.
    pub fn cpu_per_gb(&self, t: &Timing) -> Option<f64> {
        let cpu = self.cpu_secs?;
        (t.bytes > 0).then(|| cpu / (t.bytes as f64 / 1e9))
    }

    /// Several processes of one contender (instances): CPU summed, memory summed (they run
    /// side by side), threads summed.
    pub fn sum(all: &[Usage]) -> Option<Usage> {
        let first = all.first()?;
        Some(Usage {
            peak_threads: all.iter().map(|u| u.peak_threads).sum(),
            peak_rss_kib: all.iter().map(|u| u.peak_rss_kib).sum(),
            samples: all.iter().map(|u| u.samples).min().unwrap_or(0),
            cpu_secs: all.iter().map(|u| u.cpu_secs).sum::<Option<f64>>(),
            in_process: first.in_process,
            // One machine: the instances' windows are the same window.
            machine: first.machine,
        })
    }

    /// The whole machine's CPU seconds per GB copied while the clock ran.
    pub fn machine_per_gb(&self, t: &Timing) -> Option<f64> {
        self.machine?.per_gb(t.bytes)
    }

    /// CPU seconds per GB burnt by everything but the contender (the brokers, the bench):
    /// what a copier that burnt nothing would still cost the machine.
    pub fn others_per_gb(&self, t: &Timing) -> Option<f64> {
        Some((self.machine_per_gb(t)? - self.cpu_per_gb(t)?).max(0.0))
    }
}

/// User + system CPU seconds of `pid` and, with `tree`, every process below it
/// (`/proc/<pid>/stat` fields 14 and 15; children from `/proc/<pid>/task/*/children`). None
/// when `pid` is gone. The bench's own process is counted without its tree: the brokers are
/// its children.
pub fn tree_cpu_secs(pid: u32, tree: bool) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let mut total = 0u64;
    let mut stack = vec![pid];
    let mut seen = std::collections::BTreeSet::new();
    let mut any = false;
    while let Some(p) = stack.pop() {
        if !seen.insert(p) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // The command name (field 2) may hold spaces: fields are counted after its ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(u), Some(s)) = (
            fields.get(11).and_then(|v| v.parse::<u64>().ok()),
            fields.get(12).and_then(|v| v.parse::<u64>().ok()),
        ) else {
            continue;
        };
        any = true;
        total += u + s;
        if !tree {
            break;
        }
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for task in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                    stack.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
    }
    any.then(|| total as f64 / ticks)
}

/// One row of the axis.
#[derive(Debug, Clone)]
pub struct AxisFigure {
    pub partitions: i32,
    pub system: AxisSystem,
    pub outcome: std::result::Result<(Timing, Option<Usage>), String>,
}

impl AxisFigure {
    pub fn rate(&self) -> Option<f64> {
        self.outcome.as_ref().ok().map(|(t, _)| t.rate())
    }
}

/// The axis's result: the rows, and how long each source topic took to write.
#[derive(Debug, Clone)]
pub struct Axis {
    pub records: u64,
    pub bytes: u64,
    pub fills: Vec<(i32, f64)>,
    pub figures: Vec<AxisFigure>,
    pub budget: Duration,
}

impl Axis {
    /// The rate of `system` at `partitions`, when that row copied everything.
    pub fn rate(&self, partitions: i32, system: AxisSystem) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.partitions == partitions && f.system == system)
            .and_then(AxisFigure::rate)
    }
}

/// Samples `/proc/<pid>/status` and the process tree's CPU every `every` on a thread of its
/// own until `finish`.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    pid: u32,
    /// The process's descendants counted too (a contender's process tree; not the bench's).
    tree: bool,
    thread: std::thread::JoinHandle<Samples>,
}

/// A sampler's series: the process tree's CPU seconds and the machine's counters, each with
/// when it was read.
#[derive(Default)]
struct Samples {
    usage: Usage,
    cpu: Vec<(Instant, f64)>,
    machine: Vec<(Instant, machine::MachineCpu)>,
}

impl Sampler {
    pub fn start(pid: u32, every: Duration) -> Sampler {
        Sampler::sampling(pid, true, every)
    }

    fn sampling(pid: u32, tree: bool, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Samples::default();
            while !flag.load(Ordering::Acquire) {
                samples.usage.sample(pid);
                if let Some(c) = tree_cpu_secs(pid, tree) {
                    samples.cpu.push((Instant::now(), c));
                }
                if let Some(m) = machine::MachineCpu::now() {
                    samples.machine.push((Instant::now(), m));
                }
                std::thread::sleep(every);
            }
            samples
        });
        Sampler {
            stop,
            pid,
            tree,
            thread,
        }
    }

    /// The bench's own process (a contender that runs in it), without its children: the
    /// brokers it started.
    pub fn this_process(every: Duration) -> Sampler {
        Sampler::sampling(std::process::id(), false, every)
    }

    /// Stops sampling (the process must still run: its `VmHWM` and CPU are read last).
    pub fn finish(self) -> Usage {
        self.finish_from(None)
    }

    /// Like `finish`, with the CPU burnt since `from` (the clock's start: the last sample at
    /// or before it).
    pub fn finish_from(self, from: Option<Instant>) -> Usage {
        self.stop.store(true, Ordering::Release);
        let Samples {
            mut usage,
            cpu,
            machine,
        } = self.thread.join().unwrap_or_default();
        usage.sample(self.pid);
        // The last sample at or before the clock's start (the first when none is).
        fn at_start<T>(series: &[(Instant, T)], from: Instant) -> Option<&T> {
            series
                .iter()
                .rev()
                .find(|(at, _)| *at <= from)
                .or(series.first())
                .map(|(_, v)| v)
        }
        let end = tree_cpu_secs(self.pid, self.tree);
        usage.cpu_secs = match (from, end) {
            (Some(from), Some(end)) => at_start(&cpu, from).map(|start| (end - start).max(0.0)),
            _ => None,
        };
        usage.machine = match (from, machine::MachineCpu::now()) {
            (Some(from), Some(end)) => at_start(&machine, from).map(|start| end.since(start)),
            _ => None,
        };
        usage.in_process = self.pid == std::process::id();
        if usage.in_process {
            usage.peak_rss_kib = 0;
        }
        usage
    }
}

impl Timing {
    /// When the clock started, for a contender started at `began`.
    pub fn clock_start(&self, began: Instant) -> Instant {
        began + Duration::from_secs_f64(self.start_secs)
    }
}

impl Usage {
    fn sample(&mut self, pid: u32) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        };
        if let Some(n) = field("Threads:") {
            self.peak_threads = self.peak_threads.max(n);
        }
        for name in ["VmRSS:", "VmHWM:"] {
            if let Some(kib) = field(name) {
                self.peak_rss_kib = self.peak_rss_kib.max(kib);
            }
        }
        self.samples += 1;
    }
}

/// Name of the source topic of `partitions` partitions.
pub fn axis_topic(partitions: i32) -> String {
    format!("bench-p{partitions}")
}

impl Bench {
    /// Runs the axis: per count, creates and fills its source topic, runs every system on it,
    /// deletes it. Stops starting rows once `axis_budget` is spent (they are reported as not
    /// run); each row is bounded by what is left of it and by the contender timeout.
    pub fn partitions_axis(&mut self, options: &Options) -> Axis {
        let began = Instant::now();
        let deadline = began + options.axis_budget;
        let mut axis = Axis {
            records: options.axis_records,
            bytes: 0,
            fills: Vec::new(),
            figures: Vec::new(),
            budget: options.axis_budget,
        };
        let contender_timeout = options.contender_timeout;
        self.records = options.axis_records;
        let mut index = 1000;
        for &partitions in &options.partitions_axis {
            let topic = axis_topic(partitions);
            let filled = if Instant::now() >= deadline {
                Err(anyhow!(
                    "not run: the axis's budget of {:?} was spent",
                    options.axis_budget
                ))
            } else {
                self.fill_axis_topic(&topic, partitions, options)
            };
            let filled = match filled {
                Ok((bytes, secs)) => {
                    axis.bytes = bytes;
                    axis.fills.push((partitions, secs));
                    Ok(bytes)
                }
                Err(e) => Err(format!("{e:#}")),
            };
            for &system in &options.axis_systems {
                index += 1;
                let now = Instant::now();
                let outcome = match &filled {
                    Err(e) => Err(e.clone()),
                    Ok(_) if now >= deadline => Err(format!(
                        "not run: the axis's budget of {:?} was spent",
                        options.axis_budget
                    )),
                    Ok(bytes) => {
                        self.bytes = *bytes;
                        self.timeout = contender_timeout.min(deadline - now);
                        println!("running: {} at {partitions} partitions", system.name());
                        let r = self
                            .axis_row(index, system, &topic, partitions, options)
                            .map_err(|e| format!("{e:#}"));
                        self.delete_target_topics();
                        r
                    }
                };
                match &outcome {
                    Ok((t, u)) => println!(
                        "  {:.0} records/s, {:.1} MB/s, {:.2} s (start {:.1} s){}",
                        t.rate(),
                        t.mbps(),
                        t.secs,
                        t.start_secs,
                        u.map_or(String::new(), |u| format!(
                            ", peak {} threads, {:.0} MiB",
                            u.peak_threads,
                            u.peak_rss_kib as f64 / 1024.0
                        ))
                    ),
                    Err(e) => println!("  failed: {e}"),
                }
                axis.figures.push(AxisFigure {
                    partitions,
                    system,
                    outcome,
                });
            }
            if let Ok(admin) = self.source.admin() {
                let _ = self.runtime.block_on(admin.delete_topic(&topic));
            }
        }
        self.timeout = contender_timeout;
        axis
    }

    fn fill_axis_topic(
        &self,
        topic: &str,
        partitions: i32,
        options: &Options,
    ) -> Result<(u64, f64)> {
        create_topic(&self.runtime, &*self.source, topic, partitions)
            .context("creating the axis's source topic")?;
        let started = Instant::now();
        let bytes = fill(
            &self.source.bootstrap_servers(),
            topic,
            partitions,
            options.axis_records,
            options.value_bytes,
        )?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "source: {} records of {} B over {partitions} partitions ({topic}) written in {secs:.1} s",
            options.axis_records, options.value_bytes
        );
        Ok((bytes, secs))
    }

    fn axis_row(
        &mut self,
        index: usize,
        system: AxisSystem,
        topic: &str,
        partitions: i32,
        options: &Options,
    ) -> Result<(Timing, Option<Usage>)> {
        match system {
            AxisSystem::CopyLimit => {
                self.in_process(|b| b.copy_limit(topic, partitions, &format!("c{index}.{topic}")))
            }
            AxisSystem::BuiltinEos => {
                self.builtin_child(index, topic, partitions, &options.cutover_exe)
            }
            AxisSystem::Mm2Eos => {
                self.mirrormaker2(index, true, &[], topic, partitions, Some(SAMPLE_EVERY))
            }
            AxisSystem::Mm2Connect | AxisSystem::Mm2ConnectEos => self.mirrormaker2_connect(
                index,
                system == AxisSystem::Mm2ConnectEos,
                topic,
                partitions,
                Some(SAMPLE_EVERY),
            ),
        }
    }

    /// `cutover replicate` as `cutover run` starts it (`scenarios::system`), exactly-once, the
    /// scenarios' defaults (`builtin_config`), its own group and target topic `c<index>.<topic>`.
    fn builtin_child(
        &self,
        index: usize,
        topic: &str,
        partitions: i32,
        cutover_exe: &Path,
    ) -> Result<(Timing, Option<Usage>)> {
        let mut system = SystemSpec::mirrormaker2(1, true).overridden(SystemOverride::Builtin);
        if let SystemSpec::Builtin { replication, .. } = &mut system {
            replication.insert("group_id".into(), format!("bench-c{index}").into());
            let mut rename = toml::Table::new();
            rename.insert("prefix".into(), format!("c{index}.").into());
            replication.insert("rename".into(), rename.into());
        }
        let workload = workload::WorkloadSpec::from_toml(
            &format!(
                "records = {}\n[topics]\nnames = [\"{topic}\"]\npartitions = {partitions}\n",
                self.records
            ),
            "bench",
        )?;
        let (sb, tb) = (
            self.source.bootstrap_servers(),
            self.target.bootstrap_servers(),
        );
        let text = scenarios::system::builtin_config(
            &system,
            &harness::ClientProps::bootstrap(sb.clone()),
            &harness::ClientProps::bootstrap(tb.clone()),
            &workload,
            &[],
            &[],
        )?;
        self.replicate_children(system, &text, topic, 1, cutover_exe, 200)
    }

    /// Deletes every topic on the target but Kafka's own: the row's copy, the systems'
    /// checkpoints, slots and Connect topics (thousands of partitions must not pile up).
    fn delete_target_topics(&self) {
        let Ok(admin) = self.target.admin() else {
            return;
        };
        let topics = self
            .runtime
            .block_on(admin.list_topics())
            .unwrap_or_default();
        for t in topics.iter().filter(|t| !t.starts_with("__")) {
            let _ = self.runtime.block_on(admin.delete_topic(t));
        }
    }
}

/// The sum of `cutover_replicator_records_total` over its topics in a `/metrics` body.
pub fn records_total(body: &str) -> u64 {
    body.lines()
        .filter(|l| {
            l.strip_prefix("cutover_replicator_records_total")
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
