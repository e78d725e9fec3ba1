//! Log compaction, after Kafka's `LogCleaner`, for `cleanup.policy=compact` (and
//! `compact,delete`).
//!
//! A compacted log keeps at least the latest record of every key. The sealed segments split
//! in two at the cleaner checkpoint: the *clean section* below it was compacted before, the
//! *dirty section* from there to the active segment was not. The active segment is never
//! touched: appends only ever write there, so cleaning never blocks them.
//!
//! One pass:
//!
//! 1. Plan. The cleanable dirty range ends at the first sealed segment younger than
//!    `min.compaction.lag.ms` (by its largest timestamp). Clean when the dirty share of the
//!    bytes reaches `min.cleanable.dirty.ratio`, when the oldest dirty batch is older than
//!    `max.compaction.lag.ms`, or when a tombstone's delete horizon has passed.
//! 2. Map. Key bytes -> offset of the latest record with that key, over the cleanable dirty
//!    range, whole segments at a time within [`CleanerOptions::max_map_bytes`] (the first
//!    segment always fits).
//! 3. Rewrite every segment from the log start to the end of the mapped range, in groups of
//!    consecutive segments that fit `segment.bytes` and 32-bit relative offsets. A record
//!    stays unless a later record has its key; records without a key stay; a tombstone
//!    (null value) stays until its batch's delete horizon (KIP-534) has passed. Records are
//!    copied as raw bytes, never re-encoded; a batch that lost nothing is copied verbatim.
//!    A batch that lost every record goes, except the last of a group, kept empty so that
//!    the group's next offset is unchanged: recovery decides from it which segments a
//!    `.swap` replaces.
//! 4. Swap, per group, crash-safely: `<base>.log.cleaned` and its two indexes are written
//!    and synced, then (under the append lock) renamed to `.swap` and the directory synced:
//!    from that point recovery completes the swap. Then, also holding the segments lock,
//!    the old segments' files are removed, the `.swap` files renamed to their final names
//!    (the log last) and the new segment put in the map. A crash before the `.swap` renames
//!    leaves `.cleaned` files that recovery deletes; after, a swap recovery completes.
//!
//! Not done (yet): aborted transactional records and transaction markers are kept as
//! they are (Kafka removes both), and the last batch of each producer is not kept for its
//! producer state (the partition's producer state snapshot has to carry it).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use tracing::{debug, info, warn};

use crate::batch::{self, BatchHeader, ATTR_DELETE_HORIZON, HEADER_LEN, LOG_OVERHEAD};
use crate::compression::Compression;
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::files::{self, FileKind};
use crate::io::{Fs, FsFile, OpenMode};
use crate::log::Log;
use crate::record::{self, BatchBuilder, RecordIter, RecordRef};
use crate::segment::Segment;

/// What one cleaning pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// The new end of the clean section: the base offset of the first segment not cleaned.
    pub clean_offset: i64,
    /// Old segments replaced by cleaned ones.
    pub segments_cleaned: usize,
    /// Bytes of the replaced segments.
    pub bytes_before: u64,
    /// Bytes of the segments that replaced them.
    pub bytes_after: u64,
    /// Records dropped: superseded by a later record with the same key, or tombstones
    /// past their delete horizon.
    pub records_removed: u64,
}

/// Tuning of a cleaning pass (Kafka's `log.cleaner.*` broker settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerOptions {
    /// Memory the offset map may use, counting key bytes and a per-entry overhead
    /// (`log.cleaner.dedupe.buffer.size`). When the dirty range does not fit, a pass cleans
    /// only the prefix of whole segments that does; the first dirty segment always fits.
    pub max_map_bytes: usize,
    /// Read and write buffer of the rewrite (`log.cleaner.io.buffer.size`).
    pub io_buffer_bytes: usize,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            max_map_bytes: 128 << 20,
            io_buffer_bytes: 1 << 20,
        }
    }
}

/// Compacts `log` if its dirty ratio or lag calls for it. `clean_offset` is the cleaner
/// checkpoint: where the clean section ends. Returns None when there was nothing to do.
pub fn clean_if_needed(log: &Log, clean_offset: i64, now_ms: i64) -> Result<Option<CleanStats>> {
    clean_with_options(log, clean_offset, now_ms, &CleanerOptions::default())
}

