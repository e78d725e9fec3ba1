//! Loading a log from its directory, in numbered passes:
//!
//! 1. Stray files: `.cleaned` (a compaction that did not finish), `.deleted` files and
//!    `.txnindex.tmp` (a rebuilt transaction index not yet renamed) are removed; index files
//!    without their `.log` are removed.
//! 2. Swaps: a `.swap` segment is a finished compaction whose files were all written and
//!    synced before the rename that made them `.swap`. It replaces every segment whose base
//!    offset lies in `[swap base, swap next offset)`; those are removed and the swap files
//!    renamed to their final names, the `.txnindex` first (see below).
//! 3. Segments: after a clean shutdown only the active segment's tail is read. After a
//!    crash every segment from the one holding the recovery point onward is scanned, both
//!    indexes rebuilt. The batches below the recovery point were durable before the crash,
//!    as Kafka trusts what lies below its recovery point: the walk starts past the last
//!    batch the offset index names below it (the checkpoint made those entries durable;
//!    `Segment::index_start` checks the entry against the log), and reads only headers
//!    from there up to the recovery point (lengths, magic, record count, offsets
//!    increasing; not the CRC, which needs the records). Every batch past it is read whole and validated, CRC and all,
//!    and the file is cut at the first invalid byte. A cut segment takes every later
//!    segment with it. A truncation that lowers a recovery point writes the checkpoint
//!    before anything is appended past the cut (`Log::lower_recovery_point`), so the
//!    recovery point read here never covers bytes that were not durable.
//!    Then the aborted-transaction indexes (`txn_index`): every `.txnindex` file is read and
//!    validated against its segment. Those of the segments scanned, whose entries may not
//!    match what the crash left of the log, are rebuilt in pass 6 from where the scan began
//!    to read headers (the entries below it are the file's prefix, synced with their
//!    markers); those that do not validate, whole. A scanned segment without any control
//!    batch from there on has no entries past it.
//! 4. Offsets: log end offset from the last segment, log start offset from the checkpoint
//!    (never below the first segment), and after a crash a flush so that the recovery
//!    point is the log end offset.
//! 5. Producer state: the latest valid producer snapshot at or below the log end offset,
//!    then the batches after it (see `producer_log`); snapshots above the log end offset
//!    (the log was cut below them) and corrupt ones are removed. When indexes are to be
//!    rebuilt, the replay starts at or below the first offset they are rebuilt from.
//! 6. Transaction indexes: each one to rebuild gets the ABORT markers the replay met in its
//!    segment, with the transaction the producer state knew (or, when the state knew of
//!    none because the transaction began below where the replay could start, the entry
//!    the old file had for that very marker). A file is replaced only if it changed.
//!
//! A cleaned segment's `.txnindex.swap` is always written (empty when it has no entries),
//! renamed to `.swap` before the log's, and renamed to its final name (or, empty, removed)
//! after the old segments' files are removed and before the log's swap is renamed. So in
//! pass 2, a swap without its `.txnindex.swap` had it handled already: a `.txnindex` there
//! is the new one and stays, where the other indexes without a swap are removed as stale
//! (they are rebuilt; a transaction index could only be, by a replay). A `.txnindex.swap`
//! still there replaces whatever `.txnindex` is left.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::error::{LogError, Result};
use crate::files::{self, FileKind};
use crate::io::{Fs, OpenMode};
use crate::log::{LoadReport, LoadState, Log};
use crate::segment::Segment;
use crate::txn_index::AbortedTxn;

fn remove_if_exists(fs: &dyn Fs, path: &Path) -> Result<bool> {
    match fs.remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LogError::io(path, e)),
    }
}

/// Removes every file in `dir` (not subdirectories).
pub(crate) fn remove_dir_contents(fs: &dyn Fs, dir: &Path) -> Result<()> {
    for name in fs.list_dir(dir).map_err(|e| LogError::io(dir, e))? {
        remove_if_exists(fs, &dir.join(name))?;
    }
    Ok(())
}

