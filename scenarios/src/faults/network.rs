//! The network verbs, on every broker's proxy of one cluster (`harness::proxy`): latency,
//! bandwidth, blackhole, reset, refuse. Only the system under test crosses the proxies
//! (cutover's own clients use each broker's direct listener), so each is proven by the
//! proxies' counters: the system's connections and bytes while the fault was on; a reset by
//! the system reconnecting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::proxy::{Direction, Proxy, ProxyStats};
use harness::Cluster;

use super::verbs::{DurationUse, FaultVerb, VerbCheck};
use super::FaultTargets;
use crate::spec::{Side, Way};

/// `latency`: added latency (and jitter) between clients and every broker of a cluster.
pub struct Latency {
    pub cluster: Side,
    pub direction: Way,
    /// Milliseconds.
    pub latency_ms: u64,
    /// Milliseconds.
    pub jitter_ms: u64,
}

#[async_trait]
impl FaultVerb for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    fn proxies(&self) -> Option<Side> {
        Some(self.cluster)
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let (dir, latency, jitter) = (
            way(self.direction),
            Duration::from_millis(self.latency_ms),
            Duration::from_millis(self.jitter_ms),
        );
        network(
            &on.cluster(self.cluster),
            duration,
            |p| p.set_latency(dir, latency, jitter),
            |p| p.set_latency(dir, Duration::ZERO, Duration::ZERO),
            Held::Forwarded(dir),
        )
        .await
    }
}

/// `bandwidth`: a limit per connection and direction.
pub struct Bandwidth {
    pub cluster: Side,
    pub direction: Way,
    /// Bytes per second.
    pub bytes_per_sec: u64,
}

#[async_trait]
impl FaultVerb for Bandwidth {
    fn name(&self) -> &'static str {
        "bandwidth"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    fn proxies(&self) -> Option<Side> {
        Some(self.cluster)
    }

    fn check(&self, _check: &VerbCheck<'_>) -> Result<(), (String, String)> {
        if self.bytes_per_sec == 0 {
            return Err(("bytes_per_sec".into(), "expected a positive rate".into()));
        }
        Ok(())
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let (dir, rate) = (way(self.direction), self.bytes_per_sec);
        network(
            &on.cluster(self.cluster),
            duration,
            |p| p.set_bandwidth(dir, Some(rate)),
            |p| p.set_bandwidth(dir, None),
            Held::Forwarded(dir),
        )
        .await
    }
}

/// `blackhole`: connections stay open, bytes are dropped.
pub struct Blackhole {
    pub cluster: Side,
    pub direction: Way,
}

#[async_trait]
impl FaultVerb for Blackhole {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    fn proxies(&self) -> Option<Side> {
        Some(self.cluster)
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        let dir = way(self.direction);
        network(
            &on.cluster(self.cluster),
            duration,
            |p| p.set_blackhole(dir, true),
            |p| p.set_blackhole(dir, false),
            Held::Dropped(dir),
        )
        .await
    }
}

/// `reset`: every open connection to the cluster is reset (instant).
pub struct Reset {
    pub cluster: Side,
}

#[async_trait]
impl FaultVerb for Reset {
    fn name(&self) -> &'static str {
        "reset"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Unused
    }

    fn proxies(&self) -> Option<Side> {
        Some(self.cluster)
    }

    async fn apply(
        &self,
        _duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        reset(&on.cluster(self.cluster)).await
    }
}

/// `refuse`: new connections are refused.
pub struct Refuse {
    pub cluster: Side,
}

#[async_trait]
impl FaultVerb for Refuse {
    fn name(&self) -> &'static str {
        "refuse"
    }

    fn duration_use(&self) -> DurationUse {
        DurationUse::Required
    }

    fn proxies(&self) -> Option<Side> {
        Some(self.cluster)
    }

    async fn apply(
        &self,
        duration: Option<Duration>,
        on: &Arc<FaultTargets>,
    ) -> Result<String, String> {
        network(
            &on.cluster(self.cluster),
            duration,
            |p| p.refuse_new(true),
            |p| p.refuse_new(false),
            Held::Refused,
        )
        .await
    }
}

/// What a network fault's proxies must have seen while it was on for it to count as applied.
///
/// Only the system under test crosses the proxies (cutover's own clients reach the brokers
/// through their direct listeners, see `harness::Cluster::direct_client_props`), so every
/// count here is the system's.
#[derive(Clone, Copy)]
enum Held {
    /// Bytes forwarded in the direction (so delayed or throttled).
    Forwarded(Direction),
    /// Bytes dropped in the direction.
    Dropped(Direction),
    /// New connections refused.
    Refused,
}

