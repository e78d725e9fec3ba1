//! Fixtures written out by hand from Kafka's schemas, round trips, and hostile input.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

/// Concatenates fixture pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const OFFSET_42: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 42];
const COMMIT_1000: &[u8] = &[0, 0, 0, 0, 0, 0, 0x03, 0xe8];
const EXPIRE_2000: &[u8] = &[0, 0, 0, 0, 0, 0, 0x07, 0xd0];
const EPOCH_5: &[u8] = &[0, 0, 0, 5];
/// `"md"` as an int16-length string.
const MD: &[u8] = &[0, 2, b'm', b'd'];

fn committed(leader_epoch: Option<i32>, expire: Option<i64>) -> CommittedOffset {
    CommittedOffset {
        offset: 42,
        leader_epoch,
        metadata: Some("md".into()),
        commit_timestamp_ms: 1000,
        expire_timestamp_ms: expire,
    }
}

// ----- Keys ---------------------------------------------------------------------------

#[test]
fn offset_commit_keys_v0_and_v1() {
    let body: &[u8] = &[0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 3];
    let expected = RecordKey::OffsetCommit {
        group: "g1".into(),
        partition: TopicPartition::new("t", 3),
    };
    for version in [0u8, 1] {
        let key = cat(&[&[0, version], body]);
        assert_eq!(decode_key(&key), Ok(expected.clone()));
    }
    // Kafka writes v1.
    let written = encode_offset_commit_key("g1", &TopicPartition::new("t", 3)).unwrap();
    assert_eq!(&written[..], &cat(&[&[0, 1], body])[..]);
}

#[test]
fn group_metadata_key_v2() {
    let key: &[u8] = &[0, 2, 0, 2, b'g', b'1'];
    assert_eq!(
        decode_key(key),
        Ok(RecordKey::GroupMetadata { group: "g1".into() })
    );
    assert_eq!(&encode_group_metadata_key("g1").unwrap()[..], key);
}

#[test]
fn other_key_versions_are_skipped_not_refused() {
    // ShareGroupMetadataKey (10) and ConsumerGroupRegularExpressionKey (16) with their
    // fields, a bare future type, a negative one.
    assert_eq!(
        decode_key(&[0, 10, 0, 1, b'g']),
        Ok(RecordKey::Other { version: 10 })
    );
    assert_eq!(
        decode_key(&[0, 16, 0, 1, b'g', 0, 2, b'.', b'*']),
        Ok(RecordKey::Other { version: 16 })
    );
    assert_eq!(decode_key(&[0, 99]), Ok(RecordKey::Other { version: 99 }));
    assert_eq!(
        decode_key(&[0xff, 0xff]),
        Ok(RecordKey::Other { version: -1 })
    );
    assert_eq!(
        decode_record(&[0, 16, 0, 1, b'g'], Some(b"anything at all")),
        Ok(GroupRecord::Other { version: 16 })
    );
}

#[test]
fn records_and_tombstones() {
    let key = encode_offset_commit_key("g", &TopicPartition::new("t", 0)).unwrap();
    let value = encode_offset_commit_value(&committed(Some(5), None)).unwrap();
    assert_eq!(
        decode_record(&key, Some(&value)),
        Ok(GroupRecord::OffsetCommit {
            group: "g".into(),
            partition: TopicPartition::new("t", 0),
            value: Some(committed(Some(5), None)),
        })
    );
    assert_eq!(
        decode_record(&key, None),
        Ok(GroupRecord::OffsetCommit {
            group: "g".into(),
            partition: TopicPartition::new("t", 0),
            value: None,
        })
    );
    let key = encode_group_metadata_key("g").unwrap();
    assert_eq!(
        decode_record(&key, None),
        Ok(GroupRecord::GroupMetadata {
            group: "g".into(),
            value: None
        })
    );
    assert_eq!(
        decode_record(&key, Some(&group_v3_fixture())),
        Ok(GroupRecord::GroupMetadata {
            group: "g".into(),
            value: Some(group_v3_value()),
        })
    );
}

