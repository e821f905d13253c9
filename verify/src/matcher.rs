//! Exact per-partition matching: a multiset comparison of fingerprints with bounded memory.
//!
//! Every record read (source committed, source aborted, target) becomes a 48-byte entry
//! (fingerprint, kind + offset, identity) fed to a [`RunSorter`]: up to `capacity` entries stay
//! in memory, the rest spill to disk as sorted runs, so memory is fixed whatever the volume and
//! whatever the disorder. The merged, fingerprint-ordered stream is walked group by group; a
//! group holds every copy of one fingerprint, which makes the counts exact:
//!
//! * `s` source, `a` aborted, `t` target copies; `min(s, t)` are matched, pairing the k-th source
//!   copy with the k-th target copy (both in offset order);
//! * `s - t` more source copies: **lost**; `t - s` more target copies: **leaked-aborted** up to
//!   `a`, then **duplicated** when `s > 0`, else **phantom**; `s - 1` are upstream duplicates;
//! * lost and phantom records that carry the same workload identity are one **corrupted** record.
//!
//! Matched pairs (target offset, source offset) go through a second sorter keyed by target
//! offset; walking it in target order finds **reordered** records (a source offset lower than
//! the previous matched record's) and **offset-mismatch**.

use crate::error::VerifyError;
use crate::fingerprint::Fingerprint;
use crate::runs::{RunSorter, Spill};
use crate::verdict::{AnomalyClass, Counts, Tally};

const KIND_SHIFT: u32 = 62;
const OFFSET_MASK: u64 = (1 << KIND_SHIFT) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
enum Kind {
    Source = 0,
    Aborted = 1,
    Target = 2,
}

/// One record in flight: 48 bytes. Ordered by fingerprint, then kind and offset (the first
/// eight fingerprint bytes are compared as one integer: fingerprints are uniform, so that
/// decides almost every comparison of the sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    fp: Fingerprint,
    /// kind in the top two bits, offset below.
    pos: u64,
    ident: u64,
}

impl Entry {
    fn new(kind: Kind, offset: i64, fp: Fingerprint, ident: u64) -> Entry {
        Entry {
            fp,
            pos: ((kind as u64) << KIND_SHIFT) | (offset.max(0) as u64 & OFFSET_MASK),
            ident,
        }
    }

    fn kind(&self) -> Kind {
        match self.pos >> KIND_SHIFT {
            0 => Kind::Source,
            1 => Kind::Aborted,
            _ => Kind::Target,
        }
    }

    fn offset(&self) -> i64 {
        (self.pos & OFFSET_MASK) as i64
    }
}

impl Entry {
    fn prefix(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.fp[..8]);
        u64::from_be_bytes(b)
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.prefix()
            .cmp(&other.prefix())
            .then_with(|| self.fp.cmp(&other.fp))
            .then_with(|| self.pos.cmp(&other.pos))
            .then_with(|| self.ident.cmp(&other.ident))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Spill for Entry {
    const SIZE: usize = 48;
    fn write_to(&self, out: &mut [u8]) {
        out[..32].copy_from_slice(&self.fp);
        out[32..40].copy_from_slice(&self.pos.to_be_bytes());
        out[40..48].copy_from_slice(&self.ident.to_be_bytes());
    }
    fn read_from(b: &[u8]) -> Self {
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&b[..32]);
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&b[32..40]);
        let mut ident = [0u8; 8];
        ident.copy_from_slice(&b[40..48]);
        Entry {
            fp,
            pos: u64::from_be_bytes(pos),
            ident: u64::from_be_bytes(ident),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pair {
    target: u64,
    source: u64,
}

impl Spill for Pair {
    const SIZE: usize = 16;
    fn write_to(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.target.to_be_bytes());
        out[8..].copy_from_slice(&self.source.to_be_bytes());
    }
    fn read_from(b: &[u8]) -> Self {
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[8..16]);
        Pair {
            target: u64::from_be_bytes(t),
            source: u64::from_be_bytes(s),
        }
    }
}

