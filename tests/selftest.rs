//! `cutover selftest` on real Kafka: every broken copier caught with exactly its classes and
//! counts (phantoms, offsets, compaction, schema ids, whole-topic mode, spilled runs, far
//! moves and partitions added after a copier started included), upstream re-sends counted
//! apart, the faithful copies passing, exit 0; a wrapper-script copier crashed as a whole and a
//! process that escapes the system's group failing its run (about three minutes).

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
    // copier → the classes it must be caught with (empty: it must pass), and whether its
    // source has upstream re-sends (counted apart, never as replication duplicates).
    let expected: [(&str, &[&str], bool); 22] = [
        ("faithful", &[], false),
        ("drops", &["lost"], false),
        ("duplicates", &["duplicated"], false),
        ("reads-uncommitted", &["leaked-aborted"], false),
        ("reorders", &["reordered"], false),
        ("alters-values", &["corrupted"], false),
        ("moves-partitions", &["moved-partition"], false),
        // Records on the partitions added after the copier started: the workload spreads
        // records over the grown topic, so there are some (`ok` also says every count and
        // example is on an added partition).
        ("blind-to-new-partitions", &["lost"], false),
        ("phantoms", &["phantom"], false),
        ("far-reorders", &["reordered"], false),
        (
            "spilled",
            &["lost", "duplicated", "corrupted", "reordered"],
            false,
        ),
        ("repartitions", &["lost", "duplicated", "phantom"], false),
        (
            "diverges-compacted",
            &["corrupted", "compaction-divergent"],
            false,
        ),
        // Older values of a key lost where no cleaner ran: judged, not excused.
        ("drops-compacted-history", &["lost"], false),
        ("faithful-resends", &[], true),
        ("duplicates-resends", &["duplicated"], true),
        ("shifts-offsets", &["phantom", "offset-mismatch"], true),
        ("schemas-faithful", &[], false),
        ("schemas-unresolved", &["schema-unresolved"], false),
        ("schemas-mismatch", &["schema-mismatch"], false),
        // The system under test as processes (`cutover run` of a wrapper-script copier).
        ("wrapper-shell-crash", &[], false),
        ("escapes-process-group", &["process-survived"], false),
    ];
    let mut aborted_copied = 0;
    for (copier, classes, resends) in expected {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(copier))
            .unwrap_or_else(|| panic!("no line for {copier}:\n{stdout}"));
        // Columns are apart by at least two spaces: copier, expected, found, result.
        let columns: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(columns.len(), 4, "{line}");
        let (expected_text, found_text) = (columns[1], columns[2]);
        assert_eq!(
            found_text, expected_text,
            "exact classes and counts: {line}"
        );
        assert_eq!(columns[3], "ok", "{line}");
        let (classes_text, upstream) = match expected_text.split_once(" + upstream-duplicates ") {
            Some((c, n)) => (c, n.parse::<u64>().expect("upstream duplicates")),
            None => (expected_text, 0),
        };
        assert_eq!(upstream > 0, resends, "upstream duplicates: {line}");
        if classes.is_empty() {
            assert_eq!(classes_text, "pass", "{line}");
            continue;
        }
        let found: Vec<(&str, u64)> = classes_text
            .split(", ")
            .map(|c| {
                let (class, n) = c.rsplit_once(' ').expect("class count");
                (class, n.parse().expect("count"))
            })
            .collect();
        let mut names: Vec<&str> = found.iter().map(|(c, _)| *c).collect();
        let mut want = classes.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        assert_eq!(names, want, "exactly these classes: {line}");
        assert!(
            found.iter().all(|(_, n)| *n > 0),
            "the copier broke something of each class: {line}"
        );
        if copier == "reads-uncommitted" {
            aborted_copied = found[0].1;
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
