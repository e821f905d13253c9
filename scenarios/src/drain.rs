//! The drain: after the workload stops, wait until the system under test has copied everything
//! the source committed, then hand over to the checker.
//!
//! The decision is [`decide`], a pure function of what was observed, for every system alike:
//! every source partition's committed records are read (`read_committed`, markers and aborted
//! records do not count) and compared with the target partition(s) they are copied to. Caught
//! up is a *position*, not a count: a partition is copied when the source partition's last
//! committed record is on the target (as many times as it occurs among the source's recent
//! records, so an earlier identical record cannot stand for it, and duplicates of earlier
//! records cannot hide a tail not copied yet). A copier that lost records but copied past them
//! is caught up: the checker counts what it lost, without the drain waiting out its timeout
//! (the target must then be quiet twice as long, [`QUIET`] × 2, since counts do not agree). A
//! system that reports its own lag (the built-in replicator's metrics) must also report none; an
//! endpoint that does not answer counts as lag, never as zero. A target short of the source's
//! last records that stands still for [`STUCK_AFTER`] ends the drain early with where it
//! stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

use crate::error::ScenarioError;

/// How long a target short of the source may stand still before the drain gives up early.
/// Longer than a transaction timeout (60 s by default) plus a rebalance: a Connect worker
/// restarted after kill -9 in exactly-once mode waits that long for its config topic's open
/// transaction to be aborted before it replicates again.
pub const STUCK_AFTER: Duration = Duration::from_secs(90);

/// How long the target must not grow before the drain may end.
pub const QUIET: Duration = Duration::from_secs(5);

/// Recent record fingerprints remembered per target partition (the source's last record is
/// looked for among them).
const RECENT: usize = 4096;

type Key = (String, i32);

/// Committed records per partition of some topics, counted by a `read_committed` consumer that
/// keeps its place between calls. Each partition has its own queue so that its end-of-partition
/// event is known to be its own.
pub(crate) struct CommittedCounter {
    consumer: Arc<BaseConsumer<harness::quiet::QuietEof>>,
    queues: Vec<(
        Key,
        rdkafka::consumer::base_consumer::PartitionQueue<harness::quiet::QuietEof>,
    )>,
    pub(crate) progress: BTreeMap<Key, PartitionProgress>,
    /// Partitions whose end (last stable offset) was reached since their last record.
    at_end: BTreeSet<Key>,
}

/// What the counter knows of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PartitionProgress {
    pub count: u64,
    /// Fingerprint of the last committed record read.
    pub last: Option<u64>,
    /// Fingerprints of the last [`RECENT`] records read.
    pub recent: VecDeque<u64>,
}

impl PartitionProgress {
    fn push(&mut self, fp: u64) {
        self.count += 1;
        self.last = Some(fp);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(fp);
    }
}

/// A record's drain fingerprint: key and value, but not headers (a system may add provenance
/// headers) nor a Confluent wire-format schema id (a system may translate it), so the same
/// record is recognised on both sides. Not the checker's fingerprint: only the drain uses it.
pub(crate) fn drain_fingerprint(key: Option<&[u8]>, value: Option<&[u8]>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let value = match value {
        Some(v) if v.len() >= 5 && v[0] == 0 => Some(&v[5..]),
        v => v,
    };
    value.hash(&mut h);
    h.finish()
}

impl CommittedCounter {
    pub(crate) fn new(
        props: &harness::ClientProps,
        topics: &[String],
    ) -> Result<Self, ScenarioError> {
        let failed =
            |e: rdkafka::error::KafkaError| ScenarioError::System(format!("drain counter: {e}"));
        let mut c = props.reader("cutover-drain-counter")?;
        c.set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true");
        let consumer: Arc<BaseConsumer<harness::quiet::QuietEof>> = Arc::new(
            c.create_with_context(harness::quiet::QuietEof)
                .map_err(failed)?,
        );
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut progress = BTreeMap::new();
        let counts =
            harness::watermarks::partition_counts(&*consumer, topics, Duration::from_secs(30))
                .map_err(failed)?;
        for (t, n) in counts {
            for p in 0..n {
                tpl.add_partition_offset(&t, p, rdkafka::Offset::Beginning)
                    .map_err(failed)?;
                progress.insert((t.clone(), p), PartitionProgress::default());
            }
        }
        // Paused until every partition has its own queue, so no end-of-partition event reaches
        // the consumer's main queue (where it would name no topic).
        consumer.assign(&tpl).map_err(failed)?;
        consumer.pause(&tpl).map_err(failed)?;
        let queues = progress
            .keys()
            .filter_map(|(t, p)| {
                consumer
                    .split_partition_queue(t, *p)
                    .map(|q| ((t.clone(), *p), q))
            })
            .collect();
        consumer.resume(&tpl).map_err(failed)?;
        Ok(CommittedCounter {
            consumer,
            queues,
            progress,
            at_end: BTreeSet::new(),
        })
    }

