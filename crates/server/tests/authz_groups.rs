//! Authorization of the group and transaction APIs, as Kafka's `KafkaApis` decides it:
//! GROUP, TOPIC, TRANSACTIONAL_ID and CLUSTER ACLs over SASL PLAIN principals.

mod common;

use std::collections::BTreeMap;

use common::authz::{allow, connect_as, grant};
use common::data::{create_topic, name};
use common::{Client, TestServer};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_server::authz::{Operation, ResourceType};
use myelin_server::Config;

const TOPIC_AUTH: i16 = 29;
const GROUP_AUTH: i16 = 30;
const CLUSTER_AUTH: i16 = 31;
const TXN_AUTH: i16 = 53;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn tid(v: &str) -> TransactionalId {
    TransactionalId(s(v))
}

/// The authorizer's config, with small internal topics and no initial rebalance delay.
fn config() -> Config {
    Config {
        broker_configs: BTreeMap::from([
            ("offsets.topic.num.partitions".into(), "2".into()),
            ("transaction.state.log.num.partitions".into(), "2".into()),
            ("group.initial.rebalance.delay.ms".into(), "0".into()),
        ]),
        ..common::authz::config()
    }
}

/// A server with topics `t1` and `t2` (one partition each), `__consumer_offsets` and
/// `__transaction_state` created (by the super user), and an admin connection.
async fn server() -> (TestServer, Client) {
    let server = TestServer::start(config()).await;
    create_topic(&server, "t1", 1, &[]);
    create_topic(&server, "t2", 1, &[]);
    let mut admin = connect_as(&server, "admin").await;
    for key_type in [0, 1] {
        let r: FindCoordinatorResponse = admin
            .call(
                ApiKey::FindCoordinator,
                3,
                &FindCoordinatorRequest::default()
                    .with_key(s("any"))
                    .with_key_type(key_type),
            )
            .await;
        assert_eq!(r.error_code, 0, "{r:?}");
    }
    (server, admin)
}

async fn find_coordinator(client: &mut Client, key_type: i8, key: &str) -> i16 {
    let r: FindCoordinatorResponse = client
        .call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(s(key))
                .with_key_type(key_type),
        )
        .await;
    r.error_code
}

async fn join(client: &mut Client, group: &str, member: &str) -> JoinGroupResponse {
    client
        .call(
            ApiKey::JoinGroup,
            7,
            &JoinGroupRequest::default()
                .with_group_id(gid(group))
                .with_session_timeout_ms(30_000)
                .with_rebalance_timeout_ms(30_000)
                .with_member_id(s(member))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(vec![1, 2, 3].into())]),
        )
        .await
}

async fn sync(client: &mut Client, group: &str, member: &str, generation: i32) -> i16 {
    let r: SyncGroupResponse = client
        .call(
            ApiKey::SyncGroup,
            5,
            &SyncGroupRequest::default()
                .with_group_id(gid(group))
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(member))
                    .with_assignment(vec![9].into())]),
        )
        .await;
    r.error_code
}

async fn heartbeat(client: &mut Client, group: &str, member: &str, generation: i32) -> i16 {
    let r: HeartbeatResponse = client
        .call(
            ApiKey::Heartbeat,
            4,
            &HeartbeatRequest::default()
                .with_group_id(gid(group))
                .with_generation_id(generation)
                .with_member_id(s(member)),
        )
        .await;
    r.error_code
}

async fn leave(client: &mut Client, group: &str, member: &str) -> LeaveGroupResponse {
    client
        .call(
            ApiKey::LeaveGroup,
            4,
            &LeaveGroupRequest::default()
                .with_group_id(gid(group))
                .with_members(vec![MemberIdentity::default().with_member_id(s(member))]),
        )
        .await
}

