//! The Apache Kafka jar cache: official jars from Maven Central, resolved once per version,
//! like an image pull, and reused offline afterwards.
//!
//! Layout: `<cache>/kafka/<version>/libs/*.jar` plus `manifest.json` (every jar's name, size
//! and SHA-256); MirrorMaker 2 (`connect-mirror` and its runtime) is a second entry of the same
//! shape, `<cache>/mirrormaker2/<version>/`, so brokers never see Connect's jars, and Kafka
//! Streams (`kafka-streams`, `kafka-clients`, RocksDB's JNI jar) a third,
//! `<cache>/streams/<version>/`, the classpath of the Streams applications cutover runs
//! ([`crate::streams`]). The manifest is written last and the directory is renamed into place only when
//! complete, so a cache is either whole or absent; a damaged one (a jar missing or of the wrong
//! size) is detected on open and fetched again. `<cache>` is `$CUTOVER_CACHE`, else
//! `$XDG_CACHE_HOME/cutover`, else `~/.cache/cutover`.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{HarnessError, Result};
use crate::java::find_on_path;
use crate::supervisor;

/// The Kafka version used when none is given.
pub const DEFAULT_KAFKA_VERSION: &str = "4.1.1";

/// log4j2 version bundled as the logging binding (Kafka ships none in its Maven artifacts).
const LOG4J_VERSION: &str = "2.24.3";
const SLF4J_VERSION: &str = "2.0.17";

/// A validated Apache Kafka version (4.x: KRaft-only, log4j2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KafkaVersion {
    major: u32,
    minor: u32,
    patch: u32,
}

impl schemars::JsonSchema for KafkaVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KafkaVersion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An Apache Kafka 4.x release, MAJOR.MINOR.PATCH (e.g. \"4.1.1\").",
            "pattern": "^4\\.[0-9]+\\.[0-9]+$"
        })
    }
}

impl KafkaVersion {
    /// Parses `4.1.1`; rejects anything that is not a 4.x release number.
    pub fn parse(text: &str) -> Result<KafkaVersion> {
        let bad = |reason: &str| HarnessError::UnsupportedVersion {
            version: text.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = text.trim().split('.').collect();
        if parts.len() != 3 {
            return Err(bad("expected MAJOR.MINOR.PATCH, e.g. 4.1.1"));
        }
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| bad("expected MAJOR.MINOR.PATCH with numbers only, e.g. 4.1.1"))
        };
        let version = KafkaVersion {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: num(parts[2])?,
        };
        if version.major != 4 {
            return Err(bad(
                "cutover runs Kafka 4.x (KRaft brokers, log4j2); versions 4.0.0 to 4.4.x are known to work",
            ));
        }
        Ok(version)
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    pub fn minor(&self) -> u32 {
        self.minor
    }
}

impl Default for KafkaVersion {
    fn default() -> Self {
        KafkaVersion::parse(DEFAULT_KAFKA_VERSION).expect("the default version parses")
    }
}

impl std::fmt::Display for KafkaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::str::FromStr for KafkaVersion {
    type Err = HarnessError;
    fn from_str(s: &str) -> Result<Self> {
        KafkaVersion::parse(s)
    }
}

impl TryFrom<String> for KafkaVersion {
    type Error = HarnessError;
    fn try_from(s: String) -> Result<Self> {
        KafkaVersion::parse(&s)
    }
}

impl From<KafkaVersion> for String {
    fn from(v: KafkaVersion) -> String {
        v.to_string()
    }
}

/// The root of cutover's cache.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CUTOVER_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("cutover");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("cutover")
}

/// One jar as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JarEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// What a complete cache directory holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    pub artifacts: Vec<String>,
    pub jars: Vec<JarEntry>,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.jars.iter().map(|j| j.size).sum()
    }
}

/// Progress of a fetch, for a progress bar or log lines.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// The cache already holds this version.
    Cached { version: String },
    /// Resolution with Maven started.
    Resolving { version: String },
    /// Maven downloaded one file (a jar or a pom).
    Downloaded { file: String },
    /// The cache entry is complete.
    Done {
        version: String,
        jars: usize,
        bytes: u64,
    },
    /// A damaged cache entry was found and is being fetched again.
    Repairing { version: String, detail: String },
}

