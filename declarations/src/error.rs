//! Why declarations could not be read. A malformed document is an input error located the
//! workspace's way (`located`): `file:line: field `spec.partitions`: expected a whole number
//! from 1, found `three``, then the offending line with a caret.

use located::Located;

/// Declarations that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationsError {
    /// A file that cannot be read, a YAML syntax error, or a document that is not a resource
    /// cutover reads as its format defines it: file, line, field and what was expected.
    #[error("{0}")]
    Input(Box<Located>),
    /// A directory given holds no `*.yml` or `*.yaml` file (searched recursively).
    #[error("{path}: no *.yml or *.yaml file under it")]
    NoFiles { path: String },
    /// A directory given cannot be listed.
    #[error("{path}: cannot list: {source}")]
    List {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<Located> for DeclarationsError {
    fn from(located: Located) -> Self {
        DeclarationsError::Input(Box::new(located))
    }
}

impl DeclarationsError {
    /// The located input error, if this is one (tests and callers that echo the line).
    pub fn located(&self) -> Option<&Located> {
        match self {
            DeclarationsError::Input(l) => Some(l),
            _ => None,
        }
    }
}
