//! The system under test as processes: instances started, stopped (SIGTERM, SIGKILL after a
//! grace period), crashed (kill -9), stalled (SIGSTOP/SIGCONT). Every process is spawned
//! through the harness supervisor, so it dies with cutover however cutover dies. The kinds:
//! `cutover replicate`, a user's command, or a MirrorMaker 2 JVM (dedicated mode, one
//! `mm2-instance-N.properties` per instance, all in one Connect cluster).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::ScenarioError;
use crate::mirrormaker::Mm2Config;
use crate::spec::SystemSpec;

/// What MirrorMaker 2 instances are started from.
pub struct Mm2Launch {
    pub runtime: harness::MirrorMaker2,
    pub config: Mm2Config,
    pub heap_mb: u32,
}

pub use crate::system_config::builtin_config;

/// How instances are launched.
pub struct Launcher {
    /// The `cutover` executable (builtin systems run `cutover replicate`).
    pub cutover_exe: PathBuf,
    pub dir: PathBuf,
    pub system: SystemSpec,
    pub scenario_dir: PathBuf,
    pub source_bootstrap: String,
    pub target_bootstrap: String,
    /// Private dir (0700, removed after the run) for files that hold secrets: the configs
    /// the system under test really runs with. The report dir gets redacted copies.
    pub secrets_dir: PathBuf,
    /// The client properties files handed to `command` systems
    /// (`CUTOVER_SOURCE_PROPERTIES`, `CUTOVER_TARGET_PROPERTIES`), in `secrets_dir`.
    pub source_properties_file: PathBuf,
    pub target_properties_file: PathBuf,
    pub topics: Vec<String>,
    /// The builtin config file, written once.
    pub config_path: Option<PathBuf>,
    /// MirrorMaker 2's runtime and config (`mirrormaker2` systems).
    pub mm2: Option<Mm2Launch>,
}

