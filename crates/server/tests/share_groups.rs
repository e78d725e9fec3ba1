//! Share groups (KIP-932) over real TCP: ShareGroupHeartbeat, ShareFetch, ShareAcknowledge,
//! ShareGroupDescribe and the share-group offsets, with the record states, delivery counts,
//! locks, sessions and durability a share consumer relies on. (Kafka's Java
//! `KafkaShareConsumer` drives the same APIs in tests/tests/java.rs.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::data::{batch, create_topic, produce};
use common::{Client, TestServer};
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatchAck,
};
use kafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic,
};
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, DescribeShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsResponse, GroupId, JoinGroupRequest, JoinGroupResponse,
    ListGroupsRequest, ListGroupsResponse, ShareAcknowledgeRequest, ShareAcknowledgeResponse,
    ShareFetchRequest, ShareFetchResponse, ShareGroupDescribeRequest, ShareGroupDescribeResponse,
    ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_log::compression::Compression;
use myelin_server::Config;
use uuid::Uuid;

const GROUP: &str = "workers";
const TOPIC: &str = "jobs";
const ACCEPT: i8 = 1;
const RELEASE: i8 = 2;
const REJECT: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn config() -> Config {
    Config {
        broker_configs: BTreeMap::from([
            ("offsets.topic.num.partitions".into(), "1".into()),
            (
                "share.coordinator.state.topic.num.partitions".into(),
                "3".into(),
            ),
            ("group.share.record.lock.duration.ms".into(), "1000".into()),
            ("group.share.delivery.count.limit".into(), "3".into()),
        ]),
        ..Config::default()
    }
}

async fn heartbeat(
    client: &mut Client,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| TopicName(s(n))).collect()));
    client.call(ApiKey::ShareGroupHeartbeat, 1, &request).await
}

/// A ShareFetch of partition 0 of `topic_id` (added to the session when `add`), with
/// acknowledgements, waiting at most `wait_ms`.
#[allow(clippy::too_many_arguments)]
async fn share_fetch(
    client: &mut Client,
    member: &str,
    epoch: i32,
    topic_id: Uuid,
    add: bool,
    acks: Vec<(i64, i64, Vec<i8>)>,
    max_records: i32,
    wait_ms: i32,
) -> ShareFetchResponse {
    let request = fetch_request(member, epoch, topic_id, add, acks, max_records, wait_ms);
    client.call(ApiKey::ShareFetch, 1, &request).await
}

/// A ShareFetch of partition 0 of `topic_id` (added to the session when `add`).
fn fetch_request(
    member: &str,
    epoch: i32,
    topic_id: Uuid,
    add: bool,
    acks: Vec<(i64, i64, Vec<i8>)>,
    max_records: i32,
    wait_ms: i32,
) -> ShareFetchRequest {
    let partition = FetchPartition::default()
        .with_partition_index(0)
        .with_acknowledgement_batches(
            acks.into_iter()
                .map(|(f, l, t)| {
                    AcknowledgementBatch::default()
                        .with_first_offset(f)
                        .with_last_offset(l)
                        .with_acknowledge_types(t)
                })
                .collect(),
        );
    let topics = if add || !partition.acknowledgement_batches.is_empty() {
        vec![FetchTopic::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![partition])]
    } else {
        Vec::new()
    };
    ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s(GROUP))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(max_records)
        .with_batch_size(max_records)
        .with_topics(topics)
}

async fn share_ack(
    client: &mut Client,
    member: &str,
    epoch: i32,
    topic_id: Uuid,
    acks: Vec<(i64, i64, Vec<i8>)>,
) -> ShareAcknowledgeResponse {
    let request = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(s(GROUP))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(
                    acks.into_iter()
                        .map(|(f, l, t)| {
                            AckBatchAck::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(t)
                        })
                        .collect(),
                )])]);
    client.call(ApiKey::ShareAcknowledge, 1, &request).await
}

/// The acquired runs of the response's only partition: (first, last, delivery count).
fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .flat_map(|p| {
            assert_eq!(p.error_code, 0, "{:?}", p.error_message);
            p.acquired_records
                .iter()
                .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        })
        .collect()
}

