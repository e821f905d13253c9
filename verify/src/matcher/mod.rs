//! Exact per-partition matching: a multiset comparison of fingerprints with bounded memory.
//!
//! The answer is defined by a sort. Every record (source committed, source aborted, target) has
//! a fingerprint; grouping the records by fingerprint, a group holds `s` source, `a` aborted and
//! `t` target copies, each side in offset order, and:
//!
//! * `min(s, t)` are matched, pairing the k-th source copy with the k-th target copy;
//! * `s - t` more source copies: **lost**; `t - s` more target copies: **leaked-aborted** up to
//!   `a`, then **duplicated** when `s > 0`, else **phantom**; `s - 1` are upstream duplicates;
//! * lost and phantom records that carry the same workload identity are one **corrupted** record;
//! * walking the matched pairs in target order, a pair whose source offset is lower than the
//!   previous pair's is **reordered**; with offsets preserved, a pair whose offsets differ is an
//!   **offset-mismatch**.
//!
//! Two paths compute that answer, and they agree record for record (a property test holds them
//! to it):
//!
//! **The in-order window.** When the copy keeps order (the normal case), source and target arrive
//! side by side and match in lockstep: a target record finds its source copy among the few
//! pending ones (a hash window of at most `window` records per side), and the pair is checked
//! for order and offset right there, in target order, without any sort. Only three facts of a
//! matched pair are needed later, because the global counts need them: it goes to the sorted
//! runs as one 48-byte `Paired` entry (fingerprint, source offset, target offset), so upstream
//! duplicates (identical source records anywhere in the partition) and the classification of
//! the leftovers stay exact.
//!
//! **The sorted runs.** A record that finds no partner within the window (lost, duplicated,
//! phantom, or just far out of order) falls out of the window into a [`RunSorter`]: 48-byte
//! entries, up to a fixed number in memory, the rest spilled to disk as sorted runs and merged
//! at the end, so memory is fixed whatever the volume and whatever the disorder.
//!
//! Why the two agree: once a copy of fingerprint F has gone to the sorted runs, F is *tainted*
//! and every later copy of F, on either side, goes there too (a Bloom filter remembers tainted
//! fingerprints; a false positive only sends a record the slow way). Before that, the window
//! pairs F's copies earliest with earliest, so the window's pairs of F are exactly the first `j`
//! source and first `j` target copies, which is what the k-th/k-th pairing makes of them; the
//! sorted runs continue the pairing from `j`. Matched pairs the window checked inline are
//! separated by *gaps* where a target record went to the sorted runs; the window pairs on both
//! sides of each gap go to a second sorter with the pairs the runs make, and walking that in
//! target order finds the order breaks that cross a gap.
//!
//! When the window stops paying (a stretch of the copy far out of order), it is flushed and
//! records go straight to the sorted runs for a while, still tainting their fingerprints, so
//! the window can come back; a copy shuffled throughout, or more tainted fingerprints than the
//! filter can tell apart, drops it for good and its memory goes back to the sorted runs.
//!
//! Sides must be pushed in offset order each (an out-of-order push is an error, because the
//! window's pairing relies on it); how they interleave only decides how much the window pairs.
//!
//! Where it lives: `entry` (the 48-byte sorted-run entries and pairs), `window` (the in-order
//! window and the sink to the sorted runs), `finish` (the walk over the fingerprint groups that
//! counts every anomaly), and here the options, the outcome and the [`PartitionMatcher`]'s
//! pushes.

use crate::error::VerifyError;
use crate::fingerprint::Fingerprint;
use crate::runs::{RunSorter, Spill};
use crate::verdict::{AnomalyClass, Counts, Tally};

mod entry;
mod finish;
mod window;

pub use entry::Entry;
use entry::*;
use finish::*;
use window::*;

