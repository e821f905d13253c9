//! Key previews of the report's examples cost bounded time whatever their number: a failing
//! copy of many topics (every record lost) gets a preview on every example, read in one
//! multi-partition fetch per side instead of one consumer assignment and poll per example
//! (which made a failing seed-scale verification several times slower than a passing one).
//! The time is printed beside a passing check of the same topics (a figure, not an assert).

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{ClientProps, ClusterSpec, TopicSpec};
use rdkafka::producer::{FutureProducer, FutureRecord};
use verify::{AnomalyClass, Rename, Status, VerifyOptions};

const TOPICS: usize = 30;
const PARTITIONS: i32 = 2;
const RECORDS: usize = 12;

async fn produce(props: &ClientProps, topic: &str) {
    let p: FutureProducer = props
        .to_rdkafka()
        .unwrap()
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let sends: Vec<_> = (0..RECORDS)
        .map(|i| {
            let key = format!("{topic}-key-{i}");
            let value = format!("v{i}");
            let p = p.clone();
            async move {
                p.send(
                    FutureRecord::to(topic)
                        .key(&key)
                        .payload(&value)
                        .partition((i % PARTITIONS as usize) as i32),
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
            }
        })
        .collect();
    futures_join(sends).await;
}

async fn futures_join(futs: Vec<impl std::future::Future<Output = ()>>) {
    for f in futs {
        f.await;
    }
}

fn options(prefix: &str) -> VerifyOptions {
    VerifyOptions {
        topics: "many\\..*".into(),
        rename: Rename {
            prefix: prefix.into(),
            ..Rename::default()
        },
        ..VerifyOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_a_many_topic_failure_has_its_key() {
    let cluster = harness::start(&ClusterSpec::new("previews")).await.unwrap();
    let props = cluster.client_props();
    let admin = cluster.admin().unwrap();
    let mut specs = Vec::new();
    for t in 0..TOPICS {
        for name in [
            format!("many.{t}"),
            format!("empty.many.{t}"),
            format!("full.many.{t}"),
        ] {
            specs.push(TopicSpec::new(name, PARTITIONS, 1));
        }
    }
    admin.create_topics(&specs, false).await.unwrap();
    for t in 0..TOPICS {
        produce(&props, &format!("many.{t}")).await;
        // A faithful copy under `full.`, none under `empty.`.
        produce_copy(&props, &format!("many.{t}"), &format!("full.many.{t}")).await;
    }
    let none = Arc::new(|_| {});

    let started = Instant::now();
    let pass = verify::verify(&props, &props, &options("full."), none.clone())
        .await
        .unwrap();
    let pass_secs = started.elapsed().as_secs_f64();
    assert_eq!(pass.status, Status::Pass, "{:?}", pass.counts);

    let started = Instant::now();
    let fail = verify::verify(&props, &props, &options("empty."), none)
        .await
        .unwrap();
    let fail_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        fail.counts.get(AnomalyClass::Lost),
        (TOPICS * RECORDS) as u64,
        "{:?}",
        fail.counts
    );
    let examples: Vec<_> = fail.topics.iter().flat_map(|t| &t.examples).collect();
    assert!(examples.len() >= TOPICS, "{} examples", examples.len());
    for e in &examples {
        let source = e.source.as_ref().expect("a lost record's source position");
        let key = e.key_preview.as_deref().unwrap_or("(none)");
        assert!(
            key.starts_with(&format!("{}-key-", source.topic)),
            "{}-{}@{}: preview {key}",
            source.topic,
            source.partition,
            source.offset
        );
    }
    println!(
        "{} topics × {PARTITIONS} partitions: passing check {pass_secs:.1} s, failing check with {} previews {fail_secs:.1} s (ratio {:.2})",
        TOPICS,
        examples.len(),
        fail_secs / pass_secs
    );
}

/// Copies every record of `from` to `to`, same partition, same key and value.
async fn produce_copy(props: &ClientProps, from: &str, to: &str) {
    let p: FutureProducer = props
        .to_rdkafka()
        .unwrap()
        .set("acks", "all")
        .create()
        .unwrap();
    for i in 0..RECORDS {
        let key = format!("{from}-key-{i}");
        let value = format!("v{i}");
        p.send(
            FutureRecord::to(to)
                .key(&key)
                .payload(&value)
                .partition((i % PARTITIONS as usize) as i32),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    }
}
