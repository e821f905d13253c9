//! Application cutover's verdict: did a stateful application moved from the source to the
//! target count every input exactly once across the switch, with its state carried?
//!
//! The oracle is computed from the input records themselves (read `read_committed`), never
//! from the application: for each key, the multiset of its inputs (an 8-byte id from SHA-256
//! of the value, and the value's size). The application under test (cutover's reference
//! Kafka Streams counter, `apps/streams-counter`) emits one update per input processed, keyed
//! by the input key, valued `"{count} {sum} {id} {emit_ms} {stamp}"`: its state after the
//! input (count of inputs, sum of their value sizes), the input's id, when it ran, and which
//! cluster it ran on. The updates of a key are read in order, those the application emitted on
//! the source first, then those it emitted on the target; each is matched to an input:
//! - an input processed more times than it occurs is `reprocessed` (each extra time counted);
//! - an input processed fewer times than it occurs is `unprocessed`;
//! - an update whose count is not its position in the key's sequence, or whose sum is not the
//!   previous update's plus the input's size, is `state-diverged` (state lost or changed);
//! - an update naming no input of its key is `unexplained`;
//! - a key whose last update is not (its inputs, their sizes) is wrong.
//!
//! Memory: 16 bytes per input and per update; meant for the scenarios' volumes (an
//! application cutover is rehearsed on a slice, not on terabytes).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use harness::quiet::QuietEof;
use harness::ClientProps;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sha2::{Digest, Sha256};

use crate::error::VerifyError;

/// The stamp of updates the application emitted on the source.
pub const STAMP_SOURCE: &str = "source";
/// The stamp of updates the application emitted on the target.
pub const STAMP_TARGET: &str = "target";
/// Examples kept per class.
const EXAMPLES: usize = 5;

/// An input's identity: the first 8 bytes of SHA-256 of its value, as the reference
/// application computes it.
pub fn input_id(value: &[u8]) -> u64 {
    let digest = Sha256::digest(value);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// One update the application emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub count: u64,
    pub sum: u64,
    pub id: u64,
    pub emit_ms: u64,
    pub stamp: String,
}

/// Parses an update's value (`"{count} {sum} {id-hex} {emit_ms} {stamp}"`); None when it is
/// not one.
pub fn parse_update(value: &[u8]) -> Option<Update> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split(' ');
    let count = parts.next()?.parse().ok()?;
    let sum = parts.next()?.parse().ok()?;
    let id_hex = parts.next()?;
    if id_hex.len() != 16 {
        return None;
    }
    let id = u64::from_str_radix(id_hex, 16).ok()?;
    let emit_ms = parts.next()?.parse().ok()?;
    let stamp = parts.next()?.to_string();
    if parts.next().is_some() {
        return None;
    }
    Some(Update {
        count,
        sum,
        id,
        emit_ms,
        stamp,
    })
}

/// An input as the oracle knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    pub id: u64,
    pub size: u64,
}

/// What [`judge`] found: the application's verdict without its name and switch, which the
/// caller fills in.
pub type Judgement = crate::verdict::AppCutover;

fn key_text(key: &[u8]) -> String {
    crate::reader::preview(Some(key))
}

/// Judges the updates of every key against its inputs (module docs). `updates` holds each
/// key's updates in the order to judge them (the source's, then the target's).
pub fn judge(
    inputs: &BTreeMap<Vec<u8>, Vec<Input>>,
    updates: &BTreeMap<Vec<u8>, Vec<Update>>,
) -> Judgement {
    judge_failover(inputs, &BTreeMap::new(), updates)
}

