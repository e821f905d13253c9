//! Schema handling for a migration that merges schema registries: before copying, every
//! subject/version of the source registries is copied into the target registry with the same
//! version numbers (a subject two sources hold with different content is a conflict, reported
//! before anything is copied, never merged); while copying, each record in the Confluent wire
//! format gets the target registry's id for the same schema (cached per source id).
//!
//! Configured with `[schemas]` in the replicator's TOML:
//!
//! ```toml
//! [schemas]
//! target = "http://127.0.0.1:8081/apis/ccompat/v7"
//! [[schemas.source]]
//! topics = "orders\\..*"          # regex over source topic names
//! url = "http://127.0.0.1:8082/apis/ccompat/v7"
//! ```
//!
//! Registries that ignore an explicit id on registration (Apicurio, measured) make id
//! translation necessary; registries that honour `IMPORT` mode would still be translated
//! correctly (the lookup finds the same id). Versions are registered in order, so they keep
//! their numbers on an empty target subject; a number the target assigns differently is an
//! error, not a silent renumbering.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use regex::Regex;
use registry::compare::content_identity;
use registry::{wire, HttpRegistry, RegistryError, SchemaRegistry};
use serde::Deserialize;

/// `[schemas]` as written in the TOML.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchemas {
    /// The target registry's URL (Confluent-compatible API).
    pub target: String,
    /// Source registries (`[[schemas.source]]`), each for the topics its regex matches.
    #[serde(rename = "source", default)]
    pub sources: Vec<RawSource>,
}

/// `[[schemas.source]]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Regex over source topic names whose records use this registry.
    pub topics: String,
    /// The source registry's URL (Confluent-compatible API).
    pub url: String,
}

/// Why a record or the registry copy could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A registry could not be reached or answered an error (worth a retry).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A record's schema id does not resolve in its source registry.
    #[error("topic {topic}: schema id {id} does not resolve in source registry {registry}")]
    Unresolved {
        topic: String,
        id: u32,
        registry: String,
    },
    /// The sources disagree, or the target already holds something else.
    #[error("schema registry conflicts (nothing copied): {}", .0.join("; "))]
    Conflicts(Vec<String>),
    /// The target numbered a copied version differently.
    #[error("{subject}: source version {source_version} became target version {target_version}; versions cannot be kept")]
    VersionDrift {
        subject: String,
        source_version: u32,
        target_version: u32,
    },
}

impl SchemaError {
    /// True when retrying later may succeed (a registry unreachable or erroring).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SchemaError::Registry(RegistryError::Transport { .. })
                | SchemaError::Registry(RegistryError::Http { status: 500.., .. })
        )
    }
}

/// What the registry copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub subjects: usize,
    /// Versions registered on the target now.
    pub copied: usize,
    /// Versions the target held already (same content).
    pub present: usize,
}

