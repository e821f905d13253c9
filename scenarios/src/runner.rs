//! A scenario run, as its phases over a [`RunState`]: provision the clusters ([`run`]) →
//! start the system ([`start_system`]) → workload, consumer groups and the fault schedule
//! (`produce_with_faults`) → drain (`drain`, deciding with [`crate::drain::decide`]) → delay →
//! consumer-group cutover → stop the system → verify → settle the outcome. Teardown happens on
//! every path (success, failure, error, Ctrl-C): clusters shut down, instances stopped, and a
//! report is written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::Cluster;
use verify::VerifyOptions;

use crate::drain::{CommittedCounter, CountCheck, Decision};
use crate::error::ScenarioError;
use crate::spec::{Scenario, Side};
use crate::system::{properties_text, Instances, Launcher, Ready, Setup, SystemUnderTest};

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
    /// The system under test, prepared.
    system: Arc<dyn SystemUnderTest>,
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
    shared: Arc<Shared>,
    sampler: crate::sampler::Sampler,
    series: Vec<Sample>,
    report: RunReport,
    /// The workload's ledger (acknowledged, committed records per partition), reconciled
    /// with what the checker read on the source.
    ledger: Option<workload::IntentLedger>,
    /// When the workload started producing (faults and rebalances count from there).
    workload_clock: Option<Arc<std::sync::OnceLock<Instant>>>,
    /// Configs with passwords (0600), removed when the run ends.
    _secrets: tempfile::TempDir,
    /// The run's schema registries (`[registries]`), owned by [`run`].
    registries: Option<&'a crate::registries::ScenarioRegistries>,
    /// Applications moved mid-run (`[[app]]`), between their switch tasks.
    apps: Vec<crate::app::AppLife>,
    /// The live `read_committed` observer of the workload's transactions on the target
    /// (`[verify] transactions`), from the workload's start to the end of the drain.
    observer: Option<verify::torn::Observer>,
}

/// `[verify] transactions = "observe"` (the default) observes at most this many target
/// partitions.
const OBSERVED_PARTITIONS_MAX: u64 = 300;

/// After a failover's cut, how long the target must hold still before the run goes on.
const SETTLE_AFTER_CUT: Duration = Duration::from_secs(10);

