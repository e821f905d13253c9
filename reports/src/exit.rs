//! cutover's exit codes, stable for CI gating, in a library so the binary and the tests name
//! the same constants (as nextest's `NextestExitCode` does) instead of bare numbers.

use crate::model::Outcome;

/// The process exit codes of every `cutover` command.
#[derive(Debug)]
pub enum CutoverExitCode {}

impl CutoverExitCode {
    /// Success: a verdict passed, a command did what it was asked.
    pub const OK: i32 = 0;
    /// The system under test failed (anomalies found, never caught up); `lint`/`preflight`:
    /// findings at the failing severity; `doctor`: not ready.
    pub const FAILED: i32 = 1;
    /// cutover could not decide: bad input (file, line, field), a cluster that failed to
    /// start, a verdict of status unknown, an internal error, Ctrl-C during a run.
    pub const ERROR: i32 = 2;

    /// The exit code of a run's outcome.
    pub fn of_outcome(outcome: Outcome) -> i32 {
        match outcome {
            Outcome::Pass => Self::OK,
            Outcome::Fail => Self::FAILED,
            Outcome::Aborted | Outcome::Unknown => Self::ERROR,
        }
    }

    /// The exit code of a checker's verdict status.
    pub fn of_status(status: verdict::Status) -> i32 {
        match status {
            verdict::Status::Pass => Self::OK,
            verdict::Status::Fail => Self::FAILED,
            verdict::Status::Unknown => Self::ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecided_outcome_is_an_error_not_a_failure() {
        assert_eq!(CutoverExitCode::of_outcome(Outcome::Pass), 0);
        assert_eq!(CutoverExitCode::of_outcome(Outcome::Fail), 1);
        assert_eq!(CutoverExitCode::of_outcome(Outcome::Unknown), 2);
        assert_eq!(CutoverExitCode::of_outcome(Outcome::Aborted), 2);
        assert_eq!(CutoverExitCode::of_status(verdict::Status::Unknown), 2);
    }
}
