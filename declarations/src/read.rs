//! One YAML document → one typed resource, every field's line noted, every malformed field a
//! located error (`file:line: field `f`: expected …, found …`).
//!
//! Strict where a typo would silently change what cutover derives: unknown keys under an
//! ns4kafka `spec`, under a Strimzi `spec` and in an ACL rule are errors; enum values are
//! case-sensitive as in ns4kafka's Java enums (`PREFIXED`, not `prefixed`) and Strimzi's CRDs
//! (`prefix`, `Read`). Server-side fields (`status`, `metadata.creationTimestamp`,
//! `metadata.generation`, …) are accepted and ignored.

use std::collections::BTreeMap;
use std::path::Path;

use located::Located;

use crate::model::*;
use crate::yaml::{Node, Value};
use crate::Declarations;

/// ns4kafka's `RESOURCE_PATTERN` (`ResourceBasedSecurityRule`): names are `[a-zA-Z0-9_.-]+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// ns4kafka kinds read (apiVersion `v1`).
pub const NS4KAFKA_KINDS: [&str; 6] = [
    "Namespace",
    "Topic",
    "Connector",
    "Schema",
    "AccessControlEntry",
    "KafkaStream",
];

/// ns4kafka kinds recognised and skipped (nothing of them matters to a migration's order or
/// presence checks).
const NS4KAFKA_SKIPPED: [&str; 7] = [
    "RoleBinding",
    "ResourceQuota",
    "ConnectCluster",
    "ConsumerGroupResetOffsets",
    "DeleteRecordsResponse",
    "ChangeConnectorState",
    "KafkaUserResetPassword",
];

/// Strimzi API versions read.
pub const STRIMZI_VERSIONS: [&str; 2] = ["kafka.strimzi.io/v1", "kafka.strimzi.io/v1beta2"];

/// The reading of one file.
pub(crate) struct Doc<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub at: At,
}

