//! The `container` backend: one container per node through testcontainers and a Docker engine.
//!
//! Nodes run with host networking and the cluster's temp dir bind-mounted at the same path, so
//! configs, data and logs are where the process backend keeps them and the same readiness
//! check and log quoting apply. The image is the user's (`image` in the spec, which must have
//! `java` on its PATH and Kafka's jars in `/opt/kafka/libs`, as the official `apache/kafka`
//! image does) or `cutover/kafka:<version>`, built locally from the cached jars and the local
//! JDK with `FROM scratch` when missing, so no registry is needed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use testcontainers::core::{Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client_props::ClientProps;
use crate::cluster::{BrokerInfo, Cluster};
use crate::dist::KafkaDist;
use crate::error::{HarnessError, Result};
use crate::java::JavaRuntime;
use crate::layout::{self, NodeLayout, Proxies};
use crate::process::broker_jvm_flags;
use crate::proxy::Proxy;
use crate::readiness::{self, NotReady};
use crate::security::Security;
use crate::spec::{BackendKind, ClusterSpec};
use crate::workdir::WorkDir;

/// Label put on every container, with the owning pid, so stale ones can be found.
pub const OWNER_LABEL: &str = "dev.cutover.owner-pid";

/// Where the Docker engine's API socket is (`DOCKER_HOST=unix://…` or the default).
pub fn docker_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// Pings the engine; `Err` says why it is not usable.
pub fn engine_available() -> std::result::Result<(), String> {
    let socket = docker_socket();
    let mut stream = std::os::unix::net::UnixStream::connect(&socket)
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("writing to {}: {e}", socket.display()))?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| format!("reading from {}: {e}", socket.display()))?;
    if reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "{} answered: {}",
            socket.display(),
            reply.lines().next().unwrap_or("")
        ))
    }
}

/// Removes containers left by cutover processes that no longer exist (a SIGKILLed run cannot
/// stop its containers; its brokers would otherwise hold their host ports). Best effort.
pub fn sweep_stale_containers() -> usize {
    let Ok(out) = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label={OWNER_LABEL}")])
        .arg(format!(
            "--format={{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}"
        ))
        .output()
    else {
        return 0;
    };
    let mut removed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(pid)) = (
            parts.next(),
            parts.next().and_then(|p| p.parse::<u32>().ok()),
        ) else {
            continue;
        };
        if pid != std::process::id() && !crate::supervisor::is_alive(pid) {
            let rm = Command::new("docker").args(["rm", "-f", id]).output();
            if rm.is_ok_and(|o| o.status.success()) {
                removed += 1;
            }
        }
    }
    removed
}

struct ContainerNode {
    layout: NodeLayout,
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
}

impl std::ops::Deref for ContainerNode {
    type Target = NodeLayout;
    fn deref(&self) -> &NodeLayout {
        &self.layout
    }
}

/// A cluster of broker containers.
pub struct ContainerCluster {
    spec: ClusterSpec,
    image: String,
    workdir: WorkDir,
    nodes: Vec<ContainerNode>,
    /// One per broker when the spec is proxied; stopped on shutdown and drop.
    proxies: Proxies,
    /// TLS material and users of a secured cluster (files in the node dirs, which are mounted).
    security: Option<Security>,
}

fn container_err(what: &str, e: impl std::fmt::Display) -> HarnessError {
    HarnessError::Container(format!("{what}: {e}"))
}

impl ContainerCluster {
    pub async fn start(spec: ClusterSpec) -> Result<ContainerCluster> {
        spec.validate()?;
        engine_available().map_err(|detail| HarnessError::DockerUnavailable { detail })?;
        let swept = tokio::task::spawn_blocking(sweep_stale_containers)
            .await
            .unwrap_or(0);
        if swept > 0 {
            tracing::info!(swept, "removed containers left by dead cutover runs");
        }
        let image = match &spec.image {
            Some(image) => image.clone(),
            None => {
                let dist = KafkaDist::ensure(&spec.kafka_version, |_| {}).await?;
                let version = spec.kafka_version.to_string();
                tokio::task::spawn_blocking(move || ensure_local_image(&dist, &version))
                    .await
                    .map_err(|e| container_err("building the image", e))??
            }
        };
        let workdir = WorkDir::create(&spec.name, spec.keep)?;
        let security = Security::for_spec(&spec, workdir.path())?;
        // The container runs as root and writes into the mount; let the host user clean up.
        let n = spec.brokers as usize;
        let (mut reservation, layouts) = layout::lay_out(&spec, workdir.path(), security.as_ref())?;
        let cluster_id = crate::process::random_cluster_id()?;
        let mut nodes = Vec::with_capacity(n);
        for layout in layouts {
            std::fs::write(
                layout.dir.join("log4j2.properties"),
                crate::dist::LOG4J2_CONFIG,
            )
            .map_err(HarnessError::io("writing log4j2.properties"))?;
            nodes.push(ContainerNode {
                layout,
                container: Mutex::new(None),
            });
        }
        let mut cluster = ContainerCluster {
            spec,
            image,
            workdir,
            nodes,
            proxies: Proxies::default(),
            security,
        };
        for node in &cluster.nodes {
            cluster.run_format(node, &cluster_id).await?;
        }
        // Host networking: the proxies run here and reach the brokers on 127.0.0.1.
        cluster.proxies = Proxies::start(
            &mut reservation,
            cluster.nodes.iter().map(|n| &n.layout),
            cluster.spec.proxy_seed,
        )?;
        drop(reservation);
        for node in &cluster.nodes {
            cluster.run_broker(node).await?;
        }
        let props = cluster.client_props();
        let check = || None;
        let deadline = Instant::now() + cluster.spec.ready_timeout();
        match readiness::wait_ready(&cluster.spec.name, &props, n, deadline, &check).await {
            Ok(()) => Ok(cluster),
            Err(NotReady::Died(e)) => Err(e),
            Err(NotReady::TimedOut(cause)) => Err(HarnessError::NotReady {
                cluster: cluster.spec.name.clone(),
                seconds: cluster.spec.ready_timeout_secs,
                cause,
                log_hint: format!(
                    "\nsee {}",
                    cluster.nodes[0].dir.join("logs/server.log").display()
                ),
            }),
        }
    }

