//! The verdict's JSON, snapshotted with one anomaly of each class, so the model that reports
//! build on changes only on purpose.

use verify::fingerprint::{encode_identity, fingerprint, identity, RecordView, WORKLOAD_ID_HEADER};
use verify::matcher::{MatchOptions, PartitionMatcher, Retention};
use verify::topic::combine;
use verify::verdict::{Promises, Verdict};
use verify::{AnomalyClass, FingerprintOptions};

fn rec(seq: u64, value: &str) -> ([u8; 32], u64) {
    let id = encode_identity(1, seq);
    let headers: Vec<(&str, Option<&[u8]>)> = vec![(WORKLOAD_ID_HEADER, Some(&id))];
    let view = RecordView {
        key: Some(b"k"),
        value: Some(value.as_bytes()),
        headers: &headers,
        timestamp: None,
    };
    (
        fingerprint(&view, &FingerprintOptions::default()),
        identity(&headers),
    )
}

#[test]
fn verdict_with_one_anomaly_of_each_class() {
    let options = MatchOptions {
        check_offsets: true,
        examples_per_class: 3,
        ..Default::default()
    };
    // Partition 0 source: 1..=8 (6 aborted); target: 1, 2, 2(dup), 4, 3(swap), 6(leak),
    // 7', 99(phantom) ; 5 lost; 7 corrupted; 8 moved to partition 1.
    let mut p0 = PartitionMatcher::new(options.clone());
    for seq in [1u64, 2, 3, 4, 5, 7, 8] {
        let (fp, id) = rec(seq, "v");
        p0.push_source(seq as i64, fp, id, 10).unwrap();
    }
    let (fp, id) = rec(6, "aborted");
    p0.push_aborted(6, fp, id).unwrap();
    let target0 = [
        rec(1, "v"),
        rec(2, "v"),
        rec(2, "v"),
        rec(4, "v"),
        rec(3, "v"),
        rec(6, "aborted"),
        rec(7, "changed"),
        rec(99, "v"),
    ];
    for (i, (fp, id)) in target0.iter().enumerate() {
        p0.push_target(i as i64 + 1, *fp, *id, 10).unwrap();
    }
    let mut p1 = PartitionMatcher::new(options);
    let (fp, id) = rec(8, "v");
    p1.push_target(0, fp, id, 10).unwrap();
    let outcomes = vec![
        (0, p0.finish(Retention::default()).unwrap()),
        (1, p1.finish(Retention::default()).unwrap()),
    ];
    let mut topic = combine("orders", "dr.orders", outcomes, true, 3);
    topic.counts.add(AnomalyClass::CompactionDivergent, 1);
    // Schema classes come from the registry-aware reclassification (verify::schemas).
    topic.counts.add(AnomalyClass::SchemaUnresolved, 1);
    topic.counts.add(AnomalyClass::SchemaMismatch, 1);
    let verdict = Verdict::from_topics(
        vec![topic],
        Promises {
            offsets: true,
            ..Promises::default()
        },
        1234,
    );
    for class in AnomalyClass::ALL {
        assert!(
            verdict.counts.get(class) >= 1,
            "{class} missing: {:?}",
            verdict.counts
        );
    }
    insta::assert_json_snapshot!(verdict, { ".duration_ms" => "[duration]" });
}
