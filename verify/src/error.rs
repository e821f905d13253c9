//! Errors of the checker.

/// Why a verification could not decide.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("spilling sorted runs to a temp file failed: {0} (check free space in $TMPDIR)")]
    Spill(std::io::Error),
    #[error("cluster `{cluster}`: {detail}")]
    Kafka { cluster: String, detail: String },
    #[error("topic `{topic}` does not exist on the {side} cluster")]
    MissingTopic { topic: String, side: &'static str },
    #[error("invalid option {option}: {reason}")]
    InvalidOption { option: String, reason: String },
    #[error("{side} records must be pushed in offset order: {offset} came after {previous}")]
    OutOfOrder {
        side: &'static str,
        previous: i64,
        offset: i64,
    },
    #[error("group `{group}`: {detail}")]
    Group { group: String, detail: String },
    #[error("merging partial verdicts: {0}")]
    Merge(String),
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
}

impl VerifyError {
    pub(crate) fn spill(e: std::io::Error) -> VerifyError {
        VerifyError::Spill(e)
    }
}
