//! The fault verbs, each defined in one place: a [`FaultVerb`] implementation holds its
//! name, what it does with `duration_secs`, which cluster's proxies it needs, its checks of
//! the scenario (pure, file:line added by the caller) and how it is applied, proven and
//! undone. [`FaultAction::verb`] is the registry: the one match from a `[[fault]]` table
//! (the serde enum in `crate::spec`, the TOML format) to its verb.
//!
//! | family | file | verbs |
//! | --- | --- | --- |
//! | network (on every broker's proxy) | `network.rs` | latency, bandwidth, blackhole, reset, refuse |
//! | instances of the system under test | `instance.rs` | add-instance, remove-instance, stall-instance, crash-instance |
//! | brokers | `broker.rs` | kill-broker, stop-broker, bounce-brokers |
//! | the source's data | `source.rs` | add-partitions, aborted-burst, hanging-transaction |
//! | a Kafka Connect system's connectors (REST) | `connect.rs` | restart-connector, restart-task |
//!
//! Adding a verb: a variant of `FaultAction` (its TOML fields), its arm in
//! [`FaultAction::verb`], and its [`FaultVerb`] in the family's file.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{broker, connect, instance, network, source, FaultTargets};
use crate::spec::{FaultAction, Scenario, Side};

/// Whether a fault verb takes `duration_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUse {
    /// It lasts that long (a network fault, a stall, a held transaction, a bounce's pause).
    Required,
    /// It is undone after that long when given (a crashed instance or broker restarted).
    Optional,
    /// It is instant: a duration would be silently ignored, so it is refused.
    Unused,
}

/// What a verb's checks see of the scenario.
pub struct VerbCheck<'a> {
    pub scenario: &'a Scenario,
    /// This fault's `at_secs`.
    pub at_secs: f64,
    /// Instances there can be: the system's, plus one per add-instance fault.
    pub max_instances: u32,
    /// The workload's topics.
    pub workload_topics: &'a [String],
}

/// One fault verb: everything about it but its TOML fields.
#[async_trait]
pub trait FaultVerb: Send + Sync {
    /// Its `kind` in a `[[fault]]` table (the report's fault `kind`).
    fn name(&self) -> &'static str;

    /// What it does with `duration_secs`.
    fn duration_use(&self) -> DurationUse;

    /// The cluster whose per-broker proxies it acts on (the network verbs); the run starts
    /// that cluster proxied.
    fn proxies(&self) -> Option<Side> {
        None
    }

    /// Instances it adds to the system under test (add-instance: 1), for the checks of
    /// instance numbers.
    fn adds_instances(&self) -> u32 {
        0
    }

    /// The source topic it grows and its new partition count (add-partitions).
    fn grows(&self) -> Option<(&str, u32)> {
        None
    }

    /// Its checks against the scenario: Err is (field under `fault[i].`, reason).
    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        let _ = check;
        Ok(())
    }

    /// Applies it, proves its effect and undoes it after `duration` (when it takes one): Ok
    /// is the observed effect in words, Err why it did not take effect.
    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String>;
}

impl FaultAction {
    /// The verb of this `[[fault]]`: the one place that asks which verb it is.
    pub(crate) fn verb(&self) -> Box<dyn FaultVerb> {
        match self.clone() {
            FaultAction::Latency {
                cluster,
                direction,
                latency_ms,
                jitter_ms,
            } => Box::new(network::Latency {
                cluster,
                direction,
                latency_ms,
                jitter_ms,
            }),
            FaultAction::Bandwidth {
                cluster,
                direction,
                bytes_per_sec,
            } => Box::new(network::Bandwidth {
                cluster,
                direction,
                bytes_per_sec,
            }),
            FaultAction::Blackhole { cluster, direction } => {
                Box::new(network::Blackhole { cluster, direction })
            }
            FaultAction::Reset { cluster } => Box::new(network::Reset { cluster }),
            FaultAction::Refuse { cluster } => Box::new(network::Refuse { cluster }),
            FaultAction::AddInstance => Box::new(instance::AddInstance),
            FaultAction::RemoveInstance { instance } => {
                Box::new(instance::RemoveInstance { instance })
            }
            FaultAction::StallInstance { instance } => {
                Box::new(instance::StallInstance { instance })
            }
            FaultAction::CrashInstance { instance } => {
                Box::new(instance::CrashInstance { instance })
            }
            FaultAction::RestartConnector {
                connector,
                include_tasks,
            } => Box::new(connect::RestartConnector {
                connector,
                include_tasks,
            }),
            FaultAction::RestartTask { connector, task } => {
                Box::new(connect::RestartTask { connector, task })
            }
            FaultAction::AddPartitions { topic, partitions } => {
                Box::new(source::AddPartitions { topic, partitions })
            }
            FaultAction::KillBroker { cluster, node } => Box::new(broker::BrokerDown {
                cluster,
                node,
                kill: true,
            }),
            FaultAction::StopBroker { cluster, node } => Box::new(broker::BrokerDown {
                cluster,
                node,
                kill: false,
            }),
            FaultAction::BounceBrokers { cluster } => Box::new(broker::BounceBrokers { cluster }),
            FaultAction::AbortedBurst {
                topic,
                transactions,
                records_per_txn,
            } => Box::new(source::AbortedBurst {
                topic,
                transactions,
                records_per_txn,
            }),
            FaultAction::HangingTransaction {
                topic,
                partition,
                records,
            } => Box::new(source::HangingTransaction {
                topic,
                partition,
                records,
            }),
        }
    }
}

