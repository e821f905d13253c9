//! Exact per-partition matching: a multiset comparison of fingerprints with bounded memory.
//!
//! The answer is defined by a sort. Every record (source committed, source aborted, target) has
//! a fingerprint; grouping the records by fingerprint, a group holds `s` source, `a` aborted and
//! `t` target copies, each side in offset order, and:
//!
//! * `min(s, t)` are matched, pairing the k-th source copy with the k-th target copy;
//! * `s - t` more source copies: **lost**; `t - s` more target copies: **leaked-aborted** up to
//!   `a`, then **duplicated** when `s > 0`, else **phantom**; `s - 1` are upstream duplicates;
//! * lost and phantom records that carry the same workload identity are one **corrupted** record;
//! * walking the matched pairs in target order, a pair whose source offset is lower than the
//!   previous pair's is **reordered**; with offsets preserved, a pair whose offsets differ is an
//!   **offset-mismatch**.
//!
//! Two paths compute that answer, and they agree record for record (a property test holds them
//! to it):
//!
//! **The in-order window.** When the copy keeps order (the normal case), source and target arrive
//! side by side and match in lockstep: a target record finds its source copy among the few
//! pending ones (a hash window of at most `window` records per side), and the pair is checked
//! for order and offset right there, in target order, without any sort. Only three facts of a
//! matched pair are needed later, because the global counts need them: it goes to the sorted
//! runs as one 48-byte `Paired` entry (fingerprint, source offset, target offset), so upstream
//! duplicates (identical source records anywhere in the partition) and the classification of
//! the leftovers stay exact.
//!
//! **The sorted runs.** A record that finds no partner within the window (lost, duplicated,
//! phantom, or just far out of order) falls out of the window into a [`RunSorter`]: 48-byte
//! entries, up to a fixed number in memory, the rest spilled to disk as sorted runs and merged
//! at the end, so memory is fixed whatever the volume and whatever the disorder.
//!
//! Why the two agree: once a copy of fingerprint F has gone to the sorted runs, F is *tainted*
//! and every later copy of F, on either side, goes there too (a Bloom filter remembers tainted
//! fingerprints; a false positive only sends a record the slow way). Before that, the window
//! pairs F's copies earliest with earliest, so the window's pairs of F are exactly the first `j`
//! source and first `j` target copies, which is what the k-th/k-th pairing makes of them; the
//! sorted runs continue the pairing from `j`. Matched pairs the window checked inline are
//! separated by *gaps* where a target record went to the sorted runs; the window pairs on both
//! sides of each gap go to a second sorter with the pairs the runs make, and walking that in
//! target order finds the order breaks that cross a gap.
//!
//! When the window stops paying (a stretch of the copy far out of order), it is flushed and
//! records go straight to the sorted runs for a while, still tainting their fingerprints, so
//! the window can come back; a copy shuffled throughout, or more tainted fingerprints than the
//! filter can tell apart, drops it for good and its memory goes back to the sorted runs.
//!
//! Sides must be pushed in offset order each (an out-of-order push is an error, because the
//! window's pairing relies on it); how they interleave only decides how much the window pairs.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::VerifyError;
use crate::fingerprint::Fingerprint;
use crate::runs::{RunSorter, Spill};
use crate::verdict::{AnomalyClass, Counts, Tally};

const KIND_SHIFT: u32 = 62;
const OFFSET_MASK: u64 = (1 << KIND_SHIFT) - 1;

/// What an entry of the sorted runs is. The order matters: within a fingerprint group the
/// window's pairs (the earliest source copies) come first, then the other source copies, so all
/// source copies are in offset order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
enum Kind {
    /// A source record the window matched; `ident` holds the target offset.
    Paired = 0,
    Source = 1,
    Aborted = 2,
    Target = 3,
}

/// One record in the sorted runs: 48 bytes. Ordered by fingerprint, then kind and offset (the
/// first eight fingerprint bytes are compared as one integer: fingerprints are uniform, so that
/// decides almost every comparison of the sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    fp: Fingerprint,
    /// kind in the top two bits, offset below.
    pos: u64,
    /// Workload identity; for `Paired`, the target offset.
    ident: u64,
}

impl Entry {
    fn new(kind: Kind, offset: i64, fp: Fingerprint, ident: u64) -> Entry {
        Entry {
            fp,
            pos: ((kind as u64) << KIND_SHIFT) | (offset.max(0) as u64 & OFFSET_MASK),
            ident,
        }
    }

    fn kind(&self) -> Kind {
        match self.pos >> KIND_SHIFT {
            0 => Kind::Paired,
            1 => Kind::Source,
            2 => Kind::Aborted,
            _ => Kind::Target,
        }
    }

    fn offset(&self) -> i64 {
        (self.pos & OFFSET_MASK) as i64
    }

    fn prefix(&self) -> u64 {
        prefix(&self.fp)
    }
}

fn prefix(fp: &Fingerprint) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&fp[..8]);
    u64::from_be_bytes(b)
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.prefix()
            .cmp(&other.prefix())
            .then_with(|| self.fp.cmp(&other.fp))
            .then_with(|| self.pos.cmp(&other.pos))
            .then_with(|| self.ident.cmp(&other.ident))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Spill for Entry {
    const SIZE: usize = 48;
    fn write_to(&self, out: &mut [u8]) {
        out[..32].copy_from_slice(&self.fp);
        out[32..40].copy_from_slice(&self.pos.to_be_bytes());
        out[40..48].copy_from_slice(&self.ident.to_be_bytes());
    }
    fn read_from(b: &[u8]) -> Self {
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&b[..32]);
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&b[32..40]);
        let mut ident = [0u8; 8];
        ident.copy_from_slice(&b[40..48]);
        Entry {
            fp,
            pos: u64::from_be_bytes(pos),
            ident: u64::from_be_bytes(ident),
        }
    }
}

/// A matched pair on its way to the order walk: ordered by target offset. The top three bits
/// of `source` are flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pair {
    target: u64,
    source: u64,
}

