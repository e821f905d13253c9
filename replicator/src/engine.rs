//! The poll loop: one source consumer in the replication group, partition workers, rebalances.
//!
//! The loop owns the consumer. Records it polls go to the owning partition's worker through a
//! bounded queue. On an assignment it (1) makes sure the target topics have the partitions,
//! (2) starts a worker per new partition — exactly-once: the worker's `init_transactions`
//! fences the partition's previous writer and ends its open transaction, (3) reads the
//! checkpoints from the target (after every fenced transaction is resolved) and (4) assigns
//! the partitions at those positions. On a revocation each worker commits its batch (or the
//! batch is aborted) before the partitions are released. Partitions are never resumed from the
//! source group's offsets in exactly-once mode.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::checkpoint;
use crate::config::{Mode, ReplicatorConfig, Start};
use crate::error::{ReplicatorError, Result};
use crate::metrics::{Metrics, Totals};
use crate::topics::TopicSync;
use crate::worker::{self, Ended, Handle, Request, Routed};

type Tp = (String, i32);

/// What the rebalance callback and the loop share.
struct Shared {
    config: Arc<ReplicatorConfig>,
    metrics: Arc<Metrics>,
    producer: ClientConfig,
    target: ClientConfig,
    requests: Sender<Request>,
    runtime: tokio::runtime::Handle,
    topics: Mutex<TopicSync>,
    /// Watermarks and the group's committed offsets, without joining the group.
    lookup: BaseConsumer,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    workers: HashMap<String, HashMap<i32, Handle>>,
    /// Partitions assigned to this instance whose worker ended (fenced or failed), with when.
    orphans: BTreeMap<Tp, Instant>,
    /// At-least-once: positions to commit on the next revocation or shutdown.
    assigned: BTreeSet<Tp>,
}

struct Context {
    shared: Arc<Shared>,
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        for (name, topic) in &stats.topics {
            for (p, part) in &topic.partitions {
                if *p >= 0 && part.hi_offset >= 0 {
                    // read_committed: the end is the last stable offset.
                    let end = if part.ls_offset >= 0 {
                        part.ls_offset
                    } else {
                        part.hi_offset
                    };
                    self.shared
                        .metrics
                        .end_offset(name, *p, end, part.next_offset);
                }
            }
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts: Vec<Tp> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                tracing::info!(partitions = parts.len(), "assigned");
                self.shared.metrics.rebalance(parts.len());
                let positions = self.shared.assign(&parts);
                for ((topic, p), offset) in &positions {
                    if let Err(e) = tpl.set_partition_offset(topic, *p, Offset::Offset(*offset)) {
                        tracing::error!(topic = %topic, partition = p, offset, error = %e, "cannot set the start offset");
                    }
                }
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "assign failed");
                    self.shared.metrics.error(&format!("assign: {e}"));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let parts: Vec<Tp> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                tracing::info!(
                    partitions = parts.len(),
                    lost = consumer.assignment_lost(),
                    "revoked"
                );
                let positions = self.shared.revoke(&parts);
                self.shared
                    .commit_source(consumer, &positions, CommitMode::Sync);
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error; releasing the assignment");
                let all: Vec<Tp> = self.shared.owned();
                let positions = self.shared.revoke(&all);
                self.shared
                    .commit_source(consumer, &positions, CommitMode::Sync);
                let _ = consumer.unassign();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn owned(&self) -> Vec<Tp> {
        let state = self.lock();
        state
            .workers
            .iter()
            .flat_map(|(t, ps)| ps.keys().map(move |p| (t.clone(), *p)))
            .collect()
    }

