//! InitProducerId: new ids, epoch bumps, fencing, exhaustion, KIP-360.

use std::collections::BTreeSet;

use super::*;

// ----- InitProducerId -----------------------------------------------------------------

#[test]
fn init_of_a_new_transactional_id() {
    assert_eq!(
        fresh(),
        TransactionMetadata {
            producer_id: PID,
            last_producer_id: PID,
            producer_epoch: 0,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: TIMEOUT,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            txn_start_ms: NO_TXN_START,
            txn_last_update_ms: T0,
        }
    );
    assert!(init_needs_producer_id(None, None));
    // A KIP-360 producer whose id expired gets a new id at epoch 0 too.
    let expected = ProducerIdAndEpoch {
        producer_id: 77,
        epoch: 9,
    };
    let md = initialized(init_producer_id(
        None,
        TIMEOUT,
        MAX_TIMEOUT,
        Some(expected),
        || Ok(PID),
        T0,
    ));
    assert_eq!((md.producer_id, md.producer_epoch), (PID, 0));
}

#[test]
fn init_validates_the_timeout_first() {
    for timeout in [0, -1, MAX_TIMEOUT + 1, i32::MIN] {
        assert_eq!(
            init_producer_id(None, timeout, MAX_TIMEOUT, None, no_allocation, T0),
            Err(TxnError::InvalidTransactionTimeout {
                timeout_ms: timeout,
                max_ms: MAX_TIMEOUT
            })
        );
    }
    let md = initialized(init_producer_id(
        None,
        MAX_TIMEOUT,
        MAX_TIMEOUT,
        None,
        || Ok(PID),
        T0,
    ));
    assert_eq!(md.txn_timeout_ms, MAX_TIMEOUT);
}

#[test]
fn init_passes_on_allocation_errors_and_refuses_negative_ids() {
    assert_eq!(
        init_producer_id(
            None,
            TIMEOUT,
            MAX_TIMEOUT,
            None,
            || Err(TxnError::CoordinatorLoadInProgress),
            T0
        ),
        Err(TxnError::CoordinatorLoadInProgress)
    );
    assert!(matches!(
        init_producer_id(None, TIMEOUT, MAX_TIMEOUT, None, || Ok(-5), T0),
        Err(TxnError::IllegalState { .. })
    ));
}

#[test]
fn second_init_bumps_the_epoch_and_fences_the_first_producer() {
    let first = fresh();
    assert!(!init_needs_producer_id(Some(&first), None));
    let second = initialized(init_producer_id(
        Some(&first),
        30_000,
        MAX_TIMEOUT,
        None,
        no_allocation,
        T0 + 5,
    ));
    assert_eq!(
        (second.producer_id, second.producer_epoch, second.state),
        (PID, 1, TxnState::Empty)
    );
    assert_eq!(second.txn_timeout_ms, 30_000, "the new producer's timeout");
    assert_eq!(second.txn_last_update_ms, T0 + 5);
    // The first producer, at epoch 0, is fenced everywhere.
    assert_eq!(
        add_partitions(Some(&second), PID, 0, [tp("t", 0)], T0 + 6),
        Err(fenced(0, 1))
    );
    assert_eq!(
        end_txn(Some(&second), PID, 0, TxnResult::Commit, T0 + 6),
        Err(fenced(0, 1))
    );
    assert_eq!(
        add_offsets(Some(&second), PID, 0, tp("__consumer_offsets", 7), T0 + 6),
        Err(fenced(0, 1))
    );
}

#[test]
fn init_during_an_open_transaction_aborts_it_under_a_bumped_epoch() {
    let md = ongoing(&fresh(), T0 + 10);
    let outcome = init_producer_id(
        Some(&md),
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        no_allocation,
        T0 + 20,
    );
    let Ok(InitOutcome::AbortOngoing(aborting)) = outcome else {
        panic!("expected AbortOngoing, got {outcome:?}");
    };
    assert_eq!(
        aborting,
        TransactionMetadata {
            producer_epoch: 1,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            state: TxnState::PrepareAbort,
            txn_last_update_ms: T0 + 20,
            ..md.clone()
        }
    );
    // The client is answered CONCURRENT_TRANSACTIONS meanwhile and retries.
    assert_eq!(
        init_producer_id(
            Some(&aborting),
            TIMEOUT,
            MAX_TIMEOUT,
            None,
            no_allocation,
            T0 + 21
        ),
        Err(TxnError::ConcurrentTransactions {
            state: TxnState::PrepareAbort
        })
    );
    // The old producer is fenced before it learns anything else.
    assert_eq!(
        end_txn(Some(&aborting), PID, 0, TxnResult::Commit, T0 + 21),
        Err(fenced(0, 1))
    );
    assert_eq!(
        add_partitions(Some(&aborting), PID, 0, [tp("t", 9)], T0 + 21),
        Err(fenced(0, 1))
    );
    // Markers, then completion.
    assert_eq!(
        pending_completion(&aborting),
        Some(TxnMarkers {
            producer_id: PID,
            producer_epoch: 1,
            result: TxnResult::Abort,
            partitions: vec![tp("t", 0), tp("t", 1)],
        })
    );
    let aborted = complete(&aborting, T0 + 30).unwrap();
    assert_eq!(aborted.state, TxnState::CompleteAbort);
    assert!(aborted.partitions.is_empty());
    assert_eq!(aborted.txn_start_ms, T0 + 10, "the start is kept");
    // The retry gets the next epoch: the one the abort used is never handed out.
    let retried = initialized(init_producer_id(
        Some(&aborted),
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        no_allocation,
        T0 + 40,
    ));
    assert_eq!((retried.producer_id, retried.producer_epoch), (PID, 2));
    assert_eq!(retried.txn_start_ms, NO_TXN_START);
}

