//! Scenario files: every catalog entry parses, and bad files fail with file, line, field and
//! what was expected (snapshots keep the messages stable).

use scenarios::Scenario;

const GOOD: &str = r#"
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
replication = { mode = "exactly-once" }

[[fault]]
at_secs = 2
kind = "crash-instance"
instance = 0
"#;

fn error_of(text: &str) -> String {
    Scenario::from_toml(text, "bad.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn the_catalog_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !s.scenario.description.is_empty(),
                "{} has no description",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 10, "catalog has {n} scenarios");
}

#[test]
fn a_good_scenario_parses() {
    let s = Scenario::from_toml(GOOD, "good.toml").unwrap();
    assert_eq!(s.faults.len(), 1);
    assert_eq!(s.source.name, "source");
    assert_eq!(
        s.workload.duration_secs,
        Some(10.0),
        "the run's duration bounds the workload"
    );
}

#[test]
fn bad_scenarios_name_file_line_and_field() {
    let cases = [
        ("unknown top-level table", GOOD.replace("[run]", "[runn]")),
        (
            "unknown fault kind",
            GOOD.replace("kind = \"crash-instance\"", "kind = \"explode\""),
        ),
        (
            "unknown fault field",
            GOOD.replace("instance = 0", "instance = 0\nsevere = true"),
        ),
        (
            "fault after the run",
            GOOD.replace("at_secs = 2", "at_secs = 99"),
        ),
        (
            "stall without duration",
            GOOD.replace("crash-instance", "stall-instance"),
        ),
        (
            "no such broker",
            GOOD.replace(
                "kind = \"crash-instance\"\ninstance = 0",
                "kind = \"kill-broker\"\ncluster = \"source\"\nnode = 3",
            ),
        ),
        (
            "no such instance",
            GOOD.replace("instance = 0", "instance = 4"),
        ),
        (
            "bad replicator mode",
            GOOD.replace("mode = \"exactly-once\"", "mode = \"twice\""),
        ),
        (
            "bad workload rate",
            GOOD.replace("records_per_sec = 100", "records_per_sec = -5"),
        ),
        (
            "negative duration",
            GOOD.replace("duration_secs = 10", "duration_secs = -1"),
        ),
        (
            "scope namespace unknown",
            format!(
                "{GOOD}\n[scope]\nresources = [\"../declarations/tests/fixtures/ns4kafka\"]\nnamespaces = [\"nosuch\"]\n"
            ),
        ),
        (
            "scope resource missing",
            format!("{GOOD}\n[scope]\nresources = [\"nosuch\"]\nnamespaces = [\"orders\"]\n"),
        ),
        (
            "empty command",
            GOOD.replace(
                "kind = \"builtin\"\nreplication = { mode = \"exactly-once\" }",
                "kind = \"command\"\ncommand = []",
            ),
        ),
        (
            "no time for a join to show",
            GOOD.replace(
                "kind = \"builtin\"\nreplication = { mode = \"exactly-once\" }",
                "kind = \"command\"\ncommand = [\"./copy.sh\"]\nrebalance_proof_secs = 0",
            ),
        ),
    ];
    let mut all = String::new();
    for (what, text) in cases {
        let e = error_of(&text);
        assert!(e.starts_with("bad.toml"), "{what}: {e}");
        all.push_str(&format!("{what}:\n  {e}\n"));
    }
    insta::assert_snapshot!(all);
}

#[test]
fn a_consumer_group_stopping_after_the_workload_is_refused_with_its_line() {
    let text = format!(
        "{GOOD}\n[[consumer_group]]\nid = \"a\"\nstop_at_secs = 5\n\n[[consumer_group]]\nid = \"b\"\nstop_at_secs = 30\n"
    );
    let e = error_of(&text);
    // The line of the offending field itself (from the parser's spans), not its table's.
    let line = text.lines().position(|l| l == "stop_at_secs = 30").unwrap() + 1;
    assert!(e.contains(&format!("bad.toml:{line}:")), "{e}");
    assert!(e.contains("consumer_group[1].stop_at_secs"), "{e}");
    assert!(e.contains("run.duration_secs = 10"), "{e}");
    let dup = format!("{GOOD}\n[[consumer_group]]\nid = \"a\"\nstop_at_secs = 5\n\n[[consumer_group]]\nid = \"a\"\nstop_at_secs = 6\n");
    assert!(
        error_of(&dup).contains("listed twice"),
        "{}",
        error_of(&dup)
    );
}

