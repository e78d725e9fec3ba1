//! Authorization of the admin APIs, as Kafka's `KafkaApis` and controller decide it:
//! CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
//! IncrementalAlterConfigs, DescribeCluster, DescribeLogDirs, AlterReplicaLogDirs,
//! ElectLeaders, Alter/ListPartitionReassignments and the SCRAM credential APIs, with SASL
//! PLAIN users and ACLs (`common::authz`).

mod common;

use common::authz::{allow, config, connect_as, grant};
use common::{Client, TestServer};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::alter_replica_log_dirs_request::{
    AlterReplicaLogDir, AlterReplicaLogDirTopic,
};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse, AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse,
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey, BrokerId,
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeClusterRequest, DescribeClusterResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse, ElectLeadersRequest, ElectLeadersResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_server::authz::{Operation, ResourceType, CLUSTER_NAME};
use myelin_server::sasl::scram::salted_password;
use myelin_server::sasl::Mechanism;
use uuid::Uuid;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;
const ELECTION_NOT_NEEDED: i16 = 84;
const UNKNOWN_TOPIC_ID: i16 = 100;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn name(v: &str) -> TopicName {
    TopicName(s(v))
}

// ---- topics ----

async fn create_topics(client: &mut Client, names: &[&str]) -> CreateTopicsResponse {
    let topics = names
        .iter()
        .map(|n| {
            CreatableTopic::default()
                .with_name(name(n))
                .with_num_partitions(1)
                .with_replication_factor(1)
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000);
    client.call(ApiKey::CreateTopics, 7, &request).await
}

/// (name, error code) of each CreateTopics result.
fn created(r: &CreateTopicsResponse) -> Vec<(String, i16)> {
    r.topics
        .iter()
        .map(|t| (t.name.to_string(), t.error_code))
        .collect()
}

async fn grow(client: &mut Client, topic: &str, count: i32) -> i16 {
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name(topic))
            .with_count(count)
            .with_assignments(None)])
        .with_timeout_ms(10_000);
    let r: CreatePartitionsResponse = client.call(ApiKey::CreatePartitions, 3, &request).await;
    r.results[0].error_code
}

/// DeleteTopics v6 by name: the error code of each.
async fn delete_by_name(client: &mut Client, names: &[&str]) -> Vec<i16> {
    let topics = names
        .iter()
        .map(|n| DeleteTopicState::default().with_name(Some(name(n))))
        .collect();
    let request = DeleteTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000);
    let r: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 6, &request).await;
    r.responses.iter().map(|t| t.error_code).collect()
}

/// DeleteTopics v6 by id: the name shown and the error code.
async fn delete_by_id(client: &mut Client, id: Uuid) -> (Option<String>, i16) {
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default()
            .with_name(None)
            .with_topic_id(id)])
        .with_timeout_ms(10_000);
    let r: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 6, &request).await;
    let t = &r.responses[0];
    (t.name.as_ref().map(|n| n.to_string()), t.error_code)
}

fn partitions_of(server: &TestServer, topic: &str) -> Option<u32> {
    server
        .metadata
        .state()
        .topic_by_name(topic)
        .map(|t| t.partitions)
}

