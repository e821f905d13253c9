//! Consumer-group cutover: an application group consumes the source during the workload and
//! stops; after the drain its offsets reach the target (the built-in replicator through
//! `cutover offsets sync`, other systems through their own sync); then each partition is
//! checked for where the group would resume on the target.
//!
//! The check itself (where the group resumes on the target: skipped, re-read, misplaced,
//! untranslated) is the checker's: `verify::resume`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;

use crate::error::ScenarioError;
use crate::spec::ConsumerGroupSpec;

/// An application consumer running on the source.
pub struct AppConsumer {
    pub group: String,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64, String>>,
}

impl AppConsumer {
    /// Starts consuming `topics` on the source as group `spec.id`; it stops by itself at
    /// `spec.stop_at_secs` after `started` (or when [`AppConsumer::finish`] is called).
    pub fn start(
        spec: &ConsumerGroupSpec,
        props: &ClientProps,
        topics: Vec<String>,
        started: Instant,
    ) -> Result<AppConsumer, ScenarioError> {
        let mut c = props.to_rdkafka()?;
        c.set("group.id", &spec.id)
            .set("enable.auto.commit", "true")
            .set(
                "auto.commit.interval.ms",
                spec.commit_interval_ms.to_string(),
            )
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer<QuietEof> = c
            .create_with_context(QuietEof)
            .map_err(|e| ScenarioError::System(format!("consumer group {}: {e}", spec.id)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let deadline = started + Duration::from_secs_f64(spec.stop_at_secs);
        let rate = spec.records_per_sec;
        let group = spec.id.clone();
        let handle = std::thread::Builder::new()
            .name(format!("app-{}", spec.id))
            .spawn(move || {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&names)
                    .map_err(|e| format!("subscribe: {e}"))?;
                let begun = Instant::now();
                let mut consumed = 0u64;
                while Instant::now() < deadline && !flag.load(Ordering::Acquire) {
                    if rate > 0 {
                        let allowed = (begun.elapsed().as_secs_f64() * rate as f64) as u64;
                        if consumed >= allowed {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    }
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(_)) => consumed += 1,
                        Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                        Some(Err(e)) => tracing::debug!(group = %group, error = %e, "app consumer"),
                    }
                }
                // The application's last commit: its position on the source.
                let committed = consumer.commit_consumer_state(CommitMode::Sync);
                consumer.unsubscribe();
                match committed {
                    // Nothing consumed since the last auto-commit (or at all): the committed
                    // position already is the application's.
                    Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {
                    }
                    other => other.map_err(|e| format!("final commit: {e}"))?,
                }
                Ok(consumed)
            })
            .map_err(|e| ScenarioError::System(format!("consumer group thread: {e}")))?;
        Ok(AppConsumer {
            group: spec.id.clone(),
            stop,
            handle,
        })
    }

    /// Stops it now (if still running) and returns how many records it consumed.
    pub fn finish(self) -> Result<u64, ScenarioError> {
        self.stop.store(true, Ordering::Release);
        match self.handle.join() {
            Ok(r) => {
                r.map_err(|e| ScenarioError::System(format!("consumer group {}: {e}", self.group)))
            }
            Err(_) => Err(ScenarioError::System(format!(
                "consumer group {}: its thread panicked",
                self.group
            ))),
        }
    }
}

/// Checks where `group` would resume on the target: the checker's work
/// ([`verify::resume::check`]).
pub use verify::resume::check;
use verify::resume::committed;

/// Waits, up to `bound`, until the group has a committed offset on the target for every
/// partition it committed on the source (a system that syncs group offsets itself does so on
/// its own schedule). True when it has; false at the bound (the check then reports the
/// partitions still untranslated).
pub fn wait_for_sync(
    group: &str,
    source: &ClientProps,
    target: &ClientProps,
    topics: &[(String, String)],
    bound: Duration,
) -> Result<bool, ScenarioError> {
    let src_topics: Vec<String> = topics.iter().map(|(s, _)| s.clone()).collect();
    let dst_topics: Vec<String> = topics.iter().map(|(_, t)| t.clone()).collect();
    let name_of: BTreeMap<&str, &str> = topics
        .iter()
        .map(|(s, t)| (s.as_str(), t.as_str()))
        .collect();
    let timeout = Duration::from_secs(10);
    let source_pos = committed(source, group, &src_topics, timeout)?;
    let deadline = std::time::Instant::now() + bound;
    loop {
        let target_pos = committed(target, group, &dst_topics, timeout)?;
        let synced = source_pos.iter().all(|((t, p), off)| {
            off.is_none() || {
                let dst = name_of.get(t.as_str()).copied().unwrap_or(t.as_str());
                matches!(target_pos.get(&(dst.to_string(), *p)), Some(Some(_)))
            }
        });
        if synced {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
/// How many consumer groups are awaited and checked on the target at once.
pub(crate) const GROUP_CHECKS: usize = 6;

/// One application group's move to the target, awaited and checked.
pub(crate) struct GroupJob {
    pub(crate) group: String,
    /// How long a system's own offset sync is waited for.
    pub(crate) sync_bound: Duration,
    /// How cutover translated the group's offsets (None: the system syncs them itself).
    pub(crate) translated: Option<String>,
    /// (source topic, target topic) of the topics the group reads.
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) fingerprint: verify::FingerprintOptions,
    pub(crate) source: harness::ClientProps,
    pub(crate) target: harness::ClientProps,
    pub(crate) consumed: u64,
}

impl GroupJob {
    /// Waits for a system's own offset sync when cutover did not translate, then checks where
    /// the group resumes on the target. The instant: when its offsets were on the target.
    pub(crate) async fn run(self) -> Result<(reports::GroupCutover, Instant), ScenarioError> {
        let began = Instant::now();
        let GroupJob {
            group,
            sync_bound,
            translated,
            pairs,
            fingerprint,
            source,
            target,
            consumed,
        } = self;
        let translated_by = match translated {
            Some(how) => how,
            None => {
                let (g, s, t, p) = (group.clone(), source.clone(), target.clone(), pairs.clone());
                let synced = tokio::task::spawn_blocking(move || {
                    crate::groups::wait_for_sync(&g, &s, &t, &p, sync_bound)
                })
                .await
                .map_err(|e| ScenarioError::System(format!("group sync wait: {e}")))??;
                format!(
                    "the system's own offset sync ({} within {} s)",
                    if synced { "seen" } else { "not complete" },
                    sync_bound.as_secs()
                )
            }
        };
        let translated_at = Instant::now();
        tracing::info!(%group, secs = began.elapsed().as_secs_f64(), %translated_by, "consumer group offsets translated");
        let g = group.clone();
        let mut cut = tokio::task::spawn_blocking(move || {
            crate::groups::check(
                &g,
                &source,
                &target,
                &pairs,
                &fingerprint,
                Duration::from_secs(30),
            )
        })
        .await
        .map_err(|e| ScenarioError::System(format!("group check task: {e}")))??;
        tracing::info!(%group, secs = began.elapsed().as_secs_f64(), exact = cut.exact(), "consumer group checked on the target");
        cut.translated_by = translated_by;
        cut.consumed_on_source = consumed;
        Ok((cut, translated_at))
    }
}
