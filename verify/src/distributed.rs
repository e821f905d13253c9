//! One verification shared by several processes (`cutover verify --group ID`), and the merge of
//! their partial verdicts (`cutover verify --merge`).
//!
//! Partitions are independent, so the work splits by partition. Each member joins consumer
//! group `ID` on the source cluster, subscribed to the selected topics, only to be told which
//! partitions are its own: the group consumer pauses every partition it is given (it never
//! fetches) and never commits (auto-commit off, no commit call). The data is read as in a
//! single-process verification, by assigned consumers outside any group.
//!
//! Protocol, deliberately simple:
//! 1. join, and wait until the assignment has not changed for `settle` (twice that for an empty share) (a member that joins
//!    later moves partitions while the others still wait);
//! 2. check the partitions assigned at that moment; a partition revoked before its turn is left
//!    to its new owner, one assigned after settling is ignored (its former owner checks it);
//! 3. stay in the group `settle` longer, so that a member still settling does not inherit this
//!    member's partitions when it leaves; then drop from the partial any partition revoked
//!    meanwhile (its new owner checks it) and write the partial verdict.
//!
//! The cooperative-sticky assignor keeps movements to the minimum. What the protocol cannot
//! prevent (a member started long after the others finished, a member that crashed) the merge
//! catches: a partition covered twice or not at all is an error naming the partitions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::error::VerifyError;
use crate::fingerprint::FingerprintOptions;
use crate::reader::{
    assemble, check_partitions, jobs, plan, preview_position, Keep, KeyPreviews, PartitionResult,
    PlannedTopic, Previewer, Rename, VerifyOptions, VerifyProgress,
};
use crate::verdict::{Position, Promises, Verdict};

/// What a partial verdict file says it is.
pub const PARTIAL_FORMAT: &str = "cutover-partial-verdict/1";

/// How a member takes part in a group.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Consumer group id on the source cluster.
    pub id: String,
    /// The assignment must stay unchanged this long before checking starts; the member also
    /// stays this long in the group after checking.
    pub settle: Duration,
    /// Longest wait for a stable assignment.
    pub join_timeout: Duration,
    /// Name of this member in its partial verdict.
    pub member: String,
}

/// The settings that decide a verdict: every member of a group must use the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub topics: String,
    pub rename: Rename,
    pub until_ms: Option<i64>,
    pub fingerprint: FingerprintOptions,
    pub promises: Promises,
    pub allow_expiry: bool,
    pub examples_per_class: usize,
    pub check_offsets: bool,
    pub check_order: bool,
    pub anomaly_memory: usize,
}

impl Settings {
    pub fn of(options: &VerifyOptions) -> Settings {
        Settings {
            topics: options.topics.clone(),
            rename: options.rename.clone(),
            until_ms: options.until_ms,
            fingerprint: options.fingerprint.clone(),
            promises: options.promises.clone(),
            allow_expiry: options.allow_expiry,
            examples_per_class: options.matching.examples_per_class,
            check_offsets: options.matching.check_offsets,
            check_order: options.matching.check_order,
            anomaly_memory: options.matching.anomaly_memory,
        }
    }

    fn options(&self) -> VerifyOptions {
        let mut options = VerifyOptions {
            topics: self.topics.clone(),
            rename: self.rename.clone(),
            until_ms: self.until_ms,
            fingerprint: self.fingerprint.clone(),
            promises: self.promises.clone(),
            allow_expiry: self.allow_expiry,
            ..VerifyOptions::default()
        };
        options.matching.examples_per_class = self.examples_per_class;
        options.matching.check_offsets = self.check_offsets;
        options.matching.check_order = self.check_order;
        options.matching.anomaly_memory = self.anomaly_memory;
        options
    }
}

/// Which cluster a key preview was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
}

/// The key of a record an example may show, read by the member that checked its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub side: Side,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
}

