//! Client quotas over real TCP: AlterClientQuotas' checks and DescribeClientQuotas'
//! filters, quotas kept across a restart, the CLUSTER permissions both need, and the
//! producer, consumer and request quotas holding a client back (throttle_time_ms in the
//! response, and the connection muted for that long).

mod common;

use std::time::{Duration, Instant};

use common::data::{create_topic, fetch, fetch_request, produce_request};
use common::{Client, TestServer};
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, MetadataRequest, MetadataResponse, ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_log::compression::Compression;
use myelin_server::Config;

/// The client id every request of the test client carries.
const CLIENT_ID: &str = "myelin-tests";

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

/// An entry: entity parts (type, name; `None` is the default) and (key, value, remove).
fn entry(parts: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]) -> EntryData {
    EntryData::default()
        .with_entity(
            parts
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(s(t))
                        .with_entity_name(n.map(s))
                })
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v, remove)| {
                    OpData::default()
                        .with_key(s(k))
                        .with_value(*v)
                        .with_remove(*remove)
                })
                .collect(),
        )
}

/// Sends AlterClientQuotas (v1, flexible, unless `version` says otherwise); the error code
/// and message of each entry.
async fn alter(
    client: &mut Client,
    version: i16,
    entries: Vec<EntryData>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let r: AlterClientQuotasResponse = client
        .call(
            ApiKey::AlterClientQuotas,
            version,
            &AlterClientQuotasRequest::default()
                .with_entries(entries)
                .with_validate_only(validate_only),
        )
        .await;
    r.entries
        .iter()
        .map(|e| {
            (
                e.error_code,
                e.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect()
}

fn component(t: &str, match_type: i8, m: Option<&str>) -> ComponentData {
    ComponentData::default()
        .with_entity_type(s(t))
        .with_match_type(match_type)
        .with_match(m.map(s))
}

/// Every entity found, as "type=name,..." with its "key=value" pairs, in the broker's order.
type Found = Vec<(String, Vec<(String, f64)>)>;

async fn describe(
    client: &mut Client,
    version: i16,
    components: Vec<ComponentData>,
    strict: bool,
) -> (i16, Found) {
    let r: DescribeClientQuotasResponse = client
        .call(
            ApiKey::DescribeClientQuotas,
            version,
            &DescribeClientQuotasRequest::default()
                .with_components(components)
                .with_strict(strict),
        )
        .await;
    let found = r
        .entries
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let entity = e
                .entity
                .iter()
                .map(|p| {
                    format!(
                        "{}={}",
                        p.entity_type.as_str(),
                        p.entity_name.as_deref().unwrap_or("<default>")
                    )
                })
                .collect::<Vec<_>>()
                .join(",");
            let values = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            (entity, values)
        })
        .collect();
    (r.error_code, found)
}

const INVALID_REQUEST: i16 = 42;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const UNSUPPORTED_VERSION: i16 = 35;

#[tokio::test]
async fn quotas_are_altered_described_and_kept_across_a_restart() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let results = alter(
        &mut client,
        1,
        vec![
            entry(
                &[("user", Some("alice"))],
                &[("producer_byte_rate", 1024.0, false)],
            ),
            entry(&[("user", None)], &[("consumer_byte_rate", 2048.0, false)]),
            entry(
                &[("user", Some("alice")), ("client-id", None)],
                &[
                    ("request_percentage", 12.5, false),
                    ("producer_byte_rate", 4096.0, false),
                ],
            ),
            entry(
                &[("client-id", Some("app"))],
                &[("consumer_byte_rate", 10.0, false)],
            ),
        ],
        false,
    )
    .await;
    assert_eq!(results, vec![(0, None); 4]);

    let (code, all) = describe(&mut client, 1, vec![], false).await;
    assert_eq!(code, 0);
    let entities: Vec<&str> = all.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        entities,
        [
            "client-id=<default>,user=alice",
            "client-id=app",
            "user=<default>",
            "user=alice"
        ]
    );
    assert_eq!(
        all[0].1,
        [
            ("producer_byte_rate".to_string(), 4096.0),
            ("request_percentage".to_string(), 12.5)
        ]
    );
    // Kafka's filters.
    let (_, found) = describe(
        &mut client,
        0,
        vec![component("user", 0, Some("alice"))],
        false,
    )
    .await;
    assert_eq!(found.len(), 2);
    let (_, found) = describe(
        &mut client,
        1,
        vec![component("user", 0, Some("alice"))],
        true,
    )
    .await;
    assert_eq!(
        found,
        [(
            "user=alice".to_string(),
            vec![("producer_byte_rate".to_string(), 1024.0)]
        )]
    );
    let (_, found) = describe(&mut client, 1, vec![component("user", 1, None)], false).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "user=<default>");
    let (_, found) = describe(&mut client, 1, vec![component("user", 2, None)], false).await;
    assert_eq!(found.len(), 3);
    let (_, found) = describe(&mut client, 1, vec![component("client-id", 2, None)], true).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "client-id=app");

    // Removing one key keeps the others; removing the last one removes the entity.
    let results = alter(
        &mut client,
        0,
        vec![
            entry(
                &[("client-id", None), ("user", Some("alice"))],
                &[("request_percentage", 0.0, true)],
            ),
            entry(
                &[("client-id", Some("app"))],
                &[("consumer_byte_rate", 0.0, true)],
            ),
        ],
        false,
    )
    .await;
    assert_eq!(results, vec![(0, None); 2]);
    let (_, all) = describe(&mut client, 1, vec![], false).await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0].1,
        [("producer_byte_rate".to_string(), 4096.0)],
        "{all:?}"
    );

    // The quotas are in the metadata log.
    drop(client);
    let server = server.restart(Config::default()).await;
    let mut client = server.connect().await;
    let (_, after) = describe(&mut client, 1, vec![], false).await;
    assert_eq!(after, all);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn bad_alterations_are_refused_entry_by_entry() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let ok = || {
        entry(
            &[("user", Some("ok"))],
            &[("producer_byte_rate", 100.0, false)],
        )
    };
    let bad = [
        entry(&[], &[("producer_byte_rate", 100.0, false)]),
        entry(
            &[("user", Some(""))],
            &[("producer_byte_rate", 100.0, false)],
        ),
        entry(
            &[("group", Some("g"))],
            &[("producer_byte_rate", 100.0, false)],
        ),
        entry(
            &[("ip", Some("10.0.0.1"))],
            &[("producer_byte_rate", 5.0, false)],
        ),
        entry(
            &[("ip", Some("no-address"))],
            &[("connection_creation_rate", 5.0, false)],
        ),
        entry(
            &[("ip", Some("10.0.0.1")), ("user", Some("a"))],
            &[("connection_creation_rate", 5.0, false)],
        ),
        entry(
            &[("user", Some("a"))],
            &[("producer_byte_rate", 100.5, false)],
        ),
        entry(
            &[("user", Some("a"))],
            &[("producer_byte_rate", -1.0, false)],
        ),
        entry(&[("user", Some("a"))], &[("no_such_key", 1.0, false)]),
        entry(
            &[("user", Some("a"))],
            &[("connection_creation_rate", 1.0, false)],
        ),
        entry(
            &[("user", Some("a"))],
            &[
                ("producer_byte_rate", 1.0, false),
                ("producer_byte_rate", 2.0, false),
            ],
        ),
    ];
    for b in bad {
        let results = alter(&mut client, 1, vec![b.clone(), ok()], false).await;
        assert_eq!(results[0].0, INVALID_REQUEST, "{b:?}: {results:?}");
        assert!(results[0].1.is_some());
        assert_eq!(results[1], (0, None), "{b:?}");
    }
    // An entity given twice is refused both times.
    let twice = entry(
        &[("user", Some("twice"))],
        &[("producer_byte_rate", 1.0, false)],
    );
    let results = alter(&mut client, 1, vec![twice.clone(), twice], false).await;
    assert_eq!(
        results.iter().map(|r| r.0).collect::<Vec<_>>(),
        [INVALID_REQUEST, INVALID_REQUEST]
    );
    // validate_only checks and stores nothing.
    let results = alter(
        &mut client,
        1,
        vec![entry(
            &[("user", Some("dry"))],
            &[("producer_byte_rate", 1.0, false)],
        )],
        true,
    )
    .await;
    assert_eq!(results, [(0, None)]);
    let (_, all) = describe(&mut client, 1, vec![], false).await;
    assert_eq!(
        all,
        [(
            "user=ok".to_string(),
            vec![("producer_byte_rate".to_string(), 100.0)]
        )]
    );
    // Malformed filters: INVALID_REQUEST, an unknown type UNSUPPORTED_VERSION.
    for (components, code) in [
        (vec![component("user", 0, None)], INVALID_REQUEST),
        (vec![component("user", 1, Some("x"))], INVALID_REQUEST),
        (vec![component("user", 9, None)], INVALID_REQUEST),
        (
            vec![component("ip", 2, None), component("user", 2, None)],
            INVALID_REQUEST,
        ),
        (vec![component("topic", 2, None)], UNSUPPORTED_VERSION),
    ] {
        let (got, found) = describe(&mut client, 1, components, false).await;
        assert_eq!(got, code);
        assert!(found.is_empty());
    }
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn with_the_authorizer_quotas_need_cluster_permissions() {
    use common::authz::{allow, config, connect_as, grant};
    use myelin_server::authz::{Operation, ResourceType, CLUSTER_NAME};
    let server = TestServer::start(config()).await;
    let mut alice = connect_as(&server, "alice").await;
    let change = || {
        entry(
            &[("user", Some("bob"))],
            &[("producer_byte_rate", 1.0, false)],
        )
    };
    let results = alter(&mut alice, 1, vec![change(), change()], false).await;
    assert_eq!(
        results.iter().map(|r| r.0).collect::<Vec<_>>(),
        [CLUSTER_AUTHORIZATION_FAILED; 2]
    );
    assert_eq!(
        describe(&mut alice, 1, vec![], false).await.0,
        CLUSTER_AUTHORIZATION_FAILED
    );
    // ALTER_CONFIGS and DESCRIBE_CONFIGS on the cluster let her.
    grant(
        &server,
        vec![
            allow(
                ResourceType::Cluster,
                CLUSTER_NAME,
                "alice",
                Operation::AlterConfigs,
            ),
            allow(
                ResourceType::Cluster,
                CLUSTER_NAME,
                "alice",
                Operation::DescribeConfigs,
            ),
        ],
    );
    assert_eq!(
        alter(&mut alice, 1, vec![change()], false).await,
        [(0, None)]
    );
    let (code, found) = describe(&mut alice, 1, vec![], false).await;
    assert_eq!((code, found.len()), (0, 1));
    let mut admin = connect_as(&server, "admin").await;
    assert_eq!(describe(&mut admin, 1, vec![], false).await.0, 0);
    drop((alice, admin));
    server.stop().await;
}

