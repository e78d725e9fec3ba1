//! Disk faults seen over the wire, against the in-process server: a partition whose
//! directory vanished is offline (Produce and Fetch KAFKA_STORAGE_ERROR, Metadata
//! LEADER_NOT_AVAILABLE with the broker in `offline_replicas`) while the other partition
//! works; a data directory that is gone is KAFKA_STORAGE_ERROR in DescribeLogDirs.
//! The full-disk and failed-disk cases run against the real binary on file systems the
//! test mounts (`tests/tests/disk_faults.rs`).

mod common;

use common::data::*;
use common::TestServer;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeLogDirsRequest, DescribeLogDirsResponse, MetadataRequest,
    MetadataResponse,
};
use kafka_protocol::ResponseError;
use myelin_log::compression::Compression;
use myelin_server::Config;

const NODE: i32 = 2;

fn config() -> Config {
    Config {
        node_id: NODE,
        cluster_id: Some("disk-faults".into()),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_vanished_partition_directory_is_offline_and_the_rest_goes_on() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    let topic_id = create_topic(&server, "v", 2, &[]);
    for p in 0..2 {
        let r = produce(
            &mut client,
            9,
            "v",
            p,
            batch("a", 3, now(), Compression::None),
        )
        .await;
        assert_eq!(r.error_code, 0);
    }
    let logs = server.partitions.logs();
    std::fs::remove_dir_all(logs.data_dir().join("v-0")).unwrap();
    // The maintenance thread's check (background threads are off in these tests).
    assert_eq!(logs.check_log_dirs(), 1);
    assert_eq!(logs.check_log_dirs(), 0, "taken offline once");

    let r = produce(
        &mut client,
        9,
        "v",
        0,
        batch("b", 1, now(), Compression::None),
    )
    .await;
    assert_eq!(r.error_code, ResponseError::KafkaStorageError.code());
    let r = fetch(
        &mut client,
        12,
        &fetch_request(12, "v", topic_id, &[(0, 0)], 1 << 20),
    )
    .await;
    assert_eq!(
        only_partition(&r).error_code,
        ResponseError::KafkaStorageError.code()
    );
    let r = produce(
        &mut client,
        9,
        "v",
        1,
        batch("b", 1, now(), Compression::None),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 3));

    for version in [1i16, 5, 12] {
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("v"))),
        ]));
        let md: MetadataResponse = client.call(ApiKey::Metadata, version, &request).await;
        let parts = &md.topics[0].partitions;
        let p0 = parts.iter().find(|p| p.partition_index == 0).unwrap();
        assert_eq!(
            p0.error_code,
            ResponseError::LeaderNotAvailable.code(),
            "v{version}"
        );
        assert_eq!(p0.leader_id, BrokerId(-1));
        assert!(p0.isr_nodes.is_empty());
        assert_eq!(p0.replica_nodes, vec![BrokerId(NODE)]);
        if version >= 5 {
            assert_eq!(p0.offline_replicas, vec![BrokerId(NODE)]);
        }
        let p1 = parts.iter().find(|p| p.partition_index == 1).unwrap();
        assert_eq!((p1.error_code, p1.leader_id), (0, BrokerId(NODE)));
        assert!(p1.offline_replicas.is_empty());
    }

    // The directory itself is fine: DescribeLogDirs reports no error.
    let r: DescribeLogDirsResponse = client
        .call(
            ApiKey::DescribeLogDirs,
            4,
            &DescribeLogDirsRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_vanished_data_directory_is_a_storage_error_in_describe_log_dirs() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    create_topic(&server, "d", 1, &[]);
    let data_dir = server.partitions.logs().data_dir().to_path_buf();
    let moved = data_dir.with_extension("moved");
    std::fs::rename(&data_dir, &moved).unwrap();
    for version in 1..=4i16 {
        let r: DescribeLogDirsResponse = client
            .call(
                ApiKey::DescribeLogDirs,
                version,
                &DescribeLogDirsRequest::default().with_topics(None),
            )
            .await;
        let dir = &r.results[0];
        assert_eq!(
            dir.error_code,
            ResponseError::KafkaStorageError.code(),
            "v{version}"
        );
        assert!(dir.topics.is_empty());
    }
    std::fs::rename(&moved, &data_dir).unwrap();
    drop(client);
    server.stop().await;
}
