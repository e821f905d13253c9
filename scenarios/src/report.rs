//! The run's outputs: what the scenario adds to the report (its file, redacted, and the
//! client library's version) before the `reports` crate writes `report.json`, `junit.xml`,
//! `summary.md` and `report.html`.

use std::path::Path;

use reports::{RunReport, WriteOptions};

use crate::error::ScenarioError;
use crate::spec::Scenario;

/// Completes the report with what the scenario knows and writes every output into `dir`.
pub fn write(report: &mut RunReport, scenario: &Scenario, dir: &Path) -> Result<(), ScenarioError> {
    if !scenario.text.is_empty() {
        report.scenario_text = Some(scenario.text.clone());
    }
    if !scenario.origin.is_empty() {
        report.scenario_file = Some(scenario.origin.clone());
    }
    report.librdkafka_version = Some(rdkafka::util::get_rdkafka_version().1);
    reports::write_all(report, dir, WriteOptions::default())?;
    Ok(())
}
