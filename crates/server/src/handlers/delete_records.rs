//! DeleteRecords (key 21), v0-2: move partitions' log start offsets forward (Kafka's
//! `Partition.deleteRecordsOnLeader`).
//!
//! The offset -1 means the high watermark. Below the current log start offset nothing
//! changes; above the high watermark, or negative otherwise, is OFFSET_OUT_OF_RANGE (1). A
//! topic whose `cleanup.policy` lacks `delete` gets POLICY_VIOLATION (44); an unknown
//! partition UNKNOWN_TOPIC_OR_PARTITION (3); with an authorizer, a topic the principal may
//! not DELETE TOPIC_AUTHORIZATION_FAILED (29), before any other check. The answer's low
//! watermark is the log start offset afterwards (-1 on error). Whole segments below it go at the next retention pass;
//! the new log start offsets are checkpointed (on a blocking thread) before answering, so
//! that deleted records stay deleted across a crash.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_request::DeleteRecordsPartition;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{log_error_code, HandlerError};

/// The DeleteRecords handler.
#[derive(Debug)]
pub struct DeleteRecords;

/// The request layout (Kafka's `DeleteRecordsRequest.json`), for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Str),                                        // name
        all(Ty::Structs(&[all(Ty::Int32), all(Ty::Int64)])), // partition_index, offset
    ])),
    all(Ty::Int32), // timeout_ms
];

/// Kafka's `DeleteRecordsRequest.HIGH_WATERMARK`.
const HIGH_WATERMARK: i64 = -1;

impl Handler for DeleteRecords {
    type Request = DeleteRecordsRequest;
    type Response = DeleteRecordsResponse;
    const KEY: ApiKey = ApiKey::DeleteRecords;
    const NAME: &'static str = "DeleteRecords";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: DeleteRecordsRequest,
    ) -> Result<Reply<DeleteRecordsResponse>, HandlerError> {
        let mut moved = false;
        let authz = ctx.authz();
        let topics: Vec<DeleteRecordsTopicResult> = request
            .topics
            .iter()
            .map(|t| {
                // TOPIC DELETE, once per topic (Kafka's `handleDeleteRecordsRequest`).
                let denied = authz.enabled()
                    && !authz.allows(Operation::Delete, ResourceType::Topic, &t.name);
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        if denied {
                            return DeleteRecordsPartitionResult::default()
                                .with_partition_index(p.partition_index)
                                .with_low_watermark(-1)
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                        }
                        let r = delete(&ctx, t.name.as_str(), p);
                        moved |= r.error_code == 0;
                        r
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        let response = DeleteRecordsResponse::default().with_topics(topics);
        if !moved {
            return Ok(Reply::Ready(response));
        }
        let partitions = Arc::clone(&ctx.server.partitions);
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let saved = tokio::task::spawn_blocking(move || partitions.logs().checkpoint())
                .await
                .map_err(|e| HandlerError::Task(e.to_string()))?;
            let Err(e) = saved else {
                return Ok(response);
            };
            tracing::warn!(error = %e, "checkpointing log start offsets failed");
            let code = log_error_code(&e).code();
            let mut response = response;
            for t in &mut response.topics {
                for p in &mut t.partitions {
                    if p.error_code == 0 {
                        p.error_code = code;
                        p.low_watermark = -1;
                    }
                }
            }
            Ok(response)
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}

fn delete(
    ctx: &RequestContext,
    topic: &str,
    p: &DeleteRecordsPartition,
) -> DeleteRecordsPartitionResult {
    let server: &ServerContext = &ctx.server;
    let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
    let error = |e: ResponseError| {
        result
            .clone()
            .with_error_code(e.code())
            .with_low_watermark(-1)
    };
    let Some(partition) = server.partitions.get(topic, p.partition_index) else {
        return error(ResponseError::UnknownTopicOrPartition);
    };
    if !partition.log.config().cleanup_policy.delete {
        return error(ResponseError::PolicyViolation);
    }
    let high_watermark = partition.high_watermark();
    let offset = if p.offset == HIGH_WATERMARK {
        high_watermark
    } else {
        p.offset
    };
    if offset < 0 || offset > high_watermark {
        return error(ResponseError::OffsetOutOfRange);
    }
    match partition.log.advance_log_start_offset(offset) {
        Ok(low_watermark) => {
            tracing::info!(
                topic,
                partition = p.partition_index,
                offset,
                low_watermark,
                "records deleted"
            );
            crate::audit::change(
                ctx,
                &format!("delete records below offset {offset}"),
                &format!("partition {topic}-{}", p.partition_index),
                None,
            );
            result.with_low_watermark(low_watermark)
        }
        Err(e) => {
            tracing::warn!(topic, partition = p.partition_index, error = %e, "deleting records failed");
            error(log_error_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::delete_records_request::DeleteRecordsTopic;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn request_shape_accepts_codec_requests() {
        for version in 0..=2i16 {
            let request =
                DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![DeleteRecordsPartition::default(); 2])]);
            let mut body = BytesMut::new();
            request.encode(&mut body, version).unwrap();
            DeleteRecords::check_request(version, &body).unwrap();
            for cut in 0..body.len() {
                assert!(DeleteRecords::check_request(version, &body[..cut]).is_err());
            }
        }
    }
}
