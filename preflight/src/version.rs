//! The Kafka version of a cluster, as far as it can honestly be known: librdkafka cannot report
//! broker versions, so Kafka's own `FeatureCommand describe` runs from the cached jars and its
//! finalized `metadata.version` (e.g. `4.1-IV1`) is reported: the brokers run that Kafka
//! release or a newer one. The client properties go to the tool in a 0600 temp file, removed
//! afterwards. Anything missing (jars, Java, an answer in time) makes it "unknown" with the
//! reason.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::java::JavaRuntime;
use harness::{ClientProps, KafkaDist, KafkaVersion};

use crate::model::VersionInfo;

fn unknown(reason: impl Into<String>) -> VersionInfo {
    VersionInfo {
        value: None,
        note: format!(
            "unknown: {} (librdkafka cannot report broker versions)",
            reason.into()
        ),
    }
}

/// Escapes a Java `.properties` key or value.
fn escape(text: &str, key: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '=' | ':' | ' ' | '#' | '!' if key => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The finalized `metadata.version` in `FeatureCommand describe` output.
pub fn parse_metadata_version(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find(|l| l.contains("Feature: metadata.version"))?
        .split('\t')
        .map(str::trim)
        .find_map(|field| field.strip_prefix("FinalizedVersionLevel:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Asks the cluster for its finalized `metadata.version` (blocking: a JVM runs).
pub fn probe(props: &ClientProps, timeout: Duration) -> VersionInfo {
    let version = KafkaVersion::default();
    let dist = match KafkaDist::open_cached(&version) {
        Ok(Some(dist)) => dist,
        Ok(None) => {
            return unknown(format!(
                "the Kafka {version} jars that run FeatureCommand are not cached \
                 (`cutover fetch-kafka --kafka-version {version}` fills the cache)"
            ))
        }
        Err(e) => return unknown(e.to_string()),
    };
    let java = match JavaRuntime::locate() {
        Ok(java) => java,
        Err(e) => return unknown(format!("no Java to run FeatureCommand: {e}")),
    };
    let Some(bootstrap) = props.bootstrap_servers() else {
        return unknown("no bootstrap.servers");
    };
    // tempfile creates the file 0600 and removes it on drop.
    let mut file = match tempfile::Builder::new()
        .prefix("cutover-preflight-")
        .suffix(".properties")
        .tempfile()
    {
        Ok(f) => f,
        Err(e) => return unknown(format!("cannot write the tool's command config: {e}")),
    };
    let text: String = props
        .iter()
        .map(|(k, v)| format!("{}={}\n", escape(k, true), escape(v, false)))
        .collect();
    if let Err(e) = file.write_all(text.as_bytes()).and_then(|_| file.flush()) {
        return unknown(format!("cannot write the tool's command config: {e}"));
    }
    let mut command = Command::new(&java.path);
    command
        .arg("-cp")
        .arg(dist.classpath())
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            dist.log4j2_config().display()
        ))
        .arg("-Dkafka.logs.dir=/tmp")
        .arg("org.apache.kafka.tools.FeatureCommand")
        .arg("--bootstrap-server")
        .arg(bootstrap)
        .arg("--command-config")
        .arg(file.path())
        .arg("describe")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match harness::supervisor::spawn(command) {
        Ok(c) => c,
        Err(e) => return unknown(format!("cannot start FeatureCommand: {e}")),
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                harness::supervisor::kill_and_reap(&mut child);
                return unknown(format!(
                    "FeatureCommand gave no answer within {} s",
                    timeout.as_secs()
                ));
            }
            Err(e) => {
                harness::supervisor::kill_and_reap(&mut child);
                return unknown(format!("waiting for FeatureCommand: {e}"));
            }
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    drop(file);
    match parse_metadata_version(&stdout) {
        Some(level) => VersionInfo {
            note: format!(
                "Kafka {} or newer: the finalized metadata.version is {level} \
                 (FeatureCommand describe, Kafka {version} tools)",
                level.split('-').next().unwrap_or(&level)
            ),
            value: Some(format!("metadata.version {level}")),
        },
        None => {
            let last = stderr
                .lines()
                .chain(stdout.lines())
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no output")
                .to_string();
            unknown(format!(
                "FeatureCommand describe ({status}) reported no metadata.version: {}",
                reports::redact::redact_text(&last)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_finalized_metadata_version() {
        let out = "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 0\tEpoch: 5\n\
                   Feature: metadata.version\tSupportedMinVersion: 3.3-IV3\tSupportedMaxVersion: 4.1-IV1\tFinalizedVersionLevel: 4.1-IV1\tEpoch: 5\n";
        assert_eq!(parse_metadata_version(out).as_deref(), Some("4.1-IV1"));
        assert_eq!(
            parse_metadata_version("Feature: kraft.version\tFinalizedVersionLevel: 0"),
            None
        );
    }

    #[test]
    fn properties_are_escaped_for_java() {
        assert_eq!(escape("a=b c", true), "a\\=b\\ c");
        assert_eq!(escape("x\\y=z", false), "x\\\\y=z");
    }
}
