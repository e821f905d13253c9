//! `cutover sweep` end to end: every variant checked before anything runs (a key the scenario
//! does not take is exit 2, naming it), and a real two-value sweep on real Kafka whose table
//! has one row per value with the run's verdict and counts, also in sweep.json.

use reports::CutoverExitCode;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn sweep(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).arg("sweep").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tiny_scenario(dir: &Path) -> String {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        r#"
[scenario]
name = "sweep-tiny"
description = "one topic, a few seconds, the built-in replicator"

[run]
duration_secs = 3
drain_timeout_secs = 60
seed = 7

[workload]
[workload.topics]
count = 1
pattern = "tiny.{n}"
partitions = 2
[[workload.producer]]
rate = { records_per_sec = 300 }

[system]
kind = "builtin"
replication = { mode = "exactly-once" }
tuning = { commit_interval_ms = 100 }
"#,
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn every_variant_is_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = tiny_scenario(dir.path());
    let (code, out, err) = sweep(&[
        &file,
        "--set",
        "run.duration_secs=3,4",
        "--set",
        "workload.topics.partitions=1,2",
        "--check",
    ]);
    assert_eq!(code, Some(CutoverExitCode::OK), "{out}\n{err}");
    assert_eq!(out.lines().count(), 4, "a 2×2 grid: {out}");
    assert!(
        out.contains("run.duration_secs=4, workload.topics.partitions=2: ok"),
        "{out}"
    );

    let (code, _, err) = sweep(&[&file, "--set", "system.no_such_setting=1"]);
    assert_eq!(code, Some(CutoverExitCode::ERROR), "{err}");
    assert!(err.contains("no_such_setting"), "names the key: {err}");
    let (code, _, err) = sweep(&[&file, "--set", "run.duration_secs"]);
    assert_eq!(code, Some(CutoverExitCode::ERROR), "{err}");
    assert!(err.contains("expected KEY=V1,V2"), "{err}");
}

#[test]
fn a_sweep_runs_each_value_and_tabulates_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let file = tiny_scenario(dir.path());
    let reports = dir.path().join("reports");
    let (code, out, err) = sweep(&[
        &file,
        "--set",
        "workload.topics.partitions=1,3",
        "--report-dir",
        &reports.display().to_string(),
    ]);
    assert_eq!(code, Some(CutoverExitCode::OK), "{out}\n{err}");
    let table = std::fs::read_to_string(reports.join("sweep.md")).unwrap();
    assert!(
        table.starts_with("| `workload.topics.partitions` | verdict |"),
        "{table}"
    );
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].starts_with("| 1 | PASS |"), "{table}");
    assert!(rows[1].starts_with("| 3 | PASS |"), "{table}");
    assert!(out.contains(&table), "printed too:\n{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("sweep.json")).unwrap())
            .unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // Each row is its own run: the report it names has the partitions that variant asked for.
    for (row, partitions) in rows.iter().zip([1, 3]) {
        assert_eq!(row["duplicated"], 0);
        assert_eq!(row["lost"], 0);
        // The built-in replicator reports its slot group's rebalances.
        assert!(row["rebalances"].as_u64().is_some(), "{row}");
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(row["report"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let topics = report["verdict"]["topics"].as_array().unwrap();
        assert_eq!(
            topics[0]["partitions"].as_array().unwrap().len(),
            partitions,
            "{row}"
        );
    }
}
