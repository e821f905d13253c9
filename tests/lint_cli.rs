//! `cutover lint` from the outside: exit 0 clean, 1 on an error finding, 2 on input it cannot
//! read or parse (file:line named), and no secret in any output. No Kafka here.

use reports::CutoverExitCode;

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lint/tests/fixtures");

fn lint(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("lint")
        .args(args)
        .output()
        .expect("run cutover lint")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn clean_configs_exit_0() {
    let o = lint(&[
        &fixture("replicator-good.json"),
        &fixture("mm2-good.properties"),
        &fixture("builtin-good.toml"),
        "--require-exactly-once",
        "--partitions",
        "12",
        "--link-rtt-ms",
        "40",
        "--link-bandwidth-mbps",
        "100",
    ]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::OK),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(text(&o.stdout).contains("0 errors, 0 warnings, 0 infos in 3 files"));
}

#[test]
fn warnings_only_exit_0_and_an_error_exits_1() {
    let o = lint(&[&fixture("tsk001-replicator.json"), "--partitions", "12"]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&o.stdout)
    );
    assert!(text(&o.stdout).contains("warning[TSK001]"));

    let o = lint(&[&fixture("rep002-no-idempotence.json")]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&o.stdout)
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("rep002-no-idempotence.json:4: error[REP002]:"),
        "{out}"
    );
    assert!(out.contains("  fix: set `producer.override.enable.idempotence=true`"));
}

#[test]
fn json_and_junit_formats_parse() {
    let o = lint(&[&fixture("several-findings.json"), "--format", "json"]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::FAILED));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["summary"]["errors"], 2);
    let o = lint(&[&fixture("several-findings.json"), "--format", "junit"]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::FAILED));
    assert!(text(&o.stdout).starts_with("<?xml"));
}

#[test]
fn unparseable_or_unreadable_input_exits_2_naming_file_and_line() {
    let o = lint(&[&fixture("broken.json")]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    let err = text(&o.stderr);
    assert!(err.contains("broken.json:6: expected JSON"), "{err}");

    let o = lint(&[&fixture("broken-builtin.toml")]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    let err = text(&o.stderr);
    assert!(
        err.contains("broken-builtin.toml:4:") && err.contains("shiny_new_option"),
        "{err}"
    );

    let o = lint(&[&fixture("does-not-exist.properties")]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    assert!(text(&o.stderr).contains("cannot read"));
}

#[test]
fn secrets_are_redacted_in_every_format_and_in_errors() {
    for format in ["text", "json", "junit"] {
        let o = lint(&[
            &fixture("several-findings.json"),
            &fixture("mm2-good.properties"),
            &fixture("builtin-good.toml"),
            "--format",
            format,
        ]);
        let all = text(&o.stdout) + &text(&o.stderr);
        assert!(!all.contains("S3cr3t"), "{format} leaked a secret:\n{all}");
    }
    for broken in ["broken.json", "broken-builtin.toml"] {
        let o = lint(&[&fixture(broken)]);
        let all = text(&o.stdout) + &text(&o.stderr);
        assert!(!all.contains("S3cr3t"), "{broken} leaked a secret:\n{all}");
    }
}

/// `--kafka-version` adds the MirrorMaker 2 version rules (docs/lint-rules.md, MMV…), each
/// citing its Kafka JIRA; the example file's `# kafka.version = 4.1.1` keeps them quiet.
#[test]
fn the_kafka_version_adds_the_mirrormaker2_defects_of_that_release() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/mirrormaker2/mm2.properties"
    );
    let o = lint(&[example, "--require-exactly-once"]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&o.stdout)
    );
    assert!(!text(&o.stdout).contains("MMV"), "{}", text(&o.stdout));

    let o = lint(&[example, "--kafka-version", "3.4.0", "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    for needle in [
        "MMV001",
        "MMV002",
        "MMV003",
        "MMV004",
        "KAFKA-12468",
        "KAFKA-15905",
        "KAFKA-15906",
        "KAFKA-14021",
    ] {
        assert!(out.contains(needle), "no {needle} in\n{out}");
    }
    let o = lint(&[example, "--kafka-version", "3.8.0"]);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&o.stdout)
    );

    let o = lint(&[example, "--kafka-version", "latest"]);
    assert_eq!(o.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        text(&o.stderr).contains("not a Kafka version"),
        "{}",
        text(&o.stderr)
    );
}

/// `--merged-registries 2 --schema-topics …` adds SCH001 (MirrorMaker 2 copies schema ids
/// untranslated into a merged registry): a warning, so the exit stays 0.
#[test]
fn merged_registries_warn_that_mirrormaker2_keeps_source_schema_ids() {
    let file = fixture("sch001-merged-registry.properties");
    let o = lint(&[&file]);
    assert!(!text(&o.stdout).contains("SCH001"), "{}", text(&o.stdout));
    let o = lint(&[
        &file,
        "--merged-registries",
        "2",
        "--schema-topics",
        "events.clicks,events.views",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let sch: Vec<&serde_json::Value> = json["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "SCH001")
        .collect();
    assert_eq!(sch.len(), 1, "{json}");
    assert_eq!(sch[0]["severity"], "warning");
    assert_eq!(sch[0]["line"], 8);
    let message = sch[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("(events.clicks)"), "{message}");
}

/// A Connect cluster as `curl` shows it: worker properties and `GET /connectors?expand=info`
/// linted together — a report per connector (`file#name`) in JSON and JUnit, the mixed
/// exactly-once worker an error (exit 1), the workers' SASL passwords nowhere.
#[test]
fn a_connect_cluster_is_linted_as_one_with_a_report_per_connector() {
    let files = [
        fixture("connect-worker-good.properties"),
        fixture("con003-worker-mixed.properties"),
        fixture("connectors-expand-info.json"),
    ];
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--format", "json"]);
    let o = lint(&args);
    assert_eq!(
        o.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let reports = json["files"].as_array().expect("files");
    let tools: Vec<(String, String)> = reports
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap_or_default();
            (
                file.rsplit('/').next().unwrap_or_default().to_string(),
                f["tool"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tools,
        [
            (
                "connect-worker-good.properties".into(),
                "connect-worker".into()
            ),
            (
                "con003-worker-mixed.properties".into(),
                "connect-worker".into()
            ),
            (
                "connectors-expand-info.json#onprem-to-cloud".into(),
                "connector".into()
            ),
            (
                "connectors-expand-info.json#onprem-to-cloud-checkpoints".into(),
                "connector".into()
            ),
        ]
    );
    let rules = |i: usize| -> Vec<String> {
        reports[i]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                format!(
                    "{}:{}",
                    f["rule"].as_str().unwrap_or(""),
                    f["severity"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert!(rules(0).is_empty(), "{:?}", rules(0));
    assert_eq!(rules(1), ["CON003:error"]);
    assert!(
        rules(2).contains(&"CON001:error".to_string()),
        "{:?}",
        rules(2)
    );
    let all = text(&o.stdout);
    assert!(!all.contains("S3cr3t"), "{all}");

    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--format", "junit"]);
    let o = lint(&args);
    let xml = text(&o.stdout);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("connectors-expand-info.json#onprem-to-cloud-checkpoints"),
        "{xml}"
    );
    assert_eq!(
        xml.matches("<failure").count(),
        2,
        "CON003 and CON001:\n{xml}"
    );
    assert!(!xml.contains("S3cr3t"), "{xml}");
}
