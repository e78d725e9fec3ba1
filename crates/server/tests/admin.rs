//! The topic admin APIs over real TCP: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeCluster, DescribeLogDirs, and Metadata auto-creation.

mod common;

use std::collections::BTreeMap;

use common::{Client, TestServer};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, DescribeClusterRequest,
    DescribeClusterResponse, DescribeLogDirsRequest, DescribeLogDirsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_log::compression::Compression;
use myelin_server::Config;
use uuid::Uuid;

const NODE: i32 = 3;

fn config(broker_configs: &[(&str, &str)]) -> Config {
    Config {
        node_id: NODE,
        cluster_id: Some("admin-test-cluster".into()),
        broker_configs: broker_configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Config::default()
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn topic(n: &str, partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(n))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
}

fn with_config(t: CreatableTopic, key: &str, value: Option<&str>) -> CreatableTopic {
    let mut t = t;
    t.configs.push(
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_string(key.to_string()))
            .with_value(value.map(|v| StrBytes::from_string(v.to_string()))),
    );
    t
}

async fn create(
    client: &mut Client,
    version: i16,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only);
    client.call(ApiKey::CreateTopics, version, &request).await
}

/// (name, error code) of each result.
fn codes(r: &CreateTopicsResponse) -> Vec<(String, i16)> {
    r.topics
        .iter()
        .map(|t| (t.name.as_str().to_string(), t.error_code))
        .collect()
}

async fn metadata(
    client: &mut Client,
    names: Option<&[&str]>,
    auto_create: bool,
) -> MetadataResponse {
    let topics = names.map(|ns| {
        ns.iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
            .collect()
    });
    let request = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(auto_create);
    client.call(ApiKey::Metadata, 12, &request).await
}

async fn partition_count(client: &mut Client, topic: &str) -> Option<usize> {
    let r = metadata(client, Some(&[topic]), false).await;
    let t = &r.topics[0];
    (t.error_code == 0).then_some(t.partitions.len())
}

#[tokio::test]
async fn create_topics_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    for version in 2..=7i16 {
        let n = format!("created-v{version}");
        let r = create(&mut client, version, vec![topic(&n, 3, 1)], false).await;
        assert_eq!(codes(&r), [(n.clone(), 0)], "v{version}");
        let t = &r.topics[0];
        if version >= 5 {
            assert_eq!((t.num_partitions, t.replication_factor), (3, 1));
            let configs = t.configs.as_ref().unwrap();
            let cleanup = configs
                .iter()
                .find(|c| c.name.as_str() == "cleanup.policy")
                .unwrap();
            assert_eq!(cleanup.value.as_deref(), Some("delete"));
            assert_eq!(cleanup.config_source, 5);
            assert_eq!(configs.len(), myelin_server::configs::TOPIC_CONFIGS.len());
        }
        let state = server.metadata.state();
        let created = state.topic_by_name(&n).unwrap();
        assert_eq!(created.partitions, 3);
        if version >= 7 {
            assert_eq!(t.topic_id, created.topic_id.0);
        } else {
            assert!(t.topic_id.is_nil());
        }
        for p in 0..3 {
            assert!(server.partitions.get(&n, p).is_some());
            assert!(server.dir().join("logs").join(format!("{n}-{p}")).is_dir());
        }
        assert_eq!(partition_count(&mut client, &n).await, Some(3));
    }
    server.stop().await;
}

