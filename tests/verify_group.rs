//! `cutover verify --group` on real clusters: two member processes split the partitions through
//! a consumer group on the source, each writes a partial verdict, and `--merge` combines them
//! into exactly the verdict a single process gives (anomalies across partitions of different
//! members included). Bad merges (a partition missing, a partition twice) are exit 2.

#[path = "support/identity.rs"]
mod identity;

use reports::CutoverExitCode;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use harness::{ClusterSpec, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
/// (topic, partitions)
const TOPICS: [(&str, i32); 2] = [("orders", 6), ("payments", 3)];

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

/// Keyed records with workload ids into every partition, some sent twice (upstream
/// duplicates), and an aborted transaction in `orders`.
async fn write_source(bootstrap: &str) {
    let producer: FutureProducer = config(bootstrap).set("acks", "all").create().unwrap();
    let mut seq = 0u64;
    for (topic, partitions) in TOPICS {
        for p in 0..partitions {
            for i in 0..40u64 {
                seq += 1;
                let headers = identity::identified(1, seq);
                let (key, value) = (format!("{topic}-key-{i}"), format!("{topic} {p} {i}"));
                for _ in 0..if i % 13 == 0 { 2 } else { 1 } {
                    producer
                        .send(
                            FutureRecord::to(topic)
                                .partition(p)
                                .key(&key)
                                .payload(&value)
                                .headers(headers.clone()),
                            Duration::from_secs(30),
                        )
                        .await
                        .unwrap();
                }
            }
        }
    }
    let txn: FutureProducer = config(bootstrap)
        .set("transactional.id", "group-test")
        .create()
        .unwrap();
    let t = Duration::from_secs(30);
    txn.init_transactions(t).unwrap();
    txn.begin_transaction().unwrap();
    for p in 0..TOPICS[0].1 {
        txn.send_result(
            FutureRecord::to("orders")
                .partition(p)
                .key("txn")
                .payload("aborted"),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    txn.flush(t).unwrap();
    txn.abort_transaction(t).unwrap();
}

/// Reads every committed record of `topic`, per partition in order.
fn read_partitions(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Vec<Record>> {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", "group-test-copier")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = vec![Vec::new(); partitions as usize];
    let mut eof = BTreeSet::new();
    while eof.len() < partitions as usize {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => out[m.partition() as usize].push(Record {
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m.headers().map(|h| h.detach()),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            Some(Err(e)) => panic!("copier: {e}"),
            None => {}
        }
    }
    out
}

#[derive(Clone)]
struct Record {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Option<OwnedHeaders>,
}

/// Copies `topic` into `copy.<topic>`; with `damage`, drops, duplicates, swaps and moves records
/// to the next partition (so moved-partition pairs span partitions of different members).
async fn copy(source: &str, target: &str, topic: &str, partitions: i32, damage: bool) {
    let read = read_partitions(source, topic, partitions);
    let mut out: Vec<Vec<Record>> = vec![Vec::new(); partitions as usize];
    for (p, records) in read.into_iter().enumerate() {
        let mut records = records;
        if damage {
            for i in (0..records.len().saturating_sub(1)).filter(|i| i % 11 == 4) {
                records.swap(i, i + 1);
            }
        }
        for (i, r) in records.into_iter().enumerate() {
            if !damage {
                out[p].push(r);
                continue;
            }
            match i % 17 {
                3 => {}
                5 => {
                    out[p].push(r.clone());
                    out[p].push(r);
                }
                9 => out[(p + 1) % partitions as usize].push(r),
                _ => out[p].push(r),
            }
        }
    }
    let producer: FutureProducer = config(target)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let to = format!("copy.{topic}");
    for (p, records) in out.into_iter().enumerate() {
        for r in records {
            let mut record = FutureRecord::to(&to).partition(p as i32);
            if let Some(k) = &r.key {
                record = record.key(k);
            }
            if let Some(v) = &r.value {
                record = record.payload(v);
            }
            if let Some(h) = r.headers {
                record = record.headers(h);
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
}

fn props_file(dir: &Path, name: &str, bootstrap: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("bootstrap.servers={bootstrap}\n")).unwrap();
    path.display().to_string()
}

fn cutover(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn without_duration(mut v: serde_json::Value) -> serde_json::Value {
    v.as_object_mut().unwrap().remove("duration_ms");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_group_members_and_a_merge_give_the_single_process_verdict() {
    let (source_spec, target_spec) = (ClusterSpec::new("gsrc"), ClusterSpec::new("gtgt"));
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (source.unwrap(), target.unwrap());
    let (sb, tb) = (source.bootstrap_servers(), target.bootstrap_servers());
    let (sa, ta) = (source.admin().unwrap(), target.admin().unwrap());
    for (topic, partitions) in TOPICS {
        sa.create_topic(&TopicSpec::new(topic, partitions, 1))
            .await
            .unwrap();
        ta.create_topic(&TopicSpec::new(format!("copy.{topic}"), partitions, 1))
            .await
            .unwrap();
    }
    write_source(&sb).await;
    copy(&sb, &tb, "orders", TOPICS[0].1, true).await;
    copy(&sb, &tb, "payments", TOPICS[1].1, false).await;

    let dir = tempfile::tempdir().unwrap();
    let sp = props_file(dir.path(), "source.properties", &sb);
    let tp = props_file(dir.path(), "target.properties", &tb);
    let common = [
        "verify",
        "--source",
        &sp,
        "--target",
        &tp,
        "--topics",
        "orders|payments",
        "--rename-prefix",
        "copy.",
    ];

    // One process.
    let single_dir = dir.path().join("single");
    let mut args = common.to_vec();
    args.extend(["--report-dir", single_dir.to_str().unwrap()]);
    let single = cutover(&args);
    assert_eq!(
        single.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        stderr(&single)
    );
    let single_verdict = json(&single_dir.join("verdict.json"));

    // Two members at once.
    let group_dir = dir.path().join("group");
    let mut args = common.to_vec();
    args.extend([
        "--group",
        "verify-g1",
        "--group-settle",
        "5s",
        "--report-dir",
        group_dir.to_str().unwrap(),
    ]);
    let members: Vec<_> = (0..2)
        .map(|_| {
            Command::new(BIN)
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = members
        .into_iter()
        .map(|m| m.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert_eq!(
            o.status.code(),
            Some(CutoverExitCode::OK),
            "member: {}",
            stderr(o)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("partial verdict of group verify-g1"),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    let mut partials: Vec<_> = std::fs::read_dir(&group_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    partials.sort();
    assert_eq!(partials.len(), 2, "{partials:?}");
    let mut covered: Vec<BTreeSet<(String, i64)>> = Vec::new();
    for p in &partials {
        let partial = json(p);
        let mine: BTreeSet<(String, i64)> = partial["covered"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(t, ps)| {
                ps.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| (t.clone(), x.as_i64().unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(!mine.is_empty(), "each member checked a share: {partial}");
        covered.push(mine);
    }
    assert!(covered[0].is_disjoint(&covered[1]), "{covered:?}");
    assert_eq!(covered[0].len() + covered[1].len(), 9, "{covered:?}");

    // The merge is the single-process verdict.
    let merged_dir = dir.path().join("merged");
    let merged = cutover(&[
        "verify",
        "--merge",
        group_dir.to_str().unwrap(),
        "--report-dir",
        merged_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        merged.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        stderr(&merged)
    );
    let merged_verdict = json(&merged_dir.join("verdict.json"));
    let counts: BTreeMap<String, u64> =
        serde_json::from_value(merged_verdict["counts"].clone()).unwrap();
    for class in ["lost", "duplicated", "moved-partition", "reordered"] {
        assert!(
            counts.get(class).is_some_and(|n| *n > 0),
            "{class}: {counts:?}"
        );
    }
    assert_eq!(
        without_duration(merged_verdict.clone()),
        without_duration(single_verdict),
        "merged and single-process verdicts differ"
    );
    let summary = String::from_utf8_lossy(&merged.stdout);
    assert!(summary.starts_with("FAIL"), "{summary}");
    for o in &outputs {
        println!("{}", String::from_utf8_lossy(&o.stdout).trim());
    }
    println!("{summary}");
    assert!(stderr(&merged).contains("merged 2 partial verdicts"));

    // Read-only: the group never committed an offset.
    let probe: BaseConsumer = config(&sb).set("group.id", "verify-g1").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for (topic, partitions) in TOPICS {
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
    }
    let committed = probe
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    for e in committed.elements() {
        assert_eq!(
            e.offset(),
            Offset::Invalid,
            "{}-{} has a committed offset",
            e.topic(),
            e.partition()
        );
    }

    // Bad merges are exit 2 with the partitions named.
    let one = cutover(&["verify", "--merge", partials[0].to_str().unwrap()]);
    assert_eq!(one.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        stderr(&one).contains("covered by no partial verdict"),
        "{}",
        stderr(&one)
    );
    let twice_dir = dir.path().join("twice");
    std::fs::create_dir_all(&twice_dir).unwrap();
    for (i, p) in partials.iter().chain(&partials[..1]).enumerate() {
        std::fs::copy(p, twice_dir.join(format!("partial-{i}.json"))).unwrap();
    }
    let twice = cutover(&["verify", "--merge", twice_dir.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        stderr(&twice).contains("is covered by both"),
        "{}",
        stderr(&twice)
    );
    let conflicting = cutover(&[
        "verify",
        "--merge",
        group_dir.to_str().unwrap(),
        "--source",
        &sp,
    ]);
    assert_eq!(
        conflicting.status.code(),
        Some(CutoverExitCode::ERROR),
        "{}",
        stderr(&conflicting)
    );
}

#[test]
fn group_and_merge_usage_errors_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = props_file(dir.path(), "c.properties", "127.0.0.1:1");
    let no_dir = cutover(&["verify", "--source", &p, "--target", &p, "--group", "g"]);
    assert_eq!(no_dir.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        stderr(&no_dir).contains("--report-dir"),
        "{}",
        stderr(&no_dir)
    );

    let empty = cutover(&["verify", "--merge", dir.path().to_str().unwrap()]);
    assert_eq!(empty.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        stderr(&empty).contains("holds no partial verdict"),
        "{}",
        stderr(&empty)
    );

    let missing = dir.path().join("partial-nope.json");
    let gone = cutover(&["verify", "--merge", missing.to_str().unwrap()]);
    assert_eq!(gone.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        stderr(&gone).contains("partial-nope.json"),
        "{}",
        stderr(&gone)
    );

    let neither = cutover(&["verify", "--topics", "x"]);
    assert_eq!(neither.status.code(), Some(CutoverExitCode::ERROR));
    assert!(
        stderr(&neither).contains("--source"),
        "{}",
        stderr(&neither)
    );
}
