//! MirrorMaker 2 in dedicated mode (`connect-mirror-maker.sh mm2.properties`). How MM2 reads its
//! file (Kafka's `MirrorMakerConfig`): `A.consumer.*` configures the consumer of cluster `A`,
//! `B.producer.*` the producer into `B`, `B.*` the Connect worker whose herder writes to `B`
//! (`exactly.once.source.support`, the worker group's timeouts), and connector settings
//! (`topics`, `groups`, `tasks.max`, `sync.group.offsets.enabled`) are top-level or per flow as
//! `A->B.key`, the flow winning.

use std::collections::{BTreeMap, BTreeSet};

use super::confluent::list;
use super::{
    buffer_setting, full_match, int, internal_matches, At, BufferSide, Sink, ISO001, MM2001,
    MM2002, MM2003, MM2004, MM2005, SCH001, TOP001, TSK001,
};
use crate::properties::{Entry, Properties};
use crate::{Options, Severity};

/// One enabled replication flow `source->target`.
pub(super) struct Flow {
    pub source: String,
    pub target: String,
    /// The line of `source->target.enabled = true`.
    pub line: usize,
}

impl Flow {
    pub fn name(&self) -> String {
        format!("{}->{}", self.source, self.target)
    }
}

/// The enabled flows among the `clusters` aliases (`A->B.enabled = true`; disabled by default).
pub(super) fn flows(p: &Properties) -> Vec<Flow> {
    let clusters = list(p.value("clusters").unwrap_or(""));
    let mut out: Vec<Flow> = Vec::new();
    for e in p.entries() {
        let Some(pair) = e.key.strip_suffix(".enabled") else {
            continue;
        };
        let Some((source, target)) = pair.split_once("->") else {
            continue;
        };
        // `A->B.sync.group.offsets.enabled` is a setting of flow A->B, not a flow.
        let alias =
            |a: &str| clusters.iter().any(|c| c == a) || (clusters.is_empty() && !a.contains('.'));
        if !alias(source) || !alias(target) {
            continue;
        }
        if p.get(&e.key) != Some(e) {
            continue; // an earlier duplicate; the last one decides
        }
        if e.value.trim().eq_ignore_ascii_case("true") {
            out.push(Flow {
                source: source.trim().to_string(),
                target: target.trim().to_string(),
                line: e.line,
            });
        }
    }
    out
}

/// A connector setting for a flow: `A->B.key`, else the top-level `key`.
pub(super) fn connector<'a>(
    p: &'a Properties,
    flow: &Flow,
    key: &str,
) -> Option<(String, &'a Entry)> {
    let scoped = format!("{}.{key}", flow.name());
    p.get(&scoped)
        .map(|e| (scoped, e))
        .or_else(|| p.get(key).map(|e| (key.to_string(), e)))
}

pub(super) fn is_true(e: Option<&Entry>) -> bool {
    e.is_some_and(|e| e.value.trim().eq_ignore_ascii_case("true"))
}

pub(super) fn check(p: &Properties, options: &Options, sink: &mut Sink) {
    let flows = flows(p);
    let anchor = p.get("clusters").map_or(1, |e| e.line);
    exactly_once(p, &flows, options, anchor, sink);
    isolation(p, &flows, sink);
    for flow in &flows {
        group_offsets(p, flow, sink);
        topics(p, flow, sink);
        schema_ids(p, flow, options, sink);
        if let (Some(partitions), Some((key, e))) =
            (options.partitions, connector(p, flow, "tasks.max"))
        {
            if let Some(tasks) = int(&e.value).filter(|&t| t > i64::from(partitions)) {
                sink.push(
                    At {
                        rule: &TSK001,
                        line: e.line,
                        key: &key,
                        value: Some(&e.value),
                    },
                    format!(
                        "{}: tasks.max = {tasks} but the replicated topics have {partitions} \
                         partitions: the surplus tasks copy nothing and still take part in \
                         every rebalance (and, exactly-once, each holds a transactional producer)",
                        flow.name()
                    ),
                    format!("set `{key}` to at most {partitions}"),
                );
            }
        }
    }
    policy(p, &flows, sink);
    network(p, &flows, options, sink);
}

