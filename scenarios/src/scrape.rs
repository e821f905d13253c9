//! The built-in replicator's last `/metrics` scrape per instance, kept with the report
//! (`metrics-instance-N.prom`, Prometheus text): the counters and gauges the run ended with
//! (records and bytes per topic, lag and position per partition, transactions, rebalances,
//! fenced writers, errors), for reading beside `instance-N.log` or loading into a Prometheus
//! tool. Instances without a metrics endpoint (MirrorMaker 2, commands) save nothing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::system::Instances;

/// GETs `/metrics` on 127.0.0.1:`port`; the body, or None when the instance does not answer.
pub fn fetch(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The samples of metric `name` in a Prometheus text body (parsed by the `prometheus-parse`
/// crate): each sample's labels rendered `{k="v",…}` in key order, and its value. Families
/// other than counters, gauges and untyped samples are left out.
pub fn samples(body: &str, name: &str) -> Vec<(String, f64)> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return Vec::new();
    };
    scrape
        .samples
        .into_iter()
        .filter(|s| s.metric == name)
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            let rendered = if labels.is_empty() {
                String::new()
            } else {
                let inner: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                format!("{{{}}}", inner.join(","))
            };
            Some((rendered, value))
        })
        .collect()
}

/// Saves each running instance's scrape into `dir` as `metrics-instance-N.prom`; returns the
/// files written (an instance that does not answer, or a write that fails, is logged and left
/// out: the run's verdict does not depend on it).
pub fn save_last(instances: &Instances, dir: &Path) -> Vec<PathBuf> {
    let mut saved = Vec::new();
    for i in instances.running.values() {
        let Some(port) = i.metrics_port else { continue };
        let Some(body) = fetch(port) else {
            tracing::warn!(
                instance = i.index,
                "no /metrics answer to keep with the report"
            );
            continue;
        };
        let path = dir.join(format!("metrics-instance-{}.prom", i.index));
        match std::fs::write(&path, body) {
            Ok(()) => saved.push(path),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot save /metrics"),
        }
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator::metrics::names;

    #[test]
    fn samples_of_one_family_with_their_labels_in_key_order() {
        let body = format!(
            "# HELP {l} lag\n# TYPE {l} gauge\n{l}{{topic=\"t\",partition=\"0\"}} 3\n{l}{{topic=\"t\",partition=\"1\"}} 0\n# TYPE {w} gauge\n{w} 2\n",
            l = names::LAG_RECORDS,
            w = names::WAITING_PARTITIONS
        );
        assert_eq!(
            samples(&body, names::LAG_RECORDS),
            vec![
                ("{partition=\"0\",topic=\"t\"}".to_string(), 3.0),
                ("{partition=\"1\",topic=\"t\"}".to_string(), 0.0)
            ]
        );
        assert_eq!(
            samples(&body, names::WAITING_PARTITIONS),
            vec![(String::new(), 2.0)]
        );
        // A family's name is not a prefix match.
        assert!(samples(&body, "cutover_replicator_lag").is_empty());
    }
}
