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
//!    `min.compaction.lag.ms` (by its largest timestamp) or reaching the uncleanable
//!    offset ([`CleanerOptions::uncleanable_offset`], lowered to the first offset of the
//!    earliest undecided transaction: nothing of an open transaction is cleaned, nor
//!    supersedes anything). Clean when the dirty share of the bytes reaches
//!    `min.cleanable.dirty.ratio`, when the oldest dirty batch is older than
//!    `max.compaction.lag.ms`, or when the delete horizon of a tombstone or of a
//!    transaction marker has passed.
//! 2. Map. Key bytes -> offset of the latest record with that key, over the cleanable dirty
//!    range, whole segments at a time within [`CleanerOptions::max_map_bytes`] (the first
//!    segment always fits). Records of aborted transactions are not mapped: they supersede
//!    nothing.
//! 3. Rewrite every segment from the log start to the end of the mapped range, in groups of
//!    consecutive segments that fit `segment.bytes` and 32-bit relative offsets. A record
//!    stays unless a later record has its key; records without a key stay; a tombstone
//!    (null value) stays until its batch's delete horizon (KIP-534) has passed. Records are
//!    copied as raw bytes, never re-encoded; a batch that lost nothing is copied verbatim.
//!    A rewritten batch keeps its offsets, producer fields and epoch; its max timestamp
//!    becomes that of the records it keeps (LogAppendTime batches keep theirs), as Kafka's
//!    do, so that timestamp lookups and the time index land on a record. A batch that
//!    lost every record goes, except the last of a group, kept empty so that the group's
//!    next offset is unchanged (recovery decides from it which segments a `.swap`
//!    replaces), and the batch holding a producer's last record, kept empty so that the
//!    producer state survives a replay of the cleaned log (Kafka's
//!    `lastRecordsOfActiveProducers`).
//!
//!    Transactions, as Kafka's cleaner (`cleaner/txn.rs`): the records of aborted
//!    transactions go (the segments' `.txnindex` say which producer's batches from which
//!    offset were aborted); a COMMIT or ABORT marker stays as long as data of its
//!    transaction does, then gets a delete horizon (`delete.retention.ms` from that
//!    cleaning, in its attributes) and goes at a pass after it. The cleaned segment's
//!    `.txnindex` keeps the entries of the ABORT markers it keeps whose transaction still
//!    had data in the pass.
//! 4. Swap, per group, crash-safely: `<base>.log.cleaned` and its three indexes are written
//!    and synced, then (under the append lock) renamed to `.swap` (the transaction index
//!    first, then the log) and the directory synced: from that point recovery completes
//!    the swap. Then, also holding the segments lock, the old segments' files are removed,
//!    the `.swap` files renamed to their final names (the transaction index first, or
//!    removed when it has no entries; the log last) and the new segment put in the map. A crash before the `.swap` renames leaves
//!    `.cleaned` files that recovery deletes; after, a swap recovery completes.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use tracing::{debug, info};

use crate::batch;
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::files::{self, FileKind};
use crate::log::Log;
use crate::record::{self, RecordIter};
use crate::segment::Segment;

mod rewrite;
mod txn;

