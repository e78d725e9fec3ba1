//! The cluster admin APIs a single broker answers from what it is: DescribeTopicPartitions,
//! ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments,
//! AlterReplicaLogDirs and the ACL APIs (no authorizer), over real TCP.

mod common;

use common::{Client, TestServer};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::alter_replica_log_dirs_request::{
    AlterReplicaLogDir, AlterReplicaLogDirTopic,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, ApiKey, BrokerId, CreateAclsRequest,
    CreateAclsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteAclsRequest,
    DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    ElectLeadersRequest, ElectLeadersResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_server::Config;

const NODE: i32 = 5;

fn config() -> Config {
    Config {
        node_id: NODE,
        ..Config::default()
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Creates topics `(name, partitions)`.
async fn create(client: &mut Client, topics: &[(&str, i32)]) {
    let request = CreateTopicsRequest::default().with_topics(
        topics
            .iter()
            .map(|(n, p)| {
                CreatableTopic::default()
                    .with_name(name(n))
                    .with_num_partitions(*p)
                    .with_replication_factor(1)
            })
            .collect(),
    );
    let r: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &request).await;
    assert!(r.topics.iter().all(|t| t.error_code == 0), "{r:?}");
}

async fn describe(
    client: &mut Client,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(name(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(name(t))
                .with_partition_index(p)
        }));
    client
        .call(ApiKey::DescribeTopicPartitions, 0, &request)
        .await
}

/// (topic, error, partition indexes) of each answered topic, and the next cursor.
type Page = (Vec<(String, i16, Vec<i32>)>, Option<(String, i32)>);

fn page(r: &DescribeTopicPartitionsResponse) -> Page {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().as_str().to_string(),
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let cursor = r
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.as_str().to_string(), c.partition_index));
    (topics, cursor)
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test]
async fn describe_topic_partitions_pages_through_topics_in_name_order() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    create(
        &mut client,
        &[("b-topic", 3), ("a-topic", 2), ("c-topic", 1)],
    )
    .await;

    // All topics, in name order, each partition led by this broker.
    let r = describe(&mut client, &[], 2000, None).await;
    assert_eq!(
        page(&r),
        (
            vec![
                (s("a-topic"), 0, vec![0, 1]),
                (s("b-topic"), 0, vec![0, 1, 2]),
                (s("c-topic"), 0, vec![0]),
            ],
            None
        )
    );
    let a = &r.topics[0];
    let id = server
        .metadata
        .state()
        .topic_by_name("a-topic")
        .unwrap()
        .topic_id;
    assert_eq!(a.topic_id, id.0);
    assert!(!a.is_internal);
    assert_eq!(a.topic_authorized_operations, 3576);
    for p in &a.partitions {
        assert_eq!(p.error_code, 0);
        assert_eq!(p.leader_id, BrokerId(NODE));
        assert_eq!(p.leader_epoch, 0);
        assert_eq!(p.replica_nodes, vec![BrokerId(NODE)]);
        assert_eq!(p.isr_nodes, vec![BrokerId(NODE)]);
        assert!(p.offline_replicas.is_empty());
    }

    // Pages of 2 partitions: the cursor names the first partition not returned.
    let r = describe(&mut client, &[], 2, None).await;
    assert_eq!(
        page(&r),
        (vec![(s("a-topic"), 0, vec![0, 1])], Some((s("b-topic"), 0)))
    );
    let r = describe(&mut client, &[], 2, Some(("b-topic", 0))).await;
    assert_eq!(
        page(&r),
        (vec![(s("b-topic"), 0, vec![0, 1])], Some((s("b-topic"), 2)))
    );
    let r = describe(&mut client, &[], 2, Some(("b-topic", 2))).await;
    assert_eq!(
        page(&r),
        (
            vec![(s("b-topic"), 0, vec![2]), (s("c-topic"), 0, vec![0])],
            None
        )
    );

    // Named topics: a missing one gets an error, an illegal name another; the listing of
    // all topics never shows either.
    let r = describe(
        &mut client,
        &["c-topic", "gone", "bad/name", "a-topic"],
        2000,
        None,
    )
    .await;
    assert_eq!(
        page(&r),
        (
            vec![
                (s("a-topic"), 0, vec![0, 1]),
                (s("bad/name"), 17, vec![]),
                (s("c-topic"), 0, vec![0]),
                (s("gone"), 3, vec![]),
            ],
            None
        )
    );

    // With named topics the cursor's topic must be one of them.
    let r = describe(
        &mut client,
        &["a-topic", "c-topic"],
        2000,
        Some(("b-topic", 0)),
    )
    .await;
    assert_eq!(
        page(&r),
        (
            vec![(s("a-topic"), 42, vec![]), (s("c-topic"), 42, vec![])],
            None
        )
    );
    // And topics before it are skipped.
    let r = describe(
        &mut client,
        &["a-topic", "c-topic"],
        2000,
        Some(("c-topic", 0)),
    )
    .await;
    assert_eq!(page(&r), (vec![(s("c-topic"), 0, vec![0])], None));
    server.stop().await;
}