fn ack_code(r: &ShareFetchResponse) -> i16 {
    r.responses[0].partitions[0].acknowledge_error_code
}

async fn start_offset(client: &mut Client) -> i64 {
    use kafka_protocol::messages::describe_share_group_offsets_request::{
        DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
    };
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(Some(vec![DescribeShareGroupOffsetsRequestTopic::default()
                .with_topic_name(TopicName(s(TOPIC)))
                .with_partitions(vec![0])])),
    ]);
    let r: DescribeShareGroupOffsetsResponse = client
        .call(ApiKey::DescribeShareGroupOffsets, 0, &request)
        .await;
    assert_eq!(r.groups[0].error_code, 0, "{:?}", r.groups[0].error_message);
    let p = &r.groups[0].topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.start_offset
}

/// A member joins, is given the topic's partition, and the share-partition starts at the
/// log end (`share.auto.offset.reset` latest): records produced after the join are
/// delivered to one member at a time, settled one by one, redelivered with a higher count
/// when released or when their lock expires, archived at the delivery limit, and what was
/// settled survives a restart.
#[tokio::test]
async fn records_are_shared_acknowledged_and_durable() {
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    let mut producer = server.connect().await;
    produce(
        &mut producer,
        9,
        TOPIC,
        0,
        batch("old", 3, common::data::now(), Compression::None),
    )
    .await;

    let r = heartbeat(&mut a, "member-a", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.member_epoch, 1);
    let assignment = r.assignment.expect("an assignment on joining");
    assert_eq!(assignment.topic_partitions[0].topic_id, topic_id);
    assert_eq!(assignment.topic_partitions[0].partitions, vec![0]);
    // Unchanged, the next heartbeat carries no assignment; a wrong epoch is fenced.
    let r = heartbeat(&mut a, "member-a", 1, None).await;
    assert_eq!(
        (r.error_code, r.member_epoch, r.assignment.is_none()),
        (0, 1, true)
    );
    let r = heartbeat(&mut a, "member-a", 7, None).await;
    assert_eq!(r.error_code, ResponseError::FencedMemberEpoch.code());
    let r = heartbeat(&mut b, "member-b", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, 0);

    // The records produced before the group existed are not delivered (latest).
    produce(
        &mut producer,
        9,
        TOPIC,
        0,
        batch("job", 10, common::data::now(), Compression::None),
    )
    .await;
    let r = share_fetch(&mut a, "member-a", 0, topic_id, true, vec![], 4, 1000).await;
    assert_eq!(r.acquisition_lock_timeout_ms, 1000);
    // A whole batch is acquired although it holds more than max_records.
    assert_eq!(acquired(&r), vec![(3, 12, 1)]);
    let records = r.responses[0].partitions[0].records.clone().unwrap();
    assert!(!records.is_empty());
    // Another member gets nothing while they are locked.
    let r = share_fetch(&mut b, "member-b", 0, topic_id, true, vec![], 100, 0).await;
    assert_eq!(acquired(&r), vec![]);

    // Acknowledgements: offsets the member does not hold are refused whole.
    let r = share_ack(&mut b, "member-b", 1, topic_id, vec![(3, 3, vec![ACCEPT])]).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::InvalidRecordState.code()
    );
    // a: accept 3..=5, release 6, reject 7, accept the rest but 12 (per-offset types).
    let types = vec![
        ACCEPT, ACCEPT, ACCEPT, RELEASE, REJECT, ACCEPT, ACCEPT, ACCEPT, ACCEPT,
    ];
    let r = share_ack(&mut a, "member-a", 1, topic_id, vec![(3, 11, types)]).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert_eq!(start_offset(&mut b).await, 6);
    // b now gets the released record, on its second delivery; 12 is still a's.
    let r = share_fetch(&mut b, "member-b", 2, topic_id, false, vec![], 100, 1000).await;
    assert_eq!(acquired(&r), vec![(6, 6, 2)]);

    // Session epochs: the wrong one, and a session that does not exist.
    let r = share_fetch(&mut b, "member-b", 9, topic_id, false, vec![], 100, 0).await;
    assert_eq!(r.error_code, ResponseError::InvalidShareSessionEpoch.code());
    let r = share_fetch(&mut b, "nobody", 1, topic_id, false, vec![], 100, 0).await;
    assert_eq!(r.error_code, ResponseError::ShareSessionNotFound.code());
    let r = share_ack(&mut b, "member-b", 0, topic_id, vec![(6, 6, vec![ACCEPT])]).await;
    assert_eq!(r.error_code, ResponseError::InvalidShareSessionEpoch.code());
    // Acknowledgements cannot open a session.
    let r = share_fetch(
        &mut b,
        "member-b",
        0,
        topic_id,
        true,
        vec![(6, 6, vec![ACCEPT])],
        100,
        0,
    )
    .await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());

    // Locks expire (1 s): 12 (a's) and 6 (b's) come back to whoever fetches next, 6 now
    // on its third delivery, the limit: released again, it is archived.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = share_fetch(&mut a, "member-a", 2, topic_id, false, vec![], 100, 1000).await;
    assert_eq!(acquired(&r), vec![(6, 6, 3), (12, 12, 2)]);
    let r = share_fetch(
        &mut a,
        "member-a",
        3,
        topic_id,
        false,
        vec![(6, 6, vec![RELEASE]), (12, 12, vec![ACCEPT])],
        100,
        0,
    )
    .await;
    assert_eq!(ack_code(&r), 0);
    assert_eq!(acquired(&r), vec![]);
    assert_eq!(start_offset(&mut a).await, 13);

    // More records; a takes them and the broker restarts before they are settled.
    produce(
        &mut producer,
        9,
        TOPIC,
        0,
        batch("more", 5, common::data::now(), Compression::None),
    )
    .await;
    let r = share_fetch(&mut a, "member-a", 4, topic_id, false, vec![], 100, 1000).await;
    assert_eq!(acquired(&r), vec![(13, 17, 1)]);
    let r = share_fetch(
        &mut a,
        "member-a",
        5,
        topic_id,
        false,
        vec![(13, 14, vec![ACCEPT])],
        100,
        0,
    )
    .await;
    assert_eq!(ack_code(&r), 0);
    drop((a, b, producer));
    let server = server.restart(config()).await;
    let mut c = server.connect().await;
    // Members are gone with the restart; the group and its share-partition are not.
    let r = heartbeat(&mut c, "member-a", 1, None).await;
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    assert_eq!(start_offset(&mut c).await, 15);
    let r = heartbeat(&mut c, "member-c", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, 0);
    // What was acquired and not settled is delivered again, counted.
    let r = share_fetch(&mut c, "member-c", 0, topic_id, true, vec![], 100, 1000).await;
    assert_eq!(acquired(&r), vec![(15, 17, 2)]);
    // Closing the session (epoch -1) applies its acknowledgements and releases the rest.
    let r = share_fetch(
        &mut c,
        "member-c",
        -1,
        topic_id,
        false,
        vec![(15, 15, vec![ACCEPT])],
        100,
        0,
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(ack_code(&r), 0);
    assert_eq!(start_offset(&mut c).await, 16);
    let r = share_fetch(&mut c, "member-c", 0, topic_id, true, vec![], 100, 1000).await;
    assert_eq!(acquired(&r), vec![(16, 17, 3)]);
    drop(c);
    server.stop().await;
}

