//! `report.json` (versioned schema) and `junit.xml` (one test case per scenario, a failure per
//! anomaly class) from a run's report.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::ScenarioError;
use crate::runner::{Outcome, RunReport};

/// Writes `report.json` and `junit.xml` into `dir`.
pub fn write(report: &RunReport, dir: &Path) -> Result<(), ScenarioError> {
    let json =
        serde_json::to_string_pretty(report).map_err(|e| ScenarioError::System(e.to_string()))?;
    let path = dir.join("report.json");
    std::fs::write(&path, json)
        .map_err(ScenarioError::io(format!("writing {}", path.display())))?;
    let path = dir.join("junit.xml");
    std::fs::write(&path, junit(std::slice::from_ref(report)))
        .map_err(ScenarioError::io(format!("writing {}", path.display())))?;
    Ok(())
}

/// JUnit XML for several runs (one test case each).
pub fn junit(reports: &[RunReport]) -> String {
    let failures = reports
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .count();
    let errors = reports
        .iter()
        .filter(|r| r.outcome == Outcome::Aborted)
        .count();
    let time: f64 = reports.iter().map(|r| r.duration_secs).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.1}\">",
        reports.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"cutover\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.1}\">",
        reports.len()
    );
    for r in reports {
        let _ = writeln!(
            out,
            "    <testcase classname=\"cutover.scenario\" name=\"{}\" time=\"{:.1}\">",
            esc(&r.scenario),
            r.duration_secs
        );
        match r.outcome {
            Outcome::Pass => {}
            Outcome::Aborted => {
                let _ = writeln!(
                    out,
                    "      <error type=\"aborted\" message=\"the run was interrupted\"/>"
                );
            }
            Outcome::Fail => {
                for f in &r.failures {
                    let kind = f.split_whitespace().nth(1).unwrap_or("failure");
                    let mut body = String::new();
                    if let Some(v) = &r.verdict {
                        for t in &v.topics {
                            for e in t.examples.iter().filter(|e| class_str(e.class) == kind) {
                                let _ = writeln!(
                                    body,
                                    "{}",
                                    serde_json::to_string(e).unwrap_or_default()
                                );
                            }
                        }
                    }
                    let _ = writeln!(
                        out,
                        "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                        esc(kind),
                        esc(f),
                        esc(&body)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            esc(&format!(
                "system: {}; seed {}; report.json has the fault timeline and series",
                r.system, r.seed
            ))
        );
        let _ = writeln!(out, "    </testcase>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn class_str(c: verify::verdict::AnomalyClass) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
