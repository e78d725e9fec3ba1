//! The sparse, memory-mapped indexes of a segment: `.index` (offset → file position) and
//! `.timeindex` (timestamp → offset), in Kafka's byte layouts.
//!
//! `.index` entry, 8 bytes: relative offset (int32 BE, offset − segment base offset) of the
//! last record of an indexed batch, then that batch's file position (int32 BE).
//! `.timeindex` entry, 12 bytes: the largest timestamp seen so far in the segment (int64 BE),
//! then the relative offset (int32 BE) of the last record of the batch that carried it.
//!
//! An active segment's index file is preallocated to `segment.index.bytes` and trimmed to
//! its used length when the segment is sealed or closed; its entry count is then the file
//! length divided by the entry size. An index that fails [`Index::sanity_check`] is rebuilt
//! from the log by the segment, never trusted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::batch::{get_i32, get_i64};
use crate::error::{LogError, Result};
use crate::io::{Fs, MappedFile};

/// The layout of one kind of index entry.
pub trait EntryKind: Send + Sync + 'static {
    /// Bytes per entry.
    const SIZE: usize;
    /// The value entries are sorted by (relative offset, or timestamp).
    fn key(entry: &[u8]) -> i64;
    /// The relative offset an entry refers to.
    fn relative_offset(entry: &[u8]) -> i32;
}

/// `.index`: (relative offset, position).
#[derive(Debug)]
pub enum OffsetEntry {}
impl EntryKind for OffsetEntry {
    const SIZE: usize = 8;
    fn key(e: &[u8]) -> i64 {
        i64::from(get_i32(e, 0))
    }
    fn relative_offset(e: &[u8]) -> i32 {
        get_i32(e, 0)
    }
}

/// `.timeindex`: (timestamp, relative offset).
#[derive(Debug)]
pub enum TimeEntry {}
impl EntryKind for TimeEntry {
    const SIZE: usize = 12;
    fn key(e: &[u8]) -> i64 {
        get_i64(e, 0)
    }
    fn relative_offset(e: &[u8]) -> i32 {
        get_i32(e, 8)
    }
}

struct State {
    /// None until first used (indexes of sealed segments are mapped lazily), and after
    /// `close`.
    map: Option<Box<dyn MappedFile>>,
    /// Entries in use.
    entries: usize,
    /// Entries the mapped file can hold.
    capacity: usize,
    /// Bytes from the start of the file known to have disk blocks (see [`Fs::allocate`]):
    /// entries are written only below it, so a full disk is an ENOSPC, never a SIGBUS.
    allocated: usize,
    /// The file was found with a partial entry at its end (not a whole number of entries):
    /// a torn or damaged file, which the sanity check reports as corrupt.
    torn: bool,
    /// Entries changed since the map was last flushed.
    dirty: bool,
}

/// One index file. Readers and the single appender share it through a short lock; the
/// appender writes an entry with a memcpy, so readers never wait on I/O.
pub struct Index<K: EntryKind> {
    path: PathBuf,
    fs: Arc<dyn Fs>,
    /// `segment.index.bytes`: the size an active index is preallocated to.
    max_bytes: usize,
    state: RwLock<State>,
    _kind: std::marker::PhantomData<K>,
}

impl<K: EntryKind> fmt::Debug for Index<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.read();
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("entries", &s.entries)
            .field("mapped", &s.map.is_some())
            .finish()
    }
}

pub type OffsetIndex = Index<OffsetEntry>;
pub type TimeIndex = Index<TimeEntry>;

