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
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, OffsetSync};
use crate::config::ReplicatorConfig;
use crate::error::{ReplicatorError, Result};
use crate::topics::TopicSync;
use harness::quiet::QuietEof;

/// One partition's translated position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    pub topic: String,
    pub partition: i32,
    pub source_offset: i64,
    pub target_topic: String,
    pub target_offset: i64,
}

/// Which source consumer groups to move.
#[derive(Debug, Clone)]
pub enum GroupSelection {
    /// These groups, by name.
    Named(Vec<String>),
    /// Every source group whose name matches (anchored) and that has committed offsets on the
    /// replicated topics.
    Matching(regex::Regex),
    /// Every source group with committed offsets on the replicated topics.
    All,
}

/// What happened to one group (`cutover offsets sync --json` writes it, the scenario runner
/// reads it back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum SyncOutcome {
    /// Translated and committed on the target.
    Committed,
    /// Translated, nothing committed (`--dry-run`).
    DryRun,
    /// Not moved: the group has members on the target (offsets of a live group are never
    /// overwritten).
    ActiveOnTarget { members: usize, state: String },
    /// Not moved: the translation or the commit failed.
    Failed { reason: String },
}

/// One group's translation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSync {
    pub group: String,
    #[serde(flatten)]
    pub outcome: SyncOutcome,
    pub partitions: Vec<Translation>,
}

impl std::fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncOutcome::Committed => write!(f, "committed on the target"),
            SyncOutcome::DryRun => write!(f, "translated (dry run, nothing committed)"),
            SyncOutcome::ActiveOnTarget { members, state } => write!(
                f,
                "NOT moved: the group is active on the target ({members} members, state {state}); stop its consumers first, offsets of a live group are not overwritten"
            ),
            SyncOutcome::Failed { reason } => write!(f, "NOT moved: {reason}"),
        }
    }
}

impl GroupSync {
    /// The group is where it should be on the target (or would be, in a dry run).
    pub fn ok(&self) -> bool {
        matches!(self.outcome, SyncOutcome::Committed | SyncOutcome::DryRun)
    }
}

