//! Shared by the tests that run a scenario through the binary: `cutover run FILE`, one at a
//! time per test binary, its report read back.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `cutover run FILE [extra args]`; returns (exit code, report.json, report dir, output).
pub fn run(scenario: &Path, extra: &[&str]) -> (i32, serde_json::Value, tempfile::TempDir, String) {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg(scenario)
        .args(extra)
        .arg("--report-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = std::fs::read_to_string(dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    eprintln!("{stdout}");
    (out.status.code().unwrap_or(-1), json, dir, stdout + &stderr)
}

/// A record-level class's count in a report (0 when absent).
pub fn count(report: &serde_json::Value, class: &str) -> u64 {
    report["verdict"]["counts"][class].as_u64().unwrap_or(0)
}
