//! Scenario files: clusters, a workload, a system under test, a fault schedule, what the
//! verification holds the copy to, and how long to run. TOML, every table closed
//! (`deny_unknown_fields`); errors name the file, line and field.

use std::collections::BTreeMap;
use std::path::Path;

use harness::ClusterSpec;
use located::Located;
use serde::{Deserialize, Serialize};
use workload::WorkloadSpec;

use crate::error::ScenarioError;

/// A whole scenario file.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scenario: About,
    #[serde(default)]
    pub run: RunSpec,
    #[serde(default = "source_default")]
    pub source: ClusterSpec,
    #[serde(default = "target_default")]
    pub target: ClusterSpec,
    /// Secures both clusters (`ssl` or `sasl_ssl`) unless a cluster table sets its own
    /// `security`; every cutover client and the system under test get the matching
    /// properties.
    #[serde(default)]
    pub security: Option<harness::SecurityProtocol>,
    pub workload: WorkloadSpec,
    pub system: SystemSpec,
    /// The fault schedule (`[[fault]]`, each at `at_secs`).
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub verify: verify::Promises,
    /// What the scenario must show: with it, `cutover run` exits 0 when the run showed it and
    /// 1 when not; without it, 0 on a pass. Dropped by `--system` (another system under the
    /// same schedule may behave otherwise).
    #[serde(default)]
    pub expect: Option<ExpectSpec>,
    /// Application consumer groups moved from the source to the target (consumer-group
    /// cutover).
    #[serde(default, rename = "consumer_group")]
    pub consumer_groups: Vec<ConsumerGroupSpec>,
    /// Stateful applications moved from the source to the target mid-run (application
    /// cutover, `crate::app`).
    #[serde(default, rename = "app")]
    pub apps: Vec<AppSpec>,
    /// Real schema registries for the run (`crate::registries`).
    #[serde(default)]
    pub registries: Option<crate::registries::RegistriesSpec>,
    /// A team's slice (`[scope]`): only the workload topics and consumer groups that the
    /// namespaces own by the teams' declarations run (ns4kafka, Strimzi).
    #[serde(default)]
    pub scope: Option<ScopeSpec>,
    /// The file's text as read (reports echo it, secrets redacted).
    #[serde(skip)]
    pub text: String,
    /// Where it was read from.
    #[serde(skip)]
    pub origin: String,
}

fn source_default() -> ClusterSpec {
    ClusterSpec::new("source")
}

fn target_default() -> ClusterSpec {
    ClusterSpec::new("target")
}

/// `[scope]`: the slice of the scenario that ns4kafka namespaces (or Strimzi `KafkaUser`s)
/// own, read from their declarations (the `declarations` crate, as `--namespace` on `cutover
/// verify`). The workload produces only to the workload topics the namespaces own (their
/// `OWNER` entries of type `TOPIC`, the topics declared in them, a Strimzi user's `Write`
/// rules), so the system copies, the drain waits for and the checker judges exactly those; only
/// the `[[consumer_group]]`s they own run and are checked (`OWNER` entries of type `GROUP`, a
/// Strimzi user's `Read` rules on groups). `cutover sweep FILE --set
/// 'scope.namespaces=["a"],["b"]'` runs it team by team.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    /// ns4kafka or Strimzi resource YAML: files or directories (`*.yml`, `*.yaml`, searched
    /// recursively), relative to the scenario file.
    pub resources: Vec<String>,
    /// The namespaces (or Strimzi user names) whose slice runs. With one, it is also the
    /// namespace of documents that leave `metadata.namespace` out (as `kafkactl -n`).
    pub namespaces: Vec<String>,
}

/// The declarations `[scope]` reads and the scope of its namespaces; errors name the scenario
/// file's line (a missing path, an unknown namespace) or the declaration's (malformed YAML).
fn read_scope(
    spec: &ScopeSpec,
    text: &str,
    origin: &str,
    base: &Path,
) -> Result<declarations::scope::Scope, ScenarioError> {
    let err = |field: &str, reason: String| {
        ScenarioError::from(Located::field(text, origin, field, reason))
    };
    if spec.resources.is_empty() {
        return Err(err(
            "scope.resources",
            "expected at least one file or directory of declarations".into(),
        ));
    }
    if spec.namespaces.is_empty() {
        return Err(err(
            "scope.namespaces",
            "expected at least one namespace".into(),
        ));
    }
    let mut paths = Vec::new();
    for (i, r) in spec.resources.iter().enumerate() {
        let path = base.join(r);
        if !path.exists() {
            return Err(err(
                &format!("scope.resources[{i}]"),
                format!("no such file or directory: {}", path.display()),
            ));
        }
        paths.push(path);
    }
    let default = match spec.namespaces.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let decls = declarations::load(&paths, default).map_err(|e| match e {
        declarations::DeclarationsError::Input(located) => ScenarioError::Spec(*located),
        declarations::DeclarationsError::NoFiles { path } => {
            let i = paths
                .iter()
                .position(|p| p.display().to_string() == path)
                .unwrap_or(0);
            err(
                &format!("scope.resources[{i}]"),
                format!("{path}: no *.yml or *.yaml file under it"),
            )
        }
        other => err("scope.resources", other.to_string()),
    })?;
    declarations::scope::Scope::of(&decls, &spec.namespaces)
        .map_err(|reason| err("scope.namespaces", reason))
}

/// Name and the one line `cutover list` shows.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct About {
    /// The scenario's name (report titles, cluster names, `cutover list`).
    pub name: String,
    /// One line on what it shows (`cutover list`).
    #[serde(default)]
    pub description: String,
    /// Labels for selecting scenarios: `cutover run DIR --exclude-tag seed-scale` leaves out
    /// the ones too long for CI (the seed's scale), which are run by hand.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Timing of the run.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The workload (and the fault schedule) runs this long at most.
    #[serde(default = "default_duration")]
    pub duration_secs: f64,
    /// After the workload: how long the system may take to catch up (exceeding it fails).
    #[serde(default = "default_drain")]
    pub drain_timeout_secs: f64,
    /// Overrides the workload's seed (same seed: same records, same fault times).
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_duration() -> f64 {
    30.0
}

fn default_drain() -> f64 {
    120.0
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            duration_secs: default_duration(),
            drain_timeout_secs: default_drain(),
            seed: None,
        }
    }
}

