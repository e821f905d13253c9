//! The four outputs of a fixed synthetic run, checked as their readers would: JSON and Markdown
//! snapshots, JUnit parsed back, HTML parsed with its SVG checked as XML, secrets absent, a
//! 1000-topic run small enough, and report.json versions honoured. No Kafka here.

use std::collections::BTreeMap;
use std::path::Path;

use reports::{
    Drain, FaultEvent, JunitOptions, Outcome, ReportError, RunReport, Sample, WorkloadSummary,
    WriteOptions,
};
use scraper::{Html, Selector};
use verdict::{
    AnomalyClass, Counts, Example, PartitionVerdict, Position, Promises, Tally, TopicVerdict,
    Verdict,
};

const SECRET: &str = "correct-horse-battery-staple-42";

fn counts(pairs: &[(AnomalyClass, u64)]) -> Counts {
    let mut c = Counts::default();
    for (class, n) in pairs {
        c.add(*class, *n);
    }
    c
}

fn tally(records: u64) -> Tally {
    Tally {
        source_records: records,
        target_records: records,
        matched: records,
        bytes_compared: records * 300,
        ..Tally::default()
    }
}

/// A topic of `partitions` partitions with `per_partition[p]` anomalies of `class`.
fn topic(name: &str, partitions: i32, class: AnomalyClass, per_partition: &[u64]) -> TopicVerdict {
    let mut parts = Vec::new();
    let mut total = Counts::default();
    let mut examples = Vec::new();
    for p in 0..partitions {
        let n = per_partition.get(p as usize).copied().unwrap_or(0);
        let c = counts(&[(class, n)]);
        total.merge(&c);
        for i in 0..n.min(4) {
            let at = Position {
                topic: name.into(),
                partition: p,
                offset: 100 + i as i64,
            };
            examples.push(Example {
                class,
                source: (class != AnomalyClass::Phantom).then(|| at.clone()),
                target: if class == AnomalyClass::Lost {
                    Vec::new()
                } else {
                    vec![at.clone(), at]
                },
                key_preview: Some(format!("\"k-{p}-{i}\"")),
                detail: None,
            });
        }
        parts.push(PartitionVerdict {
            partition: p,
            counts: c,
            tally: tally(1000),
            spilled: 0,
        });
    }
    TopicVerdict {
        source_topic: name.into(),
        target_topic: name.into(),
        counts: total,
        inconclusive: Counts::default(),
        tally: tally(1000 * partitions as u64),
        partitions: parts,
        examples,
        warnings: Vec::new(),
        unverified: Vec::new(),
    }
}

fn series(secs: usize, rate: i64, lag_secs: usize) -> Vec<Sample> {
    (0..=secs + lag_secs)
        .map(|i| Sample {
            at_secs: i as f64,
            source_end: rate * i.min(secs) as i64,
            target_end: rate * i.saturating_sub(lag_secs).min(secs) as i64,
        })
        .collect()
}

fn scenario_text() -> String {
    format!(
        r#"# fixed: a synthetic scenario for report tests
[scenario]
name = "orders-under-faults"
description = "three order topics, a broker killed"

[system]
kind = "command"
command = ["./copier.sh", "--password={SECRET}"]
env = {{ "sasl.jaas.config" = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"{SECRET}\";", "ssl.key.password" = "{SECRET}" }}
"#
    )
}

