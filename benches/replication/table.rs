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
    let _ = writeln!(
        out,
        "{} records of {} B ({:.0} MB with keys) over {PARTITIONS} partitions, two 1-broker \
         clusters on this machine ({} cores), measured {}. Rates count the 95 % of the records \
         copied after the first 5 %; \"start s\" is the time to that 5 %. Ratios are to the copy \
         limit measured in this run.\n",
        table.records,
        table.value_bytes,
        table.bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
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
        "| contender | setting | records/s | MB/s | ratio to copy limit | vs built-in EOS default | copy s | start s |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
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
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.1} | {} | {} | {:.1} | {:.1} |",
                    c.name,
                    setting.replace('|', "\\|"),
                    t.rate(),
                    t.mbps(),
                    ratio,
                    vs,
                    t.secs,
                    t.start_secs
                );
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or_default().replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| {} | {} | failed: {first} | | | | | |",
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
    let _ = match (alo, limit) {
        (Some(a), Some(l)) => writeln!(
            out,
            "- at-least-once ≥ 90 % of the copy limit: {:.1} % — {}",
            100.0 * a / l,
            verdict(a / l >= 0.9)
        ),
        _ => writeln!(
            out,
            "- at-least-once ≥ 90 % of the copy limit: not measured in this run"
        ),
    };
    out
}