/// Sets `key` to `value` for the test client's client id.
async fn set_client_quota(client: &mut Client, key: &str, value: f64) {
    let results = alter(
        client,
        1,
        vec![entry(
            &[("client-id", Some(CLIENT_ID))],
            &[(key, value, false)],
        )],
        false,
    )
    .await;
    assert_eq!(results, [(0, None)]);
}

/// A batch of `n` records of 1000 bytes each.
fn big_batch(n: usize) -> Vec<u8> {
    let value = vec![b'x'; 1000];
    let records: Vec<myelin_log::record::KeyValue<'_>> =
        (0..n).map(|_| (None, Some(&value[..]))).collect();
    myelin_log::record::simple_batch(&records, common::data::now(), Compression::None)
}

/// Produces 60 kB in one batch (acks=all, v9).
async fn produce_60(client: &mut Client) -> ProduceResponse {
    let request = produce_request("metered", 0, big_batch(60), -1);
    client.call(ApiKey::Produce, 9, &request).await
}

#[tokio::test]
async fn a_producer_over_its_byte_rate_is_throttled_and_loses_nothing() {
    let server = TestServer::start(Config::default()).await;
    create_topic(&server, "metered", 1, &[]);
    let mut client = server.connect().await;
    // 10 kB/s: the first 100 kB (10 s of quota) pass; 120 kB more is over.
    set_client_quota(&mut client, "producer_byte_rate", 10_000.0).await;
    let first = produce_60(&mut client).await;
    assert_eq!(first.throttle_time_ms, 0);
    let second = produce_60(&mut client).await;
    // 120 kB + overhead over a 10 s window: about 2.3 s to get back to 10 kB/s.
    let throttle = second.throttle_time_ms;
    assert!(
        (1_000..=5_000).contains(&throttle),
        "throttle {throttle} ms"
    );
    // Both were appended: throttling delays, it does not refuse.
    for r in [&first, &second] {
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
    }
    assert_eq!(second.responses[0].partition_responses[0].base_offset, 60);
    // The connection reads nothing more until the throttle has passed: the next request
    // (a cheap one) is answered no sooner.
    let sent = Instant::now();
    let _: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .await;
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(throttle as u64) - Duration::from_millis(500),
        "answered after {waited:?}, throttled for {throttle} ms"
    );
    // Another connection of the same client id shares the rate: it is throttled too.
    let mut other = server.connect().await;
    let third = produce_60(&mut other).await;
    assert!(third.throttle_time_ms > 0);
    drop((client, other));
    server.stop().await;
}

