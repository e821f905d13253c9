//! The reference application compiled with the JDK and cached.
//!
//! The Java source is embedded in the binary (`include_str!`), so an installed `cutover` needs
//! no checkout. It is compiled with the `javac` next to the `java` the harness found (a JDK 17+;
//! `--release 17`) against the Streams cache entry of the clusters' Kafka version, into
//! `<cache>/streams-app/cutover-counter-<version>-<sha256 of the source, 16 hex>/classes`: a
//! new Kafka version or an edited source compiles again, anything else reuses the classes.
//! Like the jar cache, the entry is built in a staging dir and renamed into place, under a file
//! lock, so it is whole or absent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::dist::{cache_root, hex, FileLock, KafkaDist};
use crate::error::{HarnessError, Result};
use crate::java::JavaRuntime;
use crate::supervisor;

/// The reference application's source text.
pub const SOURCE: &str = include_str!("../../../apps/streams-counter/CutoverCounter.java");

/// Its main class.
pub const MAIN_CLASS: &str = "dev.cutover.apps.CutoverCounter";

/// The Java release the classes are compiled for (the oldest Java the harness runs).
const RELEASE: u32 = crate::java::MIN_JAVA_MAJOR;

/// The compiled reference application.
#[derive(Debug, Clone)]
pub struct CompiledApp {
    /// The classes dir (a classpath entry).
    pub classes: PathBuf,
    /// False when the cache already held it.
    pub compiled: bool,
    /// How long javac took (zero when cached).
    pub took: Duration,
}

/// The `javac` of the JDK `java` belongs to: next to it, or next to the file it links to
/// (`/usr/bin/java` → `/usr/lib/jvm/…/bin/java`).
pub fn javac_of(java: &JavaRuntime) -> Result<PathBuf> {
    let mut tried = Vec::new();
    let mut candidates = vec![java.path.clone()];
    if let Ok(real) = fs::canonicalize(&java.path) {
        candidates.push(real);
    }
    for candidate in candidates {
        if let Some(dir) = candidate.parent() {
            let javac = dir.join("javac");
            if javac.is_file() {
                return Ok(javac);
            }
            tried.push(javac.display().to_string());
        }
    }
    Err(HarnessError::JavacMissing {
        java: java.path.clone(),
        detail: format!("looked for {}", tried.join(" and ")),
    })
}

/// The cache entry's name for `source` compiled against Kafka `version`.
pub fn entry_name(version: &str, source: &str) -> String {
    let digest = hex(&Sha256::digest(source.as_bytes()));
    format!("cutover-counter-{version}-{}", &digest[..16])
}

/// The reference application compiled against `dist` (a [`crate::DistKind::Streams`] entry),
/// from the cache or compiled now.
pub fn reference_app(java: &JavaRuntime, dist: &KafkaDist) -> Result<CompiledApp> {
    compile_cached(java, dist, SOURCE)
}

/// [`reference_app`] for any `source` of the class [`MAIN_CLASS`] (tests compile broken ones).
pub fn compile_cached(java: &JavaRuntime, dist: &KafkaDist, source: &str) -> Result<CompiledApp> {
    let root = cache_root().join("streams-app");
    fs::create_dir_all(&root).map_err(HarnessError::io(format!(
        "creating the cache directory {}",
        root.display()
    )))?;
    let name = entry_name(&dist.version.to_string(), source);
    let entry = root.join(&name);
    let classes = entry.join("classes");
    let _lock = FileLock::acquire(&root.join(format!("{name}.lock")))?;
    if classes.join(class_file()).is_file() {
        return Ok(CompiledApp {
            classes,
            compiled: false,
            took: Duration::ZERO,
        });
    }
    let javac = javac_of(java)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("{name}.partial-"))
        .tempdir_in(&root)
        .map_err(HarnessError::io(
            "creating a staging directory in the cache",
        ))?;
    let src_dir = staging.path().join("src/dev/cutover/apps");
    fs::create_dir_all(&src_dir).map_err(HarnessError::io("creating the source dir"))?;
    let file = src_dir.join("CutoverCounter.java");
    fs::write(&file, source).map_err(HarnessError::io(format!("writing {}", file.display())))?;
    let started = Instant::now();
    let mut command = javac_command(&javac, dist, &file, &staging.path().join("classes"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Through the supervisor: javac dies with cutover.
    let output = supervisor::spawn(command)
        .and_then(|child| child.wait_with_output())
        .map_err(|e| HarnessError::JavacMissing {
            java: java.path.clone(),
            detail: format!("cannot run {}: {e}", javac.display()),
        })?;
    let took = started.elapsed();
    if !output.status.success() {
        return Err(HarnessError::CompileFailed {
            source_name: "CutoverCounter.java".into(),
            version: dist.version.to_string(),
            javac,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
            .trim_end()
            .to_string(),
        });
    }
    let warnings = String::from_utf8_lossy(&output.stderr);
    if !warnings.trim().is_empty() {
        tracing::warn!(%warnings, "javac warned while compiling the Streams reference application");
    }
    if entry.exists() {
        fs::remove_dir_all(&entry).map_err(HarnessError::io(format!(
            "removing the incomplete {}",
            entry.display()
        )))?;
    }
    let staged = staging.keep();
    fs::rename(&staged, &entry).map_err(HarnessError::io(format!(
        "moving {} into place",
        entry.display()
    )))?;
    tracing::info!(classes = %classes.display(), ms = took.as_millis() as u64, "compiled the Streams reference application");
    Ok(CompiledApp {
        classes,
        compiled: true,
        took,
    })
}

fn class_file() -> PathBuf {
    Path::new("dev/cutover/apps/CutoverCounter.class").to_path_buf()
}

fn javac_command(javac: &Path, dist: &KafkaDist, file: &Path, classes: &Path) -> Command {
    let mut cmd = Command::new(javac);
    cmd.arg("--release")
        .arg(RELEASE.to_string())
        .args(["-encoding", "UTF-8", "-Xlint:deprecation"])
        .arg("-d")
        .arg(classes)
        .arg("-cp")
        .arg(dist.classpath())
        .arg(file);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_source_or_another_version_is_another_entry() {
        let a = entry_name("4.1.1", SOURCE);
        assert!(a.starts_with("cutover-counter-4.1.1-"), "{a}");
        assert_eq!(a, entry_name("4.1.1", SOURCE));
        assert_ne!(a, entry_name("4.1.1", &format!("{SOURCE}// edited\n")));
        assert_ne!(a, entry_name("4.0.0", SOURCE));
    }

    #[test]
    fn the_embedded_source_is_the_documented_contract() {
        for needle in [
            "package dev.cutover.apps;",
            "cutover.app.",
            "\"input.pattern\"",
            "\"output.topic\"",
            "\"stamp\"",
            "STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L",
            "EXACTLY_ONCE_V2",
            "Grouped.with(\"rekeyed\"",
            "as(\"totals\")",
            "close(Duration.ofSeconds(30))",
        ] {
            assert!(SOURCE.contains(needle), "{needle}");
        }
    }

    #[test]
    fn a_jre_without_javac_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let java = JavaRuntime {
            path: dir.path().join("bin/java"),
            major: 17,
            description: String::new(),
        };
        let err = javac_of(&java).unwrap_err().to_string();
        assert!(err.contains("no `javac` next to"), "{err}");
        assert!(err.contains("openjdk-17-jdk-headless"), "{err}");
    }
}
