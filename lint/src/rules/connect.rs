//! Kafka Connect: distributed workers' properties and the connectors deployed on them.
//!
//! How Connect configures what these rules look at (apache/kafka `connect/runtime`):
//! a source task's producer starts from `Worker.baseProducerConfigs` (`enable.idempotence=false`,
//! `acks=all`, `max.in.flight.requests.per.connection=1`, endless retries), then the worker's
//! `producer.*`, then the connector's `producer.override.*` (KIP-458); with
//! `exactly.once.source.support=enabled` (KIP-618) `exactlyOnceSourceTaskProducerConfigs` forces
//! idempotence and a transactional id. The group settings (`session.timeout.ms` 10000,
//! `heartbeat.interval.ms` 3000, `connect.protocol` `sessioned`,
//! `scheduled.rebalance.max.delay.ms` 300000) are `DistributedConfig`'s, `offset.flush.interval.ms`
//! (60000) is `WorkerConfig`'s. MirrorMaker 2's `MirrorSourceConnector` builds its source
//! consumer from `source.cluster.*` (connection and security keys only), then `consumer.*`, then
//! `source.consumer.*` (`MirrorConnectorConfig.sourceConsumerConfig`).
//!
//! The workers and connectors of one invocation are one [`Cluster`]: exactly-once on some
//! workers of a `group.id` but not others, or a connector requiring exactly-once, is judged
//! across files.

use super::confluent::list;
use super::{
    buffer_setting, int, session_timeout, At, BufferSide, Sink, CON001, CON002, CON003, CON004,
    ISO001, MM2004, TSK001,
};
use crate::input::{ConfigFile, Connector, Content};
use crate::properties::{Entry, Properties};
use crate::{Options, Severity};

const EOS_KEY: &str = "exactly.once.source.support";
/// `DistributedConfig` defaults, in ms.
const SESSION_DEFAULT: i64 = 10_000;
const HEARTBEAT_DEFAULT: i64 = 3_000;
/// `WorkerConfig`'s `offset.flush.interval.ms` default, in ms.
const FLUSH_DEFAULT: i64 = 60_000;
/// Above this many ms of re-sent copying after a crash, CON004 warns (an at-least-once worker).
const FLUSH_WARN_ABOVE: i64 = 10_000;

/// A worker's `exactly.once.source.support` (`DistributedConfig.ExactlyOnceSourceSupport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eos {
    Disabled,
    /// The rolling-upgrade step: the leader can fence, tasks still run at-least-once.
    Preparing,
    Enabled,
}

fn eos_of(p: &Properties) -> Eos {
    match p.value(EOS_KEY).map(str::to_ascii_lowercase).as_deref() {
        Some("enabled") => Eos::Enabled,
        Some("preparing") => Eos::Preparing,
        _ => Eos::Disabled,
    }
}

struct Worker<'a> {
    file: &'a str,
    group: Option<&'a str>,
    eos: Eos,
}

/// The Connect workers and connectors linted in one invocation.
pub(crate) struct Cluster<'a> {
    workers: Vec<Worker<'a>>,
    /// The reports (`file` or `file#name`) of connectors with `exactly.once.support=required`.
    requiring: Vec<&'a str>,
}

