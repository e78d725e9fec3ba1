//! Unit tests of the producer state rules and the snapshot codec.

use super::*;
use proptest::prelude::*;

const PID: i64 = 7;

/// A data batch of `n` records of producer `PID` at `epoch` starting at sequence `seq`,
/// at offset `offset`.
fn data(epoch: i16, seq: i32, n: i32, offset: i64) -> ProducerBatch {
    ProducerBatch {
        producer_id: PID,
        producer_epoch: epoch,
        base_sequence: seq,
        base_offset: offset,
        last_offset: offset + i64::from(n) - 1,
        max_timestamp: 1_000 + offset,
        is_transactional: false,
        kind: BatchKind::Data,
    }
}

fn txn(pid: i64, seq: i32, n: i32, offset: i64) -> ProducerBatch {
    ProducerBatch {
        producer_id: pid,
        is_transactional: true,
        ..data(0, seq, n, offset)
    }
}

fn marker(pid: i64, epoch: i16, offset: i64, abort: bool, coordinator_epoch: i32) -> ProducerBatch {
    ProducerBatch {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: NO_SEQUENCE,
        base_offset: offset,
        last_offset: offset,
        max_timestamp: 5_000 + offset,
        is_transactional: true,
        kind: BatchKind::Marker(EndTxnMarker {
            is_abort: abort,
            coordinator_epoch,
        }),
    }
}

/// Checks and applies `batches` as one append; returns what the check said.
fn append(s: &mut ProducerStateManager, batches: &[ProducerBatch]) -> Result<AppendCheck> {
    let check = s.check_append(batches)?;
    if let AppendCheck::Valid(update) = &check {
        s.apply(update.clone());
    }
    Ok(check)
}

fn ok(s: &mut ProducerStateManager, b: ProducerBatch) {
    match append(s, &[b]) {
        Ok(AppendCheck::Valid(_)) => {}
        other => panic!("{b:?}: {other:?}"),
    }
}

fn out_of_order(r: Result<AppendCheck>) -> (i32, i32) {
    match r {
        Err(LogError::OutOfOrderSequence {
            sequence, expected, ..
        }) => (sequence, expected),
        other => panic!("expected OutOfOrderSequence, got {other:?}"),
    }
}

#[test]
fn in_order_batches_pass_and_a_gap_is_out_of_order() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 3, 0));
    ok(&mut s, data(0, 3, 2, 3));
    assert_eq!(s.entry(PID).unwrap().last_seq(), 4);
    assert_eq!(out_of_order(append(&mut s, &[data(0, 6, 1, 5)])), (6, 5));
    // Nothing changed: the next in order still passes.
    ok(&mut s, data(0, 5, 1, 5));
}

#[test]
fn a_duplicate_of_each_of_the_last_five_returns_the_original_and_the_sixth_is_out_of_order() {
    let mut s = ProducerStateManager::new();
    let batches: Vec<ProducerBatch> = (0..6)
        .map(|i| data(0, i * 2, 2, 100 + i64::from(i) * 10))
        .collect();
    for b in &batches {
        ok(&mut s, *b);
    }
    for original in &batches[1..] {
        let retry = ProducerBatch {
            base_offset: 999,
            last_offset: 1000,
            max_timestamp: 0,
            ..*original
        };
        assert_eq!(
            s.check_append(&[retry]).unwrap(),
            AppendCheck::Duplicate(BatchMetadata {
                first_seq: original.base_sequence,
                last_seq: original.base_sequence + 1,
                first_offset: original.base_offset,
                last_offset: original.last_offset,
                max_timestamp: original.max_timestamp,
            })
        );
    }
    // The oldest fell out of the five remembered: its retry is out of order.
    assert_eq!(out_of_order(s.check_append(&[batches[0]])), (0, 12));
    // A batch that overlaps a remembered one without repeating it is out of order too.
    assert_eq!(out_of_order(s.check_append(&[data(0, 8, 1, 0)])), (8, 12));
}

#[test]
fn a_duplicate_in_a_request_of_several_batches_answers_the_whole_request() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 2, 0));
    let check = s
        .check_append(&[data(0, 2, 1, 2), data(0, 0, 2, 3)])
        .unwrap();
    assert!(matches!(check, AppendCheck::Duplicate(d) if d.first_offset == 0));
    assert_eq!(s.entry(PID).unwrap().last_seq(), 1);
}

