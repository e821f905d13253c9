//! The fault proxy alone, in front of a local tokio echo server: data integrity, latency,
//! jitter, bandwidth, blackhole, reset, refusal, backpressure and shutdown.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::proxy::{Direction, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on a free port; returns its address. Runs until the test's runtime ends.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let (mut r, mut w) = stream.split();
                if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                    let _ = w.shutdown().await;
                }
            });
        }
    });
    addr
}

/// A server that accepts and never reads.
async fn stuck_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, handle)
}

async fn proxy_to(upstream: SocketAddr) -> Proxy {
    Proxy::start("127.0.0.1:0".parse().unwrap(), upstream)
        .await
        .expect("proxy starts")
}

async fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).await.expect("connects");
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `msg`, reads the echo, returns the round trip time.
async fn ping(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let start = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back))
        .await
        .expect("echo within 10 s")
        .expect("echo read");
    assert_eq!(back, msg);
    start.elapsed()
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `data` and reads back as many bytes concurrently; returns them and the time taken.
async fn echo_through(s: TcpStream, data: Vec<u8>) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let (mut r, mut w) = s.into_split();
    let len = data.len();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w
    });
    let mut back = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(60), r.read_exact(&mut back))
        .await
        .expect("echo within 60 s")
        .unwrap();
    let took = start.elapsed();
    drop(writer.await.unwrap());
    (back, took)
}