/// Knobs of the matcher.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchOptions {
    /// Records in flight per partition: memory stays within 48 bytes × `capacity` (sorted-run
    /// buffer, in-order window and its taint filter together); beyond it, sorted runs spill.
    pub capacity: usize,
    /// Records per side the in-order window holds before the oldest falls out to the sorted
    /// runs; 0: no window, every record goes through the sorted runs.
    pub window: usize,
    /// Examples kept per anomaly class.
    pub examples_per_class: usize,
    /// Count records whose target offset differs from the source offset.
    pub check_offsets: bool,
    /// Count reordered records.
    pub check_order: bool,
    /// Most lost/phantom records remembered (each kind, the lowest offsets) for
    /// moved-partition pairing across partitions; counts and the corruption pairing stay exact
    /// beyond it (they go through sorted runs), moved-partition pairing is then marked
    /// inconclusive.
    pub anomaly_memory: usize,
    /// One matcher for every partition of a topic (partitions not preserved): positions are
    /// [`topic_position`]s, pushed partition after partition on each side; order is checked
    /// among records of one source partition that landed in one target partition; the window
    /// is off.
    #[serde(default)]
    pub whole_topic: bool,
}

impl MatchOptions {
    /// Options for `capacity` records in flight, with the window sized from it (1/128 of the
    /// records per side, at most 8 Ki: the window and its filter then take about a tenth of
    /// the memory).
    pub fn with_capacity(capacity: usize) -> MatchOptions {
        MatchOptions {
            capacity,
            window: (capacity / 128).clamp(16, 1 << 13),
            ..MatchOptions::default()
        }
    }
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            capacity: 1 << 20,
            window: 1 << 13,
            examples_per_class: 10,
            check_offsets: false,
            check_order: true,
            anomaly_memory: 1 << 20,
            whole_topic: false,
        }
    }
}

/// A position on its own in sorted runs (8 bytes): an offset, or a topic position in whole-topic
/// matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos(pub u64);

impl crate::runs::Spill for Pos {
    const SIZE: usize = 8;
    fn write_to(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.0.to_be_bytes());
    }
    fn read_from(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[..8]);
        Pos(u64::from_be_bytes(b))
    }
}

/// What the log cleaners of a compacted topic may have removed, as positions in ascending
/// order (sorted runs). Compaction keeps the latest record of every key and removes older ones
/// (and, after `delete.retention.ms`, tombstones), on each cluster on its own schedule
/// (<https://kafka.apache.org/documentation/#compaction>), so:
///
/// * `source`: source records the *target's* cleaner may have removed after they were copied:
///   not the latest of their key in the source, or a tombstone. `None`: the target's cleaner
///   has not run on the partition, and a missing copy is lost.
/// * `target`: target records that may be copies of source records the *source's* cleaner
///   removed before the checker read them: their key is still in the source (a later value of
///   it survived), or a tombstone. `None`: the source's cleaner has not run, and a record
///   without a source original is a phantom.
///
/// A lost or phantom record at one of these positions is counted as `unverifiable_compacted`
/// instead; every other record (the latest value of every key, whatever is above the cleaner
/// points) is judged as on any topic.
#[derive(Default)]
pub struct Compaction {
    pub source: Option<crate::runs::Sorted<Pos>>,
    pub target: Option<crate::runs::Sorted<Pos>>,
}

/// Retention facts of a partition pair, read when verification starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// The source's log start offset (> 0: older records expired at the source); for a whole
    /// topic, the sum over its partitions. At most this many target records before the first
    /// match are taken as copies of expired source records (offsets bound records).
    pub source_log_start: i64,
    /// The target's log start offset (> 0: the target's retention removed records); for a
    /// whole topic, the sum over its partitions. With `allow_expiry`, at most this many source
    /// records before the first match are taken as removed by the target's retention.
    pub target_log_start: i64,
    /// Records the target's retention removed are expected, not lost.
    pub allow_expiry: bool,
}

/// An example before topic names are attached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawExample {
    pub class: AnomalyClass,
    pub source_offset: Option<i64>,
    pub target_offsets: Vec<i64>,
    pub detail: Option<String>,
    /// Whole-topic matching: the source record's partition (else the outcome's partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_partition: Option<i32>,
    /// Whole-topic matching: the partition of each target offset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_partitions: Vec<i32>,
}

impl Default for RawExample {
    fn default() -> Self {
        RawExample {
            class: AnomalyClass::Lost,
            source_offset: None,
            target_offsets: Vec::new(),
            detail: None,
            source_partition: None,
            target_partitions: Vec::new(),
        }
    }
}

