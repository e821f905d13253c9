use super::*;
use sha2::Digest;

fn f(n: u8) -> Fingerprint {
    let mut fp = [n; 32];
    // Distinct Bloom probes per value, like real fingerprints.
    fp[9] = n.wrapping_mul(37);
    fp[17] = n.wrapping_mul(101);
    fp[25] = n.wrapping_mul(13);
    fp
}

fn run_with(
    source: &[u8],
    aborted: &[u8],
    target: &[u8],
    capacity: usize,
    window: usize,
) -> PartitionOutcome {
    let mut m = PartitionMatcher::new(MatchOptions {
        capacity,
        window,
        check_offsets: true,
        ..Default::default()
    });
    for (i, v) in source.iter().enumerate() {
        m.push_source(i as i64, f(*v), 0, 1).unwrap();
    }
    for (i, v) in aborted.iter().enumerate() {
        m.push_aborted(100 + i as i64, f(*v), 0).unwrap();
    }
    for (i, v) in target.iter().enumerate() {
        m.push_target(i as i64, f(*v), 0, 1).unwrap();
    }
    m.finish(Retention::default()).unwrap()
}

fn run(source: &[u8], aborted: &[u8], target: &[u8], capacity: usize) -> PartitionOutcome {
    let o = run_with(source, aborted, target, capacity, 0);
    for window in [1, 2, 64] {
        let w = run_with(source, aborted, target, capacity, window);
        // Only what went through the runs differs.
        assert_eq!(
            PartitionOutcome { spilled: 0, ..w },
            PartitionOutcome {
                spilled: 0,
                ..o.clone()
            },
            "window {window}"
        );
    }
    o
}

#[test]
fn faithful_copy_with_upstream_duplicates_is_clean() {
    for cap in [1, 2, 1000] {
        let o = run(&[1, 2, 2, 3], &[9], &[1, 2, 2, 3], cap);
        assert_eq!(o.counts.total(), 0, "{:?}", o.counts);
        assert_eq!(o.tally.upstream_duplicates, 1);
        assert_eq!(o.tally.matched, 4);
    }
}

#[test]
fn each_class_is_counted() {
    // lost 3; duplicated 1 (second copy of 1); leaked 9; phantom 7; 4 and 5 swapped.
    let o = run(&[1, 2, 3, 4, 5], &[9], &[1, 1, 2, 9, 7, 5, 4], 2);
    assert_eq!(o.counts.get(AnomalyClass::Lost), 1);
    assert_eq!(o.counts.get(AnomalyClass::Duplicated), 1);
    assert_eq!(o.counts.get(AnomalyClass::LeakedAborted), 1);
    assert_eq!(o.counts.get(AnomalyClass::Phantom), 1);
    assert_eq!(o.counts.get(AnomalyClass::Reordered), 1);
    assert_eq!(o.lost, vec![(f(3), 2)]);
    assert_eq!(o.phantom, vec![(f(7), 4)]);
}

#[test]
fn the_window_matches_an_in_order_copy_without_the_runs_deciding() {
    let n = 10_000u32;
    let fp = |i: u32| -> Fingerprint { sha2::Sha256::digest(i.to_be_bytes()).into() };
    let mut m = PartitionMatcher::new(MatchOptions {
        capacity: 1 << 16,
        window: 64,
        ..Default::default()
    });
    for i in 0..n {
        m.push_source(i64::from(i), fp(i), 0, 1).unwrap();
        m.push_target(i64::from(i), fp(i), 0, 1).unwrap();
    }
    assert!(m.window_active());
    assert_eq!(m.window_matched(), u64::from(n));
    let o = m.finish(Retention::default()).unwrap();
    assert_eq!(o.counts.total(), 0);
    assert_eq!(o.tally.matched, u64::from(n));
}

#[test]
fn a_duplicate_far_behind_is_still_a_duplicate() {
    // The second copy of 1 arrives long after the window paired the first one.
    let source: Vec<u8> = (1..=40).collect();
    let mut target = source.clone();
    target.push(1);
    for window in [0, 2, 8] {
        let o = run_with(&source, &[], &target, 1000, window);
        assert_eq!(o.counts.get(AnomalyClass::Duplicated), 1, "window {window}");
        assert_eq!(o.counts.total(), 1, "window {window}: {:?}", o.counts);
        assert_eq!(
            o.examples[0].target_offsets,
            vec![0, 40],
            "first copy and the extra one"
        );
    }
}

