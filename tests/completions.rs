//! `cutover completions bash|zsh|fish` and `cutover man` are generated from the clap
//! definitions: every script and page names every real subcommand (listed by `cutover --help`)
//! and real flags; the shells that are installed also parse their script (`bash -n`, `zsh -n`,
//! `fish -n`; skipped with the reason when a shell is missing). No Kafka here.

use reports::CutoverExitCode;

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn cutover(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run cutover");
    assert!(
        out.status.success(),
        "cutover {args:?} exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The subcommands `cutover --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let help = cutover(&["--help"]);
    let list = help
        .split("Commands:")
        .nth(1)
        .and_then(|s| s.split("Options:").next())
        .expect("a Commands: section");
    let names: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(String::from)
        .collect();
    for must in [
        "run",
        "verify",
        "lint",
        "replicate",
        "completions",
        "man",
        "cluster",
    ] {
        assert!(names.iter().any(|n| n == must), "{must} missing: {names:?}");
    }
    names
}

fn shell_parses(shell: &str, script: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("cutover.{shell}"));
    std::fs::write(&path, script).expect("write script");
    match Command::new(shell).arg("-n").arg(&path).output() {
        Ok(out) => assert!(
            out.status.success(),
            "{shell} -n rejects the script: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("SKIPPED: {shell} -n (no {shell} here: {e})"),
    }
}

#[test]
fn completion_scripts_name_every_subcommand_and_real_flags() {
    let subs = subcommands();
    for shell in ["bash", "zsh", "fish"] {
        let script = cutover(&["completions", shell]);
        for sub in &subs {
            assert!(script.contains(sub.as_str()), "{shell}: no {sub}");
        }
        // Nested subcommands and flags of a few commands.
        for word in [
            "up",
            "sync",
            "--kafka-version",
            "--metrics-addr",
            "--require-exactly-once",
            "--report-dir",
        ] {
            // fish spells long flags `-l metrics-addr`.
            let word = if shell == "fish" {
                word.trim_start_matches('-')
            } else {
                word
            };
            assert!(script.contains(word), "{shell}: no {word}");
        }
        assert!(!script.contains("--no-such-flag"));
        shell_parses(shell, &script);
    }
    // An unknown shell is a usage error (exit 2), not an empty script.
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(CutoverExitCode::ERROR));
}

#[test]
fn man_pages_cover_every_command() {
    // roff escapes hyphens: `fetch\-kafka`.
    let page = cutover(&["man"]).replace("\\-", "-");
    assert!(
        page.contains(".TH cutover"),
        "{}",
        &page[..page.len().min(300)]
    );
    for sub in subcommands() {
        assert!(page.contains(&sub), "the man page does not name {sub}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man1");
    cutover(&["man", "--out-dir", out.to_str().expect("utf-8 path")]);
    for file in [
        "cutover.1",
        "cutover-run.1",
        "cutover-lint.1",
        "cutover-cluster-up.1",
        "cutover-offsets-sync.1",
        "cutover-completions.1",
    ] {
        let text = std::fs::read_to_string(out.join(file))
            .unwrap_or_else(|e| panic!("{file} not written: {e}"));
        assert!(text.contains(".TH"), "{file} is not a man page");
    }
    let lint = std::fs::read_to_string(out.join("cutover-lint.1")).expect("lint page");
    assert!(
        lint.contains("kafka\\-version"),
        "cutover-lint.1 lacks --kafka-version"
    );
}
