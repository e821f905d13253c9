//! Shared process supervision of every system under test: instances started, stopped
//! (SIGTERM, SIGKILL after the system's grace period), crashed (kill -9), stalled
//! (SIGSTOP/SIGCONT). Every instance is spawned through the harness supervisor as the leader of
//! its own process group, and every signal goes to the whole group: a wrapper script that runs
//! its copier without `exec` is stopped, stalled and crashed with its copier. Each instance's
//! environment carries [`PROCESS_MARK`], so a process that left the group (`setsid`) and lost
//! its parent is still found: after the run [`Instances::kill_survivors`] kills whatever of any
//! instance outlived its stop. What an instance runs is the system's
//! ([`SystemUnderTest::command`]): `cutover replicate`, a user's command, or a MirrorMaker 2
//! JVM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::supervisor::{Family, ProcessInfo};

use super::SystemUnderTest;
use crate::error::ScenarioError;

/// How instances are launched.
pub struct Launcher {
    /// The `cutover` executable (builtin systems run `cutover replicate`).
    pub cutover_exe: PathBuf,
    /// Where the instances' logs and the redacted copies of their configs go.
    pub dir: PathBuf,
    /// The system, prepared ([`SystemUnderTest::prepare`]).
    pub system: Arc<dyn SystemUnderTest>,
    pub scenario_dir: PathBuf,
    pub source_bootstrap: String,
    pub target_bootstrap: String,
    /// Private dir (0700, removed after the run) for files that hold secrets: the configs
    /// the system under test really runs with. The report dir gets redacted copies.
    pub secrets_dir: PathBuf,
    /// The client properties files handed to every instance
    /// (`CUTOVER_SOURCE_PROPERTIES`, `CUTOVER_TARGET_PROPERTIES`), in `secrets_dir`.
    pub source_properties_file: PathBuf,
    pub target_properties_file: PathBuf,
    pub topics: Vec<String>,
}

impl Launcher {
    /// A launcher of `system` whose files (logs, client properties, generated configs) all
    /// go to `dir`; set `cutover_exe` or `secrets_dir` where the system needs them.
    pub fn new(
        system: Arc<dyn SystemUnderTest>,
        dir: &Path,
        source_bootstrap: String,
        target_bootstrap: String,
        topics: Vec<String>,
    ) -> Launcher {
        Launcher {
            cutover_exe: PathBuf::from("cutover"),
            dir: dir.to_path_buf(),
            system,
            scenario_dir: dir.to_path_buf(),
            source_bootstrap,
            target_bootstrap,
            secrets_dir: dir.to_path_buf(),
            source_properties_file: dir.join("source.properties"),
            target_properties_file: dir.join("target.properties"),
            topics,
        }
    }
}

/// Starts `count` instances of the launcher's system: how `cutover run` and the replication
/// bench both put a system under test to work.
pub fn launch(launcher: Launcher, count: u32) -> Result<Instances, ScenarioError> {
    let mut instances = Instances::new(launcher);
    for _ in 0..count {
        instances.add()?;
    }
    Ok(instances)
}

/// The environment variable every process of an instance inherits: `<run token>.<index>`, one
/// token per [`Instances`]. A process that clears its environment is not found by it.
pub const PROCESS_MARK: &str = "CUTOVER_PROCESS_MARK";

/// One running instance.
pub struct Instance {
    pub index: u32,
    /// The leader of the instance's process group: the command cutover started.
    pub child: Child,
    /// Every process the instance started (its group, their descendants, its mark).
    pub family: Family,
    pub log: PathBuf,
    pub metrics_port: Option<u16>,
}

/// The instances of the system under test, by index (a stopped one leaves a hole).
pub struct Instances {
    launcher: Launcher,
    pub running: BTreeMap<u32, Instance>,
    next: u32,
    /// This set's part of every instance's [`PROCESS_MARK`].
    token: String,
    /// The family of every instance ever started here (each life of a restarted one), for the
    /// survivors' check.
    lives: Vec<Family>,
    /// When [`Instances::stop_all`] began (the run's end, not a fault).
    stopping_since: Option<std::time::SystemTime>,
}