fn base(verdict: Verdict) -> RunReport {
    let mut r = RunReport::new("orders-under-faults");
    r.description = "three order topics, a broker killed".into();
    r.system = format!("command (./copier.sh --password={SECRET})");
    r.seed = 7;
    r.cutover_version = "0.1.0".into();
    r.source_kafka = Some("4.1.1".into());
    r.target_kafka = Some("4.0.2".into());
    r.librdkafka_version = Some("2.12.1".into());
    r.workload = Some(WorkloadSummary {
        sent: 30_000,
        acked: 30_000,
        failed: 0,
        committed: 27_000,
        aborted: 3_000,
        upstream_duplicates: 12,
        records_per_sec: 1000.0,
        mb_per_sec: 0.29,
    });
    r.faults = vec![
        FaultEvent {
            kind: "kill-broker".into(),
            detail: r#"{"kill-broker":{"cluster":"target","node":1}}"#.into(),
            start_secs: 10.0,
            end_secs: 16.0,
            error: String::new(),
            effect: "broker 1 of the target cluster no longer answers on port 9092".into(),
            failed: false,
        },
        FaultEvent {
            kind: "latency".into(),
            detail: r#"{"latency":{"latency_ms":200}}"#.into(),
            start_secs: 20.0,
            end_secs: 24.0,
            error: "the target cluster has no proxies".into(),
            effect: String::new(),
            failed: false,
        },
    ];
    r.series = series(30, 1000, 2);
    r.drain = Some(Drain {
        caught_up: true,
        secs: 7.25,
        downtime_secs: Some(2.0),
        groups_moved_secs: None,
    });
    r.duration_secs = 61.5;
    r.finished_at = Some("2026-01-02T03:04:05Z".into());
    r.scenario_file = Some("scenarios/orders-under-faults.toml".into());
    r.scenario_text = Some(scenario_text());
    let mut props = BTreeMap::new();
    props.insert("bootstrap.servers".to_string(), "onprem-1:9092".to_string());
    props.insert(
        "sasl.jaas.config".to_string(),
        format!("... password=\"{SECRET}\";"),
    );
    props.insert("ssl.truststore.password".to_string(), SECRET.to_string());
    r.client_properties.insert("source".into(), props);
    r.outcome = match verdict.status {
        verdict::Status::Pass => Outcome::Pass,
        _ => Outcome::Fail,
    };
    if verdict.status != verdict::Status::Pass {
        r.failures = verdict
            .counts
            .0
            .iter()
            .map(|(c, n)| reports::Reason::anomaly(*c, *n))
            .collect();
    }
    r.verdict = Some(verdict);
    r
}

/// lost 17 in orders.3 over 3 partitions, duplicated 2 in orders.1.
fn failing() -> RunReport {
    let topics = vec![
        topic("orders.1", 3, AnomalyClass::Duplicated, &[0, 2, 0]),
        topic("orders.2", 3, AnomalyClass::Lost, &[]),
        topic("orders.3", 3, AnomalyClass::Lost, &[5, 10, 2]),
    ];
    let mut r = base(Verdict::from_topics(topics, Promises::default(), 1234));
    r.consumer_groups.push(reports::GroupCutover {
        group: "billing".into(),
        translated_by: "cutover offsets sync (exit status: 0)".into(),
        consumed_on_source: 4200,
        partitions: 9,
        skipped: 3,
        examples: vec!["orders.1-2: source position 120 → target 123: 3 record(s) skipped".into()],
        ..reports::GroupCutover::default()
    });
    r
}

fn passing() -> RunReport {
    let topics = (1..=3)
        .map(|i| topic(&format!("orders.{i}"), 3, AnomalyClass::Lost, &[]))
        .collect();
    let mut r = base(Verdict::from_topics(topics, Promises::default(), 987));
    r.scenario = "smoke".into();
    r
}

fn written(mut r: RunReport) -> (tempfile::TempDir, RunReport) {
    let dir = tempfile::tempdir().expect("tempdir");
    reports::write_all(&mut r, dir.path(), WriteOptions::default()).expect("write");
    (dir, r)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect(name)
}

#[test]
fn report_json_of_a_failing_run_is_stable() {
    let (dir, _) = written(failing());
    let json: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    insta::assert_json_snapshot!("failing_report_json", json, {
        ".finished_at" => "[timestamp]",
        ".duration_secs" => "[duration]",
        ".drain.secs" => "[duration]",
        ".verdict.duration_ms" => "[duration]",
    });
}

