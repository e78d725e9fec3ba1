//! Reopening after compaction, and crash safety: stray `.cleaned` files, interrupted
//! swaps, and a crash at every step of a pass on the simulated disk.

use super::*;

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

/// The segment files in `dir` (producer snapshots come and go with opens and flushes).
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(files::PRODUCER_SNAPSHOT_SUFFIX))
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