impl<'a> Doc<'a> {
    pub fn new(file: &'a str, text: &'a str, line: usize) -> Doc<'a> {
        Doc {
            file,
            text,
            at: At {
                file: file.to_string(),
                line,
                fields: BTreeMap::new(),
            },
        }
    }

    /// An error about `field` at `node`'s line and column.
    pub fn error(&self, node: &Node, field: &str, reason: impl Into<String>) -> Located {
        let mut located = Located::new(self.file, field, reason).at_line(self.text, node.line);
        located.column = node.column;
        located
    }

    /// An error about `field` at a line, the caret under its first non-blank (a field that is
    /// missing from the mapping starting there).
    pub fn error_in(&self, parent: &Node, field: &str, reason: impl Into<String>) -> Located {
        Located::new(self.file, field, reason).at_line(self.text, parent.line)
    }

    fn note(&mut self, path: &str, node: &Node) {
        self.at.fields.insert(path.to_string(), node.line);
    }

    fn mapping<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [(Node, Node)], Located> {
        match &node.value {
            Value::Map(pairs) => Ok(pairs),
            _ => Err(self.error(
                node,
                path,
                format!("expected a mapping, found {}", node.describe()),
            )),
        }
    }

    /// Unknown keys of a mapping are errors naming the keys expected.
    fn known_keys(&self, node: &Node, path: &str, known: &[&str]) -> Result<(), Located> {
        for (key, _) in self.mapping(node, path)? {
            let name = key.scalar().unwrap_or("");
            if !known.contains(&name) {
                return Err(self.error(
                    key,
                    &join(path, name),
                    format!("expected one of {}, found `{name}`", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// The node of `key` under `parent`, if written and not null.
    fn optional<'n>(&mut self, parent: &'n Node, path: &str, key: &str) -> Option<&'n Node> {
        let node = parent.get(key).filter(|n| !n.is_null())?;
        self.note(&join(path, key), node);
        Some(node)
    }

    fn required<'n>(
        &mut self,
        parent: &'n Node,
        path: &str,
        key: &str,
        expected: &str,
    ) -> Result<&'n Node, Located> {
        match self.optional(parent, path, key) {
            Some(node) => Ok(node),
            None => Err(match parent.get(key) {
                Some(null) => self.error(
                    null,
                    &join(path, key),
                    format!("expected {expected}, found nothing"),
                ),
                None => self.error_in(
                    parent,
                    &join(path, key),
                    format!("expected {expected}, found nothing"),
                ),
            }),
        }
    }

    fn text_of(&self, node: &Node, path: &str, expected: &str) -> Result<String, Located> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => Ok(text.clone()),
            _ => Err(self.error(
                node,
                path,
                format!("expected {expected}, found {}", node.describe()),
            )),
        }
    }

    fn string(&mut self, parent: &Node, path: &str, key: &str) -> Result<String, Located> {
        let node = self.required(parent, path, key, "a string")?;
        self.text_of(node, &join(path, key), "a string")
    }

    fn opt_string(
        &mut self,
        parent: &Node,
        path: &str,
        key: &str,
    ) -> Result<Option<String>, Located> {
        match self.optional(parent, path, key) {
            Some(node) => self.text_of(node, &join(path, key), "a string").map(Some),
            None => Ok(None),
        }
    }

    fn count(&self, node: &Node, path: &str) -> Result<u32, Located> {
        let expected = "a whole number from 1";
        match &node.value {
            Value::Scalar { text, plain: true } => match text.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(self.error(node, path, format!("expected {expected}, found `{text}`"))),
            },
            _ => Err(self.error(
                node,
                path,
                format!("expected {expected}, found {}", node.describe()),
            )),
        }
    }

    fn boolean(&mut self, parent: &Node, path: &str, key: &str) -> Result<bool, Located> {
        let Some(node) = self.optional(parent, path, key) else {
            return Ok(false);
        };
        match node.scalar() {
            Some("true") | Some("True") | Some("TRUE") => Ok(true),
            Some("false") | Some("False") | Some("FALSE") => Ok(false),
            _ => Err(self.error(
                node,
                &join(path, key),
                format!("expected true or false, found {}", node.describe()),
            )),
        }
    }

    fn choice<T: Copy>(
        &self,
        node: &Node,
        path: &str,
        options: &[(T, &str)],
    ) -> Result<T, Located> {
        let names: Vec<&str> = options.iter().map(|(_, n)| *n).collect();
        let found = node.scalar().filter(|_| !node.is_null());
        options
            .iter()
            .find(|(_, n)| Some(*n) == found)
            .map(|(v, _)| *v)
            .ok_or_else(|| {
                self.error(
                    node,
                    path,
                    format!(
                        "expected one of {}, found {}",
                        names.join(", "),
                        node.describe()
                    ),
                )
            })
    }

    fn required_choice<T: Copy>(
        &mut self,
        parent: &Node,
        path: &str,
        key: &str,
        options: &[(T, &str)],
    ) -> Result<T, Located> {
        let names: Vec<&str> = options.iter().map(|(_, n)| *n).collect();
        let node = self.required(parent, path, key, &format!("one of {}", names.join(", ")))?;
        self.choice(node, &join(path, key), options)
    }

    /// A mapping of configs: each value a scalar (a number as written) or, as Strimzi allows,
    /// a list of scalars joined with commas.
    fn string_map(&mut self, node: &Node, path: &str) -> Result<BTreeMap<String, String>, Located> {
        let mut out = BTreeMap::new();
        for (key, value) in self.mapping(node, path)? {
            let name = self.text_of(key, path, "a config name")?;
            let field = join(path, &quoted(&name));
            self.note(&field, key);
            let text = match &value.value {
                Value::Seq(items) => items
                    .iter()
                    .map(|i| self.text_of(i, &field, "a string or number"))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                _ => self.text_of(value, &field, "a string or number")?,
            };
            out.insert(name, text);
        }
        Ok(out)
    }

    fn items<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Node], Located> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.error(
                node,
                path,
                format!("expected a list, found {}", node.describe()),
            )),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A key with dots quoted in a field path: `spec.configs."retention.ms"`.
fn quoted(key: &str) -> String {
    if key.contains('.') {
        format!("\"{key}\"")
    } else {
        key.to_string()
    }
}

const RESOURCE_KEYS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
const METADATA_KEYS: [&str; 8] = [
    "name",
    "namespace",
    "cluster",
    "labels",
    "generation",
    "creationTimestamp",
    "updateTimestamp",
    "status",
];