use rewrite::{
    clean_group, corrupt, log_path_of, remove_leftovers, suffixed, BatchReader, Filter, Written,
};
use txn::{control_of, TxnTracker};

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
    /// Records dropped: superseded by a later record with the same key, tombstones and
    /// transaction markers past their delete horizon, records of aborted transactions.
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
    /// Records at and above this offset are neither cleaned nor allowed to supersede older
    /// ones: the partition's high watermark, as in Kafka. A replica may truncate records
    /// above its high watermark, and a record compacted away for a later one that a
    /// truncation then removes would lose its key. The log alone does not know it;
    /// `i64::MAX` cleans up to the active segment. The pass lowers it further to the last
    /// stable offset it gives ([`Log::last_stable_offset`]): an undecided transaction is
    /// not cleaned.
    pub uncleanable_offset: i64,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            max_map_bytes: 128 << 20,
            io_buffer_bytes: 1 << 20,
            uncleanable_offset: i64::MAX,
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
    let last_records = log.producers().state().last_records();
    let uncleanable = log.last_stable_offset(opts.uncleanable_offset);
    let Some(plan) = plan(log, &cfg, &all, clean_offset, now_ms, uncleanable)? else {
        return Ok(None);
    };

    let mut map = OffsetMap::new(opts.max_map_bytes);
    let mut map_end = plan.dirty.start;
    let dirty_end = all[plan.dirty.end].base_offset;
    let mut map_txns = TxnTracker::new(log.aborted_transactions(plan.first_dirty, dirty_end));
    for (i, seg) in all
        .iter()
        .enumerate()
        .take(plan.dirty.end)
        .skip(plan.dirty.start)
    {
        let force = i == plan.dirty.start;
        if !map_segment(&mut map, seg, force, &mut map_txns, &cfg, opts)? {
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
        map_end: new_clean_offset,
        now_ms,
        delete_retention_ms: cfg.delete_retention_ms,
        decompress_limit: decompress_limit(&cfg),
        last_records: &last_records,
    };
    // One tracker for the whole rewrite: a transaction's data may lie in a group before the
    // one holding its marker.
    let rewrite_end = all[map_end].base_offset;
    let mut txns = TxnTracker::new(log.aborted_transactions(all[0].base_offset, rewrite_end));
    let mut stats = CleanStats {
        clean_offset: new_clean_offset,
        ..CleanStats::default()
    };
    let mut next_horizon: Option<i64> = None;
    for group in group_segments(&all, map_end, cfg.segment_bytes) {
        let segs = &all[group];
        let outcome = clean_group(log, &cfg, segs, &filter, &mut txns, opts)?;
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
    uncleanable_offset: i64,
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
    // Cleanable: sealed, wholly below the uncleanable offset, older than the lag.
    let lag_bound = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
    while dirty_end < sealed
        && all[dirty_end + 1].base_offset <= uncleanable_offset
        && all[dirty_end].max_timestamp_known()? <= lag_bound
    {
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
///
/// Built segment by segment. When the memory bound stops it part way through a segment,
/// that segment is not cleaned, and lookups bounded by its base offset must not see what
/// it added: every entry also keeps its offset from before the segment being mapped.
#[derive(Debug)]
struct OffsetMap {
    map: HashMap<Vec<u8>, Latest>,
    bytes: usize,
    limit: usize,
}

#[derive(Debug, Clone, Copy)]
struct Latest {
    offset: i64,
    /// The offset from the segments mapped before the one that set `offset`.
    before: Option<i64>,
}

/// What a map entry costs beyond its key bytes: the `Vec` header, the offsets and the hash
/// table's share.
const ENTRY_OVERHEAD: usize = 72;

impl OffsetMap {
    fn new(limit: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// The offset of the latest record with `key` below `end`, a segment boundary at or
    /// after the start of the last segment mapped.
    fn latest_below(&self, key: &[u8], end: i64) -> Option<i64> {
        let e = self.map.get(key)?;
        if e.offset < end {
            Some(e.offset)
        } else {
            e.before
        }
    }

    /// Records that `key` is at `offset`, in the segment based at `segment_base`. Returns
    /// false, adding nothing, when a new key would exceed the memory bound (unless `force`).
    fn put(&mut self, key: &[u8], offset: i64, segment_base: i64, force: bool) -> bool {
        if let Some(e) = self.map.get_mut(key) {
            if e.offset < segment_base {
                e.before = Some(e.offset);
            }
            e.offset = e.offset.max(offset);
            return true;
        }
        let cost = key.len() + ENTRY_OVERHEAD;
        if !force && self.bytes.saturating_add(cost) > self.limit {
            return false;
        }
        self.bytes += cost;
        let before = None;
        self.map.insert(key.to_vec(), Latest { offset, before });
        true
    }
}

/// Adds the keys of `seg` to the map, but not those of aborted transactions (`txns`).
/// Returns false when the map filled up part way: then the segment is not cleaned this
/// pass, and lookups end at its base offset.
fn map_segment(
    map: &mut OffsetMap,
    seg: &Segment,
    force: bool,
    txns: &mut TxnTracker,
    cfg: &LogConfig,
    opts: &CleanerOptions,
) -> Result<bool> {
    let limit = decompress_limit(cfg);
    let mut reader = BatchReader::new(seg, seg.size(), opts.io_buffer_bytes)?;
    let path = log_path_of(seg);
    while let Some((pos, bytes)) = reader.next()? {
        let h = batch::validate_batch(bytes, usize::MAX).map_err(|e| corrupt(&path, pos, e))?;
        if h.is_control() {
            let control = control_of(bytes, limit).map_err(|e| corrupt(&path, pos, e))?;
            txns.on_control(&h, control);
            continue;
        }
        if txns.on_data(&h) {
            continue;
        }
        let (_, section) =
            record::records_of_batch(bytes, limit).map_err(|e| corrupt(&path, pos, e))?;
        for r in RecordIter::new(&section, h.record_count) {
            let r = r.map_err(|e| corrupt(&path, pos, e))?;
            if let Some(key) = r.key {
                let offset = h.base_offset.saturating_add(i64::from(r.offset_delta));
                if !map.put(key, offset, seg.base_offset, force) {
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

    // `.cleaned` -> `.swap`: from the log's rename on, recovery completes the swap (and
    // without swapped offset or time indexes rebuilds them). The transaction index goes
    // before the log: recovery takes a swap without its `.txnindex.swap` for one whose
    // `.txnindex` is already in place.
    let to_swap = (|| {
        let kinds = [
            FileKind::TxnIndex,
            FileKind::Log,
            FileKind::Index,
            FileKind::TimeIndex,
        ];
        for kind in kinds {
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
        let kinds = [
            FileKind::TxnIndex,
            FileKind::Index,
            FileKind::TimeIndex,
            FileKind::Log,
        ];
        for kind in kinds {
            let from = suffixed(dir, base, kind, files::SWAP_SUFFIX);
            let to = files::segment_path(dir, base, kind);
            if kind == FileKind::TxnIndex && written.txn_entries.is_empty() {
                // No entries, no file (the old ones are gone already).
                fs.remove_file(&from).map_err(|e| LogError::io(&from, e))?;
                continue;
            }
            fs.rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
        }
        let seg = Segment::existing(fs.clone(), dir, base, cfg.segment_index_bytes)?;
        seg.txn_index.assume(written.txn_entries.clone());
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
