//! A real broker behind its fault proxy (`ClusterSpec::proxied`): clients reach it only
//! through the proxy, the proxy counts the bytes, a blackhole makes produces fail and
//! clearing it lets them succeed again; the proxy dies with the cluster.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use harness::proxy::Direction;
use harness::{ClientProps, ClusterSpec, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxied_cluster_is_reached_through_its_proxy_which_can_blackhole_it() {
    let cluster = harness::start(&ClusterSpec::new("proxied").proxied(true))
        .await
        .expect("proxied cluster starts (readiness already went through the proxy)");
    let proxy = cluster.proxy(1).expect("broker 1 has a proxy");
    assert_eq!(cluster.proxies().len(), 1);
    assert!(cluster.proxy(2).is_none());
    let broker = cluster.brokers()[0].clone();
    assert_eq!(broker.proxy_port, Some(proxy.addr().port()));
    assert_eq!(proxy.upstream().port(), broker.port);
    assert_ne!(broker.port, proxy.addr().port());
    assert_eq!(
        cluster.bootstrap_servers(),
        format!("127.0.0.1:{}", proxy.addr().port()),
        "the bootstrap is the proxy"
    );

    // Even a client that bootstraps on the broker's own port is sent to the proxy.
    let direct = ClientProps::bootstrap(format!("127.0.0.1:{}", broker.port));
    let consumer: BaseConsumer = config(&direct).create().unwrap();
    let meta = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let advertised: Vec<i32> = meta.brokers().iter().map(|b| b.port()).collect();
    assert_eq!(advertised, vec![i32::from(proxy.addr().port())]);
    drop(consumer);

    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("through", 2, 1))
        .await
        .unwrap();
    let props = cluster.client_props();
    let before = proxy.stats();
    let sent: Vec<String> = (0..200)
        .map(|i| format!("value-{i:04}-{}", "x".repeat(100)))
        .collect();
    produce_all(&props, "through", &sent).await;
    let read = read_all(&props, "through", "read_committed");
    assert_eq!(read.len(), sent.len());
    let after = proxy.stats();
    eprintln!("proxy stats after 200 records produced and consumed: {after:?}");
    let payload_bytes: u64 = sent.iter().map(|v| 2 * v.len() as u64).sum();
    assert!(
        after.bytes_to_broker - before.bytes_to_broker > payload_bytes,
        "produce requests crossed the proxy: {before:?} -> {after:?}"
    );
    assert!(
        after.bytes_to_client - before.bytes_to_client > payload_bytes,
        "fetch responses crossed the proxy: {before:?} -> {after:?}"
    );
    assert!(after.total_connections > before.total_connections);

    // Blackhole: the request vanishes, the produce times out.
    let producer = producer(
        &props,
        &[
            ("acks", "all"),
            ("message.timeout.ms", "3000"),
            ("request.timeout.ms", "2000"),
        ],
    );
    let send = |v: &'static str| {
        producer.send(
            FutureRecord::to("through").key(v).payload(v),
            Duration::from_secs(10),
        )
    };
    send("warm-up")
        .await
        .expect("delivered before the blackhole");
    proxy.set_blackhole(Direction::Both, true);
    let started = Instant::now();
    let failed = send("during-blackhole").await;
    let took = started.elapsed();
    eprintln!(
        "produce during the blackhole: {:?} after {took:?}",
        failed.as_ref().map_err(|(e, _)| e)
    );
    match failed {
        Err((KafkaError::MessageProduction(code), _)) => assert!(
            matches!(
                code,
                RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut
            ),
            "{code:?}"
        ),
        other => panic!("a produce through a blackhole must time out, got {other:?}"),
    }
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(proxy.stats().dropped_to_broker > 0);

    // Cleared: the same producer gets through again.
    proxy.clear();
    let started = Instant::now();
    loop {
        match send("after-clear").await {
            Ok(_) => break,
            Err((e, _)) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "still failing 30 s after the blackhole was cleared: {e}"
            ),
        }
    }
    eprintln!(
        "first produce after clearing succeeded in {:?}",
        started.elapsed()
    );
    let values: Vec<String> = read_all(&props, "through", "read_committed")
        .iter()
        .map(Read::value_str)
        .collect();
    assert!(values.contains(&"after-clear".to_string()));
    assert!(values.contains(&"warm-up".to_string()));
    assert!(
        !values.contains(&"during-blackhole".to_string()),
        "the blackholed request reached the broker"
    );

    // The proxy dies with the cluster, although this test still holds it.
    let addr = proxy.addr();
    drop(producer);
    cluster.shutdown().await.unwrap();
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(proxy.stats().open_connections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_of_a_proxied_cluster_bypasses_the_proxies() {
    let cluster = harness::start(&ClusterSpec::new("proxied3").brokers(3).proxied(true))
        .await
        .expect("3-broker proxied cluster starts");
    let proxies = cluster.proxies();
    assert_eq!(proxies.len(), 3);
    let admin = cluster.admin().unwrap();
    admin
        .create_topic(&TopicSpec::new("rf3", 3, 3).config("min.insync.replicas", "3"))
        .await
        .unwrap();
    let before: Vec<_> = proxies.iter().map(|p| p.stats()).collect();
    // 2 MB of values, acknowledged by all three replicas.
    let sent: Vec<String> = (0..2000)
        .map(|i| format!("{i:05}-{}", "r".repeat(1000)))
        .collect();
    produce_all(&cluster.client_props(), "rf3", &sent).await;
    let payload: u64 = sent.iter().map(|v| 2 * v.len() as u64).sum();
    let delta = |f: fn(&harness::ProxyStats) -> u64| -> u64 {
        proxies
            .iter()
            .zip(&before)
            .map(|(p, b)| f(&p.stats()) - f(b))
            .sum()
    };
    let (to_brokers, to_clients) = (delta(|s| s.bytes_to_broker), delta(|s| s.bytes_to_client));
    eprintln!("payload {payload} B: {to_brokers} B to brokers, {to_clients} B to clients through the proxies");
    // The records cross the proxies once, towards their leaders ...
    assert!(to_brokers >= payload, "{to_brokers} < {payload}");
    assert!(to_brokers < 2 * payload, "{to_brokers}");
    // ... and followers do not fetch them through a proxy (that would be 2 × payload).
    assert!(to_clients < payload / 4, "{to_clients}");
    let desc = admin.describe_topic("rf3").await.unwrap();
    for p in &desc.partitions {
        assert_eq!(p.isr.len(), 3, "{p:?}");
    }
}

/// Every counter of every proxy, to compare before and after.
fn all_stats(proxies: &[std::sync::Arc<harness::proxy::Proxy>]) -> Vec<harness::ProxyStats> {
    proxies.iter().map(|p| p.stats()).collect()
}

/// Waits up to 15 s until no connection is open through `proxies` (the readiness check's
/// clients close after the cluster is ready).
async fn until_closed(proxies: &[std::sync::Arc<harness::proxy::Proxy>]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while proxies.iter().any(|p| p.stats().open_connections > 0) {
        assert!(Instant::now() < deadline, "{:?}", all_stats(proxies));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_client_properties_reach_every_broker_without_crossing_a_proxy() {
    // cutover's own clients (workload, samplers, checker, fault proofs) use the direct
    // properties, the system under test the proxied ones: the proxies then count the system's
    // traffic alone. Before, there was no direct way in: every client crossed the proxies.
    let cluster = harness::start(&ClusterSpec::new("direct2").brokers(2).proxied(true))
        .await
        .expect("2-broker proxied cluster starts");
    let proxies = cluster.proxies();
    assert_eq!(proxies.len(), 2);
    let proxy_ports: Vec<u16> = proxies.iter().map(|p| p.addr().port()).collect();
    let direct = cluster.direct_client_props();
    assert_ne!(
        direct.get("bootstrap.servers"),
        Some(cluster.bootstrap_servers().as_str())
    );
    until_closed(&proxies).await;
    let quiet = all_stats(&proxies);

    // The admin and a direct client learn brokers that are not proxies, and every broker.
    cluster
        .admin()
        .unwrap()
        .create_topic(&TopicSpec::new("direct", 4, 1))
        .await
        .unwrap();
    let consumer: BaseConsumer = config(&direct).create().unwrap();
    let meta = consumer
        .fetch_metadata(Some("direct"), Duration::from_secs(10))
        .expect("metadata");
    let advertised: Vec<u16> = meta.brokers().iter().map(|b| b.port() as u16).collect();
    assert_eq!(advertised.len(), 2, "{advertised:?}");
    for port in &advertised {
        assert!(
            !proxy_ports.contains(port),
            "{advertised:?} {proxy_ports:?}"
        );
    }
    let mut direct_ports: Vec<u16> = cluster
        .brokers()
        .iter()
        .filter_map(|b| b.direct_port)
        .collect();
    let mut learned = advertised.clone();
    direct_ports.sort();
    learned.sort();
    assert_eq!(learned, direct_ports, "the brokers' direct listeners");
    let leaders: std::collections::BTreeSet<i32> = meta.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect();
    assert_eq!(leaders.len(), 2, "4 partitions lead by both brokers");
    drop(consumer);
    let sent: Vec<String> = (0..300).map(|i| format!("direct-{i:04}")).collect();
    produce_all(&direct, "direct", &sent).await;
    assert_eq!(read_all(&direct, "direct", "read_committed").len(), 300);
    assert_eq!(
        all_stats(&proxies),
        quiet,
        "direct clients crossed the proxies (leaders {leaders:?})"
    );

    // The proxied properties still cross them.
    produce_all(&cluster.client_props(), "direct", &sent).await;
    let crossed = all_stats(&proxies);
    let to_brokers: u64 = crossed
        .iter()
        .zip(&quiet)
        .map(|(a, b)| a.bytes_to_broker - b.bytes_to_broker)
        .sum();
    assert!(to_brokers > 300 * 11, "{quiet:?} -> {crossed:?}");
    cluster.shutdown().await.unwrap();
}
