//! The typed resources. Each keeps where it was declared ([`At`]: the file, the line of its
//! document and of every field read, by dotted path such as `spec.partitions` or
//! `spec.authorization.acls[1].resource.name`).
//!
//! ns4kafka's shapes follow its model classes (`com.michelin.ns4kafka.model`: `Namespace`,
//! `Topic`, `AccessControlEntry`, `KafkaStream`, `connect.Connector`, `schema.Schema`,
//! <https://github.com/michelin/ns4kafka/tree/master/src/main/java/com/michelin/ns4kafka/model>);
//! Strimzi's follow its CRDs (`KafkaTopic`, `KafkaUser`,
//! <https://strimzi.io/docs/operators/latest/configuring.html#type-KafkaTopicSpec-reference>,
//! `io.strimzi.api.kafka.model.user.acl.AclRule`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Where a resource was declared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct At {
    /// The file, as given (or found under a directory given).
    pub file: String,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// Dotted field path → 1-based line, for every field read.
    #[serde(skip)]
    pub fields: BTreeMap<String, usize>,
}

impl At {
    /// The line of `field`, else the document's.
    pub fn line_of(&self, field: &str) -> usize {
        self.fields.get(field).copied().unwrap_or(self.line)
    }

    /// `file:line` of `field` (the document's line when the field was not written).
    pub fn of(&self, field: &str) -> String {
        format!("{}:{}", self.file, self.line_of(field))
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// ns4kafka `Namespace` (`spec.kafkaUser`: the principal `User:<kafkaUser>` its ACLs land on).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Namespace {
    pub name: String,
    /// `metadata.cluster`: the ns4kafka-managed cluster.
    pub cluster: Option<String>,
    pub kafka_user: String,
    /// `spec.transactionsEnabled` (default false): OWNER of a group also grants
    /// transactional-id rights.
    pub transactions_enabled: bool,
    /// `spec.connectClusters` (default empty).
    pub connect_clusters: Vec<String>,
    pub at: At,
}

/// ns4kafka `Topic`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// `metadata.namespace`, or the default namespace given.
    pub namespace: String,
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// `spec.configs`, values as the broker's strings (a YAML number as written).
    pub configs: BTreeMap<String, String>,
    pub at: At,
}

/// ns4kafka `Connector` (`connect.Connector`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connector {
    pub namespace: String,
    pub name: String,
    pub connect_cluster: String,
    pub config: BTreeMap<String, String>,
    pub at: At,
}

/// ns4kafka schema type (`schema.Schema.SchemaType`, default AVRO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

/// A schema reference (`schema.Schema.SchemaSpec.Reference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// ns4kafka `Schema`: `metadata.name` is the subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schema {
    pub namespace: String,
    pub subject: String,
    /// `spec.schema`, or the content of `spec.schemaFile` (kafkactl reads it, relative to the
    /// working directory; here relative to the declaring file, then to the working directory).
    pub schema: String,
    pub schema_file: Option<String>,
    pub schema_type: SchemaType,
    pub compatibility: Option<String>,
    pub references: Vec<SchemaReference>,
    pub at: At,
}

/// ns4kafka ACL resource types (`AccessControlEntry.ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceType {
    Topic,
    Group,
    Connect,
    ConnectCluster,
    Schema,
    TransactionalId,
}

/// Literal name or prefix, for ns4kafka (`LITERAL`/`PREFIXED`) and Strimzi
/// (`literal`/`prefix`) alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatternType {
    Literal,
    Prefixed,
}

impl PatternType {
    /// Whether a pattern of this type on `resource` covers the resource named `name`: a
    /// prefix by `startsWith`, a literal by equality (ns4kafka's
    /// `AclService.isNamespaceOwnerOfResource`; Kafka's `StandardAuthorizer` likewise, except
    /// that a literal `*` covers every name there).
    pub fn covers(self, resource: &str, name: &str) -> bool {
        match self {
            PatternType::Prefixed => name.starts_with(resource),
            PatternType::Literal => name == resource,
        }
    }
}

/// ns4kafka ACL permission (`AccessControlEntry.Permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    Owner,
    Read,
    Write,
}

/// ns4kafka `AccessControlEntry`: `metadata.namespace` grants `permission` on `resource` to
/// the namespace `grantedTo` (`*`: every namespace, a public ACL).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessControlEntry {
    /// The granting namespace (`metadata.namespace`).
    pub namespace: String,
    pub name: String,
    pub resource_type: ResourceType,
    pub resource: String,
    pub pattern: PatternType,
    pub permission: Permission,
    pub granted_to: String,
    pub at: At,
}

