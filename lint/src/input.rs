//! What a file is, by extension and content, parsed with the line of every key.
//!
//! * `*.toml`, or text whose first table header is `[replication]`: the built-in replicator,
//!   loaded by `replicator::config` itself (its hard errors — unknown keys, contradictions —
//!   stop the lint with file and line; the rules add the advisory checks on top).
//! * `*.json`: a Kafka Connect connector, `{"name": …, "config": {…}}` or the flat config
//!   object; it must be Confluent Replicator.
//! * anything else: Java properties; Confluent Replicator when `connector.class` names it (or
//!   `src.kafka.*` keys are there), MirrorMaker 2 when `clusters` or an `A->B.` key is there.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use replicator::config::ReplicatorConfig;

use crate::error::LintError;
use crate::properties::{Entry, Properties};
use crate::version::{self, KafkaVersion};
use crate::Tool;

/// The class name Confluent Replicator's connector configs carry.
pub const REPLICATOR_CONNECTOR: &str = "io.confluent.connect.replicator.ReplicatorSourceConnector";

/// A parsed configuration file.
#[derive(Debug)]
pub struct ConfigFile {
    /// The path as given on the command line.
    pub file: String,
    pub content: Content,
    /// The version a `# kafka.version = V` comment declares, with its line.
    pub kafka_version: Option<(KafkaVersion, usize)>,
}

/// The parsed content, per tool.
#[derive(Debug)]
pub enum Content {
    Builtin {
        config: Box<ReplicatorConfig>,
        /// The TOML text, for locating keys.
        text: String,
    },
    MirrorMaker2(Properties),
    ConfluentReplicator(Properties),
}

impl ConfigFile {
    pub fn tool(&self) -> Tool {
        match self.content {
            Content::Builtin { .. } => Tool::Builtin,
            Content::MirrorMaker2(_) => Tool::MirrorMaker2,
            Content::ConfluentReplicator(_) => Tool::ConfluentReplicator,
        }
    }
}

/// Reads and recognises one file.
pub fn load(path: &Path) -> Result<ConfigFile, LintError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LintError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file, path.extension().and_then(|e| e.to_str()))
}

/// Recognises and parses `text`; `file` names it in errors, `extension` (without the dot) helps.
pub fn parse(text: &str, file: &str, extension: Option<&str>) -> Result<ConfigFile, LintError> {
    let extension = extension.map(str::to_ascii_lowercase);
    let content = match extension.as_deref() {
        Some("toml") => builtin(text, file)?,
        Some("json") => connector_json(text, file)?,
        _ if first_table_header(text).is_some() => builtin(text, file)?,
        _ => properties(text, file)?,
    };
    let kafka_version = version::declared(text).map_err(|(line, bad)| LintError::Parse {
        file: file.to_string(),
        line,
        expected: format!("a Kafka version after `kafka.version`: {bad}"),
    })?;
    Ok(ConfigFile {
        file: file.to_string(),
        content,
        kafka_version,
    })
}

fn builtin(text: &str, file: &str) -> Result<Content, LintError> {
    let config = ReplicatorConfig::from_toml(text, file)?;
    Ok(Content::Builtin {
        config: Box::new(config),
        text: text.to_string(),
    })
}

/// The first `[table]` header, when it comes before any `key = value` (a TOML file without the
/// extension); properties files never start with one.
fn first_table_header(text: &str) -> Option<&str> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))?;
    (first.starts_with('[') && first.ends_with(']')).then_some(first)
}

fn properties(text: &str, file: &str) -> Result<Content, LintError> {
    let props = Properties::parse(text, file)?;
    if is_confluent_replicator(&props) {
        return Ok(Content::ConfluentReplicator(props));
    }
    if props.get("clusters").is_some() || props.entries().iter().any(|e| e.key.contains("->")) {
        return Ok(Content::MirrorMaker2(props));
    }
    Err(LintError::Unrecognised {
        file: file.to_string(),
        reason: format!(
            "not a configuration cutover lint knows: expected MirrorMaker 2 properties \
             (`clusters = A, B` and `A->B.enabled = true`), Confluent Replicator \
             (`connector.class = {REPLICATOR_CONNECTOR}`) or a built-in replicator TOML \
             (`[replication]`)"
        ),
    })
}