// ----- Offset commit values -----------------------------------------------------------

fn offset_fixtures() -> Vec<(Vec<u8>, CommittedOffset)> {
    vec![
        // v0: offset, metadata, commitTimestamp.
        (
            cat(&[&[0, 0], OFFSET_42, MD, COMMIT_1000]),
            committed(None, None),
        ),
        // v1: + expireTimestamp.
        (
            cat(&[&[0, 1], OFFSET_42, MD, COMMIT_1000, EXPIRE_2000]),
            committed(None, Some(2000)),
        ),
        // v1 with expireTimestamp -1: none.
        (
            cat(&[&[0, 1], OFFSET_42, MD, COMMIT_1000, &[0xff; 8]]),
            committed(None, None),
        ),
        // v2: as v0.
        (
            cat(&[&[0, 2], OFFSET_42, MD, COMMIT_1000]),
            committed(None, None),
        ),
        // v3: offset, leaderEpoch, metadata, commitTimestamp.
        (
            cat(&[&[0, 3], OFFSET_42, EPOCH_5, MD, COMMIT_1000]),
            committed(Some(5), None),
        ),
        // v3 with leader epoch -1: none.
        (
            cat(&[&[0, 3], OFFSET_42, &[0xff; 4], MD, COMMIT_1000]),
            committed(None, None),
        ),
        // v4 (flexible): compact metadata (length + 1), then an empty tag buffer.
        (
            cat(&[
                &[0, 4],
                OFFSET_42,
                EPOCH_5,
                &[3, b'm', b'd'],
                COMMIT_1000,
                &[0],
            ]),
            committed(Some(5), None),
        ),
        // v4 with an unknown tagged field (tag 5, two bytes), skipped.
        (
            cat(&[
                &[0, 4],
                OFFSET_42,
                EPOCH_5,
                &[3, b'm', b'd'],
                COMMIT_1000,
                &[1, 5, 2, 0xaa, 0xbb],
            ]),
            committed(Some(5), None),
        ),
    ]
}

