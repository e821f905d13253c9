//! `kind = "running"`: replication already running outside cutover (rehearsals against live
//! clusters). cutover starts, stops and faults nothing of it; it writes the workload and
//! verifies what arrives, with target topics named `rename_prefix` + source name.

use std::process::Command;

use super::{Launcher, SystemUnderTest};
use crate::error::ScenarioError;
use crate::spec::Scenario;

/// Replication cutover does not run (`[system] kind = "running"`).
pub struct Running {
    /// Put before a source topic's name to name its copy.
    pub rename_prefix: String,
}

impl SystemUnderTest for Running {
    fn name(&self) -> String {
        "running outside cutover".into()
    }

    fn instances(&self) -> u32 {
        0
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), (String, String)> {
        Ok(())
    }

    fn rename(&self) -> verify::Rename {
        verify::Rename::prefix(self.rename_prefix.clone())
    }

    fn command(
        &self,
        _index: u32,
        _launcher: &Launcher,
    ) -> Result<(Command, Option<u16>), ScenarioError> {
        Err(ScenarioError::System(
            "a `running` system runs outside cutover; there is nothing to start".into(),
        ))
    }
}