/// [`clean_if_needed`] with explicit options.
pub fn clean_with_options(
    log: &Log,
    clean_offset: i64,
    now_ms: i64,
    opts: &CleanerOptions,
) -> Result<Option<CleanStats>> {
    let cfg = log.config();
    if !cfg.cleanup_policy.compact {
        return Ok(None);
    }
    if log.is_offline() {
        return Err(LogError::Offline(log.name()));
    }
    // One pass per log at a time: two would write the same `.cleaned` files.
    let Some(_busy) = Busy::claim(log.dir()) else {
        return Ok(None);
    };
    let all = log.segments_snapshot();
    let Some(plan) = plan(log, &cfg, &all, clean_offset, now_ms)? else {
        return Ok(None);
    };

    let mut map = OffsetMap::new(opts.max_map_bytes);
    let mut map_end = plan.dirty.start;
    for (i, seg) in all
        .iter()
        .enumerate()
        .take(plan.dirty.end)
        .skip(plan.dirty.start)
    {
        if !map_segment(&mut map, seg, i == plan.dirty.start, &cfg, opts)? {
            break;
        }
        map_end = i + 1;
    }
    let new_clean_offset = if map_end > plan.dirty.start {
        all[map_end].base_offset
    } else {
        plan.first_dirty
    };
    if map_end == 0 {
        return Ok(None);
    }

    let filter = Filter {
        map: &map,
        now_ms,
        delete_retention_ms: cfg.delete_retention_ms,
        decompress_limit: decompress_limit(&cfg),
    };
    let mut stats = CleanStats {
        clean_offset: new_clean_offset,
        ..CleanStats::default()
    };
    let mut next_horizon: Option<i64> = None;
    for group in group_segments(&all, map_end, cfg.segment_bytes) {
        let segs = &all[group];
        let outcome = clean_group(log, &cfg, segs, &filter, opts)?;
        next_horizon = min_opt(next_horizon, outcome.horizon);
        let Some(written) = outcome.written else {
            continue;
        };
        if !swap_in(log, &cfg, segs, &outcome.sizes, &written)? {
            // Retention or truncation changed these segments meanwhile: stop here and let a
            // later pass start over.
            debug!(log = %log.name(), base = written.base_offset, "segments changed under the cleaner: pass abandoned");
            stats.clean_offset = plan.first_dirty;
            return Ok(Some(stats));
        }
        stats.segments_cleaned += segs.len();
        stats.bytes_before += outcome.sizes.iter().sum::<u64>();
        stats.bytes_after += written.size;
        stats.records_removed += outcome.records_removed;
    }
    Busy::set_horizon(log.dir(), next_horizon);
    info!(log = %log.name(), segments = stats.segments_cleaned, bytes_before = stats.bytes_before,
        bytes_after = stats.bytes_after, removed = stats.records_removed,
        clean_offset = stats.clean_offset, "compacted");
    Ok(Some(stats))
}

/// Which segments a pass looks at, as indexes into the snapshot (the last is active).
#[derive(Debug)]
struct Plan {
    /// The first offset of the dirty section.
    first_dirty: i64,
    /// The cleanable dirty segments.
    dirty: Range<usize>,
}

