//! `cutover sweep`: one scenario run once per value of a setting (or per combination of
//! several), with the same seed, and one table of what each value did — the question the seed
//! migration answered by hand: which buffer size, rebalance delay or session timeout keeps
//! duplicates at zero under WAN latency.
//!
//! A setting is a dotted path into the scenario file, written as a TOML key
//! (`system.worker_properties."receive.buffer.bytes"`: quote a segment that holds dots; a
//! number segment indexes an array of tables, `fault.0.latency_ms`), and a comma-separated
//! list of values, each read as a TOML value when it is one (`65536`, `true`, `"a,b"` is not
//! split) and as a string otherwise. Every variant is built and checked before anything runs:
//! a path the scenario does not accept is an error with the setting and the checker's reason.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ScenarioError;
use crate::spec::Scenario;

/// One `--set KEY=V1,V2,…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// As written (for headers and messages).
    pub key: String,
    /// The path's segments.
    pub path: Vec<String>,
    pub values: Vec<toml::Value>,
}

impl Setting {
    /// Parses `KEY=V1,V2,…`.
    pub fn parse(arg: &str) -> Result<Setting, ScenarioError> {
        let bad = |reason: String| invalid(&format!("--set {arg}"), reason);
        let (key, values) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=V1,V2,… (a dotted path into the scenario)".into()))?;
        let key = key.trim();
        let path = key_path(key).map_err(|e| bad(format!("`{key}` is not a TOML key: {e}")))?;
        let values: Vec<toml::Value> = split_values(values)
            .into_iter()
            .map(|v| value_of(&v))
            .collect();
        if values.is_empty() {
            return Err(bad("expected at least one value after `=`".into()));
        }
        Ok(Setting {
            key: key.to_string(),
            path,
            values,
        })
    }
}

/// An error about a `--set` argument or the file it edits.
fn invalid(what: &str, reason: String) -> ScenarioError {
    ScenarioError::Sweep(format!("{what}: {reason}"))
}

/// The segments of a TOML dotted key, as TOML reads it (quotes and all).
fn key_path(key: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = toml::from_str(&format!("{key} = 0")).map_err(|e| e.to_string())?;
    let mut path = Vec::new();
    let mut at = &table;
    loop {
        let (name, value) = at.iter().next().ok_or("an empty key")?;
        path.push(name.clone());
        match value {
            toml::Value::Table(inner) => at = inner,
            _ => return Ok(path),
        }
    }
}

/// Splits on commas outside quotes and brackets.
fn split_values(text: &str) -> Vec<String> {
    let (mut out, mut current, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None);
    for c in text.chars() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                out.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out.into_iter().filter(|v| !v.is_empty()).collect()
}

