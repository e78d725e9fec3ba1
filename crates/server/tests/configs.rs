//! The config APIs over real TCP: DescribeConfigs, AlterConfigs and IncrementalAlterConfigs
//! on topics and on the broker, with Kafka's names, sources and synonyms.

mod common;

use common::{Client, TestServer};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, CreateTopicsRequest, CreateTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_server::configs::{BROKER_CONFIGS, TOPIC_CONFIGS};
use myelin_server::Config;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

const DYNAMIC_TOPIC: i8 = 1;
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT_BROKER: i8 = 3;
const STATIC_BROKER: i8 = 4;
const DEFAULT: i8 = 5;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn start(broker_configs: &[(&str, &str)]) -> (TestServer, Client) {
    let config = Config {
        node_id: 1,
        broker_configs: broker_configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let client = server.connect().await;
    (server, client)
}

async fn create_topic(client: &mut Client, name: &str, configs: &[(&str, &str)]) {
    let topic = CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        );
    let r: CreateTopicsResponse = client
        .call(
            ApiKey::CreateTopics,
            7,
            &CreateTopicsRequest::default().with_topics(vec![topic]),
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

fn resource(kind: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
    DescribeConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(s(name))
        .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| s(k)).collect()))
}

async fn describe(
    client: &mut Client,
    version: i16,
    resources: Vec<DescribeConfigsResource>,
    synonyms: bool,
    documentation: bool,
) -> Vec<DescribeConfigsResult> {
    let request = DescribeConfigsRequest::default()
        .with_resources(resources)
        .with_include_synonyms(synonyms)
        .with_include_documentation(documentation);
    let r: DescribeConfigsResponse = client
        .call(ApiKey::DescribeConfigs, version, &request)
        .await;
    r.results
}

/// The one config `name` of a topic, with synonyms and documentation, at v4.
async fn topic_config(
    client: &mut Client,
    topic: &str,
    name: &str,
) -> DescribeConfigsResourceResult {
    let mut results = describe(
        client,
        4,
        vec![resource(TOPIC, topic, Some(&[name]))],
        true,
        true,
    )
    .await;
    assert_eq!(results[0].error_code, 0, "{:?}", results[0].error_message);
    let mut configs = results.remove(0).configs;
    assert_eq!(configs.len(), 1);
    configs.remove(0)
}

fn synonyms(c: &DescribeConfigsResourceResult) -> Vec<(String, Option<String>, i8)> {
    c.synonyms
        .iter()
        .map(|s| {
            (
                s.name.as_str().to_string(),
                s.value.as_ref().map(|v| v.as_str().to_string()),
                s.source,
            )
        })
        .collect()
}

fn value(c: &DescribeConfigsResourceResult) -> Option<&str> {
    c.value.as_ref().map(|v| v.as_str())
}

