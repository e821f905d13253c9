//! The proofs of add-instance and remove-instance from the consumer group a system's instances
//! consume the source in (`SystemUnderTest::source_group`: a `command`'s `CUTOVER_GROUP_ID`).
//! The group's coordinator on the source describes its members and their assignments
//! (`harness::Admin::describe_consumer_group`, the consumer protocol decoded): that is the
//! system's own group, whoever reads it. A join is one member more, a new one holding at least
//! one partition; a leave is one member fewer with every partition the group held held again
//! by those that remain (the member count alone when it held none). A group without members
//! means the system does not consume in it: the fault is unproven.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Admin, ConsumerGroupDescription, GroupMember};

use super::FaultTargets;
use crate::system::SourceGroup;

/// One read of the group: None when the source does not know it.
type Read = Result<Option<ConsumerGroupDescription>, String>;

/// How long one read of the group may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The group on the source, read through cutover's admin (its direct listener, never a fault
/// proxy).
pub(super) struct Watch {
    pub group: SourceGroup,
    admin: Result<Admin, String>,
}

impl Watch {
    pub fn new(on: &Arc<FaultTargets>, group: SourceGroup) -> Watch {
        let admin = on
            .source
            .admin()
            .map(|a| a.with_timeout(READ_TIMEOUT))
            .map_err(|e| e.to_string());
        Watch { group, admin }
    }

    /// The group as its coordinator describes it now.
    pub async fn read(&self) -> Read {
        match &self.admin {
            Ok(admin) => admin
                .describe_consumer_group(&self.group.name)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }
    }

