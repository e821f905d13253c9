//! Target topics: created with the source's partition count and topic configs (minus the
//! deny-list) before the first record is written, grown when the source grows, and the
//! replicator's own checkpoint and offset-sync topics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use harness::{Admin, TopicSpec};

use crate::config::ReplicatorConfig;
use crate::error::{ReplicatorError, Result};

/// Keeps target topics in step with the selected source topics.
pub struct TopicSync {
    config: Arc<ReplicatorConfig>,
    source: Admin,
    target: Admin,
    /// Target topic → partitions known to exist.
    known: HashMap<String, i32>,
    target_brokers: i32,
}

impl TopicSync {
    pub async fn new(config: Arc<ReplicatorConfig>) -> Result<TopicSync> {
        let source = Admin::new("source", &config.source)?;
        let target = Admin::new("target", &config.target)?;
        let target_brokers = target.broker_ids().await?.len().max(1) as i32;
        Ok(TopicSync {
            config,
            source,
            target,
            known: HashMap::new(),
            target_brokers,
        })
    }

    /// The selected source topics and their partition counts.
    pub async fn selected_source_topics(&self) -> Result<BTreeMap<String, i32>> {
        // One metadata request for every topic (a describe per topic does not scale to
        // thousands of topics).
        let mut out = BTreeMap::new();
        for d in self.source.describe_all_topics().await? {
            if self.config.selects(&d.name) && !d.partitions.is_empty() {
                out.insert(d.name, d.partitions.len() as i32);
            }
        }
        Ok(out)
    }

    /// Makes sure the target copy of `source_topic` exists with at least `partitions`
    /// partitions. Creation copies the source's partition count and its topic-level configs.
    pub async fn ensure(&mut self, source_topic: &str, partitions: i32) -> Result<()> {
        let target_topic = self.config.rename.target_of(source_topic);
        if self
            .known
            .get(&target_topic)
            .is_some_and(|n| *n >= partitions)
        {
            return Ok(());
        }
        let wanted = self.ensure_one(source_topic, partitions).await?;
        self.known.insert(target_topic, wanted);
        Ok(())
    }