/// The offset after the last whole batch of the file at `path` (header scan only; the swap
/// file was validated when the cleaner wrote it, and pass 3 validates it again).
fn next_offset_of(fs: &dyn Fs, path: &Path, base_offset: i64) -> Result<i64> {
    let file = fs
        .open(path, OpenMode::Read)
        .map_err(|e| LogError::io(path, e))?;
    let len = file.len().map_err(|e| LogError::io(path, e))?;
    let mut pos = 0u64;
    let mut next = base_offset;
    let mut buf = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= len {
        file.read_exact_at(&mut buf, pos)
            .map_err(|e| LogError::io(path, e))?;
        let h = BatchHeader::parse(&buf)?;
        if h.batch_length < (HEADER_LEN - batch::LOG_OVERHEAD) as i32
            || pos + h.total_len() as u64 > len
        {
            break;
        }
        next = next.max(h.last_offset() + 1);
        pos += h.total_len() as u64;
    }
    Ok(next)
}

/// Whether the `.swap` log at `path` is what the cleaner writes before renaming it: at
/// least one batch, every byte in whole batches that validate (CRC included), offsets
/// increasing from `base_offset` on.
fn is_finished_swap(fs: &dyn Fs, path: &Path, base_offset: i64) -> Result<bool> {
    let file = fs
        .open(path, OpenMode::Read)
        .map_err(|e| LogError::io(path, e))?;
    let len = file.len().map_err(|e| LogError::io(path, e))?;
    let mut pos = 0u64;
    let mut next = base_offset;
    let mut head = [0u8; HEADER_LEN];
    let mut b = Vec::new();
    while pos < len {
        if len - pos < HEADER_LEN as u64 {
            return Ok(false);
        }
        file.read_exact_at(&mut head, pos)
            .map_err(|e| LogError::io(path, e))?;
        let total = batch::peek_total_len(&head).unwrap_or(0);
        if total < HEADER_LEN as i64 || total as u64 > len - pos {
            return Ok(false);
        }
        b.resize(total as usize, 0);
        file.read_exact_at(&mut b, pos)
            .map_err(|e| LogError::io(path, e))?;
        let Ok(h) = batch::validate_batch(&b, usize::MAX) else {
            return Ok(false);
        };
        if h.base_offset < next {
            return Ok(false);
        }
        next = h.last_offset() + 1;
        pos += total as u64;
    }
    Ok(len > 0)
}

