//! KIP-848 record fixtures written out by hand from Kafka's schemas, round trips, and hostile
//! input.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::records::{decode_key, decode_record, GroupRecord, RecordKey};

const FOO: TopicId = TopicId([1; 16]);
const BAR: TopicId = TopicId([2; 16]);

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A compact (flexible) string: unsigned varint length + 1, then the bytes (short strings).
fn cs(s: &str) -> Vec<u8> {
    let mut out = vec![s.len() as u8 + 1];
    out.extend_from_slice(s.as_bytes());
    out
}

/// A classic string: int16 length, then the bytes.
fn s16(s: &str) -> Vec<u8> {
    let mut out = (s.len() as i16).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

fn parts(topic: TopicId, partitions: impl IntoIterator<Item = i32>) -> Assignment {
    partitions.into_iter().map(|p| (topic, p)).collect()
}

// ----- Keys ---------------------------------------------------------------------------

#[test]
fn keys_of_types_3_to_8() {
    let g = s16("g1");
    let m = s16("m-1");
    let group = || "g1".to_owned();
    let member = || "m-1".to_owned();
    let cases: Vec<(Vec<u8>, RecordKey, Bytes)> = vec![
        (
            cat(&[&[0, 3], &g]),
            RecordKey::ConsumerGroupMetadata { group: group() },
            encode_consumer_group_metadata_key("g1").unwrap(),
        ),
        (
            cat(&[&[0, 4], &g]),
            RecordKey::ConsumerGroupPartitionMetadata { group: group() },
            encode_consumer_group_partition_metadata_key("g1").unwrap(),
        ),
        (
            cat(&[&[0, 5], &g, &m]),
            RecordKey::ConsumerGroupMemberMetadata {
                group: group(),
                member_id: member(),
            },
            encode_consumer_group_member_metadata_key("g1", "m-1").unwrap(),
        ),
        (
            cat(&[&[0, 6], &g]),
            RecordKey::ConsumerGroupTargetAssignmentMetadata { group: group() },
            encode_consumer_group_target_assignment_metadata_key("g1").unwrap(),
        ),
        (
            cat(&[&[0, 7], &g, &m]),
            RecordKey::ConsumerGroupTargetAssignmentMember {
                group: group(),
                member_id: member(),
            },
            encode_consumer_group_target_assignment_member_key("g1", "m-1").unwrap(),
        ),
        (
            cat(&[&[0, 8], &g, &m]),
            RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: group(),
                member_id: member(),
            },
            encode_consumer_group_current_member_assignment_key("g1", "m-1").unwrap(),
        ),
    ];
    for (bytes, key, written) in cases {
        assert_eq!(decode_key(&bytes), Ok(key.clone()), "{bytes:02x?}");
        assert_eq!(&written[..], &bytes[..], "{key:?}");
        // Truncated anywhere: an error, never a panic.
        for len in 0..bytes.len() {
            assert!(decode_key(&bytes[..len]).is_err(), "{key:?} cut at {len}");
        }
    }
}

#[test]
fn record_keys_match_the_key_functions() {
    for record in sample_records() {
        let key = record.encode_key("g1").unwrap();
        let version = i16::from_be_bytes([key[0], key[1]]);
        assert_eq!(version, record.key_version());
        let decoded = decode_record(&key, record.encode_value().unwrap().as_deref()).unwrap();
        assert_eq!(
            decoded,
            GroupRecord::ConsumerGroup {
                group: "g1".into(),
                record: record.clone()
            }
        );
    }
}

// ----- Value fixtures -----------------------------------------------------------------

/// `ConsumerGroupMetadataValue` v0: epoch 5, no tagged fields.
const METADATA_EPOCH_5: &[u8] = &[0, 0, 0, 0, 0, 5, 0];

