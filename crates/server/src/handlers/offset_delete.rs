//! OffsetDelete (key 47), v0 (KIP-496): removes committed offsets of some partitions of
//! a group. The group must exist (GROUP_ID_NOT_FOUND); a group with members gets
//! GROUP_SUBSCRIBED_TO_TOPIC on each partition; partitions of topics that do not exist
//! get UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::ResponseError;
use myelin_coord::{GroupError, TopicPartition};

use crate::apis::{Handler, LaterReply, Reply};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str), // group_id
    all(Ty::Structs(&[
        all(Ty::Str),
        all(Ty::Structs(&[all(Ty::Int32)])),
    ])), // topics
];

/// The OffsetDelete handler.
#[derive(Debug)]
pub struct OffsetDelete;

impl Handler for OffsetDelete {
    type Request = OffsetDeleteRequest;
    type Response = OffsetDeleteResponse;
    const KEY: ApiKey = ApiKey::OffsetDelete;
    const NAME: &'static str = "OffsetDelete";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: OffsetDeleteRequest,
    ) -> Result<Reply<OffsetDeleteResponse>, HandlerError> {
        let server = ctx.server.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut known = Vec::new();
            for t in &request.topics {
                for p in &t.partitions {
                    if server
                        .partitions
                        .get(t.name.0.as_str(), p.partition_index)
                        .is_some()
                    {
                        known.push(TopicPartition::new(t.name.0.to_string(), p.partition_index));
                    }
                }
            }
            let mut response = OffsetDeleteResponse::default();
            let partition_error = match server
                .groups
                .delete_offsets(request.group_id.0.as_str(), &known)
                .await
            {
                Ok(()) => 0,
                Err(GroupError::GroupSubscribedToTopic) => {
                    ResponseError::GroupSubscribedToTopic.code()
                }
                Err(e) => {
                    response.error_code = group_error_code(&e).code();
                    return Ok(response);
                }
            };
            response.topics = request
                .topics
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let exists = server
                                .partitions
                                .get(t.name.0.as_str(), p.partition_index)
                                .is_some();
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(if exists {
                                    partition_error
                                } else {
                                    ResponseError::UnknownTopicOrPartition.code()
                                })
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect();
            Ok(response)
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, false)
    }
}