#[test]
fn the_window_steps_aside_for_a_shuffled_stretch_and_comes_back() {
    let fp = |i: u32| -> Fingerprint { sha2::Sha256::digest(i.to_be_bytes()).into() };
    // 0..2000 in order, 2000..4000 reversed, 4000..10000 in order.
    let order = |i: u32| {
        if (2000..4000).contains(&i) {
            5999 - i
        } else {
            i
        }
    };
    let run = |window: usize| {
        let mut m = PartitionMatcher::new(MatchOptions {
            capacity: 1 << 14,
            window,
            ..Default::default()
        });
        let mut seen_off = false;
        for i in 0..10_000u32 {
            m.push_source(i64::from(i), fp(i), 0, 1).unwrap();
            m.push_target(i64::from(i), fp(order(i)), 0, 1).unwrap();
            seen_off |= window > 0 && !m.window_active();
        }
        let on_at_end = m.window_active();
        let o = m.finish(Retention::default()).unwrap();
        (PartitionOutcome { spilled: 0, ..o }, seen_off, on_at_end)
    };
    let (reference, _, _) = run(0);
    let (windowed, seen_off, on_at_end) = run(16);
    assert!(seen_off, "the window switched off in the reversed stretch");
    assert!(on_at_end, "and back on after it");
    assert_eq!(windowed, reference);
    assert_eq!(reference.counts.get(AnomalyClass::Reordered), 1999);
    // A copy shuffled throughout loses the window for good.
    let (_, seen_off, on_at_end) = {
        let mut m = PartitionMatcher::new(MatchOptions {
            capacity: 1 << 14,
            window: 16,
            ..Default::default()
        });
        let mut seen_off = false;
        for i in 0..20_000u32 {
            m.push_source(i64::from(i), fp(i), 0, 1).unwrap();
            m.push_target(i64::from(i), fp(i.wrapping_mul(7_919) % 20_000), 0, 1)
                .unwrap();
            seen_off |= !m.window_active();
        }
        let active = m.window_active();
        (m.finish(Retention::default()).unwrap(), seen_off, active)
    };
    assert!(seen_off && !on_at_end);
}

#[test]
fn staged_merges_of_many_runs_give_the_same_counts() {
    // 6,000 records per side with a capacity of 4 entries: well over a thousand spilled
    // runs, merged in stages of 16 (several levels), against everything in memory.
    let fp = |i: u32| -> Fingerprint { sha2::Sha256::digest(i.to_be_bytes()).into() };
    let run = |capacity: usize| {
        let mut m = PartitionMatcher::new(MatchOptions {
            capacity,
            window: 0,
            check_offsets: true,
            ..Default::default()
        });
        let mut t = 0i64;
        for i in 0..6_000u32 {
            m.push_source(i64::from(i), fp(i), u64::from(i % 500 + 1), 1)
                .unwrap();
            if i % 97 == 0 {
                continue; // lost
            }
            let copies = if i % 89 == 0 { 2 } else { 1 }; // duplicated
            for _ in 0..copies {
                // Every 50th record swapped with its neighbour: reordered.
                let j = if i % 50 == 10 {
                    i + 1
                } else if i % 50 == 11 {
                    i - 1
                } else {
                    i
                };
                m.push_target(t, fp(j), 0, 1).unwrap();
                t += 1;
            }
        }
        for k in 0..40u32 {
            m.push_target(t, fp(1_000_000 + k), 0, 1).unwrap(); // phantom
            t += 1;
        }
        m.finish(Retention::default()).unwrap()
    };
    let small = run(4);
    let large = run(1 << 20);
    assert!(small.spilled > 16 * 16 * 4, "spilled {}", small.spilled);
    assert_eq!(large.spilled, 0);
    assert_eq!(
        PartitionOutcome {
            spilled: 0,
            ..small
        },
        PartitionOutcome {
            spilled: 0,
            ..large.clone()
        }
    );
    assert_eq!(large.counts.get(AnomalyClass::Lost), 62);
    assert_eq!(large.counts.get(AnomalyClass::Phantom), 40);
    assert_eq!(large.counts.get(AnomalyClass::Duplicated), 67);
    assert!(
        large.counts.get(AnomalyClass::Reordered) > 100,
        "{:?}",
        large.counts
    );
}