#[test]
fn offset_commit_value_fixtures_decode() {
    for (bytes, expected) in offset_fixtures() {
        assert_eq!(
            decode_offset_commit_value(&bytes),
            Ok(expected),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn offset_commit_values_are_written_as_kafka_writes_them() {
    // v3 normally.
    let v3 = encode_offset_commit_value(&committed(Some(5), None)).unwrap();
    assert_eq!(
        &v3[..],
        &cat(&[&[0, 3], OFFSET_42, EPOCH_5, MD, COMMIT_1000])[..]
    );
    let none = encode_offset_commit_value(&committed(None, None)).unwrap();
    assert_eq!(
        &none[..],
        &cat(&[&[0, 3], OFFSET_42, &[0xff; 4], MD, COMMIT_1000])[..]
    );
    // v1 with an expire time: the leader epoch has no place in it.
    let v1 = encode_offset_commit_value(&committed(Some(5), Some(2000))).unwrap();
    assert_eq!(
        &v1[..],
        &cat(&[&[0, 1], OFFSET_42, MD, COMMIT_1000, EXPIRE_2000])[..]
    );
    assert_eq!(
        decode_offset_commit_value(&v1),
        Ok(committed(None, Some(2000)))
    );
    // Null metadata is written as "" (the schema's metadata is not nullable).
    let mut null_md = committed(None, None);
    null_md.metadata = None;
    let bytes = encode_offset_commit_value(&null_md).unwrap();
    assert_eq!(&bytes[14..16], &[0, 0]);
    assert_eq!(
        decode_offset_commit_value(&bytes)
            .unwrap()
            .metadata
            .as_deref(),
        Some("")
    );
}

#[test]
fn offset_commit_value_errors() {
    assert_eq!(
        decode_offset_commit_value(&cat(&[&[0, 5], OFFSET_42, MD, COMMIT_1000])),
        Err(RecordError::UnsupportedVersion {
            record: "OffsetCommitValue",
            version: 5,
            max: 4
        })
    );
    assert!(matches!(
        decode_offset_commit_value(&[0xff, 0xff]),
        Err(RecordError::UnsupportedVersion { version: -1, .. })
    ));
    assert_eq!(
        decode_offset_commit_value(&cat(&[&[0, 0], OFFSET_42, &[0xff, 0xff], COMMIT_1000])),
        Err(RecordError::UnexpectedNull {
            field: "OffsetCommitValue.metadata"
        })
    );
    assert_eq!(
        decode_offset_commit_value(&cat(&[
            &[0, 0],
            OFFSET_42,
            &[0, 2, 0xff, 0xfe],
            COMMIT_1000
        ])),
        Err(RecordError::InvalidUtf8 {
            field: "OffsetCommitValue.metadata"
        })
    );
    assert_eq!(
        decode_offset_commit_value(&cat(&[&[0, 0], OFFSET_42, &[0xff, 0xfe]])),
        Err(RecordError::InvalidLength {
            field: "OffsetCommitValue.metadata",
            len: -2
        })
    );
    // A compact length whose varint never ends.
    assert_eq!(
        decode_offset_commit_value(&cat(&[&[0, 4], OFFSET_42, EPOCH_5, &[0xff; 6]])),
        Err(RecordError::MalformedVarint {
            field: "OffsetCommitValue.metadata"
        })
    );
    // Strings over Kafka's 32767-byte limit are refused on both sides.
    let mut long = committed(None, None);
    long.metadata = Some("x".repeat(0x8000));
    assert!(matches!(
        encode_offset_commit_value(&long),
        Err(RecordError::TooLong { len: 0x8000, .. })
    ));
    let mut bytes = cat(&[&[0, 0], OFFSET_42, &[0x80, 0x00]]);
    bytes.extend(std::iter::repeat_n(b'x', 0x8000));
    bytes.extend_from_slice(COMMIT_1000);
    assert!(matches!(
        decode_offset_commit_value(&bytes),
        Err(RecordError::InvalidLength { .. })
    ));
}

// ----- Group metadata values ----------------------------------------------------------

/// `"consumer"` as an int16-length string.
const CONSUMER: &[u8] = &[0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r'];
const RANGE: &[u8] = &[0, 5, b'r', b'a', b'n', b'g', b'e'];
const GEN_7: &[u8] = &[0, 0, 0, 7];
const STATE_AT: &[u8] = &[0, 0, 0x01, 0x8f, 0, 0, 0, 1];
const STATE_AT_MS: i64 = 0x018f_0000_0001;
const SESSION_10S: &[u8] = &[0, 0, 0x27, 0x10];
const REBALANCE_30S: &[u8] = &[0, 0, 0x75, 0x30];

fn s(x: &str) -> Vec<u8> {
    let mut out = (x.len() as i16).to_be_bytes().to_vec();
    out.extend_from_slice(x.as_bytes());
    out
}

fn member(rebalance_timeout_ms: i32, instance: Option<&str>) -> MemberMetadata {
    MemberMetadata {
        member_id: "m-1".into(),
        group_instance_id: instance.map(str::to_owned),
        client_id: "c".into(),
        client_host: "/h".into(),
        rebalance_timeout_ms,
        session_timeout_ms: 10_000,
        subscription: Bytes::from_static(&[1, 2]),
        assignment: Bytes::from_static(&[3]),
    }
}

fn group_value(state_at: Option<i64>, members: Vec<MemberMetadata>) -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 7,
        protocol: Some("range".into()),
        leader: Some("m-1".into()),
        current_state_timestamp_ms: state_at,
        members,
    }
}

fn group_v0_fixture() -> Vec<u8> {
    cat(&[
        &[0, 0],
        CONSUMER,
        GEN_7,
        RANGE,
        &s("m-1"),
        &[0, 0, 0, 1], // one member
        &s("m-1"),
        &s("c"),
        &s("/h"),
        SESSION_10S,
        &[0, 0, 0, 2, 1, 2], // subscription
        &[0, 0, 0, 1, 3],    // assignment
    ])
}

fn group_v3_fixture() -> Vec<u8> {
    cat(&[
        &[0, 3],
        CONSUMER,
        GEN_7,
        RANGE,
        &s("m-1"),
        STATE_AT,
        &[0, 0, 0, 1],
        &s("m-1"),
        &s("i-1"), // groupInstanceId
        &s("c"),
        &s("/h"),
        REBALANCE_30S,
        SESSION_10S,
        &[0, 0, 0, 2, 1, 2],
        &[0, 0, 0, 1, 3],
    ])
}

fn group_v3_value() -> GroupMetadataValue {
    group_value(Some(STATE_AT_MS), vec![member(30_000, Some("i-1"))])
}

fn group_v4_fixture() -> Vec<u8> {
    cat(&[
        &[0, 4],
        &[9],
        b"consumer",
        GEN_7,
        &[6],
        b"range",
        &[4],
        b"m-1",
        STATE_AT,
        &[2], // one member (compact: count + 1)
        &[4],
        b"m-1",
        &[0], // null groupInstanceId
        &[2, b'c'],
        &[3, b'/', b'h'],
        REBALANCE_30S,
        SESSION_10S,
        &[3, 1, 2],
        &[2, 3],
        &[0],             // the member's tag buffer
        &[1, 0, 1, 0x42], // one unknown tagged field, skipped
    ])
}

#[test]
fn group_metadata_value_fixtures_decode() {
    // v0: no rebalance timeout (the session timeout stands in), no state time.
    assert_eq!(
        GroupMetadataValue::decode(&group_v0_fixture()),
        Ok(group_value(None, vec![member(10_000, None)]))
    );
    assert_eq!(
        GroupMetadataValue::decode(&group_v3_fixture()),
        Ok(group_v3_value())
    );
    assert_eq!(
        GroupMetadataValue::decode(&group_v4_fixture()),
        Ok(group_value(Some(STATE_AT_MS), vec![member(30_000, None)]))
    );
    // An Empty group in v3: null protocol and leader, state time -1, no members.
    let empty = cat(&[
        &[0, 3],
        CONSUMER,
        GEN_7,
        &[0xff, 0xff],
        &[0xff, 0xff],
        &[0xff; 8],
        &[0, 0, 0, 0],
    ]);
    assert_eq!(
        GroupMetadataValue::decode(&empty),
        Ok(GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: None,
            leader: None,
            current_state_timestamp_ms: None,
            members: vec![],
        })
    );
}

#[test]
fn group_metadata_values_are_written_as_v3() {
    assert_eq!(
        &group_v3_value().encode().unwrap()[..],
        &group_v3_fixture()[..]
    );
    // The flexible form is written only on request, and reads back the same.
    let v4 = group_value(Some(STATE_AT_MS), vec![member(30_000, None)]);
    let bytes = v4.encode_version(4).unwrap();
    let mut fixture = group_v4_fixture();
    fixture.truncate(fixture.len() - 4);
    fixture.push(0);
    assert_eq!(&bytes[..], &fixture[..]);
    assert!(matches!(
        v4.encode_version(5),
        Err(RecordError::UnsupportedVersion { version: 5, .. })
    ));
}

#[test]
fn group_metadata_value_errors() {
    // A member count the bytes cannot back is refused before anything is allocated.
    let huge = cat(&[
        &[0, 3],
        CONSUMER,
        GEN_7,
        RANGE,
        &s("m"),
        STATE_AT,
        &[0x7f, 0xff, 0xff, 0xff],
    ]);
    assert_eq!(
        GroupMetadataValue::decode(&huge),
        Err(RecordError::InvalidLength {
            field: "GroupMetadataValue.members",
            len: i64::from(i32::MAX)
        })
    );
    // A null member list, a null protocol type, a null subscription.
    let null_members = cat(&[&[0, 0], CONSUMER, GEN_7, RANGE, &s("m"), &[0xff; 4]]);
    assert_eq!(
        GroupMetadataValue::decode(&null_members),
        Err(RecordError::UnexpectedNull {
            field: "GroupMetadataValue.members"
        })
    );
    assert_eq!(
        GroupMetadataValue::decode(&[0, 0, 0xff, 0xff]),
        Err(RecordError::UnexpectedNull {
            field: "GroupMetadataValue.protocolType"
        })
    );
    let mut null_sub = group_v0_fixture();
    let at = null_sub.len() - 11;
    null_sub[at..at + 4].copy_from_slice(&[0xff; 4]);
    assert_eq!(
        GroupMetadataValue::decode(&null_sub),
        Err(RecordError::UnexpectedNull {
            field: "MemberMetadata.subscription"
        })
    );
    // A tagged field longer than what remains.
    let mut bad_tag = group_v4_fixture();
    let n = bad_tag.len();
    bad_tag[n - 2] = 9;
    assert!(matches!(
        GroupMetadataValue::decode(&bad_tag),
        Err(RecordError::Truncated { .. })
    ));
}

// ----- Truncation and hostile bytes ---------------------------------------------------

#[test]
fn every_truncation_is_an_error() {
    let keys = [
        encode_offset_commit_key("group", &TopicPartition::new("topic", 1)).unwrap(),
        encode_group_metadata_key("group").unwrap(),
    ];
    for key in &keys {
        for len in 0..key.len() {
            assert!(decode_key(&key[..len]).is_err(), "key cut at {len}");
        }
    }
    for (bytes, _) in offset_fixtures() {
        for len in 0..bytes.len() {
            assert!(
                decode_offset_commit_value(&bytes[..len]).is_err(),
                "{bytes:02x?} cut at {len}"
            );
        }
    }
    for bytes in [group_v0_fixture(), group_v3_fixture(), group_v4_fixture()] {
        for len in 0..bytes.len() {
            assert!(
                GroupMetadataValue::decode(&bytes[..len]).is_err(),
                "{bytes:02x?} cut at {len}"
            );
        }
    }
}

/// What a value reads back as after being written at `version`.
fn offset_at_version(o: &CommittedOffset, version: i16) -> CommittedOffset {
    CommittedOffset {
        offset: o.offset,
        leader_epoch: o.leader_epoch.filter(|e| version >= 3 && *e != -1),
        metadata: Some(o.metadata.clone().unwrap_or_default()),
        commit_timestamp_ms: o.commit_timestamp_ms,
        expire_timestamp_ms: o.expire_timestamp_ms.filter(|t| version == 1 && *t != -1),
    }
}

fn group_at_version(g: &GroupMetadataValue, version: i16) -> GroupMetadataValue {
    GroupMetadataValue {
        current_state_timestamp_ms: g
            .current_state_timestamp_ms
            .filter(|t| version >= 2 && *t != -1),
        members: g
            .members
            .iter()
            .map(|m| MemberMetadata {
                group_instance_id: m.group_instance_id.clone().filter(|_| version >= 3),
                rebalance_timeout_ms: if version >= 1 {
                    m.rebalance_timeout_ms
                } else {
                    m.session_timeout_ms
                },
                ..m.clone()
            })
            .collect(),
        ..g.clone()
    }
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", Just(String::new())]
}

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn arb_offset() -> impl Strategy<Value = CommittedOffset> {
    (
        any::<i64>(),
        proptest::option::of(prop_oneof![any::<i32>(), Just(-1)]),
        proptest::option::of(arb_string()),
        any::<i64>(),
        proptest::option::of(prop_oneof![any::<i64>(), Just(-1)]),
    )
        .prop_map(
            |(offset, leader_epoch, metadata, commit_timestamp_ms, expire_timestamp_ms)| {
                CommittedOffset {
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp_ms,
                    expire_timestamp_ms,
                }
            },
        )
}

fn arb_member() -> impl Strategy<Value = MemberMetadata> {
    (
        arb_string(),
        proptest::option::of(arb_string()),
        arb_string(),
        arb_string(),
        any::<i32>(),
        any::<i32>(),
        arb_bytes(),
        arb_bytes(),
    )
        .prop_map(
            |(
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance,
                session,
                sub,
                asg,
            )| {
                MemberMetadata {
                    member_id,
                    group_instance_id,
                    client_id,
                    client_host,
                    rebalance_timeout_ms: rebalance,
                    session_timeout_ms: session,
                    subscription: sub,
                    assignment: asg,
                }
            },
        )
}

fn arb_group() -> impl Strategy<Value = GroupMetadataValue> {
    (
        arb_string(),
        any::<i32>(),
        proptest::option::of(arb_string()),
        proptest::option::of(arb_string()),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(arb_member(), 0..4),
    )
        .prop_map(
            |(protocol_type, generation, protocol, leader, state_at, members)| GroupMetadataValue {
                protocol_type,
                generation,
                protocol,
                leader,
                current_state_timestamp_ms: state_at,
                members,
            },
        )
}

proptest! {
    #[test]
    fn offset_values_round_trip_at_every_version(o in arb_offset()) {
        for version in 0..=4 {
            let bytes = encode_offset_commit_value_version(&o, version).unwrap();
            prop_assert_eq!(
                decode_offset_commit_value(&bytes).unwrap(),
                offset_at_version(&o, version)
            );
        }
        let bytes = encode_offset_commit_value(&o).unwrap();
        let version = if o.expire_timestamp_ms.is_some() { 1 } else { 3 };
        prop_assert_eq!(&bytes[..2], &[0, version as u8][..]);
        prop_assert_eq!(
            decode_offset_commit_value(&bytes).unwrap(),
            offset_at_version(&o, version)
        );
    }

    #[test]
    fn group_values_round_trip_at_every_version(g in arb_group()) {
        for version in 0..=4 {
            let bytes = g.encode_version(version).unwrap();
            prop_assert_eq!(
                GroupMetadataValue::decode(&bytes).unwrap(),
                group_at_version(&g, version)
            );
        }
        prop_assert_eq!(GroupMetadataValue::decode(&g.encode().unwrap()).unwrap(), group_at_version(&g, 3));
    }

    #[test]
    fn keys_round_trip(group in arb_string(), topic in arb_string(), partition in any::<i32>()) {
        let tp = TopicPartition::new(topic, partition);
        let key = encode_offset_commit_key(&group, &tp).unwrap();
        prop_assert_eq!(
            decode_key(&key).unwrap(),
            RecordKey::OffsetCommit { group: group.clone(), partition: tp }
        );
        let key = encode_group_metadata_key(&group).unwrap();
        prop_assert_eq!(decode_key(&key).unwrap(), RecordKey::GroupMetadata { group });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_key(&bytes);
        let _ = decode_offset_commit_value(&bytes);
        let _ = GroupMetadataValue::decode(&bytes);
        // With a valid version in front, the decoders get past the first check.
        for version in 0..=4u8 {
            let mut v = vec![0, version];
            v.extend_from_slice(&bytes);
            let _ = decode_offset_commit_value(&v);
            let _ = GroupMetadataValue::decode(&v);
        }
    }

    #[test]
    fn corrupting_a_valid_value_never_panics(at in any::<prop::sample::Index>(), byte in any::<u8>(), g in arb_group()) {
        for version in 0..=4 {
            let mut bytes = g.encode_version(version).unwrap().to_vec();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = GroupMetadataValue::decode(&bytes);
        }
    }
}
