//! The rehearsal's read-only window check of live topics (`cutover rehearse`): are the
//! source's most recent records on the target, how long until they are (the observed lag),
//! and how many are duplicated. Fingerprints without timestamps (a copy may restamp them);
//! assigned readers that never join or commit to a group.
//!
//! A copy is found by its fingerprint *and its time*: a target record stands for a source
//! record only when its timestamp is not earlier than the source record's (less
//! [`CLOCK_SKEW_MS`]). A copier either keeps the create time (equal) or stamps the copy when it
//! writes it (later), so an older identical record (a heartbeat with a constant payload, copied
//! before the window) never stands for a recent one that is missing.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::VerifyError;

fn failed(detail: String) -> VerifyError {
    VerifyError::Kafka {
        cluster: "window check".into(),
        detail,
    }
}

/// The window check of one topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowResult {
    pub records: u64,
    pub missing: u64,
    pub duplicated: u64,
    pub lag_secs: Option<f64>,
    /// A read did not finish within its bound: the result cannot be judged.
    pub incomplete: bool,
}

/// A read-only consumer: assigned partitions, no group membership, never commits.
fn reader(props: &ClientProps) -> Result<BaseConsumer, VerifyError> {
    // librdkafka wants a group id to fetch assigned partitions; it is never joined or
    // committed to.
    let mut config = props.reader(&format!("cutover-rehearsal-reader-{}", std::process::id()))?;
    config
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true");
    config
        .create()
        .map_err(|e| failed(format!("creating a reader: {e}")))
}

type Fp = [u8; 32];

/// How much earlier than its original a copy's timestamp may be (clocks of different hosts).
pub const CLOCK_SKEW_MS: i64 = 100;

/// Records by fingerprint: the timestamp (ms) of each, in read order.
type Stamps = HashMap<Fp, Vec<i64>>;

/// How many of `sources` (timestamps of one fingerprint in the window) have no copy in
/// `targets`, a copy standing for one source record only when it is not earlier than it
/// (less [`CLOCK_SKEW_MS`]); and how many copies are left over (duplicates).
fn unmatched(sources: &[i64], targets: &[i64]) -> (u64, u64) {
    let mut s = sources.to_vec();
    let mut t = targets.to_vec();
    // Latest first: the latest source record is the most demanding, and any copy late enough
    // for it is late enough for every earlier one.
    s.sort_unstable_by(|a, b| b.cmp(a));
    t.sort_unstable_by(|a, b| b.cmp(a));
    let mut next = 0;
    let mut missing = 0;
    for ts in s {
        if next < t.len() && t[next] >= ts.saturating_sub(CLOCK_SKEW_MS) {
            next += 1;
        } else {
            missing += 1;
        }
    }
    (missing, (t.len() - next) as u64)
}

/// Fingerprints and timestamps of `topic`/`partition` records in [from, to), and whether the
/// read reached `to` (or the partition's end) within its own bound. A record without a
/// timestamp gets `missing_ts`.
fn read_range(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    resolver: Option<&registry::judge::Resolver>,
    missing_ts: i64,
) -> Result<(Stamps, bool), VerifyError> {
    // Reading is bounded on its own (a window is small); the lag bound is checked between
    // complete comparisons, so a slow read never passes for missing records.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut counts = Stamps::new();
    if from >= to {
        return Ok((counts, true));
    }
    let mut complete = false;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(|e| failed(e.to_string()))?;
    consumer
        .assign(&tpl)
        .map_err(|e| failed(format!("assigning {topic}-{partition}: {e}")))?;
    let options = crate::FingerprintOptions::default();
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            // Events of a previous assignment of this reader can still be queued.
            Some(Ok(m)) if m.partition() != partition || m.topic() != topic => {}
            Some(Ok(m)) => {
                if m.offset() >= to {
                    complete = true;
                    break;
                }
                // With registries, a framed value is identified by its schema's content and its
                // payload, not by the id (a merged registry assigns its own).
                let fp = match (resolver, m.payload()) {
                    (Some(r), Some(v)) => match registry::judge::schema_identity(r, v)
                        .map_err(|e| failed(format!("schema registry ({}): {e}", r.url())))?
                    {
                        Some(identity) => {
                            let headers = crate::fingerprint::message_headers(&m);
                            let view = crate::fingerprint::RecordView {
                                key: m.key(),
                                value: Some(&identity),
                                headers: &headers,
                                timestamp: None,
                            };
                            crate::fingerprint::fingerprint(&view, &options)
                        }
                        None => crate::fingerprint::fingerprint_message(&m, &options),
                    },
                    _ => crate::fingerprint::fingerprint_message(&m, &options),
                };
                let ts = m.timestamp().to_millis().unwrap_or(missing_ts);
                counts.entry(fp).or_default().push(ts);
                if m.offset() + 1 >= to {
                    complete = true;
                    break;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) if p == partition => {
                complete = true;
                break;
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            // The reader never joins or commits to its group, so a principal without group
            // ACLs (a least-privilege rehearsal principal) is fine: librdkafka still looks the
            // coordinator up and reports the refusal.
            Some(Err(e))
                if e.rdkafka_error_code()
                    == Some(rdkafka::types::RDKafkaErrorCode::GroupAuthorizationFailed) => {}
            Some(Err(e)) => return Err(failed(format!("reading {topic}-{partition}: {e}"))),
            None => {}
        }
    }
    Ok((counts, complete))
}

