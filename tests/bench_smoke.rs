//! The replication bench cannot rot: its body (`benches/replication/contenders.rs`, included
//! here) runs at a tiny volume on two real clusters in the debug test suite. Running the bench
//! binary itself would need the bench profile's LTO build (minutes); the bench's `main` is a
//! few lines over this same module, and `cargo clippy --all-targets` compiles it.

#[path = "../benches/replication/contenders.rs"]
mod contenders;

use contenders::{AxisSystem, Contender, Options};

#[test]
fn replication_bench_runs_a_tiny_iteration_and_writes_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        records: 3_000,
        value_bytes: 128,
        contenders: vec![
            Contender::copy_limit(),
            Contender::produce_limit(),
            Contender::builtin("at-least-once"),
            Contender::tuned("compression", "\"lz4\""),
        ],
        base_tuning: vec![("commit_interval_ms".into(), "100".into())],
        table_path: dir.path().join("bench/replication.md"),
        contender_timeout: std::time::Duration::from_secs(60),
        partitions_axis: Vec::new(),
        axis_records: 0,
        axis_systems: Vec::new(),
        axis_budget: std::time::Duration::ZERO,
        cutover_exe: env!("CARGO_BIN_EXE_cutover").into(),
        rounds: 2,
    };
    let table = contenders::run(&options).unwrap();
    for f in &table.figures {
        let t = f
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", f.contender.name));
        assert!(
            t.rate() > 0.0 && t.rate().is_finite(),
            "{}",
            f.contender.name
        );
        // Counted from the 5 % mark (exact copies) or from the last observation below it.
        assert!(
            (2_850..=3_000).contains(&t.records),
            "{}: {}",
            f.contender.name,
            t.records
        );
    }
    // What each row cost, from /proc: the built-in replicator as its own processes (CPU and
    // memory), the baselines in the bench's process (CPU only).
    for f in &table.figures {
        let u = f
            .usage
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no usage", f.contender.name));
        assert!(
            u.cpu_secs.is_some_and(|c| c >= 0.0),
            "{}: {u:?}",
            f.contender.name
        );
        assert_eq!(
            f.rounds.len(),
            2,
            "{}: one rate per round",
            f.contender.name
        );
        // The whole machine over the same window: it holds the contender's own CPU.
        let m = u
            .machine
            .unwrap_or_else(|| panic!("{}: no machine window", f.contender.name));
        assert!(
            m.capacity_secs > 0.0 && m.busy_secs <= m.capacity_secs,
            "{}: {m:?}",
            f.contender.name
        );
        assert!(
            m.busy_secs + 0.1 >= u.cpu_secs.unwrap_or(0.0),
            "{}: the machine burnt less than the contender alone: {u:?}",
            f.contender.name
        );
        let builtin = f.contender.name.starts_with("built-in");
        assert_eq!(u.in_process, !builtin, "{}: {u:?}", f.contender.name);
        assert_eq!(u.peak_rss_kib > 0, builtin, "{}: {u:?}", f.contender.name);
    }
    let md = std::fs::read_to_string(&options.table_path).unwrap();
    assert_eq!(md, table.markdown);
    for needle in [
        "| CPU s/GB | machine CPU s/GB | busy % | peak RSS MiB |",
        "  - on this machine: the produce limit burnt ",
        "- built-in exactly-once CPU per GB ≤ ¼ of MirrorMaker 2 exactly-once's: ",
        "| copy limit | default |",
        "| target produce limit | default |",
        "| built-in at-least-once | default |",
        "| built-in exactly-once | compression = \"lz4\" |",
        "ratio to copy limit",
        "- built-in at-least-once ≥ 90 % of the target's produce limit (medians): ",
        "- built-in exactly-once ≥ 80 % of the target's produce limit",
        "| rounds |",
        "MirrorMaker 2 exactly-once: not measured in this run",
    ] {
        assert!(md.contains(needle), "{needle:?} not in:\n{md}");
    }
    // The matrix row has a ratio to the exactly-once default only when that ran.
    assert!(table.copy_limit().is_some());
}

