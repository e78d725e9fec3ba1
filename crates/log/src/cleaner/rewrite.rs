//! Rewriting a group of segments into one cleaned segment: which records each batch keeps,
//! the rebuilt batches, and the `.cleaned` files with their indexes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use super::txn::{control_of, TxnTracker};
use super::{min_opt, CleanerOptions, OffsetMap};
use crate::batch::{
    self, BatchHeader, ATTR_CODEC_MASK, ATTR_DELETE_HORIZON, HEADER_LEN, LOG_OVERHEAD,
};
use crate::compression::Compression;
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::files::{self, FileKind};
use crate::io::{Fs, FsFile, OpenMode};
use crate::log::Log;
use crate::producer_state::LastRecord;
use crate::record::{self, BatchBuilder, RecordIter, RecordRef};
use crate::segment::Segment;
use crate::txn_index::AbortedTxn;

/// Kafka's NO_TIMESTAMP.
const NO_TIMESTAMP: i64 = -1;

/// The path of a segment's `.log` file.
pub(super) fn log_path_of(seg: &Segment) -> PathBuf {
    let [log, ..] = seg.paths();
    log
}

pub(super) fn corrupt(path: &Path, pos: u64, what: impl std::fmt::Display) -> LogError {
    let msg = format!("corrupt batch at position {pos}: {what}");
    LogError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg),
    )
}

