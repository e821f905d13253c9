//! Sorted runs: an external sort with a fixed in-memory budget.
//!
//! Items are buffered up to `capacity`; a full buffer is sorted and spilled to a temp file as a
//! run of fixed-size records. Finishing merges the runs (and the last buffer) k-way, so memory
//! stays at `capacity` items plus one read buffer per run, whatever the volume.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Write};

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
        let mut file = tempfile::tempfile().map_err(VerifyError::spill)?;
        // Items are encoded into a chunk (fixed-size copies) written in one call.
        let per_chunk = (CHUNK / T::SIZE).max(1);
        let mut chunk = vec![0u8; per_chunk * T::SIZE];
        for items in self.buffer.chunks(per_chunk) {
            for (item, out) in items.iter().zip(chunk.chunks_exact_mut(T::SIZE)) {
                item.write_to(out);
            }
            file.write_all(&chunk[..items.len() * T::SIZE])
                .map_err(VerifyError::spill)?;
        }
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
            readers.push(RunReader {
                file,
                buf: vec![0u8; CHUNK / 2],
                start: 0,
                end: 0,
            });
        }
        let mut sorted = Sorted {
            spilled: self.spilled_items,
            memory: self.buffer.into_iter(),
            memory_head: None,
            readers,
            heap: BinaryHeap::new(),
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
    readers: Vec<RunReader>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
    failed: Option<std::io::Error>,
}

/// Bytes written per call when spilling; half of it is each run's read buffer when merging.
const CHUNK: usize = 1 << 16;

/// Reads a run back in large chunks.
struct RunReader {
    file: File,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RunReader {
    /// The next `size` bytes of the run, or None at its end.
    fn next(&mut self, size: usize) -> std::io::Result<Option<&[u8]>> {
        if self.end - self.start < size {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < self.buf.len() {
                let n = self.file.read(&mut self.buf[self.end..])?;
                if n == 0 {
                    break;
                }
                self.end += n;
            }
            if self.end < size {
                if self.end > 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "a spilled run ends in the middle of an item",
                    ));
                }
                return Ok(None);
            }
        }
        let item = &self.buf[self.start..self.start + size];
        self.start += size;
        Ok(Some(item))
    }
}

impl<T: Spill> Sorted<T> {
    fn refill(&mut self, run: usize) {
        match self.readers[run].next(T::SIZE) {
            Ok(Some(bytes)) => {
                let item = T::read_from(bytes);
                self.heap.push(Reverse((item, run)));
            }
            Ok(None) => {}
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
