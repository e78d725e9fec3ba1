//! A partition's log: an ordered set of segments with one active segment at the end.
//!
//! Offsets, always qualified:
//! - `log_start_offset`: the first offset a reader may ask for (moves forward with
//!   retention and DeleteRecords);
//! - `log_end_offset`: the offset the next appended record gets;
//! - `recovery_point`: every offset below it is known durable; recovery after a crash reads
//!   whole (and checks the CRC of) only the batches at or above it, walking the headers of
//!   those below.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::batch::{self, HEADER_LEN};
use crate::config::{LogConfig, TimestampType};
use crate::error::{BatchError, LogError, Result};
use crate::files::{self, FileKind};
use crate::io::Fs;
use crate::producer_log::ProducerLog;
use crate::producer_state::{AppendCheck, AppendOrigin, ProducerBatch, ProducerStateEntry};
use crate::segment::{BatchMeta, FileSlice, RecoveryOutcome, Segment};

#[cfg(test)]
mod tests;
mod timestamps;
mod txn;

/// Options of one append.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// Stamped into every batch's partitionLeaderEpoch.
    pub leader_epoch: i32,
    /// The wall clock, in ms: LogAppendTime and `segment.ms` use it.
    pub now_ms: i64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended (of a duplicate: of the original batch).
    pub base_offset: i64,
    /// Offset of the last record appended (of a duplicate: of the original batch).
    pub last_offset: i64,
    /// The broker time stamped on the batches with LogAppendTime (of a duplicate: the
    /// original's), else -1.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended (0 for a duplicate).
    pub record_count: i64,
    /// Bytes appended (0 for a duplicate).
    pub bytes: u64,
    /// The append repeated an idempotent producer's batch already in the log: nothing was
    /// written, and the offsets are the original's. The producer is answered as for the
    /// original (once the original is durable: wait as for any append).
    pub duplicate: bool,
}

/// What a read found.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches starting with the one holding the requested offset; None when there
    /// is nothing (yet) within the bounds.
    pub slice: Option<FileSlice>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// What opening a log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub segments: usize,
    /// Segments whose batches were scanned and validated.
    pub segments_recovered: usize,
    /// Bytes of those segments read whole and validated, CRC and all: those at or past
    /// the recovery point (the batches below it were walked by their headers).
    pub bytes_validated: u64,
    /// Bytes below the recovery point that recovery skipped by the offset index of the
    /// segment holding it, reading neither their headers nor their records.
    pub bytes_skipped: u64,
    /// Bytes cut by recovery.
    pub bytes_truncated: u64,
    /// Segments removed because an earlier one was cut.
    pub segments_dropped: usize,
    /// Indexes found corrupt or missing and rebuilt.
    pub indexes_rebuilt: usize,
    /// Half-finished compaction swaps completed or rolled back, stray files removed.
    pub stray_files_removed: usize,
    pub swaps_completed: usize,
    /// The producer snapshot the producer state was loaded from.
    pub producer_snapshot: Option<i64>,
    /// Batches with a producer id read from the log to rebuild the producer state.
    pub producer_batches_replayed: u64,
    /// Bytes of log from that snapshot (or the log start, without one) to the log end.
    pub producer_span_bytes: u64,
    /// Aborted-transaction indexes rewritten or removed because they did not match the
    /// log (segments scanned after a crash, files that failed validation).
    pub txn_indexes_rebuilt: usize,
}

/// What the log knows of its previous life.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadState {
    /// The data directory was shut down cleanly: nothing needs scanning.
    pub clean_shutdown: bool,
    /// From the recovery point checkpoint.
    pub recovery_point: Option<i64>,
    /// From the log start offset checkpoint.
    pub log_start_offset: Option<i64>,
}

/// What retention removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
}

/// A log not flushed at every append asks for a write-behind every this many bytes.
pub(crate) const WRITE_BEHIND_BYTES: u64 = 1 << 20;

/// One partition's log.
#[derive(Debug)]
pub struct Log {
    topic: String,
    partition: i32,
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    config: RwLock<Arc<LogConfig>>,
    /// By base offset; the last is the active segment. Readers clone what they need out
    /// of a short read lock.
    segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    /// Serializes appends, rolls, truncation and segment deletion.
    append_lock: Mutex<()>,
    /// Serializes flushes.
    flush_lock: Mutex<()>,
    log_end_offset: AtomicI64,
    log_start_offset: AtomicI64,
    recovery_point: AtomicI64,
    /// Records appended since the last flush (for `flush.messages`).
    unflushed_messages: AtomicI64,
    /// When the log was last flushed (for `flush.ms`).
    last_flush_ms: AtomicI64,
    /// New segment files whose directory entries are not yet synced.
    dir_dirty: AtomicBool,
    /// Bytes appended since the last write-behind was asked for, and whether one is
    /// waiting for the write-behind thread.
    since_write_behind: AtomicU64,
    write_behind_queued: AtomicBool,
    /// Set after an I/O error that leaves the log's state unknown: every later operation
    /// fails until the broker restarts and recovers it.
    offline: AtomicBool,
    /// Idempotent and transactional producers, and their snapshots.
    producers: ProducerLog,
    /// Writes the recovery point checkpoint that holds this log's (set by the
    /// [`crate::LogManager`] that owns the log).
    checkpointer: OnceLock<Checkpointer>,
}

