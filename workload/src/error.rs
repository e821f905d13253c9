//! Errors of the workload generator.

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("{}", spec_message(.origin, *.line, .field, .reason))]
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

fn spec_message(origin: &str, line: usize, field: &str, reason: &str) -> String {
    let at = match (origin.is_empty(), line) {
        (true, _) => String::new(),
        (false, 0) => format!("{origin}: "),
        (false, l) => format!("{origin}:{l}: "),
    };
    let field = if field.is_empty() {
        String::new()
    } else {
        format!("field `{field}`: ")
    };
    format!("{at}{field}{reason}")
}
