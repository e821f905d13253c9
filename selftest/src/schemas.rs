//! The schema part of the selftest: a source topic whose values are in the Confluent wire
//! format, and two fixed in-process registries (no server, no Java): the source registry and
//! a "merged" target registry that numbered the same schemas differently, as a real merge does.
//! The checker reads them through the same [`SchemaRegistry`] trait as an HTTP registry.
//!
//! Subject `selftest-schemas-value`: version 1 (id 1 on the source, 101 on the target) is
//! `Event {id: long, body: bytes}`; version 2 (id 2, 102) adds an optional `note` with a
//! default. Every third record uses version 2.

use registry::{wire, RegisteredSchema, RegistryError, Schema, SchemaRegistry, SchemaType};

use crate::copier::Record;

/// The framed source topic.
pub const SCHEMA_TOPIC: &str = "selftest-schemas";
const SUBJECT: &str = "selftest-schemas-value";
/// Producer number in the records' workload identity header (the workload numbers its
/// producers from 0 up, so this one is apart).
const PRODUCER: u16 = 0x5e1f;

/// Source ids of versions 1 and 2.
pub const SOURCE_IDS: [u32; 2] = [1, 2];
/// Target ids of the same versions.
pub const TARGET_IDS: [u32; 2] = [101, 102];
/// An id the target registry does not hold.
pub const UNKNOWN_ID: u32 = 999;

fn schema(version: usize) -> Schema {
    let text = if version == 0 {
        r#"{"type":"record","name":"Event","namespace":"cutover.selftest","fields":[{"name":"id","type":"long"},{"name":"body","type":"bytes"}]}"#
    } else {
        r#"{"type":"record","name":"Event","namespace":"cutover.selftest","fields":[{"name":"id","type":"long"},{"name":"body","type":"bytes"},{"name":"note","type":["null","string"],"default":null}]}"#
    };
    Schema::new(SchemaType::Avro, text)
}

/// A read-only registry holding one subject's two versions under the given ids.
#[derive(Debug)]
pub struct FixedRegistry {
    url: String,
    ids: [u32; 2],
}

impl FixedRegistry {
    pub fn source() -> FixedRegistry {
        FixedRegistry {
            url: "selftest://source-registry".into(),
            ids: SOURCE_IDS,
        }
    }

    pub fn target() -> FixedRegistry {
        FixedRegistry {
            url: "selftest://target-registry".into(),
            ids: TARGET_IDS,
        }
    }

    fn row(&self, version: usize) -> RegisteredSchema {
        RegisteredSchema {
            subject: SUBJECT.into(),
            version: version as u32 + 1,
            id: self.ids[version],
            schema: schema(version),
        }
    }

    fn not_found(&self, what: String) -> RegistryError {
        RegistryError::Http {
            method: "GET",
            url: format!("{}/{what}", self.url),
            status: 404,
            body: "not found".into(),
        }
    }
}

impl SchemaRegistry for FixedRegistry {
    fn url(&self) -> &str {
        &self.url
    }
    fn subjects(&self) -> registry::Result<Vec<String>> {
        Ok(vec![SUBJECT.into()])
    }
    fn versions(&self, subject: &str) -> registry::Result<Vec<u32>> {
        if subject == SUBJECT {
            Ok(vec![1, 2])
        } else {
            Err(self.not_found(format!("subjects/{subject}")))
        }
    }
    fn version(&self, subject: &str, version: u32) -> registry::Result<RegisteredSchema> {
        match (subject == SUBJECT, version) {
            (true, 1 | 2) => Ok(self.row(version as usize - 1)),
            _ => Err(self.not_found(format!("subjects/{subject}/versions/{version}"))),
        }
    }
    fn schema_by_id(&self, id: u32) -> registry::Result<Option<Schema>> {
        Ok(self.ids.iter().position(|i| *i == id).map(schema))
    }
    fn id_versions(&self, id: u32) -> registry::Result<Vec<(String, u32)>> {
        Ok(self
            .ids
            .iter()
            .position(|i| *i == id)
            .map(|v| vec![(SUBJECT.to_string(), v as u32 + 1)])
            .unwrap_or_default())
    }
    fn register(&self, subject: &str, schema: &Schema) -> registry::Result<u32> {
        match self.lookup(subject, schema)? {
            Some(r) => Ok(r.id),
            None => Err(RegistryError::Http {
                method: "POST",
                url: format!("{}/subjects/{subject}/versions", self.url),
                status: 405,
                body: "the selftest's registries are read-only".into(),
            }),
        }
    }
    fn lookup(&self, subject: &str, schema: &Schema) -> registry::Result<Option<RegisteredSchema>> {
        Ok((subject == SUBJECT)
            .then(|| (0..2).map(|v| self.row(v)).find(|r| r.schema == *schema))
            .flatten())
    }
    fn compatibility(&self, _subject: Option<&str>) -> registry::Result<Option<String>> {
        Ok(Some("BACKWARD".into()))
    }
    fn set_compatibility(&self, _subject: Option<&str>, _level: &str) -> registry::Result<()> {
        Ok(())
    }
}

/// Appends a long as Avro writes it (zig-zag, then base-128 varint).
fn avro_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The framed source records: `per_partition` in each of `partitions`, every third with
/// version 2 (its `note` null: union branch 0), each with a workload identity header.
pub(crate) fn source_records(partitions: i32, per_partition: u64) -> Vec<Vec<Record>> {
    let mut seq = 0u64;
    (0..partitions)
        .map(|p| {
            (0..per_partition)
                .map(|i| {
                    seq += 1;
                    let version = usize::from(i % 3 == 2);
                    let body = format!("selftest record {seq} in partition {p}");
                    let mut payload = Vec::new();
                    avro_long(&mut payload, seq as i64);
                    avro_long(&mut payload, body.len() as i64);
                    payload.extend_from_slice(body.as_bytes());
                    if version == 1 {
                        avro_long(&mut payload, 0);
                    }
                    Record {
                        offset: i as i64,
                        key: Some(format!("key-{}", seq % 17).into_bytes()),
                        value: Some(wire::frame(SOURCE_IDS[version], &payload)),
                        headers: vec![(
                            verify::fingerprint::WORKLOAD_ID_HEADER.to_string(),
                            Some(verify::fingerprint::encode_identity(PRODUCER, seq).to_vec()),
                        )],
                        timestamp: None,
                    }
                })
                .collect()
        })
        .collect()
}

/// The schema id of a framed value, and the value with its id replaced by `id`.
pub(crate) fn reframe(value: &[u8], id: u32) -> Option<(u32, Vec<u8>)> {
    let framed = wire::parse(value)?;
    Some((framed.id, wire::frame(id, framed.payload)))
}