#[tokio::test]
async fn find_coordinator_and_classic_membership() {
    let (server, mut admin) = server().await;
    grant(
        &server,
        vec![
            allow(ResourceType::Group, "g", "alice", Operation::Read),
            allow(
                ResourceType::TransactionalId,
                "tx",
                "alice",
                Operation::Describe,
            ),
        ],
    );
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;

    // FindCoordinator: DESCRIBE on the group (READ implies it) or the transactional id.
    assert_eq!(find_coordinator(&mut alice, 0, "g").await, 0);
    assert_eq!(find_coordinator(&mut alice, 1, "tx").await, 0);
    assert_eq!(find_coordinator(&mut bob, 0, "g").await, GROUP_AUTH);
    assert_eq!(find_coordinator(&mut bob, 1, "tx").await, TXN_AUTH);
    assert_eq!(find_coordinator(&mut admin, 0, "whatever").await, 0);
    // v4: each key on its own.
    let r: FindCoordinatorResponse = alice
        .call(
            ApiKey::FindCoordinator,
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![s("g"), s("other")]),
        )
        .await;
    let codes: Vec<i16> = r.coordinators.iter().map(|c| c.error_code).collect();
    assert_eq!(codes, vec![0, GROUP_AUTH]);
    assert_eq!(r.coordinators[1].node_id.0, -1);

    // JoinGroup: bob is refused, with his member id echoed; alice joins.
    let r = join(&mut bob, "g", "bob-1").await;
    assert_eq!(r.error_code, GROUP_AUTH);
    assert_eq!(r.member_id.as_str(), "bob-1");
    assert_eq!(r.generation_id, -1);
    let r = join(&mut alice, "g", "").await;
    assert_eq!(r.error_code, ResponseError::MemberIdRequired.code());
    let member = r.member_id.to_string();
    let r = join(&mut alice, "g", &member).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let generation = r.generation_id;

    // SyncGroup, Heartbeat, LeaveGroup: READ on the group, checked before the group.
    assert_eq!(sync(&mut bob, "g", &member, generation).await, GROUP_AUTH);
    assert_eq!(sync(&mut alice, "g", &member, generation).await, 0);
    assert_eq!(
        heartbeat(&mut bob, "g", &member, generation).await,
        GROUP_AUTH
    );
    assert_eq!(heartbeat(&mut alice, "g", &member, generation).await, 0);
    // An empty group id is a group too: refused before it is found invalid.
    assert_eq!(
        heartbeat(&mut bob, "", &member, generation).await,
        GROUP_AUTH
    );
    let r = leave(&mut bob, "g", &member).await;
    assert_eq!(r.error_code, GROUP_AUTH);
    assert!(r.members.is_empty());
    let r = leave(&mut alice, "g", &member).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.members[0].error_code, 0);

    // The super user is never refused.
    let r = join(&mut admin, "admins", "").await;
    assert_eq!(r.error_code, ResponseError::MemberIdRequired.code());
    assert_ne!(
        heartbeat(&mut admin, "admins", "nobody", 1).await,
        GROUP_AUTH
    );
}

fn commit_request(group: &str, topics: &[&str]) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    OffsetCommitRequestTopic::default()
                        .with_name(name(t))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(7)])
                })
                .collect(),
        )
}

/// Each partition's error code, by topic, in response order.
async fn commit(client: &mut Client, group: &str, topics: &[&str]) -> Vec<(String, i16)> {
    let r: OffsetCommitResponse = client
        .call(ApiKey::OffsetCommit, 8, &commit_request(group, topics))
        .await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

fn pairs(v: &[(&str, i16)]) -> Vec<(String, i16)> {
    v.iter().map(|(t, c)| (t.to_string(), *c)).collect()
}

/// OffsetFetch v7: (top-level error, [(topic, offset, error)]).
async fn fetch_v7(
    client: &mut Client,
    group: &str,
    topics: Option<&[&str]>,
) -> (i16, Vec<(String, i64, i16)>) {
    let r: OffsetFetchResponse = client
        .call(
            ApiKey::OffsetFetch,
            7,
            &OffsetFetchRequest::default()
                .with_group_id(gid(group))
                .with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|t| {
                            OffsetFetchRequestTopic::default()
                                .with_name(name(t))
                                .with_partition_indexes(vec![0])
                        })
                        .collect()
                })),
        )
        .await;
    let partitions = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.committed_offset, p.error_code))
        })
        .collect();
    (r.error_code, partitions)
}