impl Launcher {
    /// A launcher of `system` whose files (logs, client properties, generated configs) all
    /// go to `dir`; set `cutover_exe`, `secrets_dir`, `config_path` or `mm2` where the
    /// system needs them.
    pub fn new(
        system: SystemSpec,
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
            config_path: None,
            mm2: None,
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

/// One running instance.
pub struct Instance {
    pub index: u32,
    pub child: Child,
    pub log: PathBuf,
    pub metrics_port: Option<u16>,
}

/// The instances of the system under test, by index (a stopped one leaves a hole).
pub struct Instances {
    launcher: Launcher,
    pub running: BTreeMap<u32, Instance>,
    next: u32,
}

impl Instances {
    pub fn new(launcher: Launcher) -> Instances {
        Instances {
            launcher,
            running: BTreeMap::new(),
            next: 0,
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
        let (mut command, metrics_port) = match &l.system {
            SystemSpec::Running { .. } => {
                return Err(ScenarioError::System(
                    "a `running` system runs outside cutover; there is nothing to start".into(),
                ))
            }
            SystemSpec::Builtin { .. } => {
                let port = free_port()?;
                let mut c = Command::new(&l.cutover_exe);
                c.arg("replicate").arg("--config");
                c.arg(
                    l.config_path
                        .as_ref()
                        .ok_or_else(|| ScenarioError::System("no config written".into()))?,
                );
                c.args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
                // CUTOVER_SYSTEM_LOG (an EnvFilter, e.g. `info,replicator=debug`) raises the
                // instances' log level for a diagnosis.
                let level = std::env::var("CUTOVER_SYSTEM_LOG")
                    .unwrap_or_else(|_| "info,librdkafka=error".into());
                c.env("CUTOVER_LOG", level).env("NO_COLOR", "1");
                (c, Some(port))
            }
            SystemSpec::Command {
                command,
                group_id,
                env,
                ..
            } => {
                let program = resolve(&l.scenario_dir, &command[0]);
                let mut c = Command::new(program);
                c.args(&command[1..]);
                c.current_dir(&l.scenario_dir);
                c.envs(env);
                c.env("CUTOVER_GROUP_ID", group_id);
                (c, None)
            }
            SystemSpec::Mirrormaker2 { .. } => {
                let mm2 = l
                    .mm2
                    .as_ref()
                    .ok_or_else(|| ScenarioError::System("MirrorMaker 2 not prepared".into()))?;
                // The REST port is free now; the JVM binds it within seconds.
                let rest_port = harness::ports::reserve(1)?.ports()[0];
                let name = format!("mm2-instance-{index}.properties");
                let text = mm2.config.instance_properties(rest_port);
                let path = l.secrets_dir.join(&name);
                write_private(&path, &text)?;
                let shown = l.dir.join(&name);
                std::fs::write(
                    &shown,
                    reports::redact::redact_text(&secrets::redact_properties(&text)),
                )
                .map_err(ScenarioError::io(format!("writing {}", shown.display())))?;
                let mut c = mm2.runtime.command(&path, mm2.heap_mb);
                c.current_dir(&l.dir);
                (c, None)
            }
        };
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
        let child = harness::supervisor::spawn(command)
            .map_err(|e| ScenarioError::System(format!("starting instance {index}: {e}")))?;
        tracing::info!(
            instance = index,
            pid = child.id(),
            "system under test started"
        );
        self.running.insert(
            index,
            Instance {
                index,
                child,
                log,
                metrics_port,
            },
        );
        Ok(())
    }

    /// SIGTERM, then SIGKILL after the grace period.
    pub fn stop(&mut self, index: u32) -> Result<(), ScenarioError> {
        let grace = match &self.launcher.system {
            SystemSpec::Command { grace_secs, .. }
            | SystemSpec::Mirrormaker2 { grace_secs, .. } => Duration::from_secs_f64(*grace_secs),
            SystemSpec::Builtin { .. } | SystemSpec::Running { .. } => Duration::from_secs(60),
        };
        let mut instance = self
            .running
            .remove(&index)
            .ok_or_else(|| ScenarioError::System(format!("no running instance {index}")))?;
        // A stalled process must run to handle SIGTERM.
        let _ = harness::supervisor::signal(instance.child.id(), libc::SIGCONT);
        if !harness::supervisor::terminate(&mut instance.child, grace) {
            tracing::warn!(
                instance = index,
                "did not stop within the grace period; killed"
            );
        }
        Ok(())
    }

    /// kill -9.
    pub fn crash(&mut self, index: u32) -> Result<(), ScenarioError> {
        let mut instance = self
            .running
            .remove(&index)
            .ok_or_else(|| ScenarioError::System(format!("no running instance {index}")))?;
        harness::supervisor::kill_and_reap(&mut instance.child);
        Ok(())
    }

    pub fn signal(&self, index: u32, signal: i32) -> Result<(), ScenarioError> {
        let instance = self
            .running
            .get(&index)
            .ok_or_else(|| ScenarioError::System(format!("no running instance {index}")))?;
        harness::supervisor::signal(instance.child.id(), signal)
            .map_err(|e| ScenarioError::System(format!("signalling instance {index}: {e}")))
    }

    /// The OS pid of a running instance.
    pub fn pid(&self, index: u32) -> Option<u32> {
        self.running.get(&index).map(|i| i.child.id())
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

    /// Stops every instance (SIGTERM, grace, SIGKILL).
    pub fn stop_all(&mut self) {
        let all: Vec<u32> = self.running.keys().copied().collect();
        for i in all {
            let _ = self.stop(i);
        }
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
            harness::supervisor::kill_and_reap(&mut inst.child);
        }
    }
}

fn resolve(dir: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

fn free_port() -> Result<u16, ScenarioError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(ScenarioError::io("picking a metrics port"))
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

    #[test]
    fn launch_starts_the_asked_number_of_instances_with_their_logs_in_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        let system = SystemSpec::Command {
            command: vec!["sleep".into(), "30".into()],
            instances: 2,
            grace_secs: 1.0,
            group_id: "g".into(),
            env: BTreeMap::new(),
            rename_prefix: String::new(),
        };
        let launcher = Launcher::new(
            system,
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
}