impl<K: EntryKind> Index<K> {
    /// An index handle; the file is not touched until it is first used.
    pub fn new(fs: Arc<dyn Fs>, path: PathBuf, max_bytes: usize) -> Self {
        let max_bytes = (max_bytes / K::SIZE).max(1) * K::SIZE;
        Self {
            path,
            fs,
            max_bytes,
            state: RwLock::new(State {
                map: None,
                entries: 0,
                capacity: 0,
                allocated: 0,
                torn: false,
                dirty: false,
            }),
            _kind: std::marker::PhantomData,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Maps the index for appending: preallocated to `segment.index.bytes`, keeping the
    /// entries of an existing (trimmed) file. `entries` says how many are valid; `None`
    /// takes the file's length, for a file trimmed at a clean close.
    pub fn open_for_append(&self, entries: Option<usize>) -> Result<()> {
        let mut s = self.state.write();
        let was_dirty = s.map.is_some() && s.dirty;
        let existing = match entries {
            Some(n) => {
                s.torn = false;
                n
            }
            None if s.map.is_some() => s.entries,
            None => match self.fs.file_len(&self.path) {
                Ok(len) => {
                    s.torn = len % K::SIZE as u64 != 0;
                    (len as usize) / K::SIZE
                }
                Err(_) => 0,
            },
        };
        s.map = None;
        let map = self
            .fs
            .map(&self.path, self.max_bytes as u64)
            .map_err(|e| LogError::io(&self.path, e))?;
        s.capacity = self.max_bytes / K::SIZE;
        s.entries = existing.min(s.capacity);
        s.allocated = 0;
        s.map = Some(map);
        // Entries written through the map this one replaces may not be on disk yet.
        s.dirty = was_dirty;
        Ok(())
    }

    /// After a crash: maps the index for appending and keeps, of the entries its file
    /// holds, the longest prefix that is well formed (keys strictly increasing, relative
    /// offsets non-negative and non-decreasing) and whose every entry `accept` takes.
    /// Returns how many entries it kept.
    pub fn recover_prefix(&self, mut accept: impl FnMut(&[u8]) -> bool) -> Result<usize> {
        self.open_for_append(Some(0))?;
        let mut s = self.state.write();
        let mut prev: Option<(i64, i32)> = None;
        let n = self.scan_file(0, s.capacity, |e| {
            let (key, rel) = (K::key(e), K::relative_offset(e));
            let follows = prev.is_none_or(|(pk, pr)| key > pk && rel >= pr);
            if rel < 0 || !follows || !accept(e) {
                return false;
            }
            prev = Some((key, rel));
            true
        })?;
        s.entries = n;
        // What it kept may be in the page cache only (the process was killed, the machine
        // did not stop): the next checkpoint writes it out.
        s.dirty = true;
        Ok(n)
    }

    /// Makes sure `n` more entries can be written without allocating disk blocks (the
    /// append path reserves before writing the log, so that a full disk fails the append
    /// before anything is written). ENOSPC is [`LogError::NoSpace`].
    pub fn reserve(&self, n: usize) -> Result<()> {
        {
            // The common case, under the shared lock: the blocks are there already.
            let s = self.state.read();
            if s.map.is_some() && (s.entries + n).min(s.capacity) * K::SIZE <= s.allocated {
                return Ok(());
            }
        }
        let mut s = self.state.write();
        if s.map.is_none() {
            drop(s);
            self.open_for_append(None)?;
            s = self.state.write();
        }
        let want = s.entries + n;
        self.allocate_locked(&mut s, want)
    }

    /// Allocates blocks for the first `entries` entries (within the capacity), a chunk at
    /// a time.
    fn allocate_locked(&self, s: &mut State, entries: usize) -> Result<()> {
        // A page at a time: a block per index costs nothing while idle (10,000 partitions,
        // 80 MiB of blocks), and one `fallocate` per page of entries is one per ~2 MiB of
        // log at the default `index.interval.bytes`.
        const CHUNK: usize = 4096;
        let cap = s.capacity * K::SIZE;
        let need = entries.min(s.capacity) * K::SIZE;
        if need <= s.allocated {
            return Ok(());
        }
        let to = need.max(s.allocated + CHUNK).min(cap);
        let mut result = self.fs.allocate(&self.path, to as u64);
        let mut got = to;
        if result.is_err() && to > need {
            // Short of a chunk: just what is needed (an index rebuilt at start on a full
            // disk needs only the blocks its trimmed file had).
            got = need.next_multiple_of(4096).min(cap);
            result = self.fs.allocate(&self.path, got as u64);
        }
        result.map_err(|e| LogError::io(&self.path, e))?;
        s.allocated = got;
        Ok(())
    }

    /// Maps an existing sealed index read-only-in-spirit at its own length, if not mapped.
    fn ensure_mapped(&self) -> Result<()> {
        if self.state.read().map.is_some() {
            return Ok(());
        }
        let mut s = self.state.write();
        if s.map.is_some() {
            return Ok(());
        }
        let len = match self.fs.file_len(&self.path) {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(LogError::io(&self.path, e)),
        };
        s.torn = len % K::SIZE as u64 != 0;
        let len = len - len % K::SIZE as u64;
        let map = self
            .fs
            .map(&self.path, len)
            .map_err(|e| LogError::io(&self.path, e))?;
        s.entries = len as usize / K::SIZE;
        s.capacity = s.entries;
        s.allocated = len as usize;
        s.map = Some(map);
        Ok(())
    }

    pub fn entries(&self) -> usize {
        self.state.read().entries
    }

    pub fn is_full(&self) -> bool {
        let s = self.state.read();
        s.map.is_some() && s.entries >= s.capacity
    }

    /// The last entry's (key, relative offset), if any.
    pub fn last_entry(&self) -> Result<Option<(i64, i32)>> {
        self.ensure_mapped()?;
        let s = self.state.read();
        Ok(Self::entry_at(&s, s.entries.wrapping_sub(1)))
    }

    fn entry_at(s: &State, i: usize) -> Option<(i64, i32)> {
        if i >= s.entries {
            return None;
        }
        let bytes = s.map.as_ref()?.bytes();
        let e = bytes.get(i * K::SIZE..(i + 1) * K::SIZE)?;
        Some((K::key(e), K::relative_offset(e)))
    }

    /// The entry at `i`, raw: (key, second field). For `.index` the second field is the
    /// position; for `.timeindex` the relative offset.
    fn raw_at(s: &State, i: usize) -> Option<&[u8]> {
        s.map.as_ref()?.bytes().get(i * K::SIZE..(i + 1) * K::SIZE)
    }

    /// Appends an entry. Keys must increase strictly; a key not above the last is skipped.
    /// Returns false when the index is full.
    pub fn append(&self, entry: &[u8]) -> Result<bool> {
        debug_assert_eq!(entry.len(), K::SIZE);
        let mut s = self.state.write();
        if s.map.is_none() {
            drop(s);
            self.open_for_append(None)?;
            s = self.state.write();
        }
        if let Some((last, _)) = Self::entry_at(&s, s.entries.wrapping_sub(1)) {
            if K::key(entry) <= last {
                return Ok(true);
            }
        }
        if s.entries >= s.capacity {
            return Ok(false);
        }
        let want = s.entries + 1;
        self.allocate_locked(&mut s, want)?;
        let at = s.entries * K::SIZE;
        if let Some(map) = s.map.as_mut() {
            map.bytes_mut()[at..at + K::SIZE].copy_from_slice(entry);
        }
        s.entries += 1;
        s.dirty = true;
        Ok(true)
    }

    /// Index of the last entry whose key is <= `target`, by binary search.
    fn floor_index(s: &State, target: i64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, s.entries);
        // Invariant: entries [0, lo) have key <= target; entries [hi, n) have key > target.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match Self::raw_at(s, mid) {
                Some(e) if K::key(e) <= target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1)
    }