#[test]
fn consumer_group_metadata_value_bytes() {
    let v = ConsumerGroupMetadataValue {
        epoch: 5,
        metadata_hash: 0,
    };
    assert_eq!(&v.encode().unwrap()[..], METADATA_EPOCH_5);
    assert_eq!(ConsumerGroupMetadataValue::decode(METADATA_EPOCH_5), Ok(v));

    // Kafka 4.1's metadata hash: tagged field 0, eight bytes.
    let hashed = ConsumerGroupMetadataValue {
        epoch: 5,
        metadata_hash: 0x0102_0304_0506_0708,
    };
    let bytes = cat(&[&[0, 0, 0, 0, 0, 5], &[1, 0, 8], &[1, 2, 3, 4, 5, 6, 7, 8]]);
    assert_eq!(&hashed.encode().unwrap()[..], &bytes[..]);
    assert_eq!(ConsumerGroupMetadataValue::decode(&bytes), Ok(hashed));

    // An unknown tag is skipped; a hash of the wrong size is refused.
    let unknown = cat(&[&[0, 0, 0, 0, 0, 5], &[1, 9, 2, 0xaa, 0xbb]]);
    assert_eq!(ConsumerGroupMetadataValue::decode(&unknown), Ok(v));
    let short_hash = cat(&[&[0, 0, 0, 0, 0, 5], &[1, 0, 2, 0xaa, 0xbb]]);
    assert_eq!(
        ConsumerGroupMetadataValue::decode(&short_hash),
        Err(RecordError::InvalidLength {
            field: "ConsumerGroupMetadataValue.metadataHash",
            len: 2
        })
    );
}

/// `ConsumerGroupCurrentMemberAssignmentValue` v0: epoch 7 (previous 6), UNREVOKED_PARTITIONS,
/// foo-0 and foo-1 assigned, foo-2 and foo-3 pending revocation.
fn current_assignment_fixture() -> Vec<u8> {
    cat(&[
        &[0, 0],       // version
        &[0, 0, 0, 7], // memberEpoch
        &[0, 0, 0, 6], // previousMemberEpoch
        &[1],          // state: UNREVOKED_PARTITIONS
        &[2],          // assignedPartitions: one topic
        &[1; 16],      //   topicId
        &[3],          //   partitions: two
        &[0, 0, 0, 0], //     0
        &[0, 0, 0, 1], //     1
        &[0],          //   tagged fields
        &[2],          // partitionsPendingRevocation: one topic
        &[1; 16],      //   topicId
        &[3],          //   partitions: two
        &[0, 0, 0, 2], //     2
        &[0, 0, 0, 3], //     3
        &[0],          //   tagged fields
        &[0],          // tagged fields
    ])
}

fn current_assignment_value() -> ConsumerGroupCurrentMemberAssignmentValue {
    ConsumerGroupCurrentMemberAssignmentValue {
        member_epoch: 7,
        previous_member_epoch: 6,
        state: 1,
        assigned_partitions: parts(FOO, 0..2),
        partitions_pending_revocation: parts(FOO, 2..4),
    }
}

#[test]
fn current_member_assignment_value_bytes() {
    let bytes = current_assignment_fixture();
    assert_eq!(
        &current_assignment_value().encode().unwrap()[..],
        &bytes[..]
    );
    assert_eq!(
        ConsumerGroupCurrentMemberAssignmentValue::decode(&bytes),
        Ok(current_assignment_value())
    );
    // Kafka's UNKNOWN state (127) reads as is.
    let mut unknown = bytes.clone();
    unknown[10] = 127;
    assert_eq!(
        ConsumerGroupCurrentMemberAssignmentValue::decode(&unknown).map(|v| v.state),
        Ok(127)
    );
    // Topics in id order, partitions ascending, whatever order they were inserted in.
    let mut two_topics = current_assignment_value();
    two_topics.assigned_partitions = [(BAR, 1), (FOO, 0), (BAR, 0)].into_iter().collect();
    let encoded = two_topics.encode().unwrap();
    let assigned = cat(&[
        &[3],
        &[1; 16],
        &[2, 0, 0, 0, 0],
        &[0],
        &[2; 16],
        &[3, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0],
    ]);
    assert_eq!(&encoded[11..11 + assigned.len()], &assigned[..]);
}

fn member_metadata_fixture() -> Vec<u8> {
    cat(&[
        &[0, 0],   // version
        &[0],      // instanceId: null
        &cs("r1"), // rackId
        &cs("c"),  // clientId
        &cs("/h"), // clientHost
        &[3],      // subscribedTopicNames: two
        &cs("bar"),
        &cs("foo"),
        &[0],                // subscribedTopicRegex: null
        &[0, 0, 0x75, 0x30], // rebalanceTimeoutMs: 30000
        &cs("range"),        // serverAssignor
        &[0],                // tagged fields
    ])
}

