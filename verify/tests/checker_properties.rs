//! Property: for any source (upstream duplicates, aborted records, null keys/values, headers)
//! and any target derived from it by known mutations, the checker reports exactly the injected
//! count of each class; a faithful copy reports nothing. Runs with a tiny in-memory capacity
//! too, so the spill-to-disk path is held to the same answer, with in-order windows from none to
//! larger than the partition, and with the sides pushed one after the other or side by side.
//!
//! A second property holds the in-order window to the sorted runs record for record: on
//! arbitrary mostly-in-order copies (local swaps, late duplicates, identical upstream
//! duplicates, drops, phantoms, leaked aborted records), the outcome with any window and any
//! capacity equals the outcome of the runs alone.

use proptest::prelude::*;
use verify::fingerprint::{encode_identity, fingerprint, identity, RecordView, WORKLOAD_ID_HEADER};
use verify::matcher::{MatchOptions, PartitionMatcher, Retention};
use verify::topic::combine;
use verify::{AnomalyClass, FingerprintOptions};

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Rec {
    fn fp(&self) -> ([u8; 32], u64) {
        let headers: Vec<(&str, Option<&[u8]>)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let view = RecordView {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &headers,
            timestamp: None,
        };
        (
            fingerprint(&view, &FingerprintOptions::default()),
            identity(&headers),
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Drop,
    Duplicate,
    LeakAborted,
    Phantom,
    Corrupt,
    Swap,
    Move,
    /// Move a record a few places later (one reordered record).
    Delay,
    /// A second copy far behind, at the end of the partition.
    DuplicateLate,
}

fn mutation() -> impl Strategy<Value = (Mutation, usize, usize)> {
    (
        prop_oneof![
            Just(Mutation::Drop),
            Just(Mutation::Duplicate),
            Just(Mutation::LeakAborted),
            Just(Mutation::Phantom),
            Just(Mutation::Corrupt),
            Just(Mutation::Swap),
            Just(Mutation::Move),
            Just(Mutation::Delay),
            Just(Mutation::DuplicateLate),
        ],
        any::<usize>(),
        any::<usize>(),
    )
}

/// (key, value, header count, upstream-duplicate-of) per record, as raw choices.
fn partition_shape() -> impl Strategy<Value = Vec<(u8, u8, u8, u8)>> {
    prop::collection::vec((any::<u8>(), any::<u8>(), 0u8..3, any::<u8>()), 0..120)
}

struct Expected {
    counts: std::collections::BTreeMap<AnomalyClass, u64>,
    upstream: u64,
}

/// Records per partition.
type Partitions = Vec<Vec<Rec>>;

fn build(
    shapes: &[Vec<(u8, u8, u8, u8)>],
    aborted_per_partition: usize,
    mutations: &[(Mutation, usize, usize)],
) -> (Partitions, Partitions, Partitions, Expected) {
    let mut seq = 0u64;
    let mut next_id = |producer: u16| {
        seq += 1;
        encode_identity(producer, seq).to_vec()
    };
    let mut sources = Vec::new();
    let mut aborted = Vec::new();
    let mut upstream = 0u64;
    for shape in shapes {
        let mut part: Vec<Rec> = Vec::new();
        for &(k, v, h, dup) in shape {
            // One record in eight re-sends an earlier one, as a producer without
            // exactly-once does.
            if dup % 8 == 0 && !part.is_empty() {
                let earlier = part[(dup as usize / 8) % part.len()].clone();
                part.push(earlier);
                upstream += 1;
                continue;
            }
            let key = match k % 4 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(vec![k; (k % 7) as usize]),
            };
            let value = match v % 5 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(vec![v; (v % 11) as usize + 1]),
            };
            let mut headers = vec![(WORKLOAD_ID_HEADER.to_string(), Some(next_id(1)))];
            for i in 0..h {
                headers.push((
                    format!("h{i}"),
                    if (k ^ i) % 3 == 0 {
                        None
                    } else {
                        Some(vec![i])
                    },
                ));
            }
            part.push(Rec {
                key,
                value,
                headers,
            });
        }
        let abt: Vec<Rec> = (0..aborted_per_partition)
            .map(|i| Rec {
                key: Some(b"txn".to_vec()),
                value: Some(vec![i as u8; 3]),
                headers: vec![(WORKLOAD_ID_HEADER.to_string(), Some(next_id(2)))],
            })
            .collect();
        sources.push(part);
        aborted.push(abt);
    }

    // Target starts as a faithful copy; each record is touched by one mutation at most, and
    // only records whose content is unique in the topic are touched (so the truth is plain).
    let all: Vec<[u8; 32]> = sources.iter().flatten().map(|r| r.fp().0).collect();
    let unique = |r: &Rec| all.iter().filter(|f| **f == r.fp().0).count() == 1;
    let mut targets: Vec<Vec<Option<Rec>>> = sources
        .iter()
        .map(|p| p.iter().cloned().map(Some).collect())
        .collect();
    let mut used: Vec<Vec<bool>> = sources.iter().map(|p| vec![false; p.len()]).collect();
    // Inserts are applied after index-based mutations: (partition, after index, record).
    let mut inserts: Vec<(usize, usize, Rec)> = Vec::new();
    let mut appended: Vec<(usize, Rec)> = Vec::new();
    let mut counts: std::collections::BTreeMap<AnomalyClass, u64> = Default::default();
    let mut bump = |c: AnomalyClass| *counts.entry(c).or_default() += 1;
    let n_parts = sources.len();
    for &(m, a, b) in mutations {
        let p = a % n_parts;
        let len = sources[p].len();
        if len == 0 {
            continue;
        }
        let i = b % len;
        if used[p][i] || !unique(&sources[p][i]) {
            continue;
        }
        match m {
            Mutation::Drop => {
                targets[p][i] = None;
                bump(AnomalyClass::Lost);
            }
            Mutation::Duplicate => {
                inserts.push((p, i, sources[p][i].clone()));
                bump(AnomalyClass::Duplicated);
            }
            Mutation::Corrupt => {
                let mut r = sources[p][i].clone();
                r.value = Some(b"corrupted!".to_vec());
                targets[p][i] = Some(r);
                bump(AnomalyClass::Corrupted);
            }
            Mutation::Swap => {
                // Adjacent, both untouched, and not next to another swapped pair.
                let j = i + 1;
                if j >= len || used[p][j] || !unique(&sources[p][j]) {
                    continue;
                }
                if (i > 0 && used[p][i - 1]) || (j + 1 < len && used[p][j + 1]) {
                    continue;
                }
                targets[p].swap(i, j);
                used[p][j] = true;
                bump(AnomalyClass::Reordered);
            }
            Mutation::Delay => {
                // Record i goes after i + k; i - 1 ..= i + k + 1 untouched and unique, so the
                // delayed record is the one reordered record of the stretch.
                let k = 2 + a % 4;
                let (lo, hi) = (i.saturating_sub(1), i + k + 1);
                if hi >= len || (lo..=hi).any(|x| used[p][x] || !unique(&sources[p][x])) {
                    continue;
                }
                let r = targets[p][i].take().expect("untouched");
                inserts.push((p, i + k, r));
                used[p][lo..=hi].fill(true);
                bump(AnomalyClass::Reordered);
            }
            Mutation::DuplicateLate => {
                appended.push((p, sources[p][i].clone()));
                bump(AnomalyClass::Duplicated);
            }
            Mutation::Move => {
                if n_parts < 2 {
                    continue;
                }
                let q = (p + 1 + a / n_parts % (n_parts - 1)) % n_parts;
                let r = targets[p][i].take().expect("untouched");
                appended.push((q, r));
                bump(AnomalyClass::MovedPartition);
            }
            Mutation::LeakAborted => {
                if aborted[p].is_empty() {
                    continue;
                }
                let k = a % aborted[p].len();
                let r = aborted[p][k].clone();
                // Each aborted record leaks once at most.
                if inserts.iter().any(|(_, _, x)| *x == r) {
                    continue;
                }
                inserts.push((p, i, r));
                bump(AnomalyClass::LeakedAborted);
            }
            Mutation::Phantom => {
                let r = Rec {
                    key: Some(b"phantom".to_vec()),
                    value: Some(vec![7; 5]),
                    headers: vec![(WORKLOAD_ID_HEADER.to_string(), Some(next_id(3)))],
                };
                inserts.push((p, i, r));
                bump(AnomalyClass::Phantom);
            }
        }
        used[p][i] = true;
    }
    let mut out_targets: Vec<Vec<Rec>> = Vec::new();
    for (p, part) in targets.into_iter().enumerate() {
        let mut t = Vec::new();
        for (i, r) in part.into_iter().enumerate() {
            if let Some(r) = r {
                t.push(r);
            }
            for (_, _, ins) in inserts.iter().filter(|(ip, ii, _)| *ip == p && *ii == i) {
                t.push(ins.clone());
            }
        }
        for (_, r) in appended.iter().filter(|(q, _)| *q == p) {
            t.push(r.clone());
        }
        out_targets.push(t);
    }
    (sources, aborted, out_targets, Expected { counts, upstream })
}

