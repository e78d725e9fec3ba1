//! The admin client's share-group offsets (KIP-932): DescribeShareGroupOffsets (key 90, v0),
//! AlterShareGroupOffsets (key 91, v0) and DeleteShareGroupOffsets (key 92, v0). A share
//! group's "offset" for a partition is its share-partition start offset: every record below
//! it is done.
//!
//! - Describe: the start offset of each partition asked for (all the group has state for
//!   when `topics` is null); -1 for a partition the group has no state for, as Kafka
//!   answers an uninitialized one. GROUP_ID_NOT_FOUND for a group that is not a share group.
//! - Alter: sets start offsets of an empty group (creating the group if needed, as Kafka
//!   does), forgetting what was in flight; NON_EMPTY_GROUP while it has members.
//! - Delete: forgets the group's state of whole topics; NON_EMPTY_GROUP while it has
//!   members.
//!
//! With an authorizer, as in Kafka: Describe needs DESCRIBE on the group and the topics,
//! Alter READ on both, Delete DELETE on the group and READ on the topics; a denied topic
//! gets TOPIC_AUTHORIZATION_FAILED, a denied group GROUP_AUTHORIZATION_FAILED.

use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, ApiKey,
    DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse,
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::consumer::{TopicId, TopicMetadata};
use myelin_coord::share::TopicIdPartition;

use crate::apis::{Handler, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::ClusterTopics;

/// A topic's id and partition count, or the error its partitions get.
fn resolve(
    authz: &Authz<'_>,
    topics: &ClusterTopics,
    operation: Operation,
    name: &str,
) -> Result<(TopicId, i32), ResponseError> {
    if !authz.allows(operation, ResourceType::Topic, name) {
        return Err(ResponseError::TopicAuthorizationFailed);
    }
    topics
        .topic(name)
        .map(|t| (t.id, t.partitions))
        .ok_or(ResponseError::UnknownTopicOrPartition)
}

fn uuid(id: TopicId) -> uuid::Uuid {
    uuid::Uuid::from_bytes(id.0)
}

fn message(e: ResponseError) -> Option<StrBytes> {
    Some(StrBytes::from_string(e.to_string()))
}

// ----- DescribeShareGroupOffsets ---------------------------------------------------------

const DESCRIBE_SCHEMA: &[Field] = &[all(Ty::Structs(&[
    all(Ty::Str),
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Int32s)])),
]))];

/// The DescribeShareGroupOffsets handler.
#[derive(Debug)]
pub struct DescribeShareGroupOffsets;

