//! Log compaction: what a cleaning pass keeps and drops, when it runs, the batch formats it
//! must preserve, and its crash safety (on the simulated disk, crashing at every step).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use myelin_log::batch::{validate_batch, BatchHeader, BatchIter, ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::cleaner::{clean_if_needed, clean_with_options, CleanerOptions};
use myelin_log::compression::Compression;
use myelin_log::files::{self, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::sim::SimFs;
use myelin_log::{
    AppendOptions, CleanupPolicy, LoadState, Log, LogConfig, LogManager, ManagerConfig,
};

/// A record as read back, with its absolute timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// A record to append: key, value, timestamp.
type In<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        segment_index_bytes: 4096,
        cleanup_policy: CleanupPolicy::COMPACT,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn open_on(fs: Arc<dyn Fs>, dir: &Path, cfg: LogConfig, state: LoadState) -> Log {
    Log::open(fs, dir, "t", 0, cfg, state, 0).unwrap().0
}

fn open(dir: &Path, cfg: LogConfig) -> Log {
    open_on(Arc::new(RealFs), dir, cfg, LoadState::default())
}

/// A batch of `records` with timestamp deltas from the first record's.
fn batch_of(records: &[In<'_>], codec: Compression) -> Vec<u8> {
    let base_ts = records[0].2;
    let mut raw = Vec::new();
    for (i, (k, v, ts)) in records.iter().enumerate() {
        encode_record(&mut raw, 0, ts - base_ts, i as i32, *k, *v, &[]);
    }
    let n = records.len() as i32;
    BatchBuilder {
        compression: codec,
        last_offset_delta: n - 1,
        base_timestamp: base_ts,
        max_timestamp: records.iter().map(|r| r.2).max().unwrap(),
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

fn append(log: &Log, records: &[In<'_>], codec: Compression) -> i64 {
    let mut b = batch_of(records, codec);
    let opts = AppendOptions {
        leader_epoch: 5,
        now_ms: records[0].2,
    };
    log.append(&mut b, &opts).unwrap().base_offset
}

fn append_raw(log: &Log, mut b: Vec<u8>) -> i64 {
    let opts = AppendOptions {
        leader_epoch: 5,
        now_ms: 0,
    };
    log.append(&mut b, &opts).unwrap().base_offset
}

/// Every stored batch from the log start, each validated.
fn batches(log: &Log) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        let mut it = BatchIter::new(&bytes);
        for (_, h, b) in it.by_ref() {
            assert_eq!(validate_batch(b, usize::MAX).unwrap(), h);
            assert!(h.base_offset >= offset, "batches go forward");
            offset = h.last_offset() + 1;
            out.push((h, b.to_vec()));
        }
        assert_eq!(it.position(), bytes.len(), "a read returns whole batches");
    }
    out
}

fn records_of(batches: &[(BatchHeader, Vec<u8>)]) -> Vec<Rec> {
    let mut out = Vec::new();
    for (h, b) in batches {
        let (_, section) = records_of_batch(b, 1 << 24).unwrap();
        for r in RecordIter::new(&section, h.record_count) {
            let r = r.unwrap();
            out.push(Rec {
                offset: h.base_offset + i64::from(r.offset_delta),
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                timestamp: h.base_timestamp + r.timestamp_delta,
            });
        }
    }
    out
}

fn read_all(log: &Log) -> Vec<Rec> {
    records_of(&batches(log))
}

/// What a pass keeps: a record below `rewrite_end` goes when a record with its key at a
/// higher offset lies in `mapped`.
fn compacted(recs: &[Rec], mapped: Range<i64>, rewrite_end: i64) -> Vec<Rec> {
    let mut latest: HashMap<&[u8], i64> = HashMap::new();
    for r in recs.iter().filter(|r| mapped.contains(&r.offset)) {
        if let Some(k) = &r.key {
            latest.insert(k, r.offset);
        }
    }
    recs.iter()
        .filter(|r| {
            let newer = r
                .key
                .as_deref()
                .and_then(|k| latest.get(k))
                .is_some_and(|&l| l > r.offset);
            r.offset >= rewrite_end || !newer
        })
        .cloned()
        .collect()
}

/// Timestamp lookups answer from the records the log holds (`recs`), not from records
/// compaction removed.
fn check_time_lookups(log: &Log, recs: &[Rec]) {
    let mut ts: Vec<i64> = recs
        .iter()
        .flat_map(|r| [r.timestamp - 1, r.timestamp, r.timestamp + 1])
        .collect();
    ts.sort_unstable();
    ts.dedup();
    for t in ts {
        let want = recs
            .iter()
            .find(|r| r.timestamp >= t)
            .map(|r| (r.offset, r.timestamp));
        assert_eq!(
            log.offset_for_timestamp(t).unwrap(),
            want,
            "offset_for_timestamp({t})"
        );
    }
    let max = recs.iter().map(|r| r.timestamp).max();
    let want = recs.iter().find(|r| Some(r.timestamp) == max);
    assert_eq!(
        log.offset_of_max_timestamp().unwrap(),
        want.map(|r| (r.offset, r.timestamp))
    );
}

fn active_base(log: &Log) -> i64 {
    *log.segment_base_offsets().last().unwrap()
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

/// `n` single-record batches, keys cycling through `keys` keys, timestamps from `ts`.
fn append_cycling(log: &Log, n: usize, keys: usize, ts: i64) {
    for i in 0..n {
        let (k, v) = (key(i % keys), format!("value-{i}-{ts}"));
        append(
            log,
            &[(Some(&k), Some(v.as_bytes()), ts + i as i64)],
            Compression::None,
        );
    }
}

#[test]
fn latest_value_per_key_survives_and_offsets_keep_their_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config());
    // Seven keys over and over, and every tenth record a key of its own.
    for i in 0..120 {
        let k = if i % 10 == 0 {
            key(1000 + i)
        } else {
            key(i % 7)
        };
        let v = format!("value-{i}");
        append(
            &log,
            &[(Some(&k), Some(v.as_bytes()), 1000 + i as i64)],
            Compression::None,
        );
    }
    let before = read_all(&log);
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 5, "small segments: {bases:?}");
    let active = active_base(&log);
    let active_file = log.segment_path(active, FileKind::Log);
    let active_bytes = std::fs::read(&active_file).unwrap();
    let size_before = log.size_bytes();

    let stats = clean_if_needed(&log, 0, 10_000)
        .unwrap()
        .expect("a dirty log is cleaned");
    let want = compacted(&before, 0..active, active);
    assert_eq!(read_all(&log), want);
    check_time_lookups(&log, &want);
    assert_eq!(stats.clean_offset, active);
    assert_eq!(stats.records_removed as usize, before.len() - want.len());
    assert_eq!(stats.segments_cleaned, bases.len() - 1);
    assert!(stats.bytes_after < stats.bytes_before);
    assert_eq!(
        log.size_bytes(),
        size_before - stats.bytes_before + stats.bytes_after
    );
    assert_eq!(log.log_end_offset(), 120);
    assert_eq!(
        std::fs::read(&active_file).unwrap(),
        active_bytes,
        "the active segment is untouched"
    );
    // Offsets keep their gaps: a read of a removed offset starts at the next survivor.
    let survivors: Vec<i64> = want.iter().map(|r| r.offset).collect();
    assert!(survivors.windows(2).any(|w| w[1] > w[0] + 1));
    let gap = (0..active).find(|o| !survivors.contains(o)).unwrap();
    let next = *survivors.iter().find(|&&o| o > gap).unwrap();
    let slice = log
        .read(gap, 1 << 20, i64::MAX, true)
        .unwrap()
        .slice
        .unwrap();
    let bytes = slice.to_vec().unwrap();
    let read: Vec<(BatchHeader, Vec<u8>)> = BatchIter::new(&bytes)
        .map(|(_, h, b)| (h, b.to_vec()))
        .collect();
    let first = records_of(&read)
        .into_iter()
        .find(|r| r.offset >= gap)
        .unwrap();
    assert_eq!(first.offset, next);
    // Every key's latest record below the active segment is there, once.
    for k in 0..7 {
        let latest = before
            .iter()
            .rfind(|r| r.offset < active && r.key == Some(key(k)))
            .unwrap();
        let kept: Vec<_> = want
            .iter()
            .filter(|r| r.offset < active && r.key == Some(key(k)))
            .collect();
        assert_eq!(kept, vec![latest]);
    }

    // Nothing new is dirty: nothing to do.
    assert_eq!(
        clean_if_needed(&log, stats.clean_offset, 20_000).unwrap(),
        None
    );

    // More data; the next pass merges the small cleaned segments.
    append_cycling(&log, 40, 9, 5000);
    let before = read_all(&log);
    let segments = log.segment_count();
    let active = active_base(&log);
    let stats2 = clean_if_needed(&log, stats.clean_offset, 20_000)
        .unwrap()
        .unwrap();
    assert_eq!(stats2.clean_offset, active);
    assert_eq!(
        read_all(&log),
        compacted(&before, stats.clean_offset..active, active)
    );
    assert!(log.segment_count() < segments, "cleaned segments merge");
    assert!(log.segment_base_offsets().windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn dirty_ratio_below_the_minimum_leaves_the_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        ..compact_config()
    };
    let log = open(dir.path(), cfg.clone());
    append_cycling(&log, 60, 1000, 1000); // every key once
    log.roll().unwrap();
    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(
        (stats.records_removed, stats.segments_cleaned),
        (0, 0),
        "nothing to remove, nothing rewritten"
    );
    assert_eq!(stats.clean_offset, 60);

    // A small dirty segment: 3 newer values of old keys, about 5% of the bytes.
    for i in 0..3 {
        append(
            &log,
            &[(Some(&key(i)), Some(b"newer"), 2000)],
            Compression::None,
        );
    }
    log.roll().unwrap();
    let before = read_all(&log);
    assert_eq!(
        clean_if_needed(&log, stats.clean_offset, 10_000).unwrap(),
        None
    );
    assert_eq!(read_all(&log), before);

    log.update_config(LogConfig {
        min_cleanable_dirty_ratio: 0.03,
        ..cfg
    })
    .unwrap();
    let stats = clean_if_needed(&log, stats.clean_offset, 10_000)
        .unwrap()
        .unwrap();
    assert_eq!(stats.records_removed, 3);
    assert_eq!(read_all(&log), compacted(&before, 60..63, 63));
    assert_eq!(
        clean_if_needed(&log, stats.clean_offset, 10_000).unwrap(),
        None
    );
}

#[test]
fn max_compaction_lag_forces_a_pass_below_the_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.9,
        max_compaction_lag_ms: 5_000,
        ..compact_config()
    };
    let log = open(dir.path(), cfg);
    append_cycling(&log, 30, 1000, 1000);
    log.roll().unwrap();
    let first = clean_if_needed(&log, 0, 2_000).unwrap().unwrap();
    append(
        &log,
        &[(Some(&key(0)), Some(b"newer"), 3000)],
        Compression::None,
    );
    log.roll().unwrap();
    let before = read_all(&log);
    // Dirty share ~3%: not due by ratio until the dirty batch is 5 s old.
    assert_eq!(
        clean_if_needed(&log, first.clean_offset, 8_000).unwrap(),
        None
    );
    let stats = clean_if_needed(&log, first.clean_offset, 8_001)
        .unwrap()
        .unwrap();
    assert_eq!(stats.records_removed, 1);
    assert_eq!(read_all(&log), compacted(&before, 30..31, 31));
}

