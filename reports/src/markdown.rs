//! `summary.md`: GitHub-flavoured Markdown fit for a CI job summary or a PR comment — the
//! verdict line, anomaly classes × counts, throughput, lag, downtime, faults and the first
//! examples.

use std::fmt::Write as _;

use crate::digest::{self, example_line, figures, thousands};
use crate::model::{Outcome, RunKind, RunReport};

/// Rebalances listed in the summary (the rest are in report.json and report.html).
pub const MAX_REBALANCE_ROWS: usize = 40;

/// Examples per class in the summary.
pub const EXAMPLES_PER_CLASS: usize = 3;

/// Markdown for one run.
pub fn render(r: &RunReport) -> String {
    let mut md = String::new();
    let icon = match r.outcome {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::Aborted | Outcome::Unknown => "⚠️",
    };
    let what = match r.kind {
        RunKind::Scenario => format!("cutover scenario `{}`", cell(&r.scenario)),
        RunKind::Verify => format!("cutover verify `{}`", cell(&r.scenario)),
        RunKind::Rehearsal => format!("cutover rehearse `{}`", cell(&r.scenario)),
    };
    let _ = writeln!(md, "## {icon} {what}: {}\n", r.outcome.as_str());
    if !r.description.is_empty() {
        let _ = writeln!(md, "> {}\n", r.description.replace('\n', " "));
    }
    let _ = writeln!(md, "**Verdict:** {}\n", digest::verdict_line(r));
    // Run-level classes: what failed or could not be decided besides the record counts.
    let run_level: Vec<&crate::Reason> = r
        .failures
        .iter()
        .filter(|f| !f.is_anomaly_count())
        .chain(&r.undecided)
        .collect();
    if !run_level.is_empty() {
        let _ = writeln!(md, "| run-level class | count | detail |");
        let _ = writeln!(md, "| --- | ---: | --- |");
        for f in run_level {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                f.class,
                thousands(f.count),
                cell(&f.detail)
            );
        }
        md.push('\n');
    }
    let classes = digest::classes(r, EXAMPLES_PER_CLASS);
    if let Some(v) = r.verdict.as_ref().filter(|v| !v.skipped_topics.is_empty()) {
        let shown: Vec<String> = v.skipped_topics.iter().map(|s| cell(s)).collect();
        let _ = writeln!(md, "Not verified (left out): {}\n", shown.join("; "));
    }
    if let Some(v) = &r.verdict {
        if classes.is_empty() {
            let _ = writeln!(
                md,
                "No anomalies: {} source records ({} aborted) against {} target records, {} matched; {} upstream duplicates (already in the source).\n",
                thousands(v.tally.source_records),
                thousands(v.tally.source_aborted),
                thousands(v.tally.target_records),
                thousands(v.tally.matched),
                thousands(v.tally.upstream_duplicates),
            );
        } else {
            let _ = writeln!(md, "| anomaly | count | topics | partitions |");
            let _ = writeln!(md, "| --- | ---: | --- | ---: |");
            for c in &classes {
                let mut topics: Vec<String> = c
                    .topics
                    .iter()
                    .take(5)
                    .map(|(t, n)| format!("`{}` {}", cell(t), thousands(*n)))
                    .collect();
                if c.topics.len() > 5 {
                    topics.push(format!("+{} more", c.topics.len() - 5));
                }
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    c.class,
                    thousands(c.count),
                    topics.join(", "),
                    c.partitions
                );
            }
            let _ = writeln!(
                md,
                "\n{} source records, {} target records, {} matched, {} upstream duplicates.\n",
                thousands(v.tally.source_records),
                thousands(v.tally.target_records),
                thousands(v.tally.matched),
                thousands(v.tally.upstream_duplicates),
            );
        }
        if v.tally.unverifiable_compacted > 0 {
            let _ = writeln!(
                md,
                "{} records of compacted topics could not be judged: older values of a key or tombstones a log cleaner may have removed on one side (`unverifiable_compacted`).\n",
                thousands(v.tally.unverifiable_compacted)
            );
        }
        let _ = writeln!(md, "{}\n", digest::promises_line(&v.promises));
    } else {
        let _ = writeln!(md, "No verdict (the run ended before verification).\n");
    }
    let f = figures(r);
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(p) = f.produce_per_sec {
        rows.push((
            "workload (produced)".into(),
            format!(
                "{} records/s ({:.2} MB/s)",
                thousands(p.round() as u64),
                f.produce_mb_per_sec.unwrap_or(0.0)
            ),
        ));
    }
    if let Some(w) = &r.workload {
        rows.push((
            "records sent / committed / aborted".into(),
            format!(
                "{} / {} / {}",
                thousands(w.sent),
                thousands(w.committed),
                thousands(w.aborted)
            ),
        ));
    }
    if let (Some(m), Some(p)) = (f.replicate_per_sec, f.replicate_peak_per_sec) {
        rows.push((
            "replication (mean / peak)".into(),
            format!(
                "{} / {} records/s",
                thousands(m.round() as u64),
                thousands(p.round() as u64)
            ),
        ));
    }
    if let Some(l) = f.max_lag {
        rows.push((
            "max lag".into(),
            match f.max_lag_at_secs {
                Some(at) => format!("{} records at {at:.0} s", thousands(l.round() as u64)),
                None => format!("{} records", thousands(l.round() as u64)),
            },
        ));
    }
    for (label, d) in [
        ("replication delay p50 / p99 / p99.9 / max", &r.delay),
        (
            "of which at the source (create → readable there) p50 / p99 / p99.9 / max",
            &r.source_delay,
        ),
        (
            "copy delay (readable on the source → on the target) p50 / p99 / p99.9 / max",
            &r.copy_delay,
        ),
    ] {
        if let Some(d) = d {
            rows.push((
                label.into(),
                format!(
                    "{} / {} / {} / {} ({})",
                    ms(d.p50_ms),
                    ms(d.p99_ms),
                    ms(d.p999_ms),
                    ms(d.max_ms),
                    d.method
                ),
            ));
        }
    }
    if let Some(drain) = &r.drain {
        rows.push((
            "cutover downtime (last source write → target caught up)".into(),
            match (drain.caught_up, drain.downtime_secs) {
                (true, Some(d)) => format!("{d:.1} s (drain {:.1} s)", drain.secs),
                _ => format!("never caught up (drain gave up after {:.1} s)", drain.secs),
            },
        ));
        if let Some(g) = drain.groups_moved_secs {
            rows.push((
                "consumers' switch downtime (last source write → every group moved)".into(),
                format!("{g:.1} s"),
            ));
        }
    }
    let scrapes = r.metrics_files();
    if !scrapes.is_empty() {
        let links: Vec<String> = scrapes.iter().map(|f| format!("[{f}]({f})")).collect();
        rows.push((
            "replicator metrics (last scrape)".to_string(),
            links.join(", "),
        ));
    }
    if !rows.is_empty() {
        let _ = writeln!(md, "### Throughput, lag, downtime\n");
        let _ = writeln!(md, "| | |\n| --- | --- |");
        for (k, v) in rows {
            let _ = writeln!(md, "| {} | {} |", cell(&k), cell(&v));
        }
        md.push('\n');
    }
    if r.kind == RunKind::Scenario {
        let _ = writeln!(md, "### Faults\n");
        if r.faults.is_empty() {
            let _ = writeln!(md, "None scheduled.\n");
        } else {
            let _ = writeln!(md, "| fault | from | to | took effect |");
            let _ = writeln!(md, "| --- | ---: | ---: | --- |");
            for ev in &r.faults {
                let _ = writeln!(
                    md,
                    "| `{}` | {:.1} s | {:.1} s | {} |",
                    cell(&ev.kind),
                    ev.start_secs,
                    ev.end_secs,
                    match (ev.error.is_empty(), ev.effect.is_empty()) {
                        (true, true) => "yes".to_string(),
                        (true, false) => format!("yes: {}", cell(&ev.effect)),
                        (false, _) => format!("no: {}", cell(&ev.error)),
                    }
                );
            }
            md.push('\n');
        }
    }
    rebalances(&mut md, r);
    if let Some(reh) = &r.rehearsal {
        let _ = writeln!(md, "### Rehearsal\n");
        let _ = writeln!(
            md,
            "- writes: {}",
            if reh.allow_writes {
                format!(
                    "canary topics {} ({})",
                    reh.canary_topics
                        .iter()
                        .map(|t| format!("`{}`", cell(t)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if reh.cleaned_up {
                        "deleted afterwards".to_string()
                    } else {
                        format!("left behind: {}", reh.leftovers.join(", "))
                    }
                )
            } else {
                "none (`allow_writes = false`): read-only".into()
            }
        );
        if !reh.topics.is_empty() {
            let _ = writeln!(
                md,
                "- read-only window check: last {} records per partition, lag bound {:.0} s\n",
                reh.window_records, reh.lag_bound_secs
            );
            let _ = writeln!(
                md,
                "| topic | target | partitions | records | missing | duplicated | lag | problem |"
            );
            let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
            for t in &reh.topics {
                let _ = writeln!(
                    md,
                    "| `{}` | `{}` | {} | {} | {} | {} | {} | {} |",
                    cell(&t.topic),
                    cell(&t.target_topic),
                    t.partitions,
                    thousands(t.records),
                    t.missing,
                    t.duplicated,
                    t.lag_secs.map_or("—".into(), |s| format!("{s:.1} s")),
                    cell(t.problem.as_deref().unwrap_or(""))
                );
            }
        }
        md.push('\n');
    }
    registries(&mut md, r);
    if !r.consumer_groups.is_empty() {
        let _ = writeln!(md, "### Consumer-group cutover\n");
        let _ = writeln!(
            md,
            "| group | partitions | consumed on source | skipped | re-read | misplaced | untranslated | translated by |"
        );
        let _ = writeln!(
            md,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for g in &r.consumer_groups {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
                cell(&g.group),
                g.partitions,
                thousands(g.consumed_on_source),
                g.skipped,
                g.reread,
                g.misplaced,
                g.untranslated,
                cell(&g.translated_by)
            );
        }
        md.push('\n');
        for g in &r.consumer_groups {
            for e in g.examples.iter().take(5) {
                let _ = writeln!(md, "- `{}`: {}", cell(&g.group), cell(e));
            }
        }
        md.push('\n');
    }
    if !r.apps.is_empty() {
        let _ = writeln!(md, "### Application cutover\n");
        let _ = writeln!(
            md,
            "| app | switch | inputs | updates source / target | reprocessed | unprocessed | state diverged | unexplained | downtime | restore |"
        );
        let _ = writeln!(
            md,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let ms =
            |v: Option<u64>| v.map_or("–".to_string(), |m| format!("{:.1} s", m as f64 / 1000.0));
        for a in &r.apps {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} |",
                cell(&a.app),
                cell(&a.switch),
                thousands(a.inputs),
                thousands(a.updates_on_source),
                thousands(a.updates_on_target),
                a.reprocessed,
                a.unprocessed,
                a.state_diverged,
                a.unexplained,
                ms(a.downtime_ms),
                ms(a.restore_ms),
            );
        }
        md.push('\n');
        for a in r.apps.iter().filter(|a| a.cut_at_secs.is_some()) {
            let _ = writeln!(
                md,
                "`{}` failed over at {:.1} s: {} inputs on the source never reached the target ({} of them processed there before the cut), {} updates emitted on the source never copied.\n",
                cell(&a.app),
                a.cut_at_secs.unwrap_or_default(),
                thousands(a.inputs_lost_at_cut),
                thousands(a.processed_lost_inputs),
                thousands(a.updates_lost_at_cut),
            );
        }
        for a in &r.apps {
            for s in &a.steps {
                let _ = writeln!(md, "- `{}` {}", cell(&a.app), cell(s));
            }
            for e in a.examples.iter().take(8) {
                let _ = writeln!(md, "- `{}` {}", cell(&a.app), cell(e));
            }
        }
        md.push('\n');
    }
    if let Some(t) = &r.transactions {
        let _ = writeln!(md, "### Source transactions on the target\n");
        let _ = writeln!(
            md,
            "{} of {} workload transactions were seen in parts on the target by a live `read_committed` observer ({} still in parts at the end; the longest at least {} ms); promise: {}.\n",
            thousands(t.torn),
            thousands(t.transactions),
            thousands(t.torn_at_end),
            t.max_torn_ms,
            t.promise.as_str(),
        );
        for e in t.examples.iter().take(5) {
            let _ = writeln!(md, "- {}", cell(e));
        }
        if !t.examples.is_empty() {
            md.push('\n');
        }
    }
    if !classes.is_empty() {
        let _ = writeln!(md, "### First examples\n");
        for c in &classes {
            let _ = writeln!(md, "- **{}** ({})", c.class, thousands(c.count));
            for e in &c.examples {
                let _ = writeln!(md, "  - `{}`", example_line(e).replace('`', "'"));
            }
        }
        md.push('\n');
    }
    let warnings: Vec<&String> = r
        .verdict
        .iter()
        .flat_map(|v| v.topics.iter().flat_map(|t| t.warnings.iter()))
        .take(10)
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(md, "### Warnings\n");
        for w in warnings {
            let _ = writeln!(md, "- {}", w.replace('\n', " "));
        }
        md.push('\n');
    }
    let mut versions = vec![format!("cutover {}", r.cutover_version)];
    if let Some(v) = &r.source_kafka {
        versions.push(format!("source Kafka {v}"));
    }
    if let Some(v) = &r.target_kafka {
        versions.push(format!("target Kafka {v}"));
    }
    if let Some(v) = &r.librdkafka_version {
        versions.push(format!("librdkafka {v}"));
    }
    if !r.system.is_empty() {
        versions.push(format!("system {}", r.system));
    }
    if r.kind == RunKind::Scenario {
        versions.push(format!("seed {}", r.seed));
    }
    let _ = writeln!(
        md,
        "<sub>{} · run took {:.1} s · report.html has the timeline and every example</sub>",
        versions.join(" · "),
        r.duration_secs
    );
    md
}

