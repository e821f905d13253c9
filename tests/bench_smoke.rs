//! The replication bench cannot rot: its body (`benches/replication/contenders.rs`, included
//! here) runs at a tiny volume on two real clusters in the debug test suite. Running the bench
//! binary itself would need the bench profile's LTO build (minutes); the bench's `main` is a
//! few lines over this same module, and `cargo clippy --all-targets` compiles it.

#[path = "../benches/replication/contenders.rs"]
mod contenders;

use contenders::{Contender, Options};

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
        assert_eq!(t.records, 3_000 - 150);
    }
    let md = std::fs::read_to_string(&options.table_path).unwrap();
    assert_eq!(md, table.markdown);
    for needle in [
        "| copy limit | default |",
        "| target produce limit | default |",
        "| built-in at-least-once | default |",
        "| built-in exactly-once | compression = \"lz4\" |",
        "ratio to copy limit",
        "- at-least-once ≥ 90 % of the copy limit: ",
        "MirrorMaker 2 exactly-once: not measured in this run",
    ] {
        assert!(md.contains(needle), "{needle:?} not in:\n{md}");
    }
    // The matrix row has a ratio to the exactly-once default only when that ran.
    assert!(table.copy_limit().is_some());
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
    };
    let table = contenders::run(&options).unwrap();
    for f in &table.figures {
        let t = f
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", f.contender.name));
        assert_eq!(t.records, 6_000 - 300, "{}", f.contender.name);
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
