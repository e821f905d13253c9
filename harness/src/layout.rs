//! The on-disk and network layout of an owned cluster (process and container backends):
//! ports, the static KRaft quorum, one directory per node with its `server.properties`, and
//! for proxied clusters the fault proxies in front of the brokers.
//!
//! Listeners of a node: the client listener (`PLAINTEXT`, or `SSL`/`SASL_SSL` on a secured
//! cluster, see [`crate::security`]), `CONTROLLER` (the quorum) and, when proxied or secured,
//! `INTERNAL` (inter-broker replication, PLAINTEXT). A proxied node advertises its client
//! listener at the proxy's port, so every client that bootstraps there crosses the proxy, while
//! `INTERNAL` and `CONTROLLER` are advertised as they are and never cross it. A proxied node
//! also has [`DIRECT_LISTENER`]: the client listener's security protocol and settings,
//! advertised at its own port, for cutover's own clients (a broker answers metadata with the
//! endpoints of the listener the request came in on, so a client bootstrapped at `DIRECT`
//! only ever learns `DIRECT` endpoints and never crosses a proxy). The proxies then carry, and
//! count, the system under test's traffic alone.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{HarnessError, Result};
use crate::ports::{self, PortReservation};
use crate::proxy::Proxy;
use crate::security::Security;
use crate::spec::ClusterSpec;

/// The name of a proxied node's listener that bypasses its proxy.
pub(crate) const DIRECT_LISTENER: &str = "DIRECT";

/// Where one node lives.
#[derive(Debug, Clone)]
pub(crate) struct NodeLayout {
    pub node_id: u32,
    /// The broker's own client listener.
    pub port: u16,
    pub controller_port: u16,
    /// Proxied clusters: the client port advertised to clients, where the node's proxy listens.
    pub proxy_port: Option<u16>,
    /// Proxied clusters: the [`DIRECT_LISTENER`], advertised as itself (no proxy).
    pub direct_port: Option<u16>,
    /// Proxied or secured clusters: the inter-broker listener, reached directly by the other
    /// brokers.
    pub internal_port: Option<u16>,
    /// `<cluster dir>/node-<id>`, holding `server.properties`, `data/` and `logs/`.
    pub dir: PathBuf,
}

impl NodeLayout {
    /// The port clients connect to: the proxy's when proxied, else the broker's.
    pub fn client_port(&self) -> u16 {
        self.proxy_port.unwrap_or(self.port)
    }

    /// The port that reaches the broker without a proxy: the direct listener's when proxied,
    /// else the client port.
    pub fn direct_client_port(&self) -> u16 {
        self.direct_port.unwrap_or(self.port)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The broker's one log directory (`log.dirs`): its partitions' data.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn server_log(&self) -> PathBuf {
        self.log_dir().join("server.log")
    }

    /// What [`crate::Cluster::brokers`] says about this node.
    pub fn broker_info(&self, pid: Option<u32>, running: bool) -> crate::cluster::BrokerInfo {
        crate::cluster::BrokerInfo {
            node_id: self.node_id,
            address: format!("127.0.0.1:{}", self.port),
            port: self.port,
            controller_port: self.controller_port,
            proxy_port: self.proxy_port,
            direct_port: self.direct_port,
            pid,
            running,
            log: Some(self.server_log()),
        }
    }
}

/// The node with `node_id` among `nodes`, or [`HarnessError::NoSuchBroker`] naming the known
/// ones.
pub(crate) fn find_node<'a, N: std::ops::Deref<Target = NodeLayout>>(
    cluster: &str,
    nodes: &'a [N],
    node_id: u32,
) -> Result<&'a N> {
    nodes
        .iter()
        .find(|n| n.node_id == node_id)
        .ok_or_else(|| HarnessError::NoSuchBroker {
            cluster: cluster.to_string(),
            node_id,
            known: nodes.iter().map(|n| n.node_id).collect(),
        })
}