/// Findings listed in the summary (report.json has them all).
const REGISTRY_FINDINGS: usize = 10;

/// `### Rebalances`: the system's group rebalances, one row each (absent when it reports none).
fn rebalances(md: &mut String, r: &RunReport) {
    let Some(b) = &r.rebalances else { return };
    let _ = writeln!(
        md,
        "### Rebalances\n\n{} rebalance{} of the system's group{} (`{}`).\n",
        b.count,
        if b.count == 1 { "" } else { "s" },
        b.task_moves
            .map_or(String::new(), |m| format!(", {m} moved")),
        cell(&b.observed_by)
    );
    if !b.by_cause.is_empty() {
        let causes: Vec<String> = b.by_cause.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(md, "By cause: {}.", causes.join(", "));
        if let Some(n) = b.self_inflicted {
            let _ = writeln!(
                md,
                "Caused by the system itself (poll interval exceeded, session lost) outside any fault: {n}."
            );
        }
        md.push('\n');
    }
    if b.events.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "| | at | cause | generation | members | moved | duplicates after |\n| --- | ---: | --- | ---: | --- | ---: | ---: |"
    );
    for (i, e) in b.events.iter().enumerate().take(MAX_REBALANCE_ROWS) {
        let _ = writeln!(
            md,
            "| R{} | {:.1} s | {} | {} | {} | {} | {} |",
            i + 1,
            e.at_secs,
            e.cause.as_deref().unwrap_or("–"),
            e.generation.map_or("–".into(), |g| g.to_string()),
            cell(&e.members.join(", ")),
            e.moved,
            e.duplicates_after.map_or("–".into(), thousands)
        );
    }
    if b.events.len() > MAX_REBALANCE_ROWS {
        let _ = writeln!(
            md,
            "\n{} more in `report.json` and `report.html`.",
            b.events.len() - MAX_REBALANCE_ROWS
        );
    }
    md.push('\n');
}

