//! Sorted runs: an external sort with a fixed in-memory budget.
//!
//! Items are buffered up to `capacity`; a full buffer is sorted and spilled to a temp file as a
//! run of fixed-size records. Finishing merges the runs (and the last buffer) k-way.
//!
//! The merge is staged with a fan-in limit, so memory and open files stay bounded whatever the
//! volume: runs carry a level (a spill is level 0); whenever `fan_in` runs of one level exist
//! they are merged into one run of the next level (a tiered merge, like an LSM tree's, each item
//! rewritten once per level: log_fan_in(runs) times), and finishing first merges the smallest
//! runs until at most `fan_in` remain. Memory is `capacity` items plus at most `fan_in` read
//! buffers of 32 KiB and one 64 KiB write buffer; open files are at most
//! `(fan_in - 1) × levels + 1`.

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

/// Runs merged at once, by default: 16 read buffers of 32 KiB.
pub const DEFAULT_FAN_IN: usize = 16;

/// A spilled run: a temp file of sorted items, and its merge level.
struct Run {
    file: File,
    level: u32,
}

/// An external sorter.
pub struct RunSorter<T: Spill> {
    capacity: usize,
    buffer: Vec<T>,
    /// Levels never increase along the vector: the newest, smallest runs are at its end.
    runs: Vec<Run>,
    spilled_items: u64,
    fan_in: usize,
    /// Runs merged into bigger ones so far (for tests and figures).
    merges: u64,
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
            fan_in: DEFAULT_FAN_IN,
            merges: 0,
        }
    }

    /// The most runs merged at once (at least 2).
    pub fn with_fan_in(mut self, fan_in: usize) -> RunSorter<T> {
        self.fan_in = fan_in.max(2);
        self
    }

    /// Merges of runs into bigger runs done so far.
    pub fn staged_merges(&self) -> u64 {
        self.merges
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

    /// Runs on disk now (after staged merges).
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
        self.runs.push(Run { file, level: 0 });
        self.buffer.clear();
        // Tiered merge: `fan_in` runs of one level become one run of the next.
        while self.runs.len() >= self.fan_in {
            let tail = &self.runs[self.runs.len() - self.fan_in..];
            let level = tail[0].level;
            if tail.iter().any(|r| r.level != level) {
                break;
            }
            self.merge_tail(self.fan_in, level + 1)?;
        }
        Ok(())
    }

    /// Merges the last `k` runs into one run of `level`.
    fn merge_tail(&mut self, k: usize, level: u32) -> Result<(), VerifyError> {
        let tail = self.runs.split_off(self.runs.len() - k);
        let mut merged = Sorted::<T>::over(tail.into_iter().map(|r| r.file).collect(), 0);
        let mut file = tempfile::tempfile().map_err(VerifyError::spill)?;
        let per_chunk = (CHUNK / T::SIZE).max(1);
        let mut chunk = vec![0u8; per_chunk * T::SIZE];
        let mut used = 0;
        for item in merged.by_ref() {
            item.write_to(&mut chunk[used..used + T::SIZE]);
            used += T::SIZE;
            if used == chunk.len() {
                file.write_all(&chunk).map_err(VerifyError::spill)?;
                used = 0;
            }
        }
        if let Some(e) = merged.take_error() {
            return Err(e);
        }
        file.write_all(&chunk[..used]).map_err(VerifyError::spill)?;
        std::io::Seek::rewind(&mut file).map_err(VerifyError::spill)?;
        self.runs.push(Run { file, level });
        self.merges += k as u64;
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
            // Final stage: merge the smallest runs until at most `fan_in` are left.
            while self.runs.len() > self.fan_in {
                let k = (self.runs.len() - self.fan_in + 1).min(self.fan_in);
                let level = self.runs[self.runs.len() - k].level + 1;
                self.merge_tail(k, level)?;
            }
        }
        self.buffer.sort_unstable();
        let files = self.runs.into_iter().map(|r| r.file).collect();
        let mut sorted = Sorted::over(files, self.spilled_items);
        sorted.memory = std::mem::take(&mut self.buffer).into_iter();
        sorted.memory_head = sorted.memory.next();
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
    /// A k-way merge of sorted run files (no in-memory part yet).
    fn over(files: Vec<File>, spilled: u64) -> Sorted<T> {
        let readers = files
            .into_iter()
            .map(|file| RunReader {
                file,
                buf: vec![0u8; CHUNK / 2],
                start: 0,
                end: 0,
            })
            .collect();
        let mut sorted = Sorted {
            spilled,
            memory: Vec::new().into_iter(),
            memory_head: None,
            readers,
            heap: BinaryHeap::new(),
            failed: None,
        };
        for i in 0..sorted.readers.len() {
            sorted.refill(i);
        }
        sorted
    }

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
        // 142 spills, merged in stages of 16: never more than 15 per level on disk.
        assert!(sorter.staged_merges() > 100);
        assert!(sorter.runs() < 2 * DEFAULT_FAN_IN, "{}", sorter.runs());
        expected.sort_unstable();
        let got: Vec<u64> = sorter.finish().unwrap().map(|n| n.0).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn staged_merges_keep_open_runs_bounded_and_the_order_exact() {
        for fan_in in [2, 3, 5, 16] {
            let mut sorter = RunSorter::new(4).with_fan_in(fan_in);
            let mut expected = Vec::new();
            let mut most_runs = 0;
            for i in 0..5_000u64 {
                let v = (i * 104_729) % 4_999;
                sorter.push(N(v)).unwrap();
                expected.push(v);
                most_runs = most_runs.max(sorter.runs());
            }
            // 1250 spills; levels: log_fan_in(1250) + 1.
            let levels = (1250f64).log(fan_in as f64).ceil() as usize + 1;
            assert!(
                most_runs <= (fan_in - 1) * levels + 1,
                "fan-in {fan_in}: {most_runs} runs open at once"
            );
            assert!(sorter.staged_merges() > 0);
            expected.sort_unstable();
            let sorted = sorter.finish().unwrap();
            assert!(sorted.readers.len() <= fan_in, "fan-in {fan_in}");
            let got: Vec<u64> = sorted.map(|n| n.0).collect();
            assert_eq!(got, expected, "fan-in {fan_in}");
        }
    }
}
