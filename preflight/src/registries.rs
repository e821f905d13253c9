//! Schema registries before a copy: every registry reachable (an unreachable one stops the
//! preflight with its URL and the cause, exit 2), and the subjects two source registries hold
//! with different content at one version (a merge would have to renumber one: an error), the
//! references that do not resolve, and target versions that already hold another schema at a
//! source's number. Read-only (`registry::compare::before_copy`); a version the target lacks is
//! expected before the copy and not reported.

use registry::compare::{before_copy, FindingKind, Named};
use registry::{HttpRegistry, SchemaRegistry};

use crate::error::PreflightError;
use crate::model::{Check, Finding, Severity, Side};

/// A registry given on the command line: a name for findings and its Confluent-compatible URL
/// (credentials in the URL become basic auth and are never shown).
#[derive(Clone)]
pub struct RegistryArg {
    pub name: String,
    pub url: String,
}

impl std::fmt::Debug for RegistryArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryArg")
            .field("name", &self.name)
            .field("url", &reports::redact::redact_urls(&self.url))
            .finish()
    }
}

pub(crate) fn client(arg: &RegistryArg) -> Result<HttpRegistry, PreflightError> {
    HttpRegistry::new(&arg.url).map_err(|source| PreflightError::Registry {
        name: arg.name.clone(),
        source: Box::new(source),
    })
}

/// Reaches every registry (its subject list), then compares the sources before a copy.
pub fn check(
    sources: &[RegistryArg],
    target: Option<&RegistryArg>,
) -> Result<Vec<Finding>, PreflightError> {
    let source_clients = sources.iter().map(client).collect::<Result<Vec<_>, _>>()?;
    let target_client = target.map(client).transpose()?;
    let all = sources
        .iter()
        .zip(&source_clients)
        .chain(target.into_iter().zip(target_client.iter()));
    let mut reached = Vec::new();
    for (arg, c) in all {
        let subjects = c.subjects().map_err(|source| PreflightError::Registry {
            name: arg.name.clone(),
            source: Box::new(source),
        })?;
        reached.push(format!(
            "{} ({}): {} subject(s)",
            arg.name,
            c.url(),
            subjects.len()
        ));
    }
    let named: Vec<Named<'_>> = sources
        .iter()
        .zip(&source_clients)
        .map(|(a, c)| Named {
            name: a.name.clone(),
            registry: c as &dyn SchemaRegistry,
        })
        .collect();
    let target_named = target.zip(target_client.as_ref()).map(|(a, c)| Named {
        name: a.name.clone(),
        registry: c as &dyn SchemaRegistry,
    });
    let found =
        before_copy(&named, target_named.as_ref()).map_err(|source| PreflightError::Registry {
            name: "source/target".into(),
            source: Box::new(source),
        })?;
    let mut out = vec![Finding {
        check: Check::Registries,
        severity: Severity::Info,
        side: Side::Both,
        topic: None,
        subject: None,
        source_value: None,
        target_value: None,
        message: format!(
            "schema registries reached: {}; {} source subject(s), {} version(s), {} finding(s) before the copy",
            reached.join(", "),
            found.subjects,
            found.versions,
            found.findings.len()
        ),
        fix: String::new(),
    }];
    for f in found.findings {
        let at = f.version.map(|v| format!(" v{v}")).unwrap_or_default();
        let (side, fix) = match f.kind {
            FindingKind::Conflict => (
                Side::Source,
                "rename the subject in one source registry (or make the versions equal) before the merge; cutover never merges a conflict silently",
            ),
            FindingKind::ContentMismatch => (
                Side::Target,
                "remove the target's subject (it is not the sources') or copy into an empty subject",
            ),
            _ => (
                Side::Both,
                "register the referenced subject/version, or fix the reference",
            ),
        };
        out.push(Finding {
            check: Check::Registries,
            severity: Severity::Error,
            side,
            topic: None,
            subject: Some(format!("{}{at}", f.subject)),
            source_value: None,
            target_value: None,
            message: format!(
                "schema registries: {} {}{at} ({}): {}",
                f.kind.as_str(),
                f.subject,
                f.registries.join(", "),
                f.detail
            ),
            fix: fix.into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_password_in_the_url() {
        let arg = RegistryArg {
            name: "a".into(),
            url: "https://bob:hunter2-x@reg:8081/apis/ccompat/v7".into(),
        };
        let shown = format!("{arg:?}");
        assert!(
            !shown.contains("hunter2-x") && shown.contains("reg:8081"),
            "{shown}"
        );
    }
}
