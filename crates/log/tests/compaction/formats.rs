//! Batch formats a pass must preserve: codecs, headers, control batches, keyless records.

use super::*;

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
        // A batch left empty has nothing to compress: it is written uncompressed, as
        // Kafka's are.
        assert!(
            stored
                .iter()
                .all(|(h, _)| h.codec() == codec.id() || h.record_count == 0),
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
fn markers_without_data_keep_their_record_and_get_a_delete_horizon() {
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
            // The producer's epoch: an older one would be fenced.
            producer_epoch: 1,
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
    // Kafka's cleaner: a COMMIT marker with no transactional data before it is that of an
    // empty transaction. It stays, its record unchanged, until its delete horizon
    // (KIP-534: now + delete.retention.ms in its base timestamp).
    let (h, bytes) = stored.iter().find(|(h, _)| h.base_offset == at).unwrap();
    assert!(h.has_delete_horizon());
    assert_eq!(
        h.base_timestamp,
        10_000 + compact_config().delete_retention_ms
    );
    let (h0, _) = BatchIter::new(&marker_before)
        .next()
        .map(|(_, h, b)| (h, b))
        .unwrap();
    assert_eq!(
        (
            h.max_timestamp,
            h.producer_id,
            h.producer_epoch,
            h.attributes & !0x40
        ),
        (
            h0.max_timestamp,
            h0.producer_id,
            h0.producer_epoch,
            h0.attributes
        )
    );
    let recs = records_of(&[(*h, bytes.clone())]);
    let recs0 = records_of(&[(h0, marker_before.clone())]);
    assert_eq!(recs, recs0, "the marker's record, timestamps included");
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