/// A share group is listed with type `share`, described with its members and assignment,
/// keeps its id from classic and consumer groups, and is deleted only when empty.
#[tokio::test]
async fn share_groups_are_listed_described_and_deleted() {
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, TOPIC, 2, &[]);
    let mut client = server.connect().await;
    let r = heartbeat(&mut client, "m1", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, 0);
    let r = heartbeat(&mut client, "m2", 0, Some(&[TOPIC, "not-yet"])).await;
    assert_eq!(r.error_code, 0);
    // m2 joined after m1: m1 learns its new (smaller) assignment at its next heartbeat.
    let r = heartbeat(&mut client, "m1", 1, None).await;
    let parts: BTreeSet<i32> = r.assignment.unwrap().topic_partitions[0]
        .partitions
        .iter()
        .copied()
        .collect();
    assert_eq!(parts.len(), 1);

    let r: ShareGroupDescribeResponse = client
        .call(
            ApiKey::ShareGroupDescribe,
            1,
            &ShareGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(s(GROUP)), GroupId(s("nope"))]),
        )
        .await;
    let g = &r.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str()), (0, "Stable"));
    assert_eq!(g.assignor_name.as_str(), "simple");
    assert_eq!(g.members.len(), 2);
    for m in &g.members {
        let tp = &m.assignment.topic_partitions[0];
        assert_eq!(
            (tp.topic_id, tp.topic_name.0.as_str(), tp.partitions.len()),
            (topic_id, TOPIC, 1)
        );
    }
    assert_eq!(
        r.groups[1].error_code,
        ResponseError::GroupIdNotFound.code()
    );

    let r: ListGroupsResponse = client
        .call(
            ApiKey::ListGroups,
            5,
            &ListGroupsRequest::default().with_types_filter(vec![s("share")]),
        )
        .await;
    let listed: Vec<_> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.0.as_str(),
                g.group_type.as_str(),
                g.group_state.as_str(),
            )
        })
        .collect();
    assert_eq!(listed, vec![(GROUP, "share", "Stable")]);

    // DescribeGroups does not describe it: Dead, with no error, as Kafka below v6.
    let r: kafka_protocol::messages::DescribeGroupsResponse = client
        .call(
            ApiKey::DescribeGroups,
            5,
            &kafka_protocol::messages::DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s(GROUP))]),
        )
        .await;
    assert_eq!(
        (r.groups[0].error_code, r.groups[0].group_state.as_str()),
        (0, "Dead")
    );
    // The id is a share group's: a classic join is refused.
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"));
    let r: JoinGroupResponse = client.call(ApiKey::JoinGroup, 5, &join).await;
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );

    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(GROUP))]);
    let r: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &delete).await;
    assert_eq!(r.results[0].error_code, ResponseError::NonEmptyGroup.code());
    for m in ["m1", "m2"] {
        let r = heartbeat(&mut client, m, -1, None).await;
        assert_eq!((r.error_code, r.member_epoch), (0, -1));
    }
    let r: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &delete).await;
    assert_eq!(r.results[0].error_code, 0);
    let r: ListGroupsResponse = client
        .call(ApiKey::ListGroups, 5, &ListGroupsRequest::default())
        .await;
    assert!(r.groups.iter().all(|g| g.group_id.0.as_str() != GROUP));
    server.stop().await;
}

