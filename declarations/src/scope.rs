//! `--namespace NAME` on `cutover verify`, `cutover rehearse` and `cutover offsets sync`, and
//! `[scope]` in scenario files: the topics and consumer groups namespaces own, so a team checks
//! its own slice of a large migration.
//!
//! A namespace owns, by ns4kafka's rules ([`crate::ownership`]):
//! - the topics its `OWNER` entries of type `TOPIC` cover (a `LITERAL` name, a `PREFIXED`
//!   prefix) and the topics declared in it; a Strimzi `KafkaUser` (by its name) the topics its
//!   `allow` rules let it `Write` (or `All`);
//! - the consumer groups its `OWNER` entries of type `GROUP` cover; a Strimzi `KafkaUser` the
//!   groups its `allow` rules let it `Read` (or `All`) ([`crate::ownership::group_grants`]).
//!
//! Names are matched whole, without ns4kafka's `.`/`_` topic collision (that rule refuses a new
//! topic; it does not give a namespace another's).

use std::collections::BTreeSet;

use crate::model::{Operation, PatternType, Permission, ResourceType, StrimziResourceType};
use crate::ownership::{group_grants, NamePattern};
use crate::Declarations;

/// A topic name or prefix with the regex metacharacters of Kafka topic names (`.`) escaped.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn regex_of(p: &NamePattern) -> String {
    match p {
        NamePattern::Literal(l) => escape(l),
        NamePattern::Prefix(p) => format!("{}.*", escape(p)),
        NamePattern::Any => ".*".to_string(),
    }
}

/// What a set of namespaces owns: topics and consumer groups, as whole-name patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The namespaces, as given.
    pub namespaces: Vec<String>,
    topics: BTreeSet<NamePattern>,
    groups: BTreeSet<NamePattern>,
}

impl Scope {
    /// The scope of `namespaces`; `Err` names a namespace that owns no topic and no group and
    /// is not declared (a typo, or a file missing), with the names known.
    pub fn of(decls: &Declarations, namespaces: &[String]) -> Result<Scope, String> {
        let mut topics = BTreeSet::new();
        let mut groups = BTreeSet::new();
        let grants = group_grants(decls);
        for ns in namespaces {
            let mine = topic_patterns(decls, ns);
            let their_groups: Vec<NamePattern> = grants
                .iter()
                .filter(|(owner, _)| owner == ns)
                .map(|(_, p)| p.clone())
                .collect();
            if mine.is_empty() && their_groups.is_empty() && decls.namespace(ns).is_none() {
                let mut known = decls.namespace_names();
                known.extend(decls.strimzi_users.iter().map(|u| u.name.clone()));
                known.sort();
                known.dedup();
                return Err(format!(
                    "namespace `{ns}` owns no topic or consumer group in the declarations (known: {})",
                    known.join(", ")
                ));
            }
            topics.extend(mine);
            groups.extend(their_groups);
        }
        Ok(Scope {
            namespaces: namespaces.to_vec(),
            topics,
            groups,
        })
    }

    /// Whether the namespaces own the topic `name`.
    pub fn owns_topic(&self, name: &str) -> bool {
        self.topics.iter().any(|p| p.covers(name))
    }

    /// Whether the namespaces own the consumer group `group`.
    pub fn owns_group(&self, group: &str) -> bool {
        self.groups.iter().any(|p| p.covers(group))
    }

    /// The regex (whole names) of the topics owned; `None` when they own none.
    pub fn topics_regex(&self) -> Option<String> {
        join(&self.topics)
    }

    /// The regex (whole names) of the consumer groups owned; `None` when they own none.
    pub fn groups_regex(&self) -> Option<String> {
        join(&self.groups)
    }
}

fn join(patterns: &BTreeSet<NamePattern>) -> Option<String> {
    let parts: BTreeSet<String> = patterns.iter().map(regex_of).collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.into_iter().collect::<Vec<_>>().join("|"))
    }
}

/// The topic patterns `ns` owns: `OWNER` entries of type `TOPIC`, topics declared in it, a
/// Strimzi user's `Write` rules.
fn topic_patterns(decls: &Declarations, ns: &str) -> BTreeSet<NamePattern> {
    let mut out = BTreeSet::new();
    for a in decls.acls.iter().filter(|a| {
        a.granted_to == ns
            && a.permission == Permission::Owner
            && a.resource_type == ResourceType::Topic
    }) {
        out.insert(match a.pattern {
            PatternType::Literal => NamePattern::Literal(a.resource.clone()),
            PatternType::Prefixed => NamePattern::Prefix(a.resource.clone()),
        });
    }
    for t in decls.topics.iter().filter(|t| t.namespace == ns) {
        out.insert(NamePattern::Literal(t.name.clone()));
    }
    for u in decls.strimzi_users.iter().filter(|u| u.name == ns) {
        for r in &u.acls {
            if r.resource_type != StrimziResourceType::Topic || !r.allows_any(&[Operation::Write]) {
                continue;
            }
            let Some(name) = &r.name else { continue };
            out.insert(match r.pattern {
                PatternType::Literal if name == "*" => NamePattern::Any,
                PatternType::Literal => NamePattern::Literal(name.clone()),
                PatternType::Prefixed => NamePattern::Prefix(name.clone()),
            });
        }
    }
    out
}

