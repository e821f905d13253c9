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
        .into_iter()
        .flat_map(|r| r.findings)
        .collect()
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
        "MM2004",
        "mm2004-checkpoint-connector.json",
        Severity::Error,
        "connectors-expand-info.json",
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
        "CON001",
        "connectors-expand-info.json",
        Severity::Error,
        "connector-mm2-good.json",
    ),
    (
        "CON002",
        "con002-worker-no-idempotence.properties",
        Severity::Error,
        "connect-worker-good.properties",
    ),
    (
        "CON002",
        "con002-connector-idempotence-off.json",
        Severity::Error,
        "connector-mm2-good.json",
    ),
    (
        "CON003",
        "con003-worker-preparing.properties",
        Severity::Error,
        "connect-worker-good.properties",
    ),
    (
        "CON004",
        "con004-worker-rebalance.properties",
        Severity::Warning,
        "connect-worker-good.properties",
    ),
    (
        "CON004",
        "con004-worker-delay.properties",
        Severity::Warning,
        "connect-worker-good.properties",
    ),
    (
        "ISO001",
        "iso001-connector.json",
        Severity::Error,
        "connector-mm2-good.json",
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
        "TSK001",
        "connectors-expand-info.json",
        Severity::Warning,
        "connector-mm2-good.json",
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
        "NET001",
        "con004-worker-rebalance.properties",
        Severity::Warning,
        "connect-worker-good.properties",
    ),
    (
        "NET001",
        "net-connector.properties",
        Severity::Warning,
        "connector-mm2-good.json",
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
        "NET002",
        "con004-worker-rebalance.properties",
        Severity::Warning,
        "connect-worker-good.properties",
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
        "connect-worker-good.properties",
        "connector-mm2-good.json",
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
        "connect-worker-good.properties",
        "con004-worker-rebalance.properties",
        "connector-mm2-good.json",
        "connectors-expand-info.json",
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

fn lint_together(names: &[&str], options: &Options) -> lint::LintReport {
    let files: Vec<String> = names.iter().map(|n| fixture(n)).collect();
    let paths: Vec<&Path> = files.iter().map(Path::new).collect();
    lint::lint_paths(&paths, options).expect("lints")
}

fn rule_in<'a>(
    report: &'a lint::LintReport,
    file_suffix: &str,
    rule: &str,
) -> Vec<&'a lint::Finding> {
    report
        .files
        .iter()
        .filter(|f| f.file.ends_with(file_suffix))
        .flat_map(|f| &f.findings)
        .filter(|f| f.rule == rule)
        .collect()
}

/// The Connect REST API's shapes: `GET /connectors/{name}`, the flat `…/config`, the
/// `{"name", "config"}` body, and `GET /connectors?expand=info` with a report per connector;
/// every key keeps its own line.
#[test]
fn the_rest_api_shapes_are_read_with_the_lines_of_their_keys() {
    use lint::input::{load, Content};
    let one = |name: &str| {
        let mut all = load(Path::new(&fixture(name))).expect(name);
        assert_eq!(all.len(), 1, "{name}");
        all.remove(0)
    };
    let line = |c: &lint::input::ConfigFile, key: &str| match &c.content {
        Content::Connector(c) => c.config.get(key).map(|e| e.line),
        other => panic!("{}: not a connector: {other:?}", c.file),
    };
    // GET /connectors/{name}: config keys, not `name`/`tasks`/`type` of the envelope.
    let get = one("connector-mm2-good.json");
    assert_eq!(get.tool(), lint::Tool::Connector);
    assert_eq!(line(&get, "source.consumer.isolation.level"), Some(15));
    assert_eq!(line(&get, "name"), Some(5), "the config's own `name`");
    assert_eq!(line(&get, "tasks"), None);
    let Content::Connector(c) = &get.content else {
        unreachable!()
    };
    assert_eq!(
        (c.name.as_deref(), c.kind.as_deref()),
        (Some("onprem-to-cloud"), Some("source"))
    );
    // GET /connectors/{name}/config: flat.
    let flat = one("iso001-connector.json");
    assert_eq!(line(&flat, "consumer.isolation.level"), Some(7));
    // The POST body / PUT of a connector: {"name", "config"}.
    let body = one("con002-connector-idempotence-off.json");
    assert_eq!(line(&body, "producer.override.enable.idempotence"), Some(6));
    // GET /connectors?expand=info: one config per connector, named file#connector.
    let listed = load(Path::new(&fixture("connectors-expand-info.json"))).expect("expand");
    let names: Vec<&str> = listed
        .iter()
        .map(|c| c.file.rsplit('/').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "connectors-expand-info.json#onprem-to-cloud",
            "connectors-expand-info.json#onprem-to-cloud-checkpoints"
        ]
    );
    assert_eq!(line(&listed[0], "tasks.max"), Some(8));
    assert_eq!(line(&listed[1], "connector.class"), Some(24));
    assert_eq!(line(&listed[1], "groups"), Some(30));
    // Findings carry those lines and names.
    let report = lint_together(&["connectors-expand-info.json"], &strict());
    assert_eq!(report.files.len(), 2);
    let con001 = rule_in(&report, "#onprem-to-cloud", "CON001");
    assert_eq!(con001.len(), 1, "{report:#?}");
    assert_eq!(con001[0].line, 6, "at connector.class: no isolation key");
    assert!(
        con001[0]
            .message
            .contains("`source.cluster.isolation.level` does not reach it"),
        "{}",
        con001[0].message
    );
    let tsk = rule_in(&report, "#onprem-to-cloud", "TSK001");
    assert_eq!(tsk.first().map(|f| f.line), Some(8));
    assert!(rule_in(&report, "#onprem-to-cloud-checkpoints", "CON001").is_empty());
    // The Connector-level idempotence warning where no worker was given.
    let warn = rule_in(&report, "#onprem-to-cloud-checkpoints", "CON002");
    assert!(
        warn.iter().all(|f| f.severity == Severity::Warning) && !warn.is_empty(),
        "{warn:#?}"
    );
}

