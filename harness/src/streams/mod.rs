//! # A real Kafka Streams application under test
//!
//! An application cutover (stop on the source, start on the target with the same
//! `application.id`) needs a real stateful Streams application. This module runs one as a
//! supervised JVM:
//!
//! - [`StreamsRuntime`]: Java 17+ and the `kafka-streams` jars of a Kafka version, cached like
//!   the broker jars ([`crate::DistKind::Streams`], `<cache>/streams/<version>/`).
//! - `compile`: the reference application, `apps/streams-counter/CutoverCounter.java` (embedded
//!   with `include_str!`), compiled by the JDK's `javac` against those jars into a cache entry
//!   keyed by Kafka version and the source's SHA-256 ([`StreamsRuntime::reference_app`]). It
//!   counts and sums per key over a topic pattern, through a repartition topic
//!   (`<application.id>-rekeyed-repartition`) and a store (`totals`, changelog
//!   `<application.id>-totals-changelog`), exactly-once v2 by default; its output contract is in
//!   the Java file's header.
//! - [`StreamsApp`]: one life of an application (the reference one, or a user's jar and main
//!   class): a properties file (the cluster's [`ClientProps`], security included, then
//!   `application.id`, `state.dir` and the spec's properties; mode 0600 in a private work dir,
//!   never logged) given as the program's only argument; the JVM spawned with
//!   [`crate::supervisor::spawn_group`] (its own process group, [`supervisor::PROCESS_MARK`] in
//!   its environment), so it dies with cutover; stdout and stderr appended to the spec's log.
//!   [`StreamsApp::wait_running`] reads the log for `state … RUNNING`, [`StreamsApp::stop`]
//!   sends SIGTERM (the app's shutdown hook closes it: commit, leave the group) and SIGKILL after
//!   the grace, [`StreamsApp::kill`] is kill -9 (a crash), [`StreamsApp::log_events`] parses the
//!   app's `cutover-app:` lines (`log`: states, restores, errors, the close, with times).
//!
//! The calls are blocking (process waits, log polling); async callers use `spawn_blocking`.

pub mod compile;
pub mod log;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use compile::CompiledApp;
pub use log::{AppEvents, Closed, RestoreStart, Restored, StateChange};

use crate::client_props::ClientProps;
use crate::dist::{DistKind, FetchEvent, KafkaDist, KafkaVersion};
use crate::error::{HarnessError, Result};
use crate::java::JavaRuntime;
use crate::supervisor::{self, Family, Supervised};
use crate::workdir::WorkDir;

/// Heap of an application JVM unless told otherwise (MiB); RocksDB's memory is off-heap.
pub const DEFAULT_HEAP_MB: u32 = 256;

/// The reference application's store, its changelog is `<application.id>-totals-changelog`.
pub const COUNTER_STORE: &str = "totals";

/// The reference application's repartition step, topic `<application.id>-rekeyed-repartition`.
pub const COUNTER_REPARTITION: &str = "rekeyed";

/// The changelog topic of the reference application's store.
pub fn counter_changelog(application_id: &str) -> String {
    format!("{application_id}-{COUNTER_STORE}-changelog")
}

/// The repartition topic of the reference application.
pub fn counter_repartition(application_id: &str) -> String {
    format!("{application_id}-{COUNTER_REPARTITION}-repartition")
}

/// Java 17+ and the Streams jars of one Kafka version.
#[derive(Debug, Clone)]
pub struct StreamsRuntime {
    pub java: JavaRuntime,
    pub dist: KafkaDist,
}

impl StreamsRuntime {
    /// Finds Java 17+ and makes sure the Streams jars of `version` are cached (fetched through
    /// Maven the first time).
    pub async fn prepare(
        version: &KafkaVersion,
        progress: impl Fn(FetchEvent) + Send + 'static,
    ) -> Result<StreamsRuntime> {
        let java = JavaRuntime::locate()?;
        let dist = KafkaDist::ensure_kind(DistKind::Streams, version, progress).await?;
        Ok(StreamsRuntime { java, dist })
    }

    /// The Kafka version of the jars.
    pub fn version(&self) -> &KafkaVersion {
        &self.dist.version
    }

    /// The reference application, compiled now or from the cache (blocking: javac takes
    /// seconds the first time).
    pub fn reference_app(&self) -> Result<CompiledApp> {
        compile::reference_app(&self.java, &self.dist)
    }
}

/// What an application runs: the reference application or a user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppCode {
    /// The compiled reference application ([`StreamsRuntime::reference_app`]'s classes dir).
    Reference { classes: PathBuf },
    /// A user's application: its jar (first on the classpath, before the Streams entry's jars,
    /// so a thin jar runs too) and main class, which gets the properties file's path as its
    /// only argument.
    Jar { jar: PathBuf, main_class: String },
}

