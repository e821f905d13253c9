//! Errors of the workload generator.

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("{}", harness::error::located_message(.origin, *.line, .field, .reason))]
    Spec {
        origin: String,
        line: usize,
        field: String,
        reason: String,
    },
    #[error("producer {producer}: {detail}")]
    Kafka { producer: String, detail: String },
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
}
