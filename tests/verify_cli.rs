//! `cutover verify` against real clusters: a source topic with upstream duplicates and an
//! aborted transaction, copied faithfully, lossily, with duplicates and read_uncommitted by a
//! small test copier; the verdicts and counts must be exactly what each copier did.

#[path = "support/identity.rs"]
mod identity;

use reports::CutoverExitCode;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::{ClusterSpec, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const PARTITIONS: i32 = 3;

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

struct Written {
    committed: u64,
    aborted: u64,
    upstream_duplicates: u64,
}

/// Sends one record to `orders` carrying the workload identity (producer, sequence).
async fn send_identified(producer: &FutureProducer, (id, seq): (u16, u64), key: &str, value: &str) {
    producer
        .send(
            FutureRecord::to("orders")
                .key(key)
                .payload(value)
                .headers(identity::identified(id, seq)),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
}

/// 300 keyed records with workload ids, 20 of them re-sent (upstream duplicates), then a
/// committed and an aborted transaction, then 12 more records.
async fn write_source(bootstrap: &str) -> Written {
    let producer: FutureProducer = config(bootstrap).set("acks", "all").create().unwrap();
    let mut committed = 0;
    let mut upstream = 0;
    for seq in 0..300u64 {
        let key = format!("customer-{}", seq % 37);
        let value = format!("order {seq}");
        let copies = if seq % 15 == 0 { 2 } else { 1 };
        for _ in 0..copies {
            send_identified(&producer, (1, seq), &key, &value).await;
            committed += 1;
        }
        upstream += copies - 1;
    }
    let txn: FutureProducer = config(bootstrap)
        .set("transactional.id", "verify-test")
        .create()
        .unwrap();
    let t = Duration::from_secs(30);
    txn.init_transactions(t).unwrap();
    for (commit, base) in [(true, 1000u64), (false, 2000u64)] {
        txn.begin_transaction().unwrap();
        for i in 0..10u64 {
            let key = format!("txn-{i}");
            let value = format!("txn {} {i}", if commit { "ok" } else { "abort" });
            txn.send_result(
                FutureRecord::to("orders")
                    .key(&key)
                    .payload(&value)
                    .headers(identity::identified(2, base + i)),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        }
        if commit {
            txn.commit_transaction(t).unwrap();
        } else {
            txn.flush(t).unwrap();
            txn.abort_transaction(t).unwrap();
        }
    }
    // Plain records after the transactions: the checker reads a partition's committed view
    // alone until a gap (here a marker and aborted records in the middle of the log), then
    // both views; a checker that lost its place there would miscount these.
    let after = 12u64;
    for i in 0..after {
        send_identified(
            &producer,
            (3, i),
            &format!("late-{i}"),
            &format!("late {i}"),
        )
        .await;
    }
    Written {
        committed: committed + 10 + after,
        aborted: 10,
        upstream_duplicates: upstream,
    }
}

/// Copies every partition of `orders` into `target_topic`, keeping partition, key, value and
/// headers. `action(n)` says what to do with the n-th record read: 0 skip, 1 copy, 2 copy twice.
async fn copy(
    source: &str,
    target: &str,
    target_topic: &str,
    isolation: &str,
    action: impl Fn(u64) -> u8,
) -> (u64, u64) {
    let consumer: BaseConsumer = config(source)
        .set("group.id", "test-copier")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset("orders", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let producer: FutureProducer = config(target)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let (mut n, mut skipped, mut doubled) = (0u64, 0u64, 0u64);
    let mut eof = 0;
    let mut pending = Vec::new();
    while eof < PARTITIONS {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let act = action(n);
                n += 1;
                if act == 0 {
                    skipped += 1;
                }
                if act == 2 {
                    doubled += 1;
                }
                for _ in 0..act {
                    let mut record = FutureRecord::to(target_topic).partition(m.partition());
                    if let Some(k) = m.key() {
                        record = record.key(k);
                    }
                    if let Some(v) = m.payload() {
                        record = record.payload(v);
                    }
                    if let Some(h) = m.headers() {
                        record = record.headers(h.detach());
                    }
                    pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => eof += 1,
            Some(Err(e)) => panic!("copier: {e}"),
            None => {}
        }
    }
    for f in pending {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    (skipped, doubled)
}

fn props_file(dir: &Path, name: &str, bootstrap: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("# test cluster\nbootstrap.servers={bootstrap}\nclient.id=cutover-verify-test\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn verify_cli(
    source: &str,
    target: &str,
    prefix: &str,
    dir: &Path,
) -> (i32, String, serde_json::Value) {
    let report = dir.join(prefix.trim_end_matches('.'));
    let out = Command::new(BIN)
        .args([
            "verify", "--source", source, "--target", target, "--topics", "orders",
        ])
        .args(["--rename-prefix", prefix, "--report-dir"])
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("verdict.json")).unwrap_or_else(|_| {
            panic!(
                "no verdict.json; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        }),
    )
    .unwrap();
    (out.status.code().unwrap_or(-1), stdout, json)
}

fn counts(json: &serde_json::Value) -> BTreeMap<String, u64> {
    json["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_a_faithful_copy_and_counts_what_bad_copiers_did() {
    let (source_spec, target_spec) = (ClusterSpec::new("vsrc"), ClusterSpec::new("vtgt"));
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (source.unwrap(), target.unwrap());
    let sa = source.admin().unwrap();
    sa.create_topic(&TopicSpec::new("orders", PARTITIONS, 1))
        .await
        .unwrap();
    let ta = target.admin().unwrap();
    for prefix in ["ok.", "lossy.", "dup.", "leaky."] {
        ta.create_topic(&TopicSpec::new(format!("{prefix}orders"), PARTITIONS, 1))
            .await
            .unwrap();
    }
    let written = write_source(&source.bootstrap_servers()).await;
    let (sb, tb) = (source.bootstrap_servers(), target.bootstrap_servers());
    copy(&sb, &tb, "ok.orders", "read_committed", |_| 1).await;
    let (lost, _) = copy(&sb, &tb, "lossy.orders", "read_committed", |n| {
        u8::from(n % 10 != 3)
    })
    .await;
    let (_, doubled) = copy(&sb, &tb, "dup.orders", "read_committed", |n| {
        if n % 7 == 0 {
            2
        } else {
            1
        }
    })
    .await;
    copy(&sb, &tb, "leaky.orders", "read_uncommitted", |_| 1).await;
    assert!(lost > 0 && doubled > 0);

    let dir = tempfile::tempdir().unwrap();
    let sp = props_file(dir.path(), "source.properties", &sb);
    let tp = props_file(dir.path(), "target.properties", &tb);

    let (code, out, json) = verify_cli(&sp, &tp, "ok.", dir.path());
    assert_eq!(code, CutoverExitCode::OK, "{out}");
    assert!(out.starts_with("PASS"), "{out}");
    assert!(counts(&json).is_empty(), "{json}");
    assert_eq!(json["tally"]["source_records"], written.committed);
    assert_eq!(json["tally"]["source_aborted"], written.aborted);
    assert_eq!(
        json["tally"]["upstream_duplicates"],
        written.upstream_duplicates
    );

    let (code, out, json) = verify_cli(&sp, &tp, "lossy.", dir.path());
    assert_eq!(code, CutoverExitCode::FAILED, "{out}");
    // Every skipped read is one record lost, upstream duplicates included (multiset).
    let c = counts(&json);
    let lost_counted = c.get("lost").copied().unwrap_or(0);
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["lost"], "{json}");
    assert_eq!(lost_counted, lost, "{out}");
    assert!(out.contains("e.g. lost"), "{out}");

    let (code, out, json) = verify_cli(&sp, &tp, "dup.", dir.path());
    assert_eq!(code, CutoverExitCode::FAILED, "{out}");
    assert_eq!(
        counts(&json),
        BTreeMap::from([("duplicated".to_string(), doubled)]),
        "{out}"
    );
    assert_eq!(
        json["tally"]["upstream_duplicates"], written.upstream_duplicates,
        "upstream duplicates counted apart"
    );

    let (code, out, json) = verify_cli(&sp, &tp, "leaky.", dir.path());
    assert_eq!(code, CutoverExitCode::FAILED, "{out}");
    assert_eq!(
        counts(&json),
        BTreeMap::from([("leaked-aborted".to_string(), written.aborted)]),
        "{out}"
    );
    assert!(
        out.contains("key txn-"),
        "examples carry key previews: {out}"
    );
    println!("{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_errors_are_exit_2_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.properties");
    let out = Command::new(BIN)
        .args(["verify", "--source"])
        .arg(&missing)
        .args(["--target"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.properties"), "{err}");

    let cluster = harness::start(&ClusterSpec::new("verr")).await.unwrap();
    let p = props_file(dir.path(), "c.properties", &cluster.bootstrap_servers());
    cluster
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("only-here", 1, 1))
        .await
        .unwrap();
    let out = Command::new(BIN)
        .args([
            "verify",
            "--source",
            &p,
            "--target",
            &p,
            "--topics",
            "only-here",
            "--rename-prefix",
            "x.",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x.only-here") && err.contains("does not exist on the target"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["verify", "--source", &p, "--target", &p, "--topics", "("])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--topics"));
}

/// `cutover verify --topics T --rename-prefix P` with extra arguments: (exit code, stdout).
fn verify_topic(
    source: &str,
    target: &str,
    topic: &str,
    prefix: &str,
    extra: &[&str],
) -> (i32, String) {
    let out = Command::new(BIN)
        .args([
            "verify", "--source", source, "--target", target, "--topics", topic,
        ])
        .args(["--rename-prefix", prefix])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A transaction left open at the end holds the last stable offset, and `read_committed`
/// readers stop there: on the target it hides what a zombie copier wrote, on the source the
/// records behind it. Before, both passed in silence (a warning for the source, nothing for
/// the target); now the verdict is UNKNOWN (exit 2) naming the side, partition and offsets,
/// unless `--allow-unverified`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_an_open_transaction_hides_are_unverified_not_passed() {
    use rdkafka::producer::{BaseProducer, BaseRecord};
    let (source_spec, target_spec) = (ClusterSpec::new("vusrc"), ClusterSpec::new("vutgt"));
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (source.unwrap(), target.unwrap());
    for (admin, topic) in [
        (source.admin().unwrap(), "ledger"),
        (source.admin().unwrap(), "held"),
        (target.admin().unwrap(), "a.ledger"),
        (target.admin().unwrap(), "b.held"),
    ] {
        admin
            .create_topic(&TopicSpec::new(topic, 1, 1))
            .await
            .unwrap();
    }
    let (sb, tb) = (source.bootstrap_servers(), target.bootstrap_servers());
    let (sb2, tb2) = (sb.clone(), tb.clone());
    // Committed records copied faithfully; then an open transaction on the target (5 records
    // a zombie copier wrote) and one on the source (3 records), both left open.
    let open = tokio::task::spawn_blocking(move || {
        let plain = |b: &str| -> BaseProducer { config(b).set("acks", "all").create().unwrap() };
        let (s, t) = (plain(&sb2), plain(&tb2));
        for i in 0..20 {
            let v = format!("entry {i}");
            s.send(BaseRecord::to("ledger").key("k").payload(&v))
                .unwrap();
            t.send(BaseRecord::to("a.ledger").key("k").payload(&v))
                .unwrap();
            s.send(BaseRecord::to("held").key("k").payload(&v)).unwrap();
            t.send(BaseRecord::to("b.held").key("k").payload(&v))
                .unwrap();
        }
        s.flush(Duration::from_secs(30)).unwrap();
        t.flush(Duration::from_secs(30)).unwrap();
        let txn = |b: &str, id: &str, topic: &str, n: u32| -> BaseProducer {
            let p: BaseProducer = config(b)
                .set("transactional.id", id)
                .set("transaction.timeout.ms", "300000")
                .create()
                .unwrap();
            p.init_transactions(Duration::from_secs(30)).unwrap();
            p.begin_transaction().unwrap();
            for i in 0..n {
                let v = format!("open {i}");
                p.send(BaseRecord::to(topic).key("k").payload(&v)).unwrap();
            }
            p.flush(Duration::from_secs(30)).unwrap();
            p
        };
        (
            txn(&tb2, "zombie-copier", "a.ledger", 5),
            txn(&sb2, "held-open", "held", 3),
        )
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let sp = props_file(dir.path(), "source.properties", &sb);
    let tp = props_file(dir.path(), "target.properties", &tb);

    let (code, out) = verify_topic(&sp, &tp, "ledger", "a.", &[]);
    assert_eq!(code, CutoverExitCode::ERROR, "{out}");
    assert!(out.starts_with("UNKNOWN"), "{out}");
    assert!(
        out.contains("unverified: target a.ledger-0: an open transaction holds the last stable offset at 20 (high watermark 25): 5 offsets not verified"),
        "{out}"
    );
    let (code, out) = verify_topic(&sp, &tp, "ledger", "a.", &["--allow-unverified"]);
    assert_eq!(code, CutoverExitCode::OK, "{out}");
    assert!(
        out.contains("unverified (allowed): target a.ledger-0"),
        "{out}"
    );

    let (code, out) = verify_topic(
        &sp,
        &tp,
        "held",
        "b.",
        &[
            "--report-dir",
            &dir.path().join("held").display().to_string(),
        ],
    );
    assert_eq!(code, CutoverExitCode::ERROR, "{out}");
    assert!(
        out.contains("unverified: source held-0: an open transaction holds the last stable offset at 20 (high watermark 23)"),
        "{out}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("held/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["outcome"], "unknown", "{report:#}");
    assert_eq!(report["undecided"][0]["class"], "unverified", "{report:#}");
    assert_eq!(report["undecided"][0]["count"], 3, "{report:#}");
    drop(open);
}
