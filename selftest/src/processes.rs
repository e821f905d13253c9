//! The system under test as processes: `command` systems whose wrapper script runs the copier
//! as its child (no `exec`), run through `cutover run` exactly as a user's scenario runs.
//!
//! * `wrapper-shell-crash`: a crash of the instance at 3 s must reach the wrapper *and* the
//!   copier (the crash's proof names both processes), and the exactly-once copier must still
//!   pass: before process groups, the signal went to the wrapper's pid only and the copier kept
//!   copying under a "crashed" instance.
//! * `escapes-process-group`: the wrapper starts a sidecar in a session of its own (`setsid`),
//!   as log shippers do: it leaves the instance's process group, so the run must fail with
//!   exactly one `process-survived` (and kill it).
//!
//! Each case ends with a look at `/proc`: nothing started for it may outlive its run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reports::Outcome;

use crate::SelftestError;

/// One process case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessCase {
    WrapperShellCrash,
    EscapesProcessGroup,
}

impl ProcessCase {
    pub const ALL: [ProcessCase; 2] = [
        ProcessCase::WrapperShellCrash,
        ProcessCase::EscapesProcessGroup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProcessCase::WrapperShellCrash => "wrapper-shell-crash",
            ProcessCase::EscapesProcessGroup => "escapes-process-group",
        }
    }

    /// The run-level classes (with counts) the run must show, exactly.
    pub fn expected(self) -> BTreeMap<String, u64> {
        match self {
            ProcessCase::WrapperShellCrash => BTreeMap::new(),
            ProcessCase::EscapesProcessGroup => BTreeMap::from([("process-survived".into(), 1)]),
        }
    }
}

/// What one case's run showed.
#[derive(Debug, Clone)]
pub struct ProcessOutcome {
    /// Run-level classes of the report's failures and undecided reasons, with counts.
    pub found: BTreeMap<String, u64>,
    pub outcome: Outcome,
    /// Processes of the case still alive after the run (killed now), as `pid: command`.
    pub leftovers: Vec<String>,
    /// The crash's proof (`wrapper-shell-crash`): what the fault says it reached.
    pub crash_effect: Option<String>,
    pub ok: bool,
    pub elapsed_ms: u64,
}

