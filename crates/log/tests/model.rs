//! Model-based tests of one log: random sequences of appends, rolls, truncations, log start
//! offset moves, retention passes, flushes and reopens (clean and after a crash), checked
//! after every step against a plain in-memory model of what the log must hold.
//!
//! Segments are small (`segment.bytes` 512-2048, `index.interval.bytes` 64, sometimes a
//! tiny `segment.index.bytes`), so that rolls, index entries and full indexes all happen.
//! A second property does the same for compacted logs: compaction may drop superseded
//! records, but never the latest record of a key, and never changes one it keeps.
//!
//! On a failure, `MYELIN_MODEL_TRACE=1` prints the model and every segment's batches and
//! index entries at the failing step; `PROPTEST_CASES=2000` runs a longer search.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use myelin_log::batch::{validate_batch, BatchIter};
use myelin_log::cleaner::{clean_with_options, CleanerOptions};
use myelin_log::compression::Compression;
use myelin_log::files::{self, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::{AppendOptions, CleanupPolicy, LoadState, Log, LogConfig, TimestampType};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// One record as the model keeps it.
#[derive(Clone, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    /// At most one header, to check headers survive verbatim.
    header: Option<(Vec<u8>, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.key.as_deref().map(String::from_utf8_lossy);
        let value = self.value.as_ref().map(Vec::len);
        write!(
            f,
            "Rec(key {key:?}, value {value:?} bytes, ts {}",
            self.timestamp
        )?;
        if let Some(h) = &self.header {
            write!(f, ", header {h:?}")?;
        }
        write!(f, ")")
    }
}

/// A batch to append: its records and codec.
#[derive(Debug, Clone)]
struct GenBatch {
    records: Vec<Rec>,
    codec: Compression,
}

impl GenBatch {
    /// The batch as a producer sends it: base timestamp from the first record (deltas may be
    /// negative), max timestamp the largest.
    fn encode(&self) -> Vec<u8> {
        let base_ts = self.records[0].timestamp;
        let max_ts = self.records.iter().map(|r| r.timestamp).max().unwrap();
        let mut raw = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            let hs: Vec<(&[u8], Option<&[u8]>)> = r
                .header
                .iter()
                .map(|(k, v)| (&k[..], v.as_deref()))
                .collect();
            encode_record(
                &mut raw,
                0,
                r.timestamp - base_ts,
                i as i32,
                r.key.as_deref(),
                r.value.as_deref(),
                &hs,
            );
        }
        let n = self.records.len() as i32;
        BatchBuilder {
            compression: self.codec,
            last_offset_delta: n - 1,
            base_timestamp: base_ts,
            max_timestamp: max_ts,
            ..BatchBuilder::new()
        }
        .build(&raw, n)
        .unwrap()
    }
}

/// How a log is reopened.
#[derive(Debug, Clone, Copy)]
enum Reopen {
    /// `close()`, then open with `clean_shutdown: true`.
    Clean,
    /// Dropped without `close()` (a crash; the page cache survives), then opened with the
    /// recovery point and log start offset the log last reported.
    Unclean,
    /// A crash with no recovery point checkpoint: every segment is scanned.
    UncleanNoCheckpoint,
}

/// A retention pass and the config it runs with.
#[derive(Debug, Clone, Copy)]
enum Retention {
    /// `retention.ms`, applied at `now_ms`.
    Time { retention_ms: i64, now_ms: i64 },
    /// `retention.bytes`.
    Size { retention_bytes: i64 },
}

#[derive(Debug, Clone)]
enum Op {
    /// Batches laid end to end in one append (as a Produce request carries them), at a wall
    /// clock time (`segment.ms` rolls and LogAppendTime use it).
    Append(Vec<GenBatch>, i64),
    Roll,
    /// `truncate_to` an offset picked from `[0, log end offset]` by this number; with
    /// `at_batch_start`, moved down to the start of the batch that holds it.
    Truncate {
        pick: u32,
        at_batch_start: bool,
    },
    /// `advance_log_start_offset` to an offset picked from `[0, log end offset]`.
    AdvanceStart {
        pick: u32,
    },
    Retention(Retention),
    Flush,
    Reopen(Reopen),
    /// Compacted logs only: a cleaning pass at this time, bounded by the high watermark.
    Compact {
        now_ms: i64,
    },
    /// Compacted logs only: the high watermark moves up to the batch boundary at or below
    /// an offset picked from `[0, log end offset]`.
    AdvanceHighWatermark {
        pick: u32,
    },
}