#[tokio::test]
async fn describe_topic_configs_in_every_version() {
    let (server, mut client) = start(&[]).await;
    create_topic(&mut client, "described", &[]).await;
    for version in 1..=4i16 {
        let results = describe(
            &mut client,
            version,
            vec![resource(TOPIC, "described", None)],
            true,
            // include_documentation exists from v3.
            version >= 3,
        )
        .await;
        let r = &results[0];
        assert_eq!((r.error_code, r.resource_type), (0, TOPIC));
        assert_eq!(r.resource_name.as_str(), "described");
        let names: Vec<_> = r.configs.iter().map(|c| c.name.as_str()).collect();
        let expected: Vec<_> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        assert_eq!(names, expected, "v{version}");
        for c in &r.configs {
            assert!(!c.read_only && !c.is_sensitive, "{}", c.name.as_str());
            assert_eq!(c.config_source, DEFAULT, "{}", c.name.as_str());
            if version >= 3 {
                assert!(c.config_type > 0, "{}", c.name.as_str());
                assert!(c.documentation.as_ref().is_some_and(|d| !d.is_empty()));
            }
        }
        let find = |n: &str| r.configs.iter().find(|c| c.name.as_str() == n).unwrap();
        assert_eq!(value(find("retention.ms")), Some("604800000"));
        assert_eq!(value(find("cleanup.policy")), Some("delete"));
        assert_eq!(value(find("flush.messages")), Some("1"));
        assert_eq!(value(find("compression.type")), Some("producer"));
        assert_eq!(value(find("min.insync.replicas")), Some("1"));
        // retention.ms defaults to log.retention.hours; synonyms list it with its own value.
        assert_eq!(
            synonyms(find("retention.ms")),
            [(
                "log.retention.hours".to_string(),
                Some("168".to_string()),
                DEFAULT
            )]
        );
        assert_eq!(
            synonyms(find("max.message.bytes")),
            [(
                "message.max.bytes".to_string(),
                Some("1048588".to_string()),
                DEFAULT
            )]
        );
        if version >= 3 {
            assert_eq!(find("retention.ms").config_type, 5); // LONG
            assert_eq!(find("cleanup.policy").config_type, 7); // LIST
            assert_eq!(find("preallocate").config_type, 1); // BOOLEAN
        }
    }

    // Without synonyms or documentation; a keys filter (unknown keys left out; empty = all).
    let results = describe(
        &mut client,
        3,
        vec![
            resource(TOPIC, "described", Some(&["segment.bytes", "no.such.key"])),
            resource(TOPIC, "described", Some(&[])),
        ],
        false,
        false,
    )
    .await;
    assert_eq!(results[0].configs.len(), 1);
    let c = &results[0].configs[0];
    assert_eq!(
        (c.name.as_str(), value(c)),
        ("segment.bytes", Some("1073741824"))
    );
    assert!(c.synonyms.is_empty());
    assert!(c.documentation.is_none());
    assert_eq!(results[1].configs.len(), TOPIC_CONFIGS.len());

    // Unknown and illegal topics.
    let results = describe(
        &mut client,
        4,
        vec![
            resource(TOPIC, "missing", None),
            resource(TOPIC, "a/b", None),
        ],
        false,
        false,
    )
    .await;
    assert_eq!(results[0].error_code, 3);
    assert_eq!(results[1].error_code, 17);
    assert!(results[0].configs.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn topic_overrides_and_static_broker_configs_show_their_sources() {
    let (server, mut client) =
        start(&[("log.retention.hours", "24"), ("compression.type", "zstd")]).await;
    create_topic(&mut client, "plain", &[]).await;
    create_topic(&mut client, "overridden", &[("retention.ms", "1000")]).await;

    let c = topic_config(&mut client, "plain", "retention.ms").await;
    assert_eq!(
        (value(&c), c.config_source),
        (Some("86400000"), STATIC_BROKER)
    );
    assert_eq!(
        synonyms(&c),
        [
            (
                "log.retention.hours".to_string(),
                Some("24".to_string()),
                STATIC_BROKER
            ),
            (
                "log.retention.hours".to_string(),
                Some("168".to_string()),
                DEFAULT
            ),
        ]
    );
    let c = topic_config(&mut client, "plain", "compression.type").await;
    assert_eq!((value(&c), c.config_source), (Some("zstd"), STATIC_BROKER));

    let c = topic_config(&mut client, "overridden", "retention.ms").await;
    assert_eq!((value(&c), c.config_source), (Some("1000"), DYNAMIC_TOPIC));
    assert_eq!(
        synonyms(&c)[0],
        (
            "retention.ms".to_string(),
            Some("1000".to_string()),
            DYNAMIC_TOPIC
        )
    );
    assert_eq!(synonyms(&c).len(), 3);
    // The logs run with those values.
    let log = |t: &str| server.partitions.get(t, 0).unwrap().log.config();
    assert_eq!(log("plain").retention_ms, 86_400_000);
    assert_eq!(log("overridden").retention_ms, 1000);
    server.stop().await;
}

#[tokio::test]
async fn describe_the_broker() {
    let (server, mut client) = start(&[("num.partitions", "6")]).await;
    let results = describe(
        &mut client,
        4,
        vec![resource(BROKER, "1", None)],
        true,
        true,
    )
    .await;
    let r = &results[0];
    assert_eq!(r.error_code, 0);
    let names: Vec<_> = r.configs.iter().map(|c| c.name.as_str()).collect();
    let expected: Vec<_> = BROKER_CONFIGS.iter().map(|d| d.name).collect();
    assert_eq!(names, expected);
    let find = |n: &str| r.configs.iter().find(|c| c.name.as_str() == n).unwrap();
    let c = find("num.partitions");
    assert_eq!(
        (value(c), c.config_source, c.read_only),
        (Some("6"), STATIC_BROKER, true)
    );
    let c = find("node.id");
    assert_eq!((value(c), c.config_source), (Some("1"), STATIC_BROKER));
    let c = find("log.retention.ms");
    // Null until set, dynamic (not read-only), no synonyms before its own name.
    assert_eq!(
        (value(c), c.config_source, c.read_only),
        (None, DEFAULT, false)
    );
    assert!(c.synonyms.is_empty());
    let c = find("log.retention.hours");
    assert_eq!((value(c), c.read_only), (Some("168"), true));
    assert_eq!(
        synonyms(c),
        [(
            "log.retention.hours".to_string(),
            Some("168".to_string()),
            DEFAULT
        )]
    );
    assert!(value(find("log.dirs")).unwrap().ends_with("logs"));
    assert_eq!(value(find("auto.create.topics.enable")), Some("true"));

    // The cluster-wide defaults: none set yet. Other ids and names, loggers: INVALID_REQUEST.
    let results = describe(
        &mut client,
        4,
        vec![
            resource(BROKER, "", None),
            resource(BROKER, "2", None),
            resource(BROKER, "one", None),
            resource(BROKER_LOGGER, "1", None),
            resource(99, "x", None),
        ],
        true,
        false,
    )
    .await;
    assert_eq!(results[0].error_code, 0);
    assert!(results[0].configs.is_empty());
    assert_eq!(
        results[1..]
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        [42, 42, 42, 42]
    );
    assert_eq!(
        results[1].error_message.as_deref(),
        Some("Unexpected broker id, expected 1 or empty string, but received 2")
    );
    server.stop().await;
}

fn legacy(kind: i8, name: &str, configs: &[(&str, &str)]) -> AlterConfigsResource {
    AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(s(name))
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        )
}

async fn alter(
    client: &mut Client,
    version: i16,
    resources: Vec<AlterConfigsResource>,
    validate_only: bool,
) -> AlterConfigsResponse {
    let request = AlterConfigsRequest::default()
        .with_resources(resources)
        .with_validate_only(validate_only);
    client.call(ApiKey::AlterConfigs, version, &request).await
}

#[tokio::test]
async fn alter_configs_replaces_a_topics_overrides() {
    let (server, mut client) = start(&[]).await;
    create_topic(&mut client, "altered", &[("segment.ms", "5000")]).await;
    for version in 0..=2i16 {
        let r = alter(
            &mut client,
            version,
            vec![legacy(
                TOPIC,
                "altered",
                &[("retention.ms", "2000"), ("cleanup.policy", "compact")],
            )],
            false,
        )
        .await;
        assert_eq!(r.responses[0].error_code, 0, "v{version}");
        assert_eq!(r.responses[0].resource_name.as_str(), "altered");
        let c = topic_config(&mut client, "altered", "retention.ms").await;
        assert_eq!((value(&c), c.config_source), (Some("2000"), DYNAMIC_TOPIC));
        let c = topic_config(&mut client, "altered", "cleanup.policy").await;
        assert_eq!(
            (value(&c), c.config_source),
            (Some("compact"), DYNAMIC_TOPIC)
        );
        // segment.ms was not in the request: it is gone.
        let c = topic_config(&mut client, "altered", "segment.ms").await;
        assert_eq!((value(&c), c.config_source), (Some("604800000"), DEFAULT));
        let log = server.partitions.get("altered", 0).unwrap().log.config();
        assert_eq!(log.retention_ms, 2000);
        assert!(log.cleanup_policy.compact && !log.cleanup_policy.delete);

        // Back to segment.ms only, for the next version.
        let r = alter(
            &mut client,
            version,
            vec![legacy(TOPIC, "altered", &[("segment.ms", "5000")])],
            false,
        )
        .await;
        assert_eq!(r.responses[0].error_code, 0);
        let c = topic_config(&mut client, "altered", "retention.ms").await;
        assert_eq!(c.config_source, DEFAULT);
    }

    // validate_only checks and changes nothing.
    let r = alter(
        &mut client,
        2,
        vec![legacy(TOPIC, "altered", &[("retention.ms", "9")])],
        true,
    )
    .await;
    assert_eq!(r.responses[0].error_code, 0);
    let c = topic_config(&mut client, "altered", "retention.ms").await;
    assert_eq!(c.config_source, DEFAULT);

    let r = alter(
        &mut client,
        2,
        vec![
            legacy(TOPIC, "altered", &[("retention.ms", "forever")]),
            legacy(TOPIC, "missing", &[("retention.ms", "1")]),
            legacy(TOPIC, "other", &[("no.such.config", "1")]),
            legacy(BROKER_LOGGER, "1", &[("root", "DEBUG")]),
        ],
        false,
    )
    .await;
    assert_eq!(
        r.responses.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        [40, 3, 3, 42]
    );
    create_topic(&mut client, "other", &[]).await;
    let r = alter(
        &mut client,
        2,
        vec![
            legacy(TOPIC, "other", &[("no.such.config", "1")]),
            legacy(
                TOPIC,
                "altered",
                &[("retention.ms", "1"), ("retention.ms", "2")],
            ),
        ],
        false,
    )
    .await;
    assert_eq!(
        r.responses.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        [40, 42]
    );
    assert_eq!(
        r.responses[0].error_message.as_deref(),
        Some("Unknown topic config name: no.such.config")
    );
    // A resource listed twice: both refused.
    let r = alter(
        &mut client,
        2,
        vec![
            legacy(TOPIC, "other", &[("retention.ms", "1")]),
            legacy(TOPIC, "other", &[("retention.ms", "2")]),
        ],
        false,
    )
    .await;
    assert_eq!(
        r.responses.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        [42, 42]
    );
    server.stop().await;
}

fn op(name: &str, operation: i8, value: Option<&str>) -> incremental::AlterableConfig {
    incremental::AlterableConfig::default()
        .with_name(s(name))
        .with_config_operation(operation)
        .with_value(value.map(s))
}

fn changes(
    kind: i8,
    name: &str,
    ops: Vec<incremental::AlterableConfig>,
) -> incremental::AlterConfigsResource {
    incremental::AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(s(name))
        .with_configs(ops)
}

async fn incremental(
    client: &mut Client,
    version: i16,
    resources: Vec<incremental::AlterConfigsResource>,
    validate_only: bool,
) -> Vec<i16> {
    let request = IncrementalAlterConfigsRequest::default()
        .with_resources(resources)
        .with_validate_only(validate_only);
    let r: IncrementalAlterConfigsResponse = client
        .call(ApiKey::IncrementalAlterConfigs, version, &request)
        .await;
    r.responses.iter().map(|r| r.error_code).collect()
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

#[tokio::test]
async fn incremental_alter_configs_on_a_topic() {
    let (server, mut client) = start(&[]).await;
    create_topic(&mut client, "inc", &[("segment.ms", "5000")]).await;
    for version in 0..=1i16 {
        let codes = incremental(
            &mut client,
            version,
            vec![changes(
                TOPIC,
                "inc",
                vec![
                    op("retention.ms", SET, Some("3000")),
                    op("cleanup.policy", APPEND, Some("compact")),
                ],
            )],
            false,
        )
        .await;
        assert_eq!(codes, [0], "v{version}");
        let c = topic_config(&mut client, "inc", "retention.ms").await;
        assert_eq!((value(&c), c.config_source), (Some("3000"), DYNAMIC_TOPIC));
        // APPEND starts from the default.
        let c = topic_config(&mut client, "inc", "cleanup.policy").await;
        assert_eq!(value(&c), Some("delete,compact"));
        // Other overrides stay.
        let c = topic_config(&mut client, "inc", "segment.ms").await;
        assert_eq!(value(&c), Some("5000"));
        let log = server.partitions.get("inc", 0).unwrap().log.config();
        assert!(log.cleanup_policy.compact && log.cleanup_policy.delete);
        assert_eq!(log.retention_ms, 3000);

        let codes = incremental(
            &mut client,
            version,
            vec![changes(
                TOPIC,
                "inc",
                vec![
                    op("retention.ms", DELETE, None),
                    op("cleanup.policy", SUBTRACT, Some("delete")),
                ],
            )],
            false,
        )
        .await;
        assert_eq!(codes, [0]);
        let c = topic_config(&mut client, "inc", "retention.ms").await;
        assert_eq!((value(&c), c.config_source), (Some("604800000"), DEFAULT));
        let c = topic_config(&mut client, "inc", "cleanup.policy").await;
        assert_eq!(value(&c), Some("compact"));
        // Reset for the next version.
        incremental(
            &mut client,
            version,
            vec![changes(
                TOPIC,
                "inc",
                vec![op("cleanup.policy", DELETE, None)],
            )],
            false,
        )
        .await;
    }

    // validate_only, then errors: APPEND to a non-list, a bad value, a null SET, an unknown
    // operation, an unknown topic; all or nothing per resource.
    let codes = incremental(
        &mut client,
        1,
        vec![changes(
            TOPIC,
            "inc",
            vec![op("retention.ms", SET, Some("1"))],
        )],
        true,
    )
    .await;
    assert_eq!(codes, [0]);
    assert_eq!(
        topic_config(&mut client, "inc", "retention.ms")
            .await
            .config_source,
        DEFAULT
    );
    let codes = incremental(
        &mut client,
        1,
        vec![
            changes(TOPIC, "inc", vec![op("retention.ms", APPEND, Some("1"))]),
            changes(
                TOPIC,
                "inc",
                vec![
                    op("segment.ms", SET, Some("77")),
                    op("retention.ms", SET, Some("-5")),
                ],
            ),
        ],
        false,
    )
    .await;
    // The same resource twice: both refused.
    assert_eq!(codes, [42, 42]);
    let codes = incremental(
        &mut client,
        1,
        vec![changes(
            TOPIC,
            "inc",
            vec![op("retention.ms", APPEND, Some("1"))],
        )],
        false,
    )
    .await;
    assert_eq!(codes, [40]);
    for bad in [
        vec![
            op("segment.ms", SET, Some("77")),
            op("retention.ms", SET, Some("-5")),
        ],
        vec![op("no.such", SET, Some("1"))],
    ] {
        let codes = incremental(&mut client, 1, vec![changes(TOPIC, "inc", bad)], false).await;
        assert_eq!(codes, [40]);
    }
    assert_eq!(
        value(&topic_config(&mut client, "inc", "segment.ms").await),
        Some("5000")
    );
    for bad in [
        vec![op("retention.ms", SET, None)],
        vec![op("retention.ms", 9, Some("1"))],
        vec![
            op("retention.ms", SET, Some("1")),
            op("retention.ms", DELETE, None),
        ],
    ] {
        let codes = incremental(&mut client, 1, vec![changes(TOPIC, "inc", bad)], false).await;
        assert_eq!(codes, [42]);
    }
    let codes = incremental(
        &mut client,
        1,
        vec![changes(
            TOPIC,
            "gone",
            vec![op("retention.ms", SET, Some("1"))],
        )],
        false,
    )
    .await;
    assert_eq!(codes, [3]);
    server.stop().await;
}

#[tokio::test]
async fn dynamic_broker_configs() {
    let (server, mut client) = start(&[("log.retention.hours", "24")]).await;
    create_topic(&mut client, "follows", &[]).await;

    // Per broker: DYNAMIC_BROKER_CONFIG, above the static value, applied to existing logs.
    let codes = incremental(
        &mut client,
        1,
        vec![changes(
            BROKER,
            "1",
            vec![op("log.retention.ms", SET, Some("1234"))],
        )],
        false,
    )
    .await;
    assert_eq!(codes, [0]);
    let c = topic_config(&mut client, "follows", "retention.ms").await;
    assert_eq!((value(&c), c.config_source), (Some("1234"), DYNAMIC_BROKER));
    assert_eq!(
        synonyms(&c),
        [
            (
                "log.retention.ms".to_string(),
                Some("1234".to_string()),
                DYNAMIC_BROKER
            ),
            (
                "log.retention.hours".to_string(),
                Some("24".to_string()),
                STATIC_BROKER
            ),
            (
                "log.retention.hours".to_string(),
                Some("168".to_string()),
                DEFAULT
            ),
        ]
    );
    assert_eq!(
        server
            .partitions
            .get("follows", 0)
            .unwrap()
            .log
            .config()
            .retention_ms,
        1234
    );
    let results = describe(
        &mut client,
        4,
        vec![resource(BROKER, "1", Some(&["log.retention.ms"]))],
        true,
        false,
    )
    .await;
    let c = &results[0].configs[0];
    assert_eq!((value(c), c.config_source), (Some("1234"), DYNAMIC_BROKER));

    // Cluster-wide: the empty name, DYNAMIC_DEFAULT_BROKER_CONFIG; listed by describing "".
    let r = alter(
        &mut client,
        1,
        vec![legacy(
            BROKER,
            "",
            &[
                ("log.segment.bytes", "1048576"),
                ("compression.type", "lz4"),
            ],
        )],
        false,
    )
    .await;
    assert_eq!(r.responses[0].error_code, 0);
    let results = describe(
        &mut client,
        4,
        vec![resource(BROKER, "", None)],
        true,
        false,
    )
    .await;
    let got: Vec<_> = results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                value(c),
                c.config_source,
                synonyms(c).len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("compression.type", Some("lz4"), DYNAMIC_DEFAULT_BROKER, 1),
            (
                "log.segment.bytes",
                Some("1048576"),
                DYNAMIC_DEFAULT_BROKER,
                1
            ),
        ]
    );
    let c = topic_config(&mut client, "follows", "segment.bytes").await;
    assert_eq!(
        (value(&c), c.config_source),
        (Some("1048576"), DYNAMIC_DEFAULT_BROKER)
    );
    assert_eq!(
        server
            .partitions
            .get("follows", 0)
            .unwrap()
            .log
            .config()
            .segment_bytes,
        1_048_576
    );
    // A topic created now takes them too.
    create_topic(&mut client, "later", &[]).await;
    assert_eq!(
        server
            .partitions
            .get("later", 0)
            .unwrap()
            .log
            .config()
            .segment_bytes,
        1_048_576
    );

    // Refused: read-only, unknown, bad values (all INVALID_REQUEST), another broker.
    for bad in [
        vec![op("num.partitions", SET, Some("3"))],
        vec![op("log.retention.hours", SET, Some("3"))],
        vec![op("no.such.config", SET, Some("3"))],
        vec![op("log.segment.bytes", SET, Some("ten"))],
        vec![op("log.segment.bytes", SET, Some("2"))],
    ] {
        let codes = incremental(&mut client, 1, vec![changes(BROKER, "1", bad)], false).await;
        assert_eq!(codes, [42]);
    }
    let codes = incremental(
        &mut client,
        1,
        vec![
            changes(BROKER, "7", vec![op("log.retention.ms", SET, Some("1"))]),
            changes(BROKER, "1", vec![op("log.retention.ms", APPEND, Some("1"))]),
            changes(
                BROKER,
                "",
                vec![op("log.cleanup.policy", APPEND, Some("compact"))],
            ),
        ],
        false,
    )
    .await;
    assert_eq!(codes, [42, 40, 0]);
    let c = topic_config(&mut client, "follows", "cleanup.policy").await;
    assert_eq!(
        (value(&c), c.config_source),
        (Some("delete,compact"), DYNAMIC_DEFAULT_BROKER)
    );

    // Deleting the per-broker value falls back to the static one.
    let codes = incremental(
        &mut client,
        0,
        vec![changes(
            BROKER,
            "1",
            vec![op("log.retention.ms", DELETE, None)],
        )],
        false,
    )
    .await;
    assert_eq!(codes, [0]);
    let c = topic_config(&mut client, "follows", "retention.ms").await;
    assert_eq!(
        (value(&c), c.config_source),
        (Some("86400000"), STATIC_BROKER)
    );
    assert_eq!(
        server
            .partitions
            .get("follows", 0)
            .unwrap()
            .log
            .config()
            .retention_ms,
        86_400_000
    );
    server.stop().await;
}

