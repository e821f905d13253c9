//! `replicator.toml`: what to copy, how, and the two clusters' client properties verbatim.
//!
//! ```toml
//! [replication]
//! mode = "exactly-once"          # or "at-least-once"
//! group_id = "cutover-replicator"
//! include = ["orders\\..*"]      # anchored regexes over source topic names
//! exclude = []
//! rename = { prefix = "", suffix = "", map = {} }
//!
//! [tuning]
//! commit_interval_ms = 200
//!
//! [source]                       # Java client properties, pasted as they are
//! bootstrap.servers = "onprem:9092"
//!
//! [target]
//! "bootstrap.servers" = "cloud:9092"
//! ```
//!
//! Keys in `[source]`/`[target]` may be dotted (TOML then nests them) or quoted; both mean the
//! same Java property. Unknown keys and keys that contradict the mode are rejected with the
//! file, line and key named.

use std::collections::BTreeMap;
use std::path::Path;

use harness::ClientProps;
use located::Located;
use regex::Regex;
use serde::Deserialize;

use crate::error::{ReplicatorError, Result};

/// The delivery guarantee the replicator gives.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// read_committed source, transactional target writes with the positions in the same
    /// transaction; resumes from the target's checkpoints.
    #[default]
    ExactlyOnce,
    /// Idempotent producer, source offsets committed to the source group after delivery.
    AtLeastOnce,
}

/// Where a partition without a checkpoint (or committed offset) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// The partition's first record.
    #[default]
    Earliest,
    /// Records written after the replicator started.
    Latest,
}

/// How source topic names map to target names: the checker's type, so what the replicator
/// writes and what the checker expects cannot drift apart.
pub use verdict::Rename;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `[replication]`: what is copied, how, and where the replicator keeps its state.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawReplication {
    /// `exactly-once` or `at-least-once`.
    #[serde(default)]
    mode: Mode,
    /// The consumer group of the instances (at-least-once commits go there; exactly-once
    /// names its slot group and transactional ids after it). Required, not empty.
    group_id: String,
    /// Source topics to copy: one regex or a list, each matching whole names. Default: every
    /// topic but internal ones.
    include: Option<OneOrMany>,
    /// Source topics left out (regexes matching whole names; they win over `include`).
    /// Default: none.
    exclude: Option<OneOrMany>,
    /// How target topics are named (`prefix`, `suffix`, `map`). Default: the same names.
    #[serde(default)]
    rename: Rename,
    /// Where a partition without a checkpoint starts: `earliest` or `latest`.
    #[serde(default)]
    start: Start,
    /// Compacted target topic of the exactly-once checkpoints. Default
    /// `cutover-checkpoints.internal`.
    checkpoint_topic: Option<String>,
    /// Compacted target topic of the offset syncs (consumer-group cutover). Default
    /// `cutover-offset-syncs.internal`.
    offset_syncs_topic: Option<String>,
    /// How often new source topics and partitions are looked for, in milliseconds. Default
    /// 30000.
    topic_refresh_interval_ms: Option<u64>,
    /// Source consumer groups whose committed offsets are translated to the target all along
    /// (regexes matching whole names), as `cutover offsets sync` does at cutover: every
    /// `sync_groups_interval_ms`, each such group not active on the target gets there the
    /// position of its source offsets, so its consumers can fail over to the target (at most
    /// one interval behind) when the source is lost. MirrorMaker 2's
    /// `sync.group.offsets.enabled` with `groups`. Default: none.
    sync_groups: Option<OneOrMany>,
    /// How often `sync_groups` runs, in milliseconds. Default 10000.
    sync_groups_interval_ms: Option<u64>,
    /// Lets `isolation.level = read_uncommitted` stand in exactly-once mode (it would copy
    /// aborted records).
    #[serde(default)]
    allow_read_uncommitted: bool,
    /// Copy source topic configs to the target topics it creates (minus `config_exclude`).
    #[serde(default = "yes")]
    sync_topic_configs: bool,
    /// More topic configs never copied (regexes), beside the built-in list (timestamp bounds,
    /// throttles, `min.insync.replicas`, ...). Default: none.
    #[serde(default)]
    config_exclude: Vec<String>,
    /// Replication factor of target topics it creates; -1 for the target's default. Default:
    /// the source topic's, at most the target's broker count.
    target_replication_factor: Option<i32>,
    /// Exactly-once: transactional producers (slots) shared by all instances, 1 to 256.
    /// Default 4.
    producers: Option<u32>,
    /// Compacted target topic of the slot group's assignments. Default
    /// `cutover-slots.<group_id>.internal`.
    slots_topic: Option<String>,
}

