//! `report.html`: one self-contained page (inline CSS and SVG; no script, no font, nothing
//! fetched) a person reads in a minute: verdict and counts at the top, the timeline with the
//! faults, anomalies per partition, the replication delay, examples, the scenario and versions.
//!
//! Large runs stay readable and small: the timeline is downsampled to
//! [`timeline::MAX_POINTS`], examples are capped per class, the topic table lists the topics
//! with something to say (capped), and the heat strip falls back to one cell per topic beyond
//! [`MAX_HEAT_CELLS`] partitions.

use std::fmt::Write as _;

use verdict::AnomalyClass;

use crate::digest::{self, example_line, figures, thousands};
use crate::model::{DelayStats, Outcome, RunKind, RunReport};
use crate::svg::{self, esc, HeatCell};
use crate::timeline;

/// Examples per class in the page.
pub const EXAMPLES_PER_CLASS: usize = 20;
/// Rows of the topic table.
pub const MAX_TOPIC_ROWS: usize = 100;
/// Partitions drawn one cell each; beyond, one cell per topic.
pub const MAX_HEAT_CELLS: usize = 20_000;
/// Topics drawn one labelled row each; beyond, one wrapped strip.
const MAX_LABELLED_ROWS: usize = 40;
/// Scenario text shown (bytes).
const MAX_SCENARIO_TEXT: usize = 64 * 1024;

