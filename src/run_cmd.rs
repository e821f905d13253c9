//! `cutover run`: scenario files (or a directory of them) end to end; `cutover list`: the catalog.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scenarios::{Outcome, RunOptions, Scenario, SystemOverride};

use crate::exit_code;

#[derive(Args)]
pub struct RunArgs {
    /// A scenario file, or a directory: every `*.toml` in it, one JUnit file for all.
    path: PathBuf,
    /// Validate the scenario file(s) and exit.
    #[arg(long)]
    check: bool,
    /// Where reports go (default `target/cutover/<scenario>-<timestamp>/`): report.json,
    /// junit.xml, summary.md, report.html and the system's logs.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// junit.xml also gets one test case per topic.
    #[arg(long)]
    junit_per_topic: bool,
    /// With a directory: leave out scenarios carrying this tag (`[scenario] tags`), e.g.
    /// `seed-scale` for the ones too long for CI. Repeatable.
    #[arg(long, value_name = "TAG")]
    exclude_tag: Vec<String>,
    /// Put this system under the scenario instead of its own `[system]`, with the same instance
    /// count and fault schedule: builtin (exactly-once), builtin-alo (at-least-once),
    /// mirrormaker2 (MirrorMaker 2, exactly-once off) or mirrormaker2-eos (exactly-once on).
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(SystemOverride::NAMES))]
    system: Option<String>,
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
    let system = match args.system.as_deref().map(str::parse::<SystemOverride>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!("error: --system: {e}");
            return Ok(exit_code::ERROR);
        }
    };
    let mut scenarios = Vec::new();
    for f in &files {
        match Scenario::from_file(f) {
            Ok(mut s) => {
                if let Some(tag) = s
                    .scenario
                    .tags
                    .iter()
                    .find(|t| args.exclude_tag.contains(t))
                {
                    eprintln!("skipped {} (tag {tag})", f.display());
                    continue;
                }
                if let Some(system) = system {
                    s.with_system(system);
                }
                scenarios.push((f.clone(), s))
            }
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
    let junit = reports::JunitOptions {
        per_topic: args.junit_per_topic,
    };
    let mut reports = Vec::new();
    let mut worst = exit_code::OK;
    for (file, scenario) in scenarios {
        let report_dir = match (&args.report_dir, files.len()) {
            (Some(d), 1) => d.clone(),
            (Some(d), _) => d.join(&scenario.scenario.name),
            (None, _) => PathBuf::from("target/cutover").join(match system {
                Some(system) => format!("{}-{}-{stamp}", scenario.scenario.name, system.name()),
                None => format!("{}-{stamp}", scenario.scenario.name),
            }),
        };
        match run_one(&file, &scenario, &report_dir, &mut signals, junit).await {
            Ok(report) => {
                worst = worst.max(exit_of_run(&report));
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
    if reports.len() > 1 {
        println!("\n{} scenarios:", reports.len());
        for r in &reports {
            println!(
                "  {:<28} {:<8} {}",
                r.scenario,
                r.outcome.as_str(),
                match &r.expectation {
                    Some(e) if e.met => "expectation met".to_string(),
                    Some(e) => format!("expectation NOT met: {}", e.why),
                    None => String::new(),
                }
            );
        }
    }
    if files.len() > 1 {
        let dir = args
            .report_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/cutover"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("junit.xml");
        std::fs::write(&path, reports::junit::render(&reports, junit)?)?;
        println!("junit: {}", path.display());
    }
    Ok(worst)
}

/// Runs one scenario into `report_dir` with a spinner (on a terminal) or phase lines, Ctrl-C
/// handled (the first tears down and writes a partial report, the second exits at once);
/// prints the outcome, the expectation and where the report is.
pub(crate) async fn run_one(
    file: &Path,
    scenario: &Scenario,
    report_dir: &Path,
    signals: &mut crate::cluster_cmd::ShutdownSignals,
    junit: reports::JunitOptions,
) -> Result<scenarios::RunReport> {
    let tty = std::io::stderr().is_terminal();
    // A spinner per scenario on a terminal; plain phase lines otherwise (CI logs).
    let bar = tty.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let options = RunOptions {
        cutover_exe: crate::run_cmd::cutover_exe()?,
        report_dir: report_dir.to_path_buf(),
        // Absolute, so a relative command or config file resolves the same whatever the
        // working directory of the processes cutover starts.
        scenario_dir: std::path::absolute(file)
            .with_context(|| format!("resolving {}", file.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        progress: phase_progress(bar.clone()),
    };
    eprintln!("scenario {} ({})", scenario.scenario.name, file.display());
    std::fs::create_dir_all(report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let run_log = report_dir.join("run.log");
    crate::run_log::open(&run_log).with_context(|| format!("opening {}", run_log.display()))?;
    eprintln!("  log: {}", run_log.display());
    let cancel = options.cancel.clone();
    let running = scenarios::run(scenario, &options);
    tokio::pin!(running);
    let result = tokio::select! {
        r = &mut running => r,
        _ = signals.recv() => {
            eprintln!("\ninterrupted: tearing down and writing a partial report (a second signal exits at once)");
            cancel.store(true, Ordering::Release);
            tokio::select! {
                r = &mut running => r,
                _ = signals.recv() => {
                    // Brokers and instances die with this process (PR_SET_PDEATHSIG);
                    // what an instance started itself is killed here.
                    eprintln!("second signal: exiting now, without a report");
                    harness::supervisor::kill_every_family();
                    std::process::exit(130);
                }
            }
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    crate::run_log::close();
    let report = result?;
    println!("{}", outcome_line(&report, "cutover downtime"));
    if let Some(e) = &report.expectation {
        println!(
            "  expectation: {}{}",
            if e.met { "met" } else { "NOT met" },
            if e.met {
                String::new()
            } else {
                format!(" — {}", e.why)
            }
        );
    }
    if junit.per_topic {
        // The runner wrote the default junit.xml; this one adds a case per topic.
        reports::render_into(&report, report_dir, reports::WriteOptions { junit })?;
    }
    println!(
        "  report: {} (summary.md, report.html, junit.xml beside it)",
        report_dir.join("report.json").display()
    );
    Ok(report)
}

/// This executable, for the instances a run starts (`cutover replicate`). After a rebuild
/// during a long run Linux names the running binary `… (deleted)`: the path of the new build
/// is meant.
pub(crate) fn cutover_exe() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the cutover executable")?;
    Ok(
        match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
            Some(path) => PathBuf::from(path),
            None => exe,
        },
    )
}

/// The exit code of a scenario run: with an `[expect]`, 0 when the run showed what the
/// scenario expects and 1 when not; without, the outcome's. A run that could not decide
/// (unknown, aborted) is 2 either way.
pub(crate) fn exit_of_run(report: &scenarios::RunReport) -> u8 {
    match (report.outcome, &report.expectation) {
        (Outcome::Aborted, _) => exit_code::ERROR,
        // A scenario that demonstrates an unknown (a fault that cannot be proven) meets it.
        (_, Some(e)) if e.met => exit_code::OK,
        (Outcome::Unknown, _) => exit_code::ERROR,
        (_, Some(_)) => exit_code::FAILED,
        (outcome, None) => exit_of(outcome),
    }
}

/// The exit code of a run's outcome.
pub(crate) fn exit_of(outcome: Outcome) -> u8 {
    reports::CutoverExitCode::of_outcome(outcome) as u8
}

/// `name: outcome in N s, <downtime label> D s — failures`.
pub(crate) fn outcome_line(report: &scenarios::RunReport, downtime_label: &str) -> String {
    format!(
        "{}: {} in {:.0} s{}{}",
        report.scenario,
        report.outcome.as_str(),
        report.duration_secs,
        report
            .drain
            .as_ref()
            .and_then(|d| d.downtime_secs)
            .map(|d| format!(", {downtime_label} {d:.1} s"))
            .unwrap_or_default(),
        if report.failures.is_empty() && report.undecided.is_empty() {
            String::new()
        } else {
            let reasons: Vec<String> = report
                .failures
                .iter()
                .chain(&report.undecided)
                .map(|r| r.to_string())
                .collect();
            format!(" — {}", reasons.join("; "))
        }
    )
}

pub(crate) fn phase_progress(
    bar: Option<ProgressBar>,
) -> Arc<dyn Fn(scenarios::Progress) + Send + Sync> {
    let last = std::sync::Mutex::new("");
    Arc::new(move |p: scenarios::Progress| match &bar {
        Some(bar) => bar.set_message(format!(
            "{:<9} {:>6.0} s  source {:>10}  target {:>10}  lag {:>8}",
            p.phase,
            p.elapsed_secs,
            p.source_records,
            p.target_records,
            p.lag_records
                .map_or_else(|| "n/a".to_string(), |l| l.to_string())
        )),
        None => {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if *last != p.phase {
                *last = p.phase;
                eprintln!(
                    "{} at {:.1} s (source {}, target {}{})",
                    p.phase,
                    p.elapsed_secs,
                    p.source_records,
                    p.target_records,
                    p.lag_records
                        .map(|l| format!(", lag {l}"))
                        .unwrap_or_default()
                );
            }
        }
    })
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