/// What the workload phase hands on.
struct Produced {
    last_write: Instant,
    consumed_by_group: BTreeMap<String, u64>,
    probe: crate::delay::DelayProbes,
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
    // A failover cut the source off: there is nothing to drain, only the system's last
    // transactions to land.
    let caught_up = if st.source_cut() {
        st.settle_after_cut().await;
        false
    } else {
        st.drain(produced.last_write).await?
    };
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
    let observed = st.observer.take().map(verify::torn::Observer::finish);
    st.finish_apps().await;
    st.stop_system().await;
    st.verify().await?;
    st.judge_transactions(observed).await;
    st.judge_apps().await?;
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
    // Applications run on the source first; their topics then exist for the system to copy.
    let apps = crate::app::start_on_source(scenario, &source, &options.report_dir).await?;
    // Configs with passwords live in a private temp dir; the report dir gets redacted copies.
    let secrets = tempfile::Builder::new()
        .prefix("cutover-secrets-")
        .tempdir()
        .map_err(ScenarioError::io("creating the private config dir"))?;
    let mut system = scenario.system.system();
    let (system_source, system_target) = system_props(&*system, &*source, &*target)?;
    let source_properties_file = secrets.path().join("source.properties");
    let target_properties_file = secrets.path().join("target.properties");
    crate::system::write_private(&source_properties_file, &properties_text(&system_source))?;
    crate::system::write_private(&target_properties_file, &properties_text(&system_target))?;
    system
        .prepare(&Setup {
            scenario,
            options,
            source: &source,
            target: &target,
            topics: &topics,
            secrets_dir: secrets.path(),
            source_props: &system_source,
            target_props: &system_target,
            registries,
        })
        .await?;
    let system: Arc<dyn SystemUnderTest> = Arc::from(system);
    let rename = system.rename();
    if !scenario.apps.is_empty() && rename != verify::Rename::default() {
        return Err(ScenarioError::System(format!(
            "{} renames the topics it copies; a moved application finds its topics on the target only under their own names",
            system.name()
        )));
    }
    let launcher = Launcher {
        cutover_exe: options.cutover_exe.clone(),
        dir: options.report_dir.clone(),
        system: system.clone(),
        scenario_dir: options.scenario_dir.clone(),
        source_bootstrap: source.bootstrap_servers(),
        target_bootstrap: target.bootstrap_servers(),
        secrets_dir: secrets.path().to_path_buf(),
        source_properties_file,
        target_properties_file,
        topics: topics.clone(),
    };
    let mut instances = crate::system::launch(launcher, system.instances())?;
    // The workload and the fault schedule start once the system copies (commands are taken
    // as started at once).
    system
        .wait_ready(
            &mut instances,
            &Ready {
                options,
                started,
                source: &source,
                target: &target,
                topics: &topics,
            },
        )
        .await?;
    let shared = Arc::new(Shared {
        started: Instant::now(),
        instances: Arc::new(Mutex::new(instances)),
        system: system.clone(),
    });
    let report = RunReport {
        schema_version: reports::SCHEMA_VERSION,
        scenario: scenario.scenario.name.clone(),
        description: scenario.scenario.description.clone(),
        system: system.name(),
        seed: scenario.workload.seed,
        cutover_version: env!("CARGO_PKG_VERSION").into(),
        outcome: Outcome::Fail,
        ..RunReport::default()
    };
    let target_topics: Vec<String> = topics.iter().map(|t| rename.target_of(t)).collect();
    let sampler = crate::sampler::Sampler::new(
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
        shared,
        sampler,
        series: Vec::new(),
        ledger: None,
        workload_clock: None,
        report,
        _secrets: secrets,
        registries,
        apps,
        observer: None,
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
        // Delay, measured on the target (end to end) and on the source (the copy's share)
        // while the run goes on.
        let probe = crate::delay::DelayProbes::start(
            &self.source.direct_client_props(),
            &self.topics,
            &self.target.direct_client_props(),
            &self.target_topics,
        )?;
        self.start_observer();
        self.progress("workload");
        let wl_options = workload::RunOptions {
            keep_records: false,
            ..workload::RunOptions::default()
        };
        let wl_cancel = wl_options.cancel.clone();
        let workload_clock = wl_options.clock.clone();
        self.workload_clock = Some(workload_clock.clone());
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
            system: self.shared.system.clone(),
            source: self.source.clone(),
            target: self.target.clone(),
        });
        let fault_tasks: Vec<_> = scenario
            .faults
            .iter()
            .map(|f| tokio::spawn(crate::faults::run(f.clone(), fault_targets.clone())))
            .collect();
        // Each application's switch, on the workload's clock.
        let switch_context = Arc::new(crate::app::SwitchContext {
            source: self.source.clone(),
            target: self.target.clone(),
            system: self.shared.system.clone(),
            options: options.clone(),
            workload_clock: fault_targets.workload_clock.clone(),
            rename: self.rename.clone(),
            seed: scenario.workload.seed,
            workload_cancel: wl_cancel.clone(),
        });
        let switch_tasks: Vec<_> = std::mem::take(&mut self.apps)
            .into_iter()
            .map(|life| tokio::spawn(crate::app::switch(life, switch_context.clone())))
            .collect();
        let run_deadline = Instant::now() + Duration::from_secs_f64(scenario.run.duration_secs);
        let workload_result = loop {
            tokio::select! {
                r = &mut producing => break Some(r),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            self.series.push(self.sampler.record(self.shared.started));
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
        for t in switch_tasks {
            if options.cancel.load(Ordering::Acquire) {
                // Ctrl-C: the application dies with its task (StreamsApp kills its process
                // group on Drop).
                t.abort();
                continue;
            }
            match t.await {
                Ok(life) => self.apps.push(life),
                Err(e) => self.report.fail(
                    RunClass::AppNotMoved,
                    1,
                    format!("an application's switch task failed: {e}"),
                ),
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

    /// Phase 5b: each moved application processes what the copy holds on the target, then
    /// stops.
    async fn finish_apps(&mut self) {
        if self.apps.is_empty() {
            return;
        }
        self.progress("apps");
        let clock = self.workload_clock.as_ref().and_then(|c| c.get().copied());
        for life in &mut self.apps {
            crate::app::finish(life, &self.target, &self.rename, clock).await;
        }
    }

    /// Phase 7b: each application's verdict against the oracle over its inputs.
    async fn judge_apps(&mut self) -> Result<(), ScenarioError> {
        for life in &self.apps {
            if let Some(Err(e)) = life.cut.as_ref().map(crate::app::Cut::proof) {
                self.report.undecide(
                    RunClass::FaultNotProven,
                    1,
                    format!(
                        "application {}: the failover's cut did not hold: {e}",
                        life.spec.name
                    ),
                );
            }
            if let Some(why) = &life.not_moved {
                self.report.fail(
                    RunClass::AppNotMoved,
                    1,
                    format!("application {}: {why}", life.spec.name),
                );
            }
            let app = match crate::app::judge(life, &self.source, &self.target, &self.rename).await
            {
                Ok(app) => app,
                Err(e) => {
                    self.report.undecide(
                        RunClass::CheckerFailed,
                        1,
                        format!(
                            "application {}: its updates could not be read: {e}",
                            life.spec.name
                        ),
                    );
                    continue;
                }
            };
            for (class, n, what) in [
                (
                    RunClass::Reprocessed,
                    app.reprocessed,
                    "inputs processed again",
                ),
                (
                    RunClass::Unprocessed,
                    app.unprocessed,
                    "inputs never processed",
                ),
                (
                    RunClass::StateDiverged,
                    app.state_diverged,
                    "updates with a diverged state",
                ),
                (
                    RunClass::AppUnexplained,
                    app.unexplained,
                    "updates for no input",
                ),
            ] {
                if n > 0 {
                    self.report.fail(
                        class,
                        n,
                        format!("application {}: {n} {what} across the switch", app.app),
                    );
                }
            }
            self.report.apps.push(app);
        }
        Ok(())
    }

    /// Ctrl-C: the partial report, marked aborted, with the system stopped.
    async fn aborted(mut self, probe: crate::delay::DelayProbes) -> RunReport {
        let _ = tokio::task::spawn_blocking(move || probe.finish()).await;
        self.report.outcome = Outcome::Aborted;
        self.report.series = std::mem::take(&mut self.series);
        self.stop_system().await;
        self.report
    }

    /// `[verify] transactions` (unless `off`): with transactional producers in the workload,
    /// the observer starts reading the target before the first record is written.
    fn start_observer(&mut self) {
        let sizes = self.scenario.workload.transaction_sizes();
        let promise = self.scenario.verify.transactions;
        if sizes.is_empty() || promise == verify::TransactionPromise::Off {
            return;
        }
        // The observer samples every partition's last stable offset every few milliseconds:
        // past a few hundred partitions only a promise made asks for it.
        let partitions = self.target_topics.len() as u64
            * u64::try_from(self.scenario.workload.topics.partitions).unwrap_or(0);
        if promise == verify::TransactionPromise::Observe && partitions > OBSERVED_PARTITIONS_MAX {
            tracing::info!(
                partitions,
                "transactions are not observed on the target past {OBSERVED_PARTITIONS_MAX} partitions unless `[verify] transactions = \"atomic\"`"
            );
            return;
        }
        match verify::torn::Observer::start(
            &self.target.direct_client_props(),
            &self.target_topics,
            sizes,
        ) {
            Ok(o) => self.observer = Some(o),
            Err(e) => self.report.undecide(
                RunClass::CheckerFailed,
                1,
                format!("the transaction observer could not start: {e}"),
            ),
        }
    }

    /// Phase 7c: each source transaction the observer saw, against its size on the source.
    /// Torn ones fail the run under `transactions = "atomic"`; otherwise they are reported.
    async fn judge_transactions(
        &mut self,
        observed: Option<std::collections::HashMap<verify::torn::TxnId, verify::torn::Seen>>,
    ) {
        let Some(seen) = observed else { return };
        let promise = self.scenario.verify.transactions;
        let sizes = self.scenario.workload.transaction_sizes();
        let (props, topics) = (self.source.direct_client_props(), self.topics.clone());
        let counted = tokio::task::spawn_blocking(move || {
            verify::torn::source_sizes(&props, &topics, &sizes, Duration::from_secs(60))
        })
        .await;
        let source = match counted {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return self.report.undecide(
                    RunClass::CheckerFailed,
                    1,
                    format!("the source's transactions could not be counted: {e}"),
                )
            }
            Err(e) => {
                return self.report.undecide(
                    RunClass::CheckerFailed,
                    1,
                    format!("the transaction count task failed: {e}"),
                )
            }
        };
        let t = verify::torn::judge(&seen, &source, promise);
        if promise == verify::TransactionPromise::Atomic && t.torn > 0 {
            self.report.fail(
                RunClass::TornTransaction,
                t.torn,
                format!(
                    "{} of {} source transactions were seen in parts on the target ({} still at the end; the longest for {} ms)",
                    t.torn, t.transactions, t.torn_at_end, t.max_torn_ms
                ),
            );
        }
        self.report.transactions = Some(t);
    }

    /// True when a failover cut the source off during the workload.
    fn source_cut(&self) -> bool {
        self.apps.iter().any(|a| a.cut.is_some())
    }

    /// Phase 3 after a failover: no drain (the source is gone); until the target held still
    /// for [`SETTLE_AFTER_CUT`] (the system's transactions in flight at the cut land or
    /// abort), within the drain timeout.
    async fn settle_after_cut(&mut self) {
        self.progress("drain");
        let deadline =
            Instant::now() + Duration::from_secs_f64(self.scenario.run.drain_timeout_secs);
        let mut last = self.sampler.sample(self.shared.started);
        let mut changed_at = Instant::now();
        while Instant::now() < deadline && !self.cancelled() {
            self.drain_tick(&mut last, &mut changed_at).await;
            if changed_at.elapsed() >= SETTLE_AFTER_CUT {
                break;
            }
        }
        report_exits(&self.shared, &mut self.report);
        self.report.series = std::mem::take(&mut self.series);
    }

    /// One second of the drain: a sample into the series, and when the target last grew.
    async fn drain_tick(&mut self, last: &mut Sample, changed_at: &mut Instant) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = self.sampler.record(self.shared.started);
        self.series.push(s);
        self.progress("drain");
        if s.target_end != last.target_end {
            *changed_at = Instant::now();
        }
        *last = s;
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
        let mut last = self.sampler.sample(self.shared.started);
        let mut changed_at = Instant::now();
        let mut caught_up = false;
        let mut stuck: Option<String> = None;
        while Instant::now() < drain_deadline && !self.cancelled() {
            self.drain_tick(&mut last, &mut changed_at).await;
            if target_count.outgrown(&self.target_topics) {
                target_count =
                    CommittedCounter::new(&self.target.direct_client_props(), &self.target_topics)?;
            }
            source_count.advance(Duration::from_millis(300));
            target_count.advance(Duration::from_millis(300));
            let observation = crate::drain::Observation {
                target_still_for: changed_at.elapsed(),
                system_reports_no_lag: self.shared.system.reports_no_lag(&self.shared.instances),
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
            let mut still = self.shared.system.lag_diagnosis(&self.shared.instances);
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

    /// Phase 4: the delay probes' histograms into the report: end to end, the source's share
    /// and the copy's own.
    async fn record_delay(&mut self, probe: crate::delay::DelayProbes) {
        let Ok((source, target)) = tokio::task::spawn_blocking(move || probe.finish()).await else {
            return;
        };
        if let Some(s) = &source {
            self.report.source_delay = reports::timeline::delay_of(
                &s.histogram,
                &format!(
                    "probe: {} records read on the source from {} of {} partitions, create time to readable",
                    s.histogram.len(),
                    s.partitions_timed,
                    s.partitions_read
                ),
            );
        }
        if let (Some(s), Some(t)) = (&source, &target) {
            if let Some(c) = crate::delay::copy_delay(s, t) {
                let mut left_out = Vec::new();
                if c.unmatched > 0 {
                    left_out.push(format!(
                        "{} read on the target but not by the source probe left out",
                        c.unmatched
                    ));
                }
                if c.ahead > 0 {
                    left_out.push(format!(
                        "{} read on the target first (probe skew) counted as 1 ms",
                        c.ahead
                    ));
                }
                let dropped = s.ids_dropped + t.ids_dropped;
                if dropped > 0 {
                    left_out.push(format!("{dropped} past the probes' id cap left out"));
                }
                self.report.copy_delay = reports::timeline::delay_of(
                    &c.histogram,
                    &format!(
                        "probes: {} workload records joined by id, readable on the source to readable on the target{}",
                        c.histogram.len(),
                        if left_out.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", left_out.join("; "))
                        }
                    ),
                );
            }
        }
        if let Some(m) = target {
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
        // A system that moves the groups itself (the built-in replicator: one `cutover
        // offsets sync` call) does it now; the others sync on their own schedule.
        let synced = self
            .shared
            .system
            .sync_groups(&self.scenario.consumer_groups, self.options)
            .await?;
        let synced_at = Instant::now();
        // Each group's translation is awaited (a system's own sync) and checked on a few
        // tasks at once: hundreds of groups, each a second or more of reads.
        let limit = Arc::new(tokio::sync::Semaphore::new(crate::groups::GROUP_CHECKS));
        // A system that syncs on its own schedule gets three of its intervals (30 s when
        // cutover does not know it) before a group is judged.
        let sync_bound = Duration::from_secs(
            self.shared
                .system
                .group_sync_interval_secs()
                .map_or(30, |s| 3 * s + 10),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for (i, g) in self.scenario.consumer_groups.iter().enumerate() {
            let job = crate::groups::GroupJob {
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
        // The system's last state (the replicator's last /metrics), saved while it answers.
        let scrapes = self
            .shared
            .system
            .save_last(&lock(&self.shared.instances), &self.options.report_dir);
        // Rebalances from here on are the stop's own (members leaving one by one).
        let stop_began = Instant::now();
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
        // The wall-clock moment the workload started, for systems that timestamp in their logs.
        let workload_started = self
            .workload_clock
            .as_ref()
            .and_then(|c| c.get().copied())
            .and_then(|at| std::time::SystemTime::now().checked_sub(at.elapsed()));
        self.report.rebalances = self
            .shared
            .system
            .rebalances(&lock(&self.shared.instances), workload_started);
        let stop_secs = self
            .workload_clock
            .as_ref()
            .and_then(|c| c.get().copied())
            .map(|at| stop_began.saturating_duration_since(at).as_secs_f64());
        if let (Some(r), Some(stop_secs)) = (&mut self.report.rebalances, stop_secs) {
            leave_out_the_stop(r, stop_secs);
        }
        if let Some(r) = &mut self.report.rebalances {
            attribute_rebalances(r, &self.report.faults);
        }
    }

    /// Phase 7: the registries (merged beside a system that copies bytes only, then
    /// compared) and the checker, held to the `[verify]` promises, registry-aware when the
    /// run has registries.
    async fn verify(&mut self) -> Result<(), ScenarioError> {
        self.progress("verify");
        let scenario = self.scenario;
        let schema_check = match self.registries {
            Some(r) => {
                if !self.shared.system.copies_schemas() {
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
            // Where the duplicates sit against the system's rebalances.
            duplicate_marks: self.duplicate_marks(),
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
                if let (Some(marks), Some(rebalances)) =
                    (&verify_options.duplicate_marks, &mut report.rebalances)
                {
                    place_duplicates(rebalances, &marks.counted());
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

    /// The checker's offset boundaries for placing duplicates after rebalances: each target
    /// partition's high watermark at each rebalance (the last sample at or before it). None
    /// without rebalances, without the workload's clock, or with the sampler's history full
    /// (a warning says so; `duplicates_after` then stays unknown).
    fn duplicate_marks(&self) -> Option<Arc<verify::DuplicateMarks>> {
        let events = &self.report.rebalances.as_ref()?.events;
        if events.is_empty() {
            return None;
        }
        let started = *self.workload_clock.as_ref()?.get()?;
        let history = self.sampler.history();
        if history.full {
            tracing::warn!(
                limit = crate::sampler::MAX_WATERMARK_VALUES,
                "too many target partitions × seconds to keep every watermark: duplicates are not placed after rebalances"
            );
            return None;
        }
        let moments: Vec<Instant> = events
            .iter()
            .map(|e| {
                let d = Duration::from_secs_f64(e.at_secs.abs());
                if e.at_secs >= 0.0 {
                    started + d
                } else {
                    started.checked_sub(d).unwrap_or(started)
                }
            })
            .collect();
        Some(Arc::new(verify::DuplicateMarks::new(
            moments.len(),
            history.at_moments(&moments),
        )))
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

/// Leaves out the rebalances at or after `stop_secs` (the instances being stopped one by one
/// make the group rebalance: cutover's doing, not the system's), with their moves.
fn leave_out_the_stop(r: &mut reports::Rebalances, stop_secs: f64) {
    let kept = r.events.partition_point(|e| e.at_secs < stop_secs);
    let left: Vec<_> = r.events.drain(kept..).collect();
    if left.is_empty() {
        return;
    }
    tracing::info!(
        rebalances = left.len(),
        stop_secs,
        "rebalances while the instances were being stopped are left out"
    );
    r.count = r.count.saturating_sub(left.len() as u64);
    if let Some(m) = &mut r.task_moves {
        *m = m.saturating_sub(left.iter().map(|e| e.moved).sum());
    }
}

/// How long after a fault ends a rebalance is still its doing: a member's session timeout
/// (10–45 s in practice) runs out after a stall or a cut, and a killed member's replacement
/// joins after its start.
const FAULT_REBALANCE_GRACE_SECS: f64 = 30.0;

/// Faults that do not touch a group's members or their connections.
const FAULTS_BESIDE_THE_GROUP: [&str; 3] =
    ["add-partitions", "aborted-burst", "hanging-transaction"];

/// Gives each rebalance during a fault (or within [`FAULT_REBALANCE_GRACE_SECS`] after it) the
/// cause `fault`, then counts the causes. A fault that did not take effect still counts: the
/// run is UNKNOWN then anyway. Only the built-in replicator says what its other rebalances
/// were (`replicator-logs`), so only there is `self_inflicted` known.
fn attribute_rebalances(r: &mut reports::Rebalances, faults: &[reports::FaultEvent]) {
    for e in &mut r.events {
        let during = faults.iter().any(|f| {
            !FAULTS_BESIDE_THE_GROUP.contains(&f.kind.as_str())
                && f.start_secs <= e.at_secs
                && e.at_secs <= f.end_secs.max(f.start_secs) + FAULT_REBALANCE_GRACE_SECS
        });
        if during {
            e.cause = Some("fault".into());
        }
    }
    r.by_cause.clear();
    for e in &r.events {
        *r.by_cause
            .entry(e.cause.clone().unwrap_or_else(|| "unknown".into()))
            .or_default() += 1;
    }
    r.self_inflicted = (r.observed_by == "replicator-logs").then(|| {
        ["poll-interval", "session-timeout"]
            .iter()
            .map(|c| r.by_cause.get(*c).copied().unwrap_or(0))
            .sum()
    });
}

/// Each rebalance's `duplicates_after` from the checker's buckets (bucket 0: before the
/// first rebalance, not anyone's; bucket k: after rebalance k). Left unknown when some
/// duplicate could not be placed (a partition the sampler never read).
fn place_duplicates(rebalances: &mut reports::Rebalances, counted: &verify::MarkedDuplicates) {
    if counted.unplaced > 0 {
        tracing::warn!(
            unplaced = counted.unplaced,
            "duplicates in target partitions the sampler never read: not placed after rebalances"
        );
        return;
    }
    for (e, n) in rebalances
        .events
        .iter_mut()
        .zip(counted.buckets.iter().skip(1))
    {
        e.duplicates_after = Some(*n);
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

fn progress_of(
    options: &RunOptions,
    phase: &'static str,
    sampler: &crate::sampler::Sampler,
    started: Instant,
    shared: &Shared,
) {
    let s = sampler.sample(started);
    let lag_records = shared.system.lag_records(&shared.instances);
    (options.progress)(Progress {
        phase,
        elapsed_secs: started.elapsed().as_secs_f64(),
        source_records: s.source_end.max(0) as u64,
        target_records: s.target_end.max(0) as u64,
        lag_records,
    });
}

/// The client properties the system under test connects with: the clusters' (the harness's
/// super user on a secured cluster), or those of `source_user`/`target_user`. On a proxied
/// cluster they cross the fault proxies; every client of cutover's own in a run uses
/// `direct_client_props` instead, so the proxies count the system's traffic alone.
fn system_props(
    system: &dyn SystemUnderTest,
    source: &dyn Cluster,
    target: &dyn Cluster,
) -> Result<(harness::ClientProps, harness::ClientProps), ScenarioError> {
    let (source_user, target_user) = system.users();
    let props = |cluster: &dyn Cluster, user: Option<&str>| match user {
        Some(user) => cluster.client_props_as(user).map_err(ScenarioError::from),
        None => Ok(cluster.client_props()),
    };
    Ok((props(source, source_user)?, props(target, target_user)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebalances(at: &[f64]) -> reports::Rebalances {
        reports::Rebalances {
            observed_by: "replicator-logs".into(),
            count: at.len() as u64,
            task_moves: Some(2 * at.len() as u64),
            events: at
                .iter()
                .map(|a| reports::RebalanceEvent {
                    at_secs: *a,
                    moved: 2,
                    ..reports::RebalanceEvent::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rebalances_during_a_fault_are_its_and_the_others_keep_the_system_cause() {
        let mut r = rebalances(&[3.0, 20.0, 50.0, 90.0]);
        r.observed_by = "replicator-logs".into();
        for (e, cause) in r.events.iter_mut().zip([
            "membership",
            "session-timeout",
            "poll-interval",
            "poll-interval",
        ]) {
            e.cause = Some(cause.into());
        }
        let fault = |kind: &str, start_secs: f64, end_secs: f64| reports::FaultEvent {
            kind: kind.into(),
            start_secs,
            end_secs,
            ..Default::default()
        };
        attribute_rebalances(
            &mut r,
            &[
                fault("stall-instance", 10.0, 15.0),
                // A fault beside the group explains nothing.
                fault("add-partitions", 88.0, 88.0),
            ],
        );
        let causes: Vec<_> = r.events.iter().map(|e| e.cause.clone().unwrap()).collect();
        assert_eq!(
            causes,
            ["membership", "fault", "poll-interval", "poll-interval"]
        );
        assert_eq!(r.by_cause.get("fault"), Some(&1));
        assert_eq!(r.by_cause.get("poll-interval"), Some(&2));
        assert_eq!(r.self_inflicted, Some(2));
        let mut connect = rebalances(&[3.0]);
        connect.observed_by = "connect-workers".into();
        attribute_rebalances(&mut connect, &[]);
        assert_eq!(connect.by_cause.get("unknown"), Some(&1));
        assert_eq!(connect.self_inflicted, None, "Connect does not say why");
    }

    #[test]
    fn rebalances_from_the_stop_on_are_left_out_with_their_moves() {
        let mut r = rebalances(&[3.0, 9.0, 40.0, 41.0]);
        leave_out_the_stop(&mut r, 40.0);
        assert_eq!((r.count, r.task_moves, r.events.len()), (2, Some(4), 2));
    }

    #[test]
    fn duplicates_are_placed_after_each_rebalance_unless_some_could_not_be() {
        let mut r = rebalances(&[3.0, 9.0]);
        let counted = verify::MarkedDuplicates {
            buckets: vec![1, 0, 7],
            unplaced: 0,
        };
        place_duplicates(&mut r, &counted);
        let after: Vec<_> = r.events.iter().map(|e| e.duplicates_after).collect();
        assert_eq!(
            after,
            [Some(0), Some(7)],
            "bucket 0 is before any rebalance"
        );
        let mut r = rebalances(&[3.0]);
        place_duplicates(
            &mut r,
            &verify::MarkedDuplicates {
                buckets: vec![0, 2],
                unplaced: 1,
            },
        );
        assert_eq!(r.events[0].duplicates_after, None);
    }
}