const CSS: &str = r#"
:root{--pass:#1a7f37;--fail:#cf222e;--warn:#9a6700;--ink:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff}
main{max-width:1020px;margin:0 auto;padding:20px 24px 40px}
header.verdict{border-left:8px solid var(--muted);padding:12px 18px;background:var(--bg);border-radius:6px}
header.pass{border-color:var(--pass)} header.fail{border-color:var(--fail)} header.aborted,header.unknown{border-color:var(--warn)}
h1{margin:0;font-size:24px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-size:15px;vertical-align:middle;margin-left:8px}
.pass .badge{background:var(--pass)} .fail .badge{background:var(--fail)} .aborted .badge,.unknown .badge{background:var(--warn)}
.line{font-size:15px;margin:6px 0 0;font-weight:600} .desc,.muted{color:var(--muted)}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.zero td{color:#8c959f} tr.bad td{background:#ffebe9} tr.undecided td{background:#fff8c5}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px}
.card b{display:block;font-size:18px} .card span{color:var(--muted);font-size:12px}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;font-size:12px;max-height:480px}
code{font-size:12px}
svg.plot{display:block;max-width:100%;height:auto;font-size:11px}
svg .grid line{stroke:#eaeef2} svg .frame{fill:none;stroke:var(--line)} svg .axis{fill:var(--muted)} svg .axis.lag{fill:#bc4c00}
svg polyline{fill:none;stroke-width:1.8} svg .produce{stroke:#0969da} svg .replicate{stroke:#1a7f37}
svg polygon.lag{fill:#fb8f44;fill-opacity:.18;stroke:#bc4c00;stroke-width:1.2}
svg .fault rect{fill:#8250df;fill-opacity:.14;stroke:#8250df;stroke-opacity:.5} svg .fault text{fill:#6639ba;font-weight:600}
svg .fault.failed rect{fill:#cf222e}
svg .rebalance line{stroke:#0550ae;stroke-dasharray:4 3;stroke-width:1.2} svg .rebalance text{fill:#0550ae;font-weight:600} svg .key-rebalance rect{fill:#0550ae}
svg .key-produce rect{fill:#0969da} svg .key-replicate rect{fill:#1a7f37} svg .key-lag rect{fill:#fb8f44} svg .key-fault rect{fill:#8250df;fill-opacity:.3} svg .legend text{fill:var(--ink)}
svg .h0{fill:#dafbe1} svg .h1{fill:#ffcecb} svg .h2{fill:#ff8182} svg .h3{fill:#fa4549} svg .h4{fill:#cf222e} svg .h5{fill:#82071e}
svg .bar{fill:#54aeff} svg .pct line{stroke:#bc4c00;stroke-dasharray:3 2} svg .pct text{fill:#bc4c00;font-weight:600}
footer{margin-top:30px;color:var(--muted);font-size:12px}
"#;

/// The page for one run.
pub fn render(r: &RunReport) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let outcome_class = match r.outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Aborted => "aborted",
        Outcome::Unknown => "unknown",
    };
    let title = match r.kind {
        RunKind::Scenario => format!("cutover: {}", r.scenario),
        RunKind::Verify => format!("cutover verify: {}", r.scenario),
        RunKind::Rehearsal => format!("cutover rehearse: {}", r.scenario),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} — {}</title><style>{CSS}</style></head><body><main>",
        esc(&title),
        r.outcome.as_str()
    );
    // Verdict and counts first.
    let _ = write!(
        h,
        "<header class=\"verdict {outcome_class}\"><h1>{}<span class=\"badge\">{}</span></h1><p class=\"line\">{}</p>",
        esc(&title),
        r.outcome.as_str(),
        esc(&digest::verdict_line(r))
    );
    if !r.description.is_empty() {
        let _ = write!(h, "<p class=\"desc\">{}</p>", esc(&r.description));
    }
    h.push_str("</header>");
    cards(&mut h, r);
    counts(&mut h, r);
    run_classes(&mut h, r);
    if r.kind == RunKind::Scenario || !r.series.is_empty() {
        h.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
        let points = timeline::downsample(&timeline::report_rates(r), timeline::MAX_POINTS);
        let rebalances = r.rebalances.as_ref().map_or(&[][..], |b| &b.events[..]);
        h.push_str(&svg::timeline(&points, &r.faults, rebalances));
        let caught_up = r.drain.as_ref().is_some_and(|d| d.caught_up);
        let scale = timeline::catch_up_scale(&r.series, caught_up);
        let _ = write!(
            h,
            "<p class=\"muted\">Produce and replicate rates from the per-second high-watermark sums of the source and target topics ({} samples, drawn as {} points). Lag = source end{} − target end{}. Shaded bands: faults, labelled with their verb.{}</p></section>",
            r.series.len(),
            points.len(),
            if scale < 1.0 {
                format!(" × {scale:.3}")
            } else {
                String::new()
            },
            if scale < 1.0 {
                " (the share of the source's growth the caught-up target holds: aborted records and transaction markers are not copied)"
            } else {
                ""
            },
            if rebalances.is_empty() {
                ""
            } else {
                " Dashed markers: the system's group rebalances (R1, R2, …), with the duplicated records whose copy was written after each and before the next."
            }
        );
    }
    rehearsal(&mut h, r);
    registries(&mut h, r);
    heat(&mut h, r);
    delay(&mut h, r);
    if r.kind == RunKind::Scenario {
        groups(&mut h, r);
        faults(&mut h, r);
    }
    rebalances(&mut h, r);
    topics(&mut h, r);
    examples(&mut h, r);
    config(&mut h, r);
    let _ = writeln!(
        h,
        "<footer>cutover {} · report.json schema {}.{}{}</footer></main></body></html>",
        esc(&r.cutover_version),
        r.schema_version,
        r.schema_minor,
        r.finished_at
            .as_ref()
            .map_or(String::new(), |t| format!(" · written {}", esc(t)))
    );
    h
}

fn cards(h: &mut String, r: &RunReport) {
    let f = figures(r);
    let mut cards: Vec<(String, &str)> = Vec::new();
    if let Some(v) = &r.verdict {
        cards.push((thousands(v.counts.total()), "anomalies"));
        cards.push((thousands(v.tally.matched), "records matched"));
    }
    if let Some(p) = f.produce_per_sec {
        cards.push((format!("{}/s", thousands(p.round() as u64)), "produced"));
    }
    if let Some(p) = f.replicate_per_sec {
        cards.push((
            format!("{}/s", thousands(p.round() as u64)),
            "replicated (mean while growing)",
        ));
    }
    if let Some(l) = f.max_lag {
        cards.push((thousands(l.round() as u64), "max lag (records)"));
    }
    if let Some(d) = &r.delay {
        cards.push((format!("{} ms", thousands(d.p99_ms)), "delay p99"));
    }
    if let Some(d) = &r.copy_delay {
        cards.push((format!("{} ms", thousands(d.p99_ms)), "copy delay p99"));
    }
    match &r.drain {
        Some(d) if d.caught_up => cards.push((
            format!("{:.1} s", d.downtime_secs.unwrap_or(0.0)),
            "cutover downtime",
        )),
        Some(_) => cards.push(("never".into(), "caught up")),
        None => {}
    }
    if let Some(g) = r.drain.as_ref().and_then(|d| d.groups_moved_secs) {
        cards.push((format!("{g:.1} s"), "groups moved"));
    }
    cards.push((format!("{:.0} s", r.duration_secs), "run"));
    h.push_str("<div class=\"cards\">");
    for (v, l) in cards {
        let _ = write!(
            h,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            esc(&v),
            esc(l)
        );
    }
    h.push_str("</div>");
}

/// The run-level classes (what failed or could not be decided besides the record counts),
/// each with its count: the names an `[expect]` uses.
fn run_classes(h: &mut String, r: &RunReport) {
    let failed = r.failures.iter().filter(|f| !f.is_anomaly_count());
    let rows: Vec<(&str, &crate::Reason)> = failed
        .map(|f| ("bad", f))
        .chain(r.undecided.iter().map(|f| ("undecided", f)))
        .collect();
    if rows.is_empty() {
        return;
    }
    h.push_str("<section id=\"run-classes\"><h2>Run-level classes</h2><table class=\"counts\"><thead><tr><th>class</th><th>count</th><th>detail</th></tr></thead><tbody>");
    for (css, f) in rows {
        let _ = write!(
            h,
            "<tr class=\"{css}\"><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            f.class,
            thousands(f.count),
            esc(&f.detail)
        );
    }
    h.push_str("</tbody></table></section>");
}

fn counts(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"counts\"><h2>Anomalies</h2>");
    let Some(v) = &r.verdict else {
        h.push_str("<p>No verdict: the run ended before verification.</p></section>");
        return;
    };
    let classes = digest::classes(r, 0);
    h.push_str("<table class=\"counts\"><thead><tr><th>class</th><th>count</th><th>where</th></tr></thead><tbody>");
    for class in AnomalyClass::ALL {
        let n = v.counts.get(class);
        let place = classes
            .iter()
            .find(|c| c.class == class)
            .map(|c| c.headline())
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{class}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            if n == 0 { "zero" } else { "bad" },
            thousands(n),
            esc(place.split_once(" in ").map_or("", |(_, w)| w))
        );
    }
    let t = &v.tally;
    let _ = write!(
        h,
        "</tbody></table><p class=\"muted\">{} source records ({} aborted), {} target records, {} matched; {} upstream duplicates (already in the source, not the copy's doing); {:.1} MiB compared in {:.1} s. {}</p></section>",
        thousands(t.source_records),
        thousands(t.source_aborted),
        thousands(t.target_records),
        thousands(t.matched),
        thousands(t.upstream_duplicates),
        t.bytes_compared as f64 / (1 << 20) as f64,
        v.duration_ms as f64 / 1000.0,
        esc(&digest::promises_line(&v.promises))
    );
}

fn heat(h: &mut String, r: &RunReport) {
    let Some(v) = &r.verdict else { return };
    if v.topics.is_empty() {
        return;
    }
    h.push_str("<section id=\"heat\"><h2>Anomalies per partition</h2>");
    let partitions: usize = v.topics.iter().map(|t| t.partitions.len()).sum();
    let detail = |c: &verdict::Counts| {
        c.0.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows: Vec<(String, Vec<HeatCell>)> = if partitions > MAX_HEAT_CELLS {
        // One cell per topic.
        vec![(
            String::new(),
            v.topics
                .iter()
                .map(|t| HeatCell {
                    label: t.source_topic.clone(),
                    anomalies: t.counts.total(),
                    detail: detail(&t.counts),
                })
                .collect(),
        )]
    } else {
        let per_topic = |t: &verdict::TopicVerdict| -> Vec<HeatCell> {
            t.partitions
                .iter()
                .map(|p| HeatCell {
                    label: format!("{}-{}", t.source_topic, p.partition),
                    anomalies: p.counts.total(),
                    detail: detail(&p.counts),
                })
                .collect()
        };
        if v.topics.len() <= MAX_LABELLED_ROWS {
            v.topics
                .iter()
                .map(|t| (t.source_topic.clone(), per_topic(t)))
                .collect()
        } else {
            vec![(String::new(), v.topics.iter().flat_map(per_topic).collect())]
        }
    };
    h.push_str(&svg::heat_strip(&rows, 60));
    let _ = write!(
        h,
        "<p class=\"muted\">{}. Hover a red cell for its counts.</p></section>",
        if partitions > MAX_HEAT_CELLS {
            format!(
                "One cell per topic ({} topics, {} partitions)",
                v.topics.len(),
                thousands(partitions as u64)
            )
        } else if v.topics.len() <= MAX_LABELLED_ROWS {
            "One row per topic, one cell per partition".to_string()
        } else {
            format!(
                "One cell per partition, topics in order ({} topics, {} partitions)",
                v.topics.len(),
                thousands(partitions as u64)
            )
        }
    );
}

fn delay(h: &mut String, r: &RunReport) {
    if r.kind == RunKind::Verify && r.delay.is_none() {
        return;
    }
    h.push_str("<section id=\"delay\"><h2>End-to-end replication delay</h2>");
    match &r.delay {
        Some(d) if !d.buckets.is_empty() => {
            h.push_str(&svg::delay_histogram(d));
            let _ = write!(
                h,
                "<table class=\"delay\"><tr><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>positions</th></tr><tr><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{}</td></tr></table><p class=\"muted\">Method: {}. {}</p>",
                thousands(d.p50_ms),
                thousands(d.p90_ms),
                thousands(d.p99_ms),
                thousands(d.p999_ms),
                thousands(d.max_ms),
                thousands(d.samples),
                esc(&d.method),
                if d.method.starts_with("probe") {
                    "Every record read on the target (read_committed, from the run's start): the time it became readable minus its create time on the source, which the copy preserves."
                } else {
                    "For each fraction of the run's records, the time the target's end reached it minus the time the source's end did (per-second samples, interpolated). Values under a second are interpolation: read them as \"under a second\"; positions where the target's share ran ahead of the source's within that noise count as ≤1 ms."
                }
            );
        }
        _ => h.push_str(
            "<p class=\"muted\">Not enough data for a delay estimate (it needs three samples or more with writes on both sides).</p>",
        ),
    }
    // Where the end-to-end delay went: before any copier could see a record, and in the copy.
    let shares: Vec<(&str, &DelayStats)> = [
        ("at the source (create → readable there)", &r.source_delay),
        (
            "copy (readable on the source → on the target)",
            &r.copy_delay,
        ),
    ]
    .into_iter()
    .filter_map(|(l, d)| d.as_ref().map(|d| (l, d)))
    .collect();
    if !shares.is_empty() {
        h.push_str("<table class=\"delay\"><tr><th>share</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>records</th></tr>");
        for (label, d) in &shares {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{} ms</td><td class=\"n\">{}</td></tr>",
                esc(label),
                thousands(d.p50_ms),
                thousands(d.p90_ms),
                thousands(d.p99_ms),
                thousands(d.p999_ms),
                thousands(d.max_ms),
                thousands(d.samples)
            );
        }
        h.push_str("</table>");
        for (label, d) in &shares {
            let _ = write!(
                h,
                "<p class=\"muted\">{}: {}.</p>",
                esc(label),
                esc(&d.method)
            );
        }
    }
    h.push_str("</section>");
}

fn rehearsal(h: &mut String, r: &RunReport) {
    let Some(reh) = &r.rehearsal else {
        return;
    };
    h.push_str("<section id=\"rehearsal\"><h2>Rehearsal</h2>");
    if reh.allow_writes {
        let _ = write!(
            h,
            "<p>Canary topics {}: {}.</p>",
            reh.canary_topics
                .iter()
                .map(|t| format!("<code>{}</code>", esc(t)))
                .collect::<Vec<_>>()
                .join(", "),
            if reh.cleaned_up {
                "deleted afterwards on both clusters".to_string()
            } else {
                format!("left behind: {}", esc(&reh.leftovers.join(", ")))
            }
        );
    } else {
        h.push_str("<p>Read-only (<code>allow_writes = false</code>): nothing was written to either cluster.</p>");
    }
    if !reh.topics.is_empty() {
        let _ = write!(
            h,
            "<table class=\"groups\"><thead><tr><th>topic</th><th>target</th><th>partitions</th><th>window records</th><th>missing</th><th>duplicated</th><th>lag</th><th>problem</th></tr></thead><tbody>"
        );
        for t in &reh.topics {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&t.topic),
                esc(&t.target_topic),
                t.partitions,
                t.records,
                t.missing,
                t.duplicated,
                t.lag_secs.map_or("over the bound".into(), |s| format!("{s:.1} s")),
                esc(t.problem.as_deref().unwrap_or(""))
            );
        }
        let _ = write!(
            h,
            "</tbody></table><p class=\"muted\">The last {} records of each source partition, fingerprinted and looked up in the same target partition until all were there or {:.0} s passed.</p>",
            reh.window_records, reh.lag_bound_secs
        );
    }
    h.push_str("</section>");
}

/// The schema registries: verification figures, findings, record-level schema classes.
fn registries(h: &mut String, r: &RunReport) {
    let Some(reg) = &r.registries else {
        return;
    };
    let _ = write!(
        h,
        "<section id=\"registries\"><h2>Schema registries: {}</h2><p>Sources {}; target <code>{}</code>.</p>",
        esc(&reg.outcome.to_uppercase()),
        reg.sources
            .iter()
            .map(|s| format!("<code>{}</code>", esc(s)))
            .collect::<Vec<_>>()
            .join(", "),
        esc(&reg.target)
    );
    let figures = reg.figures();
    h.push_str("<table class=\"groups\"><thead><tr>");
    for (label, _) in &figures {
        let _ = write!(h, "<th>{label}</th>");
    }
    h.push_str("</tr></thead><tbody><tr>");
    for (_, n) in &figures {
        let _ = write!(h, "<td class=\"n\">{n}</td>");
    }
    h.push_str("</tr></tbody></table>");
    if !reg.findings.is_empty() {
        h.push_str("<table class=\"groups\"><thead><tr><th>finding</th><th>subject</th><th>version</th><th>registries</th><th>detail</th></tr></thead><tbody>");
        for f in &reg.findings {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.kind),
                esc(&f.subject),
                f.version.map_or(String::new(), |v| v.to_string()),
                esc(&f.registries.join(", ")),
                esc(&f.detail)
            );
        }
        h.push_str("</tbody></table>");
    }
    if reg.records.is_empty() {
        if let Some(n) = reg.records_checked {
            let _ = write!(
                h,
                "<p>Records: all {n} matched records decode with the same schema on the target (judged by canonical schema and payload, never by id).</p>"
            );
        }
    } else {
        h.push_str("<table class=\"counts\"><thead><tr><th>record class</th><th>count</th><th>examples</th></tr></thead><tbody>");
        for c in &reg.records {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&c.class),
                c.count,
                c.examples
                    .iter()
                    .map(|e| esc(e))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("<p class=\"muted\">Schemas are compared by canonical form (Avro Parsing Canonical Form keeping logical types, defaults and aliases; sorted JSON; Protobuf without comments) and by the content their references resolve to, never by id: a merged registry assigns its own ids.</p></section>");
}

fn groups(h: &mut String, r: &RunReport) {
    if r.consumer_groups.is_empty() {
        return;
    }
    h.push_str("<section id=\"groups\"><h2>Consumer-group cutover</h2><table class=\"groups\"><thead><tr><th>group</th><th>partitions</th><th>consumed on source</th><th>skipped</th><th>re-read</th><th>misplaced</th><th>untranslated</th><th>translated by</th></tr></thead><tbody>");
    for g in &r.consumer_groups {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&g.group),
            g.partitions,
            g.consumed_on_source,
            g.skipped,
            g.reread,
            g.misplaced,
            g.untranslated,
            esc(&g.translated_by)
        );
    }
    h.push_str("</tbody></table>");
    let lines: Vec<String> = r
        .consumer_groups
        .iter()
        .flat_map(|g| g.examples.iter().map(move |e| format!("{}: {e}", g.group)))
        .collect();
    if !lines.is_empty() {
        h.push_str("<ul class=\"muted\">");
        for l in lines.iter().take(20) {
            let _ = write!(h, "<li>{}</li>", esc(l));
        }
        h.push_str("</ul>");
    }
    h.push_str("<p class=\"muted\">Each group consumed the source, stopped, had its offsets translated, and is checked for where it resumes on the target: the tail after its target position must be the copy of the tail after its source position.</p></section>");
}

