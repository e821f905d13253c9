//! Records in the Confluent wire format (`[schema]` in a workload spec): the seed migration's
//! case of two source registries, each owning a group of topics.
//!
//! Topic `i` belongs to registry `i % registries.len()` and uses format
//! `formats[i % formats.len()]` (Avro or JSON Schema). Each topic's subject is `<topic>-value`
//! (TopicNameStrategy). Version 1 is registered before the first record; version 2 (a
//! compatible change: an optional field with a default) when a producer's record number
//! reaches `evolve_after_records`, so evolution happens mid-run. Two fresh registries number
//! their ids from the same start, so the same id names different schemas in the two groups.
//!
//! The payload is derived from the generated value bytes (the workload's randomness is
//! unchanged): Avro binary of `{id: long, body: bytes[, note: union{null,string}]}`, the
//! JSON document `{"id":…,"body":"<hex>"[,"note":null]}`, or the Protobuf message
//! `Event {int64 id = 1; bytes body = 2[; Note note = 3]}` after its message-index array
//! (`[0]`, the single byte 0, in v1; `[1]` in v2, which declares `Note` first); then framed
//! with the schema id. Protobuf schemas are registered with `schemaType` `PROTOBUF`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use registry::{wire, HttpRegistry, Schema, SchemaRegistry, SchemaType};
use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;
use crate::generator::GeneratedRecord;

/// A payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Avro,
    Json,
    Protobuf,
}

/// `[schema]`: frame every value with a registered schema's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaSpec {
    /// The registries' Confluent-compatible URLs (topic i uses registry i mod n). A scenario
    /// with registries fills this in.
    #[serde(default)]
    pub registries: Vec<String>,
    /// Formats by topic (topic i uses format i mod n).
    #[serde(default = "default_formats")]
    pub formats: Vec<Format>,
    /// Each producer switches to version 2 at this record number (0: never evolve).
    #[serde(default = "default_evolve")]
    pub evolve_after_records: u64,
}

fn default_formats() -> Vec<Format> {
    vec![Format::Avro, Format::Json]
}

fn default_evolve() -> u64 {
    100
}

impl SchemaSpec {
    /// Checks the section; `Err((field, reason))`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.formats.is_empty() {
            return Err((
                "schema.formats".into(),
                "expected at least one of \"avro\", \"json\", \"protobuf\"".into(),
            ));
        }
        for (i, url) in self.registries.iter().enumerate() {
            HttpRegistry::new(url)
                .map_err(|e| (format!("schema.registries[{i}]"), e.to_string()))?;
        }
        Ok(())
    }
}

/// Schema text of `format` at `version` (1 or 2).
pub fn schema_text(format: Format, version: u32) -> String {
    match (format, version) {
        (Format::Avro, 1) => r#"{"type":"record","name":"Event","namespace":"cutover.workload","fields":[{"name":"id","type":"long"},{"name":"body","type":"bytes"}]}"#.into(),
        (Format::Avro, _) => r#"{"type":"record","name":"Event","namespace":"cutover.workload","fields":[{"name":"id","type":"long"},{"name":"body","type":"bytes"},{"name":"note","type":["null","string"],"default":null}]}"#.into(),
        (Format::Json, 1) => r#"{"$schema":"http://json-schema.org/draft-07/schema#","title":"Event","type":"object","properties":{"id":{"type":"integer"},"body":{"type":"string"}},"required":["id","body"]}"#.into(),
        (Format::Json, _) => r#"{"$schema":"http://json-schema.org/draft-07/schema#","title":"Event","type":"object","properties":{"id":{"type":"integer"},"body":{"type":"string"},"note":{"type":["null","string"]}},"required":["id","body"]}"#.into(),
        (Format::Protobuf, 1) => "syntax = \"proto3\";\npackage cutover.workload;\n\nmessage Event {\n  int64 id = 1;\n  bytes body = 2;\n}\n".into(),
        // v2 puts a message before Event, so Event's message index becomes [1].
        (Format::Protobuf, _) => "syntax = \"proto3\";\npackage cutover.workload;\n\nmessage Note {\n  string text = 1;\n}\n\nmessage Event {\n  int64 id = 1;\n  bytes body = 2;\n  Note note = 3;\n}\n".into(),
    }
}

