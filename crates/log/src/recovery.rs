//! Loading a log from its directory, in numbered passes:
//!
//! 1. Stray files: `.cleaned` (a compaction that did not finish) and `.deleted` files are
//!    removed; index files without their `.log` are removed.
//! 2. Swaps: a `.swap` segment is a finished compaction whose files were all written and
//!    synced before the rename that made them `.swap`. It replaces every segment whose base
//!    offset lies in `[swap base, swap next offset)`; those are removed and the swap files
//!    renamed to their final names.
//! 3. Segments: after a clean shutdown only the active segment's tail is read. After a
//!    crash every segment from the one holding the recovery point onward is scanned: every
//!    batch validated (lengths, magic, CRC, offsets increasing), the file cut at the first
//!    invalid byte, both indexes rebuilt. A cut segment takes every later segment with it.
//! 4. Offsets: log end offset from the last segment, log start offset from the checkpoint
//!    (never below the first segment), and after a crash a flush so that the recovery
//!    point is the log end offset.
//! 5. Producer state: the latest valid producer snapshot at or below the log end offset,
//!    then the batches after it (see `producer_log`); snapshots above the log end offset
//!    (the log was cut below them) and corrupt ones are removed.

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
    for name in &names {
        let Some((base, kind, suffix)) = files::parse_segment_file_name(name) else {
            continue;
        };
        match suffix {
            "" if kind == FileKind::Log => {
                logs.insert(base);
            }
            "" => indexes.push((base, name.clone())),
            files::CLEANED_SUFFIX | files::DELETED_SUFFIX => {
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
        let next = next_offset_of(fs.as_ref(), &swap_log, base)?;
        let replaced: Vec<i64> = logs.range(base..next.max(base + 1)).copied().collect();
        for old in &replaced {
            for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
                remove_if_exists(fs.as_ref(), &files::segment_path(&dir, *old, kind))?;
            }
            logs.remove(old);
        }
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let to = files::segment_path(&dir, base, kind);
            let from = files::with_suffix(&to, files::SWAP_SUFFIX);
            if fs.exists(&from) {
                fs.rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
            } else {
                // No swapped index: the stale one must not describe the new log.
                remove_if_exists(fs.as_ref(), &to)?;
            }
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

    let recover_from = if state.clean_shutdown {
        None
    } else {
        let rp = state.recovery_point.unwrap_or(0);
        Some(
            segs.range(..=rp)
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
            report.segments_recovered += 1;
            report.indexes_rebuilt += 1;
            report.bytes_truncated += outcome.truncated_bytes;
        }
    } else if let Some(from) = recover_from {
        let bases: Vec<i64> = segs.range(from..).map(|(b, _)| *b).collect();
        let mut prev_end = i64::MIN;
        for (i, base) in bases.iter().enumerate() {
            let seg = segs[base].clone();
            let outcome = seg.recover(cfg.index_interval_bytes, prev_end.max(*base))?;
            report.segments_recovered += 1;
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
    let loaded = log.producers().load(
        &seg_list,
        log_start,
        log_end,
        state.clean_shutdown,
        log.decode_limit(),
    )?;
    report.producer_snapshot = loaded.snapshot;
    report.producer_batches_replayed = loaded.replayed;
    if report.segments_recovered > 0 || report.stray_files_removed > 0 {
        info!(log = %log.name(), segments = report.segments, recovered = report.segments_recovered,
            cut_bytes = report.bytes_truncated, log_start, log_end, "log loaded");
    }
    Ok(report)
}