fn exactly_once(p: &Properties, flows: &[Flow], options: &Options, anchor: usize, sink: &mut Sink) {
    let targets: BTreeMap<&str, usize> = flows
        .iter()
        .rev()
        .map(|f| (f.target.as_str(), f.line))
        .collect();
    if options.require_exactly_once {
        for (target, flow_line) in &targets {
            let key = format!("{target}.exactly.once.source.support");
            let e = p.get(&key);
            if e.is_some_and(|e| e.value.trim().eq_ignore_ascii_case("enabled")) {
                continue;
            }
            sink.push(
                At {
                    rule: &MM2001,
                    line: e.map_or(*flow_line, |e| e.line),
                    key: &key,
                    value: e.map(|e| e.value.as_str()),
                },
                format!(
                    "exactly-once is required, but the worker writing to `{target}` runs \
                     at-least-once: after a task restart or rebalance MM2 re-sends records the \
                     target already holds"
                ),
                format!(
                    "set `{key}=enabled` (an MM2 cluster already running: `preparing` on every \
                     node first, then `enabled`), with `dedicated.mode.enable.internal.rest=true`"
                ),
            );
        }
    }
    if let Some(eos) = super::exactly_once_entry(p) {
        const REST: &str = "dedicated.mode.enable.internal.rest";
        let rest = p.get(REST);
        if !is_true(rest) {
            sink.push(
                At {
                    rule: &MM2002,
                    line: rest.map_or(eos.line.max(anchor), |e| e.line),
                    key: REST,
                    value: rest.map(|e| e.value.as_str()),
                },
                format!(
                    "`{}` is set but the MM2 nodes cannot talk to each other: exactly-once source \
                     tasks need the internal REST API of dedicated mode (KIP-710) to fence and \
                     hand over task configs",
                    eos.key
                ),
                format!(
                    "set `{REST}=true` and `listeners=http://<host>:<port>` on every node (and \
                     secure that endpoint)"
                ),
            );
        }
    }
}

fn isolation(p: &Properties, flows: &[Flow], sink: &mut Sink) {
    let sources: BTreeMap<&str, usize> = flows
        .iter()
        .rev()
        .map(|f| (f.source.as_str(), f.line))
        .collect();
    for (source, flow_line) in sources {
        let key = format!("{source}.consumer.isolation.level");
        match p.get(&key) {
            Some(e) if e.value.trim().eq_ignore_ascii_case("read_committed") => {}
            Some(e) if e.value.trim().eq_ignore_ascii_case("read_uncommitted") => sink.push(
                At {
                    rule: &ISO001,
                    line: e.line,
                    key: &key,
                    value: Some(&e.value),
                },
                format!(
                    "the consumer of `{source}` reads read_uncommitted: records of aborted \
                     transactions are copied to the target as ordinary, committed records"
                ),
                format!("set `{key}=read_committed`"),
            ),
            found => {
                let ignored: Vec<&str> = [
                    format!("{source}.isolation.level"),
                    "consumer.isolation.level".into(),
                    "isolation.level".into(),
                ]
                .iter()
                .filter_map(|k| p.get(k).map(|e| e.key.as_str()))
                .collect();
                let note = if ignored.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (`{}` is not passed to the source consumer: MM2 gives it only \
                         `{source}.consumer.*`)",
                        ignored.join("`, `")
                    )
                };
                sink.push(
                    At {
                        rule: &MM2003,
                        line: found.map_or(flow_line, |e| e.line),
                        key: &key,
                        value: found.map(|e| e.value.as_str()),
                    },
                    format!(
                        "the consumer of `{source}` does not read read_committed (MM2 leaves \
                         Kafka's default, read_uncommitted): records of aborted transactions are \
                         copied to the target as committed records{note}"
                    ),
                    format!("add `{key}=read_committed`"),
                );
            }
        }
    }
}

fn group_offsets(p: &Properties, flow: &Flow, sink: &mut Sink) {
    let sync = connector(p, flow, "sync.group.offsets.enabled");
    if is_true(sync.as_ref().map(|(_, e)| *e)) {
        return;
    }
    let groups = connector(p, flow, "groups");
    let explicit = match &groups {
        Some((_, e)) if list(&e.value).is_empty() => return, // no group is migrated
        Some((key, e)) => Some((key.clone(), *e)),
        None => None,
    };
    let (line, severity, what) = match (&sync, &explicit) {
        (Some((_, e)), Some((k, g))) => (
            e.line,
            Severity::Error,
            format!("`{k} = {}` are migrated", g.value.trim()),
        ),
        (None, Some((k, g))) => (
            g.line,
            Severity::Error,
            format!("`{k} = {}` are migrated", g.value.trim()),
        ),
        (Some((_, e)), None) => (
            e.line,
            Severity::Warning,
            "`groups` defaults to every group".to_string(),
        ),
        (None, None) => (
            flow.line,
            Severity::Warning,
            "`groups` defaults to every group".to_string(),
        ),
    };
    let key = format!("{}.sync.group.offsets.enabled", flow.name());
    sink.push_as(
        severity,
        At {
            rule: &MM2004,
            line,
            key: &key,
            value: sync.as_ref().map(|(_, e)| e.value.as_str()),
        },
        format!(
            "{}: consumer groups {what}, but their offsets are only checkpointed, never \
             committed on `{}` (sync.group.offsets.enabled defaults to false): moved consumers \
             start from auto.offset.reset — skipping or re-reading records",
            flow.name(),
            flow.target
        ),
        format!(
            "set `{key}=true` (and keep the groups inactive on the target until cutover), or \
             translate offsets yourself (RemoteClusterUtils.translateOffsets)"
        ),
    );
}

