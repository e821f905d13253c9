//! What a cluster should be: [`ClusterSpec`], serde-ready so scenario files can hold it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dist::KafkaVersion;
use crate::error::{HarnessError, Result};
use crate::security::{check_credential, SaslMechanism, SecurityProtocol, UserSpec, ADMIN_USER};

/// Which backend runs (or reaches) the cluster.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Broker JVMs started from the cached Apache Kafka jars (default).
    #[default]
    Process,
    /// Containers through testcontainers and a Docker engine.
    Container,
    /// An existing cluster given by bootstrap servers and client properties.
    External,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Process => "process",
            BackendKind::Container => "container",
            BackendKind::External => "external",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most brokers an owned cluster may have (every node is broker and controller).
pub const MAX_BROKERS: u32 = 5;

/// A cluster to start (process, container) or reach (external).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Name used in logs, temp dirs and errors (e.g. `source`, `target`).
    #[serde(default)]
    pub name: String,
    /// Backend; `process` by default.
    #[serde(default)]
    pub backend: BackendKind,
    /// Apache Kafka version for owned clusters.
    #[serde(default)]
    pub kafka_version: KafkaVersion,
    /// Number of combined broker+controller nodes (1 or 3 are the usual; at most 5).
    #[serde(default = "default_brokers")]
    pub brokers: u32,
    /// Broker config overrides (`server.properties` keys), applied last.
    #[serde(default)]
    pub broker_config: BTreeMap<String, String>,
    /// Explicit client ports, one per broker; free random ports when empty.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Maximum heap per broker JVM, in MiB.
    #[serde(default = "default_heap_mb")]
    pub heap_mb: u32,
    /// Process backend: brokers compile hot code with C2 as well as C1. Off (the default), a
    /// broker JVM stops at C1 (`-XX:TieredStopAtLevel=1`): it starts with less CPU and spends
    /// none on C2 compilations, which a test broker's short life at a few thousand records a
    /// second never pays back. Turn it on for throughput measurements.
    #[serde(default)]
    pub full_jit: bool,
    /// Seconds to wait for the cluster to be ready.
    #[serde(default = "default_ready_timeout_secs")]
    pub ready_timeout_secs: u64,
    /// External clusters: how long connecting may take before the problem (wrong password,
    /// untrusted certificate, unreachable bootstrap…) is reported. Authentication and TLS
    /// failures are reported as soon as the broker answers.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Container image (`container` backend); a locally built `cutover/kafka:<version>` when unset.
    #[serde(default)]
    pub image: Option<String>,
    /// Bootstrap servers (`external` backend).
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// Java-client properties (`external` backend; secrets are redacted in every output).
    #[serde(default)]
    pub client_properties: BTreeMap<String, String>,
    /// Keep the cluster's temp dir after teardown (logs, data) for inspection.
    #[serde(default)]
    pub keep: bool,
    /// Put a fault proxy ([`crate::proxy::Proxy`]) in front of every broker (owned clusters):
    /// `advertised.listeners` names the proxy's port for the client listener, so its clients
    /// cannot bypass it, while inter-broker and controller traffic goes direct on listeners of
    /// their own, and a `DIRECT` listener (same security) serves cutover's own clients around
    /// the proxy. Explicit `ports` are then the proxies' ports. Off by default.
    #[serde(default)]
    pub proxied: bool,
    /// The seed of the proxies' jitter (each broker's proxy draws from its own stream of it):
    /// a scenario passes its seed, so a run with the same seed draws the same delays.
    /// Default 0. Set by the scenario runner, not written in files.
    #[serde(skip)]
    pub proxy_seed: u64,
    /// Owned clusters: `plaintext` (default), `ssl` (TLS with a per-run CA) or `sasl_ssl`
    /// (TLS + SASL SCRAM-SHA-512 and PLAIN, ACLs enforced, `cutover-admin` as super user).
    #[serde(default)]
    pub security: SecurityProtocol,
    /// The SASL mechanism cutover's own clients use on a `sasl_ssl` cluster (the brokers
    /// accept both `SCRAM-SHA-512` and `PLAIN`).
    #[serde(default)]
    pub sasl_mechanism: SaslMechanism,
    /// Extra SASL users of a `sasl_ssl` cluster (for systems under test that should not run
    /// as the super user); passwords are generated per run unless given.
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// ACLs created (as the super user) once a `sasl_ssl` cluster is ready, e.g. what the
    /// system under test's principal needs: `{ principal = "User:replicator", resource_type =
    /// "topic", name = "orders", pattern = "literal", operation = "read", permission =
    /// "allow" }`.
    #[serde(default)]
    pub acls: Vec<crate::acl::AclBinding>,
}