fn member_metadata_value() -> ConsumerGroupMemberMetadataValue {
    ConsumerGroupMemberMetadataValue {
        instance_id: None,
        rack_id: Some("r1".into()),
        client_id: "c".into(),
        client_host: "/h".into(),
        subscribed_topic_names: vec!["bar".into(), "foo".into()],
        subscribed_topic_regex: None,
        rebalance_timeout_ms: 30_000,
        server_assignor: Some("range".into()),
        classic_member_metadata: None,
    }
}

#[test]
fn member_metadata_value_bytes() {
    let bytes = member_metadata_fixture();
    assert_eq!(&member_metadata_value().encode().unwrap()[..], &bytes[..]);
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&bytes),
        Ok(member_metadata_value())
    );
    // A classic member's metadata (tag 0) is kept as bytes and written back unchanged.
    let mut with_classic = bytes.clone();
    with_classic.pop();
    with_classic.extend_from_slice(&[1, 0, 3, 1, 0xaa, 0xbb]);
    let decoded = ConsumerGroupMemberMetadataValue::decode(&with_classic).unwrap();
    assert_eq!(
        decoded.classic_member_metadata,
        Some(Bytes::from_static(&[1, 0xaa, 0xbb]))
    );
    assert_eq!(&decoded.encode().unwrap()[..], &with_classic[..]);
}

fn partition_metadata_fixture() -> Vec<u8> {
    cat(&[
        &[0, 0],       // version
        &[2],          // topics: one
        &[1; 16],      //   topicId
        &cs("foo"),    //   topicName
        &[0, 0, 0, 4], //   numPartitions
        &[2],          //   partitionMetadata: one
        &[0, 0, 0, 0], //     partition
        &[2],          //     racks: one
        &cs("r1"),
        &[0], //     tagged fields
        &[0], //   tagged fields
        &[0], // tagged fields
    ])
}

fn partition_metadata_value() -> ConsumerGroupPartitionMetadataValue {
    ConsumerGroupPartitionMetadataValue {
        topics: vec![PartitionMetadataTopic {
            topic_id: FOO,
            topic_name: "foo".into(),
            num_partitions: 4,
            partition_racks: vec![PartitionRacks {
                partition: 0,
                racks: vec!["r1".into()],
            }],
        }],
    }
}

#[test]
fn partition_metadata_value_bytes() {
    let bytes = partition_metadata_fixture();
    assert_eq!(
        &partition_metadata_value().encode().unwrap()[..],
        &bytes[..]
    );
    assert_eq!(
        ConsumerGroupPartitionMetadataValue::decode(&bytes),
        Ok(partition_metadata_value())
    );
}

fn target_member_fixture() -> Vec<u8> {
    cat(&[
        &[0, 0],
        &[2],
        &[1; 16],
        &[3, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0],
        &[0],
    ])
}

const TARGET_EPOCH_3: &[u8] = &[0, 0, 0, 0, 0, 3, 0];

