//! The rule registry and the checks shared by every tool. Each rule's *why* and source is in
//! `docs/lint-rules.md` (a test keeps the two in step).

mod builtin;
mod confluent;
mod connect;
mod mm2;
pub mod mm2_version;

use regex::Regex;
use reports::redact::{is_secret_key, redact_text, REDACTED};

use crate::input::{ConfigFile, Content};
use crate::{FileReport, Finding, Link, Options, Severity, Tool};

/// A rule: stable id, default severity, the tools it applies to and a one-line title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub tools: &'static [Tool],
    pub title: &'static str,
}

/// The replication tools that read the source and write the target themselves.
const COPIERS: &[Tool] = &[Tool::Builtin, Tool::MirrorMaker2, Tool::ConfluentReplicator];
const CONNECT: &[Tool] = &[
    Tool::MirrorMaker2,
    Tool::ConfluentReplicator,
    Tool::Connector,
];

pub const REP001: Rule = Rule {
    id: "REP001",
    severity: Severity::Error,
    tools: &[Tool::ConfluentReplicator],
    title: "Replicator's source consumer is not read_committed",
};
pub const REP002: Rule = Rule {
    id: "REP002",
    severity: Severity::Error,
    tools: &[Tool::ConfluentReplicator],
    title: "Replicator's producer is not idempotent",
};
pub const REP003: Rule = Rule {
    id: "REP003",
    severity: Severity::Error,
    tools: &[Tool::ConfluentReplicator],
    title: "Replicator's producer does not wait for acks=all",
};
pub const REP004: Rule = Rule {
    id: "REP004",
    severity: Severity::Error,
    tools: &[Tool::ConfluentReplicator],
    title: "topic.rename.format sends every topic into one target topic",
};
pub const MM2001: Rule = Rule {
    id: "MM2001",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2],
    title: "exactly-once required but not enabled on the target cluster",
};
pub const MM2002: Rule = Rule {
    id: "MM2002",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2],
    title: "exactly-once without dedicated.mode.enable.internal.rest",
};
pub const MM2003: Rule = Rule {
    id: "MM2003",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2],
    title: "MirrorMaker 2's source consumer is not read_committed",
};
pub const MM2004: Rule = Rule {
    id: "MM2004",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2, Tool::Connector],
    title: "consumer groups migrated without sync.group.offsets.enabled",
};
pub const MM2005: Rule = Rule {
    id: "MM2005",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2],
    title: "replication policy makes consumer offsets untranslatable",
};
pub const MMV001: Rule = Rule {
    id: "MMV001",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2],
    title: "offset translation can skip records or go negative (KAFKA-12468, fixed 3.4.1/3.5.0)",
};
pub const MMV002: Rule = Rule {
    id: "MMV002",
    severity: Severity::Warning,
    tools: &[Tool::MirrorMaker2],
    title: "offsets behind the replication flow are not translated (KAFKA-14666, KAFKA-15905, fixed 3.7.1/3.8.0)",
};
pub const MMV003: Rule = Rule {
    id: "MMV003",
    severity: Severity::Warning,
    tools: &[Tool::MirrorMaker2],
    title: "no offset syncs for idle or bursty partitions (KAFKA-15906, fixed 3.7.0)",
};
pub const MMV004: Rule = Rule {
    id: "MMV004",
    severity: Severity::Error,
    tools: &[Tool::MirrorMaker2],
    title: "exactly-once unavailable in dedicated mode before 3.5.0 (KAFKA-14021, KAFKA-10586)",
};
pub const BLT001: Rule = Rule {
    id: "BLT001",
    severity: Severity::Error,
    tools: &[Tool::Builtin],
    title: "built-in replicator in at-least-once mode",
};
pub const BLT002: Rule = Rule {
    id: "BLT002",
    severity: Severity::Error,
    tools: &[Tool::Builtin],
    title: "rename map merges two source topics into one target topic",
};
pub const CON001: Rule = Rule {
    id: "CON001",
    severity: Severity::Error,
    tools: &[Tool::Connector],
    title: "MirrorSourceConnector's source consumer is not read_committed",
};
pub const CON002: Rule = Rule {
    id: "CON002",
    severity: Severity::Error,
    tools: &[Tool::ConnectWorker, Tool::Connector],
    title: "a Connect source producer is not idempotent",
};
pub const CON003: Rule = Rule {
    id: "CON003",
    severity: Severity::Error,
    tools: &[Tool::ConnectWorker],
    title: "exactly-once source support off, or not on every worker",
};
pub const CON004: Rule = Rule {
    id: "CON004",
    severity: Severity::Warning,
    tools: &[Tool::ConnectWorker],
    title: "rebalance settings let a latency spike stop or move tasks",
};
pub const ISO001: Rule = Rule {
    id: "ISO001",
    severity: Severity::Error,
    tools: &[
        Tool::Builtin,
        Tool::MirrorMaker2,
        Tool::ConfluentReplicator,
        Tool::Connector,
    ],
    title: "a source consumer reads read_uncommitted",
};
pub const TOP001: Rule = Rule {
    id: "TOP001",
    severity: Severity::Error,
    tools: COPIERS,
    title: "topic filter matches internal topics",
};
pub const TSK001: Rule = Rule {
    id: "TSK001",
    severity: Severity::Warning,
    tools: CONNECT,
    title: "tasks.max above the partition count",
};
pub const NET001: Rule = Rule {
    id: "NET001",
    severity: Severity::Warning,
    tools: &[
        Tool::Builtin,
        Tool::MirrorMaker2,
        Tool::ConfluentReplicator,
        Tool::ConnectWorker,
        Tool::Connector,
    ],
    title: "socket buffer smaller than the link's bandwidth-delay product",
};
pub const NET002: Rule = Rule {
    id: "NET002",
    severity: Severity::Warning,
    tools: &[
        Tool::Builtin,
        Tool::MirrorMaker2,
        Tool::ConfluentReplicator,
        Tool::ConnectWorker,
    ],
    title: "group session timeout too short for the link",
};
pub const NET003: Rule = Rule {
    id: "NET003",
    severity: Severity::Warning,
    tools: &[Tool::Builtin, Tool::ConfluentReplicator],
    title: "max.poll.interval.ms too short to move one fetch over the link",
};