/// What a cache entry holds: the broker (and tools) jars, or MirrorMaker 2's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DistKind {
    /// `kafka_2.13` and `kafka-tools`: brokers, StorageTool, the perf tools.
    Broker,
    /// `connect-mirror` and its runtime (Connect, Jetty, Jersey): MirrorMaker 2 dedicated mode,
    /// and Connect's distributed mode ([`crate::connect`]), MirrorMaker 2's connectors included.
    MirrorMaker2,
    /// `kafka-streams` and what it pulls (`kafka-clients`, `rocksdbjni`, `slf4j-api`): the
    /// classpath of a Kafka Streams application ([`crate::streams`]).
    Streams,
}

impl DistKind {
    /// The cache subdirectory of this kind.
    pub fn dir_name(self) -> &'static str {
        match self {
            DistKind::Broker => "kafka",
            DistKind::MirrorMaker2 => "mirrormaker2",
            DistKind::Streams => "streams",
        }
    }

    /// The artifact whose Maven coordinates name this kind (`org.apache.kafka:<artifact>`).
    pub fn artifact(self) -> &'static str {
        match self {
            DistKind::Broker => "kafka_2.13",
            DistKind::MirrorMaker2 => "connect-mirror",
            DistKind::Streams => "kafka-streams",
        }
    }

    /// The jar (file name prefix) without which an entry of this kind is not what was asked for.
    fn marker(self, version: &KafkaVersion) -> String {
        format!("{}-{version}", self.artifact())
    }

    /// The log4j2 configuration written next to the jars.
    fn log4j2_config(self) -> &'static str {
        match self {
            DistKind::Broker => LOG4J2_CONFIG,
            DistKind::MirrorMaker2 => LOG4J2_CONSOLE_CONFIG,
            DistKind::Streams => LOG4J2_STREAMS_CONFIG,
        }
    }
}

/// A complete, verified Kafka distribution in the cache.
#[derive(Debug, Clone)]
pub struct KafkaDist {
    pub version: KafkaVersion,
    pub kind: DistKind,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl KafkaDist {
    /// The directory of one version's broker cache entry.
    pub fn dir_for(version: &KafkaVersion) -> PathBuf {
        Self::dir_for_kind(DistKind::Broker, version)
    }

    /// The directory of one version's cache entry of `kind`.
    pub fn dir_for_kind(kind: DistKind, version: &KafkaVersion) -> PathBuf {
        cache_root().join(kind.dir_name()).join(version.to_string())
    }

    /// The log4j2 configuration file of this entry (brokers: a file appender under
    /// `-Dkafka.logs.dir`; MirrorMaker 2: stdout, which the caller sends to a log file).
    pub fn log4j2_config(&self) -> PathBuf {
        self.dir.join("log4j2.properties")
    }

    /// The Java classpath of this distribution (`libs/*`).
    pub fn classpath(&self) -> String {
        format!("{}/*", self.dir.join("libs").display())
    }

    /// Opens the cache entry if it is complete; `Ok(None)` when absent,
    /// `Err(CacheDamaged)` when present but not whole.
    pub fn open_cached(version: &KafkaVersion) -> Result<Option<KafkaDist>> {
        Self::open_cached_kind(DistKind::Broker, version)
    }

    /// [`KafkaDist::open_cached`] for an entry of `kind`.
    pub fn open_cached_kind(kind: DistKind, version: &KafkaVersion) -> Result<Option<KafkaDist>> {
        let dir = Self::dir_for_kind(kind, version);
        if !dir.exists() {
            return Ok(None);
        }
        let damaged = |detail: String| HarnessError::CacheDamaged {
            version: version.to_string(),
            dir: dir.clone(),
            detail,
        };
        let manifest_path = dir.join("manifest.json");
        let text = fs::read_to_string(&manifest_path)
            .map_err(|e| damaged(format!("cannot read {}: {e}", manifest_path.display())))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| damaged(format!("{} is not valid: {e}", manifest_path.display())))?;
        if manifest.jars.is_empty() {
            return Err(damaged("the manifest lists no jars".into()));
        }
        for jar in &manifest.jars {
            let path = dir.join("libs").join(&jar.name);
            match fs::metadata(&path) {
                Ok(meta) if meta.len() == jar.size => {}
                Ok(meta) => {
                    return Err(damaged(format!(
                        "{} has {} bytes, the manifest says {}",
                        jar.name,
                        meta.len(),
                        jar.size
                    )))
                }
                Err(e) => return Err(damaged(format!("{} is missing: {e}", jar.name))),
            }
        }
        Ok(Some(KafkaDist {
            version: version.clone(),
            kind,
            dir,
            manifest,
        }))
    }

