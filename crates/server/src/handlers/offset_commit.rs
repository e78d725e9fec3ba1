//! OffsetCommit (key 8), v0-9: a group's consumed positions, written durably to
//! `__consumer_offsets` before the answer.
//!
//! v0 and v1 are served although Kafka 4.0 dropped them (KIP-896): Sarama's offset manager
//! sends v1 whenever `Consumer.Offsets.Retention` is zero, its default (in 1.22 and still
//! in 1.38), so its consumer groups could not commit. `kafka-protocol` 0.18 parses from v2, so
//! [`AnyOffsetCommitRequest`] reads v0-1 itself; their responses are v2's layout. v1's
//! per-partition `commit_timestamp` is read and not used: offsets are stamped with the
//! time the broker stores them, and expire after `offsets.retention.minutes` as others do.
//!
//! With an authorizer (as Kafka's `KafkaApis`): without READ on the group every partition
//! gets GROUP_AUTHORIZATION_FAILED; partitions of a topic without READ get
//! TOPIC_AUTHORIZATION_FAILED, whether the topic exists or not.
//!
//! Partitions of topics this broker does not host get UNKNOWN_TOPIC_OR_PARTITION, as in
//! Kafka; the rest go to the coordinator in one commit. A group-level refusal (unknown
//! member, stale generation, rebalance in progress) is every partition's error. Null
//! metadata is legal and comes back from OffsetFetch as the empty string (Kafka stores null
//! as ""); a null (-1) leader epoch comes back as -1.
//! `retention_time_ms` (v2-4) other than -1 sets the offsets' own expiry. A commit naming a
//! generation to a group that does not exist gets ILLEGAL_GENERATION before v9 and
//! GROUP_ID_NOT_FOUND from v9, as in Kafka.

use std::collections::HashSet;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::ResponseError;
use myelin_coord::GroupError;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::{commit_codes, denied_topics, opt_string, split_commits};
use crate::response::{ResponseBody, ResponseFrame};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),       // group_id
    from(1, Ty::Int32), // generation_id_or_member_epoch
    from(1, Ty::Str),   // member_id
    from(7, Ty::Str),   // group_instance_id
    Field {
        ty: Ty::Int64,
        min_version: 2,
        max_version: 4,
    }, // retention_time_ms
    all(Ty::Structs(&[
        all(Ty::Str), // name
        all(Ty::Structs(&[
            all(Ty::Int32),     // partition_index
            all(Ty::Int64),     // committed_offset
            from(6, Ty::Int32), // committed_leader_epoch
            Field {
                ty: Ty::Int64,
                min_version: 1,
                max_version: 1,
            }, // commit_timestamp
            all(Ty::Str),       // committed_metadata
        ])),
    ])),
];

/// An OffsetCommit request of any served version: the codec's for v2-9, read here for v0-1
/// (after [`bounds::check`] has checked the body against [`SCHEMA`]).
#[derive(Debug)]
pub struct AnyOffsetCommitRequest(pub OffsetCommitRequest);

/// Readers of v0-1 fields. The bounds check has already vetted every length against the
/// body; these check again, so that a short body is an error here too, never a panic.
fn need<B: ByteBuf>(buf: &B, n: usize) -> anyhow::Result<()> {
    if buf.remaining() < n {
        anyhow::bail!("{n} bytes needed, {} left", buf.remaining());
    }
    Ok(())
}

fn int32<B: ByteBuf>(buf: &mut B) -> anyhow::Result<i32> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn int64<B: ByteBuf>(buf: &mut B) -> anyhow::Result<i64> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

/// A nullable string (int16 length, -1 for null).
fn string<B: ByteBuf>(buf: &mut B) -> anyhow::Result<Option<StrBytes>> {
    need(buf, 2)?;
    let Ok(len) = usize::try_from(buf.get_i16()) else {
        return Ok(None);
    };
    need(buf, len)?;
    Ok(Some(StrBytes::from_utf8(buf.get_bytes(len))?))
}

/// A string that must not be null.
fn non_null<B: ByteBuf>(buf: &mut B, field: &str) -> anyhow::Result<StrBytes> {
    string(buf)?.ok_or_else(|| anyhow::anyhow!("null {field}"))
}

/// An array's count; null (-1) is not legal in these arrays.
fn array_len<B: ByteBuf>(buf: &mut B) -> anyhow::Result<usize> {
    let n = int32(buf)?;
    usize::try_from(n).map_err(|_| anyhow::anyhow!("array count {n}"))
}

