//! The per-message fingerprint: SHA-256 over a canonical, length-prefixed encoding.
//!
//! Encoding (version 1), every integer big-endian, documented in `docs/fingerprint.md` so
//! another tool can reproduce it:
//!
//! ```text
//! "cutover-fp-v1"                      13 bytes, domain tag
//! flags: u8                            bit 0: timestamp included
//! key:   0x00 (null) | 0x01 len:u32 bytes
//! value: 0x00 (null) | 0x01 len:u32 bytes
//! headers: count:u32, then per header (in record order, excluded names skipped):
//!          name_len:u32 name  value: 0x00 (null) | 0x01 len:u32 bytes
//! [timestamp_type:u8 (0 create, 1 log-append) timestamp_ms:i64]   only when flag bit 0
//! ```

use sha2::{Digest, Sha256};

/// Header cutover's workload puts on every record: producer (u16) and sequence (u48),
/// 8 bytes big-endian. It identifies a record across copies, so a changed copy is told
/// apart from a lost one.
pub const WORKLOAD_ID_HEADER: &str = "cutover-id";

/// A SHA-256 fingerprint.
pub type Fingerprint = [u8; 32];

pub use verdict::FingerprintOptions;

/// Headers MirrorMaker 2 and Confluent Replicator add by design.
pub const REPLICATOR_PROVENANCE_HEADERS: &[&str] = &[
    "__connect.errors.topic",
    "_c3_origin",
    "__replicator_id",
    "cutover-replicator",
];

/// A borrowed view of one record.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
    /// (type: 0 create, 1 log-append; milliseconds)
    pub timestamp: Option<(u8, i64)>,
}

impl<'a> RecordView<'a> {
    /// The view of a consumed Kafka message: key, value, `headers` (from
    /// [`message_headers`]) and the timestamp with its type. The one place a message becomes
    /// a fingerprintable record (the checker's reader, the consumer-group check, the
    /// rehearsal's window check).
    pub fn from_message<M: rdkafka::Message>(
        m: &'a M,
        headers: &'a [(&'a str, Option<&'a [u8]>)],
    ) -> RecordView<'a> {
        RecordView {
            key: m.key(),
            value: m.payload(),
            headers,
            timestamp: match m.timestamp() {
                rdkafka::Timestamp::CreateTime(ms) => Some((0, ms)),
                rdkafka::Timestamp::LogAppendTime(ms) => Some((1, ms)),
                rdkafka::Timestamp::NotAvailable => None,
            },
        }
    }
}

/// A message's headers in order, as [`RecordView`] borrows them.
pub fn message_headers<M: rdkafka::Message>(m: &M) -> Vec<(&str, Option<&[u8]>)> {
    use rdkafka::message::Headers;
    m.headers()
        .map(|h| h.iter().map(|x| (x.key, x.value)).collect())
        .unwrap_or_default()
}

/// The fingerprint of a consumed message ([`RecordView::from_message`]).
pub fn fingerprint_message<M: rdkafka::Message>(
    m: &M,
    options: &FingerprintOptions,
) -> Fingerprint {
    let headers = message_headers(m);
    fingerprint(&RecordView::from_message(m, &headers), options)
}

fn put_bytes(h: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update((b.len() as u32).to_be_bytes());
            h.update(b);
        }
    }
}

/// Fingerprints one record.
pub fn fingerprint(record: &RecordView<'_>, options: &FingerprintOptions) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(b"cutover-fp-v1");
    h.update([u8::from(options.include_timestamp)]);
    put_bytes(&mut h, record.key);
    put_bytes(&mut h, record.value);
    let kept = |name: &str| !options.exclude_headers.iter().any(|x| x == name);
    let count = record.headers.iter().filter(|(n, _)| kept(n)).count() as u32;
    h.update(count.to_be_bytes());
    for (name, value) in record.headers.iter().filter(|(n, _)| kept(n)) {
        h.update((name.len() as u32).to_be_bytes());
        h.update(name.as_bytes());
        put_bytes(&mut h, *value);
    }
    if options.include_timestamp {
        let (kind, ms) = record.timestamp.unwrap_or((0, -1));
        h.update([kind]);
        h.update(ms.to_be_bytes());
    }
    h.finalize().into()
}

/// The identity (producer, sequence) carried in [`WORKLOAD_ID_HEADER`], as a non-zero u64
/// (0 means "no identity").
pub fn identity(headers: &[(&str, Option<&[u8]>)]) -> u64 {
    identity_bytes(headers).map_or(0, |b| u64::from_be_bytes(b).wrapping_add(1).max(1))
}

/// The [`WORKLOAD_ID_HEADER`] value, when it is one.
fn identity_bytes(headers: &[(&str, Option<&[u8]>)]) -> Option<[u8; 8]> {
    headers
        .iter()
        .find(|(n, _)| *n == WORKLOAD_ID_HEADER)
        .and_then(|(_, v)| *v)
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
}

/// Encodes a workload id header value.
pub fn encode_identity(producer: u16, sequence: u64) -> [u8; 8] {
    ((u64::from(producer) << 48) | (sequence & 0xFFFF_FFFF_FFFF)).to_be_bytes()
}