fn plan(
    log: &Log,
    cfg: &LogConfig,
    all: &[Arc<Segment>],
    clean_offset: i64,
    now_ms: i64,
) -> Result<Option<Plan>> {
    let Some(sealed) = all.len().checked_sub(1) else {
        return Ok(None);
    };
    // A checkpoint outside the log (truncation, DeleteRecords) restarts from its start.
    let first_dirty =
        if clean_offset < log.log_start_offset() || clean_offset > log.log_end_offset() {
            log.log_start_offset()
        } else {
            clean_offset
        };
    let dirty_start = all
        .iter()
        .rposition(|s| s.base_offset <= first_dirty)
        .unwrap_or(0);
    let mut dirty_end = dirty_start;
    let lag_bound = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
    while dirty_end < sealed && all[dirty_end].max_timestamp_known()? <= lag_bound {
        dirty_end += 1;
    }
    let size = |r: Range<usize>| all[r].iter().map(|s| s.size()).sum::<u64>();
    let (clean_bytes, dirty_bytes) = (size(0..dirty_start), size(dirty_start..dirty_end));
    let ratio_due = dirty_bytes > 0
        && dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64 >= cfg.min_cleanable_dirty_ratio;
    let lag_due = dirty_bytes > 0
        && first_batch_timestamp(&all[dirty_start])?
            .is_some_and(|ts| now_ms.saturating_sub(ts) > cfg.max_compaction_lag_ms);
    let horizon_due = Busy::horizon(log.dir()).is_some_and(|h| now_ms >= h);
    if !(ratio_due || lag_due || horizon_due) {
        return Ok(None);
    }
    Ok(Some(Plan {
        first_dirty,
        dirty: dirty_start..dirty_end,
    }))
}

/// The first batch's max timestamp: when the segment's oldest data was written.
fn first_batch_timestamp(seg: &Segment) -> Result<Option<i64>> {
    let mut ts = None;
    seg.for_each_header(0, |_, h| {
        ts = Some(h.max_timestamp);
        false
    })?;
    Ok(ts)
}

