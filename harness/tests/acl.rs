//! ACLs on a real broker through librdkafka's C admin API: created ACLs are described back
//! exactly, a filter deletes only what it names, and a cluster without an authorizer answers
//! with the typed "security disabled" outcome.

use std::collections::BTreeSet;

use harness::{
    AclBinding, AclError, AclFilter, AclOperation, ClusterSpec, PatternType, ResourceType,
};

fn acls() -> Vec<AclBinding> {
    vec![
        AclBinding::allow(
            "User:replicator",
            AclOperation::Write,
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
        ),
        AclBinding::allow(
            "User:replicator",
            AclOperation::Read,
            ResourceType::Group,
            "mig-",
            PatternType::Prefixed,
        ),
        AclBinding::deny(
            "User:replicator",
            AclOperation::Delete,
            ResourceType::Topic,
            "*",
            PatternType::Literal,
        ),
        AclBinding::allow(
            "User:replicator",
            AclOperation::IdempotentWrite,
            ResourceType::Cluster,
            "kafka-cluster",
            PatternType::Literal,
        ),
        AclBinding::allow(
            "User:auditor",
            AclOperation::Describe,
            ResourceType::TransactionalId,
            "cutover-",
            PatternType::Prefixed,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_round_trip_on_a_cluster_with_standard_authorizer() {
    let spec = ClusterSpec::new("acl")
        .broker_config(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        // PLAINTEXT clients (and the brokers themselves) are ANONYMOUS.
        .broker_config("super.users", "User:ANONYMOUS");
    let cluster = harness::start(&spec).await.expect("cluster starts");
    let admin = cluster.admin().expect("admin");

    assert!(
        admin
            .describe_acls(&AclFilter::any())
            .await
            .unwrap()
            .is_empty(),
        "a fresh cluster has no ACLs"
    );
    let wanted = acls();
    admin.create_acls(&wanted).await.expect("ACLs created");

    // ACLs are applied through the metadata log: allow a moment until they are visible.
    let expected: BTreeSet<AclBinding> = wanted.iter().cloned().collect();
    let mut described = BTreeSet::new();
    for _ in 0..50 {
        described = admin
            .describe_acls(&AclFilter::any())
            .await
            .expect("described")
            .into_iter()
            .collect();
        if described == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(described, expected);

    let replicator_topics = admin
        .describe_acls(
            &AclFilter::any()
                .principal("User:replicator")
                .resource_type(ResourceType::Topic),
        )
        .await
        .unwrap();
    assert_eq!(replicator_topics, {
        let mut v = vec![wanted[0].clone(), wanted[2].clone()];
        v.sort();
        v
    });

    let deleted = admin
        .delete_acls(&AclFilter::any().principal("User:replicator"))
        .await
        .expect("deleted");
    assert_eq!(deleted.len(), 4, "{deleted:?}");
    assert!(deleted.iter().all(|a| a.principal == "User:replicator"));
    let mut left = Vec::new();
    for _ in 0..50 {
        left = admin.describe_acls(&AclFilter::any()).await.unwrap();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, vec![wanted[4].clone()]);

    // An invalid ACL is refused with the broker's (or librdkafka's) reason, not a panic.
    let bad = AclBinding::allow(
        "alice-without-type",
        AclOperation::Read,
        ResourceType::Topic,
        "orders",
        PatternType::Literal,
    );
    let err = admin.create_acls(&[bad]).await.unwrap_err();
    assert!(matches!(err, AclError::Harness(_)), "{err:?}");
    assert!(err.to_string().contains("alice-without-type"), "{err}");

    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_authorizer_says_security_disabled() {
    let cluster = harness::start(&ClusterSpec::new("noauth"))
        .await
        .expect("cluster starts");
    let admin = cluster.admin().expect("admin");
    let err = admin.describe_acls(&AclFilter::any()).await.unwrap_err();
    assert!(
        matches!(err, AclError::SecurityDisabled { .. }),
        "expected security disabled, got {err:?}"
    );
    assert!(err.to_string().contains("no authorizer"), "{err}");
    let err = admin.create_acls(&acls()[..1]).await.unwrap_err();
    assert!(
        matches!(err, AclError::SecurityDisabled { .. }),
        "expected security disabled, got {err:?}"
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_denied_describe_on_the_cluster_is_told_so() {
    // Nobody is a super user; the brokers (ANONYMOUS, like the test's client) work because
    // resources without ACLs are open. Then ANONYMOUS is denied Describe on the cluster.
    let spec = ClusterSpec::new("acldeny")
        .broker_config(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        .broker_config("super.users", "User:nobody")
        .broker_config("allow.everyone.if.no.acl.found", "true");
    let cluster = harness::start(&spec).await.expect("cluster starts");
    let admin = cluster.admin().expect("admin");
    admin
        .create_acls(&[AclBinding::deny(
            "User:ANONYMOUS",
            AclOperation::Describe,
            ResourceType::Cluster,
            "kafka-cluster",
            PatternType::Literal,
        )])
        .await
        .expect("deny ACL created");
    let mut outcome = None;
    for _ in 0..50 {
        match admin.describe_acls(&AclFilter::any()).await {
            Err(e @ AclError::NotAuthorized { .. }) => {
                outcome = Some(e);
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let err = outcome.expect("describing ACLs became not authorized");
    assert!(err.to_string().contains("needs Describe"), "{err}");
    cluster.shutdown().await.unwrap();
}
