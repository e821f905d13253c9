//! `[expect]` is exact: the classes a run shows, anomaly and run-level alike, must be exactly
//! the expected ones (with optional bounds on their counts), and fault verbs refuse keys they
//! do not use. Each case here is a copier that would pass a loose expectation.

use reports::{RunClass, RunReport};
use scenarios::Scenario;
use verify::verdict::{AnomalyClass, Promises, Status, Verdict};

const BASE: &str = r#"
[scenario]
name = "t"

[run]
duration_secs = 10

[workload]
[workload.topics]
count = 1
pattern = "t{n}"
[[workload.producer]]
rate = { records_per_sec = 100 }

[system]
kind = "builtin"
replication = { mode = "at-least-once" }
"#;

fn scenario(expect: &str) -> Scenario {
    Scenario::from_toml(&format!("{BASE}\n[expect]\n{expect}\n"), "t.toml")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn error_of(text: &str) -> String {
    match Scenario::from_toml(text, "bad.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The report of a run whose checker counted these anomalies (failing ones in `failures`).
fn report_with(counts: &[(AnomalyClass, u64)]) -> RunReport {
    let mut v = Verdict::unknown(Promises::default());
    for (c, n) in counts {
        v.counts.add(*c, *n);
    }
    v.status = if counts.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    RunReport::from_verdict("t", v)
}

#[test]
fn a_copier_that_loses_as_well_as_duplicates_does_not_meet_an_expected_duplicated() {
    // Before: "among the failing ones" — met, exit 0, although records were lost.
    let expect = scenario("outcome = \"fail\"\nclasses = [\"duplicated\"]");
    let both = report_with(&[(AnomalyClass::Duplicated, 5), (AnomalyClass::Lost, 3)]);
    let judged = expect.expect.as_ref().unwrap().judge(&both);
    assert!(!judged.met, "met: {judged:?}");
    assert!(judged.why.contains("lost (3)"), "{}", judged.why);
    // Duplicates alone meet it.
    let dup = report_with(&[(AnomalyClass::Duplicated, 5)]);
    let judged = expect.expect.as_ref().unwrap().judge(&dup);
    assert!(judged.met, "{}", judged.why);
}

#[test]
fn a_run_level_failure_beside_the_expected_class_leaves_the_expectation_unmet() {
    let expect = scenario("outcome = \"fail\"\nclasses = [\"duplicated\"]");
    let mut r = report_with(&[(AnomalyClass::Duplicated, 5)]);
    r.fail(
        RunClass::NotCaughtUp,
        2,
        "the system did not catch up within the drain timeout (60 s)",
    );
    let judged = expect.expect.as_ref().unwrap().judge(&r);
    assert!(!judged.met);
    assert!(judged.why.contains("not-caught-up (2)"), "{}", judged.why);
    // Naming it makes the expectation exact again.
    let both = scenario("outcome = \"fail\"\nclasses = [\"duplicated\", \"not-caught-up\"]");
    assert!(both.expect.as_ref().unwrap().judge(&r).met);
    // An expected class the run does not show is unmet too.
    let more = scenario("outcome = \"fail\"\nclasses = [\"duplicated\", \"lost\"]");
    let judged = more
        .expect
        .as_ref()
        .unwrap()
        .judge(&report_with(&[(AnomalyClass::Duplicated, 5)]));
    assert!(!judged.met);
    assert!(
        judged.why.contains("expected classes not shown: lost"),
        "{}",
        judged.why
    );
}

#[test]
fn bounds_on_a_class_count_are_judged() {
    let expect = scenario("outcome = \"fail\"\nclasses = { duplicated = { min = 10, max = 100 } }");
    let e = expect.expect.as_ref().unwrap();
    for (n, met) in [(5, false), (10, true), (100, true), (101, false)] {
        let judged = e.judge(&report_with(&[(AnomalyClass::Duplicated, n)]));
        assert_eq!(judged.met, met, "{n}: {}", judged.why);
        if !met {
            assert!(
                judged
                    .why
                    .contains(&format!("duplicated: {n}, expected 10 to 100")),
                "{}",
                judged.why
            );
        }
    }
    assert_eq!(
        judged_bounds(e),
        "{\"duplicated\":{\"min\":10,\"max\":100}}"
    );
}

fn judged_bounds(e: &scenarios::spec::ExpectSpec) -> String {
    let judged = e.judge(&report_with(&[(AnomalyClass::Duplicated, 50)]));
    serde_json::to_string(&judged.bounds).unwrap()
}

#[test]
fn an_expected_unknown_names_what_could_not_be_decided() {
    let expect = scenario("outcome = \"unknown\"\nclasses = [\"fault-not-proven\"]");
    let mut r = report_with(&[]);
    r.undecide(
        RunClass::FaultNotProven,
        1,
        "fault stall-instance at 3 s did not take effect",
    );
    r.settle_outcome();
    assert!(expect.expect.as_ref().unwrap().judge(&r).met);
    // A failure instead is another outcome.
    r.fail(RunClass::InstanceExited, 1, "instance 0 exited on its own");
    r.settle_outcome();
    let judged = expect.expect.as_ref().unwrap().judge(&r);
    assert!(!judged.met);
    assert!(
        judged.why.contains("expected UNKNOWN, got FAIL"),
        "{}",
        judged.why
    );
}

#[test]
fn bad_expectations_are_refused_with_file_line_and_field() {
    let text =
        format!("{BASE}\n[expect]\noutcome = \"fail\"\nclasses = [\"duplicated\", \"dupes\"]\n");
    let e = error_of(&text);
    let line = text.lines().position(|l| l.starts_with("classes")).unwrap() + 1;
    assert!(e.contains(&format!("bad.toml:{line}")), "{e}");
    assert!(e.contains("expect.classes[1]"), "{e}");
    assert!(e.contains("`dupes` is not a class"), "{e}");
    assert!(
        e.contains("not-caught-up"),
        "the known names are listed: {e}"
    );
    let e = error_of(&format!("{BASE}\n[expect]\noutcome = \"fail\"\n"));
    assert!(e.contains("expect.classes") && e.contains("exactly"), "{e}");
    let e = error_of(&format!(
        "{BASE}\n[expect]\noutcome = \"fail\"\nclasses = {{ lost = {{ min = 5, max = 2 }} }}\n"
    ));
    assert!(e.contains("expect.classes.lost.min"), "{e}");
    let e = error_of(&format!(
        "{BASE}\n[expect]\noutcome = \"fail\"\nclasses = {{ lost = {{ minimum = 5 }} }}\n"
    ));
    assert!(e.contains("bad.toml:"), "{e}");
    let e = error_of(&format!("{BASE}\n[expect]\nclasses = [\"lost\"]\n"));
    assert!(e.contains("only with outcome"), "{e}");
}

#[test]
fn instant_fault_verbs_refuse_a_duration_they_would_ignore() {
    for (kind, extra) in [
        ("reset", "cluster = \"source\""),
        ("add-instance", ""),
        ("remove-instance", ""),
        ("aborted-burst", "topic = \"t0\""),
        ("add-partitions", "topic = \"t0\"\npartitions = 4"),
    ] {
        let text = format!(
            "{BASE}\n[[fault]]\nat_secs = 2\nkind = \"{kind}\"\n{extra}\nduration_secs = 5\n"
        );
        let e = error_of(&text);
        let line = text
            .lines()
            .position(|l| l.starts_with("duration_secs = 5"))
            .unwrap()
            + 1;
        assert!(e.contains(&format!("bad.toml:{line}")), "{kind}: {e}");
        assert!(e.contains("fault[0].duration_secs"), "{kind}: {e}");
        assert!(e.contains("instant"), "{kind}: {e}");
    }
    // A crashed instance restarted after a pause keeps its optional duration.
    let text =
        format!("{BASE}\n[[fault]]\nat_secs = 2\nkind = \"crash-instance\"\nduration_secs = 5\n");
    assert!(Scenario::from_toml(&text, "ok.toml").is_ok());
}

#[test]
fn transaction_faults_name_a_workload_topic_and_a_partition_it_has() {
    // BASE's workload: one topic `t0` with 1 partition. A send to a partition that does not
    // exist fails only in a delivery report, so the fault "took effect" on nothing.
    for (action, field, words) in [
        (
            "kind = \"hanging-transaction\"\ntopic = \"t0\"\npartition = 7\nduration_secs = 2",
            "fault[0].partition",
            "partitions 0 to 0",
        ),
        (
            "kind = \"aborted-burst\"\ntopic = \"orders\"",
            "fault[0].topic",
            "`orders` is not one of the workload's topics (`t0`)",
        ),
        (
            "kind = \"add-partitions\"\ntopic = \"t0\"\npartitions = 1",
            "fault[0].partitions",
            "expected more",
        ),
    ] {
        let e = error_of(&format!("{BASE}\n[[fault]]\nat_secs = 2\n{action}\n"));
        assert!(e.contains(field) && e.contains(words), "{e}");
    }
    // A partition added by an earlier fault may hold a hanging transaction.
    let grown = format!(
        "{BASE}\n[[fault]]\nat_secs = 1\nkind = \"add-partitions\"\ntopic = \"t0\"\npartitions = 4\n\n[[fault]]\nat_secs = 3\nkind = \"hanging-transaction\"\ntopic = \"t0\"\npartition = 3\nduration_secs = 2\n"
    );
    assert!(Scenario::from_toml(&grown, "ok.toml").is_ok());
}