fn decompress_limit(cfg: &LogConfig) -> usize {
    cfg.max_message_bytes.max(1 << 20).saturating_mul(64)
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Per-log cleaner state kept between passes, by log directory: which logs a pass is
/// running on, and the earliest delete horizon of a tombstone still in each log.
#[derive(Debug, Default)]
struct Registry {
    busy: HashSet<PathBuf>,
    horizons: HashMap<PathBuf, i64>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

/// Marks a log as being cleaned until dropped.
#[derive(Debug)]
struct Busy(PathBuf);

impl Busy {
    fn claim(dir: &Path) -> Option<Self> {
        REGISTRY
            .lock()
            .busy
            .insert(dir.to_path_buf())
            .then(|| Busy(dir.to_path_buf()))
    }
    fn horizon(dir: &Path) -> Option<i64> {
        REGISTRY.lock().horizons.get(dir).copied()
    }
    fn set_horizon(dir: &Path, horizon: Option<i64>) {
        let mut r = REGISTRY.lock();
        match horizon {
            Some(h) => r.horizons.insert(dir.to_path_buf(), h),
            None => r.horizons.remove(dir),
        };
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        REGISTRY.lock().busy.remove(&self.0);
    }
}

/// Key bytes -> offset of the latest record with that key.
#[derive(Debug)]
struct OffsetMap {
    map: HashMap<Vec<u8>, i64>,
    bytes: usize,
    limit: usize,
}

/// What a map entry costs beyond its key bytes: the `Vec` header, the offset and the hash
/// table's share.
const ENTRY_OVERHEAD: usize = 56;

impl OffsetMap {
    fn new(limit: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    fn latest(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    /// Records that `key` is at `offset`. Returns false, adding nothing, when a new key
    /// would exceed the memory bound (unless `force`).
    fn put(&mut self, key: &[u8], offset: i64, force: bool) -> bool {
        if let Some(o) = self.map.get_mut(key) {
            *o = (*o).max(offset);
            return true;
        }
        let cost = key.len() + ENTRY_OVERHEAD;
        if !force && self.bytes.saturating_add(cost) > self.limit {
            return false;
        }
        self.bytes += cost;
        self.map.insert(key.to_vec(), offset);
        true
    }
}

/// Adds the keys of `seg` to the map. Returns false when the map filled up part way: then
/// the segment must not be cleaned this pass. (The entries it did add point at records
/// that stay in the log, so they only remove records that really are superseded.)
fn map_segment(
    map: &mut OffsetMap,
    seg: &Segment,
    force: bool,
    cfg: &LogConfig,
    opts: &CleanerOptions,
) -> Result<bool> {
    let limit = decompress_limit(cfg);
    let mut reader = BatchReader::new(seg, seg.size(), opts.io_buffer_bytes)?;
    let path = log_path_of(seg);
    while let Some((pos, bytes)) = reader.next()? {
        let h = batch::validate_batch(bytes, usize::MAX).map_err(|e| corrupt(&path, pos, e))?;
        if h.is_control() {
            continue;
        }
        let (_, section) =
            record::records_of_batch(bytes, limit).map_err(|e| corrupt(&path, pos, e))?;
        for r in RecordIter::new(&section, h.record_count) {
            let r = r.map_err(|e| corrupt(&path, pos, e))?;
            if let Some(key) = r.key {
                if !map.put(key, h.base_offset + i64::from(r.offset_delta), force) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Consecutive segments among `all[..end]` whose sizes together fit `max_bytes` and whose
/// offsets fit 32-bit offsets relative to the first.
fn group_segments(all: &[Arc<Segment>], end: usize, max_bytes: u64) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < end {
        let start = i;
        let mut size = all[i].size();
        i += 1;
        while i < end {
            // all[i + 1] exists: `end` is at most the active segment's index.
            let last_offset = all[i + 1].base_offset - 1;
            let fits_offsets = last_offset - all[start].base_offset <= i64::from(i32::MAX);
            if size + all[i].size() > max_bytes || !fits_offsets {
                break;
            }
            size += all[i].size();
            i += 1;
        }
        groups.push(start..i);
    }
    groups
}

/// The path of a segment's `.log` file.
fn log_path_of(seg: &Segment) -> PathBuf {
    let [log, _, _] = seg.paths();
    log
}

fn corrupt(path: &Path, pos: u64, what: impl std::fmt::Display) -> LogError {
    let msg = format!("corrupt batch at position {pos}: {what}");
    LogError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg),
    )
}

/// Reads whole batches of a segment in order, through a buffer.
#[derive(Debug)]
struct BatchReader {
    file: Arc<dyn FsFile>,
    path: PathBuf,
    /// Bytes of the segment to read.
    limit: u64,
    pos: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_pos: u64,
    chunk: usize,
}

impl BatchReader {
    fn new(seg: &Segment, limit: u64, chunk: usize) -> Result<Self> {
        Ok(Self {
            file: seg.file()?,
            path: log_path_of(seg),
            limit,
            pos: 0,
            buf: Vec::new(),
            buf_pos: 0,
            chunk: chunk.max(HEADER_LEN),
        })
    }

    /// Makes `buf` hold `[pos, end)`.
    fn fill(&mut self, end: u64) -> Result<()> {
        if self.pos >= self.buf_pos && end <= self.buf_pos + self.buf.len() as u64 {
            return Ok(());
        }
        let len = (end - self.pos)
            .max(self.chunk as u64)
            .min(self.limit - self.pos) as usize;
        self.buf.clear();
        self.buf.resize(len, 0);
        self.file
            .read_exact_at(&mut self.buf, self.pos)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.buf_pos = self.pos;
        Ok(())
    }

    /// The next batch and its position; an error if the bytes do not hold whole batches.
    fn next(&mut self) -> Result<Option<(u64, &[u8])>> {
        if self.pos >= self.limit {
            return Ok(None);
        }
        let pos = self.pos;
        if pos + LOG_OVERHEAD as u64 > self.limit {
            return Err(corrupt(&self.path, pos, "trailing bytes"));
        }
        self.fill(pos + LOG_OVERHEAD as u64)?;
        let at = (pos - self.buf_pos) as usize;
        let total = batch::peek_total_len(&self.buf[at..]).unwrap_or(0);
        if total < HEADER_LEN as i64 || pos + total as u64 > self.limit {
            return Err(corrupt(&self.path, pos, format!("length {total}")));
        }
        let end = pos + total as u64;
        self.fill(end)?;
        let at = (pos - self.buf_pos) as usize;
        self.pos = end;
        Ok(Some((pos, &self.buf[at..at + total as usize])))
    }
}

/// What to keep of each batch.
#[derive(Debug)]
struct Filter<'a> {
    map: &'a OffsetMap,
    now_ms: i64,
    delete_retention_ms: i64,
    decompress_limit: usize,
}

#[derive(Debug)]
enum Kept {
    /// Every record stays: copy the batch as it is.
    Verbatim,
    /// Some records stay, or the delete horizon was set: the new batch.
    Rewritten(Vec<u8>),
    /// No record stays.
    Empty,
}

#[derive(Debug)]
struct Filtered {
    kept: Kept,
    removed: u64,
    /// The batch's delete horizon when it keeps a tombstone.
    horizon: Option<i64>,
}

impl Filter<'_> {
    fn filter(&self, bytes: &[u8], h: &BatchHeader, path: &Path, pos: u64) -> Result<Filtered> {
        if h.is_control() {
            return Ok(Filtered {
                kept: Kept::Verbatim,
                removed: 0,
                horizon: None,
            });
        }
        let bad = |e: crate::error::BatchError| corrupt(path, pos, e);
        let (_, section) = record::records_of_batch(bytes, self.decompress_limit).map_err(bad)?;
        let horizon_passed = h.has_delete_horizon() && self.now_ms >= h.base_timestamp;
        let mut kept: Vec<RecordRef<'_>> = Vec::new();
        let mut kept_tombstone = false;
        let mut removed = 0u64;
        for r in RecordIter::new(&section, h.record_count) {
            let r = r.map_err(bad)?;
            let offset = h.base_offset + i64::from(r.offset_delta);
            let superseded = r
                .key
                .and_then(|k| self.map.latest(k))
                .is_some_and(|latest| offset < latest);
            let tombstone = r.key.is_some() && r.value.is_none();
            if superseded || (tombstone && horizon_passed) {
                removed += 1;
                continue;
            }
            kept_tombstone |= tombstone;
            kept.push(r);
        }
        // KIP-534: the first cleaning that keeps a tombstone starts its delete horizon.
        let set_horizon = kept_tombstone && !h.has_delete_horizon();
        let base_timestamp = if set_horizon {
            self.now_ms.saturating_add(self.delete_retention_ms)
        } else {
            h.base_timestamp
        };
        let horizon = kept_tombstone.then_some(base_timestamp);
        let kept = if removed == 0 && !set_horizon {
            Kept::Verbatim
        } else if kept.is_empty() {
            Kept::Empty
        } else {
            let mut raw = Vec::with_capacity(section.len());
            for r in &kept {
                if set_horizon {
                    // The absolute timestamp stays; only its delta from the new base moves.
                    let ts = h.base_timestamp.wrapping_add(r.timestamp_delta);
                    record::rewrite_record_timestamp_delta(
                        r.raw,
                        ts.wrapping_sub(base_timestamp),
                        &mut raw,
                    )
                    .map_err(bad)?;
                } else {
                    raw.extend_from_slice(r.raw);
                }
            }
            let attributes = h.attributes | if set_horizon { ATTR_DELETE_HORIZON } else { 0 };
            let count =
                i32::try_from(kept.len()).map_err(|_| corrupt(path, pos, "record count"))?;
            Kept::Rewritten(rebuild(h, attributes, base_timestamp, &raw, count)?)
        };
        Ok(Filtered {
            kept,
            removed,
            horizon,
        })
    }
}

/// A batch with `h`'s offsets, producer fields, epoch and max timestamp around `records`.
fn rebuild(
    h: &BatchHeader,
    attributes: i16,
    base_timestamp: i64,
    records: &[u8],
    count: i32,
) -> Result<Vec<u8>> {
    let compression = Compression::from_id(h.codec())?;
    Ok(BatchBuilder {
        base_offset: h.base_offset,
        partition_leader_epoch: h.partition_leader_epoch,
        attributes,
        compression,
        last_offset_delta: h.last_offset_delta,
        base_timestamp,
        max_timestamp: h.max_timestamp,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
    }
    .build(records, count)?)
}

/// The result of rewriting one group.
#[derive(Debug)]
struct GroupOutcome {
    /// The cleaned segment, when anything changed.
    written: Option<Written>,
    /// Sizes of the group's segments as read.
    sizes: Vec<u64>,
    records_removed: u64,
    horizon: Option<i64>,
}

/// A cleaned segment in `.cleaned` files, synced.
#[derive(Debug)]
struct Written {
    base_offset: i64,
    size: u64,
}

fn clean_group(
    log: &Log,
    cfg: &LogConfig,
    group: &[Arc<Segment>],
    filter: &Filter<'_>,
    opts: &CleanerOptions,
) -> Result<GroupOutcome> {
    let base = group[0].base_offset;
    let mut out = GroupOutcome {
        written: None,
        sizes: group.iter().map(|s| s.size()).collect(),
        records_removed: 0,
        horizon: None,
    };
    let mut writer: Option<CleanedWriter> = None;
    // A group of one segment is rewritten only if something in it changes: until then,
    // how far it is unchanged.
    let mut unchanged_upto = 0u64;
    let result = (|| {
        if group.len() > 1 {
            writer = Some(CleanedWriter::create(log, cfg, base, opts)?);
        }
        // The last batch dropped as empty, kept if nothing follows it.
        let mut pending_empty: Option<BatchHeader> = None;
        for (seg, &size) in group.iter().zip(&out.sizes) {
            let mut reader = BatchReader::new(seg, size, opts.io_buffer_bytes)?;
            let path = log_path_of(seg);
            while let Some((pos, bytes)) = reader.next()? {
                let h =
                    batch::validate_batch(bytes, usize::MAX).map_err(|e| corrupt(&path, pos, e))?;
                let f = filter.filter(bytes, &h, &path, pos)?;
                out.records_removed += f.removed;
                out.horizon = min_opt(out.horizon, f.horizon);
                if !matches!(f.kept, Kept::Verbatim) && writer.is_none() {
                    writer = Some(CleanedWriter::start_with_prefix(
                        log,
                        cfg,
                        seg,
                        unchanged_upto,
                        opts,
                    )?);
                }
                let Some(w) = writer.as_mut() else {
                    unchanged_upto = pos + bytes.len() as u64;
                    continue;
                };
                match f.kept {
                    Kept::Verbatim => {
                        pending_empty = None;
                        w.append(bytes, &h)?;
                    }
                    Kept::Rewritten(new) => {
                        pending_empty = None;
                        w.append(&new, &h)?;
                    }
                    Kept::Empty => pending_empty = Some(h),
                }
            }
        }
        if let (Some(h), Some(w)) = (pending_empty, writer.as_mut()) {
            let empty = rebuild(&h, h.attributes, h.base_timestamp, &[], 0)?;
            w.append(&empty, &h)?;
        }
        match writer.take() {
            Some(w) if w.batches > 0 => Ok(Some(w.finish()?)),
            Some(w) => {
                w.discard();
                Ok(None)
            }
            None => Ok(None),
        }
    })();
    match result {
        Ok(written) => {
            out.written = written;
            Ok(out)
        }
        Err(e) => {
            if let Some(w) = writer {
                w.discard();
            }
            remove_leftovers(log.fs().as_ref(), log.dir(), base, files::CLEANED_SUFFIX);
            Err(e)
        }
    }
}

fn suffixed(dir: &Path, base: i64, kind: FileKind, suffix: &str) -> PathBuf {
    files::with_suffix(&files::segment_path(dir, base, kind), suffix)
}

/// Removes `<base>.*<suffix>` files, as well as it can: the `.log` first, so that a crash
/// part way never leaves a `.log.swap` without the rest.
fn remove_leftovers(fs: &dyn Fs, dir: &Path, base: i64, suffix: &str) -> bool {
    let mut ok = true;
    for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
        let p = suffixed(dir, base, kind, suffix);
        match fs.remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(path = %p.display(), error = %e, "could not remove a compaction leftover");
                ok = false;
            }
        }
    }
    ok
}