#[test]
fn several_batches_are_checked_in_order_and_refused_whole() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 1, 0));
    // Two in order in one request: the second follows the first.
    ok_many(&mut s, &[data(0, 1, 2, 1), data(0, 3, 1, 3)]);
    // The second breaks the order: nothing of the first is applied.
    let before = s.clone();
    out_of_order(append(&mut s, &[data(0, 4, 1, 4), data(0, 9, 1, 5)]));
    assert_eq!(s, before);
    // Two producers in one request.
    let other = ProducerBatch {
        producer_id: 8,
        ..data(0, 0, 1, 5)
    };
    ok_many(&mut s, &[data(0, 4, 1, 4), other]);
    assert_eq!(s.entry(8).unwrap().last_seq(), 0);
}

fn ok_many(s: &mut ProducerStateManager, batches: &[ProducerBatch]) {
    assert!(matches!(append(s, batches), Ok(AppendCheck::Valid(_))));
}

#[test]
fn a_new_epoch_starts_at_zero_and_a_lower_epoch_is_fenced() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 5, 0));
    assert_eq!(out_of_order(append(&mut s, &[data(1, 5, 1, 5)])), (5, 0));
    ok(&mut s, data(1, 0, 1, 5));
    let e = s.entry(PID).unwrap();
    assert_eq!(
        (e.producer_epoch, e.last_seq(), e.batches().len()),
        (1, 0, 1)
    );
    match append(&mut s, &[data(0, 5, 1, 6)]) {
        Err(LogError::InvalidProducerEpoch {
            producer_epoch: 0,
            current_epoch: 1,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // A retry from the old epoch is no duplicate any more: fenced.
    assert!(matches!(
        append(&mut s, &[data(0, 0, 5, 0)]),
        Err(LogError::InvalidProducerEpoch { .. })
    ));
}

#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    // Kafka since KIP-360: no UNKNOWN_PRODUCER_ID for a producer the partition forgot.
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(3, 42, 2, 0));
    assert_eq!(s.entry(PID).unwrap().last_seq(), 43);
    assert_eq!(out_of_order(append(&mut s, &[data(3, 50, 1, 2)])), (50, 44));
}

#[test]
fn sequences_wrap_past_i32_max() {
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
    assert_eq!(decrement_sequence(5, 2), 3);
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, i32::MAX - 2, 2, 0));
    // Spans the wrap: MAX, 0, 1.
    ok(&mut s, data(0, i32::MAX, 3, 2));
    assert_eq!(s.entry(PID).unwrap().last_seq(), 1);
    ok(&mut s, data(0, 2, 1, 5));
    // The batch across the wrap is still recognised.
    assert!(matches!(
        s.check_append(&[data(0, i32::MAX, 3, 9)]),
        Ok(AppendCheck::Duplicate(d)) if d.first_offset == 2 && d.last_seq == 1
    ));
    // And it survives a snapshot.
    let back = ProducerStateManager::decode_snapshot(&s.encode_snapshot()).unwrap();
    assert_eq!(back.entry(PID).unwrap().last_seq(), 2);
    let mut fresh = ProducerStateManager::new();
    ok(&mut fresh, data(0, i32::MAX, 1, 0));
    ok(&mut fresh, data(0, 0, 1, 1));
}

#[test]
fn transactions_open_at_their_first_batch_and_close_at_the_marker() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, txn(1, 0, 2, 10));
    ok(&mut s, txn(2, 0, 1, 12));
    ok(&mut s, txn(1, 2, 1, 13));
    assert_eq!(s.entry(1).unwrap().current_txn_first_offset, Some(10));
    assert_eq!(s.first_unstable_offset(0), Some(10));
    // Producer 1 commits at 14.
    let check = s.check_append(&[marker(1, 0, 14, false, 3)]).unwrap();
    let AppendCheck::Valid(update) = check else {
        panic!("{check:?}")
    };
    let done = CompletedTxn {
        producer_id: 1,
        first_offset: 10,
        last_offset: 14,
        is_aborted: false,
    };
    assert_eq!(update.completed_txns(), &[done]);
    assert_eq!(s.apply(update), vec![done]);
    let e = s.entry(1).unwrap();
    assert_eq!((e.current_txn_first_offset, e.coordinator_epoch), (None, 3));
    // Decided, but its marker is not below the high watermark yet: still unstable.
    assert_eq!(s.first_unstable_offset(14), Some(10));
    // Once the high watermark passes the marker, producer 2's open one is the first.
    assert_eq!(s.first_unstable_offset(15), Some(12));
    s.forget_completed_below(15);
    // Producer 2 aborts.
    let check = append(&mut s, &[marker(2, 0, 15, true, 3)]).unwrap();
    let AppendCheck::Valid(update) = check else {
        panic!()
    };
    assert!(update.completed_txns()[0].is_aborted);
    assert_eq!(s.first_unstable_offset(16), None);
    // A marker without an open transaction completes nothing.
    let check = append(&mut s, &[marker(2, 0, 16, false, 3)]).unwrap();
    assert!(matches!(check, AppendCheck::Valid(u) if u.completed_txns().is_empty()));
}

