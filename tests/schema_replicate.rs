//! The seed migration's schema case on real Kafka and real Apicurio Registry servers: two
//! source registries (topic groups with overlapping ids, Avro, JSON Schema and Protobuf with its
//! message-index array, v1 → v2 mid-run), one target registry; the built-in replicator copies the registries (same version
//! numbers) and translates every record's schema id. Judged record by record by schema
//! content and payload; an untranslated (byte-for-byte, MirrorMaker 2-style) copy of the same
//! records is judged too, to show what the check catches.

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::ClusterSpec;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use registry::compare::{verify, Named};
use registry::judge::{judge, Judgement, Resolver};
use registry::{Apicurio, SchemaRegistry};
use workload::{RunOptions, WorkloadSpec};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
/// Avro in registry A, JSON Schema in registry B, Protobuf (message-index array) in A.
const TOPICS: [&str; 3] = ["schemas.orders", "schemas.users", "schemas.payments"];
const RECORDS: u64 = 900;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every record of `topic`, read_committed: workload id header → value.
fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> HashMap<Vec<u8>, Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "schema-test-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = HashMap::new();
    let mut eof = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while eof < partitions && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let id = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "cutover-id"))
                    .and_then(|h| h.value)
                    .unwrap()
                    .to_vec();
                out.insert(id, m.payload().unwrap_or_default().to_vec());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => eof += 1,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_registries_keep_every_record_decodable_with_translation_and_not_without() {
    if let Err(e) = harness::java::JavaRuntime::locate_at_least(21) {
        eprintln!("SKIPPED: no Java 21+ for Apicurio Registry: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().to_path_buf();
    let t0 = Instant::now();
    // Clusters first, then the registries: on a loaded 2-core machine five JVMs starting at
    // once can exceed the brokers' readiness bound.
    let (mut ss, mut ts) = (
        ClusterSpec::new("schemas-src"),
        ClusterSpec::new("schemas-tgt"),
    );
    ss.ready_timeout_secs = 240;
    ts.ready_timeout_secs = 240;
    let (src, tgt) = tokio::join!(harness::start(&ss), harness::start(&ts));
    let (source, target) = (src.unwrap(), tgt.unwrap());
    let clusters_in = t0.elapsed();
    let logs = logs.clone();
    let registries = tokio::task::spawn_blocking(move || {
        Apicurio::start_all(&["source-a", "source-b", "target"], &logs)
    })
    .await
    .unwrap()
    .unwrap();
    eprintln!(
        "clusters ready in {:.1} s, then 3 registries in {:.1} s (each {:?})",
        clusters_in.as_secs_f64(),
        (t0.elapsed() - clusters_in).as_secs_f64(),
        registries
            .iter()
            .map(|r| format!("{:.1} s", r.started_in().as_secs_f64()))
            .collect::<Vec<_>>()
    );
    let (a, b, t) = (&registries[0], &registries[1], &registries[2]);

    let spec = WorkloadSpec::from_toml(
        &format!(
            r#"
seed = 17
records = {RECORDS}
[topics]
names = ["{}", "{}", "{}"]
partitions = 2
[record]
keys = {{ kind = "uniform", count = 100 }}
value_size = {{ min = 10, max = 60 }}
[[producer]]
rate = {{ records_per_sec = 150 }}
[schema]
registries = ["{}", "{}"]
formats = ["avro", "json", "protobuf"]
evolve_after_records = 250
"#,
            TOPICS[0],
            TOPICS[1],
            TOPICS[2],
            a.ccompat_url(),
            b.ccompat_url()
        ),
        "schema-workload",
    )
    .unwrap();
    // Topics first, so the replicator sees them at start; then replicate while producing.
    workload::runner::create_topics(&spec, &source.client_props())
        .await
        .unwrap();
    let config = dir.path().join("replicator.toml");
    std::fs::write(
        &config,
        format!(
            r#"[replication]
group_id = "schema-rep"
include = "schemas\\..*"
topic_refresh_interval_ms = 1000

[tuning]
commit_interval_ms = 200

[source]
bootstrap.servers = "{}"

[target]
bootstrap.servers = "{}"

[schemas]
target = "{}"
[[schemas.source]]
topics = "schemas\\.(orders|payments)"
url = "{}"
[[schemas.source]]
topics = "schemas\\.users"
url = "{}"
"#,
            source.bootstrap_servers(),
            target.bootstrap_servers(),
            t.ccompat_url(),
            a.ccompat_url(),
            b.ccompat_url()
        ),
    )
    .unwrap();
    // A byte-for-byte copier (the built-in replicator without [schemas], as MirrorMaker 2
    // copies): same source, target topics `raw.<name>`.
    let raw_config = dir.path().join("raw.toml");
    std::fs::write(
        &raw_config,
        format!(
            r#"[replication]
group_id = "schema-raw"
include = "schemas\\..*"
rename = {{ prefix = "raw." }}
checkpoint_topic = "raw-checkpoints.internal"
offset_syncs_topic = "raw-offset-syncs.internal"
topic_refresh_interval_ms = 1000

[source]
bootstrap.servers = "{}"

[target]
bootstrap.servers = "{}"
"#,
            source.bootstrap_servers(),
            target.bootstrap_servers(),
        ),
    )
    .unwrap();
    let raw_log = dir.path().join("raw.log");
    let raw_replicator = Killed(
        Command::new(BIN)
            .args(["replicate", "--config"])
            .arg(&raw_config)
            .env("CUTOVER_LOG", "info,librdkafka=error")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&raw_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = dir.path().join("replicator.log");
    let replicator = Killed(
        Command::new(BIN)
            .args(["replicate", "--config"])
            .arg(&config)
            .env("CUTOVER_LOG", "info,librdkafka=error")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let report = workload::run(&spec, &source.client_props(), RunOptions::default())
        .await
        .unwrap();
    assert_eq!(report.generated, RECORDS);

    // Wait for the copy (bounded), then judge record by record.
    let tb = target.bootstrap_servers().to_string();
    let sb = source.bootstrap_servers().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    let (src_records, tgt_records) = loop {
        let (sb2, tb2) = (sb.clone(), tb.clone());
        let (s, tr, raw) = tokio::task::spawn_blocking(move || {
            (
                TOPICS.map(|topic| read_all(&sb2, topic, 2)),
                TOPICS.map(|topic| read_all(&tb2, topic, 2)),
                TOPICS
                    .iter()
                    .map(|topic| read_all(&tb2, &format!("raw.{topic}"), 2).len())
                    .sum::<usize>(),
            )
        })
        .await
        .unwrap();
        let done = s.iter().zip(&tr).all(|(s, t)| s.len() == t.len()) && raw as u64 == RECORDS;
        let total: usize = tr.iter().map(HashMap::len).sum();
        if done && total as u64 == RECORDS {
            break (s.to_vec(), tr.to_vec());
        }
        assert!(
            Instant::now() < deadline,
            "copy incomplete ({total} of {RECORDS}); replicator log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    drop(replicator);
    drop(raw_replicator);

    let (ca, cb, ct) = (
        a.client().unwrap(),
        b.client().unwrap(),
        t.client().unwrap(),
    );
    // The checker with registries: the translated copy passes; the byte-for-byte copy fails
    // with schema classes only.
    let check = |rename: &str| {
        let schemas = verify::schemas::SchemaCheck::new(
            vec![
                (
                    regex::Regex::new("^(?:schemas\\.orders|schemas\\.payments)$").unwrap(),
                    std::sync::Arc::new(ca.clone()) as std::sync::Arc<dyn SchemaRegistry>,
                ),
                (
                    regex::Regex::new("^(?:schemas\\.users)$").unwrap(),
                    std::sync::Arc::new(cb.clone()),
                ),
            ],
            std::sync::Arc::new(ct.clone()),
        );
        verify::VerifyOptions {
            topics: "schemas\\..*".into(),
            rename: verify::Rename {
                prefix: rename.to_string(),
                ..verify::Rename::default()
            },
            schemas: Some(std::sync::Arc::new(schemas)),
            ..verify::VerifyOptions::default()
        }
    };
    let (sp, tp) = (source.client_props(), target.client_props());
    let good = verify::verify(&sp, &tp, &check(""), std::sync::Arc::new(|_| {}))
        .await
        .unwrap();
    let bad = verify::verify(&sp, &tp, &check("raw."), std::sync::Arc::new(|_| {}))
        .await
        .unwrap();
    eprintln!(
        "checker, translated copy: {:?} {:?}",
        good.status, good.counts
    );
    eprintln!(
        "checker, byte-for-byte copy: {:?} {:?}",
        bad.status, bad.counts
    );
    for t in &bad.topics {
        for e in t.examples.iter().take(2) {
            eprintln!(
                "  example {}: {:?} -> {:?}: {}",
                e.class,
                e.source,
                e.target,
                e.detail.clone().unwrap_or_default()
            );
        }
    }
    // Protobuf records carry their message-index array, kept through the translation: `[0]`
    // (the single byte 0) for v1's Event, `[1]` (bytes 2, 2) for v2's, where Note comes first.
    let mut index_paths: BTreeMap<Vec<i64>, usize> = BTreeMap::new();
    for (id, sv) in &src_records[2] {
        let (s, t) = (
            registry::wire::parse(sv).unwrap(),
            registry::wire::parse(&tgt_records[2][id]).unwrap(),
        );
        let (indexes, message) = registry::wire::protobuf_indexes(s.payload).unwrap();
        assert_eq!(
            s.payload, t.payload,
            "payload and indexes copied as they are"
        );
        assert_eq!(message[0], 0x08, "Event's field 1 follows the indexes");
        *index_paths.entry(indexes).or_default() += 1;
    }
    eprintln!("protobuf message-index paths: {index_paths:?}");
    assert_eq!(
        index_paths.keys().cloned().collect::<Vec<_>>(),
        vec![vec![0], vec![1]],
        "v1 and v2 records"
    );
    let outcome = tokio::task::spawn_blocking(move || {
        let (ra, rb, rt) = (
            Resolver::new(std::sync::Arc::new(ca.clone())),
            Resolver::new(std::sync::Arc::new(cb.clone())),
            Resolver::new(std::sync::Arc::new(ct.clone())),
        );
        let mut translated: BTreeMap<Judgement, usize> = BTreeMap::new();
        let mut untranslated: BTreeMap<Judgement, usize> = BTreeMap::new();
        let mut source_ids: BTreeMap<&str, std::collections::BTreeSet<u32>> = BTreeMap::new();
        for (i, topic) in TOPICS.iter().enumerate() {
            let rs = if i % 2 == 0 { &ra } else { &rb };
            for (id, sv) in &src_records[i] {
                source_ids
                    .entry(topic)
                    .or_default()
                    .insert(registry::wire::parse(sv).unwrap().id);
                let tv = &tgt_records[i][id];
                *translated
                    .entry(judge(rs, &rt, sv, tv).unwrap().0)
                    .or_default() += 1;
                // What a byte-for-byte copy (MirrorMaker 2) would have written: the source id.
                *untranslated
                    .entry(judge(rs, &rt, sv, sv).unwrap().0)
                    .or_default() += 1;
            }
        }
        let sources = [
            Named {
                name: "source-a".into(),
                registry: &ca as &dyn SchemaRegistry,
            },
            Named {
                name: "source-b".into(),
                registry: &cb,
            },
        ];
        let verdict = verify(
            &sources,
            &Named {
                name: "target".into(),
                registry: &ct,
            },
        )
        .unwrap();
        let versions: Vec<(String, Vec<u32>)> = ct
            .subjects()
            .unwrap()
            .into_iter()
            .map(|s| {
                let v = ct.versions(&s).unwrap();
                (s, v)
            })
            .collect();
        (translated, untranslated, source_ids, verdict, versions)
    })
    .await
    .unwrap();
    let (translated, untranslated, source_ids, verdict, versions) = outcome;
    eprintln!("source ids per topic: {source_ids:?}");
    eprintln!("translated copy:   {translated:?}");
    eprintln!("untranslated copy: {untranslated:?}");
    eprintln!("target subjects: {versions:?}");
    eprintln!("{}", verdict.render_text(10));
    assert_eq!(
        translated.get(&Judgement::Same),
        Some(&(RECORDS as usize)),
        "{translated:?}"
    );
    assert_eq!(translated.len(), 1, "{translated:?}");
    assert_eq!(
        source_ids[TOPICS[0]].iter().next(),
        source_ids[TOPICS[1]].iter().next(),
        "the two source registries' ids overlap"
    );
    assert!(
        source_ids.values().all(|ids| ids.len() == 2),
        "v1 and v2 in every topic"
    );
    let wrong: usize = untranslated
        .iter()
        .filter(|(j, _)| matches!(j, Judgement::SchemaMismatch | Judgement::SchemaUnresolved))
        .map(|(_, n)| n)
        .sum();
    assert!(
        wrong > 0,
        "an untranslated copy must be caught: {untranslated:?}"
    );
    assert_eq!(verdict.outcome, "pass", "{}", verdict.render_text(20));
    use verify::{AnomalyClass, Status};
    assert_eq!(good.status, Status::Pass, "{:?}", good.counts);
    assert_eq!(good.tally.source_records, RECORDS);
    assert_eq!(bad.status, Status::Fail);
    let expect = |j: Judgement| untranslated.get(&j).copied().unwrap_or(0) as u64;
    assert_eq!(
        bad.counts.get(AnomalyClass::SchemaMismatch),
        expect(Judgement::SchemaMismatch),
        "{:?}",
        bad.counts
    );
    assert_eq!(
        bad.counts.get(AnomalyClass::SchemaUnresolved),
        expect(Judgement::SchemaUnresolved)
    );
    assert_eq!(
        bad.counts.total(),
        expect(Judgement::SchemaMismatch) + expect(Judgement::SchemaUnresolved),
        "nothing but schema classes: {:?}",
        bad.counts
    );
    assert_eq!(
        verdict.matched, 6,
        "three subjects × v1, v2 with the same numbers"
    );
    for (_, v) in &versions {
        assert_eq!(v, &vec![1, 2]);
    }
    drop(registries);
}
