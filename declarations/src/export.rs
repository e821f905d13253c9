//! `cutover plan --export ns4kafka|strimzi`: what a cluster holds (its topics with their
//! non-default configs, its ACLs) written as declarations a team can review and commit before
//! the move. No server-side fields (`status`, `generation`, timestamps). The output reads back
//! through [`crate::load`].
//!
//! ns4kafka has no principal in its resources: an ACL is granted to a namespace, whose
//! `kafkaUser` is the principal. The export writes `grantedTo` as the principal's user name
//! (`User:svc-orders` → `svc-orders`; `User:*` → `*`, a public entry), to be replaced by the
//! namespace whose `kafkaUser` it is. A principal's `Write` and `Read` on one topic pattern are
//! an `OWNER` entry (what ns4kafka's executor turns into Write, Read and DescribeConfigs),
//! `Read` on a group an `OWNER` of the group; other rights are `READ`/`WRITE` entries; cluster
//! rights and DENY entries have no ns4kafka form and are listed as comments.
//!
//! Strimzi: a `KafkaTopic` per topic (`metadata.name` a Kubernetes name derived from the
//! topic's, `spec.topicName` the topic's when they differ) and a `KafkaUser` per principal
//! (`User:CN=x` → `x` with `authentication.type: tls`) with its rules by resource. The
//! `strimzi.io/cluster` label is left for the team to add (it names their Kafka resource).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{Operation, PatternType, StrimziResourceType};

/// A topic as a cluster holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTopic {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// Only the configs set on the topic itself (not broker or built-in defaults).
    pub configs: BTreeMap<String, String>,
}

/// An ACL as a cluster holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAcl {
    /// `User:alice`, `User:CN=alice`, `User:*`.
    pub principal: String,
    pub resource_type: StrimziResourceType,
    /// The resource's name (`kafka-cluster` for the cluster).
    pub name: String,
    pub pattern: PatternType,
    pub operation: Operation,
    pub host: String,
    pub allow: bool,
}

/// A YAML double-quoted scalar (JSON's escaping is YAML's).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
}

fn op_name(op: Operation) -> &'static str {
    Operation::ALL
        .iter()
        .find(|(o, _)| *o == op)
        .map_or("All", |(_, n)| n)
}

fn user_of(principal: &str) -> String {
    match principal.split_once(':') {
        Some((_, "*")) => "*".to_string(),
        Some((_, name)) => name.strip_prefix("CN=").unwrap_or(name).to_string(),
        None => principal.to_string(),
    }
}

/// A name of `[a-zA-Z0-9_.-]` (ns4kafka's resource names) from any text.
fn ns4kafka_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A Kubernetes resource name (lowercase alphanumerics, `-` and `.`, at most 253) from a
/// topic name.
pub fn k8s_name(topic: &str) -> String {
    let mut name: String = topic
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    name.truncate(253);
    let trimmed = name.trim_matches(|c| c == '-' || c == '.').to_string();
    if trimmed.is_empty() {
        "topic".to_string()
    } else {
        trimmed
    }
}

fn metadata(out: &mut String, name: &str, namespace: Option<&str>) {
    let _ = writeln!(out, "metadata:\n  name: {}", q(name));
    if let Some(ns) = namespace {
        let _ = writeln!(out, "  namespace: {}", q(ns));
    }
}

fn configs(out: &mut String, key: &str, configs: &BTreeMap<String, String>) {
    if configs.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {key}:");
    for (k, v) in configs {
        let _ = writeln!(out, "    {}: {}", q(k), q(v));
    }
}

/// (principal, resource type, name, pattern) → the allowed operations, from host `*`.
type Grants = BTreeMap<(String, StrimziResourceType, String, PatternType), Vec<Operation>>;

