//! The consumer protocol's member assignment, as a classic consumer group's coordinator keeps
//! it for each member (DescribeGroups' `member_assignment`, what `Admin::describe_consumer_group`
//! reads): Kafka's `ConsumerProtocolAssignment`
//! (`clients/src/main/resources/common/message/ConsumerProtocolAssignment.json` in
//! apache/kafka) behind its version, an int16:
//!
//! ```text
//! Version          => int16
//! AssignedPartitions => [Topic => string (int16 length), Partitions => [int32]] (int32 counts)
//! UserData         => nullable bytes (int32 length, -1 = null)
//! ```
//!
//! Versions 0 to 3 share this layout; like Kafka's `ConsumerProtocol.deserializeAssignment`,
//! a newer version is read with it too (the format only ever appends fields), and a negative
//! one is refused. An empty assignment (a member between the rebalance's join and sync, or
//! one the leader gave nothing) is no partitions.

use std::collections::BTreeMap;

/// One member's decoded assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The version it was written with (0 for an empty assignment).
    pub version: i16,
    /// Assigned partitions by topic, each list sorted.
    pub partitions: BTreeMap<String, Vec<i32>>,
    /// The assignor's user data (None: null).
    pub user_data: Option<Vec<u8>>,
}

impl Assignment {
    /// How many partitions it holds over all topics.
    pub fn count(&self) -> usize {
        self.partitions.values().map(Vec::len).sum()
    }
}

/// Why assignment bytes are not a consumer-protocol assignment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("truncated at byte {at}: {what} needs {needed} more bytes, {left} left")]
    Truncated {
        at: usize,
        what: &'static str,
        needed: usize,
        left: usize,
    },
    #[error("unsupported assignment version {0} (versions start at 0)")]
    Version(i16),
    #[error("{what} at byte {at} has a negative length {len}")]
    Negative {
        at: usize,
        what: &'static str,
        len: i64,
    },
    #[error("topic name at byte {at} is not UTF-8")]
    NotUtf8 { at: usize },
}

/// Decodes a member's assignment bytes.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, AssignmentError> {
    if bytes.is_empty() {
        return Ok(Assignment::default());
    }
    let mut r = Reader { bytes, at: 0 };
    let version = r.i16("the version")?;
    if version < 0 {
        return Err(AssignmentError::Version(version));
    }
    let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let topics = r.count("the topic array")?;
    for _ in 0..topics {
        let at = r.at;
        let len = r.i16("a topic name's length")?;
        if len < 0 {
            return Err(AssignmentError::Negative {
                at,
                what: "a topic name",
                len: len.into(),
            });
        }
        let name = r.take(len as usize, "a topic name")?;
        let name = std::str::from_utf8(name)
            .map_err(|_| AssignmentError::NotUtf8 { at: at + 2 })?
            .to_string();
        let n = r.count("a partition array")?;
        let list = partitions.entry(name).or_default();
        for _ in 0..n {
            list.push(r.i32("a partition")?);
        }
        list.sort_unstable();
        list.dedup();
    }
    let at = r.at;
    let user_data = match r.i32("the user data's length")? {
        -1 => None,
        len if len < 0 => {
            return Err(AssignmentError::Negative {
                at,
                what: "the user data",
                len: len.into(),
            })
        }
        len => Some(r.take(len as usize, "the user data")?.to_vec()),
    };
    Ok(Assignment {
        version,
        partitions,
        user_data,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], AssignmentError> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(AssignmentError::Truncated {
                at: self.at,
                what,
                needed: n,
                left,
            });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, AssignmentError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, AssignmentError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array's element count (non-nullable: -1 is refused).
    fn count(&mut self, what: &'static str) -> Result<usize, AssignmentError> {
        let at = self.at;
        let n = self.i32(what)?;
        if n < 0 {
            return Err(AssignmentError::Negative {
                at,
                what,
                len: n.into(),
            });
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes as Kafka's `ConsumerProtocol.serializeAssignment` does.
    fn encode(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Vec<u8> {
        let mut out = version.to_be_bytes().to_vec();
        out.extend((topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            out.extend((t.len() as i16).to_be_bytes());
            out.extend(t.as_bytes());
            out.extend((ps.len() as i32).to_be_bytes());
            for p in *ps {
                out.extend(p.to_be_bytes());
            }
        }
        match user_data {
            None => out.extend((-1i32).to_be_bytes()),
            Some(d) => {
                out.extend((d.len() as i32).to_be_bytes());
                out.extend(d);
            }
        }
        out
    }

    #[test]
    fn every_version_decodes_topics_partitions_and_user_data() {
        for version in 0..=3 {
            let bytes = encode(
                version,
                &[("orders", &[3, 1]), ("pay.ments", &[0])],
                Some(b"sticky"),
            );
            let a = decode_assignment(&bytes).unwrap();
            assert_eq!(a.version, version);
            assert_eq!(a.partitions["orders"], [1, 3]);
            assert_eq!(a.partitions["pay.ments"], [0]);
            assert_eq!(a.count(), 3);
            assert_eq!(a.user_data.as_deref(), Some(&b"sticky"[..]));
        }
        // A version from the future is read with the known layout, as Kafka does.
        let a = decode_assignment(&encode(7, &[("t", &[2])], None)).unwrap();
        assert_eq!((a.version, a.count(), a.user_data), (7, 1, None));
    }

    #[test]
    fn empty_bytes_and_an_empty_array_hold_nothing() {
        assert_eq!(decode_assignment(&[]).unwrap().count(), 0);
        let a = decode_assignment(&encode(0, &[], None)).unwrap();
        assert!(a.partitions.is_empty());
    }

    #[test]
    fn malformed_bytes_are_refused_with_where_and_why() {
        let good = encode(1, &[("orders", &[1, 2])], Some(b"x"));
        for cut in 1..good.len() {
            let e = decode_assignment(&good[..cut]);
            assert!(
                matches!(e, Err(AssignmentError::Truncated { .. })),
                "cut at {cut}: {e:?}"
            );
        }
        assert_eq!(
            decode_assignment(&encode(-1, &[], None)),
            Err(AssignmentError::Version(-1))
        );
        let mut null_array = 0i16.to_be_bytes().to_vec();
        null_array.extend((-1i32).to_be_bytes());
        let e = decode_assignment(&null_array).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the topic array at byte 2 has a negative length -1"
        );
        let mut bad_name = encode(0, &[("ab", &[0])], None);
        bad_name[8] = 0xff;
        assert_eq!(
            decode_assignment(&bad_name),
            Err(AssignmentError::NotUtf8 { at: 8 })
        );
    }
}
