//! # located
//!
//! Where a user's input is wrong. Every file cutover reads from a person — scenario, workload,
//! replicator and rehearsal TOML, Java `.properties` — reports a bad field the same way:
//!
//! ```text
//! bad.toml:20: field `fault[0].at_secs`: expected 0 to run.duration_secs (10), found 99
//!    |
//! 20 | at_secs = 99
//!    | ^
//! ```
//!
//! the file, the line, the field's full path and what was expected, then the offending line
//! with a caret under the spot (as Materialize's testdrive echoes a failing command). Lines
//! come from the TOML parser's spans ([`span_of_field`]), not from searching the text for a
//! key's last name. [`properties`] reads Java properties with the line of every key.
//!
//! Must not: depend on Kafka or any cutover crate but `secrets` (`lint` links it without a
//! cluster client), print anything, or echo the value of a secret key (an echoed line whose
//! key is a secret shows the key and `[redacted]`).

pub mod properties;

use std::fmt;
use std::ops::Range;
use std::path::Path;

/// A located input error: origin (file name), 1-based line (0: unknown), the field's dotted
/// path (empty: the whole file), the reason, and the offending line with the caret's column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Located {
    pub origin: String,
    pub line: usize,
    pub field: String,
    pub reason: String,
    /// The text of line `line` (empty when unknown or not to be echoed).
    pub excerpt: String,
    /// 1-based column of the caret under [`Located::excerpt`] (0: no caret).
    pub column: usize,
}

impl std::error::Error for Located {}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&located_message(
            &self.origin,
            self.line,
            &self.field,
            &self.reason,
        ))?;
        if self.line > 0 && !self.excerpt.trim().is_empty() {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            write!(f, "\n{pad} |\n{number} | {}", self.excerpt.trim_end())?;
            if self.column > 0 {
                let indent: String = self
                    .excerpt
                    .chars()
                    .take(self.column - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n{pad} | {indent}^")?;
            }
        }
        Ok(())
    }
}

impl Located {
    /// An error about `field` of `origin` with no line (a file that cannot be read, a value
    /// that is wrong only given others).
    pub fn new(origin: &str, field: &str, reason: impl Into<String>) -> Located {
        Located {
            origin: origin.to_string(),
            field: field.to_string(),
            reason: reason.into(),
            ..Located::default()
        }
    }

    /// An error about `field` (a dotted path: `run.duration_secs`, `fault[1].instance`,
    /// `source.bootstrap.servers`) of the TOML `text`: its line and column from the parser's
    /// spans, the line echoed.
    pub fn field(text: &str, origin: &str, field: &str, reason: impl Into<String>) -> Located {
        let located = Located::new(origin, field, reason);
        match span_of_field(text, field) {
            Some(span) => located.at_offset(text, span.start),
            None => located,
        }
    }

    /// As [`Located::field`], at line `hint` when the path is nowhere in the text (a default
    /// that is wrong given other fields).
    pub fn field_or(
        text: &str,
        origin: &str,
        field: &str,
        hint: usize,
        reason: impl Into<String>,
    ) -> Located {
        let located = Located::field(text, origin, field, reason);
        if located.line == 0 && hint > 0 {
            located.at_line(text, hint)
        } else {
            located
        }
    }

    /// A TOML syntax or schema error (unknown field, wrong type) at the parser's span.
    pub fn toml(text: &str, origin: &str, error: &toml::de::Error) -> Located {
        let located = Located::new(origin, "", error.message().trim());
        match error.span() {
            Some(span) => located.at_offset(text, span.start),
            None => located,
        }
    }

    /// A file that cannot be read.
    pub fn unreadable(path: &Path, error: &std::io::Error) -> Located {
        Located::new(
            &path.display().to_string(),
            "",
            format!("cannot read: {error}"),
        )
    }

    /// Places the error at byte `offset` of `text`: its line, column and excerpt.
    pub fn at_offset(mut self, text: &str, offset: usize) -> Located {
        let offset = floor_char_boundary(text, offset);
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        self.line = line_of(text, offset);
        self.excerpt = line_text(text, self.line);
        self.column = text[start..offset].chars().count() + 1;
        self
    }

