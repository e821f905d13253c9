//! Every malformed declaration is an error at its file and line, naming the field and what
//! was expected (`file:line: field `f`: expected …, found …`), the line echoed.

use std::path::{Path, PathBuf};

use declarations::{load, Declarations, DeclarationsError};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\nspec:\n  kafkaUser: u\n";

/// The headline of the error reading `text` as `bad.yml`, default namespace `team`.
fn error_with(text: &str, default_namespace: Option<&str>) -> String {
    let mut d = Declarations::default();
    let err = d
        .read_str(text, "bad.yml", Path::new("."), default_namespace)
        .expect_err("malformed input must fail");
    err.located().expect("a located error").headline()
}

fn error(text: &str) -> String {
    error_with(text, Some("team"))
}

/// A Namespace (6 lines), then a Topic whose spec starts at line 13.
fn topic(spec: &str) -> String {
    format!("{NS}---\napiVersion: v1\nkind: Topic\nmetadata:\n  name: t\nspec:\n{spec}")
}

fn acl(spec: &str) -> String {
    format!("apiVersion: v1\nkind: AccessControlEntry\nmetadata:\n  name: x\nspec:\n{spec}")
}

fn user(acls: &str) -> String {
    format!(
        "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata:\n  name: u\nspec:\n  authorization:\n    type: simple\n    acls:\n{acls}"
    )
}

#[test]
fn yaml_syntax_errors_point_at_the_scanner_position() {
    let e = error("apiVersion: v1\nkind: Topic\nmetadata: {name: t\n");
    assert!(e.starts_with("bad.yml:4: expected valid YAML: "), "{e}");
}

#[test]
fn a_document_that_is_not_a_resource() {
    assert_eq!(
        error("- a\n- b\n"),
        "bad.yml:1: expected a resource (a mapping with apiVersion and kind), found a list"
    );
    assert_eq!(
        error("kind: Topic\n"),
        "bad.yml:1: field `apiVersion`: expected a string, found nothing"
    );
}

#[test]
fn unknown_kinds_and_api_versions() {
    assert_eq!(
        error("apiVersion: v1\nkind: Topics\n"),
        "bad.yml:2: field `kind`: expected an ns4kafka resource (apiVersion v1: Namespace, Topic, Connector, Schema, AccessControlEntry, KafkaStream) or a Strimzi KafkaTopic or KafkaUser (kafka.strimzi.io/v1, kafka.strimzi.io/v1beta2), found apiVersion `v1` kind `Topics`"
    );
    assert_eq!(
        error("apiVersion: kafka.strimzi.io/v1alpha1\nkind: KafkaTopic\n"),
        "bad.yml:1: field `apiVersion`: expected kafka.strimzi.io/v1 or kafka.strimzi.io/v1beta2, found `kafka.strimzi.io/v1alpha1`"
    );
}

#[test]
fn topic_fields_are_located_in_the_second_document() {
    assert_eq!(
        error(&topic("  partitions: three\n  replicationFactor: 1\n")),
        "bad.yml:13: field `spec.partitions`: expected a whole number from 1, found `three`"
    );
    assert_eq!(
        error(&topic("  partitions: 0\n  replicationFactor: 1\n")),
        "bad.yml:13: field `spec.partitions`: expected a whole number from 1, found `0`"
    );
    assert_eq!(
        error(&topic("  partitions: 3\n")),
        "bad.yml:13: field `spec.replicationFactor`: expected a whole number from 1, found nothing"
    );
    assert_eq!(
        error(&topic("  partition: 3\n  replicationFactor: 1\n")),
        "bad.yml:13: field `spec.partition`: expected one of replicationFactor, partitions, tags, description, configs, found `partition`"
    );
    assert_eq!(
        error(&topic(
            "  partitions: 3\n  replicationFactor: 1\n  configs: [retention.ms]\n"
        )),
        "bad.yml:15: field `spec.configs`: expected a mapping, found a list"
    );
    assert_eq!(
        error(&topic("  partitions: 3\n  replicationFactor: 1\n  configs:\n    retention.ms: {a: 1}\n")),
        "bad.yml:16: field `spec.configs.\"retention.ms\"`: expected a string or number, found a mapping"
    );
}

#[test]
fn metadata_is_checked() {
    assert_eq!(
        error_with("apiVersion: v1\nkind: KafkaStream\nmetadata:\n  name: s\n", None),
        "bad.yml:4: field `metadata.namespace`: expected the namespace (or a default namespace: --namespace, as kafkactl's -n), found nothing"
    );
    assert_eq!(
        error("apiVersion: v1\nkind: KafkaStream\nmetadata:\n  name: a/b\n"),
        "bad.yml:4: field `metadata.name`: expected a name of letters, digits, `.`, `_` and `-` (ns4kafka's RESOURCE_PATTERN), found `a/b`"
    );
    assert_eq!(
        error("apiVersion: v1\nkind: KafkaStream\n"),
        "bad.yml:1: field `metadata`: expected a mapping with name, found nothing"
    );
}

#[test]
fn namespace_fields_are_checked() {
    assert_eq!(
        error("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\nspec:\n  protectionEnabled: false\n"),
        "bad.yml:6: field `spec.kafkaUser`: expected a string, found nothing"
    );
    assert_eq!(
        error(&format!("{NS}  transactionsEnabled: yes\n")),
        "bad.yml:7: field `spec.transactionsEnabled`: expected true or false, found `yes`"
    );
}

