//! # The system under test, as one seam
//!
//! Everything the run asks of a system under test is a method of [`SystemUnderTest`]; the
//! runner (`crate::runner`) calls only these and never asks which kind of system it runs.
//! [`SystemSpec::system`] is the one place that turns a scenario's `[system]` table into one:
//!
//! | kind | file | what it is |
//! | --- | --- | --- |
//! | `builtin` | [`builtin`] | `cutover replicate` instances, their `/metrics` (lag, assigned partitions, the last scrape kept with the report), the consumer-group move by `cutover offsets sync` |
//! | `mirrormaker2` | [`mirrormaker2`] | Apache Kafka's MirrorMaker 2 in dedicated mode: `mm2.properties`, target topic names from the replication policy, readiness from Connect's status topic |
//! | `command` | [`command`] | any program, told the clusters through `CUTOVER_*` variables |
//! | `running` | [`running`] | replication running outside cutover: nothing started |
//! | `connect` | [`connect`] | a Kafka Connect cluster (workers = instances) and the connectors deployed on it through REST; its group's generations, leader and task starts from the workers' logs |
//!
//! Shared by all of them: [`instances`] (each instance a supervised process group, its
//! signals, its survivors; `Launcher` and `Instances`).
//!
//! Adding a system: a variant of [`SystemSpec`] (the TOML format), its arm in
//! [`SystemSpec::system`], and one file here implementing [`SystemUnderTest`].

pub mod builtin;
pub mod command;
pub mod connect;
pub mod instances;
pub mod mirrormaker2;
pub mod running;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::Cluster;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::error::ScenarioError;
use crate::runner::{Progress, RunOptions};
use crate::spec::{ConsumerGroupSpec, Scenario, SystemSpec};

pub use builtin::builtin_config;
pub use instances::{
    launch, properties_text, write_private, Instance, Instances, Launcher, Survivor, PROCESS_MARK,
};
pub use mirrormaker2::Mm2Launch;

/// What a system is given to prepare itself, once the clusters run and before its instances
/// start.
pub struct Setup<'a> {
    pub scenario: &'a Scenario,
    pub options: &'a RunOptions,
    pub source: &'a Arc<dyn Cluster>,
    pub target: &'a Arc<dyn Cluster>,
    /// The workload's source topics.
    pub topics: &'a [String],
    /// Private dir (0700, removed after the run) for configs that hold secrets; the report
    /// dir (`options.report_dir`) gets redacted copies.
    pub secrets_dir: &'a Path,
    /// The client properties the system connects with (see [`SystemUnderTest::users`]).
    pub source_props: &'a harness::ClientProps,
    pub target_props: &'a harness::ClientProps,
    /// The run's schema registries, when it has some.
    pub registries: Option<&'a crate::registries::ScenarioRegistries>,
}

/// What a system's readiness wait is given.
pub struct Ready<'a> {
    pub options: &'a RunOptions,
    /// When the run began (progress times count from here).
    pub started: Instant,
    pub source: &'a Arc<dyn Cluster>,
    pub target: &'a Arc<dyn Cluster>,
    pub topics: &'a [String],
}

impl Ready<'_> {
    /// Shows the `start` phase and returns the source topics' partitions (at least 1): what a
    /// system that waits until it copies waits for.
    pub fn begin(&self) -> u32 {
        (self.options.progress)(Progress {
            phase: "start",
            elapsed_secs: self.started.elapsed().as_secs_f64(),
            source_records: 0,
            target_records: 0,
            lag_records: None,
        });
        source_partitions(self.source, self.topics).max(1)
    }
}

/// Partitions of the source topics (0 when the metadata cannot be read).
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

/// The group a system's instances form (a Connect cluster's), as the system tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// The latest generation any member joined.
    pub generation: u32,
    /// The instances in it.
    pub members: Vec<u32>,
    /// The instance that led it (None when its leader is not one cutover knows).
    pub leader: Option<u32>,
    /// The latest generation each instance ever joined (a stopped one's too).
    pub joined: BTreeMap<u32, u32>,
}