/// Knobs of the matcher.
#[derive(Debug, Clone)]
pub struct MatchOptions {
    /// Entries held in memory before spilling a sorted run (48 bytes each).
    pub capacity: usize,
    /// Examples kept per anomaly class.
    pub examples_per_class: usize,
    /// Count records whose target offset differs from the source offset.
    pub check_offsets: bool,
    /// Count reordered records.
    pub check_order: bool,
    /// Most lost/phantom records remembered for moved-partition and corruption pairing;
    /// counts stay exact beyond it, pairing is then marked inconclusive.
    pub anomaly_memory: usize,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            capacity: 1 << 20,
            examples_per_class: 10,
            check_offsets: false,
            check_order: true,
            anomaly_memory: 1 << 20,
        }
    }
}

/// Retention facts of a partition pair, read when verification starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// The source's log start offset (> 0: older records expired at the source).
    pub source_log_start: i64,
    /// The target's log start offset (> 0: the target's retention removed records).
    pub target_log_start: i64,
    /// Records the target's retention removed are expected, not lost.
    pub allow_expiry: bool,
}

/// An example before topic names are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawExample {
    pub class: AnomalyClass,
    pub source_offset: Option<i64>,
    pub target_offsets: Vec<i64>,
    pub detail: Option<String>,
}

/// What one partition's matching found.
#[derive(Debug, Clone, Default)]
pub struct PartitionOutcome {
    pub counts: Counts,
    pub tally: Tally,
    pub spilled: u64,
    pub examples: Vec<RawExample>,
    /// Lost records (fingerprint, source offset), for moved-partition pairing.
    pub lost: Vec<(Fingerprint, i64)>,
    /// Phantom records (fingerprint, target offset), for moved-partition pairing.
    pub phantom: Vec<(Fingerprint, i64)>,
    /// Lost/phantom lists were cut at `anomaly_memory`.
    pub truncated: bool,
}

/// Collects one partition's records and finds its anomalies.
pub struct PartitionMatcher {
    options: MatchOptions,
    entries: RunSorter<Entry>,
    tally: Tally,
}

