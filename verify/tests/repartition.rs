//! Whole-topic matching (partitions not preserved): a copy that spreads the source's records
//! over a different number of target partitions with another partitioner is clean, and every
//! injected anomaly is counted exactly wherever it lands — target partitions numbered beyond
//! the source's count included. Order is judged only among records of one source partition
//! that landed in one target partition.

use proptest::prelude::*;
use verify::fingerprint::{encode_identity, fingerprint, identity, RecordView, WORKLOAD_ID_HEADER};
use verify::matcher::{topic_position, MatchOptions, PartitionMatcher, Retention};
use verify::reader::WHOLE_TOPIC;
use verify::topic::combine;
use verify::verdict::TopicVerdict;
use verify::{AnomalyClass, FingerprintOptions};

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    key: Vec<u8>,
    value: Vec<u8>,
    id: Option<[u8; 8]>,
}

impl Rec {
    fn new(key: String, value: String, id: Option<(u16, u64)>) -> Rec {
        Rec {
            key: key.into_bytes(),
            value: value.into_bytes(),
            id: id.map(|(p, s)| encode_identity(p, s)),
        }
    }

    fn fp(&self) -> ([u8; 32], u64) {
        let headers: Vec<(&str, Option<&[u8]>)> = self
            .id
            .iter()
            .map(|id| (WORKLOAD_ID_HEADER, Some(&id[..])))
            .collect();
        let view = RecordView {
            key: Some(&self.key),
            value: Some(&self.value),
            headers: &headers,
            timestamp: None,
        };
        (
            fingerprint(&view, &FingerprintOptions::default()),
            identity(&headers),
        )
    }
}

/// Matches every source partition against every target partition.
fn check_whole(
    sources: &[Vec<Rec>],
    aborted: &[Vec<Rec>],
    targets: &[Vec<Rec>],
    capacity: usize,
) -> TopicVerdict {
    let mut m = PartitionMatcher::new(MatchOptions {
        capacity,
        whole_topic: true,
        window: 0,
        ..Default::default()
    });
    for (p, records) in sources.iter().enumerate() {
        // Committed records, then this partition's aborted ones (offsets after them).
        for (i, r) in records.iter().enumerate() {
            let (fp, id) = r.fp();
            let at = topic_position(p as i32, i as i64).unwrap();
            m.push_source(at, fp, id, 1).unwrap();
        }
        for (j, r) in aborted[p].iter().enumerate() {
            let (fp, id) = r.fp();
            let at = topic_position(p as i32, (records.len() + j) as i64).unwrap();
            m.push_aborted(at, fp, id).unwrap();
        }
    }
    for (q, records) in targets.iter().enumerate() {
        for (i, r) in records.iter().enumerate() {
            let (fp, id) = r.fp();
            m.push_target(topic_position(q as i32, i as i64).unwrap(), fp, id, 1)
                .unwrap();
        }
    }
    let outcome = m.finish(Retention::default()).unwrap();
    combine("src", "tgt", vec![(WHOLE_TOPIC, outcome)], false, 5)
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Keep,
    Drop,
    Duplicate,
    Corrupt,
    /// An aborted record copied just before this one.
    LeakBefore,
    /// A record that is in no source, in a chosen target partition.
    PhantomIn(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        12 => Just(Mutation::Keep),
        1 => Just(Mutation::Drop),
        1 => Just(Mutation::Duplicate),
        1 => Just(Mutation::Corrupt),
        1 => Just(Mutation::LeakBefore),
        1 => (0usize..8).prop_map(Mutation::PhantomIn),
    ]
}

struct Copy {
    sources: Vec<Vec<Rec>>,
    aborted: Vec<Vec<Rec>>,
    targets: Vec<Vec<Rec>>,
    expected: Vec<(AnomalyClass, u64)>,
}

