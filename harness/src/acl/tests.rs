use super::*;
use AclOperation::*;
use PatternType::*;
use ResourceType::*;

const ALICE: &str = "User:alice";

fn allow(op: AclOperation, rt: ResourceType, name: &str, p: PatternType) -> AclBinding {
    AclBinding::allow(ALICE, op, rt, name, p)
}

fn deny(op: AclOperation, rt: ResourceType, name: &str, p: PatternType) -> AclBinding {
    AclBinding::deny(ALICE, op, rt, name, p)
}

#[test]
fn display_reads_like_kafka_acls_list() {
    let acl = allow(Read, Topic, "orders", Literal);
    assert_eq!(
        acl.to_string(),
        "User:alice has Allow permission for operations: Read from hosts: * on Topic:LITERAL:orders"
    );
    let acl = deny(DescribeConfigs, TransactionalId, "tx-", Prefixed);
    assert_eq!(
        acl.to_string(),
        "User:alice has Deny permission for operations: DescribeConfigs from hosts: * on TransactionalId:PREFIXED:tx-"
    );
}

#[test]
fn serde_uses_snake_case_and_defaults_the_host() {
    let acl = allow(IdempotentWrite, TransactionalId, "tx", Prefixed);
    let json = serde_json::to_value(&acl).unwrap();
    assert_eq!(json["resource_type"], "transactional_id");
    assert_eq!(json["operation"], "idempotent_write");
    assert_eq!(json["pattern"], "prefixed");
    assert_eq!(json["permission"], "allow");
    let back: AclBinding = serde_json::from_str(
        r#"{"resource_type":"group","name":"g","pattern":"literal","principal":"User:bob",
            "operation":"read","permission":"deny"}"#,
    )
    .unwrap();
    assert_eq!(back.host, "*");
    assert_eq!(back.resource_type, Group);
    // serde names and FromStr/as_str agree for every value.
    for op in AclOperation::VARIANTS {
        assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
        assert_eq!(op.as_str().parse::<AclOperation>().unwrap(), *op);
        assert_eq!(op.to_string().parse::<AclOperation>().unwrap(), *op);
    }
    for rt in ResourceType::VARIANTS {
        assert_eq!(serde_json::to_value(rt).unwrap(), rt.as_str());
        assert_eq!(rt.to_string().parse::<ResourceType>().unwrap(), *rt);
    }
}

#[test]
fn from_str_accepts_kafka_spellings_and_lists_valid_values() {
    assert_eq!(
        "CLUSTER_ACTION".parse::<AclOperation>().unwrap(),
        ClusterAction
    );
    assert_eq!(
        "DescribeConfigs".parse::<AclOperation>().unwrap(),
        DescribeConfigs
    );
    assert_eq!("PREFIXED".parse::<PatternType>().unwrap(), Prefixed);
    assert_eq!("Deny".parse::<Permission>().unwrap(), Permission::Deny);
    let err = "publish".parse::<AclOperation>().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("unknown ACL operation `publish`"), "{msg}");
    assert!(msg.contains("read, write, create"), "{msg}");
    let err = "queue".parse::<ResourceType>().unwrap_err();
    assert!(
        err.to_string()
            .ends_with("valid values: topic, group, cluster, transactional_id"),
        "{err}"
    );
}

/// One row: the ACLs, the question (operation on resource type:name) and the answer.
struct Case {
    what: &'static str,
    acls: Vec<AclBinding>,
    rt: ResourceType,
    name: &'static str,
    op: AclOperation,
    allowed: bool,
}

