//! A log's producer state ([`crate::producer_state`]) on disk: snapshot files and replay.
//!
//! A snapshot `<offset>.snapshot` holds the state of every producer as of the log below
//! `offset`, in Kafka's format (see [`ProducerStateManager::encode_snapshot`] and
//! `docs/on-disk-format.md`). Opening a log loads the latest valid snapshot at or below
//! its log end offset and replays the batches from there to the log end, rather than
//! reading the whole log.
//!
//! Snapshots are taken at the log end offset, under the append lock: at each roll, every
//! [`SNAPSHOT_INTERVAL_BYTES`] appended (in the middle of a segment too), at recovery-point
//! checkpoints for a log with [`CHECKPOINT_SNAPSHOT_MIN_BYTES`] written since its last one
//! (every such log at the timed ones; at those taken for the bytes appended, only the logs
//! with the most to replay), at a clean close, and at an open whose replay spanned
//! [`OPEN_SNAPSHOT_MIN_BYTES`]. Kafka takes them at
//! rolls and shutdown only; the others bound what the replay after a crash reads, batch
//! headers that a cold page cache serves one random read at a time.
//!
//! The invariant that makes a snapshot trustworthy after a crash: **a snapshot at `S`
//! reaches the disk only once the log below `S` is durable.** So a snapshot taken at a
//! roll, an interval or a checkpoint is only staged in memory; the flush that makes the
//! log durable up to it writes it ([`ProducerLog::write_due`]), or the checkpoint itself
//! when the log is durable there already; a clean close or an open (see above) writes one
//! at the log end after their flush. Then at open, a snapshot at or below the recovered
//! log end describes exactly the log below it: recovery never cuts durable data, and a
//! snapshot above the log end (the log was cut below it, which only a truncation or a
//! damaged disk does) is deleted. Truncation deletes the snapshots above the cut, durably,
//! before it cuts.
//!
//! Each snapshot is written atomically: `<offset>.snapshot.tmp`, fdatasync'ed, renamed,
//! directory fsync'ed, through the [`Fs`] seam. The [`SNAPSHOTS_KEPT`] newest are kept (the
//! older one is the fallback for a corrupt newer one), and as many of the newest taken at
//! rolls, a close or an open (a truncation into the segment before the active one finds
//! one below the cut); none below the log start offset. A corrupt snapshot is skipped
//! with a warning and removed: the load falls back to an older one, or to the log start.
//!
//! As in Kafka, a log without any snapshot after a clean shutdown is taken to have no
//! producers (it was written before producer state existed), rather than read whole; a
//! snapshot at its log end is then written, so the next load starts there.
//!
//! The same replay rebuilds aborted-transaction indexes (`crate::txn_index`): an entry
//! needs the producer state at its ABORT marker (where the transaction began, which other
//! transactions were open). Asked to, the load starts from a snapshot at or below the
//! first segment to rebuild (or the log start) and reports every ABORT marker it meets
//! from there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use tracing::{info, warn};

use crate::error::{LogError, Result};
use crate::files;
use crate::io::{Fs, OpenMode};
use crate::producer_state::{BatchKind, ProducerBatch, ProducerStateManager};
use crate::segment::Segment;
use crate::txn_index::AbortedTxn;

/// Snapshots kept on disk: the newest, and one to fall back on if it is corrupt. As many
/// of those taken at rolls are kept as well, so that a truncation into the segment before
/// the active one finds a snapshot below the cut.
pub(crate) const SNAPSHOTS_KEPT: usize = 2;
/// A snapshot is staged once this many bytes were appended since the last one, in the
/// middle of a segment too: the replay after a crash reads the headers from the last
/// snapshot written, and a cold page cache reads them one at a time.
pub(crate) const SNAPSHOT_INTERVAL_BYTES: u64 = 64 << 20;
/// At a recovery-point checkpoint, a log with at least this many bytes appended since its
/// last snapshot may stage one (see [`ProducerLog::stage_if_appended`] and
/// `LogManager::checkpoint_with_producer_snapshots`); below it a log is left to the
/// replay. With 10,000 partitions of just under 1 MiB each (the bound until the ninth
/// performance round), the replay after a crash read 9.7 GiB from a cold cache.
pub const CHECKPOINT_SNAPSHOT_MIN_BYTES: u64 = 256 << 10;
/// At open, a log whose replay spanned at least this many bytes writes a snapshot at its
/// log end (two syncs): below it, the next timed checkpoint takes one, so that a crash
/// start of thousands of small logs does not sync twice per log before it is ready.
pub const OPEN_SNAPSHOT_MIN_BYTES: u64 = 1 << 20;
/// Snapshots staged and not yet written, at most.
const MAX_PENDING: usize = 4;
/// A snapshot file larger than this is taken for corrupt (about 5.8 million producers).
const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

