//! MirrorMaker 2 in dedicated mode (`org.apache.kafka.connect.mirror.MirrorMaker`) as a JVM:
//! its jars come from the cache (`connect-mirror` of the brokers' Kafka version, fetched through
//! Maven like the broker jars), the JVM gets flags as modest as a broker's, and the caller
//! spawns the command through [`crate::supervisor`] so it dies with cutover.
//!
//! The harness does not write `mm2.properties`: what to replicate and how is the caller's
//! (the scenario runner's) business.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::dist::{DistKind, FetchEvent, KafkaDist, KafkaVersion};
use crate::error::Result;
use crate::java::JavaRuntime;

/// The dedicated-mode entry point.
pub const MAIN_CLASS: &str = "org.apache.kafka.connect.mirror.MirrorMaker";

/// Heap of one MirrorMaker 2 process unless told otherwise (MiB), like a test broker's.
pub const DEFAULT_HEAP_MB: u32 = 512;

/// A Java runtime plus MirrorMaker 2's cached jars: everything needed to start instances.
#[derive(Debug, Clone)]
pub struct MirrorMaker2 {
    pub java: JavaRuntime,
    pub dist: KafkaDist,
}

impl MirrorMaker2 {
    /// Finds Java 17+ and makes sure MirrorMaker 2's jars for `version` are cached (fetching
    /// them with Maven the first time).
    pub async fn prepare(
        version: &KafkaVersion,
        progress: impl Fn(FetchEvent) + Send + 'static,
    ) -> Result<MirrorMaker2> {
        let java = JavaRuntime::locate()?;
        let dist = KafkaDist::ensure_kind(DistKind::MirrorMaker2, version, progress).await?;
        Ok(MirrorMaker2 { java, dist })
    }

    /// The JVM flags of an instance: a broker's (G1 with capped GC and JIT threads), heap
    /// `heap_mb`.
    pub fn jvm_flags(heap_mb: u32) -> Vec<String> {
        crate::process::broker_jvm_flags(heap_mb)
    }

    /// The command that runs MirrorMaker 2 on `properties` (stdin closed; the caller sets
    /// stdout/stderr, where log4j2 writes).
    pub fn command(&self, properties: &Path, heap_mb: u32) -> Command {
        self.command_logging_with(properties, &self.dist.log4j2_config(), heap_mb)
    }

    /// [`MirrorMaker2::command`] with the log4j2 configuration at `log4j2` (e.g.
    /// [`crate::connect::log::LOG4J2_WORKER_CONFIG`], whose UTC timestamps the group history
    /// is parsed from: dedicated mode runs the same Connect herder and logs the same lines).
    pub fn command_logging_with(&self, properties: &Path, log4j2: &Path, heap_mb: u32) -> Command {
        let mut cmd = Command::new(&self.java.path);
        cmd.args(Self::jvm_flags(heap_mb))
            .arg(format!("-Dlog4j2.configurationFile={}", log4j2.display()))
            .arg("-cp")
            .arg(self.dist.classpath())
            .arg(MAIN_CLASS)
            .arg(properties)
            .stdin(Stdio::null());
        cmd
    }
}
