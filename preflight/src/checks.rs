//! The comparisons, on data already read from the clusters (no I/O here, so every rule is
//! unit-tested): topic existence, partition counts, topic configs, the ACLs a migrating
//! principal needs, and the copy-time estimate.

use std::collections::BTreeMap;

use harness::acl::CLUSTER_RESOURCE_NAME;
use harness::{permits, AclBinding, AclOperation, Decision, ResourceType};

use crate::model::{Check, CopyEstimate, Finding, Severity, Side, TopicPair};

/// Topic configs compared between source and target.
pub const COMPARED_CONFIGS: [&str; 7] = [
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "min.insync.replicas",
    "compression.type",
    "message.timestamp.type",
];

/// One topic as a cluster has it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicState {
    pub name: String,
    pub partitions: usize,
    /// Effective values (defaults included) of the compared configs.
    pub configs: BTreeMap<String, String>,
}

fn finding(check: Check, severity: Severity, side: Side, topic: &str) -> Finding {
    Finding {
        check,
        severity,
        side,
        topic: Some(topic.to_string()),
        subject: None,
        source_value: None,
        target_value: None,
        message: String::new(),
        fix: String::new(),
    }
}

/// Existence, partition count and configs of one source topic against its target.
pub fn compare_topic(
    source: &TopicState,
    target_name: &str,
    target: Option<&TopicState>,
) -> Vec<Finding> {
    let topic = source.name.as_str();
    let Some(target) = target else {
        return vec![Finding {
            message: format!("topic `{target_name}` does not exist on the target"),
            fix: format!(
                "create `{target_name}` on the target with {} partitions and the source's configs \
                 before the migration, or let the replicator create it (it then needs Create)",
                source.partitions
            ),
            source_value: Some(source.partitions.to_string()),
            ..finding(Check::TopicExists, Severity::Error, Side::Target, topic)
        }];
    };
    let mut out = Vec::new();
    if source.partitions != target.partitions {
        let fewer = target.partitions < source.partitions;
        out.push(Finding {
            subject: Some("partitions".into()),
            source_value: Some(source.partitions.to_string()),
            target_value: Some(target.partitions.to_string()),
            message: if fewer {
                format!(
                    "`{target_name}` has fewer partitions on the target ({} < {}): records of \
                     different source partitions would share a partition, so per-key order and \
                     key-to-partition placement break",
                    target.partitions, source.partitions
                )
            } else {
                format!(
                    "`{target_name}` has more partitions on the target ({} > {}): a copy that keeps \
                     partition numbers leaves the extra ones empty, and producers hashing keys \
                     after the cutover place keys differently",
                    target.partitions, source.partitions
                )
            },
            fix: if fewer {
                format!(
                    "add partitions on the target (`kafka-topics.sh --alter --topic {target_name} \
                     --partitions {}`) before copying",
                    source.partitions
                )
            } else {
                format!(
                    "recreate `{target_name}` with {} partitions if key placement matters, or \
                     accept it",
                    source.partitions
                )
            },
            ..finding(
                Check::Partitions,
                if fewer { Severity::Error } else { Severity::Warning },
                Side::Target,
                topic,
            )
        });
    }
    for key in COMPARED_CONFIGS {
        let s = source.configs.get(key);
        let t = target.configs.get(key);
        if s == t {
            continue;
        }
        let shown = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".into());
        let (severity, why) = config_difference(key, s, t);
        out.push(Finding {
            subject: Some(key.to_string()),
            source_value: Some(shown(s)),
            target_value: Some(shown(t)),
            message: format!(
                "`{key}` differs: source {}, target {}{why}",
                shown(s),
                shown(t)
            ),
            fix: format!(
                "set `{key}={}` on the target topic (`kafka-configs.sh --alter --entity-type topics \
                 --entity-name {target_name} --add-config {key}={}`), or accept the difference",
                shown(s),
                shown(s)
            ),
            ..finding(Check::Configs, severity, Side::Target, topic)
        });
    }
    out
}

/// How bad a config difference is, and why.
fn config_difference(
    key: &str,
    source: Option<&String>,
    target: Option<&String>,
) -> (Severity, &'static str) {
    let number = |v: Option<&String>| v.and_then(|v| v.parse::<i64>().ok());
    match key {
        "cleanup.policy" => (
            Severity::Error,
            ": a compacted topic copied into a deleting one loses old keys by time, and the \
             reverse keeps only the last record per key",
        ),
        "max.message.bytes" => match (number(source), number(target)) {
            (Some(s), Some(t)) if t < s => (
                Severity::Error,
                ": the target would reject batches the source accepts (RecordTooLarge)",
            ),
            _ => (Severity::Warning, ""),
        },
        _ => (Severity::Warning, ""),
    }
}