    /// The raw bytes of the last entry whose key is <= `target`.
    pub fn floor(&self, target: i64) -> Result<Option<Vec<u8>>> {
        self.ensure_mapped()?;
        let s = self.state.read();
        Ok(Self::floor_index(&s, target).and_then(|i| Self::raw_at(&s, i).map(<[u8]>::to_vec)))
    }

    /// Drops every entry whose relative offset is >= `relative_offset`.
    pub fn truncate_to_relative_offset(&self, relative_offset: i64) -> Result<()> {
        self.ensure_mapped()?;
        let mut s = self.state.write();
        let mut n = s.entries;
        while n > 0 {
            match Self::raw_at(&s, n - 1) {
                Some(e) if i64::from(K::relative_offset(e)) >= relative_offset => n -= 1,
                _ => break,
            }
        }
        self.zero_from(&mut s, n)?;
        s.entries = n;
        s.dirty = true;
        Ok(())
    }

    /// Calls `f` on the file's entries from `from` on, below `limit`, until it returns
    /// false or the file ends; returns the index of the entry it stopped at. Reads through
    /// the file, never the map: past the entries in use the file may have holes, and a
    /// read of a hole through a shared map allocates a page on tmpfs, which on a full one
    /// is a SIGBUS.
    fn scan_file(
        &self,
        from: usize,
        limit: usize,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize> {
        const CHUNK_ENTRIES: usize = 4096;
        let file = match self.fs.open(&self.path, crate::io::OpenMode::Read) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(from),
            Err(e) => return Err(LogError::io(&self.path, e)),
        };
        let len = file.len().map_err(|e| LogError::io(&self.path, e))?;
        let end = ((len / K::SIZE as u64) as usize).min(limit);
        // Most scans stop within the first page (an index holds few entries, the file
        // past them is a hole): no readahead, and a page first, more only as needed. A
        // start after a crash scans two indexes of every log, and readahead over their
        // holes had the page cache allocate and zero hundreds of KiB per log.
        if let Some(fd) = file.raw_fd() {
            // SAFETY: an advisory call on a descriptor `file` holds open; no memory is
            // involved. Its failure changes nothing but speed.
            unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_RANDOM) };
        }
        let mut chunk_entries = (4096 / K::SIZE).max(1);
        let mut buf = vec![0u8; CHUNK_ENTRIES.min(end.saturating_sub(from)) * K::SIZE];
        let mut i = from;
        while i < end {
            let n = (end - i).min(chunk_entries);
            chunk_entries = (chunk_entries * 2).min(CHUNK_ENTRIES);
            let chunk = &mut buf[..n * K::SIZE];
            file.read_exact_at(chunk, (i * K::SIZE) as u64)
                .map_err(|e| LogError::io(&self.path, e))?;
            for e in chunk.chunks_exact(K::SIZE) {
                if !f(e) {
                    return Ok(i);
                }
                i += 1;
            }
        }
        Ok(i)
    }

    /// Zeroes the entries from `from` on, up to the first that is zero already: the file
    /// past the entries in use holds zeros, so that recovery never takes an entry left
    /// there by a truncation or a crash for one of the current log. Only entries that hold
    /// something are written, so no hole is touched.
    fn zero_from(&self, s: &mut State, from: usize) -> Result<()> {
        let Some(map_len) = s.map.as_ref().map(|m| m.bytes().len()) else {
            return Ok(());
        };
        let limit = s.capacity.min(map_len / K::SIZE);
        let from = from.min(limit);
        let end = self.scan_file(from, limit, |e| e.iter().any(|b| *b != 0))?;
        if let Some(map) = s.map.as_mut() {
            map.bytes_mut()[from * K::SIZE..end * K::SIZE].fill(0);
        }
        Ok(())
    }

    /// Zeroes what the file holds past the entries in use (after a recovery rebuilt them).
    pub fn clear_stale_tail(&self) -> Result<()> {
        let mut s = self.state.write();
        let n = s.entries;
        self.zero_from(&mut s, n)?;
        s.dirty = true;
        Ok(())
    }

    /// Removes all entries (before a rebuild).
    pub fn reset(&self) -> Result<()> {
        let mut s = self.state.write();
        self.zero_from(&mut s, 0)?;
        s.entries = 0;
        s.torn = false;
        s.dirty = true;
        if s.map.is_none() {
            drop(s);
            self.open_for_append(Some(0))?;
        }
        Ok(())
    }

    /// Checks the structure: keys strictly increasing, relative offsets non-decreasing and
    /// non-negative. `check` sees each entry's raw bytes for kind-specific rules (positions
    /// within the log). Fails with `CorruptIndex`, never panics.
    pub fn sanity_check(&self, mut check: impl FnMut(&[u8]) -> bool) -> Result<()> {
        self.ensure_mapped()?;
        let s = self.state.read();
        let corrupt = |reason: String| LogError::CorruptIndex {
            path: self.path.clone(),
            reason,
        };
        if s.torn {
            return Err(corrupt("the file ends with a partial entry".into()));
        }
        let mut prev: Option<(i64, i32)> = None;
        for i in 0..s.entries {
            let Some(e) = Self::raw_at(&s, i) else {
                return Err(corrupt(format!("entry {i} beyond the mapped file")));
            };
            let (key, rel) = (K::key(e), K::relative_offset(e));
            if rel < 0 {
                return Err(corrupt(format!("entry {i} has negative offset {rel}")));
            }
            if let Some((pk, pr)) = prev {
                if key <= pk || rel < pr {
                    return Err(corrupt(format!(
                        "entry {i} ({key}, {rel}) does not follow ({pk}, {pr})"
                    )));
                }
            }
            if !check(e) {
                return Err(corrupt(format!("entry {i} points outside the log")));
            }
            prev = Some((key, rel));
        }
        Ok(())
    }

    /// Writes the mapped entries to disk if they changed since the last time (the
    /// recovery-point checkpoint calls it on the index recovery will start from). Every
    /// entry appended before the call is durable after it; one appended meanwhile marks
    /// the index dirty again.
    pub fn flush_if_dirty(&self) -> Result<()> {
        let mut s = self.state.write();
        if !s.dirty || s.map.is_none() {
            return Ok(());
        }
        s.dirty = false;
        Self::sync_map(parking_lot::RwLockWriteGuard::downgrade(s)).map_err(|e| {
            self.state.write().dirty = true;
            LogError::io(&self.path, e)
        })
    }

    /// Makes the mapped entries durable, and releases `s`: before the write where the map
    /// offers a handle to its file (so that the appender, which needs the lock for its
    /// next entry, does not wait for a write that queues behind the log's writeback: 50 to
    /// 165 ms seen, stalling every partition of a Tokio worker; `docs/performance.md`,
    /// tenth round), after it otherwise.
    fn sync_map(s: parking_lot::RwLockReadGuard<'_, State>) -> std::io::Result<()> {
        let Some(map) = s.map.as_ref() else {
            return Ok(());
        };
        match map.sync_handle() {
            Some(file) => {
                drop(s);
                file.sync_data()
            }
            None => map.flush(),
        }
    }

    /// Whether entries changed since the map was last flushed.
    pub fn is_dirty(&self) -> bool {
        self.state.read().dirty
    }

    /// Writes the mapped entries to disk.
    pub fn flush(&self) -> Result<()> {
        Self::sync_map(self.state.read()).map_err(|e| LogError::io(&self.path, e))
    }

    /// Unmaps the index and trims the file to its used length (durably if `sync`).
    /// The next use maps it again at that length.
    pub fn trim_and_close(&self, sync: bool) -> Result<()> {
        let mut s = self.state.write();
        let Some(map) = s.map.take() else {
            return Ok(());
        };
        map.flush().map_err(|e| LogError::io(&self.path, e))?;
        drop(map);
        let len = (s.entries * K::SIZE) as u64;
        let f = self
            .fs
            .open(&self.path, crate::io::OpenMode::ReadWriteCreate)
            .map_err(|e| LogError::io(&self.path, e))?;
        f.set_len(len).map_err(|e| LogError::io(&self.path, e))?;
        if sync {
            f.sync_data().map_err(|e| LogError::io(&self.path, e))?;
        }
        s.capacity = s.entries;
        Ok(())
    }

    /// Unmaps without trimming (a sealed index that is not in use).
    pub fn unmap(&self) {
        self.state.write().map = None;
    }
}

