//! A segment: one `.log` file of record batches starting at `base_offset`, with its
//! `.index` and `.timeindex`, and the `.txnindex` of the transactions aborted in it.
//!
//! The appender (serialized by the log) writes bytes past `size`, then updates the indexes,
//! then publishes the new `size`; readers only read below the `size` they loaded, so they
//! never wait for appends and never see half-written batches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::warn;

use crate::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::error::{LogError, Result};
use crate::files::{self, FileKind};
use crate::index::{OffsetIndex, TimeIndex};
use crate::io::{Fs, FsFile, OpenMode};
use crate::txn_index::TxnIndex;

/// Recovery walks the headers of the batches below the recovery point (it does not read
/// their records) by reading each header on its own, except after a batch smaller than
/// this, where it reads on sequentially: on a cold page cache a header read costs a random
/// read (about 50 us on the development machine's disk, the time to read about 32 KiB in
/// sequence at its 640 MB/s).
const WALK_READ_WHOLE_BELOW: u64 = 32 * 1024;

/// A read jumps over batches by the offset index (rather than reading each header) when
/// its budget has room for at least this many more batches the size of its first.
const INDEX_SKIP_MIN_BATCHES: u64 = 4;

/// A write-behind stays this far short of the segment's end, so that it never takes the
/// page-cache folio an append is writing into.
const WRITE_BEHIND_LAG_BYTES: u64 = 64 << 10;

/// A range of a log file: what a read returns, so that the server can send it with
/// `sendfile` (or read it) without copying through a codec.
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Arc<dyn FsFile>,
    pub position: u64,
    pub len: u64,
}

impl FileSlice {
    /// Appends the slice's bytes to `out`.
    pub fn read_into(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let start = out.len();
        out.resize(start + self.len as usize, 0);
        self.file.read_exact_at(&mut out[start..], self.position)
    }
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len as usize);
        self.read_into(&mut v)?;
        Ok(v)
    }
}

/// The header at the start of `bytes` (at least [`HEADER_LEN`] of them), if its length
/// covers a header and the batch at `pos` ends within `limit` bytes of the file.
fn plausible_header(bytes: &[u8], pos: u64, limit: u64) -> Result<Option<BatchHeader>> {
    let h = BatchHeader::parse(bytes)?;
    if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 || pos + h.total_len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(h))
}

/// Where recovery's walk of a segment starts, and the segment's state there.
#[derive(Debug, Clone, Copy)]
struct WalkStart {
    pos: u64,
    next: i64,
    bytes_since_index: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    rolling_timestamp: i64,
}

impl Default for WalkStart {
    /// The segment's first byte.
    fn default() -> Self {
        Self {
            pos: 0,
            next: i64::MIN,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: -1,
        }
    }
}

/// What the appender knows of each batch it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    /// Position of the batch in the buffer handed to [`Segment::append`].
    pub position: usize,
    pub len: usize,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// What a recovery scan of a segment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// Valid bytes kept.
    pub valid_bytes: u64,
    /// Bytes of kept batches below the recovery point: only their headers were read, or
    /// not even those (`skipped_bytes`).
    pub trusted_bytes: u64,
    /// Bytes at the start of the segment that the offset index let recovery skip.
    pub skipped_bytes: u64,
    /// Bytes cut from the end (torn write, corruption, garbage).
    pub truncated_bytes: u64,
    /// Batches kept whose headers recovery read (those the offset index let it skip are
    /// not counted).
    pub batches: u64,
    /// Control batches (transaction markers) among them: a segment without any has no
    /// aborted transactions to index.
    pub control_batches: u64,
    /// The offset below which recovery read no header (`skipped_bytes` > 0): the
    /// aborted-transaction entries of markers below it were durable with them, and only
    /// those from there on need the log.
    pub skipped_below: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    fs: Arc<dyn Fs>,
    log_path: PathBuf,
    /// Opened on first use: a broker with many partitions does not hold a descriptor for
    /// every segment.
    file: Mutex<Option<Arc<dyn FsFile>>>,
    /// Bytes of whole batches in the file, published after they are written.
    size: AtomicU64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// The transactions whose ABORT marker is here (entries in memory, see `txn_index`).
    pub txn_index: TxnIndex,
    /// One past the last offset stored here (`base_offset` when empty). -1 until known
    /// (a sealed segment that was never scanned).
    next_offset: AtomicI64,
    /// Largest batch max timestamp here, and the last offset of the batch that had it.
    max_timestamp: AtomicI64,
    offset_of_max_timestamp: AtomicI64,
    /// The first batch's max timestamp: `segment.ms` counts from it. -1 when empty.
    rolling_timestamp: AtomicI64,
    /// Bytes appended since the last offset index entry.
    bytes_since_index: AtomicU64,
    /// A sealed segment whose log and indexes have been made durable.
    synced: AtomicBool,
    /// Where the last write-behind of the log file ended (lowered by a truncation).
    written_behind: AtomicU64,
    /// No longer appended to; its indexes are trimmed.
    sealed: AtomicBool,
    /// The indexes passed a sanity check (or were rebuilt) since the segment was opened.
    checked: AtomicBool,
    /// The files were removed (retention, truncation, a compaction swap): a reader still
    /// holding this segment gets NotFound (and looks again) rather than re-creating them.
    deleted: AtomicBool,
}

