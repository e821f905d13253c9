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
        let mut g = RecordGenerator::new(seed, 3, 4, 6, &spec, 0.05);
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
                out.push((m.offset(), fp));
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
    let c: BaseConsumer = props
        .to_rdkafka()
        .unwrap()
        .set("group.id", "lso-probe")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    c.fetch_watermarks("held", 0, Duration::from_secs(10))
        .unwrap()
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
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, lso1) = watermarks(&props, "read_committed");
    let (_, hw1) = watermarks(&props, "read_uncommitted");
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
