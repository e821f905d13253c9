//! The run's time series: the high watermarks of the source topics and of their copies on the
//! target, sampled about once a second (the report's `series`, the progress line, the drain's
//! "target still" clock). Read through the clusters' direct listeners, never the fault
//! proxies.
//!
//! The samples that go into the series also keep each target partition's high watermark
//! ([`WatermarkHistory`]): the moment a copy was written, to the second, for placing the
//! checker's duplicates after the system's rebalances. That history is bounded
//! ([`MAX_WATERMARK_VALUES`]); past it, it stops and says so.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use reports::Sample;

use crate::error::ScenarioError;

/// Most target watermarks the history keeps (partitions × samples, 8 bytes each: 16 MB), e.g.
/// 1,000 partitions for 2,000 seconds.
pub const MAX_WATERMARK_VALUES: usize = 2_000_000;

/// High watermarks of the source and target topics.
pub(crate) struct Sampler {
    source: BaseConsumer,
    target: BaseConsumer,
    topics: Vec<String>,
    target_topics: Vec<String>,
    history: WatermarkHistory,
}

impl Sampler {
    pub(crate) fn new(
        source: &harness::ClientProps,
        target: &harness::ClientProps,
        topics: &[String],
        target_topics: &[String],
    ) -> Result<Sampler, ScenarioError> {
        let make = |p: &harness::ClientProps| -> Result<BaseConsumer, ScenarioError> {
            p.reader("cutover-sampler")?
                .create()
                .map_err(|e| ScenarioError::System(format!("sampler client: {e}")))
        };
        Ok(Sampler {
            source: make(source)?,
            target: make(target)?,
            topics: topics.to_vec(),
            target_topics: target_topics.to_vec(),
            history: WatermarkHistory::new(MAX_WATERMARK_VALUES),
        })
    }

    fn ends(c: &BaseConsumer, topics: &[String]) -> HashMap<(String, i32), i64> {
        harness::watermarks::end_offsets(c, topics, Duration::from_secs(5))
    }

    /// A sample for the progress line (nothing kept).
    pub(crate) fn sample(&self, started: Instant) -> Sample {
        Sample {
            at_secs: started.elapsed().as_secs_f64(),
            source_end: Self::ends(&self.source, &self.topics).values().sum(),
            target_end: Self::ends(&self.target, &self.target_topics).values().sum(),
        }
    }

    /// A sample for the series: the target's watermarks per partition are kept too.
    pub(crate) fn record(&mut self, started: Instant) -> Sample {
        let source_end = Self::ends(&self.source, &self.topics).values().sum();
        let at = Instant::now();
        let target = Self::ends(&self.target, &self.target_topics);
        let sample = Sample {
            at_secs: started.elapsed().as_secs_f64(),
            source_end,
            target_end: target.values().sum(),
        };
        self.history.push(at, target);
        sample
    }

    /// The target watermarks kept so far.
    pub(crate) fn history(&self) -> &WatermarkHistory {
        &self.history
    }
}

/// Each target partition's high watermark at each recorded sample, bounded.
#[derive(Debug, Default)]
pub struct WatermarkHistory {
    /// Target (topic, partition) → its column.
    columns: BTreeMap<(String, i32), usize>,
    /// (when read, watermark per column; a partition absent from a sample is -1).
    rows: Vec<(Instant, Vec<i64>)>,
    values: usize,
    limit: usize,
    /// The history stopped at its limit.
    pub full: bool,
}

impl WatermarkHistory {
    /// A history of at most `limit` watermarks.
    pub fn new(limit: usize) -> WatermarkHistory {
        WatermarkHistory {
            limit,
            ..WatermarkHistory::default()
        }
    }

    /// Keeps one sample's watermarks (an empty answer, a failed read, is left out).
    pub fn push(&mut self, at: Instant, ends: HashMap<(String, i32), i64>) {
        if self.full || ends.is_empty() {
            return;
        }
        for k in ends.keys() {
            let n = self.columns.len();
            self.columns.entry(k.clone()).or_insert(n);
        }
        if self.values + self.columns.len() > self.limit {
            self.full = true;
            return;
        }
        let mut row = vec![-1; self.columns.len()];
        for (k, v) in ends {
            if let Some(c) = self.columns.get(&k) {
                row[*c] = v;
            }
        }
        self.values += row.len();
        self.rows.push((at, row));
    }

    /// Per target partition, its watermark at each moment: the last one read at or before
    /// it (0 before the first read).
    pub fn at_moments(&self, moments: &[Instant]) -> HashMap<(String, i32), Vec<i64>> {
        self.columns
            .iter()
            .map(|(k, c)| {
                let marks = moments
                    .iter()
                    .map(|m| {
                        let n = self.rows.partition_point(|(at, _)| at <= m);
                        self.rows[..n]
                            .iter()
                            .rev()
                            .find_map(|(_, row)| row.get(*c).copied().filter(|v| *v >= 0))
                            .unwrap_or(0)
                    })
                    .collect();
                (k.clone(), marks)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_at_a_moment_is_the_last_read_at_or_before_it() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut h = WatermarkHistory::new(100);
        h.push(s(1), HashMap::from([(("t".into(), 0), 10)]));
        h.push(s(2), HashMap::new());
        h.push(
            s(3),
            HashMap::from([(("t".into(), 0), 25), (("t".into(), 1), 4)]),
        );
        let m = h.at_moments(&[t0, s(1), s(2), s(3), s(9)]);
        assert_eq!(m[&("t".to_string(), 0)], vec![0, 10, 10, 25, 25]);
        // Partition 1 appeared later (a grown topic): 0 before it was read.
        assert_eq!(m[&("t".to_string(), 1)], vec![0, 0, 0, 4, 4]);
        assert!(!h.full);
    }

    #[test]
    fn the_history_stops_at_its_limit_and_says_so() {
        let t0 = Instant::now();
        let mut h = WatermarkHistory::new(5);
        let row = || HashMap::from([(("t".into(), 0), 1), (("t".into(), 1), 2)]);
        h.push(t0, row());
        h.push(t0, row());
        assert!(!h.full);
        h.push(t0, row());
        assert!(h.full, "6 values over a limit of 5");
        assert_eq!(h.rows.len(), 2);
    }
}
