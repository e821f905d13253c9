//! `cutover selftest`: cutover checks itself on this machine — deliberately broken copiers
//! must each be caught with exactly the right class and count, a faithful one must pass.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::exit_code;

#[derive(Args)]
pub struct SelftestArgs {
    /// Records the workload produces to the source topic (aborted transactions included).
    #[arg(long, default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(500..=1_000_000))]
    records: u64,
    /// Kafka version of the two disposable clusters.
    #[arg(long, default_value = harness::DEFAULT_KAFKA_VERSION)]
    kafka_version: String,
    /// Print the result as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SelftestArgs) -> Result<u8> {
    let options = selftest::SelftestOptions {
        records: args.records,
        kafka_version: Some(args.kafka_version),
        timeout: Duration::from_secs(120),
        cutover_exe: std::env::current_exe().ok(),
    };
    let progress: selftest::Progress = Arc::new(|line: &str| eprintln!("selftest: {line}"));
    let report = match selftest::run(&options, progress).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the selftest could not run: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
        println!(
            "source: {} committed and {} aborted records in `{}` (Kafka {}); {:.1} s",
            report.source_records,
            report.source_aborted,
            selftest::SOURCE_TOPIC,
            report.kafka_version,
            report.elapsed_ms as f64 / 1000.0
        );
        println!(
            "{}",
            if report.all_ok() {
                "PASS: every broken copier was caught exactly, the faithful copy passed"
            } else {
                "FAIL: the checker did not judge every copier exactly (see the lines above)"
            }
        );
    }
    Ok(if report.all_ok() {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}