/// Reads one document into `out`; a null document is nothing.
pub(crate) fn document(
    file: &str,
    text: &str,
    node: &Node,
    default_namespace: Option<&str>,
    base: &Path,
    out: &mut Declarations,
) -> Result<(), Located> {
    if node.is_null() {
        return Ok(());
    }
    let mut doc = Doc::new(file, text, node.line);
    doc.mapping(node, "").map_err(|_| {
        doc.error(
            node,
            "",
            format!(
                "expected a resource (a mapping with apiVersion and kind), found {}",
                node.describe()
            ),
        )
    })?;
    let api = doc.string(node, "", "apiVersion")?;
    let kind = doc.string(node, "", "kind")?;
    if api == "v1" {
        if NS4KAFKA_KINDS.contains(&kind.as_str()) {
            return ns4kafka(doc, node, &kind, default_namespace, base, out);
        }
        if NS4KAFKA_SKIPPED.contains(&kind.as_str()) {
            return skip(doc, node, kind, out);
        }
    } else if STRIMZI_VERSIONS.contains(&api.as_str()) {
        match kind.as_str() {
            "KafkaTopic" => return strimzi_topic(doc, node, out),
            "KafkaUser" => return strimzi_user(doc, node, out),
            _ => return skip(doc, node, kind, out),
        }
    } else if api.starts_with("kafka.strimzi.io/") {
        let at = node.get("apiVersion").unwrap_or(node);
        return Err(doc.error(
            at,
            "apiVersion",
            format!("expected {}, found `{api}`", STRIMZI_VERSIONS.join(" or ")),
        ));
    }
    let at = node.get("kind").unwrap_or(node);
    Err(doc.error(
        at,
        "kind",
        format!(
            "expected an ns4kafka resource (apiVersion v1: {}) or a Strimzi KafkaTopic or KafkaUser ({}), found apiVersion `{api}` kind `{kind}`",
            NS4KAFKA_KINDS.join(", "),
            STRIMZI_VERSIONS.join(", ")
        ),
    ))
}

fn skip(
    mut doc: Doc<'_>,
    node: &Node,
    kind: String,
    out: &mut Declarations,
) -> Result<(), Located> {
    let name = match node.get("metadata") {
        Some(m) => doc.opt_string(m, "metadata", "name")?.unwrap_or_default(),
        None => String::new(),
    };
    out.skipped.push(Skipped {
        kind,
        name,
        at: doc.at,
    });
    Ok(())
}

