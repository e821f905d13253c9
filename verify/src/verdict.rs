//! The verdict model, from the [`verdict`] crate (serde types without a Kafka client, so
//! `reports` does not link one): re-exported here, where the checker fills it.

pub use ::verdict::*;
