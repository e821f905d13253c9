//! The [`Cluster`] trait that every backend implements, and [`start`], which picks the backend.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::admin::Admin;
use crate::client_props::ClientProps;
use crate::error::{HarnessError, Result};
use crate::proxy::Proxy;
use crate::spec::{BackendKind, ClusterSpec};

/// One broker of an owned cluster.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: u32,
    /// The broker's own client listener (`127.0.0.1:port`).
    pub address: String,
    pub port: u16,
    pub controller_port: u16,
    /// Proxied clusters: the port of the fault proxy in front of this broker, which is what
    /// the broker advertises to clients.
    pub proxy_port: Option<u16>,
    /// Proxied clusters: the broker's `DIRECT` listener, advertised as itself, which clients
    /// reach without crossing the proxy (see [`Cluster::direct_client_props`]).
    pub direct_port: Option<u16>,
    /// OS pid of the broker JVM (process backend) while it runs.
    pub pid: Option<u32>,
    pub running: bool,
    /// The broker's log file.
    pub log: Option<PathBuf>,
}

/// A running (or reachable) Kafka cluster. Owned clusters (process, container) can also
/// stop, kill and restart single brokers; the external backend refuses those with
/// [`HarnessError::NotOwned`].
#[async_trait]
pub trait Cluster: Send + Sync {
    /// The spec's name.
    fn name(&self) -> &str;
    fn backend(&self) -> BackendKind;
    /// The Kafka version of an owned cluster.
    fn kafka_version(&self) -> Option<String>;
    /// `host:port,host:port` (the fault proxies' when proxied).
    fn bootstrap_servers(&self) -> String;
    /// Java-client-style properties for clients of this cluster: on a proxied cluster they
    /// bootstrap through the fault proxies, and every broker they learn is a proxy, so all
    /// their traffic crosses the proxies. Give these to the system under test.
    fn client_props(&self) -> ClientProps;
    /// `host:port,host:port` of the brokers' `DIRECT` listener on a proxied cluster, which
    /// advertises the brokers themselves: clients bootstrapping here never cross a proxy.
    /// Equal to [`Cluster::bootstrap_servers`] on clusters without proxies.
    fn direct_bootstrap_servers(&self) -> String {
        self.bootstrap_servers()
    }
    /// [`Cluster::client_props`] bootstrapping at [`Cluster::direct_bootstrap_servers`]: for
    /// the harness's and cutover's own clients (workload, samplers, checker, fault proofs),
    /// whose traffic must not cross, be faulted by, or be counted by the proxies. Equal to
    /// `client_props` on clusters without proxies.
    fn direct_client_props(&self) -> ClientProps {
        self.client_props()
    }
    /// Java-client properties of SASL user `user` of an owned `sasl_ssl` cluster (for systems
    /// under test that run with their own principal and ACLs).
    fn client_props_as(&self, user: &str) -> Result<ClientProps> {
        Err(HarnessError::InvalidSpec {
            field: format!("{}.users", self.name()),
            reason: format!(
                "cluster `{}` has no SASL users (only owned `sasl_ssl` clusters do), so it cannot connect as `{user}`",
                self.name()
            ),
        })
    }
    /// The brokers of an owned cluster (empty for external).
    fn brokers(&self) -> Vec<BrokerInfo>;
    /// Where this cluster keeps its files (process backend).
    fn work_dir(&self) -> Option<PathBuf> {
        None
    }

    /// The brokers' log directories (`log.dirs`), for reading what their log cleaners did
    /// ([`crate::cleaner`]); `None` for a cluster cutover did not start.
    fn log_dirs(&self) -> Option<Vec<PathBuf>> {
        None
    }

    /// The fault proxy in front of broker `node_id` (clusters started with
    /// [`ClusterSpec::proxied`]; `None` otherwise). It stops with the cluster.
    fn proxy(&self, _node_id: u32) -> Option<Arc<Proxy>> {
        None
    }

    /// Every fault proxy, in broker order (empty unless proxied).
    fn proxies(&self) -> Vec<Arc<Proxy>> {
        self.brokers()
            .iter()
            .filter_map(|b| self.proxy(b.node_id))
            .collect()
    }

    /// Graceful stop of one broker (SIGTERM, controlled shutdown).
    async fn stop_broker(&self, node_id: u32) -> Result<()>;
    /// kill -9 of one broker.
    async fn kill_broker(&self, node_id: u32) -> Result<()>;
    /// Starts a stopped or killed broker again and waits until it serves.
    async fn start_broker(&self, node_id: u32) -> Result<()>;
    /// Stops every broker and removes the temp dir (unless kept). Idempotent; Drop does the
    /// same without waiting.
    async fn shutdown(&self) -> Result<()>;

    /// An admin client for this cluster, on [`Cluster::direct_client_props`]: the harness's
    /// own requests never cross (nor are counted by, nor are faulted by) a fault proxy.
    fn admin(&self) -> Result<Admin> {
        Admin::new(self.name(), &self.direct_client_props())
    }
}

/// Starts (or reaches) the cluster `spec` describes; returns when it is ready.
pub async fn start(spec: &ClusterSpec) -> Result<Box<dyn Cluster>> {
    spec.validate()?;
    let cluster = start_backend(spec).await?;
    if !spec.acls.is_empty() {
        // Created as the harness's super user; the cluster stops (Drop) if this fails.
        cluster.admin()?.create_acls(&spec.acls).await?;
        tracing::info!(cluster = %spec.name, acls = spec.acls.len(), "ACLs created");
    }
    Ok(cluster)
}

async fn start_backend(spec: &ClusterSpec) -> Result<Box<dyn Cluster>> {
    match spec.backend {
        BackendKind::Process => Ok(Box::new(
            crate::process::ProcessCluster::start(spec.clone()).await?,
        )),
        BackendKind::Container => Ok(Box::new(
            crate::container::ContainerCluster::start(spec.clone()).await?,
        )),
        BackendKind::External => Ok(Box::new(
            crate::external::ExternalCluster::connect(spec.clone()).await?,
        )),
    }
}

pub(crate) fn not_owned(
    cluster: &str,
    backend: BackendKind,
    operation: &'static str,
) -> HarnessError {
    HarnessError::NotOwned {
        cluster: cluster.to_string(),
        backend: backend.as_str(),
        operation,
    }
}