    fn request(
        &self,
        node: &ContainerNode,
        args: Vec<String>,
    ) -> testcontainers::ContainerRequest<GenericImage> {
        let (name, tag) = split_image(&self.image);
        let dir = node.dir.display().to_string();
        GenericImage::new(name, tag)
            .with_entrypoint("java")
            .with_wait_for(WaitFor::Nothing)
            .with_network("host")
            .with_mount(Mount::bind_mount(dir.clone(), dir))
            .with_label(OWNER_LABEL, std::process::id().to_string())
            .with_label("dev.cutover.cluster", self.spec.name.clone())
            .with_cmd(args)
    }

    fn java_args(node: &ContainerNode, mut flags: Vec<String>, main: &[String]) -> Vec<String> {
        flags.push(format!(
            "-Dlog4j2.configurationFile={}",
            node.dir.join("log4j2.properties").display()
        ));
        flags.push(format!(
            "-Dkafka.logs.dir={}",
            node.dir.join("logs").display()
        ));
        flags.push("-cp".into());
        flags.push("/opt/kafka/libs/*".into());
        flags.extend(main.iter().cloned());
        flags
    }

    async fn run_format(&self, node: &ContainerNode, cluster_id: &str) -> Result<()> {
        let config = node.config().display().to_string();
        let mut main = vec![
            "kafka.tools.StorageTool".to_string(),
            "format".into(),
            "-t".into(),
            cluster_id.into(),
            "-c".into(),
            config,
        ];
        main.extend(self.security.iter().flat_map(Security::format_args));
        let args = Self::java_args(
            node,
            vec!["-Xmx256m".into(), "-XX:TieredStopAtLevel=1".into()],
            &main,
        );
        let container = self
            .request(node, args)
            .start()
            .await
            .map_err(|e| container_err("starting the storage format container", e))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(code) = container
                .exit_code()
                .await
                .map_err(|e| container_err("waiting for the storage format", e))?
            {
                if code != 0 {
                    let mut out = container.stdout_to_vec().await.unwrap_or_default();
                    out.extend(container.stderr_to_vec().await.unwrap_or_default());
                    return Err(HarnessError::FormatFailed {
                        cluster: self.spec.name.clone(),
                        node_id: node.node_id,
                        detail: String::from_utf8_lossy(&out).into_owned(),
                    });
                }
                let _ = container.rm().await;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(container_err(
                    "storage format",
                    "did not finish within 120 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn run_broker(&self, node: &ContainerNode) -> Result<()> {
        let config = node.config().display().to_string();
        let args = Self::java_args(
            node,
            broker_jvm_flags(self.spec.heap_mb),
            &["kafka.Kafka".into(), config],
        );
        let container = self
            .request(node, args)
            .with_container_name(format!(
                "cutover-{}-{}-{}",
                std::process::id(),
                self.spec.name,
                node.node_id
            ))
            .start()
            .await
            .map_err(|e| container_err(&format!("starting broker {}", node.node_id), e))?;
        *node.container.lock().await = Some(container);
        Ok(())
    }

    /// A container has no pid here; it runs while it exists.
    fn broker_state(n: &ContainerNode) -> (Option<u32>, bool) {
        let running = n.container.try_lock().map(|c| c.is_some()).unwrap_or(true);
        (None, running)
    }

    fn node(&self, node_id: u32) -> Result<&ContainerNode> {
        layout::find_node(&self.spec.name, &self.nodes, node_id)
    }

    /// The image the nodes run.
    pub fn image(&self) -> &str {
        &self.image
    }
}

fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Builds `cutover/kafka:<version>` from the cached jars and the local JDK when the engine
/// does not have it: a `FROM scratch` image holding the JDK, the shared libraries it links,
/// and the jars. Needs the `docker` CLI.
pub fn ensure_local_image(dist: &KafkaDist, version: &str) -> Result<String> {
    let tag = format!("cutover/kafka:{version}");
    let inspect = Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()
        .map_err(|e| {
            container_err(
                "running `docker image inspect` (is the docker CLI installed?)",
                e,
            )
        })?;
    if inspect.status.success() {
        return Ok(tag);
    }
    let java = JavaRuntime::locate()?;
    let java_real = std::fs::canonicalize(&java.path).map_err(HarnessError::io(format!(
        "resolving {}",
        java.path.display()
    )))?;
    let java_home = java_real
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| container_err("finding JAVA_HOME", java_real.display()))?
        .to_path_buf();
    let ctx = tempfile::tempdir().map_err(HarnessError::io("creating the image build context"))?;
    let root = ctx.path().join("rootfs");
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let out = cmd.output().map_err(|e| container_err(what, e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(container_err(what, String::from_utf8_lossy(&out.stderr)))
        }
    };
    std::fs::create_dir_all(root.join("opt/kafka"))
        .and_then(|_| std::fs::create_dir_all(root.join("tmp")))
        .map_err(HarnessError::io("laying out the image rootfs"))?;
    // -L: Debian's JDK links config files into /etc; the image needs the files themselves.
    // Dangling links are skipped (cp exits non-zero for them), hence the check below.
    let _ = Command::new("cp")
        .arg("-rL")
        .arg(&java_home)
        .arg(root.join("opt/java"))
        .output();
    if !root.join("opt/java/bin/java").exists() {
        return Err(container_err("copying the JDK", java_home.display()));
    }
    run(
        Command::new("cp")
            .arg("-r")
            .arg(dist.dir.join("libs"))
            .arg(root.join("opt/kafka/libs")),
        "copying the Kafka jars",
    )?;
    // Every shared library the JDK links, with the dynamic loader.
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -name '*.so' -o -path '*/bin/java' | xargs ldd 2>/dev/null | grep -o '/[^ ]*' | sort -u",
            root.join("opt/java").display()
        ))
        .output()
        .map_err(|e| container_err("listing the JDK's shared libraries", e))?;
    for lib in String::from_utf8_lossy(&listing.stdout).lines() {
        let lib = lib.trim();
        if lib.is_empty() || lib.contains("/opt/java") || !Path::new(lib).exists() {
            continue;
        }
        let dest = root.join(lib.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(HarnessError::io("creating lib dirs"))?;
        }
        let real =
            std::fs::canonicalize(lib).map_err(HarnessError::io(format!("resolving {lib}")))?;
        std::fs::copy(&real, &dest).map_err(HarnessError::io(format!("copying {lib}")))?;
    }
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/opt/java/bin JAVA_HOME=/opt/java\nENTRYPOINT [\"java\"]\n",
    )
    .map_err(HarnessError::io("writing the Dockerfile"))?;
    run(
        Command::new("docker")
            .args(["build", "-q", "-t", &tag])
            .arg(ctx.path()),
        "docker build of the local Kafka image",
    )?;
    Ok(tag)
}

