//! ACL authorization of the data-path APIs over real TCP, as Kafka's `KafkaApis` decides
//! it: Produce (TRANSACTIONAL_ID and TOPIC WRITE), Fetch (TOPIC READ, CLUSTER_ACTION for a
//! follower, fetch sessions), ListOffsets, OffsetForLeaderEpoch, DeleteRecords,
//! DescribeProducers, Metadata (filtering, auto-creation, authorized operations) and
//! DescribeTopicPartitions. `admin` is a super user; `alice`, `bob` and `carol` get only
//! the ACLs each test grants.

mod common;

use bytes::Bytes;
use common::authz::{allow, config, connect_as, grant};
use common::data::{batch, create_topic, fetch, fetch_request, name, now, produce_request};
use common::{Client, TestServer};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_producers_request::TopicRequest as ProducersTopic;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DeleteRecordsRequest, DeleteRecordsResponse, DescribeProducersRequest,
    DescribeProducersResponse, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ProduceRequest,
    ProduceResponse, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_log::batch::{ATTRIBUTES_AT, ATTR_TRANSACTIONAL};
use myelin_log::compression::Compression;
use myelin_server::authz::{Operation, ResourceType, CLUSTER_NAME};
use uuid::Uuid;

const TOPIC_AUTHZ: i16 = 29;
const TXN_AUTHZ: i16 = 53;
const UNKNOWN_TOPIC: i16 = 3;

use Operation::*;
use ResourceType::{Cluster, Topic, TransactionalId as TxnId};

/// A broker with topics `orders` and `secret` (one partition each, one record in each);
/// `alice` may READ `orders` only.
async fn setup() -> (TestServer, Uuid, Uuid) {
    let server = TestServer::start(config()).await;
    let orders = create_topic(&server, "orders", 1, &[]);
    let secret = create_topic(&server, "secret", 1, &[]);
    let mut admin = connect_as(&server, "admin").await;
    for t in ["orders", "secret"] {
        let r = produce(&mut admin, &produce_request(t, 0, record(), -1)).await;
        assert_eq!(
            errors(&r),
            vec![(t.to_string(), 0)],
            "the super user produces"
        );
    }
    grant(&server, vec![allow(Topic, "orders", "alice", Read)]);
    (server, orders, secret)
}

fn record() -> Vec<u8> {
    batch("v", 1, now(), Compression::None)
}

async fn produce(client: &mut Client, request: &ProduceRequest) -> ProduceResponse {
    client.call(ApiKey::Produce, 9, request).await
}