/// With the ACL authorizer, as in Kafka: ShareGroupHeartbeat needs READ on the group and
/// DESCRIBE on the subscribed topics, ShareFetch and ShareAcknowledge READ on the group
/// and on the topic, ShareGroupDescribe DESCRIBE on the group (which READ implies).
#[tokio::test]
async fn share_groups_are_authorized() {
    use common::authz::{allow, connect_as, grant};
    use kafka_protocol::messages::alter_share_group_offsets_request::{
        AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
    };
    use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
    use myelin_server::authz::{Operation, ResourceType};

    let mut config = common::authz::config();
    config.broker_configs = self::config().broker_configs;
    let server = TestServer::start(config).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    let mut alice = connect_as(&server, "alice").await;

    // Nothing granted: the group is refused first.
    let r = heartbeat(&mut alice, "m", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, ResponseError::GroupAuthorizationFailed.code());
    let r = share_fetch(&mut alice, "m", 0, topic_id, true, vec![], 10, 0).await;
    assert_eq!(r.error_code, ResponseError::GroupAuthorizationFailed.code());
    // READ on the group, not DESCRIBE on the topic.
    grant(
        &server,
        vec![allow(ResourceType::Group, GROUP, "alice", Operation::Read)],
    );
    let r = heartbeat(&mut alice, "m", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, ResponseError::TopicAuthorizationFailed.code());
    // DESCRIBE lets it join; without READ on the topic its fetch gets the topic's error.
    grant(
        &server,
        vec![allow(
            ResourceType::Topic,
            TOPIC,
            "alice",
            Operation::Describe,
        )],
    );
    let r = heartbeat(&mut alice, "m", 0, Some(&[TOPIC])).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let r = share_fetch(&mut alice, "m", 0, topic_id, true, vec![], 10, 0).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::TopicAuthorizationFailed.code()
    );
    let r = share_ack(&mut alice, "m", 1, topic_id, vec![(0, 0, vec![ACCEPT])]).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::TopicAuthorizationFailed.code()
    );
    // Describing needs DESCRIBE on the group, which READ implies (as in Kafka).
    let describe = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(GROUP))]);
    let mut bob = connect_as(&server, "bob").await;
    let r: ShareGroupDescribeResponse = bob.call(ApiKey::ShareGroupDescribe, 1, &describe).await;
    assert_eq!(
        r.groups[0].error_code,
        ResponseError::GroupAuthorizationFailed.code()
    );
    let r: ShareGroupDescribeResponse = alice.call(ApiKey::ShareGroupDescribe, 1, &describe).await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].members.len(), 1);
    let alter = AlterShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
            .with_topic_name(TopicName(s(TOPIC)))
            .with_partitions(vec![
                AlterShareGroupOffsetsRequestPartition::default()
                    .with_partition_index(0)
                    .with_start_offset(0),
            ])]);
    let r: AlterShareGroupOffsetsResponse =
        alice.call(ApiKey::AlterShareGroupOffsets, 0, &alter).await;
    // The group has a member: refused whatever the topic's ACLs; its topic is checked too.
    assert_eq!(r.error_code, ResponseError::NonEmptyGroup.code());

    // READ on the topic: records are delivered.
    grant(
        &server,
        vec![allow(ResourceType::Topic, TOPIC, "alice", Operation::Read)],
    );
    let mut producer = connect_as(&server, "admin").await;
    produce(
        &mut producer,
        9,
        TOPIC,
        0,
        batch("x", 2, common::data::now(), Compression::None),
    )
    .await;
    let r = share_fetch(&mut alice, "m", 2, topic_id, false, vec![], 10, 1000).await;
    assert_eq!(acquired(&r), vec![(0, 1, 1)]);
    drop((alice, bob, producer));
    server.stop().await;
}

