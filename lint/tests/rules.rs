//! Every rule as a specification: a config that breaks it and one that keeps it, both under
//! `tests/fixtures/`, linted with the strictest options (exactly-once required, 12 partitions,
//! a 40 ms / 100 Mbit/s link). No Kafka here.

use std::path::Path;

use lint::{lint_file, Link, Options, Severity, RULES};

fn strict() -> Options {
    Options {
        require_exactly_once: true,
        partitions: Some(12),
        link: Some(Link {
            rtt_ms: 40.0,
            bandwidth_mbps: 100.0,
        }),
        kafka_version: None,
        merged_registries: Some(2),
        schema_topics: vec!["events.clicks".into(), "events.views".into()],
    }
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/{name}")
}

fn findings(name: &str, options: &Options) -> Vec<lint::Finding> {
    lint_file(Path::new(&fixture(name)), options)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .findings
}

/// (rule, failing config, severity it fails with, passing config)
const CASES: &[(&str, &str, Severity, &str)] = &[
    (
        "REP001",
        "rep001-no-isolation.json",
        Severity::Error,
        "replicator-good.json",
    ),
    (
        "REP001",
        "rep001-src-kafka-spelling.json",
        Severity::Warning,
        "replicator-good.json",
    ),
    (
        "REP002",
        "rep002-no-idempotence.json",
        Severity::Error,
        "replicator-good.json",
    ),
    (
        "REP003",
        "rep003-acks-1.properties",
        Severity::Error,
        "replicator-good.json",
    ),
    (
        "REP004",
        "rep004-rename-format.json",
        Severity::Error,
        "replicator-good.json",
    ),
    (
        "MM2001",
        "mm2001-no-exactly-once.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "MM2002",
        "mm2002-eos-without-rest.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "MM2003",
        "mm2003-no-read-committed.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "MM2004",
        "mm2004-groups-without-sync.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "MM2004",
        "mm2004-default-groups.properties",
        Severity::Warning,
        "tsk001-mm2.properties",
    ),
    (
        "MM2005",
        "mm2005-strimzi-identity.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "MM2005",
        "mm2005-identity-aggregation.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "MMV001",
        "mmv001-translation-3.4.0.properties",
        Severity::Error,
        "mmv-good-4.1.1.properties",
    ),
    (
        "MMV002",
        "mmv002-behind-flow-3.7.0.properties",
        Severity::Warning,
        "mmv-good-4.1.1.properties",
    ),
    (
        "MMV003",
        "mmv003-idle-syncs-3.6.2.properties",
        Severity::Warning,
        "mmv-good-4.1.1.properties",
    ),
    (
        "MMV004",
        "mmv004-eos-3.4.1.properties",
        Severity::Error,
        "mmv-good-4.1.1.properties",
    ),
    (
        "BLT001",
        "blt001-at-least-once.toml",
        Severity::Error,
        "builtin-good.toml",
    ),
    (
        "BLT002",
        "blt002-rename-merge.toml",
        Severity::Error,
        "builtin-good.toml",
    ),
    (
        "ISO001",
        "iso001-replicator.properties",
        Severity::Error,
        "replicator-good.json",
    ),
    (
        "ISO001",
        "iso001-mm2.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "ISO001",
        "iso001-builtin.toml",
        Severity::Error,
        "builtin-good.toml",
    ),
    (
        "TOP001",
        "top001-replicator.json",
        Severity::Error,
        "replicator-good.json",
    ),
    (
        "TOP001",
        "top001-mm2.properties",
        Severity::Error,
        "mm2-good.properties",
    ),
    (
        "TOP001",
        "top001-builtin.toml",
        Severity::Error,
        "builtin-good.toml",
    ),
    (
        "TSK001",
        "tsk001-replicator.json",
        Severity::Warning,
        "replicator-good.json",
    ),
    (
        "TSK001",
        "tsk001-mm2.properties",
        Severity::Warning,
        "mm2-good.properties",
    ),
    (
        "NET001",
        "net-replicator.json",
        Severity::Warning,
        "replicator-good.json",
    ),
    (
        "NET001",
        "net-mm2.properties",
        Severity::Warning,
        "mm2-good.properties",
    ),
    (
        "NET001",
        "net-builtin.toml",
        Severity::Warning,
        "builtin-good.toml",
    ),
    (
        "NET002",
        "net-replicator.json",
        Severity::Warning,
        "replicator-good.json",
    ),
    (
        "NET002",
        "net-mm2.properties",
        Severity::Warning,
        "mm2-good.properties",
    ),
    (
        "NET002",
        "net-builtin.toml",
        Severity::Warning,
        "builtin-good.toml",
    ),
    (
        "NET003",
        "net-replicator.json",
        Severity::Warning,
        "replicator-good.json",
    ),
    (
        "NET003",
        "net-builtin.toml",
        Severity::Warning,
        "builtin-good.toml",
    ),
    (
        "SCH001",
        "sch001-merged-registry.properties",
        Severity::Warning,
        "mm2-good.properties",
    ),
];

