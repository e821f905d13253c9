//! The built-in replicator's slot-group rebalances, read from its instances' own logs.
//!
//! Each `cutover replicate` instance writes `tracing` lines with RFC 3339 UTC timestamps
//! (microseconds) to `instance-N.log`, restarts appended after a `=== cutover: instance N
//! (re)started ===` marker. Its slot group (on the target cluster) assigns eagerly, so every
//! rebalance revokes every member's slots and then assigns each member its new set, logged as
//!
//! ```text
//! 2026-12-07T01:38:58.095870Z  INFO slots assigned slots=[1] cause=membership
//! ```
//!
//! with the cause as the instance saw it (`join`, `membership`, `poll-interval`,
//! `session-timeout`: `replicator::engine::ASSIGNMENT_CAUSES`; absent in older logs).
//! (`replicator::engine`'s rebalance callback). One group rebalance is the set of assignments
//! the instances log close together: an assignment starts a new rebalance when it comes more
//! than [`SAME_REBALANCE`] after the first assignment of the current one, or when its instance
//! was already assigned in it (a member gets one assignment per generation). The first
//! rebalance is the group's forming; the others are counted. A slot moved when its new owner
//! is not the instance that held it last (a slot never held before is not a move).
//!
//! The replicator's `cutover_replicator_rebalances_total` counter counts the same assignment
//! lines per process, but an instance that crashed loses its counter with its process: the
//! logs, which outlive a process, are the source.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// Assignments within this time of a rebalance's first one belong to it (the members'
/// SyncGroup answers of one generation arrive within milliseconds of each other).
pub const SAME_REBALANCE: Duration = Duration::from_secs(1);

/// One `slots assigned` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// When the instance logged it.
    pub at: SystemTime,
    /// The instance's index (`instance-N.log`).
    pub instance: u32,
    /// The slots it was given (may be empty).
    pub slots: Vec<u32>,
    /// Why, as the instance saw it (None in logs from before causes were logged).
    pub cause: Option<String>,
}

/// The `slots assigned` lines of one instance's log text, in the order logged.
pub fn assignments(instance: u32, text: &str) -> Vec<Assignment> {
    text.lines()
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(char::is_whitespace)?;
            let rest = rest.trim_start();
            let rest = rest.strip_prefix("INFO")?.trim_start();
            let list = rest.strip_prefix("slots assigned slots=[")?;
            let (list, after) = list.split_once(']')?;
            let cause = after
                .split_whitespace()
                .find_map(|f| f.strip_prefix("cause="))
                .map(|c| c.trim_matches('"').to_string());
            let at = humantime::parse_rfc3339(stamp).ok()?;
            let slots = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some(Assignment {
                at,
                instance,
                slots,
                cause,
            })
        })
        .collect()
}

/// One group rebalance: the assignments of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRebalance {
    /// Its first assignment.
    pub at: SystemTime,
    /// The instances assigned in it.
    pub members: BTreeSet<u32>,
    /// Slots whose owner changed.
    pub moved: u64,
    /// The causes its instances logged.
    pub causes: BTreeSet<String>,
}

/// Every assignment of every instance gathered into group rebalances, in time order (the
/// group's forming first).
pub fn rebalances(mut all: Vec<Assignment>) -> Vec<SlotRebalance> {
    all.sort_by_key(|a| (a.at, a.instance));
    let mut out: Vec<SlotRebalance> = Vec::new();
    // Slot → the instance that held it last.
    let mut owner: BTreeMap<u32, u32> = BTreeMap::new();
    // The current rebalance's new owners, applied when the next begins.
    let mut pending: BTreeMap<u32, u32> = BTreeMap::new();
    for a in all {
        let same = out.last().is_some_and(|r| {
            a.at.duration_since(r.at).unwrap_or_default() <= SAME_REBALANCE
                && !r.members.contains(&a.instance)
        });
        if !same {
            owner.append(&mut pending);
            out.push(SlotRebalance {
                at: a.at,
                members: BTreeSet::new(),
                moved: 0,
                causes: BTreeSet::new(),
            });
        }
        let Some(r) = out.last_mut() else { continue };
        r.members.insert(a.instance);
        r.causes.extend(a.cause);
        for s in a.slots {
            if owner.get(&s).is_some_and(|o| *o != a.instance) {
                r.moved += 1;
            }
            pending.insert(s, a.instance);
        }
    }
    out
}

