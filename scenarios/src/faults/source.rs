//! The verbs on the source's data: add-partitions (a topic grown, proven by committed
//! records on its new partitions), aborted-burst (transactions written and aborted, proven
//! from the source log: present below the high watermark, none readable `read_committed`),
//! hanging-transaction (a transaction held open, proven by the last stable offset held at its
//! first offset). Their proofs read through one read-only reader ([`proof_reader`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::verbs::{workload_topic, DurationUse, FaultVerb, VerbCheck};
use super::FaultTargets;

/// `add-partitions`: grow a source topic.
pub struct AddPartitions {
    pub topic: String,
    /// Its new partition count.
    pub partitions: u32,
}

#[async_trait]
impl FaultVerb for AddPartitions {
    fn name(&self) -> &'static str {
        "add-partitions"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    fn grows(&self) -> Option<(&str, u32)> {
        Some((&self.topic, self.partitions))
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        workload_topic(&self.topic, check)?;
        let created = check.scenario.workload.topics.partitions;
        if self.partitions as i32 <= created {
            return Err((
                "partitions".into(),
                format!(
                    "`{}` is created with {created} partitions; expected more, found {}",
                    self.topic, self.partitions
                ),
            ));
        }
        Ok(())
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let (topic, partitions) = (&self.topic, self.partitions);
        let admin = on.source.admin().map_err(|e| e.to_string())?;
        let old = admin
            .describe_topic(topic)
            .await
            .map(|d| d.partitions.len() as i32)
            .map_err(|e| e.to_string())?;
        admin
            .add_partitions(topic, partitions as usize)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let now = loop {
            let now = admin
                .describe_topic(topic)
                .await
                .map(|d| d.partitions.len())
                .unwrap_or(0);
            if now >= partitions as usize {
                break now as i32;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{topic} still has {now} partitions, not {partitions}, 30 s later"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        new_partitions_written(&on.source.direct_client_props(), topic, old, now).await
    }
}

/// `aborted-burst`: transactions written and aborted on the source.
pub struct AbortedBurst {
    pub topic: String,
    pub transactions: u32,
    pub records_per_txn: u32,
}

#[async_trait]
impl FaultVerb for AbortedBurst {
    fn name(&self) -> &'static str {
        "aborted-burst"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        workload_topic(&self.topic, check)
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let props = on.source.direct_client_props();
        let (topic, n, m) = (self.topic.clone(), self.transactions, self.records_per_txn);
        tokio::task::spawn_blocking(move || aborted_burst(&props, &topic, n, m))
            .await
            .map_err(|e| e.to_string())?
    }
}

/// `hanging-transaction`: a source transaction held open for the duration, then aborted.
pub struct HangingTransaction {
    pub topic: String,
    pub partition: i32,
    pub records: u32,
}

#[async_trait]
impl FaultVerb for HangingTransaction {
    fn name(&self) -> &'static str {
        "hanging-transaction"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        workload_topic(&self.topic, check)?;
        let (topic, partition) = (&self.topic, self.partition);
        // The partitions the topic has by then: created, or grown by an earlier
        // add-partitions fault.
        let grown = check
            .scenario
            .faults
            .iter()
            .filter(|g| g.at_secs <= check.at_secs)
            .filter_map(|g| {
                let verb = g.action.verb();
                verb.grows()
                    .filter(|(t, _)| t == topic)
                    .map(|(_, n)| n as i32)
            })
            .max()
            .unwrap_or(0);
        let count = check.scenario.workload.topics.partitions.max(grown);
        if partition < 0 || partition >= count {
            return Err((
                "partition".into(),
                format!(
                    "`{topic}` has partitions 0 to {} at {} s; found {partition}",
                    count - 1,
                    check.at_secs
                ),
            ));
        }
        Ok(())
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let props = on.source.direct_client_props();
        let (topic, p, n) = (self.topic.clone(), self.partition, self.records);
        let hold = duration.unwrap_or_default();
        tokio::task::spawn_blocking(move || hanging_transaction(&props, &topic, p, n, hold))
            .await
            .map_err(|e| e.to_string())?
    }
}

/// How long the add-partitions proof waits for committed records on the new partitions, in
/// seconds: a producer learns the new count at its next metadata refresh (the workload's every
/// second; Java's default `metadata.max.age.ms` is 5 minutes).
const NEW_PARTITIONS_WAIT_SECS: u64 = 30;