/// The system under test.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SystemSpec {
    /// cutover's replicator. `replication` and `tuning` are the tables of a replicator config
    /// (`[source]`/`[target]` are filled in with the scenario's clusters; extra client
    /// properties go in `source_properties`/`target_properties`).
    Builtin {
        /// Replicator processes (`cutover replicate`), sharing the work.
        #[serde(default = "one")]
        instances: u32,
        /// The replicator config's `[replication]` table (mode, include, rename, ...; see the
        /// replicator file reference). Default: exactly-once, the workload's topics.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, serde_json::Value>")]
        replication: toml::Table,
        /// The replicator config's `[tuning]` table. Default: the replicator's defaults.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, serde_json::Value>")]
        tuning: toml::Table,
        /// Extra source client properties of the replicator (Java names).
        #[serde(default)]
        source_properties: BTreeMap<String, String>,
        /// Extra target client properties of the replicator (Java names).
        #[serde(default)]
        target_properties: BTreeMap<String, String>,
        /// Connect to the source as this SASL user of a `sasl_ssl` cluster (one of
        /// `source.users`; the harness's super user otherwise), so ACLs are tested too.
        #[serde(default)]
        source_user: Option<String>,
        /// Connect to the target as this SASL user (one of `target.users`).
        #[serde(default)]
        target_user: Option<String>,
    },
    /// Any program: started with `CUTOVER_SOURCE_BOOTSTRAP`, `CUTOVER_TARGET_BOOTSTRAP`,
    /// `CUTOVER_SOURCE_PROPERTIES`/`CUTOVER_TARGET_PROPERTIES` (Java client properties files,
    /// security included),
    /// `CUTOVER_TOPICS`, `CUTOVER_GROUP_ID`, `CUTOVER_INSTANCE`; stopped with SIGTERM, then
    /// SIGKILL after `grace_secs`.
    Command {
        /// Program and arguments; a relative program is resolved against the scenario's dir.
        command: Vec<String>,
        /// Processes started (`CUTOVER_INSTANCE` tells them apart).
        #[serde(default = "one")]
        instances: u32,
        /// SIGTERM, then SIGKILL after this long, in seconds.
        #[serde(default = "default_grace")]
        grace_secs: f64,
        /// Passed as `CUTOVER_GROUP_ID` (the group the command's consumers should use). The
        /// instance faults are proven from this group on the source: `add-instance` when it has
        /// one member more and the new one holds partitions, `remove-instance` when it has one
        /// fewer and the partitions it held are all held again; a command that does not join
        /// it makes those faults unproven (the run UNKNOWN).
        #[serde(default = "default_group")]
        group_id: String,
        /// How long, in seconds, an added instance may take to join `group_id` and be given
        /// partitions, and a removed one's partitions to be held again by the others (a
        /// rebalance, with its session and poll timeouts).
        #[serde(default = "default_rebalance_proof")]
        rebalance_proof_secs: f64,
        /// Extra environment variables of the command.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// How target topics are named (the checker needs to know).
        #[serde(default)]
        rename_prefix: String,
    },
    /// Apache Kafka's MirrorMaker 2 in dedicated mode (`connect-mirror` of the target cluster's
    /// Kafka version): `instances` processes form one Connect cluster replicating
    /// `source->target` (the cluster aliases are `source` and `target`). The `mm2.properties`
    /// is generated from these fields, or taken from `config_file`.
    Mirrormaker2 {
        /// Dedicated-mode processes (one Connect worker group); default 1.
        #[serde(default = "one")]
        instances: u32,
        /// KIP-618 exactly-once: `target.exactly.once.source.support=enabled` plus the internal
        /// REST server dedicated mode needs for it. Default false, MirrorMaker 2's own default.
        #[serde(default)]
        exactly_once: bool,
        /// `tasks.max` of the connectors; default 4.
        #[serde(default = "default_tasks_max")]
        tasks_max: u32,
        /// `default` (target topic `source.<name>`) or `identity` (same name).
        #[serde(default)]
        replication_policy: ReplicationPolicy,
        /// Source consumer settings (`source.consumer.*`). `isolation.level` defaults to
        /// `read_committed` (MirrorMaker 2 would copy aborted records otherwise).
        #[serde(default)]
        consumer: BTreeMap<String, String>,
        /// Target producer settings (`target.producer.*`).
        #[serde(default)]
        producer: BTreeMap<String, String>,
        /// Connect worker settings of the replication flow (`target.*`).
        /// `scheduled.rebalance.max.delay.ms` defaults to 10000 (Connect's 300000 would hold a
        /// crashed worker's tasks for five minutes, past any drain timeout).
        #[serde(default)]
        worker: BTreeMap<String, String>,
        /// `sync.group.offsets.enabled`; default false.
        #[serde(default)]
        sync_group_offsets: bool,
        /// `emit.checkpoints.interval.seconds`; MirrorMaker 2's default (60) when absent.
        #[serde(default)]
        emit_checkpoints_interval_secs: Option<u64>,
        /// `offset-syncs.topic.location`: `source` (MirrorMaker 2's default) or `target`.
        #[serde(default)]
        offset_syncs_topic_location: Side,
        /// Any other `mm2.properties` entries, written last (they win).
        #[serde(default)]
        properties: BTreeMap<String, String>,
        /// Your own `mm2.properties` (relative to the scenario file), used verbatim: cutover
        /// only sets the bootstrap servers of the first enabled `A->B` flow's clusters (and,
        /// with `dedicated.mode.enable.internal.rest`, each instance's `listeners`). The other
        /// fields above are then refused, except `instances`, `grace_secs` and `heap_mb`.
        #[serde(default)]
        config_file: Option<String>,
        /// SIGTERM, then SIGKILL after this long; default 30.
        #[serde(default = "default_mm2_grace")]
        grace_secs: f64,
        /// JVM heap per instance (MiB); default 512.
        #[serde(default = "default_mm2_heap")]
        heap_mb: u32,
    },
    /// A Kafka Connect cluster in distributed mode (`ConnectDistributed` from the Apache Kafka
    /// jars of the target cluster's version; config, offset and status topics on the target,
    /// byte-array converters, REST on loopback): `instances` workers form one group and the
    /// connectors below are deployed through its REST API; the workload starts once every
    /// connector and task reports RUNNING. Instances are workers: add-instance is a worker
    /// joining, remove-instance a graceful leave, crash-instance a kill -9 of the worker's
    /// process group. `scheduled.rebalance.max.delay.ms` defaults to 10000 here (Connect's
    /// 300000, KIP-415, would hold a lost worker's tasks for five minutes, past any CI run).
    Connect {
        /// Connect workers started at once; default 3.
        #[serde(default = "three")]
        instances: u32,
        /// A preset set of connectors: `mirrormaker2` deploys MirrorMaker 2's
        /// `MirrorSourceConnector` named `mirror-source` (and `MirrorCheckpointConnector` named
        /// `mirror-checkpoint` when the scenario has consumer groups) with
        /// `IdentityReplicationPolicy`, byte-array converters, a `read_committed` source
        /// consumer, and `exactly.once.support=required` when `exactly_once_source_support` is
        /// `enabled`.
        #[serde(default)]
        connectors: Option<ConnectPreset>,
        /// Your connectors (`[[system.connector]]`), deployed after the preset's.
        #[serde(default, rename = "connector")]
        connector: Vec<ConnectorSpec>,
        /// `exactly.once.source.support` of every worker (KIP-618): `enabled` or `disabled`
        /// (default).
        #[serde(default)]
        exactly_once_source_support: ExactlyOnceSupport,
        /// `tasks.max` of the preset's connectors; default 4.
        #[serde(default = "default_tasks_max")]
        tasks_max: u32,
        /// Worker properties merged over the generated ones (they win), e.g.
        /// `session.timeout.ms`, `receive.buffer.bytes`.
        #[serde(default)]
        worker_properties: BTreeMap<String, String>,
        /// Directories of your connector jars (`plugin.path`), relative to the scenario file.
        #[serde(default)]
        plugin_path: Vec<String>,
        /// SIGTERM, then SIGKILL after this long (seconds); default 30.
        #[serde(default = "default_mm2_grace")]
        grace_secs: f64,
        /// JVM heap per worker (MiB); default 512.
        #[serde(default = "default_mm2_heap")]
        heap_mb: u32,
    },
    /// Replication already running outside cutover (rehearsals against live clusters):
    /// cutover starts, stops and faults nothing; it writes the workload and verifies what
    /// arrives. `rename_prefix` says how that replication names target topics (MirrorMaker
    /// 2's default policy: `<source alias>.`).
    Running {
        /// Put before a source topic's name to name its copy (default: the same name).
        #[serde(default)]
        rename_prefix: String,
    },
}

