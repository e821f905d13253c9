//! ns4kafka's ownership rules, as its `AclService`, `TopicService` and `SchemaService`
//! implement them (<https://github.com/michelin/ns4kafka/tree/master/src/main/java/com/michelin/ns4kafka/service>):
//!
//! - a namespace owns a resource when an `OWNER` entry granted to it, of the resource's type,
//!   covers the name: `PREFIXED` by `startsWith`, `LITERAL` by equality
//!   (`AclService.isNamespaceOwnerOfResource`);
//! - two topic names collide when they are equal once every `.` is read as `_` (Kafka's own
//!   metric-name collision; `TopicService.hasCollision`);
//! - a schema subject is owned through its topic: `<topic>-key`/`<topic>-value` (topic name
//!   strategy), a subject without `-` (record name strategy) as itself, else the part before
//!   the last `-` (topic record name strategy) (`SchemaService.extractResourceNameFromSubject`,
//!   `isNamespaceOwnerOfSubject`);
//! - a consumer group is owned by an `OWNER` entry of type `GROUP` alone, by prefix or literal
//!   name (`ConsumerGroupService.isNamespaceOwnerOfConsumerGroup`); the `.`/`_` collision is a
//!   topic rule (`TopicService`), not a group's. A Strimzi `KafkaUser` whose `allow` rule lets
//!   it `Read` a group (or `All`) is that group's owner here: Strimzi has no ownership, and the
//!   user allowed to consume in a group is the application behind it.

use crate::model::{Operation, PatternType, Permission, ResourceType, StrimziResourceType};
use crate::Declarations;

/// A name pattern that confers ownership: a literal name, a prefix, or every name (a Strimzi
/// literal `*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NamePattern {
    Literal(String),
    Prefix(String),
    Any,
}

impl NamePattern {
    fn of(pattern: PatternType, name: &str, star_is_any: bool) -> NamePattern {
        match pattern {
            PatternType::Literal if star_is_any && name == "*" => NamePattern::Any,
            PatternType::Literal => NamePattern::Literal(name.to_string()),
            PatternType::Prefixed => NamePattern::Prefix(name.to_string()),
        }
    }

    /// Whether the pattern covers `name`.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            NamePattern::Literal(l) => l == name,
            NamePattern::Prefix(p) => name.starts_with(p.as_str()),
            NamePattern::Any => true,
        }
    }
}

