//! `[scope]` in scenario files: the workload topics and consumer groups the namespaces own by
//! the teams' declarations (files relative to the scenario file), and every error with the
//! file, line and field (the scenario's, or the declaration's for malformed YAML).

use std::path::Path;

use scenarios::Scenario;

/// Two teams: team-a owns `team-a.` topics and groups; team-b owns `team-b.` topics and the
/// literal group `team-b-app`.
const DECLARATIONS: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: team-a}
spec: {kafkaUser: svc-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
spec: {kafkaUser: svc-b}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: a-topics, namespace: admin}
spec: {resourceType: TOPIC, resource: team-a., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-a}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: a-groups, namespace: admin}
spec: {resourceType: GROUP, resource: team-a., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-a}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: b-topics, namespace: admin}
spec: {resourceType: TOPIC, resource: team-b., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-b}
---
apiVersion: v1
kind: AccessControlEntry
metadata: {name: b-group, namespace: admin}
spec: {resourceType: GROUP, resource: team-b-app, resourcePatternType: LITERAL, permission: OWNER, grantedTo: team-b}
"#;

fn scenario(scope: &str) -> String {
    format!(
        r#"[scenario]
name = "slice"

[run]
duration_secs = 10

[workload.topics]
names = ["team-a.orders", "team-a.audit", "team-b.invoices", "shared_t"]

[[workload.producer]]
rate = {{ records_per_sec = 100 }}

[system]
kind = "running"

[[consumer_group]]
id = "team-a.billing"
stop_at_secs = 5

[[consumer_group]]
id = "team-b-app"
stop_at_secs = 5

[[consumer_group]]
id = "team-a_legacy"
stop_at_secs = 5
{scope}"#
    )
}

/// A scenario file `scenario.toml` beside `decl/teams.yml`; returns its path.
fn write(dir: &Path, scope: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("decl")).expect("mkdir");
    std::fs::write(dir.join("decl/teams.yml"), DECLARATIONS).expect("write declarations");
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario(scope)).expect("write scenario");
    path
}

fn error_of(dir: &Path, scope: &str) -> String {
    let path = write(dir, scope);
    Scenario::from_file(&path)
        .expect_err("a bad [scope]")
        .to_string()
        .replace(&dir.display().to_string(), "DIR")
}

#[test]
fn a_scope_runs_only_the_namespaces_topics_and_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = Scenario::from_file(&write(dir.path(), "")).expect("no scope");
    assert_eq!(all.workload.topics.names().len(), 4);
    assert_eq!(all.consumer_groups.len(), 3);

    let path = write(
        dir.path(),
        "\n[scope]\nresources = [\"decl/\"]\nnamespaces = [\"team-a\"]\n",
    );
    let a = Scenario::from_file(&path).expect("team-a's slice");
    assert_eq!(
        a.workload.topics.names(),
        ["team-a.orders", "team-a.audit"],
        "team-a's topics only, in the file's order"
    );
    let groups: Vec<(&str, usize)> = a
        .consumer_groups
        .iter()
        .map(|g| (g.id.as_str(), g.index))
        .collect();
    // `team-a_legacy` is not `team-a.`: no `.`/`_` collision for groups.
    assert_eq!(groups, [("team-a.billing", 0)]);

    let path = write(
        dir.path(),
        "\n[scope]\nresources = [\"decl/teams.yml\"]\nnamespaces = [\"team-a\", \"team-b\"]\n",
    );
    let both = Scenario::from_file(&path).expect("both slices");
    assert_eq!(
        both.workload.topics.names(),
        ["team-a.orders", "team-a.audit", "team-b.invoices"]
    );
    let ids: Vec<&str> = both.consumer_groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["team-a.billing", "team-b-app"]);
    assert_eq!(both.consumer_groups[1].index, 1, "numbered again");
}

