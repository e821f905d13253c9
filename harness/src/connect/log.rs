//! The Connect group as each worker's own log tells it: rebalances started, generations joined
//! with the assignment received, and work started after them.
//!
//! The lines are Kafka 4.x's (`connect/runtime/src/main/java/org/apache/kafka/connect/runtime/distributed/`):
//! - `WorkerCoordinator.onJoinPrepare`: `Rebalance started`;
//! - `DistributedHerder.RebalanceListener.onAssigned`: `Joined group at generation {} with
//!   protocol version {} and got assignment: {} with rebalance delay: {}`, the assignment being
//!   `ExtendedAssignment.toString()`: `Assignment{error=0, leader='…', leaderUrl='…', offset=N,
//!   connectorIds=[…], taskIds=[…], revokedConnectorIds=[…], revokedTaskIds=[…], delay=N}`;
//! - `DistributedHerder.startWork`: `Finished starting connectors and tasks`.
//!
//! All three are INFO. The worker's log4j2 layout ([`LOG4J2_WORKER_CONFIG`]) starts every line
//! with a UTC timestamp in milliseconds, `[2026-01-02T03:04:05.678Z]`, which is what the events
//! carry (ms since the Unix epoch).

use std::collections::BTreeMap;

/// log4j2 configuration of a Connect worker: everything to stdout (the cluster sends it to the
/// worker's log file) with a UTC timestamp the parser reads; the clients', Jetty's, the REST
/// request log's, the plugin scanner's, metrics' and app-info chatter turned down (the
/// configs' value dumps stay: they show what each worker really ran with). `DistributedHerder` and
/// `WorkerCoordinator` stay at INFO: their lines are the group history.
pub const LOG4J2_WORKER_CONFIG: &str = "status = warn
name = cutover-connect
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}{UTC}] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
logger.rest.name = org.apache.kafka.connect.runtime.rest.RestServer
logger.rest.level = WARN
logger.isolation.name = org.apache.kafka.connect.runtime.isolation
logger.isolation.level = WARN
logger.metrics.name = org.apache.kafka.common.metrics
logger.metrics.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
logger.telemetry.name = org.apache.kafka.common.telemetry
logger.telemetry.level = WARN
";

/// What a worker logged about the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEventKind {
    /// `Rebalance started`: the worker is about to (re)join.
    RebalanceStarted,
    /// `Joined group at generation …`: the worker is a member of `generation` and got this
    /// assignment.
    Joined(Joined),
    /// `Finished starting connectors and tasks`: the worker runs what it was assigned.
    FinishedStarting,
}

/// One `Joined group at generation …` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub generation: u32,
    /// Connect's subprotocol version: 0 eager, 1 compatible, 2 sessioned (KIP-415, KIP-507).
    pub protocol: u32,
    /// The leader's member id.
    pub leader: String,
    /// The leader's REST URL.
    pub leader_url: String,
    /// The config topic offset the assignment is based on.
    pub config_offset: i64,
    /// Connectors and tasks (`name-N`) assigned to this worker in this generation (with
    /// incremental cooperative rebalancing: newly assigned ones only).
    pub connectors: Vec<String>,
    pub tasks: Vec<String>,
    /// Connectors and tasks this worker must give up.
    pub revoked_connectors: Vec<String>,
    pub revoked_tasks: Vec<String>,
    /// The rebalance delay the leader scheduled (ms; `scheduled.rebalance.max.delay.ms` when a
    /// worker left).
    pub delay_ms: i64,
}

/// A group event of one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent {
    /// When the worker logged it (ms since the Unix epoch, UTC).
    pub at_ms: u64,
    /// The worker's index in its [`crate::connect::ConnectCluster`].
    pub worker: u32,
    pub kind: GroupEventKind,
}

/// One generation of the group as the workers' logs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub generation: u32,
    /// The first worker's join of this generation (ms since the Unix epoch).
    pub first_joined_ms: u64,
    /// The last worker's join of this generation (ms since the Unix epoch).
    pub last_joined_ms: u64,
    /// Each member worker (by index) and what its join line assigned and revoked.
    pub members: BTreeMap<u32, Joined>,
}

/// The events in one worker's log text, in log order.
pub fn parse_events(worker: u32, text: &str) -> Vec<GroupEvent> {
    text.lines()
        .filter_map(|line| parse_line(worker, line))
        .collect()
}

