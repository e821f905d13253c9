//! The consumer-group cutover check on real clusters, held to offsets set by hand: a target
//! position that is exact, one that skips records, one that re-reads records, one that lands
//! on the wrong record, and a partition with no offset on the target. Each is counted exactly.

use std::time::Duration;

use harness::ClusterSpec;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use verify::FingerprintOptions;

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

/// 50 records per partition; `odd` replaces the value at offset 20 of that partition.
async fn write(bootstrap: &str, topic: &str, odd: Option<i32>) {
    let producer: FutureProducer = config(bootstrap).set("acks", "all").create().unwrap();
    for p in 0..6 {
        for i in 0..50 {
            let key = format!("k{i}");
            let value = if odd == Some(p) && i == 20 {
                "not the copy".to_string()
            } else {
                format!("{p} {i}")
            };
            producer
                .send(
                    FutureRecord::to(topic)
                        .partition(p)
                        .key(&key)
                        .payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn commit(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_group_resumes_on_the_target_is_counted_exactly() {
    let (s, t) = (ClusterSpec::new("gcsrc"), ClusterSpec::new("gctgt"));
    let (source, target) = tokio::join!(harness::start(&s), harness::start(&t));
    let (source, target) = (source.unwrap(), target.unwrap());
    let (sb, tb) = (source.bootstrap_servers(), target.bootstrap_servers());
    for (c, name) in [(&source, "events"), (&target, "copy.events")] {
        c.admin()
            .unwrap()
            .create_topic(&harness::TopicSpec::new(name, 6, 1))
            .await
            .unwrap();
    }
    write(&sb, "events", None).await;
    write(&tb, "copy.events", Some(5)).await;
    // Source positions: 20 everywhere. Target: exact, 3 ahead (skips 3), 4 behind (re-reads 4),
    // at the end of the partition (skips 30), nothing for partition 4, and partition 5 on a
    // record that is not the copy (same tail length).
    let all: Vec<(i32, i64)> = (0..6).map(|p| (p, 20)).collect();
    commit(&sb, "app", "events", &all);
    commit(
        &tb,
        "app",
        "copy.events",
        &[(0, 20), (1, 23), (2, 16), (3, 50), (5, 20)],
    );
    let (sp, tp) = (source.client_props(), target.client_props());
    let cut = tokio::task::spawn_blocking(move || {
        scenarios::groups::check(
            "app",
            &sp,
            &tp,
            &[("events".to_string(), "copy.events".to_string())],
            &FingerprintOptions::default(),
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(cut.partitions, 6, "{cut:?}");
    assert_eq!(cut.untranslated, 1, "{cut:?}");
    assert_eq!(cut.skipped, 3 + 30, "{cut:?}");
    assert_eq!(cut.reread, 4, "{cut:?}");
    assert_eq!(cut.misplaced, 1, "{cut:?}");
    assert!(!cut.exact());
    assert_eq!(cut.examples.len(), 5, "{:#?}", cut.examples);
    assert!(cut
        .examples
        .iter()
        .any(|e| e.starts_with("events-4") && e.contains("no committed offset")));
}