/// What one member of a group found: the partitions it covered, with everything the merge
/// needs to build the same verdict one process would have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialVerdict {
    /// [`PARTIAL_FORMAT`].
    pub format: String,
    pub group: String,
    pub member: String,
    pub settings: Settings,
    /// Every selected topic with all its partitions (what the members together must cover).
    pub topics: Vec<PlannedTopic>,
    /// source topic → partitions this member checked.
    pub covered: BTreeMap<String, Vec<i32>>,
    pub results: Vec<PartitionResult>,
    pub previews: Vec<Preview>,
    pub duration_ms: u64,
}

/// Lost/phantom records per partition whose keys are saved for examples (beyond the examples
/// themselves): examples come from the first ones of a partition, moved-partition examples from
/// any lost record, so a few times the example count covers all but unusual verdicts.
const PREVIEWS_PER_LIST: usize = 4;

// ---------------------------------------------------------------------------------------------
// Membership.

#[derive(Default)]
struct GroupState {
    assignment: Mutex<BTreeSet<(String, i32)>>,
    /// Rebalance callbacks seen (every rebalance calls back, even with nothing to add).
    generation: AtomicU64,
    last_change: Mutex<Option<Instant>>,
    error: Mutex<Option<String>>,
}

impl GroupState {
    fn assigned(&self) -> BTreeSet<(String, i32)> {
        self.assignment
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    fn has(&self, topic: &str, partition: i32) -> bool {
        self.assignment
            .lock()
            .is_ok_and(|a| a.contains(&(topic.to_string(), partition)))
    }

    fn quiet_for(&self) -> Option<Duration> {
        self.last_change
            .lock()
            .ok()
            .and_then(|t| t.map(|t| t.elapsed()))
    }
}

struct GroupContext {
    state: Arc<GroupState>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let elements = |tpl: &TopicPartitionList| -> Vec<(String, i32)> {
            tpl.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect()
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                // Never fetch: the verification reads the data with its own consumers.
                if tpl.count() > 0 {
                    if let Err(e) = consumer.pause(tpl) {
                        tracing::warn!(error = %e, "pausing assigned partitions");
                    }
                }
                if let Ok(mut a) = self.state.assignment.lock() {
                    a.extend(elements(tpl));
                }
            }
            Rebalance::Revoke(tpl) => {
                if let Ok(mut a) = self.state.assignment.lock() {
                    for e in elements(tpl) {
                        a.remove(&e);
                    }
                }
            }
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "group rebalance error");
            }
        }
        self.state.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut t) = self.state.last_change.lock() {
            *t = Some(Instant::now());
        }
    }
}

