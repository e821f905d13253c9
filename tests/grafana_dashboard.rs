//! `examples/grafana/replicator.json` stays true to the built-in replicator's metrics: every
//! PromQL query in it (panel targets and template variables) names only metrics that a running
//! `cutover replicate` exports. The main test starts two real clusters (one broker each), copies
//! records with a real replicator process and scrapes its `/metrics`; a quick test checks the
//! same against the metric families the replicator declares, without Kafka.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{ClusterSpec, TopicSpec};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/grafana/replicator.json"
    );
    let text = std::fs::read_to_string(path).expect("examples/grafana/replicator.json");
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

/// Every PromQL query: panel targets' `expr` (rows' nested panels too) and query variables.
fn queries(d: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for p in list.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_string());
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&d["panels"], &mut out);
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        match &v["query"] {
            Value::String(q) => out.push(q.clone()),
            Value::Object(o) => {
                out.extend(o.get("query").and_then(Value::as_str).map(String::from))
            }
            _ => {}
        }
    }
    out
}

/// The metric names a query uses: its identifiers starting with `cutover_` (outside strings).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_string = false;
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("cutover_") {
            names.insert(word.clone());
        }
        word.clear();
    }
    names
}

/// The metric families a Prometheus text exposition declares (`# TYPE name kind`), and the
/// names that have at least one sample.
fn families(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut declared = BTreeSet::new();
    let mut sampled = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                declared.insert(name.to_string());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            sampled.insert(name);
        }
    }
    (declared, sampled)
}

/// Each query's metrics missing from `exported`, as "query: name" lines.
fn unknown(queries: &[String], exported: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        let names = metric_names(q);
        if names.is_empty() {
            out.push(format!("{q}: names no cutover_ metric"));
        }
        for n in names.difference(exported) {
            out.push(format!("{q}: {n}"));
        }
    }
    out
}

#[test]
fn the_dashboard_covers_the_panels_users_ask_for() {
    let d = dashboard();
    let all = queries(&d).join("\n");
    for metric in [
        "cutover_replicator_lag_records",
        "cutover_replicator_records_total",
        "cutover_replicator_bytes_total",
        "cutover_replicator_transactions_committed_total",
        "cutover_replicator_transactions_aborted_total",
        "cutover_replicator_rebalances_total",
        "cutover_replicator_fenced_total",
    ] {
        assert!(all.contains(metric), "no panel queries {metric}");
    }
    assert!(
        all.contains("by (topic)"),
        "throughput must be broken down by topic"
    );
    let lag_legend = d["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .any(|t| {
            t["expr"]
                .as_str()
                .is_some_and(|e| e.starts_with("cutover_replicator_lag_records"))
                && t["legendFormat"]
                    .as_str()
                    .is_some_and(|l| l.contains("{{partition}}"))
        });
    assert!(lag_legend, "a panel must show lag per topic/partition");
    // A made-up name is caught.
    let bogus = unknown(
        &["rate(cutover_replicator_recordz_total[1m])".to_string()],
        &metric_names("cutover_replicator_records_total"),
    );
    assert_eq!(bogus.len(), 1, "{bogus:?}");
}

/// Every query is PromQL (promql-parser, Prometheus' grammar), once Grafana's variables are
/// replaced the way Grafana would (`$__rate_interval` by a duration, `$job` by a regex).
#[test]
fn every_query_parses_as_promql() {
    let d = dashboard();
    let mut bad = Vec::new();
    for q in queries(&d) {
        if q.starts_with("label_values(") {
            continue; // a Grafana function, not PromQL; its metric is checked below
        }
        let expanded = q
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "30s")
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$topic", ".*");
        if let Err(e) = promql_parser::parser::parse(&expanded) {
            bad.push(format!("{q}: {e}"));
        }
    }
    assert!(bad.is_empty(), "not PromQL:\n{}", bad.join("\n"));
    assert!(
        promql_parser::parser::parse("sum(rate(x[1m])").is_err(),
        "the parser must reject a broken query"
    );
}

/// Without Kafka: the families the replicator's renderer declares even before any data.
#[test]
fn every_query_names_a_declared_replicator_metric() {
    let (declared, _) = families(&replicator::Metrics::new().render());
    let missing = unknown(&queries(&dashboard()), &declared);
    assert!(
        missing.is_empty(),
        "unknown metrics:\n{}",
        missing.join("\n")
    );
}

fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_names_a_metric_a_running_replicator_exports() {
    let (ss, ts) = (
        ClusterSpec::new("grafana-src"),
        ClusterSpec::new("grafana-tgt"),
    );
    let (source, target) = tokio::join!(harness::start(&ss), harness::start(&ts));
    let (source, target) = (
        source.expect("source cluster"),
        target.expect("target cluster"),
    );
    source
        .admin()
        .expect("admin")
        .create_topic(&TopicSpec::new("orders.0", 3, 1))
        .await
        .expect("topic");
    {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = source
            .client_props()
            .to_rdkafka()
            .expect("client config")
            .create()
            .expect("producer");
        for i in 0..300 {
            producer
                .send(
                    FutureRecord::to("orders.0")
                        .key(&format!("k{i}"))
                        .payload(&format!("v{i}")),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("replicator.toml");
    std::fs::write(
        &config,
        format!(
            "[replication]\nmode = \"exactly-once\"\ngroup_id = \"grafana\"\ninclude = \"orders\\\\..*\"\n\n\
             [source]\nbootstrap.servers = \"{}\"\nsession.timeout.ms = 6000\n\n\
             [target]\nbootstrap.servers = \"{}\"\n",
            source.bootstrap_servers(),
            target.bootstrap_servers()
        ),
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = dir.path().join("replicator.log");
    let child = Command::new(BIN)
        .args(["replicate", "--config"])
        .arg(&config)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .env("CUTOVER_LOG", "info,librdkafka=error")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("cutover replicate");
    let _replicator = Killed(child);
    // Until all 300 records are copied and the lag of all three partitions is reported.
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        if let Some(text) = scrape(port) {
            let copied: f64 = text
                .lines()
                .filter(|l| l.starts_with("cutover_replicator_records_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            let lag_series = text
                .lines()
                .filter(|l| l.starts_with("cutover_replicator_lag_records{"))
                .count();
            if copied >= 300.0 && lag_series == 3 {
                break text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the replicator did not copy 300 records in 120 s; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (declared, sampled) = families(&text);
    let queries = queries(&dashboard());
    assert!(queries.len() >= 15, "only {} queries found", queries.len());
    let missing = unknown(&queries, &declared);
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the replicator does not export:\n{}\n\nscrape:\n{text}",
        missing.join("\n")
    );
    // The panels that matter show data: these have samples after a copy.
    for name in [
        "cutover_replicator_lag_records",
        "cutover_replicator_position",
        "cutover_replicator_records_total",
        "cutover_replicator_bytes_total",
        "cutover_replicator_transactions_committed_total",
        "cutover_replicator_rebalances_total",
        "cutover_replicator_assigned_partitions",
    ] {
        assert!(sampled.contains(name), "no sample of {name}:\n{text}");
    }
    println!(
        "dashboard: {} queries over {} metrics, all exported by a running replicator",
        queries.len(),
        queries
            .iter()
            .flat_map(|q| metric_names(q))
            .collect::<BTreeSet<_>>()
            .len()
    );
    drop(_replicator);
    let _ = tokio::join!(source.shutdown(), target.shutdown());
}
