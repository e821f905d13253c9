//! Confluent Replicator connector configs. Replicator is a Connect source connector: `src.kafka.*`
//! configures its clients of the source cluster, `src.consumer.*` its source consumer,
//! `dest.kafka.*` the destination admin, and the worker's `producer.override.*` (KIP-458) the
//! producer that writes to the destination.

use super::{
    buffer_setting, full_match, int, internal_matches, poll_interval, At, BufferSide, Sink, ISO001,
    NET003, REP001, REP002, REP003, REP004, TOP001, TSK001,
};
use crate::properties::Properties;
use crate::{Options, Severity};

/// Topics Replicator never copies, even when a filter matches them (its configuration
/// reference: `__consumer_offsets`, `__transaction_state`; `__consumer_timestamps` is its own).
fn never_copied(topic: &str) -> bool {
    matches!(
        topic,
        "__consumer_offsets" | "__transaction_state" | "__consumer_timestamps"
    )
}

pub(super) fn check(p: &Properties, options: &Options, sink: &mut Sink) {
    let anchor = p.get("connector.class").map_or(1, |e| e.line);
    isolation(p, anchor, sink);
    producer(p, anchor, sink);
    rename(p, sink);
    topics(p, sink);
    if let (Some(partitions), Some(e)) = (options.partitions, p.get("tasks.max")) {
        if let Some(tasks) = int(&e.value).filter(|&t| t > i64::from(partitions)) {
            sink.push(
                At {
                    rule: &TSK001,
                    line: e.line,
                    key: "tasks.max",
                    value: Some(&e.value),
                },
                format!(
                    "tasks.max = {tasks} but the replicated topics have {partitions} partitions: \
                     {} tasks get nothing to copy, and each still holds clients and a place in \
                     the Connect rebalance",
                    tasks - i64::from(partitions)
                ),
                format!("set `tasks.max` to at most {partitions}"),
            );
        }
    }
    network(p, anchor, options, sink);
}

fn isolation(p: &Properties, anchor: usize, sink: &mut Sink) {
    const KEY: &str = "src.consumer.isolation.level";
    for key in [KEY, "src.kafka.isolation.level"] {
        if let Some(e) = p.get(key) {
            if e.value.trim().eq_ignore_ascii_case("read_uncommitted") {
                sink.push(
                    At {
                        rule: &ISO001,
                        line: e.line,
                        key,
                        value: Some(&e.value),
                    },
                    "the source consumer reads read_uncommitted: records of aborted \
                     transactions are copied into the target as ordinary, committed records"
                        .into(),
                    format!("set `{KEY}=read_committed`"),
                );
                return;
            }
        }
    }
    match p.get(KEY) {
        Some(e) if e.value.trim().eq_ignore_ascii_case("read_committed") => {}
        Some(e) => sink.push(
            At {
                rule: &REP001,
                line: e.line,
                key: KEY,
                value: Some(&e.value),
            },
            format!(
                "`{KEY}` is `{}`, not read_committed: aborted transactions would leak into the \
                 target",
                e.value.trim()
            ),
            format!("set `{KEY}=read_committed`"),
        ),
        None => match p.get("src.kafka.isolation.level") {
            Some(e) => sink.push_as(
                Severity::Warning,
                At {
                    rule: &REP001,
                    line: e.line,
                    key: "src.kafka.isolation.level",
                    value: Some(&e.value),
                },
                "read_committed is set as `src.kafka.isolation.level` (the seed's spelling); \
                 Replicator's configuration reference puts source-consumer settings under \
                 `src.consumer.*` and `src.kafka.*` under the connection settings, so cutover \
                 cannot confirm the consumer gets it"
                    .into(),
                format!("use `{KEY}=read_committed` (keeping both is harmless)"),
            ),
            None => sink.push(
                At {
                    rule: &REP001,
                    line: anchor,
                    key: KEY,
                    value: None,
                },
                "no `src.consumer.isolation.level`: the source consumer reads with Kafka's \
                 default, read_uncommitted, and copies the records of aborted transactions into \
                 the target as ordinary records"
                    .into(),
                format!("add `{KEY}=read_committed`"),
            ),
        },
    }
}