/// MM2's default `topics.exclude` (DefaultTopicFilter).
const DEFAULT_EXCLUDE: &str = r".*[\-\.]internal, .*\.replica, __.*";

/// Topics MM2 never replicates whatever the filter says (ReplicationPolicy.isInternalTopic),
/// and heartbeats, which it replicates on purpose.
fn never_copied(topic: &str) -> bool {
    topic.ends_with(".internal")
        || topic.ends_with("-internal")
        || topic.starts_with("__")
        || topic.starts_with('.')
        || topic == "heartbeats"
}

fn alternatives(value: &str) -> Result<regex::Regex, regex::Error> {
    full_match(&list(value).join("|"))
}

fn topics(p: &Properties, flow: &Flow, sink: &mut Sink) {
    let include = connector(p, flow, "topics");
    let exclude =
        connector(p, flow, "topics.exclude").or_else(|| connector(p, flow, "topics.blacklist"));
    let (include_value, line, key) = match &include {
        Some((k, e)) => (e.value.clone(), e.line, k.clone()),
        None => (
            ".*".to_string(),
            flow.line,
            format!("{}.topics", flow.name()),
        ),
    };
    let exclude_value = exclude
        .as_ref()
        .map_or(DEFAULT_EXCLUDE.to_string(), |(_, e)| e.value.clone());
    let (inc, exc) = match (alternatives(&include_value), alternatives(&exclude_value)) {
        (Ok(i), Ok(x)) => (i, x),
        (Err(err), _) | (_, Err(err)) => {
            sink.push_as(
                Severity::Info,
                At {
                    rule: &TOP001,
                    line,
                    key: &key,
                    value: Some(&include_value),
                },
                format!(
                    "{}: the topic filter could not be checked (not in the syntax cutover \
                     reads: {err})",
                    flow.name()
                ),
                "check by hand that it excludes internal topics".into(),
            );
            return;
        }
    };
    let hits = internal_matches(|t| inc.is_match(t) && !exc.is_match(t), never_copied);
    if hits.is_empty() {
        return;
    }
    let defaulted = if include.is_none() {
        " (`topics` defaults to .*)"
    } else {
        ""
    };
    sink.push(
        At {
            rule: &TOP001,
            line,
            key: &key,
            value: include.as_ref().map(|(_, e)| e.value.as_str()),
        },
        format!(
            "{}: the topic filter{defaulted} also replicates internal topics: {}",
            flow.name(),
            hits.join(", ")
        ),
        format!(
            "list the application topics in `{key}`, or add them to `topics.exclude` (keeping \
             MM2's defaults: `{DEFAULT_EXCLUDE}, {}`)",
            hits.join(", ")
        ),
    );
}