/// The add-partitions proof, from the source cluster itself: a topic that grew is a test of the
/// system only once records were committed on its new partitions (`old..now`), so this waits
/// up to [`NEW_PARTITIONS_WAIT_SECS`] for some and says how many; none is the fault's error.
async fn new_partitions_written(
    props: &harness::ClientProps,
    topic: &str,
    old: i32,
    now: i32,
) -> Result<String, String> {
    if now <= old {
        return Err(format!(
            "{topic} had {old} partitions already: no partition was added"
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(NEW_PARTITIONS_WAIT_SECS);
    loop {
        let (props, name) = (props.clone(), topic.to_string());
        let counts =
            tokio::task::spawn_blocking(move || committed_records(&props, &name, old..now))
                .await
                .map_err(|e| e.to_string())?;
        match counts {
            Ok(counts) => {
                if let Some(effect) = new_partitions_effect(topic, old, now, &counts) {
                    return Ok(effect);
                }
            }
            Err(e) => tracing::debug!(topic, error = %e, "counting records on new partitions"),
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{topic} grew from {old} to {now} partitions, but the source held no committed \
                 record on partitions {old}..{} {NEW_PARTITIONS_WAIT_SECS} s later: nothing \
                 tested that the system copies new partitions",
                now - 1
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The effect text of a grown topic from the committed records of each new partition, or None
/// while they hold none.
fn new_partitions_effect(topic: &str, old: i32, now: i32, counts: &[(i32, u64)]) -> Option<String> {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    (total > 0).then(|| {
        let each: Vec<String> = counts.iter().map(|(p, n)| format!("{p}: {n}")).collect();
        format!(
            "{topic} grew from {old} to {now} partitions; the source holds {total} committed \
             records on the new partitions ({})",
            each.join(", ")
        )
    })
}

/// Committed records of each partition in `partitions` of `topic` on the cluster of `props`,
/// read `read_committed` from the beginning to the last stable offset taken first (aborted
/// records and transaction markers are not counted). Bounded: 10 s per call.
fn committed_records(
    props: &harness::ClientProps,
    topic: &str,
    partitions: std::ops::Range<i32>,
) -> Result<Vec<(i32, u64)>, String> {
    use rdkafka::error::KafkaError;
    use rdkafka::{Offset, TopicPartitionList};

    let limit = Duration::from_secs(10);
    let consumer = proof_reader(props, "read_committed")?;
    let mut counts: Vec<(i32, u64)> = Vec::new();
    // Partition → its last stable offset, for those with something below it.
    let mut open = std::collections::BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        counts.push((p, 0));
        // read_committed: the high end is the last stable offset.
        let (low, lso) = consumer
            .fetch_watermarks(topic, p, limit)
            .map_err(|e| format!("watermarks of {topic}-{p}: {e}"))?;
        if lso > low {
            open.insert(p, lso);
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
    }
    if open.is_empty() {
        return Ok(counts);
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + limit;
    while !open.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "reading the new partitions of {topic} did not reach their last stable offsets in {} s",
                limit.as_secs()
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let p = m.partition();
                let Some(&lso) = open.get(&p) else { continue };
                if m.offset() < lso {
                    if let Some(c) = counts.iter_mut().find(|(q, _)| *q == p) {
                        c.1 += 1;
                    }
                }
                if m.offset() + 1 >= lso {
                    open.remove(&p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => {}
        }
    }
    Ok(counts)
}

fn txn_producer(props: &harness::ClientProps, id: &str) -> Result<BaseProducer, String> {
    let mut c = props.to_rdkafka().map_err(|e| e.to_string())?;
    c.set("transactional.id", id);
    let p: BaseProducer = c.create().map_err(|e| e.to_string())?;
    p.init_transactions(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    Ok(p)
}

/// The key of every record a transaction fault writes: the proofs find them on the source by
/// it (no workload key looks like it).
const BURST_KEY: &str = "cutover-fault-aborted-burst";

const HANG_KEY: &str = "cutover-fault-hanging-transaction";

/// The consumer of a fault's proof (quiet about reaching a partition's end).
type ProofReader = BaseConsumer<harness::quiet::QuietEof>;

/// A read-only consumer of the source for a fault's proof.
fn proof_reader(props: &harness::ClientProps, isolation: &str) -> Result<ProofReader, String> {
    let mut c = props
        .reader("cutover-fault-proof")
        .map_err(|e| e.to_string())?;
    c.set("isolation.level", isolation)
        .set("enable.partition.eof", "true");
    c.create_with_context(harness::quiet::QuietEof)
        .map_err(|e| format!("a proof reader: {e}"))
}

/// (low, high) watermarks: with a `read_committed` reader the high one is the last stable
/// offset.
fn marks(c: &ProofReader, topic: &str, p: i32) -> Result<(i64, i64), String> {
    c.fetch_watermarks(topic, p, Duration::from_secs(10))
        .map_err(|e| format!("watermarks of {topic}-{p}: {e}"))
}

/// Offsets of the records with `key` in `topic`-`p` from `from` up to `to` (or the reader's
/// end: the last stable offset when it reads committed), within 30 s.
fn offsets_with_key(
    c: &ProofReader,
    topic: &str,
    p: i32,
    from: i64,
    to: i64,
    key: &str,
) -> Result<Vec<i64>, String> {
    let mut found = Vec::new();
    if from >= to {
        return Ok(found);
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(from))
        .map_err(|e| e.to_string())?;
    c.assign(&tpl).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.topic() == topic && m.partition() == p => {
                if m.offset() >= to {
                    break;
                }
                if m.key() == Some(key.as_bytes()) {
                    found.push(m.offset());
                }
                if m.offset() + 1 >= to {
                    break;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(q))) if q == p => break,
            Some(Err(e)) => tracing::debug!(error = %e, "fault proof read"),
            _ => {}
        }
    }
    Ok(found)
}

/// Aborted transactions on every partition the producer picks; proven from the source log:
/// the burst's records are there below the high watermark, and none of them is readable
/// `read_committed`.
fn aborted_burst(
    props: &harness::ClientProps,
    topic: &str,
    n: u32,
    m: u32,
) -> Result<String, String> {
    let uncommitted = proof_reader(props, "read_uncommitted")?;
    let committed = proof_reader(props, "read_committed")?;
    let partitions = harness::watermarks::partition_counts(
        &uncommitted,
        &[topic.to_string()],
        Duration::from_secs(10),
    )
    .map_err(|e| e.to_string())?
    .into_iter()
    .find(|(t, _)| t == topic)
    .map_or(0, |(_, n)| n);
    if partitions == 0 {
        return Err(format!("the source has no topic {topic}"));
    }
    let before: Vec<i64> = (0..partitions)
        .map(|p| marks(&uncommitted, topic, p).map(|(_, hi)| hi))
        .collect::<Result<_, _>>()?;
    let p = txn_producer(props, &format!("cutover-fault-burst-{topic}"))?;
    for t in 0..n {
        p.begin_transaction().map_err(|e| e.to_string())?;
        for r in 0..m {
            let value = format!("aborted burst txn {t} record {r}");
            p.send(
                BaseRecord::<str, str>::to(topic)
                    .key(BURST_KEY)
                    .payload(&value),
            )
            .map_err(|(e, _)| format!("aborted burst: {e}"))?;
        }
        p.flush(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        p.abort_transaction(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
    }
    let (mut present, mut readable, mut seen_in) = (0u64, 0u64, Vec::new());
    for (p, from) in before.iter().enumerate() {
        let p = p as i32;
        let (_, to) = marks(&uncommitted, topic, p)?;
        let found = offsets_with_key(&uncommitted, topic, p, *from, to, BURST_KEY)?.len() as u64;
        if found > 0 {
            seen_in.push(format!("{p}: {found}"));
            readable += offsets_with_key(&committed, topic, p, *from, to, BURST_KEY)?.len() as u64;
        }
        present += found;
    }
    aborted_burst_effect(
        topic,
        u64::from(n) * u64::from(m),
        present,
        readable,
        &seen_in,
    )
}

/// The aborted burst's proof in words: every record written is on the source, none readable
/// committed.
fn aborted_burst_effect(
    topic: &str,
    written: u64,
    present: u64,
    readable: u64,
    partitions: &[String],
) -> Result<String, String> {
    if present < written {
        return Err(format!(
            "{present} of the burst's {written} aborted records are on the source's {topic}: the burst did not reach the source"
        ));
    }
    if readable > 0 {
        return Err(format!(
            "{readable} of the burst's records on {topic} are readable read_committed: they were not aborted"
        ));
    }
    Ok(format!(
        "{present} aborted records on the source's {topic} below its high watermark (partition {}), none readable read_committed",
        partitions.join(", ")
    ))
}

/// A transaction held open on one partition, then aborted; proven from the source log: the
/// last stable offset stayed at or below the transaction's first offset for the whole hold
/// while the high watermark was past it.
fn hanging_transaction(
    props: &harness::ClientProps,
    topic: &str,
    partition: i32,
    n: u32,
    hold: Duration,
) -> Result<String, String> {
    let uncommitted = proof_reader(props, "read_uncommitted")?;
    let committed = proof_reader(props, "read_committed")?;
    let (_, before) = marks(&uncommitted, topic, partition)?;
    let p = txn_producer(props, &format!("cutover-fault-hang-{topic}-{partition}"))?;
    p.begin_transaction().map_err(|e| e.to_string())?;
    for r in 0..n {
        let value = format!("hanging record {r}");
        p.send(
            BaseRecord::<str, str>::to(topic)
                .partition(partition)
                .key(HANG_KEY)
                .payload(&value),
        )
        .map_err(|(e, _)| format!("hanging transaction: {e}"))?;
    }
    p.flush(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (_, high) = marks(&uncommitted, topic, partition)?;
    let first = offsets_with_key(&uncommitted, topic, partition, before, high, HANG_KEY)?
        .first()
        .copied();
    // The last stable offset, sampled through the hold.
    let mut samples = Vec::new();
    let mut last_high = high;
    loop {
        let (_, lso) = marks(&committed, topic, partition)?;
        let (_, hw) = marks(&uncommitted, topic, partition)?;
        samples.push(lso);
        last_high = last_high.max(hw);
        if started.elapsed() >= hold {
            break;
        }
        std::thread::sleep(Duration::from_secs(1).min(hold.saturating_sub(started.elapsed())));
    }
    p.abort_transaction(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    hanging_effect(topic, partition, n, first, &samples, last_high, hold)
}

/// The hanging transaction's proof in words.
fn hanging_effect(
    topic: &str,
    partition: i32,
    n: u32,
    first: Option<i64>,
    lso_samples: &[i64],
    high: i64,
    hold: Duration,
) -> Result<String, String> {
    let Some(first) = first else {
        return Err(format!(
            "none of the hanging transaction's {n} records is on the source's {topic}-{partition}"
        ));
    };
    let highest = lso_samples.iter().copied().max().unwrap_or(i64::MAX);
    if highest > first {
        return Err(format!(
            "the last stable offset of {topic}-{partition} reached {highest}, past the hanging transaction's first offset {first}: the transaction did not hold it"
        ));
    }
    Ok(format!(
        "the last stable offset of {topic}-{partition} held at or below {first} (the open transaction's first offset) for {:.0} s ({} samples) while the high watermark reached {high}, then aborted",
        hold.as_secs_f64(),
        lso_samples.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grown_topic_is_proven_only_by_records_on_its_new_partitions() {
        assert_eq!(
            new_partitions_effect("orders", 3, 6, &[(3, 0), (4, 0), (5, 0)]),
            None
        );
        assert_eq!(new_partitions_effect("orders", 3, 6, &[]), None);
        assert_eq!(
            new_partitions_effect("orders", 3, 6, &[(3, 12), (4, 0), (5, 30)]).as_deref(),
            Some(
                "orders grew from 3 to 6 partitions; the source holds 42 committed records on \
                 the new partitions (3: 12, 4: 0, 5: 30)"
            )
        );
    }

    #[test]
    fn transaction_faults_are_proven_from_the_source_log() {
        // Every burst record present and none readable committed: proven.
        let ok = aborted_burst_effect("p.0", 100, 100, 0, &["0: 40".into(), "2: 60".into()]);
        assert_eq!(
            ok.as_deref(),
            Ok("100 aborted records on the source's p.0 below its high watermark (partition 0: 40, 2: 60), none readable read_committed")
        );
        // Sends that never reached the source (a partition that does not exist, a refused
        // topic) used to be "aborted" because the API calls returned Ok.
        assert!(aborted_burst_effect("p.0", 100, 0, 0, &[])
            .unwrap_err()
            .contains("0 of the burst's 100"));
        assert!(aborted_burst_effect("p.0", 10, 10, 3, &[])
            .unwrap_err()
            .contains("readable read_committed"));
        let hold = Duration::from_secs(4);
        assert!(hanging_effect("l.0", 1, 10, Some(57), &[57, 50, 57], 900, hold).is_ok());
        assert!(hanging_effect("l.0", 1, 10, None, &[57], 900, hold)
            .unwrap_err()
            .contains("none of the hanging transaction's 10 records"));
        assert!(hanging_effect("l.0", 1, 10, Some(57), &[57, 80], 900, hold)
            .unwrap_err()
            .contains("reached 80, past the hanging transaction's first offset 57"));
    }
}
