//! Writes the small seed corpus under `corpus/<target>/`: a few valid batches (every codec,
//! headers, tombstones), segments made of them, `__consumer_offsets` keys and values of every
//! version, and a little garbage.
//!
//! Run from `fuzz/`: `cargo run --example gen_corpus`.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

use myelin_coord::consumer::{Assignment, TopicId};
use myelin_coord::records::{
    encode_group_metadata_key, encode_offset_commit_key, encode_offset_commit_value_version,
    ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataValue, ConsumerGroupRecord,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataValue,
    GroupMetadataValue, MemberMetadata, PartitionMetadataTopic, PartitionRacks,
};
use myelin_coord::{CommittedOffset, TopicPartition};
use myelin_log::compression::{compress, Compression};
use myelin_log::record::{encode_record, BatchBuilder};

fn batch(codec: Compression, base_offset: i64, n: i32, value_len: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..n {
        let key = format!("key-{i}");
        let value = vec![b'a' + (i % 26) as u8; value_len];
        let headers: &[(&[u8], Option<&[u8]>)] = if i % 2 == 0 {
            &[(b"h", Some(b"v")), (b"h", None)]
        } else {
            &[]
        };
        let value = if i == n - 1 && n > 2 {
            None
        } else {
            Some(&value[..])
        };
        encode_record(
            &mut raw,
            0,
            i64::from(i * 3),
            i,
            Some(key.as_bytes()),
            value,
            headers,
        );
    }
    BatchBuilder {
        base_offset,
        compression: codec,
        last_offset_delta: n - 1,
        base_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000 + i64::from((n - 1) * 3),
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
    let mut segment = Vec::new();
    let mut offset = 0;
    for codec in Compression::ALL {
        let b = batch(codec, offset, 3, 20);
        write(
            &root.join("batch_validate"),
            &format!("seed-valid-{codec}"),
            &b,
        );
        offset += 3;
        segment.extend_from_slice(&b);
        // The records section alone, for the record decoder: count, then records.
        let mut raw = Vec::new();
        encode_record(
            &mut raw,
            0,
            -5,
            0,
            Some(b"k"),
            Some(b"value"),
            &[(b"h", None)],
        );
        encode_record(&mut raw, 0, 7, 1, None, None, &[]);
        let mut records = 2i32.to_be_bytes().to_vec();
        records.extend_from_slice(&raw);
        write(&root.join("record_decode"), "seed-two-records", &records);
        // Codec streams, behind the selector byte that picks the codec.
        let mut stream = vec![codec.id() as u8 + 5 * 16];
        stream.extend(compress(codec, &raw).unwrap());
        write(
            &root.join("decompress"),
            &format!("seed-stream-{codec}"),
            &stream,
        );
    }
    write(&root.join("batch_validate"), "seed-garbage", &garbage);
    write(
        &root.join("batch_validate"),
        "seed-header-only",
        &batch(Compression::None, 0, 1, 0)[..61],
    );
    write(&root.join("record_decode"), "seed-garbage", &garbage);
    write(&root.join("decompress"), "seed-garbage", &garbage);
    // Segments: flags byte (bit 0: an index follows, bit 1: open as clean), index length.
    let mut plain = vec![0u8, 0, 0];
    plain.extend_from_slice(&segment);
    write(&root.join("segment_recovery"), "seed-segment", &plain);
    let mut torn = plain.clone();
    torn.truncate(torn.len() - 17);
    write(&root.join("segment_recovery"), "seed-segment-torn", &torn);
    let first_len = batch(Compression::None, 0, 3, 20).len() as u32;
    let mut index = Vec::new();
    index.extend_from_slice(&2i32.to_be_bytes());
    index.extend_from_slice(&0u32.to_be_bytes());
    index.extend_from_slice(&5i32.to_be_bytes());
    index.extend_from_slice(&first_len.to_be_bytes());
    let mut with_index = vec![3u8];
    with_index.extend_from_slice(&(index.len() as u16).to_be_bytes());
    with_index.extend_from_slice(&index);
    with_index.extend_from_slice(&segment);
    write(
        &root.join("segment_recovery"),
        "seed-segment-with-index",
        &with_index,
    );
    let mut junk = vec![1u8, 0, 16];
    junk.extend_from_slice(&garbage);
    write(&root.join("segment_recovery"), "seed-garbage", &junk);
    group_records(&root.join("group_records"));
    for target in ["request_decode", "request_handle"] {
        requests(&root.join(target), &batch(Compression::Lz4, 0, 3, 20));
    }
    index_open(&root.join("index_open"), &garbage);
    metadata_replay(&root.join("metadata_replay"), &garbage);
}

/// A request frame (without its size prefix): header at the version the API key wants,
/// then the body.
fn request_frame(key: ApiKey, version: i16, body: &[u8], tagged: bool) -> Vec<u8> {
    let mut header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(0x5eed)
        .with_client_id(Some(StrBytes::from_static_str("seed")));
    let header_version = key.request_header_version(version);
    if tagged && header_version >= 2 {
        header
            .unknown_tagged_fields
            .insert(77, Bytes::from_static(b"header-tag"));
    }
    let mut buf = BytesMut::new();
    header.encode(&mut buf, header_version).unwrap();
    buf.extend_from_slice(body);
    buf.to_vec()
}

/// The default body of `key`'s request at `version` (with an unknown tagged field when
/// `tagged`), or `None` when it does not encode at that version.
fn default_body(key: ApiKey, version: i16, tagged: bool) -> Option<Vec<u8>> {
    use kafka_protocol::messages::*;
    let mut buf = BytesMut::new();
    macro_rules! bodies {
        ($($k:ident => $t:ty),* $(,)?) => {
            match key {
                $(ApiKey::$k => {
                    let mut r = <$t>::default();
                    if tagged {
                        r.unknown_tagged_fields.insert(999, Bytes::from_static(b"body-tag"));
                    }
                    r.encode(&mut buf, version).ok()?;
                })*
                // Never flexible: no tagged fields.
                ApiKey::OffsetDelete => OffsetDeleteRequest::default().encode(&mut buf, version).ok()?,
                ApiKey::SaslHandshake => SaslHandshakeRequest::default().encode(&mut buf, version).ok()?,
                _ => return None,
            }
        };
    }
    bodies!(
        Produce => ProduceRequest,
        Fetch => FetchRequest,
        ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest,
        DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
        DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest,
        DescribeLogDirs => DescribeLogDirsRequest,
        CreatePartitions => CreatePartitionsRequest,
        DeleteGroups => DeleteGroupsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        DescribeCluster => DescribeClusterRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        ListTransactions => ListTransactionsRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
        ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
        WriteTxnMarkers => WriteTxnMarkersRequest,
        DescribeAcls => DescribeAclsRequest,
        CreateAcls => CreateAclsRequest,
        DeleteAcls => DeleteAclsRequest,
        AlterReplicaLogDirs => AlterReplicaLogDirsRequest,
        SaslAuthenticate => SaslAuthenticateRequest,
        ElectLeaders => ElectLeadersRequest,
        AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest,
        DescribeClientQuotas => DescribeClientQuotasRequest,
        AlterClientQuotas => AlterClientQuotasRequest,
        DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest,
        DescribeQuorum => DescribeQuorumRequest,
        DescribeProducers => DescribeProducersRequest,
        ListConfigResources => ListConfigResourcesRequest,
        DescribeTopicPartitions => DescribeTopicPartitionsRequest,
        ShareGroupHeartbeat => ShareGroupHeartbeatRequest,
        ShareGroupDescribe => ShareGroupDescribeRequest,
        ShareFetch => ShareFetchRequest,
        ShareAcknowledge => ShareAcknowledgeRequest,
        DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest,
        AlterShareGroupOffsets => AlterShareGroupOffsetsRequest,
        DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest,
    );
    Some(buf.to_vec())
}

/// Seeds of the versions newer than the codec's, which the handlers read themselves: the
/// codec's last version with the fields the next one adds put in by hand.
fn above_codec(dir: &Path) {
    use kafka_protocol::messages::share_acknowledge_request::{
        AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatch,
    };
    use kafka_protocol::messages::share_fetch_request::{
        AcknowledgementBatch, FetchPartition, FetchTopic,
    };
    use kafka_protocol::messages::{GroupId, ShareAcknowledgeRequest, ShareFetchRequest};
    // Inserts `extra` into `body` at `at`.
    let splice = |body: &[u8], at: usize, extra: &[u8]| {
        let mut out = body[..at].to_vec();
        out.extend_from_slice(extra);
        out.extend_from_slice(&body[at..]);
        out
    };
    let group = Some(GroupId(StrBytes::from_static_str("g")));
    let member = Some(StrBytes::from_static_str("m"));
    // Both ids are one-byte compact strings: 2 bytes each.
    let ids = 4;

    // DescribeShareGroupOffsets v1: v0's request.
    let body = default_body(ApiKey::DescribeShareGroupOffsets, 0, false).unwrap();
    let frame = request_frame(ApiKey::DescribeShareGroupOffsets, 1, &body, false);
    served(&frame);
    write(dir, "seed-describesharegroupoffsets-v1-by-hand", &frame);

    // ShareFetch v2: ShareAcquireMode and IsRenewAck after the six int32s.
    let topic = FetchTopic::default()
        .with_topic_id(uuid::Uuid::from_u128(7))
        .with_partitions(vec![FetchPartition::default()
            .with_partition_index(0)
            .with_acknowledgement_batches(vec![AcknowledgementBatch::default()
                .with_first_offset(0)
                .with_last_offset(2)
                .with_acknowledge_types(vec![4])])]);
    let request = ShareFetchRequest::default()
        .with_group_id(group.clone())
        .with_member_id(member.clone())
        .with_share_session_epoch(1)
        .with_max_records(3)
        .with_batch_size(3)
        .with_topics(vec![topic]);
    let mut v1 = BytesMut::new();
    request.encode(&mut v1, 1).unwrap();
    for (mode, renew, name) in [(1u8, 1u8, "renew"), (0, 0, "batch-optimized")] {
        let body = splice(&v1, ids + 24, &[mode, renew]);
        let frame = request_frame(ApiKey::ShareFetch, 2, &body, false);
        served(&frame);
        write(dir, &format!("seed-sharefetch-v2-{name}-by-hand"), &frame);
    }

    // ShareAcknowledge v2: IsRenewAck after the session epoch.
    let request = ShareAcknowledgeRequest::default()
        .with_group_id(group)
        .with_member_id(member)
        .with_share_session_epoch(2)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(uuid::Uuid::from_u128(7))
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(vec![AckBatch::default()
                    .with_first_offset(0)
                    .with_last_offset(0)
                    .with_acknowledge_types(vec![4])])])]);
    let mut v1 = BytesMut::new();
    request.encode(&mut v1, 1).unwrap();
    let body = splice(&v1, ids + 4, &[1]);
    let frame = request_frame(ApiKey::ShareAcknowledge, 2, &body, false);
    served(&frame);
    write(dir, "seed-shareacknowledge-v2-renew-by-hand", &frame);
}

