//! Metadata over real TCP: the broker and the topics of the metadata state.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::TestServer;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use myelin_cluster::{FileMetadataStore, MetadataRecord, MetadataStore, TopicId};
use myelin_server::Config;
use uuid::Uuid;

const ORDERS: Uuid = Uuid::from_u128(0x1111);
const AUDIT: Uuid = Uuid::from_u128(0x2222);

async fn server_with_topics() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = FileMetadataStore::open(dir.path()).unwrap();
    for (name, id, partitions) in [("orders", ORDERS, 3), ("audit", AUDIT, 1)] {
        store
            .commit(MetadataRecord::TopicCreated {
                name: name.into(),
                topic_id: TopicId(id),
                partitions,
                configs: BTreeMap::new(),
            })
            .unwrap();
    }
    let config = Config {
        node_id: 7,
        advertised_host: "broker.test".into(),
        advertised_port: 19092,
        cluster_id: Some("myelin-test-cluster".into()),
        // These tests ask for topics that do not exist and expect them not to be created.
        broker_configs: BTreeMap::from([(
            "auto.create.topics.enable".to_string(),
            "false".to_string(),
        )]),
        ..Config::default()
    };
    TestServer::start_with(config, Arc::new(store), dir).await
}

fn by_name(names: &[&str]) -> Vec<MetadataRequestTopic> {
    names
        .iter()
        .map(|n| {
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
        })
        .collect()
}

async fn metadata(
    client: &mut common::Client,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    client.send(ApiKey::Metadata, version, 5, &request).await;
    let header = ApiKey::Metadata.response_header_version(version);
    let (correlation_id, response) = client.read(header, version).await;
    assert_eq!(correlation_id, 5);
    response
}

