//! Application cutover (`[[app]]`): a stateful Kafka Streams application moved from the source
//! to the target while the workload writes, and judged.
//!
//! 1. Before the system under test starts, the application's output topic is created on the
//!    source and the application starts there (`harness::streams`), until it runs; its internal
//!    topics (`{application.id}-…-changelog`, `-repartition`) then exist, and the system copies
//!    them with the workload's topics and the output ([`topics_to_copy`]).
//! 2. At `switch.at_secs` on the workload's clock ([`switch`]): the application is stopped on
//!    the source (SIGTERM: Streams commits and leaves its group); cutover waits until the
//!    system has copied the output and internal topics (the source's last record of each
//!    partition on the target, as the drain judges it) and moved the application's group
//!    offsets (the system's own sync: `cutover offsets sync` for the built-in replicator;
//!    otherwise until the group has committed offsets on the target); then the application
//!    starts against the target with the same `application.id` and an empty state directory,
//!    so its state comes back from the copied changelog.
//! 3. After the drain ([`finish`]): until the application's group on the target has committed
//!    the end of every partition it reads, then it is stopped.
//! 4. The verdict (`verify::app`): every update of the reference application, on the source
//!    and then on the target, against the oracle over the source's input records; downtime
//!    (last update on the source → first on the target) and restore time (from the
//!    application's own log).
//!
//! The switch proves what it did from the system and the application themselves: the target's
//! records, the group's committed offsets on the target, the application's log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use harness::streams::{AppCode, CounterSettings, StreamsApp, StreamsRuntime, StreamsSpec};
use harness::{Cluster, TopicSpec};

use crate::drain::{compare, CommittedCounter, CountCheck};
use crate::error::ScenarioError;
use crate::runner::RunOptions;
use crate::spec::{AppSpec, ConsumerGroupSpec, Scenario, SwitchMode};
use crate::system::SystemUnderTest;

/// A group's committed offsets per partition (None: nothing committed).
type Committed = BTreeMap<(String, i32), Option<i64>>;

/// How long an application may take to reach RUNNING.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// SIGTERM → SIGKILL for a planned stop.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long the application on the target may take to process what the copy holds after the
/// drain.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(90);

/// The regexes of every application's topics the system must copy with the workload's.
pub fn topics_to_copy(scenario: &Scenario) -> Vec<String> {
    scenario
        .apps
        .iter()
        .flat_map(AppSpec::topics_to_copy)
        .collect()
}

/// The consumer groups of every application (their `application.id`s) whose offsets move
/// (`switch.move_offsets`), which a system that can sync groups all along keeps on the target.
pub fn groups_to_sync(scenario: &Scenario) -> Vec<String> {
    scenario
        .apps
        .iter()
        .filter(|a| a.switch.move_offsets)
        .map(AppSpec::application_id)
        .collect()
}

/// One application through the run.
pub struct AppLife {
    pub spec: AppSpec,
    runtime: StreamsRuntime,
    code: AppCode,
    dir: PathBuf,
    /// The input topics (source names), resolved once the workload's topics exist.
    inputs: Vec<String>,
    on_source: Option<StreamsApp>,
    on_target: Option<StreamsApp>,
    /// What the switch did, with times since the workload started.
    pub steps: Vec<String>,
    /// Why the switch did not complete.
    pub not_moved: Option<String>,
    restore_ms: Option<u64>,
    restored_records: Option<u64>,
    /// A failover's cut.
    pub cut: Option<Cut>,
}

/// A failover's cut of the source, and what proves it held.
#[derive(Debug, Clone)]
pub struct Cut {
    /// Seconds on the workload's clock.
    pub at_secs: f64,
    /// The source's proxies (each broker's), cut.
    pub proxies: Vec<Arc<harness::proxy::Proxy>>,
    /// Bytes the proxies had forwarded a moment after the cut (nothing may cross after).
    pub forwarded: u64,
}

impl Cut {
    fn forwarded_now(proxies: &[Arc<harness::proxy::Proxy>]) -> u64 {
        proxies
            .iter()
            .map(|p| {
                let s = p.stats();
                s.bytes_to_broker + s.bytes_to_client
            })
            .sum()
    }