#[test]
fn min_compaction_lag_keeps_young_segments_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        min_compaction_lag_ms: 1_000,
        ..compact_config()
    };
    let log = open(dir.path(), cfg);
    append_cycling(&log, 8, 4, 1000); // segment A: timestamps 1000..1007
    log.roll().unwrap();
    let b_base = log.log_end_offset();
    append_cycling(&log, 8, 4, 5000); // segment B: timestamps 5000..5007
    log.roll().unwrap();
    let c_base = log.log_end_offset();
    append_cycling(&log, 4, 4, 9000); // active
    let before = read_all(&log);

    assert_eq!(
        clean_if_needed(&log, 0, 1500).unwrap(),
        None,
        "A is too young"
    );
    // A is old enough, B is not: only A's own duplicates go.
    let stats = clean_if_needed(&log, 0, 5500).unwrap().unwrap();
    assert_eq!(stats.clean_offset, b_base);
    let after_a = compacted(&before, 0..b_base, b_base);
    assert_eq!(read_all(&log), after_a);
    assert_eq!(after_a.len(), before.len() - 4);
    // Later B is cleanable too and supersedes what is left of A.
    let stats = clean_if_needed(&log, stats.clean_offset, 7000)
        .unwrap()
        .unwrap();
    assert_eq!(stats.clean_offset, c_base);
    assert_eq!(read_all(&log), compacted(&after_a, b_base..c_base, c_base));
    assert_eq!(read_all(&log).len(), 4 + 4);
}

