//! `kind = "connect"`: a real Kafka Connect cluster as the system under test, the shape of a
//! migration run as a connector (Confluent Replicator, MirrorMaker 2 on Connect, any other
//! replication connector).
//!
//! Each instance is one worker in distributed mode (`ConnectDistributed` from the Apache Kafka
//! jars of the target's version, `harness::connect::ConnectRuntime`), spawned by the shared
//! [`super::Instances`] as the leader of its own process group, so the instance faults act on
//! workers: add-instance is a worker joining, remove-instance a graceful leave (SIGTERM: the
//! worker stops its tasks and leaves the group), crash-instance a kill -9 of the worker's
//! group, stall-instance SIGSTOP. The worker properties are `harness::connect::worker`'s
//! (target bootstrap as the system reaches it, through the fault proxies, and its client
//! security; internal topics on the target; byte-array converters; REST on a free loopback
//! port, which is the instance's "metrics port"), then cutover's CI-sized rebalance delay
//! ([`DEFAULT_REBALANCE_DELAY_MS`]), then the scenario's `worker_properties`.
//!
//! Readiness: every connector is put through the REST API and the workload starts once every
//! connector and task is RUNNING. What the cluster says about itself is the proof of a fault:
//! the tasks on a worker (REST status: [`SystemUnderTest::assigned_partitions`] counts the
//! tasks of the worker behind a REST port), the group's generations and leader (each worker's
//! own log, `harness::connect::log`), and the connector and task starts a restart causes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use harness::connect::log::{self as connect_log, Generation};
use harness::connect::{ConnectRest, ConnectRuntime, ConnectSpec};

use super::{GroupState, Instances, Launcher, Ready, Setup, SystemUnderTest};
use crate::error::ScenarioError;
use crate::spec::{ConnectPreset, ExactlyOnceSupport, Scenario, SystemSpec};

/// `scheduled.rebalance.max.delay.ms` of the workers unless the scenario sets it (ms).
/// Connect's default, 300000 (KIP-415), holds a lost worker's tasks for five minutes, past
/// any CI run; 10 s still shows the delay.
pub const DEFAULT_REBALANCE_DELAY_MS: u64 = 10_000;

/// How long the connectors may take from the first PUT to every task RUNNING.
const READY_TIMEOUT: Duration = Duration::from_secs(150);

/// The preset's `MirrorSourceConnector` name.
pub const MIRROR_SOURCE: &str = "mirror-source";
/// The preset's `MirrorCheckpointConnector` name.
pub const MIRROR_CHECKPOINT: &str = "mirror-checkpoint";

const SOURCE_CONNECTOR_CLASS: &str = "org.apache.kafka.connect.mirror.MirrorSourceConnector";
const CHECKPOINT_CONNECTOR_CLASS: &str =
    "org.apache.kafka.connect.mirror.MirrorCheckpointConnector";
const IDENTITY_POLICY: &str = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";

/// What the workers are started from ([`SystemUnderTest::prepare`]).
struct Prepared {
    runtime: ConnectRuntime,
    /// The cluster's spec: `harness::connect::worker::worker_properties` renders each
    /// worker's properties from it.
    spec: ConnectSpec,
    /// log4j2 configuration of every worker (UTC millisecond timestamps the group history is
    /// parsed from).
    log4j2: PathBuf,
    /// Connector name and config, in deployment order.
    connectors: Vec<(String, BTreeMap<String, String>)>,
    /// Tasks the preset's source connector runs once it has listed the source partitions.
    source_tasks: Option<u32>,
}

/// A Kafka Connect cluster (`[system] kind = "connect"`).
pub struct Connect {
    spec: SystemSpec,
    prepared: Option<Prepared>,
    /// REST port → instance, for every worker ever started (a restarted instance gets a new
    /// port): Connect names workers by `127.0.0.1:port`.
    ports: Mutex<BTreeMap<u16, u32>>,
}

impl Connect {
    /// The system of a `connect` table; prepare it before launching.
    pub fn new(spec: SystemSpec) -> Connect {
        Connect {
            spec,
            prepared: None,
            ports: Mutex::new(BTreeMap::new()),
        }
    }

    fn support(&self) -> ExactlyOnceSupport {
        match &self.spec {
            SystemSpec::Connect {
                exactly_once_source_support,
                ..
            } => *exactly_once_source_support,
            _ => ExactlyOnceSupport::Disabled,
        }
    }

    fn preset(&self) -> Option<ConnectPreset> {
        match &self.spec {
            SystemSpec::Connect { connectors, .. } => *connectors,
            _ => None,
        }
    }

