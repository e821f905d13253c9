//! Connector JSON as the Kafka Connect REST API returns or takes it, with the line of every key
//! (a finding must point at the line to change). The shapes, from Kafka's `ConnectorsResource`
//! (`connect/runtime/.../rest/resources/ConnectorsResource.java`) and the Connect REST API
//! reference in the Kafka documentation:
//!
//! * `GET /connectors/{name}`: `{"name", "config": {…}, "tasks": [{"connector", "task"}],
//!   "type": "source"|"sink"}`; `POST /connectors` takes the same `{"name", "config"}`;
//! * `GET /connectors/{name}/config` (and the body of `PUT /connectors/{name}/config`): the flat
//!   config object;
//! * `GET /connectors?expand=info`: `{"<name>": {"info": {name, config, tasks, type}}, …}`
//!   (with `&expand=status` each entry also has a `status`, ignored here) — one connector each.
//!
//! Connector configs are flat string maps; numbers and booleans are taken as their text, `null`
//! as unset. Anything else names the line and what was expected there.

use serde_json::{Map, Value};

use crate::error::LintError;
use crate::properties::{Entry, Properties};

/// One connector out of a REST document.
#[derive(Debug, Clone)]
pub struct RestConnector {
    /// The connector's name: the `?expand=info` key, the document's `name`, or the config's.
    pub name: Option<String>,
    /// `type` as the REST API reports it (`source`, `sink`, `unknown`), when the document has it.
    pub kind: Option<String>,
    /// Whether the document was one connector of a `?expand=info` listing (its report is then
    /// named `file#name`).
    pub listed: bool,
    /// The config with the line of each key.
    pub config: Properties,
}

/// The lines of a JSON document's values, in the shape of the document.
#[derive(Debug)]
enum Lines {
    /// Each key with the line it is on and the lines of its value.
    Object(Vec<(String, usize, Lines)>),
    Array,
    Scalar,
}

impl Lines {
    fn get(&self, key: &str) -> Option<(usize, &Lines)> {
        match self {
            // The last occurrence is the one serde_json keeps.
            Lines::Object(keys) => keys
                .iter()
                .rev()
                .find(|(k, ..)| k == key)
                .map(|(_, line, l)| (*line, l)),
            _ => None,
        }
    }
}

/// Walks JSON text that serde_json already accepted, noting the line of every object key.
struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl Walker<'_> {
    fn skip_blank(&mut self) {
        while let Some(&b) = self.bytes.get(self.at) {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// A string starting at `"`; returns it decoded.
    fn string(&mut self) -> String {
        let start = self.at + 1;
        let mut i = start;
        let mut escaped = false;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'\\' => {
                    escaped = true;
                    i += 2;
                    continue;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        let end = i.min(self.bytes.len());
        self.at = (end + 1).min(self.bytes.len());
        let raw = String::from_utf8_lossy(&self.bytes[start..end]).into_owned();
        if escaped {
            serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or(raw)
        } else {
            raw
        }
    }

    fn value(&mut self) -> Lines {
        self.skip_blank();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut keys = Vec::new();
                loop {
                    self.skip_blank();
                    match self.peek() {
                        Some(b'"') => {
                            let line = self.line;
                            let key = self.string();
                            self.skip_blank();
                            if self.peek() == Some(b':') {
                                self.at += 1;
                            }
                            let value = self.value();
                            keys.push((key, line, value));
                        }
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            break;
                        }
                        None => break,
                        Some(_) => self.at += 1,
                    }
                }
                Lines::Object(keys)
            }
            Some(b'[') => {
                self.at += 1;
                loop {
                    self.skip_blank();
                    match self.peek() {
                        Some(b']') => {
                            self.at += 1;
                            break;
                        }
                        Some(b',') => self.at += 1,
                        None => break,
                        Some(_) => {
                            self.value();
                        }
                    }
                }
                Lines::Array
            }
            Some(b'"') => {
                self.string();
                Lines::Scalar
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.at += 1;
                }
                Lines::Scalar
            }
        }
    }
}

fn lines_of(text: &str) -> Lines {
    Walker {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
    }
    .value()
}