#[test]
fn a_sweep_runs_team_by_team_with_paths_relative_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "\n[scope]\nresources = [\"decl\"]\nnamespaces = [\"team-a\"]\n",
    );
    let text = std::fs::read_to_string(&path).expect("read");
    let setting = scenarios::sweep::Setting::parse(r#"scope.namespaces=["team-a"],["team-b"]"#)
        .expect("setting");
    let variants = scenarios::sweep::variants(&text, &path.display().to_string(), &[setting])
        .expect("variants");
    let topics: Vec<Vec<String>> = variants
        .iter()
        .map(|v| v.scenario.workload.topics.names())
        .collect();
    assert_eq!(
        topics,
        [
            vec!["team-a.orders".to_string(), "team-a.audit".to_string()],
            vec!["team-b.invoices".to_string()]
        ]
    );
}

#[test]
fn scope_errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `resources` is on line 29 of the file, `namespaces` on line 30.
    let cases = [
        (
            "\n[scope]\nresources = [\"decl/\", \"nosuch/\"]\nnamespaces = [\"team-a\"]\n",
            "DIR/scenario.toml:29: field `scope.resources[1]`: no such file or directory: DIR/nosuch/",
        ),
        (
            "\n[scope]\nresources = [\"decl/\"]\nnamespaces = [\"team-c\"]\n",
            "DIR/scenario.toml:30: field `scope.namespaces`: namespace `team-c` owns no topic or consumer group in the declarations (known: admin, team-a, team-b)",
        ),
        (
            "\n[scope]\nresources = [\"decl/\"]\nnamespaces = []\n",
            "DIR/scenario.toml:30: field `scope.namespaces`: expected at least one namespace",
        ),
        (
            "\n[scope]\nresources = []\nnamespaces = [\"team-a\"]\n",
            "DIR/scenario.toml:29: field `scope.resources`: expected at least one file or directory of declarations",
        ),
        (
            "\n[scope]\nresources = [\"decl/\"]\nnamespace = [\"team-a\"]\n",
            "DIR/scenario.toml:30: ",
        ),
    ];
    for (scope, want) in cases {
        let e = error_of(dir.path(), scope);
        assert!(e.starts_with(want), "want {want}\n got {e}");
    }
    // A namespace owning none of the workload's topics: nothing would run.
    std::fs::create_dir_all(dir.path().join("other")).expect("mkdir");
    std::fs::write(
        dir.path().join("other/c.yml"),
        "apiVersion: v1\nkind: AccessControlEntry\nmetadata: {name: c, namespace: admin}\nspec: {resourceType: TOPIC, resource: team-c., resourcePatternType: PREFIXED, permission: OWNER, grantedTo: team-c}\n",
    )
    .expect("write");
    let e = error_of(
        dir.path(),
        "\n[scope]\nresources = [\"other\"]\nnamespaces = [\"team-c\"]\n",
    );
    assert!(
        e.starts_with("DIR/scenario.toml:30: field `scope.namespaces`: team-c own none of the workload's topics (team-a.orders, team-a.audit, team-b.invoices, shared_t): nothing would run"),
        "{e}"
    );
    // A malformed declaration: its own file and line.
    std::fs::write(
        dir.path().join("other/c.yml"),
        "apiVersion: v1\nkind: AccessControlEntry\nmetadata: {name: c, namespace: admin}\nspec:\n  resourceType: TOPIC\n  resource: team-c.\n  resourcePatternType: prefixed\n  permission: OWNER\n  grantedTo: team-c\n",
    )
    .expect("write");
    let e = error_of(
        dir.path(),
        "\n[scope]\nresources = [\"other\"]\nnamespaces = [\"team-c\"]\n",
    );
    assert!(
        e.starts_with("DIR/other/c.yml:7: field `spec.resourcePatternType`: expected one of LITERAL, PREFIXED, found `prefixed`"),
        "{e}"
    );
    // A directory without declarations.
    std::fs::create_dir_all(dir.path().join("empty")).expect("mkdir");
    let e = error_of(
        dir.path(),
        "\n[scope]\nresources = [\"decl\", \"empty\"]\nnamespaces = [\"team-a\"]\n",
    );
    assert!(
        e.starts_with("DIR/scenario.toml:29: field `scope.resources[1]`: DIR/empty: no *.yml or *.yaml file under it"),
        "{e}"
    );
}