/// Matched by the window: its offset check and its order against its window neighbours are done.
const PAIR_WINDOW: u64 = 1 << 63;
/// The first window pair after a gap.
const PAIR_AFTER_GAP: u64 = 1 << 62;
/// The last window pair before a gap.
const PAIR_BEFORE_GAP: u64 = 1 << 61;
const PAIR_OFFSET: u64 = PAIR_BEFORE_GAP - 1;

impl Spill for Pair {
    const SIZE: usize = 16;
    fn write_to(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.target.to_be_bytes());
        out[8..].copy_from_slice(&self.source.to_be_bytes());
    }
    fn read_from(b: &[u8]) -> Self {
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[8..16]);
        Pair {
            target: u64::from_be_bytes(t),
            source: u64::from_be_bytes(s),
        }
    }
}

/// Knobs of the matcher.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchOptions {
    /// Records in flight per partition: memory stays within 48 bytes × `capacity` (sorted-run
    /// buffer, in-order window and its taint filter together); beyond it, sorted runs spill.
    pub capacity: usize,
    /// Records per side the in-order window holds before the oldest falls out to the sorted
    /// runs; 0: no window, every record goes through the sorted runs.
    pub window: usize,
    /// Examples kept per anomaly class.
    pub examples_per_class: usize,
    /// Count records whose target offset differs from the source offset.
    pub check_offsets: bool,
    /// Count reordered records.
    pub check_order: bool,
    /// Most lost/phantom records remembered (each kind, the lowest offsets) for
    /// moved-partition pairing across partitions; counts and the corruption pairing stay exact
    /// beyond it (they go through sorted runs), moved-partition pairing is then marked
    /// inconclusive.
    pub anomaly_memory: usize,
    /// One matcher for every partition of a topic (partitions not preserved): positions are
    /// [`topic_position`]s, pushed partition after partition on each side; order is checked
    /// among records of one source partition that landed in one target partition; the window
    /// is off.
    #[serde(default)]
    pub whole_topic: bool,
}

impl MatchOptions {
    /// Options for `capacity` records in flight, with the window sized from it (1/128 of the
    /// records per side, at most 8 Ki: the window and its filter then take about a tenth of
    /// the memory).
    pub fn with_capacity(capacity: usize) -> MatchOptions {
        MatchOptions {
            capacity,
            window: (capacity / 128).clamp(16, 1 << 13),
            ..MatchOptions::default()
        }
    }
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            capacity: 1 << 20,
            window: 1 << 13,
            examples_per_class: 10,
            check_offsets: false,
            check_order: true,
            anomaly_memory: 1 << 20,
            whole_topic: false,
        }
    }
}

/// Retention facts of a partition pair, read when verification starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// The source's log start offset (> 0: older records expired at the source).
    pub source_log_start: i64,
    /// The target's log start offset (> 0: the target's retention removed records).
    pub target_log_start: i64,
    /// Records the target's retention removed are expected, not lost.
    pub allow_expiry: bool,
}

/// An example before topic names are attached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawExample {
    pub class: AnomalyClass,
    pub source_offset: Option<i64>,
    pub target_offsets: Vec<i64>,
    pub detail: Option<String>,
    /// Whole-topic matching: the source record's partition (else the outcome's partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_partition: Option<i32>,
    /// Whole-topic matching: the partition of each target offset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_partitions: Vec<i32>,
}

impl Default for RawExample {
    fn default() -> Self {
        RawExample {
            class: AnomalyClass::Lost,
            source_offset: None,
            target_offsets: Vec::new(),
            detail: None,
            source_partition: None,
            target_partitions: Vec::new(),
        }
    }
}

/// What one partition's matching found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionOutcome {
    pub counts: Counts,
    pub tally: Tally,
    pub spilled: u64,
    pub examples: Vec<RawExample>,
    /// Lost records (fingerprint, source offset), for moved-partition pairing.
    #[serde(with = "fp_list")]
    pub lost: Vec<(Fingerprint, i64)>,
    /// Phantom records (fingerprint, target offset), for moved-partition pairing.
    #[serde(with = "fp_list")]
    pub phantom: Vec<(Fingerprint, i64)>,
    /// Lost/phantom lists were cut at `anomaly_memory`.
    pub truncated: bool,
}

/// `(fingerprint, offset)` lists as `["<hex>:<offset>", …]`.
mod fp_list {
    use crate::fingerprint::{hex, Fingerprint};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[(Fingerprint, i64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(fp, off)| format!("{}:{off}", hex(fp))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Fingerprint, i64)>, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        items
            .iter()
            .map(|item| {
                let bad = || D::Error::custom(format!("`{item}` is not <64 hex digits>:<offset>"));
                let (h, off) = item.split_once(':').ok_or_else(bad)?;
                if h.len() != 64 || !h.is_ascii() {
                    return Err(bad());
                }
                let mut fp = [0u8; 32];
                for (i, b) in fp.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
                }
                Ok((fp, off.parse().map_err(|_| bad())?))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The in-order window.

/// Hashes a fingerprint by its first eight bytes (fingerprints are uniform).
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if let Some(b) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*b);
        } else {
            for &x in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(x);
            }
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

type FpMap<V> = HashMap<Fingerprint, V, BuildHasherDefault<PrefixHasher>>;

const NIL: u64 = u64::MAX;
/// Waiting for its copy on the other side (chained by fingerprint).
const PENDING: u8 = 0;
/// Source slot whose target copy came: done.
const TAKEN: u8 = 1;
/// Target slot matched (`link` holds the source offset), waiting for its turn in target order.
const MATCHED: u8 = 2;
/// Target record sent to the sorted runs: a gap in the target order.
const SORTED: u8 = 3;

#[derive(Debug, Clone, Copy)]
struct Slot {
    fp: Fingerprint,
    offset: i64,
    ident: u64,
    /// PENDING: sequence number of the next pending slot with the same fingerprint (NIL: none);
    /// MATCHED: the source offset.
    link: u64,
    state: u8,
}

/// One side of the window: slots in arrival (= offset) order.
///
/// Pending slots are indexed by fingerprint lazily. In lockstep (the normal case) a record's
/// copy is the first pending slot of the other side, found by one comparison; the hash index is
/// built only for the slots a lookup has to skip, so an in-order copy hardly ever hashes.
struct Side {
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    base: u64,
    /// Slots before this sequence number are in `chains` (when pending); from it on, not yet.
    cursor: u64,
    /// fingerprint → (first, last) indexed pending slot.
    chains: FpMap<(u64, u64)>,
}

impl Side {
    fn new(window: usize) -> Side {
        Side {
            slots: VecDeque::with_capacity(window + 1),
            base: 0,
            cursor: 0,
            // Twice the most pending slots: with the table at most half full, the tombstones
            // of a busy window are cleaned by rehashing in place, never by growing it.
            chains: FpMap::with_capacity_and_hasher(map_capacity(window), Default::default()),
        }
    }

