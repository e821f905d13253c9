//! `kind = "command"`: any program as the system under test. Each instance is the program
//! (resolved against the scenario's dir when relative), run in the scenario's dir with the
//! scenario's `env`, `CUTOVER_GROUP_ID` and the `CUTOVER_*` variables every instance gets
//! (bootstrap servers, client properties files, topics, instance number). cutover knows
//! nothing of its lag: the drain watches the topics' watermarks and the group check waits for
//! the program's own offset sync, if any. Its instances are expected to consume the source in
//! `CUTOVER_GROUP_ID` ([`SystemUnderTest::source_group`]): that group's members and
//! assignments prove add-instance and remove-instance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Launcher, SourceGroup, SystemUnderTest};
use crate::error::ScenarioError;
use crate::spec::Scenario;

/// A user's program (`[system] kind = "command"`).
pub struct CommandSystem {
    /// Program and arguments.
    pub command: Vec<String>,
    pub instances: u32,
    /// SIGTERM, then SIGKILL after this long, in seconds.
    pub grace_secs: f64,
    /// Passed as `CUTOVER_GROUP_ID`.
    pub group_id: String,
    /// How long a join or a leave of that group may take to show, in seconds.
    pub rebalance_proof_secs: f64,
    pub env: BTreeMap<String, String>,
    /// How target topics are named.
    pub rename_prefix: String,
}

impl SystemUnderTest for CommandSystem {
    fn name(&self) -> String {
        format!(
            "command ({})",
            secrets::redact_args(&self.command).join(" ")
        )
    }

    fn instances(&self) -> u32 {
        self.instances
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), (String, String)> {
        if self.instances == 0 {
            return Err(("system.instances".into(), "expected at least 1".into()));
        }
        if self.command.is_empty() {
            return Err((
                "system.command".into(),
                "expected the program and its arguments, e.g. [\"./copy.sh\"]".into(),
            ));
        }
        if !(self.rebalance_proof_secs > 0.0 && self.rebalance_proof_secs <= 3600.0) {
            return Err((
                "system.rebalance_proof_secs".into(),
                "expected seconds above 0, at most 3600".into(),
            ));
        }
        Ok(())
    }

    fn rename(&self) -> verify::Rename {
        verify::Rename::prefix(self.rename_prefix.clone())
    }

    fn command(&self, _index: u32, l: &Launcher) -> Result<(Command, Option<u16>), ScenarioError> {
        let program = self
            .command
            .first()
            .ok_or_else(|| ScenarioError::System("the command is empty".into()))?;
        let mut c = Command::new(resolve(&l.scenario_dir, program));
        c.args(&self.command[1..]);
        c.current_dir(&l.scenario_dir);
        c.envs(&self.env);
        c.env("CUTOVER_GROUP_ID", &self.group_id);
        Ok((c, None))
    }

    fn grace(&self) -> Duration {
        Duration::from_secs_f64(self.grace_secs)
    }

    fn source_group(&self) -> Option<SourceGroup> {
        Some(SourceGroup {
            name: self.group_id.clone(),
            // Checked to be in (0, 3600]; a file never checked gets the default.
            bound: Duration::try_from_secs_f64(self.rebalance_proof_secs)
                .unwrap_or(Duration::from_secs(90)),
        })
    }
}

/// A program named with a `/` and relative is the scenario dir's; a bare name is looked up
/// on `PATH`.
fn resolve(dir: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}