impl Segment {
    /// Reads the fixed header of the batch at `pos`, if a plausible one is there within
    /// `limit` bytes of the file.
    fn header_at(&self, file: &dyn FsFile, pos: u64, limit: u64) -> Result<Option<BatchHeader>> {
        if pos + HEADER_LEN as u64 > limit {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        file.read_exact_at(&mut buf, pos)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        plausible_header(&buf, pos, limit)
    }

    fn new(fs: Arc<dyn Fs>, dir: &Path, base_offset: i64, index_bytes: usize) -> Self {
        let log_path = files::segment_path(dir, base_offset, FileKind::Log);
        let offset_index = OffsetIndex::new(
            fs.clone(),
            files::segment_path(dir, base_offset, FileKind::Index),
            index_bytes,
        );
        let time_index = TimeIndex::new(
            fs.clone(),
            files::segment_path(dir, base_offset, FileKind::TimeIndex),
            index_bytes,
        );
        let txn_index = TxnIndex::new(
            fs.clone(),
            files::segment_path(dir, base_offset, FileKind::TxnIndex),
            base_offset,
        );
        Self {
            base_offset,
            fs,
            log_path,
            file: Mutex::new(None),
            size: AtomicU64::new(0),
            offset_index,
            time_index,
            txn_index,
            next_offset: AtomicI64::new(-1),
            max_timestamp: AtomicI64::new(-1),
            offset_of_max_timestamp: AtomicI64::new(-1),
            rolling_timestamp: AtomicI64::new(-1),
            bytes_since_index: AtomicU64::new(0),
            synced: AtomicBool::new(false),
            written_behind: AtomicU64::new(0),
            sealed: AtomicBool::new(true),
            checked: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
        }
    }

    /// Creates a new, empty active segment. The caller syncs the directory.
    pub fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        base_offset: i64,
        index_bytes: usize,
    ) -> Result<Self> {
        let seg = Self::new(fs, dir, base_offset, index_bytes);
        let opened = (|| {
            let f = seg
                .fs
                .open(&seg.log_path, OpenMode::ReadWriteCreate)
                .map_err(|e| LogError::io(&seg.log_path, e))?;
            f.set_len(0).map_err(|e| LogError::io(&seg.log_path, e))?;
            *seg.file.lock() = Some(f);
            seg.offset_index.open_for_append(Some(0))?;
            seg.time_index.open_for_append(Some(0))
        })();
        if let Err(e) = opened {
            // A full disk: leave no half-created segment behind (best effort; recovery
            // removes what is left).
            let _ = seg.delete_files("");
            return Err(e);
        }
        seg.next_offset.store(base_offset, Ordering::Release);
        seg.sealed.store(false, Ordering::Release);
        seg.checked.store(true, Ordering::Release);
        Ok(seg)
    }

    /// A handle on an existing segment; nothing is opened or read yet.
    pub fn existing(
        fs: Arc<dyn Fs>,
        dir: &Path,
        base_offset: i64,
        index_bytes: usize,
    ) -> Result<Self> {
        let seg = Self::new(fs, dir, base_offset, index_bytes);
        let len = seg
            .fs
            .file_len(&seg.log_path)
            .map_err(|e| LogError::io(&seg.log_path, e))?;
        seg.size.store(len, Ordering::Release);
        Ok(seg)
    }

    pub fn file(&self) -> Result<Arc<dyn FsFile>> {
        let mut f = self.file.lock();
        if let Some(f) = f.as_ref() {
            return Ok(f.clone());
        }
        if self.deleted.load(Ordering::Acquire) {
            let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(LogError::io(&self.log_path, gone));
        }
        let opened = self
            .fs
            .open(&self.log_path, OpenMode::ReadWriteCreate)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        *f = Some(opened.clone());
        Ok(opened)
    }

    /// Drops the open descriptor, if any; the next use reopens the file. Only for a
    /// segment whose writes are all synced (a sync goes through the open descriptor).
    pub fn release_file(&self) {
        *self.file.lock() = None;
    }

