//! Connecting to a cluster someone else secured, and saying in words what went wrong.
//!
//! librdkafka retries forever and reports trouble as error events with terse reasons
//! (`SASL authentication error: … invalid credentials`, `certificate verify failed`,
//! `Connection refused`). [`probe`] connects with a deadline, collects those events and turns
//! the first definitive one into a [`ConnectProblem`]: the cause in words and the client
//! property to fix. Authentication and TLS failures are reported as soon as they happen; an
//! unreachable bootstrap when the deadline passes. Secrets are never part of a problem: only
//! the user name is named, never the password.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio::time::Instant;

use crate::client_props::ClientProps;
use crate::error::{HarnessError, Result};

/// Why a cluster could not be used, in words, with the property that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectProblem {
    #[error("authentication failed: the brokers rejected user `{user}` with SASL mechanism {mechanism} (wrong user name or password). Fix `sasl.jaas.config` (username=\"…\" password=\"…\"). Broker said: {detail}")]
    AuthenticationFailed {
        user: String,
        mechanism: String,
        detail: String,
    },
    #[error("SASL mechanism `{mechanism}` is not usable: {detail}. Fix `sasl.mechanism` (brokers commonly enable SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN; ask the cluster's owner which)")]
    UnsupportedMechanism { mechanism: String, detail: String },
    #[error("the broker's TLS certificate is not trusted: it is not signed by a CA in the configured trust store. Fix `ssl.truststore.location` (a PEM CA file with `ssl.truststore.type=PEM`) or `ssl.ca.location`. TLS said: {detail}")]
    UntrustedCertificate { detail: String },
    #[error("the broker's TLS certificate does not name the host dialled (hostname verification failed). Use the host name the certificate was issued for in `bootstrap.servers`, or, only for a test cluster, set `ssl.endpoint.identification.algorithm=` (empty). TLS said: {detail}")]
    HostnameMismatch { detail: String },
    #[error("the TLS handshake failed: {detail}. Check `security.protocol` (does the listener speak TLS?) and the `ssl.*` properties")]
    TlsHandshake { detail: String },
    #[error("the broker closed the connection before it answered: `security.protocol` is `{protocol}`, which the listener at {bootstrap} probably does not speak (a TLS or SASL listener reached without them, or the reverse). Fix `security.protocol`. librdkafka said: {detail}")]
    ProtocolMismatch {
        protocol: String,
        bootstrap: String,
        detail: String,
    },
    #[error("no broker answered at {bootstrap} within {seconds} s: {detail}. Fix `bootstrap.servers` (host and port of the client listener) or the network path to it")]
    Unreachable {
        bootstrap: String,
        seconds: u64,
        detail: String,
    },
    #[error("principal `{principal}` is not allowed to {operation} {resource}: an ACL is missing. Ask the cluster's owner for it, e.g. `kafka-acls --add --allow-principal User:{principal} --operation {operation} --{resource_kind} {resource_name}`")]
    NotAuthorized {
        principal: String,
        operation: String,
        resource: String,
        resource_kind: String,
        resource_name: String,
    },
    #[error("the client properties cannot be used: {detail}")]
    BadConfig { detail: String },
}

/// What a successful probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOk {
    pub broker_ids: Vec<i32>,
    pub elapsed: Duration,
}

#[derive(Default)]
struct Events(Mutex<Vec<(RDKafkaErrorCode, String)>>);

struct ProbeContext {
    events: Arc<Events>,
}

impl ClientContext for ProbeContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        if let Ok(mut events) = self.events.0.lock() {
            events.push((code, reason.to_string()));
        }
    }

    /// Some causes (a disconnect during the ApiVersion exchange) are only logged.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, _fac: &str, log_message: &str) {
        if (level as i32) <= (rdkafka::config::RDKafkaLogLevel::Warning as i32) {
            if let Ok(mut events) = self.events.0.lock() {
                events.push((RDKafkaErrorCode::Fail, log_message.to_string()));
            }
        }
    }
}

impl ConsumerContext for ProbeContext {}