const KEYS: u8 = 6;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn codec() -> impl Strategy<Value = Compression> {
    prop_oneof![
        3 => Just(Compression::None),
        1 => Just(Compression::Gzip),
        1 => Just(Compression::Lz4),
        1 => Just(Compression::Zstd),
        1 => Just(Compression::Snappy),
    ]
}

/// A record; on a compacted log every record has a key and some values are tombstones.
fn record(compact: bool) -> impl Strategy<Value = Rec> {
    let key = if compact {
        (0..KEYS)
            .prop_map(|k| Some(format!("key-{k}").into_bytes()))
            .boxed()
    } else {
        prop_oneof![
            1 => Just(None),
            3 => (0..KEYS).prop_map(|k| Some(format!("key-{k}").into_bytes())),
        ]
        .boxed()
    };
    let value = prop_oneof![1 => Just(None), 8 => bytes(100).prop_map(Some)];
    let header = prop_oneof![
        3 => Just(None),
        1 => (bytes(6), prop::option::of(bytes(6))).prop_map(Some),
    ];
    (key, value, 0i64..10_000, header).prop_map(|(key, value, timestamp, header)| Rec {
        key,
        value,
        timestamp,
        header,
    })
}

fn batch(compact: bool) -> impl Strategy<Value = GenBatch> {
    (prop::collection::vec(record(compact), 1..=5), codec())
        .prop_map(|(records, codec)| GenBatch { records, codec })
}

fn appends(compact: bool) -> BoxedStrategy<Op> {
    let batches = prop_oneof![
        4 => prop::collection::vec(batch(compact), 1..=1),
        1 => prop::collection::vec(batch(compact), 2..=3),
    ];
    (batches, 0i64..20_000)
        .prop_map(|(b, now_ms)| Op::Append(b, now_ms))
        .boxed()
}

fn op(compact: bool) -> impl Strategy<Value = Op> {
    let reopen = prop_oneof![
        2 => Just(Reopen::Clean),
        2 => Just(Reopen::Unclean),
        1 => Just(Reopen::UncleanNoCheckpoint),
    ];
    let retention = prop_oneof![
        (0i64..5_000, 0i64..15_000).prop_map(|(retention_ms, now_ms)| Retention::Time {
            retention_ms,
            now_ms
        }),
        (0i64..6_000).prop_map(|retention_bytes| Retention::Size { retention_bytes }),
    ];
    if compact {
        prop_oneof![
            12 => appends(true),
            2 => Just(Op::Roll),
            1 => (any::<u32>(), Just(true))
                .prop_map(|(pick, at_batch_start)| Op::Truncate { pick, at_batch_start }),
            1 => Just(Op::Flush),
            2 => reopen.prop_map(Op::Reopen),
            4 => (10_000i64..100_000).prop_map(|now_ms| Op::Compact { now_ms }),
            3 => any::<u32>().prop_map(|pick| Op::AdvanceHighWatermark { pick }),
        ]
        .boxed()
    } else {
        prop_oneof![
            12 => appends(false),
            2 => Just(Op::Roll),
            2 => (any::<u32>(), any::<bool>())
                .prop_map(|(pick, at_batch_start)| Op::Truncate { pick, at_batch_start }),
            2 => any::<u32>().prop_map(|pick| Op::AdvanceStart { pick }),
            2 => retention.prop_map(Op::Retention),
            1 => Just(Op::Flush),
            2 => reopen.prop_map(Op::Reopen),
        ]
        .boxed()
    }
}

fn config(compact: bool) -> impl Strategy<Value = LogConfig> {
    let timestamp_type = prop_oneof![
        3 => Just(TimestampType::CreateTime),
        1 => Just(TimestampType::LogAppendTime),
    ];
    (
        512u64..=2048,
        prop_oneof![Just(96usize), Just(4096usize)],
        prop_oneof![Just(604_800_000i64), 1_000i64..10_000],
        timestamp_type,
    )
        .prop_map(
            move |(segment_bytes, segment_index_bytes, segment_ms, message_timestamp_type)| {
                LogConfig {
                    segment_bytes,
                    segment_index_bytes,
                    segment_ms,
                    message_timestamp_type,
                    index_interval_bytes: 64,
                    retention_ms: -1,
                    retention_bytes: -1,
                    cleanup_policy: if compact {
                        CleanupPolicy::COMPACT
                    } else {
                        CleanupPolicy::DELETE
                    },
                    min_cleanable_dirty_ratio: 0.0,
                    min_compaction_lag_ms: 0,
                    ..LogConfig::default()
                }
            },
        )
}

