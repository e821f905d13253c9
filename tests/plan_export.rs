//! `cutover plan --export ns4kafka|strimzi` on a real cluster with StandardAuthorizer: its
//! topics (non-default configs only) and ACLs written as declarations that read back, and that
//! `cutover plan --resources` orders (the reader moves before the writer). On the same
//! cluster, `cutover plan --resources --source`: a live consumer group that commits offsets on
//! another namespace's topic makes its owner a reader (the waves change), a group no namespace
//! owns is listed as an unowned reader, and the groups' offsets are left as they were. An
//! unreachable source exits 2.

use reports::CutoverExitCode;

use std::path::Path;
use std::process::{Command, Output};

use declarations::{Permission, ResourceType as NsType};
use harness::{AclBinding, AclOperation as Op, ClusterSpec, PatternType, ResourceType, TopicSpec};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn plan(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("plan")
        .args(args)
        .output()
        .expect("run cutover plan")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn props_file(dir: &Path, bootstrap: &str) -> String {
    let path = dir.join("source.properties");
    std::fs::write(&path, format!("bootstrap.servers={bootstrap}\n")).expect("write");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_topics_and_acls_export_as_declarations_that_plan_reads() {
    let spec = ClusterSpec::new("declexport")
        .broker_config(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        .broker_config("super.users", "User:ANONYMOUS");
    let cluster = harness::start(&spec).await.expect("cluster starts");
    let started = std::time::Instant::now();
    let admin = cluster.admin().expect("admin");
    for t in [
        TopicSpec::new("orders.created", 3, 1).config("retention.ms", "604800000"),
        TopicSpec::new("plain", 1, 1),
    ] {
        admin.create_topic(&t).await.expect("topic");
    }
    let acls = [
        (
            "User:svc-orders",
            Op::Write,
            ResourceType::Topic,
            "orders.",
            PatternType::Prefixed,
        ),
        (
            "User:svc-orders",
            Op::Read,
            ResourceType::Topic,
            "orders.",
            PatternType::Prefixed,
        ),
        (
            "User:svc-billing",
            Op::Read,
            ResourceType::Topic,
            "orders.created",
            PatternType::Literal,
        ),
        (
            "User:svc-billing",
            Op::Read,
            ResourceType::Group,
            "billing.",
            PatternType::Prefixed,
        ),
    ]
    .map(|(p, op, rt, name, pattern)| AclBinding::allow(p, op, rt, name, pattern));
    admin.create_acls(&acls).await.expect("ACLs");

    let dir = tempfile::tempdir().expect("tempdir");
    let props = props_file(dir.path(), &cluster.bootstrap_servers());
    let ns4kafka = dir.path().join("ns4kafka.yml");
    let out = plan(&[
        "--export",
        "ns4kafka",
        "--source",
        &props,
        "--namespace",
        "orders",
        "--out",
        ns4kafka.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&out)
    );
    let d =
        declarations::load(std::slice::from_ref(&ns4kafka), None).expect("the export reads back");
    let topics: Vec<(&str, u32, Option<&String>, usize)> = d
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.partitions,
                t.configs.get("retention.ms"),
                t.configs.len(),
            )
        })
        .collect();
    let week = "604800000".to_string();
    assert_eq!(
        topics,
        [("orders.created", 3, Some(&week), 1), ("plain", 1, None, 0)],
        "non-default configs only"
    );
    assert!(d.topics.iter().all(|t| t.namespace == "orders"));
    let mut entries: Vec<(String, Permission, NsType, String)> = d
        .acls
        .iter()
        .map(|a| {
            (
                a.granted_to.clone(),
                a.permission,
                a.resource_type,
                a.resource.clone(),
            )
        })
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            (
                "svc-billing".to_string(),
                Permission::Owner,
                NsType::Group,
                "billing.".to_string()
            ),
            (
                "svc-billing".to_string(),
                Permission::Read,
                NsType::Topic,
                "orders.created".to_string()
            ),
            (
                "svc-orders".to_string(),
                Permission::Owner,
                NsType::Topic,
                "orders.".to_string()
            ),
        ]
    );
    // The export is a plan's input: svc-billing reads what svc-orders writes, so it moves
    // first; `orders` (declaring the topics, reading nothing) moves whenever.
    let out = plan(&[
        "--resources",
        ns4kafka.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&out)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["waves"],
        serde_json::json!([["orders", "svc-billing"], ["svc-orders"]]),
        "{}",
        text(&out)
    );

    let out = plan(&["--export", "strimzi", "--source", &props]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&out)
    );
    let mut d = declarations::Declarations::default();
    d.read_str(
        &String::from_utf8_lossy(&out.stdout),
        "strimzi.yml",
        Path::new("."),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", text(&out)));
    assert_eq!(d.strimzi_topics.len(), 2);
    let orders = d
        .strimzi_users
        .iter()
        .find(|u| u.name == "svc-orders")
        .expect("svc-orders");
    assert_eq!(
        orders.acls.len(),
        1,
        "Read and Write on one prefix are one rule"
    );
    assert_eq!(orders.acls[0].operations.len(), 2);

    // Live consumer groups: shipping's group commits offsets on orders.created (orders'), a
    // legacy group nobody owns on `plain`.
    let live = dir.path().join("live.yml");
    std::fs::write(&live, LIVE_DECLARATIONS).expect("write");
    let live_arg = live.to_str().expect("utf-8");
    let before = plan(&["--resources", live_arg, "--format", "json"]);
    assert_eq!(
        before.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&before)
    );
    let json: serde_json::Value = serde_json::from_slice(&before.stdout).expect("JSON");
    assert_eq!(json["waves"], serde_json::json!([["orders", "shipping"]]));
    commit(
        &cluster.bootstrap_servers(),
        "shipping.tracker",
        "orders.created",
        &[0, 2],
    );
    commit(
        &cluster.bootstrap_servers(),
        "reporting-legacy",
        "plain",
        &[0],
    );
    let offsets_before = committed(&cluster.bootstrap_servers());
    let live_started = std::time::Instant::now();
    let out = plan(&[
        "--resources",
        live_arg,
        "--source",
        &props,
        "--format",
        "json",
    ]);
    eprintln!(
        "plan --source (2 live groups): {:.1} s",
        live_started.elapsed().as_secs_f64()
    );
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        text(&out)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["waves"],
        serde_json::json!([["shipping"], ["orders"]]),
        "shipping reads orders' topic through its group, so it moves first: {}",
        text(&out)
    );
    let created = json["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["topic"] == "orders.created")
        .expect("orders.created");
    assert_eq!(created["readers"], serde_json::json!(["shipping"]));
    assert_eq!(
        json["live_groups"],
        serde_json::json!([{"group": "shipping.tracker", "owners": ["shipping"], "topics": ["orders.created"]}])
    );
    assert_eq!(
        json["unowned_readers"],
        serde_json::json!([{"group": "reporting-legacy", "owners": [], "topics": ["plain"]}])
    );
    let md = plan(&["--resources", live_arg, "--source", &props]);
    let md = text(&md);
    assert!(
        md.contains("| `reporting-legacy` | **unowned** | `plain` |"),
        "{md}"
    );
    assert!(md.contains("Unowned readers: `reporting-legacy`"), "{md}");
    // Read-only: the groups hold what they held, and no other group appeared.
    assert_eq!(committed(&cluster.bootstrap_servers()), offsets_before);

    eprintln!(
        "export and live groups: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let closed = dir.path().join("closed.properties");
    std::fs::write(&closed, "bootstrap.servers=127.0.0.1:1\n").expect("write");
    let out = plan(&[
        "--export",
        "ns4kafka",
        "--source",
        closed.to_str().expect("utf-8"),
        "--timeout-secs",
        "3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "{}",
        text(&out)
    );
    let closed_started = std::time::Instant::now();
    let out = plan(&[
        "--resources",
        live_arg,
        "--source",
        closed.to_str().expect("utf-8"),
        "--timeout-secs",
        "3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "{}",
        text(&out)
    );
    let took = closed_started.elapsed();
    eprintln!("plan --source unreachable: {:.1} s", took.as_secs_f64());
    assert!(
        took < std::time::Duration::from_secs(15),
        "--timeout-secs 3 bounds reaching the source: {took:?}"
    );
}

/// orders owns `orders.` topics; shipping owns `shipping.` topics and groups.
const LIVE_DECLARATIONS: &str = r#"apiVersion: v1
kind: Topic
metadata: {name: orders.created, namespace: orders}
spec: {partitions: 3, replicationFactor: 1}
---
apiVersion: v1
kind: Topic
metadata: {name: shipping.labels, namespace: shipping}
spec: {partitions: 1, replicationFactor: 1}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: orders-topics, namespace: admin}
spec: {resourceType: TOPIC, resource: orders., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: orders}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: shipping-topics, namespace: admin}
spec: {resourceType: TOPIC, resource: shipping., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: shipping}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: shipping-groups, namespace: admin}
spec: {resourceType: GROUP, resource: shipping., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: shipping}
"#;