#[tokio::test]
async fn offsets_need_group_and_topic_acls() {
    let (server, mut admin) = server().await;
    grant(
        &server,
        vec![
            allow(ResourceType::Group, "g", "alice", Operation::Read),
            allow(ResourceType::Topic, "t1", "alice", Operation::Read),
        ],
    );
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;

    // The super user commits everything.
    assert_eq!(
        commit(&mut admin, "g", &["t1", "t2"]).await,
        pairs(&[("t1", 0), ("t2", 0)])
    );
    // OffsetCommit: READ on the group, else every partition; then READ on each topic,
    // before its existence.
    assert_eq!(
        commit(&mut bob, "g", &["t1", "nope"]).await,
        pairs(&[("t1", GROUP_AUTH), ("nope", GROUP_AUTH)])
    );
    assert_eq!(
        commit(&mut alice, "g", &["t1", "t2", "nope"]).await,
        pairs(&[("t1", 0), ("t2", TOPIC_AUTH), ("nope", TOPIC_AUTH)])
    );

    // OffsetFetch (v7): named topics without DESCRIBE fail, every topic leaves them out.
    let (code, parts) = fetch_v7(&mut alice, "g", Some(&["t1", "t2"])).await;
    assert_eq!(code, 0);
    assert_eq!(
        parts,
        vec![("t1".to_string(), 7, 0), ("t2".to_string(), -1, TOPIC_AUTH)]
    );
    let (code, parts) = fetch_v7(&mut alice, "g", None).await;
    assert_eq!(code, 0);
    assert_eq!(parts, vec![("t1".to_string(), 7, 0)]);
    let (code, parts) = fetch_v7(&mut admin, "g", None).await;
    assert_eq!((code, parts.len()), (0, 2));
    let (code, parts) = fetch_v7(&mut bob, "g", Some(&["t1"])).await;
    assert_eq!((code, parts.len()), (GROUP_AUTH, 0));
    // v1 has no top-level error: each requested partition carries it.
    let r: OffsetFetchResponse = bob
        .call(
            ApiKey::OffsetFetch,
            1,
            &OffsetFetchRequest::default()
                .with_group_id(gid("g"))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(name("t1"))
                    .with_partition_indexes(vec![0])])),
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, GROUP_AUTH);
    // v8: the group's error.
    let r: OffsetFetchResponse = alice
        .call(
            ApiKey::OffsetFetch,
            8,
            &OffsetFetchRequest::default().with_groups(
                ["g", "other"]
                    .iter()
                    .map(|g| {
                        OffsetFetchRequestGroup::default()
                            .with_group_id(gid(g))
                            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                                .with_name(name("t1"))
                                .with_partition_indexes(vec![0])]))
                    })
                    .collect(),
            ),
        )
        .await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 7);
    assert_eq!(r.groups[1].error_code, GROUP_AUTH);

    // OffsetDelete: DELETE on the group (top-level), then READ on each topic.
    let delete = OffsetDeleteRequest::default()
        .with_group_id(gid("g"))
        .with_topics(
            ["t1", "t2"]
                .iter()
                .map(|t| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(name(t))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(0)
                        ])
                })
                .collect(),
        );
    let r: OffsetDeleteResponse = alice.call(ApiKey::OffsetDelete, 0, &delete).await;
    assert_eq!(r.error_code, GROUP_AUTH);
    assert!(r.topics.is_empty());
    grant(
        &server,
        vec![allow(ResourceType::Group, "g", "alice", Operation::Delete)],
    );
    let r: OffsetDeleteResponse = alice.call(ApiKey::OffsetDelete, 0, &delete).await;
    assert_eq!(r.error_code, 0);
    let codes: Vec<i16> = r
        .topics
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect();
    assert_eq!(codes, vec![0, TOPIC_AUTH]);
    // t1's offset is gone, t2's kept.
    let (_, parts) = fetch_v7(&mut admin, "g", Some(&["t1", "t2"])).await;
    assert_eq!(
        parts,
        vec![("t1".to_string(), -1, 0), ("t2".to_string(), 7, 0)]
    );
}

