//! A real Kafka Connect cluster from the Apache Kafka jars (`harness::connect`), on real
//! one-broker clusters: MirrorMaker 2's `MirrorSourceConnector` deployed on two workers copies
//! every record, and its task 0 moves to the other worker when its worker is killed -9 (the
//! status says so and the group's generation goes up); a connector compiled in the test from
//! the cached `connect-api` jar runs through `plugin_path`; three workers form one group, one
//! leaves gracefully and another joins, each seen as a new generation.
//!
//! The tests take a lock so that one set of JVMs runs at a time on small CI machines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::connect::{ConnectCluster, ConnectSpec, State};
use harness::{ClientProps, ClusterSpec, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Worker settings that make a lost worker's tasks move within seconds instead of Connect's
/// defaults (10 s session timeout, then 5 minutes of `scheduled.rebalance.max.delay.ms`).
fn quick_rebalance(spec: &mut ConnectSpec) {
    for (k, v) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("scheduled.rebalance.max.delay.ms", "3000"),
        ("offset.flush.interval.ms", "1000"),
    ] {
        spec.worker_props.insert(k.into(), v.into());
    }
    spec.heap_mb = 256;
}

fn produce(
    rt: &tokio::runtime::Runtime,
    props: &ClientProps,
    topic: &str,
    range: std::ops::Range<u32>,
) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = props.to_rdkafka().unwrap().create().unwrap();
    rt.block_on(async {
        for i in range {
            producer
                .send(
                    FutureRecord::to(topic)
                        .key(&format!("k{i}"))
                        .payload(&format!("v{i}")),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    });
}

/// Reads `topic` from the beginning until every value in `expected` was seen or `timeout`
/// passed; returns how often each value was read.
fn read_values(
    props: &ClientProps,
    topic: &str,
    expected: &BTreeSet<String>,
    timeout: Duration,
) -> BTreeMap<String, u32> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", props.bootstrap_servers().unwrap())
        .set("group.id", "connect-test-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = c.create().unwrap();
    let deadline = Instant::now() + timeout;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    // The topic may not exist yet (the connector creates it): wait for its partitions.
    let partitions = loop {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .unwrap();
        let n = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if n > 0 || Instant::now() >= deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    while Instant::now() < deadline && !expected.iter().all(|v| seen.contains_key(v)) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            *seen.entry(value).or_default() += 1;
        }
    }
    // A moment more, so that duplicates behind the last expected value are counted too.
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            *seen.entry(value).or_default() += 1;
        }
    }
    seen
}

fn values(range: std::ops::Range<u32>) -> BTreeSet<String> {
    range.map(|i| format!("v{i}")).collect()
}

fn missing(expected: &BTreeSet<String>, seen: &BTreeMap<String, u32>) -> Vec<String> {
    expected
        .iter()
        .filter(|v| !seen.contains_key(*v))
        .take(10)
        .cloned()
        .collect()
}