/// Connects with `props` and asks for metadata (of `topics`, when given, which also checks
/// the principal may describe them) until `timeout`; returns the first definitive problem.
pub async fn probe(
    props: &ClientProps,
    topics: &[String],
    timeout: Duration,
) -> std::result::Result<ProbeOk, ConnectProblem> {
    let started = Instant::now();
    let mut config = props.to_rdkafka().map_err(|e| ConnectProblem::BadConfig {
        detail: e.to_string(),
    })?;
    config.set("client.id", "cutover-probe");
    let events = Arc::new(Events::default());
    let context = ProbeContext {
        events: events.clone(),
    };
    let consumer: BaseConsumer<ProbeContext> = config
        .create_with_context(context)
        .map_err(|e| classify_config_error(props, &e.to_string()))?;
    let consumer = Arc::new(consumer);
    let deadline = started + timeout;
    let mut last = String::from("no answer yet");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let step = remaining
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(100));
        let c = consumer.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            // Error events reach the context only while the client's queue is served.
            let _ = c.poll(Duration::from_millis(50));
            let fetched = c.fetch_metadata(None, step);
            let _ = c.poll(Duration::from_millis(50));
            fetched.map(|m| {
                (
                    m.brokers().iter().map(|b| b.id()).collect::<Vec<_>>(),
                    m.topics()
                        .iter()
                        .map(|t| (t.name().to_string(), t.error()))
                        .collect::<Vec<_>>(),
                )
            })
        })
        .await
        .map_err(|e| ConnectProblem::BadConfig {
            detail: format!("the probe task failed: {e}"),
        })?;
        let seen = events.0.lock().map(|e| e.clone()).unwrap_or_default();
        if let Some(problem) = seen
            .iter()
            .find_map(|(code, reason)| classify(props, *code, reason))
        {
            return Err(problem);
        }
        if let Some((_, reason)) = seen.last() {
            last = reason.clone();
        }
        match fetched {
            Ok((brokers, _)) if !brokers.is_empty() => {
                for topic in topics {
                    check_topic(&consumer, props, topic, step.max(Duration::from_secs(5))).await?;
                }
                return Ok(ProbeOk {
                    broker_ids: brokers,
                    elapsed: started.elapsed(),
                });
            }
            Ok(_) => last = "the metadata lists no broker".into(),
            Err(e) => {
                if seen.is_empty() {
                    last = e.to_string();
                }
            }
        }
        if Instant::now() >= deadline {
            let bootstrap = props.bootstrap_servers().unwrap_or("(unset)").to_string();
            // A listener that accepts TCP but never answered speaks another protocol.
            if let Some(addr) = accepting_address(&bootstrap).await {
                return Err(ConnectProblem::ProtocolMismatch {
                    protocol: props
                        .get("security.protocol")
                        .unwrap_or("PLAINTEXT")
                        .to_string(),
                    bootstrap,
                    detail: format!(
                        "{addr} accepts TCP connections but gave no Kafka answer within {} s ({last})",
                        timeout.as_secs().max(1)
                    ),
                });
            }
            return Err(ConnectProblem::Unreachable {
                bootstrap,
                seconds: timeout.as_secs().max(1),
                detail: last,
            });
        }
    }
}

/// The first bootstrap address that accepts a TCP connection within a second.
async fn accepting_address(bootstrap: &str) -> Option<String> {
    for addr in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let addr = addr.rsplit("://").next().unwrap_or(addr).to_string();
        let connect = tokio::net::TcpStream::connect(addr.clone());
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            return Some(addr);
        }
    }
    None
}

