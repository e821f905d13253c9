//! The poll loop: producer slots shared through a group on the target, one source consumer.
//!
//! Every source partition belongs to one of `replication.producers` slots
//! ([`crate::config::slot_of`]); each slot has one fixed transactional id. The instances share
//! the slots as members of a consumer group on the **target** subscribed to the slots topic
//! (one partition per slot): the group's assignment says which instance owns which slot. The
//! source consumer joins no group; it is assigned the partitions of the owned slots at the
//! positions read from the target.
//!
//! When a slot is assigned, the engine (1) starts its writer, whose `init_transactions` fences
//! the slot's previous writer and ends its open transaction, (2) reads the checkpoints from the
//! target once every fenced transaction is resolved, (3) hands each partition of the slot to the
//! writer with its position (a position resolved from the `start` policy is checkpointed in the
//! writer's first transaction), and (4) assigns the partitions on the source consumer there.
//! When a slot is revoked (eager rebalance), its writer commits its batch before the slot is
//! released. A writer that stops (fenced, or failed) is started again while the slot is owned,
//! within seconds, with the same four steps; a slot that cannot be started for
//! `tuning.stalled_exit_secs`, or whose writers make nothing safe for that long while they have
//! records to copy ([`worker::Liveness`], kept per slot across its writers), makes the instance
//! exit non-zero. A partition
//! leaves the gauges whenever it leaves the routing (`unassign_parts`): an instance never reports
//! lag for a partition it does not copy. Partitions are never resumed from the source group's
//! offsets in exactly-once mode.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::checkpoint;
use crate::config::{slot_of, Mode, ReplicatorConfig, Start};
use crate::error::{ReplicatorError, Result};
use crate::metrics::{Metrics, Totals};
use crate::topics::TopicSync;
use crate::worker::{self, Ended, Handle, Input, Request, Routed, Tp};

/// How long one fill of the source consumer's metadata cache serves adoptions: well inside
/// the cache's validity (`metadata.max.age.ms`, 3 × the 5 s refresh interval set here).
const PRIMED_FOR: Duration = Duration::from_secs(2);
/// The longest an adoption waits for that fill: no longer than librdkafka's own scan would
/// have taken to find the topics (a source behind a slow or broken link must not hold up a
/// rebalance).
const PRIME_TIMEOUT: Duration = Duration::from_secs(1);

/// The source consumer's context: its statistics feed the lag metric.
struct SourceContext {
    metrics: Arc<Metrics>,
}

impl ClientContext for SourceContext {
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
                    self.metrics.end_offset(name, *p, end, part.next_offset);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {}

/// One slot this instance owns.
struct Slot {
    handle: Option<Handle>,
    /// Source partitions handed to the current writer (and assigned on the source consumer).
    parts: BTreeSet<Tp>,
    /// Checkpoints read when the current writer started (exactly-once): nobody else can write
    /// a checkpoint of this slot's partitions while the writer holds the slot's id.
    checkpoints: HashMap<Tp, i64>,
    /// When the slot last stopped copying (None while it runs).
    down_since: Option<Instant>,
    /// When the slot last made a batch safe or had nothing to copy, across its writers: a slot
    /// whose writers keep starting and failing (a record that can never be copied) ages too.
    alive: Arc<worker::Liveness>,
    retry_at: Instant,
    failures: u32,
    /// Which ownership of the slot this is: each assignment makes a new `Slot` with a new
    /// epoch, so a start begun for an earlier ownership (revoked since) installs nothing.
    epoch: u64,
    /// A start is queued for the starter thread.
    queued: bool,
    /// The starter thread is starting it (its writer initialising, its positions read).
    starting: bool,
    /// It is being released (revoked, or the instance stops): never started again.
    releasing: bool,
}

impl Slot {
    fn new(epoch: u64) -> Slot {
        Slot {
            epoch,
            queued: true,
            starting: false,
            releasing: false,
            handle: None,
            parts: BTreeSet::new(),
            checkpoints: HashMap::new(),
            down_since: Some(Instant::now()),
            alive: Arc::new(worker::Liveness::new()),
            retry_at: Instant::now(),
            failures: 0,
        }
    }
}

#[derive(Default)]
struct State {
    slots: BTreeMap<u32, Slot>,
    /// Partition → its slot, for the partitions a running writer copies.
    route: HashMap<Tp, u32>,
    /// Partition → the generation records are tagged with (bumped on each seek/adoption).
    generations: HashMap<Tp, u64>,
}

/// Why the slot group last took this instance's slots away, for the next assignment's cause.
#[derive(Default)]
struct Membership {
    /// Slots were assigned before (the next assignment is a rebalance, not the joining).
    joined: bool,
    /// librdkafka said `max.poll.interval.ms` was exceeded (the member left the group).
    poll_exceeded: bool,
    /// The last revocation lost the assignment (the session ended, or the member left).
    lost: bool,
}

/// The cause of an assignment, as the instance saw it: `join` (its first), `membership` (the
/// group changed: a member joined or left), `poll-interval` (this instance exceeded
/// `max.poll.interval.ms` and rejoined), `session-timeout` (it lost its session: no
/// heartbeat reached the coordinator in `session.timeout.ms`).
pub const ASSIGNMENT_CAUSES: [&str; 4] = ["join", "membership", "poll-interval", "session-timeout"];

impl Membership {
    fn next_cause(&mut self) -> &'static str {
        let cause = if !self.joined {
            "join"
        } else if self.poll_exceeded {
            "poll-interval"
        } else if self.lost {
            "session-timeout"
        } else {
            "membership"
        };
        *self = Membership {
            joined: true,
            ..Membership::default()
        };
        cause
    }
}

/// What the membership thread, the starter thread and the poll loop share.
struct Shared {
    config: Arc<ReplicatorConfig>,
    metrics: Arc<Metrics>,
    producer: ClientConfig,
    target: ClientConfig,
    source_id: String,
    requests: Sender<Request>,
    runtime: tokio::runtime::Handle,
    topics: Mutex<TopicSync>,
    /// The selected source topics and their partition counts (refreshed).
    selected: Mutex<BTreeMap<String, i32>>,
    /// The source consumer: no group membership, partitions assigned by the engine.
    source: BaseConsumer<SourceContext>,
    /// Watermarks and the source group's committed offsets.
    lookup: BaseConsumer,
    state: Mutex<State>,
    incarnations: AtomicU64,
    /// When the source consumer's metadata cache last learnt every source topic
    /// ([`Shared::prime_source_metadata`]).
    primed: Mutex<Option<(Instant, BTreeSet<String>)>>,
    /// Held while slots change hands on this instance (installing started writers, adopting
    /// partitions, releasing revoked slots), so that a revocation never interleaves with an
    /// adoption of the same slot. Never held while a writer initialises.
    transitions: Mutex<()>,
    /// Slots to start, for the starter thread (None once stopping).
    starts: Mutex<Option<Sender<Vec<u32>>>>,
    /// The instance is stopping: starts in progress give up waiting.
    stopping: AtomicBool,
    /// The error that ended the membership thread, for the poll loop to return.
    fatal: Mutex<Option<ReplicatorError>>,
    /// Writers asked to finish that nobody waits for otherwise ([`Shared::abandon`]).
    orphans: Mutex<Vec<Handle>>,
    epochs: AtomicU64,
    membership: Mutex<Membership>,
}