/// Translates the committed offsets of every selected group and (unless `dry_run`) commits
/// them on the target, a few groups at a time. What every group shares is read once: the
/// selected topics, the offset syncs, the target's groups; a source and a target reader per
/// thread serve every partition's scan. A group that cannot be moved is reported with its reason and
/// the others still move. Blocking; `runtime` runs the admin calls.
pub fn sync_groups(
    config: &std::sync::Arc<ReplicatorConfig>,
    selection: &GroupSelection,
    dry_run: bool,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<GroupSync>> {
    let whole = |reason: String| ReplicatorError::OffsetsSync {
        group: match selection {
            GroupSelection::Named(g) => g.join(","),
            GroupSelection::Matching(r) => format!("/{}/", r.as_str()),
            GroupSelection::All => "*".into(),
        },
        reason,
    };
    let began = Instant::now();
    let phase = |what: &str| {
        tracing::debug!(
            elapsed_ms = began.elapsed().as_millis() as u64,
            "offsets sync: {what}"
        )
    };
    let topics = runtime.block_on(async {
        let sync = TopicSync::new(config.clone()).await?;
        sync.selected_source_topics().await
    })?;
    phase("source topics listed");
    let mut tpl = TopicPartitionList::new();
    for (t, n) in &topics {
        for p in 0..*n {
            tpl.add_partition(t, p);
        }
    }
    let source_cfg = config.source.to_rdkafka()?;
    let target_cfg = config.target.to_rdkafka()?;
    let groups: Vec<String> = match selection {
        GroupSelection::Named(names) => names.clone(),
        GroupSelection::Matching(_) | GroupSelection::All => {
            let lister: BaseConsumer = source_cfg
                .create()
                .map_err(|e| ReplicatorError::kafka("source: creating a client", e))?;
            let list = lister
                .fetch_group_list(None, Duration::from_secs(60))
                .map_err(|e| ReplicatorError::kafka("source: listing consumer groups", e))?;
            let mut names: Vec<String> = list
                .groups()
                .iter()
                .map(|g| g.name().to_string())
                // The replicator's own groups are not application groups.
                .filter(|g| {
                    *g != config.group_id && !g.starts_with(&format!("{}-", config.group_id))
                })
                .filter(|g| match selection {
                    GroupSelection::Matching(re) => re.is_match(g),
                    _ => true,
                })
                .collect();
            names.sort();
            names
        }
    };
    // Committed source positions of every group on the selected topics, read by a few
    // threads at once (a client per group: a coordinator lookup and an offset fetch each).
    phase("groups listed");
    let read = parallel(&groups, |_, group| committed_positions(config, group, &tpl))?;
    phase("committed positions read");
    let positions: Vec<(String, Positions)> = groups
        .into_iter()
        .zip(read)
        // Listed groups without offsets on these topics are someone else's; a named one is an
        // error.
        .filter(|(_, at)| !at.is_empty() || matches!(selection, GroupSelection::Named(_)))
        .collect();
    if positions.is_empty() {
        return Err(whole(
            "no source consumer group selected has committed offsets on the replicated topics"
                .into(),
        ));
    }
    let source_id =
        checkpoint::source_identity(&config.source.to_rdkafka()?, Duration::from_secs(30))?;
    phase("source identity read");
    let syncs = checkpoint::read_offset_syncs(
        &target_cfg,
        &config.offset_syncs_topic,
        &config.group_id,
        &source_id,
        Duration::from_secs(60),
    )?;
    phase("offset syncs read");
    let target_admin: BaseConsumer = target_cfg
        .create()
        .map_err(|e| ReplicatorError::kafka("target: creating a client", e))?;
    // Groups with members on the target: (members, state) by name.
    let active: std::collections::HashMap<String, (usize, String)> = target_admin
        .fetch_group_list(None, Duration::from_secs(60))
        .map_err(|e| ReplicatorError::kafka("target: listing consumer groups", e))?
        .groups()
        .iter()
        .filter(|g| !g.members().is_empty())
        .map(|g| {
            (
                g.name().to_string(),
                (g.members().len(), g.state().to_string()),
            )
        })
        .collect();
    phase("target groups listed");
    // Every (group, partition) translated on up to SYNC_THREADS threads at once (a scan waits
    // on fetch round trips, not on the CPU); each thread keeps one source and one target
    // reader for every partition it scans.
    let jobs: Vec<(usize, &str, i32, i64)> = positions
        .iter()
        .enumerate()
        .flat_map(|(g, (_, at))| at.iter().map(move |(t, p, s)| (g, t.as_str(), *p, *s)))
        .collect();
    let scanners = std::sync::Mutex::new(Vec::<(Scanner, Scanner)>::new());
    let translated = parallel(&jobs, |_, &(_, topic, p, s)| {
        let pair = match scanners.lock().map(|mut s| s.pop()) {
            Ok(Some(pair)) => pair,
            _ => (Scanner::new(&source_cfg)?, Scanner::new(&target_cfg)?),
        };
        let (mut source_scan, mut target_scan) = pair;
        let target_topic = config.rename.target_of(topic);
        let sync = syncs
            .get(&(topic.to_string(), p))
            .and_then(|v| {
                v.iter()
                    .filter(|x| x.source_offset <= s)
                    .max_by_key(|x| x.source_offset)
            })
            .copied();
        let answer = translate(
            &mut source_scan,
            &mut target_scan,
            topic,
            &target_topic,
            p,
            s,
            sync,
        )
        .map(|t| Translation {
            topic: topic.to_string(),
            partition: p,
            source_offset: s,
            target_topic,
            target_offset: t,
        })
        .map_err(|r| format!("{topic}-{p} at offset {s}: {r}"));
        if let Ok(mut pool) = scanners.lock() {
            pool.push((source_scan, target_scan));
        }
        Ok(answer)
    })?;
    phase("partitions translated");
    let mut per_group: Vec<Vec<Translated>> = positions.iter().map(|_| Vec::new()).collect();
    for ((g, ..), answer) in jobs.iter().zip(translated) {
        per_group[*g].push(answer);
    }
    let groups: Vec<(&(String, Positions), Vec<Translated>)> =
        positions.iter().zip(per_group).collect();
    let moved = parallel(&groups, |_, ((group, at), answers)| {
        Ok(finish_group(
            config,
            group,
            at.is_empty(),
            answers,
            &active,
            dry_run,
        ))
    });
    phase("groups committed");
    // Closing a client waits for its broker threads: the readers close side by side (one
    // after another they took 1.3-1.9 s for 8 threads' pairs).
    let pool = scanners.into_inner().unwrap_or_default();
    std::thread::scope(|scope| {
        for pair in pool {
            scope.spawn(move || drop(pair));
        }
    });
    moved
}

/// One partition's translation, or why it failed.
type Translated = std::result::Result<Translation, String>;

/// Per group: (topic, partition, committed offset).
type Positions = Vec<(String, i32, i64)>;

/// How many groups are read, translated and committed at once: each scan waits on a fetch
/// round trip, not on the CPU, so a few threads move hundreds of groups in seconds.
const SYNC_THREADS: usize = 8;

/// `f` over every item on up to [`SYNC_THREADS`] threads, the answers in the items' order; the
/// first error (in that order) is the answer.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(usize, &T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = SYNC_THREADS.min(items.len()).max(1);
    let mut answers: Vec<(usize, Result<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(i, item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if answers.len() != items.len() {
        return Err(ReplicatorError::OffsetsSync {
            group: "*".into(),
            reason: "a worker thread panicked".into(),
        });
    }
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, r)| r).collect()
}