#[test]
fn transaction_rules_fence_what_kafka_fences() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, txn(1, 0, 1, 0));
    // A non-transactional batch in the middle of the transaction.
    let plain = ProducerBatch {
        producer_id: 1,
        ..data(0, 1, 1, 1)
    };
    assert!(matches!(
        append(&mut s, &[plain]),
        Err(LogError::InvalidTxnState {
            producer_id: 1,
            txn_first_offset: 0
        })
    ));
    // A marker from an older coordinator, once one with a newer epoch wrote.
    ok(&mut s, marker(1, 0, 1, false, 5));
    assert!(matches!(
        append(&mut s, &[marker(1, 0, 2, false, 4)]),
        Err(LogError::TransactionCoordinatorFenced {
            coordinator_epoch: 4,
            current_coordinator_epoch: 5,
            ..
        })
    ));
    // A marker from an older producer epoch.
    ok(&mut s, marker(1, 2, 2, true, 5));
    assert!(matches!(
        append(&mut s, &[marker(1, 1, 3, true, 5)]),
        Err(LogError::InvalidProducerEpoch { .. })
    ));
    // The marker bumped the epoch: the next batch starts over at 0, in the same epoch.
    assert_eq!(
        out_of_order(append(
            &mut s,
            &[ProducerBatch {
                producer_id: 1,
                ..data(2, 1, 1, 3)
            }]
        )),
        (1, 0)
    );
    ok(
        &mut s,
        ProducerBatch {
            producer_id: 1,
            ..data(2, 0, 1, 3)
        },
    );
}

#[test]
fn a_transaction_opened_and_closed_in_one_append_leaves_nothing_open() {
    let mut s = ProducerStateManager::new();
    let check = append(&mut s, &[txn(1, 0, 2, 0), marker(1, 0, 2, true, 0)]).unwrap();
    assert!(matches!(check, AppendCheck::Valid(u) if u.completed_txns().len() == 1));
    assert_eq!(s.first_unstable_offset(3), None);
    assert_eq!(s.first_unstable_offset(2), Some(0));
}

#[test]
fn replay_applies_without_checks() {
    let mut s = ProducerStateManager::new();
    s.replay(&data(2, 0, 1, 0));
    s.replay(&data(1, 7, 1, 1)); // a lower epoch and a gap: taken as written
    assert_eq!(s.entry(PID).unwrap().producer_epoch, 1);
    s.replay(&txn(1, 0, 1, 2));
    let done = s.replay(&marker(1, 0, 3, false, 0)).unwrap();
    assert_eq!((done.first_offset, done.last_offset), (2, 3));
    assert_eq!(
        s.replay(&ProducerBatch {
            kind: BatchKind::EmptyControl,
            ..marker(1, 0, 4, false, 0)
        }),
        None
    );
}

#[test]
fn expiry_spares_open_transactions() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 1, 0)); // timestamp 1000
    ok(&mut s, txn(1, 0, 1, 1)); // timestamp 1001
    assert_eq!(s.remove_expired(1_500, 1_000), 0);
    assert_eq!(s.remove_expired(2_000, 1_000), 1);
    assert!(s.entry(PID).is_none());
    assert!(
        s.entry(1).is_some(),
        "an open transaction keeps its producer"
    );
    // Forgotten: the producer may start anywhere.
    ok(&mut s, data(0, 30, 1, 2));
}