    /// Drops the open descriptor and index maps (a sealed segment not in use).
    pub fn release(&self) {
        *self.file.lock() = None;
        self.offset_index.unmap();
        self.time_index.unmap();
    }

    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }
    pub fn next_offset_hint(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }
    /// The largest timestamp here, loading it from the time index (or a header scan) the
    /// first time for a segment that was not scanned at open. -1 when empty.
    pub fn max_timestamp_known(&self) -> Result<i64> {
        let ts = self.max_timestamp();
        if ts >= 0 || self.is_empty() {
            return Ok(ts);
        }
        let (mut max, mut at) = (-1i64, -1i64);
        if let Some((t, rel)) = self.time_index.last_entry()? {
            max = t;
            at = self.base_offset + i64::from(rel);
        } else {
            self.for_each_header(0, |_, h| {
                if h.max_timestamp > max {
                    max = h.max_timestamp;
                    at = h.last_offset();
                }
                true
            })?;
        }
        self.max_timestamp.fetch_max(max, Ordering::AcqRel);
        if self.offset_of_max_timestamp() < 0 {
            self.offset_of_max_timestamp.store(at, Ordering::Release);
        }
        Ok(self.max_timestamp())
    }

    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp.load(Ordering::Acquire)
    }
    pub fn rolling_timestamp(&self) -> i64 {
        self.rolling_timestamp.load(Ordering::Acquire)
    }
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release)
    }

    /// Would appending `bytes` with offsets up to `last_offset` overflow this segment?
    pub fn would_overflow(&self, bytes: u64, last_offset: i64, segment_bytes: u64) -> bool {
        let size = self.size();
        (size > 0 && size + bytes > segment_bytes)
            || size + bytes > u32::MAX as u64
            || last_offset - self.base_offset > i64::from(i32::MAX)
            || self.offset_index.is_full()
            || self.time_index.is_full()
    }

    /// Appends whole, validated, offset-stamped batches (laid end to end in `parts`) and
    /// indexes them. Only the log's appender calls this.
    ///
    /// A full disk fails it with [`LogError::NoSpace`] and nothing changed: the index
    /// blocks its entries need (and one more, for the entry sealing adds) are allocated
    /// before the log is written, and a failed write is cut off again.
    ///
    /// The bytes are the concatenation of `parts` (batch positions in `metas` count from
    /// the start of the first part), written with one gathering write.
    pub fn append(&self, parts: &[&[u8]], metas: &[BatchMeta], index_interval: u64) -> Result<()> {
        let file = self.file()?;
        let start = self.size();
        let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        self.offset_index.reserve(metas.len() + 1)?;
        self.time_index.reserve(metas.len() + 1)?;
        if let Err(e) = file.write_all_vectored_at(parts, start) {
            let e = LogError::io(&self.log_path, e);
            // Part of the bytes may be written: cut them, or the file holds bytes past the
            // segment's size that a later append would have to overwrite.
            if let Err(cut) = file.set_len(start) {
                return Err(LogError::Io {
                    path: self.log_path.clone(),
                    source: cut,
                });
            }
            return Err(e);
        }
        for m in metas {
            self.index_batch(
                start + m.position as u64,
                m.len as u64,
                m.last_offset,
                m.max_timestamp,
                index_interval,
            )?;
        }
        if let Some(last) = metas.last() {
            self.next_offset
                .store(last.last_offset + 1, Ordering::Release);
        }
        self.size.store(start + len, Ordering::Release);
        self.synced.store(false, Ordering::Release);
        Ok(())
    }

    /// Index bookkeeping for one batch at `position`.
    fn index_batch(
        &self,
        position: u64,
        len: u64,
        last_offset: i64,
        max_timestamp: i64,
        interval: u64,
    ) -> Result<()> {
        if self.rolling_timestamp.load(Ordering::Relaxed) < 0 {
            self.rolling_timestamp
                .store(max_timestamp.max(0), Ordering::Release);
        }
        if max_timestamp > self.max_timestamp.load(Ordering::Relaxed) {
            self.max_timestamp.store(max_timestamp, Ordering::Release);
            self.offset_of_max_timestamp
                .store(last_offset, Ordering::Release);
        }
        let since = self.bytes_since_index.load(Ordering::Relaxed);
        if since >= interval && self.offset_of_max_timestamp() >= self.base_offset {
            let rel = (last_offset - self.base_offset) as i32;
            self.offset_index.append_offset(rel, position as u32)?;
            let ts_rel = (self.offset_of_max_timestamp() - self.base_offset) as i32;
            self.time_index.append_time(self.max_timestamp(), ts_rel)?;
            self.bytes_since_index.store(len, Ordering::Relaxed);
        } else {
            self.bytes_since_index.store(since + len, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Finds the first batch whose last offset is >= `offset`, scanning from the index
    /// hint, below `limit` bytes. Returns its position and header.
    pub fn find_batch(&self, offset: i64, limit: u64) -> Result<Option<(u64, BatchHeader)>> {
        self.ensure_checked()?;
        let file = self.file()?;
        let (rel, pos) = self.offset_index.lookup(offset - self.base_offset)?;
        let mut pos = u64::from(pos);
        // The header at `pos` when it is already read: the scan starts with it.
        let mut known = None;
        if rel >= 0 {
            // Every lookup checks the entry it starts from: an index that points anywhere
            // but at the batch it names is corrupt, and the log rebuilds it.
            match self.header_at(file.as_ref(), pos, limit)? {
                Some(h)
                    if h.magic == batch::MAGIC_V2
                        && h.last_offset() == self.base_offset + i64::from(rel) =>
                {
                    known = Some(h)
                }
                _ => {
                    return Err(LogError::CorruptIndex {
                        path: self.offset_index.path().to_path_buf(),
                        reason: format!("entry ({rel}, {pos}) does not match the log"),
                    })
                }
            }
        }
        while let Some(h) = known.take().map_or_else(
            || self.header_at(file.as_ref(), pos, limit),
            |h| Ok(Some(h)),
        )? {
            if h.magic != batch::MAGIC_V2 {
                return Err(LogError::CorruptIndex {
                    path: self.log_path.clone(),
                    reason: format!("no batch at position {pos}"),
                });
            }
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Reads whole batches starting with the one holding `offset`: at most `max_bytes`
    /// (but at least one batch when `min_one` is set), and only batches whose base offset
    /// is below `max_offset`. Returns None when this segment has nothing at or past
    /// `offset` below the bounds.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
    ) -> Result<Option<FileSlice>> {
        let limit = self.size();
        let Some((start, first)) = self.find_batch(offset, limit)? else {
            return Ok(None);
        };
        if first.base_offset >= max_offset {
            return Ok(None);
        }
        let file = self.file()?;
        let mut end = start + first.total_len() as u64;
        if end - start > max_bytes && !min_one {
            return Ok(None);
        }
        // A large read jumps over whole batches by the offset index instead of reading
        // every header (a pread each: 64 per MiB of 16 KiB batches); short reads only walk.
        if max_bytes.saturating_sub(end - start) / INDEX_SKIP_MIN_BATCHES >= end - start {
            // The header of the batch jumped to must lie below `limit`, to be checked.
            let budget = start
                .saturating_add(max_bytes)
                .min(limit.saturating_sub(HEADER_LEN as u64));
            end = self.skip_indexed(file.as_ref(), end, first.last_offset(), budget, max_offset)?;
        }
        // No batch is shorter than its header: once not even a header fits in `max_bytes`,
        // reading the next one cannot add anything.
        while end - start + HEADER_LEN as u64 <= max_bytes {
            let Some(h) = self.header_at(file.as_ref(), end, limit)? else {
                break;
            };
            if h.base_offset >= max_offset || end - start + h.total_len() as u64 > max_bytes {
                break;
            }
            end += h.total_len() as u64;
        }
        Ok(Some(FileSlice {
            file,
            position: start,
            len: end - start,
        }))
    }

    /// Where the header walk of a read can resume, having read whole batches up to
    /// position `end` and offset `last_offset`: the furthest batch the offset index names
    /// that starts at or before position `budget` and whose last offset (so that of every
    /// batch before it) is below `max_offset`. The batches before it are whole and within
    /// the bounds, so the read takes them without reading their headers. `end` when the
    /// index names nothing further. The entry jumped to is checked against the log, as
    /// `find_batch` checks its own.
    fn skip_indexed(
        &self,
        file: &dyn FsFile,
        end: u64,
        last_offset: i64,
        budget: u64,
        max_offset: i64,
    ) -> Result<u64> {
        // Relative offsets: `lo` names an entry at or before the batch read last (so within
        // the budget), `hi` the last offset a taken batch may have.
        let mut lo = last_offset - self.base_offset;
        let mut hi = max_offset
            .saturating_sub(1)
            .saturating_sub(self.base_offset)
            .min(i64::from(i32::MAX));
        if budget <= end || hi <= lo {
            return Ok(end);
        }
        // Entry positions grow with their offsets: binary search for the last entry within
        // the budget. Invariant: lookup(lo) is within it; no r > hi qualifies.
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            let (_, pos) = self.offset_index.lookup(mid)?;
            if u64::from(pos) <= budget {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let (rel, pos) = self.offset_index.lookup(lo)?;
        let pos = u64::from(pos);
        if rel < 0 || pos <= end {
            return Ok(end);
        }
        let mut buf = [0u8; HEADER_LEN];
        file.read_exact_at(&mut buf, pos)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        let h = BatchHeader::parse(&buf)?;
        if h.magic != batch::MAGIC_V2 || h.last_offset() != self.base_offset + i64::from(rel) {
            return Err(LogError::CorruptIndex {
                path: self.offset_index.path().to_path_buf(),
                reason: format!("entry ({rel}, {pos}) does not match the log"),
            });
        }
        Ok(pos)
    }

    /// Iterates over the headers of the batches in this segment from `start`: for
    /// bookkeeping scans (tail state, timestamps), not for validation.
    pub fn for_each_header(
        &self,
        start: u64,
        mut f: impl FnMut(u64, &BatchHeader) -> bool,
    ) -> Result<u64> {
        let file = self.file()?;
        let limit = self.size();
        let mut pos = start;
        while let Some(h) = self.header_at(file.as_ref(), pos, limit)? {
            if !f(pos, &h) {
                break;
            }
            pos += h.total_len() as u64;
        }
        Ok(pos)
    }

    /// [`Self::for_each_header`] for a long walk that may meet a cold page cache (the
    /// producer-state replay after a crash): after a batch smaller than
    /// `WALK_READ_WHOLE_BELOW`, the next headers come from one sequential read of up to
    /// 1 MiB, as in recovery's walk, rather than a random read each.
    pub fn for_each_header_sequential(
        &self,
        start: u64,
        mut f: impl FnMut(u64, &BatchHeader) -> bool,
    ) -> Result<u64> {
        const CHUNK: usize = 1 << 20;
        let file = self.file()?;
        let limit = self.size();
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_pos = start;
        let mut pos = start;
        while let Some(h) = self.header_via(&*file, &buf, buf_pos, pos, limit)? {
            if !f(pos, &h) {
                break;
            }
            let total = h.total_len() as u64;
            pos += total;
            self.read_ahead_after(&*file, &mut buf, &mut buf_pos, pos, total, CHUNK, limit)?;
        }
        Ok(pos)
    }

    /// The header at `pos`: from `buf` (the file's bytes from `buf_pos`) when it holds it,
    /// else read on its own.
    fn header_via(
        &self,
        file: &dyn FsFile,
        buf: &[u8],
        buf_pos: u64,
        pos: u64,
        limit: u64,
    ) -> Result<Option<BatchHeader>> {
        if pos >= buf_pos && pos + HEADER_LEN as u64 <= buf_pos + buf.len() as u64 {
            plausible_header(&buf[(pos - buf_pos) as usize..], pos, limit)
        } else {
            self.header_at(file, pos, limit)
        }
    }

    /// After a batch of `total` bytes ending at `pos`: past a small one, the next headers
    /// come from one sequential read of `chunk` bytes into `buf`, since on a cold page
    /// cache a read per header costs a random read each.
    #[allow(clippy::too_many_arguments)]
    fn read_ahead_after(
        &self,
        file: &dyn FsFile,
        buf: &mut Vec<u8>,
        buf_pos: &mut u64,
        pos: u64,
        total: u64,
        chunk: usize,
        limit: u64,
    ) -> Result<()> {
        if total < WALK_READ_WHOLE_BELOW
            && pos + HEADER_LEN as u64 > *buf_pos + buf.len() as u64
            && pos + HEADER_LEN as u64 <= limit
        {
            self.refill(file, buf, buf_pos, pos, chunk, limit)?;
        }
        Ok(())
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// On first use, checks the indexes against the log; corrupt ones fail with
    /// `CorruptIndex`, which the log answers by rebuilding them.
    pub fn ensure_checked(&self) -> Result<()> {
        if self.checked.load(Ordering::Acquire) {
            return Ok(());
        }
        self.sanity_check()?;
        self.checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Rebuilds both indexes by a full recovery scan (which also cuts invalid bytes), and
    /// trims them again if the segment is sealed.
    pub fn rebuild_indexes(&self, index_interval: u64, min_offset: i64) -> Result<RecoveryOutcome> {
        let outcome = self.recover(index_interval, min_offset, i64::MIN)?;
        if self.is_sealed() {
            self.seal(true)?;
        }
        self.checked.store(true, Ordering::Release);
        Ok(outcome)
    }

    /// Loads the state an appender needs from a segment closed cleanly: the next offset
    /// (scanning only past the last index entry), the max timestamp (from the last time
    /// index entry), and maps the indexes for appending.
    pub fn load_for_append(&self) -> Result<()> {
        self.offset_index.open_for_append(None)?;
        self.time_index.open_for_append(None)?;
        let (rel, pos) = self.offset_index.lookup(i64::from(i32::MAX))?;
        let mut next = if rel >= 0 {
            self.base_offset + i64::from(rel) + 1
        } else {
            self.base_offset
        };
        let mut first_ts = -1;
        let mut since_index = 0u64;
        let (mut tail_max, mut tail_max_at) = (-1i64, -1i64);
        let end = self.for_each_header(u64::from(pos), |_, h| {
            next = next.max(h.last_offset() + 1);
            if h.max_timestamp > tail_max {
                tail_max = h.max_timestamp;
                tail_max_at = h.last_offset();
            }
            if first_ts < 0 {
                first_ts = h.max_timestamp;
            }
            since_index += h.total_len() as u64;
            true
        })?;
        if end != self.size() {
            return Err(LogError::CorruptIndex {
                path: self.log_path.clone(),
                reason: format!("batches end at {end} but the file holds {}", self.size()),
            });
        }
        let (mut max, mut max_at) = (-1i64, -1i64);
        if let Some((ts, rel)) = self.time_index.last_entry()? {
            (max, max_at) = (ts, self.base_offset + i64::from(rel));
        }
        if tail_max > max {
            (max, max_at) = (tail_max, tail_max_at);
        }
        self.max_timestamp.store(max, Ordering::Release);
        self.offset_of_max_timestamp
            .store(max_at, Ordering::Release);
        if self.size() > 0 {
            let mut first = -1;
            self.for_each_header(0, |_, h| {
                first = h.max_timestamp;
                false
            })?;
            self.rolling_timestamp
                .store(first.max(0), Ordering::Release);
        }
        self.next_offset.store(next, Ordering::Release);
        self.bytes_since_index.store(since_index, Ordering::Relaxed);
        self.sealed.store(false, Ordering::Release);
        self.sanity_check()?;
        self.checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Validates every batch from the start, rebuilds both indexes, and truncates the file
    /// at the first invalid byte. `min_offset` is the lowest offset a batch may start at
    /// (the previous segment's end). Never trusts a length before checking it against the
    /// file.
    ///
    /// Batches wholly below `durable_below` (the recovery point: they were made durable
    /// before the crash) are walked by their headers alone, with every check but the CRC,
    /// which needs the records: only what lies past the recovery point is read whole. A
    /// header that fails a check ends the walk, and the full validation takes over there.
    ///
    /// The walk starts past the batches the offset index covers below `durable_below`
    /// when its last entry there names a batch the log holds (see [`Self::index_start`]),
    /// and the indexes kept must then pass the sanity check at the end; otherwise the walk
    /// starts at the segment's first byte.
    pub fn recover(
        &self,
        index_interval: u64,
        min_offset: i64,
        durable_below: i64,
    ) -> Result<RecoveryOutcome> {
        if durable_below > self.base_offset {
            match self.index_start(durable_below, min_offset) {
                Ok(Some(start)) => {
                    let outcome =
                        self.recover_from(index_interval, min_offset, durable_below, start)?;
                    match self.sanity_check() {
                        Ok(()) => return Ok(outcome),
                        Err(e) => warn!(segment = %self.log_path.display(), error = %e,
                            "the indexes kept below the recovery point do not match the log: walking the whole segment"),
                    }
                }
                Ok(None) => {}
                Err(e) => warn!(segment = %self.log_path.display(), error = %e,
                    "reading the indexes below the recovery point failed: walking the whole segment"),
            }
        }
        self.recover_from(
            index_interval,
            min_offset,
            durable_below,
            WalkStart::default(),
        )
    }

    /// Where recovery's walk may start in a segment holding `durable_below` (the recovery
    /// point): just past the last batch its offset index names below it. The recovery-point
    /// checkpoint made the offset and time index entries below the recovery point it
    /// recorded durable before recording it (`Log::sync_indexes_below`). The file may hold
    /// more (entries written back by the kernel, zeros, entries left past a truncation):
    /// only the well-formed prefix below the recovery point is kept, its last entry must
    /// name a batch that ends exactly there, and the time index keeps its entries up to
    /// that batch. `None`: start at the first byte.
    fn index_start(&self, durable_below: i64, min_offset: i64) -> Result<Option<WalkStart>> {
        let file = self.file()?;
        let file_len = file.len().map_err(|e| LogError::io(&self.log_path, e))?;
        let base = self.base_offset;
        let mut last_pos = -1i64;
        let kept = self.offset_index.recover_prefix(|e| {
            let (rel, pos) = (batch::get_i32(e, 0), i64::from(batch::get_u32(e, 4)));
            let ok =
                base + i64::from(rel) < durable_below && pos > last_pos && (pos as u64) < file_len;
            last_pos = pos;
            ok
        })?;
        if kept == 0 {
            return Ok(None);
        }
        let (rel, pos) = self.offset_index.lookup(i64::from(i32::MAX))?;
        let pos = u64::from(pos);
        let Some(h) = self.header_at(&*file, pos, file_len)? else {
            return Ok(None);
        };
        if batch::check_header(&h).is_err()
            || h.last_offset() != base + i64::from(rel)
            || h.base_offset < min_offset.max(base)
        {
            return Ok(None);
        }
        self.time_index
            .recover_prefix(|e| batch::get_i32(e, 8) <= rel)?;
        // The first offset entry is written with a time entry: an offset index without
        // one is not the one the checkpoint synced with its time index.
        let Some((max_timestamp, max_rel)) = self.time_index.last_entry()? else {
            return Ok(None);
        };
        // Its last entry must be what the log says, as the sanity check requires: a slot
        // of zeros (a hole, or an entry a truncation cleared) reads as a time entry for
        // the segment's first batch, and an offset entry of zeros is a true one when that
        // batch ends at the base offset, so the offset index's check does not catch it.
        let matches = if max_rel == rel {
            // The batch just read (the usual case: timestamps grow with offsets).
            h.max_timestamp == max_timestamp
        } else {
            self.time_entry_matches(&*file, max_timestamp, max_rel, file_len)?
        };
        if !matches {
            return Ok(None);
        }
        let offset_of_max_timestamp = base + i64::from(max_rel);
        let rolling_timestamp = match self.header_at(&*file, 0, file_len)? {
            Some(first) => first.max_timestamp.max(0),
            None => return Ok(None),
        };
        Ok(Some(WalkStart {
            pos: pos + h.total_len() as u64,
            next: h.last_offset() + 1,
            bytes_since_index: h.total_len() as u64,
            max_timestamp,
            offset_of_max_timestamp,
            rolling_timestamp,
        }))
    }

    /// [`Self::recover`] from `start`.
    fn recover_from(
        &self,
        index_interval: u64,
        min_offset: i64,
        durable_below: i64,
        start: WalkStart,
    ) -> Result<RecoveryOutcome> {
        let file = self.file()?;
        let file_len = file.len().map_err(|e| LogError::io(&self.log_path, e))?;
        self.checked.store(true, Ordering::Release);
        if start.pos == 0 {
            self.offset_index.open_for_append(Some(0))?;
            self.time_index.open_for_append(Some(0))?;
            self.offset_index.reset()?;
            self.time_index.reset()?;
        }
        self.max_timestamp
            .store(start.max_timestamp, Ordering::Release);
        self.offset_of_max_timestamp
            .store(start.offset_of_max_timestamp, Ordering::Release);
        self.rolling_timestamp
            .store(start.rolling_timestamp, Ordering::Release);
        self.bytes_since_index
            .store(start.bytes_since_index, Ordering::Relaxed);

        const CHUNK: usize = 8 << 20;
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_pos: u64 = start.pos; // file position of buf[0]
        let mut pos: u64 = start.pos;
        let mut next = min_offset.max(self.base_offset).max(start.next);
        let mut batches = 0u64;
        let mut control_batches = 0;
        while next < durable_below {
            let Some(h) = self.header_via(&*file, &buf, buf_pos, pos, file_len)? else {
                break;
            };
            if batch::check_header(&h).is_err()
                || h.base_offset < next
                || h.last_offset() >= durable_below
                || h.last_offset() - self.base_offset > i64::from(i32::MAX)
            {
                break;
            }
            let total = h.total_len() as u64;
            self.index_batch(pos, total, h.last_offset(), h.max_timestamp, index_interval)?;
            next = h.last_offset() + 1;
            pos += total;
            batches += 1;
            control_batches += u64::from(h.is_control());
            self.read_ahead_after(&*file, &mut buf, &mut buf_pos, pos, total, CHUNK, file_len)?;
        }
        let trusted_bytes = pos;
        loop {
            // Make sure the 12-byte prefix is buffered.
            let need_prefix = pos + LOG_OVERHEAD as u64;
            if need_prefix > file_len {
                break;
            }
            if need_prefix > buf_pos + buf.len() as u64 {
                self.refill(&*file, &mut buf, &mut buf_pos, pos, CHUNK, file_len)?;
            }
            let at = (pos - buf_pos) as usize;
            let Some(total) = batch::peek_total_len(&buf[at..]) else {
                break;
            };
            if total < HEADER_LEN as i64 || pos + total as u64 > file_len {
                break;
            }
            if pos + total as u64 > buf_pos + buf.len() as u64 {
                self.refill(
                    &*file,
                    &mut buf,
                    &mut buf_pos,
                    pos,
                    CHUNK.max(total as usize),
                    file_len,
                )?;
            }
            let at = (pos - buf_pos) as usize;
            let bytes = &buf[at..at + total as usize];
            let Ok(h) = batch::validate_batch(bytes, usize::MAX) else {
                break;
            };
            if h.base_offset < next || h.last_offset() - self.base_offset > i64::from(i32::MAX) {
                break;
            }
            self.index_batch(
                pos,
                total as u64,
                h.last_offset(),
                h.max_timestamp,
                index_interval,
            )?;
            next = h.last_offset() + 1;
            pos += total as u64;
            batches += 1;
            control_batches += u64::from(h.is_control());
        }
        let truncated = file_len - pos;
        if truncated > 0 {
            file.set_len(pos)
                .map_err(|e| LogError::io(&self.log_path, e))?;
        }
        self.size.store(pos, Ordering::Release);
        self.next_offset.store(next, Ordering::Release);
        // Entries of markers that were cut go with them.
        self.txn_index.truncate_to(next)?;
        self.offset_index.clear_stale_tail()?;
        self.time_index.clear_stale_tail()?;
        Ok(RecoveryOutcome {
            valid_bytes: pos,
            trusted_bytes,
            skipped_bytes: start.pos,
            truncated_bytes: truncated,
            batches,
            control_batches,
            skipped_below: (start.pos > 0).then_some(start.next),
        })
    }

    fn refill(
        &self,
        file: &dyn FsFile,
        buf: &mut Vec<u8>,
        buf_pos: &mut u64,
        pos: u64,
        want: usize,
        file_len: u64,
    ) -> Result<()> {
        let len = (want as u64).min(file_len - pos) as usize;
        // The read overwrites every byte: resize without clearing, so that only growth is
        // zero-filled, not the whole 8 MiB chunk on every refill.
        buf.resize(len, 0);
        file.read_exact_at(buf, pos)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        *buf_pos = pos;
        Ok(())
    }

    /// Checks both indexes against the log; on failure the caller recovers the segment.
    pub fn sanity_check(&self) -> Result<()> {
        self.offset_index.check(self.size())?;
        let max_rel = match self.next_offset_hint() {
            n if n > self.base_offset => n - 1 - self.base_offset,
            _ => i64::from(i32::MAX),
        };
        self.time_index.check(max_rel)?;
        if self.size() > 0 {
            // The last indexed position must hold a batch whose last offset matches.
            let (rel, pos) = self.offset_index.lookup(i64::from(i32::MAX))?;
            if rel >= 0 {
                let file = self.file()?;
                match self.header_at(file.as_ref(), u64::from(pos), self.size())? {
                    Some(h) if h.last_offset() == self.base_offset + i64::from(rel) => {}
                    _ => {
                        return Err(LogError::CorruptIndex {
                            path: self.offset_index.path().to_path_buf(),
                            reason: format!("entry ({rel}, {pos}) does not match the log"),
                        })
                    }
                }
            }
            // The last time index entry must name a batch that carries its timestamp:
            // retention trusts it, and a garbage one could expire live data.
            if let Some((ts, rel)) = self.time_index.last_entry()? {
                let file = self.file()?;
                if !self.time_entry_matches(file.as_ref(), ts, rel, self.size())? {
                    return Err(LogError::CorruptIndex {
                        path: self.time_index.path().to_path_buf(),
                        reason: format!("last entry ({ts}, {rel}) does not match the log"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the batch ending at relative offset `rel` is in the log below `limit` and
    /// carries `timestamp` as its max timestamp: what a time index entry claims. Walks
    /// headers from the offset index's entry at or below it.
    fn time_entry_matches(
        &self,
        file: &dyn FsFile,
        timestamp: i64,
        rel: i32,
        limit: u64,
    ) -> Result<bool> {
        let target = self.base_offset + i64::from(rel);
        let (_, start) = self.offset_index.lookup(i64::from(rel))?;
        let mut pos = u64::from(start);
        while let Some(h) = self.header_at(file, pos, limit)? {
            if h.last_offset() >= target {
                return Ok(h.last_offset() == target && h.max_timestamp == timestamp);
            }
            pos += h.total_len() as u64;
        }
        Ok(false)
    }

    /// Removes every batch whose last offset is >= `offset`, and the index entries that
    /// point at them. Returns the bytes removed.
    pub fn truncate_to(&self, offset: i64) -> Result<u64> {
        let size = self.size();
        let (cut, first_cut) = match self.find_batch(offset, size)? {
            Some((pos, h)) => (pos, h.base_offset),
            None => return Ok(0),
        };
        let rel = offset - self.base_offset;
        self.offset_index.truncate_to_relative_offset(rel)?;
        self.time_index.truncate_to_relative_offset(rel)?;
        // A batch goes whole: so do the entries of the markers from its base offset on.
        self.txn_index.truncate_to(first_cut)?;
        let file = self.file()?;
        file.set_len(cut)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        self.size.store(cut, Ordering::Release);
        self.synced.store(false, Ordering::Release);
        self.written_behind.fetch_min(cut, Ordering::AcqRel);
        Ok(size - cut)
    }

    /// Seals the segment: a last time index entry with the segment's max timestamp (so a
    /// reopen knows it without a scan), both indexes trimmed to their used length.
    pub fn seal(&self, sync: bool) -> Result<()> {
        self.sealed.store(true, Ordering::Release);
        if self.max_timestamp() >= 0 {
            let rel = (self.offset_of_max_timestamp() - self.base_offset) as i32;
            self.time_index.append_time(self.max_timestamp(), rel)?;
        }
        self.offset_index.trim_and_close(sync)?;
        self.time_index.trim_and_close(sync)?;
        Ok(())
    }

    /// Whether the offset or time index changed since last made durable.
    pub fn indexes_dirty(&self) -> bool {
        self.offset_index.is_dirty() || self.time_index.is_dirty()
    }

    /// Writes the offset and time index entries appended since the last time to disk: the
    /// recovery-point checkpoint does, for the segment holding the recovery point it is
    /// about to record, so that recovery can start its walk from them.
    pub fn sync_indexes(&self) -> Result<()> {
        self.offset_index.flush_if_dirty()?;
        self.time_index.flush_if_dirty()
    }

    /// Starts the writeback of the log file's whole pages written since the last call, up
    /// to [`WRITE_BEHIND_LAG_BYTES`] short of its end (see `Log::write_behind`).
    pub fn write_behind(&self) -> Result<()> {
        const PAGE: u64 = 4096;
        let from = self.written_behind.load(Ordering::Acquire) / PAGE * PAGE;
        let to = self.size().saturating_sub(WRITE_BEHIND_LAG_BYTES) / PAGE * PAGE;
        if to <= from {
            return Ok(());
        }
        let Some(file) = self.file.lock().clone() else {
            return Ok(());
        };
        file.start_write_back(from, to - from)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        self.written_behind.fetch_max(to, Ordering::AcqRel);
        Ok(())
    }

    /// Makes the log file's bytes and the transaction index entries written with them
    /// (and, for a sealed segment, its offset and time indexes) durable.
    pub fn sync(&self, sealed: bool) -> Result<()> {
        // Take the handle out first: a guard in the `if let` scrutinee would be held across
        // the fdatasync and stall every append to this segment for its duration.
        let file = self.file.lock().clone();
        if let Some(f) = file {
            f.sync_data().map_err(|e| LogError::io(&self.log_path, e))?;
        }
        // After the data: a durable entry then names a durable marker (a crash in between
        // loses only entries, which recovery rebuilds past the recovery point).
        self.txn_index.sync()?;
        if sealed {
            self.offset_index.flush()?;
            self.time_index.flush()?;
            self.mark_synced();
        }
        Ok(())
    }

    /// Renames this segment's files with `suffix` appended (`.deleted`, `.cleaned`, ...).
    pub fn rename_files(&self, suffix: &str) -> Result<()> {
        // From here on the files are not under their names: a reader must not re-create
        // them by opening the old name.
        self.deleted.store(true, Ordering::Release);
        for p in self.paths() {
            if self.fs.exists(&p) {
                let to = files::with_suffix(&p, suffix);
                self.fs.rename(&p, &to).map_err(|e| LogError::io(&p, e))?;
            }
        }
        Ok(())
    }

    /// Removes this segment's files (with `suffix` if they were renamed).
    pub fn delete_files(&self, suffix: &str) -> Result<()> {
        self.deleted.store(true, Ordering::Release);
        self.release();
        for p in self.paths() {
            let p = files::with_suffix(&p, suffix);
            match self.fs.remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&p, e)),
            }
        }
        Ok(())
    }

    /// The segment's files, the log first (a `.txnindex` may not exist).
    pub fn paths(&self) -> [PathBuf; 4] {
        [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ]
    }

    /// Reads the batch at `pos` whole (for the timestamp and max timestamp lookups).
    pub fn read_batch_at(&self, pos: u64, h: &BatchHeader) -> Result<Vec<u8>> {
        let mut v = vec![0u8; h.total_len()];
        self.file()?
            .read_exact_at(&mut v, pos)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        Ok(v)
    }
}
