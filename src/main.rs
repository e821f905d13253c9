//! `cutover`: the command-line edge. A thin clap layer over the library crates; errors become
//! messages and the exit codes in [`exit_code`].

mod cluster_cmd;
mod completions_cmd;
mod doctor_cmd;
mod fetch_cmd;
mod lint_cmd;
mod plan_cmd;
mod preflight_cmd;
mod produce_cmd;
mod registry_cmd;
mod rehearse_cmd;
mod replicate_cmd;
mod report_cmd;
mod run_cmd;
mod run_log;
mod scope_args;
mod selftest_cmd;
mod sweep_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Exit codes, stable for CI gating: [`reports::CutoverExitCode`]'s, which tests import.
pub mod exit_code {
    use reports::CutoverExitCode as Code;
    /// Success (a verdict passed, a command did what it was asked).
    pub const OK: u8 = Code::OK as u8;
    /// The system under test failed (anomalies found, never caught up); `doctor`: not ready.
    pub const FAILED: u8 = Code::FAILED as u8;
    /// cutover could not decide: bad input, a cluster that failed to start, an internal error.
    pub const ERROR: u8 = Code::ERROR as u8;
}

#[derive(Parser)]
#[command(
    name = "cutover",
    version,
    about = "Verification and test harness for Kafka cluster migrations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Disposable Kafka clusters.
    Cluster {
        #[command(subcommand)]
        command: cluster_cmd::ClusterCommand,
    },
    /// Checks Java, the jar cache, Maven, Docker, disk and ports; says how to fix what is missing.
    Doctor(doctor_cmd::DoctorArgs),
    /// Fills the Kafka jar cache ahead of time.
    FetchKafka(fetch_cmd::FetchArgs),
    /// Runs a workload spec (TOML) against a cluster and reports what it did.
    Produce(produce_cmd::ProduceArgs),
    /// Compares source and target record by record (read-only): exit 0 clean, 1 anomalies, 2 error.
    Verify(verify_cmd::VerifyArgs),
    /// Runs a scenario (or a directory of them): clusters, workload, faults, drain, verdict.
    Run(run_cmd::RunArgs),
    /// Runs a scenario once per value of a setting (`--set KEY=V1,V2,…`, same seed) and prints
    /// one table: verdict, rebalances, duplicates, lost, delay p99, throughput.
    Sweep(sweep_cmd::SweepArgs),
    /// Re-renders summary.md, report.html and junit.xml from DIR/report.json.
    Report(report_cmd::ReportArgs),
    /// Compares two runs' report.json: outcome, anomaly counts, throughput ratio (exit 1 when
    /// B is worse than A).
    Diff(report_cmd::DiffArgs),
    /// The scenario catalog, one line each.
    List(run_cmd::ListArgs),
    /// The built-in replicator (exactly-once or at-least-once) until Ctrl-C/SIGTERM.
    Replicate(replicate_cmd::ReplicateArgs),
    /// Checks migration configs (built-in replicator TOML, MirrorMaker 2 properties, Confluent
    /// Replicator JSON/properties) without a cluster: exit 0 clean or warnings, 1 errors, 2 bad
    /// input.
    Lint(lint_cmd::LintArgs),
    /// Compares a source and a target cluster before a migration, read-only: missing topics,
    /// partitions, configs, ACLs, versions, a copy-time estimate. Exit 0 clean or warnings, 1
    /// errors, 2 bad input or a cluster unreachable.
    Preflight(preflight_cmd::PreflightArgs),
    /// The migration order from ns4kafka or Strimzi declarations: who writes and who reads each
    /// topic, the namespaces in waves (last consumer first, first producer last) with one-way
    /// replication; exit 0, 1 on a cycle (printed with its topics), 2 bad input. With
    /// `--export ns4kafka|strimzi --source FILE`: the source's topics and ACLs as declarations.
    Plan(plan_cmd::PlanArgs),
    /// A rehearsal on live clusters: read-only window check of real topics, canary topics
    /// (created and deleted) only with `allow_writes = true`; exit 0 pass, 1 fail, 2 error.
    Rehearse(rehearse_cmd::RehearseArgs),
    /// cutover checks itself: two disposable clusters, a workload, built-in broken copiers that
    /// must each be caught exactly (class and count) and a faithful one that must pass; exit 0
    /// all caught, 1 not, 2 could not run.
    Selftest(selftest_cmd::SelftestArgs),
    /// Schema registries (a real Apicurio Registry on loopback).
    Registry {
        #[command(subcommand)]
        command: registry_cmd::RegistryCommand,
    },
    /// Compares a target schema registry with its source registries (a merge): every source
    /// subject/version on the target with the same number and schema; exit 0 clean, 1
    /// findings, 2 error.
    VerifySchemas(registry_cmd::VerifySchemasArgs),
    /// Consumer-group offsets across clusters.
    Offsets {
        #[command(subcommand)]
        command: replicate_cmd::OffsetsCommand,
    },
    /// Prints a shell completion script generated from this CLI (bash, zsh, fish, …).
    Completions(completions_cmd::CompletionsArgs),
    /// Prints the man page (roff) generated from this CLI, or writes one page per command into
    /// --out-dir.
    Man(completions_cmd::ManArgs),
}

fn main() -> ExitCode {
    // OpenSSL (linked for librdkafka's TLS) registers an atexit cleanup unless told not to
    // before its first use. That cleanup frees OpenSSL's tables while librdkafka's and tokio's
    // threads may still be ending, and a thread's own OpenSSL cleanup then corrupts the heap:
    // `cutover offsets sync` aborted with "malloc_consolidate(): invalid chunk size" after it had
    // printed its answer, once in 40 runs here (OpenSSL's OPENSSL_INIT_NO_ATEXIT, which
    // openssl-sys's init passes). The OS frees the process's memory anyway.
    openssl_sys::init();
    let cli = Cli::parse();
    run_log::init(matches!(
        cli.command,
        Command::Run(_) | Command::Rehearse(_) | Command::Sweep(_)
    ));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit_code::ERROR);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Cluster { command } => cluster_cmd::run(command).await,
            Command::Doctor(args) => doctor_cmd::run(args),
            Command::FetchKafka(args) => fetch_cmd::run(args).await,
            Command::Verify(args) => verify_cmd::run(args).await,
            Command::Produce(args) => produce_cmd::run(args).await,
            Command::Replicate(args) => replicate_cmd::run(args).await,
            Command::Run(args) => run_cmd::run(args).await,
            Command::Sweep(args) => sweep_cmd::run(args).await,
            Command::List(args) => run_cmd::list(args),
            Command::Report(args) => report_cmd::report(args),
            Command::Diff(args) => report_cmd::diff(args),
            Command::Registry { command } => registry_cmd::run(command).await,
            Command::VerifySchemas(args) => registry_cmd::verify_schemas(args).await,
            Command::Offsets { command } => replicate_cmd::offsets(command).await,
            Command::Lint(args) => lint_cmd::run(args),
            Command::Preflight(args) => preflight_cmd::run(args).await,
            Command::Plan(args) => plan_cmd::run(args).await,
            Command::Rehearse(args) => rehearse_cmd::run(args).await,
            Command::Completions(args) => completions_cmd::completions(args, Cli::command()),
            Command::Man(args) => completions_cmd::man(args, Cli::command()),
            Command::Selftest(args) => selftest_cmd::run(args).await,
        }
    });
    // A thread stuck on an unreachable cluster must not hold the exit (dropping the runtime
    // would wait for it); everything that needs cleaning up was dropped inside `block_on`.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code::ERROR)
        }
    }
}