    /// True when the topics now have partitions this counter does not read (a target topic
    /// created, or grown, after the counter started).
    pub(crate) fn outgrown(&self, topics: &[String]) -> bool {
        let Ok(counts) =
            harness::watermarks::partition_counts(&*self.consumer, topics, Duration::from_secs(5))
        else {
            return false;
        };
        let now: usize = counts.iter().map(|(_, n)| *n as usize).sum();
        now > self.progress.len()
    }

    /// True when every partition's end was reached since its last record.
    pub(crate) fn all_read(&self) -> bool {
        self.at_end.len() >= self.progress.len()
    }

    /// Reads what is there for up to `budget`.
    pub(crate) fn advance(&mut self, budget: Duration) {
        let until = Instant::now() + budget;
        while Instant::now() < until {
            let mut any = false;
            for (key, queue) in &self.queues {
                while let Some(event) = queue.poll(Duration::ZERO) {
                    any = true;
                    match event {
                        Ok(m) => {
                            self.at_end.remove(key);
                            let fp = drain_fingerprint(m.key(), m.payload());
                            self.progress.entry(key.clone()).or_default().push(fp);
                        }
                        Err(rdkafka::error::KafkaError::PartitionEOF(_)) => {
                            self.at_end.insert(key.clone());
                        }
                        Err(e) => tracing::debug!(error = %e, "drain counter"),
                    }
                }
            }
            // Serves the consumer's own events (errors; no rebalances: it assigns).
            let _ = self.consumer.poll(Duration::ZERO);
            if !any {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Where the comparison of source and target positions stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountCheck {
    /// Every source partition's committed records, its last one included, are on the target.
    Reached,
    /// Every source partition's last record is on the target, but the target holds fewer
    /// records than the source somewhere (a description of where): the copy went past records
    /// it lost. Caught up; the checker counts the losses.
    ReachedShort(String),
    /// The source counter has not read to the end of every partition yet.
    SourceUnread,
    /// The target is short somewhere (a description of where).
    Short(String),
}

/// Compares source and target progress. With `same_partition`, source partition p is copied
/// to target partition p of the renamed topic; otherwise to any partition of it (the topic's
/// records are pooled).
pub(crate) fn compare(
    source: &BTreeMap<Key, PartitionProgress>,
    source_all_read: bool,
    target: &BTreeMap<Key, PartitionProgress>,
    target_of: &dyn Fn(&str) -> String,
    same_partition: bool,
) -> CountCheck {
    if !source_all_read {
        return CountCheck::SourceUnread;
    }
    // Partitions whose last record is not on the target, and partitions whose last record is
    // there while the target holds fewer records (losses behind the position).
    let mut short = Vec::new();
    let mut fewer = Vec::new();
    let (mut have, mut want) = (0u64, 0u64);
    // Pooled target per topic when partitions are not preserved.
    let mut pooled: HashMap<String, (u64, Vec<&PartitionProgress>)> = HashMap::new();
    if !same_partition {
        for ((t, _), p) in target {
            let e = pooled.entry(t.clone()).or_default();
            e.0 += p.count;
            e.1.push(p);
        }
    }
    let mut pooled_want: BTreeMap<String, u64> = BTreeMap::new();
    for ((topic, p), src) in source {
        let tt = target_of(topic);
        if same_partition {
            let tgt = target.get(&(tt.clone(), *p));
            let n = tgt.map_or(0, |x| x.count);
            have += n.min(src.count);
            want += src.count;
            let tail = src.last.is_none_or(|fp| {
                tgt.is_some_and(|x| occurrences(&x.recent, fp) >= occurrences(&src.recent, fp))
            });
            if !tail {
                short.push(if n < src.count {
                    format!("{tt}[{p}] {n}/{}", src.count)
                } else {
                    format!("{tt}[{p}] lacks the source's last record")
                });
            } else if n < src.count {
                fewer.push(format!("{tt}[{p}] {n}/{}", src.count));
            }
        } else {
            *pooled_want.entry(tt.clone()).or_default() += src.count;
            let tail = src.last.is_none_or(|fp| {
                pooled.get(&tt).is_some_and(|(_, parts)| {
                    parts
                        .iter()
                        .map(|x| occurrences(&x.recent, fp))
                        .sum::<usize>()
                        >= occurrences(&src.recent, fp)
                })
            });
            if !tail {
                short.push(format!(
                    "{tt} lacks the last record of source partition {p}"
                ));
            }
        }
    }
    if !same_partition {
        for (tt, w) in pooled_want {
            let n = pooled.get(&tt).map_or(0, |x| x.0);
            have += n.min(w);
            want += w;
            if n < w {
                if short.is_empty() {
                    fewer.insert(0, format!("{tt} {n}/{w}"));
                } else {
                    short.insert(0, format!("{tt} {n}/{w}"));
                }
            }
        }
    }
    let described = |parts: &[String]| {
        let shown: Vec<&str> = parts.iter().take(5).map(String::as_str).collect();
        format!(
            "the target holds {have} of the source's {want} committed records ({}{})",
            shown.join(", "),
            if parts.len() > 5 { ", …" } else { "" }
        )
    };
    if !short.is_empty() {
        CountCheck::Short(described(&short))
    } else if !fewer.is_empty() {
        CountCheck::ReachedShort(described(&fewer))
    } else {
        CountCheck::Reached
    }
}

/// How often `fp` occurs among a partition's recent records.
fn occurrences(recent: &VecDeque<u64>, fp: u64) -> usize {
    recent.iter().filter(|x| **x == fp).count()
}

/// What the drain saw at one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// How long the target has not grown.
    pub target_still_for: Duration,
    /// The system's own lag report: None when it reports none (not the built-in replicator),
    /// Some(true) when every instance answered with zero lag, Some(false) otherwise (lag, or an
    /// endpoint that did not answer).
    pub system_reports_no_lag: Option<bool>,
    pub counts: CountCheck,
}

/// The drain's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Wait,
    CaughtUp,
    /// The target stands still short of the source: why.
    Stuck(String),
}

/// The drain's decision at one tick; the caller ends the drain on the timeout.
pub fn decide(o: &Observation) -> Decision {
    if o.target_still_for < QUIET {
        return Decision::Wait;
    }
    match &o.counts {
        CountCheck::SourceUnread => Decision::Wait,
        CountCheck::Reached if o.system_reports_no_lag != Some(false) => Decision::CaughtUp,
        CountCheck::Reached => Decision::Wait,
        // Past its losses: caught up once the target has been quiet a while longer (records
        // still in flight would make it grow).
        CountCheck::ReachedShort(_)
            if o.target_still_for >= 2 * QUIET && o.system_reports_no_lag != Some(false) =>
        {
            Decision::CaughtUp
        }
        CountCheck::ReachedShort(_) => Decision::Wait,
        CountCheck::Short(why) if o.target_still_for >= STUCK_AFTER => Decision::Stuck(why.clone()),
        CountCheck::Short(_) => Decision::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(fps: &[u64]) -> PartitionProgress {
        let mut p = PartitionProgress::default();
        for f in fps {
            p.push(*f);
        }
        p
    }

    fn map(entries: &[(&str, i32, &[u64])]) -> BTreeMap<Key, PartitionProgress> {
        entries
            .iter()
            .map(|(t, p, f)| ((t.to_string(), *p), progress(f)))
            .collect()
    }

    fn same(t: &str) -> String {
        t.to_string()
    }

    #[test]
    fn duplicates_cannot_hide_a_tail_not_copied_yet() {
        let source = map(&[("a", 0, &[1, 2, 3, 4])]);
        // At-least-once: 1 and 2 copied twice, 3 and 4 not yet: the count is reached.
        let target = map(&[("a", 0, &[1, 2, 1, 2])]);
        match compare(&source, true, &target, &same, true) {
            CountCheck::Short(why) => {
                assert!(why.contains("lacks the source's last record"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let target = map(&[("a", 0, &[1, 2, 1, 2, 3, 4])]);
        assert_eq!(
            compare(&source, true, &target, &same, true),
            CountCheck::Reached
        );
    }

    #[test]
    fn a_copier_past_its_losses_is_caught_up_without_waiting_for_the_timeout() {
        // 3 lost, the last record copied: caught up (the checker counts the loss) once quiet.
        let source = map(&[("a", 0, &[1, 2, 3, 4])]);
        let target = map(&[("a", 0, &[1, 2, 4])]);
        let check = compare(&source, true, &target, &same, true);
        match &check {
            CountCheck::ReachedShort(why) => assert!(why.contains("a[0] 3/4"), "{why}"),
            other => panic!("{other:?}"),
        }
        let obs = |still: u64| Observation {
            target_still_for: Duration::from_secs(still),
            system_reports_no_lag: None,
            counts: check.clone(),
        };
        assert_eq!(decide(&obs(6)), Decision::Wait, "quiet twice as long");
        assert_eq!(decide(&obs(11)), Decision::CaughtUp);
        // Pooled (partitions not preserved) alike.
        let source = map(&[("a", 0, &[1, 2]), ("a", 1, &[3])]);
        let target = map(&[("a", 0, &[3]), ("a", 1, &[2])]);
        assert!(matches!(
            compare(&source, true, &target, &same, false),
            CountCheck::ReachedShort(_)
        ));
    }

    #[test]
    fn an_earlier_identical_record_does_not_stand_for_the_last_one() {
        // The source's last record repeats an earlier one (an upstream re-send): its one
        // copy on the target is the earlier record's.
        let source = map(&[("a", 0, &[7, 8, 7])]);
        let target = map(&[("a", 0, &[7, 8])]);
        assert!(matches!(
            compare(&source, true, &target, &same, true),
            CountCheck::Short(_)
        ));
        let target = map(&[("a", 0, &[7, 8, 7])]);
        assert_eq!(
            compare(&source, true, &target, &same, true),
            CountCheck::Reached
        );
    }

    #[test]
    fn a_short_partition_is_named_and_an_unread_source_waits() {
        let source = map(&[("a", 0, &[1, 2]), ("a", 1, &[5, 6, 7])]);
        let target = map(&[("b", 0, &[1, 2]), ("b", 1, &[5])]);
        let rename = |t: &str| t.replace('a', "b");
        match compare(&source, true, &target, &rename, true) {
            CountCheck::Short(why) => {
                assert!(why.contains("holds 3 of the source's 5"), "{why}");
                assert!(why.contains("b[1] 1/3"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            compare(&source, false, &target, &rename, true),
            CountCheck::SourceUnread
        );
        // A target partition that does not exist is short.
        let none = BTreeMap::new();
        assert!(matches!(
            compare(&source, true, &none, &rename, true),
            CountCheck::Short(_)
        ));
    }

    #[test]
    fn repartitioned_copies_are_pooled_per_topic() {
        let source = map(&[("a", 0, &[1, 2]), ("a", 1, &[3])]);
        let target = map(&[("a", 0, &[3, 2]), ("a", 1, &[]), ("a", 2, &[1])]);
        assert_eq!(
            compare(&source, true, &target, &same, false),
            CountCheck::Reached
        );
        // Per partition the same copy is short.
        assert!(matches!(
            compare(&source, true, &target, &same, true),
            CountCheck::Short(_)
        ));
    }

    #[test]
    fn a_translated_schema_id_keeps_the_drain_fingerprint() {
        let a = [0u8, 0, 0, 0, 1, 42, 43];
        let b = [0u8, 0, 0, 0, 9, 42, 43];
        assert_eq!(
            drain_fingerprint(Some(b"k"), Some(&a)),
            drain_fingerprint(Some(b"k"), Some(&b))
        );
        assert_ne!(
            drain_fingerprint(Some(b"k"), Some(b"x")),
            drain_fingerprint(Some(b"k"), Some(b"y"))
        );
    }

    #[test]
    fn the_decision_needs_quiet_counts_and_no_reported_lag() {
        let obs = |still: u64, lag: Option<bool>, counts: CountCheck| Observation {
            target_still_for: Duration::from_secs(still),
            system_reports_no_lag: lag,
            counts,
        };
        assert_eq!(
            decide(&obs(1, Some(true), CountCheck::Reached)),
            Decision::Wait
        );
        assert_eq!(
            decide(&obs(6, Some(true), CountCheck::Reached)),
            Decision::CaughtUp
        );
        assert_eq!(
            decide(&obs(6, None, CountCheck::Reached)),
            Decision::CaughtUp
        );
        // Counts reached but the replicator still reports lag (or did not answer): wait.
        assert_eq!(
            decide(&obs(6, Some(false), CountCheck::Reached)),
            Decision::Wait
        );
        // The replicator says no lag, the target is short: never caught up.
        let short = CountCheck::Short("a[0] 1/2".into());
        assert_eq!(decide(&obs(6, Some(true), short.clone())), Decision::Wait);
        assert_eq!(
            decide(&obs(91, Some(true), short)),
            Decision::Stuck("a[0] 1/2".into())
        );
        assert_eq!(
            decide(&obs(200, None, CountCheck::SourceUnread)),
            Decision::Wait
        );
    }
}
