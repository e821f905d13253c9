//! The in-order window: pending records per side in a hash window, matched in lockstep and
//! checked for order and offset inline; what falls out goes to the sorted runs through the
//! [`Sink`], tainting its fingerprint.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::VerifyError;
use crate::fingerprint::Fingerprint;
use crate::runs::RunSorter;
use crate::verdict::AnomalyClass;

use super::*;

// The in-order window.

/// Hashes a fingerprint by its first eight bytes (fingerprints are uniform).
#[derive(Default)]
pub(super) struct PrefixHasher(u64);

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

pub(super) type FpMap<V> = HashMap<Fingerprint, V, BuildHasherDefault<PrefixHasher>>;

pub(super) const NIL: u64 = u64::MAX;
/// Waiting for its copy on the other side (chained by fingerprint).
pub(super) const PENDING: u8 = 0;
/// Source slot whose target copy came: done.
pub(super) const TAKEN: u8 = 1;
/// Target slot matched (`link` holds the source offset), waiting for its turn in target order.
pub(super) const MATCHED: u8 = 2;
/// Target record sent to the sorted runs: a gap in the target order.
pub(super) const SORTED: u8 = 3;

#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) fp: Fingerprint,
    pub(super) offset: i64,
    pub(super) ident: u64,
    /// PENDING: sequence number of the next pending slot with the same fingerprint (NIL: none);
    /// MATCHED: the source offset.
    pub(super) link: u64,
    pub(super) state: u8,
}

/// One side of the window: slots in arrival (= offset) order.
///
/// Pending slots are indexed by fingerprint lazily. In lockstep (the normal case) a record's
/// copy is the first pending slot of the other side, found by one comparison; the hash index is
/// built only for the slots a lookup has to skip, so an in-order copy hardly ever hashes.
pub(super) struct Side {
    pub(super) slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    pub(super) base: u64,
    /// Slots before this sequence number are in `chains` (when pending); from it on, not yet.
    pub(super) cursor: u64,
    /// fingerprint → (first, last) indexed pending slot.
    pub(super) chains: FpMap<(u64, u64)>,
}

impl Side {
    pub(super) fn new(window: usize) -> Side {
        Side {
            slots: VecDeque::with_capacity(window + 1),
            base: 0,
            cursor: 0,
            // Twice the most pending slots: with the table at most half full, the tombstones
            // of a busy window are cleaned by rehashing in place, never by growing it.
            chains: FpMap::with_capacity_and_hasher(map_capacity(window), Default::default()),
        }
    }

