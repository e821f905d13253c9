//! The replication bench's body: two real 1-broker clusters, one source topic written once, and
//! contenders that each copy all of it into their own target topic, timed the same way. Shared
//! by `benches/replication.rs` (the real run, `cargo bench`) and `tests/bench_smoke.rs` (a tiny
//! run in the debug test suite, so this code cannot rot) through `#[path]`.
//!
//! Every contender is timed while records flow: the clock starts once 5 % of the records are
//! on the target and stops when all are, so group joins, producer start-up and a JVM's boot are
//! not counted as copying (they are reported apart, as "start s"). Every figure is also a ratio
//! to the copy limit measured in the same run, which is what carries across machines.

// The smoke test uses only part of this module.
#![allow(dead_code)]

/// Partitions of the main source topic (and of its target topics); the partitions axis has
/// topics of its own (`axis.rs`).
pub const PARTITIONS: i32 = 12;
/// The source topic.
pub const SOURCE_TOPIC: &str = "bench";
/// Bytes at the front of every value holding the record's index within its partition, so a
/// reader of a target partition's tail knows how many records reached it (MirrorMaker 2
/// exposes no count cutover reads, and a read_committed end offset counts transaction markers).
const SEQ_BYTES: usize = 8;

#[path = "axis.rs"]
mod axis;
#[path = "catalog.rs"]
mod catalog;
#[path = "machine.rs"]
pub mod machine;
#[path = "measure.rs"]
mod measure;
#[path = "table.rs"]
mod table;

pub use axis::*;
pub use catalog::*;
pub use measure::*;
pub use table::*;
