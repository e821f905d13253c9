//! `cutover preflight --resources PATH`: the teams' own declarations (ns4kafka, Strimzi; read
//! by the `declarations` crate) compared with the source and the target, read-only.
//!
//! Every declared topic must exist with its partitions, replication factor and configs (a
//! declared value compared with the broker's string; numbers by value, so `604800000` and
//! `6.048E8` are one). Every ACL must be present as the principal would need it, which for
//! ns4kafka is what its ACL executor writes on the broker
//! (`AccessControlEntryAsyncExecutor`,
//! <https://github.com/michelin/ns4kafka/blob/master/src/main/java/com/michelin/ns4kafka/service/executor/AccessControlEntryAsyncExecutor.java>)
//! for the grantee namespace's `User:<kafkaUser>`:
//!
//! - `OWNER` on a topic: `WRITE`, `READ`, `DESCRIBE_CONFIGS` on the entry's pattern;
//! - `OWNER` on a group: `READ`; with `transactionsEnabled`, `WRITE` and `DESCRIBE` on the
//!   transactional ids prefixed `connect-cluster-<group>` and `<group>` (KIP-618's exactly-once
//!   source connectors); else, with a `KafkaStream` declared, `WRITE` and `DESCRIBE` on the
//!   transactional ids prefixed `<group>`;
//! - `READ` or `WRITE` on a topic, group or transactional id: that operation;
//! - `OWNER` on a connector (`CONNECT`): `READ` on the group `connect-<name>`, same pattern;
//! - a public entry (`grantedTo: "*"`): the operation for `User:*`;
//! - a `KafkaStream`: `CREATE` and `DELETE` on the topics prefixed with its name.
//!
//! A Strimzi `KafkaUser`'s `allow` rules are checked as written, for its principal
//! (`User:CN=<name>` with TLS, `User:<name>` otherwise). Whether a principal may do an
//! operation is decided by `harness::acl::permits` (StandardAuthorizer's rules: a literal `*`,
//! prefixes, `User:*`, `All`, the implied `Describe`), so an ACL granted more widely than
//! declared counts as present.
//!
//! Every declared connector must run on a Connect REST endpoint of its side (`--source-connect`,
//! `--target-connect`, `[CLUSTER=]URL`: the endpoint of ns4kafka's `connectCluster`, or of
//! every cluster) with each declared config value (`GET /connectors/{name}/config`; secret
//! keys compared, never shown). Every declared schema must be registered under its subject with
//! the same content: the declared schema's canonical form and its references' content
//! (`registry::compare::content_identity`, as the schema merge checks compare them) equal to one
//! of the subject's versions, in any of the side's registries (`--source-registry`,
//! `--target-registry`). Without an endpoint or a registry for a side, those items are
//! `unchecked`.

use std::collections::BTreeMap;
use std::time::Duration;

use declarations::{Declarations, Operation, Permission as NsPermission, ResourceType as NsType};
use harness::{
    permits, AclBinding, AclError, AclFilter, AclOperation, Admin, ClientProps, PatternType,
    ResourceType,
};
use serde::Serialize;

use crate::PreflightError;

/// Version of the JSON document (additive within a major).
pub const SCHEMA_VERSION: u32 = 1;

/// A declared topic: what the broker must hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedTopic {
    /// The ns4kafka namespace, or `strimzi` for a `KafkaTopic`.
    pub namespace: String,
    pub name: String,
    pub partitions: Option<u32>,
    pub replication_factor: Option<u32>,
    pub configs: BTreeMap<String, String>,
    /// `file:line` of the declaration.
    pub declared_at: String,
}

/// An ACL a principal must hold (an ALLOW from any host).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedAcl {
    /// The grantee namespace, or the Strimzi user's name.
    pub namespace: String,
    pub principal: String,
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern: PatternType,
    pub operation: AclOperation,
    pub declared_at: String,
}

impl ExpectedAcl {
    /// `User:svc-orders Write on Topic:PREFIXED:orders.`
    pub fn describe(&self) -> String {
        format!(
            "{} {} on {}:{}:{}",
            self.principal, self.operation, self.resource_type, self.pattern, self.name
        )
    }
}

fn pattern(p: declarations::PatternType) -> PatternType {
    match p {
        declarations::PatternType::Literal => PatternType::Literal,
        declarations::PatternType::Prefixed => PatternType::Prefixed,
    }
}

/// Every topic declared (ns4kafka `Topic`, Strimzi `KafkaTopic`).
pub fn expected_topics(decls: &Declarations) -> Vec<ExpectedTopic> {
    let mut out: Vec<ExpectedTopic> = decls
        .topics
        .iter()
        .map(|t| ExpectedTopic {
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            partitions: Some(t.partitions),
            replication_factor: Some(t.replication_factor),
            configs: t.configs.clone(),
            declared_at: t.at.to_string(),
        })
        .collect();
    out.extend(decls.strimzi_topics.iter().map(|t| ExpectedTopic {
        namespace: "strimzi".into(),
        name: t.topic_name.clone(),
        partitions: t.partitions,
        replication_factor: t.replicas,
        configs: t.config.clone(),
        declared_at: t.at.to_string(),
    }));
    out
}

