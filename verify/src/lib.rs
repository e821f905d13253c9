//! # verify — the exact checker behind cutover's verdicts
//!
//! Compares what the source cluster holds with what the target holds, message by message,
//! and names every difference: lost, duplicated, leaked-aborted, phantom, corrupted,
//! reordered, moved-partition, offset-mismatch and compaction-divergent records, each counted
//! exactly with examples, with upstream ("normal") duplicates counted apart.
//!
//! With schema registries ([`schemas`]), a framed value is identified by its canonical
//! schema and payload, and `schema-unresolved` / `schema-mismatch` name copies whose schema
//! ids no longer decode to the source's schema.
//!
//! Records are identified by a SHA-256 [`fingerprint`](fingerprint::fingerprint) over a
//! documented canonical encoding. Partitions are checked independently; memory per partition is
//! fixed by the matcher's run capacity (48 bytes a record in flight), the rest spills to disk as
//! sorted runs, so the verdict stays exact at any volume. It never writes to a cluster and never
//! commits offsets.

pub mod app;
pub mod distributed;
pub mod error;
pub mod fingerprint;
pub mod marks;
pub mod matcher;
pub mod reader;
/// [`Rename`], from the `verdict` crate (the built-in replicator shares it without the checker).
pub mod rename {
    pub use verdict::Rename;
}
pub mod resume;
pub mod runs;
pub mod schemas;
mod streams;
pub mod topic;
pub mod torn;
pub mod verdict;
pub mod window_check;

pub use distributed::{load_partials, merge, verify_partial, GroupOptions, PartialVerdict};
pub use error::VerifyError;
pub use fingerprint::{fingerprint, FingerprintOptions, RecordView, WORKLOAD_ID_HEADER};
pub use marks::{DuplicateMarks, MarkedDuplicates};
pub use matcher::{Compaction, MatchOptions, PartitionMatcher, Retention};
pub use reader::{verify, Cleaners, VerifyOptions, VerifyProgress};
pub use rename::Rename;
pub use verdict::{AnomalyClass, Counts, Promises, Status, TransactionPromise, Verdict};