fn faults(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"faults\"><h2>Faults</h2>");
    if r.faults.is_empty() {
        h.push_str("<p class=\"muted\">None scheduled.</p></section>");
        return;
    }
    h.push_str("<table class=\"faults\"><thead><tr><th>fault</th><th>from</th><th>to</th><th>parameters</th><th>applied</th></tr></thead><tbody>");
    for f in &r.faults {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{:.1} s</td><td class=\"n\">{:.1} s</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&f.kind),
            f.start_secs,
            f.end_secs,
            esc(&f.detail),
            if f.error.is_empty() {
                "yes".to_string()
            } else {
                format!("no: {}", esc(&f.error))
            }
        );
    }
    h.push_str("</tbody></table></section>");
}

/// The system's group rebalances: one row each (R1, R2, … as on the timeline).
fn rebalances(h: &mut String, r: &RunReport) {
    let Some(b) = &r.rebalances else { return };
    let _ = write!(
        h,
        "<section id=\"rebalances\"><h2>Rebalances</h2><p>{} rebalance{} of the system's group{} (observed by <code>{}</code>).</p>",
        b.count,
        if b.count == 1 { "" } else { "s" },
        b.task_moves
            .map_or(String::new(), |m| format!(", {m} moved")),
        esc(&b.observed_by)
    );
    if !b.by_cause.is_empty() {
        let causes: Vec<String> = b
            .by_cause
            .iter()
            .map(|(c, n)| format!("{} {n}", esc(c)))
            .collect();
        let _ = write!(h, "<p>By cause: {}.", causes.join(", "));
        if let Some(n) = b.self_inflicted {
            let _ = write!(
                h,
                " Caused by the system itself (poll interval exceeded, session lost) outside any fault: {n}."
            );
        }
        h.push_str("</p>");
    }
    if !b.events.is_empty() {
        h.push_str("<table class=\"rebalances\"><thead><tr><th></th><th>at</th><th>cause</th><th>generation</th><th>members</th><th>moved</th><th>duplicates after</th></tr></thead><tbody>");
        for (i, e) in b.events.iter().enumerate() {
            let _ = write!(
                h,
                "<tr{}><td>R{}</td><td class=\"n\">{:.1} s</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                if e.duplicates_after.is_some_and(|d| d > 0) {
                    " class=\"bad\""
                } else {
                    ""
                },
                i + 1,
                e.at_secs,
                esc(e.cause.as_deref().unwrap_or("–")),
                e.generation.map_or("–".into(), |g| g.to_string()),
                esc(&e.members.join(", ")),
                e.moved,
                e.duplicates_after
                    .map_or("–".into(), thousands)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("<p class=\"muted\">Duplicates after a rebalance: duplicated records whose copy the target's high watermark passed after it and before the next (per second, from the run's samples).</p></section>");
}

fn topics(h: &mut String, r: &RunReport) {
    let Some(v) = &r.verdict else { return };
    let notable: Vec<_> = v
        .topics
        .iter()
        .filter(|t| !t.counts.is_empty() || !t.warnings.is_empty())
        .collect();
    h.push_str("<section id=\"topics\"><h2>Topics</h2>");
    let shown: Vec<_> = if v.topics.len() <= MAX_TOPIC_ROWS {
        v.topics.iter().collect()
    } else {
        notable.iter().take(MAX_TOPIC_ROWS).copied().collect()
    };
    h.push_str("<table class=\"topics\"><thead><tr><th>source → target</th><th>partitions</th><th>source</th><th>target</th><th>matched</th><th>anomalies</th><th>warnings</th></tr></thead><tbody>");
    for t in &shown {
        let anomalies: Vec<String> = t.counts.0.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{} → {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            if t.counts.is_empty() { "" } else { "bad" },
            esc(&t.source_topic),
            esc(&t.target_topic),
            t.partitions.len(),
            thousands(t.tally.source_records),
            thousands(t.tally.target_records),
            thousands(t.tally.matched),
            esc(&anomalies.join(", ")),
            esc(&t.warnings.join("; "))
        );
    }
    h.push_str("</tbody></table>");
    let hidden = v.topics.len() - shown.len();
    if hidden > 0 {
        let _ = write!(
            h,
            "<p class=\"muted\">{} of {} topics shown (those with anomalies or warnings{}); report.json has them all.</p>",
            shown.len(),
            v.topics.len(),
            if notable.len() > shown.len() {
                format!(", first {MAX_TOPIC_ROWS}")
            } else {
                String::new()
            }
        );
    }
    h.push_str("</section>");
}

fn examples(h: &mut String, r: &RunReport) {
    let classes = digest::classes(r, EXAMPLES_PER_CLASS);
    if classes.is_empty() {
        return;
    }
    h.push_str("<section id=\"examples\"><h2>Examples</h2>");
    for c in &classes {
        let _ = write!(
            h,
            "<h3>{} <span class=\"muted\">({} of {})</span></h3><table class=\"examples\"><thead><tr><th>source (topic-partition@offset)</th><th>target</th><th>key</th><th>detail</th></tr></thead><tbody>",
            c.class,
            c.examples.len(),
            thousands(c.count)
        );
        for e in &c.examples {
            let (src, tgt) = digest::example_positions(e);
            let _ = write!(
                h,
                "<tr title=\"{}\"><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&example_line(e)),
                esc(&src),
                esc(&tgt),
                esc(e.key_preview.as_deref().unwrap_or("")),
                esc(e.detail.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>");
}

fn config(h: &mut String, r: &RunReport) {
    h.push_str(
        "<section id=\"config\"><h2>Scenario and versions</h2><table class=\"versions\"><tbody>",
    );
    let mut rows: Vec<(&str, String)> = vec![("cutover", r.cutover_version.clone())];
    if let Some(v) = &r.source_kafka {
        rows.push(("source Kafka", v.clone()));
    }
    if let Some(v) = &r.target_kafka {
        rows.push(("target Kafka", v.clone()));
    }
    if let Some(v) = &r.librdkafka_version {
        rows.push(("librdkafka", v.clone()));
    }
    if !r.system.is_empty() {
        rows.push(("system under test", r.system.clone()));
    }
    if r.kind == RunKind::Scenario {
        rows.push(("seed", r.seed.to_string()));
    }
    if let Some(f) = &r.scenario_file {
        rows.push(("scenario file", f.clone()));
    }
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    let scrapes = r.metrics_files();
    if !scrapes.is_empty() {
        let links: Vec<String> = scrapes
            .iter()
            .map(|f| format!("<a href=\"{0}\">{0}</a>", esc(f)))
            .collect();
        let _ = write!(
            h,
            "<tr><th>replicator metrics (last scrape)</th><td>{}</td></tr>",
            links.join(", ")
        );
    }
    h.push_str("</tbody></table>");
    for (side, props) in &r.client_properties {
        let _ = write!(
            h,
            "<h3>{} client properties</h3><table class=\"props\"><tbody>",
            esc(side)
        );
        for (k, v) in props {
            let _ = write!(
                h,
                "<tr><th><code>{}</code></th><td><code>{}</code></td></tr>",
                esc(k),
                esc(v)
            );
        }
        h.push_str("</tbody></table>");
    }
    if let Some(text) = &r.scenario_text {
        let shown = if text.len() > MAX_SCENARIO_TEXT {
            let mut end = MAX_SCENARIO_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}\n… ({} bytes more)", &text[..end], text.len() - end)
        } else {
            text.clone()
        };
        let _ = write!(
            h,
            "<h3>Scenario file (secrets redacted)</h3><pre class=\"scenario\">{}</pre>",
            esc(&shown)
        );
    }
    h.push_str("</section>");
}