fn parse_line(worker: u32, line: &str) -> Option<GroupEvent> {
    let rest = line.strip_prefix('[')?;
    let (stamp, message) = rest.split_once(']')?;
    let kind =
        if message.contains("] Rebalance started") || message.contains(" Rebalance started (") {
            GroupEventKind::RebalanceStarted
        } else if let Some(i) = message.find("Joined group at generation ") {
            GroupEventKind::Joined(parse_joined(&message[i..])?)
        } else if message.contains("Finished starting connectors and tasks") {
            GroupEventKind::FinishedStarting
        } else {
            return None;
        };
    Some(GroupEvent {
        at_ms: parse_utc_millis(stamp)?,
        worker,
        kind,
    })
}

/// `Joined group at generation 3 with protocol version 2 and got assignment: Assignment{…}
/// with rebalance delay: 0`.
fn parse_joined(text: &str) -> Option<Joined> {
    let after = |key: &str| -> Option<&str> { Some(&text[text.find(key)? + key.len()..]) };
    fn number(s: &str) -> Option<&str> {
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(s.len());
        Some(&s[..end])
    }
    let generation = number(after("at generation ")?)?.parse().ok()?;
    let protocol = number(after("protocol version ")?)?.parse().ok()?;
    let assignment = after("Assignment{")?;
    let quoted = |key: &str| -> Option<String> {
        let s = &assignment[assignment.find(key)? + key.len()..];
        Some(s[..s.find('\'')?].to_string())
    };
    let list = |key: &str| -> Option<Vec<String>> {
        let s = &assignment[assignment.find(key)? + key.len()..];
        let inner = &s[..s.find(']')?];
        Some(
            inner
                .split(", ")
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
        )
    };
    let field_number = |key: &str| -> Option<i64> {
        let s = &assignment[assignment.find(key)? + key.len()..];
        number(s)?.parse().ok()
    };
    Some(Joined {
        generation,
        protocol,
        leader: quoted("leader='")?,
        leader_url: quoted("leaderUrl='")?,
        config_offset: field_number("offset=")?,
        connectors: list("connectorIds=[")?,
        tasks: list(", taskIds=[")?,
        revoked_connectors: list("revokedConnectorIds=[").unwrap_or_default(),
        revoked_tasks: list("revokedTaskIds=[").unwrap_or_default(),
        delay_ms: field_number("delay=").unwrap_or(0),
    })
}

/// The generations in `events` (any order), ascending.
pub fn generations(events: &[GroupEvent]) -> Vec<Generation> {
    let mut by: BTreeMap<u32, Generation> = BTreeMap::new();
    for e in events {
        let GroupEventKind::Joined(j) = &e.kind else {
            continue;
        };
        let g = by.entry(j.generation).or_insert_with(|| Generation {
            generation: j.generation,
            first_joined_ms: e.at_ms,
            last_joined_ms: e.at_ms,
            members: BTreeMap::new(),
        });
        g.first_joined_ms = g.first_joined_ms.min(e.at_ms);
        g.last_joined_ms = g.last_joined_ms.max(e.at_ms);
        g.members.insert(e.worker, j.clone());
    }
    by.into_values().collect()
}

/// The tasks (`name-N`) each worker holds after `generations` (ascending), by replaying the
/// assignments: with incremental cooperative rebalancing (protocol 1 and 2) a join line lists
/// what the worker gained and must give up; with eager rebalancing (protocol 0) everything it
/// holds. A task given to a worker leaves its previous holder; a worker that left keeps what
/// nobody else was given since.
pub fn owned_tasks(
    generations: &[Generation],
) -> BTreeMap<u32, std::collections::BTreeSet<String>> {
    let mut owned: BTreeMap<u32, std::collections::BTreeSet<String>> = BTreeMap::new();
    for g in generations {
        for (worker, joined) in &g.members {
            let mine = owned.entry(*worker).or_default();
            if joined.protocol == 0 {
                mine.clear();
            }
            for t in &joined.revoked_tasks {
                mine.remove(t);
            }
            for t in &joined.tasks {
                for (other, theirs) in owned.iter_mut() {
                    if other != worker {
                        theirs.remove(t);
                    }
                }
                owned.entry(*worker).or_default().insert(t.clone());
            }
        }
    }
    owned
}

/// The latest generation each worker joined.
pub fn latest_generation_by_worker(events: &[GroupEvent]) -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    for e in events {
        if let GroupEventKind::Joined(j) = &e.kind {
            let g = out.entry(e.worker).or_insert(j.generation);
            *g = (*g).max(j.generation);
        }
    }
    out
}