/// A value as TOML reads it, or the text as a string.
fn value_of(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// One variant of the scenario: the values it sets, in `--set` order, and the scenario.
#[derive(Debug, Clone)]
pub struct Variant {
    /// (key, value as TOML text) per setting.
    pub values: Vec<(String, String)>,
    pub scenario: Scenario,
}

impl Variant {
    /// `key=value, key=value`.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every combination of the settings' values applied to the scenario text (`origin` names the
/// file), each checked as a scenario; the seed stays the file's.
pub fn variants(
    text: &str,
    origin: &str,
    settings: &[Setting],
) -> Result<Vec<Variant>, ScenarioError> {
    let base: toml::Table = toml::from_str(text).map_err(|e| invalid(origin, e.to_string()))?;
    let mut combos: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
    for (s, setting) in settings.iter().enumerate() {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                (0..setting.values.len()).map(move |v| {
                    let mut c = c.clone();
                    c.push((s, v));
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for combo in combos {
        let mut table = base.clone();
        let mut values = Vec::new();
        for (s, v) in combo {
            let setting = &settings[s];
            let value = setting.values[v].clone();
            set(&mut table, &setting.path, value.clone())
                .map_err(|reason| invalid(&format!("--set {}", setting.key), reason))?;
            values.push((setting.key.clone(), value_text(&value)));
        }
        let label = values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let edited = toml::to_string(&table).map_err(|e| invalid(origin, e.to_string()))?;
        let base = std::path::Path::new(origin)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        let scenario = Scenario::from_toml_in(&edited, &format!("{origin} with {label}"), base)?;
        out.push(Variant { values, scenario });
    }
    Ok(out)
}

/// A value as it reads in a table: `65536`, `true`, `"lz4"`.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sets `path` in `table`, creating tables on the way; a number segment indexes an array.
fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let mut root = toml::Value::Table(std::mem::take(table));
    let result = set_in(&mut root, path, value);
    if let toml::Value::Table(t) = root {
        *table = t;
    }
    result
}

fn set_in(root: &mut toml::Value, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("an empty path".into());
    };
    let mut at = root;
    let mut walked = Vec::new();
    for segment in parents {
        walked.push(segment.as_str());
        at = step(at, segment, &walked)?;
    }
    match at {
        toml::Value::Table(t) => {
            // A table of strings (client or worker properties): a number or a boolean goes in
            // as its text, as a properties file would have it.
            let strings = !t.is_empty() && t.values().all(|v| v.is_str());
            let value = match value {
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)
                    if strings =>
                {
                    toml::Value::String(value.to_string())
                }
                other => other,
            };
            t.insert(last.clone(), value);
            Ok(())
        }
        toml::Value::Array(items) => {
            let i = index(last, items.len(), &walked)?;
            items[i] = value;
            Ok(())
        }
        _ => Err(format!(
            "`{}` is a value, not a table: `{last}` cannot be set in it",
            walked.join(".")
        )),
    }
}

fn step<'a>(
    at: &'a mut toml::Value,
    segment: &str,
    walked: &[&str],
) -> Result<&'a mut toml::Value, String> {
    match at {
        toml::Value::Table(t) => Ok(t
            .entry(segment.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))),
        toml::Value::Array(items) => {
            let i = index(segment, items.len(), walked)?;
            Ok(&mut items[i])
        }
        _ => Err(format!(
            "`{}` is a value, not a table",
            walked[..walked.len().saturating_sub(1)].join(".")
        )),
    }
}

fn index(segment: &str, len: usize, walked: &[&str]) -> Result<usize, String> {
    segment
        .parse::<usize>()
        .ok()
        .filter(|i| *i < len)
        .ok_or_else(|| {
            format!(
                "`{}` is an array of {len}: expected an index below {len}, found `{segment}`",
                walked.join(".")
            )
        })
}

/// One row of the sweep's table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SweepRow {
    /// (key, value) per setting.
    pub values: BTreeMap<String, String>,
    pub outcome: String,
    /// The system's own group rebalances (None: this system does not report them).
    pub rebalances: Option<u64>,
    pub duplicated: u64,
    pub lost: u64,
    /// End-to-end delay p99, milliseconds (None: not measured).
    pub delay_p99_ms: Option<u64>,
    /// Workload records per second the clusters took (the workload's own rate).
    pub records_per_sec: f64,
    /// Where this variant's report is.
    pub report: String,
}

impl SweepRow {
    /// The row of one variant's run report.
    pub fn of(variant: &Variant, report: &reports::RunReport, report_path: &str) -> SweepRow {
        use verify::AnomalyClass;
        let counts = report.verdict.as_ref().map(|v| &v.counts);
        SweepRow {
            values: variant.values.iter().cloned().collect(),
            outcome: report.outcome.as_str().to_string(),
            rebalances: report.rebalances.as_ref().map(|r| r.count),
            duplicated: counts.map_or(0, |c| c.get(AnomalyClass::Duplicated)),
            lost: counts.map_or(0, |c| c.get(AnomalyClass::Lost)),
            delay_p99_ms: report.delay.as_ref().map(|d| d.p99_ms),
            records_per_sec: report.workload.as_ref().map_or(0.0, |w| w.records_per_sec),
            report: report_path.to_string(),
        }
    }
}

