//! Apicurio Registry in cutover's cache, fetched once through Maven like the Kafka jars
//! (`harness::dist`): `io.apicurio:apicurio-registry-app:<v>:tar.gz:all` from Maven Central,
//! unpacked into `<cache>/apicurio/<v>/` (a Quarkus app: `quarkus-run.jar`, `lib/`, `app/`,
//! `quarkus/`) with a `manifest.json` written last. The entry is staged beside its final place
//! and renamed in only when complete, under the same file lock scheme as the jar cache, so it
//! is either whole or absent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::dist::{cache_root, sha256_file, FileLock};
use harness::supervisor;
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

/// The Apicurio Registry version used when none is given.
pub const DEFAULT_APICURIO_VERSION: &str = "3.3.3";

/// What a complete cache entry records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApicurioManifest {
    pub version: String,
    pub artifact: String,
    pub tarball_bytes: u64,
    pub tarball_sha256: String,
}

/// An unpacked Apicurio Registry in the cache.
#[derive(Debug, Clone)]
pub struct ApicurioDist {
    pub version: String,
    pub dir: PathBuf,
    pub manifest: ApicurioManifest,
}

fn artifact(version: &str) -> String {
    format!("io.apicurio:apicurio-registry-app:{version}:tar.gz:all")
}

impl ApicurioDist {
    /// `<cache>/apicurio/<version>`.
    pub fn dir_for(version: &str) -> PathBuf {
        cache_root().join("apicurio").join(version)
    }

    /// The jar `java -jar` runs.
    pub fn run_jar(&self) -> PathBuf {
        self.dir.join("quarkus-run.jar")
    }

    /// The cached entry if complete; `Ok(None)` when absent.
    pub fn open_cached(version: &str) -> Result<Option<ApicurioDist>> {
        let dir = Self::dir_for(version);
        if !dir.exists() {
            return Ok(None);
        }
        let damaged = |detail: String| RegistryError::CacheDamaged {
            dir: dir.clone(),
            detail,
        };
        let text = fs::read_to_string(dir.join("manifest.json"))
            .map_err(|e| damaged(format!("cannot read manifest.json: {e}")))?;
        let manifest: ApicurioManifest = serde_json::from_str(&text)
            .map_err(|e| damaged(format!("manifest.json is not valid: {e}")))?;
        for needed in ["quarkus-run.jar", "lib/main", "app"] {
            if !dir.join(needed).exists() {
                return Err(damaged(format!("{needed} is missing")));
            }
        }
        Ok(Some(ApicurioDist {
            version: version.to_string(),
            dir,
            manifest,
        }))
    }

    /// The cached entry, fetched (or repaired) first when needed. Blocking; concurrent
    /// callers wait for one fetch. `progress` gets one line per step.
    pub fn ensure(version: &str, progress: &dyn Fn(&str)) -> Result<ApicurioDist> {
        let parent = cache_root().join("apicurio");
        fs::create_dir_all(&parent).map_err(RegistryError::io(format!(
            "creating the cache directory {}",
            parent.display()
        )))?;
        let _lock = FileLock::acquire(&parent.join(format!("{version}.lock")))?;
        match Self::open_cached(version) {
            Ok(Some(dist)) => return Ok(dist),
            Ok(None) => {}
            Err(e) => {
                progress(&format!("{e}; fetching again"));
                let _ = fs::remove_dir_all(Self::dir_for(version));
            }
        }
        fetch(version, &parent, progress)?;
        Self::open_cached(version)?.ok_or_else(|| RegistryError::CacheDamaged {
            dir: Self::dir_for(version),
            detail: "the fetch finished but left no cache entry".into(),
        })
    }
}

fn run_quiet(mut cmd: Command, what: &str, version: &str) -> Result<()> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = supervisor::spawn(cmd).map_err(|e| RegistryError::Fetch {
        version: version.to_string(),
        detail: format!("cannot run {what}: {e}"),
    })?;
    let out = child
        .wait_with_output()
        .map_err(RegistryError::io(format!("waiting for {what}")))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[ERROR]"))
        .take(8)
        .collect();
    Err(RegistryError::Fetch {
        version: version.to_string(),
        detail: format!(
            "{what} exited with {}: {}{}",
            out.status,
            errors.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

fn fetch(version: &str, parent: &Path, progress: &dyn Fn(&str)) -> Result<()> {
    let mvn = std::env::var_os("CUTOVER_MVN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("mvn"));
    let staging = tempfile::Builder::new()
        .prefix(&format!("{version}.partial-"))
        .tempdir_in(parent)
        .map_err(RegistryError::io(
            "creating a staging directory in the cache",
        ))?;
    let download = staging.path().join("download");
    let coords = artifact(version);
    progress(&format!(
        "fetching {coords} with Maven (about 160 MB, once)"
    ));
    let mut cmd = Command::new(&mvn);
    cmd.current_dir(staging.path())
        .arg("-B")
        .arg("-q")
        .arg("org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy")
        .arg(format!("-Dartifact={coords}"))
        .arg(format!("-DoutputDirectory={}", download.display()));
    run_quiet(
        cmd,
        &format!("{} (mvn dependency:copy)", mvn.display()),
        version,
    )?;
    let tarball = fs::read_dir(&download)
        .map_err(RegistryError::io("listing the download"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .ok_or_else(|| RegistryError::Fetch {
            version: version.to_string(),
            detail: "Maven finished but left no .tar.gz".into(),
        })?;
    let tarball_bytes = fs::metadata(&tarball)
        .map_err(RegistryError::io("reading the tarball's size"))?
        .len();
    let tarball_sha256 = sha256_file(&tarball).map_err(RegistryError::io("hashing the tarball"))?;
    progress(&format!("unpacking {} MB", tarball_bytes >> 20));
    let app = staging.path().join("app-dir");
    fs::create_dir_all(&app).map_err(RegistryError::io("creating the unpack dir"))?;
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(&tarball).arg("-C").arg(&app);
    run_quiet(tar, "tar", version)?;
    // The tarball may hold the app at its root or in one top directory.
    let root = if app.join("quarkus-run.jar").exists() {
        app.clone()
    } else {
        fs::read_dir(&app)
            .map_err(RegistryError::io("listing the unpacked app"))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("quarkus-run.jar").exists())
            .ok_or_else(|| RegistryError::Fetch {
                version: version.to_string(),
                detail: "the tarball holds no quarkus-run.jar".into(),
            })?
    };
    let manifest = ApicurioManifest {
        version: version.to_string(),
        artifact: coords,
        tarball_bytes,
        tarball_sha256,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| RegistryError::Io {
        context: "serialising the manifest".into(),
        source: std::io::Error::other(e),
    })?;
    fs::write(root.join("manifest.json"), text)
        .map_err(RegistryError::io("writing manifest.json"))?;
    let final_dir = ApicurioDist::dir_for(version);
    fs::rename(&root, &final_dir).map_err(RegistryError::io(format!(
        "moving {} into place",
        final_dir.display()
    )))?;
    progress(&format!("cached in {}", final_dir.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_is_the_all_tarball_of_the_app() {
        assert_eq!(
            artifact("3.3.3"),
            "io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all"
        );
        assert!(ApicurioDist::dir_for("3.3.3").ends_with("apicurio/3.3.3"));
    }
}