/// What the log must hold.
#[derive(Debug, Default)]
struct Model {
    /// Every record still in the files, by offset: at and above the log start offset these
    /// are what reads return; below it they may linger in the first segment.
    records: BTreeMap<i64, Rec>,
    /// (base offset, last offset) of every batch still in the files.
    batches: BTreeMap<i64, i64>,
    log_start_offset: i64,
    log_end_offset: i64,
    /// The cleaner checkpoint (compacted logs).
    clean_offset: i64,
    /// Compacted logs: records at and above it are neither cleaned nor used to supersede
    /// older ones (as in a replica, where only records above it are ever truncated).
    high_watermark: i64,
}

impl Model {
    fn visible(&self) -> impl Iterator<Item = (i64, &Rec)> + '_ {
        self.records
            .range(self.log_start_offset..)
            .map(|(o, r)| (*o, r))
    }

    /// Drops everything at or after `offset`.
    fn cut(&mut self, offset: i64) {
        self.records.split_off(&offset);
        self.batches.split_off(&offset);
    }

    /// Drops everything below `offset` (whole segments deleted).
    fn drop_below(&mut self, offset: i64) {
        self.records = self.records.split_off(&offset);
        self.batches = self.batches.split_off(&offset);
    }
}

/// A temporary directory, in memory (`/dev/shm`) where there is one: these tests reopen
/// logs thousands of times, and every open after a crash syncs.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions {
        leader_epoch: 1,
        now_ms,
    }
}

fn open(dir: &Path, cfg: &LogConfig, state: LoadState) -> Log {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Log::open(fs, dir, "model", 0, cfg.clone(), state, 0)
        .unwrap()
        .0
}

/// Every record the log returns from `from` on, reading batch after batch with `max_bytes`
/// per read; records below `from` in the first batch are skipped, as a client does. Every
/// batch must pass validation and offsets must increase.
fn read_all(log: &Log, from: i64, max_bytes: u64) -> Vec<(i64, Rec)> {
    read_below(log, from, max_bytes, i64::MAX)
}

/// [`read_all`] bounded by a high watermark: only batches that start below `max_offset`.
fn read_below(log: &Log, from: i64, max_bytes: u64, max_offset: i64) -> Vec<(i64, Rec)> {
    let mut out: Vec<(i64, Rec)> = Vec::new();
    let mut offset = from;
    loop {
        let r = log.read(offset, max_bytes, max_offset, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        let mut it = BatchIter::new(&bytes);
        let mut seen = 0;
        for (_, h, b) in it.by_ref() {
            seen += 1;
            validate_batch(b, usize::MAX).unwrap();
            assert!(
                h.last_offset() >= offset,
                "batch {h:?} ends before offset {offset}"
            );
            let (_, recs) = records_of_batch(b, 1 << 24).unwrap();
            for rec in RecordIter::new(&recs, h.record_count) {
                let rec = rec.unwrap();
                let o = h.base_offset + i64::from(rec.offset_delta);
                assert!(
                    o <= h.last_offset(),
                    "record offset {o} past its batch {h:?}"
                );
                if o < offset {
                    continue;
                }
                if let Some((prev, _)) = out.last() {
                    assert!(o > *prev, "offsets go back: {prev} then {o}");
                }
                let mut headers = rec.headers();
                let header = headers
                    .next()
                    .map(|h| h.unwrap())
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)));
                assert!(headers.next().is_none());
                out.push((
                    o,
                    Rec {
                        key: rec.key.map(<[u8]>::to_vec),
                        value: rec.value.map(<[u8]>::to_vec),
                        timestamp: if h.is_log_append_time() {
                            h.max_timestamp
                        } else {
                            h.base_timestamp + rec.timestamp_delta
                        },
                        header,
                    },
                ));
            }
            offset = offset.max(h.last_offset() + 1);
        }
        assert!(seen > 0, "a read returned no whole batch");
        assert_eq!(
            it.position(),
            bytes.len(),
            "a read returned a partial batch"
        );
    }
    out
}

