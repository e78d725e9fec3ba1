//! ListOffsets (key 2), v1-10: offsets by time, as Kafka's `Partition.fetchOffsetForTimestamp`
//! computes them.
//!
//! | timestamp | answer |
//! |---|---|
//! | -2 EARLIEST, -4 EARLIEST_LOCAL (v8+, KIP-405; no tiered storage, so the same) | the log start offset |
//! | -1 LATEST | the high watermark (read_uncommitted), the last stable offset (read_committed); the log end offset for a replica (`replica_id` >= 0) or the debugging id -2 |
//! | -3 MAX_TIMESTAMP (KIP-734) | the first record with the largest timestamp |
//! | -5 LATEST_TIERED (v9+, KIP-1005) | offset -1, leader epoch -1: nothing is in remote storage, as Kafka answers without tiered storage |
//! | t | the first record with a timestamp >= t |
//!
//! Earliest and latest carry timestamp -1. A lookup by time (or max timestamp) only finds
//! records below the last fetchable offset; finding none gives offset -1, timestamp -1 and
//! no error. The leader epoch (v4+) is ours, 0: Kafka assigns the epoch when the partition
//! gets its leader, so even an empty log has one. A partition named twice in one request
//! gets INVALID_REQUEST (42) for each; a topic the principal may not DESCRIBE (with an
//! authorizer) TOPIC_AUTHORIZATION_FAILED (29) for each of its partitions, before any other
//! check; an unknown one UNKNOWN_TOPIC_OR_PARTITION (3); a
//! current leader epoch below / above ours (v4+) FENCED_LEADER_EPOCH (74) /
//! UNKNOWN_LEADER_EPOCH (75). v10's `timeout_ms` (KIP-1075) bounds remote-storage lookups,
//! which there are none of.

use std::collections::HashMap;

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{log_error_code, HandlerError};

/// The ListOffsets handler.
#[derive(Debug)]
pub struct ListOffsets;

/// ListOffsets' request layout (Kafka's `ListOffsetsRequest.json`), for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Int32),    // replica_id
    from(2, Ty::Int8), // isolation_level
    all(Ty::Structs(&[
        all(Ty::Str), // name
        all(Ty::Structs(&[
            all(Ty::Int32),     // partition_index
            from(4, Ty::Int32), // current_leader_epoch
            all(Ty::Int64),     // timestamp
        ])),
    ])),
    from(10, Ty::Int32), // timeout_ms
];

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// The consumers' replica id; any other makes the request a replica's or a debugger's.
const CONSUMER_REPLICA_ID: i32 = -1;

/// Our leader epoch: one node, no elections yet.
const LEADER_EPOCH: i32 = 0;

impl Handler for ListOffsets {
    type Request = ListOffsetsRequest;
    type Response = ListOffsetsResponse;
    const KEY: ApiKey = ApiKey::ListOffsets;
    const NAME: &'static str = "ListOffsets";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 10;

    async fn handle(
        ctx: RequestContext,
        request: ListOffsetsRequest,
    ) -> Result<Reply<ListOffsetsResponse>, HandlerError> {
        let version = ctx.api_version();
        // isolation_level (v2+, KIP-98) applies to consumers only.
        let fetchable = if request.replica_id.0 != CONSUMER_REPLICA_ID {
            Fetchable::LogEnd
        } else if request.isolation_level == 1 {
            Fetchable::LastStable
        } else {
            Fetchable::HighWatermark
        };
        // TOPIC DESCRIBE, once per topic, before any other check (Kafka's
        // `handleListOffsetRequest`).
        let authz = ctx.authz();
        let denied: Vec<bool> = request
            .topics
            .iter()
            .map(|t| {
                authz.enabled() && !authz.allows(Operation::Describe, ResourceType::Topic, &t.name)
            })
            .collect();
        let mut seen: HashMap<(&str, i32), usize> = HashMap::new();
        for t in &request.topics {
            for p in &t.partitions {
                *seen
                    .entry((t.name.as_str(), p.partition_index))
                    .or_default() += 1;
            }
        }
        let topics = request
            .topics
            .iter()
            .zip(denied)
            .map(|(t, denied)| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut r = if denied {
                            error(p, ResponseError::TopicAuthorizationFailed)
                        } else if seen[&(t.name.as_str(), p.partition_index)] > 1 {
                            error(p, ResponseError::InvalidRequest)
                        } else {
                            list_partition(&ctx.server, t.name.as_str(), p, fetchable)
                        };
                        // leader_epoch: v4+ (KIP-320).
                        if version < 4 {
                            r.leader_epoch = -1;
                        }
                        r
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        Ok(Reply::Ready(
            ListOffsetsResponse::default().with_topics(topics),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 6)
    }
}

/// The last offset a lookup may answer (exclusive).
#[derive(Debug, Clone, Copy)]
enum Fetchable {
    HighWatermark,
    LastStable,
    LogEnd,
}

fn error(p: &ListOffsetsPartition, e: ResponseError) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse::default()
        .with_partition_index(p.partition_index)
        .with_error_code(e.code())
}

fn list_partition(
    server: &ServerContext,
    topic: &str,
    p: &ListOffsetsPartition,
    fetchable: Fetchable,
) -> ListOffsetsPartitionResponse {
    let Some(partition) = server.partitions.get(topic, p.partition_index) else {
        return error(p, ResponseError::UnknownTopicOrPartition);
    };
    // current_leader_epoch (v4+): -1 when unknown.
    if p.current_leader_epoch != -1 && p.current_leader_epoch < LEADER_EPOCH {
        return error(p, ResponseError::FencedLeaderEpoch);
    }
    if p.current_leader_epoch > LEADER_EPOCH {
        return error(p, ResponseError::UnknownLeaderEpoch);
    }
    let log = &partition.log;
    let last_fetchable = match fetchable {
        Fetchable::HighWatermark => partition.high_watermark(),
        Fetchable::LastStable => partition.last_stable_offset(),
        Fetchable::LogEnd => log.log_end_offset(),
    };
    let found = |timestamp: i64, offset: i64| {
        ListOffsetsPartitionResponse::default()
            .with_partition_index(p.partition_index)
            .with_timestamp(timestamp)
            .with_offset(offset)
            .with_leader_epoch(LEADER_EPOCH)
    };
    let lookup = match p.timestamp {
        EARLIEST | EARLIEST_LOCAL => return found(-1, log.log_start_offset()),
        LATEST => return found(-1, last_fetchable),
        LATEST_TIERED => return found(-1, -1).with_leader_epoch(-1),
        MAX_TIMESTAMP => log.offset_of_max_timestamp(),
        t => log.offset_for_timestamp(t),
    };
    match lookup {
        Ok(Some((offset, timestamp))) if offset < last_fetchable => found(timestamp, offset),
        // Nothing (visible) at or after that time: offset and timestamp -1, no error.
        Ok(_) => ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index),
        Err(e) => {
            tracing::warn!(topic, partition = p.partition_index, error = %e, "offset lookup failed");
            error(p, log_error_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::list_offsets_request::ListOffsetsTopic;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn request_shape_accepts_codec_requests() {
        for version in 1..=10i16 {
            let request =
                ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![ListOffsetsPartition::default(); 3])]);
            let mut body = BytesMut::new();
            request.encode(&mut body, version).unwrap();
            ListOffsets::check_request(version, &body).unwrap();
            for cut in 0..body.len() {
                assert!(ListOffsets::check_request(version, &body[..cut]).is_err());
            }
        }
    }
}
