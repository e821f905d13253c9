//! `cutover registry up` (a real Apicurio Registry for hands-on use) and
//! `cutover verify-schemas` (a merged target registry against its sources).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use registry::compare::{verify, Named};
use registry::{Apicurio, HttpRegistry, SchemaRegistry, StartOptions, DEFAULT_APICURIO_VERSION};

use crate::cluster_cmd::ShutdownSignals;
use crate::exit_code;

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Starts Apicurio Registry (in-memory) on loopback, prints its Confluent-compatible URL,
    /// and stays up until Ctrl-C/SIGTERM; the registry and its dir are removed on exit.
    Up(UpArgs),
}

#[derive(Args)]
pub struct UpArgs {
    /// How many registries (e.g. 3: two sources and a target).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Apicurio Registry version (fetched once from Maven Central into the cache).
    #[arg(long, default_value = DEFAULT_APICURIO_VERSION)]
    apicurio_version: String,
    /// Keep the registries' logs here (default: inside their temp dirs, removed on exit).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

pub async fn run(command: RegistryCommand) -> Result<u8> {
    match command {
        RegistryCommand::Up(args) => up(args).await,
    }
}

async fn up(args: UpArgs) -> Result<u8> {
    if args.count == 0 {
        anyhow::bail!("--count: expected at least 1");
    }
    let mut signals = ShutdownSignals::new()?;
    let mut starts = Vec::new();
    for i in 0..args.count {
        let name = if args.count == 1 {
            "registry".to_string()
        } else {
            format!("registry-{i}")
        };
        let mut options = StartOptions::new(name);
        options.version = args.apicurio_version.clone();
        options.log_dir = args.log_dir.clone();
        starts.push(tokio::task::spawn_blocking(move || {
            Apicurio::start(&options)
        }));
    }
    let all = async {
        let mut registries = Vec::new();
        for s in starts {
            registries.push(s.await.context("the start task failed")??);
        }
        Ok::<_, anyhow::Error>(registries)
    };
    let registries = tokio::select! {
        r = all => r?,
        _ = signals.recv() => {
            eprintln!("interrupted while starting; stopping");
            return Ok(exit_code::ERROR);
        }
    };
    for r in &registries {
        println!(
            "{}  {}  (ready in {:.1} s, Java {}, log {})",
            r.name(),
            r.ccompat_url(),
            r.started_in().as_secs_f64(),
            r.java().major,
            r.log_path().display()
        );
    }
    println!("Ctrl-C to stop");
    signals.recv().await;
    drop(registries);
    eprintln!("registries stopped and removed");
    Ok(exit_code::OK)
}

#[derive(Args)]
pub struct VerifySchemasArgs {
    /// A source registry's Confluent-compatible API URL (`[NAME=]URL`, repeat for a merge of
    /// several; `user:password@` in the URL is sent as basic auth, never printed).
    #[arg(long = "source-registry", required = true, value_name = "[NAME=]URL")]
    sources: Vec<String>,
    /// The target registry's URL (`[NAME=]URL`).
    #[arg(long = "target-registry", value_name = "[NAME=]URL")]
    target: String,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
    /// Findings printed in text mode.
    #[arg(long, default_value_t = 50)]
    max_findings: usize,
}

/// `NAME=URL` or `URL` (then named `default`).
pub fn split_named(arg: &str, default: String) -> (String, &str) {
    match arg.split_once('=') {
        Some((n, u)) if !n.contains("://") && !n.is_empty() => (n.to_string(), u),
        _ => (default, arg),
    }
}

fn named(arg: &str, default: String) -> Result<(String, HttpRegistry)> {
    let (name, url) = split_named(arg, default);
    let client = HttpRegistry::new(url).map_err(|e| anyhow::anyhow!("registry `{name}`: {e}"))?;
    Ok((name, client))
}

/// Exit 0 when every source subject/version is on the target, 1 on findings, 2 when a
/// registry cannot be read.
pub async fn verify_schemas(args: VerifySchemasArgs) -> Result<u8> {
    let mut sources = Vec::new();
    for (i, s) in args.sources.iter().enumerate() {
        sources.push(named(s, format!("source-{}", i + 1))?);
    }
    let target = named(&args.target, "target".into())?;
    let verdict = tokio::task::spawn_blocking(move || {
        let named_sources: Vec<Named<'_>> = sources
            .iter()
            .map(|(name, c)| Named {
                name: name.clone(),
                registry: c as &dyn SchemaRegistry,
            })
            .collect();
        verify(
            &named_sources,
            &Named {
                name: target.0.clone(),
                registry: &target.1,
            },
        )
    })
    .await
    .context("the verification task failed")??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        print!("{}", verdict.render_text(args.max_findings));
    }
    Ok(if verdict.passed() {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}