/// Checks that the server decodes `frame` whole: the seed reaches its API's decoder.
fn served(frame: &[u8]) {
    if let Err(e) = myelin_server::apis::decode_frame(Bytes::copy_from_slice(frame)) {
        panic!("a seed the server does not decode: {e}");
    }
}

/// For every API in the server's registration table: its default request at the lowest
/// and highest version served and at the first flexible one, the highest again with
/// unknown tagged fields in the header and the body, one version past the highest, and a
/// Produce carrying a record batch.
fn requests(dir: &Path, batch: &[u8]) {
    for entry in myelin_server::apis::APIS {
        let key = entry.key;
        let name = entry.name.to_lowercase();
        let first_flexible =
            (entry.min_version..=entry.max_version).find(|v| key.request_header_version(*v) >= 2);
        // Versions below the codec's range (OffsetCommit v0-1) do not encode here: their
        // seeds are written by hand below.
        let lowest = if entry.below_codec {
            entry.min_version.max(key.valid_versions().min)
        } else {
            entry.min_version
        };
        // Versions above the codec's range (ShareFetch v2) do not encode here either: by
        // hand below.
        let highest = if entry.above_codec {
            entry.max_version.min(key.valid_versions().max)
        } else {
            entry.max_version
        };
        let mut versions = vec![lowest, highest];
        versions.extend(first_flexible);
        versions.sort();
        versions.dedup();
        for v in versions {
            // A default request the codec refuses to write (the delegation-token APIs')
            // gets no seed.
            let Some(body) = default_body(key, v, false) else {
                eprintln!("no seed: the default {name} v{v} request does not encode");
                continue;
            };
            let frame = request_frame(key, v, &body, false);
            served(&frame);
            write(dir, &format!("seed-default-{name}-v{v}"), &frame);
        }
        let v = highest;
        if key.request_header_version(v) >= 2 {
            if let Some(body) = default_body(key, v, true) {
                let frame = request_frame(key, v, &body, true);
                served(&frame);
                write(dir, &format!("seed-default-{name}-v{v}-tagged"), &frame);
            }
        }
        write(
            dir,
            &format!("seed-default-{name}-v{}-unserved", entry.max_version + 1),
            &request_frame(key, entry.max_version + 1, &[], false),
        );
    }
    above_codec(dir);
    // OffsetCommit v0 and v1 (Sarama commits with v1), read by the handler itself.
    fn string(buf: &mut Vec<u8>, s: &str) {
        buf.extend_from_slice(&(s.len() as i16).to_be_bytes());
        buf.extend_from_slice(s.as_bytes());
    }
    for v in [0i16, 1] {
        let mut body = Vec::new();
        string(&mut body, "group");
        if v == 1 {
            body.extend_from_slice(&(-1i32).to_be_bytes()); // generation
            string(&mut body, ""); // member
        }
        body.extend_from_slice(&1i32.to_be_bytes());
        string(&mut body, "orders");
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes()); // partition
        body.extend_from_slice(&5i64.to_be_bytes()); // offset
        if v == 1 {
            body.extend_from_slice(&(-1i64).to_be_bytes()); // commit timestamp
        }
        string(&mut body, "meta");
        let frame = request_frame(ApiKey::OffsetCommit, v, &body, false);
        served(&frame);
        write(dir, &format!("seed-offsetcommit-v{v}-by-hand"), &frame);
    }
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::copy_from_slice(batch)))])]);
    // Requests with content: a topic created, fetched from.
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{CreateTopicsRequest, FetchRequest};
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(1000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_num_partitions(2)
            .with_replication_factor(1)]);
    let mut body = BytesMut::new();
    create.encode(&mut body, 7).unwrap();
    write(
        dir,
        "seed-createtopics-v7-orders",
        &request_frame(ApiKey::CreateTopics, 7, &body, false),
    );
    let fetch = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let mut body = BytesMut::new();
    fetch.encode(&mut body, 11).unwrap();
    write(
        dir,
        "seed-fetch-v11-orders",
        &request_frame(ApiKey::Fetch, 11, &body, false),
    );
    let entry = myelin_server::apis::find(ApiKey::Produce as i16).unwrap();
    for v in [entry.min_version, 9] {
        let mut body = BytesMut::new();
        produce.encode(&mut body, v).unwrap();
        write(
            dir,
            &format!("seed-produce-v{v}-batch"),
            &request_frame(ApiKey::Produce, v, &body, false),
        );
    }
}

