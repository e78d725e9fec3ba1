//! Arbitrary bytes as a `__consumer_offsets` key, offset commit value and group metadata
//! value (`myelin_coord::records`): decoding must never panic, and whatever decodes must
//! encode and decode again to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_coord::records::{
    decode_key, decode_offset_commit_value, decode_record, encode_group_metadata_key,
    encode_offset_commit_key, encode_offset_commit_value_version, GroupMetadataValue, RecordKey,
};

fuzz_target!(|data: &[u8]| {
    match decode_key(data) {
        Ok(RecordKey::OffsetCommit { group, partition }) => {
            let again = encode_offset_commit_key(&group, &partition).expect("decoded key encodes");
            assert_eq!(
                decode_key(&again),
                Ok(RecordKey::OffsetCommit { group, partition })
            );
        }
        Ok(RecordKey::GroupMetadata { group }) => {
            let again = encode_group_metadata_key(&group).expect("decoded key encodes");
            assert_eq!(decode_key(&again), Ok(RecordKey::GroupMetadata { group }));
        }
        Ok(RecordKey::Other { .. }) | Err(_) => {}
    }

    if let Ok(offset) = decode_offset_commit_value(data) {
        // v1 holds everything but the leader epoch, v3 everything but the expire time.
        let v1 = encode_offset_commit_value_version(&offset, 1).expect("decoded value encodes");
        let v3 = encode_offset_commit_value_version(&offset, 3).expect("decoded value encodes");
        let (from_v1, from_v3) = (
            decode_offset_commit_value(&v1).expect("v1 decodes"),
            decode_offset_commit_value(&v3).expect("v3 decodes"),
        );
        assert_eq!(from_v1.expire_timestamp_ms, offset.expire_timestamp_ms);
        assert_eq!(from_v3.leader_epoch, offset.leader_epoch);
        assert_eq!(
            (
                from_v3.offset,
                &from_v3.metadata,
                from_v3.commit_timestamp_ms
            ),
            (offset.offset, &offset.metadata, offset.commit_timestamp_ms)
        );
    }

    if let Ok(group) = GroupMetadataValue::decode(data) {
        // v3 (what Kafka writes) and v4 hold every field.
        for version in [3, 4] {
            let again = group
                .encode_version(version)
                .expect("decoded value encodes");
            assert_eq!(GroupMetadataValue::decode(&again).as_ref(), Ok(&group));
        }
    }

    // The same bytes split into a key and a value, as the loader sees a record.
    if let Some((&split, rest)) = data.split_first() {
        let at = usize::from(split).min(rest.len());
        let (key, value) = rest.split_at(at);
        let _ = decode_record(key, Some(value));
        let _ = decode_record(key, None);
    }
});
