//! OffsetForLeaderEpoch (key 23), v2-4: where a leader epoch ended, so that a consumer can
//! tell whether its position survived a leader change (KIP-320; librdkafka sends exactly
//! v2).
//!
//! One node, epoch 0 from the start: Kafka's leader epoch cache then holds the single entry
//! (epoch 0, log start offset), written when the partition got its leader. Kafka's
//! `LeaderEpochFileCache.endOffsetFor` on it gives:
//!
//! | requested `leader_epoch` | answer (epoch, end offset) |
//! |---|---|
//! | 0, the latest epoch | (0, log end offset) |
//! | above 0, unknown | (-1, -1) |
//! | -1, undefined | (-1, -1) |
//! | below -1, before every known epoch | (requested, log start offset) |
//!
//! all without error. `current_leader_epoch` (-1 = not checked) below ours gives
//! FENCED_LEADER_EPOCH (74), above ours UNKNOWN_LEADER_EPOCH (75); an unknown partition
//! UNKNOWN_TOPIC_OR_PARTITION (3). With an authorizer, a topic needs DESCRIBE unless the
//! principal has CLUSTER_ACTION on the cluster, else its partitions get
//! TOPIC_AUTHORIZATION_FAILED (29) before any other check.

use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType, CLUSTER_NAME};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::HandlerError;

/// The OffsetForLeaderEpoch handler.
#[derive(Debug)]
pub struct OffsetForLeaderEpoch;

/// The request layout (Kafka's `OffsetForLeaderEpochRequest.json`), for
/// [`bounds::check`].
const SCHEMA: &[Field] = &[
    from(3, Ty::Int32), // replica_id
    all(Ty::Structs(&[
        all(Ty::Str), // topic
        all(Ty::Structs(&[
            all(Ty::Int32), // partition
            all(Ty::Int32), // current_leader_epoch
            all(Ty::Int32), // leader_epoch
        ])),
    ])),
];

/// Our leader epoch: one node, no elections yet.
const LEADER_EPOCH: i32 = 0;

impl Handler for OffsetForLeaderEpoch {
    type Request = OffsetForLeaderEpochRequest;
    type Response = OffsetForLeaderEpochResponse;
    const KEY: ApiKey = ApiKey::OffsetForLeaderEpoch;
    const NAME: &'static str = "OffsetForLeaderEpoch";
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: OffsetForLeaderEpochRequest,
    ) -> Result<Reply<OffsetForLeaderEpochResponse>, HandlerError> {
        // Kafka's `handleOffsetForLeaderEpochRequest`: CLUSTER_ACTION (a follower's, not
        // audited) covers every topic, else each needs DESCRIBE (KIP-320's consumers).
        let authz = ctx.authz();
        let cluster_action = !authz.enabled()
            || authz.allows_quietly(
                Operation::ClusterAction,
                ResourceType::Cluster,
                CLUSTER_NAME,
            );
        let topics = request
            .topics
            .iter()
            .map(|t| {
                let denied = !cluster_action
                    && !authz.allows(Operation::Describe, ResourceType::Topic, &t.topic);
                OffsetForLeaderTopicResult::default()
                    .with_topic(t.topic.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                if denied {
                                    EpochEndOffset::default()
                                        .with_partition(p.partition)
                                        .with_error_code(
                                            ResponseError::TopicAuthorizationFailed.code(),
                                        )
                                } else {
                                    end_offset(&ctx.server, t.topic.as_str(), p)
                                }
                            })
                            .collect(),
                    )
            })
            .collect();
        Ok(Reply::Ready(
            OffsetForLeaderEpochResponse::default().with_topics(topics),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 4)
    }
}

fn end_offset(server: &ServerContext, topic: &str, p: &OffsetForLeaderPartition) -> EpochEndOffset {
    let error = |e: ResponseError| {
        EpochEndOffset::default()
            .with_partition(p.partition)
            .with_error_code(e.code())
    };
    let Some(partition) = server.partitions.get(topic, p.partition) else {
        return error(ResponseError::UnknownTopicOrPartition);
    };
    if p.current_leader_epoch != -1 && p.current_leader_epoch < LEADER_EPOCH {
        return error(ResponseError::FencedLeaderEpoch);
    }
    if p.current_leader_epoch > LEADER_EPOCH {
        return error(ResponseError::UnknownLeaderEpoch);
    }
    let (epoch, offset) = match p.leader_epoch {
        LEADER_EPOCH => (LEADER_EPOCH, partition.log.log_end_offset()),
        e if e < -1 => (e, partition.log.log_start_offset()),
        _ => (-1, -1),
    };
    EpochEndOffset::default()
        .with_partition(p.partition)
        .with_leader_epoch(epoch)
        .with_end_offset(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderTopic;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn request_shape_accepts_codec_requests() {
        for version in 2..=4i16 {
            let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![OffsetForLeaderPartition::default(); 2]),
            ]);
            let mut body = BytesMut::new();
            request.encode(&mut body, version).unwrap();
            OffsetForLeaderEpoch::check_request(version, &body).unwrap();
            for cut in 0..body.len() {
                assert!(OffsetForLeaderEpoch::check_request(version, &body[..cut]).is_err());
            }
        }
    }
}
