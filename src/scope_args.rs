//! `--resources PATH… --namespace NAME…` on `cutover verify` and `cutover rehearse`: the
//! topics the namespaces own by the teams' declarations (`declarations::scope`), as the regex
//! of whole names those commands select topics by.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// ns4kafka or Strimzi resource YAML (files or directories, repeatable) that --namespace
    /// reads ownership from.
    #[arg(long = "resources", value_name = "PATH", requires = "namespaces")]
    pub resources: Vec<PathBuf>,
    /// Only the topics this ns4kafka namespace (or Strimzi KafkaUser) owns by --resources:
    /// its OWNER entries (literal or prefixed) and the topics declared in it. Repeatable; with
    /// one, it is also the namespace of documents that leave `metadata.namespace` out.
    #[arg(long = "namespace", value_name = "NAME", requires = "resources")]
    pub namespaces: Vec<String>,
}

impl ScopeArgs {
    /// The topics regex of the namespaces, or `None` without --namespace.
    pub fn topics_regex(&self) -> Result<Option<String>> {
        if self.namespaces.is_empty() {
            return Ok(None);
        }
        let default = match self.namespaces.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        let decls = declarations::load(&self.resources, default).map_err(|e| anyhow!("{e}"))?;
        declarations::scope::owned_topics_regex(&decls, &self.namespaces)
            .map(Some)
            .map_err(|e| anyhow!("--namespace: {e}"))
    }
}
