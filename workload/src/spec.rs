//! [`WorkloadSpec`]: the traffic to generate, as scenario files hold it (TOML).

use std::collections::BTreeMap;
use std::path::Path;

use located::Located;

use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;

/// A whole workload. Every random choice comes from `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Makes the whole stream reproducible.
    #[serde(default)]
    pub seed: u64,
    /// Stop after this many seconds (with `records`, whichever comes first).
    #[serde(default)]
    pub duration_secs: Option<f64>,
    /// Stop after this many records in total (all producers).
    #[serde(default)]
    pub records: Option<u64>,
    /// The topics produced to (`[topics]`).
    pub topics: TopicsSpec,
    /// What each record looks like (`[record]`).
    #[serde(default)]
    pub record: RecordSpec,
    /// Producer groups; one plain idempotent producer when empty.
    #[serde(default, rename = "producer")]
    pub producers: Vec<ProducerSpec>,
    /// Values in the Confluent wire format, schemas in one of several registries per topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<crate::schema::SchemaSpec>,
}

/// Which topics, and how they are created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicsSpec {
    /// Explicit names; or `count` names from `pattern`.
    #[serde(default)]
    pub names: Vec<String>,
    /// How many topics named from `pattern` (default 1 when `names` is empty).
    #[serde(default)]
    pub count: Option<u32>,
    /// `{n}` is replaced by 0, 1, …
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// Partitions of each topic created.
    #[serde(default = "one_i32")]
    pub partitions: i32,
    /// Replication factor of each topic created (at most the cluster's brokers).
    #[serde(default = "one_i32")]
    pub replication_factor: i32,
    /// Topic configs (`cleanup.policy`, `retention.ms`, `max.message.bytes`, `compression.type`…).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Create the topics before producing (skip when they exist already).
    #[serde(default = "yes")]
    pub create: bool,
}

fn default_pattern() -> String {
    "cutover.{n}".into()
}
fn one_i32() -> i32 {
    1
}
fn yes() -> bool {
    true
}

impl TopicsSpec {
    /// The topic names this spec produces to.
    pub fn names(&self) -> Vec<String> {
        if !self.names.is_empty() {
            return self.names.clone();
        }
        (0..self.count.unwrap_or(1))
            .map(|n| self.pattern.replace("{n}", &n.to_string()))
            .collect()
    }
}

/// Key distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeySpec {
    /// Null keys.
    None,
    /// Uniform over `count` keys.
    Uniform {
        /// Distinct keys.
        count: u64,
    },
    /// Zipf over `count` keys (hot keys), exponent `s` (1.0 to 1.5 is typical).
    Zipf {
        /// Distinct keys.
        count: u64,
        /// The Zipf exponent `s` (1.0 to 1.5 is typical; higher: hotter keys).
        exponent: f64,
    },
    /// 0, 1, 2, … per producer.
    Sequential,
}

/// A size: fixed, or uniform in a range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SizeSpec {
    Fixed(u32),
    Range { min: u32, max: u32 },
}

impl SizeSpec {
    pub fn max(&self) -> u32 {
        match self {
            SizeSpec::Fixed(n) => *n,
            SizeSpec::Range { max, .. } => *max,
        }
    }
}

/// Timestamp shapes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimestampSpec {
    /// Fraction of records with a CreateTime up to `skew_ms` in the past (out of order).
    #[serde(default)]
    pub out_of_order_ratio: f64,
    /// How far in the past an out-of-order timestamp may be, in milliseconds.
    #[serde(default = "default_skew")]
    pub skew_ms: u64,
    /// Fraction of records stamped `far_past_days` ago.
    #[serde(default)]
    pub far_past_ratio: f64,
    /// How old a far-past timestamp is, in days (older than most retention: tests retention on the target).
    #[serde(default = "default_far_past")]
    pub far_past_days: u64,
}

fn default_skew() -> u64 {
    60_000
}
fn default_far_past() -> u64 {
    30
}

