//! Every file cutover reads, fuzzed: scenario, workload, replicator and rehearsal TOML, Java
//! client properties, MirrorMaker 2 properties and connector JSON (the lint inputs). Seeds are
//! the repository's own files; mutations delete, duplicate or truncate lines, put odd values
//! after a key, and insert stray bytes. A reader must never panic, and every error must start
//! with `file:` and name a line inside the file when it names one. A few broken files also go
//! through the CLI: exit 2 and `file:line` on stderr.

use reports::CutoverExitCode;

use std::path::{Path, PathBuf};

use proptest::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &str, ext: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {dir}");
    out
}

/// Values that break types, bounds and formats.
const ODD_VALUES: &[&str] = &[
    "-1",
    "0",
    "\"\"",
    "\"x\"",
    "[1, \"a\"]",
    "{ a = 1 }",
    "true",
    "1e309",
    "nan",
    "99999999999999999999",
    "\"{n}\"",
    "[]",
    "\"\\u0000\"",
    "{",
    "\"unterminated",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    OddValue(usize, usize),
    Insert(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), 0..ODD_VALUES.len()).prop_map(|(l, v)| Mutation::OddValue(l, v)),
        (any::<usize>(), "[ -~\n\t\"'\\[\\]{}=#:\\\\]{1,12}")
            .prop_map(|(p, s)| Mutation::Insert(p, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut text = text.to_string();
    for m in mutations {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::OddValue(i, v) => {
                let l = &mut lines[i % n];
                if let Some(eq) = l.find(['=', ':']) {
                    l.truncate(eq + 1);
                    l.push(' ');
                    l.push_str(ODD_VALUES[*v]);
                }
            }
            Mutation::Insert(p, s) => {
                let mut t = lines.join("\n");
                let mut at = p % (t.len() + 1);
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                t.insert_str(at, s);
                return apply(&t, &mutations[1..]);
            }
            Mutation::Truncate(p) => {
                let t = lines.join("\n");
                let mut at = p % (t.len() + 1);
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                return apply(&t[..at], &mutations[1..]);
            }
        }
        text = lines.join("\n");
    }
    text
}

/// An error must name the file first, and any line it names must be inside the file.
fn check_error(message: &str, origin: &str, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        message.starts_with(origin),
        "the error does not start with the file name: {message}"
    );
    let rest = &message[origin.len()..];
    if let Some(after) = rest.strip_prefix(':') {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(line) = digits.parse::<usize>() {
            let lines = text.lines().count().max(1) + 1;
            prop_assert!(
                line >= 1 && line <= lines,
                "line {line} outside a {lines}-line file: {message}"
            );
        }
    }
    Ok(())
}

fn seeds() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for t in files("scenarios/catalog", "toml") {
        out.push(("scenario", t));
    }
    for t in files("examples/workloads", "toml") {
        out.push(("workload", t));
    }
    for t in files("examples/replicator", "toml") {
        out.push(("replicator", t));
    }
    for t in files("examples/rehearsal", "toml") {
        out.push(("rehearsal", t));
    }
    for t in files("lint/tests/fixtures", "properties") {
        out.push(("properties", t));
    }
    for t in files("lint/tests/fixtures", "json") {
        out.push(("json", t));
    }
    out
}

/// Parses `text` as a file of `kind`; Err is the error's message.
fn read(kind: &str, text: &str, origin: &str) -> Result<(), String> {
    match kind {
        "scenario" => scenarios::Scenario::from_toml(text, origin)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "workload" => workload::WorkloadSpec::from_toml(text, origin)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "replicator" => replicator::config::ReplicatorConfig::from_toml(text, origin)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "rehearsal" => rehearse::Rehearsal::parse(text, origin)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "properties" => {
            harness::ClientProps::parse(text, origin).map_err(|e| e.to_string())?;
            lint::input::parse(text, origin, Some("properties"))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "json" => lint::input::parse(text, origin, Some("json"))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn every_seed_file_reads_cleanly() {
    for (kind, text) in seeds() {
        // Lint fixtures are findings, not broken files, apart from the ones named broken.
        if let Err(e) = read(kind, &text, "seed") {
            assert!(
                kind == "json" || kind == "properties",
                "a {kind} file of the repository does not read: {e}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_reader_panics_and_every_error_names_its_file_and_a_line_inside_it(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let all = seeds();
        let (kind, text) = &all[seed.index(all.len())];
        let mutated = apply(text, &mutations);
        let origin = "fuzzed.input";
        if let Err(message) = read(kind, &mutated, origin) {
            check_error(&message, origin, &mutated)?;
        }
    }
}

fn cli(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn broken_files_exit_2_naming_file_and_line_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap();
        name.to_string()
    };
    let scenario = write(
        "bad-scenario.toml",
        "[scenario]\nname = \"x\"\n\n[run]\nduration_secs = -3\n\n[workload.topics]\nnames = [\"a\"]\n\n[system]\nkind = \"builtin\"\n",
    );
    let workload = write(
        "bad-workload.toml",
        "[topics]\nnames = [\"a\"]\nrecords = \"many\"\n",
    );
    let replicator = write(
        "bad-replicator.toml",
        "[source]\nbootstrap.servers = \"a:1\"\n\n[target]\nbootstrap.servers = \"b:1\"\n\n[replication]\nmode = \"sometimes\"\n",
    );
    let rehearsal = write("bad-rehearsal.toml", "[rehearsal]\nwindow_records = 0\n");
    let props = write("ok.properties", "bootstrap.servers=127.0.0.1:1\n");
    for (args, needle) in [
        (vec!["run", "--check", &scenario], format!("{scenario}:5")),
        (
            vec!["produce", "--bootstrap", "127.0.0.1:1", "--spec", &workload],
            format!("{workload}:3"),
        ),
        (
            vec!["replicate", "--check", "--config", &replicator],
            format!("{replicator}:8"),
        ),
        (
            vec![
                "rehearse", "--source", &props, "--target", &props, "--config", &rehearsal,
            ],
            format!("{rehearsal}:2"),
        ),
    ] {
        let (code, stderr) = cli(&args, dir.path());
        assert_eq!(code, CutoverExitCode::ERROR, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&needle),
            "{args:?}: expected {needle} in {stderr}"
        );
    }
}