/// SCH001: MirrorMaker 2 copies record bytes, so a wire-format record keeps its source
/// registry's schema id; in a target registry that merges several source registries that id
/// names another schema or nothing.
fn schema_ids(p: &Properties, flow: &Flow, options: &Options, sink: &mut Sink) {
    let Some(merged) = options.merged_registries.filter(|&n| n >= 2) else {
        return;
    };
    let include = connector(p, flow, "topics");
    let exclude =
        connector(p, flow, "topics.exclude").or_else(|| connector(p, flow, "topics.blacklist"));
    let include_value = include.as_ref().map_or(".*", |(_, e)| e.value.as_str());
    let exclude_value = exclude
        .as_ref()
        .map_or(DEFAULT_EXCLUDE, |(_, e)| e.value.as_str());
    let copied: Vec<&str> = match (alternatives(include_value), alternatives(exclude_value)) {
        (Ok(inc), Ok(exc)) => options
            .schema_topics
            .iter()
            .map(String::as_str)
            .filter(|t| inc.is_match(t) && !exc.is_match(t) && !never_copied(t))
            .collect(),
        // A filter cutover cannot evaluate (TOP001 says so): judge by the topic list alone.
        _ => options.schema_topics.iter().map(String::as_str).collect(),
    };
    if !options.schema_topics.is_empty() && copied.is_empty() {
        return;
    }
    let what = if copied.is_empty() {
        "topics whose records may carry schema ids (no --schema-topics given)".to_string()
    } else {
        format!(
            "topics whose records carry schema ids ({})",
            copied.join(", ")
        )
    };
    let (line, key) = match &include {
        Some((k, e)) => (e.line, k.clone()),
        None => (flow.line, format!("{}.topics", flow.name())),
    };
    sink.push(
        At {
            rule: &SCH001,
            line,
            key: &key,
            value: include.as_ref().map(|(_, e)| e.value.as_str()),
        },
        format!(
            "{}: copies {what} into a cluster whose schema registry merges {merged} source \
             registries; MirrorMaker 2 copies record bytes, so each record keeps its source \
             registry's schema id (Confluent wire format: byte 0 = 0, bytes 1-4 the id), which \
             in the merged registry names another schema or nothing — ids are not translated",
            flow.name()
        ),
        "translate the ids while copying (the built-in replicator's [schemas] section), or keep \
         one target registry per source registry with the same ids (IMPORT mode on a registry \
         that honours explicit ids); check the copy with `cutover verify --source-registry \
         REGEX=URL --target-registry URL`"
            .into(),
    );
}

fn policy(p: &Properties, flows: &[Flow], sink: &mut Sink) {
    let Some(e) = p.get("replication.policy.class") else {
        return;
    };
    let class = e.value.trim();
    if !class.ends_with("IdentityReplicationPolicy") {
        return;
    }
    let at = At {
        rule: &MM2005,
        line: e.line,
        key: "replication.policy.class",
        value: Some(&e.value),
    };
    if class.starts_with("io.strimzi.") {
        let checkpoints = flows.iter().any(|f| {
            connector(p, f, "emit.checkpoints.enabled")
                .is_none_or(|(_, e)| !e.value.trim().eq_ignore_ascii_case("false"))
        });
        if checkpoints {
            sink.push(
                at,
                format!(
                    "`{class}` is the stand-in for Kafka before 3.0; those MirrorMaker 2 versions \
                     recognise replicated topics by the source-alias prefix, so with no prefix the \
                     checkpoint connector emits no checkpoints and group offsets are never \
                     translated"
                ),
                "run MirrorMaker 2 from Kafka 3.0 or later with \
                 `replication.policy.class=org.apache.kafka.connect.mirror.IdentityReplicationPolicy`"
                    .into(),
            );
            return;
        }
    }
    let mut by_target: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in flows {
        by_target
            .entry(f.target.as_str())
            .or_default()
            .insert(f.source.as_str());
    }
    for (target, sources) in by_target {
        if sources.len() < 2 {
            continue;
        }
        let sources: Vec<&str> = sources.into_iter().collect();
        sink.push(
            At {
                rule: &MM2005,
                line: e.line,
                key: "replication.policy.class",
                value: Some(&e.value),
            },
            format!(
                "IdentityReplicationPolicy keeps topic names, and {} all replicate into \
                 `{target}`: a topic that exists on more than one of them is merged into one \
                 target topic, its partitions interleave and no consumer offset of either source \
                 can be translated",
                sources.join(", ")
            ),
            "keep the DefaultReplicationPolicy (source-alias prefix) for aggregation, or run one \
             source per target with IdentityReplicationPolicy"
                .into(),
        );
    }
}

fn network(p: &Properties, flows: &[Flow], options: &Options, sink: &mut Sink) {
    let link = options.link;
    let mut seen = BTreeSet::new();
    for f in flows {
        if seen.insert(("source", f.source.clone())) {
            let key = format!("{}.consumer.receive.buffer.bytes", f.source);
            buffer_setting(
                p,
                link,
                &[&key],
                f.line,
                65_536,
                BufferSide::SourceReceive,
                sink,
            );
        }
        if seen.insert(("target", f.target.clone())) {
            let key = format!("{}.producer.send.buffer.bytes", f.target);
            buffer_setting(
                p,
                link,
                &[&key],
                f.line,
                131_072,
                BufferSide::TargetSend,
                sink,
            );
            // The Connect worker group of the herder writing to the target (defaults: Connect's
            // DistributedConfig, 10 s session, 3 s heartbeat).
            super::session_timeout_of(
                p,
                sink,
                link,
                &format!("{}.session.timeout.ms", f.target),
                &format!("{}.heartbeat.interval.ms", f.target),
                &format!("the MM2 worker group on `{}`", f.target),
            );
        }
    }
}