/// Where a principal needs an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub side: Side,
    /// The source topic it serves (grouping in the report); `None` for groups and
    /// transactional ids.
    pub topic: Option<String>,
    pub resource_type: ResourceType,
    /// The resource's name; for a prefixed requirement the prefix.
    pub name: String,
    /// Every name starting with `name` (transactional id prefixes).
    pub prefixed: bool,
    pub operation: AclOperation,
}

/// What the options ask of the migrating principals.
#[derive(Debug, Clone, Default)]
pub struct AclNeeds {
    pub group: Option<String>,
    pub transactional_id_prefix: Option<String>,
}

/// Every ACL the migrating principals need: Read + Describe on each source topic; Write +
/// Describe on each target topic and Create where it is missing; Read on the source group;
/// Write + Describe on the transactional ids (prefixed) on the target.
pub fn requirements(pairs: &[TopicPair], needs: &AclNeeds) -> Vec<Requirement> {
    let topic = |side, source: &str, name: &str, operation| Requirement {
        side,
        topic: Some(source.to_string()),
        resource_type: ResourceType::Topic,
        name: name.to_string(),
        prefixed: false,
        operation,
    };
    let mut out = Vec::new();
    for pair in pairs {
        for op in [AclOperation::Read, AclOperation::Describe] {
            out.push(topic(Side::Source, &pair.source, &pair.source, op));
        }
        for op in [AclOperation::Write, AclOperation::Describe] {
            out.push(topic(Side::Target, &pair.source, &pair.target, op));
        }
        if pair.target_partitions.is_none() {
            out.push(topic(
                Side::Target,
                &pair.source,
                &pair.target,
                AclOperation::Create,
            ));
        }
    }
    if let Some(group) = &needs.group {
        out.push(Requirement {
            side: Side::Source,
            topic: None,
            resource_type: ResourceType::Group,
            name: group.clone(),
            prefixed: false,
            operation: AclOperation::Read,
        });
    }
    if let Some(prefix) = &needs.transactional_id_prefix {
        for op in [AclOperation::Write, AclOperation::Describe] {
            out.push(Requirement {
                side: Side::Target,
                topic: None,
                resource_type: ResourceType::TransactionalId,
                name: prefix.clone(),
                prefixed: true,
                operation: op,
            });
        }
    }
    out
}

/// Whether `acls` grant one requirement.
fn decide(acls: &[AclBinding], principal: &str, req: &Requirement) -> Decision {
    // A prefixed need is met by ACLs covering every name with the prefix: `*`, or a prefixed
    // ACL whose prefix starts the wanted one. A name that only such ACLs match stands for all:
    // the prefix followed by a character no literal ACL name ends with.
    let name = if req.prefixed {
        format!("{}\u{0}", req.name)
    } else {
        req.name.clone()
    };
    let decision = permits(acls, principal, req.resource_type, &name, req.operation);
    // Create on the cluster also lets a principal create any topic.
    if req.operation == AclOperation::Create
        && req.resource_type == ResourceType::Topic
        && !decision.is_allowed()
        && !matches!(decision, Decision::Denied(_))
    {
        let on_cluster = permits(
            acls,
            principal,
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
            AclOperation::Create,
        );
        if on_cluster.is_allowed() {
            return on_cluster;
        }
    }
    decision
}

/// (source topic, resource type, name, prefixed): where operations are lacking.
type ResourceKey = (Option<String>, ResourceType, String, bool);