/// The [`crate::Cluster`] methods every owned backend (process, container) answers the same
/// way from its `spec`, its `nodes` (each with a `layout`), its `security`, `workdir` and
/// `proxies`: name, backend, version, bootstrap servers, client properties, work dir, proxy,
/// brokers (the backend says each node's pid and whether it runs: `Self::broker_state`).
macro_rules! owned_cluster_methods {
    ($backend:expr) => {
        fn name(&self) -> &str {
            &self.spec.name
        }

        fn backend(&self) -> BackendKind {
            $backend
        }

        fn kafka_version(&self) -> Option<String> {
            Some(self.spec.kafka_version.to_string())
        }

        fn bootstrap_servers(&self) -> String {
            layout::bootstrap_servers(self.nodes.iter().map(|n| &n.layout))
        }

        fn client_props(&self) -> ClientProps {
            crate::security::owned_props(self.security.as_ref(), &self.bootstrap_servers())
        }

        fn direct_bootstrap_servers(&self) -> String {
            layout::direct_bootstrap_servers(self.nodes.iter().map(|n| &n.layout))
        }

        fn direct_client_props(&self) -> ClientProps {
            crate::security::owned_props(self.security.as_ref(), &self.direct_bootstrap_servers())
        }

        fn client_props_as(&self, user: &str) -> Result<ClientProps> {
            crate::security::owned_props_as(
                self.security.as_ref(),
                &self.spec.name,
                &self.bootstrap_servers(),
                user,
            )
        }

        fn work_dir(&self) -> Option<PathBuf> {
            Some(self.workdir.path().to_path_buf())
        }

        fn log_dirs(&self) -> Option<Vec<PathBuf>> {
            Some(self.nodes.iter().map(|n| n.layout.data_dir()).collect())
        }

        fn proxy(&self, node_id: u32) -> Option<Arc<Proxy>> {
            self.proxies.get(node_id)
        }

        fn brokers(&self) -> Vec<BrokerInfo> {
            self.nodes
                .iter()
                .map(|n| {
                    let (pid, running) = Self::broker_state(n);
                    n.layout.broker_info(pid, running)
                })
                .collect()
        }
    };
}
pub(crate) use owned_cluster_methods;

/// Reserves ports (held until the reservation is dropped, just before the brokers bind) and
/// writes every node's directory and `server.properties`.
pub(crate) fn lay_out(
    spec: &ClusterSpec,
    cluster_dir: &Path,
    security: Option<&Security>,
) -> Result<(PortReservation, Vec<NodeLayout>)> {
    let n = spec.brokers as usize;
    let internal = spec.proxied || security.is_some();
    let per_node = 2 + 2 * usize::from(spec.proxied) + usize::from(internal);
    let reservation = if spec.ports.is_empty() {
        ports::reserve(n * per_node)?
    } else {
        let mut wanted = spec.ports.clone();
        wanted.extend(ports::reserve(n * (per_node - 1))?.ports());
        ports::reserve_explicit(&wanted, &spec.name)?
    };
    // all[..n]: the ports clients bootstrap with (the explicit ones when given),
    // all[n..2n]: controllers; then, proxied only: the brokers' own client listeners and their
    // direct listeners; then, proxied or secured: inter-broker listeners.
    let all = reservation.ports();
    let internal_base = if spec.proxied { 4 * n } else { 2 * n };
    let voters = (0..n)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, all[n + i]))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let (port, proxy_port, direct_port) = if spec.proxied {
            (all[2 * n + i], Some(all[i]), Some(all[3 * n + i]))
        } else {
            (all[i], None, None)
        };
        let internal_port = internal.then(|| all[internal_base + i]);
        let node = NodeLayout {
            node_id: (i + 1) as u32,
            port,
            controller_port: all[n + i],
            proxy_port,
            direct_port,
            internal_port,
            dir: cluster_dir.join(format!("node-{}", i + 1)),
        };
        fs::create_dir_all(node.log_dir())
            .and_then(|_| fs::create_dir_all(node.data_dir()))
            .map_err(HarnessError::io(format!("creating {}", node.dir.display())))?;
        if let Some(security) = security {
            security.write_node_files(&node.dir)?;
        }
        let props = broker_properties(spec, &node, &voters, security);
        fs::write(node.config(), render_properties(&props)).map_err(HarnessError::io(format!(
            "writing {}",
            node.config().display()
        )))?;
        nodes.push(node);
    }
    Ok((reservation, nodes))
}

