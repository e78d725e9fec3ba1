//! AddPartitionsToTxn, AddOffsetsToTxn, verify-only, EndTxn and completion.

use std::collections::BTreeSet;

use super::*;

// ----- AddPartitionsToTxn, AddOffsetsToTxn ----------------------------------------------

#[test]
fn add_partitions_opens_and_extends_the_transaction() {
    let md = fresh();
    let open = ongoing(&md, T0 + 10);
    assert_eq!(open.state, TxnState::Ongoing);
    assert_eq!(open.txn_start_ms, T0 + 10, "the first add starts the clock");
    assert_eq!(open.txn_last_update_ms, T0 + 10);
    assert_eq!(
        (open.producer_id, open.producer_epoch),
        (md.producer_id, md.producer_epoch)
    );
    let more = written(add_partitions(
        Some(&open),
        PID,
        0,
        [tp("t", 1), tp("u", 0)],
        T0 + 20,
    ));
    assert_eq!(more.txn_start_ms, T0 + 10, "later adds keep the start");
    assert_eq!(more.txn_last_update_ms, T0 + 20);
    assert_eq!(
        more.partitions,
        BTreeSet::from([tp("t", 0), tp("t", 1), tp("u", 0)])
    );
    // Nothing new: nothing to write.
    assert_eq!(
        add_partitions(Some(&more), PID, 0, [tp("u", 0), tp("t", 0)], T0 + 30),
        Ok(AddPartitionsOutcome::AlreadyIncluded)
    );
    assert_eq!(
        add_partitions(Some(&more), PID, 0, [], T0 + 30),
        Ok(AddPartitionsOutcome::AlreadyIncluded)
    );
}

#[test]
fn add_partitions_after_a_completed_transaction_starts_a_new_one() {
    for state in [TxnState::CompleteCommit, TxnState::CompleteAbort] {
        let md = at(state, 2);
        let open = written(add_partitions(Some(&md), PID, 2, [tp("v", 3)], T0 + 99));
        assert_eq!(open.state, TxnState::Ongoing);
        assert_eq!(open.txn_start_ms, T0 + 99);
        assert_eq!(open.partitions, BTreeSet::from([tp("v", 3)]));
    }
}

#[test]
fn add_partitions_errors_in_kafkas_order() {
    let md = ongoing(&fresh(), T0);
    assert_eq!(
        add_partitions(None, PID, 0, [tp("t", 0)], T0),
        Err(TxnError::InvalidProducerIdMapping {
            producer_id: PID,
            current_producer_id: None
        })
    );
    // The producer id is checked before the epoch.
    assert_eq!(
        add_partitions(Some(&md), PID + 1, 7, [tp("t", 0)], T0),
        Err(TxnError::InvalidProducerIdMapping {
            producer_id: PID + 1,
            current_producer_id: Some(PID)
        })
    );
    // Any other epoch, older or newer, is fenced.
    for epoch in [-1, 1, i16::MAX] {
        assert_eq!(
            add_partitions(Some(&md), PID, epoch, [tp("t", 0)], T0),
            Err(fenced(epoch, 0))
        );
    }
    for state in [TxnState::PrepareCommit, TxnState::PrepareAbort] {
        assert_eq!(
            add_partitions(Some(&at(state, 0)), PID, 0, [tp("t", 0)], T0),
            Err(TxnError::ConcurrentTransactions { state })
        );
    }
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let md = fresh();
    let offsets = tp("__consumer_offsets", 12);
    let open = written(add_offsets(Some(&md), PID, 0, offsets.clone(), T0));
    assert_eq!(open.partitions, BTreeSet::from([offsets.clone()]));
    assert_eq!(
        add_offsets(Some(&open), PID, 0, offsets.clone(), T0),
        Ok(AddPartitionsOutcome::AlreadyIncluded)
    );
    let committing = prepared(end_txn(Some(&open), PID, 0, TxnResult::Commit, T0));
    assert_eq!(
        pending_completion(&committing).unwrap().partitions,
        vec![offsets]
    );
}

#[test]
fn verify_only_checks_without_changing() {
    let md = ongoing(&fresh(), T0);
    let verified = verify_partitions(Some(&md), PID, 0, [tp("t", 1), tp("x", 0)]).unwrap();
    assert_eq!(verified.get(&tp("t", 1)), Some(&Ok(())));
    assert_eq!(
        verified.get(&tp("x", 0)),
        Some(&Err(TxnError::TransactionAbortable))
    );
    // No transaction open: nothing is in it.
    let verified = verify_partitions(Some(&fresh()), PID, 0, [tp("t", 0)]).unwrap();
    assert_eq!(
        verified.get(&tp("t", 0)),
        Some(&Err(TxnError::TransactionAbortable))
    );
    assert!(matches!(
        verify_partitions(None, PID, 0, [tp("t", 0)]),
        Err(TxnError::InvalidProducerIdMapping { .. })
    ));
    assert_eq!(
        verify_partitions(Some(&md), PID, 1, [tp("t", 0)]),
        Err(fenced(1, 0))
    );
    assert_eq!(
        verify_partitions(Some(&at(TxnState::PrepareCommit, 0)), PID, 0, [tp("t", 0)]),
        Err(TxnError::ConcurrentTransactions {
            state: TxnState::PrepareCommit
        })
    );
}

// ----- EndTxn and completion ------------------------------------------------------------