#[tokio::test]
async fn every_version_lists_the_broker_and_all_topics() {
    let server = server_with_topics().await;
    let mut client = server.connect().await;
    for version in 0..=12i16 {
        // "All topics": an empty list in v0, null from v1.
        let request = if version == 0 {
            MetadataRequest::default().with_topics(Some(Vec::new()))
        } else {
            MetadataRequest::default().with_topics(None)
        };
        let r = metadata(&mut client, version, request).await;
        assert_eq!(r.brokers.len(), 1, "v{version}");
        let b = &r.brokers[0];
        assert_eq!(
            (b.node_id.0, b.host.as_str(), b.port),
            (7, "broker.test", 19092)
        );
        if version >= 1 {
            assert_eq!(r.controller_id.0, 7);
        }
        if version >= 2 {
            assert_eq!(r.cluster_id.as_deref(), Some("myelin-test-cluster"));
        }
        let names: Vec<_> = r
            .topics
            .iter()
            .map(|t| t.name.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(names, ["audit", "orders"], "v{version}");
        let orders = &r.topics[1];
        assert_eq!(orders.error_code, 0);
        assert_eq!(orders.partitions.len(), 3);
        for (i, p) in orders.partitions.iter().enumerate() {
            assert_eq!(p.partition_index, i as i32);
            assert_eq!(p.leader_id.0, 7);
            assert_eq!(p.replica_nodes.iter().map(|n| n.0).collect::<Vec<_>>(), [7]);
            assert_eq!(p.isr_nodes.iter().map(|n| n.0).collect::<Vec<_>>(), [7]);
            if version >= 7 {
                assert_eq!(p.leader_epoch, 0);
            }
        }
        if version >= 10 {
            assert_eq!(orders.topic_id, ORDERS);
        }
        if version >= 8 {
            assert_eq!(orders.topic_authorized_operations, i32::MIN);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn requested_topics_and_unknown_ones() {
    let server = server_with_topics().await;
    let mut client = server.connect().await;
    for version in [1i16, 4, 9, 12] {
        let r = metadata(
            &mut client,
            version,
            MetadataRequest::default().with_topics(Some(by_name(&["orders", "nope", "orders"]))),
        )
        .await;
        let got: Vec<_> = r
            .topics
            .iter()
            .map(|t| (t.name.as_ref().unwrap().as_str(), t.error_code))
            .collect();
        // Duplicates are answered once; unknown topics get UNKNOWN_TOPIC_OR_PARTITION.
        assert_eq!(got, [("orders", 0), ("nope", 3)], "v{version}");

        // From v1 an empty list means no topics.
        let r = metadata(
            &mut client,
            version,
            MetadataRequest::default().with_topics(Some(Vec::new())),
        )
        .await;
        assert!(r.topics.is_empty());
    }
    server.stop().await;
}

/// Topics by id (v12+, KIP-516), the name beside each id null or, as the Java admin
/// client's `describeTopics(TopicCollection.ofTopicIds(..))` sends it, the name field's
/// default "": the id is what Kafka looks up.
#[tokio::test]
async fn topics_by_id_from_v12() {
    let server = server_with_topics().await;
    let mut client = server.connect().await;
    let unknown = Uuid::from_u128(0x9999);
    for name in [None, Some(TopicName(StrBytes::from_static_str("")))] {
        let request = MetadataRequest::default().with_topics(Some(
            [AUDIT, unknown]
                .into_iter()
                .map(|id| {
                    MetadataRequestTopic::default()
                        .with_topic_id(id)
                        .with_name(name.clone())
                })
                .collect(),
        ));
        let r = metadata(&mut client, 12, request).await;
        assert_eq!(r.topics.len(), 2);
        assert_eq!(
            (r.topics[0].error_code, r.topics[0].topic_id),
            (0, AUDIT),
            "{name:?}"
        );
        assert_eq!(r.topics[0].name.as_ref().unwrap().as_str(), "audit");
        assert_eq!(
            (r.topics[1].error_code, r.topics[1].topic_id),
            (100, unknown)
        );
        assert!(r.topics[1].name.is_none());
    }
    server.stop().await;
}

#[tokio::test]
async fn authorized_operations_when_asked() {
    let server = server_with_topics().await;
    let mut client = server.connect().await;
    let request = MetadataRequest::default()
        .with_topics(Some(by_name(&["audit"])))
        .with_include_cluster_authorized_operations(true)
        .with_include_topic_authorized_operations(true);
    let r = metadata(&mut client, 8, request).await;
    assert_eq!(r.cluster_authorized_operations, 8096);
    assert_eq!(r.topics[0].topic_authorized_operations, 3576);
    server.stop().await;
}

/// Metadata v13 (outside the served range, inside the codec's) gets a v13 body with the
/// top-level UNSUPPORTED_VERSION; a version no codec knows closes the connection.
#[tokio::test]
async fn versions_outside_the_range() {
    let server = server_with_topics().await;
    let mut client = server.connect().await;
    client
        .send(ApiKey::Metadata, 13, 31, &MetadataRequest::default())
        .await;
    let (correlation_id, r): (i32, MetadataResponse) = client.read(1, 13).await;
    assert_eq!((correlation_id, r.error_code), (31, 35));
    assert!(r.topics.is_empty());

    let mut frame =
        common::request_frame(ApiKey::Metadata, 13, 32, &MetadataRequest::default()).to_vec();
    frame[6..8].copy_from_slice(&14i16.to_be_bytes());
    client.send_raw(&frame).await;
    client.expect_closed().await;
    server.stop().await;
}

/// A tiny request declaring a huge topic count is refused before the codec reserves
/// memory for it.
#[tokio::test]
async fn absurd_topic_count_closes_the_connection() {
    let server = server_with_topics().await;
    let mut client = server.connect().await;
    let mut frame =
        common::request_frame(ApiKey::Metadata, 1, 1, &MetadataRequest::default()).to_vec();
    // Header v1: key, version, correlation id, client id "myelin-tests" (2 + 12 bytes);
    // then the topics count, replaced by i32::MAX.
    let at = 4 + 8 + 2 + 12;
    frame.truncate(at);
    frame.extend_from_slice(&i32::MAX.to_be_bytes());
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    client.send_raw(&frame).await;
    client.expect_closed().await;
    server.stop().await;
}
