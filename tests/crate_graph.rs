//! The crate graph keeps what each crate promises (docs/architecture.md, "must not"): the
//! verdict model and everything that only renders or locates input link no Kafka client, and
//! the small crates depend on no cutover crate they should not. Read from `cargo metadata`
//! (normal dependencies, resolved for this platform), so a new dependency edge that breaks a
//! promise fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// This machine's target triple, as rustc names it.
fn host() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// Package name → the names of its normal (non-dev, non-build) dependencies, resolved.
fn graph() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        // This platform's dependencies only (others would need their crates downloaded).
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &host(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| name_of[d["pkg"].as_str().unwrap()].to_string())
                .collect();
            (name_of[n["id"].as_str().unwrap()].to_string(), deps)
        })
        .collect()
}

fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        for d in graph.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

const KAFKA_CLIENTS: &[&str] = &["rdkafka", "rdkafka-sys"];
const CUTOVER_CRATES: &[&str] = &[
    "cutover",
    "declarations",
    "harness",
    "lint",
    "located",
    "preflight",
    "registry",
    "replicator",
    "reports",
    "scenarios",
    "secrets",
    "selftest",
    "verdict",
    "verify",
    "workload",
];

#[test]
fn the_verdict_model_and_the_reports_link_no_kafka_client() {
    let g = graph();
    for krate in ["verdict", "reports", "located", "secrets", "declarations"] {
        let deps = closure(&g, krate);
        let kafka: Vec<&&str> = KAFKA_CLIENTS
            .iter()
            .filter(|k| deps.contains(**k))
            .collect();
        assert!(kafka.is_empty(), "{krate} links {kafka:?}");
    }
}

/// `lint` checks configs without a cluster: it never links the checker. (It does link
/// librdkafka, through the built-in replicator's config loader, which asks librdkafka itself
/// whether a client property name exists.)
#[test]
fn lint_does_not_link_the_checker() {
    let g = graph();
    let deps = closure(&g, "lint");
    assert!(!deps.contains("verify"), "lint links verify");
    assert!(!deps.contains("scenarios"), "lint links scenarios");
}

#[test]
fn small_crates_depend_on_no_cutover_crate_beyond_their_promise() {
    let g = graph();
    let allowed: [(&str, &[&str]); 5] = [
        ("secrets", &[]),
        ("declarations", &["located", "secrets"]),
        ("located", &["secrets"]),
        ("verdict", &[]),
        ("reports", &["secrets", "verdict"]),
    ];
    for (krate, ok) in allowed {
        let cutover: Vec<String> = closure(&g, krate)
            .into_iter()
            .filter(|d| CUTOVER_CRATES.contains(&d.as_str()) && !ok.contains(&d.as_str()))
            .collect();
        assert!(cutover.is_empty(), "{krate} depends on {cutover:?}");
    }
}
