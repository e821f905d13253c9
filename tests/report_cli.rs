//! `cutover report` and `cutover diff` from the outside: exit codes and messages on missing or
//! newer-major report.json files, re-rendering, regression exit code. No Kafka here.

use reports::CutoverExitCode;

use std::path::Path;
use std::process::{Command, Output};

use reports::{Outcome, RunReport, Sample};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn cutover(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run cutover")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_report(dir: &Path, outcome: Outcome, rate: i64) {
    let mut r = RunReport::new("smoke");
    r.outcome = outcome;
    r.series = (0..20)
        .map(|i| Sample {
            at_secs: i as f64,
            source_end: rate * i,
            target_end: (rate * (i - 1)).max(0),
        })
        .collect();
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&r).expect("json"),
    )
    .expect("write");
}

#[test]
fn report_of_a_directory_without_report_json_exits_2_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = cutover(&["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    let e = stderr(&o);
    assert!(e.contains("report.json: no such report"), "{e}");
}

#[test]
fn a_newer_major_report_json_exits_2_for_report_and_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_report(dir.path(), Outcome::Pass, 100);
    let path = dir.path().join("report.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    v["schema_version"] = serde_json::json!(reports::SCHEMA_VERSION + 1);
    std::fs::write(&path, v.to_string()).expect("write");
    let o = cutover(&["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    let e = stderr(&o);
    assert!(e.contains("is newer than this cutover understands"), "{e}");
    let p = path.to_str().expect("utf-8");
    let o = cutover(&["diff", p, p]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    assert!(stderr(&o).contains("newer"), "{}", stderr(&o));
}

#[test]
fn diff_with_a_missing_file_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_report(dir.path(), Outcome::Pass, 100);
    let a = dir.path().join("report.json");
    let b = dir.path().join("missing/report.json");
    let o = cutover(&[
        "diff",
        a.to_str().expect("utf-8"),
        b.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    assert!(stderr(&o).contains("no such report"), "{}", stderr(&o));
}

#[test]
fn report_re_renders_markdown_html_and_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_report(dir.path(), Outcome::Pass, 100);
    let o = cutover(&["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::OK), "{}", stderr(&o));
    for f in ["summary.md", "report.html", "junit.xml"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}

#[test]
fn diff_exits_1_when_b_lost_the_pass_and_prints_the_throughput_ratio() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    write_report(a.path(), Outcome::Pass, 100);
    write_report(b.path(), Outcome::Fail, 50);
    let o = cutover(&[
        "diff",
        a.path().to_str().expect("utf-8"),
        b.path().join("report.json").to_str().expect("utf-8"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        stderr(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("×0.50"), "{out}");
    let o = cutover(&[
        "diff",
        a.path().to_str().expect("utf-8"),
        a.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::OK));
}
