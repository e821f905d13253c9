//! Verdicts that can be believed (issue "trustworthy verdicts"), on real clusters: every
//! `[verify]` promise reaches the checker; a fault that did not take effect makes the run
//! unknown (exit 2) while one that did says how it was seen; the clients' log lines go to
//! `run.log`, not the terminal; a system that never creates a topic fails with a report; a
//! scenario's `[expect]` decides the exit code.

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

struct Run {
    code: i32,
    report: serde_json::Value,
    stdout: String,
    stderr: String,
    dir: tempfile::TempDir,
}

/// Runs `cutover run FILE --report-dir D` in `cwd`.
fn run_in(cwd: &Path, scenario: &Path) -> Run {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(cwd)
        .arg("run")
        .arg(scenario)
        .arg("--report-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("CUTOVER_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = std::fs::read_to_string(dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        report: serde_json::from_str(&report).unwrap(),
        stdout,
        stderr,
        dir,
    }
}

fn count(report: &serde_json::Value, class: &str) -> u64 {
    report["verdict"]["counts"][class].as_u64().unwrap_or(0)
}

/// The smoke scenario, shortened, with `edit` applied to its text.
fn smoke_with(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(catalog("smoke"))
        .unwrap()
        .replace("duration_secs = 15", "duration_secs = 8");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn an_offsets_promise_reaches_the_checker_and_fails_an_exactly_once_copy() {
    // Exactly-once copying cannot keep offsets: the source's transaction markers and aborted
    // records take offsets the target does not have. Before, `offsets = true` was dropped on
    // the way to the checker and the run passed.
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(dir.path(), "offsets", |t| {
        t.replace("timestamps = true", "timestamps = true\noffsets = true")
            .replace("[expect]\noutcome = \"pass\"", "")
    });
    let r = run_in(dir.path(), &scenario);
    assert_eq!(
        r.code,
        CutoverExitCode::FAILED,
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(r.report["outcome"], "fail");
    assert!(
        count(&r.report, "offset-mismatch") > 0,
        "{:#}",
        r.report["verdict"]["counts"]
    );
    assert_eq!(count(&r.report, "lost") + count(&r.report, "duplicated"), 0);
    assert_eq!(r.report["verdict"]["promises"]["offsets"], true);
    // The report says which promises were checked.
    let md = std::fs::read_to_string(r.dir.path().join("summary.md")).unwrap();
    assert!(
        md.contains("Promises checked: partitions kept, order kept, offsets kept"),
        "{md}"
    );
}

#[test]
fn a_fault_that_did_not_take_effect_makes_the_run_unknown_and_one_that_did_shows_its_proof() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(dir.path(), "faults", |t| {
        t.replace("[expect]\noutcome = \"pass\"", "")
            + r#"
# Takes effect: the source's only broker stops answering for 4 s.
[[fault]]
at_secs = 2
kind = "kill-broker"
cluster = "source"
node = 1
duration_secs = 4

# Cannot take effect: instance 0 is gone by then (instance 1 copies instead).
[[fault]]
at_secs = 1
kind = "add-instance"

[[fault]]
at_secs = 2
kind = "remove-instance"
instance = 0

[[fault]]
at_secs = 5
kind = "stall-instance"
instance = 0
duration_secs = 1
"#
    });
    let r = run_in(dir.path(), &scenario);
    assert_eq!(r.code, CutoverExitCode::ERROR, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.report["outcome"], "unknown", "{:#}", r.report);
    let faults = r.report["faults"].as_array().unwrap();
    let kill = faults.iter().find(|f| f["kind"] == "kill-broker").unwrap();
    assert_eq!(kill["error"], "", "{kill:#}");
    assert!(
        kill["effect"]
            .as_str()
            .unwrap()
            .contains("no longer answers"),
        "{kill:#}"
    );
    let stall = faults
        .iter()
        .find(|f| f["kind"] == "stall-instance")
        .unwrap();
    assert!(
        stall["error"]
            .as_str()
            .unwrap()
            .contains("no running instance 0"),
        "{stall:#}"
    );
    let removed = faults
        .iter()
        .find(|f| f["kind"] == "remove-instance")
        .unwrap();
    assert!(
        removed["effect"].as_str().unwrap().contains("is gone"),
        "{removed:#}"
    );
    let undecided = r.report["undecided"].to_string();
    assert!(undecided.contains("stall-instance"), "{undecided}");
    assert!(r.stdout.contains("UNKNOWN"), "{}", r.stdout);
    // The copy itself was right: the checker still ran and found nothing.
    assert_eq!(
        r.report["failures"].as_array().unwrap().len(),
        0,
        "{:#}",
        r.report
    );
    // librdkafka complained while the broker was down: into run.log, not onto the terminal.
    assert!(
        !r.stderr.contains("librdkafka") && !r.stdout.contains("librdkafka"),
        "client lines reached the terminal:\n{}",
        r.stderr
    );
    let log = std::fs::read_to_string(r.dir.path().join("run.log")).unwrap();
    assert!(log.contains("fault"), "run.log:\n{log}");
}

#[test]
fn a_system_that_never_creates_a_topic_fails_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.toml");
    std::fs::write(
        &path,
        r#"
[scenario]
name = "idle-command"
description = "a system that copies nothing"

[run]
duration_secs = 3
drain_timeout_secs = 10

[workload]
records = 200
[workload.topics]
count = 1
pattern = "orders.{n}"
partitions = 2
[[workload.producer]]
rate = { records_per_sec = 200 }

[system]
kind = "command"
command = ["sleep", "600"]
grace_secs = 2
"#,
    )
    .unwrap();
    let r = run_in(dir.path(), &path);
    assert_eq!(
        r.code,
        CutoverExitCode::FAILED,
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(r.report["outcome"], "fail");
    let failures = r.report["failures"].to_string();
    assert!(
        failures.contains("does not exist: the system never created it"),
        "{failures}"
    );
    assert!(failures.contains("did not catch up"), "{failures}");
    assert!(r.dir.path().join("junit.xml").exists());
}

#[test]
fn a_relative_command_runs_from_a_relative_scenario_path() {
    // `cd dir && cutover run cmd.toml` with `command = ["./copy.sh"]`: before, the instance
    // could not start ("No such file or directory") and the run ended with exit 2.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("copy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho started by a relative path\nexec sleep 600\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("cmd.toml"),
        r#"
[scenario]
name = "relative-command"
description = "a command given relative to the scenario file"

[run]
duration_secs = 2
drain_timeout_secs = 5

[workload]
records = 50
[workload.topics]
count = 1
pattern = "t.{n}"
partitions = 1
[[workload.producer]]
rate = { records_per_sec = 100 }

[system]
kind = "command"
command = ["./copy.sh"]
grace_secs = 2
"#,
    )
    .unwrap();
    let r = run_in(dir.path(), Path::new("cmd.toml"));
    // It started (its log says so) and, copying nothing, failed: exit 1, not 2.
    assert_eq!(
        r.code,
        CutoverExitCode::FAILED,
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let log = std::fs::read_to_string(r.dir.path().join("instance-0.log")).unwrap();
    assert!(log.contains("started by a relative path"), "{log}");
}

/// A workload whose deliveries fail did not exercise the scenario: the records never reached
/// the source, so the copy of what did reach it passes while most of the traffic the scenario
/// claims was never there. Before, failed deliveries were dropped (`let _ = flush`) and the
/// run passed; now it is UNKNOWN (exit 2) with class `workload-undelivered`, and the report
/// counts acknowledged and failed records.
///
/// The failures are the broker's, and certain whatever the machine's load: the topics refuse
/// records more than 25 ms older than the broker's clock (`message.timestamp.before.max.ms`,
/// KIP-937; `INVALID_TIMESTAMP` is never retried), and one producer holds its records 100 ms
/// before sending while the other sends at once. (An earlier version let records expire in a
/// 21 ms `message.timeout.ms`; on an idle machine every record was delivered in time and the
/// run passed.)
#[test]
fn a_workload_that_delivered_under_99_percent_makes_the_run_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = smoke_with(dir.path(), "undelivered", |t| {
        let (head, rest) = t.split_once("[workload]").unwrap();
        let (_, tail) = rest.split_once("[system]").unwrap();
        let workload = r#"[workload]
[workload.topics]
count = 3
pattern = "orders.{n}"
partitions = 3
configs = { "message.timestamp.before.max.ms" = "25" }
[workload.record]
keys = { kind = "uniform", count = 1000 }
value_size = { min = 50, max = 500 }
headers = 2
[[workload.producer]]
idempotent = false
acks = "1"
rate = { records_per_sec = 500 }
config = { "linger.ms" = "0" }
[[workload.producer]]
idempotent = false
acks = "1"
rate = { records_per_sec = 1000 }
config = { "linger.ms" = "100" }

"#;
        format!("{head}{workload}[system]{tail}").replace("[expect]\noutcome = \"pass\"", "")
    });
    let r = run_in(dir.path(), &scenario);
    assert_eq!(r.code, CutoverExitCode::ERROR, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.report["outcome"], "unknown", "{:#}", r.report);
    let undecided = r.report["undecided"].as_array().unwrap();
    assert!(
        undecided
            .iter()
            .any(|u| u["class"] == "workload-undelivered" && u["count"].as_u64().unwrap() > 0),
        "{undecided:#?}"
    );
    let w = &r.report["workload"];
    let (sent, acked, failed) = (
        w["sent"].as_u64().unwrap(),
        w["acked"].as_u64().unwrap(),
        w["failed"].as_u64().unwrap(),
    );
    assert_eq!(sent, acked + failed, "{w:#}");
    assert!((acked as f64) < 0.99 * sent as f64, "{w:#}");
    assert!(
        acked > 0,
        "the producer that sends at once is served: {w:#}"
    );
    // What did reach the source was copied exactly.
    assert_eq!(
        r.report["failures"].as_array().unwrap().len(),
        0,
        "{:#}",
        r.report
    );
}

/// A network fault is a test of the system under test only if the system's own traffic
/// crossed the faulted proxies. Here the system (the built-in replicator run by a command) is
/// stopped before a latency fault on the source and started again after it: it copies every
/// record, but had no connection to the source while the latency was on. Before, the proof
/// counted cutover's own workload crossing the proxies and the run passed; now only the
/// system's traffic is proxied, and the run is UNKNOWN (`fault-not-proven`).
#[test]
fn a_network_fault_the_system_never_crossed_makes_the_run_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("replicator.toml");
    let script = dir.path().join("stop-and-go.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
cat > '{config}' <<CONF
[replication]
mode = "exactly-once"
group_id = "stop-and-go"
include = ['orders\..*']
[tuning]
commit_interval_ms = 100
[source]
bootstrap.servers = "$CUTOVER_SOURCE_BOOTSTRAP"
[target]
bootstrap.servers = "$CUTOVER_TARGET_BOOTSTRAP"
CONF
'{bin}' replicate --config '{config}' &
pid=$!
sleep 6
kill -TERM $pid
sleep 2
kill -KILL $pid 2>/dev/null
wait $pid
echo "stopped before the fault"
sleep 12
echo "started again after it"
exec '{bin}' replicate --config '{config}'
"#,
            config = config.display(),
            bin = BIN
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = dir.path().join("stop-and-go.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[scenario]
name = "stop-and-go"
description = "a system that is not connected to the source while its latency fault is on"

[run]
duration_secs = 24
drain_timeout_secs = 60

[workload]
[workload.topics]
count = 1
pattern = "orders.{{n}}"
partitions = 2
[[workload.producer]]
rate = {{ records_per_sec = 100 }}

[system]
kind = "command"
command = ["{}"]
grace_secs = 10

[[fault]]
at_secs = 10
duration_secs = 4
kind = "latency"
cluster = "source"
direction = "both"
latency_ms = 100
"#,
            script.display()
        ),
    )
    .unwrap();
    let r = run_in(dir.path(), &path);
    let log = std::fs::read_to_string(r.dir.path().join("instance-0.log")).unwrap_or_default();
    assert!(log.contains("started again after it"), "{log}");
    // The copy itself is right: nothing failed ...
    assert_eq!(
        r.report["failures"].as_array().unwrap().len(),
        0,
        "{:#}",
        r.report
    );
    // ... but the latency tested nothing of the system.
    assert_eq!(r.report["outcome"], "unknown", "{:#}", r.report);
    assert_eq!(r.code, CutoverExitCode::ERROR, "{}\n{}", r.stdout, r.stderr);
    let undecided = r.report["undecided"].as_array().unwrap();
    assert!(
        undecided.iter().any(|u| u["class"] == "fault-not-proven"),
        "{undecided:#?}"
    );
    let latency = &r.report["faults"][0];
    assert_eq!(latency["kind"], "latency");
    assert!(
        latency["error"]
            .as_str()
            .unwrap()
            .contains("the system under test"),
        "{latency:#}"
    );
}

