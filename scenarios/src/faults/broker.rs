//! The verbs on the brokers of one cluster: kill-broker (kill -9), stop-broker (graceful),
//! each restarted after the duration when given, and bounce-brokers (every broker stopped and
//! restarted in turn). Proven by a refused connect on the broker's own port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::Cluster;

use super::verbs::{DurationUse, FaultVerb, VerbCheck};
use super::FaultTargets;
use crate::spec::Side;

/// `kill-broker` (kill -9) or `stop-broker` (graceful stop) of one broker, restarted after
/// the duration (never when absent).
pub struct BrokerDown {
    pub cluster: Side,
    /// The broker's node id (1 to the cluster's `brokers`).
    pub node: u32,
    /// kill -9 (`kill-broker`) rather than a graceful stop (`stop-broker`).
    pub kill: bool,
}

#[async_trait]
impl FaultVerb for BrokerDown {
    fn name(&self) -> &'static str {
        if self.kill {
            "kill-broker"
        } else {
            "stop-broker"
        }
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Optional
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        let spec = if self.cluster == Side::Source {
            &check.scenario.source
        } else {
            &check.scenario.target
        };
        if self.node == 0 || self.node > spec.brokers {
            return Err((
                "node".into(),
                format!(
                    "expected a node id from 1 to {} (the {:?} cluster's brokers)",
                    spec.brokers, self.cluster
                ),
            ));
        }
        Ok(())
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let (c, node) = (on.cluster(self.cluster), self.node);
        if self.kill {
            c.kill_broker(node).await.map_err(|e| e.to_string())?;
        } else {
            c.stop_broker(node).await.map_err(|e| e.to_string())?;
        }
        let down = broker_down(&c, node).await?;
        if let Some(d) = duration {
            tokio::time::sleep(d).await;
            c.start_broker(node).await.map_err(|e| e.to_string())?;
            return Ok(format!("{down}; restarted"));
        }
        Ok(down)
    }
}

/// `bounce-brokers`: every broker of the cluster stopped and restarted in turn, the duration
/// apart.
pub struct BounceBrokers {
    pub cluster: Side,
}

#[async_trait]
impl FaultVerb for BounceBrokers {
    fn name(&self) -> &'static str {
        "bounce-brokers"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let c = on.cluster(self.cluster);
        let mut seen = Vec::new();
        for b in c.brokers() {
            c.stop_broker(b.node_id).await.map_err(|e| e.to_string())?;
            seen.push(broker_down(&c, b.node_id).await?);
            c.start_broker(b.node_id).await.map_err(|e| e.to_string())?;
            tokio::time::sleep(duration.unwrap_or_default()).await;
        }
        Ok(format!("{}; each restarted", seen.join("; ")))
    }
}

/// Proof that a stopped or killed broker no longer answers on its own listener.
async fn broker_down(cluster: &Arc<dyn Cluster>, node: u32) -> Result<String, String> {
    let Some(b) = cluster.brokers().into_iter().find(|b| b.node_id == node) else {
        return Err(format!(
            "the {} cluster has no broker {node}",
            cluster.name()
        ));
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], b.port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await
                .is_ok_and(|r| r.is_ok());
        if !answered {
            return Ok(format!(
                "broker {node} of the {} cluster no longer answers on port {}",
                cluster.name(),
                b.port
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "broker {node} of the {} cluster still accepts connections on port {} 10 s later",
                cluster.name(),
                b.port
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
