//! The KIP-848 consumer group protocol over real TCP: ConsumerGroupHeartbeat v0-1 and
//! ConsumerGroupDescribe v0-1, with the broker computing the assignment.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::data::create_topic;
use common::{Client, TestServer};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_server::Config;
use uuid::Uuid;

const GROUP: &str = "kip848";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn config() -> Config {
    Config {
        broker_configs: BTreeMap::from([("offsets.topic.num.partitions".into(), "3".into())]),
        ..Config::default()
    }
}

/// Looks up the group's coordinator, which creates `__consumer_offsets` (or loads it).
async fn find_coordinator(client: &mut Client) {
    let r: FindCoordinatorResponse = client
        .call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default().with_key(s(GROUP)),
        )
        .await;
    assert_eq!(r.error_code, 0, "the coordinator is this broker");
}

async fn server() -> TestServer {
    let server = TestServer::start(config()).await;
    find_coordinator(&mut server.connect().await).await;
    server
}

/// A member's view: id, epoch and owned partitions.
struct Member {
    id: String,
    epoch: i32,
    owned: BTreeSet<(Uuid, i32)>,
}

fn owned_wire(owned: &BTreeSet<(Uuid, i32)>) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (t, p) in owned {
        by_topic.entry(*t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| {
            TopicPartitions::default()
                .with_topic_id(t)
                .with_partitions(ps)
        })
        .collect()
}

/// One heartbeat; updates the member from the response (adopting a new assignment at
/// once, as a client that revokes and assigns immediately does).
async fn heartbeat(
    client: &mut Client,
    version: i16,
    member: &mut Member,
    topics: &[&str],
) -> ConsumerGroupHeartbeatResponse {
    let full = member.epoch == 0;
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s(&member.id))
        .with_member_epoch(member.epoch)
        .with_rebalance_timeout_ms(if full { 30_000 } else { -1 })
        .with_subscribed_topic_names(full.then(|| topics.iter().map(|t| TopicName(s(t))).collect()))
        .with_topic_partitions(Some(owned_wire(&member.owned)));
    let r: ConsumerGroupHeartbeatResponse = client
        .call(ApiKey::ConsumerGroupHeartbeat, version, &request)
        .await;
    if r.error_code == 0 {
        if let Some(id) = &r.member_id {
            member.id = id.to_string();
        }
        member.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            member.owned = a
                .topic_partitions
                .iter()
                .flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic_id, *p)))
                .collect();
        }
    }
    r
}

#[tokio::test]
async fn members_get_every_partition_exactly_once_as_they_come_and_go() {
    let server = server().await;
    let topic = create_topic(&server, "events", 6, &[]);
    let mut client = server.connect().await;

    // v1: the client generates its member id.
    let mut a = Member {
        id: Uuid::new_v4().to_string(),
        epoch: 0,
        owned: BTreeSet::new(),
    };
    let r = heartbeat(&mut client, 1, &mut a, &["events"]).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    assert!(r.heartbeat_interval_ms > 0);
    assert_eq!(a.owned.len(), 6, "a single member owns every partition");
    assert!(a.owned.iter().all(|(t, _)| *t == topic));

    // v0: an empty member id is given one by the broker.
    let mut b = Member {
        id: String::new(),
        epoch: 0,
        owned: BTreeSet::new(),
    };
    heartbeat(&mut client, 0, &mut b, &["events"]).await;
    assert!(!b.id.is_empty(), "v0 generates the member id");
    // B gets nothing until A gives partitions up.
    assert!(b.owned.is_empty(), "{:?}", b.owned);
    // A's next heartbeat revokes half; once A acknowledges, B gets them.
    for _ in 0..6 {
        heartbeat(&mut client, 1, &mut a, &["events"]).await;
        heartbeat(&mut client, 0, &mut b, &["events"]).await;
    }
    assert_eq!((a.owned.len(), b.owned.len()), (3, 3));
    assert!(a.owned.is_disjoint(&b.owned), "no partition is owned twice");
    assert_eq!(a.epoch, b.epoch, "both reconciled to the group's epoch");

    // ConsumerGroupDescribe sees both members, stable, with the topic's name.
    let d: ConsumerGroupDescribeResponse = client
        .call(
            ApiKey::ConsumerGroupDescribe,
            1,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(GROUP))]),
        )
        .await;
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members.len(), 2);
    for m in &g.members {
        assert_eq!(m.member_type, 1);
        assert_eq!(
            m.assignment.topic_partitions[0].topic_name.as_str(),
            "events"
        );
        assert_eq!(m.assignment.topic_partitions[0].partitions.len(), 3);
    }

    // ListGroups v5 shows its type; DescribeGroups (classic) does not know it.
    let l: ListGroupsResponse = client
        .call(
            ApiKey::ListGroups,
            5,
            &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        )
        .await;
    let listed: Vec<_> = l
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
    assert_eq!(listed, [(GROUP, "consumer", "Stable")]);
    let classic: DescribeGroupsResponse = client
        .call(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(GROUP))]),
        )
        .await;
    assert_eq!(
        classic.groups[0].error_code,
        ResponseError::GroupIdNotFound.code()
    );

    // A member commits with its epoch; a stale epoch is refused.
    let commit = |epoch: i32, member: &str| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("events")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(5)])])
    };
    let ok: OffsetCommitResponse = client
        .call(ApiKey::OffsetCommit, 9, &commit(a.epoch, &a.id))
        .await;
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    let stale: OffsetCommitResponse = client
        .call(ApiKey::OffsetCommit, 9, &commit(a.epoch - 1, &a.id))
        .await;
    assert_eq!(
        stale.topics[0].partitions[0].error_code,
        ResponseError::StaleMemberEpoch.code()
    );

    // A leaves (epoch -1): B gets everything.
    a.epoch = -1;
    let r = heartbeat(&mut client, 1, &mut a, &["events"]).await;
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    heartbeat(&mut client, 0, &mut b, &["events"]).await;
    heartbeat(&mut client, 0, &mut b, &["events"]).await;
    assert_eq!(b.owned.len(), 6);

    // A fenced epoch is refused.
    let mut ghost = Member {
        id: b.id.clone(),
        epoch: b.epoch + 10,
        owned: BTreeSet::new(),
    };
    let r = heartbeat(&mut client, 0, &mut ghost, &["events"]).await;
    assert_eq!(r.error_code, ResponseError::FencedMemberEpoch.code());
    server.stop().await;
}