/// The consumer group a system's instances consume the source in, as the system names it
/// (a `command`'s `CUTOVER_GROUP_ID`): the instance faults read it on the source to prove an
/// added instance joined and took partitions, and a removed one's partitions moved.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceGroup {
    /// The group id.
    pub name: String,
    /// How long a joining member may take to be given partitions, and a leaving one's
    /// partitions to be held again by the others.
    pub bound: Duration,
}

/// A system under test: what `cutover run` asks of it, phase by phase. Defaults are those of
/// a system that tells cutover nothing (no lag, no metrics, no group sync of its own).
#[async_trait]
pub trait SystemUnderTest: Send + Sync {
    /// The report's `system` line, e.g. `builtin (exactly-once)`; secrets redacted.
    fn name(&self) -> String;

    /// Instances started at the beginning of the run (0: the system runs outside cutover).
    fn instances(&self) -> u32;

    /// The system's part of a scenario's checks, without any I/O: Err is (field from the
    /// scenario's root, e.g. `system.tasks_max`, and the reason); the caller adds file:line.
    fn check(&self, scenario: &Scenario) -> Result<(), (String, String)>;

    /// The SASL users it connects to (source, target) as; None: the cluster's own client
    /// properties (the harness's super user on a secured cluster).
    fn users(&self) -> (Option<&str>, Option<&str>) {
        (None, None)
    }

    /// Writes the configs it runs with (private in `setup.secrets_dir`, a redacted copy in the
    /// report dir) and fetches what it needs, before any instance starts.
    async fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), ScenarioError> {
        let _ = setup;
        Ok(())
    }

    /// How it names target topics (the sampler, the drain and the checker need it); valid
    /// after [`SystemUnderTest::prepare`].
    fn rename(&self) -> verify::Rename;

    /// The command of instance `index` (spawned by [`Instances`] as the leader of its own
    /// process group, with the `CUTOVER_*` environment), and its metrics port if it has one.
    fn command(
        &self,
        index: u32,
        launcher: &Launcher,
    ) -> Result<(Command, Option<u16>), ScenarioError>;

    /// How long a stopped instance has between SIGTERM and SIGKILL. Default 60 s.
    fn grace(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// Waits until the freshly launched instances copy (the workload and the faults start
    /// then). A system that is slow to be ready says so in the log and the run goes on; Err
    /// is for a wait that could not be done at all. Default: no wait.
    async fn wait_ready(
        &self,
        instances: &mut Instances,
        ready: &Ready<'_>,
    ) -> Result<(), ScenarioError> {
        let _ = (instances, ready);
        Ok(())
    }

    /// Its own lag in records, summed over its instances, for the progress line; None when it
    /// reports none.
    fn lag_records(&self, instances: &Mutex<Instances>) -> Option<u64> {
        let _ = instances;
        None
    }

    /// For the drain: Some(true) when every instance reports itself caught up, Some(false)
    /// when one does not (or does not answer); None for a system that reports no lag.
    fn reports_no_lag(&self, instances: &Mutex<Instances>) -> Option<bool> {
        let _ = instances;
        None
    }

    /// What each instance still reports as lag, for a drain that timed out.
    fn lag_diagnosis(&self, instances: &Mutex<Instances>) -> Vec<String> {
        let _ = instances;
        Vec::new()
    }

    /// Moves the application groups' offsets to the target itself, after the drain: per
    /// group, how it was translated. None: the system syncs offsets on its own schedule (or
    /// not at all), which the group check waits for.
    async fn sync_groups(
        &self,
        groups: &[ConsumerGroupSpec],
        options: &RunOptions,
    ) -> Result<Option<BTreeMap<String, String>>, ScenarioError> {
        let _ = (groups, options);
        Ok(None)
    }

    /// How often it syncs consumer-group offsets itself, in seconds, when cutover knows.
    fn group_sync_interval_secs(&self) -> Option<u64> {
        None
    }

    /// True when it copies schemas between registries itself; otherwise cutover merges the
    /// registries beside it before verifying.
    fn copies_schemas(&self) -> bool {
        false
    }

    /// Files of its last state kept with the report (the built-in replicator's last
    /// `/metrics`), saved just before its instances stop.
    fn save_last(&self, instances: &Instances, dir: &Path) -> Vec<PathBuf> {
        let _ = (instances, dir);
        Vec::new()
    }

    /// The system's own group rebalances during the run, as the system itself tells them (its
    /// logs or metrics), with times in seconds since `workload_started`; called once every
    /// instance has stopped (their logs are complete). None when it reports none.
    fn rebalances(
        &self,
        instances: &Instances,
        workload_started: Option<std::time::SystemTime>,
    ) -> Option<reports::Rebalances> {
        let _ = (instances, workload_started);
        None
    }

    /// What [`SystemUnderTest::assigned_partitions`] counts and where it reads it, for the
    /// proofs' words. Default: the built-in replicator's gauge.
    fn assigned_unit(&self) -> (&'static str, &'static str) {
        (
            "partitions",
            "its assigned_partitions and waiting_partitions gauges",
        )
    }

    /// Its instances' group (a Connect cluster's generation, members and leader), read from
    /// the system itself; None when it tells none. Blocking (logs, REST).
    fn group_state(&self, instances: &Instances) -> Option<GroupState> {
        let _ = instances;
        None
    }

    /// The connectors it deploys on a Kafka Connect cluster, by name (the restart verbs act
    /// on them); empty for a system that runs none.
    fn connectors(&self) -> Vec<String> {
        Vec::new()
    }

    /// The base URL of a Connect REST API that answers for its cluster (a running worker's).
    fn rest_url(&self, instances: &Instances) -> Option<String> {
        let _ = instances;
        None
    }

    /// How many times each connector (`connector NAME`) and task (`task NAME-N`) was started,
    /// as its workers' logs tell: a restart's proof. Empty when it tells none.
    fn starts(&self, instances: &Instances) -> BTreeMap<String, u32> {
        let _ = instances;
        BTreeMap::new()
    }

    /// The consumer group its instances consume the source in, when it names one (None: it
    /// tells its group another way, or has none). Read on the source through cutover's admin
    /// (the group's coordinator describes its members and their assignments), it proves
    /// add-instance and remove-instance.
    fn source_group(&self) -> Option<SourceGroup> {
        None
    }

    /// Partitions an instance holds by its own account (read from its metrics port;
    /// blocking, a few seconds at most): the proof of an added or removed instance. None when
    /// it does not answer or the system reports none.
    fn assigned_partitions(&self, metrics_port: u16) -> Option<f64> {
        let _ = metrics_port;
        None
    }

    /// Partitions an instance owns, copying or not yet: what a removal must see move. A system
    /// that adopts what it is given at once owns what it copies (the default); the built-in
    /// replicator also owns the partitions of slots it was assigned and has not started yet.
    fn owned_partitions(&self, metrics_port: u16) -> Option<f64> {
        self.assigned_partitions(metrics_port)
    }
}