/// A share consumer over its `consumer_byte_rate` quota still gets the records it
/// acquired (they are locked for it), with the throttle time, and its connection is held
/// back for it.
#[tokio::test]
async fn share_fetches_count_against_the_consumer_byte_rate() {
    use myelin_cluster::{ClientQuotaChange, MetadataRecord, QuotaEntityPart, QuotaValue};

    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    // 10 kB/s for the test client's client id.
    server
        .metadata
        .commit(MetadataRecord::ClientQuotasAltered {
            changes: vec![ClientQuotaChange {
                entity: vec![QuotaEntityPart {
                    entity_type: "client-id".into(),
                    entity_name: Some(common::groups::CLIENT_ID.into()),
                }],
                quotas: BTreeMap::from([("consumer_byte_rate".into(), QuotaValue(10_000.0))]),
            }],
        })
        .unwrap();
    let mut client = server.connect().await;
    assert_eq!(
        heartbeat(&mut client, "m", 0, Some(&[TOPIC]))
            .await
            .error_code,
        0
    );
    let value = vec![b'x'; 1000];
    let records: Vec<myelin_log::record::KeyValue<'_>> =
        (0..150).map(|_| (None, Some(&value[..]))).collect();
    let big = myelin_log::record::simple_batch(&records, common::data::now(), Compression::None);
    produce(&mut client, 9, TOPIC, 0, big).await;
    // 150 kB, over the 100 kB a 10 s window allows: sent, and throttled.
    let r = share_fetch(&mut client, "m", 0, topic_id, true, vec![], 1000, 1000).await;
    assert_eq!(acquired(&r), vec![(0, 149, 1)]);
    assert!(r.throttle_time_ms > 0, "throttle {}", r.throttle_time_ms);
    let started = std::time::Instant::now();
    let r = heartbeat(&mut client, "m", 1, None).await;
    assert_eq!(r.error_code, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "answered after {:?}",
        started.elapsed()
    );
    drop(client);
    server.stop().await;
}

