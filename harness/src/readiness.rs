//! "Ready" means: the metadata lists every broker, and a record produced with `acks=all`
//! is consumed back. Both within a deadline, with an early exit when a broker process dies.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::admin::{Admin, TopicSpec};
use crate::client_props::ClientProps;
use crate::error::{HarnessError, Result};

/// Name prefix of the throw-away topic used for the round trip.
pub const READY_TOPIC_PREFIX: &str = "__cutover_ready";

/// What went wrong while waiting, for the caller to turn into a rich error.
#[derive(Debug)]
pub enum NotReady {
    /// A broker process exited (the caller knows which and has its log).
    Died(HarnessError),
    /// The deadline passed; the last thing that failed.
    TimedOut(String),
}

/// Waits until `expected_brokers` brokers answer metadata and a round trip works.
/// `check_alive` is polled between attempts; it returns an error once a broker has died.
pub async fn wait_ready(
    cluster: &str,
    props: &ClientProps,
    expected_brokers: usize,
    deadline: Instant,
    check_alive: &(dyn Fn() -> Option<HarnessError> + Send + Sync),
) -> Result<(), NotReady> {
    // Short requests: each attempt must return well before the deadline.
    let admin = Admin::new(cluster, props)
        .map_err(NotReady::Died)?
        .with_timeout(Duration::from_secs(2));
    let mut last;
    loop {
        if let Some(err) = check_alive() {
            return Err(NotReady::Died(err));
        }
        match admin.broker_ids().await {
            Ok(ids) if ids.len() >= expected_brokers => break,
            Ok(ids) => {
                last = format!(
                    "metadata lists {} of {expected_brokers} brokers ({ids:?})",
                    ids.len()
                )
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(NotReady::TimedOut(last));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let admin = admin.with_timeout(Duration::from_secs(10));
    let topic = format!("{READY_TOPIC_PREFIX}_{}", std::process::id());
    let rf = expected_brokers.min(3) as i32;
    loop {
        if let Some(err) = check_alive() {
            return Err(NotReady::Died(err));
        }
        match round_trip(&admin, props, &topic, rf, deadline).await {
            Ok(()) => break,
            Err(e) => last = format!("produce/consume round trip: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(NotReady::TimedOut(last));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Best effort: the topic is ours and tiny; leaving it would only clutter listings.
    let _ = admin.delete_topic(&topic).await;
    Ok(())
}

async fn round_trip(
    admin: &Admin,
    props: &ClientProps,
    topic: &str,
    rf: i32,
    deadline: Instant,
) -> std::result::Result<(), String> {
    if admin.describe_topic(topic).await.is_err() {
        admin
            .create_topic(&TopicSpec::new(topic, 1, rf))
            .await
            .map_err(|e| e.to_string())?;
    }
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    let mut config: ClientConfig = props.to_rdkafka().map_err(|e| e.to_string())?;
    let producer: FutureProducer = config
        .clone()
        .set("acks", "all")
        .set("message.timeout.ms", remaining.as_millis().to_string())
        .create()
        .map_err(|e| e.to_string())?;
    let marker = format!("ready-{}", std::process::id());
    let offset = producer
        .send(
            FutureRecord::to(topic).key("cutover").payload(&marker),
            remaining,
        )
        .await
        .map_err(|(e, _)| e.to_string())?
        .offset;

    crate::reader::read_only(&mut config, "cutover-ready").set("isolation.level", "read_committed");
    let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .map_err(|e| e.to_string())?;
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(msg))
                    if msg.topic() == topic && msg.payload() == Some(marker.as_bytes()) =>
                {
                    return Ok(())
                }
                Some(Err(e)) => return Err(e.to_string()),
                _ => {}
            }
        }
        Err("the produced record was not consumed back in time".to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
