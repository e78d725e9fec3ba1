//! The log manager: every log of one data directory, their checkpoints, the clean-shutdown
//! marker, group commit, and the background work (flush.ms, retention, compaction).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use tracing::{debug, info, warn};

use crate::cleaner::{self, CleanStats};
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::files;
use crate::flusher::{DurableWait, Flusher};
use crate::io::{Fs, OpenMode, RealFs};
use crate::log::{AppendInfo, AppendOptions, Checkpointer, LoadReport, LoadState, Log};
use crate::producer_state::AppendOrigin;
use crate::space::DiskSpace;

/// Milliseconds since the Unix epoch.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Broker-level settings of the log manager, with Kafka's names.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// `log.dirs` (one directory).
    pub data_dir: PathBuf,
    /// The defaults of every log (`log.segment.bytes`, `log.retention.ms`, ...).
    pub default_log: LogConfig,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`: how often `flush.ms` is checked.
    pub flush_scheduler_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms`.
    pub checkpoint_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.bytes` (Myelin's): a checkpoint is also written
    /// once this many bytes were appended (to all logs) since the last, so that what a
    /// crash leaves past the recovery points, and recovery reads whole, is bounded by bytes
    /// as well as by time ([`DEFAULT_CHECKPOINT_INTERVAL_BYTES`]).
    pub checkpoint_interval_bytes: u64,
    /// `log.cleaner.enable`.
    pub cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`: the pause between cleaner passes with nothing to do.
    pub cleaner_backoff_ms: u64,
    /// `log.flush.threads` (Myelin's): the group-commit threads, so the most logs whose
    /// fdatasyncs run at once ([`DEFAULT_FLUSH_THREADS`]).
    pub flush_parallelism: usize,
    /// Threads that open logs at start (`num.recovery.threads.per.data.dir`).
    pub recovery_threads: usize,
    /// Take an exclusive lock on the directory (off only for simulated disks).
    pub lock_data_dir: bool,
    /// Start the background threads (tests drive the work by hand when off).
    pub background_threads: bool,
    /// `producer.id.expiration.ms`: a producer idle this long (by its last batch's
    /// timestamp) and without an open transaction is forgotten; a batch it sends later
    /// is taken as from a new producer.
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `log.dir.reserved.bytes` (Myelin's): the free space client appends leave to the
    /// coordinators (see [`crate::space`]); 0 for none.
    pub reserved_bytes: u64,
}

/// `log.flush.threads`' default. Flushes of different partitions overlap on the device
/// (16 threads carried 2.4 times what 4 did with 256 partitions written one request each
/// on the 2-core development VM); with few partitions, fewer threads let each flush cover
/// more appends (4 threads carried more than 16 with 16 partitions there): the flusher
/// runs fewer at once while that pays (see `flusher::Limit`). See `docs/performance.md`,
/// "Fourth round".
pub const DEFAULT_FLUSH_THREADS: usize = 16;

/// Logs from which a checkpoint syncs their indexes on several threads.
const PARALLEL_CHECKPOINT_MIN_LOGS: usize = 256;

/// The items to take, by index, so that the sum of `sizes` left over is at most `bound`:
/// the largest first, none under `min` (their sum is left, bounded by `min` per item).
/// Empty when the sum is within `bound` already.
fn largest_until_within(sizes: &[u64], bound: u64, min: u64) -> Vec<usize> {
    let mut left: u64 = sizes.iter().sum();
    if left <= bound {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_unstable_by(|&a, &b| sizes[b].cmp(&sizes[a]));
    let mut taken = Vec::new();
    for i in order {
        if left <= bound || sizes[i] < min {
            break;
        }
        left -= sizes[i];
        taken.push(i);
    }
    taken
}

/// `num.recovery.threads.per.data.dir`'s default (Kafka's is 2), also the most taken.
/// Opening a log reads a few small pieces of several files, and after a crash its tail:
/// from a cold page cache the threads mostly wait on the disk, and more of them keep more
/// reads in flight. 10,000 partitions on the 2-core development VM, page cache dropped:
/// 0.90 s with 2 threads (the core count, the default before), 0.64 s with 16 after a
/// clean stop; after SIGKILL with 128 KiB past each recovery point, 4.00 s with 2, 2.91 s
/// with 8, 2.55 s with 16. See `docs/performance.md`, "Eighth round".
pub const DEFAULT_RECOVERY_THREADS: usize = 16;

/// `log.flush.offset.checkpoint.interval.bytes`' default: 1 GiB. At Kafka's 60 s interval
/// alone, a 10 GiB fill at full speed (about 14 s, durable, on the 2-core development VM)
/// left all of it past the recovery points, and a restart after a crash read it whole:
/// 8.7 to 10.6 s from a cold cache. With this bound a restart reads about 1 GiB more than
/// was appended during one checkpoint and one maintenance tick. A checkpoint syncs the
/// active index of every log written since the last: 3 to 17 ms for 16 such logs there,
/// 0.2 to 0.7 s for 10,000 (on `log.flush.threads` threads), which at the 125 MB/s they
/// took comes once per 8 s. See `docs/performance.md`, "Eighth round".
pub const DEFAULT_CHECKPOINT_INTERVAL_BYTES: u64 = 1 << 30;

impl ManagerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            default_log: LogConfig::default(),
            retention_check_interval_ms: 300_000,
            flush_scheduler_interval_ms: 1_000,
            checkpoint_interval_ms: 60_000,
            checkpoint_interval_bytes: DEFAULT_CHECKPOINT_INTERVAL_BYTES,
            cleaner_enable: true,
            cleaner_backoff_ms: 15_000,
            flush_parallelism: DEFAULT_FLUSH_THREADS,
            recovery_threads: DEFAULT_RECOVERY_THREADS,
            lock_data_dir: true,
            background_threads: true,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            reserved_bytes: crate::space::DEFAULT_RESERVED_BYTES,
        }
    }
}