/// How the sides reach the matcher.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// All source records, then all target records.
    SourceFirst,
    /// Side by side: one source record, then one target record.
    Alternate,
}

fn check(
    sources: &[Vec<Rec>],
    aborted: &[Vec<Rec>],
    targets: &[Vec<Rec>],
    capacity: usize,
    window: usize,
    feed: Feed,
) -> verify::verdict::TopicVerdict {
    let mut outcomes = Vec::new();
    for p in 0..sources.len() {
        let mut m = PartitionMatcher::new(MatchOptions {
            capacity,
            window,
            ..Default::default()
        });
        // Offsets interleave committed and aborted records as a real log would.
        let mut offset = 0i64;
        let mut source_log = Vec::new();
        for (i, r) in sources[p].iter().enumerate() {
            source_log.push((true, offset, r));
            offset += 1;
            if let Some(a) = aborted[p].get(i) {
                source_log.push((false, offset, a));
                offset += 1;
            }
        }
        for a in aborted[p].iter().skip(sources[p].len()) {
            source_log.push((false, offset, a));
            offset += 1;
        }
        let push_source = |m: &mut PartitionMatcher, (committed, offset, r): (bool, i64, &Rec)| {
            let (fp, id) = r.fp();
            if committed {
                m.push_source(offset, fp, id, 1).unwrap();
            } else {
                m.push_aborted(offset, fp, id).unwrap();
            }
        };
        let push_target = |m: &mut PartitionMatcher, i: usize, r: &Rec| {
            let (fp, id) = r.fp();
            m.push_target(i as i64, fp, id, 1).unwrap();
        };
        match feed {
            Feed::SourceFirst => {
                for e in source_log {
                    push_source(&mut m, e);
                }
                for (i, r) in targets[p].iter().enumerate() {
                    push_target(&mut m, i, r);
                }
            }
            Feed::Alternate => {
                let (mut s, mut t) = (source_log.into_iter(), targets[p].iter().enumerate());
                loop {
                    let a = s.next().map(|e| push_source(&mut m, e));
                    let b = t.next().map(|(i, r)| push_target(&mut m, i, r));
                    if a.is_none() && b.is_none() {
                        break;
                    }
                }
            }
        }
        outcomes.push((p as i32, m.finish(Retention::default()).unwrap()));
    }
    combine("src", "tgt", outcomes, true, 5)
}