/// The first record at or after `timestamp`, in offset order.
fn expected_for_timestamp(records: &[(i64, Rec)], timestamp: i64) -> Option<(i64, i64)> {
    records
        .iter()
        .find(|(_, r)| r.timestamp >= timestamp)
        .map(|(o, r)| (*o, r.timestamp))
}

/// The earliest record with the largest timestamp.
fn expected_max_timestamp(records: &[(i64, Rec)]) -> Option<(i64, i64)> {
    let max = records.iter().map(|(_, r)| r.timestamp).max()?;
    expected_for_timestamp(records, max)
}

/// Checks the lookups that depend only on what the log holds: reads from every offset and
/// timestamp lookups, against `held` (what reading from the log start offset returned).
fn check_lookups(log: &Log, held: &[(i64, Rec)], probes: &[i64]) {
    let lso = log.log_start_offset();
    let leo = log.log_end_offset();
    // A read from any offset returns the batch holding it (or the next one).
    for o in lso..=leo {
        let got = read_all_first(log, o);
        let want = held.iter().find(|(off, _)| *off >= o).map(|(off, _)| *off);
        assert_eq!(got, want, "first record read from offset {o}");
    }
    // Timestamp lookups, at every timestamp held and around the probes.
    let mut ts: Vec<i64> = held.iter().map(|(_, r)| r.timestamp).collect();
    ts.extend(probes.iter().flat_map(|t| [t - 1, *t, t + 1]));
    ts.extend([0, 10_000]);
    ts.sort_unstable();
    ts.dedup();
    for t in ts {
        assert_eq!(
            log.offset_for_timestamp(t).unwrap(),
            expected_for_timestamp(held, t),
            "offset_for_timestamp({t})"
        );
    }
    assert_eq!(
        log.offset_of_max_timestamp().unwrap(),
        expected_max_timestamp(held),
        "offset_of_max_timestamp"
    );
}

/// The offset of the first record at or after `offset` that a small read returns.
fn read_all_first(log: &Log, offset: i64) -> Option<i64> {
    let r = log.read(offset, 1, i64::MAX, true).unwrap();
    let bytes = r.slice?.to_vec().unwrap();
    let mut first = None;
    for (_, h, b) in BatchIter::new(&bytes) {
        assert!(
            h.last_offset() >= offset,
            "read({offset}) returned {h:?}, wholly below it"
        );
        let (_, recs) = records_of_batch(b, 1 << 24).unwrap();
        for rec in RecordIter::new(&recs, h.record_count) {
            let o = h.base_offset + i64::from(rec.unwrap().offset_delta);
            if o >= offset && first.is_none() {
                first = Some(o);
            }
        }
        if first.is_some() {
            return first;
        }
    }
    // Every record of the batch was compacted away or below the offset: read on.
    let next = BatchIter::new(&bytes).last().unwrap().1.last_offset() + 1;
    if next >= log.log_end_offset() {
        return None;
    }
    read_all_first(log, next)
}

/// The size in bytes of each segment's `.log`, by base offset.
fn segment_sizes(log: &Log) -> Vec<(i64, u64)> {
    log.segment_base_offsets()
        .into_iter()
        .map(|b| {
            let p = files::segment_path(log.dir(), b, FileKind::Log);
            (b, std::fs::metadata(p).unwrap().len())
        })
        .collect()
}

/// Prints each segment's batches and index entries (on a failure).
fn describe(log: &Log) {
    for base in log.segment_base_offsets() {
        let read = |k| std::fs::read(files::segment_path(log.dir(), base, k)).unwrap_or_default();
        let bytes = read(FileKind::Log);
        eprintln!("segment {base}: {} bytes", bytes.len());
        for (pos, h, _) in BatchIter::new(&bytes) {
            let (b, l, t) = (h.base_offset, h.last_offset(), h.max_timestamp);
            eprintln!("  batch at {pos}: offsets {b}..={l}, max timestamp {t}");
        }
        let idx = read(FileKind::Index);
        let entries: Vec<(i32, i32)> = idx
            .chunks_exact(8)
            .map(|e| {
                (
                    i32::from_be_bytes(e[..4].try_into().unwrap()),
                    i32::from_be_bytes(e[4..].try_into().unwrap()),
                )
            })
            .collect();
        eprintln!("  .index {entries:?}");
        let tidx = read(FileKind::TimeIndex);
        let entries: Vec<(i64, i32)> = tidx
            .chunks_exact(12)
            .map(|e| {
                (
                    i64::from_be_bytes(e[..8].try_into().unwrap()),
                    i32::from_be_bytes(e[8..].try_into().unwrap()),
                )
            })
            .collect();
        eprintln!("  .timeindex {entries:?}");
    }
}

