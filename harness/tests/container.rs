//! The container backend on a real Docker engine. Skipped, saying why, where no engine answers.

mod common;

use std::process::Command;

use common::*;
use harness::{BackendKind, ClusterSpec, TopicSpec};

/// Containers of this test process and of one cluster (the tests of this file run in parallel,
/// each with its own cluster name).
fn our_containers(cluster: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!(
            "label={}={}",
            harness::container::OWNER_LABEL,
            std::process::id()
        ))
        .args(["--filter", &format!("label=dev.cutover.cluster={cluster}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_cluster_round_trips_survives_a_broker_kill_and_leaves_nothing() {
    if let Err(why) = harness::container::engine_available() {
        eprintln!("SKIPPED container backend test: no Docker engine ({why}); see `cutover doctor`");
        return;
    }
    let spec = ClusterSpec::new("ctr")
        .brokers(3)
        .backend(BackendKind::Container);
    let cluster = harness::start(&spec)
        .await
        .expect("container cluster starts");
    assert_eq!(our_containers("ctr").len(), 3, "one container per broker");
    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("c", 3, 3).config("min.insync.replicas", "2"))
        .await
        .unwrap();
    let vals: Vec<String> = (0..100).map(|i| format!("c-{i}")).collect();
    produce_all(&cluster.client_props(), "c", &vals).await;

    cluster.kill_broker(3).await.expect("kill");
    assert_eq!(our_containers("ctr").len(), 2);
    let more: Vec<String> = (100..150).map(|i| format!("c-{i}")).collect();
    produce_all(&cluster.client_props(), "c", &more).await;
    cluster.start_broker(3).await.expect("restart");
    assert_eq!(
        read_all(&cluster.client_props(), "c", "read_committed").len(),
        150
    );

    let dir = cluster.work_dir().unwrap();
    cluster.shutdown().await.unwrap();
    drop(cluster);
    assert!(our_containers("ctr").is_empty(), "containers removed");
    assert!(!dir.exists(), "temp dir removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxied_container_cluster_is_reached_through_its_proxy() {
    if let Err(why) = harness::container::engine_available() {
        eprintln!("SKIPPED proxied container test: no Docker engine ({why}); see `cutover doctor`");
        return;
    }
    let spec = ClusterSpec::new("ctrp")
        .backend(BackendKind::Container)
        .proxied(true);
    let cluster = harness::start(&spec)
        .await
        .expect("proxied container cluster starts");
    let proxy = cluster.proxy(1).expect("broker 1 has a proxy");
    assert_eq!(
        cluster.bootstrap_servers(),
        format!("127.0.0.1:{}", proxy.addr().port())
    );
    cluster
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("p", 1, 1))
        .await
        .unwrap();
    let vals: Vec<String> = (0..50).map(|i| format!("p-{i}")).collect();
    produce_all(&cluster.client_props(), "p", &vals).await;
    assert_eq!(
        read_all(&cluster.client_props(), "p", "read_committed").len(),
        50
    );
    assert!(proxy.stats().bytes_to_broker > 0 && proxy.stats().bytes_to_client > 0);
    let addr = proxy.addr();
    cluster.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_ssl_container_cluster_enforces_its_acls() {
    if let Err(why) = harness::container::engine_available() {
        eprintln!("SKIPPED secured container test: no Docker engine ({why}); see `cutover doctor`");
        return;
    }
    let spec = ClusterSpec::new("ctrs")
        .backend(BackendKind::Container)
        .security(harness::SecurityProtocol::SaslSsl)
        .user("alice", None)
        .acl(harness::AclBinding::allow(
            "User:alice",
            harness::AclOperation::Read,
            harness::ResourceType::Topic,
            "s",
            harness::PatternType::Literal,
        ))
        // The test reader's group (librdkafka looks its coordinator up even when assigned).
        .acl(harness::AclBinding::allow(
            "User:alice",
            harness::AclOperation::Read,
            harness::ResourceType::Group,
            "cutover-test-reader",
            harness::PatternType::Literal,
        ));
    let cluster = harness::start(&spec)
        .await
        .expect("secured container cluster starts");
    let admin = cluster.admin().unwrap();
    for topic in ["s", "hidden"] {
        admin
            .create_topic(&TopicSpec::new(topic, 1, 1))
            .await
            .unwrap();
    }
    let vals: Vec<String> = (0..30).map(|i| format!("s-{i}")).collect();
    produce_all(&cluster.client_props(), "s", &vals).await;
    let alice = cluster.client_props_as("alice").unwrap();
    assert_eq!(alice.get("security.protocol"), Some("SASL_SSL"));
    assert_eq!(read_all(&alice, "s", "read_committed").len(), 30);
    let alice_admin = harness::Admin::new("ctrs", &alice)
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(10));
    assert!(alice_admin.describe_topic("hidden").await.is_err());
    cluster.shutdown().await.unwrap();
    assert!(our_containers("ctrs").is_empty(), "containers removed");
}