#[test]
fn init_while_a_transaction_completes_is_concurrent() {
    for state in [TxnState::PrepareCommit, TxnState::PrepareAbort] {
        assert_eq!(
            init_producer_id(
                Some(&at(state, 3)),
                TIMEOUT,
                MAX_TIMEOUT,
                None,
                no_allocation,
                T0
            ),
            Err(TxnError::ConcurrentTransactions { state })
        );
    }
}

#[test]
fn init_after_completion_bumps() {
    for state in [TxnState::CompleteCommit, TxnState::CompleteAbort] {
        let md = initialized(init_producer_id(
            Some(&at(state, 3)),
            TIMEOUT,
            MAX_TIMEOUT,
            None,
            no_allocation,
            T0,
        ));
        assert_eq!((md.producer_epoch, md.state), (4, TxnState::Empty));
        assert_eq!(md.txn_start_ms, NO_TXN_START);
    }
}

#[test]
fn exhausted_epochs_move_to_a_new_producer_id() {
    let md = initialized(init_producer_id(
        Some(&at(TxnState::Empty, i16::MAX - 2)),
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        no_allocation,
        T0,
    ));
    assert_eq!(md.producer_epoch, i16::MAX - 1);
    assert!(md.is_epoch_exhausted());
    assert!(init_needs_producer_id(Some(&md), None));
    let rotated = initialized(init_producer_id(
        Some(&md),
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        || Ok(PID + 1),
        T0 + 1,
    ));
    assert_eq!(
        rotated,
        TransactionMetadata {
            producer_id: PID + 1,
            last_producer_id: PID,
            producer_epoch: 0,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: TIMEOUT,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            txn_start_ms: NO_TXN_START,
            txn_last_update_ms: T0 + 1,
        }
    );
}

#[test]
fn fencing_at_the_last_epoch_then_rotating() {
    // The last epoch a producer gets is i16::MAX - 1; fencing it uses i16::MAX.
    let md = ongoing(&at(TxnState::Empty, i16::MAX - 1), T0);
    let Ok(InitOutcome::AbortOngoing(aborting)) =
        init_producer_id(Some(&md), TIMEOUT, MAX_TIMEOUT, None, no_allocation, T0)
    else {
        panic!("expected AbortOngoing");
    };
    assert_eq!(aborting.producer_epoch, i16::MAX);
    let aborted = complete(&aborting, T0).unwrap();
    let rotated = initialized(init_producer_id(
        Some(&aborted),
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        || Ok(PID + 1),
        T0,
    ));
    assert_eq!((rotated.producer_id, rotated.producer_epoch), (PID + 1, 0));
    // An Ongoing transaction at i16::MAX (never produced by us) cannot be fenced.
    let stuck = ongoing(&at(TxnState::Empty, i16::MAX), T0);
    assert!(matches!(
        init_producer_id(Some(&stuck), TIMEOUT, MAX_TIMEOUT, None, no_allocation, T0),
        Err(TxnError::IllegalState { .. })
    ));
    assert!(matches!(
        abort_timed_out(&stuck, T0),
        Err(TxnError::IllegalState { .. })
    ));
}

