//! Why a file could not be linted at all (the CLI exits 2 with it). Findings about a file that
//! was read are not errors: they are [`crate::Finding`]s.

/// A configuration file that could not be read, parsed or recognised.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not what its format requires; `expected` says what was expected there.
    #[error("{file}:{line}: expected {expected}")]
    Parse {
        file: String,
        line: usize,
        expected: String,
    },
    /// The built-in replicator's own loader refused the file (hard errors: unknown keys,
    /// contradictions); its message already names file, line and key.
    #[error("{0}")]
    Replicator(#[from] replicator::error::ReplicatorError),
    /// Parsed, but not a configuration `cutover lint` knows.
    #[error("{file}: {reason}")]
    Unrecognised { file: String, reason: String },
}
