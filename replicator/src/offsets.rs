//! Consumer-group cutover: a source group's committed offsets translated to the target.
//!
//! For a source position S (the next record the group would read) of partition p: take the
//! latest offset sync (s0 → t0: source record s0 was copied to target offset t0) with s0 ≤ S;
//! when s0 = S the position is t0; otherwise count the k committed source records in (s0, S)
//! and step k committed records forward from t0 on the target: the group's target position is
//! one past the k-th (t0 + 1 when k = 0). Every transaction that opens a worker's life (and one
//! every `offset_sync_interval_ms`) carries the sync of its first record, so a committed
//! position always has a sync at or below it. The last record stepped over is compared with the
//! source record it should copy, so a translation never silently lands on the wrong record.
//! Exact in exactly-once mode; a group active on the target is never overwritten.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;

use crate::checkpoint::{self, OffsetSync};
use crate::config::ReplicatorConfig;
use crate::error::{ReplicatorError, Result};
use crate::topics::TopicSync;
use harness::quiet::QuietEof;

/// One partition's translated position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    pub topic: String,
    pub partition: i32,
    pub source_offset: i64,
    pub target_topic: String,
    pub target_offset: i64,
}

/// Translates the committed offsets of `group` and (unless `dry_run`) commits them for the
/// same group on the target. Blocking; `runtime` runs the admin calls.
pub fn sync_group(
    config: &std::sync::Arc<ReplicatorConfig>,
    group: &str,
    dry_run: bool,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<Translation>> {
    let fail = |reason: String| ReplicatorError::OffsetsSync {
        group: group.to_string(),
        reason,
    };
    let topics = runtime.block_on(async {
        let sync = TopicSync::new(config.clone()).await?;
        sync.selected_source_topics().await
    })?;
    let mut source_cfg = config.source.reader(group)?;
    source_cfg
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    let committed_reader: BaseConsumer<QuietEof> = source_cfg
        .create_with_context(QuietEof)
        .map_err(|e| ReplicatorError::kafka("source: creating a client", e))?;
    let mut tpl = TopicPartitionList::new();
    for (t, n) in &topics {
        for p in 0..*n {
            tpl.add_partition(t, p);
        }
    }
    let committed = committed_reader
        .committed_offsets(tpl, Duration::from_secs(30))
        .map_err(|e| {
            ReplicatorError::kafka(format!("source: committed offsets of group {group}"), e)
        })?;
    let positions: Vec<(String, i32, i64)> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
            _ => None,
        })
        .collect();
    if positions.is_empty() {
        return Err(fail(
            "the group has no committed offsets on the selected source topics".into(),
        ));
    }
    let target_cfg = config.target.to_rdkafka()?;
    let source_id =
        checkpoint::source_identity(&config.source.to_rdkafka()?, Duration::from_secs(30))?;
    let syncs = checkpoint::read_offset_syncs(
        &target_cfg,
        &config.offset_syncs_topic,
        &config.group_id,
        &source_id,
        Duration::from_secs(60),
    )?;
    let mut out = Vec::new();
    for (topic, p, s) in positions {
        let target_topic = config.rename.target_of(&topic);
        let pair = syncs
            .get(&(topic.clone(), p))
            .and_then(|v| {
                v.iter()
                    .filter(|x| x.source_offset <= s)
                    .max_by_key(|x| x.source_offset)
            })
            .copied();
        let t = translate(&source_cfg, &target_cfg, &topic, &target_topic, p, s, pair)
            .map_err(|r| fail(format!("{topic}-{p} at offset {s}: {r}")))?;
        out.push(Translation {
            topic,
            partition: p,
            source_offset: s,
            target_topic,
            target_offset: t,
        });
    }
    let target_group_cfg = config.target.reader(group)?;
    let target_group: BaseConsumer = target_group_cfg
        .create()
        .map_err(|e| ReplicatorError::kafka("target: creating a client", e))?;
    let groups = target_group
        .fetch_group_list(Some(group), Duration::from_secs(30))
        .map_err(|e| ReplicatorError::kafka(format!("target: describing group {group}"), e))?;
    if let Some(g) = groups.groups().iter().find(|g| g.name() == group) {
        if !g.members().is_empty() {
            return Err(fail(format!(
                "the group is active on the target ({} members, state {}); stop its consumers first, offsets of a live group are not overwritten",
                g.members().len(),
                g.state()
            )));
        }
    }
    if !dry_run {
        let mut tpl = TopicPartitionList::new();
        for t in &out {
            tpl.add_partition_offset(
                &t.target_topic,
                t.partition,
                Offset::Offset(t.target_offset),
            )
            .map_err(|e| fail(e.to_string()))?;
        }
        target_group.commit(&tpl, CommitMode::Sync).map_err(|e| {
            ReplicatorError::kafka(format!("target: committing offsets of group {group}"), e)
        })?;
    }
    Ok(out)
}