fn default_brokers() -> u32 {
    1
}

fn default_heap_mb() -> u32 {
    512
}

/// The default bound on connecting to an external cluster.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 30;

fn default_connect_timeout_secs() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_SECS
}

fn default_ready_timeout_secs() -> u64 {
    90
}

impl ClusterSpec {
    /// A 1-broker cluster of the default version on the process backend.
    pub fn new(name: impl Into<String>) -> ClusterSpec {
        ClusterSpec {
            name: name.into(),
            backend: BackendKind::Process,
            kafka_version: KafkaVersion::default(),
            brokers: default_brokers(),
            broker_config: BTreeMap::new(),
            ports: Vec::new(),
            heap_mb: default_heap_mb(),
            full_jit: false,
            ready_timeout_secs: default_ready_timeout_secs(),
            connect_timeout_secs: DEFAULT_CONNECT_TIMEOUT_SECS,
            image: None,
            bootstrap_servers: None,
            client_properties: BTreeMap::new(),
            keep: false,
            proxied: false,
            proxy_seed: 0,
            security: SecurityProtocol::Plaintext,
            sasl_mechanism: SaslMechanism::ScramSha512,
            users: Vec::new(),
            acls: Vec::new(),
        }
    }

    pub fn brokers(mut self, n: u32) -> Self {
        self.brokers = n;
        self
    }

    pub fn version(mut self, version: KafkaVersion) -> Self {
        self.kafka_version = version;
        self
    }

    pub fn backend(mut self, backend: BackendKind) -> Self {
        self.backend = backend;
        self
    }