async fn consumer_heartbeat(
    client: &mut Client,
    group: &str,
    member: &str,
    topics: Option<&[&str]>,
    regex: Option<&str>,
) -> ConsumerGroupHeartbeatResponse {
    client
        .call(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(gid(group))
                .with_member_id(s(member))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(topics.map(|ts| ts.iter().map(|t| name(t)).collect()))
                .with_subscribed_topic_regex(regex.map(s))
                .with_topic_partitions(Some(vec![])),
        )
        .await
}

async fn consumer_describe(client: &mut Client, groups: &[&str]) -> ConsumerGroupDescribeResponse {
    client
        .call(
            ApiKey::ConsumerGroupDescribe,
            0,
            &ConsumerGroupDescribeRequest::default()
                .with_group_ids(groups.iter().map(|g| gid(g)).collect())
                .with_include_authorized_operations(true),
        )
        .await
}

#[tokio::test]
async fn group_administration_and_consumer_groups() {
    let (server, mut admin) = server().await;
    let t1 = create_topic(&server, "x1", 1, &[]);
    create_topic(&server, "x2", 1, &[]);
    for g in ["ga", "gb"] {
        assert_eq!(commit(&mut admin, g, &["t1"]).await, pairs(&[("t1", 0)]));
    }
    grant(
        &server,
        vec![
            allow(ResourceType::Group, "ga", "alice", Operation::Describe),
            allow(
                ResourceType::Cluster,
                "kafka-cluster",
                "carol",
                Operation::Describe,
            ),
            allow(ResourceType::Group, "cg", "alice", Operation::Read),
            allow(ResourceType::Group, "cg", "carol", Operation::Describe),
            allow(ResourceType::Topic, "x1", "alice", Operation::Describe),
        ],
    );
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;
    let mut carol = connect_as(&server, "carol").await;

    // ListGroups: every group with DESCRIBE on the cluster, else the describable ones.
    async fn list(client: &mut Client) -> Vec<String> {
        let r: ListGroupsResponse = client
            .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
            .await;
        assert_eq!(r.error_code, 0);
        r.groups.iter().map(|g| g.group_id.to_string()).collect()
    }
    assert_eq!(list(&mut alice).await, vec!["ga"]);
    assert!(list(&mut bob).await.is_empty());
    assert_eq!(list(&mut carol).await, vec!["ga", "gb"]);
    assert_eq!(list(&mut admin).await, vec!["ga", "gb"]);

    // DescribeGroups: DESCRIBE per group; the principal's authorized operations.
    let describe = DescribeGroupsRequest::default()
        .with_groups(vec![gid("ga"), gid("gb")])
        .with_include_authorized_operations(true);
    let r: DescribeGroupsResponse = alice.call(ApiKey::DescribeGroups, 5, &describe).await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].group_state.as_str(), "Empty");
    assert_eq!(r.groups[0].authorized_operations, 1 << 8);
    assert_eq!(r.groups[1].error_code, GROUP_AUTH);
    assert_eq!(r.groups[1].authorized_operations, i32::MIN);
    let r: DescribeGroupsResponse = admin.call(ApiKey::DescribeGroups, 5, &describe).await;
    assert_eq!(r.groups[1].error_code, 0);
    assert_eq!(
        r.groups[1].authorized_operations,
        (1 << 3) | (1 << 6) | (1 << 8)
    );

    // DeleteGroups: DELETE per group.
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![gid("ga"), gid("gb")]);
    let r: DeleteGroupsResponse = alice.call(ApiKey::DeleteGroups, 2, &delete).await;
    let codes: Vec<i16> = r.results.iter().map(|g| g.error_code).collect();
    assert_eq!(codes, vec![GROUP_AUTH, GROUP_AUTH]);
    grant(
        &server,
        vec![allow(ResourceType::Group, "ga", "alice", Operation::Delete)],
    );
    let r: DeleteGroupsResponse = alice.call(ApiKey::DeleteGroups, 2, &delete).await;
    let codes: Vec<i16> = r.results.iter().map(|g| g.error_code).collect();
    assert_eq!(codes, vec![0, GROUP_AUTH]);
    assert_eq!(list(&mut admin).await, vec!["gb"]);

    // ConsumerGroupHeartbeat: READ on the group, DESCRIBE on every named topic.
    let r = consumer_heartbeat(&mut bob, "cg", "b", Some(&["x1"]), None).await;
    assert_eq!(r.error_code, GROUP_AUTH);
    let r = consumer_heartbeat(&mut alice, "cg", "a", Some(&["x1", "x2"]), None).await;
    assert_eq!(r.error_code, TOPIC_AUTH, "{r:?}");
    let r = consumer_heartbeat(&mut alice, "cg", "a", Some(&["x1"]), None).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let assigned: Vec<_> = r
        .assignment
        .expect("an assignment")
        .topic_partitions
        .iter()
        .map(|tp| (tp.topic_id, tp.partitions.clone()))
        .collect();
    assert_eq!(assigned, vec![(t1, vec![0])]);
    // A regular expression matches only the describable topics (x1, not x2).
    let r = consumer_heartbeat(&mut alice, "cg", "r", None, Some("x.*")).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let described = consumer_describe(&mut admin, &["cg"]).await;
    let member = described.groups[0]
        .members
        .iter()
        .find(|m| m.member_id.as_str() == "r")
        .expect("member r");
    let targets: Vec<&str> = member
        .target_assignment
        .topic_partitions
        .iter()
        .map(|tp| tp.topic_name.as_str())
        .collect();
    assert!(targets.iter().all(|t| *t == "x1"), "{targets:?}");
    // The super user subscribes to anything.
    let r = consumer_heartbeat(&mut admin, "cg", "adm", Some(&["x2"]), None).await;
    assert_eq!(r.error_code, 0, "{r:?}");

    // ConsumerGroupDescribe: DESCRIBE on the group, and on every assigned topic.
    let r = consumer_describe(&mut bob, &["cg"]).await;
    assert_eq!(r.groups[0].error_code, GROUP_AUTH);
    let r = consumer_describe(&mut carol, &["cg"]).await;
    assert_eq!(r.groups[0].error_code, TOPIC_AUTH, "{r:?}");
    assert!(r.groups[0].members.is_empty());
    grant(
        &server,
        vec![
            allow(ResourceType::Topic, "x1", "carol", Operation::Describe),
            allow(ResourceType::Topic, "x2", "carol", Operation::Describe),
        ],
    );
    let r = consumer_describe(&mut carol, &["cg"]).await;
    assert_eq!(r.groups[0].error_code, 0, "{r:?}");
    assert_eq!(r.groups[0].members.len(), 3);
    assert_eq!(r.groups[0].authorized_operations, 1 << 8);
    let r = consumer_describe(&mut admin, &["cg"]).await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(
        r.groups[0].authorized_operations,
        (1 << 3) | (1 << 6) | (1 << 8)
    );
}