/// One finding per resource where `principal` lacks operations, naming them (and a DENY ACL
/// when one is in the way).
pub fn acl_findings(
    principal: &str,
    side: Side,
    acls: &[AclBinding],
    reqs: &[Requirement],
) -> Vec<Finding> {
    // (topic, resource type, name, prefixed) → lacking operations and the denying ACLs.
    let mut lacking: BTreeMap<ResourceKey, (Vec<AclOperation>, Vec<String>)> = BTreeMap::new();
    for req in reqs.iter().filter(|r| r.side == side) {
        let decision = decide(acls, principal, req);
        if decision.is_allowed() {
            continue;
        }
        let entry = lacking
            .entry((
                req.topic.clone(),
                req.resource_type,
                req.name.clone(),
                req.prefixed,
            ))
            .or_default();
        entry.0.push(req.operation);
        if let Decision::Denied(acl) = decision {
            entry.1.push(acl.to_string());
        }
    }
    let side_name = match side {
        Side::Source => "source",
        _ => "target",
    };
    lacking
        .into_iter()
        .map(|((topic, resource_type, name, prefixed), (ops, denied))| {
            let ops_text = ops.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", ");
            let pattern = if prefixed { "PREFIXED" } else { "LITERAL" };
            let resource = format!("{resource_type}:{pattern}:{name}");
            let why = if denied.is_empty() {
                " (no ACL grants it; only a super user, or allow.everyone.if.no.acl.found=true on \
                 a resource without ACLs, would be let through)"
                    .to_string()
            } else {
                format!(" (denied by: {})", denied.join("; "))
            };
            let add_ops = ops
                .iter()
                .map(|o| format!("--operation {o}"))
                .collect::<Vec<_>>()
                .join(" ");
            let kind = match resource_type {
                ResourceType::Topic => format!("--topic {name}"),
                ResourceType::Group => format!("--group {name}"),
                ResourceType::TransactionalId => format!("--transactional-id {name}"),
                ResourceType::Cluster => "--cluster".into(),
            };
            let pattern_flag = if prefixed { " --resource-pattern-type prefixed" } else { "" };
            Finding {
                check: Check::Acls,
                severity: Severity::Error,
                side,
                topic,
                subject: Some(format!("{principal} {ops_text} on {resource}")),
                source_value: None,
                target_value: None,
                message: format!("{principal} lacks {ops_text} on {resource} on the {side_name}{why}"),
                fix: format!(
                    "on the {side_name}: kafka-acls.sh --add --allow-principal {principal} {add_ops} \
                     {kind}{pattern_flag}{}",
                    if denied.is_empty() { "" } else { ", and remove the DENY ACL" }
                ),
            }
        })
        .collect()
}

