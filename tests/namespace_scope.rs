//! `--namespace` scope on `cutover verify` from the teams' declarations: on two real clusters,
//! `orders.created` copied faithfully and `billing.invoices` not copied at all; verifying
//! everything fails, the `orders` namespace's slice passes, the `billing` namespace's fails,
//! and an unknown namespace is bad input (exit 2) before any cluster is contacted.

use reports::CutoverExitCode;

use std::process::{Command, Output};
use std::time::Duration;

use harness::{ClusterSpec, TopicSpec};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const RESOURCES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/declarations/tests/fixtures/ns4kafka"
);

fn verify(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("verify")
        .args(args)
        .output()
        .expect("run cutover verify")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn produce(bootstrap: &str, topic: &str, partition: i32, n: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for i in 0..n {
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(partition)
                    .key(&format!("k{i}"))
                    .payload(&format!("v{i}")),
                Duration::from_secs(30),
            )
            .await
            .expect("delivered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_verifies_only_the_topics_it_owns() {
    let (source_spec, target_spec) = (ClusterSpec::new("nssrc"), ClusterSpec::new("nstgt"));
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (
        source.expect("source starts"),
        target.expect("target starts"),
    );
    for cluster in [&source, &target] {
        let admin = cluster.admin().expect("admin");
        for t in [
            TopicSpec::new("orders.created", 2, 1),
            TopicSpec::new("billing.invoices", 1, 1),
        ] {
            admin.create_topic(&t).await.expect("topic");
        }
    }
    // The same records at the same offsets on both sides; invoices only on the source.
    for cluster in [&source, &target] {
        for p in 0..2 {
            produce(&cluster.bootstrap_servers(), "orders.created", p, 20).await;
        }
    }
    produce(&source.bootstrap_servers(), "billing.invoices", 0, 10).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bootstrap: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("bootstrap.servers={bootstrap}\n")).expect("write");
        path.display().to_string()
    };
    let sp = write("s.properties", source.bootstrap_servers());
    let tp = write("t.properties", target.bootstrap_servers());
    let base = ["--source", &sp, "--target", &tp];

    let all = verify(&[&base[..], &["--topics", "orders\\..*|billing\\..*"]].concat());
    assert_eq!(
        all.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&all)
    );

    let orders = verify(
        &[
            &base[..],
            &["--resources", RESOURCES, "--namespace", "orders"],
        ]
        .concat(),
    );
    assert_eq!(
        orders.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&orders)
    );
    // orders.created alone: its 2 × 20 records.
    assert!(
        text(&orders).contains("PASS: 1 topics, 40 source records"),
        "{}",
        text(&orders)
    );

    let billing = verify(
        &[
            &base[..],
            &["--resources", RESOURCES, "--namespace", "billing"],
        ]
        .concat(),
    );
    assert_eq!(
        billing.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&billing)
    );
    // billing.invoices alone: its 10 records, none on the target.
    assert!(
        text(&billing).contains("1 topics, 10 source records"),
        "{}",
        text(&billing)
    );

    let unknown = verify(
        &[
            &base[..],
            &["--resources", RESOURCES, "--namespace", "nosuch"],
        ]
        .concat(),
    );
    assert_eq!(unknown.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        text(&unknown).contains(
            "--namespace: namespace `nosuch` owns no topic or consumer group in the declarations"
        ),
        "{}",
        text(&unknown)
    );
}

/// `cutover offsets sync --namespace`: a namespace that owns nothing, or owns topics but no
/// consumer group, is bad input (exit 2) before the replicator config is even read.
#[test]
fn offsets_sync_refuses_a_namespace_without_groups_before_reading_anything() {
    let sync = |ns: &str| {
        Command::new(BIN)
            .args([
                "offsets",
                "sync",
                "--config",
                "/nonexistent/replicator.toml",
            ])
            .args(["--resources", RESOURCES, "--namespace", ns])
            .output()
            .expect("run cutover offsets sync")
    };
    let unknown = sync("nosuch");
    assert_eq!(unknown.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        text(&unknown).contains(
            "--namespace: namespace `nosuch` owns no topic or consumer group in the declarations"
        ),
        "{}",
        text(&unknown)
    );
    // orders owns `orders.` topics, and no group.
    let orders = sync("orders");
    assert_eq!(orders.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        text(&orders).contains("--namespace: namespaces orders own no consumer group"),
        "{}",
        text(&orders)
    );
    // --namespace is one way to select groups, not with another.
    let both = Command::new(BIN)
        .args([
            "offsets",
            "sync",
            "--config",
            "/nonexistent/replicator.toml",
        ])
        .args([
            "--resources",
            RESOURCES,
            "--namespace",
            "billing",
            "--all-groups",
        ])
        .output()
        .expect("run cutover offsets sync");
    assert_eq!(both.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        text(&both).contains("cannot be used with"),
        "{}",
        text(&both)
    );
}
