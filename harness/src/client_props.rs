//! Java-client-style properties (`bootstrap.servers`, `security.protocol`, `sasl.jaas.config`,
//! `ssl.*`) as users already have them, translated to librdkafka settings.
//!
//! Users paste the client config of their Java applications; every cutover client (checker,
//! workload, replicator) is configured from the same [`ClientProps`]. Secrets never leave this
//! type in clear: `Debug` and [`ClientProps::redacted`] mask them.

use std::collections::BTreeMap;
use std::path::Path;

use rdkafka::ClientConfig;

use crate::error::{HarnessError, Result};

/// Ordered Java-client properties.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientProps {
    props: BTreeMap<String, String>,
}

use secrets::{is_secret_key, REDACTED};

impl std::fmt::Debug for ClientProps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

impl ClientProps {
    pub fn new() -> ClientProps {
        ClientProps::default()
    }

    /// Properties with only `bootstrap.servers` set.
    pub fn bootstrap(servers: impl Into<String>) -> ClientProps {
        let mut props = ClientProps::new();
        props.set("bootstrap.servers", servers);
        props
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.props.insert(key.into(), value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The SASL user name in `sasl.jaas.config` (or `sasl.username`), never the password.
    pub fn sasl_user(&self) -> Option<String> {
        self.get("sasl.jaas.config")
            .and_then(parse_jaas)
            .map(|(user, _)| user)
            .or_else(|| self.get("sasl.username").map(str::to_string))
    }

    pub fn bootstrap_servers(&self) -> Option<&str> {
        self.get("bootstrap.servers")
    }

    /// The properties with secret values replaced, safe to log or report.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        self.props
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_key(k) {
                    REDACTED.to_string()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect()
    }

    /// Reads a Java `.properties` file.
    pub fn from_file(path: &Path) -> Result<ClientProps> {
        let text = std::fs::read_to_string(path).map_err(HarnessError::io(format!(
            "reading client properties {}",
            path.display()
        )))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses Java `.properties` text: `key=value`, `key: value`, `key value`, `#`/`!`
    /// comments, backslash line continuations and escapes. `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ClientProps> {
        let entries = located::properties::parse(text, origin).map_err(|e| {
            HarnessError::ClientProperties {
                file: e.origin,
                line: e.line,
                reason: e.reason,
            }
        })?;
        let mut props = ClientProps::new();
        for e in entries {
            props.set(e.key, e.value);
        }
        Ok(props)
    }

    /// Translates to a librdkafka configuration. Keys librdkafka shares with the Java client
    /// pass through; Java-only ones are mapped or rejected with the key named.
    pub fn to_rdkafka(&self) -> Result<ClientConfig> {
        let mut config = ClientConfig::new();
        let reject = |key: &str, reason: String| HarnessError::ClientProperties {
            file: "client properties".into(),
            line: 0,
            reason: format!("`{key}`: {reason}"),
        };
        for (key, value) in &self.props {
            match key.as_str() {
                "sasl.mechanism" => {
                    config.set("sasl.mechanisms", value);
                }
                "sasl.jaas.config" => {
                    let (user, pass) = parse_jaas(value).ok_or_else(|| {
                        reject(
                            key,
                            "expected `...LoginModule required username=\"…\" password=\"…\";` \
                             (PLAIN or SCRAM); other login modules are not supported"
                                .into(),
                        )
                    })?;
                    config.set("sasl.username", user);
                    config.set("sasl.password", pass);
                }
                "ssl.truststore.location" => {
                    let kind = self
                        .get("ssl.truststore.type")
                        .unwrap_or("JKS")
                        .to_ascii_uppercase();
                    if kind != "PEM" {
                        return Err(reject(
                            key,
                            format!(
                                "a {kind} truststore cannot be read by librdkafka; export the CA as PEM \
                                 (`keytool -exportcert -rfc -keystore … -alias …`) and set \
                                 ssl.truststore.type=PEM, or give ssl.ca.location"
                            ),
                        ));
                    }
                    config.set("ssl.ca.location", value);
                }
                "ssl.truststore.type" | "ssl.truststore.password" | "ssl.keystore.type" => {}
                "ssl.keystore.location" => {
                    config.set("ssl.keystore.location", value);
                }
                "ssl.key.password" => {
                    config.set("ssl.key.password", value);
                }
                "ssl.endpoint.identification.algorithm" => {
                    let v = if value.is_empty() { "none" } else { value };
                    config.set("ssl.endpoint.identification.algorithm", v);
                }
                "ssl.truststore.certificates" => {
                    config.set("ssl.ca.pem", value);
                }
                "client.dns.lookup"
                | "key.serializer"
                | "value.serializer"
                | "key.deserializer"
                | "value.deserializer"
                | "sasl.login.callback.handler.class"
                | "sasl.client.callback.handler.class" => {}
                "request.timeout.ms" => {
                    config.set("socket.timeout.ms", value);
                }
                "receive.buffer.bytes" => {
                    config.set("socket.receive.buffer.bytes", value);
                }
                "send.buffer.bytes" => {
                    config.set("socket.send.buffer.bytes", value);
                }
                "max.request.size" => {
                    config.set("message.max.bytes", value);
                }
                "delivery.timeout.ms" => {
                    config.set("message.timeout.ms", value);
                }
                "fetch.max.wait.ms" => {
                    config.set("fetch.wait.max.ms", value);
                }
                "buffer.memory" => {
                    let kb = value.parse::<u64>().map_err(|_| {
                        reject(key, format!("expected a number of bytes, found `{value}`"))
                    })? / 1024;
                    config.set("queue.buffering.max.kbytes", kb.max(1).to_string());
                }
                "partition.assignment.strategy" => {
                    config.set("partition.assignment.strategy", assignor_names(value));
                }
                // Java-only settings without a librdkafka counterpart: nothing to apply.
                "max.poll.records"
                | "default.api.timeout.ms"
                | "allow.auto.create.topics"
                | "internal.leave.group.on.close"
                | "metric.reporters"
                | "interceptor.classes"
                | "auto.include.jmx.reporter"
                | "enable.metrics.push" => {}
                _ => {
                    config.set(key, value);
                }
            }
        }
        Ok(config)
    }
}

/// Java assignor class names (or their short names) as librdkafka names them.
fn assignor_names(value: &str) -> String {
    value
        .split(',')
        .map(|a| {
            let short = a
                .trim()
                .rsplit('.')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            match short.as_str() {
                "rangeassignor" | "range" => "range",
                "roundrobinassignor" | "roundrobin" => "roundrobin",
                "cooperativestickyassignor" | "cooperative-sticky" => "cooperative-sticky",
                _ => a.trim(),
            }
            .to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Java client properties (common, consumer, producer, admin) that cutover understands; any
/// other key must be a librdkafka property.
const JAVA_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "client.rack",
    "client.dns.lookup",
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "sasl.kerberos.service.name",
    "sasl.login.callback.handler.class",
    "sasl.client.callback.handler.class",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.type",
    "ssl.truststore.certificates",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.type",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "request.timeout.ms",
    "receive.buffer.bytes",
    "send.buffer.bytes",
    "max.request.size",
    "delivery.timeout.ms",
    "fetch.max.wait.ms",
    "buffer.memory",
    "partition.assignment.strategy",
    "max.poll.records",
    "default.api.timeout.ms",
    "allow.auto.create.topics",
    "internal.leave.group.on.close",
    "metric.reporters",
    "interceptor.classes",
    "auto.include.jmx.reporter",
    "enable.metrics.push",
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "group.id",
    "group.instance.id",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "isolation.level",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "check.crcs",
    "acks",
    "linger.ms",
    "batch.size",
    "compression.type",
    "retries",
    "retry.backoff.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "max.in.flight.requests.per.connection",
    "enable.idempotence",
    "transactional.id",
    "transaction.timeout.ms",
    "metadata.max.age.ms",
    "connections.max.idle.ms",
    "socket.connection.setup.timeout.ms",
];

/// Checks that `key` is a Java client property cutover maps, or a librdkafka property; the
/// error says what was expected and suggests the closest known key.
pub fn check_key(key: &str) -> std::result::Result<(), String> {
    if JAVA_KEYS.contains(&key) {
        return Ok(());
    }
    // librdkafka tells an unknown key from a bad value.
    let mut probe = ClientConfig::new();
    probe.set(key, "\u{1}");
    match probe.create_native_config() {
        Ok(_) => return Ok(()),
        Err(rdkafka::error::KafkaError::ClientConfig(res, ..))
            if res != rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN =>
        {
            return Ok(())
        }
        Err(_) => {}
    }
    let nearest = JAVA_KEYS
        .iter()
        .map(|k| (edit_distance(k, key), *k))
        .min()
        .filter(|(d, _)| *d <= 3);
    Err(match nearest {
        Some((_, k)) => format!("unknown client property (did you mean `{k}`?)"),
        None => {
            "unknown client property: expected a Java client property or a librdkafka one".into()
        }
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Extracts username and password from a PLAIN/SCRAM JAAS line.
fn parse_jaas(jaas: &str) -> Option<(String, String)> {
    let field = |name: &str| -> Option<String> {
        let pattern = format!("{name}=");
        let start = jaas.find(&pattern)? + pattern.len();
        let rest = &jaas[start..];
        if let Some(stripped) = rest.strip_prefix('"') {
            let end = stripped.find('"')?;
            Some(stripped[..end].to_string())
        } else {
            let end = rest.find([' ', ';']).unwrap_or(rest.len());
            Some(rest[..end].to_string())
        }
    };
    if !(jaas.contains("PlainLoginModule") || jaas.contains("ScramLoginModule")) {
        return None;
    }
    Some((field("username")?, field("password")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_properties_syntax() {
        let text = "# comment\n! also comment\nbootstrap.servers = a:9092,\\\n    b:9092\nsecurity.protocol:SASL_SSL\nclient.id my\\ app\n";
        let props = ClientProps::parse(text, "t.properties").unwrap();
        assert_eq!(props.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(props.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(props.get("client.id"), Some("my app"));
    }

    #[test]
    fn maps_jaas_to_username_and_password_and_redacts_them() {
        let mut props = ClientProps::bootstrap("x:1");
        props.set("sasl.mechanism", "SCRAM-SHA-512");
        props.set(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cr3t-value\";",
        );
        let config = props.to_rdkafka().unwrap();
        assert_eq!(config.get("sasl.username"), Some("alice"));
        assert_eq!(config.get("sasl.password"), Some("s3cr3t-value"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        let shown = format!("{props:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn keys_are_checked_and_java_names_mapped() {
        assert!(check_key("bootstrap.servers").is_ok());
        assert!(
            check_key("socket.keepalive.enable").is_ok(),
            "librdkafka keys pass"
        );
        let e = check_key("bootstrap.server").unwrap_err();
        assert!(e.contains("bootstrap.servers"), "{e}");
        assert!(check_key("no.such.thing").is_err());
        let mut props = ClientProps::bootstrap("x:1");
        props.set("receive.buffer.bytes", "65536");
        props.set(
            "partition.assignment.strategy",
            "org.apache.kafka.clients.consumer.RoundRobinAssignor",
        );
        let config = props.to_rdkafka().unwrap();
        assert_eq!(config.get("socket.receive.buffer.bytes"), Some("65536"));
        assert_eq!(
            config.get("partition.assignment.strategy"),
            Some("roundrobin")
        );
    }

    #[test]
    fn jks_truststore_is_rejected_with_a_fix() {
        let mut props = ClientProps::bootstrap("x:1");
        props.set("ssl.truststore.location", "/etc/ts.jks");
        let err = props.to_rdkafka().unwrap_err().to_string();
        assert!(err.contains("ssl.truststore.location"), "{err}");
        assert!(err.contains("PEM"), "{err}");
    }
}
