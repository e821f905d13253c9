//! The checker with schema registries: a framed value (Confluent wire format) is identified by
//! the canonical form of its schema — resolved in the source registry of its topic for a
//! source record, in the target registry for a target record — plus its payload, never by the
//! raw id bytes (a merged registry assigns its own ids).
//!
//! Two hooks in the reader: each record's value is replaced, for its fingerprint, by that
//! schema identity ([`SchemaCheck::value_identity`]), so a correctly translated copy matches;
//! and each framed record with a workload identity is noted per side. When the topic verdict
//! is assembled, every pair whose schemas differ is reclassified from `corrupted` (what the
//! matcher calls a record with the same identity and other content) into
//! `schema-unresolved` (the target id resolves to nothing in the target registry) or
//! `schema-mismatch` (it resolves to another schema), with examples naming partition, offset,
//! source id → target id and subject/version on both sides. Unframed records are checked as
//! before. Records without a workload identity header are matched by fingerprint only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::Regex;
use registry::judge::Resolver;
use registry::{wire, SchemaRegistry};
use sha2::{Digest, Sha256};

use crate::verdict::{AnomalyClass, Example, Position, TopicVerdict};
use crate::VerifyError;

/// Which side a record was read from.
#[derive(Debug, Clone)]
pub enum Side {
    /// The source; `record` notes the record for pairing (the committed view only).
    Source { topic: String, record: bool },
    /// The target; `source_topic` keys the pairing.
    Target { source_topic: String },
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    offset: i64,
    id: u32,
    /// Hash of the schema identity; `None` when the id resolves to nothing.
    schema: Option<u64>,
}

#[derive(Debug, Default)]
struct Pair {
    source: Option<Seen>,
    target: Option<Seen>,
}

/// Registries for the checker: a source registry per topic regex, and the target registry.
#[derive(Debug)]
pub struct SchemaCheck {
    sources: Vec<(Regex, Resolver)>,
    target: Resolver,
    /// (source topic, partition, workload identity) → what each side held.
    seen: Mutex<HashMap<(String, i32, u64), Pair>>,
}

/// The examples kept per class and topic.
const EXAMPLES: usize = 5;

impl SchemaCheck {
    /// `sources`: (anchored topic regex, registry); `target`: the target registry.
    pub fn new(
        sources: Vec<(Regex, Arc<dyn SchemaRegistry>)>,
        target: Arc<dyn SchemaRegistry>,
    ) -> SchemaCheck {
        SchemaCheck {
            sources: sources
                .into_iter()
                .map(|(re, r)| (re, Resolver::new(r)))
                .collect(),
            target: Resolver::new(target),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn resolver(&self, side: &Side) -> Option<&Resolver> {
        match side {
            Side::Source { topic, .. } => self
                .sources
                .iter()
                .find(|(re, _)| re.is_match(topic))
                .map(|(_, r)| r),
            Side::Target { source_topic } => self
                .sources
                .iter()
                .any(|(re, _)| re.is_match(source_topic))
                .then_some(&self.target),
        }
    }

    /// The bytes to fingerprint in place of `value`: canonical schema + payload for a framed
    /// value whose id resolves; `None` to fingerprint the raw value. Notes the record.
    pub fn value_identity(
        &self,
        side: &Side,
        partition: i32,
        offset: i64,
        ident: u64,
        value: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, VerifyError> {
        let Some(framed) = value.and_then(wire::parse) else {
            return Ok(None);
        };
        let Some(resolver) = self.resolver(side) else {
            return Ok(None);
        };
        let resolved = resolver
            .resolve(framed.id)
            .map_err(|e| VerifyError::Kafka {
                cluster: "schema registry".into(),
                detail: e.to_string(),
            })?;
        let schema = resolved.as_ref().map(|r| {
            let d = Sha256::digest(r.identity.as_bytes());
            u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
        });
        let noted = Seen {
            offset,
            id: framed.id,
            schema,
        };
        if ident != 0 {
            let key = |t: &String| (t.clone(), partition, ident);
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            match side {
                Side::Source {
                    topic,
                    record: true,
                } => seen.entry(key(topic)).or_default().source = Some(noted),
                Side::Target { source_topic } => {
                    seen.entry(key(source_topic)).or_default().target = Some(noted)
                }
                Side::Source { record: false, .. } => {}
            }
        }
        Ok(resolved.map(|r| r.value_identity(framed.payload)))
    }

    /// Moves the topic's schema failures out of `corrupted` into `schema-unresolved` and
    /// `schema-mismatch`, with examples.
    pub fn reclassify(&self, verdict: &mut TopicVerdict) {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<(AnomalyClass, i32, Seen, Seen)> = Vec::new();
        for ((topic, partition, _), pair) in seen.iter() {
            if *topic != verdict.source_topic {
                continue;
            }
            let (Some(s), Some(t)) = (pair.source, pair.target) else {
                continue;
            };
            let class = match (s.schema, t.schema) {
                (Some(_), None) => AnomalyClass::SchemaUnresolved,
                (Some(a), Some(b)) if a != b => AnomalyClass::SchemaMismatch,
                _ => continue,
            };
            found.push((class, *partition, s, t));
        }
        found.sort_by_key(|(c, p, s, _)| (*c, *p, s.offset));
        let total = found.len() as u64;
        if total == 0 {
            return;
        }
        verdict.counts.take(AnomalyClass::Corrupted, total);
        verdict.examples.retain(|e| {
            e.class != AnomalyClass::Corrupted || verdict.counts.get(AnomalyClass::Corrupted) > 0
        });
        for (class, partition, _, _) in &found {
            verdict.counts.add(*class, 1);
            if let Some(pv) = verdict
                .partitions
                .iter_mut()
                .find(|pv| pv.partition == *partition)
            {
                pv.counts.take(AnomalyClass::Corrupted, 1);
                pv.counts.add(*class, 1);
            }
        }
        for class in [AnomalyClass::SchemaUnresolved, AnomalyClass::SchemaMismatch] {
            for (_, partition, s, t) in found.iter().filter(|f| f.0 == class).take(EXAMPLES) {
                let subject = |r: &Resolver, id: u32| {
                    r.resolve(id)
                        .ok()
                        .flatten()
                        .and_then(|x| x.subject_version)
                        .map_or_else(|| "nothing".to_string(), |(s, v)| format!("{s} v{v}"))
                };
                let source_resolver = self
                    .resolver(&Side::Source {
                        topic: verdict.source_topic.clone(),
                        record: false,
                    })
                    .map_or_else(|| "?".to_string(), |r| subject(r, s.id));
                verdict.examples.push(Example {
                    class,
                    source: Some(Position {
                        topic: verdict.source_topic.clone(),
                        partition: *partition,
                        offset: s.offset,
                    }),
                    target: vec![Position {
                        topic: verdict.target_topic.clone(),
                        partition: *partition,
                        offset: t.offset,
                    }],
                    key_preview: None,
                    detail: Some(format!(
                        "source id {} ({}) → target id {} ({})",
                        s.id,
                        source_resolver,
                        t.id,
                        subject(&self.target, t.id)
                    )),
                });
            }
        }
    }
}
