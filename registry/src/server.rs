//! A real Apicurio Registry, started like the brokers: on a random loopback port, from the
//! cached app ([`crate::dist`]), with a Java 21+, probed until its Confluent-compatible API
//! answers, and killed with its working directory removed on every path: explicit
//! [`Apicurio::shutdown`], Drop (errors, panics, Ctrl-C handlers that drop), and the kernel's
//! `PR_SET_PDEATHSIG` when cutover itself dies ([`harness::supervisor::spawn`]).
//!
//! Storage is Apicurio's default in-memory store, so a registry holds only what a run
//! registered. Quarkus settings used: `quarkus.http.port`, `quarkus.http.host`,
//! `quarkus.management.port` and `quarkus.management.host` (everything bound to 127.0.0.1 only,
//! on ports from `harness::ports`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::java::JavaRuntime;
use harness::workdir::WorkDir;
use harness::{ports, supervisor};

use crate::client::{HttpRegistry, SchemaRegistry};
use crate::dist::{ApicurioDist, DEFAULT_APICURIO_VERSION};
use crate::error::{RegistryError, Result};

/// The Confluent-compatible API's path on Apicurio 3.x.
pub const CCOMPAT_PATH: &str = "/apis/ccompat/v7";
/// Oldest Java that runs Apicurio Registry 3.x (class files of version 65).
pub const MIN_JAVA_MAJOR: u32 = 21;

/// How to start one registry.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// A name for logs and the working dir (`source-a`, `target`).
    pub name: String,
    /// Apicurio Registry version (cached on first use).
    pub version: String,
    /// Where the registry's log goes (`registry-<name>.log`); its working dir otherwise.
    pub log_dir: Option<PathBuf>,
    /// How long to wait for the API to answer.
    pub ready_timeout: Duration,
}

impl StartOptions {
    pub fn new(name: impl Into<String>) -> StartOptions {
        StartOptions {
            name: name.into(),
            version: DEFAULT_APICURIO_VERSION.to_string(),
            log_dir: None,
            ready_timeout: Duration::from_secs(180),
        }
    }

    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> StartOptions {
        self.log_dir = Some(dir.into());
        self
    }
}

/// A running Apicurio Registry owned by this process.
#[derive(Debug)]
pub struct Apicurio {
    name: String,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    started_in: Duration,
    java: JavaRuntime,
    // Dropped after the child is killed (field order does not matter: Drop kills first).
    workdir: WorkDir,
}

impl Apicurio {
    /// Fetches (once) and starts a registry; returns when its API answers.
    pub fn start(options: &StartOptions) -> Result<Apicurio> {
        let java = JavaRuntime::locate_at_least(MIN_JAVA_MAJOR)?;
        let dist = ApicurioDist::ensure(
            &options.version,
            &|line| tracing::info!(registry = %options.name, "{line}"),
        )?;
        Self::start_with(options, &dist, java)
    }