/// Writes a cleaned segment into `<base>.log.cleaned` and builds its indexes the way the
/// segment's appender would have.
#[derive(Debug)]
struct CleanedWriter {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    base_offset: i64,
    file: Arc<dyn FsFile>,
    path: PathBuf,
    /// Bytes written to the file; `buf` follows them.
    flushed: u64,
    buf: Vec<u8>,
    buf_limit: usize,
    batches: u64,
    index: IndexBuilder,
}

impl CleanedWriter {
    fn create(log: &Log, cfg: &LogConfig, base_offset: i64, opts: &CleanerOptions) -> Result<Self> {
        let fs = log.fs().clone();
        let path = suffixed(log.dir(), base_offset, FileKind::Log, files::CLEANED_SUFFIX);
        let file = fs
            .open(&path, OpenMode::ReadWriteCreate)
            .map_err(|e| LogError::io(&path, e))?;
        file.set_len(0).map_err(|e| LogError::io(&path, e))?;
        Ok(Self {
            fs,
            dir: log.dir().to_path_buf(),
            base_offset,
            file,
            path,
            flushed: 0,
            buf: Vec::with_capacity(opts.io_buffer_bytes),
            buf_limit: opts.io_buffer_bytes.max(HEADER_LEN),
            batches: 0,
            index: IndexBuilder::new(base_offset, cfg.index_interval_bytes),
        })
    }