/// The slot group's consumer context. Its rebalance callback runs on the membership thread,
/// which does nothing but serve the group: an assignment is handed to the starter thread
/// (writers initialise, positions are read there) and the callback returns at once; a
/// revocation finishes the slots' writers, bounded by [`Shared::finish_wait`] (half of
/// `max.poll.interval.ms`). So the group is polled whatever the writers are doing, and the
/// instance never exceeds its poll interval (which would make it leave the group and cause
/// a rebalance of its own).
struct SlotsContext {
    shared: Arc<Shared>,
}

impl ClientContext for SlotsContext {}

impl ConsumerContext for SlotsContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let slots: Vec<u32> = tpl
            .elements()
            .iter()
            .filter(|e| e.partition() >= 0)
            .map(|e| e.partition() as u32)
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let cause = lock_or_poisoned(&self.shared.membership).next_cause();
                tracing::info!(slots = ?slots, %cause, "slots assigned");
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "assigning the slots failed");
                    self.shared.metrics.error(&format!("slots assign: {e}"));
                }
                self.shared.own_slots(&slots);
                self.shared.metrics.rebalance(cause);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = consumer.assignment_lost();
                if lost {
                    lock_or_poisoned(&self.shared.membership).lost = true;
                }
                tracing::info!(slots = ?slots, lost, "slots revoked");
                self.shared.release_slots(&slots);
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(error = %e, "unassign failed");
                }
            }
            other => {
                lock_or_poisoned(&self.shared.membership).lost = true;
                tracing::error!(error = ?other, "slot group rebalance error; releasing every slot");
                let all: Vec<u32> = self.shared.lock().slots.keys().copied().collect();
                self.shared.release_slots(&all);
                let _ = consumer.unassign();
            }
        }
    }
}