/// (topic, error) of every partition answered.
fn errors(r: &ProduceResponse) -> Vec<(String, i16)> {
    r.responses
        .iter()
        .flat_map(|t| {
            t.partition_responses
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

fn two_topics(records: impl Fn() -> Vec<u8>) -> ProduceRequest {
    let mut request = produce_request("orders", 0, records(), -1);
    request.topic_data.push(
        TopicProduceData::default()
            .with_name(name("secret"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(records())))]),
    );
    request
}

fn log_end(server: &TestServer, topic: &str) -> i64 {
    server
        .partitions
        .get(topic, 0)
        .unwrap()
        .log
        .log_end_offset()
}

#[tokio::test]
async fn produce_needs_write_and_the_transactional_id() {
    let (server, _, _) = setup().await;
    grant(&server, vec![allow(Topic, "orders", "alice", Write)]);
    let mut alice = connect_as(&server, "alice").await;

    // WRITE on orders, not on secret: secret refused (nothing appended), orders served.
    let r = produce(&mut alice, &two_topics(record)).await;
    assert_eq!(
        errors(&r),
        vec![("orders".into(), 0), ("secret".into(), TOPIC_AUTHZ)]
    );
    assert_eq!(
        (log_end(&server, "orders"), log_end(&server, "secret")),
        (2, 1)
    );
    // Authorization comes before existence: an unknown topic does not leak.
    let r = produce(&mut alice, &produce_request("ghost", 0, record(), -1)).await;
    assert_eq!(errors(&r), vec![("ghost".into(), TOPIC_AUTHZ)]);
    let mut admin = connect_as(&server, "admin").await;
    let r = produce(&mut admin, &produce_request("ghost", 0, record(), -1)).await;
    assert_eq!(errors(&r), vec![("ghost".into(), UNKNOWN_TOPIC)]);
    // READ alone does not let bob write.
    grant(&server, vec![allow(Topic, "orders", "bob", Read)]);
    let mut bob = connect_as(&server, "bob").await;
    let r = produce(&mut bob, &produce_request("orders", 0, record(), -1)).await;
    assert_eq!(errors(&r), vec![("orders".into(), TOPIC_AUTHZ)]);

    // A transactional id without WRITE on it fails the whole request.
    let with_txn = |request: ProduceRequest| {
        request.with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
    };
    let r = produce(&mut alice, &with_txn(two_topics(record))).await;
    assert_eq!(
        errors(&r),
        vec![("orders".into(), TXN_AUTHZ), ("secret".into(), TXN_AUTHZ)]
    );
    // So does a transactional batch without a transactional id (refused before its CRC
    // is looked at).
    let transactional = || {
        let mut b = record();
        b[ATTRIBUTES_AT + 1] |= ATTR_TRANSACTIONAL as u8;
        b
    };
    let r = produce(
        &mut alice,
        &produce_request("orders", 0, transactional(), -1),
    )
    .await;
    assert_eq!(errors(&r), vec![("orders".into(), TXN_AUTHZ)]);
    assert_eq!(log_end(&server, "orders"), 2);
    // With WRITE on the transactional id, the topic checks apply again.
    grant(&server, vec![allow(TxnId, "tx", "alice", Write)]);
    let r = produce(&mut alice, &with_txn(two_topics(record))).await;
    assert_eq!(
        errors(&r),
        vec![("orders".into(), 0), ("secret".into(), TOPIC_AUTHZ)]
    );
    // The super user is never refused.
    let r = produce(&mut admin, &with_txn(two_topics(record))).await;
    assert_eq!(errors(&r), vec![("orders".into(), 0), ("secret".into(), 0)]);

    // acks=0: a transactional id refusal sends nothing and keeps the connection...
    let mut carol = connect_as(&server, "carol").await;
    let request = with_txn(produce_request("orders", 0, record(), 0));
    carol.send(ApiKey::Produce, 9, 1, &request).await;
    let r = produce(&mut carol, &produce_request("orders", 0, record(), -1)).await;
    assert_eq!(errors(&r), vec![("orders".into(), TOPIC_AUTHZ)]);
    // ...and a refused topic closes it, as any failed acks=0 produce does.
    carol
        .send(
            ApiKey::Produce,
            9,
            2,
            &produce_request("orders", 0, record(), 0),
        )
        .await;
    carol.expect_closed().await;
    assert_eq!(log_end(&server, "orders"), 4);
    server.stop().await;
}

/// (partition error, number of record bytes) by topic name or id, in answer order.
fn fetched(r: &FetchResponse) -> Vec<(String, i16, usize)> {
    assert_eq!(r.error_code, 0, "{r:?}");
    r.responses
        .iter()
        .flat_map(|t| {
            let topic = if t.topic.is_empty() {
                t.topic_id.to_string()
            } else {
                t.topic.to_string()
            };
            t.partitions.iter().map(move |p| {
                (
                    topic.clone(),
                    p.error_code,
                    p.records.as_ref().map_or(0, |r| r.len()),
                )
            })
        })
        .collect()
}

/// Fetches orders-0 (from `from`) and secret-0 (from 0).
fn fetch_both(version: i16, orders: Uuid, secret: Uuid, from: i64) -> FetchRequest {
    let mut request = fetch_request(version, "orders", orders, &[(0, from)], 1 << 20);
    let mut t = FetchTopic::default().with_partitions(vec![FetchPartition::default()
        .with_partition(0)
        .with_partition_max_bytes(1 << 20)]);
    if version >= 13 {
        t.topic_id = secret;
    } else {
        t.topic = name("secret");
    }
    request.topics.push(t);
    request
}

#[tokio::test]
async fn fetch_needs_read() {
    let (server, orders, secret) = setup().await;
    let mut alice = connect_as(&server, "alice").await;
    let mut admin = connect_as(&server, "admin").await;

    // By name (v12) and by id (v13): secret refused, orders read.
    let r = fetch(&mut alice, 12, &fetch_both(12, orders, secret, 0)).await;
    let got = fetched(&r);
    assert_eq!(got[1], ("secret".into(), TOPIC_AUTHZ, 0));
    assert_eq!((got[0].0.as_str(), got[0].1), ("orders", 0));
    assert!(got[0].2 > 0);
    let r = fetch(&mut alice, 13, &fetch_both(13, orders, secret, 0)).await;
    let got = fetched(&r);
    assert_eq!(got[1], (secret.to_string(), TOPIC_AUTHZ, 0));
    assert_eq!(got[0].1, 0);
    // An unknown topic: refused by name (not disclosed), UNKNOWN_TOPIC_ID by id.
    let r = fetch(
        &mut alice,
        12,
        &fetch_request(12, "ghost", Uuid::nil(), &[(0, 0)], 100),
    )
    .await;
    assert_eq!(fetched(&r), vec![("ghost".into(), TOPIC_AUTHZ, 0)]);
    let ghost = Uuid::new_v4();
    let r = fetch(
        &mut alice,
        13,
        &fetch_request(13, "", ghost, &[(0, 0)], 100),
    )
    .await;
    assert_eq!(fetched(&r)[0].1, ResponseError::UnknownTopicId.code());
    // The super user reads everything.
    let r = fetch(&mut admin, 12, &fetch_both(12, orders, secret, 0)).await;
    assert!(
        fetched(&r).iter().all(|(_, e, n)| *e == 0 && *n > 0),
        "{r:?}"
    );

    // A fetch session: the refused partition is answered in the full fetch, and again
    // (an error is always included) in the incremental one that names no partition
    // (orders, at its end, has nothing new).
    let mut request = fetch_both(12, orders, secret, 1);
    request.session_epoch = 0;
    let r = fetch(&mut alice, 12, &request).await;
    let session = r.session_id;
    assert_ne!(session, 0);
    assert_eq!(fetched(&r)[1], ("secret".into(), TOPIC_AUTHZ, 0));
    let mut next = fetch_request(12, "orders", orders, &[], 100);
    next.topics.clear();
    next.session_id = session;
    next.session_epoch = 1;
    let r = fetch(&mut alice, 12, &next).await;
    assert_eq!(r.session_id, session);
    assert_eq!(fetched(&r), vec![("secret".into(), TOPIC_AUTHZ, 0)]);
    // Once alice may read it, the session serves it.
    grant(&server, vec![allow(Topic, "secret", "alice", Read)]);
    next.session_epoch = 2;
    let r = fetch(&mut alice, 12, &next).await;
    let got = fetched(&r);
    assert_eq!((got[0].0.as_str(), got[0].1), ("secret", 0));
    assert!(got[0].2 > 0);

    // A follower fetch needs CLUSTER_ACTION: refused for alice; the super user gets the
    // broker's answer (there are no followers).
    let mut follower = fetch_request(12, "orders", orders, &[(0, 0)], 100);
    follower.replica_id = BrokerId(1);
    let r = fetch(&mut alice, 12, &follower).await;
    assert_eq!(fetched(&r), vec![("orders".into(), TOPIC_AUTHZ, 0)]);
    let r = fetch(&mut admin, 12, &follower).await;
    assert_eq!(
        fetched(&r),
        vec![(
            "orders".into(),
            ResponseError::NotLeaderOrFollower.code(),
            0
        )]
    );
    server.stop().await;
}

/// The partition errors of a response, by topic, in order.
type Errors = Vec<(String, i16)>;

async fn list_offsets(client: &mut Client, topics: &[&str]) -> Errors {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    ListOffsetsTopic::default()
                        .with_name(name(t))
                        .with_partitions(vec![ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(-1)])
                })
                .collect(),
        );
    let r: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 7, &request).await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

