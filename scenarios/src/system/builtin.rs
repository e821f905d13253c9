//! `kind = "builtin"`: cutover's own replicator as the system under test. Each instance is
//! `cutover replicate --config replicator.toml --metrics-addr 127.0.0.1:PORT`; the config is
//! the scenario's `replication`/`tuning` tables with the clusters filled in ([`builtin_config`],
//! checked by the replicator's own loader, also when the scenario is checked).
//!
//! What cutover reads of it, all from each instance's Prometheus `/metrics` (names in
//! `replicator::metrics::names`): readiness (every source partition assigned, none waiting),
//! its lag for the progress line and the drain, what still lags when the drain times out, the
//! partitions an instance holds (the proof of an added or removed instance), and the last
//! scrape per instance kept with the report (`metrics-instance-N.prom`, Prometheus text: the
//! counters and gauges the run ended with, for reading beside `instance-N.log` or loading
//! into a Prometheus tool). Application consumer groups move with one `cutover offsets sync`
//! child after the drain (its output in `offsets-sync.log`). Its slot group's rebalances come
//! from the instances' own logs ([`slot_log`]).

pub mod slot_log;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use replicator::metrics::names;
use workload::WorkloadSpec;

use super::{Instances, Launcher, Ready, Setup, SystemUnderTest};
use crate::error::ScenarioError;
use crate::runner::RunOptions;
use crate::spec::{ConsumerGroupSpec, Scenario, SystemSpec};

/// How long the workload waits for the built-in replicator's instances to copy every
/// partition (a scenario whose system cannot start goes on after this).
const BUILTIN_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The built-in replicator (`[system] kind = "builtin"`).
pub struct Builtin {
    /// The `[system]` table (a `Builtin`).
    spec: SystemSpec,
    /// Where `replicator.toml` was written ([`SystemUnderTest::prepare`]).
    config_path: Option<PathBuf>,
}

impl Builtin {
    /// The system of a `builtin` table; prepare it before launching.
    pub fn new(spec: SystemSpec) -> Builtin {
        Builtin {
            spec,
            config_path: None,
        }
    }

    /// A builtin system whose config is already written at `config_path`, ready to launch
    /// (the replication bench starts it this way, without a run).
    pub fn prepared(spec: SystemSpec, config_path: PathBuf) -> Arc<dyn SystemUnderTest> {
        Arc::new(Builtin {
            spec,
            config_path: Some(config_path),
        })
    }

    /// The `[replication]` table.
    fn replication(&self) -> Option<&toml::Table> {
        match &self.spec {
            SystemSpec::Builtin { replication, .. } => Some(replication),
            _ => None,
        }
    }
}

#[async_trait]
impl SystemUnderTest for Builtin {
    fn name(&self) -> String {
        format!(
            "builtin ({})",
            self.replication()
                .and_then(|r| r.get("mode"))
                .and_then(|m| m.as_str())
                .unwrap_or("exactly-once")
        )
    }

    fn instances(&self) -> u32 {
        match &self.spec {
            SystemSpec::Builtin { instances, .. } => *instances,
            _ => 0,
        }
    }

    fn check(&self, scenario: &Scenario) -> Result<(), (String, String)> {
        if self.instances() == 0 {
            return Err(("system.instances".into(), "expected at least 1".into()));
        }
        // The replicator's own checks, on the config the run will write.
        builtin_config(
            &self.spec,
            &harness::ClientProps::bootstrap("127.0.0.1:1"),
            &harness::ClientProps::bootstrap("127.0.0.1:2"),
            &scenario.workload,
            &crate::app::topics_to_copy(scenario),
            &crate::app::groups_to_sync(scenario),
        )
        .map(|_| ())
        .map_err(|e| match e {
            ScenarioError::Spec(e) => (e.field, e.reason),
            other => ("system".into(), other.to_string()),
        })
    }

    fn users(&self) -> (Option<&str>, Option<&str>) {
        match &self.spec {
            SystemSpec::Builtin {
                source_user,
                target_user,
                ..
            } => (source_user.as_deref(), target_user.as_deref()),
            _ => (None, None),
        }
    }

