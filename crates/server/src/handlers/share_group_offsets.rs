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
use kafka_protocol::protocol::buf::{ByteBuf, ByteBufMut};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
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

/// A DescribeShareGroupOffsets request: v1 has v0's layout (only the response changed),
/// which the codec (`kafka-protocol` 0.18: Kafka 4.1's v0) reads.
#[derive(Debug)]
pub struct AnyDescribeRequest(pub DescribeShareGroupOffsetsRequest);

impl Decodable for AnyDescribeRequest {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> anyhow::Result<Self> {
        if !(0..=1).contains(&version) {
            anyhow::bail!("DescribeShareGroupOffsets v{version}");
        }
        DescribeShareGroupOffsetsRequest::decode(buf, 0).map(Self)
    }
}

/// A DescribeShareGroupOffsets response: v0 as the codec writes it; v1 (Kafka 4.2,
/// KIP-1226) adds each partition's lag after its leader epoch, and is written here.
#[derive(Debug, Default)]
pub struct AnyDescribeResponse {
    pub body: DescribeShareGroupOffsetsResponse,
    /// The lag of each partition of `body`, by group, topic and partition; -1 where it
    /// is not known (Kafka's default).
    pub lags: Vec<Vec<Vec<i64>>>,
}

impl HeaderVersion for AnyDescribeResponse {
    fn header_version(_version: i16) -> i16 {
        // Flexible from v0: the response header with tagged fields.
        1
    }
}

impl Encodable for AnyDescribeResponse {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> anyhow::Result<()> {
        if version == 0 {
            return self.body.encode(buf, 0);
        }
        if version != 1 {
            anyhow::bail!("DescribeShareGroupOffsets v{version}");
        }
        use crate::handlers::fetch::{put_len, put_null};
        let string = |buf: &mut B, s: &str| {
            put_len(buf, true, s.len(), 2);
            buf.put_slice(s.as_bytes());
        };
        let nullable = |buf: &mut B, s: &Option<StrBytes>| match s {
            Some(s) => string(buf, s),
            None => put_null(buf, true, 2),
        };
        // Each structure ends with its tagged fields: none.
        let no_tags = |buf: &mut B| buf.put_u8(0);
        buf.put_i32(self.body.throttle_time_ms);
        put_len(buf, true, self.body.groups.len(), 4);
        for (gi, g) in self.body.groups.iter().enumerate() {
            string(buf, &g.group_id);
            put_len(buf, true, g.topics.len(), 4);
            for (ti, t) in g.topics.iter().enumerate() {
                string(buf, &t.topic_name);
                buf.put_slice(t.topic_id.as_bytes());
                put_len(buf, true, t.partitions.len(), 4);
                for (pi, p) in t.partitions.iter().enumerate() {
                    let lag = self
                        .lags
                        .get(gi)
                        .and_then(|g| g.get(ti))
                        .and_then(|t| t.get(pi))
                        .copied()
                        .unwrap_or(-1);
                    buf.put_i32(p.partition_index);
                    buf.put_i64(p.start_offset);
                    buf.put_i32(p.leader_epoch);
                    buf.put_i64(lag);
                    buf.put_i16(p.error_code);
                    nullable(buf, &p.error_message);
                    no_tags(buf);
                }
                no_tags(buf);
            }
            buf.put_i16(g.error_code);
            nullable(buf, &g.error_message);
            no_tags(buf);
        }
        no_tags(buf);
        Ok(())
    }

    fn compute_size(&self, version: i16) -> anyhow::Result<usize> {
        let mut buf = bytes::BytesMut::new();
        self.encode(&mut buf, version)?;
        Ok(buf.len())
    }
}

/// The DescribeShareGroupOffsets handler.
#[derive(Debug)]
pub struct DescribeShareGroupOffsets;

impl Handler for DescribeShareGroupOffsets {
    type Request = AnyDescribeRequest;
    type Response = AnyDescribeResponse;
    const KEY: ApiKey = ApiKey::DescribeShareGroupOffsets;
    const NAME: &'static str = "DescribeShareGroupOffsets";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;
    const ABOVE_CODEC: bool = true;

    async fn handle(
        ctx: RequestContext,
        AnyDescribeRequest(request): AnyDescribeRequest,
    ) -> Result<Reply<AnyDescribeResponse>, HandlerError> {
        let authz = ctx.authz();
        let topics = ClusterTopics(ctx.server.metadata.state());
        let shares = &ctx.server.shares;
        let groups: Vec<DescribeShareGroupOffsetsResponseGroup> = request
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
        // Each partition's lag (v1): of the records below its high watermark, those at or
        // past the start offset the group is not done with.
        let lags = groups
            .iter()
            .map(|g| {
                g.topics
                    .iter()
                    .map(|t| {
                        let id = TopicId(t.topic_id.into_bytes());
                        let name = topics.topic_name(&id).map(str::to_string);
                        t.partitions
                            .iter()
                            .map(|p| {
                                let end = name
                                    .as_deref()
                                    .filter(|_| p.error_code == 0 && p.start_offset >= 0)
                                    .and_then(|n| ctx.server.partitions.get(n, p.partition_index))
                                    .map(|part| part.high_watermark());
                                end.and_then(|end| {
                                    shares.lag(g.group_id.0.as_str(), &(id, p.partition_index), end)
                                })
                                .unwrap_or(-1)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Ok(Reply::Ready(AnyDescribeResponse {
            body: DescribeShareGroupOffsetsResponse::default().with_groups(groups),
            lags,
        }))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// v1 is v0 with each partition's lag after its leader epoch.
    #[test]
    fn v1_adds_the_lag_to_v0s_layout() {
        let partition = DescribeShareGroupOffsetsResponsePartition::default()
            .with_partition_index(3)
            .with_start_offset(40)
            .with_leader_epoch(0)
            .with_error_message(Some(StrBytes::from_static_str("m")));
        let response = AnyDescribeResponse {
            body: DescribeShareGroupOffsetsResponse::default()
                .with_throttle_time_ms(7)
                .with_groups(vec![DescribeShareGroupOffsetsResponseGroup::default()
                    .with_group_id(kafka_protocol::messages::GroupId(
                        StrBytes::from_static_str("g"),
                    ))
                    .with_topics(vec![DescribeShareGroupOffsetsResponseTopic::default(
                    )
                    .with_topic_name(TopicName(StrBytes::from_static_str("t")))
                    .with_topic_id(uuid::Uuid::from_u128(9))
                    .with_partitions(vec![partition])])]),
            lags: vec![vec![vec![12]]],
        };
        let encode = |version| {
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).unwrap();
            assert_eq!(response.compute_size(version).unwrap(), buf.len());
            buf.to_vec()
        };
        let (v0, v1) = (encode(0), encode(1));
        // throttle 4, groups count 1, group id 2, topics count 1, name 2, id 16,
        // partitions count 1, index 4, start 8, epoch 4: then the lag.
        let at = 4 + 1 + 2 + 1 + 2 + 16 + 1 + 4 + 8 + 4;
        let mut expected = v0[..at].to_vec();
        expected.extend_from_slice(&12i64.to_be_bytes());
        expected.extend_from_slice(&v0[at..]);
        assert_eq!(v1, expected);
        // Without a lag: -1, Kafka's default.
        let unknown = AnyDescribeResponse {
            lags: Vec::new(),
            ..response
        };
        let mut buf = bytes::BytesMut::new();
        unknown.encode(&mut buf, 1).unwrap();
        assert_eq!(buf[at..at + 8], (-1i64).to_be_bytes());
        assert!(unknown.encode(&mut bytes::BytesMut::new(), 2).is_err());
    }
}
