//! `cutover registry up` and `cutover verify-schemas` end to end, against real Apicurio
//! Registry servers (needs a Java 21+; skipped, saying why, when there is none).

use reports::CutoverExitCode;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use registry::{HttpRegistry, Schema, SchemaRegistry, SchemaType};

/// Interrupts `cutover registry up` if the test fails before it does (the registries die
/// with it).
struct Interrupt(u32);

impl Drop for Interrupt {
    fn drop(&mut self) {
        let _ = harness::supervisor::signal(self.0, libc::SIGINT);
    }
}

fn cutover() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
}

#[test]
fn registry_up_serves_until_interrupted_and_verify_schemas_exits_0_1_2() {
    if let Err(e) = harness::java::JavaRuntime::locate_at_least(21) {
        eprintln!("SKIPPED: no Java 21+ for Apicurio Registry: {e}");
        return;
    }
    let mut up = cutover()
        .args(["registry", "up", "--count", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cutover registry up");
    let _guard = Interrupt(up.id());
    let stdout = up.stdout.take().unwrap();
    let mut urls = Vec::new();
    let started = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        eprintln!("{line}");
        if line.starts_with("Ctrl-C") {
            break;
        }
        urls.push(line.split_whitespace().nth(1).unwrap().to_string());
        assert!(started.elapsed() < Duration::from_secs(300));
    }
    assert_eq!(urls.len(), 2, "one URL per registry");
    let (src, tgt) = (
        HttpRegistry::new(&urls[0]).unwrap(),
        HttpRegistry::new(&urls[1]).unwrap(),
    );
    let v1 = Schema::new(
        SchemaType::Json,
        r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}"#,
    );
    let v2 = Schema::new(
        SchemaType::Json,
        r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"a":{"type":"string"}}}"#,
    );
    src.register("events-value", &v1).unwrap();
    src.register("events-value", &v2).unwrap();
    // Only version 1 copied yet: one version missing → exit 1, counted in the JSON.
    tgt.register("events-value", &v1).unwrap();
    let run = |target: &str| {
        cutover()
            .args(["verify-schemas", "--json", "--source-registry"])
            .arg(format!("a={}", urls[0]))
            .arg("--target-registry")
            .arg(target)
            .output()
            .unwrap()
    };
    let out = run(&urls[1]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::FAILED),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["counts"]["missing"], 1, "{json}");
    assert_eq!(json["matched"], 1);
    tgt.register("events-value", &v2).unwrap();
    let out = run(&urls[1]);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run("http://127.0.0.1:1/apis/ccompat/v7");
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::ERROR),
        "an unreachable registry is an error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));

    // Ctrl-C: the registries go away with the command.
    harness::supervisor::signal(up.id(), libc::SIGINT).unwrap();
    let status = up.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        src.subjects().is_err() && tgt.subjects().is_err(),
        "both registries stopped"
    );
}
