//! Idempotent and transactional producers through the log: duplicates answered with the
//! original offsets across clean and unclean reopens, corrupt snapshots skipped,
//! truncation, transactions, expiry, and on the simulated disk, a producer retrying its
//! unacknowledged batch after power losses at random points: the batch is in the log
//! once, never twice.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use myelin_log::batch::{BatchIter, ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::io::{Fs, RealFs};
use myelin_log::manager::wall_clock_ms;
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::sim::SimFs;
use myelin_log::{
    AppendInfo, AppendOptions, LoadReport, LoadState, Log, LogConfig, LogError, LogManager,
    ManagerConfig, TimestampType, CHECKPOINT_SNAPSHOT_MIN_BYTES,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions {
        leader_epoch: 0,
        now_ms,
    }
}

/// A batch of `values` from producer `pid` at `epoch`, starting at sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32, values: &[Vec<u8>], ts: i64, attrs: i16) -> Vec<u8> {
    let mut raw = Vec::new();
    for (i, v) in values.iter().enumerate() {
        encode_record(&mut raw, 0, 0, i as i32, None, Some(v), &[]);
    }
    let n = values.len() as i32;
    BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        attributes: attrs,
        last_offset_delta: n - 1,
        base_timestamp: ts,
        max_timestamp: ts,
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

/// `n` values naming `tag`.
fn values(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect()
}

/// A COMMIT or ABORT marker of producer `pid`.
fn marker(pid: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> Vec<u8> {
    let mut value = vec![0, 0];
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut raw = Vec::new();
    encode_record(
        &mut raw,
        0,
        0,
        0,
        Some(&[0, 0, 0, u8::from(commit)]),
        Some(&value),
        &[],
    );
    BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        segment_index_bytes: 4096,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, cfg: LogConfig, state: LoadState) -> (Log, LoadReport) {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Log::open(fs, dir, "t", 0, cfg, state, 0).unwrap()
}

fn clean() -> LoadState {
    LoadState {
        clean_shutdown: true,
        recovery_point: None,
        log_start_offset: None,
    }
}

fn unclean() -> LoadState {
    LoadState {
        clean_shutdown: false,
        recovery_point: Some(0),
        log_start_offset: None,
    }
}

fn append(log: &Log, b: Vec<u8>) -> Result<AppendInfo, LogError> {
    log.append(&b, &opts(1_000))
}

fn snapshots(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".snapshot").map(|o| o.parse().unwrap())
        })
        .collect();
    v.sort();
    v
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

/// Appends batches `range` of 3 records each from producer 1 (batch `i` at sequence
/// `3 i`), returning their infos and bytes.
fn produce_range(log: &Log, range: std::ops::Range<usize>) -> Vec<(AppendInfo, Vec<u8>)> {
    range
        .map(|i| {
            let b = batch(1, 0, 3 * i as i32, &values(&format!("b{i}"), 3), 1_000, 0);
            let info = append(log, b.clone()).unwrap();
            assert!(!info.duplicate);
            (info, b)
        })
        .collect()
}

fn produce(log: &Log, count: usize) -> Vec<(AppendInfo, Vec<u8>)> {
    produce_range(log, 0..count)
}

#[test]
fn a_retry_is_answered_with_the_original_offsets_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..config()
    };
    let (log, _) = open(dir.path(), cfg, clean());
    let first = batch(1, 0, 0, &values("a", 3), 7, 0);
    let b = first.clone();
    let original = log.append(&b, &opts(5_000)).unwrap();
    assert_eq!((original.base_offset, original.last_offset), (0, 2));
    let b = batch(1, 0, 3, &values("b", 2), 7, 0);
    log.append(&b, &opts(6_000)).unwrap();
    let end = log.log_end_offset();
    let size = log.size_bytes();
    let retry = first.clone();
    let dup = log.append(&retry, &opts(9_000)).unwrap();
    assert_eq!(
        dup,
        AppendInfo {
            base_offset: 0,
            last_offset: 2,
            log_append_time_ms: 5_000,
            log_start_offset: 0,
            record_count: 0,
            bytes: 0,
            duplicate: true,
        }
    );
    assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
    let e = log.producer_entry(1).unwrap();
    assert_eq!((e.producer_epoch, e.last_seq()), (0, 4));
}