impl PartitionMatcher {
    pub fn new(options: MatchOptions) -> PartitionMatcher {
        PartitionMatcher {
            entries: RunSorter::new(options.capacity),
            options,
            tally: Tally::default(),
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
        self.tally.source_records += 1;
        self.tally.bytes_compared += bytes;
        self.push(Kind::Source, offset, fp, ident)
    }

    /// A source record that the committed view does not show (aborted).
    pub fn push_aborted(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
    ) -> Result<(), VerifyError> {
        self.tally.source_aborted += 1;
        self.push(Kind::Aborted, offset, fp, ident)
    }

    /// A target record (committed view).
    pub fn push_target(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
        bytes: u64,
    ) -> Result<(), VerifyError> {
        self.tally.target_records += 1;
        self.tally.bytes_compared += bytes;
        self.push(Kind::Target, offset, fp, ident)
    }

    fn push(
        &mut self,
        kind: Kind,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
    ) -> Result<(), VerifyError> {
        self.entries.push(Entry::new(kind, offset, fp, ident))
    }

    /// Walks the fingerprint groups and counts every anomaly.
    pub fn finish(self, retention: Retention) -> Result<PartitionOutcome, VerifyError> {
        let PartitionMatcher {
            options,
            entries,
            mut tally,
        } = self;
        // Memory budget: `capacity` entries of 48 bytes. When the entries went to disk, their
        // buffer is freed before the walk and the matched pairs (16 bytes) get the whole budget;
        // when they stayed in memory, the pairs get a quarter of it on top (4 bytes per entry).
        let entries_on_disk = entries.runs() > 0;
        let pair_capacity = if entries_on_disk {
            options.capacity.max(1) * 3
        } else {
            (options.capacity / 4).max(1)
        };
        let mut sorted = entries.finish()?;
        let mut spilled = sorted.spilled();
        let mut out = Outcome::new(&options);
        let mut pairs: RunSorter<Pair> = RunSorter::new(pair_capacity);
        let mut lost: Vec<(Fingerprint, i64, u64)> = Vec::new();
        let mut phantom: Vec<(Fingerprint, i64, u64)> = Vec::new();
        let mut first_matched_source = i64::MAX;
        let mut first_matched_target = i64::MAX;

        let mut group: Vec<Entry> = Vec::new();
        let mut flush = |group: &mut Vec<Entry>,
                         out: &mut Outcome,
                         pairs: &mut RunSorter<Pair>,
                         tally: &mut Tally|
         -> Result<(), VerifyError> {
            if group.is_empty() {
                return Ok(());
            }
            let fp = group[0].fp;
            // Sorted by (fp, kind, offset): source copies, then aborted, then target.
            let s_end = group.partition_point(|e| e.kind() == Kind::Source);
            let a_end = s_end + group[s_end..].partition_point(|e| e.kind() == Kind::Aborted);
            let (src, abt, tgt) = (&group[..s_end], &group[s_end..a_end], &group[a_end..]);
            let (s, t) = (src.len(), tgt.len());
            tally.upstream_duplicates += s.saturating_sub(1) as u64;
            let m = s.min(t);
            tally.matched += m as u64;
            for k in 0..m {
                let (so, to) = (src[k].offset(), tgt[k].offset());
                first_matched_source = first_matched_source.min(so);
                first_matched_target = first_matched_target.min(to);
                pairs.push(Pair {
                    target: to as u64,
                    source: so as u64,
                })?;
            }
            for e in &src[m..] {
                lost.push((fp, e.offset(), e.ident));
            }
            for (i, e) in tgt[m..].iter().enumerate() {
                if i < abt.len() {
                    out.add(
                        AnomalyClass::LeakedAborted,
                        Some(abt[i].offset()),
                        vec![e.offset()],
                        None,
                    );
                } else if s > 0 {
                    out.add(
                        AnomalyClass::Duplicated,
                        Some(src[0].offset()),
                        vec![tgt[0].offset(), e.offset()],
                        Some(format!("{} copies in the target, {s} in the source", t)),
                    );
                } else {
                    phantom.push((fp, e.offset(), e.ident));
                }
            }
            group.clear();
            Ok(())
        };

        for entry in sorted.by_ref() {
            if group.last().is_some_and(|g| g.fp != entry.fp) {
                flush(&mut group, &mut out, &mut pairs, &mut tally)?;
            }
            group.push(entry);
        }
        if let Some(e) = sorted.take_error() {
            return Err(e);
        }
        flush(&mut group, &mut out, &mut pairs, &mut tally)?;

        // Same identity on a lost and a phantom record: one record, changed in the copy.
        let with_ident = |v: &Vec<(Fingerprint, i64, u64)>| v.iter().any(|x| x.2 != 0);
        if with_ident(&lost) && with_ident(&phantom) {
            lost.sort_by_key(|x| x.2);
            phantom.sort_by_key(|x| x.2);
            let (mut i, mut j) = (0, 0);
            let mut keep_lost = vec![true; lost.len()];
            let mut keep_phantom = vec![true; phantom.len()];
            while i < lost.len() && j < phantom.len() {
                let (a, b) = (lost[i].2, phantom[j].2);
                if a == 0 || a < b {
                    i += 1;
                } else if b == 0 || b < a {
                    j += 1;
                } else {
                    out.add(
                        AnomalyClass::Corrupted,
                        Some(lost[i].1),
                        vec![phantom[j].1],
                        Some("same workload id, different content".into()),
                    );
                    keep_lost[i] = false;
                    keep_phantom[j] = false;
                    i += 1;
                    j += 1;
                }
            }
            let mut k = 0;
            lost.retain(|_| {
                k += 1;
                keep_lost[k - 1]
            });
            let mut k = 0;
            phantom.retain(|_| {
                k += 1;
                keep_phantom[k - 1]
            });
        }

        // Retention: copies of records the source has since expired sit before the first
        // matched target record; records the target's retention removed sit before the first
        // matched source record.
        if retention.source_log_start > 0 {
            let before = phantom.len();
            phantom.retain(|p| p.1 >= first_matched_target);
            tally.unverifiable_expired += (before - phantom.len()) as u64;
        }
        if retention.allow_expiry && retention.target_log_start > 0 {
            let before = lost.len();
            lost.retain(|l| l.1 >= first_matched_source);
            tally.expired_allowed += (before - lost.len()) as u64;
        }

        lost.sort_by_key(|x| x.1);
        phantom.sort_by_key(|x| x.1);
        let truncated = lost.len() + phantom.len() > options.anomaly_memory;
        let keep = |v: &[(Fingerprint, i64, u64)]| -> Vec<(Fingerprint, i64)> {
            v.iter()
                .take(options.anomaly_memory)
                .map(|x| (x.0, x.1))
                .collect()
        };
        let mut result = PartitionOutcome {
            truncated,
            lost: keep(&lost),
            phantom: keep(&phantom),
            ..PartitionOutcome::default()
        };
        out.counts.add(AnomalyClass::Lost, lost.len() as u64);
        out.counts.add(AnomalyClass::Phantom, phantom.len() as u64);

        spilled += pairs.spilled_items();
        if options.check_order || options.check_offsets {
            let mut walk = pairs.finish()?;
            let mut previous: Option<u64> = None;
            for pair in walk.by_ref() {
                if options.check_order {
                    if let Some(prev) = previous {
                        if pair.source < prev {
                            out.add(
                                AnomalyClass::Reordered,
                                Some(pair.source as i64),
                                vec![pair.target as i64],
                                Some(format!("follows the copy of source offset {prev}")),
                            );
                        }
                    }
                    previous = Some(pair.source);
                }
                if options.check_offsets && pair.source != pair.target {
                    out.add(
                        AnomalyClass::OffsetMismatch,
                        Some(pair.source as i64),
                        vec![pair.target as i64],
                        None,
                    );
                }
            }
            if let Some(e) = walk.take_error() {
                return Err(e);
            }
        }

        result.counts = out.counts;
        result.examples = out.examples;
        result.tally = tally;
        result.spilled = spilled;
        Ok(result)
    }
}

struct Outcome {
    counts: Counts,
    examples: Vec<RawExample>,
    per_class: usize,
}

impl Outcome {
    fn new(options: &MatchOptions) -> Outcome {
        Outcome {
            counts: Counts::default(),
            examples: Vec::new(),
            per_class: options.examples_per_class,
        }
    }

