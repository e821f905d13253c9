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

/// The report's registry section from a registry verdict (the record-level classes are added
/// from the checker's verdict by [`reports::RegistriesSection::note_records`]).
pub fn section_of(v: &SchemaVerdict) -> reports::RegistriesSection {
    let n = |kinds: &[&str]| -> u64 {
        kinds
            .iter()
            .map(|k| v.counts.get(k).copied().unwrap_or(0) as u64)
            .sum()
    };
    reports::RegistriesSection {
        sources: v.sources.clone(),
        target: v.target.clone(),
        outcome: v.outcome.to_string(),
        subjects: v.subjects as u64,
        versions: v.versions as u64,
        matched: v.matched as u64,
        missing: n(&["missing", "version-mismatch"]),
        conflicts: n(&["conflict"]),
        content_mismatches: n(&["content-mismatch"]),
        compatibility_diffs: n(&["compatibility-mismatch"]),
        references: v.references as u64,
        references_unresolved: n(&["reference-unresolved"]),
        counts: v
            .counts
            .iter()
            .map(|(k, c)| (k.to_string(), *c as u64))
            .collect(),
        findings: v
            .findings
            .iter()
            .map(|f| reports::RegistryFinding {
                kind: f.kind.as_str().to_string(),
                subject: f.subject.clone(),
                version: f.version,
                registries: f.registries.clone(),
                detail: f.detail.clone(),
            })
            .collect(),
        target_only_subjects: v.target_only_subjects.clone(),
        records: Vec::new(),
        records_checked: None,
    }
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

/// A registry cutover did not start (`[registries]` of a rehearsal): its Confluent-compatible
/// URL and optional basic auth. The password is a secret: never in logs, reports or `Debug`
/// (`secrets::REDACTED`); `password_env` names an environment variable holding it instead.
#[derive(Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalRegistry {
    /// A name for findings (`onprem-a`); default `source-N` / `target`.
    #[serde(default)]
    pub name: Option<String>,
    /// The registry's Confluent-compatible base URL (for Apicurio `…/apis/ccompat/v7`).
    pub url: String,
    /// Basic auth user; default none.
    #[serde(default)]
    pub user: Option<String>,
    /// Basic auth password (a secret: redacted everywhere); default none.
    #[serde(default)]
    pub password: Option<String>,
    /// The environment variable holding the password, instead of `password`; default none.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Source registries: the source topics whose records use it (a regex over whole names);
    /// the window check then compares their records by schema content.
    #[serde(default)]
    pub topics: Option<String>,
}

impl std::fmt::Debug for ExternalRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalRegistry")
            .field("name", &self.name)
            .field("url", &reports::redact::redact_urls(&self.url))
            .field("user", &self.user)
            .field(
                "password",
                &self.password.as_ref().map(|_| secrets::REDACTED),
            )
            .field("password_env", &self.password_env)
            .field("topics", &self.topics)
            .finish()
    }
}

/// `[registries]` of a rehearsal: existing registries to verify (a merge of the sources into
/// the target) and to judge framed records by.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalRegistries {
    /// The source registries (`[[registries.source]]`), merged into the target.
    #[serde(rename = "source")]
    pub sources: Vec<ExternalRegistry>,
    /// The target registry (`[registries.target]`).
    pub target: ExternalRegistry,
}

impl ExternalRegistry {
    /// The client; `Err((field, reason))` for a bad URL, an unset `password_env` or a bad
    /// topic regex (`field` relative to this registry's table).
    pub fn client(&self) -> Result<registry::HttpRegistry, (String, String)> {
        let mut client = registry::HttpRegistry::new(&self.url)
            .map_err(|e| ("url".to_string(), e.to_string()))?;
        let password = match (&self.password, &self.password_env) {
            (Some(_), Some(_)) => {
                return Err((
                    "password_env".into(),
                    "give `password` or `password_env`, not both".into(),
                ))
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                (
                    "password_env".to_string(),
                    format!("the environment variable `{var}` is not set"),
                )
            })?),
            (None, None) => None,
        };
        match (&self.user, password) {
            (Some(user), password) => {
                client = client.with_basic_auth(user, password.as_deref().unwrap_or(""))
            }
            (None, Some(_)) => {
                return Err(("user".into(), "a password needs a `user`".into()));
            }
            (None, None) => {}
        }
        if let Some(t) = &self.topics {
            regex::Regex::new(&format!("^(?:{t})$"))
                .map_err(|e| ("topics".to_string(), format!("not a valid regex: {e}")))?;
        }
        Ok(client)
    }
}

