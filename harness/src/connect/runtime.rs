//! The jars and the Java a Connect worker runs on.
//!
//! Connect's distributed mode (`org.apache.kafka.connect.cli.ConnectDistributed`) lives in
//! `connect-runtime`, which MirrorMaker 2's cache entry already holds: `connect-mirror` pulls
//! `connect-runtime`, `connect-api`, `connect-json`, `connect-transforms`, `kafka-clients`,
//! Jetty and Jersey (see [`crate::dist::DistKind::MirrorMaker2`]). So a Connect cluster shares
//! that entry, fetched once per Kafka version through Maven, and MirrorMaker 2's connectors
//! (`MirrorSourceConnector`, `MirrorCheckpointConnector`, `MirrorHeartbeatConnector`) are on
//! every worker's classpath without a plugin path, as in Apache Kafka's own distribution.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::dist::{DistKind, FetchEvent, KafkaDist, KafkaVersion};
use crate::error::Result;
use crate::java::JavaRuntime;

/// The distributed-mode entry point; its one argument is the worker's properties file.
pub const MAIN_CLASS: &str = "org.apache.kafka.connect.cli.ConnectDistributed";

/// Heap of one worker unless told otherwise (MiB), like a test broker's.
pub const DEFAULT_HEAP_MB: u32 = 512;

/// A Java runtime plus Connect's cached jars.
#[derive(Debug, Clone)]
pub struct ConnectRuntime {
    pub java: JavaRuntime,
    pub dist: KafkaDist,
}

impl ConnectRuntime {
    /// Finds Java 17+ and makes sure the Connect jars of `version` are cached (the first time
    /// through Maven, like MirrorMaker 2's: the same cache entry).
    pub async fn prepare(
        version: &KafkaVersion,
        progress: impl Fn(FetchEvent) + Send + 'static,
    ) -> Result<ConnectRuntime> {
        let java = JavaRuntime::locate()?;
        let dist = KafkaDist::ensure_kind(DistKind::MirrorMaker2, version, progress).await?;
        Ok(ConnectRuntime { java, dist })
    }

    /// The Kafka version of the jars.
    pub fn version(&self) -> &KafkaVersion {
        &self.dist.version
    }

    /// The cached jar whose file name is `<artifact>-<version>.jar` (`connect-api`,
    /// `kafka-clients`): what a connector is compiled against.
    pub fn jar(&self, artifact: &str) -> Option<PathBuf> {
        let name = format!("{artifact}-{}.jar", self.dist.version);
        self.dist
            .manifest
            .jars
            .iter()
            .find(|j| j.name == name)
            .map(|j| self.dist.dir.join("libs").join(&j.name))
    }

    /// The worker's Java classpath (`libs/*` of the cache entry).
    pub fn classpath(&self) -> String {
        self.dist.classpath()
    }

    /// The command that runs one worker on `properties` with the log4j2 configuration at
    /// `log4j2` (stdin closed; the caller sets stdout/stderr, where log4j2 writes). JVM flags as
    /// a broker's (G1, capped GC and JIT threads), heap `heap_mb` MiB.
    pub fn command(&self, properties: &Path, log4j2: &Path, heap_mb: u32) -> Command {
        let mut cmd = Command::new(&self.java.path);
        cmd.args(crate::process::broker_jvm_flags(heap_mb))
            .arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
            .arg("-cp")
            .arg(self.classpath())
            .arg(MAIN_CLASS)
            .arg(properties)
            .stdin(Stdio::null());
        cmd
    }
}
