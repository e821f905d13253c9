//! Canonical schema text, so schemas are compared by content and never by id.
//!
//! Two schemas have the same canonical text exactly when they decode the same bytes to the
//! same values with the same meaning; layout, key order and documentation do not count.
//!
//! - Avro: a **normal form** built on the Parsing Canonical Form of the Avro specification
//!   (<https://avro.apache.org/docs/1.12.0/specification/#parsing-canonical-form-for-schemas>:
//!   PRIMITIVES, FULLNAMES, ORDER, STRINGS, INTEGERS, WHITESPACE), but without its STRIP step,
//!   which keeps only the attributes that the *binary decoding* needs. PCF identifies a
//!   schema for decoding; identity here must also keep what the values mean, so besides
//!   PCF's attributes it keeps:
//!   - `logicalType` and its parameters: `timestamp-millis` and `timestamp-micros` decode the
//!     same long to instants a thousand times apart, a decimal's `precision` and `scale`
//!     decide its value (an absent `scale` is 0, the specification's default, and is written
//!     as absent);
//!   - a field's `default` and a named type's or field's `aliases`, and an enum's `default`:
//!     they change what a reader fills in or which writer's fields and symbols it matches
//!     (specification, "Schema Resolution" and "Aliases"); aliases are fully qualified
//!     against the aliased type's namespace (a field's are plain names), sorted and
//!     deduplicated;
//!   - a field's `order` unless `ascending` (the default): it changes how values compare
//!     ("Sort Order"), which a consumer sorting by Avro's binary comparison depends on;
//!   - every other attribute (`connect.name`, `connect.parameters`, …): the specification
//!     lets them carry metadata, and some carry meaning — Debezium marks a micro-timestamp
//!     on a plain `long` only with `connect.name`.
//!
//!   `doc` is dropped (documentation only), `namespace` is folded into full names as in PCF,
//!   and `{"type":"int"}` is `"int"` when nothing else is kept. Object keys come in PCF's
//!   order (`name`, `type`, `fields`, `symbols`, `items`, `values`, `size`), then the kept
//!   attributes sorted by key; values of defaults and extra attributes are JSON with sorted
//!   keys and integral numbers written as integers (`1.0` is `1`). A schema with none of the
//!   extra attributes has exactly its Parsing Canonical Form. Written here (a few hundred
//!   lines) rather than pulling a full Avro implementation.
//! - JSON Schema: the schema as JSON with object keys sorted and no whitespace.
//! - Protobuf: the text with comments dropped and whitespace runs outside string literals
//!   collapsed to one space, by a lexer that knows `"…"` and `'…'` literals (a `//` in
//!   `"http://…"` is text). Two `.proto` texts that differ in comments or layout only compare
//!   equal; `a=1` and `a = 1` do not (a light normalization, not a parse).

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
            avro_normal(&value, None, &mut out).map_err(bad)?;
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

fn avro_normal(
    value: &Value,
    ns: Option<&str>,
    out: &mut String,
) -> std::result::Result<(), String> {
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
                avro_normal(item, ns, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(map) => {
            let ty = map.get("type").ok_or("an object without `type`")?;
            let Value::String(ty) = ty else {
                // {"type": {...}} or {"type": [...]}: the type is the inner schema.
                return avro_normal(ty, ns, out);
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
                                .and_then(avro_integer)
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
                                let field =
                                    field.as_object().ok_or("a field that is not an object")?;
                                let fname = field
                                    .get("name")
                                    .and_then(Value::as_str)
                                    .ok_or("a field without a `name`")?;
                                let ftype = field.get("type").ok_or("a field without a `type`")?;
                                out.push_str("{\"name\":");
                                json_string(fname, out);
                                out.push_str(",\"type\":");
                                avro_normal(ftype, inner_ns.as_deref(), out)?;
                                // A field's aliases are plain names; its `order` is kept.
                                avro_attributes(field, None, out);
                                out.push('}');
                            }
                            out.push(']');
                        }
                    }
                    // A named type's aliases are relative to its own namespace.
                    avro_attributes(map, Some(inner_ns.as_deref()), out);
                    out.push('}');
                    Ok(())
                }
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    avro_normal(map.get("items").ok_or("an array without `items`")?, ns, out)?;
                    avro_attributes(map, Some(ns), out);
                    out.push('}');
                    Ok(())
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    avro_normal(map.get("values").ok_or("a map without `values`")?, ns, out)?;
                    avro_attributes(map, Some(ns), out);
                    out.push('}');
                    Ok(())
                }
                // A primitive, or a named type referenced in object form: the simple form
                // ([PRIMITIVES]) unless it carries attributes (a logical type).
                other => {
                    let mut attributes = String::new();
                    avro_attributes(map, Some(ns), &mut attributes);
                    if attributes.is_empty() {
                        return avro_normal(&Value::String(other.to_string()), ns, out);
                    }
                    out.push_str("{\"type\":");
                    avro_normal(&Value::String(other.to_string()), ns, out)?;
                    out.push_str(&attributes);
                    out.push('}');
                    Ok(())
                }
            }
        }
        other => Err(format!("unexpected {other} in an Avro schema")),
    }
}