impl AppCode {
    fn classpath_and_main(&self, dist: &KafkaDist) -> (String, String) {
        match self {
            AppCode::Reference { classes } => (
                format!("{}:{}", classes.display(), dist.classpath()),
                compile::MAIN_CLASS.to_string(),
            ),
            AppCode::Jar { jar, main_class } => (
                format!("{}:{}", jar.display(), dist.classpath()),
                main_class.clone(),
            ),
        }
    }
}

/// The reference application's own settings (`cutover.app.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterSettings {
    /// A Java regex of the input topics.
    pub input_pattern: String,
    pub output_topic: String,
    /// The last word of every output value: which side produced it (`source`, `target`).
    pub stamp: String,
}

impl CounterSettings {
    /// The properties that carry these settings.
    pub fn properties(&self) -> [(String, String); 3] {
        [
            (
                "cutover.app.input.pattern".into(),
                self.input_pattern.clone(),
            ),
            ("cutover.app.output.topic".into(), self.output_topic.clone()),
            ("cutover.app.stamp".into(), self.stamp.clone()),
        ]
    }
}

/// One life of an application.
#[derive(Clone)]
pub struct StreamsSpec {
    /// `application.id`: the group, the prefix of the internal topics, the transactional ids.
    pub application_id: String,
    /// The cluster: `bootstrap.servers` and client security in Java form
    /// ([`crate::Cluster::client_props`]); written as they are.
    pub client: ClientProps,
    pub app: AppCode,
    /// Further properties (Streams', clients', the app's own `cutover.app.*`); they replace
    /// the client's of the same key. `bootstrap.servers`, `application.id` and `state.dir`
    /// are the spec's and refused here.
    pub properties: BTreeMap<String, String>,
    /// `state.dir`: RocksDB and checkpoints. A fresh dir makes the app restore from its
    /// changelogs.
    pub state_dir: PathBuf,
    /// stdout and stderr are appended here.
    pub log: PathBuf,
    /// Heap (MiB), default [`DEFAULT_HEAP_MB`].
    pub heap_mb: u32,
}

impl std::fmt::Debug for StreamsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if secrets::is_secret_key(k) {
                    secrets::REDACTED
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("StreamsSpec")
            .field("application_id", &self.application_id)
            .field("client", &self.client)
            .field("app", &self.app)
            .field("properties", &properties)
            .field("state_dir", &self.state_dir)
            .field("log", &self.log)
            .field("heap_mb", &self.heap_mb)
            .finish()
    }
}

impl StreamsSpec {
    /// The reference application (`classes` from [`StreamsRuntime::reference_app`]) with
    /// `settings`, on the cluster reached with `client`.
    pub fn counter(
        application_id: impl Into<String>,
        client: ClientProps,
        classes: PathBuf,
        settings: &CounterSettings,
        state_dir: PathBuf,
        log: PathBuf,
    ) -> StreamsSpec {
        StreamsSpec {
            application_id: application_id.into(),
            client,
            app: AppCode::Reference { classes },
            properties: settings.properties().into_iter().collect(),
            state_dir,
            log,
            heap_mb: DEFAULT_HEAP_MB,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |field: &str, reason: String| {
            Err(HarnessError::InvalidStreamsSpec {
                field: field.into(),
                reason,
            })
        };
        if self.application_id.trim().is_empty() {
            return bad("application_id", "empty".into());
        }
        if self.client.bootstrap_servers().is_none() {
            return bad("client", "bootstrap.servers is not set".into());
        }
        for key in ["bootstrap.servers", "application.id", "state.dir"] {
            if self.properties.contains_key(key) {
                return bad(
                    &format!("properties.{key}"),
                    "set by cutover (the cluster, the spec's application_id and state_dir)".into(),
                );
            }
        }
        if let AppCode::Jar { jar, main_class } = &self.app {
            if !jar.is_file() {
                return bad("jar", format!("{} is not a file", jar.display()));
            }
            if main_class.trim().is_empty() {
                return bad("main_class", "empty".into());
            }
        }
        Ok(())
    }

    /// The properties file's entries, in file order: the client's, `application.id`,
    /// `state.dir`, then the spec's properties (which replace a client key in place).
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: &str| {
            if let Some(entry) = out.iter_mut().find(|(key, _)| key == k) {
                entry.1 = v.to_string();
            } else {
                out.push((k.to_string(), v.to_string()));
            }
        };
        if let Some(servers) = self.client.bootstrap_servers() {
            set("bootstrap.servers", servers);
        }
        for (k, v) in self.client.iter() {
            set(k, v);
        }
        set("application.id", &self.application_id);
        set("state.dir", &self.state_dir.display().to_string());
        for (k, v) in &self.properties {
            set(k, v);
        }
        out
    }
}

