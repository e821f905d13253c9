//! Merging partial verdicts: the merged verdict is the one a single process builds from the same
//! partition results (moved-partition pairing across members included, key previews from the
//! partials), and every way partials can disagree or miss coverage is an error naming it.

use std::collections::BTreeMap;

use verify::distributed::{Preview, Settings, Side, PARTIAL_FORMAT};
use verify::matcher::{MatchOptions, PartitionMatcher, Retention};
use verify::reader::{assemble, KeyPreviews, PartitionResult, PlannedTopic};
use verify::verdict::Position;
use verify::{AnomalyClass, PartialVerdict, VerifyOptions};

fn fp(n: u8) -> [u8; 32] {
    let mut f = [n; 32];
    f[0] = n.wrapping_mul(31);
    f
}

/// Partition p holds records 10p..10p+10; record 3 of partition 0 was copied to partition 1.
fn result(p: i32) -> PartitionResult {
    let mut m = PartitionMatcher::new(MatchOptions::default());
    let base = (p * 10) as u8;
    let mut t = 0;
    for i in 0..10u8 {
        m.push_source(i64::from(i), fp(base + i), 0, 1).unwrap();
        if !(p == 0 && i == 3) {
            m.push_target(t, fp(base + i), 0, 1).unwrap();
            t += 1;
        }
    }
    if p == 1 {
        m.push_target(t, fp(3), 0, 1).unwrap();
    }
    PartitionResult {
        source_topic: "t".into(),
        partition: p,
        outcome: m.finish(Retention::default()).unwrap(),
        warnings: vec![format!("note about t-{p}")],
        divergent: 0,
        unverified: Vec::new(),
    }
}

fn topics() -> Vec<PlannedTopic> {
    vec![PlannedTopic {
        source_topic: "t".into(),
        target_topic: "c.t".into(),
        partitions: vec![0, 1, 2],
        target_partitions: vec![0, 1, 2],
        compacted: false,
        warnings: vec!["topic note".into()],
    }]
}

fn partial(member: &str, partitions: &[i32]) -> PartialVerdict {
    let results: Vec<PartitionResult> = partitions.iter().map(|p| result(*p)).collect();
    let previews = if partitions.contains(&0) {
        vec![Preview {
            side: Side::Source,
            topic: "t".into(),
            partition: 0,
            offset: 3,
            key: "key-3".into(),
        }]
    } else {
        vec![]
    };
    PartialVerdict {
        format: PARTIAL_FORMAT.into(),
        group: "g".into(),
        member: member.into(),
        settings: Settings::of(&VerifyOptions::default()),
        topics: topics(),
        covered: BTreeMap::from([("t".to_string(), partitions.to_vec())]),
        results,
        previews,
        duration_ms: 7,
    }
}

struct Keys;

impl KeyPreviews for Keys {
    fn previews(&self, wanted: &[(bool, Position)]) -> Vec<Option<String>> {
        wanted
            .iter()
            .map(|(source, pos)| {
                (*source && pos.partition == 0 && pos.offset == 3).then(|| "key-3".to_string())
            })
            .collect()
    }
}

fn named(partials: Vec<PartialVerdict>) -> Vec<(String, PartialVerdict)> {
    partials
        .into_iter()
        .map(|p| (format!("partial-{}.json", p.member), p))
        .collect()
}

#[test]
fn merged_partials_give_the_single_process_verdict() {
    let merged = verify::merge(&named(vec![partial("a", &[0]), partial("b", &[1, 2])])).unwrap();
    let single = assemble(
        &topics(),
        vec![result(2), result(0), result(1)],
        &VerifyOptions::default(),
        &Keys,
        7,
    );
    assert_eq!(merged, single);
    // Lost from partition 0 (member a), found in partition 1 (member b): one moved record.
    assert_eq!(merged.counts.get(AnomalyClass::MovedPartition), 1);
    assert_eq!(merged.counts.get(AnomalyClass::Lost), 0);
    assert_eq!(merged.counts.get(AnomalyClass::Phantom), 0);
    let moved = &merged.topics[0].examples[0];
    assert_eq!(moved.key_preview.as_deref(), Some("key-3"));
    assert_eq!(
        merged.topics[0].warnings,
        vec![
            "topic note",
            "note about t-0",
            "note about t-1",
            "note about t-2"
        ]
    );
}