impl OffsetIndex {
    /// Appends (last offset of a batch − base offset, batch position).
    pub fn append_offset(&self, relative_offset: i32, position: u32) -> Result<bool> {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&relative_offset.to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.append(&e)
    }

    /// The position of the last indexed batch whose last relative offset is <= `target`,
    /// or 0: the place to start scanning for the batch that holds `target`.
    pub fn lookup(&self, relative_target: i64) -> Result<(i32, u32)> {
        Ok(match self.floor(relative_target)? {
            Some(e) => (get_i32(&e, 0), get_i32(&e, 4) as u32),
            None => (-1, 0),
        })
    }

    /// Strict check for an offset index: positions increasing and within `log_size`.
    pub fn check(&self, log_size: u64) -> Result<()> {
        let mut last_pos: i64 = -1;
        self.sanity_check(|e| {
            let pos = i64::from(get_i32(e, 4));
            let ok = pos > last_pos && (pos as u64) < log_size.max(1);
            last_pos = pos;
            ok
        })
    }
}

impl TimeIndex {
    /// Appends (timestamp, relative offset) when `timestamp` is above the last entry's.
    pub fn append_time(&self, timestamp: i64, relative_offset: i32) -> Result<bool> {
        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.append(&e)
    }

    /// The relative offset of the last entry whose timestamp is < `timestamp`: batches
    /// before it cannot hold a timestamp >= `timestamp`... (entries record the max so far,
    /// so every batch up to that entry's offset has all timestamps below the target).
    pub fn lookup_before(&self, timestamp: i64) -> Result<Option<i32>> {
        Ok(self
            .floor(timestamp.saturating_sub(1))?
            .map(|e| get_i32(&e, 8)))
    }