#[test]
fn a_rest_document_that_is_no_connector_names_file_line_and_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let nested = write(
        "nested.json",
        "{\n  \"name\": \"x\",\n  \"config\": {\n    \"connector.class\": \"A\",\n    \"bad\": {\"k\": 1}\n  }\n}\n",
    );
    let err = lint_file(&nested, &strict()).unwrap_err().to_string();
    assert!(
        err.contains("nested.json:5: expected `bad` to be a string"),
        "{err}"
    );
    let no_class = write(
        "status.json",
        "{\"name\": \"x\", \"config\": {\"tasks.max\": 1}}",
    );
    let err = lint_file(&no_class, &strict()).unwrap_err().to_string();
    assert!(err.contains("without `connector.class`"), "{err}");
    let listing = write(
        "listing.json",
        "{\n  \"a\": {\"info\": {\"name\": \"a\", \"config\": {\"connector.class\": \"X\"}}},\n  \"b\": {\"status\": {}}\n}\n",
    );
    let err = lint_file(&listing, &strict()).unwrap_err().to_string();
    assert!(
        err.contains("listing.json:3: expected `b` to carry its `info`"),
        "{err}"
    );
}

/// CON003 across files: a worker without exactly-once is an error when another worker of its
/// group has it (mixed cluster) or a connector linted with it requires it — and not alone.
#[test]
fn exactly_once_must_be_on_every_worker_of_the_group() {
    let relaxed = Options::default();
    let alone = findings("con003-worker-mixed.properties", &relaxed);
    assert!(!alone.iter().any(|f| f.rule == "CON003"), "{alone:#?}");

    let mixed = lint_together(
        &[
            "connect-worker-good.properties",
            "con003-worker-mixed.properties",
        ],
        &relaxed,
    );
    let found = rule_in(&mixed, "con003-worker-mixed.properties", "CON003");
    assert_eq!(found.len(), 1, "{mixed:#?}");
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(found[0].line, 3, "no exactly.once key: at group.id");
    assert!(
        found[0].message.contains("connect-worker-good.properties")
            && found[0].message.contains("`migration-connect`"),
        "{}",
        found[0].message
    );
    assert!(rule_in(&mixed, "connect-worker-good.properties", "CON003").is_empty());

    // Another group.id is another cluster.
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other-group.properties");
    let text = std::fs::read_to_string(fixture("con003-worker-mixed.properties")).expect("read");
    std::fs::write(
        &other,
        text.replace("group.id=migration-connect", "group.id=elsewhere"),
    )
    .expect("write");
    let good = fixture("connect-worker-good.properties");
    let report = lint::lint_paths(&[Path::new(&good), other.as_path()], &relaxed).expect("lints");
    assert!(rule_in(&report, "other-group.properties", "CON003").is_empty());

    let required = lint_together(
        &[
            "con003-connector-requires-eos.json",
            "con003-worker-mixed.properties",
        ],
        &relaxed,
    );
    let found = rule_in(&required, "con003-worker-mixed.properties", "CON003");
    assert_eq!(found.len(), 1, "{required:#?}");
    assert!(
        found[0]
            .message
            .contains("con003-connector-requires-eos.json")
            && found[0].message.contains("exactly.once.support=required"),
        "{}",
        found[0].message
    );
    let fine = lint_together(
        &[
            "con003-connector-requires-eos.json",
            "connect-worker-good.properties",
        ],
        &relaxed,
    );
    assert!(
        fine.files.iter().all(|f| f.findings.is_empty()),
        "{fine:#?}"
    );
}