/// [`judge`] after a failover: `inputs` are those on the target (what the application there
/// can know), `lost` those on the source the copy never got. An update naming a lost input
/// was made on the source before the cut: it counts in the state (its size in the sum) and
/// in `processed_lost_inputs`, not as unexplained; a lost input nobody processed is owed by
/// nobody (not `unprocessed`); one processed twice is `reprocessed` like any other.
pub fn judge_failover(
    inputs: &BTreeMap<Vec<u8>, Vec<Input>>,
    lost: &BTreeMap<Vec<u8>, Vec<Input>>,
    updates: &BTreeMap<Vec<u8>, Vec<Update>>,
) -> Judgement {
    let mut j = Judgement {
        inputs: inputs.values().map(|v| v.len() as u64).sum(),
        keys: inputs.len() as u64,
        inputs_lost_at_cut: lost.values().map(|v| v.len() as u64).sum(),
        ..Judgement::default()
    };
    // The last update emitted on the source, and the first on the target (epoch ms).
    let (mut last_source_ms, mut first_target_ms): (Option<u64>, Option<u64>) = (None, None);
    let mut examples: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut example = |class: &'static str, line: String| {
        let list = examples.entry(class).or_default();
        if list.len() < EXAMPLES {
            list.push(line);
        }
    };
    let none: Vec<Update> = Vec::new();
    let no_inputs: Vec<Input> = Vec::new();
    let keys: std::collections::BTreeSet<&Vec<u8>> = inputs.keys().chain(updates.keys()).collect();
    for key in keys {
        let ins = inputs.get(key).unwrap_or(&no_inputs);
        let ups = updates.get(key).unwrap_or(&none);
        // Occurrences of each input id, and each id's size.
        let mut wanted: HashMap<u64, (u64, u64)> = HashMap::new();
        for i in ins {
            let e = wanted.entry(i.id).or_insert((0, i.size));
            e.0 += 1;
        }
        // Inputs the cut lost (failover), the same way.
        let mut gone: HashMap<u64, (u64, u64)> = HashMap::new();
        for i in lost.get(key).map_or(&no_inputs, |v| v) {
            if !wanted.contains_key(&i.id) {
                let e = gone.entry(i.id).or_insert((0, i.size));
                e.0 += 1;
            }
        }
        let mut seen: HashMap<u64, u64> = HashMap::new();
        let (mut count, mut sum) = (0u64, 0u64);
        let mut diverged_here = false;
        for u in ups {
            if u.stamp == STAMP_TARGET {
                j.updates_on_target += 1;
                first_target_ms = Some(first_target_ms.map_or(u.emit_ms, |t| t.min(u.emit_ms)));
            } else {
                j.updates_on_source += 1;
                last_source_ms = Some(last_source_ms.map_or(u.emit_ms, |t| t.max(u.emit_ms)));
            }
            count += 1;
            let known = wanted.get(&u.id).or_else(|| gone.get(&u.id)).copied();
            if gone.contains_key(&u.id) {
                j.processed_lost_inputs += 1;
            }
            match known {
                Some((occurs, size)) => {
                    sum += size;
                    let n = seen.entry(u.id).or_insert(0);
                    *n += 1;
                    if *n > occurs {
                        example(
                            "reprocessed",
                            format!(
                                "key {}: input {:016x} processed {} times (it occurs {occurs}), again on the {}",
                                key_text(key),
                                u.id,
                                n,
                                u.stamp
                            ),
                        );
                    }
                }
                None => {
                    j.unexplained += 1;
                    example(
                        "unexplained",
                        format!(
                            "key {}: update {} on the {} names input {:016x}, which the key never had",
                            key_text(key),
                            u.count,
                            u.stamp,
                            u.id
                        ),
                    );
                }
            }
            if u.count != count || (known.is_some() && u.sum != sum) {
                j.state_diverged += 1;
                if !diverged_here {
                    diverged_here = true;
                    example(
                        "state-diverged",
                        format!(
                            "key {}: update {count} on the {} holds count {} sum {}, expected count {count} sum {sum}",
                            key_text(key),
                            u.stamp,
                            u.count,
                            u.sum
                        ),
                    );
                }
            }
        }
        let (mut final_count, mut final_sum) =
            (ins.len() as u64, ins.iter().map(|i| i.size).sum::<u64>());
        for (id, (occurs, size)) in &gone {
            // A lost input counts in the final state as often as it was processed (at most
            // as often as it occurs); more is reprocessing.
            let n = seen.get(id).copied().unwrap_or(0);
            j.reprocessed += n.saturating_sub(*occurs);
            final_count += n.min(*occurs);
            final_sum += n.min(*occurs) * size;
        }
        for (id, (occurs, _)) in &wanted {
            let n = seen.get(id).copied().unwrap_or(0);
            j.reprocessed += n.saturating_sub(*occurs);
            let missing = occurs.saturating_sub(n);
            if missing > 0 {
                j.unprocessed += missing;
                example(
                    "unprocessed",
                    format!(
                        "key {}: input {id:016x} never processed ({} of {occurs})",
                        key_text(key),
                        n
                    ),
                );
            }
        }
        let last = ups.last().map(|u| (u.count, u.sum));
        let right = match last {
            Some(l) => l == (final_count, final_sum),
            None => final_count == 0,
        };
        if !right {
            j.keys_wrong += 1;
            example(
                "keys-wrong",
                format!(
                    "key {}: final state {} against the oracle's count {final_count} sum {final_sum}",
                    key_text(key),
                    last.map_or("none".to_string(), |(c, s)| format!("count {c} sum {s}")),
                ),
            );
        }
    }
    j.downtime_ms = match (last_source_ms, first_target_ms) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    j.examples = examples
        .into_iter()
        .flat_map(|(class, lines)| lines.into_iter().map(move |l| format!("{class}: {l}")))
        .collect();
    j
}