    fn instance_of(&self, worker_url_or_id: &str) -> Option<u32> {
        let id = worker_url_or_id
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        let port: u16 = id.rsplit_once(':')?.1.parse().ok()?;
        self.ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&port)
            .copied()
    }
}

/// The group's generations from the workers' logs (`instance-N.log`, one per instance).
pub(crate) fn generations_of(instances: &Instances) -> Vec<Generation> {
    let mut events = Vec::new();
    for log in instances.logs() {
        let Some(index) = instance_index(&log) else {
            continue;
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        events.extend(connect_log::parse_events(index, &text));
    }
    events.sort_by_key(|e| (e.at_ms, e.worker));
    connect_log::generations(&events)
}

/// `…/instance-3.log` → 3.
fn instance_index(log: &Path) -> Option<u32> {
    log.file_stem()?
        .to_str()?
        .strip_prefix("instance-")?
        .parse()
        .ok()
}

/// Every connector and task start in the workers' logs, counted.
pub(crate) fn starts_of(instances: &Instances) -> BTreeMap<connect_log::Created, u32> {
    let mut out = BTreeMap::new();
    for log in instances.logs() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for c in connect_log::created(&text) {
            *out.entry(c).or_insert(0) += 1;
        }
    }
    out
}

/// The rebalances of a Connect group from its generations: each generation completed at or
/// after `since_ms` (ms since the Unix epoch; all of them when None) whose assignment gave
/// some worker something, and begun before `until_ms` (the system's stop at the run's end: its
/// shutdown's rebalances are not the run's), with its members and the tasks it moved (a task
/// newly assigned to a worker other than its previous owner; a first assignment is not a
/// move).
/// `member` names a worker.
pub(crate) fn rebalances_from(
    generations: &[Generation],
    since_ms: Option<u64>,
    until_ms: Option<u64>,
    observed_by: &str,
    member: impl Fn(u32) -> String,
) -> reports::Rebalances {
    let mut owner: BTreeMap<String, u32> = BTreeMap::new();
    let mut events = Vec::new();
    for g in generations {
        let mut moved = 0u64;
        for (worker, joined) in &g.members {
            for task in &joined.tasks {
                if let Some(before) = owner.insert(task.clone(), *worker) {
                    if before != *worker {
                        moved += 1;
                    }
                }
            }
        }
        let counted = since_ms.is_none_or(|since| g.last_joined_ms >= since)
            && until_ms.is_none_or(|until| g.first_joined_ms < until);
        if !counted {
            continue;
        }
        let at_secs = match since_ms {
            Some(since) => (g.last_joined_ms as f64 - since as f64) / 1000.0,
            None => 0.0,
        };
        events.push(reports::RebalanceEvent {
            at_secs,
            generation: Some(i64::from(g.generation)),
            members: g.members.keys().map(|w| member(*w)).collect(),
            moved,
            duplicates_after: None,
            cause: None,
        });
    }
    reports::Rebalances {
        observed_by: observed_by.into(),
        count: events.len() as u64,
        task_moves: Some(events.iter().map(|e| e.moved).sum()),
        events,
        ..Default::default()
    }
}

/// The group after `generations`: the latest one, its members and leader (`leader_of` maps
/// the leader's REST URL to an instance), and the latest generation each instance joined.
pub(crate) fn group_state_of(
    generations: &[Generation],
    leader_of: impl Fn(&str) -> Option<u32>,
) -> Option<GroupState> {
    let last = generations.last()?;
    let leader_url = &last.members.values().next()?.leader_url;
    let mut joined = BTreeMap::new();
    for g in generations {
        for w in g.members.keys() {
            joined.insert(*w, g.generation);
        }
    }
    Some(GroupState {
        generation: last.generation,
        members: last.members.keys().copied().collect(),
        leader: leader_of(leader_url),
        joined,
    })
}

/// ms since the Unix epoch.
pub(crate) fn epoch_ms(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

/// The scenario's clusters as the connectors reach them.
pub struct ConnectorClusters<'a> {
    pub source_bootstrap: &'a str,
    pub target_bootstrap: &'a str,
    /// Client properties beyond `bootstrap.servers` (security).
    pub source_props: Vec<(String, String)>,
    pub target_props: Vec<(String, String)>,
    pub source_brokers: usize,
    pub target_brokers: usize,
}