/// Share sessions are bounded (`group.share.max.share.sessions`): one more gets
/// SHARE_SESSION_LIMIT_REACHED; a member's new session replaces its own, and a closed
/// session frees its place.
#[tokio::test]
async fn share_sessions_are_bounded() {
    let mut config = config();
    config
        .broker_configs
        .insert("group.share.max.share.sessions".into(), "1".into());
    let server = TestServer::start(config).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    let mut client = server.connect().await;
    for m in ["a", "b"] {
        assert_eq!(
            heartbeat(&mut client, m, 0, Some(&[TOPIC]))
                .await
                .error_code,
            0
        );
    }
    let r = share_fetch(&mut client, "a", 0, topic_id, true, vec![], 10, 0).await;
    assert_eq!(r.error_code, 0);
    let r = share_fetch(&mut client, "b", 0, topic_id, true, vec![], 10, 0).await;
    assert_eq!(r.error_code, ResponseError::ShareSessionLimitReached.code());
    let r = share_fetch(&mut client, "a", 0, topic_id, true, vec![], 10, 0).await;
    assert_eq!(r.error_code, 0);
    let r = share_fetch(&mut client, "a", -1, topic_id, false, vec![], 10, 0).await;
    assert_eq!(r.error_code, 0);
    let r = share_fetch(&mut client, "b", 0, topic_id, true, vec![], 10, 0).await;
    assert_eq!(r.error_code, 0);
    drop(client);
    server.stop().await;
}

/// Sets the share group's config `name` (IncrementalAlterConfigs on the GROUP resource).
async fn set_group_config(client: &mut Client, name: &str, value: &str) -> i16 {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::{
        IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    };
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(s(GROUP))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s(name))
                .with_config_operation(0)
                .with_value(Some(s(value)))]),
    ]);
    let r: IncrementalAlterConfigsResponse = client
        .call(ApiKey::IncrementalAlterConfigs, 1, &request)
        .await;
    r.responses[0].error_code
}

/// `share.auto.offset.reset=by_duration:<ISO 8601 duration>` (Kafka 4.1): the group starts
/// at the first record at most that old (records two hours old are skipped with PT1H,
/// delivered with P1D), or at the end when every record is older; a malformed duration is
/// refused with INVALID_CONFIG.
#[tokio::test]
async fn share_groups_start_by_duration() {
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    let mut producer = server.connect().await;
    let now = common::data::now();
    let two_hours_ago = now - 2 * 3_600_000;
    produce(
        &mut producer,
        9,
        TOPIC,
        0,
        batch("old", 3, two_hours_ago, Compression::None),
    )
    .await;
    produce(
        &mut producer,
        9,
        TOPIC,
        0,
        batch("new", 2, now - 60_000, Compression::None),
    )
    .await;
    let mut client = server.connect().await;
    for bad in [
        "by_duration:",
        "by_duration:1H",
        "by_duration:PT-1H",
        "by_duration",
    ] {
        assert_eq!(
            set_group_config(&mut client, "share.auto.offset.reset", bad).await,
            ResponseError::InvalidConfig.code(),
            "{bad}"
        );
    }
    for (reset, expected) in [
        ("by_duration:PT1H", vec![(3, 4, 1)]),
        ("by_duration:P1D", vec![(0, 4, 1)]),
        ("by_duration:PT10S", vec![]),
    ] {
        assert_eq!(
            set_group_config(&mut client, "share.auto.offset.reset", reset).await,
            0
        );
        let r = heartbeat(&mut client, "m", 0, Some(&[TOPIC])).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        let r = share_fetch(&mut client, "m", 0, topic_id, true, vec![], 100, 0).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(acquired(&r), expected, "{reset}");
        // Leave, forget the state, and start over with the next reset.
        let r = share_fetch(&mut client, "m", -1, topic_id, false, vec![], 100, 0).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(heartbeat(&mut client, "m", -1, None).await.error_code, 0);
        let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(GROUP))]);
        let r: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &request).await;
        assert_eq!(r.results[0].error_code, 0, "{reset}");
    }
    drop(client);
    server.stop().await;
}