    fn end(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    fn push(&mut self, fp: Fingerprint, offset: i64, ident: u64, state: u8, link: u64) {
        self.slots.push_back(Slot {
            fp,
            offset,
            ident,
            link,
            state,
        });
    }

    /// Indexes every pending slot from the cursor on.
    fn index_all(&mut self) {
        for seq in self.cursor..self.end() {
            let i = (seq - self.base) as usize;
            if self.slots[i].state != PENDING {
                continue;
            }
            self.slots[i].link = NIL;
            match self.chains.entry(self.slots[i].fp) {
                MapEntry::Occupied(mut e) => {
                    let tail = (e.get().1 - self.base) as usize;
                    self.slots[tail].link = seq;
                    e.get_mut().1 = seq;
                }
                MapEntry::Vacant(v) => {
                    v.insert((seq, seq));
                }
            }
        }
        self.cursor = self.end();
    }

    /// Finds the earliest pending slot with `fp`, takes it out of the index, and returns its
    /// index; the caller changes its state.
    fn take(&mut self, fp: &Fingerprint) -> Option<usize> {
        // An indexed copy is older than any unindexed one.
        if !self.chains.is_empty() {
            if let Some(i) = self.unchain(fp) {
                return Some(i);
            }
        }
        // Lockstep: the first unindexed pending slot.
        while self.cursor < self.end() {
            let i = (self.cursor - self.base) as usize;
            let slot = &self.slots[i];
            if slot.state != PENDING {
                self.cursor += 1;
                continue;
            }
            if slot.fp == *fp {
                self.cursor += 1;
                return Some(i);
            }
            break;
        }
        if self.cursor == self.end() {
            return None;
        }
        self.index_all();
        self.unchain(fp)
    }

    fn unchain(&mut self, fp: &Fingerprint) -> Option<usize> {
        match self.chains.entry(*fp) {
            MapEntry::Occupied(mut e) => {
                let i = (e.get().0 - self.base) as usize;
                let next = self.slots[i].link;
                if next == NIL {
                    e.remove();
                } else {
                    e.get_mut().0 = next;
                }
                Some(i)
            }
            MapEntry::Vacant(_) => None,
        }
    }

    /// Takes the front slot, pending, out of the index (it is the earliest pending copy of its
    /// fingerprint, so the head of its chain when indexed).
    fn take_front(&mut self) {
        if let Some(front) = self.slots.front().copied() {
            if self.base < self.cursor {
                self.unchain(&front.fp);
            } else {
                self.cursor = self.base + 1;
            }
        }
    }

    fn pop_front(&mut self) -> Option<Slot> {
        let slot = self.slots.pop_front()?;
        self.base += 1;
        self.cursor = self.cursor.max(self.base);
        Some(slot)
    }
}

/// Fingerprints that have a copy in the sorted runs: a blocked Bloom filter (three bits in one
/// 64-bit word, one memory access; word and bits from fingerprint bytes 8..24, independent of
/// the prefix the window hashes on).
struct Taint {
    words: Vec<u64>,
    mask: u64,
    inserted: u64,
    /// Beyond this many insertions false positives grow past a few percent: the window stops.
    limit: u64,
}

impl Taint {
    fn new(bytes: usize) -> Taint {
        let words = (bytes / 8).next_power_of_two().max(64);
        Taint {
            words: vec![0; words],
            mask: words as u64 - 1,
            inserted: 0,
            limit: 8 * words as u64,
        }
    }

    fn probe(&self, fp: &Fingerprint) -> (usize, u64) {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&fp[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (w, h) = (word(8), word(16));
        let bits = (1u64 << (h & 63)) | (1u64 << ((h >> 6) & 63)) | (1u64 << ((h >> 12) & 63));
        ((w & self.mask) as usize, bits)
    }

    fn insert(&mut self, fp: &Fingerprint) {
        let (w, bits) = self.probe(fp);
        self.words[w] |= bits;
        self.inserted += 1;
    }

    fn contains(&self, fp: &Fingerprint) -> bool {
        if self.inserted == 0 {
            return false;
        }
        let (w, bits) = self.probe(fp);
        self.words[w] & bits == bits
    }

    fn saturated(&self) -> bool {
        self.inserted > self.limit
    }
}

fn map_capacity(window: usize) -> usize {
    2 * (window + 1)
}

/// Memory the window and its filter take, in bytes (slots and map buckets of both sides).
/// Memory the window and its filter take, in bytes (slots and map buckets of both sides).
fn window_bytes(window: usize, taint_bytes: usize) -> usize {
    let slots = (window + 1) * std::mem::size_of::<Slot>();
    let buckets = (map_capacity(window) * 8 / 7).next_power_of_two()
        * (std::mem::size_of::<(Fingerprint, (u64, u64))>() + 1);
    2 * (slots + buckets) + taint_bytes
}

struct Window {
    src: Side,
    tgt: Side,
    limit: usize,
    /// Off: every record goes straight to the sorted runs (the copy is far from in order).
    active: bool,
    /// Window pairs and records sent to the runs when the current judgement period began.
    start_matched: u64,
    start_sorted: u64,
}

impl Window {
    fn source(
        &mut self,
        sink: &mut Sink,
        fp: Fingerprint,
        offset: i64,
        ident: u64,
    ) -> Result<(), VerifyError> {
        if sink.tainted(&fp) {
            return sink.sort(Kind::Source, offset, fp, ident);
        }
        if let Some(i) = self.tgt.take(&fp) {
            let slot = &mut self.tgt.slots[i];
            slot.state = MATCHED;
            slot.link = offset as u64;
            let target = slot.offset;
            sink.paired(fp, offset, target)?;
            return self.drain_targets(sink);
        }
        self.src.push(fp, offset, ident, PENDING, NIL);
        while self.src.slots.len() > self.limit {
            self.evict_source(sink)?;
        }
        Ok(())
    }

