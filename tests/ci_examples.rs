//! The CI examples in `examples/ci/` stay true: every `cutover` command line they run names a
//! subcommand and flags that exist (checked against `cutover <subcommand> --help`), and each
//! example publishes junit.xml, attaches report.html and posts summary.md. No Kafka here.

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// Every string under the keys that hold shell (`run`, `script`, `before_script`,
/// `after_script`), anywhere in the document.
fn shell_strings(y: &Yaml, under_shell_key: bool, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) if under_shell_key => out.push(s.clone()),
        Yaml::Array(a) => a
            .iter()
            .for_each(|v| shell_strings(v, under_shell_key, out)),
        Yaml::Hash(h) => {
            for (k, v) in h {
                let shell = matches!(
                    k.as_str(),
                    Some("run" | "script" | "before_script" | "after_script")
                );
                shell_strings(v, shell, out);
            }
        }
        _ => {}
    }
}

/// `cutover SUB [SUB2] --flag …` invocations: (subcommand path, flags).
fn cutover_invocations(script: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut found = Vec::new();
    for line in script.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for (i, t) in tokens.iter().enumerate() {
            if *t != "cutover" {
                continue;
            }
            let rest = &tokens[i + 1..];
            // `cargo install … cutover` ends the line: a package name, not a command.
            let Some(sub) = rest.first() else { continue };
            if sub.starts_with('-') || sub.starts_with('"') {
                continue;
            }
            let mut path = vec![sub.to_string()];
            let mut flags = Vec::new();
            for tok in &rest[1..] {
                if matches!(*tok, "|" | "||" | "&&" | ";" | ">" | ">>") {
                    break;
                }
                if let Some(flag) = tok.strip_prefix("--") {
                    flags.push(format!("--{}", flag.split('=').next().unwrap_or(flag)));
                } else if flags.is_empty() && path.len() == 1 && is_subcommand(&path, tok) {
                    path.push(tok.to_string());
                }
            }
            found.push((path, flags));
        }
    }
    found
}

fn help(path: &[String]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(path)
        .arg("--help")
        .output()
        .expect("run cutover --help");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// True when `word` is a subcommand of `cutover PATH`.
fn is_subcommand(path: &[String], word: &str) -> bool {
    let (ok, text) = help(path);
    ok && text.contains("Commands:")
        && text
            .lines()
            .any(|l| l.split_whitespace().next() == Some(word))
}

fn check_example(file: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect("read example");
    let docs = YamlLoader::load_from_str(&text).expect("the example is valid YAML");
    let mut scripts = Vec::new();
    for d in &docs {
        shell_strings(d, false, &mut scripts);
    }
    assert!(!scripts.is_empty(), "{file}: no shell steps found");
    let mut checked = 0;
    for s in &scripts {
        for (sub, flags) in cutover_invocations(s) {
            let (ok, text) = help(&sub);
            assert!(ok, "{file}: `cutover {}` is not a command", sub.join(" "));
            for f in &flags {
                assert!(
                    text.contains(f.as_str()),
                    "{file}: `cutover {}` has no flag {f}",
                    sub.join(" ")
                );
            }
            checked += 1;
        }
    }
    for output in ["junit.xml", "report.html", "summary.md"] {
        assert!(text.contains(output), "{file} does not publish {output}");
    }
    checked
}

#[test]
fn the_github_actions_example_uses_commands_and_flags_that_exist() {
    let n = check_example("examples/ci/github-actions.yml");
    assert!(n >= 3, "only {n} cutover invocations found");
}

#[test]
fn the_gitlab_ci_example_uses_commands_and_flags_that_exist() {
    let n = check_example("examples/ci/gitlab-ci.yml");
    assert!(n >= 3, "only {n} cutover invocations found");
}

#[test]
fn a_made_up_flag_would_be_caught() {
    let found = cutover_invocations("cutover run x.toml --report-dir d --no-such-flag");
    assert_eq!(found.len(), 1);
    let (sub, flags) = &found[0];
    let (ok, text) = help(sub);
    assert!(ok);
    assert!(!text.contains("--no-such-flag"));
    assert!(flags.contains(&"--report-dir".to_string()));
}