impl Decodable for AnyOffsetCommitRequest {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> anyhow::Result<Self> {
        if version >= 2 {
            return OffsetCommitRequest::decode(buf, version).map(Self);
        }
        if version < 0 {
            anyhow::bail!("OffsetCommit v{version}");
        }
        // v0: group_id, topics; v1 adds generation_id and member_id, and each partition's
        // commit_timestamp. A v0 commit is a simple consumer's: generation -1, no member.
        let mut request = OffsetCommitRequest::default()
            .with_group_id(GroupId(non_null(buf, "group_id")?))
            .with_retention_time_ms(-1);
        if version == 1 {
            request.generation_id_or_member_epoch = int32(buf)?;
            request.member_id = non_null(buf, "member_id")?;
        }
        let mut topics = Vec::new();
        for _ in 0..array_len(buf)? {
            let name = TopicName(non_null(buf, "name")?);
            let mut topic = OffsetCommitRequestTopic::default().with_name(name);
            for _ in 0..array_len(buf)? {
                let mut partition = OffsetCommitRequestPartition::default()
                    .with_partition_index(int32(buf)?)
                    .with_committed_offset(int64(buf)?);
                if version == 1 {
                    let _commit_timestamp = int64(buf)?;
                }
                partition.committed_metadata = string(buf)?;
                topic.partitions.push(partition);
            }
            topics.push(topic);
        }
        request.topics = topics;
        Ok(Self(request))
    }
}

/// An OffsetCommit response: v0 and v1 have v2's layout (v3 added the throttle time), which
/// the codec encodes.
#[derive(Debug)]
pub struct AnyOffsetCommitResponse(pub OffsetCommitResponse);

impl ResponseBody for AnyOffsetCommitResponse {
    fn into_frame(
        self,
        api: &'static str,
        correlation_id: i32,
        version: i16,
    ) -> Result<Option<ResponseFrame>, HandlerError> {
        self.0.into_frame(api, correlation_id, version.max(2))
    }
}

/// The OffsetCommit handler.
#[derive(Debug)]
pub struct OffsetCommit;

impl Handler for OffsetCommit {
    type Request = AnyOffsetCommitRequest;
    type Response = AnyOffsetCommitResponse;
    const KEY: ApiKey = ApiKey::OffsetCommit;
    const NAME: &'static str = "OffsetCommit";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 9;
    const BELOW_CODEC: bool = true;

    async fn handle(
        ctx: RequestContext,
        AnyOffsetCommitRequest(request): AnyOffsetCommitRequest,
    ) -> Result<Reply<AnyOffsetCommitResponse>, HandlerError> {
        let version = ctx.api_version();
        let retention_ms =
            (version <= 4 && request.retention_time_ms != -1).then_some(request.retention_time_ms);
        let topics: Vec<_> = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        // committed_leader_epoch: v6+.
                        let epoch = if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        };
                        let metadata = opt_string(&p.committed_metadata);
                        (p.partition_index, p.committed_offset, epoch, metadata)
                    })
                    .collect();
                (t.name, partitions)
            })
            .collect();
        let group_id = request.group_id.0.to_string();
        // Kafka: READ on the group, else GROUP_AUTHORIZATION_FAILED for every partition;
        // then READ on each topic, else TOPIC_AUTHORIZATION_FAILED for its partitions.
        let authz = ctx.authz();
        let group_allowed = authz.allows(Operation::Read, ResourceType::Group, &group_id);
        let denied = if group_allowed {
            denied_topics(
                &authz,
                Operation::Read,
                topics.iter().map(|t| t.0 .0.as_str()),
            )
        } else {
            HashSet::new()
        };
        let refused = |topic: &str| {
            if !group_allowed {
                Some(ResponseError::GroupAuthorizationFailed.code())
            } else if denied.contains(topic) {
                Some(ResponseError::TopicAuthorizationFailed.code())
            } else {
                None
            }
        };
        let (order, commits) = split_commits(&ctx.server, topics, refused);
        let member_id = request.member_id.to_string();
        let instance_id = opt_string(&request.group_instance_id);
        let generation = request.generation_id_or_member_epoch;
        // Validated and written now, in the connection's request order (a client committing
        // asynchronously pipelines its commits, and the last one sent must win); made
        // visible once durable, in the reply.
        let pending = if commits.is_empty() {
            None
        } else {
            Some(ctx.server.groups.start_commit_offsets(
                &group_id,
                &member_id,
                instance_id.as_deref(),
                generation,
                retention_ms,
                commits,
            ))
        };
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let outcome = match pending {
                None => Ok(Vec::new()),
                Some(Ok(pending)) => pending.finish().await,
                Some(Err(e)) => Err(e),
            };
            let (group_error, results) = match outcome {
                Ok(results) => (None, results),
                // The coordinator refuses a commit naming a generation to a group it does not
                // know as IllegalGeneration against generation -1 (no group has it). From v9
                // Kafka answers GROUP_ID_NOT_FOUND instead; older versions keep
                // ILLEGAL_GENERATION for compatibility (`OffsetMetadataManager
                // .validateOffsetCommit`).
                Err(GroupError::IllegalGeneration {
                    current_generation_id: -1,
                    ..
                }) if version >= 9 => (Some(ResponseError::GroupIdNotFound.code()), Vec::new()),
                Err(e) => (Some(group_error_code(&e).code()), Vec::new()),
            };
            let topics = commit_codes(order, group_error, results)
                .into_iter()
                .map(|(name, codes)| {
                    let partitions = codes
                        .into_iter()
                        .map(|(index, code)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect();
                    OffsetCommitResponseTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect();
            Ok(AnyOffsetCommitResponse(
                OffsetCommitResponse::default().with_topics(topics),
            ))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 8)
    }
}