/// Flags byte (bits 0-1: segment, bits 2-4: offset/time/txn index, bit 5: clean shutdown,
/// bit 6: XOR), then a 2-byte length and bytes per chosen index.
fn index_open(dir: &Path, garbage: &[u8]) {
    let with = |flags: u8, parts: &[&[u8]]| {
        let mut v = vec![flags];
        for p in parts {
            v.extend_from_slice(&(p.len() as u16).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    };
    write(dir, "seed-intact-crash", &[0]);
    write(dir, "seed-intact-clean", &[0x20]);
    write(
        dir,
        "seed-offset-garbage-clean",
        &with(0x24, &[&garbage[..64]]),
    );
    write(
        dir,
        "seed-time-garbage-clean",
        &with(0x29, &[&garbage[..96]]),
    );
    write(
        dir,
        "seed-txn-garbage-clean",
        &with(0x32, &[&garbage[..68]]),
    );
    write(dir, "seed-all-empty-clean", &with(0x3c, &[&[], &[], &[]]));
    write(
        dir,
        "seed-offset-flip-clean",
        &with(0x64, &[&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]),
    );
    write(
        dir,
        "seed-time-flip-clean",
        &with(0x68, &[&[0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0]]),
    );
    write(
        dir,
        "seed-txn-flip-crash",
        &with(0x51, &[&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]]),
    );
}

/// Mode byte (bit 0: raw file bytes, bit 1: with the header, bit 2: a raw tail), then
/// JSON records separated by 0xff, or the file.
fn metadata_replay(dir: &Path, garbage: &[u8]) {
    use myelin_cluster::{BrokerConfigScope, MetadataLog, MetadataRecord, TopicId};
    let topic_id = TopicId(uuid::Uuid::from_u128(0x4f72_6465_7273));
    let configs = |k: &str, v: &str| [(k.to_string(), v.to_string())].into();
    let records = [
        MetadataRecord::TopicCreated {
            name: "orders".into(),
            topic_id,
            partitions: 3,
            configs: configs("cleanup.policy", "compact"),
        },
        MetadataRecord::PartitionsCreated {
            topic_id,
            new_total: 6,
        },
        MetadataRecord::TopicConfigAltered {
            topic_id,
            configs: configs("retention.ms", "60000"),
        },
        MetadataRecord::BrokerConfigAltered {
            scope: BrokerConfigScope::ClusterDefault,
            configs: configs("log.retention.ms", "1000"),
        },
        MetadataRecord::BrokerConfigAltered {
            scope: BrokerConfigScope::Broker(1),
            configs: Default::default(),
        },
        MetadataRecord::ProducerIdsAllocated {
            block_start: 0,
            block_size: 1000,
        },
        MetadataRecord::TopicDeleted { topic_id },
    ];
    let json: Vec<Vec<u8>> = records
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect();
    let joined = |parts: &[Vec<u8>]| parts.join(&[0xff][..]);
    let mut valid = vec![0u8];
    valid.extend(joined(&json));
    write(dir, "seed-records", &valid);
    // A refused record: the topic is deleted before its partitions grow.
    let mut refused = vec![0u8];
    refused.extend(joined(&[json[0].clone(), json[6].clone(), json[1].clone()]));
    write(dir, "seed-records-refused", &refused);
    let mut torn = vec![4u8];
    torn.extend(joined(&json[..3]));
    torn.extend_from_slice(&[0xff, 0, 0, 0, 40, 1, 2]);
    write(dir, "seed-records-torn", &torn);
    // A whole file written by the log itself.
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = MetadataLog::open(tmp.path()).unwrap();
        for r in &records[..4] {
            log.append(r).unwrap();
        }
    }
    let file = std::fs::read(tmp.path().join(myelin_cluster::log::METADATA_LOG_FILE)).unwrap();
    let mut whole = vec![3u8];
    whole.extend_from_slice(&file);
    write(dir, "seed-file", &whole);
    let mut zeros = vec![1u8];
    zeros.extend_from_slice(&file[16..]);
    zeros.extend_from_slice(&[0; 40]);
    write(dir, "seed-file-zero-tail", &zeros);
    let mut junk = vec![1u8];
    junk.extend_from_slice(garbage);
    write(dir, "seed-garbage", &junk);
}

