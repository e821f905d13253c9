//! `cutover plan --resources PATH…`: the migration order from the teams' own declarations
//! (ns4kafka, Strimzi). Exit 0 with an order, 1 when namespaces feed each other (a cycle:
//! printed with the topics that close it), 2 when the declarations cannot be read.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::{Args, ValueEnum};

use crate::exit_code;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The replication step, the waves, cycles and a Mermaid picture.
    Markdown,
    /// `waves` (a list of lists of namespace names, in the order they move), topics with their
    /// writers and readers, the flow graph, cycles.
    Json,
    /// The flow graph alone as a Mermaid flowchart (writer → reader, labelled with topics).
    Mermaid,
}

#[derive(Args)]
pub struct PlanArgs {
    /// ns4kafka or Strimzi resource YAML: files or directories (`*.yml`, `*.yaml`, searched
    /// recursively), each file `---` separated documents. Repeatable.
    #[arg(long = "resources", required = true, value_name = "PATH")]
    resources: Vec<PathBuf>,
    /// The ns4kafka namespace of documents that leave `metadata.namespace` out (as `kafkactl
    /// -n NAME apply` does).
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
}

pub fn run(args: PlanArgs) -> Result<u8> {
    let decls = declarations::load(&args.resources, args.namespace.as_deref())
        .map_err(|e| anyhow!("{e}"))?;
    for warning in decls.warnings() {
        eprintln!("warning: {warning}");
    }
    let plan = declarations::plan::plan(&decls);
    let out = match args.format {
        Format::Markdown => plan.markdown(),
        Format::Json => plan.json() + "\n",
        Format::Mermaid => plan.mermaid(),
    };
    print!("{out}");
    Ok(if plan.cycles.is_empty() {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}