#[tokio::test]
async fn bad_heartbeats_get_kafka_errors() {
    let server = server().await;
    create_topic(&server, "events", 2, &[]);
    let mut client = server.connect().await;
    // v1 needs a member id.
    let r: ConsumerGroupHeartbeatResponse = client
        .call(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(s("events"))]))
                .with_topic_partitions(Some(vec![])),
        )
        .await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    // An unknown assignor.
    let r: ConsumerGroupHeartbeatResponse = client
        .call(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_member_id(s("m"))
                .with_rebalance_timeout_ms(30_000)
                .with_server_assignor(Some(s("sticky-ish")))
                .with_subscribed_topic_names(Some(vec![TopicName(s("events"))]))
                .with_topic_partitions(Some(vec![])),
        )
        .await;
    assert_eq!(r.error_code, ResponseError::UnsupportedAssignor.code());
    // A heartbeat of a member the group does not know.
    let r: ConsumerGroupHeartbeatResponse = client
        .call(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("nobody-here")))
                .with_member_id(s("m"))
                .with_member_epoch(3),
        )
        .await;
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    // ConsumerGroupDescribe of an unknown group.
    let d: ConsumerGroupDescribeResponse = client
        .call(
            ApiKey::ConsumerGroupDescribe,
            0,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("none"))]),
        )
        .await;
    assert_eq!(
        d.groups[0].error_code,
        ResponseError::GroupIdNotFound.code()
    );
    server.stop().await;
}

/// Deleting a topic deletes every group's committed offsets of it, as Kafka's group
/// coordinator does (`onPartitionsDeleted`): a topic created again under the same name is
/// read from where the reset policy says, not from the old topic's offsets. Other topics'
/// offsets stay, and a restart does not bring the deleted ones back.
#[tokio::test]
async fn a_deleted_topics_offsets_go_with_it() {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{
        DeleteTopicsRequest, DeleteTopicsResponse, OffsetFetchRequest, OffsetFetchResponse,
    };
    let server = server().await;
    create_topic(&server, "orders", 2, &[]);
    create_topic(&server, "audit", 1, &[]);
    let mut client = server.connect().await;
    let commit = |topic: &str, offset: i64| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])])
    };
    for (topic, offset) in [("orders", 40), ("audit", 7)] {
        let r: OffsetCommitResponse = client
            .call(ApiKey::OffsetCommit, 8, &commit(topic, offset))
            .await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    let fetch = |topic: &str| {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![0])]))
    };
    async fn committed(client: &mut Client, request: &OffsetFetchRequest) -> i64 {
        let r: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 7, request).await;
        assert_eq!(r.error_code, 0);
        r.topics[0].partitions[0].committed_offset
    }
    assert_eq!(committed(&mut client, &fetch("orders")).await, 40);

    let r: DeleteTopicsResponse = client
        .call(
            ApiKey::DeleteTopics,
            4,
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(s("orders"))])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    create_topic(&server, "orders", 2, &[]);
    assert_eq!(committed(&mut client, &fetch("orders")).await, -1);
    assert_eq!(committed(&mut client, &fetch("audit")).await, 7);

    // The tombstones are durable: the offsets stay gone after a restart.
    drop(client);
    let server = server.restart(config()).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client).await;
    assert_eq!(committed(&mut client, &fetch("orders")).await, -1);
    assert_eq!(committed(&mut client, &fetch("audit")).await, 7);
    drop(client);
    server.stop().await;
}
