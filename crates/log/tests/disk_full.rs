//! A full disk (ENOSPC) while appending: the append fails with `LogError::NoSpace`, the
//! log stays online with nothing half-written (no bytes past the published size, no
//! index entry, no new segment), reads go on, and appends resume once writes succeed
//! again. On the simulated disk (a failing write keeps half its bytes, as a short write
//! would) and, for the SIGBUS-prone mapped indexes, on a real tmpfs when running as root.

use std::sync::Arc;

use myelin_log::compression::Compression;
use myelin_log::io::Fs;
use myelin_log::record::simple_batch;
use myelin_log::sim::SimFs;
use myelin_log::{AppendOptions, LoadState, Log, LogConfig, LogError};

fn opts() -> AppendOptions {
    AppendOptions {
        leader_epoch: 0,
        now_ms: 1_000,
    }
}

fn batch(i: usize) -> Vec<u8> {
    let v = format!("value-{i:05}-{}", "x".repeat(40));
    simple_batch(
        &[(Some(b"k"), Some(v.as_bytes()))],
        1_000 + i as i64,
        Compression::None,
    )
}

/// Every value in the log, with its offset.
fn values_of(log: &Log) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    loop {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        for (_, h, b) in myelin_log::batch::BatchIter::new(&bytes) {
            let (_, recs) = myelin_log::record::records_of_batch(b, 1 << 24).unwrap();
            for r in myelin_log::record::RecordIter::new(&recs, h.record_count) {
                let r = r.unwrap();
                let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                out.push((h.base_offset + i64::from(r.offset_delta), v));
            }
            offset = h.last_offset() + 1;
        }
    }
    out
}

fn fresh() -> LoadState {
    LoadState {
        clean_shutdown: false,
        recovery_point: None,
        log_start_offset: None,
    }
}

fn assert_values(log: &Log, n: usize) {
    let values = values_of(log);
    assert_eq!(values.len(), n, "records in the log");
    for (i, (offset, v)) in values.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert!(v.starts_with(&format!("value-{i:05}-")), "{offset}: {v}");
    }
}

/// The bytes of the log's segment files on the simulated disk.
fn log_bytes_on_disk(sim: &SimFs, log: &Log) -> u64 {
    log.segment_base_offsets()
        .into_iter()
        .map(|b| {
            let path = log.segment_path(b, myelin_log::files::FileKind::Log);
            sim.read_file(&path).unwrap().len() as u64
        })
        .sum()
}

#[test]
fn enospc_fails_the_append_and_leaves_the_log_usable() {
    let sim = SimFs::new();
    let fs: Arc<dyn Fs> = Arc::new(sim.clone());
    let dir = std::path::Path::new("/data/t-0");
    let cfg = LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let (log, _) = Log::open(fs.clone(), dir, "t", 0, cfg.clone(), fresh(), 0).unwrap();
    let (mut n, mut at_roll, mut in_segment) = (0, 0, 0);
    // Before every append the disk is full once: inside a segment and at a roll (a
    // 400-byte segment holds a few batches).
    for _ in 0..40 {
        let segments = log.segment_count();
        let size = log.size_bytes();
        let files = sim.files_under(dir).len();
        sim.fail_writes(true);
        let e = log.append(&batch(n), &opts()).unwrap_err();
        sim.fail_writes(false);
        assert!(matches!(e, LogError::NoSpace { .. }), "{e:?}");
        assert!(e.is_storage());
        assert!(
            !log.is_offline(),
            "a full disk must not take the log offline"
        );
        assert_eq!(log.log_end_offset(), n as i64);
        assert_eq!(
            log.segment_count(),
            segments,
            "no segment from a failed roll"
        );
        assert_eq!(log.size_bytes(), size);
        assert_eq!(sim.files_under(dir).len(), files, "no file left behind");
        assert_eq!(
            log_bytes_on_disk(&sim, &log),
            size,
            "no bytes past the log's end"
        );
        // Reads go on.
        assert_values(&log, n);
        log.append(&batch(n), &opts()).unwrap();
        n += 1;
        log.flush(1_000).unwrap();
        if log.segment_count() > segments {
            at_roll += 1;
        } else {
            in_segment += 1;
        }
    }
    assert!(
        at_roll > 3 && in_segment > 3,
        "{at_roll} at a roll, {in_segment} inside"
    );
    assert_values(&log, n);

    // Reopened as after a crash: the failed appends left nothing to cut.
    drop(log);
    let (log, report) = Log::open(fs.clone(), dir, "t", 0, cfg, fresh(), 0).unwrap();
    assert_eq!(
        report.bytes_truncated, 0,
        "no torn bytes were left: {report:?}"
    );
    assert_values(&log, n);
    log.append(&batch(n), &opts()).unwrap();
    assert_values(&log, n + 1);
}

/// Retention is what frees space: on a full disk it must not fail (it rolls before
/// deleting an expired active segment, and that roll cannot make its segment).
#[test]
fn retention_on_a_full_disk_deletes_what_it_can_and_keeps_the_log_online() {
    let sim = SimFs::new();
    let fs: Arc<dyn Fs> = Arc::new(sim.clone());
    let dir = std::path::Path::new("/data/t-0");
    let cfg = LogConfig {
        segment_bytes: 400,
        retention_ms: 1_000,
        ..LogConfig::default()
    };
    let (log, _) = Log::open(fs, dir, "t", 0, cfg, fresh(), 0).unwrap();
    for i in 0..20 {
        log.append(&batch(i), &opts()).unwrap();
    }
    log.flush(1_000).unwrap();
    let segments = log.segment_count();
    assert!(segments > 3);
    sim.fail_writes(true);
    // Every batch is older than retention.ms: everything is expired.
    let outcome = log.apply_retention(1_000_000).unwrap();
    assert_eq!(
        outcome.segments_deleted,
        segments - 1,
        "all but the active segment"
    );
    assert!(!log.is_offline());
    assert_eq!(log.segment_count(), 1);
    sim.fail_writes(false);
    let outcome = log.apply_retention(1_000_000).unwrap();
    assert_eq!(
        outcome.segments_deleted, 1,
        "the active one, once a roll works"
    );
    log.append(&batch(20), &opts()).unwrap();
    assert_eq!(log.log_end_offset(), 21);
}