/// The report's section from the group's rebalances: the forming is not counted; times are
/// seconds since `workload_started` (negative before it; 0 when unknown).
pub fn section(
    found: &[SlotRebalance],
    workload_started: Option<SystemTime>,
) -> reports::Rebalances {
    let secs = |at: SystemTime| match workload_started {
        Some(w) => match at.duration_since(w) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        },
        None => 0.0,
    };
    let events: Vec<reports::RebalanceEvent> = found
        .iter()
        .skip(1)
        .map(|r| reports::RebalanceEvent {
            at_secs: secs(r.at),
            generation: None,
            members: r.members.iter().map(|i| format!("instance-{i}")).collect(),
            moved: r.moved,
            duplicates_after: None,
            cause: cause_of(&r.causes),
        })
        .collect();
    reports::Rebalances {
        observed_by: "replicator-logs".into(),
        count: events.len() as u64,
        task_moves: Some(events.iter().map(|e| e.moved).sum()),
        events,
        ..Default::default()
    }
}

/// One group rebalance's cause from its instances' own: an instance that exceeded its poll
/// interval or lost its session made it (`poll-interval` before `session-timeout`: a member
/// that exceeds its poll interval also loses its assignment); otherwise the group changed
/// (`membership`). None when no instance logged a cause. The run attributes rebalances
/// during faults to them afterwards.
fn cause_of(causes: &BTreeSet<String>) -> Option<String> {
    ["poll-interval", "session-timeout", "membership", "join"]
        .into_iter()
        .find(|c| causes.contains(*c))
        .map(|c| if c == "join" { "membership" } else { c }.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Three instances' logs of a real run (rebalance-storm-alo, trimmed): instance 2 joins,
    // instance 0 crashes and restarts.
    const LOG0: &str = "=== cutover: instance 0 (re)started ===
2026-12-07T01:38:49.857610Z  INFO metrics at /metrics addr=127.0.0.1:39601
2026-12-07T01:38:50.769424Z  INFO slots assigned slots=[1, 3]
2026-12-07T01:38:57.810101Z  INFO slots revoked slots=[1, 3] lost=false
2026-12-07T01:38:58.095870Z  INFO slots assigned slots=[1]
2026-12-07T01:38:58.153810Z  INFO slot copying slot=1 partitions=3 down_ms=56
=== cutover: instance 0 (re)started ===
2026-12-07T01:39:07.126446Z  INFO slots assigned slots=[2]
";
    const LOG1: &str = "2026-12-07T01:38:50.747356Z  INFO slots assigned slots=[0, 2]
2026-12-07T01:38:57.775366Z  INFO slots revoked slots=[0, 2] lost=false
2026-12-07T01:38:58.102310Z  INFO slots assigned slots=[0, 3]
2026-12-07T01:39:05.120425Z  INFO slots revoked slots=[0, 3] lost=false
2026-12-07T01:39:07.185573Z  INFO slots assigned slots=[0, 3]
";
    const LOG2: &str = "2026-12-07T01:38:58.084990Z  INFO slots assigned slots=[2]
2026-12-07T01:39:05.101656Z  INFO slots revoked slots=[2] lost=false
2026-12-07T01:39:07.162195Z  INFO slots assigned slots=[1]
";

    fn all() -> Vec<Assignment> {
        let mut v = assignments(0, LOG0);
        v.extend(assignments(1, LOG1));
        v.extend(assignments(2, LOG2));
        v
    }

    #[test]
    fn assignment_lines_are_read_with_their_instance_and_slots() {
        let a = assignments(0, LOG0);
        assert_eq!(
            a.len(),
            3,
            "revocations and other lines are not assignments"
        );
        assert_eq!(a[0].slots, vec![1, 3]);
        assert_eq!(a[2].slots, vec![2]);
        assert_eq!(
            a[0].at,
            humantime::parse_rfc3339("2026-12-07T01:38:50.769424Z").unwrap()
        );
        let empty = assignments(
            4,
            "2026-12-07T01:38:50.769424Z  INFO slots assigned slots=[]",
        );
        assert_eq!(empty.len(), 1);
        assert!(
            empty[0].slots.is_empty(),
            "an empty assignment is still a membership"
        );
        assert!(assignments(0, "garbage slots assigned slots=[1]").is_empty());
    }

    #[test]
    fn assignments_close_together_are_one_rebalance_with_the_slots_it_moved() {
        let found = rebalances(all());
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(found[0].members, BTreeSet::from([0, 1]));
        assert_eq!(found[0].moved, 0, "the forming moves nothing");
        // Instance 2 joined: 0 keeps 1, 1 keeps 0 and takes 3 from 0, 2 takes 2 from 1.
        assert_eq!(found[1].members, BTreeSet::from([0, 1, 2]));
        assert_eq!(found[1].moved, 2);
        // Instance 0 restarted: 0 takes 2 from 2, 2 takes 1 from 0; 1 keeps 0 and 3.
        assert_eq!(found[2].members, BTreeSet::from([0, 1, 2]));
        assert_eq!(found[2].moved, 2);
    }

    #[test]
    fn an_instance_assigned_twice_in_a_second_is_two_rebalances() {
        let log = "2026-12-07T01:00:00.000000Z  INFO slots assigned slots=[0, 1]
2026-12-07T01:00:00.500000Z  INFO slots assigned slots=[0]
";
        let mut a = assignments(0, log);
        a.extend(assignments(
            1,
            "2026-12-07T01:00:00.600000Z  INFO slots assigned slots=[1]",
        ));
        let found = rebalances(a);
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].members, BTreeSet::from([0, 1]));
        assert_eq!(found[1].moved, 1, "slot 1 went from 0 to 1");
    }

    #[test]
    fn the_section_counts_rebalances_after_the_forming_from_the_workload_start() {
        let started = humantime::parse_rfc3339("2026-12-07T01:38:55Z").unwrap();
        let s = section(&rebalances(all()), Some(started));
        assert_eq!(s.observed_by, "replicator-logs");
        assert_eq!(s.count, 2);
        assert_eq!(s.task_moves, Some(4));
        assert!((s.events[0].at_secs - 3.08499).abs() < 1e-3, "{s:?}");
        assert_eq!(
            s.events[0].members,
            vec!["instance-0", "instance-1", "instance-2"]
        );
        assert_eq!(s.events[1].moved, 2);
        assert!(s.events.iter().all(|e| e.duplicates_after.is_none()));
        let none = section(&[], None);
        assert_eq!((none.count, none.task_moves), (0, Some(0)));
        assert!(
            s.events.iter().all(|e| e.cause.is_none()),
            "older logs name no cause"
        );
    }

    #[test]
    fn an_instance_that_exceeded_its_poll_interval_made_the_rebalance() {
        // Instance 1 stalled in its own code past max.poll.interval.ms: it left the group
        // (instance 0 saw a membership change) and rejoined (a second one).
        let log0 = "2026-12-07T01:00:00.000000Z  INFO slots assigned slots=[0, 1] cause=join
2026-12-07T01:00:20.000000Z  INFO slots assigned slots=[0, 1] cause=membership
2026-12-07T01:00:21.000000Z  INFO slots assigned slots=[0] cause=membership
";
        let log1 = "2026-12-07T01:00:00.100000Z  INFO slots assigned slots=[] cause=join
2026-12-07T01:00:21.100000Z  INFO slots assigned slots=[1] cause=poll-interval
";
        let mut a = assignments(0, log0);
        a.extend(assignments(1, log1));
        assert_eq!(a[0].cause.as_deref(), Some("join"));
        let s = section(&rebalances(a), None);
        let causes: Vec<_> = s.events.iter().map(|e| e.cause.as_deref()).collect();
        assert_eq!(causes, vec![Some("membership"), Some("poll-interval")]);
    }
}