/// What each record looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// Key distribution (`kind` = `none`, `uniform`, `zipf`, `sequential`).
    #[serde(default = "default_keys")]
    pub keys: KeySpec,
    /// Key size in bytes: a number, or `{ min, max }` uniform.
    #[serde(default = "default_key_size")]
    pub key_size: SizeSpec,
    /// Value size in bytes: a number, or `{ min, max }` uniform.
    #[serde(default = "default_value_size")]
    pub value_size: SizeSpec,
    /// Extra headers besides the workload id.
    #[serde(default)]
    pub headers: u32,
    /// Size of each extra header's value, in bytes.
    #[serde(default = "default_header_size")]
    pub header_value_size: u32,
    /// Fraction of records with a null value (tombstones).
    #[serde(default)]
    pub tombstone_ratio: f64,
    /// Timestamp shapes (`[record.timestamps]`).
    #[serde(default)]
    pub timestamps: TimestampSpec,
}

fn default_keys() -> KeySpec {
    KeySpec::Uniform { count: 1000 }
}
fn default_key_size() -> SizeSpec {
    SizeSpec::Fixed(16)
}
fn default_value_size() -> SizeSpec {
    SizeSpec::Fixed(100)
}
fn default_header_size() -> u32 {
    8
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            keys: default_keys(),
            key_size: default_key_size(),
            value_size: default_value_size(),
            headers: 0,
            header_value_size: default_header_size(),
            tombstone_ratio: 0.0,
            timestamps: TimestampSpec::default(),
        }
    }
}

/// Target rate of one producer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    /// Records per second of this producer (unthrottled when neither rate is set).
    #[serde(default)]
    pub records_per_sec: Option<f64>,
    /// Megabytes (10^6 bytes) per second of this producer; with `records_per_sec`, the slower wins.
    #[serde(default)]
    pub mb_per_sec: Option<f64>,
}

/// Transactions of a producer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionSpec {
    /// Records in each transaction.
    #[serde(default = "default_txn_size")]
    pub records_per_txn: u32,
    /// Fraction of transactions aborted.
    #[serde(default)]
    pub abort_ratio: f64,
}

fn default_txn_size() -> u32 {
    10
}

/// How a hanging transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HangEnd {
    /// The producer aborts it.
    Abort,
    /// The producer goes silent; the broker aborts it at `transaction.timeout.ms`.
    Timeout,
    /// A new producer with the same transactional id fences it (and aborts it).
    Fence,
}

/// A transaction opened, written, then held open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HangingSpec {
    /// Seconds after start when it opens.
    #[serde(default)]
    pub after_secs: f64,
    /// Seconds it stays open.
    pub hold_secs: f64,
    /// Records written in the hanging transaction.
    #[serde(default = "default_hang_records")]
    pub records: u32,
    /// How it ends: `abort`, `timeout` (the broker aborts it) or `fence`.
    #[serde(default = "default_hang_end")]
    pub end: HangEnd,
}

fn default_hang_records() -> u32 {
    5
}
fn default_hang_end() -> HangEnd {
    HangEnd::Abort
}

/// One group of identical producers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerSpec {
    /// Identical producers in this group (each with its own seeded stream).
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Unthrottled when absent.
    /// Target rate (`{ records_per_sec = 500 }`).
    #[serde(default)]
    pub rate: Option<RateSpec>,
    /// Producer `acks`: `all`, `1` or `0`.
    #[serde(default = "default_acks")]
    pub acks: String,
    /// Idempotent producer (`enable.idempotence`); off to send upstream duplicates.
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// Fraction of records deliberately sent twice (needs `idempotent = false`): the
    /// "normal" duplicates of upstream apps without exactly-once.
    #[serde(default)]
    pub upstream_duplicate_ratio: f64,
    /// Transactional producers: records in transactions, some aborted (`[producer.transactions]`).
    #[serde(default)]
    pub transactions: Option<TransactionSpec>,
    /// One transaction held open mid-run (`[producer.hanging]`): tests the last stable offset.
    #[serde(default)]
    pub hanging: Option<HangingSpec>,
    /// librdkafka compression.codec (none, gzip, snappy, lz4, zstd).
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Extra librdkafka producer settings.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

fn one_u32() -> u32 {
    1
}
fn default_acks() -> String {
    "all".into()
}
fn default_compression() -> String {
    "none".into()
}

impl Default for ProducerSpec {
    fn default() -> Self {
        ProducerSpec {
            count: 1,
            rate: None,
            acks: default_acks(),
            idempotent: true,
            upstream_duplicate_ratio: 0.0,
            transactions: None,
            hanging: None,
            compression: default_compression(),
            config: BTreeMap::new(),
        }
    }
}