/// Deleting a topic deletes the share groups' state of it (the coordinator keeps none of
/// the old topic id, in memory or in `__share_group_state` after a restart); the topic
/// created again under the name has no state until the group starts on it.
#[tokio::test]
async fn a_deleted_topics_share_state_goes_with_it() {
    use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    let mut client = server.connect().await;
    assert_eq!(
        heartbeat(&mut client, "m", 0, Some(&[TOPIC]))
            .await
            .error_code,
        0
    );
    // The share-partition exists once assigned: at the log end, 0.
    produce(
        &mut client,
        9,
        TOPIC,
        0,
        batch("job", 4, common::data::now(), Compression::None),
    )
    .await;
    let r = share_fetch(&mut client, "m", 0, topic_id, true, vec![], 100, 1000).await;
    assert_eq!(acquired(&r), vec![(0, 3, 1)]);
    let r = share_fetch(
        &mut client,
        "m",
        1,
        topic_id,
        false,
        vec![(0, 3, vec![ACCEPT])],
        100,
        0,
    )
    .await;
    assert_eq!(ack_code(&r), 0);
    assert_eq!(start_offset(&mut client).await, 4);

    let r: DeleteTopicsResponse = client
        .call(
            ApiKey::DeleteTopics,
            4,
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(s(TOPIC))])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    let held = |server: &TestServer| {
        server
            .context
            .shares
            .start_offsets(GROUP, &[])
            .unwrap()
            .into_iter()
            .map(|(tp, _)| tp)
            .collect::<Vec<_>>()
    };
    assert_eq!(held(&server), vec![]);
    create_topic(&server, TOPIC, 1, &[]);
    // No state for the new topic: the group has not started on it.
    assert_eq!(start_offset(&mut client).await, -1);
    drop(client);
    let server = server.restart(config()).await;
    assert_eq!(held(&server), vec![]);
    server.stop().await;
}

/// A ShareFetch v2 (Kafka 4.2), which `kafka-protocol` 0.18 cannot write: v1's bytes with
/// `ShareAcquireMode` and `IsRenewAck` after `BatchSize`.
struct FetchV2 {
    v1: ShareFetchRequest,
    mode: i8,
    renew: bool,
}

impl kafka_protocol::protocol::Encodable for FetchV2 {
    fn encode<B: kafka_protocol::protocol::buf::ByteBufMut>(
        &self,
        buf: &mut B,
        _version: i16,
    ) -> anyhow::Result<()> {
        let mut v1 = bytes::BytesMut::new();
        self.v1.encode(&mut v1, 1)?;
        // The group and member ids (compact strings shorter than 127 bytes), then six int32s.
        let strings = 2
            + self.v1.group_id.as_ref().map_or(0, |g| g.0.len())
            + self.v1.member_id.as_ref().map_or(0, |m| m.len());
        let at = strings + 24;
        buf.put_slice(&v1[..at]);
        buf.put_i8(self.mode);
        buf.put_u8(u8::from(self.renew));
        buf.put_slice(&v1[at..]);
        Ok(())
    }

    fn compute_size(&self, _version: i16) -> anyhow::Result<usize> {
        Ok(self.v1.compute_size(1)? + 2)
    }
}

/// A v2 response read with v1's layout (ShareFetch's is unchanged).
struct AsV1<T>(T);

impl<T: kafka_protocol::protocol::Decodable> kafka_protocol::protocol::Decodable for AsV1<T> {
    fn decode<B: kafka_protocol::protocol::buf::ByteBuf>(
        buf: &mut B,
        _version: i16,
    ) -> anyhow::Result<Self> {
        T::decode(buf, 1).map(AsV1)
    }
}

