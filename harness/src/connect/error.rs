//! Errors of the Connect cluster and its REST client, each naming the cause and what to look at.

use std::path::PathBuf;

use crate::error::HarnessError;

/// A failed call to a Connect worker's REST API.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// No HTTP answer: connection refused, reset or timed out.
    #[error("{method} {url}: no answer from the Connect worker: {detail}")]
    Transport {
        method: &'static str,
        url: String,
        detail: String,
    },

    /// An answer outside 2xx; `message` is Connect's `{"error_code", "message"}` text when the
    /// body has one, else the body. 409 means a rebalance is in progress or the config moved.
    #[error("{method} {url}: HTTP {status}: {message}")]
    Http {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },

    /// A 2xx answer whose body is not what the API documents.
    #[error("{url}: unexpected answer: {detail}")]
    Decode { url: String, detail: String },
}

impl RestError {
    /// The HTTP status of an answer outside 2xx.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for 409 Conflict: Connect refuses writes while its group rebalances or a config
    /// change is in flight ("Cannot complete request momentarily due to stale configuration"),
    /// and accepts them again once the rebalance is over.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// True for 404: no such connector (or task).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Errors of [`crate::connect::ConnectCluster`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Java, the jar cache, ports or the work dir.
    #[error(transparent)]
    Harness(#[from] HarnessError),

    #[error(transparent)]
    Rest(#[from] RestError),

    #[error("invalid Connect cluster spec: {field}: {reason}")]
    InvalidSpec { field: String, reason: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("Connect worker {worker} exited ({status}) before it was ready\n--- last lines of {log} ---\n{tail}")]
    WorkerExited {
        worker: String,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error("the Connect workers did not form a group within {seconds} s: {detail} (see the worker logs in {logs})")]
    NotFormed {
        seconds: u64,
        detail: String,
        logs: PathBuf,
    },

    #[error("no Connect worker {index} is running (running: {running:?})")]
    NoSuchWorker { index: u32, running: Vec<u32> },

    #[error("connector `{connector}` was not running within {seconds} s: {detail}{}", trace_suffix(.trace))]
    NotRunning {
        connector: String,
        seconds: u64,
        detail: String,
        /// The first FAILED connector's or task's Java stack trace, as Connect reports it.
        trace: Option<String>,
    },

    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout { seconds: u64, what: String },
}

fn trace_suffix(trace: &Option<String>) -> String {
    match trace {
        Some(t) => format!("\n--- trace ---\n{t}"),
        None => String::new(),
    }
}

impl ConnectError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ConnectError {
        let context = context.into();
        move |source| ConnectError::Io { context, source }
    }
}

/// Result alias of the Connect module.
pub type Result<T, E = ConnectError> = std::result::Result<T, E>;
