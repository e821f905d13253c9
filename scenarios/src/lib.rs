//! # scenarios
//!
//! cutover's main job: a scenario file (TOML) describes the clusters, a workload, the system
//! under test (the built-in replicator, MirrorMaker 2 or any command) and a schedule of faults; [`runner::run`]
//! provisions it all, runs the workload with the faults, drains, verifies with the checker and
//! writes its report (the `reports` crate renders report.json, junit.xml, summary.md and
//! report.html). The catalog of scenarios lives in `catalog/`.
//!
//! Modules: [`spec`] (the file format and its checks, errors with file:line:field), [`system`]
//! (instances of the system under test as supervised processes), [`mirrormaker`]
//! (MirrorMaker 2's `mm2.properties` and target topic names), [`runner`] (phases, fault
//! schedule, drain, time series), [`report`] (what the scenario adds to the report), [`scrape`] (the built-in replicator's last
//! `/metrics` per instance, saved with the report).
//!
//! Must not: judge anything itself (the checker, `verify`, does: verdicts, where a consumer
//! group resumes, the rehearsal's window check), validate a scenario with runtime code (checks
//! use `system_config`, pure functions), or write a secret anywhere but its private config dir.

pub mod config_docs;
pub mod delay;
pub mod drain;
pub mod error;
pub(crate) mod faults;
pub mod groups;
pub mod mirrormaker;
pub mod reconcile;
pub mod registries;
pub mod rehearse;
pub mod report;
pub mod runner;
pub mod scrape;
pub mod spec;
pub mod sweep;
pub mod system;
pub mod system_config;

pub use error::ScenarioError;
pub use runner::{run, Outcome, Progress, RunOptions, RunReport};
pub use spec::{Scenario, SystemOverride};