/// One running (or ended) life of an application; killed with its whole process group on
/// Drop.
pub struct StreamsApp {
    application_id: String,
    process: Supervised,
    log: PathBuf,
    /// Where this life's lines start in the log.
    log_offset: u64,
    started_at_ms: u64,
    started: Instant,
    /// The properties file's private dir.
    _dir: WorkDir,
}

impl std::fmt::Debug for StreamsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsApp")
            .field("application_id", &self.application_id)
            .field("pid", &self.process.id())
            .field("log", &self.log)
            .finish()
    }
}

impl StreamsApp {
    /// Writes the properties file and starts the JVM; returns at once (see
    /// [`StreamsApp::wait_running`]).
    pub fn start(runtime: &StreamsRuntime, spec: &StreamsSpec) -> Result<StreamsApp> {
        spec.check()?;
        let dir = WorkDir::create(
            &format!("streams-{}", sanitize(&spec.application_id)),
            false,
        )?;
        let properties = dir.path().join("app.properties");
        crate::security::write_private(
            &properties,
            &crate::connect::worker::render_properties_titled(
                &format!("Kafka Streams application {}", spec.application_id),
                &spec.entries(),
            ),
        )?;
        std::fs::create_dir_all(&spec.state_dir).map_err(HarnessError::io(format!(
            "creating the state dir {}",
            spec.state_dir.display()
        )))?;
        if let Some(parent) = spec.log.parent() {
            std::fs::create_dir_all(parent)
                .map_err(HarnessError::io(format!("creating {}", parent.display())))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(HarnessError::io(format!("opening {}", spec.log.display())))?;
        let log_offset = file
            .metadata()
            .map_err(HarnessError::io(format!("reading {}", spec.log.display())))?
            .len();
        let started_at_ms = now_ms();
        writeln!(
            file,
            "=== cutover: Kafka Streams application `{}` started at_ms={started_at_ms} ===",
            spec.application_id
        )
        .map_err(HarnessError::io(format!("writing {}", spec.log.display())))?;
        let err_file = file
            .try_clone()
            .map_err(HarnessError::io(format!("opening {}", spec.log.display())))?;

        let (classpath, main) = spec.app.classpath_and_main(&runtime.dist);
        let mut command = Command::new(&runtime.java.path);
        command
            .args(crate::process::broker_jvm_flags(spec.heap_mb))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                runtime.dist.log4j2_config().display()
            ))
            .arg("-cp")
            .arg(classpath)
            .arg(main)
            .arg(&properties)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file));
        static APPS: AtomicU64 = AtomicU64::new(0);
        let mark = format!(
            "streams-{}-{}-{started_at_ms}",
            std::process::id(),
            APPS.fetch_add(1, Ordering::Relaxed)
        );
        let process = supervisor::spawn_group(command, Some((supervisor::PROCESS_MARK, &mark)))
            .map_err(HarnessError::io(format!(
                "starting Kafka Streams application {} with {}",
                spec.application_id,
                runtime.java.path.display()
            )))?;
        tracing::info!(
            application_id = %spec.application_id,
            pid = process.id(),
            log = %spec.log.display(),
            "Kafka Streams application started"
        );
        Ok(StreamsApp {
            application_id: spec.application_id.clone(),
            process,
            log: spec.log.clone(),
            log_offset,
            started_at_ms,
            started: Instant::now(),
            _dir: dir,
        })
    }

    /// The JVM's pid (= its process group).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Every process of this life, valid after it ended (to prove none is left).
    pub fn family(&self) -> Family {
        self.process.family.clone()
    }

    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The log (shared by the lives given the same path).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// When the JVM was spawned (epoch ms).
    pub fn started_at_ms(&self) -> u64 {
        self.started_at_ms
    }

    /// This life's events so far (the lines after its start in the log).
    pub fn log_events(&self) -> AppEvents {
        log::parse_events(&self.log_text())
    }

    /// True while the JVM has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.child.try_wait(), Ok(None))
    }

    /// Waits until the application reports `RUNNING` (its first time in this life); returns
    /// the time from the spawn to that state change. Fails early when the JVM exits or the
    /// application reports `ERROR`/`PENDING_ERROR` or an uncaught exception.
    pub fn wait_running(&mut self, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.log_events();
            if let Some(at) = events.first_running_ms() {
                return Ok(Duration::from_millis(at.saturating_sub(self.started_at_ms)));
            }
            if let Some(error) = events.errors.first() {
                return Err(self.failed(format!("uncaught exception: {}", error.message)));
            }
            if let Some(state) = events
                .current_state()
                .filter(|s| matches!(*s, "ERROR" | "PENDING_ERROR"))
            {
                return Err(self.failed(format!("it reached state {state}")));
            }
            if let Ok(Some(status)) = self.process.child.try_wait() {
                return Err(HarnessError::StreamsAppExited {
                    application_id: self.application_id.clone(),
                    status: format!(
                        "{status}, {:.1} s after its start",
                        self.started.elapsed().as_secs_f64()
                    ),
                    log: self.log.clone(),
                    tail: self.tail(),
                });
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::StreamsAppTimeout {
                    application_id: self.application_id.clone(),
                    what: format!("RUNNING within {} s", timeout.as_secs()),
                    log: self.log.clone(),
                    tail: self.tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A planned stop: SIGTERM to the process group (the app's shutdown hook closes Streams:
    /// commits, leaves the group), SIGKILL after `grace`. True when it ended within the grace.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let clean = self.process.terminate(grace);
        self.process.family.kill_all(Duration::from_millis(500));
        clean
    }

    /// An unplanned stop: kill -9 to the process group, no close, no group leave.
    pub fn kill(&mut self) {
        self.process.kill();
        self.process.family.kill_all(Duration::from_millis(500));
    }

    fn log_text(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            if file.seek(SeekFrom::Start(self.log_offset)).is_ok() {
                let mut bytes = Vec::new();
                let _ = file.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        text
    }

    fn tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn failed(&self, detail: String) -> HarnessError {
        HarnessError::StreamsAppFailed {
            application_id: self.application_id.clone(),
            detail,
            log: self.log.clone(),
            tail: self.tail(),
        }
    }
}

impl Drop for StreamsApp {
    fn drop(&mut self) {
        supervisor::kill_group(&mut self.process.child, &self.process.family);
        self.process.family.kill_all(Duration::from_millis(500));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// An application id as a file-name part.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StreamsSpec {
        let mut client = ClientProps::bootstrap("127.0.0.1:9092");
        client.set("security.protocol", "SASL_SSL");
        client.set(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"hunter2\";",
        );
        let settings = CounterSettings {
            input_pattern: "orders\\..*".into(),
            output_topic: "totals".into(),
            stamp: "source".into(),
        };
        let mut spec = StreamsSpec::counter(
            "app",
            client,
            "/c".into(),
            &settings,
            "/s".into(),
            "/l".into(),
        );
        spec.properties
            .insert("security.protocol".into(), "SSL".into());
        spec.properties
            .insert("ssl.truststore.password".into(), "hunter3".into());
        spec
    }

    #[test]
    fn the_properties_carry_the_cluster_the_id_the_state_dir_and_the_app_settings() {
        let s = spec();
        let text = crate::connect::worker::render_properties_titled("t", &s.entries());
        let p = located::properties::last(
            &located::properties::parse(&text, "app.properties").unwrap(),
        );
        assert_eq!(p["bootstrap.servers"], "127.0.0.1:9092");
        assert!(p["sasl.jaas.config"].contains("hunter2"));
        assert_eq!(p["security.protocol"], "SSL", "the spec's properties win");
        assert_eq!(text.matches("security.protocol=").count(), 1, "{text}");
        assert_eq!(p["application.id"], "app");
        assert_eq!(p["state.dir"], "/s");
        assert_eq!(p["cutover.app.input.pattern"], "orders\\..*");
        assert_eq!(p["cutover.app.output.topic"], "totals");
        assert_eq!(p["cutover.app.stamp"], "source");
    }

    #[test]
    fn secrets_stay_out_of_the_debug_form() {
        let shown = format!("{:?}", spec());
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("orders"), "{shown}");
    }

    #[test]
    fn keys_cutover_owns_are_refused_with_the_field() {
        for key in ["bootstrap.servers", "application.id", "state.dir"] {
            let mut s = spec();
            s.properties.insert(key.into(), "x".into());
            let err = s.check().unwrap_err().to_string();
            assert!(err.contains(&format!("properties.{key}")), "{err}");
        }
        let mut s = spec();
        s.app = AppCode::Jar {
            jar: "/nonexistent/app.jar".into(),
            main_class: "a.B".into(),
        };
        let err = s.check().unwrap_err().to_string();
        assert!(err.contains("jar") && err.contains("not a file"), "{err}");
        assert!(spec().check().is_ok());
    }

    #[test]
    fn the_internal_topics_are_named_as_streams_names_them() {
        assert_eq!(counter_changelog("a"), "a-totals-changelog");
        assert_eq!(counter_repartition("a"), "a-rekeyed-repartition");
    }
}