    /// `replicator.toml` (with the registries' table when the run has registries), private,
    /// and its redacted copy in the report dir.
    async fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), ScenarioError> {
        let mut text = builtin_config(
            &self.spec,
            setup.source_props,
            setup.target_props,
            &setup.scenario.workload,
            &crate::app::topics_to_copy(setup.scenario),
            &crate::app::groups_to_sync(setup.scenario),
        )?;
        if let Some(r) = setup.registries {
            text.push_str(&r.replicator_toml());
        }
        let path = setup.secrets_dir.join("replicator.toml");
        super::write_private(&path, &text)?;
        let shown = setup.options.report_dir.join("replicator.toml");
        std::fs::write(&shown, reports::redact::redact_toml(&text))
            .map_err(ScenarioError::io(format!("writing {}", shown.display())))?;
        self.config_path = Some(path);
        Ok(())
    }

    fn rename(&self) -> verify::Rename {
        // The replicator's `[replication.rename]` is the checker's type (checked with the spec).
        self.replication()
            .and_then(|r| r.get("rename"))
            .and_then(|v| v.clone().try_into::<verify::Rename>().ok())
            .unwrap_or_default()
    }

    fn command(&self, _index: u32, l: &Launcher) -> Result<(Command, Option<u16>), ScenarioError> {
        let port = free_port()?;
        let mut c = Command::new(&l.cutover_exe);
        c.arg("replicate").arg("--config");
        c.arg(
            self.config_path
                .as_ref()
                .ok_or_else(|| ScenarioError::System("no config written".into()))?,
        );
        c.args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
        // CUTOVER_SYSTEM_LOG (an EnvFilter, e.g. `info,replicator=debug`) raises the
        // instances' log level for a diagnosis. (A `librdkafka=…` directive, the earlier
        // default, silently dropped some of the replicator's own info and warn lines, its
        // "replicating" line among them; librdkafka's lines arrive under `rdkafka`.)
        let level =
            std::env::var("CUTOVER_SYSTEM_LOG").unwrap_or_else(|_| "info,rdkafka=warn".into());
        c.env("CUTOVER_LOG", level).env("NO_COLOR", "1");
        Ok((c, Some(port)))
    }

    /// As for MirrorMaker 2: the workload starts once the system copies, so the delay probe
    /// times replication, not the instances' start (a group join and `init_transactions`,
    /// seconds on a busy machine; docs/tuning.md, "Latency").
    async fn wait_ready(
        &self,
        instances: &mut Instances,
        ready: &Ready<'_>,
    ) -> Result<(), ScenarioError> {
        let partitions = ready.begin();
        let waited = Instant::now();
        match wait_until_copying(instances, partitions, BUILTIN_START_TIMEOUT, ready.options)
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
        Ok(())
    }

    /// The sum of every answering instance's lag gauge; None when none answers.
    fn lag_records(&self, instances: &Mutex<Instances>) -> Option<u64> {
        // The lock is not held while scraping (the faults use the instances meanwhile).
        let ports = lock(instances).metrics_ports();
        let sums: Vec<f64> = ports
            .iter()
            .filter_map(|p| metric_sum(*p, names::LAG_RECORDS))
            .collect();
        (!sums.is_empty()).then(|| sums.iter().sum::<f64>().max(0.0) as u64)
    }

    fn reports_no_lag(&self, instances: &Mutex<Instances>) -> Option<bool> {
        Some(no_lag(&lock(instances)))
    }

    fn lag_diagnosis(&self, instances: &Mutex<Instances>) -> Vec<String> {
        lag_diagnosis(&lock(instances))
    }

    /// Every group in one `cutover offsets sync` (None when no config was written).
    async fn sync_groups(
        &self,
        groups: &[ConsumerGroupSpec],
        options: &RunOptions,
    ) -> Result<Option<BTreeMap<String, String>>, ScenarioError> {
        match &self.config_path {
            Some(config) => Ok(Some(sync_groups(groups, options, config).await?)),
            None => Ok(None),
        }
    }

    /// The replicator copies schemas itself (`[registries]` in its config).
    fn copies_schemas(&self) -> bool {
        true
    }

    fn save_last(&self, instances: &Instances, dir: &Path) -> Vec<PathBuf> {
        save_last(instances, dir)
    }

    fn assigned_partitions(&self, metrics_port: u16) -> Option<f64> {
        metric_sum(metrics_port, names::ASSIGNED_PARTITIONS)
    }

    /// Copying (`assigned_partitions`) plus waiting to be adopted (`waiting_partitions`: the
    /// partitions of slots assigned whose writers have not started).
    fn owned_partitions(&self, metrics_port: u16) -> Option<f64> {
        let copying = metric_sum(metrics_port, names::ASSIGNED_PARTITIONS)?;
        let waiting = metric_sum(metrics_port, names::WAITING_PARTITIONS).unwrap_or(0.0);
        Some(copying + waiting)
    }

    /// The slot group's rebalances from every instance's log, restarts included
    /// ([`slot_log`]); a log that cannot be read is left out with a warning.
    fn rebalances(
        &self,
        instances: &Instances,
        workload_started: Option<std::time::SystemTime>,
    ) -> Option<reports::Rebalances> {
        let mut all = Vec::new();
        for path in instances.logs() {
            let Some(index) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix("instance-"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            match std::fs::read(&path) {
                Ok(bytes) => all.extend(slot_log::assignments(
                    index,
                    &String::from_utf8_lossy(&bytes),
                )),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read an instance's log for its rebalances")
                }
            }
        }
        Some(slot_log::section(
            &slot_log::rebalances(all),
            workload_started,
        ))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn free_port() -> Result<u16, ScenarioError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(ScenarioError::io("picking a metrics port"))
}

