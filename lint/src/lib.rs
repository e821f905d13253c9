//! # lint
//!
//! `cutover lint`: checks migration configurations before they run, without a cluster — the
//! built-in replicator's TOML, MirrorMaker 2 `mm2.properties`, Kafka Connect distributed
//! workers' properties, and connector configs: Confluent Replicator, MirrorMaker 2's connectors
//! deployed on Connect, or any other connector, as properties or as JSON the way the Connect REST
//! API returns it (`GET /connectors/{name}`, `…/config`, `GET /connectors?expand=info` with one
//! report per connector). Each rule has a stable id, a severity, the file and line and a
//! concrete fix; the rules come from the seed migration's pains and from each tool's own
//! documentation and source (`docs/lint-rules.md` names the source of every rule). Some rules
//! look across files: the workers and connectors given in one invocation are taken as one
//! Connect cluster (exactly-once on every worker of a `group.id`, a connector that requires it).
//!
//! It must not connect to anything, and must not let a secret through: every value it echoes is
//! redacted with the `reports` crate's helpers.
//!
//! Modules: [`properties`] (Java properties with the line of every key), [`input`] (what a file
//! is, parsed), [`rest`] (connector JSON in the Connect REST API's shapes, with key lines),
//! [`rules`] (the rule registry and the checks per tool), [`render`] (text, JSON,
//! JUnit), [`version`] (the Kafka version a MirrorMaker 2 config will run on, for the rules of
//! defects fixed in later releases).

pub mod error;
pub mod input;
pub mod properties;
pub mod render;
pub mod rest;
pub mod rules;
pub mod version;

use std::path::Path;

use serde::Serialize;

pub use error::LintError;
pub use rules::{Rule, RULES};
pub use version::KafkaVersion;

/// Version of the JSON output; additive changes only within a major.
pub const SCHEMA_VERSION: u32 = 1;

pub use reports::Severity;

/// The replication tool a configuration file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// cutover's built-in replicator (`replicator.toml`).
    Builtin,
    /// Apache Kafka MirrorMaker 2, dedicated mode (`mm2.properties`).
    MirrorMaker2,
    /// Confluent Replicator (`io.confluent.connect.replicator.ReplicatorSourceConnector`).
    ConfluentReplicator,
    /// A Kafka Connect worker in distributed mode (`connect-distributed.properties`: `group.id`
    /// and the config/offset/status storage topics).
    ConnectWorker,
    /// Any other Kafka Connect connector (MirrorMaker 2's `MirrorSourceConnector`,
    /// `MirrorCheckpointConnector`, `MirrorHeartbeatConnector` deployed on Connect, or another
    /// class), with class-specific checks where the class is known.
    Connector,
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tool::Builtin => "built-in replicator",
            Tool::MirrorMaker2 => "MirrorMaker 2",
            Tool::ConfluentReplicator => "Confluent Replicator",
            Tool::ConnectWorker => "Kafka Connect worker",
            Tool::Connector => "Kafka Connect connector",
        })
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable rule id (`REP001`), documented in `docs/lint-rules.md`.
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    /// 1-based line of the key at fault, or of the line the missing key belongs next to.
    pub line: usize,
    /// The key at fault (or the key to add).
    pub key: String,
    /// The value found, redacted when the key holds a secret; absent when the key is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub message: String,
    /// What to change, concretely.
    pub fix: String,
}

/// The findings of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The path as given; `path#connector` for each connector of a `GET /connectors?expand=info`
    /// document.
    pub file: String,
    pub tool: Tool,
    pub findings: Vec<Finding>,
}

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// Everything one `cutover lint` invocation found.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    pub schema_version: u32,
    pub files: Vec<FileReport>,
    pub summary: Summary,
}

impl LintReport {
    pub fn new(files: Vec<FileReport>) -> LintReport {
        let mut summary = Summary {
            files: files.len(),
            ..Summary::default()
        };
        for f in files.iter().flat_map(|f| &f.findings) {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
        LintReport {
            schema_version: SCHEMA_VERSION,
            files,
            summary,
        }
    }

    /// True when any finding is an error (the CLI exits 1).
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

/// A measured network link between the replicator and the remote cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    pub rtt_ms: f64,
    pub bandwidth_mbps: f64,
}

impl Link {
    /// Bandwidth-delay product in bytes: what must be in flight to fill the link.
    pub fn bdp_bytes(&self) -> u64 {
        (self.bandwidth_mbps * 1_000_000.0 / 8.0 * self.rtt_ms / 1000.0).ceil() as u64
    }
}

/// What the rules may assume about the migration (from the command line).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The migration must be exactly-once (no duplicates): MM2 and the built-in replicator must
    /// run in their exactly-once modes, and every Connect worker with
    /// `exactly.once.source.support=enabled`.
    pub require_exactly_once: bool,
    /// Total partitions of the replicated topics, when known.
    pub partitions: Option<u32>,
    /// The measured link, when known.
    pub link: Option<Link>,
    /// The Kafka version whose MirrorMaker 2 runs the configs (`--kafka-version`); overrides a
    /// file's `# kafka.version = V` comment. Known, it adds the version rules (`MMV…`).
    pub kafka_version: Option<KafkaVersion>,
    /// How many source schema registries the target cluster's registry merges
    /// (`--merged-registries`); 2 or more adds SCH001 (ids copied untranslated).
    pub merged_registries: Option<u32>,
    /// Source topics whose record values carry schema ids (Confluent wire format,
    /// `--schema-topics`); empty: unknown, any copied topic may.
    pub schema_topics: Vec<String>,
}

/// Lints one file on its own: one report, or one per connector of a `GET
/// /connectors?expand=info` document (the cross-file rules see only this file).
pub fn lint_file(path: &Path, options: &Options) -> Result<Vec<FileReport>, LintError> {
    let configs = input::load(path)?;
    Ok(rules::check_all(&configs, options))
}

/// Lints every file, in order; the first file that cannot be read or parsed stops it. The
/// Connect workers and connectors among them are judged together as one Connect cluster (see
/// CON002 and CON003 in `docs/lint-rules.md`).
pub fn lint_paths(paths: &[&Path], options: &Options) -> Result<LintReport, LintError> {
    let mut configs = Vec::new();
    for path in paths {
        configs.extend(input::load(path)?);
    }
    Ok(LintReport::new(rules::check_all(&configs, options)))
}
