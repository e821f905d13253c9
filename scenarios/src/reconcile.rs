//! The checker reconciled with the workload. What the workload's producers had acknowledged
//! and committed must be on the source when the checker reads it: records short there were
//! lost by the source cluster, not by the copy (`source-lost`), and the copy cannot be blamed
//! for them. A workload whose deliveries failed (timeouts, refused records) did not exercise
//! the scenario it claims: under [`MIN_DELIVERED`] of what it sent, the run is UNKNOWN
//! (`workload-undelivered`).
//!
//! Pure functions of the workload's ledger (counts per partition from its delivery reports)
//! and the checker's verdict (committed records it read per source partition).

use std::collections::BTreeMap;

use reports::{Reason, RunClass};
use verify::verdict::Verdict;
use workload::ledger::IntentLedger;

/// The share of sent records that must have been acknowledged for the run to say anything.
pub const MIN_DELIVERED: f64 = 0.99;

/// Per source partition (or per topic, when the checker matched whole topics), committed
/// records the workload had acknowledged beyond what the checker read on the source.
pub fn source_lost(ledger: &IntentLedger, verdict: &Verdict) -> Option<Reason> {
    // The ledger by topic, then partition: committed records acknowledged.
    let mut acked: BTreeMap<&str, BTreeMap<i32, u64>> = BTreeMap::new();
    for (key, l) in &ledger.partitions {
        if let Some((topic, p)) = key.rsplit_once('/') {
            if let Ok(p) = p.parse::<i32>() {
                *acked.entry(topic).or_default().entry(p).or_default() += l.committed;
            }
        }
    }
    let mut short: Vec<(String, u64, u64)> = Vec::new();
    for t in &verdict.topics {
        let Some(by_partition) = acked.get(t.source_topic.as_str()) else {
            continue;
        };
        // A whole-topic job has no per-partition numbers: the topic is compared as one.
        let per_partition =
            !t.partitions.is_empty() && t.partitions.iter().all(|p| p.partition >= 0);
        if per_partition {
            let read: BTreeMap<i32, u64> = t
                .partitions
                .iter()
                .map(|p| (p.partition, p.tally.source_records))
                .collect();
            for (p, want) in by_partition {
                let have = read.get(p).copied().unwrap_or(0);
                if *want > have {
                    short.push((format!("{}-{p}", t.source_topic), *want, have));
                }
            }
        } else {
            let want: u64 = by_partition.values().sum();
            let have = t.tally.source_records;
            if want > have {
                short.push((t.source_topic.clone(), want, have));
            }
        }
    }
    if short.is_empty() {
        return None;
    }
    let lost: u64 = short.iter().map(|(_, w, h)| w - h).sum();
    let shown: Vec<String> = short
        .iter()
        .take(10)
        .map(|(where_, w, h)| format!("{where_}: {} of {w} acknowledged records", w - h))
        .collect();
    Some(Reason::new(
        RunClass::SourceLost,
        lost,
        format!(
            "the source holds fewer committed records than the workload's producers had acknowledged: {}{}",
            shown.join(", "),
            if short.len() > 10 {
                format!(", and {} more partitions", short.len() - 10)
            } else {
                String::new()
            }
        ),
    ))
}

/// A workload that delivered under [`MIN_DELIVERED`] of the records it sent.
pub fn undelivered(sent: u64, acked: u64) -> Option<Reason> {
    if sent == 0 || acked as f64 >= MIN_DELIVERED * sent as f64 {
        return None;
    }
    let failed = sent - acked.min(sent);
    Some(Reason::new(
        RunClass::WorkloadUndelivered,
        failed,
        format!(
            "the workload delivered {acked} of the {sent} records it sent ({:.1} %, under {:.0} %): {failed} deliveries failed, so the scenario was not exercised as written",
            100.0 * acked as f64 / sent as f64,
            100.0 * MIN_DELIVERED
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verify::verdict::{PartitionVerdict, Promises, Tally, TopicVerdict};

    fn ledger(entries: &[(&str, i32, u64)]) -> IntentLedger {
        let mut l = IntentLedger::default();
        for (t, p, n) in entries {
            l.entry(t, *p).committed += n;
        }
        l
    }

    fn verdict(topic: &str, read: &[(i32, u64)]) -> Verdict {
        let partitions = read
            .iter()
            .map(|(p, n)| PartitionVerdict {
                partition: *p,
                tally: Tally {
                    source_records: *n,
                    ..Tally::default()
                },
                ..PartitionVerdict::default()
            })
            .collect();
        let topic = TopicVerdict {
            source_topic: topic.into(),
            tally: Tally {
                source_records: read.iter().map(|(_, n)| n).sum(),
                ..Tally::default()
            },
            partitions,
            ..TopicVerdict::default()
        };
        Verdict::from_topics(vec![topic], Promises::default(), 1)
    }

    #[test]
    fn acknowledged_records_missing_on_the_source_are_source_lost_per_partition() {
        let l = ledger(&[("t", 0, 100), ("t", 1, 50), ("u", 0, 7)]);
        // Partition 1 lost 4 on the source; more records than acknowledged (another writer)
        // are fine.
        let v = verdict("t", &[(0, 103), (1, 46)]);
        let r = source_lost(&l, &v).expect("source-lost");
        assert_eq!(r.class, reports::Class::Run(RunClass::SourceLost));
        assert_eq!(r.count, 4);
        assert!(r.detail.contains("t-1: 4 of 50"), "{}", r.detail);
        assert!(source_lost(&l, &verdict("t", &[(0, 100), (1, 50)])).is_none());
        // A partition the checker never read is short by all of it.
        let r = source_lost(&l, &verdict("t", &[(0, 100)])).unwrap();
        assert_eq!(r.count, 50);
    }

    #[test]
    fn whole_topic_verdicts_are_reconciled_per_topic() {
        let l = ledger(&[("t", 0, 10), ("t", 1, 10)]);
        let v = verdict("t", &[(-1, 17)]);
        let r = source_lost(&l, &v).unwrap();
        assert_eq!(r.count, 3);
        assert!(r.detail.contains("t: 3 of 20"), "{}", r.detail);
    }

    #[test]
    fn a_workload_under_99_percent_delivered_is_undelivered() {
        assert!(undelivered(1000, 990).is_none());
        assert!(undelivered(0, 0).is_none());
        let r = undelivered(1000, 989).unwrap();
        assert_eq!(r.count, 11);
        assert!(r.detail.contains("989 of the 1000"), "{}", r.detail);
    }
}