fn lock_or_poisoned<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock_or_poisoned(&self.state)
    }

    /// Takes ownership of newly assigned slots and queues their start (membership thread).
    fn own_slots(&self, slots: &[u32]) {
        if slots.is_empty() {
            return;
        }
        {
            let mut state = self.lock();
            for s in slots {
                // Eager rebalances revoke every slot before assigning: an entry left here
                // would be a slot assigned twice without a revocation, kept as it is.
                let epoch = self.epochs.fetch_add(1, Ordering::Relaxed) + 1;
                state
                    .slots
                    .entry(*s)
                    .or_insert_with(|| Slot::new(epoch))
                    .queued = true;
            }
        }
        self.refresh_waiting();
        self.queue_starts(slots.to_vec());
    }

    /// Hands slots to the starter thread (their `queued` flag is set by the caller).
    fn queue_starts(&self, slots: Vec<u32>) {
        let sent = lock_or_poisoned(&self.starts)
            .as_ref()
            .is_some_and(|tx| tx.send(slots).is_ok());
        if !sent && !self.stopping.load(Ordering::Acquire) {
            tracing::warn!("the starter thread is gone; slots are not started");
        }
    }

    /// The selected source partitions of `slot`.
    fn partitions_of(&self, slot: u32) -> Vec<Tp> {
        let selected = lock_or_poisoned(&self.selected);
        let mut out = Vec::new();
        for (t, n) in selected.iter() {
            for p in 0..*n {
                if slot_of(t, p, self.config.producers) == slot {
                    out.push((t.clone(), p));
                }
            }
        }
        out
    }

    /// Starts writers for `requested` slots (in parallel), reads their positions and assigns
    /// their partitions (starter thread). A slot that cannot start is retried by the loop; a
    /// slot revoked meanwhile (or owned again under a new epoch) gets nothing from this start.
    fn start_slots(&self, requested: &[u32]) {
        // 0. claim: owned, not running, not being started.
        let claimed: Vec<(u32, u64, Arc<worker::Liveness>)> = {
            let mut state = self.lock();
            requested
                .iter()
                .filter_map(|slot| {
                    let s = state.slots.get_mut(slot)?;
                    s.queued = false;
                    if s.handle.is_some() || s.starting || s.releasing {
                        return None;
                    }
                    s.starting = true;
                    Some((*slot, s.epoch, s.alive.clone()))
                })
                .collect()
        };
        if claimed.is_empty() {
            return;
        }
        let epochs: HashMap<u32, u64> = claimed.iter().map(|(s, e, _)| (*s, *e)).collect();
        // 1. writers (exactly-once: init_transactions fences the slot's previous writer).
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut pending: HashMap<u32, Handle> = HashMap::new();
        for (slot, epoch, alive) in claimed {
            let incarnation = self.incarnations.fetch_add(1, Ordering::Relaxed) + 1;
            match worker::spawn(worker::Spawn {
                config: self.config.clone(),
                producer: self.producer.clone(),
                metrics: self.metrics.clone(),
                requests: self.requests.clone(),
                source_id: self.source_id.clone(),
                slot,
                incarnation,
                alive,
                ready: ready_tx.clone(),
            }) {
                Ok(h) => {
                    pending.insert(slot, h);
                }
                Err(e) => self.slot_down_of(
                    slot,
                    Some(epoch),
                    &format!("cannot start a writer thread: {e}"),
                ),
            }
        }
        drop(ready_tx);
        // Each wave of writers ready together is installed at once: a slot whose writer waits
        // for the coordinator to abort its predecessor's transaction (hundreds of partitions,
        // seconds) holds up no other slot.
        let began = Instant::now();
        let deadline =
            Instant::now() + Duration::from_millis(self.config.tuning.init_timeout_ms + 5_000);
        while !pending.is_empty() && !self.stopping.load(Ordering::Acquire) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let first = match ready_rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(r) => r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // Writers ready within a moment of each other share one checkpoint read.
            let mut arrived = vec![first];
            while let Ok(r) = ready_rx.recv_timeout(Duration::from_millis(50)) {
                arrived.push(r);
            }
            let mut ready: Vec<(u32, Handle)> = Vec::new();
            for (slot, incarnation, result) in arrived {
                if pending.get(&slot).map(|h| h.incarnation) != Some(incarnation) {
                    continue;
                }
                let Some(h) = pending.remove(&slot) else {
                    continue;
                };
                match result {
                    Ok(()) => ready.push((slot, h)),
                    Err(e) => self.slot_down_of(
                        slot,
                        epochs.get(&slot).copied(),
                        &format!("writer not ready: {e}"),
                    ),
                }
            }
            if !ready.is_empty() {
                tracing::info!(
                    slots = ?ready.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
                    after_ms = began.elapsed().as_millis() as u64,
                    "slot writers ready"
                );
                self.install(ready, &epochs);
            }
        }
        for (slot, h) in pending {
            self.abandon(h);
            self.slot_down_of(slot, epochs.get(&slot).copied(), "writer not ready in time");
        }
    }

    /// Reads the positions of slots whose writers are ready (after each fenced its
    /// predecessor), hands each writer its partitions and assigns them on the source consumer.
    fn install(&self, ready: Vec<(u32, Handle)>, epochs: &HashMap<u32, u64>) {
        // 2. positions, read after every writer fenced its predecessor.
        let wanted: Vec<(u32, Vec<Tp>)> = ready
            .iter()
            .map(|(s, _)| (*s, self.partitions_of(*s)))
            .collect();
        let all: Vec<Tp> = wanted
            .iter()
            .flat_map(|(_, ps)| ps.iter().cloned())
            .collect();
        // Exactly-once: every checkpoint of this group and source (a slot keeps its own).
        let reading = Instant::now();
        let known = match self.known_positions(&all) {
            Ok(k) => {
                tracing::info!(
                    partitions = all.len(),
                    known = k.len(),
                    elapsed_ms = reading.elapsed().as_millis() as u64,
                    "start positions read"
                );
                k
            }
            Err(e) => {
                for (slot, h) in ready {
                    self.abandon(h);
                    self.slot_down_of(
                        slot,
                        epochs.get(&slot).copied(),
                        &format!("cannot read the start positions: {e}"),
                    );
                }
                return;
            }
        };
        // 3 + 4. hand the partitions over, then assign them on the source consumer; no
        // revocation runs meanwhile.
        let _transition = lock_or_poisoned(&self.transitions);
        for ((slot, handle), (_, parts)) in ready.into_iter().zip(wanted) {
            {
                let mut state = self.lock();
                let current = state
                    .slots
                    .get(&slot)
                    .is_some_and(|s| Some(s.epoch) == epochs.get(&slot).copied());
                if !current {
                    // Revoked while its writer started (its next owner fences it).
                    self.abandon(handle);
                    continue;
                }
                drop(state);
                // Whatever a previous writer of the slot held leaves the routing and the
                // gauges first (normally nothing: a stopped writer's partitions were taken).
                self.unassign_parts(slot);
                state = self.lock();
                let Some(s) = state.slots.get_mut(&slot) else {
                    drop(state);
                    self.abandon(handle);
                    continue;
                };
                s.handle = Some(handle);
                s.starting = false;
                s.checkpoints = known
                    .iter()
                    .filter(|(tp, _)| slot_of(&tp.0, tp.1, self.config.producers) == slot)
                    .map(|(tp, o)| (tp.clone(), *o))
                    .collect();
            }
            if let Err(e) = self.adopt(slot, &parts) {
                self.stop_writer(slot);
                self.unassign_parts(slot);
                self.slot_down(slot, &e.to_string());
                continue;
            }
            let mut state = self.lock();
            if let Some(s) = state.slots.get_mut(&slot) {
                if let Some(since) = s.down_since.take() {
                    tracing::info!(
                        slot,
                        partitions = s.parts.len(),
                        down_ms = since.elapsed().as_millis() as u64,
                        "slot copying"
                    );
                }
                s.failures = 0;
            }
        }
        self.refresh_waiting();
    }

    /// Hands partitions of a running slot to its writer at their positions and assigns them
    /// on the source consumer.
    fn adopt(&self, slot: u32, parts: &[Tp]) -> Result<()> {
        if parts.is_empty() {
            return Ok(());
        }
        let known = if self.config.mode == Mode::ExactlyOnce {
            self.lock()
                .slots
                .get(&slot)
                .map(|s| s.checkpoints.clone())
                .unwrap_or_default()
        } else {
            self.known_positions(parts)?
        };
        let adopting = Instant::now();
        let positions = self.start_positions(parts, &known)?;
        let mut tpl = TopicPartitionList::new();
        let mut state = self.lock();
        let input = match state.slots.get(&slot).and_then(|s| s.handle.as_ref()) {
            Some(h) => h.input.clone(),
            None => return Ok(()),
        };
        for (tp, (offset, resolved)) in &positions {
            let generation = {
                let g = state.generations.entry(tp.clone()).or_insert(0);
                *g += 1;
                *g
            };
            if input
                .send(Input::Adopt {
                    tp: tp.clone(),
                    offset: *offset,
                    generation,
                    checkpoint: *resolved,
                })
                .is_err()
            {
                return Err(ReplicatorError::kafka(
                    format!("slot {slot}"),
                    "its writer ended while taking its partitions",
                ));
            }
            self.metrics.position(&tp.0, tp.1, *offset);
            state.route.insert(tp.clone(), slot);
            if let Some(s) = state.slots.get_mut(&slot) {
                s.parts.insert(tp.clone());
            }
            tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(*offset))
                .map_err(|e| ReplicatorError::kafka("source: assignment", e))?;
        }
        drop(state);
        self.prime_source_metadata(parts);
        self.source.incremental_assign(&tpl).map_err(|e| {
            ReplicatorError::kafka(format!("source: assigning slot {slot}'s partitions"), e)
        })?;
        tracing::info!(
            slot,
            partitions = positions.len(),
            elapsed_ms = adopting.elapsed().as_millis() as u64,
            "partitions adopted"
        );
        Ok(())
    }

    /// Fills the source consumer's metadata cache with every topic's leaders, so that the
    /// partitions assigned next start fetching at once. librdkafka creates a topic it has not
    /// seen yet with no leader and looks it up only on its 1 s scan of topics without metadata
    /// (`rd_kafka_topic_scan_all`): a fresh consumer's first fetch came 0.9 s after
    /// `incremental_assign`. A topic created from a valid cache entry gets its leaders at once
    /// (`rd_kafka_topic_new0`). One request serves the slots adopted in the same rebalance; a
    /// failure only costs that wait, so it is logged, not returned.
    fn prime_source_metadata(&self, parts: &[Tp]) {
        let mut primed = lock_or_poisoned(&self.primed);
        if let Some((at, topics)) = primed.as_ref() {
            if at.elapsed() < PRIMED_FOR && parts.iter().all(|(t, _)| topics.contains(t)) {
                return;
            }
        }
        match self.source.fetch_metadata(None, PRIME_TIMEOUT) {
            Ok(m) => {
                let topics = m.topics().iter().map(|t| t.name().to_string()).collect();
                *primed = Some((Instant::now(), topics));
            }
            Err(e) => {
                tracing::debug!(error = %e, "source metadata not primed; partitions start fetching on librdkafka's next topic scan")
            }
        }
    }

    /// Exactly-once: the checkpoints on the target; at-least-once: the source group's
    /// committed offsets.
    fn known_positions(&self, parts: &[Tp]) -> Result<HashMap<Tp, i64>> {
        let mut out = HashMap::new();
        if parts.is_empty() {
            return Ok(out);
        }
        if self.config.mode == Mode::ExactlyOnce {
            let checkpoints = checkpoint::read_checkpoints(
                &self.target,
                &self.config.checkpoint_topic,
                &self.config.group_id,
                &self.source_id,
                Duration::from_millis(self.config.tuning.init_timeout_ms),
            )?;
            for (tp, c) in checkpoints {
                out.insert(tp, c.next_offset);
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
        Ok(out)
    }

    /// Each partition's start: its known position (moved up to the log start if retention
    /// removed records before they were copied), else the `start` policy resolved to an
    /// offset now (flagged: the writer checkpoints it).
    fn start_positions(
        &self,
        parts: &[Tp],
        known: &HashMap<Tp, i64>,
    ) -> Result<Vec<(Tp, (i64, bool))>> {
        let earliest = self.list_offsets(parts, true)?;
        let latest = if self.config.start == Start::Latest {
            self.list_offsets(
                &parts
                    .iter()
                    .filter(|tp| !known.contains_key(*tp))
                    .cloned()
                    .collect::<Vec<_>>(),
                false,
            )?
        } else {
            HashMap::new()
        };
        let mut out = Vec::new();
        for tp in parts {
            let low = earliest.get(tp).copied();
            let entry = match (known.get(tp).copied(), low) {
                (Some(o), Some(low)) if o < low => {
                    tracing::error!(topic = %tp.0, partition = tp.1, position = o, log_start = low, "records expired at the source before they were copied");
                    self.metrics.error(&format!(
                        "{}-{}: records {o}..{low} expired at the source before they were copied",
                        tp.0, tp.1
                    ));
                    (low, true)
                }
                (Some(o), _) => (o, false),
                (None, low) => {
                    let resolved = match self.config.start {
                        Start::Earliest => low,
                        Start::Latest => latest.get(tp).copied(),
                    };
                    match resolved {
                        Some(o) => (o, true),
                        None => {
                            return Err(ReplicatorError::kafka(
                                format!("source: offsets of {}-{}", tp.0, tp.1),
                                "no start offset (leader unavailable?)",
                            ))
                        }
                    }
                }
            };
            out.push((tp.clone(), entry));
        }
        Ok(out)
    }

    /// Log start (`earliest`) or last stable (`!earliest`) offsets of many partitions in
    /// batched ListOffsets requests, retried with fresh metadata (a leader may be moving).
    fn list_offsets(&self, parts: &[Tp], earliest: bool) -> Result<HashMap<Tp, i64>> {
        let mut out = HashMap::new();
        if parts.is_empty() {
            return Ok(out);
        }
        let mut last = String::new();
        for attempt in 0..5u64 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(500 * attempt));
                // Partitions added to a source topic are unknown to the cached metadata until
                // the next refresh: ask for the topics' metadata now (it updates the cache).
                let topics: std::collections::BTreeSet<&str> = parts
                    .iter()
                    .filter(|tp| !out.contains_key(*tp))
                    .map(|(t, _)| t.as_str())
                    .collect();
                for t in topics {
                    let _ = self.lookup.fetch_metadata(Some(t), Duration::from_secs(10));
                }
            }
            let mut tpl = TopicPartitionList::new();
            for (t, p) in parts.iter().filter(|tp| !out.contains_key(*tp)) {
                let at = if earliest {
                    Offset::Beginning
                } else {
                    Offset::End
                };
                tpl.add_partition_offset(t, *p, at)
                    .map_err(|e| ReplicatorError::kafka("source: list offsets", e))?;
            }
            match self.lookup.offsets_for_times(tpl, Duration::from_secs(20)) {
                Ok(found) => {
                    for e in found.elements() {
                        if let Offset::Offset(o) = e.offset() {
                            if e.error().is_ok() {
                                out.insert((e.topic().to_string(), e.partition()), o);
                            }
                        }
                    }
                    if out.len() == parts.len() {
                        return Ok(out);
                    }
                    last = format!("{} of {} partitions answered", out.len(), parts.len());
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(ReplicatorError::kafka("source: list offsets", last))
    }

    /// Asks a writer nobody will install to finish, and keeps its handle so that the
    /// instance does not exit while the writer destroys its producer.
    fn abandon(&self, handle: Handle) {
        handle.finish.store(true, Ordering::Release);
        let mut orphans = lock_or_poisoned(&self.orphans);
        orphans.retain(|h| matches!(h.done.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty)));
        orphans.push(handle);
    }

    /// Waits (at most `finish_wait`) for the abandoned writers to end.
    fn wait_for_orphans(&self) {
        let deadline = Instant::now() + self.finish_wait();
        for h in lock_or_poisoned(&self.orphans).drain(..) {
            let _ = h
                .done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// A slot whose writer could not start or stopped: retried with a growing delay.
    fn slot_down(&self, slot: u32, reason: &str) {
        self.slot_down_of(slot, None, reason)
    }

    /// [`Shared::slot_down`] for the ownership `epoch` only (None: whichever is current): a
    /// start that failed for an ownership revoked since says nothing about the current one.
    fn slot_down_of(&self, slot: u32, epoch: Option<u64>, reason: &str) {
        let mut state = self.lock();
        let Some(s) = state.slots.get_mut(&slot) else {
            return;
        };
        if epoch.is_some_and(|e| e != s.epoch) {
            return;
        }
        s.handle = None;
        s.starting = false;
        s.failures += 1;
        s.down_since.get_or_insert_with(Instant::now);
        let delay = Duration::from_millis((500u64 << s.failures.min(5)).min(10_000));
        s.retry_at = Instant::now() + delay;
        tracing::warn!(slot, failures = s.failures, retry_in_ms = delay.as_millis() as u64, %reason, "slot not copying; starting it again");
        self.metrics.error(&format!("slot {slot}: {reason}"));
        drop(state);
        self.refresh_waiting();
    }

    fn refresh_waiting(&self) {
        let state = self.lock();
        let waiting: usize = state
            .slots
            .iter()
            .filter(|(_, s)| s.handle.is_none())
            .map(|(slot, _)| self.partitions_of(*slot).len())
            .sum();
        self.metrics.waiting(waiting);
        self.metrics.assigned(state.route.len());
    }

    /// Takes a slot's partitions off the source consumer, out of the routing and out of the
    /// gauges: a partition this instance does not copy right now reports no lag here (its slot's
    /// partitions count as waiting while the slot is down, and its next owner reports its lag).
    /// Every path that stops copying a partition goes through here, so a writer that stopped
    /// before its slot was revoked leaves no frozen lag behind: that is what kept a seed-scale
    /// drain waiting for ten minutes on an instance resumed after SIGSTOP.
    fn unassign_parts(&self, slot: u32) -> Vec<Tp> {
        let parts: Vec<Tp> = {
            let mut state = self.lock();
            let Some(s) = state.slots.get_mut(&slot) else {
                return Vec::new();
            };
            let parts: Vec<Tp> = std::mem::take(&mut s.parts).into_iter().collect();
            for tp in &parts {
                state.route.remove(tp);
            }
            parts
        };
        if !parts.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in &parts {
                tpl.add_partition(t, *p);
            }
            if let Err(e) = self.source.incremental_unassign(&tpl) {
                tracing::warn!(slot, error = %e, "source unassign failed");
            }
        }
        for (t, p) in &parts {
            self.metrics.forget(t, *p);
        }
        parts
    }

    /// How long a revocation waits for writers to finish: a transaction's timeout and some, but
    /// well inside the slot group's `max.poll.interval.ms` — the wait blocks the group's poll
    /// loop, and overrunning it would cost a second rebalance. A writer not done by then is
    /// left to the next owner's fencing.
    fn finish_wait(&self) -> Duration {
        let poll_interval_ms = self
            .config
            .source
            .get("max.poll.interval.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300_000);
        Duration::from_millis(
            (self.config.tuning.transaction_timeout_ms + 5_000).min(poll_interval_ms / 2),
        )
    }

    /// Asks a slot's writer to finish (it commits its batch) and waits for it.
    fn stop_writer(&self, slot: u32) -> Option<Ended> {
        let handle = self
            .lock()
            .slots
            .get_mut(&slot)
            .and_then(|s| s.handle.take())?;
        handle.finish.store(true, Ordering::Release);
        match handle.done.recv_timeout(self.finish_wait()) {
            Ok(ended) => Some(ended),
            Err(_) => {
                tracing::warn!(slot, "writer did not finish in time; its open transaction is left to the next owner's fencing");
                None
            }
        }
    }

    /// Finishes and releases `slots` (revoked, or shutting down).
    fn release_slots(&self, slots: &[u32]) {
        let _transition = lock_or_poisoned(&self.transitions);
        // All writers finish in parallel. The slots are marked first, in the same lock: the poll
        // loop must not take a slot whose writer was just taken for a stopped one and start it
        // again (its new writer would fence the slot's next owner).
        let handles: Vec<(u32, Handle)> = {
            let mut state = self.lock();
            slots
                .iter()
                .filter_map(|s| {
                    let x = state.slots.get_mut(s)?;
                    x.releasing = true;
                    x.handle.take().map(|h| (*s, h))
                })
                .collect()
        };
        for (_, h) in &handles {
            h.finish.store(true, Ordering::Release);
        }
        let deadline = Instant::now() + self.finish_wait();
        let mut positions = Vec::new();
        for (slot, h) in handles {
            match h
                .done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Ended::Finished { positions: p }) => positions.extend(p),
                Ok(Ended::Stopped { reason, fenced }) => {
                    tracing::info!(slot, fenced, %reason, "writer had stopped");
                }
                Err(_) => {
                    tracing::warn!(slot, "writer did not finish in time; its open transaction is left to the next owner's fencing");
                }
            }
        }
        for &slot in slots {
            self.unassign_parts(slot);
            self.lock().slots.remove(&slot);
        }
        self.commit_source(&positions, CommitMode::Sync);
        self.refresh_waiting();
    }

    /// At-least-once: commits positions to the source group.
    fn commit_source(&self, positions: &[(Tp, i64)], mode: CommitMode) {
        if self.config.mode != Mode::AtLeastOnce || positions.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in positions {
            if tpl.add_partition_offset(t, *p, Offset::Offset(*o)).is_err() {
                continue;
            }
        }
        match self.source.commit(&tpl, mode) {
            Ok(()) => self.metrics.offset_commit(),
            Err(e) => {
                tracing::warn!(error = %e, "committing source offsets failed; the next owner copies those records again");
                self.metrics.error(&format!("source offset commit: {e}"));
            }
        }
    }

    /// Seeks partitions of a running writer back; a partition that cannot be positioned is
    /// an error for the writer (it stops and the slot starts again), never a silent skip.
    fn rewind(
        &self,
        slot: u32,
        incarnation: u64,
        parts: &[(Tp, i64)],
    ) -> Result<Vec<(Tp, u64)>, String> {
        if !self.lock().is_current(slot, incarnation) {
            return Err(format!(
                "slot {slot}'s writer was replaced; this rewind is stale"
            ));
        }
        let mut out = Vec::new();
        for ((t, p), offset) in parts {
            if let Err(e) = reposition(&self.source, t, *p, *offset) {
                self.metrics
                    .error(&format!("{t}-{p}: positioning at {offset}: {e}"));
                return Err(format!("{t}-{p}: positioning at {offset}: {e}"));
            }
            match self.lock().bump(slot, incarnation, &(t.clone(), *p)) {
                Some(g) => out.push(((t.clone(), *p), g)),
                None => return Err(format!("slot {slot}'s writer was replaced during a rewind")),
            }
        }
        Ok(out)
    }
}

