//! What people and CI read: `file:line: error[REP001]: message` text, stable JSON, and JUnit
//! with one test case per rule per file. Findings were redacted when they were made.

use std::fmt::Write as _;

use quick_junit::{Report, TestCase, TestSuite};

use crate::rules::RULES;
use crate::{LintReport, Severity};

/// The text for a terminal or a CI log.
pub fn text(report: &LintReport) -> String {
    let mut out = String::new();
    for file in &report.files {
        for f in &file.findings {
            let _ = writeln!(
                out,
                "{}:{}: {}[{}]: {}",
                f.file, f.line, f.severity, f.rule, f.message
            );
            let _ = writeln!(out, "  fix: {}", f.fix);
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} {}, {} {}, {} {} in {} {}",
        s.errors,
        plural(s.errors, "error", "errors"),
        s.warnings,
        plural(s.warnings, "warning", "warnings"),
        s.infos,
        plural(s.infos, "info", "infos"),
        s.files,
        plural(s.files, "file", "files"),
    );
    out
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The JSON document (schema `SCHEMA_VERSION`).
pub fn json(report: &LintReport) -> String {
    serde_json::to_string_pretty(report).expect("the lint report always serialises")
}

/// JUnit XML: a suite per file, a case per rule that applies to the file's tool; a rule with an
/// error finding fails, warnings and infos go to the case's system-out.
pub fn junit(report: &LintReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("cutover lint");
    for file in &report.files {
        let mut suite = TestSuite::new(file.file.clone());
        for rule in RULES.iter().filter(|r| r.tools.contains(&file.tool)) {
            let found: Vec<_> = file.findings.iter().filter(|f| f.rule == rule.id).collect();
            let errors: Vec<(String, &str)> = found
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| {
                    (
                        format!("{}:{}: {}", f.file, f.line, f.message),
                        f.fix.as_str(),
                    )
                })
                .collect();
            let status = reports::finding::junit_status(rule.id, &errors);
            let mut case = TestCase::new(format!("{} {}", rule.id, rule.title), status);
            case.set_classname(file.file.clone());
            let notes: Vec<String> = found
                .iter()
                .filter(|f| f.severity != Severity::Error)
                .map(|f| {
                    format!(
                        "{}:{}: {}[{}]: {}\n  fix: {}",
                        f.file, f.line, f.severity, f.rule, f.message, f.fix
                    )
                })
                .collect();
            if !notes.is_empty() {
                case.set_system_out(notes.join("\n"));
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string()
}
