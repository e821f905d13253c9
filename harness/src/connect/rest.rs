//! A blocking client of one Connect worker's REST API (the endpoints are documented in the
//! Kafka Connect REST reference, <https://kafka.apache.org/documentation/#connect_rest>, and
//! served by `connect/runtime/.../rest/resources/ConnectorsResource.java`).
//!
//! Any worker answers for the whole cluster: a write reaching a follower is forwarded to the
//! leader. While the group rebalances, writes answer 409 Conflict; [`ConnectRest::put_connector_config`]
//! retries those within its timeout, the other calls return them ([`RestError::is_conflict`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::error::{ConnectError, RestError};

/// Time one request may take before it is a transport error (s).
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// How often the waits poll the status (ms).
const POLL_MS: u64 = 250;

/// A connector's or task's state as Connect reports it (`AbstractStatus.State`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
    Destroyed,
    /// A state this client does not know (a newer Kafka).
    Other(String),
}

impl State {
    fn parse(text: &str) -> State {
        match text {
            "UNASSIGNED" => State::Unassigned,
            "RUNNING" => State::Running,
            "PAUSED" => State::Paused,
            "FAILED" => State::Failed,
            "RESTARTING" => State::Restarting,
            "STOPPED" => State::Stopped,
            "DESTROYED" => State::Destroyed,
            other => State::Other(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<State, D::Error> {
        Ok(State::parse(&String::deserialize(d)?))
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
            State::Destroyed => "DESTROYED",
            State::Other(s) => s,
        };
        f.write_str(text)
    }
}

/// The connector part of `GET /connectors/{name}/status`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ConnectorState {
    pub state: State,
    /// The worker running it: its advertised REST `host:port`.
    pub worker_id: String,
    #[serde(default)]
    pub trace: Option<String>,
}

/// One task of `GET /connectors/{name}/status`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TaskState {
    pub id: u32,
    pub state: State,
    /// The worker running it: its advertised REST `host:port`.
    pub worker_id: String,
    #[serde(default)]
    pub trace: Option<String>,
}

/// `GET /connectors/{name}/status`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ConnectorStatus {
    pub name: String,
    pub connector: ConnectorState,
    #[serde(default)]
    pub tasks: Vec<TaskState>,
    /// `source` or `sink` (absent while the connector is unassigned).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl ConnectorStatus {
    /// The task → worker id map this status shows.
    pub fn assignment(&self) -> BTreeMap<u32, String> {
        self.tasks
            .iter()
            .map(|t| (t.id, t.worker_id.clone()))
            .collect()
    }

    /// True when the connector and at least one task, and every task, are RUNNING.
    pub fn all_running(&self) -> bool {
        self.connector.state == State::Running
            && !self.tasks.is_empty()
            && self.tasks.iter().all(|t| t.state == State::Running)
    }

    /// The first FAILED trace: the connector's, else a task's.
    pub fn failure_trace(&self) -> Option<String> {
        if self.connector.state == State::Failed {
            if let Some(t) = &self.connector.trace {
                return Some(t.clone());
            }
        }
        self.tasks
            .iter()
            .find(|t| t.state == State::Failed)
            .and_then(|t| t.trace.clone())
    }

    /// One line: `connector RUNNING on w; task 0 RUNNING on w, …`.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "connector {} on {}",
            self.connector.state, self.connector.worker_id
        );
        if self.tasks.is_empty() {
            out.push_str("; no tasks");
        }
        for t in &self.tasks {
            out.push_str(&format!("; task {} {} on {}", t.id, t.state, t.worker_id));
        }
        out
    }
}

/// `PUT /connectors/{name}/config`'s answer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ConnectorInfo {
    pub name: String,
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub tasks: Vec<TaskId>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A task's id in [`ConnectorInfo`].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TaskId {
    pub connector: String,
    pub task: u32,
}

/// `GET /`: the worker's version.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: String,
    pub commit: String,
    pub kafka_cluster_id: String,
}

/// A client of one worker, `http://host:port`.
#[derive(Clone)]
pub struct ConnectRest {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for ConnectRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectRest")
            .field("base", &self.base)
            .finish()
    }
}