#[test]
fn target_assignment_values_bytes() {
    let member = ConsumerGroupTargetAssignmentMemberValue {
        partitions: parts(FOO, 0..2),
    };
    assert_eq!(&member.encode().unwrap()[..], &target_member_fixture()[..]);
    assert_eq!(
        ConsumerGroupTargetAssignmentMemberValue::decode(&target_member_fixture()),
        Ok(member)
    );
    let epoch = ConsumerGroupTargetAssignmentMetadataValue {
        assignment_epoch: 3,
    };
    assert_eq!(&epoch.encode().unwrap()[..], TARGET_EPOCH_3);
    assert_eq!(
        ConsumerGroupTargetAssignmentMetadataValue::decode(TARGET_EPOCH_3),
        Ok(epoch)
    );
    // An empty assignment, and a topic listed twice (merged, as Kafka's `fromRecord`).
    let empty = ConsumerGroupTargetAssignmentMemberValue::default();
    assert_eq!(&empty.encode().unwrap()[..], &[0, 0, 1, 0]);
    let twice = cat(&[
        &[0, 0, 3],
        &[1; 16],
        &[2, 0, 0, 0, 1, 0],
        &[1; 16],
        &[3, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        &[0],
    ]);
    assert_eq!(
        ConsumerGroupTargetAssignmentMemberValue::decode(&twice).map(|v| v.partitions),
        Ok(parts(FOO, 0..2))
    );
}

// ----- Errors -------------------------------------------------------------------------

/// Every value fixture, with its decoder.
type Decoder = fn(&[u8]) -> Result<()>;

fn value_fixtures() -> Vec<(&'static str, Vec<u8>, Decoder)> {
    vec![
        ("metadata", METADATA_EPOCH_5.to_vec(), |b| {
            ConsumerGroupMetadataValue::decode(b).map(drop)
        }),
        ("partition metadata", partition_metadata_fixture(), |b| {
            ConsumerGroupPartitionMetadataValue::decode(b).map(drop)
        }),
        ("member metadata", member_metadata_fixture(), |b| {
            ConsumerGroupMemberMetadataValue::decode(b).map(drop)
        }),
        ("target epoch", TARGET_EPOCH_3.to_vec(), |b| {
            ConsumerGroupTargetAssignmentMetadataValue::decode(b).map(drop)
        }),
        ("target member", target_member_fixture(), |b| {
            ConsumerGroupTargetAssignmentMemberValue::decode(b).map(drop)
        }),
        ("current assignment", current_assignment_fixture(), |b| {
            ConsumerGroupCurrentMemberAssignmentValue::decode(b).map(drop)
        }),
    ]
}

#[test]
fn every_truncation_is_an_error() {
    for (name, bytes, decode) in value_fixtures() {
        assert_eq!(decode(&bytes), Ok(()), "{name}");
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "{name} cut at {len}");
        }
        // Bytes after the last field are ignored, as Kafka's readers ignore them.
        let mut longer = bytes.clone();
        longer.push(0xee);
        assert_eq!(decode(&longer), Ok(()), "{name} with a trailing byte");
    }
}

#[test]
fn other_value_versions_are_refused() {
    for (name, mut bytes, decode) in value_fixtures() {
        bytes[1] = 1;
        assert!(
            matches!(
                decode(&bytes),
                Err(RecordError::UnsupportedVersion {
                    version: 1,
                    max: 0,
                    ..
                })
            ),
            "{name}"
        );
    }
}

#[test]
fn nulls_and_lengths_are_checked() {
    // A null (compact 0) where an array is not nullable.
    assert_eq!(
        ConsumerGroupTargetAssignmentMemberValue::decode(&[0, 0, 0, 0]),
        Err(RecordError::UnexpectedNull {
            field: "ConsumerGroupTargetAssignmentMemberValue.topicPartitions"
        })
    );
    // A null client id.
    let mut bytes = member_metadata_fixture();
    bytes[6] = 0;
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&bytes),
        Err(RecordError::UnexpectedNull {
            field: "ConsumerGroupMemberMetadataValue.clientId"
        })
    );
    // A count far beyond the input, in a five-byte varint: refused before any allocation.
    let huge = [0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(matches!(
        ConsumerGroupPartitionMetadataValue::decode(&huge),
        Err(RecordError::InvalidLength { .. })
    ));
    // A six-byte varint.
    let long = [0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    assert!(matches!(
        ConsumerGroupTargetAssignmentMemberValue::decode(&long),
        Err(RecordError::MalformedVarint { .. })
    ));
    // Not UTF-8.
    let mut bytes = member_metadata_fixture();
    bytes[7] = 0xff;
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&bytes),
        Err(RecordError::InvalidUtf8 {
            field: "ConsumerGroupMemberMetadataValue.clientId"
        })
    );
    // A key whose member id is missing.
    assert!(decode_key(&cat(&[&[0, 5], &s16("g")])).is_err());
}

#[test]
fn records_and_tombstones() {
    let key = encode_consumer_group_current_member_assignment_key("g", "m").unwrap();
    assert_eq!(
        decode_record(&key, Some(&current_assignment_fixture())),
        Ok(GroupRecord::ConsumerGroup {
            group: "g".into(),
            record: ConsumerGroupRecord::CurrentMemberAssignment {
                member_id: "m".into(),
                value: Some(current_assignment_value()),
            },
        })
    );
    for record in sample_records() {
        let tombstone = tombstone_of(&record);
        assert!(tombstone.is_tombstone());
        assert_eq!(tombstone.encode_value(), Ok(None));
        assert_eq!(tombstone.member_id(), record.member_id());
        let key = tombstone.encode_key("g").unwrap();
        assert_eq!(
            decode_record(&key, None),
            Ok(GroupRecord::ConsumerGroup {
                group: "g".into(),
                record: tombstone
            })
        );
        // A value that does not decode fails the record (the loader skips it).
        assert!(decode_record(&key, Some(&[0, 0])).is_err());
    }
}