    /// A writer for the single segment `seg` that starts with its first `upto` bytes.
    fn start_with_prefix(
        log: &Log,
        cfg: &LogConfig,
        seg: &Segment,
        upto: u64,
        opts: &CleanerOptions,
    ) -> Result<Self> {
        let mut w = Self::create(log, cfg, seg.base_offset, opts)?;
        let mut reader = BatchReader::new(seg, upto, opts.io_buffer_bytes)?;
        while let Some((pos, bytes)) = reader.next()? {
            let h = BatchHeader::parse(bytes).map_err(|e| corrupt(&log_path_of(seg), pos, e))?;
            w.append(bytes, &h)?;
        }
        Ok(w)
    }

    /// Appends a batch; `h` gives its last offset and max timestamp.
    fn append(&mut self, bytes: &[u8], h: &BatchHeader) -> Result<()> {
        let position = self.flushed + self.buf.len() as u64;
        self.index
            .add(
                position,
                bytes.len() as u64,
                h.last_offset(),
                h.max_timestamp,
            )
            .map_err(|e| LogError::io(&self.path, std::io::Error::other(e)))?;
        self.buf.extend_from_slice(bytes);
        self.batches += 1;
        if self.buf.len() >= self.buf_limit {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.file
            .write_all_at(&self.buf, self.flushed)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes the rest and both indexes, all synced.
    fn finish(mut self) -> Result<Written> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| LogError::io(&self.path, e))?;
        let (offsets, times) = (self.index.finish())
            .map_err(|e| LogError::io(&self.path, std::io::Error::other(e)))?;
        for (kind, bytes) in [(FileKind::Index, offsets), (FileKind::TimeIndex, times)] {
            let p = suffixed(&self.dir, self.base_offset, kind, files::CLEANED_SUFFIX);
            let f = self
                .fs
                .open(&p, OpenMode::ReadWriteCreate)
                .map_err(|e| LogError::io(&p, e))?;
            f.set_len(0).map_err(|e| LogError::io(&p, e))?;
            f.write_all_at(&bytes, 0).map_err(|e| LogError::io(&p, e))?;
            f.sync_data().map_err(|e| LogError::io(&p, e))?;
        }
        Ok(Written {
            base_offset: self.base_offset,
            size: self.flushed,
        })
    }

