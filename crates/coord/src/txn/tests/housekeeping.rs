//! Timeouts, transactional id expiry, recovery, Describe/ListTransactions, settings.

use super::*;

// ----- Timeouts, expiry, recovery -------------------------------------------------------

#[test]
fn timed_out_transactions_are_aborted_under_a_bumped_epoch() {
    let md = ongoing(&fresh(), T0);
    let deadline = T0 + i64::from(TIMEOUT);
    assert!(!timed_out(&md, deadline), "start + timeout is not yet late");
    assert!(timed_out(&md, deadline + 1));
    for state in [
        TxnState::Empty,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
    ] {
        assert!(!timed_out(&at(state, 0), i64::MAX));
    }
    let aborting = abort_timed_out(&md, deadline + 1).unwrap();
    assert_eq!(
        aborting,
        TransactionMetadata {
            producer_epoch: 1,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            state: TxnState::PrepareAbort,
            txn_last_update_ms: deadline + 1,
            ..md.clone()
        }
    );
    // The producer, still at epoch 0, is fenced.
    assert_eq!(
        end_txn(Some(&aborting), PID, 0, TxnResult::Commit, deadline + 2),
        Err(fenced(0, 1))
    );
    let aborted = complete(&aborting, deadline + 3).unwrap();
    assert_eq!(
        (aborted.state, aborted.producer_epoch),
        (TxnState::CompleteAbort, 1)
    );
    // Once completed there is nothing to abort.
    assert_eq!(
        abort_timed_out(&aborted, deadline + 4),
        Err(TxnError::InvalidTxnState {
            state: TxnState::CompleteAbort,
            requested: "fence and abort"
        })
    );
}

#[test]
fn timeouts_do_not_overflow() {
    let mut md = ongoing(&fresh(), i64::MAX - 5);
    md.txn_timeout_ms = i32::MAX;
    assert!(!timed_out(&md, i64::MAX));
    assert!(!transactional_id_expired(&fresh(), i64::MIN, i64::MAX));
}

#[test]
fn idle_transactional_ids_expire_unless_a_transaction_is_open() {
    let expiration = TxnConfig::default().transactional_id_expiration_ms;
    let md = fresh();
    assert!(!transactional_id_expired(
        &md,
        T0 + expiration - 1,
        expiration
    ));
    assert!(transactional_id_expired(&md, T0 + expiration, expiration));
    for state in [TxnState::CompleteCommit, TxnState::CompleteAbort] {
        assert!(transactional_id_expired(
            &at(state, 0),
            T0 + expiration,
            expiration
        ));
    }
    for state in [
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ] {
        assert!(!transactional_id_expired(
            &at(state, 0),
            i64::MAX,
            expiration
        ));
    }
}

#[test]
fn recovery_completes_what_was_prepared() {
    let md = ongoing(&fresh(), T0);
    for result in [TxnResult::Commit, TxnResult::Abort] {
        let prepared_md = prepared(end_txn(Some(&md), PID, 0, result, T0 + 1));
        // The record as written, read back by a new coordinator.
        let bytes = prepared_md.to_log_value().encode().unwrap();
        let loaded =
            TransactionMetadata::from_log_value(&TransactionLogValue::decode(&bytes).unwrap());
        assert_eq!(
            loaded,
            TransactionMetadata {
                last_producer_id: NO_PRODUCER_ID,
                ..prepared_md.clone()
            }
        );
        let markers = pending_completion(&loaded).unwrap();
        assert_eq!(markers.result, result);
        assert_eq!(markers.partitions, vec![tp("t", 0), tp("t", 1)]);
        assert_eq!(markers.producer_epoch, 0);
        let done = complete(&loaded, T0 + 2).unwrap();
        assert_eq!(done.state, result.complete_state());
    }
    // Nothing to do for the other states.
    let loaded = TransactionMetadata::from_log_value(&md.to_log_value());
    assert_eq!(pending_completion(&loaded), None);
}

#[test]
fn every_transition_survives_a_write_and_a_load() {
    let steps = {
        let a = fresh();
        let b = ongoing(&a, T0 + 1);
        let c = prepared(end_txn(Some(&b), PID, 0, TxnResult::Commit, T0 + 2));
        let d = complete(&c, T0 + 3).unwrap();
        let e = initialized(init_producer_id(
            Some(&d),
            TIMEOUT,
            MAX_TIMEOUT,
            None,
            no_allocation,
            T0 + 4,
        ));
        vec![a, b, c, d, e]
    };
    for md in steps {
        let key = encode_key("my-txn").unwrap();
        let value = md.to_log_value().encode().unwrap();
        let Ok(TxnRecord::Transaction {
            transactional_id,
            value: Some(value),
        }) = decode_record(&key, Some(&value))
        else {
            panic!("the record decodes");
        };
        assert_eq!(transactional_id, "my-txn");
        assert_eq!(
            TransactionMetadata::from_log_value(&value),
            TransactionMetadata {
                last_producer_id: NO_PRODUCER_ID,
                last_producer_epoch: NO_PRODUCER_EPOCH,
                ..md
            }
        );
    }
}

// ----- DescribeTransactions, ListTransactions -------------------------------------------