/// The message-index path of `Event` in the Protobuf schema of `version`.
pub fn protobuf_event_index(version: u32) -> i64 {
    if version >= 2 {
        1
    } else {
        0
    }
}

fn schema_of(format: Format, version: u32) -> Schema {
    let ty = match format {
        Format::Avro => SchemaType::Avro,
        Format::Json => SchemaType::Json,
        Format::Protobuf => SchemaType::Protobuf,
    };
    Schema::new(ty, schema_text(format, version))
}

use wire::{write_varint as varint, write_zigzag as zigzag};

/// The payload of `format` at `version` for record `seq` carrying `body`.
pub fn payload(format: Format, version: u32, seq: u64, body: &[u8]) -> Vec<u8> {
    match format {
        Format::Avro => {
            let mut out = Vec::with_capacity(body.len() + 12);
            zigzag(seq as i64, &mut out);
            zigzag(body.len() as i64, &mut out);
            out.extend_from_slice(body);
            if version >= 2 {
                zigzag(0, &mut out); // union branch 0: null
            }
            out
        }
        Format::Json => {
            let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
            let note = if version >= 2 { ",\"note\":null" } else { "" };
            format!("{{\"id\":{seq},\"body\":\"{hex}\"{note}}}").into_bytes()
        }
        Format::Protobuf => {
            // Event: field 1 (id, varint), field 2 (body, length-delimited); v2 adds field 3,
            // a Note { text = "v2" }. The message-index array is added by the framing.
            let mut out = Vec::with_capacity(body.len() + 20);
            out.push(0x08);
            varint(seq, &mut out);
            out.push(0x12);
            varint(body.len() as u64, &mut out);
            out.extend_from_slice(body);
            if version >= 2 {
                out.extend_from_slice(&[0x1a, 0x04, 0x0a, 0x02, b'v', b'2']);
            }
            out
        }
    }
}

struct TopicSchema {
    registry: usize,
    format: Format,
    subject: String,
    v1: u32,
    v2: Mutex<Option<u32>>,
}

/// Frames generated records for the workload's topics; shared by its producers.
pub struct Framer {
    clients: Vec<HttpRegistry>,
    topics: Vec<TopicSchema>,
    evolve_after: u64,
}

fn registry_err(what: String, e: registry::RegistryError) -> WorkloadError {
    WorkloadError::Kafka {
        producer: "schema registration".into(),
        detail: format!("{what}: {e}"),
    }
}

