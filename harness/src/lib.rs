//! # harness — real Apache Kafka clusters for cutover
//!
//! Starts, controls and tears down the clusters every cutover verdict stands on: broker JVMs
//! from the official Apache Kafka jars (`process`, the default, jars cached like an image
//! pull), containers through testcontainers (`container`), or existing clusters reached with
//! the client properties users already have (`external`). All three sit behind the
//! [`Cluster`] trait, with topic admin and, for owned clusters, stop / kill -9 / restart of a
//! single broker. MirrorMaker 2's jars are cached the same way and [`mirrormaker`] builds its
//! dedicated-mode JVM command.
//!
//! ## Kafka Connect cluster
//!
//! [`connect`] runs a real Kafka Connect cluster on one of those clusters, for systems under
//! test deployed as connectors: [`ConnectCluster::start`] starts N workers in distributed mode
//! (`ConnectDistributed`, from the MirrorMaker 2 cache entry, which holds `connect-runtime` and
//! MirrorMaker 2's connectors) with generated worker properties (the cluster's client security
//! on every client, internal topics, byte-array converters, loopback REST, `plugin.path`,
//! KIP-618's `exactly.once.source.support`, the caller's overrides) and waits until they form
//! one group. [`ConnectRest`] deploys, watches, restarts, pauses and deletes connectors; workers
//! join, leave gracefully or are killed -9 for faults; the task assignment (REST status) and the
//! group's generations (parsed from each worker's log) show what a fault moved.
//!
//! ## Kafka Streams applications
//!
//! [`streams`] runs a real Kafka Streams application against one of those clusters, for an
//! application cutover: the `kafka-streams` jars cached like the others, the reference
//! application (`apps/streams-counter/CutoverCounter.java`, per-key counts and sums through a
//! repartition topic and a state store, exactly-once v2) compiled with the JDK and cached, or a
//! user's jar; [`StreamsApp`] starts it, waits for `RUNNING`, stops it (SIGTERM, clean close)
//! or kills it, and reads its states and state restorations from its log.
//!
//! Cleanup is a feature: every process the harness starts is spawned through
//! [`supervisor`] and dies with the harness (Drop, panic, signals, even SIGKILL of the harness),
//! and temp dirs are removed unless kept. The harness never writes to an external cluster on
//! its own.

pub mod acl;
pub mod admin;
mod cds;
pub mod cleaner;
pub mod client_props;
pub mod cluster;
pub mod connect;
pub mod consumer_protocol;
pub mod container;
pub mod delivery;
pub mod diagnose;
pub mod dist;
pub mod doctor;
pub mod error;
pub mod external;
pub mod java;
pub mod kafka_error;
mod layout;
pub mod mirrormaker;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod quiet;
pub mod reader;
pub mod readiness;
pub mod rng;
pub mod security;
pub mod spec;
pub mod streams;
pub mod supervisor;
pub mod watermarks;
pub mod workdir;

pub use acl::{
    permits, AclBinding, AclError, AclFilter, AclOperation, ClusterDescription, Decision,
    ParseAclError, PatternType, Permission, ResourceType,
};
pub use admin::{
    Admin, ConsumerGroupDescription, GroupMember, PartitionState, TopicDescription, TopicSpec,
};
pub use client_props::ClientProps;
pub use cluster::{start, BrokerInfo, Cluster};
pub use connect::{ConnectCluster, ConnectError, ConnectRest, ConnectSpec};
pub use diagnose::{ConnectProblem, ProbeOk};
pub use dist::{DistKind, FetchEvent, KafkaDist, KafkaVersion, DEFAULT_KAFKA_VERSION};
pub use error::{HarnessError, Result};
pub use mirrormaker::MirrorMaker2;
pub use proxy::{Direction, Proxy, ProxyStats};
pub use security::{SaslMechanism, Security, SecurityProtocol, UserSpec, ADMIN_USER};
pub use spec::{BackendKind, ClusterSpec};
pub use streams::{StreamsApp, StreamsRuntime, StreamsSpec};