/// Reads every record of `topics` (every partition, `read_committed`, from the log start to
/// the last stable offset) and hands each `(topic, key, value)` to `each`, in offset order
/// per partition.
pub fn read_topics(
    props: &ClientProps,
    cluster: &str,
    topics: &[String],
    timeout: Duration,
    mut each: impl FnMut(&str, Option<&[u8]>, &[u8]),
) -> Result<(), VerifyError> {
    read_messages(props, cluster, topics, timeout, |m| {
        each(m.topic(), m.key(), m.payload().unwrap_or_default())
    })
}

/// [`read_topics`], each record handed to `each` whole.
pub fn read_messages(
    props: &ClientProps,
    cluster: &str,
    topics: &[String],
    timeout: Duration,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), VerifyError> {
    let failed = |detail: String| VerifyError::Kafka {
        cluster: cluster.to_string(),
        detail,
    };
    if topics.is_empty() {
        return Ok(());
    }
    let mut c = props.reader("cutover-app-check")?;
    c.set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer<QuietEof> = c
        .create_with_context(QuietEof)
        .map_err(|e| failed(format!("app reader: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    let mut open = 0usize;
    for t in topics {
        let md = consumer
            .fetch_metadata(Some(t), timeout)
            .map_err(|e| failed(format!("metadata of {t}: {e}")))?;
        for mt in md.topics() {
            for p in mt.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(t, p.id(), timeout)
                    .map_err(|e| failed(format!("watermarks of {t}-{}: {e}", p.id())))?;
                if high > low {
                    tpl.add_partition_offset(t, p.id(), Offset::Offset(low))
                        .map_err(|e| failed(format!("{t}-{}: {e}", p.id())))?;
                    open += 1;
                }
            }
        }
    }
    if open == 0 {
        return Ok(());
    }
    consumer
        .assign(&tpl)
        .map_err(|e| failed(format!("assign: {e}")))?;
    let mut last_progress = Instant::now();
    while open > 0 {
        if last_progress.elapsed() > timeout {
            return Err(failed(format!(
                "reading {}: {open} partitions had no end within {timeout:?}",
                topics.join(", ")
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                each(&m);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                last_progress = Instant::now();
                open -= 1;
            }
            Some(Err(e)) => tracing::debug!(error = %e, "app reader"),
            None => {}
        }
    }
    Ok(())
}

/// What an application cutover is judged on: where its inputs and updates are.
pub struct AppCheck<'a> {
    /// The cluster whose input records are the oracle's (the source for a planned switch; the
    /// target, for what the copy held, after a failover).
    pub inputs_props: &'a ClientProps,
    pub inputs_cluster: &'a str,
    pub input_topics: &'a [String],
    pub source: &'a ClientProps,
    pub target: &'a ClientProps,
    /// The output topic's name on the source and on the target.
    pub output_source: &'a str,
    pub output_target: &'a str,
    /// A failover: the oracle is over the inputs on the target (`inputs_props`), the inputs on
    /// the source (these topics) the copy never got are lost at the cut, and the updates made
    /// on the source are those the copy holds (what the target's readers see).
    pub failover_source_inputs: Option<&'a [String]>,
    pub timeout: Duration,
}

fn read_inputs(
    props: &ClientProps,
    cluster: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<Vec<u8>, Vec<Input>>, VerifyError> {
    let mut inputs: BTreeMap<Vec<u8>, Vec<Input>> = BTreeMap::new();
    read_topics(props, cluster, topics, timeout, |_, key, value| {
        if let Some(key) = key {
            inputs.entry(key.to_vec()).or_default().push(Input {
                id: input_id(value),
                size: value.len() as u64,
            });
        }
    })?;
    Ok(inputs)
}

/// Per key, the inputs of `all` that `copy` does not hold (multiset difference).
pub fn missing_from(
    all: &BTreeMap<Vec<u8>, Vec<Input>>,
    copy: &BTreeMap<Vec<u8>, Vec<Input>>,
) -> BTreeMap<Vec<u8>, Vec<Input>> {
    let mut out = BTreeMap::new();
    for (key, ins) in all {
        let mut have: HashMap<u64, u64> = HashMap::new();
        for i in copy.get(key).into_iter().flatten() {
            *have.entry(i.id).or_default() += 1;
        }
        let missing: Vec<Input> = ins
            .iter()
            .filter(|i| match have.get_mut(&i.id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .copied()
            .collect();
        if !missing.is_empty() {
            out.insert(key.clone(), missing);
        }
    }
    out
}

/// Reads the inputs and both clusters' updates and judges them. On the target, only updates
/// stamped as emitted there count (copies of the source's are the source's), except after a
/// failover, where the source's updates are those the copy holds. Blocking.
pub fn check(c: &AppCheck<'_>) -> Result<Judgement, VerifyError> {
    let inputs = read_inputs(c.inputs_props, c.inputs_cluster, c.input_topics, c.timeout)?;
    let lost = match c.failover_source_inputs {
        Some(topics) => {
            let on_source = read_inputs(c.source, "source", topics, c.timeout)?;
            missing_from(&on_source, &inputs)
        }
        None => BTreeMap::new(),
    };
    // Per key, the source's updates then the target's.
    let mut from_source: BTreeMap<Vec<u8>, Vec<Update>> = BTreeMap::new();
    let mut from_target: BTreeMap<Vec<u8>, Vec<Update>> = BTreeMap::new();
    let mut malformed = 0u64;
    let mut source_updates_on_source = 0u64;
    // The source's updates are judged where they were emitted (planned) or as the copy holds
    // them (failover); the target's where they were emitted.
    let source_updates_from = if c.failover_source_inputs.is_some() {
        "target"
    } else {
        "source"
    };
    for (props, cluster, topic) in [
        (c.source, "source", c.output_source),
        (c.target, "target", c.output_target),
    ] {
        read_topics(
            props,
            cluster,
            &[topic.to_string()],
            c.timeout,
            |_, key, value| match (key, parse_update(value)) {
                (Some(k), Some(u)) => {
                    let from_source_app = u.stamp == STAMP_SOURCE;
                    if from_source_app && cluster == "source" {
                        source_updates_on_source += 1;
                    }
                    if from_source_app && cluster == source_updates_from {
                        from_source.entry(k.to_vec()).or_default().push(u);
                    } else if u.stamp == STAMP_TARGET && cluster == "target" {
                        from_target.entry(k.to_vec()).or_default().push(u);
                    }
                }
                _ => malformed += 1,
            },
        )?;
    }
    let mut updates = from_source;
    for (k, ups) in from_target {
        updates.entry(k).or_default().extend(ups);
    }
    let mut j = judge_failover(&inputs, &lost, &updates);
    if c.failover_source_inputs.is_some() {
        j.updates_lost_at_cut = source_updates_on_source.saturating_sub(j.updates_on_source);
    }
    if malformed > 0 {
        j.examples.push(format!(
            "{malformed} output records were not the application's updates (left out)"
        ));
    }
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(spec: &[(&str, &[&[u8]])]) -> BTreeMap<Vec<u8>, Vec<Input>> {
        spec.iter()
            .map(|(k, values)| {
                (
                    k.as_bytes().to_vec(),
                    values
                        .iter()
                        .map(|v| Input {
                            id: input_id(v),
                            size: v.len() as u64,
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// What a correct application emits for these values, starting from `(count, sum)`.
    fn run(values: &[&[u8]], from: (u64, u64), stamp: &str) -> Vec<Update> {
        let (mut count, mut sum) = from;
        values
            .iter()
            .map(|v| {
                count += 1;
                sum += v.len() as u64;
                Update {
                    count,
                    sum,
                    id: input_id(v),
                    emit_ms: 1000 + count,
                    stamp: stamp.into(),
                }
            })
            .collect()
    }

    const VALUES: [&[u8]; 5] = [b"a", b"bb", b"ccc", b"dddd", b"eeeee"];

    #[test]
    fn an_update_value_round_trips_and_rejects_other_text() {
        let u = parse_update(b"3 12 00ff00ff00ff00ff 1700000000000 target").unwrap();
        assert_eq!((u.count, u.sum, u.id), (3, 12, 0x00ff00ff00ff00ff));
        assert_eq!(u.stamp, "target");
        assert_eq!(parse_update(b"3 12 00ff 1 target"), None);
        assert_eq!(parse_update(b"3 12 00ff00ff00ff00ff 1 target extra"), None);
        assert_eq!(parse_update(b"hello"), None);
    }

    #[test]
    fn a_clean_switch_is_exact_and_gives_the_downtime() {
        let ins = inputs(&[("k", &VALUES)]);
        let mut ups = run(&VALUES[..2], (0, 0), STAMP_SOURCE);
        let mut after = run(&VALUES[2..], (2, 3), STAMP_TARGET);
        for u in &mut after {
            u.emit_ms += 3000;
        }
        ups.extend(after);
        let j = judge(&ins, &[(b"k".to_vec(), ups)].into_iter().collect());
        assert_eq!(
            (
                j.reprocessed,
                j.unprocessed,
                j.state_diverged,
                j.unexplained,
                j.keys_wrong
            ),
            (0, 0, 0, 0, 0),
            "{j:?}"
        );
        assert_eq!((j.updates_on_source, j.updates_on_target), (2, 3));
        assert_eq!(j.downtime_ms, Some(4003 - 1002));
    }

    /// Group offsets not moved: the target application starts from the first input again with
    /// its state restored, so the two inputs it had processed are processed twice.
    #[test]
    fn offsets_left_behind_reprocess_what_the_source_had_processed() {
        let ins = inputs(&[("k", &VALUES)]);
        let mut ups = run(&VALUES[..2], (0, 0), STAMP_SOURCE);
        ups.extend(run(&VALUES, (2, 3), STAMP_TARGET));
        let j = judge(&ins, &[(b"k".to_vec(), ups)].into_iter().collect());
        assert_eq!(j.reprocessed, 2, "{j:?}");
        assert_eq!((j.unprocessed, j.state_diverged), (0, 0), "{j:?}");
        assert_eq!(j.keys_wrong, 1);
    }

    /// Offsets moved too far: the target skips an input.
    #[test]
    fn offsets_moved_past_an_input_leave_it_unprocessed() {
        let ins = inputs(&[("k", &VALUES)]);
        let mut ups = run(&VALUES[..2], (0, 0), STAMP_SOURCE);
        ups.extend(run(&VALUES[3..], (2, 3), STAMP_TARGET));
        let j = judge(&ins, &[(b"k".to_vec(), ups)].into_iter().collect());
        assert_eq!((j.reprocessed, j.unprocessed), (0, 1), "{j:?}");
        assert_eq!(j.state_diverged, 0);
        assert_eq!(j.keys_wrong, 1);
    }

    /// Changelog not copied: the target application's state starts empty; every update it
    /// emits is off, and the key's final state is wrong, though each input ran once.
    #[test]
    fn a_lost_state_diverges_every_later_update() {
        let ins = inputs(&[("k", &VALUES), ("j", &VALUES[..1])]);
        let mut ups = run(&VALUES[..2], (0, 0), STAMP_SOURCE);
        ups.extend(run(&VALUES[2..], (0, 0), STAMP_TARGET));
        let j = judge(
            &ins,
            &[
                (b"k".to_vec(), ups),
                (b"j".to_vec(), run(&VALUES[..1], (0, 0), STAMP_SOURCE)),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!((j.reprocessed, j.unprocessed), (0, 0), "{j:?}");
        assert_eq!(j.state_diverged, 3, "{j:?}");
        assert_eq!(j.keys_wrong, 1);
        assert!(j
            .examples
            .iter()
            .any(|e| e.starts_with("state-diverged: key")));
    }

    /// A value repeated by its producer is two inputs: processing it twice is right, three
    /// times is one reprocessing.
    #[test]
    fn an_input_occurring_twice_is_processed_twice() {
        let values: [&[u8]; 3] = [b"x", b"x", b"y"];
        let ins = inputs(&[("k", &values)]);
        let ups = run(&values, (0, 0), STAMP_SOURCE);
        assert!(
            judge(&ins, &[(b"k".to_vec(), ups.clone())].into_iter().collect()).reprocessed == 0
        );
        let mut more = ups;
        more.extend(run(&[b"x"], (3, 3), STAMP_TARGET));
        let j = judge(&ins, &[(b"k".to_vec(), more)].into_iter().collect());
        assert_eq!(j.reprocessed, 1, "{j:?}");
    }

    #[test]
    fn an_update_for_no_input_is_unexplained_and_a_silent_key_wrong() {
        let ins = inputs(&[("k", &VALUES[..1]), ("quiet", &VALUES[..1])]);
        let mut ups = run(&VALUES[..1], (0, 0), STAMP_SOURCE);
        ups.extend(run(&[b"zzz"], (1, 1), STAMP_TARGET));
        let j = judge(&ins, &[(b"k".to_vec(), ups)].into_iter().collect());
        assert_eq!(j.unexplained, 1, "{j:?}");
        assert_eq!(j.unprocessed, 1, "the quiet key's input");
        assert_eq!(j.keys_wrong, 2);
    }

    /// Failover: VALUES[3..] were written on the source and never copied. The application on
    /// the source had processed VALUES[..4] (VALUES[3] among them, its input lost at the
    /// cut); the target's starts from the restored state and has nothing more to do.
    #[test]
    fn a_failover_counts_processed_lost_inputs_in_the_state_not_as_unexplained() {
        let on_source = inputs(&[("k", &VALUES)]);
        let on_target = inputs(&[("k", &VALUES[..3])]);
        let lost = missing_from(&on_source, &on_target);
        assert_eq!(lost[&b"k".to_vec()].len(), 2);
        let ups = run(&VALUES[..4], (0, 0), STAMP_SOURCE);
        let j = judge_failover(
            &on_target,
            &lost,
            &[(b"k".to_vec(), ups)].into_iter().collect(),
        );
        assert!(j.exact(), "{j:?}");
        assert_eq!(
            (j.inputs, j.inputs_lost_at_cut, j.processed_lost_inputs),
            (3, 2, 1)
        );
        // The same updates judged as a planned switch over the target's inputs: the update
        // for the lost input would be unexplained.
        let planned = judge(
            &on_target,
            &[(b"k".to_vec(), run(&VALUES[..4], (0, 0), STAMP_SOURCE))]
                .into_iter()
                .collect(),
        );
        assert_eq!(planned.unexplained, 1);
    }

    /// Failover with the group's offsets on the target behind the restored state (a
    /// checkpoint older than the changelog's copy): inputs processed on the source are
    /// processed again on the target; one the target never reaches is unprocessed; a lost
    /// input processed twice is reprocessed too.
    #[test]
    fn a_failover_with_stale_offsets_reprocesses_and_a_lost_input_can_be_reprocessed() {
        let on_source = inputs(&[("k", &VALUES)]);
        let on_target = inputs(&[("k", &VALUES[..4])]);
        let lost = missing_from(&on_source, &on_target);
        let mut ups = run(&VALUES[..3], (0, 0), STAMP_SOURCE);
        ups.extend(run(&VALUES[1..3], (3, 6), STAMP_TARGET));
        let j = judge_failover(
            &on_target,
            &lost,
            &[(b"k".to_vec(), ups)].into_iter().collect(),
        );
        assert_eq!(
            (j.reprocessed, j.unprocessed, j.state_diverged),
            (2, 1, 0),
            "{j:?}"
        );
        let mut twice = run(&VALUES, (0, 0), STAMP_SOURCE);
        twice.extend(run(&VALUES[4..], (5, 15), STAMP_TARGET));
        let j = judge_failover(
            &on_target,
            &lost,
            &[(b"k".to_vec(), twice)].into_iter().collect(),
        );
        assert_eq!((j.reprocessed, j.processed_lost_inputs), (1, 2), "{j:?}");
    }

    #[test]
    fn missing_from_is_a_multiset_difference() {
        let values: [&[u8]; 3] = [b"x", b"x", b"y"];
        let all = inputs(&[("k", &values), ("j", &values[..1])]);
        let copy = inputs(&[("k", &values[..1])]);
        let m = missing_from(&all, &copy);
        assert_eq!(
            m[&b"k".to_vec()],
            vec![
                Input {
                    id: input_id(b"x"),
                    size: 1
                },
                Input {
                    id: input_id(b"y"),
                    size: 1
                }
            ]
        );
        assert_eq!(m[&b"j".to_vec()].len(), 1);
        assert!(missing_from(&all, &all).is_empty());
    }
}
