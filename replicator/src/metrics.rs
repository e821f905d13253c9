//! Prometheus metrics: records and bytes copied per topic, lag per partition, transactions,
//! rebalances, fencing and the last error, served as text on `--metrics-addr`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The metric names the replicator exports (the one list; `scenarios` reads them by these).
pub mod names {
    /// Records copied, per source topic (counter).
    pub const RECORDS_TOTAL: &str = "cutover_replicator_records_total";
    /// Key and value bytes copied, per source topic (counter).
    pub const BYTES_TOTAL: &str = "cutover_replicator_bytes_total";
    /// Source end offset minus the position committed on the target, per partition (gauge).
    pub const LAG_RECORDS: &str = "cutover_replicator_lag_records";
    /// Next source offset safe on the target, per partition (gauge).
    pub const POSITION: &str = "cutover_replicator_position";
    /// The source end offset last seen, per partition (gauge).
    pub const SOURCE_END_OFFSET: &str = "cutover_replicator_source_end_offset";
    /// Next source offset fetched, per partition (gauge).
    pub const FETCHED_OFFSET: &str = "cutover_replicator_fetched_offset";
    /// 1 when the partition's writer has nothing open or queued (gauge).
    pub const PARTITION_IDLE: &str = "cutover_replicator_partition_idle";
    /// Target transactions committed (counter).
    pub const TRANSACTIONS_COMMITTED_TOTAL: &str =
        "cutover_replicator_transactions_committed_total";
    /// Target transactions aborted (counter).
    pub const TRANSACTIONS_ABORTED_TOTAL: &str = "cutover_replicator_transactions_aborted_total";
    /// Source offset commits, at-least-once (counter).
    pub const OFFSET_COMMITS_TOTAL: &str = "cutover_replicator_offset_commits_total";
    /// Rebalances seen (counter).
    pub const REBALANCES_TOTAL: &str = "cutover_replicator_rebalances_total";
    /// Slot-group assignments by cause: `join`, `membership`, `poll-interval`,
    /// `session-timeout` (counter, label `cause`).
    pub const ASSIGNMENTS_BY_CAUSE_TOTAL: &str = "cutover_replicator_assignments_total";
    /// Writers fenced by another instance (counter).
    pub const FENCED_TOTAL: &str = "cutover_replicator_fenced_total";
    /// Errors met, recovered or not (counter).
    pub const ERRORS_TOTAL: &str = "cutover_replicator_errors_total";
    /// Source partitions this instance copies (gauge).
    pub const ASSIGNED_PARTITIONS: &str = "cutover_replicator_assigned_partitions";
    /// Partitions assigned but not yet positioned (gauge).
    pub const WAITING_PARTITIONS: &str = "cutover_replicator_waiting_partitions";
    /// Unix time of the last error (gauge).
    pub const LAST_ERROR_TIMESTAMP_SECONDS: &str =
        "cutover_replicator_last_error_timestamp_seconds";
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<String, u64>,
    bytes: BTreeMap<String, u64>,
    /// Partitions this instance owns. Per-partition gauges only move for these: a worker
    /// finishing its last batch after a revocation, or a late statistics event, must not bring
    /// back the gauges of a partition another instance now reports.
    owned: BTreeSet<(String, i32)>,
    /// (topic, partition) → next source offset made safe on the target.
    position: BTreeMap<(String, i32), i64>,
    /// (topic, partition) → (source end offset: last stable offset, next fetch offset).
    end: BTreeMap<(String, i32), (i64, i64)>,
    /// (topic, partition) → the worker has no batch open and nothing queued.
    idle: BTreeMap<(String, i32), bool>,
    transactions_committed: u64,
    transactions_aborted: u64,
    commits: u64,
    rebalances: u64,
    /// Assignments by cause.
    rebalance_causes: BTreeMap<String, u64>,
    fenced: u64,
    errors: u64,
    last_error: Option<(String, i64)>,
    assigned: usize,
    waiting: usize,
}