    /// Starts workers for newly assigned partitions and returns their start offsets.
    fn assign(&self, parts: &[Tp]) -> Vec<(Tp, i64)> {
        // 1. target topics with enough partitions, before any record is written.
        let mut wanted: BTreeMap<&str, i32> = BTreeMap::new();
        for (t, p) in parts {
            let e = wanted.entry(t.as_str()).or_insert(0);
            *e = (*e).max(p + 1);
        }
        let mut ready_parts = Vec::new();
        {
            let mut topics = match self.topics.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            for (t, n) in &wanted {
                if let Err(e) = self.runtime.block_on(topics.ensure(t, *n)) {
                    tracing::error!(topic = %t, error = %e, "cannot prepare the target topic; its partitions wait");
                    self.metrics.error(&format!("target topic for {t}: {e}"));
                    let mut state = self.lock();
                    for tp in parts.iter().filter(|(pt, _)| pt == t) {
                        state.orphans.insert(tp.clone(), Instant::now());
                    }
                    continue;
                }
                ready_parts.extend(parts.iter().filter(|(pt, _)| pt == t).cloned());
            }
        }
        // 2. workers (exactly-once: init_transactions fences the previous writer).
        let handles = self.start_workers(&ready_parts);
        // 3. positions.
        let positions = match self
            .positions(&handles.iter().map(|(tp, _)| tp.clone()).collect::<Vec<_>>())
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the start positions; the partitions wait");
                self.metrics.error(&e.to_string());
                let mut state = self.lock();
                for (tp, h) in handles {
                    h.finish.store(true, Ordering::Release);
                    state.orphans.insert(tp, Instant::now());
                }
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut state = self.lock();
        for (tp, handle) in handles {
            let Some(offset) = positions.get(&tp).copied() else {
                handle.finish.store(true, Ordering::Release);
                state.orphans.insert(tp, Instant::now());
                continue;
            };
            let _ = handle.start.send(offset);
            self.metrics.position(&tp.0, tp.1, offset);
            state.orphans.remove(&tp);
            state.assigned.insert(tp.clone());
            state
                .workers
                .entry(tp.0.clone())
                .or_default()
                .insert(tp.1, handle);
            out.push((tp, offset));
        }
        self.metrics.waiting(state.orphans.len());
        out
    }