#[test]
fn kip_360_resume_retry_and_fencing() {
    let md = at(TxnState::CompleteAbort, 5);
    let mine = |epoch| {
        Some(ProducerIdAndEpoch {
            producer_id: PID,
            epoch,
        })
    };
    // The producer resumes with its current epoch: bumped, its epoch remembered.
    let bumped = initialized(init_producer_id(
        Some(&md),
        TIMEOUT,
        MAX_TIMEOUT,
        mine(5),
        no_allocation,
        T0,
    ));
    assert_eq!((bumped.producer_epoch, bumped.last_producer_epoch), (6, 5));
    // Its retry (the response was lost) gets the same epoch again.
    let retried = initialized(init_producer_id(
        Some(&bumped),
        TIMEOUT,
        MAX_TIMEOUT,
        mine(5),
        no_allocation,
        T0 + 1,
    ));
    assert_eq!(
        (retried.producer_epoch, retried.last_producer_epoch),
        (6, 5)
    );
    // An older epoch, or another producer id, is fenced.
    assert_eq!(
        init_producer_id(
            Some(&bumped),
            TIMEOUT,
            MAX_TIMEOUT,
            mine(3),
            no_allocation,
            T0
        ),
        Err(fenced(3, 6))
    );
    assert_eq!(
        init_producer_id(
            Some(&bumped),
            TIMEOUT,
            MAX_TIMEOUT,
            Some(ProducerIdAndEpoch {
                producer_id: 99,
                epoch: 6
            }),
            no_allocation,
            T0
        ),
        Err(TxnError::ProducerFenced {
            producer_id: 99,
            producer_epoch: 6,
            current_producer_id: PID,
            current_epoch: 6
        })
    );
    // A producer starting afresh bumps and forgets the last epoch: the resumed producer's
    // retry is now fenced.
    let restarted = initialized(init_producer_id(
        Some(&bumped),
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        no_allocation,
        T0,
    ));
    assert_eq!(
        (restarted.producer_epoch, restarted.last_producer_epoch),
        (7, NO_PRODUCER_EPOCH)
    );
    assert_eq!(
        init_producer_id(
            Some(&restarted),
            TIMEOUT,
            MAX_TIMEOUT,
            mine(5),
            no_allocation,
            T0
        ),
        Err(fenced(5, 7))
    );
}

#[test]
fn kip_360_retry_across_a_new_producer_id() {
    let md = at(TxnState::Empty, i16::MAX - 1);
    let old = Some(ProducerIdAndEpoch {
        producer_id: PID,
        epoch: i16::MAX - 1,
    });
    assert!(init_needs_producer_id(Some(&md), old));
    let rotated = initialized(init_producer_id(
        Some(&md),
        TIMEOUT,
        MAX_TIMEOUT,
        old,
        || Ok(PID + 1),
        T0,
    ));
    assert_eq!(
        (
            rotated.producer_id,
            rotated.producer_epoch,
            rotated.last_producer_id,
            rotated.last_producer_epoch
        ),
        (PID + 1, 0, PID, i16::MAX - 1)
    );
    // The retry names the old id and exhausted epoch: the same answer, no new id.
    assert!(!init_needs_producer_id(Some(&rotated), old));
    let retried = initialized(init_producer_id(
        Some(&rotated),
        TIMEOUT,
        MAX_TIMEOUT,
        old,
        no_allocation,
        T0 + 1,
    ));
    assert_eq!((retried.producer_id, retried.producer_epoch), (PID + 1, 0));
    // A retry that spans a reload fails, as in Kafka: the last id and epoch are not stored.
    let reloaded = TransactionMetadata::from_log_value(&rotated.to_log_value());
    assert!(matches!(
        init_producer_id(
            Some(&reloaded),
            TIMEOUT,
            MAX_TIMEOUT,
            old,
            no_allocation,
            T0
        ),
        Err(TxnError::ProducerFenced { .. })
    ));
}

#[test]
fn kip_360_request_fields() {
    assert_eq!(ProducerIdAndEpoch::from_request(-1, -1), Ok(None));
    assert_eq!(
        ProducerIdAndEpoch::from_request(5, 2),
        Ok(Some(ProducerIdAndEpoch {
            producer_id: 5,
            epoch: 2
        }))
    );
    for (id, epoch) in [(-1, 0), (5, -1)] {
        assert!(matches!(
            ProducerIdAndEpoch::from_request(id, epoch),
            Err(TxnError::InvalidRequest { .. })
        ));
    }
}

#[test]
fn states_kafka_never_stores_are_refused_not_panicked_on() {
    for state in [TxnState::Dead, TxnState::PrepareEpochFence] {
        let md = at(state, 1);
        assert!(matches!(
            init_producer_id(Some(&md), TIMEOUT, MAX_TIMEOUT, None, no_allocation, T0),
            Err(TxnError::IllegalState { .. })
        ));
        assert!(matches!(
            add_partitions(Some(&md), PID, 1, [tp("t", 0)], T0),
            Err(TxnError::IllegalState { .. })
        ));
        assert!(matches!(
            end_txn(Some(&md), PID, 1, TxnResult::Abort, T0),
            Err(TxnError::IllegalState { .. })
        ));
    }
}
