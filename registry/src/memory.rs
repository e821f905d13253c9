//! An in-memory [`SchemaRegistry`] for unit tests: rows placed at explicit versions and ids,
//! so a test can build a merge that renumbered a subject's versions.

use std::sync::Mutex;

use crate::client::{RegisteredSchema, Schema, SchemaRegistry};
use crate::error::{RegistryError, Result};

/// Rows `(subject, version, id, schema)`; the compatibility level is `BACKWARD` everywhere.
pub struct MemoryRegistry {
    url: String,
    rows: Mutex<Vec<(String, u32, u32, Schema)>>,
}

impl MemoryRegistry {
    pub fn new(name: &str) -> MemoryRegistry {
        MemoryRegistry {
            url: format!("memory://{name}"),
            rows: Mutex::new(Vec::new()),
        }
    }

    /// Places `schema` at `subject` version `version` with id `id`.
    pub fn put(&self, subject: &str, version: u32, id: u32, schema: Schema) {
        self.rows
            .lock()
            .unwrap()
            .push((subject.to_string(), version, id, schema));
    }

    fn row(&self, pick: impl Fn(&(String, u32, u32, Schema)) -> bool) -> Option<RegisteredSchema> {
        self.rows
            .lock()
            .unwrap()
            .iter()
            .find(|r| pick(r))
            .map(|r| RegisteredSchema {
                subject: r.0.clone(),
                version: r.1,
                id: r.2,
                schema: r.3.clone(),
            })
    }
}

fn not_found(url: String) -> RegistryError {
    RegistryError::Http {
        method: "GET",
        url,
        status: 404,
        body: "not found".into(),
    }
}

impl SchemaRegistry for MemoryRegistry {
    fn url(&self) -> &str {
        &self.url
    }
    fn subjects(&self) -> Result<Vec<String>> {
        let mut s: Vec<String> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.0.clone())
            .collect();
        s.sort();
        s.dedup();
        Ok(s)
    }
    fn versions(&self, subject: &str) -> Result<Vec<u32>> {
        let mut v: Vec<u32> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.0 == subject)
            .map(|r| r.1)
            .collect();
        if v.is_empty() {
            return Err(not_found(subject.to_string()));
        }
        v.sort_unstable();
        Ok(v)
    }
    fn version(&self, subject: &str, version: u32) -> Result<RegisteredSchema> {
        self.row(|r| r.0 == subject && r.1 == version)
            .ok_or_else(|| not_found(format!("{subject}/{version}")))
    }
    fn schema_by_id(&self, id: u32) -> Result<Option<Schema>> {
        Ok(self.row(|r| r.2 == id).map(|r| r.schema))
    }
    fn id_versions(&self, id: u32) -> Result<Vec<(String, u32)>> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.2 == id)
            .map(|r| (r.0.clone(), r.1))
            .collect())
    }
    fn register(&self, subject: &str, schema: &Schema) -> Result<u32> {
        if let Some(r) = self.row(|r| r.0 == subject && r.3 == *schema) {
            return Ok(r.id);
        }
        let (version, id) = {
            let rows = self.rows.lock().unwrap();
            let version = rows.iter().filter(|r| r.0 == subject).map(|r| r.1).max();
            let id = rows.iter().map(|r| r.2).max();
            (version.unwrap_or(0) + 1, id.unwrap_or(0) + 1)
        };
        self.put(subject, version, id, schema.clone());
        Ok(id)
    }
    fn lookup(&self, subject: &str, schema: &Schema) -> Result<Option<RegisteredSchema>> {
        Ok(self.row(|r| r.0 == subject && r.3 == *schema))
    }
    fn compatibility(&self, _subject: Option<&str>) -> Result<Option<String>> {
        Ok(Some("BACKWARD".into()))
    }
    fn set_compatibility(&self, _subject: Option<&str>, _level: &str) -> Result<()> {
        Ok(())
    }
}

/// Schemas the unit tests share: an address record in two shapes and a person that references
/// it by (subject `shop-addr`, version).
pub(crate) mod fixtures {
    use crate::canonical::SchemaType;
    use crate::client::{Reference, Schema};

    pub(crate) const ADDR: &str = r#"{"type":"record","name":"Addr","namespace":"shop","fields":[{"name":"street","type":"string"}]}"#;
    pub(crate) const ADDR_ZIP: &str = r#"{"type":"record","name":"Addr","namespace":"shop","fields":[{"name":"zip","type":"string"}]}"#;
    pub(crate) const PERSON: &str = r#"{"type":"record","name":"Person","namespace":"shop","fields":[{"name":"home","type":"shop.Addr"}]}"#;

    pub(crate) fn avro(text: &str) -> Schema {
        Schema::new(SchemaType::Avro, text)
    }

    /// PERSON referencing `shop-addr` at `addr_version`.
    pub(crate) fn person(addr_version: u32) -> Schema {
        let mut s = avro(PERSON);
        s.references.push(Reference {
            name: "shop.Addr".into(),
            subject: "shop-addr".into(),
            version: addr_version,
        });
        s
    }
}
