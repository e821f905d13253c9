//! `kind = "mirrormaker2"`: Apache Kafka's MirrorMaker 2 in dedicated mode as the system
//! under test (`connect-mirror` of the target cluster's Kafka version, fetched through
//! `harness::MirrorMaker2::prepare`). Here: the `mm2.properties` a scenario asks for (or the
//! user's own file with the scenario's clusters put in), the checks of its fields, how
//! MirrorMaker 2 will name the target topics (which the sampler, the drain and the checker
//! need), and its readiness: the workload starts once its MirrorSourceConnector tasks report
//! RUNNING in Connect's status topic.
//!
//! Every instance gets its own copy of the file, differing only in `listeners` (the internal
//! REST server that dedicated mode needs for more than one node and for exactly-once).
//!
//! Dedicated mode runs Connect's own herder, so its instances log the group's generations and
//! assignments as a Connect worker does (`harness::connect::log`, with the worker's log4j2
//! layout): the report's rebalances, each instance's tasks for the add/remove-instance proofs,
//! and the group's generation and leader for the add/crash-instance proofs come from there, as
//! for `kind = "connect"`.

use async_trait::async_trait;
use located::Located;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use verify::reader::Rename;

use super::{Launcher, Ready, Setup, SystemUnderTest};
use crate::error::ScenarioError;
use crate::spec::{ReplicationPolicy, Scenario, Side, SystemSpec};

/// How long MirrorMaker 2 may take from JVM start to running every replication task.
const MM2_START_TIMEOUT: Duration = Duration::from_secs(120);

/// What MirrorMaker 2 instances are started from.
pub struct Mm2Launch {
    pub runtime: harness::MirrorMaker2,
    pub config: Mm2Config,
    /// JVM heap per instance, in MiB.
    pub heap_mb: u32,
}

/// MirrorMaker 2 (`[system] kind = "mirrormaker2"`).
pub struct Mirrormaker2 {
    /// The `[system]` table (a `Mirrormaker2`).
    spec: SystemSpec,
    /// Its runtime and config ([`SystemUnderTest::prepare`]).
    launch: Option<Mm2Launch>,
    /// The instances' log4j2 configuration (the Connect worker's, UTC millisecond timestamps:
    /// the group history is parsed from their logs); None: the cache entry's.
    log4j2: Option<PathBuf>,
    /// Internal REST port → instance, for every instance ever started, and the dir of their
    /// logs (`instance-N.log`): the group's leader and each instance's tasks are read from
    /// there.
    ports: Mutex<(BTreeMap<u16, u32>, Option<PathBuf>)>,
}

impl Mirrormaker2 {
    /// The system of a `mirrormaker2` table; prepare it before launching.
    pub fn new(spec: SystemSpec) -> Mirrormaker2 {
        Mirrormaker2 {
            spec,
            launch: None,
            log4j2: None,
            ports: Mutex::new((BTreeMap::new(), None)),
        }
    }

    /// A MirrorMaker 2 system already configured (`launch`), ready to launch (the
    /// replication bench starts it this way, without a run).
    pub fn prepared(spec: SystemSpec, launch: Mm2Launch) -> Arc<dyn SystemUnderTest> {
        Arc::new(Mirrormaker2 {
            spec,
            launch: Some(launch),
            log4j2: None,
            ports: Mutex::new((BTreeMap::new(), None)),
        })
    }
}

#[async_trait]
impl SystemUnderTest for Mirrormaker2 {
    fn name(&self) -> String {
        match &self.spec {
            SystemSpec::Mirrormaker2 {
                config_file: Some(f),
                ..
            } => format!("mirrormaker2 ({f})"),
            SystemSpec::Mirrormaker2 {
                exactly_once: true, ..
            } => "mirrormaker2 (exactly-once)".into(),
            _ => "mirrormaker2 (exactly-once off)".into(),
        }
    }

    fn instances(&self) -> u32 {
        match &self.spec {
            SystemSpec::Mirrormaker2 { instances, .. } => *instances,
            _ => 0,
        }
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), (String, String)> {
        if self.instances() == 0 {
            return Err(("system.instances".into(), "expected at least 1".into()));
        }
        check_mirrormaker2(&self.spec)
            .map_err(|(field, reason)| (format!("system.{field}"), reason))
    }