impl SystemSpec {
    /// The system this `[system]` table describes: the one place that asks which kind it is.
    pub fn system(&self) -> Box<dyn SystemUnderTest> {
        match self {
            SystemSpec::Builtin { .. } => Box::new(builtin::Builtin::new(self.clone())),
            SystemSpec::Command {
                command,
                instances,
                grace_secs,
                group_id,
                rebalance_proof_secs,
                env,
                rename_prefix,
            } => Box::new(command::CommandSystem {
                command: command.clone(),
                instances: *instances,
                grace_secs: *grace_secs,
                group_id: group_id.clone(),
                rebalance_proof_secs: *rebalance_proof_secs,
                env: env.clone(),
                rename_prefix: rename_prefix.clone(),
            }),
            SystemSpec::Mirrormaker2 { .. } => {
                Box::new(mirrormaker2::Mirrormaker2::new(self.clone()))
            }
            SystemSpec::Connect { .. } => Box::new(connect::Connect::new(self.clone())),
            SystemSpec::Running { rename_prefix } => Box::new(running::Running {
                rename_prefix: rename_prefix.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(system: &str) -> SystemSpec {
        let text =
            format!("[scenario]\nname = \"t\"\n[workload.topics]\ncount = 1\n[system]\n{system}\n");
        Scenario::from_toml(&text, "t.toml").unwrap().system
    }

    #[test]
    fn each_kind_answers_for_itself() {
        let builtin = parsed(
            "kind = \"builtin\"\ninstances = 2\n[system.replication]\nmode = \"at-least-once\"\nrename = { prefix = \"copy.\" }",
        )
        .system();
        assert_eq!(builtin.name(), "builtin (at-least-once)");
        assert_eq!(builtin.instances(), 2);
        assert_eq!(builtin.rename().target_of("a"), "copy.a");
        assert!(builtin.copies_schemas());
        assert_eq!(builtin.group_sync_interval_secs(), None);

        let command = parsed(
            "kind = \"command\"\ncommand = [\"./copy.sh\", \"--password\", \"hunter2\"]\ngrace_secs = 3\nrename_prefix = \"x.\"",
        )
        .system();
        assert_eq!(command.name(), "command (./copy.sh --password [redacted])");
        assert_eq!(command.grace(), Duration::from_secs(3));
        assert_eq!(command.rename().target_of("a"), "x.a");
        assert!(!command.copies_schemas());
        assert_eq!(
            command.source_group(),
            Some(SourceGroup {
                name: "cutover-sut".into(),
                bound: Duration::from_secs(90)
            })
        );
        assert_eq!(builtin.source_group(), None);

        let mm2 = parsed("kind = \"mirrormaker2\"\nexactly_once = true\nsync_group_offsets = true")
            .system();
        assert_eq!(mm2.name(), "mirrormaker2 (exactly-once)");
        assert_eq!(mm2.grace(), Duration::from_secs(30));
        assert_eq!(
            mm2.group_sync_interval_secs(),
            Some(crate::spec::DEFAULT_GROUP_SYNC_SECS)
        );
        assert!(!mm2.copies_schemas());

        let running = parsed("kind = \"running\"\nrename_prefix = \"source.\"").system();
        assert_eq!(running.name(), "running outside cutover");
        assert_eq!(running.instances(), 0);
        assert_eq!(running.rename().target_of("a"), "source.a");
    }

    #[test]
    fn mirrormaker2_on_connect_overrides_any_system_keeping_its_instances() {
        use crate::spec::SystemOverride;
        for name in SystemOverride::NAMES {
            assert_eq!(
                SystemOverride::parse(name).map(SystemOverride::name),
                Some(name)
            );
        }
        let base = parsed("kind = \"builtin\"\ninstances = 2");
        let off = base
            .overridden(SystemOverride::Mirrormaker2Connect)
            .system();
        assert_eq!(
            off.name(),
            "connect (MirrorMaker 2 connectors, exactly-once off)"
        );
        assert_eq!(off.instances(), 2);
        assert_eq!(off.connectors(), ["mirror-source"]);
        let on = base
            .overridden(SystemOverride::Mirrormaker2ConnectEos)
            .system();
        assert_eq!(
            on.name(),
            "connect (MirrorMaker 2 connectors, exactly-once source support)"
        );
        // A connect system keeps its own settings; only the preset and the mode change.
        let own = parsed(
            "kind = \"connect\"\ninstances = 4\nheap_mb = 300\n[[system.connector]]\nname = \"x\"\nclass = \"a.B\"",
        )
        .overridden(SystemOverride::Mirrormaker2ConnectEos);
        let crate::spec::SystemSpec::Connect {
            instances,
            heap_mb,
            connector,
            connectors,
            ..
        } = &own
        else {
            panic!("not connect: {own:?}");
        };
        assert_eq!((*instances, *heap_mb, connector.len()), (4, 300, 1));
        assert_eq!(*connectors, Some(crate::spec::ConnectPreset::Mirrormaker2));
        assert_eq!(own.system().connectors(), ["mirror-source", "x"]);
        assert_eq!(own.system().assigned_unit().0, "tasks");
    }

    #[test]
    fn a_system_that_is_not_prepared_refuses_to_launch() {
        let dir = tempfile::tempdir().unwrap();
        for system in [
            "kind = \"builtin\"",
            "kind = \"mirrormaker2\"",
            "kind = \"running\"",
            "kind = \"connect\"\nconnectors = \"mirrormaker2\"",
        ] {
            let launcher = Launcher::new(
                parsed(system).system().into(),
                dir.path(),
                "127.0.0.1:1".into(),
                "127.0.0.1:2".into(),
                vec!["t".into()],
            );
            let err = launch(launcher, 1).err().map(|e| e.to_string());
            assert!(err.is_some(), "{system} started unprepared");
        }
    }
}