/// A connector deployed on a `connect` system's cluster (`[[system.connector]]`).
///
/// Where `config` leaves them out, cutover fills in MirrorMaker 2's connector keys
/// (`MirrorConnectorConfig`): `source.cluster.alias` = `source`, `target.cluster.alias` =
/// `target`, `source.cluster.bootstrap.servers` and `target.cluster.bootstrap.servers` (the
/// clusters as the system reaches them, through the fault proxies), each client security
/// property of the clusters as `source.cluster.<key>` and `target.cluster.<key>`, and `topics`
/// (the workload's topics, comma-separated); `connector.class` is `class`. Nothing else is
/// added: another connector's own keys (Confluent Replicator's `src.kafka.*`, `dest.kafka.*`)
/// are yours to write.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    /// The connector's name in Connect (`PUT /connectors/{name}/config`).
    pub name: String,
    /// Its `connector.class`.
    pub class: String,
    /// Its configuration (string values, as the REST API takes them).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// The preset connector sets of a `connect` system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectPreset {
    /// MirrorMaker 2's connectors on the Connect cluster (`MirrorSourceConnector`, and
    /// `MirrorCheckpointConnector` when the scenario has consumer groups).
    Mirrormaker2,
}

/// `exactly.once.source.support` of a Connect worker (KIP-618).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ExactlyOnceSupport {
    Enabled,
    #[default]
    Disabled,
}

fn three() -> u32 {
    3
}

/// How MirrorMaker 2 names target topics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationPolicy {
    /// `DefaultReplicationPolicy`: the source alias and a dot before the name.
    #[default]
    Default,
    /// `IdentityReplicationPolicy`: the same name.
    Identity,
}

pub(crate) fn default_tasks_max() -> u32 {
    4
}

fn default_mm2_grace() -> f64 {
    30.0
}

fn default_mm2_heap() -> u32 {
    harness::mirrormaker::DEFAULT_HEAP_MB
}

/// The systems `cutover run --system NAME` can put under any scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemOverride {
    /// The built-in replicator, exactly-once.
    Builtin,
    /// The built-in replicator, at-least-once.
    BuiltinAlo,
    /// MirrorMaker 2 with exactly-once off (its default).
    Mirrormaker2,
    /// MirrorMaker 2 with exactly-once on.
    Mirrormaker2Eos,
    /// MirrorMaker 2's connectors on a Kafka Connect cluster, exactly-once off.
    Mirrormaker2Connect,
    /// MirrorMaker 2's connectors on a Kafka Connect cluster, exactly-once on (KIP-618).
    Mirrormaker2ConnectEos,
}

impl SystemOverride {
    pub const NAMES: [&'static str; 6] = [
        "builtin",
        "builtin-alo",
        "mirrormaker2",
        "mirrormaker2-eos",
        "mirrormaker2-connect",
        "mirrormaker2-connect-eos",
    ];

    pub fn parse(name: &str) -> Option<SystemOverride> {
        match name {
            "builtin" => Some(SystemOverride::Builtin),
            "builtin-alo" => Some(SystemOverride::BuiltinAlo),
            "mirrormaker2" => Some(SystemOverride::Mirrormaker2),
            "mirrormaker2-eos" => Some(SystemOverride::Mirrormaker2Eos),
            "mirrormaker2-connect" => Some(SystemOverride::Mirrormaker2Connect),
            "mirrormaker2-connect-eos" => Some(SystemOverride::Mirrormaker2ConnectEos),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SystemOverride::Builtin => "builtin",
            SystemOverride::BuiltinAlo => "builtin-alo",
            SystemOverride::Mirrormaker2 => "mirrormaker2",
            SystemOverride::Mirrormaker2Eos => "mirrormaker2-eos",
            SystemOverride::Mirrormaker2Connect => "mirrormaker2-connect",
            SystemOverride::Mirrormaker2ConnectEos => "mirrormaker2-connect-eos",
        }
    }
}

impl std::str::FromStr for SystemOverride {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SystemOverride::parse(s).ok_or_else(|| {
            format!(
                "unknown system `{s}`: expected one of {}",
                SystemOverride::NAMES.join(", ")
            )
        })
    }
}

impl SystemSpec {
    /// A `mirrormaker2` system with every default (`kind = "mirrormaker2"`, `instances`,
    /// `exactly_once`).
    pub fn mirrormaker2(instances: u32, exactly_once: bool) -> SystemSpec {
        SystemSpec::Mirrormaker2 {
            instances,
            exactly_once,
            tasks_max: default_tasks_max(),
            replication_policy: ReplicationPolicy::Default,
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            worker: BTreeMap::new(),
            sync_group_offsets: false,
            emit_checkpoints_interval_secs: None,
            offset_syncs_topic_location: Side::Source,
            properties: BTreeMap::new(),
            config_file: None,
            grace_secs: default_mm2_grace(),
            heap_mb: default_mm2_heap(),
        }
    }

    /// A `connect` system of `instances` workers running the `mirrormaker2` preset, every other
    /// field at its default.
    pub fn connect_mirrormaker2(instances: u32, support: ExactlyOnceSupport) -> SystemSpec {
        SystemSpec::Connect {
            instances,
            connectors: Some(ConnectPreset::Mirrormaker2),
            connector: Vec::new(),
            exactly_once_source_support: support,
            tasks_max: default_tasks_max(),
            worker_properties: BTreeMap::new(),
            plugin_path: Vec::new(),
            grace_secs: default_mm2_grace(),
            heap_mb: default_mm2_heap(),
        }
    }

