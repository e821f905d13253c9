//! `--resources PATH… --namespace NAME…` on `cutover verify`, `cutover rehearse` and `cutover
//! offsets sync`: what the namespaces own by the teams' declarations (`declarations::scope`),
//! as the regex of whole names those commands select topics (verify, rehearse) or consumer
//! groups (offsets sync) by.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// ns4kafka or Strimzi resource YAML (files or directories, repeatable) that --namespace
    /// reads ownership from.
    #[arg(long = "resources", value_name = "PATH", requires = "namespaces")]
    pub resources: Vec<PathBuf>,
    /// Only what this ns4kafka namespace (or Strimzi KafkaUser) owns by --resources: topics
    /// (its OWNER entries on topics, literal or prefixed, and the topics declared in it; a
    /// Strimzi user's Write rules) and consumer groups (its OWNER entries on groups; a Strimzi
    /// user's Read rules on groups). Repeatable; with one, it is also the namespace of
    /// documents that leave `metadata.namespace` out.
    #[arg(long = "namespace", value_name = "NAME", requires = "resources")]
    pub namespaces: Vec<String>,
}

impl ScopeArgs {
    fn scope(&self) -> Result<Option<declarations::scope::Scope>> {
        if self.namespaces.is_empty() {
            return Ok(None);
        }
        let default = match self.namespaces.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        let decls = declarations::load(&self.resources, default).map_err(|e| anyhow!("{e}"))?;
        declarations::scope::Scope::of(&decls, &self.namespaces)
            .map(Some)
            .map_err(|e| anyhow!("--namespace: {e}"))
    }

    /// The topics regex of the namespaces, or `None` without --namespace.
    pub fn topics_regex(&self) -> Result<Option<String>> {
        let Some(scope) = self.scope()? else {
            return Ok(None);
        };
        scope.topics_regex().map(Some).ok_or_else(|| {
            anyhow!(
                "--namespace: namespaces {} own no topic in the declarations",
                self.namespaces.join(", ")
            )
        })
    }

    /// The consumer groups regex of the namespaces, or `None` without --namespace.
    pub fn groups_regex(&self) -> Result<Option<String>> {
        let Some(scope) = self.scope()? else {
            return Ok(None);
        };
        scope.groups_regex().map(Some).ok_or_else(|| {
            anyhow!(
                "--namespace: namespaces {} own no consumer group in the declarations (no OWNER entry of type GROUP, no Strimzi Read rule on a group)",
                self.namespaces.join(", ")
            )
        })
    }
}