#[tokio::test]
async fn a_consumer_over_its_byte_rate_gets_an_empty_throttled_answer() {
    let server = TestServer::start(Config::default()).await;
    let topic_id = create_topic(&server, "metered", 1, &[]);
    let mut client = server.connect().await;
    for _ in 0..10 {
        let r: ProduceResponse = client
            .call(
                ApiKey::Produce,
                9,
                &produce_request("metered", 0, big_batch(20), -1),
            )
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    // 10 kB/s: a fetch asks for at most one window's 100 kB.
    set_client_quota(&mut client, "consumer_byte_rate", 10_000.0).await;
    let request = fetch_request(12, "metered", topic_id, &[(0, 0)], 50 * 1024 * 1024);
    let first = fetch(&mut client, 12, &request).await;
    assert_eq!(first.throttle_time_ms, 0);
    let got = first.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, |r| r.len());
    // Whole batches of about 20 kB, up to the window's 100 kB.
    assert!((60_000..=100_000).contains(&got), "{got} bytes");
    // The next one would take it over: no records, and the throttle time.
    let second = fetch(&mut client, 12, &request).await;
    assert!(second.throttle_time_ms > 0, "{second:?}");
    assert!(second.responses.is_empty(), "{second:?}");
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_client_over_its_request_share_is_held_back() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    // A billionth of a percent of a thread: any request goes over.
    set_client_quota(&mut client, "request_percentage", 1e-9).await;
    let metadata = MetadataRequest::default().with_topics(Some(vec![]));
    let _: MetadataResponse = client.call(ApiKey::Metadata, 12, &metadata).await;
    // The request quota's throttle is at most one window (1 s): the next request waits
    // for it.
    let sent = Instant::now();
    let _: MetadataResponse = client.call(ApiKey::Metadata, 12, &metadata).await;
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}"
    );
    drop(client);
    server.stop().await;
}