#[test]
fn end_txn_markers_parse_as_kafka_writes_them() {
    let key = [0, 0, 0, 1];
    let value = [0, 0, 0, 0, 0, 9];
    assert_eq!(
        EndTxnMarker::parse(Some(&key), Some(&value)).unwrap(),
        EndTxnMarker {
            is_abort: false,
            coordinator_epoch: 9
        }
    );
    // A later value version with more bytes is read as version 0.
    let v1 = [0, 1, 0, 0, 0, 2, 0];
    assert!(
        EndTxnMarker::parse(Some(&[0, 0, 0, 0]), Some(&v1))
            .unwrap()
            .is_abort
    );
    for (k, v) in [
        (None, Some(&value[..])),
        (Some(&key[..3]), Some(&value[..])),
        (Some(&[0, 0, 0, 2][..]), Some(&value[..])),
        (Some(&[0xff, 0xff, 0, 1][..]), Some(&value[..])),
        (Some(&key[..]), None),
        (Some(&key[..]), Some(&value[..5])),
    ] {
        assert!(EndTxnMarker::parse(k, v).is_err(), "{k:?} {v:?}");
    }
}

#[test]
fn control_batches_read_their_marker() {
    use crate::record::{encode_record, BatchBuilder};
    let mut raw = Vec::new();
    encode_record(
        &mut raw,
        0,
        0,
        0,
        Some(&[0, 0, 0, 0]),
        Some(&[0, 0, 0, 0, 0, 4]),
        &[],
    );
    let b = BatchBuilder {
        attributes: crate::batch::ATTR_CONTROL | crate::batch::ATTR_TRANSACTIONAL,
        producer_id: 3,
        producer_epoch: 1,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap();
    let p = ProducerBatch::from_batch(&b, 1 << 20).unwrap().unwrap();
    assert_eq!(
        p.kind,
        BatchKind::Marker(EndTxnMarker {
            is_abort: true,
            coordinator_epoch: 4
        })
    );
    let empty = BatchBuilder {
        attributes: crate::batch::ATTR_CONTROL,
        producer_id: 3,
        ..BatchBuilder::new()
    }
    .build(&[], 0)
    .unwrap();
    let p = ProducerBatch::from_batch(&empty, 1 << 20).unwrap().unwrap();
    assert_eq!(p.kind, BatchKind::EmptyControl);
    let plain = BatchBuilder::new().build(&[], 0).unwrap();
    assert_eq!(ProducerBatch::from_batch(&plain, 1 << 20).unwrap(), None);
}

#[test]
fn snapshots_round_trip_in_kafkas_layout() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(3, 10, 4, 100));
    ok(&mut s, txn(2, 0, 1, 104));
    let bytes = s.encode_snapshot();
    assert_eq!(bytes.len(), 10 + 2 * 46);
    assert_eq!(&bytes[..2], &[0, 1], "version 1");
    assert_eq!(&bytes[6..10], &[0, 0, 0, 2], "two entries");
    // Entries by producer id: 2 first. Its fields, in Kafka's order.
    let e = &bytes[10..56];
    assert_eq!(i64::from_be_bytes(e[0..8].try_into().unwrap()), 2);
    assert_eq!(i16::from_be_bytes(e[8..10].try_into().unwrap()), 0);
    assert_eq!(i32::from_be_bytes(e[10..14].try_into().unwrap()), 0);
    assert_eq!(i64::from_be_bytes(e[14..22].try_into().unwrap()), 104);
    assert_eq!(i32::from_be_bytes(e[22..26].try_into().unwrap()), 0);
    assert_eq!(i64::from_be_bytes(e[26..34].try_into().unwrap()), 1_104);
    assert_eq!(i32::from_be_bytes(e[34..38].try_into().unwrap()), -1);
    assert_eq!(i64::from_be_bytes(e[38..46].try_into().unwrap()), 104);
    let crc = u32::from_be_bytes(bytes[2..6].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&bytes[6..]));

    let back = ProducerStateManager::decode_snapshot(&bytes).unwrap();
    let e = back.entry(PID).unwrap();
    assert_eq!(
        (e.producer_epoch, e.last_seq(), e.last_timestamp),
        (3, 13, 1_100)
    );
    let last = *e.batches().last().unwrap();
    assert_eq!(
        last,
        BatchMetadata {
            first_seq: 10,
            last_seq: 13,
            first_offset: 100,
            last_offset: 103,
            max_timestamp: 1_100
        }
    );
    assert_eq!(back.first_unstable_offset(0), Some(104));
    // Only the last batch is kept, as in Kafka: its retry is still a duplicate.
    assert!(matches!(
        back.check_append(&[data(3, 10, 4, 500)]),
        Ok(AppendCheck::Duplicate(d)) if d.first_offset == 100
    ));
    assert_eq!(
        ProducerStateManager::decode_snapshot(&ProducerStateManager::new().encode_snapshot()),
        Ok(ProducerStateManager::new())
    );
}

