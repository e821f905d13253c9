//! # A real Kafka Connect cluster
//!
//! [`ConnectCluster::start`] runs N Connect workers in distributed mode
//! (`org.apache.kafka.connect.cli.ConnectDistributed`) from the Apache Kafka jars of a given
//! version, on one Kafka cluster (the migration's target), and waits until they form one group.
//! Connectors are deployed, watched and restarted through [`ConnectRest`]; workers join, leave
//! gracefully or crash for faults; the group's generations and each task's worker are read back
//! from the cluster itself, for fault proofs and rebalance counts.
//!
//! - `runtime`: Java 17+ and the jars (the MirrorMaker 2 cache entry, which holds
//!   `connect-runtime` and MirrorMaker 2's connectors).
//! - `worker`: the generated `worker.properties`: `bootstrap.servers` and the caller's client
//!   security (also under `producer.`, `consumer.`, `admin.`), `group.id`, the config, offset and
//!   status topics `<group>-configs|offsets|status` with the given replication factor,
//!   byte-array key, value and header converters, REST on `http://127.0.0.1:<free port>`
//!   advertised as itself (a worker's id is that `127.0.0.1:port`), `plugin.path` (without
//!   one, `plugin.discovery=service_load`: Kafka's jars all have ServiceLoader manifests, and
//!   the reflective scan of the default `hybrid_warn` halves a worker's start, KIP-898),
//!   `exactly.once.source.support` (KIP-618), then the caller's extra properties, which win.
//! - `rest`: the REST client (ureq, blocking): connector config, status, list, restart
//!   (KIP-745's `includeTasks`/`onlyFailed`), task restart, pause/resume, delete, waits.
//! - `log`: the group history parsed from each worker's log: `Rebalance started`, `Joined group
//!   at generation N …` with the assignment, `Finished starting connectors and tasks`.
//!
//! Every worker is spawned through [`crate::supervisor::spawn_group`]: the leader of its own
//! process group, with [`crate::supervisor::PROCESS_MARK`] in its environment, killed with the
//! harness (death signal, [`crate::supervisor::kill_every_family`] on cutover's exit or Ctrl-C)
//! and on Drop. The work dir (worker properties, mode 0600 as they may hold secrets, and the
//! log4j2 configuration) comes from [`crate::workdir`] and is removed unless kept; each worker
//! logs to `worker-<index>.log` there or in [`ConnectSpec::log_dir`]. An added worker gets a new
//! index and port, so one log is one worker's life.
//!
//! The calls are blocking (REST, process waits): async callers use `spawn_blocking`, except
//! for [`ConnectCluster::start`], which fetches the jars asynchronously and then starts the
//! workers on a blocking thread.

mod error;
pub mod log;
pub mod rest;
pub mod runtime;
pub mod worker;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use error::{ConnectError, RestError, Result};
pub use log::{Generation, GroupEvent, GroupEventKind, Joined};
pub use rest::{ConnectRest, ConnectorStatus, State, TaskState};
pub use runtime::ConnectRuntime;

use crate::client_props::ClientProps;
use crate::dist::KafkaVersion;
use crate::supervisor::{self, Family};
use crate::workdir::WorkDir;
use worker::Worker;

/// How long [`ConnectCluster::start`] and [`ConnectCluster::add_worker`] wait for the group
/// unless told otherwise (s).
pub const DEFAULT_READY_TIMEOUT_SECS: u64 = 120;

/// What Connect cluster to start.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// Names the work dir (`cutover-<pid>-connect-<name>-…`) and the default group.
    pub name: String,
    /// The Kafka version of the workers' jars (the target cluster's).
    pub version: KafkaVersion,
    /// Workers started at once (at least 1).
    pub workers: u32,
    /// The Kafka cluster the workers use: `bootstrap.servers` and client security, in Java
    /// client form (the target's [`crate::Cluster::client_props`]).
    pub client: ClientProps,
    /// `group.id`; also the internal topics' prefix. Default `cutover-connect-<name>`.
    pub group_id: String,
    /// Replication factor of the config, offset and status topics (default 1: one-broker
    /// clusters; 3 on a 3-broker cluster).
    pub replication_factor: u16,
    /// Directories for `plugin.path` (the user's connector jars); empty: none.
    pub plugin_path: Vec<PathBuf>,
    /// `exactly.once.source.support=enabled` on every worker (KIP-618), else `disabled`.
    pub exactly_once_source: bool,
    /// Further worker properties; they replace the generated ones of the same key.
    pub worker_props: BTreeMap<String, String>,
    /// Heap of each worker JVM (MiB, default 512).
    pub heap_mb: u32,
    /// Keep the work dir after the cluster is dropped.
    pub keep: bool,
    /// Where the worker logs go; default the work dir.
    pub log_dir: Option<PathBuf>,
    /// How long a start or an added worker may take to be in the group (default 120 s).
    pub ready_timeout: Duration,
}

