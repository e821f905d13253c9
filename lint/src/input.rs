//! What a file is, by extension and content, parsed with the line of every key.
//!
//! * `*.toml`, or text whose first table header is `[replication]`: the built-in replicator,
//!   loaded by `replicator::config` itself (its hard errors — unknown keys, contradictions —
//!   stop the lint with file and line; the rules add the advisory checks on top).
//! * `*.json`: Kafka Connect connectors in the REST API's shapes ([`crate::rest`]): Confluent
//!   Replicator when `connector.class` names it, any other class a [`Connector`]; a
//!   `GET /connectors?expand=info` document gives one [`ConfigFile`] per connector, named
//!   `path#connector-name`.
//! * anything else: Java properties; Confluent Replicator when `connector.class` names it (or
//!   `src.kafka.*` keys are there), MirrorMaker 2 when `clusters` or an `A->B.` key is there, a
//!   Connect worker in distributed mode when `group.id` and one of `config.storage.topic`,
//!   `offset.storage.topic`, `status.storage.topic` are there (Kafka's `DistributedConfig`), any
//!   other connector when `connector.class` is there.

use std::path::Path;

use replicator::config::ReplicatorConfig;

use crate::error::LintError;
use crate::properties::Properties;
use crate::version::{self, KafkaVersion};
use crate::Tool;

/// The class name Confluent Replicator's connector configs carry.
pub const REPLICATOR_CONNECTOR: &str = "io.confluent.connect.replicator.ReplicatorSourceConnector";

/// MirrorMaker 2's connectors as deployed on a Connect cluster (`connect/mirror` in Kafka).
pub const MIRROR_SOURCE: &str = "org.apache.kafka.connect.mirror.MirrorSourceConnector";
pub const MIRROR_CHECKPOINT: &str = "org.apache.kafka.connect.mirror.MirrorCheckpointConnector";
pub const MIRROR_HEARTBEAT: &str = "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector";

/// The keys that make properties a distributed worker's (`DistributedConfig`), besides
/// `group.id`.
const WORKER_STORAGE_TOPICS: [&str; 3] = [
    "config.storage.topic",
    "offset.storage.topic",
    "status.storage.topic",
];

/// A connector that is not Confluent Replicator.
#[derive(Debug)]
pub struct Connector {
    /// The connector's name (REST document or `name` key), when known.
    pub name: Option<String>,
    /// `source` or `sink` as the REST API reported it, when the document had `type`.
    pub kind: Option<String>,
    pub config: Properties,
}

impl Connector {
    /// `connector.class`, trimmed.
    pub fn class(&self) -> &str {
        self.config.value("connector.class").unwrap_or("")
    }

    /// The class without its package (`MirrorSourceConnector`); Connect also accepts the short
    /// name or an alias without `Connector`.
    pub fn short_class(&self) -> &str {
        let class = self.class();
        class.rsplit('.').next().unwrap_or(class)
    }

    /// True for MirrorMaker 2's `MirrorSourceConnector` (full or short name).
    pub fn is_mirror_source(&self) -> bool {
        matches!(self.short_class(), "MirrorSourceConnector" | "MirrorSource")
    }

    /// Whether it writes with a Connect source producer: the REST `type`, else the class
    /// (MirrorMaker 2's three are source connectors; `…SinkConnector` is not); `None` unknown.
    pub fn is_source(&self) -> Option<bool> {
        match self.kind.as_deref() {
            Some("source") => return Some(true),
            Some("sink") => return Some(false),
            _ => {}
        }
        let short = self.short_class();
        if short.starts_with("Mirror") {
            Some(true)
        } else if short.ends_with("SinkConnector") {
            Some(false)
        } else if short.ends_with("SourceConnector") {
            Some(true)
        } else {
            None
        }
    }
}
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
    ConnectWorker(Properties),
    Connector(Connector),
}

impl ConfigFile {
    pub fn tool(&self) -> Tool {
        match self.content {
            Content::Builtin { .. } => Tool::Builtin,
            Content::MirrorMaker2(_) => Tool::MirrorMaker2,
            Content::ConfluentReplicator(_) => Tool::ConfluentReplicator,
            Content::ConnectWorker(_) => Tool::ConnectWorker,
            Content::Connector(_) => Tool::Connector,
        }
    }
}

/// Reads and recognises one file: one config, or one per connector of a REST listing.
pub fn load(path: &Path) -> Result<Vec<ConfigFile>, LintError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LintError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file, path.extension().and_then(|e| e.to_str()))
}

