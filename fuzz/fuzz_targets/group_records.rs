//! Arbitrary bytes as a `__consumer_offsets` key, offset commit value, group metadata value
//! and KIP-848 consumer group value (`myelin_coord::records`), and as a `__share_group_state`
//! key and value (`myelin_coord::share::records`): decoding must never panic, and whatever
//! decodes must encode and decode again to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_coord::share::partition::{Limits, SharePartition, MAX_RECORD_LOCKS};
use myelin_coord::share::records::{
    decode_group_value, encode_group_value, PartitionStateValue, ShareKey,
};
use myelin_coord::records::{
    decode_key, decode_offset_commit_value, decode_record,
    encode_consumer_group_current_member_assignment_key, encode_consumer_group_member_metadata_key,
    encode_consumer_group_metadata_key, encode_consumer_group_partition_metadata_key,
    encode_consumer_group_target_assignment_member_key,
    encode_consumer_group_target_assignment_metadata_key, encode_group_metadata_key,
    encode_offset_commit_key, encode_offset_commit_value_version,
    ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataValue,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataValue,
    GroupMetadataValue, GroupRecord, RecordKey,
};

/// Decodes `data` as one value type; whatever decodes must encode and decode to itself.
macro_rules! round_trip {
    ($data:expr, $value:ty) => {
        if let Ok(value) = <$value>::decode($data) {
            let again = value.encode().expect("decoded value encodes");
            assert_eq!(<$value>::decode(&again).as_ref(), Ok(&value));
        }
    };
}

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = decode_key(data) {
        let again = match &key {
            RecordKey::OffsetCommit { group, partition } => {
                Some(encode_offset_commit_key(group, partition))
            }
            RecordKey::GroupMetadata { group } => Some(encode_group_metadata_key(group)),
            RecordKey::ConsumerGroupMetadata { group } => {
                Some(encode_consumer_group_metadata_key(group))
            }
            RecordKey::ConsumerGroupPartitionMetadata { group } => {
                Some(encode_consumer_group_partition_metadata_key(group))
            }
            RecordKey::ConsumerGroupMemberMetadata { group, member_id } => {
                Some(encode_consumer_group_member_metadata_key(group, member_id))
            }
            RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => {
                Some(encode_consumer_group_target_assignment_metadata_key(group))
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { group, member_id } => Some(
                encode_consumer_group_target_assignment_member_key(group, member_id),
            ),
            RecordKey::ConsumerGroupCurrentMemberAssignment { group, member_id } => Some(
                encode_consumer_group_current_member_assignment_key(group, member_id),
            ),
            RecordKey::Other { .. } => None,
        };
        if let Some(again) = again {
            let again = again.expect("decoded key encodes");
            assert_eq!(decode_key(&again), Ok(key));
        }
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

    // Share groups' records (`__share_group_state`).
    if let Ok(Some(key)) = ShareKey::decode(data) {
        let again = key.encode().expect("decoded key encodes");
        assert_eq!(ShareKey::decode(&again), Ok(Some(key)));
    }
    round_trip!(data, PartitionStateValue);
    if let Ok(epoch) = decode_group_value(data) {
        assert_eq!(decode_group_value(&encode_group_value(epoch)), Ok(epoch));
    }
    // A decoded share-partition state restores within its bounds, whatever it says: no
    // more in flight than any valid max.record.locks allows.
    if let Ok(state) = PartitionStateValue::decode(data) {
        let limits = Limits::default();
        let p = SharePartition::restore(state.start_offset, &state.batches, &limits);
        assert!(p.start_offset() <= p.end_offset());
        assert!(p.in_flight() as i64 <= MAX_RECORD_LOCKS);
        assert_eq!(p.in_flight() as i64, p.end_offset() - p.start_offset());
    }

    round_trip!(data, ConsumerGroupMetadataValue);
    round_trip!(data, ConsumerGroupPartitionMetadataValue);
    round_trip!(data, ConsumerGroupMemberMetadataValue);
    round_trip!(data, ConsumerGroupTargetAssignmentMetadataValue);
    round_trip!(data, ConsumerGroupTargetAssignmentMemberValue);
    round_trip!(data, ConsumerGroupCurrentMemberAssignmentValue);

    // The same bytes split into a key and a value, as the loader sees a record.
    if let Some((&split, rest)) = data.split_first() {
        let at = usize::from(split).min(rest.len());
        let (key, value) = rest.split_at(at);
        let _ = decode_record(key, Some(value));
        let _ = decode_record(key, None);
        // A consumer group record that decodes encodes to the same key and value.
        if let Ok(GroupRecord::ConsumerGroup { group, record }) = decode_record(key, Some(value)) {
            let key = record.encode_key(&group).expect("decoded key encodes");
            let value = record.encode_value().expect("decoded value encodes");
            assert_eq!(
                decode_record(&key, value.as_deref()),
                Ok(GroupRecord::ConsumerGroup { group, record })
            );
        }
    }
});
