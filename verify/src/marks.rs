//! Where duplicated copies sit on the target: a histogram over offset boundaries.
//!
//! A caller that knows moments of interest (a run's rebalances) and each target partition's
//! high watermark at those moments gives the checker, per target partition, ascending offset
//! boundaries `b[0] ≤ b[1] ≤ …` ([`DuplicateMarks::new`], set as
//! [`VerifyOptions::duplicate_marks`](crate::VerifyOptions)). Every duplicated copy the matcher
//! counts (the extra target copy, at its target offset `o`) then lands in bucket `i`, the number
//! of boundaries `≤ o`: bucket 0 holds copies written before the first moment, bucket `k`
//! those written after moment `k` and before moment `k + 1`. Only the counts are kept: memory
//! is the boundaries plus one counter per bucket, whatever the number of duplicates, and the
//! verdict itself is unchanged. A duplicate in a partition without boundaries is counted as
//! unplaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::matcher::PARTITION_SHIFT;

/// Offset boundaries per target partition and the duplicates counted in each bucket.
#[derive(Debug, Default)]
pub struct DuplicateMarks {
    /// (target topic, partition) → ascending boundaries, [`Self::buckets`] − 1 of them.
    boundaries: HashMap<(String, i32), Arc<[i64]>>,
    buckets: usize,
    /// Totals per bucket, then the unplaced ones last; filled as partitions finish.
    totals: Mutex<Vec<u64>>,
}

/// The duplicates counted over the boundaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkedDuplicates {
    /// Per bucket: copies below the first boundary, then after each boundary.
    pub buckets: Vec<u64>,
    /// Duplicated copies in a partition without boundaries.
    pub unplaced: u64,
}

impl DuplicateMarks {
    /// `moments` boundaries per target partition (each list ascending; a shorter list is padded
    /// with its last boundary, a longer one cut): `moments + 1` buckets.
    pub fn new(moments: usize, per_partition: HashMap<(String, i32), Vec<i64>>) -> DuplicateMarks {
        let boundaries = per_partition
            .into_iter()
            .map(|(k, mut b)| {
                b.sort_unstable();
                let last = b.last().copied().unwrap_or(0);
                b.resize(moments, last);
                (k, Arc::from(b))
            })
            .collect();
        DuplicateMarks {
            boundaries,
            buckets: moments + 1,
            totals: Mutex::new(vec![0; moments + 2]),
        }
    }

    /// What the checker counted so far (all of it once `verify` returned).
    pub fn counted(&self) -> MarkedDuplicates {
        let t = self.lock().clone();
        MarkedDuplicates {
            buckets: t[..self.buckets].to_vec(),
            unplaced: t[self.buckets],
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        match self.totals.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The boundaries of one matcher's positions: one target partition, or every partition of
    /// a whole-topic job (positions `partition << PARTITION_SHIFT | offset`).
    pub(crate) fn for_job(
        self: &Arc<Self>,
        target_topic: &str,
        partition: i32,
        whole_topic: bool,
    ) -> JobMarks {
        let lookup = if whole_topic {
            Lookup::WholeTopic(
                self.boundaries
                    .iter()
                    .filter(|((t, _), _)| t == target_topic)
                    .map(|((_, p), b)| (*p, b.clone()))
                    .collect(),
            )
        } else {
            Lookup::Partition(
                self.boundaries
                    .get(&(target_topic.to_string(), partition))
                    .cloned(),
            )
        };
        JobMarks {
            lookup,
            counts: vec![0; self.buckets + 1],
            sink: self.clone(),
        }
    }
}

enum Lookup {
    Partition(Option<Arc<[i64]>>),
    WholeTopic(HashMap<i32, Arc<[i64]>>),
}

/// One matcher's share: its boundaries and its own counts, added to the shared totals when
/// its partition finishes.
pub(crate) struct JobMarks {
    lookup: Lookup,
    /// Per bucket, then unplaced.
    counts: Vec<u64>,
    sink: Arc<DuplicateMarks>,
}

impl JobMarks {
    /// A duplicated copy at matcher position `position` (an offset, or a topic position).
    pub(crate) fn note(&mut self, position: i64) {
        let (bounds, offset) = match &self.lookup {
            Lookup::Partition(b) => (b.as_deref(), position),
            Lookup::WholeTopic(map) => (
                map.get(&((position.max(0) as u64 >> PARTITION_SHIFT) as i32))
                    .map(|b| &b[..]),
                position & ((1i64 << PARTITION_SHIFT) - 1),
            ),
        };
        let i = match bounds {
            Some(b) => b.partition_point(|x| *x <= offset),
            None => self.counts.len() - 1,
        };
        self.counts[i] += 1;
    }

    /// Adds this partition's counts to the totals.
    pub(crate) fn finish(self) {
        let mut t = self.sink.lock();
        for (a, b) in t.iter_mut().zip(&self.counts) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::topic_position;

    #[test]
    fn copies_land_after_the_last_boundary_at_or_below_their_offset() {
        let marks = Arc::new(DuplicateMarks::new(
            2,
            HashMap::from([(("t".into(), 0), vec![100, 10]), (("t".into(), 1), vec![5])]),
        ));
        let mut j = marks.for_job("t", 0, false);
        for o in [0, 9, 10, 99, 100, 5000] {
            j.note(o);
        }
        j.finish();
        // Partition 1's single boundary is padded: both moments at offset 5.
        let mut j = marks.for_job("t", 1, false);
        j.note(4);
        j.note(5);
        j.finish();
        let mut j = marks.for_job("t", 2, false);
        j.note(1);
        j.finish();
        assert_eq!(
            marks.counted(),
            MarkedDuplicates {
                buckets: vec![3, 2, 3],
                unplaced: 1
            }
        );
    }

    #[test]
    fn a_whole_topic_job_finds_the_partition_in_the_position() {
        let marks = Arc::new(DuplicateMarks::new(
            1,
            HashMap::from([(("t".into(), 0), vec![50]), (("t".into(), 3), vec![7])]),
        ));
        let mut j = marks.for_job("t", -1, true);
        j.note(topic_position(3, 6).unwrap());
        j.note(topic_position(3, 7).unwrap());
        j.note(topic_position(0, 7).unwrap());
        j.note(topic_position(1, 7).unwrap());
        j.finish();
        assert_eq!(
            marks.counted(),
            MarkedDuplicates {
                buckets: vec![2, 1],
                unplaced: 1
            }
        );
    }
}
