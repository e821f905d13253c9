//! `cutover run` end to end on real clusters: the smoke workload between SASL_SSL clusters
//! with ACLs passes with the replicator as a least-privilege
//! principal and no secret in any output; a `command` system that
//! drops every 1000th record is reported with exactly that many lost; a `command` system's
//! added and removed instances are proven from its consumer group on the source (an added one
//! that never joins makes the run unknown); a wrapper script that
//! does not `exec` its copier is crashed whole, and a helper that escapes its process group
//! fails the run with `process-survived` and is killed; Ctrl-C tears everything down. The whole catalog against its expectations is `tests/catalog.rs` (ignored: minutes; CI runs it), which
//! also checks the smoke scenario's report in detail.

use reports::CutoverExitCode;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn catalog(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/catalog")
        .join(format!("{name}.toml"))
}

/// Runs `cutover run` and returns (exit code, report.json, stdout).
fn run(scenario: &Path) -> (i32, serde_json::Value, String) {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg(scenario)
        .arg("--report-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = std::fs::read_to_string(dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<testcase"), "{junit}");
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    eprintln!("{stdout}");
    (out.status.code().unwrap_or(-1), json, stdout + &stderr)
}

fn count(report: &serde_json::Value, class: &str) -> u64 {
    report["verdict"]["counts"][class].as_u64().unwrap_or(0)
}

#[test]
fn secured_clusters_with_acls_pass_and_no_secret_reaches_the_report_or_logs() {
    // The catalog scenario with a known password for the replicator's principal.
    const SECRET: &str = "Known-Secret-7731";
    let text = std::fs::read_to_string(catalog("secured-sasl-ssl")).unwrap();
    let known = text.replace(
        r#"users = [{ name = "replicator" }]"#,
        &format!(r#"users = [{{ name = "replicator", password = "{SECRET}" }}]"#),
    );
    assert_eq!(
        known.matches(SECRET).count(),
        2,
        "both clusters get the password"
    );
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("secured.toml");
    std::fs::write(&scenario, known).unwrap();
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let reports = dir.path().join("report");
    let out = Command::new(BIN)
        .arg("run")
        .arg(&scenario)
        .arg("--report-dir")
        .arg(&reports)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(CutoverExitCode::OK), "{all}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "pass", "{report:#}");
    assert!(report["verdict"]["tally"]["matched"].as_u64().unwrap() > 1000);
    assert_eq!(count(&report, "lost") + count(&report, "duplicated"), 0);
    assert!(!all.contains(SECRET), "the password reached the output");
    let mut files = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "the password reached {}",
            path.display()
        );
        files += 1;
    }
    assert!(
        files >= 5,
        "report.json, junit.xml, summary.md, report.html, logs"
    );
    let shown = std::fs::read_to_string(reports.join("replicator.toml")).unwrap();
    assert!(
        shown.contains("[redacted]") && shown.contains("SASL_SSL"),
        "{shown}"
    );
}

#[test]
#[ignore = "MirrorMaker 2 JVMs on secured clusters: ~45 s (cargo test --test scenarios -- --ignored)"]
fn mirrormaker2_exactly_once_passes_between_secured_clusters() {
    let out = Command::new(BIN)
        .args(["run", "--system", "mirrormaker2-eos"])
        .arg(catalog("secured-sasl-ssl"))
        .arg("--report-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("PASS"), "{text}");
}

fn lossy_copier() -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/lossy_copier
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/lossy_copier")
}

/// The lossy copier example, built if a filtered test run has not built it.
fn lossy_copier_built() -> PathBuf {
    let copier = lossy_copier();
    if !copier.exists() {
        // `cargo test` builds examples; a filtered `--test scenarios` run may not have.
        // Build it in the profile this test was built in (target/<profile>/examples).
        let profile_dir = copier.parent().unwrap().parent().unwrap();
        let mut args = vec!["build", "--example", "lossy_copier"];
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            args.push("--release");
        }
        let st = Command::new(env!("CARGO")).args(&args).status().unwrap();
        assert!(st.success());
    }
    assert!(copier.exists(), "{}", copier.display());
    copier
}