#[test]
fn refused_batches_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    produce(&log, 2);
    let end = log.log_end_offset();
    let gap = batch(1, 0, 9, &values("gap", 1), 0, 0);
    assert!(matches!(
        append(&log, gap),
        Err(LogError::OutOfOrderSequence {
            producer_id: 1,
            sequence: 9,
            expected: 6,
            ..
        })
    ));
    // A request of two batches whose second is out of order: neither is written.
    let mut two = batch(1, 0, 6, &values("ok", 1), 0, 0);
    two.extend(batch(1, 0, 8, &values("bad", 1), 0, 0));
    assert!(matches!(
        append(&log, two),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert_eq!(log.log_end_offset(), end);
    append(&log, batch(1, 1, 0, &values("epoch1", 1), 0, 0)).unwrap();
    assert!(matches!(
        append(&log, batch(1, 0, 6, &values("zombie", 1), 0, 0)),
        Err(LogError::InvalidProducerEpoch {
            producer_epoch: 0,
            current_epoch: 1,
            ..
        })
    ));
    // An idempotent batch must carry a sequence (Kafka's LogValidator).
    assert!(matches!(
        append(&log, batch(1, 1, -1, &values("noseq", 1), 0, 0)),
        Err(LogError::InvalidBatch(_))
    ));
    assert!(!log.is_offline());
}

#[test]
fn duplicates_survive_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    let written = produce(&log, 8);
    assert!(log.segment_count() > 2, "{:?}", log.segment_base_offsets());
    let end = log.log_end_offset();
    log.close(0).unwrap();
    drop(log);
    assert!(snapshots(dir.path()).contains(&end));
    assert!(
        snapshots(dir.path()).len() <= 2,
        "{:?}",
        snapshots(dir.path())
    );
    let (log, report) = open(dir.path(), config(), clean());
    assert_eq!(report.producer_snapshot, Some(end));
    assert_eq!(report.producer_batches_replayed, 0);
    // Nothing past the snapshot: nothing a crash would replay.
    assert_eq!(report.producer_span_bytes, 0);
    let (info, last) = &written[7];
    let dup = append(&log, last.clone()).unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        (dup.base_offset, dup.last_offset),
        (info.base_offset, info.last_offset)
    );
    // The snapshot keeps only the last batch, as Kafka's does: an older retry is out of
    // order, not written.
    assert!(matches!(
        append(&log, written[6].1.clone()),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    let next = append(&log, batch(1, 0, 24, &values("next", 1), 0, 0)).unwrap();
    assert_eq!(next.base_offset, end);
}

#[test]
fn duplicates_survive_an_unclean_reopen_without_any_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    let written = produce(&log, 8);
    log.flush(0).unwrap();
    drop(log); // a crash: no close
    for s in snapshots(dir.path()) {
        std::fs::remove_file(snapshot_path(dir.path(), s)).unwrap();
    }
    let (log, report) = open(dir.path(), config(), unclean());
    assert_eq!(report.producer_snapshot, None);
    assert_eq!(report.producer_batches_replayed, 8);
    // Rebuilt from the log: each of the last five is recognised.
    for (info, b) in &written[3..] {
        let dup = append(&log, b.clone()).unwrap();
        assert!(dup.duplicate);
        assert_eq!(dup.base_offset, info.base_offset);
    }
    // Under a MiB replayed: the open wrote no snapshot (two syncs per log on a broker
    // with thousands), and the next open replays the same.
    assert!(snapshots(dir.path()).is_empty());
    drop(log);
    let (_, report) = open(dir.path(), config(), unclean());
    assert_eq!(
        (report.producer_snapshot, report.producer_batches_replayed),
        (None, 8)
    );
}