/// Dynamic configs live in the metadata log: a broker restarted on the same directory has
/// them, and its logs run with them.
#[tokio::test]
async fn dynamic_configs_survive_a_restart() {
    use std::sync::Arc;

    use myelin_cluster::{FileMetadataStore, MetadataStore};

    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_path_buf();
    {
        let (store, _) = FileMetadataStore::open(&keep).unwrap();
        let store: Arc<dyn MetadataStore> = Arc::new(store);
        let holder = tempfile::tempdir().unwrap();
        // Run a server over the kept directory's metadata, with its logs elsewhere.
        let server = TestServer::start_with(Config::default(), store, holder).await;
        let mut client = server.connect().await;
        create_topic(&mut client, "kept", &[("retention.ms", "4321")]).await;
        let codes = incremental(
            &mut client,
            1,
            vec![changes(
                BROKER,
                "",
                vec![op("log.segment.bytes", SET, Some("2097152"))],
            )],
            false,
        )
        .await;
        assert_eq!(codes, [0]);
        server.stop().await;
    }
    let (store, report) = FileMetadataStore::open(&keep).unwrap();
    assert_eq!(report.records, 2);
    let server = TestServer::start_with(Config::default(), Arc::new(store), dir).await;
    let mut client = server.connect().await;
    let c = topic_config(&mut client, "kept", "retention.ms").await;
    assert_eq!((value(&c), c.config_source), (Some("4321"), DYNAMIC_TOPIC));
    let c = topic_config(&mut client, "kept", "segment.bytes").await;
    assert_eq!(
        (value(&c), c.config_source),
        (Some("2097152"), DYNAMIC_DEFAULT_BROKER)
    );
    let log = server.partitions.get("kept", 0).unwrap().log.config();
    assert_eq!((log.retention_ms, log.segment_bytes), (4321, 2_097_152));
    server.stop().await;
}