impl WorkloadSpec {
    /// Parses TOML; errors name the origin, line and field.
    pub fn from_toml(text: &str, origin: &str) -> Result<WorkloadSpec, WorkloadError> {
        Self::from_toml_with(text, origin, |_| {})
    }

    /// Parses TOML, applies `overrides` (command-line flags such as `--records`), then checks
    /// the result: a flag can supply what the file leaves out.
    pub fn from_toml_with(
        text: &str,
        origin: &str,
        overrides: impl FnOnce(&mut WorkloadSpec),
    ) -> Result<WorkloadSpec, WorkloadError> {
        let mut spec: WorkloadSpec = located::parse_toml(text, origin)?;
        overrides(&mut spec);
        spec.validate().map_err(|e| match e {
            WorkloadError::Spec(e) => Located::field(text, origin, &e.field, e.reason).into(),
            other => other,
        })?;
        Ok(spec)
    }

    pub fn from_file(path: &Path) -> Result<WorkloadSpec, WorkloadError> {
        Self::from_file_with(path, |_| {})
    }

    /// [`Self::from_toml_with`] on a file.
    pub fn from_file_with(
        path: &Path,
        overrides: impl FnOnce(&mut WorkloadSpec),
    ) -> Result<WorkloadSpec, WorkloadError> {
        let text = located::read(path)?;
        Self::from_toml_with(&text, &path.display().to_string(), overrides)
    }

    /// The producer groups, or the default single producer.
    pub fn producer_groups(&self) -> Vec<ProducerSpec> {
        if self.producers.is_empty() {
            vec![ProducerSpec::default()]
        } else {
            self.producers.clone()
        }
    }

    /// The transactional producers, by the producer id their records carry (the
    /// `cutover-id` header's producer, numbered over the groups' instances in order as
    /// `crate::runner` starts them), with their records per transaction: a record of
    /// sequence `s` belongs to their transaction `s / records_per_txn`.
    pub fn transaction_sizes(&self) -> std::collections::BTreeMap<u16, u64> {
        let mut out = std::collections::BTreeMap::new();
        let mut id: u16 = 0;
        for p in self.producer_groups() {
            for _ in 0..p.count {
                if let Some(t) = &p.transactions {
                    out.insert(id, u64::from(t.records_per_txn.max(1)));
                }
                id = id.wrapping_add(1);
            }
        }
        out
    }