#[test]
fn an_open_that_replayed_a_mib_or_more_writes_a_snapshot_at_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), large_segments(), clean());
    let written = produce_large(&log, 0..3);
    log.flush(0).unwrap();
    drop(log); // a crash: no close, no snapshot
    assert!(snapshots(dir.path()).is_empty());
    let (log, report) = open(dir.path(), large_segments(), unclean());
    assert_eq!(
        (report.producer_snapshot, report.producer_batches_replayed),
        (None, 3)
    );
    assert!(report.producer_span_bytes >= 3 * (512 << 10));
    let end = log.log_end_offset();
    assert_eq!(snapshots(dir.path()), vec![end]);
    drop(log);
    reopens_from_the_snapshot_at(dir.path(), end, &written[2].1);
}

/// Reopens the log of `dir` (`large_segments`) after a crash: its producer state comes
/// from the snapshot at `end` with nothing replayed, and `retry` is a duplicate.
fn reopens_from_the_snapshot_at(dir: &Path, end: i64, retry: &[u8]) {
    let (log, report) = open(dir, large_segments(), unclean());
    assert_eq!(
        (report.producer_snapshot, report.producer_batches_replayed),
        (Some(end), 0)
    );
    assert!(append(&log, retry.to_vec()).unwrap().duplicate);
}

#[test]
fn an_unclean_reopen_replays_from_the_latest_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    let written = produce(&log, 9);
    // Flushes wrote the snapshots taken at the rolls.
    log.flush(0).unwrap();
    let snaps = snapshots(dir.path());
    assert!(!snaps.is_empty() && snaps.len() <= 2, "{snaps:?}");
    let latest = *snaps.last().unwrap();
    assert!(latest < log.log_end_offset());
    drop(log);
    let (log, report) = open(dir.path(), config(), unclean());
    assert_eq!(report.producer_snapshot, Some(latest));
    let after = written
        .iter()
        .filter(|(i, _)| i.last_offset >= latest)
        .count();
    assert_eq!(report.producer_batches_replayed, after as u64);
    assert!(append(&log, written[8].1.clone()).unwrap().duplicate);
}

#[test]
fn a_corrupt_snapshot_is_skipped_for_an_older_one_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    let written = produce(&log, 8);
    log.close(0).unwrap();
    drop(log);
    let snaps = snapshots(dir.path());
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let corrupt = |offset: i64| {
        let path = snapshot_path(dir.path(), offset);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
    };
    corrupt(snaps[1]);
    let (log, report) = open(dir.path(), config(), clean());
    assert_eq!(report.producer_snapshot, Some(snaps[0]));
    assert!(report.producer_batches_replayed > 0);
    assert!(append(&log, written[7].1.clone()).unwrap().duplicate);
    log.close(0).unwrap();
    drop(log);
    // Every snapshot corrupt: rebuilt from the log start, even after a clean shutdown.
    for s in snapshots(dir.path()) {
        corrupt(s);
    }
    let (log, report) = open(dir.path(), config(), clean());
    assert_eq!(report.producer_snapshot, None);
    assert_eq!(report.producer_batches_replayed, 8);
    assert!(append(&log, written[7].1.clone()).unwrap().duplicate);
}

#[test]
fn a_log_without_snapshots_after_a_clean_shutdown_has_no_producers() {
    // A log written before producer state existed: taken as is, not read whole. Over a
    // MiB of it, the open writes a snapshot at its end, so that a crash later does not
    // read it whole either.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), large_segments(), clean());
    let value = vec![0x61u8; 600 << 10];
    for _ in 0..2 {
        let b = myelin_log::record::simple_batch(
            &[(None, Some(&value[..]))],
            0,
            myelin_log::compression::Compression::None,
        );
        log.append(&b, &opts(0)).unwrap();
    }
    log.close(0).unwrap();
    drop(log);
    for s in snapshots(dir.path()) {
        std::fs::remove_file(snapshot_path(dir.path(), s)).unwrap();
    }
    let (log, report) = open(dir.path(), large_segments(), clean());
    assert_eq!(report.producer_batches_replayed, 0);
    assert_eq!(snapshots(dir.path()), vec![log.log_end_offset()]);
}

