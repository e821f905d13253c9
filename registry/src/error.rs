//! Errors of the registry crate.

use std::path::PathBuf;

/// What can go wrong fetching, starting or talking to a schema registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
    #[error("fetching Apicurio Registry {version} with Maven failed: {detail}")]
    Fetch { version: String, detail: String },
    #[error("the Apicurio Registry cache {dir} is damaged: {detail}")]
    CacheDamaged { dir: PathBuf, detail: String },
    #[error(
        "Apicurio Registry `{name}` did not become ready within {secs} s (log: {log}): {detail}"
    )]
    NotReady {
        name: String,
        secs: u64,
        log: PathBuf,
        detail: String,
    },
    #[error("{method} {url}: cannot reach the registry: {detail}")]
    Transport {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Http {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: unexpected answer: {detail}")]
    Decode { url: String, detail: String },
    #[error("schema is not valid {schema_type}: {detail}")]
    BadSchema { schema_type: String, detail: String },
}

impl RegistryError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RegistryError {
        let context = context.into();
        move |source| RegistryError::Io { context, source }
    }

    /// True for an HTTP 404 (subject, version or id unknown).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Http { status: 404, .. })
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
