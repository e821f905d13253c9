//! A scenario run, as its phases over a [`RunState`]: provision the clusters ([`run`]) →
//! start the system ([`start_system`]) → workload, consumer groups and the fault schedule
//! (`produce_with_faults`) → drain (`drain`, deciding with [`crate::drain::decide`]) → delay →
//! consumer-group cutover → stop the system → verify → settle the outcome. Teardown happens on
//! every path (success, failure, error, Ctrl-C): clusters shut down, instances stopped, and a
//! report is written.

use replicator::metrics::names;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::Cluster;
use rdkafka::consumer::{BaseConsumer, Consumer};
use verify::VerifyOptions;

use crate::drain::{CommittedCounter, CountCheck, Decision};
use crate::error::ScenarioError;
use crate::mirrormaker::Clusters;
use crate::spec::{Scenario, Side, SystemSpec};
use crate::system::{builtin_config, properties_text, Instances, Launcher, Mm2Launch};

use reports::RunClass;
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
    instances: Arc<Mutex<Instances>>,
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
    source_spec.proxy_seed = scenario.proxy_seed(Side::Source);
    target_spec.proxy_seed = scenario.proxy_seed(Side::Target);
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
    if report.outcome != Outcome::Aborted {
        report.expectation = scenario.expect.as_ref().map(|e| e.judge(&report));
    }
    crate::report::write(&mut report, scenario, &options.report_dir)?;
    Ok(report)
}

/// What a run carries from phase to phase.
struct RunState<'a> {
    scenario: &'a Scenario,
    options: &'a RunOptions,
    source: Arc<dyn Cluster>,
    target: Arc<dyn Cluster>,
    /// When the run began (progress times count from here).
    started: Instant,
    /// Source topics, and their names on the target.
    topics: Vec<String>,
    target_topics: Vec<String>,
    rename: verify::reader::Rename,
    /// The built-in replicator's config (for `cutover offsets sync`).
    replicator_config: Option<PathBuf>,
    shared: Arc<Shared>,
    sampler: Sampler,
    series: Vec<Sample>,
    report: RunReport,
    /// The workload's ledger (acknowledged, committed records per partition), reconciled
    /// with what the checker read on the source.
    ledger: Option<workload::IntentLedger>,
    /// Configs with passwords (0600), removed when the run ends.
    _secrets: tempfile::TempDir,
    /// The run's schema registries (`[registries]`), owned by [`run`].
    registries: Option<&'a crate::registries::ScenarioRegistries>,
}

/// What the workload phase hands on.
struct Produced {
    last_write: Instant,
    consumed_by_group: BTreeMap<String, u64>,
    probe: crate::delay::DelayProbe,
}

/// The phases of a run on provisioned clusters, in order.
async fn run_on(
    scenario: &Scenario,
    options: &RunOptions,
    source: Arc<dyn Cluster>,
    target: Arc<dyn Cluster>,
    started: Instant,
    registries: Option<&crate::registries::ScenarioRegistries>,
) -> Result<RunReport, ScenarioError> {
    let mut st = start_system(scenario, options, source, target, started, registries).await?;
    let produced = st.produce_with_faults().await?;
    if options.cancel.load(Ordering::Acquire) {
        return Ok(st.aborted(produced.probe).await);
    }
    let caught_up = st.drain(produced.last_write).await?;
    st.record_delay(produced.probe).await;
    if caught_up {
        let moved = st.cutover_groups(&produced.consumed_by_group).await?;
        if let Some(moved) = moved {
            // The consumers' switch downtime: from the last source write until every group's
            // offsets were on the target (the checks of where each resumes come after).
            if let Some(drain) = st.report.drain.as_mut() {
                drain.groups_moved_secs = Some(
                    moved
                        .saturating_duration_since(produced.last_write)
                        .as_secs_f64(),
                );
            }
        }
    }
    st.stop_system().await;
    st.verify().await?;
    st.settle();
    Ok(st.report)
}

