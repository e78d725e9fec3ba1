//! librdkafka (the `rdkafka` crate; librdkafka 2.12 built from source) against the real
//! `myelin` binary: produce with every codec and acks setting, keys, headers and null
//! values; messages up to and just over `max.message.bytes`; consume from the beginning,
//! from a timestamp and from the end (partitions assigned: no consumer group); the admin
//! API; and acks=all durability across SIGKILL (and a clean SIGTERM shutdown).
//!
//! Each test runs its own broker process, so a failure names one behaviour. Consumers have
//! no `group.id`: they only `assign`, and commit nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use myelin_tests::admin::create_topic_with as create_topic;
use myelin_tests::broker::{stored_batches, Broker, StoredBatch};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn client_config(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .set("client.id", "myelin-e2e-rdkafka");
    config
}

fn producer(broker: &Broker, settings: &[(&str, &str)]) -> FutureProducer {
    let mut config = client_config(broker);
    config.set("message.timeout.ms", "30000");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    config.create().expect("a producer")
}

/// A consumer that only assigns partitions and commits nothing. librdkafka's consumer
/// refuses `assign` without a `group.id` ("Local: Unknown group"), so it has one, but it
/// never joins the group (consumer groups are tested in `tests/groups`).
fn consumer(broker: &Broker) -> BaseConsumer {
    let mut config = client_config(broker);
    config
        .set("group.id", "myelin-e2e-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "100");
    config.create().expect("a consumer")
}

fn admin(broker: &Broker) -> AdminClient<DefaultClientContext> {
    client_config(broker).create().expect("an admin client")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Assigns `topic`'s partitions at `offsets` and polls until `n` messages arrived.
fn consume(
    consumer: &BaseConsumer,
    topic: &str,
    offsets: &[(i32, Offset)],
    n: usize,
) -> Vec<OwnedMessage> {
    let mut tpl = TopicPartitionList::new();
    for (partition, offset) in offsets {
        tpl.add_partition_offset(topic, *partition, *offset)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + TIMEOUT;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "{topic}: {} of {n} messages after {TIMEOUT:?}",
            got.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got.push(m.detach()),
            Some(Err(e)) => panic!("{topic}: consumer error {e}"),
            None => {}
        }
    }
    got
}

/// Polls for `quiet` and asserts that nothing arrives.
fn assert_nothing_more(consumer: &BaseConsumer, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("no consumer error").detach();
            panic!("unexpected message at offset {}: {m:?}", m.offset());
        }
    }
}

/// The record `i` of the codec test: some keys and values null, headers with a repeated
/// key and a null value, a compressible value.
fn record_key(i: usize) -> Option<String> {
    (i % 7 != 3).then(|| format!("key-{i}"))
}

fn record_value(i: usize) -> Option<String> {
    (i % 10 != 5).then(|| format!("value {i} {}", "abcdefgh".repeat(40)))
}

fn record_headers(i: usize) -> OwnedHeaders {
    let seq = i.to_string();
    OwnedHeaders::new()
        .insert(Header {
            key: "seq",
            value: Some(seq.as_str()),
        })
        .insert(Header {
            key: "dup",
            value: Some("a"),
        })
        .insert(Header {
            key: "dup",
            value: Some("b"),
        })
        .insert(Header::<&str> {
            key: "nil",
            value: None,
        })
}