/// The baselines run in the bench's process, whose children are the brokers: its CPU is its
/// own, not its tree's, or a baseline's "CPU s/GB" would carry both brokers.
#[test]
fn the_bench_process_is_counted_without_the_processes_it_started() {
    let me = std::process::id();
    let mut child = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let seen = loop {
        let own = contenders::tree_cpu_secs(me, false).unwrap();
        let tree = contenders::tree_cpu_secs(me, true).unwrap();
        if tree - own >= 0.2 || std::time::Instant::now() > deadline {
            break tree - own;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen >= 0.2,
        "a busy child's CPU must show in the tree and not in the process's own: {seen}"
    );
}

#[test]
fn a_machine_window_counts_busy_time_against_capacity() {
    use contenders::machine::{reachable_share, MachineCpu};
    let a = MachineCpu::parse("cpu  100 0 50 800 50 0 0 0 0 0").unwrap();
    let b = MachineCpu::parse("cpu  250 0 100 900 50 0 0 0 0 0").unwrap();
    let w = b.since(&a);
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    assert!((w.busy_secs - 200.0 / ticks).abs() < 1e-9, "{w:?}");
    assert!((w.capacity_secs - 300.0 / ticks).abs() < 1e-9, "{w:?}");
    assert!((w.busy_share() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(w.per_gb(2_000_000_000), Some(w.busy_secs / 2.0));
    // Only the aggregate line is the machine.
    assert!(MachineCpu::parse("cpu0 1 2 3 4 5").is_none());
    assert!(MachineCpu::now().is_some());
    // The ceiling burnt 4 s/GB at 100 % busy and the brokers alone burn 8 s/GB during a copy:
    // even a copier that burnt nothing reaches half the ceiling; against a ceiling measured
    // on a half-idle machine, all of it.
    assert!((reachable_share(4.0, 1.0, 8.0) - 0.5).abs() < 1e-9);
    assert!((reachable_share(4.0, 0.5, 8.0) - 1.0).abs() < 1e-9);
}

/// The partitions axis alone (`CUTOVER_BENCH_ONLY=partitions`), tiny: two partition counts,
/// the copy limit and the built-in replicator as a child process (`cutover replicate`, its
/// threads and memory sampled), its table and its goals said met or NOT met.
#[test]
fn replication_bench_partitions_axis_runs_tiny_and_samples_the_replicator() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        records: 2_000,
        value_bytes: 128,
        contenders: Vec::new(),
        base_tuning: Vec::new(),
        table_path: dir.path().join("replication.md"),
        contender_timeout: std::time::Duration::from_secs(90),
        partitions_axis: vec![2, 40],
        axis_records: 2_000,
        axis_systems: vec![AxisSystem::CopyLimit, AxisSystem::BuiltinEos],
        axis_budget: std::time::Duration::from_secs(240),
        cutover_exe: env!("CARGO_BIN_EXE_cutover").into(),
        rounds: 1,
    };
    let table = contenders::run(&options).unwrap();
    let axis = table.axis.as_ref().expect("the axis ran");
    assert_eq!(axis.figures.len(), 4, "{}", table.markdown);
    for f in &axis.figures {
        let (t, usage) = f
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("{} at {}: {e}", f.system.name(), f.partitions));
        assert!((1_900..=2_000).contains(&t.records), "{}", t.records);
        match f.system {
            AxisSystem::BuiltinEos => {
                let u = usage.expect("the replicator was sampled");
                // A tokio runtime and librdkafka clients: more than a handful of threads.
                assert!(u.peak_threads > 4, "{u:?}");
                assert!(u.peak_rss_kib > 1024, "{u:?}");
                assert!(u.cpu_secs.is_some() && !u.in_process, "{u:?}");
            }
            _ => {
                // The copy limit: the bench's own process, CPU only.
                let u = usage.expect("the copy limit's CPU was sampled");
                assert!(
                    u.in_process && u.peak_rss_kib == 0 && u.cpu_secs.is_some(),
                    "{u:?}"
                );
            }
        }
    }
    let md = std::fs::read_to_string(&options.table_path).unwrap();
    for needle in [
        "## Partitions axis",
        "| partitions | contender | records/s | MB/s | ratio to its own 2-partition rate |",
        "| 2 | built-in exactly-once | ",
        "| 40 | built-in exactly-once | ",
        "| 40 | copy limit | ",
        "- built-in exactly-once at 40 partitions ≥ 70 % of its 2-partition rate: ",
        "- built-in exactly-once at 40 partitions ≥ 2× MirrorMaker 2 exactly-once at 40: not measured in this run — NOT met",
    ] {
        assert!(md.contains(needle), "{needle:?} not in:\n{md}");
    }
    // Only the axis: no main table.
    assert!(!md.contains("ratio to copy limit"), "{md}");
}