/// Recognises and parses `text`; `file` names it in errors, `extension` (without the dot) helps.
pub fn parse(
    text: &str,
    file: &str,
    extension: Option<&str>,
) -> Result<Vec<ConfigFile>, LintError> {
    let extension = extension.map(str::to_ascii_lowercase);
    let contents = match extension.as_deref() {
        Some("toml") => vec![(file.to_string(), builtin(text, file)?)],
        Some("json") => connector_json(text, file)?,
        _ if first_table_header(text).is_some() => vec![(file.to_string(), builtin(text, file)?)],
        _ => vec![(file.to_string(), properties(text, file)?)],
    };
    let kafka_version = version::declared(text).map_err(|(line, bad)| LintError::Parse {
        file: file.to_string(),
        line,
        expected: format!("a Kafka version after `kafka.version`: {bad}"),
    })?;
    Ok(contents
        .into_iter()
        .map(|(file, content)| ConfigFile {
            file,
            content,
            kafka_version,
        })
        .collect())
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
    if props.get("group.id").is_some()
        && WORKER_STORAGE_TOPICS.iter().any(|k| props.get(k).is_some())
    {
        return Ok(Content::ConnectWorker(props));
    }
    if props.get("connector.class").is_some() {
        return Ok(Content::Connector(Connector {
            name: props.value("name").map(String::from),
            kind: None,
            config: props,
        }));
    }
    Err(LintError::Unrecognised {
        file: file.to_string(),
        reason: format!(
            "not a configuration cutover lint knows: expected MirrorMaker 2 properties \
             (`clusters = A, B` and `A->B.enabled = true`), a Kafka Connect worker in \
             distributed mode (`group.id` and `config.storage.topic`, `offset.storage.topic`, \
             `status.storage.topic`), a connector (`connector.class = …`; Confluent Replicator: \
             `{REPLICATOR_CONNECTOR}`) or a built-in replicator TOML (`[replication]`)"
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

/// Connectors as the Connect REST API shows them; each report is named `file`, or
/// `file#name` for a connector of a `?expand=info` listing.
fn connector_json(text: &str, file: &str) -> Result<Vec<(String, Content)>, LintError> {
    let mut out = Vec::new();
    for c in crate::rest::connectors(text, file)? {
        let name = match (&c.name, c.listed) {
            (Some(name), true) => format!("{file}#{name}"),
            _ => file.to_string(),
        };
        if is_confluent_replicator(&c.config) {
            out.push((name, Content::ConfluentReplicator(c.config)));
        } else if c.config.get("connector.class").is_some() {
            out.push((
                name,
                Content::Connector(Connector {
                    name: c.name,
                    kind: c.kind,
                    config: c.config,
                }),
            ));
        } else {
            return Err(LintError::Unrecognised {
                file: name,
                reason: "a JSON object without `connector.class`: expected a connector as the \
                         Connect REST API returns it (`GET /connectors/{name}`, `GET \
                         /connectors/{name}/config`, `GET /connectors?expand=info`) or takes it \
                         (`{\"name\": …, \"config\": {…}}`)"
                    .into(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_connector_keys_get_their_lines() {
        let text = "{\n  \"name\": \"rep\",\n  \"config\": {\n    \"connector.class\": \"io.confluent.connect.replicator.ReplicatorSourceConnector\",\n    \"tasks.max\": 4\n  }\n}\n";
        let mut c = parse(text, "r.json", Some("json")).expect("parses");
        let Some(Content::ConfluentReplicator(p)) = c.pop().map(|c| c.content) else {
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
    fn workers_and_connectors_are_told_apart_from_client_properties() {
        let worker = "bootstrap.servers=x:9092\ngroup.id=g\noffset.storage.topic=o\n";
        let c = parse(worker, "w.properties", Some("properties")).expect("worker");
        assert_eq!(c[0].tool(), Tool::ConnectWorker);
        // group.id alone is any consumer's: not a worker.
        let e = parse("group.id=g\n", "c.properties", None).unwrap_err();
        assert!(e.to_string().contains("a Kafka Connect worker"), "{e}");
        let connector = "name=m\nconnector.class=MirrorSourceConnector\n";
        let c = parse(connector, "m.properties", None).expect("connector");
        let Content::Connector(m) = &c[0].content else {
            panic!("not a connector")
        };
        assert!(m.is_mirror_source() && m.is_source() == Some(true));
        assert_eq!(m.name.as_deref(), Some("m"));
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
