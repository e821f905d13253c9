//! Java `.properties` text with the line of every key (client properties, MirrorMaker 2
//! properties, Confluent Replicator properties), because an error or a lint finding must point
//! at the line to change. Follows `java.util.Properties::load`: `key=value`, `key: value` and
//! `key value`, `#` and `!` comments, a trailing odd backslash continues the logical line on the
//! next one (its leading blanks dropped), `\`-escapes in keys and values, `\uXXXX`. A key given
//! twice keeps its last value, as Java does ([`last`]).

use crate::Located;

/// One `key = value` of a properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based line where the key starts.
    pub line: usize,
}

const BLANKS: [char; 3] = [' ', '\t', '\x0c'];

/// Parses properties text into its entries in file order (duplicates included); `origin`
/// names the file in errors (a value without a key, a bad `\u` escape).
pub fn parse(text: &str, origin: &str) -> Result<Vec<Entry>, Located> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line = index + 1;
        let first = raw.trim_start_matches(BLANKS);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches(BLANKS)),
                None => break,
            }
        }
        let bad = |reason: String| Located::new(origin, "", reason).at_line(text, line);
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(&bad)?;
        if key.is_empty() {
            return Err(bad(
                "expected a key before the separator (`key=value`)".into()
            ));
        }
        let value = unescape(value).map_err(bad)?;
        entries.push(Entry { key, value, line });
    }
    Ok(entries)
}

/// The entries as a map, the last of a repeated key winning (as Java does).
pub fn last(entries: &[Entry]) -> std::collections::BTreeMap<String, String> {
    entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
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
    let mut rest = line[i..].trim_start_matches(BLANKS);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches(BLANKS);
    }
    (key, rest)
}

fn unescape(s: &str) -> Result<String, String> {
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
                        return Err(format!(
                            "expected four hex digits after `\\u` (found `\\u{hex}`)"
                        ))
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

    fn get<'a>(entries: &'a [Entry], key: &str) -> Option<(&'a str, usize)> {
        entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| (e.value.as_str(), e.line))
    }

    #[test]
    fn separators_comments_and_continuations_keep_the_key_line() {
        let text =
            "# comment\n! other comment\na=1\nb: 2\nc 3\n\nd = one,\\\n    two\ne\\ f=\\u0041\ng\n";
        let p = parse(text, "t.properties").expect("parses");
        assert_eq!(get(&p, "a"), Some(("1", 3)));
        assert_eq!(get(&p, "b"), Some(("2", 4)));
        assert_eq!(get(&p, "c"), Some(("3", 5)));
        assert_eq!(get(&p, "d"), Some(("one,two", 7)));
        assert_eq!(get(&p, "e f").map(|e| e.0), Some("A"));
        assert_eq!(get(&p, "g"), Some(("", 10)));
    }

    #[test]
    fn the_last_duplicate_wins_like_java() {
        let p = parse("k=1\nk=2\n", "t").expect("parses");
        assert_eq!(get(&p, "k"), Some(("2", 2)));
        assert_eq!(last(&p).get("k").map(String::as_str), Some("2"));
    }

    #[test]
    fn a_value_without_a_key_and_a_bad_unicode_escape_name_the_line() {
        let e = parse("a=1\n=orphan\n", "x.properties").unwrap_err();
        assert!(e.to_string().starts_with("x.properties:2:"), "{e}");
        assert!(e.to_string().contains("2 | =orphan"), "{e}");
        let e = parse("a=\\u00zz\n", "x.properties").unwrap_err();
        assert!(e.to_string().contains("x.properties:1:"), "{e}");
        let e = parse("password=\\u00zz\n", "x.properties").unwrap_err();
        assert!(
            !e.to_string().contains("zz\n"),
            "a secret line is not echoed: {e}"
        );
    }
}