#[test]
fn truncation_drops_the_state_above_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    let written = produce(&log, 9);
    log.flush(0).unwrap();
    let cut = written[5].0.base_offset;
    log.truncate_to(cut).unwrap();
    assert!(snapshots(dir.path()).iter().all(|s| *s <= cut));
    assert_eq!(log.producer_entry(1).unwrap().last_seq(), 14);
    // What was cut is no duplicate: written again, at the cut.
    let again = append(&log, written[5].1.clone()).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, cut);
    // What was kept still is.
    assert!(append(&log, written[4].1.clone()).unwrap().duplicate);
    // And a restart agrees.
    drop(log);
    let (log, _) = open(dir.path(), config(), unclean());
    assert!(append(&log, written[5].1.clone()).unwrap().duplicate);
    assert!(matches!(
        append(&log, written[7].1.clone()),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    // Truncating everything forgets every producer.
    log.truncate_fully_and_start_at(100).unwrap();
    assert!(log.producer_entry(1).is_none());
    assert!(snapshots(dir.path()).is_empty());
}

#[test]
fn transactions_and_the_first_unstable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    append(&log, batch(1, 0, 0, &values("plain", 2), 0, 0)).unwrap();
    let t1 = append(
        &log,
        batch(2, 0, 0, &values("t1", 2), 0, ATTR_TRANSACTIONAL),
    )
    .unwrap();
    let t2 = append(
        &log,
        batch(3, 0, 0, &values("t2", 1), 0, ATTR_TRANSACTIONAL),
    )
    .unwrap();
    append(
        &log,
        batch(2, 0, 2, &values("t1b", 1), 0, ATTR_TRANSACTIONAL),
    )
    .unwrap();
    let end = log.log_end_offset();
    assert_eq!(log.first_unstable_offset(end), Some(t1.base_offset));
    // A non-transactional batch in the middle of producer 2's transaction.
    assert!(matches!(
        append(&log, batch(2, 0, 3, &values("x", 1), 0, 0)),
        Err(LogError::InvalidTxnState { producer_id: 2, .. })
    ));
    let commit = append(&log, marker(2, 0, true, 1)).unwrap();
    assert_eq!(
        log.first_unstable_offset(commit.last_offset),
        Some(t1.base_offset),
        "decided, but not below the high watermark"
    );
    assert_eq!(
        log.first_unstable_offset(commit.last_offset + 1),
        Some(t2.base_offset)
    );
    assert!(matches!(
        append(&log, marker(2, 0, true, 0)),
        Err(LogError::TransactionCoordinatorFenced {
            producer_id: 2,
            coordinator_epoch: 0,
            current_coordinator_epoch: 1
        })
    ));
    // Producer 3's transaction stays open across a crash.
    log.flush(0).unwrap();
    drop(log);
    let (log, _) = open(dir.path(), config(), unclean());
    assert_eq!(
        log.first_unstable_offset(log.log_end_offset()),
        Some(t2.base_offset)
    );
    assert_eq!(
        log.producer_entry(2).unwrap().current_txn_first_offset,
        None
    );
    append(&log, marker(3, 0, false, 2)).unwrap();
    assert_eq!(log.first_unstable_offset(log.log_end_offset()), None);
}

#[test]
fn expired_producers_are_forgotten_unless_in_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    append(&log, batch(1, 0, 0, &values("a", 1), 1_000, 0)).unwrap();
    append(
        &log,
        batch(2, 0, 0, &values("t", 1), 1_000, ATTR_TRANSACTIONAL),
    )
    .unwrap();
    assert_eq!(log.remove_expired_producers(1_500, 1_000), 0);
    assert_eq!(log.remove_expired_producers(2_000, 1_000), 1);
    assert!(log.producer_entry(1).is_none());
    assert!(log.producer_entry(2).is_some());
    // Forgotten: its next batch is taken whatever its sequence.
    append(&log, batch(1, 0, 57, &values("b", 1), 2_000, 0)).unwrap();
}

