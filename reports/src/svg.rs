//! The report's plots as hand-written SVG: a timeline (produce rate, replicate rate, lag, fault
//! bands, a marker per rebalance of the system's group), a per-partition heat strip of anomalies and the replication delay histogram.
//!
//! Hand-written rather than plotters' SVG backend: the plots are three simple shapes, and
//! writing the elements ourselves keeps every byte under control (a 1000-topic report must
//! stay small; plotters emits an element per line segment and per glyph run), keeps the output
//! deterministic for snapshot tests, uses CSS classes the page styles, and adds no dependency
//! tree to the binary.

use std::fmt::Write as _;

use crate::model::{DelayStats, FaultEvent, RebalanceEvent};
use crate::timeline::RatePoint;

/// Escapes text for XML/HTML content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A round step so that `max` spans about `ticks` steps (1, 2 or 5 × 10^k).
fn nice_step(max: f64, ticks: usize) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// `12000` → `12k`, `2500000` → `2.5M`.
fn short(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract().abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    };
    format!("{s}{unit}")
}

const W: f64 = 960.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 72.0;

/// The label under a rebalance marker: its number, and the duplicates that followed it when
/// known and not zero (`R3 · 17 dup`).
fn rebalance_label(n: usize, e: &RebalanceEvent) -> String {
    match e.duplicates_after {
        Some(d) if d > 0 => format!("R{n} · {} dup", short(d as f64)),
        _ => format!("R{n}"),
    }
}

/// A rebalance marker's tooltip: when, the generation, the members, what moved and the
/// duplicates that followed.
fn rebalance_title(n: usize, e: &RebalanceEvent) -> String {
    let mut t = format!("rebalance {n} at {:.1} s", e.at_secs);
    if let Some(g) = e.generation {
        let _ = write!(t, ", generation {g}");
    }
    let _ = write!(
        t,
        ": {} member{} ({}), {} moved",
        e.members.len(),
        if e.members.len() == 1 { "" } else { "s" },
        e.members.join(", "),
        e.moved
    );
    match e.duplicates_after {
        Some(d) => {
            let _ = write!(t, ", {d} duplicates after");
        }
        None => t.push_str(", duplicates after not placed"),
    }
    t
}

