//! The end of a partition: the walk over the fingerprint groups of the sorted runs that counts
//! every anomaly, the corruption pairing of lost and phantom records, and the order walk
//! across the window's gaps.

use std::collections::{BTreeMap, HashMap};

use crate::error::VerifyError;
use crate::fingerprint::Fingerprint;
use crate::runs::{RunSorter, Spill};
use crate::verdict::{AnomalyClass, Counts, Tally};

use super::*;

impl PartitionMatcher {
    /// Walks the fingerprint groups and counts every anomaly.
    pub fn finish(self, retention: Retention) -> Result<PartitionOutcome, VerifyError> {
        self.finish_compacted(retention, Compaction::default())
    }

    /// [`finish`](Self::finish) for a compacted topic: lost and phantom records at the
    /// positions `compaction` names are `unverifiable_compacted`, not anomalies.
    pub fn finish_compacted(
        mut self,
        retention: Retention,
        compaction: Compaction,
    ) -> Result<PartitionOutcome, VerifyError> {
        self.sink.taint = None;
        if let Some(mut w) = self.window.take() {
            w.flush(&mut self.sink)?;
        }
        let PartitionMatcher {
            options,
            mut sink,
            mut tally,
            ..
        } = self;
        if let Some((t, s)) = sink.last {
            if sink.last_flags != 0 {
                sink.store_last(t, s);
            }
        }
        if let Some(e) = sink.out.error.take() {
            return Err(e);
        }
        let Sink {
            entries,
            mut pairs,
            mut out,
            first_matched_source,
            first_matched_target,
            ..
        } = sink;
        // Memory budget: `capacity` entries of 48 bytes. When the entries went to disk, their
        // buffer is freed before the walk and the matched pairs (16 bytes) get the whole budget;
        // when they stayed in memory, the pairs get a quarter of it on top (4 bytes per entry).
        if entries.runs() > 0 {
            pairs.set_capacity(options.capacity.max(1) * 3);
        } else {
            pairs.set_capacity((options.capacity / 4).max(1));
        }
        let mut sorted = entries.finish()?;
        let mut spilled = sorted.spilled();
        // Lost and phantom records are not collected: they go through their own sorted runs
        // (by workload identity, for the corruption pairing), and only counts and the first
        // `anomaly_memory` of each kind stay in memory.
        let leftover_capacity = (options.capacity / 8).max(1);
        let mut lost: RunSorter<Leftover> = RunSorter::new(leftover_capacity);
        let mut phantom: RunSorter<Leftover> = RunSorter::new(leftover_capacity);
        let mut firsts = Firsts::new(options.whole_topic);
        firsts.note(first_matched_source, first_matched_target);
        let check_order = options.check_order || options.check_offsets;

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
            // Sorted by (fp, kind, offset): window-paired source copies (the earliest), other
            // source copies, aborted, then target copies the window did not pair.
            let p_end = group.partition_point(|e| e.kind() == Kind::Paired);
            let s_end = p_end + group[p_end..].partition_point(|e| e.kind() == Kind::Source);
            let a_end = s_end + group[s_end..].partition_point(|e| e.kind() == Kind::Aborted);
            let (src, abt, tgt) = (&group[..s_end], &group[s_end..a_end], &group[a_end..]);
            let j = p_end;
            let (s, t) = (src.len(), j + tgt.len());
            tally.upstream_duplicates += s.saturating_sub(1) as u64;
            let m = s.min(t);
            tally.matched += m as u64;
            // The window paired the first j copies of each side; the runs continue from there.
            for k in 0..m - j {
                let (so, to) = (src[j + k].offset(), tgt[k].offset());
                firsts.note(so, to);
                if check_order {
                    pairs.push(Pair {
                        target: to as u64 & PAIR_OFFSET,
                        source: so as u64 & PAIR_OFFSET,
                    })?;
                }
            }
            for e in &src[m..] {
                lost.push(Leftover::new(e.ident, e.offset(), fp))?;
            }
            let first_target = if j > 0 {
                src[0].ident as i64
            } else {
                tgt.first().map_or(0, Entry::offset)
            };
            for (i, e) in tgt[m - j..].iter().enumerate() {
                if i < abt.len() {
                    out.add(AnomalyClass::LeakedAborted, e.offset(), || RawExample {
                        class: AnomalyClass::LeakedAborted,
                        source_offset: Some(abt[i].offset()),
                        target_offsets: vec![e.offset()],
                        detail: None,
                        ..RawExample::default()
                    });
                } else if s > 0 {
                    out.add(AnomalyClass::Duplicated, e.offset(), || RawExample {
                        class: AnomalyClass::Duplicated,
                        source_offset: Some(src[0].offset()),
                        target_offsets: vec![first_target, e.offset()],
                        detail: Some(format!("{t} copies in the target, {s} in the source")),
                        ..RawExample::default()
                    });
                } else {
                    phantom.push(Leftover::new(e.ident, e.offset(), fp))?;
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
        drop(sorted);
        drop(group);

        // Same identity on a lost and a phantom record: one record, changed in the copy. Both
        // streams are in (identity, position) order: a merge join pairs them, k-th with k-th.
        // Then retention: copies of records the source has since expired sit before the first
        // matched target record; records the target's retention removed sit before the first
        // matched source record. Each is bounded by the offsets the log start removed: a copier
        // that lost (or invented) more there than retention could explain is not excused.
        let mut lost_excuse = if retention.allow_expiry {
            retention.target_log_start.max(0) as u64
        } else {
            0
        };
        let mut phantom_excuse = retention.source_log_start.max(0) as u64;
        let mut lost = lost.finish()?;
        let mut phantom = phantom.finish()?;
        let mut kept_lost = Lowest::new(options.anomaly_memory);
        let mut kept_phantom = Lowest::new(options.anomaly_memory);
        let (mut lost_count, mut phantom_count) = (0u64, 0u64);
        // A compacted topic: what is left goes once more through sorted runs, by position, to
        // meet the positions compaction may have removed.
        let Compaction {
            source: compacted_source,
            target: compacted_target,
        } = compaction;
        let mut lost_by_position: Option<RunSorter<Leftover>> = compacted_source
            .is_some()
            .then(|| RunSorter::new(leftover_capacity));
        let mut phantom_by_position: Option<RunSorter<Leftover>> = compacted_target
            .is_some()
            .then(|| RunSorter::new(leftover_capacity));
        let (mut l, mut ph) = (lost.next(), phantom.next());
        loop {
            let take_lost = match (&l, &ph) {
                (None, None) => break,
                (Some(a), Some(b)) if a.ident != 0 && a.ident == b.ident => {
                    let (so, to) = (a.position(), b.position());
                    out.add(AnomalyClass::Corrupted, to, || RawExample {
                        class: AnomalyClass::Corrupted,
                        source_offset: Some(so),
                        target_offsets: vec![to],
                        detail: Some("same workload id, different content".into()),
                        ..RawExample::default()
                    });
                    l = lost.next();
                    ph = phantom.next();
                    continue;
                }
                (Some(a), Some(b)) => (a.ident, a.pos) <= (b.ident, b.pos),
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_lost {
                if let Some(a) = l {
                    let at = a.position();
                    if lost_excuse > 0 && at < firsts.source(at) {
                        lost_excuse -= 1;
                        tally.expired_allowed += 1;
                    } else if let Some(by_position) = lost_by_position.as_mut() {
                        by_position.push(Leftover::new(0, at, a.fp))?;
                    } else {
                        lost_count += 1;
                        kept_lost.offer(at, a.fp);
                    }
                }
                l = lost.next();
            } else {
                if let Some(b) = ph {
                    let at = b.position();
                    if phantom_excuse > 0 && at < firsts.target(at) {
                        phantom_excuse -= 1;
                        tally.unverifiable_expired += 1;
                    } else if let Some(by_position) = phantom_by_position.as_mut() {
                        by_position.push(Leftover::new(0, at, b.fp))?;
                    } else {
                        phantom_count += 1;
                        kept_phantom.offer(at, b.fp);
                    }
                }
                ph = phantom.next();
            }
        }
        if let Some(e) = lost.take_error().or_else(|| phantom.take_error()) {
            return Err(e);
        }
        spilled += lost.spilled() + phantom.spilled();
        drop((lost, phantom));
        if let (Some(by_position), Some(excused)) = (lost_by_position, compacted_source) {
            let (counted, spill) = excuse_by_position(
                by_position,
                excused,
                &mut tally.unverifiable_compacted,
                &mut kept_lost,
            )?;
            lost_count += counted;
            spilled += spill;
        }
        if let (Some(by_position), Some(excused)) = (phantom_by_position, compacted_target) {
            let (counted, spill) = excuse_by_position(
                by_position,
                excused,
                &mut tally.unverifiable_compacted,
                &mut kept_phantom,
            )?;
            phantom_count += counted;
            spilled += spill;
        }

        let mut result = PartitionOutcome {
            truncated: lost_count + phantom_count > options.anomaly_memory as u64,
            lost: kept_lost.into_sorted(),
            phantom: kept_phantom.into_sorted(),
            ..PartitionOutcome::default()
        };
        out.counts.add(AnomalyClass::Lost, lost_count);
        out.counts.add(AnomalyClass::Phantom, phantom_count);

        spilled += pairs.spilled_items();
        if check_order {
            let mut walk = pairs.finish()?;
            // (source offset, flags) of the previous pair in target order.
            let mut previous: Option<(u64, u64)> = None;
            // Whole topic: per target partition, the last source position of each source
            // partition (order holds only among records of one source partition that land in
            // one target partition).
            let mut last_of_source: HashMap<u64, u64> = HashMap::new();
            let mut target_partition = u64::MAX;
            for pair in walk.by_ref() {
                let source = pair.source & PAIR_OFFSET;
                let flags = pair.source & !PAIR_OFFSET;
                if options.check_order {
                    let prev = if options.whole_topic {
                        if pair.target >> PARTITION_SHIFT != target_partition {
                            target_partition = pair.target >> PARTITION_SHIFT;
                            last_of_source.clear();
                        }
                        last_of_source
                            .insert(source >> PARTITION_SHIFT, source)
                            .filter(|prev| source < *prev)
                    } else {
                        let broken = previous.and_then(|(prev, prev_flags)| {
                            // After the first pair of a window run comes its last pair: the
                            // pairs between them were walked inline.
                            let run_inside = prev_flags & PAIR_AFTER_GAP != 0
                                && prev_flags & PAIR_BEFORE_GAP == 0;
                            (!run_inside && source < prev).then_some(prev)
                        });
                        previous = Some((source, flags));
                        broken
                    };
                    if let Some(prev) = prev {
                        let shown = if options.whole_topic {
                            let (p, o) = split_position(prev as i64);
                            format!("{p}:{o}")
                        } else {
                            prev.to_string()
                        };
                        out.add(AnomalyClass::Reordered, pair.target as i64, || RawExample {
                            class: AnomalyClass::Reordered,
                            source_offset: Some(source as i64),
                            target_offsets: vec![pair.target as i64],
                            detail: Some(format!("follows the copy of source offset {shown}")),
                            ..RawExample::default()
                        });
                    }
                }
                let offsets_differ = if options.whole_topic {
                    source & OFFSET_IN_PARTITION != pair.target & OFFSET_IN_PARTITION
                } else {
                    source != pair.target
                };
                if options.check_offsets && flags & PAIR_WINDOW == 0 && offsets_differ {
                    out.add(AnomalyClass::OffsetMismatch, pair.target as i64, || {
                        RawExample {
                            class: AnomalyClass::OffsetMismatch,
                            source_offset: Some(source as i64),
                            target_offsets: vec![pair.target as i64],
                            detail: None,
                            ..RawExample::default()
                        }
                    });
                }
            }
            if let Some(e) = walk.take_error() {
                return Err(e);
            }
        }

        // Where the duplicates sit (the caller's boundaries), counted only now that the
        // partition finished.
        if let Some(marks) = out.marks.take() {
            marks.finish();
        }
        result.counts = out.counts;
        result.examples = out
            .examples
            .into_values()
            .flat_map(|mut v| {
                v.sort_by_key(|(key, seq, _)| (*key, *seq));
                v.into_iter().map(|(_, _, e)| e)
            })
            .collect();
        result.tally = tally;
        result.spilled = spilled;
        if options.whole_topic {
            // Positions back to (partition, offset); lost and phantom records become examples
            // here (the topic step pairs lists only when partitions are preserved).
            let per_class = options.examples_per_class;
            let lost = std::mem::take(&mut result.lost);
            let phantom = std::mem::take(&mut result.phantom);
            result
                .examples
                .extend(lost.iter().take(per_class).map(|(_, at)| RawExample {
                    class: AnomalyClass::Lost,
                    source_offset: Some(*at),
                    ..RawExample::default()
                }));
            result
                .examples
                .extend(phantom.iter().take(per_class).map(|(_, at)| RawExample {
                    class: AnomalyClass::Phantom,
                    target_offsets: vec![*at],
                    ..RawExample::default()
                }));
            result.truncated = false;
            for e in &mut result.examples {
                if let Some(at) = e.source_offset {
                    let (p, o) = split_position(at);
                    e.source_partition = Some(p);
                    e.source_offset = Some(o);
                }
                let (partitions, offsets) = e
                    .target_offsets
                    .iter()
                    .map(|at| split_position(*at))
                    .unzip();
                e.target_partitions = partitions;
                e.target_offsets = offsets;
            }
        }
        Ok(result)
    }
}

/// Walks lost (or phantom) records in position order beside the positions compaction may have
/// removed: a record at such a position is counted in `excused`, the others are anomalies
/// (kept as examples). Returns (anomalies, records spilled).
fn excuse_by_position(
    records: RunSorter<Leftover>,
    mut excused_positions: crate::runs::Sorted<Pos>,
    excused: &mut u64,
    kept: &mut Lowest,
) -> Result<(u64, u64), VerifyError> {
    let mut records = records.finish()?;
    let mut counted = 0u64;
    let mut next_excused = excused_positions.next();
    for r in records.by_ref() {
        while next_excused.is_some_and(|p| p.0 < r.pos) {
            next_excused = excused_positions.next();
        }
        if next_excused.is_some_and(|p| p.0 == r.pos) {
            *excused += 1;
        } else {
            counted += 1;
            kept.offer(r.position(), r.fp);
        }
    }
    if let Some(e) = records
        .take_error()
        .or_else(|| excused_positions.take_error())
    {
        return Err(e);
    }
    Ok((counted, records.spilled() + excused_positions.spilled()))
}

/// A lost or phantom record on its way to the corruption pairing: 48 bytes, ordered by
/// workload identity, then position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Leftover {
    pub(super) ident: u64,
    pub(super) pos: u64,
    pub(super) fp: Fingerprint,
}

impl Leftover {
    pub(super) fn new(ident: u64, position: i64, fp: Fingerprint) -> Leftover {
        Leftover {
            ident,
            pos: position.max(0) as u64,
            fp,
        }
    }

    pub(super) fn position(&self) -> i64 {
        self.pos as i64
    }
}

impl Spill for Leftover {
    const SIZE: usize = 48;
    fn write_to(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.ident.to_be_bytes());
        out[8..16].copy_from_slice(&self.pos.to_be_bytes());
        out[16..48].copy_from_slice(&self.fp);
    }
    fn read_from(b: &[u8]) -> Self {
        let mut ident = [0u8; 8];
        ident.copy_from_slice(&b[..8]);
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&b[8..16]);
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&b[16..48]);
        Leftover {
            ident: u64::from_be_bytes(ident),
            pos: u64::from_be_bytes(pos),
            fp,
        }
    }
}