fn merge_error(partials: Vec<PartialVerdict>) -> String {
    verify::merge(&named(partials)).unwrap_err().to_string()
}

#[test]
fn a_missing_partition_is_named() {
    let err = merge_error(vec![partial("a", &[0])]);
    assert!(
        err.contains("2 partition(s)") && err.contains("t-1, t-2"),
        "{err}"
    );
}

#[test]
fn a_partition_covered_twice_is_named() {
    let err = merge_error(vec![partial("a", &[0, 1]), partial("b", &[1, 2])]);
    assert!(
        err.contains("t-1 is covered by both partial-a.json and partial-b.json"),
        "{err}"
    );
}

#[test]
fn partials_must_agree() {
    let mut b = partial("b", &[1, 2]);
    b.settings.promises.offsets = true;
    let err = merge_error(vec![partial("a", &[0]), b]);
    assert!(err.contains("different settings (promises)"), "{err}");

    let mut b = partial("b", &[1, 2]);
    b.topics[0].partitions.push(3);
    let err = merge_error(vec![partial("a", &[0]), b]);
    assert!(err.contains("selected different topics"), "{err}");

    let mut b = partial("b", &[1, 2]);
    b.group = "other".into();
    let err = merge_error(vec![partial("a", &[0]), b]);
    assert!(err.contains("from group `other`"), "{err}");

    let mut b = partial("b", &[1, 2]);
    b.covered.insert("t".into(), vec![1]);
    let err = merge_error(vec![partial("a", &[0]), b]);
    assert!(err.contains("do not match its results"), "{err}");

    assert!(merge_error(vec![]).contains("no partial verdict"));
}

#[test]
fn loading_names_the_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = verify::load_partials(&[dir.path()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no partial verdict"), "{err}");

    let good = dir.path().join("partial-a.json");
    std::fs::write(&good, serde_json::to_string(&partial("a", &[0])).unwrap()).unwrap();
    let loaded = verify::load_partials(&[dir.path()]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].1, partial("a", &[0]));

    let bad = dir.path().join("partial-b.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let err = verify::load_partials(&[dir.path()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("partial-b.json is not a partial verdict"),
        "{err}"
    );

    let mut other = serde_json::to_value(partial("b", &[1])).unwrap();
    other["format"] = "something-else/9".into();
    std::fs::write(&bad, other.to_string()).unwrap();
    let err = verify::load_partials(&[bad.as_path()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("format `something-else/9`"), "{err}");
}

#[test]
fn target_only_partitions_and_whole_topics_are_units_of_coverage() {
    // Preserved partitions: a partition only the target has is checked (and must be covered)
    // like any other; its owner in a group is a source partition, so exactly one member takes it.
    let mut topic = topics().remove(0);
    topic.target_partitions = vec![0, 1, 2, 3, 4];
    assert_eq!(topic.units(true), vec![0, 1, 2, 3, 4]);
    assert_eq!(topic.owner_of(1), Some(1));
    assert_eq!(topic.owner_of(3), Some(0));
    assert_eq!(topic.owner_of(4), Some(1));
    // Not preserved: one unit for the whole topic.
    assert_eq!(topic.units(false), vec![verify::reader::WHOLE_TOPIC]);
    assert_eq!(topic.owner_of(verify::reader::WHOLE_TOPIC), Some(0));

    let with_target_only = |member: &str, partitions: &[i32]| {
        let mut p = partial(member, partitions);
        p.topics[0].target_partitions = vec![0, 1, 2, 3, 4];
        p
    };
    let err = verify::merge(&named(vec![
        with_target_only("a", &[0]),
        with_target_only("b", &[1, 2]),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("2 partition(s)") && err.contains("t-3, t-4"),
        "{err}"
    );
    let merged = verify::merge(&named(vec![
        with_target_only("a", &[0, 3]),
        with_target_only("b", &[1, 2, 4]),
    ]))
    .unwrap();
    assert_eq!(merged.counts.get(AnomalyClass::MovedPartition), 1);
}