#[test]
fn tombstones_stay_until_the_delete_horizon_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        ..compact_config()
    };
    let log = open(dir.path(), cfg);
    append(&log, &[(Some(b"a"), Some(b"1"), 100)], Compression::None);
    append(&log, &[(Some(b"b"), Some(b"1"), 101)], Compression::None);
    // A tombstone for a, in a batch with another record (timestamps before and after the
    // batch's base timestamp).
    let tomb = append(
        &log,
        &[(Some(b"a"), None, 150), (Some(b"d"), Some(b"x"), 120)],
        Compression::Lz4,
    );
    append(&log, &[(Some(b"c"), Some(b"1"), 103)], Compression::None);
    log.roll().unwrap();
    append(&log, &[(Some(b"z"), Some(b"1"), 104)], Compression::None);
    let before = read_all(&log);

    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(stats.records_removed, 1, "a's older value goes");
    let after = read_all(&log);
    assert_eq!(
        after,
        compacted(&before, 0..5, 5),
        "the tombstone stays, timestamps unchanged"
    );
    let (h, _) = batches(&log)
        .into_iter()
        .find(|(h, _)| h.base_offset == tomb)
        .unwrap();
    assert!(h.has_delete_horizon());
    assert_eq!(
        h.base_timestamp, 11_000,
        "delete horizon = now + delete.retention.ms"
    );
    assert_eq!(
        (h.max_timestamp, h.record_count, h.codec()),
        (150, 2, Compression::Lz4.id())
    );

    // Before the horizon nothing is due; at it the tombstone goes.
    assert_eq!(
        clean_if_needed(&log, stats.clean_offset, 10_999).unwrap(),
        None
    );
    let stats = clean_if_needed(&log, stats.clean_offset, 11_000)
        .unwrap()
        .unwrap();
    assert_eq!(stats.records_removed, 1);
    let want: Vec<Rec> = after.into_iter().filter(|r| r.value.is_some()).collect();
    assert_eq!(read_all(&log), want);
    let (h, _) = batches(&log)
        .into_iter()
        .find(|(h, _)| h.base_offset == tomb)
        .unwrap();
    assert_eq!(
        (h.record_count, h.max_timestamp),
        (1, 120),
        "the max timestamp is the kept record's"
    );
    check_time_lookups(&log, &want);
    assert_eq!(
        clean_if_needed(&log, stats.clean_offset, 20_000).unwrap(),
        None
    );
}