#[derive(Debug, Default)]
struct Files {
    /// Offsets of the snapshot files in the directory.
    on_disk: BTreeSet<i64>,
    /// Those of `on_disk` taken at a roll, a clean close or an open (and every one found
    /// at load, whose kind is not recorded): at a segment's base or a log end.
    rolls: BTreeSet<i64>,
    /// Snapshots staged, waiting for the log below them to be durable, and whether each
    /// was taken at a roll.
    pending: BTreeMap<i64, (Vec<u8>, bool)>,
}

impl Files {
    /// Removes `offset` from both sets.
    fn forget(&mut self, offset: i64) {
        self.on_disk.remove(&offset);
        self.rolls.remove(&offset);
    }
}

/// What loading the producer state found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// The snapshot the state started from.
    pub snapshot: Option<i64>,
    /// Batches with a producer id read from the log after it.
    pub replayed: u64,
    /// The ABORT markers at or after the offset given to rebuild transaction indexes from.
    pub aborts: Vec<AbortMarker>,
    /// Bytes of log from the snapshot (or the log start, without one) to the log end: what
    /// a replay after a crash would read if no snapshot were taken now.
    pub span_bytes: u64,
}

/// An ABORT marker met by a replay that rebuilds transaction indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortMarker {
    pub producer_id: i64,
    pub offset: i64,
    /// The transaction it aborted, as the replayed state knew it. None when the state knew
    /// of no open transaction of the producer: none with data, or one that began below
    /// where the replay started.
    pub txn: Option<AbortedTxn>,
}

/// The producer state of one log, with its snapshot files.
#[derive(Debug)]
pub(crate) struct ProducerLog {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    name: String,
    state: Mutex<ProducerStateManager>,
    /// Held for every file operation on snapshots (writes, removals, the load), after the
    /// append lock or the flush lock, and before `files`.
    writing: Mutex<()>,
    /// What is on disk and staged: held only to read or change that, never across I/O,
    /// so that an appender staging a snapshot does not wait for a snapshot being written
    /// (a file and its directory synced; under a heavy writeback the maintenance thread's
    /// syncs took up to 140 ms each, `docs/performance.md`, tenth round). Taken before
    /// `state` when both are held.
    files: Mutex<Files>,
    /// Bytes appended since the last snapshot was staged (changed under the append lock).
    since_staged: std::sync::atomic::AtomicU64,
}