/// `__consumer_offsets` keys and values of every version, and a whole record behind the
/// byte that splits it into key and value.
fn group_records(dir: &Path) {
    let tp = TopicPartition::new("orders", 3);
    let offset_key = encode_offset_commit_key("payments", &tp).unwrap();
    write(dir, "seed-offset-key", &offset_key);
    write(
        dir,
        "seed-group-key",
        &encode_group_metadata_key("payments").unwrap(),
    );
    // A ConsumerGroupRegularExpressionKey (type 16): skipped by the decoder.
    write(
        dir,
        "seed-other-key",
        &[
            0, 16, 0, 8, b'p', b'a', b'y', b'm', b'e', b'n', b't', b's', 0, 2, b'.', b'*',
        ],
    );
    let offset = CommittedOffset {
        offset: 1042,
        leader_epoch: Some(7),
        metadata: Some("checkpoint".into()),
        commit_timestamp_ms: 1_700_000_000_000,
        expire_timestamp_ms: Some(1_700_604_800_000),
    };
    for version in [0, 1, 3, 4] {
        let value = encode_offset_commit_value_version(&offset, version).unwrap();
        write(dir, &format!("seed-offset-value-v{version}"), &value);
        if version == 3 {
            let mut record = vec![offset_key.len() as u8];
            record.extend_from_slice(&offset_key);
            record.extend_from_slice(&value);
            write(dir, "seed-offset-record", &record);
        }
    }
    let member = |id: &str, instance: Option<&str>| MemberMetadata {
        member_id: id.into(),
        group_instance_id: instance.map(str::to_owned),
        client_id: "consumer-payments-1".into(),
        client_host: "/10.0.0.7".into(),
        rebalance_timeout_ms: 300_000,
        session_timeout_ms: 45_000,
        subscription: vec![0, 3, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's'].into(),
        assignment: vec![
            0, 3, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 1, 0, 0, 0, 3,
        ]
        .into(),
    };
    let group = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 12,
        protocol: Some("range".into()),
        leader: Some("m-1".into()),
        current_state_timestamp_ms: Some(1_700_000_000_000),
        members: vec![member("m-1", None), member("m-2", Some("pod-2"))],
    };
    for version in [0, 3, 4] {
        let value = group.encode_version(version).unwrap();
        write(dir, &format!("seed-group-value-v{version}"), &value);
    }
    let empty = GroupMetadataValue {
        protocol: None,
        leader: None,
        members: vec![],
        ..group
    };
    write(dir, "seed-group-value-empty", &empty.encode().unwrap());
    consumer_group_records(dir);
    share_group_records(dir);
}