/// The copier drops every 1000th record over both topics; one of them is named like a Connect
/// internal topic (`connect-*`). A topic the workload wrote is always verified: before, the
/// checker left `connect-orders` out by its name and counted only the losses of `orders`.
#[test]
fn a_command_system_that_drops_records_is_reported_with_the_exact_count() {
    let copier = lossy_copier_built();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lossy.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[scenario]
name = "lossy-command"
description = "a copier that drops every 1000th record"

[run]
duration_secs = 10
drain_timeout_secs = 60

[workload]
records = 5500
[workload.topics]
names = ["orders", "connect-orders"]
partitions = 2
[[workload.producer]]
rate = {{ records_per_sec = 1000 }}

[system]
kind = "command"
command = ["{}"]
grace_secs = 10
"#,
            copier.display()
        ),
    )
    .unwrap();
    let (code, report, out) = run(&path);
    assert_eq!(code, CutoverExitCode::FAILED, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "fail");
    assert_eq!(
        count(&report, "lost"),
        5,
        "5500 records, every 1000th dropped: {report:#}"
    );
    let topics: Vec<&str> = report["verdict"]["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source_topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, ["connect-orders", "orders"], "{report:#}");
    assert_eq!(count(&report, "duplicated"), 0);
    assert_eq!(count(&report, "phantom"), 0);
}

/// `partitions-added` with a `command` copier that assigns the partitions it saw at start and
/// never looks again (the lossy copier dropping nothing): the topic grows from 3 to 6
/// partitions at `fault_at_secs` while the workload writes `records` at 400 a second.
fn blind_copier_scenario(records: u32, fault_at_secs: u32) -> (i32, serde_json::Value, String) {
    let copier = lossy_copier_built();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blind.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[scenario]
name = "partitions-added-blind"
description = "a copier blind to partitions added after its start"

[run]
duration_secs = 12
drain_timeout_secs = 20
seed = 8

[workload]
records = {records}
[workload.topics]
count = 1
pattern = "orders.{{n}}"
partitions = 3
[workload.record]
keys = {{ kind = "uniform", count = 2000 }}
[[workload.producer]]
rate = {{ records_per_sec = 400 }}

[system]
kind = "command"
command = ["{}"]
env = {{ LOSSY_EVERY = "1000000000000" }}
grace_secs = 10

[[fault]]
at_secs = {fault_at_secs}
kind = "add-partitions"
topic = "orders.0"
partitions = 6

[verify]
partitions = true
order = true
"#,
            copier.display()
        ),
    )
    .unwrap();
    run(&path)
}

#[test]
fn a_copier_blind_to_added_partitions_fails_with_lost_records_on_the_new_partitions() {
    let (code, report, out) = blind_copier_scenario(4400, 3);
    assert_eq!(code, CutoverExitCode::FAILED, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "fail");
    let fault = &report["faults"][0];
    assert_eq!(fault["error"], "", "{fault:#}");
    assert!(
        fault["effect"]
            .as_str()
            .unwrap()
            .contains("committed records on the new partitions"),
        "{fault:#}"
    );
    // Every lost record is one the source committed on a new partition, and all of them are.
    let topic = &report["verdict"]["topics"][0];
    let mut on_new = 0;
    for p in topic["partitions"].as_array().unwrap() {
        let n = p["partition"].as_i64().unwrap();
        let lost = p["counts"]["lost"].as_u64().unwrap_or(0);
        if n >= 3 {
            on_new += p["tally"]["source_records"].as_u64().unwrap();
            assert_eq!(
                lost,
                p["tally"]["source_records"].as_u64().unwrap(),
                "{p:#}"
            );
        } else {
            assert_eq!(lost, 0, "{p:#}");
        }
    }
    assert!(on_new > 0, "{topic:#}");
    assert_eq!(count(&report, "lost"), on_new, "{report:#}");
    assert_eq!(
        report["verdict"]["counts"].as_object().unwrap().len(),
        1,
        "{report:#}"
    );
    let examples = topic["examples"].as_array().unwrap();
    assert!(!examples.is_empty(), "{topic:#}");
    for e in examples {
        assert_eq!(e["class"], "lost", "{e:#}");
        assert!(e["source"]["partition"].as_i64().unwrap() >= 3, "{e:#}");
    }
}

#[test]
fn added_partitions_nobody_writes_to_make_the_run_unknown() {
    // The workload is done (1000 records at 400 a second) before the topic grows: nothing is
    // written to the new partitions, so the fault tested nothing.
    let (code, report, out) = blind_copier_scenario(1000, 5);
    assert_eq!(code, CutoverExitCode::ERROR, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "unknown", "{report:#}");
    let fault = &report["faults"][0];
    assert!(
        fault["error"]
            .as_str()
            .unwrap()
            .contains("no committed record on partitions 3..5"),
        "{fault:#}"
    );
}

