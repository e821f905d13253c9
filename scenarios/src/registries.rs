//! `[registries]` in a scenario: real Apicurio Registry servers for the run — `sources` source
//! registries (topic `i` of the workload uses source registry `i % sources`, as the workload's
//! `[schema]` does) and one target registry — started after the clusters, logs in the report
//! dir, killed and removed with the run on every path (they are owned values: Drop).
//!
//! The built-in replicator gets a `[schemas]` section (it copies the registries itself and
//! translates ids). For any other system the merge of the registries is a separate step, as
//! teams do it beside MirrorMaker 2: cutover copies every source subject/version to the target
//! registry (same version numbers) after the drain, before the verdict — the records keep
//! their source ids, which is what the checker's schema classes are about.

use std::path::Path;
use std::sync::Arc;

use registry::compare::{verify, Named, SchemaVerdict};
use registry::{Apicurio, SchemaRegistry, StartOptions};
use serde::{Deserialize, Serialize};
use workload::WorkloadSpec;

use crate::error::ScenarioError;

/// `[registries]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistriesSpec {
    /// Source registries (the seed's case: 2).
    #[serde(default = "two")]
    pub sources: u32,
    /// Apicurio Registry version.
    #[serde(default = "default_version")]
    pub apicurio_version: String,
}

fn two() -> u32 {
    2
}

fn default_version() -> String {
    registry::DEFAULT_APICURIO_VERSION.to_string()
}

/// The run's registries.
pub struct ScenarioRegistries {
    pub sources: Vec<Apicurio>,
    pub target: Apicurio,
    topics: Vec<String>,
}

fn err(e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::System(format!("schema registries: {e}"))
}

impl ScenarioRegistries {
    /// Starts `spec.sources` + 1 registries concurrently.
    pub async fn start(
        spec: &RegistriesSpec,
        topics: Vec<String>,
        log_dir: &Path,
    ) -> Result<ScenarioRegistries, ScenarioError> {
        let mut tasks = Vec::new();
        let names: Vec<String> = (0..spec.sources)
            .map(|i| format!("source-{i}"))
            .chain(["target".to_string()])
            .collect();
        for name in names {
            let mut options = StartOptions::new(name).log_dir(log_dir);
            options.version = spec.apicurio_version.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                Apicurio::start(&options)
            }));
        }
        let mut started = Vec::new();
        for t in tasks {
            started.push(t.await.map_err(err)?.map_err(err)?);
        }
        let target = started.pop().ok_or_else(|| err("no target registry"))?;
        Ok(ScenarioRegistries {
            sources: started,
            target,
            topics,
        })
    }

    /// The workload with the source registries' URLs in its `[schema]`.
    pub fn workload(&self, w: &WorkloadSpec) -> WorkloadSpec {
        let mut w = w.clone();
        if let Some(schema) = &mut w.schema {
            schema.registries = self.sources.iter().map(Apicurio::ccompat_url).collect();
        }
        w
    }

    fn source_regex(&self, i: usize) -> String {
        let names: Vec<String> = self
            .topics
            .iter()
            .enumerate()
            .filter(|(t, _)| t % self.sources.len() == i)
            .map(|(_, name)| regex::escape(name))
            .collect();
        if names.is_empty() {
            "$^".into()
        } else {
            names.join("|")
        }
    }

    /// The `[schemas]` section of the built-in replicator's config.
    pub fn replicator_toml(&self) -> String {
        let mut out = format!("\n[schemas]\ntarget = \"{}\"\n", self.target.ccompat_url());
        for (i, s) in self.sources.iter().enumerate() {
            out.push_str(&format!(
                "[[schemas.source]]\ntopics = {}\nurl = \"{}\"\n",
                toml::Value::String(self.source_regex(i)),
                s.ccompat_url()
            ));
        }
        out
    }

    fn clients(
        &self,
    ) -> Result<(Vec<registry::HttpRegistry>, registry::HttpRegistry), ScenarioError> {
        let sources = self
            .sources
            .iter()
            .map(|s| s.client().map_err(err))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((sources, self.target.client().map_err(err)?))
    }

    /// The checker's registry-aware options.
    pub fn check(&self) -> Result<Arc<verify::schemas::SchemaCheck>, ScenarioError> {
        let (sources, target) = self.clients()?;
        let mut list: Vec<(regex::Regex, Arc<dyn SchemaRegistry>)> = Vec::new();
        for (i, c) in sources.into_iter().enumerate() {
            let re = regex::Regex::new(&format!("^(?:{})$", self.source_regex(i))).map_err(err)?;
            list.push((re, Arc::new(c)));
        }
        Ok(Arc::new(verify::schemas::SchemaCheck::new(
            list,
            Arc::new(target),
        )))
    }

    /// The registry merge done beside a system that does not copy schemas: every source
    /// subject/version into the target registry (the replicator's copy logic).
    pub fn merge(&self) -> Result<(), ScenarioError> {
        let (sources, target) = self.clients()?;
        // The merge copies every subject; no record is translated, so no topic matches.
        let none = regex::Regex::new("$^").map_err(err)?;
        let mut list: Vec<(regex::Regex, Box<dyn SchemaRegistry>)> = Vec::new();
        for c in sources {
            list.push((none.clone(), Box::new(c)));
        }
        let schemas = replicator::schemas::Schemas::new(list, Box::new(target));
        schemas.setup().map_err(err)?;
        Ok(())
    }

    /// `cutover verify-schemas` over the run's registries.
    pub fn verify(&self) -> Result<SchemaVerdict, ScenarioError> {
        let (sources, target) = self.clients()?;
        let named: Vec<Named<'_>> = sources
            .iter()
            .enumerate()
            .map(|(i, c)| Named {
                name: format!("source-{i}"),
                registry: c as &dyn SchemaRegistry,
            })
            .collect();
        verify(
            &named,
            &Named {
                name: "target".into(),
                registry: &target,
            },
        )
        .map_err(err)
    }
}
