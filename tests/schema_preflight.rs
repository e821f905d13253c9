//! `cutover preflight` with schema registries, on real Apicurio Registry servers (and a real
//! Kafka cluster for the rest of the preflight): an unreachable registry stops it with exit 2,
//! naming the registry, its URL and the cause, before any cluster is contacted; a subject two
//! source registries hold with different content, and a target version already holding another
//! schema, are error findings (exit 1); sources that agree pass (exit 0). Needs a Java 21+
//! (skipped, saying why, without one).

#[path = "support/registries.rs"]
mod support;

use std::process::{Command, Output};

use harness::{ClusterSpec, TopicSpec};
use registry::{Schema, SchemaRegistry, SchemaType};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn preflight(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("preflight")
        .args(args)
        .output()
        .expect("cutover preflight")
}

fn avro(field_type: &str) -> Schema {
    Schema::new(
        SchemaType::Avro,
        format!(
            r#"{{"type":"record","name":"E","fields":[{{"name":"x","type":"{field_type}"}}]}}"#
        ),
    )
}

#[test]
fn an_unreachable_registry_exits_2_naming_its_url_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("c.properties");
    // No cluster behind it: the registries are checked first.
    std::fs::write(&props, "bootstrap.servers=127.0.0.1:1\n").unwrap();
    let p = props.display().to_string();
    let with = |registry: &[&str]| {
        let mut args = vec!["--source", &p, "--target", &p, "--topics", "x"];
        args.extend_from_slice(registry);
        preflight(&args)
    };
    let out = with(&[
        "--source-registry",
        "onprem=http://alice:s3cret-reg@127.0.0.1:1/apis/ccompat/v7",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("schema registry `onprem`"), "{err}");
    assert!(
        err.contains("http://127.0.0.1:1/apis/ccompat/v7/subjects"),
        "the URL: {err}"
    );
    assert!(err.contains("cannot reach"), "the cause: {err}");
    assert!(!err.contains("s3cret-reg"), "no password: {err}");

    let out = with(&["--target-registry", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source-registry"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_subjects_between_source_registries_fail_the_preflight() {
    if let Err(e) = harness::java::JavaRuntime::locate_at_least(21) {
        eprintln!("SKIPPED: no Java 21+ for Apicurio Registry: {e}");
        return;
    }
    let mut spec = ClusterSpec::new("pfreg");
    spec.ready_timeout_secs = 240;
    let cluster = harness::start(&spec).await.expect("cluster starts");
    cluster
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("events", 1, 1))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (registries, [a, b, t]) = support::three(["pf-a", "pf-b", "pf-target"], dir.path()).await;
    // `shared-value`: the same subject, different content in the two sources.
    a.register("shared-value", &avro("int")).unwrap();
    b.register("shared-value", &avro("long")).unwrap();
    // `events-value`: only in A; the target already holds another schema at v1.
    a.register("events-value", &avro("string")).unwrap();
    t.register("events-value", &avro("bytes")).unwrap();
    // `users-value`: only in B, absent on the target (the copy adds it: no finding).
    b.register("users-value", &avro("string")).unwrap();

    let props = dir.path().join("c.properties");
    std::fs::write(
        &props,
        format!("bootstrap.servers={}\n", cluster.bootstrap_servers()),
    )
    .unwrap();
    let p = props.display().to_string();
    let (ua, ub, ut) = (
        format!("a={}", registries[0].ccompat_url()),
        format!("b={}", registries[1].ccompat_url()),
        registries[2].ccompat_url(),
    );
    let base = ["--source", &p, "--target", &p, "--topics", "events"];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--format", "json"]);
        preflight(&args)
    };
    let out = run(&[
        "--source-registry",
        &ua,
        "--source-registry",
        &ub,
        "--target-registry",
        &ut,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let found: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "registries")
        .collect();
    let errors: Vec<String> = found
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    eprintln!("{errors:#?}");
    assert_eq!(errors.len(), 2, "{found:#?}");
    for needle in [
        "conflict shared-value v1 (a, b)",
        "content-mismatch events-value v1 (a, target)",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{needle}: {errors:?}"
        );
    }
    assert!(
        found.iter().any(|f| f["severity"] == "info"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("3 source subject(s), 3 version(s)")),
        "{found:#?}"
    );
    // B alone into the target: nothing conflicts, users-value is simply not copied yet.
    let out = run(&["--source-registry", &ub, "--target-registry", &ut]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // JUnit carries a registries case.
    let mut args: Vec<&str> = base.to_vec();
    args.extend_from_slice(&["--source-registry", &ua, "--source-registry", &ub]);
    args.extend_from_slice(&["--format", "junit"]);
    let out = preflight(&args);
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("clusters: registries"), "{xml}");
    assert_eq!(out.status.code(), Some(1));
    drop(registries);
    cluster.shutdown().await.unwrap();
}