    fn target(
        &mut self,
        sink: &mut Sink,
        fp: Fingerprint,
        offset: i64,
        ident: u64,
    ) -> Result<(), VerifyError> {
        if sink.tainted(&fp) {
            sink.sort(Kind::Target, offset, fp, ident)?;
            if self.tgt.slots.is_empty() {
                sink.gap();
            } else {
                self.tgt.push(fp, offset, ident, SORTED, NIL);
            }
        } else if let Some(i) = self.src.take(&fp) {
            let source = self.src.slots[i].offset;
            self.src.slots[i].state = TAKEN;
            while self.src.slots.front().is_some_and(|s| s.state == TAKEN) {
                self.src.pop_front();
            }
            sink.paired(fp, source, offset)?;
            if self.tgt.slots.is_empty() {
                sink.emit(offset, source);
            } else {
                self.tgt.push(fp, offset, ident, MATCHED, source as u64);
            }
        } else {
            self.tgt.push(fp, offset, ident, PENDING, NIL);
        }
        while self.tgt.slots.len() > self.limit {
            self.evict_target(sink)?;
        }
        Ok(())
    }

    /// Emits the front of the target side while its turn has come.
    fn drain_targets(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
        while let Some(front) = self.tgt.slots.front() {
            match front.state {
                MATCHED => sink.emit(front.offset, front.link as i64),
                SORTED => sink.gap(),
                _ => break,
            }
            self.tgt.pop_front();
        }
        Ok(())
    }

    /// The oldest target slot is pending (the drain stops there): it goes to the sorted runs.
    fn evict_target(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
        let Some(front) = self.tgt.slots.front().copied() else {
            return Ok(());
        };
        if front.state == PENDING {
            self.tgt.take_front();
            sink.sort(Kind::Target, front.offset, front.fp, front.ident)?;
            sink.gap();
            self.tgt.pop_front();
        }
        self.drain_targets(sink)
    }

    fn evict_source(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
        if let Some(front) = self.src.slots.front().copied() {
            if front.state == PENDING {
                self.src.take_front();
                sink.sort(Kind::Source, front.offset, front.fp, front.ident)?;
            }
            self.src.pop_front();
        }
        while self.src.slots.front().is_some_and(|s| s.state == TAKEN) {
            self.src.pop_front();
        }
        Ok(())
    }

    /// Everything still in the window goes out: targets in order, pending ones to the runs.
    fn flush(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
        while let Some(slot) = self.tgt.pop_front() {
            match slot.state {
                MATCHED => sink.emit(slot.offset, slot.link as i64),
                SORTED => sink.gap(),
                _ => {
                    sink.sort(Kind::Target, slot.offset, slot.fp, slot.ident)?;
                    sink.gap();
                }
            }
        }
        while let Some(slot) = self.src.pop_front() {
            if slot.state == PENDING {
                sink.sort(Kind::Source, slot.offset, slot.fp, slot.ident)?;
            }
        }
        self.src.chains.clear();
        self.tgt.chains.clear();
        Ok(())
    }
}

/// Where records leave the window: the sorted runs, and the order/offset checks of pairs.
struct Sink {
    entries: RunSorter<Entry>,
    /// Fingerprints with a source or target copy in the runs (while the window may still run).
    taint: Option<Taint>,
    /// Source and target records sent to the runs.
    sorted: u64,
    pairs: RunSorter<Pair>,
    out: Outcome,
    check_order: bool,
    check_offsets: bool,
    /// The last window pair emitted (target, source) and its gap flags not yet stored.
    last: Option<(i64, i64)>,
    last_flags: u64,
    /// A target record went to the sorted runs since `last`.
    gap: bool,
    first_matched_source: i64,
    first_matched_target: i64,
    /// Pairs the window made.
    window_matched: u64,
}

impl Sink {
    fn sort(
        &mut self,
        kind: Kind,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
    ) -> Result<(), VerifyError> {
        if matches!(kind, Kind::Source | Kind::Target) {
            self.sorted += 1;
            if let Some(t) = self.taint.as_mut() {
                t.insert(&fp);
            }
        }
        self.entries.push(Entry::new(kind, offset, fp, ident))
    }

    fn tainted(&self, fp: &Fingerprint) -> bool {
        self.taint.as_ref().is_none_or(|t| t.contains(fp))
    }

    fn paired(&mut self, fp: Fingerprint, source: i64, target: i64) -> Result<(), VerifyError> {
        self.window_matched += 1;
        self.first_matched_source = self.first_matched_source.min(source);
        self.first_matched_target = self.first_matched_target.min(target);
        self.entries
            .push(Entry::new(Kind::Paired, source, fp, target.max(0) as u64))
    }

    /// A window pair, in target order.
    fn emit(&mut self, target: i64, source: i64) {
        if self.check_offsets && source != target {
            self.out
                .add(AnomalyClass::OffsetMismatch, target, || RawExample {
                    class: AnomalyClass::OffsetMismatch,
                    source_offset: Some(source),
                    target_offsets: vec![target],
                    detail: None,
                    ..RawExample::default()
                });
        }
        if let Some((lt, ls)) = self.last {
            if self.last_flags != 0 {
                self.store_last(lt, ls);
            }
            if !self.gap && self.check_order && source < ls {
                self.out
                    .add(AnomalyClass::Reordered, target, || RawExample {
                        class: AnomalyClass::Reordered,
                        source_offset: Some(source),
                        target_offsets: vec![target],
                        detail: Some(format!("follows the copy of source offset {ls}")),
                        ..RawExample::default()
                    });
            }
        }
        self.last_flags = if self.gap { PAIR_AFTER_GAP } else { 0 };
        self.last = Some((target, source));
        self.gap = false;
    }

    /// A target record went to the sorted runs: the window's order walk has a gap here.
    fn gap(&mut self) {
        if !self.gap && self.last.is_some() {
            self.last_flags |= PAIR_BEFORE_GAP;
        }
        self.gap = true;
    }