impl ConnectRest {
    /// A client of the worker at `base` (`http://127.0.0.1:8083`; a trailing `/` is dropped).
    pub fn new(base: impl Into<String>) -> ConnectRest {
        let base = base.into().trim_end_matches('/').to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS)))
            .build()
            .into();
        ConnectRest { base, agent }
    }

    /// The worker's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /`: answers as soon as the worker's REST server is up (before it joined the group).
    pub fn server_info(&self) -> Result<ServerInfo, RestError> {
        self.decode("/", self.call("GET", "/", None)?)
    }

    /// `GET /connectors`: the connectors' names, sorted.
    pub fn list(&self) -> Result<Vec<String>, RestError> {
        let mut names: Vec<String> =
            self.decode("/connectors", self.call("GET", "/connectors", None)?)?;
        names.sort();
        Ok(names)
    }

    /// `PUT /connectors/{name}/config`: creates the connector or replaces its config. A 409
    /// (the group is rebalancing) is retried every 500 ms until `timeout` has passed.
    pub fn put_connector_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<ConnectorInfo, RestError> {
        let path = format!("/connectors/{}/config", segment(name));
        let body = serde_json::to_value(config).map_err(|e| RestError::Decode {
            url: self.full(&path),
            detail: format!("the config does not serialise: {e}"),
        })?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.call("PUT", &path, Some(&body)) {
                Ok(v) => return self.decode(&path, v),
                Err(e) if e.is_conflict() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET /connectors/{name}/config`.
    pub fn connector_config(&self, name: &str) -> Result<BTreeMap<String, String>, RestError> {
        let path = format!("/connectors/{}/config", segment(name));
        self.decode(&path, self.call("GET", &path, None)?)
    }

    /// `GET /connectors/{name}/status`.
    pub fn status(&self, name: &str) -> Result<ConnectorStatus, RestError> {
        let path = format!("/connectors/{}/status", segment(name));
        self.decode(&path, self.call("GET", &path, None)?)
    }

    /// `POST /connectors/{name}/restart?includeTasks=…&onlyFailed=…` (KIP-745). With both
    /// false Connect restarts the connector alone and answers 204 (`None`); otherwise 202 with
    /// the status it is restarting towards (`Some`).
    pub fn restart_connector(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<ConnectorStatus>, RestError> {
        let path = format!(
            "/connectors/{}/restart?includeTasks={include_tasks}&onlyFailed={only_failed}",
            segment(name)
        );
        let v = self.call("POST", &path, None)?;
        if v.is_null() {
            Ok(None)
        } else {
            self.decode(&path, v).map(Some)
        }
    }

    /// `POST /connectors/{name}/tasks/{task}/restart`.
    pub fn restart_task(&self, name: &str, task: u32) -> Result<(), RestError> {
        let path = format!("/connectors/{}/tasks/{task}/restart", segment(name));
        self.call("POST", &path, None).map(drop)
    }

    /// `PUT /connectors/{name}/pause`: the connector and its tasks stop processing (asynchronous).
    pub fn pause(&self, name: &str) -> Result<(), RestError> {
        let path = format!("/connectors/{}/pause", segment(name));
        self.call("PUT", &path, None).map(drop)
    }

    /// `PUT /connectors/{name}/resume`.
    pub fn resume(&self, name: &str) -> Result<(), RestError> {
        let path = format!("/connectors/{}/resume", segment(name));
        self.call("PUT", &path, None).map(drop)
    }

    /// `DELETE /connectors/{name}`: stops its tasks and removes its config.
    pub fn delete(&self, name: &str) -> Result<(), RestError> {
        let path = format!("/connectors/{}", segment(name));
        self.call("DELETE", &path, None).map(drop)
    }

    /// Polls `GET /connectors/{name}/status` every 250 ms until it answers 404: a delete
    /// removes the config at once, the status store catches up within a moment.
    pub fn wait_deleted(&self, name: &str, timeout: Duration) -> Result<(), ConnectError> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.status(name) {
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => e.to_string(),
                Ok(s) => s.summary(),
            };
            if Instant::now() >= deadline {
                return Err(ConnectError::Timeout {
                    seconds: timeout.as_secs(),
                    what: format!("connector `{name}` to be gone (last status: {last})"),
                });
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    /// Polls the status every 250 ms until the connector and every task are RUNNING
    /// ([`ConnectorStatus::all_running`]); the status when they are. After `timeout`, the
    /// error holds the last status seen and the first FAILED trace. A FAILED state is not
    /// final here (a restart may follow), so the wait goes on until the timeout.
    pub fn wait_running(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<ConnectorStatus, ConnectError> {
        self.wait_status(name, timeout, "every task RUNNING", |s| s.all_running())
    }

    /// Polls the status every 250 ms until `done` holds; errors as [`ConnectRest::wait_running`].
    pub fn wait_status(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&ConnectorStatus) -> bool,
    ) -> Result<ConnectorStatus, ConnectError> {
        let deadline = Instant::now() + timeout;
        let last = loop {
            let now = self.status(name);
            if let Ok(s) = &now {
                if done(s) {
                    return Ok(s.clone());
                }
            }
            if Instant::now() >= deadline {
                break now;
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        };
        let (detail, trace) = match last {
            Ok(s) => (
                format!("waiting for {what}; last status: {}", s.summary()),
                s.failure_trace(),
            ),
            Err(e) => (format!("waiting for {what}; last answer: {e}"), None),
        };
        Err(ConnectError::NotRunning {
            connector: name.to_string(),
            seconds: timeout.as_secs(),
            detail,
            trace,
        })
    }

    fn full(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One request; the JSON body of a 2xx answer (`Null` when empty).
    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let url = self.full(path);
        let transport = |e: ureq::Error| RestError::Transport {
            method,
            url: url.clone(),
            detail: e.to_string(),
        };
        let json = "application/json";
        let mut response = match method {
            "GET" => self.agent.get(&url).header("Accept", json).call(),
            "DELETE" => self.agent.delete(&url).header("Accept", json).call(),
            _ => {
                let text = body.map(Value::to_string).unwrap_or_default();
                let req = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                req.header("Accept", json)
                    .header("Content-Type", json)
                    .send(text)
            }
        }
        .map_err(transport)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| RestError::Transport {
                method,
                url: url.clone(),
                detail: format!("reading the answer: {e}"),
            })?;
        if !(200..300).contains(&status) {
            return Err(RestError::Http {
                method,
                url,
                status,
                message: error_message(&text),
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| RestError::Decode {
            url,
            detail: format!("not JSON ({e}): {}", truncate(&text)),
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, v: Value) -> Result<T, RestError> {
        serde_json::from_value(v).map_err(|e| RestError::Decode {
            url: self.full(path),
            detail: e.to_string(),
        })
    }
}

/// Connect's error body `{"error_code": 409, "message": "…"}`'s message, else the body.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| truncate(body))
}

fn truncate(text: &str) -> String {
    const MAX: usize = 2000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A connector name as one URL path segment (percent-encoded outside unreserved characters).
fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_with_a_failed_task_gives_its_trace_and_assignment() {
        let text = r#"{"name":"m","connector":{"state":"RUNNING","worker_id":"127.0.0.1:8083"},
            "tasks":[{"id":0,"state":"RUNNING","worker_id":"127.0.0.1:8084"},
                     {"id":1,"state":"FAILED","worker_id":"127.0.0.1:8083","trace":"java.lang.X: boom"}],
            "type":"source"}"#;
        let s: ConnectorStatus = serde_json::from_str(text).unwrap();
        assert!(!s.all_running());
        assert_eq!(s.failure_trace().as_deref(), Some("java.lang.X: boom"));
        assert_eq!(s.assignment()[&0], "127.0.0.1:8084");
        assert_eq!(s.kind.as_deref(), Some("source"));
        assert!(
            s.summary().contains("task 1 FAILED on 127.0.0.1:8083"),
            "{}",
            s.summary()
        );
        let unknown: ConnectorState =
            serde_json::from_str(r#"{"state":"SLEEPING","worker_id":"w"}"#).unwrap();
        assert_eq!(unknown.state, State::Other("SLEEPING".into()));
    }

    #[test]
    fn a_connector_without_tasks_is_not_running_yet() {
        let s: ConnectorStatus = serde_json::from_str(
            r#"{"name":"m","connector":{"state":"RUNNING","worker_id":"w"},"tasks":[]}"#,
        )
        .unwrap();
        assert!(!s.all_running());
    }

    #[test]
    fn connect_error_bodies_give_their_message_and_names_are_one_segment() {
        assert_eq!(
            error_message(
                r#"{"error_code":409,"message":"Cannot complete request because of a conflicting operation (e.g. worker rebalance)"}"#
            ),
            "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
        );
        assert_eq!(error_message("<html>oops</html>"), "<html>oops</html>");
        assert_eq!(segment("mm2 a/b"), "mm2%20a%2Fb");
        assert_eq!(segment("MirrorSourceConnector"), "MirrorSourceConnector");
    }

    #[test]
    fn a_refused_connection_is_a_transport_error() {
        // Port 1 on loopback is not served here.
        let err = ConnectRest::new("http://127.0.0.1:1/").list().unwrap_err();
        assert!(matches!(err, RestError::Transport { .. }), "{err}");
        assert!(
            err.to_string().contains("http://127.0.0.1:1/connectors"),
            "{err}"
        );
    }
}