#[test]
fn the_manager_expires_producers_by_producer_id_expiration_ms() {
    let sim = SimFs::new();
    sim.create_dir_durable(Path::new(DATA)).unwrap();
    let cfg = config();
    let mc = |expiration_ms| ManagerConfig {
        default_log: cfg.clone(),
        lock_data_dir: false,
        background_threads: false,
        producer_id_expiration_ms: expiration_ms,
        ..ManagerConfig::new(DATA)
    };
    let per_log = cfg.clone();
    let config_for = move |_: &str| per_log.clone();
    let fs: Arc<dyn Fs> = Arc::new(sim.clone());
    assert!(matches!(
        LogManager::open_on(fs.clone(), mc(0), &config_for),
        Err(LogError::Config(_))
    ));
    let (mgr, _) = LogManager::open_on(fs, mc(60_000), &config_for).unwrap();
    let log = mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
    let now = wall_clock_ms();
    append(&log, batch(1, 0, 0, &values("old", 1), now - 120_000, 0)).unwrap();
    append(&log, batch(2, 0, 0, &values("new", 1), now, 0)).unwrap();
    assert_eq!(mgr.remove_expired_producers(now), 1);
    assert!(log.producer_entry(1).is_none() && log.producer_entry(2).is_some());
}

#[test]
fn snapshots_below_the_log_start_go_with_retention() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), config(), clean());
    produce(&log, 9);
    log.flush(0).unwrap();
    produce_range(&log, 9..12);
    log.flush(0).unwrap();
    let snaps = snapshots(dir.path());
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let start = *log.segment_base_offsets().last().unwrap();
    assert_eq!(start, snaps[1]);
    log.advance_log_start_offset(start).unwrap();
    assert!(log.apply_retention(0).unwrap().segments_deleted > 0);
    assert_eq!(snapshots(dir.path()), vec![start]);
    // The producer is still known: its state does not live in the deleted segments.
    assert!(log.producer_entry(1).is_some());
}

/// Producer 1's batches `seqs`, one record of 512 KiB each, appended; their infos and bytes.
fn produce_large(log: &Log, seqs: std::ops::Range<i32>) -> Vec<(AppendInfo, Vec<u8>)> {
    produce_sized(log, seqs, 512 << 10)
}

/// One batch of one `bytes`-byte record per sequence number, from producer 1.
fn produce_sized(
    log: &Log,
    seqs: std::ops::Range<i32>,
    bytes: usize,
) -> Vec<(AppendInfo, Vec<u8>)> {
    let value = vec![0x5au8; bytes];
    seqs.map(|seq| {
        let b = batch(1, 0, seq, std::slice::from_ref(&value), 1_000, 0);
        let info = append(log, b.clone()).unwrap();
        assert!(!info.duplicate);
        (info, b)
    })
    .collect()
}

fn large_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 30,
        segment_index_bytes: 1 << 20,
        ..config()
    }
}

#[test]
fn a_crash_replays_from_a_snapshot_taken_in_the_middle_of_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), large_segments(), clean());
    // 70 MiB in one segment: past the 64 MiB after which a snapshot is taken, no roll.
    let written = produce_large(&log, 0..140);
    log.flush(0).unwrap();
    let end = log.log_end_offset();
    assert_eq!(log.segment_base_offsets(), vec![0]);
    let snaps = snapshots(dir.path());
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let mid = snaps[0];
    assert!(0 < mid && mid < end, "{mid} of {end}");
    drop(log); // a crash
    let (log, report) = open(dir.path(), large_segments(), unclean());
    assert_eq!(report.producer_snapshot, Some(mid));
    // One record per batch: only the batches past the snapshot are read.
    assert_eq!(report.producer_batches_replayed, (end - mid) as u64);
    let (info, last) = written.last().unwrap();
    let dup = append(&log, last.clone()).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, info.base_offset);
}

