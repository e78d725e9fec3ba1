//! Append, read, lookups, reopen (clean and unclean), truncation and retention of one log,
//! on the real file system.

use std::sync::Arc;

use myelin_log::compression::Compression;
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::simple_batch;
use myelin_log::{AppendOptions, LoadState, Log, LogConfig, LogError};

fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions {
        leader_epoch: 3,
        now_ms,
    }
}

fn open(dir: &std::path::Path, cfg: LogConfig, state: LoadState) -> Log {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Log::open(fs, dir, "t", 0, cfg, state, 0).unwrap().0
}

fn values_of(log: &Log, from: i64) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        for (_, h, b) in myelin_log::batch::BatchIter::new(&bytes) {
            let (h2, recs) = myelin_log::record::records_of_batch(b, 1 << 24).unwrap();
            assert_eq!(h, h2);
            for r in myelin_log::record::RecordIter::new(&recs, h.record_count) {
                let r = r.unwrap();
                let o = h.base_offset + i64::from(r.offset_delta);
                if o >= offset {
                    out.push((o, r.value.unwrap_or_default().to_vec()));
                }
            }
            offset = h.last_offset() + 1;
        }
    }
    out
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

fn append_values(log: &Log, n: usize, ts: i64) {
    for i in 0..n {
        let v = format!("value-{i:05}");
        let b = simple_batch(
            &[(Some(b"k"), Some(v.as_bytes()))],
            ts + i as i64,
            Compression::None,
        );
        log.append(&b, &opts(ts + i as i64)).unwrap();
    }
}

#[test]
fn appends_get_contiguous_offsets_and_read_back_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(), LoadState::default());
    let b = simple_batch(
        &[(None, Some(b"a")), (None, Some(b"b"))],
        1000,
        Compression::None,
    );
    let info = log.append(&b, &opts(5)).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (0, 1));
    append_values(&log, 100, 2000);
    assert_eq!(log.log_end_offset(), 102);
    assert!(
        log.segment_count() > 3,
        "small segment.bytes rolls: {}",
        log.segment_count()
    );
    let vals = values_of(&log, 0);
    assert_eq!(vals.len(), 102);
    for (i, (o, _)) in vals.iter().enumerate() {
        assert_eq!(*o, i as i64);
    }
    // A read from the middle of a batch returns that whole batch.
    let r = log.read(1, 1 << 20, i64::MAX, true).unwrap();
    let bytes = r.slice.unwrap().to_vec().unwrap();
    let h = myelin_log::batch::BatchHeader::parse(&bytes).unwrap();
    assert_eq!(h.base_offset, 0);
    assert_eq!(h.partition_leader_epoch, 3);
    // The high watermark bounds reads.
    let r = log.read(10, 1 << 20, 10, true).unwrap();
    assert!(r.slice.is_none());
    // Out of range.
    assert!(matches!(
        log.read(103, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn timestamp_lookups_find_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(), LoadState::default());
    append_values(&log, 50, 10_000);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 10_000)));
    assert_eq!(
        log.offset_for_timestamp(10_020).unwrap(),
        Some((20, 10_020))
    );
    assert_eq!(
        log.offset_for_timestamp(10_049).unwrap(),
        Some((49, 10_049))
    );
    assert_eq!(log.offset_for_timestamp(10_050).unwrap(), None);
    assert_eq!(log.offset_of_max_timestamp().unwrap(), Some((49, 10_049)));
}

#[test]
fn reopen_after_clean_close_and_after_crash_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_segments(), LoadState::default());
        append_values(&log, 60, 1);
        log.close(0).unwrap();
    }
    let clean = LoadState {
        clean_shutdown: true,
        ..Default::default()
    };
    {
        let log = open(dir.path(), small_segments(), clean);
        assert_eq!(log.log_end_offset(), 60);
        append_values(&log, 5, 100);
        assert_eq!(log.log_end_offset(), 65);
        assert_eq!(values_of(&log, 0).len(), 65);
        // no close: a crash
    }
    let log = open(dir.path(), small_segments(), LoadState::default());
    assert_eq!(log.log_end_offset(), 65);
    assert_eq!(log.recovery_point(), 65);
    assert_eq!(values_of(&log, 0).len(), 65);
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((60, 100)));
}

#[test]
fn truncation_removes_later_records_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(), LoadState::default());
    append_values(&log, 80, 1);
    log.truncate_to(30).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(values_of(&log, 0).len(), 30);
    append_values(&log, 3, 500);
    let vals = values_of(&log, 0);
    assert_eq!(vals.len(), 33);
    assert_eq!(vals[30], (30, b"value-00000".to_vec()));
    log.truncate_fully_and_start_at(1000).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (1000, 1000));
    append_values(&log, 1, 1);
    assert_eq!(values_of(&log, 1000).len(), 1);
}