fn feed() -> impl Strategy<Value = Feed> {
    prop_oneof![Just(Feed::SourceFirst), Just(Feed::Alternate)]
}

fn window() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), Just(1), Just(3), Just(16), Just(1 << 14)]
}

/// One record of a small alphabet (so identical records are common): (content, workload id).
fn small_record(content: u8, ident: u8) -> ([u8; 32], u64) {
    let id = encode_identity(1, u64::from(ident));
    let value = [content];
    let headers: Vec<(&str, Option<&[u8]>)> = if ident == 0 {
        vec![]
    } else {
        vec![(WORKLOAD_ID_HEADER, Some(&id))]
    };
    let view = RecordView {
        key: Some(b"k"),
        value: Some(&value),
        headers: &headers,
        timestamp: None,
    };
    (
        fingerprint(&view, &FingerprintOptions::default()),
        identity(&headers),
    )
}

/// Edits that turn a source into a mostly-in-order target.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Keep,
    Drop,
    /// Swap with a record up to 3 places later.
    SwapNear(u8),
    /// Copy again, up to 40 places later (past small windows).
    DuplicateLater(u8),
    /// Insert a record of the alphabet (phantom, duplicate or leaked, depending on content).
    Insert(u8, u8),
    /// Reverse the next records (a stretch far out of order: the window switches off).
    Reverse(u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        12 => Just(Edit::Keep),
        1 => Just(Edit::Drop),
        2 => (1u8..4).prop_map(Edit::SwapNear),
        1 => any::<u8>().prop_map(Edit::DuplicateLater),
        1 => (0u8..24, 0u8..3).prop_map(|(c, i)| Edit::Insert(c, i)),
        1 => (2u8..80).prop_map(Edit::Reverse),
    ]
}