/// A record's key and value, for comparing a copy with its original.
type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The target position of source position `s`; see the module docs.
fn translate(
    source: &ClientConfig,
    target: &ClientConfig,
    topic: &str,
    target_topic: &str,
    p: i32,
    s: i64,
    pair: Option<OffsetSync>,
) -> std::result::Result<i64, String> {
    let (from_source, from_target) = match pair {
        // The group's next record is the one the sync names: its copy is the next to read.
        Some(x) if x.source_offset == s => return Ok(x.target_offset),
        Some(x) => (x.source_offset + 1, Some(x.target_offset)),
        None => (0, None),
    };
    // The committed source records in [from_source, s); the last one for the sanity check.
    let mut k = 0u64;
    let mut last_source: Option<KeyValue> = None;
    scan(source, topic, p, from_source, |m| {
        if m.offset() >= s {
            return false;
        }
        k += 1;
        last_source = Some((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)));
        true
    })?;
    let Some(t0) = from_target else {
        if k == 0 {
            // Nothing before the position: the group starts at the target's beginning.
            let c: BaseConsumer = target.create().map_err(|e| e.to_string())?;
            let (low, _) = c
                .fetch_watermarks(target_topic, p, Duration::from_secs(30))
                .map_err(|e| e.to_string())?;
            return Ok(low);
        }
        return Err(format!(
            "{k} source records precede it but the replicator recorded no offset sync below it yet \
             (is this the replicator's config, and has it copied this partition in exactly-once mode?)"
        ));
    };
    if k == 0 {
        return Ok(t0 + 1);
    }
    let mut seen = 0u64;
    let mut landed: Option<(i64, KeyValue)> = None;
    scan(target, target_topic, p, t0 + 1, |m| {
        seen += 1;
        if seen == k {
            landed = Some((
                m.offset(),
                (m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)),
            ));
            return false;
        }
        true
    })?;
    let Some((offset, (key, value))) = landed else {
        return Err(format!(
            "the target holds only {seen} of the {k} records after the offset sync: the replicator has not caught up yet"
        ));
    };
    if let Some((skey, svalue)) = last_source {
        if skey != key || svalue != value {
            return Err(format!(
                "target record {target_topic}-{p}@{offset} is not a copy of the source record before the position: was the target written by something else?"
            ));
        }
    }
    Ok(offset + 1)
}

/// Reads committed records of one partition from `start` until `visit` says stop or the end.
fn scan(
    config: &ClientConfig,
    topic: &str,
    p: i32,
    start: i64,
    mut visit: impl FnMut(&BorrowedMessage<'_>) -> bool,
) -> std::result::Result<(), String> {
    let mut c = config.clone();
    harness::reader::read_only(&mut c, "cutover-offsets-sync")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer<QuietEof> =
        c.create_with_context(QuietEof).map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, Offset::Offset(start))
        .map_err(|e| e.to_string())?;
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if Instant::now() > deadline {
            return Err(format!("reading {topic}-{p} timed out"));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if !visit(&m) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(()),
            Some(Err(e)) => tracing::debug!(topic, partition = p, error = %e, "offsets sync read"),
            None => {}
        }
    }
}
