//! ListOffsets, OffsetForLeaderEpoch and DeleteRecords over real TCP.

mod common;

use common::data::*;
use common::{Client, TestServer};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset;
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use kafka_protocol::ResponseError;
use myelin_log::compression::Compression;
use myelin_server::Config;

async fn list(
    client: &mut Client,
    version: i16,
    topic: &str,
    partitions: &[(i32, i64)],
    isolation_level: i8,
) -> Vec<ListOffsetsPartitionResponse> {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, timestamp)| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )]);
    let r: ListOffsetsResponse = client.call(ApiKey::ListOffsets, version, &request).await;
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].name.as_str(), topic);
    r.topics[0].partitions.clone()
}

/// (error, offset, timestamp, leader epoch) of a one-partition lookup.
async fn list_one(client: &mut Client, version: i16, timestamp: i64) -> (i16, i64, i64, i32) {
    let r = list(client, version, "t", &[(0, timestamp)], 0).await;
    let p = &r[0];
    (p.error_code, p.offset, p.timestamp, p.leader_epoch)
}

/// Three batches of two records at timestamps 1000, 3000 and 2000 (offsets 0-1, 2-3, 4-5).
async fn server_with_records() -> (TestServer, Client) {
    let server = TestServer::start(Config::default()).await;
    create_topic(&server, "t", 1, &[]);
    let mut client = server.connect().await;
    for ts in [1_000, 3_000, 2_000] {
        let r = produce(&mut client, 9, "t", 0, batch("r", 2, ts, Compression::None)).await;
        assert_eq!(r.error_code, 0);
    }
    (server, client)
}

#[tokio::test]
async fn list_offsets_every_spec_in_every_version() {
    let (server, mut client) = server_with_records().await;
    for version in 1..=8i16 {
        // leader_epoch is sent from v4 only.
        let epoch = if version >= 4 { 0 } else { -1 };
        assert_eq!(
            list_one(&mut client, version, -2).await,
            (0, 0, -1, epoch),
            "v{version} earliest"
        );
        assert_eq!(
            list_one(&mut client, version, -1).await,
            (0, 6, -1, epoch),
            "v{version} latest"
        );
        // The first record at or after the time.
        assert_eq!(
            list_one(&mut client, version, 1_500).await,
            (0, 2, 3_000, epoch)
        );
        assert_eq!(
            list_one(&mut client, version, 2_000).await,
            (0, 2, 3_000, epoch)
        );
        assert_eq!(
            list_one(&mut client, version, 0).await,
            (0, 0, 1_000, epoch)
        );
        // Nothing that late: -1 and -1, no error.
        assert_eq!(list_one(&mut client, version, 9_000).await, (0, -1, -1, -1));
        if version >= 7 {
            // The first record with the largest timestamp (KIP-734).
            assert_eq!(list_one(&mut client, version, -3).await, (0, 2, 3_000, 0));
        }
        if version >= 8 {
            // Earliest local (KIP-405): no tiered storage, the log start offset.
            assert_eq!(list_one(&mut client, version, -4).await, (0, 0, -1, 0));
        }
        // read_committed (v2+): the last stable offset.
        if version >= 2 {
            let r = list(&mut client, version, "t", &[(0, -1)], 1).await;
            assert_eq!(r[0].offset, 6);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn list_offsets_errors() {
    let (server, mut client) = server_with_records().await;
    let r = list(&mut client, 5, "t", &[(0, -1), (3, -1), (0, -2)], 0).await;
    // A partition named twice: INVALID_REQUEST for both; an unknown one.
    assert_eq!(r[0].error_code, ResponseError::InvalidRequest.code());
    assert_eq!(
        r[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(r[2].error_code, ResponseError::InvalidRequest.code());
    assert_eq!((r[1].offset, r[1].timestamp), (-1, -1));
    let r = list(&mut client, 5, "nope", &[(0, -1)], 0).await;
    assert_eq!(
        r[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    // current_leader_epoch (v4+): above ours, below ours.
    for (epoch, error) in [
        (1, ResponseError::UnknownLeaderEpoch),
        (-2, ResponseError::FencedLeaderEpoch),
    ] {
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_current_leader_epoch(epoch)
                    .with_timestamp(-1)])]);
        let r: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 6, &request).await;
        assert_eq!(r.topics[0].partitions[0].error_code, error.code());
    }
    server.stop().await;
}

async fn end_offset(
    client: &mut Client,
    version: i16,
    topic: &str,
    current: i32,
    epoch: i32,
) -> EpochEndOffset {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)])]);
    let r: OffsetForLeaderEpochResponse = client
        .call(ApiKey::OffsetForLeaderEpoch, version, &request)
        .await;
    assert_eq!(r.topics[0].topic.as_str(), topic);
    r.topics[0].partitions[0].clone()
}

