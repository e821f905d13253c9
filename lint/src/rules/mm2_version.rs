//! MirrorMaker 2 defects that depend on the Kafka version running it. Each rule names the Kafka
//! JIRA and the first releases with the fix, taken from Kafka's own history (the release tags
//! that contain the fixing commit, and the upgrade notes); they fire only when the version is
//! known: `cutover lint --kafka-version V`, else a `# kafka.version = V` comment in the file.

use super::confluent::list;
use super::mm2::{connector, flows, is_true, Flow};
use super::{At, Sink, MMV001, MMV002, MMV003, MMV004};
use crate::properties::Properties;
use crate::version::KafkaVersion;
use crate::{Options, Severity};

const fn v(major: u32, minor: u32, patch: u32) -> KafkaVersion {
    KafkaVersion::new(major, minor, patch)
}

/// KAFKA-12468 (with KAFKA-13659, same change, apache/kafka#13178): offset translation that
/// skips records or goes negative.
pub const KAFKA_12468_FIXED: &[KafkaVersion] = &[v(3, 4, 1), v(3, 5, 0)];
/// KAFKA-12635 (apache/kafka#11748): checkpoints for partitions without offset syncs.
pub const KAFKA_12635_FIXED: &[KafkaVersion] = &[v(3, 3, 0)];
/// KAFKA-14666 (apache/kafka#13429): offsets behind the latest sync never translated.
pub const KAFKA_14666_FIXED: &[KafkaVersion] = &[v(3, 4, 1), v(3, 5, 0)];
/// KAFKA-15905 (apache/kafka#15910): after a checkpoint-task restart, offsets from before it
/// never translated.
pub const KAFKA_15905_FIXED: &[KafkaVersion] = &[v(3, 7, 1), v(3, 8, 0)];
/// KAFKA-15906 (apache/kafka#14967): offset syncs also every offset.flush.interval.ms.
pub const KAFKA_15906_FIXED: &[KafkaVersion] = &[v(3, 7, 0)];
/// KAFKA-14021 (KIP-618 in MirrorSourceConnector, apache/kafka#12366) and KAFKA-10586 (KIP-710,
/// apache/kafka#13137): exactly-once in dedicated mode.
pub const EXACTLY_ONCE_FIXED: &[KafkaVersion] = &[v(3, 5, 0)];

/// The version the rules judge, and where it came from (for the message).
pub(crate) struct Known {
    pub version: KafkaVersion,
    pub origin: String,
    /// The line to anchor findings that have no key of their own (the comment's, else 1).
    pub line: usize,
}

/// A flow whose consumer-group offsets MM2 translates (checkpoints on, some group selected);
/// with the line and key a finding about translation points at.
fn translating(p: &Properties, flow: &Flow) -> Option<(usize, String, bool)> {
    if connector(p, flow, "emit.checkpoints.enabled")
        .is_some_and(|(_, e)| e.value.trim().eq_ignore_ascii_case("false"))
    {
        return None;
    }
    if connector(p, flow, "groups").is_some_and(|(_, e)| list(&e.value).is_empty()) {
        return None;
    }
    let sync = connector(p, flow, "sync.group.offsets.enabled");
    let synced = is_true(sync.as_ref().map(|(_, e)| *e));
    Some(match sync {
        Some((key, e)) => (e.line, key, synced),
        None => (
            flow.line,
            format!("{}.emit.checkpoints.enabled", flow.name()),
            false,
        ),
    })
}

fn upgrade(fixed: &[KafkaVersion]) -> String {
    let names: Vec<String> = fixed.iter().map(ToString::to_string).collect();
    format!(
        "run MirrorMaker 2 (the connect-mirror jars) from Kafka {} or later; the brokers can \
         stay on their version",
        names.join(" / ")
    )
}