/// The connectors of a `connect` system: the preset's, then the user's with the keys filled in
/// that `crate::spec::ConnectorSpec` documents (also what the replication bench deploys).
pub fn connectors(
    system: &SystemSpec,
    clusters: &ConnectorClusters<'_>,
    topics: &[String],
    groups: &[String],
) -> Vec<(String, BTreeMap<String, String>)> {
    let SystemSpec::Connect {
        connectors: preset,
        connector,
        exactly_once_source_support,
        tasks_max,
        ..
    } = system
    else {
        return Vec::new();
    };
    let topic_list: Vec<String> = topics.iter().map(|t| regex::escape(t)).collect();
    let fill = |config: &mut BTreeMap<String, String>| {
        let mut put = |k: String, v: &str| {
            config.entry(k).or_insert_with(|| v.to_string());
        };
        put("source.cluster.alias".into(), "source");
        put("target.cluster.alias".into(), "target");
        put(
            "source.cluster.bootstrap.servers".into(),
            clusters.source_bootstrap,
        );
        put(
            "target.cluster.bootstrap.servers".into(),
            clusters.target_bootstrap,
        );
        for (k, v) in &clusters.source_props {
            put(format!("source.cluster.{k}"), v);
        }
        for (k, v) in &clusters.target_props {
            put(format!("target.cluster.{k}"), v);
        }
        put("topics".into(), &topic_list.join(","));
    };
    let rf = |brokers: usize| brokers.clamp(1, 3).to_string();
    let mut out = Vec::new();
    if *preset == Some(ConnectPreset::Mirrormaker2) {
        let mut common: BTreeMap<String, String> = BTreeMap::new();
        fill(&mut common);
        for (k, v) in [
            ("replication.policy.class", IDENTITY_POLICY.to_string()),
            ("key.converter", BYTE_ARRAY.to_string()),
            ("value.converter", BYTE_ARRAY.to_string()),
            ("header.converter", BYTE_ARRAY.to_string()),
            ("tasks.max", tasks_max.to_string()),
            // MirrorMaker 2's internal topics: more replicas than a 1-broker cluster has
            // otherwise.
            ("replication.factor", rf(clusters.target_brokers)),
            (
                "offset-syncs.topic.replication.factor",
                rf(clusters.source_brokers),
            ),
            (
                "checkpoints.topic.replication.factor",
                rf(clusters.target_brokers),
            ),
            // No authorizer on test clusters: ACL sync would only log errors.
            ("sync.topic.acls.enabled", "false".into()),
            // Partitions added to a source topic are noticed within seconds.
            ("refresh.topics.interval.seconds", "5".into()),
        ] {
            common.insert(k.into(), v);
        }
        let mut source = common.clone();
        source.insert("connector.class".into(), SOURCE_CONNECTOR_CLASS.into());
        // MirrorSourceConnector reads with the `source.consumer.` settings
        // (MirrorConnectorConfig); read_committed keeps aborted records out and is what its
        // exactly-once support requires (MirrorSourceConnector.exactlyOnceSupport).
        source.insert(
            "source.consumer.isolation.level".into(),
            "read_committed".into(),
        );
        if *exactly_once_source_support == ExactlyOnceSupport::Enabled {
            // KIP-618: refuse to run unless the workers can give exactly-once.
            source.insert("exactly.once.support".into(), "required".into());
        }
        out.push((MIRROR_SOURCE.to_string(), source));
        if !groups.is_empty() {
            let mut checkpoint = common;
            checkpoint.insert("connector.class".into(), CHECKPOINT_CONNECTOR_CLASS.into());
            let groups: Vec<String> = groups.iter().map(|g| regex::escape(g)).collect();
            checkpoint.insert("groups".into(), groups.join(","));
            checkpoint.insert("sync.group.offsets.enabled".into(), "true".into());
            let secs = crate::spec::DEFAULT_GROUP_SYNC_SECS.to_string();
            for k in [
                "emit.checkpoints.interval.seconds",
                "refresh.groups.interval.seconds",
                "sync.group.offsets.interval.seconds",
            ] {
                checkpoint.insert(k.into(), secs.clone());
            }
            out.push((MIRROR_CHECKPOINT.to_string(), checkpoint));
        }
    }
    for c in connector {
        let mut config = c.config.clone();
        config.insert("connector.class".into(), c.class.clone());
        fill(&mut config);
        out.push((c.name.clone(), config));
    }
    out
}

const BYTE_ARRAY: &str = harness::connect::worker::BYTE_ARRAY_CONVERTER;

