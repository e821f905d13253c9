//! A scenario run: provision → start the system under test → workload + fault schedule →
//! stop the workload → drain → verify → report. Teardown happens on every path (success,
//! failure, error, Ctrl-C): clusters shut down, instances stopped, and a report is written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::Cluster;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use verify::verdict::{Promises, Status};
use verify::{FingerprintOptions, VerifyOptions};

use crate::error::ScenarioError;
use crate::mirrormaker::Clusters;
use crate::spec::{FaultAction, FaultSpec, Scenario, Side, SystemSpec};
use crate::system::{builtin_config, properties_text, Instances, Launcher, Mm2Launch};

pub use reports::{Drain, FaultEvent, Outcome, RunReport, Sample, WorkloadSummary};

/// What a run needs besides the scenario.
#[derive(Clone)]
pub struct RunOptions {
    /// The `cutover` executable (the builtin system runs `cutover replicate`).
    pub cutover_exe: PathBuf,
    /// Where report.json, junit.xml and the system's logs go.
    pub report_dir: PathBuf,
    /// The scenario file's directory (relative commands resolve there).
    pub scenario_dir: PathBuf,
    /// Set on Ctrl-C: tear down and write a partial report marked aborted.
    pub cancel: Arc<AtomicBool>,
    pub progress: Arc<dyn Fn(Progress) + Send + Sync>,
}

/// Progress for a TTY.
#[derive(Debug, Clone)]
pub struct Progress {
    pub phase: &'static str,
    pub elapsed_secs: f64,
    pub source_records: u64,
    pub target_records: u64,
    /// The system's own lag (records), summed over its instances, when it reports one (the
    /// built-in replicator's metrics); None for systems that do not.
    pub lag_records: Option<u64>,
}

struct Shared {
    started: Instant,
    faults: Mutex<Vec<FaultEvent>>,
    instances: Mutex<Instances>,
}