/// The sweep's table in Markdown: one column per setting, then the figures.
pub fn markdown(settings: &[Setting], rows: &[SweepRow]) -> String {
    let mut out = String::new();
    let keys: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
    let header: Vec<String> = keys
        .iter()
        .map(|k| format!("`{k}`"))
        .chain(
            [
                "verdict",
                "rebalances",
                "duplicated",
                "lost",
                "delay p99",
                "records/s",
            ]
            .map(String::from),
        )
        .collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i < keys.len() { " --- |" } else { " ---: |" })
            .collect::<String>()
    ));
    for r in rows {
        let mut cells: Vec<String> = keys
            .iter()
            .map(|k| r.values.get(*k).cloned().unwrap_or_default())
            .collect();
        cells.push(r.outcome.to_uppercase());
        cells.push(r.rebalances.map_or("n/a".into(), |n| n.to_string()));
        cells.push(r.duplicated.to_string());
        cells.push(r.lost.to_string());
        cells.push(r.delay_p99_ms.map_or("n/a".into(), |ms| format!("{ms} ms")));
        cells.push(format!("{:.0}", r.records_per_sec));
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
[scenario]
name = "sweep-me"
description = "d"

[workload]
[workload.topics]
count = 1
partitions = 2

[system]
kind = "builtin"
[system.source_properties]
"receive.buffer.bytes" = "65536"

[[fault]]
at_secs = 2
kind = "latency"
cluster = "source"
latency_ms = 50
duration_secs = 3
"#;

    #[test]
    fn a_setting_reads_quoted_segments_and_typed_values() {
        let s = Setting::parse(r#"system.source_properties."receive.buffer.bytes"=4096,"-1",x"#)
            .unwrap();
        assert_eq!(
            s.path,
            ["system", "source_properties", "receive.buffer.bytes"]
        );
        assert_eq!(
            s.values,
            [
                toml::Value::Integer(4096),
                toml::Value::String("-1".into()),
                toml::Value::String("x".into())
            ]
        );
        let s = Setting::parse("fault.0.latency_ms=[1, 2],3").unwrap();
        assert_eq!(s.values.len(), 2);
        assert!(Setting::parse("no-equals").is_err());
        assert!(Setting::parse("a..b=1").is_err());
    }

    #[test]
    fn variants_are_every_combination_checked_as_scenarios() {
        let settings = [
            Setting::parse(r#"system.source_properties."receive.buffer.bytes"="4096","1048576""#)
                .unwrap(),
            Setting::parse("fault.0.latency_ms=50,200,400").unwrap(),
        ];
        let v = variants(SCENARIO, "s.toml", &settings).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(
            v[5].label(),
            r#"system.source_properties."receive.buffer.bytes"=1048576, fault.0.latency_ms=400"#
        );
        let crate::spec::SystemSpec::Builtin {
            source_properties, ..
        } = &v[5].scenario.system
        else {
            panic!("builtin")
        };
        assert_eq!(source_properties["receive.buffer.bytes"], "1048576");
        let latency = |v: &Variant| match v.scenario.faults[0].action {
            crate::spec::FaultAction::Latency { latency_ms, .. } => latency_ms,
            _ => 0,
        };
        assert_eq!((latency(&v[0]), latency(&v[5])), (50, 400));
        assert_eq!(v[0].scenario.run.seed, v[5].scenario.run.seed);
    }

    #[test]
    fn a_number_set_in_a_table_of_strings_goes_in_as_text() {
        let v = variants(
            SCENARIO,
            "s.toml",
            &[Setting::parse(r#"system.source_properties."send.buffer.bytes"=32768"#).unwrap()],
        )
        .unwrap();
        let crate::spec::SystemSpec::Builtin {
            source_properties, ..
        } = &v[0].scenario.system
        else {
            panic!("builtin")
        };
        assert_eq!(source_properties["send.buffer.bytes"], "32768");
    }

    #[test]
    fn a_path_the_scenario_does_not_take_is_named() {
        let e = variants(
            SCENARIO,
            "s.toml",
            &[Setting::parse("system.no_such_key=1").unwrap()],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no_such_key"), "{e}");
        let e = variants(
            SCENARIO,
            "s.toml",
            &[Setting::parse("fault.3.latency_ms=1").unwrap()],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("array of 1"), "{e}");
    }

    #[test]
    fn the_table_has_a_column_per_setting() {
        let settings = [Setting::parse("run.duration_secs=10").unwrap()];
        let rows = vec![SweepRow {
            values: BTreeMap::from([("run.duration_secs".into(), "10".into())]),
            outcome: "fail".into(),
            rebalances: Some(3),
            duplicated: 17,
            lost: 0,
            delay_p99_ms: Some(812),
            records_per_sec: 1000.4,
            report: "r".into(),
        }];
        let md = markdown(&settings, &rows);
        assert!(md.starts_with("| `run.duration_secs` | verdict |"), "{md}");
        assert!(
            md.contains("| 10 | FAIL | 3 | 17 | 0 | 812 ms | 1000 |"),
            "{md}"
        );
    }
}