#[test]
fn compressed_batches_of_every_codec_are_compacted_and_stay_valid() {
    for codec in Compression::ALL {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                min_cleanable_dirty_ratio: 0.0,
                ..compact_config()
            },
        );
        for b in 0..12 {
            let keys: Vec<Vec<u8>> = (0..5).map(|i| key((b * 3 + i) % 8)).collect();
            let values: Vec<String> = (0..5)
                .map(|i| format!("v{b}-{i}-{}", "x".repeat(20)))
                .collect();
            let recs: Vec<In<'_>> = (0..5)
                .map(|i| {
                    (
                        Some(&keys[i][..]),
                        Some(values[i].as_bytes()),
                        // Timestamps falling within a batch: its first record has its max.
                        1000 + 10 * b as i64 - 3 * i as i64,
                    )
                })
                .collect();
            append(&log, &recs, codec);
        }
        log.roll().unwrap();
        let before = read_all(&log);
        let end = log.log_end_offset();
        clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
        let want = compacted(&before, 0..end, end);
        assert_eq!(read_all(&log), want, "{codec:?}");
        check_time_lookups(&log, &want);
        let stored = batches(&log);
        assert!(
            stored.iter().all(|(h, _)| h.codec() == codec.id()),
            "{codec:?} kept"
        );
        assert!(
            stored
                .iter()
                .any(|(h, _)| h.record_count < h.last_offset_delta + 1),
            "{codec:?} rewritten"
        );
    }
}

#[test]
fn duplicate_header_keys_survive_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..compact_config()
        },
    );
    let headers: &[(&[u8], Option<&[u8]>)] = &[
        (b"h", Some(b"1")),
        (b"h", Some(b"2")),
        (b"h", None),
        (b"", Some(b"")),
    ];
    for codec in [Compression::None, Compression::Zstd] {
        let mut raw = Vec::new();
        encode_record(&mut raw, 0, 0, 0, Some(b"y"), Some(b"old"), &[]);
        let x_at = raw.len();
        encode_record(&mut raw, 3, 7, 1, Some(b"x"), Some(b"keep"), headers);
        let x_raw = raw[x_at..].to_vec();
        let b = BatchBuilder {
            compression: codec,
            last_offset_delta: 1,
            base_timestamp: 50,
            max_timestamp: 57,
            producer_id: 9,
            producer_epoch: 2,
            base_sequence: 40,
            ..BatchBuilder::new()
        }
        .build(&raw, 2)
        .unwrap();
        let base = append_raw(&log, b);
        append(&log, &[(Some(b"y"), Some(b"new"), 60)], Compression::None);
        log.roll().unwrap();
        clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
        let (h, b) = batches(&log)
            .into_iter()
            .find(|(h, _)| h.base_offset == base)
            .unwrap();
        assert_eq!((h.record_count, h.last_offset_delta), (1, 1));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (9, 2, 40)
        );
        assert_eq!(
            (h.partition_leader_epoch, h.base_timestamp, h.max_timestamp),
            (5, 50, 57)
        );
        let (_, section) = records_of_batch(&b, 1 << 20).unwrap();
        assert_eq!(
            &section[..],
            &x_raw[..],
            "{codec:?}: the kept record is the same bytes"
        );
    }
}