impl Framer {
    /// Registers version 1 of every topic's subject in its registry.
    pub fn new(spec: &SchemaSpec, topics: &[String]) -> Result<Framer, WorkloadError> {
        if spec.registries.is_empty() {
            return Err(WorkloadError::Kafka {
                producer: "schema registration".into(),
                detail: "[schema] has no `registries` (a scenario with [registries] fills them in)"
                    .into(),
            });
        }
        let clients = spec
            .registries
            .iter()
            .map(|u| HttpRegistry::new(u).map_err(|e| registry_err(format!("registry {u}"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(topics.len());
        for (i, topic) in topics.iter().enumerate() {
            let registry = i % clients.len();
            let format = spec.formats[i % spec.formats.len()];
            let subject = format!("{topic}-value");
            let v1 = clients[registry]
                .register(&subject, &schema_of(format, 1))
                .map_err(|e| registry_err(format!("registering {subject} v1"), e))?;
            out.push(TopicSchema {
                registry,
                format,
                subject,
                v1,
                v2: Mutex::new(None),
            });
        }
        Ok(Framer {
            clients,
            topics: out,
            evolve_after: spec.evolve_after_records,
        })
    }

    fn v2(&self, t: &TopicSchema) -> Result<u32, WorkloadError> {
        let mut guard = t.v2.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = *guard {
            return Ok(id);
        }
        let id = self.clients[t.registry]
            .register(&t.subject, &schema_of(t.format, 2))
            .map_err(|e| registry_err(format!("registering {} v2", t.subject), e))?;
        tracing::info!(subject = %t.subject, id, "schema evolved to version 2");
        *guard = Some(id);
        Ok(id)
    }

    /// Replaces the record's value with its framed payload (tombstones stay unframed).
    pub fn frame(&self, record: &mut GeneratedRecord) -> Result<(), WorkloadError> {
        let Some(body) = record.value.take() else {
            return Ok(());
        };
        let t = &self.topics[record.topic % self.topics.len()];
        let evolved = self.evolve_after > 0 && record.seq >= self.evolve_after;
        let (id, version) = if evolved { (self.v2(t)?, 2) } else { (t.v1, 1) };
        let payload = payload(t.format, version, record.seq, &body);
        record.value = Some(match t.format {
            Format::Protobuf => {
                wire::frame_protobuf(id, &[protobuf_event_index(version)], &payload)
            }
            _ => wire::frame(id, &payload),
        });
        Ok(())
    }

    /// Subject → (registry index, ids in use), for reports and tests.
    pub fn ids(&self) -> BTreeMap<String, (usize, u32, Option<u32>)> {
        self.topics
            .iter()
            .map(|t| {
                let v2 = *t.v2.lock().unwrap_or_else(|p| p.into_inner());
                (t.subject.clone(), (t.registry, t.v1, v2))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_payloads_are_avro_binary() {
        // id 3 → zigzag 6; body len 2 → 4; then the bytes; v2 adds union branch 0.
        assert_eq!(payload(Format::Avro, 1, 3, b"ab"), vec![6, 4, b'a', b'b']);
        assert_eq!(
            payload(Format::Avro, 2, 3, b"ab"),
            vec![6, 4, b'a', b'b', 0]
        );
        let mut big = Vec::new();
        zigzag(300, &mut big);
        assert_eq!(big, vec![0xd8, 0x04]);
    }

    #[test]
    fn json_payloads_follow_their_schema_version() {
        assert_eq!(
            payload(Format::Json, 1, 7, &[0xab]),
            br#"{"id":7,"body":"ab"}"#
        );
        assert_eq!(
            payload(Format::Json, 2, 7, &[0xab]),
            br#"{"id":7,"body":"ab","note":null}"#
        );
        for v in [1, 2] {
            for f in [Format::Avro, Format::Json] {
                let s = schema_of(f, v);
                s.canonical().expect("the workload's schemas are valid");
            }
        }
        assert_ne!(
            schema_of(Format::Avro, 1).canonical().unwrap(),
            schema_of(Format::Avro, 2).canonical().unwrap()
        );
    }

    #[test]
    fn protobuf_payloads_are_protobuf_binary_after_their_message_index() {
        // id 3: tag 0x08, varint 3; body "ab": tag 0x12, length 2, bytes.
        assert_eq!(
            payload(Format::Protobuf, 1, 3, b"ab"),
            vec![0x08, 3, 0x12, 2, b'a', b'b']
        );
        assert_eq!(
            payload(Format::Protobuf, 2, 300, b""),
            vec![0x08, 0xac, 0x02, 0x12, 0, 0x1a, 4, 0x0a, 2, b'v', b'2']
        );
        assert_eq!(
            wire::frame_protobuf(5, &[protobuf_event_index(1)], &[0x08, 1])[5..],
            [0, 0x08, 1]
        );
        assert_eq!(
            wire::frame_protobuf(5, &[protobuf_event_index(2)], &[0x08, 1])[5..],
            [2, 2, 0x08, 1]
        );
        let (v1, v2) = (
            schema_of(Format::Protobuf, 1),
            schema_of(Format::Protobuf, 2),
        );
        assert_eq!(v1.schema_type, SchemaType::Protobuf);
        assert_ne!(v1.canonical().unwrap(), v2.canonical().unwrap());
        let spec: SchemaSpec = toml::from_str("formats = [\"protobuf\"]").unwrap();
        assert_eq!(spec.formats, [Format::Protobuf]);
    }

    #[test]
    fn bad_sections_name_the_field() {
        let spec: SchemaSpec = toml::from_str("formats = []").unwrap();
        assert_eq!(spec.check().unwrap_err().0, "schema.formats");
        let spec: SchemaSpec = toml::from_str("registries = [\"nope\"]").unwrap();
        assert_eq!(spec.check().unwrap_err().0, "schema.registries[0]");
        assert!(toml::from_str::<SchemaSpec>("formats = [\"xml\"]").is_err());
    }
}
