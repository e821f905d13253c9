//! Real Kafka brokers, started by the process backend: round trips, transactions, a broker
//! killed under an acks=all producer, two versions side by side, and bad input.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use harness::{ClusterSpec, HarnessError, KafkaVersion, TopicSpec};
use rdkafka::producer::{FutureRecord, Producer};

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broker_cluster_round_trips_records() {
    let cluster = harness::start(&ClusterSpec::new("one"))
        .await
        .expect("cluster starts");
    assert_eq!(cluster.brokers().len(), 1);
    assert!(cluster.brokers()[0].running);
    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("orders", 3, 1).config("cleanup.policy", "delete"))
        .await
        .unwrap();
    let desc = admin.describe_topic("orders").await.unwrap();
    assert_eq!(desc.partitions.len(), 3);

    let sent = values("order", 300);
    produce_all(&cluster.client_props(), "orders", &sent).await;
    let read = read_all(&cluster.client_props(), "orders", "read_committed");
    let got: BTreeSet<String> = read.iter().map(Read::value_str).collect();
    assert_eq!(got, sent.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(read.len(), sent.len(), "no duplicates");
    // Every partition's end offset in one request, equal to its high watermark (a topic that
    // does not exist is left out); many topics created in one batched call.
    let reader: rdkafka::consumer::BaseConsumer = cluster
        .client_props()
        .to_rdkafka()
        .unwrap()
        .set("group.id", "ends")
        .create()
        .unwrap();
    let ends = harness::watermarks::end_offsets(
        &reader,
        &["orders".to_string(), "missing".to_string()],
        Duration::from_secs(10),
    );
    assert_eq!(ends.len(), 3, "{ends:?}");
    for p in 0..3 {
        let (_, high) = rdkafka::consumer::Consumer::fetch_watermarks(
            &reader,
            "orders",
            p,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(ends[&("orders".to_string(), p)], high);
    }
    assert_eq!(ends.values().sum::<i64>(), 300);
    let many: Vec<TopicSpec> = (0..150)
        .map(|i| TopicSpec::new(format!("many.{i}"), 2, 1))
        .collect();
    admin.create_topics(&many, false).await.unwrap();
    let listed = admin.list_topics().await.unwrap();
    assert_eq!(
        listed.iter().filter(|t| t.starts_with("many.")).count(),
        150
    );
    assert!(
        admin.create_topics(&many[..1], false).await.is_err(),
        "an existing topic is refused"
    );
    admin.create_topics(&many[..2], true).await.unwrap();
    // Readiness topics are cleaned up; user topics listed.
    let topics = admin.list_topics().await.unwrap();
    assert!(topics.contains(&"orders".to_string()));
    assert!(
        !topics.iter().any(|t| t.starts_with("__cutover_ready")),
        "{topics:?}"
    );

    admin.delete_topic("orders").await.unwrap();
    let dir = cluster.work_dir().unwrap();
    let pids = broker_jvms_matching(&dir.display().to_string());
    assert_eq!(pids.len(), 1);
    assert_maps_its_class_archive(pids[0]);
    cluster.shutdown().await.unwrap();
    assert!(!dir.exists(), "temp dir removed on shutdown");
    let left = broker_jvms_matching(&dir.display().to_string());
    assert!(
        left.is_empty(),
        "process table still lists broker JVMs {left:?}"
    );
}

/// The broker JVM started with a class-data sharing archive and HotSpot accepted it (the
/// archive is mapped): brokers start in half the CPU time. Only `CUTOVER_CDS=off` or a Java
/// runtime that writes no archive (marked `untrainable` in the cache) starts without one.
fn assert_maps_its_class_archive(pid: u32) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let Some(archive) = cmdline
        .split(' ')
        .find_map(|a| a.strip_prefix("-XX:SharedArchiveFile="))
    else {
        let off = std::env::var("CUTOVER_CDS").is_ok_and(|v| v.eq_ignore_ascii_case("off"));
        let untrainable = std::fs::read_dir(harness::dist::cache_root().join("cds"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| d.path().join("untrainable").exists());
        assert!(
            off || untrainable,
            "the broker started without a class-data sharing archive: {cmdline}"
        );
        return;
    };
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        maps.contains(archive),
        "HotSpot refused {archive} (not mapped); see the broker's jvm.out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_broker_cluster_replicates_across_all_brokers() {
    let cluster = harness::start(&ClusterSpec::new("three").brokers(3))
        .await
        .expect("cluster starts");
    assert_eq!(cluster.brokers().len(), 3);
    let admin = cluster.admin().unwrap();
    assert_eq!(admin.broker_ids().await.unwrap(), vec![1, 2, 3]);
    admin
        .create_topic(&TopicSpec::new("rf3", 6, 3).config("min.insync.replicas", "2"))
        .await
        .unwrap();
    let desc = admin.describe_topic("rf3").await.unwrap();
    for p in &desc.partitions {
        assert_eq!(p.replicas.len(), 3, "{p:?}");
    }
    let sent = values("v", 200);
    produce_all(&cluster.client_props(), "rf3", &sent).await;
    let read = read_all(&cluster.client_props(), "rf3", "read_committed");
    assert_eq!(read.len(), 200);
    let partitions: BTreeSet<i32> = read.iter().map(|r| r.partition).collect();
    assert!(partitions.len() > 1, "keys spread over partitions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_only_committed_transactions() {
    let cluster = harness::start(&ClusterSpec::new("txn"))
        .await
        .expect("cluster starts");
    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("payments", 1, 1))
        .await
        .unwrap();
    let producer = producer(
        &cluster.client_props(),
        &[("transactional.id", "cutover-test-txn"), ("acks", "all")],
    );
    let t = Duration::from_secs(30);
    producer.init_transactions(t).unwrap();
    let send_txn = |vals: &[&str], commit: bool| {
        producer.begin_transaction().unwrap();
        for v in vals {
            producer
                .send_result(FutureRecord::to("payments").key(*v).payload(*v))
                .map_err(|(e, _)| e)
                .unwrap();
        }
        if commit {
            producer.commit_transaction(t).unwrap();
        } else {
            producer.flush(t).unwrap();
            producer.abort_transaction(t).unwrap();
        }
    };
    send_txn(&["c1", "c2", "c3"], true);
    send_txn(&["a1", "a2"], false);
    send_txn(&["c4"], true);

    let committed: Vec<String> = read_all(&cluster.client_props(), "payments", "read_committed")
        .iter()
        .map(Read::value_str)
        .collect();
    assert_eq!(committed, vec!["c1", "c2", "c3", "c4"]);
    let uncommitted: Vec<String> =
        read_all(&cluster.client_props(), "payments", "read_uncommitted")
            .iter()
            .map(Read::value_str)
            .collect();
    assert_eq!(uncommitted, vec!["c1", "c2", "c3", "a1", "a2", "c4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_broker_under_acks_all_loses_nothing_and_it_rejoins_the_isr() {
    let cluster = Arc::new(
        harness::start(&ClusterSpec::new("kill9").brokers(3))
            .await
            .expect("cluster starts"),
    );
    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("ledger", 3, 3).config("min.insync.replicas", "2"))
        .await
        .unwrap();
    let producer = producer(
        &cluster.client_props(),
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acked_after_kill = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, killed, acked_after_kill) =
            (stop.clone(), killed.clone(), acked_after_kill.clone());
        tokio::spawn(async move {
            let mut acked: Vec<String> = Vec::new();
            let mut seq = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let mut batch = Vec::new();
                for _ in 0..50 {
                    let v = format!("rec-{seq}");
                    seq += 1;
                    let fut = producer
                        .send_result(FutureRecord::to("ledger").key(&v).payload(&v))
                        .map_err(|(e, _)| e)
                        .expect("enqueue");
                    batch.push((v, fut));
                }
                for (v, fut) in batch {
                    match fut.await.expect("delivery report") {
                        Ok(_) => {
                            if killed.load(Ordering::SeqCst) {
                                acked_after_kill.fetch_add(1, Ordering::SeqCst);
                            }
                            acked.push(v)
                        }
                        Err((e, _)) => assert!(is_retriable(&e), "unexpected error {e}"),
                    }
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = 2;
    let pid = cluster.brokers()[1].pid.expect("broker 2 runs");
    cluster.kill_broker(victim).await.unwrap();
    killed.store(true, Ordering::SeqCst);
    assert!(!harness::supervisor::is_alive(pid), "kill -9 took effect");
    assert!(!cluster.brokers()[1].running);
    // Partitions led by the victim wait for the controller to fence it
    // (broker.session.timeout.ms, 9 s by default), then move; acks resume.
    let deadline = Instant::now() + Duration::from_secs(40);
    while acked_after_kill.load(Ordering::SeqCst) < 100 {
        assert!(
            Instant::now() < deadline,
            "producing did not continue with one broker down"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    cluster.start_broker(victim).await.expect("broker restarts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let desc = admin.describe_topic("ledger").await.unwrap();
        if desc
            .partitions
            .iter()
            .all(|p| p.isr.contains(&victim.try_into().unwrap()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broker {victim} did not rejoin the ISR: {desc:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let acked = writer.await.unwrap();
    assert!(
        acked.len() > 100,
        "the producer made progress: {}",
        acked.len()
    );

    let read = read_all(&cluster.client_props(), "ledger", "read_committed");
    let mut copies: HashMap<String, usize> = HashMap::new();
    for r in &read {
        *copies.entry(r.value_str()).or_default() += 1;
    }
    let lost: Vec<&String> = acked.iter().filter(|v| !copies.contains_key(*v)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let duplicated = copies.values().filter(|c| **c > 1).count();
    assert_eq!(duplicated, 0, "idempotent producer wrote duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_of_two_kafka_versions_run_side_by_side() {
    let source_spec = ClusterSpec::new("src40").version(KafkaVersion::parse("4.0.2").unwrap());
    let target_spec = ClusterSpec::new("tgt44").version(KafkaVersion::parse("4.4.0").unwrap());
    let (source, target) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source, target) = (source.expect("4.0.2 starts"), target.expect("4.4.0 starts"));
    assert_eq!(source.kafka_version().as_deref(), Some("4.0.2"));
    assert_eq!(target.kafka_version().as_deref(), Some("4.4.0"));
    // Each broker really runs its own version's jars.
    for (cluster, jar) in [
        (&source, "kafka_2.13-4.0.2.jar"),
        (&target, "kafka_2.13-4.4.0.jar"),
    ] {
        let pid = cluster.brokers()[0].pid.unwrap();
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
        let version_dir = jar
            .trim_start_matches("kafka_2.13-")
            .trim_end_matches(".jar");
        assert!(
            cmdline.contains(&format!("/kafka/{version_dir}/libs")),
            "{cmdline}"
        );
    }
    for cluster in [&source, &target] {
        let admin = cluster.admin().unwrap();
        admin
            .create_topic(&TopicSpec::new("t", 1, 1))
            .await
            .unwrap();
        let vals = values(cluster.name(), 10);
        produce_all(&cluster.client_props(), "t", &vals).await;
        assert_eq!(
            read_all(&cluster.client_props(), "t", "read_committed").len(),
            10
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_broker_config_fails_fast_naming_the_key() {
    let spec = ClusterSpec::new("badcfg").broker_config("num.io.threads", "banana");
    let started = Instant::now();
    let err = match harness::start(&spec).await {
        Ok(_) => panic!("a broker with num.io.threads=banana must not start"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "fails fast, not at the timeout"
    );
    let text = err.to_string();
    // Kafka's own storage tool validates the config first.
    assert!(matches!(err, HarnessError::FormatFailed { .. }), "{text}");
    assert!(text.contains("a broker config value is invalid"), "{text}");
    assert!(
        text.contains("Invalid value banana for configuration num.io.threads"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_dies_at_start_is_reported_with_its_log() {
    // Valid for the storage tool, fatal when the broker loads it.
    let spec = ClusterSpec::new("broken")
        .broker_config("authorizer.class.name", "com.example.NoSuchAuthorizer");
    let started = Instant::now();
    let err = match harness::start(&spec).await {
        Ok(_) => panic!("a broker with a missing authorizer class must not start"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "fails fast, not at the timeout"
    );
    let text = err.to_string();
    assert!(
        matches!(err, HarnessError::BrokerStartFailed { .. }),
        "{text}"
    );
    assert!(
        text.contains("NoSuchAuthorizer"),
        "cause names the class: {text}"
    );
    assert!(
        text.contains("--- last lines of") && text.contains("server.log"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kafka_version_is_named() {
    let spec = ClusterSpec::new("nover").version(KafkaVersion::parse("4.99.0").unwrap());
    let err = match harness::start(&spec).await {
        Ok(_) => panic!("4.99.0 does not exist"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(matches!(err, HarnessError::UnknownVersion { .. }), "{text}");
    assert!(
        text.contains("4.99.0") && text.contains("Maven Central"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_jvm_outlives_a_panicking_or_failing_test() {
    // A test body that panics (an assert failing is the same) while its cluster runs.
    let handle = tokio::spawn(async {
        let cluster = harness::start(&ClusterSpec::new("panicky"))
            .await
            .expect("starts");
        let pid = cluster.brokers()[0].pid.unwrap();
        let dir = cluster.work_dir().unwrap();
        PANIC_INFO.lock().unwrap().replace((pid, dir));
        assert_eq!(1 + 1, 3, "a failing assertion while the cluster is up");
    });
    let joined = handle.await;
    assert!(joined.is_err() && joined.unwrap_err().is_panic());
    let (pid, dir) = PANIC_INFO
        .lock()
        .unwrap()
        .take()
        .expect("cluster had started");
    assert!(
        !harness::supervisor::is_alive(pid),
        "broker JVM {pid} survived the panic"
    );
    assert!(
        !dir.exists(),
        "temp dir {} survived the panic",
        dir.display()
    );
}

static PANIC_INFO: std::sync::Mutex<Option<(u32, std::path::PathBuf)>> =
    std::sync::Mutex::new(None);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_backend_reaches_an_existing_cluster_and_refuses_broker_control() {
    let owned = harness::start(&ClusterSpec::new("owned"))
        .await
        .expect("starts");
    let mut spec = ClusterSpec::new("ext").backend(harness::BackendKind::External);
    spec.bootstrap_servers = Some(owned.bootstrap_servers());
    spec.client_properties
        .insert("client.id".into(), "cutover-ext".into());
    let external = harness::start(&spec).await.expect("external connects");
    assert_eq!(external.bootstrap_servers(), owned.bootstrap_servers());
    assert!(external.brokers().is_empty());
    let err = external.kill_broker(1).await.unwrap_err();
    assert!(matches!(err, HarnessError::NotOwned { .. }), "{err}");
    // Still reachable and usable for admin.
    external
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("x", 1, 1))
        .await
        .unwrap();
    assert!(owned
        .admin()
        .unwrap()
        .list_topics()
        .await
        .unwrap()
        .contains(&"x".to_string()));

    // Unreachable bootstrap: bounded, with the cause.
    let mut spec = ClusterSpec::new("nowhere").backend(harness::BackendKind::External);
    spec.bootstrap_servers = Some("127.0.0.1:1".into());
    spec.connect_timeout_secs = 3;
    let started = Instant::now();
    let err = match harness::start(&spec).await {
        Ok(_) => panic!("nothing listens on port 1"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string()
            .contains("no broker answered at 127.0.0.1:1 within 3 s"),
        "{err}"
    );
    assert!(err.to_string().contains("bootstrap.servers"), "{err}");
}