const GROUP: i8 = 32;
const DYNAMIC_GROUP: i8 = 8;
const SESSION: &str = "consumer.session.timeout.ms";
const HEARTBEAT: &str = "consumer.heartbeat.interval.ms";

/// The configs of the group `payments` (`keys`, or all): (name, value, source).
async fn group_described(
    client: &mut Client,
    keys: Option<&[&str]>,
) -> Vec<(String, Option<String>, i8)> {
    let results = describe(
        client,
        4,
        vec![resource(GROUP, "payments", keys)],
        false,
        true,
    )
    .await;
    assert_eq!(results[0].error_code, 0, "{:?}", results[0].error_message);
    results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                value(c).map(str::to_string),
                c.config_source,
            )
        })
        .collect()
}

/// IncrementalAlterConfigs v1 on the group `payments`: the error code.
async fn group_altered(
    client: &mut Client,
    ops: Vec<incremental::AlterableConfig>,
    validate_only: bool,
) -> i16 {
    incremental(
        client,
        1,
        vec![changes(GROUP, "payments", ops)],
        validate_only,
    )
    .await[0]
}

fn entry(name: &str, v: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(v.to_string()), source)
}

/// A group's configs (KIP-848): described with the broker's values as defaults, set and
/// deleted incrementally or by the legacy API, checked as Kafka's `GroupConfig` checks them,
/// kept across a restart, and given to the group's members by ConsumerGroupHeartbeat.
#[tokio::test]
async fn group_configs() {
    use std::sync::Arc;

    use kafka_protocol::messages::{
        ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorRequest,
        FindCoordinatorResponse, GroupId,
    };
    use myelin_cluster::{FileMetadataStore, MetadataStore};

    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_path_buf();
    let config = Config {
        broker_configs: [
            ("group.consumer.heartbeat.interval.ms", "4000"),
            ("offsets.topic.num.partitions", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Config::default()
    };
    {
        let (store, _) = FileMetadataStore::open(&keep).unwrap();
        let store: Arc<dyn MetadataStore> = Arc::new(store);
        let holder = tempfile::tempdir().unwrap();
        let server = TestServer::start_with(config.clone(), store, holder).await;
        let mut client = server.connect().await;
        // Nothing set (and no such group yet): the broker's values, share groups' too.
        assert_eq!(
            group_described(&mut client, None).await,
            [
                entry(HEARTBEAT, "4000", DEFAULT),
                entry(SESSION, "45000", DEFAULT),
                entry("share.auto.offset.reset", "latest", DEFAULT),
                entry("share.delivery.count.limit", "5", DEFAULT),
                entry("share.heartbeat.interval.ms", "5000", DEFAULT),
                entry("share.isolation.level", "read_uncommitted", DEFAULT),
                entry("share.record.lock.duration.ms", "30000", DEFAULT),
                entry("share.session.timeout.ms", "45000", DEFAULT),
            ]
        );
        let set_session = vec![op(SESSION, SET, Some("50000"))];
        assert_eq!(
            group_altered(&mut client, set_session.clone(), false).await,
            0
        );
        assert_eq!(
            group_described(&mut client, Some(&[SESSION])).await,
            [entry(SESSION, "50000", DYNAMIC_GROUP)]
        );
        // Refused, as Kafka's GroupConfig refuses them: below the broker's minimum, above
        // its maximum, not a number, out of a share config's range or set, unknown names,
        // and list operations.
        for ops in [
            vec![op(SESSION, SET, Some("30000"))],
            vec![op(SESSION, SET, Some("70000"))],
            vec![op(HEARTBEAT, SET, Some("16000"))],
            vec![op(HEARTBEAT, SET, Some("1000"))],
            vec![op(SESSION, SET, Some("soon"))],
            vec![op("share.record.lock.duration.ms", SET, Some("500"))],
            vec![op("share.auto.offset.reset", SET, Some("middle"))],
            vec![op("share.delivery.count.limit", SET, Some("1"))],
            vec![op("no.such.config", SET, Some("1"))],
            vec![op(SESSION, APPEND, Some("1"))],
        ] {
            assert_eq!(
                group_altered(&mut client, ops.clone(), false).await,
                40,
                "{ops:?}"
            );
        }
        // The empty name is no group.
        let unnamed = vec![changes(GROUP, "", set_session)];
        assert_eq!(incremental(&mut client, 1, unnamed, false).await, [42]);
        let results = describe(
            &mut client,
            4,
            vec![resource(GROUP, "", None)],
            false,
            false,
        )
        .await;
        assert_eq!(results[0].error_code, 42);
        // validate_only changes nothing; the legacy API replaces the whole set.
        let set_heartbeat = vec![op(HEARTBEAT, SET, Some("6000"))];
        assert_eq!(group_altered(&mut client, set_heartbeat, true).await, 0);
        let legacy_set = vec![legacy(GROUP, "payments", &[(HEARTBEAT, "6000")])];
        let r = alter(&mut client, 2, legacy_set, false).await;
        assert_eq!(
            r.responses[0].error_code, 0,
            "{:?}",
            r.responses[0].error_message
        );
        assert_eq!(
            group_described(&mut client, Some(&[HEARTBEAT, SESSION])).await,
            [
                entry(HEARTBEAT, "6000", DYNAMIC_GROUP),
                entry(SESSION, "45000", DEFAULT)
            ]
        );
        // A member of the group is given the group's heartbeat interval (once the
        // coordinator, found first, has loaded its partition of __consumer_offsets).
        let r: FindCoordinatorResponse = client
            .call(
                ApiKey::FindCoordinator,
                3,
                &FindCoordinatorRequest::default().with_key(s("payments")),
            )
            .await;
        assert_eq!(r.error_code, 0);
        let join = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("payments")))
            .with_member_id(s("m1"))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("t"))]))
            .with_topic_partitions(Some(Vec::new()));
        let r: ConsumerGroupHeartbeatResponse =
            client.call(ApiKey::ConsumerGroupHeartbeat, 0, &join).await;
        assert_eq!(
            (r.error_code, r.heartbeat_interval_ms),
            (0, 6000),
            "{:?}",
            r.error_message
        );
        server.stop().await;
    }
    let (store, _) = FileMetadataStore::open(&keep).unwrap();
    let server = TestServer::start_with(config, Arc::new(store), dir).await;
    let mut client = server.connect().await;
    assert_eq!(
        group_described(&mut client, Some(&[HEARTBEAT])).await,
        [entry(HEARTBEAT, "6000", DYNAMIC_GROUP)]
    );
    let delete = vec![op(HEARTBEAT, DELETE, None)];
    assert_eq!(group_altered(&mut client, delete, false).await, 0);
    assert_eq!(
        group_described(&mut client, Some(&[HEARTBEAT])).await,
        [entry(HEARTBEAT, "4000", DEFAULT)]
    );
    server.stop().await;
}