#[test]
fn commit_from_start_to_end() {
    let md = ongoing(&fresh(), T0 + 10);
    let committing = prepared(end_txn(Some(&md), PID, 0, TxnResult::Commit, T0 + 50));
    assert_eq!(
        committing,
        TransactionMetadata {
            state: TxnState::PrepareCommit,
            txn_last_update_ms: T0 + 50,
            ..md.clone()
        }
    );
    let markers = pending_completion(&committing).unwrap();
    assert_eq!(
        markers,
        TxnMarkers {
            producer_id: PID,
            producer_epoch: 0,
            result: TxnResult::Commit,
            partitions: vec![tp("t", 0), tp("t", 1)],
        }
    );
    let committed = complete(&committing, T0 + 60).unwrap();
    assert_eq!(
        committed,
        TransactionMetadata {
            state: TxnState::CompleteCommit,
            partitions: BTreeSet::new(),
            txn_last_update_ms: T0 + 60,
            ..md.clone()
        }
    );
    assert_eq!(pending_completion(&committed), None);
    // A retried EndTxn(commit) is answered NONE; an abort of it is not.
    assert_eq!(
        end_txn(Some(&committed), PID, 0, TxnResult::Commit, T0 + 70),
        Ok(EndTxnOutcome::AlreadyCompleted)
    );
    assert_eq!(
        end_txn(Some(&committed), PID, 0, TxnResult::Abort, T0 + 70),
        Err(TxnError::InvalidTxnState {
            state: TxnState::CompleteCommit,
            requested: "abort"
        })
    );
    // The next transaction, same epoch.
    let next = ongoing(&committed, T0 + 80);
    assert_eq!((next.producer_epoch, next.txn_start_ms), (0, T0 + 80));
}

#[test]
fn abort_from_start_to_end() {
    let md = ongoing(&fresh(), T0);
    let aborting = prepared(end_txn(Some(&md), PID, 0, TxnResult::Abort, T0 + 1));
    assert_eq!(aborting.state, TxnState::PrepareAbort);
    assert_eq!(
        aborting.producer_epoch, 0,
        "a client's abort keeps the epoch"
    );
    let aborted = complete(&aborting, T0 + 2).unwrap();
    assert_eq!(aborted.state, TxnState::CompleteAbort);
    assert_eq!(
        end_txn(Some(&aborted), PID, 0, TxnResult::Abort, T0 + 3),
        Ok(EndTxnOutcome::AlreadyCompleted)
    );
}

#[test]
fn end_txn_by_state_and_result() {
    use TxnResult::{Abort, Commit};
    use TxnState::*;
    let invalid = |state, result: TxnResult| {
        Err(TxnError::InvalidTxnState {
            state,
            requested: result.as_str(),
        })
    };
    let concurrent = |state| Err(TxnError::ConcurrentTransactions { state });
    let cases = [
        (PrepareCommit, Commit, concurrent(PrepareCommit)),
        (PrepareCommit, Abort, invalid(PrepareCommit, Abort)),
        (PrepareAbort, Commit, invalid(PrepareAbort, Commit)),
        (PrepareAbort, Abort, concurrent(PrepareAbort)),
        (CompleteCommit, Commit, Ok(EndTxnOutcome::AlreadyCompleted)),
        (CompleteCommit, Abort, invalid(CompleteCommit, Abort)),
        (CompleteAbort, Commit, invalid(CompleteAbort, Commit)),
        (CompleteAbort, Abort, Ok(EndTxnOutcome::AlreadyCompleted)),
        (Empty, Commit, invalid(Empty, Commit)),
        (Empty, Abort, invalid(Empty, Abort)),
    ];
    for (state, result, expected) in cases {
        assert_eq!(
            end_txn(Some(&at(state, 4)), PID, 4, result, T0),
            expected,
            "{state} {result:?}"
        );
    }
    for result in [Commit, Abort] {
        let md = prepared(end_txn(Some(&at(Ongoing, 4)), PID, 4, result, T0));
        assert_eq!(md.state, result.prepare_state());
    }
}

#[test]
fn end_txn_checks_the_producer_first() {
    let md = at(TxnState::Ongoing, 4);
    assert!(matches!(
        end_txn(None, PID, 4, TxnResult::Commit, T0),
        Err(TxnError::InvalidProducerIdMapping {
            current_producer_id: None,
            ..
        })
    ));
    assert!(matches!(
        end_txn(Some(&md), PID + 1, 4, TxnResult::Commit, T0),
        Err(TxnError::InvalidProducerIdMapping { .. })
    ));
    // A newer epoch from a client is fenced too: clients never bump their own epoch.
    for epoch in [3, 5] {
        assert_eq!(
            end_txn(Some(&md), PID, epoch, TxnResult::Commit, T0),
            Err(fenced(epoch, 4))
        );
    }
}

#[test]
fn complete_outside_a_prepare_state_is_illegal() {
    for state in [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ] {
        assert!(matches!(
            complete(&at(state, 1), T0),
            Err(TxnError::IllegalState { .. })
        ));
        assert_eq!(pending_completion(&at(state, 1)), None);
    }
}

#[test]
fn markers_written_leave_the_description() {
    let md = ongoing(&fresh(), T0);
    let mut committing = prepared(end_txn(Some(&md), PID, 0, TxnResult::Commit, T0));
    assert!(committing.marker_written(&tp("t", 0)));
    assert!(!committing.marker_written(&tp("t", 0)));
    let description = describe("my-txn", Some(&committing)).unwrap();
    assert_eq!(
        description.topics,
        vec![TxnTopicPartitions {
            topic: "t".into(),
            partition_ids: vec![1]
        }]
    );
    // Outside a Prepare state nothing changes.
    let mut open = md.clone();
    assert!(!open.marker_written(&tp("t", 0)));
    assert_eq!(open, md);
}