/// Counters shared by the poll loop and the partition workers (updated once per commit, not
/// per record).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Records and bytes made safe on the target, and the partition's new position.
    pub fn copied(&self, topic: &str, partition: i32, records: u64, bytes: u64, position: i64) {
        self.with(|m| {
            *m.records.entry(topic.to_string()).or_default() += records;
            *m.bytes.entry(topic.to_string()).or_default() += bytes;
            let key = (topic.to_string(), partition);
            if m.owned.contains(&key) {
                m.position.insert(key, position);
            }
        });
    }

    /// The position a partition starts from when assigned (the partition is owned from now on).
    pub fn position(&self, topic: &str, partition: i32, position: i64) {
        self.with(|m| {
            let key = (topic.to_string(), partition);
            m.owned.insert(key.clone());
            m.position.insert(key, position);
        });
    }

    /// The source partition's end (last stable offset) and how far the consumer fetched.
    pub fn end_offset(&self, topic: &str, partition: i32, end: i64, fetched: i64) {
        self.with(|m| {
            let key = (topic.to_string(), partition);
            if m.owned.contains(&key) {
                m.end.insert(key, (end, fetched));
            }
        });
    }

    /// A partition this instance no longer owns: its lag is another instance's to report.
    pub fn forget(&self, topic: &str, partition: i32) {
        self.with(|m| {
            let key = (topic.to_string(), partition);
            m.owned.remove(&key);
            m.position.remove(&key);
            m.end.remove(&key);
            m.idle.remove(&key);
        });
    }

    /// Whether a partition's worker has nothing open and nothing queued.
    pub fn idle(&self, topic: &str, partition: i32, idle: bool) {
        self.with(|m| {
            let key = (topic.to_string(), partition);
            if m.owned.contains(&key) {
                m.idle.insert(key, idle);
            }
        });
    }

    pub fn transaction(&self, committed: bool) {
        self.with(|m| {
            if committed {
                m.transactions_committed += 1;
            } else {
                m.transactions_aborted += 1;
            }
        });
    }

    pub fn offset_commit(&self) {
        self.with(|m| m.commits += 1);
    }

    /// An assignment of the slot group, with its cause as the instance saw it
    /// ([`crate::engine::ASSIGNMENT_CAUSES`]).
    pub fn rebalance(&self, cause: &str) {
        self.with(|m| {
            m.rebalances += 1;
            *m.rebalance_causes.entry(cause.to_string()).or_default() += 1;
        });
    }

    /// Source partitions this instance copies (the partitions of its running slots).
    pub fn assigned(&self, n: usize) {
        self.with(|m| m.assigned = n);
    }

    /// Partitions of owned slots without a running writer (waiting to be started again).
    pub fn waiting(&self, n: usize) {
        self.with(|m| m.waiting = n);
    }

    pub fn fenced(&self) {
        self.with(|m| m.fenced += 1);
    }

    /// An error the replicator recovered from or stopped on; the message must hold no secret.
    pub fn error(&self, message: &str) {
        self.with(|m| {
            m.errors += 1;
            m.last_error = Some((message.to_string(), crate::checkpoint::now_ms()));
        });
    }

    /// Totals for reports and tests: (records, bytes, committed transactions, aborted, rebalances, fenced).
    pub fn totals(&self) -> Totals {
        self.with(|m| Totals {
            records: m.records.values().sum(),
            bytes: m.bytes.values().sum(),
            transactions_committed: m.transactions_committed,
            transactions_aborted: m.transactions_aborted,
            rebalances: m.rebalances,
            fenced: m.fenced,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            let n = family_line(
                &mut out,
                names::RECORDS_TOTAL,
                "counter",
                "Records copied and committed on the target, per source topic.",
            );
            let mut lines = String::new();
            for (t, v) in &m.records {
                let _ = writeln!(lines, "{n}{{topic=\"{}\"}} {v}", escape(t));
            }
            out.push_str(&lines);
            lines.clear();
            let n = family_line(
                &mut out,
                names::BYTES_TOTAL,
                "counter",
                "Key, value and header bytes copied, per source topic.",
            );
            for (t, v) in &m.bytes {
                let _ = writeln!(lines, "{n}{{topic=\"{}\"}} {v}", escape(t));
            }
            out.push_str(&lines);
            lines.clear();
            let n = family_line(
                &mut out,
                names::LAG_RECORDS,
                "gauge",
                "Source end offset minus the position committed on the target, per partition.",
            );
            for ((t, p), pos) in &m.position {
                let key = (t.clone(), *p);
                if let Some((end, fetched)) = m.end.get(&key) {
                    // Transaction markers and aborted records may follow the last copied record:
                    // a worker idle after its consumer fetched up to the end has no lag.
                    let idle = m.idle.get(&key).copied().unwrap_or(false);
                    let lag = if idle && fetched >= end {
                        0
                    } else {
                        (end - pos).max(0)
                    };
                    let _ = writeln!(
                        lines,
                        "{n}{{topic=\"{}\",partition=\"{p}\"}} {lag}",
                        escape(t)
                    );
                }
            }
            out.push_str(&lines);
            lines.clear();
            let n = family_line(
                &mut out,
                names::POSITION,
                "gauge",
                "Next source offset committed on the target, per partition.",
            );
            for ((t, p), pos) in &m.position {
                let _ = writeln!(
                    lines,
                    "{n}{{topic=\"{}\",partition=\"{p}\"}} {pos}",
                    escape(t)
                );
            }
            out.push_str(&lines);
            lines.clear();
            let n = family_line(
                &mut out,
                names::SOURCE_END_OFFSET,
                "gauge",
                "The source partition's last stable offset as the consumer last saw it.",
            );
            let f = names::FETCHED_OFFSET;
            let mut fetched_lines = String::new();
            for ((t, p), (end, fetched)) in &m.end {
                let _ = writeln!(
                    lines,
                    "{n}{{topic=\"{}\",partition=\"{p}\"}} {end}",
                    escape(t)
                );
                let _ = writeln!(
                    fetched_lines,
                    "{f}{{topic=\"{}\",partition=\"{p}\"}} {fetched}",
                    escape(t)
                );
            }
            out.push_str(&lines);
            family_line(
                &mut out,
                f,
                "gauge",
                "The next source offset the consumer will fetch (past transaction markers).",
            );
            out.push_str(&fetched_lines);
            lines.clear();
            let n = family_line(
                &mut out,
                names::PARTITION_IDLE,
                "gauge",
                "1 when the partition's writer has no open batch and nothing queued.",
            );
            for ((t, p), idle) in &m.idle {
                let _ = writeln!(
                    lines,
                    "{n}{{topic=\"{}\",partition=\"{p}\"}} {}",
                    escape(t),
                    u8::from(*idle)
                );
            }
            out.push_str(&lines);
            for (name, kind, help, value) in [
                (
                    names::TRANSACTIONS_COMMITTED_TOTAL,
                    "counter",
                    "Target transactions committed.",
                    m.transactions_committed,
                ),
                (
                    names::TRANSACTIONS_ABORTED_TOTAL,
                    "counter",
                    "Target transactions aborted (their records are re-copied).",
                    m.transactions_aborted,
                ),
                (
                    names::OFFSET_COMMITS_TOTAL,
                    "counter",
                    "Source offset commits (at-least-once).",
                    m.commits,
                ),
                (
                    names::REBALANCES_TOTAL,
                    "counter",
                    "Slot-group assignments received (the first one included).",
                    m.rebalances,
                ),
                (
                    names::FENCED_TOTAL,
                    "counter",
                    "Partition writers fenced by a newer owner (zombies stopped).",
                    m.fenced,
                ),
                (
                    names::ERRORS_TOTAL,
                    "counter",
                    "Errors met (recovered or not).",
                    m.errors,
                ),
                (
                    names::ASSIGNED_PARTITIONS,
                    "gauge",
                    "Source partitions this instance owns.",
                    m.assigned as u64,
                ),
                (
                    names::WAITING_PARTITIONS,
                    "gauge",
                    "Assigned source partitions without a running writer (waiting to be adopted).",
                    m.waiting as u64,
                ),
            ] {
                let n = family_line(&mut out, name, kind, help);
                let _ = writeln!(out, "{n} {value}");
            }
            let n = family_line(
                &mut out,
                names::ASSIGNMENTS_BY_CAUSE_TOTAL,
                "counter",
                "Slot-group assignments by cause: join (the first), membership (a member joined or left), poll-interval (this instance exceeded max.poll.interval.ms), session-timeout (it lost its session).",
            );
            for cause in crate::engine::ASSIGNMENT_CAUSES {
                let v = m.rebalance_causes.get(cause).copied().unwrap_or(0);
                let _ = writeln!(out, "{n}{{cause=\"{cause}\"}} {v}");
            }
            let n = family_line(
                &mut out,
                names::LAST_ERROR_TIMESTAMP_SECONDS,
                "gauge",
                "When the last error happened; its message is the label.",
            );
            if let Some((msg, at)) = &m.last_error {
                let short: String = msg.chars().take(200).collect();
                let _ = writeln!(
                    out,
                    "{n}{{message=\"{}\"}} {}",
                    escape(&short),
                    *at as f64 / 1000.0
                );
            }
            out
        })
    }
}