impl AccessControlEntry {
    /// Granted to every namespace (`grantedTo: "*"`, ns4kafka's `PUBLIC_GRANTED_TO`).
    pub fn is_public(&self) -> bool {
        self.granted_to == "*"
    }

    /// Whether this entry's pattern covers the resource `name` of type `kind`.
    pub fn covers(&self, kind: ResourceType, name: &str) -> bool {
        self.resource_type == kind && self.pattern.covers(&self.resource, name)
    }
}

/// ns4kafka `KafkaStream`: `metadata.name` is the application id (its internal topics are
/// prefixed with it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaStream {
    pub namespace: String,
    pub name: String,
    pub at: At,
}

/// Strimzi `KafkaTopic`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaTopic {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (the Kubernetes namespace), if written.
    pub k8s_namespace: Option<String>,
    /// The `strimzi.io/cluster` label.
    pub cluster: Option<String>,
    /// `spec.topicName`, defaulting to `metadata.name`.
    pub topic_name: String,
    /// `spec.partitions` (default: the broker's `num.partitions`).
    pub partitions: Option<u32>,
    /// `spec.replicas` (default: the broker's `default.replication.factor`).
    pub replicas: Option<u32>,
    /// `spec.config`, values as the broker's strings.
    pub config: BTreeMap<String, String>,
    pub at: At,
}

/// Strimzi ACL resource types (`AclRuleResource` subtypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StrimziResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// Strimzi ACL operations (`AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Operation {
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    AlterConfigs,
    DescribeConfigs,
    IdempotentWrite,
    All,
}

impl Operation {
    /// Every operation by its Strimzi spelling.
    pub const ALL: [(Operation, &'static str); 11] = [
        (Operation::Read, "Read"),
        (Operation::Write, "Write"),
        (Operation::Create, "Create"),
        (Operation::Delete, "Delete"),
        (Operation::Alter, "Alter"),
        (Operation::Describe, "Describe"),
        (Operation::ClusterAction, "ClusterAction"),
        (Operation::AlterConfigs, "AlterConfigs"),
        (Operation::DescribeConfigs, "DescribeConfigs"),
        (Operation::IdempotentWrite, "IdempotentWrite"),
        (Operation::All, "All"),
    ];
}

/// One rule of a `KafkaUser`'s `spec.authorization.acls` (type `simple`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AclRule {
    pub resource_type: StrimziResourceType,
    /// `resource.name` (none for `cluster`); a literal `*` covers every name.
    pub name: Option<String>,
    /// `resource.patternType`, default `literal`.
    pub pattern: PatternType,
    /// `operations`, or the deprecated single `operation`.
    pub operations: Vec<Operation>,
    /// `host`, default `*`.
    pub host: String,
    /// `type`: `allow` (default) or `deny`.
    pub allow: bool,
}

impl AclRule {
    /// Whether the rule's resource covers the topic (or group, …) `name` of type `kind`.
    pub fn covers(&self, kind: StrimziResourceType, name: &str) -> bool {
        if self.resource_type != kind {
            return false;
        }
        match &self.name {
            Some(n) if n == "*" && self.pattern == PatternType::Literal => true,
            Some(n) => self.pattern.covers(n, name),
            None => false,
        }
    }

    /// Whether the rule allows any of `ops` (`All` allows everything).
    pub fn allows_any(&self, ops: &[Operation]) -> bool {
        self.allow
            && self
                .operations
                .iter()
                .any(|o| *o == Operation::All || ops.contains(o))
    }
}

/// Strimzi `KafkaUser`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaUser {
    /// `metadata.name`: the user name.
    pub name: String,
    pub k8s_namespace: Option<String>,
    pub cluster: Option<String>,
    /// `spec.authentication.type`: `tls`, `tls-external`, `scram-sha-512`, or none.
    pub authentication: Option<String>,
    pub acls: Vec<AclRule>,
    pub at: At,
}

impl KafkaUser {
    /// The principal Kafka sees: `User:CN=<name>` with TLS client authentication (Strimzi's
    /// user certificates carry the name as CN), `User:<name>` otherwise.
    pub fn principal(&self) -> String {
        match self.authentication.as_deref() {
            Some("tls") | Some("tls-external") => format!("User:CN={}", self.name),
            _ => format!("User:{}", self.name),
        }
    }
}

/// A document of a kind that is recognised but not read (ns4kafka `RoleBinding`,
/// `ResourceQuota`, `ConnectCluster`…, Strimzi `Kafka`, `KafkaConnect`…).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub kind: String,
    pub name: String,
    pub at: At,
}
