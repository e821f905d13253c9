//! `cutover plan --resources PATH…`: the migration order from the teams' own declarations
//! (ns4kafka, Strimzi). Exit 0 with an order, 1 when namespaces feed each other (a cycle:
//! printed with the topics that close it), 2 when the declarations cannot be read.
//! With `--source S.properties`, the source's consumer groups (listed, their committed offsets
//! read, never joined) read for the namespaces owning them; 2 when it cannot be reached.
//!
//! `cutover plan --export ns4kafka|strimzi --source S.properties`: what the source holds
//! (topics with their non-default configs, ACLs) as declarations to review and commit; exit 0,
//! 2 when the cluster cannot be reached.

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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Export {
    /// ns4kafka `Topic` and `AccessControlEntry` documents.
    Ns4kafka,
    /// Strimzi `KafkaTopic` and `KafkaUser` documents.
    Strimzi,
}

#[derive(Args)]
pub struct PlanArgs {
    /// ns4kafka or Strimzi resource YAML: files or directories (`*.yml`, `*.yaml`, searched
    /// recursively), each file `---` separated documents. Repeatable.
    #[arg(
        long = "resources",
        required_unless_present = "export",
        value_name = "PATH"
    )]
    resources: Vec<PathBuf>,
    /// Instead of a plan: write what the --source cluster holds (topics with their non-default
    /// configs, ACLs) as ns4kafka or Strimzi declarations, for review before the move.
    #[arg(long, value_enum, requires = "source", conflicts_with = "resources")]
    export: Option<Export>,
    /// Java client properties of the source cluster. With --export: the cluster to export.
    /// With --resources: its consumer groups and the topics they hold committed offsets on
    /// (read-only: listed and fetched, never joined) become readers of those topics for the
    /// namespaces owning the groups (OWNER entries of type GROUP, Strimzi Read rules); groups
    /// no namespace owns are listed as unowned readers.
    #[arg(long, value_name = "FILE")]
    source: Option<PathBuf>,
    /// Write the output to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Timeout of reaching the --source cluster and of each request, in seconds.
    #[arg(long, value_name = "N", default_value_t = 30)]
    timeout_secs: u64,
    /// The ns4kafka namespace of documents that leave `metadata.namespace` out (as `kafkactl
    /// -n NAME apply` does); with --export ns4kafka, the `metadata.namespace` written.
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
}

fn emit(out: Option<&PathBuf>, text: &str) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| anyhow!("writing --out {}: {e}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The --source client properties (parser messages redacted: they can quote a secret line).
fn source_props(path: &std::path::Path) -> Result<harness::ClientProps> {
    harness::ClientProps::from_file(path)
        .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))
}

/// `--export`: the source's topics and ACLs as declarations.
async fn export(args: &PlanArgs, kind: Export) -> Result<u8> {
    let path = args
        .source
        .as_ref()
        .ok_or_else(|| anyhow!("--export needs --source FILE"))?;
    let props = source_props(path)?;
    let (topics, acls, notes) = preflight::declared::holdings(
        &props,
        std::time::Duration::from_secs(args.timeout_secs.max(1)),
    )
    .await
    .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))?;
    for note in notes {
        eprintln!("note: {note}");
    }
    let text = match kind {
        Export::Ns4kafka => {
            declarations::export::ns4kafka(&topics, &acls, args.namespace.as_deref())
        }
        Export::Strimzi => declarations::export::strimzi(&topics, &acls),
    };
    emit(args.out.as_ref(), &text)?;
    Ok(exit_code::OK)
}

pub async fn run(args: PlanArgs) -> Result<u8> {
    if let Some(kind) = args.export {
        return export(&args, kind).await;
    }
    let decls = declarations::load(&args.resources, args.namespace.as_deref())
        .map_err(|e| anyhow!("{e}"))?;
    for warning in decls.warnings() {
        eprintln!("warning: {warning}");
    }
    let live = match &args.source {
        None => vec![],
        Some(path) => {
            let props = source_props(path)?;
            let (groups, notes) = preflight::declared::live_groups(
                &props,
                std::time::Duration::from_secs(args.timeout_secs.max(1)),
            )
            .await
            .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))?;
            for note in notes {
                eprintln!("note: {note}");
            }
            groups
        }
    };
    let plan = declarations::plan::plan_with_groups(&decls, &live);
    let out = match args.format {
        Format::Markdown => plan.markdown(),
        Format::Json => plan.json() + "\n",
        Format::Mermaid => plan.mermaid(),
    };
    emit(args.out.as_ref(), &out)?;
    Ok(if plan.cycles.is_empty() {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}