    /// Starts registries named `names` at once (a thread each, default version, logs in
    /// `log_dir`); the first error wins and those already started are stopped (dropped).
    pub fn start_all(names: &[&str], log_dir: &Path) -> Result<Vec<Apicurio>> {
        let results: Vec<Result<Apicurio>> = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .iter()
                .map(|n| {
                    let options = StartOptions::new(*n).log_dir(log_dir);
                    scope.spawn(move || Apicurio::start(&options))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(RegistryError::Fetch {
                            version: String::new(),
                            detail: "a registry's start thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        results.into_iter().collect()
    }

    /// Starts a registry from `dist` with `java`.
    pub fn start_with(
        options: &StartOptions,
        dist: &ApicurioDist,
        java: JavaRuntime,
    ) -> Result<Apicurio> {
        let workdir = WorkDir::create(&format!("registry-{}", options.name), false)?;
        let log = match &options.log_dir {
            Some(dir) => {
                fs::create_dir_all(dir).map_err(RegistryError::io(format!(
                    "creating the log dir {}",
                    dir.display()
                )))?;
                dir.join(format!("registry-{}.log", options.name))
            }
            None => workdir.path().join("registry.log"),
        };
        let log_file = fs::File::create(&log)
            .map_err(RegistryError::io(format!("creating {}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(RegistryError::io("duplicating the log handle"))?;
        let tmp = workdir.path().join("tmp");
        fs::create_dir_all(&tmp).map_err(RegistryError::io("creating the registry's tmp dir"))?;

        // The HTTP API and Quarkus' management interface (health, metrics; enabled at build
        // time in Apicurio 3.x, 0.0.0.0:9000 by default) each get a free loopback port.
        let reservation = ports::reserve(2)?;
        let (port, management_port) = (reservation.ports()[0], reservation.ports()[1]);
        let mut cmd = Command::new(&java.path);
        cmd.current_dir(workdir.path())
            .arg("-Xms64m")
            .arg("-Xmx512m")
            .arg("-XX:+UseSerialGC")
            .arg(format!("-Djava.io.tmpdir={}", tmp.display()))
            .arg(format!("-Dquarkus.http.port={port}"))
            .arg("-Dquarkus.http.host=127.0.0.1")
            .arg(format!("-Dquarkus.management.port={management_port}"))
            .arg("-Dquarkus.management.host=127.0.0.1")
            .arg("-jar")
            .arg(dist.run_jar())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let started = Instant::now();
        // Release the port just before the JVM binds it.
        drop(reservation);
        let child = supervisor::spawn(cmd).map_err(RegistryError::io(format!(
            "starting Apicurio Registry with {}",
            java.path.display()
        )))?;
        tracing::info!(registry = %options.name, pid = child.id(), port, "Apicurio Registry starting");
        let mut registry = Apicurio {
            name: options.name.clone(),
            child: Some(child),
            port,
            log,
            started_in: Duration::ZERO,
            java,
            workdir,
        };
        registry.wait_ready(started, options.ready_timeout)?;
        registry.started_in = started.elapsed();
        tracing::info!(
            registry = %registry.name,
            url = %registry.url(),
            secs = registry.started_in.as_secs_f64(),
            "Apicurio Registry ready"
        );
        Ok(registry)
    }

    fn wait_ready(&mut self, started: Instant, timeout: Duration) -> Result<()> {
        let client = self.client()?;
        let mut last = String::from("no answer yet");
        while started.elapsed() < timeout {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(self.not_ready(
                        timeout,
                        format!("the JVM exited ({status}): {}", log_tail(&self.log)),
                    ));
                }
            }
            match client.subjects() {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(self.not_ready(timeout, last))
    }

    fn not_ready(&self, timeout: Duration, detail: String) -> RegistryError {
        RegistryError::NotReady {
            name: self.name.clone(),
            secs: timeout.as_secs(),
            log: self.log.clone(),
            detail,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Confluent-compatible API's base URL.
    pub fn ccompat_url(&self) -> String {
        format!("{}{CCOMPAT_PATH}", self.url())
    }

    /// A client for this registry's Confluent-compatible API.
    pub fn client(&self) -> Result<HttpRegistry> {
        HttpRegistry::new(&self.ccompat_url())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JVM's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// From spawn to the API answering.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The working dir (removed on shutdown).
    pub fn dir(&self) -> &Path {
        self.workdir.path()
    }

    pub fn java(&self) -> &JavaRuntime {
        &self.java
    }

    /// True while the JVM runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the JVM (SIGKILL: in-memory storage has nothing to flush) and removes its dir.
    /// Safe to call twice.
    pub fn shutdown(&mut self) {
        if let Some(mut child) = self.child.take() {
            supervisor::kill_and_reap(&mut child);
            tracing::debug!(registry = %self.name, "Apicurio Registry stopped");
        }
        self.workdir.remove();
    }
}

impl Drop for Apicurio {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(8);
    lines[from..].join("\n")
}