    fn store_last(&mut self, target: i64, source: i64) {
        // Pairs only matter to the order walk; without it there is nothing to store.
        if self.check_order {
            let pair = Pair {
                target: target.max(0) as u64 & PAIR_OFFSET,
                source: (source.max(0) as u64 & PAIR_OFFSET) | PAIR_WINDOW | self.last_flags,
            };
            // A spill error surfaces at finish through the same sorter.
            if let Err(e) = self.pairs.push(pair) {
                self.out.error.get_or_insert(e);
            }
        }
        self.last_flags = 0;
    }
}

/// Collects one partition's records and finds its anomalies.
///
/// Records of each side must be pushed in offset order (source committed records among
/// themselves, target records among themselves); sides may interleave freely, and the closer
/// they stay together the more the in-order window matches without sorting.
pub struct PartitionMatcher {
    options: MatchOptions,
    window: Option<Window>,
    sink: Sink,
    tally: Tally,
    last_source: Option<i64>,
    last_target: Option<i64>,
    /// Source and target records pushed.
    pushed: u64,
    /// While the window is off: when to try it again, and the next pause.
    retry_at: u64,
    backoff: u64,
    /// Verdicts against the window in a row.
    failures: u32,
    /// Entries the runs may hold in memory without the window.
    full_capacity: usize,
}

impl PartitionMatcher {
    pub fn new(options: MatchOptions) -> PartitionMatcher {
        let capacity = options.capacity.max(1);
        let budget = capacity.saturating_mul(Entry::SIZE);
        // The order walk's pairs get 1/32 of the records while reading (16 bytes each); the
        // window and its filter (1 byte per record) come out of the same budget.
        let pair_capacity = (capacity / 32).max(1);
        let (window, taint, window_cost) = if options.window > 0 && !options.whole_topic {
            let taint = Taint::new(capacity);
            let cost = window_bytes(options.window, taint.words.len() * 8);
            let window = Window {
                src: Side::new(options.window),
                tgt: Side::new(options.window),
                limit: options.window,
                active: true,
                start_matched: 0,
                start_sorted: 0,
            };
            (Some(window), Some(taint), cost)
        } else {
            (None, None, 0)
        };
        let backoff = 64 * options.window as u64;
        let entry_capacity = (budget
            .saturating_sub(window_cost)
            .saturating_sub(pair_capacity * Pair::SIZE)
            / Entry::SIZE)
            .max(1);
        PartitionMatcher {
            window,
            sink: Sink {
                entries: RunSorter::new(entry_capacity),
                taint,
                sorted: 0,
                pairs: RunSorter::new(pair_capacity),
                out: Outcome::new(options.examples_per_class),
                check_order: options.check_order,
                check_offsets: options.check_offsets,
                last: None,
                last_flags: 0,
                gap: false,
                first_matched_source: i64::MAX,
                first_matched_target: i64::MAX,
                window_matched: 0,
            },
            options,
            tally: Tally::default(),
            last_source: None,
            last_target: None,
            pushed: 0,
            retry_at: 0,
            backoff,
            failures: 0,
            full_capacity: ((budget - pair_capacity * Pair::SIZE) / Entry::SIZE).max(1),
        }
    }

    /// A committed source record.
    pub fn push_source(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
        bytes: u64,
    ) -> Result<(), VerifyError> {
        in_order("source", &mut self.last_source, offset)?;
        self.tally.source_records += 1;
        self.tally.bytes_compared += bytes;
        match self.window.as_mut() {
            Some(w) if w.active => w.source(&mut self.sink, fp, offset, ident)?,
            _ => self.sink.sort(Kind::Source, offset, fp, ident)?,
        }
        self.check_window()
    }

    /// A source record that the committed view does not show (aborted).
    pub fn push_aborted(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
    ) -> Result<(), VerifyError> {
        self.tally.source_aborted += 1;
        self.sink.sort(Kind::Aborted, offset, fp, ident)
    }

    /// A target record (committed view).
    pub fn push_target(
        &mut self,
        offset: i64,
        fp: Fingerprint,
        ident: u64,
        bytes: u64,
    ) -> Result<(), VerifyError> {
        in_order("target", &mut self.last_target, offset)?;
        self.tally.target_records += 1;
        self.tally.bytes_compared += bytes;
        match self.window.as_mut() {
            Some(w) if w.active => w.target(&mut self.sink, fp, offset, ident)?,
            _ => {
                self.sink.sort(Kind::Target, offset, fp, ident)?;
                self.sink.gap();
            }
        }
        self.check_window()
    }

    /// Switches the window off when it does not pay, and on again later.
    ///
    /// Off for a while: when, of the last `8 × window` records that fell out of it, fewer than
    /// one in eight pairs were made meanwhile (a copy far from in order, or a stretch of it);
    /// the taint filter keeps recording
    /// what goes to the runs meanwhile, so the window can come back (after a pause that doubles
    /// each time). Off for good: when the filter holds more fingerprints than it can tell apart.
    fn check_window(&mut self) -> Result<(), VerifyError> {
        self.pushed += 1;
        let Some(w) = self.window.as_mut() else {
            return Ok(());
        };
        if self.sink.taint.as_ref().is_none_or(Taint::saturated) {
            return self.drop_window();
        }
        if w.active {
            let sorted = self.sink.sorted - w.start_sorted;
            let matched = self.sink.window_matched - w.start_matched;
            if sorted >= 8 * w.limit as u64 {
                if matched * 8 < sorted {
                    self.failures += 1;
                    if self.failures >= 4 {
                        return self.drop_window();
                    }
                    w.flush(&mut self.sink)?;
                    w.active = false;
                    self.retry_at = self.pushed + self.backoff;
                    self.backoff = self.backoff.saturating_mul(2);
                } else {
                    // Judged over the records sent to the runs since the last verdict.
                    self.failures = 0;
                    w.start_sorted = self.sink.sorted;
                    w.start_matched = self.sink.window_matched;
                }
            }
        } else if self.pushed >= self.retry_at {
            w.active = true;
            w.start_sorted = self.sink.sorted;
            w.start_matched = self.sink.window_matched;
        }
        Ok(())
    }

