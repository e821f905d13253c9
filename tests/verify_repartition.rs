//! `cutover verify` on real Kafka when partition numbers change: a source topic with 3
//! partitions copied into 5 target partitions by another partitioner passes with
//! `--no-preserve-partitions` (and is all moved-partition without it); a phantom record in
//! target partition 4 of a partition-keeping copy — a partition the source does not have — is
//! counted, with and without preserved partitions.

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
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

/// 600 keyed records with workload ids into `orders` (3 partitions, the client's partitioner).
async fn write_source(bootstrap: &str) -> u64 {
    let producer: FutureProducer = config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for seq in 0..600u64 {
        producer
            .send(
                FutureRecord::to("orders")
                    .key(&format!("customer-{}", seq % 53))
                    .payload(&format!("order {seq}"))
                    .headers(identity::identified(1, seq)),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }
    600
}

/// Copies every partition of `orders` into `target_topic`; `partition_of(source partition,
/// key)` picks the target partition. One idempotent producer: order per target partition
/// follows the read order, which keeps each source partition's order.
async fn copy(
    source: &str,
    target: &str,
    target_topic: &str,
    partition_of: impl Fn(i32, &[u8]) -> i32,
) -> BTreeMap<i32, u64> {
    let consumer: BaseConsumer = config(source)
        .set("group.id", "repartition-copier")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("orders", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let producer: FutureProducer = config(target)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let mut eof = 0;
    let mut pending = Vec::new();
    let mut per_partition = BTreeMap::new();
    while eof < 3 {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let key = m.key().unwrap_or_default();
                let q = partition_of(m.partition(), key);
                *per_partition.entry(q).or_insert(0u64) += 1;
                let mut record = FutureRecord::to(target_topic).partition(q).key(key);
                if let Some(v) = m.payload() {
                    record = record.payload(v);
                }
                if let Some(h) = m.headers() {
                    record = record.headers(h.detach());
                }
                pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
            }
            Some(Err(KafkaError::PartitionEOF(_))) => eof += 1,
            Some(Err(e)) => panic!("copier: {e}"),
            None => {}
        }
    }
    for f in pending {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    per_partition
}

fn props_file(dir: &Path, name: &str, bootstrap: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("bootstrap.servers={bootstrap}\n")).unwrap();
    path.display().to_string()
}

fn verify_cli(
    source: &str,
    target: &str,
    prefix: &str,
    preserve: bool,
    dir: &Path,
) -> (i32, String, serde_json::Value) {
    let report = dir.join(format!("{}{preserve}", prefix.trim_end_matches('.')));
    let mut cmd = Command::new(BIN);
    cmd.args([
        "verify", "--source", source, "--target", target, "--topics", "orders",
    ])
    .args(["--rename-prefix", prefix, "--report-dir"])
    .arg(&report);
    if !preserve {
        cmd.arg("--no-preserve-partitions");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = std::fs::read_to_string(report.join("verdict.json")).unwrap_or_else(|_| {
        panic!(
            "no verdict.json; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        stdout,
        serde_json::from_str(&text).unwrap(),
    )
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
async fn repartitioning_copies_and_phantoms_beyond_the_source_partitions() {
    let (source_spec, target_spec) = (ClusterSpec::new("rpsrc"), ClusterSpec::new("rptgt"));
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (source.unwrap(), target.unwrap());
    source
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("orders", 3, 1))
        .await
        .unwrap();
    let ta = target.admin().unwrap();
    for name in ["re.orders", "same.orders"] {
        ta.create_topic(&TopicSpec::new(name, 5, 1)).await.unwrap();
    }
    let written = write_source(&source.bootstrap_servers()).await;
    let (sb, tb) = (source.bootstrap_servers(), target.bootstrap_servers());

    // Another partitioner: FNV-1a of the key, modulo 5.
    let fnv = |_: i32, key: &[u8]| {
        let mut h: u32 = 0x811c_9dc5;
        for b in key {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
        (h % 5) as i32
    };
    let spread = copy(&sb, &tb, "re.orders", fnv).await;
    assert!(
        spread.keys().any(|q| *q >= 3),
        "some records land beyond partition 2: {spread:?}"
    );
    // Partition-keeping copy into 5 partitions, then one record in partition 4 that no source
    // partition has.
    copy(&sb, &tb, "same.orders", |p, _| p).await;
    let producer: FutureProducer = config(&tb).set("acks", "all").create().unwrap();
    producer
        .send(
            FutureRecord::to("same.orders")
                .partition(4)
                .key("ghost")
                .payload("in no source partition"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let sp = props_file(dir.path(), "source.properties", &sb);
    let tp = props_file(dir.path(), "target.properties", &tb);

    let (code, out, json) = verify_cli(&sp, &tp, "re.", false, dir.path());
    assert_eq!(code, CutoverExitCode::OK, "{out}");
    assert!(counts(&json).is_empty(), "{json}");
    assert_eq!(json["tally"]["source_records"], written);
    assert_eq!(json["tally"]["target_records"], written);
    assert_eq!(json["tally"]["matched"], written);
    assert_eq!(json["promises"]["partitions"], false);

    // Held to preserved partitions, the same copy moved every record that changed partition.
    let moved: u64 = {
        let (code, out, json) = verify_cli(&sp, &tp, "re.", true, dir.path());
        assert_eq!(code, CutoverExitCode::FAILED, "{out}");
        let c = counts(&json);
        assert!(c.get("moved-partition").copied().unwrap_or(0) > 0, "{json}");
        c.values().sum()
    };
    assert!(moved > 0);

    for preserve in [true, false] {
        let (code, out, json) = verify_cli(&sp, &tp, "same.", preserve, dir.path());
        assert_eq!(code, CutoverExitCode::FAILED, "preserve {preserve}: {out}");
        assert_eq!(
            counts(&json),
            BTreeMap::from([("phantom".to_string(), 1)]),
            "preserve {preserve}: {out}"
        );
        let example = &json["topics"][0]["examples"][0];
        assert_eq!(example["class"], "phantom", "{example}");
        assert_eq!(example["target"][0]["partition"], 4, "{example}");
        assert_eq!(example["key_preview"], "ghost", "{example}");
        assert_eq!(json["tally"]["target_records"], written + 1);
    }
}
