//! What people and CI read: text grouped by topic with the counts on top, the JSON document
//! (`schema_version`), and JUnit with one test case per check per topic (an error finding fails
//! its case; warnings and infos go to its system-out). Findings were redacted when made.

use std::fmt::Write as _;

use quick_junit::{Report, TestCase, TestSuite};

use crate::model::{Check, CopyEstimate, Finding, PreflightReport, Severity};

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `~1.2 GB in ~3 min 20 s at 6 MB/s` and what it rests on.
pub fn estimate_line(e: &CopyEstimate) -> String {
    let size = human_bytes(e.estimated_bytes);
    match (e.estimated_seconds, e.throughput_mb_per_sec) {
        (Some(s), Some(t)) => format!(
            "copy estimate: ~{size} in ~{} at {t} MB/s ({})",
            human_duration(s),
            e.basis
        ),
        _ => format!("copy estimate: ~{size}, time unknown ({})", e.basis),
    }
}

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0 => format!("{seconds:.2} s"),
        1..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn write_finding(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "  {}[{}]: {}", f.severity, f.check.as_str(), f.message);
    if !f.fix.is_empty() {
        let _ = writeln!(out, "    fix: {}", f.fix);
    }
}

/// The text for a terminal or a CI log.
pub fn text(report: &PreflightReport) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "cutover preflight: {} → {}, topics `{}`: {}, {}, {} in {}",
        report.source.bootstrap_servers,
        report.target.bootstrap_servers,
        report.topics_regex,
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
        plural(s.infos, "info", "infos"),
        plural(s.topics, "topic", "topics"),
    );
    let cluster_wide: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.topic.is_none())
        .collect();
    if !cluster_wide.is_empty() {
        let _ = writeln!(out, "\nclusters");
        for f in cluster_wide {
            write_finding(&mut out, f);
        }
    }
    for pair in &report.topics {
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.topic.as_deref() == Some(pair.source.as_str()))
            .collect();
        let target = match pair.target_partitions {
            Some(p) => format!("{} ({p} partitions)", pair.target),
            None => format!("{} (missing)", pair.target),
        };
        let _ = writeln!(
            out,
            "\n{} ({} partitions, {} records) → {target}{}",
            pair.source,
            pair.source_partitions,
            pair.source_records,
            if found.is_empty() { ": ok" } else { "" }
        );
        for f in found {
            write_finding(&mut out, f);
        }
    }
    out
}

/// The JSON document (schema `SCHEMA_VERSION`).
pub fn json(report: &PreflightReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn case(name: String, classname: &str, found: &[&Finding]) -> TestCase {
    let errors: Vec<(String, &str)> = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.message.clone(), f.fix.as_str()))
        .collect();
    let status = reports::finding::junit_status(classname, &errors);
    let mut case = TestCase::new(name, status);
    case.set_classname(format!("preflight.{classname}"));
    let notes: Vec<String> = found
        .iter()
        .filter(|f| f.severity != Severity::Error)
        .map(|f| format!("{}[{}]: {}", f.severity, f.check.as_str(), f.message))
        .collect();
    if !notes.is_empty() {
        case.set_system_out(notes.join("\n"));
    }
    case
}

/// JUnit XML: one case per check per topic, and one per cluster-wide check.
pub fn junit(report: &PreflightReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("cutover preflight");
    let mut suite = TestSuite::new("preflight");
    let registries = report.findings.iter().any(|f| f.check == Check::Registries);
    let cluster_wide = [
        Check::Cluster,
        Check::Acls,
        Check::Estimate,
        Check::Registries,
    ];
    for check in cluster_wide {
        if check == Check::Registries && !registries {
            continue;
        }
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.topic.is_none() && f.check == check)
            .collect();
        suite.add_test_case(case(
            format!("clusters: {}", check.as_str()),
            check.as_str(),
            &found,
        ));
    }
    for pair in &report.topics {
        for check in Check::PER_TOPIC {
            let found: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.topic.as_deref() == Some(pair.source.as_str()) && f.check == check)
                .collect();
            suite.add_test_case(case(
                format!("{}: {}", pair.source, check.as_str()),
                check.as_str(),
                &found,
            ));
        }
    }
    junit.add_test_suite(suite);
    junit.to_string()
}