    /// The window and its filter go for good; their memory goes back to the sorted runs.
    fn drop_window(&mut self) -> Result<(), VerifyError> {
        if let Some(mut w) = self.window.take() {
            w.flush(&mut self.sink)?;
        }
        self.sink.taint = None;
        self.sink.entries.set_capacity(self.full_capacity);
        Ok(())
    }

    /// Pairs the in-order window matched so far.
    pub fn window_matched(&self) -> u64 {
        self.sink.window_matched
    }

    /// Whether the in-order window is in use.
    pub fn window_active(&self) -> bool {
        self.window.as_ref().is_some_and(|w| w.active)
    }

    /// Walks the fingerprint groups and counts every anomaly.
    pub fn finish(mut self, retention: Retention) -> Result<PartitionOutcome, VerifyError> {
        self.sink.taint = None;
        if let Some(mut w) = self.window.take() {
            w.flush(&mut self.sink)?;
        }
        let PartitionMatcher {
            options,
            mut sink,
            mut tally,
            ..
        } = self;
        if let Some((t, s)) = sink.last {
            if sink.last_flags != 0 {
                sink.store_last(t, s);
            }
        }
        if let Some(e) = sink.out.error.take() {
            return Err(e);
        }
        let Sink {
            entries,
            mut pairs,
            mut out,
            first_matched_source,
            first_matched_target,
            ..
        } = sink;
        // Memory budget: `capacity` entries of 48 bytes. When the entries went to disk, their
        // buffer is freed before the walk and the matched pairs (16 bytes) get the whole budget;
        // when they stayed in memory, the pairs get a quarter of it on top (4 bytes per entry).
        if entries.runs() > 0 {
            pairs.set_capacity(options.capacity.max(1) * 3);
        } else {
            pairs.set_capacity((options.capacity / 4).max(1));
        }
        let mut sorted = entries.finish()?;
        let mut spilled = sorted.spilled();
        // Lost and phantom records are not collected: they go through their own sorted runs
        // (by workload identity, for the corruption pairing), and only counts and the first
        // `anomaly_memory` of each kind stay in memory.
        let leftover_capacity = (options.capacity / 8).max(1);
        let mut lost: RunSorter<Leftover> = RunSorter::new(leftover_capacity);
        let mut phantom: RunSorter<Leftover> = RunSorter::new(leftover_capacity);
        let mut firsts = Firsts::new(options.whole_topic);
        firsts.note(first_matched_source, first_matched_target);
        let check_order = options.check_order || options.check_offsets;

        let mut group: Vec<Entry> = Vec::new();
        let mut flush = |group: &mut Vec<Entry>,
                         out: &mut Outcome,
                         pairs: &mut RunSorter<Pair>,
                         tally: &mut Tally|
         -> Result<(), VerifyError> {
            if group.is_empty() {
                return Ok(());
            }
            let fp = group[0].fp;
            // Sorted by (fp, kind, offset): window-paired source copies (the earliest), other
            // source copies, aborted, then target copies the window did not pair.
            let p_end = group.partition_point(|e| e.kind() == Kind::Paired);
            let s_end = p_end + group[p_end..].partition_point(|e| e.kind() == Kind::Source);
            let a_end = s_end + group[s_end..].partition_point(|e| e.kind() == Kind::Aborted);
            let (src, abt, tgt) = (&group[..s_end], &group[s_end..a_end], &group[a_end..]);
            let j = p_end;
            let (s, t) = (src.len(), j + tgt.len());
            tally.upstream_duplicates += s.saturating_sub(1) as u64;
            let m = s.min(t);
            tally.matched += m as u64;
            // The window paired the first j copies of each side; the runs continue from there.
            for k in 0..m - j {
                let (so, to) = (src[j + k].offset(), tgt[k].offset());
                firsts.note(so, to);
                if check_order {
                    pairs.push(Pair {
                        target: to as u64 & PAIR_OFFSET,
                        source: so as u64 & PAIR_OFFSET,
                    })?;
                }
            }
            for e in &src[m..] {
                lost.push(Leftover::new(e.ident, e.offset(), fp))?;
            }
            let first_target = if j > 0 {
                src[0].ident as i64
            } else {
                tgt.first().map_or(0, Entry::offset)
            };
            for (i, e) in tgt[m - j..].iter().enumerate() {
                if i < abt.len() {
                    out.add(AnomalyClass::LeakedAborted, e.offset(), || RawExample {
                        class: AnomalyClass::LeakedAborted,
                        source_offset: Some(abt[i].offset()),
                        target_offsets: vec![e.offset()],
                        detail: None,
                        ..RawExample::default()
                    });
                } else if s > 0 {
                    out.add(AnomalyClass::Duplicated, e.offset(), || RawExample {
                        class: AnomalyClass::Duplicated,
                        source_offset: Some(src[0].offset()),
                        target_offsets: vec![first_target, e.offset()],
                        detail: Some(format!("{t} copies in the target, {s} in the source")),
                        ..RawExample::default()
                    });
                } else {
                    phantom.push(Leftover::new(e.ident, e.offset(), fp))?;
                }
            }
            group.clear();
            Ok(())
        };

        for entry in sorted.by_ref() {
            if group.last().is_some_and(|g| g.fp != entry.fp) {
                flush(&mut group, &mut out, &mut pairs, &mut tally)?;
            }
            group.push(entry);
        }
        if let Some(e) = sorted.take_error() {
            return Err(e);
        }
        flush(&mut group, &mut out, &mut pairs, &mut tally)?;
        drop(sorted);
        drop(group);

        // Same identity on a lost and a phantom record: one record, changed in the copy. Both
        // streams are in (identity, position) order: a merge join pairs them, k-th with k-th.
        // Then retention: copies of records the source has since expired sit before the first
        // matched target record; records the target's retention removed sit before the first
        // matched source record.
        let mut lost = lost.finish()?;
        let mut phantom = phantom.finish()?;
        let mut kept_lost = Lowest::new(options.anomaly_memory);
        let mut kept_phantom = Lowest::new(options.anomaly_memory);
        let (mut lost_count, mut phantom_count) = (0u64, 0u64);
        let (mut l, mut ph) = (lost.next(), phantom.next());
        loop {
            let take_lost = match (&l, &ph) {
                (None, None) => break,
                (Some(a), Some(b)) if a.ident != 0 && a.ident == b.ident => {
                    let (so, to) = (a.position(), b.position());
                    out.add(AnomalyClass::Corrupted, to, || RawExample {
                        class: AnomalyClass::Corrupted,
                        source_offset: Some(so),
                        target_offsets: vec![to],
                        detail: Some("same workload id, different content".into()),
                        ..RawExample::default()
                    });
                    l = lost.next();
                    ph = phantom.next();
                    continue;
                }
                (Some(a), Some(b)) => (a.ident, a.pos) <= (b.ident, b.pos),
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_lost {
                if let Some(a) = l {
                    let at = a.position();
                    if retention.allow_expiry
                        && retention.target_log_start > 0
                        && at < firsts.source(at)
                    {
                        tally.expired_allowed += 1;
                    } else {
                        lost_count += 1;
                        kept_lost.offer(at, a.fp);
                    }
                }
                l = lost.next();
            } else {
                if let Some(b) = ph {
                    let at = b.position();
                    if retention.source_log_start > 0 && at < firsts.target(at) {
                        tally.unverifiable_expired += 1;
                    } else {
                        phantom_count += 1;
                        kept_phantom.offer(at, b.fp);
                    }
                }
                ph = phantom.next();
            }
        }
        if let Some(e) = lost.take_error().or_else(|| phantom.take_error()) {
            return Err(e);
        }
        spilled += lost.spilled() + phantom.spilled();
        drop((lost, phantom));

        let mut result = PartitionOutcome {
            truncated: lost_count + phantom_count > options.anomaly_memory as u64,
            lost: kept_lost.into_sorted(),
            phantom: kept_phantom.into_sorted(),
            ..PartitionOutcome::default()
        };
        out.counts.add(AnomalyClass::Lost, lost_count);
        out.counts.add(AnomalyClass::Phantom, phantom_count);

        spilled += pairs.spilled_items();
        if check_order {
            let mut walk = pairs.finish()?;
            // (source offset, flags) of the previous pair in target order.
            let mut previous: Option<(u64, u64)> = None;
            // Whole topic: per target partition, the last source position of each source
            // partition (order holds only among records of one source partition that land in
            // one target partition).
            let mut last_of_source: HashMap<u64, u64> = HashMap::new();
            let mut target_partition = u64::MAX;
            for pair in walk.by_ref() {
                let source = pair.source & PAIR_OFFSET;
                let flags = pair.source & !PAIR_OFFSET;
                if options.check_order {
                    let prev = if options.whole_topic {
                        if pair.target >> PARTITION_SHIFT != target_partition {
                            target_partition = pair.target >> PARTITION_SHIFT;
                            last_of_source.clear();
                        }
                        last_of_source
                            .insert(source >> PARTITION_SHIFT, source)
                            .filter(|prev| source < *prev)
                    } else {
                        let broken = previous.and_then(|(prev, prev_flags)| {
                            // After the first pair of a window run comes its last pair: the
                            // pairs between them were walked inline.
                            let run_inside = prev_flags & PAIR_AFTER_GAP != 0
                                && prev_flags & PAIR_BEFORE_GAP == 0;
                            (!run_inside && source < prev).then_some(prev)
                        });
                        previous = Some((source, flags));
                        broken
                    };
                    if let Some(prev) = prev {
                        let shown = if options.whole_topic {
                            let (p, o) = split_position(prev as i64);
                            format!("{p}:{o}")
                        } else {
                            prev.to_string()
                        };
                        out.add(AnomalyClass::Reordered, pair.target as i64, || RawExample {
                            class: AnomalyClass::Reordered,
                            source_offset: Some(source as i64),
                            target_offsets: vec![pair.target as i64],
                            detail: Some(format!("follows the copy of source offset {shown}")),
                            ..RawExample::default()
                        });
                    }
                }
                let offsets_differ = if options.whole_topic {
                    source & OFFSET_IN_PARTITION != pair.target & OFFSET_IN_PARTITION
                } else {
                    source != pair.target
                };
                if options.check_offsets && flags & PAIR_WINDOW == 0 && offsets_differ {
                    out.add(AnomalyClass::OffsetMismatch, pair.target as i64, || {
                        RawExample {
                            class: AnomalyClass::OffsetMismatch,
                            source_offset: Some(source as i64),
                            target_offsets: vec![pair.target as i64],
                            detail: None,
                            ..RawExample::default()
                        }
                    });
                }
            }
            if let Some(e) = walk.take_error() {
                return Err(e);
            }
        }

        result.counts = out.counts;
        result.examples = out
            .examples
            .into_values()
            .flat_map(|mut v| {
                v.sort_by_key(|(key, seq, _)| (*key, *seq));
                v.into_iter().map(|(_, _, e)| e)
            })
            .collect();
        result.tally = tally;
        result.spilled = spilled;
        if options.whole_topic {
            // Positions back to (partition, offset); lost and phantom records become examples
            // here (the topic step pairs lists only when partitions are preserved).
            let per_class = options.examples_per_class;
            let lost = std::mem::take(&mut result.lost);
            let phantom = std::mem::take(&mut result.phantom);
            result
                .examples
                .extend(lost.iter().take(per_class).map(|(_, at)| RawExample {
                    class: AnomalyClass::Lost,
                    source_offset: Some(*at),
                    ..RawExample::default()
                }));
            result
                .examples
                .extend(phantom.iter().take(per_class).map(|(_, at)| RawExample {
                    class: AnomalyClass::Phantom,
                    target_offsets: vec![*at],
                    ..RawExample::default()
                }));
            result.truncated = false;
            for e in &mut result.examples {
                if let Some(at) = e.source_offset {
                    let (p, o) = split_position(at);
                    e.source_partition = Some(p);
                    e.source_offset = Some(o);
                }
                let (partitions, offsets) = e
                    .target_offsets
                    .iter()
                    .map(|at| split_position(*at))
                    .unzip();
                e.target_partitions = partitions;
                e.target_offsets = offsets;
            }
        }
        Ok(result)
    }
}

/// Whole-topic matching: a record's position is `partition << PARTITION_SHIFT | offset`, so one
/// matcher covers every partition of a topic and each side stays in position order when its
/// partitions are pushed one after another.
pub const PARTITION_SHIFT: u32 = 40;
const OFFSET_IN_PARTITION: u64 = (1 << PARTITION_SHIFT) - 1;

/// The position of `offset` in `partition` for whole-topic matching; None when it does not fit
/// (an offset at or beyond 2^40, a partition at or beyond 2^21).
pub fn topic_position(partition: i32, offset: i64) -> Option<i64> {
    let fits = (0..1 << 21).contains(&partition) && (0..1i64 << PARTITION_SHIFT).contains(&offset);
    fits.then(|| (i64::from(partition) << PARTITION_SHIFT) | offset)
}

/// (partition, offset) of a whole-topic position.
pub fn split_position(at: i64) -> (i32, i64) {
    (
        (at >> PARTITION_SHIFT) as i32,
        at & OFFSET_IN_PARTITION as i64,
    )
}

/// A lost or phantom record on its way to the corruption pairing: 48 bytes, ordered by
/// workload identity, then position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Leftover {
    ident: u64,
    pos: u64,
    fp: Fingerprint,
}

impl Leftover {
    fn new(ident: u64, position: i64, fp: Fingerprint) -> Leftover {
        Leftover {
            ident,
            pos: position.max(0) as u64,
            fp,
        }
    }