    /// [`TopicSync::ensure`] for many topics: one metadata request for what the target has,
    /// then the missing or short topics prepared concurrently (16 at a time), so thousands of
    /// topics do not take thousands of sequential round trips.
    pub async fn ensure_all(&mut self, selected: &BTreeMap<String, i32>) -> Result<()> {
        let pending: Vec<(&String, i32)> = selected
            .iter()
            .filter(|(t, n)| {
                self.known
                    .get(&self.config.rename.target_of(t))
                    .is_none_or(|have| have < *n)
            })
            .map(|(t, n)| (t, *n))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let existing: HashMap<String, i32> = self
            .target
            .describe_all_topics()
            .await?
            .into_iter()
            .map(|d| (d.name, d.partitions.len() as i32))
            .collect();
        let mut missing = Vec::new();
        for (t, n) in pending {
            let target = self.config.rename.target_of(t);
            match existing.get(&target) {
                Some(have) if *have >= n => {
                    self.known.insert(target, *have);
                }
                _ => missing.push((t.clone(), n)),
            }
        }
        // Missing target topics are created in batches (one CreateTopics per 100, their
        // configs read with one DescribeConfigs per 100); short ones grow one by one.
        let source: HashMap<String, harness::TopicDescription> = self
            .source
            .describe_all_topics()
            .await?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let mut create = Vec::new();
        let mut grow = Vec::new();
        for (t, n) in missing {
            if existing.contains_key(&self.config.rename.target_of(&t)) {
                grow.push((t, n));
            } else {
                create.push((t, n));
            }
        }
        if !create.is_empty() {
            let names: Vec<String> = create.iter().map(|(t, _)| t.clone()).collect();
            let configs = if self.config.sync_topic_configs {
                self.source.topics_configs_explicit(&names).await?
            } else {
                BTreeMap::new()
            };
            let mut specs = Vec::new();
            for (t, n) in &create {
                let d = source.get(t);
                let wanted = (*n).max(d.map_or(0, |d| d.partitions.len() as i32));
                let source_rf = d
                    .and_then(|d| d.partitions.first())
                    .map_or(1, |p| p.replicas.len() as i32);
                let rf = self
                    .config
                    .target_replication_factor
                    .unwrap_or(source_rf.clamp(1, self.target_brokers));
                let mut spec = TopicSpec::new(self.config.rename.target_of(t), wanted, rf);
                for (k, v) in configs.get(t).into_iter().flatten() {
                    if !self.config.config_excluded(k) {
                        spec = spec.config(k.clone(), v.clone());
                    }
                }
                specs.push(spec);
            }
            tracing::info!(topics = specs.len(), "creating target topics");
            // A busy target may answer a large batch late: the batch is sent again (what was
            // created meanwhile exists, which is fine) rather than the instance ending.
            let mut attempt = 0;
            loop {
                match self.target.create_topics(&specs, true).await {
                    Ok(()) => break,
                    Err(e) if attempt < 4 && e.to_string().contains("TimedOut") => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "creating target topics timed out; trying again");
                        tokio::time::sleep(std::time::Duration::from_secs(2 * attempt)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            for spec in specs {
                self.known.insert(spec.name.clone(), spec.partitions);
            }
        }
        for (t, n) in grow {
            let wanted = self.ensure_one(&t, n).await?;
            self.known.insert(self.config.rename.target_of(&t), wanted);
        }
        Ok(())
    }

    /// Creates or grows one target topic; returns its partition count.
    async fn ensure_one(&self, source_topic: &str, partitions: i32) -> Result<i32> {
        let target_topic = self.config.rename.target_of(source_topic);
        let source = self.source.describe_topic(source_topic).await?;
        let wanted = partitions.max(source.partitions.len() as i32);
        match self.target.describe_topic(&target_topic).await {
            Ok(existing) => {
                let have = existing.partitions.len() as i32;
                if have < wanted {
                    tracing::info!(topic = %target_topic, from = have, to = wanted, "adding partitions to the target topic");
                    self.target
                        .add_partitions(&target_topic, wanted as usize)
                        .await?;
                }
            }
            Err(_) => {
                let source_rf = source
                    .partitions
                    .first()
                    .map_or(1, |p| p.replicas.len() as i32);
                let rf = match self.config.target_replication_factor {
                    Some(rf) => rf,
                    None => source_rf.clamp(1, self.target_brokers),
                };
                let mut spec = TopicSpec::new(&target_topic, wanted, rf);
                if self.config.sync_topic_configs {
                    for (k, v) in self.source.topic_configs_explicit(source_topic).await? {
                        if !self.config.config_excluded(&k) {
                            spec = spec.config(k, v);
                        }
                    }
                }
                tracing::info!(source = %source_topic, target = %target_topic, partitions = wanted, replication_factor = rf, "creating the target topic");
                if let Err(e) = self.target.create_topic(&spec).await {
                    // Another instance may have created it first: wait until it is visible.
                    if !e.to_string().contains("TopicAlreadyExists") {
                        return Err(e.into());
                    }
                    let mut visible = false;
                    for _ in 0..50 {
                        if self.target.describe_topic(&target_topic).await.is_ok() {
                            visible = true;
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    if !visible {
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(wanted)
    }

    /// Creates the checkpoint (compacted) and offset-sync topics on the target if missing.
    pub async fn ensure_internal_topics(&self) -> Result<()> {
        let rf = self.target_brokers.min(3);
        let checkpoint = TopicSpec::new(&self.config.checkpoint_topic, 1, rf)
            .config("cleanup.policy", "compact")
            .config("segment.ms", "600000")
            .config("min.cleanable.dirty.ratio", "0.1");
        let syncs = TopicSpec::new(&self.config.offset_syncs_topic, 1, rf)
            .config("cleanup.policy", "delete")
            .config("retention.ms", "604800000");
        let slots = TopicSpec::new(&self.config.slots_topic, self.config.producers as i32, rf)
            .config("cleanup.policy", "compact");
        if let Ok(existing) = self.target.describe_topic(&self.config.slots_topic).await {
            let have = existing.partitions.len() as u32;
            if have != self.config.producers {
                return Err(ReplicatorError::kafka(
                    format!("target: {}", self.config.slots_topic),
                    format!(
                        "it has {have} partitions (slots) but replication.producers = {}: every instance of a \
                         replication must use the same count; to change it, stop every instance, delete this \
                         topic, and start them with the new value",
                        self.config.producers
                    ),
                ));
            }
        }
        for spec in [checkpoint, syncs, slots] {
            if self.target.describe_topic(&spec.name).await.is_ok() {
                continue;
            }
            if let Err(e) = self.target.create_topic(&spec).await {
                if !e.to_string().contains("TopicAlreadyExists") {
                    return Err(ReplicatorError::kafka(
                        format!("target: creating {}", spec.name),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }
}