#[tokio::test]
async fn create_topics_defaults_validation_and_errors() {
    let server = TestServer::start(config(&[("num.partitions", "4")])).await;
    let mut client = server.connect().await;

    // -1 takes num.partitions and default.replication.factor (v4+).
    let r = create(&mut client, 5, vec![topic("defaults", -1, -1)], false).await;
    assert_eq!(codes(&r), [("defaults".to_string(), 0)]);
    assert_eq!(
        (r.topics[0].num_partitions, r.topics[0].replication_factor),
        (4, 1)
    );
    assert_eq!(partition_count(&mut client, "defaults").await, Some(4));

    // validate_only answers as a creation would and creates nothing.
    let r = create(&mut client, 7, vec![topic("dry", 2, 1)], true).await;
    assert_eq!(codes(&r), [("dry".to_string(), 0)]);
    assert_eq!(r.topics[0].num_partitions, 2);
    assert!(r.topics[0].topic_id.is_nil());
    assert!(server.metadata.state().topic_by_name("dry").is_none());
    let r = create(&mut client, 7, vec![topic("defaults", 1, 1)], true).await;
    assert_eq!(r.topics[0].error_code, 36);

    let r = create(
        &mut client,
        7,
        vec![
            topic("defaults", 1, 1),
            topic("a b", 1, 1),
            topic(".", 1, 1),
            topic(&"x".repeat(250), 1, 1),
            topic("twice", 1, 1),
            topic("twice", 1, 1),
            topic("rf3", 1, 3),
            topic("rf0", 1, 0),
            topic("zero", 0, 1),
            topic("too.many", 20_000, 1),
        ],
        false,
    )
    .await;
    let got = codes(&r);
    assert_eq!(
        got.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        [36, 17, 17, 17, 42, 38, 38, 37, 44]
    );
    assert_eq!(got[4].0, "twice");
    assert_eq!(
        r.topics[0].error_message.as_deref(),
        Some("Topic 'defaults' already exists.")
    );
    assert!(r.topics[5]
        .error_message
        .as_deref()
        .unwrap()
        .contains("only 1 broker(s) are registered"));
    // Failed results carry no configs and -1 counts (v5+).
    assert_eq!(r.topics[1].num_partitions, -1);
    assert!(r.topics[1].configs.is_none());
    assert!(server.metadata.state().topic_by_name("twice").is_none());

    // '.' and '_' collide.
    create(&mut client, 7, vec![topic("a.b", 1, 1)], false).await;
    let r = create(&mut client, 7, vec![topic("a_b", 1, 1)], true).await;
    assert_eq!(r.topics[0].error_code, 17);
    let r = create(&mut client, 7, vec![topic("a_b", 1, 1)], false).await;
    assert_eq!(r.topics[0].error_code, 17);
    server.stop().await;
}

#[tokio::test]
async fn create_topics_with_configs() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    let good = with_config(
        with_config(topic("compacted", 1, 1), "cleanup.policy", Some("compact")),
        "retention.ms",
        Some(" 60000 "),
    );
    let r = create(&mut client, 7, vec![good], false).await;
    assert_eq!(r.topics[0].error_code, 0);
    let configs = r.topics[0].configs.as_ref().unwrap();
    let find = |n: &str| configs.iter().find(|c| c.name.as_str() == n).unwrap();
    assert_eq!(find("cleanup.policy").value.as_deref(), Some("compact"));
    assert_eq!(find("cleanup.policy").config_source, 1);
    assert_eq!(find("retention.ms").value.as_deref(), Some("60000"));
    assert_eq!(find("segment.bytes").config_source, 5);
    // Stored normalized, and applied to the log.
    let state = server.metadata.state();
    let stored = &state.topic_by_name("compacted").unwrap().configs;
    assert_eq!(
        stored,
        &BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("retention.ms".to_string(), "60000".to_string()),
        ])
    );
    let log_config = server.partitions.get("compacted", 0).unwrap().log.config();
    assert!(log_config.cleanup_policy.compact);
    assert_eq!(log_config.retention_ms, 60_000);

    let bad = [
        (
            with_config(topic("b1", 1, 1), "retention.ms", Some("soon")),
            "Invalid value soon for configuration retention.ms: Not a number of type LONG",
        ),
        (
            with_config(topic("b2", 1, 1), "no.such.config", Some("1")),
            "Unknown topic config name: no.such.config",
        ),
        (
            with_config(topic("b3", 1, 1), "retention.ms", None),
            "Null value not supported for topic configs: retention.ms",
        ),
        (
            with_config(topic("b4", 1, 1), "compression.type", Some("none")),
            "Invalid value none for configuration compression.type: String must be one of: \
             uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
    ];
    for (t, message) in bad {
        let r = create(&mut client, 4, vec![t], false).await;
        assert_eq!(r.topics[0].error_code, 40);
        assert_eq!(r.topics[0].error_message.as_deref(), Some(message));
    }
    let r = create(
        &mut client,
        7,
        vec![with_config(
            with_config(topic("b5", 1, 1), "min.compaction.lag.ms", Some("10")),
            "max.compaction.lag.ms",
            Some("5"),
        )],
        false,
    )
    .await;
    assert_eq!(r.topics[0].error_code, 40);
    assert!(server.metadata.state().topic_by_name("b1").is_none());
    server.stop().await;
}