#[tokio::test]
async fn topics_are_created_grown_and_deleted_only_with_acls() {
    use Operation::*;
    use ResourceType::{Cluster, Topic};
    let server = TestServer::start(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;
    let mut carol = connect_as(&server, "carol").await;

    // CreateTopics: without an ACL, TOPIC_AUTHORIZATION_FAILED and nothing created; a
    // duplicate is still INVALID_REQUEST.
    let request = CreateTopicsRequest::default()
        .with_topics(
            ["a-1", "dup", "dup"]
                .iter()
                .map(|n| {
                    CreatableTopic::default()
                        .with_name(name(n))
                        .with_num_partitions(1)
                        .with_replication_factor(1)
                })
                .collect(),
        )
        .with_timeout_ms(10_000);
    let r: CreateTopicsResponse = alice.call(ApiKey::CreateTopics, 7, &request).await;
    assert_eq!(
        created(&r),
        [
            ("a-1".to_string(), TOPIC_AUTHORIZATION_FAILED),
            ("dup".to_string(), INVALID_REQUEST)
        ]
    );
    assert_eq!(
        r.topics[0].error_message.as_deref(),
        Some("Authorization failed.")
    );
    assert_eq!(partitions_of(&server, "a-1"), None);

    // TOPIC CREATE lets it through; the configs only with DESCRIBE_CONFIGS.
    grant(
        &server,
        vec![
            allow(Topic, "a-1", "alice", Create),
            allow(Topic, "a-2", "alice", Create),
            allow(Topic, "a-2", "alice", DescribeConfigs),
        ],
    );
    let r = create_topics(&mut alice, &["a-1", "a-2", "a-3"]).await;
    assert_eq!(
        created(&r),
        [
            ("a-1".to_string(), 0),
            ("a-2".to_string(), 0),
            ("a-3".to_string(), TOPIC_AUTHORIZATION_FAILED)
        ]
    );
    let (hidden, shown) = (&r.topics[0], &r.topics[1]);
    assert_eq!(hidden.topic_config_error_code, TOPIC_AUTHORIZATION_FAILED);
    assert!(hidden.configs.as_ref().is_none_or(|c| c.is_empty()));
    assert_eq!((hidden.num_partitions, hidden.replication_factor), (-1, -1));
    assert_ne!(hidden.topic_id, Uuid::nil(), "created all the same");
    assert_eq!(shown.topic_config_error_code, 0);
    assert!(!shown.configs.as_ref().unwrap().is_empty());
    assert_eq!((shown.num_partitions, shown.replication_factor), (1, 1));
    assert_eq!(partitions_of(&server, "a-1"), Some(1));
    assert_eq!(partitions_of(&server, "a-3"), None);

    // CLUSTER CREATE allows any topic; the super user needs nothing.
    grant(&server, vec![allow(Cluster, CLUSTER_NAME, "bob", Create)]);
    let r = create_topics(&mut bob, &["b-1"]).await;
    assert_eq!(created(&r), [("b-1".to_string(), 0)]);
    let r = create_topics(&mut admin, &["x", "y"]).await;
    assert_eq!(created(&r), [("x".to_string(), 0), ("y".to_string(), 0)]);

    // CreatePartitions: TOPIC ALTER, checked before existence.
    assert_eq!(grow(&mut alice, "a-1", 3).await, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        grow(&mut alice, "ghost", 3).await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(partitions_of(&server, "a-1"), Some(1));
    grant(&server, vec![allow(Topic, "a-1", "alice", Alter)]);
    assert_eq!(grow(&mut alice, "a-1", 3).await, 0);
    assert_eq!(partitions_of(&server, "a-1"), Some(3));
    assert_eq!(grow(&mut admin, "x", 2).await, 0);
    assert_eq!(partitions_of(&server, "x"), Some(2));

    // DeleteTopics by name: TOPIC DELETE, checked before existence; who may DESCRIBE a
    // missing topic learns that it is missing.
    grant(&server, vec![allow(Topic, "ghost-2", "alice", Describe)]);
    assert_eq!(
        delete_by_name(&mut alice, &["x", "ghost", "ghost-2"]).await,
        [
            TOPIC_AUTHORIZATION_FAILED,
            TOPIC_AUTHORIZATION_FAILED,
            UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    assert_eq!(partitions_of(&server, "x"), Some(2));

    // By id: the name is shown only to who may DESCRIBE the topic; unknown ids stay
    // UNKNOWN_TOPIC_ID.
    let x_id = server
        .metadata
        .state()
        .topic_by_name("x")
        .unwrap()
        .topic_id
        .0;
    assert_eq!(
        delete_by_id(&mut alice, x_id).await,
        (None, TOPIC_AUTHORIZATION_FAILED)
    );
    grant(&server, vec![allow(Topic, "x", "alice", Describe)]);
    assert_eq!(
        delete_by_id(&mut alice, x_id).await,
        (Some("x".to_string()), TOPIC_AUTHORIZATION_FAILED)
    );
    assert_eq!(
        delete_by_id(&mut alice, Uuid::from_u128(7)).await,
        (None, UNKNOWN_TOPIC_ID)
    );
    assert_eq!(partitions_of(&server, "x"), Some(2));

    // TOPIC DELETE, CLUSTER DELETE and the super user let it through.
    grant(
        &server,
        vec![
            allow(Topic, "a-1", "alice", Delete),
            allow(Cluster, CLUSTER_NAME, "carol", Delete),
        ],
    );
    assert_eq!(delete_by_name(&mut alice, &["a-1"]).await, [0]);
    assert_eq!(delete_by_name(&mut carol, &["b-1"]).await, [0]);
    assert_eq!(
        delete_by_id(&mut admin, x_id).await,
        (Some("x".to_string()), 0)
    );
    assert_eq!(delete_by_name(&mut admin, &["y"]).await, [0]);
    for gone in ["a-1", "b-1", "x", "y"] {
        assert_eq!(partitions_of(&server, gone), None, "{gone}");
    }
    server.stop().await;
}

// ---- configs ----

fn described(kind: i8, n: &str) -> DescribeConfigsResource {
    DescribeConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(s(n))
        .with_configuration_keys(None)
}

/// DescribeConfigs v4: (error code, whether configs came back) of each resource.
async fn describe_configs(
    client: &mut Client,
    resources: Vec<DescribeConfigsResource>,
) -> Vec<(i16, bool)> {
    let request = DescribeConfigsRequest::default().with_resources(resources);
    let r: DescribeConfigsResponse = client.call(ApiKey::DescribeConfigs, 4, &request).await;
    r.results
        .iter()
        .map(|r| (r.error_code, !r.configs.is_empty()))
        .collect()
}

fn legacy(kind: i8, n: &str, key: &str, value: &str) -> AlterConfigsResource {
    AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(s(n))
        .with_configs(vec![AlterableConfig::default()
            .with_name(s(key))
            .with_value(Some(s(value)))])
}

async fn alter_configs(client: &mut Client, resources: Vec<AlterConfigsResource>) -> Vec<i16> {
    let request = AlterConfigsRequest::default().with_resources(resources);
    let r: AlterConfigsResponse = client.call(ApiKey::AlterConfigs, 2, &request).await;
    r.responses.iter().map(|r| r.error_code).collect()
}

fn set(kind: i8, n: &str, key: &str, value: &str) -> incremental::AlterConfigsResource {
    incremental::AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(s(n))
        .with_configs(vec![incremental::AlterableConfig::default()
            .with_name(s(key))
            .with_config_operation(0)
            .with_value(Some(s(value)))])
}

async fn incremental_alter(
    client: &mut Client,
    resources: Vec<incremental::AlterConfigsResource>,
) -> Vec<i16> {
    let request = IncrementalAlterConfigsRequest::default().with_resources(resources);
    let r: IncrementalAlterConfigsResponse = client
        .call(ApiKey::IncrementalAlterConfigs, 1, &request)
        .await;
    r.responses.iter().map(|r| r.error_code).collect()
}

fn topic_override(server: &TestServer, topic: &str, key: &str) -> Option<String> {
    server
        .metadata
        .state()
        .topic_by_name(topic)
        .and_then(|t| t.configs.get(key).cloned())
}

#[tokio::test]
async fn configs_are_described_and_altered_only_with_acls() {
    use Operation::*;
    use ResourceType::{Cluster, Topic};
    let server = TestServer::start(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;
    assert_eq!(created(&create_topics(&mut admin, &["cfg"]).await)[0].1, 0);
    let node = myelin_server::Config::default().node_id.to_string();
    let every = || {
        vec![
            described(TOPIC, "cfg"),
            described(TOPIC, "ghost"),
            described(BROKER, &node),
            described(BROKER_LOGGER, &node),
        ]
    };

    // DescribeConfigs: TOPIC DESCRIBE_CONFIGS per topic (before existence), CLUSTER
    // DESCRIBE_CONFIGS for the broker and its loggers.
    assert_eq!(
        describe_configs(&mut alice, every()).await,
        [
            (TOPIC_AUTHORIZATION_FAILED, false),
            (TOPIC_AUTHORIZATION_FAILED, false),
            (CLUSTER_AUTHORIZATION_FAILED, false),
            (CLUSTER_AUTHORIZATION_FAILED, false),
        ]
    );
    grant(
        &server,
        vec![
            allow(Topic, "cfg", "alice", DescribeConfigs),
            allow(Cluster, CLUSTER_NAME, "alice", DescribeConfigs),
        ],
    );
    assert_eq!(
        describe_configs(&mut alice, every()).await,
        [
            (0, true),
            (TOPIC_AUTHORIZATION_FAILED, false),
            (0, true),
            (INVALID_REQUEST, false), // no loggers to describe
        ]
    );
    let r = describe_configs(&mut admin, every()).await;
    assert_eq!(
        r.iter().map(|(code, _)| *code).collect::<Vec<_>>(),
        [0, UNKNOWN_TOPIC_OR_PARTITION, 0, INVALID_REQUEST]
    );

    // AlterConfigs: TOPIC ALTER_CONFIGS, CLUSTER ALTER_CONFIGS; DESCRIBE_CONFIGS is not
    // enough.
    let both = || {
        vec![
            legacy(TOPIC, "cfg", "retention.ms", "1000"),
            legacy(BROKER, &node, "log.retention.ms", "5000"),
        ]
    };
    assert_eq!(
        alter_configs(&mut alice, both()).await,
        [TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED]
    );
    assert_eq!(topic_override(&server, "cfg", "retention.ms"), None);
    grant(&server, vec![allow(Topic, "cfg", "alice", AlterConfigs)]);
    assert_eq!(
        alter_configs(&mut alice, both()).await,
        [0, CLUSTER_AUTHORIZATION_FAILED]
    );
    assert_eq!(
        topic_override(&server, "cfg", "retention.ms").as_deref(),
        Some("1000")
    );
    assert_eq!(alter_configs(&mut admin, both()).await, [0, 0]);

    // IncrementalAlterConfigs: the same, loggers included with the broker.
    let three = || {
        vec![
            set(TOPIC, "cfg", "retention.ms", "2000"),
            set(BROKER, "", "log.retention.ms", "6000"),
            set(BROKER_LOGGER, &node, "root", "DEBUG"),
        ]
    };
    assert_eq!(
        incremental_alter(&mut bob, three()).await,
        [
            TOPIC_AUTHORIZATION_FAILED,
            CLUSTER_AUTHORIZATION_FAILED,
            CLUSTER_AUTHORIZATION_FAILED
        ]
    );
    assert_eq!(
        topic_override(&server, "cfg", "retention.ms").as_deref(),
        Some("1000")
    );
    grant(
        &server,
        vec![allow(Cluster, CLUSTER_NAME, "bob", AlterConfigs)],
    );
    assert_eq!(
        incremental_alter(&mut bob, three()).await,
        [TOPIC_AUTHORIZATION_FAILED, 0, INVALID_REQUEST]
    );
    assert_eq!(
        incremental_alter(&mut admin, three()).await,
        [0, 0, INVALID_REQUEST]
    );
    assert_eq!(
        topic_override(&server, "cfg", "retention.ms").as_deref(),
        Some("2000")
    );
    server.stop().await;
}

/// ListConfigResources v1 for every type: the error code.
async fn list_resources(client: &mut Client) -> i16 {
    let request = kafka_protocol::messages::ListConfigResourcesRequest::default();
    let r: kafka_protocol::messages::ListConfigResourcesResponse =
        client.call(ApiKey::ListConfigResources, 1, &request).await;
    r.error_code
}

/// A group's configs (KIP-848) need GROUP DESCRIBE_CONFIGS and GROUP ALTER_CONFIGS, as
/// Kafka checks them: a cluster permission is not enough.
#[tokio::test]
async fn group_configs_need_group_acls() {
    use Operation::*;
    use ResourceType::{Cluster, Group};
    const GROUP: i8 = 32;
    const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    let server = TestServer::start(config()).await;
    let mut alice = connect_as(&server, "alice").await;
    let session = || {
        vec![set(
            GROUP,
            "payments",
            "consumer.session.timeout.ms",
            "50000",
        )]
    };
    let describe = || {
        vec![DescribeConfigsResource::default()
            .with_resource_type(GROUP)
            .with_resource_name(s("payments"))]
    };
    grant(
        &server,
        vec![
            allow(Cluster, CLUSTER_NAME, "alice", AlterConfigs),
            allow(Cluster, CLUSTER_NAME, "alice", DescribeConfigs),
            allow(Group, "payments", "alice", Read),
        ],
    );
    assert_eq!(
        describe_configs(&mut alice, describe()).await,
        [(GROUP_AUTHORIZATION_FAILED, false)]
    );
    assert_eq!(
        incremental_alter(&mut alice, session()).await,
        [GROUP_AUTHORIZATION_FAILED]
    );
    let legacy_set = || {
        vec![legacy(
            GROUP,
            "payments",
            "consumer.session.timeout.ms",
            "50000",
        )]
    };
    assert_eq!(
        alter_configs(&mut alice, legacy_set()).await,
        [GROUP_AUTHORIZATION_FAILED]
    );
    grant(
        &server,
        vec![
            allow(Group, "payments", "alice", DescribeConfigs),
            allow(Group, "payments", "alice", AlterConfigs),
        ],
    );
    assert_eq!(describe_configs(&mut alice, describe()).await, [(0, true)]);
    assert_eq!(incremental_alter(&mut alice, session()).await, [0]);
    // Listing config resources needs CLUSTER DESCRIBE_CONFIGS (Kafka 4.1 and 4.2).
    let mut bob = connect_as(&server, "bob").await;
    assert_eq!(list_resources(&mut bob).await, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(list_resources(&mut alice).await, 0);
    assert_eq!(
        server
            .metadata
            .state()
            .group_configs("payments")
            .get("consumer.session.timeout.ms")
            .map(String::as_str),
        Some("50000")
    );
    server.stop().await;
}

// ---- cluster ----

async fn describe_cluster(client: &mut Client) -> DescribeClusterResponse {
    let request = DescribeClusterRequest::default()
        .with_include_cluster_authorized_operations(true)
        .with_endpoint_type(1);
    client.call(ApiKey::DescribeCluster, 1, &request).await
}

async fn log_dirs(client: &mut Client, version: i16) -> DescribeLogDirsResponse {
    let request = DescribeLogDirsRequest::default().with_topics(None);
    client
        .call(ApiKey::DescribeLogDirs, version, &request)
        .await
}

/// AlterReplicaLogDirs of partitions 0 and 1 of `t` to `dir`: their error codes.
async fn move_replicas(client: &mut Client, dir: &StrBytes) -> Vec<i16> {
    let request =
        AlterReplicaLogDirsRequest::default().with_dirs(vec![AlterReplicaLogDir::default()
            .with_path(dir.clone())
            .with_topics(vec![AlterReplicaLogDirTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![0, 1])])]);
    let r: AlterReplicaLogDirsResponse =
        client.call(ApiKey::AlterReplicaLogDirs, 2, &request).await;
    r.results
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// ElectLeaders v2 of `t`-0 and `t`-1: the top-level code and each partition's.
async fn elect(client: &mut Client) -> (i16, Vec<i16>) {
    let request = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(name("t"))
            .with_partitions(vec![0, 1])]))
        .with_timeout_ms(10_000);
    let r: ElectLeadersResponse = client.call(ApiKey::ElectLeaders, 2, &request).await;
    let partitions = r
        .replica_election_results
        .iter()
        .flat_map(|t| t.partition_result.iter().map(|p| p.error_code))
        .collect();
    (r.error_code, partitions)
}

/// AlterPartitionReassignments of `t`-0 to this broker: the top-level code and the
/// partition's.
async fn reassign(client: &mut Client) -> (i16, Vec<i16>) {
    let node = myelin_server::Config::default().node_id;
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(Some(vec![BrokerId(node)]))])]);
    let r: AlterPartitionReassignmentsResponse = client
        .call(ApiKey::AlterPartitionReassignments, 0, &request)
        .await;
    let partitions = r
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    (r.error_code, partitions)
}

