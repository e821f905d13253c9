//! `[scope]` in a scenario file, end to end on two real clusters: the workload names team-a's
//! and team-b's topics and one consumer group of each; with `namespaces = ["team-a"]` (the
//! declarations beside the scenario file) only team-a's topic is produced, copied and judged,
//! and only team-a's group runs and is checked. ~25 s.

#[path = "support/run.rs"]
#[allow(dead_code)]
mod support;
use support::run;

use std::path::Path;

const DECLARATIONS: &str = r#"# team-a owns its topics and groups by prefix; team-b its topics by prefix, one group by name.
apiVersion: v1
kind: AccessControlEntry
metadata: {name: a-topics, namespace: admin}
spec: {resourceType: TOPIC, resource: team-a., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-a}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: a-groups, namespace: admin}
spec: {resourceType: GROUP, resource: team-a., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-a}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: b-topics, namespace: admin}
spec: {resourceType: TOPIC, resource: team-b., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-b}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: b-group, namespace: admin}
spec: {resourceType: GROUP, resource: team-b-app, resourcePatternType: LITERAL, permission: OWNER, grantedTo: team-b}
"#;

const SCENARIO: &str = r#"[scenario]
name = "team-a-slice"
description = "team-a's slice of a two-team migration"

[run]
duration_secs = 4
drain_timeout_secs = 60
seed = 7

[workload]
records = 600
[workload.topics]
names = ["team-a.orders", "team-b.invoices"]
partitions = 2
[[workload.producer]]
rate = { records_per_sec = 300 }

[system]
kind = "builtin"
replication = { mode = "exactly-once" }
tuning = { commit_interval_ms = 100 }

[[consumer_group]]
id = "team-a.billing"
stop_at_secs = 2

[[consumer_group]]
id = "team-b-app"
stop_at_secs = 2

[scope]
resources = ["decl"]
namespaces = ["team-a"]
"#;

#[test]
fn a_scenario_scope_runs_and_judges_only_the_namespaces_slice() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("decl")).expect("mkdir");
    std::fs::write(dir.path().join("decl/teams.yml"), DECLARATIONS).expect("write");
    let path = dir.path().join("slice.toml");
    std::fs::write(&path, SCENARIO).expect("write");
    let started = std::time::Instant::now();
    let (code, report, _dir, output) = run(Path::new(&path), &[]);
    eprintln!("run took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{output}");
    let topics: Vec<&str> = report["verdict"]["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| t["source_topic"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(topics, ["team-a.orders"], "{output}");
    // Every record produced went to team-a.orders and was judged there.
    let judged = report["verdict"]["topics"][0]["tally"]["source_records"]
        .as_u64()
        .unwrap_or(0);
    assert!(judged > 0, "{}", report["verdict"]["topics"][0]["tally"]);
    let groups: Vec<&str> = report["consumer_groups"]
        .as_array()
        .expect("consumer_groups")
        .iter()
        .map(|g| g["group"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(groups, ["team-a.billing"], "{output}");
    assert_eq!(
        report["consumer_groups"][0]["untranslated"], 0,
        "{}",
        report["consumer_groups"][0]
    );
}