pub(crate) fn load(log: &Log, state: LoadState) -> Result<LoadReport> {
    let fs = log.fs().clone();
    let dir = log.dir().to_path_buf();
    let cfg = log.config();
    let mut report = LoadReport::default();
    let names = fs.list_dir(&dir).map_err(|e| LogError::io(&dir, e))?;

    // Pass 1: stray files.
    let mut swaps = BTreeSet::new();
    let mut logs = BTreeSet::new();
    let mut indexes: Vec<(i64, String)> = Vec::new();
    let mut index_swaps: Vec<(i64, String)> = Vec::new();
    // Segments with a `.txnindex` file.
    let mut txn_files = BTreeSet::new();
    for name in &names {
        let Some((base, kind, suffix)) = files::parse_segment_file_name(name) else {
            continue;
        };
        match suffix {
            "" if kind == FileKind::Log => {
                logs.insert(base);
            }
            "" => {
                if kind == FileKind::TxnIndex {
                    txn_files.insert(base);
                }
                indexes.push((base, name.clone()))
            }
            files::CLEANED_SUFFIX | files::DELETED_SUFFIX | files::TMP_SUFFIX => {
                remove_if_exists(fs.as_ref(), &dir.join(name))?;
                report.stray_files_removed += 1;
            }
            files::SWAP_SUFFIX if kind == FileKind::Log => {
                swaps.insert(base);
            }
            files::SWAP_SUFFIX => index_swaps.push((base, name.clone())),
            _ => {}
        }
    }
    // An index swap without its log swap is a leftover: the indexes are rebuilt anyway.
    for (base, name) in index_swaps {
        if !swaps.contains(&base) {
            remove_if_exists(fs.as_ref(), &dir.join(&name))?;
            report.stray_files_removed += 1;
        }
    }

    // Pass 2: finish half-done swaps.
    for base in swaps {
        let swap_log = files::with_suffix(
            &files::segment_path(&dir, base, FileKind::Log),
            files::SWAP_SUFFIX,
        );
        if !is_finished_swap(fs.as_ref(), &swap_log, base)? {
            // Not what the cleaner renames to `.swap` (whole, valid batches, synced first):
            // a damaged or foreign file must not replace the segments it would cover.
            warn!(log = %log.name(), file = %swap_log.display(),
                "ignoring a .swap file that is not a whole compacted segment: removed, the segments stay");
            for kind in FileKind::ALL {
                let path =
                    files::with_suffix(&files::segment_path(&dir, base, kind), files::SWAP_SUFFIX);
                if remove_if_exists(fs.as_ref(), &path)? {
                    report.stray_files_removed += 1;
                }
            }
            continue;
        }
        let next = next_offset_of(fs.as_ref(), &swap_log, base)?;
        let replaced: Vec<i64> = logs.range(base..next.max(base + 1)).copied().collect();
        for old in &replaced {
            for kind in FileKind::ALL {
                remove_if_exists(fs.as_ref(), &files::segment_path(&dir, *old, kind))?;
            }
            logs.remove(old);
            txn_files.remove(old);
        }
        // The transaction index before the log: once the log's swap is gone, nothing
        // says which `.txnindex` is the new one.
        let kinds = [
            FileKind::TxnIndex,
            FileKind::Log,
            FileKind::Index,
            FileKind::TimeIndex,
        ];
        for kind in kinds {
            let to = files::segment_path(&dir, base, kind);
            let from = files::with_suffix(&to, files::SWAP_SUFFIX);
            let empty_txn_swap =
                kind == FileKind::TxnIndex && fs.file_len(&from).is_ok_and(|len| len == 0);
            if empty_txn_swap {
                remove_if_exists(fs.as_ref(), &to)?;
                remove_if_exists(fs.as_ref(), &from)?;
            } else if fs.exists(&from) {
                fs.rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
            } else if kind != FileKind::TxnIndex {
                // No swapped index: the stale one must not describe the new log.
                remove_if_exists(fs.as_ref(), &to)?;
            }
        }
        if fs.exists(&files::segment_path(&dir, base, FileKind::TxnIndex)) {
            txn_files.insert(base);
        }
        logs.insert(base);
        report.swaps_completed += 1;
        info!(log = %log.name(), base, replaced = replaced.len(), "completed an interrupted compaction swap");
    }
    // Index files whose log is gone.
    for (base, name) in indexes {
        if !logs.contains(&base) {
            remove_if_exists(fs.as_ref(), &dir.join(&name))?;
            report.stray_files_removed += 1;
            txn_files.remove(&base);
        }
    }
    if report.stray_files_removed > 0 || report.swaps_completed > 0 {
        fs.sync_dir(&dir).map_err(|e| LogError::io(&dir, e))?;
    }

    // Pass 3: segments.
    let mut segs: BTreeMap<i64, Arc<Segment>> = BTreeMap::new();
    for base in &logs {
        segs.insert(
            *base,
            Arc::new(Segment::existing(
                fs.clone(),
                &dir,
                *base,
                cfg.segment_index_bytes,
            )?),
        );
    }
    if segs.is_empty() {
        let base = state.log_start_offset.unwrap_or(0).max(0);
        segs.insert(
            base,
            Arc::new(Segment::create(
                fs.clone(),
                &dir,
                base,
                cfg.segment_index_bytes,
            )?),
        );
        log.mark_dir_dirty();
    }
    report.segments = segs.len();
    let last_base = *segs.keys().next_back().expect("at least one segment");
    // Segments scanned, with what the scan saw of their control batches.
    let mut scanned: BTreeMap<i64, Scanned> = BTreeMap::new();

    // Everything below the recovery point was durable before the crash.
    let durable_below = state.recovery_point.unwrap_or(0);
    let recover_from = if state.clean_shutdown {
        None
    } else {
        Some(
            segs.range(..=durable_below)
                .next_back()
                .map(|(b, _)| *b)
                .unwrap_or(i64::MIN),
        )
    };
    if state.clean_shutdown {
        let active = &segs[&last_base];
        if let Err(e) = active.load_for_append() {
            warn!(log = %log.name(), error = %e, "active segment does not match its index: recovering it");
            let prev_end = active.base_offset;
            let outcome = log.recover_segment(active, prev_end)?;
            scanned.insert(active.base_offset, Scanned::of(&outcome));
            report.segments_recovered += 1;
            report.bytes_validated += outcome.valid_bytes - outcome.trusted_bytes;
            report.indexes_rebuilt += 1;
            report.bytes_truncated += outcome.truncated_bytes;
        }
    } else if let Some(from) = recover_from {
        let bases: Vec<i64> = segs.range(from..).map(|(b, _)| *b).collect();
        let mut prev_end = i64::MIN;
        for (i, base) in bases.iter().enumerate() {
            let seg = segs[base].clone();
            let outcome =
                seg.recover(cfg.index_interval_bytes, prev_end.max(*base), durable_below)?;
            scanned.insert(*base, Scanned::of(&outcome));
            report.segments_recovered += 1;
            report.bytes_validated += outcome.valid_bytes - outcome.trusted_bytes;
            report.bytes_skipped += outcome.skipped_bytes;
            prev_end = seg.next_offset_hint();
            let is_last = i + 1 == bases.len();
            if !is_last {
                // Durably: a later crash must not bring back the untrimmed index lengths.
                seg.seal(true)?;
            }
            // On a log that is not compacted, a segment begins exactly where the one before
            // it ends. One that begins later follows a tail lost in the crash (the roll's
            // directory entry reached the disk before the data it follows), or a truncation
            // half done: like the segments after a cut, it cannot follow, and goes.
            let hole = !is_last && !cfg.cleanup_policy.compact && prev_end < bases[i + 1];
            if outcome.truncated_bytes > 0 || hole {
                report.bytes_truncated += outcome.truncated_bytes;
                warn!(log = %log.name(), segment = base, kept = outcome.valid_bytes,
                    cut = outcome.truncated_bytes, "recovery cut invalid bytes from a segment");
                // Later segments cannot follow a cut: remove them.
                for later in &bases[i + 1..] {
                    if let Some(s) = segs.remove(later) {
                        s.delete_files("")?;
                        report.segments_dropped += 1;
                    }
                }
                if !is_last {
                    // This segment is now the last: reopen its indexes for appending.
                    seg.offset_index
                        .open_for_append(Some(seg.offset_index.entries()))?;
                    seg.time_index
                        .open_for_append(Some(seg.time_index.entries()))?;
                    seg.load_for_append()?;
                }
                log.mark_dir_dirty();
                break;
            }
        }
    }

    let txn = load_txn_indexes(log, &segs, &txn_files, &scanned)?;

    // Pass 4: offsets.
    let first_base = *segs.keys().next().expect("at least one segment");
    let active = segs
        .values()
        .next_back()
        .expect("at least one segment")
        .clone();
    let log_end = active.next_offset_hint().max(active.base_offset);
    let log_start = state
        .log_start_offset
        .unwrap_or(first_base)
        .max(first_base)
        .min(log_end);
    let recovery_point = if state.clean_shutdown {
        log_end
    } else {
        state.recovery_point.unwrap_or(0).min(log_end)
    };
    let seg_list: Vec<Arc<Segment>> = segs.values().cloned().collect();
    *log.segments_mut() = segs;
    log.set_offsets(log_start, log_end, recovery_point);

    // Pass 5: producer state.
    let rebuild_from = txn.rebuild.values().map(|r| r.from).min();
    let loaded = log.producers().load(
        &seg_list,
        log_start,
        log_end,
        state.clean_shutdown,
        log.decode_limit(),
        rebuild_from,
    )?;
    report.producer_snapshot = loaded.snapshot;
    report.producer_batches_replayed = loaded.replayed;
    report.producer_span_bytes = loaded.span_bytes;

    // Pass 6: transaction indexes.
    let mut changed = 0;
    for (i, seg) in seg_list.iter().enumerate() {
        let end = seg_list.get(i + 1).map_or(i64::MAX, |s| s.base_offset);
        let fresh = if let Some(kept) = txn.settled.get(&seg.base_offset) {
            kept.clone()
        } else if let Some(r) = txn.rebuild.get(&seg.base_offset) {
            let from = r.from.max(seg.base_offset);
            let mut fresh = r.kept.clone();
            fresh.extend(
                loaded
                    .aborts
                    .iter()
                    .filter(|m| from <= m.offset && m.offset < end)
                    .filter_map(|m| {
                        m.txn.or_else(|| {
                            r.old
                                .iter()
                                .find(|e| {
                                    e.last_offset == m.offset && e.producer_id == m.producer_id
                                })
                                .copied()
                        })
                    }),
            );
            fresh
        } else {
            continue;
        };
        if seg.txn_index.replace(fresh)? {
            changed += 1;
        }
    }
    if changed > 0 {
        info!(log = %log.name(), indexes = changed, "rebuilt aborted-transaction indexes");
        log.mark_dir_dirty();
    }
    report.txn_indexes_rebuilt = changed;
    if report.segments_recovered > 0 || report.stray_files_removed > 0 {
        info!(log = %log.name(), segments = report.segments, recovered = report.segments_recovered,
            cut_bytes = report.bytes_truncated, log_start, log_end, "log loaded");
    }
    Ok(report)
}

