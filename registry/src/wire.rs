//! The Confluent wire format: byte 0 is the magic `0`, bytes 1–4 the schema id (big-endian),
//! then the serialized payload. (Protobuf payloads start with a message-index array, which
//! cutover keeps as part of the payload.) See Confluent's "Wire format" documentation.

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

#[cfg(test)]
mod tests {
    use super::*;

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
