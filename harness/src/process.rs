//! The `process` backend: real broker JVMs from the cached Apache Kafka jars.
//!
//! Each node is a combined KRaft broker+controller with a static quorum
//! (`controller.quorum.voters`), storage formatted by Kafka's own `StorageTool`, free ports
//! picked outside the kernel's ephemeral range, one temp dir per cluster and the broker log in
//! `<dir>/node-<id>/logs/server.log`. JVMs are spawned through [`crate::supervisor`], so they
//! die with the harness.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::cds::{self, Role, Sharing};

use crate::client_props::ClientProps;
use crate::cluster::{BrokerInfo, Cluster};
use crate::dist::{FetchEvent, KafkaDist};
use crate::error::{HarnessError, Result};
use crate::java::JavaRuntime;
use crate::layout::{self, NodeLayout, Proxies};
use crate::proxy::Proxy;
use crate::readiness::{self, NotReady};
use crate::security::Security;
use crate::spec::{BackendKind, ClusterSpec};
use crate::supervisor;
use crate::workdir::WorkDir;

/// JVM flags for a broker, chosen so that four brokers share 2 cores without starving:
/// G1 as Kafka's scripts use it, but with GC and JIT thread counts capped, and a heap that is
/// a fraction of the 1 GiB default (`heap_mb`, 512 MiB unless the spec says otherwise).
pub fn broker_jvm_flags(heap_mb: u32) -> Vec<String> {
    let initial = heap_mb.min(256);
    vec![
        format!("-Xms{initial}m"),
        format!("-Xmx{heap_mb}m"),
        "-XX:+UseG1GC".into(),
        "-XX:MaxGCPauseMillis=20".into(),
        "-XX:InitiatingHeapOccupancyPercent=35".into(),
        "-XX:+ExplicitGCInvokesConcurrent".into(),
        "-XX:ParallelGCThreads=2".into(),
        "-XX:ConcGCThreads=1".into(),
        "-XX:CICompilerCount=2".into(),
        "-XX:+ExitOnOutOfMemoryError".into(),
        "-XX:-UsePerfData".into(),
        "-Xss512k".into(),
        "-Djava.awt.headless=true".into(),
    ]
}

/// JVM flags for a broker of the process backend: [`broker_jvm_flags`], with the JIT stopped at
/// C1 (`-XX:TieredStopAtLevel=1`) unless the spec asks for the full JIT
/// ([`ClusterSpec::full_jit`]). A test broker lives a minute or two at a few thousand records a
/// second, four of them on 2 cores: C2's compilations cost CPU its faster code never gives
/// back. Measured on 2 cores (Kafka 4.1, Java 17, class-data sharing on): 1.4 s of CPU to
/// "Kafka Server started" instead of 2.5 s; the smoke scenario used 39 CPU-seconds instead of
/// 54 (every process of the run). Connect, MirrorMaker 2 and Streams JVMs keep
/// [`broker_jvm_flags`].
pub fn process_broker_jvm_flags(spec: &ClusterSpec) -> Vec<String> {
    let mut flags = broker_jvm_flags(spec.heap_mb);
    if !spec.full_jit {
        flags.push("-XX:TieredStopAtLevel=1".into());
    }
    flags
}

/// JVM flags for short-lived tools (storage format): small heap, C1 only, fast start.
fn tool_jvm_flags() -> Vec<String> {
    vec![
        "-Xmx256m".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-XX:+UseSerialGC".into(),
        "-XX:-UsePerfData".into(),
        "-Djava.awt.headless=true".into(),
    ]
}

struct Node {
    layout: NodeLayout,
    child: Mutex<Option<Child>>,
}

impl std::ops::Deref for Node {
    type Target = NodeLayout;
    fn deref(&self) -> &NodeLayout {
        &self.layout
    }
}

impl Node {
    fn jvm_out(&self) -> PathBuf {
        self.log_dir().join("jvm.out")
    }

    fn pid(&self) -> Option<u32> {
        let mut guard = self.child.lock().ok()?;
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// Takes the child out (if any) and kills it.
    fn kill(&self) {
        let child = self.child.lock().ok().and_then(|mut g| g.take());
        if let Some(mut child) = child {
            supervisor::kill_and_reap(&mut child);
        }
    }

    /// Returns the exit description when the JVM has exited.
    fn exited(&self) -> Option<String> {
        let mut guard = self.child.lock().ok()?;
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(describe_exit(status)),
            _ => None,
        }
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("the broker JVM exited with status {code}"),
        (None, Some(sig)) => format!("the broker JVM was killed by signal {sig}"),
        _ => "the broker JVM exited".into(),
    }
}