pub const SCH001: Rule = Rule {
    id: "SCH001",
    severity: Severity::Warning,
    tools: &[Tool::MirrorMaker2],
    title: "schema ids copied untranslated into a merged schema registry",
};

/// Every rule, in documentation order.
pub const RULES: &[Rule] = &[
    REP001, REP002, REP003, REP004, MM2001, MM2002, MM2003, MM2004, MM2005, MMV001, MMV002, MMV003,
    MMV004, BLT001, BLT002, CON001, CON002, CON003, CON004, ISO001, TOP001, TSK001, NET001, NET002,
    NET003, SCH001,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Runs every rule on every file; the Connect workers and connectors among them are judged as
/// one Connect cluster (CON002, CON003).
pub fn check_all(configs: &[ConfigFile], options: &Options) -> Vec<FileReport> {
    let cluster = connect::Cluster::of(configs);
    configs
        .iter()
        .map(|c| check_one(c, &cluster, options))
        .collect()
}

/// Runs every rule that applies to one file's tool, as if it were the only file.
pub fn check(config: &ConfigFile, options: &Options) -> FileReport {
    let cluster = connect::Cluster::of(std::slice::from_ref(config));
    check_one(config, &cluster, options)
}

fn check_one(config: &ConfigFile, cluster: &connect::Cluster<'_>, options: &Options) -> FileReport {
    let mut sink = Sink {
        file: config.file.clone(),
        findings: Vec::new(),
    };
    match &config.content {
        Content::Builtin { config: c, text } => builtin::check(c, text, options, &mut sink),
        Content::MirrorMaker2(p) => {
            mm2::check(p, options, &mut sink);
            if let Some(known) = known_version(config, options) {
                mm2_version::check(p, &known, options, &mut sink);
            }
        }
        Content::ConfluentReplicator(p) => confluent::check(p, options, &mut sink),
        Content::ConnectWorker(p) => connect::worker(p, &config.file, cluster, options, &mut sink),
        Content::Connector(c) => connect::connector(c, cluster, options, &mut sink),
    }
    let mut findings = sink.findings;
    findings.sort_by(|a, b| (a.line, a.rule, &a.key).cmp(&(b.line, b.rule, &b.key)));
    findings.dedup();
    FileReport {
        file: config.file.clone(),
        tool: config.tool(),
        findings,
    }
}

/// The Kafka version that will run the file: `--kafka-version` wins over the file's
/// `# kafka.version` comment.
fn known_version(config: &ConfigFile, options: &Options) -> Option<mm2_version::Known> {
    match (options.kafka_version, config.kafka_version) {
        (Some(version), declared) => Some(mm2_version::Known {
            version,
            origin: "--kafka-version".into(),
            line: declared.map_or(1, |(_, line)| line),
        }),
        (None, Some((version, line))) => Some(mm2_version::Known {
            version,
            origin: format!("kafka.version on line {line}"),
            line,
        }),
        (None, None) => None,
    }
}

/// Where the checks put their findings; values are redacted on the way in.
pub(crate) struct Sink {
    file: String,
    findings: Vec<Finding>,
}

/// A finding being built: the rule, where, and what.
pub(crate) struct At<'a> {
    pub rule: &'a Rule,
    pub line: usize,
    pub key: &'a str,
    pub value: Option<&'a str>,
}

