//! Fixtures written out by hand from Kafka's `TransactionLogKey.json` and
//! `TransactionLogValue.json`, round trips, and hostile input.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::offsets::TopicPartition;
use crate::txn::state::{TransactionMetadata, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const PID_1000: &[u8] = &[0, 0, 0, 0, 0, 0, 0x03, 0xe8];
const EPOCH_5: &[u8] = &[0, 5];
const TIMEOUT_60000: &[u8] = &[0, 0, 0xea, 0x60];
const AT_2000: &[u8] = &[0, 0, 0, 0, 0, 0, 0x07, 0xd0];
const AT_1000: &[u8] = &[0, 0, 0, 0, 0, 0, 0x03, 0xe8];
const NO_START: &[u8] = &[0xff; 8];

/// Ongoing, partitions t-0, t-2 and u-1.
fn ongoing_value() -> TransactionLogValue {
    TransactionLogValue {
        producer_id: 1000,
        producer_epoch: 5,
        transaction_timeout_ms: 60_000,
        status: TxnState::Ongoing,
        partitions: Some(vec![
            TxnTopicPartitions {
                topic: "t".into(),
                partition_ids: vec![0, 2],
            },
            TxnTopicPartitions {
                topic: "u".into(),
                partition_ids: vec![1],
            },
        ]),
        last_update_timestamp_ms: 2000,
        start_timestamp_ms: 1000,
        previous_producer_id: -1,
        next_producer_id: -1,
        client_transaction_version: 0,
    }
}

/// `ongoing_value` at v0, byte for byte.
fn ongoing_v0() -> Vec<u8> {
    cat(&[
        &[0, 0],
        PID_1000,
        EPOCH_5,
        TIMEOUT_60000,
        &[1],
        &[0, 0, 0, 2],
        &[0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2],
        &[0, 1, b'u', 0, 0, 0, 1, 0, 0, 0, 1],
        AT_2000,
        AT_1000,
    ])
}

// ----- Keys ---------------------------------------------------------------------------

#[test]
fn key_v0_fixture() {
    let key: &[u8] = &[0, 0, 0, 6, b'm', b'y', b'-', b't', b'x', b'n'];
    assert_eq!(&encode_key("my-txn").unwrap()[..], key);
    assert_eq!(
        decode_key(key),
        Ok(TxnRecordKey::Transaction {
            transactional_id: "my-txn".into()
        })
    );
}

#[test]
fn other_key_versions_are_skipped() {
    assert_eq!(
        decode_key(&[0, 1, 0, 1, b'x']),
        Ok(TxnRecordKey::Other { version: 1 })
    );
    assert_eq!(
        decode_key(&[0xff, 0xff]),
        Ok(TxnRecordKey::Other { version: -1 })
    );
    assert_eq!(
        decode_record(&[0, 7], Some(b"not a value")),
        Ok(TxnRecord::Other { version: 7 })
    );
}

#[test]
fn key_refuses_null_long_and_bad_utf8() {
    assert_eq!(
        decode_key(&[0, 0, 0xff, 0xff]),
        Err(TxnRecordError::UnexpectedNull {
            field: "TransactionLogKey.transactionalId"
        })
    );
    assert!(matches!(
        decode_key(&[0, 0, 0, 2, 0xc3, 0x28]),
        Err(TxnRecordError::InvalidUtf8 { .. })
    ));
    assert!(matches!(
        encode_key(&"x".repeat(0x8000)),
        Err(TxnRecordError::TooLong { max: 0x7fff, .. })
    ));
    assert!(encode_key(&"x".repeat(0x7fff)).is_ok());
}

// ----- Values -------------------------------------------------------------------------

#[test]
fn value_v0_fixture_ongoing() {
    let value = ongoing_value();
    assert_eq!(&value.encode().unwrap()[..], &ongoing_v0()[..]);
    assert_eq!(TransactionLogValue::decode(&ongoing_v0()), Ok(value));
}

#[test]
fn value_v0_fixture_empty_writes_null_partitions() {
    // What InitProducerId writes for a new transactional id: Empty, no transaction.
    let md = TransactionMetadata {
        producer_id: 1000,
        last_producer_id: 1000,
        producer_epoch: 0,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        txn_timeout_ms: 60_000,
        state: TxnState::Empty,
        partitions: BTreeSet::new(),
        txn_start_ms: -1,
        txn_last_update_ms: 2000,
    };
    let expected = cat(&[
        &[0, 0],
        PID_1000,
        &[0, 0],
        TIMEOUT_60000,
        &[0],
        &[0xff, 0xff, 0xff, 0xff],
        AT_2000,
        NO_START,
    ]);
    let written = md.to_log_value().encode().unwrap();
    assert_eq!(&written[..], &expected[..]);
    let loaded = TransactionLogValue::decode(&written).unwrap();
    assert_eq!(loaded.partitions, None);
    assert_eq!(
        TransactionMetadata::from_log_value(&loaded),
        TransactionMetadata {
            last_producer_id: NO_PRODUCER_ID,
            ..md
        }
    );
}

#[test]
fn value_v0_fixture_complete_commit_writes_empty_partitions() {
    // After the markers: CompleteCommit with an empty (not null) partition list.
    let value = TransactionLogValue {
        status: TxnState::CompleteCommit,
        partitions: Some(vec![]),
        ..ongoing_value()
    };
    let expected = cat(&[
        &[0, 0],
        PID_1000,
        EPOCH_5,
        TIMEOUT_60000,
        &[4],
        &[0, 0, 0, 0],
        AT_2000,
        AT_1000,
    ]);
    assert_eq!(&value.encode().unwrap()[..], &expected[..]);
    assert_eq!(TransactionLogValue::decode(&expected), Ok(value));
}

/// `ongoing_value` at v1 with the three tagged fields set.
fn ongoing_v1_tagged() -> Vec<u8> {
    cat(&[
        &[0, 1],
        PID_1000,
        EPOCH_5,
        TIMEOUT_60000,
        &[1],
        &[3], // two entries, compact
        &[2, b't', 3, 0, 0, 0, 0, 0, 0, 0, 2, 0],
        &[2, b'u', 2, 0, 0, 0, 1, 0],
        AT_2000,
        AT_1000,
        &[3],
        &[0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe7], // PreviousProducerId 999
        &[1, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe9], // NextProducerId 1001
        &[2, 2, 0, 2],                         // ClientTransactionVersion 2
    ])
}

#[test]
fn value_v1_fixture_with_tagged_fields() {
    let value = TransactionLogValue {
        previous_producer_id: 999,
        next_producer_id: 1001,
        client_transaction_version: 2,
        ..ongoing_value()
    };
    assert_eq!(
        TransactionLogValue::decode(&ongoing_v1_tagged()),
        Ok(value.clone())
    );
    assert_eq!(
        &value.encode_version(1).unwrap()[..],
        &ongoing_v1_tagged()[..]
    );
    // v0 has no place for them.
    assert_eq!(&value.encode().unwrap()[..], &ongoing_v0()[..]);
}

#[test]
fn value_v1_defaults_are_left_out_and_null_is_compact_zero() {
    let value = TransactionLogValue {
        status: TxnState::Empty,
        partitions: None,
        ..ongoing_value()
    };
    let expected = cat(&[
        &[0, 1],
        PID_1000,
        EPOCH_5,
        TIMEOUT_60000,
        &[0],
        &[0],
        AT_2000,
        AT_1000,
        &[0],
    ]);
    assert_eq!(&value.encode_version(1).unwrap()[..], &expected[..]);
    assert_eq!(TransactionLogValue::decode(&expected), Ok(value));
}

#[test]
fn value_v1_skips_unknown_tags_and_refuses_bad_sizes() {
    let mut bytes = ongoing_v1_tagged();
    // Replace the tag section with an unknown tag 9 of three bytes.
    let at = bytes.len() - 25;
    bytes.truncate(at);
    bytes.extend_from_slice(&[1, 9, 3, 1, 2, 3]);
    assert_eq!(TransactionLogValue::decode(&bytes), Ok(ongoing_value()));
    // A NextProducerId of four bytes.
    bytes.truncate(at);
    bytes.extend_from_slice(&[1, 1, 4, 0, 0, 0, 1]);
    assert_eq!(
        TransactionLogValue::decode(&bytes),
        Err(TxnRecordError::TaggedFieldSize {
            field: "TransactionLogValue.nextProducerId",
            size: 4,
            expected: 8
        })
    );
}

#[test]
fn trailing_bytes_are_ignored_as_kafka_does() {
    let mut bytes = ongoing_v0();
    bytes.extend_from_slice(b"future");
    assert_eq!(TransactionLogValue::decode(&bytes), Ok(ongoing_value()));
}

#[test]
fn unsupported_versions_and_statuses() {
    let mut bytes = ongoing_v0();
    bytes[1] = 2;
    assert_eq!(
        TransactionLogValue::decode(&bytes),
        Err(TxnRecordError::UnsupportedVersion {
            record: "TransactionLogValue",
            version: 2,
            max: 1
        })
    );
    assert!(ongoing_value().encode_version(2).is_err());
    assert!(ongoing_value().encode_version(-1).is_err());
    let mut bytes = ongoing_v0();
    bytes[16] = 8; // transaction_status
    assert_eq!(
        TransactionLogValue::decode(&bytes),
        Err(TxnRecordError::UnknownStatus { status: 8 })
    );
    bytes[16] = 0xff;
    assert_eq!(
        TransactionLogValue::decode(&bytes),
        Err(TxnRecordError::UnknownStatus { status: -1 })
    );
}

#[test]
fn every_status_id_decodes_to_its_state() {
    for state in TxnState::ALL {
        let mut bytes = ongoing_v0();
        bytes[16] = state.id() as u8;
        assert_eq!(TransactionLogValue::decode(&bytes).unwrap().status, state);
    }
}

#[test]
fn hostile_counts_fail_without_allocating() {
    let head = cat(&[&[0, 0], PID_1000, EPOCH_5, TIMEOUT_60000, &[1]]);
    for count in [
        [0x7f, 0xff, 0xff, 0xff],
        [0xff, 0xff, 0xff, 0xfe],
        [0, 0, 0, 3],
    ] {
        let bytes = cat(&[&head, &count, AT_2000, AT_1000]);
        assert!(matches!(
            TransactionLogValue::decode(&bytes),
            Err(TxnRecordError::InvalidLength { .. } | TxnRecordError::Truncated { .. })
        ));
    }
    // A huge partition id count inside an entry.
    let bytes = cat(&[
        &head,
        &[0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff],
        AT_2000,
    ]);
    assert!(matches!(
        TransactionLogValue::decode(&bytes),
        Err(TxnRecordError::InvalidLength { .. })
    ));
    // Compact: a count varint that never ends, and one above u32::MAX.
    let head1 = cat(&[&[0, 1], PID_1000, EPOCH_5, TIMEOUT_60000, &[1]]);
    for varint in [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..],
        &[0xff, 0xff, 0xff, 0xff, 0x7f],
    ] {
        assert!(matches!(
            TransactionLogValue::decode(&cat(&[&head1, varint])),
            Err(TxnRecordError::MalformedVarint { .. })
        ));
    }
    // A tag section claiming u32::MAX fields.
    let mut bytes = ongoing_v1_tagged();
    let at = bytes.len() - 25;
    bytes.truncate(at);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(TransactionLogValue::decode(&bytes).is_err());
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let key = encode_key("my-txn").unwrap();
    for n in 0..key.len() {
        assert!(decode_key(&key[..n]).is_err(), "key prefix of {n} bytes");
    }
    for full in [ongoing_v0(), ongoing_v1_tagged()] {
        for n in 0..full.len() {
            assert!(
                TransactionLogValue::decode(&full[..n]).is_err(),
                "value prefix of {n} bytes"
            );
            assert!(decode_record(&key, Some(&full[..n])).is_err());
        }
    }
}

