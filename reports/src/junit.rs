//! `junit.xml` through quick-junit: one test suite per invocation, one test case per scenario
//! (and one per topic when asked). A failing case's message names each class and count
//! (`lost: 17 in orders.3 [3 partitions]`); system-out carries the examples.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::digest::{self, example_line};
use crate::model::{Outcome, RunKind, RunReport};
use crate::ReportError;

/// Examples per class in a test case's system-out.
pub const EXAMPLES_PER_CLASS: usize = 5;

/// What the JUnit file holds besides one case per scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct JunitOptions {
    /// Also one test case per topic (`<scenario>/<topic>`).
    pub per_topic: bool,
}

/// JUnit XML for the runs of one invocation.
pub fn render(reports: &[RunReport], options: JunitOptions) -> Result<String, ReportError> {
    let mut suite = TestSuite::new("cutover");
    let mut total = Duration::ZERO;
    for r in reports {
        let time = Duration::try_from_secs_f64(r.duration_secs).unwrap_or_default();
        total += time;
        suite.add_test_case(scenario_case(r, time));
        if options.per_topic {
            suite.add_test_cases(topic_cases(r));
        }
    }
    if let [only] = reports {
        suite.add_property(Property::new("seed", only.seed.to_string()));
        suite.add_property(Property::new("cutover", only.cutover_version.clone()));
        if let Some(v) = &only.source_kafka {
            suite.add_property(Property::new("source-kafka", v.clone()));
        }
        if let Some(v) = &only.target_kafka {
            suite.add_property(Property::new("target-kafka", v.clone()));
        }
    }
    suite.set_time(total);
    let mut report = Report::new("cutover");
    report.set_time(total);
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| ReportError::Render(format!("junit.xml: {e}")))
}

fn case_name(r: &RunReport) -> String {
    match r.kind {
        RunKind::Scenario => r.scenario.clone(),
        RunKind::Verify => format!("verify {}", r.scenario),
        RunKind::Rehearsal => format!("rehearse {}", r.scenario),
    }
}

fn scenario_case(r: &RunReport, time: Duration) -> TestCase {
    let classes = digest::classes(r, EXAMPLES_PER_CLASS);
    let status = match r.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Aborted | Outcome::Unknown => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type(if r.outcome == Outcome::Aborted {
                "aborted"
            } else {
                "unknown"
            })
            .set_message(if r.outcome == Outcome::Aborted {
                "the run was interrupted".to_string()
            } else {
                match r.undecided.first() {
                    Some(why) => format!("the run could not decide: {why}"),
                    None => "the run could not decide".to_string(),
                }
            })
            .set_description(
                r.failures
                    .iter()
                    .chain(&r.undecided)
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            s
        }
        Outcome::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let mut lines: Vec<String> = classes.iter().map(|c| c.headline()).collect();
            for f in r.failures.iter().filter(|f| !f.is_anomaly_count()) {
                lines.push(f.to_string());
            }
            // The first class: an anomaly class, else the first run-level class.
            let ty = classes
                .first()
                .map(|c| c.class.to_string())
                .or_else(|| r.failures.first().map(|f| f.class.to_string()))
                .unwrap_or_else(|| "failure".to_string());
            s.set_type(ty)
                .set_message(lines.join("; "))
                .set_description(lines.join("\n"));
            s
        }
    };
    let mut case = TestCase::new(case_name(r), status);
    case.set_classname(match r.kind {
        RunKind::Scenario => "cutover.scenario",
        RunKind::Verify => "cutover.verify",
        RunKind::Rehearsal => "cutover.rehearsal",
    })
    .set_time(time);
    let mut out = String::new();
    let _ = writeln!(out, "{}", digest::verdict_line(r));
    let _ = writeln!(
        out,
        "system: {}; seed {}; cutover {}; source Kafka {}; target Kafka {}",
        if r.system.is_empty() { "-" } else { &r.system },
        r.seed,
        r.cutover_version,
        r.source_kafka.as_deref().unwrap_or("-"),
        r.target_kafka.as_deref().unwrap_or("-")
    );
    for c in &classes {
        let _ = writeln!(out, "{}", c.headline());
        for e in &c.examples {
            let _ = writeln!(out, "  e.g. {}", example_line(e));
        }
    }
    for f in &r.faults {
        let _ = writeln!(
            out,
            "fault {} at {:.1}–{:.1} s{}",
            f.kind,
            f.start_secs,
            f.end_secs,
            if f.error.is_empty() {
                String::new()
            } else {
                format!(" (not applied: {})", f.error)
            }
        );
    }
    let _ = write!(
        out,
        "report.json, summary.md and report.html hold the timeline and all examples"
    );
    case.set_system_out(out);
    case
}

fn topic_cases(r: &RunReport) -> Vec<TestCase> {
    let Some(v) = &r.verdict else {
        return Vec::new();
    };
    v.topics
        .iter()
        .map(|t| {
            let status = if t.counts.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let lines: Vec<String> = t
                    .counts
                    .0
                    .iter()
                    .map(|(c, n)| {
                        let parts = t.partitions.iter().filter(|p| p.counts.get(*c) > 0).count();
                        format!(
                            "{c}: {n} in {} [{parts} partition{}]",
                            t.source_topic,
                            digest::plural(parts)
                        )
                    })
                    .collect();
                s.set_message(lines.join("; "));
                s
            };
            let mut case = TestCase::new(format!("{}/{}", case_name(r), t.source_topic), status);
            case.set_classname("cutover.topic");
            let examples: Vec<String> = t
                .examples
                .iter()
                .take(EXAMPLES_PER_CLASS * 2)
                .map(|e| format!("e.g. {}", example_line(e)))
                .collect();
            if !examples.is_empty() {
                case.set_system_out(examples.join("\n"));
            }
            case
        })
        .collect()
}