/// The `cap` lowest positions offered, with their fingerprints (a bounded max-heap).
pub(super) struct Lowest {
    pub(super) cap: usize,
    pub(super) heap: std::collections::BinaryHeap<(i64, Fingerprint)>,
}

impl Lowest {
    pub(super) fn new(cap: usize) -> Lowest {
        Lowest {
            cap,
            heap: std::collections::BinaryHeap::new(),
        }
    }

    pub(super) fn offer(&mut self, at: i64, fp: Fingerprint) {
        if self.heap.len() < self.cap {
            self.heap.push((at, fp));
        } else if self.heap.peek().is_some_and(|top| (at, fp) < *top) {
            self.heap.pop();
            self.heap.push((at, fp));
        }
    }

    /// (fingerprint, position) in position order.
    pub(super) fn into_sorted(self) -> Vec<(Fingerprint, i64)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|(at, fp)| (fp, at))
            .collect()
    }
}

/// The first matched position on each side (per partition for whole-topic matching): records
/// before it are judged by retention.
pub(super) struct Firsts {
    pub(super) whole_topic: bool,
    /// One partition: the minimum of each side.
    pub(super) source_min: i64,
    pub(super) target_min: i64,
    /// Whole topic: per partition.
    pub(super) source: HashMap<u64, i64>,
    pub(super) target: HashMap<u64, i64>,
}