/// Reads whole batches of a segment in order, through a buffer.
#[derive(Debug)]
pub(super) struct BatchReader {
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
    pub(super) fn new(seg: &Segment, limit: u64, chunk: usize) -> Result<Self> {
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
    pub(super) fn next(&mut self) -> Result<Option<(u64, &[u8])>> {
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
pub(super) struct Filter<'a> {
    pub(super) map: &'a OffsetMap,
    /// The end of the segments the map covers whole: only records below it supersede.
    pub(super) map_end: i64,
    pub(super) now_ms: i64,
    pub(super) delete_retention_ms: i64,
    pub(super) decompress_limit: usize,
    /// Each producer's last record as the pass began: its batch stays, if only empty, so
    /// that the producer state survives a replay of the cleaned log.
    pub(super) last_records: &'a HashMap<i64, LastRecord>,
}

#[derive(Debug)]
enum Kept {
    /// Every record stays: copy the batch as it is.
    Verbatim,
    /// Some records stay, or the delete horizon was set: the new batch.
    Rewritten(Vec<u8>),
    /// No record stays.
    Empty,
    /// An empty batch (emptied by an earlier pass) that needs keeping no more: it goes if
    /// the segment is rewritten anyway, but does not cause a rewrite by itself.
    AlreadyEmpty,
}

#[derive(Debug)]
struct Filtered {
    kept: Kept,
    removed: u64,
    /// The batch's delete horizon when it keeps a tombstone, or is a marker waiting to go.
    horizon: Option<i64>,
}

impl Filtered {
    fn verbatim() -> Self {
        Self {
            kept: Kept::Verbatim,
            removed: 0,
            horizon: None,
        }
    }
}

impl Filter<'_> {
    /// Is this the batch that holds its producer's last record (Kafka's
    /// `isBatchLastRecordOfProducer`)? Its last data batch, or, when the producer has none
    /// in its epoch, a marker of that epoch.
    fn is_last_of_producer(&self, h: &BatchHeader) -> bool {
        if h.producer_id < 0 {
            return false;
        }
        self.last_records
            .get(&h.producer_id)
            .is_some_and(|r| match r.last_data_offset {
                Some(offset) => h.last_offset() == offset,
                None => h.is_control() && h.producer_epoch == r.producer_epoch,
            })
    }

    /// What stays of the batch at `pos`, as Kafka's cleaner decides (`checkBatchRetention`,
    /// `shouldRetainRecord`): the records of aborted transactions go; a marker stays until
    /// its transaction has no data left and then until its delete horizon; other records
    /// go when superseded, tombstones after their horizon. A batch left without records
    /// goes, unless it holds its producer's last record: then it stays, empty.
    fn filter(
        &self,
        bytes: &[u8],
        h: &BatchHeader,
        path: &Path,
        pos: u64,
        txns: &mut TxnTracker,
    ) -> Result<Filtered> {
        let bad = |e: crate::error::BatchError| corrupt(path, pos, e);
        let control = if h.is_control() {
            Some(control_of(bytes, self.decompress_limit).map_err(bad)?)
        } else {
            None
        };
        // A marker of a transaction without data left, or a batch of an aborted one.
        let discardable = match control {
            Some(c) => txns.on_control(h, c),
            None => txns.on_data(h),
        };
        let horizon_passed = h.has_delete_horizon() && self.now_ms >= h.base_timestamp;
        let discard = discardable && (control.is_none() || horizon_passed);
        let last_of_producer = self.is_last_of_producer(h);
        if h.record_count == 0 {
            let kept = if last_of_producer {
                Kept::Verbatim
            } else {
                Kept::AlreadyEmpty
            };
            return Ok(Filtered {
                kept,
                ..Filtered::verbatim()
            });
        }
        if discard {
            let kept = if last_of_producer {
                Kept::Rewritten(empty_batch(h)?)
            } else {
                Kept::Empty
            };
            return Ok(Filtered {
                kept,
                removed: u64::try_from(h.record_count).unwrap_or(0),
                horizon: None,
            });
        }
        if control.is_some() {
            if !discardable {
                return Ok(Filtered::verbatim());
            }
            // KIP-534: the first cleaning that finds the transaction empty starts the
            // marker's delete horizon; a consumer that read the data before still meets it.
            if h.has_delete_horizon() {
                return Ok(Filtered {
                    horizon: Some(h.base_timestamp),
                    ..Filtered::verbatim()
                });
            }
            let horizon = self.now_ms.saturating_add(self.delete_retention_ms);
            let (_, section) =
                record::records_of_batch(bytes, self.decompress_limit).map_err(bad)?;
            let mut raw = Vec::with_capacity(section.len());
            for r in RecordIter::new(&section, h.record_count) {
                let r = r.map_err(bad)?;
                let ts = h.base_timestamp.wrapping_add(r.timestamp_delta);
                record::rewrite_record_timestamp_delta(r.raw, ts.wrapping_sub(horizon), &mut raw)
                    .map_err(bad)?;
            }
            let attributes = h.attributes | ATTR_DELETE_HORIZON;
            let rebuilt = rebuild(
                h,
                attributes,
                (horizon, h.max_timestamp),
                &raw,
                h.record_count,
            )?;
            return Ok(Filtered {
                kept: Kept::Rewritten(rebuilt),
                removed: 0,
                horizon: Some(horizon),
            });
        }
        let (_, section) = record::records_of_batch(bytes, self.decompress_limit).map_err(bad)?;
        let horizon_passed = h.has_delete_horizon() && self.now_ms >= h.base_timestamp;
        let mut kept: Vec<RecordRef<'_>> = Vec::new();
        let mut kept_tombstone = false;
        let mut removed = 0u64;
        for r in RecordIter::new(&section, h.record_count) {
            let r = r.map_err(bad)?;
            let offset = h.base_offset.saturating_add(i64::from(r.offset_delta));
            let superseded = r
                .key
                .and_then(|k| self.map.latest_below(k, self.map_end))
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
        } else if kept.is_empty() && last_of_producer {
            Kept::Rewritten(empty_batch(h)?)
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
            // As Kafka's rebuilt batches: a CreateTime batch's max timestamp is that of the
            // records it still holds, so that timestamp lookups land on a record.
            let max_timestamp = if h.is_log_append_time() {
                h.max_timestamp
            } else {
                kept.iter()
                    .map(|r| h.base_timestamp.wrapping_add(r.timestamp_delta))
                    .max()
                    .unwrap_or(h.max_timestamp)
            };
            let stamps = (base_timestamp, max_timestamp);
            Kept::Rewritten(rebuild(h, attributes, stamps, &raw, count)?)
        };
        Ok(Filtered {
            kept,
            removed,
            horizon,
        })
    }
}

/// `h` without its records: the same offsets, producer fields and epoch, so that the
/// producer state and the segment's end offset survive. No max timestamp, so that no
/// timestamp lookup stops at it; the original one is kept as its base timestamp, which
/// the producer state reads as the producer's last timestamp
/// (`ProducerBatch::from_header`). Uncompressed, and without a delete horizon: there is
/// nothing left to delete.
fn empty_batch(h: &BatchHeader) -> Result<Vec<u8>> {
    let base_timestamp = if h.max_timestamp >= 0 && h.record_count > 0 {
        h.max_timestamp
    } else {
        h.base_timestamp
    };
    let attributes = h.attributes & !(ATTR_CODEC_MASK | ATTR_DELETE_HORIZON);
    Ok(BatchBuilder {
        base_offset: h.base_offset,
        partition_leader_epoch: h.partition_leader_epoch,
        attributes,
        compression: Compression::None,
        last_offset_delta: h.last_offset_delta,
        base_timestamp,
        max_timestamp: NO_TIMESTAMP,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
    }
    .build(&[], 0)?)
}

/// A batch with `h`'s offsets, producer fields and epoch around `records`.
fn rebuild(
    h: &BatchHeader,
    attributes: i16,
    (base_timestamp, max_timestamp): (i64, i64),
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
        max_timestamp,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
    }
    .build(records, count)?)
}

