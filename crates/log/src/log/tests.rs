//! Unit tests of appends by origin: a coordinator's transactional batch without a sequence.

use std::sync::Arc;

use super::*;
use crate::batch::{ATTR_CONTROL, ATTR_TRANSACTIONAL};
use crate::io::RealFs;
use crate::producer_state::NO_SEQUENCE;
use crate::record::{encode_record, BatchBuilder};

const PID: i64 = 42;

fn opts() -> AppendOptions {
    AppendOptions {
        leader_epoch: 0,
        now_ms: 1_000,
    }
}

/// A transactional batch of two records from producer [`PID`] at `epoch`, with `sequence`.
fn txn_batch(epoch: i16, sequence: i32) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..2 {
        encode_record(&mut raw, 0, 0, i, Some(b"k"), Some(b"v"), &[]);
    }
    BatchBuilder {
        producer_id: PID,
        producer_epoch: epoch,
        base_sequence: sequence,
        attributes: ATTR_TRANSACTIONAL,
        last_offset_delta: 1,
        base_timestamp: 1_000,
        max_timestamp: 1_000,
        ..BatchBuilder::new()
    }
    .build(&raw, 2)
    .unwrap()
}

/// A COMMIT marker of producer [`PID`] at `epoch`.
fn commit_marker(epoch: i16) -> Vec<u8> {
    let mut raw = Vec::new();
    encode_record(
        &mut raw,
        0,
        0,
        0,
        Some(&[0, 0, 0, 1]),
        Some(&[0, 0, 0, 0, 0, 0]),
        &[],
    );
    BatchBuilder {
        producer_id: PID,
        producer_epoch: epoch,
        attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap()
}

/// Partition 0 of `topic`, new, under `dir`.
fn open_log(dir: &std::path::Path, topic: &str) -> Log {
    let state = LoadState {
        clean_shutdown: true,
        recovery_point: None,
        log_start_offset: None,
    };
    Log::open(
        Arc::new(RealFs),
        dir,
        topic,
        0,
        LogConfig::default(),
        state,
        0,
    )
    .unwrap()
    .0
}

#[test]
fn a_coordinator_appends_transactional_batches_without_a_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path(), "__consumer_offsets");
    // A client may not send a producer's batch without a sequence.
    let refused = log.append(&txn_batch(1, NO_SEQUENCE), &opts());
    assert!(
        matches!(
            refused,
            Err(LogError::InvalidBatch(BatchError::InvalidRecord(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(log.log_end_offset(), 0);
    // A coordinator may, twice in one transaction (neither is a duplicate of the other).
    let coordinator =
        |b: &mut Vec<u8>| log.append_with_origin(b, &opts(), AppendOrigin::Coordinator);
    let first = coordinator(&mut txn_batch(1, NO_SEQUENCE)).unwrap();
    let second = coordinator(&mut txn_batch(1, NO_SEQUENCE)).unwrap();
    assert_eq!((first.base_offset, first.duplicate), (0, false));
    assert_eq!((second.base_offset, second.duplicate), (2, false));
    // The batches opened the producer's transaction at the first one.
    assert_eq!(log.first_unstable_offset(4), Some(0));
    assert_eq!(
        log.producer_entry(PID).unwrap().current_txn_first_offset,
        Some(0)
    );
    // An older epoch is fenced, even for a coordinator.
    let fenced = coordinator(&mut txn_batch(0, NO_SEQUENCE));
    assert!(
        matches!(fenced, Err(LogError::InvalidProducerEpoch { .. })),
        "{fenced:?}"
    );
    // The marker closes the transaction.
    let marker = log.append(&commit_marker(1), &opts()).unwrap();
    assert_eq!(marker.base_offset, 4);
    assert_eq!(log.first_unstable_offset(5), None);
}

/// A write-behind is due once per [`WRITE_BEHIND_BYTES`] appended, and not again while
/// one is queued; once it has run, the next can be queued.
#[test]
fn a_write_behind_is_due_every_so_many_bytes_and_queued_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path(), "t");
    let quarter = WRITE_BEHIND_BYTES / 4;
    let due: Vec<bool> = (0..4).map(|_| log.note_for_write_behind(quarter)).collect();
    assert_eq!(due, [false, false, false, true]);
    // Queued: another MiB asks for none until it has run.
    assert!(!log.note_for_write_behind(WRITE_BEHIND_BYTES));
    for i in 0..3 {
        log.append(&txn_batch(1, 2 * i), &opts()).unwrap();
    }
    log.write_behind().unwrap();
    assert!(log.note_for_write_behind(WRITE_BEHIND_BYTES));
    assert_eq!(log.log_end_offset(), 6);
}
