//! The fault schedule: each `[[fault]]` verb's apply, undo and proof of effect in one place.
//!
//! A fault that could not be applied, or that was applied but shows no effect (the process did
//! not stop, the broker still answers, the proxies saw none of the system's traffic to hold),
//! could not test what the scenario claims: its [`FaultEvent`] carries the reason in `error`,
//! and the run's outcome becomes `unknown` (exit 2) unless the system failed anyway. A fault
//! that took effect says how it was seen in `effect`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::proxy::{Direction, Proxy, ProxyStats};
use harness::Cluster;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use reports::FaultEvent;

use crate::error::ScenarioError;
use crate::spec::{FaultAction, FaultSpec, Side, Way};
use crate::system::{Instances, SystemUnderTest};
use harness::supervisor::{Family, ProcessInfo};

/// What the fault schedule acts on.
pub(crate) struct FaultTargets {
    /// The run's origin: a fault's reported times count from here.
    pub started: Instant,
    /// The workload's clock (set once every producer is ready): `at` counts from here.
    pub workload_clock: Arc<std::sync::OnceLock<Instant>>,
    pub instances: Arc<Mutex<Instances>>,
    /// The system under test (its own account of the partitions an instance holds).
    pub system: Arc<dyn SystemUnderTest>,
    pub source: Arc<dyn Cluster>,
    pub target: Arc<dyn Cluster>,
}