/// A member of the group: a thread that keeps polling the group consumer (rebalances are served
/// by polls) until dropped, which leaves the group.
struct Membership {
    state: Arc<GroupState>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Membership {
    fn join(
        source: &ClientProps,
        group: &GroupOptions,
        topics: &[String],
    ) -> Result<Membership, VerifyError> {
        let kafka = |detail: String| VerifyError::Kafka {
            cluster: "source".into(),
            detail,
        };
        let mut config = source.reader(&group.id)?;
        config
            .set("auto.offset.reset", "latest")
            .set("partition.assignment.strategy", "cooperative-sticky");
        let state = Arc::new(GroupState::default());
        let consumer: BaseConsumer<GroupContext> = config
            .create_with_context(GroupContext {
                state: state.clone(),
            })
            .map_err(|e| kafka(format!("creating the group consumer: {e}")))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| kafka(format!("joining group `{}`: {e}", group.id)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, state2, id) = (stop.clone(), state.clone(), group.id.clone());
        let thread = std::thread::Builder::new()
            .name("cutover-group".into())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    match consumer.poll(Duration::from_millis(100)) {
                        // Paused partitions deliver nothing; anything that slips through
                        // before the pause is dropped unread.
                        Some(Ok(_)) | None => {}
                        Some(Err(e)) => {
                            tracing::debug!(group = %id, error = %e, "group consumer");
                            if is_fatal(&e) {
                                if let Ok(mut err) = state2.error.lock() {
                                    *err = Some(e.to_string());
                                }
                            }
                        }
                    }
                }
                // Dropping the consumer closes it: it leaves the group, committing nothing.
                drop(consumer);
            })
            .map_err(|e| kafka(format!("starting the group thread: {e}")))?;
        Ok(Membership {
            state,
            stop,
            thread: Some(thread),
        })
    }

    fn failure(&self) -> Option<String> {
        self.state.error.lock().ok().and_then(|e| e.clone())
    }

    /// Waits until the assignment has not changed for `settle`.
    async fn settled(&self, group: &GroupOptions) -> Result<BTreeSet<(String, i32)>, VerifyError> {
        let started = Instant::now();
        loop {
            if let Some(e) = self.failure() {
                return Err(group_error(
                    group,
                    format!("the group consumer failed: {e}"),
                ));
            }
            // An empty share is most often the first of a cooperative rebalance's two rounds
            // (the others revoke first, this member is given partitions in the second): it
            // settles only after twice as long.
            let need = if self.state.assigned().is_empty() {
                group.settle * 2
            } else {
                group.settle
            };
            if self.state.generation.load(Ordering::SeqCst) > 0
                && self.state.quiet_for().is_some_and(|q| q >= need)
            {
                return Ok(self.state.assigned());
            }
            if started.elapsed() > group.join_timeout {
                return Err(group_error(
                    group,
                    format!(
                        "no stable partition assignment within {} s (is the source reachable, and are the other members rebalancing without end?)",
                        group.join_timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn leave(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("the group thread panicked while leaving");
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn is_fatal(e: &rdkafka::error::KafkaError) -> bool {
    harness::kafka_error::ErrorClass::of(e).is_fatal()
}

fn group_error(group: &GroupOptions, detail: String) -> VerifyError {
    VerifyError::Group {
        group: group.id.clone(),
        detail,
    }
}

/// Checks this member's share of the selected partitions and returns its partial verdict.
pub async fn verify_partial(
    source: &ClientProps,
    target: &ClientProps,
    options: &VerifyOptions,
    group: &GroupOptions,
    progress: Arc<dyn Fn(VerifyProgress) + Send + Sync>,
) -> Result<PartialVerdict, VerifyError> {
    let started = Instant::now();
    let topics = plan(source, target, options).await?;
    let names: Vec<String> = topics.iter().map(|t| t.source_topic.clone()).collect();
    let member = Membership::join(source, group, &names)?;
    let settled = member.settled(group).await?;
    tracing::info!(
        group = %group.id,
        partitions = settled.len(),
        "assignment settled"
    );
    let mine: Vec<_> = jobs(&topics, options.promises.partitions)
        .into_iter()
        .filter(|j| settled.contains(&(j.source_topic.clone(), j.owner)))
        .collect();
    progress(VerifyProgress::Planned {
        partitions: mine.len(),
    });
    let state = member.state.clone();
    let keep: Keep = Arc::new(move |topic, partition| state.has(topic, partition));
    let mut results = check_partitions(source, target, options, mine, progress, Some(keep)).await?;
    // Stay a little, so a member still settling does not inherit these partitions on leaving.
    tokio::time::sleep(group.settle).await;
    if let Some(e) = member.failure() {
        return Err(group_error(
            group,
            format!("the group consumer failed: {e}"),
        ));
    }
    results.retain(|r| {
        let owner = topics
            .iter()
            .find(|t| t.source_topic == r.source_topic)
            .and_then(|t| t.owner_of(r.partition))
            .unwrap_or(r.partition);
        let still = member.state.has(&r.source_topic, owner);
        if !still {
            tracing::warn!(
                topic = %r.source_topic,
                partition = r.partition,
                "partition handed to another member during verification; left to it"
            );
        }
        still
    });
    member.leave();

    let previewer = Previewer::new(source, target);
    let previews = previews_for(
        &topics,
        &results,
        options.matching.examples_per_class,
        &previewer,
    );
    let mut covered: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for r in &results {
        covered
            .entry(r.source_topic.clone())
            .or_default()
            .push(r.partition);
    }
    Ok(PartialVerdict {
        format: PARTIAL_FORMAT.to_string(),
        group: group.id.clone(),
        member: group.member.clone(),
        settings: Settings::of(options),
        topics,
        covered,
        results,
        previews,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Keys of the records the examples of these partitions may show: their own examples, and the
/// first lost and phantom records of each partition (examples the merge derives from them).
fn previews_for(
    topics: &[PlannedTopic],
    results: &[PartitionResult],
    examples_per_class: usize,
    previewer: &Previewer,
) -> Vec<Preview> {
    let per_list = examples_per_class.saturating_mul(PREVIEWS_PER_LIST);
    let mut wanted: BTreeSet<(Side, String, i32, i64)> = BTreeSet::new();
    for r in results {
        let Some(target_topic) = topics
            .iter()
            .find(|t| t.source_topic == r.source_topic)
            .map(|t| t.target_topic.clone())
        else {
            continue;
        };
        let at = |topic: &str, partition: Option<i32>, offset: i64| Position {
            topic: topic.to_string(),
            partition: partition.unwrap_or(r.partition),
            offset,
        };
        for e in &r.outcome.examples {
            let source = e
                .source_offset
                .map(|o| at(&r.source_topic, e.source_partition, o));
            let target: Vec<Position> = e
                .target_offsets
                .iter()
                .enumerate()
                .map(|(i, o)| at(&target_topic, e.target_partitions.get(i).copied(), *o))
                .collect();
            if let Some((is_source, pos)) = preview_position(e.class, source.as_ref(), &target) {
                let side = if is_source {
                    Side::Source
                } else {
                    Side::Target
                };
                wanted.insert((side, pos.topic, pos.partition, pos.offset));
            }
        }
        for (_, o) in r.outcome.lost.iter().take(per_list) {
            wanted.insert((Side::Source, r.source_topic.clone(), r.partition, *o));
        }
        for (_, o) in r.outcome.phantom.iter().take(per_list) {
            wanted.insert((Side::Target, target_topic.clone(), r.partition, *o));
        }
    }
    // Every key at once, as the single-process verdict reads them (one fetch per side).
    let wanted: Vec<(Side, Position)> = wanted
        .into_iter()
        .map(|(side, topic, partition, offset)| {
            (
                side,
                Position {
                    topic,
                    partition,
                    offset,
                },
            )
        })
        .collect();
    let asked: Vec<(bool, Position)> = wanted
        .iter()
        .map(|(side, pos)| (*side == Side::Source, pos.clone()))
        .collect();
    let mut previews = Vec::new();
    for ((side, pos), key) in wanted.into_iter().zip(previewer.previews(&asked)) {
        if let Some(key) = key {
            previews.push(Preview {
                side,
                topic: pos.topic,
                partition: pos.partition,
                offset: pos.offset,
                key,
            });
        }
    }
    previews
}

// ---------------------------------------------------------------------------------------------
// Merge.

/// Previews saved in partial verdicts.
struct SavedPreviews(HashMap<(Side, String, i32, i64), String>);

impl KeyPreviews for SavedPreviews {
    fn previews(&self, wanted: &[(bool, Position)]) -> Vec<Option<String>> {
        wanted
            .iter()
            .map(|(source, pos)| {
                let side = if *source { Side::Source } else { Side::Target };
                self.0
                    .get(&(side, pos.topic.clone(), pos.partition, pos.offset))
                    .cloned()
            })
            .collect()
    }
}

/// Reads partial verdicts: files, or every `partial-*.json` in directories.
pub fn load_partials(
    paths: &[impl AsRef<Path>],
) -> Result<Vec<(String, PartialVerdict)>, VerifyError> {
    let merge = |detail: String| VerifyError::Merge(detail);
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if path.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| merge(format!("reading {}: {e}", path.display())))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("partial-") && n.ends_with(".json"))
                })
                .collect();
            if found.is_empty() {
                return Err(merge(format!(
                    "{} holds no partial verdict (partial-*.json)",
                    path.display()
                )));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.to_path_buf());
        }
    }
    let mut partials = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text =
            std::fs::read_to_string(&file).map_err(|e| merge(format!("reading {name}: {e}")))?;
        let partial: PartialVerdict = serde_json::from_str(&text)
            .map_err(|e| merge(format!("{name} is not a partial verdict: {e}")))?;
        if partial.format != PARTIAL_FORMAT {
            return Err(merge(format!(
                "{name}: format `{}`, expected `{PARTIAL_FORMAT}`",
                partial.format
            )));
        }
        partials.push((name, partial));
    }
    Ok(partials)
}

/// Combines partial verdicts into the verdict one process would have given. Errors when the
/// partials disagree on what was verified, or when a partition is covered twice or not at all.
pub fn merge(partials: &[(String, PartialVerdict)]) -> Result<Verdict, VerifyError> {
    let merge = |detail: String| VerifyError::Merge(detail);
    let Some((first_name, first)) = partials.first() else {
        return Err(merge("no partial verdict given".into()));
    };
    for (name, p) in &partials[1..] {
        if p.group != first.group {
            return Err(merge(format!(
                "{name} is from group `{}`, {first_name} from group `{}`",
                p.group, first.group
            )));
        }
        if p.settings != first.settings {
            return Err(merge(format!(
                "{name} and {first_name} were made with different settings ({})",
                differing_settings(&p.settings, &first.settings)
            )));
        }
        if p.topics != first.topics {
            return Err(merge(format!(
                "{name} and {first_name} selected different topics or partitions (was a topic created or changed between the members' starts?)"
            )));
        }
    }
    let preserve = first.settings.promises.partitions;
    let mut owner: BTreeMap<(String, i32), &str> = BTreeMap::new();
    let mut results = Vec::new();
    let mut previews = HashMap::new();
    for (name, p) in partials {
        let listed: BTreeSet<(String, i32)> = p
            .covered
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |x| (t.clone(), *x)))
            .collect();
        let with_results: BTreeSet<(String, i32)> = p
            .results
            .iter()
            .map(|r| (r.source_topic.clone(), r.partition))
            .collect();
        if listed != with_results || with_results.len() != p.results.len() {
            return Err(merge(format!(
                "{name}: the partitions it lists as covered do not match its results"
            )));
        }
        for key in with_results {
            if !first
                .topics
                .iter()
                .any(|t| t.source_topic == key.0 && t.units(preserve).contains(&key.1))
            {
                return Err(merge(format!(
                    "{name} covers {}-{}, which is not among the selected partitions",
                    key.0, key.1
                )));
            }
            if let Some(other) = owner.insert(key.clone(), name) {
                return Err(merge(format!(
                    "partition {}-{} is covered by both {other} and {name} (a member joined the group after the others had settled, or partials of two runs are mixed); run the verification again",
                    key.0, key.1
                )));
            }
        }
        results.extend(p.results.iter().cloned());
        for v in &p.previews {
            previews.insert(
                (v.side, v.topic.clone(), v.partition, v.offset),
                v.key.clone(),
            );
        }
    }
    let missing: Vec<String> = first
        .topics
        .iter()
        .flat_map(|t| {
            t.units(preserve)
                .into_iter()
                .map(move |p| (t.source_topic.clone(), p))
        })
        .filter(|k| !owner.contains_key(k))
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        return Err(merge(format!(
            "{} partition(s) of the selected topics are covered by no partial verdict: {}{} (a member failed or has not finished)",
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() { ", …" } else { "" }
        )));
    }
    let duration = partials
        .iter()
        .map(|(_, p)| p.duration_ms)
        .max()
        .unwrap_or(0);
    Ok(assemble(
        &first.topics,
        results,
        &first.settings.options(),
        &SavedPreviews(previews),
        duration,
    ))
}

fn differing_settings(a: &Settings, b: &Settings) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return "unknown".into();
    };
    let names: Vec<&str> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    names.join(", ")
}
