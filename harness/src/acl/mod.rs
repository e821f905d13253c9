//! Kafka ACLs: create, describe and delete them through librdkafka's C admin API, and decide
//! what a set of ACLs permits.
//!
//! rust-rdkafka has no ACL API, so this module calls `rd_kafka_CreateAcls`,
//! `rd_kafka_DescribeAcls` and `rd_kafka_DeleteAcls` itself, on a blocking thread with a
//! queue of its own, and frees every C object it creates (RAII guards). Two outcomes a
//! migration check must report in words are typed apart ([`AclError`]): a cluster without an
//! authorizer (`SECURITY_DISABLED`: it has no ACLs at all) and a principal that may not
//! describe or change ACLs (`CLUSTER_AUTHORIZATION_FAILED`). DescribeCluster (cluster id, broker
//! count, the client's authorized cluster operations) is here too, as it answers the same
//! "what may this client do" question.
//!
//! [`permits`] evaluates ACLs the way Kafka's `StandardAuthorizer` does for the cases a
//! migration cares about. It cannot know the cluster's `super.users` or
//! `allow.everyone.if.no.acl.found`; it says [`Decision::NoMatchingAcl`] and leaves those to
//! the caller.
//!
//! Where it lives: [`model`] (the ACL vocabulary and its parsing), [`authorizer`]
//! (`StandardAuthorizer`'s rules: [`permits`]), `ffi` (the unsafe librdkafka admin calls) and
//! here the [`Admin`] methods and [`AclError`].

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::admin::Admin;
use crate::error::HarnessError;

pub mod authorizer;
mod ffi;
pub mod model;

pub use authorizer::{permits, Decision};
pub use ffi::ClusterDescription;
pub use model::*;

use ffi::*;

/// An ACL request that failed.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// The cluster runs without an authorizer: it has no ACLs and checks nothing.
    #[error(
        "cluster `{cluster}` has no authorizer configured (security disabled), so it keeps no \
         ACLs and every client may do everything: {detail}"
    )]
    SecurityDisabled { cluster: String, detail: String },

    /// The client's principal may not describe (or, to create or delete, alter) the cluster's
    /// ACLs.
    #[error(
        "{operation} on cluster `{cluster}` is not authorized: the client's principal needs \
         {needed} on the Cluster resource (or to be a super user): {detail}"
    )]
    NotAuthorized {
        cluster: String,
        operation: String,
        needed: &'static str,
        detail: String,
    },

    /// Any other failure (unreachable broker, invalid ACL, timeout), with the broker's message.
    #[error(transparent)]
    Harness(#[from] HarnessError),
}

impl From<AclError> for HarnessError {
    fn from(e: AclError) -> HarnessError {
        match e {
            AclError::Harness(h) => h,
            AclError::SecurityDisabled { cluster, detail } => HarnessError::Kafka {
                cluster,
                operation: "an ACL request".into(),
                detail: format!("security disabled (no authorizer configured): {detail}"),
            },
            AclError::NotAuthorized {
                cluster,
                operation,
                detail,
                ..
            } => HarnessError::Kafka {
                cluster,
                operation,
                detail: format!("cluster authorization failed: {detail}"),
            },
        }
    }
}

impl Admin {
    /// Runs a blocking ACL request on a blocking thread and puts its failure in words.
    async fn acl_request<T: Send + 'static>(
        &self,
        operation: &str,
        needed: &'static str,
        call: impl FnOnce(&AdminClient<DefaultClientContext>, Duration) -> Result<T, RawError>
            + Send
            + 'static,
    ) -> Result<T, AclError> {
        let (cluster, client, timeout): (&str, Arc<_>, Duration) = self.native_parts();
        tokio::task::spawn_blocking(move || call(&client, timeout))
            .await
            .map_err(|e| {
                AclError::Harness(HarnessError::Kafka {
                    cluster: cluster.to_string(),
                    operation: operation.to_string(),
                    detail: format!("the blocking ACL request failed: {e}"),
                })
            })?
            .map_err(|e| e.into_acl_error(cluster, operation, needed))
    }

    /// Creates `acls` (all or, on the first failure, an error naming the ACL).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), AclError> {
        if acls.is_empty() {
            return Ok(());
        }
        let acls = acls.to_vec();
        let operation = format!("creating {} ACL(s)", acls.len());
        self.acl_request(&operation, "Alter", move |client, timeout| {
            create_blocking(client, timeout, &acls)
        })
        .await
    }

    /// The ACLs matching `filter`, sorted.
    ///
    /// librdkafka (2.12) drops the top-level error of a DescribeAcls response, so a cluster
    /// without an authorizer and a principal without Describe on the cluster both look like
    /// "no ACLs". An empty answer is therefore checked: the brokers' `authorizer.class.name`
    /// (DescribeConfigs) tells security disabled apart, DescribeCluster's authorized
    /// operations tell a principal that may not describe.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, AclError> {
        let filter = filter.clone();
        let acls = self
            .acl_request("describing ACLs", "Describe", move |client, timeout| {
                describe_blocking(client, timeout, &filter)
            })
            .await?;
        if acls.is_empty() {
            self.explain_no_acls().await?;
        }
        Ok(acls)
    }

    /// The cluster id, broker count and the client's authorized cluster operations.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, AclError> {
        self.acl_request(
            "describing the cluster",
            "Describe",
            describe_cluster_blocking,
        )
        .await
    }

    /// Errs when an empty DescribeAcls answer hides "security disabled" or "not authorized".
    async fn explain_no_acls(&self) -> Result<(), AclError> {
        let (cluster, client, timeout) = self.native_parts();
        let cluster = cluster.to_string();
        if let Some(id) = self.broker_ids().await?.first() {
            let options = rdkafka::admin::AdminOptions::new().operation_timeout(Some(timeout));
            let results = client
                .describe_configs([&rdkafka::admin::ResourceSpecifier::Broker(*id)], &options)
                .await;
            // A failure here (typically not authorized) leaves the question to DescribeCluster.
            if let Ok(Some(Ok(resource))) = results.map(|r| r.into_iter().next()) {
                let authorizer = resource
                    .entries
                    .iter()
                    .find(|e| e.name == "authorizer.class.name");
                if let Some(entry) = authorizer {
                    if entry.value.as_deref().unwrap_or("").trim().is_empty() {
                        return Err(AclError::SecurityDisabled {
                            cluster,
                            detail: format!("broker {id} has an empty `authorizer.class.name`"),
                        });
                    }
                }
            }
        }
        let description = self.describe_cluster().await?;
        if description.may(AclOperation::Describe) == Some(false) {
            return Err(AclError::NotAuthorized {
                cluster,
                operation: "describing ACLs".into(),
                needed: "Describe",
                detail: "the cluster's authorized operations for this principal lack Describe"
                    .into(),
            });
        }
        Ok(())
    }

    /// Deletes the ACLs matching `filter` and returns them, sorted.
    pub async fn delete_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, AclError> {
        let filter = filter.clone();
        self.acl_request("deleting ACLs", "Alter", move |client, timeout| {
            delete_blocking(client, timeout, &filter)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
