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
    assert_eq!(
        common::read_all(&plain, "orders", "read_committed").len(),
        20
    );

    // alice authenticates but has no ACL: the topic is invisible to her.
    let alice = cluster.client_props_as("alice").unwrap();
    let alice_admin = harness::Admin::new("secured", &alice)
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(10));
    let err = alice_admin.describe_topic("orders").await;
    assert!(err.is_err(), "alice must not describe orders: {err:?}");
    cluster.shutdown().await.unwrap();
}

/// Connects to `cluster` as an external cluster with `props`; returns the error text and how
/// long it took.
async fn connect_error(props: &harness::ClientProps, timeout_secs: u64) -> (String, f64) {
    let mut spec = ClusterSpec::new("staging").backend(harness::BackendKind::External);
    spec.connect_timeout_secs = timeout_secs;
    spec.client_properties = props.iter().map(|(k, v)| (k.into(), v.into())).collect();
    let started = std::time::Instant::now();
    let err = match harness::start(&spec).await {
        Ok(_) => panic!("connecting with {props:?} must fail"),
        Err(e) => e.to_string(),
    };
    (err, started.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_security_mistake_is_reported_in_words_with_the_property_to_fix() {
    const SECRET: &str = "Known-Secret-4242";
    let spec = ClusterSpec::new("secured")
        .security(SecurityProtocol::SaslSsl)
        .user("alice", Some(SECRET));
    let cluster = harness::start(&spec).await.expect("secured cluster starts");
    cluster
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("orders", 1, 1))
        .await
        .unwrap();
    let alice = cluster.client_props_as("alice").unwrap();

    // Right credentials: connects.
    let mut ok = ClusterSpec::new("staging").backend(harness::BackendKind::External);
    ok.client_properties = alice.iter().map(|(k, v)| (k.into(), v.into())).collect();
    let external = harness::external::ExternalCluster::connect(ok)
        .await
        .expect("alice connects");

    // A missing ACL: alice may not describe `orders`.
    let err = external
        .check_topics(&["orders".to_string()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("principal `alice` is not allowed to Describe topic `orders`"),
        "{err}"
    );
    assert!(err.contains("--allow-principal User:alice"), "{err}");

    let mut cases: Vec<(&str, harness::ClientProps, &[&str])> = Vec::new();
    let mut wrong_password = alice.clone();
    wrong_password.set(
        "sasl.jaas.config",
        harness::security::jaas_config(SaslMechanism::ScramSha512, "alice", "Wrong-Password-99"),
    );
    cases.push((
        "wrong password",
        wrong_password,
        &["authentication failed", "user `alice`", "sasl.jaas.config"],
    ));
    let mut plain_wrong = alice.clone();
    plain_wrong.set("sasl.mechanism", "PLAIN");
    plain_wrong.set(
        "sasl.jaas.config",
        harness::security::jaas_config(SaslMechanism::Plain, "alice", "Wrong-Password-99"),
    );
    cases.push((
        "wrong PLAIN password",
        plain_wrong,
        &["authentication failed", "PLAIN", "sasl.jaas.config"],
    ));
    let mut unknown_mechanism = alice.clone();
    unknown_mechanism.set("sasl.mechanism", "SCRAM-SHA-256");
    cases.push((
        "mechanism not enabled",
        unknown_mechanism,
        &["SCRAM-SHA-256", "sasl.mechanism"],
    ));
    let mut bogus_mechanism = alice.clone();
    bogus_mechanism.set("sasl.mechanism", "FOO-BAR");
    cases.push((
        "mechanism unknown",
        bogus_mechanism,
        &["FOO-BAR", "sasl.mechanism"],
    ));
    let other_ca = tempfile::tempdir().unwrap();
    let other = harness::Security::generate(
        SecurityProtocol::Ssl,
        SaslMechanism::Plain,
        &[],
        other_ca.path(),
    )
    .unwrap()
    .unwrap();
    let mut untrusted = alice.clone();
    untrusted.set(
        "ssl.truststore.location",
        other.ca_file.display().to_string(),
    );
    cases.push((
        "untrusted certificate",
        untrusted,
        &["not trusted", "ssl.truststore.location"],
    ));
    let mut plaintext = alice.clone();
    plaintext.set("security.protocol", "PLAINTEXT");
    for (what, props, needles) in cases {
        let (err, secs) = connect_error(&props, 30).await;
        eprintln!("{what}: {secs:.1} s: {err}");
        for needle in needles {
            assert!(
                err.contains(needle),
                "{what}: `{needle}` missing from: {err}"
            );
        }
        assert!(
            !err.contains(SECRET) && !err.contains("Wrong-Password-99"),
            "{what}: a secret leaked: {err}"
        );
        assert!(secs < 30.0, "{what}: took {secs:.1} s");
    }

    // PLAINTEXT against the TLS listener: librdkafka only retries; reported at the deadline.
    let (err, secs) = connect_error(&plaintext, 4).await;
    eprintln!("plaintext to a TLS listener: {secs:.1} s: {err}");
    assert!(err.contains("`security.protocol` is `PLAINTEXT`"), "{err}");
    assert!(err.contains("accepts TCP connections"), "{err}");
    assert!(secs < 8.0, "took {secs:.1} s");

    // Unreachable bootstrap: reported when the (short) deadline passes, not later.
    let mut unreachable = alice.clone();
    unreachable.set("bootstrap.servers", "127.0.0.1:1");
    let (err, secs) = connect_error(&unreachable, 3).await;
    eprintln!("unreachable: {secs:.1} s: {err}");
    assert!(
        err.contains("no broker answered at 127.0.0.1:1 within 3 s"),
        "{err}"
    );
    assert!(err.contains("bootstrap.servers"), "{err}");
    assert!(secs < 6.0, "took {secs:.1} s");
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxied_sasl_ssl_cluster_serves_clients_through_its_proxy_and_directly() {
    // The direct listener of a proxied cluster carries the client listener's security (TLS,
    // both SASL mechanisms, ACLs): the system under test goes through the proxy, cutover's
    // own clients around it, both authenticated.
    let spec = ClusterSpec::new("secured-proxied")
        .security(SecurityProtocol::SaslSsl)
        .user("alice", Some("alice-Secret-1"))
        .proxied(true);
    let cluster = harness::start(&spec)
        .await
        .expect("proxied secured cluster starts");
    let proxy = cluster.proxy(1).expect("a proxy");
    let direct = cluster.direct_client_props();
    assert_eq!(direct.get("security.protocol"), Some("SASL_SSL"));
    // The readiness check's clients (through the proxy) close first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while proxy.stats().open_connections > 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", proxy.stats());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let traffic = || proxy.stats();
    let quiet = traffic();
    cluster
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("orders", 2, 1))
        .await
        .unwrap();
    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    common::produce_all(&direct, "orders", &values).await;
    assert_eq!(
        traffic(),
        quiet,
        "the admin and direct clients crossed the proxy"
    );
    // PLAIN on the direct listener too.
    let mut plain = direct.clone();
    plain.set("sasl.mechanism", SaslMechanism::Plain.kafka_name());
    plain.set(
        "sasl.jaas.config",
        direct
            .get("sasl.jaas.config")
            .unwrap()
            .replace("scram.ScramLoginModule", "plain.PlainLoginModule"),
    );
    assert_eq!(
        common::read_all(&plain, "orders", "read_committed").len(),
        20
    );
    assert_eq!(traffic(), quiet);
    // Through the proxy: the same records, and the proxy counts them.
    let proxied = cluster.client_props();
    assert_eq!(
        common::read_all(&proxied, "orders", "read_committed").len(),
        20
    );
    assert!(traffic().bytes_to_client > quiet.bytes_to_client);
    // ACLs hold on both listeners: alice authenticates but sees nothing.
    let through_proxy = cluster.client_props_as("alice").unwrap();
    let mut around_it = through_proxy.clone();
    around_it.set("bootstrap.servers", cluster.direct_bootstrap_servers());
    for props in [through_proxy, around_it] {
        let alice = harness::Admin::new("secured-proxied", &props)
            .unwrap()
            .with_timeout(std::time::Duration::from_secs(10));
        let err = alice.describe_topic("orders").await;
        assert!(err.is_err(), "alice must not describe orders: {err:?}");
    }
    cluster.shutdown().await.unwrap();
}
