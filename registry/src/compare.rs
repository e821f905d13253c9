//! Registry verification: does the target registry hold every source subject/version, with
//! the same version number and the same schema by content?
//!
//! For a merge of several source registries into one target, per subject and version:
//! - the sources must agree (a subject present in two sources with different content at the
//!   same version is a **conflict**: it cannot be merged without renumbering, and is never
//!   silently merged);
//! - the target must hold that version (**missing**), with the same canonical schema and
//!   the same referenced content, whatever version numbers the references carry
//!   (**content-mismatch**; when the content sits at another version, **version-mismatch**);
//! - every reference must resolve in its registry (**reference-unresolved**);
//! - the compatibility level in force must be the same (**compatibility-mismatch**).
//!
//! Ids are never compared: a merged registry assigns its own.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::client::{RegisteredSchema, Schema, SchemaRegistry};
use crate::error::{RegistryError, Result};

/// How deep references may nest before cutover gives up (a cycle, or a pathological chain).
const MAX_REFERENCE_DEPTH: usize = 16;

/// The class of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Two sources hold different schemas at the same subject and version.
    Conflict,
    /// A source subject/version is absent on the target.
    Missing,
    /// The target holds the schema, at another version number.
    VersionMismatch,
    /// The target's version holds a different schema.
    ContentMismatch,
    /// A reference does not resolve (in a source or in the target).
    ReferenceUnresolved,
    /// The compatibility level in force differs.
    CompatibilityMismatch,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Conflict => "conflict",
            FindingKind::Missing => "missing",
            FindingKind::VersionMismatch => "version-mismatch",
            FindingKind::ContentMismatch => "content-mismatch",
            FindingKind::ReferenceUnresolved => "reference-unresolved",
            FindingKind::CompatibilityMismatch => "compatibility-mismatch",
        }
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Which registries are concerned (source names, `target`).
    pub registries: Vec<String>,
    pub detail: String,
}

/// What `cutover verify-schemas` found.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaVerdict {
    /// `pass` or `fail`.
    pub outcome: &'static str,
    pub sources: Vec<String>,
    pub target: String,
    pub subjects: usize,
    pub versions: usize,
    /// Subject/versions found on the target with the same number and content.
    pub matched: usize,
    /// Findings per class.
    pub counts: BTreeMap<&'static str, usize>,
    pub findings: Vec<Finding>,
    /// Target subjects no source holds (not a failure: a merged registry may have its own).
    pub target_only_subjects: Vec<String>,
    /// References of the source versions followed (unresolved ones are findings).
    pub references: usize,
}

impl SchemaVerdict {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    /// A human-readable summary, one finding per line (capped).
    pub fn render_text(&self, max_findings: usize) -> String {
        let mut out = format!(
            "schema registries: {} — {} subject(s), {} version(s), {} matched on the target\n  sources: {}\n  target:  {}\n",
            self.outcome.to_uppercase(),
            self.subjects,
            self.versions,
            self.matched,
            self.sources.join(", "),
            self.target
        );
        for (kind, n) in &self.counts {
            out.push_str(&format!("  {kind}: {n}\n"));
        }
        for f in self.findings.iter().take(max_findings) {
            let at = f.version.map(|v| format!(" v{v}")).unwrap_or_default();
            out.push_str(&format!(
                "  [{}] {}{} ({}): {}\n",
                f.kind.as_str(),
                f.subject,
                at,
                f.registries.join(", "),
                f.detail
            ));
        }
        if self.findings.len() > max_findings {
            out.push_str(&format!(
                "  … {} more finding(s) (see the JSON output)\n",
                self.findings.len() - max_findings
            ));
        }
        if !self.target_only_subjects.is_empty() {
            out.push_str(&format!(
                "  target-only subjects (not judged): {}\n",
                self.target_only_subjects.len()
            ));
        }
        out
    }
}