type LogKey = (String, i32);

/// How often the maintenance thread checks that every log's directory is still there.
const DIR_CHECK_INTERVAL_MS: i64 = 2_000;

struct Inner {
    config: ManagerConfig,
    fs: Arc<dyn Fs>,
    logs: RwLock<HashMap<LogKey, Arc<Log>>>,
    flusher: Flusher,
    /// Where each compacted log's clean section ends.
    cleaner_offsets: Mutex<HashMap<LogKey, i64>>,
    /// Serializes checkpoint writes.
    checkpoint_lock: Mutex<()>,
    /// Bytes appended to this manager's logs since the last checkpoint began.
    appended_since_checkpoint: AtomicU64,
    /// The text of each checkpoint file as this manager last wrote it durably.
    checkpoints_written: Mutex<HashMap<&'static str, String>>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    closed: AtomicBool,
    /// The data directory's free space.
    space: DiskSpace,
    _lock: Option<File>,
}

impl Inner {
    /// Writes the recovery point, log start offset and cleaner checkpoints.
    fn checkpoint(&self) -> Result<()> {
        self.checkpoint_keeping(None)
    }

    /// Runs `f` on each of `items`: on `log.flush.threads` threads (at most 16) from
    /// [`PARALLEL_CHECKPOINT_MIN_LOGS`] items, else on this thread. The results come in no
    /// particular order; those of a thread that panicked are left out (and logged).
    fn on_checkpoint_threads<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> R + Sync,
    ) -> Vec<R> {
        let threads = if items.len() >= PARALLEL_CHECKPOINT_MIN_LOGS {
            self.config.flush_parallelism.clamp(1, 16)
        } else {
            1
        };
        if threads == 1 {
            return items.iter().map(f).collect();
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let f = &f;
                    scope.spawn(move || items.iter().skip(t).step_by(threads).map(f).collect())
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|part| {
                    part.join().unwrap_or_else(|_| {
                        warn!("a checkpoint thread panicked: its logs are left out");
                        Vec::new()
                    })
                })
                .collect()
        })
    }

    /// The checkpoints; with `kept`, the recovery points already on disk (read at open): a
    /// log whose index entries below its recovery point are not yet durable records its
    /// kept one instead when that is lower, rather than syncing its indexes. At open after
    /// a crash, recovery changed the indexes of every log written past its checkpoint, and
    /// syncing them one by one cost a 10,000-partition start about as much as the rest of
    /// it; a crash before the next checkpoint reads those tails again.
    fn checkpoint_keeping(&self, kept: Option<&HashMap<LogKey, i64>>) -> Result<()> {
        let _guard = self.checkpoint_lock.lock();
        // Before the recovery points are read: what is appended from here on is past them.
        self.appended_since_checkpoint.store(0, Ordering::Release);
        let logs: Vec<(LogKey, Arc<Log>)> = self
            .logs
            .read()
            .iter()
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect();
        // The recovery point first, then its segment's index entries: every entry below it
        // was written before it was read. A log whose entries cannot be made durable is
        // left out, so that its next recovery reads all of it.
        let recovery_point = |(k, l): &(LogKey, Arc<Log>)| -> Option<i64> {
            let rp = l.recovery_point();
            if let Some(&old) = kept.and_then(|m| m.get(k)) {
                if old <= rp && l.indexes_dirty_below(rp) {
                    return Some(old);
                }
            }
            match l.sync_indexes_below(rp) {
                Ok(()) => Some(rp),
                Err(e) => {
                    warn!(log = %l.name(), error = %e,
                        "syncing the index below the recovery point failed: leaving the log out of the checkpoint");
                    None
                }
            }
        };
        // With many logs, their index syncs on several threads: one after another, 10,000 logs
        // written since the last checkpoint took 0.65 to 2 s on the 2-core development
        // VM, and what is appended meanwhile lies past the recovery points. A log whose
        // thread panicked is left out: its next recovery reads it whole.
        let rps: HashMap<LogKey, i64> = self
            .on_checkpoint_threads(&logs, |e| recovery_point(e).map(|rp| (e.0.clone(), rp)))
            .into_iter()
            .flatten()
            .collect();
        let starts = logs
            .iter()
            .map(|(k, l)| (k.clone(), l.log_start_offset()))
            .collect();
        let cleaner = self.cleaner_offsets.lock().clone();
        let dir = &self.config.data_dir;
        let fs = self.fs.as_ref();
        // Only the files whose text changed since this manager last wrote them (the log
        // start offsets and cleaner offsets seldom do), then one sync of the directory for
        // all the renames: each file costs a sync of its own, and at a checkpoint every
        // GiB appended these were a good part of the checkpoint's cost.
        let mut written = self.checkpoints_written.lock();
        let mut renamed = Vec::new();
        for (name, entries) in [
            (files::RECOVERY_POINT_CHECKPOINT, &rps),
            (files::LOG_START_OFFSET_CHECKPOINT, &starts),
            (files::CLEANER_CHECKPOINT, &cleaner),
        ] {
            let text = checkpoint_text(entries);
            if written.get(name) != Some(&text) {
                replace_file(fs, &dir.join(name), &text)?;
                renamed.push((name, text));
            }
        }
        if !renamed.is_empty() {
            fs.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
            written.extend(renamed);
        }
        Ok(())
    }

    /// What writes the checkpoints for one of this manager's logs, after a truncation
    /// lowered its recovery point ([`Log`] calls it with its locks held: it takes only the
    /// checkpoint lock and reads the logs' offsets).
    fn checkpointer(self: &Arc<Self>) -> Checkpointer {
        let inner = Arc::downgrade(self);
        Checkpointer(Box::new(move || match inner.upgrade() {
            Some(inner) => inner.checkpoint(),
            None => Err(LogError::Offline("managed by a closed LogManager".into())),
        }))
    }
}