/// A `command` system whose copier (the lossy copier with `LOSSY_SUBSCRIBE=1`, dropping
/// nothing) consumes the source in `CUTOVER_GROUP_ID` (`copiers`), handing its partitions over
/// on every rebalance: `command` runs it (`{copier}` replaced by its path), 1 topic of 4
/// partitions written at 400 records a second for `secs` seconds, joins and leaves proven
/// within `proof_secs`, `faults` appended.
fn group_copier_scenario(
    command: &str,
    secs: u32,
    proof_secs: u32,
    faults: &str,
) -> (i32, serde_json::Value, String) {
    let copier = lossy_copier_built();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.toml");
    let command = command.replace("{copier}", &copier.display().to_string());
    std::fs::write(
        &path,
        format!(
            r#"
[scenario]
name = "group-copier"
description = "a copier whose instances share the partitions in CUTOVER_GROUP_ID"

[run]
duration_secs = {secs}
drain_timeout_secs = 30

[workload]
records = {records}
[workload.topics]
count = 1
pattern = "grouped.{{n}}"
partitions = 4
[[workload.producer]]
rate = {{ records_per_sec = 400 }}

[system]
kind = "command"
command = {command}
env = {{ LOSSY_EVERY = "1000000000000", LOSSY_SUBSCRIBE = "1" }}
group_id = "copiers"
grace_secs = 10
rebalance_proof_secs = {proof_secs}
{faults}"#,
            records = secs * 400,
        ),
    )
    .unwrap();
    run(&path)
}

/// add-instance and remove-instance on a `command` system, proven from its consumer group on
/// the source: the added copier joined and took partitions, the removed one's partitions are
/// held again by the one left, and the copy is exact.
#[test]
fn a_command_s_instances_joining_and_leaving_are_proven_from_its_group() {
    let (code, report, out) = group_copier_scenario(
        r#"["{copier}"]"#,
        8,
        20,
        r#"
[[fault]]
at_secs = 1
kind = "add-instance"

[[fault]]
at_secs = 5
kind = "remove-instance"
"#,
    );
    let faults = report["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{report:#}");
    let add = &faults[0];
    assert_eq!(add["kind"], "add-instance");
    assert_eq!(add["error"], "", "{add:#}");
    let effect = add["effect"].as_str().unwrap();
    assert!(
        effect.contains("the group `copiers` on the source went from 1 to 2 members")
            && effect.contains("the new member")
            && effect.contains("partitions (grouped.0: "),
        "{effect}"
    );
    let remove = &faults[1];
    assert_eq!(remove["kind"], "remove-instance");
    assert_eq!(remove["error"], "", "{remove:#}");
    let effect = remove["effect"].as_str().unwrap();
    assert!(
        effect.contains("the group `copiers` on the source went from 2 to 1 member")
            && effect.contains(
                "held again by the 1 member remaining, 4 partitions (grouped.0: 0, 1, 2, 3)"
            ),
        "{effect}"
    );
    assert_eq!(code, CutoverExitCode::OK, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "pass");
}

/// The broken system the group proof catches: the added instance is a process that sleeps and
/// never joins the group. Before the proof read the group, add-instance was proven by the
/// process running ("running is all cutover can see") and the run passed.
#[test]
fn an_added_instance_that_never_joins_the_group_makes_the_run_unknown() {
    let (code, report, out) = group_copier_scenario(
        r#"["sh", "-c", "if [ \"$CUTOVER_INSTANCE\" = 1 ]; then exec sleep 600; else exec '{copier}'; fi"]"#,
        4,
        8,
        r#"
[[fault]]
at_secs = 1
kind = "add-instance"
"#,
    );
    let add = &report["faults"][0];
    assert_eq!(add["kind"], "add-instance", "{report:#}");
    assert_eq!(add["effect"], "", "{add:#}");
    let error = add["error"].as_str().unwrap();
    assert!(
        error.contains("instance 1 running")
            && error.contains(
                "group `copiers` on the source has 1 member (it had 1 before the instance was added): the new instance did not join it (within 8 s)"
            ),
        "{error}"
    );
    // The copy itself is exact (instance 0 copied everything): only the proof is missing.
    assert!(
        report["verdict"]["counts"].as_object().unwrap().is_empty(),
        "{report:#}"
    );
    assert_eq!(code, CutoverExitCode::ERROR, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "unknown");
}