#[test]
fn damaged_snapshots_are_refused() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 1, 0));
    let good = s.encode_snapshot();
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let mut version = good.clone();
    version[1] = 2;
    let mut count = good.clone();
    count[9] = 2;
    let mut trailing = good.clone();
    trailing.push(0);
    for (what, b) in [
        ("flipped", flipped),
        ("version", version),
        ("count", count),
        ("trailing", trailing),
        ("short", good[..good.len() - 1].to_vec()),
        ("empty", Vec::new()),
    ] {
        assert!(ProducerStateManager::decode_snapshot(&b).is_err(), "{what}");
    }
}

/// Re-signs a snapshot body so that only the field checks can refuse it.
fn signed(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() >= 6 {
        let crc = crc32c::crc32c(&b[6..]);
        b[2..6].copy_from_slice(&crc.to_be_bytes());
    }
    b
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ProducerStateManager::decode_snapshot(&b);
        let mut v = b.clone();
        if v.len() >= 2 {
            v[0] = 0;
            v[1] = 1;
        }
        let _ = ProducerStateManager::decode_snapshot(&signed(v));
    }

    #[test]
    fn replayed_states_round_trip_through_snapshots(
        ops in proptest::collection::vec((0i64..4, 0i16..3, 0i32..50, 1i32..5, any::<bool>(), 0u8..4), 0..40)
    ) {
        let mut s = ProducerStateManager::new();
        let mut offset = 0i64;
        for (pid, epoch, seq, n, transactional, kind) in ops {
            let b = if kind == 0 {
                marker(pid, epoch, offset, transactional, i32::from(epoch))
            } else {
                ProducerBatch { producer_id: pid, is_transactional: transactional, ..data(epoch, seq, n, offset) }
            };
            s.replay(&b);
            offset = b.last_offset + 1;
        }
        let back = ProducerStateManager::decode_snapshot(&s.encode_snapshot()).unwrap();
        prop_assert_eq!(back.len(), s.len());
        prop_assert_eq!(back.first_unstable_offset(i64::MAX), s.ongoing.keys().next().copied());
        for (pid, e) in &s.producers {
            let b = back.entry(*pid).unwrap();
            prop_assert_eq!(b.producer_epoch, e.producer_epoch);
            prop_assert_eq!(b.last_seq(), e.last_seq());
            prop_assert_eq!(b.current_txn_first_offset, e.current_txn_first_offset);
            prop_assert_eq!(b.coordinator_epoch, e.coordinator_epoch);
            prop_assert_eq!(b.last_timestamp, e.last_timestamp);
            prop_assert_eq!(b.batches().last().map(|m| (m.first_offset, m.last_offset, m.first_seq)),
                e.batches().last().map(|m| (m.first_offset, m.last_offset, m.first_seq)));
        }
        // Encoding is deterministic: the same state, the same bytes.
        prop_assert_eq!(back.encode_snapshot(), s.encode_snapshot());
    }
}

#[test]
fn the_last_stable_offset_after_a_completion_is_kafkas() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, txn(1, 0, 2, 10));
    ok(&mut s, txn(2, 0, 1, 12));
    // One append: producer 3 opens a transaction, 1 aborts, 2 commits, 3 aborts. Each
    // completion sees those completed after it in the same append as still open.
    let batches = [
        txn(3, 0, 1, 13),
        marker(1, 0, 14, true, 0),
        marker(2, 0, 15, false, 0),
        marker(3, 0, 16, true, 0),
    ];
    let AppendCheck::Valid(update) = s.check_append(&batches).unwrap() else {
        panic!()
    };
    let done: Vec<(i64, i64)> = s
        .apply_with_lso(update)
        .into_iter()
        .map(|(t, lso)| (t.producer_id, lso))
        .collect();
    // 1: producer 2's from 12 is the earliest other; 2: producer 3's from 13; 3: none left.
    assert_eq!(done, vec![(1, 12), (2, 13), (3, 17)]);
    // Replay gives the same.
    let mut r = ProducerStateManager::new();
    r.replay(&txn(1, 0, 1, 0));
    r.replay(&txn(2, 0, 1, 1));
    assert_eq!(
        r.replay_with_lso(&marker(2, 0, 2, true, 0)).map(|(_, l)| l),
        Some(0)
    );
    assert_eq!(
        r.replay_with_lso(&marker(1, 0, 3, true, 0)).map(|(_, l)| l),
        Some(4)
    );
}