    /// Re-hashes every jar against the manifest (slower than the size check done on open).
    pub fn verify_hashes(&self) -> Result<()> {
        for jar in &self.manifest.jars {
            let path = self.dir.join("libs").join(&jar.name);
            let digest = sha256_file(&path).map_err(HarnessError::io(format!(
                "reading {} to verify it",
                path.display()
            )))?;
            if digest != jar.sha256 {
                return Err(HarnessError::CacheDamaged {
                    version: self.version.to_string(),
                    dir: self.dir.clone(),
                    detail: format!("{} does not match its SHA-256 in the manifest", jar.name),
                });
            }
        }
        Ok(())
    }

    /// Returns the cached distribution, fetching it first when absent or damaged.
    /// Concurrent callers (threads or processes) wait for one fetch.
    pub async fn ensure(
        version: &KafkaVersion,
        progress: impl Fn(FetchEvent) + Send + 'static,
    ) -> Result<KafkaDist> {
        Self::ensure_kind(DistKind::Broker, version, progress).await
    }

    /// [`KafkaDist::ensure`] for an entry of `kind` (MirrorMaker 2's jars).
    pub async fn ensure_kind(
        kind: DistKind,
        version: &KafkaVersion,
        progress: impl Fn(FetchEvent) + Send + 'static,
    ) -> Result<KafkaDist> {
        let version = version.clone();
        tokio::task::spawn_blocking(move || {
            Self::ensure_blocking_kind(kind, &version, false, &progress)
        })
        .await
        .map_err(|e| HarnessError::Io {
            context: "the fetch task failed".into(),
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// Blocking form of [`KafkaDist::ensure`]; `force` re-fetches a complete entry.
    pub fn ensure_blocking(
        version: &KafkaVersion,
        force: bool,
        progress: &dyn Fn(FetchEvent),
    ) -> Result<KafkaDist> {
        Self::ensure_blocking_kind(DistKind::Broker, version, force, progress)
    }

    /// [`KafkaDist::ensure_blocking`] for an entry of `kind`.
    pub fn ensure_blocking_kind(
        kind: DistKind,
        version: &KafkaVersion,
        force: bool,
        progress: &dyn Fn(FetchEvent),
    ) -> Result<KafkaDist> {
        let kafka_dir = cache_root().join(kind.dir_name());
        fs::create_dir_all(&kafka_dir).map_err(HarnessError::io(format!(
            "creating the cache directory {}",
            kafka_dir.display()
        )))?;
        let _lock = FileLock::acquire(&kafka_dir.join(format!("{version}.lock")))?;
        if !force {
            match Self::open_cached_kind(kind, version) {
                Ok(Some(dist)) => {
                    progress(FetchEvent::Cached {
                        version: version.to_string(),
                    });
                    return Ok(dist);
                }
                Ok(None) => {}
                Err(HarnessError::CacheDamaged { detail, .. }) => {
                    tracing::warn!(%version, %detail, "damaged jar cache, fetching again");
                    progress(FetchEvent::Repairing {
                        version: version.to_string(),
                        detail,
                    });
                }
                Err(other) => return Err(other),
            }
        }
        fetch_with_maven(kind, version, progress)?;
        Self::open_cached_kind(kind, version)?.ok_or_else(|| HarnessError::CacheDamaged {
            version: version.to_string(),
            dir: Self::dir_for_kind(kind, version),
            detail: "the fetch finished but left no cache entry".into(),
        })
    }
}

fn artifacts(kind: DistKind, version: &KafkaVersion) -> Vec<String> {
    let main = match kind {
        DistKind::Broker => vec![
            format!("org.apache.kafka:kafka_2.13:{version}"),
            format!("org.apache.kafka:kafka-tools:{version}"),
        ],
        // connect-mirror pulls connect-runtime, connect-mirror-client, connect-api,
        // connect-json, connect-transforms and kafka-clients of the same version.
        DistKind::MirrorMaker2 => vec![format!("org.apache.kafka:connect-mirror:{version}")],
        // kafka-streams pulls kafka-clients of the same version, rocksdbjni and slf4j-api.
        DistKind::Streams => vec![format!("org.apache.kafka:kafka-streams:{version}")],
    };
    main.into_iter().chain(common_artifacts()).collect()
}

fn common_artifacts() -> Vec<String> {
    vec![
        format!("org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}"),
        format!("org.apache.logging.log4j:log4j-slf4j2-impl:{LOG4J_VERSION}"),
        // kafka-tools drags in slf4j-api 1.7 through a transitive path; the log4j2 binding
        // needs 2.x, and Maven's nearest-wins takes a direct dependency first.
        format!("org.slf4j:slf4j-api:{SLF4J_VERSION}"),
    ]
}

fn pom_for(artifacts: &[String]) -> String {
    let deps: String = artifacts
        .iter()
        .map(|coord| {
            let mut parts = coord.split(':');
            let (g, a, v) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            format!(
                "    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>\n"
            )
        })
        .collect();
    format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.cutover</groupId>
  <artifactId>kafka-dist</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}  </dependencies>
</project>
"#
    )
}

fn fetch_with_maven(
    kind: DistKind,
    version: &KafkaVersion,
    progress: &dyn Fn(FetchEvent),
) -> Result<()> {
    let final_dir = KafkaDist::dir_for_kind(kind, version);
    let mvn = std::env::var_os("CUTOVER_MVN")
        .map(PathBuf::from)
        .or_else(|| find_on_path("mvn"))
        .ok_or_else(|| HarnessError::MavenMissing {
            version: version.to_string(),
            cache: final_dir.clone(),
            detail: "`mvn` is not on PATH".into(),
        })?;
    let parent = final_dir.parent().unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(&format!("{version}.partial-"))
        .tempdir_in(parent)
        .map_err(HarnessError::io(
            "creating a staging directory in the cache",
        ))?;
    let coords = artifacts(kind, version);
    fs::write(staging.path().join("pom.xml"), pom_for(&coords))
        .map_err(HarnessError::io("writing the resolution pom"))?;
    progress(FetchEvent::Resolving {
        version: version.to_string(),
    });

    let libs = staging.path().join("libs");
    // Batch mode without --no-transfer-progress: the "Downloaded from" lines drive progress.
    let mut cmd = Command::new(&mvn);
    cmd.current_dir(staging.path())
        .arg("-B")
        .arg("org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", libs.display()))
        .arg("-DincludeScope=runtime")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = supervisor::spawn(cmd).map_err(|e| HarnessError::MavenMissing {
        version: version.to_string(),
        cache: final_dir.clone(),
        detail: format!("cannot run {}: {e}", mvn.display()),
    })?;
    let stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let mut output_tail: Vec<String> = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if let Some(rest) = line.split("Downloaded from ").nth(1) {
                let file = rest.rsplit('/').next().unwrap_or(rest);
                let file = file.split(' ').next().unwrap_or(file).to_string();
                progress(FetchEvent::Downloaded { file });
            }
            if line.contains("ERROR") || output_tail.len() < 400 {
                output_tail.push(line);
            }
        }
    }
    let status = child.wait().map_err(HarnessError::io("waiting for mvn"))?;
    let stderr_text = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        let errors: Vec<&String> = output_tail
            .iter()
            .filter(|l| l.contains("[ERROR]"))
            .take(12)
            .collect();
        let detail = if errors.is_empty() {
            format!("{}\n{}", output_tail.join("\n"), stderr_text)
        } else {
            errors
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let artifact = kind.artifact();
        let unresolved = detail.contains(&format!("{artifact}:jar:{version}"))
            || detail.contains(&format!("{artifact}:{version}"))
            || detail.contains("Could not resolve dependencies")
            || detail.contains("could not be resolved");
        if unresolved && (detail.contains("not find artifact") || detail.contains("was not found"))
        {
            return Err(HarnessError::UnknownVersion {
                version: version.to_string(),
                default: DEFAULT_KAFKA_VERSION.to_string(),
                detail,
            });
        }
        return Err(HarnessError::FetchFailed {
            version: version.to_string(),
            status: status
                .code()
                .map_or_else(|| "by signal".into(), |c| c.to_string()),
            detail,
        });
    }

    let mut jars = Vec::new();
    let entries = fs::read_dir(&libs).map_err(HarnessError::io("listing the fetched jars"))?;
    for entry in entries {
        let entry = entry.map_err(HarnessError::io("listing the fetched jars"))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jar") {
            continue;
        }
        let size = entry
            .metadata()
            .map_err(HarnessError::io("reading a jar's size"))?
            .len();
        let sha256 = sha256_file(&path).map_err(HarnessError::io("hashing a fetched jar"))?;
        jars.push(JarEntry {
            name: entry.file_name().to_string_lossy().into_owned(),
            size,
            sha256,
        });
    }
    jars.sort_by(|a, b| a.name.cmp(&b.name));
    let marker = kind.marker(version);
    if !jars.iter().any(|j| j.name.starts_with(&marker)) {
        return Err(HarnessError::FetchFailed {
            version: version.to_string(),
            status: "0".into(),
            detail: format!("Maven finished but {marker}.jar is not among the jars"),
        });
    }
    fs::write(
        staging.path().join("log4j2.properties"),
        kind.log4j2_config(),
    )
    .map_err(HarnessError::io("writing log4j2.properties"))?;
    let _ = fs::remove_file(staging.path().join("pom.xml"));
    let manifest = Manifest {
        version: version.to_string(),
        artifacts: coords,
        jars,
    };
    let bytes = manifest.total_bytes();
    let count = manifest.jars.len();
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| HarnessError::Io {
        context: "serialising the manifest".into(),
        source: std::io::Error::other(e),
    })?;
    fs::write(staging.path().join("manifest.json"), text)
        .map_err(HarnessError::io("writing manifest.json"))?;

    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(HarnessError::io(format!(
            "removing the old cache entry {}",
            final_dir.display()
        )))?;
    }
    let staged = staging.keep();
    fs::rename(&staged, &final_dir).map_err(HarnessError::io(format!(
        "moving {} into place",
        final_dir.display()
    )))?;
    progress(FetchEvent::Done {
        version: version.to_string(),
        jars: count,
        bytes,
    });
    Ok(())
}