    /// The system `name` with this one's instance count. Settings of the same kind are kept
    /// (a builtin scenario's tuning, a MirrorMaker 2 scenario's properties); only the mode
    /// changes. Another kind starts from its defaults.
    pub fn overridden(&self, name: SystemOverride) -> SystemSpec {
        let instances = self.instances();
        match name {
            SystemOverride::Builtin | SystemOverride::BuiltinAlo => {
                let mode = if name == SystemOverride::Builtin {
                    "exactly-once"
                } else {
                    "at-least-once"
                };
                let mut spec = match self {
                    SystemSpec::Builtin { .. } => self.clone(),
                    _ => SystemSpec::Builtin {
                        instances,
                        replication: toml::Table::new(),
                        tuning: toml::Table::new(),
                        source_properties: BTreeMap::new(),
                        target_properties: BTreeMap::new(),
                        source_user: None,
                        target_user: None,
                    },
                };
                if let SystemSpec::Builtin { replication, .. } = &mut spec {
                    replication.insert("mode".into(), toml::Value::String(mode.into()));
                }
                spec
            }
            SystemOverride::Mirrormaker2 | SystemOverride::Mirrormaker2Eos => {
                let eos = name == SystemOverride::Mirrormaker2Eos;
                let mut spec = match self {
                    SystemSpec::Mirrormaker2 { .. } => self.clone(),
                    _ => SystemSpec::mirrormaker2(instances, eos),
                };
                if let SystemSpec::Mirrormaker2 { exactly_once, .. } = &mut spec {
                    *exactly_once = eos;
                }
                spec
            }
            SystemOverride::Mirrormaker2Connect | SystemOverride::Mirrormaker2ConnectEos => {
                let support = if name == SystemOverride::Mirrormaker2ConnectEos {
                    ExactlyOnceSupport::Enabled
                } else {
                    ExactlyOnceSupport::Disabled
                };
                let mut spec = match self {
                    SystemSpec::Connect { .. } => self.clone(),
                    _ => SystemSpec::connect_mirrormaker2(instances, support),
                };
                if let SystemSpec::Connect {
                    connectors,
                    exactly_once_source_support,
                    ..
                } = &mut spec
                {
                    *connectors = Some(ConnectPreset::Mirrormaker2);
                    *exactly_once_source_support = support;
                }
                spec
            }
        }
    }
}

/// MirrorMaker 2 with `sync_group_offsets` and no `emit_checkpoints_interval_secs`: the
/// checkpoint, group refresh and group sync intervals cutover sets (seconds).
pub const DEFAULT_GROUP_SYNC_SECS: u64 = 5;

fn one() -> u32 {
    1
}

fn default_grace() -> f64 {
    10.0
}

/// The default `rebalance_proof_secs` of a `command` system.
pub const DEFAULT_REBALANCE_PROOF_SECS: f64 = 90.0;

fn default_rebalance_proof() -> f64 {
    DEFAULT_REBALANCE_PROOF_SECS
}

fn default_group() -> String {
    "cutover-sut".into()
}

impl SystemSpec {
    /// How often the system syncs consumer-group offsets to the target itself (seconds), when
    /// cutover knows: MirrorMaker 2 with `sync_group_offsets`.
    pub fn group_sync_interval_secs(&self) -> Option<u64> {
        self.system().group_sync_interval_secs()
    }

    /// Instances started at the beginning of a run (0 for a `running` system).
    pub fn instances(&self) -> u32 {
        self.system().instances()
    }
}

/// Which cluster a network or broker fault hits (or where MirrorMaker 2 keeps offset syncs).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    #[default]
    Source,
    Target,
}

/// Which way bytes are affected, seen from the clients.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Way {
    /// Client to broker.
    ToBroker,
    /// Broker to client.
    ToClient,
    #[default]
    Both,
}

/// One scheduled fault (unknown keys are refused by the action's kind).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FaultSpec {
    /// Seconds after the workload starts.
    pub at_secs: f64,
    /// How long it lasts (network faults, stalls, stopped brokers); instant when absent.
    #[serde(default)]
    pub duration_secs: Option<f64>,
    #[serde(flatten)]
    pub action: FaultAction,
}

/// What a fault does.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultAction {
    /// Added latency (and jitter) between clients and every broker of a cluster.
    Latency {
        cluster: Side,
        #[serde(default)]
        direction: Way,
        /// Delay added to every chunk, in milliseconds.
        latency_ms: u64,
        /// Each chunk's delay is drawn uniformly from `latency_ms ± jitter_ms`, in
        /// milliseconds, from the scenario's seed.
        #[serde(default)]
        jitter_ms: u64,
    },
    /// A bandwidth limit per connection.
    Bandwidth {
        cluster: Side,
        #[serde(default)]
        direction: Way,
        /// The limit per connection and direction, in bytes per second.
        bytes_per_sec: u64,
    },
    /// Connections stay open, bytes are dropped.
    Blackhole {
        cluster: Side,
        #[serde(default)]
        direction: Way,
    },
    /// Every open connection to the cluster is reset.
    Reset { cluster: Side },
    /// New connections are refused.
    Refuse { cluster: Side },
    /// One more instance of the system under test.
    AddInstance,
    /// The newest (or the given) instance stops gracefully (SIGTERM).
    RemoveInstance {
        /// The instance (counting from 0); the newest when absent.
        #[serde(default)]
        instance: Option<u32>,
    },
    /// SIGSTOP an instance for `duration_secs` (past max.poll.interval.ms), then SIGCONT.
    StallInstance {
        /// The instance, counting from 0.
        #[serde(default)]
        instance: u32,
    },
    /// kill -9 an instance, restarted after `duration_secs` (immediately when absent).
    CrashInstance {
        /// The instance, counting from 0.
        #[serde(default)]
        instance: u32,
    },
    /// Restart a connector of a `connect` system through Connect's REST API
    /// (`POST /connectors/{name}/restart`, KIP-745), proven by the restarted connector's and
    /// tasks' new starts in the workers' logs (`Creating connector`, `Creating task`).
    RestartConnector {
        /// The connector; default the system's first.
        #[serde(default)]
        connector: Option<String>,
        /// Restart its tasks too (`includeTasks=true`); default true.
        #[serde(default = "yes")]
        include_tasks: bool,
    },
    /// Restart one task of a `connect` system's connector
    /// (`POST /connectors/{name}/tasks/{task}/restart`), proven by the task's new start in
    /// the workers' logs.
    RestartTask {
        /// The connector; default the system's first.
        #[serde(default)]
        connector: Option<String>,
        /// The task, counting from 0.
        #[serde(default)]
        task: u32,
    },
    /// Grow a source topic.
    AddPartitions {
        /// The source topic.
        topic: String,
        /// Its new partition count (more than it has).
        partitions: u32,
    },
    /// kill -9 a broker, restarted after `duration_secs` (never when absent).
    KillBroker {
        cluster: Side,
        /// The broker's node id (1 to the cluster's `brokers`).
        node: u32,
    },
    /// Graceful stop of a broker, restarted after `duration_secs` (never when absent).
    StopBroker {
        cluster: Side,
        /// The broker's node id (1 to the cluster's `brokers`).
        node: u32,
    },
    /// Every broker of the cluster stopped and restarted in turn, `duration_secs` apart.
    BounceBrokers { cluster: Side },
    /// Transactions written and aborted on the source.
    AbortedBurst {
        /// The source topic written to.
        topic: String,
        /// Transactions written and aborted.
        #[serde(default = "ten")]
        transactions: u32,
        /// Records in each.
        #[serde(default = "ten")]
        records_per_txn: u32,
    },
    /// A source transaction held open for `duration_secs`, then aborted.
    HangingTransaction {
        /// The source topic written to.
        topic: String,
        /// Its partition.
        #[serde(default)]
        partition: i32,
        /// Records written in the open transaction.
        #[serde(default = "ten")]
        records: u32,
    },
}