/// Owns the logs of one data directory.
#[derive(Clone)]
pub struct LogManager {
    inner: Arc<Inner>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("data_dir", &self.inner.config.data_dir)
            .field("logs", &self.inner.logs.read().len())
            .finish()
    }
}

/// What opening the data directory found.
#[derive(Debug, Clone, Default)]
pub struct StartupReport {
    pub clean_shutdown: bool,
    pub logs: usize,
    pub segments_recovered: usize,
    /// Bytes read whole and validated by recovery: what lay past the recovery points.
    pub bytes_validated: u64,
    pub bytes_truncated: u64,
    pub indexes_rebuilt: usize,
    /// Aborted-transaction indexes rewritten because they did not match their log.
    pub txn_indexes_rebuilt: usize,
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(files::LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io(&path, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    if rc != 0 {
        return Err(LogError::io(
            &path,
            std::io::Error::other("the data directory is in use by another process"),
        ));
    }
    Ok(f)
}

/// Reads a Kafka offset checkpoint file: version 0, a count, then `topic partition offset`
/// lines. A missing or malformed file reads as empty (recovery then scans more).
pub fn read_checkpoint(fs: &dyn Fs, path: &Path) -> HashMap<LogKey, i64> {
    let mut out = HashMap::new();
    let Ok(f) = fs.open(path, OpenMode::Read) else {
        return out;
    };
    let len = f.len().unwrap_or(0).min(64 << 20) as usize;
    let mut buf = vec![0u8; len];
    if f.read_exact_at(&mut buf, 0).is_err() {
        return out;
    }
    let Ok(text) = String::from_utf8(buf) else {
        warn!(path = %path.display(), "checkpoint is not text: ignored");
        return out;
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        warn!(path = %path.display(), "checkpoint has an unknown version: ignored");
        return out;
    }
    let Some(count) = lines.next().and_then(|l| l.trim().parse::<usize>().ok()) else {
        return out;
    };
    for line in lines.take(count) {
        let mut parts = line.split(' ');
        let (Some(t), Some(p), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            warn!(path = %path.display(), "malformed checkpoint line: ignored file");
            return HashMap::new();
        };
        match (p.parse::<i32>(), o.parse::<i64>()) {
            (Ok(p), Ok(o)) => {
                out.insert((t.to_string(), p), o);
            }
            _ => return HashMap::new(),
        }
    }
    out
}

/// Writes a checkpoint file atomically: a temporary file, synced, renamed over the old one,
/// and the directory synced.
pub fn write_checkpoint(fs: &dyn Fs, path: &Path, entries: &HashMap<LogKey, i64>) -> Result<()> {
    replace_file(fs, path, &checkpoint_text(entries))?;
    fs.sync_dir(&crate::io::parent_of(path))
        .map_err(|e| LogError::io(path, e))
}

/// A checkpoint file's text, in Kafka's format, entries sorted.
fn checkpoint_text(entries: &HashMap<LogKey, i64>) -> String {
    let mut text = format!("0\n{}\n", entries.len());
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort();
    for ((t, p), o) in sorted {
        text.push_str(&format!("{t} {p} {o}\n"));
    }
    text
}

/// Writes `text` to a temporary file, syncs it and renames it over `path`; the rename is
/// durable once the directory is synced.
fn replace_file(fs: &dyn Fs, path: &Path, text: &str) -> Result<()> {
    let tmp = files::with_suffix(path, ".tmp");
    let f = fs
        .open(&tmp, OpenMode::ReadWriteCreate)
        .map_err(|e| LogError::io(&tmp, e))?;
    f.set_len(0).map_err(|e| LogError::io(&tmp, e))?;
    f.write_all_at(text.as_bytes(), 0)
        .map_err(|e| LogError::io(&tmp, e))?;
    f.sync_data().map_err(|e| LogError::io(&tmp, e))?;
    fs.rename(&tmp, path).map_err(|e| LogError::io(path, e))
}

impl LogManager {
    /// Opens the data directory on the real file system, with each log's config from
    /// `config_for(topic)` (the metadata layer knows topic configs).
    pub fn open(
        config: ManagerConfig,
        config_for: &(dyn Fn(&str) -> LogConfig + Sync),
    ) -> Result<(Self, StartupReport)> {
        Self::open_on(Arc::new(RealFs), config, config_for)
    }

    /// Opens the data directory on `fs`.
    pub fn open_on(
        fs: Arc<dyn Fs>,
        config: ManagerConfig,
        config_for: &(dyn Fn(&str) -> LogConfig + Sync),
    ) -> Result<(Self, StartupReport)> {
        config.default_log.validate()?;
        if config.producer_id_expiration_ms < 1 {
            return Err(LogError::Config(format!(
                "producer.id.expiration.ms must be at least 1, got {}",
                config.producer_id_expiration_ms
            )));
        }
        let dir = config.data_dir.clone();
        // Created durably: each new directory's entry synced in its parent, or a power loss
        // soon after the first start loses the whole directory, acknowledged data and all.
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !fs.is_dir(a))
            .map(Path::to_path_buf)
            .collect();
        fs.create_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        for created in missing.iter().rev() {
            let parent = created
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            fs.sync_dir(parent).map_err(|e| LogError::io(parent, e))?;
        }
        let lock = if config.lock_data_dir {
            Some(lock_dir(&dir)?)
        } else {
            None
        };

        let marker = dir.join(files::CLEAN_SHUTDOWN_FILE);
        let clean = fs.exists(&marker);
        let recovery_points =
            read_checkpoint(fs.as_ref(), &dir.join(files::RECOVERY_POINT_CHECKPOINT));
        let start_offsets =
            read_checkpoint(fs.as_ref(), &dir.join(files::LOG_START_OFFSET_CHECKPOINT));
        let cleaner_offsets = read_checkpoint(fs.as_ref(), &dir.join(files::CLEANER_CHECKPOINT));

        // Partition directories; finish interrupted deletions.
        let mut found: Vec<(String, i32, PathBuf)> = Vec::new();
        for name in fs.list_dir(&dir).map_err(|e| LogError::io(&dir, e))? {
            let path = dir.join(&name);
            if !fs.is_dir(&path) {
                continue;
            }
            if name.ends_with(files::DELETE_DIR_SUFFIX) {
                crate::recovery::remove_dir_contents(fs.as_ref(), &path)?;
                fs.remove_dir(&path).map_err(|e| LogError::io(&path, e))?;
                continue;
            }
            if let Some((topic, partition)) = files::parse_partition_dir_name(&name) {
                if files::is_valid_topic_name(topic) {
                    found.push((topic.to_string(), partition, path));
                }
            }
        }

        let now = wall_clock_ms();
        let opened: Mutex<Vec<(LogKey, Arc<Log>, LoadReport)>> = Mutex::new(Vec::new());
        let failed: Mutex<Option<LogError>> = Mutex::new(None);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = config
            .recovery_threads
            .clamp(1, DEFAULT_RECOVERY_THREADS)
            .min(found.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((topic, partition, path)) = found.get(i) else {
                        break;
                    };
                    let key = (topic.clone(), *partition);
                    let state = LoadState {
                        clean_shutdown: clean,
                        recovery_point: recovery_points.get(&key).copied(),
                        log_start_offset: start_offsets.get(&key).copied(),
                    };
                    match Log::open(
                        fs.clone(),
                        path,
                        topic,
                        *partition,
                        config_for(topic),
                        state,
                        now,
                    ) {
                        Ok((log, report)) => opened.lock().push((key, Arc::new(log), report)),
                        Err(e) => {
                            warn!(log = %path.display(), error = %e, "could not open log");
                            failed.lock().get_or_insert(e);
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let mut report = StartupReport {
            clean_shutdown: clean,
            ..Default::default()
        };
        let mut logs = HashMap::new();
        for (key, log, r) in opened.into_inner() {
            report.logs += 1;
            report.segments_recovered += r.segments_recovered;
            report.bytes_validated += r.bytes_validated;
            report.bytes_truncated += r.bytes_truncated;
            report.indexes_rebuilt += r.indexes_rebuilt;
            report.txn_indexes_rebuilt += r.txn_indexes_rebuilt;
            logs.insert(key, log);
        }
        // From here on a crash must be detected: the marker goes before anything is written.
        if clean {
            fs.remove_file(&marker)
                .map_err(|e| LogError::io(&marker, e))?;
            fs.sync_dir(&dir).map_err(|e| LogError::io(&dir, e))?;
        }
        info!(data_dir = %dir.display(), logs = report.logs, clean_shutdown = clean,
            recovered_segments = report.segments_recovered,
            validated_bytes = report.bytes_validated, cut_bytes = report.bytes_truncated, "log manager started");

        let inner = Arc::new(Inner {
            flusher: Flusher::start(config.flush_parallelism),
            space: DiskSpace::new(&dir, config.reserved_bytes),
            config,
            fs,
            logs: RwLock::new(logs),
            cleaner_offsets: Mutex::new(cleaner_offsets),
            checkpoint_lock: Mutex::new(()),
            appended_since_checkpoint: AtomicU64::new(0),
            checkpoints_written: Mutex::new(HashMap::new()),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            closed: AtomicBool::new(false),
            _lock: lock,
        });
        for log in inner.logs.read().values() {
            log.set_checkpointer(inner.checkpointer());
        }
        let mgr = LogManager {
            inner,
            threads: Arc::new(Mutex::new(Vec::new())),
        };
        // As Kafka drops expired producers when it loads a snapshot.
        mgr.remove_expired_producers(now);
        // A crash before the first periodic checkpoint must not rescan everything. On a
        // full disk the broker still starts (the next start then scans more), unless
        // recovery cut a log below its checkpointed recovery point: the next recovery
        // would trust what is appended there without reading it.
        let cut_below_checkpoint = mgr.logs().iter().any(|log| {
            let key = (log.topic().to_string(), log.partition());
            recovery_points
                .get(&key)
                .is_some_and(|&rp| log.log_end_offset() < rp)
        });
        match mgr.inner.checkpoint_keeping(Some(&recovery_points)) {
            Err(e) if e.is_no_space() && !cut_below_checkpoint => {
                warn!(error = %e, "writing checkpoints failed")
            }
            other => other?,
        }
        if mgr.inner.config.background_threads {
            mgr.start_threads();
        }
        Ok((mgr, report))
    }

    fn start_threads(&self) {
        let m = self.clone();
        let maintenance = std::thread::Builder::new()
            .name("myelin-log-maintenance".into())
            .spawn(move || m.maintenance_loop())
            .expect("spawn the maintenance thread");
        self.threads.lock().push(maintenance);
        if self.inner.config.cleaner_enable {
            let m = self.clone();
            let cleaner = std::thread::Builder::new()
                .name("myelin-log-cleaner".into())
                .spawn(move || m.cleaner_loop())
                .expect("spawn the cleaner thread");
            self.threads.lock().push(cleaner);
        }
    }

    /// Sleeps up to `ms`, returning true when the manager is stopping.
    fn sleep(&self, ms: u64) -> bool {
        let mut stop = self.inner.stop.lock();
        if !*stop {
            self.inner
                .stop_cv
                .wait_for(&mut stop, Duration::from_millis(ms));
        }
        *stop
    }

    fn maintenance_loop(&self) {
        let cfg = &self.inner.config;
        let tick = cfg.flush_scheduler_interval_ms.clamp(10, 1_000);
        let (mut last_retention, mut last_checkpoint) = (wall_clock_ms(), wall_clock_ms());
        let mut last_expiry = wall_clock_ms();
        let mut last_dir_check = wall_clock_ms();
        while !self.sleep(tick) {
            let now = wall_clock_ms();
            self.flush_due(now);
            if now - last_dir_check >= DIR_CHECK_INTERVAL_MS {
                last_dir_check = now;
                self.check_log_dirs();
            }
            if now - last_retention >= cfg.retention_check_interval_ms as i64 {
                last_retention = now;
                self.run_retention(now);
            }
            if now - last_expiry >= cfg.producer_id_expiration_check_interval_ms as i64 {
                last_expiry = now;
                self.remove_expired_producers(now);
            }
            let on_time = now - last_checkpoint >= cfg.checkpoint_interval_ms as i64;
            let appended = self.inner.appended_since_checkpoint.load(Ordering::Acquire);
            if on_time || appended >= cfg.checkpoint_interval_bytes {
                if on_time {
                    last_checkpoint = now;
                }
                if let Err(e) = self.checkpoint_with_producer_snapshots(on_time) {
                    warn!(error = %e, "writing checkpoints failed");
                }
            }
        }
    }

    /// Takes the producer snapshots that go with a recovery-point checkpoint, then writes
    /// the checkpoint; returns how many snapshots were taken. A `timed` one (every
    /// `log.flush.offset.checkpoint.interval.ms`) takes one of every log with
    /// [`crate::CHECKPOINT_SNAPSHOT_MIN_BYTES`] appended since its last. One for the bytes
    /// appended (`log.flush.offset.checkpoint.interval.bytes`) takes them only where the
    /// producer-state replay after a crash would otherwise pass that same bound in all:
    /// of the logs with the most to replay, until the rest is within it. Each costs two
    /// syncs, and a log written fast takes one every 64 MiB anyway: with 16 partitions
    /// none is taken there (at every such checkpoint, they slowed a 16-partition fill by
    /// several percent).
    pub fn checkpoint_with_producer_snapshots(&self, timed: bool) -> Result<usize> {
        let started = std::time::Instant::now();
        let mut logs: Vec<Arc<Log>> = self.inner.logs.read().values().cloned().collect();
        if !timed {
            let replay: Vec<u64> = logs.iter().map(|l| l.producer_replay_bytes()).collect();
            let chosen = largest_until_within(
                &replay,
                self.inner.config.checkpoint_interval_bytes,
                crate::CHECKPOINT_SNAPSHOT_MIN_BYTES,
            );
            logs = chosen.into_iter().map(|i| logs[i].clone()).collect();
        }
        let snapshotted = self
            .inner
            .on_checkpoint_threads(&logs, |log| {
                log.snapshot_producers(crate::CHECKPOINT_SNAPSHOT_MIN_BYTES)
            })
            .into_iter()
            .filter(|&staged| staged)
            .count();
        let snapshots_us = started.elapsed().as_micros() as u64;
        self.checkpoint()?;
        debug!(
            timed,
            snapshotted,
            snapshots_us,
            elapsed_us = started.elapsed().as_micros() as u64,
            "checkpoint written"
        );
        Ok(snapshotted)
    }

    fn cleaner_loop(&self) {
        let backoff = self.inner.config.cleaner_backoff_ms.max(10);
        loop {
            let cleaned = self.run_cleaner(wall_clock_ms());
            if self.sleep(if cleaned > 0 { 10 } else { backoff }) {
                return;
            }
        }
    }

    /// Takes offline every log whose directory has vanished (removed under the broker):
    /// appends would go on into files no name reaches, and be lost at the next start.
    /// Returns how many were taken offline.
    pub fn check_log_dirs(&self) -> usize {
        let mut n = 0;
        for log in self.logs() {
            if !log.is_offline() && !self.inner.fs.is_dir(log.dir()) {
                warn!(log = %log.name(), dir = %log.dir().display(),
                    "the partition's directory is gone: taking the log offline");
                log.set_offline();
                n += 1;
            }
        }
        n
    }

    /// Flushes the logs whose `flush.ms` is due, or whose `flush.messages` is exceeded.
    pub fn flush_due(&self, now_ms: i64) {
        for log in self.logs() {
            let cfg = log.config();
            let unflushed = log.unflushed_messages();
            if unflushed > 0
                && (unflushed >= cfg.flush_messages || now_ms - log.last_flush_ms() >= cfg.flush_ms)
            {
                self.inner
                    .flusher
                    .request(&log, log.log_end_offset(), false);
            }
        }
    }

    /// Applies retention to every log; returns the segments deleted.
    pub fn run_retention(&self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for log in self.logs() {
            match log.apply_retention(now_ms) {
                Ok(o) => deleted += o.segments_deleted,
                Err(e) => warn!(log = %log.name(), error = %e, "retention failed"),
            }
        }
        deleted
    }

    /// Forgets, in every log, the producers idle for `producer.id.expiration.ms`; returns
    /// how many.
    pub fn remove_expired_producers(&self, now_ms: i64) -> usize {
        let expiration = self.inner.config.producer_id_expiration_ms;
        self.logs()
            .iter()
            .map(|log| log.remove_expired_producers(now_ms, expiration))
            .sum()
    }

    /// One cleaner pass over the compacted logs that need it; returns how many were
    /// cleaned.
    pub fn run_cleaner(&self, now_ms: i64) -> usize {
        let mut cleaned = 0;
        for log in self.logs() {
            if !log.config().cleanup_policy.compact {
                continue;
            }
            match self.clean_log(&log, now_ms) {
                Ok(Some(_)) => cleaned += 1,
                Ok(None) => {}
                Err(e) => warn!(log = %log.name(), error = %e, "compaction failed"),
            }
        }
        if cleaned > 0 {
            if let Err(e) = self.checkpoint() {
                warn!(error = %e, "writing checkpoints failed");
            }
        }
        cleaned
    }

    /// The cleaner's bounds for `log`: nothing at or above the recovery point is cleaned or
    /// supersedes older records, since a crash may still cut it (replication will lower this
    /// to the high watermark, below which no replica truncates). The cleaner lowers it
    /// further to the last stable offset: an undecided transaction is not cleaned.
    fn cleaner_options(log: &Log) -> cleaner::CleanerOptions {
        cleaner::CleanerOptions {
            uncleanable_offset: log.recovery_point(),
            ..Default::default()
        }
    }

    /// Compacts one log now if it needs it (tests and admin tools).
    pub fn clean_log(&self, log: &Log, now_ms: i64) -> Result<Option<CleanStats>> {
        let key = (log.topic().to_string(), log.partition());
        let checkpoint = self
            .inner
            .cleaner_offsets
            .lock()
            .get(&key)
            .copied()
            .unwrap_or(0);
        let stats =
            cleaner::clean_with_options(log, checkpoint, now_ms, &Self::cleaner_options(log))?;
        if let Some(s) = &stats {
            self.inner
                .cleaner_offsets
                .lock()
                .insert(key, s.clean_offset);
        }
        Ok(stats)
    }

    /// The data directory's free space and the reserve client appends leave.
    pub fn space(&self) -> &DiskSpace {
        &self.inner.space
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }

    pub fn default_log_config(&self) -> &LogConfig {
        &self.inner.config.default_log
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Log>> {
        self.inner
            .logs
            .read()
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// All logs, in no particular order.
    pub fn logs(&self) -> Vec<Arc<Log>> {
        self.inner.logs.read().values().cloned().collect()
    }

    /// The log of `topic`/`partition`, created with `config` if it does not exist.
    pub fn get_or_create(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
    ) -> Result<Arc<Log>> {
        if let Some(log) = self.get(topic, partition) {
            return Ok(log);
        }
        if !files::is_valid_topic_name(topic) || partition < 0 {
            return Err(LogError::Config(format!(
                "invalid log name {topic}-{partition}"
            )));
        }
        let mut logs = self.inner.logs.write();
        let key = (topic.to_string(), partition);
        if let Some(log) = logs.get(&key) {
            return Ok(log.clone());
        }
        let dir = self
            .inner
            .config
            .data_dir
            .join(files::partition_dir_name(topic, partition));
        let state = LoadState {
            clean_shutdown: false,
            recovery_point: None,
            log_start_offset: None,
        };
        let (log, _) = Log::open(
            self.inner.fs.clone(),
            &dir,
            topic,
            partition,
            config,
            state,
            wall_clock_ms(),
        )?;
        log.set_checkpointer(self.inner.checkpointer());
        let log = Arc::new(log);
        logs.insert(key, log.clone());
        Ok(log)
    }

    /// Deletes a log and its directory. The directory is first renamed to a `-delete` name,
    /// so that a crash half way leaves nothing a restart would take for a log.
    pub fn delete(&self, topic: &str, partition: i32) -> Result<bool> {
        let Some(log) = self
            .inner
            .logs
            .write()
            .remove(&(topic.to_string(), partition))
        else {
            return Ok(false);
        };
        let fs = &self.inner.fs;
        let from = log.dir().to_path_buf();
        let to = files::with_suffix(
            &from,
            &format!(".{}{}", wall_clock_ms(), files::DELETE_DIR_SUFFIX),
        );
        let _guard = log.append_lock();
        // Appends through a handle someone still holds must fail, not write into the
        // directory being removed.
        log.set_offline();
        fs.rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
        fs.sync_dir(&self.inner.config.data_dir)
            .map_err(|e| LogError::io(&from, e))?;
        drop(_guard);
        self.inner
            .cleaner_offsets
            .lock()
            .remove(&(topic.to_string(), partition));
        // The checkpoints must forget the log before a new one of the same name can be
        // created: its recovery point and log start offset would apply to the new log.
        self.checkpoint()?;
        crate::recovery::remove_dir_contents(fs.as_ref(), &to)?;
        fs.remove_dir(&to).map_err(|e| LogError::io(&to, e))?;
        Ok(true)
    }

    /// Appends to `log` and, when the log acknowledges only durable data (Myelin's
    /// default), returns the wait for the group-commit flush that covers it. Otherwise a
    /// flush is started once `flush.messages` is exceeded, and nothing waits. A duplicate
    /// ([`AppendInfo::duplicate`]) waits for its original to be durable, like any append.
    pub fn append(
        &self,
        log: &Arc<Log>,
        buf: &[u8],
        opts: &AppendOptions,
    ) -> Result<(AppendInfo, Option<DurableWait>)> {
        self.append_with_origin(log, buf, opts, AppendOrigin::Client)
    }

    /// [`Self::append`] for a coordinator of this broker writing to its internal topic
    /// (Kafka's `AppendOrigin.COORDINATOR`): a transactional batch may carry the producer's
    /// id and epoch with no sequence (see [`Log::append_with_origin`]).
    pub fn append_from_coordinator(
        &self,
        log: &Arc<Log>,
        buf: &[u8],
        opts: &AppendOptions,
    ) -> Result<(AppendInfo, Option<DurableWait>)> {
        self.append_with_origin(log, buf, opts, AppendOrigin::Coordinator)
    }

    fn append_with_origin(
        &self,
        log: &Arc<Log>,
        buf: &[u8],
        opts: &AppendOptions,
        origin: AppendOrigin,
    ) -> Result<(AppendInfo, Option<DurableWait>)> {
        let info = match log.append_with_origin(buf, opts, origin) {
            Ok(info) => {
                self.inner
                    .appended_since_checkpoint
                    .fetch_add(info.bytes, Ordering::AcqRel);
                info
            }
            Err(e) => {
                if e.is_no_space() {
                    self.inner.space.invalidate();
                }
                return Err(e);
            }
        };
        let cfg = log.config();
        let wait = if cfg.durable_acks() {
            self.inner.flusher.request(log, info.last_offset + 1, true)
        } else {
            if log.unflushed_messages() >= cfg.flush_messages {
                self.inner.flusher.request(log, info.last_offset + 1, false);
            } else if log.note_for_write_behind(info.bytes) {
                self.inner.flusher.write_behind(log);
            }
            None
        };
        Ok((info, wait))
    }

    /// Truncates `log` to `offset` and writes the checkpoints at once, so that a crash
    /// before the next periodic checkpoint cannot trust a recovery point above the cut.
    pub fn truncate_to(&self, log: &Arc<Log>, offset: i64) -> Result<()> {
        log.truncate_to(offset)?;
        // The clean section cannot extend past the cut.
        let key = (log.topic().to_string(), log.partition());
        if let Some(clean) = self.inner.cleaner_offsets.lock().get_mut(&key) {
            *clean = (*clean).min(offset);
        }
        self.checkpoint()
    }

    /// Waits until `log` is durable below `offset`, through the group-commit flusher.
    pub fn flush_to(&self, log: &Arc<Log>, offset: i64) -> DurableWait {
        self.inner
            .flusher
            .request(log, offset, true)
            .expect("a waiting request always returns a wait")
    }

    /// Sets the function told how long each group-commit log flush took (once).
    pub fn set_flush_observer(&self, observer: crate::flusher::FlushObserver) {
        self.inner.flusher.set_observer(observer);
    }

    /// (flush waves, log flushes) since start: how well group commit is batching.
    pub fn flush_stats(&self) -> (u64, u64) {
        self.inner.flusher.stats()
    }

    /// Writes the recovery point, log start offset and cleaner checkpoints.
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.checkpoint()
    }

    /// A clean shutdown: stop the background work, flush and close every log, write the
    /// checkpoints, then the clean-shutdown marker, so the next start skips recovery.
    pub fn shutdown(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *self.inner.stop.lock() = true;
        self.inner.stop_cv.notify_all();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        self.inner.flusher.stop();
        let now = wall_clock_ms();
        let mut all_ok = true;
        for log in self.logs() {
            if let Err(e) = log.close(now) {
                warn!(log = %log.name(), error = %e, "closing a log failed");
                all_ok = false;
            }
            all_ok &= !log.is_offline();
        }
        self.checkpoint()?;
        if all_ok {
            let dir = &self.inner.config.data_dir;
            let marker = dir.join(files::CLEAN_SHUTDOWN_FILE);
            let f = self
                .inner
                .fs
                .open(&marker, OpenMode::ReadWriteCreate)
                .map_err(|e| LogError::io(&marker, e))?;
            f.sync_data().map_err(|e| LogError::io(&marker, e))?;
            self.inner
                .fs
                .sync_dir(dir)
                .map_err(|e| LogError::io(dir, e))?;
        }
        info!(data_dir = %self.inner.config.data_dir.display(), clean = all_ok, "log manager shut down");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::largest_until_within;

    #[test]
    fn a_checkpoint_for_the_bytes_snapshots_the_largest_replays_until_the_rest_is_within_the_bound()
    {
        // Within the bound: none (16 partitions under the 64 MiB snapshot interval).
        assert!(largest_until_within(&[64, 64, 64], 200, 10).is_empty());
        assert!(largest_until_within(&[], 0, 10).is_empty());
        // Over it: the largest first, until what is left fits.
        assert_eq!(largest_until_within(&[50, 300, 20, 120], 200, 10), vec![1]);
        assert_eq!(
            largest_until_within(&[50, 110, 100, 90], 120, 10),
            vec![1, 2, 3]
        );
        // None under the minimum, even when what is left stays over the bound.
        assert_eq!(largest_until_within(&[5, 6, 7, 300], 10, 8), vec![3]);
    }
}