/// A registry with a name for findings.
pub struct Named<'a> {
    pub name: String,
    pub registry: &'a dyn SchemaRegistry,
}

/// The identity of a schema by content: its type, canonical text
/// ([`crate::canonical::canonical_form`]), and each reference's name and (recursively) the
/// identity of the content it resolves to, sorted. The referenced subject and version number
/// are not part of it: a merge that renumbers the referenced subject's versions keeps the
/// referencing schema's identity, and a reference to other content changes it.
/// `Err(detail)` when a reference does not resolve.
pub fn content_identity(
    registry: &dyn SchemaRegistry,
    schema: &Schema,
) -> Result<std::result::Result<String, String>> {
    identity_at(registry, schema, 0)
}

fn identity_at(
    registry: &dyn SchemaRegistry,
    schema: &Schema,
    depth: usize,
) -> Result<std::result::Result<String, String>> {
    let mut out = format!("{}:{}", schema.schema_type, schema.canonical()?);
    if depth > MAX_REFERENCE_DEPTH {
        return Ok(Err(format!(
            "references nest deeper than {MAX_REFERENCE_DEPTH} (a cycle?)"
        )));
    }
    // Each reference by its name (what the schema text uses) and the referenced content, never
    // by subject or version: a merge may renumber the referenced subject's versions.
    let mut resolved = Vec::with_capacity(schema.references.len());
    for r in &schema.references {
        let referenced = match registry.version(&r.subject, r.version) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => {
                return Ok(Err(format!(
                    "reference {} → {} v{} does not resolve",
                    r.name, r.subject, r.version
                )))
            }
            Err(e) => return Err(e),
        };
        match identity_at(registry, &referenced.schema, depth + 1)? {
            Ok(inner) => resolved.push(format!("|ref {}:{}", r.name, inner)),
            Err(detail) => return Ok(Err(detail)),
        }
    }
    resolved.sort();
    for r in resolved {
        out.push_str(&r);
    }
    Ok(Ok(out))
}

struct SourceVersion {
    source: String,
    registered: RegisteredSchema,
    identity: String,
}