fn yes() -> bool {
    true
}

fn ten() -> u32 {
    10
}

pub use crate::faults::verbs::DurationUse;

impl FaultAction {
    /// The verb's `kind` (see `crate::faults::verbs`, where each verb is defined).
    pub fn name(&self) -> &'static str {
        self.verb().name()
    }

    /// What the verb does with `duration_secs`.
    pub fn duration_use(&self) -> DurationUse {
        self.verb().duration_use()
    }
}

/// A stateful Kafka Streams application moved from the source to the target mid-run
/// (`crate::app`): it runs against the source while the workload writes; at the switch it is
/// stopped, the system under test copies its input, output and internal topics and its group
/// offsets, and it starts against the target with the same `application.id` and an empty state
/// directory (its state comes back from the copied changelog). Without `jar`, it is cutover's
/// reference counter (per-key count and sum, a repartition step, a state store,
/// exactly-once), whose every update the run judges against an oracle over the inputs.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The application's name in the report and its logs' file names.
    #[serde(default = "default_app_name")]
    pub name: String,
    /// Its `application.id` on both clusters (its consumer group, and the prefix of its
    /// internal topics). Default: `cutover-app-{name}`.
    #[serde(default)]
    pub application_id: Option<String>,
    /// A user's Streams application (a jar with its dependencies but Kafka's; cutover supplies
    /// the `kafka-streams` jars of the clusters' version, the bootstrap servers and the
    /// security). Default: the reference counter. Its updates are not judged (no oracle);
    /// its downtime and restore time are reported.
    #[serde(default)]
    pub jar: Option<std::path::PathBuf>,
    /// The main class of `jar`; it gets the properties file's path as its only argument.
    #[serde(default)]
    pub main_class: Option<String>,
    /// Input topics, a regex over topic names (default: the workload's topics).
    #[serde(default)]
    pub input: Option<String>,
    /// The output topic (default: `{application_id}-updates`), created on the source with the
    /// first input topic's partition count.
    #[serde(default)]
    pub output: Option<String>,
    /// More Streams properties (`num.stream.threads`, `commit.interval.ms`, ...);
    /// `processing.guarantee` defaults to `exactly_once_v2`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The switch.
    pub switch: SwitchSpec,
}

/// How and when an application moves (`[app.switch]`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    /// `planned`: the application is stopped, the copy drained, its offsets moved, then it
    /// starts on the target. `failover`: the source becomes unreachable for good (the
    /// system's connections to it are blackholed, the application on it is killed, the
    /// workload's producers stop with it); the application starts on the target at once, on
    /// whatever the copy holds.
    #[serde(default)]
    pub mode: SwitchMode,
    /// Seconds after the workload starts (a failover's window opens here).
    pub at_secs: f64,
    /// `failover`: the cut comes at a moment drawn from the run's seed in `[at_secs, at_secs
    /// + window_secs)` (default 0: exactly at `at_secs`).
    #[serde(default)]
    pub window_secs: f64,
    /// How long the switch waits for the system to copy the application's topics and its
    /// group offsets before it gives up (the run then fails as `app-not-moved`).
    #[serde(default = "default_copy_timeout")]
    pub copy_timeout_secs: f64,
    /// Wait for the copy before starting on the target (a switch rehearsed wrong: `false`
    /// starts it at once).
    #[serde(default = "yes")]
    pub wait_for_copy: bool,
    /// Move the application's group offsets to the target (a switch rehearsed wrong: `false`
    /// starts it with none, so it reads its inputs from the beginning). The built-in
    /// replicator also keeps them on the target all along (`sync_groups`), which is all a
    /// failover has: `false` turns that off too.
    #[serde(default = "yes")]
    pub move_offsets: bool,
}

/// The kinds of switch.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchMode {
    #[default]
    Planned,
    Failover,
}

fn default_app_name() -> String {
    "counter".into()
}

fn default_copy_timeout() -> f64 {
    120.0
}

impl AppSpec {
    /// Its `application.id`.
    pub fn application_id(&self) -> String {
        self.application_id
            .clone()
            .unwrap_or_else(|| format!("cutover-app-{}", self.name))
    }

    /// Its output topic.
    pub fn output_topic(&self) -> String {
        self.output
            .clone()
            .unwrap_or_else(|| format!("{}-updates", self.application_id()))
    }

    /// The regex of its input topics.
    pub fn input_regex(&self, workload_topics: &[String]) -> String {
        self.input.clone().unwrap_or_else(|| {
            workload_topics
                .iter()
                .map(|t| regex::escape(t))
                .collect::<Vec<_>>()
                .join("|")
        })
    }

    /// When its switch comes, in seconds on the workload's clock: `at_secs`, or for a
    /// failover with a window, a moment drawn from `seed` (the run's) in the window: the same
    /// seed, the same moment.
    pub fn switch_at_secs(&self, seed: u64) -> f64 {
        let w = &self.switch;
        if w.mode != SwitchMode::Failover || w.window_secs <= 0.0 {
            return w.at_secs;
        }
        // A stream of the seed of its own, apart from the workload's and the proxies'.
        let bits = harness::rng::SplitMix64::derive(seed, 0xFA11_0FE4) >> 11;
        let fraction = bits as f64 / (1u64 << 53) as f64;
        w.at_secs + fraction * w.window_secs
    }

    /// Regexes of the topics the system under test must copy for it: its output, and its
    /// internal topics (`{application.id}-…-changelog`, `-repartition`).
    pub fn topics_to_copy(&self) -> Vec<String> {
        vec![
            regex::escape(&self.output_topic()),
            format!("{}-.*", regex::escape(&self.application_id())),
        ]
    }
}

