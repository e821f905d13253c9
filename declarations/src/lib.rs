//! # declarations
//!
//! Reads the resources teams already declare for their Kafka clusters, so that cutover does not
//! ask them to list topics and groups again:
//!
//! - [ns4kafka](https://github.com/michelin/ns4kafka) resources (`apiVersion: v1`, applied with
//!   `kafkactl`): `Namespace`, `Topic`, `Connector`, `Schema`, `AccessControlEntry`,
//!   `KafkaStream`; a document without `metadata.namespace` takes the default namespace given
//!   (as `kafkactl -n` does);
//! - [Strimzi](https://strimzi.io/docs/operators/latest/configuring.html) custom resources
//!   `KafkaTopic` and `KafkaUser` (`kafka.strimzi.io/v1` and `v1beta2`).
//!
//! Files or directories (`*.yml`, `*.yaml`, searched recursively, in name order), each file a
//! stream of `---` separated documents. Every resource keeps its file and the line of its
//! document and of every field ([`model::At`]); anything malformed is a [`DeclarationsError`]
//! located the workspace's way (`file:line: field `f`: expected …, found …`, then the line).
//! [`ownership`] holds ns4kafka's ownership rules; [`plan`] derives who writes and who reads
//! each topic and the order in which namespaces move (`cutover plan`).
//!
//! Must not: talk to a cluster, or depend on Kafka or any cutover crate but `located`.

pub mod error;
pub mod export;
pub mod model;
pub mod ownership;
pub mod plan;
mod read;
pub mod scope;
pub mod yaml;

use std::path::{Path, PathBuf};

use located::Located;
use serde::Serialize;

pub use error::DeclarationsError;
pub use model::*;

/// Everything declared in the files read, in file and document order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Declarations {
    pub namespaces: Vec<Namespace>,
    pub topics: Vec<Topic>,
    pub connectors: Vec<Connector>,
    pub schemas: Vec<Schema>,
    pub acls: Vec<AccessControlEntry>,
    pub streams: Vec<KafkaStream>,
    pub strimzi_topics: Vec<KafkaTopic>,
    pub strimzi_users: Vec<KafkaUser>,
    /// Documents of kinds recognised but not read.
    pub skipped: Vec<Skipped>,
    /// The files read.
    pub files: Vec<String>,
}

impl Declarations {
    /// The declared namespace `name`.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// Every namespace named anywhere (declared, owning a resource, granting or granted an
    /// ACL, except the public `*`), sorted.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .chain(self.topics.iter().map(|t| t.namespace.clone()))
            .chain(self.connectors.iter().map(|c| c.namespace.clone()))
            .chain(self.schemas.iter().map(|s| s.namespace.clone()))
            .chain(self.streams.iter().map(|s| s.namespace.clone()))
            .chain(self.acls.iter().map(|a| a.namespace.clone()))
            .chain(
                self.acls
                    .iter()
                    .filter(|a| !a.is_public())
                    .map(|a| a.granted_to.clone()),
            )
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// What ns4kafka would refuse (see [`ownership::warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        ownership::warnings(self)
    }

    /// Reads YAML `text` as if it were the file `origin` (schema files relative to `base`).
    pub fn read_str(
        &mut self,
        text: &str,
        origin: &str,
        base: &Path,
        default_namespace: Option<&str>,
    ) -> Result<(), DeclarationsError> {
        let docs = yaml::documents(text).map_err(|e| {
            let mut l = Located::new(origin, "", format!("expected valid YAML: {}", e.message))
                .at_line(text, e.line);
            l.column = e.column;
            l
        })?;
        for doc in &docs {
            read::document(origin, text, doc, default_namespace, base, self)?;
        }
        self.files.push(origin.to_string());
        Ok(())
    }

    /// Reads one file.
    pub fn read_file(
        &mut self,
        path: &Path,
        default_namespace: Option<&str>,
    ) -> Result<(), DeclarationsError> {
        let text = located::read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        self.read_str(&text, &path.display().to_string(), base, default_namespace)
    }
}

/// Reads files and directories (`*.yml`, `*.yaml` under them, recursively, in name order);
/// documents without `metadata.namespace` take `default_namespace`.
pub fn load(
    paths: &[PathBuf],
    default_namespace: Option<&str>,
) -> Result<Declarations, DeclarationsError> {
    let mut decls = Declarations::default();
    for path in paths {
        if path.is_dir() {
            let mut files = vec![];
            yaml_files(path, &mut files)?;
            if files.is_empty() {
                return Err(DeclarationsError::NoFiles {
                    path: path.display().to_string(),
                });
            }
            for file in files {
                decls.read_file(&file, default_namespace)?;
            }
        } else {
            decls.read_file(path, default_namespace)?;
        }
    }
    Ok(decls)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DeclarationsError> {
    let list = |e| DeclarationsError::List {
        path: dir.display().to_string(),
        source: e,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(list)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(list)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml") | Some("yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}