/// Moves every application group of the scenario with one `cutover offsets sync` (the
/// built-in replicator's translation); returns, per group, how it was translated. Its output
/// is kept in `offsets-sync.log`.
async fn sync_groups(
    groups: &[ConsumerGroupSpec],
    options: &RunOptions,
    config: &Path,
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

/// Waits until the built-in replicator's instances together copy `partitions` source
/// partitions (their `/metrics`: assigned, none waiting). Err says why it stopped waiting: an
/// instance exited, the timeout, or Ctrl-C.
async fn wait_until_copying(
    instances: &mut Instances,
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

/// Builtin instances: every running instance answers its metrics endpoint with lag 0 and no
/// waiting partition. An endpoint that does not answer is not "no lag".
fn no_lag(inst: &Instances) -> bool {
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
    let body = fetch(port)?;
    Some(samples(&body, name))
}

fn metric_sum(port: u16, name: &str) -> Option<f64> {
    metric_lines(port, name).map(|v| v.iter().map(|(_, x)| x).sum())
}

/// What each builtin instance still reports as lag or waiting partitions (for the report).
fn lag_diagnosis(inst: &Instances) -> Vec<String> {
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

/// The replicator config a `builtin` system runs with, as TOML text, checked by the replicator.
/// Unless the scenario sets `replication.include`, it copies the workload's topics and `also`
/// (regexes: the topics of the run's applications, `crate::app::topics_to_copy`); unless it
/// sets `replication.sync_groups`, the run's applications' groups (`groups`) are translated to
/// the target all along, every [`crate::spec::DEFAULT_GROUP_SYNC_SECS`] as MirrorMaker 2's
/// group sync in a run (a failover finds them there).
pub fn builtin_config(
    system: &SystemSpec,
    source: &harness::ClientProps,
    target: &harness::ClientProps,
    workload: &WorkloadSpec,
    also: &[String],
    groups: &[String],
) -> Result<String, ScenarioError> {
    let SystemSpec::Builtin {
        replication,
        tuning,
        source_properties,
        target_properties,
        ..
    } = system
    else {
        return Err(ScenarioError::System("not a builtin system".into()));
    };
    let mut replication = replication.clone();
    replication
        .entry("group_id")
        .or_insert_with(|| toml::Value::String("cutover-builtin".into()));
    replication.entry("include").or_insert_with(|| {
        toml::Value::Array(
            workload
                .topics
                .names()
                .iter()
                .map(|t| toml::Value::String(regex::escape(t)))
                .chain(also.iter().map(|r| toml::Value::String(r.clone())))
                .collect(),
        )
    });
    replication
        .entry("topic_refresh_interval_ms")
        .or_insert(toml::Value::Integer(2000));
    if !groups.is_empty() && !replication.contains_key("sync_groups") {
        replication.insert(
            "sync_groups".into(),
            toml::Value::Array(
                groups
                    .iter()
                    .map(|g| toml::Value::String(regex::escape(g)))
                    .collect(),
            ),
        );
        replication
            .entry("sync_groups_interval_ms")
            .or_insert(toml::Value::Integer(
                (crate::spec::DEFAULT_GROUP_SYNC_SECS * 1000) as i64,
            ));
    }
    let mut doc = toml::Table::new();
    doc.insert("replication".into(), toml::Value::Table(replication));
    doc.insert("tuning".into(), toml::Value::Table(tuning.clone()));
    let props = |cluster: &harness::ClientProps, extra: &BTreeMap<String, String>| {
        let mut t = toml::Table::new();
        for (k, v) in cluster.iter() {
            t.insert(k.into(), toml::Value::String(v.into()));
        }
        for (k, v) in extra {
            t.insert(k.clone(), toml::Value::String(v.clone()));
        }
        toml::Value::Table(t)
    };
    doc.insert("source".into(), props(source, source_properties));
    doc.insert("target".into(), props(target, target_properties));
    let text = toml::to_string(&doc).map_err(|e| ScenarioError::System(e.to_string()))?;
    replicator::ReplicatorConfig::from_toml(&text, "").map_err(|e| match e {
        replicator::ReplicatorError::Config(e) => {
            let field = if e.field.is_empty() {
                "system".into()
            } else {
                format!("system.{}", e.field)
            };
            located::Located::new("", &field, e.reason).into()
        }
        other => ScenarioError::System(format!("replicator config: {other}")),
    })?;
    Ok(text)
}

/// GETs `/metrics` on 127.0.0.1:`port`; the body, or None when the instance does not answer.
pub fn fetch(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The samples of metric `name` in a Prometheus text body (parsed by the `prometheus-parse`
/// crate): each sample's labels rendered `{k="v",…}` in key order, and its value. Families
/// other than counters, gauges and untyped samples are left out.
pub fn samples(body: &str, name: &str) -> Vec<(String, f64)> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return Vec::new();
    };
    scrape
        .samples
        .into_iter()
        .filter(|s| s.metric == name)
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            let rendered = if labels.is_empty() {
                String::new()
            } else {
                let inner: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                format!("{{{}}}", inner.join(","))
            };
            Some((rendered, value))
        })
        .collect()
}

/// Saves each running instance's scrape into `dir` as `metrics-instance-N.prom`; returns the
/// files written (an instance that does not answer, or a write that fails, is logged and left
/// out: the run's verdict does not depend on it).
pub fn save_last(instances: &Instances, dir: &Path) -> Vec<PathBuf> {
    let mut saved = Vec::new();
    for i in instances.running.values() {
        let Some(port) = i.metrics_port else { continue };
        let Some(body) = fetch(port) else {
            tracing::warn!(
                instance = i.index,
                "no /metrics answer to keep with the report"
            );
            continue;
        };
        let path = dir.join(format!("metrics-instance-{}.prom", i.index));
        match std::fs::write(&path, body) {
            Ok(()) => saved.push(path),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot save /metrics"),
        }
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator::metrics::names;

    #[test]
    fn samples_of_one_family_with_their_labels_in_key_order() {
        let body = format!(
            "# HELP {l} lag\n# TYPE {l} gauge\n{l}{{topic=\"t\",partition=\"0\"}} 3\n{l}{{topic=\"t\",partition=\"1\"}} 0\n# TYPE {w} gauge\n{w} 2\n",
            l = names::LAG_RECORDS,
            w = names::WAITING_PARTITIONS
        );
        assert_eq!(
            samples(&body, names::LAG_RECORDS),
            vec![
                ("{partition=\"0\",topic=\"t\"}".to_string(), 3.0),
                ("{partition=\"1\",topic=\"t\"}".to_string(), 0.0)
            ]
        );
        assert_eq!(
            samples(&body, names::WAITING_PARTITIONS),
            vec![(String::new(), 2.0)]
        );
        // A family's name is not a prefix match.
        assert!(samples(&body, "cutover_replicator_lag").is_empty());
    }
}
