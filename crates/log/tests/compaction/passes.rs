//! What a pass keeps and drops, and when a pass is due.

use super::*;

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
    // The manager cleans only below the recovery point (a crash may still cut above it).
    log.flush(0).unwrap();
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
    log.flush(0).unwrap();
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