    fn dropped_now(&self) -> u64 {
        self.proxies
            .iter()
            .map(|p| {
                let s = p.stats();
                s.dropped_to_broker + s.dropped_to_client
            })
            .sum()
    }

    /// Whether the cut held: nothing forwarded since, and the system's attempts dropped.
    pub fn proof(&self) -> Result<String, String> {
        let now = Self::forwarded_now(&self.proxies);
        let dropped = self.dropped_now();
        if self.forwarded == 0 {
            return Err(format!(
                "the system never reached the source through its {} proxies before the cut, so cutting them proves nothing",
                self.proxies.len()
            ));
        }
        if now != self.forwarded {
            return Err(format!(
                "the source's proxies forwarded {} bytes after the cut",
                now.saturating_sub(self.forwarded)
            ));
        }
        Ok(format!(
            "the cut held: 0 bytes crossed the source's {} proxies after it, {dropped} bytes of the system's dropped",
            self.proxies.len()
        ))
    }
}

impl AppLife {
    /// The topics its group reads, by their names on the target: its inputs and, for the
    /// reference counter, its repartition topic (a user's application is judged on its
    /// inputs).
    fn group_topics(&self, rename: &verify::reader::Rename) -> Vec<String> {
        let mut t: Vec<String> = self.inputs.iter().map(|t| rename.target_of(t)).collect();
        if self.spec.jar.is_none() {
            t.push(rename.target_of(&harness::streams::counter_repartition(
                &self.spec.application_id(),
            )));
        }
        t
    }

    fn step(&mut self, clock: Option<Instant>, what: String) {
        let at = clock.map_or(0.0, |c| c.elapsed().as_secs_f64());
        tracing::info!(app = %self.spec.name, at_secs = at, "{what}");
        self.steps.push(format!("{at:.1} s: {what}"));
    }

    fn spec_on(&self, cluster: &dyn Cluster, stamp: &str) -> StreamsSpec {
        let id = self.spec.application_id();
        let settings = CounterSettings {
            input_pattern: self
                .inputs
                .iter()
                .map(|t| regex::escape(t))
                .collect::<Vec<_>>()
                .join("|"),
            output_topic: self.spec.output_topic(),
            stamp: stamp.to_string(),
        };
        let mut properties: BTreeMap<String, String> = settings.properties().into_iter().collect();
        properties.insert("processing.guarantee".into(), "exactly_once_v2".into());
        for (k, v) in &self.spec.properties {
            properties.insert(k.clone(), v.clone());
        }
        StreamsSpec {
            application_id: id,
            client: cluster.direct_client_props(),
            app: self.code.clone(),
            properties,
            state_dir: self.dir.join(format!("state-{stamp}")),
            log: self.dir.join(format!("{stamp}.log")),
            heap_mb: harness::streams::DEFAULT_HEAP_MB,
        }
    }
}

