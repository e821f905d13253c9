//! Child processes that die with the harness.
//!
//! Every JVM, proxy or tool the harness starts is spawned here. On Linux each child gets
//! `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when the harness dies, however it dies
//! (panic, SIGKILL, `std::process::exit`). The death signal fires when the *thread* that forked
//! the child exits, so all spawns go through one dedicated thread that lives as long as the
//! process: a child spawned from a short-lived tokio blocking thread would otherwise be killed
//! when that thread is reaped. Orderly teardown (Drop, Ctrl-C) kills children explicitly too.
//!
//! A system under test is more than one process when its command is a wrapper script that does
//! not `exec` its copier, or a program that forks helpers. [`spawn_group`] starts such a child
//! as the leader of its own process group (`setpgid(0, 0)` before exec, beside the death
//! signal), so a stop, a stall or a crash is sent to the whole group (`kill(-pgid, sig)`), and
//! its [`Family`] lists from `/proc` every process the child started: the group's members, their
//! descendants by parent pid (a process may leave the group with `setsid`), and every process
//! whose environment carries the family's mark (found even after its parent died and it was
//! reparented). The death signal covers only the direct child: orderly paths kill the family
//! ([`Family::kill_all`], [`kill_every_family`] before an exit that skips destructors).

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A command, whether the child leads its own process group, and where to answer.
type SpawnRequest = (Command, bool, mpsc::Sender<io::Result<Child>>);

/// The spawner thread's inbox, or None when the thread could not be started (then children
/// are spawned from the calling thread, and die with it rather than with the process).
fn spawner() -> &'static Option<Mutex<mpsc::Sender<SpawnRequest>>> {
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = std::thread::Builder::new()
            .name("cutover-spawner".into())
            .spawn(move || {
                // Lives until the process exits: the channel's sender is in a static.
                for (mut command, own_group, reply) in rx {
                    let _ = reply.send(spawn_here(&mut command, own_group));
                }
            });
        match started {
            Ok(_) => Some(Mutex::new(tx)),
            Err(e) => {
                tracing::warn!(error = %e, "no spawner thread; children die with their spawning thread");
                None
            }
        }
    })
}

#[cfg(target_os = "linux")]
fn spawn_here(command: &mut Command, own_group: bool) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (setpgid, prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            // Before exec, so the group exists when spawn returns: nothing the child starts
            // can be outside it unless it leaves on purpose.
            if own_group && libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    command.spawn()
}

#[cfg(not(target_os = "linux"))]
fn spawn_here(command: &mut Command, own_group: bool) -> io::Result<Child> {
    if own_group {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    command.spawn()
}

/// Spawns `command` so that the child is killed when this process dies.
pub fn spawn(command: Command) -> io::Result<Child> {
    spawn_with(command, false)
}

fn spawn_with(mut command: Command, own_group: bool) -> io::Result<Child> {
    let Some(spawner) = spawner() else {
        return spawn_here(&mut command, own_group);
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    {
        let sender = spawner
            .lock()
            .map_err(|_| io::Error::other("the spawner lock is poisoned"))?;
        sender
            .send((command, own_group, reply_tx))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    }
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread did not answer"))?
}

/// Sends `signal` to `pid` (no-op if it is gone).
pub fn signal(pid: u32, signal: i32) -> io::Result<()> {
    kill_quietly(pid as libc::pid_t, signal)
}

/// kill(2) on `target` (a pid, or a negated process group id); a target that is gone is not
/// an error.
fn kill_quietly(target: libc::pid_t, signal: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(target, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// True while a process with this pid exists (zombies included).
pub fn is_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Kills `child` with SIGKILL and reaps it.
pub fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGTERM, waits up to `grace` for the child to exit, then SIGKILLs it.
/// Returns true when it exited on its own within the grace period.
pub fn terminate(child: &mut Child, grace: Duration) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    let _ = signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_and_reap(child);
    false
}

/// A process as `/proc/PID/stat` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The parent's pid (field 4).
    pub ppid: u32,
    /// The process group (field 5).
    pub pgrp: u32,
    /// The state letter (field 3): R, S, D, T (stopped), t (traced), Z (zombie), X (dead).
    pub state: char,
    /// Start time in clock ticks after boot (field 22): with the pid, it names one process even
    /// when the pid is reused.
    pub start_ticks: u64,
}

impl ProcessInfo {
    /// This pid's entry, or None when there is none (gone, or no `/proc`).
    pub fn read(pid: u32) -> Option<ProcessInfo> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_stat(pid, &text)
    }

    /// Not a zombie and not dead: it can still run (a zombie's resources are freed; only its
    /// exit status waits for its parent).
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// Stopped by a signal (T) or by a tracer (t).
    pub fn is_stopped(&self) -> bool {
        matches!(self.state, 'T' | 't')
    }

    /// True while this same process (pid and start time) is alive.
    pub fn still_alive(&self) -> bool {
        ProcessInfo::read(self.pid)
            .is_some_and(|now| now.start_ticks == self.start_ticks && now.is_alive())
    }

    /// Its command line (`/proc/PID/cmdline`, arguments joined by spaces), or `[comm]` when it
    /// has none (a zombie, a kernel thread), or `?` when it is gone.
    pub fn command_line(&self) -> String {
        if let Ok(bytes) = std::fs::read(format!("/proc/{}/cmdline", self.pid)) {
            let args: Vec<String> = bytes
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.is_empty() {
                return args.join(" ");
            }
        }
        match std::fs::read_to_string(format!("/proc/{}/comm", self.pid)) {
            Ok(comm) => format!("[{}]", comm.trim_end()),
            Err(_) => "?".into(),
        }
    }
}

/// `/proc/PID/stat`: the command name is in parentheses and may hold spaces and parentheses,
/// so the fields are counted after the last `)`.
fn parse_stat(pid: u32, text: &str) -> Option<ProcessInfo> {
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5).
    let field = |n: usize| fields.get(n - 3).copied();
    Some(ProcessInfo {
        pid,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        start_ticks: field(22)?.parse().ok()?,
    })
}

