//! # registry — schema registries for cutover
//!
//! A migration that merges schema registries must keep every record decodable with the same
//! schema on the target. This crate gives cutover what it needs to rehearse and verify that:
//!
//! - [`dist`]: Apicurio Registry 3.x (`io.apicurio:apicurio-registry-app:<v>:tar.gz:all` on
//!   Maven Central) fetched once into cutover's cache, like the Kafka jars;
//! - [`server`]: a real registry started on a random loopback port with a Java 21+
//!   ([`harness::java::JavaRuntime::locate_at_least`]), probed until ready, killed and its dir
//!   removed on every path (Drop, and `PR_SET_PDEATHSIG` through [`harness::supervisor`]);
//! - [`client`]: the [`SchemaRegistry`] trait over the Confluent-compatible REST API
//!   (Apicurio serves it under `/apis/ccompat/v7`), with an HTTP implementation (optional basic
//!   auth), so a registry that is not Apicurio (Confluent, Karapace, Redpanda) can be pointed at;
//! - [`canonical`]: the canonical form of a schema (Avro's Parsing Canonical Form plus the
//!   attributes that carry meaning: logical types, defaults, aliases; JSON Schema as sorted,
//!   whitespace-free JSON; Protobuf without comments, literals kept), so schemas are compared by
//!   content, never by id;
//! - [`wire`]: the Confluent wire format (magic byte 0, a 4-byte big-endian schema id, then
//!   the payload);
//! - [`judge`]: a copied record against its source by schema content and payload
//!   (`schema-unresolved`, `schema-mismatch`);
//! - [`compare`]: registry verification (`cutover verify-schemas`): every source
//!   subject/version on the target with the same version number and canonical schema.
//!
//! Apicurio ignores an explicit `id` on registration (even in `IMPORT` mode) and numbers a
//! subject's versions itself, so a merge must translate ids and register versions in order;
//! verification judges schemas by content.

pub mod canonical;
pub mod client;
pub mod compare;
pub mod dist;
pub mod error;
pub mod judge;
#[cfg(test)]
mod memory;
pub mod server;
pub mod wire;

pub use canonical::{canonical_form, SchemaType};
pub use client::{HttpRegistry, Reference, RegisteredSchema, Schema, SchemaRegistry};
pub use dist::{ApicurioDist, DEFAULT_APICURIO_VERSION};
pub use error::{RegistryError, Result};
pub use server::{Apicurio, StartOptions};
