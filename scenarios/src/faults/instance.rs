//! The verbs on the instances of the system under test: add-instance, remove-instance
//! (SIGTERM), stall-instance (SIGSTOP, SIGCONT after the duration), crash-instance (kill -9,
//! restarted after the duration). Signals go to the instance's process group; each is proven
//! over every process of the instance from `/proc` (its group, their descendants, its mark),
//! and an added or removed instance also by the partitions it takes or hands over when the
//! system reports them (`SystemUnderTest::assigned_partitions`: the built-in replicator's
//! `assigned_partitions` gauge, a Connect worker's tasks in the REST status). A system whose
//! instances form one group (`SystemUnderTest::group_state`: a Connect cluster's generations
//! from its workers' logs) proves a join and a crash by the instance's membership of a later
//! generation, and says which instance led before and after. A system whose instances consume
//! the source in a consumer group it names (`SystemUnderTest::source_group`: a `command`'s
//! `CUTOVER_GROUP_ID`) proves a join and a leave from that group's members and assignments on
//! the source (`consumer_group`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::supervisor::{Family, ProcessInfo};

use super::consumer_group::Watch;
use super::verbs::{DurationUse, FaultVerb, VerbCheck};
use super::FaultTargets;
use crate::error::ScenarioError;
use crate::system::{GroupState, Instances, SystemUnderTest};

/// `add-instance`: one more instance of the system under test.
pub struct AddInstance;

