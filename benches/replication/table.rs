//! The table: the run's figures and their Markdown rendering (ratios to the copy limit).

use std::fmt::Write as _;

use super::*;

/// The run's result.
#[derive(Debug, Clone)]
pub struct Table {
    pub records: u64,
    pub value_bytes: usize,
    pub bytes: u64,
    pub fill_secs: f64,
    pub figures: Vec<Figure>,
    /// The partitions axis, when it ran.
    pub axis: Option<Axis>,
    pub markdown: String,
}

impl Table {
    fn rate_of(&self, pick: impl Fn(&Contender) -> bool) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| pick(&f.contender))
            .and_then(|f| f.outcome.as_ref().ok())
            .map(Timing::rate)
    }

    pub fn copy_limit(&self) -> Option<f64> {
        self.rate_of(|c| matches!(c.kind, Kind::CopyLimit))
    }

    /// The target's produce limit: no copy can write faster than the target takes records.
    pub fn produce_limit(&self) -> Option<f64> {
        self.rate_of(|c| matches!(c.kind, Kind::ProduceLimit))
    }

    /// The timing and usage of the first contender `pick` chooses that copied everything.
    fn usage_of(&self, pick: impl Fn(&Contender) -> bool) -> Option<(&Timing, &Usage)> {
        self.figures
            .iter()
            .filter(|f| pick(&f.contender))
            .find_map(|f| Some((f.outcome.as_ref().ok()?, f.usage.as_ref()?)))
    }

    /// CPU seconds per GB copied of the first contender `pick` chooses that has them.
    fn cpu_per_gb_of(&self, pick: impl Fn(&Contender) -> bool) -> Option<f64> {
        self.figures
            .iter()
            .filter(|f| pick(&f.contender))
            .find_map(|f| f.usage.as_ref()?.cpu_per_gb(f.outcome.as_ref().ok()?))
    }
}

/// The "machine CPU s/GB" and "busy %" cells of a row.
fn machine_cells(usage: Option<&Usage>, t: &Timing) -> (String, String) {
    let m = usage.and_then(|u| u.machine);
    (
        m.and_then(|m| m.per_gb(t.bytes))
            .map_or("–".into(), |c| format!("{c:.1}")),
        m.map_or("–".into(), |m| format!("{:.0}", 100.0 * m.busy_share())),
    )
}

/// The "CPU s/GB" and "peak RSS MiB" cells of a row.
fn usage_cells(usage: Option<&Usage>, t: &Timing) -> (String, String) {
    let cpu = usage
        .and_then(|u| u.cpu_per_gb(t))
        .map_or("–".into(), |c| format!("{c:.1}"));
    let rss = match usage {
        Some(u) if u.in_process => "(bench)".into(),
        Some(u) if u.peak_rss_kib > 0 => format!("{:.0}", u.peak_rss_kib as f64 / 1024.0),
        _ => "–".into(),
    };
    (cpu, rss)
}