/// Timeline: produce and replicate rates (left axis), lag (right axis), a shaded band per
/// fault labelled with its verb, and a dashed marker per rebalance of the system's group
/// (`R1`, `R2`, … with the duplicates that followed; generation, members and moves in its
/// tooltip). Rebalances before the workload started (negative times) are drawn at 0.
pub fn timeline(
    points: &[RatePoint],
    faults: &[FaultEvent],
    rebalances: &[RebalanceEvent],
) -> String {
    let h = 320.0;
    let (top, bottom) = (44.0, 36.0);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = h - top - bottom;
    let t_max = points
        .iter()
        .map(|p| p.at_secs)
        .chain(faults.iter().map(|f| f.end_secs))
        .chain(rebalances.iter().map(|e| e.at_secs))
        .fold(1.0, f64::max);
    let r_max = points
        .iter()
        .map(|p| p.produce_per_sec.max(p.replicate_per_sec))
        .fold(0.0, f64::max);
    let l_max = points.iter().map(|p| p.lag).fold(0.0, f64::max);
    let r_step = nice_step(r_max.max(1.0), 5);
    let r_top = (r_max / r_step).ceil().max(1.0) * r_step;
    let l_step = nice_step(l_max.max(1.0), 5);
    let l_top = (l_max / l_step).ceil().max(1.0) * l_step;
    let t_step = nice_step(t_max, 10);
    let x = |t: f64| LEFT + plot_w * (t / t_max).clamp(0.0, 1.0);
    let yr = |v: f64| top + plot_h * (1.0 - (v / r_top).clamp(0.0, 1.0));
    let yl = |v: f64| top + plot_h * (1.0 - (v / l_top).clamp(0.0, 1.0));

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot timeline" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="produce rate, replicate rate and lag over time with faults">"#
    );
    // Fault bands first, so the lines draw over them; labels staggered on three rows.
    for (i, f) in faults.iter().enumerate() {
        let x0 = x(f.start_secs);
        let w = (x(f.end_secs) - x0).max(3.0);
        let row = (i % 3) as f64;
        let class = if f.error.is_empty() {
            "fault"
        } else {
            "fault failed"
        };
        let _ = write!(
            s,
            r#"<g class="{class}"><title>{} {:.1}–{:.1} s{}</title><rect x="{x0:.1}" y="{top}" width="{w:.1}" height="{plot_h}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            esc(&f.kind),
            f.start_secs,
            f.end_secs,
            if f.error.is_empty() {
                String::new()
            } else {
                format!(" (not applied: {})", esc(&f.error))
            },
            x0 + 2.0,
            top - 30.0 + row * 11.0 + 8.0,
            esc(&f.kind)
        );
    }
    // Grid and axes.
    s.push_str(r#"<g class="grid">"#);
    let mut v = 0.0;
    while v <= r_top + 1e-9 {
        let y = yr(v);
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            short(v)
        );
        v += r_step;
    }
    let mut v = 0.0;
    while v <= l_top + 1e-9 {
        let _ = write!(
            s,
            r#"<text class="axis lag" x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + plot_w + 6.0,
            yl(v) + 4.0,
            short(v)
        );
        v += l_step;
    }
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let _ = write!(
            s,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(t),
            top + plot_h + 16.0,
            short(t)
        );
        t += t_step;
    }
    let _ = write!(
        s,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">seconds since the workload started</text>"#,
        LEFT + plot_w / 2.0,
        h - 4.0
    );
    let _ = write!(
        s,
        r#"<text class="axis" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">records/s</text><text class="axis lag" transform="translate({:.1} {:.1}) rotate(90)" text-anchor="middle">lag (records)</text>"#,
        top + plot_h / 2.0,
        W - 10.0,
        top + plot_h / 2.0
    );
    let _ = write!(
        s,
        r#"<rect class="frame" x="{LEFT}" y="{top}" width="{plot_w}" height="{plot_h}"/>"#
    );
    s.push_str("</g>");
    // Rebalance markers under the lines: a dashed rule across the plot, its label at the foot
    // staggered on three rows.
    for (i, e) in rebalances.iter().enumerate() {
        let rx = x(e.at_secs.max(0.0));
        let row = (i % 3) as f64;
        let _ = write!(
            s,
            r#"<g class="rebalance"><title>{}</title><line x1="{rx:.1}" x2="{rx:.1}" y1="{top}" y2="{:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            esc(&rebalance_title(i + 1, e)),
            top + plot_h,
            rx + 2.0,
            top + plot_h - 4.0 - row * 11.0,
            esc(&rebalance_label(i + 1, e))
        );
    }
    if points.is_empty() {
        let _ = write!(
            s,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">no samples</text>"#,
            LEFT + plot_w / 2.0,
            top + plot_h / 2.0
        );
    } else {
        let line = |f: &dyn Fn(&RatePoint) -> (f64, f64)| {
            points
                .iter()
                .map(|p| {
                    let (a, b) = f(p);
                    format!("{a:.1},{b:.1}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        // Lag as a filled area on its own axis, rates as lines.
        let lag = line(&|p| (x(p.at_secs), yl(p.lag)));
        let first = points[0].at_secs;
        let last = points[points.len() - 1].at_secs;
        let base = top + plot_h;
        let _ = write!(
            s,
            r#"<polygon class="lag" points="{:.1},{base:.1} {lag} {:.1},{base:.1}"/>"#,
            x(first),
            x(last)
        );
        let _ = write!(
            s,
            r#"<polyline class="produce" points="{}"/>"#,
            line(&|p| (x(p.at_secs), yr(p.produce_per_sec)))
        );
        let _ = write!(
            s,
            r#"<polyline class="replicate" points="{}"/>"#,
            line(&|p| (x(p.at_secs), yr(p.replicate_per_sec)))
        );
    }
    // Legend.
    let items = [
        ("produce", "produce rate"),
        ("replicate", "replicate rate"),
        ("lag", "lag"),
        ("fault", "fault"),
        ("rebalance", "rebalance"),
    ];
    let items = &items[..if rebalances.is_empty() { 4 } else { 5 }];
    let mut lx = LEFT + plot_w - 100.0 * items.len() as f64;
    for (class, label) in items {
        let _ = write!(
            s,
            r#"<g class="legend key-{class}"><rect x="{lx:.1}" y="6" width="14" height="8"/><text x="{:.1}" y="14">{label}</text></g>"#,
            lx + 18.0
        );
        lx += 100.0;
    }
    s.push_str("</svg>");
    s
}

/// One cell of the heat strip.
pub struct HeatCell {
    pub label: String,
    pub anomalies: u64,
    /// What the anomalies are (`lost 17, duplicated 2`).
    pub detail: String,
}

/// Heat level 0 (clean) to 5 (most anomalies), logarithmic.
fn heat_level(n: u64) -> u32 {
    match n {
        0 => 0,
        1..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

/// Rows of cells (one row per topic when `rows` has labels, else one wrapped strip).
pub fn heat_strip(rows: &[(String, Vec<HeatCell>)], wrap: usize) -> String {
    let widest = rows.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
    let cell = if widest <= 30 { 16.0 } else { 12.0 };
    let gap = 2.0;
    let label_w = if rows.iter().any(|(l, _)| !l.is_empty()) {
        180.0
    } else {
        0.0
    };
    // Lay the rows out, wrapping long ones.
    let mut lines: Vec<(Option<&str>, &[HeatCell])> = Vec::new();
    for (label, cells) in rows {
        if cells.is_empty() {
            lines.push((Some(label.as_str()), &[]));
        }
        for (i, chunk) in cells.chunks(wrap.max(1)).enumerate() {
            lines.push(((i == 0).then_some(label.as_str()), chunk));
        }
    }
    let cols = lines.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
    // Wide enough for the cells and for the legend below them.
    let width = (label_w + cols as f64 * (cell + gap) + 8.0).max(label_w + 6.0 * 70.0 + 20.0);
    let height = lines.len() as f64 * (cell + gap) + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot heat" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="anomalies per partition">"#
    );
    for (row, (label, cells)) in lines.iter().enumerate() {
        let y = row as f64 * (cell + gap);
        if let Some(l) = label.filter(|l| !l.is_empty()) {
            let _ = write!(
                s,
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                label_w - 6.0,
                y + cell - 2.0,
                esc(&truncate(l, 28))
            );
        }
        for (i, c) in cells.iter().enumerate() {
            let x = label_w + i as f64 * (cell + gap);
            let level = heat_level(c.anomalies);
            if c.anomalies == 0 {
                let _ = write!(
                    s,
                    r#"<rect class="h0" x="{x:.0}" y="{y:.0}" width="{cell}" height="{cell}"/>"#
                );
            } else {
                let _ = write!(
                    s,
                    r#"<rect class="h{level}" x="{x:.0}" y="{y:.0}" width="{cell}" height="{cell}"><title>{}: {}</title></rect>"#,
                    esc(&c.label),
                    esc(&c.detail)
                );
            }
        }
    }
    // Legend.
    let y = lines.len() as f64 * (cell + gap) + 8.0;
    let labels = ["0", "1–9", "10–99", "100–999", "1k–10k", "10k+"];
    for (i, l) in labels.iter().enumerate() {
        let x = label_w + i as f64 * 70.0;
        let _ = write!(
            s,
            r#"<rect class="h{i}" x="{x:.0}" y="{y:.0}" width="{cell}" height="{cell}"/><text class="axis" x="{:.0}" y="{:.0}">{l}</text>"#,
            x + cell + 4.0,
            y + cell - 2.0
        );
    }
    s.push_str("</svg>");
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max - 1).collect();
        format!("{head}…")
    }
}

/// The delay histogram with p50 / p99 / p99.9 / max marked.
pub fn delay_histogram(d: &DelayStats) -> String {
    // A narrow distribution (one or two buckets) gets empty 1-2-5 buckets below it, so the
    // bars stand on an axis rather than filling the plot.
    let mut padded = d.clone();
    while padded.buckets.len() < 6 {
        let Some(first) = padded.buckets.first().map(|b| b.le_ms) else {
            break;
        };
        let lower = match first {
            0 | 1 => break,
            b if b.to_string().starts_with('5') => b * 2 / 5,
            b => b / 2,
        };
        padded.buckets.insert(
            0,
            crate::model::DelayBucket {
                le_ms: lower,
                count: 0,
            },
        );
    }
    let d = &padded;
    let h = 240.0;
    let (top, bottom) = (24.0, 40.0);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = h - top - bottom;
    let n = d.buckets.len().max(1);
    let bar_w = (plot_w / n as f64).min(90.0);
    let c_max = d.buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let c_step = nice_step(c_max, 4);
    let c_top = (c_max / c_step).ceil().max(1.0) * c_step;
    let y = |c: f64| top + plot_h * (1.0 - c / c_top);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot delay" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="end-to-end replication delay histogram">"#
    );
    s.push_str(r#"<g class="grid">"#);
    let mut c = 0.0;
    while c <= c_top + 1e-9 {
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT + plot_w,
            y(c),
            y(c),
            LEFT - 6.0,
            y(c) + 4.0,
            short(c)
        );
        c += c_step;
    }
    s.push_str("</g>");
    let mut prev = 0u64;
    for (i, b) in d.buckets.iter().enumerate() {
        let x0 = LEFT + i as f64 * bar_w;
        let _ = write!(
            s,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}–{} ms: {}</title></rect><text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">≤{}</text>"#,
            x0 + 1.0,
            y(b.count as f64),
            (bar_w - 2.0).max(1.0),
            top + plot_h - y(b.count as f64),
            prev,
            b.le_ms,
            b.count,
            x0 + bar_w / 2.0,
            top + plot_h + 14.0,
            ms_short(b.le_ms)
        );
        prev = b.le_ms;
    }
    // Percentile markers at the bucket that holds them (interpolated within it).
    let x_of = |v: u64| {
        let mut lo = 0u64;
        for (i, b) in d.buckets.iter().enumerate() {
            if v <= b.le_ms {
                let frac = if b.le_ms > lo {
                    (v.saturating_sub(lo)) as f64 / (b.le_ms - lo) as f64
                } else {
                    1.0
                };
                return LEFT + (i as f64 + frac.clamp(0.0, 1.0)) * bar_w;
            }
            lo = b.le_ms;
        }
        LEFT + plot_w
    };
    for (i, (name, v)) in [
        ("p50", d.p50_ms),
        ("p99", d.p99_ms),
        ("p99.9", d.p999_ms),
        ("max", d.max_ms),
    ]
    .iter()
    .enumerate()
    {
        let xv = x_of(*v);
        // Labels go left of their line when the line is near the right edge.
        let (tx, anchor) = if xv > LEFT + plot_w - 90.0 {
            (xv - 3.0, "end")
        } else {
            (xv + 3.0, "start")
        };
        let _ = write!(
            s,
            r#"<g class="pct"><line x1="{xv:.1}" x2="{xv:.1}" y1="{top}" y2="{:.1}"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{name} {}</text></g>"#,
            top + plot_h,
            top + 10.0 + i as f64 * 12.0,
            ms_short(*v)
        );
    }
    let _ = write!(
        s,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">delay (bucket upper bound)</text><rect class="frame" x="{LEFT}" y="{top}" width="{plot_w}" height="{plot_h}"/>"#,
        LEFT + plot_w / 2.0,
        h - 6.0
    );
    s.push_str("</svg>");
    s
}

fn ms_short(v: u64) -> String {
    if v >= 1000 {
        format!("{}s", short(v as f64 / 1000.0))
    } else {
        format!("{v}ms")
    }
}
