//! Helpers of the data-path tests: topics, batches, Produce and Fetch requests.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_cluster::{MetadataRecord, TopicId};
use myelin_log::batch::{validate_batch, BatchHeader};
use myelin_log::compression::Compression;
use myelin_log::record::{records_of_batch, simple_batch, RecordIter};
use uuid::Uuid;

use super::{Client, TestServer};

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Creates a topic through the partition manager (as CreateTopics would); returns its id.
pub fn create_topic(
    server: &TestServer,
    topic: &str,
    partitions: u32,
    configs: &[(&str, &str)],
) -> Uuid {
    let topic_id = Uuid::new_v4();
    server
        .partitions
        .commit(MetadataRecord::TopicCreated {
            name: topic.to_string(),
            topic_id: TopicId(topic_id),
            partitions,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        })
        .unwrap();
    topic_id
}

/// A batch of `n` keyed records `prefix-i`, at `timestamp`.
pub fn batch(prefix: &str, n: usize, timestamp: i64, codec: Compression) -> Vec<u8> {
    let values: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                format!("{prefix}-{i}").into_bytes(),
            )
        })
        .collect();
    let records: Vec<_> = values
        .iter()
        .map(|(k, v)| (Some(&k[..]), Some(&v[..])))
        .collect();
    simple_batch(&records, timestamp, codec)
}

/// A Produce request of one batch to one partition.
pub fn produce_request(topic: &str, partition: i32, records: Vec<u8>, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(records)))])])
}

/// Produces one batch with acks=all and returns the partition's response.
pub async fn produce(
    client: &mut Client,
    version: i16,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
) -> PartitionProduceResponse {
    let r: ProduceResponse = client
        .call(
            ApiKey::Produce,
            version,
            &produce_request(topic, partition, records, -1),
        )
        .await;
    assert_eq!(r.responses.len(), 1);
    assert_eq!(r.responses[0].partition_responses.len(), 1);
    r.responses[0].partition_responses[0].clone()
}

/// A fetch of one partition by name (v4-12) or id (v13+), sessionless, not waiting.
pub fn fetch_request(
    version: i16,
    topic: &str,
    topic_id: Uuid,
    partitions: &[(i32, i64)],
    partition_max_bytes: i32,
) -> FetchRequest {
    let mut t = FetchTopic::default().with_partitions(
        partitions
            .iter()
            .map(|&(p, offset)| {
                FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(partition_max_bytes)
            })
            .collect(),
    );
    if version >= 13 {
        t.topic_id = topic_id;
    } else {
        t.topic = name(topic);
    }
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(50 * 1024 * 1024)
        .with_topics(vec![t])
}

pub async fn fetch(client: &mut Client, version: i16, request: &FetchRequest) -> FetchResponse {
    client.call(ApiKey::Fetch, version, request).await
}

/// The only partition of a one-topic fetch response.
pub fn only_partition(r: &FetchResponse) -> &PartitionData {
    assert_eq!(r.error_code, 0);
    assert_eq!(r.responses.len(), 1, "{r:?}");
    assert_eq!(r.responses[0].partitions.len(), 1, "{r:?}");
    &r.responses[0].partitions[0]
}

/// Splits fetched records into batches, checking each one's lengths and CRC.
pub fn split_batches(records: &[u8]) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize + 12;
        let b = &rest[..len];
        let h = validate_batch(b, usize::MAX).expect("a fetched batch is valid");
        out.push((h, b.to_vec()));
        rest = &rest[len..];
    }
    out
}

/// A record's key and value, `None` for null.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The (key, value) of every record of a batch.
pub fn record_values(batch: &[u8]) -> Vec<KeyValue> {
    let (h, raw) = records_of_batch(batch, 1 << 30).unwrap();
    RecordIter::new(&raw, h.record_count)
        .map(|r| {
            let r = r.unwrap();
            (r.key.map(<[u8]>::to_vec), r.value.map(<[u8]>::to_vec))
        })
        .collect()
}

/// `batch` as the broker stores it: base offset and leader epoch 0 stamped in.
pub fn stamped(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut b = batch.to_vec();
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b[12..16].copy_from_slice(&0i32.to_be_bytes());
    b
}

/// The wall clock in ms: batches stamped with it do not make the log roll a segment per
/// append (`segment.ms` counts from a segment's first timestamp, as in Kafka).
pub fn now() -> i64 {
    myelin_log::manager::wall_clock_ms()
}