#[test]
fn control_batches_are_copied_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..compact_config()
        },
    );
    append(&log, &[(Some(b"k"), Some(b"1"), 10)], Compression::None);
    // A commit marker: key (version 0, type 1), value (version 0, coordinator epoch 3).
    let mut raw = Vec::new();
    encode_record(
        &mut raw,
        0,
        0,
        0,
        Some(&[0, 0, 0, 1]),
        Some(&[0, 0, 0, 0, 0, 3]),
        &[],
    );
    let marker = BatchBuilder {
        attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
        producer_id: 77,
        producer_epoch: 1,
        base_timestamp: 11,
        max_timestamp: 11,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap();
    let at = append_raw(&log, marker);
    append(&log, &[(Some(b"k"), Some(b"2"), 12)], Compression::None);
    // The same control key again: markers are not compacted by key.
    let mut raw2 = Vec::new();
    encode_record(
        &mut raw2,
        0,
        0,
        0,
        Some(&[0, 0, 0, 1]),
        Some(&[0, 0, 0, 0, 0, 3]),
        &[],
    );
    append_raw(
        &log,
        BatchBuilder {
            attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
            producer_id: 77,
            ..BatchBuilder::new()
        }
        .build(&raw2, 1)
        .unwrap(),
    );
    log.roll().unwrap();
    let stored_before = batches(&log);
    let marker_before = stored_before
        .iter()
        .find(|(h, _)| h.base_offset == at)
        .unwrap()
        .1
        .clone();

    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(stats.records_removed, 1, "only k's older value");
    let stored = batches(&log);
    assert_eq!(
        stored.iter().find(|(h, _)| h.base_offset == at).unwrap().1,
        marker_before
    );
    assert_eq!(stored.iter().filter(|(h, _)| h.is_control()).count(), 2);
}

#[test]
fn records_without_a_key_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    // A log written under `delete` (keyless records allowed) and then switched to compact.
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::DELETE,
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let log = open(dir.path(), cfg.clone());
    for i in 0..20 {
        let v = format!("v{i}");
        let k = (i % 2 == 0).then(|| key(i % 3));
        append(
            &log,
            &[
                (k.as_deref(), Some(v.as_bytes()), i as i64),
                (None, None, i as i64),
            ],
            Compression::Snappy,
        );
    }
    log.roll().unwrap();
    log.update_config(LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        ..cfg
    })
    .unwrap();
    let before = read_all(&log);
    clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    let after = read_all(&log);
    assert_eq!(after, compacted(&before, 0..40, 40));
    assert_eq!(
        after.iter().filter(|r| r.key.is_none()).count(),
        30,
        "every keyless record stays"
    );
}

#[test]
fn reopening_after_compaction_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let log = open(dir.path(), cfg.clone());
    append_cycling(&log, 100, 6, 1000);
    clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    let want = read_all(&log);
    let (leo, lso) = (log.log_end_offset(), log.log_start_offset());
    let ts_lookup = log.offset_for_timestamp(1050).unwrap();
    log.close(20_000).unwrap();
    drop(log);

    // After a clean shutdown: the indexes the cleaner wrote are used as they are.
    let state = LoadState {
        clean_shutdown: true,
        recovery_point: Some(leo),
        log_start_offset: Some(lso),
    };
    let log = open_on(Arc::new(RealFs), dir.path(), cfg.clone(), state);
    assert_eq!(read_all(&log), want);
    for r in &want {
        let slice = log
            .read(r.offset, 1, i64::MAX, true)
            .unwrap()
            .slice
            .unwrap();
        let h = BatchHeader::parse(&slice.to_vec().unwrap()).unwrap();
        assert!(h.base_offset <= r.offset && r.offset <= h.last_offset());
    }
    assert_eq!(log.offset_for_timestamp(1050).unwrap(), ts_lookup);
    assert_eq!(
        log.offset_of_max_timestamp().unwrap().map(|(o, _)| o),
        Some(99)
    );
    drop(log);

    // After a crash: every segment scanned and its indexes rebuilt.
    let log = open(dir.path(), cfg);
    assert_eq!(read_all(&log), want);
    assert_eq!((log.log_end_offset(), log.log_start_offset()), (leo, lso));
    assert_eq!(log.offset_for_timestamp(1050).unwrap(), ts_lookup);
    append(
        &log,
        &[(Some(b"more"), Some(b"1"), 30_000)],
        Compression::None,
    );
    assert_eq!(read_all(&log).len(), want.len() + 1);
}