/// MirrorMaker 2's contender (a JVM, its Connect start and the read_committed tail count):
/// `-- --ignored`, it needs the MirrorMaker 2 jars and about a minute.
#[test]
#[ignore]
fn replication_bench_times_mirrormaker2_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        records: 6_000,
        value_bytes: 256,
        contenders: vec![
            Contender::copy_limit(),
            Contender::builtin("exactly-once"),
            Contender::mirrormaker2(true),
        ],
        base_tuning: Vec::new(),
        table_path: dir.path().join("replication.md"),
        contender_timeout: std::time::Duration::from_secs(120),
        partitions_axis: Vec::new(),
        axis_records: 0,
        axis_systems: Vec::new(),
        axis_budget: std::time::Duration::ZERO,
        cutover_exe: env!("CARGO_BIN_EXE_cutover").into(),
        rounds: 1,
    };
    let table = contenders::run(&options).unwrap();
    for f in &table.figures {
        let t = f
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", f.contender.name));
        assert!((5_700..=6_000).contains(&t.records), "{}", f.contender.name);
    }
    assert!(
        table
            .markdown
            .contains("- built-in exactly-once ≥ 1.5× MirrorMaker 2 exactly-once: "),
        "{}",
        table.markdown
    );
    assert!(
        !table
            .markdown
            .contains("MirrorMaker 2 exactly-once: not measured"),
        "{}",
        table.markdown
    );
}

#[path = "../benches/verify_clusters/body.rs"]
mod verify_clusters;

/// The real-cluster checker bench, tiny: both sides identical, so `cutover verify` passes with
/// every record matched, the two `--group` processes merge into the same verdict, and the
/// table says the goal met or not.
#[test]
fn verify_clusters_bench_runs_tiny_and_the_group_agrees_with_one_process() {
    let options = verify_clusters::Options {
        records: 2_000,
        value_bytes: 128,
        partitions: vec![4],
        cutover_exe: env!("CARGO_BIN_EXE_cutover").into(),
        workers: 2,
        rounds: 2,
    };
    let report = verify_clusters::run(&options).unwrap();
    assert_eq!(report.rows.len(), 1);
    let r = &report.rows[0];
    assert_eq!(r.verify_status, "pass", "{}", report.markdown);
    assert_eq!(r.matched, 2_000, "{}", report.markdown);
    assert!(r.group_identical, "{}", report.markdown);
    assert!(r.plain_secs > 0.0 && r.verify_secs > 0.0 && r.group_secs > 0.0);
    assert!(r.verify_cpu_secs > 0.0, "the verify process's CPU: {r:?}");
    // Two rounds each way, the medians between their extremes; the machine's CPU over them
    // holds the verify process's own.
    assert_eq!(
        (r.plain_rounds.len(), r.verify_rounds.len()),
        (2, 2),
        "{r:?}"
    );
    let within = |m: f64, v: &[f64]| {
        v.iter().cloned().fold(f64::MAX, f64::min) <= m
            && m <= v.iter().cloned().fold(0.0, f64::max)
    };
    assert!(within(r.plain_secs, &r.plain_rounds) && within(r.verify_secs, &r.verify_rounds));
    assert!(
        r.verify_machine.busy_secs + 0.1 >= 2.0 * r.verify_cpu_secs,
        "the machine burnt less than the verify processes alone: {r:?}"
    );
    assert!(r.plain_machine.capacity_secs > 0.0 && r.plain_machine.busy_share() <= 1.0);
    // SHA-256 measured, not assumed (an unoptimized test build hashes at tens of s/GB).
    assert!(
        report.sha_secs_per_gb > 0.0 && report.sha_secs_per_gb < 1000.0,
        "{}",
        report.sha_secs_per_gb
    );
    for needle in [
        "| 4 | ",
        "- 4 partitions: `cutover verify` ≥ 70 % of the plain read's rate: ",
        "  - on this machine: the plain read burnt ",
        "| yes |",
    ] {
        assert!(
            report.markdown.contains(needle),
            "{needle:?} not in:\n{}",
            report.markdown
        );
    }
}
