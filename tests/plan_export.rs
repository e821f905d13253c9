//! `cutover plan --export ns4kafka|strimzi` on a real cluster with StandardAuthorizer: its
//! topics (non-default configs only) and ACLs written as declarations that read back, and that
//! `cutover plan --resources` orders (the reader moves before the writer). An unreachable
//! source exits 2.

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
}
