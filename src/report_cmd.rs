//! `cutover report DIR`: re-render summary.md, report.html and junit.xml from DIR/report.json;
//! `cutover diff A B`: compare two runs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::exit_code;

#[derive(Args)]
pub struct ReportArgs {
    /// A report directory (holding report.json), or the report.json itself.
    dir: PathBuf,
    /// junit.xml also gets one test case per topic.
    #[arg(long)]
    junit_per_topic: bool,
}

pub fn report(args: ReportArgs) -> Result<u8> {
    let dir = if args
        .dir
        .file_name()
        .is_some_and(|n| n == reports::REPORT_JSON)
    {
        args.dir.parent().map(PathBuf::from).unwrap_or_default()
    } else {
        args.dir.clone()
    };
    let options = reports::WriteOptions {
        junit: reports::JunitOptions {
            per_topic: args.junit_per_topic,
        },
    };
    let report = reports::rerender(&dir, options)?;
    println!("{}", reports::digest::verdict_line(&report));
    for name in [
        reports::SUMMARY_MD,
        reports::REPORT_HTML,
        reports::JUNIT_XML,
    ] {
        println!("  wrote {}", dir.join(name).display());
    }
    Ok(exit_code::OK)
}

#[derive(Args)]
pub struct DiffArgs {
    /// The baseline: a report.json (or the directory holding it).
    a: PathBuf,
    /// The run to compare with it.
    b: PathBuf,
}

fn report_json(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join(reports::REPORT_JSON)
    } else {
        p.to_path_buf()
    }
}

/// Exit 0 when B is no worse than A (outcome, anomaly counts), 1 when it is, 2 on error.
pub fn diff(args: DiffArgs) -> Result<u8> {
    let (pa, pb) = (report_json(&args.a), report_json(&args.b));
    let a = reports::load(&pa)?;
    let b = reports::load(&pb)?;
    let d = reports::diff(&a, &b, &pa.display().to_string(), &pb.display().to_string());
    println!("{}", d.text);
    Ok(if d.regressed {
        exit_code::FAILED
    } else {
        exit_code::OK
    })
}
