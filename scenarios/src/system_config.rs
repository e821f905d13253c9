//! What a system under test is configured with, as pure functions of the scenario file: the
//! built-in replicator's `replicator.toml` (checked by the replicator's own loader) and the
//! checks of a `mirrormaker2` system's fields. Scenario validation (`spec`) and the runtime
//! (`system`, `mirrormaker`, `runner`) both call these; nothing here starts a process or
//! touches a cluster, so validating a scenario never reaches runtime code.

use std::collections::BTreeMap;

use workload::WorkloadSpec;

use crate::error::ScenarioError;
use crate::spec::{ReplicationPolicy, Side, SystemSpec};

/// The replicator config a `builtin` system runs with, as TOML text, checked by the replicator.
pub fn builtin_config(
    system: &SystemSpec,
    source: &harness::ClientProps,
    target: &harness::ClientProps,
    workload: &WorkloadSpec,
) -> Result<String, ScenarioError> {
    let SystemSpec::Builtin {
        replication,
        tuning,
        source_properties,
        target_properties,
        ..
    } = system
    else {
        return Err(ScenarioError::System("not a builtin system".into()));
    };
    let mut replication = replication.clone();
    replication
        .entry("group_id")
        .or_insert_with(|| toml::Value::String("cutover-builtin".into()));
    replication.entry("include").or_insert_with(|| {
        toml::Value::Array(
            workload
                .topics
                .names()
                .iter()
                .map(|t| toml::Value::String(regex::escape(t)))
                .collect(),
        )
    });
    replication
        .entry("topic_refresh_interval_ms")
        .or_insert(toml::Value::Integer(2000));
    let mut doc = toml::Table::new();
    doc.insert("replication".into(), toml::Value::Table(replication));
    doc.insert("tuning".into(), toml::Value::Table(tuning.clone()));
    let props = |cluster: &harness::ClientProps, extra: &BTreeMap<String, String>| {
        let mut t = toml::Table::new();
        for (k, v) in cluster.iter() {
            t.insert(k.into(), toml::Value::String(v.into()));
        }
        for (k, v) in extra {
            t.insert(k.clone(), toml::Value::String(v.clone()));
        }
        toml::Value::Table(t)
    };
    doc.insert("source".into(), props(source, source_properties));
    doc.insert("target".into(), props(target, target_properties));
    let text = toml::to_string(&doc).map_err(|e| ScenarioError::System(e.to_string()))?;
    replicator::ReplicatorConfig::from_toml(&text, "").map_err(|e| match e {
        replicator::ReplicatorError::Config(e) => {
            let field = if e.field.is_empty() {
                "system".into()
            } else {
                format!("system.{}", e.field)
            };
            located::Located::new("", &field, e.reason).into()
        }
        other => ScenarioError::System(format!("replicator config: {other}")),
    })?;
    Ok(text)
}

/// Checks the fields of a `mirrormaker2` system; errors are (field, reason).
pub fn check_mirrormaker2(system: &SystemSpec) -> Result<(), (String, String)> {
    let SystemSpec::Mirrormaker2 {
        exactly_once,
        tasks_max,
        replication_policy,
        consumer,
        producer,
        worker,
        sync_group_offsets,
        emit_checkpoints_interval_secs,
        offset_syncs_topic_location,
        properties,
        config_file,
        grace_secs,
        heap_mb,
        ..
    } = system
    else {
        return Ok(());
    };
    if *tasks_max == 0 {
        return Err(("tasks_max".into(), "expected at least 1".into()));
    }
    if *heap_mb < 128 {
        return Err((
            "heap_mb".into(),
            "expected at least 128 (MiB); Connect needs room for its REST server".into(),
        ));
    }
    if grace_secs.is_nan() || *grace_secs <= 0.0 {
        return Err((
            "grace_secs".into(),
            "expected a positive number of seconds".into(),
        ));
    }
    if emit_checkpoints_interval_secs == &Some(0) {
        return Err((
            "emit_checkpoints_interval_secs".into(),
            "expected a positive number of seconds".into(),
        ));
    }
    for (table, map) in [
        ("consumer", consumer),
        ("producer", producer),
        ("worker", worker),
        ("properties", properties),
    ] {
        for (k, v) in map {
            if k.trim().is_empty() || k.contains(['\n', '\r']) || v.contains(['\n', '\r']) {
                return Err((
                    format!("{table}.{k}"),
                    "keys must be non-empty and neither keys nor values may span lines".into(),
                ));
            }
        }
    }
    if config_file.is_some() {
        let set = [
            ("exactly_once", *exactly_once),
            ("tasks_max", *tasks_max != crate::spec::default_tasks_max()),
            (
                "replication_policy",
                *replication_policy != ReplicationPolicy::Default,
            ),
            ("consumer", !consumer.is_empty()),
            ("producer", !producer.is_empty()),
            ("worker", !worker.is_empty()),
            ("sync_group_offsets", *sync_group_offsets),
            (
                "emit_checkpoints_interval_secs",
                emit_checkpoints_interval_secs.is_some(),
            ),
            (
                "offset_syncs_topic_location",
                *offset_syncs_topic_location != Side::Source,
            ),
            ("properties", !properties.is_empty()),
        ];
        if let Some((field, _)) = set.iter().find(|(_, on)| *on) {
            return Err((
                (*field).into(),
                "config_file is used verbatim: set this in the file instead".into(),
            ));
        }
    }
    Ok(())
}