fn yes() -> bool {
    true
}

/// Throughput knobs. Every one maps to one client setting or one replicator behaviour; the
/// README's table says which and what the defaults were measured with.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// A transaction (exactly-once) or an offset commit (at-least-once) at least this often.
    pub commit_interval_ms: u64,
    /// ... or as soon as this many records are in it.
    pub max_records_per_commit: usize,
    /// ... or this many bytes.
    pub max_bytes_per_commit: usize,
    /// Producer `linger.ms`.
    pub linger_ms: u64,
    /// Producer `batch.size` (bytes).
    pub batch_size: usize,
    /// Producer `compression.type`: none, gzip, snappy, lz4, zstd.
    pub compression: String,
    /// Producer `max.in.flight.requests.per.connection` (≤ 5 with idempotence).
    pub max_in_flight: u32,
    /// Consumer `fetch.max.bytes`.
    pub fetch_max_bytes: usize,
    /// Consumer `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: usize,
    /// Consumer `fetch.min.bytes`.
    pub fetch_min_bytes: usize,
    /// `socket.send.buffer.bytes` on both clients (0 = the OS default). The seed migration
    /// shrank TCP buffers to keep poll loops short over the WAN.
    pub socket_send_buffer_bytes: usize,
    /// `socket.receive.buffer.bytes` on both clients (0 = the OS default).
    pub socket_receive_buffer_bytes: usize,
    /// Records queued between the poll loop and one producer slot's writer.
    pub partition_queue_records: usize,
    /// Producer `transaction.timeout.ms`: how long a stalled instance's open transaction may
    /// hold the target's last stable offset before the broker aborts it.
    pub transaction_timeout_ms: u64,
    /// How long a partition's new owner waits for its producer to fence the previous one.
    pub init_timeout_ms: u64,
    /// The offset mapping (for `offsets sync`) is recorded at least this often per partition.
    pub offset_sync_interval_ms: u64,
    /// A slot this instance owns whose writer keeps failing to start, or whose running writer
    /// makes nothing safe for this long while it has records to copy, makes the instance exit
    /// non-zero (so a supervisor restarts it) instead of stalling.
    pub stalled_exit_secs: u64,
}

