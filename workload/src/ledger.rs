//! The intent ledger: what the workload sent, what was acknowledged, committed or aborted,
//! per topic-partition, so the source cluster can be checked against the intent before the
//! replication is blamed. A record is counted under the partition its delivery report names:
//! the producer's partitioner chooses it when the record is sent, over the partition count the
//! producer knows then, so a topic that grows gets records on its new partitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Final state of a sent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fate {
    /// Acknowledged outside a transaction, or in a committed one.
    Committed,
    /// Written in a transaction that was aborted (or timed out, or fenced).
    Aborted,
    /// Not acknowledged (delivery failed).
    Failed,
}

/// Counts of one topic-partition (the partition of delivery; -1 gathers records that failed
/// before the producer chose a partition).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLedger {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub committed: u64,
    pub aborted: u64,
    /// Records deliberately sent twice (both copies are in `sent`).
    pub upstream_duplicates: u64,
    /// (offset, fingerprint, fate) of every acknowledged record, when kept.
    #[serde(skip)]
    pub records: Vec<(i64, [u8; 32], Fate)>,
}

impl PartitionLedger {
    /// Adds another ledger's counts (not its records).
    pub fn add_counts(&mut self, o: &PartitionLedger) {
        self.sent += o.sent;
        self.acked += o.acked;
        self.failed += o.failed;
        self.committed += o.committed;
        self.aborted += o.aborted;
        self.upstream_duplicates += o.upstream_duplicates;
    }
}

/// The ledger of a whole workload run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentLedger {
    /// "topic/partition" → counts.
    pub partitions: BTreeMap<String, PartitionLedger>,
}

impl IntentLedger {
    pub fn key(topic: &str, partition: i32) -> String {
        format!("{topic}/{partition}")
    }

    pub fn entry(&mut self, topic: &str, partition: i32) -> &mut PartitionLedger {
        self.partitions
            .entry(Self::key(topic, partition))
            .or_default()
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<&PartitionLedger> {
        self.partitions.get(&Self::key(topic, partition))
    }

    pub fn merge(&mut self, other: IntentLedger) {
        for (k, v) in other.partitions {
            let e = self.partitions.entry(k).or_default();
            e.add_counts(&v);
            e.records.extend(v.records);
        }
    }

    /// Totals over all partitions.
    pub fn totals(&self) -> PartitionLedger {
        let mut t = PartitionLedger::default();
        for v in self.partitions.values() {
            t.add_counts(v);
        }
        t
    }
}
