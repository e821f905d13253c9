//! [`Rename`]: how source topic names map to target topic names — the checker's vocabulary,
//! used as is by the built-in replicator's `[replication.rename]`, by scenario files and by
//! `cutover verify --rename-prefix/--rename`.

use std::collections::BTreeMap;

/// How source topic names map to target names: explicit names first, else prefix + name +
/// suffix. As TOML (`[replication.rename]`): `prefix = "dr."`, `suffix = ""`,
/// `map = { orders = "orders-v2" }`; every key may be left out.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// Put before every source topic name (default: none).
    #[serde(default)]
    pub prefix: String,
    /// Put after every source topic name (default: none).
    #[serde(default)]
    pub suffix: String,
    /// Explicit source → target names; they win over prefix and suffix (default: none).
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

impl Rename {
    /// Only a prefix (`cutover verify --rename-prefix`, MirrorMaker 2's default policy).
    pub fn prefix(prefix: impl Into<String>) -> Rename {
        Rename {
            prefix: prefix.into(),
            ..Rename::default()
        }
    }

    /// The target topic that holds the copy of `source`.
    pub fn target_of(&self, source: &str) -> String {
        self.map
            .get(source)
            .cloned()
            .unwrap_or_else(|| format!("{}{source}{}", self.prefix, self.suffix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_wins_over_prefix_and_suffix_and_every_key_may_be_left_out() {
        let r: Rename = toml::from_str("prefix = \"dr.\"\nmap = { a = \"b\" }\n").unwrap();
        assert_eq!(r.target_of("a"), "b");
        assert_eq!(r.target_of("c"), "dr.c");
        assert_eq!(toml::from_str::<Rename>("").unwrap(), Rename::default());
        assert!(toml::from_str::<Rename>("prefx = \"x\"").is_err());
        assert_eq!(Rename::prefix("p.").target_of("t"), "p.t");
    }
}
