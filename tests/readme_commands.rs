//! Every `cutover …` command shown in README.md and docs/*.md runs as written: its subcommand
//! and every flag exist (`cutover SUB --help`), every repository file it names exists, and the
//! commands that need no cluster (`run … --check`, `list`, `lint`, `plan`, `replicate --check`,
//! `completions`, `man`) are run for real and must succeed. A renamed flag or a moved example
//! breaks the build, not a reader. No Kafka here.
//!
//! Commands come from inline code spans (`cutover …`, also across a line break) and from lines
//! of shell code blocks (```sh, bash, shell, console: `cutover …`, `cargo run --release -- …`). Synopsis forms
//! (`[--flag N]`, `A\|B`, `FILE…`) are checked for subcommand, flags and files only.

use reports::CutoverExitCode;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Paths in the docs that a user supplies (their own runs' report dirs, their own CI layout):
/// not in this repository on purpose.
const USER_SUPPLIED: &[&str] = &[
    "A/report.json",
    "B/report.json",
    "DIR/report.json",
    "migration/scenario.toml",
    "baseline/report.json",
    "cutover-report/report.json",
    "orders.yml",
];

#[derive(Debug, Clone)]
struct Found {
    /// `README.md:53`
    origin: String,
    text: String,
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The `cutover …` commands of one Markdown text.
fn commands_in(name: &str, text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut prose = String::new();
    let mut in_fence = false;
    let mut shell = false;
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            in_fence = !in_fence;
            shell = in_fence && matches!(info.trim(), "sh" | "bash" | "shell" | "console");
            prose.push('\n');
            continue;
        }
        if in_fence && !shell {
            prose.push('\n');
            continue;
        }
        if in_fence {
            let l = line.trim().trim_start_matches("$ ");
            let command = l
                .strip_prefix("cargo run --release -- ")
                .map(|rest| format!("cutover {rest}"))
                .or_else(|| l.starts_with("cutover ").then(|| l.to_string()));
            if let Some(c) = command {
                let c = c.split(" #").next().unwrap_or(&c).trim().to_string();
                found.push(Found {
                    origin: format!("{name}:{}", i + 1),
                    text: c,
                });
            }
            prose.push('\n');
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    // Inline code spans, which may wrap onto the next line.
    let mut rest = prose.as_str();
    let mut offset = 0;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        let span = &after[..end];
        if span.starts_with("cutover ") && !span.contains("\n\n") {
            let line = prose[..offset + start].matches('\n').count() + 1;
            found.push(Found {
                origin: format!("{name}:{line}"),
                text: span.split_whitespace().collect::<Vec<_>>().join(" "),
            });
        }
        let consumed = start + 1 + end + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    found
}

fn all_commands() -> Vec<Found> {
    let mut out = Vec::new();
    for f in doc_files() {
        let text = std::fs::read_to_string(&f).expect("read doc");
        let name = f
            .strip_prefix(ROOT)
            .unwrap_or(&f)
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_string();
        out.extend(commands_in(&name, &text));
    }
    out
}

struct Cli {
    help: BTreeMap<Vec<String>, Option<String>>,
}

impl Cli {
    /// `cutover PATH --help`, cached; None when PATH is not a command.
    fn help(&mut self, path: &[String]) -> Option<String> {
        self.help
            .entry(path.to_vec())
            .or_insert_with(|| {
                let out = Command::new(BIN)
                    .args(path)
                    .arg("--help")
                    .output()
                    .expect("run cutover --help");
                out.status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .clone()
    }

    fn is_subcommand(&mut self, path: &[String], word: &str) -> bool {
        self.help(path).is_some_and(|text| {
            text.contains("Commands:")
                && text
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(word))
        })
    }
}

/// Tokens up to the first shell operator (a redirection or pipe ends the command).
fn tokens(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in command.replace("\\|", "|").split_whitespace() {
        if matches!(t, ">" | ">>" | "|" | "&&" | "||" | ";" | "2>&1") {
            break;
        }
        out.push(t.to_string());
    }
    out
}

/// Every `--flag` a token mentions (`[--brokers`, `(--bootstrap`, `--rename-prefix=x`).
fn flags_of(token: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = token;
    while let Some(i) = rest.find("--") {
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !name.is_empty() {
            out.push(format!("--{name}"));
        }
        rest = &rest[i + 2 + name.len()..];
    }
    out
}

/// The repository paths a token names (split on `|`, brackets and quotes stripped).
fn paths_of(token: &str) -> Vec<String> {
    token
        .split('|')
        .map(|p| {
            p.trim_matches(|c: char| "[]()'\"…,;".contains(c))
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|p| {
            !p.is_empty()
                && !p.starts_with('-')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
                && p.chars().any(|c| c.is_ascii_lowercase())
                && (p.contains('/')
                    || [
                        ".toml",
                        ".properties",
                        ".json",
                        ".yml",
                        ".yaml",
                        ".md",
                        ".prom",
                    ]
                    .iter()
                    .any(|e| p.ends_with(e)))
        })
        .collect()
}

/// A synopsis, not a command to run: optional parts, alternatives, placeholders.
fn is_synopsis(tokens: &[String]) -> bool {
    tokens.iter().any(|t| {
        t.contains(['[', ']', '(', ')', '|', '…', '<', '>'])
            || (!t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && t.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
            || t.contains("=DST")
    })
}

struct Checked {
    help_only: usize,
    ran: Vec<String>,
}

fn check(cli: &mut Cli, found: &Found, failures: &mut Vec<String>, checked: &mut Checked) {
    let toks = tokens(&found.text);
    let origin = &found.origin;
    if toks.len() < 2 || toks[0] != "cutover" {
        return;
    }
    if toks[1].contains('<') || toks[1] == "…" {
        return; // `cutover <subcommand> --help`, `cutover …`: prose about any command
    }
    let mut path = vec![toks[1].clone()];
    if !cli.is_subcommand(&[], &toks[1]) {
        failures.push(format!("{origin}: `cutover {}` is not a command", toks[1]));
        return;
    }
    if let Some(second) = toks.get(2) {
        if cli.is_subcommand(&path, second) {
            path.push(second.clone());
        }
    }
    let Some(help) = cli.help(&path) else {
        failures.push(format!(
            "{origin}: `cutover {}` has no --help",
            path.join(" ")
        ));
        return;
    };
    let mut user_supplied = false;
    for t in &toks[1 + path.len()..] {
        for flag in flags_of(t) {
            let known = flag == "--help"
                || help.match_indices(flag.as_str()).any(|(i, _)| {
                    !help[i + flag.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
                });
            if !known {
                failures.push(format!(
                    "{origin}: `cutover {}` has no flag {flag} (in `{}`)",
                    path.join(" "),
                    found.text
                ));
            }
        }
        for p in paths_of(t) {
            if USER_SUPPLIED.contains(&p.as_str()) {
                user_supplied = true;
                continue;
            }
            if !Path::new(ROOT).join(&p).exists() {
                failures.push(format!(
                    "{origin}: `{p}` does not exist in the repository (in `{}`); use an \
                     example file, or add it to USER_SUPPLIED if the user brings it",
                    found.text
                ));
            }
        }
    }
    if is_synopsis(&toks) || user_supplied {
        checked.help_only += 1;
        return;
    }
    // Concrete commands that need no cluster run for real.
    let mut args: Vec<String> = toks[1..].to_vec();
    let runnable = match path[0].as_str() {
        "run" => {
            if !args.iter().any(|a| a == "--check") {
                args.push("--check".into());
            }
            args.len() > 2
        }
        // Without --config it is a mention of the command, not a command line.
        "replicate" => {
            if !args.iter().any(|a| a == "--check") {
                args.push("--check".into());
            }
            args.iter().any(|a| a == "--config")
        }
        "list" | "lint" | "completions" | "man" => path.len() == 1 && !args.is_empty(),
        // A plan of declaration files runs here; `--export` and `--source` read a cluster.
        "plan" => {
            path.len() == 1
                && args
                    .windows(2)
                    .any(|w| w[0] == "--resources" && !w[1].starts_with('-'))
                && !args.iter().any(|a| a == "--export" || a == "--source")
        }
        _ => false,
    };
    // `cutover lint` or `cutover plan` alone is a mention of the command.
    if !runnable || (matches!(path[0].as_str(), "lint" | "plan") && args.len() < 2) {
        checked.help_only += 1;
        return;
    }
    let out = Command::new(BIN)
        .args(&args)
        .current_dir(ROOT)
        .output()
        .expect("run cutover");
    let code = out.status.code().unwrap_or(-1);
    // lint: 1 means the config has an error finding, plan: a cycle; documented outcomes, not
    // broken commands.
    let ok = code == CutoverExitCode::OK
        || (matches!(path[0].as_str(), "lint" | "plan") && code == CutoverExitCode::FAILED);
    if !ok || out.stdout.is_empty() {
        failures.push(format!(
            "{origin}: `cutover {}` exited {code} (stdout {} bytes): {}",
            args.join(" "),
            out.stdout.len(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    checked
        .ran
        .push(format!("cutover {} → {code}", args.join(" ")));
}

#[test]
fn every_documented_command_runs_as_written() {
    let found = all_commands();
    assert!(found.len() >= 40, "only {} commands found", found.len());
    let mut cli = Cli {
        help: BTreeMap::new(),
    };
    let mut failures = Vec::new();
    let mut checked = Checked {
        help_only: 0,
        ran: Vec::new(),
    };
    for f in &found {
        check(&mut cli, f, &mut failures, &mut checked);
    }
    println!(
        "{} commands: {} checked against --help, {} run:\n  {}",
        found.len(),
        checked.help_only,
        checked.ran.len(),
        checked.ran.join("\n  ")
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    for must in ["run", "lint", "replicate", "completions", "man", "list"] {
        assert!(
            checked
                .ran
                .iter()
                .any(|r| r.starts_with(&format!("cutover {must}"))),
            "no `cutover {must}` example was run for real: {:?}",
            checked.ran
        );
    }
}

#[test]
fn the_checks_would_catch_a_renamed_flag_a_moved_file_and_a_made_up_command() {
    let mut cli = Cli {
        help: BTreeMap::new(),
    };
    let mut checked = Checked {
        help_only: 0,
        ran: Vec::new(),
    };
    for (text, expect) in [
        (
            "cutover replicate --config examples/replicator/exactly-once.toml --metric-addr x",
            "has no flag --metric-addr",
        ),
        (
            "cutover run scenarios/catalog/no-such.toml --check",
            "does not exist",
        ),
        ("cutover fetch --kafka-version 4.1.1", "is not a command"),
        (
            "cutover lint examples/replicator/exactly-once.toml --format nope",
            "exited 2",
        ),
    ] {
        let mut failures = Vec::new();
        let f = Found {
            origin: "test".into(),
            text: text.into(),
        };
        check(&mut cli, &f, &mut failures, &mut checked);
        assert!(
            failures.iter().any(|m| m.contains(expect)),
            "`{text}` should fail with `{expect}`: {failures:?}"
        );
    }
    let spans = commands_in(
        "x.md",
        "see `cutover run … --report-dir d\n--junit-per-topic` and\n```sh\ncargo run --release -- list\n```\n```\ncutover flows → here\n```\n",
    );
    let texts: Vec<&str> = spans.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "cutover list",
            "cutover run … --report-dir d --junit-per-topic"
        ]
    );
}
