//! `cutover completions SHELL` and `cutover man`: shell completion scripts and man pages
//! generated from the clap definitions themselves (clap_complete, clap_mangen), so they never
//! drift from the flags.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use clap_complete::Shell;

use crate::exit_code;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell). Install, e.g.:
    /// `cutover completions bash > ~/.local/share/bash-completion/completions/cutover`,
    /// `cutover completions zsh > "${fpath[1]}/_cutover"`,
    /// `cutover completions fish > ~/.config/fish/completions/cutover.fish`.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Args)]
pub struct ManArgs {
    /// Write one page per command (`cutover.1`, `cutover-run.1`, `cutover-cluster-up.1`, …)
    /// into this directory instead of printing the top page (roff) on stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "cutover", &mut out);
    out.flush().context("writing the completion script")?;
    Ok(exit_code::OK)
}

/// Prints the man page, or writes every page into `--out-dir`.
pub fn man(args: ManArgs, cmd: clap::Command) -> Result<u8> {
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("writing the man page")?;
            out.flush().context("writing the man page")?;
        }
    }
    Ok(exit_code::OK)
}