#[test]
fn every_rule_fails_its_failing_config_and_passes_its_passing_one() {
    let options = strict();
    for (rule, failing, severity, passing) in CASES {
        let found = findings(failing, &options);
        assert!(
            found
                .iter()
                .any(|f| f.rule == *rule && f.severity == *severity && f.line > 0),
            "{rule} should fire as {severity} on {failing}: {found:#?}"
        );
        let kept = findings(passing, &options);
        assert!(
            !kept.iter().any(|f| f.rule == *rule),
            "{rule} should stay quiet on {passing}: {kept:#?}"
        );
    }
}

#[test]
fn every_rule_has_a_case() {
    for rule in RULES {
        assert!(
            CASES.iter().any(|(id, ..)| id == &rule.id),
            "{} has no failing/passing fixture in CASES",
            rule.id
        );
    }
}

#[test]
fn the_good_configs_are_clean_under_the_strictest_options() {
    for name in [
        "replicator-good.json",
        "mm2-good.properties",
        "mmv-good-4.1.1.properties",
        "builtin-good.toml",
    ] {
        let found = findings(name, &strict());
        assert!(found.is_empty(), "{name}: {found:#?}");
    }
}

#[test]
fn findings_point_at_the_line_of_the_key() {
    let found = findings("rep003-acks-1.properties", &strict());
    let acks = found.iter().find(|f| f.rule == "REP003").expect("REP003");
    assert_eq!(
        (acks.line, acks.key.as_str()),
        (9, "producer.override.acks")
    );
    let found = findings("mm2004-groups-without-sync.properties", &strict());
    let groups = found.iter().find(|f| f.rule == "MM2004").expect("MM2004");
    assert_eq!(groups.line, 6, "the `groups` line");
}

#[test]
fn without_the_options_the_option_bound_rules_stay_quiet() {
    let relaxed = Options::default();
    for (rule, failing, ..) in CASES {
        if !matches!(
            *rule,
            "MM2001" | "TSK001" | "NET001" | "NET002" | "NET003" | "SCH001"
        ) {
            continue;
        }
        let found = findings(failing, &relaxed);
        assert!(
            !found.iter().any(|f| f.rule == *rule),
            "{rule} needs its option, yet fired on {failing}: {found:#?}"
        );
    }
    // At-least-once is reported for the record, not as an error, when nobody asked for EOS.
    let found = findings("blt001-at-least-once.toml", &relaxed);
    assert!(found
        .iter()
        .any(|f| f.rule == "BLT001" && f.severity == Severity::Info));
}

#[test]
fn every_rule_id_is_documented_in_lint_rules_md() {
    let docs = std::fs::read_to_string("../docs/lint-rules.md").expect("docs/lint-rules.md");
    for rule in RULES {
        assert!(
            docs.contains(&format!("## {}", rule.id)),
            "docs/lint-rules.md has no `## {}` section",
            rule.id
        );
    }
}

