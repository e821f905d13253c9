//! The `cutover` binary end to end: cluster up with Ctrl-C / SIGTERM / SIGKILL, doctor,
//! fetch-kafka with a damaged cache, and bad input (exit code 2 with a clear message).

use reports::CutoverExitCode;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// Kills the child if the test fails before it is waited for.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Up {
    guard: Guard,
    broker_pids: Vec<u32>,
    dir: PathBuf,
}

fn alive(pid: u32) -> bool {
    // A reaped or never-existing pid has no /proc entry; a zombie's state is Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

fn wait_dead(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

/// Starts `cutover cluster up ARGS` and reads its output until it says it is ready.
fn cluster_up(args: &[&str]) -> Up {
    let child = Command::new(BIN)
        .args(["cluster", "up"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cutover");
    let mut guard = Guard(Some(child));
    let stdout = guard.0.as_mut().unwrap().stdout.take().unwrap();
    let mut broker_pids = Vec::new();
    let mut dir = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout");
        if let Some(pid) = line.split("pid=").nth(1) {
            broker_pids.push(pid.split_whitespace().next().unwrap().parse().unwrap());
        }
        if let Some(d) = line.trim().strip_prefix("dir ") {
            dir = Some(PathBuf::from(d.split_whitespace().next().unwrap()));
        }
        if line.starts_with("press Ctrl-C") {
            break;
        }
    }
    assert!(!broker_pids.is_empty(), "cutover printed broker pids");
    Up {
        guard,
        broker_pids,
        dir: dir.expect("cutover printed its dir"),
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2).
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

fn stop_with(sig: i32) {
    let mut up = cluster_up(&[]);
    for pid in &up.broker_pids {
        assert!(alive(*pid));
    }
    assert!(up.dir.exists());
    let child = up.guard.0.as_mut().unwrap();
    signal(child.id(), sig);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "cutover ignored signal {sig} for 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    up.guard.0 = None;
    assert_eq!(
        status.code(),
        Some(CutoverExitCode::OK),
        "clean exit after signal {sig}"
    );
    for pid in &up.broker_pids {
        assert!(
            wait_dead(*pid, Duration::from_secs(5)),
            "broker {pid} outlived cutover"
        );
    }
    assert!(
        !up.dir.exists(),
        "temp dir {} left behind",
        up.dir.display()
    );
}

#[test]
fn ctrl_c_stops_the_cluster_and_removes_its_dir() {
    stop_with(libc::SIGINT);
}

#[test]
fn sigterm_stops_the_cluster_and_removes_its_dir() {
    stop_with(libc::SIGTERM);
}

#[test]
fn sigkill_of_cutover_takes_its_brokers_down_and_the_next_run_sweeps_the_dir() {
    let mut up = cluster_up(&["--brokers", "3"]);
    assert_eq!(up.broker_pids.len(), 3);
    let child = up.guard.0.as_mut().unwrap();
    signal(child.id(), libc::SIGKILL);
    let _ = child.wait();
    up.guard.0 = None;
    for pid in &up.broker_pids {
        assert!(
            wait_dead(*pid, Duration::from_secs(5)),
            "broker {pid} outlived a SIGKILLed cutover"
        );
    }
    assert!(
        up.dir.exists(),
        "a SIGKILLed process cannot clean up itself"
    );
    let out = Command::new(BIN)
        .args(["cluster", "up", "--exit-when-ready"])
        .output()
        .expect("run cutover");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!up.dir.exists(), "the next run swept {}", up.dir.display());
}

#[test]
fn kept_dirs_survive_teardown() {
    let out = Command::new(BIN)
        .args([
            "cluster",
            "up",
            "--exit-when-ready",
            "--keep",
            "--name",
            "kept",
        ])
        .output()
        .expect("run cutover");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("dir "))
        .map(|d| PathBuf::from(d.split_whitespace().next().unwrap()))
        .expect("dir printed");
    assert!(
        dir.join("node-1/logs/server.log").exists(),
        "logs kept in {}",
        dir.display()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run cutover");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_port_in_use_is_exit_2_naming_the_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, err) = run(
        &["cluster", "up", "--port", &port, "--exit-when-ready"],
        &[],
    );
    assert_eq!(code, Some(CutoverExitCode::ERROR), "{err}");
    assert!(
        err.contains(&format!("port {port}")) && err.contains("already in use"),
        "{err}"
    );
}

#[test]
fn no_java_is_exit_2_saying_how_to_fix_it() {
    let (code, _, err) = run(
        &["cluster", "up", "--exit-when-ready"],
        &[("CUTOVER_JAVA", "/nonexistent/bin/java")],
    );
    assert_eq!(code, Some(CutoverExitCode::ERROR), "{err}");
    assert!(
        err.contains("no Java found") && err.contains("JAVA_HOME"),
        "{err}"
    );
}

#[test]
fn a_pre_4_kafka_version_is_rejected_before_anything_runs() {
    let (code, _, err) = run(&["cluster", "up", "--kafka-version", "3.9.0"], &[]);
    assert_eq!(code, Some(CutoverExitCode::ERROR), "{err}");
    assert!(err.contains("3.9.0") && err.contains("4.x"), "{err}");
}

#[test]
fn doctor_passes_on_this_machine_and_lists_its_checks() {
    let (code, out, err) = run(&["doctor"], &[]);
    assert_eq!(code, Some(CutoverExitCode::OK), "{out}{err}");
    for name in [
        "java",
        "jar cache",
        "maven",
        "disk (cache)",
        "ports",
        "docker engine",
    ] {
        assert!(out.contains(name), "doctor lists {name}: {out}");
    }
    let (code, _, err) = run(&["doctor"], &[("CUTOVER_JAVA", "/nonexistent/java")]);
    assert_eq!(
        code,
        Some(CutoverExitCode::FAILED),
        "doctor fails without Java: {err}"
    );
}

#[test]
fn a_damaged_jar_cache_is_detected_and_fetched_again() {
    let cache = tempfile::tempdir().unwrap();
    let env = [("CUTOVER_CACHE", cache.path().to_str().unwrap())];
    let (code, out, err) = run(&["fetch-kafka"], &env);
    assert_eq!(code, Some(CutoverExitCode::OK), "{out}{err}");
    let version_dir = std::fs::read_dir(cache.path().join("kafka"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap();
    // A half-written jar, as a killed copy would leave it.
    let jar = std::fs::read_dir(version_dir.join("libs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("kafka-clients"))
        .unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&jar).unwrap();
    file.set_len(1000).unwrap();
    drop(file);

    let (_, out, _) = run(&["doctor"], &env);
    assert!(
        out.contains("damaged") && out.contains("kafka-clients"),
        "{out}"
    );
    let (code, out, err) = run(&["fetch-kafka", "--verify"], &env);
    assert_eq!(code, Some(CutoverExitCode::OK), "{out}{err}");
    assert!(
        err.contains("damaged") && err.contains("fetching again"),
        "{err}"
    );
    assert!(out.contains("verified"), "{out}");
    assert!(
        std::fs::metadata(&jar).unwrap().len() > 1000,
        "jar restored"
    );
}

#[test]
fn fetch_kafka_fills_the_streams_entry_and_compiles_the_reference_application() {
    // The default cache: the Streams tests fill the same entry (under its lock).
    let (code, out, err) = run(&["fetch-kafka", "--kind", "broker,streams"], &[]);
    assert_eq!(code, Some(CutoverExitCode::OK), "{out}{err}");
    let streams = harness::KafkaDist::dir_for_kind(
        harness::DistKind::Streams,
        &harness::KafkaVersion::default(),
    );
    assert!(
        out.contains(&format!(
            "Kafka Streams {} cached at {}",
            harness::DEFAULT_KAFKA_VERSION,
            streams.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("Kafka 4.") && out.contains("/kafka/"),
        "the brokers' entry too: {out}"
    );
    let classes = out
        .lines()
        .find_map(|l| l.strip_prefix("the reference Streams application is "))
        .and_then(|l| l.split(" at ").nth(1))
        .unwrap_or_else(|| panic!("no compiled application in {out}"));
    assert!(
        std::path::Path::new(classes)
            .join("dev/cutover/apps/CutoverCounter.class")
            .is_file(),
        "{out}"
    );
}

#[test]
fn produce_rejects_a_bad_spec_with_file_line_and_field_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("w.toml");
    std::fs::write(&spec, "records = 10\n[topics]\npartitions = 0\n").unwrap();
    // Nothing listens on port 1: the spec must be rejected before any connection attempt.
    let (code, _, err) = run(
        &[
            "produce",
            "--bootstrap",
            "127.0.0.1:1",
            "--spec",
            spec.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(CutoverExitCode::ERROR), "{err}");
    assert!(
        err.contains("w.toml:3") && err.contains("topics.partitions"),
        "{err}"
    );
}
