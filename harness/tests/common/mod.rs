//! Helpers shared by the harness integration tests: produce and read back real records.
#![allow(dead_code)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Read {
    pub fn value_str(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }
}

pub fn config(props: &ClientProps) -> ClientConfig {
    props.to_rdkafka().expect("client props translate")
}

pub fn producer(props: &ClientProps, extra: &[(&str, &str)]) -> FutureProducer {
    let mut c = config(props);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

/// Produces `values` to `topic` (keyed by value) and waits for every ack.
pub async fn produce_all(props: &ClientProps, topic: &str, values: &[String]) {
    let p = producer(props, &[("acks", "all")]);
    for v in values {
        p.send(
            FutureRecord::to(topic).key(v.as_str()).payload(v.as_str()),
            Duration::from_secs(30),
        )
        .await
        .expect("delivered");
    }
}

/// Reads every partition of `topic` from the beginning to its end (high watermark, or the
/// last stable offset for read_committed), using partition-EOF events.
pub fn read_all(props: &ClientProps, topic: &str, isolation: &str) -> Vec<Read> {
    let consumer: BaseConsumer = config(props)
        .set("group.id", "cutover-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let meta = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = meta.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut done: HashSet<i32> = HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.len() < partitions.len() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} did not reach its end in 60 s"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(Read {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                done.insert(p);
            }
            // librdkafka reports lost connections (a broker restarting) and recovers by itself.
            Some(Err(e)) if is_transient(&e) => {}
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// True for consumer errors librdkafka recovers from on its own.
pub fn is_transient(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure)
            | Some(RDKafkaErrorCode::AllBrokersDown)
            | Some(RDKafkaErrorCode::NotLeaderForPartition)
            | Some(RDKafkaErrorCode::LeaderNotAvailable)
            | Some(RDKafkaErrorCode::RequestTimedOut)
    )
}

/// True for errors a producer may see transiently while a broker dies.
pub fn is_retriable(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::NotEnoughReplicas)
            | Some(RDKafkaErrorCode::NotEnoughReplicasAfterAppend)
            | Some(RDKafkaErrorCode::RequestTimedOut)
            | Some(RDKafkaErrorCode::MessageTimedOut)
    )
}

/// Pids of running `kafka.Kafka` JVMs whose command line mentions `needle`.
pub fn broker_jvms_matching(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmd.contains("kafka.Kafka") && cmd.contains(needle) {
            // A zombie has an empty cmdline, so anything listed here is alive.
            pids.push(pid);
        }
    }
    pids
}