impl Handler for DescribeShareGroupOffsets {
    type Request = DescribeShareGroupOffsetsRequest;
    type Response = DescribeShareGroupOffsetsResponse;
    const KEY: ApiKey = ApiKey::DescribeShareGroupOffsets;
    const NAME: &'static str = "DescribeShareGroupOffsets";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: DescribeShareGroupOffsetsRequest,
    ) -> Result<Reply<DescribeShareGroupOffsetsResponse>, HandlerError> {
        let authz = ctx.authz();
        let topics = ClusterTopics(ctx.server.metadata.state());
        let shares = &ctx.server.shares;
        let groups = request
            .groups
            .into_iter()
            .map(|g| {
                let mut out =
                    DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id.clone());
                let group_id = g.group_id.0.as_str();
                if !authz.allows(Operation::Describe, ResourceType::Group, group_id) {
                    let e = ResponseError::GroupAuthorizationFailed;
                    out.error_code = e.code();
                    out.error_message = message(e);
                    return out;
                }
                if !shares.exists(group_id) {
                    let e = ResponseError::GroupIdNotFound;
                    out.error_code = e.code();
                    out.error_message =
                        Some(StrBytes::from_string(format!("Group {group_id} is not a share group.")));
                    return out;
                }
                out.topics = match g.topics {
                    Some(requested) => requested
                        .into_iter()
                        .map(|t| {
                            let name = t.topic_name.0.to_string();
                            let topic = DescribeShareGroupOffsetsResponseTopic::default()
                                .with_topic_name(t.topic_name.clone());
                            match resolve(&authz, &topics, Operation::Describe, &name) {
                                Err(e) => topic.with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|&p| {
                                            DescribeShareGroupOffsetsResponsePartition::default()
                                                .with_partition_index(p)
                                                .with_start_offset(-1)
                                                .with_leader_epoch(-1)
                                                .with_error_code(e.code())
                                                .with_error_message(message(e))
                                        })
                                        .collect(),
                                ),
                                Ok((id, count)) => {
                                    let tps: Vec<TopicIdPartition> =
                                        t.partitions.iter().map(|&p| (id, p)).collect();
                                    let offsets = shares.start_offsets(group_id, &tps).unwrap_or_default();
                                    topic.with_topic_id(uuid(id)).with_partitions(
                                        offsets
                                            .into_iter()
                                            .map(|((_, p), start)| {
                                                let part = DescribeShareGroupOffsetsResponsePartition::default()
                                                    .with_partition_index(p)
                                                    .with_start_offset(start.unwrap_or(-1))
                                                    .with_leader_epoch(if start.is_some() { 0 } else { -1 });
                                                if p < 0 || p >= count {
                                                    let e = ResponseError::UnknownTopicOrPartition;
                                                    part.with_error_code(e.code()).with_error_message(message(e))
                                                } else {
                                                    part
                                                }
                                            })
                                            .collect(),
                                    )
                                }
                            }
                        })
                        .collect(),
                    None => {
                        // Every partition the group has state for, by topic, of the topics
                        // that exist and the principal may describe.
                        let all = shares.start_offsets(group_id, &[]).unwrap_or_default();
                        let mut by_topic: Vec<DescribeShareGroupOffsetsResponseTopic> = Vec::new();
                        for ((id, p), start) in all {
                            let Some(name) = topics.topic_name(&id).map(str::to_string) else {
                                continue;
                            };
                            if !authz.allows_quietly(Operation::Describe, ResourceType::Topic, &name) {
                                continue;
                            }
                            let part = DescribeShareGroupOffsetsResponsePartition::default()
                                .with_partition_index(p)
                                .with_start_offset(start.unwrap_or(-1))
                                .with_leader_epoch(0);
                            match by_topic.last_mut() {
                                Some(t) if t.topic_id == uuid(id) => t.partitions.push(part),
                                _ => by_topic.push(
                                    DescribeShareGroupOffsetsResponseTopic::default()
                                        .with_topic_name(TopicName(StrBytes::from_string(name)))
                                        .with_topic_id(uuid(id))
                                        .with_partitions(vec![part]),
                                ),
                            }
                        }
                        by_topic
                    }
                };
                out
            })
            .collect();
        Ok(Reply::Ready(
            DescribeShareGroupOffsetsResponse::default().with_groups(groups),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, DESCRIBE_SCHEMA, api_version, true)
    }
}

// ----- AlterShareGroupOffsets ------------------------------------------------------------

const ALTER_SCHEMA: &[Field] = &[
    all(Ty::Str),
    all(Ty::Structs(&[
        all(Ty::Str),
        all(Ty::Structs(&[all(Ty::Int32), all(Ty::Int64)])),
    ])),
];

/// The AlterShareGroupOffsets handler.
#[derive(Debug)]
pub struct AlterShareGroupOffsets;

