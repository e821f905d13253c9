//! The copiers beyond the plain record-level ones: phantoms, far-out-of-order moves, a mixed
//! copy checked with a tiny memory (spill), a repartitioning copy (whole-topic mode), a
//! compacted topic, a source with upstream re-sends, shifted offsets, and schema ids. Each one
//! counts what it broke while it copies; none asks the checker.

use std::collections::{BTreeMap, HashSet};

use verify::AnomalyClass;

use crate::copier::{Broke, Copier, Record};
use crate::schemas;

/// A copy: the source partitions as read (`read_committed`, offset order) → the target
/// partitions to write (index = target partition), noting what it broke.
pub(crate) type CopyFn = fn(Vec<Vec<Record>>, &mut Broke) -> Vec<Vec<Record>>;

/// The copy of a copier defined here; `None` for the plain copiers of [`crate::copier`].
pub(crate) fn copier(copier: Copier) -> Option<CopyFn> {
    Some(match copier {
        Copier::Phantoms => phantoms,
        Copier::FarReorders => far_reorders,
        Copier::Spilled => spilled,
        Copier::Repartitions => repartitions,
        Copier::DivergesCompacted => diverges_compacted,
        Copier::DropsCompactedHistory => drops_compacted_history,
        Copier::FaithfulResends => faithful,
        Copier::SchemasFaithful => schemas_faithful,
        Copier::DuplicatesResends => duplicates_resends,
        Copier::ShiftsOffsets => shifts_offsets,
        Copier::SchemasUnresolved => schemas_unresolved,
        Copier::SchemasMismatch => schemas_mismatch,
        _ => return None,
    })
}

/// Identical records in the source (same key, value and headers in one partition): each
/// copy beyond the first is an upstream duplicate.
pub(crate) fn repeats(read: &[Vec<Record>]) -> u64 {
    read.iter()
        .map(|records| {
            let distinct: HashSet<_> = records
                .iter()
                .map(|r| (&r.key, &r.value, &r.headers))
                .collect();
            (records.len() - distinct.len()) as u64
        })
        .sum()
}

/// A record that is in no source: no workload identity, a value nothing else has.
fn invented(what: &str, n: u64) -> Record {
    Record {
        offset: -1,
        key: Some(format!("{what}-{n}").into_bytes()),
        value: Some(
            format!("{what} {n}: written by cutover selftest, never in the source").into_bytes(),
        ),
        headers: Vec::new(),
        timestamp: None,
    }
}

fn faithful(read: Vec<Vec<Record>>, _: &mut Broke) -> Vec<Vec<Record>> {
    read
}

fn phantoms(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    let mut n = 0u64;
    read.into_iter()
        .map(|records| {
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                n += 1;
                out.push(r);
                if n % 151 == 75 {
                    broke.add(AnomalyClass::Phantom, 1);
                    out.push(invented("phantom", n));
                }
            }
            out
        })
        .collect()
}

/// How far [`Copier::FarReorders`] moves a record (well beyond the checker's window).
const FAR: usize = 100;

fn far_reorders(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    const _: () = assert!(FAR > crate::copier::FAR_WINDOW);
    read.into_iter()
        .map(|mut records| {
            // Record i goes right after record i + FAR: it follows a record that came later
            // in the source (one reordered record); the moves are 300 apart, so they never
            // overlap and every index past i + FAR is where it was.
            let mut i = 100;
            while i + FAR < records.len() {
                let r = records.remove(i);
                records.insert(i + FAR, r);
                broke.add(AnomalyClass::Reordered, 1);
                i += 300;
            }
            records
        })
        .collect()
}

fn spilled(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    let mut n = 0u64;
    read.into_iter()
        .map(|records| {
            let mut out = Vec::with_capacity(records.len());
            let mut held: Option<Record> = None;
            for mut r in records {
                n += 1;
                match n % 50 {
                    3 => {
                        broke.add(AnomalyClass::Lost, 1);
                        continue;
                    }
                    17 => {
                        broke.add(AnomalyClass::Duplicated, 1);
                        out.push(r.clone());
                    }
                    29 => {
                        broke.add(AnomalyClass::Corrupted, 1);
                        let mut v = r.value.take().unwrap_or_default();
                        v.extend_from_slice(b" (altered by cutover selftest)");
                        r.value = Some(v);
                    }
                    40 => {
                        // Written after the next record (41, which nothing else touches).
                        held = Some(r);
                        continue;
                    }
                    _ => {}
                }
                out.push(r);
                if let Some(h) = held.take() {
                    broke.add(AnomalyClass::Reordered, 1);
                    out.push(h);
                }
            }
            // Held at the end of a partition: nothing came after it, written in place.
            out.extend(held);
            out
        })
        .collect()
}