/// A process of the system under test that outlived its instance's stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survivor {
    pub pid: u32,
    /// `/proc/PID/cmdline`, arguments joined by spaces.
    pub command_line: String,
}

impl std::fmt::Display for Survivor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.command_line)
    }
}

impl Instances {
    pub fn new(launcher: Launcher) -> Instances {
        static SETS: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Instances {
            launcher,
            running: BTreeMap::new(),
            next: 0,
            token: format!(
                "{}-{}-{nanos}",
                std::process::id(),
                SETS.fetch_add(1, Ordering::Relaxed)
            ),
            lives: Vec::new(),
            stopping_since: None,
        }
    }

    /// Starts a new instance with the next index.
    pub fn add(&mut self) -> Result<u32, ScenarioError> {
        let index = self.next;
        self.next += 1;
        self.start(index)?;
        Ok(index)
    }

    /// (Re)starts instance `index`.
    pub fn start(&mut self, index: u32) -> Result<(), ScenarioError> {
        let l = &self.launcher;
        let log = l.dir.join(format!("instance-{index}.log"));
        // Appended to: a restarted instance (crash-instance) keeps its earlier lives' logs.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(ScenarioError::io(format!("opening {}", log.display())))?;
        {
            use std::io::Write;
            writeln!(file, "=== cutover: instance {index} (re)started ===")
                .map_err(ScenarioError::io(format!("writing {}", log.display())))?;
        }
        let err_file = file.try_clone().map_err(ScenarioError::io("log file"))?;
        let (mut command, metrics_port) = l.system.command(index, l)?;
        command
            .env("CUTOVER_SOURCE_BOOTSTRAP", &l.source_bootstrap)
            .env("CUTOVER_TARGET_BOOTSTRAP", &l.target_bootstrap)
            .env("CUTOVER_SOURCE_PROPERTIES", &l.source_properties_file)
            .env("CUTOVER_TARGET_PROPERTIES", &l.target_properties_file)
            .env("CUTOVER_TOPICS", l.topics.join(","))
            .env("CUTOVER_INSTANCE", index.to_string())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err_file);
        let mark = format!("{}.{index}", self.token);
        let harness::supervisor::Supervised { child, family } =
            harness::supervisor::spawn_group(command, Some((PROCESS_MARK, &mark)))
                .map_err(|e| ScenarioError::System(format!("starting instance {index}: {e}")))?;
        tracing::info!(
            instance = index,
            pid = child.id(),
            "system under test started"
        );
        self.lives.push(family.clone());
        self.running.insert(
            index,
            Instance {
                index,
                child,
                family,
                log,
                metrics_port,
            },
        );
        Ok(())
    }

    /// SIGTERM to the instance's process group, then SIGKILL to it after the grace period.
    pub fn stop(&mut self, index: u32) -> Result<(), ScenarioError> {
        let grace = self.launcher.system.grace();
        let mut instance = self
            .running
            .remove(&index)
            .ok_or_else(|| ScenarioError::System(format!("no running instance {index}")))?;
        // SIGCONT too: a stalled process must run to handle SIGTERM.
        if !harness::supervisor::terminate_group(&mut instance.child, &instance.family, grace) {
            tracing::warn!(
                instance = index,
                "did not stop within the grace period; killed"
            );
        }
        Ok(())
    }

    /// kill -9 to the instance's process group.
    pub fn crash(&mut self, index: u32) -> Result<(), ScenarioError> {
        let mut instance = self
            .running
            .remove(&index)
            .ok_or_else(|| ScenarioError::System(format!("no running instance {index}")))?;
        harness::supervisor::kill_group(&mut instance.child, &instance.family);
        Ok(())
    }

    /// Sends `signal` to the instance's process group.
    pub fn signal(&self, index: u32, signal: i32) -> Result<(), ScenarioError> {
        let instance = self
            .running
            .get(&index)
            .ok_or_else(|| ScenarioError::System(format!("no running instance {index}")))?;
        instance
            .family
            .signal(signal)
            .map_err(|e| ScenarioError::System(format!("signalling instance {index}: {e}")))
    }

    /// The system these instances run.
    pub fn system(&self) -> &Arc<dyn SystemUnderTest> {
        &self.launcher.system
    }

    /// The OS pid of a running instance (its process group's leader).
    pub fn pid(&self, index: u32) -> Option<u32> {
        self.running.get(&index).map(|i| i.child.id())
    }

    /// Every process a running instance started (see [`Family`]); still valid after the
    /// instance is stopped or crashed, to prove that nothing of it is left.
    pub fn family(&self, index: u32) -> Option<Family> {
        self.running.get(&index).map(|i| i.family.clone())
    }

    /// The metrics port of a running instance (the built-in replicator's).
    pub fn metrics_port(&self, index: u32) -> Option<u16> {
        self.running.get(&index).and_then(|i| i.metrics_port)
    }

    /// The metrics ports of every running instance that has one.
    pub fn metrics_ports(&self) -> Vec<u16> {
        self.running
            .values()
            .filter_map(|i| i.metrics_port)
            .collect()
    }

    /// The newest running instance.
    pub fn newest(&self) -> Option<u32> {
        self.running.keys().next_back().copied()
    }

    /// Instances that exited on their own (a crash of the system under test), with their status.
    pub fn exited(&mut self) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        for (i, inst) in self.running.iter_mut() {
            if let Ok(Some(status)) = inst.child.try_wait() {
                out.push((*i, status.to_string()));
            }
        }
        for (i, _) in &out {
            self.running.remove(i);
        }
        out
    }

    /// Stops every instance (SIGTERM, grace, SIGKILL, each to its process group).
    pub fn stop_all(&mut self) {
        self.stopping_since
            .get_or_insert_with(std::time::SystemTime::now);
        let all: Vec<u32> = self.running.keys().copied().collect();
        for i in all {
            let _ = self.stop(i);
        }
    }

    /// Kills every live process of an instance that is no longer running (stopped, crashed,
    /// removed or exited; call it after [`Instances::stop_all`] for the whole run): whatever
    /// left the group or ignored its stop. Returns them, with their command lines as they were
    /// before the kill.
    pub fn kill_survivors(&mut self) -> Vec<Survivor> {
        let running: Vec<u32> = self.running.values().map(|i| i.family.pgid()).collect();
        let mut out: Vec<(ProcessInfo, String)> = Vec::new();
        for life in self.lives.iter().filter(|f| !running.contains(&f.pgid())) {
            for (p, cmd) in life.kill_all(Duration::from_secs(5)) {
                if !out.iter().any(|(o, _)| o == &p) {
                    out.push((p, cmd));
                }
            }
        }
        self.lives.retain(|f| running.contains(&f.pgid()));
        out.sort_by_key(|(p, _)| p.pid);
        out.into_iter()
            .map(|(p, command_line)| Survivor {
                pid: p.pid,
                command_line,
            })
            .collect()
    }

    /// When every instance was asked to stop at the run's end ([`Instances::stop_all`]); what
    /// a system's group did after that is its shutdown, not the run's.
    pub fn stopping_since(&self) -> Option<std::time::SystemTime> {
        self.stopping_since
    }

    pub fn logs(&self) -> Vec<PathBuf> {
        (0..self.next)
            .map(|i| self.launcher.dir.join(format!("instance-{i}.log")))
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for inst in self.running.values_mut() {
            harness::supervisor::kill_group(&mut inst.child, &inst.family);
        }
        self.running.clear();
        let _ = self.kill_survivors();
    }
}