/// What the recovery scan of a segment saw of its control batches.
#[derive(Debug, Clone, Copy)]
struct Scanned {
    /// Control batches among the batches whose headers it read.
    controls: u64,
    /// Below this offset it read no header (see `RecoveryOutcome::skipped_below`).
    skipped_below: Option<i64>,
}

impl Scanned {
    fn of(outcome: &crate::segment::RecoveryOutcome) -> Self {
        Self {
            controls: outcome.control_batches,
            skipped_below: outcome.skipped_below,
        }
    }
}

/// A transaction index pass 6 rebuilds from the log.
#[derive(Debug)]
struct Rebuild {
    /// The entries of markers from here on come from the replay.
    from: i64,
    /// The entries of markers below `from`, from the file.
    kept: Vec<AbortedTxn>,
    /// The old entries that may stand in for a transaction the replay cannot see begin.
    old: Vec<AbortedTxn>,
}

/// The transaction indexes pass 6 rewrites.
#[derive(Debug, Default)]
struct TxnRebuild {
    /// Segments whose index is rebuilt from the log.
    rebuild: BTreeMap<i64, Rebuild>,
    /// Scanned segments whose entries are known without the log: none past where the scan
    /// began to read headers (it met no control batch), those the file holds below it.
    settled: BTreeMap<i64, Vec<AbortedTxn>>,
}