#[test]
fn offset_map_limit_cleans_a_prefix_of_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..compact_config()
        },
    );
    // Three segments, each with keys of its own, each key twice; the second and third
    // start with the first one's key-0, so that a pass maps that key from a segment it
    // then cannot finish mapping.
    for s in 0..3 {
        if s > 0 {
            append(
                &log,
                &[(Some(&key(0)), Some(b"again"), 9)],
                Compression::None,
            );
        }
        for i in 0..8 {
            let k = key(s * 100 + i % 4);
            append(&log, &[(Some(&k), Some(b"v"), i as i64)], Compression::None);
        }
        log.roll().unwrap();
    }
    let bases = log.segment_base_offsets();
    let before = read_all(&log);
    let tiny = CleanerOptions {
        max_map_bytes: 1,
        ..CleanerOptions::default()
    };
    // The first dirty segment always fits; the next one's new keys do not.
    let stats = clean_with_options(&log, 0, 10_000, &tiny).unwrap().unwrap();
    assert_eq!(stats.clean_offset, bases[1]);
    let after = read_all(&log);
    assert_eq!(after, compacted(&before, 0..bases[1], bases[1]));
    assert!(
        after
            .iter()
            .any(|r| r.key == Some(key(0)) && r.offset < bases[1]),
        "key-0's last record in the cleaned segment stays: its successor was not cleaned"
    );
    let stats = clean_with_options(&log, stats.clean_offset, 10_000, &tiny)
        .unwrap()
        .unwrap();
    assert_eq!(stats.clean_offset, bases[2]);
    let stats = clean_with_options(&log, stats.clean_offset, 10_000, &tiny)
        .unwrap()
        .unwrap();
    assert_eq!(stats.clean_offset, bases[3]);
    assert_eq!(read_all(&log), compacted(&before, 0..bases[3], bases[3]));
    assert_eq!(read_all(&log).len(), 12);
}

#[test]
fn records_at_the_uncleanable_offset_supersede_nothing_so_truncation_loses_no_key() {
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let build = |dir: &Path| {
        let log = open(dir, cfg.clone());
        append(
            &log,
            &[(Some(b"k0"), Some(b"a"), 1), (Some(b"k1"), Some(b"a"), 1)],
            Compression::None,
        );
        log.roll().unwrap();
        append(&log, &[(Some(b"k0"), Some(b"b"), 2)], Compression::None);
        log.roll().unwrap();
        append(&log, &[(Some(b"k1"), Some(b"c"), 3)], Compression::None); // above the HW
        log.roll().unwrap();
        append(&log, &[(Some(b"z"), Some(b"1"), 4)], Compression::None);
        log
    };
    let latest = |recs: &[Rec]| -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut m = std::collections::BTreeMap::new();
        for r in recs {
            m.insert(r.key.clone().unwrap(), r.value.clone().unwrap());
        }
        m.into_iter().collect()
    };

    // The high watermark is 3: offset 3 and up may still be truncated away.
    let dir = tempfile::tempdir().unwrap();
    let log = build(dir.path());
    let before = read_all(&log);
    let bounded = CleanerOptions {
        uncleanable_offset: 3,
        ..CleanerOptions::default()
    };
    let stats = clean_with_options(&log, 0, 10_000, &bounded)
        .unwrap()
        .unwrap();
    assert_eq!(stats.clean_offset, 3);
    assert_eq!(
        read_all(&log),
        compacted(&before, 0..3, 3),
        "only k0@0 goes"
    );
    log.truncate_to(3).unwrap();
    let held = read_all(&log);
    assert_eq!(
        latest(&held),
        latest(&before[..3]),
        "every key keeps its latest value"
    );

    // Without the bound the record at 3 supersedes k1@1, and a truncation loses k1.
    let dir = tempfile::tempdir().unwrap();
    let log = build(dir.path());
    clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    log.truncate_to(3).unwrap();
    assert!(!read_all(&log)
        .iter()
        .any(|r| r.key.as_deref() == Some(b"k1")));
}