/// Which segments `apply_retention` must delete, from the layout before it (as the log
/// documents it): those wholly below the log start offset, then expired or excess ones,
/// oldest first, stopping at the first that stays. Returns the new first base offset, or
/// None when everything goes (the log rolls and keeps an empty segment at its end).
fn expected_retention(model: &Model, layout: &[(i64, u64)], rule: Retention) -> Option<i64> {
    let total: u64 = layout.iter().map(|(_, s)| s).sum();
    let mut excess = match rule {
        Retention::Size { retention_bytes } => total.saturating_sub(retention_bytes as u64),
        Retention::Time { .. } => 0,
    };
    for (i, (base, size)) in layout.iter().enumerate() {
        let next_base = layout.get(i + 1).map(|(b, _)| *b);
        let below_start = next_base.is_some_and(|n| n <= model.log_start_offset);
        let end = next_base.unwrap_or(i64::MAX);
        let max_ts = model
            .records
            .range(base..&end)
            .map(|(_, r)| r.timestamp)
            .max();
        let expired = match rule {
            Retention::Time {
                retention_ms,
                now_ms,
            } => max_ts.is_some_and(|m| m < now_ms - retention_ms),
            Retention::Size { .. } => false,
        };
        let too_big = excess >= *size && *size > 0 && next_base.is_some();
        if !(below_start || expired || too_big) {
            return Some(*base);
        }
        excess = excess.saturating_sub(*size);
    }
    None
}

/// Checks everything the model knows against the log.
fn check(log: &Log, model: &Model, probes: &[i64]) {
    assert_eq!(log.log_end_offset(), model.log_end_offset, "log end offset");
    assert_eq!(
        log.log_start_offset(),
        model.log_start_offset,
        "log start offset"
    );
    let bases = log.segment_base_offsets();
    assert!(
        bases[0] <= model.log_start_offset,
        "first segment {bases:?} starts past the log start offset"
    );
    assert!(*bases.last().unwrap() <= model.log_end_offset);
    let held = read_all(log, model.log_start_offset, 1 << 20);
    let want: Vec<(i64, Rec)> = model.visible().map(|(o, r)| (o, r.clone())).collect();
    assert_eq!(held, want, "records from the log start offset");
    // Small reads (one batch each) and middling ones return the same.
    assert_eq!(read_all(log, model.log_start_offset, 1), want);
    assert_eq!(read_all(log, model.log_start_offset, 300), want);
    // A high watermark (a batch boundary) bounds reads to the records below it.
    let (lso, leo) = (model.log_start_offset, model.log_end_offset);
    let mut boundaries: Vec<i64> = model.batches.keys().copied().filter(|b| *b > lso).collect();
    boundaries.push(leo);
    let n = boundaries.len();
    for hw in [boundaries[0], boundaries[n / 2], boundaries[n - 1]] {
        let bounded: Vec<(i64, Rec)> = want.iter().filter(|(o, _)| *o < hw).cloned().collect();
        assert_eq!(
            read_below(log, lso, 1 << 20, hw),
            bounded,
            "reads below {hw}"
        );
        assert_eq!(
            read_below(log, lso, 200, hw),
            bounded,
            "small reads below {hw}"
        );
    }
    check_lookups(log, &held, probes);
}