#[tokio::test]
async fn elections_are_never_needed_and_reassignments_never_move() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    create(&mut client, &[("t", 2)]).await;

    for version in 0..=2i16 {
        let request = ElectLeadersRequest::default()
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic(name("t"))
                    .with_partitions(vec![1, 0, 1, 7]),
                TopicPartitions::default()
                    .with_topic(name("nope"))
                    .with_partitions(vec![0]),
            ]))
            .with_timeout_ms(1000);
        let r: ElectLeadersResponse = client.call(ApiKey::ElectLeaders, version, &request).await;
        assert_eq!(r.error_code, 0);
        let results: Vec<(String, Vec<(i32, i16)>)> = r
            .replica_election_results
            .iter()
            .map(|t| {
                (
                    t.topic.as_str().to_string(),
                    t.partition_result
                        .iter()
                        .map(|p| (p.partition_id, p.error_code))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            results,
            vec![
                (s("nope"), vec![(0, 3)]),
                (s("t"), vec![(0, 84), (1, 84), (7, 3)]),
            ],
            "v{version}"
        );
    }
    // Every partition: none needed an election, so none is listed.
    let r: ElectLeadersResponse = client
        .call(
            ApiKey::ElectLeaders,
            2,
            &ElectLeadersRequest::default().with_topic_partitions(None),
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(r.replica_election_results.is_empty());
    // An election type that does not exist.
    let r: ElectLeadersResponse = client
        .call(
            ApiKey::ElectLeaders,
            1,
            &ElectLeadersRequest::default().with_election_type(5),
        )
        .await;
    assert_eq!(r.error_code, 42);

    let reassign = |partition: i32, replicas: Option<Vec<i32>>| {
        ReassignablePartition::default()
            .with_partition_index(partition)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
    };
    for version in 0..=1i16 {
        let request = AlterPartitionReassignmentsRequest::default()
            .with_allow_replication_factor_change(version == 0)
            .with_topics(vec![
                ReassignableTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        reassign(0, Some(vec![NODE])),
                        reassign(1, None),
                        reassign(0, Some(vec![])),
                        reassign(0, Some(vec![NODE, NODE])),
                        reassign(1, Some(vec![NODE, 9])),
                        reassign(4, Some(vec![NODE])),
                    ]),
                ReassignableTopic::default()
                    .with_name(name("nope"))
                    .with_partitions(vec![reassign(0, Some(vec![NODE]))]),
            ]);
        let r: AlterPartitionReassignmentsResponse = client
            .call(ApiKey::AlterPartitionReassignments, version, &request)
            .await;
        assert_eq!(r.error_code, 0);
        // Echoed from v1 (KIP-860); v0 has no such field and reads as the default, true.
        assert_eq!(
            r.allow_replication_factor_change,
            version == 0,
            "v{version}"
        );
        let codes: Vec<Vec<i16>> = r
            .responses
            .iter()
            .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
            .collect();
        assert_eq!(
            codes,
            vec![vec![0, 85, 39, 39, 39, 3], vec![3]],
            "v{version}"
        );
        let message = r.responses[0].partitions[4].error_message.as_ref().unwrap();
        assert!(message.contains("broker 9"), "{message}");
    }

    for topics in [
        None,
        Some(vec![ListPartitionReassignmentsTopics::default()
            .with_name(name("t"))
            .with_partition_indexes(vec![0, 1])]),
    ] {
        let r: ListPartitionReassignmentsResponse = client
            .call(
                ApiKey::ListPartitionReassignments,
                0,
                &ListPartitionReassignmentsRequest::default().with_topics(topics),
            )
            .await;
        assert_eq!(r.error_code, 0);
        assert!(r.topics.is_empty());
    }
    server.stop().await;
}

