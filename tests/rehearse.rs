//! `cutover rehearse` against live SASL_SSL clusters with ACLs (started here, reached by the
//! CLI only through properties files, as a user's staging clusters would be): a read-only
//! rehearsal leaves both clusters' topic lists and end offsets unchanged and passes when the
//! copy is complete, fails with the exact missing count when it is not; a canary rehearsal
//! with the built-in replicator verifies its canaries and deletes them.

use reports::CutoverExitCode;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::{
    AclBinding, AclOperation, ClientProps, Cluster, ClusterSpec, PatternType, ResourceType,
    SecurityProtocol, TopicSpec,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const SECRET: &str = "Rehearse-Secret-5150";

fn secured(name: &str) -> ClusterSpec {
    let mut spec = ClusterSpec::new(name)
        .security(SecurityProtocol::SaslSsl)
        .user("rehearser", Some(SECRET));
    for op in [AclOperation::Read, AclOperation::Describe] {
        spec = spec.acl(AclBinding::allow(
            "User:rehearser",
            op,
            ResourceType::Topic,
            "payments",
            PatternType::Literal,
        ));
    }
    spec
}

async fn produce(props: &ClientProps, topic: &str, from: u32, to: u32) {
    let producer: FutureProducer = props
        .to_rdkafka()
        .unwrap()
        .set("acks", "all")
        .create()
        .unwrap();
    for i in from..to {
        let key = format!("k{i}");
        let value = format!("payment {i}");
        producer
            .send(
                FutureRecord::to(topic)
                    .partition((i % 3) as i32)
                    .key(&key)
                    .payload(&value),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }
}

/// Topic names (without cutover's readiness topic) and every partition's end offset.
fn state(props: &ClientProps) -> (Vec<String>, BTreeMap<String, i64>) {
    let consumer: BaseConsumer = props.to_rdkafka().unwrap().create().unwrap();
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let mut topics = Vec::new();
    let mut ends = BTreeMap::new();
    for t in md.topics() {
        if t.name().starts_with("__") {
            continue;
        }
        topics.push(t.name().to_string());
        for p in t.partitions() {
            let (_, hi) = consumer
                .fetch_watermarks(t.name(), p.id(), Duration::from_secs(10))
                .unwrap();
            ends.insert(format!("{}-{}", t.name(), p.id()), hi);
        }
    }
    topics.sort();
    (topics, ends)
}

fn write_props(path: &Path, props: &ClientProps) {
    std::fs::write(path, scenarios::system::properties_text(props)).unwrap();
}

fn rehearse(
    dir: &Path,
    source: &Path,
    target: &Path,
    config: &str,
) -> (i32, serde_json::Value, String) {
    let file = dir.join("rehearsal.toml");
    std::fs::write(&file, config).unwrap();
    let reports = dir.join(format!("report-{}", config.len()));
    let out = Command::new(BIN)
        .arg("rehearse")
        .arg("--source")
        .arg(source)
        .arg("--target")
        .arg(target)
        .arg("--config")
        .arg(&file)
        .arg("--report-dir")
        .arg(&reports)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(!text.contains(SECRET), "a password reached the output");
    let report = std::fs::read_to_string(reports.join("report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {text}"));
    for entry in std::fs::read_dir(&reports).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "secret in {}",
            path.display()
        );
    }
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&report).unwrap(),
        text,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsals_on_secured_live_clusters() {
    let (source_spec, target_spec) = (secured("rh-source"), secured("rh-target"));
    let (s, t) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target): (Box<dyn Cluster>, Box<dyn Cluster>) = (s.unwrap(), t.unwrap());
    for c in [&source, &target] {
        c.admin()
            .unwrap()
            .create_topic(&TopicSpec::new("payments", 3, 1))
            .await
            .unwrap();
    }
    // The "replication" already copied everything: the same records on both sides.
    produce(&source.client_props(), "payments", 0, 600).await;
    produce(&target.client_props(), "payments", 0, 600).await;

    let dir = tempfile::tempdir().unwrap();
    let (sp, tp) = (
        dir.path().join("source.properties"),
        dir.path().join("target.properties"),
    );
    // The read-only rehearsal runs as a principal that may only read `payments`.
    write_props(&sp, &source.client_props_as("rehearser").unwrap());
    write_props(&tp, &target.client_props_as("rehearser").unwrap());

    let before = (state(&source.client_props()), state(&target.client_props()));
    let read_only = "[rehearsal]\nname = \"read-only\"\ntopics = \"payments\"\nwindow_records = 100\nlag_bound_secs = 10\n";
    let (code, report, out) = rehearse(dir.path(), &sp, &tp, read_only);
    assert_eq!(code, CutoverExitCode::OK, "{out}");
    assert_eq!(report["kind"], "rehearsal");
    let topic = &report["rehearsal"]["topics"][0];
    assert_eq!(topic["records"], 300, "{report:#}");
    assert_eq!(topic["missing"], 0);
    assert!(topic["lag_secs"].as_f64().is_some());
    assert_eq!(report["rehearsal"]["allow_writes"], false);
    let after = (state(&source.client_props()), state(&target.client_props()));
    assert_eq!(before, after, "a read-only rehearsal changed a cluster");

    // The copy falls behind by 30 records: reported exactly, exit 1.
    produce(&source.client_props(), "payments", 600, 630).await;
    let lagging = read_only.replace("lag_bound_secs = 10", "lag_bound_secs = 3");
    let (code, report, out) = rehearse(dir.path(), &sp, &tp, &lagging);
    assert_eq!(code, CutoverExitCode::FAILED, "{out}");
    assert_eq!(
        report["rehearsal"]["topics"][0]["missing"], 30,
        "{report:#}"
    );
    assert!(report["rehearsal"]["topics"][0]["lag_secs"].is_null());

    // A principal without the ACL: exit 2, the missing ACL in words.
    let mut nobody = source.client_props_as("rehearser").unwrap();
    nobody.set(
        "sasl.jaas.config",
        harness::security::jaas_config(
            harness::SaslMechanism::ScramSha512,
            "rehearser",
            "not-the-password",
        ),
    );
    let bad = dir.path().join("bad.properties");
    write_props(&bad, &nobody);
    let out = Command::new(BIN)
        .args(["rehearse", "--connect-timeout-secs", "10", "--source"])
        .arg(&bad)
        .arg("--target")
        .arg(&tp)
        .arg("--config")
        .arg(dir.path().join("rehearsal.toml"))
        .arg("--report-dir")
        .arg(dir.path().join("bad-report"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR), "{text}");
    assert!(
        text.contains("authentication failed") && text.contains("sasl.jaas.config"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");

    // Canaries, copied by the built-in replicator cutover starts, as the super user.
    write_props(&sp, &source.client_props());
    write_props(&tp, &target.client_props());
    let canary = "[rehearsal]\nname = \"canary\"\nallow_writes = true\n\
                  [canary]\nduration_secs = 8\nrecords_per_sec = 300\ndrain_timeout_secs = 60\n\
                  [system]\nkind = \"builtin\"\n";
    let (code, report, out) = rehearse(dir.path(), &sp, &tp, canary);
    assert_eq!(code, CutoverExitCode::OK, "{out}");
    let reh = &report["rehearsal"];
    assert_eq!(reh["cleaned_up"], true, "{reh:#}");
    let canaries = reh["canary_topics"].as_array().unwrap();
    assert!(!canaries.is_empty());
    assert!(canaries[0]
        .as_str()
        .unwrap()
        .starts_with("cutover.rehearsal."));
    assert!(
        report["verdict"]["tally"]["matched"].as_u64().unwrap() > 500,
        "{report:#}"
    );
    assert!(
        report["verdict"]["tally"]["source_aborted"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(report["drain"]["downtime_secs"].as_f64().is_some());
    for c in [&source, &target] {
        let (topics, _) = state(&c.client_props());
        assert!(
            topics.iter().all(|t| !t.starts_with("cutover.rehearsal.")),
            "canary leftovers on {}: {topics:?}",
            c.name()
        );
        assert!(
            topics.contains(&"payments".to_string()),
            "a real topic went missing"
        );
    }
    let _ = tokio::join!(source.shutdown(), target.shutdown());
}

/// An exactly-once copy puts a transaction marker after every commit, and aborted retries
/// leave aborted records and their markers too: the target's offsets run several times faster
/// than the source's. The read-only window check reads back by records, not offsets (before,
/// it read back twice the window in offsets and reported most of the window missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_window_finds_records_behind_markers_and_aborted_retries() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let (source_spec, target_spec) = (
        ClusterSpec::new("rhm-source"),
        ClusterSpec::new("rhm-target"),
    );
    let (s, t) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target): (Box<dyn Cluster>, Box<dyn Cluster>) = (s.unwrap(), t.unwrap());
    for c in [&source, &target] {
        c.admin()
            .unwrap()
            .create_topic(&TopicSpec::new("ledger", 1, 1))
            .await
            .unwrap();
    }
    const N: u32 = 400;
    let (sp, tp) = (source.client_props(), target.client_props());
    tokio::task::spawn_blocking(move || {
        let plain: BaseProducer = sp.to_rdkafka().unwrap().create().unwrap();
        for i in 0..N {
            let (k, v) = (format!("k{i}"), format!("entry {i}"));
            plain
                .send(BaseRecord::to("ledger").key(&k).payload(&v))
                .unwrap();
        }
        plain.flush(Duration::from_secs(30)).unwrap();
        // The target: every record in a transaction of its own, after an aborted try.
        let txn: BaseProducer = tp
            .to_rdkafka()
            .unwrap()
            .set("transactional.id", "rhm-copier")
            .create()
            .unwrap();
        txn.init_transactions(Duration::from_secs(30)).unwrap();
        for i in 0..N {
            let (k, v) = (format!("k{i}"), format!("entry {i}"));
            txn.begin_transaction().unwrap();
            for _ in 0..3 {
                txn.send(BaseRecord::to("ledger").key(&k).payload("aborted try"))
                    .unwrap();
            }
            txn.flush(Duration::from_secs(30)).unwrap();
            txn.abort_transaction(Duration::from_secs(30)).unwrap();
            txn.begin_transaction().unwrap();
            txn.send(BaseRecord::to("ledger").key(&k).payload(&v))
                .unwrap();
            txn.commit_transaction(Duration::from_secs(30)).unwrap();
        }
    })
    .await
    .unwrap();
    let (_, target_end) = state(&target.client_props());
    assert!(
        target_end["ledger-0"] >= 6 * N as i64,
        "the target's offsets run ahead: {target_end:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (spf, tpf) = (
        dir.path().join("source.properties"),
        dir.path().join("target.properties"),
    );
    write_props(&spf, &source.client_props());
    write_props(&tpf, &target.client_props());
    let config = "[rehearsal]\nname = \"markers\"\ntopics = \"ledger\"\nwindow_records = 200\nlag_bound_secs = 5\n";
    let (code, report, out) = rehearse(dir.path(), &spf, &tpf, config);
    assert_eq!(code, CutoverExitCode::OK, "{out}\n{report:#}");
    let topic = &report["rehearsal"]["topics"][0];
    assert_eq!(topic["records"], 200, "{report:#}");
    assert_eq!(topic["missing"], 0, "{report:#}");
    assert_eq!(topic["incomplete"], false, "{report:#}");
}