    /// `mm2.properties` from the scenario (target names from the replication policy) and the
    /// MirrorMaker 2 jars of the target's Kafka version: its Connect cluster lives there.
    async fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), ScenarioError> {
        let config = config(
            &self.spec,
            &setup.options.scenario_dir,
            &Clusters {
                source_bootstrap: &setup.source.bootstrap_servers(),
                target_bootstrap: &setup.target.bootstrap_servers(),
                source_props: beyond_bootstrap(setup.source_props),
                target_props: beyond_bootstrap(setup.target_props),
                source_brokers: setup.source.brokers().len(),
                target_brokers: setup.target.brokers().len(),
            },
            setup.topics,
            &crate::app::topics_to_copy(setup.scenario),
        )?;
        let runtime =
            harness::MirrorMaker2::prepare(&setup.scenario.target.kafka_version, |event| {
                tracing::info!(?event, "MirrorMaker 2 jars")
            })
            .await?;
        let heap_mb = match &self.spec {
            SystemSpec::Mirrormaker2 { heap_mb, .. } => *heap_mb,
            _ => harness::mirrormaker::DEFAULT_HEAP_MB,
        };
        self.launch = Some(Mm2Launch {
            runtime,
            config,
            heap_mb,
        });
        let log4j2 = setup.secrets_dir.join("mm2-log4j2.properties");
        std::fs::write(&log4j2, harness::connect::log::LOG4J2_WORKER_CONFIG)
            .map_err(ScenarioError::io(format!("writing {}", log4j2.display())))?;
        self.log4j2 = Some(log4j2);
        Ok(())
    }

    /// Named by its replication policy: see [`Mm2Config::rename`].
    fn rename(&self) -> verify::Rename {
        self.launch
            .as_ref()
            .map(|m| m.config.rename.clone())
            .unwrap_or_default()
    }

    /// A JVM with its own `mm2-instance-N.properties` (private; a redacted copy in the report
    /// dir), all instances in one Connect cluster.
    fn command(&self, index: u32, l: &Launcher) -> Result<(Command, Option<u16>), ScenarioError> {
        let mm2 = self
            .launch
            .as_ref()
            .ok_or_else(|| ScenarioError::System("MirrorMaker 2 not prepared".into()))?;
        // The REST port is free now; the JVM binds it within seconds.
        let rest_port = harness::ports::reserve(1)?.ports()[0];
        let name = format!("mm2-instance-{index}.properties");
        let text = mm2.config.instance_properties(rest_port);
        let path = l.secrets_dir.join(&name);
        super::write_private(&path, &text)?;
        let shown = l.dir.join(&name);
        std::fs::write(
            &shown,
            reports::redact::redact_text(&secrets::redact_properties(&text)),
        )
        .map_err(ScenarioError::io(format!("writing {}", shown.display())))?;
        let mut c = match &self.log4j2 {
            Some(log4j2) => mm2.runtime.command_logging_with(&path, log4j2, mm2.heap_mb),
            None => mm2.runtime.command(&path, mm2.heap_mb),
        };
        c.current_dir(&l.dir);
        // With the internal REST server, the instance is a Connect worker named by that port
        // in the group's assignments: the port is how cutover asks what it holds.
        if !mm2.config.internal_rest || self.log4j2.is_none() {
            return Ok((c, None));
        }
        let mut ports = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        ports.0.insert(rest_port, index);
        ports.1 = Some(l.dir.clone());
        Ok((c, Some(rest_port)))
    }

    fn grace(&self) -> Duration {
        match &self.spec {
            SystemSpec::Mirrormaker2 { grace_secs, .. } => Duration::from_secs_f64(*grace_secs),
            _ => Duration::from_secs(60),
        }
    }

    /// MirrorMaker 2 replicates only once its tasks run, many seconds after the JVMs start:
    /// the workload and the fault schedule begin then.
    async fn wait_ready(
        &self,
        _instances: &mut super::Instances,
        ready: &Ready<'_>,
    ) -> Result<(), ScenarioError> {
        let Some(mm2) = &self.launch else {
            return Ok(());
        };
        let (status_topic, tasks_max) = (mm2.config.status_topic.clone(), mm2.config.tasks_max);
        let partitions = ready.begin();
        let tasks = tasks_max.min(partitions);
        let (props, cancel) = (
            ready.target.direct_client_props(),
            ready.options.cancel.clone(),
        );
        let waited = std::time::Instant::now();
        let replicating = tokio::task::spawn_blocking(move || {
            wait_until_replicating(&props, &status_topic, tasks, MM2_START_TIMEOUT, &cancel)
        })
        .await
        .map_err(|e| ScenarioError::System(format!("MirrorMaker 2 status: {e}")))??;
        if replicating {
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
        Ok(())
    }

    /// Dedicated mode runs Connect's `DistributedHerder`, whose log lines give the group's
    /// generations (see `super::connect::rebalances_from`).
    fn rebalances(
        &self,
        instances: &super::Instances,
        workload_started: Option<std::time::SystemTime>,
    ) -> Option<reports::Rebalances> {
        self.log4j2.as_ref()?;
        let generations = super::connect::generations_of(instances);
        if generations.is_empty() {
            return None;
        }
        let since = workload_started.and_then(super::connect::epoch_ms);
        Some(super::connect::rebalances_from(
            &generations,
            since,
            instances
                .stopping_since()
                .and_then(super::connect::epoch_ms),
            "connect-workers",
            |w| format!("instance {w}"),
        ))
    }

    /// The tasks the group's assignments (replayed from every instance's log) leave with the
    /// instance behind `metrics_port` (its internal REST port).
    fn assigned_partitions(&self, metrics_port: u16) -> Option<f64> {
        let (ports, dir) = {
            let p = self.ports.lock().unwrap_or_else(|e| e.into_inner());
            (p.0.clone(), p.1.clone()?)
        };
        let index = *ports.get(&metrics_port)?;
        let mut events = Vec::new();
        let mut indexes: Vec<u32> = ports.values().copied().collect();
        indexes.sort_unstable();
        indexes.dedup();
        for i in indexes {
            let text =
                std::fs::read_to_string(dir.join(format!("instance-{i}.log"))).unwrap_or_default();
            events.extend(harness::connect::log::parse_events(i, &text));
        }
        events.sort_by_key(|e| (e.at_ms, e.worker));
        let generations = harness::connect::log::generations(&events);
        // Not in the group yet: it answers nothing rather than 0.
        generations
            .iter()
            .rev()
            .find(|g| g.members.contains_key(&index))?;
        let owned = harness::connect::log::owned_tasks(&generations);
        Some(owned.get(&index).map_or(0, |t| t.len()) as f64)
    }

    fn assigned_unit(&self) -> (&'static str, &'static str) {
        ("tasks", "the group's assignments in the instances' logs")
    }

    fn group_state(&self, instances: &super::Instances) -> Option<super::GroupState> {
        self.log4j2.as_ref()?;
        super::connect::group_state_of(&super::connect::generations_of(instances), |url| {
            let port: u16 = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .rsplit_once(':')?
                .1
                .parse()
                .ok()?;
            self.ports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .get(&port)
                .copied()
        })
    }

    fn group_sync_interval_secs(&self) -> Option<u64> {
        match &self.spec {
            SystemSpec::Mirrormaker2 {
                sync_group_offsets: true,
                emit_checkpoints_interval_secs,
                ..
            } => {
                Some(emit_checkpoints_interval_secs.unwrap_or(crate::spec::DEFAULT_GROUP_SYNC_SECS))
            }
            _ => None,
        }
    }
}