#[test]
#[ignore = "CI covers a crashed worker's tasks moving through the catalog's connect-rebalance and tests/connect_system.rs; by hand: cargo test --test connect -- --ignored"]
fn mirror_source_connector_copies_every_record_and_its_task_moves_when_its_worker_crashes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    let (source_spec, target_spec) = (
        ClusterSpec::new("connect-src"),
        ClusterSpec::new("connect-tgt"),
    );
    let (source, target) = rt.block_on(async {
        let (s, t) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
        (s.expect("source cluster"), t.expect("target cluster"))
    });
    rt.block_on(async {
        source
            .admin()
            .unwrap()
            .create_topic(&TopicSpec::new("orders", 2, 1))
            .await
            .unwrap()
    });
    produce(&rt, &source.client_props(), "orders", 0..300);

    let mut spec = ConnectSpec::new("mirror", target.client_props());
    spec.workers = 2;
    quick_rebalance(&mut spec);
    let started = Instant::now();
    let mut connect = rt
        .block_on(ConnectCluster::start(spec))
        .expect("Connect cluster");
    eprintln!(
        "2 Connect workers in one group after {:?}",
        started.elapsed()
    );
    assert_eq!(connect.workers().len(), 2);

    let config: BTreeMap<String, String> = [
        (
            "connector.class",
            "org.apache.kafka.connect.mirror.MirrorSourceConnector",
        ),
        ("source.cluster.alias", "source"),
        ("target.cluster.alias", "target"),
        (
            "source.cluster.bootstrap.servers",
            &source.bootstrap_servers(),
        ),
        (
            "target.cluster.bootstrap.servers",
            &target.bootstrap_servers(),
        ),
        ("topics", "orders"),
        (
            "replication.policy.class",
            "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
        ),
        ("tasks.max", "2"),
        ("replication.factor", "1"),
        ("offset-syncs.topic.replication.factor", "1"),
        ("sync.topic.acls.enabled", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let rest = connect.rest().unwrap();
    let info = rest
        .put_connector_config("mirror", &config, Duration::from_secs(60))
        .expect("connector created");
    assert_eq!(info.name, "mirror");
    assert_eq!(rest.list().unwrap(), vec!["mirror".to_string()]);
    // The connector may start with fewer tasks and reconfigure once it has listed the
    // source's partitions: wait for one task per partition (tasks.max = 2), all running.
    let status = rest
        .wait_status("mirror", Duration::from_secs(90), "2 tasks RUNNING", |s| {
            s.tasks.len() == 2 && s.all_running()
        })
        .expect("MirrorSourceConnector running with 2 tasks");
    eprintln!("deployed: {}", status.summary());

    let first = values(0..300);
    let seen = read_values(
        &target.client_props(),
        "orders",
        &first,
        Duration::from_secs(60),
    );
    assert!(
        missing(&first, &seen).is_empty(),
        "records missing on the target: {:?} ({} of 300 arrived)",
        missing(&first, &seen),
        seen.len()
    );

    // Crash the worker running task 0.
    let assignment = connect.task_assignment("mirror").unwrap();
    let victim = assignment[&0];
    let survivor = connect
        .workers()
        .iter()
        .map(|w| w.index)
        .find(|i| *i != victim)
        .unwrap();
    let victim_id = connect.worker_id(victim).unwrap();
    let survivor_id = connect.worker_id(survivor).unwrap();
    let generation_before = connect
        .current_generation()
        .expect("a generation was logged");
    let leader = connect
        .leader()
        .expect("the leader of the latest generation");
    assert!(leader == victim || leader == survivor);
    eprintln!(
        "task 0 runs on worker {victim}, the {} (the connector on {})",
        if leader == victim {
            "leader"
        } else {
            "follower"
        },
        status.connector.worker_id
    );
    let family = connect.family(victim).unwrap();
    let crashed = Instant::now();
    connect.crash_worker(victim).unwrap();
    assert!(
        family.members().is_empty(),
        "kill -9 left {:?}",
        family.members()
    );
    let moved = connect
        .wait_status(
            "mirror",
            Duration::from_secs(60),
            "task 0 RUNNING on the survivor",
            |s| {
                s.tasks
                    .iter()
                    .any(|t| t.id == 0 && t.state == State::Running && t.worker_id == survivor_id)
            },
        )
        .expect("task 0 moved");
    eprintln!(
        "task 0 moved from {victim_id} to {survivor_id} {:?} after the crash \
         (session.timeout.ms 6 s, scheduled.rebalance.max.delay.ms 3 s)",
        crashed.elapsed()
    );
    assert!(moved.all_running(), "{}", moved.summary());
    assert!(
        moved.tasks.iter().all(|t| t.worker_id == survivor_id),
        "every task on the survivor: {}",
        moved.summary()
    );
    assert_eq!(connect.task_assignment("mirror").unwrap()[&0], survivor);
    let generation_after = connect.current_generation().unwrap();
    assert!(
        generation_after > generation_before,
        "the crash made a new generation: before {generation_before}, after {generation_after}; history {:?}",
        connect.generations()
    );
    let last = connect.generations().pop().unwrap();
    assert_eq!(
        last.members.keys().copied().collect::<Vec<_>>(),
        vec![survivor],
        "only the survivor is in generation {}",
        last.generation
    );
    assert_eq!(connect.leader(), Some(survivor), "the survivor leads");

    // The moved task copies what comes next.
    produce(&rt, &source.client_props(), "orders", 300..400);
    let all = values(0..400);
    let seen = read_values(
        &target.client_props(),
        "orders",
        &all,
        Duration::from_secs(60),
    );
    assert!(
        missing(&all, &seen).is_empty(),
        "records missing after the move: {:?}",
        missing(&all, &seen)
    );
    drop(connect);
    rt.block_on(async {
        let _ = source.shutdown().await;
        let _ = target.shutdown().await;
    });
}

/// `javac` and `jar` of the JDK that runs Connect, else on `PATH`.
fn jdk_tool(name: &str, java: &Path) -> Option<PathBuf> {
    let beside = java.parent().map(|d| d.join(name));
    if let Some(p) = beside.filter(|p| p.is_file()) {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

const CONNECTOR_JAVA: &str = r#"package cutover.test;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.source.SourceConnector;

/** Emits `count` fixed records to `topic` with one task. */
public class FixedSourceConnector extends SourceConnector {
    private Map<String, String> props;
    @Override public String version() { return "1.0"; }
    @Override public void start(Map<String, String> props) { this.props = props; }
    @Override public Class<? extends Task> taskClass() { return FixedSourceTask.class; }
    @Override public List<Map<String, String>> taskConfigs(int maxTasks) { return List.of(props); }
    @Override public void stop() {}
    @Override public ConfigDef config() {
        return new ConfigDef()
            .define("topic", ConfigDef.Type.STRING, ConfigDef.Importance.HIGH, "target topic")
            .define("count", ConfigDef.Type.INT, ConfigDef.Importance.HIGH, "records to emit");
    }
}
"#;

const TASK_JAVA: &str = r#"package cutover.test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/** Emits records k{i}/v{i} for i in [next, count), resuming from its committed offset. */
public class FixedSourceTask extends SourceTask {
    private static final Map<String, String> PARTITION = Map.of("fixed", "0");
    private String topic;
    private int count;
    private int next;
    @Override public String version() { return "1.0"; }
    @Override public void start(Map<String, String> props) {
        topic = props.get("topic");
        count = Integer.parseInt(props.get("count"));
        Map<String, Object> offset = context.offsetStorageReader().offset(PARTITION);
        next = offset == null ? 0 : ((Number) offset.get("next")).intValue();
    }
    @Override public List<SourceRecord> poll() throws InterruptedException {
        if (next >= count) { Thread.sleep(200); return null; }
        List<SourceRecord> out = new ArrayList<>();
        while (next < count && out.size() < 100) {
            out.add(new SourceRecord(PARTITION, Map.of("next", next + 1), topic, null,
                Schema.BYTES_SCHEMA, ("k" + next).getBytes(StandardCharsets.UTF_8),
                Schema.BYTES_SCHEMA, ("v" + next).getBytes(StandardCharsets.UTF_8)));
            next++;
        }
        return out;
    }
    @Override public void stop() {}
}
"#;

/// Compiles the fixed source connector against `classpath` and jars it into
/// `<plugins>/fixed-source/fixed-source.jar` (with its ServiceLoader manifest, so every
/// `plugin.discovery` mode finds it). Err: why it could not.
fn build_connector_plugin(
    javac: &Path,
    jar: &Path,
    classpath: &str,
    work: &Path,
    plugins: &Path,
) -> Result<PathBuf, String> {
    let src = work.join("src/cutover/test");
    let classes = work.join("classes");
    std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(classes.join("META-INF/services")).map_err(|e| e.to_string())?;
    std::fs::write(src.join("FixedSourceConnector.java"), CONNECTOR_JAVA)
        .map_err(|e| e.to_string())?;
    std::fs::write(src.join("FixedSourceTask.java"), TASK_JAVA).map_err(|e| e.to_string())?;
    std::fs::write(
        classes.join("META-INF/services/org.apache.kafka.connect.source.SourceConnector"),
        "cutover.test.FixedSourceConnector\n",
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(javac)
        .args(["--release", "17", "-cp", classpath, "-d"])
        .arg(&classes)
        .arg(src.join("FixedSourceConnector.java"))
        .arg(src.join("FixedSourceTask.java"))
        .output()
        .map_err(|e| format!("running {}: {e}", javac.display()))?;
    if !out.status.success() {
        return Err(format!(
            "javac failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let dir = plugins.join("fixed-source");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let jar_path = dir.join("fixed-source.jar");
    let out = Command::new(jar)
        .arg("cf")
        .arg(&jar_path)
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .output()
        .map_err(|e| format!("running {}: {e}", jar.display()))?;
    if !out.status.success() {
        return Err(format!(
            "jar failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(jar_path)
}

#[test]
fn a_connector_compiled_here_runs_through_plugin_path() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    let version = harness::KafkaVersion::default();
    let connect_runtime = rt
        .block_on(harness::connect::ConnectRuntime::prepare(&version, |_| {}))
        .expect("Connect jars and Java");
    let (Some(javac), Some(jar)) = (
        jdk_tool("javac", &connect_runtime.java.path),
        jdk_tool("jar", &connect_runtime.java.path),
    ) else {
        eprintln!(
            "skipped: no javac/jar beside {} or on PATH (a JDK, not a JRE, is needed to build the test connector)",
            connect_runtime.java.path.display()
        );
        return;
    };
    let api = connect_runtime
        .jar("connect-api")
        .expect("connect-api in the cache");
    let clients = connect_runtime
        .jar("kafka-clients")
        .expect("kafka-clients in the cache");
    let work = tempfile::tempdir().unwrap();
    let plugins = work.path().join("plugins");
    let classpath = format!("{}:{}", api.display(), clients.display());
    let built = build_connector_plugin(&javac, &jar, &classpath, work.path(), &plugins)
        .expect("the test connector compiles");
    assert!(built.is_file());

    let target = rt
        .block_on(harness::start(&ClusterSpec::new("connect-plugin")))
        .expect("cluster");
    rt.block_on(async {
        target
            .admin()
            .unwrap()
            .create_topic(&TopicSpec::new("fixed", 1, 1))
            .await
            .unwrap()
    });
    let mut spec = ConnectSpec::new("plugin", target.client_props());
    spec.version = version;
    spec.plugin_path = vec![plugins.clone()];
    spec.heap_mb = 256;
    let connect = ConnectCluster::start_with(connect_runtime, spec).expect("one worker");
    let rest = connect.rest().unwrap();
    let config: BTreeMap<String, String> = [
        ("connector.class", "cutover.test.FixedSourceConnector"),
        ("tasks.max", "1"),
        ("topic", "fixed"),
        ("count", "250"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    rest.put_connector_config("fixed", &config, Duration::from_secs(60))
        .expect("the plugin's connector is accepted");
    let status = rest
        .wait_running("fixed", Duration::from_secs(60))
        .expect("the plugin's connector runs");
    assert_eq!(status.kind.as_deref(), Some("source"));

    let expected = values(0..250);
    let seen = read_values(
        &target.client_props(),
        "fixed",
        &expected,
        Duration::from_secs(60),
    );
    assert!(
        missing(&expected, &seen).is_empty(),
        "records missing: {:?}",
        missing(&expected, &seen)
    );
    assert_eq!(
        seen.len(),
        250,
        "nothing but the connector's records: {seen:?}"
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "each record once: {:?}",
        seen.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );

    // Lifecycle through REST: pause, resume, restart with tasks, delete.
    rest.pause("fixed").unwrap();
    connect
        .wait_status("fixed", Duration::from_secs(30), "PAUSED", |s| {
            s.connector.state == State::Paused && s.tasks.iter().all(|t| t.state == State::Paused)
        })
        .expect("paused");
    rest.resume("fixed").unwrap();
    rest.wait_running("fixed", Duration::from_secs(30))
        .expect("resumed");
    let restarting = rest.restart_connector("fixed", true, false).unwrap();
    assert!(
        restarting.is_some(),
        "includeTasks answers 202 with a status"
    );
    rest.wait_running("fixed", Duration::from_secs(30))
        .expect("restarted");
    rest.restart_task("fixed", 0).unwrap();
    rest.wait_running("fixed", Duration::from_secs(30))
        .expect("task restarted");
    rest.delete("fixed").unwrap();
    assert!(rest.list().unwrap().is_empty(), "deleted from the config");
    rest.wait_deleted("fixed", Duration::from_secs(30))
        .expect("its status goes too");
    // The resumed and restarted task started from its committed offset: still 250 records.
    let seen = read_values(
        &target.client_props(),
        "fixed",
        &expected,
        Duration::from_secs(10),
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "no record twice after restarts"
    );
    drop(connect);
    rt.block_on(async {
        let _ = target.shutdown().await;
    });
}

#[test]
#[ignore = "CI covers leaves and joins as new generations through the catalog's connect-rebalance (three workers); by hand: cargo test --test connect -- --ignored"]
fn three_workers_form_one_group_and_a_leave_and_a_join_are_new_generations() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    let target = rt
        .block_on(harness::start(&ClusterSpec::new("connect-three")))
        .expect("cluster");
    let connect_runtime = rt
        .block_on(harness::connect::ConnectRuntime::prepare(
            &harness::KafkaVersion::default(),
            |_| {},
        ))
        .expect("Connect jars and Java");
    let mut spec = ConnectSpec::new("three", target.client_props());
    spec.workers = 3;
    quick_rebalance(&mut spec);
    let started = Instant::now();
    let mut connect = ConnectCluster::start_with(connect_runtime, spec).expect("three workers");
    eprintln!(
        "3 Connect workers in one group after {:?}",
        started.elapsed()
    );
    let workers = connect.workers();
    assert_eq!(workers.len(), 3);
    let formed = connect.generations().pop().expect("a generation");
    assert_eq!(
        formed.members.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2],
        "all three in generation {}",
        formed.generation
    );
    for w in &workers {
        let pid = connect.pid(w.index).unwrap();
        assert_eq!(pid, w.pid);
        let members = connect.family(w.index).unwrap().members();
        assert!(
            members.iter().any(|p| p.pid == pid && p.pgrp == pid),
            "{members:?}"
        );
        assert!(w.log.is_file());
    }

    // A graceful leave: the worker exits on SIGTERM and the others form a new generation.
    let before = formed.generation;
    assert!(
        connect.stop_worker(1, Duration::from_secs(30)).unwrap(),
        "worker 1 stopped within the grace period"
    );
    let after_leave = connect
        .wait_generation_above(before, Duration::from_secs(60))
        .expect("a generation without worker 1");
    let gens = connect.generations();
    let left = gens.iter().find(|g| g.generation == after_leave).unwrap();
    assert_eq!(left.members.keys().copied().collect::<Vec<_>>(), vec![0, 2]);
    let stopped_log = std::fs::read_to_string(connect.log_path(1).unwrap()).unwrap();
    assert!(
        stopped_log.contains("Herder stopped") || stopped_log.contains("Kafka Connect stopped"),
        "the worker shut down cleanly; its log ends:\n{}",
        stopped_log
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // A join: a new index and port, in the group's next generation with both others.
    let joined = connect.add_worker().expect("a worker joins");
    assert_eq!(joined, 3);
    let last = connect.generations().pop().unwrap();
    assert!(last.generation > after_leave);
    assert_eq!(
        last.members.keys().copied().collect::<Vec<_>>(),
        vec![0, 2, 3]
    );
    assert!(matches!(
        connect.crash_worker(1),
        Err(harness::ConnectError::NoSuchWorker { index: 1, .. })
    ));
    let dir = connect.work_dir().to_path_buf();
    assert!(dir.join("worker-0.properties").is_file());
    drop(connect);
    assert!(!dir.exists(), "the work dir is removed with the cluster");
    rt.block_on(async {
        let _ = target.shutdown().await;
    });
}

#[test]
fn a_worker_that_exits_fails_the_start_with_its_log() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    // Connect validates its config before it reaches Kafka: no cluster is needed to fail.
    let mut spec = ConnectSpec::new("bad", ClientProps::bootstrap("127.0.0.1:1"));
    spec.heap_mb = 256;
    spec.worker_props
        .insert("exactly.once.source.support".into(), "sometimes".into());
    spec.ready_timeout = Duration::from_secs(60);
    let started = Instant::now();
    let err = rt
        .block_on(ConnectCluster::start(spec))
        .expect_err("an invalid worker config cannot start");
    let text = err.to_string();
    assert!(
        matches!(err, harness::ConnectError::WorkerExited { .. }),
        "the worker's exit ends the wait: {text}"
    );
    assert!(text.contains("exactly.once.source.support"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "found before the timeout: {:?}",
        started.elapsed()
    );
}
