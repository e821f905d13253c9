//! `cutover selftest` on real Kafka: every broken copier caught with exactly its class and
//! count, the faithful copy passing, exit 0, within about two minutes.

use reports::CutoverExitCode;

use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

#[test]
fn selftest_catches_every_broken_copier_exactly() {
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("selftest")
        .output()
        .expect("run cutover selftest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(CutoverExitCode::OK),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let expected = [
        ("faithful", None),
        ("drops", Some("lost")),
        ("duplicates", Some("duplicated")),
        ("reads-uncommitted", Some("leaked-aborted")),
        ("reorders", Some("reordered")),
        ("alters-values", Some("corrupted")),
        ("moves-partitions", Some("moved-partition")),
        // Records on the partitions added after the copier started: the workload spreads
        // records over the grown topic, so there are some.
        ("blind-to-new-partitions", Some("lost")),
    ];
    let mut aborted_copied = 0;
    for (copier, class) in expected {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(copier))
            .unwrap_or_else(|| panic!("no line for {copier}:\n{stdout}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        match class {
            // copier, expected, found, result
            None => assert_eq!(words, [copier, "pass", "pass", "ok"], "{line}"),
            // copier, class count (expected), class count (found: exactly one class), result
            Some(class) => {
                assert_eq!(words.len(), 6, "exactly one class found: {line}");
                assert_eq!((words[1], words[3]), (class, class), "{line}");
                let n: u64 = words[2].parse().expect("expected count");
                assert!(n > 0, "the copier broke something: {line}");
                assert_eq!(words[4], words[2], "exact count: {line}");
                assert_eq!(words[5], "ok", "{line}");
                if copier == "reads-uncommitted" {
                    aborted_copied = n;
                }
            }
        }
    }
    // The leaky copier copied exactly the aborted records the checker read in the source.
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("source: "))
        .unwrap_or_else(|| panic!("no source line:\n{stdout}"));
    assert!(
        summary.contains(&format!(" and {aborted_copied} aborted records")),
        "{summary}"
    );
    assert!(
        stdout.contains("PASS: every broken copier was caught exactly"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("PartitionEOF"),
        "end-of-partition is not an error to print:\n{stderr}"
    );
    let secs = started.elapsed().as_secs();
    println!("{stdout}selftest took {secs} s");
    assert!(secs < 180, "selftest took {secs} s");
}

#[test]
fn selftest_that_cannot_run_exits_2_with_the_cause() {
    let out = Command::new(BIN)
        .args(["selftest", "--kafka-version", "2.8.0"])
        .output()
        .expect("run cutover selftest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR), "{stderr}");
    assert!(stderr.contains("could not run"), "{stderr}");
    assert!(stderr.contains("2.8.0"), "{stderr}");
}