impl ConnectSpec {
    /// One worker of the default Kafka version on the cluster reached with `client`.
    pub fn new(name: impl Into<String>, client: ClientProps) -> ConnectSpec {
        let name = name.into();
        ConnectSpec {
            group_id: format!("cutover-connect-{name}"),
            name,
            version: KafkaVersion::default(),
            workers: 1,
            client,
            replication_factor: 1,
            plugin_path: Vec::new(),
            exactly_once_source: false,
            worker_props: BTreeMap::new(),
            heap_mb: runtime::DEFAULT_HEAP_MB,
            keep: false,
            log_dir: None,
            ready_timeout: Duration::from_secs(DEFAULT_READY_TIMEOUT_SECS),
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |field: &str, reason: &str| {
            Err(ConnectError::InvalidSpec {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.workers == 0 {
            return bad("workers", "at least one worker");
        }
        if self.client.bootstrap_servers().is_none() {
            return bad("client", "bootstrap.servers is not set");
        }
        if self.group_id.trim().is_empty() {
            return bad("group_id", "empty");
        }
        if self.replication_factor == 0 {
            return bad("replication_factor", "at least 1");
        }
        if self.name.is_empty() || self.name.contains('/') {
            return bad("name", "a non-empty name without `/`");
        }
        Ok(())
    }
}

/// A worker as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub index: u32,
    /// `127.0.0.1:port`, the `worker_id` Connect reports in statuses.
    pub id: String,
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// The JVM's pid, which is also its process group id.
    pub pid: u32,
    pub log: PathBuf,
}

/// A running Connect cluster; every worker is killed and the work dir removed (unless kept)
/// on Drop.
pub struct ConnectCluster {
    runtime: ConnectRuntime,
    spec: ConnectSpec,
    dir: WorkDir,
    log4j2: PathBuf,
    log_dir: PathBuf,
    running: BTreeMap<u32, Worker>,
    /// Every worker ever started: REST port and log (stopped and crashed ones too).
    history: BTreeMap<u32, (u16, PathBuf)>,
    /// Every worker's process family ever started, for the kill on Drop.
    lives: Vec<Family>,
    next: u32,
    token: String,
}

impl std::fmt::Debug for ConnectCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectCluster")
            .field("group_id", &self.spec.group_id)
            .field("dir", &self.dir.path())
            .field("running", &self.running.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConnectCluster {
    /// Prepares the jars of `spec.version` (fetching them the first time) and starts
    /// `spec.workers` workers; returns once every worker's REST answers and all of them joined
    /// the same, latest generation of the group.
    pub async fn start(spec: ConnectSpec) -> Result<ConnectCluster> {
        spec.check()?;
        let runtime = ConnectRuntime::prepare(&spec.version, |_| {}).await?;
        tokio::task::spawn_blocking(move || ConnectCluster::start_with(runtime, spec))
            .await
            .map_err(|e| ConnectError::Io {
                context: "the Connect start task failed".into(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// [`ConnectCluster::start`] with jars already prepared (blocking).
    pub fn start_with(runtime: ConnectRuntime, spec: ConnectSpec) -> Result<ConnectCluster> {
        spec.check()?;
        let dir = WorkDir::create(&format!("connect-{}", spec.name), spec.keep)?;
        let log4j2 = dir.path().join("connect-log4j2.properties");
        std::fs::write(&log4j2, log::LOG4J2_WORKER_CONFIG)
            .map_err(ConnectError::io(format!("writing {}", log4j2.display())))?;
        let log_dir = spec
            .log_dir
            .clone()
            .unwrap_or_else(|| dir.path().to_path_buf());
        std::fs::create_dir_all(&log_dir)
            .map_err(ConnectError::io(format!("creating {}", log_dir.display())))?;
        static CLUSTERS: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let token = format!(
            "connect-{}-{}-{nanos}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        let mut cluster = ConnectCluster {
            runtime,
            dir,
            log4j2,
            log_dir,
            running: BTreeMap::new(),
            history: BTreeMap::new(),
            lives: Vec::new(),
            next: 0,
            token,
            spec,
        };
        // All at once: the JVMs start in parallel and the group forms around them.
        let mut started = Vec::new();
        for _ in 0..cluster.spec.workers {
            started.push(cluster.spawn_worker()?);
        }
        cluster.wait_in_group(&started, cluster.spec.ready_timeout)?;
        Ok(cluster)
    }

    /// Starts one more worker (a new index and REST port) and waits until it and every other
    /// running worker joined the same, latest generation; returns its index.
    pub fn add_worker(&mut self) -> Result<u32> {
        let index = self.spawn_worker()?;
        self.wait_in_group(&[index], self.spec.ready_timeout)?;
        Ok(index)
    }

    /// Stops worker `index` gracefully: SIGTERM to its process group (Connect's shutdown hook
    /// stops its tasks and leaves the group), SIGKILL after `grace`. True when it exited
    /// within the grace period.
    pub fn stop_worker(&mut self, index: u32, grace: Duration) -> Result<bool> {
        let mut w = self.take(index)?;
        Ok(supervisor::terminate_group(
            &mut w.process.child,
            &w.process.family,
            grace,
        ))
    }

    /// Crashes worker `index`: SIGKILL to its process group, no goodbye to the group (the
    /// others notice after `session.timeout.ms`).
    pub fn crash_worker(&mut self, index: u32) -> Result<()> {
        let mut w = self.take(index)?;
        supervisor::kill_group(&mut w.process.child, &w.process.family);
        Ok(())
    }

    fn take(&mut self, index: u32) -> Result<Worker> {
        let running: Vec<u32> = self.running.keys().copied().collect();
        self.running
            .remove(&index)
            .ok_or(ConnectError::NoSuchWorker { index, running })
    }

    /// The running workers, by index.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.running
            .values()
            .map(|w| WorkerInfo {
                index: w.index,
                id: w.id(),
                url: format!("http://{}", w.id()),
                pid: w.process.id(),
                log: w.log.clone(),
            })
            .collect()
    }

    /// The index of the worker (running or not) Connect calls `id` (`127.0.0.1:port`).
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.history
            .iter()
            .find(|(_, (port, _))| worker::worker_id(*port) == id)
            .map(|(i, _)| *i)
    }

    /// The id (`127.0.0.1:port`) of worker `index`, running or not.
    pub fn worker_id(&self, index: u32) -> Option<String> {
        self.history.get(&index).map(|(p, _)| worker::worker_id(*p))
    }

    /// The pid (= process group id) of running worker `index`.
    pub fn pid(&self, index: u32) -> Option<u32> {
        self.running.get(&index).map(|w| w.process.id())
    }

    /// Every process of running worker `index` ([`Family`]); still valid after a stop or
    /// crash, to prove nothing of it is left.
    pub fn family(&self, index: u32) -> Option<Family> {
        self.running.get(&index).map(|w| w.process.family.clone())
    }

    /// The log of worker `index`, running or not.
    pub fn log_path(&self, index: u32) -> Option<PathBuf> {
        self.history.get(&index).map(|(_, l)| l.clone())
    }

    /// A REST client of the lowest-indexed running worker (any worker answers for the cluster).
    pub fn rest(&self) -> Result<ConnectRest> {
        let first = self
            .running
            .keys()
            .next()
            .copied()
            .ok_or(ConnectError::NoSuchWorker {
                index: 0,
                running: Vec::new(),
            })?;
        self.rest_of(first)
    }

    /// A REST client of running worker `index`.
    pub fn rest_of(&self, index: u32) -> Result<ConnectRest> {
        let w = self.running.get(&index).ok_or(ConnectError::NoSuchWorker {
            index,
            running: self.running.keys().copied().collect(),
        })?;
        Ok(ConnectRest::new(format!("http://{}", w.id())))
    }

    /// Task → worker index, from `GET /connectors/{name}/status` (a task on a worker this
    /// cluster does not know is left out).
    pub fn task_assignment(&self, connector: &str) -> Result<BTreeMap<u32, u32>> {
        let status = self.rest()?.status(connector)?;
        Ok(status
            .tasks
            .iter()
            .filter_map(|t| Some((t.id, self.index_of(&t.worker_id)?)))
            .collect())
    }

    /// Every group event in every worker's log (running, stopped or crashed), by time.
    pub fn group_events(&self) -> Vec<GroupEvent> {
        let mut events: Vec<GroupEvent> = self
            .history
            .iter()
            .flat_map(|(index, (_, log))| {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                log::parse_events(*index, &text)
            })
            .collect();
        events.sort_by_key(|e| (e.at_ms, e.worker));
        events
    }

    /// The group's generations as the workers' logs show them, ascending, with when the first
    /// and last worker joined each.
    pub fn generations(&self) -> Vec<Generation> {
        log::generations(&self.group_events())
    }

    /// The latest generation any worker joined.
    pub fn current_generation(&self) -> Option<u32> {
        self.generations().last().map(|g| g.generation)
    }

    /// The index of the group's leader in the latest generation (from its `leaderUrl` in the
    /// workers' join lines). A crashed leader's tasks are reassigned at once by the next
    /// leader, which never saw them; a crashed follower's only after
    /// `scheduled.rebalance.max.delay.ms` (KIP-415; 5 minutes by default).
    pub fn leader(&self) -> Option<u32> {
        let last = self.generations().pop()?;
        let url = &last.members.values().next()?.leader_url;
        let id = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        self.index_of(id)
    }

    /// The spec the cluster was started with.
    pub fn spec(&self) -> &ConnectSpec {
        &self.spec
    }

    /// The runtime (Java and jars) the workers run on.
    pub fn runtime(&self) -> &ConnectRuntime {
        &self.runtime
    }

    /// The work dir (worker properties, log4j2 configuration, logs unless `log_dir`).
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until `done` holds for connector `name`'s status (polled every 250 ms), asking
    /// whichever worker is running.
    pub fn wait_status(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        done: impl FnMut(&ConnectorStatus) -> bool,
    ) -> Result<ConnectorStatus> {
        self.rest()?.wait_status(name, timeout, what, done)
    }

    /// Waits until the group's latest generation is above `generation` and every running
    /// worker (whose JVM is alive) joined it; returns that generation.
    pub fn wait_generation_above(&self, generation: u32, timeout: Duration) -> Result<u32> {
        let deadline = Instant::now() + timeout;
        loop {
            let latest = log::latest_generation_by_worker(&self.group_events());
            let gens: Vec<Option<u32>> =
                self.live().iter().map(|i| latest.get(i).copied()).collect();
            if let Some(Some(g)) = gens.first() {
                if *g > generation && gens.iter().all(|x| *x == Some(*g)) {
                    return Ok(*g);
                }
            }
            if Instant::now() >= deadline {
                return Err(ConnectError::Timeout {
                    seconds: timeout.as_secs(),
                    what: format!(
                        "a generation above {generation} joined by every running worker (latest per worker: {latest:?})"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops every worker gracefully (SIGTERM, SIGKILL after `grace` each, all at once).
    pub fn stop_all(&mut self, grace: Duration) {
        for w in self.running.values() {
            let _ = w.process.signal(libc::SIGTERM);
        }
        let indexes: Vec<u32> = self.running.keys().copied().collect();
        for index in indexes {
            let _ = self.stop_worker(index, grace);
        }
    }

    /// The running workers whose JVM is still alive (one that died on its own, not through
    /// [`ConnectCluster::crash_worker`], is a zombie and left out of the group checks).
    fn live(&self) -> Vec<u32> {
        self.running
            .values()
            .filter(|w| supervisor::ProcessInfo::read(w.process.id()).is_some_and(|p| p.is_alive()))
            .map(|w| w.index)
            .collect()
    }

    fn spawn_worker(&mut self) -> Result<u32> {
        let index = self.next;
        self.next += 1;
        // Free now; the JVM binds it within seconds (as MirrorMaker 2's REST port).
        let rest_port = crate::ports::reserve(1)?.ports()[0];
        let props = worker::worker_properties(&self.spec, rest_port);
        let path = self.dir.path().join(format!("worker-{index}.properties"));
        write_private(&path, &worker::render_properties(&props))?;
        let log = self.log_dir.join(format!("worker-{index}.log"));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(ConnectError::io(format!("opening {}", log.display())))?;
        writeln!(
            file,
            "=== cutover: Connect worker {index} ({}) started ===",
            worker::worker_id(rest_port)
        )
        .map_err(ConnectError::io(format!("writing {}", log.display())))?;
        let err_file = file
            .try_clone()
            .map_err(ConnectError::io(format!("opening {}", log.display())))?;
        let mut command = self.runtime.command(&path, &self.log4j2, self.spec.heap_mb);
        command
            .current_dir(self.dir.path())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file));
        let mark = format!("{}.{index}", self.token);
        let process = supervisor::spawn_group(command, Some((supervisor::PROCESS_MARK, &mark)))
            .map_err(ConnectError::io(format!("starting Connect worker {index}")))?;
        tracing::info!(
            worker = index,
            pid = process.id(),
            rest_port,
            "Connect worker started"
        );
        self.lives.push(process.family.clone());
        self.history.insert(index, (rest_port, log.clone()));
        self.running.insert(
            index,
            Worker {
                index,
                rest_port,
                log,
                process,
            },
        );
        Ok(index)
    }

    /// Waits until the REST API of each of `new` answers and every running worker's latest
    /// joined generation is the same; a new worker that exits fails the wait with its log.
    fn wait_in_group(&mut self, new: &[u32], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut rest_up: Vec<u32> = Vec::new();
        let mut detail;
        loop {
            for &index in new {
                let Some(w) = self.running.get_mut(&index) else {
                    continue;
                };
                if let Ok(Some(status)) = w.process.child.try_wait() {
                    let text = std::fs::read_to_string(&w.log).unwrap_or_default();
                    return Err(ConnectError::WorkerExited {
                        worker: format!("{index} ({})", w.id()),
                        status: status.to_string(),
                        log: w.log.clone(),
                        tail: last_lines(&text, 30),
                    });
                }
                if !rest_up.contains(&index)
                    && ConnectRest::new(format!("http://{}", w.id()))
                        .server_info()
                        .is_ok()
                {
                    rest_up.push(index);
                }
            }
            let waiting_rest: Vec<u32> = new
                .iter()
                .copied()
                .filter(|i| !rest_up.contains(i))
                .collect();
            if waiting_rest.is_empty() {
                let latest = log::latest_generation_by_worker(&self.group_events());
                let gens: Vec<(u32, Option<u32>)> = self
                    .live()
                    .into_iter()
                    .map(|i| (i, latest.get(&i).copied()))
                    .collect();
                let first = gens.first().and_then(|(_, g)| *g);
                let formed = first.is_some() && gens.iter().all(|(_, g)| *g == first);
                let lists = formed
                    && new
                        .iter()
                        .all(|i| self.rest_of(*i).map(|r| r.list().is_ok()).unwrap_or(false));
                if lists {
                    return Ok(());
                }
                detail = format!("latest generation joined per worker: {gens:?}");
            } else {
                detail = format!("the REST API of worker(s) {waiting_rest:?} does not answer");
            }
            if Instant::now() >= deadline {
                return Err(ConnectError::NotFormed {
                    seconds: timeout.as_secs(),
                    detail,
                    logs: self.log_dir.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for ConnectCluster {
    fn drop(&mut self) {
        for w in self.running.values_mut() {
            supervisor::kill_group(&mut w.process.child, &w.process.family);
        }
        for family in &self.lives {
            family.kill_all(Duration::from_millis(500));
        }
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    crate::workdir::write_owner_only(path, text)
        .map_err(ConnectError::io(format!("writing {}", path.display())))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_without_workers_or_bootstrap_is_refused_with_the_field() {
        let mut spec = ConnectSpec::new("x", ClientProps::bootstrap("127.0.0.1:9092"));
        assert!(spec.check().is_ok());
        spec.workers = 0;
        let err = spec.check().unwrap_err().to_string();
        assert!(err.contains("workers"), "{err}");
        let spec = ConnectSpec::new("x", ClientProps::new());
        let err = spec.check().unwrap_err().to_string();
        assert!(err.contains("bootstrap.servers"), "{err}");
    }
}
