//! # replicator
//!
//! cutover's built-in cross-cluster replicator, one of the systems cutover puts under test
//! (next to MirrorMaker 2 and any user command). It copies the selected source topics to the
//! target with rdkafka, preserving key, value, headers, timestamp and partition number, and
//! survives consumer-group rebalances, kill -9 and stalled instances.
//!
//! * **exactly-once** (default): the source is read `read_committed`; the source partitions
//!   are spread over a bounded number of producer slots (`replication.producers`), each with
//!   one target producer whose `transactional.id` is fixed for the slot, shared by the
//!   instances through a consumer group on the target, so a slot's new owner fences the
//!   previous one; every transaction carries records of the slot's partitions and their
//!   checkpoints (next source offsets) in a compacted topic on the target. When a slot starts,
//!   its writer fences, the checkpoints are read once every fenced transaction is resolved,
//!   and the source consumer is positioned there — never from the source group's offsets.
//! * **at-least-once**: idempotent producer, source offsets committed to the source group after
//!   delivery: the Connect-style copier whose duplicates under rebalances cutover exists to show.
//!
//! Modules: [`config`] (TOML with Java client properties verbatim, validation), [`topics`]
//! (target topics: partitions, configs, deny-list, discovery), [`checkpoint`] (checkpoint and
//! offset-sync records), [`worker`] (one slot's writer and transactions), [`engine`] (poll
//! loop, the slot group, rewinds, restarts), [`offsets`] (consumer-group cutover), [`metrics`]
//! (Prometheus), [`schemas`] (schema registry copy and schema-id translation of wire-format
//! records).
//!
//! Must not: judge its own output (the checker does), commit source offsets before the records
//! are safe on the target, or read a source group's offsets to position itself in exactly-once
//! mode (checkpoints on the target are the truth).

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