fn ns4kafka(
    mut doc: Doc<'_>,
    node: &Node,
    kind: &str,
    default_namespace: Option<&str>,
    base: &Path,
    out: &mut Declarations,
) -> Result<(), Located> {
    doc.known_keys(node, "", &RESOURCE_KEYS)?;
    let metadata = doc.required(node, "", "metadata", "a mapping with name")?;
    doc.known_keys(metadata, "metadata", &METADATA_KEYS)?;
    let name = doc.string(metadata, "metadata", "name")?;
    if !valid_name(&name) {
        let at = metadata.get("name").unwrap_or(metadata);
        return Err(doc.error(
            at,
            "metadata.name",
            format!("expected a name of letters, digits, `.`, `_` and `-` (ns4kafka's RESOURCE_PATTERN), found `{name}`"),
        ));
    }
    let cluster = doc.opt_string(metadata, "metadata", "cluster")?;
    if kind == "Namespace" {
        let spec = doc.required(node, "", "spec", "a mapping with kafkaUser")?;
        doc.known_keys(
            spec,
            "spec",
            &[
                "kafkaUser",
                "protectionEnabled",
                "transactionsEnabled",
                "subjectNameStrategies",
                "connectClusters",
                "topicValidator",
                "connectValidator",
            ],
        )?;
        let kafka_user = doc.string(spec, "spec", "kafkaUser")?;
        let transactions_enabled = doc.boolean(spec, "spec", "transactionsEnabled")?;
        let mut connect_clusters = vec![];
        if let Some(list) = doc.optional(spec, "spec", "connectClusters") {
            for (i, item) in doc.items(list, "spec.connectClusters")?.iter().enumerate() {
                connect_clusters.push(doc.text_of(
                    item,
                    &format!("spec.connectClusters[{i}]"),
                    "a string",
                )?);
            }
        }
        out.namespaces.push(Namespace {
            name,
            cluster,
            kafka_user,
            transactions_enabled,
            connect_clusters,
            at: doc.at,
        });
        return Ok(());
    }
    let namespace = match doc.opt_string(metadata, "metadata", "namespace")? {
        Some(ns) => ns,
        None => match default_namespace {
            Some(ns) => ns.to_string(),
            None => {
                return Err(doc.error_in(
                    metadata,
                    "metadata.namespace",
                    "expected the namespace (or a default namespace: --namespace, as kafkactl's -n), found nothing",
                ))
            }
        },
    };
    match kind {
        "Topic" => {
            let spec = doc.required(
                node,
                "",
                "spec",
                "a mapping with partitions and replicationFactor",
            )?;
            doc.known_keys(
                spec,
                "spec",
                &[
                    "replicationFactor",
                    "partitions",
                    "tags",
                    "description",
                    "configs",
                ],
            )?;
            let p = doc.required(spec, "spec", "partitions", "a whole number from 1")?;
            let partitions = doc.count(p, "spec.partitions")?;
            let r = doc.required(spec, "spec", "replicationFactor", "a whole number from 1")?;
            let replication_factor = doc.count(r, "spec.replicationFactor")?;
            let configs = match doc.optional(spec, "spec", "configs") {
                Some(c) => doc.string_map(c, "spec.configs")?,
                None => BTreeMap::new(),
            };
            out.topics.push(Topic {
                namespace,
                name,
                partitions,
                replication_factor,
                configs,
                at: doc.at,
            });
        }
        "Connector" => {
            let spec =
                doc.required(node, "", "spec", "a mapping with connectCluster and config")?;
            doc.known_keys(spec, "spec", &["connectCluster", "config"])?;
            let connect_cluster = doc.string(spec, "spec", "connectCluster")?;
            let c = doc.required(spec, "spec", "config", "a mapping of connector configs")?;
            let config = doc.string_map(c, "spec.config")?;
            out.connectors.push(Connector {
                namespace,
                name,
                connect_cluster,
                config,
                at: doc.at,
            });
        }
        "Schema" => {
            let spec = doc.required(node, "", "spec", "a mapping with schema or schemaFile")?;
            doc.known_keys(
                spec,
                "spec",
                &[
                    "id",
                    "version",
                    "schema",
                    "schemaFile",
                    "schemaType",
                    "compatibility",
                    "alias",
                    "references",
                ],
            )?;
            let schema_file = doc.opt_string(spec, "spec", "schemaFile")?;
            let schema = match (doc.opt_string(spec, "spec", "schema")?, &schema_file) {
                (Some(s), _) => s,
                (None, Some(f)) => {
                    let at = spec.get("schemaFile").unwrap_or(spec);
                    let beside = base.join(f);
                    let path = if beside.exists() {
                        beside
                    } else {
                        Path::new(f).to_path_buf()
                    };
                    std::fs::read_to_string(&path).map_err(|e| {
                        doc.error(
                            at,
                            "spec.schemaFile",
                            format!("expected a readable file, found `{f}`: {e}"),
                        )
                    })?
                }
                (None, None) => {
                    return Err(doc.error_in(
                        spec,
                        "spec.schema",
                        "expected the schema (spec.schema or spec.schemaFile), found nothing",
                    ))
                }
            };
            let schema_type = match doc.optional(spec, "spec", "schemaType") {
                Some(t) => doc.choice(
                    t,
                    "spec.schemaType",
                    &[
                        (SchemaType::Avro, "AVRO"),
                        (SchemaType::Json, "JSON"),
                        (SchemaType::Protobuf, "PROTOBUF"),
                    ],
                )?,
                None => SchemaType::Avro,
            };
            let compatibility = doc.opt_string(spec, "spec", "compatibility")?;
            let mut references = vec![];
            if let Some(list) = doc.optional(spec, "spec", "references") {
                for (i, item) in doc.items(list, "spec.references")?.iter().enumerate() {
                    let path = format!("spec.references[{i}]");
                    doc.note(&path, item);
                    doc.known_keys(item, &path, &["name", "subject", "version"])?;
                    let name = doc.string(item, &path, "name")?;
                    let subject = doc.string(item, &path, "subject")?;
                    let v = doc.required(item, &path, "version", "a whole number from 1")?;
                    let version = doc.count(v, &join(&path, "version"))?;
                    references.push(SchemaReference {
                        name,
                        subject,
                        version,
                    });
                }
            }
            out.schemas.push(Schema {
                namespace,
                subject: name,
                schema,
                schema_file,
                schema_type,
                compatibility,
                references,
                at: doc.at,
            });
        }
        "AccessControlEntry" => {
            let spec = doc.required(node, "", "spec", "a mapping with resourceType, resource, resourcePatternType, permission and grantedTo")?;
            doc.known_keys(
                spec,
                "spec",
                &[
                    "resourceType",
                    "resource",
                    "resourcePatternType",
                    "permission",
                    "grantedTo",
                ],
            )?;
            let resource_type = doc.required_choice(
                spec,
                "spec",
                "resourceType",
                &[
                    (ResourceType::Topic, "TOPIC"),
                    (ResourceType::Group, "GROUP"),
                    (ResourceType::Connect, "CONNECT"),
                    (ResourceType::ConnectCluster, "CONNECT_CLUSTER"),
                    (ResourceType::Schema, "SCHEMA"),
                    (ResourceType::TransactionalId, "TRANSACTIONAL_ID"),
                ],
            )?;
            let resource = doc.string(spec, "spec", "resource")?;
            let pattern = doc.required_choice(
                spec,
                "spec",
                "resourcePatternType",
                &[
                    (PatternType::Literal, "LITERAL"),
                    (PatternType::Prefixed, "PREFIXED"),
                ],
            )?;
            let permission = doc.required_choice(
                spec,
                "spec",
                "permission",
                &[
                    (Permission::Owner, "OWNER"),
                    (Permission::Read, "READ"),
                    (Permission::Write, "WRITE"),
                ],
            )?;
            let granted_to = doc.string(spec, "spec", "grantedTo")?;
            out.acls.push(AccessControlEntry {
                namespace,
                name,
                resource_type,
                resource,
                pattern,
                permission,
                granted_to,
                at: doc.at,
            });
        }
        _ => {
            // KafkaStream: metadata only.
            out.streams.push(KafkaStream {
                namespace,
                name,
                at: doc.at,
            });
        }
    }
    Ok(())
}