impl<'a> Cluster<'a> {
    pub fn of(configs: &'a [ConfigFile]) -> Cluster<'a> {
        let mut cluster = Cluster {
            workers: Vec::new(),
            requiring: Vec::new(),
        };
        for c in configs {
            match &c.content {
                Content::ConnectWorker(p) => cluster.workers.push(Worker {
                    file: &c.file,
                    group: p.value("group.id"),
                    eos: eos_of(p),
                }),
                Content::Connector(Connector { config: p, .. })
                | Content::ConfluentReplicator(p)
                    if requires_eos(p) =>
                {
                    cluster.requiring.push(&c.file);
                }
                _ => {}
            }
        }
        cluster
    }

    /// Every worker given runs exactly-once (and at least one was given): Connect then forces
    /// idempotence on every source producer.
    fn exactly_once_everywhere(&self) -> bool {
        !self.workers.is_empty() && self.workers.iter().all(|w| w.eos == Eos::Enabled)
    }
}

fn requires_eos(p: &Properties) -> bool {
    p.value("exactly.once.support")
        .is_some_and(|v| v.eq_ignore_ascii_case("required"))
}

fn is_true(e: Option<&Entry>) -> bool {
    e.is_some_and(|e| e.value.trim().eq_ignore_ascii_case("true"))
}

pub(super) fn worker(
    p: &Properties,
    file: &str,
    cluster: &Cluster<'_>,
    options: &Options,
    sink: &mut Sink,
) {
    let anchor = p.get("group.id").map_or(1, |e| e.line);
    let eos = eos_of(p);
    exactly_once(p, file, eos, anchor, cluster, options, sink);
    let idempotence = p.get("producer.enable.idempotence");
    if eos != Eos::Enabled && !is_true(idempotence) {
        sink.push(
            At {
                rule: &CON002,
                line: idempotence.map_or(anchor, |e| e.line),
                key: "producer.enable.idempotence",
                value: idempotence.map(|e| e.value.as_str()),
            },
            "the source connectors' producers on this worker are not idempotent: Connect builds \
             them with enable.idempotence=false and endless retries (Worker.baseProducerConfigs, \
             pending KIP-318), so a produce retried after a lost acknowledgement — a \
             timeout on a slow link — writes the batch twice"
                .into(),
            "set `producer.enable.idempotence=true`, or `exactly.once.source.support=enabled` \
             (which forces it); a connector can still override it with \
             `producer.override.enable.idempotence`"
                .into(),
        );
    }
    producer_settings(
        p,
        "producer.",
        eos == Eos::Enabled || is_true(idempotence),
        sink,
    );
    rebalance(p, eos, anchor, options, sink);
    network(p, anchor, options, sink);
}

fn exactly_once(
    p: &Properties,
    file: &str,
    eos: Eos,
    anchor: usize,
    cluster: &Cluster<'_>,
    options: &Options,
    sink: &mut Sink,
) {
    if eos == Eos::Enabled {
        return;
    }
    let mut reasons = Vec::new();
    if options.require_exactly_once {
        reasons.push("`--require-exactly-once` is given".to_string());
    }
    if !cluster.requiring.is_empty() {
        reasons.push(format!(
            "{} {} `exactly.once.support=required`, and Connect refuses to create or validate \
             such a connector on a worker without exactly-once support (SourceConnectorConfig)",
            cluster.requiring.join(", "),
            if cluster.requiring.len() == 1 {
                "sets"
            } else {
                "set"
            }
        ));
    }
    let group = p.value("group.id");
    let peers: Vec<&str> = cluster
        .workers
        .iter()
        .filter(|w| w.file != file && w.group == group && w.eos == Eos::Enabled)
        .map(|w| w.file)
        .collect();
    if !peers.is_empty() {
        reasons.push(format!(
            "other workers of group `{}` have it enabled ({}): the cluster is mixed, and the \
             tasks this worker runs write without transactions",
            group.unwrap_or(""),
            peers.join(", ")
        ));
    }
    let e = p.get(EOS_KEY);
    let at = At {
        rule: &CON003,
        line: e.map_or(anchor, |e| e.line),
        key: EOS_KEY,
        value: e.map(|e| e.value.as_str()),
    };
    let fix = format!(
        "set `{EOS_KEY}=enabled` on every worker of the group (a running cluster: `preparing` on \
         every worker, then `enabled`, each a rolling restart; KIP-618)"
    );
    let preparing = if eos == Eos::Preparing {
        " (`preparing` is KIP-618's rolling-upgrade step: the leader can fence zombie tasks, but \
         tasks still run at-least-once)"
    } else {
        ""
    };
    if reasons.is_empty() {
        if eos == Eos::Preparing {
            sink.push_as(
                Severity::Warning,
                at,
                format!(
                    "`{EOS_KEY}=preparing` is not exactly-once{preparing}; a cluster left there \
                     has the cost of the upgrade and none of its guarantee"
                ),
                fix,
            );
        }
        return;
    }
    sink.push(
        at,
        format!(
            "exactly-once source support is {}{preparing}: source tasks on this worker commit \
             their offsets after writing, so after a rebalance, a crash or a task restart they \
             write again what they wrote since the last offset flush — yet {}",
            match (e, eos) {
                (_, Eos::Preparing) => "only `preparing`",
                (Some(_), _) => "disabled",
                (None, _) => "off (the default, `disabled`)",
            },
            reasons.join("; ")
        ),
        fix,
    );
}

/// CON002 on the producer settings that turn idempotence off or make the producer refuse it;
/// `idempotent`: whether this producer is idempotent (the producer then refuses them).
fn producer_settings(p: &Properties, prefix: &str, idempotent: bool, sink: &mut Sink) {
    let acks_key = format!("{prefix}acks");
    if let Some(e) = p.get(&acks_key) {
        let v = e.value.trim();
        if !(v.eq_ignore_ascii_case("all") || v == "-1") {
            let message = if idempotent {
                format!(
                    "acks = {v} on an idempotent producer: the Java producer refuses the \
                     combination (ProducerConfig: \"Must set acks to all in order to use the \
                     idempotent producer\") and the source tasks fail to start"
                )
            } else {
                format!(
                    "acks = {v}: a record is acknowledged before the followers have it and a \
                     leader change loses it; idempotence needs acks=all (KIP-679)"
                )
            };
            sink.push(
                At {
                    rule: &CON002,
                    line: e.line,
                    key: &acks_key,
                    value: Some(&e.value),
                },
                message,
                format!("set `{acks_key}=all` or remove it (Connect's default is all)"),
            );
        }
    }
    let in_flight_key = format!("{prefix}max.in.flight.requests.per.connection");
    if let Some(e) = p.get(&in_flight_key) {
        if let Some(n) = int(&e.value).filter(|&n| n > 5 && idempotent) {
            sink.push(
                At {
                    rule: &CON002,
                    line: e.line,
                    key: &in_flight_key,
                    value: Some(&e.value),
                },
                format!(
                    "max.in.flight.requests.per.connection = {n} on an idempotent producer: the \
                     Java producer refuses more than 5 (ProducerConfig, KIP-679) and the source \
                     tasks fail to start"
                ),
                format!(
                    "set `{in_flight_key}` to at most 5, or remove it (Connect's default is 1)"
                ),
            );
        }
    }
    let retries_key = format!("{prefix}retries");
    if let Some(e) = p.get(&retries_key) {
        if int(&e.value) == Some(0) {
            let message = if idempotent {
                "retries = 0 on an idempotent producer: the Java producer refuses it \
                 (\"Must set retries to non-zero when using the idempotent producer\") and the \
                 source tasks fail to start"
            } else {
                "retries = 0: one transient error fails the send, the task dies, and its \
                 restart writes again everything since the last offset flush"
            };
            sink.push(
                At {
                    rule: &CON002,
                    line: e.line,
                    key: &retries_key,
                    value: Some(&e.value),
                },
                message.into(),
                format!(
                    "remove `{retries_key}` (Connect retries forever within delivery.timeout.ms)"
                ),
            );
        }
    }
}

fn rebalance(p: &Properties, eos: Eos, anchor: usize, options: &Options, sink: &mut Sink) {
    let protocol = p.get("connect.protocol");
    let eager = protocol.is_some_and(|e| e.value.trim().eq_ignore_ascii_case("eager"));
    if let Some(e) = protocol.filter(|_| eager) {
        sink.push(
            At {
                rule: &CON004,
                line: e.line,
                key: "connect.protocol",
                value: Some(&e.value),
            },
            "connect.protocol = eager: every rebalance — a worker joining, leaving, or missing \
             its heartbeats for one session timeout — stops every connector and task of the \
             cluster and starts them again after the new assignment"
                .into(),
            "remove `connect.protocol` (the default, `sessioned`, rebalances incrementally: only \
             the moved tasks stop; KIP-415, KIP-507)"
                .into(),
        );
    }
    let session_e = p.get("session.timeout.ms");
    let heartbeat_e = p.get("heartbeat.interval.ms");
    let session = session_e
        .and_then(|e| int(&e.value))
        .unwrap_or(SESSION_DEFAULT);
    let heartbeat = heartbeat_e
        .and_then(|e| int(&e.value))
        .unwrap_or(HEARTBEAT_DEFAULT);
    if let Some(e) = p.get("scheduled.rebalance.max.delay.ms") {
        if let Some(delay) = int(&e.value).filter(|&d| d < session && !eager) {
            let when = if delay <= 0 {
                "at once".to_string()
            } else {
                format!("after {delay} ms")
            };
            sink.push(
                At {
                    rule: &CON004,
                    line: e.line,
                    key: "scheduled.rebalance.max.delay.ms",
                    value: Some(&e.value),
                },
                format!(
                    "scheduled.rebalance.max.delay.ms = {delay} is shorter than the session \
                     timeout ({session} ms): a worker evicted by one late heartbeat (a latency \
                     spike) has its connectors and tasks moved {when}, before it can rejoin; \
                     every moved task restarts from its last committed offsets"
                ),
                "raise `scheduled.rebalance.max.delay.ms` well above session.timeout.ms \
                 (default 300000, KIP-415)"
                    .into(),
            );
        }
    }
    // With a link, NET002 judges the same pair against the round trip (`network`).
    let explicit = match (heartbeat_e, session_e) {
        (Some(e), _) => Some(("heartbeat.interval.ms", e)),
        (None, Some(e)) => Some(("session.timeout.ms", e)),
        (None, None) => None,
    };
    if let Some((key, e)) = explicit.filter(|_| options.link.is_none()) {
        if heartbeat > 0 && 3 * heartbeat > session {
            sink.push(
                At {
                    rule: &CON004,
                    line: e.line,
                    key,
                    value: Some(&e.value),
                },
                format!(
                    "heartbeat.interval.ms = {heartbeat} is above a third of session.timeout.ms \
                     = {session}: fewer than three heartbeats fit in a session, so one delayed \
                     heartbeat evicts the worker and its tasks are rebalanced (DistributedConfig: \
                     \"typically should be set no higher than 1/3 of that value\")"
                ),
                format!(
                    "lower heartbeat.interval.ms to at most {} or raise session.timeout.ms to at \
                     least {}",
                    session / 3,
                    3 * heartbeat
                ),
            );
        }
    }
    if eos != Eos::Enabled {
        let e = p.get("offset.flush.interval.ms");
        let interval = e.and_then(|e| int(&e.value)).unwrap_or(FLUSH_DEFAULT);
        if interval > FLUSH_WARN_ABOVE {
            let default = if e.is_none() { " (the default)" } else { "" };
            sink.push(
                At {
                    rule: &CON004,
                    line: e.map_or(anchor, |e| e.line),
                    key: "offset.flush.interval.ms",
                    value: e.map(|e| e.value.as_str()),
                },
                format!(
                    "at-least-once source tasks commit their offsets every {interval} ms{default}: \
                     after a crash, an eviction or a forced task move, everything written since \
                     the last flush — up to {} s of copying — is read and written again (the \
                     seed's duplicates after each rebalance)",
                    interval / 1000
                ),
                format!(
                    "set `{EOS_KEY}=enabled`, or shorten the window (e.g. \
                     `offset.flush.interval.ms=5000`; each flush writes to the offsets topic)"
                ),
            );
        }
    }
}

fn network(p: &Properties, anchor: usize, options: &Options, sink: &mut Sink) {
    let link = options.link;
    buffer_setting(
        p,
        link,
        &["producer.send.buffer.bytes"],
        anchor,
        131_072,
        BufferSide::TargetSend,
        sink,
    );
    // Sink connectors' consumers; only an explicit value (a worker may run no sink connector).
    if p.get("consumer.receive.buffer.bytes").is_some() {
        buffer_setting(
            p,
            link,
            &["consumer.receive.buffer.bytes"],
            anchor,
            65_536,
            BufferSide::SourceReceive,
            sink,
        );
    }
    let session_e = p.get("session.timeout.ms");
    let heartbeat_e = p.get("heartbeat.interval.ms");
    let Some((key, e)) = session_e
        .map(|e| ("session.timeout.ms", e))
        .or_else(|| heartbeat_e.map(|e| ("heartbeat.interval.ms", e)))
    else {
        return;
    };
    let session = session_e
        .and_then(|e| int(&e.value))
        .unwrap_or(SESSION_DEFAULT);
    let heartbeat = heartbeat_e
        .and_then(|e| int(&e.value))
        .unwrap_or(HEARTBEAT_DEFAULT);
    session_timeout(
        sink,
        link,
        At {
            rule: &super::NET002,
            line: e.line,
            key,
            value: Some(&e.value),
        },
        session,
        heartbeat,
        &format!(
            "the Connect worker group `{}`",
            p.value("group.id").unwrap_or("")
        ),
    );
}

pub(super) fn connector(c: &Connector, cluster: &Cluster<'_>, options: &Options, sink: &mut Sink) {
    let p = &c.config;
    let anchor = p.get("connector.class").map_or(1, |e| e.line);
    if c.is_mirror_source() {
        mirror_source(c, anchor, options, sink);
    }
    if matches!(
        c.short_class(),
        "MirrorCheckpointConnector" | "MirrorCheckpoint"
    ) {
        mirror_checkpoint(c, anchor, sink);
    }
    if c.is_source() == Some(false) {
        return;
    }
    // Exactly-once on every worker (or a connector only such workers accept) forces idempotence.
    let forced = cluster.exactly_once_everywhere() || requires_eos(p);
    const IDEMPOTENCE: &str = "producer.override.enable.idempotence";
    let idempotence = p.get(IDEMPOTENCE);
    match idempotence {
        Some(e) if !is_true(Some(e)) && !forced => sink.push(
            At {
                rule: &CON002,
                line: e.line,
                key: IDEMPOTENCE,
                value: Some(&e.value),
            },
            "this connector's producer is not idempotent: a produce retried after a lost \
             acknowledgement (Connect retries forever) writes the batch twice"
                .into(),
            format!("set `{IDEMPOTENCE}=true`, or run the workers with `exactly.once.source.support=enabled`"),
        ),
        None if cluster.workers.is_empty() && !forced => sink.push_as(
            Severity::Warning,
            At {
                rule: &CON002,
                line: anchor,
                key: IDEMPOTENCE,
                value: None,
            },
            "no `producer.override.enable.idempotence`: the worker decides, and Connect's own \
             default for source producers is enable.idempotence=false (Worker.baseProducerConfigs)"
                .into(),
            format!(
                "set `{IDEMPOTENCE}=true`, or lint the worker's properties together with this \
                 connector"
            ),
        ),
        _ => {}
    }
    producer_settings(
        p,
        "producer.override.",
        forced || is_true(idempotence),
        sink,
    );
    if p.get("producer.override.send.buffer.bytes").is_some() {
        buffer_setting(
            p,
            options.link,
            &["producer.override.send.buffer.bytes"],
            anchor,
            131_072,
            BufferSide::TargetSend,
            sink,
        );
    }
}

/// MirrorSourceConnector on Connect: its source consumer is `source.cluster.*` (connection keys
/// only) + `consumer.*` + `source.consumer.*`, the last winning.
fn mirror_source(c: &Connector, anchor: usize, options: &Options, sink: &mut Sink) {
    let p = &c.config;
    const KEY: &str = "source.consumer.isolation.level";
    let found = [KEY, "consumer.isolation.level"]
        .into_iter()
        .find_map(|k| p.get(k).map(|e| (k, e)));
    match found {
        Some((_, e)) if e.value.trim().eq_ignore_ascii_case("read_committed") => {}
        Some((key, e)) if e.value.trim().eq_ignore_ascii_case("read_uncommitted") => sink.push(
            At {
                rule: &ISO001,
                line: e.line,
                key,
                value: Some(&e.value),
            },
            "MirrorSourceConnector's source consumer reads read_uncommitted: records of aborted \
             transactions are copied to the target as ordinary, committed records"
                .into(),
            format!("set `{KEY}=read_committed`"),
        ),
        found => {
            let ignored: Vec<&str> = [
                "source.cluster.isolation.level",
                "isolation.level",
                "consumer.override.isolation.level",
            ]
            .into_iter()
            .filter(|k| p.get(k).is_some())
            .collect();
            let note = if ignored.is_empty() {
                String::new()
            } else {
                format!(
                    " (`{}` does not reach it: only `consumer.*` and `source.consumer.*` do, and \
                     of `source.cluster.*` only connection and security keys)",
                    ignored.join("`, `")
                )
            };
            let refused = if requires_eos(p) {
                "; with `exactly.once.support=required` Connect refuses the connector \
                 (MirrorSourceConnector.validate)"
            } else {
                ""
            };
            sink.push(
                At {
                    rule: &CON001,
                    line: found.map_or(anchor, |(_, e)| e.line),
                    key: KEY,
                    value: found.map(|(_, e)| e.value.as_str()),
                },
                format!(
                    "MirrorSourceConnector's source consumer does not read read_committed (it \
                     keeps Kafka's default, read_uncommitted): records of aborted transactions \
                     are copied to the target as committed records{note}{refused}"
                ),
                format!("add `{KEY}=read_committed`"),
            );
        }
    }
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
                     the surplus tasks copy nothing and still take part in every rebalance (and, \
                     exactly-once, each holds a transactional producer)"
                ),
                format!("set `tasks.max` to at most {partitions}"),
            );
        }
    }
    buffer_setting(
        p,
        options.link,
        &[
            "source.consumer.receive.buffer.bytes",
            "consumer.receive.buffer.bytes",
        ],
        anchor,
        65_536,
        BufferSide::SourceReceive,
        sink,
    );
}