/// Waits for the fault's time, applies it, proves its effect, undoes it after its duration.
pub(crate) async fn run(f: FaultSpec, on: Arc<FaultTargets>) -> FaultEvent {
    // `at` counts from the workload's clock, which starts once its producers are ready
    // (seconds after the run's origin on a loaded machine): a fault must not hit a workload
    // still initialising its transactions. Bounded: without a clock, the run's origin.
    let waited = Instant::now();
    let origin = loop {
        if let Some(clock) = on.workload_clock.get() {
            break *clock;
        }
        if waited.elapsed() > Duration::from_secs(120) {
            break on.started;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let at = origin + Duration::from_secs_f64(f.at_secs);
    tokio::time::sleep_until(at.into()).await;
    let start = on.started.elapsed().as_secs_f64();
    let detail = serde_json::to_string(&f.action).unwrap_or_default();
    tracing::info!(fault = f.action.name(), at = f.at_secs, %detail, "fault");
    let result = apply(&f, &on).await;
    let end = on.started.elapsed().as_secs_f64();
    let (effect, error) = match result {
        Ok(effect) => (effect, String::new()),
        Err(e) => {
            tracing::warn!(fault = f.action.name(), error = %e, "fault did not take effect");
            (String::new(), e)
        }
    };
    FaultEvent {
        kind: f.action.name().into(),
        detail,
        start_secs: start,
        end_secs: end,
        error,
        effect,
        failed: false,
    }
}

/// How long an instance that joined may take to be given partitions, and a removed one's
/// partitions to be taken by the others (a rebalance, with its session timeouts).
const INSTANCE_MOVE_BOUND: Duration = Duration::from_secs(90);

/// The partitions the instance behind `port` holds by the system's own account (the built-in
/// replicator's `assigned_partitions` gauge), None when its metrics do not answer.
async fn assigned(on: &Arc<FaultTargets>, port: u16) -> Option<f64> {
    let system = on.system.clone();
    tokio::task::spawn_blocking(move || system.assigned_partitions(port))
        .await
        .ok()
        .flatten()
}

/// Why a fault's task ended without an event: its panic message, or that it was cancelled.
pub(crate) fn task_failure(e: tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "cancelled".into();
    }
    let panic = e.into_panic();
    panic
        .downcast_ref::<&str>()
        .map(|s| format!("panicked: {s}"))
        .or_else(|| {
            panic
                .downcast_ref::<String>()
                .map(|s| format!("panicked: {s}"))
        })
        .unwrap_or_else(|| "panicked".into())
}

/// Applies one fault; Ok is the observed effect in words, Err why it did not take effect.
async fn apply(f: &FaultSpec, on: &Arc<FaultTargets>) -> Result<String, String> {
    let duration = f.duration_secs.map(Duration::from_secs_f64);
    let cluster = |side: Side| match side {
        Side::Source => on.source.clone(),
        Side::Target => on.target.clone(),
    };
    match &f.action {
        FaultAction::AddInstance => {
            let idx = instances(on, |i| i.add()).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let family = instances(on, move |i| Ok(i.family(idx))).await?;
            let members = family.as_ref().map(Family::members).unwrap_or_default();
            let leader = family.map(|f| f.pgid());
            if !members.iter().any(|p| Some(p.pid) == leader) {
                return Err(format!("instance {idx} was started but is not running"));
            }
            let running = format!("instance {idx} running: {}", counted(&members));
            // A system that reports what it copies (the built-in replicator's gauge) must
            // show the new instance taking partitions; others are seen running only.
            let Some(port) = instances(on, move |i| Ok(i.metrics_port(idx))).await? else {
                return Ok(format!(
                    "{running} (this system does not report its partitions: running is all cutover can see)"
                ));
            };
            let deadline = Instant::now() + INSTANCE_MOVE_BOUND;
            loop {
                let took = assigned(on, port).await;
                if took.is_some_and(|n| n > 0.0) {
                    return Ok(format!(
                        "{running}; it took {} partitions (its assigned_partitions gauge)",
                        took.unwrap_or(0.0)
                    ));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{running}, but it took no partitions within {} s (assigned_partitions {})",
                        INSTANCE_MOVE_BOUND.as_secs(),
                        took.map_or("unanswered".to_string(), |n| n.to_string())
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        FaultAction::RemoveInstance { instance } => {
            let which = *instance;
            // What it copied, and what each other instance copied, before it leaves.
            let (idx, port, ports) = instances(on, move |i| {
                let idx = which
                    .or_else(|| i.newest())
                    .ok_or_else(|| ScenarioError::System("no instance to remove".into()))?;
                let others: Vec<u16> = i
                    .metrics_ports()
                    .into_iter()
                    .filter(|p| Some(*p) != i.metrics_port(idx))
                    .collect();
                Ok((idx, i.metrics_port(idx), others))
            })
            .await?;
            let held = match port {
                Some(p) => assigned(on, p).await,
                None => None,
            };
            // The others that answer now (a stalled one does not): their sum is the baseline.
            let mut before_by_port = Vec::new();
            for p in &ports {
                if let Some(n) = assigned(on, *p).await {
                    before_by_port.push((*p, n));
                }
            }
            let (family, members) = instances(on, move |i| {
                let family = i.family(idx);
                let members = family.as_ref().map(Family::members).unwrap_or_default();
                i.stop(idx)?;
                Ok((family, members))
            })
            .await?;
            let gone = gone(idx, family, members).await?;
            if port.is_none() {
                return Ok(format!(
                    "{gone} (this system does not report its partitions: gone is all cutover can see)"
                ));
            }
            let Some(held) = held else {
                return Err(format!(
                    "{gone}, but its metrics did not answer before it left: what it held, and whether it moved, was not seen"
                ));
            };
            if held <= 0.0 {
                return Err(format!(
                    "{gone}, but it held no partitions: removing it moved nothing"
                ));
            }
            // Its partitions moved: the instances that answered before (and any started
            // since) hold what they held plus what it held.
            let baseline: f64 = before_by_port.iter().map(|(_, n)| n).sum();
            let deadline = Instant::now() + INSTANCE_MOVE_BOUND;
            loop {
                let now_ports: Vec<u16> = instances(on, |i| Ok(i.metrics_ports())).await?;
                let mut now = 0.0;
                for p in now_ports
                    .iter()
                    .filter(|p| before_by_port.iter().any(|(q, _)| q == *p) || !ports.contains(p))
                {
                    now += assigned(on, *p).await.unwrap_or(0.0);
                }
                if now >= baseline + held {
                    return Ok(format!(
                        "{gone}; its {held} partitions moved to the other instances ({baseline} → {now} assigned)"
                    ));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{gone}, but its {held} partitions did not move within {} s (the others hold {now}, held {baseline} before)",
                        INSTANCE_MOVE_BOUND.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        FaultAction::StallInstance { instance } => {
            let idx = *instance;
            let family = instances(on, move |i| {
                i.signal(idx, libc::SIGSTOP)?;
                Ok(i.family(idx))
            })
            .await?;
            let seen = match family {
                Some(family) => all_stopped(family).await,
                None => Err(format!("instance {idx} is not running")),
            };
            tokio::time::sleep(duration.unwrap_or_default()).await;
            instances(on, move |i| i.signal(idx, libc::SIGCONT)).await?;
            match seen {
                Ok(members) => Ok(format!(
                    "instance {idx}: {} seen stopped (state T)",
                    every(&members, "was", "were")
                )),
                Err(why) => Err(format!(
                    "instance {idx} was not seen stopped after SIGSTOP to its process group: {why}"
                )),
            }
        }
        FaultAction::CrashInstance { instance } => {
            let idx = *instance;
            let (family, before) = instances(on, move |i| {
                let family = i.family(idx);
                let before = family.as_ref().map(Family::members).unwrap_or_default();
                i.crash(idx)?;
                Ok((family, before))
            })
            .await?;
            let died = gone(idx, family, before).await?;
            tokio::time::sleep(duration.unwrap_or_default()).await;
            instances(on, move |i| i.start(idx)).await?;
            Ok(format!(
                "{died} (kill -9 to its process group), then restarted"
            ))
        }
        FaultAction::AddPartitions { topic, partitions } => {
            let admin = on.source.admin().map_err(|e| e.to_string())?;
            let old = admin
                .describe_topic(topic)
                .await
                .map(|d| d.partitions.len() as i32)
                .map_err(|e| e.to_string())?;
            admin
                .add_partitions(topic, *partitions as usize)
                .await
                .map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(30);
            let now = loop {
                let now = admin
                    .describe_topic(topic)
                    .await
                    .map(|d| d.partitions.len())
                    .unwrap_or(0);
                if now >= *partitions as usize {
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
        FaultAction::KillBroker {
            cluster: side,
            node,
        }
        | FaultAction::StopBroker {
            cluster: side,
            node,
        } => {
            let c = cluster(*side);
            if matches!(f.action, FaultAction::KillBroker { .. }) {
                c.kill_broker(*node).await.map_err(|e| e.to_string())?;
            } else {
                c.stop_broker(*node).await.map_err(|e| e.to_string())?;
            }
            let down = broker_down(&c, *node).await?;
            if let Some(d) = duration {
                tokio::time::sleep(d).await;
                c.start_broker(*node).await.map_err(|e| e.to_string())?;
                return Ok(format!("{down}; restarted"));
            }
            Ok(down)
        }
        FaultAction::BounceBrokers { cluster: side } => {
            let c = cluster(*side);
            let mut seen = Vec::new();
            for b in c.brokers() {
                c.stop_broker(b.node_id).await.map_err(|e| e.to_string())?;
                seen.push(broker_down(&c, b.node_id).await?);
                c.start_broker(b.node_id).await.map_err(|e| e.to_string())?;
                tokio::time::sleep(duration.unwrap_or_default()).await;
            }
            Ok(format!("{}; each restarted", seen.join("; ")))
        }
        FaultAction::AbortedBurst {
            topic,
            transactions,
            records_per_txn,
        } => {
            let props = on.source.direct_client_props();
            let (topic, n, m) = (topic.clone(), *transactions, *records_per_txn);
            tokio::task::spawn_blocking(move || aborted_burst(&props, &topic, n, m))
                .await
                .map_err(|e| e.to_string())?
        }
        FaultAction::HangingTransaction {
            topic,
            partition,
            records,
        } => {
            let props = on.source.direct_client_props();
            let (topic, p, n) = (topic.clone(), *partition, *records);
            let hold = duration.unwrap_or_default();
            tokio::task::spawn_blocking(move || hanging_transaction(&props, &topic, p, n, hold))
                .await
                .map_err(|e| e.to_string())?
        }
        FaultAction::Latency {
            cluster: side,
            direction,
            latency_ms,
            jitter_ms,
        } => {
            let (dir, latency, jitter) = (
                way(*direction),
                Duration::from_millis(*latency_ms),
                Duration::from_millis(*jitter_ms),
            );
            network(
                &cluster(*side),
                duration,
                |p| p.set_latency(dir, latency, jitter),
                |p| p.set_latency(dir, Duration::ZERO, Duration::ZERO),
                Held::Forwarded(dir),
            )
            .await
        }
        FaultAction::Bandwidth {
            cluster: side,
            direction,
            bytes_per_sec,
        } => {
            let (dir, rate) = (way(*direction), *bytes_per_sec);
            network(
                &cluster(*side),
                duration,
                |p| p.set_bandwidth(dir, Some(rate)),
                |p| p.set_bandwidth(dir, None),
                Held::Forwarded(dir),
            )
            .await
        }
        FaultAction::Blackhole {
            cluster: side,
            direction,
        } => {
            let dir = way(*direction);
            network(
                &cluster(*side),
                duration,
                |p| p.set_blackhole(dir, true),
                |p| p.set_blackhole(dir, false),
                Held::Dropped(dir),
            )
            .await
        }
        FaultAction::Reset { cluster: side } => reset(&cluster(*side)).await,
        FaultAction::Refuse { cluster: side } => {
            network(
                &cluster(*side),
                duration,
                |p| p.refuse_new(true),
                |p| p.refuse_new(false),
                Held::Refused,
            )
            .await
        }
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

/// What a network fault's proxies must have seen while it was on for it to count as applied.
///
/// Only the system under test crosses the proxies (cutover's own clients reach the brokers
/// through their direct listeners, see `harness::Cluster::direct_client_props`), so every
/// count here is the system's.
#[derive(Clone, Copy)]
enum Held {
    /// Bytes forwarded in the direction (so delayed or throttled).
    Forwarded(Direction),
    /// Bytes dropped in the direction.
    Dropped(Direction),
    /// New connections refused.
    Refused,
}

impl Held {
    /// The effect seen between two readings of every proxy's counters (`before` as the fault
    /// began, `after` as it ended), or why nothing of the system was held: it had no
    /// connection during the window (none open as it began, none opened during it), or it had
    /// some but moved no byte the fault acts on.
    fn seen(
        self,
        cluster: &str,
        before: &[ProxyStats],
        after: &[ProxyStats],
    ) -> Result<String, String> {
        let sum = |f: &dyn Fn(&ProxyStats) -> u64| -> u64 {
            before
                .iter()
                .zip(after)
                .map(|(b, a)| f(a).saturating_sub(f(b)))
                .sum()
        };
        let bytes = |dir: Direction,
                     to_broker: fn(&ProxyStats) -> u64,
                     to_client: fn(&ProxyStats) -> u64| match dir {
            Direction::ToBroker => sum(&to_broker),
            Direction::ToClient => sum(&to_client),
            Direction::Both => sum(&to_broker) + sum(&to_client),
        };
        let open: u64 = before.iter().map(|s| s.open_connections).sum();
        let opened = sum(&|s| s.total_connections);
        let refused = sum(&|s| s.refused_connections);
        let connections = open + opened;
        if connections + refused == 0 {
            return Err(format!(
                "the system under test had no connection to the {cluster} cluster while the fault was on (none open as it began, none opened or refused during it), so the fault tested nothing of it"
            ));
        }
        let n = match self {
            Held::Forwarded(dir) => bytes(dir, |s| s.bytes_to_broker, |s| s.bytes_to_client),
            Held::Dropped(dir) => bytes(dir, |s| s.dropped_to_broker, |s| s.dropped_to_client),
            Held::Refused => refused,
        };
        let had = format!(
            "{connections} connection{} of the system open or opened",
            if connections == 1 { "" } else { "s" }
        );
        if n == 0 {
            return Err(match self {
                Held::Refused => format!(
                    "the system under test tried no new connection to the {cluster} cluster while new ones were refused ({had}), so the refusal tested nothing of it"
                ),
                Held::Forwarded(_) | Held::Dropped(_) => format!(
                    "the system under test moved no byte the fault acts on through the {cluster} cluster's proxies while it was on ({had}), so it held nothing"
                ),
            });
        }
        Ok(match self {
            Held::Forwarded(_) => {
                format!(
                    "{n} bytes of the system under test passed the proxies under the fault ({had})"
                )
            }
            Held::Dropped(_) => {
                format!("{n} bytes of the system under test dropped by the proxies ({had})")
            }
            Held::Refused => {
                format!("{n} connections of the system under test refused by the proxies")
            }
        })
    }
}

fn way(w: Way) -> Direction {
    match w {
        Way::ToBroker => Direction::ToBroker,
        Way::ToClient => Direction::ToClient,
        Way::Both => Direction::Both,
    }
}

/// Applies a network fault on every broker's proxy of the cluster, undoes it after `duration`
/// (None: left on, proven at once), and proves from the proxies' counters that the system under test's
/// traffic was held while it was on.
async fn network(
    cluster: &Arc<dyn Cluster>,
    duration: Option<Duration>,
    apply: impl Fn(&Proxy),
    undo: impl Fn(&Proxy),
    held: Held,
) -> Result<String, String> {
    let proxies = cluster.proxies();
    if proxies.is_empty() {
        return Err(format!("the {} cluster has no proxies", cluster.name()));
    }
    let before: Vec<ProxyStats> = proxies.iter().map(|p| p.stats()).collect();
    for p in &proxies {
        apply(p);
    }
    if let Some(d) = duration {
        tokio::time::sleep(d).await;
    }
    let after: Vec<ProxyStats> = proxies.iter().map(|p| p.stats()).collect();
    if duration.is_some() {
        for p in &proxies {
            undo(p);
        }
    }
    held.seen(cluster.name(), &before, &after)
}

/// How long the system under test has to open a connection again after a reset, in seconds
/// (librdkafka's reconnect backoff tops out at 10 s by default, `reconnect.backoff.max.ms`;
/// a refusal fault at the same time delays it further).
const RECONNECT_BOUND_SECS: u64 = 30;

/// Resets every connection through the cluster's proxies (the system's: nothing else crosses
/// them) and proves the system reconnected: the proxies accept a new connection within
/// [`RECONNECT_BOUND_SECS`].
async fn reset(cluster: &Arc<dyn Cluster>) -> Result<String, String> {
    let proxies = cluster.proxies();
    if proxies.is_empty() {
        return Err(format!("the {} cluster has no proxies", cluster.name()));
    }
    let before: Vec<ProxyStats> = proxies.iter().map(|p| p.stats()).collect();
    for p in &proxies {
        p.reset_connections();
    }
    let reset_at = Instant::now();
    let deadline = reset_at + Duration::from_secs(RECONNECT_BOUND_SECS);
    let since = |f: fn(&ProxyStats) -> u64| -> u64 {
        proxies
            .iter()
            .zip(&before)
            .map(|(p, b)| f(&p.stats()).saturating_sub(f(b)))
            .sum()
    };
    let open: u64 = before.iter().map(|s| s.open_connections).sum();
    let accepted = loop {
        let accepted = since(|s| s.total_connections);
        if open == 0 || accepted > 0 || Instant::now() >= deadline {
            break accepted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    reset_effect(
        cluster.name(),
        open,
        accepted,
        since(|s| s.refused_connections),
        reset_at.elapsed(),
    )
}

/// The reset's proof in words: the system had connections to reset (`open`) and opened new
/// ones after (`accepted` by the proxies within `waited`; `refused` attempts are counted too).
fn reset_effect(
    cluster: &str,
    open: u64,
    accepted: u64,
    refused: u64,
    waited: Duration,
) -> Result<String, String> {
    if open == 0 {
        return Err(format!(
            "the system under test had no connection open through the {cluster} cluster's proxies to reset"
        ));
    }
    let tries = if refused > 0 {
        format!(" ({refused} refused attempts first)")
    } else {
        String::new()
    };
    if accepted == 0 {
        return Err(format!(
            "{open} open connections of the system under test were reset, but it opened no new connection to the {cluster} cluster within {RECONNECT_BOUND_SECS} s{tries}: its recovery from the reset was not tested"
        ));
    }
    Ok(format!(
        "{open} open connections of the system under test reset; it reconnected {:.1} s later{tries}",
        waited.as_secs_f64()
    ))
}

/// Runs `f` on the instances off the async runtime.
async fn instances<T, F>(on: &Arc<FaultTargets>, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(&mut Instances) -> Result<T, ScenarioError> + Send + 'static,
{
    let on = on.clone();
    tokio::task::spawn_blocking(move || {
        let mut i = on.instances.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut i).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// How long a proof over an instance's processes looks: signals reach the processes of a
/// group one by one, asynchronously.
const PROCESS_PROOF: Duration = Duration::from_secs(2);

/// Proof that no process of an instance remains (its group, their descendants, its mark):
/// `before` is what it had before the stop or the crash.
async fn gone(
    idx: u32,
    family: Option<Family>,
    before: Vec<ProcessInfo>,
) -> Result<String, String> {
    let Some(family) = family else {
        return Err(format!("instance {idx} was not running"));
    };
    let left = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + PROCESS_PROOF;
        loop {
            let left = family.members();
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if left.is_empty() {
        Ok(format!(
            "instance {idx}: {} gone",
            every(&before, "is", "are")
        ))
    } else {
        Err(format!(
            "instance {idx}: {} of its processes still run: {}",
            left.len(),
            listed(&left)
        ))
    }
}

/// Proof of a stall: every process of the family seen stopped (T) within [`PROCESS_PROOF`];
/// Ok holds them, Err says which still ran.
async fn all_stopped(family: Family) -> Result<Vec<ProcessInfo>, String> {
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + PROCESS_PROOF;
        loop {
            let members = family.members();
            if members.is_empty() {
                return Err("none of its processes is alive".to_string());
            }
            if members.iter().all(ProcessInfo::is_stopped) {
                return Ok(members);
            }
            if Instant::now() >= deadline {
                let running: Vec<ProcessInfo> =
                    members.into_iter().filter(|p| !p.is_stopped()).collect();
                return Err(format!("still running: {}", listed(&running)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

/// "1 process (pid 7)", "2 processes (pids 7, 9)".
fn counted(members: &[ProcessInfo]) -> String {
    let pids: Vec<String> = members.iter().map(|p| p.pid.to_string()).collect();
    match members.len() {
        1 => format!("1 process (pid {})", pids[0]),
        n => format!("{n} processes (pids {})", pids.join(", ")),
    }
}

/// "its 1 process (pid 7) is", "all its 2 processes (pids 7, 9) are".
fn every(members: &[ProcessInfo], one: &str, many: &str) -> String {
    match members.len() {
        1 => format!("its {} {one}", counted(members)),
        _ => format!("all its {} {many}", counted(members)),
    }
}

/// "pid 7 (sh ./copier.sh) in state S, …".
fn listed(members: &[ProcessInfo]) -> String {
    members
        .iter()
        .map(|p| format!("pid {} ({}) in state {}", p.pid, p.command_line(), p.state))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Proof that a stopped or killed broker no longer answers on its own listener.
async fn broker_down(cluster: &Arc<dyn Cluster>, node: u32) -> Result<String, String> {
    let Some(b) = cluster.brokers().into_iter().find(|b| b.node_id == node) else {
        return Err(format!(
            "the {} cluster has no broker {node}",
            cluster.name()
        ));
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], b.port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await
                .is_ok_and(|r| r.is_ok());
        if !answered {
            return Ok(format!(
                "broker {node} of the {} cluster no longer answers on port {}",
                cluster.name(),
                b.port
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "broker {node} of the {} cluster still accepts connections on port {} 10 s later",
                cluster.name(),
                b.port
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

    fn stats(to_broker: u64, dropped: u64, refused: u64) -> ProxyStats {
        ProxyStats {
            bytes_to_broker: to_broker,
            dropped_to_broker: dropped,
            refused_connections: refused,
            ..ProxyStats::default()
        }
    }

    fn connected(open: u64, total: u64, s: ProxyStats) -> ProxyStats {
        ProxyStats {
            open_connections: open,
            total_connections: total,
            ..s
        }
    }

    #[test]
    fn a_network_fault_counts_only_what_its_proxies_held_while_on() {
        let fwd = Held::Forwarded(Direction::ToBroker);
        // No connection of the system through the window: nothing was tested, whatever the
        // fault.
        let before = [stats(100, 0, 0), stats(50, 0, 0)];
        let quiet = [stats(100, 0, 0), stats(50, 0, 0)];
        for held in [fwd, Held::Dropped(Direction::Both), Held::Refused] {
            let err = held.seen("source", &before, &quiet).unwrap_err();
            assert!(
                err.contains("the system under test had no connection to the source cluster"),
                "{err}"
            );
        }
        // Connected (one open as it began) but idle: held nothing.
        let before = [connected(1, 3, stats(100, 0, 0)), stats(50, 0, 0)];
        let idle = [connected(1, 3, stats(100, 0, 0)), stats(50, 0, 0)];
        let err = fwd.seen("source", &before, &idle).unwrap_err();
        assert!(err.contains("moved no byte"), "{err}");
        assert!(
            err.contains("1 connection of the system open or opened"),
            "{err}"
        );
        let err = Held::Refused.seen("source", &before, &idle).unwrap_err();
        assert!(err.contains("tried no new connection"), "{err}");
        // Busy: one connection open, two opened during the window.
        let busy = [
            connected(1, 4, stats(130, 7, 0)),
            connected(1, 1, stats(50, 0, 2)),
        ];
        assert_eq!(
            fwd.seen("source", &before, &busy).as_deref(),
            Ok("30 bytes of the system under test passed the proxies under the fault (3 connections of the system open or opened)")
        );
        // Bytes towards clients were not touched: a to-client fault saw nothing.
        assert!(Held::Forwarded(Direction::ToClient)
            .seen("source", &before, &busy)
            .unwrap_err()
            .contains("moved no byte"));
        assert_eq!(
            Held::Dropped(Direction::Both)
                .seen("source", &before, &busy)
                .as_deref(),
            Ok("7 bytes of the system under test dropped by the proxies (3 connections of the system open or opened)")
        );
        // A system that only tried (every try refused) was tested by a refusal.
        let tried = [connected(0, 0, stats(0, 0, 0))];
        let refused = [connected(0, 0, stats(0, 0, 2))];
        assert_eq!(
            Held::Refused.seen("source", &tried, &refused).as_deref(),
            Ok("2 connections of the system under test refused by the proxies")
        );
    }

    #[test]
    fn a_reset_is_proven_by_the_system_reconnecting() {
        let s = Duration::from_millis(1500);
        assert!(reset_effect("target", 0, 0, 0, s)
            .unwrap_err()
            .contains("no connection open through the target cluster's proxies"));
        let err = reset_effect("target", 4, 0, 3, s).unwrap_err();
        assert!(
            err.contains("4 open connections of the system under test were reset, but it opened no new connection to the target cluster within 30 s (3 refused attempts first)"),
            "{err}"
        );
        assert_eq!(
            reset_effect("target", 4, 2, 0, s).as_deref(),
            Ok("4 open connections of the system under test reset; it reconnected 1.5 s later")
        );
    }

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

    #[test]
    fn a_proof_counts_the_processes_it_saw() {
        let p = |pid| ProcessInfo {
            pid,
            ppid: 1,
            pgrp: 7,
            state: 'S',
            start_ticks: 0,
        };
        assert_eq!(counted(&[p(7)]), "1 process (pid 7)");
        assert_eq!(counted(&[p(7), p(9)]), "2 processes (pids 7, 9)");
        assert_eq!(every(&[p(7)], "is", "are"), "its 1 process (pid 7) is");
        assert_eq!(
            every(&[p(7), p(9)], "is", "are"),
            "all its 2 processes (pids 7, 9) are"
        );
        let me = ProcessInfo::read(std::process::id()).expect("this process");
        let text = listed(std::slice::from_ref(&me));
        assert!(text.starts_with(&format!("pid {} (", me.pid)), "{text}");
        assert!(
            text.ends_with(&format!(") in state {}", me.state)),
            "{text}"
        );
    }
}