async fn init_producer_id(client: &mut Client, id: Option<&str>) -> InitProducerIdResponse {
    loop {
        let r: InitProducerIdResponse = client
            .call(
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(id.map(tid))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        if r.error_code != ResponseError::ConcurrentTransactions.code() {
            return r;
        }
    }
}

/// AddPartitionsToTxn v3: each partition's (topic, error).
async fn add_partitions(
    client: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    topics: &[&str],
) -> Vec<(String, i16)> {
    let r: AddPartitionsToTxnResponse = client
        .call(
            ApiKey::AddPartitionsToTxn,
            3,
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid(id))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(
                    topics
                        .iter()
                        .map(|t| {
                            AddPartitionsToTxnTopic::default()
                                .with_name(name(t))
                                .with_partitions(vec![0])
                        })
                        .collect(),
                ),
        )
        .await;
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| (t.name.to_string(), p.partition_error_code))
        })
        .collect()
}

async fn add_offsets(client: &mut Client, id: &str, pid: i64, epoch: i16, group: &str) -> i16 {
    let r: AddOffsetsToTxnResponse = client
        .call(
            ApiKey::AddOffsetsToTxn,
            3,
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(tid(id))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(gid(group)),
        )
        .await;
    r.error_code
}

async fn txn_commit(
    client: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    group: &str,
    topics: &[&str],
) -> Vec<(String, i16)> {
    let r: TxnOffsetCommitResponse = client
        .call(
            ApiKey::TxnOffsetCommit,
            2,
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(tid(id))
                .with_group_id(gid(group))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_topics(
                    topics
                        .iter()
                        .map(|t| {
                            TxnOffsetCommitRequestTopic::default()
                                .with_name(name(t))
                                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(3)])
                        })
                        .collect(),
                ),
        )
        .await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

