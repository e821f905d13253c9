//! `cutover selftest` on real Kafka: every broken copier caught with exactly its class and
//! count, the faithful copy passing, exit 0, within about two minutes.

use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

#[test]
fn selftest_catches_every_broken_copier_exactly() {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["selftest", "--json"])
        .output()
        .expect("run cutover selftest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("selftest JSON");
    let lines = report["lines"].as_array().expect("lines");
    let expected = [
        ("faithful", None),
        ("drops", Some("lost")),
        ("duplicates", Some("duplicated")),
        ("reads-uncommitted", Some("leaked-aborted")),
        ("reorders", Some("reordered")),
        ("alters-values", Some("corrupted")),
        ("moves-partitions", Some("moved-partition")),
    ];
    assert_eq!(lines.len(), expected.len(), "{report:#}");
    for (line, (copier, class)) in lines.iter().zip(expected) {
        assert_eq!(line["copier"], copier, "{line:#}");
        assert_eq!(line["ok"], true, "{line:#}");
        let found = line["found"].as_object().expect("found counts");
        match class {
            None => {
                assert_eq!(line["status"], "pass", "{line:#}");
                assert!(found.is_empty(), "{line:#}");
            }
            Some(class) => {
                let n = line["expected_count"].as_u64().expect("expected count");
                assert!(n > 0, "the copier broke something: {line:#}");
                assert_eq!(line["expected_class"], class, "{line:#}");
                assert_eq!(line["status"], "fail", "{line:#}");
                // Exactly the one class, with exactly the copier's count.
                assert_eq!(found.len(), 1, "{line:#}");
                assert_eq!(found[class].as_u64(), Some(n), "{line:#}");
            }
        }
    }
    // The leaky copier copied every aborted record and nothing else.
    assert_eq!(
        lines[3]["expected_count"], report["source_aborted"],
        "{report:#}"
    );
    assert!(report["source_records"].as_u64().unwrap_or(0) > 1_000);
    let secs = started.elapsed().as_secs();
    println!("selftest took {secs} s");
    assert!(secs < 180, "selftest took {secs} s");

    // The table form says the same, one line per copier.
    let table = Command::new(BIN)
        .args(["selftest", "--records", "500"])
        .output()
        .expect("run cutover selftest");
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(table.status.code(), Some(0), "{text}");
    for (copier, _) in expected {
        let line = text
            .lines()
            .find(|l| l.starts_with(copier))
            .unwrap_or_else(|| panic!("no line for {copier}: {text}"));
        assert!(line.ends_with(" ok"), "{line}");
    }
    assert!(text.contains("PASS"), "{text}");
}
