//! The harness's error type: every variant names the cause and what to do about it.

use std::path::PathBuf;

/// Errors raised while fetching Kafka, starting, controlling or reaching a cluster.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("unsupported Kafka version `{version}`: {reason}")]
    UnsupportedVersion { version: String, reason: String },

    #[error(
        "Kafka {version} is not on Maven Central (org.apache.kafka:kafka_2.13:{version} could not be resolved). \
         Pick a released version such as {default}; Maven said:\n{detail}"
    )]
    UnknownVersion {
        version: String,
        default: String,
        detail: String,
    },

    #[error(
        "no Java found: {detail}. Kafka 4.x brokers need Java 17 or newer; install it \
         (Debian: `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
    )]
    JavaMissing { detail: String },

    #[error("Java at {path} is version {major}; Kafka 4.x brokers need Java 17 or newer (set JAVA_HOME to a newer JDK)")]
    JavaTooOld { path: PathBuf, major: u32 },

    #[error(
        "Maven (`mvn`) is needed to fetch the Kafka {version} jars into the cache and was not found: {detail}. \
         Install it (Debian: `apt-get install maven`) or fill the cache on another machine and copy {cache}"
    )]
    MavenMissing {
        version: String,
        cache: PathBuf,
        detail: String,
    },

    #[error("fetching Kafka {version} jars failed (exit {status}); the cache was left untouched. Maven said:\n{detail}")]
    FetchFailed {
        version: String,
        status: String,
        detail: String,
    },

    #[error(
        "the Kafka {version} jar cache at {dir} is damaged: {detail}. It is re-fetched automatically; \
         run `cutover fetch-kafka --kafka-version {version} --force` to do it now"
    )]
    CacheDamaged {
        version: String,
        dir: PathBuf,
        detail: String,
    },

    #[error("port {port} on 127.0.0.1 is already in use ({what}); choose another port or leave it unset so a free one is picked")]
    PortInUse { port: u16, what: String },

    #[error("invalid cluster spec: {field}: {reason}")]
    InvalidSpec { field: String, reason: String },

    #[error("broker {node_id} of cluster `{cluster}` failed to start: {cause}\n--- last lines of {log} ---\n{tail}")]
    BrokerStartFailed {
        cluster: String,
        node_id: u32,
        cause: String,
        log: PathBuf,
        tail: String,
    },

    #[error("storage format of broker {node_id} of cluster `{cluster}` failed: {detail}")]
    FormatFailed {
        cluster: String,
        node_id: u32,
        detail: String,
    },

    #[error("cluster `{cluster}` was not ready within {seconds} s: {cause}{log_hint}")]
    NotReady {
        cluster: String,
        seconds: u64,
        cause: String,
        log_hint: String,
    },

    #[error("cluster `{cluster}` has no broker with node id {node_id} (it has {known:?})")]
    NoSuchBroker {
        cluster: String,
        node_id: u32,
        known: Vec<u32>,
    },

    #[error("`{operation}` is not possible on cluster `{cluster}`: the {backend} backend does not own its brokers")]
    NotOwned {
        cluster: String,
        backend: &'static str,
        operation: &'static str,
    },

    #[error("Docker engine not reachable: {detail}. Start one (see `cutover doctor`) or use --backend process")]
    DockerUnavailable { detail: String },

    #[error("container backend: {0}")]
    Container(String),

    #[error("{file}:{line}: client properties: {reason}")]
    ClientProperties {
        file: String,
        line: usize,
        reason: String,
    },

    #[error("Kafka admin/client error on cluster `{cluster}` during {operation}: {detail}")]
    Kafka {
        cluster: String,
        operation: String,
        detail: String,
    },

    #[error("cluster `{cluster}`: {problem}")]
    Connect {
        cluster: String,
        problem: Box<crate::diagnose::ConnectProblem>,
    },

    #[error("fault proxy {listen} -> {upstream}: {reason}")]
    Proxy {
        listen: String,
        upstream: String,
        reason: String,
    },

    #[error(
        "no `javac` next to {java}: {detail}. Compiling the Kafka Streams reference application needs \
         a JDK 17+, not only a runtime (Debian: `apt-get install openjdk-17-jdk-headless`); or set \
         JAVA_HOME or CUTOVER_JAVA to a JDK's java"
    )]
    JavacMissing { java: PathBuf, detail: String },

    #[error("javac could not compile {source_name} against the Kafka {version} Streams jars ({javac}):\n{output}")]
    CompileFailed {
        source_name: String,
        version: String,
        javac: PathBuf,
        output: String,
    },

    #[error("invalid Kafka Streams application spec: {field}: {reason}")]
    InvalidStreamsSpec { field: String, reason: String },

    /// `status`: the exit status and when it came (`exit status: 2, 0.8 s after its start`).
    #[error("Kafka Streams application `{application_id}` exited ({status}) before it was RUNNING\n--- last lines of {log} ---\n{tail}")]
    StreamsAppExited {
        application_id: String,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error("Kafka Streams application `{application_id}` failed: {detail}\n--- last lines of {log} ---\n{tail}")]
    StreamsAppFailed {
        application_id: String,
        detail: String,
        log: PathBuf,
        tail: String,
    },

    /// `what`: the state it did not reach and the wait (`RUNNING within 60 s`).
    #[error("Kafka Streams application `{application_id}` was not {what}\n--- last lines of {log} ---\n{tail}")]
    StreamsAppTimeout {
        application_id: String,
        what: String,
        log: PathBuf,
        tail: String,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let context = context.into();
        move |source| HarnessError::Io { context, source }
    }
}

/// Result alias used throughout the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;