/// Phase 1: topics, the system's configs and its instances (MirrorMaker 2: until its tasks
/// run), the sampler.
async fn start_system<'a>(
    scenario: &'a Scenario,
    options: &'a RunOptions,
    source: Arc<dyn Cluster>,
    target: Arc<dyn Cluster>,
    started: Instant,
    registries: Option<&'a crate::registries::ScenarioRegistries>,
) -> Result<RunState<'a>, ScenarioError> {
    let topics = scenario.workload.topics.names();
    workload::runner::create_topics(&scenario.workload, &source.direct_client_props()).await?;
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
    let is_builtin = matches!(scenario.system, SystemSpec::Builtin { .. });
    let mut instances = crate::system::launch(launcher, scenario.system.instances())?;
    if is_builtin {
        // As for MirrorMaker 2 below: the workload starts once the system copies, so the
        // delay probe times replication, not the instances' start (a group join and
        // `init_transactions`, seconds on a busy machine; docs/tuning.md, "Latency").
        progress_of_phase(options, "start", started);
        let partitions = source_partitions(&source, &topics).max(1);
        let waited = Instant::now();
        match wait_until_copying(&mut instances, partitions, BUILTIN_START_TIMEOUT, options)
            .await
        {
            Ok(()) => tracing::info!(
                partitions,
                secs = waited.elapsed().as_secs_f64(),
                "the built-in replicator is copying"
            ),
            Err(why) => tracing::warn!(
                partitions,
                secs = waited.elapsed().as_secs_f64(),
                "the built-in replicator is not copying every partition ({why}); starting the workload anyway"
            ),
        }
    }
    if let Some((status_topic, tasks_max)) = mm2_ready {
        // MirrorMaker 2 replicates only once its tasks run, many seconds after the JVMs start:
        // the workload and the fault schedule begin then (commands are taken as started at
        // once).
        progress_of_phase(options, "start", started);
        let partitions = source_partitions(&source, &topics).max(1);
        let tasks = tasks_max.min(partitions);
        let (props, cancel) = (target.direct_client_props(), options.cancel.clone());
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
        instances: Arc::new(Mutex::new(instances)),
    });
    let report = RunReport {
        schema_version: reports::SCHEMA_VERSION,
        scenario: scenario.scenario.name.clone(),
        description: scenario.scenario.description.clone(),
        system: system_name(&scenario.system),
        seed: scenario.workload.seed,
        cutover_version: env!("CARGO_PKG_VERSION").into(),
        outcome: Outcome::Fail,
        ..RunReport::default()
    };
    let target_topics: Vec<String> = topics.iter().map(|t| rename.target_of(t)).collect();
    let sampler = Sampler::new(
        &source.direct_client_props(),
        &target.direct_client_props(),
        &topics,
        &target_topics,
    )?;
    Ok(RunState {
        scenario,
        options,
        source,
        target,
        started,
        topics,
        target_topics,
        rename,
        replicator_config,
        shared,
        sampler,
        series: Vec::new(),
        ledger: None,
        report,
        _secrets: secrets,
        registries,
    })
}

