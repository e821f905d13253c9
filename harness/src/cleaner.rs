//! What the brokers' log cleaners did, read from their own files.
//!
//! Each broker's log cleaner records, per compacted partition of a log directory, the offset up
//! to which it has cleaned (the first dirty offset) in `cleaner-offset-checkpoint` in that log
//! directory: a version line (`0`), a count line, then one `topic partition offset` line per
//! partition (Kafka's `LogCleanerManager` and `OffsetCheckpointFile`, see
//! <https://github.com/apache/kafka/blob/trunk/storage/src/main/java/org/apache/kafka/storage/internals/checkpoint/OffsetCheckpointFile.java>).
//! A partition without a line has never been cleaned on that broker. Only clusters cutover
//! started have log directories it can read ([`crate::Cluster::log_dirs`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// The checkpoint file's name inside a log directory.
pub const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// The highest cleaned-up-to offset of every partition any of `log_dirs` has a line for
/// (replicas on several brokers: the highest, so a partition counts as cleaned if any replica
/// was). A log directory without the file contributes nothing.
pub fn cleaned_offsets(log_dirs: &[PathBuf]) -> Result<BTreeMap<(String, i32), i64>> {
    let mut out: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for dir in log_dirs {
        let path = dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(HarnessError::Io {
                    context: format!("reading {}", path.display()),
                    source: e,
                })
            }
        };
        for ((topic, partition), offset) in parse(&path, &text)? {
            let entry = out.entry((topic, partition)).or_insert(offset);
            *entry = (*entry).max(offset);
        }
    }
    Ok(out)
}

/// Whether the cleaner has cleaned anything of `topic`'s `partitions` on any of `log_dirs`.
pub fn cleaned(log_dirs: &[PathBuf], topic: &str, partitions: &[i32]) -> Result<bool> {
    let offsets = cleaned_offsets(log_dirs)?;
    Ok(partitions.iter().any(|p| {
        offsets
            .get(&(topic.to_string(), *p))
            .is_some_and(|offset| *offset > 0)
    }))
}

fn parse(path: &Path, text: &str) -> Result<Vec<((String, i32), i64)>> {
    let bad = |line: usize, what: &str| HarnessError::Io {
        context: format!("{}:{line}: {what}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()),
    };
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("0") => {}
        // An empty file: the broker created it and has written nothing yet.
        None | Some("") => return Ok(Vec::new()),
        Some(other) => return Err(bad(1, &format!("checkpoint version {other:?}, expected 0"))),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad(2, "expected the entry count"))?;
    let mut out = Vec::with_capacity(count);
    for (i, line) in lines.enumerate().take(count) {
        // Topic names hold no spaces (legal characters: ASCII alphanumerics, '.', '_', '-').
        let mut fields = line.split_whitespace();
        let parsed = (|| {
            let topic = fields.next()?.to_string();
            let partition = fields.next()?.parse().ok()?;
            let offset = fields.next()?.parse().ok()?;
            Some(((topic, partition), offset))
        })();
        out.push(parsed.ok_or_else(|| bad(i + 3, "expected `topic partition offset`"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_highest_offset_over_log_dirs() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(
            a.path().join(CHECKPOINT_FILE),
            "0\n2\nprofiles 0 30\nusers 1 4\n",
        )
        .unwrap();
        std::fs::write(b.path().join(CHECKPOINT_FILE), "0\n1\nprofiles 0 42\n").unwrap();
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let offsets = cleaned_offsets(&dirs).unwrap();
        assert_eq!(offsets.get(&("profiles".into(), 0)), Some(&42));
        assert_eq!(offsets.get(&("users".into(), 1)), Some(&4));
        assert!(cleaned(&dirs, "users", &[0, 1]).unwrap());
        assert!(!cleaned(&dirs, "users", &[0]).unwrap());
        assert!(!cleaned(&dirs, "orders", &[0]).unwrap());
    }

    #[test]
    fn a_missing_file_is_nothing_cleaned_and_a_bad_line_is_named() {
        let a = tempfile::tempdir().unwrap();
        assert!(cleaned_offsets(&[a.path().to_path_buf()])
            .unwrap()
            .is_empty());
        std::fs::write(a.path().join(CHECKPOINT_FILE), "0\n1\nprofiles zero 4\n").unwrap();
        let err = cleaned_offsets(&[a.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(":3:"), "{err}");
    }
}
