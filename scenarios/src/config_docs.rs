//! The configuration reference, generated from the structs every file is read into: one JSON
//! Schema per file kind (`docs/schema/<kind>.json`, for editors: taplo / Even Better TOML
//! validate and complete with them) and `docs/config-reference.md` (every key, its type, its
//! default and its doc comment with the unit). `tests/config_docs.rs` fails when either is
//! stale and rewrites them with `CUTOVER_UPDATE_DOCS=1`.

use std::fmt::Write as _;

use serde_json::Value;

/// A file kind a person writes: (kind, what it is, its schema).
pub type Kind = (&'static str, &'static str, Value);

/// The file kinds a person writes that this crate reads, then `more` (the kinds of crates
/// that build on this one: the rehearsal file).
pub fn schemas(more: Vec<Kind>) -> Vec<Kind> {
    let value = |s: schemars::Schema| s.to_value();
    vec![
        (
            "scenario",
            "a scenario file (`cutover run`): clusters, workload, system under test, faults, promises",
            value(schemars::schema_for!(crate::spec::Scenario)),
        ),
        (
            "workload",
            "a workload spec (`cutover produce`, and a scenario's `[workload]`)",
            value(schemars::schema_for!(workload::WorkloadSpec)),
        ),
        (
            "replicator",
            "the built-in replicator's config (`replicator.toml`, read by `cutover replicate`)",
            value(replicator::config::file_schema()),
        ),
    ]
    .into_iter()
    .chain(more)
    .collect()
}

/// Every generated file: (path relative to the repository, content), for the kinds of
/// [`schemas`].
pub fn generate(more: Vec<Kind>) -> Vec<(String, String)> {
    let kinds = schemas(more);
    let mut files = Vec::new();
    let mut md = String::from(
        "# Configuration reference\n\n\
         Generated from the structs each file is read into (`cargo test --test config_docs` \
         fails when it is stale; `CUTOVER_UPDATE_DOCS=1 cargo test --test config_docs` \
         rewrites it). JSON Schemas for editors are in [`schema/`](schema/).\n",
    );
    for (kind, what, schema) in &kinds {
        let text = serde_json::to_string_pretty(schema).unwrap_or_default() + "\n";
        files.push((format!("docs/schema/{kind}.json"), text));
        render(&mut md, kind, what, schema);
    }
    files.push(("docs/config-reference.md".into(), md));
    files
}

/// Keys without a description, as `kind: Table.key` (every key a person writes is documented).
pub fn undocumented(more: Vec<Kind>) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, _, schema) in schemas(more) {
        for (table, def) in tables(&schema) {
            for (key, prop) in properties(def) {
                if described(&schema, prop).is_empty() {
                    out.push(format!("{kind}: {table}.{key}"));
                }
            }
        }
    }
    out
}

/// The root and every definition, by name (the root first).
fn tables(schema: &Value) -> Vec<(String, &Value)> {
    let root = schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("root")
        .to_string();
    let mut out = vec![(root, schema)];
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs {
            match def.get("oneOf").and_then(Value::as_array) {
                Some(variants) if variants.iter().any(|v| v.get("properties").is_some()) => {
                    for v in variants {
                        out.push((format!("{name} ({})", variant_name(v)), v));
                    }
                }
                _ => out.push((name.clone(), def)),
            }
        }
    }
    out
}

fn variant_name(v: &Value) -> String {
    v.get("properties")
        .and_then(Value::as_object)
        .and_then(|p| {
            p.iter().find_map(|(k, s)| {
                s.get("const")
                    .and_then(Value::as_str)
                    .map(|c| format!("{k} = \"{c}\""))
            })
        })
        .or_else(|| {
            v.get("required")
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "variant".into())
}

fn properties(def: &Value) -> Vec<(&String, &Value)> {
    def.get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                // The tag of an internally tagged enum is its variant's name, not a key to
                // document.
                .filter(|(_, s)| s.get("const").is_none())
                .collect()
        })
        .unwrap_or_default()
}

fn description(v: &Value) -> String {
    v.get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// A property's description, or its type's when the property is a table of a described type
/// (`[run]`: "Timing of the run.").
fn described(schema: &Value, prop: &Value) -> String {
    let own = description(prop);
    if !own.is_empty() {
        return own;
    }
    let reference = prop.get("$ref").or_else(|| {
        prop.get("anyOf")
            .and_then(Value::as_array)
            .and_then(|o| o.iter().find_map(|x| x.get("$ref")))
    });
    let name = reference
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next());
    name.and_then(|n| schema.get("$defs").and_then(|d| d.get(n)))
        .map(description)
        .unwrap_or_default()
}

fn type_of(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(values) = v.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    if let Some(c) = v.get("const") {
        return format!("`{c}`");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = v.get(key).and_then(Value::as_array) {
            return options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .map(type_of)
                .collect::<Vec<_>>()
                .join(" or ");
        }
    }
    let one = |t: &str| match t {
        "array" => format!("array of {}", v.get("items").map_or("any".into(), type_of)),
        "object" => match v.get("additionalProperties") {
            Some(Value::Bool(false)) | None => "table".into(),
            Some(a) => format!("table of {}", type_of(a)),
        },
        other => other.to_string(),
    };
    match v.get("type") {
        Some(Value::String(t)) => one(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(one)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

fn render(md: &mut String, kind: &str, what: &str, schema: &Value) {
    let _ = write!(
        md,
        "\n## {kind}\n\n{what}. Schema: [`schema/{kind}.json`](schema/{kind}.json).\n"
    );
    for (table, def) in tables(schema) {
        let props = properties(def);
        let described = |prop: &Value| described(schema, prop);
        let about = description(def);
        if props.is_empty() && about.is_empty() {
            continue;
        }
        let _ = write!(md, "\n### {kind}: `{table}`\n\n");
        if !about.is_empty() {
            let _ = writeln!(md, "{about}\n");
        }
        if let Some(values) = def.get("enum").and_then(Value::as_array) {
            let list: Vec<String> = values.iter().map(|x| format!("`{x}`")).collect();
            let _ = writeln!(md, "One of {}.\n", list.join(", "));
        }
        if let Some(variants) = def.get("oneOf").and_then(Value::as_array) {
            if props.is_empty() {
                for v in variants {
                    let _ = writeln!(md, "- {}: {}", type_of(v), description(v));
                }
                md.push('\n');
            }
        }
        if props.is_empty() {
            continue;
        }
        let required: Vec<&str> = def
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        md.push_str("| key | type | default | description |\n| --- | --- | --- | --- |\n");
        for (key, prop) in props {
            let default = match prop.get("default") {
                // A table's defaults are its keys' own (listed in its section).
                Some(Value::Object(o)) if !o.is_empty() => "see its table".into(),
                Some(d) => format!("`{d}`"),
                None if required.contains(&key.as_str()) => "required".into(),
                None => "none".into(),
            };
            let _ = writeln!(
                md,
                "| `{key}` | {} | {default} | {} |",
                type_of(prop),
                described(prop)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_kind_has_a_schema_and_a_reference_section() {
        let files = generate(Vec::new());
        for kind in ["scenario", "workload", "replicator"] {
            assert!(files
                .iter()
                .any(|(p, t)| p == &format!("docs/schema/{kind}.json") && t.contains("$schema")));
        }
        let md = &files.last().unwrap().1;
        assert!(
            md.contains("## scenario") && md.contains("`allowed_duplicates`"),
            "{md}"
        );
    }
}