impl Held {
    /// The effect seen between two readings of every proxy's counters (`before` as the fault
    /// began, `after` as it ended), or why nothing of the system was held: it had no
    /// connection during the window (none open as it began, none opened during it), or it had
    /// some but moved no byte the fault acts on.
    fn seen(
        self,
        cluster: &str,
        before: &[ProxyStats],
        after: &[ProxyStats],
    ) -> Result<String, String> {
        let sum = |f: &dyn Fn(&ProxyStats) -> u64| -> u64 {
            before
                .iter()
                .zip(after)
                .map(|(b, a)| f(a).saturating_sub(f(b)))
                .sum()
        };
        let bytes = |dir: Direction,
                     to_broker: fn(&ProxyStats) -> u64,
                     to_client: fn(&ProxyStats) -> u64| match dir {
            Direction::ToBroker => sum(&to_broker),
            Direction::ToClient => sum(&to_client),
            Direction::Both => sum(&to_broker) + sum(&to_client),
        };
        let open: u64 = before.iter().map(|s| s.open_connections).sum();
        let opened = sum(&|s| s.total_connections);
        let refused = sum(&|s| s.refused_connections);
        let connections = open + opened;
        if connections + refused == 0 {
            return Err(format!(
                "the system under test had no connection to the {cluster} cluster while the fault was on (none open as it began, none opened or refused during it), so the fault tested nothing of it"
            ));
        }
        let n = match self {
            Held::Forwarded(dir) => bytes(dir, |s| s.bytes_to_broker, |s| s.bytes_to_client),
            Held::Dropped(dir) => bytes(dir, |s| s.dropped_to_broker, |s| s.dropped_to_client),
            Held::Refused => refused,
        };
        let had = format!(
            "{connections} connection{} of the system open or opened",
            if connections == 1 { "" } else { "s" }
        );
        if n == 0 {
            return Err(match self {
                Held::Refused => format!(
                    "the system under test tried no new connection to the {cluster} cluster while new ones were refused ({had}), so the refusal tested nothing of it"
                ),
                Held::Forwarded(_) | Held::Dropped(_) => format!(
                    "the system under test moved no byte the fault acts on through the {cluster} cluster's proxies while it was on ({had}), so it held nothing"
                ),
            });
        }
        Ok(match self {
            Held::Forwarded(_) => {
                format!(
                    "{n} bytes of the system under test passed the proxies under the fault ({had})"
                )
            }
            Held::Dropped(_) => {
                format!("{n} bytes of the system under test dropped by the proxies ({had})")
            }
            Held::Refused => {
                format!("{n} connections of the system under test refused by the proxies")
            }
        })
    }
}

fn way(w: Way) -> Direction {
    match w {
        Way::ToBroker => Direction::ToBroker,
        Way::ToClient => Direction::ToClient,
        Way::Both => Direction::Both,
    }
}

/// Applies a network fault on every broker's proxy of the cluster, undoes it after `duration`
/// (None: left on, proven at once), and proves from the proxies' counters that the system under test's
/// traffic was held while it was on.
async fn network(
    cluster: &Arc<dyn Cluster>,
    duration: Option<Duration>,
    apply: impl Fn(&Proxy),
    undo: impl Fn(&Proxy),
    held: Held,
) -> Result<String, String> {
    let proxies = cluster.proxies();
    if proxies.is_empty() {
        return Err(format!("the {} cluster has no proxies", cluster.name()));
    }
    let before: Vec<ProxyStats> = proxies.iter().map(|p| p.stats()).collect();
    for p in &proxies {
        apply(p);
    }
    if let Some(d) = duration {
        tokio::time::sleep(d).await;
    }
    let after: Vec<ProxyStats> = proxies.iter().map(|p| p.stats()).collect();
    if duration.is_some() {
        for p in &proxies {
            undo(p);
        }
    }
    held.seen(cluster.name(), &before, &after)
}

/// How long the system under test has to open a connection again after a reset, in seconds
/// (librdkafka's reconnect backoff tops out at 10 s by default, `reconnect.backoff.max.ms`;
/// a refusal fault at the same time delays it further).
const RECONNECT_BOUND_SECS: u64 = 30;

