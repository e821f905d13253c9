//! `cutover run`: scenario files (or a directory of them) end to end; `cutover list`: the catalog.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use scenarios::{Outcome, RunOptions, Scenario};

use crate::exit_code;

#[derive(Args)]
pub struct RunArgs {
    /// A scenario file, or a directory: every `*.toml` in it, one JUnit file for all.
    path: PathBuf,
    /// Validate the scenario file(s) and exit.
    #[arg(long)]
    check: bool,
    /// Where reports go (default `target/cutover/<scenario>-<timestamp>/`).
    #[arg(long)]
    report_dir: Option<PathBuf>,
}

fn scenario_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

pub async fn run(args: RunArgs) -> Result<u8> {
    let files = scenario_files(&args.path)?;
    let mut scenarios = Vec::new();
    for f in &files {
        match Scenario::from_file(f) {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit_code::ERROR);
            }
        }
    }
    if args.check {
        for (f, s) in &scenarios {
            println!(
                "{}: ok ({}, {} faults)",
                f.display(),
                s.scenario.name,
                s.faults.len()
            );
        }
        return Ok(exit_code::OK);
    }
    let mut signals = crate::cluster_cmd::ShutdownSignals::new()?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let tty = std::io::stderr().is_terminal();
    let mut reports = Vec::new();
    let mut worst = exit_code::OK;
    for (file, scenario) in scenarios {
        let report_dir = match (&args.report_dir, files.len()) {
            (Some(d), 1) => d.clone(),
            (Some(d), _) => d.join(&scenario.scenario.name),
            (None, _) => {
                PathBuf::from("target/cutover").join(format!("{}-{stamp}", scenario.scenario.name))
            }
        };
        let options = RunOptions {
            cutover_exe: std::env::current_exe().context("locating the cutover executable")?,
            report_dir: report_dir.clone(),
            scenario_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            progress: Arc::new(move |p: scenarios::Progress| {
                if tty {
                    eprint!(
                        "\r\x1b[2K{:<9} {:>6.1} s  source {:>10}  target {:>10}",
                        p.phase, p.elapsed_secs, p.source_records, p.target_records
                    );
                } else if p.phase != "workload" && p.phase != "drain" {
                    eprintln!("{} at {:.1} s", p.phase, p.elapsed_secs);
                }
            }),
        };
        eprintln!("scenario {} ({})", scenario.scenario.name, file.display());
        let cancel = options.cancel.clone();
        let running = scenarios::run(&scenario, &options);
        tokio::pin!(running);
        let result = tokio::select! {
            r = &mut running => r,
            _ = signals.recv() => {
                eprintln!("\ninterrupted: tearing down and writing a partial report");
                cancel.store(true, Ordering::Release);
                running.await
            }
        };
        if tty {
            eprintln!();
        }
        match result {
            Ok(report) => {
                let code = match report.outcome {
                    Outcome::Pass => exit_code::OK,
                    Outcome::Fail => exit_code::FAILED,
                    Outcome::Aborted => exit_code::ERROR,
                };
                println!(
                    "{}: {} in {:.0} s{}{}",
                    report.scenario,
                    match report.outcome {
                        Outcome::Pass => "PASS",
                        Outcome::Fail => "FAIL",
                        Outcome::Aborted => "ABORTED",
                    },
                    report.duration_secs,
                    report
                        .drain
                        .as_ref()
                        .and_then(|d| d.downtime_secs)
                        .map(|d| format!(", cutover downtime {d:.1} s"))
                        .unwrap_or_default(),
                    if report.failures.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", report.failures.join("; "))
                    }
                );
                println!("  report: {}", report_dir.join("report.json").display());
                worst = worst.max(code);
                let aborted = report.outcome == Outcome::Aborted;
                reports.push(report);
                if aborted {
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: scenario {}: {e}", scenario.scenario.name);
                worst = exit_code::ERROR;
            }
        }
    }
    if files.len() > 1 {
        let dir = args
            .report_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/cutover"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("junit.xml");
        std::fs::write(&path, scenarios::report::junit(&reports))?;
        println!("junit: {}", path.display());
    }
    Ok(worst)
}

#[derive(Args)]
pub struct ListArgs {
    /// The catalog directory.
    #[arg(long, default_value = "scenarios/catalog")]
    dir: PathBuf,
}

pub fn list(args: ListArgs) -> Result<u8> {
    for f in scenario_files(&args.dir)? {
        match Scenario::from_file(&f) {
            Ok(s) => println!("{:<24} {}", s.scenario.name, s.scenario.description),
            Err(e) => println!("{:<24} (invalid: {e})", f.display()),
        }
    }
    Ok(exit_code::OK)
}