    fn position(&self) -> i64 {
        self.pos as i64
    }
}

impl Spill for Leftover {
    const SIZE: usize = 48;
    fn write_to(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.ident.to_be_bytes());
        out[8..16].copy_from_slice(&self.pos.to_be_bytes());
        out[16..48].copy_from_slice(&self.fp);
    }
    fn read_from(b: &[u8]) -> Self {
        let mut ident = [0u8; 8];
        ident.copy_from_slice(&b[..8]);
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&b[8..16]);
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&b[16..48]);
        Leftover {
            ident: u64::from_be_bytes(ident),
            pos: u64::from_be_bytes(pos),
            fp,
        }
    }
}

/// The `cap` lowest positions offered, with their fingerprints (a bounded max-heap).
struct Lowest {
    cap: usize,
    heap: std::collections::BinaryHeap<(i64, Fingerprint)>,
}

impl Lowest {
    fn new(cap: usize) -> Lowest {
        Lowest {
            cap,
            heap: std::collections::BinaryHeap::new(),
        }
    }

    fn offer(&mut self, at: i64, fp: Fingerprint) {
        if self.heap.len() < self.cap {
            self.heap.push((at, fp));
        } else if self.heap.peek().is_some_and(|top| (at, fp) < *top) {
            self.heap.pop();
            self.heap.push((at, fp));
        }
    }