    fn discard(self) {
        remove_leftovers(
            self.fs.as_ref(),
            &self.dir,
            self.base_offset,
            files::CLEANED_SUFFIX,
        );
    }
}

/// The offset and time index entries of a segment written front to back, as
/// `Segment::index_batch` and `Segment::seal` make them.
#[derive(Debug)]
struct IndexBuilder {
    base_offset: i64,
    interval: u64,
    bytes_since_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    last_time_entry: Option<i64>,
    offsets: Vec<u8>,
    times: Vec<u8>,
}

impl IndexBuilder {
    fn new(base_offset: i64, interval: u64) -> Self {
        Self {
            base_offset,
            interval,
            bytes_since_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            last_time_entry: None,
            offsets: Vec::new(),
            times: Vec::new(),
        }
    }

    fn relative(&self, offset: i64) -> Result<i32, String> {
        i32::try_from(offset - self.base_offset).map_err(|_| {
            format!(
                "offset {offset} does not fit a segment based at {}",
                self.base_offset
            )
        })
    }

    fn add(
        &mut self,
        position: u64,
        len: u64,
        last_offset: i64,
        max_timestamp: i64,
    ) -> Result<(), String> {
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_entry >= self.interval {
            let rel = self.relative(last_offset)?;
            let position = u32::try_from(position)
                .map_err(|_| "the cleaned segment exceeds 4 GiB".to_string())?;
            self.offsets.extend_from_slice(&rel.to_be_bytes());
            self.offsets.extend_from_slice(&position.to_be_bytes());
            self.time_entry()?;
            self.bytes_since_entry = len;
        } else {
            self.bytes_since_entry += len;
        }
        Ok(())
    }