async fn share_fetch_v2(client: &mut Client, request: FetchV2) -> ShareFetchResponse {
    let AsV1(r): AsV1<ShareFetchResponse> = client.call(ApiKey::ShareFetch, 2, &request).await;
    r
}

/// ShareFetch v2: in the `record_limit` acquire mode (KIP-1206) a fetch acquires at most
/// `max_records` of a batch, the next fetch the next ones; RENEW acknowledgements
/// (KIP-1222) keep records acquired past their lock duration (3 s here), and a fetch
/// flagged `IsRenewAck` acquires nothing more; an unknown acquire mode is refused.
#[tokio::test]
async fn renewals_hold_records_and_record_limit_splits_batches() {
    const RENEW: i8 = 4;
    const RECORD_LIMIT: i8 = 1;
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, TOPIC, 1, &[]);
    let mut client = server.connect().await;
    // Locks of 3 s: the renewals below come 2 s apart, with time to spare on a busy machine.
    assert_eq!(
        set_group_config(&mut client, "share.record.lock.duration.ms", "3000").await,
        0
    );
    assert_eq!(
        heartbeat(&mut client, "m", 0, Some(&[TOPIC]))
            .await
            .error_code,
        0
    );
    // The share-partition starts at the log end when first fetched: fetch once, then
    // produce one batch of 10.
    let r = share_fetch(&mut client, "m", 0, topic_id, true, vec![], 100, 0).await;
    assert_eq!(acquired(&r), vec![]);
    produce(
        &mut client,
        9,
        TOPIC,
        0,
        batch("job", 10, common::data::now(), Compression::None),
    )
    .await;
    let fetch = |epoch: i32, acks: Vec<(i64, i64, Vec<i8>)>, mode: i8, renew: bool| {
        // A renewal fetches nothing: its sizes are 0.
        let (max, wait) = if renew { (0, 0) } else { (4, 1000) };
        let v1 = fetch_request("m", epoch, topic_id, true, acks, max, wait);
        FetchV2 {
            v1: if renew {
                v1.with_min_bytes(0).with_max_bytes(0)
            } else {
                v1
            },
            mode,
            renew,
        }
    };
    let r = share_fetch_v2(&mut client, fetch(1, vec![], RECORD_LIMIT, false)).await;
    assert_eq!(acquired(&r), vec![(0, 3, 1)]);
    // Renewed twice, 2 s apart: 4 s after they were acquired, under a 3 s lock, the
    // records are still the member's. The renewing fetches acquire nothing.
    for epoch in [2, 3] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = share_fetch_v2(
            &mut client,
            fetch(epoch, vec![(0, 3, vec![RENEW])], RECORD_LIMIT, true),
        )
        .await;
        assert_eq!(ack_code(&r), 0, "{:?}", r.responses[0].partitions[0]);
        assert_eq!(acquired(&r), vec![]);
    }
    // The next records of the batch, not the renewed ones again.
    let r = share_fetch_v2(&mut client, fetch(4, vec![], RECORD_LIMIT, false)).await;
    assert_eq!(acquired(&r), vec![(4, 7, 1)]);
    // Still held, so they can be accepted.
    let r = share_fetch_v2(
        &mut client,
        fetch(5, vec![(0, 7, vec![ACCEPT])], RECORD_LIMIT, true),
    )
    .await;
    assert_eq!(ack_code(&r), 0);
    assert_eq!(start_offset(&mut client).await, 8);
    // Without renewals a lock ends: the last two, acquired and left for 3.5 s, come back
    // with their delivery count raised.
    let r = share_fetch_v2(&mut client, fetch(6, vec![], RECORD_LIMIT, false)).await;
    assert_eq!(acquired(&r), vec![(8, 9, 1)]);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = share_fetch_v2(&mut client, fetch(7, vec![], RECORD_LIMIT, false)).await;
    assert_eq!(acquired(&r), vec![(8, 9, 2)]);
    // An acquire mode Kafka does not have.
    let r = share_fetch_v2(&mut client, fetch(8, vec![], 7, false)).await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
}