/// Commits offset 0 on `partitions` of `topic` as `group`, without joining it.
fn commit(bootstrap: &str, group: &str, topic: &str, partitions: &[i32]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, rdkafka::Offset::Offset(0))
            .expect("offset");
    }
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// A group and its committed (topic, partition, offset)s.
type GroupOffsets = (String, Vec<(String, i32, i64)>);

/// Every group on the cluster with its committed offsets on the test's topics.
fn committed(bootstrap: &str) -> Vec<GroupOffsets> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let timeout = std::time::Duration::from_secs(10);
    let lister: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("client");
    let mut groups: Vec<String> = lister
        .fetch_group_list(None, timeout)
        .expect("groups")
        .groups()
        .iter()
        .map(|g| g.name().to_string())
        .collect();
    groups.sort();
    groups
        .into_iter()
        .map(|g| {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("group.id", &g)
                .create()
                .expect("client");
            let mut tpl = rdkafka::TopicPartitionList::new();
            for p in 0..3 {
                tpl.add_partition("orders.created", p);
            }
            tpl.add_partition("plain", 0);
            let got = c.committed_offsets(tpl, timeout).expect("committed");
            let offsets = got
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    rdkafka::Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
                    _ => None,
                })
                .collect();
            (g, offsets)
        })
        .collect()
}