#[test]
fn summary_md_of_a_failing_run_is_stable() {
    let (dir, _) = written(failing());
    let md = read(dir.path(), "summary.md");
    insta::with_settings!({filters => vec![
        (r"run took [0-9.]+ s", "run took [duration]"),
        (r"\(drain [0-9.]+ s\)", "(drain [duration])"),
    ]}, {
        insta::assert_snapshot!("failing_summary_md", md);
    });
}

#[test]
fn summary_md_of_a_passing_run_is_stable() {
    let (dir, _) = written(passing());
    let md = read(dir.path(), "summary.md");
    insta::with_settings!({filters => vec![
        (r"run took [0-9.]+ s", "run took [duration]"),
        (r"\(drain [0-9.]+ s\)", "(drain [duration])"),
    ]}, {
        insta::assert_snapshot!("passing_summary_md", md);
    });
}

#[test]
fn junit_parses_back_with_one_case_per_scenario_and_the_failures_named() {
    let xml =
        reports::junit::render(&[passing(), failing()], JunitOptions::default()).expect("junit");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("parse junit");
    assert_eq!(parsed.tests, 2);
    assert_eq!(parsed.failures, 1);
    assert_eq!(parsed.errors, 0);
    assert_eq!(parsed.test_suites.len(), 1, "one suite per run");
    let suite = &parsed.test_suites[0];
    let failed = suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "orders-under-faults")
        .expect("failing case");
    match &failed.status {
        quick_junit::TestCaseStatus::NonSuccess { message, .. } => {
            let m = message.as_ref().expect("message").as_str();
            assert!(m.contains("lost: 17 in orders.3 [3 partitions]"), "{m}");
            assert!(m.contains("duplicated: 2 in orders.1 [1 partition]"), "{m}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let out = failed.system_out.as_ref().expect("system-out").as_str();
    assert!(out.contains("e.g. lost: source orders.3-0@100"), "{out}");
}

#[test]
fn junit_per_topic_adds_a_case_per_topic() {
    let xml =
        reports::junit::render(&[failing()], JunitOptions { per_topic: true }).expect("junit");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("parse junit");
    assert_eq!(parsed.tests, 4);
    // The scenario, orders.1 and orders.3 fail; orders.2 is clean.
    assert_eq!(parsed.failures, 3);
}

#[test]
fn html_has_the_verdict_plots_and_tables_and_well_formed_svg() {
    let (dir, _) = written(failing());
    let text = read(dir.path(), "report.html");
    let doc = Html::parse_document(&text);
    let one = |sel: &str| {
        let s = Selector::parse(sel).expect("selector");
        doc.select(&s).count()
    };
    assert_eq!(one("header.verdict.fail"), 1);
    assert_eq!(one("table.counts tbody tr"), AnomalyClass::ALL.len());
    assert_eq!(one("table.counts tr.bad"), 2);
    assert_eq!(one("svg.timeline"), 1);
    assert_eq!(one("svg.timeline polyline.produce"), 1);
    assert_eq!(one("svg.timeline polyline.replicate"), 1);
    assert_eq!(one("svg.timeline polygon.lag"), 1);
    assert_eq!(one("svg.timeline g.fault"), 2);
    assert_eq!(one("svg.heat"), 1);
    // 9 partitions + 6 legend swatches; the 4 with anomalies carry a tooltip.
    assert_eq!(one("svg.heat rect"), 15);
    assert_eq!(one("svg.heat rect title"), 4);
    assert_eq!(one("svg.delay"), 1);
    assert_eq!(one("svg.delay g.pct"), 4);
    assert_eq!(one("table.faults tbody tr"), 2);
    assert_eq!(one("table.examples"), 2);
    assert_eq!(one("pre.scenario"), 1);
    // Self-contained: nothing to fetch, nothing to run.
    for forbidden in ["<script", "<link", "src=", "href=", "@import", "url("] {
        assert!(!text.contains(forbidden), "report.html has {forbidden}");
    }
    // The fault bands are labelled with their verbs.
    let labels: Vec<String> = doc
        .select(&Selector::parse("svg.timeline g.fault text").expect("selector"))
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(labels, ["kill-broker", "latency"]);
    // Every SVG is well-formed XML on its own.
    let svgs = Selector::parse("svg").expect("selector");
    for svg in doc.select(&svgs) {
        let xml = svg.html();
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("svg not well-formed: {e}"));
    }
    // The delay figures are there: the target runs two seconds behind.
    let d = Selector::parse("table.delay td").expect("selector");
    let p50: String = doc.select(&d).next().expect("p50").text().collect();
    assert_eq!(p50, "2,000 ms");
}

#[test]
fn a_failing_run_names_its_classes_in_all_four_outputs() {
    let (dir, _) = written(failing());
    let d = dir.path();
    let json: RunReport = reports::load(&d.join("report.json")).expect("load");
    let counts = &json.verdict.as_ref().expect("verdict").counts;
    assert_eq!(counts.get(AnomalyClass::Lost), 17);
    assert_eq!(counts.get(AnomalyClass::Duplicated), 2);
    assert_eq!(json.outcome, Outcome::Fail);
    for name in ["junit.xml", "summary.md", "report.html"] {
        let text = read(d, name);
        assert!(
            text.contains("lost: 17 in orders.3 [3 partitions]"),
            "{name}"
        );
        assert!(
            text.contains("duplicated: 2 in orders.1 [1 partition]"),
            "{name}"
        );
    }
    let md = read(d, "summary.md");
    assert!(md.contains("| lost | 17 |"), "{md}");
    assert!(md.contains("| duplicated | 2 |"), "{md}");
    assert!(md.starts_with("## ❌"));
}

#[test]
fn a_known_secret_reaches_no_output_file() {
    let (dir, r) = written(failing());
    assert!(r
        .scenario_text
        .as_deref()
        .unwrap_or("")
        .contains("[redacted]"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            !text.contains(SECRET),
            "{} holds the secret",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
    // A report.json edited by hand to hold a secret is redacted again on re-render.
    let mut leaky = failing();
    leaky.scenario_text = Some(format!("password = \"{SECRET}\"\n"));
    let json = serde_json::to_string(&leaky).expect("json");
    std::fs::write(dir.path().join("report.json"), json).expect("write");
    reports::rerender(dir.path(), WriteOptions::default()).expect("rerender");
    for name in ["junit.xml", "summary.md", "report.html"] {
        assert!(!read(dir.path(), name).contains(SECRET), "{name}");
    }
}

#[test]
fn a_thousand_topic_run_stays_under_two_megabytes_of_html() {
    let topics: Vec<TopicVerdict> = (0..1000)
        .map(|i| {
            let name = format!("tenant-{i:04}.events.with-a-longish-name");
            if i % 10 == 0 {
                topic(&name, 3, AnomalyClass::Lost, &[5, 0, 20])
            } else if i % 33 == 0 {
                topic(&name, 3, AnomalyClass::Duplicated, &[1, 1, 1])
            } else {
                topic(&name, 3, AnomalyClass::Lost, &[])
            }
        })
        .collect();
    let mut r = base(Verdict::from_topics(topics, Promises::default(), 60_000));
    // An hour sampled every second and fifty faults.
    r.series = series(3600, 5000, 4);
    r.faults = (0..50)
        .map(|i| FaultEvent {
            kind: "bounce-brokers".into(),
            detail: "{}".into(),
            start_secs: i as f64 * 70.0,
            end_secs: i as f64 * 70.0 + 20.0,
            error: String::new(),
            effect: String::new(),
            failed: false,
        })
        .collect();
    let (dir, _) = written(r);
    let size = std::fs::metadata(dir.path().join("report.html"))
        .expect("html")
        .len();
    eprintln!("report.html of a 1000-topic run: {size} bytes");
    assert!(size < 2 * 1024 * 1024, "report.html is {size} bytes");
    let text = read(dir.path(), "report.html");
    let doc = Html::parse_document(&text);
    let points = doc
        .select(&Selector::parse("svg.timeline polyline.produce").expect("selector"))
        .next()
        .expect("produce line")
        .value()
        .attr("points")
        .expect("points")
        .split(' ')
        .count();
    assert!(points <= reports::timeline::MAX_POINTS, "{points} points");
    let rows = doc
        .select(&Selector::parse("table.topics tbody tr").expect("selector"))
        .count();
    assert!(rows <= reports::html::MAX_TOPIC_ROWS);
    let example_rows = doc
        .select(&Selector::parse("table.examples tbody tr").expect("selector"))
        .count();
    assert!(example_rows <= 2 * reports::html::EXAMPLES_PER_CLASS);
}

#[test]
fn report_json_round_trips_and_a_newer_major_or_a_missing_file_is_refused() {
    let (dir, written_report) = written(failing());
    let path = dir.path().join("report.json");
    let loaded = reports::load(&path).expect("load");
    assert_eq!(loaded, written_report);

    let mut value: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    value["schema_version"] = serde_json::json!(reports::SCHEMA_VERSION + 1);
    value["a_field_from_the_future"] = serde_json::json!(true);
    std::fs::write(&path, value.to_string()).expect("write");
    match reports::load(&path) {
        Err(ReportError::NewerSchema { found, .. }) => {
            assert_eq!(found, u64::from(reports::SCHEMA_VERSION) + 1)
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    // Same major, an unknown additive field: read.
    value["schema_version"] = serde_json::json!(reports::SCHEMA_VERSION);
    std::fs::write(&path, value.to_string()).expect("write");
    reports::load(&path).expect("an additive field is fine");

    let missing = dir.path().join("nope/report.json");
    assert!(matches!(
        reports::load(&missing),
        Err(ReportError::Missing { .. })
    ));
}

#[test]
fn a_report_of_the_first_runner_still_reads() {
    // Schema 1 as the runner wrote it before the reports crate (no minor, no new fields).
    let old = r#"{"schema_version":1,"scenario":"smoke","description":"d","system":"builtin (exactly-once)",
      "seed":1,"cutover_version":"0.1.0","source_kafka":"4.1.1","target_kafka":"4.1.1","outcome":"pass",
      "failures":[],"workload":null,"faults":[],"series":[{"at_secs":1.0,"source_end":10,"target_end":5}],
      "drain":null,"verdict":null,"duration_secs":3.0,"logs":[]}"#;
    let r = reports::parse(old, Path::new("old/report.json")).expect("parse");
    assert_eq!(r.outcome, Outcome::Pass);
    assert_eq!(r.schema_minor, 0);
    assert!(reports::html::render(&r).contains("smoke"));
}

#[test]
fn diff_reports_the_throughput_ratio_and_flags_a_regression() {
    let a = passing();
    let mut b = failing();
    b.series = series(30, 500, 6);
    let d = reports::diff(&a, &b, "a", "b");
    assert!(d.regressed);
    assert!(d.text.contains("lost"), "{}", d.text);
    assert!(d.text.contains("×0.50"), "{}", d.text);
    let same = reports::diff(&a, &a, "a", "a");
    assert!(!same.regressed);
}

#[test]
fn a_verify_only_report_has_the_verdict_and_no_timeline() {
    let topics = vec![topic("orders.3", 3, AnomalyClass::Lost, &[5, 10, 2])];
    let mut r = RunReport::from_verdict(
        "orders\\..*",
        Verdict::from_topics(topics, Promises::default(), 10),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    reports::write_all(&mut r, dir.path(), WriteOptions::default()).expect("write");
    let html = read(dir.path(), "report.html");
    assert!(html.contains("lost: 17 in orders.3 [3 partitions]"));
    assert!(!html.contains("svg class=\"plot timeline\""));
    let junit = read(dir.path(), "junit.xml");
    let parsed = quick_junit::Report::deserialize_from_str(&junit).expect("junit");
    assert_eq!((parsed.tests, parsed.failures), (1, 1));
}

#[test]
fn a_rehearsal_shows_its_writes_clean_up_and_window_check_in_every_output() {
    let mut r = passing();
    r.kind = reports::RunKind::Rehearsal;
    r.outcome = reports::Outcome::Fail;
    r.fail(
        reports::RunClass::WindowMissing,
        30,
        "topic payments: 30 of 300 window records missing",
    );
    r.rehearsal = Some(reports::RehearsalSummary {
        allow_writes: true,
        canary_topics: vec!["cutover.rehearsal.1-2.0".into()],
        cleaned_up: true,
        leftovers: Vec::new(),
        lag_bound_secs: 60.0,
        window_records: 100,
        topics: vec![reports::TopicWindow {
            topic: "payments".into(),
            target_topic: "src.payments".into(),
            partitions: 3,
            records: 300,
            missing: 30,
            duplicated: 0,
            lag_secs: None,
            problem: None,
            incomplete: false,
        }],
    });
    let (dir, _) = written(r);
    let md = read(dir.path(), "summary.md");
    assert!(md.contains("cutover rehearse"), "{md}");
    assert!(
        md.contains("| `payments` | `src.payments` | 3 | 300 | 30 | 0 | — |"),
        "{md}"
    );
    assert!(md.contains("deleted afterwards"), "{md}");
    let html = read(dir.path(), "report.html");
    let doc = Html::parse_document(&html);
    let section = Selector::parse("section#rehearsal td").unwrap();
    let cells: Vec<String> = doc
        .select(&section)
        .map(|c| c.text().collect::<String>())
        .collect();
    assert!(
        cells.contains(&"30".to_string()) && cells.contains(&"over the bound".to_string()),
        "{cells:?}"
    );
    let junit = read(dir.path(), "junit.xml");
    assert!(
        junit.contains("cutover.rehearsal") && junit.contains("30 of 300"),
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&read(dir.path(), "report.json")).unwrap();
    assert_eq!(json["kind"], "rehearsal");
    assert_eq!(json["rehearsal"]["topics"][0]["missing"], 30);
}

#[test]
fn saved_replicator_metrics_are_linked_from_summary_and_html() {
    let mut r = passing();
    r.logs = vec![
        "/runs/x/instance-0.log".into(),
        "/runs/x/metrics-instance-0.prom".into(),
        "/runs/x/metrics-instance-1.prom".into(),
    ];
    assert_eq!(
        r.metrics_files(),
        ["metrics-instance-0.prom", "metrics-instance-1.prom"]
    );
    let (dir, _) = written(r);
    let md = read(dir.path(), "summary.md");
    assert!(
        md.contains("[metrics-instance-1.prom](metrics-instance-1.prom)"),
        "{md}"
    );
    let html = read(dir.path(), "report.html");
    assert!(
        html.contains("<a href=\"metrics-instance-0.prom\">"),
        "{html}"
    );
    // Without scrapes (MirrorMaker 2, commands) there is no such row.
    let (dir, _) = written(passing());
    assert!(!read(dir.path(), "summary.md").contains("replicator metrics"));
}

/// A run with schema registries: two sources merged into a target, one conflict, one missing
/// version, and records the checker put in the schema classes.
fn with_registries() -> RunReport {
    let mut topics = vec![
        topic("events.0", 2, AnomalyClass::SchemaMismatch, &[2, 1]),
        topic("events.1", 2, AnomalyClass::SchemaUnresolved, &[1, 0]),
    ];
    for t in &mut topics {
        for e in &mut t.examples {
            e.key_preview = None;
            e.detail = Some(format!(
                "source id 1 ({}-value v1) → target id 3 (events.2-value v1)",
                t.source_topic
            ));
        }
    }
    let mut r = base(Verdict::from_topics(topics, Promises::default(), 321));
    r.scenario = "schema-registry-merge".into();
    r.outcome = Outcome::Fail;
    r.failures = vec![
        reports::Reason::new(
            reports::RunClass::RegistryConflict,
            1,
            "schema registries: 1 conflict",
        ),
        reports::Reason::anomaly(verdict::AnomalyClass::SchemaMismatch, 3),
    ];
    let mut reg = reports::RegistriesSection {
        sources: vec![
            "source-0 (http://127.0.0.1:8081/apis/ccompat/v7)".into(),
            format!("source-1 (https://bob:{SECRET}@reg-b:8443/apis/ccompat/v7)"),
        ],
        target: "target (http://127.0.0.1:8083/apis/ccompat/v7)".into(),
        outcome: "fail".into(),
        subjects: 4,
        versions: 8,
        matched: 6,
        missing: 1,
        conflicts: 1,
        content_mismatches: 0,
        compatibility_diffs: 0,
        references: 2,
        references_unresolved: 0,
        counts: BTreeMap::from([("conflict".into(), 1), ("missing".into(), 1)]),
        findings: vec![
            reports::RegistryFinding {
                kind: "conflict".into(),
                subject: "shared-value".into(),
                version: Some(1),
                registries: vec!["source-0".into(), "source-1".into()],
                detail: "the sources hold different schemas at this version (ids source-0=1, source-1=1)".into(),
            },
            reports::RegistryFinding {
                kind: "missing".into(),
                subject: "events.3-value".into(),
                version: Some(2),
                registries: vec!["source-1".into(), "target".into()],
                detail: "the target's versions are [1]".into(),
            },
        ],
        target_only_subjects: Vec::new(),
        records: Vec::new(),
        records_checked: None,
    };
    reg.note_records(r.verdict.as_ref().expect("verdict"));
    r.registries = Some(reg);
    r
}

#[test]
fn the_registry_section_is_stable_in_json_and_markdown_and_shown_in_html() {
    let (dir, _) = written(with_registries());
    let json: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    insta::assert_json_snapshot!("registries_report_json", json["registries"]);
    let md = read(dir.path(), "summary.md");
    let start = md
        .find("### Schema registries")
        .expect("section in summary.md");
    let section = &md[start..];
    let section = &section[..section[3..].find("\n###").map_or(section.len(), |i| i + 3)];
    insta::assert_snapshot!("registries_summary_md", section);
    let html = read(dir.path(), "report.html");
    let doc = Html::parse_document(&html);
    let cells: Vec<String> = doc
        .select(&Selector::parse("section#registries td").unwrap())
        .map(|c| c.text().collect::<String>())
        .collect();
    for want in [
        "schema-mismatch",
        "3",
        "schema-unresolved",
        "1",
        "conflict",
        "shared-value",
    ] {
        assert!(cells.iter().any(|c| c == want), "{want} in {cells:?}");
    }
    assert_eq!(
        json["registries"]["records"][0]["class"],
        "schema-unresolved"
    );
    assert_eq!(json["registries"]["records"][1]["count"], 3);
    for name in ["report.json", "summary.md", "report.html", "junit.xml"] {
        assert!(
            !read(dir.path(), name).contains(SECRET),
            "{name} leaks the secret"
        );
    }
    // A run without registries has no section.
    let (dir, _) = written(passing());
    assert!(!read(dir.path(), "summary.md").contains("Schema registries"));
    assert!(!read(dir.path(), "report.html").contains("id=\"registries\""));
    let json: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    assert!(json.get("registries").is_none());
}

/// The failing run with its system's group rebalances: three, the second followed by both
/// duplicates, the third placed in time with none after it.
fn with_rebalances() -> RunReport {
    let mut r = failing();
    let event = |at_secs: f64, generation, members: &[&str], moved, duplicates_after| {
        reports::RebalanceEvent {
            at_secs,
            generation,
            members: members.iter().map(|m| m.to_string()).collect(),
            moved,
            duplicates_after,
            cause: None,
        }
    };
    r.rebalances = Some(reports::Rebalances {
        observed_by: "connect-workers".into(),
        count: 3,
        task_moves: Some(5),
        events: vec![
            event(
                4.2,
                Some(3),
                &["127.0.0.1:8083", "127.0.0.1:8084"],
                2,
                Some(0),
            ),
            event(9.5, Some(4), &["127.0.0.1:8083"], 2, Some(2)),
            event(
                15.0,
                Some(5),
                &["127.0.0.1:8083", "127.0.0.1:8085"],
                1,
                None,
            ),
        ],
        ..Default::default()
    });
    if let Some(b) = &mut r.rebalances {
        b.events[0].cause = Some("fault".into());
        b.events[1].cause = Some("membership".into());
        b.by_cause = [("fault", 1), ("membership", 1), ("unknown", 1)]
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
    }
    r
}

#[test]
fn rebalances_are_in_the_json_the_summary_and_on_the_timeline() {
    let (dir, _) = written(with_rebalances());
    let json: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    insta::assert_json_snapshot!("rebalances_report_json", json["rebalances"]);
    let md = read(dir.path(), "summary.md");
    let section = md
        .split("### Rebalances")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("a rebalances section in summary.md");
    insta::assert_snapshot!("rebalances_summary_md", section);

    let text = read(dir.path(), "report.html");
    let doc = Html::parse_document(&text);
    let select = |sel: &str| {
        let s = Selector::parse(sel).expect("selector");
        doc.select(&s)
            .map(|e| e.text().collect::<String>())
            .collect::<Vec<_>>()
    };
    // A marker per rebalance beside the fault bands, labelled with what followed it.
    assert_eq!(select("svg.timeline g.fault").len(), 2);
    assert_eq!(
        select("svg.timeline g.rebalance text"),
        ["R1", "R2 · 2 dup", "R3"]
    );
    let titles = select("svg.timeline g.rebalance title");
    assert_eq!(
        titles[1],
        "rebalance 2 at 9.5 s, generation 4: 1 member (127.0.0.1:8083), 2 moved, 2 duplicates after"
    );
    assert!(
        titles[2].ends_with("duplicates after not placed"),
        "{titles:?}"
    );
    assert_eq!(
        select("svg.timeline g.key-rebalance").len(),
        1,
        "in the legend"
    );
    // The markers sit where the fault bands' time axis puts them: R2 right of R1.
    let xs: Vec<f64> = doc
        .select(&Selector::parse("svg.timeline g.rebalance line").expect("selector"))
        .map(|l| l.value().attr("x1").expect("x1").parse().expect("number"))
        .collect();
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    let svg = doc
        .select(&Selector::parse("svg.timeline").expect("selector"))
        .next()
        .expect("timeline");
    roxmltree::Document::parse(&svg.html()).expect("well-formed svg");
    // And a table, the row with duplicates after it marked.
    assert_eq!(select("table.rebalances tbody tr").len(), 3);
    assert_eq!(select("table.rebalances tr.bad").len(), 1);

    // A run whose system reports no rebalances shows none of it.
    let (dir, _) = written(failing());
    let text = read(dir.path(), "report.html");
    assert!(!text.contains("g class=\"rebalance\"") && !text.contains("id=\"rebalances\""));
    assert!(!read(dir.path(), "summary.md").contains("Rebalances"));
    assert!(!read(dir.path(), "report.json").contains("rebalances"));
}