/// Runs `case` as `cutover_exe run <scenario>` in a temp dir (clusters of the default Kafka
/// version), stopped with Ctrl-C after `timeout`.
pub fn run_case(
    case: ProcessCase,
    cutover_exe: &Path,
    timeout: Duration,
) -> Result<ProcessOutcome, SelftestError> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix(&format!("cutover-selftest-{}-", case.name()))
        .tempdir()
        .map_err(|e| io_error("creating a temp dir", e))?;
    // A tag only this case's sidecar carries, so the look at /proc finds it.
    let sidecar = format!("sleep 600.{}{}", std::process::id(), case as u8);
    let (before_copier, faults) = match case {
        ProcessCase::WrapperShellCrash => (
            String::new(),
            "[[fault]]\nat_secs = 3\nkind = \"crash-instance\"\ninstance = 0\nduration_secs = 1\n",
        ),
        ProcessCase::EscapesProcessGroup => (format!("setsid {sidecar} &"), ""),
    };
    let scenario = write_scenario(dir.path(), cutover_exe, &before_copier, faults)?;
    let report_dir = dir.path().join("report");
    let mut child = Command::new(cutover_exe)
        .arg("run")
        .arg(&scenario)
        .arg("--report-dir")
        .arg(&report_dir)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io_error(&format!("starting {}", cutover_exe.display()), e))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Ok(None) => {
                // SIGINT: cutover tears its clusters and systems down on Ctrl-C.
                let _ = harness::supervisor::signal(child.id(), SIGINT);
                let _ = child.wait();
                break;
            }
            Err(e) => return Err(io_error("waiting for cutover run", e)),
        }
    }
    let mut leftovers = mentioning(&dir.path().to_string_lossy());
    leftovers.extend(mentioning(&sidecar));
    for (pid, _) in &leftovers {
        let _ = harness::supervisor::signal(*pid, SIGKILL);
    }
    let leftovers: Vec<String> = leftovers
        .into_iter()
        .map(|(pid, cmd)| format!("{pid}: {cmd}"))
        .collect();
    let report = reports::load(&report_dir.join("report.json"))
        .map_err(|e| SelftestError::Process(format!("{}: {e}", case.name())))?;
    let mut found: BTreeMap<String, u64> = BTreeMap::new();
    for reason in report.failures.iter().chain(&report.undecided) {
        *found.entry(reason.class.as_str().to_string()).or_default() += reason.count;
    }
    let crash_effect = report
        .faults
        .iter()
        .find(|f| f.kind == "crash-instance")
        .map(|f| f.effect.clone());
    let ok = leftovers.is_empty()
        && found == case.expected()
        && match case {
            ProcessCase::WrapperShellCrash => {
                report.outcome == Outcome::Pass
                    && crash_effect
                        .as_deref()
                        .is_some_and(|e| e.contains("2 processes"))
            }
            ProcessCase::EscapesProcessGroup => report.outcome == Outcome::Fail,
        };
    Ok(ProcessOutcome {
        found,
        outcome: report.outcome,
        leftovers,
        crash_effect,
        ok,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

fn io_error(context: &str, e: std::io::Error) -> SelftestError {
    SelftestError::Process(format!("{context}: {e}"))
}

/// Live processes whose command line contains `needle` (pid, command line).
fn mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    harness::supervisor::processes()
        .into_iter()
        .filter(|p| p.pid != me && p.is_alive())
        .map(|p| (p.pid, p.command_line()))
        .filter(|(_, cmd)| cmd.contains(needle))
        .collect()
}

/// The README's `./my-copier.sh` shape with a wrapper that does not `exec`: it writes a
/// replicator config from the contract's environment, runs `before_copier`, then
/// `cutover replicate` (exactly-once) as its child. One 1-partition topic for 6 s. Returns
/// the scenario file (`wrapped.toml` in `dir`, beside `copier.sh`).
pub fn write_scenario(
    dir: &Path,
    cutover_exe: &Path,
    before_copier: &str,
    faults: &str,
) -> Result<PathBuf, SelftestError> {
    let exe = cutover_exe.display();
    let script = dir.join("copier.sh");
    let text = format!(
        r#"#!/bin/sh
cfg="$PWD/copier-$CUTOVER_INSTANCE.toml"
cat > "$cfg" <<EOF
[replication]
mode = "exactly-once"
group_id = "$CUTOVER_GROUP_ID"
include = ['wrapped\..*']
topic_refresh_interval_ms = 1000
[tuning]
commit_interval_ms = 100
[source]
"bootstrap.servers" = "$CUTOVER_SOURCE_BOOTSTRAP"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
[target]
"bootstrap.servers" = "$CUTOVER_TARGET_BOOTSTRAP"
EOF
{before_copier}
"{exe}" replicate --config "$cfg"
echo "copier exited with $?"
"#
    );
    std::fs::write(&script, text).map_err(|e| io_error("writing copier.sh", e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io_error("making copier.sh executable", e))?;
    let path = dir.join("wrapped.toml");
    let scenario = format!(
        r#"[scenario]
name = "selftest-wrapped-copier"
description = "a wrapper script that runs its copier without exec"

[run]
duration_secs = 6
drain_timeout_secs = 60

[workload]
[workload.topics]
count = 1
pattern = "wrapped.{{n}}"
partitions = 1
[[workload.producer]]
rate = {{ records_per_sec = 500 }}

[system]
kind = "command"
command = ["./copier.sh"]
grace_secs = 10
{faults}"#
    );
    std::fs::write(&path, scenario).map_err(|e| io_error("writing the scenario", e))?;
    Ok(path)
}
