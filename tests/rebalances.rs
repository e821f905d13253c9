//! The built-in replicator's rebalances on real clusters: `rebalance-storm-alo` (instances
//! join, crash, stall and leave; at-least-once) reports its slot group's rebalances from the
//! instances' logs, every duplicate the checker finds is placed after one of them, the
//! replicator's own counter agrees with the logs where it survived, and report.html draws a
//! marker per rebalance. About a minute.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// `slots assigned` lines of an instance's log after its last (re)start.
fn assignments_since_last_start(log: &str) -> usize {
    let last = log.rfind("(re)started ===").map_or(log, |i| &log[i..]);
    last.lines()
        .filter(|l| l.contains(" INFO slots assigned slots=["))
        .count()
}

#[test]
fn the_storm_s_rebalances_are_counted_and_every_duplicate_is_placed_after_one() {
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalog/rebalance-storm-alo.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg(&scenario)
        .arg("--report-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no report.json ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["outcome"], "fail", "{report:#}");
    let duplicated = report["verdict"]["counts"]["duplicated"]
        .as_u64()
        .unwrap_or(0);
    assert!(duplicated > 0, "at-least-once re-copies: {report:#}");

    let r = &report["rebalances"];
    assert_eq!(r["observed_by"], "replicator-logs", "{r:#}");
    let events = r["events"].as_array().unwrap();
    eprintln!("{duplicated} duplicated; rebalances: {r:#}");
    // Five instance faults: an add, a crash and restart, a stall, a remove, an add, each a
    // rebalance of the slot group at least (a stall is two: evicted, then back).
    assert!(events.len() >= 5, "{r:#}");
    assert_eq!(r["count"].as_u64(), Some(events.len() as u64));
    let moved: u64 = events.iter().map(|e| e["moved"].as_u64().unwrap()).sum();
    assert_eq!(r["task_moves"].as_u64(), Some(moved));
    let end = report["duration_secs"].as_f64().unwrap();
    let mut previous = f64::MIN;
    for e in events {
        let at = e["at_secs"].as_f64().unwrap();
        assert!(at >= previous && at > 0.0 && at < end, "{e}");
        previous = at;
        assert!(!e["members"].as_array().unwrap().is_empty(), "{e}");
    }
    // Every duplicated copy was written after some rebalance (the first one has nothing before
    // it to re-copy), and each is placed exactly once.
    let placed: u64 = events
        .iter()
        .map(|e| {
            e["duplicates_after"]
                .as_u64()
                .unwrap_or_else(|| panic!("not placed: {e}"))
        })
        .sum();
    assert_eq!(placed, duplicated, "{r:#}");

    // The replicator's own counter (its last scrape) agrees with its log since its last start:
    // the same assignments, the log one ahead at most (the stop's own rebalance comes after
    // the scrape).
    let mut compared = 0;
    for i in 0..8 {
        let prom = dir.path().join(format!("metrics-instance-{i}.prom"));
        let Ok(body) = std::fs::read_to_string(&prom) else {
            continue;
        };
        let counter: usize = body
            .lines()
            .find_map(|l| l.strip_prefix("cutover_replicator_rebalances_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the rebalance counter") as usize;
        let log = std::fs::read_to_string(dir.path().join(format!("instance-{i}.log"))).unwrap();
        let lines = assignments_since_last_start(&log);
        assert!(
            lines == counter || lines == counter + 1,
            "instance {i}: {lines} assignments logged since its start, counter {counter}"
        );
        compared += 1;
    }
    assert!(
        compared >= 2,
        "instances still answering at the end: {compared}"
    );

    // Drawn: a marker per rebalance on the timeline, a row each in the table.
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(
        html.matches("<g class=\"rebalance\">").count(),
        events.len(),
        "a marker per rebalance"
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("### Rebalances"), "{summary}");
}
