//! Record-level schema judgement: does a copied record still decode with the same schema?
//!
//! A framed source record's schema is resolved in its source registry, the target record's in
//! the target registry; the two must have the same canonical form (references resolved and
//! compared by content, not by version number), and
//! the payloads must be equal (a Protobuf payload's message-index array compared by the path it
//! names, not its spelling). The raw id bytes are never compared: a merged registry assigns
//! its own ids. Unframed records are left to the byte-exact checks.
//!
//! Classes (the checker's `schema-unresolved` and `schema-mismatch`):
//! - **unresolved**: the target record's id resolves to nothing in the target registry;
//! - **mismatch**: it resolves to a schema other than the source record's.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::canonical::SchemaType;
use crate::client::SchemaRegistry;
use crate::compare::content_identity;
use crate::error::Result;
use crate::wire;

/// What a registry says about one id: the schema's identity and one subject/version holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub identity: String,
    pub subject_version: Option<(String, u32)>,
    pub schema_type: SchemaType,
}

impl Resolved {
    /// The payload as it identifies a record: a Protobuf payload's message-index array read
    /// (`[0]` spelled either way is the same message), others as they are.
    pub fn payload_identity<'a>(&self, payload: &'a [u8]) -> Cow<'a, [u8]> {
        match self.schema_type {
            SchemaType::Protobuf => wire::protobuf_identity(payload),
            _ => Cow::Borrowed(payload),
        }
    }

    /// The bytes the checker fingerprints for a framed value with this schema: the schema's
    /// identity, a 0 byte, then the payload's identity.
    pub fn value_identity(&self, payload: &[u8]) -> Vec<u8> {
        let payload = self.payload_identity(payload);
        let mut out = Vec::with_capacity(self.identity.len() + 1 + payload.len());
        out.extend_from_slice(self.identity.as_bytes());
        out.push(0);
        out.extend_from_slice(&payload);
        out
    }
}

/// A registry with an id → schema cache (ids are immutable in a registry).
pub struct Resolver {
    registry: Arc<dyn SchemaRegistry>,
    cache: Mutex<HashMap<u32, Option<Resolved>>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("registry", &self.registry.url())
            .finish()
    }
}

impl Resolver {
    pub fn new(registry: Arc<dyn SchemaRegistry>) -> Resolver {
        Resolver {
            registry,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The schema with `id`, `None` when the id resolves to nothing.
    pub fn resolve(&self, id: u32) -> Result<Option<Resolved>> {
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(hit.clone());
        }
        let resolved = match self.registry.schema_by_id(id)? {
            None => None,
            Some(schema) => {
                let identity = match content_identity(self.registry.as_ref(), &schema)? {
                    Ok(i) => i,
                    Err(detail) => format!("unresolved-reference: {detail}"),
                };
                let subject_version = self.registry.id_versions(id)?.into_iter().next();
                Some(Resolved {
                    identity,
                    subject_version,
                    schema_type: schema.schema_type,
                })
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, resolved.clone());
        Ok(resolved)
    }

    pub fn url(&self) -> &str {
        self.registry.url()
    }
}

/// The class of a pair's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judgement {
    /// Same schema by content, same payload.
    Same,
    /// Neither side is framed: the byte-exact checks judge it.
    Unframed,
    /// The target id resolves to nothing in the target registry.
    SchemaUnresolved,
    /// The target id resolves to another schema (or the payloads differ, or framing was lost).
    SchemaMismatch,
    /// The source record's own id resolves to nothing in its registry (a source problem).
    SourceUnresolved,
}

/// Details of a pair that is not [`Judgement::Same`], for examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaExample {
    pub source_id: Option<u32>,
    pub target_id: Option<u32>,
    pub source_subject: Option<(String, u32)>,
    pub target_subject: Option<(String, u32)>,
}