/// Every process `/proc` shows now (zombies included), by pid.
pub fn processes() -> Vec<ProcessInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<ProcessInfo> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(ProcessInfo::read)
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// True when `pid`'s environment holds the entry `KEY=VALUE` (false when it cannot be read:
/// gone, or another user's).
fn environ_has(pid: u32, entry: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == entry))
}

/// Sends `signal` to every process of group `pgid` (no-op when the group is empty).
pub fn signal_group(pgid: u32, signal: i32) -> io::Result<()> {
    if pgid <= 1 {
        // kill(0) and kill(-1) mean "my group" and "everyone": never what a caller wants.
        return Err(io::Error::other(format!(
            "refusing to signal process group {pgid}"
        )));
    }
    kill_quietly(-(pgid as libc::pid_t), signal)
}

/// True while a live (not zombie) process is in group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if pgid <= 1 || unsafe { libc::kill(-(pgid as libc::pid_t), 0) } != 0 {
        return false;
    }
    processes().iter().any(|p| p.pgrp == pgid && p.is_alive())
}

/// Everything one supervised child started (see the module doc): its process group, the
/// descendants of the group's processes, and the processes whose environment carries its mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    pgid: u32,
    /// `KEY=VALUE`, an entry of the environment the child was started with.
    mark: Option<Vec<u8>>,
}

impl Family {
    /// The family of the group `pgid`, without a mark.
    pub fn of_group(pgid: u32) -> Family {
        Family { pgid, mark: None }
    }

    /// The same family, also counting every process whose environment holds `key=value`.
    pub fn marked(mut self, key: &str, value: &str) -> Family {
        self.mark = Some(format!("{key}={value}").into_bytes());
        self
    }

    /// The process group (the leader's pid).
    pub fn pgid(&self) -> u32 {
        self.pgid
    }

    /// The family's live processes now, by pid (never this process).
    pub fn members(&self) -> Vec<ProcessInfo> {
        self.members_in(&processes())
    }

    fn members_in(&self, all: &[ProcessInfo]) -> Vec<ProcessInfo> {
        let me = std::process::id();
        let live: Vec<&ProcessInfo> = all.iter().filter(|p| p.is_alive() && p.pid != me).collect();
        let mut found: std::collections::BTreeSet<u32> = live
            .iter()
            .filter(|p| {
                p.pgrp == self.pgid
                    || self
                        .mark
                        .as_deref()
                        .is_some_and(|mark| environ_has(p.pid, mark))
            })
            .map(|p| p.pid)
            .collect();
        // Descendants by parent pid, however deep.
        loop {
            let before = found.len();
            for p in &live {
                if found.contains(&p.ppid) {
                    found.insert(p.pid);
                }
            }
            if found.len() == before {
                break;
            }
        }
        live.into_iter()
            .filter(|p| found.contains(&p.pid))
            .cloned()
            .collect()
    }