fn producer(p: &Properties, anchor: usize, sink: &mut Sink) {
    const IDEMPOTENCE: &str = "producer.override.enable.idempotence";
    match p.get(IDEMPOTENCE) {
        Some(e) if e.value.trim().eq_ignore_ascii_case("true") => {}
        found => sink.push(
            At {
                rule: &REP002,
                line: found.map_or(anchor, |e| e.line),
                key: IDEMPOTENCE,
                value: found.map(|e| e.value.as_str()),
            },
            "the producer writing to the destination is not idempotent: Kafka Connect creates \
             source-connector producers with enable.idempotence=false, so a produce retried \
             after a lost acknowledgement writes the batch twice"
                .into(),
            format!(
                "set `{IDEMPOTENCE}=true` (the Connect worker must allow it: \
                 connector.client.config.override.policy=All, the default since Kafka 3.0)"
            ),
        ),
    }
    const ACKS: &str = "producer.override.acks";
    if let Some(e) = p.get(ACKS) {
        let v = e.value.trim();
        if !(v.eq_ignore_ascii_case("all") || v == "-1") {
            sink.push(
                At {
                    rule: &REP003,
                    line: e.line,
                    key: ACKS,
                    value: Some(&e.value),
                },
                format!(
                    "acks = {v}: a record is acknowledged before the destination's followers \
                     have it, and a leader change loses it; idempotence also requires acks=all"
                ),
                format!(
                    "set `{ACKS}=all` or remove it (Connect's default for source producers is all)"
                ),
            );
        }
    }
}

fn rename(p: &Properties, sink: &mut Sink) {
    let Some(e) = p.get("topic.rename.format") else {
        return;
    };
    if e.value.contains("${topic}") {
        return;
    }
    sink.push(
        At {
            rule: &REP004,
            line: e.line,
            key: "topic.rename.format",
            value: Some(&e.value),
        },
        format!(
            "topic.rename.format `{}` has no ${{topic}}: every replicated topic is written into \
             the same target topic, so records of different topics mix in its partitions and no \
             consumer offset can be translated",
            e.value.trim()
        ),
        "include ${topic} in the format, e.g. `topic.rename.format=${topic}` or \
         `${topic}.replica`"
            .into(),
    );
}

fn topics(p: &Properties, sink: &mut Sink) {
    let blacklist: Vec<String> = list(p.value("topic.blacklist").unwrap_or(""));
    if let Some(e) = p.get("topic.regex") {
        let at = || At {
            rule: &TOP001,
            line: e.line,
            key: "topic.regex",
            value: Some(&e.value),
        };
        match full_match(e.value.trim()) {
            Ok(re) => {
                let hits = internal_matches(
                    |t| re.is_match(t) && !blacklist.iter().any(|b| b == t),
                    never_copied,
                );
                if !hits.is_empty() {
                    sink.push(
                        at(),
                        format!(
                            "topic.regex also matches internal topics Replicator does copy: {}",
                            hits.join(", ")
                        ),
                        format!(
                            "narrow `topic.regex` to the application topics, or list these in \
                             `topic.blacklist` ({})",
                            hits.join(",")
                        ),
                    );
                }
            }
            Err(err) => sink.push_as(
                Severity::Info,
                at(),
                format!(
                    "topic.regex could not be checked (not in the syntax cutover reads: {err})"
                ),
                "check by hand that it excludes internal topics".into(),
            ),
        }
    }
    if let Some(e) = p.get("topic.whitelist") {
        let listed = list(&e.value);
        let hits = internal_matches(|t| listed.iter().any(|l| l == t), never_copied);
        if !hits.is_empty() {
            sink.push(
                At {
                    rule: &TOP001,
                    line: e.line,
                    key: "topic.whitelist",
                    value: Some(&e.value),
                },
                format!("topic.whitelist names internal topics: {}", hits.join(", ")),
                "remove them from `topic.whitelist`".into(),
            );
        }
    }
}

fn network(p: &Properties, anchor: usize, options: &Options, sink: &mut Sink) {
    let link = options.link;
    // The source consumer's receive buffer: `src.consumer.*` wins over the shared `src.kafka.*`.
    buffer_setting(
        p,
        link,
        &[
            "src.consumer.receive.buffer.bytes",
            "src.kafka.receive.buffer.bytes",
        ],
        anchor,
        65_536,
        BufferSide::SourceReceive,
        sink,
    );
    buffer_setting(
        p,
        link,
        &["producer.override.send.buffer.bytes"],
        anchor,
        131_072,
        BufferSide::TargetSend,
        sink,
    );
    // Only explicit consumer timeouts: Replicator's own defaults are not documented per version.
    super::session_timeout_of(
        p,
        sink,
        link,
        "src.consumer.session.timeout.ms",
        "src.consumer.heartbeat.interval.ms",
        "the source consumer",
    );
    if let Some(e) = p.get("src.consumer.max.poll.interval.ms") {
        let fetch = p
            .value("src.consumer.fetch.max.bytes")
            .and_then(int)
            .unwrap_or(52_428_800);
        if let Some(poll) = int(&e.value) {
            poll_interval(
                sink,
                link,
                At {
                    rule: &NET003,
                    line: e.line,
                    key: "src.consumer.max.poll.interval.ms",
                    value: Some(&e.value),
                },
                poll,
                fetch,
            );
        }
    }
}

/// A Connect list value: comma-separated, blanks trimmed, empties dropped.
pub(super) fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}
