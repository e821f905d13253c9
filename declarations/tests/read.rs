//! The example declarations under `tests/fixtures/` (three ns4kafka namespaces, a kafkactl
//! file without namespaces, a Strimzi set) read into typed resources with their lines.

use std::path::{Path, PathBuf};

use declarations::*;

fn fixtures(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[test]
fn an_ns4kafka_directory_reads_every_kind_with_file_and_line() {
    let d = load(&[fixtures("ns4kafka")], None).expect("fixtures read");
    assert_eq!(d.files.len(), 5, "{:?}", d.files);
    let names: Vec<&str> = d.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["orders", "billing", "analytics"]);
    let billing = d.namespace("billing").expect("billing declared");
    assert_eq!(billing.kafka_user, "svc-billing");
    assert!(billing.transactions_enabled);
    assert!(billing.at.file.ends_with("namespaces.yml"));
    assert_eq!(billing.at.line, 13);
    assert_eq!(billing.at.line_of("spec.kafkaUser"), 19);
    assert_eq!(
        d.namespace("orders").map(|n| n.connect_clusters.clone()),
        Some(vec!["connect-local".to_string()])
    );

    let orders = d
        .topics
        .iter()
        .find(|t| t.name == "orders.created")
        .expect("topic");
    assert_eq!((orders.partitions, orders.replication_factor), (3, 1));
    // YAML numbers are kept as the broker writes them.
    assert_eq!(orders.configs["retention.ms"], "604800000");
    assert_eq!(orders.configs["min.insync.replicas"], "1");
    assert!(orders.at.file.ends_with("orders.yaml"));
    assert_eq!(orders.at.line, 2);
    assert_eq!(orders.at.line_of("spec.partitions"), 9);
    assert_eq!(orders.at.line_of("spec.configs.\"retention.ms\""), 13);

    let schema = d
        .schemas
        .iter()
        .find(|s| s.subject == "orders.created-value")
        .expect("schema");
    assert!(
        schema.schema.contains("\"Order\""),
        "schemaFile read beside the file"
    );
    assert_eq!(schema.schema_file.as_deref(), Some("schemas/order.avsc"));
    assert_eq!(schema.schema_type, SchemaType::Avro);
    let inline = d
        .schemas
        .iter()
        .find(|s| s.subject == "billing.invoices-value")
        .expect("inline schema");
    assert!(inline.schema.contains("Invoice"));

    let connector = &d.connectors[0];
    assert_eq!(connector.connect_cluster, "connect-local");
    assert_eq!(connector.config["tasks.max"], "1");

    assert_eq!(d.acls.len(), 8);
    let grant = d
        .acls
        .iter()
        .find(|a| a.name == "orders-to-billing")
        .expect("grant");
    assert_eq!(
        (
            grant.resource_type,
            grant.pattern,
            grant.permission,
            grant.granted_to.as_str(),
            grant.namespace.as_str()
        ),
        (
            ResourceType::Topic,
            PatternType::Literal,
            Permission::Read,
            "billing",
            "orders"
        )
    );
    assert_eq!(grant.at.line_of("spec.grantedTo"), 47);
    assert_eq!(d.streams.len(), 1);
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].kind, "RoleBinding");
    // Every topic, connector and subject is owned by its namespace as ns4kafka requires.
    assert_eq!(d.warnings(), Vec::<String>::new());
}

#[test]
fn ns4kafka_ownership_is_by_prefix_or_literal_and_subjects_through_their_topic() {
    let d = load(&[fixtures("ns4kafka")], None).expect("fixtures read");
    assert_eq!(
        ownership::owners(&d, ResourceType::Topic, "orders.created"),
        ["orders"]
    );
    assert_eq!(
        ownership::owners(&d, ResourceType::Topic, "orders.anything"),
        ["orders"]
    );
    // `orders_created` is not `orders.` by prefix: no owner (it would collide with
    // orders.created on the broker, a separate rule).
    assert!(ownership::owners(&d, ResourceType::Topic, "orders_created").is_empty());
    assert!(ownership::owns_subject(
        &d,
        "billing",
        "billing.invoices-value"
    ));
    assert!(!ownership::owns_subject(
        &d,
        "analytics",
        "billing.invoices-value"
    ));
    // A READ grant is not ownership.
    assert!(!ownership::is_owner(
        &d,
        "billing",
        ResourceType::Topic,
        "orders.created"
    ));
}

#[test]
fn a_default_namespace_fills_documents_that_leave_it_out_as_kafkactl_does() {
    let d = load(&[fixtures("kafkactl")], Some("analytics")).expect("read with a default");
    assert_eq!(d.topics[0].namespace, "analytics");
    assert_eq!(d.topics[0].configs["retention.ms"], "2592000000");
    assert_eq!(d.streams[0].namespace, "analytics");
    // A namespace written wins over the default.
    let d = load(&[fixtures("ns4kafka/orders.yaml")], Some("analytics")).expect("read");
    assert_eq!(d.topics[0].namespace, "orders");
    // Without a default, the same file is an error at the metadata's line.
    let err = load(&[fixtures("kafkactl")], None).expect_err("no namespace");
    let l = err.located().expect("located");
    assert_eq!(l.line, 5, "inside metadata");
    assert_eq!(l.field, "metadata.namespace");
}

#[test]
fn strimzi_topics_and_users_read_in_both_api_versions() {
    let d = load(&[fixtures("strimzi")], None).expect("strimzi fixtures read");
    let t = &d.strimzi_topics[0];
    assert_eq!(t.name, "payments-authorized");
    assert_eq!(t.topic_name, "payments.authorized", "spec.topicName wins");
    assert_eq!(t.cluster.as_deref(), Some("my-cluster"));
    assert_eq!((t.partitions, t.replicas), (Some(3), Some(1)));
    assert_eq!(t.config["cleanup.policy"], "compact,delete");
    assert_eq!(t.config["retention.ms"], "86400000");
    let t = &d.strimzi_topics[1];
    assert_eq!(
        t.topic_name, "ledger.entries",
        "topicName defaults to metadata.name"
    );
    assert_eq!(t.at.line, 17);
    assert_eq!(
        d.skipped
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>(),
        ["Kafka"]
    );

    let p = &d.strimzi_users[0];
    assert_eq!(p.principal(), "User:CN=payments-app");
    assert_eq!(p.acls.len(), 3);
    assert_eq!(p.acls[0].pattern, PatternType::Prefixed);
    assert!(p.acls[0].covers(StrimziResourceType::Topic, "payments.authorized"));
    assert!(p.acls[0].allows_any(&[Operation::Write]));
    assert_eq!(
        p.acls[1].pattern,
        PatternType::Literal,
        "patternType defaults to literal"
    );
    assert_eq!(p.at.line_of("spec.authorization.acls[1]"), 19);
    let l = &d.strimzi_users[1];
    assert_eq!(l.principal(), "User:ledger-app");
    assert_eq!(
        l.acls[0].operations,
        [Operation::Read],
        "the deprecated `operation` is read"
    );
    assert!(
        l.acls[1].allows_any(&[Operation::Write]),
        "All allows Write"
    );
    assert_eq!(l.acls[2].resource_type, StrimziResourceType::Cluster);
    assert_eq!(l.acls[2].name, None);
}