    /// A time index entry for the max timestamp so far, if it moved.
    fn time_entry(&mut self) -> Result<(), String> {
        if self.max_timestamp < 0
            || self
                .last_time_entry
                .is_some_and(|t| t >= self.max_timestamp)
        {
            return Ok(());
        }
        let rel = self.relative(self.offset_of_max_timestamp)?;
        self.times
            .extend_from_slice(&self.max_timestamp.to_be_bytes());
        self.times.extend_from_slice(&rel.to_be_bytes());
        self.last_time_entry = Some(self.max_timestamp);
        Ok(())
    }

    /// The offset and time index bytes, the time index ending with the segment's max
    /// timestamp as a sealed segment's does.
    fn finish(mut self) -> Result<(Vec<u8>, Vec<u8>), String> {
        self.time_entry()?;
        Ok((self.offsets, self.times))
    }
}

/// Replaces `group` by the cleaned segment. Returns false, removing the cleaned files, when
/// the group's segments changed meanwhile.
fn swap_in(
    log: &Log,
    cfg: &LogConfig,
    group: &[Arc<Segment>],
    sizes: &[u64],
    written: &Written,
) -> Result<bool> {
    let fs = log.fs().clone();
    let dir = log.dir();
    let base = written.base_offset;
    let append_guard = log.append_lock();
    let still_there = {
        let current = log.segments_snapshot();
        let active = current.last().map(|s| s.base_offset);
        group.iter().zip(sizes).all(|(seg, &size)| {
            Some(seg.base_offset) != active
                && seg.size() == size
                && current.iter().any(|c| Arc::ptr_eq(c, seg))
        })
    };
    if log.is_offline() || !still_there {
        drop(append_guard);
        remove_leftovers(fs.as_ref(), dir, base, files::CLEANED_SUFFIX);
        return Ok(false);
    }

    // `.cleaned` -> `.swap`, the log first: from its rename on, recovery completes the swap
    // (and without swapped indexes rebuilds them).
    let to_swap = (|| {
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let from = suffixed(dir, base, kind, files::CLEANED_SUFFIX);
            let to = suffixed(dir, base, kind, files::SWAP_SUFFIX);
            fs.rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
        }
        fs.sync_dir(dir).map_err(|e| LogError::io(dir, e))
    })();
    if let Err(e) = to_swap {
        // Undo, or leave it to recovery with the log offline.
        let undone = remove_leftovers(fs.as_ref(), dir, base, files::SWAP_SUFFIX)
            && remove_leftovers(fs.as_ref(), dir, base, files::CLEANED_SUFFIX)
            && fs.sync_dir(dir).is_ok();
        return if undone { Err(e) } else { log.fail(e) };
    }

    let replaced = (|| {
        let mut segments = log.segments_mut();
        for seg in group {
            seg.delete_files("")?;
        }
        // The log last: while its `.swap` exists, recovery knows what to finish.
        for kind in [FileKind::Index, FileKind::TimeIndex, FileKind::Log] {
            let from = suffixed(dir, base, kind, files::SWAP_SUFFIX);
            let to = files::segment_path(dir, base, kind);
            fs.rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
        }
        let seg = Segment::existing(fs.clone(), dir, base, cfg.segment_index_bytes)?;
        seg.mark_synced();
        for old in group {
            segments.remove(&old.base_offset);
        }
        segments.insert(base, Arc::new(seg));
        Ok(())
    })();
    if let Err(e) = replaced {
        return log.fail(e);
    }
    drop(append_guard);
    if let Err(e) = fs.sync_dir(dir) {
        log.mark_dir_dirty();
        return Err(LogError::io(dir, e));
    }
    Ok(true)
}