#[tokio::test]
async fn replicas_stay_in_the_one_log_dir() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    create(&mut client, &[("t", 1)]).await;
    let dirs: DescribeLogDirsResponse = client
        .call(
            ApiKey::DescribeLogDirs,
            4,
            &DescribeLogDirsRequest::default().with_topics(None),
        )
        .await;
    let dir = dirs.results[0].log_dir.clone();
    for version in 1..=2i16 {
        let request = AlterReplicaLogDirsRequest::default().with_dirs(vec![
            AlterReplicaLogDir::default()
                .with_path(dir.clone())
                .with_topics(vec![AlterReplicaLogDirTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![0, 3])]),
            AlterReplicaLogDir::default()
                .with_path(StrBytes::from_static_str("/elsewhere"))
                .with_topics(vec![AlterReplicaLogDirTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![0])]),
        ]);
        let r: AlterReplicaLogDirsResponse = client
            .call(ApiKey::AlterReplicaLogDirs, version, &request)
            .await;
        let codes: Vec<Vec<(i32, i16)>> = r
            .results
            .iter()
            .map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.error_code))
                    .collect()
            })
            .collect();
        // Where it is: success; a partition not hosted: REPLICA_NOT_AVAILABLE; another
        // directory: LOG_DIR_NOT_FOUND.
        assert_eq!(
            codes,
            vec![vec![(0, 0), (3, 9)], vec![(0, 57)]],
            "v{version}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn acl_requests_say_no_authorizer_is_configured() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    for version in 1..=3i16 {
        let r: DescribeAclsResponse = client
            .call(
                ApiKey::DescribeAcls,
                version,
                &DescribeAclsRequest::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            )
            .await;
        assert_eq!(r.error_code, 54);
        assert_eq!(
            r.error_message.as_deref(),
            Some("No Authorizer is configured.")
        );
        assert!(r.resources.is_empty());

        let creation = AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("t"))
            .with_resource_pattern_type(3)
            .with_principal(StrBytes::from_static_str("User:alice"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(3)
            .with_permission_type(3);
        let r: CreateAclsResponse = client
            .call(
                ApiKey::CreateAcls,
                version,
                &CreateAclsRequest::default().with_creations(vec![creation.clone(), creation]),
            )
            .await;
        assert_eq!(r.results.len(), 2);
        assert!(r.results.iter().all(|c| c.error_code == 54));

        let r: DeleteAclsResponse = client
            .call(
                ApiKey::DeleteAcls,
                version,
                &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1)]),
            )
            .await;
        assert_eq!(r.filter_results.len(), 1);
        assert_eq!(r.filter_results[0].error_code, 54);
        assert!(r.filter_results[0].matching_acls.is_empty());
    }
    server.stop().await;
}

#[tokio::test]
async fn list_offsets_latest_tiered_finds_nothing_in_remote_storage() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    create(&mut client, &[("t", 1)]).await;
    for version in [9i16, 10] {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_timeout_ms(1000)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-5),
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ])]);
        // The same partition twice is INVALID_REQUEST for both; ask one at a time.
        for p in request.topics[0].partitions.clone() {
            let mut one = request.clone();
            one.topics[0].partitions = vec![p.clone()];
            let r: ListOffsetsResponse = client.call(ApiKey::ListOffsets, version, &one).await;
            let got = &r.topics[0].partitions[0];
            assert_eq!(got.error_code, 0);
            if p.timestamp == -5 {
                assert_eq!((got.offset, got.leader_epoch, got.timestamp), (-1, -1, -1));
            } else {
                assert_eq!((got.offset, got.leader_epoch), (0, 0));
            }
        }
    }
    server.stop().await;
}