/// Phase 1: every application's output topic on the source, and the application running
/// there. Blocking parts (javac, the JVM's start) run off the runtime.
pub async fn start_on_source(
    scenario: &Scenario,
    source: &Arc<dyn Cluster>,
    report_dir: &std::path::Path,
) -> Result<Vec<AppLife>, ScenarioError> {
    let mut lives = Vec::new();
    if scenario.apps.is_empty() {
        return Ok(lives);
    }
    let runtime = StreamsRuntime::prepare(&scenario.target.kafka_version, |event| {
        tracing::info!(?event, "Kafka Streams jars")
    })
    .await?;
    let workload_topics = scenario.workload.topics.names();
    let admin = source.admin()?;
    for spec in &scenario.apps {
        let code = match (&spec.jar, &spec.main_class) {
            (Some(jar), Some(main_class)) => AppCode::Jar {
                jar: jar.clone(),
                main_class: main_class.clone(),
            },
            _ => {
                let rt = runtime.clone();
                let compiled = tokio::task::spawn_blocking(move || rt.reference_app())
                    .await
                    .map_err(|e| {
                        ScenarioError::System(format!("compiling the reference app: {e}"))
                    })??;
                AppCode::Reference {
                    classes: compiled.classes,
                }
            }
        };
        let re = regex::Regex::new(&format!("^(?:{})$", spec.input_regex(&workload_topics)))
            .map_err(|e| ScenarioError::System(format!("app {}: input: {e}", spec.name)))?;
        let inputs: Vec<String> = workload_topics
            .iter()
            .filter(|t| re.is_match(t))
            .cloned()
            .collect();
        if inputs.is_empty() {
            return Err(ScenarioError::System(format!(
                "app {}: its input matches none of the workload's topics",
                spec.name
            )));
        }
        admin
            .create_topics(
                &[TopicSpec::new(
                    spec.output_topic(),
                    scenario.workload.topics.partitions,
                    scenario.workload.topics.replication_factor,
                )],
                true,
            )
            .await?;
        let dir = report_dir.join("apps").join(&spec.name);
        std::fs::create_dir_all(&dir)
            .map_err(ScenarioError::io(format!("creating {}", dir.display())))?;
        let mut life = AppLife {
            spec: spec.clone(),
            runtime: runtime.clone(),
            code,
            dir,
            inputs,
            on_source: None,
            on_target: None,
            steps: Vec::new(),
            not_moved: None,
            restore_ms: None,
            restored_records: None,
            cut: None,
        };
        let s = life.spec_on(&**source, verify::app::STAMP_SOURCE);
        let rt = life.runtime.clone();
        let app = tokio::task::spawn_blocking(move || -> Result<StreamsApp, ScenarioError> {
            let mut app = StreamsApp::start(&rt, &s)?;
            app.wait_running(START_TIMEOUT)?;
            Ok(app)
        })
        .await
        .map_err(|e| ScenarioError::System(format!("starting app {}: {e}", spec.name)))??;
        life.on_source = Some(app);
        life.step(None, "running on the source".into());
        lives.push(life);
    }
    Ok(lives)
}