/// Resets every connection through the cluster's proxies (the system's: nothing else crosses
/// them) and proves the system reconnected: the proxies accept a new connection within
/// [`RECONNECT_BOUND_SECS`].
async fn reset(cluster: &Arc<dyn Cluster>) -> Result<String, String> {
    let proxies = cluster.proxies();
    if proxies.is_empty() {
        return Err(format!("the {} cluster has no proxies", cluster.name()));
    }
    let before: Vec<ProxyStats> = proxies.iter().map(|p| p.stats()).collect();
    for p in &proxies {
        p.reset_connections();
    }
    let reset_at = Instant::now();
    let deadline = reset_at + Duration::from_secs(RECONNECT_BOUND_SECS);
    let since = |f: fn(&ProxyStats) -> u64| -> u64 {
        proxies
            .iter()
            .zip(&before)
            .map(|(p, b)| f(&p.stats()).saturating_sub(f(b)))
            .sum()
    };
    let open: u64 = before.iter().map(|s| s.open_connections).sum();
    let accepted = loop {
        let accepted = since(|s| s.total_connections);
        if open == 0 || accepted > 0 || Instant::now() >= deadline {
            break accepted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    reset_effect(
        cluster.name(),
        open,
        accepted,
        since(|s| s.refused_connections),
        reset_at.elapsed(),
    )
}

/// The reset's proof in words: the system had connections to reset (`open`) and opened new
/// ones after (`accepted` by the proxies within `waited`; `refused` attempts are counted too).
fn reset_effect(
    cluster: &str,
    open: u64,
    accepted: u64,
    refused: u64,
    waited: Duration,
) -> Result<String, String> {
    if open == 0 {
        return Err(format!(
            "the system under test had no connection open through the {cluster} cluster's proxies to reset"
        ));
    }
    let tries = if refused > 0 {
        format!(" ({refused} refused attempts first)")
    } else {
        String::new()
    };
    if accepted == 0 {
        return Err(format!(
            "{open} open connections of the system under test were reset, but it opened no new connection to the {cluster} cluster within {RECONNECT_BOUND_SECS} s{tries}: its recovery from the reset was not tested"
        ));
    }
    Ok(format!(
        "{open} open connections of the system under test reset; it reconnected {:.1} s later{tries}",
        waited.as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(to_broker: u64, dropped: u64, refused: u64) -> ProxyStats {
        ProxyStats {
            bytes_to_broker: to_broker,
            dropped_to_broker: dropped,
            refused_connections: refused,
            ..ProxyStats::default()
        }
    }

    fn connected(open: u64, total: u64, s: ProxyStats) -> ProxyStats {
        ProxyStats {
            open_connections: open,
            total_connections: total,
            ..s
        }
    }

    #[test]
    fn a_network_fault_counts_only_what_its_proxies_held_while_on() {
        let fwd = Held::Forwarded(Direction::ToBroker);
        // No connection of the system through the window: nothing was tested, whatever the
        // fault.
        let before = [stats(100, 0, 0), stats(50, 0, 0)];
        let quiet = [stats(100, 0, 0), stats(50, 0, 0)];
        for held in [fwd, Held::Dropped(Direction::Both), Held::Refused] {
            let err = held.seen("source", &before, &quiet).unwrap_err();
            assert!(
                err.contains("the system under test had no connection to the source cluster"),
                "{err}"
            );
        }
        // Connected (one open as it began) but idle: held nothing.
        let before = [connected(1, 3, stats(100, 0, 0)), stats(50, 0, 0)];
        let idle = [connected(1, 3, stats(100, 0, 0)), stats(50, 0, 0)];
        let err = fwd.seen("source", &before, &idle).unwrap_err();
        assert!(err.contains("moved no byte"), "{err}");
        assert!(
            err.contains("1 connection of the system open or opened"),
            "{err}"
        );
        let err = Held::Refused.seen("source", &before, &idle).unwrap_err();
        assert!(err.contains("tried no new connection"), "{err}");
        // Busy: one connection open, two opened during the window.
        let busy = [
            connected(1, 4, stats(130, 7, 0)),
            connected(1, 1, stats(50, 0, 2)),
        ];
        assert_eq!(
            fwd.seen("source", &before, &busy).as_deref(),
            Ok("30 bytes of the system under test passed the proxies under the fault (3 connections of the system open or opened)")
        );
        // Bytes towards clients were not touched: a to-client fault saw nothing.
        assert!(Held::Forwarded(Direction::ToClient)
            .seen("source", &before, &busy)
            .unwrap_err()
            .contains("moved no byte"));
        assert_eq!(
            Held::Dropped(Direction::Both)
                .seen("source", &before, &busy)
                .as_deref(),
            Ok("7 bytes of the system under test dropped by the proxies (3 connections of the system open or opened)")
        );
        // A system that only tried (every try refused) was tested by a refusal.
        let tried = [connected(0, 0, stats(0, 0, 0))];
        let refused = [connected(0, 0, stats(0, 0, 2))];
        assert_eq!(
            Held::Refused.seen("source", &tried, &refused).as_deref(),
            Ok("2 connections of the system under test refused by the proxies")
        );
    }

    #[test]
    fn a_reset_is_proven_by_the_system_reconnecting() {
        let s = Duration::from_millis(1500);
        assert!(reset_effect("target", 0, 0, 0, s)
            .unwrap_err()
            .contains("no connection open through the target cluster's proxies"));
        let err = reset_effect("target", 4, 0, 3, s).unwrap_err();
        assert!(
            err.contains("4 open connections of the system under test were reset, but it opened no new connection to the target cluster within 30 s (3 refused attempts first)"),
            "{err}"
        );
        assert_eq!(
            reset_effect("target", 4, 2, 0, s).as_deref(),
            Ok("4 open connections of the system under test reset; it reconnected 1.5 s later")
        );
    }
}
