//! Topic administration on any cluster: create, describe, list, delete; a classic consumer
//! group's members and their decoded assignments (`describe_consumer_group`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::client_props::ClientProps;
use crate::error::{HarnessError, Result};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor,
            configs: BTreeMap::new(),
        }
    }

    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// One partition as the cluster's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A topic as described by the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDescription {
    pub name: String,
    pub partitions: Vec<PartitionState>,
}

/// One member of a classic consumer group, as the group's coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Its assigned partitions by topic, decoded from the consumer protocol
    /// (`crate::consumer_protocol`); empty while the group rebalances, and for a group whose
    /// protocol type is not `consumer` (a Connect cluster's).
    pub assignment: BTreeMap<String, Vec<i32>>,
}

impl GroupMember {
    /// How many partitions it holds.
    pub fn partition_count(&self) -> usize {
        self.assignment.values().map(Vec::len).sum()
    }
}

/// A classic consumer group as its coordinator describes it (ListGroups then DescribeGroups:
/// no generation, which DescribeGroups does not return).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroupDescription {
    pub group: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`.
    pub state: String,
    /// `consumer` for Kafka consumers; `connect` for a Connect cluster's workers.
    pub protocol_type: String,
    /// The assignor its members agreed on (`range`, `roundrobin`, `cooperative-sticky`, …).
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

impl ConsumerGroupDescription {
    /// Every partition some member holds, as (topic, partition).
    pub fn partitions(&self) -> std::collections::BTreeSet<(String, i32)> {
        self.members
            .iter()
            .flat_map(|m| {
                m.assignment
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            })
            .collect()
    }
}

/// Admin operations against one cluster.
pub struct Admin {
    cluster: String,
    admin: Arc<AdminClient<DefaultClientContext>>,
    metadata: Arc<BaseConsumer>,
    timeout: Duration,
}

impl Admin {
    /// Connects (lazily, as librdkafka does) with the cluster's client properties.
    pub fn new(cluster: &str, props: &ClientProps) -> Result<Admin> {
        let mut config: ClientConfig = props.to_rdkafka()?;
        config.set("client.id", format!("cutover-admin-{cluster}"));
        let err = |e: rdkafka::error::KafkaError| HarnessError::Kafka {
            cluster: cluster.to_string(),
            operation: "creating an admin client".into(),
            detail: e.to_string(),
        };
        let admin = Arc::new(config.create().map_err(err)?);
        let metadata = Arc::new(config.create().map_err(err)?);
        Ok(Admin {
            cluster: cluster.to_string(),
            admin,
            metadata,
            timeout: Duration::from_secs(30),
        })
    }

    /// Sets the timeout of each admin request and metadata fetch (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Admin {
        self.timeout = timeout;
        self
    }

    fn error(&self, operation: impl Into<String>, detail: impl std::fmt::Display) -> HarnessError {
        HarnessError::Kafka {
            cluster: self.cluster.clone(),
            operation: operation.into(),
            detail: detail.to_string(),
        }
    }

    /// The cluster's name (for errors), the admin client (shared, so a blocking thread can
    /// hold it while it calls librdkafka's C API: `acl`) and the request timeout.
    pub(crate) fn native_parts(&self) -> (&str, Arc<AdminClient<DefaultClientContext>>, Duration) {
        (&self.cluster, Arc::clone(&self.admin), self.timeout)
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(self.timeout))
    }

    /// Creates a topic; fails if it exists.
    pub async fn create_topic(&self, topic: &TopicSpec) -> Result<()> {
        self.create_topics(std::slice::from_ref(topic), false).await
    }

    /// Creates many topics: one CreateTopics request per 100 topics, then one metadata request
    /// per wait step for all of them (1,000 topics one by one cost a round trip and a wait
    /// each). Fails on the first topic the cluster refuses; one that exists already is
    /// refused too unless `exists_ok` (another client creating the same topics concurrently).
    pub async fn create_topics(&self, topics: &[TopicSpec], exists_ok: bool) -> Result<()> {
        for chunk in topics.chunks(100) {
            let news: Vec<NewTopic<'_>> = chunk
                .iter()
                .map(|topic| {
                    let mut new = NewTopic::new(
                        &topic.name,
                        topic.partitions,
                        TopicReplication::Fixed(topic.replication_factor),
                    );
                    for (k, v) in &topic.configs {
                        new = new.set(k, v);
                    }
                    new
                })
                .collect();
            let op = format!(
                "creating {} topics ({} … {})",
                chunk.len(),
                chunk[0].name,
                chunk[chunk.len() - 1].name
            );
            let results = self
                .admin
                .create_topics(news.iter(), &self.options())
                .await
                .map_err(|e| self.error(&op, e))?;
            for result in results {
                match result {
                    Ok(_) => {}
                    Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) if exists_ok => {
                    }
                    Err((name, code)) => {
                        return Err(self.error(format!("creating topic {name}"), code.to_string()))
                    }
                }
            }
        }
        // Long enough for a large batch on a small machine.
        let deadline = tokio::time::Instant::now() + self.timeout.max(Duration::from_secs(120));
        loop {
            let all = self.fetch_metadata(None).await?;
            let ready: std::collections::HashMap<&str, &TopicDescription> =
                all.iter().map(|t| (t.name.as_str(), t)).collect();
            let missing = topics
                .iter()
                .filter(|t| {
                    !ready.get(t.name.as_str()).is_some_and(|d| {
                        d.partitions.len() == t.partitions as usize
                            && d.partitions.iter().all(|p| p.leader >= 0)
                    })
                })
                .count();
            if missing == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(self.error(
                    format!("waiting for {} new topics", topics.len()),
                    format!("{missing} have partitions without a leader"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the metadata shows the topic with `partitions` partitions, all with leaders.
    async fn wait_for_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Ok(desc) = self.describe_topic(name).await {
                if desc.partitions.len() == partitions as usize
                    && desc.partitions.iter().all(|p| p.leader >= 0)
                {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(self.error(
                    format!("waiting for topic {name}"),
                    "its partitions got no leader in time",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Adds partitions to a topic (total count `new_total`).
    pub async fn add_partitions(&self, name: &str, new_total: usize) -> Result<()> {
        let op = format!("adding partitions to {name}");
        let results = self
            .admin
            .create_partitions([&NewPartitions::new(name, new_total)], &self.options())
            .await
            .map_err(|e| self.error(&op, e))?;
        for result in results {
            result.map_err(|(name, code)| self.error(&op, format!("{name}: {code}")))?;
        }
        self.wait_for_topic(name, new_total as i32).await
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let op = format!("deleting topic {name}");
        let results = self
            .admin
            .delete_topics(&[name], &self.options())
            .await
            .map_err(|e| self.error(&op, e))?;
        for result in results {
            result.map_err(|(name, code)| self.error(&op, format!("{name}: {code}")))?;
        }
        Ok(())
    }

    /// Deletes a consumer group (it must have no active members).
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        let op = format!("deleting consumer group {group}");
        let results = self
            .admin
            .delete_groups(&[group], &self.options())
            .await
            .map_err(|e| self.error(&op, e))?;
        for result in results {
            result.map_err(|(name, code)| self.error(&op, format!("{name}: {code}")))?;
        }
        Ok(())
    }

    /// Describes the classic consumer group `group`: its state and each member with its client
    /// id, host and decoded assignment. None when no broker lists it (it never existed, or
    /// it was deleted). Err when it cannot be read, or a `consumer` member's assignment is not
    /// the consumer protocol.
    pub async fn describe_consumer_group(
        &self,
        group: &str,
    ) -> Result<Option<ConsumerGroupDescription>> {
        let op = format!("describing consumer group {group}");
        let consumer = Arc::clone(&self.metadata);
        let timeout = self.timeout;
        let name = group.to_string();
        tokio::task::spawn_blocking(move || describe_group(&consumer, &name, timeout))
            .await
            .map_err(|e| self.error(&op, e))?
            .map_err(|e| self.error(&op, e))
    }

    /// Deletes the records of `topic`/`partition` below `offset` (what retention does), and
    /// returns the new log start offset.
    pub async fn delete_records_before(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64> {
        let op = format!("deleting records of {topic}-{partition} below {offset}");
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
            .map_err(|e| self.error(&op, e))?;
        let result = self
            .admin
            .delete_records(&tpl, &self.options())
            .await
            .map_err(|e| self.error(&op, e))?;
        let element = result
            .elements()
            .into_iter()
            .next()
            .ok_or_else(|| self.error(&op, "no result"))?;
        element.error().map_err(|e| self.error(&op, e))?;
        match element.offset() {
            rdkafka::Offset::Offset(o) => Ok(o),
            other => Ok(other.to_raw().unwrap_or(offset)),
        }
    }

    /// Sets topic configs (incremental semantics are not available in librdkafka's
    /// AlterConfigs: pass every non-default config you want kept).
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<()> {
        let op = format!("altering configs of {name}");
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
        for (k, v) in configs {
            alter = alter.set(k, v);
        }
        let results = self
            .admin
            .alter_configs([&alter], &self.options())
            .await
            .map_err(|e| self.error(&op, e))?;
        for result in results {
            result.map_err(|(_, code)| self.error(&op, code))?;
        }
        Ok(())
    }

    /// The topic's configs as the broker reports them (defaults included).
    pub async fn topic_configs(&self, name: &str) -> Result<BTreeMap<String, String>> {
        self.describe_topic_configs(name, |_| true).await
    }

    /// The configs set on the topic itself (not broker or built-in defaults): what a replicator
    /// copies to the target.
    pub async fn topic_configs_explicit(&self, name: &str) -> Result<BTreeMap<String, String>> {
        self.describe_topic_configs(name, |e| {
            e.source == rdkafka::admin::ConfigSource::DynamicTopic && !e.is_sensitive
        })
        .await
    }

    /// [`Admin::topic_configs_explicit`] of many topics: one DescribeConfigs request per 100.
    pub async fn topics_configs_explicit(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        let mut out = BTreeMap::new();
        for chunk in names.chunks(100) {
            let op = format!("describing configs of {} topics", chunk.len());
            let specs: Vec<ResourceSpecifier<'_>> =
                chunk.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
            let results = self
                .admin
                .describe_configs(specs.iter(), &self.options())
                .await
                .map_err(|e| self.error(&op, e))?;
            for (name, result) in chunk.iter().zip(results) {
                let resource =
                    result.map_err(|e| self.error(format!("describing configs of {name}"), e))?;
                let configs = resource
                    .entries
                    .into_iter()
                    .filter(|e| {
                        e.source == rdkafka::admin::ConfigSource::DynamicTopic && !e.is_sensitive
                    })
                    .filter_map(|e| e.value.map(|v| (e.name, v)))
                    .collect();
                out.insert(name.clone(), configs);
            }
        }
        Ok(out)
    }

    /// The topic's configs with a value, of the entries `keep` accepts.
    async fn describe_topic_configs(
        &self,
        name: &str,
        keep: impl Fn(&rdkafka::admin::ConfigEntry) -> bool,
    ) -> Result<BTreeMap<String, String>> {
        let op = format!("describing configs of {name}");
        let results = self
            .admin
            .describe_configs([&ResourceSpecifier::Topic(name)], &self.options())
            .await
            .map_err(|e| self.error(&op, e))?;
        let mut out = BTreeMap::new();
        for result in results {
            let resource = result.map_err(|e| self.error(&op, e))?;
            for entry in resource.entries {
                if !keep(&entry) {
                    continue;
                }
                if let Some(value) = entry.value {
                    out.insert(entry.name, value);
                }
            }
        }
        Ok(out)
    }

    /// Describes a topic's partitions, leaders and ISR from fresh metadata.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let op = format!("describing topic {name}");
        let all = self.fetch_metadata(Some(name)).await?;
        let topic = all
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| self.error(&op, "no such topic"))?;
        if topic.partitions.is_empty() {
            return Err(self.error(&op, "no such topic"));
        }
        Ok(topic)
    }

    /// Lists topic names (internal `__` topics included).
    pub async fn list_topics(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .fetch_metadata(None)
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every topic with its partitions, from one metadata request (internal topics included).
    pub async fn describe_all_topics(&self) -> Result<Vec<TopicDescription>> {
        let mut topics = self.fetch_metadata(None).await?;
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// The node ids of the brokers the metadata lists.
    pub async fn broker_ids(&self) -> Result<Vec<i32>> {
        let meta = self.raw_metadata(None).await?;
        let mut ids: Vec<i32> = meta.brokers().iter().map(|b| b.id()).collect();
        ids.sort();
        Ok(ids)
    }

    async fn raw_metadata(&self, topic: Option<&str>) -> Result<Metadata> {
        let consumer = Arc::clone(&self.metadata);
        let timeout = self.timeout;
        let topic = topic.map(str::to_string);
        tokio::task::spawn_blocking(move || consumer.fetch_metadata(topic.as_deref(), timeout))
            .await
            .map_err(|e| self.error("fetching metadata", e))?
            .map_err(|e| self.error("fetching metadata", e))
    }

    async fn fetch_metadata(&self, topic: Option<&str>) -> Result<Vec<TopicDescription>> {
        let meta = self.raw_metadata(topic).await?;
        Ok(meta
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| TopicDescription {
                name: t.name().to_string(),
                partitions: t
                    .partitions()
                    .iter()
                    .map(|p| PartitionState {
                        partition: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                    })
                    .collect(),
            })
            .collect())
    }
}

/// [`Admin::describe_consumer_group`] on a blocking thread: Err is the reason.
fn describe_group(
    consumer: &BaseConsumer,
    group: &str,
    timeout: Duration,
) -> std::result::Result<Option<ConsumerGroupDescription>, String> {
    let list = consumer
        .fetch_group_list(Some(group), timeout)
        .map_err(|e| e.to_string())?;
    let Some(g) = list.groups().iter().find(|g| g.name() == group) else {
        return Ok(None);
    };
    let consumer_protocol = g.protocol_type() == "consumer";
    let mut members = Vec::new();
    for m in g.members() {
        let assignment = match m.assignment() {
            Some(bytes) if consumer_protocol => {
                crate::consumer_protocol::decode_assignment(bytes)
                    .map_err(|e| format!("member {}: its assignment: {e}", m.id()))?
                    .partitions
            }
            _ => BTreeMap::new(),
        };
        members.push(GroupMember {
            member_id: m.id().to_string(),
            client_id: m.client_id().to_string(),
            client_host: m.client_host().to_string(),
            assignment,
        });
    }
    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    Ok(Some(ConsumerGroupDescription {
        group: group.to_string(),
        state: g.state().to_string(),
        protocol_type: g.protocol_type().to_string(),
        protocol: g.protocol().to_string(),
        members,
    }))
}