const THROTTLING_QUOTA_EXCEEDED: i16 = 89;

/// CreateTopics of `topics` (name, partitions) at `version`: each topic's error code, and
/// the throttle time.
async fn create_topics(
    server: &TestServer,
    version: i16,
    topics: &[(&str, i32)],
) -> (Vec<i16>, i32) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
    // A connection of its own: a throttled one reads nothing more for a while.
    let mut client = server.connect().await;
    let request = CreateTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|(n, p)| {
                    CreatableTopic::default()
                        .with_name(TopicName(s(n)))
                        .with_num_partitions(*p)
                        .with_replication_factor(1)
                })
                .collect(),
        )
        .with_timeout_ms(10_000);
    let r: CreateTopicsResponse = client.call(ApiKey::CreateTopics, version, &request).await;
    (
        r.topics.iter().map(|t| t.error_code).collect(),
        r.throttle_time_ms,
    )
}

#[tokio::test]
async fn topic_mutations_over_the_controller_quota_are_refused_or_throttled() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::{
        CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest,
        DeleteTopicsResponse, TopicName,
    };
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    // 1 partition per second: a bucket of 10 (10 windows' worth).
    set_client_quota(&mut client, "controller_mutation_rate", 1.0).await;
    // Strict (v6+): what empties the bucket goes ahead, what comes after is refused.
    let (codes, throttle) = create_topics(&server, 7, &[("m-a", 6), ("m-b", 6), ("m-c", 1)]).await;
    assert_eq!(codes, [0, 0, THROTTLING_QUOTA_EXCEEDED]);
    // 2 partitions below zero at 1 per second.
    assert!(
        (1_500..=2_000).contains(&throttle),
        "throttle {throttle} ms"
    );
    // Permissive (v5): created all the same, and throttled.
    let (codes, throttle) = create_topics(&server, 5, &[("m-d", 1)]).await;
    assert_eq!(codes, [0]);
    assert!(throttle > 0);
    // DeleteTopics (strict from v5) and CreatePartitions (strict from v3) count too.
    let mut other = server.connect().await;
    let r: DeleteTopicsResponse = other
        .call(
            ApiKey::DeleteTopics,
            5,
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(s("m-a"))])
                .with_timeout_ms(10_000),
        )
        .await;
    assert_eq!(r.responses[0].error_code, THROTTLING_QUOTA_EXCEEDED);
    assert!(r.throttle_time_ms > 0);
    let mut other = server.connect().await;
    let r: CreatePartitionsResponse = other
        .call(
            ApiKey::CreatePartitions,
            3,
            &CreatePartitionsRequest::default()
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(TopicName(s("m-b")))
                    .with_count(8)
                    .with_assignments(None)])
                .with_timeout_ms(10_000),
        )
        .await;
    assert_eq!(r.results[0].error_code, THROTTLING_QUOTA_EXCEEDED);
    // What was refused was not done; what went ahead was.
    let state = server.metadata.state();
    for (topic, partitions) in [
        ("m-a", Some(6)),
        ("m-b", Some(6)),
        ("m-c", None),
        ("m-d", Some(1)),
    ] {
        assert_eq!(
            state.topic_by_name(topic).map(|t| t.partitions),
            partitions,
            "{topic}"
        );
    }
    // Validation alone takes nothing from the bucket.
    let mut other = server.connect().await;
    let r: kafka_protocol::messages::CreateTopicsResponse = other
        .call(
            ApiKey::CreateTopics,
            7,
            &kafka_protocol::messages::CreateTopicsRequest::default()
                .with_topics(vec![
                    kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                        .with_name(TopicName(s("m-e")))
                        .with_num_partitions(1)
                        .with_replication_factor(1),
                ])
                .with_validate_only(true),
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    drop((client, other));
    server.stop().await;
}