/// ListConfigResources at `version` for `types`: (error code, (type, name) listed).
async fn list_resources(
    client: &mut Client,
    version: i16,
    types: Vec<i8>,
) -> (i16, Vec<(i8, String)>) {
    use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
    let request = ListConfigResourcesRequest::default().with_resource_types(types);
    let r: ListConfigResourcesResponse = client
        .call(ApiKey::ListConfigResources, version, &request)
        .await;
    let listed = r
        .config_resources
        .iter()
        .map(|c| (c.resource_type, c.resource_name.to_string()))
        .collect();
    (r.error_code, listed)
}

/// ListConfigResources (KIP-1142): topics, this broker and the groups with configs, by
/// type or all; v0 lists client metrics, of which there are none; an unknown type fails
/// the request.
#[tokio::test]
async fn list_config_resources() {
    let (server, mut client) = start(&[]).await;
    create_topic(&mut client, "orders", &[]).await;
    assert_eq!(
        group_altered(&mut client, vec![op(SESSION, SET, Some("50000"))], false).await,
        0
    );
    let every = |listed: &[(i8, String)]| -> Vec<(i8, String)> {
        let mut sorted = listed.to_vec();
        sorted.sort();
        sorted
    };
    let (code, listed) = list_resources(&mut client, 1, Vec::new()).await;
    assert_eq!(code, 0);
    assert_eq!(
        every(&listed),
        [
            (TOPIC, "orders".to_string()),
            (BROKER, "1".to_string()),
            (GROUP, "payments".to_string())
        ]
    );
    assert_eq!(
        list_resources(&mut client, 1, vec![GROUP]).await,
        (0, vec![(GROUP, "payments".to_string())])
    );
    assert_eq!(
        list_resources(&mut client, 1, vec![BROKER_LOGGER]).await,
        (0, Vec::new())
    );
    assert_eq!(
        list_resources(&mut client, 1, vec![GROUP, 64]).await,
        (35, Vec::new())
    );
    assert_eq!(
        list_resources(&mut client, 0, Vec::new()).await,
        (0, Vec::new())
    );
    server.stop().await;
}
