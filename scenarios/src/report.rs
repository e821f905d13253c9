//! The run's outputs: what the scenario adds to the report (its file, redacted, and the
//! client library's version) before the `reports` crate writes `report.json`, `junit.xml`,
//! `summary.md` and `report.html`.

use std::path::Path;

use reports::{RunReport, WriteOptions};

use crate::error::ScenarioError;
use crate::spec::Scenario;

/// Completes the report with what the scenario knows and writes every output into `dir`.
pub fn write(report: &mut RunReport, scenario: &Scenario, dir: &Path) -> Result<(), ScenarioError> {
    write_with_source(report, &scenario.text, &scenario.origin, dir)
}

/// [`write`] for a run described by another file (a rehearsal): `text` is echoed redacted.
pub fn write_with_source(
    report: &mut RunReport,
    text: &str,
    origin: &str,
    dir: &Path,
) -> Result<(), ScenarioError> {
    if !text.is_empty() {
        report.scenario_text = Some(text.to_string());
    }
    if !origin.is_empty() {
        report.scenario_file = Some(origin.to_string());
    }
    report.librdkafka_version = Some(rdkafka::util::get_rdkafka_version().1);
    reports::write_all(report, dir, WriteOptions::default())?;
    Ok(())
}