fn family_line(out: &mut String, name: &str, kind: &str, help: &str) -> String {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name.to_string()
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub records: u64,
    pub bytes: u64,
    pub transactions_committed: u64,
    pub transactions_aborted: u64,
    pub rebalances: u64,
    pub fenced: u64,
}

/// Serves `GET /metrics` (anything else: 404) until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = match sock.read(&mut buf).await {
                    Ok(n) => n,
                    Err(_) => return,
                };
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = if path == "/metrics" || path.starts_with("/metrics?") {
                    ("200 OK", metrics.render())
                } else {
                    ("404 Not Found", "not found: try /metrics\n".to_string())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_partition_keeps_no_gauges_even_when_its_last_batch_lands_later() {
        let m = Metrics::default();
        m.position("orders", 0, 100);
        m.end_offset("orders", 0, 120, 120);
        m.forget("orders", 0);
        // The worker commits its last batch after the revocation; a statistics event was queued.
        m.copied("orders", 0, 19, 1900, 119);
        m.end_offset("orders", 0, 120, 120);
        m.idle("orders", 0, false);
        let text = m.render();
        assert!(
            text.contains("cutover_replicator_records_total{topic=\"orders\"} 19"),
            "{text}"
        );
        assert!(!text.contains("partition=\"0\""), "{text}");
        // Assigned again: the gauges come back.
        m.position("orders", 0, 119);
        m.end_offset("orders", 0, 120, 119);
        let text = m.render();
        assert!(
            text.contains("cutover_replicator_lag_records{topic=\"orders\",partition=\"0\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn renders_counters_and_lag() {
        let m = Metrics::default();
        m.position("orders", 0, 0);
        m.position("orders", 1, 0);
        m.copied("orders", 0, 10, 1000, 10);
        m.copied("orders", 1, 5, 500, 5);
        m.end_offset("orders", 0, 25, 20);
        m.end_offset("orders", 1, 6, 6);
        m.idle("orders", 1, true);
        m.transaction(true);
        m.transaction(false);
        m.rebalance("join");
        m.rebalance("poll-interval");
        m.waiting(1);
        m.error("orders-0 at offset 7: broken \"pipe\"");
        let text = m.render();
        assert!(
            text.contains("cutover_replicator_records_total{topic=\"orders\"} 15"),
            "{text}"
        );
        assert!(
            text.contains("cutover_replicator_bytes_total{topic=\"orders\"} 1500"),
            "{text}"
        );
        assert!(
            text.contains("cutover_replicator_lag_records{topic=\"orders\",partition=\"0\"} 15"),
            "{text}"
        );
        assert!(
            text.contains("cutover_replicator_transactions_aborted_total 1"),
            "{text}"
        );
        assert!(text.contains("broken \\\"pipe\\\""), "{text}");
        assert!(
            text.contains("cutover_replicator_waiting_partitions 1"),
            "{text}"
        );
        assert!(
            text.contains("cutover_replicator_rebalances_total 2"),
            "{text}"
        );
        assert!(
            text.contains("cutover_replicator_assignments_total{cause=\"poll-interval\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("cutover_replicator_assignments_total{cause=\"session-timeout\"} 0"),
            "{text}"
        );
        assert_eq!(m.totals().records, 15);
    }
}