/// `127.0.0.1:p1,127.0.0.1:p2,…`: the ports clients use (the proxies' when proxied).
pub(crate) fn bootstrap_servers<'a>(nodes: impl Iterator<Item = &'a NodeLayout>) -> String {
    nodes
        .map(|n| format!("127.0.0.1:{}", n.client_port()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `127.0.0.1:p1,…`: the ports that reach the brokers without a proxy (the direct listeners'
/// when proxied, else the client ports).
pub(crate) fn direct_bootstrap_servers<'a>(nodes: impl Iterator<Item = &'a NodeLayout>) -> String {
    nodes
        .map(|n| format!("127.0.0.1:{}", n.direct_client_port()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The fault proxies of a proxied cluster, one per node; all stop when this is dropped, even
/// if callers still hold clones of the `Arc`s.
#[derive(Debug, Default)]
pub(crate) struct Proxies(Vec<(u32, Arc<Proxy>)>);

impl Proxies {
    /// Starts one proxy per proxied node on the port held in `reservation`, forwarding to the
    /// broker's own client listener. Jitter: the node's own stream of `seed`
    /// ([`ClusterSpec::proxy_seed`](crate::ClusterSpec::proxy_seed)).
    pub fn start<'a>(
        reservation: &mut PortReservation,
        nodes: impl Iterator<Item = &'a NodeLayout>,
        seed: u64,
    ) -> Result<Proxies> {
        let mut proxies = Proxies::default();
        for node in nodes {
            let Some(proxy_port) = node.proxy_port else {
                continue;
            };
            let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, node.port));
            let listener =
                reservation
                    .take_listener(proxy_port)
                    .ok_or_else(|| HarnessError::Proxy {
                        listen: format!("127.0.0.1:{proxy_port}"),
                        upstream: upstream.to_string(),
                        reason: "the port is not in the cluster's reservation".into(),
                    })?;
            let node_seed = crate::rng::SplitMix64::derive(seed, u64::from(node.node_id));
            let proxy = Proxy::from_std(listener, upstream, node_seed)?;
            proxies.0.push((node.node_id, Arc::new(proxy)));
        }
        Ok(proxies)
    }

    pub fn get(&self, node_id: u32) -> Option<Arc<Proxy>> {
        self.0
            .iter()
            .find(|(id, _)| *id == node_id)
            .map(|(_, p)| p.clone())
    }

    /// Stops every proxy and waits until their connections are gone.
    pub async fn shutdown(&self) {
        for (_, proxy) in &self.0 {
            proxy.shutdown().await;
        }
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for (_, proxy) in &self.0 {
            proxy.stop();
        }
    }
}

/// The full `server.properties` of one node: harness defaults, then the spec's overrides.
pub(crate) fn broker_properties(
    spec: &ClusterSpec,
    node: &NodeLayout,
    voters: &str,
    security: Option<&Security>,
) -> BTreeMap<String, String> {
    let (node_id, port, controller_port) = (node.node_id, node.port, node.controller_port);
    let n = spec.brokers;
    let rf = n.min(3).to_string();
    let min_isr = n.min(2).to_string();
    let mut p = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        p.insert(k.to_string(), v);
    };
    set("process.roles", "broker,controller".into());
    set("node.id", node_id.to_string());
    set("controller.quorum.voters", voters.to_string());
    set("controller.listener.names", "CONTROLLER".into());
    let client = security.map_or("PLAINTEXT", Security::listener_name);
    let advertised_port = node.proxy_port.unwrap_or(port);
    let mut listeners = vec![format!("{client}://127.0.0.1:{port}")];
    let mut advertised = vec![format!("{client}://127.0.0.1:{advertised_port}")];
    let mut protocols = vec!["CONTROLLER:PLAINTEXT".to_string()];
    if let Some(direct_port) = node.direct_port {
        // cutover's own clients: same protocol and security as the client listener.
        listeners.push(format!("{DIRECT_LISTENER}://127.0.0.1:{direct_port}"));
        advertised.push(format!("{DIRECT_LISTENER}://127.0.0.1:{direct_port}"));
        protocols.push(format!("{DIRECT_LISTENER}:{client}"));
    }
    if let Some(internal_port) = node.internal_port {
        // Clients learn the client listener (the proxy's port when proxied) from metadata;
        // brokers replicate over INTERNAL.
        listeners.push(format!("INTERNAL://127.0.0.1:{internal_port}"));
        advertised.push(format!("INTERNAL://127.0.0.1:{internal_port}"));
        protocols.push("INTERNAL:PLAINTEXT".into());
        set("inter.broker.listener.name", "INTERNAL".into());
    } else {
        set("inter.broker.listener.name", client.into());
    }
    listeners.push(format!("CONTROLLER://127.0.0.1:{controller_port}"));
    protocols.push(format!("{client}:{client}"));
    set("listeners", listeners.join(","));
    set("advertised.listeners", advertised.join(","));
    set("listener.security.protocol.map", protocols.join(","));
    if let Some(security) = security {
        let client_listeners: &[&str] = if node.direct_port.is_some() {
            &[client, DIRECT_LISTENER]
        } else {
            &[client]
        };
        for (k, v) in security.broker_properties(&node.dir, client_listeners) {
            set(&k, v);
        }
    }
    set("log.dirs", node.data_dir().display().to_string());
    // Migrations must create target topics deliberately; auto-creation hides mistakes.
    set("auto.create.topics.enable", "false".into());
    set("num.partitions", "1".into());
    set("default.replication.factor", rf.clone());
    set("min.insync.replicas", "1".into());
    set("offsets.topic.replication.factor", rf.clone());
    set("offsets.topic.num.partitions", "10".into());
    set("transaction.state.log.replication.factor", rf.clone());
    set("transaction.state.log.min.isr", min_isr.clone());
    set("transaction.state.log.num.partitions", "10".into());
    set("share.coordinator.state.topic.replication.factor", rf);
    set("share.coordinator.state.topic.min.isr", min_isr);
    set("group.initial.rebalance.delay.ms", "0".into());
    // Fewer threads than the defaults: four brokers share two cores.
    set("num.network.threads", "2".into());
    set("num.io.threads", "4".into());
    set("num.recovery.threads.per.data.dir", "1".into());
    set("log.cleaner.threads", "1".into());
    set("background.threads", "4".into());
    for (k, v) in &spec.broker_config {
        p.insert(k.clone(), v.clone());
    }
    p
}

fn render_properties(props: &BTreeMap<String, String>) -> String {
    let mut out = String::from("# written by cutover\n");
    for (k, v) in props {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_node_properties_use_rf3_and_min_isr2_and_overrides_win() {
        let spec = ClusterSpec::new("s")
            .brokers(3)
            .broker_config("num.partitions", "6");
        let node = NodeLayout {
            node_id: 2,
            port: 1000,
            controller_port: 2000,
            proxy_port: None,
            direct_port: None,
            internal_port: None,
            dir: PathBuf::from("/d"),
        };
        let p = broker_properties(&spec, &node, "1@a:1,2@a:2,3@a:3", None);
        assert_eq!(p["node.id"], "2");
        assert_eq!(p["transaction.state.log.replication.factor"], "3");
        assert_eq!(p["transaction.state.log.min.isr"], "2");
        assert_eq!(p["num.partitions"], "6");
        assert_eq!(
            p["listeners"],
            "PLAINTEXT://127.0.0.1:1000,CONTROLLER://127.0.0.1:2000"
        );
    }

    #[test]
    fn a_proxied_node_advertises_the_proxy_to_clients_and_replicates_directly() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ClusterSpec::new("p").brokers(3).proxied(true);
        let (mut reservation, nodes) = lay_out(&spec, dir.path(), None).unwrap();
        let mut ports: Vec<u16> = reservation.ports();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 15, "5 distinct ports per node");
        let node = &nodes[1];
        let (proxy, internal) = (node.proxy_port.unwrap(), node.internal_port.unwrap());
        let direct = node.direct_port.unwrap();
        assert_eq!(node.client_port(), proxy);
        assert_eq!(node.direct_client_port(), direct);
        let p = broker_properties(&spec, node, "v", None);
        assert_eq!(
            p["listeners"],
            format!(
                "PLAINTEXT://127.0.0.1:{},DIRECT://127.0.0.1:{direct},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{}",
                node.port, node.controller_port
            )
        );
        // Clients of the client listener learn the proxy, those of DIRECT the broker itself.
        assert_eq!(
            p["advertised.listeners"],
            format!(
                "PLAINTEXT://127.0.0.1:{proxy},DIRECT://127.0.0.1:{direct},INTERNAL://127.0.0.1:{internal}"
            )
        );
        assert_eq!(
            p["listener.security.protocol.map"],
            "CONTROLLER:PLAINTEXT,DIRECT:PLAINTEXT,INTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        );
        assert_eq!(p["inter.broker.listener.name"], "INTERNAL");
        let text = std::fs::read_to_string(node.config()).unwrap();
        assert!(
            text.contains("inter.broker.listener.name=INTERNAL"),
            "{text}"
        );
        assert_eq!(
            bootstrap_servers(nodes.iter()),
            nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.proxy_port.unwrap()))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            direct_bootstrap_servers(nodes.iter()),
            nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.direct_port.unwrap()))
                .collect::<Vec<_>>()
                .join(",")
        );
        // Not proxied: unchanged, and direct is the client port.
        let plain = ClusterSpec::new("q");
        let (_r, plain_nodes) = lay_out(&plain, dir.path().join("q").as_path(), None).unwrap();
        assert_eq!(plain_nodes[0].proxy_port, None);
        assert_eq!(plain_nodes[0].client_port(), plain_nodes[0].port);
        assert_eq!(plain_nodes[0].direct_port, None);
        assert_eq!(plain_nodes[0].direct_client_port(), plain_nodes[0].port);
        let p = broker_properties(&plain, &plain_nodes[0], "v", None);
        assert_eq!(p["inter.broker.listener.name"], "PLAINTEXT");
        assert!(!p["listeners"].contains("INTERNAL"));
        assert!(!p["listeners"].contains("DIRECT"));
        // The proxies take their ports over from the reservation.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let proxies = Proxies::start(&mut reservation, nodes.iter(), 7).unwrap();
            for n in &nodes {
                let proxy = proxies.get(n.node_id).unwrap();
                assert_eq!(proxy.addr().port(), n.proxy_port.unwrap());
                assert_eq!(proxy.upstream().port(), n.port);
            }
            assert!(!reservation.ports().contains(&proxy));
            assert!(proxies.get(9).is_none());
        });
    }

    #[test]
    fn explicit_ports_of_a_proxied_cluster_are_the_proxies() {
        let dir = tempfile::tempdir().unwrap();
        let free = ports::reserve(1).unwrap().ports()[0];
        let mut spec = ClusterSpec::new("x").proxied(true);
        spec.ports = vec![free];
        let (_r, nodes) = lay_out(&spec, dir.path(), None).unwrap();
        assert_eq!(nodes[0].proxy_port, Some(free));
        assert_ne!(nodes[0].port, free);
    }

    #[test]
    fn layout_writes_one_dir_and_config_per_node_on_distinct_ports() {
        let dir = tempfile::tempdir().unwrap();
        let (reservation, nodes) =
            lay_out(&ClusterSpec::new("x").brokers(3), dir.path(), None).unwrap();
        assert_eq!(nodes.len(), 3);
        let mut ports: Vec<u16> = reservation.ports();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 6);
        let text = std::fs::read_to_string(nodes[2].config()).unwrap();
        assert!(text.contains("node.id=3"));
        assert!(text.contains(&format!(
            "controller.quorum.voters=1@127.0.0.1:{}",
            nodes[0].controller_port
        )));
    }
}
