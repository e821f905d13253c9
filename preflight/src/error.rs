//! Why a preflight could not decide (exit 2): bad options, or a cluster or schema registry it
//! cannot reach.

/// A preflight that could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("invalid option {option}: {reason}")]
    InvalidOption { option: String, reason: String },
    #[error("{side} cluster: {source}")]
    Cluster {
        side: &'static str,
        #[source]
        source: harness::HarnessError,
    },
    /// A schema registry that cannot be reached or read (its URL and the cause are in
    /// `source`; credentials never are).
    #[error("schema registry `{name}`: {source}")]
    Registry {
        name: String,
        #[source]
        source: Box<registry::RegistryError>,
    },
}