impl RunState<'_> {
    fn progress(&self, phase: &'static str) {
        progress_of(
            self.options,
            phase,
            &self.sampler,
            self.started,
            &self.shared,
        );
    }

    fn cancelled(&self) -> bool {
        self.options.cancel.load(Ordering::Acquire)
    }

    /// Phase 2: the workload, the application consumer groups and the fault schedule, with
    /// the delay probe reading the target; until the workload ends (or Ctrl-C).
    async fn produce_with_faults(&mut self) -> Result<Produced, ScenarioError> {
        let (scenario, options) = (self.scenario, self.options);
        // End-to-end delay, measured on the target while the run goes on.
        let probe = crate::delay::DelayProbe::start(
            &self.target.direct_client_props(),
            &self.target_topics,
        )?;
        self.progress("workload");
        let wl_options = workload::RunOptions {
            keep_records: false,
            ..workload::RunOptions::default()
        };
        let wl_cancel = wl_options.cancel.clone();
        let workload_clock = wl_options.clock.clone();
        let spec = scenario.workload.clone();
        let props = self.source.direct_client_props();
        let mut producing =
            tokio::spawn(async move { workload::run(&spec, &props, wl_options).await });
        // Application consumer groups read the source while the workload runs.
        let mut app_consumers = Vec::new();
        for g in &scenario.consumer_groups {
            app_consumers.push(crate::groups::AppConsumer::start(
                g,
                &self.source.direct_client_props(),
                g.topics_of(&self.topics),
                self.shared.started,
            )?);
        }
        let fault_targets = Arc::new(crate::faults::FaultTargets {
            started: self.shared.started,
            workload_clock,
            instances: self.shared.instances.clone(),
            source: self.source.clone(),
            target: self.target.clone(),
        });
        let fault_tasks: Vec<_> = scenario
            .faults
            .iter()
            .map(|f| tokio::spawn(crate::faults::run(f.clone(), fault_targets.clone())))
            .collect();
        let run_deadline = Instant::now() + Duration::from_secs_f64(scenario.run.duration_secs);
        let workload_result = loop {
            tokio::select! {
                r = &mut producing => break Some(r),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            self.series.push(self.sampler.sample(self.shared.started));
            self.progress("workload");
            if self.cancelled() || Instant::now() > run_deadline + Duration::from_secs(30) {
                wl_cancel.store(true, Ordering::Release);
            }
            if self.cancelled() {
                break None;
            }
            report_exits(&self.shared, &mut self.report);
        };
        let last_write = Instant::now();
        match workload_result {
            Some(r) => {
                let wr = r.map_err(|e| ScenarioError::System(format!("workload task: {e}")))??;
                // Sent but never acknowledged (a failed delivery, or one never reported
                // before the producer's last flush) counts as failed.
                let failed = wr.counts.sent.saturating_sub(wr.counts.acked);
                if let Some(reason) = crate::reconcile::undelivered(wr.counts.sent, wr.counts.acked)
                {
                    self.report.undecided.push(reason);
                }
                self.report.workload = Some(WorkloadSummary {
                    sent: wr.counts.sent,
                    acked: wr.counts.acked,
                    failed,
                    committed: wr.counts.committed,
                    aborted: wr.counts.aborted,
                    upstream_duplicates: wr.counts.upstream_duplicates,
                    records_per_sec: wr.records_per_sec,
                    mb_per_sec: wr.mb_per_sec,
                });
                self.ledger = Some(wr.ledger);
            }
            None => {
                let _ = producing.await;
            }
        }
        // Faults still running (a stall or a stopped broker past the workload) finish first.
        // A fault task that panicked cannot vanish: its event says so and the run is unknown.
        for (t, f) in fault_tasks.into_iter().zip(&scenario.faults) {
            if options.cancel.load(Ordering::Acquire) {
                t.abort();
                continue;
            }
            match t.await {
                Ok(event) => self.report.faults.push(event),
                Err(e) => {
                    let cause = crate::faults::task_failure(e);
                    tracing::error!(fault = f.action.name(), %cause, "fault task failed");
                    self.report.faults.push(FaultEvent {
                        kind: f.action.name().into(),
                        detail: serde_json::to_string(&f.action).unwrap_or_default(),
                        start_secs: f.at_secs,
                        end_secs: f.at_secs,
                        error: format!("the fault's task failed: {cause}"),
                        effect: String::new(),
                        failed: true,
                    });
                }
            }
        }
        let mut consumed_by_group = BTreeMap::new();
        for app in app_consumers {
            let group = app.group.clone();
            let n = tokio::task::spawn_blocking(move || app.finish())
                .await
                .map_err(|e| ScenarioError::System(format!("consumer group task: {e}")))??;
            consumed_by_group.insert(group, n);
        }
        Ok(Produced {
            last_write,
            consumed_by_group,
            probe,
        })
    }

    /// Ctrl-C: the partial report, marked aborted, with the system stopped.
    async fn aborted(mut self, probe: crate::delay::DelayProbe) -> RunReport {
        let _ = tokio::task::spawn_blocking(move || probe.finish()).await;
        self.report.outcome = Outcome::Aborted;
        self.report.series = std::mem::take(&mut self.series);
        self.stop_system().await;
        self.report
    }

    /// Phase 3: the drain (see `drain`): true when the system caught up; otherwise the
    /// failure says where it stopped.
    async fn drain(&mut self, last_write: Instant) -> Result<bool, ScenarioError> {
        let scenario = self.scenario;
        self.progress("drain");
        let drain_started = Instant::now();
        let drain_deadline =
            drain_started + Duration::from_secs_f64(scenario.run.drain_timeout_secs);
        let mut source_count =
            CommittedCounter::new(&self.source.direct_client_props(), &self.topics)?;
        let mut target_count =
            CommittedCounter::new(&self.target.direct_client_props(), &self.target_topics)?;
        let same_partition = scenario.verify.partitions;
        let rename = self.rename.clone();
        let target_of = |t: &str| rename.target_of(t);
        let compare = |s: &CommittedCounter, t: &CommittedCounter| {
            crate::drain::compare(
                &s.progress,
                s.all_read(),
                &t.progress,
                &target_of,
                same_partition,
            )
        };
        let reports_lag = matches!(scenario.system, SystemSpec::Builtin { .. });
        let mut last = self.sampler.sample(self.shared.started);
        let mut changed_at = Instant::now();
        let mut caught_up = false;
        let mut stuck: Option<String> = None;
        while Instant::now() < drain_deadline && !self.cancelled() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let s = self.sampler.sample(self.shared.started);
            self.series.push(s);
            self.progress("drain");
            if s.target_end != last.target_end {
                changed_at = Instant::now();
            }
            last = s;
            if target_count.outgrown(&self.target_topics) {
                target_count =
                    CommittedCounter::new(&self.target.direct_client_props(), &self.target_topics)?;
            }
            source_count.advance(Duration::from_millis(300));
            target_count.advance(Duration::from_millis(300));
            let observation = crate::drain::Observation {
                target_still_for: changed_at.elapsed(),
                system_reports_no_lag: reports_lag.then(|| no_lag(&self.shared)),
                counts: compare(&source_count, &target_count),
            };
            match crate::drain::decide(&observation) {
                Decision::Wait => {}
                Decision::CaughtUp => {
                    caught_up = true;
                    break;
                }
                Decision::Stuck(why) => {
                    stuck = Some(why);
                    break;
                }
            }
        }
        report_exits(&self.shared, &mut self.report);
        let downtime = caught_up.then(|| {
            changed_at
                .saturating_duration_since(last_write)
                .as_secs_f64()
        });
        self.report.drain = Some(Drain {
            caught_up,
            secs: drain_started.elapsed().as_secs_f64(),
            downtime_secs: downtime,
            groups_moved_secs: None,
        });
        if !caught_up {
            let mut still = lag_diagnosis(&self.shared);
            if let Some(why) = stuck {
                still.push(format!(
                    "the target stopped growing {} s before catching up: {why}",
                    crate::drain::STUCK_AFTER.as_secs()
                ));
            } else if let CountCheck::Short(why) = compare(&source_count, &target_count) {
                still.push(why);
            }
            let short = still.len().max(1) as u64;
            self.report.fail(
                RunClass::NotCaughtUp,
                short,
                format!(
                    "the system did not catch up within the drain timeout ({} s){}",
                    scenario.run.drain_timeout_secs,
                    if still.is_empty() {
                        String::new()
                    } else if still.len() > 10 {
                        // Readable at thousands of partitions: the first ten, and how many more.
                        format!(
                            ": {}, and {} more",
                            still[..10].join(", "),
                            still.len() - 10
                        )
                    } else {
                        format!(": {}", still.join(", "))
                    }
                ),
            );
        }
        self.report.series = std::mem::take(&mut self.series);
        Ok(caught_up)
    }

    /// Phase 4: the delay probe's histogram into the report.
    async fn record_delay(&mut self, probe: crate::delay::DelayProbe) {
        if let Some(m) = tokio::task::spawn_blocking(move || probe.finish())
            .await
            .ok()
            .flatten()
        {
            let method = format!(
                "probe: {} records read on the target from {} of {} partitions, create time to readable{}",
                m.histogram.len(),
                m.partitions_timed,
                m.partitions_read,
                if m.skipped > 0 {
                    format!(" ({} without a plausible create time left out)", m.skipped)
                } else {
                    String::new()
                }
            );
            self.report.delay = reports::timeline::delay_of(&m.histogram, &method);
        }
    }

    /// Phase 5: consumer-group cutover: translate while the system still runs (a system may
    /// sync offsets itself), then check where each group would resume on the target.
    /// The answer: when every group's offsets were on the target (None: no groups, or
    /// interrupted).
    async fn cutover_groups(
        &mut self,
        consumed_by_group: &BTreeMap<String, u64>,
    ) -> Result<Option<Instant>, ScenarioError> {
        if self.scenario.consumer_groups.is_empty() {
            return Ok(None);
        }
        self.progress("groups");
        // The built-in replicator's groups move in one `cutover offsets sync` call.
        let synced = match (&self.scenario.system, self.replicator_config.as_deref()) {
            (SystemSpec::Builtin { .. }, Some(config)) => Some(
                sync_builtin_groups(&self.scenario.consumer_groups, self.options, config).await?,
            ),
            _ => None,
        };
        let synced_at = Instant::now();
        // Each group's translation is awaited (a system's own sync) and checked on a few
        // tasks at once: hundreds of groups, each a second or more of reads.
        let limit = Arc::new(tokio::sync::Semaphore::new(GROUP_CHECKS));
        // A system that syncs on its own schedule gets three of its intervals (30 s when
        // cutover does not know it) before a group is judged.
        let sync_bound = Duration::from_secs(
            self.scenario
                .system
                .group_sync_interval_secs()
                .map_or(30, |s| 3 * s + 10),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for (i, g) in self.scenario.consumer_groups.iter().enumerate() {
            let job = GroupJob {
                group: g.id.clone(),
                sync_bound,
                translated: synced.as_ref().map(|s| {
                    s.get(&g.id).cloned().unwrap_or_else(|| {
                        "cutover offsets sync (the group is missing from its answer)".into()
                    })
                }),
                pairs: g
                    .topics_of(&self.topics)
                    .iter()
                    .map(|t| (t.clone(), self.rename.target_of(t)))
                    .collect(),
                fingerprint: self.scenario.verify.fingerprint(),
                source: self.source.direct_client_props(),
                target: self.target.direct_client_props(),
                consumed: consumed_by_group.get(&g.id).copied().unwrap_or(0),
            };
            let (limit, cancel) = (limit.clone(), self.options.cancel.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                if cancel.load(Ordering::Acquire) {
                    return (i, None);
                }
                (i, Some(job.run().await))
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, Some(r))) => done.push((i, r?)),
                Ok((_, None)) => {}
                Err(e) => return Err(ScenarioError::System(format!("group check task: {e}"))),
            }
        }
        if self.cancelled() {
            return Ok(None);
        }
        done.sort_by_key(|(i, _)| *i);
        let mut moved = synced_at;
        for (i, (cut, translated_at)) in done {
            let g = &self.scenario.consumer_groups[i];
            moved = moved.max(translated_at);
            let tolerated = cut.skipped == 0
                && cut.untranslated == 0
                && cut.misplaced == 0
                && cut.reread <= g.allowed_reread;
            if !tolerated {
                let line = format!(
                    "consumer group {}: {} skipped, {} re-read, {} misplaced, {} untranslated of {} partitions after cutover",
                    cut.group, cut.skipped, cut.reread, cut.misplaced, cut.untranslated, cut.partitions
                );
                let reread = if cut.reread > g.allowed_reread {
                    cut.reread
                } else {
                    0
                };
                for (class, n) in [
                    (RunClass::GroupSkipped, cut.skipped),
                    (RunClass::GroupReRead, reread),
                    (RunClass::GroupMisplaced, cut.misplaced),
                    (RunClass::GroupUntranslated, cut.untranslated),
                ] {
                    if n > 0 {
                        self.report.fail(class, n, line.clone());
                    }
                }
            }
            self.report.consumer_groups.push(cut);
        }
        Ok(Some(moved))
    }

    /// Phase 6: every instance stopped (SIGTERM, grace, SIGKILL, each to its process group);
    /// their logs listed. A process of the system that outlived its stop (it left its
    /// instance's group, or ignored the stop) is killed, and the run fails naming it.
    async fn stop_system(&mut self) {
        // The replicator's last /metrics, saved while it still answers.
        let scrapes =
            crate::scrape::save_last(&lock(&self.shared.instances), &self.options.report_dir);
        let sh = self.shared.clone();
        let survivors = tokio::task::spawn_blocking(move || {
            let mut instances = lock(&sh.instances);
            instances.stop_all();
            instances.kill_survivors()
        })
        .await
        .unwrap_or_default();
        if !survivors.is_empty() {
            let named: Vec<String> = survivors.iter().map(ToString::to_string).collect();
            self.report.fail(
                RunClass::ProcessSurvived,
                survivors.len() as u64,
                format!(
                    "outlived the system's stop and were killed: {}",
                    named.join(", ")
                ),
            );
        }
        self.report.logs = lock(&self.shared.instances).logs();
        self.report.logs.extend(scrapes);
    }

    /// Phase 7: the registries (merged beside a system that copies bytes only, then
    /// compared) and the checker, held to the `[verify]` promises, registry-aware when the
    /// run has registries.
    async fn verify(&mut self) -> Result<(), ScenarioError> {
        self.progress("verify");
        let scenario = self.scenario;
        let schema_check = match self.registries {
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
                self.report.registries = Some(crate::registries::section_of(&registry_verdict));
                if !registry_verdict.passed() {
                    for (kind, n) in &registry_verdict.counts {
                        self.report.fail(
                            RunClass::of_registry_finding(kind),
                            *n as u64,
                            format!("schema registries: {n} {kind}"),
                        );
                    }
                }
                Some(r.check()?)
            }
            None => None,
        };
        let verify_options = VerifyOptions {
            schemas: schema_check,
            topics: self
                .topics
                .iter()
                .map(|t| regex_escape(t))
                .collect::<Vec<_>>()
                .join("|"),
            rename: self.rename.clone(),
            fingerprint: scenario.verify.fingerprint(),
            promises: scenario.verify.clone(),
            // Every topic the workload wrote is verified, whatever its name.
            exact_topics: Some(self.topics.clone()),
            // What the log cleaners of compacted topics did, where cutover started the brokers.
            cleaners: verify::Cleaners::of(self.source.as_ref(), self.target.as_ref()),
            ..VerifyOptions::default()
        };
        let report = &mut self.report;
        match verify::verify(
            &self.source.direct_client_props(),
            &self.target.direct_client_props(),
            &verify_options,
            Arc::new(|_| {}),
        )
        .await
        {
            Ok(verdict) => {
                for (class, n) in verdict.failing() {
                    report.failures.push(reports::Reason::anomaly(class, n));
                }
                // What the producers had acknowledged must be on the source.
                if let Some(reason) = self
                    .ledger
                    .as_ref()
                    .and_then(|l| crate::reconcile::source_lost(l, &verdict))
                {
                    report.failures.push(reason);
                }
                // Records an open transaction hid from the checker at the end.
                if !verdict.promises.allow_unverified {
                    for u in verdict.unverified() {
                        report.undecide(RunClass::Unverified, u.offsets(), u.to_string());
                    }
                }
                if let Some(reg) = &mut report.registries {
                    reg.note_records(&verdict);
                }
                report.verdict = Some(verdict);
            }
            // The system never created a topic it was to copy: it failed (not cutover).
            Err(verify::VerifyError::MissingTopic {
                topic,
                side: "target",
            }) => {
                report.fail(
                    RunClass::TargetTopicMissing,
                    1,
                    format!("target topic `{topic}` does not exist: the system never created it"),
                );
            }
            // cutover could not read a side: it cannot say whether the copy is right.
            Err(e) => {
                report.undecide(
                    RunClass::CheckerFailed,
                    1,
                    format!("the checker could not finish: {e}"),
                );
                report.verdict = Some(verify::verdict::Verdict::unknown(
                    verify_options.promises.clone(),
                ));
            }
        }
        Ok(())
    }

    /// Phase 8: the outcome from what was found (faults that did not take effect make an
    /// otherwise clean run unknown).
    fn settle(&mut self) {
        let report = &mut self.report;
        report.note_unproven_faults();
        report.settle_outcome();
        self.progress("done");
    }
}