#[tokio::test]
async fn create_topics_with_manual_assignments() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    let assign = |t: CreatableTopic, parts: &[(i32, &[i32])]| {
        t.with_assignments(
            parts
                .iter()
                .map(|(p, brokers)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(*p)
                        .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
                })
                .collect(),
        )
    };
    let r = create(
        &mut client,
        6,
        vec![
            assign(topic("manual", -1, -1), &[(1, &[NODE]), (0, &[NODE])]),
            assign(topic("counted", 2, -1), &[(0, &[NODE])]),
            assign(topic("elsewhere", -1, -1), &[(0, &[NODE + 1])]),
            assign(topic("gap", -1, -1), &[(0, &[NODE]), (2, &[NODE])]),
            assign(topic("twice", -1, -1), &[(0, &[NODE, NODE])]),
        ],
        false,
    )
    .await;
    assert_eq!(
        r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        [0, 42, 39, 39, 39]
    );
    assert_eq!(partition_count(&mut client, "manual").await, Some(2));
    server.stop().await;
}

async fn delete(
    client: &mut Client,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    client
        .call(
            ApiKey::DeleteTopics,
            version,
            &request.with_timeout_ms(10_000),
        )
        .await
}

#[tokio::test]
async fn delete_topics_by_name_and_by_id() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    for version in 1..=6i16 {
        let n = format!("doomed-v{version}");
        create(&mut client, 7, vec![topic(&n, 2, 1)], false).await;
        let dir = server.dir().join("logs").join(format!("{n}-1"));
        assert!(dir.is_dir());
        let request = if version < 6 {
            DeleteTopicsRequest::default().with_topic_names(vec![name(&n), name("never-was")])
        } else {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(name(&n))),
                DeleteTopicState::default().with_name(Some(name("never-was"))),
            ])
        };
        let r = delete(&mut client, version, request).await;
        let got: Vec<_> = r
            .responses
            .iter()
            .map(|t| (t.name.as_ref().unwrap().as_str().to_string(), t.error_code))
            .collect();
        assert_eq!(
            got,
            [(n.clone(), 0), ("never-was".to_string(), 3)],
            "v{version}"
        );
        assert_eq!(partition_count(&mut client, &n).await, None);
        assert!(server.partitions.get(&n, 0).is_none());
        assert!(!dir.exists(), "v{version}: {} still exists", dir.display());
    }

    // By id (v6), with the name in the answer.
    create(&mut client, 7, vec![topic("by-id", 1, 1)], false).await;
    let id = server
        .metadata
        .state()
        .topic_by_name("by-id")
        .unwrap()
        .topic_id
        .0;
    let unknown = Uuid::from_u128(42);
    let r = delete(
        &mut client,
        6,
        DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default()
                .with_topic_id(id)
                .with_name(None),
            DeleteTopicState::default()
                .with_topic_id(unknown)
                .with_name(None),
            DeleteTopicState::default()
                .with_topic_id(unknown)
                .with_name(Some(name("both"))),
            DeleteTopicState::default().with_name(Some(name("dup"))),
            DeleteTopicState::default().with_name(Some(name("dup"))),
        ]),
    )
    .await;
    let got: Vec<_> = r
        .responses
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.as_str().to_string()),
                t.topic_id,
                t.error_code,
            )
        })
        .collect();
    assert!(got.contains(&(Some("by-id".into()), id, 0)), "{got:?}");
    assert!(got.contains(&(None, unknown, 100)), "{got:?}");
    assert!(got.contains(&(Some("both".into()), unknown, 42)), "{got:?}");
    assert!(
        got.contains(&(Some("dup".into()), Uuid::nil(), 42)),
        "{got:?}"
    );
    assert_eq!(got.len(), 4);
    assert!(server.metadata.state().topic_by_name("by-id").is_none());

    // The name is free again, under a new id and with empty logs.
    let r = create(&mut client, 7, vec![topic("by-id", 1, 1)], false).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_ne!(r.topics[0].topic_id, id);
    server.stop().await;
}