/// What a worker started, as its log says (`Worker.startConnector`: `Creating connector {name}
/// of type {class}`; `Worker.startTask`: `Creating task {name}-{n}`): each line is one start,
/// so a restart through REST shows as one more of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Created {
    /// A connector instance, by name.
    Connector(String),
    /// A task, as `name-N`.
    Task(String),
}

/// The starts in one worker's log text, in log order.
pub fn created(text: &str) -> Vec<Created> {
    const WORKER: &str = "(org.apache.kafka.connect.runtime.Worker)";
    text.lines()
        .filter(|line| line.trim_end().ends_with(WORKER))
        .filter_map(|line| {
            if let Some(i) = line.find("Creating task ") {
                let id = line[i + "Creating task ".len()..]
                    .split_whitespace()
                    .next()?;
                return Some(Created::Task(id.to_string()));
            }
            let i = line.find("Creating connector ")?;
            let rest = &line[i + "Creating connector ".len()..];
            let name = rest.split(" of type ").next()?.trim();
            Some(Created::Connector(name.to_string()))
        })
        .collect()
}

/// `2026-01-02T03:04:05.678Z` → ms since the Unix epoch.
fn parse_utc_millis(stamp: &str) -> Option<u64> {
    let s = stamp.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (hms, millis) = time.split_once('.')?;
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let m: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next()?.parse().ok()?;
    let ms: i64 = millis.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let total = ((days * 24 + h) * 60 + m) * 60 + sec;
    u64::try_from(total * 1000 + ms).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[2026-12-07T03:50:01.100Z] INFO [Worker clientId=connect-127.0.0.1:18083, groupId=g] Rebalance started (org.apache.kafka.connect.runtime.distributed.WorkerCoordinator)
[2026-12-07T03:50:01.250Z] INFO [Worker clientId=connect-127.0.0.1:18083, groupId=g] Joined group at generation 4 with protocol version 2 and got assignment: Assignment{error=0, leader='connect-127.0.0.1:18083-5f0c', leaderUrl='http://127.0.0.1:18083/', offset=7, connectorIds=[mirror], taskIds=[mirror-0, mirror-1], revokedConnectorIds=[], revokedTaskIds=[], delay=0} with rebalance delay: 0 (org.apache.kafka.connect.runtime.distributed.DistributedHerder)
[2026-12-07T03:50:01.300Z] INFO [Worker clientId=connect-127.0.0.1:18083, groupId=g] Finished starting connectors and tasks (org.apache.kafka.connect.runtime.distributed.DistributedHerder)
some stack trace line
[2026-12-07T03:50:09.000Z] INFO [Worker clientId=connect-127.0.0.1:18083, groupId=g] Joined group at generation 5 with protocol version 2 and got assignment: Assignment{error=0, leader='connect-127.0.0.1:18083-5f0c', leaderUrl='http://127.0.0.1:18083/', offset=7, connectorIds=[], taskIds=[], revokedConnectorIds=[], revokedTaskIds=[mirror-1], delay=3000} with rebalance delay: 3000 (org.apache.kafka.connect.runtime.distributed.DistributedHerder)
";

    #[test]
    fn the_herders_lines_become_events_with_utc_times() {
        let events = parse_events(2, LOG);
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[0].kind, GroupEventKind::RebalanceStarted);
        assert_eq!(events[0].worker, 2);
        // 2026-12-07T03:50:01.100Z, checked with `date -u -d @1796615401`.
        assert_eq!(events[0].at_ms, 1_796_615_401_100);
        let GroupEventKind::Joined(j) = &events[1].kind else {
            panic!("{:?}", events[1]);
        };
        assert_eq!(j.generation, 4);
        assert_eq!(j.protocol, 2);
        assert_eq!(j.leader_url, "http://127.0.0.1:18083/");
        assert_eq!(j.config_offset, 7);
        assert_eq!(j.connectors, vec!["mirror"]);
        assert_eq!(j.tasks, vec!["mirror-0", "mirror-1"]);
        assert!(j.revoked_tasks.is_empty());
        assert_eq!(events[2].kind, GroupEventKind::FinishedStarting);
        let GroupEventKind::Joined(j) = &events[3].kind else {
            panic!("{:?}", events[3]);
        };
        assert_eq!((j.generation, j.delay_ms), (5, 3000));
        assert!(j.tasks.is_empty());
        assert_eq!(j.revoked_tasks, vec!["mirror-1"]);
    }

    #[test]
    fn generations_gather_every_worker_and_keep_the_latest_per_worker() {
        let mut events = parse_events(0, LOG);
        events.extend(parse_events(
            1,
            "[2026-12-07T03:50:01.400Z] INFO [Worker clientId=c, groupId=g] Joined group at generation 4 with protocol version 2 and got assignment: Assignment{error=0, leader='x', leaderUrl='http://127.0.0.1:18083/', offset=7, connectorIds=[], taskIds=[], revokedConnectorIds=[], revokedTaskIds=[], delay=0} with rebalance delay: 0 (org.apache.kafka.connect.runtime.distributed.DistributedHerder)\n",
        ));
        let gens = generations(&events);
        assert_eq!(
            gens.iter().map(|g| g.generation).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(
            gens[0].members.keys().copied().collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(gens[0].first_joined_ms, 1_796_615_401_250);
        assert_eq!(gens[0].last_joined_ms, 1_796_615_401_400);
        let latest = latest_generation_by_worker(&events);
        assert_eq!(latest[&0], 5);
        assert_eq!(latest[&1], 4);
    }

    #[test]
    fn connector_and_task_starts_are_counted_per_line() {
        let text = "[2026-01-02T03:04:05.678Z] INFO Creating connector mirror-source of type org.apache.kafka.connect.mirror.MirrorSourceConnector (org.apache.kafka.connect.runtime.Worker)
[2026-01-02T03:04:05.900Z] INFO [mirror-source|task-0] Creating task mirror-source-0 (org.apache.kafka.connect.runtime.Worker)
[2026-01-02T03:04:06.000Z] INFO Creating task mirror-source-1 (org.apache.kafka.connect.runtime.Worker)
[2026-01-02T03:04:07.000Z] INFO Stopping task mirror-source-1 (org.apache.kafka.connect.runtime.Worker)
";
        assert_eq!(
            created(text),
            vec![
                Created::Connector("mirror-source".into()),
                Created::Task("mirror-source-0".into()),
                Created::Task("mirror-source-1".into()),
            ]
        );
        assert!(created("[x] INFO Creating task t-0 (org.example.Other)").is_empty());
    }

    #[test]
    fn owned_tasks_replay_gains_revocations_and_moves() {
        let joined = |protocol: u32, tasks: &[&str], revoked: &[&str]| Joined {
            generation: 0,
            protocol,
            leader: String::new(),
            leader_url: String::new(),
            config_offset: 0,
            connectors: Vec::new(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            revoked_connectors: Vec::new(),
            revoked_tasks: revoked.iter().map(|t| t.to_string()).collect(),
            delay_ms: 0,
        };
        let g = |generation: u32, members: Vec<(u32, Joined)>| Generation {
            generation,
            first_joined_ms: 0,
            last_joined_ms: 0,
            members: members.into_iter().collect(),
        };
        let gens = vec![
            g(1, vec![(0, joined(2, &["m-0", "m-1", "m-2"], &[]))]),
            g(
                2,
                vec![(0, joined(2, &[], &["m-2"])), (1, joined(2, &[], &[]))],
            ),
            g(
                3,
                vec![(0, joined(2, &[], &[])), (1, joined(2, &["m-2"], &[]))],
            ),
            // Worker 0 left; worker 1 takes its tasks.
            g(4, vec![(1, joined(2, &["m-0", "m-1"], &[]))]),
        ];
        let owned = owned_tasks(&gens[..3]);
        assert_eq!(owned[&0].len(), 2);
        assert_eq!(owned[&1].iter().collect::<Vec<_>>(), ["m-2"]);
        let owned = owned_tasks(&gens);
        assert!(owned[&0].is_empty());
        assert_eq!(owned[&1].len(), 3);
        // Eager: the line is the whole assignment.
        let eager = vec![
            g(1, vec![(0, joined(0, &["m-0", "m-1"], &[]))]),
            g(
                2,
                vec![(0, joined(0, &["m-1"], &[])), (1, joined(0, &["m-0"], &[]))],
            ),
        ];
        let owned = owned_tasks(&eager);
        assert_eq!(owned[&0].iter().collect::<Vec<_>>(), ["m-1"]);
        assert_eq!(owned[&1].iter().collect::<Vec<_>>(), ["m-0"]);
    }

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(parse_utc_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_utc_millis("2000-03-01T00:00:00.001Z"),
            Some(951_868_800_001)
        );
        assert_eq!(
            parse_utc_millis("2024-02-29T23:59:59.999Z"),
            Some(1_709_251_199_999)
        );
        assert_eq!(parse_utc_millis("2024-13-01T00:00:00.000Z"), None);
        assert_eq!(parse_utc_millis("2024-01-01 00:00:00,000"), None);
    }
}
