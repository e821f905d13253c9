//! `cutover doctor`: is this machine ready to run cutover, and if not, what to do.

use anyhow::Result;
use clap::Args;
use harness::doctor::{default_backend_ready, run_checks};
use harness::KafkaVersion;

use crate::exit_code;

#[derive(Args)]
pub struct DoctorArgs {
    /// Kafka version whose jar cache to check.
    #[arg(long, default_value = harness::DEFAULT_KAFKA_VERSION)]
    kafka_version: KafkaVersion,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DoctorArgs) -> Result<u8> {
    let checks = run_checks(&args.kafka_version);
    let ready = default_backend_ready(&checks);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "ready": ready, "checks": checks }))?
        );
    } else {
        for check in &checks {
            let mark = if check.ok {
                "ok  "
            } else if check.required {
                "FAIL"
            } else {
                "warn"
            };
            println!("[{mark}] {:<14} {}", check.name, check.detail);
            if let Some(fix) = &check.fix {
                println!("       {:<14} fix: {fix}", "");
            }
        }
        println!(
            "{}",
            if ready {
                "the default (process) backend can run"
            } else {
                "the default (process) backend cannot run: fix the FAIL lines above"
            }
        );
    }
    Ok(if ready {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}