    /// Spawns workers in parallel and waits until each has its producer ready.
    fn start_workers(&self, parts: &[Tp]) -> Vec<(Tp, Handle)> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut pending: HashMap<Tp, Handle> = HashMap::new();
        for (t, p) in parts {
            match worker::spawn(
                self.config.clone(),
                self.producer.clone(),
                self.metrics.clone(),
                self.requests.clone(),
                t.clone(),
                *p,
                ready_tx.clone(),
            ) {
                Ok(h) => {
                    pending.insert((t.clone(), *p), h);
                }
                Err(e) => {
                    tracing::error!(topic = %t, partition = p, error = %e, "cannot start a worker thread");
                    self.lock().orphans.insert((t.clone(), *p), Instant::now());
                }
            }
        }
        drop(ready_tx);
        let mut out = Vec::new();
        let deadline =
            Instant::now() + Duration::from_millis(self.config.tuning.init_timeout_ms + 5_000);
        while !pending.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((t, p, result)) = ready_rx.recv_timeout(left) else {
                break;
            };
            let Some(h) = pending.remove(&(t.clone(), p)) else {
                continue;
            };
            match result {
                Ok(()) => out.push(((t, p), h)),
                Err(e) => {
                    tracing::error!(topic = %t, partition = p, error = %e, "partition writer not ready; retrying later");
                    self.metrics.error(&format!("{t}-{p}: {e}"));
                    self.lock().orphans.insert((t, p), Instant::now());
                }
            }
        }
        for (tp, h) in pending {
            h.finish.store(true, Ordering::Release);
            self.lock().orphans.insert(tp, Instant::now());
        }
        out
    }

    /// Start offsets: exactly-once from the target's checkpoints; at-least-once from the source
    /// group's committed offsets; else the `start` policy, resolved to a concrete offset.
    fn positions(&self, parts: &[Tp]) -> Result<HashMap<Tp, i64>> {
        let mut out = HashMap::new();
        if parts.is_empty() {
            return Ok(out);
        }
        let timeout = Duration::from_millis(self.config.tuning.init_timeout_ms);
        if self.config.mode == Mode::ExactlyOnce {
            let checkpoints = checkpoint::read_checkpoints(
                &self.target,
                &self.config.checkpoint_topic,
                &self.config.group_id,
                timeout,
            )?;
            for tp in parts {
                if let Some(c) = checkpoints.get(tp) {
                    out.insert(tp.clone(), c.next_offset);
                }
            }
        } else {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in parts {
                tpl.add_partition(t, *p);
            }
            let committed = self
                .lookup
                .committed_offsets(tpl, Duration::from_secs(30))
                .map_err(|e| ReplicatorError::kafka("source: committed offsets of the group", e))?;
            for e in committed.elements() {
                if let Offset::Offset(o) = e.offset() {
                    out.insert((e.topic().to_string(), e.partition()), o);
                }
            }
        }
        for (t, p) in parts {
            let known = out.get(&(t.clone(), *p)).copied();
            let (low, high) = match self.watermarks(t, *p) {
                Ok(w) => w,
                // A partition with a known position starts there even while its leader is
                // unknown (a broker down); the retention check waits for the next assignment.
                Err(e) if known.is_some() => {
                    tracing::warn!(topic = %t, partition = p, error = %e, "watermarks unavailable; starting from the committed position");
                    continue;
                }
                // Without a position there is nothing safe to start from: this partition waits
                // (re-adopted later), the others go on.
                Err(e) => {
                    tracing::warn!(topic = %t, partition = p, error = %e, "watermarks unavailable; the partition waits");
                    self.metrics.error(&format!("{t}-{p}: {e}"));
                    continue;
                }
            };
            match known {
                Some(o) if o < low => {
                    tracing::warn!(topic = %t, partition = p, position = o, log_start = low, "the source deleted records before they were copied; continuing from the log start");
                    self.metrics.error(&format!(
                        "{t}-{p}: records {o}..{low} expired at the source before they were copied"
                    ));
                    out.insert((t.clone(), *p), low);
                }
                Some(_) => {}
                None => {
                    let start = match self.config.start {
                        Start::Earliest => low,
                        Start::Latest => high,
                    };
                    out.insert((t.clone(), *p), start);
                }
            }
        }
        Ok(out)
    }

    /// Source watermarks, retried with fresh metadata (a leader may be moving).
    fn watermarks(&self, t: &str, p: i32) -> Result<(i64, i64)> {
        let mut last = None;
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(500 * attempt));
                let _ = self.lookup.fetch_metadata(Some(t), Duration::from_secs(5));
            }
            match self.lookup.fetch_watermarks(t, p, Duration::from_secs(10)) {
                Ok(w) => return Ok(w),
                Err(e) => last = Some(e),
            }
        }
        Err(ReplicatorError::kafka(
            format!("source: watermarks of {t}-{p}"),
            last.map_or_else(|| "unknown".to_string(), |e| e.to_string()),
        ))
    }

    /// Finishes the workers of `parts` (each commits its batch) and returns their positions.
    fn revoke(&self, parts: &[Tp]) -> Vec<(Tp, i64)> {
        let handles: Vec<(Tp, Handle)> = {
            let mut state = self.lock();
            let mut out = Vec::new();
            for (t, p) in parts {
                self.metrics.forget(t, *p);
                state.orphans.remove(&(t.clone(), *p));
                state.assigned.remove(&(t.clone(), *p));
                if let Some(h) = state.workers.get_mut(t).and_then(|ps| ps.remove(p)) {
                    out.push(((t.clone(), *p), h));
                }
            }
            state.workers.retain(|_, ps| !ps.is_empty());
            out
        };
        for (_, h) in &handles {
            h.finish.store(true, Ordering::Release);
        }
        // One deadline for all of them: they finish in parallel.
        let deadline = Instant::now()
            + Duration::from_millis(self.config.tuning.transaction_timeout_ms + 5_000);
        let mut positions = Vec::new();
        for (tp, h) in handles {
            match h
                .done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Ended::Finished { position: Some(p) }) => positions.push((tp, p)),
                Ok(Ended::Finished { position: None }) => {}
                Ok(Ended::Stopped { reason, fenced }) => {
                    tracing::info!(topic = %tp.0, partition = tp.1, fenced, %reason, "worker had stopped");
                }
                Err(_) => {
                    tracing::warn!(topic = %tp.0, partition = tp.1, "worker did not finish in time; its open transaction is left to the next owner's fencing");
                }
            }
        }
        positions
    }

    /// At-least-once: commits positions to the source group.
    fn commit_source<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        positions: &[(Tp, i64)],
        mode: CommitMode,
    ) {
        if self.config.mode != Mode::AtLeastOnce || positions.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in positions {
            if tpl.add_partition_offset(t, *p, Offset::Offset(*o)).is_err() {
                continue;
            }
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => self.metrics.offset_commit(),
            Err(e) => {
                tracing::warn!(error = %e, "committing source offsets failed; the next owner copies those records again");
                self.metrics.error(&format!("source offset commit: {e}"));
            }
        }
    }
}