/// `sizes[p]` records per source partition, spread over `target_count` partitions by a seeded
/// key hash (not the source's partitioner), the sides interleaved by `turns`, per-source order
/// kept in each target partition; `mutations[k]` applies to the k-th record copied.
fn repartitioned(
    sizes: &[usize],
    target_count: usize,
    seed: u64,
    turns: &[u8],
    mutations: &[Mutation],
) -> Copy {
    let sources: Vec<Vec<Rec>> = sizes
        .iter()
        .enumerate()
        .map(|(p, n)| {
            (0..*n)
                .map(|i| {
                    Rec::new(
                        format!("key-{}", (i * 7 + p) % 11),
                        format!("value {p}/{i}"),
                        Some((p as u16, i as u64)),
                    )
                })
                .collect()
        })
        .collect();
    let aborted: Vec<Vec<Rec>> = (0..sizes.len())
        .map(|p| {
            (0..3)
                .map(|j| {
                    Rec::new(
                        format!("txn-{j}"),
                        format!("aborted {p}/{j}"),
                        Some((100 + p as u16, j as u64)),
                    )
                })
                .collect()
        })
        .collect();
    let partition_of = |key: &[u8]| {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for b in key {
            h = (h ^ u64::from(*b)).wrapping_mul(0x1000_0000_01B3);
        }
        (h % target_count as u64) as usize
    };
    let mut targets: Vec<Vec<Rec>> = vec![Vec::new(); target_count];
    let mut next = vec![0usize; sizes.len()];
    let mut leaked = vec![0usize; sizes.len()];
    let mut counts = std::collections::BTreeMap::new();
    let mut k = 0usize;
    let mut turn = 0usize;
    while next.iter().zip(sizes).any(|(n, s)| n < s) {
        let mut p = turns.get(turn).map_or(0, |t| *t as usize) % sizes.len();
        turn += 1;
        while next[p] >= sizes[p] {
            p = (p + 1) % sizes.len();
        }
        let record = sources[p][next[p]].clone();
        next[p] += 1;
        let q = partition_of(&record.key);
        let mutation = mutations.get(k).copied().unwrap_or(Mutation::Keep);
        k += 1;
        let mut count = |c: AnomalyClass| *counts.entry(c).or_insert(0u64) += 1;
        match mutation {
            Mutation::Keep => targets[q].push(record),
            Mutation::Drop => count(AnomalyClass::Lost),
            Mutation::Duplicate => {
                targets[q].push(record.clone());
                targets[q].push(record);
                count(AnomalyClass::Duplicated);
            }
            Mutation::Corrupt => {
                let mut changed = record;
                changed.value.extend_from_slice(b" changed");
                targets[q].push(changed);
                count(AnomalyClass::Corrupted);
            }
            Mutation::LeakBefore => {
                if let Some(a) = aborted[p].get(leaked[p]) {
                    leaked[p] += 1;
                    targets[q].push(a.clone());
                    count(AnomalyClass::LeakedAborted);
                }
                targets[q].push(record);
            }
            Mutation::PhantomIn(at) => {
                targets[q].push(record);
                targets[at % target_count].push(Rec::new(
                    format!("ghost-{k}"),
                    "from nowhere".into(),
                    None,
                ));
                count(AnomalyClass::Phantom);
            }
        }
    }
    Copy {
        sources,
        aborted,
        targets,
        expected: counts.into_iter().collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_repartitioned_copy_is_judged_exactly(
        sizes in prop::collection::vec(0usize..60, 1..=3),
        target_count in 1usize..=5,
        seed in any::<u64>(),
        turns in prop::collection::vec(any::<u8>(), 0..200),
        mutations in prop::collection::vec(mutation(), 0..200),
        capacity in prop_oneof![Just(3usize), Just(1 << 16)],
    ) {
        let copy = repartitioned(&sizes, target_count, seed, &turns, &mutations);
        let verdict = check_whole(&copy.sources, &copy.aborted, &copy.targets, capacity);
        let found: Vec<(AnomalyClass, u64)> = verdict.counts.0.clone().into_iter().collect();
        prop_assert_eq!(&found, &copy.expected, "examples: {:?}", verdict.examples);
        let total: usize = sizes.iter().sum();
        prop_assert_eq!(verdict.tally.source_records, total as u64);
        // Examples name real partitions: a phantom's target partition is one the copy has.
        for e in &verdict.examples {
            for t in &e.target {
                prop_assert!((0..target_count as i32).contains(&t.partition), "{:?}", e);
            }
            if let Some(s) = &e.source {
                prop_assert!((0..sizes.len() as i32).contains(&s.partition), "{:?}", e);
            }
        }
    }
}

#[test]
fn three_partitions_into_five_with_another_partitioner_is_clean() {
    let copy = repartitioned(&[400, 350, 500], 5, 42, &[0, 1, 2, 2, 1], &[]);
    assert!(copy.targets[3].len() + copy.targets[4].len() > 0);
    for capacity in [7, 1 << 16] {
        let verdict = check_whole(&copy.sources, &copy.aborted, &copy.targets, capacity);
        assert!(verdict.counts.is_empty(), "{:?}", verdict.counts);
        assert_eq!(verdict.tally.matched, 1250);
    }
}

#[test]
fn a_phantom_in_a_partition_the_source_lacks_is_counted_with_its_position() {
    let mut copy = repartitioned(&[30, 30, 30], 5, 7, &[], &[]);
    copy.targets[4].push(Rec::new("ghost".into(), "x".into(), None));
    let verdict = check_whole(&copy.sources, &copy.aborted, &copy.targets, 1 << 16);
    assert_eq!(
        verdict.counts.0.clone().into_iter().collect::<Vec<_>>(),
        vec![(AnomalyClass::Phantom, 1)]
    );
    let example = &verdict.examples[0];
    assert_eq!(example.target[0].partition, 4);
    assert_eq!(example.target[0].offset, copy.targets[4].len() as i64 - 1);
}

#[test]
fn order_is_judged_per_source_partition_within_a_target_partition() {
    let r = |p: u16, i: u64| Rec::new(format!("k{p}{i}"), format!("v{p}{i}"), Some((p, i)));
    let sources = vec![vec![r(0, 0), r(0, 1), r(0, 2)], vec![r(1, 0), r(1, 1)]];
    let aborted = vec![vec![], vec![]];
    // Target 0: 1/0, 0/2, 0/0 (0/0 after 0/2: one reordered); target 1: 0/1, 1/1. Records of
    // different source partitions interleave freely.
    let targets = vec![vec![r(1, 0), r(0, 2), r(0, 0)], vec![r(0, 1), r(1, 1)]];
    let verdict = check_whole(&sources, &aborted, &targets, 1 << 16);
    assert_eq!(
        verdict.counts.0.clone().into_iter().collect::<Vec<_>>(),
        vec![(AnomalyClass::Reordered, 1)]
    );
    let e = &verdict.examples[0];
    assert_eq!(
        (
            e.source.as_ref().map(|s| (s.partition, s.offset)),
            e.target[0].partition,
            e.target[0].offset
        ),
        (Some((0, 0)), 0, 2)
    );
    assert_eq!(
        e.detail.as_deref(),
        Some("follows the copy of source offset 0:2")
    );
}