/// Every property but `bootstrap.servers`.
fn beyond_bootstrap(props: &harness::ClientProps) -> Vec<(String, String)> {
    props
        .iter()
        .filter(|(k, _)| *k != "bootstrap.servers")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The cluster aliases of generated configs (so `DefaultReplicationPolicy` names target topics
/// `source.<name>`).
pub const SOURCE_ALIAS: &str = "source";
pub const TARGET_ALIAS: &str = "target";

const IDENTITY_POLICY: &str = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";

/// What the scenario runner needs to start MirrorMaker 2 instances.
#[derive(Debug, Clone)]
pub struct Mm2Config {
    /// The properties every instance shares.
    pub base: String,
    /// True when instances need a `listeners` entry each (the internal REST server is on).
    pub internal_rest: bool,
    /// Target topic = `rename.target_of(source topic)`.
    pub rename: Rename,
    /// Connect's status topic of the flow, on the target (where tasks report RUNNING).
    pub status_topic: String,
    /// `tasks.max` of the MirrorSourceConnector.
    pub tasks_max: u32,
}

impl Mm2Config {
    /// The file of one instance: the shared properties plus its REST listener.
    pub fn instance_properties(&self, rest_port: u16) -> String {
        if self.internal_rest {
            format!(
                "{}\n# this instance's internal REST server (dedicated.mode.enable.internal.rest)\nlisteners = http://127.0.0.1:{rest_port}\n",
                self.base
            )
        } else {
            self.base.clone()
        }
    }
}

/// The clusters as MirrorMaker 2 needs to know them.
#[derive(Debug, Clone)]
pub struct Clusters<'a> {
    pub source_bootstrap: &'a str,
    pub target_bootstrap: &'a str,
    /// Client properties beyond `bootstrap.servers` (security), passed to MirrorMaker 2 as
    /// `<alias>.<key>` (they reach its consumers, producers, admin clients and workers).
    pub source_props: Vec<(String, String)>,
    pub target_props: Vec<(String, String)>,
    /// Brokers of each cluster: internal topics get a replication factor of at most 3.
    pub source_brokers: usize,
    pub target_brokers: usize,
}

/// The configuration of a `mirrormaker2` system for these clusters and source topics.
/// `scenario_dir` resolves a relative `config_file`.
pub fn config(
    system: &SystemSpec,
    scenario_dir: &Path,
    clusters: &Clusters<'_>,
    topics: &[String],
    also: &[String],
) -> Result<Mm2Config, ScenarioError> {
    let SystemSpec::Mirrormaker2 {
        exactly_once,
        tasks_max,
        replication_policy,
        consumer,
        producer,
        worker,
        sync_group_offsets,
        emit_checkpoints_interval_secs,
        offset_syncs_topic_location,
        properties,
        config_file,
        ..
    } = system
    else {
        return Err(ScenarioError::System("not a mirrormaker2 system".into()));
    };
    if let Some(file) = config_file {
        let path = scenario_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(ScenarioError::io(format!("reading {}", path.display())))?;
        return user_config(&text, &path.display().to_string(), clusters);
    }
    let rf = |brokers: usize| brokers.clamp(1, 3).to_string();
    let (target_rf, source_rf) = (rf(clusters.target_brokers), rf(clusters.source_brokers));
    let syncs_rf = match offset_syncs_topic_location {
        Side::Source => source_rf.clone(),
        Side::Target => target_rf.clone(),
    };
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| entries.push((k.to_string(), v.to_string()));
    put("clusters", &format!("{SOURCE_ALIAS}, {TARGET_ALIAS}"));
    put(
        &format!("{SOURCE_ALIAS}.bootstrap.servers"),
        clusters.source_bootstrap,
    );
    put(
        &format!("{TARGET_ALIAS}.bootstrap.servers"),
        clusters.target_bootstrap,
    );
    for (k, v) in &clusters.source_props {
        put(&format!("{SOURCE_ALIAS}.{k}"), v);
    }
    for (k, v) in &clusters.target_props {
        put(&format!("{TARGET_ALIAS}.{k}"), v);
    }
    put(&format!("{SOURCE_ALIAS}->{TARGET_ALIAS}.enabled"), "true");
    // No target->source herder: it would only write heartbeats into the source cluster.
    put(&format!("{TARGET_ALIAS}->{SOURCE_ALIAS}.enabled"), "false");
    put(
        &format!("{TARGET_ALIAS}->{SOURCE_ALIAS}.emit.heartbeats.enabled"),
        "false",
    );
    let topic_list: Vec<String> = topics
        .iter()
        .map(|t| regex::escape(t))
        .chain(also.iter().cloned())
        .collect();
    put("topics", &topic_list.join(","));
    put("tasks.max", &tasks_max.to_string());
    if *replication_policy == ReplicationPolicy::Identity {
        put("replication.policy.class", IDENTITY_POLICY);
    }
    // Internal topics: MirrorMaker 2 and Connect default to 2 or 3 replicas, more than a
    // 1-broker cluster has.
    put("replication.factor", &target_rf);
    put("checkpoints.topic.replication.factor", &target_rf);
    put("heartbeats.topic.replication.factor", &target_rf);
    put("offset-syncs.topic.replication.factor", &syncs_rf);
    put("offset.storage.replication.factor", &target_rf);
    put("config.storage.replication.factor", &target_rf);
    put("status.storage.replication.factor", &target_rf);
    put(
        "offset-syncs.topic.location",
        match offset_syncs_topic_location {
            Side::Source => "source",
            Side::Target => "target",
        },
    );
    put(
        "sync.group.offsets.enabled",
        if *sync_group_offsets { "true" } else { "false" },
    );
    if let Some(secs) = emit_checkpoints_interval_secs {
        put("emit.checkpoints.interval.seconds", &secs.to_string());
    }
    if *sync_group_offsets {
        // MirrorMaker 2 looks for new groups every 10 minutes and syncs every 60 s by default
        // (MirrorCheckpointConfig): a run's groups would never be synced. Both follow the
        // checkpoint interval of the run (see `SystemSpec::group_sync_interval_secs`).
        let secs = emit_checkpoints_interval_secs
            .unwrap_or(crate::spec::DEFAULT_GROUP_SYNC_SECS)
            .to_string();
        put("emit.checkpoints.interval.seconds", &secs);
        put("refresh.groups.interval.seconds", &secs);
        put("sync.group.offsets.interval.seconds", &secs);
    }
    // Partitions added to a source topic are noticed within seconds, not ten minutes.
    put("refresh.topics.interval.seconds", "5");
    // Every plugin on the classpath has a ServiceLoader manifest: scanning all jars instead
    // (the default) costs several seconds per start on two cores, once per herder.
    put("plugin.discovery", "service_load");
    put(&format!("{TARGET_ALIAS}.plugin.discovery"), "service_load");
    // No authorizer on test clusters: ACL sync would only log errors.
    put("sync.topic.acls.enabled", "false");
    // Several processes form one Connect cluster only with the internal REST server (KIP-710);
    // exactly-once needs it too (task configs and fencing go through the leader).
    put("dedicated.mode.enable.internal.rest", "true");
    if *exactly_once {
        // The worker of the source->target flow is configured by the target's properties.
        put(
            &format!("{TARGET_ALIAS}.exactly.once.source.support"),
            "enabled",
        );
    }
    let mut consumer = consumer.clone();
    consumer
        .entry("isolation.level".into())
        .or_insert_with(|| "read_committed".into());
    for (k, v) in &consumer {
        put(&format!("{SOURCE_ALIAS}.consumer.{k}"), v);
    }
    for (k, v) in producer {
        put(&format!("{TARGET_ALIAS}.producer.{k}"), v);
    }
    let mut worker = worker.clone();
    worker
        .entry("scheduled.rebalance.max.delay.ms".into())
        .or_insert_with(|| "10000".into());
    for (k, v) in &worker {
        put(&format!("{TARGET_ALIAS}.{k}"), v);
    }
    for (k, v) in properties {
        put(k, v);
    }
    let mut base = String::from(
        "# generated by cutover from the scenario's [system] (kind = \"mirrormaker2\")\n",
    );
    for (k, v) in &entries {
        base.push_str(&format!("{} = {}\n", escape_key(k), escape_value(v)));
    }
    let props: BTreeMap<String, String> = entries.into_iter().collect();
    Ok(Mm2Config {
        internal_rest: is_true(props.get("dedicated.mode.enable.internal.rest")),
        rename: rename_for(&props, SOURCE_ALIAS),
        status_topic: status_topic(&props, SOURCE_ALIAS, TARGET_ALIAS),
        tasks_max: flow_tasks_max(&props, SOURCE_ALIAS, TARGET_ALIAS),
        base,
    })
}

/// A user's `mm2.properties` with the scenario's bootstrap servers put into the first enabled
/// `A->B` flow.
fn user_config(
    text: &str,
    origin: &str,
    clusters: &Clusters<'_>,
) -> Result<Mm2Config, ScenarioError> {
    let bad = |reason: String| ScenarioError::from(Located::new(origin, "", reason));
    let props = located::properties::last(&located::properties::parse(text, origin)?);
    let aliases: Vec<String> = props
        .get("clusters")
        .map(|c| {
            c.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if aliases.len() < 2 {
        return Err(bad(
            "expected `clusters = A, B` naming two cluster aliases".into()
        ));
    }
    let flow = props.iter().find_map(|(k, v)| {
        let pair = k.strip_suffix(".enabled")?;
        let (a, b) = pair.split_once("->")?;
        (aliases.iter().any(|x| x == a) && aliases.iter().any(|x| x == b) && is_true(Some(v)))
            .then(|| (a.to_string(), b.to_string()))
    });
    let Some((source, target)) = flow else {
        return Err(bad(format!(
            "no enabled replication flow: expected `A->B.enabled = true` with A and B among {}",
            aliases.join(", ")
        )));
    };
    let mut base = text.to_string();
    if !base.ends_with('\n') {
        base.push('\n');
    }
    base.push_str(&format!(
        "\n# set by cutover: the scenario's clusters for the flow {source}->{target}\n{} = {}\n{} = {}\n",
        escape_key(&format!("{source}.bootstrap.servers")),
        escape_value(clusters.source_bootstrap),
        escape_key(&format!("{target}.bootstrap.servers")),
        escape_value(clusters.target_bootstrap),
    ));
    for (alias, props) in [
        (&source, &clusters.source_props),
        (&target, &clusters.target_props),
    ] {
        for (k, v) in props {
            base.push_str(&format!(
                "{} = {}\n",
                escape_key(&format!("{alias}.{k}")),
                escape_value(v)
            ));
        }
    }
    Ok(Mm2Config {
        internal_rest: is_true(props.get("dedicated.mode.enable.internal.rest")),
        rename: rename_for(&props, &source),
        status_topic: status_topic(&props, &source, &target),
        tasks_max: flow_tasks_max(&props, &source, &target),
        base,
    })
}

/// How the replication policy of these properties names the source alias's topics.
fn rename_for(props: &BTreeMap<String, String>, source_alias: &str) -> Rename {
    let identity = props
        .get("replication.policy.class")
        .is_some_and(|c| c.trim().ends_with("IdentityReplicationPolicy"));
    if identity {
        return Rename::default();
    }
    let separator = props
        .get("replication.policy.separator")
        .map_or(".", String::as_str);
    Rename {
        prefix: format!("{source_alias}{separator}"),
        ..Rename::default()
    }
}

/// The worker's `status.storage.topic` as MirrorMakerConfig::workerConfig resolves it: the
/// top-level entry, else the target cluster's, else `mm2-status.<source>.internal`.
fn status_topic(props: &BTreeMap<String, String>, source: &str, target: &str) -> String {
    props
        .get("status.storage.topic")
        .or_else(|| props.get(&format!("{target}.status.storage.topic")))
        .cloned()
        .unwrap_or_else(|| format!("mm2-status.{source}.internal"))
}

/// `tasks.max` of the flow's connectors: `A->B.tasks.max`, else the top-level one, else 1.
fn flow_tasks_max(props: &BTreeMap<String, String>, source: &str, target: &str) -> u32 {
    props
        .get(&format!("{source}->{target}.tasks.max"))
        .or_else(|| props.get("tasks.max"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

/// Waits until `tasks` MirrorSourceConnector tasks report RUNNING in Connect's status topic
/// (read from the target). MirrorMaker 2 takes many seconds from JVM start to replicating;
/// the workload and the fault schedule start only then, so faults hit a working system, not
/// a booting JVM. Returns whether it got there before `timeout`.
pub fn wait_until_replicating(
    target: &harness::ClientProps,
    status_topic: &str,
    tasks: u32,
    timeout: std::time::Duration,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<bool, ScenarioError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use std::time::{Duration, Instant};
    let failed =
        |e: rdkafka::error::KafkaError| ScenarioError::System(format!("MirrorMaker 2 status: {e}"));
    let mut c = target.reader("cutover-mm2-status")?;
    c.set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer<harness::quiet::QuietEof> = c
        .create_with_context(harness::quiet::QuietEof)
        .map_err(failed)?;
    let deadline = Instant::now() + timeout;
    let mut assigned = false;
    let mut states: BTreeMap<String, String> = BTreeMap::new();
    let prefix = "status-task-MirrorSourceConnector-";
    while Instant::now() < deadline {
        if cancel.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(false);
        }
        if !assigned {
            // Connect creates the topic when the first worker starts.
            let partitions = consumer
                .fetch_metadata(Some(status_topic), Duration::from_secs(2))
                .ok()
                .and_then(|md| {
                    md.topics()
                        .first()
                        .filter(|t| t.error().is_none())
                        .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
                })
                .unwrap_or_default();
            if partitions.is_empty() {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            let mut tpl = rdkafka::TopicPartitionList::new();
            for p in partitions {
                tpl.add_partition_offset(status_topic, p, rdkafka::Offset::Beginning)
                    .map_err(failed)?;
            }
            consumer.assign(&tpl).map_err(failed)?;
            assigned = true;
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            let state = m
                .payload()
                .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_default();
            states.insert(key.to_string(), state);
        }
        let running = states.values().filter(|s| *s == "RUNNING").count();
        if running >= tasks as usize {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A `java.util.Properties` key, escaped.
fn escape_key(k: &str) -> String {
    let mut out = String::new();
    for c in k.chars() {
        match c {
            '\\' | '=' | ':' | ' ' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A `java.util.Properties` value, escaped (backslashes are escapes there: a regex's `\.`
/// must be written `\\.`).
fn escape_value(v: &str) -> String {
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if i == 0 => out.push_str("\\ "),
            _ => out.push(c),
        }
    }
    out
}

/// Checks the fields of a `mirrormaker2` system; errors are (field, reason).
pub fn check_mirrormaker2(system: &SystemSpec) -> Result<(), (String, String)> {
    let SystemSpec::Mirrormaker2 {
        exactly_once,
        tasks_max,
        replication_policy,
        consumer,
        producer,
        worker,
        sync_group_offsets,
        emit_checkpoints_interval_secs,
        offset_syncs_topic_location,
        properties,
        config_file,
        grace_secs,
        heap_mb,
        ..
    } = system
    else {
        return Ok(());
    };
    if *tasks_max == 0 {
        return Err(("tasks_max".into(), "expected at least 1".into()));
    }
    if *heap_mb < 128 {
        return Err((
            "heap_mb".into(),
            "expected at least 128 (MiB); Connect needs room for its REST server".into(),
        ));
    }
    if grace_secs.is_nan() || *grace_secs <= 0.0 {
        return Err((
            "grace_secs".into(),
            "expected a positive number of seconds".into(),
        ));
    }
    if emit_checkpoints_interval_secs == &Some(0) {
        return Err((
            "emit_checkpoints_interval_secs".into(),
            "expected a positive number of seconds".into(),
        ));
    }
    for (table, map) in [
        ("consumer", consumer),
        ("producer", producer),
        ("worker", worker),
        ("properties", properties),
    ] {
        for (k, v) in map {
            if k.trim().is_empty() || k.contains(['\n', '\r']) || v.contains(['\n', '\r']) {
                return Err((
                    format!("{table}.{k}"),
                    "keys must be non-empty and neither keys nor values may span lines".into(),
                ));
            }
        }
    }
    if config_file.is_some() {
        let set = [
            ("exactly_once", *exactly_once),
            ("tasks_max", *tasks_max != crate::spec::default_tasks_max()),
            (
                "replication_policy",
                *replication_policy != ReplicationPolicy::Default,
            ),
            ("consumer", !consumer.is_empty()),
            ("producer", !producer.is_empty()),
            ("worker", !worker.is_empty()),
            ("sync_group_offsets", *sync_group_offsets),
            (
                "emit_checkpoints_interval_secs",
                emit_checkpoints_interval_secs.is_some(),
            ),
            (
                "offset_syncs_topic_location",
                *offset_syncs_topic_location != Side::Source,
            ),
            ("properties", !properties.is_empty()),
        ];
        if let Some((field, _)) = set.iter().find(|(_, on)| *on) {
            return Err((
                (*field).into(),
                "config_file is used verbatim: set this in the file instead".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SystemOverride;

    fn parse_properties(text: &str) -> BTreeMap<String, String> {
        located::properties::last(&located::properties::parse(text, "mm2.properties").unwrap())
    }

    fn clusters() -> Clusters<'static> {
        Clusters {
            source_bootstrap: "127.0.0.1:9001",
            target_bootstrap: "127.0.0.1:9002",
            source_props: Vec::new(),
            target_props: Vec::new(),
            source_brokers: 1,
            target_brokers: 3,
        }
    }

    fn mm2(eos: bool) -> SystemSpec {
        let base = SystemSpec::Command {
            command: vec!["x".into()],
            instances: 2,
            grace_secs: 1.0,
            group_id: "g".into(),
            rebalance_proof_secs: 90.0,
            env: BTreeMap::new(),
            rename_prefix: String::new(),
        };
        base.overridden(if eos {
            SystemOverride::Mirrormaker2Eos
        } else {
            SystemOverride::Mirrormaker2
        })
    }

    #[test]
    fn secured_clusters_reach_mirrormaker_2_as_alias_prefixed_client_properties() {
        let mut clusters = clusters();
        clusters.source_props = vec![
            ("security.protocol".into(), "SASL_SSL".into()),
            ("ssl.truststore.location".into(), "/d/ca.pem".into()),
        ];
        clusters.target_props = vec![("security.protocol".into(), "SSL".into())];
        let c = config(
            &mm2(true),
            Path::new("."),
            &clusters,
            &["t".to_string()],
            &[],
        )
        .unwrap();
        let p = parse_properties(&c.instance_properties(18083));
        assert_eq!(p["source.security.protocol"], "SASL_SSL");
        assert_eq!(p["source.ssl.truststore.location"], "/d/ca.pem");
        assert_eq!(p["target.security.protocol"], "SSL");
        // A user's own mm2.properties gets them for its flow's aliases too.
        let user = user_config(
            "clusters = a, b\na->b.enabled = true\n",
            "mm2.properties",
            &clusters,
        )
        .unwrap();
        let p = parse_properties(&user.instance_properties(18083));
        assert_eq!(p["a.security.protocol"], "SASL_SSL");
        assert_eq!(p["b.security.protocol"], "SSL");
    }

    #[test]
    fn exactly_once_config_enables_it_on_the_target_worker_with_internal_rest() {
        let topics = vec!["orders.0".to_string(), "orders.1".to_string()];
        let c = config(&mm2(true), Path::new("."), &clusters(), &topics, &[]).unwrap();
        let p = parse_properties(&c.instance_properties(18083));
        assert_eq!(p["target.exactly.once.source.support"], "enabled");
        assert_eq!(p["dedicated.mode.enable.internal.rest"], "true");
        assert_eq!(p["listeners"], "http://127.0.0.1:18083");
        assert_eq!(p["source.consumer.isolation.level"], "read_committed");
        assert_eq!(p["source->target.enabled"], "true");
        assert_eq!(p["target->source.emit.heartbeats.enabled"], "false");
        // The regex escapes survive the properties format.
        assert_eq!(p["topics"], r"orders\.0,orders\.1");
        assert_eq!(p["source.bootstrap.servers"], "127.0.0.1:9001");
        // Replication factors follow each cluster's size.
        assert_eq!(p["replication.factor"], "3");
        assert_eq!(p["offset-syncs.topic.replication.factor"], "1");
        assert_eq!(p["target.scheduled.rebalance.max.delay.ms"], "10000");
        assert_eq!(c.rename.target_of("orders.0"), "source.orders.0");
    }

    #[test]
    fn group_offset_sync_follows_the_run_not_mirrormaker_2s_ten_minutes() {
        let mut spec = mm2(true);
        if let SystemSpec::Mirrormaker2 {
            sync_group_offsets, ..
        } = &mut spec
        {
            *sync_group_offsets = true;
        }
        assert_eq!(
            spec.group_sync_interval_secs(),
            Some(crate::spec::DEFAULT_GROUP_SYNC_SECS)
        );
        let c = config(&spec, Path::new("."), &clusters(), &["t".into()], &[]).unwrap();
        let p = parse_properties(&c.base);
        assert_eq!(p["sync.group.offsets.enabled"], "true");
        for key in [
            "refresh.groups.interval.seconds",
            "sync.group.offsets.interval.seconds",
            "emit.checkpoints.interval.seconds",
        ] {
            assert_eq!(p[key], "5", "{key}");
        }
        if let SystemSpec::Mirrormaker2 {
            emit_checkpoints_interval_secs,
            ..
        } = &mut spec
        {
            *emit_checkpoints_interval_secs = Some(2);
        }
        let c = config(&spec, Path::new("."), &clusters(), &["t".into()], &[]).unwrap();
        let p = parse_properties(&c.base);
        assert_eq!(p["refresh.groups.interval.seconds"], "2");
        assert_eq!(p["sync.group.offsets.interval.seconds"], "2");
        // Without the sync, MirrorMaker 2's own defaults stand and cutover knows no interval.
        let c = config(&mm2(true), Path::new("."), &clusters(), &["t".into()], &[]).unwrap();
        let p = parse_properties(&c.base);
        assert!(!p.contains_key("refresh.groups.interval.seconds"));
        assert_eq!(mm2(true).group_sync_interval_secs(), None);
    }

    #[test]
    fn exactly_once_off_leaves_the_worker_alone() {
        let c = config(&mm2(false), Path::new("."), &clusters(), &["t".into()], &[]).unwrap();
        let p = parse_properties(&c.base);
        assert!(!p.contains_key("target.exactly.once.source.support"));
        assert_eq!(p["tasks.max"], "4");
    }

    #[test]
    fn identity_policy_keeps_names() {
        let mut s = mm2(true);
        if let SystemSpec::Mirrormaker2 {
            replication_policy, ..
        } = &mut s
        {
            *replication_policy = ReplicationPolicy::Identity;
        }
        let c = config(&s, Path::new("."), &clusters(), &["t".into()], &[]).unwrap();
        assert_eq!(c.rename.target_of("orders.0"), "orders.0");
        assert!(c.base.contains(IDENTITY_POLICY));
    }

    #[test]
    fn a_user_file_gets_the_scenario_clusters_and_its_own_naming() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mm2.properties"),
            "# ours\nclusters = onprem, cloud\nonprem.bootstrap.servers = far:9092\n\
             cloud.bootstrap.servers = away:9092\nonprem->cloud.enabled = true\n\
             replication.policy.separator = _\ndedicated.mode.enable.internal.rest = true\n",
        )
        .unwrap();
        let mut s = mm2(false);
        if let SystemSpec::Mirrormaker2 { config_file, .. } = &mut s {
            *config_file = Some("mm2.properties".into());
        }
        check_mirrormaker2(&s).unwrap();
        let c = config(&s, dir.path(), &clusters(), &["t".into()], &[]).unwrap();
        let p = parse_properties(&c.instance_properties(1234));
        assert_eq!(p["onprem.bootstrap.servers"], "127.0.0.1:9001");
        assert_eq!(p["cloud.bootstrap.servers"], "127.0.0.1:9002");
        assert_eq!(p["listeners"], "http://127.0.0.1:1234");
        assert!(c.base.starts_with("# ours\n"), "verbatim: {}", c.base);
        assert_eq!(c.rename.target_of("orders"), "onprem_orders");
    }

    #[test]
    fn properties_parse_like_java() {
        let p = parse_properties(
            "a=1\n  b : 2\nc 3\n# d=4\n! e=5\nf = x\\\n    y\ng=back\\\\slash\nh\\:i=j\n",
        );
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "2");
        assert_eq!(p["c"], "3");
        assert!(!p.contains_key("d") && !p.contains_key("e"));
        assert_eq!(p["f"], "xy");
        assert_eq!(p["g"], "back\\slash");
        assert_eq!(p["h:i"], "j");
    }

    #[test]
    fn config_file_refuses_generated_fields() {
        let mut s = mm2(false);
        if let SystemSpec::Mirrormaker2 {
            config_file,
            sync_group_offsets,
            ..
        } = &mut s
        {
            *config_file = Some("mm2.properties".into());
            *sync_group_offsets = true;
        }
        let (field, _) = check_mirrormaker2(&s).unwrap_err();
        assert_eq!(field, "sync_group_offsets");
    }
}
