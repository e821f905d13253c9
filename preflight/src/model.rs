//! The preflight report: findings with severities, what each cluster is, the selected topics
//! and the copy-time estimate. Serde model with a `schema_version` (additive within a major).

use serde::{Deserialize, Serialize};

/// Version of the JSON document; bump the major on a breaking change.
pub const SCHEMA_VERSION: u32 = 1;

pub use reports::Severity;

/// Which check made a finding (one JUnit test case per check per topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The target topic exists.
    TopicExists,
    /// Partition counts match.
    Partitions,
    /// The compared topic configs match.
    Configs,
    /// The migrating principals hold the ACLs they need.
    Acls,
    /// Cluster id, broker count, Kafka version.
    Cluster,
    /// The copy-time estimate.
    Estimate,
    /// Schema registries: reachable, no conflicting subjects between sources.
    Registries,
}

impl Check {
    /// Checks made per topic, in report order.
    pub const PER_TOPIC: [Check; 4] = [
        Check::TopicExists,
        Check::Partitions,
        Check::Configs,
        Check::Acls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::TopicExists => "topic_exists",
            Check::Partitions => "partitions",
            Check::Configs => "configs",
            Check::Acls => "acls",
            Check::Cluster => "cluster",
            Check::Estimate => "estimate",
            Check::Registries => "registries",
        }
    }
}

/// Which cluster a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
    Both,
}

/// One thing preflight found, with what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    pub side: Side,
    /// The source topic; `None` for cluster-wide findings.
    pub topic: Option<String>,
    /// What exactly differs: a config key, `User:x Write on Topic:orders`, …
    pub subject: Option<String>,
    /// The source's value, if the finding compares values.
    pub source_value: Option<String>,
    /// The target's value, if the finding compares values.
    pub target_value: Option<String>,
    pub message: String,
    pub fix: String,
}

/// How preflight learnt (or could not learn) a cluster's Kafka version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// e.g. `metadata.version 4.1-IV1`; `None` when unknown.
    pub value: Option<String>,
    /// How it was found, or why it is unknown.
    pub note: String,
}

/// What preflight learnt about one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub bootstrap_servers: String,
    pub cluster_id: Option<String>,
    pub broker_count: usize,
    pub kafka_version: VersionInfo,
    /// `enabled`, `disabled` (no authorizer) or `unknown` (with the reason in a finding).
    pub authorizer: String,
}

/// One selected source topic and its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicPair {
    pub source: String,
    pub target: String,
    pub source_partitions: usize,
    /// `None` when the target topic is missing.
    pub target_partitions: Option<usize>,
    /// Σ (high watermark − low watermark) over the source partitions.
    pub source_records: u64,
    /// Records read from the tail to size them.
    pub sampled_records: u64,
    /// Average bytes (key + value + headers) of the sampled records.
    pub average_record_bytes: Option<f64>,
}

/// How long the copy may take, and from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyEstimate {
    pub source_records: u64,
    pub estimated_bytes: u64,
    pub throughput_mb_per_sec: Option<f64>,
    /// `None` without a throughput figure.
    pub estimated_seconds: Option<f64>,
    /// What the figure rests on, in words.
    pub basis: String,
}

/// Finding counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub topics: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// The whole preflight result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    pub schema_version: u32,
    pub topics_regex: String,
    pub rename_prefix: String,
    pub principals: Vec<String>,
    pub source: ClusterInfo,
    pub target: ClusterInfo,
    pub summary: Summary,
    pub topics: Vec<TopicPair>,
    pub estimate: CopyEstimate,
    pub findings: Vec<Finding>,
}

impl PreflightReport {
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    /// Sorts the findings (topic, check, severity) and recounts the summary.
    pub fn finish(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.topic, a.check, a.severity, &a.subject)
                .cmp(&(&b.topic, b.check, b.severity, &b.subject))
        });
        let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
        self.summary = Summary {
            topics: self.topics.len(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
        };
    }
}