impl Sink {
    pub fn push(&mut self, at: At<'_>, message: String, fix: String) {
        self.push_as(at.rule.severity, at, message, fix);
    }

    /// A finding with a severity other than the rule's default (documented per rule).
    pub fn push_as(&mut self, severity: Severity, at: At<'_>, message: String, fix: String) {
        let value = at.value.map(|v| shown(at.key, v));
        self.findings.push(Finding {
            rule: at.rule.id,
            severity,
            file: self.file.clone(),
            line: at.line.max(1),
            key: at.key.to_string(),
            value,
            message: redact_text(&message),
            fix: redact_text(&fix),
        });
    }
}

/// A value as it may be printed: secrets masked.
pub fn shown(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        REDACTED.to_string()
    } else {
        redact_text(value)
    }
}

/// Topics that belong to Kafka, Connect, MirrorMaker 2, Schema Registry or Confluent Platform,
/// as named on a typical source cluster (MM2 names use the aliases `source`/`target`).
pub const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__consumer_timestamps",
    "_schemas",
    "_confluent-command",
    "connect-offsets",
    "connect-configs",
    "connect-status",
    "mm2-offsets.source.internal",
    "mm2-configs.source.internal",
    "mm2-status.source.internal",
    "mm2-offset-syncs.target.internal",
    "source.checkpoints.internal",
    "heartbeats",
];

/// A Java regex evaluated the way Java's `matches()` does (the whole name), when Rust's regex
/// syntax accepts it.
pub(crate) fn full_match(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// The internal topics a filter lets through, given what the tool excludes on its own.
pub(crate) fn internal_matches(
    selects: impl Fn(&str) -> bool,
    never_copied: impl Fn(&str) -> bool,
) -> Vec<&'static str> {
    INTERNAL_TOPICS
        .iter()
        .copied()
        .filter(|t| !never_copied(t) && selects(t))
        .collect()
}

/// Which client a socket buffer belongs to, for the message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BufferSide {
    /// The consumer reading the source (its receive buffer bounds fetch throughput).
    SourceReceive,
    /// The producer writing to the target (its send buffer bounds produce throughput).
    TargetSend,
}

/// NET001: a socket buffer (explicit, or the Java client default when `default` says so)
/// below the link's bandwidth-delay product.
pub(crate) fn socket_buffer(
    sink: &mut Sink,
    link: Option<Link>,
    at: At<'_>,
    bytes: i64,
    side: BufferSide,
    java_default: bool,
) {
    let Some(link) = link else { return };
    // -1 (Java) and 0 (librdkafka) leave the size to the OS, which autotunes it.
    if bytes <= 0 {
        return;
    }
    let bdp = link.bdp_bytes();
    if (bytes as u64) >= bdp {
        return;
    }
    let ceiling_mbps = bytes as f64 * 8.0 / (link.rtt_ms / 1000.0) / 1_000_000.0;
    let (what, client) = match side {
        BufferSide::SourceReceive => ("receive", "source consumer"),
        BufferSide::TargetSend => ("send", "target producer"),
    };
    let origin = if java_default {
        " (the Java client's default)"
    } else {
        ""
    };
    let key = at.key.to_string();
    sink.push(
        at,
        format!(
            "the {client}'s {what} buffer is {bytes} bytes{origin}, below the link's \
             bandwidth-delay product of {bdp} bytes ({} Mbit/s × {} ms): one connection can \
             carry at most {ceiling_mbps:.1} Mbit/s, so the copy lags, polls stretch and the \
             group rebalances — the seed shrank its TCP buffers and fought rebalances",
            link.bandwidth_mbps, link.rtt_ms
        ),
        format!(
            "set `{key}` to at least {bdp} (or -1 to let the OS autotune; librdkafka: 0), and \
             check the host's net.core.{}mem_max allows it",
            if what == "receive" { "r" } else { "w" }
        ),
    );
}

/// NET002: a group member must fit several heartbeats, each paying the round trip, in its
/// session timeout.
/// The flow's `*.exactly.once.source.support` entry when it is on (`enabled` or `preparing`),
/// the last of a repeated key (the one Java keeps).
pub(crate) fn exactly_once_entry(
    p: &crate::properties::Properties,
) -> Option<&crate::properties::Entry> {
    p.entries().iter().find(|e| {
        e.key.ends_with(".exactly.once.source.support")
            && p.get(&e.key) == Some(*e)
            && matches!(
                e.value.trim().to_ascii_lowercase().as_str(),
                "enabled" | "preparing"
            )
    })
}

