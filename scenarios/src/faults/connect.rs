//! The verbs on a Kafka Connect system's connectors, through Connect's REST API:
//! restart-connector (`POST /connectors/{name}/restart`, KIP-745's `includeTasks`) and
//! restart-task (`POST /connectors/{name}/tasks/{n}/restart`).
//!
//! The REST answer (204 or 202) only says the request was taken. The proof is the cluster's
//! own account: each restarted connector or task is started once more in its worker's log
//! (`Worker`: `Creating connector …`, `Creating task …`; `SystemUnderTest::starts`), and the
//! REST status shows it RUNNING again afterwards. A restart whose new start is not seen within
//! [`RESTART_BOUND`] did not take effect, and the run cannot be decided.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::connect::{ConnectRest, ConnectorStatus};

use super::verbs::{DurationUse, FaultVerb, VerbCheck};
use super::FaultTargets;

/// How long a restarted connector or task may take to start again and run.
const RESTART_BOUND: Duration = Duration::from_secs(60);

/// `restart-connector`.
pub struct RestartConnector {
    /// The system's first connector when absent.
    pub connector: Option<String>,
    pub include_tasks: bool,
}

/// `restart-task`.
pub struct RestartTask {
    /// The system's first connector when absent.
    pub connector: Option<String>,
    pub task: u32,
}

#[async_trait]
impl FaultVerb for RestartConnector {
    fn name(&self) -> &'static str {
        "restart-connector"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        connector_check(self.connector.as_deref(), check)
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let name = connector_of(self.connector.as_deref(), on)?;
        let (rest, before) = snapshot(on).await?;
        let status = blocking({
            let (rest, name) = (rest.clone(), name.clone());
            move || rest.status(&name).map_err(|e| e.to_string())
        })
        .await?;
        let mut expected = vec![format!("connector {name}")];
        if self.include_tasks {
            expected.extend(status.tasks.iter().map(|t| format!("task {name}-{}", t.id)));
        }
        let include = self.include_tasks;
        blocking({
            let (rest, name) = (rest.clone(), name.clone());
            move || {
                rest.restart_connector(&name, include, false)
                    .map(drop)
                    .map_err(|e| format!("POST /connectors/{name}/restart: {e}"))
            }
        })
        .await?;
        let (after, status) = restarted(on, &rest, &name, &before, &expected).await?;
        Ok(format!(
            "connector `{name}` restarted through REST{}: {} started again in the workers' logs ({}); now {}",
            if include { " with its tasks" } else { "" },
            expected.join(", "),
            counts(&before, &after, &expected),
            status.summary()
        ))
    }
}

#[async_trait]
impl FaultVerb for RestartTask {
    fn name(&self) -> &'static str {
        "restart-task"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    fn check(&self, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        connector_check(self.connector.as_deref(), check)
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let name = connector_of(self.connector.as_deref(), on)?;
        let task = self.task;
        let (rest, before) = snapshot(on).await?;
        blocking({
            let (rest, name) = (rest.clone(), name.clone());
            move || {
                rest.restart_task(&name, task)
                    .map_err(|e| format!("POST /connectors/{name}/tasks/{task}/restart: {e}"))
            }
        })
        .await?;
        let expected = vec![format!("task {name}-{task}")];
        let (after, status) = restarted(on, &rest, &name, &before, &expected).await?;
        let worker = status
            .tasks
            .iter()
            .find(|t| t.id == task)
            .map(|t| t.worker_id.clone())
            .unwrap_or_default();
        Ok(format!(
            "task {task} of `{name}` restarted through REST: started again in the workers' logs ({}); RUNNING on {worker}",
            counts(&before, &after, &expected)
        ))
    }
}

/// The connector must be one the system deploys.
fn connector_check(connector: Option<&str>, check: &VerbCheck<'_>) -> Result<(), (String, String)> {
    let deployed = check.scenario.system.system().connectors();
    if deployed.is_empty() {
        return Err((
            "kind".into(),
            "the system deploys no connector on Kafka Connect (a `connect` system does)".into(),
        ));
    }
    match connector {
        Some(c) if !deployed.iter().any(|d| d == c) => Err((
            "connector".into(),
            format!(
                "`{c}` is not deployed (the system deploys {})",
                deployed.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

fn connector_of(connector: Option<&str>, on: &Arc<FaultTargets>) -> Result<String, String> {
    connector
        .map(str::to_string)
        .or_else(|| on.system.connectors().into_iter().next())
        .ok_or_else(|| "the system deploys no connector".to_string())
}

/// A REST client of a running worker and the starts counted so far.
async fn snapshot(on: &Arc<FaultTargets>) -> Result<(ConnectRest, BTreeMap<String, u32>), String> {
    let on = on.clone();
    blocking(move || {
        let i = on.instances.lock().unwrap_or_else(|e| e.into_inner());
        let url = on
            .system
            .rest_url(&i)
            .ok_or_else(|| "no running Connect worker answers".to_string())?;
        Ok((ConnectRest::new(url), on.system.starts(&i)))
    })
    .await
}

/// Waits until every `expected` start is counted once more than `before` and the connector
/// and its tasks are RUNNING.
async fn restarted(
    on: &Arc<FaultTargets>,
    rest: &ConnectRest,
    name: &str,
    before: &BTreeMap<String, u32>,
    expected: &[String],
) -> Result<(BTreeMap<String, u32>, ConnectorStatus), String> {
    let deadline = Instant::now() + RESTART_BOUND;
    loop {
        let after = {
            let on = on.clone();
            blocking(move || {
                let i = on.instances.lock().unwrap_or_else(|e| e.into_inner());
                Ok(on.system.starts(&i))
            })
            .await?
        };
        let started = expected
            .iter()
            .all(|k| after.get(k).copied().unwrap_or(0) > before.get(k).copied().unwrap_or(0));
        let status = blocking({
            let (rest, name) = (rest.clone(), name.to_string());
            move || rest.status(&name).map_err(|e| e.to_string())
        })
        .await;
        if let Ok(status) = &status {
            if started && crate::system::connect::running(status) {
                return Ok((after, status.clone()));
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "`{name}` was asked to restart, but within {} s the workers' logs show {} and the status is {}",
                RESTART_BOUND.as_secs(),
                counts(before, &after, expected),
                status.map_or_else(|e| e, |s| s.summary())
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// "connector m started 1 → 2 times, task m-0 1 → 2 times".
fn counts(
    before: &BTreeMap<String, u32>,
    after: &BTreeMap<String, u32>,
    expected: &[String],
) -> String {
    expected
        .iter()
        .map(|k| {
            format!(
                "{k} started {} → {} times",
                before.get(k).copied().unwrap_or(0),
                after.get(k).copied().unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_each_expected_start_before_and_after() {
        let before: BTreeMap<String, u32> = [("task m-0".to_string(), 1)].into();
        let after: BTreeMap<String, u32> =
            [("task m-0".to_string(), 2), ("connector m".to_string(), 1)].into();
        assert_eq!(
            counts(&before, &after, &["connector m".into(), "task m-0".into()]),
            "connector m started 0 → 1 times, task m-0 started 1 → 2 times"
        );
    }
}
