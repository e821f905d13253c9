//! Errors of the scenario runner.

/// Why a scenario could not be run (exit 2), as opposed to a run whose system failed (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file is wrong: where, which field, what was expected.
    #[error(transparent)]
    Spec(#[from] located::Located),
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
    #[error(transparent)]
    Workload(#[from] workload::WorkloadError),
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error(transparent)]
    Report(#[from] reports::ReportError),
    #[error("system under test: {0}")]
    System(String),
    /// A `cutover sweep` setting that does not fit the scenario.
    #[error("{0}")]
    Sweep(String),
    #[error("fault {name} at {at_secs} s: {reason}")]
    Fault {
        name: String,
        at_secs: f64,
        reason: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ScenarioError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScenarioError {
        let what = what.into();
        move |source| ScenarioError::Io { what, source }
    }
}