#[test]
fn log_manager_cleans_and_remembers_the_clean_offset() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let mcfg = ManagerConfig {
        background_threads: false,
        ..ManagerConfig::new(dir.path())
    };
    let for_topic = cfg.clone();
    let (mgr, _) = LogManager::open(mcfg.clone(), &move |_| for_topic.clone()).unwrap();
    let log = mgr.get_or_create("compacted", 0, cfg.clone()).unwrap();
    append_cycling(&log, 50, 5, 1000);
    let before = read_all(&log);
    let active = active_base(&log);
    let stats = mgr.clean_log(&log, 10_000).unwrap().unwrap();
    assert_eq!(stats.clean_offset, active);
    assert_eq!(read_all(&log), compacted(&before, 0..active, active));
    assert_eq!(
        mgr.clean_log(&log, 10_000).unwrap(),
        None,
        "the manager remembers the clean offset"
    );
    append_cycling(&log, 30, 5, 2000);
    assert_eq!(mgr.run_cleaner(20_000), 1);
    let want = read_all(&log);
    mgr.shutdown().unwrap();
    drop((log, mgr));

    // The cleaner checkpoint survives a restart.
    let for_topic = cfg.clone();
    let (mgr, _) = LogManager::open(mcfg, &move |_| for_topic.clone()).unwrap();
    let log = mgr.get("compacted", 0).unwrap();
    assert_eq!(read_all(&log), want);
    assert_eq!(mgr.clean_log(&log, 30_000).unwrap(), None);
    mgr.shutdown().unwrap();
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn stray_cleaned_files_are_removed_at_open_and_the_data_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config());
    append_cycling(&log, 40, 5, 1000);
    let want = read_all(&log);
    let bases = log.segment_base_offsets();
    drop(log);
    let files_before = names_in(dir.path());
    // A pass that died while writing: `.cleaned` files with partial content.
    for (base, kind) in [
        (bases[0], FileKind::Log),
        (bases[0], FileKind::Index),
        (bases[1], FileKind::TimeIndex),
    ] {
        let p = files::with_suffix(
            &files::segment_path(dir.path(), base, kind),
            files::CLEANED_SUFFIX,
        );
        std::fs::write(p, b"half a cleaned segment").unwrap();
    }
    let (log, report) = Log::open(
        Arc::new(RealFs),
        dir.path(),
        "t",
        0,
        compact_config(),
        LoadState::default(),
        0,
    )
    .unwrap();
    assert_eq!(report.stray_files_removed, 3);
    assert_eq!(names_in(dir.path()), files_before);
    assert_eq!(read_all(&log), want);
}

#[test]
fn a_swap_left_by_a_crash_is_completed_at_open() {
    // Log A is cleaned; B is a copy of it from before. A crash after the `.swap` renames
    // (and after part of the old files were removed) leaves B's old segments beside the
    // cleaned ones as `.swap` files.
    let a = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let log = open(a.path(), cfg.clone());
    for round in 0..3 {
        append_cycling(&log, 4, 3, 1000 * round);
        log.roll().unwrap();
    }
    append_cycling(&log, 2, 3, 9000);
    log.flush(0).unwrap();
    let b = tempfile::tempdir().unwrap();
    for name in names_in(a.path()) {
        std::fs::copy(a.path().join(&name), b.path().join(&name)).unwrap();
    }
    let old_bases = log.segment_base_offsets();
    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(
        stats.segments_cleaned, 3,
        "one group of three small segments"
    );
    let want = read_all(&log);
    let new_bases = log.segment_base_offsets();
    assert_eq!(new_bases, vec![0, old_bases[3]]);
    drop(log);
    for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
        let from = files::segment_path(a.path(), 0, kind);
        let to = files::with_suffix(&files::segment_path(b.path(), 0, kind), files::SWAP_SUFFIX);
        std::fs::copy(from, to).unwrap();
        std::fs::remove_file(files::segment_path(b.path(), old_bases[1], kind)).unwrap();
    }
    let (log, report) = Log::open(
        Arc::new(RealFs),
        b.path(),
        "t",
        0,
        cfg,
        LoadState::default(),
        0,
    )
    .unwrap();
    assert_eq!(report.swaps_completed, 1);
    assert_eq!(log.segment_base_offsets(), new_bases);
    assert_eq!(read_all(&log), want);
    assert!(!names_in(b.path())
        .iter()
        .any(|n| n.ends_with(files::SWAP_SUFFIX)));
}