/// External registries connected: named clients, and the source topic regexes.
pub struct ConnectedRegistries {
    pub sources: Vec<(String, Option<regex::Regex>, registry::HttpRegistry)>,
    pub target: (String, registry::HttpRegistry),
}

impl ExternalRegistries {
    /// Clients for every registry; `Err((field, reason))` names `registries.source[i].…` or
    /// `registries.target.…`.
    pub fn connect(&self) -> Result<ConnectedRegistries, (String, String)> {
        let mut sources = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let client = s
                .client()
                .map_err(|(f, r)| (format!("registries.source[{i}].{f}"), r))?;
            let topics = s
                .topics
                .as_ref()
                .map(|t| regex::Regex::new(&format!("^(?:{t})$")))
                .transpose()
                .map_err(|e| (format!("registries.source[{i}].topics"), e.to_string()))?;
            let name = s.name.clone().unwrap_or_else(|| format!("source-{i}"));
            sources.push((name, topics, client));
        }
        let target = self
            .target
            .client()
            .map_err(|(f, r)| (format!("registries.target.{f}"), r))?;
        let name = self.target.name.clone().unwrap_or_else(|| "target".into());
        if self.sources.is_empty() {
            return Err((
                "registries.source".into(),
                "expected at least one [[registries.source]] with `url`".into(),
            ));
        }
        Ok(ConnectedRegistries {
            sources,
            target: (name, target),
        })
    }
}

impl ConnectedRegistries {
    /// `cutover verify-schemas` over these registries (read-only, blocking).
    pub fn verify(&self) -> Result<SchemaVerdict, registry::RegistryError> {
        let named: Vec<Named<'_>> = self
            .sources
            .iter()
            .map(|(name, _, c)| Named {
                name: name.clone(),
                registry: c as &dyn SchemaRegistry,
            })
            .collect();
        verify(
            &named,
            &Named {
                name: self.target.0.clone(),
                registry: &self.target.1,
            },
        )
    }

    /// Resolvers for a source topic's records and its copy's: `None` when no source registry
    /// claims the topic.
    pub fn resolvers_for(
        &self,
        topic: &str,
    ) -> Option<(registry::judge::Resolver, registry::judge::Resolver)> {
        let (_, _, client) = self
            .sources
            .iter()
            .find(|(_, re, _)| re.as_ref().is_some_and(|re| re.is_match(topic)))?;
        Some((
            registry::judge::Resolver::new(Arc::new(client.clone())),
            registry::judge::Resolver::new(Arc::new(self.target.1.clone())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExternalRegistries {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn external_registries_keep_their_password_secret_and_name_bad_fields() {
        let reg = parse(
            r#"
            target = { url = "https://cloud:8081/apis/ccompat/v7", user = "k", password = "hunter2-q" }
            [[source]]
            url = "http://u:pw-in-url-9@onprem:8081"
            topics = "orders\\..*"
            "#,
        );
        let shown = format!("{reg:?}");
        assert!(
            !shown.contains("hunter2-q") && !shown.contains("pw-in-url-9"),
            "{shown}"
        );
        let connected = reg.connect().expect("connects");
        assert_eq!(connected.target.0, "target");
        assert_eq!(connected.sources[0].0, "source-0");
        assert!(connected.resolvers_for("orders.eu").is_some());
        assert!(connected.resolvers_for("payments").is_none());

        let both = parse(
            r#"
            target = { url = "http://t", password = "x", password_env = "Y" }
            [[source]]
            url = "http://s"
            "#,
        );
        assert_eq!(
            both.connect().err().unwrap().0,
            "registries.target.password_env"
        );
        let no_user = parse(
            "target = { url = \"http://t\", password = \"x\" }\n[[source]]\nurl = \"http://s\"\n",
        );
        assert_eq!(no_user.connect().err().unwrap().0, "registries.target.user");
        let bad_regex = parse(
            "target = { url = \"http://t\" }\n[[source]]\nurl = \"http://s\"\ntopics = \"(\"\n",
        );
        assert_eq!(
            bad_regex.connect().err().unwrap().0,
            "registries.source[0].topics"
        );
        let none = parse("target = { url = \"http://t\" }\nsource = []\n");
        assert_eq!(none.connect().err().unwrap().0, "registries.source");
    }
}