impl Firsts {
    pub(super) fn new(whole_topic: bool) -> Firsts {
        Firsts {
            whole_topic,
            source_min: i64::MAX,
            target_min: i64::MAX,
            source: HashMap::new(),
            target: HashMap::new(),
        }
    }

    pub(super) fn note(&mut self, source: i64, target: i64) {
        if !self.whole_topic {
            self.source_min = self.source_min.min(source);
            self.target_min = self.target_min.min(target);
            return;
        }
        for (map, at) in [(&mut self.source, source), (&mut self.target, target)] {
            if at != i64::MAX {
                let e = map
                    .entry((at.max(0) as u64) >> PARTITION_SHIFT)
                    .or_insert(i64::MAX);
                *e = (*e).min(at);
            }
        }
    }

    pub(super) fn first(&self, map: &HashMap<u64, i64>, min: i64, at: i64) -> i64 {
        if !self.whole_topic {
            return min;
        }
        map.get(&((at.max(0) as u64) >> PARTITION_SHIFT))
            .copied()
            .unwrap_or(i64::MAX)
    }

    pub(super) fn source(&self, at: i64) -> i64 {
        self.first(&self.source, self.source_min, at)
    }

    pub(super) fn target(&self, at: i64) -> i64 {
        self.first(&self.target, self.target_min, at)
    }
}

