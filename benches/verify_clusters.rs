//! `cargo bench --bench verify_clusters`: the checker on real clusters. Two 1-broker clusters
//! hold the same `CUTOVER_BENCH_RECORDS` records (1 M) of `CUTOVER_BENCH_VALUE_BYTES` (1 KiB) in
//! one topic per partition count (`CUTOVER_BENCH_PARTITIONS`, `12,3000`), and each topic is read
//! three ways, timed in the same run:
//!
//! - the plain read, the ceiling: both sides read to their high watermarks by the same client
//!   library (rdkafka), as many consumers per side as the checker has workers, no hashing or
//!   matching;
//! - `cutover verify` (one process, `--workers` 2): its rate as a share of the plain read's,
//!   with the goal (≥ 70 %) said met or NOT met, and the most this machine allows a checker
//!   that only reads and fingerprints (the plain read's whole-machine CPU per GB plus SHA-256's,
//!   measured in the same run);
//! - `cutover verify --group` across two processes, then `--merge`: the merged verdict must be
//!   the single process's (status, counts, tally), and the speed-up is printed.
//!
//! The plain read and `cutover verify` run `CUTOVER_BENCH_ROUNDS` (3) rounds in alternating
//! order and report medians: the brokers' JIT warms through the first rounds, and whichever way
//! ran first would otherwise read from colder brokers.
//!
//! `CUTOVER_BENCH_QUICK=1`: 20 k records of 512 B over 12 and 300 partitions. The table is
//! printed and written to `target/cutover/bench/verify_clusters.md`. The body lives in
//! `verify_clusters/body.rs`, which `tests/bench_smoke.rs` runs tiny in the debug suite.
//!
//! Not criterion: one read of gigabytes per way, each seconds to minutes long; the figure that
//! carries is the ratio to the plain read measured minutes apart on the same clusters.

#[path = "verify_clusters/body.rs"]
mod body;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("verify_clusters bench: run with `cargo bench --bench verify_clusters`");
        return Ok(());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let options = body::Options::from_env(PathBuf::from(env!("CARGO_BIN_EXE_cutover")));
    let report = body::run(&options)?;
    println!("\n{}", report.markdown);
    let path = target_dir.join("cutover/bench/verify_clusters.md");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, &report.markdown)?;
    println!("written to {}", path.display());
    Ok(())
}