fn headers_of(m: &OwnedMessage) -> Vec<(String, Option<Vec<u8>>)> {
    m.headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_and_acks_setting_round_trips() {
    let broker = Broker::start();
    let admin = admin(&broker);
    const N: usize = 200;
    let base_ts = now_ms() - 60_000;
    let mut wrong_codec = Vec::new();
    for (codec, codec_id) in [
        ("none", 0),
        ("gzip", 1),
        ("snappy", 2),
        ("lz4", 3),
        ("zstd", 4),
    ] {
        for acks in ["0", "1", "all"] {
            let topic = format!("codec-{codec}-acks-{acks}");
            create_topic(&admin, &topic, 1, &[]).await;
            // Batches of many records, so that compression has something to do.
            let producer = producer(
                &broker,
                &[
                    ("compression.type", codec),
                    ("acks", acks),
                    ("linger.ms", "20"),
                ],
            );
            let mut pending = Vec::with_capacity(N);
            for i in 0..N {
                let key = record_key(i);
                let value = record_value(i);
                let mut record = FutureRecord::<String, String>::to(&topic)
                    .partition(0)
                    .timestamp(base_ts + i as i64)
                    .headers(record_headers(i));
                if let Some(k) = &key {
                    record = record.key(k);
                }
                if let Some(v) = &value {
                    record = record.payload(v);
                }
                pending.push(producer.send_result(record).expect("queued"));
            }
            for (i, delivery) in pending.into_iter().enumerate() {
                let delivery = delivery
                    .await
                    .expect("a delivery report")
                    .unwrap_or_else(|(e, _)| panic!("{topic}: record {i} failed: {e}"));
                if acks == "0" {
                    // No response, so no offset: librdkafka starts each batch's records at
                    // RD_KAFKA_OFFSET_INVALID (-1001) and counts up from there.
                    assert!(delivery.offset < 0, "{topic}: offset of record {i}");
                } else {
                    assert_eq!(delivery.offset, i as i64, "{topic}: offset of record {i}");
                }
            }
            producer.flush(TIMEOUT).expect("flush");

            let consumer = consumer(&broker);
            let got = consume(&consumer, &topic, &[(0, Offset::Beginning)], N);
            for (i, m) in got.iter().enumerate() {
                assert_eq!(m.offset(), i as i64, "{topic}");
                assert_eq!(
                    m.key().map(<[u8]>::to_vec),
                    record_key(i).map(String::into_bytes),
                    "{topic}: key of {i}"
                );
                assert_eq!(
                    m.payload().map(<[u8]>::to_vec),
                    record_value(i).map(String::into_bytes),
                    "{topic}: value of {i}"
                );
                assert_eq!(
                    headers_of(m),
                    vec![
                        ("seq".to_string(), Some(i.to_string().into_bytes())),
                        ("dup".to_string(), Some(b"a".to_vec())),
                        ("dup".to_string(), Some(b"b".to_vec())),
                        ("nil".to_string(), None),
                    ],
                    "{topic}: headers of {i}"
                );
                assert_eq!(
                    m.timestamp(),
                    rdkafka::Timestamp::CreateTime(base_ts + i as i64),
                    "{topic}: timestamp of {i}"
                );
            }
            assert_nothing_more(&consumer, Duration::from_millis(300));

            // The batches on disk carry the producer's codec (the topic's compression.type
            // is `producer`), and the compressed ones are smaller. librdkafka sends a batch
            // uncompressed when compressing would not shrink it: a tombstone alone in its
            // batch (a loaded machine leaves the first records unbatched) is plain.
            let batches = stored_batches(broker.data_dir(), &topic, 0);
            let codec_kept = |b: &StoredBatch| {
                b.codec == codec_id
                    || (b.codec == 0
                        && b.record_count == 1
                        && record_value(b.base_offset as usize).is_none())
            };
            if !batches.iter().all(codec_kept) || !batches.iter().any(|b| b.codec == codec_id) {
                wrong_codec.push(format!("{topic}: stored codecs {batches:?}"));
                continue;
            }
            assert_eq!(
                batches
                    .iter()
                    .map(|b| b.record_count as usize)
                    .sum::<usize>(),
                N
            );
            assert!(
                batches.len() < N / 2,
                "{topic}: {} batches for {N} records: the producer did not batch",
                batches.len()
            );
            if codec != "none" {
                let stored: usize = batches.iter().map(|b| b.size).sum();
                let plain: usize = (0..N).map(|i| record_value(i).map_or(0, |v| v.len())).sum();
                assert!(
                    stored * 3 < plain,
                    "{topic}: {stored} bytes stored for {plain} bytes of values"
                );
            }
        }
    }
    // Checked last, so that one run shows every codec that librdkafka turned off.
    assert!(
        wrong_codec.is_empty(),
        "librdkafka did not send the codec it was configured with:\n{}",
        wrong_codec.join("\n")
    );
}

/// The size of a batch that holds one record with no key and no headers and a value of
/// `value_len` bytes, as librdkafka writes it (v2, uncompressed), when the value's length
/// and the record's length take 3-byte varints (16 KiB to 1 MiB).
fn one_record_batch_size(value_len: usize) -> usize {
    // 61-byte header; record: length (3), attributes (1), timestamp delta (1), offset
    // delta (1), key length -1 (1), value length (3), value, header count (1).
    61 + 3 + 1 + 1 + 1 + 1 + 3 + value_len + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_up_to_and_just_over_max_message_bytes() {
    let broker = Broker::start();
    let admin = admin(&broker);
    // The broker's default (1048588, Kafka's) and a topic override.
    let cases = [
        ("big-default", 1_048_588usize, None),
        ("big-100k", 100_000, Some("100000")),
    ];
    // The client's own limit must not be what rejects the record.
    let producer = producer(
        &broker,
        &[
            ("message.max.bytes", "10000000"),
            ("linger.ms", "0"),
            ("acks", "all"),
        ],
    );
    for (topic, max, config) in cases {
        let configs: Vec<(&str, &str)> = config
            .map(|c| ("max.message.bytes", c))
            .into_iter()
            .collect();
        create_topic(&admin, topic, 1, &configs).await;
        let fits = max - one_record_batch_size(0);
        assert_eq!(one_record_batch_size(fits), max);
        let fitting = vec![b'x'; fits];
        let delivery = producer
            .send(
                FutureRecord::<(), [u8]>::to(topic)
                    .partition(0)
                    .payload(&fitting),
                TIMEOUT,
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{topic}: a {max}-byte batch was refused: {e}"));
        assert_eq!(delivery.offset, 0);

        let over = vec![b'y'; fits + 1];
        let refused = producer
            .send(
                FutureRecord::<(), [u8]>::to(topic)
                    .partition(0)
                    .payload(&over),
                TIMEOUT,
            )
            .await;
        match refused {
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
            other => panic!("{topic}: a {}-byte batch: {other:?}", max + 1),
        }

        // The partition still works, and the big record reads back whole.
        let delivery = producer
            .send(
                FutureRecord::<(), str>::to(topic)
                    .partition(0)
                    .payload("small"),
                TIMEOUT,
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{topic}: {e}"));
        assert_eq!(delivery.offset, 1);
        let got = consume(&consumer(&broker), topic, &[(0, Offset::Beginning)], 2);
        assert_eq!(got[0].payload(), Some(fitting.as_slice()));
        assert_eq!(got[1].payload(), Some(b"small".as_slice()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_from_beginning_timestamp_and_end() {
    let broker = Broker::start();
    let admin = admin(&broker);
    let topic = "positions";
    create_topic(&admin, topic, 1, &[]).await;
    let producer = producer(&broker, &[("acks", "all"), ("linger.ms", "5")]);
    // One second apart, an hour ago.
    let base_ts = now_ms() - 3_600_000;
    for i in 0..30i64 {
        let value = format!("v{i}");
        producer
            .send(
                FutureRecord::<(), String>::to(topic)
                    .partition(0)
                    .timestamp(base_ts + i * 1000)
                    .payload(&value),
                TIMEOUT,
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{e}"));
    }
    let consumer = consumer(&broker);
    assert_eq!(
        consumer.fetch_watermarks(topic, 0, TIMEOUT).unwrap(),
        (0, 30)
    );

    // From the beginning.
    let got = consume(&consumer, topic, &[(0, Offset::Beginning)], 30);
    assert_eq!(
        got.iter().map(|m| m.offset()).collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    assert_nothing_more(&consumer, Duration::from_millis(300));

    // From a timestamp: the first record at or after it (ListOffsets by timestamp).
    let lookup = |ts: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(ts))
            .unwrap();
        let found = consumer
            .offsets_for_times(tpl, TIMEOUT)
            .expect("offsets_for_times");
        let elem = found.find_partition(topic, 0).unwrap();
        assert!(elem.error().is_ok(), "{:?}", elem.error());
        elem.offset()
    };
    assert_eq!(lookup(base_ts + 10_000), Offset::Offset(10));
    assert_eq!(lookup(base_ts + 10_500), Offset::Offset(11));
    assert_eq!(lookup(base_ts - 1), Offset::Offset(0));
    assert_eq!(lookup(now_ms() + 3_600_000), Offset::End);
    let got = consume(&consumer, topic, &[(0, lookup(base_ts + 20_000))], 10);
    assert_eq!(got[0].offset(), 20);
    assert_eq!(got[0].payload(), Some(b"v20".as_slice()));
    assert_eq!(
        got[0].timestamp(),
        rdkafka::Timestamp::CreateTime(base_ts + 20_000)
    );

    // From the last 5 (librdkafka asks for the end and subtracts).
    let got = consume(&consumer, topic, &[(0, Offset::OffsetTail(5))], 5);
    assert_eq!(got[0].offset(), 25);

    // From the end: only what is produced after the assignment.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::End).unwrap();
    consumer.assign(&tpl).unwrap();
    assert_nothing_more(&consumer, Duration::from_millis(1000));
    for i in 30..35 {
        let value = format!("v{i}");
        producer
            .send(
                FutureRecord::<(), String>::to(topic)
                    .partition(0)
                    .payload(&value),
                TIMEOUT,
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{e}"));
    }
    let deadline = Instant::now() + TIMEOUT;
    let mut tail = Vec::new();
    while tail.len() < 5 {
        assert!(Instant::now() < deadline, "only {tail:?} after {TIMEOUT:?}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            tail.push(m.expect("no consumer error").offset());
        }
    }
    assert_eq!(tail, vec![30, 31, 32, 33, 34]);

    // DeleteRecords moves the log start offset: "the beginning" follows it.
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(topic, 0, Offset::Offset(12))
        .unwrap();
    let deleted = admin
        .delete_records(&before, &AdminOptions::new().request_timeout(Some(TIMEOUT)))
        .await
        .expect("DeleteRecords answered");
    let elem = deleted.find_partition(topic, 0).unwrap();
    assert!(elem.error().is_ok(), "{:?}", elem.error());
    assert_eq!(elem.offset(), Offset::Offset(12), "the new low watermark");
    assert_eq!(
        consumer.fetch_watermarks(topic, 0, TIMEOUT).unwrap(),
        (12, 35)
    );
    let got = consume(&consumer, topic, &[(0, Offset::Beginning)], 23);
    assert_eq!(got[0].offset(), 12);
    assert_eq!(got[22].offset(), 34);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_describe_alter_delete() {
    let broker = Broker::start();
    let admin = admin(&broker);
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let topic = "admin-topic";
    create_topic(
        &admin,
        topic,
        3,
        &[("retention.ms", "3600000"), ("cleanup.policy", "compact")],
    )
    .await;

    // Errors per topic: exists, invalid name, invalid config; validate_only creates nothing.
    let again = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![Err((
            topic.to_string(),
            RDKafkaErrorCode::TopicAlreadyExists
        ))]
    );
    let bad = admin
        .create_topics(
            &[
                NewTopic::new("bad/name", 1, TopicReplication::Fixed(1)),
                NewTopic::new("bad-config", 1, TopicReplication::Fixed(1))
                    .set("retention.ms", "soon"),
                NewTopic::new("bad-rf", 1, TopicReplication::Fixed(3)),
            ],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(
        bad,
        vec![
            Err(("bad/name".to_string(), RDKafkaErrorCode::InvalidTopic)),
            Err(("bad-config".to_string(), RDKafkaErrorCode::InvalidConfig)),
            Err((
                "bad-rf".to_string(),
                RDKafkaErrorCode::InvalidReplicationFactor
            )),
        ]
    );
    let validated = admin
        .create_topics(
            &[NewTopic::new(
                "only-validated",
                2,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new()
                .request_timeout(Some(TIMEOUT))
                .validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(validated, vec![Ok("only-validated".to_string())]);

    let metadata = |name: &str| {
        admin
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .unwrap()
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .map(|t| {
                assert!(t.error().is_none(), "{name}: {:?}", t.error());
                t.partitions().len()
            })
    };
    assert_eq!(metadata(topic), Some(3));
    assert_eq!(metadata("only-validated"), None);

    // DescribeConfigs: the overrides are dynamic topic configs, the rest defaults.
    let describe = |name: &'static str| {
        let admin = &admin;
        let opts = &opts;
        async move {
            let mut results = admin
                .describe_configs(&[ResourceSpecifier::Topic(name)], opts)
                .await
                .expect("DescribeConfigs answered");
            assert_eq!(results.len(), 1);
            results.remove(0).expect("the topic's configs")
        }
    };
    let configs = describe(topic).await;
    let entry = |name: &str| {
        configs
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {configs:?}"))
    };
    assert_eq!(entry("retention.ms").value.as_deref(), Some("3600000"));
    assert_eq!(entry("retention.ms").source, ConfigSource::DynamicTopic);
    assert!(!entry("retention.ms").is_default);
    assert_eq!(entry("cleanup.policy").value.as_deref(), Some("compact"));
    assert_eq!(entry("max.message.bytes").value.as_deref(), Some("1048588"));
    assert_eq!(entry("max.message.bytes").source, ConfigSource::Default);
    assert!(entry("max.message.bytes").is_default);
    assert_eq!(entry("compression.type").value.as_deref(), Some("producer"));

    // The broker's configs.
    let broker_configs = admin
        .describe_configs(&[ResourceSpecifier::Broker(0)], &opts)
        .await
        .expect("DescribeConfigs answered")
        .remove(0)
        .expect("the broker's configs");
    assert_eq!(
        broker_configs
            .get("num.partitions")
            .and_then(|e| e.value.as_deref()),
        Some("1")
    );
    assert!(broker_configs.get("auto.create.topics.enable").is_some());

    // AlterConfigs replaces the whole set of overrides: retention.ms goes back to its
    // default, cleanup.policy stays only because it is restated.
    let altered = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(topic))
                .set("retention.bytes", "1048576")
                .set("cleanup.policy", "compact")],
            &opts,
        )
        .await
        .expect("AlterConfigs answered");
    assert_eq!(altered.len(), 1);
    assert!(altered[0].is_ok(), "{altered:?}");
    let configs = describe(topic).await;
    let value = |name: &str| configs.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("retention.bytes").as_deref(), Some("1048576"));
    assert_eq!(value("retention.ms").as_deref(), Some("604800000"));
    assert_eq!(
        configs.get("retention.ms").unwrap().source,
        ConfigSource::Default
    );
    assert_eq!(value("cleanup.policy").as_deref(), Some("compact"));
    let invalid = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(topic)).set("retention.ms", "never")],
            &opts,
        )
        .await
        .expect("AlterConfigs answered");
    // rust-rdkafka 0.39 reports every AlterConfigs resource as Ok, whatever its error code
    // (AlterConfigsFuture never reads the per-resource error): check what the broker kept.
    assert_eq!(invalid.len(), 1);
    let configs = describe(topic).await;
    let value = |name: &str| configs.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("retention.ms").as_deref(), Some("604800000"));
    assert_eq!(value("retention.bytes").as_deref(), Some("1048576"));

    // CreatePartitions: 3 -> 5; fewer is refused.
    let grown = admin
        .create_partitions(&[NewPartitions::new(topic, 5)], &opts)
        .await
        .unwrap();
    assert_eq!(grown, vec![Ok(topic.to_string())]);
    assert_eq!(metadata(topic), Some(5));
    let shrunk = admin
        .create_partitions(&[NewPartitions::new(topic, 2)], &opts)
        .await
        .unwrap();
    assert_eq!(
        shrunk,
        vec![Err((
            topic.to_string(),
            RDKafkaErrorCode::InvalidPartitions
        ))]
    );

    // A record goes to the new partition 4. The topic is compacted: a record needs a key.
    let producer = producer(&broker, &[("acks", "all")]);
    let keyless = producer
        .send(
            FutureRecord::<(), str>::to(topic)
                .partition(4)
                .payload("p4"),
            TIMEOUT,
        )
        .await;
    match keyless {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord), _)) => {}
        other => panic!("a keyless record in a compacted topic: {other:?}"),
    }
    let delivery = producer
        .send(
            FutureRecord::to(topic).partition(4).key("k").payload("p4"),
            TIMEOUT,
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("{e}"));
    assert_eq!((delivery.partition, delivery.offset), (4, 0));

    // DeleteTopics, then again: unknown.
    let deleted = admin.delete_topics(&[topic], &opts).await.unwrap();
    assert_eq!(deleted, vec![Ok(topic.to_string())]);
    assert_eq!(metadata(topic), None);
    let again = admin.delete_topics(&[topic], &opts).await.unwrap();
    assert_eq!(
        again,
        vec![Err((
            topic.to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );
    // The name can be used again, for a new topic.
    create_topic(&admin, topic, 1, &[]).await;
    assert_eq!(metadata(topic), Some(1));
}

/// What the durability test produced: every acknowledgement, as (partition, offset, value),
/// in the order the delivery reports came.
type Acked = Arc<Mutex<Vec<(i32, i64, String)>>>;

/// Produces to `topic` with acks=all from a background task until `stop` is set, keeping
/// many records in flight; records each acknowledgement in `acked`.
fn produce_until_stopped(
    broker: &Broker,
    topic: &'static str,
    life: usize,
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    let producer = producer(
        broker,
        &[
            ("acks", "all"),
            ("linger.ms", "2"),
            ("compression.type", "lz4"),
            // Fail fast once the broker is gone: what was not acknowledged is not checked.
            ("message.timeout.ms", "5000"),
            ("retries", "0"),
        ],
    );
    tokio::spawn(async move {
        let mut sent = 0usize;
        let mut in_flight = tokio::task::JoinSet::new();
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            let value = format!("life {life} record {sent} {}", "z".repeat(sent % 300));
            let record = FutureRecord::<str, String>::to(topic)
                .key("k")
                .partition((sent % 3) as i32)
                .payload(&value);
            match producer.send_result(record) {
                Ok(delivery) => {
                    let acked = acked.clone();
                    in_flight.spawn(async move {
                        if let Ok(Ok(d)) = delivery.await {
                            acked.lock().unwrap().push((d.partition, d.offset, value));
                        }
                    });
                    sent += 1;
                }
                // The local queue is full: let deliveries drain.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
            if in_flight.len() > 2_000 {
                in_flight.join_next().await;
            }
        }
        while in_flight.join_next().await.is_some() {}
        drop(producer);
        sent
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill() {
    let mut broker = Broker::start();
    let topic = "durable";
    create_topic(&admin(&broker), topic, 3, &[]).await;
    let acked: Acked = Arc::default();
    let mut target = 0;
    for life in 0..3 {
        // Kill the broker while records are in flight, after some more were acknowledged.
        target += 1_500;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = produce_until_stopped(&broker, topic, life, acked.clone(), stop.clone());
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.lock().unwrap().len() < target {
            assert!(
                Instant::now() < deadline,
                "only {} acknowledgements in 120 s",
                acked.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        broker.kill();
        stop.store(true, std::sync::atomic::Ordering::Release);
        let sent = task.await.expect("the producer task");
        assert!(sent > 0);
        broker.restart();
    }
    // The last run ends with SIGTERM: a graceful shutdown, and a clean start after it.
    let status = broker.stop();
    assert!(status.success(), "SIGTERM: {status}");
    broker.restart();
    let log = broker.log();
    let last_start = log
        .lines()
        .rfind(|l| l.contains("log manager started"))
        .expect("a start-up line");
    assert!(last_start.contains("clean_shutdown=true"), "{last_start}");

    // No offset was acknowledged twice (a lost write would let a later life reuse it).
    let mut by_offset: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for (partition, offset, value) in acked.lock().unwrap().iter() {
        if let Some(first) = by_offset.insert((*partition, *offset), value.clone()) {
            panic!(
                "partition {partition} offset {offset} acknowledged for {first:?} and {value:?}"
            );
        }
    }
    let acked = by_offset;
    let consumer = consumer(&broker);
    for partition in 0..3 {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .unwrap();
        assert_eq!(low, 0);
        let mine: Vec<(&i64, &String)> = acked
            .iter()
            .filter(|((p, _), _)| *p == partition)
            .map(|((_, o), v)| (o, v))
            .collect();
        let last_acked = mine.last().map(|(o, _)| **o).expect("acknowledged records");
        assert!(
            high > last_acked,
            "partition {partition}: high watermark {high}, last acknowledged offset {last_acked}"
        );
        let got = consume(
            &consumer,
            topic,
            &[(partition, Offset::Beginning)],
            high as usize,
        );
        let stored: HashMap<i64, Vec<u8>> = got
            .iter()
            .map(|m| (m.offset(), m.payload().unwrap().to_vec()))
            .collect();
        // Contiguous offsets, in order, from 0 to the high watermark.
        assert_eq!(
            got.iter().map(|m| m.offset()).collect::<Vec<_>>(),
            (0..high).collect::<Vec<_>>(),
            "partition {partition}"
        );
        // Within a life, a later record got a later offset.
        let mut last_seq: HashMap<&str, (usize, i64)> = HashMap::new();
        for (offset, value) in &mine {
            let mut words = value.split(' ');
            let life = words.nth(1).unwrap();
            let seq: usize = words.nth(1).unwrap().parse().unwrap();
            if let Some((prev, prev_offset)) = last_seq.insert(life, (seq, **offset)) {
                assert!(
                    prev < seq,
                    "partition {partition}: record {prev} at {prev_offset}, record {seq} at {offset}"
                );
            }
        }
        // Every acknowledged record at its acknowledged offset, with its value.
        for (offset, value) in mine {
            assert_eq!(
                stored.get(offset).map(Vec::as_slice),
                Some(value.as_bytes()),
                "partition {partition} offset {offset}"
            );
        }
    }
}