/// Every ACL the declarations put on the broker, and warnings for entries whose principal is
/// unknown (granted to a namespace no `Namespace` declares).
pub fn expected_acls(decls: &Declarations) -> (Vec<ExpectedAcl>, Vec<String>) {
    let mut out = vec![];
    let mut warnings = vec![];
    for a in &decls.acls {
        let (namespace, principal) = if a.is_public() {
            (
                "*".to_string(),
                harness::acl::WILDCARD_PRINCIPAL.to_string(),
            )
        } else {
            match decls.namespace(&a.granted_to) {
                Some(ns) => (ns.name.clone(), format!("User:{}", ns.kafka_user)),
                None => {
                    warnings.push(format!(
                        "{}: ACL `{}` is granted to `{}`, which no Namespace declares: its kafkaUser is unknown, not checked",
                        a.at, a.name, a.granted_to
                    ));
                    continue;
                }
            }
        };
        let at = a.at.to_string();
        let mut push = |resource_type, name: &str, pattern, operation| {
            out.push(ExpectedAcl {
                namespace: namespace.clone(),
                principal: principal.clone(),
                resource_type,
                name: name.to_string(),
                pattern,
                operation,
                declared_at: at.clone(),
            })
        };
        let p = pattern(a.pattern);
        let kafka_type = match a.resource_type {
            NsType::Topic => Some(ResourceType::Topic),
            NsType::Group => Some(ResourceType::Group),
            NsType::TransactionalId => Some(ResourceType::TransactionalId),
            _ => None,
        };
        match (a.resource_type, a.permission) {
            (NsType::Topic, NsPermission::Owner) => {
                for op in [
                    AclOperation::Write,
                    AclOperation::Read,
                    AclOperation::DescribeConfigs,
                ] {
                    push(ResourceType::Topic, &a.resource, p, op);
                }
            }
            (NsType::Group, NsPermission::Owner) => {
                push(ResourceType::Group, &a.resource, p, AclOperation::Read);
                let ns = decls.namespace(&a.granted_to);
                let transactions = ns.is_some_and(|n| n.transactions_enabled);
                let streams = decls.streams.iter().any(|s| s.namespace == a.granted_to);
                let mut prefixes = vec![];
                if transactions {
                    prefixes.push(format!("connect-cluster-{}", a.resource));
                    prefixes.push(a.resource.clone());
                } else if streams {
                    prefixes.push(a.resource.clone());
                }
                for prefix in prefixes {
                    for op in [AclOperation::Write, AclOperation::Describe] {
                        push(
                            ResourceType::TransactionalId,
                            &prefix,
                            PatternType::Prefixed,
                            op,
                        );
                    }
                }
            }
            (NsType::Connect, NsPermission::Owner) => {
                push(
                    ResourceType::Group,
                    &format!("connect-{}", a.resource),
                    p,
                    AclOperation::Read,
                );
            }
            (_, NsPermission::Read) | (_, NsPermission::Write) => {
                if let Some(t) = kafka_type {
                    let op = if a.permission == NsPermission::Read {
                        AclOperation::Read
                    } else {
                        AclOperation::Write
                    };
                    push(t, &a.resource, p, op);
                }
            }
            // ns4kafka puts nothing on the broker for the other kinds (schemas, Connect
            // clusters, transactional-id OWNER).
            _ => {}
        }
    }
    for s in &decls.streams {
        match decls.namespace(&s.namespace) {
            Some(ns) => {
                for op in [AclOperation::Create, AclOperation::Delete] {
                    out.push(ExpectedAcl {
                        namespace: ns.name.clone(),
                        principal: format!("User:{}", ns.kafka_user),
                        resource_type: ResourceType::Topic,
                        name: s.name.clone(),
                        pattern: PatternType::Prefixed,
                        operation: op,
                        declared_at: s.at.to_string(),
                    });
                }
            }
            None => warnings.push(format!(
                "{}: KafkaStream `{}` is in namespace `{}`, which no Namespace declares: not checked",
                s.at, s.name, s.namespace
            )),
        }
    }
    for u in &decls.strimzi_users {
        for (i, rule) in u.acls.iter().enumerate().filter(|(_, r)| r.allow) {
            let (resource_type, name) = match rule.resource_type {
                declarations::StrimziResourceType::Topic => {
                    (ResourceType::Topic, rule.name.clone())
                }
                declarations::StrimziResourceType::Group => {
                    (ResourceType::Group, rule.name.clone())
                }
                declarations::StrimziResourceType::TransactionalId => {
                    (ResourceType::TransactionalId, rule.name.clone())
                }
                declarations::StrimziResourceType::Cluster => (
                    ResourceType::Cluster,
                    Some(harness::acl::CLUSTER_RESOURCE_NAME.to_string()),
                ),
            };
            let Some(name) = name else { continue };
            for op in &rule.operations {
                out.push(ExpectedAcl {
                    namespace: u.name.clone(),
                    principal: u.principal(),
                    resource_type,
                    name: name.clone(),
                    pattern: pattern(rule.pattern),
                    operation: operation(*op),
                    declared_at: format!(
                        "{}:{}",
                        u.at.file,
                        u.at.line_of(&format!("spec.authorization.acls[{i}]"))
                    ),
                });
            }
        }
    }
    (out, warnings)
}

fn operation(op: Operation) -> AclOperation {
    match op {
        Operation::Read => AclOperation::Read,
        Operation::Write => AclOperation::Write,
        Operation::Create => AclOperation::Create,
        Operation::Delete => AclOperation::Delete,
        Operation::Alter => AclOperation::Alter,
        Operation::Describe => AclOperation::Describe,
        Operation::ClusterAction => AclOperation::ClusterAction,
        Operation::AlterConfigs => AclOperation::AlterConfigs,
        Operation::DescribeConfigs => AclOperation::DescribeConfigs,
        Operation::IdempotentWrite => AclOperation::IdempotentWrite,
        Operation::All => AclOperation::All,
    }
}

/// What one cluster holds of a declared item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Status {
    Present,
    Missing,
    /// Present but different: what differs, declared vs the broker's.
    Differs(String),
    /// Not checked on this cluster, and why (no authorizer, ACLs not describable).
    Unchecked(String),
}

impl Status {
    fn word(&self) -> String {
        match self {
            Status::Present => "ok".into(),
            Status::Missing => "MISSING".into(),
            Status::Differs(d) => format!("DIFFERS: {d}"),
            Status::Unchecked(r) => format!("unchecked: {r}"),
        }
    }

    fn is_problem(&self) -> bool {
        matches!(self, Status::Missing | Status::Differs(_))
    }
}

/// One declared item on both clusters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// `topic`, `acl`, `connector` or `schema`.
    pub kind: &'static str,
    /// The topic name, or the ACL as `principal operation on Type:PATTERN:name`.
    pub resource: String,
    pub declared_at: String,
    pub source: Status,
    pub target: Status,
}

/// The items of one namespace (or Strimzi user, or `strimzi` for `KafkaTopic`s, or `*` for
/// public entries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamespaceReport {
    pub namespace: String,
    pub items: Vec<Item>,
}