fn all_versions(reg: &dyn SchemaRegistry, subject: &str) -> Result<Vec<RegisteredSchema>> {
    let versions = match reg.versions(subject) {
        Ok(v) => v,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    versions
        .into_iter()
        .map(|v| reg.version(subject, v))
        .collect()
}

/// The source registries read: subject → version → the sources holding it, the compatibility
/// levels per subject, and the references that do not resolve.
struct Gathered {
    by_subject: BTreeMap<String, BTreeMap<u32, Vec<SourceVersion>>>,
    compat: BTreeMap<String, Vec<(String, Option<String>)>>,
    findings: Vec<Finding>,
    /// References of the source versions (followed, resolved or not).
    references: usize,
}

fn gather(sources: &[Named<'_>]) -> Result<Gathered> {
    let mut out = Gathered {
        by_subject: BTreeMap::new(),
        compat: BTreeMap::new(),
        findings: Vec::new(),
        references: 0,
    };
    for source in sources {
        for subject in source.registry.subjects()? {
            for registered in all_versions(source.registry, &subject)? {
                out.references += registered.schema.references.len();
                match content_identity(source.registry, &registered.schema)? {
                    Ok(identity) => out
                        .by_subject
                        .entry(subject.clone())
                        .or_default()
                        .entry(registered.version)
                        .or_default()
                        .push(SourceVersion {
                            source: source.name.clone(),
                            registered,
                            identity,
                        }),
                    Err(detail) => out.findings.push(Finding {
                        kind: FindingKind::ReferenceUnresolved,
                        subject: subject.clone(),
                        version: Some(registered.version),
                        registries: vec![source.name.clone()],
                        detail,
                    }),
                }
            }
            let level = source.registry.compatibility(Some(&subject))?;
            out.compat
                .entry(subject)
                .or_default()
                .push((source.name.clone(), level));
        }
    }
    Ok(out)
}

/// A conflict when the sources holding `subject` at `version` disagree on its content.
fn conflict(subject: &str, version: u32, holders: &[SourceVersion]) -> Option<Finding> {
    let distinct: BTreeSet<&str> = holders.iter().map(|h| h.identity.as_str()).collect();
    (distinct.len() > 1).then(|| Finding {
        kind: FindingKind::Conflict,
        subject: subject.to_string(),
        version: Some(version),
        registries: holders.iter().map(|h| h.source.clone()).collect(),
        detail: format!(
            "the sources hold different schemas at this version (ids {})",
            holders
                .iter()
                .map(|h| format!("{}={}", h.source, h.registered.id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// What the registries hold before a copy (`cutover preflight`).
#[derive(Debug, Clone, Serialize)]
pub struct BeforeCopy {
    /// Source subjects and subject/versions read.
    pub subjects: usize,
    pub versions: usize,
    /// Conflicts between the sources, unresolved references, and target versions that already
    /// hold another schema at a source's number (`content-mismatch`: the copy would be refused).
    pub findings: Vec<Finding>,
}

/// Before copying: subjects two sources hold with different content at one version
/// (conflicts), references that do not resolve, and, given the target, versions it already
/// holds with other content. A version the target lacks is not a finding here (the copy adds
/// it). Read-only.
pub fn before_copy(sources: &[Named<'_>], target: Option<&Named<'_>>) -> Result<BeforeCopy> {
    let gathered = gather(sources)?;
    let mut findings = gathered.findings;
    let mut versions = 0;
    for (subject, by_version) in &gathered.by_subject {
        let target_versions = match target {
            Some(t) => all_versions(t.registry, subject)?,
            None => Vec::new(),
        };
        for (version, holders) in by_version {
            versions += 1;
            if let Some(f) = conflict(subject, *version, holders) {
                findings.push(f);
                continue;
            }
            let (Some(t), Some(have)) = (
                target,
                target_versions.iter().find(|t| t.version == *version),
            ) else {
                continue;
            };
            if content_identity(t.registry, &have.schema)?.as_ref() != Ok(&holders[0].identity) {
                findings.push(Finding {
                    kind: FindingKind::ContentMismatch,
                    subject: subject.clone(),
                    version: Some(*version),
                    registries: vec![holders[0].source.clone(), t.name.clone()],
                    detail: format!(
                        "the target already holds another schema at version {version} (id {}): the copy would be refused",
                        have.id
                    ),
                });
            }
        }
    }
    findings.sort_by(|a, b| (a.kind, &a.subject, a.version).cmp(&(b.kind, &b.subject, b.version)));
    Ok(BeforeCopy {
        subjects: gathered.by_subject.len(),
        versions,
        findings,
    })
}

/// Compares every source subject/version with the target (read-only).
pub fn verify(sources: &[Named<'_>], target: &Named<'_>) -> Result<SchemaVerdict> {
    let Gathered {
        by_subject,
        compat,
        mut findings,
        references,
    } = gather(sources)?;

    let mut versions = 0;
    let mut matched = 0;
    for (subject, by_version) in &by_subject {
        let target_versions = all_versions(target.registry, subject)?;
        let mut target_ids: BTreeMap<u32, std::result::Result<String, String>> = BTreeMap::new();
        for t in &target_versions {
            target_ids.insert(t.version, content_identity(target.registry, &t.schema)?);
        }
        for (version, holders) in by_version {
            versions += 1;
            if let Some(f) = conflict(subject, *version, holders) {
                findings.push(f);
                continue;
            }
            let wanted = &holders[0];
            match target_ids.get(version) {
                Some(Ok(identity)) if *identity == wanted.identity => matched += 1,
                Some(Err(detail)) => findings.push(Finding {
                    kind: FindingKind::ReferenceUnresolved,
                    subject: subject.clone(),
                    version: Some(*version),
                    registries: vec![target.name.clone()],
                    detail: detail.clone(),
                }),
                Some(Ok(_)) => findings.push(Finding {
                    kind: FindingKind::ContentMismatch,
                    subject: subject.clone(),
                    version: Some(*version),
                    registries: vec![wanted.source.clone(), target.name.clone()],
                    detail: match find_elsewhere(&target_ids, &wanted.identity) {
                        Some(v) => format!("the target's version {version} holds another schema; the source's is at target version {v}"),
                        None => format!("the target's version {version} holds another schema, and the source's is nowhere under this subject"),
                    },
                }),
                None => {
                    let (kind, detail) = match find_elsewhere(&target_ids, &wanted.identity) {
                        Some(v) => (
                            FindingKind::VersionMismatch,
                            format!("the target holds this schema at version {v}, not {version}"),
                        ),
                        None if target_versions.is_empty() => (
                            FindingKind::Missing,
                            "the subject is absent on the target".to_string(),
                        ),
                        None => (
                            FindingKind::Missing,
                            format!(
                                "the target's versions are {:?}",
                                target_versions.iter().map(|t| t.version).collect::<Vec<_>>()
                            ),
                        ),
                    };
                    findings.push(Finding {
                        kind,
                        subject: subject.clone(),
                        version: Some(*version),
                        registries: vec![wanted.source.clone(), target.name.clone()],
                        detail,
                    });
                }
            }
        }
        if let Some(levels) = compat.get(subject) {
            let distinct: BTreeSet<&Option<String>> = levels.iter().map(|(_, l)| l).collect();
            if !target_versions.is_empty() {
                let on_target = target.registry.compatibility(Some(subject))?;
                if distinct.len() == 1 && !distinct.contains(&on_target) {
                    findings.push(Finding {
                        kind: FindingKind::CompatibilityMismatch,
                        subject: subject.clone(),
                        version: None,
                        registries: levels
                            .iter()
                            .map(|(s, _)| s.clone())
                            .chain([target.name.clone()])
                            .collect(),
                        detail: format!(
                            "source {}, target {}",
                            show(&levels[0].1),
                            show(&on_target)
                        ),
                    });
                }
            }
            if distinct.len() > 1 {
                findings.push(Finding {
                    kind: FindingKind::CompatibilityMismatch,
                    subject: subject.clone(),
                    version: None,
                    registries: levels.iter().map(|(s, _)| s.clone()).collect(),
                    detail: format!(
                        "the sources disagree: {}",
                        levels
                            .iter()
                            .map(|(s, l)| format!("{s} {}", show(l)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }

    let source_subjects: BTreeSet<&String> = by_subject.keys().collect();
    let target_only_subjects = target
        .registry
        .subjects()?
        .into_iter()
        .filter(|s| !source_subjects.contains(s))
        .collect();
    findings.sort_by(|a, b| (a.kind, &a.subject, a.version).cmp(&(b.kind, &b.subject, b.version)));
    let mut counts = BTreeMap::new();
    for f in &findings {
        *counts.entry(f.kind.as_str()).or_insert(0) += 1;
    }
    Ok(SchemaVerdict {
        outcome: if findings.is_empty() { "pass" } else { "fail" },
        sources: sources
            .iter()
            .map(|s| format!("{} ({})", s.name, s.registry.url()))
            .collect(),
        target: format!("{} ({})", target.name, target.registry.url()),
        subjects: by_subject.len(),
        versions,
        matched,
        counts,
        findings,
        target_only_subjects,
        references,
    })
}

fn show(level: &Option<String>) -> String {
    level.clone().unwrap_or_else(|| "unset".into())
}

fn find_elsewhere(
    target: &BTreeMap<u32, std::result::Result<String, String>>,
    identity: &str,
) -> Option<u32> {
    target
        .iter()
        .find(|(_, id)| id.as_ref().is_ok_and(|i| i == identity))
        .map(|(v, _)| *v)
}

/// Keeps [`RegistryError`] in scope for callers matching on errors of [`verify`].
pub type VerifyError = RegistryError;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryRegistry;

    use crate::memory::fixtures::{avro, person, ADDR, ADDR_ZIP};

    /// The source: shop-addr v1 = ADDR, person-value v1 → shop-addr v1.
    fn source() -> MemoryRegistry {
        let r = MemoryRegistry::new("source");
        r.put("shop-addr", 1, 1, avro(ADDR));
        r.put("person-value", 1, 2, person(1));
        r
    }

    fn findings_of(verdict: &SchemaVerdict, subject: &str) -> Vec<FindingKind> {
        verdict
            .findings
            .iter()
            .filter(|f| f.subject == subject)
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn a_reference_renumbered_by_the_merge_compares_by_its_content() {
        let src = source();
        // The target already held two shop-addr versions: ADDR landed at v3.
        let tgt = MemoryRegistry::new("target");
        tgt.put("shop-addr", 1, 7, avro(ADDR_ZIP));
        tgt.put("shop-addr", 2, 8, avro(r#""string""#));
        tgt.put("shop-addr", 3, 9, avro(ADDR));
        tgt.put("person-value", 1, 10, person(3));
        let a = content_identity(&src, &src.version("person-value", 1).unwrap().schema).unwrap();
        let b = content_identity(&tgt, &tgt.version("person-value", 1).unwrap().schema).unwrap();
        assert_eq!(a, b, "v1 on one side, v3 on the other, same content");

        let sources = [Named {
            name: "source".into(),
            registry: &src,
        }];
        let target = Named {
            name: "target".into(),
            registry: &tgt,
        };
        let verdict = verify(&sources, &target).unwrap();
        assert_eq!(findings_of(&verdict, "person-value"), vec![], "{verdict:?}");
        // shop-addr itself was renumbered: that is the merge's real finding.
        assert_eq!(
            findings_of(&verdict, "shop-addr"),
            vec![FindingKind::ContentMismatch]
        );
        assert_eq!(verdict.matched, 1);
        let before = before_copy(&sources, Some(&target)).unwrap();
        assert!(
            before.findings.iter().all(|f| f.subject != "person-value"),
            "{:?}",
            before.findings
        );
    }

    #[test]
    fn a_reference_to_other_content_is_a_content_mismatch() {
        let src = source();
        let tgt = MemoryRegistry::new("target");
        tgt.put("shop-addr", 1, 7, avro(ADDR_ZIP));
        tgt.put("shop-addr", 2, 8, avro(ADDR));
        // Same text, same reference name and subject, but v1 holds other content.
        tgt.put("person-value", 1, 10, person(1));
        let sources = [Named {
            name: "source".into(),
            registry: &src,
        }];
        let target = Named {
            name: "target".into(),
            registry: &tgt,
        };
        let verdict = verify(&sources, &target).unwrap();
        assert_eq!(
            findings_of(&verdict, "person-value"),
            vec![FindingKind::ContentMismatch]
        );
    }

    #[test]
    fn logical_types_count_in_the_merge_verification() {
        let field = |lt: &str| {
            avro(&format!(
                r#"{{"type":"record","name":"E","fields":[{{"name":"at","type":{{"type":"long","logicalType":"{lt}"}}}}]}}"#
            ))
        };
        let src = MemoryRegistry::new("source");
        src.put("events-value", 1, 1, field("timestamp-millis"));
        let tgt = MemoryRegistry::new("target");
        tgt.put("events-value", 1, 5, field("timestamp-micros"));
        let verdict = verify(
            &[Named {
                name: "source".into(),
                registry: &src,
            }],
            &Named {
                name: "target".into(),
                registry: &tgt,
            },
        )
        .unwrap();
        assert_eq!(
            findings_of(&verdict, "events-value"),
            vec![FindingKind::ContentMismatch]
        );
        assert_eq!(verdict.matched, 0);
    }
}