/// The check of every verb that writes to or grows a source topic: a fault on a topic nobody
/// copies or checks proves nothing (and a send to a topic that does not exist fails only in a
/// delivery report).
pub(super) fn workload_topic(topic: &str, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
    if check.workload_topics.iter().any(|t| t == topic) {
        return Ok(());
    }
    Err((
        "topic".into(),
        format!(
            "`{topic}` is not one of the workload's topics ({})",
            shown_list(check.workload_topics)
        ),
    ))
}

/// A list for an error message: the first five names, and how many more.
fn shown_list(names: &[String]) -> String {
    let mut out: Vec<String> = names.iter().take(5).map(|n| format!("`{n}`")).collect();
    if names.len() > 5 {
        out.push(format!("and {} more", names.len() - 5));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Way;

    /// One `[[fault]]` of every verb, as a scenario would hold it.
    fn every_verb() -> Vec<FaultAction> {
        let (cluster, direction) = (Side::Target, Way::Both);
        vec![
            FaultAction::Latency {
                cluster,
                direction,
                latency_ms: 5,
                jitter_ms: 0,
            },
            FaultAction::Bandwidth {
                cluster,
                direction,
                bytes_per_sec: 1,
            },
            FaultAction::Blackhole { cluster, direction },
            FaultAction::Reset { cluster },
            FaultAction::Refuse { cluster },
            FaultAction::AddInstance,
            FaultAction::RemoveInstance { instance: None },
            FaultAction::StallInstance { instance: 0 },
            FaultAction::CrashInstance { instance: 0 },
            FaultAction::AddPartitions {
                topic: "t".into(),
                partitions: 6,
            },
            FaultAction::RestartConnector {
                connector: None,
                include_tasks: true,
            },
            FaultAction::RestartTask {
                connector: None,
                task: 0,
            },
            FaultAction::KillBroker { cluster, node: 1 },
            FaultAction::StopBroker { cluster, node: 1 },
            FaultAction::BounceBrokers { cluster },
            FaultAction::AbortedBurst {
                topic: "t".into(),
                transactions: 1,
                records_per_txn: 1,
            },
            FaultAction::HangingTransaction {
                topic: "t".into(),
                partition: 0,
                records: 1,
            },
        ]
    }

    #[test]
    fn each_verb_is_named_as_its_toml_kind_and_only_network_verbs_need_proxies() {
        let network = ["latency", "bandwidth", "blackhole", "reset", "refuse"];
        let mut names = Vec::new();
        for action in every_verb() {
            let verb = action.verb();
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(json["kind"], verb.name(), "{json}");
            let proxied = network.contains(&verb.name());
            assert_eq!(
                verb.proxies(),
                proxied.then_some(Side::Target),
                "{}",
                verb.name()
            );
            names.push(verb.name());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 17, "every verb has its own name: {names:?}");
    }

    #[test]
    fn durations_and_the_registry_facts_other_checks_lean_on() {
        let uses: Vec<(&str, DurationUse)> = every_verb()
            .iter()
            .map(|a| (a.name(), a.duration_use()))
            .collect();
        let of = |name: &str| uses.iter().find(|(n, _)| *n == name).map(|(_, u)| *u);
        for name in [
            "stall-instance",
            "hanging-transaction",
            "bounce-brokers",
            "latency",
            "bandwidth",
            "blackhole",
            "refuse",
        ] {
            assert_eq!(of(name), Some(DurationUse::Required), "{name}");
        }
        for name in ["crash-instance", "kill-broker", "stop-broker"] {
            assert_eq!(of(name), Some(DurationUse::Optional), "{name}");
        }
        for name in [
            "reset",
            "add-instance",
            "remove-instance",
            "add-partitions",
            "aborted-burst",
            "restart-connector",
            "restart-task",
        ] {
            assert_eq!(of(name), Some(DurationUse::Unused), "{name}");
        }
        let adds: u32 = every_verb().iter().map(|a| a.verb().adds_instances()).sum();
        assert_eq!(adds, 1, "only add-instance adds an instance");
        let grows: Vec<(String, u32)> = every_verb()
            .iter()
            .filter_map(|a| a.verb().grows().map(|(t, n)| (t.to_string(), n)))
            .collect();
        assert_eq!(grows, [("t".to_string(), 6)], "only add-partitions grows");
    }
}
