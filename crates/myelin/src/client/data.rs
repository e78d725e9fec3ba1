//! The data path: ListOffsets, Produce and Fetch (sessionless).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    produce_request::{PartitionProduceData, TopicProduceData},
    ApiKey, FetchRequest, ListOffsetsRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{check, versions, ClientError, Connection};

/// ListOffsets' timestamp for the earliest offset.
pub const EARLIEST: i64 = -2;
/// ListOffsets' timestamp for the latest offset (the log end offset).
pub const LATEST: i64 = -1;

/// Produce acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No response at all.
    None,
    /// The leader wrote it.
    Leader,
    /// Every in-sync replica has it (`-1`).
    All,
}

impl Acks {
    fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Where a produce landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// The first record's offset; -1 with acks=0.
    pub base_offset: i64,
    /// The broker's timestamp when the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
}

/// One partition of a fetch answer.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    pub partition: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// The record batches, as stored.
    pub records: Bytes,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl Connection {
    /// The offset of each of `partitions` of `topic` for `timestamp` ([`EARLIEST`],
    /// [`LATEST`], or milliseconds: the first offset whose timestamp is at or after it;
    /// -1 when there is none). Returns (partition, offset) in the order asked.
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> Result<Vec<(i32, i64)>, ClientError> {
        let version = self.version(ApiKey::ListOffsets, versions::LIST_OFFSETS)?;
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let response = self.call(version, &request).await?;
        let mut out = Vec::with_capacity(partitions.len());
        for p in partitions {
            let answer = response
                .topics
                .iter()
                .filter(|t| &*t.name.0 == topic)
                .flat_map(|t| t.partitions.iter())
                .find(|r| r.partition_index == *p)
                .ok_or_else(|| {
                    self.protocol(format!("ListOffsets answered without {topic}-{p}"))
                })?;
            check(answer.error_code, None, || {
                format!("listing offsets of {topic}-{p}")
            })?;
            out.push((*p, answer.offset));
        }
        Ok(out)
    }

    /// Produces `batch` (one or more v2 record batches) to `topic`-`partition`.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Vec<u8>,
        acks: Acks,
    ) -> Result<Produced, ClientError> {
        let version = self.version(ApiKey::Produce, versions::PRODUCE)?;
        let request = ProduceRequest::default()
            .with_acks(acks.wire())
            .with_timeout_ms(self.timeout_ms())
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(Bytes::from(batch)))])]);
        if acks == Acks::None {
            self.send_only(version, &request).await?;
            return Ok(Produced {
                base_offset: -1,
                log_append_time_ms: -1,
            });
        }
        let response = self.call(version, &request).await?;
        let answer = response
            .responses
            .iter()
            .filter(|t| &*t.name.0 == topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                self.protocol(format!("Produce answered without {topic}-{partition}"))
            })?;
        let mut message = answer.error_message.as_ref().map(|m| m.to_string());
        if let Some(first) = answer.record_errors.first() {
            if let Some(m) = &first.batch_index_error_message {
                message = Some(format!("{m} (record {})", first.batch_index));
            }
        }
        if answer.error_code != 0 {
            return Err(ClientError::Kafka(super::KafkaError {
                context: format!("producing to {topic}-{partition}"),
                code: answer.error_code,
                message,
            }));
        }
        Ok(Produced {
            base_offset: answer.base_offset,
            log_append_time_ms: answer.log_append_time_ms,
        })
    }

    /// Fetches `topic` from each `(partition, offset)`, waiting up to `max_wait` for at
    /// least one byte. `topic_id` is needed by Fetch v13+; with a nil id the client stays
    /// at v12.
    pub async fn fetch(
        &mut self,
        topic: &str,
        topic_id: Uuid,
        positions: &[(i32, i64)],
        max_wait: Duration,
        partition_max_bytes: i32,
    ) -> Result<Vec<FetchedPartition>, ClientError> {
        let mut range = versions::FETCH;
        if topic_id.is_nil() {
            // Topic ids replace names from v13 (KIP-516).
            range = *range.start()..=12;
        }
        let version = self.version(ApiKey::Fetch, range)?;
        let mut fetch_topic = FetchTopic::default().with_partitions(
            positions
                .iter()
                .map(|(p, offset)| {
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_fetch_offset(*offset)
                        .with_partition_max_bytes(partition_max_bytes)
                })
                .collect(),
        );
        if version >= 13 {
            fetch_topic.topic_id = topic_id;
        } else {
            fetch_topic.topic = topic_name(topic);
        }
        let max_wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
        let request = FetchRequest::default()
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(partition_max_bytes.saturating_mul(4))
            .with_topics(vec![fetch_topic]);
        let saved = self.config.request_timeout;
        self.set_request_timeout(saved + max_wait);
        let response = self.call(version, &request).await;
        self.set_request_timeout(saved);
        let response = response?;
        check(response.error_code, None, || format!("fetching {topic}"))?;
        let mut out = Vec::new();
        for t in &response.responses {
            let ours = if version >= 13 {
                t.topic_id == topic_id
            } else {
                &*t.topic.0 == topic
            };
            if !ours {
                continue;
            }
            for p in &t.partitions {
                out.push(FetchedPartition {
                    partition: p.partition_index,
                    error_code: p.error_code,
                    high_watermark: p.high_watermark,
                    last_stable_offset: p.last_stable_offset,
                    log_start_offset: p.log_start_offset,
                    records: p.records.clone().unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }
}