impl Tuning {
    /// Sets the socket buffer sizes on a client (both the consumer and the producers).
    pub fn apply_socket_buffers(&self, c: &mut rdkafka::ClientConfig) {
        if self.socket_send_buffer_bytes > 0 {
            c.set(
                "socket.send.buffer.bytes",
                self.socket_send_buffer_bytes.to_string(),
            );
        }
        if self.socket_receive_buffer_bytes > 0 {
            c.set(
                "socket.receive.buffer.bytes",
                self.socket_receive_buffer_bytes.to_string(),
            );
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            commit_interval_ms: 200,
            max_records_per_commit: 50_000,
            max_bytes_per_commit: 32 << 20,
            linger_ms: 5,
            batch_size: 1_000_000,
            compression: "none".into(),
            max_in_flight: 5,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            fetch_min_bytes: 1,
            socket_send_buffer_bytes: 0,
            socket_receive_buffer_bytes: 0,
            partition_queue_records: 20_000,
            transaction_timeout_ms: 30_000,
            init_timeout_ms: 60_000,
            offset_sync_interval_ms: 1_000,
            stalled_exit_secs: 180,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    replication: RawReplication,
    /// Throughput knobs (`[tuning]`); every key has a default.
    #[serde(default)]
    tuning: Tuning,
    /// The source cluster's client properties, Java names, dotted or quoted
    /// (`bootstrap.servers = "host:9092"`, `"sasl.jaas.config" = "..."`); `bootstrap.servers`
    /// is required.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    source: toml::Table,
    /// The target cluster's client properties, as `[source]`.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    target: toml::Table,
    /// Schema registries to copy and translate ids for (`crate::schemas`).
    schemas: Option<crate::schemas::RawSchemas>,
}

/// A validated replicator configuration.
#[derive(Debug, Clone)]
pub struct ReplicatorConfig {
    pub mode: Mode,
    pub group_id: String,
    pub include: Vec<Regex>,
    pub exclude: Vec<Regex>,
    pub rename: Rename,
    pub start: Start,
    /// Compacted topic on the target holding each source partition's next offset.
    pub checkpoint_topic: String,
    /// Topic on the target holding (source offset, target offset) pairs for `offsets sync`.
    pub offset_syncs_topic: String,
    pub topic_refresh_interval_ms: u64,
    /// Source groups translated to the target all along (one anchored alternation), and how
    /// often (`[replication] sync_groups`).
    pub sync_groups: Option<Regex>,
    pub sync_groups_interval_ms: u64,
    pub sync_topic_configs: bool,
    /// Topic configs never copied (regexes), MirrorMaker 2's defaults plus the user's.
    pub config_exclude: Vec<Regex>,
    pub target_replication_factor: Option<i32>,
    /// Transactional producers of the whole replication ("slots"): every source partition
    /// belongs to one slot (a stable hash), every slot has one fixed transactional id, and the
    /// instances share the slots through a consumer group on the target. An instance runs at
    /// most this many producers, whatever the number of partitions.
    pub producers: u32,
    /// Target topic with one partition per slot; the target group's assignment of its
    /// partitions says which instance owns which slot.
    pub slots_topic: String,
    pub tuning: Tuning,
    pub source: ClientProps,
    pub target: ClientProps,
    /// Schema registries (`[schemas]`): copied before the records, ids translated per record.
    pub schemas: Option<std::sync::Arc<crate::schemas::Schemas>>,
}

/// Topic configs MirrorMaker 2 never copies (`DefaultConfigPropertyFilter`), plus the
/// timestamp bounds added since: copying them would break the copy (LogAppendTime rewrites the
/// preserved timestamps) or tie the target to the source's broker layout.
pub const CONFIG_EXCLUDE_DEFAULT: &[&str] = &[
    r"follower\.replication\.throttled\.replicas",
    r"leader\.replication\.throttled\.replicas",
    r"message\.timestamp\.difference\.max\.ms",
    r"message\.timestamp\.before\.max\.ms",
    r"message\.timestamp\.after\.max\.ms",
    r"message\.timestamp\.type",
    r"unclean\.leader\.election\.enable",
    r"min\.insync\.replicas",
];

/// The JSON Schema of a replicator config file (`replicator.toml`), from the structs it is
/// read into (`docs/schema/replicator.json`).
pub fn file_schema() -> schemars::Schema {
    schemars::schema_for!(RawConfig)
}

impl ReplicatorConfig {
    pub fn from_file(path: &Path) -> Result<ReplicatorConfig> {
        let text = located::read(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates; errors name the origin, line and key.
    pub fn from_toml(text: &str, origin: &str) -> Result<ReplicatorConfig> {
        let err = |field: &str, reason: String| {
            ReplicatorError::from(Located::field(text, origin, field, reason))
        };
        let raw: RawConfig = located::parse_toml(text, origin)?;
        let r = raw.replication;
        if r.group_id.trim().is_empty() {
            return Err(err("replication.group_id", "must not be empty".into()));
        }
        let compile = |field: &str, patterns: Vec<String>| -> Result<Vec<Regex>> {
            patterns
                .into_iter()
                .map(|p| {
                    Regex::new(&format!("^(?:{p})$"))
                        .map_err(|e| err(field, format!("`{p}` is not a valid regex: {e}")))
                })
                .collect()
        };
        let include = compile(
            "replication.include",
            r.include
                .map_or_else(|| vec![".*".into()], OneOrMany::into_vec),
        )?;
        let exclude = compile(
            "replication.exclude",
            r.exclude.map_or_else(Vec::new, OneOrMany::into_vec),
        )?;
        let sync_groups = match r.sync_groups.map(OneOrMany::into_vec) {
            Some(v) if !v.is_empty() => {
                // Each checked on its own (the error names it), then one alternation.
                compile("replication.sync_groups", v.clone())?;
                let joined = v
                    .iter()
                    .map(|p| format!("(?:{p})"))
                    .collect::<Vec<_>>()
                    .join("|");
                Some(
                    Regex::new(&format!("^(?:{joined})$"))
                        .map_err(|e| err("replication.sync_groups", e.to_string()))?,
                )
            }
            _ => None,
        };
        if r.sync_groups_interval_ms == Some(0) {
            return Err(err(
                "replication.sync_groups_interval_ms",
                "expected a positive number of milliseconds".into(),
            ));
        }
        let mut deny: Vec<String> = CONFIG_EXCLUDE_DEFAULT
            .iter()
            .map(|s| s.to_string())
            .collect();
        deny.extend(r.config_exclude);
        let config_exclude = compile("replication.config_exclude", deny)?;
        let t = &raw.tuning;
        let tuning_checks: [(&str, bool, &str); 6] = [
            (
                "commit_interval_ms",
                t.commit_interval_ms > 0,
                "a positive number of milliseconds",
            ),
            (
                "max_records_per_commit",
                t.max_records_per_commit > 0,
                "at least 1",
            ),
            (
                "max_in_flight",
                (1..=5).contains(&t.max_in_flight),
                "1 to 5 (idempotence allows at most 5)",
            ),
            (
                "partition_queue_records",
                t.partition_queue_records > 0,
                "at least 1",
            ),
            (
                "transaction_timeout_ms",
                t.transaction_timeout_ms >= 1000,
                "at least 1000",
            ),
            (
                "compression",
                ["none", "gzip", "snappy", "lz4", "zstd"].contains(&t.compression.as_str()),
                "one of none, gzip, snappy, lz4, zstd",
            ),
        ];
        for (field, ok, expected) in tuning_checks {
            if !ok {
                return Err(err(
                    &format!("tuning.{field}"),
                    format!("expected {expected}"),
                ));
            }
        }
        if let Some(n) = r.producers {
            if !(1..=MAX_PRODUCERS).contains(&n) {
                return Err(err(
                    "replication.producers",
                    format!("expected 1 to {MAX_PRODUCERS} (transactional producers shared by all instances)"),
                ));
            }
        }
        if let Some(rf) = r.target_replication_factor {
            if rf < 1 && rf != -1 {
                return Err(err(
                    "replication.target_replication_factor",
                    "expected a positive number, or -1 for the target's default".into(),
                ));
            }
        }
        let source = client_section(text, origin, "source", &raw.source)?;
        let target = client_section(text, origin, "target", &raw.target)?;
        let schemas = match &raw.schemas {
            Some(section) => Some(std::sync::Arc::new(
                crate::schemas::Schemas::from_raw(section)
                    .map_err(|(field, reason)| err(&field, reason))?,
            )),
            None => None,
        };
        let group_id = r.group_id.clone();
        let config = ReplicatorConfig {
            mode: r.mode,
            group_id: r.group_id,
            include,
            exclude,
            rename: r.rename,
            start: r.start,
            checkpoint_topic: r
                .checkpoint_topic
                .unwrap_or_else(|| "cutover-checkpoints.internal".into()),
            offset_syncs_topic: r
                .offset_syncs_topic
                .unwrap_or_else(|| "cutover-offset-syncs.internal".into()),
            topic_refresh_interval_ms: r.topic_refresh_interval_ms.unwrap_or(30_000),
            sync_groups,
            sync_groups_interval_ms: r.sync_groups_interval_ms.unwrap_or(10_000),
            producers: r.producers.unwrap_or(DEFAULT_PRODUCERS),
            slots_topic: r
                .slots_topic
                .clone()
                .unwrap_or_else(|| default_slots_topic(&group_id)),
            sync_topic_configs: r.sync_topic_configs,
            config_exclude,
            target_replication_factor: r.target_replication_factor,
            tuning: raw.tuning,
            source,
            target,
            schemas,
        };
        config.check_conflicts(text, origin, r.allow_read_uncommitted)?;
        Ok(config)
    }

    /// Keys that contradict the mode, or that the replicator must own.
    fn check_conflicts(&self, text: &str, origin: &str, allow_uncommitted: bool) -> Result<()> {
        let err = |section: &str, key: &str, reason: String| {
            ReplicatorError::from(Located::field(
                text,
                origin,
                &format!("{section}.{key}"),
                reason,
            ))
        };
        if self.source.bootstrap_servers().is_none() {
            return Err(err("source", "bootstrap.servers", "is required".into()));
        }
        if self.target.bootstrap_servers().is_none() {
            return Err(err("target", "bootstrap.servers", "is required".into()));
        }
        if let Some(level) = self.source.get("isolation.level") {
            if level == "read_uncommitted" && self.mode == Mode::ExactlyOnce && !allow_uncommitted {
                return Err(err(
                    "source",
                    "isolation.level",
                    "read_uncommitted would copy aborted transactions into the target; exactly-once \
                     reads read_committed (set replication.allow_read_uncommitted = true to insist)"
                        .into(),
                ));
            }
        }
        if self.source.get("enable.auto.commit") == Some("true") {
            return Err(err(
                "source",
                "enable.auto.commit",
                "the replicator commits positions itself, after the records are safe on the target"
                    .into(),
            ));
        }
        if let Some(g) = self.source.get("group.id") {
            if g != self.group_id {
                return Err(err(
                    "source",
                    "group.id",
                    format!(
                        "conflicts with replication.group_id = \"{}\"; set it once, there",
                        self.group_id
                    ),
                ));
            }
        }
        if let Some(s) = self.source.get("partition.assignment.strategy") {
            if s.to_ascii_lowercase().contains("cooperative") {
                return Err(err(
                    "source",
                    "partition.assignment.strategy",
                    "the replicator hands partitions over with eager rebalances (range, roundrobin)".into(),
                ));
            }
        }
        if self.target.get("transactional.id").is_some() {
            return Err(err(
                "target",
                "transactional.id",
                "the replicator sets one per producer slot (that is how it fences zombies)".into(),
            ));
        }
        if self.target.get("enable.idempotence") == Some("false") {
            return Err(err(
                "target",
                "enable.idempotence",
                "both modes need the idempotent producer (no duplicates from producer retries)"
                    .into(),
            ));
        }
        if let Some(acks) = self.target.get("acks") {
            if acks != "all" && acks != "-1" {
                return Err(err(
                    "target",
                    "acks",
                    "must be all (-1): idempotence needs it".into(),
                ));
            }
        }
        Ok(())
    }

    /// True when the replicator copies this source topic.
    pub fn selects(&self, topic: &str) -> bool {
        !is_internal_topic(topic)
            && topic != self.checkpoint_topic
            && topic != self.offset_syncs_topic
            && topic != self.slots_topic
            && self.include.iter().any(|r| r.is_match(topic))
            && !self.exclude.iter().any(|r| r.is_match(topic))
    }

    /// True when a source topic config must not be copied to the target.
    pub fn config_excluded(&self, key: &str) -> bool {
        self.config_exclude.iter().any(|r| r.is_match(key))
    }

    /// The transactional id of slot `slot`: the replication group, the source cluster's
    /// identity, the slot and the slot count, JSON-encoded after a fixed prefix, so no two
    /// (group, source, slot, count) share an id whatever characters the names hold.
    pub fn transactional_id(&self, source_id: &str, slot: u32) -> String {
        let tail = serde_json::to_string(&(&self.group_id, source_id, slot, self.producers))
            .unwrap_or_default();
        format!("cutover-{tail}")
    }

    /// The consumer group on the target whose members share the slots (one per replication
    /// group and source cluster).
    pub fn slots_group(&self, source_id: &str) -> String {
        format!("{}.slots.{source_id}", self.group_id)
    }
}

/// Default `replication.producers`: four producers fit a 2-core machine with room for the
/// consumer, and let up to four instances share the work.
pub const DEFAULT_PRODUCERS: u32 = 4;
/// Upper bound of `replication.producers`.
pub const MAX_PRODUCERS: u32 = 256;

fn default_slots_topic(group: &str) -> String {
    let clean: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(180)
        .collect();
    format!("cutover-slots.{clean}.internal")
}

/// The slot a source partition belongs to: partitions of one topic go round the slots from a
/// stable hash of the topic name (FNV-1a, fixed here so every instance and version agrees).
pub fn slot_of(topic: &str, partition: i32, slots: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let slots = u64::from(slots.max(1));
    ((h % slots + partition.max(0) as u64 % slots) % slots) as u32
}

/// Topics no replicator copies: Kafka's own (`__consumer_offsets`, `__transaction_state`),
/// and the `*.internal` / `*-internal` topics of MirrorMaker 2, Connect and cutover.
pub fn is_internal_topic(topic: &str) -> bool {
    topic.starts_with("__")
        || topic.ends_with(".internal")
        || topic.ends_with("-internal")
        || topic.ends_with(".replica")
}

/// Flattens a `[source]`/`[target]` table (dotted keys nest in TOML) into Java properties,
/// checking each key.
fn client_section(
    text: &str,
    origin: &str,
    section: &str,
    table: &toml::Table,
) -> Result<ClientProps> {
    let mut flat = Vec::new();
    flatten("", table, &mut flat);
    let mut props = ClientProps::new();
    for (key, value) in flat {
        let err = |reason: String| {
            ReplicatorError::from(Located::field(
                text,
                origin,
                &format!("{section}.{key}"),
                reason,
            ))
        };
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                return Err(err(format!(
                    "expected a string, number or boolean, found {}",
                    other.type_str()
                )))
            }
        };
        harness::client_props::check_key(&key).map_err(err)?;
        props.set(key, value);
    }
    Ok(props)
}

fn flatten<'a>(prefix: &str, table: &'a toml::Table, out: &mut Vec<(String, &'a toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[replication]
group_id = "g1"
include = ["orders.*", "payments"]
exclude = "orders-tmp"

[source]
bootstrap.servers = "127.0.0.1:9092"
"client.id" = "rep"

[target]
"bootstrap.servers" = "127.0.0.1:9093"
compression.type = "lz4"
"#;

    #[test]
    fn parses_dotted_and_quoted_properties_and_selection() {
        let c = ReplicatorConfig::from_toml(MINIMAL, "r.toml").unwrap();
        assert_eq!(c.mode, Mode::ExactlyOnce);
        assert_eq!(c.source.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(c.source.get("client.id"), Some("rep"));
        assert_eq!(c.target.get("compression.type"), Some("lz4"));
        assert!(c.selects("orders-eu"));
        assert!(c.selects("payments"));
        assert!(!c.selects("payments2"), "include is anchored");
        assert!(!c.selects("orders-tmp"), "exclude wins");
        assert!(!c.selects("__consumer_offsets"));
        assert!(!c.selects("cutover-checkpoints.internal"));
    }

    #[test]
    fn read_uncommitted_in_exactly_once_needs_an_override() {
        let text = MINIMAL.replace(
            "\"client.id\" = \"rep\"",
            "isolation.level = \"read_uncommitted\"",
        );
        let e = ReplicatorConfig::from_toml(&text, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("r.toml:9: field `source.isolation.level`"),
            "{e}"
        );
        let text = text.replace(
            "group_id = \"g1\"",
            "group_id = \"g1\"\nallow_read_uncommitted = true",
        );
        assert!(ReplicatorConfig::from_toml(&text, "r.toml").is_ok());
    }

    #[test]
    fn unknown_and_conflicting_keys_are_named() {
        let text = MINIMAL.replace("\"client.id\" = \"rep\"", "bootstrap.server = \"x\"");
        let e = ReplicatorConfig::from_toml(&text, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`source.bootstrap.server`"), "{e}");
        assert!(
            e.contains("bootstrap.servers"),
            "suggests the near key: {e}"
        );
        let text = MINIMAL.replace("compression.type = \"lz4\"", "transactional.id = \"t\"");
        let e = ReplicatorConfig::from_toml(&text, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":13: field `target.transactional.id`"), "{e}");
        let text = MINIMAL.replace(
            "group_id = \"g1\"",
            "group_id = \"g1\"\nmdoe = \"at-least-once\"",
        );
        let e = ReplicatorConfig::from_toml(&text, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.toml:4") && e.contains("mdoe"), "{e}");
        let text = MINIMAL.replace("exclude = \"orders-tmp\"", "exclude = \"(\"");
        let e = ReplicatorConfig::from_toml(&text, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.toml:5: field `replication.exclude`"), "{e}");
    }

    #[test]
    fn slots_are_bounded_stable_and_unambiguous() {
        let c = ReplicatorConfig::from_toml(MINIMAL, "r.toml").unwrap();
        assert_eq!(c.producers, DEFAULT_PRODUCERS);
        // Partitions of one topic go round the slots; every slot is used.
        let slots: std::collections::BTreeSet<u32> =
            (0..8).map(|p| slot_of("orders-eu", p, 4)).collect();
        assert_eq!(slots.len(), 4);
        assert_eq!(slot_of("orders-eu", 5, 4), slot_of("orders-eu", 5, 4));
        assert!((0..1000).all(|p| slot_of("t", p, 7) < 7));
        // Ids: '-' in names, and two source clusters, never collide.
        let mut other = c.clone();
        other.group_id = "g1-x".into();
        assert_ne!(c.transactional_id("x-A", 0), other.transactional_id("A", 0));
        assert_ne!(c.transactional_id("A", 1), c.transactional_id("B", 1));
        assert!(c.transactional_id("A", 1).starts_with("cutover-"));
        assert!(c.slots_topic.starts_with("cutover-slots.") && !c.selects(&c.slots_topic));
        let text = MINIMAL.replace("group_id = \"g1\"", "group_id = \"g1\"\nproducers = 0");
        let e = ReplicatorConfig::from_toml(&text, "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.toml:4: field `replication.producers`"), "{e}");
    }

    #[test]
    fn rename_map_wins_over_prefix() {
        let r = Rename {
            prefix: "dc1.".into(),
            suffix: String::new(),
            map: [("a".to_string(), "z".to_string())].into_iter().collect(),
        };
        assert_eq!(r.target_of("a"), "z");
        assert_eq!(r.target_of("b"), "dc1.b");
    }
}