/// Every connector in a REST document. `file` names it in errors.
pub fn connectors(text: &str, file: &str) -> Result<Vec<RestConnector>, LintError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LintError::Parse {
        file: file.to_string(),
        line: e.line(),
        expected: format!("JSON ({e})"),
    })?;
    let lines = lines_of(text);
    let parse = |line: usize, expected: String| LintError::Parse {
        file: file.to_string(),
        line,
        expected,
    };
    let Value::Object(top) = &value else {
        return Err(parse(
            1,
            "a JSON object: a connector as `GET /connectors/{name}` returns it (`{\"name\": …, \
             \"config\": {…}}`), its flat config, or `GET /connectors?expand=info`"
                .into(),
        ));
    };
    if top.contains_key("config") {
        return Ok(vec![one(top, &lines, false, None, file)?]);
    }
    if is_expanded(top) {
        let mut out = Vec::new();
        for (name, entry) in top {
            let (line, entry_lines) = lines.get(name).unwrap_or((1, &Lines::Scalar));
            let info = match entry.get("info") {
                Some(Value::Object(info)) => info,
                _ => {
                    return Err(parse(
                        line,
                        format!(
                            "`{name}` to carry its `info` object (`GET /connectors?expand=info`; \
                             `expand=status` alone has no config)"
                        ),
                    ))
                }
            };
            let info_lines = entry_lines.get("info").map_or(&Lines::Scalar, |(_, l)| l);
            if !matches!(info.get("config"), Some(Value::Object(_))) {
                let at = info_lines.get("config").map_or(line, |(l, _)| l);
                return Err(parse(
                    at,
                    format!("`{name}`'s `info` to have a `config` object"),
                ));
            }
            out.push(one(info, info_lines, true, Some(name), file)?);
        }
        return Ok(out);
    }
    Ok(vec![RestConnector {
        name: top.get("name").and_then(Value::as_str).map(String::from),
        kind: None,
        listed: false,
        config: flat(top, &lines, file)?,
    }])
}

/// `{"<name>": {"info": …}, …}`: every value an object with `info` or `status`.
fn is_expanded(top: &Map<String, Value>) -> bool {
    !top.is_empty()
        && top.values().all(|v| {
            v.as_object()
                .is_some_and(|o| o.contains_key("info") || o.contains_key("status"))
        })
}

/// `{"name", "config", "tasks", "type"}`.
fn one(
    object: &Map<String, Value>,
    lines: &Lines,
    listed: bool,
    key: Option<&str>,
    file: &str,
) -> Result<RestConnector, LintError> {
    let (config_line, config_lines) = lines.get("config").unwrap_or((1, &Lines::Scalar));
    let Some(Value::Object(config)) = object.get("config") else {
        return Err(LintError::Parse {
            file: file.to_string(),
            line: config_line,
            expected: "`config` to be an object of connector settings".into(),
        });
    };
    let config = flat(config, config_lines, file)?;
    let name = key
        .map(String::from)
        .or_else(|| object.get("name").and_then(Value::as_str).map(String::from))
        .or_else(|| config.value("name").map(String::from));
    Ok(RestConnector {
        name,
        kind: object.get("type").and_then(Value::as_str).map(String::from),
        listed,
        config,
    })
}

/// A flat config object: strings, numbers and booleans as text, `null` unset.
fn flat(object: &Map<String, Value>, lines: &Lines, file: &str) -> Result<Properties, LintError> {
    let mut entries = Vec::new();
    for (key, v) in object {
        let line = lines.get(key).map_or(1, |(l, _)| l);
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => {
                return Err(LintError::Parse {
                    file: file.to_string(),
                    line,
                    expected: format!(
                        "`{key}` to be a string, number or boolean (Connect configs are flat)"
                    ),
                })
            }
        };
        entries.push(Entry {
            line,
            key: key.clone(),
            value,
        });
    }
    entries.sort_by_key(|e| e.line);
    Ok(Properties::from_entries(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_nested_objects_get_their_own_lines() {
        let text =
            "{\"a\": {\n  \"name\": \"x\",\n  \"k\\\"q\": [1, {\"z\": 2}],\n  \"b\": \"}\\\\\"\n}}";
        let lines = lines_of(text);
        let (line, a) = lines.get("a").expect("a");
        assert_eq!(line, 1);
        assert_eq!(a.get("name").map(|(l, _)| l), Some(2));
        assert_eq!(a.get("k\"q").map(|(l, _)| l), Some(3));
        assert_eq!(a.get("b").map(|(l, _)| l), Some(4));
    }

    #[test]
    fn an_expanded_entry_without_info_names_its_line() {
        let text = "{\n  \"c\": {\"status\": {}}\n}\n";
        let e = connectors(text, "l.json").unwrap_err().to_string();
        assert!(
            e.starts_with("l.json:2: expected `c` to carry its `info`"),
            "{e}"
        );
    }
}