/// Strimzi `metadata`: name (required), namespace, and the `strimzi.io/cluster` label.
fn strimzi_metadata(
    doc: &mut Doc<'_>,
    node: &Node,
) -> Result<(String, Option<String>, Option<String>), Located> {
    let metadata = doc.required(node, "", "metadata", "a mapping with name")?;
    let name = doc.string(metadata, "metadata", "name")?;
    let namespace = doc.opt_string(metadata, "metadata", "namespace")?;
    let cluster = match doc.optional(metadata, "metadata", "labels") {
        Some(labels) => doc.opt_string(labels, "metadata.labels", "strimzi.io/cluster")?,
        None => None,
    };
    Ok((name, namespace, cluster))
}

fn strimzi_topic(mut doc: Doc<'_>, node: &Node, out: &mut Declarations) -> Result<(), Located> {
    let (name, k8s_namespace, cluster) = strimzi_metadata(&mut doc, node)?;
    let mut topic = KafkaTopic {
        topic_name: name.clone(),
        name,
        k8s_namespace,
        cluster,
        partitions: None,
        replicas: None,
        config: BTreeMap::new(),
        at: At::default(),
    };
    if let Some(spec) = doc.optional(node, "", "spec") {
        doc.known_keys(
            spec,
            "spec",
            &["partitions", "replicas", "config", "topicName"],
        )?;
        if let Some(p) = doc.optional(spec, "spec", "partitions") {
            topic.partitions = Some(doc.count(p, "spec.partitions")?);
        }
        if let Some(r) = doc.optional(spec, "spec", "replicas") {
            topic.replicas = Some(doc.count(r, "spec.replicas")?);
        }
        if let Some(c) = doc.optional(spec, "spec", "config") {
            topic.config = doc.string_map(c, "spec.config")?;
        }
        if let Some(t) = doc.opt_string(spec, "spec", "topicName")? {
            topic.topic_name = t;
        }
    }
    topic.at = doc.at;
    out.strimzi_topics.push(topic);
    Ok(())
}