/// Attributes of the Avro specification that the normal form handles itself (`doc` is
/// dropped, `namespace` folded into full names); every other attribute is kept.
fn is_structural(key: &str) -> bool {
    matches!(
        key,
        "type" | "name" | "namespace" | "doc" | "fields" | "symbols" | "size" | "items" | "values"
    )
}

/// A JSON integer from an integer or a string of digits ([INTEGERS]: `"016"` is 16).
fn avro_integer(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str()?.trim().parse().ok())
}

/// The attributes of `map` beyond the structural ones, in sorted key order, each as
/// `,"key":value`. `aliases` are fully qualified against `alias_ns` for named types (a field's
/// aliases are plain names: `alias_ns` `None`), sorted and deduplicated; a field's
/// `order: "ascending"` (the default) is dropped; a decimal's `precision` and `scale` are
/// integers, and `scale: 0` (the default) is dropped. Attributes that do not have their
/// specified shape (aliases that are not strings, a non-integer precision) are kept as written.
fn avro_attributes(
    map: &serde_json::Map<String, Value>,
    alias_ns: Option<Option<&str>>,
    out: &mut String,
) {
    let decimal = map.get("logicalType").and_then(Value::as_str) == Some("decimal");
    let mut keys: Vec<&String> = map.keys().filter(|k| !is_structural(k)).collect();
    keys.sort();
    for key in keys {
        let value = &map[key];
        let mut text = String::new();
        match key.as_str() {
            "aliases"
                if value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string)) =>
            {
                let mut names: Vec<String> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|a| match alias_ns {
                        Some(ns) => full_name(a, ns),
                        None => a.to_string(),
                    })
                    .collect();
                names.sort();
                names.dedup();
                text.push('[');
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    json_string(n, &mut text);
                }
                text.push(']');
            }
            "order" if alias_ns.is_none() && value.as_str() == Some("ascending") => continue,
            "precision" | "scale" if decimal && avro_integer(value).is_some() => {
                let n = avro_integer(value).unwrap_or_default();
                if key == "scale" && n == 0 {
                    continue;
                }
                let _ = write!(text, "{n}");
            }
            _ => normal_json(value, &mut text),
        }
        out.push(',');
        json_string(key, out);
        out.push(':');
        out.push_str(&text);
    }
}

/// JSON with object keys sorted, no whitespace, and integral floating-point numbers written as
/// integers (`1.0` and `1e0` are `1`): the form of default values and extra attributes.
fn normal_json(value: &Value, out: &mut String) {
    write_sorted(value, true, out);
}

/// JSON with object keys sorted and no whitespace.
pub fn sorted_json(value: &Value, out: &mut String) {
    write_sorted(value, false, out);
}