/// Runs one partition through a matcher; sides pushed with `gaps[k]` source records between
/// target records (an uneven, realistic interleaving).
fn run_partition(
    source: &[(bool, [u8; 32], u64)],
    target: &[([u8; 32], u64)],
    options: MatchOptions,
    gaps: &[u8],
) -> verify::matcher::PartitionOutcome {
    let mut m = PartitionMatcher::new(options);
    let mut s = source.iter().enumerate();
    let mut g = gaps.iter().cycle();
    for (t, (fp, id)) in target.iter().enumerate() {
        for _ in 0..*g.next().unwrap_or(&1) {
            match s.next() {
                Some((o, (true, fp, id))) => m.push_source(o as i64, *fp, *id, 1).unwrap(),
                Some((o, (false, fp, id))) => m.push_aborted(o as i64, *fp, *id).unwrap(),
                None => break,
            }
        }
        m.push_target(t as i64, *fp, *id, 1).unwrap();
    }
    for (o, (committed, fp, id)) in s {
        if *committed {
            m.push_source(o as i64, *fp, *id, 1).unwrap();
        } else {
            m.push_aborted(o as i64, *fp, *id).unwrap();
        }
    }
    let mut outcome = m.finish(Retention::default()).unwrap();
    outcome.spilled = 0;
    outcome
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn checker_reports_exactly_the_injected_anomalies(
        shapes in prop::collection::vec(partition_shape(), 1..=3),
        aborted in 0usize..4,
        mutations in prop::collection::vec(mutation(), 0..25),
        capacity in prop_oneof![Just(3usize), Just(1 << 16)],
        window in window(),
        feed in feed(),
    ) {
        let (sources, aborted, targets, expected) = build(&shapes, aborted, &mutations);
        let verdict = check(&sources, &aborted, &targets, capacity, window, feed);
        prop_assert_eq!(&verdict.counts.0, &expected.counts, "examples: {:?}", verdict.examples);
        prop_assert_eq!(verdict.tally.upstream_duplicates, expected.upstream);
        let total: usize = sources.iter().map(Vec::len).sum();
        prop_assert_eq!(verdict.tally.source_records, total as u64);
    }

    #[test]
    fn a_faithful_copy_reports_nothing(
        shapes in prop::collection::vec(partition_shape(), 1..=3),
        aborted in 0usize..4,
        capacity in prop_oneof![Just(2usize), Just(1 << 16)],
        window in window(),
        feed in feed(),
    ) {
        let (sources, aborted, targets, expected) = build(&shapes, aborted, &[]);
        let verdict = check(&sources, &aborted, &targets, capacity, window, feed);
        prop_assert_eq!(verdict.counts.total(), 0, "{:?}", verdict.counts);
        prop_assert!(verdict.examples.is_empty());
        prop_assert_eq!(verdict.tally.upstream_duplicates, expected.upstream);
    }

    #[test]
    fn the_in_order_window_agrees_with_the_sorted_runs(
        // (content, identity, aborted) of each source record: 24 contents, so identical
        // records (upstream duplicates, aborted twins of committed records) are common.
        source in prop::collection::vec((0u8..24, 0u8..3, prop::bool::weighted(0.1)), 0..300),
        edits in prop::collection::vec(edit(), 0..300),
        window in prop_oneof![Just(1usize), Just(2), Just(5), Just(32), Just(1 << 10)],
        capacity in prop_oneof![Just(2usize), Just(7), Just(1 << 16)],
        gaps in prop::collection::vec(0u8..4, 1..8),
        check_offsets in any::<bool>(),
    ) {
        let source: Vec<(bool, [u8; 32], u64)> = source
            .iter()
            .map(|&(c, i, aborted)| {
                let (fp, id) = small_record(c, i);
                (!aborted, fp, id)
            })
            .collect();
        // Target: the committed records in order, edited.
        let mut target: Vec<([u8; 32], u64)> =
            source.iter().filter(|r| r.0).map(|r| (r.1, r.2)).collect();
        let mut late: Vec<(usize, ([u8; 32], u64))> = Vec::new();
        let mut i = 0;
        for e in &edits {
            if i >= target.len() {
                break;
            }
            match *e {
                Edit::Keep => i += 1,
                Edit::Drop => {
                    target.remove(i);
                }
                Edit::SwapNear(k) => {
                    let j = (i + usize::from(k)).min(target.len() - 1);
                    target.swap(i, j);
                    i += 1;
                }
                Edit::DuplicateLater(k) => {
                    late.push((i + usize::from(k % 40), target[i]));
                    i += 1;
                }
                Edit::Insert(c, id) => {
                    target.insert(i, small_record(c, id));
                    i += 1;
                }
                Edit::Reverse(k) => {
                    let j = (i + usize::from(k)).min(target.len());
                    target[i..j].reverse();
                    i = j;
                }
            }
        }
        late.sort_by_key(|x| std::cmp::Reverse(x.0));
        for (at, r) in late {
            target.insert(at.min(target.len()), r);
        }
        let options = |window, capacity| MatchOptions {
            capacity,
            window,
            check_offsets,
            examples_per_class: 4,
            ..Default::default()
        };
        let reference = run_partition(&source, &target, options(0, 1 << 20), &[1]);
        let windowed = run_partition(&source, &target, options(window, capacity), &gaps);
        prop_assert_eq!(&windowed, &reference);
    }
}