/// Target partitions of [`Copier::Repartitions`]: one more than its source (the main source
/// topic, grown), so partition p goes to p + 1 and target partition 0 gets no source partition.
pub const REPARTITIONED: i32 = crate::GROWN_PARTITIONS + 1;

fn repartitions(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = vec![Vec::new(); REPARTITIONED as usize];
    let mut n = 0u64;
    for (p, records) in read.into_iter().enumerate() {
        let q = (p + 1) % REPARTITIONED as usize;
        for r in records {
            n += 1;
            if n % 97 == 13 {
                broke.add(AnomalyClass::Lost, 1);
                continue;
            }
            if n % 89 == 7 {
                broke.add(AnomalyClass::Duplicated, 1);
                out[q].push(r.clone());
            }
            out[q].push(r);
        }
    }
    broke.add(AnomalyClass::Phantom, 1);
    out[0].push(invented("phantom", 0));
    out
}

fn diverges_compacted(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    read.into_iter()
        .map(|mut records| {
            // The latest record of each key, in the order of those latest records.
            let mut last: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            for (i, r) in records.iter().enumerate() {
                if let Some(k) = &r.key {
                    last.insert(k.clone(), i);
                }
            }
            let mut latest: Vec<usize> = last.into_values().collect();
            latest.sort_unstable();
            for i in latest.into_iter().step_by(4) {
                let r = &mut records[i];
                let mut v = r.value.take().unwrap_or_default();
                v.extend_from_slice(b" (diverged by cutover selftest)");
                r.value = Some(v);
                broke.add(AnomalyClass::CompactionDivergent, 1);
                broke.add(AnomalyClass::Corrupted, 1);
            }
            records
        })
        .collect()
}

fn drops_compacted_history(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    read.into_iter()
        .map(|records| {
            let mut last: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            for (i, r) in records.iter().enumerate() {
                if let Some(k) = &r.key {
                    last.insert(k.clone(), i);
                }
            }
            let latest: HashSet<usize> = last.into_values().collect();
            let mut older = 0u64;
            let mut out = Vec::with_capacity(records.len());
            for (i, r) in records.into_iter().enumerate() {
                if !latest.contains(&i) {
                    older += 1;
                    if older.is_multiple_of(3) {
                        broke.add(AnomalyClass::Lost, 1);
                        continue;
                    }
                }
                out.push(r);
            }
            out
        })
        .collect()
}

fn duplicates_resends(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    let mut n = 0u64;
    read.into_iter()
        .map(|records| {
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                n += 1;
                if n % 29 == 5 {
                    broke.add(AnomalyClass::Duplicated, 1);
                    out.push(r.clone());
                }
                out.push(r);
            }
            out
        })
        .collect()
}

fn shifts_offsets(mut read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    if let Some(first) = read.first_mut() {
        let at = first.len().min(50);
        first.insert(at, invented("filler", 0));
        broke.add(AnomalyClass::Phantom, 1);
    }
    // The target topic is new and written without transactions: a record's target offset is
    // its index. Every copied record whose index is not its source offset is a mismatch.
    let shifted = read
        .iter()
        .flat_map(|records| records.iter().enumerate())
        .filter(|(i, r)| r.offset >= 0 && r.offset != *i as i64)
        .count();
    broke.add(AnomalyClass::OffsetMismatch, shifted as u64);
    read
}

/// Every record's schema id translated to the target registry's id of the same version;
/// `break_one(n, version)` may name another id for the n-th record (and the class it makes).
fn reframed(
    read: Vec<Vec<Record>>,
    broke: &mut Broke,
    break_one: impl Fn(u64, usize) -> Option<(u32, AnomalyClass)>,
) -> Vec<Vec<Record>> {
    let mut n = 0u64;
    read.into_iter()
        .map(|mut records| {
            for r in &mut records {
                n += 1;
                let Some(value) = &r.value else { continue };
                let Some(framed) = registry::wire::parse(value) else {
                    continue;
                };
                let Some(version) = schemas::SOURCE_IDS.iter().position(|i| *i == framed.id) else {
                    continue;
                };
                let id = match break_one(n, version) {
                    Some((id, class)) => {
                        broke.add(class, 1);
                        id
                    }
                    None => schemas::TARGET_IDS[version],
                };
                r.value = schemas::reframe(value, id).map(|(_, v)| v);
            }
            records
        })
        .collect()
}

fn schemas_faithful(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    reframed(read, broke, |_, _| None)
}

fn schemas_unresolved(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    reframed(read, broke, |n, _| {
        (n % 37 == 10).then_some((schemas::UNKNOWN_ID, AnomalyClass::SchemaUnresolved))
    })
}

fn schemas_mismatch(read: Vec<Vec<Record>>, broke: &mut Broke) -> Vec<Vec<Record>> {
    reframed(read, broke, |n, version| {
        (n % 41 == 20).then_some((
            schemas::TARGET_IDS[1 - version],
            AnomalyClass::SchemaMismatch,
        ))
    })
}
