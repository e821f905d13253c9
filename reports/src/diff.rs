//! `cutover diff A B`: two runs side by side — outcome, anomaly counts, throughput (with the
//! ratio B/A), lag, delay and downtime. The tuning loop: change one setting, run again, diff.

use std::fmt::Write as _;

use verdict::AnomalyClass;

use crate::digest::{figures, thousands};
use crate::model::{Outcome, RunReport};

/// The comparison and whether B is worse than A.
#[derive(Debug, Clone)]
pub struct Diff {
    pub text: String,
    /// B fails where A passed, or B has more anomalies of some class than A.
    pub regressed: bool,
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| thousands(x.round().max(0.0) as u64))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("×{:.2}", b / a),
        _ => String::new(),
    }
}

/// Compares run `a` with run `b` (labels name them in the table).
pub fn diff(a: &RunReport, b: &RunReport, label_a: &str, label_b: &str) -> Diff {
    let mut rows: Vec<[String; 4]> = vec![
        [
            String::new(),
            format!("A: {label_a}"),
            format!("B: {label_b}"),
            "B vs A".into(),
        ],
        [
            "scenario".into(),
            a.scenario.clone(),
            b.scenario.clone(),
            String::new(),
        ],
        [
            "outcome".into(),
            a.outcome.as_str().into(),
            b.outcome.as_str().into(),
            if a.outcome == b.outcome {
                "same".into()
            } else {
                "changed".into()
            },
        ],
    ];
    let count = |r: &RunReport, c: AnomalyClass| r.verdict.as_ref().map(|v| v.counts.get(c));
    let mut regressed = a.outcome == Outcome::Pass && b.outcome != Outcome::Pass;
    rows.push([
        "anomalies".into(),
        thousands(a.anomalies()),
        thousands(b.anomalies()),
        delta(a.anomalies(), b.anomalies()),
    ]);
    for c in AnomalyClass::ALL {
        let (x, y) = (count(a, c), count(b, c));
        if x.unwrap_or(0) == 0 && y.unwrap_or(0) == 0 {
            continue;
        }
        if y.unwrap_or(0) > x.unwrap_or(0) {
            regressed = true;
        }
        rows.push([
            format!("  {c}"),
            x.map_or("-".into(), thousands),
            y.map_or("-".into(), thousands),
            delta(x.unwrap_or(0), y.unwrap_or(0)),
        ]);
    }
    let (fa, fb) = (figures(a), figures(b));
    let mut add = |name: &str, x: Option<f64>, y: Option<f64>, unit: &str| {
        rows.push([
            name.into(),
            format!("{}{unit}", num(x)),
            format!("{}{unit}", num(y)),
            ratio(x, y),
        ]);
    };
    add(
        "produced",
        fa.produce_per_sec,
        fb.produce_per_sec,
        " records/s",
    );
    add(
        "replicated (mean)",
        fa.replicate_per_sec,
        fb.replicate_per_sec,
        " records/s",
    );
    add(
        "replicated (peak)",
        fa.replicate_peak_per_sec,
        fb.replicate_peak_per_sec,
        " records/s",
    );
    add("max lag", fa.max_lag, fb.max_lag, " records");
    let p99 = |r: &RunReport| r.delay.as_ref().map(|d| d.p99_ms as f64);
    add("delay p99", p99(a), p99(b), " ms");
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.1} s"));
    rows.push([
        "cutover downtime".into(),
        secs(fa.downtime_secs),
        secs(fb.downtime_secs),
        ratio(fa.downtime_secs, fb.downtime_secs),
    ]);
    rows.push([
        "run".into(),
        secs(Some(a.duration_secs)),
        secs(Some(b.duration_secs)),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for r in &rows {
        let _ = writeln!(
            text,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let _ = write!(
        text,
        "{}",
        if regressed {
            "B is worse than A (more anomalies or a lost pass)"
        } else {
            "B is no worse than A in outcome and anomalies"
        }
    );
    Diff { text, regressed }
}

fn delta(a: u64, b: u64) -> String {
    match b.cmp(&a) {
        std::cmp::Ordering::Equal => "=".into(),
        std::cmp::Ordering::Greater => format!("+{}", thousands(b - a)),
        std::cmp::Ordering::Less => format!("-{}", thousands(a - b)),
    }
}
