//! ShareAcknowledge (key 79), v1-v2: a share group's member settles the records it was
//! given (ACCEPT, RELEASE, REJECT, GAP; RENEW from v2, KIP-1222, which keeps a record and
//! starts its lock again) without fetching more: `commitSync` and
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
use kafka_protocol::protocol::buf::{ByteBuf, ByteBufMut};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::ResponseError;
use myelin_coord::consumer::TopicId;
use myelin_coord::share::TopicIdPartition;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::ClusterTopics;
use crate::handlers::share_fetch::{
    apply_acks, group_and_member, readable_topics, request_acks, session_error_code, ACK_BATCH,
};
use crate::wire;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),      // group_id
    all(Ty::Str),      // member_id
    all(Ty::Int32),    // share_session_epoch
    from(2, Ty::Bool), // is_renew_ack
    all(Ty::Structs(&[
        all(Ty::Uuid),
        all(Ty::Structs(&[all(Ty::Int32), all(Ty::Structs(ACK_BATCH))])),
    ])), // topics
];

/// A ShareAcknowledge request of a version served. v1 is read by the codec; v2 (Kafka 4.2,
/// KIP-1222) puts `IsRenewAck` (bool) after `ShareSessionEpoch` and is otherwise v1: it is
/// taken out here and the codec reads the rest as v1. RENEWs are applied whatever the flag
/// says (it tells brokers that fetch on a renewal to not fetch; this API never fetches).
#[derive(Debug)]
pub struct AnyShareAcknowledgeRequest(pub ShareAcknowledgeRequest);

impl Decodable for AnyShareAcknowledgeRequest {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> anyhow::Result<Self> {
        match version {
            1 => ShareAcknowledgeRequest::decode(buf, 1).map(Self),
            2 => {
                // Past the ids and the session epoch, the flag.
                let body = buf.copy_to_bytes(buf.remaining());
                let (_, mut v1) = wire::take_after_ids(&body, 4, 1).map_err(anyhow::Error::msg)?;
                ShareAcknowledgeRequest::decode(&mut v1, 1).map(Self)
            }
            v => anyhow::bail!("ShareAcknowledge v{v}"),
        }
    }
}

/// A ShareAcknowledge response: v2 (KIP-1222) adds `AcquisitionLockTimeoutMs` (int32) after
/// `ErrorMessage`, written here into the codec's v1.
#[derive(Debug, Default)]
pub struct AnyShareAcknowledgeResponse {
    pub body: ShareAcknowledgeResponse,
    /// The group's record lock duration (v2).
    pub acquisition_lock_timeout_ms: i32,
}

impl HeaderVersion for AnyShareAcknowledgeResponse {
    fn header_version(_version: i16) -> i16 {
        // Flexible from v0: the response header with tagged fields.
        1
    }
}

impl Encodable for AnyShareAcknowledgeResponse {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> anyhow::Result<()> {
        match version {
            1 => self.body.encode(buf, 1),
            2 => {
                let mut v1 = bytes::BytesMut::new();
                self.body.encode(&mut v1, 1)?;
                // Past throttle_time_ms (int32), error_code (int16) and error_message.
                let at = wire::skip_compact_string(&v1, 6).map_err(anyhow::Error::msg)?;
                buf.put_slice(&v1[..at]);
                buf.put_i32(self.acquisition_lock_timeout_ms);
                buf.put_slice(&v1[at..]);
                Ok(())
            }
            v => anyhow::bail!("ShareAcknowledge v{v}"),
        }
    }

    fn compute_size(&self, version: i16) -> anyhow::Result<usize> {
        match version {
            1 => self.body.compute_size(1),
            2 => Ok(self.body.compute_size(1)? + 4),
            v => anyhow::bail!("ShareAcknowledge v{v}"),
        }
    }
}

/// The ShareAcknowledge handler.
#[derive(Debug)]
pub struct ShareAcknowledge;

impl Handler for ShareAcknowledge {
    type Request = AnyShareAcknowledgeRequest;
    type Response = AnyShareAcknowledgeResponse;
    const KEY: ApiKey = ApiKey::ShareAcknowledge;
    const NAME: &'static str = "ShareAcknowledge";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 2;
    const ABOVE_CODEC: bool = true;

    async fn handle(
        ctx: RequestContext,
        AnyShareAcknowledgeRequest(request): AnyShareAcknowledgeRequest,
    ) -> Result<Reply<AnyShareAcknowledgeResponse>, HandlerError> {
        let server = ctx.server.clone();
        let (group_id, member_id) = group_and_member(&request.group_id, &request.member_id);
        let lock_ms = server.shares.lock_duration_ms(&group_id);
        let answer = |body: ShareAcknowledgeResponse| {
            Ok(Reply::Ready(AnyShareAcknowledgeResponse {
                body,
                acquisition_lock_timeout_ms: i32::try_from(lock_ms).unwrap_or(i32::MAX),
            }))
        };
        let fail = |e: ResponseError, message: String| {
            answer(
                ShareAcknowledgeResponse::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            )
        };
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
        answer(
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
        )
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_puts_the_lock_timeout_after_the_error_message() {
        let body = ShareAcknowledgeResponse::default()
            .with_throttle_time_ms(7)
            .with_error_code(0)
            .with_error_message(Some(StrBytes::from_static_str("ab")));
        let response = AnyShareAcknowledgeResponse {
            body: body.clone(),
            acquisition_lock_timeout_ms: 30_000,
        };
        let mut v1 = bytes::BytesMut::new();
        body.encode(&mut v1, 1).unwrap();
        let mut v2 = bytes::BytesMut::new();
        response.encode(&mut v2, 2).unwrap();
        // throttle (4), error code (2), "ab" as a compact string (3), then the timeout.
        let mut expected = v1[..9].to_vec();
        expected.extend_from_slice(&30_000i32.to_be_bytes());
        expected.extend_from_slice(&v1[9..]);
        assert_eq!(&v2[..], &expected[..]);
        assert_eq!(response.compute_size(2).unwrap(), v2.len());
        assert!(response.encode(&mut bytes::BytesMut::new(), 3).is_err());
    }

    #[test]
    fn v2_requests_are_read_without_their_renew_flag() {
        let request = ShareAcknowledgeRequest::default()
            .with_group_id(Some(kafka_protocol::messages::GroupId(
                StrBytes::from_static_str("g"),
            )))
            .with_member_id(Some(StrBytes::from_static_str("m")))
            .with_share_session_epoch(3);
        let mut v1 = bytes::BytesMut::new();
        request.encode(&mut v1, 1).unwrap();
        // "g" (2 bytes), "m" (2), the epoch (4), then IsRenewAck.
        let mut v2 = v1[..8].to_vec();
        v2.push(1);
        v2.extend_from_slice(&v1[8..]);
        let read = AnyShareAcknowledgeRequest::decode(&mut bytes::Bytes::from(v2), 2).unwrap();
        assert_eq!(read.0, request);
        // Cut before the flag: refused, not misread.
        assert!(
            AnyShareAcknowledgeRequest::decode(&mut bytes::Bytes::from(v1[..8].to_vec()), 2)
                .is_err()
        );
    }
}