#[test]
fn records_and_tombstones() {
    let key = encode_key("my-txn").unwrap();
    assert_eq!(
        decode_record(&key, None),
        Ok(TxnRecord::Transaction {
            transactional_id: "my-txn".into(),
            value: None
        })
    );
    assert_eq!(
        decode_record(&key, Some(&ongoing_v0())),
        Ok(TxnRecord::Transaction {
            transactional_id: "my-txn".into(),
            value: Some(ongoing_value())
        })
    );
}

// ----- Metadata <-> value -------------------------------------------------------------

#[test]
fn metadata_groups_partitions_by_topic_and_loads_them_back() {
    let md = TransactionMetadata::from_log_value(&ongoing_value());
    assert_eq!(
        md.partitions,
        BTreeSet::from([
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 2),
            TopicPartition::new("u", 1),
        ])
    );
    assert_eq!(
        (md.last_producer_id, md.last_producer_epoch),
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH)
    );
    assert_eq!(md.to_log_value(), ongoing_value());
}

#[test]
fn loading_ignores_empty_partitions_and_merges_duplicates() {
    let empty_with_partitions = TransactionLogValue {
        status: TxnState::Empty,
        ..ongoing_value()
    };
    assert!(TransactionMetadata::from_log_value(&empty_with_partitions)
        .partitions
        .is_empty());
    let duplicated = TransactionLogValue {
        partitions: Some(vec![
            TxnTopicPartitions {
                topic: "t".into(),
                partition_ids: vec![1, 1],
            },
            TxnTopicPartitions {
                topic: "t".into(),
                partition_ids: vec![0],
            },
        ]),
        ..ongoing_value()
    };
    let md = TransactionMetadata::from_log_value(&duplicated);
    assert_eq!(md.partitions.len(), 2);
    // A null list outside Empty (Kafka never writes one) loads as no partitions.
    let null = TransactionLogValue {
        partitions: None,
        ..ongoing_value()
    };
    assert!(TransactionMetadata::from_log_value(&null)
        .partitions
        .is_empty());
}