/// Every property but `bootstrap.servers`.
fn beyond_bootstrap(props: &harness::ClientProps) -> Vec<(String, String)> {
    props
        .iter()
        .filter(|(k, _)| *k != "bootstrap.servers")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[async_trait]
impl SystemUnderTest for Connect {
    fn name(&self) -> String {
        let eos = match self.support() {
            ExactlyOnceSupport::Enabled => "exactly-once source support",
            ExactlyOnceSupport::Disabled => "exactly-once off",
        };
        let what = match (&self.spec, self.preset()) {
            (_, Some(ConnectPreset::Mirrormaker2)) => "MirrorMaker 2 connectors".to_string(),
            (SystemSpec::Connect { connector, .. }, None) => connector
                .iter()
                .map(|c| c.class.rsplit('.').next().unwrap_or(&c.class).to_string())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        format!("connect ({what}, {eos})")
    }

    fn instances(&self) -> u32 {
        match &self.spec {
            SystemSpec::Connect { instances, .. } => *instances,
            _ => 0,
        }
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), (String, String)> {
        let SystemSpec::Connect {
            instances,
            connectors,
            connector,
            tasks_max,
            heap_mb,
            ..
        } = &self.spec
        else {
            return Err(("system.kind".into(), "not a connect system".into()));
        };
        if *instances == 0 {
            return Err(("system.instances".into(), "expected at least 1".into()));
        }
        if connectors.is_none() && connector.is_empty() {
            return Err((
                "system.connector".into(),
                "no connector to deploy: set `connectors = \"mirrormaker2\"` or add a [[system.connector]]".into(),
            ));
        }
        if *tasks_max == 0 {
            return Err(("system.tasks_max".into(), "expected at least 1".into()));
        }
        if *heap_mb < 128 {
            return Err(("system.heap_mb".into(), "expected at least 128".into()));
        }
        let mut seen: Vec<&str> = Vec::new();
        if connectors.is_some() {
            seen.extend([MIRROR_SOURCE, MIRROR_CHECKPOINT]);
        }
        for (i, c) in connector.iter().enumerate() {
            if c.name.trim().is_empty() || c.name.contains('/') {
                return Err((
                    format!("system.connector[{i}].name"),
                    "a non-empty name without `/`".into(),
                ));
            }
            if c.class.trim().is_empty() {
                return Err((format!("system.connector[{i}].class"), "empty".into()));
            }
            if c.config.contains_key("connector.class") {
                return Err((
                    format!("system.connector[{i}].config"),
                    "`connector.class` is the entry's `class`".into(),
                ));
            }
            if seen.contains(&c.name.as_str()) {
                return Err((
                    format!("system.connector[{i}].name"),
                    format!("`{}` is deployed twice", c.name),
                ));
            }
            seen.push(&c.name);
        }
        Ok(())
    }

    /// The worker runtime (Java 17+, the target version's Connect jars), the worker spec and
    /// the connectors' configs.
    async fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), ScenarioError> {
        let SystemSpec::Connect {
            exactly_once_source_support,
            worker_properties,
            plugin_path,
            heap_mb,
            ..
        } = &self.spec
        else {
            return Err(ScenarioError::System("not a connect system".into()));
        };
        let runtime = ConnectRuntime::prepare(&setup.scenario.target.kafka_version, |event| {
            tracing::info!(?event, "Connect jars")
        })
        .await?;
        let mut client = harness::ClientProps::bootstrap(setup.target.bootstrap_servers());
        for (k, v) in beyond_bootstrap(setup.target_props) {
            client.set(k, v);
        }
        // Internal topics are named after the group: a scenario name made topic-safe.
        let name: String = setup
            .scenario
            .scenario
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut spec = ConnectSpec::new(name.clone(), client);
        spec.version = setup.scenario.target.kafka_version.clone();
        spec.workers = self.instances().max(1);
        spec.group_id = format!("cutover-connect-{name}");
        spec.replication_factor = setup.target.brokers().len().clamp(1, 3) as u16;
        spec.plugin_path = plugin_path
            .iter()
            .map(|p| setup.options.scenario_dir.join(p))
            .collect();
        spec.exactly_once_source = *exactly_once_source_support == ExactlyOnceSupport::Enabled;
        spec.heap_mb = *heap_mb;
        spec.worker_props.insert(
            "scheduled.rebalance.max.delay.ms".into(),
            DEFAULT_REBALANCE_DELAY_MS.to_string(),
        );
        spec.worker_props.extend(worker_properties.clone());
        let log4j2 = setup.secrets_dir.join("connect-log4j2.properties");
        std::fs::write(&log4j2, connect_log::LOG4J2_WORKER_CONFIG)
            .map_err(ScenarioError::io(format!("writing {}", log4j2.display())))?;
        let groups: Vec<String> = setup
            .scenario
            .consumer_groups
            .iter()
            .map(|g| g.id.clone())
            .collect();
        let connectors = connectors(
            &self.spec,
            &ConnectorClusters {
                source_bootstrap: &setup.source.bootstrap_servers(),
                target_bootstrap: &setup.target.bootstrap_servers(),
                source_props: beyond_bootstrap(setup.source_props),
                target_props: beyond_bootstrap(setup.target_props),
                source_brokers: setup.source.brokers().len(),
                target_brokers: setup.target.brokers().len(),
            },
            setup.topics,
            &groups,
        );
        // Redacted copies of what is deployed, for the report.
        let shown: BTreeMap<&str, BTreeMap<String, String>> = connectors
            .iter()
            .map(|(n, c)| {
                let text: String = c.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                let redacted = secrets::redact_properties(&text);
                let map = redacted
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (n.as_str(), map)
            })
            .collect();
        let path = setup.options.report_dir.join("connectors.json");
        let text = serde_json::to_string_pretty(&shown).unwrap_or_default();
        std::fs::write(&path, text)
            .map_err(ScenarioError::io(format!("writing {}", path.display())))?;
        let source_tasks =
            (self.preset() == Some(ConnectPreset::Mirrormaker2)).then(|| match &self.spec {
                SystemSpec::Connect { tasks_max, .. } => *tasks_max,
                _ => 1,
            });
        self.prepared = Some(Prepared {
            runtime,
            spec,
            log4j2,
            connectors,
            source_tasks,
        });
        Ok(())
    }

    /// Same names: the preset copies with `IdentityReplicationPolicy`; a user's connector is
    /// expected to keep names too.
    fn rename(&self) -> verify::Rename {
        verify::Rename::default()
    }

    /// One worker: `worker-N.properties` (private; a redacted copy in the report dir) and the
    /// `ConnectDistributed` JVM; its REST port is the instance's metrics port.
    fn command(&self, index: u32, l: &Launcher) -> Result<(Command, Option<u16>), ScenarioError> {
        let p = self
            .prepared
            .as_ref()
            .ok_or_else(|| ScenarioError::System("Connect not prepared".into()))?;
        // Free now; the JVM binds it within seconds.
        let rest_port = harness::ports::reserve(1)?.ports()[0];
        let props = harness::connect::worker::worker_properties(&p.spec, rest_port);
        let text = harness::connect::worker::render_properties(&props);
        let name = format!("worker-{index}.properties");
        let path = l.secrets_dir.join(&name);
        super::write_private(&path, &text)?;
        let shown = l.dir.join(&name);
        std::fs::write(
            &shown,
            reports::redact::redact_text(&secrets::redact_properties(&text)),
        )
        .map_err(ScenarioError::io(format!("writing {}", shown.display())))?;
        self.ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rest_port, index);
        let mut c = p.runtime.command(&path, &p.log4j2, p.spec.heap_mb);
        c.current_dir(&l.dir);
        Ok((c, Some(rest_port)))
    }

    fn grace(&self) -> Duration {
        match &self.spec {
            SystemSpec::Connect { grace_secs, .. } => Duration::from_secs_f64(*grace_secs),
            _ => Duration::from_secs(30),
        }
    }

    /// Puts every connector once the workers answer, then waits until every connector and
    /// task is RUNNING (the preset's source connector with one task per source partition up
    /// to `tasks_max`). A connector or task that FAILED fails the start with its trace.
    async fn wait_ready(
        &self,
        instances: &mut Instances,
        ready: &Ready<'_>,
    ) -> Result<(), ScenarioError> {
        let Some(p) = &self.prepared else {
            return Ok(());
        };
        let partitions = ready.begin();
        let ports = instances.metrics_ports();
        let connectors = p.connectors.clone();
        let source_tasks = p.source_tasks.map(|t| t.min(partitions).max(1));
        let cancel = ready.options.cancel.clone();
        let waited = Instant::now();
        let result =
            tokio::task::spawn_blocking(move || deploy(&ports, &connectors, source_tasks, &cancel))
                .await
                .map_err(|e| ScenarioError::System(format!("Connect deployment: {e}")))?;
        match result {
            Ok(summary) => {
                tracing::info!(
                    secs = waited.elapsed().as_secs_f64(),
                    %summary,
                    "Connect connectors running"
                );
                Ok(())
            }
            Err(Deploy::Failed(why)) => Err(ScenarioError::System(why)),
            Err(Deploy::Slow(why)) => {
                tracing::warn!(
                    "Connect: {why} within {} s; starting the workload anyway",
                    READY_TIMEOUT.as_secs()
                );
                Ok(())
            }
        }
    }

    fn group_sync_interval_secs(&self) -> Option<u64> {
        (self.preset() == Some(ConnectPreset::Mirrormaker2))
            .then_some(crate::spec::DEFAULT_GROUP_SYNC_SECS)
    }

    fn rebalances(
        &self,
        instances: &Instances,
        workload_started: Option<SystemTime>,
    ) -> Option<reports::Rebalances> {
        let generations = generations_of(instances);
        if generations.is_empty() {
            return None;
        }
        Some(rebalances_from(
            &generations,
            workload_started.and_then(epoch_ms),
            instances.stopping_since().and_then(epoch_ms),
            "connect-workers",
            |w| format!("instance {w}"),
        ))
    }

    /// Tasks of every connector that Connect's REST status places on the worker behind
    /// `metrics_port` (its REST port).
    fn assigned_partitions(&self, metrics_port: u16) -> Option<f64> {
        let rest = ConnectRest::new(format!("http://127.0.0.1:{metrics_port}"));
        let me = harness::connect::worker::worker_id(metrics_port);
        let mut tasks = 0u32;
        for name in rest.list().ok()? {
            let status = rest.status(&name).ok()?;
            tasks += status.tasks.iter().filter(|t| t.worker_id == me).count() as u32;
        }
        Some(f64::from(tasks))
    }

    fn assigned_unit(&self) -> (&'static str, &'static str) {
        ("tasks", "Connect's REST status")
    }

    fn group_state(&self, instances: &Instances) -> Option<GroupState> {
        group_state_of(&generations_of(instances), |url| self.instance_of(url))
    }

    fn connectors(&self) -> Vec<String> {
        self.connectors_named()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    fn rest_url(&self, instances: &Instances) -> Option<String> {
        let port = instances.metrics_ports().into_iter().next()?;
        Some(format!("http://127.0.0.1:{port}"))
    }

    fn starts(&self, instances: &Instances) -> BTreeMap<String, u32> {
        starts_of(instances)
            .into_iter()
            .map(|(c, n)| {
                let key = match c {
                    connect_log::Created::Connector(name) => format!("connector {name}"),
                    connect_log::Created::Task(id) => format!("task {id}"),
                };
                (key, n)
            })
            .collect()
    }
}

impl Connect {
    /// The connectors it deploys, by name (the preset's source connector first; the checkpoint
    /// connector, deployed only with consumer groups, is not listed).
    fn connectors_named(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if self.preset() == Some(ConnectPreset::Mirrormaker2) {
            out.push(MIRROR_SOURCE);
        }
        if let SystemSpec::Connect { connector, .. } = &self.spec {
            out.extend(connector.iter().map(|c| c.name.as_str()));
        }
        out
    }
}

enum Deploy {
    /// A connector or task FAILED, or the REST API refused a config.
    Failed(String),
    /// Not everything ran within [`READY_TIMEOUT`].
    Slow(String),
}

/// Puts every connector through whichever worker answers, then waits for RUNNING.
fn deploy(
    ports: &[u16],
    connectors: &[(String, BTreeMap<String, String>)],
    source_tasks: Option<u32>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<String, Deploy> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let rests: Vec<ConnectRest> = ports
        .iter()
        .map(|p| ConnectRest::new(format!("http://127.0.0.1:{p}")))
        .collect();
    // Every worker's REST server up and the group formed: the list answers on all of them.
    loop {
        if rests.iter().all(|r| r.list().is_ok()) {
            break;
        }
        if Instant::now() >= deadline || cancel.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Deploy::Slow(
                "the workers' REST APIs did not all answer".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let rest = rests
        .first()
        .ok_or_else(|| Deploy::Failed("no worker to deploy to".into()))?;
    for (name, config) in connectors {
        let left = deadline.saturating_duration_since(Instant::now());
        rest.put_connector_config(name, config, left)
            .map_err(|e| Deploy::Failed(format!("deploying connector `{name}`: {e}")))?;
    }
    let mut summary = Vec::new();
    for (name, config) in connectors {
        let checkpoint =
            config.get("connector.class").map(String::as_str) == Some(CHECKPOINT_CONNECTOR_CLASS);
        // The source connector may start with fewer tasks and reconfigure once it has listed
        // the source partitions; a checkpoint connector has tasks only once groups exist.
        let want = match (name.as_str(), checkpoint) {
            (MIRROR_SOURCE, _) => source_tasks.unwrap_or(1) as usize,
            (_, true) => 0,
            _ => 1,
        };
        let mut last;
        loop {
            if cancel.load(std::sync::atomic::Ordering::Acquire) {
                return Err(Deploy::Slow("cancelled".into()));
            }
            match rest.status(name) {
                Ok(status) => {
                    if let Some(trace) = status.failure_trace() {
                        return Err(Deploy::Failed(format!(
                            "connector `{name}` FAILED: {}",
                            first_lines(&trace, 6)
                        )));
                    }
                    last = status.summary();
                    if status.tasks.len() >= want && running(&status) {
                        summary.push(last.clone());
                        break;
                    }
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(Deploy::Slow(format!(
                    "connector `{name}` not running with {want} task(s) (last: {last})"
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(summary.join("; "))
}

/// The connector and every task it has (none, for a checkpoint connector without groups yet)
/// RUNNING. (`ConnectorStatus::all_running` also wants at least one task.)
pub(crate) fn running(status: &harness::connect::ConnectorStatus) -> bool {
    status.connector.state == harness::connect::State::Running
        && status
            .tasks
            .iter()
            .all(|t| t.state == harness::connect::State::Running)
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::connect::log::Joined;

    fn parsed(system: &str) -> SystemSpec {
        let text =
            format!("[scenario]\nname = \"t\"\n[workload.topics]\ncount = 1\n[system]\n{system}\n");
        Scenario::from_toml(&text, "t.toml").unwrap().system
    }

    fn clusters() -> ConnectorClusters<'static> {
        ConnectorClusters {
            source_bootstrap: "127.0.0.1:1",
            target_bootstrap: "127.0.0.1:2",
            source_props: vec![("security.protocol".into(), "SASL_SSL".into())],
            target_props: vec![],
            source_brokers: 1,
            target_brokers: 3,
        }
    }

    #[test]
    fn the_mirrormaker2_preset_copies_with_identity_names_read_committed_and_eos_on_demand() {
        let off = parsed("kind = \"connect\"\nconnectors = \"mirrormaker2\"");
        let c = connectors(&off, &clusters(), &["orders.0".into()], &[]);
        assert_eq!(
            c.len(),
            1,
            "no checkpoint connector without consumer groups"
        );
        let (name, cfg) = &c[0];
        assert_eq!(name, MIRROR_SOURCE);
        assert_eq!(cfg["connector.class"], SOURCE_CONNECTOR_CLASS);
        assert_eq!(cfg["replication.policy.class"], IDENTITY_POLICY);
        assert_eq!(cfg["source.consumer.isolation.level"], "read_committed");
        assert_eq!(cfg["value.converter"], BYTE_ARRAY);
        assert_eq!(cfg["topics"], "orders\\.0");
        assert_eq!(cfg["source.cluster.bootstrap.servers"], "127.0.0.1:1");
        assert_eq!(cfg["source.cluster.security.protocol"], "SASL_SSL");
        assert_eq!(cfg["replication.factor"], "3");
        assert_eq!(cfg["offset-syncs.topic.replication.factor"], "1");
        assert!(!cfg.contains_key("exactly.once.support"));

        let on = parsed(
            "kind = \"connect\"\nconnectors = \"mirrormaker2\"\nexactly_once_source_support = \"enabled\"",
        );
        let c = connectors(&on, &clusters(), &["o".into()], &["g1".into()]);
        assert_eq!(c[0].1["exactly.once.support"], "required");
        assert_eq!(c[1].0, MIRROR_CHECKPOINT);
        assert_eq!(c[1].1["groups"], "g1");
        assert_eq!(c[1].1["sync.group.offsets.enabled"], "true");
    }

    #[test]
    fn a_users_connector_gets_only_the_missing_documented_keys() {
        let spec = parsed(
            "kind = \"connect\"\n[[system.connector]]\nname = \"rep\"\nclass = \"io.example.Replicator\"\nconfig = { topics = \"mine\", \"x.y\" = \"1\" }",
        );
        let c = connectors(&spec, &clusters(), &["orders".into()], &[]);
        assert_eq!(c.len(), 1);
        let (name, cfg) = &c[0];
        assert_eq!(name, "rep");
        assert_eq!(cfg["connector.class"], "io.example.Replicator");
        assert_eq!(cfg["topics"], "mine", "the user's value wins");
        assert_eq!(cfg["x.y"], "1");
        assert_eq!(cfg["target.cluster.bootstrap.servers"], "127.0.0.1:2");
        assert_eq!(cfg["source.cluster.alias"], "source");
        assert!(!cfg.contains_key("replication.policy.class"));
        let system = Connect::new(spec);
        assert_eq!(system.connectors(), vec!["rep".to_string()]);
        assert_eq!(system.name(), "connect (Replicator, exactly-once off)");
        assert_eq!(system.instances(), 3);
    }

    #[test]
    fn checks_name_the_field() {
        let scenario = |system: &str| {
            let text = format!(
                "[scenario]\nname = \"t\"\n[workload.topics]\ncount = 1\n[system]\n{system}\n"
            );
            Scenario::from_toml(&text, "t.toml")
                .err()
                .map(|e| e.to_string())
        };
        let none = scenario("kind = \"connect\"").expect("no connector is refused");
        assert!(none.contains("system.connector"), "{none}");
        let class = scenario(
            "kind = \"connect\"\n[[system.connector]]\nname = \"a\"\nclass = \"x\"\nconfig = { \"connector.class\" = \"y\" }",
        )
        .expect("connector.class in config is refused");
        assert!(class.contains("connector[0].config"), "{class}");
        let twice = scenario(
            "kind = \"connect\"\nconnectors = \"mirrormaker2\"\n[[system.connector]]\nname = \"mirror-source\"\nclass = \"x\"",
        )
        .expect("a name deployed twice is refused");
        assert!(twice.contains("deployed twice"), "{twice}");
        assert!(scenario("kind = \"connect\"\nconnectors = \"mirrormaker2\"").is_none());
    }

    fn joined(generation: u32, leader_url: &str, tasks: &[&str]) -> Joined {
        Joined {
            generation,
            protocol: 2,
            leader: "l".into(),
            leader_url: leader_url.into(),
            config_offset: 0,
            connectors: Vec::new(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            revoked_connectors: Vec::new(),
            revoked_tasks: Vec::new(),
            delay_ms: 0,
        }
    }

    #[test]
    fn rebalances_count_generations_since_the_workload_and_the_tasks_that_changed_worker() {
        let g = |generation: u32, at: u64, members: Vec<(u32, &[&str])>| Generation {
            generation,
            first_joined_ms: at,
            last_joined_ms: at,
            members: members
                .into_iter()
                .map(|(w, t)| (w, joined(generation, "http://127.0.0.1:1/", t)))
                .collect(),
        };
        let gens = vec![
            g(1, 1_000, vec![(0, &["m-0", "m-1"]), (1, &[])]),
            // The workload starts at 2 s.
            g(2, 3_000, vec![(0, &[]), (1, &[]), (2, &[])]),
            // Worker 0 left: its tasks go to 1 and 2.
            g(3, 5_500, vec![(1, &["m-0"]), (2, &["m-1"])]),
            // A restart on the same worker is not a move.
            g(4, 7_000, vec![(1, &["m-0"]), (2, &[])]),
        ];
        let r = rebalances_from(&gens, Some(2_000), None, "connect-workers", |w| {
            format!("w{w}")
        });
        assert_eq!(r.count, 3);
        assert_eq!(r.task_moves, Some(2));
        assert_eq!(r.events[0].generation, Some(2));
        assert_eq!(r.events[0].members, ["w0", "w1", "w2"]);
        assert_eq!(r.events[1].moved, 2);
        assert!((r.events[1].at_secs - 3.5).abs() < 1e-9);
        assert_eq!(r.events[2].moved, 0);
        assert!(r.events.iter().all(|e| e.duplicates_after.is_none()));
        // The system's own stop at the run's end (from 7 s) is not counted.
        let r = rebalances_from(&gens, Some(2_000), Some(7_000), "w", |w| w.to_string());
        assert_eq!(r.count, 2);
        let state = group_state_of(&gens, |url| (url == "http://127.0.0.1:1/").then_some(9))
            .expect("a group");
        assert_eq!(state.generation, 4);
        assert_eq!(state.members, [1, 2]);
        assert_eq!(state.leader, Some(9));
        assert_eq!(state.joined[&0], 2, "worker 0 left after generation 2");
        assert_eq!(state.joined[&2], 4);
    }

    #[test]
    fn a_connector_without_tasks_yet_is_running_when_it_runs() {
        let status = |json: &str| -> harness::connect::ConnectorStatus {
            serde_json::from_str(json).expect("a status")
        };
        let checkpoint = status(
            r#"{"name":"c","connector":{"state":"RUNNING","worker_id":"w"},"tasks":[],"type":"source"}"#,
        );
        assert!(
            running(&checkpoint),
            "a checkpoint connector before any group"
        );
        assert!(
            !checkpoint.all_running(),
            "the harness's stricter check wants a task"
        );
        let failed_task = status(
            r#"{"name":"c","connector":{"state":"RUNNING","worker_id":"w"},"tasks":[{"id":0,"state":"FAILED","worker_id":"w"}]}"#,
        );
        assert!(!running(&failed_task));
    }

    #[test]
    fn instance_logs_are_numbered_by_their_file_name() {
        assert_eq!(instance_index(Path::new("/r/instance-12.log")), Some(12));
        assert_eq!(instance_index(Path::new("/r/worker-1.log")), None);
    }
}