/// An application consumer group: it consumes the source while the workload runs, commits,
/// and stops at `stop_at_secs`; after the drain its offsets are translated to the target
/// (built-in replicator: `cutover offsets sync`; other systems: their own sync) and the run
/// checks that it would resume on the target exactly where it stopped on the source.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerGroupSpec {
    /// The group id (the same on both clusters).
    pub id: String,
    /// The application's pace (records per second, all partitions); 0: as fast as it can.
    #[serde(default)]
    pub records_per_sec: u64,
    /// Seconds after the workload starts when the application stops (its last commit).
    pub stop_at_secs: f64,
    /// `auto.commit.interval.ms` of the application.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
    /// Re-reads tolerated on the target after the cutover (0 for an exact translation).
    #[serde(default)]
    pub allowed_reread: u64,
    /// This entry stands for `count` groups (default 1): `id` then holds `{n}`, replaced by
    /// 0, 1, … (the seed migration moved hundreds of applications' groups).
    #[serde(default = "one")]
    pub count: u32,
    /// Topics each group reads (default 0: all of the workload's). Group k of the scenario
    /// (counting expanded entries in order) reads `topics` consecutive topics from topic
    /// `k × topics`, wrapping around, as applications each read a few topics.
    #[serde(default)]
    pub topics: u32,
    /// With `count`: the groups stop spread evenly over this many seconds after
    /// `stop_at_secs` (default 0: all at once), as applications are moved one after another.
    #[serde(default)]
    pub stop_spread_secs: f64,
    /// Position of this group among the scenario's groups once expanded (for `topics`).
    #[serde(skip)]
    pub index: usize,
}

impl ConsumerGroupSpec {
    /// The topics this group reads, out of the workload's `all`.
    pub fn topics_of(&self, all: &[String]) -> Vec<String> {
        if self.topics == 0 || all.is_empty() || self.topics as usize >= all.len() {
            return all.to_vec();
        }
        let k = self.topics as usize;
        (0..k)
            .map(|j| all[(self.index * k + j) % all.len()].clone())
            .collect()
    }
}

/// One spec per group: entries with `count` expanded, stop times spread, positions numbered.
fn expand_groups(entries: &[ConsumerGroupSpec]) -> Vec<ConsumerGroupSpec> {
    let mut out = Vec::new();
    for e in entries {
        for n in 0..e.count {
            let mut g = e.clone();
            if e.count > 1 {
                g.id = e.id.replace("{n}", &n.to_string());
                g.stop_at_secs =
                    e.stop_at_secs + e.stop_spread_secs * f64::from(n) / f64::from(e.count - 1);
            }
            g.count = 1;
            g.stop_spread_secs = 0.0;
            g.index = out.len();
            out.push(g);
        }
    }
    out
}

fn default_commit_interval() -> u64 {
    1000
}

/// What a scenario must show (`[expect]`): a pass, or a fail (or an unknown) with exactly these
/// classes (a catalog scenario that demonstrates a defect, such as duplicates from an
/// at-least-once copy across rebalances). Any class the run shows that is not listed, anomaly or
/// run-level, leaves the expectation unmet and the exit non-zero.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// `pass` (default), `fail` or `unknown`.
    #[serde(default)]
    pub outcome: ExpectedOutcome,
    /// For `fail` and `unknown`: exactly the classes the run must show, as a list
    /// (`["duplicated"]`) or as a table with bounds on each count (`{ duplicated = { min = 1 },
    /// not-caught-up = {} }`); a class bounded `min = 0` may show or not (a race the scenario
    /// cannot pin down), any class not listed fails the expectation. Anomaly classes: `lost`, `duplicated`, `leaked-aborted`,
    /// `phantom`, `corrupted`, `reordered`, `moved-partition`, `offset-mismatch`,
    /// `compaction-divergent`, `schema-unresolved`, `schema-mismatch`; run-level classes:
    /// `not-caught-up`, `instance-exited`, `target-topic-missing`, `group-skipped`,
    /// `group-re-read`, `group-misplaced`, `group-untranslated`, `registry-*`,
    /// `fault-not-proven`, `fault-failed`, `process-survived`, `source-lost`, `unverified`,
    /// `checker-failed`, `reprocessed`, `unprocessed`, `state-diverged`, `app-unexplained`,
    /// `app-not-moved`, `torn-transaction` (docs/report-schema.md lists them all).
    #[serde(default)]
    pub classes: ExpectedClasses,
}

/// The classes of an `[expect]`: names, or names with bounds on their counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "a list of class names (`[\"duplicated\"]`) or a table of class name = { min = N, max = N }"
)]
pub enum ExpectedClasses {
    Names(Vec<String>),
    Bounded(BTreeMap<String, ClassBounds>),
}

impl Default for ExpectedClasses {
    fn default() -> Self {
        ExpectedClasses::Names(Vec::new())
    }
}

impl ExpectedClasses {
    /// The class names, in the order written (a table's in name order).
    pub fn names(&self) -> Vec<String> {
        match self {
            ExpectedClasses::Names(v) => v.clone(),
            ExpectedClasses::Bounded(m) => m.keys().cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            ExpectedClasses::Names(v) => v.is_empty(),
            ExpectedClasses::Bounded(m) => m.is_empty(),
        }
    }