#[test]
fn a_checkpoint_snapshots_a_log_written_since_its_last_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), large_segments(), clean());
    // Less than the bound since the last snapshot: the checkpoint takes none.
    let half = CHECKPOINT_SNAPSHOT_MIN_BYTES as usize / 2;
    produce_sized(&log, 0..1, half);
    log.flush(0).unwrap();
    log.snapshot_producers(CHECKPOINT_SNAPSHOT_MIN_BYTES);
    assert!(snapshots(dir.path()).is_empty());
    // Past it and durable: staged and written at once (no flush would come).
    produce_sized(&log, 1..3, half);
    log.flush(0).unwrap();
    let durable = log.log_end_offset();
    log.snapshot_producers(CHECKPOINT_SNAPSHOT_MIN_BYTES);
    assert_eq!(snapshots(dir.path()), vec![durable]);
    // Not yet durable: staged, and written by the flush that makes the log durable there.
    let written = produce_large(&log, 3..6);
    let end = log.log_end_offset();
    log.snapshot_producers(CHECKPOINT_SNAPSHOT_MIN_BYTES);
    assert_eq!(snapshots(dir.path()), vec![durable]);
    log.flush(0).unwrap();
    assert_eq!(snapshots(dir.path()), vec![durable, end]);
    drop(log); // a crash
    reopens_from_the_snapshot_at(dir.path(), end, &written[2].1);
}

#[test]
fn snapshots_at_rolls_are_kept_beside_newer_ones_for_truncations() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of four batches of half the checkpoint's bound, a checkpoint after each.
    let half = CHECKPOINT_SNAPSHOT_MIN_BYTES as usize / 2;
    let cfg = LogConfig {
        segment_bytes: 4 * half as u64 + 1_000,
        ..large_segments()
    };
    let (log, _) = open(dir.path(), cfg.clone(), clean());
    let mut written = Vec::new();
    for seq in 0..14 {
        written.extend(produce_sized(&log, seq..seq + 1, half));
        log.flush(0).unwrap();
        log.snapshot_producers(CHECKPOINT_SNAPSHOT_MIN_BYTES);
    }
    let bases = log.segment_base_offsets();
    assert_eq!(bases, vec![0, 4, 8, 12]);
    let end = log.log_end_offset();
    // Checkpoints took one every other batch (the bound appended): at 2, 6, 10 and 14; rolls
    // at 4, 8 and 12 (where a checkpoint's was already). Kept: the two newest, and the two
    // newest taken at rolls.
    assert_eq!(end, 14);
    assert_eq!(snapshots(dir.path()), vec![8, 12, 14]);
    // A truncation into the segment before the active one finds one below the cut.
    log.truncate_to(10).unwrap();
    assert_eq!(snapshots(dir.path()), vec![8]);
    assert_eq!(log.producer_entry(1).unwrap().last_seq(), 9);
    assert!(append(&log, written[9].1.clone()).unwrap().duplicate);
    assert!(!append(&log, written[10].1.clone()).unwrap().duplicate);
}

// ----- power loss ----------------------------------------------------------------------

const DATA: &str = "/data";
const TOPIC: &str = "t";

fn sim_open(sim: &SimFs, cfg: &LogConfig) -> Option<LogManager> {
    let mc = ManagerConfig {
        default_log: cfg.clone(),
        lock_data_dir: false,
        background_threads: false,
        recovery_threads: 1,
        ..ManagerConfig::new(DATA)
    };
    let per_log = cfg.clone();
    LogManager::open_on(Arc::new(sim.clone()), mc, &move |_| per_log.clone())
        .ok()
        .map(|(m, _)| m)
}

/// One producer of the power-loss runs.
#[derive(Debug)]
struct Producer {
    pid: i64,
    next_seq: i32,
    /// The batch sent and not acknowledged, with its record ids.
    in_flight: Option<(Vec<u8>, Vec<u64>)>,
}

