//! Combining partition outcomes into a topic verdict: moved-partition pairing across
//! partitions, examples with topic names.

use crate::fingerprint::Fingerprint;
use crate::matcher::{PartitionOutcome, RawExample};
use crate::verdict::{
    AnomalyClass, Counts, Example, PartitionVerdict, Position, Tally, TopicVerdict,
};

/// Builds a topic verdict. With `preserve_partitions`, a record lost from partition p whose
/// fingerprint is a phantom in partition q ≠ p is one **moved-partition** record.
pub fn combine(
    source_topic: &str,
    target_topic: &str,
    mut outcomes: Vec<(i32, PartitionOutcome)>,
    preserve_partitions: bool,
    examples_per_class: usize,
) -> TopicVerdict {
    outcomes.sort_by_key(|(p, _)| *p);
    let mut warnings = Vec::new();
    if outcomes.iter().any(|(_, o)| o.truncated) {
        warnings.push(format!(
            "{source_topic}: too many lost/phantom records to pair them all; moved-partition and corrupted counts cover the first ones only"
        ));
    }
    let mut moved_examples = Vec::new();
    let mut moved_count: Vec<(i32, u64, u64)> = Vec::new(); // partition, lost removed, phantom removed
    if preserve_partitions && outcomes.len() > 1 {
        let mut lost: Vec<(Fingerprint, i32, i64)> = Vec::new();
        let mut phantom: Vec<(Fingerprint, i32, i64)> = Vec::new();
        for (p, o) in &outcomes {
            lost.extend(o.lost.iter().map(|(fp, off)| (*fp, *p, *off)));
            phantom.extend(o.phantom.iter().map(|(fp, off)| (*fp, *p, *off)));
        }
        lost.sort();
        phantom.sort();
        let (mut i, mut j) = (0, 0);
        let mut removed_lost: std::collections::HashSet<(i32, i64)> = Default::default();
        let mut removed_phantom: std::collections::HashSet<(i32, i64)> = Default::default();
        while i < lost.len() && j < phantom.len() {
            match lost[i].0.cmp(&phantom[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if lost[i].1 != phantom[j].1 {
                        if moved_examples.len() < examples_per_class {
                            moved_examples.push(Example {
                                class: AnomalyClass::MovedPartition,
                                source: Some(pos(source_topic, lost[i].1, lost[i].2)),
                                target: vec![pos(target_topic, phantom[j].1, phantom[j].2)],
                                key_preview: None,
                                detail: None,
                            });
                        }
                        removed_lost.insert((lost[i].1, lost[i].2));
                        removed_phantom.insert((phantom[j].1, phantom[j].2));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        for (p, o) in outcomes.iter_mut() {
            let before_l = o.lost.len();
            o.lost
                .retain(|(_, off)| !removed_lost.contains(&(*p, *off)));
            let before_p = o.phantom.len();
            o.phantom
                .retain(|(_, off)| !removed_phantom.contains(&(*p, *off)));
            let (dl, dp) = (
                (before_l - o.lost.len()) as u64,
                (before_p - o.phantom.len()) as u64,
            );
            if dl + dp > 0 {
                moved_count.push((*p, dl, dp));
            }
        }
    }

    let mut counts = Counts::default();
    let mut tally = Tally::default();
    let mut examples: Vec<Example> = Vec::new();
    let mut partitions = Vec::new();
    for (p, o) in &outcomes {
        let mut pcounts = o.counts.clone();
        if let Some((_, dl, dp)) = moved_count.iter().find(|(mp, _, _)| mp == p) {
            pcounts.take(AnomalyClass::Lost, *dl);
            pcounts.take(AnomalyClass::Phantom, *dp);
            // A move is counted once, in the source partition it left.
            pcounts.add(AnomalyClass::MovedPartition, *dl);
        }
        counts.merge(&pcounts);
        tally.merge(&o.tally);
        for raw in &o.examples {
            examples.push(example(source_topic, target_topic, *p, raw));
        }
        for (_, off) in o.lost.iter().take(examples_per_class) {
            examples.push(example(
                source_topic,
                target_topic,
                *p,
                &RawExample {
                    class: AnomalyClass::Lost,
                    source_offset: Some(*off),
                    target_offsets: vec![],
                    detail: None,
                    ..RawExample::default()
                },
            ));
        }
        for (_, off) in o.phantom.iter().take(examples_per_class) {
            examples.push(example(
                source_topic,
                target_topic,
                *p,
                &RawExample {
                    class: AnomalyClass::Phantom,
                    source_offset: None,
                    target_offsets: vec![*off],
                    detail: None,
                    ..RawExample::default()
                },
            ));
        }
        partitions.push(PartitionVerdict {
            partition: *p,
            counts: pcounts,
            tally: o.tally.clone(),
            spilled: o.spilled,
        });
    }
    examples.extend(moved_examples);
    // Keep the first N per class across partitions.
    let mut per_class: std::collections::BTreeMap<AnomalyClass, usize> = Default::default();
    examples.retain(|e| {
        let n = per_class.entry(e.class).or_default();
        *n += 1;
        *n <= examples_per_class
    });
    examples.sort_by_key(|e| e.class);
    if counts.get(AnomalyClass::Corrupted) == 0
        && counts.get(AnomalyClass::Lost) > 0
        && counts.get(AnomalyClass::Phantom) > 0
        && tally.source_records > 0
    {
        warnings.push(format!(
            "{source_topic}: lost and phantom records together may be corrupted copies; records without a `{}` header cannot be paired by identity",
            crate::fingerprint::WORKLOAD_ID_HEADER
        ));
    }
    TopicVerdict {
        source_topic: source_topic.to_string(),
        target_topic: target_topic.to_string(),
        counts,
        inconclusive: Counts::default(),
        tally,
        partitions,
        examples,
        warnings,
        unverified: Vec::new(),
    }
}

fn pos(topic: &str, partition: i32, offset: i64) -> Position {
    Position {
        topic: topic.to_string(),
        partition,
        offset,
    }
}

fn example(source_topic: &str, target_topic: &str, partition: i32, raw: &RawExample) -> Example {
    Example {
        class: raw.class,
        source: raw
            .source_offset
            .map(|o| pos(source_topic, raw.source_partition.unwrap_or(partition), o)),
        target: raw
            .target_offsets
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let p = raw.target_partitions.get(i).copied().unwrap_or(partition);
                pos(target_topic, p, *o)
            })
            .collect(),
        key_preview: None,
        detail: raw.detail.clone(),
    }
}