async fn end_txn(client: &mut Client, id: &str, pid: i64, epoch: i16) -> i16 {
    let r: EndTxnResponse = client
        .call(
            ApiKey::EndTxn,
            3,
            &EndTxnRequest::default()
                .with_transactional_id(tid(id))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(true),
        )
        .await;
    r.error_code
}

#[tokio::test]
async fn transactions_need_transactional_id_acls() {
    let (server, mut admin) = server().await;
    grant(
        &server,
        vec![
            allow(
                ResourceType::TransactionalId,
                "tx-a",
                "alice",
                Operation::Write,
            ),
            allow(ResourceType::Topic, "t1", "alice", Operation::Write),
            allow(ResourceType::Topic, "t1", "alice", Operation::Read),
            allow(ResourceType::Group, "g", "alice", Operation::Read),
            allow(
                ResourceType::Cluster,
                "kafka-cluster",
                "carol",
                Operation::IdempotentWrite,
            ),
        ],
    );
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;
    let mut carol = connect_as(&server, "carol").await;

    // InitProducerId: WRITE on the transactional id; idempotent producers need
    // IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    assert_eq!(
        init_producer_id(&mut bob, Some("tx-a")).await.error_code,
        TXN_AUTH
    );
    assert_eq!(
        init_producer_id(&mut bob, None).await.error_code,
        CLUSTER_AUTH
    );
    let r = init_producer_id(&mut bob, None).await;
    assert_eq!((r.producer_id.0, r.producer_epoch), (-1, -1));
    assert_eq!(init_producer_id(&mut alice, None).await.error_code, 0);
    assert_eq!(init_producer_id(&mut carol, None).await.error_code, 0);
    assert_eq!(init_producer_id(&mut admin, None).await.error_code, 0);
    let r = init_producer_id(&mut admin, Some("tx-b")).await;
    assert_eq!(r.error_code, 0);
    let r = init_producer_id(&mut alice, Some("tx-a")).await;
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);

    // AddPartitionsToTxn v0-3: WRITE on the transactional id, then on each topic; one
    // refused topic fails the whole request.
    assert_eq!(
        add_partitions(&mut bob, "tx-a", pid, epoch, &["t1"]).await,
        pairs(&[("t1", TXN_AUTH)])
    );
    assert_eq!(
        add_partitions(&mut alice, "tx-a", pid, epoch, &["t1", "t2", "nope"]).await,
        pairs(&[
            ("t1", ResponseError::OperationNotAttempted.code()),
            ("t2", TOPIC_AUTH),
            ("nope", TOPIC_AUTH)
        ])
    );
    assert_eq!(
        add_partitions(&mut alice, "tx-a", pid, epoch, &["t1"]).await,
        pairs(&[("t1", 0)])
    );
    // v4 is for brokers: CLUSTER_ACTION.
    let verify = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(tid("tx-a"))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(true)
            .with_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(name("t1"))
                .with_partitions(vec![0])]),
    ]);
    let r: AddPartitionsToTxnResponse = alice.call(ApiKey::AddPartitionsToTxn, 4, &verify).await;
    assert_eq!(r.error_code, CLUSTER_AUTH);
    assert!(r.results_by_transaction.is_empty());
    let r: AddPartitionsToTxnResponse = admin.call(ApiKey::AddPartitionsToTxn, 4, &verify).await;
    assert_eq!(r.error_code, 0);
    let p = &r.results_by_transaction[0].topic_results[0].results_by_partition[0];
    assert_eq!(p.partition_error_code, 0, "t1 is in the transaction");

    // AddOffsetsToTxn: WRITE on the transactional id, READ on the group.
    assert_eq!(
        add_offsets(&mut bob, "tx-a", pid, epoch, "g").await,
        TXN_AUTH
    );
    assert_eq!(
        add_offsets(&mut alice, "tx-a", pid, epoch, "h").await,
        GROUP_AUTH
    );
    assert_eq!(add_offsets(&mut alice, "tx-a", pid, epoch, "g").await, 0);

    // TxnOffsetCommit: the transactional id, the group, then READ per topic.
    assert_eq!(
        txn_commit(&mut bob, "tx-a", pid, epoch, "g", &["t1", "t2"]).await,
        pairs(&[("t1", TXN_AUTH), ("t2", TXN_AUTH)])
    );
    assert_eq!(
        txn_commit(&mut alice, "tx-a", pid, epoch, "h", &["t1"]).await,
        pairs(&[("t1", GROUP_AUTH)])
    );
    assert_eq!(
        txn_commit(&mut alice, "tx-a", pid, epoch, "g", &["t1", "t2"]).await,
        pairs(&[("t1", 0), ("t2", TOPIC_AUTH)])
    );

    // DescribeTransactions: DESCRIBE per id (WRITE implies it); undescribable topics
    // (here __consumer_offsets) are left out.
    let describe = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![tid("tx-a"), tid("tx-b")]);
    let r: DescribeTransactionsResponse =
        alice.call(ApiKey::DescribeTransactions, 0, &describe).await;
    let a = &r.transaction_states[0];
    assert_eq!(a.error_code, 0);
    assert_eq!(a.producer_id.0, pid);
    let topics: Vec<&str> = a.topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(topics, vec!["t1"]);
    assert_eq!(r.transaction_states[1].error_code, TXN_AUTH);
    let r: DescribeTransactionsResponse =
        admin.call(ApiKey::DescribeTransactions, 0, &describe).await;
    assert_eq!(r.transaction_states[0].topics.len(), 2, "{r:?}");
    assert_eq!(r.transaction_states[1].error_code, 0);

    // ListTransactions: only the describable ids.
    async fn list(client: &mut Client) -> Vec<String> {
        let r: ListTransactionsResponse = client
            .call(
                ApiKey::ListTransactions,
                0,
                &ListTransactionsRequest::default(),
            )
            .await;
        let mut ids: Vec<String> = r
            .transaction_states
            .iter()
            .map(|t| t.transactional_id.to_string())
            .collect();
        ids.sort();
        ids
    }
    assert_eq!(list(&mut alice).await, vec!["tx-a"]);
    assert!(list(&mut bob).await.is_empty());
    assert_eq!(list(&mut admin).await, vec!["tx-a", "tx-b"]);

    // EndTxn: WRITE on the transactional id.
    assert_eq!(end_txn(&mut bob, "tx-a", pid, epoch).await, TXN_AUTH);
    assert_eq!(end_txn(&mut alice, "tx-a", pid, epoch).await, 0);
    // The committed offset is visible to whoever may read it.
    let (code, parts) = fetch_v7(&mut alice, "g", Some(&["t1"])).await;
    assert_eq!((code, parts), (0, vec![("t1".to_string(), 3, 0)]));
}