/// Every batch of the log: (producer id, base sequence, record ids).
fn batches_of(log: &Log) -> Vec<(i64, i32, Vec<u64>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let bytes = r
            .slice
            .expect("records below the log end")
            .to_vec()
            .unwrap();
        for (_, _, b) in BatchIter::new(&bytes) {
            let (h, recs) = records_of_batch(b, 1 << 24).unwrap();
            let ids = RecordIter::new(&recs, h.record_count)
                .map(|r| u64::from_be_bytes(r.unwrap().value.unwrap()[..8].try_into().unwrap()))
                .collect();
            out.push((h.producer_id, h.base_sequence, ids));
            offset = h.last_offset() + 1;
        }
    }
    out
}

#[test]
fn a_retried_batch_is_in_the_log_once_across_power_losses() {
    let scale: u64 = std::env::var("POWER_LOSS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut duplicates, mut rewritten) = (0, 0);
    for seed in 0..24 * scale {
        let (d, r) = power_loss_run(seed);
        duplicates += d;
        rewritten += r;
    }
    eprintln!("retries after power loss: {duplicates} duplicates, {rewritten} written");
    // Both outcomes of a retry happen: the batch was durable, or it was lost.
    assert!(duplicates > 0 && rewritten > 0, "{duplicates} {rewritten}");
}

/// One seeded run; returns how many retries were answered as duplicates and how many were
/// written.
fn power_loss_run(seed: u64) -> (u32, u32) {
    let mut rng = StdRng::seed_from_u64(seed);
    let ctx = format!("seed {seed}");
    let mut sim = if seed % 2 == 1 {
        SimFs::torn(seed)
    } else {
        SimFs::new()
    };
    sim.create_dir_durable(Path::new(DATA)).unwrap();
    let cfg = LogConfig {
        segment_bytes: rng.gen_range(500..3000),
        segment_index_bytes: 4096,
        index_interval_bytes: 128,
        ..LogConfig::default()
    };
    let mgr = sim_open(&sim, &cfg).unwrap();
    mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
    drop(mgr);
    let mut producers: Vec<Producer> = (1..=3)
        .map(|pid| Producer {
            pid,
            next_seq: 0,
            in_flight: None,
        })
        .collect();
    let mut acked: HashSet<u64> = HashSet::new();
    let mut next_id = 0u64;
    let (mut duplicates, mut rewritten) = (0, 0);
    for cycle in 0..4 {
        let ctx = format!("{ctx} cycle {cycle}");
        let mgr = sim_open(&sim, &cfg).unwrap_or_else(|| panic!("{ctx}: restart failed"));
        let log = mgr.get(TOPIC, 0).unwrap();
        // Retry what was in flight at the power loss: once in the log either way.
        for p in &mut producers {
            let Some((bytes, ids)) = p.in_flight.take() else {
                continue;
            };
            let before: HashSet<u64> = batches_of(&log).into_iter().flat_map(|b| b.2).collect();
            let was_durable = ids.iter().all(|i| before.contains(i));
            assert!(
                was_durable || ids.iter().all(|i| !before.contains(i)),
                "{ctx}: half a batch survived"
            );
            let b = bytes.clone();
            let (info, wait) = mgr
                .append(&log, &b, &opts(0))
                .unwrap_or_else(|e| panic!("{ctx}: retry of producer {}: {e}", p.pid));
            wait.unwrap().wait().unwrap();
            assert_eq!(info.duplicate, was_durable, "{ctx}: producer {}", p.pid);
            if info.duplicate {
                duplicates += 1;
            } else {
                rewritten += 1;
            }
            p.next_seq += ids.len() as i32;
            acked.extend(ids);
        }
        verify(&log, &producers, &acked, &ctx);
        // Produce until a power loss at a random point (or a shutdown).
        let shutdown = rng.gen_bool(0.25);
        let mut lost_power = false;
        if !shutdown {
            sim.crash_after_ops(rng.gen_range(5..500));
        }
        for step in 0..rng.gen_range(20..120) {
            if sim.is_crashed() {
                break;
            }
            match rng.gen_range(0..20) {
                0 => {
                    let _ = log.roll();
                    continue;
                }
                1 => {
                    // A checkpoint, with the producer snapshot it takes of a log written
                    // since its last one (here after any append).
                    log.snapshot_producers(1);
                    let _ = mgr.checkpoint();
                    continue;
                }
                _ => {}
            }
            let p = &mut producers[rng.gen_range(0..3)];
            let ids: Vec<u64> = (0..rng.gen_range(1..6))
                .map(|_| {
                    next_id += 1;
                    next_id
                })
                .collect();
            let vals: Vec<Vec<u8>> = ids
                .iter()
                .map(|id| {
                    let mut v = id.to_be_bytes().to_vec();
                    v.resize(8 + rng.gen_range(0..60), step as u8);
                    v
                })
                .collect();
            // Wall-clock timestamps: the restart expires producers idle for a day.
            let bytes = batch(p.pid, 0, p.next_seq, &vals, wall_clock_ms(), 0);
            p.in_flight = Some((bytes.clone(), ids.clone()));
            let b = bytes.clone();
            let written = match mgr.append(&log, &b, &opts(0)) {
                Ok((info, wait)) => {
                    assert!(!info.duplicate, "{ctx}: a first send taken for a retry");
                    wait.unwrap().wait().is_ok().then_some(info)
                }
                Err(_) => None,
            };
            let Some(info) = written else {
                assert!(
                    sim.is_crashed(),
                    "{ctx}: an append failed without a power loss"
                );
                break;
            };
            match rng.gen_range(0..60) {
                // The acknowledgement is lost and the producer resends at once.
                0..=3 => {
                    let b = bytes;
                    let Ok((again, wait)) = mgr.append(&log, &b, &opts(0)) else {
                        assert!(sim.is_crashed(), "{ctx}: a resend failed");
                        break;
                    };
                    assert!(again.duplicate, "{ctx}: a resend written twice");
                    assert_eq!(
                        (again.base_offset, again.last_offset),
                        (info.base_offset, info.last_offset),
                        "{ctx}"
                    );
                    if wait.unwrap().wait().is_err() {
                        break;
                    }
                }
                // The acknowledgement is lost, then the power: resent after the restart.
                4 => {
                    lost_power = true;
                    break;
                }
                _ => {}
            }
            p.in_flight = None;
            p.next_seq += ids.len() as i32;
            acked.extend(ids);
        }
        if shutdown && !lost_power {
            // Power lost during or after a clean shutdown.
            sim.crash_after_ops(rng.gen_range(0..60));
            let _ = mgr.shutdown();
        }
        drop(log);
        drop(mgr);
        sim = sim.crash();
    }
    (duplicates, rewritten)
}

/// Every acknowledged record is in the log once, and each producer's batches follow each
/// other by sequence: nothing lost, nothing twice.
fn verify(log: &Log, producers: &[Producer], acked: &HashSet<u64>, ctx: &str) {
    let batches = batches_of(log);
    let mut seen = HashSet::new();
    let mut next_seq: HashMap<i64, i32> = HashMap::new();
    for (pid, seq, ids) in &batches {
        for id in ids {
            assert!(seen.insert(*id), "{ctx}: record {id} is in the log twice");
        }
        let expected = next_seq.entry(*pid).or_insert(0);
        assert_eq!(
            seq, expected,
            "{ctx}: producer {pid}'s batches skip or repeat"
        );
        *expected += ids.len() as i32;
    }
    for id in acked {
        assert!(seen.contains(id), "{ctx}: acknowledged record {id} lost");
    }
    for p in producers {
        assert!(p.in_flight.is_none());
        assert_eq!(
            next_seq.get(&p.pid).copied().unwrap_or(0),
            p.next_seq,
            "{ctx}: producer {}",
            p.pid
        );
    }
}
