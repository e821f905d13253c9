//! `cargo bench --bench replication`: which way of copying a topic between two real Kafka
//! clusters is fastest, measured against baselines in the same run. Two 1-broker clusters are
//! started once; `CUTOVER_BENCH_RECORDS` records (1 M) of `CUTOVER_BENCH_VALUE_BYTES` (1024) over
//! 12 partitions are written once; then each contender copies all of them into its own target
//! topic:
//!
//! - baselines: the copy limit (a plain rdkafka consume → produce loop, no guarantees) and the
//!   target's produce limit (rdkafka at full speed, acks=all, idempotent);
//! - the built-in replicator at-least-once and exactly-once (`cutover replicate` child
//!   processes, as users run it);
//! - MirrorMaker 2 with exactly-once off and on (a dedicated-mode JVM, configured as the
//!   scenarios configure it);
//! - MirrorMaker 2's MirrorSourceConnector on a one-worker Kafka Connect cluster, exactly-once
//!   off and on (the seed's shape: a replication connector on Connect; the scenarios'
//!   `mirrormaker2` preset, deployed through REST);
//! - with `CUTOVER_BENCH_MATRIX=1`, the built-in replicator's exactly-once default with one knob
//!   changed at a time (batch size, linger, compression, fetch sizes, socket buffers, commit
//!   interval, instances).
//!
//! Every contender runs `CUTOVER_BENCH_ROUNDS` times (3; quick 1) in rounds whose order
//! alternates (forward, backward, forward), each with its own group and target topic, and its
//! row is its median round: the copy limit swung 2× between runs minutes apart on a shared
//! 2-core machine. The throughput goals are against the target's produce limit, the ceiling
//! no copy can pass (built-in at-least-once ≥ 90 %, exactly-once ≥ 80 %).
//!
//! `CUTOVER_BENCH_QUICK=1` runs 20 k records of 512 B; `CUTOVER_BENCH_ONLY=word,word` keeps the
//! copy limit and the contenders whose name or setting contains a word. The table (records/s,
//! MB/s, ratio to the copy limit, CPU seconds per GB copied and peak resident memory of each
//! contender's process tree from `/proc`, the goals met or not — among them built-in
//! exactly-once at most a quarter of MirrorMaker 2 exactly-once's CPU per GB) is printed and
//! written to `target/cutover/bench/replication.md`.
//!
//! Then the **partitions axis** (`replication/axis.rs`): the same volume
//! (`CUTOVER_BENCH_AXIS_RECORDS`, default `CUTOVER_BENCH_RECORDS`) written once per partition
//! count (`CUTOVER_BENCH_PARTITIONS`, default `12,300,3000`, `off` for none) into its own source
//! topic, and at each count the copy limit, the built-in replicator exactly-once (`cutover
//! replicate`, a child process), MirrorMaker 2 exactly-once (its JVM) and MirrorMaker 2 on Connect
//! (exactly-once off and on, the worker's JVM), all as the scenarios configure them. Per row: records/s, MB/s, the ratio to the same contender's rate at the
//! lowest count, the process's peak thread count and peak RSS (sampled from
//! `/proc/<pid>/status` during the copy), and the two goals said met or NOT met: built-in
//! exactly-once at 3,000 partitions ≥ 70 % of its 12-partition rate and ≥ 2× MirrorMaker 2
//! exactly-once at 3,000. `CUTOVER_BENCH_ONLY=partitions` runs the axis alone
//! (`partitions,connect`: with the copy limit and the systems whose name holds `connect`);
//! `CUTOVER_BENCH_AXIS_BUDGET_SECS` (2,400) bounds the whole axis (rows not started by then are
//! reported as not run).
//!
//! Not criterion: each contender is one real copy of a gigabyte lasting tens of seconds, with
//! a JVM start or a group join in front; criterion's ten samples would make a run take an hour
//! and its statistics would mostly describe the page cache. One long timed copy per contender,
//! reported next to the copy limit measured minutes earlier on the same clusters, is the
//! figure that carries. The body lives in `replication/contenders.rs`, which
//! `tests/bench_smoke.rs` runs at a tiny volume in the debug test suite.

#[path = "replication/contenders.rs"]
mod contenders;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `cargo test --benches` does not: copy only when benching.
    if !std::env::args().any(|a| a == "--bench") {
        println!("replication bench: run with `cargo bench --bench replication`");
        return Ok(());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let options = contenders::Options::from_env(&target_dir);
    let table = contenders::run(&options)?;
    println!();
    println!("{}", table.markdown);
    println!("written to {}", options.table_path.display());
    Ok(())
}