fn grants(acls: &[HeldAcl]) -> (Grants, Vec<&HeldAcl>) {
    let mut out: Grants = BTreeMap::new();
    let mut other = vec![];
    for a in acls {
        if !a.allow || a.host != "*" {
            other.push(a);
            continue;
        }
        let ops = out
            .entry((
                a.principal.clone(),
                a.resource_type,
                a.name.clone(),
                a.pattern,
            ))
            .or_default();
        if !ops.contains(&a.operation) {
            ops.push(a.operation);
        }
    }
    for ops in out.values_mut() {
        ops.sort();
    }
    (out, other)
}

/// ns4kafka `Topic` and `AccessControlEntry` documents; `namespace` is written as
/// `metadata.namespace` (else left out, for `kafkactl -n`).
pub fn ns4kafka(topics: &[HeldTopic], acls: &[HeldAcl], namespace: Option<&str>) -> String {
    let mut out = String::from(
        "# Exported by `cutover plan --export ns4kafka`: review before committing.\n\
         # grantedTo holds each ACL's principal user name: replace it with the namespace whose\n\
         # spec.kafkaUser it is.\n",
    );
    for t in topics {
        out.push_str("---\napiVersion: v1\nkind: Topic\n");
        metadata(&mut out, &ns4kafka_name(&t.name), namespace);
        let _ = writeln!(
            out,
            "spec:\n  replicationFactor: {}\n  partitions: {}",
            t.replication_factor, t.partitions
        );
        configs(&mut out, "configs", &t.configs);
    }
    let (grants, other) = grants(acls);
    let mut skipped: Vec<String> = other
        .iter()
        .map(|a| {
            format!(
                "{} {} {} on {:?}:{:?}:{} from {}",
                a.principal,
                if a.allow { "ALLOW" } else { "DENY" },
                op_name(a.operation),
                a.resource_type,
                a.pattern,
                a.name,
                a.host
            )
        })
        .collect();
    for ((principal, kind, name, pattern), ops) in &grants {
        let has = |o: Operation| ops.contains(&o) || ops.contains(&Operation::All);
        let (resource_type, entries): (&str, Vec<&str>) = match kind {
            StrimziResourceType::Topic if has(Operation::Write) && has(Operation::Read) => {
                ("TOPIC", vec!["OWNER"])
            }
            StrimziResourceType::Topic => (
                "TOPIC",
                [(Operation::Read, "READ"), (Operation::Write, "WRITE")]
                    .iter()
                    .filter(|(o, _)| has(*o))
                    .map(|(_, p)| *p)
                    .collect(),
            ),
            StrimziResourceType::Group if has(Operation::Read) => ("GROUP", vec!["OWNER"]),
            StrimziResourceType::TransactionalId if has(Operation::Write) => {
                ("TRANSACTIONAL_ID", vec!["WRITE"])
            }
            _ => ("", vec![]),
        };
        if entries.is_empty() {
            skipped.push(format!(
                "{principal} {} on {kind:?}:{pattern:?}:{name}: no ns4kafka form",
                ops.iter()
                    .map(|o| op_name(*o))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
            continue;
        }
        let user = user_of(principal);
        for permission in entries {
            let who = if user == "*" { "public" } else { &user };
            let entry = ns4kafka_name(&format!(
                "{who}-{}-{}-{name}",
                resource_type.to_ascii_lowercase(),
                permission.to_ascii_lowercase()
            ));
            out.push_str("---\napiVersion: v1\nkind: AccessControlEntry\n");
            metadata(&mut out, &entry, namespace);
            let pattern = match pattern {
                PatternType::Literal => "LITERAL",
                PatternType::Prefixed => "PREFIXED",
            };
            let _ = writeln!(
                out,
                "spec:\n  resourceType: {resource_type}\n  resource: {}\n  resourcePatternType: {pattern}\n  permission: {permission}\n  grantedTo: {}",
                q(name),
                q(&user)
            );
        }
    }
    if !skipped.is_empty() {
        out.push_str("# Not exported (no ns4kafka form):\n");
        for s in skipped {
            let _ = writeln!(out, "#   {s}");
        }
    }
    out
}

/// Strimzi `KafkaTopic` and `KafkaUser` documents (`kafka.strimzi.io/v1beta2`).
pub fn strimzi(topics: &[HeldTopic], acls: &[HeldAcl]) -> String {
    let mut out = String::from(
        "# Exported by `cutover plan --export strimzi`: review before committing, and add the\n\
         # strimzi.io/cluster label naming your Kafka resource to every document.\n",
    );
    for t in topics {
        let name = k8s_name(&t.name);
        out.push_str("---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\n");
        metadata(&mut out, &name, None);
        out.push_str("spec:\n");
        if name != t.name {
            let _ = writeln!(out, "  topicName: {}", q(&t.name));
        }
        let _ = writeln!(
            out,
            "  partitions: {}\n  replicas: {}",
            t.partitions, t.replication_factor
        );
        configs(&mut out, "config", &t.configs);
    }
    // principal → its rules (by resource), DENY and host-specific ones included.
    let mut users: BTreeMap<String, Vec<&HeldAcl>> = BTreeMap::new();
    let mut skipped = vec![];
    for a in acls {
        if a.principal.ends_with(":*") {
            skipped.push(format!(
                "{} {} on {:?}:{}: a wildcard principal is no KafkaUser",
                a.principal,
                op_name(a.operation),
                a.resource_type,
                a.name
            ));
        } else {
            users.entry(a.principal.clone()).or_default().push(a);
        }
    }
    for (principal, rules) in users {
        let tls = principal.starts_with("User:CN=");
        out.push_str("---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\n");
        metadata(&mut out, &k8s_name(&user_of(&principal)), None);
        out.push_str("spec:\n");
        if tls {
            out.push_str("  authentication:\n    type: tls\n");
        }
        out.push_str("  authorization:\n    type: simple\n    acls:\n");
        let mut by_rule: BTreeMap<
            (bool, String, StrimziResourceType, String, PatternType),
            Vec<Operation>,
        > = BTreeMap::new();
        for r in rules {
            let ops = by_rule
                .entry((
                    r.allow,
                    r.host.clone(),
                    r.resource_type,
                    r.name.clone(),
                    r.pattern,
                ))
                .or_default();
            if !ops.contains(&r.operation) {
                ops.push(r.operation);
            }
        }
        for ((allow, host, kind, name, pattern), mut ops) in by_rule {
            ops.sort();
            let kind_name = match kind {
                StrimziResourceType::Topic => "topic",
                StrimziResourceType::Group => "group",
                StrimziResourceType::Cluster => "cluster",
                StrimziResourceType::TransactionalId => "transactionalId",
            };
            let _ = writeln!(out, "      - resource:\n          type: {kind_name}");
            if kind != StrimziResourceType::Cluster {
                let pattern = match pattern {
                    PatternType::Literal => "literal",
                    PatternType::Prefixed => "prefix",
                };
                let _ = writeln!(
                    out,
                    "          name: {}\n          patternType: {pattern}",
                    q(&name)
                );
            }
            let _ = writeln!(
                out,
                "        operations: [{}]",
                ops.iter()
                    .map(|o| op_name(*o))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if host != "*" {
                let _ = writeln!(out, "        host: {}", q(&host));
            }
            if !allow {
                out.push_str("        type: deny\n");
            }
        }
    }
    if !skipped.is_empty() {
        out.push_str("# Not exported:\n");
        for s in skipped {
            let _ = writeln!(out, "#   {s}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Declarations, Permission, ResourceType};
    use std::path::Path;

    fn held() -> (Vec<HeldTopic>, Vec<HeldAcl>) {
        let topics = vec![HeldTopic {
            name: "Orders_Created".into(),
            partitions: 3,
            replication_factor: 1,
            configs: [("retention.ms".to_string(), "604800000".to_string())].into(),
        }];
        let acl = |principal: &str, kind, name: &str, pattern, operation, allow| HeldAcl {
            principal: principal.into(),
            resource_type: kind,
            name: name.into(),
            pattern,
            operation,
            host: "*".into(),
            allow,
        };
        let acls = vec![
            acl(
                "User:svc-orders",
                StrimziResourceType::Topic,
                "Orders",
                PatternType::Prefixed,
                Operation::Write,
                true,
            ),
            acl(
                "User:svc-orders",
                StrimziResourceType::Topic,
                "Orders",
                PatternType::Prefixed,
                Operation::Read,
                true,
            ),
            acl(
                "User:CN=billing",
                StrimziResourceType::Topic,
                "Orders_Created",
                PatternType::Literal,
                Operation::Read,
                true,
            ),
            acl(
                "User:CN=billing",
                StrimziResourceType::Group,
                "billing",
                PatternType::Prefixed,
                Operation::Read,
                true,
            ),
            acl(
                "User:CN=billing",
                StrimziResourceType::Cluster,
                "kafka-cluster",
                PatternType::Literal,
                Operation::IdempotentWrite,
                true,
            ),
            acl(
                "User:*",
                StrimziResourceType::Topic,
                "public.",
                PatternType::Prefixed,
                Operation::Read,
                true,
            ),
            acl(
                "User:mallory",
                StrimziResourceType::Topic,
                "Orders",
                PatternType::Prefixed,
                Operation::Write,
                false,
            ),
        ];
        (topics, acls)
    }

    #[test]
    fn ns4kafka_export_reads_back_with_owner_read_and_public_entries() {
        let (topics, acls) = held();
        let yaml = ns4kafka(&topics, &acls, Some("orders"));
        let mut d = Declarations::default();
        d.read_str(&yaml, "export.yml", Path::new("."), None)
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(d.topics.len(), 1);
        assert_eq!(d.topics[0].name, "Orders_Created");
        assert_eq!(d.topics[0].namespace, "orders");
        assert_eq!(d.topics[0].configs["retention.ms"], "604800000");
        let entries: Vec<(String, Permission, ResourceType, String)> = d
            .acls
            .iter()
            .map(|a| {
                (
                    a.granted_to.clone(),
                    a.permission,
                    a.resource_type,
                    a.resource.clone(),
                )
            })
            .collect();
        assert!(
            entries.contains(&(
                "svc-orders".into(),
                Permission::Owner,
                ResourceType::Topic,
                "Orders".into()
            )),
            "{entries:?}"
        );
        assert!(
            entries.contains(&(
                "billing".into(),
                Permission::Read,
                ResourceType::Topic,
                "Orders_Created".into()
            )),
            "{entries:?}"
        );
        assert!(
            entries.contains(&(
                "billing".into(),
                Permission::Owner,
                ResourceType::Group,
                "billing".into()
            )),
            "{entries:?}"
        );
        assert!(
            entries.contains(&(
                "*".into(),
                Permission::Read,
                ResourceType::Topic,
                "public.".into()
            )),
            "{entries:?}"
        );
        assert_eq!(entries.len(), 4, "{yaml}");
        assert!(yaml.contains("#   User:mallory DENY Write"), "{yaml}");
        assert!(yaml.contains("IdempotentWrite on Cluster"), "{yaml}");
        assert!(
            !yaml.contains("status") && !yaml.contains("generation"),
            "{yaml}"
        );
    }

    #[test]
    fn strimzi_export_reads_back_with_kubernetes_names_and_rules() {
        let (topics, acls) = held();
        let yaml = strimzi(&topics, &acls);
        let mut d = Declarations::default();
        d.read_str(&yaml, "export.yml", Path::new("."), None)
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(d.strimzi_topics[0].name, "orders-created");
        assert_eq!(d.strimzi_topics[0].topic_name, "Orders_Created");
        assert_eq!(d.strimzi_topics[0].replicas, Some(1));
        let billing = d
            .strimzi_users
            .iter()
            .find(|u| u.name == "billing")
            .expect("billing");
        assert_eq!(billing.principal(), "User:CN=billing");
        assert_eq!(billing.acls.len(), 3);
        let mallory = d
            .strimzi_users
            .iter()
            .find(|u| u.name == "mallory")
            .expect("mallory");
        assert!(!mallory.acls[0].allow, "a DENY stays a deny rule");
        assert!(yaml.contains("#   User:* Read"), "{yaml}");
    }
}