#[test]
fn acl_enums_are_ns4kafkas_exact_spelling() {
    let base =
        "  resourceType: TOPIC\n  resource: a.\n  resourcePatternType: PREFIXED\n  grantedTo: a\n";
    assert_eq!(
        error(&acl(&format!("{base}  permission: owner\n"))),
        "bad.yml:10: field `spec.permission`: expected one of OWNER, READ, WRITE, found `owner`"
    );
    assert_eq!(
        error(&acl("  resourceType: TOPIC\n  resource: a.\n  permission: OWNER\n  grantedTo: a\n")),
        "bad.yml:6: field `spec.resourcePatternType`: expected one of LITERAL, PREFIXED, found nothing"
    );
    assert_eq!(
        error(&acl("  resourceType: TOPICS\n  resource: a.\n  resourcePatternType: LITERAL\n  permission: OWNER\n  grantedTo: a\n")),
        "bad.yml:6: field `spec.resourceType`: expected one of TOPIC, GROUP, CONNECT, CONNECT_CLUSTER, SCHEMA, TRANSACTIONAL_ID, found `TOPICS`"
    );
}

#[test]
fn schemas_need_their_content() {
    assert_eq!(
        error("apiVersion: v1\nkind: Schema\nmetadata:\n  name: t-value\nspec:\n  schemaType: AVRO\n"),
        "bad.yml:6: field `spec.schema`: expected the schema (spec.schema or spec.schemaFile), found nothing"
    );
    let e = error("apiVersion: v1\nkind: Schema\nmetadata:\n  name: t-value\nspec:\n  schemaFile: no/such.avsc\n");
    assert!(
        e.starts_with(
            "bad.yml:6: field `spec.schemaFile`: expected a readable file, found `no/such.avsc`: "
        ),
        "{e}"
    );
    assert_eq!(
        error("apiVersion: v1\nkind: Schema\nmetadata:\n  name: t-value\nspec:\n  schema: '{}'\n  schemaType: avro\n"),
        "bad.yml:7: field `spec.schemaType`: expected one of AVRO, JSON, PROTOBUF, found `avro`"
    );
    assert_eq!(
        error("apiVersion: v1\nkind: Schema\nmetadata:\n  name: t-value\nspec:\n  schema: '{}'\n  references:\n    - name: r\n      subject: s\n"),
        "bad.yml:8: field `spec.references[0].version`: expected a whole number from 1, found nothing"
    );
}

#[test]
fn strimzi_acl_rules_are_checked() {
    assert_eq!(
        error(&user("      - resource: {type: topic, name: a, patternType: prefixed}\n        operations: [Read]\n")),
        "bad.yml:9: field `spec.authorization.acls[0].resource.patternType`: expected one of literal, prefix, found `prefixed`"
    );
    assert_eq!(
        error(&user("      - resource: {type: topic, name: a}\n        operations: [read]\n")),
        "bad.yml:10: field `spec.authorization.acls[0].operations[0]`: expected one of Read, Write, Create, Delete, Alter, Describe, ClusterAction, AlterConfigs, DescribeConfigs, IdempotentWrite, All, found `read`"
    );
    assert_eq!(
        error(&user("      - resource: {type: topic, name: a}\n")),
        "bad.yml:9: field `spec.authorization.acls[0].operations`: expected a list of operations (Read, Write, Create, Delete, Alter, Describe, ClusterAction, AlterConfigs, DescribeConfigs, IdempotentWrite, All), found nothing"
    );
    assert_eq!(
        error(&user("      - resource: {type: topic}\n        operations: [Read]\n")),
        "bad.yml:9: field `spec.authorization.acls[0].resource.name`: expected a string, found nothing"
    );
    assert_eq!(
        error("apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata:\n  name: t\nspec:\n  replicas: -1\n"),
        "bad.yml:6: field `spec.replicas`: expected a whole number from 1, found `-1`"
    );
}

#[test]
fn the_offending_line_is_echoed_with_a_caret() {
    let mut d = Declarations::default();
    let err = d
        .read_str(
            &topic("  partitions: three\n  replicationFactor: 1\n"),
            "bad.yml",
            Path::new("."),
            Some("team"),
        )
        .expect_err("malformed");
    assert_eq!(
        err.to_string(),
        "bad.yml:13: field `spec.partitions`: expected a whole number from 1, found `three`\n   |\n13 |   partitions: three\n   |               ^"
    );
}

#[test]
fn a_missing_field_is_shown_at_its_mapping_with_the_caret_at_the_indent() {
    let mut d = Declarations::default();
    let err = d
        .read_str(
            "apiVersion: v1\nkind: KafkaStream\nmetadata:\n  name: s\n",
            "bad.yml",
            Path::new("."),
            None,
        )
        .expect_err("no namespace");
    assert!(
        err.to_string().ends_with("\n4 |   name: s\n  |   ^"),
        "{err}"
    );
}

#[test]
fn files_and_directories_that_cannot_be_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    match load(&[dir.path().to_path_buf()], None) {
        Err(DeclarationsError::NoFiles { path }) => {
            assert_eq!(path, dir.path().display().to_string())
        }
        other => panic!("expected NoFiles, got {other:?}"),
    }
    let missing = PathBuf::from(dir.path()).join("missing.yml");
    let err = load(std::slice::from_ref(&missing), None).expect_err("missing file");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read: ", missing.display())),
        "{err}"
    );
    // A file in a directory is named by its path in errors.
    std::fs::write(dir.path().join("b.yaml"), "apiVersion: v1\nkind: Nope\n").expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not yaml: [").expect("write");
    let err = load(&[dir.path().to_path_buf()], None).expect_err("bad kind");
    let l = err.located().expect("located");
    assert_eq!(
        (l.origin.clone(), l.line),
        (dir.path().join("b.yaml").display().to_string(), 2)
    );
}
