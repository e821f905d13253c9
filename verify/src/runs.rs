//! Sorted runs: an external sort with a fixed in-memory budget.
//!
//! Items are buffered up to `capacity`; a full buffer is sorted and spilled to a temp file as a
//! run of fixed-size records. Finishing merges the runs (and the last buffer) k-way, so memory
//! stays at `capacity` items plus one read buffer per run, whatever the volume.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};

use crate::error::VerifyError;

/// A fixed-size, ordered item that can be spilled.
pub trait Spill: Ord + Copy {
    const SIZE: usize;
    fn write_to(&self, out: &mut [u8]);
    fn read_from(bytes: &[u8]) -> Self;
}

/// An external sorter.
pub struct RunSorter<T: Spill> {
    capacity: usize,
    buffer: Vec<T>,
    runs: Vec<File>,
    spilled_items: u64,
}

impl<T: Spill> RunSorter<T> {
    /// `capacity`: items held in memory before a run is spilled (at least 1).
    pub fn new(capacity: usize) -> RunSorter<T> {
        let capacity = capacity.max(1);
        RunSorter {
            capacity,
            buffer: Vec::new(),
            runs: Vec::new(),
            spilled_items: 0,
        }
    }

    pub fn push(&mut self, item: T) -> Result<(), VerifyError> {
        if self.buffer.len() == self.buffer.capacity() {
            // Grow once to the full budget instead of doubling past it: the budget is the
            // memory promise, and a doubling copy would briefly hold 1.5 times of it.
            let target = (self.buffer.capacity() * 2).max(1024).min(self.capacity);
            self.buffer
                .reserve_exact(target.saturating_sub(self.buffer.len()).max(1));
        }
        self.buffer.push(item);
        if self.buffer.len() >= self.capacity {
            self.spill()?;
        }
        Ok(())
    }

    /// Changes the in-memory budget (takes effect at the next push).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
    }

    /// Items written to disk so far.
    pub fn spilled_items(&self) -> u64 {
        self.spilled_items
    }

    /// Runs written to disk so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Items currently held in memory.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn spill(&mut self) -> Result<(), VerifyError> {
        self.buffer.sort_unstable();
        let file = tempfile::tempfile().map_err(VerifyError::spill)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut bytes = vec![0u8; T::SIZE];
        for item in &self.buffer {
            item.write_to(&mut bytes);
            out.write_all(&bytes).map_err(VerifyError::spill)?;
        }
        let mut file = out
            .into_inner()
            .map_err(|e| VerifyError::spill(e.into_error()))?;
        std::io::Seek::rewind(&mut file).map_err(VerifyError::spill)?;
        self.spilled_items += self.buffer.len() as u64;
        self.runs.push(file);
        self.buffer.clear();
        Ok(())
    }

    /// All items in ascending order.
    pub fn finish(mut self) -> Result<Sorted<T>, VerifyError> {
        if !self.runs.is_empty() {
            // Once anything is on disk, the last buffer goes there too and its memory is
            // freed: the merge then holds only one read buffer per run, and whoever consumes
            // the merged stream gets the budget back.
            if !self.buffer.is_empty() {
                self.spill()?;
            }
            self.buffer = Vec::new();
        }
        self.buffer.sort_unstable();
        let mut readers = Vec::with_capacity(self.runs.len());
        for file in self.runs {
            readers.push(BufReader::with_capacity(1 << 15, file));
        }
        let mut sorted = Sorted {
            spilled: self.spilled_items,
            memory: self.buffer.into_iter(),
            memory_head: None,
            readers,
            heap: BinaryHeap::new(),
            scratch: vec![0u8; T::SIZE],
            failed: None,
        };
        sorted.memory_head = sorted.memory.next();
        for i in 0..sorted.readers.len() {
            sorted.refill(i);
        }
        Ok(sorted)
    }
}

/// The merged, ascending output of a [`RunSorter`].
pub struct Sorted<T: Spill> {
    spilled: u64,
    memory: std::vec::IntoIter<T>,
    memory_head: Option<T>,
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
    scratch: Vec<u8>,
    failed: Option<std::io::Error>,
}

impl<T: Spill> Sorted<T> {
    fn refill(&mut self, run: usize) {
        match self.readers[run].read_exact(&mut self.scratch) {
            Ok(()) => self.heap.push(Reverse((T::read_from(&self.scratch), run))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => self.failed = Some(e),
        }
    }

    /// Items that went through disk.
    pub fn spilled(&self) -> u64 {
        self.spilled
    }

    /// A read error met while merging, if any (the iterator stops at it).
    pub fn take_error(&mut self) -> Option<VerifyError> {
        self.failed.take().map(VerifyError::spill)
    }
}

impl<T: Spill> Iterator for Sorted<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.failed.is_some() {
            return None;
        }
        let from_runs = self.heap.peek().map(|Reverse((item, _))| *item);
        match (self.memory_head, from_runs) {
            (Some(m), Some(r)) if m <= r => {
                self.memory_head = self.memory.next();
                Some(m)
            }
            (Some(m), None) => {
                self.memory_head = self.memory.next();
                Some(m)
            }
            (_, Some(_)) => {
                let Reverse((item, run)) = self.heap.pop()?;
                self.refill(run);
                Some(item)
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct N(u64);

    impl Spill for N {
        const SIZE: usize = 8;
        fn write_to(&self, out: &mut [u8]) {
            out.copy_from_slice(&self.0.to_be_bytes());
        }
        fn read_from(bytes: &[u8]) -> Self {
            N(u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8])))
        }
    }

    #[test]
    fn merges_spilled_runs_in_order() {
        let mut sorter = RunSorter::new(7);
        let mut expected = Vec::new();
        for i in 0..1000u64 {
            let v = (i * 7919) % 1009;
            sorter.push(N(v)).unwrap();
            expected.push(v);
        }
        assert!(sorter.runs() > 100);
        expected.sort_unstable();
        let got: Vec<u64> = sorter.finish().unwrap().map(|n| n.0).collect();
        assert_eq!(got, expected);
    }
}
