//! A real Kafka Streams application (the reference counter, compiled from
//! `apps/streams-counter/CutoverCounter.java`) on a real broker: it counts every input once,
//! stops cleanly, and a new instance with an empty state dir restores its store from the
//! changelog and counts on. The same restart with the changelog deleted restarts the counts,
//! and the check below says so.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use harness::streams::{self, AppCode, CounterSettings, StreamsApp, StreamsRuntime, StreamsSpec};
use harness::HarnessError;
use harness::{ClientProps, ClusterSpec, TopicSpec};
use rdkafka::producer::FutureRecord;
use sha2::{Digest, Sha256};

const APP_ID: &str = "cutover-counter-test";
const OUTPUT: &str = "totals.out";
const KEYS: usize = 20;

/// Input `i`: its key (20 keys), its topic (a key always goes to the same one of two topics,
/// so its inputs have one order), and its value: null every 37th, empty every 11th, else
/// 1..50 bytes.
fn input(i: usize) -> (String, &'static str, Option<Vec<u8>>) {
    let k = (i * 7 + i / KEYS) % KEYS;
    let topic = if k.is_multiple_of(2) {
        "in.even"
    } else {
        "in.odd"
    };
    let value = if i % 37 == 5 {
        None
    } else if i % 11 == 3 {
        Some(Vec::new())
    } else {
        Some(
            format!("value-{i}-{}", "x".repeat((i * 13) % 40))
                .into_bytes()
                .into_iter()
                .take(1 + (i * 13) % 50)
                .collect(),
        )
    };
    (format!("key-{k:02}"), topic, value)
}

/// Produces inputs `range` (idempotent, acks=all: one order per partition) and adds them to
/// `expected`, each key's values in order (a null value counts as empty).
async fn produce(
    props: &ClientProps,
    range: std::ops::Range<usize>,
    expected: &mut BTreeMap<String, Vec<Vec<u8>>>,
) {
    let producer = producer(props, &[("acks", "all"), ("enable.idempotence", "true")]);
    let mut pending = Vec::new();
    for i in range {
        let (key, topic, value) = input(i);
        let mut record = FutureRecord::to(topic).key(key.as_str());
        if let Some(v) = &value {
            record = record.payload(v.as_slice());
        }
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
        expected
            .entry(key)
            .or_default()
            .push(value.unwrap_or_default());
    }
    for delivery in pending {
        delivery.await.expect("not cancelled").expect("delivered");
    }
}

/// One output update: `{count} {sum} {id} {emit_ms} {stamp}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Update {
    count: u64,
    sum: u64,
    id: String,
    emit_ms: u64,
    stamp: String,
}

fn parse_update(text: &str) -> Update {
    let f: Vec<&str> = text.split(' ').collect();
    assert_eq!(f.len(), 5, "output value {text:?}");
    Update {
        count: f[0].parse().expect("count"),
        sum: f[1].parse().expect("sum"),
        id: f[2].to_string(),
        emit_ms: f[3].parse().expect("emit_ms"),
        stamp: f[4].to_string(),
    }
}

/// The output topic read_committed, each key's updates in offset order.
fn updates(props: &ClientProps) -> BTreeMap<String, Vec<Update>> {
    let mut read = read_all(props, OUTPUT, "read_committed");
    read.sort_by_key(|r| (r.partition, r.offset));
    let mut out: BTreeMap<String, Vec<Update>> = BTreeMap::new();
    for r in read {
        let key = String::from_utf8(r.key.clone().expect("a key")).expect("utf-8 key");
        out.entry(key)
            .or_default()
            .push(parse_update(&r.value_str()));
    }
    out
}