impl State {
    /// True when `incarnation` is the running writer of `slot`.
    fn is_current(&self, slot: u32, incarnation: u64) -> bool {
        self.slots
            .get(&slot)
            .and_then(|s| s.handle.as_ref())
            .map(|h| h.incarnation)
            == Some(incarnation)
    }

    /// The new generation of a partition rewound for writer `incarnation` of `slot`; None
    /// (nothing changes) when that writer is no longer the slot's, or the partition is not its.
    fn bump(&mut self, slot: u32, incarnation: u64, tp: &Tp) -> Option<u64> {
        if !self.is_current(slot, incarnation) || self.route.get(tp) != Some(&slot) {
            return None;
        }
        let g = self.generations.entry(tp.clone()).or_insert(0);
        *g += 1;
        Some(*g)
    }
}

/// Seek, or when the seek fails, re-assign the partition at the offset; an error when neither
/// positions it.
fn reposition<C: ConsumerContext>(
    source: &BaseConsumer<C>,
    t: &str,
    p: i32,
    offset: i64,
) -> std::result::Result<(), String> {
    match source.seek(t, p, Offset::Offset(offset), Duration::from_secs(10)) {
        Ok(()) => Ok(()),
        Err(seek) => {
            tracing::warn!(topic = %t, partition = p, offset, error = %seek, "seek failed; re-assigning the partition there");
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(t, p);
            source
                .incremental_unassign(&tpl)
                .map_err(|e| format!("seek: {seek}; unassign: {e}"))?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(t, p, Offset::Offset(offset))
                .map_err(|e| e.to_string())?;
            source
                .incremental_assign(&tpl)
                .map_err(|e| format!("seek: {seek}; assign: {e}"))
        }
    }
}