/// Runs a scenario to its report. Errors (exit 2) are for runs that could not be decided;
/// a failing system under test is `Outcome::Fail` in the report.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunReport, ScenarioError> {
    std::fs::create_dir_all(&options.report_dir).map_err(ScenarioError::io(format!(
        "creating {}",
        options.report_dir.display()
    )))?;
    let started = Instant::now();
    let progress = |phase: &'static str, s: u64, t: u64| {
        (options.progress)(Progress {
            phase,
            elapsed_secs: started.elapsed().as_secs_f64(),
            source_records: s,
            target_records: t,
            lag_records: None,
        })
    };
    progress("provision", 0, 0);
    let mut source_spec = scenario.source.clone();
    let mut target_spec = scenario.target.clone();
    source_spec.name = format!("{}-source", scenario.scenario.name);
    target_spec.name = format!("{}-target", scenario.scenario.name);
    // Network faults go through a proxy in front of every broker (advertised to clients).
    source_spec.proxied = scenario.needs_proxies(Side::Source);
    target_spec.proxied = scenario.needs_proxies(Side::Target);
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let source: Arc<dyn Cluster> = Arc::from(source?);
    let target: Arc<dyn Cluster> = match target {
        Ok(t) => Arc::from(t),
        Err(e) => {
            let _ = source.shutdown().await;
            return Err(e.into());
        }
    };
    // Schema registries: after the clusters, owned here so they die with the run.
    let registries = match &scenario.registries {
        Some(spec) => {
            match crate::registries::ScenarioRegistries::start(
                spec,
                scenario.workload.topics.names(),
                &options.report_dir,
            )
            .await
            {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = tokio::join!(source.shutdown(), target.shutdown());
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let effective;
    let scenario = match &registries {
        Some(r) => {
            let mut s = scenario.clone();
            s.workload = r.workload(&scenario.workload);
            effective = s;
            &effective
        }
        None => scenario,
    };
    let result = run_on(
        scenario,
        options,
        source.clone(),
        target.clone(),
        started,
        registries.as_ref(),
    )
    .await;
    drop(registries);
    let _ = tokio::join!(source.shutdown(), target.shutdown());
    let mut report = result?;
    report.duration_secs = started.elapsed().as_secs_f64();
    report.source_kafka = source.kafka_version();
    report.target_kafka = target.kafka_version();
    crate::report::write(&mut report, scenario, &options.report_dir)?;
    Ok(report)
}

async fn run_on(
    scenario: &Scenario,
    options: &RunOptions,
    source: Arc<dyn Cluster>,
    target: Arc<dyn Cluster>,
    started: Instant,
    registries: Option<&crate::registries::ScenarioRegistries>,
) -> Result<RunReport, ScenarioError> {
    let topics = scenario.workload.topics.names();
    workload::runner::create_topics(&scenario.workload, &source.client_props()).await?;
    // Configs with passwords live in a private temp dir; the report dir gets redacted copies.
    let secrets = tempfile::Builder::new()
        .prefix("cutover-secrets-")
        .tempdir()
        .map_err(ScenarioError::io("creating the private config dir"))?;
    let (system_source, system_target) = system_props(&scenario.system, &*source, &*target)?;
    let source_properties_file = secrets.path().join("source.properties");
    let target_properties_file = secrets.path().join("target.properties");
    crate::system::write_private(&source_properties_file, &properties_text(&system_source))?;
    crate::system::write_private(&target_properties_file, &properties_text(&system_target))?;
    let config_path = match &scenario.system {
        SystemSpec::Builtin { .. } => {
            let mut text = builtin_config(
                &scenario.system,
                &system_source,
                &system_target,
                &scenario.workload,
            )?;
            if let Some(r) = registries {
                text.push_str(&r.replicator_toml());
            }
            let path = secrets.path().join("replicator.toml");
            crate::system::write_private(&path, &text)?;
            let shown = options.report_dir.join("replicator.toml");
            std::fs::write(&shown, reports::redact::redact_toml(&text))
                .map_err(ScenarioError::io(format!("writing {}", shown.display())))?;
            Some(path)
        }
        SystemSpec::Command { .. }
        | SystemSpec::Mirrormaker2 { .. }
        | SystemSpec::Running { .. } => None,
    };
    let mm2 = match &scenario.system {
        SystemSpec::Mirrormaker2 { heap_mb, .. } => {
            let config = crate::mirrormaker::config(
                &scenario.system,
                &options.scenario_dir,
                &Clusters {
                    source_bootstrap: &source.bootstrap_servers(),
                    target_bootstrap: &target.bootstrap_servers(),
                    source_props: beyond_bootstrap(&system_source),
                    target_props: beyond_bootstrap(&system_target),
                    source_brokers: source.brokers().len(),
                    target_brokers: target.brokers().len(),
                },
                &topics,
            )?;
            // MirrorMaker 2 of the target's Kafka version: its Connect cluster lives there.
            let runtime = harness::MirrorMaker2::prepare(&scenario.target.kafka_version, |event| {
                tracing::info!(?event, "MirrorMaker 2 jars")
            })
            .await?;
            Some(Mm2Launch {
                runtime,
                config,
                heap_mb: *heap_mb,
            })
        }
        _ => None,
    };
    let rename = match &mm2 {
        Some(m) => m.config.rename.clone(),
        None => rename_of(&scenario.system),
    };
    let replicator_config = config_path.clone();
    let launcher = Launcher {
        cutover_exe: options.cutover_exe.clone(),
        dir: options.report_dir.clone(),
        system: scenario.system.clone(),
        scenario_dir: options.scenario_dir.clone(),
        source_bootstrap: source.bootstrap_servers(),
        target_bootstrap: target.bootstrap_servers(),
        secrets_dir: secrets.path().to_path_buf(),
        source_properties_file,
        target_properties_file,
        topics: topics.clone(),
        config_path,
        mm2,
    };
    let mm2_ready = launcher
        .mm2
        .as_ref()
        .map(|m| (m.config.status_topic.clone(), m.config.tasks_max));
    let mut instances = Instances::new(launcher);
    for _ in 0..scenario.system.instances() {
        instances.add()?;
    }
    if let Some((status_topic, tasks_max)) = mm2_ready {
        // MirrorMaker 2 replicates only once its tasks run, many seconds after the JVMs start:
        // the workload and the fault schedule begin then (the built-in replicator and commands
        // are taken as started at once).
        progress_of_phase(options, "start", started);
        let partitions = source_partitions(&source, &topics).max(1);
        let tasks = tasks_max.min(partitions);
        let (props, cancel) = (target.client_props(), options.cancel.clone());
        let waited = Instant::now();
        let ready = tokio::task::spawn_blocking(move || {
            crate::mirrormaker::wait_until_replicating(
                &props,
                &status_topic,
                tasks,
                MM2_START_TIMEOUT,
                &cancel,
            )
        })
        .await
        .map_err(|e| ScenarioError::System(format!("MirrorMaker 2 status: {e}")))??;
        if ready {
            tracing::info!(
                tasks,
                secs = waited.elapsed().as_secs_f64(),
                "MirrorMaker 2 is replicating"
            );
        } else {
            tracing::warn!(
                tasks,
                "MirrorMaker 2 did not report its tasks running within {} s; starting the workload anyway",
                MM2_START_TIMEOUT.as_secs()
            );
        }
    }
    let shared = Arc::new(Shared {
        started: Instant::now(),
        faults: Mutex::new(Vec::new()),
        instances: Mutex::new(instances),
    });
    let mut report = RunReport {
        schema_version: 1,
        scenario: scenario.scenario.name.clone(),
        description: scenario.scenario.description.clone(),
        system: system_name(&scenario.system),
        seed: scenario.workload.seed,
        cutover_version: env!("CARGO_PKG_VERSION").into(),
        source_kafka: None,
        target_kafka: None,
        outcome: Outcome::Fail,
        failures: Vec::new(),
        workload: None,
        faults: Vec::new(),
        series: Vec::new(),
        drain: None,
        verdict: None,
        duration_secs: 0.0,
        logs: Vec::new(),
        ..RunReport::default()
    };
    let target_topics: Vec<String> = topics.iter().map(|t| rename.target_of(t)).collect();
    let sampler = Sampler::new(
        &source.client_props(),
        &target.client_props(),
        &topics,
        &target_topics,
    )?;
    // End-to-end delay, measured on the target while the run goes on.
    let probe = crate::delay::DelayProbe::start(&target.client_props(), &target_topics)?;
    // Workload and faults.
    progress_of(options, "workload", &sampler, started, &shared);
    let wl_options = workload::RunOptions {
        keep_records: false,
        ..workload::RunOptions::default()
    };
    let wl_cancel = wl_options.cancel.clone();
    let spec = scenario.workload.clone();
    let props = source.client_props();
    let mut producing = tokio::spawn(async move { workload::run(&spec, &props, wl_options).await });
    // Application consumer groups read the source while the workload runs.
    let mut app_consumers = Vec::new();
    for g in &scenario.consumer_groups {
        app_consumers.push(crate::groups::AppConsumer::start(
            g,
            &source.client_props(),
            topics.clone(),
            shared.started,
        )?);
    }
    let mut fault_tasks = Vec::new();
    for f in &scenario.faults {
        fault_tasks.push(tokio::spawn(apply_fault(
            f.clone(),
            shared.clone(),
            source.clone(),
            target.clone(),
        )));
    }
    let run_deadline = Instant::now() + Duration::from_secs_f64(scenario.run.duration_secs);
    let mut series = Vec::new();
    let workload_result = loop {
        tokio::select! {
            r = &mut producing => break Some(r),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        series.push(sampler.sample(shared.started));
        progress_of(options, "workload", &sampler, started, &shared);
        if options.cancel.load(Ordering::Acquire)
            || Instant::now() > run_deadline + Duration::from_secs(30)
        {
            wl_cancel.store(true, Ordering::Release);
        }
        if options.cancel.load(Ordering::Acquire) {
            break None;
        }
        report_exits(&shared, &mut report);
    };
    let last_write = Instant::now();
    match workload_result {
        Some(r) => {
            let wr = r.map_err(|e| ScenarioError::System(format!("workload task: {e}")))??;
            report.workload = Some(WorkloadSummary {
                sent: wr.counts.sent,
                committed: wr.counts.committed,
                aborted: wr.counts.aborted,
                upstream_duplicates: wr.counts.upstream_duplicates,
                records_per_sec: wr.records_per_sec,
                mb_per_sec: wr.mb_per_sec,
            });
        }
        None => {
            let _ = producing.await;
        }
    }
    // Faults still running (a stall or a stopped broker past the workload) finish first.
    for t in fault_tasks {
        if options.cancel.load(Ordering::Acquire) {
            t.abort();
        } else {
            let _ = t.await;
        }
    }
    report.faults = lock(&shared.faults).clone();
    let mut consumed_by_group = BTreeMap::new();
    for app in app_consumers {
        let group = app.group.clone();
        let n = tokio::task::spawn_blocking(move || app.finish())
            .await
            .map_err(|e| ScenarioError::System(format!("consumer group task: {e}")))??;
        consumed_by_group.insert(group, n);
    }
    if options.cancel.load(Ordering::Acquire) {
        let _ = tokio::task::spawn_blocking(move || probe.finish()).await;
        report.outcome = Outcome::Aborted;
        report.series = series;
        let sh = shared.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&sh.instances).stop_all()).await;
        report.logs = lock(&shared.instances).logs();
        return Ok(report);
    }
    // Drain: the target stops growing and the system has caught up: builtin instances report
    // no lag; other systems (no lag metric cutover can read) hold, in every partition, at
    // least as many committed records as the source.
    progress_of(options, "drain", &sampler, started, &shared);
    let drain_started = Instant::now();
    let drain_deadline = drain_started + Duration::from_secs_f64(scenario.run.drain_timeout_secs);
    let quiet = Duration::from_secs(5);
    let mut counts = match &scenario.system {
        SystemSpec::Builtin { .. } => None,
        _ => Some((
            CommittedCounter::new(&source.client_props(), &topics)?,
            CommittedCounter::new(&target.client_props(), &target_topics)?,
        )),
    };
    let mut last = sampler.sample(shared.started);
    let mut changed_at = Instant::now();
    let mut caught_up = false;
    let mut stuck: Option<String> = None;
    while Instant::now() < drain_deadline && !options.cancel.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = sampler.sample(shared.started);
        series.push(s);
        progress_of(options, "drain", &sampler, started, &shared);
        if s.target_end != last.target_end {
            changed_at = Instant::now();
        }
        last = s;
        let counted = match &mut counts {
            None => None,
            Some((src, tgt)) => {
                if tgt.outgrown(&target_topics) {
                    *tgt = CommittedCounter::new(&target.client_props(), &target_topics)?;
                }
                src.advance(Duration::from_millis(300));
                tgt.advance(Duration::from_millis(300));
                Some(compare_counts(src, tgt, &rename))
            }
        };
        if changed_at.elapsed() < quiet {
            continue;
        }
        match counted {
            None if no_lag(&shared) => {
                caught_up = true;
                break;
            }
            None => {}
            Some(CountCheck::Reached) => {
                caught_up = true;
                break;
            }
            // Still reading the source: its count is not final yet.
            Some(CountCheck::SourceUnread) => {}
            // A target that has not moved for this long while short of the source is not
            // going to catch up: say where it stopped rather than wait for the timeout.
            Some(CountCheck::Short(why)) if changed_at.elapsed() >= STUCK_AFTER => {
                stuck = Some(why);
                break;
            }
            Some(CountCheck::Short(_)) => {}
        }
    }
    report_exits(&shared, &mut report);
    let downtime = caught_up.then(|| {
        changed_at
            .saturating_duration_since(last_write)
            .as_secs_f64()
    });
    report.drain = Some(Drain {
        caught_up,
        secs: drain_started.elapsed().as_secs_f64(),
        downtime_secs: downtime,
    });
    if !caught_up {
        let mut still = lag_diagnosis(&shared);
        if let Some(why) = stuck {
            still.push(format!(
                "the target stopped growing {} s before catching up: {why}",
                STUCK_AFTER.as_secs()
            ));
        } else if let Some((src, tgt)) = &counts {
            if let CountCheck::Short(why) = compare_counts(src, tgt, &rename) {
                still.push(why);
            }
        }
        report.failures.push(format!(
            "the system did not catch up within the drain timeout ({} s){}",
            scenario.run.drain_timeout_secs,
            if still.is_empty() {
                String::new()
            } else {
                format!(": {}", still.join(", "))
            }
        ));
    }
    report.series = series;
    if let Some(m) = tokio::task::spawn_blocking(move || probe.finish())
        .await
        .ok()
        .flatten()
    {
        let method = format!(
            "probe: {} records read on the target, create time to readable{}",
            m.histogram.len(),
            if m.skipped > 0 {
                format!(" ({} without a plausible create time left out)", m.skipped)
            } else {
                String::new()
            }
        );
        report.delay = reports::timeline::delay_of(&m.histogram, &method);
    }
    // Consumer-group cutover: translate while the system still runs (a system may sync offsets
    // itself), then check where each group would resume on the target.
    if caught_up && !scenario.consumer_groups.is_empty() {
        progress_of(options, "groups", &sampler, started, &shared);
        for g in &scenario.consumer_groups {
            let cut = cutover_group(
                g,
                scenario,
                options,
                replicator_config.as_deref(),
                &rename,
                &source.client_props(),
                &target.client_props(),
                &topics,
                consumed_by_group.get(&g.id).copied().unwrap_or(0),
            )
            .await?;
            let tolerated = cut.skipped == 0
                && cut.untranslated == 0
                && cut.misplaced == 0
                && cut.reread <= g.allowed_reread;
            if !tolerated {
                report.failures.push(format!(
                    "consumer group {}: {} skipped, {} re-read, {} misplaced, {} untranslated of {} partitions after cutover",
                    cut.group, cut.skipped, cut.reread, cut.misplaced, cut.untranslated, cut.partitions
                ));
            }
            report.consumer_groups.push(cut);
        }
    }
    {
        let sh = shared.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&sh.instances).stop_all()).await;
    }
    report.logs = lock(&shared.instances).logs();
    // Verify.
    progress_of(options, "verify", &sampler, started, &shared);
    let schema_check = match registries {
        Some(r) => {
            if !matches!(scenario.system, SystemSpec::Builtin { .. }) {
                // The registry merge, done beside a system that copies bytes only.
                r.merge()?;
            }
            let registry_verdict = r.verify()?;
            tracing::info!(
                outcome = registry_verdict.outcome,
                matched = registry_verdict.matched,
                "schema registries verified"
            );
            if !registry_verdict.passed() {
                for (kind, n) in &registry_verdict.counts {
                    report
                        .failures
                        .push(format!("schema registries: {n} {kind}"));
                }
            }
            Some(r.check()?)
        }
        None => None,
    };
    let verify_options = VerifyOptions {
        schemas: schema_check,
        topics: topics
            .iter()
            .map(|t| regex_escape(t))
            .collect::<Vec<_>>()
            .join("|"),
        rename: rename.clone(),
        fingerprint: FingerprintOptions {
            include_timestamp: scenario.verify.timestamps,
            exclude_headers: scenario.verify.ignore_headers.clone(),
        },
        promises: Promises {
            partitions: scenario.verify.partitions,
            order: scenario.verify.order,
            offsets: scenario.verify.offsets,
            timestamps: scenario.verify.timestamps,
            allowed_duplicates: scenario.verify.allowed_duplicates,
        },
        ..VerifyOptions::default()
    };
    let verdict = verify::verify(
        &source.client_props(),
        &target.client_props(),
        &verify_options,
        Arc::new(|_| {}),
    )
    .await?;
    if verdict.status != Status::Pass {
        for (class, n) in &verdict.counts.0 {
            report.failures.push(format!("{n} {}", class_name(*class)));
        }
    }
    report.verdict = Some(verdict);
    report.outcome = if report.failures.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    progress_of(options, "done", &sampler, started, &shared);
    Ok(report)
}

