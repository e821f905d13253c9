//! The fault schedule: each `[[fault]]` waits for its time on the workload's clock, is
//! applied, proven and undone by its verb ([`verbs`]: one [`verbs::FaultVerb`] per verb, in
//! its family's file: `network`, `instance`, `broker`, `source`, `connect`).
//!
//! A fault that could not be applied, or that was applied but shows no effect (the process did
//! not stop, the broker still answers, the proxies saw none of the system's traffic to hold),
//! could not test what the scenario claims: its [`FaultEvent`] carries the reason in `error`,
//! and the run's outcome becomes `unknown` (exit 2) unless the system failed anyway. A fault
//! that took effect says how it was seen in `effect`.

mod broker;
mod connect;
mod consumer_group;
mod instance;
mod network;
mod source;
pub(crate) mod verbs;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::Cluster;
use reports::FaultEvent;

use crate::spec::{FaultSpec, Side};
use crate::system::{Instances, SystemUnderTest};

/// What the fault schedule acts on.
pub(crate) struct FaultTargets {
    /// The run's origin: a fault's reported times count from here.
    pub started: Instant,
    /// The workload's clock (set once every producer is ready): `at` counts from here.
    pub workload_clock: Arc<std::sync::OnceLock<Instant>>,
    pub instances: Arc<Mutex<Instances>>,
    /// The system under test (its own account of the partitions an instance holds).
    pub system: Arc<dyn SystemUnderTest>,
    pub source: Arc<dyn Cluster>,
    pub target: Arc<dyn Cluster>,
}

impl FaultTargets {
    /// The cluster of `side`.
    fn cluster(&self, side: Side) -> Arc<dyn Cluster> {
        match side {
            Side::Source => self.source.clone(),
            Side::Target => self.target.clone(),
        }
    }
}

/// Waits for the fault's time, applies it, proves its effect, undoes it after its duration.
pub(crate) async fn run(f: FaultSpec, on: Arc<FaultTargets>) -> FaultEvent {
    // `at` counts from the workload's clock, which starts once its producers are ready
    // (seconds after the run's origin on a loaded machine): a fault must not hit a workload
    // still initialising its transactions. Bounded: without a clock, the run's origin.
    let waited = Instant::now();
    let origin = loop {
        if let Some(clock) = on.workload_clock.get() {
            break *clock;
        }
        if waited.elapsed() > Duration::from_secs(120) {
            break on.started;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let at = origin + Duration::from_secs_f64(f.at_secs);
    tokio::time::sleep_until(at.into()).await;
    let start = on.started.elapsed().as_secs_f64();
    let detail = serde_json::to_string(&f.action).unwrap_or_default();
    tracing::info!(fault = f.action.name(), at = f.at_secs, %detail, "fault");
    let duration = f.duration_secs.map(Duration::from_secs_f64);
    let result = f.action.verb().apply(duration, &on).await;
    let end = on.started.elapsed().as_secs_f64();
    let (effect, error) = match result {
        Ok(effect) => (effect, String::new()),
        Err(e) => {
            tracing::warn!(fault = f.action.name(), error = %e, "fault did not take effect");
            (String::new(), e)
        }
    };
    FaultEvent {
        kind: f.action.name().into(),
        detail,
        start_secs: start,
        end_secs: end,
        error,
        effect,
        failed: false,
    }
}

/// Why a fault's task ended without an event: its panic message, or that it was cancelled.
pub(crate) fn task_failure(e: tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "cancelled".into();
    }
    let panic = e.into_panic();
    panic
        .downcast_ref::<&str>()
        .map(|s| format!("panicked: {s}"))
        .or_else(|| {
            panic
                .downcast_ref::<String>()
                .map(|s| format!("panicked: {s}"))
        })
        .unwrap_or_else(|| "panicked".into())
}