/// Runs the replicator until `shutdown` is set, then finishes every slot's batch and leaves
/// the group. Call from a blocking thread; `runtime` runs the admin operations.
pub fn run(
    config: Arc<ReplicatorConfig>,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    shutdown: Arc<AtomicBool>,
) -> Result<Totals> {
    crate::schemas::prepare(&config)?;
    let mut topic_sync = runtime.block_on(TopicSync::new(config.clone()))?;
    runtime.block_on(topic_sync.ensure_internal_topics())?;
    let source_id =
        checkpoint::source_identity(&config.source.to_rdkafka()?, Duration::from_secs(30))?;
    let (requests_tx, requests_rx) = std::sync::mpsc::channel();
    let mut lookup_cfg = config.source.reader(&config.group_id)?;
    lookup_cfg.set("isolation.level", isolation(&config));
    lower_metadata_refresh(&config, &mut lookup_cfg);
    let lookup: BaseConsumer = lookup_cfg
        .create()
        .map_err(|e| ReplicatorError::kafka("source: creating a client", e))?;
    let selected = runtime.block_on(topic_sync.selected_source_topics())?;
    runtime.block_on(topic_sync.ensure_all(&selected))?;
    let source: BaseConsumer<SourceContext> = source_config(&config)?
        .create_with_context(SourceContext {
            metrics: metrics.clone(),
        })
        .map_err(|e| ReplicatorError::kafka("source: creating the consumer", e))?;
    let shared = Arc::new(Shared {
        producer: worker::producer_config(&config)?,
        target: config.target.to_rdkafka()?,
        source_id: source_id.clone(),
        config: config.clone(),
        metrics: metrics.clone(),
        requests: requests_tx,
        runtime: runtime.clone(),
        topics: Mutex::new(topic_sync),
        selected: Mutex::new(selected),
        source,
        lookup,
        state: Mutex::new(State::default()),
        incarnations: AtomicU64::new(0),
        primed: Mutex::new(None),
        transitions: Mutex::new(()),
        starts: Mutex::new(None),
        stopping: AtomicBool::new(false),
        fatal: Mutex::new(None),
        orphans: Mutex::new(Vec::new()),
        epochs: AtomicU64::new(0),
        membership: Mutex::new(Membership::default()),
    });
    let slots: BaseConsumer<SlotsContext> = slots_config(&config, &source_id)?
        .create_with_context(SlotsContext {
            shared: shared.clone(),
        })
        .map_err(|e| ReplicatorError::kafka("target: creating the slot group consumer", e))?;
    slots
        .subscribe(&[config.slots_topic.as_str()])
        .map_err(|e| ReplicatorError::kafka("target: joining the slot group", e))?;
    tracing::info!(mode = ?config.mode, group = %config.group_id, source = %source_id, producers = config.producers, "replicating");
    let starter = spawn_starter(&shared)?;
    let membership = spawn_membership(&shared, slots)?;
    let group_sync = spawn_group_sync(&config, &runtime, &shutdown);
    let refresh = Duration::from_millis(config.topic_refresh_interval_ms.max(100));
    let mut refreshed = Instant::now();
    let mut checked = Instant::now();
    let mut outcome = Ok(());
    while !shutdown.load(Ordering::Acquire) {
        if let Some(fatal) = lock_or_poisoned(&shared.fatal).take() {
            outcome = Err(fatal);
            break;
        }
        serve_requests(&shared, &requests_rx);
        match shared.source.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => route(&shared, &requests_rx, m.detach()),
            Some(Err(e)) => {
                if let Err(fatal) = consumer_error(&shared, "source consumer", e) {
                    outcome = Err(fatal);
                    break;
                }
            }
            None => {}
        }
        if refreshed.elapsed() >= refresh {
            refreshed = Instant::now();
            if let Err(e) = rediscover(&shared) {
                tracing::warn!(error = %e, "topic discovery failed; retrying");
                shared.metrics.error(&e.to_string());
            }
        }
        if checked.elapsed() >= Duration::from_millis(250) {
            checked = Instant::now();
            if let Err(e) = restart_stopped(&shared) {
                outcome = Err(e);
                break;
            }
        }
    }
    tracing::info!("stopping: finishing the open batches");
    // Starts in progress give up; the membership thread finishes every slot's batch, leaves
    // the group and ends.
    shared.stopping.store(true, Ordering::Release);
    lock_or_poisoned(&shared.starts).take();
    let _ = membership.join();
    // A start in progress installs nothing (its slots are gone) and finishes its writers. The
    // starter is joined, not waited for a while: it holds the clients of `shared`, and the
    // process must not exit while another thread destroys a librdkafka client (that
    // corrupted the heap: `malloc_consolidate(): invalid chunk size`, SIGABRT at exit).
    let _ = starter.join();
    shared.wait_for_orphans();
    if let Some(t) = group_sync {
        // It checks `shutdown` between syncs and every 100 ms of its wait.
        let _ = t.join();
    }
    outcome.map(|()| metrics.totals())
}