/// Snapshots the last `window` records of every partition of `topic` on the source, then
/// looks for each of them near the end of `target_topic` until all are there (the lag) or
/// `bound` passes (missing records); duplicates are counted on the way. With `resolvers`
/// (the source topic's registry, the target registry), framed values are compared by schema
/// content and payload. Read-only.
#[allow(clippy::too_many_arguments)]
pub fn check_topic(
    source: &ClientProps,
    target: &ClientProps,
    resolvers: Option<&(registry::judge::Resolver, registry::judge::Resolver)>,
    topic: &str,
    target_topic: &str,
    partitions: i32,
    window: u64,
    bound: Duration,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<WindowResult, VerifyError> {
    let started = std::time::Instant::now();
    let deadline = started + bound;
    let s = reader(source)?;
    let t = reader(target)?;
    let (source_resolver, target_resolver) = match resolvers {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let wm = |c: &BaseConsumer, topic: &str, p: i32| {
        c.fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| failed(format!("watermarks of {topic}-{p}: {e}")))
    };
    // The windows as of now.
    let mut windows = Vec::new();
    let mut incomplete = false;
    for p in 0..partitions {
        let (lo, hi) = wm(&s, topic, p)?;
        let from = lo.max(hi - window as i64);
        // A source record without a timestamp can be stood for by any copy.
        let (fps, read_all) = read_range(&s, topic, p, from, hi, source_resolver, i64::MIN)?;
        incomplete |= !read_all;
        windows.push((p, hi, fps));
    }
    let records: u64 = windows
        .iter()
        .map(|(_, _, f)| f.values().map(|v| v.len() as u64).sum::<u64>())
        .sum();
    let (mut missing, mut duplicated, mut lag);
    let mut target_incomplete;
    loop {
        let (mut m, mut d) = (0, 0);
        target_incomplete = false;
        for (p, snapshot_hi, fps) in &windows {
            if fps.is_empty() {
                continue;
            }
            let (_, now_hi) = wm(&s, topic, *p)?;
            let (t_lo, t_hi) = wm(&t, target_topic, *p)?;
            // Everything written to the source since the snapshot may sit after the window on
            // the target, plus a window of slack for upstream duplicates: that many *records*.
            // Target offsets may grow faster than the source's (a transaction marker per
            // exactly-once commit, aborted retries), so the read reaches back in offsets until
            // it has seen that many records, the window, or the partition's start.
            let want: u64 = fps.values().map(|v| v.len() as u64).sum();
            let need = want + window + (now_hi - snapshot_hi).max(0) as u64;
            let mut span = 2 * window as i64 + (now_hi - snapshot_hi).max(0);
            let found = loop {
                let from = t_lo.max(t_hi - span);
                // A copy without a timestamp can stand for any source record.
                let (found, read_all) =
                    read_range(&t, target_topic, *p, from, t_hi, target_resolver, i64::MAX)?;
                target_incomplete |= !read_all;
                let read: u64 = found.values().map(|v| v.len() as u64).sum();
                let complete = fps.iter().all(|(fp, stamps)| {
                    unmatched(stamps, found.get(fp).map_or(&[][..], |v| v.as_slice())).0 == 0
                });
                if complete || read >= need || from == t_lo {
                    break found;
                }
                span = span.saturating_mul(2);
            };
            for (fp, stamps) in fps {
                let (lost, extra) =
                    unmatched(stamps, found.get(fp).map_or(&[][..], |v| v.as_slice()));
                m += lost;
                // Copies left over beyond the window's: indicative only (an identical record
                // just outside the window counts too).
                d += extra;
            }
        }
        missing = m;
        duplicated = d;
        lag = None;
        if missing == 0 {
            lag = Some(started.elapsed().as_secs_f64());
            break;
        }
        if std::time::Instant::now() >= deadline || cancel.load(Ordering::Acquire) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(WindowResult {
        records,
        missing,
        duplicated,
        lag_secs: lag,
        incomplete: incomplete || (missing > 0 && target_incomplete),
    })
}

#[cfg(test)]
mod tests {
    use super::unmatched;

    #[test]
    fn an_older_identical_copy_does_not_stand_for_a_recent_record() {
        // Heartbeats at 5..9 s in the window; copies of 0..8 s on the target: the 9 s one is
        // missing, however many older identical copies there are.
        let window: Vec<i64> = (5..10).map(|s| s * 1000).collect();
        let copies: Vec<i64> = (0..9).map(|s| s * 1000).collect();
        assert_eq!(unmatched(&window, &copies).0, 1);
        // Restamped copies (later than their originals) all count.
        let restamped: Vec<i64> = window.iter().map(|t| t + 250).collect();
        assert_eq!(unmatched(&window, &restamped), (0, 0));
        // Equal timestamps count, a little clock skew too, a second earlier does not.
        assert_eq!(unmatched(&[1000], &[1000]), (0, 0));
        assert_eq!(unmatched(&[1000], &[950]), (0, 0));
        assert_eq!(unmatched(&[1000], &[0]), (1, 1));
        // Two copies of one record: one left over.
        assert_eq!(unmatched(&[1000], &[1000, 1000]), (0, 1));
    }
}