/// `__share_group_state` keys and values: a share-partition's state, a share group.
fn share_group_records(dir: &Path) {
    use myelin_coord::share::partition::StateBatch;
    use myelin_coord::share::records::{encode_group_value, PartitionStateValue, ShareKey};
    let key = ShareKey::Partition {
        group: "workers".into(),
        topic_id: TopicId([0x4f; 16]),
        partition: 2,
    };
    write(dir, "seed-share-partition-key", &key.encode().unwrap());
    let value = PartitionStateValue {
        start_offset: 1200,
        state_epoch: 0,
        batches: vec![
            StateBatch {
                first_offset: 1200,
                last_offset: 1209,
                state: 0,
                delivery_count: 2,
            },
            StateBatch {
                first_offset: 1210,
                last_offset: 1219,
                state: 2,
                delivery_count: 1,
            },
            StateBatch {
                first_offset: 1220,
                last_offset: 1220,
                state: 4,
                delivery_count: 5,
            },
        ],
    };
    write(dir, "seed-share-partition-value", &value.encode().unwrap());
    let group = ShareKey::Group {
        group: "workers".into(),
    };
    write(dir, "seed-share-group-key", &group.encode().unwrap());
    write(dir, "seed-share-group-value", &encode_group_value(7));
}

/// A KIP-848 consumer group's records (types 3-8): each key and value, and each whole
/// record behind its split byte.
fn consumer_group_records(dir: &Path) {
    let orders = TopicId([0x4f; 16]);
    let refunds = TopicId([0x52; 16]);
    let assignment = |ps: &[(TopicId, i32)]| ps.iter().copied().collect::<Assignment>();
    let records = [
        (
            "metadata",
            ConsumerGroupRecord::Metadata {
                value: Some(ConsumerGroupMetadataValue {
                    epoch: 12,
                    metadata_hash: 0x5eed_5eed_5eed_5eed,
                }),
            },
        ),
        (
            "partition-metadata",
            ConsumerGroupRecord::PartitionMetadata {
                value: Some(ConsumerGroupPartitionMetadataValue {
                    topics: vec![
                        PartitionMetadataTopic {
                            topic_id: orders,
                            topic_name: "orders".into(),
                            num_partitions: 6,
                            partition_racks: vec![PartitionRacks {
                                partition: 0,
                                racks: vec!["rack-a".into(), "rack-b".into()],
                            }],
                        },
                        PartitionMetadataTopic {
                            topic_id: refunds,
                            topic_name: "refunds".into(),
                            num_partitions: 2,
                            partition_racks: vec![],
                        },
                    ],
                }),
            },
        ),
        (
            "member-metadata",
            ConsumerGroupRecord::MemberMetadata {
                member_id: "m-1".into(),
                value: Some(ConsumerGroupMemberMetadataValue {
                    instance_id: Some("pod-1".into()),
                    rack_id: Some("rack-a".into()),
                    client_id: "consumer-payments-1".into(),
                    client_host: "/10.0.0.7".into(),
                    subscribed_topic_names: vec!["orders".into(), "refunds".into()],
                    subscribed_topic_regex: None,
                    rebalance_timeout_ms: 300_000,
                    server_assignor: Some("uniform".into()),
                    classic_member_metadata: Some(vec![1, 0, 0, 0xaf, 0xc8, 1, 0].into()),
                }),
            },
        ),
        (
            "target-metadata",
            ConsumerGroupRecord::TargetAssignmentMetadata {
                value: Some(ConsumerGroupTargetAssignmentMetadataValue {
                    assignment_epoch: 12,
                }),
            },
        ),
        (
            "target-member",
            ConsumerGroupRecord::TargetAssignmentMember {
                member_id: "m-1".into(),
                value: Some(ConsumerGroupTargetAssignmentMemberValue {
                    partitions: assignment(&[(orders, 0), (orders, 1), (refunds, 0)]),
                }),
            },
        ),
        (
            "current-assignment",
            ConsumerGroupRecord::CurrentMemberAssignment {
                member_id: "m-1".into(),
                value: Some(ConsumerGroupCurrentMemberAssignmentValue {
                    member_epoch: 11,
                    previous_member_epoch: 10,
                    state: 1,
                    assigned_partitions: assignment(&[(orders, 0), (orders, 1)]),
                    partitions_pending_revocation: assignment(&[(orders, 2)]),
                }),
            },
        ),
    ];
    for (name, record) in records {
        let key = record.encode_key("payments").unwrap();
        let value = record.encode_value().unwrap().unwrap();
        write(dir, &format!("seed-consumer-{name}-key"), &key);
        write(dir, &format!("seed-consumer-{name}-value"), &value);
        let mut whole = vec![key.len() as u8];
        whole.extend_from_slice(&key);
        whole.extend_from_slice(&value);
        write(dir, &format!("seed-consumer-{name}-record"), &whole);
    }
}