    /// The group once it settled: read until it is `Stable` with at least `instances` members
    /// (every running instance in it), or the bound passes (then the last read). The baseline
    /// of a join or a leave: a member still joining would otherwise be taken for the new
    /// instance, and a rebalance under way hides partitions.
    pub async fn settled(&self, instances: usize) -> Read {
        let deadline = Instant::now() + self.group.bound;
        loop {
            let now = self.read().await;
            let settled = matches!(&now, Ok(Some(g)) if g.state == "Stable" && g.members.len() >= instances.max(1));
            if settled || Instant::now() > deadline {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Reads the group until `judge` says Ok, or the group's bound passes: Err is the last
    /// judgement and the bound.
    async fn until<F>(&self, judge: F) -> Result<String, String>
    where
        F: Fn(&Read) -> Judged,
    {
        let deadline = Instant::now() + self.group.bound;
        loop {
            let now = self.read().await;
            let why = match judge(&now) {
                Judged::Proven(proof) => return Ok(proof),
                Judged::Never(why) => return Err(why),
                Judged::NotYet(why) => why,
            };
            if Instant::now() > deadline {
                return Err(format!("{why} (within {} s)", secs(self.group.bound)));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until the group has a member more than `before` (read before the instance was
    /// added, [`Watch::settled`]) and a new member holds partitions. A group the instances
    /// already running never joined is no baseline: unproven at once.
    pub async fn joined(&self, before: Read) -> Result<String, String> {
        let name = self.group.name.clone();
        let before = match before {
            Ok(b) => b,
            Err(e) => {
                return Err(format!(
                "group `{name}` on the source could not be read before the instance was added: {e}"
            ))
            }
        };
        if before.as_ref().is_none_or(|b| b.members.is_empty()) {
            return Err(no_members(&name));
        }
        self.until(|now| judge_join(&name, before.as_ref(), now))
            .await
    }

    /// Waits until the group has a member fewer than `before` (read before the instance was
    /// stopped) and every partition it held is held again.
    pub async fn left(&self, before: Read) -> Result<String, String> {
        let name = self.group.name.clone();
        let before = before.map_err(|e| {
            format!("group `{name}` on the source could not be read before the instance was stopped: {e}")
        })?;
        self.until(|now| judge_leave(&name, before.as_ref(), now))
            .await
    }
}

/// One look at the group during a proof.
#[derive(Debug, PartialEq, Eq)]
enum Judged {
    Proven(String),
    /// Not (yet): what is seen.
    NotYet(String),
    /// It cannot become proven by waiting.
    Never(String),
}

/// A join, as far as the group `now` shows it against `before`.
fn judge_join(name: &str, before: Option<&ConsumerGroupDescription>, now: &Read) -> Judged {
    let now = match unreadable(name, now) {
        Ok(now) => now,
        Err(why) => return Judged::NotYet(why),
    };
    let old: Vec<&GroupMember> = before
        .map(|b| b.members.iter().collect())
        .unwrap_or_default();
    let was = old.len();
    let is = now.members.len();
    let fresh: Vec<&GroupMember> = now
        .members
        .iter()
        .filter(|m| !old.iter().any(|o| o.member_id == m.member_id))
        .collect();
    if is <= was {
        return Judged::NotYet(format!(
            "group `{name}` on the source has {} (it had {was} before the instance was added): the new instance did not join it",
            members(is)
        ));
    }
    match fresh.iter().find(|m| m.partition_count() > 0) {
        Some(m) => Judged::Proven(format!(
            "the group `{name}` on the source went from {was} to {} ({}, {}): the new member {} holds {}",
            members(is),
            now.state,
            now.protocol,
            who(m),
            held(&pairs(m).collect())
        )),
        None => Judged::NotYet(format!(
            "group `{name}` on the source has {} (it had {was}), but its new member holds no partition ({})",
            members(is),
            now.state
        )),
    }
}

/// A leave, as far as the group `now` shows it against `before`.
fn judge_leave(name: &str, before: Option<&ConsumerGroupDescription>, now: &Read) -> Judged {
    let Some(before) = before.filter(|b| !b.members.is_empty()) else {
        return Judged::Never(no_members(name));
    };
    if let Some(why) = not_consumer(name, before) {
        return Judged::Never(why);
    }
    // No group, or an empty one, is one that every member left.
    let now = match now {
        Err(e) => {
            return Judged::NotYet(format!(
                "group `{name}` on the source could not be read: {e}"
            ))
        }
        Ok(now) => now.as_ref(),
    };
    if let Some(why) = now
        .filter(|g| !g.members.is_empty())
        .and_then(|g| not_consumer(name, g))
    {
        return Judged::NotYet(why);
    }
    let now_members: &[GroupMember] = now.map(|g| g.members.as_slice()).unwrap_or_default();
    let state = now.map_or("gone", |g| g.state.as_str());
    let (was, is) = (before.members.len(), now_members.len());
    if is >= was {
        return Judged::NotYet(format!(
            "group `{name}` on the source still has {} (it had {was} before the instance was stopped)",
            members(is)
        ));
    }
    let gone: Vec<&GroupMember> = before
        .members
        .iter()
        .filter(|m| !now_members.iter().any(|n| n.member_id == m.member_id))
        .collect();
    let left = gone.iter().map(|m| who(m)).collect::<Vec<_>>().join(", ");
    let wanted = before.partitions();
    let holding = now.map(|g| g.partitions()).unwrap_or_default();
    let missing: BTreeSet<(String, i32)> = wanted.difference(&holding).cloned().collect();
    if !missing.is_empty() {
        return Judged::NotYet(format!(
            "group `{name}` on the source has {} (it had {was}), but {} held before {} held by none of them ({state})",
            members(is),
            held(&missing),
            if missing.len() == 1 { "is" } else { "are" },
        ));
    }
    if wanted.is_empty() {
        return Judged::Proven(format!(
            "the group `{name}` on the source went from {was} to {} ({left} left; the group held no partition)",
            members(is)
        ));
    }
    let moved: BTreeSet<(String, i32)> = gone.iter().flat_map(|m| pairs(m)).collect();
    let what = if moved.is_empty() {
        "it held no partition; all".to_string()
    } else {
        format!(
            "the {} it held {}",
            held(&moved),
            if moved.len() == 1 { "is" } else { "are" }
        )
    };
    Judged::Proven(format!(
        "the group `{name}` on the source went from {was} to {} ({left} left): {what} held again by the {} remaining, {} in all ({state})",
        members(is),
        members(is),
        held(&holding),
    ))
}

/// A member's partitions as (topic, partition).
fn pairs(m: &GroupMember) -> impl Iterator<Item = (String, i32)> + '_ {
    m.assignment
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
}

/// The description when it can be judged, or why not.
fn unreadable<'a>(name: &str, now: &'a Read) -> Result<&'a ConsumerGroupDescription, String> {
    match now {
        Err(e) => Err(format!(
            "group `{name}` on the source could not be read: {e}"
        )),
        Ok(None) => Err(no_members(name)),
        Ok(Some(g)) if g.members.is_empty() => Err(no_members(name)),
        Ok(Some(g)) => match not_consumer(name, g) {
            Some(why) => Err(why),
            None => Ok(g),
        },
    }
}

fn no_members(name: &str) -> String {
    format!(
        "group `{name}` on the source has no members: the command does not use CUTOVER_GROUP_ID"
    )
}

/// Why a group's assignments are not partitions (a Connect cluster's group, say).
fn not_consumer(name: &str, g: &ConsumerGroupDescription) -> Option<String> {
    (g.protocol_type != "consumer").then(|| {
        format!(
            "group `{name}` on the source is not a consumer group (protocol type `{}`): who holds which partition cannot be read from it",
            g.protocol_type
        )
    })
}

/// "1 member", "3 members".
fn members(n: usize) -> String {
    match n {
        1 => "1 member".into(),
        n => format!("{n} members"),
    }
}

/// "`rdkafka-7f…` (client id `copier-1`, host `/127.0.0.1`)".
fn who(m: &GroupMember) -> String {
    format!(
        "`{}` (client id `{}`, host `{}`)",
        m.member_id, m.client_id, m.client_host
    )
}

/// "3 partitions (orders.0: 0, 2; pay.0: 1)".
fn held(parts: &BTreeSet<(String, i32)>) -> String {
    let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
    for (t, p) in parts {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let list = by_topic
        .iter()
        .map(|(t, ps)| {
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}: {}", ps.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    match parts.len() {
        1 => format!("1 partition ({list})"),
        n => format!("{n} partitions ({list})"),
    }
}

/// "90", "12.5".
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, parts: &[(&str, &[i32])]) -> GroupMember {
        GroupMember {
            member_id: id.into(),
            client_id: format!("client-{id}"),
            client_host: "/127.0.0.1".into(),
            assignment: parts
                .iter()
                .map(|(t, ps)| (t.to_string(), ps.to_vec()))
                .collect(),
        }
    }

    fn group(members: Vec<GroupMember>) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            group: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members,
        }
    }

    fn proven(j: Judged) -> String {
        match j {
            Judged::Proven(p) => p,
            other => panic!("not proven: {other:?}"),
        }
    }

    fn not_yet(j: Judged) -> String {
        match j {
            Judged::NotYet(p) => p,
            other => panic!("not NotYet: {other:?}"),
        }
    }

    #[test]
    fn a_join_is_a_member_more_and_the_new_one_holding_partitions() {
        let one = group(vec![member("a", &[("t", &[0, 1, 2, 3])])]);
        // Still one member: the added instance never joined (a process that only sleeps).
        let why = not_yet(judge_join("g", Some(&one), &Ok(Some(one.clone()))));
        assert!(
            why.contains("has 1 member (it had 1 before the instance was added)"),
            "{why}"
        );
        // It joined, but the rebalance has not given it anything yet.
        let joining = group(vec![member("a", &[("t", &[0, 1, 2, 3])]), member("b", &[])]);
        let why = not_yet(judge_join("g", Some(&one), &Ok(Some(joining))));
        assert!(why.contains("new member holds no partition"), "{why}");
        // A member more, but the old one re-joined under a new id holding everything: the
        // new member is the one holding nothing.
        let swapped = group(vec![member("a2", &[]), member("c", &[("t", &[0])])]);
        let p = proven(judge_join("g", Some(&one), &Ok(Some(swapped))));
        assert!(p.contains("`c`"), "{p}");
        let two = group(vec![
            member("a", &[("t", &[0, 1])]),
            member("b", &[("t", &[2, 3])]),
        ]);
        let p = proven(judge_join("g", Some(&one), &Ok(Some(two))));
        assert_eq!(
            p,
            "the group `g` on the source went from 1 to 2 members (Stable, range): the new member `b` (client id `client-b`, host `/127.0.0.1`) holds 2 partitions (t: 2, 3)"
        );
    }

    #[test]
    fn a_group_without_members_or_not_read_is_no_join() {
        for now in [Ok(None), Ok(Some(group(vec![])))] {
            let why = not_yet(judge_join("g", None, &now));
            assert_eq!(
                why,
                "group `g` on the source has no members: the command does not use CUTOVER_GROUP_ID"
            );
        }
        let why = not_yet(judge_join("g", None, &Err("timed out".into())));
        assert_eq!(why, "group `g` on the source could not be read: timed out");
        let mut connect = group(vec![member("w", &[])]);
        connect.protocol_type = "connect".into();
        let why = not_yet(judge_join("g", None, &Ok(Some(connect))));
        assert!(why.contains("protocol type `connect`"), "{why}");
    }

    #[test]
    fn a_leave_is_a_member_fewer_with_every_partition_held_again() {
        let two = group(vec![
            member("a", &[("t", &[0, 1])]),
            member("b", &[("t", &[2, 3])]),
        ]);
        // Not gone yet.
        let why = not_yet(judge_leave("g", Some(&two), &Ok(Some(two.clone()))));
        assert!(why.contains("still has 2 members"), "{why}");
        // Gone, but its partitions are not taken over (the rebalance is not done).
        let half = group(vec![member("a", &[("t", &[0, 1])])]);
        let why = not_yet(judge_leave("g", Some(&two), &Ok(Some(half))));
        assert!(
            why.contains("2 partitions (t: 2, 3) held before are held by none of them"),
            "{why}"
        );
        let all = group(vec![member("a", &[("t", &[0, 1, 2, 3])])]);
        let p = proven(judge_leave("g", Some(&two), &Ok(Some(all))));
        assert_eq!(
            p,
            "the group `g` on the source went from 2 to 1 member (`b` (client id `client-b`, host `/127.0.0.1`) left): the 2 partitions (t: 2, 3) it held are held again by the 1 member remaining, 4 partitions (t: 0, 1, 2, 3) in all (Stable)"
        );
        // No partitions anywhere: the member count alone.
        let idle = group(vec![member("a", &[]), member("b", &[])]);
        let p = proven(judge_leave(
            "g",
            Some(&idle),
            &Ok(Some(group(vec![member("a", &[])]))),
        ));
        assert!(p.contains("the group held no partition"), "{p}");
        // The only member left a group that held partitions: nobody holds them again.
        let why = not_yet(judge_leave("g", Some(&half_of(&two)), &Ok(None)));
        assert!(why.contains("held by none of them (gone)"), "{why}");
    }

    fn half_of(g: &ConsumerGroupDescription) -> ConsumerGroupDescription {
        group(vec![g.members[0].clone()])
    }

    #[test]
    fn a_leave_from_a_group_without_members_cannot_be_proven() {
        for before in [None, Some(group(vec![]))] {
            match judge_leave("g", before.as_ref(), &Ok(None)) {
                Judged::Never(why) => assert!(
                    why.ends_with("has no members: the command does not use CUTOVER_GROUP_ID"),
                    "{why}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }
}