/// Translates one application group's offsets to the target and checks where it resumes.
#[allow(clippy::too_many_arguments)]
async fn cutover_group(
    g: &crate::spec::ConsumerGroupSpec,
    scenario: &Scenario,
    options: &RunOptions,
    replicator_config: Option<&std::path::Path>,
    rename: &verify::reader::Rename,
    source: &harness::ClientProps,
    target: &harness::ClientProps,
    topics: &[String],
    consumed: u64,
) -> Result<reports::GroupCutover, ScenarioError> {
    let began = Instant::now();
    let translated_by = match (&scenario.system, replicator_config) {
        (SystemSpec::Builtin { .. }, Some(config)) => {
            let log = options
                .report_dir
                .join(format!("offsets-sync-{}.log", g.id));
            let out = tokio::process::Command::new(&options.cutover_exe)
                .args(["offsets", "sync", "--config"])
                .arg(config)
                .args(["--group", &g.id])
                .output()
                .await
                .map_err(ScenarioError::io(
                    "running cutover offsets sync".to_string(),
                ))?;
            let mut text = out.stdout.clone();
            text.extend_from_slice(&out.stderr);
            std::fs::write(&log, &text)
                .map_err(ScenarioError::io(format!("writing {}", log.display())))?;
            if !out.status.success() {
                tracing::warn!(group = %g.id, log = %log.display(), "offsets sync failed");
            }
            format!("cutover offsets sync ({})", out.status)
        }
        _ => "the system's own offset sync".to_string(),
    };
    let pairs: Vec<(String, String)> = topics
        .iter()
        .map(|t| (t.clone(), rename.target_of(t)))
        .collect();
    let fp = FingerprintOptions {
        include_timestamp: scenario.verify.timestamps,
        exclude_headers: scenario.verify.ignore_headers.clone(),
    };
    tracing::info!(group = %g.id, secs = began.elapsed().as_secs_f64(), %translated_by, "consumer group offsets translated");
    let (group, s, t) = (g.id.clone(), source.clone(), target.clone());
    let mut cut = tokio::task::spawn_blocking(move || {
        crate::groups::check(&group, &s, &t, &pairs, &fp, Duration::from_secs(30))
    })
    .await
    .map_err(|e| ScenarioError::System(format!("group check task: {e}")))??;
    tracing::info!(group = %g.id, secs = began.elapsed().as_secs_f64(), exact = cut.exact(), "consumer group checked on the target");
    cut.translated_by = translated_by;
    cut.consumed_on_source = consumed;
    Ok(cut)
}