#[test]
fn describe_answers_the_state_and_partitions() {
    let mut md = ongoing(&fresh(), T0);
    md.partitions.insert(tp("a", 5));
    assert_eq!(
        describe("my-txn", Some(&md)),
        Ok(TransactionDescription {
            transactional_id: "my-txn".into(),
            state: TxnState::Ongoing,
            transaction_timeout_ms: TIMEOUT,
            transaction_start_time_ms: T0,
            producer_id: PID,
            producer_epoch: 0,
            topics: vec![
                TxnTopicPartitions {
                    topic: "a".into(),
                    partition_ids: vec![5]
                },
                TxnTopicPartitions {
                    topic: "t".into(),
                    partition_ids: vec![0, 1]
                },
            ],
        })
    );
    assert_eq!(
        describe("my-txn", None),
        Err(TxnError::TransactionalIdNotFound)
    );
    assert_eq!(
        describe("my-txn", Some(&at(TxnState::Dead, 0))),
        Err(TxnError::TransactionalIdNotFound)
    );
    assert!(matches!(
        describe("", Some(&md)),
        Err(TxnError::InvalidRequest { .. })
    ));
    assert!(validate_transactional_id("").is_err());
    assert!(validate_transactional_id("x").is_ok());
}

#[test]
fn list_filters_by_state_producer_and_duration() {
    let empty = fresh();
    let open = ongoing(&fresh(), T0);
    let other = TransactionMetadata {
        producer_id: PID + 1,
        ..ongoing(&fresh(), T0 + 5000)
    };
    let dead = at(TxnState::Dead, 0);
    let all = [
        ("empty", &empty),
        ("open", &open),
        ("other", &other),
        ("dead", &dead),
    ];
    let ids = |filter: &ListFilter, now| {
        list(all.iter().map(|(id, md)| (*id, *md)), filter, now)
            .into_iter()
            .map(|l| l.transactional_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&ListFilter::all(), T0),
        ["empty", "open", "other"],
        "Dead is never listed"
    );
    let (filter, unknown) = ListFilter::new(["Ongoing", "Bogus"], [], -1);
    assert_eq!(unknown, ["Bogus"]);
    assert_eq!(ids(&filter, T0), ["open", "other"]);
    // Naming only unknown states lists nothing.
    let (filter, unknown) = ListFilter::new(["ongoing"], [], -1);
    assert_eq!(unknown, ["ongoing"]);
    assert!(ids(&filter, T0).is_empty());
    let (filter, _) = ListFilter::new(Vec::<String>::new(), [PID + 1], -1);
    assert_eq!(ids(&filter, T0), ["other"]);
    // v1: running longer than 4000 ms at T0 + 9000: `open` (9000 ms), not `other` (4000 ms).
    let (filter, _) = ListFilter::new(["Ongoing"], [], 4000);
    assert_eq!(ids(&filter, T0 + 9000), ["open"]);
    assert_eq!(ids(&filter, T0 + 9001), ["open", "other"]);
    let listing = list([("open", &open)], &ListFilter::all(), T0);
    assert_eq!(
        listing,
        [TransactionListing {
            transactional_id: "open".into(),
            producer_id: PID,
            state: TxnState::Ongoing
        }]
    );
}

// ----- States, settings, partitioning ---------------------------------------------------

#[test]
fn state_ids_and_names_are_kafkas() {
    let expected = [
        (0, "Empty"),
        (1, "Ongoing"),
        (2, "PrepareCommit"),
        (3, "PrepareAbort"),
        (4, "CompleteCommit"),
        (5, "CompleteAbort"),
        (6, "Dead"),
        (7, "PrepareEpochFence"),
    ];
    for (state, (id, name)) in TxnState::ALL.into_iter().zip(expected) {
        assert_eq!((state.id(), state.name()), (id, name));
        assert_eq!(TxnState::from_id(id), Some(state));
        assert_eq!(TxnState::from_name(name), Some(state));
        assert_eq!(state.to_string(), name);
    }
    assert_eq!(TxnState::from_id(8), None);
    assert_eq!(TxnState::from_id(-1), None);
    assert_eq!(TxnState::from_name("empty"), None);
    assert_eq!(TxnResult::from_committed(true), TxnResult::Commit);
    assert_eq!(TxnResult::from_committed(false), TxnResult::Abort);
    assert!(!is_epoch_exhausted(i16::MAX - 2));
    assert!(is_epoch_exhausted(i16::MAX - 1));
}

#[test]
fn settings_default_to_kafkas_and_validate() {
    let config = TxnConfig::default();
    assert_eq!(config.max_timeout_ms, 900_000);
    assert_eq!(config.transactional_id_expiration_ms, 604_800_000);
    assert_eq!(config.state_log_partitions, 50);
    assert_eq!(config.validate(), Ok(()));
    for broken in [
        TxnConfig {
            max_timeout_ms: 0,
            ..config.clone()
        },
        TxnConfig {
            transactional_id_expiration_ms: 0,
            ..config.clone()
        },
        TxnConfig {
            abort_timed_out_transactions_interval_ms: 0,
            ..config.clone()
        },
        TxnConfig {
            remove_expired_transactional_ids_interval_ms: 0,
            ..config.clone()
        },
        TxnConfig {
            state_log_partitions: 0,
            ..config.clone()
        },
    ] {
        assert!(broken.validate().is_err());
    }
}

#[test]
fn partitions_are_kafkas_utils_abs_of_the_java_hash() {
    // Values from Java's String.hashCode: "my-txn" is -1061187895, so abs gives 45 (a mask
    // of the sign bit would give 3); "polygenelubricants" hashes to i32::MIN.
    assert_eq!(partition_for_transactional_id("my-txn", 50), 45);
    assert_eq!(
        partition_for_transactional_id("payments-producer-1", 50),
        28
    );
    assert_eq!(partition_for_transactional_id("polygenelubricants", 50), 0);
    assert_eq!(partition_for_transactional_id("zzzzzz", 50), 14);
    assert_eq!(partition_for_transactional_id("txn-\u{e9}\u{20ac}", 50), 18);
    assert_eq!(partition_for_transactional_id("", 50), 0);
    assert_eq!(partition_for_transactional_id("my-txn", 0), 0);
    assert_eq!(TRANSACTION_STATE_TOPIC, "__transaction_state");
}
