//! Class-data sharing (AppCDS) for the broker and storage-tool JVMs of the process backend.
//!
//! A broker JVM spends most of its start loading and verifying some thousands of classes from
//! the Kafka jars; a storage format run does the same for fewer. HotSpot can map them from a
//! shared archive instead (JEP 350, dynamic CDS archives, Java 13+): `-XX:ArchiveClassesAtExit`
//! writes one when a JVM exits normally, `-XX:SharedArchiveFile` uses it. Measured on 2 cores
//! (Kafka 4.1, Java 17): a broker reaches "Kafka Server started" with half the CPU time
//! (about 2.5 s instead of 4.5 s) and the format run takes 0.5 s instead of 0.9 s.
//!
//! The archives are made once per Kafka version, Java runtime and jar set, by a training node
//! (a 1-node cluster started, made ready and stopped with SIGTERM so that it exits normally) and
//! kept under `<cache>/cds/`. An archive made by another Java build or for other jars is
//! refused by HotSpot, which then loads classes as usual (`-Xshare:auto`, the default): the
//! archives save time and never change what a broker does. `CUTOVER_CDS=off` turns them off.
//! One process trains at a time (an exclusive `flock`); the others wait for it, then use its
//! archives (so every start after the first maps them, whichever test started first). A runtime that started the training node but wrote no archive (a JDK without a
//! base CDS archive) is marked `untrainable` and not trained again.

use std::fs;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::dist::{cache_root, KafkaDist};
use crate::java::JavaRuntime;

/// The marker of a runtime that writes no archive.
const UNTRAINABLE: &str = "untrainable";

/// The JVMs an archive is made for: each loads its own classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `kafka.Kafka`.
    Broker,
    /// `kafka.tools.StorageTool format`.
    Tool,
}

impl Role {
    fn file_name(self) -> &'static str {
        match self {
            Role::Broker => "broker.jsa",
            Role::Tool => "tool.jsa",
        }
    }
}

/// What a JVM of one role is started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Sharing {
    /// No archive (none made yet, or turned off).
    #[default]
    Off,
    /// Map classes from this archive.
    Use(PathBuf),
    /// Write an archive here when the JVM exits normally (training).
    Dump(PathBuf),
}

impl Sharing {
    /// The JVM flags for this sharing.
    pub fn flags(&self) -> Vec<String> {
        match self {
            Sharing::Off => Vec::new(),
            Sharing::Use(path) => vec![format!("-XX:SharedArchiveFile={}", path.display())],
            Sharing::Dump(path) => vec![format!("-XX:ArchiveClassesAtExit={}", path.display())],
        }
    }
}

/// The archives of one Java runtime and one distribution.
#[derive(Debug, Clone)]
pub(crate) struct Archives {
    dir: PathBuf,
}

impl Archives {
    /// The archive directory for `java` and `dist`, or None when `CUTOVER_CDS=off`.
    pub fn of(java: &JavaRuntime, dist: &KafkaDist) -> Option<Archives> {
        if std::env::var("CUTOVER_CDS").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
            return None;
        }
        let dir = cache_root().join("cds").join(key(java, dist));
        let archives = Archives { dir };
        (!archives.untrainable()).then_some(archives)
    }

    /// The archive of `role`, when one was made.
    pub fn archive(&self, role: Role) -> Sharing {
        let path = self.dir.join(role.file_name());
        match fs::metadata(&path) {
            Ok(meta) if meta.len() > 0 => Sharing::Use(path),
            _ => Sharing::Off,
        }
    }

    /// True when every role has its archive.
    pub fn complete(&self) -> bool {
        [Role::Broker, Role::Tool]
            .iter()
            .all(|r| self.archive(*r) != Sharing::Off)
    }

    /// True when a training found that this runtime writes no archive.
    pub fn untrainable(&self) -> bool {
        self.dir.join(UNTRAINABLE).exists()
    }

    /// The training lock, waiting up to `wait` while another process (or thread) holds it;
    /// None when the wait ran out or the cache is not writable.
    pub fn lock(&self, wait: Duration) -> Option<Training> {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_lock() {
                Ok(Some(training)) => return Some(training),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Ok(None) => return None,
                Err(err) => {
                    tracing::debug!(%err, dir = %self.dir.display(), "no class-data sharing training");
                    return None;
                }
            }
        }
    }

    /// The training lock when no one else holds it (`Ok(None)`: someone else trains).
    fn try_lock(&self) -> io::Result<Option<Training>> {
        fs::create_dir_all(&self.dir)?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".training.lock"))?;
        // SAFETY: flock on an open descriptor has no memory-safety preconditions.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(Training {
                dir: self.dir.clone(),
                _lock: lock,
            }));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(err)
        }
    }
}

/// The right to train, held until dropped (the `flock` goes with the file).
#[derive(Debug)]
pub(crate) struct Training {
    dir: PathBuf,
    _lock: fs::File,
}

impl Training {
    /// Where the training JVM of `role` writes its archive (this process's own file).
    pub fn dump_path(&self, role: Role) -> PathBuf {
        self.dir
            .join(format!("{}.tmp-{}", role.file_name(), std::process::id()))
    }