/// A compacted log holds a subset of the model's records, unchanged, and the latest record
/// of every key.
fn check_compacted(log: &Log, model: &Model, probes: &[i64]) {
    assert_eq!(log.log_end_offset(), model.log_end_offset, "log end offset");
    assert_eq!(
        log.log_start_offset(),
        model.log_start_offset,
        "log start offset"
    );
    let held = read_all(log, model.log_start_offset, 1 << 20);
    for (o, r) in &held {
        assert_eq!(
            model.records.get(o),
            Some(r),
            "record at offset {o} is not what was appended"
        );
    }
    let mut latest: BTreeMap<&[u8], (i64, &Rec)> = BTreeMap::new();
    for (o, r) in model.visible() {
        latest.insert(r.key.as_deref().unwrap(), (o, r));
    }
    for (key, (o, r)) in latest {
        assert!(
            held.iter().any(|(ho, hr)| *ho == o && hr == r),
            "the latest record of key {:?} (offset {o}) is gone",
            String::from_utf8_lossy(key)
        );
    }
    assert_eq!(read_all(log, model.log_start_offset, 1), held);
    check_lookups(log, &held, probes);
}

/// Picks an offset in `[0, log end offset]`.
fn pick_offset(model: &Model, pick: u32) -> i64 {
    i64::from(pick) % (model.log_end_offset + 1)
}

/// Closes (or crashes) `log` and opens it again.
fn reopen(log: Log, model: &Model, cfg: &LogConfig, path: &Path, how: Reopen) -> Log {
    if let Reopen::Clean = how {
        log.close(0).unwrap();
    }
    let state = LoadState {
        clean_shutdown: matches!(how, Reopen::Clean),
        recovery_point: match how {
            Reopen::UncleanNoCheckpoint => None,
            _ => Some(log.recovery_point()),
        },
        log_start_offset: Some(log.log_start_offset()),
    };
    // The old instance goes before the new one opens, as in a restart.
    drop(log);
    let log = open(path, cfg, state);
    assert_eq!(
        log.recovery_point(),
        model.log_end_offset,
        "recovery point after reopen"
    );
    log
}

/// Runs `ops` against a fresh log in a temporary directory, checking after each.
fn run(cfg: LogConfig, ops: Vec<Op>) {
    let compact = cfg.cleanup_policy.compact;
    let dir = scratch_dir();
    let path = dir.path().join("model-0");
    let mut log = open(&path, &cfg, LoadState::default());
    let mut model = Model::default();
    let mut probes = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Reopen(how) => log = reopen(log, &model, &cfg, &path, how),
            _ => apply(&log, &mut model, &cfg, &op, &mut probes),
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if compact {
                check_compacted(&log, &model, &probes)
            } else {
                check(&log, &model, &probes)
            }
        }));
        if let Err(e) = result {
            eprintln!("check failed after step {step}: {op:?}");
            // Every shrinking step fails too: the full dump only on request.
            if std::env::var_os("MYELIN_MODEL_TRACE").is_none() {
                eprintln!("(set MYELIN_MODEL_TRACE=1 for the model and the segment files)");
                std::panic::resume_unwind(e);
            }
            let (start, end) = (model.log_start_offset, model.log_end_offset);
            eprintln!("model: log start offset {start}, log end offset {end}");
            for (o, r) in &model.records {
                eprintln!("  {o}: {r:?}");
            }
            describe(&log);
            std::panic::resume_unwind(e);
        }
    }
}

