//! # rehearse — `cutover rehearse`: a rehearsal against live clusters cutover did not create (staging or
//! production), through the `external` backend.
//!
//! Two parts, both optional, in a rehearsal file (TOML):
//! - a **read-only window check** of the selected real topics (`[rehearsal] topics`): the
//!   last `window_records` of every source partition, as of the start of the check, are
//!   fingerprinted and looked up in the same target partition until all are there or
//!   `lag_bound_secs` passes. It counts missing and duplicated records exactly for that window
//!   and measures the replication lag as observed. Nothing is written anywhere.
//! - a **canary run**, only with `allow_writes = true`: a workload (transactions included) in
//!   dedicated topics named `cutover.rehearsal.<run id>.<n>`, created and deleted by cutover,
//!   copied by the user's running replication (`[system] kind = "running"`, the default) or
//!   by a system cutover starts (`builtin`, `command`, `mirrormaker2`); then the exact verdict,
//!   lag, end-to-end delay and the cutover downtime estimate of a `cutover run`. Canary
//!   topics, the built-in replicator's internal topics and its consumer group are removed
//!   afterwards on both clusters, on failure and Ctrl-C too.
//!
//! With `[registries]` (existing schema registries: URL, basic auth), the sources are verified
//! as merged into the target (`cutover verify-schemas`, the report's registry section) and the
//! window check compares framed records of the topics a source registry claims by schema
//! content and payload, not by id.
//!
//! Without `allow_writes = true` cutover never writes to either cluster: no topic, no group,
//! no offset commit.
//!
//! It borrows from `scenarios` (the scenario format, the runner of the canary run, the
//! registries' section) and from `verify` (the window check); nothing there depends on it.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use harness::{Admin, ClientProps, ClusterSpec};
use reports::RunClass;
use serde::Deserialize;
use tokio::time::Instant;

use scenarios::runner::{RunOptions, RunReport};
use scenarios::spec::{parse_toml, About, RunSpec, Scenario, SystemSpec};
use scenarios::ScenarioError;

/// Every canary topic starts with this.
pub const CANARY_PREFIX: &str = "cutover.rehearsal.";

/// A rehearsal file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rehearsal {
    pub rehearsal: RehearsalSpec,
    #[serde(default)]
    pub canary: CanarySpec,
    /// Who copies the canaries: the user's replication (`kind = "running"`, the default) or a
    /// system cutover starts, as in a scenario file.
    #[serde(default)]
    pub system: Option<SystemSpec>,
    /// Existing schema registries (`[registries]`): verified as a merge of the sources into the
    /// target, and used to compare framed records of the window check by schema content.
    #[serde(default)]
    pub registries: Option<scenarios::registries::ExternalRegistries>,
    #[serde(skip)]
    pub text: String,
    #[serde(skip)]
    pub origin: String,
}

/// What to check and whether writing is allowed.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehearsalSpec {
    /// The rehearsal's name (report title).
    #[serde(default = "default_name")]
    pub name: String,
    /// Canary topics are written (and deleted) only when true.
    #[serde(default)]
    pub allow_writes: bool,
    /// Real topics checked read-only (a regex matching whole names).
    #[serde(default)]
    pub topics: Option<String>,
    /// How the replication names target topics: `<prefix><source name>` (MirrorMaker 2's
    /// default policy: `<source alias>.`); also used for the canaries.
    #[serde(default)]
    pub rename_prefix: String,
    /// Records per partition in each window of the read-only check.
    #[serde(default = "default_window")]
    pub window_records: u64,
    /// How long a window may take to be complete on the target.
    #[serde(default = "default_lag_bound")]
    pub lag_bound_secs: f64,
}

/// The canary workload.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// Canary topics (`cutover.rehearsal.<run>.<n>`), created and deleted by the rehearsal.
    #[serde(default = "one")]
    pub topics: u32,
    /// Partitions of each canary topic.
    #[serde(default = "three")]
    pub partitions: i32,
    /// Default: the cluster's broker count, at most 3.
    #[serde(default)]
    pub replication_factor: Option<i32>,
    /// Canary records per second, all topics.
    #[serde(default = "default_rate")]
    pub records_per_sec: u64,
    /// How long the canaries are written, in seconds.
    #[serde(default = "default_duration")]
    pub duration_secs: f64,
    /// After writing: how long the replication may take to catch up, in seconds.
    #[serde(default = "default_drain")]
    pub drain_timeout_secs: f64,
    /// A transactional producer with aborted transactions beside the idempotent one: aborted
    /// records must not reach the target.
    #[serde(default = "yes")]
    pub transactions: bool,
}

