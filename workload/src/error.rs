//! Errors of the workload generator.

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The spec is wrong: file, line, field, what was expected, the line echoed.
    #[error(transparent)]
    Spec(#[from] located::Located),
    #[error("producer {producer}: {detail}")]
    Kafka { producer: String, detail: String },
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
}