/// One record of every type, with a value.
fn sample_records() -> Vec<ConsumerGroupRecord> {
    vec![
        ConsumerGroupRecord::Metadata {
            value: Some(ConsumerGroupMetadataValue {
                epoch: 5,
                metadata_hash: 0,
            }),
        },
        ConsumerGroupRecord::PartitionMetadata {
            value: Some(partition_metadata_value()),
        },
        ConsumerGroupRecord::MemberMetadata {
            member_id: "m-1".into(),
            value: Some(member_metadata_value()),
        },
        ConsumerGroupRecord::TargetAssignmentMetadata {
            value: Some(ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: 3,
            }),
        },
        ConsumerGroupRecord::TargetAssignmentMember {
            member_id: "m-1".into(),
            value: Some(ConsumerGroupTargetAssignmentMemberValue {
                partitions: parts(FOO, 0..2),
            }),
        },
        ConsumerGroupRecord::CurrentMemberAssignment {
            member_id: "m-1".into(),
            value: Some(current_assignment_value()),
        },
    ]
}

fn tombstone_of(record: &ConsumerGroupRecord) -> ConsumerGroupRecord {
    let member_id = record.member_id().unwrap_or_default().to_owned();
    match record {
        ConsumerGroupRecord::Metadata { .. } => ConsumerGroupRecord::Metadata { value: None },
        ConsumerGroupRecord::PartitionMetadata { .. } => {
            ConsumerGroupRecord::PartitionMetadata { value: None }
        }
        ConsumerGroupRecord::MemberMetadata { .. } => ConsumerGroupRecord::MemberMetadata {
            member_id,
            value: None,
        },
        ConsumerGroupRecord::TargetAssignmentMetadata { .. } => {
            ConsumerGroupRecord::TargetAssignmentMetadata { value: None }
        }
        ConsumerGroupRecord::TargetAssignmentMember { .. } => {
            ConsumerGroupRecord::TargetAssignmentMember {
                member_id,
                value: None,
            }
        }
        ConsumerGroupRecord::CurrentMemberAssignment { .. } => {
            ConsumerGroupRecord::CurrentMemberAssignment {
                member_id,
                value: None,
            }
        }
    }
}

// ----- Properties ---------------------------------------------------------------------

fn arb_string() -> impl Strategy<Value = String> {
    ".{0,12}"
}

fn arb_topic_id() -> impl Strategy<Value = TopicId> {
    prop_oneof![Just(FOO), Just(BAR), any::<[u8; 16]>().prop_map(TopicId)]
}

fn arb_assignment() -> impl Strategy<Value = Assignment> {
    proptest::collection::vec((arb_topic_id(), any::<i32>()), 0..12)
        .prop_map(|tps| tps.into_iter().collect())
}

fn arb_metadata() -> impl Strategy<Value = ConsumerGroupMetadataValue> {
    (any::<i32>(), prop_oneof![Just(0i64), any::<i64>()]).prop_map(|(epoch, metadata_hash)| {
        ConsumerGroupMetadataValue {
            epoch,
            metadata_hash,
        }
    })
}

fn arb_partition_metadata() -> impl Strategy<Value = ConsumerGroupPartitionMetadataValue> {
    let racks = (any::<i32>(), proptest::collection::vec(arb_string(), 0..3))
        .prop_map(|(partition, racks)| PartitionRacks { partition, racks });
    let topic = (
        arb_topic_id(),
        arb_string(),
        any::<i32>(),
        proptest::collection::vec(racks, 0..3),
    )
        .prop_map(|(topic_id, topic_name, num_partitions, partition_racks)| {
            PartitionMetadataTopic {
                topic_id,
                topic_name,
                num_partitions,
                partition_racks,
            }
        });
    proptest::collection::vec(topic, 0..4)
        .prop_map(|topics| ConsumerGroupPartitionMetadataValue { topics })
}