impl Default for CanarySpec {
    fn default() -> Self {
        CanarySpec {
            topics: one(),
            partitions: three(),
            replication_factor: None,
            records_per_sec: default_rate(),
            duration_secs: default_duration(),
            drain_timeout_secs: default_drain(),
            transactions: yes(),
        }
    }
}

fn default_name() -> String {
    "rehearsal".into()
}
fn default_window() -> u64 {
    1000
}
fn default_lag_bound() -> f64 {
    60.0
}
fn one() -> u32 {
    1
}
fn three() -> i32 {
    3
}
fn default_rate() -> u64 {
    200
}
fn default_duration() -> f64 {
    20.0
}
fn default_drain() -> f64 {
    120.0
}
fn yes() -> bool {
    true
}

impl Rehearsal {
    /// Reads and checks a rehearsal file; errors name the file, line and field.
    pub fn load(path: &Path) -> Result<Rehearsal, ScenarioError> {
        let text = located::read(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Rehearsal, ScenarioError> {
        let err = |field: &str, reason: String| {
            ScenarioError::from(located::Located::field(text, origin, field, reason))
        };
        let mut r: Rehearsal = parse_toml(text, origin)?;
        r.text = text.to_string();
        r.origin = origin.to_string();
        if let Some(topics) = &r.rehearsal.topics {
            regex::Regex::new(&format!("^(?:{topics})$"))
                .map_err(|e| err("rehearsal.topics", format!("not a valid regex: {e}")))?;
        }
        if r.rehearsal.window_records == 0 {
            return Err(err(
                "rehearsal.window_records",
                "expected at least 1".into(),
            ));
        }
        if !r.rehearsal.lag_bound_secs.is_finite() || r.rehearsal.lag_bound_secs <= 0.0 {
            return Err(err(
                "rehearsal.lag_bound_secs",
                "expected a positive number of seconds".into(),
            ));
        }
        if r.rehearsal.topics.is_none() && !r.rehearsal.allow_writes {
            return Err(err(
                "rehearsal",
                "nothing to do: give `topics` (a read-only check of real topics) or \
                 `allow_writes = true` (canary topics)"
                    .into(),
            ));
        }
        if let Some(reg) = &r.registries {
            if let Err((field, reason)) = reg.connect() {
                return Err(err(&field, reason));
            }
        }
        if r.canary.topics == 0 || r.canary.partitions < 1 || r.canary.records_per_sec == 0 {
            return Err(err(
                "canary",
                "expected at least 1 topic, 1 partition and 1 record per second".into(),
            ));
        }
        Ok(r)
    }
}

/// Runs the rehearsal; writes the report into `options.report_dir` like `cutover run`.
pub async fn rehearse(
    r: &Rehearsal,
    source: &ClientProps,
    target: &ClientProps,
    connect_timeout_secs: u64,
    options: &RunOptions,
) -> Result<RunReport, ScenarioError> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.report_dir).map_err(ScenarioError::io(format!(
        "creating {}",
        options.report_dir.display()
    )))?;
    let external = |name: &str, props: &ClientProps| {
        let mut spec = ClusterSpec::new(name).backend(harness::BackendKind::External);
        spec.connect_timeout_secs = connect_timeout_secs;
        spec.client_properties = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec
    };
    let (source_spec, target_spec) = (external("source", source), external("target", target));
    // Connect both first: a wrong password or a missing certificate is reported in words
    // before anything else happens.
    let (s, t) = tokio::join!(harness::start(&source_spec), harness::start(&target_spec));
    let (source_cluster, target_cluster) = (s?, t?);
    // Schema registries: each reached (named with its URL and the cause when not), then the
    // merge verified, before any record is read.
    let registries = match &r.registries {
        Some(spec) => {
            let connected = spec
                .connect()
                .map_err(|(field, reason)| ScenarioError::System(format!("{field}: {reason}")))?;
            let (connected, verdict) = tokio::task::spawn_blocking(move || {
                let all = connected
                    .sources
                    .iter()
                    .map(|(n, _, c)| (n, c))
                    .chain(std::iter::once((&connected.target.0, &connected.target.1)));
                for (name, client) in all {
                    registry::SchemaRegistry::subjects(client).map_err(|e| {
                        ScenarioError::System(format!("schema registry `{name}`: {e}"))
                    })?;
                }
                let verdict = connected
                    .verify()
                    .map_err(|e| ScenarioError::System(format!("schema registries: {e}")))?;
                Ok::<_, ScenarioError>((connected, verdict))
            })
            .await
            .map_err(|e| ScenarioError::System(format!("schema registries: {e}")))??;
            tracing::info!(
                outcome = verdict.outcome,
                matched = verdict.matched,
                "schema registries verified"
            );
            Some((std::sync::Arc::new(connected), verdict))
        }
        None => None,
    };