/// How long a start waits for another process's class-data sharing training (seconds, once).
const TRAINING_WAIT: Duration = Duration::from_secs(120);

/// The class-data sharing of a cluster's JVMs (see [`crate::cds`]).
#[derive(Debug, Clone, Default)]
struct JvmSharing {
    broker: Sharing,
    tool: Sharing,
}

/// A cluster of broker JVMs owned by this process.
pub struct ProcessCluster {
    spec: ClusterSpec,
    dist: KafkaDist,
    java: JavaRuntime,
    workdir: WorkDir,
    nodes: Vec<Node>,
    cluster_id: String,
    shut_down: AtomicBool,
    /// One per broker when the spec is proxied; stopped on shutdown and drop.
    proxies: Proxies,
    /// TLS material and users of a secured cluster.
    security: Option<Security>,
    /// Class-data sharing archives the JVMs map (or, training, write).
    sharing: JvmSharing,
}

impl ProcessCluster {
    /// Fetches the jars if needed, formats storage, starts every node and waits until ready.
    pub async fn start(spec: ClusterSpec) -> Result<ProcessCluster> {
        spec.validate()?;
        let java = tokio::task::spawn_blocking(JavaRuntime::locate)
            .await
            .map_err(|e| HarnessError::io("locating Java")(std::io::Error::other(e)))??;
        let name = spec.name.clone();
        let dist = KafkaDist::ensure(&spec.kafka_version, move |event| {
            if let FetchEvent::Resolving { version } = &event {
                tracing::info!(cluster = %name, %version, "fetching Kafka jars (first use)");
            }
        })
        .await?;
        let sharing = Self::class_sharing(&spec, &dist, &java).await;
        // Random ports can, rarely, be taken between the check and the JVM's bind: retry once
        // with fresh ports. Explicit ports are the user's choice and are not retried.
        let attempts = if spec.ports.is_empty() { 2 } else { 1 };
        let mut last_err = None;
        for attempt in 1..=attempts {
            match Self::start_once(&spec, &dist, &java, sharing.clone()).await {
                Ok(cluster) => return Ok(cluster),
                Err(err) if attempt < attempts && is_port_race(&err) => {
                    tracing::warn!(cluster = %spec.name, "a port was taken during start, retrying with fresh ports");
                    last_err = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_err.unwrap_or_else(|| HarnessError::InvalidSpec {
            field: spec.name.clone(),
            reason: "no start attempt was made".into(),
        }))
    }

    /// The archives the JVMs map; the first start for a Java runtime and Kafka version trains
    /// them (one 1-node cluster started and stopped, seconds once).
    async fn class_sharing(spec: &ClusterSpec, dist: &KafkaDist, java: &JavaRuntime) -> JvmSharing {
        let Some(archives) = cds::Archives::of(java, dist) else {
            return JvmSharing::default();
        };
        if !archives.complete() {
            // Another start may be training: wait for it rather than start without archives.
            let waiting = archives.clone();
            let training = tokio::task::spawn_blocking(move || waiting.lock(TRAINING_WAIT))
                .await
                .ok()
                .flatten();
            if let Some(training) = training {
                if !archives.complete() && !archives.untrainable() {
                    Self::train(spec, dist, java, &training).await;
                }
            }
            if archives.untrainable() {
                return JvmSharing::default();
            }
        }
        JvmSharing {
            broker: archives.archive(Role::Broker),
            tool: archives.archive(Role::Tool),
        }
    }

    /// Starts a 1-node cluster whose format and broker JVMs write their class archives, makes
    /// it ready (the readiness round trip loads the produce and fetch paths), then stops the
    /// broker with SIGTERM so that it exits normally and writes its archive.
    async fn train(
        spec: &ClusterSpec,
        dist: &KafkaDist,
        java: &JavaRuntime,
        training: &cds::Training,
    ) {
        let started = Instant::now();
        let mut train_spec = ClusterSpec::new(format!("{}-cds", spec.name));
        train_spec.kafka_version = spec.kafka_version.clone();
        let sharing = JvmSharing {
            broker: Sharing::Dump(training.dump_path(Role::Broker)),
            tool: Sharing::Dump(training.dump_path(Role::Tool)),
        };
        match Self::start_once(&train_spec, dist, java, sharing).await {
            Ok(cluster) => {
                let stopped = cluster.stop_broker(1).await;
                let _ = cluster.shutdown().await;
                let tool = training.install(Role::Tool);
                let broker = training.install(Role::Broker);
                match (stopped, tool, broker) {
                    (Ok(()), Ok(true), Ok(true)) => tracing::info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "class-data sharing archives written for {}",
                        java.description
                    ),
                    (Ok(()), Ok(false), Ok(false)) => {
                        tracing::info!("{} wrote no class-data sharing archive; brokers start without one", java.description);
                        training.give_up("the training JVMs exited and wrote no archive");
                    }
                    other => tracing::warn!(
                        "class-data sharing archives not written ({other:?}); brokers start without them"
                    ),
                }
            }
            Err(err) => tracing::warn!(
                %err,
                "the class-data sharing training node did not start; brokers start without archives"
            ),
        }
    }

    async fn start_once(
        spec: &ClusterSpec,
        dist: &KafkaDist,
        java: &JavaRuntime,
        sharing: JvmSharing,
    ) -> Result<ProcessCluster> {
        let started = Instant::now();
        let workdir = WorkDir::create(&spec.name, spec.keep)?;
        let security = Security::for_spec(spec, workdir.path())?;
        let (mut reservation, layouts) = layout::lay_out(spec, workdir.path(), security.as_ref())?;
        let cluster_id = random_cluster_id()?;
        let nodes = layouts
            .into_iter()
            .map(|layout| Node {
                layout,
                child: Mutex::new(None),
            })
            .collect();
        let mut cluster = ProcessCluster {
            spec: spec.clone(),
            dist: dist.clone(),
            java: java.clone(),
            workdir,
            nodes,
            cluster_id,
            shut_down: AtomicBool::new(false),
            proxies: Proxies::default(),
            security,
            sharing,
        };
        cluster.format_storage().await?;
        // The proxies take their ports over from the reservation (no window to lose them).
        cluster.proxies = Proxies::start(
            &mut reservation,
            cluster.nodes.iter().map(|n| &n.layout),
            spec.proxy_seed,
        )?;
        // Release the reserved ports just before the JVMs bind them.
        drop(reservation);
        for node in &cluster.nodes {
            cluster.spawn_node(node)?;
        }
        cluster
            .wait_ready(Instant::now() + spec.ready_timeout())
            .await?;
        tracing::info!(
            cluster = %spec.name,
            brokers = spec.brokers,
            version = %spec.kafka_version,
            bootstrap = %cluster.bootstrap_servers(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cluster ready"
        );
        Ok(cluster)
    }

    fn java_command(&self, flags: Vec<String>) -> Command {
        let mut cmd = Command::new(&self.java.path);
        cmd.args(flags)
            .arg("-cp")
            .arg(self.dist.classpath())
            .stdin(Stdio::null());
        cmd
    }

    async fn format_storage(&self) -> Result<()> {
        let mut children = Vec::new();
        for node in &self.nodes {
            let mut flags = tool_jvm_flags();
            flags.extend(self.sharing.tool.flags());
            let mut cmd = self.java_command(flags);
            cmd.arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dist.dir.join("log4j2.properties").display()
            ))
            .arg(format!("-Dkafka.logs.dir={}", node.log_dir().display()))
            .arg("kafka.tools.StorageTool")
            .args(["format", "-t", &self.cluster_id, "-c"])
            .arg(node.config())
            .args(self.security.iter().flat_map(Security::format_args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let child = supervisor::spawn(cmd).map_err(|e| HarnessError::FormatFailed {
                cluster: self.spec.name.clone(),
                node_id: node.node_id,
                detail: format!("cannot start {}: {e}", self.java.path.display()),
            })?;
            children.push((node.node_id, child));
        }
        let cluster = self.spec.name.clone();
        tokio::task::spawn_blocking(move || {
            for (node_id, child) in children {
                let out = child
                    .wait_with_output()
                    .map_err(HarnessError::io("waiting for the storage tool"))?;
                if !out.status.success() {
                    let text = format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let cause = find_cause(&text).unwrap_or_default();
                    return Err(HarnessError::FormatFailed {
                        cluster: cluster.clone(),
                        node_id,
                        detail: format!("{cause}\n{}", last_lines(&text, 12)),
                    });
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| HarnessError::io("the storage format task")(std::io::Error::other(e)))?
    }

    fn spawn_node(&self, node: &Node) -> Result<()> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.jvm_out())
            .map_err(HarnessError::io(format!(
                "opening {}",
                node.jvm_out().display()
            )))?;
        let err = out
            .try_clone()
            .map_err(HarnessError::io("duplicating the jvm.out handle"))?;
        let mut flags = process_broker_jvm_flags(&self.spec);
        flags.extend(self.sharing.broker.flags());
        let mut cmd = self.java_command(flags);
        cmd.arg(format!(
            "-Dlog4j2.configurationFile={}",
            self.dist.dir.join("log4j2.properties").display()
        ))
        .arg(format!("-Dkafka.logs.dir={}", node.log_dir().display()))
        .arg("kafka.Kafka")
        .arg(node.config())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
        let child = supervisor::spawn(cmd).map_err(|e| HarnessError::BrokerStartFailed {
            cluster: self.spec.name.clone(),
            node_id: node.node_id,
            cause: format!("cannot start {}: {e}", self.java.path.display()),
            log: node.jvm_out(),
            tail: String::new(),
        })?;
        let mut guard = node.child.lock().map_err(|_| HarnessError::InvalidSpec {
            field: self.spec.name.clone(),
            reason: "broker state lock poisoned".into(),
        })?;
        *guard = Some(child);
        Ok(())
    }

    /// The JVM's pid while it runs.
    fn broker_state(n: &Node) -> (Option<u32>, bool) {
        let pid = n.pid();
        (pid, pid.is_some())
    }

    fn node(&self, node_id: u32) -> Result<&Node> {
        layout::find_node(&self.spec.name, &self.nodes, node_id)
    }

    /// The first broker whose JVM exited, as a start failure quoting its log.
    fn dead_node_error(&self) -> Option<HarnessError> {
        self.nodes.iter().find_map(|node| {
            node.exited()
                .map(|exit| start_failure(&self.spec.name, node, exit))
        })
    }

    async fn wait_ready(&self, deadline: Instant) -> Result<()> {
        let props = self.client_props();
        let check = || self.dead_node_error();
        match readiness::wait_ready(&self.spec.name, &props, self.nodes.len(), deadline, &check)
            .await
        {
            Ok(()) => Ok(()),
            Err(NotReady::Died(err)) => Err(err),
            Err(NotReady::TimedOut(cause)) => {
                let node = &self.nodes[0];
                Err(HarnessError::NotReady {
                    cluster: self.spec.name.clone(),
                    seconds: self.spec.ready_timeout_secs,
                    cause,
                    log_hint: format!(
                        "\n--- last lines of {} ---\n{}",
                        node.server_log().display(),
                        tail_of_logs(node)
                    ),
                })
            }
        }
    }

    /// The cluster id the storage was formatted with.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The JVM flags used for brokers (class-data sharing apart).
    pub fn jvm_flags(&self) -> Vec<String> {
        process_broker_jvm_flags(&self.spec)
    }

    fn kill_all(&self) {
        for node in &self.nodes {
            node.kill();
        }
    }
}

fn is_port_race(err: &HarnessError) -> bool {
    match err {
        HarnessError::BrokerStartFailed { tail, cause, .. } => {
            tail.contains("Address already in use") || cause.contains("Address already in use")
        }
        _ => false,
    }
}

fn start_failure(cluster: &str, node: &Node, exit: String) -> HarnessError {
    let tail = tail_of_logs(node);
    let cause = find_cause(&tail).map_or(exit.clone(), |c| format!("{exit}: {c}"));
    HarnessError::BrokerStartFailed {
        cluster: cluster.to_string(),
        node_id: node.node_id,
        cause,
        log: node.server_log(),
        tail,
    }
}

/// The most telling line of a broker log: a known failure, else the first ERROR.
fn find_cause(log: &str) -> Option<String> {
    const KNOWN: &[(&str, &str)] = &[
        (
            "Address already in use",
            "a listener port is already in use",
        ),
        (
            "No readable meta.properties",
            "the storage directory is not formatted",
        ),
        ("ConfigException", "a broker config value is invalid"),
        (
            "UnsupportedClassVersionError",
            "the Java runtime is too old for these jars",
        ),
        (
            "OutOfMemoryError",
            "the broker ran out of heap (raise heap_mb)",
        ),
        ("ClassNotFoundException", "the jar cache is incomplete"),
    ];
    for (needle, meaning) in KNOWN {
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return Some(format!("{meaning} ({})", line.trim()));
        }
    }
    log.lines()
        .find(|l| l.contains(" ERROR ") || l.contains("Exception"))
        .map(|l| l.trim().to_string())
}

fn tail_of_logs(node: &Node) -> String {
    let mut out = String::new();
    for path in [node.server_log(), node.jvm_out()] {
        if let Ok(text) = fs::read_to_string(&path) {
            if !text.trim().is_empty() {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push_str(&format!("[{name}]\n{}\n", last_lines(&text, 25)));
            }
        }
    }
    if out.is_empty() {
        "(the broker wrote no log)".into()
    } else {
        out
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub(crate) fn random_cluster_id() -> Result<String> {
    let mut file =
        fs::File::open("/dev/urandom").map_err(HarnessError::io("opening /dev/urandom"))?;
    loop {
        let mut bytes = [0u8; 16];
        std::io::Read::read_exact(&mut file, &mut bytes)
            .map_err(HarnessError::io("reading /dev/urandom"))?;
        if let Some(id) = cluster_id_from(&bytes) {
            return Ok(id);
        }
    }
}

/// The base64url cluster id of `bytes`, unless it starts with `-`: the storage tool would
/// read `-t -xyz…` as an option and fail (1 id in 64). Kafka's own `Uuid.randomUuid` skips
/// those too.
fn cluster_id_from(bytes: &[u8; 16]) -> Option<String> {
    let id = base64url(bytes);
    (!id.starts_with('-')).then_some(id)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[async_trait]
impl Cluster for ProcessCluster {
    layout::owned_cluster_methods!(BackendKind::Process);

    async fn stop_broker(&self, node_id: u32) -> Result<()> {
        let node = self.node(node_id)?;
        let child = node.child.lock().ok().and_then(|mut g| g.take());
        if let Some(mut child) = child {
            tokio::task::spawn_blocking(move || {
                // Controlled shutdown moves leadership away first; 30 s is generous.
                supervisor::terminate(&mut child, Duration::from_secs(30));
            })
            .await
            .map_err(|e| HarnessError::io("stopping a broker")(std::io::Error::other(e)))?;
        }
        Ok(())
    }

    async fn kill_broker(&self, node_id: u32) -> Result<()> {
        let node = self.node(node_id)?;
        node.kill();
        Ok(())
    }

    async fn start_broker(&self, node_id: u32) -> Result<()> {
        let node = self.node(node_id)?;
        if node.pid().is_some() {
            return Ok(());
        }
        node.kill(); // reap an exited child, if any
        self.spawn_node(node)?;
        let deadline = Instant::now() + self.spec.ready_timeout();
        let admin = self.admin()?.with_timeout(Duration::from_secs(2));
        loop {
            if let Some(exit) = node.exited() {
                return Err(start_failure(&self.spec.name, node, exit));
            }
            if let Ok(ids) = admin.broker_ids().await {
                if ids.contains(&(node_id as i32)) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::NotReady {
                    cluster: self.spec.name.clone(),
                    seconds: self.spec.ready_timeout_secs,
                    cause: format!("broker {node_id} did not re-register after restart"),
                    log_hint: format!("\n{}", tail_of_logs(node)),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn shutdown(&self) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // Disposable data: kill -9 is the fastest teardown and cannot hang on a lost quorum.
        self.kill_all();
        self.proxies.shutdown().await;
        self.workdir.remove();
        Ok(())
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_char_base64url() {
        let id = random_cluster_id().unwrap();
        assert_eq!(id.len(), 22);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        // An id the storage tool would take for an option is never used.
        assert_eq!(cluster_id_from(&[0xf8; 16]), None);
        assert!(cluster_id_from(&[0x00; 16]).is_some());
    }

    #[test]
    fn causes_are_found_in_broker_logs() {
        let log = "[x] INFO starting\n[y] ERROR Exiting Kafka due to fatal exception java.net.BindException: Address already in use\n";
        assert!(find_cause(log).unwrap().contains("port is already in use"));
    }
}
