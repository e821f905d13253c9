//! # reports — what people and CI read after a run
//!
//! Owns the versioned report model ([`RunReport`], `report.json`, documented in
//! `docs/report-schema.md`) and renders it: `junit.xml` (quick-junit), `summary.md`
//! (GitHub-flavoured Markdown) and `report.html` (one self-contained page with SVG plots).
//! Everything here is fed by the run's data alone: it never talks to a cluster, and it never
//! lets a secret through (configs echoed into a report are redacted, see [`redact`]).

pub mod diff;
pub mod digest;
pub mod exit;
pub mod finding;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod reasons;
pub mod redact;
pub mod svg;
pub mod timeline;

use std::path::{Path, PathBuf};

pub use diff::{diff, Diff};
pub use exit::CutoverExitCode;
pub use finding::Severity;
pub use junit::JunitOptions;
pub use model::{
    Class, CountBounds, DelayBucket, DelayStats, Drain, Expectation, FaultEvent, GroupCutover,
    Outcome, Reason, RebalanceEvent, Rebalances, RegistriesSection, RegistryFinding,
    RehearsalSummary, RunClass, RunKind, RunReport, Sample, SchemaRecordClass, TopicWindow,
    WorkloadSummary, SCHEMA_MINOR, SCHEMA_VERSION,
};

/// Why a report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: no such report (a report.json is written by `cutover run` and by `cutover verify --report-dir`)", .path.display())]
    Missing { path: PathBuf },
    #[error("{}: report schema_version {found} is newer than this cutover understands (up to {supported}); read it with a newer cutover", .path.display())]
    NewerSchema {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("{}: not a cutover report.json: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering {0}")]
    Render(String),
}

/// The files a report directory holds.
pub const REPORT_JSON: &str = "report.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const SUMMARY_MD: &str = "summary.md";
pub const REPORT_HTML: &str = "report.html";

/// What the writers do beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    pub junit: JunitOptions,
}

/// Fills what the model derives from itself and makes it safe to publish: the schema
/// version, the delay estimate (from the series, when absent), the time of writing, and
/// every echoed config redacted.
pub fn prepare(report: &mut RunReport) {
    if report.schema_version == 0 {
        report.schema_version = SCHEMA_VERSION;
    }
    // The first minor of a major is 0: the max is a no-op until the next additive revision.
    #[allow(clippy::unnecessary_min_or_max)]
    {
        report.schema_minor = report.schema_minor.max(SCHEMA_MINOR);
    }
    if report.delay.is_none() {
        report.delay = timeline::delay(&report.series);
    }
    if report.finished_at.is_none() {
        report.finished_at =
            Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    }
    redact::redact_report(report);
}

/// Writes `report.json`, `junit.xml`, `summary.md` and `report.html` into `dir` (created if
/// needed), after [`prepare`]. Each file is replaced atomically.
pub fn write_all(
    report: &mut RunReport,
    dir: &Path,
    options: WriteOptions,
) -> Result<(), ReportError> {
    prepare(report);
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| ReportError::Render(format!("report.json: {e}")))?;
    write_file(dir, REPORT_JSON, &json)?;
    render_into(report, dir, options)
}

/// Writes the derived files (`junit.xml`, `summary.md`, `report.html`) from a report.
pub fn render_into(
    report: &RunReport,
    dir: &Path,
    options: WriteOptions,
) -> Result<(), ReportError> {
    // Redact again: a hand-edited or older report.json must not leak through a re-render.
    let mut report = report.clone();
    redact::redact_report(&mut report);
    // A report written before the delay estimate existed still gets one.
    if report.delay.is_none() {
        report.delay = timeline::delay(&report.series);
    }
    write_file(
        dir,
        JUNIT_XML,
        &junit::render(std::slice::from_ref(&report), options.junit)?,
    )?;
    write_file(dir, SUMMARY_MD, &markdown::render(&report))?;
    write_file(dir, REPORT_HTML, &html::render(&report))?;
    Ok(())
}

/// Re-renders `DIR/summary.md`, `DIR/report.html` and `DIR/junit.xml` from `DIR/report.json`.
pub fn rerender(dir: &Path, options: WriteOptions) -> Result<RunReport, ReportError> {
    let report = load(&dir.join(REPORT_JSON))?;
    render_into(&report, dir, options)?;
    Ok(report)
}

/// Reads a `report.json`, refusing a newer major schema.
pub fn load(path: &Path) -> Result<RunReport, ReportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReportError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    parse(&text, path)
}

/// Parses `report.json` text (`path` names it in errors).
pub fn parse(text: &str, path: &Path) -> Result<RunReport, ReportError> {
    let invalid = |reason: String| ReportError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| invalid("no schema_version".into()))?;
    if version > u64::from(SCHEMA_VERSION) {
        return Err(ReportError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), ReportError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ReportError {
    move |source| ReportError::Io { what, source }
}
