//! ShareAcknowledge (key 79), v1: a share group's member settles the records it was given
//! (ACCEPT, RELEASE, REJECT, GAP) without fetching more: `commitSync` and
//! `commitAsync` of Kafka's share consumer, and its close (epoch -1, which also ends the
//! share session and releases what the member still holds). The session's epoch must be
//! the session's (a new session cannot start here: INVALID_SHARE_SESSION_EPOCH for 0).
//! Each partition's acknowledgements are applied all or none and are durable before the
//! response; see `share_fetch.rs`.

use std::collections::BTreeMap;

use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::consumer::TopicId;
use myelin_coord::share::TopicIdPartition;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::ClusterTopics;
use crate::handlers::share_fetch::{
    apply_acks, group_and_member, readable_topics, request_acks, session_error_code, ACK_BATCH,
};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),   // group_id
    all(Ty::Str),   // member_id
    all(Ty::Int32), // share_session_epoch
    all(Ty::Structs(&[
        all(Ty::Uuid),
        all(Ty::Structs(&[all(Ty::Int32), all(Ty::Structs(ACK_BATCH))])),
    ])), // topics
];

/// The ShareAcknowledge handler.
#[derive(Debug)]
pub struct ShareAcknowledge;

impl Handler for ShareAcknowledge {
    type Request = ShareAcknowledgeRequest;
    type Response = ShareAcknowledgeResponse;
    const KEY: ApiKey = ApiKey::ShareAcknowledge;
    const NAME: &'static str = "ShareAcknowledge";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: ShareAcknowledgeRequest,
    ) -> Result<Reply<ShareAcknowledgeResponse>, HandlerError> {
        let server = ctx.server.clone();
        let fail = |e: ResponseError, message: String| {
            Ok(Reply::Ready(
                ShareAcknowledgeResponse::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            ))
        };
        let (group_id, member_id) = group_and_member(&request.group_id, &request.member_id);
        if group_id.is_empty() {
            return fail(
                ResponseError::InvalidRequest,
                "GroupId can't be empty.".into(),
            );
        }
        let authz = ctx.authz();
        if !authz.allows(Operation::Read, ResourceType::Group, &group_id) {
            let e = ResponseError::GroupAuthorizationFailed;
            return fail(e, e.to_string());
        }
        let epoch = request.share_session_epoch;
        if let Err(e) = server
            .shares
            .session(&group_id, &member_id, epoch, &[], &[], false)
        {
            return fail(session_error_code(&e), e.to_string());
        }
        let acks = request_acks(
            request
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, p)))
                .map(|(id, p)| {
                    (
                        (TopicId(*id.as_bytes()), p.partition_index),
                        p.acknowledgement_batches
                            .iter()
                            .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types)),
                    )
                }),
        );
        let tps: Vec<TopicIdPartition> = acks.iter().map(|(tp, _)| *tp).collect();
        let topics = ClusterTopics(server.metadata.state());
        let readable = readable_topics(&authz, &topics, &tps);
        let (codes, pending) = match apply_acks(&server, &group_id, &member_id, &acks, &readable) {
            Ok(r) => r,
            Err(e) => return fail(e, e.to_string()),
        };
        let mut waits = vec![pending];
        if epoch == -1 {
            match server.shares.close_session(&group_id, &member_id) {
                Ok(p) => waits.push(p),
                Err(e) => return fail(group_error_code(&e), e.to_string()),
            }
        }
        for w in waits {
            if let Err(e) = w.wait().await {
                return fail(group_error_code(&e), e.to_string());
            }
        }
        let mut by_topic: BTreeMap<TopicId, Vec<PartitionData>> = BTreeMap::new();
        for (tp, (code, message)) in codes {
            by_topic.entry(tp.0).or_default().push(
                PartitionData::default()
                    .with_partition_index(tp.1)
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_current_leader(
                        LeaderIdAndEpoch::default()
                            .with_leader_id(server.config.node_id)
                            .with_leader_epoch(0),
                    ),
            );
        }
        Ok(Reply::Ready(
            ShareAcknowledgeResponse::default().with_responses(
                by_topic
                    .into_iter()
                    .map(|(id, partitions)| {
                        ShareAcknowledgeTopicResponse::default()
                            .with_topic_id(uuid::Uuid::from_bytes(id.0))
                            .with_partitions(partitions)
                    })
                    .collect(),
            ),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}
