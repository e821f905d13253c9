//! `cutover plan` from the outside on the example declarations
//! (`declarations/tests/fixtures/`): exit 0 with an order, 1 on a cycle (named with its
//! topics), 2 on declarations it cannot read (file:line named). No Kafka here.

use reports::CutoverExitCode;

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/declarations/tests/fixtures");

fn plan(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("plan")
        .args(args)
        .output()
        .expect("run cutover plan")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn three_namespaces_move_last_consumer_first_and_first_producer_last() {
    let o = plan(&["--resources", &fixture("ns4kafka"), "--format", "json"]);
    assert_eq!(code(&o), Some(CutoverExitCode::OK), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    // analytics reads billing.invoices; billing reads orders.created and writes invoices.
    assert_eq!(
        json["waves"],
        serde_json::json!([["analytics"], ["billing"], ["orders"]])
    );
    assert_eq!(json["cycles"], serde_json::json!([]));
    let billing = json["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["topic"] == "billing.invoices")
        .expect("billing.invoices");
    assert_eq!(billing["writers"], serde_json::json!(["billing"]));
    assert_eq!(billing["readers"], serde_json::json!(["analytics"]));
    assert!(o.stderr.is_empty(), "no warning: {}", text(&o.stderr));
}

#[test]
fn markdown_names_the_replication_step_the_waves_and_the_graph() {
    let o = plan(&["--resources", &fixture("ns4kafka")]);
    assert_eq!(code(&o), Some(CutoverExitCode::OK), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(md.contains("## Step 0: replicate every topic"), "{md}");
    assert!(
        md.contains("| `orders.created` | orders | billing |"),
        "{md}"
    );
    assert!(
        md.contains("| 2 | billing | `orders.created` | `billing.invoices` | analytics |"),
        "{md}"
    );
    assert!(
        md.contains("n_orders -->|\"orders.created\"| n_billing"),
        "{md}"
    );
    assert!(
        !md.contains("admin"),
        "the namespace holding OWNER entries is no node: {md}"
    );
    let mermaid = plan(&["--resources", &fixture("ns4kafka"), "--format", "mermaid"]);
    assert!(text(&mermaid.stdout).starts_with("flowchart LR\n"));
}

#[test]
fn a_cycle_exits_1_with_the_topics_that_close_it() {
    let o = plan(&["--resources", &fixture("strimzi")]);
    assert_eq!(
        code(&o),
        Some(CutoverExitCode::FAILED),
        "{}",
        text(&o.stderr)
    );
    let md = text(&o.stdout);
    assert!(
        md.contains("- ledger-app, payments-app feed each other through `ledger.entries`, `payments.authorized`"),
        "{md}"
    );
}

#[test]
fn ns4kafka_and_strimzi_declarations_combine_and_a_default_namespace_applies() {
    let o = plan(&[
        "--resources",
        &fixture("ns4kafka"),
        "--resources",
        &fixture("kafkactl"),
        "--namespace",
        "analytics",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), Some(CutoverExitCode::OK), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let weekly = json["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["topic"] == "analytics.weekly")
        .expect("the kafkactl file's topic");
    assert_eq!(weekly["writers"], serde_json::json!(["analytics"]));
}

#[test]
fn unreadable_declarations_exit_2_naming_file_and_line() {
    let o = plan(&["--resources", &fixture("kafkactl")]);
    assert_eq!(code(&o), Some(CutoverExitCode::ERROR));
    let err = text(&o.stderr);
    assert!(
        err.contains("analytics-extra.yml:5: field `metadata.namespace`: expected the namespace"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: AccessControlEntry\nmetadata: {name: x, namespace: a}\nspec:\n  resourceType: TOPIC\n  resource: a.\n  resourcePatternType: prefixed\n  permission: OWNER\n  grantedTo: a\n",
    )
    .expect("write");
    let o = plan(&["--resources", bad.to_str().expect("utf-8")]);
    assert_eq!(code(&o), Some(CutoverExitCode::ERROR));
    let err = text(&o.stderr);
    assert!(
        err.contains("bad.yaml:7: field `spec.resourcePatternType`: expected one of LITERAL, PREFIXED, found `prefixed`"),
        "{err}"
    );
}

/// The plan docs/declarations.md shows for its three-namespace example (`billing` reads and
/// writes) is the command's output on the example files, its headings nested three levels down
/// under the doc's own; `CUTOVER_UPDATE_DOCS=1` rewrites the block.
#[test]
fn the_docs_example_plan_is_what_the_command_prints() {
    const BEGIN: &str = "<!-- generated: cutover plan --resources declarations/tests/fixtures/ns4kafka (tests/plan_cli.rs keeps it true) -->\n";
    const END: &str = "<!-- end of the generated plan -->\n";
    let o = plan(&["--resources", &fixture("ns4kafka")]);
    assert_eq!(code(&o), Some(CutoverExitCode::OK), "{}", text(&o.stderr));
    let nested: String = text(&o.stdout)
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("###{l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/declarations.md");
    let doc = std::fs::read_to_string(path).expect("docs/declarations.md");
    let start = doc.find(BEGIN).expect("the doc marks its generated plan") + BEGIN.len();
    let end = start + doc[start..].find(END).expect("the generated plan ends");
    let shown = &doc[start..end];
    let want = format!("\n{nested}\n");
    if shown != want && std::env::var_os("CUTOVER_UPDATE_DOCS").is_some() {
        let updated = format!("{}{want}{}", &doc[..start], &doc[end..]);
        std::fs::write(path, updated).expect("rewrite docs/declarations.md");
        return;
    }
    assert!(
        shown == want,
        "docs/declarations.md shows another plan than `cutover plan` prints; rewrite it with CUTOVER_UPDATE_DOCS=1 cargo test --test plan_cli\n--- shown ---\n{shown}\n--- printed ---\n{want}"
    );
    // The example is the issue's: three namespaces, one both consumer and producer.
    assert!(shown.contains("3 namespaces, 3 topics"), "{shown}");
    assert!(
        shown.contains("| 2 | billing | `orders.created` | `billing.invoices` | analytics |"),
        "{shown}"
    );
}
