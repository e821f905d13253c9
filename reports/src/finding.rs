//! What the checkers that judge configs and clusters before a run (`cutover lint`,
//! `cutover preflight`) share: the severity of a finding and its JUnit test-case status.

use quick_junit::{NonSuccessKind, TestCaseStatus};
use serde::{Deserialize, Serialize};

/// How bad a finding is: errors fail the command (exit 1), warnings and infos do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// A JUnit status for one check: success without errors, else a failure of type `kind`
/// whose message lists the errors and whose description lists their fixes (`fix: …`).
pub fn junit_status(kind: &str, errors: &[(String, &str)]) -> TestCaseStatus {
    if errors.is_empty() {
        return TestCaseStatus::success();
    }
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_type(kind.to_string()).set_message(
        errors
            .iter()
            .map(|(message, _)| message.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    s.set_description(
        errors
            .iter()
            .map(|(_, fix)| format!("fix: {fix}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_errors_first_and_a_failure_lists_messages_and_fixes() {
        assert!(Severity::Error < Severity::Warning && Severity::Warning < Severity::Info);
        assert_eq!(
            serde_json::to_string(&Severity::Warning).unwrap(),
            "\"warning\""
        );
        assert!(matches!(
            junit_status("R", &[]),
            TestCaseStatus::Success { .. }
        ));
        let s = junit_status("R1", &[("a".into(), "do x"), ("b".into(), "do y")]);
        let TestCaseStatus::NonSuccess {
            message,
            description,
            ..
        } = s
        else {
            panic!("a failure");
        };
        assert_eq!(message.as_deref(), Some("a\nb"));
        assert_eq!(description.as_deref(), Some("fix: do x\nfix: do y"));
    }
}