/// Judges a source value against its copy.
pub fn judge(
    source: &Resolver,
    target: &Resolver,
    source_value: &[u8],
    target_value: &[u8],
) -> Result<(Judgement, SchemaExample)> {
    let (s, t) = (wire::parse(source_value), wire::parse(target_value));
    let mut example = SchemaExample {
        source_id: s.map(|f| f.id),
        target_id: t.map(|f| f.id),
        source_subject: None,
        target_subject: None,
    };
    let (s, t) = match (s, t) {
        (None, None) => return Ok((Judgement::Unframed, example)),
        (Some(s), Some(t)) => (s, t),
        _ => return Ok((Judgement::SchemaMismatch, example)),
    };
    let Some(sr) = source.resolve(s.id)? else {
        return Ok((Judgement::SourceUnresolved, example));
    };
    example.source_subject = sr.subject_version.clone();
    let Some(tr) = target.resolve(t.id)? else {
        return Ok((Judgement::SchemaUnresolved, example));
    };
    example.target_subject = tr.subject_version.clone();
    if sr.identity != tr.identity
        || sr.payload_identity(s.payload) != tr.payload_identity(t.payload)
    {
        return Ok((Judgement::SchemaMismatch, example));
    }
    Ok((Judgement::Same, example))
}

/// The identity the checker fingerprints for a framed value: the canonical schema (resolved
/// in `resolver`) and the payload; `None` when unframed or the id resolves to nothing.
pub fn schema_identity(resolver: &Resolver, value: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(framed) = wire::parse(value) else {
        return Ok(None);
    };
    Ok(resolver
        .resolve(framed.id)?
        .map(|resolved| resolved.value_identity(framed.payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::fixtures::{avro, person, ADDR, ADDR_ZIP};
    use crate::memory::MemoryRegistry;

    fn resolvers(src: MemoryRegistry, tgt: MemoryRegistry) -> (Resolver, Resolver) {
        (Resolver::new(Arc::new(src)), Resolver::new(Arc::new(tgt)))
    }

    #[test]
    fn a_translated_id_to_another_timestamp_precision_is_a_mismatch() {
        let ts = |lt: &str| {
            avro(&format!(
                r#"{{"type":"record","name":"E","fields":[{{"name":"at","type":{{"type":"long","logicalType":"{lt}"}}}}]}}"#
            ))
        };
        let src = MemoryRegistry::new("source");
        src.put("events-value", 1, 1, ts("timestamp-millis"));
        let tgt = MemoryRegistry::new("target");
        tgt.put("events-value", 1, 40, ts("timestamp-micros"));
        tgt.put("events-value", 2, 41, ts("timestamp-millis"));
        let (s, t) = resolvers(src, tgt);
        let payload = b"\x02";
        let (j, _) = judge(&s, &t, &wire::frame(1, payload), &wire::frame(40, payload)).unwrap();
        assert_eq!(j, Judgement::SchemaMismatch);
        let (j, _) = judge(&s, &t, &wire::frame(1, payload), &wire::frame(41, payload)).unwrap();
        assert_eq!(j, Judgement::Same);
        assert_ne!(
            schema_identity(&s, &wire::frame(1, payload)).unwrap(),
            schema_identity(&t, &wire::frame(40, payload)).unwrap()
        );
    }

    #[test]
    fn a_reference_renumbered_by_the_merge_is_the_same_schema_for_a_record() {
        let src = MemoryRegistry::new("source");
        src.put("shop-addr", 1, 1, avro(ADDR));
        src.put("person-value", 1, 2, person(1));
        let tgt = MemoryRegistry::new("target");
        tgt.put("shop-addr", 1, 7, avro(ADDR_ZIP));
        tgt.put("shop-addr", 2, 8, avro(r#""string""#));
        tgt.put("shop-addr", 3, 9, avro(ADDR));
        tgt.put("person-value", 1, 10, person(3));
        tgt.put("person-zip", 1, 11, person(1));
        let (s, t) = resolvers(src, tgt);
        let payload = b"\x06abc";
        let (j, example) =
            judge(&s, &t, &wire::frame(2, payload), &wire::frame(10, payload)).unwrap();
        assert_eq!(j, Judgement::Same, "{example:?}");
        assert_eq!(
            schema_identity(&s, &wire::frame(2, payload)).unwrap(),
            schema_identity(&t, &wire::frame(10, payload)).unwrap()
        );
        let (j, _) = judge(&s, &t, &wire::frame(2, payload), &wire::frame(11, payload)).unwrap();
        assert_eq!(
            j,
            Judgement::SchemaMismatch,
            "the reference holds other content"
        );
    }
}