/// One group's committed source positions on the partitions of `tpl`.
fn committed_positions(
    config: &ReplicatorConfig,
    group: &str,
    tpl: &TopicPartitionList,
) -> Result<Positions> {
    let mut cfg = config.source.reader(group)?;
    cfg.set("isolation.level", "read_committed");
    let reader: BaseConsumer<QuietEof> = cfg
        .create_with_context(QuietEof)
        .map_err(|e| ReplicatorError::kafka("source: creating a client", e))?;
    let committed = reader
        .committed_offsets(tpl.clone(), Duration::from_secs(30))
        .map_err(|e| {
            ReplicatorError::kafka(format!("source: committed offsets of group {group}"), e)
        })?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// One group's outcome from its partitions' translations: the first failure (in partition
/// order) fails it; a group active on the target is left alone; otherwise (unless `dry_run`)
/// its positions are committed on the target.
fn finish_group(
    config: &ReplicatorConfig,
    group: &str,
    nothing_committed: bool,
    answers: &[Translated],
    active: &std::collections::HashMap<String, (usize, String)>,
    dry_run: bool,
) -> GroupSync {
    let mut partitions = Vec::new();
    let mut failed = None;
    if nothing_committed {
        failed = Some("the group has no committed offsets on the selected source topics".into());
    }
    for a in answers {
        if failed.is_some() {
            break;
        }
        match a {
            Ok(t) => partitions.push(t.clone()),
            Err(r) => failed = Some(r.clone()),
        }
    }
    let outcome = if let Some(reason) = failed {
        SyncOutcome::Failed { reason }
    } else if let Some((members, state)) = active.get(group) {
        SyncOutcome::ActiveOnTarget {
            members: *members,
            state: state.clone(),
        }
    } else if dry_run {
        SyncOutcome::DryRun
    } else {
        match commit(config, group, &partitions) {
            Ok(()) => SyncOutcome::Committed,
            Err(reason) => SyncOutcome::Failed { reason },
        }
    };
    // A group moved is the usual answer (every interval under `sync_groups`): debug; one
    // left alone or failed says why at info.
    if matches!(outcome, SyncOutcome::Committed | SyncOutcome::DryRun) {
        tracing::debug!(%group, partitions = partitions.len(), ?outcome, "consumer group offsets");
    } else {
        tracing::info!(%group, partitions = partitions.len(), ?outcome, "consumer group offsets");
    }
    GroupSync {
        group: group.to_string(),
        outcome,
        partitions,
    }
}

/// Commits one group's translated positions on the target.
fn commit(
    config: &ReplicatorConfig,
    group: &str,
    partitions: &[Translation],
) -> std::result::Result<(), String> {
    let cfg = config.target.reader(group).map_err(|e| e.to_string())?;
    let target_group: BaseConsumer = cfg.create().map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    for t in partitions {
        tpl.add_partition_offset(
            &t.target_topic,
            t.partition,
            Offset::Offset(t.target_offset),
        )
        .map_err(|e| e.to_string())?;
    }
    target_group
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| format!("committing on the target: {e}"))
}

