//! FindCoordinator over real TCP: this broker coordinates every group, in every version;
//! the first lookup creates `__consumer_offsets` (compacted, `offsets.topic.num.partitions`
//! partitions), as Kafka does. Transactional ids get COORDINATOR_NOT_AVAILABLE until the
//! transaction coordinator exists.

mod common;

const TXN_TOPIC: &str = "__transaction_state";

use std::collections::BTreeMap;

use common::groups::{s, COORDINATOR_NOT_AVAILABLE, NONE};
use common::{Client, TestServer};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataRequest, MetadataResponse, TopicName,
};
use myelin_server::Config;

const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A broker that tells clients to reach it at broker.test:19092 (not the address the tests
/// connect to), with a 3-partition offsets topic.
fn config() -> Config {
    Config {
        node_id: 0,
        advertised_host: "broker.test".into(),
        advertised_port: 19092,
        broker_configs: BTreeMap::from([(
            "offsets.topic.num.partitions".to_string(),
            "3".to_string(),
        )]),
        ..Config::default()
    }
}

/// FindCoordinator v0-3 for one key: (error, node id, host, port).
async fn find_one(
    client: &mut Client,
    version: i16,
    key: &str,
    key_type: i8,
) -> (i16, i32, String, i32) {
    let mut request = FindCoordinatorRequest::default().with_key(s(key));
    // key_type: v1+ (KIP-98).
    if version >= 1 {
        request.key_type = key_type;
    }
    let r: FindCoordinatorResponse = client
        .call(ApiKey::FindCoordinator, version, &request)
        .await;
    (r.error_code, r.node_id.0, r.host.to_string(), r.port)
}

/// FindCoordinator v4 (KIP-699) for a batch of keys: (key, error, node id, host, port) each.
async fn find_batch(
    client: &mut Client,
    keys: &[&str],
    key_type: i8,
) -> Vec<(String, i16, i32, String, i32)> {
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(keys.iter().map(|k| s(k)).collect());
    let r: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &request).await;
    r.coordinators
        .iter()
        .map(|c| {
            (
                c.key.to_string(),
                c.error_code,
                c.node_id.0,
                c.host.to_string(),
                c.port,
            )
        })
        .collect()
}

/// `__consumer_offsets` as Metadata v1 shows it: (error, partition count).
async fn offsets_topic_metadata(client: &mut Client) -> (i16, usize, bool) {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(s(OFFSETS_TOPIC)))),
    ]));
    let r: MetadataResponse = client.call(ApiKey::Metadata, 1, &request).await;
    assert_eq!(r.topics.len(), 1);
    let t = &r.topics[0];
    (t.error_code, t.partitions.len(), t.is_internal)
}

#[tokio::test]
async fn every_version_finds_this_broker_for_a_group() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    for version in 0..=3i16 {
        assert_eq!(
            find_one(&mut client, version, "g", 0).await,
            (NONE, 0, "broker.test".to_string(), 19092),
            "v{version}"
        );
    }
    // v4: a batch of groups, each answered with its key.
    assert_eq!(
        find_batch(&mut client, &["a", "b", "g"], 0).await,
        ["a", "b", "g"]
            .iter()
            .map(|k| (k.to_string(), NONE, 0, "broker.test".to_string(), 19092))
            .collect::<Vec<_>>()
    );
    server.stop().await;
}

#[tokio::test]
async fn transactional_ids_are_coordinated_here() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    assert!(server.partitions.partitions_of(TXN_TOPIC).is_empty());
    for version in 1..=3i16 {
        assert_eq!(
            find_one(&mut client, version, "txn", 1).await,
            (NONE, 0, "broker.test".to_string(), 19092),
            "v{version}"
        );
    }
    assert_eq!(
        find_batch(&mut client, &["t1", "t2"], 1).await,
        ["t1", "t2"]
            .iter()
            .map(|k| (k.to_string(), NONE, 0, "broker.test".to_string(), 19092))
            .collect::<Vec<_>>()
    );
    // The first transactional lookup created __transaction_state (and no offsets topic).
    assert!(!server.partitions.partitions_of(TXN_TOPIC).is_empty());
    assert!(server.partitions.partitions_of(OFFSETS_TOPIC).is_empty());
    // An empty transactional id has no coordinator.
    assert_eq!(
        find_one(&mut client, 3, "", 1).await.0,
        COORDINATOR_NOT_AVAILABLE
    );
    server.stop().await;
}

#[tokio::test]
async fn the_first_group_lookup_creates_a_compacted_offsets_topic() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    assert!(server.partitions.partitions_of(OFFSETS_TOPIC).is_empty());
    assert_eq!(find_one(&mut client, 0, "g", 0).await.0, NONE);
    // A second lookup, for another group, finds the same topic.
    assert_eq!(find_one(&mut client, 3, "h", 0).await.0, NONE);
    let (error, partitions, _) = offsets_topic_metadata(&mut client).await;
    assert_eq!((error, partitions), (NONE, 3));
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(OFFSETS_TOPIC))
            .with_configuration_keys(Some(vec![s("cleanup.policy")]))]);
    let r: DescribeConfigsResponse = client.call(ApiKey::DescribeConfigs, 4, &request).await;
    assert_eq!(r.results[0].error_code, NONE);
    let configs: Vec<(String, Option<String>)> = r.results[0]
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
        .collect();
    assert_eq!(
        configs,
        [("cleanup.policy".to_string(), Some("compact".to_string()))]
    );
    server.stop().await;
}

/// KNOWN BUG (Metadata handler, not the coordinator): Kafka marks `__consumer_offsets`
/// internal in Metadata v1+ (`is_internal`); the Java consumer's `exclude.internal.topics`
/// (default true) relies on it to keep the topic out of pattern subscriptions, and
/// `kafka-topics --exclude-internal` to hide it. crates/server/src/handlers/metadata.rs never
/// sets `is_internal`.
#[tokio::test]
async fn the_offsets_topic_is_internal_in_metadata() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    assert_eq!(find_one(&mut client, 3, "g", 0).await.0, NONE);
    assert_eq!(offsets_topic_metadata(&mut client).await, (NONE, 3, true));
    server.stop().await;
}