/// The comparison of the declarations with both clusters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredReport {
    pub schema_version: u32,
    pub namespaces: Vec<NamespaceReport>,
    /// Declared kinds not compared for want of an endpoint (connectors, schemas), with counts.
    pub not_checked: Vec<String>,
    /// Declarations whose expectations could not be derived (an unknown grantee), and what
    /// ns4kafka would refuse.
    pub warnings: Vec<String>,
    /// Items missing or different on the target.
    pub target_problems: usize,
    /// Items missing or different on the source.
    pub source_problems: usize,
}

impl DeclaredReport {
    /// Anything declared missing or different on the target (exit 1).
    pub fn has_errors(&self) -> bool {
        self.target_problems > 0
    }
}

/// What one cluster holds: topics (partitions, replication factor), their configs when
/// asked, and every ACL (or why they could not be read).
#[derive(Debug, Clone)]
pub struct ClusterState {
    /// Topic → (partitions, replication factor: the largest replica count of a partition).
    pub topics: BTreeMap<String, (usize, usize)>,
    /// Topic → its configs as the broker reports them (defaults included).
    pub configs: BTreeMap<String, Result<BTreeMap<String, String>, String>>,
    pub acls: Result<Vec<AclBinding>, String>,
}

impl Default for ClusterState {
    /// Nothing: no topic, no ACL.
    fn default() -> Self {
        ClusterState {
            topics: BTreeMap::new(),
            configs: BTreeMap::new(),
            acls: Ok(vec![]),
        }
    }
}

/// A declared config value equal to the broker's: as strings, as numbers, or as lists
/// (`compact,delete` and `compact, delete`).
pub fn same_config(declared: &str, broker: &str) -> bool {
    if declared == broker {
        return true;
    }
    if let (Ok(a), Ok(b)) = (declared.trim().parse::<f64>(), broker.trim().parse::<f64>()) {
        return a == b;
    }
    let list = |s: &str| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .collect::<Vec<_>>()
    };
    list(declared) == list(broker)
}

fn topic_status(t: &ExpectedTopic, state: &ClusterState) -> Status {
    let Some((partitions, rf)) = state.topics.get(&t.name) else {
        return Status::Missing;
    };
    let mut diffs = vec![];
    if let Some(p) = t.partitions.filter(|p| *p as usize != *partitions) {
        diffs.push(format!(
            "partitions {p} declared, {partitions} on the broker"
        ));
    }
    if let Some(r) = t.replication_factor.filter(|r| *r as usize != *rf) {
        diffs.push(format!(
            "replication factor {r} declared, {rf} on the broker"
        ));
    }
    if !t.configs.is_empty() {
        match state.configs.get(&t.name) {
            Some(Ok(configs)) => {
                for (k, v) in &t.configs {
                    match configs.get(k) {
                        Some(b) if same_config(v, b) => {}
                        Some(b) => diffs.push(format!("{k}={v} declared, {b} on the broker")),
                        None => diffs.push(format!("{k}={v} declared, unknown to the broker")),
                    }
                }
            }
            Some(Err(e)) => return Status::Unchecked(format!("configs not described: {e}")),
            None => return Status::Unchecked("configs not described".into()),
        }
    }
    if diffs.is_empty() {
        Status::Present
    } else {
        Status::Differs(diffs.join("; "))
    }
}

fn acl_status(a: &ExpectedAcl, state: &ClusterState) -> Status {
    let acls = match &state.acls {
        Ok(acls) => acls,
        Err(reason) => return Status::Unchecked(reason.clone()),
    };
    // A prefixed need is met by ACLs covering every name with the prefix: a name no literal
    // ACL can end with stands for them all (as the migrating principals' check does).
    let name = match a.pattern {
        PatternType::Prefixed => format!("{}\u{0}", a.name),
        _ => a.name.clone(),
    };
    let decision = permits(acls, &a.principal, a.resource_type, &name, a.operation);
    match decision {
        harness::Decision::Allowed(_) => Status::Present,
        harness::Decision::Denied(acl) => Status::Differs(format!("denied by {acl}")),
        harness::Decision::NoMatchingAcl => Status::Missing,
    }
}

/// Compares the expectations with both clusters' states (no I/O).
pub fn compare(
    topics: &[ExpectedTopic],
    acls: &[ExpectedAcl],
    source: &ClusterState,
    target: &ClusterState,
) -> Vec<NamespaceReport> {
    let mut by_ns: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for t in topics {
        by_ns.entry(t.namespace.clone()).or_default().push(Item {
            kind: "topic",
            resource: t.name.clone(),
            declared_at: t.declared_at.clone(),
            source: topic_status(t, source),
            target: topic_status(t, target),
        });
    }
    for a in acls {
        by_ns.entry(a.namespace.clone()).or_default().push(Item {
            kind: "acl",
            resource: a.describe(),
            declared_at: a.declared_at.clone(),
            source: acl_status(a, source),
            target: acl_status(a, target),
        });
    }
    by_ns
        .into_iter()
        .map(|(namespace, items)| NamespaceReport { namespace, items })
        .collect()
}

/// Where connectors and schemas are looked up, per side.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// Connect REST endpoints of the source: (ns4kafka `connectCluster`, or `None` for every
    /// cluster; base URL).
    pub source_connect: Vec<(Option<String>, String)>,
    pub target_connect: Vec<(Option<String>, String)>,
    /// Schema registries of the source (a merge when several: a subject in any counts).
    pub source_registries: Vec<crate::registries::RegistryArg>,
    pub target_registry: Option<crate::registries::RegistryArg>,
}