fn apply(log: &Log, model: &mut Model, cfg: &LogConfig, op: &Op, probes: &mut Vec<i64>) {
    match op {
        Op::Append(batches, now_ms) => {
            let bytes: Vec<u8> = batches.iter().flat_map(GenBatch::encode).collect();
            let info = log.append(&bytes, &opts(*now_ms)).unwrap();
            assert_eq!(info.base_offset, model.log_end_offset);
            let append_time = cfg.message_timestamp_type == TimestampType::LogAppendTime;
            for b in batches {
                let base = model.log_end_offset;
                for (i, r) in b.records.iter().enumerate() {
                    let mut r = r.clone();
                    if append_time {
                        r.timestamp = *now_ms;
                    }
                    probes.push(r.timestamp);
                    model.records.insert(base + i as i64, r);
                }
                let n = b.records.len() as i64;
                model.batches.insert(base, base + n - 1);
                model.log_end_offset += n;
            }
            assert_eq!(info.last_offset, model.log_end_offset - 1);
        }
        Op::Roll => log.roll().unwrap(),
        Op::Truncate {
            pick,
            at_batch_start,
        } => {
            // A replica truncates only above its high watermark.
            let mut offset = pick_offset(model, *pick).max(model.high_watermark);
            if let Some((base, last)) = model.batches.range(..=offset).next_back() {
                if *last >= offset && *at_batch_start {
                    offset = *base;
                }
            }
            log.truncate_to(offset).unwrap();
            if offset >= model.log_end_offset {
            } else if offset <= model.log_start_offset {
                model.records.clear();
                model.batches.clear();
                model.log_start_offset = offset;
                model.log_end_offset = offset;
            } else {
                // A batch is kept or cut whole: the log ends where the kept batches end.
                let end = match model.batches.range(..=offset).next_back() {
                    Some((base, last)) if *last >= offset => *base,
                    _ => offset,
                };
                model.cut(end);
                // Nothing at or above the log start offset is left: the log is empty there.
                model.log_end_offset = end.max(model.log_start_offset);
            }
            model.clean_offset = model.clean_offset.min(model.log_end_offset);
        }
        Op::AdvanceStart { pick } => {
            let offset = pick_offset(model, *pick);
            let got = log.advance_log_start_offset(offset).unwrap();
            model.log_start_offset = model.log_start_offset.max(offset);
            assert_eq!(got, model.log_start_offset);
        }
        Op::Retention(rule) => {
            let layout = segment_sizes(log);
            let mut c = cfg.clone();
            let now_ms = match *rule {
                Retention::Time {
                    retention_ms,
                    now_ms,
                } => {
                    c.retention_ms = retention_ms;
                    now_ms
                }
                Retention::Size { retention_bytes } => {
                    c.retention_bytes = retention_bytes;
                    0
                }
            };
            log.update_config(c).unwrap();
            let outcome = log.apply_retention(now_ms).unwrap();
            log.update_config(cfg.clone()).unwrap();
            match expected_retention(model, &layout, *rule) {
                Some(first) => {
                    let deleted = layout.iter().take_while(|(b, _)| *b < first).count();
                    assert_eq!(
                        outcome.segments_deleted, deleted,
                        "retention {rule:?} on {layout:?}"
                    );
                    assert_eq!(log.segment_base_offsets()[0], first);
                    model.drop_below(first);
                    model.log_start_offset = model.log_start_offset.max(first);
                }
                None => {
                    assert_eq!(
                        outcome.segments_deleted,
                        layout.len(),
                        "retention {rule:?} on {layout:?}"
                    );
                    model.records.clear();
                    model.batches.clear();
                    model.log_start_offset = model.log_end_offset;
                }
            }
        }
        Op::Flush => {
            let rp = log.flush(0).unwrap();
            assert_eq!(rp, model.log_end_offset);
            assert_eq!(log.recovery_point(), model.log_end_offset);
        }
        Op::Reopen(_) => unreachable!("run() reopens"),
        Op::Compact { now_ms } => {
            let from = model.clean_offset.max(model.log_start_offset);
            let opts = CleanerOptions {
                uncleanable_offset: model.high_watermark,
                ..CleanerOptions::default()
            };
            if let Some(stats) = clean_with_options(log, from, *now_ms, &opts).unwrap() {
                assert!(stats.clean_offset <= model.high_watermark.max(from));
                model.clean_offset = stats.clean_offset;
            }
        }
        Op::AdvanceHighWatermark { pick } => {
            let offset = pick_offset(model, *pick);
            let boundary = match model.batches.range(..=offset).next_back() {
                Some((base, last)) if *last >= offset => *base,
                _ => offset,
            };
            model.high_watermark = model.high_watermark.max(boundary);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 2_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model.txt"
        ))),
        ..ProptestConfig::default()
    })]

    /// A log with `cleanup.policy=delete` always holds exactly what the model says.
    #[test]
    fn log_matches_model(cfg in config(false), ops in prop::collection::vec(op(false), 1..40)) {
        run(cfg, ops);
    }

    /// A compacted log keeps every key's latest record and never alters one it keeps.
    #[test]
    fn compacted_log_keeps_latest_per_key(cfg in config(true), ops in prop::collection::vec(op(true), 1..40)) {
        run(cfg, ops);
    }
}