#[test]
fn secrets_never_reach_any_output() {
    let files: Vec<_> = [
        "replicator-good.json",
        "several-findings.json",
        "mm2-good.properties",
        "builtin-good.toml",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let paths: Vec<&Path> = files.iter().map(Path::new).collect();
    let report = lint::lint_paths(&paths, &strict()).expect("lints");
    let outputs = [
        lint::render::text(&report),
        lint::render::json(&report),
        lint::render::junit(&report).expect("junit"),
    ];
    for out in outputs {
        assert!(!out.contains("S3cr3t"), "a secret leaked:\n{out}");
    }
}

#[test]
fn several_findings_text_and_json() {
    let path = fixture("several-findings.json");
    let report = lint::lint_paths(&[Path::new(&path)], &strict()).expect("lints");
    insta::assert_snapshot!("several_findings_text", lint::render::text(&report));
    insta::assert_snapshot!("several_findings_json", lint::render::json(&report));
}

#[test]
fn junit_has_one_case_per_rule_per_file_and_fails_only_on_errors() {
    let files = [
        fixture("several-findings.json"),
        fixture("builtin-good.toml"),
    ];
    let paths: Vec<&Path> = files.iter().map(Path::new).collect();
    let report = lint::lint_paths(&paths, &strict()).expect("lints");
    let xml = lint::render::junit(&report).expect("junit");
    let replicator_rules = RULES
        .iter()
        .filter(|r| r.tools.contains(&lint::Tool::ConfluentReplicator))
        .count();
    let builtin_rules = RULES
        .iter()
        .filter(|r| r.tools.contains(&lint::Tool::Builtin))
        .count();
    assert_eq!(
        xml.matches("<testcase ").count(),
        replicator_rules + builtin_rules,
        "{xml}"
    );
    // REP002 and TOP001 are errors in several-findings.json; REP001 there is a warning.
    assert_eq!(xml.matches("<failure").count(), 2, "{xml}");
}

/// The version rules: each names its Kafka JIRA and the release that fixed it; they fire only
/// on the versions without the fix, and `--kafka-version` wins over the file's comment.
#[test]
fn version_rules_follow_the_fixed_releases() {
    let fired = |name: &str, version: Option<&str>| -> Vec<&'static str> {
        let options = Options {
            kafka_version: version.map(|v| v.parse().expect("version")),
            ..strict()
        };
        let mut ids: Vec<&'static str> = findings(name, &options)
            .into_iter()
            .filter(|f| f.rule.starts_with("MMV"))
            .map(|f| f.rule)
            .collect();
        ids.dedup();
        ids
    };
    let file = "mmv001-translation-3.4.0.properties";
    assert_eq!(fired(file, None), ["MMV001", "MMV002", "MMV003", "MMV004"]);
    assert_eq!(fired(file, Some("3.4.1")), ["MMV002", "MMV003", "MMV004"]);
    assert_eq!(fired(file, Some("3.5.0")), ["MMV002", "MMV003"]);
    assert_eq!(fired(file, Some("3.6.2")), ["MMV002", "MMV003"]);
    assert_eq!(fired(file, Some("3.7.0")), ["MMV002"]);
    assert!(fired(file, Some("3.7.1")).is_empty());
    assert!(fired(file, Some("3.8.0")).is_empty());
    assert!(fired(file, Some("4.1.1")).is_empty());
    // No version known: no version rule.
    assert!(fired("mm2-good.properties", None).is_empty());
    assert_eq!(fired("mm2-good.properties", Some("3.3")).len(), 4);

    let cites = [
        ("MMV001", ["KAFKA-12468", "3.4.1", "3.5.0"]),
        ("MMV002", ["KAFKA-15905", "3.7.1", "3.8.0"]),
        ("MMV003", ["KAFKA-15906", "3.7.0", "offset.lag.max"]),
        ("MMV004", ["KAFKA-14021", "KAFKA-10586", "3.5.0"]),
    ];
    let found = findings(file, &strict());
    for (rule, words) in cites {
        let f = found.iter().find(|f| f.rule == rule).expect(rule);
        for w in words {
            assert!(
                f.message.contains(w),
                "{rule} should cite {w}: {}",
                f.message
            );
        }
        assert!(
            f.message.contains("kafka.version on line 2"),
            "{}",
            f.message
        );
    }
    let old = findings(
        "mm2-good.properties",
        &Options {
            kafka_version: Some("3.2.3".parse().expect("version")),
            ..strict()
        },
    );
    let mmv002 = old.iter().find(|f| f.rule == "MMV002").expect("MMV002");
    assert!(mmv002.message.contains("KAFKA-14666"), "{}", mmv002.message);
    let mmv001 = old.iter().find(|f| f.rule == "MMV001").expect("MMV001");
    assert!(mmv001.message.contains("KAFKA-12635"), "{}", mmv001.message);
    assert!(
        mmv001.message.contains("--kafka-version"),
        "{}",
        mmv001.message
    );
}

#[test]
fn a_bad_version_comment_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mm2.properties");
    std::fs::write(
        &path,
        "clusters = a, b\n# kafka.version = latest\na->b.enabled = true\n",
    )
    .expect("write");
    let err = lint_file(&path, &strict()).unwrap_err().to_string();
    assert!(
        err.contains("mm2.properties:2: expected a Kafka version"),
        "{err}"
    );
}

/// SCH001 names the copied topics that carry schema ids (the filter's excludes honoured), stays
/// quiet for a registry that is not a merge, and without a topic list warns for the flow.
#[test]
fn sch001_names_the_copied_schema_topics_of_a_merged_registry() {
    let file = "sch001-merged-registry.properties";
    let sch = |options: &Options| -> Vec<lint::Finding> {
        findings(file, options)
            .into_iter()
            .filter(|f| f.rule == "SCH001")
            .collect()
    };
    let found = sch(&strict());
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!((f.line, f.key.as_str()), (8, "onprem->cloud.topics"));
    assert!(f.message.contains("(events.clicks)"), "{}", f.message);
    assert!(
        !f.message.contains("events.views"),
        "excluded: {}",
        f.message
    );
    assert!(f.message.contains("merges 2 source"), "{}", f.message);
    assert!(f.fix.contains("[schemas]"), "{}", f.fix);
    let one = Options {
        merged_registries: Some(1),
        ..strict()
    };
    assert!(sch(&one).is_empty(), "one source registry: ids can be kept");
    let elsewhere = Options {
        schema_topics: vec!["payments".into()],
        ..strict()
    };
    assert!(sch(&elsewhere).is_empty(), "no schema topic copied");
    let unknown = Options {
        schema_topics: Vec::new(),
        ..strict()
    };
    let found = sch(&unknown);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("may carry schema ids"),
        "{}",
        found[0].message
    );
}