#[test]
fn last_records_name_each_producers_last_data_batch_and_epoch() {
    let mut s = ProducerStateManager::new();
    ok(&mut s, data(0, 0, 2, 0));
    ok(&mut s, txn(2, 0, 1, 5));
    ok(&mut s, marker(2, 0, 6, true, 0));
    ok(&mut s, marker(3, 4, 7, true, 0));
    let last = s.last_records();
    let lr = |d, e| LastRecord {
        last_data_offset: d,
        producer_epoch: e,
    };
    assert_eq!(last[&PID], lr(Some(1), 0));
    assert_eq!(last[&2], lr(Some(5), 0));
    assert_eq!(last[&3], lr(None, 4), "only a marker in its epoch");
}

#[test]
fn an_emptied_batch_gives_its_base_timestamp_as_the_producers_last() {
    let b = crate::record::BatchBuilder {
        producer_id: PID,
        producer_epoch: 0,
        base_sequence: 3,
        last_offset_delta: 2,
        base_timestamp: 1_234,
        max_timestamp: -1,
        ..crate::record::BatchBuilder::new()
    }
    .build(&[], 0)
    .unwrap();
    let h = BatchHeader::parse(&b).unwrap();
    let p = ProducerBatch::from_header(&h).unwrap();
    assert_eq!((p.max_timestamp, p.last_sequence()), (1_234, 5));
}

#[test]
fn a_coordinator_append_has_no_sequence_but_keeps_the_epoch_and_transaction_rules() {
    // The group coordinator's TxnOffsetCommit batches: producer id and epoch, NO_SEQUENCE.
    let offsets = |epoch: i16, offset: i64| ProducerBatch {
        producer_id: PID,
        producer_epoch: epoch,
        base_sequence: NO_SEQUENCE,
        base_offset: offset,
        last_offset: offset + 1,
        max_timestamp: 1_000 + offset,
        is_transactional: true,
        kind: BatchKind::Data,
    };
    let coordinator = |s: &mut ProducerStateManager, b: ProducerBatch| {
        let check = s.check_append_from(&[b], AppendOrigin::Coordinator)?;
        if let AppendCheck::Valid(update) = &check {
            s.apply(update.clone());
        }
        Ok::<_, LogError>(check)
    };
    let mut s = ProducerStateManager::new();
    assert!(matches!(
        coordinator(&mut s, offsets(3, 10)),
        Ok(AppendCheck::Valid(_))
    ));
    assert_eq!(s.entry(PID).unwrap().current_txn_first_offset, Some(10));
    assert_eq!(s.first_unstable_offset(100), Some(10));
    // A second commit of the same transaction is not a duplicate of the first (a client's
    // batch with the same (missing) sequences would be).
    assert!(matches!(
        s.check_append(&[offsets(3, 12)]),
        Ok(AppendCheck::Duplicate(_))
    ));
    assert!(matches!(
        coordinator(&mut s, offsets(3, 12)),
        Ok(AppendCheck::Valid(_))
    ));
    assert_eq!(s.entry(PID).unwrap().current_txn_first_offset, Some(10));
    // A fenced epoch is still refused.
    assert!(matches!(
        coordinator(&mut s, offsets(2, 14)),
        Err(LogError::InvalidProducerEpoch {
            producer_epoch: 2,
            current_epoch: 3,
            ..
        })
    ));
    // So is a non-transactional batch while the transaction is open.
    let plain = ProducerBatch {
        is_transactional: false,
        ..offsets(3, 14)
    };
    assert!(matches!(
        coordinator(&mut s, plain),
        Err(LogError::InvalidTxnState { .. })
    ));
    // The marker closes the transaction.
    ok(&mut s, marker(PID, 3, 14, false, 0));
    assert_eq!(s.entry(PID).unwrap().current_txn_first_offset, None);
    assert_eq!(s.first_unstable_offset(100), None);
}
