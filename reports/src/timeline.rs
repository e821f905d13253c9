//! What the per-second high-watermark series says over time: produce rate, replicate rate,
//! lag (downsampled to a fixed number of points for plots) and the end-to-end replication
//! delay distribution.

use hdrhistogram::Histogram;

use crate::model::{DelayBucket, DelayStats, Sample};

/// Points a timeline plot draws at most, whatever the run's length.
pub const MAX_POINTS: usize = 400;

/// Positions at which the delay is measured (fractions of the run's records).
const DELAY_POSITIONS: usize = 2000;

/// One point of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
    pub at_secs: f64,
    /// Records per second into the source topics.
    pub produce_per_sec: f64,
    /// Records per second into the target topics.
    pub replicate_per_sec: f64,
    /// Source end minus target end (records; never negative).
    pub lag: f64,
}

/// Rates between consecutive samples and the lag at each sample (source end − target end).
pub fn rates(series: &[Sample]) -> Vec<RatePoint> {
    rates_scaled(series, 1.0)
}

/// As [`rates`], with the lag counted as `source end × scale − target end`.
pub fn rates_scaled(series: &[Sample], scale: f64) -> Vec<RatePoint> {
    series
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].at_secs - w[0].at_secs;
            (dt > 0.0).then(|| RatePoint {
                at_secs: w[1].at_secs,
                produce_per_sec: (w[1].source_end - w[0].source_end).max(0) as f64 / dt,
                replicate_per_sec: (w[1].target_end - w[0].target_end).max(0) as f64 / dt,
                lag: (w[1].source_end as f64 * scale - w[1].target_end as f64).max(0.0),
            })
        })
        .collect()
}

/// How much of the source's high-watermark growth a caught-up target holds: aborted records
/// and each side's own transaction markers make the sums differ even when nothing is
/// missing. 1 when the run did not catch up (then the raw difference is the honest lag) or
/// the ratio is implausible.
pub fn catch_up_scale(series: &[Sample], caught_up: bool) -> f64 {
    let Some(last) = series.last() else {
        return 1.0;
    };
    if !caught_up || last.source_end <= 0 {
        return 1.0;
    }
    let ratio = last.target_end as f64 / last.source_end as f64;
    if (0.5..=1.0).contains(&ratio) {
        ratio
    } else {
        1.0
    }
}

/// The timeline of a report: rates, and the lag discounted by [`catch_up_scale`].
pub fn report_rates(report: &crate::RunReport) -> Vec<RatePoint> {
    let caught_up = report.drain.as_ref().is_some_and(|d| d.caught_up);
    rates_scaled(&report.series, catch_up_scale(&report.series, caught_up))
}

/// At most `max` points: consecutive points averaged (rates) or maxed (lag) per bucket, so
/// a burst or a lag peak stays visible.
pub fn downsample(points: &[RatePoint], max: usize) -> Vec<RatePoint> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            RatePoint {
                at_secs: c[c.len() - 1].at_secs,
                produce_per_sec: c.iter().map(|p| p.produce_per_sec).sum::<f64>() / n,
                replicate_per_sec: c.iter().map(|p| p.replicate_per_sec).sum::<f64>() / n,
                lag: c.iter().map(|p| p.lag).fold(0.0, f64::max),
            }
        })
        .collect()
}

/// The first time `f(sample)` reaches `level`, linearly interpolated between samples.
fn time_reaching(series: &[Sample], level: f64, f: impl Fn(&Sample) -> f64) -> Option<f64> {
    let mut prev: Option<&Sample> = None;
    for s in series {
        let v = f(s);
        if v >= level {
            return Some(match prev {
                Some(p) if v > f(p) => {
                    let pv = f(p);
                    p.at_secs + (s.at_secs - p.at_secs) * (level - pv) / (v - pv)
                }
                _ => s.at_secs,
            });
        }
        prev = Some(s);
    }
    None
}