#[async_trait]
impl Cluster for ContainerCluster {
    layout::owned_cluster_methods!(BackendKind::Container);

    async fn stop_broker(&self, node_id: u32) -> Result<()> {
        let node = self.node(node_id)?;
        if let Some(c) = node.container.lock().await.take() {
            c.stop_with_timeout(Some(30))
                .await
                .map_err(|e| container_err("stopping a broker", e))?;
            let _ = c.rm().await;
        }
        Ok(())
    }

    async fn kill_broker(&self, node_id: u32) -> Result<()> {
        let node = self.node(node_id)?;
        if let Some(c) = node.container.lock().await.take() {
            c.stop_with_timeout(Some(0))
                .await
                .map_err(|e| container_err("killing a broker", e))?;
            let _ = c.rm().await;
        }
        Ok(())
    }

    async fn start_broker(&self, node_id: u32) -> Result<()> {
        let node = self.node(node_id)?;
        if node.container.lock().await.is_some() {
            return Ok(());
        }
        self.run_broker(node).await?;
        let admin = self.admin()?;
        let deadline = Instant::now() + self.spec.ready_timeout();
        while Instant::now() < deadline {
            if let Ok(ids) = admin.broker_ids().await {
                if ids.contains(&(node_id as i32)) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(HarnessError::NotReady {
            cluster: self.spec.name.clone(),
            seconds: self.spec.ready_timeout_secs,
            cause: format!("broker {node_id} did not re-register after restart"),
            log_hint: String::new(),
        })
    }

    async fn shutdown(&self) -> Result<()> {
        self.proxies.shutdown().await;
        for node in &self.nodes {
            if let Some(c) = node.container.lock().await.take() {
                let _ = c.stop_with_timeout(Some(0)).await;
                let _ = c.rm().await;
            }
        }
        // Files written by root inside the container: removed by the WorkDir drop.
        self.workdir.remove();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_name_and_tag() {
        assert_eq!(
            split_image("apache/kafka:4.1.1"),
            ("apache/kafka".into(), "4.1.1".into())
        );
        assert_eq!(
            split_image("localhost:5000/kafka"),
            ("localhost:5000/kafka".into(), "latest".into())
        );
    }
}