fn id_of(value: &[u8]) -> String {
    Sha256::digest(value)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The check an application cutover needs: every key's updates are exactly its inputs, once
/// each, in order: the n-th update has count n, the size of the first n values as its sum and
/// the n-th value's id. A count that restarts (state lost), repeats (an input processed
/// twice) or jumps (an input skipped) is named.
fn check_updates(
    expected: &BTreeMap<String, Vec<Vec<u8>>>,
    got: &BTreeMap<String, Vec<Update>>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for (key, values) in expected {
        let updates = got.get(key).map(Vec::as_slice).unwrap_or_default();
        if updates.len() != values.len() {
            problems.push(format!(
                "{key}: {} updates for {} inputs",
                updates.len(),
                values.len()
            ));
        }
        let mut sum = 0u64;
        for (n, (value, update)) in values.iter().zip(updates).enumerate() {
            let n = n as u64 + 1;
            sum += value.len() as u64;
            if update.count != n {
                let what = if update.count == 1 {
                    "counting restarted from 1 (state lost)"
                } else if update.count < n {
                    "an input counted twice"
                } else {
                    "an input skipped"
                };
                problems.push(format!(
                    "{key}: update {n} has count {}: {what}",
                    update.count
                ));
                break;
            }
            if update.sum != sum || update.id != id_of(value) {
                problems.push(format!(
                    "{key}: update {n} is {update:?}, expected sum {sum} and id {}",
                    id_of(value)
                ));
                break;
            }
        }
    }
    for key in got.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(format!("{key}: updates for a key never produced"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Waits until the output holds `n` updates (read_committed).
fn wait_updates(props: &ClientProps, n: usize, app: &StreamsApp) -> BTreeMap<String, Vec<Update>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = updates(props);
        let total: usize = got.values().map(Vec::len).sum();
        if total >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{total} of {n} updates after 60 s; log {}:\n{}",
            app.log_path().display(),
            std::fs::read_to_string(app.log_path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn spec(
    props: &ClientProps,
    runtime_classes: &Path,
    stamp: &str,
    state_dir: &Path,
    log: &Path,
) -> StreamsSpec {
    let settings = CounterSettings {
        input_pattern: "in\\..*".into(),
        output_topic: OUTPUT.into(),
        stamp: stamp.into(),
    };
    let mut spec = StreamsSpec::counter(
        APP_ID,
        props.clone(),
        runtime_classes.to_path_buf(),
        &settings,
        state_dir.to_path_buf(),
        log.to_path_buf(),
    );
    // Streams' consumers do not leave the group on close: a new instance on the same cluster
    // waits for the old member's session to expire (45 s by default; 6 s is the brokers'
    // minimum).
    spec.properties
        .insert("session.timeout.ms".into(), "6000".into());
    spec.properties
        .insert("heartbeat.interval.ms".into(), "1000".into());
    spec
}

fn stamps(got: &BTreeMap<String, Vec<Update>>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for u in got.values().flatten() {
        *out.entry(u.stamp.clone()).or_default() += 1;
    }
    out
}

/// Prints how long the test has run at each phase (the figures quoted in reviews).
fn phase(started: Instant, what: &str) {
    eprintln!("[{:5.1} s] {what}", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_counts_once_stops_cleanly_and_restores_its_state_from_the_changelog() {
    let test_started = Instant::now();
    let fetch_started = Instant::now();
    let runtime = StreamsRuntime::prepare(&Default::default(), |_| {})
        .await
        .expect("Java and the Streams jars");
    let fetch = fetch_started.elapsed();
    let compiled = tokio::task::block_in_place(|| runtime.reference_app()).expect("compiles");
    eprintln!(
        "streams jars: {} jars, {:.1} MiB, ready in {:.1} s; reference app {} in {:.1} s",
        runtime.dist.manifest.jars.len(),
        runtime.dist.manifest.total_bytes() as f64 / (1 << 20) as f64,
        fetch.as_secs_f64(),
        if compiled.compiled {
            "compiled"
        } else {
            "cached"
        },
        compiled.took.as_secs_f64()
    );

    phase(test_started, "jars and app ready");
    let cluster = harness::start(&ClusterSpec::new("streams"))
        .await
        .expect("cluster starts");
    let props = cluster.client_props();
    let admin = cluster.admin().unwrap();
    admin
        .create_topics(
            &[
                TopicSpec::new("in.even", 3, 1),
                TopicSpec::new("in.odd", 3, 1),
                TopicSpec::new(OUTPUT, 3, 1),
            ],
            false,
        )
        .await
        .unwrap();
    let mut expected = BTreeMap::new();
    produce(&props, 0..300, &mut expected).await;
    assert_eq!(expected.len(), KEYS);
    phase(test_started, "cluster up, 300 inputs produced");

    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("app.log");

    // Life 1: count the first 300 inputs, stop cleanly.
    let mut app = StreamsApp::start(
        &runtime,
        &spec(
            &props,
            &compiled.classes,
            "source",
            &work.path().join("state-1"),
            &log,
        ),
    )
    .expect("starts");
    let to_running =
        tokio::task::block_in_place(|| app.wait_running(Duration::from_secs(60))).expect("RUNNING");
    phase(test_started, "life 1 RUNNING");
    let got = tokio::task::block_in_place(|| wait_updates(&props, 300, &app));
    phase(test_started, "life 1: 300 updates");
    check_updates(&expected, &got).expect("every input counted once, in order");
    assert_eq!(stamps(&got), BTreeMap::from([("source".to_string(), 300)]));
    let stopping = Instant::now();
    assert!(
        tokio::task::block_in_place(|| app.stop(Duration::from_secs(30))),
        "SIGTERM ends the app within the grace"
    );
    let stop_took = stopping.elapsed();
    let first = app.log_events();
    let closed = first.closed.expect("a clean close is logged");
    assert!(closed.clean, "{first:?}");
    assert!(
        first.states.iter().any(|s| s.to == "PENDING_SHUTDOWN")
            && first.current_state() == Some("NOT_RUNNING"),
        "{:?}",
        first.states
    );
    assert!(app.family().members().is_empty(), "nothing of life 1 left");
    drop(app);
    phase(test_started, "life 1 stopped");

    // Life 2: 100 more inputs; a fresh state dir must restore `totals` from its changelog and
    // count on from there.
    produce(&props, 300..400, &mut expected).await;
    let mut app = StreamsApp::start(
        &runtime,
        &spec(
            &props,
            &compiled.classes,
            "target",
            &work.path().join("state-2"),
            &log,
        ),
    )
    .expect("starts again");
    let to_running_again =
        tokio::task::block_in_place(|| app.wait_running(Duration::from_secs(60))).expect("RUNNING");
    phase(test_started, "life 2 RUNNING");
    let got = tokio::task::block_in_place(|| wait_updates(&props, 400, &app));
    phase(test_started, "life 2: 400 updates");
    check_updates(&expected, &got).expect("counts continue across the restart");
    assert_eq!(
        stamps(&got),
        BTreeMap::from([("source".to_string(), 300), ("target".to_string(), 100)])
    );
    let second = app.log_events();
    assert_eq!(
        second.states.first().map(|s| s.from.as_str()),
        Some("CREATED"),
        "the second life's events only: {:?}",
        second.states
    );
    let restored = second.restored_records(streams::COUNTER_STORE);
    assert!(
        restored > 0,
        "the store was restored from the changelog: {second:?}"
    );
    assert!(second
        .restored(streams::COUNTER_STORE)
        .all(|r| r.topic == streams::counter_changelog(APP_ID)));
    let restore_ms = second.restore_span_ms().expect("restore times");
    assert!(tokio::task::block_in_place(
        || app.stop(Duration::from_secs(30))
    ));
    drop(app);

    // Life 3, the broken cutover: the changelog is gone (not copied), so the fresh instance
    // has nothing to restore and counting restarts. The check above must say so.
    let changelog = streams::counter_changelog(APP_ID);
    admin.delete_topic(&changelog).await.expect("deleted");
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin.list_topics().await.unwrap().contains(&changelog) {
        assert!(Instant::now() < deadline, "{changelog} still listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    produce(&props, 400..500, &mut expected).await;
    // This life runs the same classes as a user's jar would run: `jar` + main class.
    let jar = work.path().join("counter.jar");
    let packed = std::process::Command::new(runtime.java.path.with_file_name("jar"))
        .arg("--create")
        .arg("--file")
        .arg(&jar)
        .arg("-C")
        .arg(&compiled.classes)
        .arg(".")
        .status()
        .expect("jar runs");
    assert!(packed.success());
    let mut life3 = spec(
        &props,
        &compiled.classes,
        "target",
        &work.path().join("state-3"),
        &log,
    );
    life3.app = AppCode::Jar {
        jar,
        main_class: streams::compile::MAIN_CLASS.into(),
    };
    let mut app = StreamsApp::start(&runtime, &life3).expect("starts a third time");
    phase(test_started, "changelog deleted, 100 more inputs");
    tokio::task::block_in_place(|| app.wait_running(Duration::from_secs(60))).expect("RUNNING");
    phase(test_started, "life 3 RUNNING");
    let got = tokio::task::block_in_place(|| wait_updates(&props, 500, &app));
    phase(test_started, "life 3: 500 updates");
    let third = app.log_events();
    assert_eq!(
        third.restored_records(streams::COUNTER_STORE),
        0,
        "nothing to restore: {third:?}"
    );
    let err = check_updates(&expected, &got).expect_err("lost state is caught");
    eprintln!(
        "changelog deleted, the check says:\n{}",
        err.lines().take(3).collect::<Vec<_>>().join("\n")
    );
    assert!(err.contains("counting restarted from 1"), "{err}");
    assert!(
        err.lines().count() >= KEYS / 2,
        "most keys got new inputs and each restarted: {err}"
    );
    // An unplanned stop: kill -9, no close.
    let family = app.family();
    tokio::task::block_in_place(|| app.kill());
    assert!(family.members().is_empty(), "kill -9 left nothing");
    assert_eq!(app.log_events().closed, None, "a killed app does not close");
    drop(app);

    eprintln!(
        "start to RUNNING {:.1} s, again {:.1} s; stop {:.1} s; restored {restored} records in \
         {restore_ms} ms; test {:.1} s",
        to_running.as_secs_f64(),
        to_running_again.as_secs_f64(),
        stop_took.as_secs_f64(),
        test_started.elapsed().as_secs_f64()
    );
}

/// Without a cluster: an application that exits at once (its output topic is not set) is
/// reported with its exit and its own words, not waited for; a source javac rejects is
/// reported with javac's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_app_and_a_broken_source_are_reported_with_their_cause() {
    let runtime = StreamsRuntime::prepare(&Default::default(), |_| {})
        .await
        .expect("Java and the Streams jars");
    let compiled = tokio::task::block_in_place(|| runtime.reference_app()).expect("compiles");
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("app.log");
    let mut spec = spec(
        &ClientProps::bootstrap("127.0.0.1:9"),
        &compiled.classes,
        "source",
        &work.path().join("state"),
        &log,
    );
    spec.properties.remove("cutover.app.output.topic");
    let mut app = StreamsApp::start(&runtime, &spec).expect("spawns");
    let started = Instant::now();
    let err = tokio::task::block_in_place(|| app.wait_running(Duration::from_secs(60)))
        .expect_err("never RUNNING");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "an exit ends the wait early"
    );
    match &err {
        HarnessError::StreamsAppExited { status, tail, .. } => {
            assert!(status.contains('2'), "{err}");
            assert!(
                tail.contains("missing property cutover.app.output.topic"),
                "{err}"
            );
        }
        other => panic!("expected StreamsAppExited, got {other}"),
    }

    let broken = streams::compile::SOURCE
        .replace("Totals.add(totals, value)", "Totals.add(totals, value, 1)");
    let err = tokio::task::block_in_place(|| {
        streams::compile::compile_cached(&runtime.java, &runtime.dist, &broken)
    })
    .expect_err("javac refuses it");
    let text = err.to_string();
    assert!(matches!(err, HarnessError::CompileFailed { .. }), "{text}");
    assert!(
        text.contains("CutoverCounter.java") && text.contains("error:"),
        "javac's message is kept: {text}"
    );
}