    let mut summary = reports::RehearsalSummary {
        allow_writes: r.rehearsal.allow_writes,
        lag_bound_secs: r.rehearsal.lag_bound_secs,
        window_records: r.rehearsal.window_records,
        cleaned_up: true,
        ..Default::default()
    };
    // 1. The read-only window check of real topics.
    if let Some(pattern) = &r.rehearsal.topics {
        summary.topics = window_check(
            &source_cluster.client_props(),
            &target_cluster.client_props(),
            pattern,
            &r.rehearsal.rename_prefix,
            r.rehearsal.window_records,
            Duration::from_secs_f64(r.rehearsal.lag_bound_secs),
            options,
            registries.as_ref().map(|(c, _)| c.clone()),
        )
        .await?;
    }
    // 2. The canary run.
    let mut report = if r.rehearsal.allow_writes {
        let run_id = format!(
            "{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            std::process::id()
        );
        let prefix = format!("{CANARY_PREFIX}{run_id}.");
        let brokers = source_cluster.admin()?.broker_ids().await?.len().max(1);
        let scenario = canary_scenario(r, &prefix, &run_id, source_spec, target_spec, brokers)?;
        summary.canary_topics = scenario.workload.topics.names();
        // Topics that exist before the canary run are never touched by the clean-up; internal
        // topics the system under test creates (MirrorMaker 2's heartbeats, checkpoints,
        // offset syncs and Connect storage) are new ones and are removed with the canaries.
        let before = (
            topic_names(&*source_cluster).await,
            topic_names(&*target_cluster).await,
        );
        let result = scenarios::runner::run(&scenario, options).await;
        let group = match &scenario.system {
            SystemSpec::Builtin { replication, .. } => replication
                .get("group_id")
                .and_then(|g| g.as_str())
                .map(str::to_string),
            _ => None,
        };
        summary.leftovers = clean_up(
            &*source_cluster,
            &*target_cluster,
            &prefix,
            &before,
            group.as_deref(),
        )
        .await;
        summary.cleaned_up = summary.leftovers.is_empty();
        let mut report = result?;
        report.system = format!("{} (canaries)", report.system);
        report
    } else {
        let mut report = RunReport::new(&r.rehearsal.name);
        report.system = "none (read-only)".into();
        report.outcome = reports::Outcome::Pass;
        report
    };
    report.kind = reports::RunKind::Rehearsal;
    report.scenario = r.rehearsal.name.clone();
    report.description = if r.rehearsal.allow_writes {
        "rehearsal on live clusters: canary topics and a read-only window check".into()
    } else {
        "rehearsal on live clusters, read-only".into()
    };
    if let (Some(pattern), true) = (&r.rehearsal.topics, summary.topics.is_empty()) {
        report.fail(RunClass::TopicUnchecked, 1, format!(
            "no source topic matches `{pattern}` (or the principal may not describe the ones              that do: topics without a Describe ACL are invisible to it)"
        ));
    }
    for t in &summary.topics {
        if let Some(problem) = &t.problem {
            report.fail(
                RunClass::TopicUnchecked,
                1,
                format!("topic {}: {problem}", t.topic),
            );
        } else if t.incomplete {
            // cutover could not read what it needed: neither pass nor fail.
            report.undecide(
                RunClass::WindowIncomplete,
                1,
                format!(
                    "topic {}: a read did not finish within its bound; the window could not be judged",
                    t.topic
                ),
            );
        } else if t.missing > 0 || t.lag_secs.is_none() {
            // Duplicates alone do not fail: an identical record just outside the window (a
            // heartbeat with a constant payload) counts too, so they are indicative only.
            report.fail(
                RunClass::WindowMissing,
                t.missing,
                format!(
                    "topic {}: {} of {} window records missing on {} after {:.0} s",
                    t.topic, t.missing, t.records, t.target_topic, summary.lag_bound_secs
                ),
            );
        }
    }
    if let Some((_, verdict)) = &registries {
        if !verdict.passed() {
            for (kind, n) in &verdict.counts {
                report.fail(
                    RunClass::of_registry_finding(kind),
                    *n as u64,
                    format!("schema registries: {n} {kind}"),
                );
            }
        }
        report.registries = Some(scenarios::registries::section_of(verdict));
    }
    if !summary.cleaned_up {
        report.fail(
            RunClass::CleanupIncomplete,
            summary.leftovers.len() as u64,
            format!(
                "could not delete every canary resource: {}",
                summary.leftovers.join(", ")
            ),
        );
    }
    if options.cancel.load(Ordering::Acquire) {
        report.outcome = reports::Outcome::Aborted;
    } else {
        report.settle_outcome();
    }
    report.rehearsal = Some(summary);
    report.client_properties = [
        ("source".to_string(), source.redacted()),
        ("target".to_string(), target.redacted()),
    ]
    .into_iter()
    .collect();
    report.duration_secs = started.elapsed().as_secs_f64();
    scenarios::report::write_with_source(&mut report, &r.text, &r.origin, &options.report_dir)?;
    Ok(report)
}

