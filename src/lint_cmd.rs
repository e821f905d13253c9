//! `cutover lint CONFIG…`: migration-config rules without a cluster. Exit 0 clean or warnings
//! only, 1 on any error finding, 2 when a file cannot be read, parsed or recognised.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::{Args, ValueEnum};

use crate::exit_code;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

#[derive(Args)]
pub struct LintArgs {
    /// Configuration files: built-in replicator TOML, MirrorMaker 2 mm2.properties, Kafka
    /// Connect worker properties, connector JSON as the Connect REST API returns it (one
    /// connector, its config, or `GET /connectors?expand=info`) or connector properties. Workers
    /// and connectors given together are judged as one Connect cluster.
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The migration must be exactly-once: MirrorMaker 2 and the built-in replicator must run
    /// in their exactly-once modes, Connect workers with exactly.once.source.support=enabled.
    #[arg(long)]
    require_exactly_once: bool,
    /// Total partitions of the replicated topics (checks tasks.max).
    #[arg(long, value_name = "N")]
    partitions: Option<u32>,
    /// Measured round-trip time between the replicator and the remote cluster, in ms.
    #[arg(long, value_name = "N", requires = "link_bandwidth_mbps")]
    link_rtt_ms: Option<f64>,
    /// Measured bandwidth of that link, in Mbit/s.
    #[arg(long, value_name = "N", requires = "link_rtt_ms")]
    link_bandwidth_mbps: Option<f64>,
    /// The Kafka version whose MirrorMaker 2 will run the configs (e.g. 3.4.0): adds the rules
    /// for MirrorMaker 2 defects fixed in later releases (MMV001…). Wins over a file's
    /// `# kafka.version = V` comment.
    #[arg(long, value_name = "V")]
    kafka_version: Option<lint::KafkaVersion>,
    /// How many source schema registries the target cluster's registry merges: 2 or more
    /// warns (SCH001) when MirrorMaker 2 copies topics whose records carry schema ids.
    #[arg(long, value_name = "N")]
    merged_registries: Option<u32>,
    /// Source topics whose record values carry schema ids (comma-separated names, e.g. the
    /// topics of your registries' `<topic>-value` subjects); narrows SCH001 to those copied.
    #[arg(long, value_name = "TOPICS", value_delimiter = ',')]
    schema_topics: Vec<String>,
}

pub fn run(args: LintArgs) -> Result<u8> {
    let link = match (args.link_rtt_ms, args.link_bandwidth_mbps) {
        (Some(rtt_ms), Some(bandwidth_mbps)) => {
            if !(rtt_ms > 0.0 && bandwidth_mbps > 0.0) {
                return Err(anyhow!(
                    "--link-rtt-ms and --link-bandwidth-mbps must be positive numbers"
                ));
            }
            Some(lint::Link {
                rtt_ms,
                bandwidth_mbps,
            })
        }
        _ => None,
    };
    let options = lint::Options {
        require_exactly_once: args.require_exactly_once,
        partitions: args.partitions,
        link,
        kafka_version: args.kafka_version,
        merged_registries: args.merged_registries,
        schema_topics: args.schema_topics,
    };
    let paths: Vec<&std::path::Path> = args.configs.iter().map(PathBuf::as_path).collect();
    // Parser messages can quote the offending line, secrets and all.
    let report = lint::lint_paths(&paths, &options)
        .map_err(|e| anyhow!(reports::redact::redact_text(&e.to_string())))?;
    let out = match args.format {
        Format::Text => lint::render::text(&report),
        Format::Json => lint::render::json(&report) + "\n",
        Format::Junit => lint::render::junit(&report)? + "\n",
    };
    print!("{out}");
    Ok(if report.has_errors() {
        exit_code::FAILED
    } else {
        exit_code::OK
    })
}
