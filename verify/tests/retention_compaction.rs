//! Real topics lose records on their own: records expired at the source, records the target's
//! retention removed, compacted topics. On real brokers the checker must not call these lost or
//! phantom, and must still catch a compacted topic whose latest value of a key differs.

use std::sync::Arc;
use std::time::Duration;

use harness::{ClientProps, ClusterSpec, TopicSpec};
use rdkafka::producer::{FutureProducer, FutureRecord};
use verify::{AnomalyClass, Rename, Status, VerifyOptions};

async fn produce(props: &ClientProps, topic: &str, records: &[(String, Option<String>)]) {
    let p: FutureProducer = props
        .to_rdkafka()
        .unwrap()
        .set("acks", "all")
        .create()
        .unwrap();
    for (k, v) in records {
        let mut r = FutureRecord::to(topic).key(k.as_str());
        if let Some(v) = v {
            r = r.payload(v.as_str());
        }
        p.send(r, Duration::from_secs(30)).await.unwrap();
    }
}

fn options(topic: &str) -> VerifyOptions {
    VerifyOptions {
        topics: topic.into(),
        rename: Rename {
            prefix: "copy.".into(),
            ..Rename::default()
        },
        ..VerifyOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_records_are_not_called_phantom_or_lost() {
    let cluster = harness::start(&ClusterSpec::new("retention"))
        .await
        .unwrap();
    let props = cluster.client_props();
    let admin = cluster.admin().unwrap();
    for t in ["events", "copy.events"] {
        admin.create_topic(&TopicSpec::new(t, 1, 1)).await.unwrap();
    }
    let records: Vec<(String, Option<String>)> = (0..50)
        .map(|i| (format!("k{i}"), Some(format!("v{i}"))))
        .collect();
    produce(&props, "events", &records).await;
    produce(&props, "copy.events", &records).await;
    let none = Arc::new(|_| {});

    // The source's retention removed its first 10 records after they were copied.
    assert_eq!(
        admin.delete_records_before("events", 0, 10).await.unwrap(),
        10
    );
    let v = verify::verify(&props, &props, &options("events"), none.clone())
        .await
        .unwrap();
    assert_eq!(v.status, Status::Pass, "{:?}", v.counts);
    assert_eq!(v.tally.unverifiable_expired, 10);

    // The target's retention removed its first 15: lost, unless expiry is allowed.
    admin
        .delete_records_before("copy.events", 0, 15)
        .await
        .unwrap();
    let v = verify::verify(&props, &props, &options("events"), none.clone())
        .await
        .unwrap();
    assert_eq!(v.counts.get(AnomalyClass::Lost), 5, "{:?}", v.counts);
    let allowed = VerifyOptions {
        allow_expiry: true,
        ..options("events")
    };
    let v = verify::verify(&props, &props, &allowed, none)
        .await
        .unwrap();
    assert_eq!(v.status, Status::Pass, "{:?}", v.counts);
    assert_eq!(v.tally.expired_allowed, 5);
}

fn history() -> Vec<(String, Option<String>)> {
    // Three versions of each of ten keys, then a tombstone for k9.
    let mut history: Vec<(String, Option<String>)> = Vec::new();
    for version in 0..3 {
        for k in 0..10 {
            history.push((format!("k{k}"), Some(format!("v{version}"))));
        }
    }
    history.push(("k9".into(), None));
    history
}

/// A copy that kept only the latest value of each key, as the target's cleaner would leave it,
/// on clusters cutover cannot see into: every older value and the tombstone is
/// `unverifiable_compacted`, not lost; a key whose latest value differs is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_topics_are_judged_by_the_latest_value_per_key() {
    let cluster = harness::start(&ClusterSpec::new("compaction"))
        .await
        .unwrap();
    let props = cluster.client_props();
    let admin = cluster.admin().unwrap();
    for t in ["profiles", "copy.profiles", "bad", "copy.bad"] {
        admin
            .create_topic(&TopicSpec::new(t, 1, 1).config("cleanup.policy", "compact"))
            .await
            .unwrap();
    }
    let history = history();
    produce(&props, "profiles", &history).await;
    produce(&props, "bad", &history).await;
    // A compacted copy: only the latest value of each key survives (k9's tombstone is gone).
    let latest: Vec<(String, Option<String>)> = (0..9)
        .map(|k| (format!("k{k}"), Some("v2".to_string())))
        .collect();
    produce(&props, "copy.profiles", &latest).await;
    let mut wrong = latest.clone();
    wrong[3].1 = Some("v1".into());
    produce(&props, "copy.bad", &wrong).await;

    let none = Arc::new(|_| {});
    let v = verify::verify(&props, &props, &options("profiles"), none.clone())
        .await
        .unwrap();
    assert_eq!(v.status, Status::Pass, "{:?}", v.counts);
    // 18 older values of k0..k8, k9's three values and its tombstone.
    assert_eq!(v.tally.unverifiable_compacted, 22, "{:?}", v.tally);
    assert_eq!(v.tally.matched, 9, "{:?}", v.tally);
    let topic = &v.topics[0];
    assert!(
        topic.warnings.iter().any(|w| w.contains("compacted")),
        "{:?}",
        topic.warnings
    );

    // k3's latest value (v2) never reached the target: lost, and the key diverges.
    let v = verify::verify(&props, &props, &options("bad"), none)
        .await
        .unwrap();
    assert_eq!(v.status, Status::Fail);
    assert_eq!(
        v.counts.get(AnomalyClass::CompactionDivergent),
        1,
        "{:?}",
        v.counts
    );
    assert_eq!(v.counts.get(AnomalyClass::Lost), 1, "{:?}", v.counts);
}

/// A copier that keeps every key's latest value but loses older ones and writes an older one
/// twice. Before, record-level counts on a compacted topic were "inconclusive" for the whole
/// topic and the run passed. Now, where cutover sees that no cleaner ran on the target
/// (clusters it started: the brokers' `cleaner-offset-checkpoint`), a missing older value is
/// lost; where it cannot see, it is `unverifiable_compacted`; the duplicate is caught either
/// way. Once the target's cleaner has really run, the older values it removed are excused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_topics_judge_every_record_a_cleaner_did_not_remove() {
    let cluster = harness::start(
        &ClusterSpec::new("compaction-cleaner").broker_config("log.cleaner.backoff.ms", "500"),
    )
    .await
    .unwrap();
    let props = cluster.client_props();
    let admin = cluster.admin().unwrap();
    let cleaners = verify::Cleaners {
        source: cluster.log_dirs(),
        target: cluster.log_dirs(),
    };
    assert!(
        cleaners.target.is_some(),
        "a cluster cutover started has log dirs"
    );
    for t in ["accounts", "copy.accounts"] {
        admin
            .create_topic(&TopicSpec::new(t, 1, 1).config("cleanup.policy", "compact"))
            .await
            .unwrap();
    }
    let history = history();
    produce(&props, "accounts", &history).await;
    // The copy: k0 v0 and k1 v1 lost, k2 v0 written twice, every latest value right.
    let mut copy = Vec::new();
    for (k, v) in &history {
        if (k == "k0" && v.as_deref() == Some("v0")) || (k == "k1" && v.as_deref() == Some("v1")) {
            continue;
        }
        copy.push((k.clone(), v.clone()));
        if k == "k2" && v.as_deref() == Some("v0") {
            copy.push((k.clone(), v.clone()));
        }
    }
    produce(&props, "copy.accounts", &copy).await;
    let none = Arc::new(|_| {});

    let seen = VerifyOptions {
        cleaners: cleaners.clone(),
        ..options("accounts")
    };
    let v = verify::verify(&props, &props, &seen, none.clone())
        .await
        .unwrap();
    assert_eq!(v.status, Status::Fail);
    assert_eq!(v.counts.get(AnomalyClass::Lost), 2, "{:?}", v.counts);
    assert_eq!(v.counts.get(AnomalyClass::Duplicated), 1, "{:?}", v.counts);
    assert_eq!(v.counts.total(), 3, "{:?}", v.counts);
    assert_eq!(v.tally.unverifiable_compacted, 0, "{:?}", v.tally);

    // Clusters cutover cannot see into: the lost older values may be the target cleaner's work.
    let v = verify::verify(&props, &props, &options("accounts"), none.clone())
        .await
        .unwrap();
    assert_eq!(v.counts.get(AnomalyClass::Lost), 0, "{:?}", v.counts);
    assert_eq!(v.counts.get(AnomalyClass::Duplicated), 1, "{:?}", v.counts);
    assert_eq!(v.tally.unverifiable_compacted, 2, "{:?}", v.tally);

    // A faithful copy, then the target's cleaner really runs over exactly the first 30 records:
    // `segment.ms` turns short only once they are all in one segment (set from the start, a slow
    // produce rolled mid-way and the cleaner cleaned a prefix), so the segment rolls when the
    // tombstone arrives after a pause, and any dirty ratio is enough.
    admin
        .create_topic(&TopicSpec::new("ledger", 1, 1).config("cleanup.policy", "compact"))
        .await
        .unwrap();
    let ledger_copy: std::collections::BTreeMap<String, String> = [
        ("cleanup.policy", "compact"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("min.compaction.lag.ms", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut spec = TopicSpec::new("copy.ledger", 1, 1);
    for (k, v) in &ledger_copy {
        spec = spec.config(k.as_str(), v.as_str());
    }
    admin.create_topic(&spec).await.unwrap();
    produce(&props, "ledger", &history).await;
    produce(&props, "copy.ledger", &history[..30]).await;
    let mut short = ledger_copy.clone();
    short.insert("segment.ms".into(), "100".into());
    admin
        .alter_topic_configs("copy.ledger", &short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    produce(&props, "copy.ledger", &history[30..]).await;
    let dirs = cleaners.target.clone().unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !harness::cleaner::cleaned(&dirs, "copy.ledger", &[0]).unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the target's log cleaner did not clean copy.ledger within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = VerifyOptions {
        cleaners,
        ..options("ledger")
    };
    let v = verify::verify(&props, &props, &seen, none).await.unwrap();
    assert_eq!(v.status, Status::Pass, "{:?}", v.counts);
    // The cleaned segment held v0..v2 of ten keys; it kept each key's v2.
    assert_eq!(v.tally.unverifiable_compacted, 20, "{:?}", v.tally);
    assert_eq!(v.tally.matched, 11, "{:?}", v.tally);
}

/// Retention excuses no more than it removed. A copier that never copied the first 20 records
/// while the target's retention removed 3, or that wrote 10 records of its own before the copy
/// while the source expired 2: before, every record ahead of the first match was excused
/// (`--allow-expiry` made 23 lost records "expired", and any source log start hid all 10
/// phantoms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_excuses_no_more_records_than_the_log_start_removed() {
    let cluster = harness::start(&ClusterSpec::new("retention-bound"))
        .await
        .unwrap();
    let props = cluster.client_props();
    let admin = cluster.admin().unwrap();
    for t in ["orders", "copy.orders", "ticks", "copy.ticks"] {
        admin.create_topic(&TopicSpec::new(t, 1, 1)).await.unwrap();
    }
    let records: Vec<(String, Option<String>)> = (0..50)
        .map(|i| (format!("k{i}"), Some(format!("v{i}"))))
        .collect();
    produce(&props, "orders", &records).await;
    produce(&props, "copy.orders", &records[20..]).await;
    // The target's retention removed 3 copies (of records 20..22).
    admin
        .delete_records_before("copy.orders", 0, 3)
        .await
        .unwrap();
    let none = Arc::new(|_| {});
    let allowed = VerifyOptions {
        allow_expiry: true,
        ..options("orders")
    };
    let v = verify::verify(&props, &props, &allowed, none.clone())
        .await
        .unwrap();
    assert_eq!(v.tally.expired_allowed, 3, "{:?}", v.tally);
    assert_eq!(v.counts.get(AnomalyClass::Lost), 20, "{:?}", v.counts);
    assert_eq!(v.status, Status::Fail);

    // Phantoms: 10 records that never existed ahead of the copy; the source expired 2.
    let phantoms: Vec<(String, Option<String>)> = (0..10)
        .map(|i| (format!("ghost{i}"), Some("boo".to_string())))
        .collect();
    produce(&props, "ticks", &records).await;
    produce(&props, "copy.ticks", &phantoms).await;
    produce(&props, "copy.ticks", &records[2..]).await;
    admin.delete_records_before("ticks", 0, 2).await.unwrap();
    let v = verify::verify(&props, &props, &options("ticks"), none)
        .await
        .unwrap();
    assert_eq!(v.tally.unverifiable_expired, 2, "{:?}", v.tally);
    assert_eq!(v.counts.get(AnomalyClass::Phantom), 8, "{:?}", v.counts);
}