impl ProducerLog {
    pub fn new(fs: Arc<dyn Fs>, dir: &Path, name: String) -> Self {
        Self {
            fs,
            dir: dir.to_path_buf(),
            name,
            state: Mutex::new(ProducerStateManager::new()),
            writing: Mutex::new(()),
            files: Mutex::new(Files::default()),
            since_staged: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The state. Appends change it only under the log's append lock.
    pub fn state(&self) -> MutexGuard<'_, ProducerStateManager> {
        self.state.lock()
    }

    fn io(&self, path: &Path, e: std::io::Error) -> LogError {
        LogError::io(path, e)
    }

    fn sync_dir(&self) -> Result<()> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| self.io(&self.dir, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        match self.fs.remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(path, e)),
        }
    }

    /// Loads the state of the log `segs` holds in `[log_start, log_end)`: from the latest
    /// valid snapshot at or below `log_end`, then the batches after it. Snapshots above
    /// `log_end`, corrupt ones and leftover temporary files are removed, durably.
    /// `clean_shutdown` allows taking a log without any snapshot for one without
    /// producers. `limit` bounds the decompression of a control batch. With
    /// `rebuild_txn_from`, the replay starts at or below that offset and reports the ABORT
    /// markers from there on.
    pub fn load(
        &self,
        segs: &[Arc<Segment>],
        log_start: i64,
        log_end: i64,
        clean_shutdown: bool,
        limit: usize,
        rebuild_txn_from: Option<i64>,
    ) -> Result<Loaded> {
        let _writing = self.writing.lock();
        let mut files = self.files.lock();
        let names = self
            .fs
            .list_dir(&self.dir)
            .map_err(|e| self.io(&self.dir, e))?;
        let mut offsets = BTreeSet::new();
        let mut removed = false;
        for name in names {
            match files::parse_producer_snapshot_file_name(&name) {
                Some((offset, "")) => {
                    offsets.insert(offset);
                }
                Some(_) => {
                    self.remove(&self.dir.join(&name))?;
                    removed = true;
                }
                None => {}
            }
        }
        let had_snapshots = !offsets.is_empty();
        for stale in offsets.split_off(&log_end.saturating_add(1)) {
            info!(log = %self.name, snapshot = stale, log_end,
                "removing a producer snapshot above the log end offset");
            self.remove(&files::producer_snapshot_path(&self.dir, stale))?;
            removed = true;
        }
        let mut loaded = None;
        let bound = rebuild_txn_from.map_or(log_end, |r| r.min(log_end));
        let candidates: Vec<i64> = offsets.range(..=bound).rev().copied().collect();
        for offset in candidates {
            match self.read_snapshot(offset) {
                Ok(state) => {
                    loaded = Some((offset, state));
                    break;
                }
                Err(e) => {
                    warn!(log = %self.name, snapshot = offset, error = %e,
                        "skipping an unreadable producer snapshot");
                    self.remove(&files::producer_snapshot_path(&self.dir, offset))?;
                    offsets.remove(&offset);
                    removed = true;
                }
            }
        }
        if removed {
            // Durably gone before anything is written above them.
            self.sync_dir()?;
        }
        let (snapshot, mut state) = match loaded {
            Some((offset, state)) => (Some(offset), state),
            None => (None, ProducerStateManager::new()),
        };
        let from = match snapshot {
            Some(offset) => offset.max(log_start),
            None if clean_shutdown && !had_snapshots && rebuild_txn_from.is_none() => log_end,
            None => log_start,
        };
        let mut aborts = Vec::new();
        let rebuild = rebuild_txn_from.map(|r| (r, &mut aborts));
        let replayed = replay(&mut state, segs, from, log_end, limit, &self.name, rebuild)?;
        if replayed > 0 {
            info!(log = %self.name, snapshot, from, log_end, batches = replayed,
                producers = state.len(), "producer state rebuilt from the log");
        }
        *self.state.lock() = state;
        let span_bytes = bytes_from(segs, snapshot.map_or(log_start, |s| s.max(log_start)));
        self.since_staged
            .store(span_bytes, std::sync::atomic::Ordering::Relaxed);
        files.rolls = offsets.clone();
        files.on_disk = offsets;
        files.pending.retain(|o, _| *o <= log_end);
        Ok(Loaded {
            snapshot,
            replayed,
            aborts,
            span_bytes,
        })
    }

    fn read_snapshot(&self, offset: i64) -> Result<ProducerStateManager, String> {
        let path = files::producer_snapshot_path(&self.dir, offset);
        let file = self
            .fs
            .open(&path, OpenMode::Read)
            .map_err(|e| e.to_string())?;
        let len = file.len().map_err(|e| e.to_string())?;
        if len > MAX_SNAPSHOT_BYTES {
            return Err(format!("{len} bytes, more than {MAX_SNAPSHOT_BYTES}"));
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| e.to_string())?;
        ProducerStateManager::decode_snapshot(&bytes).map_err(|e| e.to_string())
    }

    /// Whether a snapshot at `offset` is on disk.
    pub fn has_snapshot_at(&self, offset: i64) -> bool {
        self.files.lock().on_disk.contains(&offset)
    }

    /// Takes a snapshot of the current state at `offset` (the log end offset), to be
    /// written once the log below it is durable; `at_roll` when `offset` is the base of the
    /// new active segment. Caller holds the append lock.
    pub fn stage_snapshot(&self, offset: i64, at_roll: bool) {
        self.since_staged
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let bytes = self.state.lock().encode_snapshot();
        let mut files = self.files.lock();
        if files.on_disk.contains(&offset) {
            // The same state (the log end is where it was): now also a roll's.
            if at_roll {
                files.rolls.insert(offset);
            }
        } else {
            let roll = at_roll || files.pending.get(&offset).is_some_and(|(_, r)| *r);
            files.pending.insert(offset, (bytes, roll));
        }
        // A log that is never flushed (relaxed durability) must not hoard them: the older
        // ones are superseded anyway.
        while files.pending.len() > MAX_PENDING {
            files.pending.pop_first();
        }
    }

    /// Counts `bytes` appended, the log end offset now `end`, and stages a snapshot there
    /// once [`SNAPSHOT_INTERVAL_BYTES`] were appended since the last. Caller holds the
    /// append lock.
    pub fn note_appended(&self, bytes: u64, end: i64) {
        let since = self
            .since_staged
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        if since >= SNAPSHOT_INTERVAL_BYTES {
            self.stage_snapshot(end, false);
        }
    }

    /// Bytes appended since the last snapshot was staged: about what a replay after a
    /// crash would read (more while a staged one waits for its flush).
    pub fn appended_since_snapshot(&self) -> u64 {
        self.since_staged.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stages a snapshot at `end` (the log end offset) if at least `min_bytes` were
    /// appended since the last one was staged. Caller holds the append lock.
    pub fn stage_if_appended(&self, min_bytes: u64, end: i64) -> bool {
        if self.since_staged.load(std::sync::atomic::Ordering::Relaxed) < min_bytes.max(1) {
            return false;
        }
        self.stage_snapshot(end, false);
        true
    }

    /// Writes the newest staged snapshot at or below `durable` (the log is durable below
    /// it) and drops the older ones. A failure is only logged: the snapshot is an
    /// optimization of the next load, which replays more without it.
    pub fn write_due(&self, durable: i64) {
        let _writing = self.writing.lock();
        let due = {
            let mut files = self.files.lock();
            let later = files.pending.split_off(&durable.saturating_add(1));
            std::mem::replace(&mut files.pending, later)
        };
        if let Some((offset, (bytes, at_roll))) = due.into_iter().next_back() {
            if let Err(e) = self.write_file(offset, &bytes, at_roll) {
                warn!(log = %self.name, snapshot = offset, error = %e,
                    "writing a producer snapshot failed");
            }
        }
    }

    /// Writes a snapshot of the current state at `offset` now. The caller guarantees the
    /// log is durable below `offset` and that nothing is appended meanwhile.
    pub fn write_now(&self, offset: i64) -> Result<()> {
        let bytes = self.state.lock().encode_snapshot();
        let _writing = self.writing.lock();
        self.files.lock().pending.remove(&offset);
        self.write_file(offset, &bytes, true)
    }

    /// Writes the snapshot file at `offset` and records it, removing those it supersedes.
    /// Caller holds `writing`.
    fn write_file(&self, offset: i64, bytes: &[u8], at_roll: bool) -> Result<()> {
        let path = files::producer_snapshot_path(&self.dir, offset);
        let tmp = files::with_suffix(&path, files::TMP_SUFFIX);
        let f = self
            .fs
            .open(&tmp, OpenMode::ReadWriteCreate)
            .map_err(|e| self.io(&tmp, e))?;
        f.set_len(0).map_err(|e| self.io(&tmp, e))?;
        f.write_all_at(bytes, 0).map_err(|e| self.io(&tmp, e))?;
        f.sync_data().map_err(|e| self.io(&tmp, e))?;
        drop(f);
        self.fs.rename(&tmp, &path).map_err(|e| self.io(&path, e))?;
        self.sync_dir()?;
        let old: Vec<i64> = {
            let mut files = self.files.lock();
            files.on_disk.insert(offset);
            if at_roll {
                files.rolls.insert(offset);
            }
            // Older ones need not go durably: one that comes back after a crash still
            // describes the log below it. Kept: the newest, and the newest taken at rolls.
            let kept: BTreeSet<i64> = (files.on_disk.iter().rev().take(SNAPSHOTS_KEPT))
                .chain(files.rolls.iter().rev().take(SNAPSHOTS_KEPT))
                .copied()
                .collect();
            let old: Vec<i64> = files.on_disk.difference(&kept).copied().collect();
            for o in &old {
                files.forget(*o);
            }
            old
        };
        for o in old {
            self.remove(&files::producer_snapshot_path(&self.dir, o))?;
        }
        Ok(())
    }

    /// Removes the snapshots above `offset`, durably, and forgets staged ones: before a
    /// truncation to `offset` cuts the log they describe.
    pub fn delete_above(&self, offset: i64) -> Result<()> {
        let _writing = self.writing.lock();
        let mut files = self.files.lock();
        files.pending.retain(|o, _| *o <= offset);
        let above = files.on_disk.split_off(&offset.saturating_add(1));
        files.rolls.retain(|o| *o <= offset);
        for o in &above {
            self.remove(&files::producer_snapshot_path(&self.dir, *o))?;
        }
        if !above.is_empty() {
            self.sync_dir()?;
        }
        Ok(())
    }

    /// Removes the snapshots below `offset` (the log start offset after retention). Not
    /// synced: one that comes back is still right about the log below it.
    pub fn delete_below(&self, offset: i64) -> Result<()> {
        let _writing = self.writing.lock();
        let mut files = self.files.lock();
        let kept = files.on_disk.split_off(&offset);
        let below = std::mem::replace(&mut files.on_disk, kept);
        files.rolls.retain(|o| *o >= offset);
        for o in below {
            self.remove(&files::producer_snapshot_path(&self.dir, o))?;
        }
        files.pending.retain(|o, _| *o >= offset);
        Ok(())
    }

    /// Forgets every producer and removes every snapshot, durably: the log starts afresh.
    pub fn reset(&self) -> Result<()> {
        let _writing = self.writing.lock();
        let mut files = self.files.lock();
        files.pending.clear();
        files.rolls.clear();
        for o in std::mem::take(&mut files.on_disk) {
            self.remove(&files::producer_snapshot_path(&self.dir, o))?;
        }
        self.sync_dir()?;
        *self.state.lock() = ProducerStateManager::new();
        Ok(())
    }
}