/// `### Schema registries`: the registry verification and the record-level schema classes.
fn registries(md: &mut String, r: &RunReport) {
    let Some(reg) = &r.registries else {
        return;
    };
    let _ = writeln!(
        md,
        "### Schema registries: {}\n",
        reg.outcome.to_uppercase()
    );
    let _ = writeln!(
        md,
        "- sources: {}; target: {}",
        reg.sources
            .iter()
            .map(|s| format!("`{}`", cell(s)))
            .collect::<Vec<_>>()
            .join(", "),
        format_args!("`{}`", cell(&reg.target))
    );
    let figures = reg.figures();
    let row = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
    let _ = writeln!(
        md,
        "\n{}\n{}\n{}\n",
        row(figures.iter().map(|(l, _)| l.to_string()).collect()),
        row(figures.iter().map(|_| "---:".to_string()).collect()),
        row(figures.iter().map(|(_, n)| n.to_string()).collect())
    );
    for f in reg.findings.iter().take(REGISTRY_FINDINGS) {
        let _ = writeln!(
            md,
            "- `{}` {}{} ({}): {}",
            f.kind,
            cell(&f.subject),
            f.version.map(|v| format!(" v{v}")).unwrap_or_default(),
            cell(&f.registries.join(", ")),
            cell(&f.detail)
        );
    }
    if reg.findings.len() > REGISTRY_FINDINGS {
        let _ = writeln!(
            md,
            "- … {} more in report.json",
            reg.findings.len() - REGISTRY_FINDINGS
        );
    }
    match (reg.records.is_empty(), reg.records_checked) {
        (true, Some(n)) => {
            let _ = writeln!(
                md,
                "- records: every one of {} matched records decodes with the same schema on the target",
                thousands(n)
            );
        }
        (true, None) => {}
        (false, _) => {
            for c in &reg.records {
                let _ = writeln!(md, "- records: **{}** {}", c.class, thousands(c.count));
                for e in c.examples.iter().take(EXAMPLES_PER_CLASS) {
                    let _ = writeln!(md, "  - {}", cell(e));
                }
            }
        }
    }
    md.push('\n');
}

fn ms(v: u64) -> String {
    if v >= 10_000 {
        format!("{:.0} s", v as f64 / 1000.0)
    } else if v >= 1000 {
        format!("{:.1} s", v as f64 / 1000.0)
    } else {
        format!("{v} ms")
    }
}

/// A table cell: no pipes, no newlines.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