fn class_name(c: verify::verdict::AnomalyClass) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{c:?}"))
}

fn regex_escape(s: &str) -> String {
    regex::escape(s)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn system_name(s: &SystemSpec) -> String {
    match s {
        SystemSpec::Builtin { replication, .. } => format!(
            "builtin ({})",
            replication
                .get("mode")
                .and_then(|m| m.as_str())
                .unwrap_or("exactly-once")
        ),
        SystemSpec::Command { command, .. } => format!("command ({})", command.join(" ")),
        SystemSpec::Running { .. } => "running outside cutover".into(),
        SystemSpec::Mirrormaker2 {
            exactly_once,
            config_file,
            ..
        } => match config_file {
            Some(f) => format!("mirrormaker2 ({f})"),
            None if *exactly_once => "mirrormaker2 (exactly-once)".into(),
            None => "mirrormaker2 (exactly-once off)".into(),
        },
    }
}

fn rename_of(s: &SystemSpec) -> verify::reader::Rename {
    match s {
        SystemSpec::Builtin { replication, .. } => {
            let mut r = verify::reader::Rename::default();
            if let Some(t) = replication.get("rename").and_then(|v| v.as_table()) {
                r.prefix = t
                    .get("prefix")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .into();
                r.suffix = t
                    .get("suffix")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .into();
                if let Some(m) = t.get("map").and_then(|v| v.as_table()) {
                    for (k, v) in m {
                        if let Some(v) = v.as_str() {
                            r.map.insert(k.clone(), v.to_string());
                        }
                    }
                }
            }
            r
        }
        SystemSpec::Command { rename_prefix, .. } | SystemSpec::Running { rename_prefix } => {
            verify::reader::Rename {
                prefix: rename_prefix.clone(),
                ..Default::default()
            }
        }
        // Named by its replication policy: see crate::mirrormaker::Mm2Config::rename.
        SystemSpec::Mirrormaker2 { .. } => verify::reader::Rename::default(),
    }
}

/// How long MirrorMaker 2 may take from JVM start to running every replication task.
const MM2_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Partitions of the source topics.
fn source_partitions(source: &Arc<dyn Cluster>, topics: &[String]) -> u32 {
    let Ok(config) = source.client_props().to_rdkafka() else {
        return 0;
    };
    let Ok(c) = config.create::<BaseConsumer>() else {
        return 0;
    };
    topics
        .iter()
        .filter_map(|t| c.fetch_metadata(Some(t), Duration::from_secs(5)).ok())
        .map(|md| {
            md.topics()
                .iter()
                .map(|t| t.partitions().len() as u32)
                .sum::<u32>()
        })
        .sum()
}

fn progress_of_phase(options: &RunOptions, phase: &'static str, started: Instant) {
    (options.progress)(Progress {
        phase,
        elapsed_secs: started.elapsed().as_secs_f64(),
        source_records: 0,
        target_records: 0,
        lag_records: None,
    });
}

/// How long a target short of the source may stand still before the drain gives up early.
/// Longer than a transaction timeout (60 s by default) plus a rebalance: a Connect worker
/// restarted after kill -9 in exactly-once mode waits that long for its config topic's open
/// transaction to be aborted before it replicates again.
const STUCK_AFTER: Duration = Duration::from_secs(90);

/// Committed records per partition of some topics, counted by a `read_committed` consumer that
/// keeps its place between calls (the drain of systems without a lag metric). Each partition
/// has its own queue so that its end-of-partition event is known to be its own.
struct CommittedCounter {
    consumer: Arc<BaseConsumer<harness::quiet::QuietEof>>,
    queues: Vec<(
        (String, i32),
        rdkafka::consumer::base_consumer::PartitionQueue<harness::quiet::QuietEof>,
    )>,
    counts: std::collections::BTreeMap<(String, i32), u64>,
    /// Partitions whose end (last stable offset) was reached since their last record.
    at_end: std::collections::BTreeSet<(String, i32)>,
}

impl CommittedCounter {
    fn new(props: &harness::ClientProps, topics: &[String]) -> Result<Self, ScenarioError> {
        let failed =
            |e: rdkafka::error::KafkaError| ScenarioError::System(format!("drain counter: {e}"));
        let mut c = props.to_rdkafka()?;
        c.set("group.id", "cutover-drain-counter")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true");
        let consumer: Arc<BaseConsumer<harness::quiet::QuietEof>> = Arc::new(
            c.create_with_context(harness::quiet::QuietEof)
                .map_err(failed)?,
        );
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut counts = std::collections::BTreeMap::new();
        for t in topics {
            let Ok(md) = consumer.fetch_metadata(Some(t), Duration::from_secs(5)) else {
                continue;
            };
            for p in md.topics().iter().flat_map(|x| x.partitions()) {
                tpl.add_partition_offset(t, p.id(), rdkafka::Offset::Beginning)
                    .map_err(failed)?;
                counts.insert((t.clone(), p.id()), 0);
            }
        }
        // Paused until every partition has its own queue, so no end-of-partition event reaches
        // the consumer's main queue (where it would name no topic).
        consumer.assign(&tpl).map_err(failed)?;
        consumer.pause(&tpl).map_err(failed)?;
        let queues = counts
            .keys()
            .filter_map(|(t, p)| {
                consumer
                    .split_partition_queue(t, *p)
                    .map(|q| ((t.clone(), *p), q))
            })
            .collect();
        consumer.resume(&tpl).map_err(failed)?;
        Ok(CommittedCounter {
            consumer,
            queues,
            counts,
            at_end: std::collections::BTreeSet::new(),
        })
    }

    /// True when the topics now have partitions this counter does not read (a target topic
    /// created, or grown, after the counter started).
    fn outgrown(&self, topics: &[String]) -> bool {
        let Ok(md) = self.consumer.fetch_metadata(None, Duration::from_secs(5)) else {
            return false;
        };
        let now = md
            .topics()
            .iter()
            .filter(|t| topics.iter().any(|x| x == t.name()))
            .map(|t| t.partitions().len())
            .sum::<usize>();
        now > self.counts.len()
    }

    /// Reads what is there for up to `budget`.
    fn advance(&mut self, budget: Duration) {
        let until = Instant::now() + budget;
        while Instant::now() < until {
            let mut any = false;
            for (key, queue) in &self.queues {
                while let Some(event) = queue.poll(Duration::ZERO) {
                    any = true;
                    match event {
                        Ok(_) => {
                            self.at_end.remove(key);
                            *self.counts.entry(key.clone()).or_insert(0) += 1;
                        }
                        Err(rdkafka::error::KafkaError::PartitionEOF(_)) => {
                            self.at_end.insert(key.clone());
                        }
                        Err(e) => tracing::debug!(error = %e, "drain counter"),
                    }
                }
            }
            // Serves the consumer's own events (errors; no rebalances: it assigns).
            let _ = self.consumer.poll(Duration::ZERO);
            if !any {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Where a count-based drain stands.
enum CountCheck {
    /// Every target partition holds at least its source partition's committed records.
    Reached,
    /// The source counter has not read to the end of every partition yet.
    SourceUnread,
    /// The target is short somewhere (a description of where).
    Short(String),
}

fn compare_counts(
    source: &CommittedCounter,
    target: &CommittedCounter,
    rename: &verify::reader::Rename,
) -> CountCheck {
    if source.at_end.len() < source.counts.len() {
        return CountCheck::SourceUnread;
    }
    let mut short = Vec::new();
    let (mut have, mut want) = (0u64, 0u64);
    for ((topic, p), n) in &source.counts {
        let t = target
            .counts
            .get(&(rename.target_of(topic), *p))
            .copied()
            .unwrap_or(0);
        have += t.min(*n);
        want += n;
        if t < *n {
            short.push(format!("{}[{p}] {t}/{n}", rename.target_of(topic)));
        }
    }
    if short.is_empty() {
        CountCheck::Reached
    } else {
        let shown: Vec<&String> = short.iter().take(5).collect();
        CountCheck::Short(format!(
            "the target holds {have} of the source's {want} committed records ({}{})",
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if short.len() > 5 { ", …" } else { "" }
        ))
    }
}

/// Instances that died on their own are a failure of the system under test.
fn report_exits(shared: &Shared, report: &mut RunReport) {
    for (i, status) in lock(&shared.instances).exited() {
        report
            .failures
            .push(format!("instance {i} exited on its own ({status})"));
    }
}

/// Builtin instances: every instance's lag metric is 0 (or it has none).
fn no_lag(shared: &Shared) -> bool {
    let inst = lock(&shared.instances);
    inst.running.values().all(|i| match i.metrics_port {
        Some(port) => {
            metric_sum(port, "cutover_replicator_lag_records").is_none_or(|v| v == 0.0)
                && metric_sum(port, "cutover_replicator_waiting_partitions")
                    .is_none_or(|v| v == 0.0)
        }
        None => true,
    })
}

/// The samples of one metric family: (labels, value).
fn metric_lines(port: u16, name: &str) -> Option<Vec<(String, f64)>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(
        body.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| {
                let (labels, value) = l[name.len()..].rsplit_once(' ')?;
                Some((labels.to_string(), value.parse().ok()?))
            })
            .collect(),
    )
}

fn metric_sum(port: u16, name: &str) -> Option<f64> {
    metric_lines(port, name).map(|v| v.iter().map(|(_, x)| x).sum())
}

/// What each builtin instance still reports as lag or waiting partitions (for the report).
fn lag_diagnosis(shared: &Shared) -> Vec<String> {
    let inst = lock(&shared.instances);
    let mut out = Vec::new();
    for i in inst.running.values() {
        let Some(port) = i.metrics_port else { continue };
        for name in [
            "cutover_replicator_lag_records",
            "cutover_replicator_waiting_partitions",
        ] {
            for (labels, v) in metric_lines(port, name).unwrap_or_default() {
                if v != 0.0 {
                    // The gauges behind a lag: where the writer is, what the consumer fetched,
                    // the end it saw and whether the writer is idle.
                    let mut why = String::new();
                    for (short, related) in [
                        ("position", "cutover_replicator_position"),
                        ("fetched", "cutover_replicator_fetched_offset"),
                        ("end", "cutover_replicator_source_end_offset"),
                        ("idle", "cutover_replicator_partition_idle"),
                    ] {
                        if let Some((_, x)) = metric_lines(port, related)
                            .unwrap_or_default()
                            .into_iter()
                            .find(|(l, _)| *l == labels)
                        {
                            why.push_str(&format!(" {short}={x}"));
                        }
                    }
                    out.push(format!("instance {}: {name}{labels} = {v}{why}", i.index));
                }
            }
        }
    }
    out
}

fn progress_of(
    options: &RunOptions,
    phase: &'static str,
    sampler: &Sampler,
    started: Instant,
    shared: &Shared,
) {
    let s = sampler.sample(started);
    let lag_records = {
        let inst = lock(&shared.instances);
        let ports: Vec<u16> = inst
            .running
            .values()
            .filter_map(|i| i.metrics_port)
            .collect();
        drop(inst);
        let sums: Vec<f64> = ports
            .iter()
            .filter_map(|p| metric_sum(*p, "cutover_replicator_lag_records"))
            .collect();
        (!sums.is_empty()).then(|| sums.iter().sum::<f64>().max(0.0) as u64)
    };
    (options.progress)(Progress {
        phase,
        elapsed_secs: started.elapsed().as_secs_f64(),
        source_records: s.source_end.max(0) as u64,
        target_records: s.target_end.max(0) as u64,
        lag_records,
    });
}

/// High watermarks of the source and target topics.
struct Sampler {
    source: BaseConsumer,
    target: BaseConsumer,
    topics: Vec<String>,
    target_topics: Vec<String>,
}

impl Sampler {
    fn new(
        source: &harness::ClientProps,
        target: &harness::ClientProps,
        topics: &[String],
        target_topics: &[String],
    ) -> Result<Sampler, ScenarioError> {
        let make = |p: &harness::ClientProps| -> Result<BaseConsumer, ScenarioError> {
            let mut c = p.to_rdkafka()?;
            c.set("group.id", "cutover-sampler")
                .set("enable.auto.commit", "false");
            c.create()
                .map_err(|e| ScenarioError::System(format!("sampler client: {e}")))
        };
        Ok(Sampler {
            source: make(source)?,
            target: make(target)?,
            topics: topics.to_vec(),
            target_topics: target_topics.to_vec(),
        })
    }

    fn sum(c: &BaseConsumer, topics: &[String]) -> i64 {
        let mut total = 0;
        for t in topics {
            let Ok(md) = c.fetch_metadata(Some(t), Duration::from_secs(2)) else {
                continue;
            };
            let parts: Vec<i32> = md
                .topics()
                .iter()
                .flat_map(|x| x.partitions().iter().map(|p| p.id()))
                .collect();
            for p in parts {
                if let Ok((_, high)) = c.fetch_watermarks(t, p, Duration::from_secs(2)) {
                    total += high;
                }
            }
        }
        total
    }

    fn sample(&self, started: Instant) -> Sample {
        Sample {
            at_secs: started.elapsed().as_secs_f64(),
            source_end: Self::sum(&self.source, &self.topics),
            target_end: Self::sum(&self.target, &self.target_topics),
        }
    }
}

/// Waits for the fault's time, applies it, undoes it after its duration; records the event.
async fn apply_fault(
    f: FaultSpec,
    shared: Arc<Shared>,
    source: Arc<dyn Cluster>,
    target: Arc<dyn Cluster>,
) {
    let at = shared.started + Duration::from_secs_f64(f.at_secs);
    tokio::time::sleep_until(at.into()).await;
    let start = shared.started.elapsed().as_secs_f64();
    let duration = f.duration_secs.map(Duration::from_secs_f64);
    let cluster = |side: Side| {
        if side == Side::Source {
            source.clone()
        } else {
            target.clone()
        }
    };
    let detail = serde_json::to_string(&f.action).unwrap_or_default();
    tracing::info!(fault = f.action.name(), at = f.at_secs, %detail, "fault");
    let result: Result<(), String> = async {
        match &f.action {
            FaultAction::AddInstance => blocking(&shared, |i| i.add().map(|_| ())).await,
            FaultAction::RemoveInstance { instance } => {
                let which = *instance;
                blocking(&shared, move |i| {
                    let idx = which.or_else(|| i.newest()).ok_or_else(|| {
                        crate::error::ScenarioError::System("no instance to remove".into())
                    })?;
                    i.stop(idx)
                })
                .await
            }
            FaultAction::StallInstance { instance } => {
                let idx = *instance;
                blocking(&shared, move |i| i.signal(idx, libc::SIGSTOP)).await?;
                tokio::time::sleep(duration.unwrap_or_default()).await;
                blocking(&shared, move |i| i.signal(idx, libc::SIGCONT)).await
            }
            FaultAction::CrashInstance { instance } => {
                let idx = *instance;
                blocking(&shared, move |i| i.crash(idx)).await?;
                tokio::time::sleep(duration.unwrap_or_default()).await;
                blocking(&shared, move |i| i.start(idx)).await
            }
            FaultAction::AddPartitions { topic, partitions } => {
                let admin = source.admin().map_err(|e| e.to_string())?;
                admin
                    .add_partitions(topic, *partitions as usize)
                    .await
                    .map_err(|e| e.to_string())
            }
            FaultAction::KillBroker {
                cluster: side,
                node,
            }
            | FaultAction::StopBroker {
                cluster: side,
                node,
            } => {
                let c = cluster(*side);
                if matches!(f.action, FaultAction::KillBroker { .. }) {
                    c.kill_broker(*node).await.map_err(|e| e.to_string())?;
                } else {
                    c.stop_broker(*node).await.map_err(|e| e.to_string())?;
                }
                if let Some(d) = duration {
                    tokio::time::sleep(d).await;
                    c.start_broker(*node).await.map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            FaultAction::BounceBrokers { cluster: side } => {
                let c = cluster(*side);
                for b in c.brokers() {
                    c.stop_broker(b.node_id).await.map_err(|e| e.to_string())?;
                    c.start_broker(b.node_id).await.map_err(|e| e.to_string())?;
                    tokio::time::sleep(duration.unwrap_or_default()).await;
                }
                Ok(())
            }
            FaultAction::AbortedBurst {
                topic,
                transactions,
                records_per_txn,
            } => {
                let props = source.client_props();
                let (topic, n, m) = (topic.clone(), *transactions, *records_per_txn);
                tokio::task::spawn_blocking(move || aborted_burst(&props, &topic, n, m))
                    .await
                    .map_err(|e| e.to_string())?
            }
            FaultAction::HangingTransaction {
                topic,
                partition,
                records,
            } => {
                let props = source.client_props();
                let (topic, p, n) = (topic.clone(), *partition, *records);
                let hold = duration.unwrap_or_default();
                tokio::task::spawn_blocking(move || hanging_transaction(&props, &topic, p, n, hold))
                    .await
                    .map_err(|e| e.to_string())?
            }
            FaultAction::Latency {
                cluster: side,
                direction,
                latency_ms,
                jitter_ms,
            } => {
                let (dir, latency, jitter) = (
                    way(*direction),
                    Duration::from_millis(*latency_ms),
                    Duration::from_millis(*jitter_ms),
                );
                network(
                    &cluster(*side),
                    duration,
                    |p| p.set_latency(dir, latency, jitter),
                    |p| p.set_latency(dir, Duration::ZERO, Duration::ZERO),
                )
                .await
            }
            FaultAction::Bandwidth {
                cluster: side,
                direction,
                bytes_per_sec,
            } => {
                let (dir, rate) = (way(*direction), *bytes_per_sec);
                network(
                    &cluster(*side),
                    duration,
                    |p| p.set_bandwidth(dir, Some(rate)),
                    |p| p.set_bandwidth(dir, None),
                )
                .await
            }
            FaultAction::Blackhole {
                cluster: side,
                direction,
            } => {
                let dir = way(*direction);
                network(
                    &cluster(*side),
                    duration,
                    |p| p.set_blackhole(dir, true),
                    |p| p.set_blackhole(dir, false),
                )
                .await
            }
            FaultAction::Reset { cluster: side } => {
                network(&cluster(*side), None, |p| p.reset_connections(), |_| {}).await
            }
            FaultAction::Refuse { cluster: side } => {
                network(
                    &cluster(*side),
                    duration,
                    |p| p.refuse_new(true),
                    |p| p.refuse_new(false),
                )
                .await
            }
        }
    }
    .await;
    let end = shared.started.elapsed().as_secs_f64();
    if let Err(e) = &result {
        tracing::warn!(fault = f.action.name(), error = %e, "fault could not be applied");
    }
    lock(&shared.faults).push(FaultEvent {
        kind: f.action.name().into(),
        detail,
        start_secs: start,
        end_secs: end,
        error: result.err().unwrap_or_default(),
    });
}

fn way(w: crate::spec::Way) -> harness::proxy::Direction {
    match w {
        crate::spec::Way::ToBroker => harness::proxy::Direction::ToBroker,
        crate::spec::Way::ToClient => harness::proxy::Direction::ToClient,
        crate::spec::Way::Both => harness::proxy::Direction::Both,
    }
}

/// Applies a network fault on every broker's proxy of the cluster, and undoes it after
/// `duration` (instant faults: `duration` is None and nothing is undone).
async fn network(
    cluster: &Arc<dyn Cluster>,
    duration: Option<Duration>,
    apply: impl Fn(&harness::proxy::Proxy),
    undo: impl Fn(&harness::proxy::Proxy),
) -> Result<(), String> {
    let proxies = cluster.proxies();
    if proxies.is_empty() {
        return Err(format!("the {} cluster has no proxies", cluster.name()));
    }
    for p in &proxies {
        apply(p);
    }
    if let Some(d) = duration {
        tokio::time::sleep(d).await;
        for p in &proxies {
            undo(p);
        }
    }
    Ok(())
}

async fn blocking<F>(shared: &Arc<Shared>, f: F) -> Result<(), String>
where
    F: FnOnce(&mut Instances) -> Result<(), ScenarioError> + Send + 'static,
{
    let sh = shared.clone();
    tokio::task::spawn_blocking(move || f(&mut lock(&sh.instances)).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

fn txn_producer(props: &harness::ClientProps, id: &str) -> Result<BaseProducer, String> {
    let mut c = props.to_rdkafka().map_err(|e| e.to_string())?;
    c.set("transactional.id", id);
    let p: BaseProducer = c.create().map_err(|e| e.to_string())?;
    p.init_transactions(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    Ok(p)
}

fn aborted_burst(props: &harness::ClientProps, topic: &str, n: u32, m: u32) -> Result<(), String> {
    let p = txn_producer(props, &format!("cutover-fault-burst-{topic}"))?;
    for t in 0..n {
        p.begin_transaction().map_err(|e| e.to_string())?;
        for r in 0..m {
            let value = format!("aborted burst txn {t} record {r}");
            let _ = p.send(
                BaseRecord::<str, str>::to(topic)
                    .key("burst")
                    .payload(&value),
            );
        }
        p.flush(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        p.abort_transaction(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn hanging_transaction(
    props: &harness::ClientProps,
    topic: &str,
    partition: i32,
    n: u32,
    hold: Duration,
) -> Result<(), String> {
    let p = txn_producer(props, &format!("cutover-fault-hang-{topic}-{partition}"))?;
    p.begin_transaction().map_err(|e| e.to_string())?;
    for r in 0..n {
        let value = format!("hanging record {r}");
        let _ = p.send(
            BaseRecord::<str, str>::to(topic)
                .partition(partition)
                .key("hang")
                .payload(&value),
        );
    }
    p.flush(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    std::thread::sleep(hold);
    p.abort_transaction(Duration::from_secs(30))
        .map_err(|e| e.to_string())
}

/// The client properties the system under test connects with: the clusters' (the harness's
/// super user on a secured cluster), or those of `source_user`/`target_user`.
fn system_props(
    system: &SystemSpec,
    source: &dyn Cluster,
    target: &dyn Cluster,
) -> Result<(harness::ClientProps, harness::ClientProps), ScenarioError> {
    let (source_user, target_user) = match system {
        SystemSpec::Builtin {
            source_user,
            target_user,
            ..
        } => (source_user.as_deref(), target_user.as_deref()),
        _ => (None, None),
    };
    let props = |cluster: &dyn Cluster, user: Option<&str>| match user {
        Some(user) => cluster.client_props_as(user).map_err(ScenarioError::from),
        None => Ok(cluster.client_props()),
    };
    Ok((props(source, source_user)?, props(target, target_user)?))
}

/// Every property but `bootstrap.servers`.
fn beyond_bootstrap(props: &harness::ClientProps) -> Vec<(String, String)> {
    props
        .iter()
        .filter(|(k, _)| *k != "bootstrap.servers")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