/// NET002 on an explicit `session_key` of `p`, against its `heartbeat_key` (3 s when unset, the
/// clients' default).
pub(crate) fn session_timeout_of(
    p: &crate::properties::Properties,
    sink: &mut Sink,
    link: Option<Link>,
    session_key: &str,
    heartbeat_key: &str,
    group: &str,
) {
    let Some(e) = p.get(session_key) else { return };
    let heartbeat = p.value(heartbeat_key).and_then(int).unwrap_or(3_000);
    if let Some(session) = int(&e.value) {
        let at = At {
            rule: &NET002,
            line: e.line,
            key: session_key,
            value: Some(&e.value),
        };
        session_timeout(sink, link, at, session, heartbeat, group);
    }
}

pub(crate) fn session_timeout(
    sink: &mut Sink,
    link: Option<Link>,
    at: At<'_>,
    session_ms: i64,
    heartbeat_ms: i64,
    group: &str,
) {
    let Some(link) = link else { return };
    let rtt = link.rtt_ms.ceil() as i64;
    let floor = 3 * heartbeat_ms + 2 * rtt;
    if session_ms >= floor {
        return;
    }
    let key = at.key.to_string();
    sink.push(
        at,
        format!(
            "{group}: session.timeout.ms = {session_ms} leaves room for fewer than three \
             heartbeats (heartbeat.interval.ms = {heartbeat_ms}) plus two {rtt} ms round trips; \
             one slow heartbeat over this link evicts the member and every partition moves \
             (a rebalance: duplicates for at-least-once copiers)"
        ),
        format!(
            "raise `{key}` to at least {floor} (Kafka's consumer default is 45000) or lower \
             heartbeat.interval.ms to a third of the session timeout"
        ),
    );
}

/// NET003: a poll loop that copies one full fetch across the link must come back to poll
/// within max.poll.interval.ms, with a factor of two for retries.
pub(crate) fn poll_interval(
    sink: &mut Sink,
    link: Option<Link>,
    at: At<'_>,
    poll_ms: i64,
    fetch_max_bytes: i64,
) {
    let Some(link) = link else { return };
    let transfer_ms = fetch_max_bytes as f64 * 8.0 / (link.bandwidth_mbps * 1_000_000.0) * 1000.0;
    let needed = (2.0 * (transfer_ms + link.rtt_ms)).ceil() as i64;
    if poll_ms >= needed {
        return;
    }
    let key = at.key.to_string();
    sink.push(
        at,
        format!(
            "max.poll.interval.ms = {poll_ms}, but one fetch of up to {fetch_max_bytes} bytes \
             takes {transfer_ms:.0} ms to cross a {} Mbit/s link: a slow batch makes the \
             member leave the group and its partitions move",
            link.bandwidth_mbps
        ),
        format!("raise `{key}` to at least {needed}, or lower fetch.max.bytes"),
    );
}

/// NET001 for one client's buffer setting: the first of `keys` the file sets is checked at its
/// line; when none is set, the Java client default is checked at `anchor` under the first key.
pub(crate) fn buffer_setting(
    p: &crate::properties::Properties,
    link: Option<Link>,
    keys: &[&str],
    anchor: usize,
    java_default: i64,
    side: BufferSide,
    sink: &mut Sink,
) {
    let Some(first) = keys.first() else { return };
    match keys.iter().find_map(|k| p.get(k).map(|e| (*k, e))) {
        Some((key, e)) => {
            if let Some(bytes) = int(&e.value) {
                let at = At {
                    rule: &NET001,
                    line: e.line,
                    key,
                    value: Some(&e.value),
                };
                socket_buffer(sink, link, at, bytes, side, false);
            }
        }
        None => {
            let at = At {
                rule: &NET001,
                line: anchor,
                key: first,
                value: None,
            };
            socket_buffer(sink, link, at, java_default, side, true);
        }
    }
}

/// Parses an integer setting; a value that is not a number is left to the tool to reject.
pub(crate) fn int(value: &str) -> Option<i64> {
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_messages_are_redacted_on_the_way_in() {
        let mut sink = Sink {
            file: "f".into(),
            findings: Vec::new(),
        };
        sink.push(
            At {
                rule: &ISO001,
                line: 3,
                key: "sasl.jaas.config",
                value: Some(
                    "PlainLoginModule required username=\"u\" password=\"hunter2-secret\";",
                ),
            },
            "seen password=hunter2-secret in the text".into(),
            "rotate token: hunter2-secret".into(),
        );
        let f = &sink.findings[0];
        let all = format!("{:?}", f);
        assert!(!all.contains("hunter2"), "{all}");
        assert_eq!(f.value.as_deref(), Some(REDACTED));
    }

    #[test]
    fn rule_ids_are_unique() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }
}
