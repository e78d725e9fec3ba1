//! OffsetCommit (key 8), v2-9: a group's consumed positions, written durably to
//! `__consumer_offsets` before the answer.
//!
//! Partitions of topics this broker does not host get UNKNOWN_TOPIC_OR_PARTITION, as in
//! Kafka; the rest go to the coordinator in one commit. A group-level refusal (unknown
//! member, stale generation, rebalance in progress) is every partition's error. Null
//! metadata is legal and comes back from OffsetFetch as the empty string (Kafka stores null
//! as ""); a null (-1) leader epoch comes back as -1.
//! `retention_time_ms` (v2-4) other than -1 sets the offsets' own expiry. A commit naming a
//! generation to a group that does not exist gets ILLEGAL_GENERATION before v9 and
//! GROUP_ID_NOT_FOUND from v9, as in Kafka.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;
use myelin_coord::GroupError;

use crate::apis::{Handler, LaterReply, Reply};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::{commit_codes, opt_string, split_commits};

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

/// The OffsetCommit handler.
#[derive(Debug)]
pub struct OffsetCommit;

impl Handler for OffsetCommit {
    type Request = OffsetCommitRequest;
    type Response = OffsetCommitResponse;
    const KEY: ApiKey = ApiKey::OffsetCommit;
    const NAME: &'static str = "OffsetCommit";
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 9;

    async fn handle(
        ctx: RequestContext,
        request: OffsetCommitRequest,
    ) -> Result<Reply<OffsetCommitResponse>, HandlerError> {
        let version = ctx.api_version();
        let retention_ms =
            (version <= 4 && request.retention_time_ms != -1).then_some(request.retention_time_ms);
        let topics = request.topics.into_iter().map(|t| {
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
        });
        let (order, commits) = split_commits(&ctx.server, topics);
        let group_id = request.group_id.0.to_string();
        let member_id = request.member_id.to_string();
        let instance_id = opt_string(&request.group_instance_id);
        let generation = request.generation_id_or_member_epoch;
        let groups = ctx.server.groups.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let outcome = if commits.is_empty() {
                Ok(Vec::new())
            } else {
                groups
                    .commit_offsets(
                        &group_id,
                        &member_id,
                        instance_id.as_deref(),
                        generation,
                        retention_ms,
                        commits,
                    )
                    .await
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
            Ok(OffsetCommitResponse::default().with_topics(topics))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 8)
    }
}
