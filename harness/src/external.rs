//! The `external` backend: a cluster cutover did not create, reached by bootstrap servers and
//! the Java-client properties users already have. Read-only: connecting only asks for
//! metadata, and broker controls are refused. Connecting is bounded
//! ([`ClusterSpec::connect_timeout_secs`], 30 s by default) and a failure names its cause
//! and the property to fix ([`crate::diagnose`]).

use async_trait::async_trait;
use std::time::Duration;

use crate::client_props::ClientProps;
use crate::cluster::{not_owned, BrokerInfo, Cluster};
use crate::error::Result;
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
        let timeout = Duration::from_secs(cluster.spec.connect_timeout_secs.max(1));
        let ok = crate::diagnose::check(&cluster.spec.name, &cluster.props, &[], timeout).await?;
        tracing::debug!(
            cluster = %cluster.spec.name,
            brokers = ok.broker_ids.len(),
            elapsed_ms = ok.elapsed.as_millis() as u64,
            "external cluster answers"
        );
        Ok(cluster)
    }

    /// Checks that the cluster's principal may describe `topics` (a missing ACL is reported
    /// as such, with the ACL to ask for).
    pub async fn check_topics(&self, topics: &[String]) -> Result<()> {
        let timeout = Duration::from_secs(self.spec.connect_timeout_secs.max(1));
        crate::diagnose::check(&self.spec.name, &self.props, topics, timeout)
            .await
            .map(|_| ())
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
