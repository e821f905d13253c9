//! The workload generator: reproducible from a seed, specs validated with the field named, and
//! on a real cluster the intent ledger equals what the broker holds; upstream duplicates are
//! what was asked; a hanging transaction holds the last stable offset.

use std::sync::Arc;
use std::time::Duration;

use harness::{ClientProps, ClusterSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use workload::spec::RecordSpec;
use workload::{Fate, RecordGenerator, RunOptions, WorkloadSpec};

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let spec = RecordSpec {
        headers: 2,
        tombstone_ratio: 0.1,
        ..RecordSpec::default()
    };
    let stream = |seed: u64| -> Vec<[u8; 32]> {
        let mut g = RecordGenerator::new(seed, 3, 4, &spec, 0.05);
        (0..2000)
            .map(|_| g.next_record(1_000).fingerprint())
            .collect()
    };
    assert_eq!(stream(42), stream(42));
    assert_ne!(stream(42), stream(43));
}

fn spec_error(toml: &str) -> String {
    WorkloadSpec::from_toml(toml, "w.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn invalid_specs_fail_before_anything_is_written_naming_the_field() {
    let err = spec_error("records = 10\n[topics]\npartitions = 0\n");
    assert!(
        err.contains("w.toml:3") && err.contains("topics.partitions"),
        "{err}"
    );
    let err = spec_error(
        "records = 10\n[topics]\ncount = 1\n[[producer]]\ntransactions = { abort_ratio = 1.5 }\n",
    );
    assert!(
        err.contains("producer[0].transactions.abort_ratio") && err.contains("1.5"),
        "{err}"
    );
    let err = spec_error("records = 10\n[topics]\n[record]\nkeys = { kind = \"gaussian\" }\n");
    assert!(
        err.contains("w.toml:4") && err.contains("gaussian"),
        "{err}"
    );
    let err = spec_error(
        "records = 10\n[topics]\nconfigs = { \"max.message.bytes\" = \"1000\" }\n[record]\nvalue_size = 5000\n",
    );
    assert!(
        err.contains("record.value_size") && err.contains("max.message.bytes 1000"),
        "{err}"
    );
    let err = spec_error("[topics]\n");
    assert!(
        err.contains("records") && err.contains("duration_secs"),
        "{err}"
    );
    let err = spec_error("records = 1\n[topics]\nbogus = 1\n");
    assert!(err.contains("w.toml:3") && err.contains("bogus"), "{err}");
}

fn read_fps(
    props: &ClientProps,
    topic: &str,
    partition: i32,
    isolation: &str,
) -> Vec<(i64, [u8; 32])> {
    read_records(props, topic, partition, isolation)
        .into_iter()
        .map(|(offset, fp, _)| (offset, fp))
        .collect()
}

/// (offset, fingerprint, key) of every record of a partition.
#[allow(clippy::type_complexity)]
fn read_records(
    props: &ClientProps,
    topic: &str,
    partition: i32,
    isolation: &str,
) -> Vec<(i64, [u8; 32], Option<Vec<u8>>)> {
    let consumer: BaseConsumer = props
        .to_rdkafka()
        .unwrap()
        .set("group.id", "workload-test")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    loop {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                let headers: Vec<(&str, Option<&[u8]>)> = m
                    .headers()
                    .map(|h| h.iter().map(|x| (x.key, x.value)).collect())
                    .unwrap_or_default();
                let fp = verify::fingerprint(
                    &verify::RecordView {
                        key: m.key(),
                        value: m.payload(),
                        headers: &headers,
                        timestamp: None,
                    },
                    &verify::FingerprintOptions::default(),
                );
                out.push((m.offset(), fp, m.key().map(<[u8]>::to_vec)));
            }
            Some(Err(KafkaError::PartitionEOF(_))) => return out,
            Some(Err(e)) => panic!("{e}"),
            None => panic!("no end of {topic}-{partition} in 10 s"),
        }
    }
}

const MIXED: &str = r#"
seed = 7
records = 3000

[topics]
names = ["orders", "payments"]
partitions = 3

[record]
keys = { kind = "zipf", count = 200, exponent = 1.1 }
value_size = { min = 20, max = 200 }
headers = 1
tombstone_ratio = 0.02
timestamps = { out_of_order_ratio = 0.05, far_past_ratio = 0.01 }

[[producer]]
idempotent = true

[[producer]]
idempotent = false
acks = "1"
upstream_duplicate_ratio = 0.1

