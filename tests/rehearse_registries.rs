//! `cutover rehearse` with existing ("external") schema registries: three real Apicurio
//! Registry servers started here stand for two on-premise registries and a merged cloud
//! registry, reached only through the rehearsal file's `[registries]` (URL, basic auth user
//! and password). The rehearsal verifies the merge (the report's registry section: one
//! version missing) and compares the window's framed records by schema content: a topic copied
//! with translated ids is complete, one copied byte for byte is all missing. The password never
//! reaches the output or the report; an unreachable registry exits 2 naming it. Needs a Java
//! 21+ (skipped, saying why, without one).

#[path = "support/identity.rs"]
mod identity;

#[path = "support/registries.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::{ClusterSpec, TopicSpec};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use registry::{wire, Schema, SchemaRegistry, SchemaType};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const SECRET: &str = "reg-pa55-Z7q";
const RECORDS: usize = 40;

fn avro(fields: &str) -> Schema {
    Schema::new(
        SchemaType::Avro,
        format!(r#"{{"type":"record","name":"E","fields":[{fields}]}}"#),
    )
}

fn rehearse(
    dir: &Path,
    props: &Path,
    config: &str,
    name: &str,
) -> (i32, String, std::path::PathBuf) {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let reports = dir.join(name);
    let out = Command::new(BIN)
        .arg("rehearse")
        .arg("--source")
        .arg(props)
        .arg("--target")
        .arg(props)
        .arg("--config")
        .arg(&file)
        .arg("--report-dir")
        .arg(&reports)
        .env("NO_COLOR", "1")
        .env("CUTOVER_LOG", "info")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(SECRET),
        "the registry password reached the output:\n{text}"
    );
    (out.status.code().unwrap_or(-1), text, reports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsal_verifies_external_registries_and_judges_framed_records_by_schema() {
    if let Err(e) = harness::java::JavaRuntime::locate_at_least(21) {
        eprintln!("SKIPPED: no Java 21+ for Apicurio Registry: {e}");
        return;
    }
    let mut spec = ClusterSpec::new("rehreg");
    spec.ready_timeout_secs = 240;
    let cluster = harness::start(&spec).await.expect("cluster starts");
    let admin = cluster.admin().unwrap();
    for t in [
        "ext.orders",
        "ext.users",
        "copy.ext.orders",
        "copy.ext.users",
    ] {
        admin.create_topic(&TopicSpec::new(t, 1, 1)).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (registries, [a, b, t]) = support::three(["ext-a", "ext-b", "ext-cloud"], dir.path()).await;
    // Overlapping ids: id 1 in A is orders' schema, id 1 in B is users'.
    let orders = a
        .register("ext.orders-value", &avro(r#"{"name":"o","type":"long"}"#))
        .unwrap();
    let users = b
        .register("ext.users-value", &avro(r#"{"name":"u","type":"string"}"#))
        .unwrap();
    assert_eq!(orders, users, "overlapping ids");
    // The cloud registry already holds a subject of its own (its ids start elsewhere).
    t.register("cloud.audit-value", &avro(r#"{"name":"a","type":"int"}"#))
        .unwrap();
    // The merge: both into the cloud registry (ids translated), then one more version in B
    // that never reaches the target (registry verification: 1 missing).
    let none = regex::Regex::new("$^").unwrap();
    replicator::schemas::Schemas::new(
        vec![
            (none.clone(), Box::new(a.clone())),
            (none, Box::new(b.clone())),
        ],
        Box::new(t.clone()),
    )
    .setup()
    .unwrap();
    b.register(
        "ext.users-value",
        &avro(
            r#"{"name":"u","type":"string"},{"name":"n","type":["null","string"],"default":null}"#,
        ),
    )
    .unwrap();
    let orders_target = t
        .lookup(
            "ext.orders-value",
            &a.version("ext.orders-value", 1).unwrap().schema,
        )
        .unwrap()
        .unwrap()
        .id;
    assert_ne!(
        orders_target, orders,
        "the merged registry numbers its own ids"
    );

    // Records: orders copied with the target's id (translated), users byte for byte.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .unwrap();
    for i in 0..RECORDS {
        let payload = format!("p{i}");
        for (topic, value) in [
            ("ext.orders", wire::frame(orders, payload.as_bytes())),
            (
                "copy.ext.orders",
                wire::frame(orders_target, payload.as_bytes()),
            ),
            ("ext.users", wire::frame(users, payload.as_bytes())),
            ("copy.ext.users", wire::frame(users, payload.as_bytes())),
        ] {
            // The workload's identity header, so the checker pairs a record with its copy.
            producer
                .send(
                    FutureRecord::<(), _>::to(topic)
                        .payload(&value)
                        .headers(identity::identified(0, i as u64)),
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
        }
    }

    let props = dir.path().join("cluster.properties");
    std::fs::write(
        &props,
        format!("bootstrap.servers={}\n", cluster.bootstrap_servers()),
    )
    .unwrap();
    // Apicurio runs without authentication and ignores the basic auth header; the password
    // is there to be kept secret.
    let config = format!(
        r#"[rehearsal]
name = "registries"
topics = "ext\\..*"
rename_prefix = "copy."
window_records = 100
lag_bound_secs = 8

[registries.target]
name = "cloud"
url = "{}"
user = "cutover"
password = "{SECRET}"

[[registries.source]]
name = "onprem-a"
url = "{}"
topics = "ext\\.orders"

[[registries.source]]
name = "onprem-b"
url = "{}"
user = "cutover"
password = "{SECRET}"
topics = "ext\\.users"
"#,
        registries[2].ccompat_url(),
        registries[0].ccompat_url(),
        registries[1].ccompat_url()
    );
    let (code, text, reports) = rehearse(dir.path(), &props, &config, "run");
    eprintln!("{text}");
    assert_eq!(code, 1, "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    let reg = &report["registries"];
    eprintln!("registries: {reg}");
    assert_eq!(reg["outcome"], "fail");
    assert_eq!(
        (reg["versions"].as_u64(), reg["matched"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(reg["missing"], 1);
    assert_eq!(reg["findings"][0]["subject"], "ext.users-value");
    assert_eq!(reg["findings"][0]["version"], 2);
    assert_eq!(reg["target_only_subjects"][0], "cloud.audit-value");
    assert!(reg["sources"][0]
        .as_str()
        .unwrap()
        .starts_with("onprem-a ("));
    assert!(reg["target"].as_str().unwrap().starts_with("cloud ("));
    let windows = report["rehearsal"]["topics"].as_array().unwrap();
    let window = |t: &str| windows.iter().find(|w| w["topic"] == t).unwrap();
    assert_eq!(window("ext.orders")["records"], RECORDS);
    assert_eq!(
        window("ext.orders")["missing"],
        0,
        "translated ids: same schema by content"
    );
    assert_eq!(
        window("ext.users")["missing"],
        RECORDS,
        "untranslated ids name another schema in the merged registry"
    );
    let failures = report["failures"].to_string();
    assert!(
        failures.contains("schema registries: 1 missing"),
        "{failures}"
    );
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let body = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !body.contains(SECRET),
                "{} holds the password",
                path.display()
            );
        }
    }
    let md = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(md.contains("### Schema registries: FAIL"), "{md}");
    assert!(std::fs::read_to_string(reports.join("report.html"))
        .unwrap()
        .contains("<section id=\"registries\">"));

    // `cutover verify` with the same registries: records judged by schema content, and the
    // registries verified into the report's registry section.
    let verify = |topics: &str, source_url: &str, name: &str| {
        let out = Command::new(BIN)
            .arg("verify")
            .arg("--source")
            .arg(&props)
            .arg("--target")
            .arg(&props)
            .args(["--topics", topics, "--rename-prefix", "copy."])
            .arg("--source-registry")
            .arg(format!("{topics}={source_url}"))
            .args(["--target-registry", &registries[2].ccompat_url()])
            .arg("--report-dir")
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(name).join("report.json"))
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr))),
        )
        .unwrap();
        (out.status.code(), report)
    };
    let (code, report) = verify(
        "ext\\.orders",
        &registries[0].ccompat_url(),
        "verify-orders",
    );
    let reg = &report["registries"];
    eprintln!("verify orders: {code:?} {reg}");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(reg["outcome"], "pass");
    assert_eq!(reg["records"].as_array().unwrap().len(), 0);
    assert_eq!(reg["records_checked"], RECORDS);
    let (code, report) = verify("ext\\.users", &registries[1].ccompat_url(), "verify-users");
    let reg = &report["registries"];
    eprintln!("verify users: {code:?} {reg}");
    assert_eq!(code, Some(1));
    assert_eq!(reg["missing"], 1, "users v2 never reached the target");
    assert_eq!(reg["records"][0]["class"], "schema-mismatch");
    assert_eq!(reg["records"][0]["count"], RECORDS);
    assert_eq!(report["verdict"]["counts"]["schema-mismatch"], RECORDS);

    // An unreachable registry: exit 2, named, with its URL and the cause.
    let bad = config.replace(
        &registries[0].ccompat_url(),
        "http://127.0.0.1:1/apis/ccompat/v7",
    );
    let (code, text, _) = rehearse(dir.path(), &props, &bad, "unreachable");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("schema registry `onprem-a`"), "{text}");
    assert!(
        text.contains("http://127.0.0.1:1/apis/ccompat/v7/subjects"),
        "{text}"
    );
    assert!(text.contains("cannot reach"), "{text}");
    // A password_env that is not set: exit 2 naming the file's field.
    let unset = config.replacen(
        &format!("password = \"{SECRET}\""),
        "password_env = \"CUTOVER_TEST_UNSET_REGISTRY_PASSWORD\"",
        1,
    );
    let (code, text, _) = rehearse(dir.path(), &props, &unset, "unset");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("registries.target.password_env"), "{text}");
    drop(registries);
    cluster.shutdown().await.unwrap();
}
