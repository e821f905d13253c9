//! Java `.properties` text with the line of every key, because a lint finding must point at the
//! line to change: [`located::properties`] reads it (the one properties reader of cutover);
//! this is the lookup the rules use.

pub use located::properties::Entry;

use crate::error::LintError;

/// A properties file: its entries in file order.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    entries: Vec<Entry>,
}

impl Properties {
    /// Parses properties text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Properties, LintError> {
        let entries = located::properties::parse(text, origin).map_err(|e| LintError::Parse {
            file: e.origin,
            line: e.line,
            expected: e.reason.trim_start_matches("expected ").to_string(),
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_duplicate_wins_like_java_and_errors_name_the_line() {
        let p = Properties::parse("k=1\nk=2\n", "t").expect("parses");
        assert_eq!(
            p.get("k").map(|e| (e.value.as_str(), e.line)),
            Some(("2", 2))
        );
        assert_eq!(p.entries().len(), 2);
        let e = Properties::parse("a=1\n=orphan\n", "x.properties").unwrap_err();
        assert!(e.to_string().starts_with("x.properties:2:"), "{e}");
    }
}