/// The starter thread: starts the slots handed to it (new assignments, stopped writers), one
/// batch at a time, so that a writer's initialisation or a checkpoint read holds up neither
/// the group's membership nor the copying of the other slots. It ends once the sender in
/// `shared.starts` is dropped.
fn spawn_starter(shared: &Arc<Shared>) -> Result<std::thread::JoinHandle<()>> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u32>>();
    *lock_or_poisoned(&shared.starts) = Some(tx);
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("slot-starter".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut slots = first;
                while let Ok(more) = rx.try_recv() {
                    slots.extend(more);
                }
                slots.sort_unstable();
                slots.dedup();
                if shared.stopping.load(Ordering::Acquire) {
                    break;
                }
                shared.start_slots(&slots);
            }
        })
        .map_err(|e| ReplicatorError::kafka("starting the slot starter thread", e.to_string()))
}

/// The membership thread: polls the slot group's consumer (its rebalance callback runs here)
/// until the instance stops, then finishes every owned slot and leaves the group. A fatal
/// consumer error is handed to the poll loop, which ends the instance with it.
fn spawn_membership(
    shared: &Arc<Shared>,
    slots: BaseConsumer<SlotsContext>,
) -> Result<std::thread::JoinHandle<()>> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("slot-group".into())
        .spawn(move || {
            while !shared.stopping.load(Ordering::Acquire) {
                match slots.poll(Duration::from_millis(100)) {
                    Some(Err(rdkafka::error::KafkaError::MessageConsumption(
                        rdkafka::types::RDKafkaErrorCode::PollExceeded,
                    ))) => {
                        lock_or_poisoned(&shared.membership).poll_exceeded = true;
                        tracing::warn!("slot group: max.poll.interval.ms exceeded; this instance left the group and rejoins");
                        shared.metrics.error("slot group: max.poll.interval.ms exceeded");
                    }
                    Some(Err(e)) => {
                        if let Err(fatal) = consumer_error(&shared, "slot group consumer", e) {
                            *lock_or_poisoned(&shared.fatal) = Some(fatal);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let owned: Vec<u32> = shared.lock().slots.keys().copied().collect();
            shared.release_slots(&owned);
            slots.unsubscribe();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && slots.assignment().map(|a| a.count() > 0).unwrap_or(false)
            {
                let _ = slots.poll(Duration::from_millis(100));
            }
        })
        .map_err(|e| ReplicatorError::kafka("starting the slot group thread", e.to_string()))
}

/// `[replication] sync_groups`: a thread translating the selected source groups' offsets to
/// the target every `sync_groups_interval_ms` (`crate::offsets::sync_groups`, which never
/// overwrites a group active on the target), until `shutdown`. A failed sync (the source out
/// of reach, no group committed yet) is logged and tried again at the next interval.
fn spawn_group_sync(
    config: &Arc<ReplicatorConfig>,
    runtime: &tokio::runtime::Handle,
    shutdown: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let re = config.sync_groups.clone()?;
    let (config, runtime, shutdown) = (config.clone(), runtime.clone(), shutdown.clone());
    let interval = Duration::from_millis(config.sync_groups_interval_ms);
    std::thread::Builder::new()
        .name("group-sync".into())
        .spawn(move || {
            let selection = crate::offsets::GroupSelection::Matching(re);
            let mut failing = false;
            let mut first = true;
            while !shutdown.load(Ordering::Acquire) {
                let began = Instant::now();
                match crate::offsets::sync_groups(&config, &selection, false, &runtime) {
                    Ok(groups) => {
                        let moved = groups.iter().filter(|g| g.ok()).count();
                        let elapsed_ms = began.elapsed().as_millis() as u64;
                        // Said once, and again after a failure; each sync in the debug log.
                        if failing || first {
                            tracing::info!(groups = groups.len(), moved, elapsed_ms, "group offsets synced");
                        } else {
                            tracing::debug!(groups = groups.len(), moved, elapsed_ms, "group offsets synced");
                        }
                        failing = false;
                    }
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "group offsets sync failed; trying again every interval");
                        failing = true;
                    }
                    Err(e) => tracing::debug!(error = %e, "group offsets sync failed again"),
                }
                first = false;
                let next = began + interval;
                while Instant::now() < next && !shutdown.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
        .map_err(|e| tracing::warn!(error = %e, "could not start the group offsets sync"))
        .ok()
}

fn isolation(config: &ReplicatorConfig) -> String {
    config
        .source
        .get("isolation.level")
        .unwrap_or("read_committed")
        .to_string()
}

/// Partitions added to a source topic must be seen within seconds, not after librdkafka's
/// default metadata refresh (`topic.metadata.refresh.interval.ms`, 5 minutes): 5 s unless the
/// user's source properties set it.
fn lower_metadata_refresh(config: &ReplicatorConfig, c: &mut ClientConfig) {
    if config
        .source
        .get("topic.metadata.refresh.interval.ms")
        .is_none()
    {
        c.set("topic.metadata.refresh.interval.ms", "5000");
    }
}

fn source_config(config: &ReplicatorConfig) -> Result<ClientConfig> {
    let mut c = config.source.to_rdkafka()?;
    lower_metadata_refresh(config, &mut c);
    let t = &config.tuning;
    // group.id only names where at-least-once commits go: this consumer never joins a group.
    harness::reader::read_only(&mut c, &config.group_id)
        .set("isolation.level", isolation(config))
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", t.fetch_max_bytes.to_string())
        .set(
            "max.partition.fetch.bytes",
            t.max_partition_fetch_bytes.to_string(),
        )
        .set("fetch.min.bytes", t.fetch_min_bytes.to_string())
        .set("statistics.interval.ms", "2000");
    t.apply_socket_buffers(&mut c);
    Ok(c)
}

/// The slot group's consumer on the target: joins, is assigned slots, consumes nothing.
fn slots_config(config: &ReplicatorConfig, source_id: &str) -> Result<ClientConfig> {
    let mut c = config.target.reader(&config.slots_group(source_id))?;
    c.set("auto.offset.reset", "latest")
        .set("partition.assignment.strategy", "roundrobin")
        .set("topic.metadata.refresh.interval.ms", "10000");
    // The group's liveness settings are the ones given for the source consumer, which used to
    // hold the membership (tests and scenarios tune them there).
    for key in [
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
    ] {
        if let Some(v) = config.source.get(key) {
            c.set(key, v);
        }
    }
    for key in ["group.instance.id", "client.id"] {
        if let Some(v) = config.target.get(key) {
            c.set(key, v);
        }
    }
    Ok(c)
}

/// A consumer's error, sorted by `harness::kafka_error` (the one classification): transient
/// ones are librdkafka's to recover from (debug log), refusals (ACLs) are logged as errors and
/// counted while the poll loop goes on (they can be fixed live), and a fatal one ends the
/// instance with an error so that a supervisor restarts it rather than it spinning.
fn consumer_error(shared: &Shared, which: &str, e: rdkafka::error::KafkaError) -> Result<()> {
    use harness::kafka_error::ErrorClass;
    match ErrorClass::of(&e) {
        ErrorClass::Retriable => {
            tracing::debug!(error = %e, "{which}: transient error");
            Ok(())
        }
        ErrorClass::Fatal | ErrorClass::Fenced => {
            tracing::error!(error = %e, "{which}: fatal error; the instance ends");
            shared.metrics.error(&format!("{which}: {e}"));
            Err(ReplicatorError::kafka(format!("{which}: fatal"), e))
        }
        ErrorClass::Denied => {
            tracing::error!(error = %e, "{which}: refused by the cluster (ACLs or configuration)");
            shared.metrics.error(&format!("{which}: {e}"));
            Ok(())
        }
        ErrorClass::Failed => {
            tracing::warn!(error = %e, "{which} error");
            shared.metrics.error(&format!("{which}: {e}"));
            Ok(())
        }
    }
}

/// Sends a record to its slot's writer. A full queue is waited out while serving the
/// writers' requests (a writer may be waiting for a rewind before it drains its queue).
fn route(shared: &Shared, requests: &Receiver<Request>, message: rdkafka::message::OwnedMessage) {
    let tp = (message.topic().to_string(), message.partition());
    let mut input = {
        let state = shared.lock();
        let Some(generation) = state.generations.get(&tp).copied() else {
            return;
        };
        Input::Record(Routed {
            generation,
            message,
        })
    };
    loop {
        let sender = {
            let state = shared.lock();
            let Some(slot) = state.route.get(&tp) else {
                return;
            };
            match state.slots.get(slot).and_then(|s| s.handle.as_ref()) {
                Some(h) => h.input.clone(),
                None => return,
            }
        };
        match sender.try_send(input) {
            Ok(()) => return,
            Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(r)) => {
                input = r;
                serve_requests(shared, requests);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Rewinds and source offset commits.
fn serve_requests(shared: &Shared, requests: &Receiver<Request>) {
    while let Ok(req) = requests.try_recv() {
        match req {
            Request::Rewind {
                slot,
                incarnation,
                parts,
                reply,
            } => {
                let answer = shared.rewind(slot, incarnation, &parts);
                let _ = reply.send(answer);
            }
            Request::CommitOffsets { parts } => shared.commit_source(&parts, CommitMode::Async),
        }
    }
}

/// Slots whose writer stopped (fenced, failed): started again while owned. A slot down for
/// longer than `stalled_exit_secs` is an error that ends the instance.
fn restart_stopped(shared: &Shared) -> Result<()> {
    let mut ended = Vec::new();
    {
        let state = shared.lock();
        for (slot, s) in &state.slots {
            if let Some(h) = &s.handle {
                if let Ok(e) = h.done.try_recv() {
                    ended.push((*slot, e));
                }
            }
        }
    }
    let _transition = (!ended.is_empty()).then(|| lock_or_poisoned(&shared.transitions));
    for (slot, e) in ended {
        let reason = match e {
            Ended::Stopped { reason, fenced } => {
                format!("{}{reason}", if fenced { "fenced: " } else { "" })
            }
            Ended::Finished { .. } => "writer finished unasked".to_string(),
        };
        shared.unassign_parts(slot);
        shared.slot_down(slot, &reason);
    }
    drop(_transition);
    let limit = Duration::from_secs(shared.config.tuning.stalled_exit_secs);
    let due: Vec<u32> = {
        let mut state = shared.lock();
        for (slot, s) in &state.slots {
            let since = s.alive.since();
            if since > limit {
                let what = if s.handle.is_some() {
                    "its writer made nothing safe"
                } else {
                    "not copying (its writers keep failing to start or to copy)"
                };
                return Err(ReplicatorError::kafka(
                    format!("slot {slot}"),
                    format!(
                        "{what} for {} s while it had records to copy (tuning.stalled_exit_secs); exiting so a supervisor restarts the instance",
                        since.as_secs()
                    ),
                ));
            }
        }
        let now = Instant::now();
        state
            .slots
            .iter_mut()
            .filter(|(_, s)| {
                s.handle.is_none() && !s.starting && !s.queued && !s.releasing && s.retry_at <= now
            })
            .map(|(slot, s)| {
                s.queued = true;
                *slot
            })
            .collect()
    };
    if !due.is_empty() {
        tracing::info!(slots = ?due, "starting stopped slots again");
        shared.queue_starts(due);
    }
    Ok(())
}

/// Picks up new source topics (and new partitions): target topics first, then the partitions
/// of running slots.
fn rediscover(shared: &Shared) -> Result<()> {
    let selected = {
        let mut topics = lock_or_poisoned(&shared.topics);
        let selected = shared.runtime.block_on(topics.selected_source_topics())?;
        shared.runtime.block_on(topics.ensure_all(&selected))?;
        selected
    };
    {
        let mut current = lock_or_poisoned(&shared.selected);
        if *current == selected {
            return Ok(());
        }
        tracing::info!(
            before = current.len(),
            now = selected.len(),
            "the selected source topics changed"
        );
        *current = selected;
    }
    let _transition = lock_or_poisoned(&shared.transitions);
    let running: Vec<(u32, BTreeSet<Tp>)> = shared
        .lock()
        .slots
        .iter()
        .filter(|(_, s)| s.handle.is_some())
        .map(|(slot, s)| (*slot, s.parts.clone()))
        .collect();
    for (slot, have) in running {
        let new: Vec<Tp> = shared
            .partitions_of(slot)
            .into_iter()
            .filter(|tp| !have.contains(tp))
            .collect();
        if let Err(e) = shared.adopt(slot, &new) {
            shared.stop_writer(slot);
            shared.unassign_parts(slot);
            shared.slot_down(slot, &e.to_string());
        }
    }
    shared.refresh_waiting();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(incarnation: u64) -> Handle {
        let (input, _) = std::sync::mpsc::sync_channel(1);
        let (_, done) = std::sync::mpsc::channel();
        Handle {
            input,
            finish: Arc::new(AtomicBool::new(false)),
            done,
            incarnation,
        }
    }

    #[test]
    fn a_rewind_from_a_replaced_writer_changes_no_generation() {
        let tp: Tp = ("orders".into(), 3);
        let mut state = State::default();
        let mut slot = Slot::new(1);
        slot.handle = Some(handle(7));
        state.slots.insert(1, slot);
        state.route.insert(tp.clone(), 1);
        state.generations.insert(tp.clone(), 4);
        // Writer 6 stopped and writer 7 took the slot: 6's late rewind must not drop 7's records.
        assert!(!state.is_current(1, 6));
        assert_eq!(state.bump(1, 6, &tp), None);
        assert_eq!(state.generations[&tp], 4);
        // A partition that is not the slot's is never bumped either.
        assert_eq!(state.bump(1, 7, &("other".into(), 0)), None);
        assert_eq!(state.bump(1, 7, &tp), Some(5));
    }

    #[test]
    fn a_partition_that_cannot_be_positioned_is_an_error() {
        // No broker needed: the partition is not assigned, so the seek fails, and so does the
        // fallback (it is not assigned to be re-assigned); the old loop logged and went on.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("group.id", "g")
            .create()
            .unwrap();
        let e = reposition(&consumer, "orders", 0, 42).unwrap_err();
        assert!(e.contains("seek"), "{e}");
    }
}