#[test]
fn a_consumer_group_entry_with_count_stands_for_many_groups_each_reading_its_topics() {
    let text = format!(
        "{GOOD}\n[[consumer_group]]\nid = \"solo\"\nstop_at_secs = 2\n\n[[consumer_group]]\nid = \"app-{{n}}\"\ncount = 3\ntopics = 2\nstop_at_secs = 4\nstop_spread_secs = 4\n"
    );
    let s = Scenario::from_toml(&text, "good.toml").unwrap();
    let ids: Vec<&str> = s.consumer_groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["solo", "app-0", "app-1", "app-2"]);
    let stops: Vec<f64> = s.consumer_groups.iter().map(|g| g.stop_at_secs).collect();
    assert_eq!(stops, [2.0, 4.0, 6.0, 8.0]);
    let all: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
    // "solo" reads everything; app-k (the (k+1)-th group) reads 2 topics from 2 × (k+1).
    assert_eq!(s.consumer_groups[0].topics_of(&all), all);
    assert_eq!(s.consumer_groups[1].topics_of(&all), ["t2", "t3"]);
    assert_eq!(s.consumer_groups[3].topics_of(&all), ["t1", "t2"]);
    // count > 1 needs {{n}} in the id; the spread must end within the workload.
    let e = error_of(&format!(
        "{GOOD}\n[[consumer_group]]\nid = \"app\"\ncount = 3\nstop_at_secs = 4\n"
    ));
    assert!(
        e.contains("consumer_group[0].count") && e.contains("{n}"),
        "{e}"
    );
    let e = error_of(&format!(
        "{GOOD}\n[[consumer_group]]\nid = \"a{{n}}\"\ncount = 3\nstop_at_secs = 4\nstop_spread_secs = 7\n"
    ));
    assert!(e.contains("consumer_group[0].stop_spread_secs"), "{e}");
    let e = error_of(&format!(
        "{GOOD}\n[[consumer_group]]\nid = \"app-1\"\nstop_at_secs = 4\n\n[[consumer_group]]\nid = \"app-{{n}}\"\ncount = 3\nstop_at_secs = 4\n"
    ));
    assert!(e.contains("\"app-1\" is listed twice"), "{e}");
}

#[test]
fn every_catalog_entry_takes_every_system_with_its_instances_and_faults() {
    use scenarios::spec::SystemSpec;
    use scenarios::SystemOverride;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let original = Scenario::from_file(&path).unwrap();
        for name in SystemOverride::NAMES {
            let mut s = original.clone();
            s.with_system(name.parse().unwrap());
            assert_eq!(s.system.instances(), original.system.instances(), "{name}");
            assert_eq!(s.faults.len(), original.faults.len());
            match (name, &s.system) {
                ("builtin" | "builtin-alo", SystemSpec::Builtin { replication, .. }) => {
                    let mode = replication["mode"].as_str().unwrap();
                    assert_eq!(mode == "at-least-once", name == "builtin-alo");
                }
                (
                    "mirrormaker2" | "mirrormaker2-eos",
                    SystemSpec::Mirrormaker2 { exactly_once, .. },
                ) => {
                    assert_eq!(*exactly_once, name == "mirrormaker2-eos");
                }
                (
                    "mirrormaker2-connect" | "mirrormaker2-connect-eos",
                    SystemSpec::Connect {
                        exactly_once_source_support,
                        ..
                    },
                ) => {
                    assert_eq!(
                        format!("{exactly_once_source_support:?}").to_lowercase() == "enabled",
                        name == "mirrormaker2-connect-eos",
                        "{name}"
                    );
                }
                (name, other) => panic!("{name} gave {other:?}"),
            }
        }
    }
}

#[test]
fn a_mirrormaker2_system_is_checked_with_line_and_field() {
    let mm2 = GOOD.replace(
        "kind = \"builtin\"\nreplication = { mode = \"exactly-once\" }",
        "kind = \"mirrormaker2\"\nexactly_once = true\ntasks_max = 0",
    );
    let err = error_of(&mm2);
    assert!(
        err.contains("bad.toml") && err.contains("system.tasks_max"),
        "{err}"
    );
    let line = mm2
        .lines()
        .position(|l| l.starts_with("tasks_max"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!(":{line}")), "line {line}: {err}");

    let with_file = GOOD.replace(
        "kind = \"builtin\"\nreplication = { mode = \"exactly-once\" }",
        "kind = \"mirrormaker2\"\nconfig_file = \"mm2.properties\"\nsync_group_offsets = true",
    );
    let err = error_of(&with_file);
    assert!(
        err.contains("system.sync_group_offsets") && err.contains("verbatim"),
        "{err}"
    );

    let ok = GOOD.replace(
        "kind = \"builtin\"\nreplication = { mode = \"exactly-once\" }",
        "kind = \"mirrormaker2\"\ninstances = 2\nreplication_policy = \"identity\"\nconsumer = { \"max.poll.records\" = \"500\" }",
    );
    let s = Scenario::from_toml(&ok, "ok.toml").unwrap();
    assert_eq!(s.system.instances(), 2);
}