/// A record's key and value, for comparing a copy with its original.
type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The target position of source position `s`; see the module docs.
fn translate(
    source: &mut Scanner,
    target: &mut Scanner,
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
    source.scan(topic, p, from_source, |m| {
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
            let (low, _) = target
                .consumer
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
    target.scan(target_topic, p, t0 + 1, |m| {
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

/// A read-only, read-committed reader that scans one partition at a time (one per cluster for
/// a whole sync: creating a client per partition would cost seconds per group at scale).
struct Scanner {
    consumer: BaseConsumer<QuietEof>,
}

impl Scanner {
    fn new(config: &ClientConfig) -> Result<Self> {
        let mut c = config.clone();
        harness::reader::read_only(&mut c, "cutover-offsets-sync")
            .set("enable.partition.eof", "true")
            // A scan ends at the partition's end or at a record; a fetch waiting for more
            // data (500 ms by default) would hold up the next partition's first fetch.
            .set("fetch.wait.max.ms", "10")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        let consumer = c
            .create_with_context(QuietEof)
            .map_err(|e| ReplicatorError::kafka("creating a reader", e))?;
        Ok(Self { consumer })
    }

    /// Reads committed records of one partition from `start` until `visit` says stop or the
    /// end.
    fn scan(
        &mut self,
        topic: &str,
        p: i32,
        start: i64,
        mut visit: impl FnMut(&BorrowedMessage<'_>) -> bool,
    ) -> std::result::Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(start))
            .map_err(|e| e.to_string())?;
        self.consumer.assign(&tpl).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if Instant::now() > deadline {
                return Err(format!("reading {topic}-{p} timed out"));
            }
            match self.consumer.poll(Duration::from_millis(200)) {
                // Only this assignment's records count (a previous scan's may still be queued).
                Some(Ok(m)) if m.topic() != topic || m.partition() != p || m.offset() < start => {}
                Some(Ok(m)) if !visit(&m) => return Ok(()),
                Some(Ok(_)) => {}
                // librdkafka drops a previous assignment's queued events (op versions), so an
                // end of this partition is this scan's.
                Some(Err(KafkaError::PartitionEOF(q))) if q == p => return Ok(()),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => {
                    tracing::debug!(topic, partition = p, error = %e, "offsets sync read")
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_answers_in_the_items_order_and_the_first_error_wins() {
        let items: Vec<u64> = (0..50).collect();
        let doubled = parallel(&items, |i, x| {
            // Later items finish first: the order must come from the index, not the finish.
            std::thread::sleep(Duration::from_millis(50 - *x));
            assert_eq!(i as u64, *x);
            Ok(x * 2)
        })
        .unwrap();
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        let failed = parallel(&items, |_, x| {
            if *x == 7 || *x == 30 {
                Err(ReplicatorError::OffsetsSync {
                    group: format!("g{x}"),
                    reason: "no".into(),
                })
            } else {
                Ok(*x)
            }
        });
        match failed {
            Err(ReplicatorError::OffsetsSync { group, .. }) => assert_eq!(group, "g7"),
            other => panic!("{other:?}"),
        }
        assert!(parallel(&Vec::<u64>::new(), |_, x| Ok(*x))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_json_answer_reads_back_with_every_outcome() {
        let t = Translation {
            topic: "orders".into(),
            partition: 1,
            source_offset: 7,
            target_topic: "copy.orders".into(),
            target_offset: 9,
        };
        let groups: Vec<GroupSync> = [
            SyncOutcome::Committed,
            SyncOutcome::DryRun,
            SyncOutcome::ActiveOnTarget {
                members: 2,
                state: "Stable".into(),
            },
            SyncOutcome::Failed {
                reason: "not caught up".into(),
            },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| GroupSync {
            group: format!("g{i}"),
            outcome,
            partitions: vec![t.clone()],
        })
        .collect();
        let json = serde_json::to_string(&groups).unwrap();
        assert!(
            json.contains(r#""outcome":"active-on-target","members":2"#),
            "{json}"
        );
        let back: Vec<GroupSync> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, groups);
        assert!(back[0].ok() && back[1].ok() && !back[2].ok() && !back[3].ok());
        assert_eq!(back[3].outcome.to_string(), "NOT moved: not caught up");
    }
}
