//! Errors of the replicator.

/// Why the replicator could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ReplicatorError {
    /// The configuration is wrong: where, which key, what was expected.
    #[error(transparent)]
    Config(#[from] located::Located),
    /// A Kafka operation failed; `what` names the cluster, topic, partition and offset involved.
    #[error("{what}: {detail}")]
    Kafka { what: String, detail: String },
    /// Offsets could not be translated for a consumer group.
    #[error("offsets sync of group {group}: {reason}")]
    OffsetsSync { group: String, reason: String },
    /// The schema registries could not be copied (conflicts, unreachable, versions drift).
    #[error("schema registries: {0}")]
    Schemas(#[from] crate::schemas::SchemaError),
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ReplicatorError {
    pub(crate) fn kafka(
        what: impl Into<String>,
        detail: impl std::fmt::Display,
    ) -> ReplicatorError {
        ReplicatorError::Kafka {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// True when the error comes from bad input (the CLI exits 2 with it, as for any error).
    pub fn is_config(&self) -> bool {
        matches!(self, ReplicatorError::Config(_))
    }
}

pub type Result<T, E = ReplicatorError> = std::result::Result<T, E>;