/// Delay statistics of a measured histogram (milliseconds), e.g. a probe that read the
/// target and compared each record's (preserved) create time with the time it became
/// readable. None when it holds nothing.
pub fn delay_of(hist: &Histogram<u64>, method: &str) -> Option<DelayStats> {
    if hist.is_empty() {
        return None;
    }
    Some(DelayStats {
        method: method.into(),
        samples: hist.len(),
        p50_ms: hist.value_at_quantile(0.5),
        p90_ms: hist.value_at_quantile(0.9),
        p99_ms: hist.value_at_quantile(0.99),
        p999_ms: hist.value_at_quantile(0.999),
        max_ms: hist.max(),
        buckets: buckets_of(hist),
    })
}

/// The end-to-end delay distribution estimated from the series: for each fraction of the
/// run's records, the time the target's end reached it minus the time the source's end did.
/// Fractions rather than offsets because each side's high watermarks also count its own
/// transaction markers. None when the series is too short or nothing was written.
pub fn delay(series: &[Sample]) -> Option<DelayStats> {
    let (first, last) = (series.first()?, series.last()?);
    let source_span = (last.source_end - first.source_end) as f64;
    let target_span = (last.target_end - first.target_end) as f64;
    if series.len() < 3 || source_span <= 0.0 || target_span <= 0.0 {
        return None;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 24 * 3600 * 1000, 3).ok()?;
    for i in 1..=DELAY_POSITIONS {
        let f = i as f64 / DELAY_POSITIONS as f64;
        let s = time_reaching(series, first.source_end as f64 + f * source_span, |s| {
            s.source_end as f64
        })?;
        let t = time_reaching(series, first.target_end as f64 + f * target_span, |s| {
            s.target_end as f64
        })?;
        let ms = ((t - s).max(0.0) * 1000.0).round() as u64;
        hist.saturating_record(ms.max(1));
    }
    delay_of(&hist, "watermarks")
}

/// Log-spaced buckets (1-2-5 steps in ms) covering the histogram, empty ones inside the
/// range kept so the plot's axis is honest.
fn buckets_of(hist: &Histogram<u64>) -> Vec<DelayBucket> {
    let mut bounds = Vec::new();
    let mut decade = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let b = decade * m;
            bounds.push(b);
            if b >= hist.max() {
                break 'outer;
            }
        }
        decade *= 10;
    }
    let mut out = Vec::new();
    let mut below = 0u64;
    for b in bounds {
        let upto = hist.count_between(0, b);
        out.push(DelayBucket {
            le_ms: b,
            count: upto - below,
        });
        below = upto;
    }
    // Many leading empty buckets say nothing; a few give the distribution a left edge.
    let first = out.iter().position(|b| b.count > 0).unwrap_or(0);
    out.drain(..first.saturating_sub(4));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(secs: usize, lag_secs: usize) -> Vec<Sample> {
        (0..=secs + lag_secs)
            .map(|i| Sample {
                at_secs: i as f64,
                source_end: 1000 * i.min(secs) as i64,
                target_end: 1000 * i.saturating_sub(lag_secs).min(secs) as i64,
            })
            .collect()
    }

    #[test]
    fn a_target_two_seconds_behind_has_a_two_second_delay() {
        let d = delay(&steady(30, 2)).expect("delay");
        assert!((1990..=2010).contains(&d.p50_ms), "{d:?}");
        assert!((1990..=2010).contains(&d.max_ms), "{d:?}");
        assert_eq!(d.buckets.iter().map(|b| b.count).sum::<u64>(), d.samples);
    }

    #[test]
    fn rates_and_lag_follow_the_series() {
        let r = rates(&steady(10, 2));
        assert_eq!(r[0].produce_per_sec, 1000.0);
        assert_eq!(r[0].replicate_per_sec, 0.0);
        assert_eq!(r[2].lag, 2000.0);
    }

    #[test]
    fn downsampling_keeps_the_lag_peak_and_the_point_budget() {
        let mut s = steady(5000, 3);
        s[2500].target_end = 0;
        let r = downsample(&rates(&s), MAX_POINTS);
        assert!(r.len() <= MAX_POINTS);
        assert!(r.iter().any(|p| p.lag > 2_000_000.0));
    }
}