/// Moves every application group of the scenario with one `cutover offsets sync` (the
/// built-in replicator's translation); returns, per group, how it was translated. Its output
/// is kept in `offsets-sync.log`.
async fn sync_builtin_groups(
    groups: &[crate::spec::ConsumerGroupSpec],
    options: &RunOptions,
    config: &std::path::Path,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    let began = Instant::now();
    let mut cmd = tokio::process::Command::new(&options.cutover_exe);
    cmd.args(["offsets", "sync", "--json", "--config"])
        .arg(config);
    for g in groups {
        cmd.args(["--group", &g.id]);
    }
    // Ctrl-C ends the sync with the run (the child is killed when its future is dropped).
    cmd.kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().map_err(ScenarioError::io(
        "running cutover offsets sync".to_string(),
    ))?;
    let output = child.wait_with_output();
    tokio::pin!(output);
    let out = loop {
        tokio::select! {
            out = &mut output => break out.map_err(ScenarioError::io(
                "running cutover offsets sync".to_string(),
            ))?,
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if options.cancel.load(Ordering::Acquire) {
                    tracing::warn!("interrupted: cutover offsets sync stopped");
                    return Ok(BTreeMap::new());
                }
            }
        }
    };
    let log = options.report_dir.join("offsets-sync.log");
    let mut text = out.stdout.clone();
    text.extend_from_slice(&out.stderr);
    std::fs::write(&log, &text).map_err(ScenarioError::io(format!("writing {}", log.display())))?;
    // The sync's own JSON, read back with its own types; an unreadable answer leaves every
    // group "missing from its answer".
    let answer: Vec<replicator::offsets::GroupSync> =
        serde_json::from_slice(&out.stdout).unwrap_or_default();
    let by_group = answer
        .into_iter()
        .map(|g| (g.group, format!("cutover offsets sync ({})", g.outcome)))
        .collect();
    if !out.status.success() {
        tracing::warn!(log = %log.display(), status = %out.status, "offsets sync did not move every group");
    }
    tracing::info!(
        groups = groups.len(),
        secs = began.elapsed().as_secs_f64(),
        "consumer group offsets translated by cutover offsets sync"
    );
    Ok(by_group)
}

