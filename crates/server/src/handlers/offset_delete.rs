//! OffsetDelete (key 47), v0 (KIP-496): removes committed offsets of some partitions of
//! a group. The group must exist (GROUP_ID_NOT_FOUND). A `consumer` group with members
//! keeps the offsets of topics its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC on those
//! partitions) and loses the others; a group of another protocol type with members gets
//! NON_EMPTY_GROUP; partitions of topics that do not exist get UNKNOWN_TOPIC_OR_PARTITION.
//! An empty group id is INVALID_GROUP_ID, as in Kafka. With an authorizer, as in Kafka: a
//! principal without DELETE on the group gets the top-level GROUP_AUTHORIZATION_FAILED, and
//! partitions of a topic without READ TOPIC_AUTHORIZATION_FAILED (whether it exists or not).

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::ResponseError;
use myelin_coord::TopicPartition;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::denied_topics;

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
        // Kafka: DELETE on the group, else the top-level GROUP_AUTHORIZATION_FAILED; then
        // READ on each topic, else TOPIC_AUTHORIZATION_FAILED on its partitions.
        let authz = ctx.authz();
        if !authz.allows(
            Operation::Delete,
            ResourceType::Group,
            request.group_id.0.as_str(),
        ) {
            return Ok(Reply::Ready(
                OffsetDeleteResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
            ));
        }
        let denied = denied_topics(
            &authz,
            Operation::Read,
            request.topics.iter().map(|t| t.name.0.as_str()),
        );
        drop(authz);
        if request.group_id.0.is_empty() {
            return Ok(Reply::Ready(
                OffsetDeleteResponse::default()
                    .with_error_code(ResponseError::InvalidGroupId.code()),
            ));
        }
        let server = ctx.server.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut known = Vec::new();
            for t in request
                .topics
                .iter()
                .filter(|t| !denied.contains(t.name.0.as_str()))
            {
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
            let refused = match server
                .groups
                .delete_offsets(request.group_id.0.as_str(), &known)
                .await
            {
                Ok(refused) => refused,
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
                            let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                            let code = if denied.contains(&tp.topic) {
                                ResponseError::TopicAuthorizationFailed.code()
                            } else if server.partitions.get(&tp.topic, tp.partition).is_none() {
                                ResponseError::UnknownTopicOrPartition.code()
                            } else if refused.contains(&tp) {
                                ResponseError::GroupSubscribedToTopic.code()
                            } else {
                                0
                            };
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
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
