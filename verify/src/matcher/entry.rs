//! The sorted runs' entries: a record (48 bytes: fingerprint prefix order, kind, offset) and a
//! matched pair of the order walk.

use crate::fingerprint::Fingerprint;
use crate::runs::Spill;

pub(super) const KIND_SHIFT: u32 = 62;
pub(super) const OFFSET_MASK: u64 = (1 << KIND_SHIFT) - 1;

/// What an entry of the sorted runs is. The order matters: within a fingerprint group the
/// window's pairs (the earliest source copies) come first, then the other source copies, so all
/// source copies are in offset order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
pub(super) enum Kind {
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
    pub(super) fp: Fingerprint,
    /// kind in the top two bits, offset below.
    pub(super) pos: u64,
    /// Workload identity; for `Paired`, the target offset.
    pub(super) ident: u64,
}

impl Entry {
    pub(super) fn new(kind: Kind, offset: i64, fp: Fingerprint, ident: u64) -> Entry {
        Entry {
            fp,
            pos: ((kind as u64) << KIND_SHIFT) | (offset.max(0) as u64 & OFFSET_MASK),
            ident,
        }
    }

    pub(super) fn kind(&self) -> Kind {
        match self.pos >> KIND_SHIFT {
            0 => Kind::Paired,
            1 => Kind::Source,
            2 => Kind::Aborted,
            _ => Kind::Target,
        }
    }

    pub(super) fn offset(&self) -> i64 {
        (self.pos & OFFSET_MASK) as i64
    }

    pub(super) fn prefix(&self) -> u64 {
        prefix(&self.fp)
    }
}

pub(super) fn prefix(fp: &Fingerprint) -> u64 {
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
pub(super) struct Pair {
    pub(super) target: u64,
    pub(super) source: u64,
}

/// Matched by the window: its offset check and its order against its window neighbours are done.
pub(super) const PAIR_WINDOW: u64 = 1 << 63;
/// The first window pair after a gap.
pub(super) const PAIR_AFTER_GAP: u64 = 1 << 62;
/// The last window pair before a gap.
pub(super) const PAIR_BEFORE_GAP: u64 = 1 << 61;
pub(super) const PAIR_OFFSET: u64 = PAIR_BEFORE_GAP - 1;

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
