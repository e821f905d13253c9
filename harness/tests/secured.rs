//! Secured disposable clusters on real brokers: SASL_SSL with SCRAM-SHA-512 and PLAIN, TLS
//! with a per-run CA, ACLs enforced by StandardAuthorizer.

mod common;

use harness::{ClusterSpec, SaslMechanism, SecurityProtocol, TopicSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_cluster_serves_the_admin_over_both_mechanisms_and_enforces_acls() {
    let spec = ClusterSpec::new("secured")
        .security(SecurityProtocol::SaslSsl)
        .user("alice", Some("alice-Secret-1"));
    let cluster = harness::start(&spec).await.expect("secured cluster starts");
    let admin_props = cluster.client_props();
    assert_eq!(admin_props.get("security.protocol"), Some("SASL_SSL"));
    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("orders", 2, 1))
        .await
        .unwrap();
    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    common::produce_all(&admin_props, "orders", &values).await;
    let read = common::read_all(&admin_props, "orders", "read_committed");
    assert_eq!(read.len(), 20);

    // PLAIN works for the same user.
    let mut plain = admin_props.clone();
    plain.set("sasl.mechanism", SaslMechanism::Plain.kafka_name());
    plain.set(
        "sasl.jaas.config",
        admin_props
            .get("sasl.jaas.config")
            .unwrap()
            .replace("scram.ScramLoginModule", "plain.PlainLoginModule"),
    );
    assert_eq!(common::read_all(&plain, "orders", "read_committed").len(), 20);

    // alice authenticates but has no ACL: the topic is invisible to her.
    let alice = cluster.client_props_as("alice").unwrap();
    let alice_admin = harness::Admin::new("secured", &alice)
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(10));
    let err = alice_admin.describe_topic("orders").await;
    assert!(err.is_err(), "alice must not describe orders: {err:?}");
    cluster.shutdown().await.unwrap();
}