/// The scenario of the canary run.
fn canary_scenario(
    r: &Rehearsal,
    prefix: &str,
    run_id: &str,
    source: ClusterSpec,
    target: ClusterSpec,
    brokers: usize,
) -> Result<Scenario, ScenarioError> {
    let c = &r.canary;
    let rf = c.replication_factor.unwrap_or(brokers.min(3) as i32);
    let mut wl = format!(
        "duration_secs = {}\n[topics]\ncount = {}\npattern = \"{prefix}{{n}}\"\npartitions = {}\n\
         replication_factor = {rf}\n[record]\nkeys = {{ kind = \"uniform\", count = 1000 }}\n\
         value_size = {{ min = 50, max = 300 }}\n",
        c.duration_secs, c.topics, c.partitions
    );
    let (plain, txn) = if c.transactions {
        (
            c.records_per_sec - c.records_per_sec / 4,
            c.records_per_sec / 4,
        )
    } else {
        (c.records_per_sec, 0)
    };
    wl.push_str(&format!(
        "[[producer]]\nrate = {{ records_per_sec = {} }}\n",
        plain.max(1)
    ));
    if txn > 0 {
        wl.push_str(&format!(
            "[[producer]]\ntransactions = {{ records_per_txn = 10, abort_ratio = 0.2 }}\n\
             rate = {{ records_per_sec = {txn} }}\n"
        ));
    }
    let workload: workload::WorkloadSpec =
        toml::from_str(&wl).map_err(|e| ScenarioError::System(format!("canary workload: {e}")))?;
    let mut system = r.system.clone().unwrap_or(SystemSpec::Running {
        rename_prefix: r.rehearsal.rename_prefix.clone(),
    });
    if let SystemSpec::Builtin { replication, .. } = &mut system {
        // Everything the built-in replicator leaves on the clusters carries the run's prefix,
        // so clean-up finds it.
        for (key, value) in [
            ("group_id", format!("cutover-rehearsal-{run_id}")),
            ("checkpoint_topic", format!("{prefix}checkpoints.internal")),
            (
                "offset_syncs_topic",
                format!("{prefix}offset-syncs.internal"),
            ),
            ("slots_topic", format!("{prefix}slots.internal")),
        ] {
            replication.entry(key).or_insert(toml::Value::String(value));
        }
    }
    Ok(Scenario {
        scenario: About {
            name: r.rehearsal.name.clone(),
            description: "canary run of a rehearsal".into(),
            tags: Vec::new(),
        },
        run: RunSpec {
            duration_secs: c.duration_secs,
            drain_timeout_secs: c.drain_timeout_secs,
            seed: None,
        },
        source,
        target,
        security: None,
        workload,
        system,
        faults: Vec::new(),
        verify: verify::Promises::default(),
        expect: None,
        consumer_groups: Vec::new(),
        apps: Vec::new(),
        registries: None,
        scope: None,
        text: r.text.clone(),
        origin: r.origin.clone(),
    })
}