    /// (fingerprint, position) in position order.
    fn into_sorted(self) -> Vec<(Fingerprint, i64)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|(at, fp)| (fp, at))
            .collect()
    }
}

/// The first matched position on each side (per partition for whole-topic matching): records
/// before it are judged by retention.
struct Firsts {
    whole_topic: bool,
    /// One partition: the minimum of each side.
    source_min: i64,
    target_min: i64,
    /// Whole topic: per partition.
    source: HashMap<u64, i64>,
    target: HashMap<u64, i64>,
}

impl Firsts {
    fn new(whole_topic: bool) -> Firsts {
        Firsts {
            whole_topic,
            source_min: i64::MAX,
            target_min: i64::MAX,
            source: HashMap::new(),
            target: HashMap::new(),
        }
    }

    fn note(&mut self, source: i64, target: i64) {
        if !self.whole_topic {
            self.source_min = self.source_min.min(source);
            self.target_min = self.target_min.min(target);
            return;
        }
        for (map, at) in [(&mut self.source, source), (&mut self.target, target)] {
            if at != i64::MAX {
                let e = map
                    .entry((at.max(0) as u64) >> PARTITION_SHIFT)
                    .or_insert(i64::MAX);
                *e = (*e).min(at);
            }
        }
    }

    fn first(&self, map: &HashMap<u64, i64>, min: i64, at: i64) -> i64 {
        if !self.whole_topic {
            return min;
        }
        map.get(&((at.max(0) as u64) >> PARTITION_SHIFT))
            .copied()
            .unwrap_or(i64::MAX)
    }

    fn source(&self, at: i64) -> i64 {
        self.first(&self.source, self.source_min, at)
    }

    fn target(&self, at: i64) -> i64 {
        self.first(&self.target, self.target_min, at)
    }
}

fn in_order(side: &'static str, last: &mut Option<i64>, offset: i64) -> Result<(), VerifyError> {
    if let Some(previous) = *last {
        if offset <= previous {
            return Err(VerifyError::OutOfOrder {
                side,
                previous,
                offset,
            });
        }
    }
    *last = Some(offset);
    Ok(())
}

/// Counts and the first examples of each class: the ones with the lowest position (target
/// offset, else source offset), whatever order the anomalies were found in.
struct Outcome {
    counts: Counts,
    /// class → (position, arrival, example), at most `per_class` each.
    examples: BTreeMap<AnomalyClass, Vec<(i64, u64, RawExample)>>,
    per_class: usize,
    arrivals: u64,
    /// A spill error met where it could not be returned.
    error: Option<VerifyError>,
}

impl Outcome {
    fn new(per_class: usize) -> Outcome {
        Outcome {
            counts: Counts::default(),
            examples: BTreeMap::new(),
            per_class,
            arrivals: 0,
            error: None,
        }
    }

    fn add(&mut self, class: AnomalyClass, position: i64, example: impl FnOnce() -> RawExample) {
        self.counts.add(class, 1);
        if self.per_class == 0 {
            return;
        }
        self.arrivals += 1;
        let kept = self.examples.entry(class).or_default();
        if kept.len() < self.per_class {
            kept.push((position, self.arrivals, example()));
            return;
        }
        // Replace the highest position kept when this one is lower.
        if let Some((i, _)) = kept
            .iter()
            .enumerate()
            .max_by_key(|(_, (p, seq, _))| (*p, *seq))
            .filter(|(_, (p, _, _))| position < *p)
        {
            kept[i] = (position, self.arrivals, example());
        }
    }
}

#[cfg(test)]
mod tests {
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
}