    pub(super) fn end(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    pub(super) fn push(&mut self, fp: Fingerprint, offset: i64, ident: u64, state: u8, link: u64) {
        self.slots.push_back(Slot {
            fp,
            offset,
            ident,
            link,
            state,
        });
    }

    /// Indexes every pending slot from the cursor on.
    pub(super) fn index_all(&mut self) {
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
    pub(super) fn take(&mut self, fp: &Fingerprint) -> Option<usize> {
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

    pub(super) fn unchain(&mut self, fp: &Fingerprint) -> Option<usize> {
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
    pub(super) fn take_front(&mut self) {
        if let Some(front) = self.slots.front().copied() {
            if self.base < self.cursor {
                self.unchain(&front.fp);
            } else {
                self.cursor = self.base + 1;
            }
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<Slot> {
        let slot = self.slots.pop_front()?;
        self.base += 1;
        self.cursor = self.cursor.max(self.base);
        Some(slot)
    }
}

/// Fingerprints that have a copy in the sorted runs: a blocked Bloom filter (three bits in one
/// 64-bit word, one memory access; word and bits from fingerprint bytes 8..24, independent of
/// the prefix the window hashes on).
pub(super) struct Taint {
    pub(super) words: Vec<u64>,
    pub(super) mask: u64,
    pub(super) inserted: u64,
    /// Beyond this many insertions false positives grow past a few percent: the window stops.
    pub(super) limit: u64,
}

impl Taint {
    pub(super) fn new(bytes: usize) -> Taint {
        let words = (bytes / 8).next_power_of_two().max(64);
        Taint {
            words: vec![0; words],
            mask: words as u64 - 1,
            inserted: 0,
            limit: 8 * words as u64,
        }
    }

    pub(super) fn probe(&self, fp: &Fingerprint) -> (usize, u64) {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&fp[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (w, h) = (word(8), word(16));
        let bits = (1u64 << (h & 63)) | (1u64 << ((h >> 6) & 63)) | (1u64 << ((h >> 12) & 63));
        ((w & self.mask) as usize, bits)
    }

    pub(super) fn insert(&mut self, fp: &Fingerprint) {
        let (w, bits) = self.probe(fp);
        self.words[w] |= bits;
        self.inserted += 1;
    }

    pub(super) fn contains(&self, fp: &Fingerprint) -> bool {
        if self.inserted == 0 {
            return false;
        }
        let (w, bits) = self.probe(fp);
        self.words[w] & bits == bits
    }

    pub(super) fn saturated(&self) -> bool {
        self.inserted > self.limit
    }
}

pub(super) fn map_capacity(window: usize) -> usize {
    2 * (window + 1)
}

/// Memory the window and its filter take, in bytes (slots and map buckets of both sides).
/// Memory the window and its filter take, in bytes (slots and map buckets of both sides).
pub(super) fn window_bytes(window: usize, taint_bytes: usize) -> usize {
    let slots = (window + 1) * std::mem::size_of::<Slot>();
    let buckets = (map_capacity(window) * 8 / 7).next_power_of_two()
        * (std::mem::size_of::<(Fingerprint, (u64, u64))>() + 1);
    2 * (slots + buckets) + taint_bytes
}

pub(super) struct Window {
    pub(super) src: Side,
    pub(super) tgt: Side,
    pub(super) limit: usize,
    /// Off: every record goes straight to the sorted runs (the copy is far from in order).
    pub(super) active: bool,
    /// Window pairs and records sent to the runs when the current judgement period began.
    pub(super) start_matched: u64,
    pub(super) start_sorted: u64,
}

impl Window {
    pub(super) fn source(
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

    pub(super) fn target(
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
    pub(super) fn drain_targets(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
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
    pub(super) fn evict_target(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
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

    pub(super) fn evict_source(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
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
    pub(super) fn flush(&mut self, sink: &mut Sink) -> Result<(), VerifyError> {
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
pub(super) struct Sink {
    pub(super) entries: RunSorter<Entry>,
    /// Fingerprints with a source or target copy in the runs (while the window may still run).
    pub(super) taint: Option<Taint>,
    /// Source and target records sent to the runs.
    pub(super) sorted: u64,
    pub(super) pairs: RunSorter<Pair>,
    pub(super) out: Outcome,
    pub(super) check_order: bool,
    pub(super) check_offsets: bool,
    /// The last window pair emitted (target, source) and its gap flags not yet stored.
    pub(super) last: Option<(i64, i64)>,
    pub(super) last_flags: u64,
    /// A target record went to the sorted runs since `last`.
    pub(super) gap: bool,
    pub(super) first_matched_source: i64,
    pub(super) first_matched_target: i64,
    /// Pairs the window made.
    pub(super) window_matched: u64,
}

impl Sink {
    pub(super) fn sort(
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

    pub(super) fn tainted(&self, fp: &Fingerprint) -> bool {
        self.taint.as_ref().is_none_or(|t| t.contains(fp))
    }

    pub(super) fn paired(
        &mut self,
        fp: Fingerprint,
        source: i64,
        target: i64,
    ) -> Result<(), VerifyError> {
        self.window_matched += 1;
        self.first_matched_source = self.first_matched_source.min(source);
        self.first_matched_target = self.first_matched_target.min(target);
        self.entries
            .push(Entry::new(Kind::Paired, source, fp, target.max(0) as u64))
    }

    /// A window pair, in target order.
    pub(super) fn emit(&mut self, target: i64, source: i64) {
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
    pub(super) fn gap(&mut self) {
        if !self.gap && self.last.is_some() {
            self.last_flags |= PAIR_BEFORE_GAP;
        }
        self.gap = true;
    }

    pub(super) fn store_last(&mut self, target: i64, source: i64) {
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