    /// Sends `signal` to the process group (the family's processes outside it are not
    /// signalled: a proof over [`Family::members`] sees them).
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        signal_group(self.pgid, signal)
    }

    /// SIGKILLs the group and every member, again until none is alive or `wait` has passed.
    /// Returns every process it found alive, with its command line as it was then; a family
    /// found empty is forgotten by [`kill_every_family`].
    pub fn kill_all(&self, wait: Duration) -> Vec<(ProcessInfo, String)> {
        let deadline = Instant::now() + wait;
        let mut seen: Vec<(ProcessInfo, String)> = Vec::new();
        loop {
            let members = self.members();
            if members.is_empty() {
                forget(self);
                return seen;
            }
            let _ = self.signal(libc::SIGKILL);
            for p in members {
                if !seen
                    .iter()
                    .any(|(s, _)| s.pid == p.pid && s.start_ticks == p.start_ticks)
                {
                    seen.push((p.clone(), p.command_line()));
                }
                // The same process still (a pid reused since the listing is left alone).
                if p.still_alive() {
                    let _ = signal(p.pid, libc::SIGKILL);
                }
            }
            if Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Families started by [`spawn_group`] and not yet found empty by [`Family::kill_all`].
fn families() -> &'static Mutex<Vec<Family>> {
    static FAMILIES: OnceLock<Mutex<Vec<Family>>> = OnceLock::new();
    FAMILIES.get_or_init(|| Mutex::new(Vec::new()))
}

fn forget(family: &Family) {
    if let Ok(mut all) = families().lock() {
        all.retain(|f| f != family);
    }
}

/// SIGKILLs every family [`spawn_group`] started that was not yet found empty: for an exit that
/// skips destructors (a second Ctrl-C), since the death signal reaches only the direct
/// children. Returns how many processes it killed.
pub fn kill_every_family() -> usize {
    let all: Vec<Family> = match families().lock() {
        Ok(all) => all.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    all.iter()
        .map(|f| f.kill_all(Duration::from_secs(1)).len())
        .sum()
}

/// A child leading its own process group, and its family.
#[derive(Debug)]
pub struct Supervised {
    pub child: Child,
    pub family: Family,
}

/// The environment variable that marks every process of a supervised system under test
/// (`<run token>.<index>`), so a process that left its group is still found by its [`Family`]:
/// the scenario runner's instances and the Connect workers of [`crate::connect`] share it.
pub const PROCESS_MARK: &str = "CUTOVER_PROCESS_MARK";

/// Spawns `command` like [`spawn`], as the leader of a new process group, with `mark`
/// (`KEY`, `VALUE`) added to its environment when given so that processes leaving the group
/// stay in its [`Family`].
pub fn spawn_group(mut command: Command, mark: Option<(&str, &str)>) -> io::Result<Supervised> {
    if let Some((key, value)) = mark {
        command.env(key, value);
    }
    let child = spawn_with(command, true)?;
    let mut family = Family::of_group(child.id());
    if let Some((key, value)) = mark {
        family = family.marked(key, value);
    }
    if let Ok(mut all) = families().lock() {
        all.push(family.clone());
    }
    Ok(Supervised { child, family })
}

impl Supervised {
    /// The leader's pid (= the process group).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the process group.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        self.family.signal(signal)
    }

    /// kill -9 to the process group; the leader is reaped.
    pub fn kill(&mut self) {
        kill_group(&mut self.child, &self.family);
    }

    /// See [`terminate_group`].
    pub fn terminate(&mut self, grace: Duration) -> bool {
        terminate_group(&mut self.child, &self.family, grace)
    }
}

/// kill -9 to `family`'s process group; `leader` (its child) is reaped.
pub fn kill_group(leader: &mut Child, family: &Family) {
    let _ = family.signal(libc::SIGKILL);
    kill_and_reap(leader);
}

/// SIGTERM to `family`'s process group (and SIGCONT, so a stopped one handles it), then waits
/// up to `grace` for `leader` to exit and the group to empty; SIGKILL to the group after.
/// Returns true when the group ended within the grace period. Processes of the family outside
/// the group are left to [`Family::kill_all`].
pub fn terminate_group(leader: &mut Child, family: &Family, grace: Duration) -> bool {
    let pgid = family.pgid;
    let leader_done = |child: &mut Child| matches!(child.try_wait(), Ok(Some(_)));
    if leader_done(leader) && !group_alive(pgid) {
        return true;
    }
    let _ = signal_group(pgid, libc::SIGTERM);
    let _ = signal_group(pgid, libc::SIGCONT);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if leader_done(leader) && !group_alive(pgid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_group(leader, family);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_child_can_be_terminated_and_is_reaped() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut child = spawn(cmd).expect("spawn sleep");
        let pid = child.id();
        assert!(is_alive(pid));
        assert!(terminate(&mut child, Duration::from_secs(5)));
        assert!(!is_alive(pid), "reaped child must be gone");
    }

    #[test]
    fn children_spawned_from_a_short_lived_thread_survive_it() {
        let child = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            spawn(cmd).expect("spawn sleep")
        })
        .join()
        .expect("thread");
        std::thread::sleep(Duration::from_millis(200));
        let mut child = child;
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "child must outlive the thread that asked for it"
        );
        kill_and_reap(&mut child);
    }

    /// Polls `done` every 20 ms for up to `secs`.
    fn within(secs: u64, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done()
    }

    /// A wrapper that does not exec what it runs: `sh` and a `sleep` beside it.
    fn wrapper(script: &str, mark: &str) -> Supervised {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let sup = spawn_group(cmd, Some(("CUTOVER_SUPERVISOR_TEST", mark))).expect("spawn sh");
        assert!(
            within(5, || sup.family.members().len() == 2),
            "sh and its sleep: {:?}",
            sup.family.members()
        );
        sup
    }

    fn unique(name: &str) -> String {
        format!("{name}-{}-{:?}", std::process::id(), Instant::now())
    }

    #[test]
    fn a_wrapper_and_its_grandchild_are_listed_stopped_and_terminated_as_one_group() {
        let mut sup = wrapper("sleep 300 & wait", &unique("terminate"));
        let members = sup.family.members();
        let grandchild = members
            .iter()
            .find(|p| p.pid != sup.id())
            .expect("the sleep")
            .clone();
        assert_eq!(grandchild.ppid, sup.id());
        assert_eq!(
            grandchild.pgrp,
            sup.id(),
            "the sleep is in the wrapper's group"
        );
        assert_eq!(grandchild.command_line(), "sleep 300");

        sup.signal(libc::SIGSTOP).expect("SIGSTOP");
        assert!(
            within(2, || sup
                .family
                .members()
                .iter()
                .all(ProcessInfo::is_stopped)),
            "both stopped: {:?}",
            sup.family.members()
        );
        sup.signal(libc::SIGCONT).expect("SIGCONT");
        assert!(within(2, || !sup
            .family
            .members()
            .iter()
            .any(ProcessInfo::is_stopped)));

        assert!(sup.terminate(Duration::from_secs(5)), "SIGTERM ends both");
        assert!(!grandchild.still_alive(), "the grandchild got SIGTERM too");
        assert!(sup.family.members().is_empty());
    }

    #[test]
    fn kill_reaches_the_grandchild_of_a_wrapper() {
        let mut sup = wrapper("trap '' TERM; sleep 300 & wait", &unique("kill"));
        let grandchild = sup
            .family
            .members()
            .into_iter()
            .find(|p| p.pid != sup.id())
            .expect("the sleep");
        sup.kill();
        assert!(
            within(2, || !grandchild.still_alive()),
            "kill -9 to the group reaches the sleep"
        );
        assert!(sup.family.members().is_empty());
    }

    #[test]
    fn a_grandchild_that_ignores_sigterm_is_killed_after_the_grace() {
        // `trap '' TERM` is inherited: the sleep ignores SIGTERM as well.
        let mut sup = wrapper("trap '' TERM; sleep 300 & wait", &unique("grace"));
        let started = Instant::now();
        assert!(
            !sup.terminate(Duration::from_millis(500)),
            "SIGTERM is ignored"
        );
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(within(2, || sup.family.members().is_empty()));
    }

    #[test]
    fn a_process_that_leaves_the_group_is_found_by_its_mark_and_killed() {
        let mark = unique("setsid");
        let mut sup = wrapper("setsid sleep 301 & wait", &mark);
        assert!(
            within(2, || sup
                .family
                .members()
                .iter()
                .any(|p| p.pgrp != sup.id())),
            "setsid left the group: {:?}",
            sup.family.members()
        );
        let pgid = sup.id();
        sup.kill();
        // The wrapper is gone: the escapee is an orphan in a group of its own.
        let left = sup.family.members();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_ne!(left[0].pgrp, pgid);
        assert!(
            Family::of_group(pgid).members().is_empty(),
            "neither group nor parent finds it any more; only the mark does"
        );
        let killed = sup.family.kill_all(Duration::from_secs(2));
        assert_eq!(killed.len(), 1, "{killed:?}");
        assert_eq!(killed[0].1, "sleep 301");
        assert!(!left[0].still_alive());
        assert!(sup.family.members().is_empty());
    }

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = "4242 (a) b (c) S 17 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 \
                    1000 100 18446744073709551615";
        let p = parse_stat(4242, line).expect("parsed");
        assert_eq!(
            p,
            ProcessInfo {
                pid: 4242,
                ppid: 17,
                pgrp: 4240,
                state: 'S',
                start_ticks: 98765
            }
        );
        assert!(p.is_alive() && !p.is_stopped());
        let me = ProcessInfo::read(std::process::id()).expect("this process");
        assert!(me.still_alive());
        assert!(ProcessInfo::read(u32::MAX - 1).is_none());
    }
}
