//! Java `.properties` text with the line of every key, because a lint finding must point at the
//! line to change. Follows `java.util.Properties::load`: `key=value`, `key: value` and
//! `key value`, `#` and `!` comments, a trailing odd backslash continues the logical line on the
//! next one (its leading blanks dropped), `\`-escapes in keys and values, `\uXXXX`. A key given
//! twice keeps its last value, as Java does.

use crate::error::LintError;

/// One `key = value` of a properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based line where the key starts.
    pub line: usize,
}

/// A properties file: its entries in file order.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    entries: Vec<Entry>,
}

impl Properties {
    /// Parses properties text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Properties, LintError> {
        let mut entries = Vec::new();
        let mut lines = text.lines().enumerate();
        while let Some((index, raw)) = lines.next() {
            let line = index + 1;
            let first = raw.trim_start_matches([' ', '\t', '\x0c']);
            if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
                continue;
            }
            let mut logical = first.to_string();
            while ends_with_continuation(&logical) {
                logical.pop();
                match lines.next() {
                    Some((_, next)) => {
                        logical.push_str(next.trim_start_matches([' ', '\t', '\x0c']))
                    }
                    None => break,
                }
            }
            let (key, value) = split_key_value(&logical);
            let key = unescape(key, origin, line)?;
            if key.is_empty() {
                return Err(LintError::Parse {
                    file: origin.to_string(),
                    line,
                    expected: "a key before the separator (`key=value`)".into(),
                });
            }
            let value = unescape(value, origin, line)?;
            entries.push(Entry { key, value, line });
        }
        Ok(Properties { entries })
    }

    /// The last entry for `key`, the one Java keeps.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The value of `key`, trimmed.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(|e| e.value.trim())
    }

    /// Every entry in file order (duplicates included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Builds properties from `(key, value, line)` triples (JSON connector configs).
    pub fn from_entries(entries: Vec<Entry>) -> Properties {
        Properties { entries }
    }
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or blank; blanks around the separator are dropped.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str, origin: &str, line: usize) -> Result<String, LintError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let decoded = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32);
                match decoded {
                    Some(ch) => out.push(ch),
                    None => {
                        return Err(LintError::Parse {
                            file: origin.to_string(),
                            line,
                            expected: format!("four hex digits after `\\u` (found `\\u{hex}`)"),
                        })
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_comments_and_continuations_keep_the_key_line() {
        let text =
            "# comment\n! other comment\na=1\nb: 2\nc 3\n\nd = one,\\\n    two\ne\\ f=\\u0041\ng\n";
        let p = Properties::parse(text, "t.properties").expect("parses");
        assert_eq!(
            p.get("a").map(|e| (e.value.as_str(), e.line)),
            Some(("1", 3))
        );
        assert_eq!(
            p.get("b").map(|e| (e.value.as_str(), e.line)),
            Some(("2", 4))
        );
        assert_eq!(
            p.get("c").map(|e| (e.value.as_str(), e.line)),
            Some(("3", 5))
        );
        assert_eq!(
            p.get("d").map(|e| (e.value.as_str(), e.line)),
            Some(("one,two", 7))
        );
        assert_eq!(p.get("e f").map(|e| e.value.as_str()), Some("A"));
        assert_eq!(
            p.get("g").map(|e| (e.value.as_str(), e.line)),
            Some(("", 10))
        );
    }

    #[test]
    fn the_last_duplicate_wins_like_java() {
        let p = Properties::parse("k=1\nk=2\n", "t").expect("parses");
        assert_eq!(
            p.get("k").map(|e| (e.value.as_str(), e.line)),
            Some(("2", 2))
        );
    }

    #[test]
    fn a_value_without_a_key_and_a_bad_unicode_escape_name_the_line() {
        let e = Properties::parse("a=1\n=orphan\n", "x.properties").unwrap_err();
        assert!(e.to_string().starts_with("x.properties:2:"), "{e}");
        let e = Properties::parse("a=\\u00zz\n", "x.properties").unwrap_err();
        assert!(e.to_string().contains("x.properties:1:"), "{e}");
    }
}