/// A compacted log on a simulated disk: data made durable, small segments rolled by hand so
/// that a pass merges several into one group, and a second group.
fn sim_log(fs: &SimFs, dir: &Path) -> (Log, Vec<Rec>) {
    fs.create_dir_durable(dir.parent().unwrap()).unwrap();
    let log = open_on(
        Arc::new(fs.clone()),
        dir,
        LogConfig {
            min_cleanable_dirty_ratio: 0.0,
            delete_retention_ms: 1_000_000,
            ..compact_config()
        },
        LoadState::default(),
    );
    for round in 0..3 {
        append_cycling(&log, 3, 4, 100 * round);
        log.roll().unwrap();
    }
    append(&log, &[(Some(b"gone"), Some(b"1"), 390)], Compression::None);
    append(&log, &[(Some(b"gone"), None, 400)], Compression::Gzip); // a tombstone
    append_cycling(&log, 14, 5, 500); // a full segment
    append_cycling(&log, 3, 4, 900);
    log.flush(0).unwrap();
    let recs = read_all(&log);
    (log, recs)
}

fn sim_reopen(fs: SimFs, dir: &Path) -> (Log, myelin_log::LoadReport) {
    Log::open(
        Arc::new(fs),
        dir,
        "t",
        0,
        compact_config(),
        LoadState::default(),
        0,
    )
    .unwrap()
}

/// The crash invariant: the log holds a subset of the original records, unchanged, that
/// includes everything the finished pass keeps.
fn check_old_or_new(log: &Log, original: &[Rec], cleaned: &[Rec], what: &str) {
    let got = read_all(log);
    assert!(
        got.windows(2).all(|w| w[0].offset < w[1].offset),
        "{what}: offsets increase"
    );
    let by_offset: HashMap<i64, &Rec> = original.iter().map(|r| (r.offset, r)).collect();
    for r in &got {
        assert_eq!(
            by_offset.get(&r.offset),
            Some(&r),
            "{what}: a record that was never written"
        );
    }
    let got_offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
    for r in cleaned {
        assert!(
            got_offsets.binary_search(&r.offset).is_ok(),
            "{what}: lost {r:?}"
        );
    }
    assert_eq!(
        log.log_end_offset(),
        original.last().unwrap().offset + 1,
        "{what}"
    );
}

#[test]
fn a_crash_at_any_step_of_a_pass_keeps_the_old_or_the_new_data() {
    let dir = PathBuf::from("/data/t-0");
    // The finished pass, for reference.
    let fs = SimFs::new();
    let (log, original) = sim_log(&fs, &dir);
    let ops_before = fs.ops();
    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert!(stats.segments_cleaned >= 4, "merging groups: {stats:?}");
    let total_ops = fs.ops() - ops_before;
    let cleaned = read_all(&log);
    assert!(cleaned.len() < original.len());
    drop(log);
    let (log, _) = sim_reopen(fs.crash(), &dir);
    assert_eq!(read_all(&log), cleaned, "a finished pass is durable");

    let (mut swaps, mut strays) = (0, 0);
    for torn in [None, Some(1u64), Some(2)] {
        for n in 0..=total_ops {
            let fs = torn.map_or_else(SimFs::new, SimFs::torn);
            let (log, recs) = sim_log(&fs, &dir);
            assert_eq!(recs, original);
            fs.crash_after_ops(n);
            let result = clean_if_needed(&log, 0, 10_000);
            let finished = !fs.is_crashed();
            assert_eq!(finished, result.is_ok(), "crash {n}: {result:?}");
            drop(log);
            let what = format!("crash after {n} of {total_ops} ops, torn {torn:?}");
            let (log, report) = sim_reopen(fs.crash(), &dir);
            swaps += report.swaps_completed;
            strays += report.stray_files_removed;
            check_old_or_new(&log, &original, &cleaned, &what);
            if finished {
                assert_eq!(read_all(&log), cleaned, "{what}");
            }
            // Whatever the crash left, a new pass gets to the same result.
            let s = clean_if_needed(&log, 0, 10_000).unwrap();
            assert!(s.is_some() || finished, "{what}");
            assert_eq!(read_all(&log), cleaned, "{what}: after a new pass");
        }
    }
    assert!(
        swaps > 0 && strays > 0,
        "crashes hit both sides of the swap: {swaps} {strays}"
    );
}

#[test]
fn clean_stats_are_none_for_a_log_without_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..compact_config()
        },
    );
    assert_eq!(clean_if_needed(&log, 0, 0).unwrap(), None, "empty log");
    append_cycling(&log, 5, 1, 0);
    assert_eq!(
        clean_if_needed(&log, 0, 10_000).unwrap(),
        None,
        "only the active segment"
    );
    assert_eq!(read_all(&log).len(), 5);
    // A delete-only log is never compacted.
    log.update_config(LogConfig {
        cleanup_policy: CleanupPolicy::DELETE,
        ..compact_config()
    })
    .unwrap();
    log.roll().unwrap();
    assert_eq!(clean_if_needed(&log, 0, 10_000).unwrap(), None);
}