#[tokio::test]
async fn connections_over_their_address_rate_are_closed_unserved() {
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    use tokio::io::AsyncReadExt;
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    // Every address: one connection per second, a burst of 10 (10 windows' worth).
    let results = alter(
        &mut client,
        1,
        vec![entry(
            &[("ip", None)],
            &[("connection_creation_rate", 1.0, false)],
        )],
        false,
    )
    .await;
    assert_eq!(results, [(0, None)]);
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut c = server.connect().await;
        let r: ApiVersionsResponse = c
            .call(ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())
            .await;
        assert_eq!(r.error_code, 0);
        open.push(c);
    }
    // The 11th is accepted by TCP but never served, and closed after its throttle time.
    let mut over = server.connect().await;
    over.send(ApiKey::ApiVersions, 2, 1, &ApiVersionsRequest::default())
        .await;
    let mut buf = [0u8; 64];
    let read = common::bounded(over.stream.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the throttled connection was answered: {read:?}"
    );
    // Those already open are served as before.
    let r: ApiVersionsResponse = open[0]
        .call(ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    // An address's own quota wins over the default.
    let results = alter(
        &mut client,
        1,
        vec![entry(
            &[("ip", Some("127.0.0.1"))],
            &[("connection_creation_rate", 1000.0, false)],
        )],
        false,
    )
    .await;
    assert_eq!(results, [(0, None)]);
    let mut c = server.connect().await;
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    drop((client, open, over, c));
    server.stop().await;
}