pub(super) fn check(p: &Properties, known: &Known, options: &Options, sink: &mut Sink) {
    let version = known.version;
    let origin = &known.origin;
    for flow in flows(p) {
        let Some((line, key, synced)) = translating(p, &flow) else {
            continue;
        };
        let name = flow.name();
        let consequence = if synced {
            "and sync.group.offsets.enabled commits that offset to the group on the target"
        } else {
            "and that offset is what the checkpoints (and RemoteClusterUtils.translateOffsets) \
             hand to a group moved to the target"
        };
        if !version.has_fix(KAFKA_12468_FIXED) {
            let older = if version.has_fix(KAFKA_12635_FIXED) {
                String::new()
            } else {
                " Before 3.3.0 MM2 also checkpoints partitions that have no offset sync at all, \
                 copying the source offset unchanged (KAFKA-12635, fixed in 3.3.0)."
                    .to_string()
            };
            sink.push_as(
                if synced {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                At {
                    rule: &MMV001,
                    line,
                    key: &key,
                    value: None,
                },
                format!(
                    "{name}: MirrorMaker 2 {version} ({origin}) translates a group's offset as the \
                     last offset sync plus the distance upstream, which is wrong wherever the \
                     source partition has gaps (transaction markers, compacted or expired \
                     records) or the checkpoint task read stale syncs after a restart: the \
                     translated offset can lie past records not yet copied — a consumer moved \
                     to the target skips them — or past the end of the partition (negative lag), \
                     {consequence} (KAFKA-12468 with KAFKA-13659, fixed in 3.4.1 and 3.5.0).{older}"
                ),
                upgrade(KAFKA_12468_FIXED),
            );
        }
        if !version.has_fix(KAFKA_15905_FIXED) {
            let mut causes = Vec::new();
            if !version.has_fix(KAFKA_14666_FIXED) {
                causes.push(
                    "only the latest offset sync per partition is kept, so a group committed \
                     behind it — a slow or stopped consumer, the usual state at cutover — is \
                     translated to -1, no usable checkpoint (KAFKA-14666, fixed in 3.4.1 and \
                     3.5.0)",
                );
            }
            causes.push(
                "after the checkpoint task restarts (a rebalance, a node restart) it translates \
                 only against syncs read since, so offsets committed before the restart stay \
                 untranslated until the group moves on (KAFKA-15905, fixed in 3.7.1 and 3.8.0)",
            );
            sink.push(
                At {
                    rule: &MMV002,
                    line,
                    key: &key,
                    value: None,
                },
                format!(
                    "{name}: with MirrorMaker 2 {version} ({origin}) offsets behind the \
                     replication flow are not translated: {}; such a group starts on the target \
                     from auto.offset.reset (re-reading everything or skipping to the end)",
                    causes.join("; and ")
                ),
                format!(
                    "{}; until then check every migrated group's target offset before moving \
                     its consumers (`cutover run` does, per partition)",
                    upgrade(KAFKA_15905_FIXED)
                ),
            );
        }
        if !version.has_fix(KAFKA_15906_FIXED) {
            let lag_max = connector(p, &flow, "offset.lag.max");
            let lag_value = lag_max
                .as_ref()
                .map_or("100 (the default)".to_string(), |(_, e)| {
                    e.value.trim().to_string()
                });
            let (at_line, at_key) = lag_max
                .as_ref()
                .map_or((line, key.clone()), |(k, e)| (e.line, k.clone()));
            sink.push(
                At {
                    rule: &MMV003,
                    line: at_line,
                    key: &at_key,
                    value: lag_max.as_ref().map(|(_, e)| e.value.as_str()),
                },
                format!(
                    "{name}: MirrorMaker 2 {version} ({origin}) emits an offset sync only when a \
                     partition has moved offset.lag.max = {lag_value} records past the last one: \
                     after a burst ends, and on an idle or low-throughput partition, the last \
                     records copied have no sync, so a group that read them all is translated \
                     up to offset.lag.max records short and re-reads them on the target \
                     (KAFKA-15906: the latest sync also every offset.flush.interval.ms, fixed in \
                     3.7.0)"
                ),
                format!(
                    "{}; until then a smaller `offset.lag.max` narrows the gap at the cost of \
                     more offset-sync records",
                    upgrade(KAFKA_15906_FIXED)
                ),
            );
        }
    }
    if !version.has_fix(EXACTLY_ONCE_FIXED) {
        let eos = super::exactly_once_entry(p);
        if eos.is_some() || options.require_exactly_once {
            let (line, key, value) = match eos {
                Some(e) => (e.line, e.key.as_str(), Some(e.value.as_str())),
                None => (known.line, "exactly.once.source.support", None),
            };
            sink.push(
                At {
                    rule: &MMV004,
                    line,
                    key,
                    value,
                },
                format!(
                    "MirrorMaker 2 {version} ({origin}) has no exactly-once in dedicated mode: \
                     Kafka's docs date it \"as of version 3.5.0\" — the MirrorSourceConnector \
                     implements the KIP-618 exactly-once source APIs from 3.5.0 (KAFKA-14021) \
                     and dedicated MM2 nodes get the internal REST API that exactly-once needs \
                     from 3.5.0 (KIP-710, KAFKA-10586, needed to fence zombie tasks across \
                     nodes); before that the guarantee does not hold: plan for records copied \
                     twice after task restarts and rebalances"
                ),
                upgrade(EXACTLY_ONCE_FIXED),
            );
        }
    }
}