fn is_confluent_replicator(props: &Properties) -> bool {
    props
        .value("connector.class")
        .is_some_and(|c| c.ends_with("ReplicatorSourceConnector"))
        || (props.get("connector.class").is_none()
            && props
                .entries()
                .iter()
                .any(|e| e.key.starts_with("src.kafka.")))
}

/// A connector config as the Connect REST API takes it.
fn connector_json(text: &str, file: &str) -> Result<Content, LintError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| LintError::Parse {
        file: file.to_string(),
        line: e.line(),
        expected: format!("JSON ({e})"),
    })?;
    let object = match &value {
        serde_json::Value::Object(o) => match o.get("config") {
            Some(serde_json::Value::Object(config)) => config,
            Some(_) => {
                return Err(LintError::Parse {
                    file: file.to_string(),
                    line: json_key_lines(text).get("config").copied().unwrap_or(1),
                    expected: "`config` to be an object of connector settings".into(),
                })
            }
            None => o,
        },
        _ => {
            return Err(LintError::Parse {
                file: file.to_string(),
                line: 1,
                expected: "a JSON object: `{\"name\": …, \"config\": {…}}` or the config \
                           object itself"
                    .into(),
            })
        }
    };
    let lines = json_key_lines(text);
    let mut entries = Vec::new();
    for (key, v) in object {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(LintError::Parse {
                    file: file.to_string(),
                    line: lines.get(key.as_str()).copied().unwrap_or(1),
                    expected: format!(
                        "`{key}` to be a string, number or boolean (Connect configs are flat)"
                    ),
                })
            }
        };
        entries.push(Entry {
            line: lines.get(key.as_str()).copied().unwrap_or(1),
            key: key.clone(),
            value,
        });
    }
    entries.sort_by_key(|e| e.line);
    let props = Properties::from_entries(entries);
    if is_confluent_replicator(&props) {
        Ok(Content::ConfluentReplicator(props))
    } else {
        Err(LintError::Unrecognised {
            file: file.to_string(),
            reason: format!(
                "a connector config, but not Confluent Replicator: expected \
                 `\"connector.class\": \"{REPLICATOR_CONNECTOR}\"` (MirrorMaker 2 is linted \
                 from its mm2.properties)"
            ),
        })
    }
}

static JSON_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""((?:[^"\\]|\\.)*)"\s*:"#).expect("static regex"));

/// The line of every object key in JSON text (the last occurrence wins: connector settings come
/// after `name`).
fn json_key_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    for c in JSON_KEY.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let line = text[..m.start()].matches('\n').count() + 1;
        lines.insert(c[1].to_string(), line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_connector_keys_get_their_lines() {
        let text = "{\n  \"name\": \"rep\",\n  \"config\": {\n    \"connector.class\": \"io.confluent.connect.replicator.ReplicatorSourceConnector\",\n    \"tasks.max\": 4\n  }\n}\n";
        let c = parse(text, "r.json", Some("json")).expect("parses");
        let Content::ConfluentReplicator(p) = c.content else {
            panic!("not replicator")
        };
        assert_eq!(
            p.get("tasks.max").map(|e| (e.value.as_str(), e.line)),
            Some(("4", 5))
        );
        assert_eq!(p.get("connector.class").map(|e| e.line), Some(4));
    }

    #[test]
    fn broken_json_names_the_line() {
        let e = parse("{\n  \"a\": 1,\n  oops\n}\n", "r.json", Some("json")).unwrap_err();
        assert!(e.to_string().starts_with("r.json:3: expected JSON"), "{e}");
    }

    #[test]
    fn properties_without_a_known_shape_are_refused() {
        let e = parse(
            "bootstrap.servers=x:9092\n",
            "c.properties",
            Some("properties"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("expected MirrorMaker 2 properties"),
            "{e}"
        );
    }
}