fn strimzi_user(mut doc: Doc<'_>, node: &Node, out: &mut Declarations) -> Result<(), Located> {
    let (name, k8s_namespace, cluster) = strimzi_metadata(&mut doc, node)?;
    let mut user = KafkaUser {
        name,
        k8s_namespace,
        cluster,
        authentication: None,
        acls: vec![],
        at: At::default(),
    };
    if let Some(spec) = doc.optional(node, "", "spec") {
        doc.known_keys(
            spec,
            "spec",
            &["authentication", "authorization", "quotas", "template"],
        )?;
        if let Some(auth) = doc.optional(spec, "spec", "authentication") {
            user.authentication = Some(doc.string(auth, "spec.authentication", "type")?);
        }
        if let Some(authz) = doc.optional(spec, "spec", "authorization") {
            let path = "spec.authorization";
            doc.known_keys(authz, path, &["type", "acls"])?;
            doc.required_choice(authz, path, "type", &[((), "simple")])?;
            if let Some(list) = doc.optional(authz, path, "acls") {
                for (i, item) in doc
                    .items(list, "spec.authorization.acls")?
                    .iter()
                    .enumerate()
                {
                    user.acls.push(acl_rule(
                        &mut doc,
                        item,
                        &format!("spec.authorization.acls[{i}]"),
                    )?);
                }
            }
        }
    }
    user.at = doc.at;
    out.strimzi_users.push(user);
    Ok(())
}

fn acl_rule(doc: &mut Doc<'_>, item: &Node, path: &str) -> Result<AclRule, Located> {
    doc.note(path, item);
    doc.known_keys(
        item,
        path,
        &["type", "resource", "host", "operation", "operations"],
    )?;
    let allow = match doc.optional(item, path, "type") {
        Some(t) => doc.choice(t, &join(path, "type"), &[(true, "allow"), (false, "deny")])?,
        None => true,
    };
    let host = doc
        .opt_string(item, path, "host")?
        .unwrap_or_else(|| "*".to_string());
    let resource = doc.required(
        item,
        path,
        "resource",
        "a mapping with type, name and patternType",
    )?;
    let rpath = join(path, "resource");
    doc.known_keys(resource, &rpath, &["type", "name", "patternType"])?;
    let resource_type = doc.required_choice(
        resource,
        &rpath,
        "type",
        &[
            (StrimziResourceType::Topic, "topic"),
            (StrimziResourceType::Group, "group"),
            (StrimziResourceType::Cluster, "cluster"),
            (StrimziResourceType::TransactionalId, "transactionalId"),
        ],
    )?;
    let name = if resource_type == StrimziResourceType::Cluster {
        None
    } else {
        Some(doc.string(resource, &rpath, "name")?)
    };
    let pattern = match doc.optional(resource, &rpath, "patternType") {
        Some(p) => doc.choice(
            p,
            &join(&rpath, "patternType"),
            &[
                (PatternType::Literal, "literal"),
                (PatternType::Prefixed, "prefix"),
            ],
        )?,
        None => PatternType::Literal,
    };
    let mut operations = vec![];
    if let Some(list) = doc.optional(item, path, "operations") {
        for (i, op) in doc
            .items(list, &join(path, "operations"))?
            .iter()
            .enumerate()
        {
            operations.push(doc.choice(op, &format!("{path}.operations[{i}]"), &Operation::ALL)?);
        }
    }
    if let Some(op) = doc.optional(item, path, "operation") {
        operations.push(doc.choice(op, &join(path, "operation"), &Operation::ALL)?);
    }
    if operations.is_empty() {
        let names: Vec<&str> = Operation::ALL.iter().map(|(_, n)| *n).collect();
        return Err(doc.error_in(
            item,
            &join(path, "operations"),
            format!(
                "expected a list of operations ({}), found nothing",
                names.join(", ")
            ),
        ));
    }
    Ok(AclRule {
        resource_type,
        name,
        pattern,
        operations,
        host,
        allow,
    })
}
