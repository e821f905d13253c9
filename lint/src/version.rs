//! Kafka versions, for the rules that depend on which MirrorMaker 2 will run a config: given on
//! the command line (`--kafka-version 3.4.0`) or in the file as a comment
//! (`# kafka.version = 3.4.0`).

use std::fmt;
use std::str::FromStr;

/// An Apache Kafka release, `major.minor.patch` (a missing patch is 0; a suffix such as `-rc1`
/// or `-SNAPSHOT` is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KafkaVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KafkaVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> KafkaVersion {
        KafkaVersion {
            major,
            minor,
            patch,
        }
    }

    /// True when this version carries a fix released in `fixed_in` (the first release of each
    /// line that has it, oldest first): on a line named there from that release on, and on
    /// every line after the newest one named. 3.4.1 and 3.5.0 fix KAFKA-12468, so 3.4.0 and
    /// 3.3.2 do not have it and 3.4.1, 3.5.0 and 3.6.0 do.
    pub fn has_fix(&self, fixed_in: &[KafkaVersion]) -> bool {
        let same_line = fixed_in
            .iter()
            .find(|f| f.major == self.major && f.minor == self.minor);
        if let Some(f) = same_line {
            return self >= f;
        }
        fixed_in.iter().max().is_some_and(|newest| self > newest)
    }
}

impl fmt::Display for KafkaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Kafka version (expected MAJOR.MINOR[.PATCH], e.g. 3.4.1)")]
pub struct BadVersion(pub String);

impl FromStr for KafkaVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<KafkaVersion, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let core = s.trim().split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let num = |p: &str| -> Result<u32, BadVersion> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        Ok(KafkaVersion {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: match parts.get(2) {
                Some(p) => num(p)?,
                None => 0,
            },
        })
    }
}

/// The Kafka version a file declares in a comment, `# kafka.version = 3.4.0` (or `!`, `:`), with
/// its 1-based line. `Err` holds the line of a comment whose value is not a version.
pub fn declared(text: &str) -> Result<Option<(KafkaVersion, usize)>, (usize, BadVersion)> {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix('#').or_else(|| t.strip_prefix('!')) else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix("kafka.version") else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(value) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) else {
            continue;
        };
        return match value.trim().parse() {
            Ok(v) => Ok(Some((v, i + 1))),
            Err(e) => Err((i + 1, e)),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KafkaVersion {
        s.parse().expect("version")
    }

    #[test]
    fn parses_and_orders() {
        assert_eq!(v("3.4"), KafkaVersion::new(3, 4, 0));
        assert_eq!(v("3.7.1-rc2"), KafkaVersion::new(3, 7, 1));
        assert!(v("3.10.0") > v("3.9.1"));
        for bad in ["", "3", "x.y", "3.4.1.2", "3..1", "-1.0"] {
            assert!(bad.parse::<KafkaVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_fix_is_in_its_release_lines_and_every_later_line() {
        let fixed = [v("3.4.1"), v("3.5.0")];
        for (version, has) in [
            ("3.3.2", false),
            ("3.4.0", false),
            ("3.4.1", true),
            ("3.5.0", true),
            ("3.6.0", true),
            ("4.0.0", true),
            ("2.8.2", false),
        ] {
            assert_eq!(v(version).has_fix(&fixed), has, "{version}");
        }
        let fixed = [v("3.7.1"), v("3.8.0")];
        assert!(!v("3.7.0").has_fix(&fixed));
        assert!(v("3.7.1").has_fix(&fixed));
        assert!(!v("3.6.2").has_fix(&fixed));
    }

    #[test]
    fn the_comment_is_found_with_its_line() {
        let text = "clusters = a, b\n# kafka.version = 3.4.0\na->b.enabled = true\n";
        assert_eq!(declared(text), Ok(Some((v("3.4.0"), 2))));
        assert_eq!(declared("!kafka.version: 3.6\n"), Ok(Some((v("3.6.0"), 1))));
        assert_eq!(declared("# kafka version 3\n"), Ok(None));
        assert_eq!(
            declared("x=1\n#kafka.version=three\n").map_err(|e| e.0),
            Err(2)
        );
    }
}