    /// Checks everything that does not need a cluster; the field is named in the error.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |field: &str, reason: String| Err(Located::new("", field, reason).into());
        if let Some(schema) = &self.schema {
            if let Err((field, reason)) = schema.check() {
                return bad(&field, reason);
            }
        }
        if self.duration_secs.is_none() && self.records.is_none() {
            return bad(
                "records",
                "give `records` or `duration_secs` (or both) so the workload ends".into(),
            );
        }
        if let Some(d) = self.duration_secs {
            if !positive(d) {
                return bad(
                    "duration_secs",
                    format!("{d}: expected a positive number of seconds"),
                );
            }
        }
        let t = &self.topics;
        if t.partitions < 1 {
            return bad(
                "topics.partitions",
                format!("{}: a topic needs at least 1 partition", t.partitions),
            );
        }
        if t.replication_factor < 1 {
            return bad(
                "topics.replication_factor",
                format!("{}: expected at least 1", t.replication_factor),
            );
        }
        if t.names.is_empty() && t.count == Some(0) {
            return bad("topics.count", "0: expected at least one topic".into());
        }
        if t.names.is_empty() && t.count.unwrap_or(1) > 1 && !t.pattern.contains("{n}") {
            return bad(
                "topics.pattern",
                format!(
                    "`{}` has no {{n}}: every topic would get the same name",
                    t.pattern
                ),
            );
        }
        let r = &self.record;
        for (field, ratio) in [
            ("record.tombstone_ratio", r.tombstone_ratio),
            (
                "record.timestamps.out_of_order_ratio",
                r.timestamps.out_of_order_ratio,
            ),
            (
                "record.timestamps.far_past_ratio",
                r.timestamps.far_past_ratio,
            ),
        ] {
            if !(0.0..=1.0).contains(&ratio) {
                return bad(field, format!("{ratio}: a ratio is between 0 and 1"));
            }
        }
        match &r.keys {
            KeySpec::Uniform { count } | KeySpec::Zipf { count, .. } if *count == 0 => {
                return bad("record.keys.count", "0: expected at least one key".into())
            }
            KeySpec::Zipf { exponent, .. } if !positive(*exponent) => {
                return bad(
                    "record.keys.exponent",
                    format!("{exponent}: expected a positive exponent"),
                )
            }
            _ => {}
        }
        for (field, size) in [
            ("record.key_size", r.key_size),
            ("record.value_size", r.value_size),
        ] {
            if let SizeSpec::Range { min, max } = size {
                if min > max {
                    return bad(field, format!("min {min} > max {max}"));
                }
            }
        }
        let max_message = t
            .configs
            .get("max.message.bytes")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1_048_588);
        let largest = u64::from(r.key_size.max())
            + u64::from(r.value_size.max())
            + u64::from(r.headers) * (u64::from(r.header_value_size) + 8)
            + 64;
        if largest > max_message {
            return bad(
                "record.value_size",
                format!("records of up to {largest} bytes exceed max.message.bytes {max_message}"),
            );
        }
        for (i, p) in self.producer_groups().iter().enumerate() {
            let f = |name: &str| format!("producer[{i}].{name}");
            if p.count == 0 {
                return bad(&f("count"), "0: expected at least 1".into());
            }
            if !["all", "-1", "0", "1"].contains(&p.acks.as_str()) {
                return bad(&f("acks"), format!("`{}`: expected all, 0 or 1", p.acks));
            }
            if !(0.0..=1.0).contains(&p.upstream_duplicate_ratio) {
                return bad(
                    &f("upstream_duplicate_ratio"),
                    format!("{}: a ratio is between 0 and 1", p.upstream_duplicate_ratio),
                );
            }
            if p.upstream_duplicate_ratio > 0.0 && (p.idempotent || p.transactions.is_some()) {
                return bad(
                    &f("upstream_duplicate_ratio"),
                    "upstream duplicates come from producers without exactly-once: set idempotent = false and no transactions".into(),
                );
            }
            if let Some(tx) = &p.transactions {
                if !(0.0..=1.0).contains(&tx.abort_ratio) {
                    return bad(
                        &f("transactions.abort_ratio"),
                        format!("{}: a ratio is between 0 and 1", tx.abort_ratio),
                    );
                }
                if tx.records_per_txn == 0 {
                    return bad(
                        &f("transactions.records_per_txn"),
                        "0: expected at least 1".into(),
                    );
                }
            }
            if let Some(rate) = &p.rate {
                for (name, v) in [
                    ("rate.records_per_sec", rate.records_per_sec),
                    ("rate.mb_per_sec", rate.mb_per_sec),
                ] {
                    if let Some(v) = v {
                        if !positive(v) {
                            return bad(
                                &f(name),
                                format!(
                                    "{v}: expected a positive rate (omit `rate` for unthrottled)"
                                ),
                            );
                        }
                    }
                }
            }
            if let Some(h) = &p.hanging {
                if !positive(h.hold_secs) {
                    return bad(
                        &f("hanging.hold_secs"),
                        format!("{}: expected a positive duration", h.hold_secs),
                    );
                }
            }
            if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&p.compression.as_str()) {
                return bad(
                    &f("compression"),
                    format!(
                        "`{}`: expected none, gzip, snappy, lz4 or zstd",
                        p.compression
                    ),
                );
            }
        }
        Ok(())
    }
}

/// True for a positive number (false for NaN).
fn positive(x: f64) -> bool {
    x > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_supplies_the_stop_condition_the_file_leaves_out() {
        let text = "[topics]\nnames = [\"t\"]\n";
        let err = WorkloadSpec::from_toml(text, "w.toml").unwrap_err();
        assert!(
            err.to_string()
                .contains("give `records` or `duration_secs`"),
            "{err}"
        );
        let spec = WorkloadSpec::from_toml_with(text, "w.toml", |s| s.records = Some(10)).unwrap();
        assert_eq!(spec.records, Some(10));
    }
}
