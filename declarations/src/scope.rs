//! `--namespace NAME` on `cutover verify` and `cutover rehearse`: the topics a namespace owns,
//! as a regex of whole names, so a team checks its own slice of a large migration.
//!
//! A namespace owns, by ns4kafka's rules ([`crate::ownership`]), the topics its `OWNER` entries
//! cover (a `LITERAL` name, a `PREFIXED` prefix) and the topics declared in it; a Strimzi
//! `KafkaUser` (by its name) the topics its `allow` rules let it `Write` (or `All`).

use std::collections::BTreeSet;

use crate::model::{Operation, PatternType, Permission, ResourceType, StrimziResourceType};
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

/// The regex (whole names) of the topics `namespaces` own; `Err` names a namespace that owns
/// nothing in the declarations (a typo, or a file missing).
pub fn owned_topics_regex(decls: &Declarations, namespaces: &[String]) -> Result<String, String> {
    let mut parts = BTreeSet::new();
    for ns in namespaces {
        let before = parts.len();
        for a in decls.acls.iter().filter(|a| {
            a.granted_to == *ns
                && a.permission == Permission::Owner
                && a.resource_type == ResourceType::Topic
        }) {
            parts.insert(match a.pattern {
                PatternType::Literal => escape(&a.resource),
                PatternType::Prefixed => format!("{}.*", escape(&a.resource)),
            });
        }
        for t in decls.topics.iter().filter(|t| t.namespace == *ns) {
            parts.insert(escape(&t.name));
        }
        for u in decls.strimzi_users.iter().filter(|u| u.name == *ns) {
            for r in &u.acls {
                if r.resource_type != StrimziResourceType::Topic
                    || !r.allows_any(&[Operation::Write])
                {
                    continue;
                }
                let Some(name) = &r.name else { continue };
                parts.insert(match r.pattern {
                    PatternType::Literal if name == "*" => ".*".to_string(),
                    PatternType::Literal => escape(name),
                    PatternType::Prefixed => format!("{}.*", escape(name)),
                });
            }
        }
        if parts.len() == before
            && !decls.topics.iter().any(|t| t.namespace == *ns)
            && decls.namespace(ns).is_none()
        {
            let mut known = decls.namespace_names();
            known.extend(decls.strimzi_users.iter().map(|u| u.name.clone()));
            return Err(format!(
                "namespace `{ns}` owns no topic in the declarations (known: {})",
                known.join(", ")
            ));
        }
    }
    if parts.is_empty() {
        return Err(format!(
            "namespaces {} own no topic in the declarations",
            namespaces.join(", ")
        ));
    }
    Ok(parts.into_iter().collect::<Vec<_>>().join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixtures() -> Declarations {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        crate::load(&[dir.join("ns4kafka"), dir.join("strimzi")], None).expect("fixtures")
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
}