async fn leader_epochs(client: &mut Client, topics: &[&str]) -> Errors {
    let request = OffsetForLeaderEpochRequest::default().with_topics(
        topics
            .iter()
            .map(|t| {
                OffsetForLeaderTopic::default()
                    .with_topic(name(t))
                    .with_partitions(vec![OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(0)])
            })
            .collect(),
    );
    let r: OffsetForLeaderEpochResponse =
        client.call(ApiKey::OffsetForLeaderEpoch, 4, &request).await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic.to_string(), p.error_code))
        })
        .collect()
}

async fn delete_records(client: &mut Client, topics: &[&str]) -> Errors {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    DeleteRecordsTopic::default()
                        .with_name(name(t))
                        .with_partitions(vec![DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(-1)])
                })
                .collect(),
        );
    let r: DeleteRecordsResponse = client.call(ApiKey::DeleteRecords, 2, &request).await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

async fn describe_producers(client: &mut Client, topics: &[&str]) -> Errors {
    let request = DescribeProducersRequest::default().with_topics(
        topics
            .iter()
            .map(|t| {
                ProducersTopic::default()
                    .with_name(name(t))
                    .with_partition_indexes(vec![0])
            })
            .collect(),
    );
    let r: DescribeProducersResponse = client.call(ApiKey::DescribeProducers, 0, &request).await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

fn expect(pairs: &[(&str, i16)]) -> Errors {
    pairs.iter().map(|(t, e)| (t.to_string(), *e)).collect()
}

#[tokio::test]
async fn partition_apis_need_their_operations() {
    let (server, _, _) = setup().await;
    let mut alice = connect_as(&server, "alice").await;
    let mut carol = connect_as(&server, "carol").await;
    let mut admin = connect_as(&server, "admin").await;
    let both = ["orders", "secret"];
    let refused = expect(&[("orders", 0), ("secret", TOPIC_AUTHZ)]);
    let served = expect(&[("orders", 0), ("secret", 0)]);

    // ListOffsets: DESCRIBE (READ implies it).
    assert_eq!(list_offsets(&mut alice, &both).await, refused);
    assert_eq!(
        list_offsets(&mut carol, &["ghost"]).await,
        expect(&[("ghost", TOPIC_AUTHZ)])
    );
    assert_eq!(list_offsets(&mut admin, &both).await, served);

    // OffsetForLeaderEpoch: DESCRIBE, or CLUSTER_ACTION for every topic.
    assert_eq!(leader_epochs(&mut alice, &both).await, refused);
    assert_eq!(
        leader_epochs(&mut carol, &both).await,
        expect(&[("orders", TOPIC_AUTHZ), ("secret", TOPIC_AUTHZ)])
    );
    grant(
        &server,
        vec![allow(Cluster, CLUSTER_NAME, "carol", ClusterAction)],
    );
    assert_eq!(leader_epochs(&mut carol, &both).await, served);
    assert_eq!(leader_epochs(&mut admin, &both).await, served);

    // DescribeProducers: READ.
    assert_eq!(describe_producers(&mut alice, &both).await, refused);
    grant(&server, vec![allow(Topic, "secret", "bob", Describe)]);
    let mut bob = connect_as(&server, "bob").await;
    assert_eq!(
        describe_producers(&mut bob, &["secret"]).await,
        expect(&[("secret", TOPIC_AUTHZ)]),
        "DESCRIBE is not READ"
    );
    assert_eq!(describe_producers(&mut admin, &both).await, served);

    // DeleteRecords: DELETE; READ is not enough.
    assert_eq!(
        delete_records(&mut alice, &both).await,
        expect(&[("orders", TOPIC_AUTHZ), ("secret", TOPIC_AUTHZ)])
    );
    assert_eq!(log_start(&server, "orders"), 0);
    grant(&server, vec![allow(Topic, "orders", "alice", Delete)]);
    assert_eq!(delete_records(&mut alice, &both).await, refused);
    assert_eq!(log_start(&server, "orders"), 1);
    assert_eq!(log_start(&server, "secret"), 0);
    assert_eq!(delete_records(&mut admin, &both).await, served);
    assert_eq!(log_start(&server, "secret"), 1);
    server.stop().await;
}

fn log_start(server: &TestServer, topic: &str) -> i64 {
    server
        .partitions
        .get(topic, 0)
        .unwrap()
        .log
        .log_start_offset()
}

fn metadata_request(topics: Option<&[&str]>, auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect()
        }))
        .with_allow_auto_topic_creation(auto_create)
        .with_include_topic_authorized_operations(true)
}

