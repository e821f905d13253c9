//! # scenarios
//!
//! cutover's main job: a scenario file (TOML) describes the clusters, a workload, the system
//! under test (the built-in replicator, MirrorMaker 2 or any command) and a schedule of faults; [`runner::run`]
//! provisions it all, runs the workload with the faults, drains, verifies with the checker and
//! writes its report (the `reports` crate renders report.json, junit.xml, summary.md and
//! report.html). The catalog of scenarios lives in `catalog/`.
//!
//! Modules: [`spec`] (the file format and its checks, errors with file:line:field), [`system`]
//! (the system under test as one trait, `SystemUnderTest`, one file per kind: `builtin` with
//! its `/metrics` scraping and `cutover offsets sync`, `mirrormaker2` with its
//! `mm2.properties`, `command`, `running`; their instances as supervised processes in
//! `system::instances`), [`runner`] (the phases: provision, start, workload with the fault
//! schedule, drain, groups, verify), `faults` (the fault verbs: one entry each in
//! `faults::verbs`), [`report`] (what the scenario adds to the report).
//!
//! Must not: judge anything itself (the checker, `verify`, does: verdicts, where a consumer
//! group resumes, the rehearsal's window check), validate a scenario with runtime code (a
//! system's `check` and a verb's checks are pure functions), or write a secret anywhere but
//! its private config dir.

pub mod app;
pub mod config_docs;
pub mod delay;
pub mod drain;
pub mod error;
pub(crate) mod faults;
pub mod groups;
pub mod reconcile;
pub mod registries;
pub mod report;
pub mod runner;
mod sampler;
pub mod spec;
pub mod sweep;
pub mod system;

pub use error::ScenarioError;
pub use runner::{run, Outcome, Progress, RunOptions, RunReport};
pub use spec::{Scenario, SystemOverride};