/// The result of rewriting one group.
#[derive(Debug)]
pub(super) struct GroupOutcome {
    /// The cleaned segment, when anything changed.
    pub(super) written: Option<Written>,
    /// Sizes of the group's segments as read.
    pub(super) sizes: Vec<u64>,
    pub(super) records_removed: u64,
    pub(super) horizon: Option<i64>,
}

/// A cleaned segment in `.cleaned` files, synced.
#[derive(Debug)]
pub(super) struct Written {
    pub(super) base_offset: i64,
    pub(super) size: u64,
    /// What its `.txnindex` holds.
    pub(super) txn_entries: Vec<AbortedTxn>,
}

/// Rewrites `group` through `filter`; `txns` follows the whole pass, of which this group is
/// the next part.
pub(super) fn clean_group(
    log: &Log,
    cfg: &LogConfig,
    group: &[Arc<Segment>],
    filter: &Filter<'_>,
    txns: &mut TxnTracker,
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
                let f = filter.filter(bytes, &h, &path, pos, txns)?;
                out.records_removed += f.removed;
                out.horizon = min_opt(out.horizon, f.horizon);
                let unchanged = matches!(f.kept, Kept::Verbatim | Kept::AlreadyEmpty);
                if !unchanged && writer.is_none() {
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
                        w.append(bytes)?;
                    }
                    Kept::Rewritten(new) => {
                        pending_empty = None;
                        w.append(&new)?;
                    }
                    Kept::Empty | Kept::AlreadyEmpty => pending_empty = Some(h),
                }
            }
        }
        if let (Some(h), Some(w)) = (pending_empty, writer.as_mut()) {
            w.append(&empty_batch(&h)?)?;
        }
        // The index entries of the markers this group keeps.
        let entries = txns.take_kept();
        match writer.take() {
            Some(w) if w.batches > 0 => Ok(Some(w.finish(entries)?)),
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

pub(super) fn suffixed(dir: &Path, base: i64, kind: FileKind, suffix: &str) -> PathBuf {
    files::with_suffix(&files::segment_path(dir, base, kind), suffix)
}

/// Removes `<base>.*<suffix>` files, as well as it can: the `.log` first, so that a crash
/// part way never leaves a `.log.swap` without the rest.
pub(super) fn remove_leftovers(fs: &dyn Fs, dir: &Path, base: i64, suffix: &str) -> bool {
    let mut ok = true;
    for kind in FileKind::ALL {
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
        while let Some((_, bytes)) = reader.next()? {
            w.append(bytes)?;
        }
        Ok(w)
    }

    /// Appends a whole batch.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let h = BatchHeader::parse(bytes)?;
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

    /// Writes the rest, both indexes and the transaction index with `txn_entries`, all
    /// synced. The transaction index is written even without entries: its swap then tells
    /// recovery that a `.txnindex` left by the old segments is stale (see `recovery`).
    fn finish(mut self, txn_entries: Vec<AbortedTxn>) -> Result<Written> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| LogError::io(&self.path, e))?;
        let (offsets, times) = (self.index.finish())
            .map_err(|e| LogError::io(&self.path, std::io::Error::other(e)))?;
        let txns: Vec<u8> = txn_entries.iter().flat_map(|e| e.encode()).collect();
        let kinds = [
            (FileKind::Index, offsets),
            (FileKind::TimeIndex, times),
            (FileKind::TxnIndex, txns),
        ];
        for (kind, bytes) in kinds {
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
            txn_entries,
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
        let base = self.base_offset;
        offset
            .checked_sub(base)
            .and_then(|rel| i32::try_from(rel).ok())
            .ok_or_else(|| format!("offset {offset} does not fit a segment based at {base}"))
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