#[tokio::test]
async fn topic_deletion_can_be_disabled() {
    let server = TestServer::start(config(&[("delete.topic.enable", "false")])).await;
    let mut client = server.connect().await;
    create(&mut client, 7, vec![topic("kept", 1, 1)], false).await;
    for (version, code) in [(2i16, 42i16), (3, 73), (6, 73)] {
        let request = if version < 6 {
            DeleteTopicsRequest::default().with_topic_names(vec![name("kept")])
        } else {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(name("kept")))
            ])
        };
        let r = delete(&mut client, version, request).await;
        assert_eq!(r.responses[0].error_code, code, "v{version}");
    }
    assert!(server.metadata.state().topic_by_name("kept").is_some());
    server.stop().await;
}

async fn create_partitions(
    client: &mut Client,
    version: i16,
    topics: Vec<CreatePartitionsTopic>,
    validate_only: bool,
) -> CreatePartitionsResponse {
    let request = CreatePartitionsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only);
    client
        .call(ApiKey::CreatePartitions, version, &request)
        .await
}

fn grow(n: &str, count: i32) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default()
        .with_name(name(n))
        .with_count(count)
        .with_assignments(None)
}

#[tokio::test]
async fn create_partitions_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    create(&mut client, 7, vec![topic("growing", 1, 1)], false).await;
    let mut count = 1;
    for version in 0..=3i16 {
        // validate_only changes nothing.
        let r =
            create_partitions(&mut client, version, vec![grow("growing", count + 1)], true).await;
        assert_eq!(r.results[0].error_code, 0);
        assert_eq!(
            partition_count(&mut client, "growing").await,
            Some(count as usize)
        );

        count += 1;
        let r = create_partitions(&mut client, version, vec![grow("growing", count)], false).await;
        assert_eq!(r.results[0].error_code, 0, "v{version}");
        assert_eq!(
            partition_count(&mut client, "growing").await,
            Some(count as usize)
        );
        let last = count - 1;
        assert!(server.partitions.get("growing", last).is_some());
    }

    let with_assignments = |n: &str, count: i32, brokers: &[&[i32]]| {
        grow(n, count).with_assignments(Some(
            brokers
                .iter()
                .map(|b| {
                    CreatePartitionsAssignment::default()
                        .with_broker_ids(b.iter().map(|id| BrokerId(*id)).collect())
                })
                .collect(),
        ))
    };
    let r = create_partitions(
        &mut client,
        3,
        vec![
            grow("growing", count),
            grow("growing2", 1),
            with_assignments("other", 3, &[&[NODE]]),
        ],
        false,
    )
    .await;
    create(&mut client, 7, vec![topic("other", 1, 1)], false).await;
    assert_eq!(r.results[0].error_code, 37);
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("Topic already has 5 partition(s).")
    );
    assert_eq!(r.results[1].error_code, 3);
    assert_eq!(r.results[2].error_code, 3);

    let r = create_partitions(
        &mut client,
        3,
        vec![with_assignments("other", 3, &[&[NODE]])],
        false,
    )
    .await;
    assert_eq!(r.results[0].error_code, 39);
    let r = create_partitions(
        &mut client,
        3,
        vec![with_assignments("other", 3, &[&[NODE], &[NODE + 1]])],
        false,
    )
    .await;
    assert_eq!(r.results[0].error_code, 39);
    let r = create_partitions(
        &mut client,
        3,
        vec![with_assignments("other", 3, &[&[NODE], &[NODE]])],
        false,
    )
    .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(partition_count(&mut client, "other").await, Some(3));

    let r = create_partitions(
        &mut client,
        1,
        vec![grow("other", 2), grow("growing", 6), grow("growing", 7)],
        false,
    )
    .await;
    assert_eq!(
        r.results.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        [37, 42]
    );
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("would not be an increase"));
    server.stop().await;
}