/// The regex (whole names) of the topics `namespaces` own; `Err` names a namespace that owns
/// nothing in the declarations, or says that they own no topic (only groups).
pub fn owned_topics_regex(decls: &Declarations, namespaces: &[String]) -> Result<String, String> {
    Scope::of(decls, namespaces)?.topics_regex().ok_or_else(|| {
        format!(
            "namespaces {} own no topic in the declarations",
            namespaces.join(", ")
        )
    })
}

/// The regex (whole names) of the consumer groups `namespaces` own; `Err` names a namespace
/// that owns nothing, or says that they own no group.
pub fn owned_groups_regex(decls: &Declarations, namespaces: &[String]) -> Result<String, String> {
    Scope::of(decls, namespaces)?.groups_regex().ok_or_else(|| {
        format!(
            "namespaces {} own no consumer group in the declarations (no OWNER entry of type GROUP, no Strimzi Read rule on a group)",
            namespaces.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixtures() -> Declarations {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        crate::load(&[dir.join("ns4kafka"), dir.join("strimzi")], None).expect("fixtures")
    }

    fn decls(yaml: &str) -> Declarations {
        let mut d = Declarations::default();
        d.read_str(yaml, "t.yml", Path::new("."), None)
            .expect("test YAML reads");
        d
    }

    fn owner(ns: &str, kind: &str, resource: &str, pattern: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: AccessControlEntry\nmetadata: {{name: {ns}-{kind}-{resource}, namespace: admin}}\n\
             spec: {{resourceType: {kind}, resource: {resource}, resourcePatternType: {pattern}, permission: OWNER, grantedTo: {ns}}}\n"
        )
    }

    #[test]
    fn a_namespace_owns_its_prefixes_and_declared_topics() {
        let d = fixtures();
        assert_eq!(
            owned_topics_regex(&d, &["orders".into()]),
            Ok(r"orders\..*|orders\.created".to_string())
        );
        assert_eq!(
            owned_topics_regex(&d, &["billing".into(), "payments-app".into()]),
            Ok(r"billing\..*|billing\.invoices|payments\..*".to_string())
        );
        let err = owned_topics_regex(&d, &["nosuch".into()]).expect_err("unknown");
        assert!(err.starts_with("namespace `nosuch` owns no topic"), "{err}");
    }

    #[test]
    fn groups_by_prefix_and_literal_owner_entries_and_strimzi_read_rules() {
        let y = [
            owner("team-a", "GROUP", "team-a.", "PREFIXED"),
            owner("team-a", "GROUP", "legacy-app", "LITERAL"),
            owner("team-a", "TOPIC", "team-a.", "PREFIXED"),
            owner("team-b", "GROUP", "team-b.", "PREFIXED"),
            owner("team-b", "TOPIC", "team-b.", "PREFIXED"),
        ]
        .concat();
        let d = decls(&y);
        let a = Scope::of(&d, &["team-a".into()]).expect("team-a");
        assert!(a.owns_group("team-a.app"));
        assert!(a.owns_group("team-a."));
        assert!(a.owns_group("legacy-app"));
        // A literal is the whole name: neither longer nor shorter.
        assert!(!a.owns_group("legacy-app-2"));
        assert!(!a.owns_group("legacy"));
        // No `.`/`_` collision for groups (nor for owned topics).
        assert!(!a.owns_group("team-a_app"));
        assert!(!a.owns_topic("team-a_orders"));
        // A TOPIC entry is no GROUP entry and another namespace's groups stay its own.
        assert!(!a.owns_group("team-b.app"));
        assert!(a.owns_topic("team-a.orders"));
        assert_eq!(
            a.groups_regex().as_deref(),
            Some(r"legacy\-app|team\-a\..*")
        );
        let both = Scope::of(&d, &["team-a".into(), "team-b".into()]).expect("both");
        assert!(both.owns_group("team-b.app") && both.owns_group("team-a.app"));

        // Strimzi: a user's Read rule on a group (literal, prefix, `*`).
        let f = fixtures();
        let payments = Scope::of(&f, &["payments-app".into()]).expect("payments-app");
        assert!(payments.owns_group("payments-app"));
        assert!(!payments.owns_group("payments-app-2"));
        // billing's fixture: `billing.` GROUP OWNER entry.
        let billing = Scope::of(&f, &["billing".into()]).expect("billing");
        assert!(billing.owns_group("billing.invoicer"));
        assert!(!billing.owns_group("analytics.daily-job"));
    }

    #[test]
    fn a_namespace_owning_only_groups_is_known_but_owns_no_topic() {
        let d = decls(&owner("readers", "GROUP", "readers.", "PREFIXED"));
        let s = Scope::of(&d, &["readers".into()]).expect("known through its group");
        assert_eq!(s.topics_regex(), None);
        assert_eq!(s.groups_regex().as_deref(), Some(r"readers\..*"));
        let err = owned_topics_regex(&d, &["readers".into()]).expect_err("no topic");
        assert_eq!(err, "namespaces readers own no topic in the declarations");
        let f = fixtures();
        let err = owned_groups_regex(&f, &["orders".into()]).expect_err("orders owns no group");
        assert!(
            err.starts_with("namespaces orders own no consumer group"),
            "{err}"
        );
    }
}