/// Bytes and time of the copy: Σ records × each topic's sampled average size.
pub fn estimate(pairs: &[TopicPair], throughput_mb_per_sec: Option<f64>) -> CopyEstimate {
    let records: u64 = pairs.iter().map(|p| p.source_records).sum();
    let sampled: u64 = pairs.iter().map(|p| p.sampled_records).sum();
    // A topic without a sample (empty, or unreadable in time) is sized at the overall average.
    let (sampled_bytes, sampled_n) = pairs
        .iter()
        .filter_map(|p| {
            p.average_record_bytes
                .map(|a| (a * p.sampled_records as f64, p.sampled_records))
        })
        .fold((0.0, 0u64), |(b, n), (pb, pn)| (b + pb, n + pn));
    let overall = (sampled_n > 0).then(|| sampled_bytes / sampled_n as f64);
    let bytes: f64 = pairs
        .iter()
        .map(|p| p.source_records as f64 * p.average_record_bytes.or(overall).unwrap_or(0.0))
        .sum();
    let bytes = bytes.round() as u64;
    let seconds = throughput_mb_per_sec.map(|t| bytes as f64 / (t * 1_000_000.0));
    let mut basis = format!(
        "an estimate: {records} records (high − low watermark, summed over the selected source \
         partitions; transaction markers and compacted-away offsets make it an upper bound) × \
         the average size of {sampled} records sampled from the partitions' tails (key + value + \
         headers, no protocol overhead)"
    );
    match throughput_mb_per_sec {
        Some(t) => basis.push_str(&format!(", at the given {t} MB/s")),
        None => basis.push_str("; give --throughput-mb-per-sec (measured) for a time"),
    }
    CopyEstimate {
        source_records: records,
        estimated_bytes: bytes,
        throughput_mb_per_sec,
        estimated_seconds: seconds,
        basis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::PatternType;

    fn state(name: &str, partitions: usize, configs: &[(&str, &str)]) -> TopicState {
        TopicState {
            name: name.into(),
            partitions,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn pair(source: &str, target: &str, target_partitions: Option<usize>) -> TopicPair {
        TopicPair {
            source: source.into(),
            target: target.into(),
            source_partitions: 3,
            target_partitions,
            source_records: 0,
            sampled_records: 0,
            average_record_bytes: None,
        }
    }

    #[test]
    fn a_missing_target_topic_is_an_error() {
        let f = compare_topic(&state("orders", 3, &[]), "mig.orders", None);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].check, f[0].severity),
            (Check::TopicExists, Severity::Error)
        );
        assert!(f[0].message.contains("mig.orders"));
    }

    #[test]
    fn fewer_target_partitions_is_an_error_more_a_warning() {
        let fewer = compare_topic(&state("a", 6, &[]), "a", Some(&state("a", 3, &[])));
        assert_eq!(fewer[0].severity, Severity::Error);
        assert_eq!(fewer[0].target_value.as_deref(), Some("3"));
        let more = compare_topic(&state("a", 3, &[]), "a", Some(&state("a", 6, &[])));
        assert_eq!(more[0].severity, Severity::Warning);
        assert!(compare_topic(&state("a", 3, &[]), "a", Some(&state("a", 3, &[]))).is_empty());
    }

    #[test]
    fn config_severities() {
        let s = state(
            "t",
            1,
            &[
                ("cleanup.policy", "compact"),
                ("max.message.bytes", "2000000"),
                ("retention.ms", "1000"),
            ],
        );
        let t = state(
            "t",
            1,
            &[
                ("cleanup.policy", "delete"),
                ("max.message.bytes", "1000000"),
                ("retention.ms", "2000"),
            ],
        );
        let f = compare_topic(&s, "t", Some(&t));
        let by_key = |k: &str| {
            f.iter()
                .find(|f| f.subject.as_deref() == Some(k))
                .unwrap()
                .severity
        };
        assert_eq!(by_key("cleanup.policy"), Severity::Error);
        assert_eq!(by_key("max.message.bytes"), Severity::Error);
        assert_eq!(by_key("retention.ms"), Severity::Warning);
        // A larger max.message.bytes on the target only warns.
        let f = compare_topic(
            &t,
            "t",
            Some(&state(
                "t",
                1,
                &[
                    ("cleanup.policy", "delete"),
                    ("max.message.bytes", "2000000"),
                    ("retention.ms", "2000"),
                ],
            )),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn acl_needs_name_each_lacking_operation() {
        let pairs = vec![
            pair("orders", "mig.orders", Some(3)),
            pair("payments", "mig.payments", None),
        ];
        let needs = AclNeeds {
            group: Some("mig".into()),
            transactional_id_prefix: Some("cutover-".into()),
        };
        let reqs = requirements(&pairs, &needs);
        let p = "User:replicator";
        let target_acls = vec![
            AclBinding::allow(
                p,
                AclOperation::Write,
                ResourceType::Topic,
                "mig.",
                PatternType::Prefixed,
            ),
            AclBinding::allow(
                p,
                AclOperation::Write,
                ResourceType::TransactionalId,
                "cutover-",
                PatternType::Literal,
            ),
        ];
        let f = acl_findings(p, Side::Target, &target_acls, &reqs);
        let subjects: Vec<_> = f.iter().map(|f| f.subject.clone().unwrap()).collect();
        // Write implies Describe on the topics; payments is missing, so it needs Create; the
        // literal transactional id ACL does not cover the prefix.
        assert_eq!(
            subjects,
            vec![
                "User:replicator Write, Describe on TransactionalId:PREFIXED:cutover-".to_string(),
                "User:replicator Create on Topic:LITERAL:mig.payments".to_string(),
            ],
            "{f:#?}"
        );
        // Create on the cluster covers topic creation.
        let mut with_cluster = target_acls.clone();
        with_cluster.push(AclBinding::allow(
            p,
            AclOperation::Create,
            ResourceType::Cluster,
            "kafka-cluster",
            PatternType::Literal,
        ));
        with_cluster.push(AclBinding::allow(
            p,
            AclOperation::Write,
            ResourceType::TransactionalId,
            "cut",
            PatternType::Prefixed,
        ));
        assert!(acl_findings(p, Side::Target, &with_cluster, &reqs).is_empty());
        // The source needs Read on topics and the group; a DENY is named.
        let source_acls = vec![
            AclBinding::allow(
                "User:*",
                AclOperation::Read,
                ResourceType::Topic,
                "*",
                PatternType::Literal,
            ),
            AclBinding::deny(
                p,
                AclOperation::Read,
                ResourceType::Topic,
                "payments",
                PatternType::Literal,
            ),
        ];
        let f = acl_findings(p, Side::Source, &source_acls, &reqs);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert!(f
            .iter()
            .any(|f| f.message.contains("denied by: User:replicator has Deny")));
        assert!(f
            .iter()
            .any(|f| f.subject.as_deref() == Some("User:replicator Read on Group:LITERAL:mig")));
    }

    #[test]
    fn estimate_uses_each_topics_average_and_the_throughput() {
        let mut a = pair("a", "a", Some(1));
        a.source_records = 1000;
        a.sampled_records = 200;
        a.average_record_bytes = Some(100.0);
        let mut b = pair("b", "b", Some(1));
        b.source_records = 500;
        // b has no sample: sized at the overall average (100).
        let e = estimate(&[a, b], Some(0.15));
        assert_eq!(e.source_records, 1500);
        assert_eq!(e.estimated_bytes, 150_000);
        assert_eq!(e.estimated_seconds, Some(1.0));
        assert!(e.basis.starts_with("an estimate"));
        assert_eq!(estimate(&[], None).estimated_seconds, None);
    }
}
