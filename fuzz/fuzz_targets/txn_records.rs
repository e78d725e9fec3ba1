//! Arbitrary bytes as a `__transaction_state` key and value (`myelin_coord::txn::records`):
//! decoding must never panic, whatever decodes must encode and decode again to the same
//! thing, and the coordinator's operations on a loaded state must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_coord::offsets::TopicPartition;
use myelin_coord::txn::records::{
    decode_key, decode_record, encode_key, TransactionLogValue, TxnRecord, TxnRecordKey,
};
use myelin_coord::txn::{
    abort_timed_out, add_partitions, complete, describe, end_txn, init_producer_id,
    pending_completion, timed_out, transactional_id_expired, verify_partitions, ProducerIdAndEpoch,
    TransactionMetadata, TxnResult,
};

/// Runs every operation on a state loaded from disk: errors are fine, panics are not.
fn exercise(md: &TransactionMetadata) {
    let tp = TopicPartition::new("t", 0);
    for now in [i64::MIN, 0, i64::MAX] {
        let _ = init_producer_id(Some(md), 60_000, 900_000, None, || Ok(1), now);
        let expected = ProducerIdAndEpoch {
            producer_id: md.producer_id,
            epoch: md.producer_epoch,
        };
        let _ = init_producer_id(Some(md), 60_000, 900_000, Some(expected), || Ok(1), now);
        let _ = add_partitions(
            Some(md),
            md.producer_id,
            md.producer_epoch,
            [tp.clone()],
            now,
        );
        let _ = verify_partitions(Some(md), md.producer_id, md.producer_epoch, [tp.clone()]);
        for result in [TxnResult::Commit, TxnResult::Abort] {
            let _ = end_txn(Some(md), md.producer_id, md.producer_epoch, result, now);
        }
        let _ = complete(md, now);
        let _ = pending_completion(md);
        if timed_out(md, now) {
            let _ = abort_timed_out(md, now);
        }
        let _ = transactional_id_expired(md, now, 604_800_000);
    }
    let _ = describe("t", Some(md));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(TxnRecordKey::Transaction { transactional_id }) = decode_key(data) {
        let again = encode_key(&transactional_id).expect("decoded key encodes");
        assert_eq!(
            decode_key(&again),
            Ok(TxnRecordKey::Transaction { transactional_id })
        );
    }

    if let Ok(value) = TransactionLogValue::decode(data) {
        // v1 holds every field, v0 (what we write) all but the tagged ones.
        let v1 = value.encode_version(1).expect("decoded value encodes");
        assert_eq!(TransactionLogValue::decode(&v1).as_ref(), Ok(&value));
        let v0 = value.encode().expect("decoded value encodes");
        let expected = TransactionLogValue {
            previous_producer_id: -1,
            next_producer_id: -1,
            client_transaction_version: 0,
            ..value.clone()
        };
        assert_eq!(TransactionLogValue::decode(&v0), Ok(expected));

        // The coordinator's view survives a write and a load.
        let md = TransactionMetadata::from_log_value(&value);
        let written = md.to_log_value().encode().expect("metadata encodes");
        let loaded = TransactionLogValue::decode(&written).expect("written value decodes");
        assert_eq!(TransactionMetadata::from_log_value(&loaded), md);
        exercise(&md);
    }

    // The same bytes split into a key and a value, as the loader sees a record.
    if let Some((&split, rest)) = data.split_first() {
        let at = usize::from(split).min(rest.len());
        let (key, value) = rest.split_at(at);
        let _ = decode_record(key, None);
        if let Ok(TxnRecord::Transaction {
            transactional_id,
            value: Some(value),
        }) = decode_record(key, Some(value))
        {
            let key = encode_key(&transactional_id).expect("decoded key encodes");
            let value_bytes = value.encode_version(1).expect("decoded value encodes");
            assert_eq!(
                decode_record(&key, Some(&value_bytes)),
                Ok(TxnRecord::Transaction {
                    transactional_id,
                    value: Some(value)
                })
            );
        }
    }
});