async fn check_topic(
    consumer: &Arc<BaseConsumer<ProbeContext>>,
    props: &ClientProps,
    topic: &str,
    timeout: Duration,
) -> std::result::Result<(), ConnectProblem> {
    let (c, name) = (consumer.clone(), topic.to_string());
    let result = tokio::task::spawn_blocking(move || {
        c.fetch_metadata(Some(&name), timeout)
            .map(|m| m.topics().first().and_then(|t| t.error()))
    })
    .await
    .map_err(|e| ConnectProblem::BadConfig {
        detail: format!("the probe task failed: {e}"),
    })?;
    match result {
        Ok(Some(err)) => {
            let code = RDKafkaErrorCode::from(err);
            if code == RDKafkaErrorCode::TopicAuthorizationFailed {
                return Err(not_authorized(props, "Describe", "topic", topic));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A missing-ACL problem for the principal in `props`.
pub fn not_authorized(
    props: &ClientProps,
    operation: &str,
    resource_kind: &str,
    resource_name: &str,
) -> ConnectProblem {
    ConnectProblem::NotAuthorized {
        principal: props.sasl_user().unwrap_or_else(|| "ANONYMOUS".into()),
        operation: operation.to_string(),
        resource: format!("{resource_kind} `{resource_name}`"),
        resource_kind: resource_kind.to_string(),
        resource_name: resource_name.to_string(),
    }
}

fn mechanism_of(props: &ClientProps) -> String {
    props
        .get("sasl.mechanism")
        .or_else(|| props.get("sasl.mechanisms"))
        .unwrap_or("GSSAPI")
        .to_string()
}

fn classify_config_error(props: &ClientProps, detail: &str) -> ConnectProblem {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("sasl") && (lower.contains("mechanism") || lower.contains("provider")) {
        return ConnectProblem::UnsupportedMechanism {
            mechanism: mechanism_of(props),
            detail: detail.to_string(),
        };
    }
    ConnectProblem::BadConfig {
        detail: detail.to_string(),
    }
}

/// One librdkafka error event as a problem, when it is definitive.
fn classify(props: &ClientProps, code: RDKafkaErrorCode, reason: &str) -> Option<ConnectProblem> {
    let lower = reason.to_ascii_lowercase();
    let detail = reason.to_string();
    if lower.contains("certificate verify failed") {
        if lower.contains("hostname mismatch") || lower.contains("ip address mismatch") {
            return Some(ConnectProblem::HostnameMismatch { detail });
        }
        return Some(ConnectProblem::UntrustedCertificate { detail });
    }
    if lower.contains("mechanism")
        && (lower.contains("not supported")
            || lower.contains("unsupported")
            || lower.contains("not enabled"))
    {
        return Some(ConnectProblem::UnsupportedMechanism {
            mechanism: mechanism_of(props),
            detail,
        });
    }
    if lower.contains("invalid credentials")
        || lower.contains("authentication failed")
        || lower.contains("invalid username or password")
    {
        return Some(ConnectProblem::AuthenticationFailed {
            user: props.sasl_user().unwrap_or_else(|| "(none)".into()),
            mechanism: mechanism_of(props),
            detail,
        });
    }
    if lower.contains("ssl handshake failed") {
        return Some(ConnectProblem::TlsHandshake { detail });
    }
    if lower.contains("incorrect security.protocol")
        || lower.contains("connecting to a ssl listener")
        || lower.contains("connecting to a plaintext listener")
    {
        return Some(ConnectProblem::ProtocolMismatch {
            protocol: props
                .get("security.protocol")
                .unwrap_or("PLAINTEXT")
                .to_string(),
            bootstrap: props.bootstrap_servers().unwrap_or("(unset)").to_string(),
            detail,
        });
    }
    if code == RDKafkaErrorCode::Authentication {
        return Some(ConnectProblem::AuthenticationFailed {
            user: props.sasl_user().unwrap_or_else(|| "(none)".into()),
            mechanism: mechanism_of(props),
            detail,
        });
    }
    None
}

/// [`probe`] as a harness error naming the cluster.
pub async fn check(
    cluster: &str,
    props: &ClientProps,
    topics: &[String],
    timeout: Duration,
) -> Result<ProbeOk> {
    probe(props, topics, timeout)
        .await
        .map_err(|problem| HarnessError::Connect {
            cluster: cluster.to_string(),
            problem: Box::new(problem),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl_props() -> ClientProps {
        let mut p = ClientProps::bootstrap("127.0.0.1:9093");
        p.set("security.protocol", "SASL_SSL");
        p.set("sasl.mechanism", "SCRAM-SHA-512");
        p.set(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"hunter2-secret\";",
        );
        p
    }

    #[test]
    fn librdkafka_reasons_become_causes_with_the_property_to_fix() {
        let p = sasl_props();
        let cases = [
            ("sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 12ms in state AUTH_REQ)", "sasl.jaas.config"),
            ("ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 3ms in state SSL_HANDSHAKE)", "ssl.truststore.location"),
            ("127.0.0.1:9093/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10 (see api.version.request) (after 1ms in state APIVERSION_QUERY)", "security.protocol"),
        ];
        for (reason, property) in cases {
            let problem = classify(&p, RDKafkaErrorCode::Authentication, reason)
                .unwrap_or_else(|| panic!("classified: {reason}"));
            let text = problem.to_string();
            assert!(text.contains(property), "{text}");
            assert!(!text.contains("hunter2-secret"), "{text}");
        }
        assert!(classify(&p, RDKafkaErrorCode::AllBrokersDown, "1/1 brokers are down").is_none());
        let auth = classify(&p, RDKafkaErrorCode::Authentication, "SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512").unwrap();
        assert!(auth.to_string().contains("user `alice`"), "{auth}");
    }
}