type TopicSet = std::collections::BTreeSet<String>;

/// Removes what the canary run left: on the source every topic starting with `prefix`, on the
/// target every topic containing it (the run id in `prefix` is unique, and a system's renaming,
/// a rename prefix or MirrorMaker 2's `<alias>.`, keeps it), on both the replication-internal
/// topics that appeared during the run (MirrorMaker 2's heartbeats, checkpoints, offset syncs
/// and Connect storage; never one that existed before it), and the built-in replicator's
/// group. A topic counts as removed only once the cluster no longer lists it. Returns what is
/// left.
async fn clean_up(
    source: &dyn harness::Cluster,
    target: &dyn harness::Cluster,
    prefix: &str,
    before: &(TopicSet, TopicSet),
    group: Option<&str>,
) -> Vec<String> {
    let mut left = Vec::new();
    for (cluster, before, anywhere) in [(source, &before.0, false), (target, &before.1, true)] {
        let admin = match cluster.admin() {
            Ok(a) => a,
            Err(e) => {
                left.push(format!("{}: {e}", cluster.name()));
                continue;
            }
        };
        let ours = |t: &String| {
            let canary = if anywhere {
                t.contains(prefix)
            } else {
                t.starts_with(prefix)
            };
            let internal =
                !before.contains(t) && verify::reader::is_internal_topic(t) && !t.starts_with("__");
            canary || internal
        };
        let doomed: Vec<String> = topic_names(cluster)
            .await
            .into_iter()
            .filter(ours)
            .collect();
        for topic in &doomed {
            if let Err(e) = admin.delete_topic(topic).await {
                left.push(format!("{}:{topic} ({e})", cluster.name()));
            }
        }
        // Deletion is asynchronous on the brokers: a topic still listed a while later is left.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = topic_names(cluster).await;
            let still: Vec<&String> = doomed.iter().filter(|t| now.contains(*t)).collect();
            if still.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                left.extend(
                    still
                        .iter()
                        .map(|t| format!("{}:{t} (still listed)", cluster.name())),
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    if let Some(group) = group {
        if let Ok(admin) = source.admin() {
            // An unknown group (never committed) is not a leftover.
            if let Err(e) = admin.delete_group(group).await {
                let text = e.to_string();
                if !text.contains("GroupIdNotFound") && !text.contains("does not exist") {
                    left.push(format!("source group {group} ({text})"));
                }
            }
        }
    }
    left
}

async fn topic_names(cluster: &dyn harness::Cluster) -> TopicSet {
    match cluster.admin() {
        Ok(a) => a
            .list_topics()
            .await
            .unwrap_or_default()
            .into_iter()
            .collect(),
        Err(_) => Default::default(),
    }
}

/// The read-only window check of the real topics matching `pattern`.
#[allow(clippy::too_many_arguments)]
async fn window_check(
    source: &ClientProps,
    target: &ClientProps,
    pattern: &str,
    rename_prefix: &str,
    window: u64,
    bound: Duration,
    options: &RunOptions,
    registries: Option<std::sync::Arc<scenarios::registries::ConnectedRegistries>>,
) -> Result<Vec<reports::TopicWindow>, ScenarioError> {
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ScenarioError::System(format!("rehearsal.topics: {e}")))?;
    let source_admin = Admin::new("source", source)?;
    let target_admin = Admin::new("target", target)?;
    let mut topics: Vec<String> = source_admin
        .list_topics()
        .await?
        .into_iter()
        .filter(|t| {
            re.is_match(t) && !t.starts_with(CANARY_PREFIX) && !verify::reader::is_internal_topic(t)
        })
        .collect();
    topics.sort();
    let target_topics = target_admin.list_topics().await?;
    let mut out = Vec::new();
    for topic in topics {
        let target_topic = format!("{rename_prefix}{topic}");
        let mut result = reports::TopicWindow {
            topic: topic.clone(),
            target_topic: target_topic.clone(),
            ..Default::default()
        };
        if !target_topics.contains(&target_topic) {
            result.problem = Some(format!("`{target_topic}` does not exist on the target"));
            out.push(result);
            continue;
        }
        let sp = source_admin.describe_topic(&topic).await?.partitions.len();
        let tp = target_admin
            .describe_topic(&target_topic)
            .await?
            .partitions
            .len();
        result.partitions = sp as u32;
        if sp != tp {
            result.problem = Some(format!(
                "{sp} partitions on the source, {tp} on the target: the window check compares partition by partition"
            ));
            out.push(result);
            continue;
        }
        let (s, t, cancel) = (source.clone(), target.clone(), options.cancel.clone());
        let (tn, ttn) = (topic.clone(), target_topic.clone());
        let resolvers = registries.as_ref().and_then(|r| r.resolvers_for(&topic));
        let checked = tokio::task::spawn_blocking(move || {
            verify::window_check::check_topic(
                &s,
                &t,
                resolvers.as_ref(),
                &tn,
                &ttn,
                sp as i32,
                window,
                bound,
                &cancel,
            )
        })
        .await
        .map_err(|e| ScenarioError::System(format!("window check: {e}")))??;
        result.records = checked.records;
        result.missing = checked.missing;
        result.duplicated = checked.duplicated;
        result.lag_secs = checked.lag_secs;
        result.incomplete = checked.incomplete;
        tracing::info!(topic = %topic, records = result.records, missing = result.missing, lag_secs = ?result.lag_secs, "window checked");
        out.push(result);
    }
    Ok(out)
}

/// The rehearsal file's kind for the generated configuration reference
/// (`scenarios::config_docs`).
pub fn config_kinds() -> Vec<scenarios::config_docs::Kind> {
    vec![(
        "rehearsal",
        "a rehearsal file (`cutover rehearse`)",
        schemars::schema_for!(Rehearsal).to_value(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rehearsal_files_are_checked_with_file_line_and_field() {
        let ok = Rehearsal::parse("[rehearsal]\ntopics = \"orders.*\"\n", "r.toml").unwrap();
        assert!(!ok.rehearsal.allow_writes, "read-only unless asked");
        assert_eq!(ok.rehearsal.window_records, 1000);
        let err = Rehearsal::parse(
            "[rehearsal]\nallow_writes = true\nwindow_records = 0\n",
            "r.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("r.toml:3") && err.contains("window_records"),
            "{err}"
        );
        let err = Rehearsal::parse("[rehearsal]\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing to do"), "{err}");
        let err = Rehearsal::parse("[rehearsal]\ntopics = \"(\"\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("r.toml:2") && err.contains("regex"), "{err}");
        let err = Rehearsal::parse("[rehearsal]\nallow_write = true\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.toml:2") && err.contains("allow_write"),
            "{err}"
        );
    }

    #[test]
    fn the_example_rehearsal_file_is_valid_and_read_only() {
        let r = Rehearsal::parse(
            include_str!("../../examples/rehearsal/staging.toml"),
            "staging.toml",
        )
        .unwrap();
        assert!(!r.rehearsal.allow_writes);
        assert!(matches!(r.system, Some(SystemSpec::Running { .. })));
    }

    #[test]
    fn the_builtin_replicator_of_a_canary_run_leaves_only_prefixed_things() {
        let r = Rehearsal::parse(
            "[rehearsal]\nallow_writes = true\n[system]\nkind = \"builtin\"\n",
            "r.toml",
        )
        .unwrap();
        let s = canary_scenario(
            &r,
            "cutover.rehearsal.1-2.",
            "1-2",
            ClusterSpec::new("source"),
            ClusterSpec::new("target"),
            1,
        )
        .unwrap();
        assert_eq!(s.workload.topics.names(), vec!["cutover.rehearsal.1-2.0"]);
        let SystemSpec::Builtin { replication, .. } = &s.system else {
            panic!("builtin")
        };
        for key in ["checkpoint_topic", "offset_syncs_topic"] {
            assert!(replication[key]
                .as_str()
                .unwrap()
                .starts_with("cutover.rehearsal.1-2."));
        }
        assert_eq!(
            replication["group_id"].as_str(),
            Some("cutover-rehearsal-1-2")
        );
        assert_eq!(s.workload.producers.len(), 2, "transactions by default");
    }
}