/// log4j2 configuration for brokers: everything to `${kafka.logs.dir}/server.log`,
/// noisy loggers turned down.
pub const LOG4J2_CONFIG: &str = "status = warn
name = cutover-broker
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
";

/// log4j2 configuration for MirrorMaker 2: everything to stdout (the scenario runner sends it
/// to the instance's log file), Connect's chattiest loggers turned down.
pub const LOG4J2_CONSOLE_CONFIG: &str = "status = warn
name = cutover-mirrormaker2
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
";

/// log4j2 configuration for Kafka Streams applications: stdout (the harness sends it to the
/// app's log file, beside the app's own `cutover-app:` lines), Streams' own INFO lines (state
/// changes, rebalances, restoration), everything else from WARN (the clients' config dumps).
pub const LOG4J2_STREAMS_CONFIG: &str = "status = warn
name = cutover-streams
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = STDOUT
logger.streams.name = org.apache.kafka.streams
logger.streams.level = INFO
";

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An exclusive advisory lock on a file (flock), released on drop.
pub struct FileLock {
    _file: fs::File,
}

impl FileLock {
    pub fn acquire(path: &Path) -> Result<FileLock> {
        use std::os::unix::io::AsRawFd;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(HarnessError::io(format!("opening lock {}", path.display())))?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(HarnessError::Io {
                context: format!("locking {}", path.display()),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_validated_with_a_reason() {
        assert_eq!(KafkaVersion::parse("4.1.1").unwrap().to_string(), "4.1.1");
        let err = KafkaVersion::parse("3.9.0").unwrap_err().to_string();
        assert!(err.contains("4.x"), "{err}");
        let err = KafkaVersion::parse("latest").unwrap_err().to_string();
        assert!(err.contains("MAJOR.MINOR.PATCH"), "{err}");
        assert!(KafkaVersion::parse("4.1").is_err());
    }

    #[test]
    fn pom_lists_every_artifact() {
        let v = KafkaVersion::parse("4.0.2").unwrap();
        let pom = pom_for(&artifacts(DistKind::Broker, &v));
        assert!(pom.contains("<artifactId>kafka_2.13</artifactId><version>4.0.2</version>"));
        assert!(pom.contains("<artifactId>kafka-tools</artifactId>"));
        assert!(pom.contains("log4j-slf4j2-impl"));
        let pom = pom_for(&artifacts(DistKind::MirrorMaker2, &v));
        assert!(pom.contains("<artifactId>connect-mirror</artifactId><version>4.0.2</version>"));
        assert!(
            !pom.contains("kafka_2.13"),
            "brokers' jars stay out of MirrorMaker 2's entry"
        );
        assert!(pom.contains("log4j-slf4j2-impl"));
        let pom = pom_for(&artifacts(DistKind::Streams, &v));
        assert!(pom.contains("<artifactId>kafka-streams</artifactId><version>4.0.2</version>"));
        assert!(!pom.contains("kafka_2.13") && !pom.contains("connect-"));
        assert!(pom.contains("log4j-slf4j2-impl"));
        assert_eq!(DistKind::Streams.dir_name(), "streams");
        assert_eq!(DistKind::Streams.marker(&v), "kafka-streams-4.0.2");
    }
}
