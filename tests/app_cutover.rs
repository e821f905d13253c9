//! Application cutover on real brokers with a real Kafka Streams application (cutover's
//! reference counter, compiled from `apps/streams-counter` against the clusters' Kafka
//! version): the catalog's `streams-app-cutover` proves a clean planned switch passes (CI runs
//! it with the catalog); here, switches done wrong are each caught with their class, all in one
//! run (three applications moved at once, each broken its own way):
//! - `no-offsets`: the group's offsets are not moved, so on the target it reads its inputs from
//!   the beginning: the inputs it had processed on the source are `reprocessed`;
//! - `no-changelog`: the system is not told to copy its changelog; the switch waits for it, sees
//!   its partitions empty on the target and does not start the application there:
//!   `app-not-moved`, naming the changelog;
//! - `early-no-changelog`: the same system, but started on the target at once: it starts with
//!   an empty state, each input runs once, and its updates' state is `state-diverged`.

#[path = "support/run.rs"]
mod support;

use std::path::Path;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn app<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["apps"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["app"] == name))
        .unwrap_or_else(|| panic!("no app {name} in the report: {:#}", report["apps"]))
}

fn n(v: &serde_json::Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(0)
}

#[test]
fn switches_done_wrong_are_each_caught_with_their_class() {
    let dir = tempfile::tempdir().unwrap();
    // The changelog of `no-changelog` is left out of what the replicator copies.
    let scenario = write(
        dir.path(),
        r#"
[scenario]
name = "app-switches-done-wrong"
description = "three applications moved wrong"

[run]
duration_secs = 20
drain_timeout_secs = 90
seed = 5

[workload]
[workload.topics]
count = 1
pattern = "clicks.{n}"
partitions = 2
[workload.record]
keys = { kind = "uniform", count = 50 }
value_size = { min = 20, max = 100 }
[[workload.producer]]
rate = { records_per_sec = 150 }

[system]
kind = "builtin"
instances = 1
replication = { mode = "exactly-once", include = ["clicks\\.0", "cutover-app-no-offsets-.*", "cutover-app-no-changelog-updates", "cutover-app-no-changelog-rekeyed-repartition", "cutover-app-early-no-changelog-updates", "cutover-app-early-no-changelog-rekeyed-repartition"] }
tuning = { commit_interval_ms = 200, offset_sync_interval_ms = 500 }

[[app]]
name = "no-offsets"
[app.switch]
at_secs = 8
move_offsets = false

[[app]]
name = "no-changelog"
[app.switch]
at_secs = 8
copy_timeout_secs = 10

[[app]]
name = "early-no-changelog"
[app.switch]
at_secs = 8
wait_for_copy = false
"#,
    );
    let (code, report, _dir, out) = support::run(&scenario, &[]);
    assert_eq!(code, 1, "the run fails: {out}");
    assert_eq!(report["outcome"], "fail");
    // The workload's own topic was copied exactly: the failures are the applications'.
    for class in ["lost", "duplicated"] {
        assert_eq!(support::count(&report, class), 0, "{class}");
    }

    let no_offsets = app(&report, "no-offsets");
    let on_source = n(no_offsets, "updates_on_source");
    assert!(on_source > 0, "{no_offsets:#}");
    // Every input it processed on the source it processed again on the target (its copied
    // repartition records may add more: at least as many).
    assert!(
        n(no_offsets, "reprocessed") >= on_source,
        "reprocessed {} < {on_source} processed on the source: {no_offsets:#}",
        n(no_offsets, "reprocessed")
    );
    assert_eq!(n(no_offsets, "unprocessed"), 0, "{no_offsets:#}");

    let no_changelog = app(&report, "no-changelog");
    assert_eq!(n(no_changelog, "updates_on_target"), 0, "{no_changelog:#}");
    let steps = no_changelog["steps"].to_string();
    assert!(
        steps.contains("cutover-app-no-changelog-totals-changelog"),
        "the switch names the changelog it waited for: {no_changelog:#}"
    );

    let early = app(&report, "early-no-changelog");
    assert!(n(early, "updates_on_target") > 0, "{early:#}");
    assert_eq!(n(early, "restored_records"), 0, "{early:#}");
    assert!(n(early, "state_diverged") > 0, "{early:#}");
    assert!(n(early, "keys_wrong") > 0, "{early:#}");

    // The run's classes name them, with the counts of all three applications.
    let failures = report["failures"].as_array().unwrap();
    let class_count = |c: &str| {
        failures
            .iter()
            .filter(|f| f["class"] == c)
            .map(|f| f["count"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert!(class_count("reprocessed") >= n(no_offsets, "reprocessed"));
    assert_eq!(class_count("app-not-moved"), 1, "{failures:#?}");
    assert_eq!(class_count("state-diverged"), n(early, "state_diverged"));
}

/// The unplanned switch done wrong: the built-in replicator is not asked to keep the
/// application's group on the target (`move_offsets = false` turns its `sync_groups` off), so
/// after the source is cut the application on the target starts from the beginning of what the
/// copy holds and processes again every input it had processed on the source. Also proven
/// here: the cut came at the seeded moment inside its window, nothing crossed the source's
/// proxies after it, and the inputs it lost are exactly the workload's records the checker
/// finds lost.
#[test]
fn a_failover_without_the_group_on_the_target_reprocesses_everything_it_had_done() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        r#"
[scenario]
name = "app-failover-no-offsets"
description = "the source cut off; the application's group never synced to the target"

[run]
duration_secs = 18
drain_timeout_secs = 60
seed = 8

[workload]
[workload.topics]
count = 1
pattern = "clicks.{n}"
partitions = 2
[workload.record]
keys = { kind = "uniform", count = 50 }
value_size = { min = 20, max = 100 }
[[workload.producer]]
rate = { records_per_sec = 150 }

[system]
kind = "builtin"
instances = 1
replication = { mode = "exactly-once" }
tuning = { commit_interval_ms = 200, offset_sync_interval_ms = 500 }

[[app]]
name = "lost-group"
[app.switch]
mode = "failover"
at_secs = 9
window_secs = 3
move_offsets = false
"#,
    );
    let (code, report, _dir, out) = support::run(&scenario, &[]);
    assert_eq!(code, 1, "the run fails: {out}");
    let a = app(&report, "lost-group");
    assert_eq!(a["switch"], "failover", "{a:#}");
    let cut = a["cut_at_secs"].as_f64().unwrap();
    assert!((9.0..12.0).contains(&cut), "cut at {cut}: {a:#}");
    let steps: Vec<&str> = a["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.contains("the cut held: 0 bytes crossed")),
        "{steps:#?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("has no offsets on the target")),
        "{steps:#?}"
    );
    // It re-read its inputs and its copied repartition records from the beginning. The cut
    // comes 9–12 s in: the application's JVM and first rebalance took most of 6 s on a CI
    // machine busy with other tests, and it had done only 55 updates at a cut 6.8 s in.
    let done_on_source = n(a, "updates_on_source") - n(a, "processed_lost_inputs");
    assert!(done_on_source > 100, "{a:#}");
    assert!(n(a, "reprocessed") >= done_on_source, "{a:#}");
    // What the cut lost, counted the same two ways.
    let lost = support::count(&report, "lost");
    assert!(lost > 0, "{out}");
    assert_eq!(n(a, "inputs_lost_at_cut"), lost, "{a:#}");
}