    /// The bounds of the table form, by class.
    pub fn bounds(&self) -> BTreeMap<String, reports::CountBounds> {
        match self {
            ExpectedClasses::Names(_) => BTreeMap::new(),
            ExpectedClasses::Bounded(m) => m
                .iter()
                .map(|(c, b)| {
                    (
                        c.clone(),
                        reports::CountBounds {
                            min: b.min,
                            max: b.max,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Bounds on how many of a class the run shows (records, partitions, faults, … as the class
/// counts them), both inclusive.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ClassBounds {
    /// At least this many (default: no lower bound beyond 1, since a listed class must show).
    #[serde(default)]
    pub min: Option<u64>,
    /// At most this many (default: no upper bound).
    #[serde(default)]
    pub max: Option<u64>,
}

/// The outcome a scenario expects.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedOutcome {
    #[default]
    Pass,
    Fail,
    /// The run cannot decide (exit 2 without an `[expect]`): for a scenario that demonstrates
    /// what cutover refuses to call a pass, such as a fault that moved nothing.
    Unknown,
}

impl Default for ExpectSpec {
    fn default() -> Self {
        ExpectSpec {
            outcome: ExpectedOutcome::Pass,
            classes: ExpectedClasses::default(),
        }
    }
}

impl ExpectSpec {
    /// Judges a finished run against this expectation.
    pub fn judge(&self, report: &reports::RunReport) -> reports::Expectation {
        let outcome = match self.outcome {
            ExpectedOutcome::Pass => reports::Outcome::Pass,
            ExpectedOutcome::Fail => reports::Outcome::Fail,
            ExpectedOutcome::Unknown => reports::Outcome::Unknown,
        };
        reports::Expectation::judge(outcome, self.classes.names(), self.classes.bounds(), report)
    }

    /// Checks the class names and bounds; Err is (field, reason).
    fn check(&self) -> Result<(), (String, String)> {
        if self.outcome == ExpectedOutcome::Pass && !self.classes.is_empty() {
            return Err((
                "expect.classes".into(),
                "classes are expected only with outcome = \"fail\" or \"unknown\"".into(),
            ));
        }
        if self.outcome != ExpectedOutcome::Pass && self.classes.is_empty() {
            return Err((
                "expect.classes".into(),
                "name exactly the classes the run must show (a fail or an unknown without them would accept any)".into(),
            ));
        }
        let names = self.classes.names();
        for (i, name) in names.iter().enumerate() {
            let field = match &self.classes {
                ExpectedClasses::Names(_) => format!("expect.classes[{i}]"),
                ExpectedClasses::Bounded(_) => format!("expect.classes.{name}"),
            };
            if reports::Class::parse(name).is_none() {
                return Err((
                    field,
                    format!(
                        "`{name}` is not a class; expected one of: {}",
                        reports::Class::names().join(", ")
                    ),
                ));
            }
            if names[..i].contains(name) {
                return Err((field, format!("`{name}` is listed twice")));
            }
        }
        if let ExpectedClasses::Bounded(m) = &self.classes {
            for (name, b) in m {
                if let (Some(lo), Some(hi)) = (b.min, b.max) {
                    if lo > hi {
                        return Err((
                            format!("expect.classes.{name}.min"),
                            format!("min ({lo}) is above max ({hi})"),
                        ));
                    }
                }
                if b.max == Some(0) {
                    return Err((
                        format!("expect.classes.{name}.max"),
                        "a listed class must show at least once; leave it out to expect none"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Scenario {
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = located::read(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and checks a scenario; errors name the origin, line and field. `[scope]` paths are
    /// relative to the directory of `origin`.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let base = Path::new(origin).parent().unwrap_or(Path::new(""));
        Self::from_toml_in(text, origin, base)
    }

    /// [`Scenario::from_toml`] with `[scope]` paths relative to `base` (a sweep's variant, whose
    /// origin names the settings too).
    pub fn from_toml_in(text: &str, origin: &str, base: &Path) -> Result<Scenario, ScenarioError> {
        // The line of the field's full path from the parser's spans (or of its deepest part
        // that is written: a missing key points at its table).
        let err = |field: &str, reason: String| {
            ScenarioError::from(Located::field(text, origin, field, reason))
        };
        let mut scenario: Scenario = parse_toml(text, origin)?;
        scenario.text = text.to_string();
        scenario.origin = origin.to_string();
        if scenario.source.name.is_empty() {
            scenario.source.name = "source".into();
        }
        if scenario.target.name.is_empty() {
            scenario.target.name = "target".into();
        }
        if let Some(security) = scenario.security {
            for spec in [&mut scenario.source, &mut scenario.target] {
                if spec.security == harness::SecurityProtocol::Plaintext {
                    spec.security = security;
                }
            }
        }
        if let Some(seed) = scenario.run.seed {
            scenario.workload.seed = seed;
        }
        // The workload's own stop conditions are the run's: its duration bounds the workload.
        if scenario.workload.duration_secs.is_none() && scenario.workload.records.is_none() {
            scenario.workload.duration_secs = Some(scenario.run.duration_secs);
        }
        if scenario.scenario.name.trim().is_empty() {
            return Err(err("scenario.name", "must not be empty".into()));
        }
        if !positive(scenario.run.duration_secs) {
            return Err(err(
                "run.duration_secs",
                "expected a positive number of seconds".into(),
            ));
        }
        if !positive(scenario.run.drain_timeout_secs) {
            return Err(err(
                "run.drain_timeout_secs",
                "expected a positive number of seconds".into(),
            ));
        }
        for (side, spec) in [("source", &scenario.source), ("target", &scenario.target)] {
            spec.validate().map_err(|e| err(side, e.to_string()))?;
        }
        scenario.workload.validate().map_err(|e| match e {
            workload::WorkloadError::Spec(e) => err(&format!("workload.{}", e.field), e.reason),
            other => err("workload", other.to_string()),
        })?;
        // [scope]: the workload's topics the namespaces own, before anything names topics.
        let scope = match &scenario.scope {
            Some(spec) => Some(read_scope(spec, text, origin, base)?),
            None => None,
        };
        if let Some(scope) = &scope {
            let all = scenario.workload.topics.names();
            let owned: Vec<String> = all
                .iter()
                .filter(|t| scope.owns_topic(t))
                .cloned()
                .collect();
            if owned.is_empty() {
                return Err(err(
                    "scope.namespaces",
                    format!(
                        "{} own none of the workload's topics ({}): nothing would run",
                        scope.namespaces.join(", "),
                        all.join(", ")
                    ),
                ));
            }
            scenario.workload.topics.names = owned;
            scenario.workload.topics.count = None;
        }
        // The system's own checks (crate::system): instances, its fields, its config.
        scenario
            .system
            .system()
            .check(&scenario)
            .map_err(|(field, reason)| err(&field, reason))?;
        for (i, g) in scenario.consumer_groups.iter().enumerate() {
            let field = format!("consumer_group[{i}]");
            if g.id.trim().is_empty() {
                return Err(err(&format!("{field}.id"), "must not be empty".into()));
            }
            if !positive(g.stop_at_secs) || g.stop_at_secs > scenario.run.duration_secs {
                return Err(err(
                    &format!("{field}.stop_at_secs"),
                    format!(
                        "expected a time within the workload (0 < stop_at_secs <= run.duration_secs = {}), found {}",
                        scenario.run.duration_secs, g.stop_at_secs
                    ),
                ));
            }
            if g.count == 0 || (g.count > 1 && !g.id.contains("{n}")) {
                return Err(err(
                    &format!("{field}.count"),
                    format!(
                        "expected count >= 1, and an id holding {{n}} when count > 1 (found count {} and id {:?})",
                        g.count, g.id
                    ),
                ));
            }
            let last_stop = g.stop_at_secs + g.stop_spread_secs;
            if g.stop_spread_secs < 0.0 || last_stop > scenario.run.duration_secs {
                return Err(err(
                    &format!("{field}.stop_spread_secs"),
                    format!(
                        "expected 0 <= stop_spread_secs and stop_at_secs + stop_spread_secs <= run.duration_secs = {}, found {}",
                        scenario.run.duration_secs, g.stop_spread_secs
                    ),
                ));
            }
        }
        if !scenario.apps.is_empty()
            && scenario.system.system().rename() != verify::Rename::default()
        {
            return Err(err(
                "app",
                "an application moves to the target only when its topics keep their names there; this system renames them (use an identity rename: the built-in replicator's default, MirrorMaker 2's `replication_policy = \"identity\"`)".into(),
            ));
        }
        let mut app_ids = std::collections::BTreeSet::new();
        for (i, a) in scenario.apps.iter().enumerate() {
            let field = format!("app[{i}]");
            if a.name.trim().is_empty() || a.name.contains(['/', ' ']) {
                return Err(err(
                    &format!("{field}.name"),
                    format!("expected a name without spaces or '/', found {:?}", a.name),
                ));
            }
            if !app_ids.insert(a.application_id()) {
                return Err(err(
                    &format!("{field}.application_id"),
                    format!("application.id {:?} is used twice", a.application_id()),
                ));
            }
            if a.jar.is_some() != a.main_class.is_some() {
                return Err(err(
                    &format!("{field}.main_class"),
                    "expected `jar` and `main_class` together (or neither, for the reference counter)".into(),
                ));
            }
            if let Some(re) = &a.input {
                if let Err(e) = regex::Regex::new(re) {
                    return Err(err(&format!("{field}.input"), format!("not a regex: {e}")));
                }
            }
            if !positive(a.switch.at_secs) || a.switch.at_secs >= scenario.run.duration_secs {
                return Err(err(
                    &format!("{field}.switch.at_secs"),
                    format!(
                        "expected a time within the workload (0 < at_secs < run.duration_secs = {}), found {}",
                        scenario.run.duration_secs, a.switch.at_secs
                    ),
                ));
            }
            if !positive(a.switch.copy_timeout_secs) {
                return Err(err(
                    &format!("{field}.switch.copy_timeout_secs"),
                    "expected a positive number of seconds".into(),
                ));
            }
            let window = a.switch.window_secs;
            if !(window == 0.0 || positive(window))
                || a.switch.at_secs + window >= scenario.run.duration_secs
            {
                return Err(err(
                    &format!("{field}.switch.window_secs"),
                    format!(
                        "expected 0 or more seconds with at_secs + window_secs < run.duration_secs = {}, found {window}",
                        scenario.run.duration_secs
                    ),
                ));
            }
            if window > 0.0 && a.switch.mode != SwitchMode::Failover {
                return Err(err(
                    &format!("{field}.switch.window_secs"),
                    "a window is for `mode = \"failover\"` (a planned switch comes at at_secs)"
                        .into(),
                ));
            }
        }
        if scenario
            .apps
            .iter()
            .filter(|a| a.switch.mode == SwitchMode::Failover)
            .count()
            > 1
        {
            return Err(err(
                "app",
                "expected at most one application with `mode = \"failover\"`: the source is cut once".into(),
            ));
        }
        scenario.consumer_groups = expand_groups(&scenario.consumer_groups);
        let mut seen = std::collections::BTreeSet::new();
        for g in &scenario.consumer_groups {
            if !seen.insert(g.id.as_str()) {
                return Err(err(
                    "consumer_group",
                    format!("group {:?} is listed twice", g.id),
                ));
            }
        }
        // [scope]: only the groups the namespaces own, numbered again (their topics are
        // chosen among the scope's).
        if let Some(scope) = &scope {
            scenario.consumer_groups.retain(|g| scope.owns_group(&g.id));
            for (i, g) in scenario.consumer_groups.iter_mut().enumerate() {
                g.index = i;
            }
        }
        let added: u32 = scenario
            .faults
            .iter()
            .map(|f| f.action.verb().adds_instances())
            .sum();
        let max_instances = scenario.system.instances() + added;
        let workload_topics = scenario.workload.topics.names();
        for (i, f) in scenario.faults.iter().enumerate() {
            let field = format!("fault[{i}]");
            if !(positive(f.at_secs) || f.at_secs == 0.0) || f.at_secs > scenario.run.duration_secs
            {
                return Err(err(
                    &format!("{field}.at_secs"),
                    format!(
                        "expected 0 to run.duration_secs ({}), found {}",
                        scenario.run.duration_secs, f.at_secs
                    ),
                ));
            }
            if let Some(d) = f.duration_secs {
                if !positive(d) {
                    return Err(err(
                        &format!("{field}.duration_secs"),
                        "expected a positive number of seconds".into(),
                    ));
                }
            }
            match (f.action.duration_use(), f.duration_secs) {
                (DurationUse::Required, None) => {
                    return Err(err(
                        &format!("{field}.duration_secs"),
                        format!("a {} fault needs a duration", f.action.name()),
                    ));
                }
                (DurationUse::Unused, Some(_)) => {
                    return Err(err(
                        &format!("{field}.duration_secs"),
                        format!(
                            "a {} fault is instant and does not use a duration; remove it",
                            f.action.name()
                        ),
                    ));
                }
                _ => {}
            }
            // The verb's own checks (crate::faults::verbs).
            f.action
                .verb()
                .check(&crate::faults::verbs::VerbCheck {
                    scenario: &scenario,
                    at_secs: f.at_secs,
                    max_instances,
                    workload_topics: &workload_topics,
                })
                .map_err(|(name, reason)| err(&format!("{field}.{name}"), reason))?;
        }
        if let Some(expect) = &scenario.expect {
            expect
                .check()
                .map_err(|(field, reason)| err(&field, reason))?;
        }
        Ok(scenario)
    }

    /// Puts the system `name` under this scenario (`cutover run --system`): same instance
    /// count, same fault schedule, same workload and promises.
    pub fn with_system(&mut self, name: SystemOverride) {
        self.system = self.system.overridden(name);
        self.expect = None;
        // MirrorMaker 2 moves application groups only through its own offset sync.
        if !self.consumer_groups.is_empty() || !self.apps.is_empty() {
            if let SystemSpec::Mirrormaker2 {
                sync_group_offsets,
                config_file: None,
                ..
            } = &mut self.system
            {
                *sync_group_offsets = true;
            }
        }
        // A moved application finds its topics on the target under their own names.
        if !self.apps.is_empty() {
            if let SystemSpec::Mirrormaker2 {
                replication_policy,
                config_file: None,
                ..
            } = &mut self.system
            {
                *replication_policy = ReplicationPolicy::Identity;
            }
        }
    }

    /// The seed of `side`'s proxy jitter: a stream of the scenario's seed (`run.seed`, else
    /// the workload's), so a run with the same seed draws the same network delays.
    pub fn proxy_seed(&self, side: Side) -> u64 {
        let stream = match side {
            Side::Source => 1,
            Side::Target => 2,
        };
        harness::rng::SplitMix64::derive(self.workload.seed, stream)
    }

    /// True when any fault needs the per-broker proxies of `side`.
    pub fn needs_proxies(&self, side: Side) -> bool {
        self.faults
            .iter()
            .any(|f| f.action.verb().proxies() == Some(side))
            // A failover cuts the system off the source on its proxies.
            || (side == Side::Source
                && self
                    .apps
                    .iter()
                    .any(|a| a.switch.mode == SwitchMode::Failover))
    }
}

/// True for a positive number (false for NaN).
fn positive(x: f64) -> bool {
    x > 0.0
}

/// Deserializes a TOML file; a syntax or schema error names the origin and line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, ScenarioError> {
    Ok(located::parse_toml(text, origin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_jitter_is_seeded_by_the_scenario() {
        let text = |seed: u64| {
            format!(
                "[scenario]\nname = \"t\"\n[run]\nduration_secs = 5\nseed = {seed}\n[workload.topics]\ncount = 1\n[system]\nkind = \"running\"\n"
            )
        };
        let a = Scenario::from_toml(&text(7), "a.toml").unwrap();
        let b = Scenario::from_toml(&text(7), "b.toml").unwrap();
        let c = Scenario::from_toml(&text(8), "c.toml").unwrap();
        assert_eq!(a.proxy_seed(Side::Source), b.proxy_seed(Side::Source));
        assert_ne!(a.proxy_seed(Side::Source), a.proxy_seed(Side::Target));
        assert_ne!(a.proxy_seed(Side::Source), c.proxy_seed(Side::Source));
    }
}
