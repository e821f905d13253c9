//! `cutover preflight` against real clusters: a source without an authorizer and a target with
//! StandardAuthorizer, topics that are missing, have fewer partitions or a smaller
//! `max.message.bytes` on the target; every finding must be in the JSON, the exit code 1, a
//! clean selection exit 0, bad input exit 2 naming the file, and the source's secret nowhere.

use reports::CutoverExitCode;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use harness::{ClusterSpec, TopicSpec};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const SECRET: &str = "s3cr3t-preflight-XYZ";

fn props_file(dir: &Path, name: &str, bootstrap: &str, extra: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("# test cluster\nbootstrap.servers={bootstrap}\n{extra}"),
    )
    .unwrap();
    path.display().to_string()
}

fn preflight(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("preflight")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn has(
    findings: &[serde_json::Value],
    check: &str,
    severity: &str,
    topic: Option<&str>,
    needle: &str,
) -> bool {
    findings.iter().any(|f| {
        f["check"] == check
            && f["severity"] == severity
            && topic.is_none_or(|t| f["topic"] == t)
            && f.to_string().contains(needle)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_every_difference_and_passes_a_clean_selection() {
    let source_spec = ClusterSpec::new("pfsrc");
    let target_spec = ClusterSpec::new("pftgt")
        .broker_config(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        .broker_config("super.users", "User:ANONYMOUS");
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (
        source.expect("source starts"),
        target.expect("target starts"),
    );
    let (sa, ta) = (source.admin().unwrap(), target.admin().unwrap());

    for t in [
        TopicSpec::new("orders", 3, 1),
        TopicSpec::new("payments", 2, 1)
            .config("max.message.bytes", "2000000")
            .config("retention.ms", "86400000"),
        TopicSpec::new("audit", 1, 1),
        TopicSpec::new("clean", 2, 1),
        TopicSpec::new("unselected", 1, 1),
    ] {
        sa.create_topic(&t).await.unwrap();
    }
    for t in [
        TopicSpec::new("mig.orders", 2, 1),
        TopicSpec::new("mig.payments", 2, 1)
            .config("max.message.bytes", "1000000")
            .config("retention.ms", "3600000"),
        TopicSpec::new("mig.clean", 2, 1),
    ] {
        ta.create_topic(&t).await.unwrap();
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", source.bootstrap_servers())
        .create()
        .unwrap();
    for i in 0..60 {
        producer
            .send(
                FutureRecord::to("orders")
                    .key(&format!("k{i}"))
                    .payload(&"x".repeat(100)),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let jaas = format!(
        "security.protocol=PLAINTEXT\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{SECRET}\";\n"
    );
    let sp = props_file(
        dir.path(),
        "source.properties",
        &source.bootstrap_servers(),
        &jaas,
    );
    let tp = props_file(
        dir.path(),
        "target.properties",
        &target.bootstrap_servers(),
        "",
    );

    let out = preflight(&[
        "--source",
        &sp,
        "--target",
        &tp,
        "--topics",
        "orders|payments|audit|clean",
        "--rename-prefix",
        "mig.",
        "--principal",
        "User:replicator",
        "--throughput-mb-per-sec",
        "10",
        "--format",
        "json",
        "--timeout-secs",
        "20",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(CutoverExitCode::FAILED), "{all}");
    assert!(!all.contains(SECRET), "the secret leaked: {all}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["schema_version"], 1);
    let findings = json["findings"].as_array().unwrap().clone();
    let topics: Vec<&str> = json["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        ["audit", "clean", "orders", "payments"],
        "regex is a full match"
    );
    assert!(
        has(
            &findings,
            "topic_exists",
            "error",
            Some("audit"),
            "mig.audit"
        ),
        "{findings:#?}"
    );
    assert!(
        has(
            &findings,
            "partitions",
            "error",
            Some("orders"),
            "fewer partitions"
        ),
        "{findings:#?}"
    );
    assert!(
        has(
            &findings,
            "configs",
            "error",
            Some("payments"),
            "max.message.bytes"
        ),
        "{findings:#?}"
    );
    assert!(
        has(
            &findings,
            "configs",
            "warning",
            Some("payments"),
            "retention.ms"
        ),
        "{findings:#?}"
    );
    // The target enforces ACLs and User:replicator has none: Write (and Describe) missing.
    assert!(
        has(
            &findings,
            "acls",
            "error",
            Some("orders"),
            "User:replicator lacks Write, Describe on Topic:LITERAL:mig.orders on the target"
        ),
        "{findings:#?}"
    );
    assert!(
        has(
            &findings,
            "acls",
            "error",
            Some("audit"),
            "Create on Topic:LITERAL:mig.audit"
        ),
        "{findings:#?}"
    );
    // The source has no authorizer: said, not failed.
    assert!(
        has(&findings, "acls", "info", None, "no authorizer"),
        "{findings:#?}"
    );
    // `clean` only lacks the principal's ACLs.
    assert!(
        !findings
            .iter()
            .any(|f| f["topic"] == "clean" && f["check"] != "acls"),
        "{findings:#?}"
    );
    assert_eq!(json["target"]["authorizer"], "enabled");
    assert_eq!(json["source"]["authorizer"], "disabled");
    assert_eq!(json["source"]["broker_count"], 1);
    assert!(json["source"]["cluster_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let version = json["target"]["kafka_version"]["value"]
        .as_str()
        .unwrap_or("");
    assert!(
        version.starts_with("metadata.version 4."),
        "{:#}",
        json["target"]["kafka_version"]
    );
    // 60 records of 102 bytes (key + value) on orders.
    assert_eq!(
        json["estimate"]["source_records"], 60,
        "{:#}",
        json["findings"]
    );
    let bytes = json["estimate"]["estimated_bytes"].as_u64().unwrap();
    assert!((6000..=6200).contains(&bytes), "{:#}", json["estimate"]);
    assert!(json["estimate"]["estimated_seconds"].as_f64().is_some());

    // JUnit into a file: a failing case per failing check and topic.
    let junit = dir.path().join("preflight.xml");
    let out = preflight(&[
        "--source",
        &sp,
        "--target",
        &tp,
        "--topics",
        "orders|clean",
        "--rename-prefix",
        "mig.",
        "--format",
        "junit",
        "--out",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&out)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"orders: partitions\""), "{xml}");
    assert!(xml.contains("<failure"), "{xml}");
    assert!(xml.contains("name=\"clean: configs\""), "{xml}");
    assert!(!xml.contains(SECRET));

    // A clean selection passes, in text.
    let out = preflight(&[
        "--source",
        &sp,
        "--target",
        &tp,
        "--topics",
        "clean",
        "--rename-prefix",
        "mig.",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(CutoverExitCode::OK), "{all}");
    assert!(all.contains("0 errors"), "{all}");
    assert!(
        all.contains("clean (2 partitions, 0 records) → mig.clean (2 partitions): ok"),
        "{all}"
    );
    assert!(!all.contains(SECRET), "{all}");

    source.shutdown().await.unwrap();
    target.shutdown().await.unwrap();
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.properties");
    let missing = missing.to_str().unwrap();
    let out = preflight(&["--source", missing, "--target", missing, "--topics", "x"]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("nope.properties"), "{}", text(&out));

    let bad = dir.path().join("bad.properties");
    std::fs::write(
        &bad,
        format!("bootstrap.servers=localhost:9092\n=password={SECRET}\n"),
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let out = preflight(&["--source", bad, "--target", bad, "--topics", "x"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR), "{all}");
    assert!(all.contains("bad.properties:2"), "{all}");
    assert!(!all.contains(SECRET), "{all}");

    let ok = props_file(dir.path(), "ok.properties", "127.0.0.1:1", "");
    let out = preflight(&["--source", &ok, "--target", &ok, "--topics", "(x"]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--topics"), "{}", text(&out));

    // Nobody listens on port 1: unreachable, exit 2.
    let out = preflight(&[
        "--source",
        &ok,
        "--target",
        &ok,
        "--topics",
        "x",
        "--timeout-secs",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("source cluster"), "{}", text(&out));
}