/// Sorted keys, no whitespace; with `integral`, floating-point numbers without a fraction are
/// written as integers.
fn write_sorted(value: &Value, integral: bool, out: &mut String) {
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
                write_sorted(&map[k], integral, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, integral, out);
            }
            out.push(']');
        }
        Value::Number(n) if integral => match n.as_f64() {
            // 2^53: every integer up to it is exact in an f64.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                let _ = write!(out, "{}", f as i64);
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

/// Protobuf text with comments dropped and whitespace runs outside string literals collapsed to
/// one space (none at the ends). A small lexer: `"…"` and `'…'` literals (with `\` escapes) are
/// copied as they are, so a `//` or `/*` inside one is text; `// …` to the end of the line and
/// `/* … */` are comments and separate tokens like whitespace (protobuf language
/// specification, "Lexical elements").
fn protobuf_normalized(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                space = true;
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for n in chars.by_ref() {
                    if star && n == '/' {
                        break;
                    }
                    star = n == '*';
                }
                space = true;
            }
            c if c.is_whitespace() => space = true,
            c => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
                if c == '"' || c == '\'' {
                    while let Some(n) = chars.next() {
                        out.push(n);
                        if n == '\\' {
                            if let Some(escaped) = chars.next() {
                                out.push(escaped);
                            }
                        } else if n == c {
                            break;
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_normal_form_is_parsing_canonical_form_plus_meaning() {
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
                r#"{"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}},"#,
                r#"{"name":"note","type":["null","string"],"default":null},"#,
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

    fn avro(text: &str) -> String {
        canonical_form(SchemaType::Avro, text).unwrap()
    }

    fn field(ty: &str) -> String {
        avro(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{ty}}}]}}"#
        ))
    }

    #[test]
    fn avro_timestamp_precision_is_part_of_identity() {
        let millis = field(r#"{"type":"long","logicalType":"timestamp-millis"}"#);
        let micros = field(r#"{"type":"long","logicalType":"timestamp-micros"}"#);
        let plain = field(r#""long""#);
        assert_ne!(millis, micros, "millis and micros decode to other instants");
        assert_ne!(millis, plain);
        assert_ne!(
            field(r#"{"type":"long","logicalType":"local-timestamp-millis"}"#),
            millis
        );
        assert_ne!(
            field(r#"{"type":"int","logicalType":"date"}"#),
            field(r#"{"type":"int","logicalType":"time-millis"}"#)
        );
    }

    #[test]
    fn avro_decimal_precision_and_scale_are_part_of_identity() {
        let dec = |p: &str, s: &str| {
            field(&format!(
                r#"{{"type":"bytes","logicalType":"decimal","precision":{p}{s}}}"#
            ))
        };
        assert_ne!(dec("9", r#","scale":2"#), dec("9", r#","scale":3"#));
        assert_ne!(dec("9", r#","scale":2"#), dec("10", r#","scale":2"#));
        assert_eq!(
            dec("9", ""),
            dec("9", r#","scale":0"#),
            "an absent scale is 0 (Avro specification, Decimal)"
        );
        let fixed = |scale: u32| {
            field(&format!(
                r#"{{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":{scale}}}"#
            ))
        };
        assert_ne!(fixed(2), fixed(4));
        // An invalid logical type is not an error (readers ignore it), but it still counts.
        assert_ne!(dec(r#""x""#, ""), dec("9", ""));
        assert!(canonical_form(
            SchemaType::Avro,
            r#"{"type":"enum","name":"E","symbols":["A"],"aliases":[1]}"#
        )
        .is_ok());
    }

    #[test]
    fn avro_defaults_aliases_order_and_extra_attributes_are_kept() {
        let f = |extra: &str| {
            avro(&format!(
                r#"{{"type":"record","name":"R","namespace":"n","fields":[{{"name":"f","type":"int"{extra}}}]}}"#
            ))
        };
        assert_ne!(f(r#","default":1"#), f(r#","default":2"#));
        assert_ne!(f(r#","default":1"#), f(""));
        assert_ne!(f(r#","aliases":["g"]"#), f(""));
        assert_ne!(f(r#","order":"descending""#), f(""));
        assert_eq!(
            f(r#","order":"ascending""#),
            f(""),
            "ascending is the default order"
        );
        let e = |default: &str| {
            avro(&format!(
                r#"{{"type":"enum","name":"E","symbols":["A","B"],"default":"{default}"}}"#
            ))
        };
        assert_ne!(e("A"), e("B"), "an enum default changes resolution");
        // Debezium marks a micro-timestamp on a plain long with `connect.name` only.
        assert_ne!(
            field(r#"{"type":"long","connect.name":"io.debezium.time.MicroTimestamp"}"#),
            field(r#"{"type":"long","connect.name":"io.debezium.time.Timestamp"}"#)
        );
    }

    #[test]
    fn avro_layout_key_order_doc_and_alias_spelling_do_not_matter() {
        let a = r#"{"type":"record","name":"Order","namespace":"shop","doc":"an order","aliases":["Old","legacy.Order"],
            "fields":[
              {"name":"at","type":{"type":"long","logicalType":"timestamp-micros"},"doc":"when"},
              {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":"09","scale":2}},
              {"name":"note","type":["null","string"],"default":null,"aliases":["memo","comment"]},
              {"name":"props","type":{"type":"map","values":"string"},"default":{"b":1.0,"a":"x"}}
            ]}"#;
        let b = "{\n \"fields\": [\n  {\"type\": {\"logicalType\": \"timestamp-micros\", \"type\": \"long\"}, \"name\": \"at\"},\n  {\"name\": \"amount\", \"type\": {\"scale\": 2, \"precision\": 9, \"logicalType\": \"decimal\", \"type\": \"bytes\"}, \"doc\": \"money\"},\n  {\"aliases\": [\"comment\", \"memo\"], \"default\": null, \"type\": [\"null\", \"string\"], \"name\": \"note\"},\n  {\"default\": {\"a\": \"x\", \"b\": 1}, \"name\": \"props\", \"type\": {\"values\": \"string\", \"type\": \"map\"}}\n ],\n \"aliases\": [\"shop.Old\", \"legacy.Order\"], \"name\": \"shop.Order\", \"type\": \"record\"\n}";
        assert_eq!(avro(a), avro(b));
        assert_eq!(
            avro(a),
            concat!(
                r#"{"name":"shop.Order","type":"record","fields":["#,
                r#"{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},"#,
                r#"{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},"#,
                r#"{"name":"note","type":["null","string"],"aliases":["comment","memo"],"default":null},"#,
                r#"{"name":"props","type":{"type":"map","values":"string"},"default":{"a":"x","b":1}}],"#,
                r#""aliases":["legacy.Order","shop.Old"]}"#
            )
        );
    }

    fn proto(text: &str) -> String {
        canonical_form(SchemaType::Protobuf, text).unwrap()
    }

    #[test]
    fn protobuf_comments_are_cut_outside_string_literals_only() {
        let a = proto(
            "syntax = \"proto3\";\nmessage M {\n  string url = 1 [json_name = \"http://a.example/x\"]; // x\n}",
        );
        let b = proto(
            "syntax = \"proto3\";\nmessage M {\n  string url = 1 [json_name = \"http://b.example/y\"]; /* y */\n}",
        );
        assert_ne!(a, b, "the text after `//` inside a literal is the literal");
        assert!(a.contains("\"http://a.example/x\""), "{a}");
        assert!(!a.contains("// x"), "{a}");
        assert_eq!(
            proto("message M { string url = 1; // it's \"quoted\"\n}"),
            proto("message M {\n  string url = 1;\n}"),
            "a quote inside a comment opens no literal"
        );
        assert_eq!(
            proto("option (o) = 'a /* b */ c';"),
            "option (o) = 'a /* b */ c';"
        );
        assert_eq!(
            proto("option (o) = \"say \\\"//hi\\\"\"; /* c\n d */ message M {}"),
            "option (o) = \"say \\\"//hi\\\"\"; message M {}",
            "an escaped quote does not end the literal"
        );
        assert_ne!(
            proto("option (o) = \"a  b\";"),
            proto("option (o) = \"a b\";"),
            "whitespace inside a literal is content"
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