async fn list_reassignments(client: &mut Client) -> i16 {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(None);
    let r: ListPartitionReassignmentsResponse = client
        .call(ApiKey::ListPartitionReassignments, 0, &request)
        .await;
    r.error_code
}

/// DescribeQuorum of `__cluster_metadata`-0: (error code, voters of the partition).
async fn describe_quorum(client: &mut Client) -> (i16, usize) {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse};
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(name("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default()])]);
    let r: DescribeQuorumResponse = client.call(ApiKey::DescribeQuorum, 2, &request).await;
    let voters = r
        .topics
        .first()
        .map_or(0, |t| t.partitions[0].current_voters.len());
    (r.error_code, voters)
}

#[tokio::test]
async fn cluster_apis_need_cluster_permissions() {
    use Operation::*;
    use ResourceType::Cluster;
    let server = TestServer::start(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;
    let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name("t"))
        .with_num_partitions(2)
        .with_replication_factor(1)]);
    let r: CreateTopicsResponse = admin.call(ApiKey::CreateTopics, 7, &request).await;
    assert_eq!(r.topics[0].error_code, 0);

    // DescribeCluster is answered to everyone, as Kafka does; the cluster's authorized
    // operations are 0 without CLUSTER DESCRIBE, else the ones the principal has.
    let r = describe_cluster(&mut alice).await;
    assert_eq!((r.error_code, r.brokers.len()), (0, 1));
    assert_eq!(r.cluster_authorized_operations, 0);
    grant(
        &server,
        vec![
            allow(Cluster, CLUSTER_NAME, "alice", Describe),
            allow(Cluster, CLUSTER_NAME, "alice", IdempotentWrite),
        ],
    );
    let r = describe_cluster(&mut alice).await;
    assert_eq!(
        r.cluster_authorized_operations,
        1 << (Describe as i8) | 1 << (IdempotentWrite as i8)
    );
    let every = ResourceType::Cluster
        .operations()
        .iter()
        .fold(0, |bits, op| bits | 1 << (*op as i8));
    assert_eq!(
        describe_cluster(&mut admin)
            .await
            .cluster_authorized_operations,
        every
    );

    // DescribeLogDirs: CLUSTER DESCRIBE, else the top-level error (v3+) and no results.
    let r = log_dirs(&mut bob, 4).await;
    assert_eq!(
        (r.error_code, r.results.len()),
        (CLUSTER_AUTHORIZATION_FAILED, 0)
    );
    assert!(log_dirs(&mut bob, 1).await.results.is_empty());
    let r = log_dirs(&mut alice, 4).await;
    assert_eq!((r.error_code, r.results.len()), (0, 1));
    let dir = log_dirs(&mut admin, 4).await.results[0].log_dir.clone();

    // AlterReplicaLogDirs, ElectLeaders, AlterPartitionReassignments: CLUSTER ALTER
    // (DESCRIBE is not enough).
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            move_replicas(client, &dir).await,
            [CLUSTER_AUTHORIZATION_FAILED; 2]
        );
        assert_eq!(
            elect(client).await,
            (
                CLUSTER_AUTHORIZATION_FAILED,
                vec![CLUSTER_AUTHORIZATION_FAILED; 2]
            )
        );
        assert_eq!(
            reassign(client).await,
            (
                CLUSTER_AUTHORIZATION_FAILED,
                vec![CLUSTER_AUTHORIZATION_FAILED]
            )
        );
    }
    // ListPartitionReassignments: CLUSTER DESCRIBE.
    assert_eq!(
        list_reassignments(&mut bob).await,
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(list_reassignments(&mut alice).await, 0);
    // DescribeQuorum: CLUSTER DESCRIBE, else the top-level error and no topics.
    assert_eq!(
        describe_quorum(&mut bob).await,
        (CLUSTER_AUTHORIZATION_FAILED, 0)
    );
    assert_eq!(describe_quorum(&mut alice).await, (0, 1));

    // CLUSTER ALTER (which implies DESCRIBE) and the super user pass.
    grant(&server, vec![allow(Cluster, CLUSTER_NAME, "bob", Alter)]);
    for client in [&mut bob, &mut admin] {
        assert_eq!(move_replicas(client, &dir).await, [0, 0]);
        assert_eq!(
            elect(client).await,
            (0, vec![ELECTION_NOT_NEEDED, ELECTION_NOT_NEEDED])
        );
        assert_eq!(reassign(client).await, (0, vec![0]));
        assert_eq!(list_reassignments(client).await, 0);
        assert_eq!(log_dirs(client, 4).await.error_code, 0);
    }
    server.stop().await;
}