impl Handler for AlterShareGroupOffsets {
    type Request = AlterShareGroupOffsetsRequest;
    type Response = AlterShareGroupOffsetsResponse;
    const KEY: ApiKey = ApiKey::AlterShareGroupOffsets;
    const NAME: &'static str = "AlterShareGroupOffsets";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: AlterShareGroupOffsetsRequest,
    ) -> Result<Reply<AlterShareGroupOffsetsResponse>, HandlerError> {
        let group_id = request.group_id.0.to_string();
        let fail = |e: ResponseError, msg: String| {
            Ok(Reply::Ready(
                AlterShareGroupOffsetsResponse::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(msg))),
            ))
        };
        let authz = ctx.authz();
        if !authz.allows(Operation::Read, ResourceType::Group, &group_id) {
            let e = ResponseError::GroupAuthorizationFailed;
            return fail(e, e.to_string());
        }
        if ctx.server.groups.holds_group(&group_id) {
            let e = ResponseError::GroupIdNotFound;
            return fail(e, format!("Group {group_id} is not a share group."));
        }
        let topics = ClusterTopics(ctx.server.metadata.state());
        let mut responses = Vec::new();
        let mut offsets = Vec::new();
        for t in &request.topics {
            let name = t.topic_name.0.to_string();
            let resolved = resolve(&authz, &topics, Operation::Read, &name);
            let mut topic = AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone());
            if let Ok((id, _)) = resolved {
                topic.topic_id = uuid(id);
            }
            for p in &t.partitions {
                let error = match resolved {
                    Err(e) => Some(e),
                    Ok((_, count)) if p.partition_index < 0 || p.partition_index >= count => {
                        Some(ResponseError::UnknownTopicOrPartition)
                    }
                    Ok(_) if p.start_offset < 0 => Some(ResponseError::InvalidRequest),
                    Ok((id, _)) => {
                        offsets.push(((id, p.partition_index), p.start_offset));
                        None
                    }
                };
                let mut part = AlterShareGroupOffsetsResponsePartition::default()
                    .with_partition_index(p.partition_index);
                if let Some(e) = error {
                    part.error_code = e.code();
                    part.error_message = message(e);
                }
                topic.partitions.push(part);
            }
            responses.push(topic);
        }
        if let Err(e) = ctx.server.shares.alter_offsets(&group_id, &offsets).await {
            return fail(group_error_code(&e), e.to_string());
        }
        if !offsets.is_empty() {
            crate::audit::change(
                &ctx,
                "alter",
                &format!("share group offsets of {group_id:?}"),
                None,
            );
        }
        Ok(Reply::Ready(
            AlterShareGroupOffsetsResponse::default().with_responses(responses),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, ALTER_SCHEMA, api_version, true)
    }
}

// ----- DeleteShareGroupOffsets -----------------------------------------------------------

const DELETE_SCHEMA: &[Field] = &[all(Ty::Str), all(Ty::Structs(&[all(Ty::Str)]))];

/// The DeleteShareGroupOffsets handler.
#[derive(Debug)]
pub struct DeleteShareGroupOffsets;

impl Handler for DeleteShareGroupOffsets {
    type Request = DeleteShareGroupOffsetsRequest;
    type Response = DeleteShareGroupOffsetsResponse;
    const KEY: ApiKey = ApiKey::DeleteShareGroupOffsets;
    const NAME: &'static str = "DeleteShareGroupOffsets";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: DeleteShareGroupOffsetsRequest,
    ) -> Result<Reply<DeleteShareGroupOffsetsResponse>, HandlerError> {
        let group_id = request.group_id.0.to_string();
        let fail = |e: ResponseError, msg: String| {
            Ok(Reply::Ready(
                DeleteShareGroupOffsetsResponse::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(msg))),
            ))
        };
        let authz = ctx.authz();
        if !authz.allows(Operation::Delete, ResourceType::Group, &group_id) {
            let e = ResponseError::GroupAuthorizationFailed;
            return fail(e, e.to_string());
        }
        let topics = ClusterTopics(ctx.server.metadata.state());
        let mut responses = Vec::new();
        let mut ids = Vec::new();
        for t in &request.topics {
            let name = t.topic_name.0.to_string();
            let mut topic = DeleteShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone());
            match resolve(&authz, &topics, Operation::Read, &name) {
                Ok((id, _)) => {
                    topic.topic_id = uuid(id);
                    ids.push(id);
                }
                Err(e) => {
                    topic.error_code = e.code();
                    topic.error_message = message(e);
                }
            }
            responses.push(topic);
        }
        if let Err(e) = ctx.server.shares.delete_offsets(&group_id, &ids).await {
            return fail(group_error_code(&e), e.to_string());
        }
        if !ids.is_empty() {
            crate::audit::change(
                &ctx,
                "delete",
                &format!("share group offsets of {group_id:?}"),
                None,
            );
        }
        Ok(Reply::Ready(
            DeleteShareGroupOffsetsResponse::default().with_responses(responses),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, DELETE_SCHEMA, api_version, true)
    }
}