/// DescribeQuorum: the metadata log as a single voter's `__cluster_metadata`-0, its high
/// watermark moving with each metadata change; other partitions unknown.
#[tokio::test]
async fn describe_quorum_of_the_metadata_log() {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse};
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    let request = |topic: &str, partitions: &[i32]| {
        DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| PartitionData::default().with_partition_index(*p))
                    .collect(),
            )])
    };
    let mut high_watermarks = Vec::new();
    for version in 0..=2i16 {
        let r: DescribeQuorumResponse = client
            .call(
                ApiKey::DescribeQuorum,
                version,
                &request("__cluster_metadata", &[0]),
            )
            .await;
        assert_eq!(r.error_code, 0);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.leader_id.0, p.leader_epoch), (0, NODE, 1));
        assert_eq!(p.current_voters.len(), 1);
        assert_eq!(p.current_voters[0].replica_id.0, NODE);
        assert_eq!(p.current_voters[0].log_end_offset, p.high_watermark);
        assert!(p.observers.is_empty());
        assert_eq!(r.nodes.len(), usize::from(version >= 2));
        if version >= 2 {
            assert_eq!(r.nodes[0].node_id.0, NODE);
            assert_eq!(r.nodes[0].listeners[0].port, 9092);
        }
        high_watermarks.push(p.high_watermark);
        // A metadata change between versions: the high watermark follows the log.
        let _: CreateTopicsResponse = client
            .call(
                ApiKey::CreateTopics,
                7,
                &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(format!(
                        "quorum-{version}"
                    ))))
                    .with_num_partitions(1)
                    .with_replication_factor(1)]),
            )
            .await;
    }
    assert!(
        high_watermarks.windows(2).all(|w| w[0] < w[1]),
        "{high_watermarks:?}"
    );
    let r: DescribeQuorumResponse = client
        .call(ApiKey::DescribeQuorum, 2, &request("orders", &[0, 1]))
        .await;
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 3));
    let r: DescribeQuorumResponse = client
        .call(
            ApiKey::DescribeQuorum,
            2,
            &request("__cluster_metadata", &[1]),
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    server.stop().await;
}

#[tokio::test]
async fn describe_cluster_v0_and_v1() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    for version in 0..=1i16 {
        let r: DescribeClusterResponse = client
            .call(
                ApiKey::DescribeCluster,
                version,
                &DescribeClusterRequest::default(),
            )
            .await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.cluster_id.as_str(), "admin-test-cluster");
        assert_eq!(r.controller_id.0, NODE);
        assert_eq!(r.brokers.len(), 1);
        let b = &r.brokers[0];
        assert_eq!(
            (b.broker_id.0, b.host.as_str(), b.port),
            (NODE, "127.0.0.1", 9092)
        );
        assert_eq!(r.cluster_authorized_operations, i32::MIN);
    }
    let r: DescribeClusterResponse = client
        .call(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        )
        .await;
    assert_eq!(r.cluster_authorized_operations, 8096);
    let r: DescribeClusterResponse = client
        .call(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default().with_endpoint_type(2),
        )
        .await;
    assert_eq!(r.error_code, 114);
    assert!(r.brokers.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn describe_log_dirs_reports_sizes() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    create(
        &mut client,
        7,
        vec![topic("sized", 2, 1), topic("empty", 1, 1)],
        false,
    )
    .await;
    let partition = server.partitions.get("sized", 1).unwrap();
    let value = vec![7u8; 1000];
    let batch = myelin_log::record::simple_batch(
        &[(Some(b"k".as_slice()), Some(value.as_slice()))],
        1_700_000_000_000,
        Compression::None,
    );
    let batch_len = batch.len() as i64;
    common::bounded(partition.append(server.partitions.logs(), &batch, 1_700_000_000_000))
        .await
        .unwrap();

    for version in 1..=4i16 {
        let r: DescribeLogDirsResponse = client
            .call(
                ApiKey::DescribeLogDirs,
                version,
                &DescribeLogDirsRequest::default().with_topics(None),
            )
            .await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.results.len(), 1);
        let dir = &r.results[0];
        assert_eq!(dir.error_code, 0);
        assert!(
            dir.log_dir.as_str().ends_with("logs"),
            "{}",
            dir.log_dir.as_str()
        );
        let sizes: Vec<_> = dir
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.as_str().to_string(),
                        p.partition_index,
                        p.partition_size,
                    )
                })
            })
            .collect();
        assert_eq!(
            sizes,
            [
                ("empty".to_string(), 0, 0),
                ("sized".to_string(), 0, 0),
                ("sized".to_string(), 1, batch_len)
            ],
            "v{version}"
        );
        assert!(dir.topics.iter().all(|t| t
            .partitions
            .iter()
            .all(|p| p.offset_lag == 0 && !p.is_future_key)));
        if version >= 4 {
            assert!(dir.total_bytes > 0);
            assert!(dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
        }
    }

    // Only the partitions asked for that exist.
    let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(name("sized"))
            .with_partitions(vec![1, 9]),
        DescribableLogDirTopic::default()
            .with_topic(name("nope"))
            .with_partitions(vec![0]),
    ]));
    let r: DescribeLogDirsResponse = client.call(ApiKey::DescribeLogDirs, 4, &request).await;
    let topics = &r.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 1);
    assert_eq!(topics[0].partitions[0].partition_size, batch_len);
    server.stop().await;
}