    /// Places the error at 1-based `line` of `text`, the caret under its first non-blank.
    pub fn at_line(mut self, text: &str, line: usize) -> Located {
        self.line = line;
        self.excerpt = line_text(text, line);
        self.column = if self.excerpt.trim().is_empty() {
            0
        } else {
            self.excerpt
                .chars()
                .take_while(|c| c.is_whitespace())
                .count()
                + 1
        };
        self
    }

    /// The same error under another field path (a nested reader's field inside its table:
    /// `producer[0].rate` → `workload.producer[0].rate`), located in `text` again.
    pub fn within(self, text: &str, prefix: &str) -> Located {
        let field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        Located::field(text, &self.origin, &field, self.reason)
    }

    /// The message without the echoed line (`origin:line: field `f`: reason`).
    pub fn headline(&self) -> String {
        located_message(&self.origin, self.line, &self.field, &self.reason)
    }
}

/// Reads a file people wrote; an unreadable one is a [`Located`] error naming it.
pub fn read(path: &Path) -> Result<String, Located> {
    std::fs::read_to_string(path).map_err(|e| Located::unreadable(path, &e))
}

/// Deserializes TOML; a syntax or schema error is located at the parser's span.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, Located> {
    toml::from_str(text).map_err(|e| Located::toml(text, origin, &e))
}

/// `origin:line: field `f`: reason` — parts that are unknown are left out.
pub fn located_message(origin: &str, line: usize, field: &str, reason: &str) -> String {
    let at = match (origin.is_empty(), line) {
        (true, _) => String::new(),
        (false, 0) => format!("{origin}: "),
        (false, l) => format!("{origin}:{l}: "),
    };
    let field = if field.is_empty() {
        String::new()
    } else {
        format!("field `{field}`: ")
    };
    format!("{at}{field}{reason}")
}

/// The 1-based line of byte `offset` in `text` (parsers report spans as byte ranges).
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The text of 1-based `line` (empty when out of range), the value masked when its key is a
/// secret (`password = "x"`, `sasl.jaas.config=...`): an error never echoes a secret.
fn line_text(text: &str, line: usize) -> String {
    let raw = line
        .checked_sub(1)
        .and_then(|i| text.lines().nth(i))
        .unwrap_or("");
    let Some(at) = raw.find(['=', ':']) else {
        return raw.to_string();
    };
    let key = raw[..at].trim().trim_matches(['"', '\'']);
    let key = key.rsplit(['{', ',']).next().unwrap_or(key).trim();
    if secrets::is_secret_key(key) || secrets::is_secret_key(raw) {
        format!("{}= {}", &raw[..at], secrets::REDACTED)
    } else {
        raw.to_string()
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The byte span where `field` (a dotted path such as `run.duration_secs`, `fault[1].instance`,
/// `workload.producer[0].rate` or `source.bootstrap.servers`, whose last part may be one
/// quoted key `"bootstrap.servers"`) is written in the TOML `text`: the key's, or an array
/// element's. A path only partly present gives the span of its deepest present part (a
/// missing key points at its table); None when the text is not TOML or nothing of the path
/// is there.
pub fn span_of_field(text: &str, field: &str) -> Option<Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable = root.get_ref();
    let mut found: Option<Range<usize>> = None;
    let segments: Vec<&str> = field.split('.').filter(|s| !s.is_empty()).collect();
    let mut i = 0;
    'path: while i < segments.len() {
        // The longest run of segments that is one key: `bootstrap.servers` quoted, else dotted.
        for j in (i + 1..=segments.len()).rev() {
            let joined = segments[i..j].join(".");
            let (name, index) = match joined.rsplit_once('[') {
                Some((name, rest)) if rest.ends_with(']') => (
                    name.to_string(),
                    rest.trim_end_matches(']').parse::<usize>().ok(),
                ),
                _ => (joined.clone(), None),
            };
            let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)
            else {
                continue;
            };
            found = Some(key.span());
            let mut value = value;
            if let Some(n) = index {
                match value.get_ref() {
                    DeValue::Array(items) => match items.get(n) {
                        Some(item) => {
                            found = Some(item.span());
                            value = item;
                        }
                        None => break 'path,
                    },
                    _ => break 'path,
                }
            }
            match value.get_ref() {
                DeValue::Table(t) => {
                    table = t;
                    i = j;
                    continue 'path;
                }
                _ => break 'path,
            }
        }
        break;
    }
    found
}