#[test]
fn the_verify_table_is_the_checkers_promises_and_a_bad_key_is_named() {
    let s = Scenario::from_toml(
        &format!(
            "{GOOD}\n[verify]\norder = false\nallowed_duplicates = 3\nignore_headers = [\"x\"]\n"
        ),
        "good.toml",
    )
    .unwrap();
    assert_eq!(
        s.verify,
        verify::Promises {
            order: false,
            allowed_duplicates: 3,
            ignore_headers: vec!["x".into()],
            ..verify::Promises::default()
        }
    );
    assert_eq!(
        s.verify.fingerprint().exclude_headers,
        vec!["x".to_string()]
    );
    let text = format!("{GOOD}\n[verify]\nordr = false\n");
    let e = error_of(&text);
    let line = text.lines().position(|l| l == "ordr = false").unwrap() + 1;
    assert!(
        e.starts_with(&format!("bad.toml:{line}: unknown field `ordr`")),
        "{e}"
    );
    assert!(e.contains("`order`"), "the known keys are listed: {e}");
}

#[test]
fn an_application_entry_is_checked_with_its_line() {
    // A switch after the workload ended.
    let e = error_of(&format!(
        "{GOOD}\n[[app]]\nname = \"counter\"\n[app.switch]\nat_secs = 12\n"
    ));
    assert!(e.contains("bad.toml:"), "{e}");
    assert!(e.contains("app[0].switch.at_secs"), "{e}");
    assert!(e.contains("run.duration_secs = 10"), "{e}");
    // A jar without its main class.
    let e = error_of(&format!(
        "{GOOD}\n[[app]]\nname = \"mine\"\njar = \"app.jar\"\n[app.switch]\nat_secs = 3\n"
    ));
    assert!(e.contains("app[0].main_class"), "{e}");
    // Two applications under one application.id.
    let e = error_of(&format!(
        "{GOOD}\n[[app]]\nname = \"a\"\napplication_id = \"x\"\n[app.switch]\nat_secs = 3\n\n[[app]]\nname = \"b\"\napplication_id = \"x\"\n[app.switch]\nat_secs = 4\n"
    ));
    assert!(e.contains("app[1].application_id"), "{e}");
    // A system that renames topics: the application would not find them on the target.
    let renamed = GOOD.replace(
        "replication = { mode = \"exactly-once\" }",
        "replication = { mode = \"exactly-once\", rename = { prefix = \"dr.\" } }",
    );
    let e = error_of(&format!(
        "{renamed}\n[[app]]\nname = \"c\"\n[app.switch]\nat_secs = 3\n"
    ));
    assert!(e.contains("keep their names"), "{e}");
    // A well-formed entry parses, with its defaults.
    let s = Scenario::from_toml(
        &format!("{GOOD}\n[[app]]\nname = \"counter\"\n[app.switch]\nat_secs = 3\n"),
        "good.toml",
    )
    .unwrap();
    assert_eq!(s.apps[0].application_id(), "cutover-app-counter");
    assert_eq!(s.apps[0].output_topic(), "cutover-app-counter-updates");
    assert!(s.apps[0].switch.move_offsets && s.apps[0].switch.wait_for_copy);
}

#[test]
fn mirrormaker2_under_an_application_cutover_keeps_topic_names_and_syncs_offsets() {
    let mut s = Scenario::from_toml(
        &format!("{GOOD}\n[[app]]\nname = \"counter\"\n[app.switch]\nat_secs = 3\n"),
        "good.toml",
    )
    .unwrap();
    s.with_system(scenarios::SystemOverride::Mirrormaker2Eos);
    assert_eq!(s.system.system().rename(), verify::Rename::default());
    let scenarios::spec::SystemSpec::Mirrormaker2 {
        sync_group_offsets, ..
    } = &s.system
    else {
        panic!("not MirrorMaker 2: {:?}", s.system);
    };
    assert!(sync_group_offsets);
}