/// Processes whose command line mentions `needle` (brokers name their work dir, replicator
/// instances their config in the report dir).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(format!("{name}: {cmd}"));
            }
        }
    }
    out
}

#[test]
fn ctrl_c_tears_everything_down_and_writes_an_aborted_report() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(catalog("smoke"))
        .arg("--report-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Interrupt in the middle of the workload: the replicator is up and records flow.
    let started = std::time::Instant::now();
    while !dir.path().join("instance-0.log").exists() {
        assert!(
            started.elapsed().as_secs() < 120,
            "the run never started its system"
        );
        assert!(child.try_wait().unwrap().is_none(), "cutover exited early");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    let brokers_marker = format!("cutover-{pid}-");
    assert!(
        !processes_mentioning(&brokers_marker).is_empty(),
        "no broker of this run found before the interrupt"
    );
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        started.elapsed().as_secs() < 180,
        "teardown took {:?}",
        started.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "aborted", "{report:#}");
    assert!(!report["series"].as_array().unwrap().is_empty());
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<error"), "{junit}");
    // Nothing this run started is left: no broker JVM, no replicator instance, no work dir.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(processes_mentioning(&brokers_marker), Vec::<String>::new());
    let report_dir = dir.path().to_string_lossy().to_string();
    assert_eq!(processes_mentioning(&report_dir), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&brokers_marker))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "work dirs left: {left:?}");
}

/// A `command` system in the README's `./my-copier.sh` shape, with a wrapper that does not
/// `exec` its copier: the same scenario `cutover selftest` runs (its process cases), written by
/// `selftest::processes::write_scenario`. Returns the scenario file.
fn wrapped_copier_scenario(dir: &Path, before_copier: &str, faults: &str) -> PathBuf {
    selftest::processes::write_scenario(dir, Path::new(BIN), before_copier, faults).unwrap()
}

/// SIGKILLs the processes `processes_mentioning` listed (so a failing test leaves nothing).
fn kill_listed(lines: &[String]) {
    for line in lines {
        if let Some(pid) = line.split(':').next().and_then(|p| p.parse::<i32>().ok()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
#[ignore = "CI covers it through `cutover selftest` (tests/selftest.rs: wrapper-shell-crash); this one also names every process, by hand: cargo test --test scenarios -- --ignored wrapper"]
fn a_crash_kills_the_copier_a_wrapper_script_did_not_exec() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = wrapped_copier_scenario(
        dir.path(),
        "",
        r#"
[[fault]]
at_secs = 3
kind = "crash-instance"
instance = 0
duration_secs = 1
"#,
    );
    let (code, report, out) = run(&scenario);
    // The wrapper's and the copier's command lines name the scenario's dir.
    let left = processes_mentioning(&dir.path().to_string_lossy());
    kill_listed(&left);
    assert!(left.is_empty(), "outlived the run: {left:#?}");
    let crash = &report["faults"][0];
    assert_eq!(crash["kind"], "crash-instance", "{report:#}");
    assert_eq!(crash["error"], "", "{crash:#}");
    let effect = crash["effect"].as_str().unwrap();
    assert!(
        effect.contains("2 processes"),
        "the wrapper and its copier were killed: {effect}"
    );
    assert_eq!(code, CutoverExitCode::OK, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "pass");
}

#[test]
#[ignore = "CI covers it through `cutover selftest` (tests/selftest.rs: escapes-process-group); this one also checks the failure names the sidecar's command line, by hand: cargo test --test scenarios -- --ignored escapes"]
fn a_process_that_escapes_the_system_s_group_fails_the_run_and_is_killed() {
    // The wrapper starts a helper as a daemon in a session of its own, as log shippers and
    // metrics sidecars do: it leaves the instance's process group, and its parent dies first.
    let sidecar = format!("sleep 600.{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let scenario = wrapped_copier_scenario(dir.path(), &format!("setsid {sidecar} &"), "");
    let (code, report, out) = run(&scenario);
    let mut left = processes_mentioning(&dir.path().to_string_lossy());
    left.extend(processes_mentioning(&sidecar));
    kill_listed(&left);
    assert!(left.is_empty(), "outlived the run: {left:#?}");
    assert_eq!(code, CutoverExitCode::FAILED, "{out}\n{report:#}");
    assert_eq!(report["outcome"], "fail");
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0]["class"], "process-survived", "{failures:#?}");
    assert_eq!(failures[0]["count"], 1, "the sidecar only: {failures:#?}");
    let detail = failures[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("({sidecar})")),
        "names its command line: {detail}"
    );
}
