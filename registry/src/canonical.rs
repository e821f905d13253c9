//! Canonical schema text, so schemas are compared by content and never by id.
//!
//! - Avro: the Parsing Canonical Form of the Avro specification ("Transforming into Parsing
//!   Canonical Form": PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, INTEGERS, WHITESPACE).
//!   Written here (about a hundred lines) rather than pulling a full Avro implementation.
//! - JSON Schema: the schema as JSON with object keys sorted and no whitespace.
//! - Protobuf: the text with comments dropped and whitespace runs collapsed (a light
//!   normalization; two `.proto` texts that differ in layout only compare equal).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{RegistryError, Result};

/// The schema languages of the Confluent-compatible API (`schemaType`, absent = Avro).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    /// From the API's `schemaType` field (`None` means Avro).
    pub fn from_api(text: Option<&str>) -> Result<SchemaType> {
        match text.map(str::to_ascii_uppercase).as_deref() {
            None | Some("AVRO") => Ok(SchemaType::Avro),
            Some("JSON") => Ok(SchemaType::Json),
            Some("PROTOBUF") => Ok(SchemaType::Protobuf),
            Some(other) => Err(RegistryError::BadSchema {
                schema_type: other.to_string(),
                detail: "expected AVRO, JSON or PROTOBUF".into(),
            }),
        }
    }

    /// The API's `schemaType` value (`None` for Avro, the default).
    pub fn api_name(self) -> Option<&'static str> {
        match self {
            SchemaType::Avro => None,
            SchemaType::Json => Some("JSON"),
            SchemaType::Protobuf => Some("PROTOBUF"),
        }
    }
}

impl std::fmt::Display for SchemaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        })
    }
}

/// The canonical form of `text` as a schema of `schema_type`.
pub fn canonical_form(schema_type: SchemaType, text: &str) -> Result<String> {
    let bad = |detail: String| RegistryError::BadSchema {
        schema_type: schema_type.to_string(),
        detail,
    };
    match schema_type {
        SchemaType::Avro => {
            let value: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
            let mut out = String::with_capacity(text.len());
            avro_pcf(&value, None, &mut out).map_err(bad)?;
            Ok(out)
        }
        SchemaType::Json => {
            let value: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
            let mut out = String::with_capacity(text.len());
            sorted_json(&value, &mut out);
            Ok(out)
        }
        SchemaType::Protobuf => Ok(protobuf_normalized(text)),
    }
}

const AVRO_PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn json_string(s: &str, out: &mut String) {
    // serde_json escapes only quotes, backslashes and control characters: [STRINGS].
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\"")));
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn namespace_of(full: &str) -> Option<String> {
    full.rfind('.').map(|i| full[..i].to_string())
}

fn avro_pcf(value: &Value, ns: Option<&str>, out: &mut String) -> std::result::Result<(), String> {
    match value {
        Value::String(s) => {
            if AVRO_PRIMITIVES.contains(&s.as_str()) {
                json_string(s, out);
            } else {
                json_string(&full_name(s, ns), out);
            }
            Ok(())
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                avro_pcf(item, ns, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(map) => {
            let ty = map.get("type").ok_or("an object without `type`")?;
            let Value::String(ty) = ty else {
                // {"type": {...}} or {"type": [...]}: the attributes around it are stripped.
                return avro_pcf(ty, ns, out);
            };
            match ty.as_str() {
                "record" | "error" | "enum" | "fixed" => {
                    let name = map
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("a {ty} without a `name`"))?;
                    let own_ns = map.get("namespace").and_then(Value::as_str).or(ns);
                    let full = full_name(name, own_ns);
                    let inner_ns = namespace_of(&full);
                    out.push_str("{\"name\":");
                    json_string(&full, out);
                    out.push_str(",\"type\":");
                    json_string(ty, out);
                    match ty.as_str() {
                        "enum" => {
                            out.push_str(",\"symbols\":");
                            let symbols = map.get("symbols").ok_or("an enum without `symbols`")?;
                            out.push_str(
                                &serde_json::to_string(symbols).map_err(|e| e.to_string())?,
                            );
                        }
                        "fixed" => {
                            let size = map
                                .get("size")
                                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                                .ok_or("a fixed without an integer `size`")?;
                            let _ = write!(out, ",\"size\":{size}");
                        }
                        _ => {
                            out.push_str(",\"fields\":[");
                            let fields = map
                                .get("fields")
                                .and_then(Value::as_array)
                                .ok_or("a record without `fields`")?;
                            for (i, field) in fields.iter().enumerate() {
                                if i > 0 {
                                    out.push(',');
                                }
                                let fname = field
                                    .get("name")
                                    .and_then(Value::as_str)
                                    .ok_or("a field without a `name`")?;
                                let ftype = field.get("type").ok_or("a field without a `type`")?;
                                out.push_str("{\"name\":");
                                json_string(fname, out);
                                out.push_str(",\"type\":");
                                avro_pcf(ftype, inner_ns.as_deref(), out)?;
                                out.push('}');
                            }
                            out.push(']');
                        }
                    }
                    out.push('}');
                    Ok(())
                }
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    avro_pcf(map.get("items").ok_or("an array without `items`")?, ns, out)?;
                    out.push('}');
                    Ok(())
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    avro_pcf(map.get("values").ok_or("a map without `values`")?, ns, out)?;
                    out.push('}');
                    Ok(())
                }
                // A primitive (with logicalType or other attributes stripped) or a named
                // type referenced in object form.
                other => avro_pcf(&Value::String(other.to_string()), ns, out),
            }
        }
        other => Err(format!("unexpected {other} in an Avro schema")),
    }
}

