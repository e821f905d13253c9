//! The deterministic record stream of one producer.

use crate::rng::{Rng, Zipf};
use crate::spec::{KeySpec, RecordSpec, SizeSpec};
use verify::fingerprint::{encode_identity, WORKLOAD_ID_HEADER};

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRecord {
    pub seq: u64,
    pub topic: usize,
    /// The partition it must be written to; `None` (every generated record): the producer's
    /// partitioner chooses from the topic's partition count in its metadata when the record is
    /// sent, like any Kafka producer (keyed: murmur2 of the key, as Java's default
    /// partitioner; unkeyed: spread over every partition), so records follow a topic that
    /// grows. Only the hanging transaction pins a partition.
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The workload id header first, then the extra headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// CreateTime in ms.
    pub timestamp_ms: i64,
    /// This record is to be sent twice (an upstream duplicate).
    pub resend: bool,
}

impl GeneratedRecord {
    /// Key + value + header bytes.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    /// The fingerprint the checker will compute for this record (timestamps excluded).
    pub fn fingerprint(&self) -> [u8; 32] {
        let headers: Vec<(&str, Option<&[u8]>)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_slice())))
            .collect();
        verify::fingerprint(
            &verify::RecordView {
                key: self.key.as_deref(),
                value: self.value.as_deref(),
                headers: &headers,
                timestamp: None,
            },
            &verify::FingerprintOptions::default(),
        )
    }
}

/// Generates the record stream of producer `producer` for a seed: the same seed, spec and
/// producer give the same records (keys, values, headers, timestamps, topics), whatever the
/// run. The partition is not part of the stream: the producer's partitioner picks it from the
/// partition count it knows when it sends (see [`GeneratedRecord::partition`]).
pub struct RecordGenerator {
    rng: Rng,
    producer: u16,
    seq: u64,
    topics: usize,
    spec: RecordSpec,
    zipf: Option<Zipf>,
    resend_ratio: f64,
}

impl RecordGenerator {
    pub fn new(
        seed: u64,
        producer: u16,
        topics: usize,
        spec: &RecordSpec,
        resend_ratio: f64,
    ) -> RecordGenerator {
        let zipf = match spec.keys {
            KeySpec::Zipf { count, exponent } => Some(Zipf::new(count, exponent)),
            _ => None,
        };
        RecordGenerator {
            rng: Rng::fork(seed, u64::from(producer)),
            producer,
            seq: 0,
            topics: topics.max(1),
            spec: spec.clone(),
            zipf,
            resend_ratio,
        }
    }

    fn size(&mut self, s: SizeSpec) -> usize {
        match s {
            SizeSpec::Fixed(n) => n as usize,
            SizeSpec::Range { min, max } => {
                (min + self.rng.below(u64::from(max - min) + 1) as u32) as usize
            }
        }
    }

    /// A deterministic decision with probability `p` (transaction aborts use it).
    pub fn decide(&mut self, p: f64) -> bool {
        self.rng.chance(p)
    }

    /// The next record; `now_ms` anchors its timestamp.
    pub fn next_record(&mut self, now_ms: i64) -> GeneratedRecord {
        let seq = self.seq;
        self.seq += 1;
        let key_id = match &self.spec.keys {
            KeySpec::None => None,
            KeySpec::Uniform { count } => Some(self.rng.below(*count)),
            KeySpec::Zipf { .. } => Some(self.zipf.as_ref().map_or(0, |z| z.sample(&mut self.rng))),
            KeySpec::Sequential => Some(seq),
        };
        let key = key_id.map(|id| {
            let len = self.size(self.spec.key_size);
            let text = format!("key-{id:012}");
            let mut k = text.into_bytes();
            k.resize(len.max(1), b'.');
            k.truncate(len);
            k
        });
        let topic = self.rng.below(self.topics as u64) as usize;
        let value = if self.rng.chance(self.spec.tombstone_ratio) {
            None
        } else {
            let len = self.size(self.spec.value_size);
            let mut v = vec![0u8; len];
            self.rng.fill(&mut v);
            Some(v)
        };
        let mut headers = vec![(
            WORKLOAD_ID_HEADER.to_string(),
            encode_identity(self.producer, seq).to_vec(),
        )];
        for i in 0..self.spec.headers {
            let mut v = vec![0u8; self.spec.header_value_size as usize];
            self.rng.fill(&mut v);
            headers.push((format!("h{i}"), v));
        }
        let ts = &self.spec.timestamps;
        let timestamp_ms = if self.rng.chance(ts.far_past_ratio) {
            now_ms - (ts.far_past_days * 86_400_000) as i64
        } else if self.rng.chance(ts.out_of_order_ratio) {
            now_ms - self.rng.below(ts.skew_ms.max(1)) as i64 - 1
        } else {
            now_ms
        };
        let resend = self.rng.chance(self.resend_ratio);
        GeneratedRecord {
            seq,
            topic,
            partition: None,
            key,
            value,
            headers,
            timestamp_ms,
            resend,
        }
    }
}