/// Runs the replicator until `shutdown` is set, then finishes every partition's batch and
/// leaves the group. Call from a blocking thread; `runtime` runs the admin operations.
pub fn run(
    config: Arc<ReplicatorConfig>,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    shutdown: Arc<AtomicBool>,
) -> Result<Totals> {
    crate::schemas::prepare(&config)?;
    let mut topic_sync = runtime.block_on(TopicSync::new(config.clone()))?;
    if config.mode == Mode::ExactlyOnce {
        runtime.block_on(topic_sync.ensure_internal_topics())?;
    }
    let (requests_tx, requests_rx) = std::sync::mpsc::channel();
    let mut lookup_cfg = config.source.to_rdkafka()?;
    lookup_cfg
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation(&config));
    let lookup: BaseConsumer = lookup_cfg
        .create()
        .map_err(|e| ReplicatorError::kafka("source: creating a client", e))?;
    let selected = runtime.block_on(topic_sync.selected_source_topics())?;
    for (t, n) in &selected {
        runtime.block_on(topic_sync.ensure(t, *n))?;
    }
    let shared = Arc::new(Shared {
        producer: worker::producer_config(&config)?,
        target: config.target.to_rdkafka()?,
        config: config.clone(),
        metrics: metrics.clone(),
        requests: requests_tx,
        runtime: runtime.clone(),
        topics: Mutex::new(topic_sync),
        lookup,
        state: Mutex::new(State::default()),
    });
    let consumer: BaseConsumer<Context> = consumer_config(&config)?
        .create_with_context(Context {
            shared: shared.clone(),
        })
        .map_err(|e| ReplicatorError::kafka("source: creating the consumer", e))?;
    let mut subscribed: Vec<String> = selected.keys().cloned().collect();
    subscribe(&consumer, &subscribed)?;
    tracing::info!(mode = ?config.mode, group = %config.group_id, topics = subscribed.len(), "replicating");
    let refresh = Duration::from_millis(config.topic_refresh_interval_ms.max(100));
    let mut refreshed = Instant::now();
    while !shutdown.load(Ordering::Acquire) {
        serve_requests(&shared, &consumer, &requests_rx);
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => route(&shared, &consumer, &requests_rx, m.detach()),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "source consumer error");
                shared.metrics.error(&format!("source consumer: {e}"));
            }
            None => {}
        }
        if refreshed.elapsed() >= refresh {
            refreshed = Instant::now();
            if let Err(e) = rediscover(&shared, &consumer, &mut subscribed) {
                tracing::warn!(error = %e, "topic discovery failed; retrying");
                shared.metrics.error(&e.to_string());
            }
            readopt_orphans(&shared, &consumer);
        }
    }
    tracing::info!("stopping: finishing the open batches");
    let owned = shared.owned();
    let positions = shared.revoke(&owned);
    shared.commit_source(&consumer, &positions, CommitMode::Sync);
    consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && consumer
            .assignment()
            .map(|a| a.count() > 0)
            .unwrap_or(false)
    {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    drop(consumer);
    Ok(metrics.totals())
}

fn isolation(config: &ReplicatorConfig) -> String {
    config
        .source
        .get("isolation.level")
        .unwrap_or("read_committed")
        .to_string()
}

fn consumer_config(config: &ReplicatorConfig) -> Result<ClientConfig> {
    let mut c = config.source.to_rdkafka()?;
    let t = &config.tuning;
    c.set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", isolation(config))
        .set(
            "auto.offset.reset",
            match config.start {
                Start::Earliest => "earliest",
                Start::Latest => "latest",
            },
        )
        .set("fetch.max.bytes", t.fetch_max_bytes.to_string())
        .set(
            "max.partition.fetch.bytes",
            t.max_partition_fetch_bytes.to_string(),
        )
        .set("fetch.min.bytes", t.fetch_min_bytes.to_string())
        .set("statistics.interval.ms", "2000");
    if c.get("partition.assignment.strategy").is_none() {
        c.set("partition.assignment.strategy", "range,roundrobin");
    }
    t.apply_socket_buffers(&mut c);
    Ok(c)
}