/// What one partition's matching found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionOutcome {
    pub counts: Counts,
    pub tally: Tally,
    pub spilled: u64,
    pub examples: Vec<RawExample>,
    /// Lost records (fingerprint, source offset), for moved-partition pairing.
    #[serde(with = "fp_list")]
    pub lost: Vec<(Fingerprint, i64)>,
    /// Phantom records (fingerprint, target offset), for moved-partition pairing.
    #[serde(with = "fp_list")]
    pub phantom: Vec<(Fingerprint, i64)>,
    /// Lost/phantom lists were cut at `anomaly_memory`.
    pub truncated: bool,
}

/// `(fingerprint, offset)` lists as `["<hex>:<offset>", …]`.
mod fp_list {
    use crate::fingerprint::{hex, Fingerprint};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[(Fingerprint, i64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(fp, off)| format!("{}:{off}", hex(fp))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Fingerprint, i64)>, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        items
            .iter()
            .map(|item| {
                let bad = || D::Error::custom(format!("`{item}` is not <64 hex digits>:<offset>"));
                let (h, off) = item.split_once(':').ok_or_else(bad)?;
                if h.len() != 64 || !h.is_ascii() {
                    return Err(bad());
                }
                let mut fp = [0u8; 32];
                for (i, b) in fp.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
                }
                Ok((fp, off.parse().map_err(|_| bad())?))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
/// Collects one partition's records and finds its anomalies.
///
/// Records of each side must be pushed in offset order (source committed records among
/// themselves, target records among themselves); sides may interleave freely, and the closer
/// they stay together the more the in-order window matches without sorting.
pub struct PartitionMatcher {
    options: MatchOptions,
    window: Option<Window>,
    sink: Sink,
    tally: Tally,
    last_source: Option<i64>,
    last_target: Option<i64>,
    /// Source and target records pushed.
    pushed: u64,
    /// While the window is off: when to try it again, and the next pause.
    retry_at: u64,
    backoff: u64,
    /// Verdicts against the window in a row.
    failures: u32,
    /// Entries the runs may hold in memory without the window.
    full_capacity: usize,
}

impl PartitionMatcher {
    /// Counts the duplicated copies this matcher finds over `marks`' offset boundaries too
    /// (`crate::marks`); the counts reach the shared totals when [`finish`](Self::finish)
    /// succeeds.
    pub(crate) fn mark_duplicates(&mut self, marks: crate::marks::JobMarks) {
        self.sink.out.marks = Some(marks);
    }

    pub fn new(options: MatchOptions) -> PartitionMatcher {
        let capacity = options.capacity.max(1);
        let budget = capacity.saturating_mul(Entry::SIZE);
        // The order walk's pairs get 1/32 of the records while reading (16 bytes each); the
        // window and its filter (1 byte per record) come out of the same budget.
        let pair_capacity = (capacity / 32).max(1);
        let (window, taint, window_cost) = if options.window > 0 && !options.whole_topic {
            let taint = Taint::new(capacity);
            let cost = window_bytes(options.window, taint.words.len() * 8);
            let window = Window {
                src: Side::new(options.window),
                tgt: Side::new(options.window),
                limit: options.window,
                active: true,
                start_matched: 0,
                start_sorted: 0,
            };
            (Some(window), Some(taint), cost)
        } else {
            (None, None, 0)
        };
        let backoff = 64 * options.window as u64;
        let entry_capacity = (budget
            .saturating_sub(window_cost)
            .saturating_sub(pair_capacity * Pair::SIZE)
            / Entry::SIZE)
            .max(1);
        PartitionMatcher {
            window,
            sink: Sink {
                entries: RunSorter::new(entry_capacity),
                taint,
                sorted: 0,
                pairs: RunSorter::new(pair_capacity),
                out: Outcome::new(options.examples_per_class),
                check_order: options.check_order,
                check_offsets: options.check_offsets,
                last: None,
                last_flags: 0,
                gap: false,
                first_matched_source: i64::MAX,
                first_matched_target: i64::MAX,
                window_matched: 0,
            },
            options,
            tally: Tally::default(),
            last_source: None,
            last_target: None,
            pushed: 0,
            retry_at: 0,
            backoff,
            failures: 0,
            full_capacity: ((budget - pair_capacity * Pair::SIZE) / Entry::SIZE).max(1),
        }
    }

    /// A committed source record.
    pub fn push_source(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
        bytes: u64,
    ) -> Result<(), VerifyError> {
        in_order("source", &mut self.last_source, offset)?;
        self.tally.source_records += 1;
        self.tally.bytes_compared += bytes;
        match self.window.as_mut() {
            Some(w) if w.active => w.source(&mut self.sink, fp, offset, ident)?,
            _ => self.sink.sort(Kind::Source, offset, fp, ident)?,
        }
        self.check_window()
    }

    /// A source record that the committed view does not show (aborted).
    pub fn push_aborted(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
    ) -> Result<(), VerifyError> {
        self.tally.source_aborted += 1;
        self.sink.sort(Kind::Aborted, offset, fp, ident)
    }

    /// A target record (committed view).
    pub fn push_target(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
        bytes: u64,
    ) -> Result<(), VerifyError> {
        in_order("target", &mut self.last_target, offset)?;
        self.tally.target_records += 1;
        self.tally.bytes_compared += bytes;
        match self.window.as_mut() {
            Some(w) if w.active => w.target(&mut self.sink, fp, offset, ident)?,
            _ => {
                self.sink.sort(Kind::Target, offset, fp, ident)?;
                self.sink.gap();
            }
        }
        self.check_window()
    }

    /// Switches the window off when it does not pay, and on again later.
    ///
    /// Off for a while: when, of the last `8 × window` records that fell out of it, fewer than
    /// one in eight pairs were made meanwhile (a copy far from in order, or a stretch of it);
    /// the taint filter keeps recording
    /// what goes to the runs meanwhile, so the window can come back (after a pause that doubles
    /// each time). Off for good: when the filter holds more fingerprints than it can tell apart.
    fn check_window(&mut self) -> Result<(), VerifyError> {
        self.pushed += 1;
        let Some(w) = self.window.as_mut() else {
            return Ok(());
        };
        if self.sink.taint.as_ref().is_none_or(Taint::saturated) {
            return self.drop_window();
        }
        if w.active {
            let sorted = self.sink.sorted - w.start_sorted;
            let matched = self.sink.window_matched - w.start_matched;
            if sorted >= 8 * w.limit as u64 {
                if matched * 8 < sorted {
                    self.failures += 1;
                    if self.failures >= 4 {
                        return self.drop_window();
                    }
                    w.flush(&mut self.sink)?;
                    w.active = false;
                    self.retry_at = self.pushed + self.backoff;
                    self.backoff = self.backoff.saturating_mul(2);
                } else {
                    // Judged over the records sent to the runs since the last verdict.
                    self.failures = 0;
                    w.start_sorted = self.sink.sorted;
                    w.start_matched = self.sink.window_matched;
                }
            }
        } else if self.pushed >= self.retry_at {
            w.active = true;
            w.start_sorted = self.sink.sorted;
            w.start_matched = self.sink.window_matched;
        }
        Ok(())
    }

    /// The window and its filter go for good; their memory goes back to the sorted runs.
    fn drop_window(&mut self) -> Result<(), VerifyError> {
        if let Some(mut w) = self.window.take() {
            w.flush(&mut self.sink)?;
        }
        self.sink.taint = None;
        self.sink.entries.set_capacity(self.full_capacity);
        Ok(())
    }

    /// Pairs the in-order window matched so far.
    pub fn window_matched(&self) -> u64 {
        self.sink.window_matched
    }

    /// Whether the in-order window is in use.
    pub fn window_active(&self) -> bool {
        self.window.as_ref().is_some_and(|w| w.active)
    }
}

/// Whole-topic matching: a record's position is `partition << PARTITION_SHIFT | offset`, so one
/// matcher covers every partition of a topic and each side stays in position order when its
/// partitions are pushed one after another.
pub const PARTITION_SHIFT: u32 = 40;
const OFFSET_IN_PARTITION: u64 = (1 << PARTITION_SHIFT) - 1;

/// The position of `offset` in `partition` for whole-topic matching; None when it does not fit
/// (an offset at or beyond 2^40, a partition at or beyond 2^21).
pub fn topic_position(partition: i32, offset: i64) -> Option<i64> {
    let fits = (0..1 << 21).contains(&partition) && (0..1i64 << PARTITION_SHIFT).contains(&offset);
    fits.then(|| (i64::from(partition) << PARTITION_SHIFT) | offset)
}

/// (partition, offset) of a whole-topic position.
pub fn split_position(at: i64) -> (i32, i64) {
    (
        (at >> PARTITION_SHIFT) as i32,
        at & OFFSET_IN_PARTITION as i64,
    )
}

#[cfg(test)]
mod tests;