#[tokio::test]
async fn offset_for_leader_epoch() {
    let (server, mut client) = server_with_records().await;
    for version in 2..=4i16 {
        // Our epoch: it ends at the log end offset.
        let r = end_offset(&mut client, version, "t", 0, 0).await;
        assert_eq!((r.error_code, r.leader_epoch, r.end_offset), (0, 0, 6));
        let r = end_offset(&mut client, version, "t", -1, 0).await;
        assert_eq!((r.error_code, r.leader_epoch, r.end_offset), (0, 0, 6));
        // An epoch we never had: undefined, without error.
        let r = end_offset(&mut client, version, "t", -1, 4).await;
        assert_eq!((r.error_code, r.leader_epoch, r.end_offset), (0, -1, -1));
        // The client's current epoch is checked.
        let r = end_offset(&mut client, version, "t", 2, 0).await;
        assert_eq!(r.error_code, ResponseError::UnknownLeaderEpoch.code());
        let r = end_offset(&mut client, version, "nope", -1, 0).await;
        assert_eq!(r.error_code, ResponseError::UnknownTopicOrPartition.code());
    }
    server.stop().await;
}

async fn delete(client: &mut Client, version: i16, topic: &str, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(1_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])]);
    let r: DeleteRecordsResponse = client.call(ApiKey::DeleteRecords, version, &request).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

#[tokio::test]
async fn delete_records_moves_the_log_start_offset() {
    let (server, mut client) = server_with_records().await;
    let id = server
        .metadata
        .state()
        .topic_by_name("t")
        .unwrap()
        .topic_id
        .0;
    for version in 0..=2i16 {
        // Beyond the high watermark; negative.
        assert_eq!(
            delete(&mut client, version, "t", 7).await.0,
            ResponseError::OffsetOutOfRange.code()
        );
        assert_eq!(
            delete(&mut client, version, "t", -5).await.0,
            ResponseError::OffsetOutOfRange.code()
        );
    }
    assert_eq!(delete(&mut client, 0, "t", 3).await, (0, 3));
    // Below the log start offset: nothing changes.
    assert_eq!(delete(&mut client, 1, "t", 1).await, (0, 3));
    // Fetching below it is out of range; from it, the batch holding it.
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "t", id, &[(0, 2)], 1 << 20),
    )
    .await;
    assert_eq!(
        only_partition(&f).error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "t", id, &[(0, 3)], 1 << 20),
    )
    .await;
    let p = only_partition(&f);
    assert_eq!((p.error_code, p.log_start_offset), (0, 3));
    assert_eq!(
        split_batches(p.records.as_ref().unwrap())[0].0.base_offset,
        2
    );
    assert_eq!(list_one(&mut client, 5, -2).await.1, 3);
    // -1 means the high watermark.
    assert_eq!(delete(&mut client, 2, "t", -1).await, (0, 6));
    assert_eq!(list_one(&mut client, 5, -2).await.1, 6);
    // Checkpointed before the answer: a restart keeps the records deleted.
    let checkpoint = myelin_log::manager::read_checkpoint(
        &myelin_log::io::RealFs,
        &server
            .dir()
            .join("logs")
            .join(myelin_log::files::LOG_START_OFFSET_CHECKPOINT),
    );
    assert_eq!(checkpoint.get(&("t".to_string(), 0)), Some(&6));

    // Unknown topics; compacted topics refuse.
    assert_eq!(
        delete(&mut client, 2, "nope", 0).await,
        (ResponseError::UnknownTopicOrPartition.code(), -1)
    );
    create_topic(&server, "table", 1, &[("cleanup.policy", "compact")]);
    assert_eq!(
        delete(&mut client, 2, "table", 0).await.0,
        ResponseError::PolicyViolation.code()
    );
    server.stop().await;
}