/// The source registries, the target registry and the id cache, shared by every worker.
pub struct Schemas {
    sources: Vec<(Regex, Box<dyn SchemaRegistry>)>,
    target: Box<dyn SchemaRegistry>,
    topic_source: Mutex<HashMap<String, Option<usize>>>,
    ids: Mutex<HashMap<(usize, u32), u32>>,
    copy_lock: Mutex<()>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("target", &self.target.url())
            .field(
                "sources",
                &self
                    .sources
                    .iter()
                    .map(|(r, s)| format!("{} → {}", r.as_str(), s.url()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Schemas {
    /// From the TOML section; `Err((field, reason))` on a bad regex or URL.
    pub fn from_raw(raw: &RawSchemas) -> Result<Schemas, (String, String)> {
        let target = HttpRegistry::new(&raw.target)
            .map_err(|e| ("schemas.target".to_string(), e.to_string()))?;
        if raw.sources.is_empty() {
            return Err((
                "schemas.source".into(),
                "expected at least one [[schemas.source]] with `topics` and `url`".into(),
            ));
        }
        let mut sources: Vec<(Regex, Box<dyn SchemaRegistry>)> = Vec::new();
        for (i, s) in raw.sources.iter().enumerate() {
            let re = Regex::new(&format!("^(?:{})$", s.topics)).map_err(|e| {
                (
                    format!("schemas.source[{i}].topics"),
                    format!("`{}` is not a valid regex: {e}", s.topics),
                )
            })?;
            let client = HttpRegistry::new(&s.url)
                .map_err(|e| (format!("schemas.source[{i}].url"), e.to_string()))?;
            sources.push((re, Box::new(client)));
        }
        Ok(Schemas::new(sources, Box::new(target)))
    }

    /// From registries already built (tests and benches use in-memory ones).
    pub fn new(
        sources: Vec<(Regex, Box<dyn SchemaRegistry>)>,
        target: Box<dyn SchemaRegistry>,
    ) -> Schemas {
        Schemas {
            sources,
            target,
            topic_source: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
            copy_lock: Mutex::new(()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (cache hits, cache misses) of [`Schemas::translate`].
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn source_of(&self, topic: &str) -> Option<usize> {
        let mut map = self.topic_source.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = map.get(topic) {
            return *found;
        }
        let found = self.sources.iter().position(|(re, _)| re.is_match(topic));
        map.insert(topic.to_string(), found);
        found
    }

    /// The sources' conflicts: a subject/version two sources hold with different content.
    pub fn conflicts(&self) -> Result<Vec<String>, SchemaError> {
        let mut seen: BTreeMap<(String, u32), Vec<(String, String)>> = BTreeMap::new();
        for (_, source) in &self.sources {
            for subject in source.subjects()? {
                for v in source.versions(&subject)? {
                    let registered = source.version(&subject, v)?;
                    let identity = match content_identity(source.as_ref(), &registered.schema)? {
                        Ok(id) => id,
                        Err(detail) => format!("unresolved: {detail}"),
                    };
                    seen.entry((subject.clone(), v))
                        .or_default()
                        .push((source.url().to_string(), identity));
                }
            }
        }
        Ok(seen
            .into_iter()
            .filter(|(_, holders)| {
                holders
                    .iter()
                    .map(|(_, i)| i)
                    .collect::<BTreeSet<_>>()
                    .len()
                    > 1
            })
            .map(|((subject, v), holders)| {
                format!(
                    "{subject} v{v} differs between {}",
                    holders
                        .iter()
                        .map(|(u, _)| u.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            })
            .collect())
    }

    /// Checks the sources for conflicts (refusing to copy anything if there is one), then
    /// copies every subject/version of every source to the target, in version order.
    pub fn setup(&self) -> Result<CopyReport, SchemaError> {
        let conflicts = self.conflicts()?;
        if !conflicts.is_empty() {
            return Err(SchemaError::Conflicts(conflicts));
        }
        let mut report = CopyReport::default();
        for i in 0..self.sources.len() {
            for subject in self.sources[i].1.subjects()? {
                report.subjects += 1;
                let (copied, present) = self.copy_subject(i, &subject, 0)?;
                report.copied += copied;
                report.present += present;
            }
        }
        Ok(report)
    }

    /// Copies the source's versions of `subject` the target lacks, in order (referenced
    /// subjects first). Returns (copied, already present).
    fn copy_subject(
        &self,
        source: usize,
        subject: &str,
        depth: usize,
    ) -> Result<(usize, usize), SchemaError> {
        let _guard = (depth == 0).then(|| self.copy_lock.lock().unwrap_or_else(|p| p.into_inner()));
        let src = self.sources[source].1.as_ref();
        let target = self.target.as_ref();
        let on_target: BTreeSet<u32> = match target.versions(subject) {
            Ok(v) => v.into_iter().collect(),
            Err(e) if e.is_not_found() => BTreeSet::new(),
            Err(e) => return Err(e.into()),
        };
        let (mut copied, mut present) = (0, 0);
        for v in src.versions(subject)? {
            let registered = src.version(subject, v)?;
            let want = content_identity(src, &registered.schema)?;
            if on_target.contains(&v) {
                let have = target.version(subject, v)?;
                if content_identity(target, &have.schema)? != want {
                    return Err(SchemaError::Conflicts(vec![format!(
                        "{subject} v{v}: the target holds another schema at this version"
                    )]));
                }
                present += 1;
                continue;
            }
            if depth < 16 {
                for r in &registered.schema.references {
                    self.copy_subject(source, &r.subject, depth + 1)?;
                }
            }
            target.register(subject, &registered.schema)?;
            let landed = target
                .lookup(subject, &registered.schema)?
                .map_or(0, |r| r.version);
            if landed != v {
                return Err(SchemaError::VersionDrift {
                    subject: subject.to_string(),
                    source_version: v,
                    target_version: landed,
                });
            }
            tracing::info!(subject, version = v, "schema copied to the target registry");
            copied += 1;
        }
        Ok((copied, present))
    }

    fn resolve(&self, topic: &str, source: usize, id: u32) -> Result<u32, SchemaError> {
        let src = self.sources[source].1.as_ref();
        let unresolved = || SchemaError::Unresolved {
            topic: topic.to_string(),
            id,
            registry: src.url().to_string(),
        };
        let holders = src.id_versions(id)?;
        let (subject, version) = holders.first().cloned().ok_or_else(unresolved)?;
        let registered = src.version(&subject, version)?;
        let found = match self.target.lookup(&subject, &registered.schema)? {
            Some(found) => found,
            None => {
                // A version registered after the setup (evolution mid-run): copy every subject
                // holding this id (one schema may sit under several subjects).
                for (holder, _) in &holders {
                    self.copy_subject(source, holder, 0)?;
                }
                self.target
                    .lookup(&subject, &registered.schema)?
                    .ok_or_else(unresolved)?
            }
        };
        tracing::debug!(topic, source_id = id, target_id = found.id, %subject, version, "schema id translated");
        Ok(found.id)
    }

    /// `value` with its schema id replaced by the target registry's id for the same schema;
    /// borrowed unchanged when it is not framed, its topic has no registry, or the ids agree.
    pub fn translate<'a>(
        &self,
        topic: &str,
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, SchemaError> {
        let Some(framed) = wire::parse(value) else {
            return Ok(Cow::Borrowed(value));
        };
        let Some(source) = self.source_of(topic) else {
            return Ok(Cow::Borrowed(value));
        };
        let cached = self
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(source, framed.id))
            .copied();
        let target_id = match cached {
            Some(t) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                t
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let t = self.resolve(topic, source, framed.id)?;
                self.ids
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((source, framed.id), t);
                t
            }
        };
        Ok(wire::with_id(value, target_id))
    }

    /// A translator bound to one topic (what a partition's worker holds).
    pub fn for_topic(self: &Arc<Self>, topic: &str) -> TopicSchemas {
        TopicSchemas {
            schemas: self.clone(),
            topic: topic.to_string(),
        }
    }
}

/// [`Schemas::translate`] for one topic.
#[derive(Debug, Clone)]
pub struct TopicSchemas {
    schemas: Arc<Schemas>,
    topic: String,
}

impl TopicSchemas {
    /// The record value with the target's schema id (see [`Schemas::translate`]).
    pub fn translate<'a>(&self, value: &'a [u8]) -> Result<Cow<'a, [u8]>, SchemaError> {
        self.schemas.translate(&self.topic, value)
    }
}

/// Copies the registries before any record is copied (the engine's first step); a no-op
/// without `[schemas]`.
pub fn prepare(config: &crate::ReplicatorConfig) -> Result<(), SchemaError> {
    if let Some(schemas) = &config.schemas {
        let report = schemas.setup()?;
        tracing::info!(
            subjects = report.subjects,
            copied = report.copied,
            present = report.present,
            "schema registries copied to the target"
        );
    }
    Ok(())
}

/// The value to write for a record of `topic`: translated when `[schemas]` is configured.
pub fn value_for<'a>(
    config: &crate::ReplicatorConfig,
    topic: &str,
    value: Option<&'a [u8]>,
) -> Result<Option<Cow<'a, [u8]>>, SchemaError> {
    match (&config.schemas, value) {
        (Some(schemas), Some(v)) => schemas.translate(topic, v).map(Some),
        (_, v) => Ok(v.map(Cow::Borrowed)),
    }
}

/// An in-memory registry with the Confluent API's numbering (ids global per registry,
/// versions per subject), for unit tests and the translation bench.
pub mod memory {
    use std::sync::Mutex;

    use registry::{RegisteredSchema, RegistryError, Schema, SchemaRegistry};

    #[derive(Default)]
    pub struct MemoryRegistry {
        name: String,
        // (subject, version, id, schema)
        rows: Mutex<Vec<(String, u32, u32, Schema)>>,
        next_id: Mutex<u32>,
    }

    impl MemoryRegistry {
        /// A registry whose ids start at `first_id`.
        pub fn new(name: &str, first_id: u32) -> MemoryRegistry {
            MemoryRegistry {
                name: format!("memory://{name}"),
                rows: Mutex::new(Vec::new()),
                next_id: Mutex::new(first_id),
            }
        }
    }

    fn not_found(what: String) -> RegistryError {
        RegistryError::Http {
            method: "GET",
            url: what,
            status: 404,
            body: "not found".into(),
        }
    }

    impl SchemaRegistry for MemoryRegistry {
        fn url(&self) -> &str {
            &self.name
        }
        fn subjects(&self) -> registry::Result<Vec<String>> {
            let rows = self.rows.lock().unwrap();
            let mut s: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            s.sort();
            s.dedup();
            Ok(s)
        }
        fn versions(&self, subject: &str) -> registry::Result<Vec<u32>> {
            let rows = self.rows.lock().unwrap();
            let v: Vec<u32> = rows
                .iter()
                .filter(|r| r.0 == subject)
                .map(|r| r.1)
                .collect();
            if v.is_empty() {
                return Err(not_found(subject.into()));
            }
            Ok(v)
        }
        fn version(&self, subject: &str, version: u32) -> registry::Result<RegisteredSchema> {
            let rows = self.rows.lock().unwrap();
            rows.iter()
                .find(|r| r.0 == subject && r.1 == version)
                .map(|r| RegisteredSchema {
                    subject: r.0.clone(),
                    version: r.1,
                    id: r.2,
                    schema: r.3.clone(),
                })
                .ok_or_else(|| not_found(format!("{subject}/{version}")))
        }
        fn schema_by_id(&self, id: u32) -> registry::Result<Option<Schema>> {
            let rows = self.rows.lock().unwrap();
            Ok(rows.iter().find(|r| r.2 == id).map(|r| r.3.clone()))
        }
        fn id_versions(&self, id: u32) -> registry::Result<Vec<(String, u32)>> {
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|r| r.2 == id)
                .map(|r| (r.0.clone(), r.1))
                .collect())
        }
        fn register(&self, subject: &str, schema: &Schema) -> registry::Result<u32> {
            let mut rows = self.rows.lock().unwrap();
            if let Some(r) = rows.iter().find(|r| r.0 == subject && r.3 == *schema) {
                return Ok(r.2);
            }
            let id = match rows.iter().find(|r| r.3 == *schema) {
                Some(r) => r.2,
                None => {
                    let mut next = self.next_id.lock().unwrap();
                    *next += 1;
                    *next - 1
                }
            };
            let version = rows
                .iter()
                .filter(|r| r.0 == subject)
                .map(|r| r.1)
                .max()
                .unwrap_or(0)
                + 1;
            rows.push((subject.to_string(), version, id, schema.clone()));
            Ok(id)
        }
        fn lookup(
            &self,
            subject: &str,
            schema: &Schema,
        ) -> registry::Result<Option<RegisteredSchema>> {
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .iter()
                .find(|r| r.0 == subject && r.3 == *schema)
                .map(|r| RegisteredSchema {
                    subject: r.0.clone(),
                    version: r.1,
                    id: r.2,
                    schema: r.3.clone(),
                }))
        }
        fn compatibility(&self, _subject: Option<&str>) -> registry::Result<Option<String>> {
            Ok(Some("BACKWARD".into()))
        }
        fn set_compatibility(&self, _subject: Option<&str>, _level: &str) -> registry::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryRegistry;
    use super::*;
    use registry::{Schema, SchemaType};

    fn avro(fields: &str) -> Schema {
        Schema::new(
            SchemaType::Avro,
            format!(r#"{{"type":"record","name":"E","fields":[{fields}]}}"#),
        )
    }

    fn setup() -> (Arc<Schemas>, u32, u32) {
        let a = MemoryRegistry::new("a", 1);
        let b = MemoryRegistry::new("b", 1);
        let a1 = a
            .register("orders-value", &avro(r#"{"name":"id","type":"long"}"#))
            .unwrap();
        let b1 = b
            .register("users-value", &avro(r#"{"name":"u","type":"string"}"#))
            .unwrap();
        assert_eq!(a1, b1, "overlapping ids");
        let target = MemoryRegistry::new("t", 100);
        let schemas = Schemas::new(
            vec![
                (Regex::new("^orders.*$").unwrap(), Box::new(a)),
                (Regex::new("^users.*$").unwrap(), Box::new(b)),
            ],
            Box::new(target),
        );
        (Arc::new(schemas), a1, b1)
    }

    #[test]
    fn overlapping_source_ids_translate_to_distinct_target_ids() {
        let (schemas, a1, b1) = setup();
        let report = schemas.setup().unwrap();
        assert_eq!(
            report,
            CopyReport {
                subjects: 2,
                copied: 2,
                present: 0
            }
        );
        let orders = wire::frame(a1, b"o");
        let users = wire::frame(b1, b"u");
        let to = schemas
            .for_topic("orders")
            .translate(&orders)
            .unwrap()
            .into_owned();
        let tu = schemas
            .for_topic("users")
            .translate(&users)
            .unwrap()
            .into_owned();
        let (io, iu) = (wire::parse(&to).unwrap(), wire::parse(&tu).unwrap());
        assert_ne!(io.id, iu.id, "one source id, two target schemas");
        assert_eq!((io.payload, iu.payload), (&b"o"[..], &b"u"[..]));
        assert_eq!(schemas.stats(), (0, 2));
        schemas.for_topic("orders").translate(&orders).unwrap();
        assert_eq!(schemas.stats(), (1, 2), "the second lookup is a cache hit");
        // Unframed values and topics without a registry pass through borrowed.
        assert!(matches!(
            schemas.translate("orders", b"plain"),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(
            schemas.translate("other", &orders),
            Ok(Cow::Borrowed(_))
        ));
        // An unknown id is an error naming topic and id, not a silent pass-through.
        let err = schemas
            .translate("orders", &wire::frame(77, b"x"))
            .unwrap_err();
        assert!(
            matches!(err, SchemaError::Unresolved { id: 77, .. }),
            "{err}"
        );
        assert!(!err.is_transient());
        // A setup run again finds everything present.
        assert_eq!(schemas.setup().unwrap().present, 2);
    }

    #[test]
    fn versions_registered_mid_run_are_copied_in_order_on_first_use() {
        let a = MemoryRegistry::new("a", 1);
        a.register("orders-value", &avro(r#"{"name":"id","type":"long"}"#))
            .unwrap();
        let schemas = Arc::new(Schemas::new(
            vec![(Regex::new(".*").unwrap(), Box::new(a))],
            Box::new(MemoryRegistry::new("t", 50)),
        ));
        schemas.setup().unwrap();
        let v2 = avro(
            r#"{"name":"id","type":"long"},{"name":"n","type":["null","string"],"default":null}"#,
        );
        let src_v2 = schemas.sources[0].1.register("orders-value", &v2).unwrap();
        let framed = wire::frame(src_v2, b"p");
        let out = schemas.translate("orders", &framed).unwrap();
        let tid = wire::parse(&out).unwrap().id;
        let on_target = schemas.target.lookup("orders-value", &v2).unwrap().unwrap();
        assert_eq!((on_target.version, on_target.id), (2, tid));
    }

    #[test]
    fn a_version_shared_by_two_subjects_is_copied_under_both() {
        let a = MemoryRegistry::new("a", 1);
        let v1 = avro(r#"{"name":"id","type":"long"}"#);
        a.register("x-value", &v1).unwrap();
        a.register("y-value", &v1).unwrap();
        let schemas = Arc::new(Schemas::new(
            vec![(Regex::new(".*").unwrap(), Box::new(a))],
            Box::new(MemoryRegistry::new("t", 9)),
        ));
        schemas.setup().unwrap();
        let v2 = avro(
            r#"{"name":"id","type":"long"},{"name":"n","type":["null","string"],"default":null}"#,
        );
        let id = schemas.sources[0].1.register("x-value", &v2).unwrap();
        assert_eq!(schemas.sources[0].1.register("y-value", &v2).unwrap(), id);
        let framed = wire::frame(id, b"p");
        schemas.translate("x", &framed).unwrap();
        for subject in ["x-value", "y-value"] {
            assert_eq!(
                schemas.target.versions(subject).unwrap(),
                vec![1, 2],
                "{subject}"
            );
        }
    }

    #[test]
    fn a_subject_two_sources_hold_differently_is_a_conflict_and_nothing_is_copied() {
        let a = MemoryRegistry::new("a", 1);
        let b = MemoryRegistry::new("b", 1);
        a.register("shared-value", &avro(r#"{"name":"x","type":"int"}"#))
            .unwrap();
        b.register("shared-value", &avro(r#"{"name":"x","type":"long"}"#))
            .unwrap();
        let schemas = Schemas::new(
            vec![
                (Regex::new("a.*").unwrap(), Box::new(a)),
                (Regex::new("b.*").unwrap(), Box::new(b)),
            ],
            Box::new(MemoryRegistry::new("t", 1)),
        );
        let err = schemas.setup().unwrap_err();
        assert!(
            matches!(&err, SchemaError::Conflicts(c) if c.len() == 1 && c[0].contains("shared-value v1")),
            "{err}"
        );
        assert!(
            schemas.target.subjects().unwrap().is_empty(),
            "nothing copied"
        );
    }

    #[test]
    fn bad_sections_name_the_field() {
        let raw: RawSchemas = toml::from_str(
            "target = \"http://t\"\n[[source]]\ntopics = \"(\"\nurl = \"http://s\"\n",
        )
        .unwrap();
        assert_eq!(
            Schemas::from_raw(&raw).unwrap_err().0,
            "schemas.source[0].topics"
        );
        let raw: RawSchemas = toml::from_str("target = \"nope\"\n").unwrap();
        assert_eq!(Schemas::from_raw(&raw).unwrap_err().0, "schemas.target");
        let raw: RawSchemas = toml::from_str("target = \"http://t\"\n").unwrap();
        assert_eq!(Schemas::from_raw(&raw).unwrap_err().0, "schemas.source");
    }
}