/// `truncate_to` an offset inside a batch cuts the whole batch (a batch is written and read
/// whole), so the log end offset must be where the kept batches end: otherwise the offsets
/// between go unassigned and a restart, which recomputes the log end offset from the files,
/// moves it backwards.
#[test]
fn truncate_inside_a_batch_keeps_the_log_end_offset_across_a_restart() {
    let dir = scratch_dir();
    let path = dir.path().join("model-0");
    let cfg = LogConfig::default();
    let log = open(&path, &cfg, LoadState::default());
    let one = GenBatch {
        records: vec![Rec {
            key: None,
            value: Some(b"a".to_vec()),
            timestamp: 1,
            header: None,
        }],
        codec: Compression::None,
    };
    let two = GenBatch {
        records: vec![one.records[0].clone(), one.records[0].clone()],
        codec: Compression::None,
    };
    log.append(&one.encode(), &opts(0)).unwrap();
    log.append(&two.encode(), &opts(0)).unwrap();
    log.truncate_to(2).unwrap();
    let before = log.log_end_offset();
    assert_eq!(
        read_all(&log, 0, 1 << 20).len() as i64,
        before,
        "records below the log end offset"
    );
    log.close(0).unwrap();
    drop(log);
    let state = LoadState {
        clean_shutdown: true,
        ..LoadState::default()
    };
    let log = open(&path, &cfg, state);
    assert_eq!(
        log.log_end_offset(),
        before,
        "log end offset across a restart"
    );
}

/// Timestamp lookups look only at records at or after the log start offset, even when a
/// batch or segment holds late timestamps below it (found by `log_matches_model`).
#[test]
fn timestamp_lookups_ignore_records_below_the_log_start_offset() {
    let dir = scratch_dir();
    let path = dir.path().join("model-0");
    let log = open(&path, &LogConfig::default(), LoadState::default());
    let rec = |timestamp| Rec {
        key: None,
        value: Some(b"v".to_vec()),
        timestamp,
        header: None,
    };
    let first = GenBatch {
        records: vec![rec(100), rec(5000), rec(200), rec(300)],
        codec: Compression::None,
    };
    let second = GenBatch {
        records: vec![rec(4000)],
        codec: Compression::Lz4,
    };
    log.append(&first.encode(), &opts(0)).unwrap();
    log.append(&second.encode(), &opts(0)).unwrap();
    assert_eq!(log.offset_for_timestamp(3000).unwrap(), Some((1, 5000)));
    assert_eq!(log.offset_of_max_timestamp().unwrap(), Some((1, 5000)));
    // Offset 1, with the largest timestamp, is now below the log start offset.
    log.advance_log_start_offset(2).unwrap();
    assert_eq!(log.offset_for_timestamp(3000).unwrap(), Some((4, 4000)));
    assert_eq!(log.offset_for_timestamp(250).unwrap(), Some((3, 300)));
    assert_eq!(log.offset_of_max_timestamp().unwrap(), Some((4, 4000)));
    log.advance_log_start_offset(5).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.offset_of_max_timestamp().unwrap(), None);
}

/// `truncate_to` inside a batch that starts below the log start offset cuts that batch
/// whole, leaving nothing at or above the log start offset: the log must end there, never
/// below its start (found by `log_matches_model`).
#[test]
fn truncate_inside_a_batch_straddling_the_log_start_offset() {
    let dir = scratch_dir();
    let path = dir.path().join("model-0");
    let cfg = LogConfig::default();
    let log = open(&path, &cfg, LoadState::default());
    let rec = Rec {
        key: None,
        value: Some(b"v".to_vec()),
        timestamp: 1,
        header: None,
    };
    let batch = |n| GenBatch {
        records: vec![rec.clone(); n],
        codec: Compression::None,
    };
    log.append(&batch(1).encode(), &opts(0)).unwrap();
    log.append(&batch(4).encode(), &opts(0)).unwrap();
    log.advance_log_start_offset(2).unwrap();
    log.truncate_to(3).unwrap();
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(
        log.log_end_offset(),
        2,
        "the log ends at its start: nothing is left"
    );
    assert!(read_all(&log, 2, 1 << 20).is_empty());
    let info = log.append(&batch(1).encode(), &opts(0)).unwrap();
    assert_eq!(info.base_offset, 2);
    log.close(0).unwrap();
    let state = LoadState {
        clean_shutdown: true,
        recovery_point: Some(log.recovery_point()),
        log_start_offset: Some(log.log_start_offset()),
    };
    drop(log);
    let log = open(&path, &cfg, state);
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (2, 3),
        "after a restart"
    );
}