/// The Markdown table.
pub fn render(table: &Table, base_tuning: &[(String, String)]) -> String {
    let limit = table.copy_limit();
    let eos_default = table.rate_of(|c| {
        c.section == Section::System
            && matches!(
                c.kind,
                Kind::Builtin {
                    mode: "exactly-once",
                    ..
                }
            )
    });
    let mut out = String::new();
    let _ = writeln!(out, "# Replication bench\n");
    if table.figures.is_empty() {
        if let Some(axis) = &table.axis {
            render_axis(&mut out, axis);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{} records of {} B ({:.0} MB with keys) over {PARTITIONS} partitions, two 1-broker \
         clusters on this machine ({} cores), measured {}. Rates count the 95 % of the records \
         copied after the first 5 %; \"start s\" is the time to that 5 %. Ratios are to the copy \
         limit measured in this run. Each contender ran {} time(s), in rounds whose order \
         alternates (forward, backward, …); its row is its median round, \"rounds\" every \
         round's records/s. \"CPU s/GB\" is the user + system CPU of the contender's \
         process tree (`/proc/<pid>/stat`, sampled every 100 ms) while the clock ran, per 10^9 \
         bytes copied meanwhile; the baselines run in the bench's own process (its CPU, which \
         does nothing else then; its memory not told apart: \"(bench)\"). \"peak RSS\" is the \
         larger of the sampled `VmRSS` and `VmHWM` at the end, summed over instances. The \
         brokers share the machine and are not counted there; \"machine CPU s/GB\" counts \
         everything (both brokers, the contender, the bench: `/proc/stat`) over the same \
         window, and \"busy %\" is the share of the cores it kept busy.\n",
        table.records,
        table.value_bytes,
        table.bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        table
            .figures
            .iter()
            .map(|f| f.rounds.len())
            .max()
            .unwrap_or(1),
    );
    if !base_tuning.is_empty() {
        let t: Vec<String> = base_tuning
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let _ = writeln!(
            out,
            "Base tuning of the built-in replicator: {}.\n",
            t.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "| contender | setting | records/s | MB/s | ratio to copy limit | ratio to produce limit | vs built-in EOS default | CPU s/GB | machine CPU s/GB | busy % | peak RSS MiB | copy s | start s | rounds |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let produce = table.produce_limit();
    for f in &table.figures {
        let c = &f.contender;
        let setting = if c.setting.is_empty() {
            match c.section {
                Section::Matrix => "",
                _ => "default",
            }
        } else {
            c.setting.as_str()
        };
        match &f.outcome {
            Ok(t) => {
                let ratio = limit.map_or("–".into(), |l| format!("{:.2}", t.rate() / l));
                let vs = match (c.section, eos_default) {
                    (Section::Matrix, Some(d)) => format!("{:.2}", t.rate() / d),
                    _ => String::new(),
                };
                let (cpu, rss) = usage_cells(f.usage.as_ref(), t);
                let (machine, busy) = machine_cells(f.usage.as_ref(), t);
                let to_produce = produce.map_or("–".into(), |p| format!("{:.2}", t.rate() / p));
                let rounds: Vec<String> = f.rounds.iter().map(|r| format!("{r:.0}")).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.1} | {} | {to_produce} | {} | {cpu} | {machine} | {busy} | {rss} | {:.1} | {:.1} | {} |",
                    c.name,
                    setting.replace('|', "\\|"),
                    t.rate(),
                    t.mbps(),
                    ratio,
                    vs,
                    t.secs,
                    t.start_secs,
                    rounds.join(", ")
                );
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or_default().replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| {} | {} | failed: {first} | | | | | | | | | | | |",
                    c.name, setting
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Goals:\n");
    let mm2_eos = table.rate_of(|c| {
        c.section == Section::System
            && matches!(
                c.kind,
                Kind::MirrorMaker2 {
                    exactly_once: true,
                    ..
                }
            )
    });
    let mm2_eos_batching = table
        .rate_of(|c| c.section == Section::Matrix && matches!(c.kind, Kind::MirrorMaker2 { .. }));
    let alo = table.rate_of(|c| {
        c.section == Section::System
            && matches!(
                c.kind,
                Kind::Builtin {
                    mode: "at-least-once",
                    ..
                }
            )
    });
    let verdict = |met: bool| if met { "met" } else { "not met" };
    let _ = match (eos_default, mm2_eos) {
        (Some(e), Some(m)) => writeln!(
            out,
            "- built-in exactly-once ≥ 1.5× MirrorMaker 2 exactly-once: {:.2}× — {}",
            e / m,
            verdict(e / m >= 1.5)
        ),
        _ => writeln!(
            out,
            "- built-in exactly-once ≥ 1.5× MirrorMaker 2 exactly-once: not measured in this run"
        ),
    };
    if let (Some(e), Some(m)) = (eos_default, mm2_eos_batching) {
        let _ = writeln!(
            out,
            "  - against MirrorMaker 2 exactly-once with the built-in's batching: {:.2}× — {}",
            e / m,
            verdict(e / m >= 1.5)
        );
    }
    // The ceiling is the target's produce limit: the plain copy loop's rate swings 2× between
    // runs minutes apart, the produce limit is what the target can take at all.
    let produce_usage = table.usage_of(|c| matches!(c.kind, Kind::ProduceLimit));
    for (what, rate, goal) in [
        ("at-least-once", alo, 0.9),
        ("exactly-once", eos_default, 0.8),
    ] {
        let _ = match (rate, produce) {
            (Some(a), Some(p)) => writeln!(
                out,
                "- built-in {what} ≥ {:.0} % of the target's produce limit (medians): {:.1} % — {}",
                100.0 * goal,
                100.0 * a / p,
                verdict(a / p >= goal)
            ),
            _ => writeln!(
                out,
                "- built-in {what} ≥ {:.0} % of the target's produce limit: not measured in this run",
                100.0 * goal
            ),
        };
        // How far this machine lets any copier get: what the brokers (and the bench) burnt per
        // GB while the built-in copied, against what the whole machine burnt per GB while the
        // target took records at its limit.
        let copy = table.usage_of(|c| {
            c.section == Section::System
                && matches!(c.kind, Kind::Builtin { mode, .. } if mode == what)
        });
        if let (Some((pt, pu)), Some((ct, cu))) = (produce_usage, copy) {
            if let (Some(p), Some(pm), Some(o), Some(cm)) = (
                pu.machine_per_gb(pt),
                pu.machine,
                cu.others_per_gb(ct),
                cu.machine,
            ) {
                let _ = writeln!(
                    out,
                    "  - on this machine: the produce limit burnt {p:.1} CPU s/GB (whole machine, {:.0} % busy); \
                     while the built-in copied ({:.0} % busy), everything but the copier burnt {o:.1} s/GB: \
                     a copier that burnt no CPU at all would reach at most {:.0} % of the produce limit here",
                    100.0 * pm.busy_share(),
                    100.0 * cm.busy_share(),
                    100.0 * machine::reachable_share(p, pm.busy_share(), o)
                );
            }
        }
    }
    if let (Some(a), Some(l)) = (alo, limit) {
        let _ = writeln!(
            out,
            "  - against the copy limit: at-least-once {:.1} %",
            100.0 * a / l
        );
    }
    let eos_cpu = table.cpu_per_gb_of(|c| {
        c.section == Section::System
            && matches!(
                c.kind,
                Kind::Builtin {
                    mode: "exactly-once",
                    ..
                }
            )
    });
    let mm2_eos_cpu = table.cpu_per_gb_of(|c| {
        c.section == Section::System
            && matches!(
                c.kind,
                Kind::MirrorMaker2 {
                    exactly_once: true,
                    ..
                }
            )
    });
    let _ = match (eos_cpu, mm2_eos_cpu) {
        (Some(e), Some(m)) if m > 0.0 => writeln!(
            out,
            "- built-in exactly-once CPU per GB ≤ ¼ of MirrorMaker 2 exactly-once's: {e:.1} vs {m:.1} s/GB ({:.0} %) — {}",
            100.0 * e / m,
            verdict(e <= m / 4.0)
        ),
        _ => writeln!(
            out,
            "- built-in exactly-once CPU per GB ≤ ¼ of MirrorMaker 2 exactly-once's: not measured in this run"
        ),
    };
    if let Some(axis) = &table.axis {
        let _ = writeln!(out);
        render_axis(&mut out, axis);
    }
    out
}

/// The partitions axis: its table and its two goals.
fn render_axis(out: &mut String, axis: &Axis) {
    let counts: Vec<i32> = {
        let mut c: Vec<i32> = axis.figures.iter().map(|f| f.partitions).collect();
        c.dedup();
        c
    };
    let (Some(&low), Some(&high)) = (counts.first(), counts.last()) else {
        return;
    };
    let _ = writeln!(out, "## Partitions axis\n");
    let fills: Vec<String> = axis
        .fills
        .iter()
        .map(|(p, s)| format!("{p}: {s:.1} s"))
        .collect();
    let _ = writeln!(
        out,
        "The same {} records ({:.0} MB with keys) in one source topic per partition count \
         (written in {}), copied by each system into its own target topic; the clock runs \
         from 5 % to 100 % copied as above. Both systems run as the scenarios configure them, \
         one instance each, as child processes (`cutover replicate`, MirrorMaker 2's JVM): \
         \"threads\" is the peak `Threads` of the process's `/proc/<pid>/status` sampled every \
         100 ms from its start to the end of the copy, \"peak RSS\" the larger of the sampled \
         `VmRSS` and its `VmHWM` at the end of the copy, \"CPU s/GB\" as in the table above. \
         The copy limit runs in the bench's own process (its CPU only). Budget of the whole axis: {} s.\n",
        axis.records,
        axis.bytes as f64 / 1e6,
        if fills.is_empty() {
            "–".to_string()
        } else {
            fills.join(", ")
        },
        axis.budget.as_secs(),
    );
    let _ = writeln!(
        out,
        "| partitions | contender | records/s | MB/s | ratio to its own {low}-partition rate | threads (peak) | peak RSS MiB | CPU s/GB | copy s | start s |"
    );
    let _ = writeln!(
        out,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for f in &axis.figures {
        let name = f.system.name();
        match &f.outcome {
            Ok((t, usage)) => {
                let ratio = axis
                    .rate(low, f.system)
                    .map_or("–".into(), |r| format!("{:.2}", t.rate() / r));
                let threads = usage
                    .as_ref()
                    .map_or("–".into(), |u| u.peak_threads.to_string());
                let (cpu, rss) = usage_cells(usage.as_ref(), t);
                let _ = writeln!(
                    out,
                    "| {} | {name} | {:.0} | {:.1} | {ratio} | {threads} | {rss} | {cpu} | {:.1} | {:.1} |",
                    f.partitions,
                    t.rate(),
                    t.mbps(),
                    t.secs,
                    t.start_secs
                );
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or_default().replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| {} | {name} | failed: {first} | | | | | | | |",
                    f.partitions
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Goals of the partitions axis:\n");
    let said = |met: bool| if met { "met" } else { "NOT met" };
    let b_low = axis.rate(low, AxisSystem::BuiltinEos);
    let b_high = axis.rate(high, AxisSystem::BuiltinEos);
    let m_high = axis.rate(high, AxisSystem::Mm2Eos);
    let _ = match (b_high, b_low) {
        (Some(h), Some(l)) if high != low => writeln!(
            out,
            "- built-in exactly-once at {high} partitions ≥ 70 % of its {low}-partition rate: \
             {h:.0} / {l:.0} records/s = {:.1} % — {}",
            100.0 * h / l,
            said(h / l >= 0.70)
        ),
        _ => writeln!(
            out,
            "- built-in exactly-once at {high} partitions ≥ 70 % of its {low}-partition rate: \
             not measured in this run — NOT met"
        ),
    };
    let _ = match (b_high, m_high) {
        (Some(b), Some(m)) => writeln!(
            out,
            "- built-in exactly-once at {high} partitions ≥ 2× MirrorMaker 2 exactly-once at \
             {high}: {b:.0} / {m:.0} records/s = {:.2}× — {}",
            b / m,
            said(b / m >= 2.0)
        ),
        _ => writeln!(
            out,
            "- built-in exactly-once at {high} partitions ≥ 2× MirrorMaker 2 exactly-once at \
             {high}: not measured in this run — NOT met"
        ),
    };
}