#[test]
fn retention_and_delete_records_move_the_log_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_segments();
    cfg.retention_ms = 1000;
    let log = open(dir.path(), cfg, LoadState::default());
    append_values(&log, 40, 0); // timestamps 0..40
    let segs = log.segment_count();
    // Nothing is older than 1 s at t = 500.
    assert_eq!(log.apply_retention(500).unwrap().segments_deleted, 0);
    // At t = 1030 the segments holding only timestamps < 30 go.
    let out = log.apply_retention(1030).unwrap();
    assert!(out.segments_deleted > 0 && out.segments_deleted < segs);
    let start = log.log_start_offset();
    assert!(start > 0 && start <= 30);
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(values_of(&log, start).len() as i64, 40 - start);
    // DeleteRecords semantics.
    assert_eq!(log.advance_log_start_offset(35).unwrap(), 35);
    assert_eq!(values_of(&log, 35).first().map(|v| v.0), Some(35));
    // Everything expired: the active segment is rolled and deleted too.
    log.apply_retention(1_000_000).unwrap();
    assert_eq!(log.log_start_offset(), 40);
    assert_eq!(log.log_end_offset(), 40);
}

#[test]
fn bad_batches_are_refused_before_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default(), LoadState::default());
    let mut b = simple_batch(&[(None, Some(b"x"))], 1, Compression::None);
    let last = b.len() - 1;
    b[last] ^= 0xff;
    assert!(matches!(
        log.append(&b, &opts(0)),
        Err(LogError::InvalidBatch(
            myelin_log::BatchError::CrcMismatch { .. }
        ))
    ));
    let mut short = simple_batch(&[(None, Some(b"x"))], 1, Compression::None);
    short.truncate(40);
    assert!(log.append(&short, &opts(0)).is_err());
    let cfg = LogConfig {
        max_message_bytes: 100,
        ..LogConfig::default()
    };
    log.update_config(cfg).unwrap();
    let big = simple_batch(&[(None, Some(&[7u8; 200]))], 1, Compression::None);
    assert!(matches!(
        log.append(&big, &opts(0)),
        Err(LogError::InvalidBatch(
            myelin_log::BatchError::TooLarge { .. }
        ))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    // A valid CRC over records that do not parse is refused too (Kafka: CORRUPT_MESSAGE).
    let garbage = myelin_log::record::BatchBuilder {
        last_offset_delta: 0,
        ..myelin_log::record::BatchBuilder::new()
    }
    .build(&[2, 0, 0, 0, 0, 0, 0], 1)
    .unwrap();
    assert!(matches!(
        log.append(&garbage, &opts(0)),
        Err(LogError::InvalidBatch(myelin_log::BatchError::BadRecords(
            _
        )))
    ));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn segment_ms_rolls_on_record_time_not_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let log = open(dir.path(), cfg, LoadState::default());
    let now = 1_800_000_000_000;
    // Records from years ago, replayed now: they span 500 ms of record time, so they share
    // one segment (Kafka's LogSegment.shouldRoll measures from the segment's first batch
    // to the incoming batch, not to the clock).
    let old = now - 3 * 365 * 24 * 3_600_000;
    for i in 0..50 {
        let b = simple_batch(&[(None, Some(b"old"))], old + i * 10, Compression::None);
        log.append(&b, &opts(now + i)).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
    // A batch more than segment.ms after the segment's first record rolls it.
    let b = simple_batch(&[(None, Some(b"later"))], old + 1_001, Compression::None);
    log.append(&b, &opts(now + 60)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 50]);
    // And the next one, close to it in record time, joins the new segment.
    let b = simple_batch(&[(None, Some(b"later"))], old + 1_100, Compression::None);
    log.append(&b, &opts(now + 70)).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn a_checkpoint_is_written_once_enough_bytes_are_appended_since_the_last() {
    use myelin_log::manager::read_checkpoint;
    use myelin_log::{LogManager, ManagerConfig};
    let dir = tempfile::tempdir().unwrap();
    let cfg = ManagerConfig {
        // Never by time within the test: only the bytes can trigger one.
        checkpoint_interval_ms: 3_600_000,
        checkpoint_interval_bytes: 64 << 10,
        flush_scheduler_interval_ms: 10,
        ..ManagerConfig::new(dir.path())
    };
    let (mgr, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    let log = mgr.get_or_create("t", 0, LogConfig::default()).unwrap();
    let path = dir
        .path()
        .join(myelin_log::files::RECOVERY_POINT_CHECKPOINT);
    let checkpointed = || {
        read_checkpoint(&RealFs, &path)
            .get(&("t".to_string(), 0))
            .copied()
            .unwrap_or(0)
    };
    let value = vec![7u8; 16 << 10];
    let append = |n: usize| {
        for _ in 0..n {
            let b = simple_batch(&[(None, Some(&value[..]))], 1, Compression::None);
            let (_, wait) = mgr.append(&log, &b, &opts(1)).unwrap();
            wait.expect("durable mode waits").wait().unwrap();
        }
    };
    // 32 KiB durable: under the bound, so the checkpoint still says 0 after many ticks.
    append(2);
    assert_eq!(log.recovery_point(), 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(checkpointed(), 0);
    // Past 64 KiB with the fourth batch (the third leaves it under): the next tick writes
    // the recovery point, which is 4, or 3 when the tick came before the fourth's flush
    // (the count is of bytes appended; the checkpoint records what is durable).
    append(2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while checkpointed() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 66 KiB appended; it says {}",
            checkpointed()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    mgr.shutdown().unwrap();
}

#[test]
fn a_checkpoint_rewrites_only_the_files_whose_offsets_changed() {
    use myelin_log::files::{
        CLEANER_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
    };
    use myelin_log::manager::read_checkpoint;
    use myelin_log::{LogManager, ManagerConfig};
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ManagerConfig {
        background_threads: false,
        ..ManagerConfig::new(dir.path())
    };
    let (mgr, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    let log = mgr.get_or_create("t", 0, LogConfig::default()).unwrap();
    // Each write renames a new file over the old one: a new inode.
    let inodes = || {
        [
            RECOVERY_POINT_CHECKPOINT,
            LOG_START_OFFSET_CHECKPOINT,
            CLEANER_CHECKPOINT,
        ]
        .map(|name| std::fs::metadata(dir.path().join(name)).unwrap().ino())
    };
    mgr.checkpoint().unwrap();
    let first = inodes();
    mgr.checkpoint().unwrap();
    assert_eq!(inodes(), first, "nothing changed, nothing rewritten");
    let b = simple_batch(&[(None, Some(b"v"))], 1, Compression::None);
    let (_, wait) = mgr.append(&log, &b, &opts(1)).unwrap();
    wait.expect("durable mode waits").wait().unwrap();
    mgr.checkpoint().unwrap();
    let second = inodes();
    assert_ne!(second[0], first[0], "the recovery point moved");
    assert_eq!(second[1..], first[1..]);
    let rps = read_checkpoint(&RealFs, &dir.path().join(RECOVERY_POINT_CHECKPOINT));
    assert_eq!(rps.get(&("t".to_string(), 0)), Some(&1));
    mgr.shutdown().unwrap();
}

#[test]
fn a_timed_checkpoint_snapshots_the_producers_of_every_log_written_past_the_bound() {
    use myelin_log::files::producer_snapshot_path;
    use myelin_log::{LogManager, ManagerConfig, CHECKPOINT_SNAPSHOT_MIN_BYTES};
    // Enough logs that the snapshots are taken on several threads.
    const LOGS: i32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ManagerConfig {
        checkpoint_interval_ms: 100,
        // No checkpoint for the bytes appended: only the timed ones run.
        checkpoint_interval_bytes: u64::MAX,
        flush_scheduler_interval_ms: 10,
        ..ManagerConfig::new(dir.path())
    };
    let (mgr, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    // Even logs get one record of the bound (a batch holds a little more): past it. Odd
    // ones half of it: under it.
    let bound = CHECKPOINT_SNAPSHOT_MIN_BYTES as usize;
    let (past, under) = (vec![1u8; bound], vec![2u8; bound / 2]);
    let mut waits = Vec::new();
    let mut logs = Vec::new();
    for p in 0..LOGS {
        let log = mgr.get_or_create("t", p, LogConfig::default()).unwrap();
        let value = if p % 2 == 0 { &past } else { &under };
        let b = simple_batch(&[(None, Some(&value[..]))], 1, Compression::None);
        let (_, wait) = mgr.append(&log, &b, &opts(1)).unwrap();
        waits.push(wait.expect("durable mode waits"));
        logs.push(log);
    }
    for wait in waits {
        wait.wait().unwrap();
    }
    let snapshotted = |p: i32| producer_snapshot_path(logs[p as usize].dir(), 1).exists();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(0..LOGS).step_by(2).all(snapshotted) {
        assert!(
            std::time::Instant::now() < deadline,
            "after 60 s, {} of {} logs past the bound have no snapshot",
            (0..LOGS).step_by(2).filter(|&p| !snapshotted(p)).count(),
            LOGS / 2
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A few more timed checkpoints: the logs under the bound still have none.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let under: Vec<i32> = (1..LOGS).step_by(2).filter(|&p| snapshotted(p)).collect();
    assert!(
        under.is_empty(),
        "logs under the bound with a snapshot: {under:?}"
    );
    mgr.shutdown().unwrap();
}

#[test]
fn a_checkpoint_for_the_bytes_snapshots_only_what_keeps_the_replay_within_its_bound() {
    use myelin_log::files::producer_snapshot_path;
    use myelin_log::{LogManager, ManagerConfig, CHECKPOINT_SNAPSHOT_MIN_BYTES};
    let bound = CHECKPOINT_SNAPSHOT_MIN_BYTES as usize;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ManagerConfig {
        background_threads: false,
        // What a crash may leave to replay, in all.
        checkpoint_interval_bytes: 5 * bound as u64 / 2,
        ..ManagerConfig::new(dir.path())
    };
    let (mgr, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    // Four logs past the snapshot bound (a little over 2, 4, 1 and 3 times it) and four
    // under it (half of it each), in batches of a quarter of it: 12 bounds to replay,
    // against 2.5 allowed.
    let mut logs = Vec::new();
    let quarter = vec![7u8; bound / 4];
    for (p, quarters) in [
        (0, 8),
        (1, 2),
        (2, 16),
        (3, 2),
        (4, 4),
        (5, 2),
        (6, 12),
        (7, 2),
    ] {
        let log = mgr.get_or_create("t", p, LogConfig::default()).unwrap();
        for _ in 0..quarters {
            let b = simple_batch(&[(None, Some(&quarter[..]))], 1, Compression::None);
            let (_, wait) = mgr.append(&log, &b, &opts(1)).unwrap();
            wait.expect("durable mode waits").wait().unwrap();
        }
        logs.push(log);
    }
    let snapshotted =
        |p: usize| producer_snapshot_path(logs[p].dir(), logs[p].log_end_offset()).exists();
    // The largest first: 4, 3 and 2 bounds leave 1 + 4 x 0.5 = 3, over 2.5; the 1-bound
    // log leaves 2.
    assert_eq!(mgr.checkpoint_with_producer_snapshots(false).unwrap(), 4);
    assert_eq!(
        (0..8).filter(|&p| snapshotted(p)).collect::<Vec<_>>(),
        vec![0, 2, 4, 6]
    );
    // Nothing appended since: nothing more to take, even on the timer.
    assert_eq!(mgr.checkpoint_with_producer_snapshots(false).unwrap(), 0);
    assert_eq!(mgr.checkpoint_with_producer_snapshots(true).unwrap(), 0);
    // The logs under the snapshot bound are left to the replay: a timed checkpoint takes
    // none of them either.
    assert!((0..8).filter(|&p| p % 2 == 1).all(|p| !snapshotted(p)));
    for p in 0..4 {
        assert!(logs[2 * p].producer_replay_bytes() < 1024, "t-{}", 2 * p);
        assert!(logs[2 * p + 1].producer_replay_bytes() >= bound as u64 / 2);
    }
    mgr.shutdown().unwrap();
}

#[test]
fn a_checkpoint_of_many_logs_records_every_recovery_point() {
    use myelin_log::files::RECOVERY_POINT_CHECKPOINT;
    use myelin_log::manager::read_checkpoint;
    use myelin_log::{LogManager, ManagerConfig};
    // Enough logs that their indexes are synced on several threads.
    const LOGS: i32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ManagerConfig {
        background_threads: false,
        ..ManagerConfig::new(dir.path())
    };
    let (mgr, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    let mut waits = Vec::new();
    for p in 0..LOGS {
        let log = mgr.get_or_create("t", p, LogConfig::default()).unwrap();
        // Log p holds p % 3 batches: its recovery point.
        for _ in 0..p % 3 {
            let b = simple_batch(&[(None, Some(b"v"))], 1, Compression::None);
            let (_, wait) = mgr.append(&log, &b, &opts(1)).unwrap();
            waits.push(wait.expect("durable mode waits"));
        }
    }
    for wait in waits {
        wait.wait().unwrap();
    }
    mgr.checkpoint().unwrap();
    let rps = read_checkpoint(&RealFs, &dir.path().join(RECOVERY_POINT_CHECKPOINT));
    assert_eq!(rps.len(), LOGS as usize);
    for p in 0..LOGS {
        assert_eq!(
            rps.get(&("t".to_string(), p)),
            Some(&i64::from(p % 3)),
            "t-{p}"
        );
    }
    mgr.shutdown().unwrap();
}
