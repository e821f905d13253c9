//! `kind = "connect"` end to end on real clusters: MirrorMaker 2's connectors deployed on a
//! two-worker Kafka Connect cluster with exactly-once source support copy a workload with
//! aborted transactions through a task restart and a killed worker, and the checker finds
//! nothing wrong; each fault is proven by the Connect cluster itself (the task's new start in
//! the workers' logs, the restarted worker in a later generation, which instance led); the
//! report counts the group's rebalances (about 75 s on 2 cores; run by hand with `-- --ignored`:
//! CI's catalog phase runs `connect-rebalance` and `connect-rebalance-eos`, which crash a worker
//! of the same preset). And (`-- --ignored`, a minute) `--system mirrormaker2-connect-eos` puts
//! the preset under a catalog scenario.

use reports::CutoverExitCode;

use std::path::Path;

#[path = "support/run.rs"]
mod support;
use support::{count, run};

#[test]
#[ignore = "75 s: cargo test --test connect_system -- --ignored (CI's catalog runs connect-rebalance-eos)"]
fn connect_exactly_once_survives_a_task_restart_and_a_killed_worker_proven_by_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connect-eos.toml");
    std::fs::write(
        &path,
        r#"
[scenario]
name = "connect-eos"
description = "MirrorMaker 2 connectors on two Connect workers, exactly-once source support"

[run]
duration_secs = 25
drain_timeout_secs = 90
seed = 7

[workload]
[workload.topics]
count = 1
pattern = "orders.{n}"
partitions = 2
[workload.record]
keys = { kind = "uniform", count = 500 }
value_size = { min = 50, max = 300 }
[[workload.producer]]
rate = { records_per_sec = 200 }
[[workload.producer]]
transactions = { records_per_txn = 10, abort_ratio = 0.2 }
rate = { records_per_sec = 100 }

[system]
kind = "connect"
instances = 2
connectors = "mirrormaker2"
exactly_once_source_support = "enabled"
tasks_max = 2
heap_mb = 384
worker_properties = { "scheduled.rebalance.max.delay.ms" = "3000" }

[[fault]]
at_secs = 4
kind = "restart-task"
task = 1

[[fault]]
at_secs = 10
kind = "crash-instance"
instance = 0
duration_secs = 2

[verify]
partitions = true
order = true

[expect]
outcome = "pass"
"#,
    )
    .unwrap();
    let (code, r, out_dir, output) = run(&path, &[]);
    assert_eq!(code, CutoverExitCode::OK, "{output}\n{r:#}");
    assert_eq!(r["outcome"], "pass", "{r:#}");
    assert_eq!(count(&r, "lost") + count(&r, "duplicated"), 0, "{r:#}");
    assert!(
        r["system"].as_str().unwrap_or("").starts_with("connect ("),
        "{}",
        r["system"]
    );

    let faults = r["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{faults:#?}");
    for f in faults {
        assert_eq!(f["error"], "", "a fault was not proven: {f:#}");
    }
    // "task mirror-source-1 started N → M times", M > N: a new start of that task in the logs
    // (N counts its earlier starts, such as the connector's first reconfiguration).
    let restart = faults[0]["effect"].as_str().unwrap();
    let counted = restart
        .split("task mirror-source-1 started ")
        .nth(1)
        .and_then(|rest| rest.split(" times").next())
        .and_then(|n| n.split_once(" → "))
        .map(|(a, b)| (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()))
        .unwrap_or_else(|| panic!("no start count in the proof: {restart}"));
    assert!(counted.1 > counted.0, "{restart}");
    let crash = faults[1]["effect"].as_str().unwrap();
    assert!(crash.contains("kill -9"), "{crash}");
    assert!(crash.contains("the group went from generation"), "{crash}");
    assert!(
        crash.contains("the group's leader") || crash.contains("a follower"),
        "the proof says which worker led: {crash}"
    );

    let rebalances = &r["rebalances"];
    assert_eq!(
        rebalances["observed_by"], "connect-workers",
        "{rebalances:#}"
    );
    assert!(
        rebalances["count"].as_u64().unwrap_or(0) >= 1,
        "a killed and restarted worker is at least one rebalance: {rebalances:#}"
    );
    let events = rebalances["events"].as_array().unwrap();
    assert_eq!(events.len() as u64, rebalances["count"].as_u64().unwrap());
    assert!(events.iter().all(|e| e["at_secs"].as_f64().unwrap() >= 0.0));

    // The deployed config, redacted, beside the report.
    let connectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("connectors.json")).unwrap(),
    )
    .unwrap();
    let source = &connectors["mirror-source"];
    assert_eq!(source["exactly.once.support"], "required", "{connectors:#}");
    assert_eq!(source["source.consumer.isolation.level"], "read_committed");
    let worker = std::fs::read_to_string(out_dir.path().join("worker-0.properties")).unwrap();
    assert!(
        worker.contains("exactly.once.source.support=enabled"),
        "{worker}"
    );
    assert!(
        worker.contains("scheduled.rebalance.max.delay.ms=3000"),
        "{worker}"
    );
}

#[test]
#[ignore = "a minute: cargo test --test connect_system -- --ignored (the override itself is unit-tested in scenarios::system)"]
fn a_catalog_scenario_runs_under_mirrormaker2_on_connect() {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalog/smoke.toml");
    let (code, r, dir, output) = run(&smoke, &["--system", "mirrormaker2-connect-eos"]);
    assert_eq!(code, CutoverExitCode::OK, "{output}\n{r:#}");
    assert_eq!(r["outcome"], "pass", "{r:#}");
    assert_eq!(
        r["system"], "connect (MirrorMaker 2 connectors, exactly-once source support)",
        "{r:#}"
    );
    assert_eq!(count(&r, "lost") + count(&r, "duplicated"), 0, "{r:#}");
    // smoke.toml has one instance of its system: one worker.
    assert!(dir.path().join("instance-0.log").exists());
    assert!(!dir.path().join("instance-1.log").exists());
}