/// JSON with object keys sorted and no whitespace.
pub fn sorted_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                sorted_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                sorted_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn protobuf_normalized(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for word in code.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_parsing_canonical_form_follows_the_spec() {
        let schema = r#"{
            "type": "record", "name": "Order", "namespace": "shop", "doc": "an order",
            "fields": [
                {"name": "id", "type": {"type": "long"}, "doc": "key"},
                {"name": "when", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "note", "type": ["null", "string"], "default": null},
                {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
                {"name": "again", "type": "Kind"},
                {"name": "h", "type": {"type": "fixed", "name": "x.H", "size": "016"}},
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "m", "type": {"values": "int", "type": "map"}}
            ]
        }"#;
        assert_eq!(
            canonical_form(SchemaType::Avro, schema).unwrap(),
            concat!(
                r#"{"name":"shop.Order","type":"record","fields":["#,
                r#"{"name":"id","type":"long"},"#,
                r#"{"name":"when","type":"long"},"#,
                r#"{"name":"note","type":["null","string"]},"#,
                r#"{"name":"kind","type":{"name":"shop.Kind","type":"enum","symbols":["A","B"]}},"#,
                r#"{"name":"again","type":"shop.Kind"},"#,
                r#"{"name":"h","type":{"name":"x.H","type":"fixed","size":16}},"#,
                r#"{"name":"tags","type":{"type":"array","items":"string"}},"#,
                r#"{"name":"m","type":{"type":"map","values":"int"}}]}"#
            )
        );
        assert_eq!(
            canonical_form(SchemaType::Avro, r#"{"type":"string"}"#).unwrap(),
            r#""string""#
        );
    }

    #[test]
    fn layout_and_key_order_do_not_matter_but_content_does() {
        let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let b = "{ \"fields\" : [ { \"type\" : \"int\", \"name\" : \"a\" } ],\n \"name\":\"R\", \"type\":\"record\" }";
        let c = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#;
        let ca = canonical_form(SchemaType::Avro, a).unwrap();
        assert_eq!(ca, canonical_form(SchemaType::Avro, b).unwrap());
        assert_ne!(ca, canonical_form(SchemaType::Avro, c).unwrap());

        let j1 = r#"{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}}}"#;
        let j2 = "{\n  \"properties\": {\"a\": {\"type\": \"integer\"}, \"b\": {\"type\": \"string\"}},\n  \"type\": \"object\"\n}";
        let cj = canonical_form(SchemaType::Json, j1).unwrap();
        assert_eq!(cj, canonical_form(SchemaType::Json, j2).unwrap());
        assert_eq!(
            cj,
            r#"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}"#
        );
        assert_eq!(
            canonical_form(
                SchemaType::Protobuf,
                "syntax = \"proto3\";\n// c\nmessage M {  int32 a = 1; }"
            )
            .unwrap(),
            "syntax = \"proto3\"; message M { int32 a = 1; }"
        );
    }

    #[test]
    fn invalid_schemas_say_why() {
        let err = canonical_form(SchemaType::Avro, "{")
            .unwrap_err()
            .to_string();
        assert!(err.contains("AVRO"), "{err}");
        let err = canonical_form(SchemaType::Avro, r#"{"type":"record","fields":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("name"), "{err}");
        assert!(SchemaType::from_api(Some("XML")).is_err());
        assert_eq!(SchemaType::from_api(None).unwrap(), SchemaType::Avro);
        assert_eq!(
            SchemaType::from_api(Some("json")).unwrap(),
            SchemaType::Json
        );
    }
}