#[tokio::test]
async fn metadata_auto_creates_requested_topics() {
    let server = TestServer::start(config(&[("num.partitions", "2")])).await;
    let mut client = server.connect().await;

    // Created before the answer, with num.partitions partitions, in every version.
    for version in [0i16, 1, 4, 9, 12] {
        let n = format!("auto-v{version}");
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(&n))),
        ]));
        let r: MetadataResponse = client.call(ApiKey::Metadata, version, &request).await;
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].error_code, 0, "v{version}");
        assert_eq!(r.topics[0].partitions.len(), 2, "v{version}");
        if version >= 10 {
            let id = server
                .metadata
                .state()
                .topic_by_name(&n)
                .unwrap()
                .topic_id
                .0;
            assert_eq!(r.topics[0].topic_id, id);
        }
        assert!(server.partitions.get(&n, 1).is_some());
    }

    // Not when the request forbids it (v4+), nor for illegal or internal names.
    let r = metadata(
        &mut client,
        Some(&["forbidden", "bad name", "__consumer_offsets"]),
        false,
    )
    .await;
    assert_eq!(
        r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        [3, 17, 3]
    );
    let r = metadata(&mut client, Some(&["bad name", "__consumer_offsets"]), true).await;
    assert_eq!(
        r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        [17, 3]
    );
    assert!(server.metadata.state().topic_by_name("forbidden").is_none());
    // "All topics" creates nothing.
    let r = metadata(&mut client, None, true).await;
    assert_eq!(r.topics.len(), 5);
    server.stop().await;

    // Nor when the broker forbids it.
    let server = TestServer::start(config(&[("auto.create.topics.enable", "false")])).await;
    let mut client = server.connect().await;
    let r = metadata(&mut client, Some(&["wanted"]), true).await;
    assert_eq!(r.topics[0].error_code, 3);
    assert!(server.metadata.state().topic_by_name("wanted").is_none());
    server.stop().await;
}

#[tokio::test]
async fn auto_create_helper_for_produce() {
    use myelin_server::topics::{auto_create_topic, AutoCreated};
    let server = TestServer::start(config(&[("num.partitions", "3")])).await;
    let created = auto_create_topic(&server.context, "produced")
        .await
        .unwrap();
    let AutoCreated::Created(id) = created else {
        panic!("{created:?}");
    };
    assert_eq!(
        auto_create_topic(&server.context, "produced").await,
        Ok(AutoCreated::Existed(id))
    );
    assert_eq!(server.partitions.partitions_of("produced").len(), 3);
    assert_eq!(
        auto_create_topic(&server.context, "bad name").await,
        Err(kafka_protocol::ResponseError::InvalidTopicException)
    );
    server.stop().await;

    let server = TestServer::start(config(&[("auto.create.topics.enable", "false")])).await;
    assert_eq!(
        auto_create_topic(&server.context, "produced").await,
        Err(kafka_protocol::ResponseError::UnknownTopicOrPartition)
    );
    server.stop().await;
}

/// A CreateTopics request whose nested assignments array declares two billion entries is
/// refused before the codec reserves memory for it.
#[tokio::test]
async fn absurd_nested_counts_close_the_connection() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    let request = CreateTopicsRequest::default().with_topics(vec![topic("t", 1, 1)]);
    let mut frame = common::request_frame(ApiKey::CreateTopics, 2, 9, &request).to_vec();
    // Header v1: key, version, correlation id, client id "myelin-tests" (2 + 12 bytes);
    // then topics count (4), name "t" (2 + 1), num_partitions (4), replication_factor (2),
    // then the assignments count.
    let at = 4 + 8 + 2 + 12 + 4 + 3 + 4 + 2;
    assert_eq!(&frame[at..at + 4], &0i32.to_be_bytes());
    frame[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    client.send_raw(&frame).await;
    client.expect_closed().await;
    // The server still serves others.
    let mut other = server.connect().await;
    let r = create(&mut other, 7, vec![topic("after", 1, 1)], false).await;
    assert_eq!(r.topics[0].error_code, 0);
    server.stop().await;
}