/// CON002 on a connector knows its workers: exactly-once workers force idempotence (a `false`
/// override is overridden), and then more than 5 in-flight requests make the producer refuse.
#[test]
fn exactly_once_workers_force_idempotence_on_their_connectors() {
    let relaxed = Options::default();
    let alone = findings("con002-connector-idempotence-off.json", &relaxed);
    let con002: Vec<_> = alone.iter().filter(|f| f.rule == "CON002").collect();
    assert_eq!(con002.len(), 1, "{alone:#?}");
    assert_eq!(
        (con002[0].line, con002[0].key.as_str()),
        (6, "producer.override.enable.idempotence")
    );
    let together = lint_together(
        &[
            "connect-worker-good.properties",
            "con002-connector-idempotence-off.json",
        ],
        &relaxed,
    );
    let con002 = rule_in(&together, "con002-connector-idempotence-off.json", "CON002");
    assert_eq!(con002.len(), 1, "{together:#?}");
    assert_eq!(
        con002[0].key,
        "producer.override.max.in.flight.requests.per.connection"
    );
    assert!(
        con002[0].message.contains("refuses"),
        "{}",
        con002[0].message
    );

    // A worker's own acks=1 (not idempotent): data loss on a leader change.
    let worker = findings("con002-worker-no-idempotence.properties", &relaxed);
    let keys: Vec<(&str, usize)> = worker
        .iter()
        .filter(|f| f.rule == "CON002")
        .map(|f| (f.key.as_str(), f.line))
        .collect();
    assert_eq!(
        keys,
        [("producer.enable.idempotence", 3), ("producer.acks", 7)]
    );
}

/// CON004 without a link checks the heartbeat against a third of the session; with one, NET002
/// checks it against the round trip instead. `preparing` alone is a warning.
#[test]
fn worker_timeouts_and_preparing_without_options() {
    let relaxed = Options::default();
    let found = findings("con004-worker-rebalance.properties", &relaxed);
    let con004: Vec<(&str, usize)> = found
        .iter()
        .filter(|f| f.rule == "CON004")
        .map(|f| (f.key.as_str(), f.line))
        .collect();
    assert_eq!(
        con004,
        [
            ("offset.flush.interval.ms", 3),
            ("connect.protocol", 7),
            ("heartbeat.interval.ms", 10)
        ],
        "{found:#?}"
    );
    // Under eager, scheduled.rebalance.max.delay.ms does not apply.
    assert!(!found
        .iter()
        .any(|f| f.key == "scheduled.rebalance.max.delay.ms"));
    let linked = findings("con004-worker-rebalance.properties", &strict());
    assert!(!linked
        .iter()
        .any(|f| f.rule == "CON004" && f.key == "heartbeat.interval.ms"));
    assert!(linked
        .iter()
        .any(|f| f.rule == "NET002" && f.key == "session.timeout.ms" && f.line == 9));
    let delay = findings("con004-worker-delay.properties", &relaxed);
    let f = delay
        .iter()
        .find(|f| f.rule == "CON004" && f.key == "scheduled.rebalance.max.delay.ms")
        .expect("delay");
    assert!(
        f.message.contains("after 5000 ms") && f.message.contains("10000 ms"),
        "{}",
        f.message
    );

    let preparing = findings("con003-worker-preparing.properties", &relaxed);
    let con003: Vec<_> = preparing.iter().filter(|f| f.rule == "CON003").collect();
    assert_eq!(con003.len(), 1);
    assert_eq!((con003[0].severity, con003[0].line), (Severity::Warning, 6));
    assert!(
        !preparing.iter().any(|f| f.rule == "CON002"),
        "idempotence set"
    );
}

/// What a person reads for a Connect cluster: a mixed worker group and a REST listing.
#[test]
fn connect_cluster_text() {
    let report = lint_together(
        &[
            "connect-worker-good.properties",
            "con003-worker-mixed.properties",
            "connectors-expand-info.json",
            "mm2004-checkpoint-connector.json",
        ],
        &strict(),
    );
    insta::assert_snapshot!("connect_cluster_text", lint::render::text(&report));
}