/// Bytes of the log `segs` hold from the batch holding `offset` on (the whole segment
/// holding it when its index cannot say where that batch is).
fn bytes_from(segs: &[Arc<Segment>], offset: i64) -> u64 {
    let mut total = 0;
    for (i, seg) in segs.iter().enumerate() {
        let next_base = segs.get(i + 1).map_or(i64::MAX, |s| s.base_offset);
        if next_base <= offset {
            continue;
        }
        let size = seg.size();
        let start = if offset > seg.base_offset {
            match seg.find_batch(offset, size) {
                Ok(Some((pos, _))) => pos,
                // No batch at or past `offset` here (a snapshot at the log end).
                Ok(None) => size,
                Err(_) => 0,
            }
        } else {
            0
        };
        total += size.saturating_sub(start);
    }
    total
}

/// Applies to `state` every batch with a producer id in `segs` whose last offset is at or
/// above `from` and whose base offset is below `to`. Returns how many. A control batch
/// whose marker does not parse is skipped with a warning (the log holds it; the state
/// cannot use it). With `aborts`, every ABORT marker at or after its offset is added to
/// its list.
fn replay(
    state: &mut ProducerStateManager,
    segs: &[Arc<Segment>],
    from: i64,
    to: i64,
    limit: usize,
    log: &str,
    mut aborts: Option<(i64, &mut Vec<AbortMarker>)>,
) -> Result<u64> {
    let mut replayed = 0u64;
    if from >= to {
        return Ok(0);
    }
    for (i, seg) in segs.iter().enumerate() {
        let next_base = segs.get(i + 1).map_or(i64::MAX, |s| s.base_offset);
        if next_base <= from {
            continue;
        }
        if seg.base_offset >= to {
            break;
        }
        // From the batch holding `from`, found by the offset index (checked against the
        // log), not from the segment's first byte: recovery may not have read the batches
        // below the recovery point. An index that does not match starts the walk at 0.
        let start = if from > seg.base_offset {
            match seg.find_batch(from, seg.size()) {
                Ok(Some((pos, _))) => pos,
                _ => 0,
            }
        } else {
            0
        };
        let mut failed = None;
        seg.for_each_header_sequential(start, |pos, h| {
            if h.base_offset >= to {
                return false;
            }
            if h.producer_id < 0 || h.last_offset() < from {
                return true;
            }
            let batch = if h.is_control() {
                match seg.read_batch_at(pos, h) {
                    Ok(bytes) => match ProducerBatch::from_batch(&bytes, limit) {
                        Ok(b) => b,
                        Err(e) => {
                            warn!(%log, offset = h.base_offset, error = %e,
                                "skipping a control batch whose marker does not parse");
                            None
                        }
                    },
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
            } else {
                ProducerBatch::from_header(h)
            };
            if let Some(b) = batch {
                let done = state.replay_with_lso(&b);
                replayed += 1;
                if let (BatchKind::Marker(m), Some((at, out))) = (b.kind, aborts.as_mut()) {
                    if m.is_abort && b.base_offset >= *at {
                        let txn = done
                            .filter(|(t, _)| t.is_aborted)
                            .map(|(t, lso)| AbortedTxn {
                                producer_id: t.producer_id,
                                first_offset: t.first_offset,
                                last_offset: t.last_offset,
                                last_stable_offset: lso,
                            });
                        out.push(AbortMarker {
                            producer_id: b.producer_id,
                            offset: b.base_offset,
                            txn,
                        });
                    }
                }
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(replayed)
}