/// True when the next read fails or sees the end, within `within`.
async fn is_closed(s: &mut TcpStream, within: Duration) -> Option<std::io::Result<usize>> {
    let mut buf = [0u8; 64];
    tokio::time::timeout(within, s.read(&mut buf)).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_random_payloads_pass_unchanged_in_both_directions() {
    let proxy = proxy_to(echo_server().await).await;
    let data = payload(8 * 1024 * 1024 + 17, 42);
    let (back, _) = echo_through(connect(&proxy).await, data.clone()).await;
    assert!(back == data, "the echo differs from what was sent");
    // Two connections at once, with latency and jitter: order within each must hold.
    proxy.set_latency(
        Direction::Both,
        Duration::from_millis(2),
        Duration::from_millis(2),
    );
    let (a, b) = (payload(2_000_000, 1), payload(2_000_000, 2));
    let (ra, rb) = tokio::join!(
        echo_through(connect(&proxy).await, a.clone()),
        echo_through(connect(&proxy).await, b.clone())
    );
    assert!(
        ra.0 == a && rb.0 == b,
        "bytes reordered or corrupted under jitter"
    );
    let stats = proxy.stats();
    let total = (data.len() + a.len() + b.len()) as u64;
    assert_eq!(stats.bytes_to_broker, total);
    assert_eq!(stats.bytes_to_client, total);
    assert_eq!(stats.total_connections, 3);
    assert_eq!(stats.dropped_to_broker + stats.dropped_to_client, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_added_each_way() {
    let proxy = proxy_to(echo_server().await).await;
    let mut s = connect(&proxy).await;
    let base = ping(&mut s, b"warm-up").await;
    proxy.set_latency(Direction::Both, Duration::from_millis(100), Duration::ZERO);
    let mut rtts = Vec::new();
    for i in 0..5 {
        rtts.push(ping(&mut s, format!("ping {i}").as_bytes()).await);
    }
    eprintln!("latency 100 ms each way: base {base:?}, round trips {rtts:?}");
    for rtt in &rtts {
        assert!(
            *rtt >= Duration::from_millis(200) && *rtt < Duration::from_millis(400),
            "{rtt:?}"
        );
    }
    // One way only.
    proxy.set_latency(Direction::ToClient, Duration::ZERO, Duration::ZERO);
    let rtt = ping(&mut s, b"one way").await;
    eprintln!("latency 100 ms to the broker only: round trip {rtt:?}");
    assert!(rtt >= Duration::from_millis(100) && rtt < Duration::from_millis(200));
    proxy.clear();
    assert!(proxy.faults().is_clear());
    let rtt = ping(&mut s, b"cleared").await;
    assert!(rtt < Duration::from_millis(100), "{rtt:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_stays_within_its_bounds_and_varies() {
    let proxy = proxy_to(echo_server().await).await;
    let mut s = connect(&proxy).await;
    proxy.set_latency(
        Direction::ToBroker,
        Duration::from_millis(60),
        Duration::from_millis(40),
    );
    let mut rtts = Vec::new();
    for i in 0..20 {
        rtts.push(ping(&mut s, format!("j{i}").as_bytes()).await);
    }
    let (min, max) = (*rtts.iter().min().unwrap(), *rtts.iter().max().unwrap());
    eprintln!("latency 60 ± 40 ms: round trips {min:?} .. {max:?}");
    assert!(min >= Duration::from_millis(20), "{min:?}");
    assert!(max < Duration::from_millis(100 + 60), "{max:?}");
    assert!(max - min > Duration::from_millis(20), "no spread: {rtts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_is_limited() {
    let proxy = proxy_to(echo_server().await).await;
    let data = payload(1_000_000, 7);
    let (_, unlimited) = echo_through(connect(&proxy).await, data.clone()).await;
    proxy.set_bandwidth(Direction::ToBroker, Some(2_000_000));
    let (back, limited) = echo_through(connect(&proxy).await, data.clone()).await;
    eprintln!("1 MB echo: unlimited {unlimited:?}, at 2 MB/s to the broker {limited:?}");
    assert!(back == data);
    assert!(
        limited >= Duration::from_millis(450) && limited < Duration::from_millis(900),
        "{limited:?}"
    );
    // Shared by connections: two at once take twice as long.
    let (a, b) = tokio::join!(
        echo_through(connect(&proxy).await, data.clone()),
        echo_through(connect(&proxy).await, data.clone())
    );
    let both = a.1.max(b.1);
    eprintln!("2 × 1 MB at once at 2 MB/s: {both:?}");
    assert!(
        both >= Duration::from_millis(950) && both < Duration::from_millis(1_600),
        "{both:?}"
    );
    proxy.set_bandwidth(Direction::Both, None);
    let (_, again) = echo_through(connect(&proxy).await, data).await;
    assert!(again < Duration::from_millis(400), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_drops_bytes_keeps_the_connection_and_clears() {
    let proxy = proxy_to(echo_server().await).await;
    let mut s = connect(&proxy).await;
    ping(&mut s, b"before").await;
    proxy.set_blackhole(Direction::ToBroker, true);
    s.write_all(b"lost").await.unwrap();
    assert!(
        is_closed(&mut s, Duration::from_millis(700))
            .await
            .is_none(),
        "nothing may arrive and the connection must stay open"
    );
    assert_eq!(proxy.stats().dropped_to_broker, 4);
    assert_eq!(proxy.stats().open_connections, 1);
    proxy.set_blackhole(Direction::Both, false);
    ping(&mut s, b"after").await;
    assert_eq!(
        proxy.stats().bytes_to_client,
        11,
        "only before + after echoed"
    );

    // The other direction: requests arrive, replies vanish.
    proxy.set_blackhole(Direction::ToClient, true);
    s.write_all(b"reply lost").await.unwrap();
    assert!(is_closed(&mut s, Duration::from_millis(500))
        .await
        .is_none());
    assert_eq!(proxy.stats().dropped_to_client, 10);
    proxy.clear();
    ping(&mut s, b"back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_aborts_open_connections_with_a_rst() {
    let proxy = proxy_to(echo_server().await).await;
    let mut a = connect(&proxy).await;
    let mut b = connect(&proxy).await;
    ping(&mut a, b"a").await;
    ping(&mut b, b"b").await;
    assert_eq!(proxy.stats().open_connections, 2);
    proxy.reset_connections();
    for s in [&mut a, &mut b] {
        match is_closed(s, Duration::from_secs(2)).await {
            Some(Err(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
            other => panic!("expected ECONNRESET, got {other:?}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while proxy.stats().open_connections > 0 {
        assert!(Instant::now() < deadline, "connections still counted open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Later connections work.
    let mut c = connect(&proxy).await;
    ping(&mut c, b"c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_resets_new_connections_only() {
    let proxy = proxy_to(echo_server().await).await;
    let mut old = connect(&proxy).await;
    ping(&mut old, b"old").await;
    proxy.refuse_new(true);
    let started = Instant::now();
    match TcpStream::connect(proxy.addr()).await {
        Err(_) => {}
        Ok(mut s) => {
            let _ = s.write_all(b"hello").await;
            match is_closed(&mut s, Duration::from_secs(2)).await {
                Some(Err(_)) | Some(Ok(0)) => {}
                other => panic!("a refused connection answered: {other:?}"),
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    assert_eq!(proxy.stats().refused_connections, 1);
    ping(&mut old, b"still works").await;
    proxy.refuse_new(false);
    let mut new = connect(&proxy).await;
    ping(&mut new, b"new").await;
    assert_eq!(proxy.stats().total_connections, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_resets_the_client() {
    // A port nobody listens on.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = free.local_addr().unwrap();
    drop(free);
    let proxy = proxy_to(upstream).await;
    // The reset may come so fast that connect() itself reports it.
    let outcome = match TcpStream::connect(proxy.addr()).await {
        Err(e) => Some(Err(e)),
        Ok(mut s) => is_closed(&mut s, Duration::from_secs(2)).await,
    };
    match outcome {
        Some(Err(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        other => panic!("expected a reset, got {other:?}"),
    }
    assert_eq!(proxy.stats().bytes_to_broker, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_when_the_upstream_does_not_read() {
    let (upstream, _server) = stuck_server().await;
    let proxy = proxy_to(upstream).await;
    let mut s = connect(&proxy).await;
    let chunk = vec![7u8; 256 * 1024];
    let mut written = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_millis(500), s.write_all(&chunk)).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => break, // stalled: backpressure reached the client
        }
        assert!(
            written < 128 * 1024 * 1024,
            "128 MiB accepted without the upstream reading: unbounded buffering"
        );
    }
    let forwarded = proxy.stats().bytes_to_broker as usize;
    eprintln!(
        "stalled after {written} bytes, {forwarded} of them forwarded into the upstream's buffers"
    );
    assert!(written > 0 && forwarded <= written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_drop_close_everything() {
    let upstream = echo_server().await;
    let proxy = proxy_to(upstream).await;
    let addr = proxy.addr();
    let mut s = connect(&proxy).await;
    ping(&mut s, b"x").await;
    proxy.shutdown().await;
    assert_eq!(proxy.stats().open_connections, 0);
    assert!(matches!(
        is_closed(&mut s, Duration::from_secs(2)).await,
        Some(Err(_)) | Some(Ok(0))
    ));
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

    // Drop alone does the same.
    let proxy = proxy_to(upstream).await;
    let addr = proxy.addr();
    let mut s = connect(&proxy).await;
    ping(&mut s, b"y").await;
    drop(proxy);
    assert!(matches!(
        is_closed(&mut s, Duration::from_secs(2)).await,
        Some(Err(_)) | Some(Ok(0))
    ));
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting after the proxy was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_named() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Proxy::start(addr, addr).await.unwrap_err().to_string();
    assert!(
        err.contains(&addr.port().to_string()) && err.contains("in use"),
        "{err}"
    );
}