fn arb_member_metadata() -> impl Strategy<Value = ConsumerGroupMemberMetadataValue> {
    (
        (
            proptest::option::of(arb_string()),
            proptest::option::of(arb_string()),
            arb_string(),
            arb_string(),
        ),
        (
            proptest::collection::vec(arb_string(), 0..4),
            proptest::option::of(arb_string()),
            any::<i32>(),
            proptest::option::of(arb_string()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        ),
    )
        .prop_map(
            |(
                (instance_id, rack_id, client_id, client_host),
                (names, regex, rebalance_timeout_ms, server_assignor, classic),
            )| ConsumerGroupMemberMetadataValue {
                instance_id,
                rack_id,
                client_id,
                client_host,
                subscribed_topic_names: names,
                subscribed_topic_regex: regex,
                rebalance_timeout_ms,
                server_assignor,
                classic_member_metadata: classic.map(Bytes::from),
            },
        )
}

fn arb_current_assignment() -> impl Strategy<Value = ConsumerGroupCurrentMemberAssignmentValue> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i8>(),
        arb_assignment(),
        arb_assignment(),
    )
        .prop_map(
            |(member_epoch, previous_member_epoch, state, assigned, pending)| {
                ConsumerGroupCurrentMemberAssignmentValue {
                    member_epoch,
                    previous_member_epoch,
                    state,
                    assigned_partitions: assigned,
                    partitions_pending_revocation: pending,
                }
            },
        )
}

fn arb_record() -> impl Strategy<Value = ConsumerGroupRecord> {
    prop_oneof![
        proptest::option::of(arb_metadata())
            .prop_map(|value| ConsumerGroupRecord::Metadata { value }),
        proptest::option::of(arb_partition_metadata())
            .prop_map(|value| ConsumerGroupRecord::PartitionMetadata { value }),
        (arb_string(), proptest::option::of(arb_member_metadata())).prop_map(
            |(member_id, value)| ConsumerGroupRecord::MemberMetadata { member_id, value }
        ),
        proptest::option::of(any::<i32>()).prop_map(|epoch| {
            ConsumerGroupRecord::TargetAssignmentMetadata {
                value: epoch.map(
                    |assignment_epoch| ConsumerGroupTargetAssignmentMetadataValue {
                        assignment_epoch,
                    },
                ),
            }
        }),
        (arb_string(), proptest::option::of(arb_assignment())).prop_map(
            |(member_id, partitions)| ConsumerGroupRecord::TargetAssignmentMember {
                member_id,
                value: partitions
                    .map(|partitions| ConsumerGroupTargetAssignmentMemberValue { partitions }),
            }
        ),
        (arb_string(), proptest::option::of(arb_current_assignment())).prop_map(
            |(member_id, value)| ConsumerGroupRecord::CurrentMemberAssignment { member_id, value }
        ),
    ]
}

/// Every decoder over the same bytes: none may panic.
fn decode_all(bytes: &[u8]) {
    let _ = ConsumerGroupMetadataValue::decode(bytes);
    let _ = ConsumerGroupPartitionMetadataValue::decode(bytes);
    let _ = ConsumerGroupMemberMetadataValue::decode(bytes);
    let _ = ConsumerGroupTargetAssignmentMetadataValue::decode(bytes);
    let _ = ConsumerGroupTargetAssignmentMemberValue::decode(bytes);
    let _ = ConsumerGroupCurrentMemberAssignmentValue::decode(bytes);
}

proptest! {
    #[test]
    fn records_round_trip(group in arb_string(), record in arb_record()) {
        let (key, value) = record.encode(&group).unwrap();
        prop_assert_eq!(
            decode_record(&key, value.as_deref()),
            Ok(GroupRecord::ConsumerGroup { group, record })
        );
    }

    #[test]
    fn every_truncation_of_a_valid_record_is_an_error(record in arb_record()) {
        if let Some(value) = record.encode_value().unwrap() {
            let key = record.encode_key("g").unwrap();
            for len in 0..value.len() {
                prop_assert!(decode_record(&key, Some(&value[..len])).is_err());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        decode_all(&bytes);
        // With a valid version in front, the decoders get past it.
        let mut versioned = vec![0, 0];
        versioned.extend_from_slice(&bytes);
        decode_all(&versioned);
        for version in 3u8..=8 {
            let mut key = vec![0, version];
            key.extend_from_slice(&bytes);
            let _ = decode_key(&key);
        }
    }

    #[test]
    fn corrupting_a_valid_value_never_panics(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        record in arb_record(),
    ) {
        if let Some(value) = record.encode_value().unwrap() {
            let mut bytes = value.to_vec();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            decode_all(&bytes);
            let key = record.encode_key("g").unwrap();
            let _ = decode_record(&key, Some(&bytes));
        }
    }
}