#[async_trait]
impl FaultVerb for AddInstance {
    fn name(&self) -> &'static str {
        "add-instance"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    fn adds_instances(&self) -> u32 {
        1
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let before = group(on).await;
        let source_group = on.system.source_group().map(|g| Watch::new(on, g));
        let members_before = match &source_group {
            Some(w) => Some(w.settled(running_count(on).await).await),
            None => None,
        };
        let idx = instances(on, |i| i.add()).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let family = instances(on, move |i| Ok(i.family(idx))).await?;
        let members = family.as_ref().map(Family::members).unwrap_or_default();
        let leader = family.map(|f| f.pgid());
        if !members.iter().any(|p| Some(p.pid) == leader) {
            return Err(format!("instance {idx} was started but is not running"));
        }
        let running = format!("instance {idx} running: {}", counted(&members));
        let (unit, source) = on.system.assigned_unit();
        // A system whose instances form a group (a Connect cluster) must show the new
        // instance in a later generation of it: joining is the rebalance, whatever it moved.
        if let Some(before) = before {
            let joined = joined_group(on, idx, before.generation).await?;
            let port = instances(on, move |i| Ok(i.metrics_port(idx))).await?;
            let held = match port {
                Some(p) => assigned(on, p).await,
                None => None,
            };
            let holds = match held {
                Some(n) => format!("it holds {n} {unit} ({source})"),
                None => format!("what it holds was not read ({source} did not answer for it)"),
            };
            return Ok(format!(
                "{running}; it joined the group: generation {} → {} ({}); {holds}",
                before.generation,
                joined.generation,
                led(&joined),
            ));
        }
        // A system whose instances consume the source in a group it names: the group's
        // coordinator must show one member more, the new one holding partitions.
        if let (Some(watch), Some(before)) = (source_group, members_before) {
            let joined = watch
                .joined(before)
                .await
                .map_err(|e| format!("{running}, but {e}"))?;
            return Ok(format!("{running}; {joined}"));
        }
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
                    "{running}; it took {} {unit} ({source})",
                    took.unwrap_or(0.0)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{running}, but it took no {unit} within {} s ({source}: {})",
                    INSTANCE_MOVE_BOUND.as_secs(),
                    took.map_or("unanswered".to_string(), |n| n.to_string())
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// `remove-instance`: the newest (or the given) instance stops gracefully (SIGTERM).
pub struct RemoveInstance {
    /// The instance (counting from 0); the newest when absent.
    pub instance: Option<u32>,
}

#[async_trait]
impl FaultVerb for RemoveInstance {
    fn name(&self) -> &'static str {
        "remove-instance"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let which = self.instance;
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
        let (unit, source) = on.system.assigned_unit();
        let group_before = group(on).await;
        let source_group = on.system.source_group().map(|g| Watch::new(on, g));
        let members_before = match &source_group {
            Some(w) => Some(w.settled(running_count(on).await).await),
            None => None,
        };
        // What it owns: copying, or assigned and not adopted yet (a rebalance seconds before
        // the removal hands it slots it has not started).
        let held = match port {
            Some(p) => owned(on, p).await,
            None => None,
        };
        // The others that answer now (a stalled one does not): what they own is the baseline.
        let mut before_by_port = Vec::new();
        for p in &ports {
            if let Some(n) = owned(on, *p).await {
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
        // A group it names on the source: one member fewer, its partitions held again.
        if let (Some(watch), Some(before)) = (source_group, members_before) {
            let left = watch
                .left(before)
                .await
                .map_err(|e| format!("{gone}, but {e}"))?;
            return Ok(format!("{gone}; {left}"));
        }
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
            // A group's members all take part in a rebalance: one without it is the effect,
            // seen from the group's own generations.
            let Some(b) = group_before else {
                return Err(format!(
                    "{gone}, but it held no {unit}: removing it moved nothing"
                ));
            };
            let after = left_group(on, idx, b.generation)
                .await
                .map_err(|e| format!("{gone}; it held no {unit} ({source}) and {e}"))?;
            return Ok(format!(
                "{gone}; it held no {unit} ({source}); the group rebalanced without it: generation {} ({}) → {} ({})",
                b.generation,
                led(&b),
                after.generation,
                led(&after)
            ));
        }
        // Its partitions moved: the instances that answered before (and any started
        // since) copy what they owned plus what it owned (partitions merely assigned to them
        // and not adopted do not count).
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
                let mut proof = format!(
                    "{gone}; its {held} {unit} moved to the other instances (they owned {baseline}, now copy {now}; {source})"
                );
                if let (Some(b), Some(after)) = (&group_before, group(on).await) {
                    proof.push_str(&format!(
                        "; the group went from generation {} ({}) to {} ({})",
                        b.generation,
                        led(b),
                        after.generation,
                        led(&after)
                    ));
                }
                return Ok(proof);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{gone}, but its {held} {unit} did not move within {} s (the others copy {now}, owned {baseline} before, {source})",
                    INSTANCE_MOVE_BOUND.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// `stall-instance`: SIGSTOP for the duration, then SIGCONT.
pub struct StallInstance {
    /// Counting from 0.
    pub instance: u32,
}

#[async_trait]
impl FaultVerb for StallInstance {
    fn name(&self) -> &'static str {
        "stall-instance"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        instance_exists(self.instance, check)
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let idx = self.instance;
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
}

/// `crash-instance`: kill -9, restarted after the duration (at once when absent).
pub struct CrashInstance {
    /// Counting from 0.
    pub instance: u32,
}

#[async_trait]
impl FaultVerb for CrashInstance {
    fn name(&self) -> &'static str {
        "crash-instance"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Optional
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        instance_exists(self.instance, check)
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let idx = self.instance;
        let group_before = group(on).await;
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
        let Some(b) = group_before else {
            return Ok(format!(
                "{died} (kill -9 to its process group), then restarted"
            ));
        };
        // The group's own account: the restarted instance is in a later generation. A
        // crashed leader's work is reassigned at once by the next leader; a crashed
        // follower's waits for the rebalance delay (Connect's
        // `scheduled.rebalance.max.delay.ms`, KIP-415) unless it is back first.
        let role = match b.leader {
            Some(l) if l == idx => "the group's leader",
            Some(_) => "a follower",
            None => "leader unknown",
        };
        let joined = joined_group(on, idx, b.generation).await.map_err(|e| {
            format!("{died} (kill -9 to its process group, {role}), restarted, but {e}")
        })?;
        Ok(format!(
            "{died} (kill -9 to its process group; it was {role}: {}), then restarted; the group went from generation {} to {} ({})",
            led(&b),
            b.generation,
            joined.generation,
            led(&joined)
        ))
    }
}

/// The check of a verb naming an instance: one the run can have.
fn instance_exists(instance: u32, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
    if instance >= check.max_instances {
        return Err((
            "instance".into(),
            "no such instance (instances count from 0)".into(),
        ));
    }
    Ok(())
}

/// How long an instance that joined may take to be given partitions, and a removed one's
/// partitions to be taken by the others (a rebalance, with its session timeouts).
const INSTANCE_MOVE_BOUND: Duration = Duration::from_secs(90);

/// The partitions the instance behind `port` owns by the system's own account, copying or
/// waiting to be adopted (the built-in replicator's `assigned_partitions` plus
/// `waiting_partitions` gauges), None when its metrics do not answer.
async fn owned(on: &Arc<FaultTargets>, port: u16) -> Option<f64> {
    ask(on, move |s| s.owned_partitions(port)).await
}

/// The partitions the instance behind `port` copies by the system's own account (the built-in
/// replicator's `assigned_partitions` gauge), None when its metrics do not answer.
async fn assigned(on: &Arc<FaultTargets>, port: u16) -> Option<f64> {
    ask(on, move |s| s.assigned_partitions(port)).await
}

/// One blocking question to the system under test, off the async threads.
async fn ask(
    on: &Arc<FaultTargets>,
    question: impl FnOnce(&dyn SystemUnderTest) -> Option<f64> + Send + 'static,
) -> Option<f64> {
    let system = on.system.clone();
    tokio::task::spawn_blocking(move || question(system.as_ref()))
        .await
        .ok()
        .flatten()
}

/// How many instances run now.
async fn running_count(on: &Arc<FaultTargets>) -> usize {
    instances(on, |i| Ok(i.running.len())).await.unwrap_or(0)
}

/// The group of the system's instances as the system tells it (None: it tells none).
async fn group(on: &Arc<FaultTargets>) -> Option<GroupState> {
    let system = on.system.clone();
    instances(on, move |i| Ok(system.group_state(i)))
        .await
        .ok()
        .flatten()
}

/// Waits until instance `idx` joined a generation above `above`; Ok is the group with
/// `generation` set to the one it joined (its leader is the latest generation's). Err says
/// what the group looked like at the bound.
async fn joined_group(on: &Arc<FaultTargets>, idx: u32, above: u32) -> Result<GroupState, String> {
    let deadline = Instant::now() + INSTANCE_MOVE_BOUND;
    loop {
        let now = group(on).await;
        if let Some(g) = &now {
            // Any generation it joined counts, even if it is already gone again (a removal
            // scheduled right after its join).
            if let Some(joined) = g.joined.get(&idx).filter(|j| **j > above) {
                let mut g = g.clone();
                g.generation = *joined;
                return Ok(g);
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "instance {idx} was not seen in a generation above {above} within {} s (latest: {})",
                INSTANCE_MOVE_BOUND.as_secs(),
                now.map_or("none".to_string(), |g| format!(
                    "generation {} of instances {:?}",
                    g.generation, g.members
                ))
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the group's latest generation is above `above` and instance `idx` is not in
/// it; Err says what the group looked like at the bound.
async fn left_group(on: &Arc<FaultTargets>, idx: u32, above: u32) -> Result<GroupState, String> {
    let deadline = Instant::now() + INSTANCE_MOVE_BOUND;
    loop {
        let now = group(on).await;
        if let Some(g) = now
            .as_ref()
            .filter(|g| g.generation > above && !g.members.contains(&idx))
        {
            return Ok(g.clone());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no generation above {above} without it was seen within {} s (latest: {})",
                INSTANCE_MOVE_BOUND.as_secs(),
                now.map_or("none".to_string(), |g| format!(
                    "generation {} of instances {:?}",
                    g.generation, g.members
                ))
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// "instance 2 led", "leader not an instance".
fn led(g: &GroupState) -> String {
    match g.leader {
        Some(l) => format!("instance {l} led"),
        None => "leader not one of the instances".into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
