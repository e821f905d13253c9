//! One temp dir per cluster, removed on teardown unless kept, and swept when its owner died.
//!
//! Dirs are named `cutover-<pid>-<cluster>-XXXXXX` under the system temp dir. A process killed
//! with SIGKILL cannot remove its dirs, so each new cluster first removes the dirs whose owning
//! pid no longer exists (a dir holding a `.keep` marker is left alone).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};
use crate::supervisor;

const PREFIX: &str = "cutover-";
const KEEP_MARKER: &str = ".keep";

/// A cluster's working directory.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// Creates a new dir for `cluster`; sweeps dead owners' dirs first.
    pub fn create(cluster: &str, keep: bool) -> Result<WorkDir> {
        let base = std::env::temp_dir();
        sweep_stale(&base);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-{cluster}-", std::process::id()))
            .tempdir_in(&base)
            .map_err(HarnessError::io(format!(
                "creating a temp dir for cluster {cluster} in {}",
                base.display()
            )))?
            .keep();
        if keep {
            fs::write(dir.join(KEEP_MARKER), b"kept by --keep\n")
                .map_err(HarnessError::io("writing the keep marker"))?;
        }
        Ok(WorkDir { path: dir, keep })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keep(&self) -> bool {
        self.keep
    }

    /// Removes the dir now (unless kept). Safe to call twice.
    pub fn remove(&self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes `cutover-<pid>-…` dirs in `base` whose pid is gone and that are not kept.
pub fn sweep_stale(base: &Path) -> usize {
    let Ok(entries) = fs::read_dir(base) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        if pid == std::process::id() || supervisor::is_alive(pid) || path.join(KEEP_MARKER).exists()
        {
            continue;
        }
        if fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Writes `text` to a file only its owner can read (0600): configs with secrets.
pub(crate) fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_dirs_of_dead_pids_are_swept_and_kept_ones_stay() {
        let base = tempfile::tempdir().unwrap();
        // pid 0x7ffffffe is never a live process here.
        let dead = base.path().join("cutover-2147483646-source-abc");
        let kept = base.path().join("cutover-2147483646-target-abc");
        let mine = base
            .path()
            .join(format!("cutover-{}-x-abc", std::process::id()));
        for d in [&dead, &kept, &mine] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(kept.join(KEEP_MARKER), b"").unwrap();
        assert_eq!(sweep_stale(base.path()), 1);
        assert!(!dead.exists());
        assert!(kept.exists());
        assert!(mine.exists());
    }
}