/// (topic, error, partition count, authorized operations), in answer order.
fn topics_of(r: &MetadataResponse) -> Vec<(String, i16, usize, i32)> {
    r.topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map_or(String::new(), |n| n.to_string()),
                t.error_code,
                t.partitions.len(),
                t.topic_authorized_operations,
            )
        })
        .collect()
}

/// The bits of KIP-430's authorized operations.
fn bits(ops: &[Operation]) -> i32 {
    ops.iter().fold(0, |b, op| b | 1 << (*op as i8))
}

#[tokio::test]
async fn metadata_filters_refuses_and_guards_auto_creation() {
    let (server, _, secret) = setup().await;
    let mut alice = connect_as(&server, "alice").await;
    let mut admin = connect_as(&server, "admin").await;
    let read_ops = bits(&[Read, Describe]);
    let all_topic_ops = bits(ResourceType::Topic.operations());

    // Every topic: only the describable ones, with alice's operations.
    let r: MetadataResponse = alice
        .call(
            ApiKey::Metadata,
            10,
            &metadata_request(None, true).with_include_cluster_authorized_operations(true),
        )
        .await;
    assert_eq!(topics_of(&r), vec![("orders".into(), 0, 1, read_ops)]);
    assert_eq!(
        r.cluster_authorized_operations, 0,
        "no DESCRIBE on the cluster"
    );
    let r: MetadataResponse = admin
        .call(
            ApiKey::Metadata,
            10,
            &metadata_request(None, true).with_include_cluster_authorized_operations(true),
        )
        .await;
    assert_eq!(r.topics.len(), 2);
    assert!(r
        .topics
        .iter()
        .all(|t| t.topic_authorized_operations == all_topic_ops));
    assert_eq!(
        r.cluster_authorized_operations,
        bits(ResourceType::Cluster.operations())
    );

    // Named: refused whether the topic exists or not, and not auto-created.
    let named = ["orders", "secret", "ghost"];
    let r: MetadataResponse = alice
        .call(ApiKey::Metadata, 12, &metadata_request(Some(&named), true))
        .await;
    assert_eq!(
        topics_of(&r),
        vec![
            ("orders".into(), 0, 1, read_ops),
            ("secret".into(), TOPIC_AUTHZ, 0, i32::MIN),
            ("ghost".into(), TOPIC_AUTHZ, 0, i32::MIN),
        ]
    );
    assert!(r.topics[1].topic_id.is_nil(), "no id for a refused name");
    assert!(server.metadata.state().topic_by_name("ghost").is_none());
    // By id: refused, with the id.
    let by_id = MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
        .with_topic_id(secret)
        .with_name(None)]));
    let r: MetadataResponse = alice.call(ApiKey::Metadata, 12, &by_id).await;
    assert_eq!(
        (r.topics[0].error_code, r.topics[0].topic_id),
        (TOPIC_AUTHZ, secret)
    );
    assert!(r.topics[0].name.is_none());

    // DESCRIBE without CREATE: refused when auto-creation applies (Kafka), unknown when it
    // does not.
    grant(&server, vec![allow(Topic, "ghost", "alice", Describe)]);
    let r: MetadataResponse = alice
        .call(
            ApiKey::Metadata,
            12,
            &metadata_request(Some(&["ghost"]), true),
        )
        .await;
    assert_eq!(
        topics_of(&r),
        vec![("ghost".into(), TOPIC_AUTHZ, 0, i32::MIN)]
    );
    let r: MetadataResponse = alice
        .call(
            ApiKey::Metadata,
            12,
            &metadata_request(Some(&["ghost"]), false),
        )
        .await;
    assert_eq!(
        topics_of(&r),
        vec![("ghost".into(), UNKNOWN_TOPIC, 0, i32::MIN)]
    );
    assert!(server.metadata.state().topic_by_name("ghost").is_none());
    // CREATE on the topic creates it.
    grant(&server, vec![allow(Topic, "ghost", "alice", Create)]);
    let r: MetadataResponse = alice
        .call(
            ApiKey::Metadata,
            12,
            &metadata_request(Some(&["ghost"]), true),
        )
        .await;
    assert_eq!(
        topics_of(&r),
        vec![("ghost".into(), 0, 1, bits(&[Create, Describe]))]
    );
    // CREATE on the cluster creates any (describable) topic.
    grant(
        &server,
        vec![
            allow(Cluster, CLUSTER_NAME, "carol", Create),
            allow(Topic, "carols", "carol", Describe),
        ],
    );
    let mut carol = connect_as(&server, "carol").await;
    let r: MetadataResponse = carol
        .call(
            ApiKey::Metadata,
            12,
            &metadata_request(Some(&["carols"]), true),
        )
        .await;
    assert_eq!(
        (r.topics[0].error_code, r.topics[0].partitions.len()),
        (0, 1)
    );
    // The super user auto-creates without any ACL.
    let r: MetadataResponse = admin
        .call(
            ApiKey::Metadata,
            12,
            &metadata_request(Some(&["admins"]), true),
        )
        .await;
    assert_eq!(topics_of(&r), vec![("admins".into(), 0, 1, all_topic_ops)]);
    server.stop().await;
}