pub(super) fn in_order(
    side: &'static str,
    last: &mut Option<i64>,
    offset: i64,
) -> Result<(), VerifyError> {
    if let Some(previous) = *last {
        if offset <= previous {
            return Err(VerifyError::OutOfOrder {
                side,
                previous,
                offset,
            });
        }
    }
    *last = Some(offset);
    Ok(())
}

/// Counts and the first examples of each class: the ones with the lowest position (target
/// offset, else source offset), whatever order the anomalies were found in.
pub(super) struct Outcome {
    pub(super) counts: Counts,
    /// class → (position, arrival, example), at most `per_class` each.
    pub(super) examples: BTreeMap<AnomalyClass, Vec<(i64, u64, RawExample)>>,
    pub(super) per_class: usize,
    pub(super) arrivals: u64,
    /// A spill error met where it could not be returned.
    pub(super) error: Option<VerifyError>,
    /// Duplicated copies counted over the caller's offset boundaries
    /// ([`PartitionMatcher::mark_duplicates`]).
    pub(super) marks: Option<crate::marks::JobMarks>,
}

impl Outcome {
    pub(super) fn new(per_class: usize) -> Outcome {
        Outcome {
            counts: Counts::default(),
            examples: BTreeMap::new(),
            per_class,
            arrivals: 0,
            error: None,
            marks: None,
        }
    }

    pub(super) fn add(
        &mut self,
        class: AnomalyClass,
        position: i64,
        example: impl FnOnce() -> RawExample,
    ) {
        self.counts.add(class, 1);
        if class == AnomalyClass::Duplicated {
            if let Some(m) = &mut self.marks {
                m.note(position);
            }
        }
        if self.per_class == 0 {
            return;
        }
        self.arrivals += 1;
        let kept = self.examples.entry(class).or_default();
        if kept.len() < self.per_class {
            kept.push((position, self.arrivals, example()));
            return;
        }
        // Replace the highest position kept when this one is lower.
        if let Some((i, _)) = kept
            .iter()
            .enumerate()
            .max_by_key(|(_, (p, seq, _))| (*p, *seq))
            .filter(|(_, (p, _, _))| position < *p)
        {
            kept[i] = (position, self.arrivals, example());
        }
    }
}