fn subscribe(consumer: &BaseConsumer<Context>, topics: &[String]) -> Result<()> {
    if topics.is_empty() {
        consumer.unsubscribe();
        tracing::warn!("no source topic matches the selection yet");
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .map_err(|e| ReplicatorError::kafka("source: subscribing", e))
}

/// Sends a record to its partition's worker. A full queue is waited out while serving the
/// workers' requests (a worker may be waiting for a rewind before it drains its queue).
fn route(
    shared: &Shared,
    consumer: &BaseConsumer<Context>,
    requests: &Receiver<Request>,
    message: rdkafka::message::OwnedMessage,
) {
    let mut routed = {
        let state = shared.lock();
        let Some(h) = state
            .workers
            .get(message.topic())
            .and_then(|ps| ps.get(&message.partition()))
        else {
            return;
        };
        Routed {
            generation: h.generation,
            message,
        }
    };
    loop {
        let sender = {
            let state = shared.lock();
            match state
                .workers
                .get(routed.message.topic())
                .and_then(|ps| ps.get(&routed.message.partition()))
            {
                Some(h) => h.records.clone(),
                None => return,
            }
        };
        match sender.try_send(routed) {
            Ok(()) => return,
            Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(r)) => {
                routed = r;
                serve_requests(shared, consumer, requests);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Rewinds, source offset commits and worker ends.
fn serve_requests(shared: &Shared, consumer: &BaseConsumer<Context>, requests: &Receiver<Request>) {
    while let Ok(req) = requests.try_recv() {
        match req {
            Request::Rewind {
                topic,
                partition,
                offset,
                reply,
            } => {
                if let Err(e) = consumer.seek(
                    &topic,
                    partition,
                    Offset::Offset(offset),
                    Duration::from_secs(10),
                ) {
                    tracing::warn!(topic = %topic, partition, offset, error = %e, "seek failed");
                    shared
                        .metrics
                        .error(&format!("{topic}-{partition}: seek to {offset}: {e}"));
                }
                let mut state = shared.lock();
                if let Some(h) = state
                    .workers
                    .get_mut(&topic)
                    .and_then(|ps| ps.get_mut(&partition))
                {
                    h.generation += 1;
                    let _ = reply.send(h.generation);
                }
            }
            Request::CommitOffset {
                topic,
                partition,
                offset,
            } => {
                shared.commit_source(consumer, &[((topic, partition), offset)], CommitMode::Async);
            }
        }
    }
    // Workers that stopped on their own (fenced zombies, fatal errors).
    let mut state = shared.lock();
    let mut ended = Vec::new();
    for (t, ps) in &state.workers {
        for (p, h) in ps {
            if let Ok(Ended::Stopped { reason, fenced }) = h.done.try_recv() {
                ended.push(((t.clone(), *p), reason, fenced));
            }
        }
    }
    for (tp, reason, fenced) in ended {
        tracing::warn!(topic = %tp.0, partition = tp.1, fenced, %reason, "partition writer stopped; the partition is re-adopted if this instance still owns it");
        if let Some(ps) = state.workers.get_mut(&tp.0) {
            ps.remove(&tp.1);
        }
        state.orphans.insert(tp, Instant::now());
    }
    state.workers.retain(|_, ps| !ps.is_empty());
    shared.metrics.waiting(state.orphans.len());
}

/// Partitions still assigned to this instance whose writer stopped: start a new writer (which
/// fences whoever wrote last), read the checkpoint and seek there.
fn readopt_orphans(shared: &Shared, consumer: &BaseConsumer<Context>) {
    let due: Vec<Tp> = {
        let state = shared.lock();
        state
            .orphans
            .iter()
            .filter(|(_, at)| at.elapsed() >= Duration::from_secs(2))
            .map(|(tp, _)| tp.clone())
            .collect()
    };
    if due.is_empty() {
        return;
    }
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let still: Vec<Tp> = due
        .into_iter()
        .filter(|(t, p)| assignment.find_partition(t, *p).is_some())
        .collect();
    {
        let mut state = shared.lock();
        state.orphans.retain(|tp, _| still.contains(tp));
        shared.metrics.waiting(state.orphans.len());
    }
    if still.is_empty() {
        return;
    }
    tracing::info!(
        partitions = still.len(),
        "re-adopting partitions whose writer stopped"
    );
    for (tp, offset) in shared.assign(&still) {
        if let Err(e) = consumer.seek(&tp.0, tp.1, Offset::Offset(offset), Duration::from_secs(10))
        {
            tracing::warn!(topic = %tp.0, partition = tp.1, offset, error = %e, "seek failed");
        }
    }
}

/// Picks up new source topics (and new partitions): target topics first, then the subscription.
fn rediscover(
    shared: &Shared,
    consumer: &BaseConsumer<Context>,
    subscribed: &mut Vec<String>,
) -> Result<()> {
    let mut topics = match shared.topics.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let selected = shared.runtime.block_on(topics.selected_source_topics())?;
    for (t, n) in &selected {
        shared.runtime.block_on(topics.ensure(t, *n))?;
    }
    drop(topics);
    let names: Vec<String> = selected.keys().cloned().collect();
    if names != *subscribed {
        tracing::info!(
            before = subscribed.len(),
            now = names.len(),
            "the selected source topics changed; resubscribing"
        );
        subscribe(consumer, &names)?;
        *subscribed = names;
    }
    Ok(())
}