/// The (producer, sequence) of a record's [`WORKLOAD_ID_HEADER`] ([`encode_identity`]
/// undone); None without one.
pub fn decode_identity(headers: &[(&str, Option<&[u8]>)]) -> Option<(u16, u64)> {
    let raw = u64::from_be_bytes(identity_bytes(headers)?);
    Some(((raw >> 48) as u16, raw & 0xFFFF_FFFF_FFFF))
}

/// Lower-case hex.
pub fn hex(fp: &[u8]) -> String {
    fp.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_decodes_to_the_producer_and_sequence_it_encodes() {
        let v = encode_identity(7, 123_456);
        assert_eq!(
            decode_identity(&[("x", None), (WORKLOAD_ID_HEADER, Some(&v[..]))]),
            Some((7, 123_456))
        );
        assert_eq!(
            decode_identity(&[(WORKLOAD_ID_HEADER, Some(&b"short"[..]))]),
            None
        );
        assert_eq!(decode_identity(&[]), None);
    }

    #[test]
    fn a_message_is_viewed_with_its_headers_and_typed_timestamp() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
        let headers = OwnedHeaders::new().insert(Header {
            key: "h",
            value: Some(b"v".as_slice()),
        });
        let m = OwnedMessage::new(
            Some(b"value".to_vec()),
            Some(b"key".to_vec()),
            "t".into(),
            rdkafka::Timestamp::LogAppendTime(42),
            0,
            7,
            Some(headers),
        );
        let hs = message_headers(&m);
        let view = RecordView::from_message(&m, &hs);
        assert_eq!(view.key, Some(b"key".as_slice()));
        assert_eq!(view.value, Some(b"value".as_slice()));
        assert_eq!(view.headers, &[("h", Some(b"v".as_slice()))]);
        assert_eq!(view.timestamp, Some((1, 42)));
        let options = FingerprintOptions {
            include_timestamp: true,
            ..FingerprintOptions::default()
        };
        assert_eq!(
            fingerprint_message(&m, &options),
            fingerprint(&view, &options)
        );
        let create = OwnedMessage::new(
            Some(b"value".to_vec()),
            Some(b"key".to_vec()),
            "t".into(),
            rdkafka::Timestamp::CreateTime(42),
            0,
            7,
            None,
        );
        assert_ne!(
            fingerprint_message(&m, &options),
            fingerprint_message(&create, &options),
            "the timestamp's type and the headers count"
        );
    }

    fn fp(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Fingerprint {
        fingerprint(
            &RecordView {
                key,
                value,
                headers,
                timestamp: Some((0, 5)),
            },
            &FingerprintOptions::default(),
        )
    }

    #[test]
    fn null_empty_and_boundaries_are_distinct() {
        let all = [
            fp(None, None, &[]),
            fp(Some(b""), None, &[]),
            fp(None, Some(b""), &[]),
            fp(Some(b"ab"), Some(b"c"), &[]),
            fp(Some(b"a"), Some(b"bc"), &[]),
            fp(None, None, &[("h", None)]),
            fp(None, None, &[("h", Some(b""))]),
            fp(None, None, &[("a", Some(b"b")), ("c", None)]),
            fp(None, None, &[("c", None), ("a", Some(b"b"))]),
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "{i} vs {j}");
            }
        }
    }

    #[test]
    fn known_vector_is_stable() {
        // Pinned so the documented encoding cannot drift silently.
        let got = hex(&fp(Some(b"k"), Some(b"v"), &[("h", Some(b"x"))]));
        let mut h = Sha256::new();
        h.update(b"cutover-fp-v1");
        h.update([0u8]);
        h.update([1, 0, 0, 0, 1, b'k']);
        h.update([1, 0, 0, 0, 1, b'v']);
        h.update([0, 0, 0, 1, 0, 0, 0, 1, b'h', 1, 0, 0, 0, 1, b'x']);
        assert_eq!(got, hex(&h.finalize()));
    }

    #[test]
    fn timestamps_and_excluded_headers() {
        let headers: &[(&str, Option<&[u8]>)] = &[("_c3_origin", Some(b"dc1"))];
        let with_ts = FingerprintOptions {
            include_timestamp: true,
            ..Default::default()
        };
        let r1 = RecordView {
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp: Some((0, 1)),
        };
        let r2 = RecordView {
            timestamp: Some((0, 2)),
            ..r1
        };
        assert_eq!(
            fingerprint(&r1, &FingerprintOptions::default()),
            fingerprint(&r2, &FingerprintOptions::default())
        );
        assert_ne!(fingerprint(&r1, &with_ts), fingerprint(&r2, &with_ts));
        let excl = FingerprintOptions {
            exclude_headers: vec!["_c3_origin".into()],
            ..Default::default()
        };
        let r3 = RecordView { headers, ..r1 };
        assert_eq!(fingerprint(&r1, &excl), fingerprint(&r3, &excl));
        assert_ne!(
            fingerprint(&r1, &FingerprintOptions::default()),
            fingerprint(&r3, &FingerprintOptions::default())
        );
    }

    #[test]
    fn identities_round_trip() {
        let v = encode_identity(3, 42);
        let id = identity(&[(WORKLOAD_ID_HEADER, Some(&v))]);
        assert_ne!(id, 0);
        assert_eq!(identity(&[]), 0);
        assert_ne!(
            id,
            identity(&[(WORKLOAD_ID_HEADER, Some(&encode_identity(3, 43)))])
        );
    }
}
