//! # replicator
//!
//! cutover's built-in cross-cluster replicator, one of the systems cutover puts under test
//! (next to MirrorMaker 2 and any user command). It copies the selected source topics to the
//! target with rdkafka, preserving key, value, headers, timestamp and partition number, and
//! survives consumer-group rebalances, kill -9 and stalled instances.
//!
//! * **exactly-once** (default): the source is read `read_committed`; each source partition
//!   has its own target producer whose `transactional.id` is derived from the partition, so a
//!   new owner fences the previous one; every transaction carries the records and the
//!   partition's checkpoint (next source offset) in a compacted topic on the target. On an
//!   assignment the worker fences, the checkpoints are read once every fenced transaction is
//!   resolved, and the consumer is positioned there — never from the source group's offsets.
//! * **at-least-once**: idempotent producer, source offsets committed to the source group after
//!   delivery: the Connect-style copier whose duplicates under rebalances cutover exists to show.
//!
//! Modules: [`config`] (TOML with Java client properties verbatim, validation), [`topics`]
//! (target topics: partitions, configs, deny-list, discovery), [`checkpoint`] (checkpoint and
//! offset-sync records), [`worker`] (one partition's writer and transactions), [`engine`] (poll
//! loop, rebalances, rewinds), [`offsets`] (consumer-group cutover), [`metrics`] (Prometheus),
//! [`schemas`] (schema registry copy and schema-id translation of wire-format records).

pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod offsets;
pub mod schemas;
pub mod topics;
pub mod worker;

pub use config::{Mode, ReplicatorConfig};
pub use error::{ReplicatorError, Result};
pub use metrics::{Metrics, Totals};
