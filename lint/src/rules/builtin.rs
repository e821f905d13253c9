//! cutover's built-in replicator (`replicator.toml`). Its loader already refuses what cannot
//! work (unknown keys, read_uncommitted in exactly-once without the override, auto commit,
//! cooperative assignors, `acks` other than all); these rules add what is legal but risky for a
//! migration.

use std::collections::BTreeMap;

use replicator::config::{Mode, ReplicatorConfig};

use super::{
    int, internal_matches, poll_interval, session_timeout, socket_buffer, At, BufferSide, Sink,
    BLT001, BLT002, ISO001, NET001, NET002, NET003, TOP001,
};
use crate::{Options, Severity};

/// The line of `section.key` from the TOML spans (0 when absent).
fn key_line(text: &str, section: &str, key: &str) -> usize {
    located::line_of_field(text, &format!("{section}.{key}")).unwrap_or(0)
}

/// The first line containing `needle` (0 when none), for keys `key_line` cannot place (nested
/// tables).
fn line_containing(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

fn line_or(line: usize, fallback: usize) -> usize {
    if line == 0 {
        fallback
    } else {
        line
    }
}

pub(super) fn check(c: &ReplicatorConfig, text: &str, options: &Options, sink: &mut Sink) {
    let anchor = line_or(line_containing(text, "[replication]"), 1);
    if c.mode == Mode::AtLeastOnce {
        let line = line_or(key_line(text, "replication", "mode"), anchor);
        let (severity, why) = if options.require_exactly_once {
            (Severity::Error, "exactly-once is required, but")
        } else {
            (Severity::Info, "for the record:")
        };
        sink.push_as(
            severity,
            At {
                rule: &BLT001,
                line,
                key: "replication.mode",
                value: Some("at-least-once"),
            },
            format!(
                "{why} the replicator runs at-least-once: source offsets are committed after \
                 delivery, so every rebalance, crash or fenced instance re-copies the records \
                 since the last commit (duplicates in the target)"
            ),
            "set `mode = \"exactly-once\"` in [replication] (the default)".into(),
        );
    }
    rename(c, text, anchor, sink);
    if let Some(level) = c.source.get("isolation.level") {
        if level.eq_ignore_ascii_case("read_uncommitted") {
            sink.push(
                At {
                    rule: &ISO001,
                    line: line_or(key_line(text, "source", "isolation.level"), anchor),
                    key: "source.isolation.level",
                    value: Some(level),
                },
                "the source consumer reads read_uncommitted: records of aborted transactions are \
                 copied into the target as committed records"
                    .into(),
                "remove `isolation.level` from [source] (the replicator reads read_committed) \
                 and `allow_read_uncommitted`"
                    .into(),
            );
        }
    }
    let hits = internal_matches(|t| c.selects(t), |_| false);
    if !hits.is_empty() {
        let line = line_or(key_line(text, "replication", "include"), anchor);
        sink.push(
            At {
                rule: &TOP001,
                line,
                key: "replication.include",
                value: None,
            },
            format!(
                "the include patterns also select internal topics the replicator does not skip \
                 by itself: {}",
                hits.join(", ")
            ),
            format!(
                "narrow `include` to the application topics, or add them to `exclude` ({})",
                hits.iter()
                    .map(|h| format!("\"{}\"", h.replace('.', "\\\\.")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    network(c, text, anchor, options, sink);
}

fn rename(c: &ReplicatorConfig, text: &str, anchor: usize, sink: &mut Sink) {
    let mut sources_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Only selected sources are copied, so only they can collide.
    for source in c.rename.map.keys().filter(|s| c.selects(s)) {
        sources_of
            .entry(c.rename.target_of(source))
            .or_default()
            .push(source.clone());
    }
    // A mapped topic whose target is the (unmapped) name another selected topic keeps.
    for (source, target) in &c.rename.map {
        if target != source
            && c.selects(source)
            && !c.rename.map.contains_key(target)
            && c.rename.target_of(target) == *target
            && c.selects(target)
        {
            sources_of
                .entry(target.clone())
                .or_default()
                .push(target.clone());
        }
    }
    for (target, mut sources) in sources_of {
        sources.sort();
        sources.dedup();
        if sources.len() < 2 {
            continue;
        }
        let line = line_or(
            line_containing(text, &format!("\"{}\"", sources[0])),
            anchor,
        );
        let listed = sources.join(", ");
        sink.push(
            At {
                rule: &BLT002,
                line,
                key: "replication.rename.map",
                value: None,
            },
            format!(
                "{listed} are all written to `{target}`: their partitions interleave in one \
                 topic, partition numbers and offsets no longer identify a source record, and \
                 consumer offsets cannot be translated"
            ),
            format!("give each source topic its own target name (only one of {listed} may map to `{target}`)"),
        );
    }
}

fn network(c: &ReplicatorConfig, text: &str, anchor: usize, options: &Options, sink: &mut Sink) {
    let link = options.link;
    let t = &c.tuning;
    for (field, bytes, side) in [
        (
            "socket_receive_buffer_bytes",
            t.socket_receive_buffer_bytes,
            BufferSide::SourceReceive,
        ),
        (
            "socket_send_buffer_bytes",
            t.socket_send_buffer_bytes,
            BufferSide::TargetSend,
        ),
    ] {
        let line = line_or(key_line(text, "tuning", field), anchor);
        let key = format!("tuning.{field}");
        socket_buffer(
            sink,
            link,
            At {
                rule: &NET001,
                line,
                key: &key,
                value: Some(&bytes.to_string()),
            },
            i64::try_from(bytes).unwrap_or(i64::MAX),
            side,
            false,
        );
    }
    for (section, props, keys, side) in [
        (
            "source",
            &c.source,
            ["receive.buffer.bytes", "socket.receive.buffer.bytes"],
            BufferSide::SourceReceive,
        ),
        (
            "target",
            &c.target,
            ["send.buffer.bytes", "socket.send.buffer.bytes"],
            BufferSide::TargetSend,
        ),
    ] {
        for key in keys {
            let Some(bytes) = props.get(key).and_then(int) else {
                continue;
            };
            let full = format!("{section}.{key}");
            socket_buffer(
                sink,
                link,
                At {
                    rule: &NET001,
                    line: line_or(key_line(text, section, key), anchor),
                    key: &full,
                    value: props.get(key),
                },
                bytes,
                side,
                false,
            );
        }
    }
    // librdkafka's defaults: session 45 s, heartbeat 3 s, max poll interval 300 s.
    if let Some(session) = c.source.get("session.timeout.ms").and_then(int) {
        let heartbeat = c
            .source
            .get("heartbeat.interval.ms")
            .and_then(int)
            .unwrap_or(3_000);
        session_timeout(
            sink,
            link,
            At {
                rule: &NET002,
                line: line_or(key_line(text, "source", "session.timeout.ms"), anchor),
                key: "source.session.timeout.ms",
                value: c.source.get("session.timeout.ms"),
            },
            session,
            heartbeat,
            "the replicator's source consumer group",
        );
    }
    if let Some(poll) = c.source.get("max.poll.interval.ms").and_then(int) {
        poll_interval(
            sink,
            link,
            At {
                rule: &NET003,
                line: line_or(key_line(text, "source", "max.poll.interval.ms"), anchor),
                key: "source.max.poll.interval.ms",
                value: c.source.get("max.poll.interval.ms"),
            },
            poll,
            i64::try_from(t.fetch_max_bytes).unwrap_or(i64::MAX),
        );
    }
}