#[test]
fn lost_and_phantom_lists_keep_only_the_cap_and_count_everything() {
    let fp = |i: u32| -> Fingerprint { sha2::Sha256::digest(i.to_be_bytes()).into() };
    let mut m = PartitionMatcher::new(MatchOptions {
        capacity: 64,
        anomaly_memory: 10,
        ..Default::default()
    });
    for i in 0..5_000u32 {
        m.push_source(i64::from(i), fp(i), 0, 1).unwrap();
    }
    for i in 0..300u32 {
        m.push_target(i64::from(i), fp(10_000 + i), 0, 1).unwrap();
    }
    let o = m.finish(Retention::default()).unwrap();
    assert_eq!(o.counts.get(AnomalyClass::Lost), 5_000);
    assert_eq!(o.counts.get(AnomalyClass::Phantom), 300);
    assert!(o.truncated);
    // The lowest offsets, in order.
    let kept: Vec<i64> = o.lost.iter().map(|x| x.1).collect();
    assert_eq!(kept, (0..10).collect::<Vec<i64>>());
    let kept: Vec<i64> = o.phantom.iter().map(|x| x.1).collect();
    assert_eq!(kept, (0..10).collect::<Vec<i64>>());
}

#[test]
fn pushing_a_side_out_of_order_is_an_error() {
    let mut m = PartitionMatcher::new(MatchOptions::default());
    m.push_target(5, f(1), 0, 1).unwrap();
    let err = m.push_target(5, f(2), 0, 1).unwrap_err();
    assert!(err.to_string().contains("offset order"), "{err}");
}

#[test]
fn outcomes_round_trip_through_json() {
    let o = run(&[1, 2, 3], &[], &[1, 7], 2);
    let json = serde_json::to_string(&o).unwrap();
    assert!(json.contains(&crate::fingerprint::hex(&f(7))), "{json}");
    let back: PartitionOutcome = serde_json::from_str(&json).unwrap();
    assert_eq!(back, o);
    let bad = json.replace(&crate::fingerprint::hex(&f(7)), "zz");
    assert!(serde_json::from_str::<PartitionOutcome>(&bad).is_err());
}

#[test]
fn duplicates_are_counted_over_the_callers_boundaries_and_the_outcome_is_unchanged() {
    use crate::marks::DuplicateMarks;
    use std::collections::HashMap;
    use std::sync::Arc;
    // Target: 1 2 3 | 1 2 (duplicates at 3, 4) 4 | 3 (duplicate at 6); boundaries 3 and 6.
    let (source, target): (&[u8], &[u8]) = (&[1, 2, 3, 4], &[1, 2, 3, 1, 2, 4, 3]);
    for window in [0, 2, 64] {
        for capacity in [1, 1000] {
            let plain = run_with(source, &[], target, capacity, window);
            let marks = Arc::new(DuplicateMarks::new(
                2,
                HashMap::from([(("t".to_string(), 0), vec![3, 6])]),
            ));
            let mut m = PartitionMatcher::new(MatchOptions {
                capacity,
                window,
                check_offsets: true,
                ..Default::default()
            });
            m.mark_duplicates(marks.for_job("t", 0, false));
            for (i, v) in source.iter().enumerate() {
                m.push_source(i as i64, f(*v), 0, 1).unwrap();
            }
            for (i, v) in target.iter().enumerate() {
                m.push_target(i as i64, f(*v), 0, 1).unwrap();
            }
            let marked = m.finish(Retention::default()).unwrap();
            assert_eq!(marked, plain, "window {window}, capacity {capacity}");
            assert_eq!(plain.counts.get(AnomalyClass::Duplicated), 3);
            let counted = marks.counted();
            assert_eq!(
                counted.buckets,
                vec![0, 2, 1],
                "window {window}, capacity {capacity}"
            );
            assert_eq!(counted.unplaced, 0);
        }
    }
}