/// Reads a connector's config from a Connect cluster.
pub trait ConnectorConfigs {
    /// The connector's config; `Ok(None)` when the cluster does not know it.
    fn config(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, String>;
}

impl ConnectorConfigs for harness::ConnectRest {
    fn config(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, String> {
        match self.connector_config(name) {
            Ok(c) => Ok(Some(c)),
            Err(harness::connect::RestError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A declared connector against one side's Connect cluster (`None`: no endpoint for it).
pub fn connector_status(
    c: &declarations::Connector,
    endpoint: Option<&dyn ConnectorConfigs>,
) -> Status {
    let Some(endpoint) = endpoint else {
        return Status::Unchecked(format!(
            "no Connect endpoint for connect cluster `{}`",
            c.connect_cluster
        ));
    };
    let config = match endpoint.config(&c.name) {
        Ok(Some(config)) => config,
        Ok(None) => return Status::Missing,
        Err(e) => return Status::Unchecked(reports::redact::redact_text(&e)),
    };
    let mut diffs = vec![];
    for (k, v) in &c.config {
        let secret = secrets::is_secret_key(k);
        match config.get(k) {
            Some(w) if same_config(v, w) => {}
            Some(_) if secret => diffs.push(format!("{k} differs (a secret: values not shown)")),
            Some(w) => diffs.push(format!("{k}={v} declared, {w} on the worker")),
            None if secret => diffs.push(format!("{k} declared, not set on the worker")),
            None => diffs.push(format!("{k}={v} declared, not set on the worker")),
        }
    }
    if diffs.is_empty() {
        Status::Present
    } else {
        Status::Differs(diffs.join("; "))
    }
}

fn registry_schema(s: &declarations::Schema) -> registry::Schema {
    registry::Schema {
        schema_type: match s.schema_type {
            declarations::SchemaType::Avro => registry::SchemaType::Avro,
            declarations::SchemaType::Json => registry::SchemaType::Json,
            declarations::SchemaType::Protobuf => registry::SchemaType::Protobuf,
        },
        schema: s.schema.clone(),
        references: s
            .references
            .iter()
            .map(|r| registry::Reference {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version: r.version,
            })
            .collect(),
    }
}

/// A declared schema against one side's registries: registered under its subject with the
/// same content (canonical form and references' content), in any of them.
pub fn schema_status(
    s: &declarations::Schema,
    registries: &[&dyn registry::SchemaRegistry],
) -> Status {
    use registry::compare::content_identity;
    if registries.is_empty() {
        return Status::Unchecked("no schema registry given for this side".into());
    }
    let declared = registry_schema(s);
    let mut held = vec![];
    for r in registries {
        let versions = match r.versions(&s.subject) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Status::Unchecked(e.to_string()),
        };
        let want = match content_identity(*r, &declared) {
            Ok(Ok(id)) => id,
            Ok(Err(detail)) => return Status::Differs(format!("the declared schema: {detail}")),
            Err(e) => return Status::Differs(format!("the declared schema: {e}")),
        };
        for v in versions.iter().rev() {
            let got = r
                .version(&s.subject, *v)
                .map_err(|e| e.to_string())
                .and_then(|rs| content_identity(*r, &rs.schema).map_err(|e| e.to_string()));
            match got {
                Ok(Ok(id)) if id == want => return Status::Present,
                Ok(_) => {}
                Err(e) => return Status::Unchecked(e),
            }
        }
        held.extend(versions.iter().map(|v| format!("{} v{v}", r.url())));
    }
    if held.is_empty() {
        Status::Missing
    } else {
        Status::Differs(format!(
            "no version holds the declared content (held: {})",
            held.join(", ")
        ))
    }
}

/// Connectors and schemas on both sides (blocking HTTP), grouped by namespace.
fn connectors_and_schemas(
    decls: &Declarations,
    endpoints: &Endpoints,
) -> Result<Vec<(String, Item)>, PreflightError> {
    let rest = |list: &[(Option<String>, String)], cluster: &str| {
        list.iter()
            .find(|(name, _)| name.as_deref() == Some(cluster))
            .or_else(|| list.iter().find(|(name, _)| name.is_none()))
            .map(|(_, url)| harness::ConnectRest::new(url.clone()))
    };
    let mut out = vec![];
    for c in &decls.connectors {
        let (s, t) = (
            rest(&endpoints.source_connect, &c.connect_cluster),
            rest(&endpoints.target_connect, &c.connect_cluster),
        );
        out.push((
            c.namespace.clone(),
            Item {
                kind: "connector",
                resource: c.name.clone(),
                declared_at: c.at.to_string(),
                source: connector_status(c, s.as_ref().map(|r| r as &dyn ConnectorConfigs)),
                target: connector_status(c, t.as_ref().map(|r| r as &dyn ConnectorConfigs)),
            },
        ));
    }
    if !decls.schemas.is_empty() {
        let sources = endpoints
            .source_registries
            .iter()
            .map(crate::registries::client)
            .collect::<Result<Vec<_>, _>>()?;
        let target = endpoints
            .target_registry
            .as_ref()
            .map(crate::registries::client)
            .transpose()?;
        let source_refs: Vec<&dyn registry::SchemaRegistry> = sources
            .iter()
            .map(|r| r as &dyn registry::SchemaRegistry)
            .collect();
        let target_refs: Vec<&dyn registry::SchemaRegistry> = target
            .iter()
            .map(|r| r as &dyn registry::SchemaRegistry)
            .collect();
        for s in &decls.schemas {
            out.push((
                s.namespace.clone(),
                Item {
                    kind: "schema",
                    resource: s.subject.clone(),
                    declared_at: s.at.to_string(),
                    source: schema_status(s, &source_refs),
                    target: schema_status(s, &target_refs),
                },
            ));
        }
    }
    Ok(out)
}

/// Reads what one cluster holds of the declared topics, and its ACLs.
async fn state(
    admin: &Admin,
    side: &'static str,
    topics: &[ExpectedTopic],
) -> Result<ClusterState, PreflightError> {
    let described = admin
        .describe_all_topics()
        .await
        .map_err(|source| PreflightError::Cluster { side, source })?;
    let mut state = ClusterState {
        topics: described
            .into_iter()
            .map(|t| {
                let rf = t
                    .partitions
                    .iter()
                    .map(|p| p.replicas.len())
                    .max()
                    .unwrap_or(0);
                (t.name, (t.partitions.len(), rf))
            })
            .collect(),
        ..ClusterState::default()
    };
    for t in topics.iter().filter(|t| !t.configs.is_empty()) {
        if state.topics.contains_key(&t.name) && !state.configs.contains_key(&t.name) {
            let configs = admin
                .topic_configs(&t.name)
                .await
                .map_err(|e| e.to_string());
            state.configs.insert(t.name.clone(), configs);
        }
    }
    state.acls = match admin.describe_acls(&AclFilter::any()).await {
        Ok(acls) => Ok(acls),
        Err(AclError::SecurityDisabled { .. }) => {
            Err("no authorizer on this cluster: ACLs are not enforced".into())
        }
        Err(e) => Err(format!("ACLs not described: {e}")),
    };
    Ok(state)
}

/// Compares `decls` with the source and the target (read-only); errors only when a cluster
/// cannot be reached (exit 2).
pub async fn preflight_declared(
    source_props: &ClientProps,
    target_props: &ClientProps,
    decls: &Declarations,
    endpoints: &Endpoints,
    timeout: Duration,
) -> Result<DeclaredReport, PreflightError> {
    let topics = expected_topics(decls);
    let (acls, mut warnings) = expected_acls(decls);
    warnings.extend(decls.warnings());
    let (source, target) = tokio::join!(
        crate::connect("source", source_props, timeout),
        crate::connect("target", target_props, timeout)
    );
    let (source, target) = (source?, target?);
    let (source, target) = tokio::join!(
        state(&source, "source", &topics),
        state(&target, "target", &topics)
    );
    let (source, target) = (source?, target?);
    let mut namespaces = compare(&topics, &acls, &source, &target);
    let (owned, ends) = (decls.clone(), endpoints.clone());
    let more = tokio::task::spawn_blocking(move || connectors_and_schemas(&owned, &ends))
        .await
        .map_err(|e| PreflightError::InvalidOption {
            option: "--resources".into(),
            reason: format!("the connector and schema check failed: {e}"),
        })??;
    for (ns, item) in more {
        match namespaces.iter_mut().find(|n| n.namespace == ns) {
            Some(n) => n.items.push(item),
            None => namespaces.push(NamespaceReport {
                namespace: ns,
                items: vec![item],
            }),
        }
    }
    namespaces.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    let count = |f: fn(&Item) -> &Status| {
        namespaces
            .iter()
            .flat_map(|n| &n.items)
            .filter(|i| f(i).is_problem())
            .count()
    };
    let mut not_checked = vec![];
    for (what, count, given) in [
        (
            "connector(s): no --source-connect / --target-connect",
            decls.connectors.len(),
            !endpoints.source_connect.is_empty() || !endpoints.target_connect.is_empty(),
        ),
        (
            "schema(s): no --source-registry / --target-registry",
            decls.schemas.len(),
            !endpoints.source_registries.is_empty() || endpoints.target_registry.is_some(),
        ),
    ] {
        if count > 0 && !given {
            not_checked.push(format!("{count} {what}"));
        }
    }
    let mut report = DeclaredReport {
        schema_version: SCHEMA_VERSION,
        target_problems: count(|i| &i.target),
        source_problems: count(|i| &i.source),
        namespaces,
        not_checked,
        warnings,
    };
    for w in &mut report.warnings {
        *w = reports::redact::redact_text(w);
    }
    Ok(report)
}

/// What `props`' cluster holds, for `cutover plan --export`: every non-internal topic with the
/// configs set on it (not defaults), every ACL (none, with a note, when the cluster has no
/// authorizer or they cannot be described). Read-only.
pub async fn holdings(
    props: &ClientProps,
    timeout: Duration,
) -> Result<
    (
        Vec<declarations::export::HeldTopic>,
        Vec<declarations::export::HeldAcl>,
        Vec<String>,
    ),
    PreflightError,
> {
    use declarations::export::{HeldAcl, HeldTopic};
    use declarations::StrimziResourceType as S;
    let admin = crate::connect("source", props, timeout).await?;
    let err = |source| PreflightError::Cluster {
        side: "source",
        source,
    };
    let described: Vec<_> = admin
        .describe_all_topics()
        .await
        .map_err(err)?
        .into_iter()
        .filter(|t| !verify::reader::is_internal_topic(&t.name))
        .collect();
    let names: Vec<String> = described.iter().map(|t| t.name.clone()).collect();
    let mut configs = admin.topics_configs_explicit(&names).await.map_err(err)?;
    let mut topics: Vec<HeldTopic> = described
        .into_iter()
        .map(|t| HeldTopic {
            configs: configs.remove(&t.name).unwrap_or_default(),
            partitions: t.partitions.len() as u32,
            replication_factor: t
                .partitions
                .iter()
                .map(|p| p.replicas.len())
                .max()
                .unwrap_or(0) as u32,
            name: t.name,
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let mut notes = vec![];
    let bindings = match admin.describe_acls(&AclFilter::any()).await {
        Ok(acls) => acls,
        Err(AclError::SecurityDisabled { .. }) => {
            notes.push("the cluster has no authorizer: no ACLs exported".to_string());
            vec![]
        }
        Err(e) => {
            notes.push(format!("ACLs not exported: {e}"));
            vec![]
        }
    };
    let acls = bindings
        .into_iter()
        .map(|b| HeldAcl {
            resource_type: match b.resource_type {
                ResourceType::Topic => S::Topic,
                ResourceType::Group => S::Group,
                ResourceType::Cluster => S::Cluster,
                ResourceType::TransactionalId => S::TransactionalId,
            },
            pattern: match b.pattern {
                PatternType::Literal => declarations::PatternType::Literal,
                PatternType::Prefixed => declarations::PatternType::Prefixed,
            },
            operation: match b.operation {
                AclOperation::All => Operation::All,
                AclOperation::Read => Operation::Read,
                AclOperation::Write => Operation::Write,
                AclOperation::Create => Operation::Create,
                AclOperation::Delete => Operation::Delete,
                AclOperation::Alter => Operation::Alter,
                AclOperation::Describe => Operation::Describe,
                AclOperation::ClusterAction => Operation::ClusterAction,
                AclOperation::DescribeConfigs => Operation::DescribeConfigs,
                AclOperation::AlterConfigs => Operation::AlterConfigs,
                AclOperation::IdempotentWrite => Operation::IdempotentWrite,
            },
            allow: b.permission == harness::Permission::Allow,
            principal: b.principal,
            name: b.name,
            host: b.host,
        })
        .collect();
    Ok((topics, acls, notes))
}

/// How many groups' committed offsets are read at once (each a coordinator look-up and an
/// offset fetch: waiting, not computing).
const GROUP_READERS: usize = 8;

/// The consumer groups of `props`' cluster and the (non-internal) topics each holds committed
/// offsets on, for `cutover plan --source`: the groups listed (`ListGroups`), then each group's
/// committed offsets fetched (`OffsetFetch`) by a read-only client that names the group but
/// never joins it nor commits. Groups without a committed offset on those topics are left out
/// (counted in the notes). Read-only; an error when the cluster cannot be reached.
pub async fn live_groups(
    props: &ClientProps,
    timeout: Duration,
) -> Result<(Vec<declarations::plan::LiveGroup>, Vec<String>), PreflightError> {
    let admin = crate::connect("source", props, timeout).await?;
    let err = |source| PreflightError::Cluster {
        side: "source",
        source,
    };
    let partitions: Vec<(String, i32)> = admin
        .describe_all_topics()
        .await
        .map_err(err)?
        .into_iter()
        .filter(|t| !verify::reader::is_internal_topic(&t.name))
        .flat_map(|t| {
            let name = t.name;
            (0..t.partitions.len() as i32).map(move |p| (name.clone(), p))
        })
        .collect();
    let props = props.clone();
    tokio::task::spawn_blocking(move || read_live_groups(&props, &partitions, timeout))
        .await
        .map_err(|e| PreflightError::InvalidOption {
            option: "--source".into(),
            reason: format!("reading the consumer groups failed: {e}"),
        })?
        .map_err(err)
}

fn read_live_groups(
    props: &ClientProps,
    partitions: &[(String, i32)],
    timeout: Duration,
) -> Result<(Vec<declarations::plan::LiveGroup>, Vec<String>), harness::HarnessError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let kafka = |operation: String, e: rdkafka::error::KafkaError| harness::HarnessError::Kafka {
        cluster: "source".into(),
        operation,
        detail: e.to_string(),
    };
    let lister: BaseConsumer<harness::quiet::QuietEof> = props
        .reader("cutover-plan")?
        .create_with_context(harness::quiet::QuietEof)
        .map_err(|e| kafka("creating a client".into(), e))?;
    let list = lister
        .fetch_group_list(None, timeout)
        .map_err(|e| kafka("listing consumer groups".into(), e))?;
    let mut groups: Vec<String> = list.groups().iter().map(|g| g.name().to_string()).collect();
    groups.sort();
    groups.dedup();
    let mut tpl = TopicPartitionList::new();
    for (t, p) in partitions {
        tpl.add_partition(t, *p);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = GROUP_READERS.min(groups.len()).max(1);
    let read_one = |group: &str| -> Result<Vec<String>, harness::HarnessError> {
        if tpl.count() == 0 {
            return Ok(vec![]);
        }
        let reader: BaseConsumer<harness::quiet::QuietEof> = props
            .reader(group)?
            .create_with_context(harness::quiet::QuietEof)
            .map_err(|e| kafka("creating a client".into(), e))?;
        let committed = reader
            .committed_offsets(tpl.clone(), timeout)
            .map_err(|e| kafka(format!("committed offsets of group {group}"), e))?;
        let mut topics: Vec<String> = committed
            .elements()
            .iter()
            .filter(|e| matches!(e.offset(), Offset::Offset(o) if o >= 0))
            .map(|e| e.topic().to_string())
            .collect();
        topics.sort();
        topics.dedup();
        Ok(topics)
    };
    let mut answers: Vec<(usize, Result<Vec<String>, harness::HarnessError>)> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = vec![];
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(group) = groups.get(i) else { break };
                            mine.push((i, read_one(group)));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
    if answers.len() != groups.len() {
        return Err(harness::HarnessError::Kafka {
            cluster: "source".into(),
            operation: "reading committed offsets".into(),
            detail: "a reader thread panicked".into(),
        });
    }
    answers.sort_by_key(|(i, _)| *i);
    let mut out = vec![];
    let mut idle = 0;
    for ((_, topics), group) in answers.into_iter().zip(&groups) {
        let topics = topics?;
        if topics.is_empty() {
            idle += 1;
        } else {
            out.push(declarations::plan::LiveGroup {
                group: group.clone(),
                topics,
            });
        }
    }
    let mut notes = vec![];
    if idle > 0 {
        notes.push(format!(
            "{idle} consumer group(s) without committed offsets on the source's topics left out"
        ));
    }
    Ok((out, notes))
}

/// Text: a table per namespace, then what was not checked.
pub fn text(report: &DeclaredReport) -> String {
    let mut out = String::new();
    for ns in &report.namespaces {
        out.push_str(&format!("namespace {}\n", ns.namespace));
        out.push_str("| kind | resource | source | target | declared at |\n| --- | --- | --- | --- | --- |\n");
        for i in &ns.items {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                i.kind,
                i.resource,
                i.source.word(),
                i.target.word(),
                i.declared_at
            ));
        }
        out.push('\n');
    }
    for n in &report.not_checked {
        out.push_str(&format!("not checked: {n}\n"));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&format!(
        "{} declared item(s) missing or different on the target, {} on the source\n",
        report.target_problems, report.source_problems
    ));
    out
}

/// JSON (`schema_version`, `namespaces[].items[]` with `source` and `target` statuses).
pub fn json(report: &DeclaredReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// JUnit XML, as plain preflight's (`reports::finding`): a suite per namespace, a case per
/// declared item. A case fails when the item is missing or different on the target (what makes
/// the exit 1), with the fix; it is skipped when the target could not be checked (no endpoint,
/// no authorizer), with the reason; a problem on the source alone is a note in its output.
/// What was not checked and the warnings go to the first suite's output.
pub fn junit(report: &DeclaredReport) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{Report, TestCase, TestCaseStatus, TestSuite};
    let mut junit = Report::new("cutover preflight --resources");
    for ns in &report.namespaces {
        let mut suite = TestSuite::new(format!("preflight.resources.{}", ns.namespace));
        for i in &ns.items {
            let status = match &i.target {
                Status::Unchecked(reason) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("target: unchecked: {reason}"));
                    s
                }
                t => {
                    let problem = match t {
                        Status::Missing => Some((
                            format!("{} {}: missing on the target", i.kind, i.resource),
                            format!("create it on the target as declared at {}", i.declared_at),
                        )),
                        Status::Differs(d) => Some((
                            format!("{} {}: differs on the target: {d}", i.kind, i.resource),
                            format!("align the target with the declaration at {}", i.declared_at),
                        )),
                        _ => None,
                    };
                    let errors: Vec<(String, &str)> = problem
                        .iter()
                        .map(|(message, fix)| (message.clone(), fix.as_str()))
                        .collect();
                    reports::finding::junit_status(i.kind, &errors)
                }
            };
            let mut case = TestCase::new(format!("{} {}", i.kind, i.resource), status);
            case.set_classname(format!("preflight.resources.{}", i.kind));
            let mut notes = vec![format!("declared at {}", i.declared_at)];
            if i.source != Status::Present {
                notes.push(format!("source: {}", i.source.word()));
            }
            case.set_system_out(notes.join("\n"));
            suite.add_test_case(case);
        }
        let notes: Vec<String> = report
            .not_checked
            .iter()
            .map(|n| format!("not checked: {n}"))
            .chain(report.warnings.iter().map(|w| format!("warning: {w}")))
            .collect();
        if junit.test_suites.is_empty() && !notes.is_empty() {
            suite.set_system_out(notes.join("\n"));
        }
        junit.add_test_suite(suite);
    }
    junit.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn decls() -> Declarations {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../declarations/tests/fixtures");
        declarations::load(&[dir.join("ns4kafka"), dir.join("strimzi")], None).expect("fixtures")
    }

    #[test]
    fn ns4kafka_owner_entries_become_the_executors_kafka_acls() {
        let (acls, warnings) = expected_acls(&decls());
        assert!(warnings.is_empty(), "{warnings:?}");
        let of = |ns: &str| -> Vec<String> {
            acls.iter()
                .filter(|a| a.namespace == ns)
                .map(ExpectedAcl::describe)
                .collect()
        };
        let orders = of("orders");
        for want in [
            "User:svc-orders Write on Topic:PREFIXED:orders.",
            "User:svc-orders Read on Topic:PREFIXED:orders.",
            "User:svc-orders DescribeConfigs on Topic:PREFIXED:orders.",
            "User:svc-orders Read on Group:PREFIXED:connect-orders.",
        ] {
            assert!(
                orders.iter().any(|a| a == want),
                "{want} not in {orders:#?}"
            );
        }
        // billing: transactions enabled → connect-cluster-<group> and <group> transactional
        // ids; its KafkaStream → Create/Delete on its prefix; its READ grant on orders.created.
        let billing = of("billing");
        for want in [
            "User:svc-billing Read on Group:PREFIXED:billing.",
            "User:svc-billing Write on TransactionalId:PREFIXED:connect-cluster-billing.",
            "User:svc-billing Describe on TransactionalId:PREFIXED:billing.",
            "User:svc-billing Create on Topic:PREFIXED:billing.invoicer",
            "User:svc-billing Read on Topic:LITERAL:orders.created",
        ] {
            assert!(
                billing.iter().any(|a| a == want),
                "{want} not in {billing:#?}"
            );
        }
        let strimzi = of("payments-app");
        assert!(
            strimzi
                .iter()
                .any(|a| a == "User:CN=payments-app Write on Topic:PREFIXED:payments."),
            "{strimzi:#?}"
        );
    }

    #[test]
    fn comparison_finds_missing_differing_and_wider_grants() {
        let d = decls();
        let topics = expected_topics(&d);
        let (acls, _) = expected_acls(&d);
        let orders_acls: Vec<ExpectedAcl> = acls
            .into_iter()
            .filter(|a| a.principal == "User:svc-orders" && a.resource_type == ResourceType::Topic)
            .collect();
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "delete".to_string());
        configs.insert("min.insync.replicas".to_string(), "1".to_string());
        configs.insert("retention.ms".to_string(), "86400000".to_string());
        let mut state = ClusterState::default();
        state.topics.insert("orders.created".into(), (3, 1));
        state.configs.insert("orders.created".into(), Ok(configs));
        // Write and Read on every topic (`*`), DescribeConfigs not granted.
        state.acls = Ok(vec![
            AclBinding::allow(
                "User:svc-orders",
                AclOperation::Write,
                ResourceType::Topic,
                "*",
                PatternType::Literal,
            ),
            AclBinding::allow(
                "User:svc-orders",
                AclOperation::Read,
                ResourceType::Topic,
                "orders",
                PatternType::Prefixed,
            ),
        ]);
        let empty = ClusterState {
            acls: Err("no authorizer".into()),
            ..ClusterState::default()
        };
        let report = compare(&topics, &orders_acls, &state, &empty);
        let orders = report
            .iter()
            .find(|n| n.namespace == "orders")
            .expect("orders");
        let topic = orders
            .items
            .iter()
            .find(|i| i.resource == "orders.created")
            .expect("topic");
        assert_eq!(
            topic.source,
            Status::Differs("retention.ms=604800000 declared, 86400000 on the broker".into())
        );
        assert_eq!(topic.target, Status::Missing);
        let status = |op: &str| {
            orders
                .items
                .iter()
                .find(|i| i.resource == format!("User:svc-orders {op} on Topic:PREFIXED:orders."))
                .map(|i| i.source.clone())
        };
        assert_eq!(
            status("Write"),
            Some(Status::Present),
            "a literal * covers the prefix"
        );
        assert_eq!(
            status("Read"),
            Some(Status::Present),
            "a shorter prefix covers it"
        );
        assert_eq!(status("DescribeConfigs"), Some(Status::Missing));
        assert!(matches!(orders.items[1].target, Status::Unchecked(_)));
        assert!(same_config("604800000", "604800000.0"));
        // JUnit: one suite per namespace; a failure per target problem with its fix, a skip
        // per item the target could not check, source problems as notes.
        let mut namespaces = compare(&topics, &orders_acls, &state, &empty);
        namespaces.retain(|n| n.namespace == "orders");
        namespaces[0].items.push(Item {
            kind: "connector",
            resource: "orders.heartbeats".into(),
            declared_at: "orders.yaml:21".into(),
            source: Status::Unchecked("no --source-connect".into()),
            target: Status::Differs("tasks.max=1 declared, 2 on the worker".into()),
        });
        let declared = DeclaredReport {
            schema_version: SCHEMA_VERSION,
            namespaces,
            not_checked: vec!["2 schema(s): no --source-registry / --target-registry".into()],
            warnings: vec!["a warning".into()],
            target_problems: 2,
            source_problems: 2,
        };
        insta::assert_snapshot!(
            "declared_junit",
            junit(&declared)
                .expect("serializes")
                .replace(env!("CARGO_MANIFEST_DIR"), "<preflight>")
        );
        assert!(same_config("compact, delete", "compact,delete"));
        assert!(!same_config("compact", "delete"));
    }

    /// Versions of subjects in memory (the registry crate's own test registry is private).
    #[derive(Default)]
    struct Subjects(std::sync::Mutex<BTreeMap<(String, u32), registry::Schema>>);

    fn not_found() -> registry::RegistryError {
        registry::RegistryError::Http {
            method: "GET",
            url: "memory://".into(),
            status: 404,
            body: "not found".into(),
        }
    }

    impl Subjects {
        fn put(&self, subject: &str, version: u32, _id: u32, schema: registry::Schema) {
            self.0
                .lock()
                .expect("lock")
                .insert((subject.into(), version), schema);
        }
    }

    impl registry::SchemaRegistry for Subjects {
        fn url(&self) -> &str {
            "memory://"
        }
        fn subjects(&self) -> registry::Result<Vec<String>> {
            Ok(self
                .0
                .lock()
                .expect("lock")
                .keys()
                .map(|k| k.0.clone())
                .collect())
        }
        fn versions(&self, subject: &str) -> registry::Result<Vec<u32>> {
            let v: Vec<u32> = self
                .0
                .lock()
                .expect("lock")
                .keys()
                .filter(|k| k.0 == subject)
                .map(|k| k.1)
                .collect();
            if v.is_empty() {
                Err(not_found())
            } else {
                Ok(v)
            }
        }
        fn version(
            &self,
            subject: &str,
            version: u32,
        ) -> registry::Result<registry::RegisteredSchema> {
            let schema = self
                .0
                .lock()
                .expect("lock")
                .get(&(subject.to_string(), version))
                .cloned()
                .ok_or_else(not_found)?;
            Ok(registry::RegisteredSchema {
                subject: subject.into(),
                version,
                id: version,
                schema,
            })
        }
        fn schema_by_id(&self, _: u32) -> registry::Result<Option<registry::Schema>> {
            Ok(None)
        }
        fn id_versions(&self, _: u32) -> registry::Result<Vec<(String, u32)>> {
            Ok(vec![])
        }
        fn register(&self, _: &str, _: &registry::Schema) -> registry::Result<u32> {
            Err(not_found())
        }
        fn lookup(
            &self,
            _: &str,
            _: &registry::Schema,
        ) -> registry::Result<Option<registry::RegisteredSchema>> {
            Ok(None)
        }
        fn compatibility(&self, _: Option<&str>) -> registry::Result<Option<String>> {
            Ok(None)
        }
        fn set_compatibility(&self, _: Option<&str>, _: &str) -> registry::Result<()> {
            Ok(())
        }
    }

    struct FakeConnect(BTreeMap<String, BTreeMap<String, String>>);

    impl ConnectorConfigs for FakeConnect {
        fn config(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, String> {
            Ok(self.0.get(name).cloned())
        }
    }

    #[test]
    fn connectors_compare_declared_values_and_never_show_secrets() {
        let d = decls();
        let mut c = d.connectors[0].clone();
        c.config
            .insert("connection.password".into(), "declared-secret".into());
        let mut running: BTreeMap<String, String> = c.config.clone();
        running.insert("name".into(), c.name.clone());
        running.insert("tasks.max".into(), "2".into());
        running.insert("connection.password".into(), "other-secret".into());
        let fake = FakeConnect([(c.name.clone(), running)].into_iter().collect());
        let status = connector_status(&c, Some(&fake));
        let Status::Differs(detail) = status else {
            panic!("{status:?}")
        };
        assert!(
            detail.contains("tasks.max=1 declared, 2 on the worker"),
            "{detail}"
        );
        assert!(
            detail.contains("connection.password differs (a secret: values not shown)"),
            "{detail}"
        );
        assert!(!detail.contains("secret\""), "{detail}");
        assert!(
            !detail.contains("declared-secret") && !detail.contains("other-secret"),
            "{detail}"
        );
        let none = FakeConnect(BTreeMap::new());
        assert_eq!(connector_status(&c, Some(&none)), Status::Missing);
        assert!(matches!(connector_status(&c, None), Status::Unchecked(_)));
    }

    #[test]
    fn schemas_are_present_by_content_not_by_text() {
        let d = decls();
        let s = d
            .schemas
            .iter()
            .find(|s| s.subject == "orders.created-value")
            .expect("schema");
        let reg = Subjects::default();
        assert_eq!(schema_status(s, &[&reg]), Status::Missing);
        // Another schema under the subject.
        reg.put(
            &s.subject,
            1,
            1,
            registry::Schema::new(registry::SchemaType::Avro, r#"{"type":"string"}"#),
        );
        assert!(matches!(schema_status(s, &[&reg]), Status::Differs(_)));
        // The declared schema, written differently (whitespace, field order of the record's
        // attributes): the same canonical form.
        reg.put(
            &s.subject,
            2,
            7,
            registry::Schema::new(
                registry::SchemaType::Avro,
                r#"{"namespace":"com.example.orders","type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}"#,
            ),
        );
        assert_eq!(schema_status(s, &[&reg]), Status::Present);
        assert!(matches!(schema_status(s, &[]), Status::Unchecked(_)));
    }
}