/// What the switch needs of the run.
pub struct SwitchContext {
    pub source: Arc<dyn Cluster>,
    pub target: Arc<dyn Cluster>,
    pub system: Arc<dyn SystemUnderTest>,
    pub options: RunOptions,
    pub workload_clock: Arc<OnceLock<Instant>>,
    pub rename: verify::reader::Rename,
    /// The run's seed (a failover's moment in its window).
    pub seed: u64,
    /// Stops the workload's producers (a failover: they go down with the source).
    pub workload_cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// Phase 2 (a task beside the workload): the planned switch at `switch.at_secs`.
pub async fn switch(mut life: AppLife, ctx: Arc<SwitchContext>) -> AppLife {
    let clock = loop {
        if let Some(c) = ctx.workload_clock.get() {
            break *c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_secs = life.spec.switch_at_secs(ctx.seed);
    let at = clock + Duration::from_secs_f64(at_secs);
    tokio::time::sleep_until(at.into()).await;
    let steps = match life.spec.switch.mode {
        SwitchMode::Planned => switch_steps(&mut life, &ctx, clock).await,
        SwitchMode::Failover => failover_steps(&mut life, &ctx, clock, at_secs).await,
    };
    if let Err(e) = steps {
        life.step(Some(clock), format!("the switch failed: {e}"));
        life.not_moved = Some(e);
    }
    life
}

async fn switch_steps(
    life: &mut AppLife,
    ctx: &SwitchContext,
    clock: Instant,
) -> Result<(), String> {
    let id = life.spec.application_id();
    if let Some(mut app) = life.on_source.take() {
        let (app, clean) = tokio::task::spawn_blocking(move || {
            let clean = app.stop(STOP_GRACE);
            (app, clean)
        })
        .await
        .map_err(|e| e.to_string())?;
        let closed = app.log_events().closed;
        life.on_source = Some(app);
        life.step(
            Some(clock),
            format!(
                "stopped on the source ({})",
                match (clean, closed) {
                    (true, Some(c)) if c.clean => "closed cleanly",
                    (true, _) => "exited",
                    (false, _) => "killed after the grace",
                }
            ),
        );
    }
    let deadline = Instant::now() + Duration::from_secs_f64(life.spec.switch.copy_timeout_secs);
    if life.spec.switch.wait_for_copy {
        let topics = app_topics(&ctx.source, life).await?;
        let source_props = ctx.source.direct_client_props();
        let target_props = ctx.target.direct_client_props();
        let rename = ctx.rename.clone();
        let shown = topics.join(", ");
        let outcome = tokio::task::spawn_blocking(move || {
            wait_copied(&source_props, &target_props, &topics, &rename, deadline)
        })
        .await
        .map_err(|e| e.to_string())??;
        life.step(Some(clock), format!("{outcome} ({shown})"));
    }
    if life.spec.switch.move_offsets {
        let group = ConsumerGroupSpec {
            id: id.clone(),
            records_per_sec: 0,
            stop_at_secs: life.spec.switch.at_secs,
            commit_interval_ms: 1000,
            allowed_reread: 0,
            count: 1,
            topics: 0,
            stop_spread_secs: 0.0,
            index: 0,
        };
        let synced = ctx
            .system
            .sync_groups(std::slice::from_ref(&group), &ctx.options)
            .await
            .map_err(|e| format!("moving the group's offsets: {e}"))?;
        if let Some(answer) = &synced {
            life.step(
                Some(clock),
                format!(
                    "offsets moved: {}",
                    answer
                        .get(&id)
                        .map_or("the group is missing from the answer", String::as_str)
                ),
            );
        }
        // Proven on the target: the group has committed offsets there.
        let topics = life.group_topics(&ctx.rename);
        let props = ctx.target.direct_client_props();
        let gid = id.clone();
        // A system that syncs on its own schedule may show offsets from a sync before the
        // stop: they count once they held still for a whole interval of its sync.
        let settle = if synced.is_some() {
            None
        } else {
            Some(Duration::from_secs(
                ctx.system.group_sync_interval_secs().unwrap_or(10).max(1),
            ))
        };
        let committed = tokio::task::spawn_blocking(move || {
            let mut last: Option<(Committed, Instant)> = None;
            loop {
                let now = verify::resume::committed(&props, &gid, &topics, Duration::from_secs(10));
                if let Ok(map) = now {
                    let have = map.values().filter(|o| o.is_some()).count();
                    if have > 0 {
                        match (settle, &last) {
                            (None, _) => return Ok(have),
                            (Some(interval), Some((before, since)))
                                if *before == map && since.elapsed() >= interval =>
                            {
                                return Ok(have)
                            }
                            (Some(_), Some((before, _))) if *before == map => {}
                            _ => last = Some((map, Instant::now())),
                        }
                    }
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "group {gid} has no settled committed offsets on the target after the system's sync"
                    ));
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .await
        .map_err(|e| e.to_string())??;
        life.step(
            Some(clock),
            format!("the group has committed offsets on the target ({committed} partitions)"),
        );
    }
    start_on_target(life, ctx, clock).await
}

/// The unplanned switch: at the seeded moment the source becomes unreachable for good. Its
/// proxies blackhole everything, both ways (the system under test reaches it only through
/// them); the application on it is killed (SIGKILL: no commit, no leave); the workload's
/// producers stop. No drain and no offsets move: the application starts on the target at
/// once with an empty state directory, on whatever the copy holds (its changelog, its
/// group's offsets if the system synced them on its own).
async fn failover_steps(
    life: &mut AppLife,
    ctx: &SwitchContext,
    clock: Instant,
    at_secs: f64,
) -> Result<(), String> {
    let proxies = ctx.source.proxies();
    if proxies.is_empty() {
        return Err("the source has no fault proxies to cut".into());
    }
    for p in &proxies {
        p.set_blackhole(harness::proxy::Direction::Both, true);
    }
    ctx.workload_cancel
        .store(true, std::sync::atomic::Ordering::Release);
    if let Some(mut app) = life.on_source.take() {
        let app = tokio::task::spawn_blocking(move || {
            app.kill();
            app
        })
        .await
        .map_err(|e| e.to_string())?;
        life.on_source = Some(app);
    }
    life.step(
        Some(clock),
        format!(
            "the source was cut off (drawn in [{}, {}) s): its {} proxies blackholed both ways, the application on it killed, the producers stopped",
            life.spec.switch.at_secs,
            life.spec.switch.at_secs + life.spec.switch.window_secs,
            proxies.len()
        ),
    );
    // Bytes already on their way when the switch flipped may still count; a moment later
    // nothing may cross.
    tokio::time::sleep(Duration::from_millis(500)).await;
    life.cut = Some(Cut {
        at_secs,
        forwarded: Cut::forwarded_now(&proxies),
        proxies,
    });
    // What the copy holds of the group: the system's own sync, if any.
    let id = life.spec.application_id();
    let topics = life.group_topics(&ctx.rename);
    let props = ctx.target.direct_client_props();
    let gid = id.clone();
    let committed = tokio::task::spawn_blocking(move || {
        verify::resume::committed(&props, &gid, &topics, Duration::from_secs(10))
    })
    .await
    .map_err(|e| e.to_string())?;
    life.step(
        Some(clock),
        match committed {
            Ok(map) => {
                let have = map.values().filter(|o| o.is_some()).count();
                if have == 0 {
                    format!("the group {id} has no offsets on the target: it starts from its reset policy")
                } else {
                    format!(
                        "the group {id} has offsets on the target for {have} of {} partitions (the system's own sync)",
                        map.len()
                    )
                }
            }
            Err(e) => format!("the group's offsets on the target could not be read: {e}"),
        },
    );
    start_on_target(life, ctx, clock).await
}

/// The application on the target, with an empty state directory, until it runs.
async fn start_on_target(
    life: &mut AppLife,
    ctx: &SwitchContext,
    clock: Instant,
) -> Result<(), String> {
    let s = life.spec_on(&*ctx.target, verify::app::STAMP_TARGET);
    let rt = life.runtime.clone();
    let (app, up) =
        tokio::task::spawn_blocking(move || -> Result<(StreamsApp, Duration), String> {
            let mut app = StreamsApp::start(&rt, &s).map_err(|e| e.to_string())?;
            let up = app.wait_running(START_TIMEOUT).map_err(|e| e.to_string())?;
            Ok((app, up))
        })
        .await
        .map_err(|e| e.to_string())??;
    let events = app.log_events();
    life.restore_ms = events.restore_span_ms();
    life.restored_records = Some(events.restored_records(harness::streams::COUNTER_STORE));
    life.on_target = Some(app);
    life.step(
        Some(clock),
        format!(
            "running on the target after {:.1} s ({} changelog records restored)",
            up.as_secs_f64(),
            life.restored_records.unwrap_or(0)
        ),
    );
    Ok(())
}

/// The application's output and internal topics on the source.
async fn app_topics(source: &Arc<dyn Cluster>, life: &AppLife) -> Result<Vec<String>, String> {
    let admin = source.admin().map_err(|e| e.to_string())?;
    let prefix = format!("{}-", life.spec.application_id());
    let output = life.spec.output_topic();
    Ok(admin
        .list_topics()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|t| t == &output || t.starts_with(&prefix))
        .collect())
}

/// Waits until the last committed record of every partition of `topics` on the source is on
/// the target (the drain's judgement, `crate::drain::compare`).
fn wait_copied(
    source: &harness::ClientProps,
    target: &harness::ClientProps,
    topics: &[String],
    rename: &verify::reader::Rename,
    deadline: Instant,
) -> Result<String, String> {
    let target_topics: Vec<String> = topics.iter().map(|t| rename.target_of(t)).collect();
    let mut src = CommittedCounter::new(source, topics).map_err(|e| e.to_string())?;
    let mut tgt: Option<CommittedCounter> = None;
    let began = Instant::now();
    loop {
        src.advance(Duration::from_millis(300));
        if tgt.as_ref().is_none_or(|c| c.outgrown(&target_topics)) {
            tgt = CommittedCounter::new(target, &target_topics).ok();
        }
        if let Some(t) = tgt.as_mut() {
            t.advance(Duration::from_millis(300));
            match compare(
                &src.progress,
                src.all_read(),
                &t.progress,
                &|s| rename.target_of(s),
                true,
            ) {
                CountCheck::Reached | CountCheck::ReachedShort(_) => {
                    return Ok(format!(
                        "copied after {:.1} s",
                        began.elapsed().as_secs_f64()
                    ))
                }
                CountCheck::Short(where_) if Instant::now() > deadline => {
                    return Err(format!(
                        "the application's topics were not copied in time: {where_}"
                    ))
                }
                _ => {}
            }
        } else if Instant::now() > deadline {
            return Err("the application's topics do not exist on the target".into());
        }
        if Instant::now() > deadline {
            return Err("the application's topics could not be read to their end in time".into());
        }
    }
}

/// Phase 4 (after the drain): waits until the application on the target has committed the
/// end of every partition it reads, then stops it; the source's life is over already.
pub async fn finish(
    life: &mut AppLife,
    target: &Arc<dyn Cluster>,
    rename: &verify::reader::Rename,
    clock: Option<Instant>,
) {
    let Some(mut app) = life.on_target.take() else {
        return;
    };
    let id = life.spec.application_id();
    let topics = life.group_topics(rename);
    let props = target.direct_client_props();
    let caught = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        let outcome = loop {
            if let Ok(true) = consumed_all(&props, &id, &topics) {
                break true;
            }
            if Instant::now() > deadline || !app.is_running() {
                break false;
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        app.stop(STOP_GRACE);
        (app, outcome)
    })
    .await;
    if let Some(cut) = &life.cut {
        let proof = cut.proof().unwrap_or_else(|e| e);
        life.step(clock, proof);
    }
    if let Ok((app, caught_up)) = caught {
        life.on_target = Some(app);
        life.step(
            clock,
            if caught_up {
                "caught up on the target and stopped".into()
            } else {
                format!(
                    "stopped on the target without having consumed everything within {} s",
                    CATCH_UP_TIMEOUT.as_secs()
                )
            },
        );
    }
}

/// True when `group` has committed, on every partition of `topics`, the partition's end.
fn consumed_all(
    props: &harness::ClientProps,
    group: &str,
    topics: &[String],
) -> Result<bool, ScenarioError> {
    let committed = verify::resume::committed(props, group, topics, Duration::from_secs(10))?;
    let c: rdkafka::consumer::BaseConsumer<harness::quiet::QuietEof> = props
        .reader("cutover-app-end")?
        .create_with_context(harness::quiet::QuietEof)
        .map_err(|e| ScenarioError::System(format!("app end reader: {e}")))?;
    for ((t, p), off) in committed {
        let (_, high) =
            rdkafka::consumer::Consumer::fetch_watermarks(&c, &t, p, Duration::from_secs(10))
                .map_err(|e| ScenarioError::System(format!("watermarks of {t}-{p}: {e}")))?;
        if high > 0 && off.is_none_or(|o| o < high) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Phase 5: the verdict of one application (blocking reads run off the runtime).
pub async fn judge(
    life: &AppLife,
    source: &Arc<dyn Cluster>,
    target: &Arc<dyn Cluster>,
    rename: &verify::reader::Rename,
) -> Result<verify::verdict::AppCutover, ScenarioError> {
    let failover = life.spec.switch.mode == SwitchMode::Failover;
    let named = |j: verify::verdict::AppCutover| verify::verdict::AppCutover {
        app: life.spec.name.clone(),
        application_id: life.spec.application_id(),
        switch: if failover { "failover" } else { "planned" }.into(),
        restore_ms: life.restore_ms,
        restored_records: life.restored_records,
        cut_at_secs: life.cut.as_ref().map(|c| c.at_secs),
        steps: life.steps.clone(),
        ..j
    };
    if life.spec.jar.is_some() {
        // A user's application: no oracle for its output.
        return Ok(named(Default::default()));
    }
    let (sp, tp) = (source.direct_client_props(), target.direct_client_props());
    let inputs = life.inputs.clone();
    let target_inputs: Vec<String> = inputs.iter().map(|t| rename.target_of(t)).collect();
    let output = life.spec.output_topic();
    let output_target = rename.target_of(&output);
    let j = tokio::task::spawn_blocking(move || {
        // A failover's oracle is the inputs the copy holds; the source's the copy never got
        // are lost at the cut.
        let (inputs_props, inputs_cluster, input_topics) = if failover {
            (&tp, "target", &target_inputs)
        } else {
            (&sp, "source", &inputs)
        };
        verify::app::check(&verify::app::AppCheck {
            inputs_props,
            inputs_cluster,
            input_topics,
            source: &sp,
            target: &tp,
            output_source: &output,
            output_target: &output_target,
            failover_source_inputs: failover.then_some(inputs.as_slice()),
            timeout: Duration::from_secs(60),
        })
    })
    .await
    .map_err(|e| ScenarioError::System(format!("app check task: {e}")))??;
    Ok(named(j))
}