/// How many consumer groups are awaited and checked on the target at once.
const GROUP_CHECKS: usize = 6;

/// One application group's move to the target, awaited and checked.
struct GroupJob {
    group: String,
    /// How long a system's own offset sync is waited for.
    sync_bound: Duration,
    /// How cutover translated the group's offsets (None: the system syncs them itself).
    translated: Option<String>,
    /// (source topic, target topic) of the topics the group reads.
    pairs: Vec<(String, String)>,
    fingerprint: verify::FingerprintOptions,
    source: harness::ClientProps,
    target: harness::ClientProps,
    consumed: u64,
}

impl GroupJob {
    /// Waits for a system's own offset sync when cutover did not translate, then checks where
    /// the group resumes on the target. The instant: when its offsets were on the target.
    async fn run(self) -> Result<(reports::GroupCutover, Instant), ScenarioError> {
        let began = Instant::now();
        let GroupJob {
            group,
            sync_bound,
            translated,
            pairs,
            fingerprint,
            source,
            target,
            consumed,
        } = self;
        let translated_by = match translated {
            Some(how) => how,
            None => {
                let (g, s, t, p) = (group.clone(), source.clone(), target.clone(), pairs.clone());
                let synced = tokio::task::spawn_blocking(move || {
                    crate::groups::wait_for_sync(&g, &s, &t, &p, sync_bound)
                })
                .await
                .map_err(|e| ScenarioError::System(format!("group sync wait: {e}")))??;
                format!(
                    "the system's own offset sync ({} within {} s)",
                    if synced { "seen" } else { "not complete" },
                    sync_bound.as_secs()
                )
            }
        };
        let translated_at = Instant::now();
        tracing::info!(%group, secs = began.elapsed().as_secs_f64(), %translated_by, "consumer group offsets translated");
        let g = group.clone();
        let mut cut = tokio::task::spawn_blocking(move || {
            crate::groups::check(
                &g,
                &source,
                &target,
                &pairs,
                &fingerprint,
                Duration::from_secs(30),
            )
        })
        .await
        .map_err(|e| ScenarioError::System(format!("group check task: {e}")))??;
        tracing::info!(%group, secs = began.elapsed().as_secs_f64(), exact = cut.exact(), "consumer group checked on the target");
        cut.translated_by = translated_by;
        cut.consumed_on_source = consumed;
        Ok((cut, translated_at))
    }
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
        SystemSpec::Command { command, .. } => {
            format!("command ({})", secrets::redact_args(command).join(" "))
        }
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

fn rename_of(s: &SystemSpec) -> verify::Rename {
    match s {
        // The replicator's `[replication.rename]` is the checker's type (checked with the spec).
        SystemSpec::Builtin { replication, .. } => replication
            .get("rename")
            .and_then(|v| v.clone().try_into::<verify::Rename>().ok())
            .unwrap_or_default(),
        SystemSpec::Command { rename_prefix, .. } | SystemSpec::Running { rename_prefix } => {
            verify::Rename::prefix(rename_prefix.clone())
        }
        // Named by its replication policy: see crate::mirrormaker::Mm2Config::rename.
        SystemSpec::Mirrormaker2 { .. } => verify::Rename::default(),
    }
}

/// How long MirrorMaker 2 may take from JVM start to running every replication task.
const MM2_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the workload waits for the built-in replicator's instances to copy every
/// partition (a scenario whose system cannot start goes on after this).
const BUILTIN_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until the built-in replicator's instances together copy `partitions` source
/// partitions (their `/metrics`: assigned, none waiting). Err says why it stopped waiting: an
/// instance exited, the timeout, or Ctrl-C.
async fn wait_until_copying(
    instances: &mut crate::system::Instances,
    partitions: u32,
    timeout: Duration,
    options: &RunOptions,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        for i in instances.running.values_mut() {
            if let Ok(Some(status)) = i.child.try_wait() {
                return Err(format!("instance {} exited: {status}", i.index));
            }
        }
        let ports: Vec<u16> = instances
            .running
            .values()
            .filter_map(|i| i.metrics_port)
            .collect();
        // Per instance (assigned, waiting); None while any instance does not answer yet.
        let counts = tokio::task::spawn_blocking(move || {
            ports
                .into_iter()
                .map(|p| {
                    Some((
                        metric_sum(p, names::ASSIGNED_PARTITIONS)?,
                        metric_sum(p, names::WAITING_PARTITIONS)?,
                    ))
                })
                .collect::<Option<Vec<_>>>()
        })
        .await
        .map_err(|e| e.to_string())?;
        if let Some(counts) = counts.filter(|c| !c.is_empty()) {
            let assigned: f64 = counts.iter().map(|(a, _)| a).sum();
            let waiting: f64 = counts.iter().map(|(_, w)| w).sum();
            if assigned >= f64::from(partitions) && waiting == 0.0 {
                return Ok(());
            }
        }
        if options.cancel.load(Ordering::Acquire) {
            return Err("cancelled".into());
        }
        if Instant::now() > deadline {
            return Err(format!("not after {} s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Partitions of the source topics.
fn source_partitions(source: &Arc<dyn Cluster>, topics: &[String]) -> u32 {
    let Ok(config) = source.direct_client_props().to_rdkafka() else {
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

/// Instances that died on their own are a failure of the system under test.
fn report_exits(shared: &Shared, report: &mut RunReport) {
    for (i, status) in lock(&shared.instances).exited() {
        report.fail(
            RunClass::InstanceExited,
            1,
            format!("instance {i} exited on its own ({status})"),
        );
    }
}

/// Builtin instances: every running instance answers its metrics endpoint with lag 0 and no
/// waiting partition. An endpoint that does not answer is not "no lag".
fn no_lag(shared: &Shared) -> bool {
    let inst = lock(&shared.instances);
    inst.running.values().all(|i| match i.metrics_port {
        Some(port) => {
            metric_sum(port, names::LAG_RECORDS) == Some(0.0)
                && metric_sum(port, names::WAITING_PARTITIONS) == Some(0.0)
        }
        None => true,
    })
}

/// The samples of one metric family: (labels, value).
fn metric_lines(port: u16, name: &str) -> Option<Vec<(String, f64)>> {
    let body = crate::scrape::fetch(port)?;
    Some(crate::scrape::samples(&body, name))
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
        for name in [names::LAG_RECORDS, names::WAITING_PARTITIONS] {
            for (labels, v) in metric_lines(port, name).unwrap_or_default() {
                if v != 0.0 {
                    // The gauges behind a lag: where the writer is, what the consumer fetched,
                    // the end it saw and whether the writer is idle.
                    let mut why = String::new();
                    for (short, related) in [
                        ("position", names::POSITION),
                        ("fetched", names::FETCHED_OFFSET),
                        ("end", names::SOURCE_END_OFFSET),
                        ("idle", names::PARTITION_IDLE),
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
            .filter_map(|p| metric_sum(*p, names::LAG_RECORDS))
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
            p.reader("cutover-sampler")?
                .create()
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
        harness::watermarks::end_offsets(c, topics, Duration::from_secs(5))
            .values()
            .sum()
    }

    fn sample(&self, started: Instant) -> Sample {
        Sample {
            at_secs: started.elapsed().as_secs_f64(),
            source_end: Self::sum(&self.source, &self.topics),
            target_end: Self::sum(&self.target, &self.target_topics),
        }
    }
}

/// The client properties the system under test connects with: the clusters' (the harness's
/// super user on a secured cluster), or those of `source_user`/`target_user`. On a proxied
/// cluster they cross the fault proxies; every client of cutover's own in a run uses
/// `direct_client_props` instead, so the proxies count the system's traffic alone.
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