/// MM2004 for MirrorCheckpointConnector on Connect: `groups` (default `.*`, less
/// `groups.exclude`) migrated while `sync.group.offsets.enabled` (default false,
/// `MirrorCheckpointConfig`) leaves their offsets in checkpoints only.
fn mirror_checkpoint(c: &Connector, anchor: usize, sink: &mut Sink) {
    const SYNC: &str = "sync.group.offsets.enabled";
    let p = &c.config;
    let sync = p.get(SYNC);
    if is_true(sync) {
        return;
    }
    let groups = p.get("groups");
    if groups.is_some_and(|g| list(&g.value).is_empty()) {
        return;
    }
    let (line, severity, what) = match groups {
        Some(g) => (
            sync.map_or(g.line, |e| e.line),
            Severity::Error,
            format!("`groups = {}` are migrated", g.value.trim()),
        ),
        None => (
            sync.map_or(anchor, |e| e.line),
            Severity::Warning,
            "`groups` defaults to every group".to_string(),
        ),
    };
    sink.push_as(
        severity,
        At {
            rule: &MM2004,
            line,
            key: SYNC,
            value: sync.map(|e| e.value.as_str()),
        },
        format!(
            "MirrorCheckpointConnector: consumer groups {what}, but their offsets are only \
             checkpointed, never committed on the target (sync.group.offsets.enabled defaults \
             to false): moved consumers start from auto.offset.reset — skipping or re-reading \
             records"
        ),
        format!(
            "set `{SYNC}=true` (and keep the groups inactive on the target until cutover), or \
             translate offsets yourself (RemoteClusterUtils.translateOffsets)"
        ),
    );
}
