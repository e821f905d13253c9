//! Why a preflight could not decide (exit 2): bad options or a cluster it cannot reach.

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
}
