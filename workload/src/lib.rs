//! # workload — the traffic a migration must survive
//!
//! Generates Kafka traffic that looks like the seed migration's — many topics, keyed data
//! (uniform, zipf, sequential), transactional apps with aborts, producers without exactly-once
//! that re-send records ("normal" upstream duplicates), hanging transactions — exactly
//! reproducible from a seed. Every record carries a `cutover-id` header (producer, sequence);
//! an [`IntentLedger`] records what was sent, acknowledged, committed and aborted per
//! topic-partition so the source can be checked before the replication is blamed.
//!
//! With `[schema]`, values are in the Confluent wire format, their schemas registered in one
//! of several registries per topic group and evolved mid-run ([`schema`]).
//!
//! It produces only to the topics its spec names.
//!
//! Must not: produce to a topic its spec does not name, draw randomness from anything but its
//! seed (`rng`, `harness::rng::SplitMix64`), or check the copy (it records intent; the checker
//! compares).

pub mod error;
pub mod generator;
pub mod ledger;
pub mod rng;
pub mod runner;
pub mod schema;
pub mod spec;

pub use error::WorkloadError;
pub use generator::{GeneratedRecord, RecordGenerator};
pub use ledger::{Fate, IntentLedger, PartitionLedger};
pub use runner::{run, RunOptions, WorkloadReport};
pub use spec::WorkloadSpec;