/// Constant payloads are common on real topics (heartbeats, status pings). A copy that lost
/// the latest heartbeat still holds older identical ones near its end: the window check must
/// not let those stand for the missing recent one (before, it matched by fingerprint alone and
/// passed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_identical_record_does_not_stand_for_a_missing_recent_one() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let (source_spec, target_spec) = (
        ClusterSpec::new("rhb-source"),
        ClusterSpec::new("rhb-target"),
    );
    let (s, t) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target): (Box<dyn Cluster>, Box<dyn Cluster>) = (s.unwrap(), t.unwrap());
    for c in [&source, &target] {
        c.admin()
            .unwrap()
            .create_topic(&TopicSpec::new("beats", 1, 1))
            .await
            .unwrap();
    }
    let (sp, tp) = (source.client_props(), target.client_props());
    // One heartbeat a second for 10 s on the source; the copy (timestamps kept) lost the last.
    let base = 1_700_000_000_000_i64;
    tokio::task::spawn_blocking(move || {
        for (props, n) in [(sp, 10), (tp, 9)] {
            let p: BaseProducer = props.to_rdkafka().unwrap().create().unwrap();
            for i in 0..n {
                p.send(
                    BaseRecord::to("beats")
                        .key("hb")
                        .payload("alive")
                        .timestamp(base + i * 1000),
                )
                .unwrap();
            }
            p.flush(Duration::from_secs(30)).unwrap();
        }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (spf, tpf) = (
        dir.path().join("source.properties"),
        dir.path().join("target.properties"),
    );
    write_props(&spf, &source.client_props());
    write_props(&tpf, &target.client_props());
    let config = "[rehearsal]\nname = \"beats\"\ntopics = \"beats\"\nwindow_records = 5\nlag_bound_secs = 3\n";
    let (code, report, out) = rehearse(dir.path(), &spf, &tpf, config);
    assert_eq!(code, CutoverExitCode::FAILED, "{out}\n{report:#}");
    let topic = &report["rehearsal"]["topics"][0];
    assert_eq!(topic["records"], 5, "{report:#}");
    assert_eq!(topic["missing"], 1, "{report:#}");
    assert_eq!(
        report["failures"][0]["class"], "window-missing",
        "{report:#}"
    );
    let _ = tokio::join!(source.shutdown(), target.shutdown());
}

/// A canary run with MirrorMaker 2 as the system: MirrorMaker 2 creates its own topics on both
/// clusters (Connect's `mm2-configs/offsets/status.<alias>.internal`, `heartbeats`,
/// `<alias>.checkpoints.internal`, `mm2-offset-syncs.<alias>.internal`). The report may say
/// "cleaned up" only when none of them is left, while a topic with an internal-looking name
/// that existed before the rehearsal (a user's own Connect cluster) is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrormaker2_canary_removes_the_topics_mirrormaker2_created() {
    let (source_spec, target_spec) = (
        ClusterSpec::new("rhmm-source"),
        ClusterSpec::new("rhmm-target"),
    );
    let (s, t) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target): (Box<dyn Cluster>, Box<dyn Cluster>) = (s.unwrap(), t.unwrap());
    for c in [&source, &target] {
        let admin = c.admin().unwrap();
        for topic in ["payments", "connect-offsets"] {
            admin
                .create_topic(&TopicSpec::new(topic, 1, 1))
                .await
                .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (sp, tp) = (
        dir.path().join("s.properties"),
        dir.path().join("t.properties"),
    );
    write_props(&sp, &source.client_props());
    write_props(&tp, &target.client_props());
    let before = [
        state(&source.client_props()).0,
        state(&target.client_props()).0,
    ];
    let canary = "[rehearsal]\nname = \"mm2-canary\"\nallow_writes = true\n\
                  [canary]\nduration_secs = 8\nrecords_per_sec = 200\ndrain_timeout_secs = 120\n\
                  transactions = false\n\
                  [system]\nkind = \"mirrormaker2\"\ntasks_max = 1\n";
    let (code, report, out) = rehearse(dir.path(), &sp, &tp, canary);
    assert_eq!(code, 0, "{out}");
    let reh = &report["rehearsal"];
    assert_eq!(reh["cleaned_up"], true, "{reh:#}");
    assert!(
        report["verdict"]["tally"]["matched"].as_u64().unwrap() > 500,
        "{report:#}"
    );
    for (c, before) in [&source, &target].into_iter().zip(before) {
        let (after, _) = state(&c.client_props());
        assert_eq!(
            after,
            before,
            "{}: the rehearsal left (or removed) topics",
            c.name()
        );
    }
    let _ = tokio::join!(source.shutdown(), target.shutdown());
}
