//! The Confluent wire format: byte 0 is the magic `0`, bytes 1–4 the schema id (big-endian),
//! then the serialized payload. See Confluent's "Wire format" documentation.
//!
//! Protobuf payloads start with a message-index array naming the message type within the
//! schema: its length, then each index (a path through nested messages), every number a
//! zig-zag varint; `[0]` (the first top-level message) is written as the single byte `0`.
//! [`protobuf_indexes`] reads it, [`frame_protobuf`] writes it, and [`protobuf_identity`]
//! gives payloads that differ only in how `[0]` was spelled the same identity.

use std::borrow::Cow;

/// The magic byte that starts a framed record.
pub const MAGIC: u8 = 0;
/// Bytes before the payload: magic and id.
pub const HEADER_LEN: usize = 5;

/// A record value in the wire format, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    pub id: u32,
    pub payload: &'a [u8],
}

/// Splits a framed value; `None` when it is not framed (too short or another magic byte).
pub fn parse(value: &[u8]) -> Option<Framed<'_>> {
    if value.len() < HEADER_LEN || value[0] != MAGIC {
        return None;
    }
    let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    Some(Framed {
        id,
        payload: &value[HEADER_LEN..],
    })
}

/// Frames `payload` with schema `id`.
pub fn frame(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The same value with its id replaced; borrowed unchanged when the id is already `id`.
pub fn with_id(value: &[u8], id: u32) -> Cow<'_, [u8]> {
    match parse(value) {
        Some(f) if f.id == id => Cow::Borrowed(value),
        Some(f) => Cow::Owned(frame(id, f.payload)),
        None => Cow::Borrowed(value),
    }
}

/// Appends `v` as a base-128 varint (Protobuf's varint fields and lengths).
pub fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `n` as a zig-zag varint (Avro's `int`/`long`, the message-index numbers).
pub fn write_zigzag(n: i64, out: &mut Vec<u8>) {
    write_varint(((n << 1) ^ (n >> 63)) as u64, out);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

/// The message-index array written before a Protobuf message (`[0]` as the single byte 0).
pub fn message_indexes(indexes: &[i64]) -> Vec<u8> {
    if indexes == [0] {
        return vec![0];
    }
    let mut out = Vec::with_capacity(1 + indexes.len());
    write_zigzag(indexes.len() as i64, &mut out);
    for i in indexes {
        write_zigzag(*i, &mut out);
    }
    out
}

/// Frames a Protobuf `message` of the type at `indexes` with schema `id`.
pub fn frame_protobuf(id: u32, indexes: &[i64], message: &[u8]) -> Vec<u8> {
    let mut payload = message_indexes(indexes);
    payload.extend_from_slice(message);
    frame(id, &payload)
}

/// Longest message-index path cutover accepts (a guard against garbage read as a length).
const MAX_INDEXES: i64 = 64;

/// A Protobuf payload's message indexes and the message after them; `None` when the array
/// cannot be read (truncated, negative or absurd lengths). A length of 0 means `[0]`.
pub fn protobuf_indexes(payload: &[u8]) -> Option<(Vec<i64>, &[u8])> {
    let mut at = 0;
    let n = read_varint(payload, &mut at)?;
    if !(0..=MAX_INDEXES).contains(&n) {
        return None;
    }
    let indexes = if n == 0 {
        vec![0]
    } else {
        (0..n)
            .map(|_| read_varint(payload, &mut at).filter(|i| *i >= 0))
            .collect::<Option<Vec<i64>>>()?
    };
    Some((indexes, &payload[at..]))
}

/// The bytes that identify a Protobuf payload: the message-index path spelled one way
/// (`len, i…` as decimal text) then the message; the raw payload when the array is unreadable.
pub fn protobuf_identity(payload: &[u8]) -> Cow<'_, [u8]> {
    match protobuf_indexes(payload) {
        Some((indexes, message)) => {
            let mut out = format!(
                "#{}:{}#",
                indexes.len(),
                indexes
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(".")
            )
            .into_bytes();
            out.extend_from_slice(message);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_message_indexes_follow_the_confluent_encoding() {
        // [0]: the single byte 0; [1]: length 1 → zigzag 2, index 1 → 2; [1, 2]: 4, 2, 4.
        assert_eq!(message_indexes(&[0]), [0]);
        assert_eq!(message_indexes(&[1]), [2, 2]);
        assert_eq!(message_indexes(&[1, 2]), [4, 2, 4]);
        let v = frame_protobuf(9, &[1], &[0x08, 0x01]);
        assert_eq!(v, [0, 0, 0, 0, 9, 2, 2, 0x08, 0x01]);
        let f = parse(&v).unwrap();
        assert_eq!(
            protobuf_indexes(f.payload),
            Some((vec![1], &[0x08u8, 0x01][..]))
        );
        assert_eq!(protobuf_indexes(&[0, 0x08]), Some((vec![0], &[0x08u8][..])));
        // [0] spelled out in full (length 1, index 0) is the same message.
        assert_eq!(
            protobuf_indexes(&[2, 0, 0x08]),
            Some((vec![0], &[0x08u8][..]))
        );
        assert_eq!(
            protobuf_identity(&[0, 0x08]),
            protobuf_identity(&[2, 0, 0x08])
        );
        assert_ne!(
            protobuf_identity(&[0, 0x08]),
            protobuf_identity(&[2, 2, 0x08])
        );
        // A long path and big indexes round-trip.
        let path = [3, 0, 200, 70000];
        let enc = message_indexes(&path);
        assert_eq!(protobuf_indexes(&enc), Some((path.to_vec(), &[][..])));
        // Unreadable arrays.
        assert_eq!(protobuf_indexes(&[]), None);
        assert_eq!(protobuf_indexes(&[4, 2]), None, "truncated");
        assert_eq!(protobuf_indexes(&[1]), None, "negative length");
        assert_eq!(protobuf_indexes(&[0xff, 0xff, 0xff]), None);
        assert!(matches!(protobuf_identity(&[1, 9]), Cow::Borrowed(_)));
    }

    #[test]
    fn frames_and_parses_big_endian_ids() {
        let v = frame(0x0102_0304, b"xyz");
        assert_eq!(v, [0, 1, 2, 3, 4, b'x', b'y', b'z']);
        let f = parse(&v).unwrap();
        assert_eq!(f.id, 0x0102_0304);
        assert_eq!(f.payload, b"xyz");
        assert_eq!(parse(&frame(7, b"")).unwrap().payload, b"");
    }

    #[test]
    fn unframed_values_are_not_parsed() {
        assert!(parse(b"").is_none());
        assert!(parse(&[0, 0, 0, 1]).is_none(), "shorter than a header");
        assert!(parse(&[1, 0, 0, 0, 1, 9]).is_none(), "wrong magic");
        assert!(parse(b"{\"a\":1}").is_none());
    }

    #[test]
    fn with_id_rewrites_only_the_id() {
        let v = frame(1, b"payload");
        let w = with_id(&v, 300);
        assert!(matches!(w, Cow::Owned(_)));
        assert_eq!(
            parse(&w).unwrap(),
            Framed {
                id: 300,
                payload: b"payload"
            }
        );
        assert!(matches!(with_id(&v, 1), Cow::Borrowed(_)));
        assert!(matches!(with_id(b"plain", 3), Cow::Borrowed(b"plain")));
    }
}