/// The 1-based line of `field` in the TOML `text` ([`span_of_field`]).
pub fn line_of_field(text: &str, field: &str) -> Option<usize> {
    span_of_field(text, field).map(|span| line_of(text, span.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[scenario]\nname = \"x\"\n\n[workload.record]\norder = 1\n\n[verify]\norder = true\n\n[[fault]]\nat_secs = 1\n\n[[fault]]\nat_secs = 2\ninstance = 3\nrate = { records_per_sec = 5 }\n\n[source]\nbootstrap.servers = \"a\"\n\"client.id\" = \"b\"\n";

    #[test]
    fn fields_are_found_by_their_spans_not_by_their_last_name() {
        assert_eq!(line_of_field(TEXT, "verify.order"), Some(8));
        assert_eq!(line_of_field(TEXT, "workload.record.order"), Some(5));
        assert_eq!(line_of_field(TEXT, "fault[1].instance"), Some(15));
        assert_eq!(line_of_field(TEXT, "fault[1].at_secs"), Some(14));
        assert_eq!(
            line_of_field(TEXT, "fault[1].rate.records_per_sec"),
            Some(16)
        );
        // A missing key points at the deepest part that is there.
        assert_eq!(line_of_field(TEXT, "verify.offsets"), Some(7));
        assert_eq!(line_of_field(TEXT, "nothing.here"), None);
        assert_eq!(line_of_field("not = [toml", "not"), None);
    }

    #[test]
    fn dotted_and_quoted_keys_are_both_found() {
        assert_eq!(line_of_field(TEXT, "source.bootstrap.servers"), Some(19));
        assert_eq!(line_of_field(TEXT, "source.client.id"), Some(20));
    }

    #[test]
    fn the_offending_line_is_echoed_with_a_caret_under_the_field() {
        let e = Located::field(
            TEXT,
            "bad.toml",
            "fault[1].rate.records_per_sec",
            "expected a positive rate",
        );
        assert_eq!(
            e.to_string(),
            "bad.toml:16: field `fault[1].rate.records_per_sec`: expected a positive rate\n   |\n16 | rate = { records_per_sec = 5 }\n   |          ^"
        );
        assert_eq!(
            e.headline(),
            "bad.toml:16: field `fault[1].rate.records_per_sec`: expected a positive rate"
        );
    }

    #[test]
    fn schema_errors_are_located_at_the_parser_span() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let e = parse_toml::<S>("a = 1\nb = 2\n", "s.toml").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().starts_with("s.toml:2: unknown field `b`"),
            "{e}"
        );
        assert!(e.to_string().ends_with("2 | b = 2\n  | ^"), "{e}");
    }

    #[test]
    fn a_hint_is_used_only_where_the_path_is_absent_and_unknown_parts_are_left_out() {
        let e = Located::field_or("[x]\ny = 1\n", "f", "z.w", 2, "r");
        assert_eq!(e.headline(), "f:2: field `z.w`: r");
        assert_eq!(Located::new("f", "", "r").to_string(), "f: r");
        assert_eq!(Located::new("", "k", "r").to_string(), "field `k`: r");
        let e = Located::unreadable(Path::new("/nope.toml"), &std::io::Error::other("gone"));
        assert_eq!(e.to_string(), "/nope.toml: cannot read: gone");
    }

    #[test]
    fn an_echoed_line_never_shows_a_secret() {
        let text = "[source]\nsasl.jaas.config = 5\n";
        let e = Located::field(
            text,
            "r.toml",
            "source.sasl.jaas.config",
            "expected a string",
        );
        assert!(
            e.to_string().contains("2 | sasl.jaas.config = [redacted]"),
            "{e}"
        );
        assert!(!e.to_string().contains("= 5"), "{e}");
    }

    #[test]
    fn a_nested_reader_error_is_placed_again_under_its_table() {
        let text = "[workload]\nseed = 1\n[[workload.producer]]\nrate = 0\n";
        let inner = Located::new("w", "producer[0].rate", "expected a positive rate");
        let e = inner.within(text, "workload");
        assert_eq!(e.line, 4);
        assert_eq!(e.field, "workload.producer[0].rate");
    }
}