    /// Moves a written archive into place; a missing or empty one (the JVM did not exit
    /// normally) is not an error, only no archive.
    pub fn install(&self, role: Role) -> io::Result<bool> {
        let written = self.dump_path(role);
        match fs::metadata(&written) {
            Ok(meta) if meta.len() > 0 => {
                fs::rename(&written, self.dir.join(role.file_name()))?;
                Ok(true)
            }
            _ => {
                let _ = fs::remove_file(&written);
                Ok(false)
            }
        }
    }

    /// Marks the runtime as writing no archive (`why` is kept in the marker), so that no
    /// later start trains again.
    pub fn give_up(&self, why: &str) {
        let _ = fs::write(self.dir.join(UNTRAINABLE), format!("{why}\n"));
    }
}

impl Drop for Training {
    fn drop(&mut self) {
        for role in [Role::Broker, Role::Tool] {
            let _ = fs::remove_file(self.dump_path(role));
        }
    }
}

/// `<kind>-<version>-<hash>`: the hash covers the Java executable and build and the jars (names
/// and sizes), what HotSpot checks an archive against.
fn key(java: &JavaRuntime, dist: &KafkaDist) -> String {
    let mut h = Sha256::new();
    let java_path = fs::canonicalize(&java.path).unwrap_or_else(|_| java.path.clone());
    h.update(java_path.as_os_str().as_encoded_bytes());
    h.update(b"\0");
    h.update(java.description.as_bytes());
    h.update(b"\0");
    h.update(dist.dir.as_os_str().as_encoded_bytes());
    for jar in &dist.manifest.jars {
        h.update(b"\0");
        h.update(jar.name.as_bytes());
        h.update(jar.size.to_le_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{hex}", dist.kind.dir_name(), dist.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{DistKind, JarEntry, KafkaVersion, Manifest};
    use std::path::Path;

    fn dist(dir: &Path, jar_size: u64) -> KafkaDist {
        KafkaDist {
            version: KafkaVersion::parse("4.1.1").unwrap(),
            kind: DistKind::Broker,
            dir: dir.to_path_buf(),
            manifest: Manifest {
                version: "4.1.1".into(),
                artifacts: vec![],
                jars: vec![JarEntry {
                    name: "kafka_2.13-4.1.1.jar".into(),
                    size: jar_size,
                    sha256: String::new(),
                }],
            },
        }
    }

    fn java(description: &str) -> JavaRuntime {
        JavaRuntime {
            path: PathBuf::from("/no/such/java"),
            major: 17,
            description: description.into(),
        }
    }

    #[test]
    fn another_java_build_or_jar_set_gets_its_own_archives() {
        let d = Path::new("/cache/kafka/4.1.1");
        let base = key(&java("openjdk version \"17.0.15\""), &dist(d, 10));
        assert!(base.starts_with("kafka-4.1.1-"), "{base}");
        assert_eq!(
            base,
            key(&java("openjdk version \"17.0.15\""), &dist(d, 10))
        );
        assert_ne!(base, key(&java("openjdk version \"21.0.2\""), &dist(d, 10)));
        assert_ne!(
            base,
            key(&java("openjdk version \"17.0.15\""), &dist(d, 11))
        );
    }

    #[test]
    fn flags_name_the_archive_to_use_or_to_write() {
        assert!(Sharing::Off.flags().is_empty());
        assert_eq!(
            Sharing::Use("/a/broker.jsa".into()).flags(),
            ["-XX:SharedArchiveFile=/a/broker.jsa"]
        );
        assert_eq!(
            Sharing::Dump("/a/x".into()).flags(),
            ["-XX:ArchiveClassesAtExit=/a/x"]
        );
    }

    #[test]
    fn one_trainer_at_a_time_and_only_written_archives_are_installed() {
        let dir = tempfile::tempdir().unwrap();
        let archives = Archives {
            dir: dir.path().join("k"),
        };
        assert_eq!(archives.archive(Role::Broker), Sharing::Off);
        let training = archives.lock(Duration::ZERO).expect("the lock is free");
        // flock locks are per open file: a second open in the same process conflicts too.
        let waited = Instant::now();
        assert!(
            archives.lock(Duration::from_millis(500)).is_none(),
            "one trainer at a time"
        );
        assert!(waited.elapsed() >= Duration::from_millis(500), "it waited");
        // The tool JVM wrote its archive, the broker's was killed before writing one.
        fs::write(training.dump_path(Role::Tool), b"archive").unwrap();
        assert!(training.install(Role::Tool).unwrap());
        assert!(!training.install(Role::Broker).unwrap());
        assert_eq!(
            archives.archive(Role::Tool),
            Sharing::Use(dir.path().join("k").join("tool.jsa"))
        );
        assert_eq!(archives.archive(Role::Broker), Sharing::Off);
        assert!(!archives.complete());
        drop(training);
        assert!(archives.lock(Duration::ZERO).is_some(), "released on drop");
    }
}