/// Pass 3, transaction indexes: reads the `.txnindex` of every segment that has one
/// (`txn_files`), and decides which are rebuilt: those of the `scanned` segments where the
/// scan met control batches (from where it began to read headers: the entries below that
/// are the file's), and those that do not validate.
fn load_txn_indexes(
    log: &Log,
    segs: &BTreeMap<i64, Arc<Segment>>,
    txn_files: &BTreeSet<i64>,
    scanned: &BTreeMap<i64, Scanned>,
) -> Result<TxnRebuild> {
    let mut out = TxnRebuild::default();
    let bases: Vec<i64> = segs.keys().copied().collect();
    for (i, base) in bases.iter().enumerate() {
        let seg = &segs[base];
        let end = bases
            .get(i + 1)
            .copied()
            .unwrap_or_else(|| seg.next_offset_hint().max(*base));
        let has_file = txn_files.contains(base);
        match scanned.get(base) {
            Some(sc) => {
                let (from, kept) = match sc.skipped_below {
                    Some(below) if has_file => {
                        (below, seg.txn_index.read_prefix(below, seg.size())?)
                    }
                    Some(below) => (below, Vec::new()),
                    None => (*base, Vec::new()),
                };
                // The entries the crash left for markers that are still there (the load
                // also tells the index what its file holds, for pass 6 to replace).
                let mut old = Vec::new();
                if has_file && seg.txn_index.load(i64::MAX, seg.size())?.is_ok() {
                    old = seg.txn_index.entries();
                    old.retain(|e| e.last_offset < end);
                }
                if sc.controls == 0 {
                    out.settled.insert(*base, kept);
                } else {
                    out.rebuild.insert(*base, Rebuild { from, kept, old });
                }
            }
            None if has_file => {
                if let Err(e) = seg.txn_index.load(end, seg.size())? {
                    warn!(log = %log.name(), segment = base, error = %e,
                        "rebuilding a transaction index that does not match its segment");
                    let whole = Rebuild {
                        from: *base,
                        kept: Vec::new(),
                        old: Vec::new(),
                    };
                    out.rebuild.insert(*base, whole);
                }
            }
            None => {}
        }
    }
    Ok(out)
}