/// Every (owner, pattern) that confers ownership of consumer groups: ns4kafka `OWNER` entries of
/// type `GROUP` (by grantee), Strimzi users' `allow` rules on groups holding `Read` or `All`
/// (by user name).
pub fn group_grants(decls: &Declarations) -> Vec<(String, NamePattern)> {
    let mut out: Vec<(String, NamePattern)> = decls
        .acls
        .iter()
        .filter(|a| {
            a.permission == Permission::Owner
                && a.resource_type == ResourceType::Group
                && !a.is_public()
        })
        .map(|a| {
            (
                a.granted_to.clone(),
                NamePattern::of(a.pattern, &a.resource, false),
            )
        })
        .collect();
    for u in &decls.strimzi_users {
        for r in &u.acls {
            if r.resource_type != StrimziResourceType::Group || !r.allows_any(&[Operation::Read]) {
                continue;
            }
            if let Some(name) = &r.name {
                out.push((u.name.clone(), NamePattern::of(r.pattern, name, true)));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The namespaces (or Strimzi users) owning the consumer group `group`, sorted: none for a
/// group no declaration covers.
pub fn group_owners(decls: &Declarations, group: &str) -> Vec<String> {
    let mut out: Vec<String> = group_grants(decls)
        .into_iter()
        .filter(|(_, p)| p.covers(group))
        .map(|(owner, _)| owner)
        .collect();
    out.dedup();
    out
}

/// The namespaces owning `name` of type `kind` (one, unless the declarations overlap).
pub fn owners<'d>(decls: &'d Declarations, kind: ResourceType, name: &str) -> Vec<&'d str> {
    let mut out: Vec<&str> = decls
        .acls
        .iter()
        .filter(|a| a.permission == Permission::Owner && a.covers(kind, name))
        .map(|a| a.granted_to.as_str())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether `namespace` owns `name` of type `kind`.
pub fn is_owner(decls: &Declarations, namespace: &str, kind: ResourceType, name: &str) -> bool {
    owners(decls, kind, name).contains(&namespace)
}

/// Whether two topic names collide (`.` and `_` are one).
pub fn collides(a: &str, b: &str) -> bool {
    a != b && a.replace('.', "_") == b.replace('.', "_")
}

/// The topic (or record name) a subject is owned through.
pub fn subject_resource(subject: &str) -> &str {
    if let Some(topic) = subject
        .strip_suffix("-key")
        .or_else(|| subject.strip_suffix("-value"))
    {
        return topic;
    }
    match subject.rfind('-') {
        None => subject,
        Some(i) => &subject[..i],
    }
}

/// Whether `namespace` owns the schema `subject` (through its topic).
pub fn owns_subject(decls: &Declarations, namespace: &str, subject: &str) -> bool {
    is_owner(
        decls,
        namespace,
        ResourceType::Topic,
        subject_resource(subject),
    )
}

/// What ns4kafka would refuse to apply, as warnings with their place: a topic, connector or
/// schema its namespace does not own, colliding topic names, an ACL granted to a namespace
/// that is not declared (when any namespace is). Not errors: a team's repository often holds
/// its own resources while the OWNER entries live in the platform team's.
pub fn warnings(decls: &Declarations) -> Vec<String> {
    let mut out = vec![];
    let any_owner = !decls.acls.is_empty();
    for t in &decls.topics {
        if any_owner && !is_owner(decls, &t.namespace, ResourceType::Topic, &t.name) {
            out.push(format!(
                "{}: topic `{}`: namespace `{}` holds no OWNER entry covering it (ns4kafka would refuse it)",
                t.at, t.name, t.namespace
            ));
        }
    }
    for (i, a) in decls.topics.iter().enumerate() {
        for b in &decls.topics[i + 1..] {
            if collides(&a.name, &b.name) {
                out.push(format!(
                    "{}: topic `{}` collides with `{}` ({}): `.` and `_` are one in Kafka's metric names",
                    b.at, b.name, a.name, a.at
                ));
            }
        }
    }
    for c in &decls.connectors {
        if any_owner && !is_owner(decls, &c.namespace, ResourceType::Connect, &c.name) {
            out.push(format!(
                "{}: connector `{}`: namespace `{}` holds no OWNER entry of type CONNECT covering it",
                c.at, c.name, c.namespace
            ));
        }
    }
    for s in &decls.schemas {
        if any_owner && !owns_subject(decls, &s.namespace, &s.subject) {
            out.push(format!(
                "{}: subject `{}`: namespace `{}` does not own topic `{}`",
                s.at,
                s.subject,
                s.namespace,
                subject_resource(&s.subject)
            ));
        }
    }
    if !decls.namespaces.is_empty() {
        for a in &decls.acls {
            if !a.is_public() && decls.namespace(&a.granted_to).is_none() {
                out.push(format!(
                    "{}: ACL `{}` is granted to `{}`, which no Namespace declares",
                    a.at.of("spec.grantedTo"),
                    a.name,
                    a.granted_to
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_resolve_to_their_topics_by_the_three_strategies() {
        assert_eq!(subject_resource("orders.v1-value"), "orders.v1");
        assert_eq!(subject_resource("orders.v1-key"), "orders.v1");
        assert_eq!(subject_resource("com.acme.Order"), "com.acme.Order");
        assert_eq!(subject_resource("orders.v1-com.acme.Order"), "orders.v1");
    }

    #[test]
    fn groups_are_owned_by_group_owner_entries_and_strimzi_read_rules() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let d = crate::load(&[dir.join("ns4kafka"), dir.join("strimzi")], None).expect("fixtures");
        // ns4kafka: `billing.` PREFIXED OWNER of type GROUP.
        assert_eq!(group_owners(&d, "billing.invoicer"), vec!["billing"]);
        assert_eq!(group_owners(&d, "billing."), vec!["billing"]);
        // No collision rule for groups: `_` is not `.` here.
        assert!(group_owners(&d, "billing_invoicer").is_empty());
        // orders owns topics by prefix but no group: a TOPIC entry confers no group.
        assert!(group_owners(&d, "orders.app").is_empty());
        // Strimzi: payments-app may Read the literal group `payments-app`, nothing longer.
        assert_eq!(group_owners(&d, "payments-app"), vec!["payments-app"]);
        assert!(group_owners(&d, "payments-app-2").is_empty());
    }

    #[test]
    fn dots_and_underscores_collide_but_a_name_not_with_itself() {
        assert!(collides("team.orders", "team_orders"));
        assert!(!collides("team.orders", "team.orders"));
        assert!(!collides("team.orders", "team.order"));
    }
}
