//! The `external` backend: a cluster cutover did not create, reached by bootstrap servers and
//! the Java-client properties users already have. Read-only: connecting only asks for
//! metadata, and broker controls are refused.

use async_trait::async_trait;
use tokio::time::Instant;

use crate::client_props::ClientProps;
use crate::cluster::{not_owned, BrokerInfo, Cluster};
use crate::error::{HarnessError, Result};
use crate::spec::{BackendKind, ClusterSpec};

/// An existing cluster.
pub struct ExternalCluster {
    spec: ClusterSpec,
    props: ClientProps,
}

impl ExternalCluster {
    /// Builds the client properties and checks that the metadata answers in time.
    pub async fn connect(spec: ClusterSpec) -> Result<ExternalCluster> {
        spec.validate()?;
        let mut props = ClientProps::new();
        for (k, v) in &spec.client_properties {
            props.set(k.clone(), v.clone());
        }
        if let Some(bootstrap) = &spec.bootstrap_servers {
            props.set("bootstrap.servers", bootstrap.clone());
        }
        // Fail on untranslatable properties before any connection attempt.
        props.to_rdkafka()?;
        let cluster = ExternalCluster { spec, props };
        let admin = cluster
            .admin()?
            .with_timeout(std::time::Duration::from_secs(2));
        let deadline = Instant::now() + cluster.spec.ready_timeout();
        let mut last;
        loop {
            match admin.broker_ids().await {
                Ok(ids) if !ids.is_empty() => return Ok(cluster),
                Ok(_) => last = "the metadata lists no broker".into(),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    cluster: cluster.spec.name.clone(),
                    seconds: cluster.spec.ready_timeout_secs,
                    cause: last,
                    log_hint: format!(
                        "\ncheck bootstrap.servers ({}) and the security settings",
                        cluster.bootstrap_servers()
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

#[async_trait]
impl Cluster for ExternalCluster {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn backend(&self) -> BackendKind {
        BackendKind::External
    }

    fn kafka_version(&self) -> Option<String> {
        None
    }

    fn bootstrap_servers(&self) -> String {
        self.props
            .bootstrap_servers()
            .unwrap_or_default()
            .to_string()
    }

    fn client_props(&self) -> ClientProps {
        self.props.clone()
    }

    fn brokers(&self) -> Vec<BrokerInfo> {
        Vec::new()
    }

    async fn stop_broker(&self, _node_id: u32) -> Result<()> {
        Err(not_owned(
            &self.spec.name,
            BackendKind::External,
            "stop a broker",
        ))
    }

    async fn kill_broker(&self, _node_id: u32) -> Result<()> {
        Err(not_owned(
            &self.spec.name,
            BackendKind::External,
            "kill a broker",
        ))
    }

    async fn start_broker(&self, _node_id: u32) -> Result<()> {
        Err(not_owned(
            &self.spec.name,
            BackendKind::External,
            "start a broker",
        ))
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}