    /// Check for a time index: relative offsets at most `max_relative_offset`.
    pub fn check(&self, max_relative_offset: i64) -> Result<()> {
        self.sanity_check(|e| i64::from(get_i32(e, 8)) <= max_relative_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RealFs;

    #[test]
    fn offset_index_lookup_truncate_trim_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let path = dir.path().join("00000000000000000000.index");
        let idx = OffsetIndex::new(fs.clone(), path.clone(), 1024);
        idx.open_for_append(Some(0)).unwrap();
        for i in 0..10 {
            assert!(idx.append_offset(i * 10 + 9, (i * 100) as u32).unwrap());
        }
        assert_eq!(idx.lookup(5).unwrap(), (-1, 0));
        assert_eq!(idx.lookup(9).unwrap(), (9, 0));
        assert_eq!(idx.lookup(55).unwrap(), (49, 400));
        assert_eq!(idx.lookup(1_000).unwrap(), (99, 900));
        // a key that does not increase is ignored
        idx.append_offset(50, 5000).unwrap();
        assert_eq!(idx.entries(), 10);
        idx.truncate_to_relative_offset(50).unwrap();
        assert_eq!(idx.entries(), 5);
        idx.check(1000).unwrap();
        idx.trim_and_close(true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);

        let again = OffsetIndex::new(fs, path, 1024);
        assert_eq!(again.lookup(100).unwrap(), (49, 400));
        assert!(
            again.check(300).is_err(),
            "position 400 is past a 300-byte log"
        );
    }

    #[test]
    fn index_fills_up_and_garbage_fails_the_sanity_check() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let path = dir.path().join("x.index");
        let idx = OffsetIndex::new(fs.clone(), path.clone(), 16);
        idx.open_for_append(Some(0)).unwrap();
        assert!(idx.append_offset(1, 0).unwrap());
        assert!(idx.append_offset(2, 10).unwrap());
        assert!(!idx.append_offset(3, 20).unwrap());
        assert!(idx.is_full());
        idx.trim_and_close(false).unwrap();
        std::fs::write(&path, [0u8, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 9]).unwrap();
        let garbage = OffsetIndex::new(fs, path, 16);
        assert!(matches!(
            garbage.check(100),
            Err(LogError::CorruptIndex { .. })
        ));
    }

    #[test]
    fn time_index_finds_the_last_entry_below_a_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let idx = TimeIndex::new(fs, dir.path().join("t.timeindex"), 1200);
        idx.open_for_append(Some(0)).unwrap();
        idx.append_time(100, 0).unwrap();
        idx.append_time(200, 10).unwrap();
        idx.append_time(150, 20).unwrap(); // not increasing: skipped
        idx.append_time(300, 30).unwrap();
        assert_eq!(idx.lookup_before(100).unwrap(), None);
        assert_eq!(idx.lookup_before(101).unwrap(), Some(0));
        assert_eq!(idx.lookup_before(250).unwrap(), Some(10));
        assert_eq!(idx.last_entry().unwrap(), Some((300, 30)));
        idx.check(30).unwrap();
        assert!(idx.check(29).is_err());
    }
}