    fn add(
        &mut self,
        class: AnomalyClass,
        source: Option<i64>,
        target: Vec<i64>,
        detail: Option<String>,
    ) {
        if self.counts.get(class) < self.per_class as u64 {
            self.examples.push(RawExample {
                class,
                source_offset: source,
                target_offsets: target,
                detail,
            });
        }
        self.counts.add(class, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: u8) -> Fingerprint {
        [n; 32]
    }

    fn run(source: &[u8], aborted: &[u8], target: &[u8], capacity: usize) -> PartitionOutcome {
        let mut m = PartitionMatcher::new(MatchOptions {
            capacity,
            ..Default::default()
        });
        for (i, v) in source.iter().enumerate() {
            m.push_source(i as i64, f(*v), 0, 1).unwrap();
        }
        for (i, v) in aborted.iter().enumerate() {
            m.push_aborted(100 + i as i64, f(*v), 0).unwrap();
        }
        for (i, v) in target.iter().enumerate() {
            m.push_target(i as i64, f(*v), 0, 1).unwrap();
        }
        m.finish(Retention::default()).unwrap()
    }

    #[test]
    fn faithful_copy_with_upstream_duplicates_is_clean() {
        for cap in [1, 2, 1000] {
            let o = run(&[1, 2, 2, 3], &[9], &[1, 2, 2, 3], cap);
            assert_eq!(o.counts.total(), 0, "{:?}", o.counts);
            assert_eq!(o.tally.upstream_duplicates, 1);
            assert_eq!(o.tally.matched, 4);
        }
    }

    #[test]
    fn each_class_is_counted() {
        // lost 3; duplicated 1 (second copy of 1); leaked 9; phantom 7; 4 and 5 swapped.
        let o = run(&[1, 2, 3, 4, 5], &[9], &[1, 1, 2, 9, 7, 5, 4], 2);
        assert_eq!(o.counts.get(AnomalyClass::Lost), 1);
        assert_eq!(o.counts.get(AnomalyClass::Duplicated), 1);
        assert_eq!(o.counts.get(AnomalyClass::LeakedAborted), 1);
        assert_eq!(o.counts.get(AnomalyClass::Phantom), 1);
        assert_eq!(o.counts.get(AnomalyClass::Reordered), 1);
        assert_eq!(o.lost, vec![(f(3), 2)]);
        assert_eq!(o.phantom, vec![(f(7), 4)]);
    }
}