// ---- SCRAM credentials ----

fn upsert(user: &str) -> ScramCredentialUpsertion {
    let m = Mechanism::ScramSha256;
    let salt = format!("salt-of-{user}").into_bytes();
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(m.scram_type().unwrap())
        .with_iterations(4096)
        .with_salted_password(salted_password(m, b"pw", &salt, 4096).into())
        .with_salt(salt.into())
}

async fn alter_scram(
    client: &mut Client,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let request = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    let r: AlterUserScramCredentialsResponse = client
        .call(ApiKey::AlterUserScramCredentials, 0, &request)
        .await;
    r.results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

/// DescribeUserScramCredentials of every user: the top-level code and the users listed.
async fn describe_scram(client: &mut Client) -> (i16, Vec<String>) {
    let request = DescribeUserScramCredentialsRequest::default().with_users(None);
    let r: DescribeUserScramCredentialsResponse = client
        .call(ApiKey::DescribeUserScramCredentials, 0, &request)
        .await;
    (
        r.error_code,
        r.results.iter().map(|r| r.user.to_string()).collect(),
    )
}

fn has_credential(server: &TestServer, user: &str) -> bool {
    server
        .metadata
        .state()
        .scram_credential(user, Mechanism::ScramSha256.name())
        .is_some()
}

#[tokio::test]
async fn scram_credentials_need_cluster_alter_and_describe() {
    use Operation::*;
    use ResourceType::Cluster;
    let server = TestServer::start(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let mut alice = connect_as(&server, "alice").await;
    let mut bob = connect_as(&server, "bob").await;

    // Without CLUSTER ALTER: every user named, once and in order, refused; nothing written.
    let deletion = ScramCredentialDeletion::default()
        .with_name(s("zed"))
        .with_mechanism(Mechanism::ScramSha256.scram_type().unwrap());
    assert_eq!(
        alter_scram(
            &mut alice,
            vec![deletion],
            vec![upsert("zed"), upsert("amy")]
        )
        .await,
        [
            ("amy".to_string(), CLUSTER_AUTHORIZATION_FAILED),
            ("zed".to_string(), CLUSTER_AUTHORIZATION_FAILED)
        ]
    );
    assert!(!has_credential(&server, "amy") && !has_credential(&server, "zed"));
    // Without CLUSTER DESCRIBE: the top-level error, no results.
    assert_eq!(
        describe_scram(&mut alice).await,
        (CLUSTER_AUTHORIZATION_FAILED, vec![])
    );

    // The super user, and CLUSTER ALTER (which implies DESCRIBE), pass.
    assert_eq!(
        alter_scram(&mut admin, vec![], vec![upsert("amy")]).await,
        [("amy".to_string(), 0)]
    );
    grant(&server, vec![allow(Cluster, CLUSTER_NAME, "alice", Alter)]);
    assert_eq!(
        alter_scram(&mut alice, vec![], vec![upsert("zed")]).await,
        [("zed".to_string(), 0)]
    );
    assert!(has_credential(&server, "amy") && has_credential(&server, "zed"));
    let everyone = (0, vec!["amy".to_string(), "zed".to_string()]);
    assert_eq!(describe_scram(&mut alice).await, everyone);
    assert_eq!(describe_scram(&mut admin).await, everyone);
    // CLUSTER DESCRIBE alone describes, but does not alter.
    grant(&server, vec![allow(Cluster, CLUSTER_NAME, "bob", Describe)]);
    assert_eq!(describe_scram(&mut bob).await, everyone);
    assert_eq!(
        alter_scram(&mut bob, vec![], vec![upsert("bob")]).await,
        [("bob".to_string(), CLUSTER_AUTHORIZATION_FAILED)]
    );
    server.stop().await;
}

/// WriteTxnMarkers (`Admin.abortTransaction`, KIP-664) needs CLUSTER_ACTION: refused for
/// every partition without it; with it, an unknown partition is named as such and a marker
/// for a producer the partition has not seen is written.
#[tokio::test]
async fn write_txn_markers_need_cluster_action() {
    use kafka_protocol::messages::write_txn_markers_request::{
        WritableTxnMarker, WritableTxnMarkerTopic,
    };
    use kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
    use Operation::*;
    use ResourceType::Cluster;
    let server = TestServer::start(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let mut alice = connect_as(&server, "alice").await;
    assert_eq!(
        create_topics(&mut admin, &["hanging"]).await.topics[0].error_code,
        0
    );
    let abort = |topic: &str, partitions: Vec<i32>| {
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(77))
            .with_producer_epoch(0)
            .with_transaction_result(false)
            .with_coordinator_epoch(0)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(name(topic))
                .with_partition_indexes(partitions)])])
    };
    let codes = |r: WriteTxnMarkersResponse| -> Vec<i16> {
        r.markers[0].topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect()
    };
    let r: WriteTxnMarkersResponse = alice
        .call(ApiKey::WriteTxnMarkers, 1, &abort("hanging", vec![0, 1]))
        .await;
    assert_eq!(codes(r), [CLUSTER_AUTHORIZATION_FAILED; 2]);
    grant(
        &server,
        vec![allow(Cluster, CLUSTER_NAME, "alice", ClusterAction)],
    );
    let r: WriteTxnMarkersResponse = alice
        .call(ApiKey::WriteTxnMarkers, 1, &abort("hanging", vec![0, 9]))
        .await;
    assert_eq!(codes(r), [0, UNKNOWN_TOPIC_OR_PARTITION]);
    let r: WriteTxnMarkersResponse = admin
        .call(ApiKey::WriteTxnMarkers, 1, &abort("nowhere", vec![0]))
        .await;
    assert_eq!(codes(r), [UNKNOWN_TOPIC_OR_PARTITION]);
    server.stop().await;
}