// ----- Properties ---------------------------------------------------------------------

fn state() -> impl Strategy<Value = TxnState> {
    prop::sample::select(TxnState::ALL.to_vec())
}

fn value() -> impl Strategy<Value = TransactionLogValue> {
    let partitions = prop::option::of(prop::collection::vec(
        ("[a-z._-]{0,12}", prop::collection::vec(any::<i32>(), 0..5)).prop_map(
            |(topic, partition_ids)| TxnTopicPartitions {
                topic,
                partition_ids,
            },
        ),
        0..4,
    ));
    (
        (
            any::<i64>(),
            any::<i16>(),
            any::<i32>(),
            state(),
            partitions,
        ),
        (
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i16>(),
        ),
    )
        .prop_map(
            |(
                (producer_id, producer_epoch, transaction_timeout_ms, status, partitions),
                (last, start, previous, next, client_version),
            )| TransactionLogValue {
                producer_id,
                producer_epoch,
                transaction_timeout_ms,
                status,
                partitions,
                last_update_timestamp_ms: last,
                start_timestamp_ms: start,
                previous_producer_id: previous,
                next_producer_id: next,
                client_transaction_version: client_version,
            },
        )
}

proptest! {
    #[test]
    fn v1_round_trips_every_field(value in value()) {
        let bytes = value.encode_version(1).unwrap();
        prop_assert_eq!(TransactionLogValue::decode(&bytes), Ok(value));
    }

    #[test]
    fn v0_round_trips_all_but_the_tagged_fields(value in value()) {
        let bytes = value.encode().unwrap();
        let expected = TransactionLogValue {
            previous_producer_id: -1,
            next_producer_id: -1,
            client_transaction_version: 0,
            ..value
        };
        prop_assert_eq!(TransactionLogValue::decode(&bytes), Ok(expected));
    }

    #[test]
    fn keys_round_trip(id in "\\PC{0,40}") {
        let key = encode_key(&id).unwrap();
        prop_assert_eq!(decode_key(&key), Ok(TxnRecordKey::Transaction { transactional_id: id }));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        let _ = decode_key(&bytes);
        let _ = TransactionLogValue::decode(&bytes);
        let _ = decode_record(&bytes, Some(&bytes));
    }

    #[test]
    fn mutated_fixtures_never_panic(at in 0usize..80, byte in any::<u8>(), v1 in any::<bool>()) {
        let mut bytes = if v1 { ongoing_v1_tagged() } else { ongoing_v0() };
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(value) = TransactionLogValue::decode(&bytes) {
            let again = value.encode_version(1).unwrap();
            prop_assert_eq!(TransactionLogValue::decode(&again), Ok(value));
        }
    }
}
