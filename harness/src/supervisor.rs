//! Child processes that die with the harness.
//!
//! Every JVM, proxy or tool the harness starts is spawned here. On Linux each child gets
//! `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when the harness dies, however it dies
//! (panic, SIGKILL, `std::process::exit`). The death signal fires when the *thread* that forked
//! the child exits, so all spawns go through one dedicated thread that lives as long as the
//! process: a child spawned from a short-lived tokio blocking thread would otherwise be killed
//! when that thread is reaped. Orderly teardown (Drop, Ctrl-C) kills children explicitly too.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

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
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_here(&mut command));
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
fn spawn_here(command: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
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
fn spawn_here(command: &mut Command) -> io::Result<Child> {
    command.spawn()
}

/// Spawns `command` so that the child is killed when this process dies.
pub fn spawn(mut command: Command) -> io::Result<Child> {
    let Some(spawner) = spawner() else {
        return spawn_here(&mut command);
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    {
        let sender = spawner
            .lock()
            .map_err(|_| io::Error::other("the spawner lock is poisoned"))?;
        sender
            .send((command, reply_tx))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    }
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread did not answer"))?
}

/// Sends `signal` to `pid` (no-op if it is gone).
pub fn signal(pid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
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
}