async fn describe_partitions(
    client: &mut Client,
    topics: &[&str],
) -> DescribeTopicPartitionsResponse {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(name(t)))
                .collect(),
        )
        .with_response_partition_limit(100);
    client
        .call(ApiKey::DescribeTopicPartitions, 0, &request)
        .await
}

fn described(r: &DescribeTopicPartitionsResponse) -> Vec<(String, i16, usize, i32)> {
    r.topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map_or(String::new(), |n| n.to_string()),
                t.error_code,
                t.partitions.len(),
                t.topic_authorized_operations,
            )
        })
        .collect()
}

#[tokio::test]
async fn describe_topic_partitions_filters_and_refuses() {
    let (server, _, _) = setup().await;
    let mut alice = connect_as(&server, "alice").await;
    let mut admin = connect_as(&server, "admin").await;
    let read_ops = bits(&[Read, Describe]);
    let all_topic_ops = bits(ResourceType::Topic.operations());

    let r = describe_partitions(&mut alice, &[]).await;
    assert_eq!(described(&r), vec![("orders".into(), 0, 1, read_ops)]);
    let r = describe_partitions(&mut alice, &["secret", "orders", "ghost"]).await;
    let got = described(&r);
    assert_eq!(got[0], ("orders".into(), 0, 1, read_ops));
    let mut refused = got[1..].to_vec();
    refused.sort();
    assert_eq!(
        refused,
        vec![
            ("ghost".into(), TOPIC_AUTHZ, 0, i32::MIN),
            ("secret".into(), TOPIC_AUTHZ, 0, i32::MIN),
        ]
    );
    assert!(r.topics.iter().skip(1).all(|t| t.topic_id.is_nil()));

    let r = describe_partitions(&mut admin, &[]).await;
    assert_eq!(
        described(&r),
        vec![
            ("orders".into(), 0, 1, all_topic_ops),
            ("secret".into(), 0, 1, all_topic_ops),
        ]
    );
    let r = describe_partitions(&mut admin, &["ghost"]).await;
    assert_eq!(described(&r)[0].1, UNKNOWN_TOPIC);
    server.stop().await;
}