/// Writes a file only its owner can read (configs with passwords).
pub fn write_private(path: &Path, text: &str) -> Result<(), ScenarioError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(ScenarioError::io(format!("writing {}", path.display())))
}

/// Java `.properties` text of `props` (keys sorted).
pub fn properties_text(props: &harness::ClientProps) -> String {
    let mut out = String::from("# written by cutover for the system under test\n");
    for (k, v) in props.iter() {
        out.push_str(&format!("{k}={}\n", v.replace('\\', "\\\\")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SystemSpec;

    #[test]
    fn launch_starts_the_asked_number_of_instances_with_their_logs_in_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        let system = SystemSpec::Command {
            command: vec!["sleep".into(), "30".into()],
            instances: 2,
            grace_secs: 1.0,
            group_id: "g".into(),
            rebalance_proof_secs: 90.0,
            env: BTreeMap::new(),
            rename_prefix: String::new(),
        };
        let launcher = Launcher::new(
            system.system().into(),
            dir.path(),
            "127.0.0.1:1".into(),
            "127.0.0.1:2".into(),
            vec!["t".into()],
        );
        let mut instances = launch(launcher, 2).unwrap();
        assert_eq!(
            instances.running.keys().copied().collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(dir.path().join("instance-1.log").exists());
        assert!(instances.exited().is_empty(), "both still run");
        instances.stop_all();
        assert!(instances.running.is_empty());
    }

    fn command_system(dir: &Path, script: &str) -> Instances {
        let system = SystemSpec::Command {
            command: vec!["sh".into(), "-c".into(), script.into()],
            instances: 1,
            grace_secs: 5.0,
            group_id: "g".into(),
            rebalance_proof_secs: 90.0,
            env: BTreeMap::new(),
            rename_prefix: String::new(),
        };
        let launcher = Launcher::new(
            system.system().into(),
            dir,
            "127.0.0.1:1".into(),
            "127.0.0.1:2".into(),
            vec!["t".into()],
        );
        launch(launcher, 1).unwrap()
    }

    /// (pid, state) of the live processes whose command line is `cmd`.
    fn find(cmd: &str) -> Vec<(u32, char)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let (Ok(line), Ok(stat)) = (
                std::fs::read(e.path().join("cmdline")),
                std::fs::read_to_string(e.path().join("stat")),
            ) else {
                continue;
            };
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next())
                .unwrap_or('?');
            if String::from_utf8_lossy(&line).replace('\0', " ").trim_end() == cmd && state != 'Z' {
                out.push((pid, state));
            }
        }
        out
    }

    fn within(secs: u64, mut done: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done()
    }

    #[test]
    fn stall_crash_and_stop_reach_the_copier_a_wrapper_did_not_exec() {
        // The README's `./my-copier.sh` shape: a shell that runs its copier without `exec`.
        let copier = "sleep 90.3001";
        let dir = tempfile::tempdir().unwrap();
        let mut instances = command_system(dir.path(), &format!("{copier} & wait"));
        assert!(within(5, || find(copier).len() == 1), "{:?}", find(copier));

        instances.signal(0, libc::SIGSTOP).unwrap();
        assert!(
            within(2, || find(copier).iter().all(|(_, s)| *s == 'T')),
            "a stall stops the copier: {:?}",
            find(copier)
        );
        instances.signal(0, libc::SIGCONT).unwrap();

        instances.crash(0).unwrap();
        assert!(
            within(2, || find(copier).is_empty()),
            "a crash kills the copier: {:?}",
            find(copier)
        );

        instances.start(0).unwrap();
        assert!(within(5, || find(copier).len() == 1), "{:?}", find(copier));
        instances.stop(0).unwrap();
        assert!(
            within(2, || find(copier).is_empty()),
            "a stop ends the copier: {:?}",
            find(copier)
        );
    }

    #[test]
    fn a_process_that_left_the_group_survives_the_stop_and_is_killed_and_named() {
        let escapee = "sleep 90.3002";
        let dir = tempfile::tempdir().unwrap();
        let mut instances = command_system(dir.path(), &format!("setsid {escapee} & wait"));
        assert!(
            within(5, || find(escapee).len() == 1),
            "{:?}",
            find(escapee)
        );
        let pid = find(escapee)[0].0;
        instances.stop_all();
        assert_eq!(find(escapee).len(), 1, "setsid took it out of the group");
        let survivors = instances.kill_survivors();
        assert_eq!(
            survivors,
            [Survivor {
                pid,
                command_line: escapee.into()
            }]
        );
        assert!(within(2, || find(escapee).is_empty()));
        assert!(
            instances.kill_survivors().is_empty(),
            "nothing left to find"
        );
    }
}
