//! The on-disk and network layout of an owned cluster (process and container backends):
//! ports, the static KRaft quorum, one directory per node with its `server.properties`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};
use crate::ports::{self, PortReservation};
use crate::spec::ClusterSpec;

/// Where one node lives.
#[derive(Debug, Clone)]
pub(crate) struct NodeLayout {
    pub node_id: u32,
    pub port: u16,
    pub controller_port: u16,
    /// `<cluster dir>/node-<id>`, holding `server.properties`, `data/` and `logs/`.
    pub dir: PathBuf,
}

impl NodeLayout {
    pub fn config(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn server_log(&self) -> PathBuf {
        self.log_dir().join("server.log")
    }
}

/// Reserves ports (held until the reservation is dropped, just before the brokers bind) and
/// writes every node's directory and `server.properties`.
pub(crate) fn lay_out(
    spec: &ClusterSpec,
    cluster_dir: &Path,
) -> Result<(PortReservation, Vec<NodeLayout>)> {
    let n = spec.brokers as usize;
    let reservation = if spec.ports.is_empty() {
        ports::reserve(n * 2)?
    } else {
        let mut wanted = spec.ports.clone();
        wanted.extend(ports::reserve(n)?.ports());
        ports::reserve_explicit(&wanted, &spec.name)?
    };
    let all = reservation.ports();
    let voters = (0..n)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, all[n + i]))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let node = NodeLayout {
            node_id: (i + 1) as u32,
            port: all[i],
            controller_port: all[n + i],
            dir: cluster_dir.join(format!("node-{}", i + 1)),
        };
        fs::create_dir_all(node.log_dir())
            .and_then(|_| fs::create_dir_all(node.dir.join("data")))
            .map_err(HarnessError::io(format!("creating {}", node.dir.display())))?;
        let props = broker_properties(
            spec,
            node.node_id,
            node.port,
            node.controller_port,
            &voters,
            &node.dir,
        );
        fs::write(node.config(), render_properties(&props)).map_err(HarnessError::io(format!(
            "writing {}",
            node.config().display()
        )))?;
        nodes.push(node);
    }
    Ok((reservation, nodes))
}

/// `127.0.0.1:p1,127.0.0.1:p2,…`
pub(crate) fn bootstrap_servers<'a>(nodes: impl Iterator<Item = &'a NodeLayout>) -> String {
    nodes
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// The full `server.properties` of one node: harness defaults, then the spec's overrides.
pub(crate) fn broker_properties(
    spec: &ClusterSpec,
    node_id: u32,
    port: u16,
    controller_port: u16,
    voters: &str,
    dir: &Path,
) -> BTreeMap<String, String> {
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
    set(
        "listeners",
        format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
    );
    set(
        "advertised.listeners",
        format!("PLAINTEXT://127.0.0.1:{port}"),
    );
    set("controller.listener.names", "CONTROLLER".into());
    set("inter.broker.listener.name", "PLAINTEXT".into());
    set(
        "listener.security.protocol.map",
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
    );
    set("log.dirs", dir.join("data").display().to_string());
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
        let p = broker_properties(&spec, 2, 1000, 2000, "1@a:1,2@a:2,3@a:3", Path::new("/d"));
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
    fn layout_writes_one_dir_and_config_per_node_on_distinct_ports() {
        let dir = tempfile::tempdir().unwrap();
        let (reservation, nodes) = lay_out(&ClusterSpec::new("x").brokers(3), dir.path()).unwrap();
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