    pub fn broker_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.broker_config.insert(key.into(), value.into());
        self
    }

    /// Puts a fault proxy in front of every broker (see [`ClusterSpec::proxied`]).
    pub fn proxied(mut self, on: bool) -> Self {
        self.proxied = on;
        self
    }

    /// Secures the cluster (see [`ClusterSpec::security`]).
    pub fn security(mut self, protocol: SecurityProtocol) -> Self {
        self.security = protocol;
        self
    }

    /// Adds a SASL user (a password is generated when `None`).
    pub fn user(mut self, name: impl Into<String>, password: Option<&str>) -> Self {
        self.users.push(UserSpec {
            name: name.into(),
            password: password.map(str::to_string),
        });
        self
    }

    /// Adds an ACL created once the cluster is ready.
    pub fn acl(mut self, acl: crate::acl::AclBinding) -> Self {
        self.acls.push(acl);
        self
    }

    pub fn ready_timeout(&self) -> Duration {
        Duration::from_secs(self.ready_timeout_secs)
    }

    /// Checks the fields that do not depend on the machine.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| HarnessError::InvalidSpec {
            field: format!("{}.{field}", self.name),
            reason,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "name",
                format!(
                    "`{}`: use letters, digits, `-` and `_` only (it names temp dirs)",
                    self.name
                ),
            ));
        }
        match self.backend {
            BackendKind::External => {
                if self.bootstrap_servers.as_deref().unwrap_or("").is_empty()
                    && !self.client_properties.contains_key("bootstrap.servers")
                {
                    return Err(bad(
                        "bootstrap_servers",
                        "the external backend needs bootstrap servers".into(),
                    ));
                }
                if self.security != SecurityProtocol::Plaintext
                    || !self.users.is_empty()
                    || !self.acls.is_empty()
                {
                    return Err(bad(
                        "security",
                        "an external cluster's security comes from its client properties (security.protocol, sasl.*, ssl.*), not from `security`/`users`".into(),
                    ));
                }
                if self.proxied {
                    return Err(bad(
                        "proxied",
                        "the external backend does not own its brokers' listeners; fault proxies need an owned cluster (process or container)".into(),
                    ));
                }
            }
            BackendKind::Process | BackendKind::Container => {
                if self.brokers == 0 || self.brokers > MAX_BROKERS {
                    return Err(bad(
                        "brokers",
                        format!("{}: expected 1 to {MAX_BROKERS}", self.brokers),
                    ));
                }
                if !self.ports.is_empty() && self.ports.len() != self.brokers as usize {
                    return Err(bad(
                        "ports",
                        format!(
                            "{} ports for {} brokers: give one per broker or none",
                            self.ports.len(),
                            self.brokers
                        ),
                    ));
                }
                if self.heap_mb < 128 {
                    return Err(bad(
                        "heap_mb",
                        format!("{}: a broker needs at least 128 MiB", self.heap_mb),
                    ));
                }
                if self.proxied {
                    for key in PROXIED_RESERVED_BROKER_KEYS {
                        if self.broker_config.contains_key(*key) {
                            return Err(bad(
                                &format!("broker_config.{key}"),
                                "set by the harness for a proxied cluster (inter-broker traffic must bypass the proxies)".into(),
                            ));
                        }
                    }
                }
                if !self.acls.is_empty() && self.security != SecurityProtocol::SaslSsl {
                    return Err(bad(
                        "acls",
                        "ACLs need `security = \"sasl_ssl\"` (only there are principals to grant them to)".into(),
                    ));
                }
                if !self.users.is_empty() && self.security != SecurityProtocol::SaslSsl {
                    return Err(bad(
                        "users",
                        format!(
                            "SASL users need `security = \"sasl_ssl\"` (this cluster is `{}`)",
                            self.security.kafka_name().to_ascii_lowercase()
                        ),
                    ));
                }
                for (i, user) in self.users.iter().enumerate() {
                    check_credential("the name", &user.name)
                        .map_err(|r| bad(&format!("users[{i}].name"), r))?;
                    if user.name == ADMIN_USER {
                        return Err(bad(
                            &format!("users[{i}].name"),
                            format!(
                                "`{ADMIN_USER}` is the harness's own super user; pick another name"
                            ),
                        ));
                    }
                    if let Some(password) = &user.password {
                        check_credential("the password", password)
                            .map_err(|r| bad(&format!("users[{i}].password"), r))?;
                    }
                }
                if self.security != SecurityProtocol::Plaintext {
                    for key in self.broker_config.keys() {
                        if SECURED_RESERVED_PREFIXES.iter().any(|p| key.starts_with(p)) {
                            return Err(bad(
                                &format!("broker_config.{key}"),
                                "set by the harness for a secured cluster (listeners, TLS material, SASL and the authorizer are per run)".into(),
                            ));
                        }
                    }
                }
                for key in RESERVED_BROKER_KEYS {
                    if self.broker_config.contains_key(*key) {
                        return Err(bad(
                            &format!("broker_config.{key}"),
                            "set by the harness (ports, node ids and directories are per node)"
                                .into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Broker settings the harness owns and users cannot override.
pub const RESERVED_BROKER_KEYS: &[&str] = &[
    "node.id",
    "process.roles",
    "listeners",
    "advertised.listeners",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "log.dirs",
    "controller.listener.names",
];

/// Broker setting prefixes the harness owns when the cluster is secured.
pub const SECURED_RESERVED_PREFIXES: &[&str] = &[
    "ssl.",
    "sasl.",
    "listener.",
    "inter.broker.listener.name",
    "authorizer.class.name",
    "super.users",
];

/// Broker settings the harness also owns when the cluster is proxied.
pub const PROXIED_RESERVED_BROKER_KEYS: &[&str] = &[
    "inter.broker.listener.name",
    "listener.security.protocol.map",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_toml_like_serde_and_rejects_unknown_fields() {
        let json = r#"{"name":"source","brokers":3,"kafka_version":"4.0.2"}"#;
        let spec: ClusterSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.brokers, 3);
        assert!(!spec.proxied, "not proxied unless asked");
        let proxied: ClusterSpec =
            serde_json::from_str(r#"{"name":"source","proxied":true}"#).unwrap();
        assert!(proxied.proxied);
        assert_eq!(spec.kafka_version.to_string(), "4.0.2");
        assert!(serde_json::from_str::<ClusterSpec>(r#"{"name":"x","brokerz":3}"#).is_err());
        let err = serde_json::from_str::<ClusterSpec>(r#"{"name":"x","kafka_version":"2.8.0"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("4.x"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let err = ClusterSpec::new("s").brokers(0).validate().unwrap_err();
        assert!(err.to_string().contains("s.brokers"), "{err}");
        let err = ClusterSpec::new("s")
            .broker_config("log.dirs", "/x")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("broker_config.log.dirs"), "{err}");
        let err = ClusterSpec::new("p")
            .proxied(true)
            .broker_config("inter.broker.listener.name", "PLAINTEXT")
            .validate()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("p.broker_config.inter.broker.listener.name"),
            "{err}"
        );
        let mut ext = ClusterSpec::new("e")
            .backend(BackendKind::External)
            .proxied(true);
        ext.bootstrap_servers = Some("127.0.0.1:9092".into());
        let err = ext.validate().unwrap_err();
        assert!(err.to_string().contains("e.proxied"), "{err}");
        let err = ClusterSpec::new("bad name").validate().unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }
}