/// `[verify] transactions = "atomic"`: the built-in replicator copies each source partition in
/// its slot's own transactions, so a source transaction over several partitions becomes
/// visible on the target in parts. A live `read_committed` observer on the target sees every
/// committed source transaction and the run fails `torn-transaction`, counted. The control:
/// the same copy of one-record transactions (nothing to tear) keeps the promise and passes.
#[test]
fn an_atomic_transactions_promise_fails_a_copy_that_tears_them_and_not_one_that_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let atomic = |t: String| {
        t.replace(
            "timestamps = true",
            "timestamps = true\ntransactions = \"atomic\"",
        )
        .replace("commit_interval_ms = 100", "commit_interval_ms = 300")
    };
    let torn = smoke_with(dir.path(), "torn", |t| {
        atomic(t).replace("[expect]\noutcome = \"pass\"", "")
    });
    let r = run_in(dir.path(), &torn);
    assert_eq!(
        r.code,
        CutoverExitCode::FAILED,
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let t = &r.report["transactions"];
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    assert_eq!(t["promise"], "atomic", "{t:#}");
    assert!(n("on_source") >= 3, "{t:#}");
    assert_eq!(
        n("transactions"),
        n("on_source"),
        "the observer saw every one: {t:#}"
    );
    assert!(n("torn") > 0, "{t:#}");
    let failures = r.report["failures"].as_array().unwrap();
    let torn_failure = failures
        .iter()
        .find(|f| f["class"] == "torn-transaction")
        .unwrap_or_else(|| panic!("{failures:#?}"));
    assert_eq!(torn_failure["count"].as_u64(), Some(n("torn")));
    // Torn, not lost or duplicated: every record is there, only not at once.
    assert_eq!(count(&r.report, "lost") + count(&r.report, "duplicated"), 0);

    let single = smoke_with(dir.path(), "single", |t| {
        atomic(t).replace("records_per_txn = 20", "records_per_txn = 1")
    });
    let r = run_in(dir.path(), &single);
    assert_eq!(r.code, CutoverExitCode::OK, "{}\n{}", r.stdout, r.stderr);
    let t = &r.report["transactions"];
    assert!(t["on_source"].as_u64().unwrap_or(0) > 20, "{t:#}");
    assert_eq!(t["transactions"], t["on_source"], "{t:#}");
    assert_eq!(t["torn"], 0, "{t:#}");
}