#[test]
fn permits_follows_standard_authorizer() {
    let cases = vec![
        Case {
            what: "no ACLs: nothing allowed",
            acls: vec![],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "literal exact match",
            acls: vec![allow(Write, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Write,
            allowed: true,
        },
        Case {
            what: "literal does not match another name",
            acls: vec![allow(Write, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders2",
            op: Write,
            allowed: false,
        },
        Case {
            what: "literal `*` matches every name",
            acls: vec![allow(Write, Topic, "*", Literal)],
            rt: Topic,
            name: "payments",
            op: Write,
            allowed: true,
        },
        Case {
            what: "prefixed matches names starting with it",
            acls: vec![allow(Read, Topic, "mig.", Prefixed)],
            rt: Topic,
            name: "mig.orders",
            op: Read,
            allowed: true,
        },
        Case {
            what: "prefixed does not match a shorter name",
            acls: vec![allow(Read, Topic, "mig.", Prefixed)],
            rt: Topic,
            name: "mig",
            op: Read,
            allowed: false,
        },
        Case {
            what: "prefixed `*` is no wildcard",
            acls: vec![allow(Read, Topic, "*", Prefixed)],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "resource type must match",
            acls: vec![allow(Read, Group, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "operation must match",
            acls: vec![allow(Read, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Write,
            allowed: false,
        },
        Case {
            what: "All allows every operation",
            acls: vec![allow(All, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: AlterConfigs,
            allowed: true,
        },
        Case {
            what: "Read implies Describe",
            acls: vec![allow(Read, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Describe,
            allowed: true,
        },
        Case {
            what: "Write implies Describe",
            acls: vec![allow(Write, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Describe,
            allowed: true,
        },
        Case {
            what: "Delete and Alter imply Describe",
            acls: vec![allow(Alter, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Describe,
            allowed: true,
        },
        Case {
            what: "Create does not imply Describe",
            acls: vec![allow(Create, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Describe,
            allowed: false,
        },
        Case {
            what: "AlterConfigs implies DescribeConfigs",
            acls: vec![allow(AlterConfigs, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: DescribeConfigs,
            allowed: true,
        },
        Case {
            what: "Describe does not imply Read",
            acls: vec![allow(Describe, Topic, "orders", Literal)],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "DENY wins over ALLOW",
            acls: vec![
                allow(All, Topic, "*", Literal),
                deny(Write, Topic, "orders", Literal),
            ],
            rt: Topic,
            name: "orders",
            op: Write,
            allowed: false,
        },
        Case {
            what: "a prefixed DENY wins over a literal ALLOW",
            acls: vec![
                allow(Read, Topic, "orders", Literal),
                deny(Read, Topic, "ord", Prefixed),
            ],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "DENY All denies Describe",
            acls: vec![
                allow(Describe, Topic, "orders", Literal),
                deny(All, Topic, "orders", Literal),
            ],
            rt: Topic,
            name: "orders",
            op: Describe,
            allowed: false,
        },
        Case {
            what: "a DENY of Read implies no DENY of Describe",
            acls: vec![
                allow(Describe, Topic, "orders", Literal),
                deny(Read, Topic, "orders", Literal),
            ],
            rt: Topic,
            name: "orders",
            op: Describe,
            allowed: true,
        },
        Case {
            what: "User:* matches every principal",
            acls: vec![AclBinding::allow(
                WILDCARD_PRINCIPAL,
                Read,
                Group,
                "g",
                Literal,
            )],
            rt: Group,
            name: "g",
            op: Read,
            allowed: true,
        },
        Case {
            what: "another principal's ACL does not count",
            acls: vec![AclBinding::allow(
                "User:bob", Read, Topic, "orders", Literal,
            )],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "a host-specific ACL does not count",
            acls: vec![AclBinding {
                host: "10.0.0.1".into(),
                ..allow(Read, Topic, "orders", Literal)
            }],
            rt: Topic,
            name: "orders",
            op: Read,
            allowed: false,
        },
        Case {
            what: "prefixed transactional id",
            acls: vec![allow(Write, TransactionalId, "cutover-", Prefixed)],
            rt: TransactionalId,
            name: "cutover-g-orders-0",
            op: Write,
            allowed: true,
        },
    ];
    for case in cases {
        let decision = permits(&case.acls, ALICE, case.rt, case.name, case.op);
        assert_eq!(
            decision.is_allowed(),
            case.allowed,
            "{}: {decision:?}",
            case.what
        );
    }
}

#[test]
fn decision_names_the_acl_that_decided() {
    let deny_acl = deny(Write, Topic, "orders", Literal);
    let acls = vec![allow(All, Topic, "*", Literal), deny_acl.clone()];
    assert_eq!(
        permits(&acls, ALICE, Topic, "orders", Write),
        Decision::Denied(deny_acl)
    );
    assert_eq!(
        permits(&acls, ALICE, Topic, "other", Write),
        Decision::Allowed(acls[0].clone())
    );
    assert_eq!(
        permits(&acls, "User:bob", Topic, "other", Write),
        Decision::NoMatchingAcl
    );
}

#[test]
fn filters_match_like_the_broker() {
    let acl = allow(Read, Topic, "orders", Literal);
    assert!(AclFilter::any().matches(&acl));
    assert!(AclFilter::any()
        .principal(ALICE)
        .resource_type(Topic)
        .matches(&acl));
    assert!(!AclFilter::any().principal("User:bob").matches(&acl));
    assert!(!AclFilter::any().resource_type(Group).matches(&acl));
    assert!(!AclFilter::any().name("payments").matches(&acl));
}

#[test]
fn c_enums_round_trip() {
    for op in AclOperation::VARIANTS {
        assert_eq!(operation_of(c_operation(Some(*op))), Some(*op));
    }
    for rt in ResourceType::VARIANTS {
        assert_eq!(resource_type_of(c_resource_type(Some(*rt))), Some(*rt));
    }
    for p in PatternType::VARIANTS {
        assert_eq!(pattern_of(c_pattern(Some(*p))), Some(*p));
    }
    for p in Permission::VARIANTS {
        assert_eq!(permission_of(c_permission(Some(*p))), Some(*p));
    }
}

#[test]
fn a_nul_byte_in_a_name_is_an_error_not_a_panic() {
    let filter = AclFilter::any().name("bad\0name");
    let err = c_binding(true, &filter).err().expect("rejected");
    assert!(err.message.contains("NUL"), "{}", err.message);
}
