//! The figures every output shows, computed once from the model: anomaly classes with the
//! topics and partitions they hit, examples capped per class, throughput, lag, delay.

use verdict::{AnomalyClass, Example};

use crate::model::{Outcome, RunReport};
use crate::timeline;

/// One anomaly class as the outputs show it.
#[derive(Debug, Clone)]
pub struct ClassDigest<'a> {
    pub class: AnomalyClass,
    pub count: u64,
    /// (source topic, count), most affected first.
    pub topics: Vec<(&'a str, u64)>,
    /// Partitions with at least one anomaly of the class.
    pub partitions: usize,
    /// The first examples, at most the cap given to [`classes`].
    pub examples: Vec<&'a Example>,
}

impl ClassDigest<'_> {
    /// `lost: 17 in orders.3 [3 partitions]` — the line JUnit and the summaries lead with.
    pub fn headline(&self) -> String {
        const SHOWN: usize = 3;
        let mut topics: Vec<&str> = self.topics.iter().take(SHOWN).map(|(t, _)| *t).collect();
        let more = self.topics.len().saturating_sub(SHOWN);
        let more = if more > 0 {
            format!(" and {more} more topic{}", plural(more))
        } else {
            String::new()
        };
        if topics.is_empty() {
            topics.push("?");
        }
        format!(
            "{}: {} in {}{more} [{} partition{}]",
            self.class,
            self.count,
            topics.join(", "),
            self.partitions,
            plural(self.partitions)
        )
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Every class the verdict counted, in the checker's order, with at most `cap` examples each.
pub fn classes(report: &RunReport, cap: usize) -> Vec<ClassDigest<'_>> {
    let Some(v) = &report.verdict else {
        return Vec::new();
    };
    AnomalyClass::ALL
        .iter()
        .filter(|c| v.counts.get(**c) > 0)
        .map(|&class| {
            let mut topics: Vec<(&str, u64)> = v
                .topics
                .iter()
                .filter(|t| t.counts.get(class) > 0)
                .map(|t| (t.source_topic.as_str(), t.counts.get(class)))
                .collect();
            topics.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let partitions = v
                .topics
                .iter()
                .map(|t| {
                    let per = t
                        .partitions
                        .iter()
                        .filter(|p| p.counts.get(class) > 0)
                        .count();
                    // Classes found across partitions (moved-partition) may have no
                    // per-partition count: the topic counts as one place.
                    if per == 0 && t.counts.get(class) > 0 {
                        1
                    } else {
                        per
                    }
                })
                .sum();
            let examples = v
                .topics
                .iter()
                .flat_map(|t| t.examples.iter())
                .filter(|e| e.class == class)
                .take(cap)
                .collect();
            ClassDigest {
                class,
                count: v.counts.get(class),
                topics,
                partitions,
                examples,
            }
        })
        .collect()
}

/// An example's positions as text: the source (`orders.3-1@42`, `-` when none) and the
/// target positions joined with `, `.
pub fn example_positions(e: &Example) -> (String, String) {
    let src = e.source.as_ref().map_or("-".to_string(), |p| {
        format!("{}-{}@{}", p.topic, p.partition, p.offset)
    });
    let tgt: Vec<String> = e
        .target
        .iter()
        .map(|p| format!("{}-{}@{}", p.topic, p.partition, p.offset))
        .collect();
    (src, tgt.join(", "))
}

/// One line for an example: `orders.3-1@42 → [orders.3-1@40] key "k-17" (detail)`.
pub fn example_line(e: &Example) -> String {
    let (src, tgt) = example_positions(e);
    format!(
        "{}: source {src} → target [{tgt}]{}{}",
        e.class,
        e.key_preview
            .as_ref()
            .map_or(String::new(), |k| format!(" key {k}")),
        e.detail
            .as_ref()
            .map_or(String::new(), |d| format!(" ({d})"))
    )
}

/// Throughput, lag and delay figures.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Workload records/s as the producers measured it.
    pub produce_per_sec: Option<f64>,
    pub produce_mb_per_sec: Option<f64>,
    /// Mean records/s into the target while it was growing.
    pub replicate_per_sec: Option<f64>,
    pub replicate_peak_per_sec: Option<f64>,
    pub max_lag: Option<f64>,
    pub max_lag_at_secs: Option<f64>,
    pub downtime_secs: Option<f64>,
    pub drain_secs: Option<f64>,
}

pub fn figures(report: &RunReport) -> Figures {
    let r = timeline::report_rates(report);
    let growing: Vec<f64> = r
        .iter()
        .map(|p| p.replicate_per_sec)
        .filter(|x| *x > 0.0)
        .collect();
    let peak_lag = r
        .iter()
        .copied()
        .max_by(|a, b| a.lag.total_cmp(&b.lag))
        .filter(|p| p.lag > 0.0);
    Figures {
        produce_per_sec: report.workload.as_ref().map(|w| w.records_per_sec),
        produce_mb_per_sec: report.workload.as_ref().map(|w| w.mb_per_sec),
        replicate_per_sec: (!growing.is_empty())
            .then(|| growing.iter().sum::<f64>() / growing.len() as f64),
        replicate_peak_per_sec: growing.iter().copied().reduce(f64::max),
        max_lag: peak_lag.map(|p| p.lag).or((!r.is_empty()).then_some(0.0)),
        max_lag_at_secs: peak_lag.map(|p| p.at_secs),
        downtime_secs: report.drain.as_ref().and_then(|d| d.downtime_secs),
        drain_secs: report.drain.as_ref().map(|d| d.secs),
    }
}

/// The promises the checker held the copy to, in words (classes of promises not made are
/// counted and shown but do not fail the run).
pub fn promises_line(p: &verdict::Promises) -> String {
    let yes = |b: bool| if b { "kept" } else { "not promised" };
    format!(
        "Promises checked: partitions {}, order {}, offsets {}, timestamps {}, duplicates allowed {}.",
        yes(p.partitions),
        yes(p.order),
        yes(p.offsets),
        yes(p.timestamps),
        p.allowed_duplicates
    )
}

/// `PASS`, `FAIL — lost: 17 in orders.3 [3 partitions]; …` — the verdict line.
pub fn verdict_line(report: &RunReport) -> String {
    let classes = classes(report, 0);
    let mut reasons: Vec<String> = classes.iter().map(ClassDigest::headline).collect();
    // Failures that are not anomaly counts (drain timeout, a dead instance) come too.
    for f in report.failures.iter().filter(|f| !f.is_anomaly_count()) {
        reasons.push(f.to_string());
    }
    // What cutover could not observe (an unknown outcome).
    reasons.extend(report.undecided.iter().map(|r| r.to_string()));
    match (report.outcome, reasons.is_empty()) {
        (Outcome::Pass, _) | (_, true) => report.outcome.as_str().to_string(),
        (o, false) => format!("{} — {}", o.as_str(), reasons.join("; ")),
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