/// What writes the recovery point checkpoint of a log: recovery after a crash trusts every
/// batch below the checkpointed recovery point without reading its records, so a
/// truncation below it must reach the checkpoint before anything is appended past the cut.
pub(crate) struct Checkpointer(pub(crate) Box<dyn Fn() -> Result<()> + Send + Sync>);

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

/// The bytes at the start of a batch that an append stamps (base offset, batch length,
/// partition leader epoch): before the CRC's range, so the CRC stays valid.
const STAMPED_PREFIX: usize = batch::LEADER_EPOCH_AT + 4;

impl Log {
    /// Opens (or creates) the log in `dir`, recovering it as `state` requires.
    pub fn open(
        fs: Arc<dyn Fs>,
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        state: LoadState,
        now_ms: i64,
    ) -> Result<(Self, LoadReport)> {
        config.validate()?;
        let created = !fs.is_dir(dir);
        fs.create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        if created {
            fs.sync_dir(&crate::io::parent_of(dir))
                .map_err(|e| LogError::io(dir, e))?;
        }
        let producers =
            ProducerLog::new(fs.clone(), dir, files::partition_dir_name(topic, partition));
        let log = Log {
            topic: topic.to_string(),
            partition,
            dir: dir.to_path_buf(),
            fs,
            config: RwLock::new(Arc::new(config)),
            segments: RwLock::new(BTreeMap::new()),
            append_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            log_end_offset: AtomicI64::new(0),
            log_start_offset: AtomicI64::new(0),
            recovery_point: AtomicI64::new(0),
            unflushed_messages: AtomicI64::new(0),
            last_flush_ms: AtomicI64::new(now_ms),
            dir_dirty: AtomicBool::new(false),
            since_write_behind: AtomicU64::new(0),
            write_behind_queued: AtomicBool::new(false),
            offline: AtomicBool::new(false),
            producers,
            checkpointer: OnceLock::new(),
        };
        let report = crate::recovery::load(&log, state)?;
        // What recovery kept or cut may sit only in the page cache: make it durable, so
        // that the recovery point can move to the log end offset (after a clean shutdown
        // this syncs nothing dirty and costs next to nothing).
        log.flush(now_ms)?;
        // Everything is durable now: a snapshot at the log end spares the next open the
        // replay this one did (or, for a log from before producer state, a whole scan),
        // when that is worth its two syncs: below a MiB, a later checkpoint takes one once
        // the log holds 256 KiB past its last (a crash start of thousands of small logs
        // would otherwise sync twice per log before it is ready).
        let end = log.log_end_offset();
        log.producers.state().forget_completed_below(end);
        if report.producer_span_bytes >= crate::producer_log::OPEN_SNAPSHOT_MIN_BYTES
            && !log.producers.has_snapshot_at(end)
            && (end > log.log_start_offset() || !log.producers.state().is_empty())
        {
            // Only a shortcut for the next open: a full disk must not stop this one.
            if let Err(e) = log.producers.write_now(end) {
                warn!(log = %log.name(), error = %e, "writing the producer snapshot at open failed");
            }
        }
        // Everything read at open is synced now: give the descriptors back, so that a
        // broker with thousands of idle partitions holds none for them (index maps hold
        // no descriptor). Files reopen on first use.
        for seg in log.segments.read().values() {
            seg.release_file();
        }
        Ok((log, report))
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn partition(&self) -> i32 {
        self.partition
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub(crate) fn fs(&self) -> &Arc<dyn Fs> {
        &self.fs
    }
    pub fn config(&self) -> Arc<LogConfig> {
        self.config.read().clone()
    }
    /// Replaces the configuration; it applies from the next operation on.
    pub fn update_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        *self.config.write() = Arc::new(config);
        Ok(())
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    pub fn unflushed_messages(&self) -> i64 {
        self.unflushed_messages.load(Ordering::Acquire)
    }
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms.load(Ordering::Acquire)
    }
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }
    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.read().values().map(|s| s.size()).sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }
    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.read().keys().copied().collect()
    }

    pub(crate) fn segments_snapshot(&self) -> Vec<Arc<Segment>> {
        self.segments.read().values().cloned().collect()
    }
    pub(crate) fn segments_mut(
        &self,
    ) -> parking_lot::RwLockWriteGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segments.write()
    }
    pub(crate) fn append_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.append_lock.lock()
    }
    pub(crate) fn set_offsets(&self, log_start: i64, log_end: i64, recovery_point: i64) {
        self.log_start_offset.store(log_start, Ordering::Release);
        self.log_end_offset.store(log_end, Ordering::Release);
        self.recovery_point.store(recovery_point, Ordering::Release);
    }
    pub(crate) fn mark_dir_dirty(&self) {
        self.dir_dirty.store(true, Ordering::Release);
    }
    pub(crate) fn producers(&self) -> &ProducerLog {
        &self.producers
    }
    /// The bound on a batch's decompressed records, for the scans that decode them.
    pub(crate) fn decode_limit(&self) -> usize {
        self.config().max_message_bytes.max(1 << 20) * 64
    }

    /// Counts `bytes` appended to a log not flushed at every append; true when a
    /// write-behind is due ([`WRITE_BEHIND_BYTES`] since the last) and none is queued:
    /// the caller queues one ([`Self::write_behind`]).
    pub(crate) fn note_for_write_behind(&self, bytes: u64) -> bool {
        let since = self.since_write_behind.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if since < WRITE_BEHIND_BYTES || self.write_behind_queued.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.since_write_behind.store(0, Ordering::Release);
        true
    }

    /// Starts the writeback of what the active segment holds beyond the last write-behind
    /// (without waiting, without making it durable). A log flushed only by `flush.ms`
    /// otherwise leaves a second of appends to one fdatasync, whose writeback then holds
    /// page-cache folios and the inode's block-allocation lock for long enough that
    /// appends wait behind it (p99 at half the peak 9.5 to 569 ms in the relaxed scenario,
    /// under 1 ms with no `flush.ms` flush at all: `docs/performance.md`, tenth round).
    pub fn write_behind(&self) -> Result<()> {
        self.write_behind_queued.store(false, Ordering::Release);
        if self.is_offline() {
            return Ok(());
        }
        self.active()?.write_behind()
    }

    fn active(&self) -> Result<Arc<Segment>> {
        self.segments
            .read()
            .values()
            .next_back()
            .cloned()
            .ok_or_else(|| LogError::Offline(self.name()))
    }

    pub fn name(&self) -> String {
        files::partition_dir_name(&self.topic, self.partition)
    }

    fn check_online(&self) -> Result<()> {
        if self.is_offline() {
            return Err(LogError::Offline(self.name()));
        }
        Ok(())
    }

    /// Takes the log offline: every later operation fails (the log is being deleted).
    pub(crate) fn set_offline(&self) {
        self.offline.store(true, Ordering::Release);
    }

    /// Marks the log offline after an I/O error whose effect on the files is unknown.
    pub(crate) fn fail<T>(&self, e: LogError) -> Result<T> {
        if e.is_storage() {
            warn!(log = %self.name(), error = %e, "storage error: taking the log offline");
            self.offline.store(true, Ordering::Release);
        }
        Err(e)
    }

    /// Makes the index entries below `recovery_point` durable, before a checkpoint records
    /// it: recovery after a crash starts its walk of the segment holding the recovery point
    /// from the last of them (the segments before it were sealed, their indexes synced).
    /// Every entry below a recovery point was written before the recovery point passed it.
    pub(crate) fn sync_indexes_below(&self, recovery_point: i64) -> Result<()> {
        match self.segment_holding(recovery_point) {
            Some(seg) => seg.sync_indexes(),
            None => Ok(()),
        }
    }

    /// Whether [`Self::sync_indexes_below`] has anything to sync.
    pub(crate) fn indexes_dirty_below(&self, recovery_point: i64) -> bool {
        self.segment_holding(recovery_point)
            .is_some_and(|seg| seg.indexes_dirty())
    }

    /// The segment whose base offset is the last at or below `offset`.
    fn segment_holding(&self, offset: i64) -> Option<Arc<Segment>> {
        self.segments
            .read()
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone())
    }

    /// Sets what writes this log's recovery point checkpoint (once; later calls are
    /// ignored). A log without one (opened alone, not by a manager) has no checkpoint to
    /// keep in step.
    pub(crate) fn set_checkpointer(&self, checkpointer: Checkpointer) {
        let _ = self.checkpointer.set(checkpointer);
    }

    /// Lowers the recovery point to `end` after a truncation, with the flush and append
    /// locks held, and writes the checkpoint before they are released when it moved: the
    /// checkpoint may hold the old one, and a recovery after a crash would trust whatever
    /// was appended past the cut below it without reading it. A log whose checkpoint
    /// cannot be written goes offline, so that nothing is appended under the stale one.
    fn lower_recovery_point(&self, end: i64) -> Result<()> {
        let before = self.recovery_point.fetch_min(end, Ordering::AcqRel);
        if before <= end {
            return Ok(());
        }
        let Some(checkpointer) = self.checkpointer.get() else {
            return Ok(());
        };
        (checkpointer.0)().inspect_err(|e| {
            warn!(log = %self.name(), error = %e,
                "writing the lowered recovery point failed: taking the log offline");
            self.offline.store(true, Ordering::Release);
        })
    }

    /// Appends the batches laid end to end in `buf` (as a Produce request carries them).
    ///
    /// Every batch is validated before anything is written: magic 2, lengths, CRC-32C,
    /// record count against the last offset delta, `max.message.bytes`, and on a compacted
    /// log a key on every record. Then, under the append lock, offsets are assigned and the
    /// batches with a producer id are checked against the producer state as a whole
    /// ([`crate::producer_state`]): a refused one fails the append with nothing written,
    /// and a retry of a batch already written returns the original's offsets with
    /// [`AppendInfo::duplicate`] set, writing nothing. Then the batches are written with
    /// their offsets and the leader epoch stamped: `buf` is not copied, each batch's first
    /// 16 bytes (base offset, length, leader epoch: outside the CRC) are stamped in a copy
    /// and written with the rest of the batch in one gathering write. LogAppendTime also
    /// rewrites the max timestamp and the CRC, on a copy of `buf`. The append is durable
    /// only after a flush that covers `last_offset` (see [`crate::LogManager::flush_to`]).
    pub fn append(&self, buf: &[u8], opts: &AppendOptions) -> Result<AppendInfo> {
        self.append_with_origin(buf, opts, AppendOrigin::Client)
    }

    /// [`Self::append`] for `origin`: a [`AppendOrigin::Coordinator`] append (a group
    /// coordinator's transactional offset commit) may carry a producer id with no sequence,
    /// and is neither sequence-checked nor deduplicated; its epoch is still checked and its
    /// batches still open the producer's transaction, as for Kafka's
    /// `AppendOrigin.COORDINATOR`.
    pub fn append_with_origin(
        &self,
        buf: &[u8],
        opts: &AppendOptions,
        origin: AppendOrigin,
    ) -> Result<AppendInfo> {
        self.check_online()?;
        let cfg = self.config();
        let mut metas = Vec::new();
        // (index in `metas`, the batch) for every batch with a producer id.
        let mut producer_batches: Vec<(usize, ProducerBatch)> = Vec::new();
        let mut pos = 0usize;
        let mut records = 0i64;
        let append_time = cfg.message_timestamp_type == TimestampType::LogAppendTime;
        let limit = cfg.max_message_bytes.max(1 << 20) * 64;
        while pos < buf.len() {
            let rest = &buf[pos..];
            let total = batch::peek_total_len(rest).ok_or(BatchError::Truncated {
                need: batch::LOG_OVERHEAD,
                have: rest.len(),
            })?;
            if total < HEADER_LEN as i64 || total > rest.len() as i64 {
                return Err(BatchError::LengthMismatch {
                    declared: total.max(0) as usize,
                    actual: rest.len(),
                }
                .into());
            }
            let total = total as usize;
            let h = batch::validate_incoming(&rest[..total], cfg.max_message_bytes)?;
            crate::scan::validate_records(&rest[..total], limit, cfg.cleanup_policy.compact)?;
            let max_timestamp = if append_time {
                opts.now_ms
            } else {
                h.max_timestamp
            };
            if h.producer_id >= 0 {
                // Kafka's LogValidator: a client's idempotent data batch carries a sequence.
                if origin == AppendOrigin::Client && !h.is_control() && h.base_sequence < 0 {
                    return Err(BatchError::InvalidRecord(format!(
                        "invalid sequence number {} in a batch of producer {}",
                        h.base_sequence, h.producer_id
                    ))
                    .into());
                }
                if let Some(mut b) = ProducerBatch::from_batch(&buf[pos..pos + total], limit)? {
                    b.max_timestamp = max_timestamp;
                    producer_batches.push((metas.len(), b));
                }
            }
            records += i64::from(h.record_count);
            metas.push(BatchMeta {
                position: pos,
                len: total,
                last_offset: i64::from(h.last_offset_delta),
                max_timestamp,
            });
            pos += total;
        }
        if metas.is_empty() {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: 0,
            }
            .into());
        }

        // LogAppendTime rewrites bytes under the CRC: on a copy, before the append lock.
        // Otherwise the batches are written from `buf` with only their stamped prefixes
        // copied.
        let rewritten = append_time.then(|| {
            let mut copy = buf.to_vec();
            for m in &metas {
                batch::set_log_append_time(&mut copy[m.position..m.position + m.len], opts.now_ms);
            }
            copy
        });
        let _guard = self.append_lock.lock();
        self.check_online()?;
        let base_offset = self.log_end_offset();
        let mut next = base_offset;
        let mut bases = Vec::with_capacity(metas.len());
        for m in &mut metas {
            bases.push(next);
            m.last_offset += next;
            next = m.last_offset + 1;
        }
        let last_offset = next - 1;
        // The producer checks, on the offsets the batches would get; applied once written.
        let producer_update = if producer_batches.is_empty() {
            None
        } else {
            let batches: Vec<ProducerBatch> = producer_batches
                .iter()
                .map(|(i, b)| ProducerBatch {
                    base_offset: bases[*i],
                    last_offset: metas[*i].last_offset,
                    ..*b
                })
                .collect();
            let check = self.producers.state().check_append_from(&batches, origin)?;
            match check {
                AppendCheck::Valid(update) => Some(update),
                AppendCheck::Duplicate(original) => {
                    return Ok(AppendInfo {
                        base_offset: original.first_offset,
                        last_offset: original.last_offset,
                        log_append_time_ms: if append_time {
                            original.max_timestamp
                        } else {
                            -1
                        },
                        log_start_offset: self.log_start_offset(),
                        record_count: 0,
                        bytes: 0,
                        duplicate: true,
                    });
                }
            }
        };
        let src = rewritten.as_deref().unwrap_or(buf);
        let prefixes: Vec<[u8; STAMPED_PREFIX]> = metas
            .iter()
            .zip(&bases)
            .map(|(m, base)| {
                let mut prefix = [0u8; STAMPED_PREFIX];
                prefix.copy_from_slice(&src[m.position..m.position + STAMPED_PREFIX]);
                batch::stamp_offset_and_epoch(&mut prefix, *base, opts.leader_epoch);
                prefix
            })
            .collect();
        let parts: Vec<&[u8]> = metas
            .iter()
            .zip(&prefixes)
            .flat_map(|(m, prefix)| {
                [
                    &prefix[..],
                    &src[m.position + STAMPED_PREFIX..m.position + m.len],
                ]
            })
            .collect();
        let result: Result<Arc<Segment>> = (|| {
            let max_timestamp = metas.iter().map(|m| m.max_timestamp).max().unwrap_or(-1);
            let active = self.maybe_roll(buf.len() as u64, last_offset, max_timestamp, &cfg)?;
            active.append(&parts, &metas, cfg.index_interval_bytes)?;
            Ok(active)
        })();
        let active = match result {
            Ok(active) => active,
            // A full disk: the roll or the segment append undid what it began (see
            // `Segment::append`, `roll_locked`), nothing is published, and the log stays
            // online for reads and for the appends that fit once space is freed.
            Err(e) if e.is_no_space() => {
                warn!(log = %self.name(), error = %e, "append failed: no space left on the device");
                return Err(e);
            }
            Err(e) => return self.fail(e),
        };
        if let Some(update) = producer_update {
            // Before the log end offset moves: whoever computes a last stable offset from
            // it sees the transactions these batches open, and a read_committed fetch of
            // an ABORT marker finds its transaction in the index.
            let completed = {
                let mut state = self.producers.state();
                let completed = state.apply_with_lso(update);
                state.forget_completed_below(self.recovery_point());
                completed
            };
            if let Err(e) = self.index_aborted(&active, &completed) {
                return self.fail(e);
            }
        }
        self.log_end_offset.store(next, Ordering::Release);
        self.unflushed_messages.fetch_add(records, Ordering::AcqRel);
        // In the middle of a segment too, so that a crash replays a bounded stretch.
        self.producers.note_appended(buf.len() as u64, next);
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: if append_time { opts.now_ms } else { -1 },
            log_start_offset: self.log_start_offset(),
            record_count: records,
            bytes: buf.len() as u64,
            duplicate: false,
        })
    }

    /// The first offset that is not yet stable given `high_watermark`: the first offset of
    /// the earliest open transaction, or of a completed one whose COMMIT or ABORT marker
    /// is at or above the high watermark. The last stable offset (what `read_committed`
    /// consumers may read up to) is `min(this, high_watermark)`. None when every
    /// transaction below the high watermark is decided.
    pub fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        self.producers.state().first_unstable_offset(high_watermark)
    }

    /// What the log knows of `producer_id` (tests).
    pub fn producer_entry(&self, producer_id: i64) -> Option<ProducerStateEntry> {
        self.producers.state().entry(producer_id).cloned()
    }

    /// Every producer the log knows (DescribeProducers), by producer id.
    pub fn active_producers(&self) -> Vec<ProducerStateEntry> {
        let mut all: Vec<_> = self.producers.state().entries().cloned().collect();
        all.sort_by_key(|e| e.producer_id);
        all
    }

    /// Forgets the producers idle for `expiration_ms` (`producer.id.expiration.ms`) without
    /// an open transaction. Returns how many.
    pub fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        let _guard = self.append_lock.lock();
        self.producers.state().remove_expired(now_ms, expiration_ms)
    }

    /// Rolls the active segment if `bytes` more up to `last_offset` do not fit it, or if
    /// the batches to append (largest timestamp `max_timestamp`) lie more than
    /// `segment.ms` after its first batch. Returns the segment to append to. Caller holds
    /// the append lock.
    ///
    /// As Kafka's `LogSegment.shouldRoll`, the age is measured in record time, not against
    /// the clock: a producer replaying old events (CreateTime years ago) fills segments as
    /// usual instead of rolling one per append.
    fn maybe_roll(
        &self,
        bytes: u64,
        last_offset: i64,
        max_timestamp: i64,
        cfg: &LogConfig,
    ) -> Result<Arc<Segment>> {
        let active = self.active()?;
        let too_old = !active.is_empty()
            && active.rolling_timestamp() >= 0
            && max_timestamp.saturating_sub(active.rolling_timestamp()) > cfg.segment_ms;
        if too_old || active.would_overflow(bytes, last_offset, cfg.segment_bytes) {
            return self.roll_locked(&active, cfg);
        }
        Ok(active)
    }

    /// Seals `active` and starts a new segment at the log end offset. Caller holds the
    /// append lock.
    fn roll_locked(&self, active: &Arc<Segment>, cfg: &LogConfig) -> Result<Arc<Segment>> {
        let base = self.log_end_offset();
        if active.is_empty() && active.base_offset == base {
            return Ok(active.clone());
        }
        // The new segment first: on a full disk its creation fails and removes what it
        // made, leaving `active` as it was (NoSpace keeps the log online). Sealing needs
        // no new blocks (its last time index entry was reserved by the appends), so an
        // error there is a real I/O error.
        let seg = Arc::new(Segment::create(
            self.fs.clone(),
            &self.dir,
            base,
            cfg.segment_index_bytes,
        )?);
        if let Err(e) = active.seal(true) {
            return Err(match e {
                LogError::NoSpace { path, source } => LogError::Io { path, source },
                e => e,
            });
        }
        // The producer state as of the new segment's base, written once the log below it
        // is durable (see `producer_log`).
        self.producers.stage_snapshot(base, true);
        self.segments.write().insert(base, seg.clone());
        self.mark_dir_dirty();
        Ok(seg)
    }

    /// Rolls the active segment now, if it holds anything.
    pub fn roll(&self) -> Result<()> {
        let cfg = self.config();
        let _guard = self.append_lock.lock();
        self.check_online()?;
        let active = self.active()?;
        if active.is_empty() {
            return Ok(());
        }
        match self.roll_locked(&active, &cfg) {
            Ok(_) => Ok(()),
            // Nothing changed (see `roll_locked`): the log stays online.
            Err(e) if e.is_no_space() => Err(e),
            Err(e) => self.fail(e),
        }
    }

    /// Reads whole batches from `offset`: up to `max_bytes` (at least one batch if
    /// `min_one`), only batches starting below `max_offset` (the high watermark; the log
    /// end offset bounds it too). Offsets below the log start offset or past the log end
    /// offset are out of range.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadResult> {
        self.check_online()?;
        for attempt in 0..3 {
            match self.read_once(offset, max_bytes, max_offset, min_one) {
                // A segment removed under the read (retention, compaction swap): look again.
                Err(LogError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < 2 => {}
                other => return other,
            }
        }
        Err(LogError::Offline(self.name()))
    }

    fn read_once(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadResult> {
        let log_start_offset = self.log_start_offset();
        let log_end_offset = self.log_end_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let max_offset = max_offset.min(log_end_offset);
        let mut result = ReadResult {
            slice: None,
            log_start_offset,
            log_end_offset,
        };
        if offset >= max_offset {
            return Ok(result);
        }
        // The segment holding `offset` (or the first), then the ones after it, taken one
        // at a time: a read near the start of a long log costs no more than one at its end.
        let mut next = {
            let segs = self.segments.read();
            segs.range(..=offset)
                .next_back()
                .or_else(|| segs.iter().next())
                .map(|(_, s)| s.clone())
        };
        while let Some(seg) = next {
            if seg.base_offset >= max_offset {
                break;
            }
            if let Some(slice) =
                self.with_repair(&seg, || seg.read(offset, max_bytes, max_offset, min_one))?
            {
                result.slice = Some(slice);
                break;
            }
            next = self
                .segments
                .read()
                .range((Bound::Excluded(seg.base_offset), Bound::Unbounded))
                .next()
                .map(|(_, s)| s.clone());
        }
        Ok(result)
    }

    /// Runs `f` on `seg`, rebuilding the segment's indexes once if they turn out corrupt.
    fn with_repair<T>(&self, seg: &Segment, f: impl Fn() -> Result<T>) -> Result<T> {
        match f() {
            Err(LogError::CorruptIndex { path, reason }) => {
                warn!(log = %self.name(), path = %path.display(), %reason, "rebuilding a corrupt index");
                self.rebuild_segment(seg)?;
                f()
            }
            other => other,
        }
    }

    /// Rebuilds a segment's indexes from its log (cutting invalid bytes, if any).
    fn rebuild_segment(&self, seg: &Segment) -> Result<()> {
        let _guard = self.append_lock.lock();
        let outcome = seg.rebuild_indexes(self.config().index_interval_bytes, seg.base_offset)?;
        if outcome.truncated_bytes > 0 {
            warn!(log = %self.name(), segment = seg.base_offset, bytes = outcome.truncated_bytes,
                "index rebuild found invalid bytes in the log and cut them");
        }
        Ok(())
    }

    /// Flushes everything appended so far: the log bytes of every segment not yet durable,
    /// sealed segments' indexes, and new directory entries. Returns the new recovery point.
    pub fn flush(&self, now_ms: i64) -> Result<i64> {
        self.check_online()?;
        let _guard = self.flush_lock.lock();
        let target = self.log_end_offset();
        let unflushed = self.unflushed_messages();
        let rp = self.recovery_point();
        let (segs, active_base) = {
            let segs = self.segments.read();
            // From the segment holding the last durable offset (rp - 1), not the one
            // starting at rp: after a truncation followed by a roll at the truncation point,
            // the segment before rp was cut and that cut must be made durable too.
            let first = segs
                .range(..rp)
                .next_back()
                .map(|(b, _)| *b)
                .unwrap_or(i64::MIN);
            let active = segs.keys().next_back().copied().unwrap_or(i64::MIN);
            (
                segs.range(first..)
                    .map(|(_, s)| s.clone())
                    .collect::<Vec<_>>(),
                active,
            )
        };
        let synced = (|| {
            // Files first, then their directory entries: a crash in between must not leave
            // a new segment named on disk while the tail of the one before it is lost (a
            // hole in the offsets).
            for seg in &segs {
                if !seg.is_synced() {
                    seg.sync(seg.base_offset != active_base)?;
                }
            }
            if self.dir_dirty.swap(false, Ordering::AcqRel) {
                if let Err(e) = self.fs.sync_dir(&self.dir) {
                    self.dir_dirty.store(true, Ordering::Release);
                    return Err(LogError::io(&self.dir, e));
                }
            }
            Ok(())
        })();
        if let Err(e) = synced {
            return self.fail(e);
        }
        self.recovery_point.fetch_max(target, Ordering::AcqRel);
        self.unflushed_messages
            .fetch_sub(unflushed, Ordering::AcqRel);
        self.last_flush_ms.store(now_ms, Ordering::Release);
        self.producers.write_due(target);
        Ok(target)
    }

    /// With at least `min_bytes` appended since the last producer snapshot, stages one at
    /// the log end, and writes it at once if the log is durable up to there (an idle log
    /// would not flush again to write it). The manager calls it at recovery-point
    /// checkpoint with [`crate::CHECKPOINT_SNAPSHOT_MIN_BYTES`], so that the replay after a
    /// crash starts about where the checkpointed recovery point lies, on a log written too
    /// slowly to take one every [`crate::producer_log::SNAPSHOT_INTERVAL_BYTES`].
    /// Returns whether it staged one.
    pub fn snapshot_producers(&self, min_bytes: u64) -> bool {
        if self.is_offline() {
            return false;
        }
        // The flush lock first, as a flush and a truncation take it.
        let _flush = self.flush_lock.lock();
        let staged = {
            let _guard = self.append_lock.lock();
            self.producers
                .stage_if_appended(min_bytes, self.log_end_offset())
        };
        if staged {
            self.producers.write_due(self.recovery_point());
        }
        staged
    }

    /// Bytes appended since the last producer snapshot was staged: about what the
    /// producer-state replay after a crash would read of this log.
    pub fn producer_replay_bytes(&self) -> u64 {
        self.producers.appended_since_snapshot()
    }

    /// Removes every record at or after `offset` (a replica following a new leader).
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        if offset <= self.log_start_offset() {
            return self.truncate_fully_and_start_at(offset);
        }
        // The flush lock first: a flush that read the log end offset before the cut must
        // not raise the recovery point past it afterwards.
        let _flush = self.flush_lock.lock();
        let _guard = self.append_lock.lock();
        self.check_online()?;
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let had_producers = !self.producers.state().is_empty();
        let result = (|| {
            // The snapshots above the cut describe what it removes: durably gone first.
            self.producers.delete_above(offset)?;
            let removed: Vec<Arc<Segment>> = {
                let mut segs = self.segments.write();
                let first = segs.keys().next().copied().unwrap_or(i64::MIN);
                // Keep at least one segment: the one holding `offset` becomes active.
                let later: Vec<i64> = segs
                    .range(offset.max(first + 1)..)
                    .map(|(b, _)| *b)
                    .collect();
                later.into_iter().filter_map(|b| segs.remove(&b)).collect()
            };
            // From the last segment back, and durably before the cut: a crash part way
            // leaves a shorter log, never one with a hole in its offsets.
            for seg in removed.iter().rev() {
                seg.delete_files("")?;
            }
            if !removed.is_empty() {
                self.fs
                    .sync_dir(&self.dir)
                    .map_err(|e| LogError::io(&self.dir, e))?;
            }
            let active = self.active()?;
            let cut = active.truncate_to(offset)?;
            // The cut is durable before the log moves on: a checkpointed recovery point
            // from before the truncation may make the next recovery trust this segment
            // without scanning it, and its old tail would shadow the offsets written next.
            active.sync(false)?;
            active.load_for_append()?;
            info!(log = %self.name(), offset, segments = removed.len(), bytes = cut, "truncated");
            // A batch is kept or cut whole: an offset inside one cuts it, and the log ends
            // where the kept batches end (what a restart would compute from the files).
            Ok(active
                .next_offset_hint()
                .max(active.base_offset)
                .min(offset))
        })();
        let new_end = match result {
            Ok(end) => end,
            Err(e) => return self.fail(e),
        };
        if new_end < self.log_start_offset() {
            // The cut took a batch straddling the log start offset: nothing at or above it
            // is left, so the log starts afresh there.
            return self.truncate_fully_locked(self.log_start_offset());
        }
        // The producer state as of the cut: from the latest snapshot at or below it and
        // the batches after that (Kafka's truncateAndReload). A log without producers
        // before the cut has none after it.
        if had_producers {
            let segs = self.segments_snapshot();
            let reloaded = self.producers.load(
                &segs,
                self.log_start_offset(),
                new_end,
                false,
                self.decode_limit(),
                None,
            );
            if let Err(e) = reloaded {
                return self.fail(e);
            }
        }
        self.log_end_offset.store(new_end, Ordering::Release);
        self.unflushed_messages.store(0, Ordering::Release);
        self.mark_dir_dirty();
        self.lower_recovery_point(new_end)
    }

    /// Deletes every segment and starts empty at `offset`.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<()> {
        let _flush = self.flush_lock.lock();
        let _guard = self.append_lock.lock();
        self.check_online()?;
        self.truncate_fully_locked(offset)
    }

    /// [`Self::truncate_fully_and_start_at`] with the flush and append locks held.
    fn truncate_fully_locked(&self, offset: i64) -> Result<()> {
        let cfg = self.config();
        let result = (|| {
            self.producers.reset()?;
            let old: Vec<Arc<Segment>> = std::mem::take(&mut *self.segments.write())
                .into_values()
                .collect();
            // From the last segment back: a crash part way leaves a shorter log.
            for seg in old.iter().rev() {
                seg.delete_files("")?;
            }
            let seg = Arc::new(Segment::create(
                self.fs.clone(),
                &self.dir,
                offset,
                cfg.segment_index_bytes,
            )?);
            self.segments.write().insert(offset, seg);
            Ok(())
        })();
        if let Err(e) = result {
            return self.fail(e);
        }
        let before = self.recovery_point();
        self.set_offsets(offset, offset, offset.max(before));
        self.mark_dir_dirty();
        self.lower_recovery_point(offset)
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords), bounded by the log
    /// end offset; whole segments below it go at the next retention pass. Returns the new
    /// log start offset.
    pub fn advance_log_start_offset(&self, offset: i64) -> Result<i64> {
        self.check_online()?;
        let _guard = self.append_lock.lock();
        let target = offset.min(self.log_end_offset());
        self.log_start_offset.fetch_max(target, Ordering::AcqRel);
        Ok(self.log_start_offset())
    }

    /// Deletes whole segments from the front: those wholly below the log start offset,
    /// those past `retention.ms` (by their largest timestamp), and the oldest while the
    /// log exceeds `retention.bytes`. The active segment goes too when it is itself
    /// expired (it is rolled first), as in Kafka.
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionOutcome> {
        self.check_online()?;
        let cfg = self.config();
        // Retention trusts each segment's largest timestamp: check the indexes it comes
        // from first (outside the append lock, which a repair takes).
        for seg in self.segments_snapshot() {
            self.with_repair(&seg, || seg.ensure_checked())?;
        }
        let _guard = self.append_lock.lock();
        let segs = self.segments_snapshot();
        let lso = self.log_start_offset();
        let total: u64 = segs.iter().map(|s| s.size()).sum();
        let mut excess = if cfg.retention_bytes >= 0 {
            total.saturating_sub(cfg.retention_bytes as u64)
        } else {
            0
        };
        let mut doomed = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            let next_base = segs.get(i + 1).map(|s| s.base_offset);
            let is_active = next_base.is_none();
            let below_start = next_base.map(|n| n <= lso).unwrap_or(false);
            let expired = cfg.cleanup_policy.delete
                && cfg.retention_ms >= 0
                && !seg.is_empty()
                && seg.max_timestamp_known()? < now_ms.saturating_sub(cfg.retention_ms);
            let too_big =
                cfg.cleanup_policy.delete && excess >= seg.size() && seg.size() > 0 && !is_active;
            if !(below_start || expired || too_big) {
                break;
            }
            excess = excess.saturating_sub(seg.size());
            doomed.push(seg.clone());
        }
        if doomed.len() == segs.len() {
            // Everything is expired: roll so that the active segment can go too. On a full
            // disk (where retention is what frees space) the roll cannot make its segment
            // and changes nothing: the active segment stays, the others go.
            let rolled = self
                .active()
                .and_then(|active| self.roll_locked(&active, &cfg));
            match rolled {
                Ok(_) => {}
                Err(e) if e.is_no_space() => {
                    warn!(log = %self.name(), error = %e,
                        "retention could not roll on a full disk: keeping the active segment");
                    doomed.pop();
                }
                Err(e) => return self.fail(e),
            }
        }
        if doomed.is_empty() {
            return Ok(RetentionOutcome::default());
        }
        let result = (|| {
            let mut outcome = RetentionOutcome::default();
            for seg in &doomed {
                self.segments.write().remove(&seg.base_offset);
                let next = self
                    .segments
                    .read()
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or(self.log_end_offset());
                self.log_start_offset.fetch_max(next, Ordering::AcqRel);
                seg.rename_files(files::DELETED_SUFFIX)?;
                seg.delete_files(files::DELETED_SUFFIX)?;
                outcome.segments_deleted += 1;
                outcome.bytes_deleted += seg.size();
            }
            self.producers.delete_below(self.log_start_offset())?;
            self.mark_dir_dirty();
            info!(log = %self.name(), segments = outcome.segments_deleted, bytes = outcome.bytes_deleted,
                log_start_offset = self.log_start_offset(), "retention deleted segments");
            Ok(outcome)
        })();
        match result {
            Ok(o) => Ok(o),
            Err(e) => self.fail(e),
        }
    }

    /// Flushes and seals the active segment's indexes: the log's part of a clean shutdown.
    pub fn close(&self, now_ms: i64) -> Result<()> {
        if self.is_offline() {
            return Ok(());
        }
        self.flush(now_ms)?;
        let _guard = self.append_lock.lock();
        // The producer state at the log end, so that the next open reads nothing to rebuild
        // it. Only over durable data (an append that slipped in after the flush is not).
        let end = self.log_end_offset();
        if end <= self.recovery_point()
            && !self.producers.has_snapshot_at(end)
            && (end > self.log_start_offset() || !self.producers.state().is_empty())
        {
            self.producers.write_now(end)?;
        }
        let active = self.active()?;
        active.offset_index.trim_and_close(true)?;
        active.time_index.trim_and_close(true)?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))?;
        Ok(())
    }

    /// Removes the log's directory and every file in it.
    pub fn delete(&self) -> Result<()> {
        let _guard = self.append_lock.lock();
        self.offline.store(true, Ordering::Release);
        let segs: Vec<Arc<Segment>> = std::mem::take(&mut *self.segments.write())
            .into_values()
            .collect();
        for seg in segs {
            seg.delete_files("")?;
        }
        crate::recovery::remove_dir_contents(self.fs.as_ref(), &self.dir)?;
        self.fs
            .remove_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))?;
        self.fs
            .sync_dir(&crate::io::parent_of(&self.dir))
            .map_err(|e| LogError::io(&self.dir, e))?;
        Ok(())
    }

    /// The path of a segment file of this log.
    pub fn segment_path(&self, base_offset: i64, kind: FileKind) -> PathBuf {
        files::segment_path(&self.dir, base_offset, kind)
    }

    /// Runs the recovery scan of one segment (used by load and by tests).
    pub(crate) fn recover_segment(&self, seg: &Segment, prev_end: i64) -> Result<RecoveryOutcome> {
        seg.rebuild_indexes(self.config().index_interval_bytes, prev_end)
    }
}