[[producer]]
transactions = { records_per_txn = 10, abort_ratio = 0.3 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intent_ledger_matches_what_the_broker_holds() {
    let cluster = harness::start(&ClusterSpec::new("wl")).await.unwrap();
    let props = cluster.client_props();
    let spec = WorkloadSpec::from_toml(MIXED, "mixed.toml").unwrap();
    let report = workload::run(&spec, &props, RunOptions::default())
        .await
        .unwrap();
    let totals = format!(
        "generated {} sent {} committed {} aborted {} upstream {} failed {}",
        report.generated,
        report.counts.sent,
        report.counts.committed,
        report.counts.aborted,
        report.counts.upstream_duplicates,
        report.counts.failed
    );
    assert_eq!(report.generated, 3000, "{totals}");
    assert_eq!(report.counts.failed, 0, "{totals}");
    assert!(
        report.counts.aborted > 0 && report.counts.upstream_duplicates > 0,
        "{totals}"
    );

    let mut committed_total = 0;
    for topic in ["orders", "payments"] {
        for p in 0..3 {
            let ledger = report.ledger.get(topic, p).cloned().unwrap_or_default();
            let mut expected: Vec<(i64, [u8; 32])> = ledger
                .records
                .iter()
                .filter(|r| r.2 == Fate::Committed)
                .map(|r| (r.0, r.1))
                .collect();
            expected.sort();
            let got = read_fps(&props, topic, p, "read_committed");
            assert!(
                got == expected,
                "{topic}-{p}: committed view ({}) differs from the ledger ({})",
                got.len(),
                expected.len()
            );
            committed_total += got.len();
            let uncommitted = read_fps(&props, topic, p, "read_uncommitted");
            let aborted: Vec<(i64, [u8; 32])> = ledger
                .records
                .iter()
                .filter(|r| r.2 == Fate::Aborted)
                .map(|r| (r.0, r.1))
                .collect();
            for a in &aborted {
                assert!(
                    uncommitted.contains(a),
                    "aborted record visible read_uncommitted"
                );
                assert!(!got.contains(a), "aborted record hidden read_committed");
            }
        }
    }
    assert_eq!(committed_total as u64, report.counts.committed);

    // About a tenth of the non-idempotent producer's records are sent twice.
    let dup_producer_records = report.generated as f64 / 3.0;
    let ratio = report.counts.upstream_duplicates as f64 / dup_producer_records;
    assert!(
        (0.05..0.17).contains(&ratio),
        "upstream duplicate ratio {ratio}"
    );

    // The checker sees them as upstream duplicates, not replication duplicates.
    let options = verify::VerifyOptions {
        topics: "orders|payments".into(),
        ..Default::default()
    };
    let verdict = verify::verify(&props, &props, &options, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(verdict.counts.total(), 0, "{:?}", verdict.counts);
    assert_eq!(
        verdict.tally.upstream_duplicates,
        report.counts.upstream_duplicates
    );
    assert_eq!(verdict.tally.source_aborted, report.counts.aborted);
    assert_eq!(verdict.tally.source_records, report.counts.committed);
}

fn watermarks(props: &ClientProps, isolation: &str) -> (i64, i64) {
    try_watermarks(props, isolation).unwrap()
}

/// Watermarks of `held`-0, or why not (the topic may not exist yet).
fn try_watermarks(
    props: &ClientProps,
    isolation: &str,
) -> Result<(i64, i64), rdkafka::error::KafkaError> {
    let c: BaseConsumer = props
        .to_rdkafka()
        .unwrap()
        .set("group.id", "lso-probe")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    c.fetch_watermarks("held", 0, Duration::from_secs(10))
}

async fn hanging_transaction_holds_the_lso(end: &str, hold_secs: u32, run_secs: u32) {
    // The coordinator looks for timed-out transactions every second instead of every 10 s.
    let spec = ClusterSpec::new(format!("hang-{end}")).broker_config(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "1000",
    );
    let cluster = harness::start(&spec).await.unwrap();
    let props = cluster.client_props();
    let spec = WorkloadSpec::from_toml(
        &format!(
            r#"
        seed = 1
        duration_secs = {run_secs}
        [topics]
        names = ["held"]
        [record]
        keys = {{ kind = "none" }}
        [[producer]]
        rate = {{ records_per_sec = 200 }}
        hanging = {{ after_secs = 0.5, hold_secs = {hold_secs}, records = 3, end = "{end}" }}
        "#
        ),
        "hang.toml",
    )
    .unwrap();
    let run = {
        let (spec, props) = (spec.clone(), props.clone());
        tokio::spawn(async move { workload::run(&spec, &props, RunOptions::default()).await })
    };
    // Wait until the transaction is open (the workload's clock starts once its producers are
    // ready, later on a loaded machine), then watch the LSO for 2 s of its 6 s hold.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (lso1, hw1) = loop {
        // The workload creates the topic when it starts. The high watermark is read first:
        // a last stable offset read after it and still below it is held by an open
        // transaction (read the other way round, records produced in between look like one).
        if let (Ok((_, hw)), Ok((_, lso))) = (
            try_watermarks(&props, "read_uncommitted"),
            try_watermarks(&props, "read_committed"),
        ) {
            if lso < hw || std::time::Instant::now() > deadline {
                break (lso, hw);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{end}: no topic `held`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, lso2) = watermarks(&props, "read_committed");
    let (_, hw2) = watermarks(&props, "read_uncommitted");
    assert!(
        lso1 < hw1,
        "{end}: the open transaction holds the LSO below the high watermark ({lso1} vs {hw1})"
    );
    assert_eq!(
        lso1, lso2,
        "{end}: the LSO does not move while the transaction is open"
    );
    assert!(hw2 > hw1 + 100, "{end}: producing goes on ({hw1} -> {hw2})");

    let report = run.await.unwrap().unwrap();
    assert_eq!(report.hanging.len(), 1);
    let window = &report.hanging[0];
    assert!(
        window.ended_at_secs - window.opened_at_secs >= f64::from(hold_secs) - 0.5,
        "{end}: {window:?}"
    );
    let (_, lso3) = watermarks(&props, "read_committed");
    let (_, hw3) = watermarks(&props, "read_uncommitted");
    assert_eq!(lso3, hw3, "{end}: once ended, the LSO catches up");
    assert_eq!(report.ledger.totals().aborted, 3);
    let committed = read_fps(&props, "held", 0, "read_committed").len() as u64;
    assert_eq!(
        committed, report.counts.committed,
        "{end}: none of the hanging records is visible"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_transaction_holds_the_lso_until_aborted() {
    hanging_transaction_holds_the_lso("abort", 6, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_transaction_holds_the_lso_until_fenced() {
    hanging_transaction_holds_the_lso("fence", 6, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_transaction_holds_the_lso_until_it_times_out() {
    hanging_transaction_holds_the_lso("timeout", 6, 9).await;
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), the hash Java's default
/// partitioner takes of a key: partition = (hash & 0x7fffffff) % partition count.
fn murmur2(data: &[u8]) -> i32 {
    let m: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(m);
        k ^= k >> 24;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

#[test]
fn murmur2_is_the_java_clients_hash() {
    // Kafka's UtilsTest.testMurmur2.
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
    assert_eq!(murmur2(b"abc"), 479_470_107);
}

fn growing_spec(topic: &str, keys: &str, producer: &str) -> WorkloadSpec {
    WorkloadSpec::from_toml(
        &format!(
            r#"
        seed = 3
        duration_secs = 8
        [topics]
        names = ["{topic}"]
        partitions = 2
        [record]
        keys = {keys}
        value_size = {{ min = 10, max = 50 }}
        [[producer]]
        rate = {{ records_per_sec = 300 }}
        {producer}
        "#
        ),
        "grow.toml",
    )
    .unwrap()
}

/// A topic grows from 2 to 4 partitions while the workload writes: keyed records re-hash over
/// the new count (Java's partitioner: murmur2 of the key), unkeyed ones spread over every
/// partition, and the ledger counts each record on the partition it was delivered to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_follow_a_topic_that_grows() {
    let cluster = harness::start(&ClusterSpec::new("grow")).await.unwrap();
    let props = cluster.client_props();
    let keyed = growing_spec(
        "grows-keyed",
        r#"{ kind = "uniform", count = 300 }"#,
        "transactions = { records_per_txn = 20, abort_ratio = 0.2 }",
    );
    let unkeyed = growing_spec("grows-unkeyed", r#"{ kind = "none" }"#, "idempotent = true");
    let runs: Vec<_> = [keyed, unkeyed]
        .into_iter()
        .map(|spec| {
            let props = props.clone();
            tokio::spawn(async move { workload::run(&spec, &props, RunOptions::default()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let admin = cluster.admin().unwrap();
    for topic in ["grows-keyed", "grows-unkeyed"] {
        admin.add_partitions(topic, 4).await.unwrap();
    }
    let mut reports = Vec::new();
    for r in runs {
        reports.push(r.await.unwrap().unwrap());
    }
    for (topic, report) in ["grows-keyed", "grows-unkeyed"].into_iter().zip(&reports) {
        assert_eq!(report.counts.failed, 0);
        let mut committed = 0;
        for p in 0..4 {
            let ledger = report.ledger.get(topic, p).cloned().unwrap_or_default();
            let mut expected: Vec<(i64, [u8; 32])> = ledger
                .records
                .iter()
                .filter(|r| r.2 == Fate::Committed)
                .map(|r| (r.0, r.1))
                .collect();
            expected.sort();
            let got = read_records(&props, topic, p, "read_committed");
            let fps: Vec<(i64, [u8; 32])> = got.iter().map(|r| (r.0, r.1)).collect();
            assert!(
                fps == expected,
                "{topic}-{p}: the broker holds {} committed records, the ledger says {}",
                fps.len(),
                expected.len()
            );
            if p >= 2 {
                assert!(!got.is_empty(), "{topic}-{p}: nothing on a new partition");
            }
            for (offset, _, key) in &got {
                if let Some(k) = key {
                    let (before, after) = (java_partition(k, 2), java_partition(k, 4));
                    assert!(
                        p == before || p == after,
                        "{topic}-{p}@{offset}: key hashes to {before} of 2 or {after} of 4"
                    );
                }
            }
            committed += got.len() as u64;
        }
        assert_eq!(committed, report.counts.committed, "{topic}");
        assert!(report.ledger.get(topic, 4).is_none());
    }
}
